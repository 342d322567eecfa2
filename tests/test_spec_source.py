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
