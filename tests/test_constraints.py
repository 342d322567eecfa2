"""`convshape constraints`: which input sizes a network accepts, why, and how it was decided."""
import json
import random
from pathlib import Path

import pytest
import sympy as sp
from click.testing import CliRunner

import convshape as cs
from convshape.cli import main
from convshape.constraints import derive, parse_ranges, size_violations
from convshape.constraints.compile import compile_conditions, compile_values
from convshape.constraints.explain import compress_names, show
from convshape.constraints.quasilinear import quasi_linear, truth_pattern
from convshape.constraints.simplify import recognize
from convshape.errors import SpecError
from convshape.layers import REGISTRY

SPECS = Path(__file__).parent / "specs"
UNET = str(SPECS / "unet4.yaml")
FIXTURES = SPECS / "constraints"


def fixture(name):
    if "Upsample" not in REGISTRY and name in ("fpn", "down_up_add"):
        pytest.skip("Upsample is not registered in this checkout")
    return cs.load(str(FIXTURES / f"{name}.yaml"))


# ---------------------------------------------------------------- acceptance: U-Net, ResNet-50, down-up-add
def test_unet_multiple_of_16_proved_with_the_layers_named():
    c = derive(cs.load(UNET))
    for s in ("H", "W"):
        d = c.dim(s)
        assert d.statement == f"{s} must be a multiple of 16 and at least 16"
        assert (d.modulus, d.residues, d.periodic_from, d.exceptions) == (16, (0,), 16, [])
        assert d.proved and d.method == "closed form"
        assert d.valid == list(range(16, 1025, 16))  # 1024 / 16 = 64 sizes
        [reason] = d.reasons
        assert reason.text == ("four 2× poolings (pool1..pool4) must be undone exactly by the 2× "
                               "up-convolutions (up1..up4) before the concats cat1..cat4")
        assert reason.layers == ["pool1", "pool2", "pool3", "pool4", "up1", "up2", "up3", "up4",
                                 "cat1", "cat2", "cat3", "cat4"]
    assert c.is_valid({"H": 96, "W": 96}) is True       # 96 = 6 * 16
    assert c.is_valid({"H": 100, "W": 96}) is False
    assert c.is_valid({"H": 16 * 10**6, "W": 16}) is True  # proved: holds beyond the searched sizes


def test_unet_100_fails_with_the_explanation_and_nearest_sizes():
    [v] = size_violations(cs.load(UNET), (1, 3, 100, 96))
    assert (v.symbol, v.value, v.below, v.above) == ("H", 100, 96, 112)
    assert v.text() == ("H=100 is not valid: use 96 or 112 (H must be a multiple of 16 and at least 16: "
                        "four 2× poolings (pool1..pool4) must be undone exactly by the 2× up-convolutions "
                        "(up1..up4) before the concats cat1..cat4)")
    assert size_violations(cs.load(UNET), (1, 3, 96, 96)) == []


def test_zoo_unet_when_bundled():
    if "unet" not in cs.zoo_names():
        pytest.skip("zoo:unet is not bundled yet")
    c = derive(cs.load("zoo:unet"))
    for s in ("H", "W"):
        assert c.dim(s).statement == f"{s} must be a multiple of 16 and at least 16"
        assert c.dim(s).proved
    assert c.is_valid({"H": 96, "W": 96}) and not c.is_valid({"H": 100, "W": 100})


def test_resnet50_any_size_works_down_to_1():
    # every 3x3 conv has padding 1 and the stem pool padding 1: floor((H - 1)/2) + 1 >= 1 for H >= 1,
    # so (in eval mode: BatchNorm uses running statistics) even a 1x1 input reaches the classifier
    c = derive(cs.load("zoo:resnet50"))
    for s in ("H", "W"):
        d = c.dim(s)
        assert d.statement == f"any {s} works"
        assert (d.minimum, d.modulus, d.exceptions) == (1, 1, [])
        assert d.proved
    assert c.joint == []
    assert c.output_shape == (1, 1000)
    # training mode (batch statistics) needs layer4's map, ceil(H/32) squared, above 1 at batch 1
    assert c.notes[-1].endswith("the smallest such size is 33")


@pytest.mark.parametrize("name, statement", [
    # 2*ceil(H/2) == H; at H = 1 the 1-wide input broadcasts against the 2-wide up-sampled map
    ("down_up_add", "H must be even and at least 2, or 1"),
    ("down_upconv_add", "H must be even and at least 2, or 1"),   # ConvTranspose k3 s2 p1 op1: 2*ceil(H/2)
    ("odd_upconv_add", "H must be odd, or 2"),                     # ... without output_padding: 2*ceil(H/2) - 1
])
def test_stride2_then_x2_upsample_then_add(name, statement):
    d = derive(fixture(name)).dim("H")
    assert d.statement == statement
    assert d.proved
    up = "up-sampling" if name == "down_up_add" else "up-convolution"
    assert d.reasons[0].text == f"a stride-2 convolution (down) must be undone exactly by the 2× {up} (up) " \
                                "before the addition add"


def test_fpn_top_down_path():
    # c2..c4 are ceil(H/2), ceil(H/4), ceil(H/8); p3 needs 2*ceil(H/8) == ceil(H/4) and p2 needs
    # 2*ceil(H/4) == ceil(H/2): H mod 8 in {0, 7}. At H = 1, 2 every lateral is 1 wide and broadcasts.
    d = derive(fixture("fpn")).dim("H")
    assert (d.modulus, d.residues, d.periodic_from, d.exceptions) == (8, (0, 7), 7, [1, 2])
    assert d.statement == "H must be 8k or 8k + 7 for a whole k, and at least 7, or one of 1..2"
    assert "two stride-2 convolutions (c3, c4) must be undone exactly by the 2× up-samplings (up4, up3)" \
        in d.reasons[0].text
    assert "broadcasts" in d.reasons[1].text


def test_ceil_mode_pools_and_dilated_strided_conv():
    # conv k3 d2 s2: span 5, floor((H - 5)/2) + 1; pool1/pool2 ceil mode k3 s2; pool3 k2 s3 p1 ceil mode
    d = derive(fixture("ceil_pools")).dim("H")
    assert d.statement == "H must be at least 11"
    assert d.proved
    assert d.reasons[0].text.startswith("for H = 10, pool2 would get an input smaller than its window")


def test_merge_that_only_broadcasting_can_satisfy():
    # conv (k3, no padding) gives H - 2; added to the input it only works where H - 2 == 1 (broadcast)
    d = derive(fixture("valid_mismatch")).dim("H")
    assert d.valid == [3] and d.statement == "H must be 3" and d.proved


def test_joint_rule_from_a_written_in_features():
    # LeNet: fc in_features=2450 = 50 * floor(H/4) * floor(W/4) -> floor(H/4) * floor(W/4) == 49
    c = derive(cs.load("zoo:lenet5"))
    assert c.dim("H").statement == "H must be at least 4"
    [j] = c.joint
    assert j.symbols == ("H", "W")
    assert j.statement == "H and W together must satisfy 50*floor(H/4)*floor(W/4) = 2450"
    assert sorted(j.blocks, key=lambda b: b["H"]) == [
        {"H": [[4, 7]], "W": [[196, 199]]},    # 1 * 49
        {"H": [[28, 31]], "W": [[28, 31]]},    # 7 * 7
        {"H": [[196, 199]], "W": [[4, 7]]},    # 49 * 1
    ]
    [v] = size_violations(cs.load("zoo:lenet5"), (1, 1, 32, 32))
    assert v.symbol is None and v.below == "H=31, W=31"


def test_one_symbol_for_both_dims_is_enumerated_and_says_so():
    # 50*floor(S/4)**2 is not quasi-linear: no proof, the range is enumerated exactly
    c = derive(cs.load("zoo:lenet5"), ("N", 1, "S", "S"), {"S": (1, 300), "N": (1, 4)})
    d = c.dim("S")
    assert [x.symbol for x in c.dims] == ["N", "S"]
    assert d.valid == [28, 29, 30, 31] and d.statement == "S must be between 28 and 31"
    assert not d.proved and d.method == "enumeration"
    assert c.dim("N").statement == "any N works"


def test_no_size_works_is_reported_not_raised():
    c = derive(fixture("impossible"))
    assert not c.valid_somewhere
    assert [d.statement for d in c.dims] == ["no size of H works", "no size of W works"]
    assert c.dims[0].reasons[0].layers == ["cat"]
    r = run("constraints", str(FIXTURES / "impossible.yaml"))
    assert r.exit_code == 1 and "no size of H works" in r.output


# ---------------------------------------------------------------- building blocks
def _random_expr(rng, x, depth):
    if depth == 0 or rng.random() < 0.2:
        return rng.choice([x, x, sp.Integer(rng.randint(-3, 5))])
    a = _random_expr(rng, x, depth - 1)
    b = _random_expr(rng, x, depth - 1)
    pick = rng.randrange(8)
    if pick == 0:
        return a + b
    if pick == 1:
        return sp.Rational(rng.randint(1, 5), rng.randint(1, 4)) * a + rng.randint(-2, 2)
    if pick == 2:
        return sp.floor(a / rng.randint(1, 4) + sp.Rational(rng.randint(-3, 3), rng.randint(1, 3)))
    if pick == 3:
        return sp.ceiling(a / rng.randint(1, 4))
    if pick == 4:
        return sp.Mod(a, rng.randint(1, 5))
    if pick == 5:
        return sp.Max(a, b) if rng.random() < 0.5 else sp.Min(a, b)
    if pick == 6:
        return sp.Piecewise((a, sp.Ge(a, b)), (b - 1, True))
    return a * rng.randint(-2, 3)


def test_compiled_evaluator_matches_sympy_exactly():
    rng = random.Random(6)
    x = sp.Symbol("H", integer=True, positive=True)
    for _ in range(150):
        e = _random_expr(rng, x, 4)
        conds = [sp.Ge(e, 3), sp.Eq(e, 2 * x), sp.Or(sp.Eq(e, 1), sp.Lt(e, x))]
        conds = [c for c in conds if c not in (sp.true, sp.false)]
        values = compile_values([e], [x])
        truths = compile_conditions(conds, [x])
        for h in (1, 2, 3, 7, 16, 33):
            want = e.subs(x, h)
            assert values(h)[0] == want, (e, h)
            assert truths(h) == tuple(bool(c.subs(x, h)) for c in conds), (e, h)


def test_quasi_linear_slopes_and_periods():
    H = sp.Symbol("H", integer=True, positive=True)
    q = quasi_linear(sp.floor(sp.floor(H / 2) / 2), H)   # floor(H/4): slope 1/4, period 4
    assert (q.slope, q.period) == (sp.Rational(1, 4), 4)
    q = quasi_linear(16 * sp.floor(sp.floor(sp.floor(sp.floor(H / 2) / 2) / 2) / 2), H)
    assert (q.slope, q.period) == (1, 16)
    assert quasi_linear(sp.floor(H / 2) * sp.floor(H / 3), H) is None      # a product of sizes
    assert quasi_linear(sp.Max(H, 2 * H - 5), H) is None                   # the winner changes once
    # floor(H/8) >= 2 settles (true) from H = 16 on; the search bound must not be below that
    p = truth_pattern(sp.Ge(sp.floor(H / 8), 2), H)
    assert p.period == 1 and p.start >= 16
    # H == 16*floor(H/16) is periodic everywhere
    p = truth_pattern(sp.Eq(H, 16 * sp.floor(H / 16)), H)
    assert (p.start, p.period) == (1, 16)


@pytest.mark.parametrize("valid, first, want", [
    ([x % 16 == 0 for x in range(1, 200)], 1, (16, (0,), 16, [])),
    ([x >= 11 for x in range(1, 100)], 1, (1, (0,), 11, [])),
    ([x in (1, 2) or (x >= 7 and x % 8 in (0, 7)) for x in range(1, 300)], 1, (8, (0, 7), 7, [1, 2])),
    ([28 <= x <= 31 for x in range(1, 100)], 1, (1, (), None, [28, 29, 30, 31])),
])
def test_recognize(valid, first, want):
    r = recognize(valid, first)
    assert (r.modulus, r.residues, r.start, r.exceptions) == want


def test_recognize_with_a_proved_period_uses_its_divisors_only():
    valid = [x % 4 == 0 for x in range(1, 40)]
    r = recognize(valid, 1, period_hint=16, settled_from=1)
    assert (r.modulus, r.residues) == (4, (0,))


def test_compress_names_and_show():
    assert compress_names(["pool1", "pool2", "pool3", "pool4"]) == "pool1..pool4"
    assert compress_names(["up4", "up3"]) == "up4, up3"
    assert compress_names(["enc1.pool", "enc2.pool", "enc3.pool", "x"]) == "enc1.pool..enc3.pool, x"
    H = sp.Symbol("H", integer=True, positive=True)
    assert show(sp.Eq(H, 16 * sp.floor(sp.floor(H / 2) / 2))) == "H = 16*floor(H/4)"


def test_parse_ranges():
    assert parse_ranges(["H=2:64", "1:8"], ["H", "W"]) == {"H": (1, 8), "W": (1, 8)}
    assert parse_ranges(["W=3:9"], ["H", "W"]) == {"W": (3, 9)}
    for bad in ("H=0:4", "H=5:4", "H=a:b", "Q=1:4", "H=4"):
        with pytest.raises(SpecError):
            parse_ranges([bad], ["H", "W"])


# ---------------------------------------------------------------- command line
def run(*args):
    return CliRunner().invoke(main, list(args))


def test_cli_constraints_text_and_exit_codes():
    r = run("constraints", UNET)
    assert r.exit_code == 0, r.output
    assert "H: H must be a multiple of 16 and at least 16" in r.output
    assert "because four 2× poolings (pool1..pool4)" in r.output
    assert "proved for every size" in r.output
    assert "input [1, 3, 256, 256]: valid" in r.output
    r = run("constraints", UNET, "--input", "1,3,100,96")
    assert r.exit_code == 1
    assert "H=100 is not valid: use 96 or 112" in r.output
    r = run("constraints", UNET, "--range", "H=1:15")
    assert r.exit_code == 1                    # no H in 1..15 works
    r = run("constraints", UNET, "--range", "Q=1:15")
    assert r.exit_code == 2 and "not a free input dim" in r.output


def test_cli_constraints_json():
    fixture("down_up_add")
    r = run("constraints", str(FIXTURES / "down_up_add.yaml"), "--format", "json", "--range", "1:64")
    assert r.exit_code == 0
    d = json.loads(r.output)
    h = d["dims"][0]
    # even sizes, and 1 (broadcast): 32 + 1 of 1..64
    assert (h["symbol"], h["modulus"], h["residues"], h["minimum"], h["proved"]) == ("H", 2, [0], 1, True)
    assert h["exceptions"] == [1] and h["periodic_from"] == 2
    assert h["valid_count"] == 33 and h["range_size"] == 64
    assert h["reasons"][0]["layers"] == ["down", "up", "add"]
    assert d["given_input_valid"] is True and d["valid_somewhere_in_range"] is True
    [cond] = [c for c in d["conditions"] if c["layer"] == "add" and "H" in c["condition"]]
    assert "Eq(" in cond["condition"] or "=" in cond["condition"]


def test_summary_names_the_broken_rule_and_the_nearest_sizes():
    r = run("summary", UNET, "--input", "1,3,100,100")
    assert r.exit_code == 1
    assert r.stdout == "" and r.stderr.count("\n") == 1   # still one line on stderr
    # lint's CS101 sentence (lint/explain.py), then one hint for H and W, broken for the same reason
    assert r.stderr.startswith("error: ") and "CS101 Concat 'cat2'" in r.stderr
    assert " H=100, W=100 are not valid: use 96 or 112 (H and W must each be a multiple of 16 and at least 16: " \
        "four 2× poolings" in r.stderr
    assert run("summary", UNET, "--input", "1,3,96,96").exit_code == 0


def test_summary_error_without_a_size_rule_has_no_hint():
    # a channel mismatch is not about sizes: the error stays as it was
    net = SPECS / "constraints" / "down_up_add.yaml"
    r = run("summary", str(net), "--input", "1,3,32,32")
    assert r.exit_code == 1 and "is not valid: use" not in r.stderr
