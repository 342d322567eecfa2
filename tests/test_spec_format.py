"""The spec format: YAML, JSON and TOML with one schema; blocks, repeat, when, named inputs, expressions.

Errors are checked for their location (file:line:column and field path) as well as their text.
"""
from pathlib import Path

import pytest

import convshape as cs

SPECS = Path(__file__).parent / "specs" / "format"


def build(text: str, name: str = "spec.yaml", fmt=None):
    return cs.loads(text, name=name, fmt=fmt)


def spec_error(text: str, name: str = "spec.yaml", fmt=None) -> cs.SpecError:
    with pytest.raises(cs.SpecError) as e:
        build(text, name, fmt)
    return e.value


def line_of(text: str, needle: str, nth: int = 1) -> tuple[int, int]:
    """1-based (line, column) of the nth occurrence of needle."""
    at = -1
    for _ in range(nth):
        at = text.index(needle, at + 1)
    line = text.count("\n", 0, at) + 1
    return line, at - (text.rfind("\n", 0, at) + 1) + 1


def without_locations(report) -> dict:
    d = report.to_dict()
    for layer in d["layers"]:
        layer.pop("location")
    return d


# ---------------------------------------------------------------- one network, three formats
def test_yaml_json_and_toml_give_identical_reports():
    reports = {ext: cs.analyze(cs.load(str(SPECS / f"mini_resnet.{ext}"))) for ext in ("yaml", "json", "toml")}
    assert without_locations(reports["yaml"]) == without_locations(reports["json"]) \
        == without_locations(reports["toml"])
    assert [r.name for r in reports["toml"].layers] == [r.name for r in reports["yaml"].layers]


def test_mini_resnet_numbers():
    r = cs.analyze(cs.load(str(SPECS / "mini_resnet.yaml")))
    assert r.output_shape == (2, 10)
    assert len(r.layers) == 27  # stem + 7 (stage.0 has no projection) + 8 + 8 + pool, flatten, fc
    assert r.totals.params == (
        3 * 16 * 9 + 16                                         # stem: 448
        + 2 * 16 * 16 * 9 + 2 * 32                              # stage.0, 16 -> 16: 4_672
        + 16 * 32 * 9 + 32 * 32 * 9 + 2 * 64 + 16 * 32          # stage.1, 16 -> 32, projected: 14_464
        + 32 * 64 * 9 + 64 * 64 * 9 + 2 * 128 + 32 * 64        # stage.2, 32 -> 64, projected: 57_600
        + 64 * 10 + 10                                          # fc: 650
    ) == 77_834
    # the block's `shortcut` is switched off in stage.0, so its Add reads the block input
    assert r.layer("stage.0.add_1").inputs == ("stage.0.bn2", "stem")
    assert r.layer("stage.1.add_1").inputs == ("stage.1.bn2", "stage.1.shortcut")


@pytest.mark.parametrize("ext", ["yaml", "json", "toml"])
def test_field_errors_point_at_the_field_in_every_format(ext, tmp_path):
    text = (SPECS / f"mini_resnet.{ext}").read_text()
    bad = text.replace("kernel_size", "kernal_size", 1)  # the first one: in block Basic's conv1
    path = tmp_path / f"bad.{ext}"
    path.write_text(bad)
    with pytest.raises(cs.SpecError) as e:
        cs.load(str(path))
    err = e.value
    assert (err.line, err.column) == line_of(bad, "kernal_size") if ext != "json" else \
        (err.line, err.column) == line_of(bad, '"kernal_size"')
    assert err.field == "blocks.Basic.layers[0].Conv2d.kernal_size"
    assert err.message == "unknown argument 'kernal_size' for Conv2d; did you mean 'kernel_size'?"
    assert str(err).startswith(f"{path}:{err.line}:{err.column}: [blocks.Basic.layers[0].Conv2d.kernal_size] ")
    assert "in Basic 'stage.0'" in str(err)  # which use of the block failed


TOML_LAYOUTS = {
    "inline table": """input = [1, 3, 8, 8]

[[layers]]
Conv2d = { out_channels = 4, kernal_size = 3 }
""",
    "sub-table": """input = [1, 3, 8, 8]

[[layers]]
name = "c"
[layers.Conv2d]
out_channels = 4
kernal_size = 3
""",
    "dotted keys": """input = [1, 3, 8, 8]

[[layers]]
Conv2d.out_channels = 4
Conv2d.kernal_size = 3
""",
    "second entry, after comments and a multi-line array": """input = [
  1, 3,  # batch, channels [not a table]
  8, 8,
]

[[layers]]
ReLU = {}

# the conv
[[layers]]
Conv2d = { out_channels = 4, "kernal_size" = 3 }
""",
}


@pytest.mark.parametrize("layout", TOML_LAYOUTS)
def test_toml_unknown_argument_points_at_its_line_and_column(layout):
    text = TOML_LAYOUTS[layout]
    err = spec_error(text, "net.toml")
    needle = '"kernal_size"' if '"kernal_size"' in text else "kernal_size"
    assert (err.line, err.column) == line_of(text, needle)
    assert err.field.endswith("Conv2d.kernal_size")
    assert "did you mean 'kernel_size'?" in err.message


def test_toml_array_element_errors_point_at_the_element():
    text = "input = [1, 3, 8, 8]\n\n[[layers]]\nConv2d = { out_channels = 4, kernel_size = [3, 0] }\n"
    err = spec_error(text, "net.toml")
    assert (err.line, err.column) == line_of(text, "0]")
    assert err.field == "layers[0].Conv2d.kernel_size[1]"
    assert err.message == "Conv2d: kernel_size[1] must be greater than 0, got [3, 0]"


def test_json_errors_point_at_the_key():
    text = '{"input": [1, 3, 8, 8],\n "layers": [\n   {"Conv2d": {"out_channels": 4,\n               "bias": 1, "kernel_size": 3}}]}'
    err = spec_error(text, "net.json")
    assert (err.line, err.column) == line_of(text, '"bias"')
    assert err.message == "Conv2d: bias must be true or false, got 1"


# ---------------------------------------------------------------- blocks
BLOCK = """
input: [1, 8, 16, 16]
blocks:
  Unit:
    args: {planes: ~, expansion: 4, hidden: planes * expansion}
    layers:
      - Conv2d: {out_channels: hidden, kernel_size: 1}
      - Conv2d: {out_channels: planes, kernel_size: 1}
layers:
  - Unit: {planes: 8}
    name: a
  - Unit: {planes: 8, expansion: 2}
    name: b
"""


def test_block_args_defaults_and_defaults_from_earlier_args():
    net = build(BLOCK)
    assert [(n.name, n.layer.out_channels) for n in net.nodes] == [
        ("a.conv2d_1", 32), ("a.conv2d_2", 8),   # hidden = planes * expansion = 8 * 4
        ("b.conv2d_1", 16), ("b.conv2d_2", 8),   # expansion 2: 8 * 2
    ]
    assert net.nodes[0].groups == (("a", "Unit"),)


def test_block_required_arg_missing():
    text = BLOCK.replace("Unit: {planes: 8, expansion: 2}", "Unit: {expansion: 2}")
    err = spec_error(text)
    assert err.message == "missing required argument 'planes' for block Unit"
    assert (err.line, err.column) == line_of(text, "Unit: {expansion")
    assert err.field == "layers[1].Unit"


def test_block_unknown_arg_suggests():
    err = spec_error(BLOCK.replace("expansion: 2}", "expansoin: 2}"))
    assert err.message == "unknown argument 'expansoin' for block Unit; did you mean 'expansion'?"
    assert err.field == "layers[1].Unit.expansoin"


def test_block_named_like_a_layer_type_is_refused():
    err = spec_error("input: [1, 3, 8, 8]\nblocks:\n  ReLU:\n    layers: [Identity]\nlayers: [ReLU]\n")
    assert err.message == "block 'ReLU' has the name of a built-in layer type"
    assert (err.line, err.field) == (3, "blocks.ReLU")


def test_block_that_uses_itself_is_refused():
    err = spec_error("input: [1, 3, 8, 8]\nblocks:\n  Loop:\n    layers: [Loop]\nlayers: [Loop]\n")
    assert "blocks nested deeper than 32 (a block using itself?)" in err.message


def test_block_errors_name_the_instance():
    text = BLOCK.replace("kernel_size: 1}\nlayers", "kernel_size: 1, groups: 3}\nlayers")
    err = spec_error(text)
    assert err.message == "Conv2d: out_channels=8 must be divisible by groups=3"
    assert (err.line, err.field) == (line_of(text, "Conv2d: {out_channels: planes")[0], "blocks.Unit.layers[1].Conv2d")
    assert err.note == f"in Unit 'a' used at line {line_of(text, 'Unit: {planes: 8}')[0]}"


# ---------------------------------------------------------------- repeat and i
def test_repeat_names_instances_and_binds_i():
    net = build("""
input: [1, 4, 8, 8]
vars: {n: 3}
layers:
  - Conv2d: {out_channels: 4 * (i + 1), kernel_size: 1}
    name: conv
    repeat: n
""")
    assert [(n.name, n.layer.out_channels) for n in net.nodes] == [("conv.0", 4), ("conv.1", 8), ("conv.2", 12)]
    assert [n.inputs for n in net.nodes] == [("input",), ("conv.0",), ("conv.1",)]


def test_repeat_zero_is_the_identity():
    net = build("input: [1, 4, 8, 8]\nlayers:\n  - ReLU\n  - Conv2d: {out_channels: 4, kernel_size: 1}\n"
                "    name: skipped\n    repeat: 0\n  - Identity:\n    inputs: skipped\n")
    assert [(n.name, n.inputs) for n in net.nodes] == [("relu_1", ("input",)), ("identity_1", ("relu_1",))]


def test_outer_repeat_index_reaches_into_blocks():
    net = build("""
input: [1, 4, 8, 8]
blocks:
  B:
    layers:
      - Conv2d: {out_channels: 2 ** i, kernel_size: 1}
layers:
  - B
    repeat: 3
""".replace("  - B\n", "  - B:\n"))
    assert [n.layer.out_channels for n in net.nodes] == [1, 2, 4]


def test_repeat_name_templates_follow_torchs_module_names():
    net = build("""
input: [1, 4, 8, 8]
vars: {first: 1}
blocks:
  Unit:
    layers:
      - {Conv2d: {out_channels: 4, kernel_size: 1}, name: conv}
layers:
  - {Unit, name: "denselayer{i + first}", repeat: 3}
  - {ReLU, name: "act{i}", repeat: 2}
  - {Identity, inputs: ["denselayer{i + first}"]}
""")
    # torch's "denselayer%d" % (i + 1): 1-based, no ".0" suffix; the entry is read by the name as written
    assert [n.name for n in net.nodes] == ["denselayer1.conv", "denselayer2.conv", "denselayer3.conv",
                                           "act0", "act1", "identity_1"]
    assert net.nodes[-1].inputs == ("denselayer3.conv",)


@pytest.mark.parametrize("name, message", [
    ("x{i", "layer name 'x{i' must be a non-empty string without spaces, '/', ':' or unbalanced braces"),
    ("x{i / 2}", "'{i / 2}' in layer name 'x{i / 2}' must give an int or a name, got 0.5"),  # i = 1
    ("x{0}", "layer name 'x0' is used twice"),
    ("x{nope}", "unknown name 'nope' in 'nope'"),
])
def test_bad_name_template(name, message):
    err = spec_error(f"input: [1, 4]\nlayers:\n  - ReLU:\n    name: \"{name}\"\n    repeat: 2\n")
    assert err.message.startswith(message), err.message
    assert (err.line, err.field) == (4, "layers[0].name")


@pytest.mark.parametrize("value, message", [
    ("-1", "'repeat' must be an integer >= 0, got -1"),
    ("true", "'repeat' must be an integer >= 0, got True"),
    ("2.5", "'repeat' must be an integer >= 0, got 2.5"),
    ("tree", "unknown name 'tree' in 'tree'; did you mean 'three'?"),
])
def test_bad_repeat(value, message):
    text = f"input: [1, 4]\nvars: {{three: 3}}\nlayers:\n  - ReLU:\n    repeat: {value}\n"
    err = spec_error(text)
    assert err.message == message
    assert (err.line, err.field) == (5, "layers[0].repeat")


# ---------------------------------------------------------------- when
def test_when_false_is_the_identity_and_its_name_refers_to_its_input():
    net = build("""
input: [1, 4, 8, 8]
vars: {use_norm: false}
layers:
  - Conv2d: {out_channels: 4, kernel_size: 3, padding: 1}
    name: conv
  - BatchNorm2d:
    name: norm
    when: use_norm
  - Add:
    inputs: [norm, input]
""")
    assert [(n.name, n.inputs) for n in net.nodes] == [("conv", ("input",)), ("add_1", ("conv", "input"))]


def test_when_with_repeat_is_evaluated_per_instance():
    net = build("input: [1, 4]\nlayers:\n  - ReLU:\n    name: r\n    repeat: 4\n    when: i % 2 == 0\n")
    assert [n.name for n in net.nodes] == ["r.0", "r.2"]


def test_when_false_on_a_merge_passes_on_the_main_path():
    net = build("""
input: [1, 4, 8, 8]
layers:
  - Conv2d: {out_channels: 4, kernel_size: 3, padding: 1}
    name: conv
  - Add:
    inputs: [input, conv]
    when: false
  - ReLU
""")
    assert net.nodes[-1].inputs == ("conv",)


@pytest.mark.parametrize("value, message", [
    ("1", "'when' must be true or false (or an expression giving one), got 1"),
    ("'yes please'", "cannot read 'yes please' as a number or an expression (invalid syntax)"),
    ("use_nrom", "unknown name 'use_nrom' in 'use_nrom'; did you mean 'use_norm'?"),
])
def test_bad_when(value, message):
    text = f"input: [1, 4]\nvars: {{use_norm: true}}\nlayers:\n  - ReLU:\n    when: {value}\n"
    err = spec_error(text)
    assert err.message == message
    assert (err.line, err.field) == (5, "layers[0].when")


# ---------------------------------------------------------------- named inputs
GRAPH = """
input: [1, 4, 8, 8]
layers:
  - Conv2d: {out_channels: 4, kernel_size: 1}
    name: left
  - Conv2d: {out_channels: 4, kernel_size: 3, padding: 1}
    name: right
    inputs: input
  - Concat: {dim: 1}
    inputs: [left, right]
"""


def test_inputs_by_name():
    net = build(GRAPH)
    assert [(n.name, n.inputs) for n in net.nodes] == [
        ("left", ("input",)), ("right", ("input",)), ("concat_1", ("left", "right"))]
    assert cs.analyze(net).output_shape == (1, 8, 8, 8)


def test_forward_reference_is_refused_as_a_cycle():
    text = GRAPH.replace("    inputs: input\n", "    inputs: concat\n").replace("  - Concat: {dim: 1}\n",
                                                                         "  - Concat: {dim: 1}\n    name: concat\n")
    err = spec_error(text)
    assert err.message == ("'right' takes input from 'concat', which comes at or after it: "
                           "layers may only read earlier layers, so cycles are impossible")
    assert (err.line, err.column) == line_of(text, "inputs: concat")
    assert err.field == "layers[1].inputs"


def test_a_layer_reading_itself_is_a_cycle():
    err = spec_error("input: [1, 4]\nlayers:\n  - ReLU:\n    name: r\n    inputs: r\n")
    assert "'r' takes input from 'r', which comes at or after it" in err.message


def test_unknown_input_suggests_or_lists_names():
    err = spec_error(GRAPH.replace("[left, right]", "[left, rihgt]"))
    assert err.message == "unknown layer 'rihgt' in inputs; did you mean 'right'?"
    assert err.field == "layers[2].inputs[1]"
    err = spec_error(GRAPH.replace("[left, right]", "[left, middle]"))
    assert err.message == "unknown layer 'middle' in inputs; names usable here: input, left, right"


def test_automatic_names_do_not_clash_with_written_ones():
    net = build("input: [1, 4]\nlayers:\n  - ReLU\n  - ReLU:\n    name: relu_2\n  - ReLU\n")
    assert [n.name for n in net.nodes] == ["relu_1", "relu_2", "relu_3"]


def test_duplicate_layer_names_are_refused():
    err = spec_error("input: [1, 4]\nlayers:\n  - ReLU:\n    name: r\n  - ReLU:\n    name: r\n")
    assert err.message == "duplicate layer name 'r'"
    assert (err.line, err.field) == (6, "layers[1].name")


# ---------------------------------------------------------------- expressions
def test_expressions_in_arguments():
    net = build("""
input: [1, 32, 8, 8]
vars: {width: 1.5, base: 32, deep: true}
layers:
  - Conv2d: {out_channels: make_divisible(base * width), kernel_size: "3 if deep else 1", padding: (3 - 1) // 2}
  - Conv2d: {out_channels: "max(8, base // 8)", kernel_size: "min(3, 5)", stride: 2 ** 1}
  - Conv2d: {out_channels: round(base * 0.75), kernel_size: 1, bias: base >= 32 and not deep}
  - Dropout: {p: 1 / 4}
  - LeakyReLU: {negative_slope: 1e-2}
""")
    convs = [n.layer for n in net.nodes]
    assert (convs[0].out_channels, convs[0].kernel_size, convs[0].padding) == (48, 3, 1)  # make_divisible(48.0) = 48
    assert (convs[1].out_channels, convs[1].kernel_size, convs[1].stride) == (8, 3, 2)   # max(8, 4); min(3, 5); 2
    assert (convs[2].out_channels, convs[2].bias) == (24, False)                           # round(24.0); False
    assert convs[3].p == 0.25 and convs[4].negative_slope == 0.01


def test_make_divisible_is_torchvisions():
    # torchvision _make_divisible: round to the nearest multiple of 8, never more than 10% down
    net = build("input: [1, 3, 8, 8]\nlayers:\n"
                + "".join(f"  - Conv2d: {{out_channels: make_divisible({v}), kernel_size: 1}}\n"
                          for v in (32 * 0.75, 16 * 0.35, 96 * 1.4, 3)))
    assert [n.layer.out_channels for n in net.nodes] == [24, 8, 136, 8]  # 24; 5.6 -> 8; 134.4 -> 136; 3 -> 8


def test_words_stay_strings():
    net = build("input: [1, 3, 8, 8]\nlayers:\n"
                "  - Conv2d: {out_channels: 4, kernel_size: 3, padding: same, padding_mode: reflect}\n")
    assert (net.nodes[0].layer.padding, net.nodes[0].layer.padding_mode) == ("same", "reflect")


@pytest.mark.parametrize("expr, message", [
    ("planes * 4", "unknown name 'planes' in 'planes * 4'; did you mean 'plane'?"),
    ("plane.real", "attribute access (a.b) cannot be used in expressions (in 'plane.real')"),
    ("open('x')", "function 'open' is not allowed in \"open('x')\""),
    ("__import__('os').system('ls')", "function '__import__('os').system' is not allowed"),
    ("(lambda: 4)()", "function 'lambda: 4' is not allowed"),
    ("sum([x for x in (1, 2)])", "function 'sum' is not allowed"),
    ("max([x for x in (1, 2)])", "comprehensions cannot be used in expressions"),
    ("2 ** 1000", "power too large in '2 ** 1000'"),
    ("10 ** 10 ** 10", "power too large in '10 ** 10 ** 10'"),
    ("plane // 0", "division by zero in 'plane // 0'"),
    ("'4' * plane", "arithmetic on a non-number '4'"),
    ("3x3", "cannot read '3x3' as a number or an expression (invalid decimal literal); for a 3x3 size write [3, 3]"),
])
def test_expression_errors(expr, message):
    text = f'input: [1, 3, 8, 8]\nvars: {{plane: 4}}\nlayers:\n  - Conv2d: {{out_channels: "{expr}", kernel_size: 1}}\n'
    err = spec_error(text)
    assert message in err.message
    assert (err.line, err.field) == (4, "layers[0].Conv2d.out_channels")
    assert (err.line, err.column) == line_of(text, "out_channels")  # errors point at the field's key


def test_bare_word_close_to_a_variable_is_suggested():
    err = spec_error("input: [1, 3, 8, 8]\nvars: {planes: 4}\nlayers:\n  - Conv2d: {out_channels: plane, kernel_size: 1}\n")
    assert err.message == ("Conv2d: out_channels must be an integer > 0, got 'plane'; did you mean 'planes'?")


def test_comma_in_an_unquoted_flow_expression_gets_a_hint():
    err = spec_error("input: [1, 3, 8, 8]\nlayers:\n  - Conv2d: {out_channels: max(4, 8), kernel_size: 1}\n")
    assert "a comma ends the value, so quote an expression that has one" in err.message
