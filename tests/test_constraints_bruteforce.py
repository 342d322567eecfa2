"""Every claim `convshape constraints` proves is compared with concrete analysis at concrete sizes.

The truth is `analyze(network_used, concrete shape)` succeeding or raising ShapeError: the same
network the rules were derived for (arguments the declared input fixes are written in).
"""
import random
from pathlib import Path

import pytest
from click.testing import CliRunner

import convshape as cs
from convshape.cli import main
from convshape.constraints import derive
from convshape.constraints.derivation import with_declared_arguments
from convshape.errors import ShapeError

SPECS = Path(__file__).parent / "specs"
FIXTURES = SPECS / "constraints"


def works(network, shape) -> bool:
    try:
        cs.analyze(network, shape)
        return True
    except ShapeError:
        return False


def sample_sizes(rng, hi):
    # every small size, where rules bite, plus sizes past the enumerated range (proofs hold there too)
    return list(range(1, 72)) + rng.sample(range(72, hi), 12) + [1025, 1040, 1056, 1111, 2048]


NOT_DERIVED = {"permute_groupnorm"}  # nothing proved there: see the not-derived test below


@pytest.mark.parametrize("spec", sorted(p.stem for p in FIXTURES.glob("*.yaml") if p.stem not in NOT_DERIVED)
                         + ["unet4", "zoo:lenet5"])
def test_proved_rules_agree_with_brute_force(spec):
    if spec == "unet4":
        network = cs.load(str(SPECS / "unet4.yaml"))
    elif spec.startswith("zoo:"):
        network = cs.load(spec)
    else:
        network = cs.load(str(FIXTURES / f"{spec}.yaml"))
    c = derive(network)
    used = with_declared_arguments(network)
    rng = random.Random(spec)
    names = [d for d in c.input_shape if isinstance(d, str)]
    assert any(d.proved for d in c.dims)
    checked = 0
    for x in sample_sizes(rng, 1024):
        for values in ({n: x for n in names}, {n: (x if i == 0 else rng.randint(1, 300)) for i, n in enumerate(names)}):
            claim = c.is_valid(values)
            if claim is None:
                continue
            shape = tuple(values[d] if isinstance(d, str) else d for d in c.input_shape)
            assert works(used, shape) == claim, (spec, shape, [d.statement for d in c.dims])
            checked += 1
    assert checked >= 100


def test_forgotten_in_features_is_a_size_rule_not_no_size_works():
    # MaxPool 2 then a 17x17 kernel: floor(H/2) >= 17, so H >= 34; in_features = 8*(H/2-16)*(W/2-16)
    c = derive(cs.load(str(FIXTURES / "flatten_inferred.yaml")))
    for s in ("H", "W"):
        d = c.dim(s)
        assert d.statement == f"{s} must be at least 34" and d.proved
        assert d.valid == list(range(34, 1025))  # 1024 - 34 + 1 = 991 sizes
    assert any("linear_1: in_features depends on the input size" in n for n in c.notes)
    net = with_declared_arguments(cs.load(str(FIXTURES / "flatten_inferred.yaml")))
    assert works(net, (1, 3, 68, 68)) and works(net, (1, 3, 34, 35)) and not works(net, (1, 3, 33, 64))
    r = CliRunner().invoke(main, ["constraints", str(FIXTURES / "flatten_inferred.yaml")])
    assert "no size" not in r.output and "up to 0" not in r.output
    assert "H must be at least 34" in r.output and "in_features depends on the input size" in r.output
    assert r.exit_code == 1  # the declared 32x32 breaks the rule: H=32 is not valid: use 34
    assert "H=32 is not valid: use 34" in r.output


def test_symbolic_failure_that_concrete_sizes_pass_is_not_called_a_proof():
    # H becomes GroupNorm's channel dim: built at the declared H=16, num_channels=16
    network = cs.load(str(FIXTURES / "permute_groupnorm.yaml"))
    c = derive(network)
    assert works(network, (1, 3, 16, 16))
    assert all(not d.proved and d.method == "not derived" for d in c.dims)
    assert c.valid_somewhere
    r = CliRunner().invoke(main, ["constraints", str(FIXTURES / "permute_groupnorm.yaml")])
    assert "proved" not in r.output and "no size" not in r.output and r.exit_code == 0


def test_no_size_works_is_confirmed_by_brute_force_and_never_says_up_to_0():
    network = cs.load(str(FIXTURES / "impossible.yaml"))
    c = derive(network)
    assert all(d.proved and d.minimum is None for d in c.dims)
    assert not any(works(network, (1, 4, h, w)) for h in range(1, 40) for w in (h, 1, 64))
    r = CliRunner().invoke(main, ["constraints", str(FIXTURES / "impossible.yaml")])
    assert "up to 0" not in r.output and "whatever the size" in r.output


def test_forgotten_in_features_rule_agrees_with_torch_modules_built_per_size():
    torch = pytest.importorskip("torch")
    network = cs.load(str(FIXTURES / "flatten_inferred.yaml"))
    c = derive(network)
    for h, w in [(33, 34), (34, 33), (34, 34), (35, 40), (68, 68)]:
        shape = (1, 3, h, w)
        try:  # built at this size: in_features = 8*(h//2 - 16)*(w//2 - 16), as torch needs
            with torch.device("meta"):
                model = cs.to_torch(network, shape)
            with torch.inference_mode():
                model(torch.empty(shape, device="meta"))
            ok = True
        except Exception:  # noqa: BLE001 - torch refusing the size (kernel 17 > floor(h/2))
            ok = False
        assert ok == c.is_valid({"H": h, "W": w}) == (h >= 34 and w >= 34), shape
