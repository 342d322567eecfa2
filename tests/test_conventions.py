"""Other tools' figures (`--convention`, `Report.convention`), checked against numbers the tools
themselves give: literals from each tool's own test suite (cited), and from running the installed
tools here on the zoo networks (tests/test_conventions_live.py reruns those when the tools are
importable). No tool is needed to run this module."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest
from click.testing import CliRunner

import convshape as cs
from convshape.cli import main
from convshape.conventions import TOOLS, count
from convshape.conventions.registry import CONVENTIONS, convention, not_counted, rule
from convshape.errors import ConventionError, SpecError

MIX = "tests/specs/conventions_mix.yaml"


def figures(spec: str, shape, tool: str):
    return cs.analyze(spec, shape).convention(tool)


def test_every_tool_is_registered_once_in_cli_order():
    assert TOOLS == ("torchinfo", "torchinfo-1.8.0", "fvcore", "ptflops", "ptflops-aten", "thop", "torch")
    with pytest.raises(ValueError, match="registered twice"):
        convention("fvcore", "flops", "again")


def test_a_kind_gets_one_rule_per_tool():
    with pytest.raises(ValueError, match="fvcore: kind 'ReLU' has two rules"):
        not_counted("fvcore", ("ReLU",), "again")
    with pytest.raises(ValueError, match="thop: kind 'Linear' has two rules"):
        rule("thop", "Linear")(lambda seen: 0)
    assert "Linear" in CONVENTIONS["thop"].rules


# ----------------------------------------------------------------------------- torchinfo's own tests
SINGLE_INPUT_NET = """
name: single_input_net   # torchinfo tests/fixtures/models.py SingleInputNet
input: [7, 1, 28, 28]
layers:
  - {Conv2d: {out_channels: 10, kernel_size: 5}, name: conv1}
  - MaxPool2d: {kernel_size: 2}
  - ReLU
  - {Conv2d: {out_channels: 20, kernel_size: 5}, name: conv2}
  - {Dropout2d: {}, name: conv2_drop}
  - MaxPool2d: {kernel_size: 2}
  - ReLU
  - Flatten
  - {Linear: {out_features: 50}, name: fc1}
  - ReLU
  - {Linear: {out_features: 10}, name: fc2}
"""


@pytest.mark.parametrize("tool", ["torchinfo", "torchinfo-1.8.0"])
def test_torchinfo_single_input_all_cols(tool):
    # torchinfo tests/test_output/single_input_all_cols.out, column Mult-Adds:
    c = cs.analyze(SINGLE_INPUT_NET).convention(tool)
    assert c.layers["conv1"] == 1_048_320   # 260 params × 7 × 24·24
    assert c.layers["conv2"] == 2_248_960   # 5,020 params × 7 × 8·8
    assert c.layers["fc1"] == 112_350       # 16,050 params × 7 (2-D input: both rules agree)
    assert c.layers["fc2"] == 3_570         # 510 params × 7
    assert c.layers["conv2_drop"] is None   # "--": no parameters
    assert c.total == 3_413_200             # 1,048,320 + 2,248,960 + 112,350 + 3,570 ("3.41 M")


def test_torchinfo_linear_on_nd_input_main_and_1_8_0():
    spec = "name: lin\ninput: [32, 16, 8]\nlayers:\n  - Linear: {out_features: 64}\n"
    # torchinfo tests/test_output/linear.out (main): 576 params, 294,912 mult-adds = 576 × 32·16
    assert cs.analyze(spec).convention("torchinfo").total == 294_912
    # the installed torchinfo 1.8.0 says 18,432 = 576 × 32 (batch × params; run here)
    assert cs.analyze(spec).convention("torchinfo-1.8.0").total == 18_432


# ----------------------------------------------------------------------------- fvcore's own tests
def one(kind_args: str, shape: str, tool: str):
    c = figures(f"name: one\ninput: [{shape}]\nlayers:\n  - {kind_args}\n", None, tool)
    (value,) = c.layers.values()
    return value


def test_fvcore_batchnorm_groupnorm_upsample_as_its_tests_say():
    # fvcore tests/test_flop_count.py test_batchnorm: BatchNorm1d(10, affine=False).eval() on (10, 10): 10·10
    assert one("BatchNorm1d: {affine: false}", "10, 10", "fvcore") == 100
    # same test, BatchNorm2d(10, affine=False) in training mode, the path a norm without running
    # statistics takes: 4 × 10·10·5·5
    assert one("BatchNorm2d: {affine: false, track_running_stats: false}", "10, 10, 5, 5", "fvcore") == 10_000
    # test_batch_norm (handles): (2,2,2,2) with weight, bias and running stats: 2 × 16; none: 16; training: 5 × 16
    assert one("BatchNorm2d", "2, 2, 2, 2", "fvcore") == 32
    assert one("BatchNorm2d: {affine: false}", "2, 2, 2, 2", "fvcore") == 16
    assert one("BatchNorm2d: {track_running_stats: false}", "2, 2, 2, 2", "fvcore") == 80
    # test_group_norm: (2,2,2,2), 2 groups: 5 × 16 with affine, 4 × 16 without
    assert one("GroupNorm: {num_groups: 2}", "2, 2, 2, 2", "fvcore") == 80
    assert one("GroupNorm: {num_groups: 2, affine: false}", "2, 2, 2, 2", "fvcore") == 64
    # test_upsample: bilinear, scale 2 on (2,2,2,2): 4 per output element, 2**4 × 4 × 4
    assert one("Upsample: {scale_factor: 2, mode: bilinear}", "2, 2, 2, 2", "fvcore") == 256


def test_fvcore_three_net_by_module():
    # fvcore tests/test_flop_count.py test_flop_counter_class: ThreeNet(2, 5, 3) on (4, 2, 10, 10)
    spec = """
name: three_net
input: [4, 2, 10, 10]
layers:
  - {Conv2d: {out_channels: 5, kernel_size: 1}, name: conv}
  - {AdaptiveAvgPool2d: {output_size: 1}, name: pool}
  - Flatten
  - {Linear: {out_features: 3}, name: linear1}
  - {Linear: {out_features: 1}, name: linear2}
"""
    c = cs.analyze(spec).convention("fvcore")
    assert c.layers["conv"] == 4_000    # 4 × 5 × 2 × 10·10
    assert c.layers["pool"] == 2_000    # flop1 // input_dim: one per input element, 4·5·10·10
    assert c.layers["linear1"] == 60    # 4 × 5 × 3
    assert c.layers["linear2"] == 12    # 4 × 3 × 1
    assert c.total == 6_072


@pytest.mark.parametrize("kind", ["Conv2d", "ConvTranspose2d"])
def test_fvcore_conv_and_transposed_conv(kind):
    # fvcore test_conv, cases 1 and 7: batch 5, 10 -> 3 channels, 15×15, kernel 3, padding 1:
    # 5 × 10 × 3 × 3² × 15² = 303,750 (transposed: over the 15² input positions)
    assert one(f"{kind}: {{out_channels: 3, kernel_size: 3, padding: 1}}", "5, 10, 15, 15", "fvcore") == 303_750


def test_fvcore_skips_what_it_has_no_handle_for():
    c = figures("zoo:fcn1d", None, "fvcore")
    # Conv1d with padding='same' traces to aten::_convolution_mode (measured: fvcore gives 0 there)
    assert c.layers["block1.conv"] is None and "_convolution_mode" in c.not_counted["Conv1d"]
    assert "adaptive_avg_pool2d only" in c.not_counted["AdaptiveAvgPool1d"]
    # what remains: BatchNorm1d eval affine, 2 per element: 2 × (128 + 256 + 128) × 128 = 131,072,
    # + Linear 128 × 6 = 768: 131,840, as fvcore 0.1.5 measured on to_torch(zoo:fcn1d)
    assert c.total == 131_840


# ----------------------------------------------------------------------------- ptflops' own tests
def test_ptflops_common_test():
    # ptflops tests/common_test.py test_conv: Conv2d(3, 2, 3) on (3, 224, 224): 222² × (3·3·3·2 + 2)
    assert one("Conv2d: {out_channels: 2, kernel_size: 3}", "1, 3, 224, 224", "ptflops") == 2_759_904
    # test_fc: Linear(3, 2) on (3,): 3·2 + 2; test_fc_multidim on (4, 5, 3): (3·2 + 2) × 4·5
    assert one("Linear: {out_features: 2}", "1, 3", "ptflops") == 8
    assert one("Linear: {out_features: 2}", "1, 4, 5, 3", "ptflops") == 160
    # the aten backend on the same conv: aten.convolution with its bias, the same 2,759,904
    assert one("Conv2d: {out_channels: 2, kernel_size: 3}", "1, 3, 224, 224", "ptflops-aten") == 2_759_904


def test_ptflops_interpolate_and_double_counted_modules():
    # nn.Upsample(size=(20, 20)) on 1×3×10×10: its hook reads output[0], the first sample: 3·20·20 = 1,200,
    # and the patched F.interpolate adds N·C·prod(size) = 1·3·400 = 1,200 (measured: 2,400)
    assert one("Upsample: {size: [20, 20]}", "1, 3, 10, 10", "ptflops") == 2_400
    # nn.ReLU's hook (256) and the F.relu it calls (256): the README's 512
    assert one("ReLU", "1, 4, 8, 8", "ptflops") == 512
    # nn.ReLU6 calls F.hardtanh, which ptflops does not patch: 256 once
    assert one("ReLU6", "1, 4, 8, 8", "ptflops") == 256
    # LayerNorm has no `affine` attribute, so bn_flops_counter_hook pays 1 per element despite its weight
    assert one("LayerNorm: {normalized_shape: 8}", "1, 4, 8, 8", "ptflops") == 256


def test_ptflops_is_defined_at_batch_one():
    with pytest.raises(ConventionError, match="ptflops measures a batch of 1 .* batch is 2"):
        figures(MIX, None, "ptflops")   # the spec's input is 2×3×8×8
    with pytest.raises(ConventionError, match="fractional|fraction"):
        one("Upsample: {scale_factor: 1.5}", "1, 3, 5, 5", "ptflops")


def test_ptflops_aten_linear_bias_follows_contiguity():
    # contiguous N-D input: aten.addmm, bias counted: 4·5·3·2 + 4·5·2 = 160
    assert one("Linear: {out_features: 2}", "1, 4, 5, 3", "ptflops-aten") == 160
    spec = "name: p\ninput: [1, 3, 4, 5]\nlayers:\n  - Permute: {dims: [0, 2, 3, 1]}\n  - Linear: {out_features: 2}\n"
    with pytest.raises(ConventionError, match="ptflops-aten: Linear on a strided N-D input"):
        cs.analyze(spec).convention("ptflops-aten")
    assert cs.analyze(spec).convention("fvcore").total == 120   # fvcore: prod(input) × 2 = 60 × 2


# ----------------------------------------------------------------------------- thop's own tests
@pytest.mark.parametrize("bias", ["true", "false"])
def test_thop_conv2d_test(bias):
    # thop tests/test_conv2d.py: Conv2d(3, 12, 5, padding=1) on 1×3×32×32 -> 30×30: 12·900 × 3·25, bias or not
    assert one(f"Conv2d: {{out_channels: 12, kernel_size: 5, padding: 1, bias: {bias}}}", "1, 3, 32, 32",
               "thop") == 810_000


def test_thop_relu_test_and_its_own_rules():
    assert one("ReLU", "1, 100", "thop") == 0   # thop tests/test_relu.py
    # count_adap_avgpool in float64: int((5/3 · 5/3 + 1) × 4·3·3) = int(3.777… × 36) = 136
    assert one("AdaptiveAvgPool2d: {output_size: 3}", "1, 4, 5, 5", "thop") == 136
    # calculate_softmax: 9 rows of 4 features: 9 × (4 + 3 + 4)
    assert one("Softmax: {dim: 1}", "1, 4, 3, 3", "thop") == 99
    with pytest.raises(ConventionError, match="thop: Softmax with dim=None"):
        one("Softmax", "1, 4, 3, 3", "thop")
    # a transposed conv pays output elements × in/groups × k: 4·16·16 × 8 × 2·2 (its MACs are 8,192)
    assert one("ConvTranspose2d: {out_channels: 4, kernel_size: 2, stride: 2}", "1, 8, 8, 8", "thop") == 32_768
    assert one("GroupNorm: {num_groups: 2}", "1, 4, 8, 8", "thop") is None   # no hook: "Cannot find rule"


# ----------------------------------------------------------------------------- measured here, whole networks
# Each tool run on to_torch(spec) in eval mode at the input shown (torch 2.14.1, torchinfo 1.8.0,
# fvcore 0.1.5.post20221221, ptflops 0.7.5, thop 0.1.1; benchmarks/compare_conventions.py); every
# layer agreed too. torchinfo's column is 1.8.0's (main's rule differs only for Linear on N-D input).
MEASURED = {
    ("zoo:resnet50", "1,3,224,224"): {
        "torch": 8_178_368_512, "torchinfo-1.8.0": 4_089_238_376, "fvcore": 4_111_512_576,
        "ptflops": 4_132_436_968, "ptflops-aten": 4_089_185_256, "thop": 4_133_742_592},
    ("zoo:resnet18", "1,3,64,64"): {
        "torch": 297_115_648, "torchinfo-1.8.0": 148_568_424, "fvcore": 148_965_376,
        "ptflops": 149_476_328, "ptflops-aten": 148_558_824, "thop": 149_371_392},
    ("zoo:mobilenet_v2", "1,3,64,64"): {
        "torch": 51_457_024, "torchinfo-1.8.0": 25_763_624, "fvcore": 26_823_936,
        "ptflops": 27_328_488, "ptflops-aten": 25_729_512, "thop": 27_915_520},
    ("zoo:convnext_tiny", "1,3,64,64"): {
        "torch": 728_844_288, "torchinfo-1.8.0": 50_833_672, "fvcore": 365_642_496,
        "ptflops": 367_170_280, "ptflops-aten": 365_519_848, "thop": 365_399_808},
    ("zoo:unet", "1,3,64,64"): {
        "torch": 6_021_447_680, "torchinfo-1.8.0": 3_413_888_512, "fvcore": 3_014_721_536,
        "ptflops": 3_020_201_984, "ptflops-aten": 3_011_223_552, "thop": 3_421_372_416},
    ("zoo:efficientnet_b0", "1,3,64,64"): {
        "torch": 66_493_184, "torchinfo-1.8.0": 33_298_948, "fvcore": 34_540_032,
        "ptflops": 35_246_816, "ptflops-aten": 33_256_932, "thop": 35_650_304},
    ("zoo:fcn1d", "1,9,128"): {
        "torch": 69_469_696, "torchinfo-1.8.0": 34_801_414, "fvcore": 131_840,
        "ptflops": 35_095_302, "ptflops-aten": 34_800_390, "thop": 35_013_504},
    (MIX, "1,3,8,8"): {
        "torch": 44_392, "torchinfo-1.8.0": 48_346, "fvcore": 49_640,
        "ptflops": 52_425, "ptflops-aten": 23_737, "thop": 82_471},
    ("tests/specs/conventions_mix2.yaml", "1,4,16"): {
        "torch": 2_412, "torchinfo-1.8.0": 1_314, "fvcore": 1_686,
        "ptflops": 2_070, "ptflops-aten": 1_302, "thop": 2_064},
    ("tests/specs/conventions_mix3.yaml", "1,2,6,6,6"): {
        "torch": 21_516, "torchinfo-1.8.0": 11_925, "fvcore": 11_142,
        "ptflops": 12_651, "ptflops-aten": 11_007, "thop": 12_710},
}


@pytest.mark.parametrize("spec,shape", list(MEASURED))
def test_totals_equal_the_tools_measured_here(spec, shape):
    report = cs.analyze(spec, shape)
    got = {tool: report.convention(tool).total for tool in MEASURED[spec, shape]}
    assert got == MEASURED[spec, shape]


def test_torch_convention_is_twice_the_macs_but_for_a_vector_matmul():
    report = cs.analyze("zoo:resnet50", "1,3,224,224")
    assert report.convention("torch").total == 2 * report.totals.macs == 8_178_368_512
    spec = "name: mv\ninput: {a: [3, 4], b: [4]}\nlayers:\n  - {MatMul: {}, inputs: [a, b]}\n"
    # aten.mv: FlopCounterMode counts 0 where convshape's MACs are 3 × 4 = 12
    r = cs.analyze(spec)
    assert r.totals.macs == 12 and r.convention("torch").total == 0


def test_mix_per_layer_where_the_tools_differ():
    c = {t: figures(MIX, "1,3,8,8", t).layers for t in ("torchinfo", "fvcore", "ptflops", "thop")}
    # BatchNorm2d(8, affine=False) on 1×8×8×8 (512 elements), eval with running stats
    assert [c[t]["batchnorm2d_1"] for t in c] == [None, 512, 512, 1_024]   # -, 1/elt, 1/elt, 2/elt
    # GroupNorm(2, 8) affine: torchinfo batch × 16 params; fvcore 5/elt; ptflops 2/elt; thop no hook
    assert [c[t]["groupnorm_1"] for t in c] == [16, 2_560, 1_024, None]
    # Upsample ×2 bilinear to 1×8×16×16 (2,048 outputs): fvcore 4/out; ptflops hook 2,048 + F.interpolate
    # 512 × 2²; thop 11/out
    assert [c[t]["upsample_1"] for t in c] == [None, 8_192, 4_096, 22_528]
    # ConvTranspose2d(8, 4, 2, stride 2) with bias, 8×8 -> 16×16: torchinfo 132 params × 16·16;
    # fvcore the MACs 8·64 × 4 × 4; ptflops MACs + 4·256 bias; thop 4·256 × 8 × 4
    assert [c[t]["convtranspose2d_1"] for t in c] == [33_792, 8_192, 9_216, 32_768]


# ----------------------------------------------------------------------------- refusals and the API
def test_a_kind_without_a_rule_is_refused_by_name():
    spec = "name: mha\ninput: [2, 5, 8]\nlayers:\n  - {MultiheadAttention: {embed_dim: 8, num_heads: 2}}\n"
    with pytest.raises(ConventionError, match="--convention fvcore: no rule for MultiheadAttention"):
        cs.analyze(spec).convention("fvcore")
    assert cs.analyze(spec).convention("torch").total == 2 * cs.analyze(spec).totals.macs


def test_unknown_tool_is_a_spec_error_with_a_suggestion():
    with pytest.raises(SpecError, match="unknown convention 'fvcor'; did you mean 'fvcore'"):
        cs.analyze("zoo:lenet5").convention("fvcor")


def test_every_report_keeps_its_network():
    from convshape.analysis import analyze
    net = cs.load("zoo:lenet5")
    direct = analyze(net, ("N", 1, 28, 28))    # not through convshape.analyze
    assert direct.at(N=2).totals.macs == 13_044_000   # 2 × 6,522,000
    assert count(direct.at(N=2), "thop").total == 2 * 6_522_000   # lenet5's thop figure is its MACs


# ----------------------------------------------------------------------------- the command line
def run(*args):
    return CliRunner().invoke(main, list(args))


def test_cli_table_has_the_tool_column_and_notes():
    res = run("summary", "zoo:lenet5", "--convention", "fvcore", "--width", "200")
    assert res.exit_code == 0, res.output
    header = next(line for line in res.output.splitlines() if "MACs" in line)
    assert header.index("MACs") < header.index("fvcore flops")
    total = next(line for line in res.output.splitlines() if "total" in line)
    assert total.count("6,522,000") == 2   # MACs and fvcore's flops agree on lenet5
    text = " ".join(res.output.split())   # the notes wrap at the width
    assert "not counted by fvcore (-): ReLU, MaxPool2d, Flatten: fvcore has no handle" in text
    assert "the other columns are convshape's" in text


def test_cli_json_markdown_csv_carry_the_convention():
    res = run("summary", "zoo:resnet18", "--convention", "torchinfo", "--format", "json")
    d = json.loads(res.output)["convention"]
    # bias-free convs pay params × positions = their MACs, 1,814,073,344 in all with fc's weight; + fc's bias
    # 1,000 × 1 row; + the BatchNorms' 9,600 params × batch 1
    assert d["tool"] == "torchinfo" and d["total"] == 1_814_083_944 == 1_814_073_344 + 1_000 + 9_600
    assert d["layers"]["relu"] is None and d["layers"]["bn1"] == 128   # batch 1 × 2·64
    md = run("summary", "zoo:lenet5", "--convention", "thop", "--format", "markdown").output
    assert "| MACs | thop MACs |" in md and "| relu_1 | ReLU | 1×20×28×28 | 0 | 0 | 0 |" in md
    rows = run("summary", "zoo:lenet5", "--convention", "thop", "--format", "csv").output.splitlines()
    assert rows[0].endswith(",thop") and rows[7].startswith("flatten_1,") and rows[7].endswith(",")


def test_cli_refusals_exit_codes():
    res = run("summary", MIX, "--convention", "ptflops")
    assert res.exit_code == 1 and "ptflops measures a batch of 1" in res.output
    res = run("summary", "zoo:lenet5", "--convention", "nope")
    assert res.exit_code == 2 and "choose from torchinfo, torchinfo-1.8.0, fvcore" in res.output
    res = run("summary", "zoo:lenet5", "--convention", "thop", "--format", "mermaid")
    assert res.exit_code == 2 and "not mermaid" in res.output
    assert "--convention" in run("summary", "--help").output


def test_conventions_never_import_torch():
    code = ("import sys, convshape; r = convshape.analyze('zoo:resnet18'); "
            "[r.convention(t) for t in ('torchinfo', 'fvcore', 'ptflops', 'thop', 'torch')]; "
            "assert 'torch' not in sys.modules, 'torch imported'")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_readme_and_api_docs_examples_hold():
    from pathlib import Path
    root = Path(__file__).resolve().parent.parent
    res = run("summary", "zoo:resnet50", "--convention", "fvcore", "--depth", "0", "--columns", "type,params,macs")
    total = next(line for line in res.output.splitlines() if line.startswith("│ total"))
    assert total in (root / "README.md").read_text(encoding="utf-8")
    assert total in (root / "docs" / "conventions.md").read_text(encoding="utf-8")
    r = cs.analyze("zoo:resnet50", "1,3,224,224")   # docs/api.md, "Other tools' numbers"
    assert (r.totals.macs, r.convention("fvcore").total) == (4_089_184_256, 4_111_512_576)
    assert r.convention("thop").layers["relu"] == 0 and r.convention("torchinfo").layers["relu"] is None
