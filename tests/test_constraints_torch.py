"""Brute force against torch: the constraints predict exactly the sizes torch accepts, and the shape.

For every zoo network (and the constraint fixtures), at H = W = S, the network built with
`to_torch` runs on the meta device (shapes only, no arithmetic); torch accepts S exactly when
the constraints say S is valid, and then returns the output shape convshape predicts.

The quick test checks the sizes where the rules change (around each minimum, around the periodic
start, one full period of residues) and a few seeded random sizes. The full sweep S = 1..512 over
every network (the issue's acceptance test) is `slow`: it runs in CI (CI is set there) and with
CONVSHAPE_SLOW=1 (figures in docs/constraints.md).
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
# impossible.yaml has no valid size, so no module can be built from it: see the test at the end;
# flatten_inferred and permute_groupnorm size a layer by the input, so one module cannot serve every
# size: tests/test_constraints_bruteforce.py builds one per size
PER_SIZE = {"impossible", "flatten_inferred", "permute_groupnorm"}
FIXTURES = sorted(str(p) for p in (SPECS / "constraints").glob("*.yaml") if p.stem not in PER_SIZE) \
    + [str(SPECS / "unet4.yaml")]
NETWORKS = [f"zoo:{n}" for n in cs.zoo_names()] + FIXTURES
TOP = 512


def _ids(spec):
    return spec.split(":", 1)[1] if spec.startswith("zoo:") else Path(spec).stem


@functools.lru_cache(maxsize=None)
def prepared(spec):
    """(constraints, meta-device module, predicted-output function): built once per network."""
    if "Upsample" not in REGISTRY and "up" in Path(spec).stem:
        pytest.skip("Upsample is not registered in this checkout")
    network = cs.load(spec)
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
@pytest.mark.skipif(not (os.environ.get("CONVSHAPE_SLOW") or os.environ.get("CI")),
                    reason="full sweep (runs in CI): set CONVSHAPE_SLOW=1")
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


@pytest.mark.parametrize("seed", range(int(os.environ.get("CONVSHAPE_PROBES", "40"))))
def test_pixels_never_read_match_autograd(seed):
    # random stacks of (transposed) convolutions and average poolings: every tap has a positive
    # weight, so an input pixel reaches the output exactly when its gradient is non-zero
    # (CONVSHAPE_PROBES=1000 for a longer run)
    from convshape.analysis import analyze
    from convshape.constraints.coverage import Coverage
    rng = random.Random(seed)
    layers = []
    for _ in range(rng.randint(1, 4)):
        k, s, d = rng.randint(1, 4), rng.randint(1, 3), rng.choice([1, 1, 2, 3])
        p = rng.randint(0, (d * (k - 1) + 1) // 2)
        pick = rng.random()
        if pick < 0.6:
            layers.append(f"  - Conv2d: {{out_channels: 2, kernel_size: {k}, stride: {s}, padding: {p}, dilation: {d}}}")
        elif pick < 0.75:
            layers.append(f"  - ConvTranspose2d: {{out_channels: 2, kernel_size: {k}, stride: {s}, "
                          f"padding: {min(p, k - 1)}, dilation: {d}}}")
        else:
            layers.append(f"  - AvgPool2d: {{kernel_size: {k}, stride: {s}, padding: {min(p, k // 2)}}}")
    size = rng.randint(8, 40)
    spec = f"input: [1, 2, {size}, {size}]\nlayers:\n" + "\n".join(layers) + "\n"
    net = cs.loads(spec, name=f"probe{seed}")
    try:
        report = analyze(net)
    except cs.ShapeError:
        pytest.skip("this random stack is invalid at its size")
    cov = Coverage(net, report, 2)
    unread, _ = cov.unread(lambda t: cov.shapes[t][cov.axis[t]])
    model = cs.to_torch(net).double()
    for prm in model.parameters():
        prm.data.fill_(1.0)
    x = torch.ones(1, 2, size, size, dtype=torch.float64, requires_grad=True)
    model(x).sum().backward()
    rows = (x.grad[0, 0].abs().sum(dim=1) > 0).nonzero().flatten().tolist()
    reached = max(rows) if rows else -1
    assert unread == size - 1 - reached, spec


# Small networks, one layer kind each beyond the zoo's, checked on the full grid of H x W in 1..16,
# so joint rules (H*W >= 2, flattened sizes) are exercised in both dims.
LAYER_SPECS = {
    "pixel_unshuffle": "  - PixelUnshuffle: {downscale_factor: 2}\n",
    "pixel_shuffle_add": "  - Conv2d: {out_channels: 12, kernel_size: 3, stride: 2, padding: 1}\n"
                         "    name: c\n  - PixelShuffle: {upscale_factor: 2}\n    name: ps\n"
                         "  - Add:\n    inputs: [ps, input]\n",
    "upsample_half": "  - Upsample: {scale_factor: 0.5}\n",
    "upsample_then_pool": "  - Upsample: {scale_factor: 1.5}\n  - MaxPool2d: {kernel_size: 3, stride: 3}\n",
    "bilinear_size_concat": "  - MaxPool2d: {kernel_size: 2}\n  - Upsample: {size: [8, 8], mode: bilinear}\n"
                            "    name: up\n  - Concat:\n    inputs: [up, input]\n",
    "reflection_pad": "  - ReflectionPad2d: {padding: 3}\n",
    "circular_conv": "  - Conv2d: {out_channels: 3, kernel_size: 5, padding: 2, padding_mode: circular}\n",
    "lp_pool": "  - LPPool2d: {norm_type: 2, kernel_size: 3, stride: 2}\n",
    "instance_norm": "  - InstanceNorm2d: {num_features: 3}\n",
    "unflatten": "  - Unflatten: {dim: 2, unflattened_size: [4, -1]}\n",
    "flatten_unflatten": "  - Flatten: {start_dim: 2}\n  - Unflatten: {dim: 2, unflattened_size: [8, -1]}\n",
    "avgpool_ceil_pad": "  - AvgPool2d: {kernel_size: 3, stride: 2, padding: 1, ceil_mode: true}\n"
                        "  - MaxPool2d: {kernel_size: 2, stride: 2, dilation: 2, ceil_mode: true}\n",
    "conv_same_even": "  - Conv2d: {out_channels: 3, kernel_size: 4, padding: same, dilation: 3}\n",
    "transposed_dilated": "  - Conv2d: {out_channels: 3, kernel_size: 3, stride: 3}\n"
                          "  - ConvTranspose2d: {out_channels: 3, kernel_size: 2, stride: 3, dilation: 2, "
                          "output_padding: 1}\n    name: up\n  - Add:\n    inputs: [up, input]\n",
    "adaptive_linear": "  - AdaptiveAvgPool2d: {output_size: [2, null]}\n  - Flatten\n  - Linear: {out_features: 4}\n",
    "asymmetric_strides": "  - Conv2d: {out_channels: 3, kernel_size: [3, 1], stride: [2, 3], padding: [1, 0]}\n"
                          "    name: down\n  - Upsample: {scale_factor: [2, 3]}\n    name: up\n"
                          "  - Mul:\n    inputs: [up, input]\n",
}
GRID = 16


@pytest.mark.parametrize("name", list(LAYER_SPECS))
def test_layer_kinds_agree_with_torch_on_the_h_w_grid(name):
    spec = f"name: {name}\ninput: [1, 3, 16, 16]\nlayers:\n{LAYER_SPECS[name]}"
    network = cs.loads(spec, name=f"{name}.yaml")
    kinds = {n.layer.kind for n in network.nodes}
    c = derive(network, ranges={"H": (1, GRID), "W": (1, GRID)})
    symbols = sorted({s for d in c.output_shape if not isinstance(d, int) for s in d.free_symbols},
                     key=lambda s: s.name)
    output = compile_values(list(c.output_shape), symbols)
    # build the modules at a size the constraints call valid (the declared one need not be)
    built = next((h, w) for h in range(1, GRID + 1) for w in range(1, GRID + 1) if c.is_valid({"H": h, "W": w}))
    with torch.device("meta"):
        model = cs.to_torch(network, (1, 3) + built)
    wrong = []
    for h in range(1, GRID + 1):
        for w in range(1, GRID + 1):
            valid = c.is_valid({"H": h, "W": w})
            ok, got = torch_result(model, (1, 3, h, w))
            if valid != ok:
                wrong.append((h, w, valid, got))
            elif ok:
                want = tuple(int(v) for v in output(*[{"H": h, "W": w}[s.name] for s in symbols]))
                if want != got:
                    wrong.append((h, w, want, got))
    assert wrong == [], (kinds, wrong[:5])


def test_resnet50_training_note_matches_torch():
    c, _, _ = prepared("zoo:resnet50")
    assert c.notes[-1].endswith("the smallest such size is 33")
    with torch.device("meta"):
        model = cs.to_torch(cs.load("zoo:resnet50")).train()
    assert torch_result(model, (1, 3, 32, 32))[0] is False   # layer4 is 1x1: one value per channel
    assert torch_result(model, (1, 3, 33, 33))[0] is True
