"""One contract over the whole layer registry: every kind agrees with its live torch module.

Each layer class declares its own examples (`examples` ClassVar, convshape/layers/examples.py), so a
new kind is covered here with no further wiring, and a kind without a valid example fails. For each
kind, `test_layer_contract` checks:

  (a) the kind has at least one valid example;
  (b) for each valid example, against `layer.to_torch(inputs)` in eval mode:
      - output shape on the meta device and from a real run on small CPU tensors,
      - parameters: trainable (requires_grad) and frozen numel,
      - buffer numel,
      - MACs == torch.utils.flop_counter.FlopCounterMode forward FLOPs / 2,
      - the spec round-trips: model_validate(model_dump(exclude_unset=True)) == layer, also via JSON;
  (c) symbolic: every input dim that can be a symbol is made one; the symbolic figures evaluated at
      three concrete sizes equal the concrete analysis there, every recorded condition holds where
      the concrete analysis succeeds, and one of them fails where it raises;
  (d) for each Rejected example, torch refuses it with the quoted message and convshape refuses it
      too (pydantic ValidationError at construction or ShapeError from the rules).

FlopCounterMode and our MACs: FlopCounterMode counts only matmul-like aten ops (mm, addmm, bmm,
convolution and its backward, attention). It reports 0 for pooling, normalization, activations,
padding, interpolation and element-wise merges, which is our MACs of 0 for those kinds: their
arithmetic is in other_ops, which has no torch counterpart to compare with. For conv, transposed
conv and linear it ignores the bias add, as our MACs do (bias is in other_ops). No forward
discrepancy remains; the one known backward discrepancy (grouped convolution) is not exercised here.

One torch inconsistency is pinned instead of compared: the meta-device shape function of reflection
padding refuses an empty output dim that the CPU kernel returns (ReflectionPad2d((-5, 0, 0, 0)) on
5x5 gives 5x0). convshape follows the CPU kernel; such examples quote the meta message (`meta_says`)
and the test expects that refusal, so it will say when torch makes the two agree.
"""
from __future__ import annotations

import re
import warnings

import pytest
from pydantic import ValidationError

from convshape import rf
from convshape.dims import collect_conditions, prod, release_conditions, substitute, symbol
from convshape.errors import ShapeError
from convshape.layers import REGISTRY, Layer
from convshape.layers.examples import examples_of

torch = pytest.importorskip("torch")
from torch.utils.flop_counter import FlopCounterMode  # noqa: E402

KINDS = sorted(REGISTRY)


def evaluate(layer, shapes):
    """The figures analysis computes for one layer, and the symbolic conditions it records."""
    token, bucket = collect_conditions()
    try:
        layer.check_inferred(shapes)
        out = tuple(layer.output_shape(shapes))
        p = layer.params(shapes)
        figures = {"output_shape": out, "trainable": p.trainable, "frozen": p.frozen,
                   "buffers": layer.buffers(shapes), "macs": layer.macs(shapes, out),
                   "other_ops": layer.other_ops(shapes, out)}
        # the receptive-field operation must compose with a state for this input
        rf.apply(layer.receptive_field(shapes, out), rf.initial(shapes[0]), len(out))
        return figures, list(bucket)
    finally:
        release_conditions(token)


def at(figures, values):
    """Symbolic figures evaluated at concrete symbol values."""
    return {k: tuple(substitute(d, values) for d in v) if k == "output_shape" else substitute(v, values)
            for k, v in figures.items()}


def run(module, shapes, device, index_inputs=(), plane=1):
    """The module's output on inputs of these shapes; an index input (MaxUnpool's) gets int64
    positions below `plane`, the size of one output plane, as a pool's argmax indices are."""
    module.eval()
    if device == "meta":
        xs = [torch.empty(s, device="meta", dtype=torch.int64 if j in index_inputs else None)
              for j, s in enumerate(shapes)]
    else:
        torch.manual_seed(0)
        xs = [torch.randint(0, plane, s) if j in index_inputs else torch.randn(s) for j, s in enumerate(shapes)]
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # e.g. Softmax's implicit dim, Dropout2d on a 2-D input
        return module(*xs)


def values_of(y, layer, where):
    """The output tensor; a layer that also yields indices returns (values, int64 indices of its shape)."""
    if not layer.has_indices():
        return y
    values, indices = y
    assert indices.dtype == torch.int64 and indices.shape == values.shape, f"{where}: indices beside the output"
    return values


def check_against_torch(cls, layer, ex, where):
    shapes = [tuple(s) for s in ex.inputs]
    mine, _ = evaluate(layer, shapes)

    with torch.device("meta"):
        meta_module = layer.to_torch(shapes)
    idx = cls.index_inputs
    plane = prod(mine["output_shape"][-getattr(cls, "ndim", 1):]) if idx else 1
    if ex.meta_says:  # a torch inconsistency: its meta shape function refuses what the CPU kernel runs
        with pytest.raises(Exception, match=ex.meta_says):
            run(meta_module, shapes, "meta", idx)
    else:
        with FlopCounterMode(display=False) as counter:
            y_meta = values_of(run(meta_module, shapes, "meta", idx), layer, where)
        assert tuple(y_meta.shape) == mine["output_shape"], f"{where}: meta-device output shape"
        assert counter.get_total_flops() == 2 * mine["macs"], f"{where}: MACs vs FlopCounterMode / 2"

    module = layer.to_torch(shapes)
    y = values_of(run(module, shapes, "cpu", idx, plane), layer, where)
    assert tuple(y.shape) == mine["output_shape"], f"{where}: CPU output shape"
    params = list(module.parameters())
    assert sum(p.numel() for p in params if p.requires_grad) == mine["trainable"], f"{where}: trainable params"
    assert sum(p.numel() for p in params if not p.requires_grad) == mine["frozen"], f"{where}: frozen params"
    assert sum(b.numel() for b in module.buffers()) == mine["buffers"], f"{where}: buffers"

    assert cls.model_validate(layer.model_dump(exclude_unset=True)) == layer, f"{where}: round trip"
    assert cls.model_validate_json(layer.model_dump_json(exclude_unset=True)) == layer, f"{where}: JSON round trip"


def check_symbolic(layer, ex, where) -> int:
    """Make every dim symbolic that the rules accept as a symbol; returns how many were."""
    shapes = [list(s) for s in ex.inputs]
    original = {}
    for i, shape in enumerate(ex.inputs):
        for j, value in enumerate(shape):
            name = f"d{i}_{j}"
            trial = [list(s) for s in shapes]
            trial[i][j] = symbol(name)
            try:
                evaluate(layer, trial)
            except ShapeError:
                continue  # this dim must be concrete (e.g. channels that set parameter counts)
            shapes, original[name] = trial, value
    if not original:
        return 0
    symbolic, conditions = evaluate(layer, shapes)
    for pick in (lambda v: v, lambda v: v + 1, lambda v: 2 * v + 3):
        values = {name: pick(v) for name, v in original.items()}
        point = [tuple(substitute(d, values) for d in s) for s in shapes]
        holds = [bool(substitute(c.expr, values)) for c in conditions]
        try:
            concrete, _ = evaluate(layer, point)
        except ShapeError:
            assert not all(holds), f"{where}: {point} is invalid but every symbolic condition holds"
            continue
        assert all(holds), f"{where}: {point} is valid but a condition fails: {conditions}"
        assert at(symbolic, values) == concrete, f"{where}: symbolic at {values}"
    return len(original)


def check_rejected(cls, ex, where):
    shapes = [tuple(s) for s in ex.inputs]
    with pytest.raises((ValidationError, ShapeError)):
        evaluate(cls.model_validate(ex.args), shapes)
    with pytest.raises(Exception, match=ex.torch_says) as caught, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        run(unchecked_module(cls, ex, shapes), shapes, "cpu", cls.index_inputs)
    assert not isinstance(caught.value, (ShapeError, ValidationError)), f"{where}: torch must be the one refusing"


def unchecked_module(cls, ex, shapes):
    """The torch module for exactly the written arguments, bypassing convshape's validation;
    inferred arguments (in_channels, ...) come from the input where the spec leaves them out."""
    layer = cls.model_construct(**ex.args)
    try:
        kwargs = layer.torch_kwargs(shapes)
    except ShapeError:
        kwargs = layer.model_dump()
    kwargs.update(ex.args)
    if cls.torch_class == "same":
        return getattr(torch.nn, cls.kind)(**kwargs)
    if cls.torch_class == "torchvision":
        import torchvision.ops
        return getattr(torchvision.ops, cls.kind)(**kwargs)
    from convshape.torch import modules
    return getattr(modules, cls.torch_class or cls.kind)(**kwargs)


@pytest.mark.parametrize("kind", KINDS)
def test_layer_contract(kind):
    cls = REGISTRY[kind]
    examples = examples_of(cls)
    valid = [e for e in examples if not e.rejected]
    assert valid, f"{kind} declares no valid example (add `examples` to the class)"
    symbolic_dims = 0
    for index, ex in enumerate(examples):
        where = f"{kind} example {index} {ex.args} on {list(ex.inputs)}" + (f" ({ex.note})" if ex.note else "")
        if ex.rejected:
            check_rejected(cls, ex, where)
            continue
        layer = cls.model_validate(ex.args)
        check_against_torch(cls, layer, ex, where)
        symbolic_dims += check_symbolic(layer, ex, where)
    assert symbolic_dims, f"{kind}: no example has a dim that can be symbolic"


def test_rejected_examples_quote_torch():
    """A Rejected example without the torch message it expects would accept any failure."""
    for kind, cls in REGISTRY.items():
        for ex in examples_of(cls):
            if ex.rejected:
                assert ex.torch_says, f"{kind}: Rejected({ex.args}) needs torch_says"
                re.compile(ex.torch_says)


def test_a_kind_without_examples_fails_the_contract(monkeypatch):
    class Bare(Layer):
        """A registered kind that forgot its examples."""

    Bare.kind = "Bare"
    monkeypatch.setitem(REGISTRY, "Bare", Bare)
    with pytest.raises(AssertionError, match="declares no valid example"):
        test_layer_contract("Bare")
