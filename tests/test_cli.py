"""The command line: help for every command, exit codes, one-line errors, JSON contract, schema."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from importlib import resources

import pytest
import yaml
from click.testing import CliRunner

import convshape as cs
from convshape.cli import main


def run(*args):
    return CliRunner().invoke(main, list(args))


def commands():
    return sorted(main.commands)


# ---------------------------------------------------------------- help
def test_top_level_help_lists_every_command():
    result = run("--help")
    assert result.exit_code == 0
    for name in commands():
        assert name in result.stdout


@pytest.mark.parametrize("name", commands())
def test_every_command_has_help(name):
    result = run(name, "--help")
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith(f"Usage: main {name}") or f"Usage: convshape {name}" in result.stdout
    assert main.commands[name].help, f"`convshape {name}` has no docstring"


# ---------------------------------------------------------------- exit codes and one-line errors
def assert_one_line_error(result, code: int, *fragments: str):
    assert result.exit_code == code, (result.exit_code, result.output)
    err = result.stderr
    assert err.startswith("error: ") or err.startswith("Usage:"), err
    assert "Traceback" not in result.output
    if err.startswith("error: "):
        assert err.count("\n") == 1, err  # one line
    for f in fragments:
        assert f in err, err


def test_summary_ok():
    result = run("summary", "zoo:lenet5")
    assert result.exit_code == 0, result.output
    assert "1,256,080" in result.stdout  # LeNet-5 params: 520 + 25,050 + 1,225,500 + 5,010
    assert result.stderr == ""


def test_network_invalid_for_the_input_exits_1():
    # 3x3 -> conv 5x5 pad 2 -> 3x3 -> pool 2 -> 1x1 -> second pool has an empty window
    result = run("summary", "zoo:lenet5", "--input", "1,1,3,3")
    assert_one_line_error(result, 1, "maxpool2d_2", "[1, 50, 1, 1]")


@pytest.mark.parametrize("value", ["1,x-2,3", "1,,3", "", "0,3,8,8", "1.5,3,8,8"])
def test_bad_input_option_exits_2(value):
    assert_one_line_error(run("summary", "zoo:lenet5", "--input", value), 2, "--input")


def test_missing_file_exits_2(tmp_path):
    missing = tmp_path / "nope.yaml"
    assert_one_line_error(run("summary", str(missing)), 2, "nope.yaml")


def test_unknown_zoo_name_exits_2():
    assert_one_line_error(run("summary", "zoo:resnet5O"), 2, "resnet5O")


@pytest.mark.parametrize("text,fragment", [
    ("input: [1, 3, 8, 8]\nlayers:\n  - Conv9d: {out_channels: 4, kernel_size: 3}\n", "Conv9d"),
    ("input: [1, 3, 8, 8]\nlayers:\n  - Conv2d: {out_channels: 4, kernel: 3}\n", "kernel"),
    ("input: [1, 3, 8, 8]\nlayers: [\n", ":"),          # malformed YAML
    ("input: [1, 3, 8, 8]\n", "layers"),                 # no layers
])
def test_bad_spec_exits_2_with_its_location(tmp_path, text, fragment):
    path = tmp_path / "net.yaml"
    path.write_text(text)
    result = run("summary", str(path))
    assert_one_line_error(result, 2, "net.yaml", fragment)


def test_usage_error_exits_2():
    result = run("summary", "zoo:lenet5", "--format", "xml")
    assert result.exit_code == 2
    assert "Traceback" not in result.output


def test_real_process_error_is_one_line_on_stderr():
    # the installed entry point, as a user runs it: exit code and stderr of a real process
    proc = subprocess.run([sys.executable, "-m", "convshape.cli", "summary", "zoo:lenet5", "--input", "1,1,3,3"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1
    assert proc.stdout == ""
    assert proc.stderr.count("\n") == 1 and proc.stderr.startswith("error: ")


def test_python_m_convshape_is_the_console_script():
    # `python -m convshape` (convshape/__main__.py) runs cli.main: the same help, every command listed
    root = os.path.dirname(os.path.dirname(os.path.abspath(cs.__file__)))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")]))}
    proc = subprocess.run([sys.executable, "-m", "convshape", "--help"], capture_output=True, text=True,
                          timeout=120, env=env)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.startswith("Usage: python -m convshape [OPTIONS] COMMAND [ARGS]...")
    section = proc.stdout.split("Commands:", 1)[1].splitlines()
    listed = [line.split()[0] for line in section if line[:3].strip() and line.startswith("  ")]  # not wrapped text
    assert listed == commands()  # cli.main's commands, as the console script lists them


# ---------------------------------------------------------------- formats
@pytest.mark.parametrize("spec,shape", [("zoo:lenet5", None), ("zoo:resnet50", None), ("zoo:lenet5", "N,1,H,W")])
def test_json_output_equals_report_to_dict(spec, shape):
    args = ["summary", spec, "--format", "json"] + (["--input", shape] if shape else [])
    result = run(*args)
    assert result.exit_code == 0, result.output
    expected = cs.analyze(cs.load(spec), cs.spec.parse_input_shape(shape) if shape else None).to_dict()
    assert json.loads(result.stdout) == expected


def test_json_contract_fields():
    d = json.loads(run("summary", "zoo:resnet50", "--format", "json").stdout)
    assert {"network", "input", "layers", "totals"} <= set(d)
    assert set(d["layers"][-1]) >= {"name", "type", "inputs", "output_shape", "params", "trainable_params",
                                     "buffers", "macs", "flops", "other_ops", "activation_bytes",
                                     "receptive_field"}
    assert set(d["totals"]) >= {"params", "trainable_params", "non_trainable_params", "buffers", "macs", "flops",
                                "flops_backward", "other_ops", "activation_bytes", "param_bytes"}
    assert d["layers"][-1]["output_shape"] == [1, 1000]


@pytest.mark.parametrize("fmt", ["table", "markdown", "csv", "mermaid"])
def test_every_format_renders(fmt):
    result = run("summary", "zoo:resnet50", "--format", fmt, "--depth", "1")
    assert result.exit_code == 0, result.output
    assert result.stdout.strip()


def test_dtype_sets_bytes():
    d = json.loads(run("summary", "zoo:lenet5", "--format", "json", "--dtype", "bfloat16").stdout)
    assert d["totals"]["param_bytes"] == 1_256_080 * 2  # bfloat16: 2 bytes per parameter


# ---------------------------------------------------------------- schema
@pytest.fixture(scope="module")
def validator():
    jsonschema = pytest.importorskip("jsonschema")
    result = run("schema")
    assert result.exit_code == 0
    schema = json.loads(result.stdout)
    jsonschema.Draft202012Validator.check_schema(schema)  # a valid JSON Schema (draft 2020-12)
    return jsonschema.Draft202012Validator(schema)


@pytest.mark.parametrize("name", cs.zoo_names())
def test_schema_validates_every_zoo_spec(validator, name):
    doc = yaml.safe_load(resources.files("convshape.zoo").joinpath(name + ".yaml").read_text())
    errors = [e.message for e in validator.iter_errors(doc)]
    assert errors == []


@pytest.mark.parametrize("doc", [
    {"input": [1, 3, 8, 8], "layers": [{"Conv9d": {"out_channels": 4, "kernel_size": 3}}]},
    {"input": [1, 3, 8, 8], "layers": ["Conv9d"]},
    {"input": [1, 3, 8, 8], "layers": [{"Conv2d": {"out_channels": 4, "kernel": 3}}]},   # unknown argument
    {"input": [1, 3, 8, 8], "layers": [{"Conv2d": {"kernel_size": 3}}]},                # missing argument
    {"layers": ["ReLU"]},                                                                # no input
])
def test_schema_rejects_bad_specs(validator, doc):
    assert not validator.is_valid(doc)


def test_schema_accepts_expressions_and_symbols(validator):
    doc = {"input": ["N", 3, "H", "W"], "vars": {"width": 64},
           "layers": [{"Conv2d": {"out_channels": "width * 2", "kernel_size": 3}, "name": "stem"}, "ReLU"]}
    assert validator.is_valid(doc)


def test_symbolic_json_strings_parse_back_to_the_concrete_figures():
    sympy = pytest.importorskip("sympy")
    sym = json.loads(run("summary", "zoo:resnet50", "--format", "json", "--input", "N,3,H,W").stdout)
    concrete = json.loads(run("summary", "zoo:resnet50", "--format", "json").stdout)
    names = {s: sympy.Symbol(s) for s in "NHW"}  # N is also sympy's N(): declare the symbols
    at = {names["N"]: 1, names["H"]: 224, names["W"]: 224}
    for key in ("macs", "flops", "flops_backward", "other_ops", "activation_bytes"):
        value = sympy.parse_expr(sym["totals"][key], local_dict=names).subs(at)
        assert value == concrete["totals"][key], key
    assert sym["totals"]["params"] == concrete["totals"]["params"] == 25_557_032  # independent of the input
