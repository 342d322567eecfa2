"""Reference kernels against torch.nn, in float64, for every layer kind in the registry.

Cases are every valid example each layer class declares (the registry-wide contract test's, so a
new kind is covered with no wiring here), plus a table of edge cases: (kind, arguments, input
shape[, input transform]). A kind that is not (yet) in convshape's registry is still checked,
against torch.nn directly with a stand-in layer built from torch's constructor defaults.
"""
import inspect
from types import SimpleNamespace

import pytest

torch = pytest.importorskip("torch")
pytestmark = pytest.mark.usefixtures("torch_one_thread")

from convshape.executor.kernels import KERNELS  # noqa: E402
from convshape.executor.runner import TOLERANCE, rel_error  # noqa: E402
from convshape.layers import REGISTRY  # noqa: E402
from convshape.layers.examples import examples_of  # noqa: E402

CASES = [
    # ---- convolution: strides, padding forms and modes, dilation, groups, unbatched, ranks
    ("Conv1d", {"out_channels": 4, "kernel_size": 3}, (2, 3, 10)),
    ("Conv1d", {"out_channels": 4, "kernel_size": 3, "stride": 2, "padding": 1, "dilation": 2}, (2, 3, 11)),
    ("Conv2d", {"out_channels": 10, "kernel_size": 5, "padding": 2}, (1, 3, 32, 32)),
    ("Conv2d", {"out_channels": 6, "kernel_size": 3, "stride": 2, "padding": 1, "bias": False}, (2, 4, 9, 8)),
    ("Conv2d", {"out_channels": 6, "kernel_size": (3, 1), "stride": (2, 1), "padding": (1, 0)}, (1, 4, 7, 5)),
    ("Conv2d", {"out_channels": 4, "kernel_size": 3, "dilation": 2, "padding": 2}, (1, 2, 9, 9)),
    ("Conv2d", {"out_channels": 6, "kernel_size": 3, "groups": 2, "padding": 1}, (2, 4, 6, 6)),
    ("Conv2d", {"out_channels": 8, "kernel_size": 3, "groups": 4, "stride": 2}, (1, 4, 9, 9)),   # depthwise x2
    ("Conv2d", {"out_channels": 3, "kernel_size": 4, "padding": "same", "dilation": 3}, (1, 2, 10, 11)),
    ("Conv2d", {"out_channels": 3, "kernel_size": 2, "padding": "valid"}, (1, 2, 5, 5)),
    ("Conv2d", {"out_channels": 3, "kernel_size": 3, "padding": 2, "padding_mode": "reflect"}, (1, 2, 6, 7)),
    ("Conv2d", {"out_channels": 3, "kernel_size": 3, "padding": (1, 2), "padding_mode": "replicate"}, (1, 2, 6, 7)),
    ("Conv2d", {"out_channels": 3, "kernel_size": 3, "padding": 3, "padding_mode": "circular"}, (1, 2, 4, 5)),
    ("Conv2d", {"out_channels": 5, "kernel_size": 3}, (3, 9, 9)),                                   # unbatched
    # torch quirks of non-zeros padding modes: a 1-entry padding pads the last axis only (F.pad)
    ("Conv2d", {"out_channels": 2, "kernel_size": 3, "padding": (2,), "padding_mode": "reflect"}, (2, 6, 7)),
    ("Conv3d", {"out_channels": 4, "kernel_size": 3, "stride": (1, 2, 2), "padding": 1}, (1, 2, 5, 6, 7)),
    ("Conv3d", {"out_channels": 4, "kernel_size": (1, 3, 3), "groups": 2}, (2, 4, 3, 5, 5)),
    # large enough for the row-shifted GEMMs (stride 1 on the first axis, 14+ output rows)
    ("Conv1d", {"out_channels": 3, "kernel_size": 5, "padding": 2}, (2, 4, 20)),
    ("Conv2d", {"out_channels": 5, "kernel_size": 3, "padding": 1, "stride": (1, 2), "dilation": (2, 1)},
     (2, 3, 18, 15)),
    ("Conv3d", {"out_channels": 2, "kernel_size": (3, 2, 3), "padding": (1, 0, 1)}, (1, 2, 16, 5, 4)),
    # ---- transposed convolution: output_padding, dilation, groups, cropping padding, unbatched
    ("ConvTranspose1d", {"out_channels": 3, "kernel_size": 3, "stride": 2, "padding": 1, "output_padding": 1},
     (2, 4, 7)),
    ("ConvTranspose2d", {"out_channels": 4, "kernel_size": 2, "stride": 2}, (1, 6, 5, 4)),             # U-Net up
    ("ConvTranspose2d", {"out_channels": 4, "kernel_size": 3, "stride": 2, "padding": 1, "dilation": 2,
                         "output_padding": 1, "groups": 2}, (2, 4, 5, 6)),
    ("ConvTranspose2d", {"out_channels": 2, "kernel_size": 3, "padding": 2, "bias": False}, (1, 3, 7, 7)),
    ("ConvTranspose2d", {"out_channels": 2, "kernel_size": 3, "stride": 3}, (3, 4, 4)),
    ("ConvTranspose3d", {"out_channels": 2, "kernel_size": (2, 3, 3), "stride": (1, 2, 2), "padding": (0, 1, 1)},
     (1, 3, 3, 4, 4)),
    # ---- pooling
    ("MaxPool1d", {"kernel_size": 3, "stride": 2, "padding": 1}, (2, 3, 10)),
    ("MaxPool2d", {"kernel_size": 3, "stride": 2, "padding": 1}, (1, 3, 8, 9)),
    ("MaxPool2d", {"kernel_size": 3, "stride": 2, "ceil_mode": True}, (1, 2, 8, 8)),
    ("MaxPool2d", {"kernel_size": 2, "dilation": 2, "stride": 1}, (1, 2, 7, 6)),
    ("MaxPool2d", {"kernel_size": 2}, (3, 7, 7)),
    ("MaxPool3d", {"kernel_size": 2, "stride": 2, "ceil_mode": True, "padding": 1}, (1, 2, 5, 6, 7)),
    ("AvgPool1d", {"kernel_size": 3, "stride": 2, "padding": 1, "count_include_pad": False}, (2, 3, 10)),
    ("AvgPool2d", {"kernel_size": 3, "stride": 2, "padding": 1}, (1, 3, 8, 9)),
    ("AvgPool2d", {"kernel_size": 3, "stride": 2, "padding": 1, "ceil_mode": True}, (1, 2, 8, 8)),
    ("AvgPool2d", {"kernel_size": 3, "stride": 2, "padding": 1, "ceil_mode": True, "count_include_pad": False},
     (1, 2, 8, 8)),
    ("AvgPool2d", {"kernel_size": 2, "divisor_override": 3}, (1, 2, 6, 6)),
    ("AvgPool3d", {"kernel_size": (1, 2, 2), "stride": (1, 2, 2), "ceil_mode": True}, (1, 2, 3, 5, 5)),
    ("AdaptiveAvgPool1d", {"output_size": 3}, (2, 3, 10)),
    ("AdaptiveAvgPool2d", {"output_size": (3, 4)}, (1, 2, 7, 10)),
    ("AdaptiveAvgPool2d", {"output_size": (None, 2)}, (2, 5, 5)),
    ("AdaptiveAvgPool2d", {"output_size": 1}, (2, 3, 5, 6)),
    ("AdaptiveAvgPool3d", {"output_size": (2, 3, 1)}, (1, 2, 5, 7, 3)),
    ("AdaptiveMaxPool1d", {"output_size": 4}, (2, 3, 7)),
    ("AdaptiveMaxPool2d", {"output_size": (3, 5)}, (1, 2, 10, 7)),
    ("AdaptiveMaxPool3d", {"output_size": 2}, (1, 2, 5, 3, 4)),
    ("LPPool1d", {"norm_type": 2, "kernel_size": 3, "stride": 2}, (2, 3, 10)),
    ("LPPool2d", {"norm_type": 1.5, "kernel_size": 2, "ceil_mode": True}, (1, 2, 5, 7), "positive"),
    ("LPPool3d", {"norm_type": 3, "kernel_size": 2}, (1, 2, 4, 4, 4), "positive"),
    # ---- normalization
    ("BatchNorm1d", {}, (4, 5)),
    ("BatchNorm1d", {"affine": False}, (2, 3, 7)),
    ("BatchNorm2d", {"eps": 1e-3}, (2, 3, 4, 5)),
    ("BatchNorm2d", {"track_running_stats": False}, (3, 2, 4, 4)),
    ("BatchNorm3d", {}, (1, 2, 3, 4, 5)),
    ("LayerNorm", {"normalized_shape": 6}, (2, 3, 6)),
    ("LayerNorm", {"normalized_shape": (3, 4, 5), "bias": False}, (2, 3, 4, 5)),
    ("LayerNorm", {"normalized_shape": 5, "elementwise_affine": False}, (2, 5)),
    ("GroupNorm", {"num_groups": 2}, (2, 6, 4, 4)),
    ("GroupNorm", {"num_groups": 3, "affine": False}, (2, 6, 5)),
    ("InstanceNorm1d", {"num_features": 3, "affine": True}, (2, 3, 9)),
    ("InstanceNorm2d", {"num_features": 3}, (3, 5, 6)),
    ("InstanceNorm2d", {"num_features": 3, "track_running_stats": True, "affine": True}, (2, 3, 5, 6)),
    ("InstanceNorm3d", {"num_features": 2}, (1, 2, 3, 4, 5)),
    ("LocalResponseNorm", {"size": 5}, (2, 7, 4, 4)),
    ("LocalResponseNorm", {"size": 4, "alpha": 0.1, "beta": 0.5, "k": 2.0}, (2, 6, 5)),
    # ---- activations
    ("ReLU", {}, (2, 3, 4, 4)),
    ("ReLU6", {}, (2, 50), "wide"),
    ("LeakyReLU", {"negative_slope": 0.2}, (2, 3, 4)),
    ("ELU", {"alpha": 0.5}, (2, 3, 4)),
    ("GELU", {}, (2, 3, 4)),
    ("GELU", {"approximate": "tanh"}, (2, 3, 4)),
    ("SiLU", {}, (2, 3, 4)),
    ("Mish", {}, (2, 3, 4), "wide"),
    ("Sigmoid", {}, (2, 3, 4), "wide"),
    ("Tanh", {}, (2, 3, 4)),
    ("Hardswish", {}, (2, 50), "wide"),
    ("Hardsigmoid", {}, (2, 50), "wide"),
    ("Identity", {}, (2, 3)),
    ("PReLU", {}, (2, 3, 4)),
    ("PReLU", {"num_parameters": 3}, (2, 3, 4, 4)),
    ("Softmax", {}, (2, 3, 4, 4)),          # dim=None on 4-D: dim 1
    ("Softmax", {}, (2, 3, 4)),             # dim=None on 3-D: dim 0 (torch's legacy rule)
    ("Softmax", {"dim": -1}, (2, 3, 4), "wide"),
    ("LogSoftmax", {"dim": 1}, (2, 10), "wide"),
    # ---- linear, scale
    ("Linear", {"out_features": 7}, (2, 5)),
    ("Linear", {"out_features": 3, "bias": False}, (2, 4, 4, 6)),
    ("LayerScale", {}, (2, 4, 3, 3)),
    ("LayerScale", {"dim": -1}, (2, 3, 3, 5)),
    # ---- regularizers: identity at inference
    ("Dropout", {"p": 0.5}, (2, 3)),
    ("Dropout1d", {}, (2, 3, 4)),
    ("Dropout2d", {}, (2, 3, 4, 4)),
    ("Dropout3d", {}, (2, 3, 2, 4, 4)),
    ("AlphaDropout", {}, (2, 3)),
    ("FeatureAlphaDropout", {}, (2, 3, 4)),
    ("StochasticDepth", {"p": 0.2}, (2, 3, 4)),
    # ---- re-arrangements
    ("Flatten", {}, (2, 3, 4, 5)),
    ("Flatten", {"start_dim": 0, "end_dim": 2}, (2, 3, 4, 5)),
    ("Unflatten", {"dim": 1, "unflattened_size": (2, 6)}, (2, 12, 3)),
    ("PixelShuffle", {"upscale_factor": 2}, (1, 8, 3, 4)),
    ("PixelShuffle", {"upscale_factor": 3}, (2, 9, 2, 2)),
    ("PixelUnshuffle", {"downscale_factor": 2}, (1, 2, 6, 4)),
    ("ChannelShuffle", {"groups": 3}, (2, 6, 4, 4)),
    # ---- padding
    ("ZeroPad1d", {"padding": 2}, (1, 2, 5)),
    ("ZeroPad2d", {"padding": (1, 2, 0, 3)}, (1, 2, 4, 5)),
    ("ZeroPad2d", {"padding": (-1, 2, 1, -2)}, (1, 2, 4, 5)),   # negative pads crop
    ("ZeroPad3d", {"padding": 1}, (1, 2, 3, 3, 3)),
    ("ConstantPad1d", {"padding": (3, 1), "value": 2.5}, (2, 5)),
    ("ConstantPad2d", {"padding": 1, "value": -1.0}, (1, 2, 3, 3)),
    ("ConstantPad3d", {"padding": (1, 0, 2, 0, 0, 1), "value": 0.5}, (1, 1, 2, 3, 4)),
    ("ReflectionPad1d", {"padding": (2, 3)}, (1, 2, 5)),
    ("ReflectionPad2d", {"padding": (2, 1, 1, 2)}, (1, 2, 4, 5)),
    ("ReflectionPad3d", {"padding": 1}, (1, 2, 3, 3, 3)),
    ("ReplicationPad1d", {"padding": 3}, (1, 2, 4)),
    ("ReplicationPad2d", {"padding": (0, 2, 3, 1)}, (2, 3, 3)),
    ("ReplicationPad3d", {"padding": (1, 2, 0, 1, 2, 0)}, (1, 1, 3, 3, 3)),
    ("CircularPad1d", {"padding": (4, 1)}, (1, 2, 4)),
    ("CircularPad2d", {"padding": 2}, (1, 2, 3, 4)),
    ("CircularPad3d", {"padding": (1, 1, 2, 0, 0, 2)}, (1, 1, 3, 3, 3)),
    # ---- upsampling: every mode, align_corners both ways, sizes that do not divide
    ("Upsample", {"scale_factor": 2, "mode": "nearest"}, (1, 2, 3, 4)),
    ("Upsample", {"size": (7, 5), "mode": "nearest"}, (1, 2, 4, 6)),
    ("Upsample", {"size": (7, 9), "mode": "nearest-exact"}, (1, 2, 4, 6)),
    ("Upsample", {"scale_factor": 1.5, "mode": "bilinear"}, (1, 2, 5, 6)),
    ("Upsample", {"size": (9, 4), "mode": "bilinear", "align_corners": True}, (1, 2, 5, 6)),
    ("Upsample", {"scale_factor": 2, "mode": "bicubic"}, (1, 2, 4, 5)),
    ("Upsample", {"size": (7, 11), "mode": "bicubic", "align_corners": True}, (1, 2, 4, 5)),
    ("Upsample", {"scale_factor": 2.5, "mode": "linear", "recompute_scale_factor": True}, (2, 3, 5)),
    ("Upsample", {"scale_factor": (2, 1.5, 2), "mode": "trilinear"}, (1, 2, 2, 4, 3)),
    ("Upsample", {"size": (3, 4), "mode": "area"}, (1, 2, 7, 9)),
    ("Upsample", {"scale_factor": 3, "mode": "nearest"}, (2, 3, 4)),
    # ---- merges and reshapes (several inputs are given as a list of shapes)
    ("Add", {}, [(2, 3, 4, 4), (2, 3, 4, 4), (1, 3, 1, 4)]),
    ("Mul", {}, [(2, 3, 4, 4), (2, 3, 1, 1)]),
    ("Concat", {}, [(2, 3, 4), (2, 5, 4)]),
    ("Concat", {"dim": -1}, [(2, 3, 4), (2, 3, 2), (2, 3, 1)]),
    ("Permute", {"dims": (0, 2, 3, 1)}, (2, 3, 4, 5)),
    ("Reshape", {"shape": (-1, 12)}, (2, 3, 4)),
    ("Narrow", {"dim": 1, "start": 2, "length": 3}, (2, 6, 4)),
    ("Narrow", {"dim": -1, "start": -4, "length": 2}, (2, 3, 5)),
]

# every valid example every layer class declares for the contract test (tests/test_layer_contract.py)
# the algebra and attention kinds of the import-coverage work have no reference kernel yet: `convshape
# run` refuses them by name (test below); each one that gets a kernel leaves this set
WITHOUT_KERNEL = {"Div", "FixedConv1d", "FixedConv2d", "FixedConv3d", "FrozenBatchNorm2d", "Index", "MatMul",
                  "Maximum", "Minimum", "MultiheadAttention", "ParamArith", "ParamConcat", "PatchMerging",
                  "PatchMergingV2", "Reduce", "RelativePositionalMultiHeadAttention", "ScalarArith",
                  "ScaledDotProductAttention", "ShiftedWindowAttention", "ShiftedWindowAttentionV2", "Squeeze",
                  "Stack", "Sub", "UnaryOp", "Unsqueeze",
                  # issue 12, the corpus: weight-standardized convolution, F.normalize, expand, video Swin attention, LSTM
                  "Expand", "Normalize", "LSTM", "ShiftedWindowAttention3d", "StdConv1d", "StdConv2d", "StdConv3d", "TensorUnfold"}
EXAMPLES = [(kind, dict(e.args), [tuple(s) for s in e.inputs])
            for kind in sorted(set(REGISTRY) - WITHOUT_KERNEL) for e in examples_of(REGISTRY[kind])
            if not e.rejected]


def case_id(case):
    kind, args = case[0], case[1]
    return kind + ("-" + "-".join(f"{k}={v}" for k, v in args.items()) if args else "")


def torch_kwargs_for(kind, args, shapes):
    """torch.nn constructor arguments for a kind convshape has not registered yet: add the inferred sizes."""
    kw = dict(args)
    cls = getattr(torch.nn, kind)
    params = inspect.signature(cls.__init__).parameters
    if "num_features" in params and "num_features" not in kw:
        kw["num_features"] = shapes[0][1]
    return cls, kw


def build(kind, args, shapes):
    """(layer model or stand-in, torch module) for a case."""
    if kind in REGISTRY:
        layer = REGISTRY[kind](**args)
        return layer, layer.to_torch(shapes)
    cls, kw = torch_kwargs_for(kind, args, shapes)
    module = cls(**kw)
    defaults = {name: p.default for name, p in inspect.signature(cls.__init__).parameters.items()
                if p.default is not inspect.Parameter.empty}
    ndim = int(kind[-2]) if kind[-1] == "d" and kind[-2].isdigit() else None
    return SimpleNamespace(kind=kind, ndim=ndim, **{**defaults, **kw}), module


def randomize(module, gen):
    """Constant-initialized tensors (norm affine, running stats, PReLU slopes) drawn around their value."""
    for t in list(module.parameters()) + list(module.buffers()):
        if t.is_floating_point():
            c = float(t.flatten()[0]) if t.numel() else 0.0
            t.copy_(c + max(abs(c), 1.0) * (torch.rand(t.shape, generator=gen, dtype=t.dtype) - 0.5))


@pytest.mark.parametrize("case", CASES + EXAMPLES, ids=[case_id(c) for c in CASES + EXAMPLES])
def test_reference_kernel_matches_torch(case):
    kind, args, shape = case[:3]
    transform = case[3] if len(case) > 3 else None
    shapes = shape if isinstance(shape, list) else [shape]
    gen = torch.Generator().manual_seed(0)
    layer, module = build(kind, args, shapes)
    module = module.double().eval()
    with torch.no_grad():
        randomize(module, gen)
        xs = [torch.randn(s, generator=gen, dtype=torch.float64) for s in shapes]
        if transform == "positive":
            xs = [x.abs() + 0.1 for x in xs]
        elif transform == "wide":   # reach the saturating and clamped parts of the formula
            xs = [8 * x for x in xs]
        expected = module(*xs)
        state = dict(module.named_parameters())
        state.update(dict(module.named_buffers()))
        got = KERNELS[kind](layer, xs, state)
    assert tuple(got.shape) == tuple(expected.shape)
    assert got.dtype == expected.dtype
    assert float(rel_error(got, expected)) <= TOLERANCE["float64"]


CONV_CASES = [c for c in CASES + EXAMPLES if c[0].startswith("Conv")]


@pytest.mark.parametrize("row_shift_min", [1, 10**9], ids=["row-shifted", "im2col"])
@pytest.mark.parametrize("case", CONV_CASES, ids=[case_id(c) for c in CONV_CASES])
def test_both_convolution_paths(case, row_shift_min, monkeypatch):
    """Each convolution case through the row-shifted GEMMs wherever they apply, and through plain im2col."""
    from convshape.executor.kernels import conv
    monkeypatch.setattr(conv, "ROW_SHIFT_MIN", row_shift_min)
    test_reference_kernel_matches_torch(case)


def test_every_registered_kind_has_a_reference_kernel_or_is_listed():
    missing = set(REGISTRY) - set(KERNELS)
    assert missing == WITHOUT_KERNEL, f"layer kinds without a reference kernel (add one in " \
                                      f"convshape/executor/kernels/): {sorted(missing - WITHOUT_KERNEL)}"


def test_run_refuses_a_kind_without_kernel_by_name_before_running():
    from convshape.errors import SpecError
    from convshape.executor.runner import run
    from convshape.spec import loads
    net = loads("input: [1, 3, 8, 8]\nlayers:\n  - Conv2d: {out_channels: 4, kernel_size: 3}\n"
                "  - ScalarArith: {op: mul, value: 2.0}\n", "scaled.yaml")
    with pytest.raises(SpecError) as e:
        run(net, repeats=0)
    assert str(e.value) == ("scaled.yaml: run has no reference kernel yet for ScalarArith "
                            "(layers scalararith_1)")


def test_kernels_use_no_torch_nn():
    """Independence from torch.nn: no kernel module imports or names torch.nn (or its functional API)."""
    import ast
    import pathlib

    import convshape.executor.kernels as k
    for path in pathlib.Path(k.__file__).parent.glob("*.py"):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                assert not any(a.name.startswith("torch.nn") for a in node.names), path.name
            elif isinstance(node, ast.ImportFrom):
                assert not (node.module or "").startswith("torch.nn"), path.name
                assert not (node.module == "torch" and any(a.name == "nn" for a in node.names)), path.name
            elif isinstance(node, ast.Attribute) and node.attr == "nn":
                assert not (isinstance(node.value, ast.Name) and node.value.id == "torch"), f"{path.name}:{node.lineno}"


def test_registering_a_kind_twice_raises():
    from convshape.executor.kernels import reference
    with pytest.raises(ValueError, match="twice"):
        reference("ReLU")(lambda layer, xs, state: xs[0])
