"""Reading spec documents: positions in every format, and the bounds that keep bad input cheap."""
import time

import pytest

from convshape.errors import SpecError
from convshape.spec.source import MAX_DEPTH, parse_text

TOML = '''# comment [with brackets]
name = "net [x] {y}"   # trailing comment
input = [1, 3,
  224,   # a comment ]
  224]
"quoted.key" = 1
multi = """a ] }
b"""

[vars]
a.b.c = 'lit'

[blocks.Bottleneck]
args = { planes = "~", nested = { deep = [1, {x = 2}] } }

[[layers]]
Conv2d = { out_channels = 64, kernel_size = [7, 7] }

[[layers]]
[layers.BatchNorm2d]
eps = 1e-5

[[layers]]
when = "i == 0"
date = 1979-05-27 07:32:00Z
ReLU = {}
'''


def where(text, needle):
    at = text.index(needle)
    return text.count("\n", 0, at) + 1, at - (text.rfind("\n", 0, at) + 1) + 1


@pytest.mark.parametrize("path, needle", [
    (("name",), "name ="),
    (("input", 2), "224,"),
    (("input", 3), "224]"),
    (("quoted.key",), '"quoted.key"'),
    (("vars", "a", "b", "c"), "c = 'lit'"),
    (("blocks", "Bottleneck", "args", "planes"), "planes ="),
    (("blocks", "Bottleneck", "args", "nested", "deep", 1, "x"), "x = 2"),
    (("layers", 0), "[[layers]]"),
    (("layers", 0, "Conv2d", "kernel_size", 1), "7] }"),
    (("layers", 1, "BatchNorm2d", "eps"), "eps"),
    (("layers", 2, "ReLU"), "ReLU"),   # after a date value with a space in it
])
def test_toml_positions(path, needle):
    _, smap = parse_text(TOML, "x.toml")
    assert smap.where(path) == where(TOML, needle)


def test_toml_array_tables_count_their_elements():
    _, smap = parse_text(TOML, "x.toml")
    assert [smap.where(("layers", i))[0] for i in range(3)] == [16, 19, 23]


def test_json_positions_come_from_the_yaml_reader():
    text = '{"input": [1, 3, 8, 8],\n\t"layers": [\n\t\t{"Conv2d": {"out_channels": 4}}]}'
    data, smap = parse_text(text, "x.json")
    assert data["layers"][0]["Conv2d"]["out_channels"] == 4
    assert smap.where(("layers", 0, "Conv2d", "out_channels")) == where(text, '"out_channels"')


def test_yaml_timestamps_stay_text_and_merge_keys_work():
    data, _ = parse_text("base: &b {kernel_size: 3}\nconv: {<<: *b, out_channels: 4}\nwhen: 2024-01-01\n", "x.yaml")
    assert data["conv"] == {"kernel_size": 3, "out_channels": 4}
    assert data["when"] == "2024-01-01"


def test_alias_expansion_is_measured_before_it_happens():
    levels = "a: &a [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"{n}: &{n} [{', '.join(['*' + p] * 10)}]\n" for p, n in zip("abcdefgh", "bcdefghi"))
    start = time.process_time()
    with pytest.raises(SpecError) as e:
        parse_text(levels, "x.yaml")  # 10**9 values once expanded
    assert time.process_time() - start < 1
    assert "document expands to more than 2000000 values (YAML aliases?)" in str(e.value)


def test_aliases_cannot_nest_past_the_depth_limit():
    deep = "[" * 40 + "1" + "]" * 40
    with pytest.raises(SpecError) as e:
        parse_text(f"a: &a {deep}\nb: &b {deep.replace('1', '*a')}\n", "x.yaml")  # 80 levels once expanded
    assert f"nested deeper than {MAX_DEPTH} levels once YAML aliases are expanded" in e.value.message


@pytest.mark.parametrize("fmt, text", [
    ("yaml", "a: " + "[" * (MAX_DEPTH + 1) + "]" * (MAX_DEPTH + 1)),
    ("json", '{"a": ' + "[" * (MAX_DEPTH + 1) + "]" * (MAX_DEPTH + 1) + "}"),
    ("toml", "a = " + "[" * (MAX_DEPTH + 1) + "]" * (MAX_DEPTH + 1)),
])
def test_depth_limit_is_the_same_in_every_format(fmt, text):
    with pytest.raises(SpecError) as e:
        parse_text(text, f"x.{fmt}")
    assert e.value.message == f"document nested deeper than {MAX_DEPTH} levels"
    assert e.value.line == 1
    ok = text.replace("[", "", 2).replace("]", "", 2)  # MAX_DEPTH - 1 levels: fine
    parse_text(ok, f"x.{fmt}")


@pytest.mark.parametrize("fmt, text", [
    ("yaml", "p: .inf\n"), ("json", '{"p": -Infinity}'), ("json", '{"p": 1e999}'), ("toml", "p = nan\n"),
])
def test_non_finite_numbers_are_refused(fmt, text):
    with pytest.raises(SpecError) as e:
        parse_text(text, f"x.{fmt}")
    assert "is not finite" in e.value.message and e.value.field == "p" and e.value.line == 1


# ---- the depth bound is convshape's whatever parser is installed (libyaml 0.2.5, bundled with PyYAML
# 6.0.4, stops at 1,000 flow levels with its own words while scanning ahead; the pure-Python reader
# has no limit)
@pytest.fixture(params=["libyaml", "python"])
def yaml_reader(request, monkeypatch):
    import yaml

    from convshape.spec import source
    if request.param == "libyaml" and not hasattr(yaml, "CSafeLoader"):
        pytest.skip("PyYAML built without libyaml")
    monkeypatch.setattr(source, "_Loader", yaml.CSafeLoader if request.param == "libyaml" else yaml.SafeLoader)
    return request.param


DEEP_CASES = {
    # a: + 100,000 '[': the mapping is level 1, so the 64th bracket (column 3 + 64 = 67) is level 65
    "flow sequences": ("a: " + "[" * 100_000 + "\n", 1, 67),
    # 10 block mappings (levels 1..10, line i+1 holds key k{i}), then 55 brackets on line 10 reach level 65:
    # line 10 is "         k9: " (9 spaces + 4 chars = 13) + '[' * 100_000, the 55th at column 13 + 55 = 68
    "block then flow": ("".join(" " * i + f"k{i}:\n" for i in range(9)) + " " * 9 + "k9: " + "[" * 100_000 + "\n",
                        10, 68),
    # flow mappings resolve their keys at once: '{b: ' is 4 characters, level 1 + 64 -> column 3 + 4*63 + 1 = 256
    "flow mappings": ("a: " + "{b: " * 2000 + "1" + "}" * 2000 + "\n", 1, 256),
    # block sequences: line 2 is 2 spaces + '- ' * 2000; level 1 is the mapping, the 64th '-' is level 65:
    # column 3 + 2*63 = 129
    "compact block sequences": ("a:\n  " + "- " * 2000 + "x\n", 2, 129),
}


@pytest.mark.parametrize("case", list(DEEP_CASES))
def test_depth_message_and_position_do_not_depend_on_the_yaml_reader(yaml_reader, case):
    text, line, column = DEEP_CASES[case]
    with pytest.raises(SpecError) as e:
        parse_text(text, "deep.yaml")
    assert (e.value.message, e.value.line, e.value.column) == (f"document nested deeper than {MAX_DEPTH} levels",
                                                              line, column)


def test_json_depth_is_reported_as_json_whatever_the_parser():
    with pytest.raises(SpecError) as e:
        parse_text("[" * 100_000, "deep.json")
    # the 65th bracket is level 65: column 65
    assert str(e.value) == "deep.json:1:65: document nested deeper than 64 levels"
    with pytest.raises(SpecError) as e:
        parse_text('{"a": ' + "[" * 2000, "deep.json")
    # 6 characters, then the 64th bracket is level 65 (the object is level 1): column 6 + 64 = 70
    assert (e.value.line, e.value.column) == (1, 70) and "YAML" not in str(e.value)


@pytest.mark.parametrize("fmt, text", [
    # brackets inside quoted strings, comments and block plain scalars open nothing
    ("yaml", 'name: "' + "[" * 200 + '"\ndescription: \'it\'\'s ' + "{" * 200 + "'\n# " + "[" * 200
     + "\nnote: x" + "[" * 200 + "\ninput: [1, 3, 8, 8]\nlayers: [ReLU]\n"),
    ("yaml", "a: [it's, '" + "[" * 100 + "', \"]\\\"" + "{" * 100 + "\"]\n"),  # quotes inside flow scalars
    ("json", '{"name": "' + "[" * 200 + '\\"' + "{" * 200 + '", "input": [1, 3, 8, 8], "layers": ["ReLU"]}'),
])
def test_brackets_in_text_are_not_nesting(yaml_reader, fmt, text):
    data, _ = parse_text(text, f"x.{fmt}")
    assert data  # parsed, not refused as too deep
