"""Bad input through the CLI: exactly one line on stderr, the right exit code, bounded time and memory.

Every case runs `python -m convshape.cli summary FILE` in a child process whose address space
(RLIMIT_AS) and CPU time (RLIMIT_CPU) are capped, so the kernel stops it past either bound however
loaded the machine is; the child reports its peak RSS and CPU seconds, and a generous wall-clock
timeout guards against a hang. The cases run in parallel once per module, and each is checked as
its own test. The expected line is exact: file:line:column, the field path in brackets where there
is one, and the message.
"""
import concurrent.futures
import os
import subprocess
import sys
from pathlib import Path

import pytest

resource = pytest.importorskip("resource")  # POSIX only: the memory cap
if not Path("/proc/self/status").exists():
    pytest.skip("peak RSS is read from /proc (Linux)", allow_module_level=True)

ROOT = Path(__file__).resolve().parents[1]
ENV = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]))
CPU_S = 10                     # CPU seconds a bad spec may cost (a normal run: about 0.3 s)
WALL_S = 120                   # only against a hang: on a loaded machine wall time says little
ADDRESS_SPACE = 1536 * 2**20   # hard cap for the child: 1.5 GiB
PEAK_RSS = 400 * 2**20         # what a bad spec may cost at most (a normal run: about 40 MiB)

CHILD = """
import atexit, resource, runpy, sys
resource.setrlimit(resource.RLIMIT_AS, ({cap}, {cap}))
resource.setrlimit(resource.RLIMIT_CPU, ({cpu}, {cpu}))
usage_file, spec = sys.argv[1], sys.argv[2]

def report():
    u = resource.getrusage(resource.RUSAGE_SELF)
    # VmHWM: this program's peak RSS in KiB (ru_maxrss would keep the forking pytest's, across exec)
    peak = next(int(line.split()[1]) for line in open("/proc/self/status") if line.startswith("VmHWM:"))
    open(usage_file, "w").write(f"{{peak}} {{u.ru_utime + u.ru_stime}}")

atexit.register(report)
sys.argv = ["convshape", "summary", spec]
runpy.run_module("convshape.cli", run_name="__main__")
""".format(cap=ADDRESS_SPACE, cpu=CPU_S)


def laughs(levels=9):
    """Each alias level multiplies by 9: 9**9 = 387 million strings once expanded."""
    out = "a: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n"
    for prev, name in zip("abcdefghij", "bcdefghijk"[: levels - 1]):
        out += f"{name}: &{name} [{', '.join(['*' + prev] * 9)}]\n"
    return out


# name -> (file name, content: str, bytes or None for "no such file", exact stderr line; {f} is the path,
# {parser} the parser's own description of a syntax error: its words are the installed parser's, not ours)
CASES = {
    # ---- malformed documents
    "malformed yaml": ("m.yaml", "input: [1, 3, 8, 8\nlayers: [ReLU]\n",
                       "{f}:2:7: invalid YAML: {parser}"),
    "malformed yaml indentation": ("m2.yaml", "input: [1, 3, 8, 8]\nlayers:\n  - ReLU\n - Tanh\n",
                                   "{f}:4:2: invalid YAML: {parser}"),
    "malformed json": ("m.json", '{"input": [1, 3, 8, 8],\n "layers": ["ReLU",]}\n',
                       "{f}:2:20: invalid JSON: {parser} (JSON allows no comma before a closing bracket)"),
    "malformed toml": ("m.toml", 'input = [1, 3, 8, 8]\nlayers = ["ReLU"\n',
                       "{f}:2:10: invalid TOML: {parser} (the bracket at line 2, column 10 is never closed)"),
    "malformed toml header": ("m2.toml", "input = [1, 3, 8, 8]\n[[layers]\nReLU = {}\n",
                              "{f}:2:9: invalid TOML: {parser}"),
    # ---- unknown names
    "unknown type Conv2D": ("t1.yaml", "input: [1, 3, 8, 8]\nlayers:\n  - Conv2D: {out_channels: 4, kernel_size: 3}\n",
                            "{f}:3:5: [layers[0].Conv2D] unknown layer type 'Conv2D'; did you mean 'Conv2d'?"),
    "unknown type conv2d": ("t2.yaml", "input: [1, 3, 8, 8]\nlayers:\n  - conv2d: {out_channels: 4, kernel_size: 3}\n",
                            "{f}:3:5: [layers[0].conv2d] unknown layer type 'conv2d'; did you mean 'Conv2d'?"),
    "unknown bare type Relu": ("t3.yaml", "input: [1, 3, 8, 8]\nlayers:\n  - Relu\n",
                               "{f}:3:5: [layers[0]] unknown layer type 'Relu'; did you mean 'ReLU'?"),
    "unknown type, nothing close": (
        "t4.yaml", "input: [1, 3, 8, 8]\nlayers:\n  - Transmogrify\n",
        "{f}:3:5: [layers[0]] unknown layer type 'Transmogrify' (layer types are torch.nn class names such as "
        "Conv2d or BatchNorm2d, or blocks under 'blocks')"),
    "unknown argument yaml": (
        "a.yaml", "input: [1, 3, 8, 8]\nlayers:\n  - Conv2d: {out_channels: 4, kernal_size: 3}\n",
        "{f}:3:31: [layers[0].Conv2d.kernal_size] unknown argument 'kernal_size' for Conv2d; did you mean 'kernel_size'?"),
    "unknown argument json": (
        "a.json", '{"input": [1, 3, 8, 8],\n "layers": [{"Conv2d": {"out_channels": 4,\n'
                  '                        "kernal_size": 3}}]}\n',
        "{f}:3:25: [layers[0].Conv2d.kernal_size] unknown argument 'kernal_size' for Conv2d; did you mean 'kernel_size'?"),
    "unknown argument toml": (
        "a.toml", "input = [1, 3, 8, 8]\n\n[[layers]]\nConv2d = { out_channels = 4, kernal_size = 3 }\n",
        "{f}:4:30: [layers[0].Conv2d.kernal_size] unknown argument 'kernal_size' for Conv2d; did you mean 'kernel_size'?"),
    "unknown top-level field": ("top.yaml", "input: [1, 3, 8, 8]\nlayer: [ReLU]\n",
                                "{f}:2:1: [layer] unknown top-level field 'layer'; did you mean 'layers'?"),
    # ---- wrong types
    "kernel_size 3x3": (
        "w1.yaml", 'input: [1, 3, 8, 8]\nlayers:\n  - Conv2d: {out_channels: 4, kernel_size: "3x3"}\n',
        "{f}:3:31: [layers[0].Conv2d.kernel_size] cannot read '3x3' as a number or an expression "
        "(invalid decimal literal); for a 3x3 size write [3, 3]"),
    "bias 1": ("w2.yaml", "input: [1, 3, 8, 8]\nlayers:\n  - Conv2d: {out_channels: 4, kernel_size: 3, bias: 1}\n",
               "{f}:3:47: [layers[0].Conv2d.bias] Conv2d: bias must be true or false, got 1"),
    "bias 'yes' in toml": (
        "w3.toml", 'input = [1, 3, 8, 8]\n[[layers]]\nConv2d = { out_channels = 4, kernel_size = 3, bias = "yes" }\n',
        "{f}:3:47: [layers[0].Conv2d.bias] Conv2d: bias must be true or false, got 'yes'"),
    "out_channels 4.5": ("w4.yaml", "input: [1, 3, 8, 8]\nlayers:\n  - Conv2d: {out_channels: 4.5, kernel_size: 3}\n",
                         "{f}:3:14: [layers[0].Conv2d.out_channels] Conv2d: out_channels must be an integer > 0, got 4.5"),
    "padding_mode mirror": (
        "w5.yaml", "input: [1, 3, 8, 8]\nlayers:\n  - Conv2d: {out_channels: 4, kernel_size: 3, padding_mode: mirror}\n",
        "{f}:3:47: [layers[0].Conv2d.padding_mode] Conv2d: padding_mode must be 'zeros', 'reflect', 'replicate' "
        "or 'circular', got 'mirror'"),
    "arguments not a mapping": ("w6.yaml", "input: [1, 3, 8, 8]\nlayers:\n  - Conv2d: 4\n",
                                "{f}:3:5: [layers[0].Conv2d] arguments of Conv2d must be a mapping, got int 4"),
    "NaN in json": ("w7.json", '{"input": [1, 4], "layers": [{"Dropout": {"p": NaN}}]}',
                    "{f}:1:43: [layers[0].Dropout.p] number nan is not finite: a spec holds sizes and finite "
                    "hyperparameters"),
    # ---- negative or zero sizes
    "negative out_channels": (
        "n1.yaml", "input: [1, 3, 8, 8]\nlayers:\n  - Conv2d: {out_channels: -4, kernel_size: 3}\n",
        "{f}:3:14: [layers[0].Conv2d.out_channels] Conv2d: out_channels must be greater than 0, got -4"),
    "zero in kernel_size": (
        "n2.yaml", "input: [1, 3, 8, 8]\nlayers:\n  - Conv2d: {out_channels: 4, kernel_size: [3, 0]}\n",
        "{f}:3:48: [layers[0].Conv2d.kernel_size[1]] Conv2d: kernel_size[1] must be greater than 0, got [3, 0]"),
    "zero input size": ("n3.yaml", "input: [1, 0, 8, 8]\nlayers: [ReLU]\n",
                        "{f}:1:12: [input[1]] input size must be >= 1, got 0"),
    "negative input size toml": ("n4.toml", "input = [1, 3, -8, 8]\n\n[[layers]]\nReLU = {}\n",
                                 "{f}:1:16: [input[2]] input size must be >= 1, got -8"),
    # ---- graph errors
    "cycle": ("g1.yaml", "input: [1, 4]\nlayers:\n  - ReLU:\n    name: a\n    inputs: b\n  - ReLU:\n    name: b\n"
                         "    inputs: a\n",
              "{f}:5:5: [layers[0].inputs] 'a' takes input from 'b', which comes at or after it: layers may only "
              "read earlier layers, so cycles are impossible"),
    "unknown reference": ("g2.yaml", "input: [1, 4]\nlayers:\n  - ReLU:\n    name: a\n  - Add:\n    inputs: [a, c]\n",
                          "{f}:6:17: [layers[1].inputs[1]] unknown layer 'c' in inputs; names usable here: input, a"),
    # ---- resource attacks
    "billion laughs": ("laughs.yaml", laughs(),
                       "{f}:7:4: document expands to more than 2000000 values (YAML aliases?)"),
    "self-referencing alias": ("self.yaml", "a: &a [1, *a]\n", "{f}:1:4: a YAML alias refers to a node that contains it"),
    "blocks of repeated blocks": (
        "bomb.yaml", "input: [1, 4]\nblocks:\n" + "".join(f"  B{i}:\n    layers:\n      - B{i + 1}:\n        repeat: 10\n"
                                                          for i in range(9)) + "  B9:\n    layers: [ReLU]\nlayers: [B0]\n",
        "{f}:41:10: [layers[0]] network expands to more than 100000 layers"),
    "repeat 10 ** 9": ("rep.yaml", "input: [1, 4]\nlayers:\n  - ReLU:\n    repeat: 10 ** 9\n",
                       "{f}:4:5: [layers[0].repeat] 'repeat' is 1000000000, over the limit of 100000 layers in a network"),
    "huge power": ("pow.yaml", "input: [1, 3, 8, 8]\nlayers:\n  - Conv2d: {out_channels: 9 ** 9 ** 9, kernel_size: 3}\n",
                   "{f}:3:14: [layers[0].Conv2d.out_channels] power too large in '9 ** 9 ** 9' (exponent at most 64, "
                   "result at most 256 bits)"),
    "deeply nested yaml": ("deep.yaml", "a: " + "[" * 100_000 + "\n", "{f}:1:67: document nested deeper than 64 levels"),
    "deeply nested json": ("deep.json", "[" * 100_000, "{f}:1:65: document nested deeper than 64 levels"),
    "deeply nested toml": ("deep.toml", "a = " + "[" * 100_000 + "\n", "{f}:1:69: document nested deeper than 64 levels"),
    "deeply nested toml tables": ("deep2.toml", "a = " + "{b = " * 2000 + "1" + "}" * 2000 + "\n",
                                  "{f}:1:325: document nested deeper than 64 levels"),
    "huge file": ("huge.yaml", "input: [1, 4]\nlayers:\n" + "  - ReLU\n" * 600_000,
                  "{f}: spec is 5400022 bytes, over the 4194304-byte limit"),
    # ---- code in the spec: refused, and nothing runs (the marker file is never created)
    "python/object/apply tag": ("tag1.yaml", "input: !!python/object/apply:os.system ['touch {marker}']\nlayers: [ReLU]\n",
                                "{f}:1:8: YAML tag !!python/object/apply:os.system is not allowed: a spec is plain data"),
    "python/object/new tag": ("tag2.yaml", "!!python/object/new:builtins.open ['{marker}', 'w']\n",
                              "{f}:1:1: YAML tag !!python/object/new:builtins.open is not allowed: a spec is plain data"),
    "python/name tag": ("tag3.yaml", "input: [1, 4]\nlayers: [!!python/name:os.system ReLU]\n",
                        "{f}:2:10: YAML tag !!python/name:os.system is not allowed: a spec is plain data"),
    "python/module tag": ("tag4.yaml", "input: !!python/module:os\n",
                          "{f}:1:8: YAML tag !!python/module:os is not allowed: a spec is plain data"),
    "custom tag": ("tag5.yaml", "input: !shell 'touch {marker}'\n",
                   "{f}:1:8: YAML tag !shell is not allowed: a spec is plain data"),
    "expression that would open a file": (
        "expr.yaml", "input: [1, 3, 8, 8]\nlayers:\n  - Conv2d: {out_channels: \"len(open('{marker}', 'w').name)\", "
                     "kernel_size: 3}\n",
        "{f}:3:14: [layers[0].Conv2d.out_channels] function 'len' is not allowed in \"len(open('{marker}', 'w').name)\" "
        "(allowed: abs, ceil, floor, int, make_divisible, max, min, round)"),
    "expression with attribute access": (
        "expr2.yaml", "input: [1, 3, 8, 8]\nlayers:\n  - Conv2d: {out_channels: \"().__class__\", kernel_size: 3}\n",
        "{f}:3:14: [layers[0].Conv2d.out_channels] attribute access (a.b) cannot be used in expressions "
        "(in '().__class__'); expressions allow numbers, names, + - * / // % **, comparisons, 'x if c else y' "
        "and abs, ceil, floor, int, make_divisible, max, min, round"),
    # ---- not a text spec
    "binary junk": ("junk.yaml", bytes(range(256)) * 8, "{f}: binary data, not a text spec (found a NUL byte)"),
    "binary junk without NUL": ("junk2.yaml", bytes([0xDE, 0xAD, 0xBE, 0xEF]) * 100,
                                "{f}:1:3: not UTF-8 text (invalid byte 0xbe); save the spec as UTF-8"),
    "latin-1 text": ("latin1.yaml", b"input: [1, 3, 8, 8]\nlayers: [ReLU]\nname: caf\xe9\n",
                     "{f}:3:10: not UTF-8 text (invalid byte 0xe9); save the spec as UTF-8"),
    "empty file": ("empty.yaml", "", "{f}:1:1: empty spec"),
    "only a comment": ("blank.yaml", "  \n\n# nothing here\n", "{f}:1:1: empty spec"),
    "empty toml": ("empty.toml", "", "{f}:1:1: empty spec"),
    "missing file": ("missing.yaml", None, "{f}: file not found"),
    "directory": ("dir.yaml", "<directory>", "{f}: is a directory, not a spec file"),
    # ---- document shape
    "duplicate key yaml": ("d.yaml", "input: [1, 4]\nlayers: [ReLU]\ninput: [1, 5]\n",
                           "{f}:3:1: [input] duplicate key 'input' (the earlier value would be lost)"),
    "duplicate key json": ("d.json", '{"input": [1, 4],\n "layers": ["ReLU"],\n "input": [1, 5]}\n',
                           "{f}:3:2: [input] duplicate key 'input' (the earlier value would be lost)"),
    "duplicate key toml": ("d.toml", "input = [1, 4]\nlayers = [{ReLU = {}}]\ninput = [1, 5]\n",
                           "{f}:3:15: invalid TOML: a key is set twice (cannot overwrite a value)"),
    "several yaml documents": ("docs.yaml", "input: [1, 4]\nlayers: [ReLU]\n---\ninput: [1, 5]\n",
                               "{f}:3:1: several YAML documents in one file; a spec is one document"),
    "a list, not a mapping": ("list.yaml", "- ReLU\n",
                              "{f}:1:1: a spec must be a mapping with at least 'input' and 'layers'"),
    "no input": ("noin.yaml", "layers: [ReLU]\n",
                 "{f}:1:1: missing field 'input' (the input shape, e.g. [1, 3, 224, 224] or [N, 3, H, W])"),
    "empty layers": ("nolayers.yaml", "input: [1, 4]\nlayers: []\n", "{f}:2:1: [layers] 'layers' must be a non-empty list"),
    # ---- shape errors (exit 1): the layer, its input shape, the argument and the value; the line may
    # go on with a suggestion of input sizes that work (convshape.constraints)
    "kernel larger than input": (
        "s1.yaml", "input: [1, 3, 4, 4]\nlayers:\n  - Conv2d: {out_channels: 6, kernel_size: 5}\n",
        # lint's CS105 sentence at the kernel_size column (one message engine: lint/explain.py)
        "{f}:3:31: CS105 Conv2d 'conv2d_1' has a kernel of 5 on H but its input [1, 3, 4, 4] is only 4 there: "
        "no window fits, so the output would be empty. It needs a network input with H ≥ 5 and W ≥ 5; "
        "or use padding, a smaller kernel or fewer downsampling stages."),
    "in_channels disagrees with the input": (
        "s2.yaml", "input: [2, 3, 32, 32]\nlayers:\n  - Conv2d: {in_channels: 7, out_channels: 6, kernel_size: 5}\n",
        "{f}:3:14: CS102 Conv2d 'conv2d_1' declares in_channels=7 but its input [2, 3, 32, 32] has 3 channels. "
        "The declared size must match what arrives: set in_channels: 3, or leave in_channels out and convshape "
        "infers it."),
    "in_features disagrees with the input": (
        "s3.yaml", "input: [1, 3, 8, 8]\nlayers:\n  - Flatten\n  - Linear: {in_features: 100, out_features: 10}\n",
        # 3 * 8 * 8 = 192 features after the Flatten
        "{f}:4:14: CS106 Linear 'linear_1' declares in_features=100 but 'flatten_1' (Flatten) gives 3 channels × "
        "8 × 8 = 192 features from its input [1, 3, 8, 8]. Set in_features: 192, or leave it out and convshape "
        "infers it."),
    "groups do not divide the channels": (
        "s4.yaml", "input: [1, 3, 8, 8]\nlayers:\n  - Conv2d: {out_channels: 6, kernel_size: 3, groups: 2}\n",
        "{f}:3:47: CS103 Conv2d 'conv2d_1' has groups=2 but its input [1, 3, 8, 8] has 3 channels: a grouped "
        "convolution splits the channels into 2 equal groups, and 3 is not divisible by 2. Use groups that divides "
        "3 (e.g. 1 or 3), or give the layer before it a multiple of 2 output channels."),
}
SHAPE_ERRORS = {"kernel larger than input", "in_channels disagrees with the input",
                "in_features disagrees with the input", "groups do not divide the channels"}


def _run_one(workdir: Path, name: str):
    file_name, content, _ = CASES[name]
    case_dir = workdir / name.replace(" ", "_").replace("/", "_").replace("'", "")
    case_dir.mkdir()
    marker = case_dir / "MARKER"
    path = case_dir / file_name
    if content == "<directory>":
        path.mkdir()
    elif isinstance(content, bytes):
        path.write_bytes(content)
    elif content is not None:
        path.write_text(content.replace("{marker}", str(marker)), encoding="utf-8")
    usage_file = case_dir / "usage"
    proc = subprocess.run([sys.executable, "-c", CHILD, str(usage_file), str(path)], capture_output=True,
                          timeout=WALL_S, cwd=case_dir, env=ENV, text=True, errors="replace")
    rss, cpu = usage_file.read_text().split() if usage_file.exists() else (None, None)
    return proc, float(cpu) if cpu else None, int(rss) * 1024 if rss else None, path, marker


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("bad_input")
    with concurrent.futures.ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as pool:
        futures = {name: pool.submit(_run_one, workdir, name) for name in CASES}
        return {name: future for name, future in futures.items()}


@pytest.mark.parametrize("name", list(CASES))
def test_bad_input_gives_one_located_line(results, name):
    proc, cpu, rss, path, marker = results[name].result()  # re-raises a TimeoutExpired
    expected = "error: " + CASES[name][2].replace("{f}", str(path)).replace("{marker}", str(marker))
    if "{parser}" in expected:  # convshape's location and framing around the parser's words, on one line
        head, tail = expected.split("{parser}")
        line = proc.stderr.removesuffix("\n")
        assert line.startswith(head) and line.endswith(tail) and len(line) > len(head) + len(tail), proc.stderr
        assert proc.stderr.count("\n") == 1, proc.stderr
    elif name in SHAPE_ERRORS:  # the located statement, then possibly a hint on valid input sizes
        assert proc.stderr.startswith(expected) and proc.stderr.count("\n") == 1, proc.stderr
    else:
        assert proc.stderr == expected + "\n", proc.stderr   # exactly one line, never a traceback
    assert proc.stdout == ""
    assert proc.returncode == (1 if name in SHAPE_ERRORS else 2)
    assert cpu is not None and cpu < CPU_S, f"{cpu} CPU seconds"
    assert rss < PEAK_RSS, f"peak RSS {rss} bytes"
    assert not marker.exists()                              # nothing in the spec ran


def test_the_caps_are_real():
    """The child's limits do bind: 2 GiB cannot be allocated, and a busy loop is stopped."""
    limits = CHILD.split("usage_file")[0]
    proc = subprocess.run([sys.executable, "-c", limits + "bytearray(2 * 2**30)\n"], capture_output=True,
                          text=True, timeout=WALL_S)
    assert proc.returncode != 0 and "MemoryError" in proc.stderr
    one_second = limits.replace(f"({CPU_S}, {CPU_S})", "(1, 1)")
    proc = subprocess.run([sys.executable, "-c", one_second + "while True: pass\n"], capture_output=True,
                          timeout=WALL_S)
    assert proc.returncode < 0  # killed by SIGXCPU


def test_odd_file_names_stay_on_one_line(tmp_path):
    path = tmp_path / "two\nlines.yaml"
    path.write_text("input: [1, 4]\nlayers: [Relu]\n")
    proc = subprocess.run([sys.executable, "-m", "convshape.cli", "summary", str(path)], capture_output=True,
                          text=True, timeout=WALL_S, env=ENV)
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1 and "two\\nlines.yaml:2:10: [layers[0]] unknown layer type 'Relu'" in proc.stderr
