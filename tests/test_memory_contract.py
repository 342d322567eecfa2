"""Every saved-tensor rule (convshape/memory/rules.py) against torch on every example of its kind:
the bytes autograd saves (torch.autograd.graph.saved_tensors_hooks, distinct storages excluding
parameters and buffers), in train and eval mode, with the input needing a gradient or not and with
the weights trainable or frozen. A rule may answer None (not modelled) only where it says so; the
kinds without a rule are listed here, so a new kind must either get a rule or join the list."""
from __future__ import annotations

import itertools
import warnings

import pytest

from convshape.layers import REGISTRY
from convshape.layers.examples import examples_of
from convshape.memory import SAVED, output_alias
from convshape.memory import algebra_rules, corpus_rules

torch = pytest.importorskip("torch")

# kinds whose saved tensors convshape does not model: each appears in the report by layer name
WITHOUT_RULE = {"LPPool1d", "LPPool2d", "LPPool3d", "LocalResponseNorm"}
# kinds with a rule that answers None: the saved set depends on torch's backend (attention:
# memory/algebra_rules.py; LSTM's oneDNN workspace: memory/corpus_rules.py); the report names them
UNKNOWN = set(algebra_rules.BACKEND_DEPENDENT) | set(corpus_rules.BACKEND_DEPENDENT)

# op variants beyond the kinds' own examples, each measured like them: (args, input shapes)
OPS = ("add", "sub", "rsub", "mul", "div", "rdiv", "pow", "rpow", "maximum", "minimum")
VARIANTS = {
    "ScalarArith": [({"op": op, "value": 1.5}, ((2, 3, 4),)) for op in OPS],
    "ParamArith": [({"op": op, "shape": (3, 1), "trainable": t}, ((2, 3, 4),)) for op in OPS for t in (True, False)]
    # a table gathered by a fixed index: the gathered tensor kept, by the op, as any non-parameter t
    + [({"op": op, "shape": (4, 9, 9), "table": (4, 9), "index": (9, 9), "gather_dim": 1}, ((2, 4, 9, 9),))
       for op in OPS],
    # Affine beyond its examples: buffers (no weight gradient, so x is not kept), value != 1 (still
    # one addcmul, x kept for weight's gradient alone), a bias of another shape than weight
    "Affine": [({"shape": (1, 3, 1), "trainable": False}, ((2, 3, 4),)), ({"shape": (3, 1), "value": 0.5}, ((2, 3, 4),)),
               ({"shape": (1, 1, 4), "bias_shape": (3, 1)}, ((2, 3, 4),))],
    "UnaryOp": [({"fn": fn}, ((2, 3, 4),)) for fn in ("rsqrt", "sqrt", "square", "exp", "log", "abs", "neg",
                                                       "reciprocal", "sign", "erf", "sin", "cos")],
    "Reduce": [({"op": "amax"}, ((3, 4),)), ({"op": "amin", "dim": (0, 1), "keepdim": True}, ((3, 4, 2),)),
               ({"op": "mean"}, ((3, 4),))],
    # every operand layout torch's matmul treats differently: fold, transposed fold, broadcast copies
    "MatMul": [({}, shapes) for shapes in (((2, 3, 5, 4), (4, 6)), ((5, 4), (2, 3, 4, 6)), ((5, 4), (4, 6)),
                                          ((4,), (2, 4, 6)), ((2, 5, 4), (4,)), ((1, 5, 4), (3, 4, 6)),
                                          ((3, 5, 4), (1, 4, 6)), ((2, 3, 5, 4), (3, 4, 6)),
                                          ((2, 1, 5, 4), (1, 3, 4, 6)), ((4,), (4,)))],
    "Div": [({}, ((2, 3, 4), (2, 3, 4)))],
    # in place: ReLU, LeakyReLU and ELU keep the result, the others a copy of the overwritten input
    **{kind: [({"inplace": True}, ((2, 3, 4, 4),))] for kind in ("ReLU", "ReLU6", "LeakyReLU", "ELU", "SiLU", "Mish",
                                                               "Hardswish", "Hardsigmoid")},
    # Swin V1: padded or not, shifted or not, one head or one window (k and v then views of qkv)
    "ShiftedWindowAttention": [({"window_size": ws, "shift_size": sh, "num_heads": h}, (shape,)) for ws, sh, h, shape in (
        (4, 2, 2, (2, 8, 8, 8)), (4, 2, 1, (1, 8, 8, 8)), (4, 0, 1, (1, 8, 8, 8)), (4, 2, 1, (2, 7, 7, 4)),
        (4, 0, 2, (1, 4, 4, 8)), (4, 0, 1, (1, 4, 4, 8)), ((3, 2), (1, 1), 2, (3, 9, 5, 6)), ((3, 4), 0, 2, (2, 5, 6, 4)),
        (4, 0, 4, (1, 8, 8, 8)), (8, 4, 2, (2, 8, 8, 8)), (4, 2, 3, (1, 12, 12, 12)), (3, 1, 2, (1, 6, 6, 4)))]
    + [({"window_size": 4, "shift_size": 2, "num_heads": 2, "qkv_bias": False, "proj_bias": False}, ((1, 8, 8, 8),))],
    "ShiftedWindowAttentionV2": [({"window_size": ws, "shift_size": sh, "num_heads": h}, (shape,)) for ws, sh, h, shape in (
        (4, 2, 2, (1, 8, 8, 8)), (4, 2, 1, (1, 8, 8, 8)), (4, 0, 2, (1, 4, 4, 8)), ((3, 4), 0, 1, (1, 5, 6, 4)),
        (3, 1, 2, (1, 6, 6, 4)), (4, 2, 2, (2, 7, 7, 8)), ((3, 2), (1, 1), 2, (3, 9, 5, 6)))]
    + [({"window_size": 4, "shift_size": 2, "num_heads": 2, "qkv_bias": False}, ((1, 8, 8, 8),))],
    # video Swin: clipped to a short axis (the index copy) or not, padded, shifted on some axes, one window or head
    "ShiftedWindowAttention3d": [({"window_size": ws, "shift_size": sh, "num_heads": h}, (shape,)) for ws, sh, h, shape in (
        ((2, 4, 4), (1, 2, 2), 2, (2, 3, 6, 5, 8)), ((2, 4, 4), (0, 2, 0), 1, (1, 2, 4, 4, 4)),
        ((4, 4, 4), (2, 2, 2), 2, (1, 2, 8, 8, 8)), ((2, 3, 3), (1, 1, 1), 4, (1, 4, 6, 6, 8)),
        ((2, 2, 2), (0, 0, 0), 2, (1, 2, 2, 2, 4)), ((3, 3, 3), (1, 1, 1), 1, (2, 3, 3, 7, 4)),
        ((2, 4, 4), (1, 2, 2), 2, (1, 1, 8, 8, 4)), ((4, 4, 4), (2, 2, 2), 1, (2, 3, 2, 5, 4)))]
    + [({"window_size": (2, 4, 4), "shift_size": (1, 2, 2), "num_heads": 2, "qkv_bias": False, "proj_bias": False},
        ((1, 4, 8, 8, 8),))],
    # MaxViT: several heads, one head, one (batch, group), square and small windows
    "RelativePositionalMultiHeadAttention": [({"head_dim": hd, "max_seq_len": s}, (shape,)) for hd, s, shape in (
        (8, 16, (2, 3, 16, 8)), (4, 16, (1, 1, 16, 8)), (4, 4, (2, 2, 4, 12)), (2, 9, (3, 2, 9, 4)))],
    # weight standardization beside every padding Conv's rule tells apart: reflect (F.pad's copy and the
    # input), an asymmetric 'same' (the copy only), gain without bias
    **{f"StdConv{n}d": [({"out_channels": 4, "kernel_size": k, "padding": p, "padding_mode": m, "gain": g, "bias": b},
                         ((2, 3) + (7,) * n,)) for k, p, m, g, b in ((3, 1, "reflect", True, False), (2, "same", "zeros", False, True),
                                                                   (3, 2, "circular", True, True))]
        # an output smaller than batch_norm's statistics and gain: the peak is before the convolution
        + [({"out_channels": 16, "kernel_size": 3, "gain": g}, ((1, 2) + (3,) * n,)) for g in (True, False)]
        for n in (1, 2, 3)},
    "Normalize": [({"dim": d, "eps": e}, ((2, 3, 4, 5),)) for d, e in ((0, 1e-12), (2, 0.5), (-1, 1e-6))],
    "Expand": [({"sizes": (3, -1, 4, 5)}, ((2, 1, 5),))],
    "TensorUnfold": [({"dimension": 0, "size": 2, "step": 1}, ((5, 3, 4),)), ({"dimension": 1, "size": 0, "step": 2}, ((2, 6),))],
    "Dropout": [({"p": 0.5, "inplace": True}, ((2, 3, 4, 4),))],
    "Dropout2d": [({"p": 0.5, "inplace": True}, ((2, 3, 4, 4),))],
    # EdgeNeXt's positional encoding: odd H and W with a batch of 3, a 1x1 map, a wide hidden_dim
    "PositionalEncodingFourier": [({"hidden_dim": 6, "dim": 5}, ((3, 2, 7, 9),)),
                                  ({"hidden_dim": 8, "dim": 4, "temperature": 20.0}, ((2, 1, 1, 3),)),
                                  ({"hidden_dim": 32, "dim": 48}, ((1, 48, 8, 8),))],
}


def measured(module, xs) -> int:
    state = {t.untyped_storage().data_ptr() for t in list(module.parameters()) + list(module.buffers())}
    seen, keep = {}, []

    def pack(t):
        st = t.untyped_storage()
        if st.data_ptr() not in state and st.data_ptr() not in seen:
            seen[st.data_ptr()] = st.nbytes()
            keep.append(t)
        return t

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        out = module(*xs)
    return sum(seen.values()), out[0] if isinstance(out, tuple) else out  # a pool's (values, indices)


def test_every_kind_has_a_rule_or_is_listed():
    assert set(REGISTRY) - set(SAVED) == WITHOUT_RULE
    assert not (set(SAVED) - set(REGISTRY)), "a rule for a kind that is not registered"


def _cases(kind):
    cls = REGISTRY[kind]
    for index, ex in enumerate(examples_of(cls)):
        if not ex.rejected:
            yield f"example {index}", ex.args, [tuple(s) for s in ex.inputs]
    for index, (args, shapes) in enumerate(VARIANTS.get(kind, ())):
        yield f"variant {index}", args, [tuple(s) for s in shapes]


@pytest.mark.parametrize("kind", sorted(SAVED))
def test_saved_tensor_rule(kind):
    cls = REGISTRY[kind]
    checked = 0
    for case, args, shapes in _cases(kind):
        layer = cls.model_validate(args)
        for training in (True, False):
            # every combination of inputs needing a gradient (two inputs: a - b with b fixed, ...)
            for input_grads in itertools.product(*[(False,) if j in cls.index_inputs else (True, False)
                                                     for j in range(len(shapes))]):
                for frozen in (False, True):
                    torch.manual_seed(0)
                    module = layer.to_torch(shapes).train(training)
                    if frozen:
                        module.requires_grad_(False)
                    trainable = any(p.requires_grad for p in module.parameters())
                    # in place on a leaf that needs a gradient is refused: a non-leaf (x * 1.0, which
                    # keeps nothing) stands in for the layer before
                    inplace = getattr(layer, "inplace", False)
                    # an index input (MaxUnpool's) holds int64 positions in an output plane: no gradient
                    xs = [torch.zeros(s, dtype=torch.int64) if j in cls.index_inputs else
                          torch.randn(s, requires_grad=g) * 1.0 if inplace and g else torch.randn(s, requires_grad=g)
                          for j, (s, g) in enumerate(zip(shapes, input_grads))]
                    try:
                        want, out = measured(module, xs)
                    except (RuntimeError, ValueError):
                        continue   # e.g. batch statistics of one value in train mode
                    where = f"{kind} {case} {args} {shapes} train={training} input_grads={input_grads} frozen={frozen}"
                    width = 8 if xs[0].dtype == torch.float64 else 4
                    got = _rule_bytes(layer, shapes, tuple(out.shape), input_grads, trainable, training, width)
                    if kind in UNKNOWN:
                        assert got is None or not (any(input_grads) or trainable), f"{where}: said to be unknown"
                        continue
                    if got is None:
                        continue   # the rule says it does not know: the report names the layer
                    assert got == want, f"{where}: rule {got} bytes, saved_tensors_hooks {want}"
                    aliased = out.untyped_storage().data_ptr() == xs[0].untyped_storage().data_ptr()
                    if not any(input_grads) and not trainable:
                        assert output_alias(layer, training) == aliased, f"{where}: output shares the input's storage"
                    checked += 1
    assert checked or kind in UNKNOWN, f"{kind}: no example checked"


def _rule_bytes(layer, shapes, out_shape, input_grads, trainable, training, width):
    """The rule's bytes for one layer, by the same storage accounting as saved_for_backward."""
    from convshape.memory.rules import Grads
    from convshape.dims import prod
    grads = Grads(inputs=tuple(g and i not in layer.index_inputs for i, g in enumerate(input_grads)),
                  weight=trainable, training=training)
    if not grads.any:
        return 0
    saved = SAVED[layer.kind](layer, shapes, out_shape, grads, width)
    if saved is None:
        return None
    keys = {("in", i): prod(shapes[i]) * (8 if i in layer.index_inputs else width) for i in saved.inputs}
    if saved.output:
        key = ("in", 0) if output_alias(layer, training) else ("out",)
        keys[key] = prod(out_shape) * width
    if saved.indices:  # the int64 indices the layer returns beside its output
        keys[("indices",)] = prod(out_shape) * 8
    return sum(keys.values()) + sum(saved.extra)


def _one_layer(layer, shape):
    from convshape.graph import INPUT, Network, Node
    return Network("one", shape, [Node("layer", layer, (INPUT,))])


@pytest.mark.parametrize("kind", sorted(REGISTRY))
def test_inference_peak_of_one_layer(kind):
    """Every single-input example and variant: parameters, buffers, input, output and the op's
    temporaries (memory/rules.py: temporaries) equal the live-storage tracker; kinds without a
    temporary rule must be named in the report instead."""
    from convshape.analysis import analyze
    from convshape.memory.rules import NO_TEMPORARY_RULE
    from convshape.torch.memtrack import inference_peak
    cls = REGISTRY[kind]
    checked = 0
    for case, args, shapes in _cases(kind):
        if len(shapes) != 1:
            continue   # several inputs: test_temporaries_of_every_case
        layer = cls.model_validate(args)
        shape = shapes[0]
        report = analyze(_one_layer(layer, shape), shape)
        torch.manual_seed(0)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            measured = inference_peak(layer.to_torch([shape]), torch.randn(shape))
        if kind in NO_TEMPORARY_RULE or kind in WITHOUT_RULE or kind in UNKNOWN:
            assert report.totals.saved_unknown == ("layer",)
        else:
            assert report.totals.inference_peak_bytes == measured, f"{kind} {case} {args} {shape}"
        checked += 1
    assert checked or all(len(s) != 1 for _, _, s in _cases(kind))


@pytest.mark.parametrize("kind", sorted(set(SAVED) - UNKNOWN))
def test_temporaries_of_every_case(kind):
    """The temporaries rule against the tracker on every case, several inputs included: the peak of
    an eval forward under no_grad beyond parameters, buffers, the inputs and a new output."""
    from convshape.memory.rules import temporaries
    from convshape.torch.memtrack import LiveStorages, resident_tensors
    cls = REGISTRY[kind]
    for case, args, shapes in _cases(kind):
        layer = cls.model_validate(args)
        torch.manual_seed(0)
        module = layer.to_torch(shapes).eval()
        # an index input (MaxUnpool's) holds int64 positions in an output plane
        xs = [torch.zeros(s, dtype=torch.int64) if j in cls.index_inputs else torch.randn(s)
              for j, s in enumerate(shapes)]
        with torch.no_grad(), LiveStorages(resident_tensors(module) + xs) as mode, warnings.catch_warnings():
            warnings.simplefilter("ignore")
            base = mode.current
            out = module(*xs)
            outs = out if isinstance(out, tuple) else (out,)   # a pool's (values, indices): both are outputs
            inputs_at = {x.untyped_storage().data_ptr() for x in xs}
            out_bytes = sum(o.untyped_storage().nbytes() for o in outs if o.untyped_storage().data_ptr() not in inputs_at)
            out_shape = tuple(outs[0].shape)
            del out, outs
        want = mode.peak - base - out_bytes
        got = temporaries(layer, shapes, out_shape, 4)   # randn's float32
        if got is None:
            continue   # named in the report (test_inference_peak_of_one_layer)
        assert got == want, f"{kind} {case} {args} {shapes}: rule {got}, tracker {want}"

