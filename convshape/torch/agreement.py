"""Agreement fuzzing: generated layer configurations, convshape against live torch.

A configuration is (layer kind, arguments, input shapes). It is generated from the layer class
alone: its declared examples (layers/examples.py) are the seeds, and each argument is kept or
redrawn from a domain derived from the pydantic field's annotation (ints around the valid range,
including 0 and -1; floats; Literal choices; tuples of 1-3 entries; None where optional); each input
dim is kept or redrawn, and now and then a dim is added or dropped. So a new kind in the registry is
fuzzed with no wiring here. Both valid and invalid configurations come out.

`compare(cls, args, inputs)` then decides agreement:
- validity: convshape rejects (ValidationError at construction, ShapeError from the rules) exactly
  when torch raises (constructing the module or running it on small CPU tensors);
- when both accept: output shape, parameter numel (trainable and frozen), buffer numel, and MACs ==
  FlopCounterMode FLOPs / 2 all agree;
- symbolic: with the batch and spatial dims made symbols, the figures evaluated at the concrete
  sizes equal the concrete ones, and the recorded conditions hold.

The same generator is driven by hypothesis in tests/test_fuzz_agreement.py (short, in CI) and by
random.Random in benchmarks/fuzz_campaign.py (long).
"""
from __future__ import annotations

import copy

import math
import types
import typing
import warnings
from dataclasses import dataclass, field
from typing import Literal, get_args, get_origin

import torch
from pydantic import ValidationError

from ..dims import collect_conditions, release_conditions, substitute, symbol
from ..errors import ShapeError
from ..layers import REGISTRY
from ..layers.examples import examples_of

# Arguments convshape refuses on purpose (a spec carries one tensor per layer), so not fuzzed.
FIXED = {"return_indices": False}
INTS = (-1, 0, 1, 2, 3, 4, 5, 6, 8)
FLOATS = (0.0, 1e-5, 0.1, 0.25, 0.5, 1.0, 1.5, 2.0, -0.5)
DIMS = (1, 2, 3, 4, 5, 6, 7, 8, 9, 12)


@dataclass
class Outcome:
    kind: str
    args: dict
    inputs: tuple
    convshape_ok: bool
    torch_ok: bool
    disagreements: list = field(default_factory=list)
    convshape_error: str = ""
    torch_error: str = ""
    intentional: str = ""   # convshape refuses on purpose where torch accepts (INTENTIONAL)
    counter_blind_spot: str = ""   # MACs FlopCounterMode misses (COUNTER_BLIND_SPOTS): convshape's stand

    @property
    def agree(self) -> bool:
        return not self.disagreements

    def __str__(self):
        return (f"{self.kind}({self.args}) on {list(self.inputs)}: " + "; ".join(self.disagreements)
                + (f" [convshape: {self.convshape_error}]" if self.convshape_error else "")
                + (f" [torch: {self.torch_error}]" if self.torch_error else ""))


# ------------------------------------------------------------------ generation
class Chooser:
    """What generation needs from a random source: pick one of a sequence, flip a biased coin."""

    def choice(self, seq):
        raise NotImplementedError

    def chance(self, p: float) -> bool:
        raise NotImplementedError


class RandomChooser(Chooser):
    def __init__(self, rng):
        self.rng = rng

    def choice(self, seq):
        return seq[self.rng.randrange(len(seq))]

    def chance(self, p):
        return self.rng.random() < p


def _strip(annotation):
    while get_origin(annotation) is typing.Annotated:
        annotation = get_args(annotation)[0]
    return annotation


def draw_value(annotation, ch: Chooser):
    """A value for a field annotation: mostly valid, sometimes out of range."""
    ann = _strip(annotation)
    origin = get_origin(ann)
    if origin in (typing.Union, types.UnionType):
        return draw_value(ch.choice(get_args(ann)), ch)
    if origin is Literal:
        return ch.choice(get_args(ann))
    if origin is tuple:
        args = get_args(ann)
        if len(args) == 2 and args[1] is Ellipsis:
            n = ch.choice((1, 2, 3, 2, 3))
            return tuple(draw_value(args[0], ch) for _ in range(n))
        return tuple(draw_value(a, ch) for a in args)
    if ann is type(None):
        return None
    if ann is bool:
        return ch.choice((False, True))
    if ann is int:
        return ch.choice(INTS)
    if ann is float:
        return ch.choice(FLOATS)
    if ann is str:
        return ch.choice(("a", ""))
    return None


def generate(cls, ch: Chooser):
    """(args, inputs) for layer class `cls`, seeded by one of its examples."""
    seeds = examples_of(cls)
    seed = ch.choice(seeds) if seeds else None
    args = dict(seed.args) if seed else {}
    for name, f in cls.model_fields.items():
        if name in FIXED:
            args.pop(name, None)
            continue
        present = name in args
        if present and ch.chance(0.6):
            continue
        if not present and not f.is_required() and ch.chance(0.6):
            continue
        args[name] = draw_value(f.annotation, ch)
        if args[name] is None and not present and not f.is_required():
            del args[name]
    inputs = []
    for shape in (seed.inputs if seed else ((2, 3, 8, 8),)):
        dims = [d if ch.chance(0.5) else ch.choice(DIMS) for d in shape]
        if ch.chance(0.08) and len(dims) > 1:
            dims.pop(ch.choice(range(len(dims))))
        elif ch.chance(0.08) and len(dims) < 5:
            dims.insert(0, ch.choice(DIMS))
        inputs.append(tuple(dims))
    return args, tuple(inputs)


# ------------------------------------------------------------------ comparison
def convshape_figures(layer, inputs) -> dict:
    layer.check_inferred(list(inputs))
    out = tuple(layer.output_shape(list(inputs)))
    p = layer.params(list(inputs))
    return {"output_shape": out, "trainable": p.trainable, "frozen": p.frozen,
            "buffers": layer.buffers(list(inputs)), "macs": layer.macs(list(inputs), out)}


def torch_module(cls, args: dict, inputs: tuple):
    """The torch module for the arguments as written, without convshape's validation.

    Input-side sizes (in_channels, num_features, ...) are the written ones when written, so torch
    sees a mismatch exactly as a user's code would; otherwise they come from the input, as
    torch_kwargs infers them (or, where convshape's inference itself refuses the input, from the
    dim torch would read).
    """
    from ..layers.base import Layer
    layer = cls.model_construct(**args)
    if type(layer).to_torch is not Layer.to_torch:
        return layer.to_torch(list(inputs))  # a kind with its own builder
    try:
        kwargs = layer.torch_kwargs(list(inputs))
    except ShapeError:
        kwargs = layer.model_dump()
        for name in cls.inferred:
            kwargs[name] = _dim_for(name, cls, inputs[0])
    for name in cls.inferred:
        if args.get(name) is not None:
            kwargs[name] = args[name]
    if cls.torch_class == "same":
        return getattr(torch.nn, cls.kind)(**kwargs)
    from . import modules
    return getattr(modules, cls.torch_class or cls.kind)(**kwargs)


def _dim_for(name, cls, shape):
    ndim = getattr(cls, "ndim", None)
    if name == "in_features" or not shape:
        return shape[-1] if shape else 1
    if name == "in_channels" and ndim and len(shape) > ndim:
        return shape[-ndim - 1]
    return shape[1] if len(shape) > 1 else shape[0]


# FlopCounterMode does not see the CPU attention kernels (nn.MultiheadAttention's fast path,
# _scaled_dot_product_flash_attention_for_cpu) nor nn.LSTM's fused CPU kernel (0 FLOPs): count these
# on the meta device, where they decompose into the matrix products it counts
META_COUNTED = ("MultiheadAttention", "ScaledDotProductAttention", "LSTM")


def torch_figures(module, inputs, index_inputs=()) -> dict:
    from torch.utils.flop_counter import FlopCounterMode
    module.eval()
    # an index input (MaxUnpool's) holds int64 positions in an output plane: 0 is one wherever it is not empty
    xs = [torch.zeros(s, dtype=torch.int64) if j in index_inputs else torch.randn(s) for j, s in enumerate(inputs)]
    with torch.no_grad():
        y = module(*xs)  # validity and shape outside the counter: under FlopCounterMode some ops
        counted, args = (module, xs) if type(module).__name__ not in META_COUNTED else \
            (copy.deepcopy(module).to("meta"), [x.to("meta") for x in xs])
        with FlopCounterMode(display=False) as fc:  # decompose and skip their size checks
            counted(*args)
    return {"output_shape": tuple(y.shape), "_zero_param": any(0 in p.shape for p in module.parameters()),
            "trainable": sum(p.numel() for p in module.parameters() if p.requires_grad),
            "frozen": sum(p.numel() for p in module.parameters() if not p.requires_grad),
            "buffers": sum(b.numel() for b in module.buffers()),
            "macs": fc.get_total_flops() // 2}


def compare(cls, args: dict, inputs: tuple) -> Outcome:
    inputs = tuple(tuple(s) for s in inputs)
    out = Outcome(cls.kind, args, inputs, True, True)
    layer = None
    ours = theirs = module = None
    try:
        layer = cls.model_validate(args)
        ours = convshape_figures(layer, inputs)
    except (ValidationError, ShapeError, ValueError) as e:
        out.convshape_ok = False
        out.convshape_error = str(e).splitlines()[0] if str(e) else type(e).__name__
    except Exception as e:  # noqa: BLE001 - a crash is a disagreement of its own
        out.convshape_ok = False
        out.disagreements.append(f"convshape crashed: {type(e).__name__}: {e}")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            module = torch_module(cls, args, inputs)
            theirs = torch_figures(module, inputs, cls.index_inputs)
    except Exception as e:  # noqa: BLE001 - any torch error is torch refusing the configuration
        out.torch_ok = False
        out.torch_error = f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"[:200]
    if out.torch_ok and not out.convshape_ok:
        for name, applies, _why in INTENTIONAL:
            if applies(cls, args, module, theirs):
                out.intentional = name
                return out
    if out.convshape_ok != out.torch_ok:
        out.disagreements.append(f"validity: convshape {'accepts' if out.convshape_ok else 'rejects'}, "
                                 f"torch {'accepts' if out.torch_ok else 'rejects'}")
        return out
    if not (out.convshape_ok and out.torch_ok):
        return out
    for k, v in ours.items():
        if v != theirs.get(k):
            if k == "macs" and (blind := next((n for n, applies, _ in COUNTER_BLIND_SPOTS if applies(cls, args, inputs)),
                                              None)):
                out.counter_blind_spot = blind  # torch's counter, not convshape, is short here (proved in tests)
                continue
            out.disagreements.append(f"{k}: convshape {v}, torch {theirs[k]}")
    if not out.disagreements:
        out.disagreements.extend(_symbolic(cls, layer, inputs, ours))
    return out


def _ignored_input_size(cls, args, module, figures):
    """A written input-side size (num_features, ...) that sizes no parameter or buffer in torch."""
    written = [n for n in cls.inferred if args.get(n) is not None]
    return bool(written) and not any(True for _ in module.parameters()) and not any(True for _ in module.buffers())


def _empty(cls, args, module, figures):
    return 0 in figures["output_shape"] or figures["_zero_param"]


def _unchecked_conv_padding(cls, args, module, figures):
    if args.get("padding_mode", "zeros") == "zeros" or cls.family != "conv":
        return False
    pad = args.get("padding", 0)
    pads = pad if isinstance(pad, tuple) else (pad,)
    ndim = getattr(cls, "ndim", 0)
    return any(isinstance(p, int) and p < 0 for p in pads) or (isinstance(pad, tuple) and len(pad) not in (1, ndim))


def _circular_undefined(cls, args, module, figures):
    """A circular pad whose crop leaves K values with K < 1 or K < a pad: torch's margins are then
    copied from memory the crop never wrote, or from an overlapping view of the output itself."""
    if not cls.kind.startswith("CircularPad"):
        return False
    try:
        layer = cls.model_validate(args)
    except ValueError:  # pydantic's ValidationError too
        return False
    out = figures["output_shape"]
    for i, (left, right) in enumerate(layer.pairs()):
        kept = out[len(out) - 1 - i] - max(left, 0) - max(right, 0)
        if min(left, right) < 0 and kept < max(1, left, right):
            return True
    return False


# Configurations torch accepts and convshape refuses on purpose (docs/torch.md lists them).
# Where FlopCounterMode counts too little, by name; tests/test_fuzz_agreement.py proves each one on torch
# (it fails once torch counts them) and docs/conventions.md lists them.
COUNTER_BLIND_SPOTS = [
    ("matmul-with-a-vector", lambda cls, args, inputs: cls.kind == "MatMul" and len(inputs[1]) == 1,
     "a matmul whose second factor is 1-D runs aten.dot / aten.mv, which FlopCounterMode counts as 0"),
    ("einsum-contraction-of-one", lambda cls, args, inputs:
     cls.kind == "RelativePositionalMultiHeadAttention" and args.get("head_dim") == 1,
     "with head_dim 1, torch.einsum computes q·kᵀ as a broadcast multiply, which FlopCounterMode counts as 0"),
]

INTENTIONAL = [
    ("empty-tensor", _empty,
     "convshape requires every size >= 1; torch makes empty outputs or parameters (e.g. Linear(out_features=0))"),
    ("ignored-input-size", _ignored_input_size,
     "a written input-side size (num_features, ...) is checked against the input even where torch ignores it "
     "(BatchNorm with affine=False and no running stats)"),
    ("non-positive-divisor", lambda cls, args, m, f: (args.get("divisor_override") or 1) < 1,
     "divisor_override must be positive; torch divides by any non-zero value, negative ones too"),
    ("zero-scale", lambda cls, args, m, f: args.get("scale_factor") in (0, 0.0),
     "scale_factor 0: nn.Upsample silently treats a falsy scale_factor as unset"),
    ("unchecked-conv-padding", _unchecked_conv_padding,
     "a negative or wrong-length conv padding with padding_mode reflect/replicate/circular: torch checks "
     "padding only for padding_mode='zeros' and otherwise pads (or crops) whatever it is given"),
    ("circular-undefined", _circular_undefined,
     "a circular pad whose crop leaves fewer values than 1 or than a pad: torch returns uninitialized "
     "memory, or copies the output onto an overlapping view of itself (refused by torch when every dim "
     "before is 1, undefined otherwise)"),
    ("frozen-bn-broadcasts", lambda cls, args, m, f: cls.kind == "FrozenBatchNorm2d",
     "FrozenBatchNorm2d checks nothing: its (1, C, 1, 1) buffers broadcast against any input, so torch "
     "accepts num_features 1 on C channels, or a 3-D input (made 4-D); convshape requires (N, num_features, H, W)"),
]


def _symbolic(cls, layer, inputs, concrete) -> list:
    """Batch and spatial dims as symbols; evaluated at the concrete sizes they must agree."""
    ndim = getattr(cls, "ndim", None)
    sym_inputs, values = [], {}
    for j, shape in enumerate(inputs):
        dims = list(shape)
        free = set()
        if len(dims) >= 2:
            free.add(0)
        if ndim and len(dims) > ndim:
            free.update(range(len(dims) - ndim, len(dims)))
        for i in free:
            name = f"d{j}_{i}"
            values[name] = dims[i]
            dims[i] = symbol(name)
        sym_inputs.append(tuple(dims))
    if not values:
        return []
    token, bucket = collect_conditions()
    try:
        figures = convshape_figures(layer, sym_inputs)
    except ShapeError:
        return []  # e.g. a size that sets parameter counts must be a number: concrete only
    except Exception as e:  # noqa: BLE001
        return [f"symbolic rules crashed: {type(e).__name__}: {e}"]
    finally:
        release_conditions(token)
    problems = []
    for k, v in figures.items():
        got = tuple(substitute(d, values) for d in v) if k == "output_shape" else substitute(v, values)
        if got != concrete[k]:
            problems.append(f"symbolic {k}: {v} at {values} is {got}, concrete {concrete[k]}")
    for c in bucket:
        held = c.expr.subs({s: values[s.name] for s in c.expr.free_symbols})
        if not bool(held):
            problems.append(f"symbolic condition {c.expr} fails at {values} where the layer is valid")
    return problems


def kinds() -> list:
    return sorted(REGISTRY)


def campaign(n: int, seed: int = 0, progress=None, on_failure=None) -> dict:
    """Run n random configurations round-robin over the registry; returns counts and failures
    (each also passed to `on_failure` as it is found, so a long run shows them early)."""
    import random
    rng = random.Random(seed)
    ch = RandomChooser(rng)
    names = kinds()
    counts = {"configurations": 0, "both_valid": 0, "both_invalid": 0, "intentional": 0, "disagreements": 0,
              "too_large": 0}
    failures = []
    for i in range(n):
        cls = REGISTRY[names[i % len(names)]]
        args, inputs = generate(cls, ch)
        if math.prod(math.prod(s) for s in inputs) > 10 ** 7:
            counts["too_large"] += 1  # not run: keeps a campaign's memory and time bounded
            continue
        o = compare(cls, args, inputs)
        counts["configurations"] += 1
        if o.convshape_ok and o.torch_ok:
            counts["both_valid"] += 1
        elif not o.convshape_ok and not o.torch_ok:
            counts["both_invalid"] += 1
        elif o.intentional:
            counts["intentional"] += 1
        if not o.agree:
            counts["disagreements"] += 1
            failures.append(o)
            if on_failure:
                on_failure(i, o)
        if progress and (i + 1) % 5000 == 0:
            progress(i + 1, counts)
    return {"counts": counts, "failures": failures}
