"""Brute force against torch: the constraints predict exactly the sizes torch accepts, and the shape.

For every zoo network (and the constraint fixtures), at H = W = S, the network built with
`to_torch` runs on the meta device (shapes only, no arithmetic); torch accepts S exactly when
the constraints say S is valid, and then returns the output shape convshape predicts.

The CI test checks the sizes where the rules change (around each minimum, around the periodic
start, one full period of residues) and a few seeded random sizes. The full sweep S = 1..512 over
every network is `slow`: run it with CONVSHAPE_SLOW=1 (figures in docs/constraints.md).
"""
import functools
import os
import random
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

import convshape as cs  # noqa: E402
from convshape.constraints import derive  # noqa: E402
from convshape.constraints.compile import compile_values  # noqa: E402
from convshape.layers import REGISTRY  # noqa: E402

SPECS = Path(__file__).parent / "specs"
# impossible.yaml has no valid size, so no module can be built from it: see the test at the end
FIXTURES = sorted(str(p) for p in (SPECS / "constraints").glob("*.yaml") if p.stem != "impossible") \
    + [str(SPECS / "unet4.yaml")]
NETWORKS = [f"zoo:{n}" for n in cs.zoo_names()] + FIXTURES
TOP = 512


def _ids(spec):
    return spec.split(":", 1)[1] if spec.startswith("zoo:") else Path(spec).stem


@functools.lru_cache(maxsize=None)
def prepared(spec):
    """(constraints, meta-device module, predicted-output function): built once per network."""
    network = cs.load(spec)
    if any(n.layer.kind not in REGISTRY for n in network.nodes):
        pytest.skip("layer kind not registered")
    c = derive(network, ranges={"H": (1, TOP), "W": (1, TOP)})
    symbols = sorted({s for d in c.output_shape if not isinstance(d, int) for s in d.free_symbols},
                     key=lambda s: s.name)
    output = compile_values(list(c.output_shape), symbols)
    with torch.device("meta"):
        model = cs.to_torch(network)
    return c, model, (lambda size: tuple(int(v) for v in output(*[size] * len(symbols))))


def torch_result(model, shape):
    try:
        with torch.inference_mode():
            return True, tuple(model(torch.empty(shape, device="meta")).shape)
    except Exception as e:  # noqa: BLE001 - any refusal by torch counts as "not accepted"
        return False, f"{type(e).__name__}: {str(e)[:200]}"


def disagreements(spec, sizes):
    c, model, predicted = prepared(spec)
    out = []
    for s in sizes:
        values = {d: s for d in c.input_shape if isinstance(d, str)}
        shape = tuple(s if isinstance(d, str) else d for d in c.input_shape)
        valid = c.is_valid(values)
        ok, got = torch_result(model, shape)
        if valid != ok:
            out.append((s, f"convshape says {'valid' if valid else 'invalid'}, torch: {got}"))
        elif ok and predicted(s) != got:
            out.append((s, f"shape {predicted(s)} predicted, torch gives {got}"))
    return out


def interesting_sizes(spec, count=4):
    """Sizes where a rule changes its verdict, one period of residues, and seeded random sizes."""
    c, _, _ = prepared(spec)
    sizes = set()
    for d in c.dims:
        for m in (d.minimum, d.periodic_from):
            if m:
                sizes.update({m - 1, m, m + 1})
        start = d.periodic_from or 1
        sizes.update(range(start, start + min(d.modulus, 16) + 1))
        sizes.update(d.exceptions[:4])
    if c.declared:
        sizes.update(x for x in c.declared[2:])
    rng = random.Random(spec)
    sizes.update(rng.randint(1, TOP) for _ in range(count))
    return sorted(s for s in sizes if 1 <= s <= TOP)


@pytest.mark.parametrize("spec", NETWORKS, ids=_ids)
def test_constraints_agree_with_torch_where_rules_change(spec):
    assert disagreements(spec, interesting_sizes(spec)) == []


@pytest.mark.slow
@pytest.mark.skipif(not os.environ.get("CONVSHAPE_SLOW"), reason="full sweep: set CONVSHAPE_SLOW=1")
@pytest.mark.parametrize("spec", NETWORKS, ids=_ids)
def test_constraints_agree_with_torch_at_every_size_to_512(spec):
    assert disagreements(spec, range(1, TOP + 1)) == []


def test_impossible_concat_is_refused_by_torch_at_every_size():
    # tests/specs/constraints/impossible.yaml by hand: cat(conv3x3(x), x) along channels
    c = derive(cs.load(str(SPECS / "constraints" / "impossible.yaml")))
    assert not c.valid_somewhere
    with torch.device("meta"):
        conv = torch.nn.Conv2d(4, 4, 3)
    for s in range(1, 65):
        x = torch.empty(1, 4, s, s, device="meta")
        with pytest.raises(RuntimeError):
            torch.cat([conv(x), x], dim=1)
