"""Import an existing nn.Module as a convshape Network: `from_torch(module, input_shape)`.

torch.fx symbolic tracing first; where that fails (data-dependent Python, e.g. 'same' padding
computed from x.shape), an eager trace on the meta device (trace.py). Both give a list of recorded
operations, which one mapper turns into layer models:

- a module whose class name is a registered layer kind (nn.Conv2d, nn.BatchNorm2d, torchvision's
  StochasticDepth and Permute, ...) becomes that kind, its arguments read from the module's
  attributes by the layer's own field names, so a new kind imports with no wiring here;
- functional and tensor ops (F.relu and friends, +, *, torch.cat, flatten, view/reshape, mean over
  the spatial dims, pooling, F.interpolate, F.pad, F.conv2d/F.linear/F.layer_norm on module
  parameters, permute, chunk/split into a Concat's inputs ...) map through OPS below;
- an op that does not change values (dropout in eval mode, contiguous, clone, .float()) is skipped.

Every op that produces a tensor and maps to nothing is reported by name with its module and source
line (UnmappedOps); nothing is dropped silently. The result is checked against the traced shapes,
node by node, before it is returned.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from pydantic import ValidationError
from torch import nn

from ..errors import ConvshapeError
from ..graph import INPUT, Network, Node
from ..layers import REGISTRY
from .trace import Op, Ref, TraceFailed, trace_eager, trace_fx


class UnmappedOps(ConvshapeError):
    """The module uses operations convshape has no layer kind for (listed with their locations)."""

    exit_code = 2

    def __init__(self, items: list):
        self.items = items
        lines = "; ".join(f"{what} at {where}" for what, where in items[:8])
        more = f" (+{len(items) - 8} more)" if len(items) > 8 else ""
        super().__init__(f"cannot import {len(items)} operation(s): {lines}{more}")


@dataclass
class Mapped:
    """One or more layers (applied in sequence) produced by one op, or a pass-through (kinds=[])."""
    layers: list           # [(kind, args)]
    inputs: list           # op refs feeding the first layer


def _canonical(target) -> str:
    if isinstance(target, str):
        name = target
    else:
        name = getattr(target, "__name__", "") or type(target).__name__
    if name.startswith("__") and name.endswith("__"):
        name = name[2:-2]
        if name.startswith(("i", "r")) and name[1:] in ("add", "mul", "sub", "truediv"):
            name = name[1:]
    return name.rstrip("_") if name.endswith("_") and not name.endswith("__") else name


# ------------------------------------------------------------------ leaf modules
def layer_kind_of_module(m: nn.Module):
    """The registered layer class for a torch module of the same class name, or None."""
    cls = REGISTRY.get(type(m).__name__)
    mod = type(m).__module__
    if cls is None or not (mod.startswith("torch.nn") or mod.startswith("torchvision.ops")):
        return None
    return cls


def is_leaf(m: nn.Module) -> bool:
    return layer_kind_of_module(m) is not None


def module_args(m: nn.Module, cls) -> dict:
    """Constructor arguments of layer class `cls` read from module `m`'s attributes."""
    args = {}
    for fname, f in cls.model_fields.items():
        if fname in cls.inferred or fname == "inplace" or not hasattr(m, fname):
            continue  # inplace changes neither shapes nor counts
        v = getattr(m, fname)
        if f.annotation is bool and (v is None or isinstance(v, torch.Tensor)):
            v = v is not None  # bias=True means "has a bias parameter"
        elif isinstance(v, torch.Tensor):
            continue  # a parameter that happens to share a field's name (e.g. PReLU's init)
        args[fname] = _plain(v)
        if f.default is not None and args[fname] == _plain(f.default) and fname not in ("p",):
            del args[fname]
        elif f.default is None and args[fname] is None:
            del args[fname]
    if type(m).__name__ == "PReLU":
        args["num_parameters"] = m.num_parameters
    return args


def _plain(v):
    if isinstance(v, torch.Size):
        v = tuple(v)
    if isinstance(v, list):
        v = tuple(v)
    if isinstance(v, tuple):
        v = tuple(_plain(x) for x in v)
        if v and all(x == v[0] for x in v) and all(isinstance(x, int) and not isinstance(x, bool) for x in v):
            return v[0]  # (3, 3) -> 3: torch expands an int the same way
        return v
    return v


# ------------------------------------------------------------------ functional and tensor ops
SIGNATURES = {
    "relu": ("input", "inplace"), "relu6": ("input", "inplace"), "silu": ("input", "inplace"),
    "sigmoid": ("input",), "tanh": ("input",), "hardswish": ("input", "inplace"),
    "hardsigmoid": ("input", "inplace"), "mish": ("input", "inplace"), "gelu": ("input", "approximate"),
    "leaky_relu": ("input", "negative_slope", "inplace"), "elu": ("input", "alpha", "inplace"),
    "hardtanh": ("input", "min_val", "max_val", "inplace"),
    "softmax": ("input", "dim", "_stacklevel", "dtype"), "log_softmax": ("input", "dim", "_stacklevel", "dtype"),
    "add": ("input", "other", "alpha"), "mul": ("input", "other"),
    "cat": ("tensors", "dim"), "concat": ("tensors", "dim"), "stack": ("tensors", "dim"),
    "flatten": ("input", "start_dim", "end_dim"),
    "view": ("input", "*shape"), "reshape": ("input", "*shape"),
    "permute": ("input", "*dims"), "transpose": ("input", "dim0", "dim1"),
    "mean": ("input", "dim", "keepdim", "dtype"),
    "adaptive_avg_pool1d": ("input", "output_size"), "adaptive_avg_pool2d": ("input", "output_size"),
    "adaptive_avg_pool3d": ("input", "output_size"), "adaptive_max_pool1d": ("input", "output_size"),
    "adaptive_max_pool2d": ("input", "output_size"), "adaptive_max_pool3d": ("input", "output_size"),
    "avg_pool1d": ("input", "kernel_size", "stride", "padding", "ceil_mode", "count_include_pad"),
    "avg_pool2d": ("input", "kernel_size", "stride", "padding", "ceil_mode", "count_include_pad", "divisor_override"),
    "avg_pool3d": ("input", "kernel_size", "stride", "padding", "ceil_mode", "count_include_pad", "divisor_override"),
    "max_pool1d": ("input", "kernel_size", "stride", "padding", "dilation", "ceil_mode", "return_indices"),
    "max_pool2d": ("input", "kernel_size", "stride", "padding", "dilation", "ceil_mode", "return_indices"),
    "max_pool3d": ("input", "kernel_size", "stride", "padding", "dilation", "ceil_mode", "return_indices"),
    "interpolate": ("input", "size", "scale_factor", "mode", "align_corners", "recompute_scale_factor", "antialias"),
    "upsample": ("input", "size", "scale_factor", "mode", "align_corners"),
    "pad": ("input", "pad", "mode", "value"),
    "conv1d": ("input", "weight", "bias", "stride", "padding", "dilation", "groups"),
    "conv2d": ("input", "weight", "bias", "stride", "padding", "dilation", "groups"),
    "conv3d": ("input", "weight", "bias", "stride", "padding", "dilation", "groups"),
    "linear": ("input", "weight", "bias"),
    "layer_norm": ("input", "normalized_shape", "weight", "bias", "eps"),
    "group_norm": ("input", "num_groups", "weight", "bias", "eps"),
    "batch_norm": ("input", "running_mean", "running_var", "weight", "bias", "training", "momentum", "eps"),
    "dropout": ("input", "p", "training", "inplace"), "dropout2d": ("input", "p", "training", "inplace"),
    "stochastic_depth": ("input", "p", "mode", "training"),
    "chunk": ("input", "chunks", "dim"), "split": ("input", "split_size_or_sections", "dim"),
    "expand_as": ("input", "other"), "expand": ("input", "*sizes"),
    "getitem": ("input", "index"), "contiguous": ("input",), "clone": ("input",),
    "float": ("input",), "to": ("input",), "pixel_shuffle": ("input", "upscale_factor"),
    "pixel_unshuffle": ("input", "downscale_factor"), "channel_shuffle": ("input", "groups"),
}
PASS_THROUGH = {"contiguous", "clone", "float", "to", "dropout", "dropout2d", "dropout1d", "dropout3d",
                "alpha_dropout", "feature_alpha_dropout", "detach",
                # a broadcast made explicit: the element-wise op that reads it broadcasts the same way
                # (the node-by-node shape check afterwards catches any other reader)
                "expand_as", "expand"}
ELEMENTWISE = {"relu": "ReLU", "relu6": "ReLU6", "silu": "SiLU", "sigmoid": "Sigmoid", "tanh": "Tanh",
               "hardswish": "Hardswish", "hardsigmoid": "Hardsigmoid", "mish": "Mish", "gelu": "GELU",
               "leaky_relu": "LeakyReLU", "elu": "ELU"}


def bind(name: str, args: tuple, kwargs: dict) -> dict:
    sig = SIGNATURES.get(name, ("input",))
    out = {}
    for i, a in enumerate(args):
        if i < len(sig) and sig[i].startswith("*"):
            rest = args[i:]
            out[sig[i][1:]] = tuple(rest[0]) if len(rest) == 1 and isinstance(rest[0], (tuple, list)) else tuple(rest)
            break
        out[sig[i] if i < len(sig) else f"arg{i}"] = a
    for k, v in kwargs.items():
        if k == "__path__":
            continue
        out[k] = tuple(v) if k in ("dims", "shape") and isinstance(v, list) else v
    return out


class _Mapper:
    def __init__(self, ops: list):
        self.ops = {op.name: op for op in ops}
        self.position = {op.name: i for i, op in enumerate(ops)}  # to list causes in program order
        self.derived: set = set()  # ops computed from parameters alone (gamma.view(1, -1, 1, 1))
        self.calls: dict = {}      # parameter keys -> the first node holding them (shared weights)

    def value(self, v):
        """Resolve a Ref to a non-tensor value (ints from x.size(), tuples), recursively."""
        if isinstance(v, Ref):
            return self.ops[v.name].value
        if isinstance(v, (tuple, list)):
            return type(v)(self.value(x) for x in v)
        return v

    def shape(self, ref) -> tuple:
        return tuple(self.ops[ref.name].value.shape)

    def param(self, ref, buffers: bool = False):
        """The op holding a Parameter (or a value computed from parameters only), else None."""
        op = self.ops.get(ref.name) if isinstance(ref, Ref) else None
        if op is None or not (op.kind == "param" or op.name in self.derived):
            return None
        return op if buffers or not op.kwargs.get("__buffer__") else None

    def is_fixed(self, ref) -> bool:
        op = self.ops.get(ref.name) if isinstance(ref, Ref) else None
        return op is not None and (op.kind == "param" or op.name in self.derived) and bool(op.kwargs.get("__buffer__"))

    def map(self, op: Op):
        """-> Mapped, or a string naming why it is unmapped."""
        if op.kind == "module":
            m = op.target
            cls = layer_kind_of_module(m)
            tensors = [a for a in op.args if isinstance(a, Ref)]
            return Mapped([(cls.kind, module_args(m, cls))], tensors)
        name = _canonical(op.target)
        a = bind(name, op.args, op.kwargs)
        x = a.get("input")
        out = op.value
        if name in PASS_THROUGH:
            if name == "to" and isinstance(out, torch.Tensor) and out.dtype != self.ops[x.name].value.dtype:
                return f"{name} (dtype change)"
            return Mapped([], [x])
        if name in ELEMENTWISE:
            args = {}
            if name == "leaky_relu" and a.get("negative_slope", 0.01) != 0.01:
                args["negative_slope"] = float(a["negative_slope"])
            if name == "elu" and a.get("alpha", 1.0) != 1.0:
                args["alpha"] = float(a["alpha"])
            if name == "gelu" and a.get("approximate", "none") != "none":
                args["approximate"] = a["approximate"]
            return Mapped([(ELEMENTWISE[name], args)], [x])
        if name == "hardtanh" and (a.get("min_val", -1.0), a.get("max_val", 1.0)) == (0.0, 6.0):
            return Mapped([("ReLU6", {})], [x])
        if name in ("softmax", "log_softmax"):
            return Mapped([("Softmax" if name == "softmax" else "LogSoftmax", {"dim": a.get("dim")})], [x])
        handler = getattr(self, "op_" + name, None)
        if handler is None:
            return name
        return handler(a, out)

    # ---- merges
    def _binary(self, kind, a, out):
        x, y = a.get("input"), a.get("other")
        if isinstance(x, Ref) and isinstance(y, Ref):
            px, py = self.param(x), self.param(y)
            if kind == "Mul" and (px or py):
                return self._scale(y if px else x, px or py, out)
            if px or py or self.is_fixed(x) or self.is_fixed(y):
                return f"{kind.lower()} with a {'parameter' if px or py else 'buffer'}"
            if a.get("alpha", 1) != 1:
                return "add with alpha"
            return Mapped([(kind, {})], [x, y])
        # x + 0 and x * 1 (re-parameterizable branches switched off): the identity
        tensor, const = (x, y) if isinstance(x, Ref) else (y, x)
        if isinstance(tensor, Ref) and not isinstance(const, Ref) and const == (0 if kind == "Add" else 1) \
                and a.get("alpha", 1) == 1 and tuple(out.shape) == self.shape(tensor):
            return Mapped([], [tensor])
        return f"{kind.lower()} with a constant"

    def _scale(self, x, p, out):
        """parameter * tensor: a LayerScale when the parameter holds one value per channel of a dim."""
        shape = tuple(p.value.shape)
        rank = len(self.shape(x))
        nontrivial = [i for i, s in enumerate(shape) if s != 1]
        if len(nontrivial) != 1:
            return "mul by a parameter that is not per-channel"
        dim = nontrivial[0] - len(shape)  # counted from the right, as broadcasting does
        return Mapped([("LayerScale", {} if dim % rank == 1 else {"dim": dim})], [x])

    def op_add(self, a, out):
        return self._binary("Add", a, out)

    def op_mul(self, a, out):
        return self._binary("Mul", a, out)

    def op_cat(self, a, out):
        tensors = list(a["tensors"])
        if len(tensors) == 1:
            return Mapped([], tensors)
        dim = a.get("dim", 0)
        return Mapped([("Concat", {} if dim == 1 else {"dim": dim})], tensors)

    op_concat = op_cat

    # ---- reshapes
    def op_flatten(self, a, out):
        args = {}
        if a.get("start_dim", 0) != 1:  # torch.flatten and Tensor.flatten start at 0, nn.Flatten at 1
            args["start_dim"] = a.get("start_dim", 0)
        if a.get("end_dim", -1) != -1:
            args["end_dim"] = a["end_dim"]
        return Mapped([("Flatten", args)], [a["input"]])

    def op_view(self, a, out):
        return self._reshape(a["input"], tuple(out.shape))

    op_reshape = op_view

    def _reshape(self, x, target):
        src = self.shape(x)
        for s in range(len(src)):
            for e in range(s, len(src)):
                if src[:s] + (math.prod(src[s:e + 1]),) + src[e + 1:] == target and e > s:
                    args = {}
                    if s != 1:
                        args["start_dim"] = s
                    if e != len(src) - 1:
                        args["end_dim"] = e
                    return Mapped([("Flatten", args)], [x])
        if target == src:
            return Mapped([], [x])
        for d in range(len(src)):  # one dim split in several (channel shuffle's view)
            k = len(target) - len(src) + 1
            if k > 1 and target[:d] == src[:d] and target[d + k:] == src[d + 1:] and \
                    math.prod(target[d:d + k]) == src[d]:
                return Mapped([("Unflatten", {"dim": d, "unflattened_size": tuple(target[d:d + k])})], [x])
        shape = list(target)
        if target and src and target[0] == src[0]:
            shape[0] = -1 if shape.count(-1) == 0 else shape[0]
        return Mapped([("Reshape", {"shape": tuple(shape)})], [x])

    def op_permute(self, a, out):
        return Mapped([("Permute", {"dims": tuple(a["dims"])})], [a["input"]])

    def op_transpose(self, a, out):
        rank = len(self.shape(a["input"]))
        dims = list(range(rank))
        d0, d1 = a["dim0"] % rank, a["dim1"] % rank
        dims[d0], dims[d1] = dims[d1], dims[d0]
        return Mapped([("Permute", {"dims": tuple(dims)})], [a["input"]])

    # ---- pooling
    def op_mean(self, a, out):
        x = a["input"]
        rank = len(self.shape(x))
        dims = a.get("dim")
        dims = (dims,) if isinstance(dims, int) else tuple(dims or ())
        dims = tuple(sorted(d % rank for d in dims))
        n = rank - 2
        if not 1 <= n <= 3 or dims != tuple(range(2, rank)):
            return "mean over dims other than all spatial dims"
        layers = [(f"AdaptiveAvgPool{n}d", {"output_size": 1})]
        if not a.get("keepdim", False):
            layers.append(("Flatten", {}))
        return Mapped(layers, [x])

    def _pool(self, kind, a, keys):
        args = {k: _plain(self.value(a[k])) for k in keys if k in a and a[k] is not None}
        if args.get("return_indices"):
            return "pooling with return_indices"
        args.pop("return_indices", None)
        return Mapped([(kind, args)], [a["input"]])

    def _adaptive(self, kind, a, out):
        return Mapped([(kind, {"output_size": _plain(self.value(a["output_size"]))})], [a["input"]])

    def op_adaptive_avg_pool1d(self, a, out):
        return self._adaptive("AdaptiveAvgPool1d", a, out)

    def op_adaptive_avg_pool2d(self, a, out):
        return self._adaptive("AdaptiveAvgPool2d", a, out)

    def op_adaptive_avg_pool3d(self, a, out):
        return self._adaptive("AdaptiveAvgPool3d", a, out)

    def op_adaptive_max_pool1d(self, a, out):
        return self._adaptive("AdaptiveMaxPool1d", a, out)

    def op_adaptive_max_pool2d(self, a, out):
        return self._adaptive("AdaptiveMaxPool2d", a, out)

    def op_adaptive_max_pool3d(self, a, out):
        return self._adaptive("AdaptiveMaxPool3d", a, out)

    def op_avg_pool1d(self, a, out):
        return self._pool("AvgPool1d", a, SIGNATURES["avg_pool1d"][1:])

    def op_avg_pool2d(self, a, out):
        return self._pool("AvgPool2d", a, SIGNATURES["avg_pool2d"][1:])

    def op_avg_pool3d(self, a, out):
        return self._pool("AvgPool3d", a, SIGNATURES["avg_pool3d"][1:])

    def op_max_pool1d(self, a, out):
        return self._pool("MaxPool1d", a, SIGNATURES["max_pool1d"][1:])

    def op_max_pool2d(self, a, out):
        return self._pool("MaxPool2d", a, SIGNATURES["max_pool2d"][1:])

    def op_max_pool3d(self, a, out):
        return self._pool("MaxPool3d", a, SIGNATURES["max_pool3d"][1:])

    # ---- resampling, padding
    def op_interpolate(self, a, out):
        args = {k: _plain(self.value(a[k])) for k in ("size", "scale_factor", "mode", "align_corners",
                                                       "recompute_scale_factor") if a.get(k) is not None}
        if a.get("antialias"):
            return "interpolate with antialias"
        return Mapped([("Upsample", args)], [a["input"]])

    op_upsample = op_interpolate

    def op_pad(self, a, out):
        pad = tuple(self.value(a["pad"]))
        mode = a.get("mode", "constant") or "constant"
        value = a.get("value", None)
        n = max(len(pad) // 2, 1)
        if mode == "constant":
            kind = "ZeroPad" if not value else "ConstantPad"
            rank = len(self.shape(a["input"]))
            n = min(max(rank - 2, 1), 3)
            args = {"padding": pad} if kind == "ZeroPad" else {"padding": pad, "value": float(value)}
            return Mapped([(f"{kind}{n}d", args)], [a["input"]])
        kind = {"reflect": "ReflectionPad", "replicate": "ReplicationPad", "circular": "CircularPad"}.get(mode)
        if kind is None:
            return f"pad mode {mode!r}"
        return Mapped([(f"{kind}{n}d", {"padding": pad})], [a["input"]])

    def op_pixel_shuffle(self, a, out):
        return Mapped([("PixelShuffle", {"upscale_factor": a["upscale_factor"]})], [a["input"]])

    def op_pixel_unshuffle(self, a, out):
        return Mapped([("PixelUnshuffle", {"downscale_factor": a["downscale_factor"]})], [a["input"]])

    def op_channel_shuffle(self, a, out):
        return Mapped([("ChannelShuffle", {"groups": a["groups"]})], [a["input"]])

    # ---- functional layers on module parameters
    def _conv(self, n, a, out):
        w = self.param(a.get("weight"))
        if w is None:
            return f"conv{n}d with a {'fixed (buffer)' if self.is_fixed(a.get('weight')) else 'computed'} weight"
        shape = tuple(w.value.shape)
        groups = a.get("groups", 1)
        args = {"out_channels": shape[0], "kernel_size": _plain(shape[2:]),
                "stride": _plain(self.value(a.get("stride", 1))), "padding": _plain(self.value(a.get("padding", 0))),
                "dilation": _plain(self.value(a.get("dilation", 1))), "groups": groups,
                "bias": a.get("bias") is not None}
        defaults = {"stride": 1, "padding": 0, "dilation": 1, "groups": 1, "bias": True}
        args = {k: v for k, v in args.items() if defaults.get(k, object()) != v}
        return Mapped([(f"Conv{n}d", args)], [a["input"]])

    def op_conv1d(self, a, out):
        return self._conv(1, a, out)

    def op_conv2d(self, a, out):
        return self._conv(2, a, out)

    def op_conv3d(self, a, out):
        return self._conv(3, a, out)

    def op_linear(self, a, out):
        w = self.param(a.get("weight"))
        if w is None:
            return "linear with a computed weight"
        args = {"out_features": w.value.shape[0]}
        if a.get("bias") is None:
            args["bias"] = False
        return Mapped([("Linear", args)], [a["input"]])

    def op_layer_norm(self, a, out):
        args = {"normalized_shape": _plain(tuple(self.value(a["normalized_shape"])))}
        if isinstance(args["normalized_shape"], int):
            args["normalized_shape"] = args["normalized_shape"]
        if a.get("eps", 1e-5) != 1e-5:
            args["eps"] = a["eps"]
        if a.get("weight") is None:
            args["elementwise_affine"] = False
        elif a.get("bias") is None:
            args["bias"] = False
        return Mapped([("LayerNorm", args)], [a["input"]])

    def op_group_norm(self, a, out):
        args = {"num_groups": a["num_groups"]}
        if a.get("eps", 1e-5) != 1e-5:
            args["eps"] = a["eps"]
        if a.get("weight") is None:
            args["affine"] = False
        return Mapped([("GroupNorm", args)], [a["input"]])

    def op_batch_norm(self, a, out):
        """F.batch_norm on a module's own tensors (timm's BatchNormAct2d and friends)."""
        x = a["input"]
        rank = len(self.shape(x))
        n = {2: 1, 3: 1, 4: 2, 5: 3}.get(rank)
        if n is None or a.get("training"):
            return "batch_norm in training mode"
        w, b = a.get("weight"), a.get("bias")
        if (w is not None and self.param(w) is None) or (b is not None and self.param(b) is None):
            return "batch_norm with computed or fixed affine weights"
        if (w is None) != (b is None):
            return "batch_norm with only one of weight and bias"
        tracked = a.get("running_mean") is not None
        if tracked and not (self.is_fixed(a["running_mean"]) and self.is_fixed(a.get("running_var"))):
            return "batch_norm with computed running statistics"
        args = {}
        if w is None:
            args["affine"] = False
        if not tracked:
            args["track_running_stats"] = False
        if a.get("eps", 1e-5) != 1e-5:
            args["eps"] = a["eps"]
        if a.get("momentum", 0.1) not in (0.1, None) and tracked:
            args["momentum"] = a["momentum"]
        return Mapped([(f"BatchNorm{n}d", args)], [x])

    def op_stochastic_depth(self, a, out):
        return Mapped([("StochasticDepth", {"p": a["p"], "mode": a.get("mode", "row")})], [a["input"]])

    # ---- tuples: one part of a chunk / split is a Narrow along the split dim
    def op_getitem(self, a, out):
        src = a["input"]
        if isinstance(src, Ref) and isinstance(self.ops[src.name].value, torch.Tensor):
            return self._slice(src, self.value(a["index"]))
        if not (isinstance(src, Ref) and self.ops[src.name].kind in ("function", "method")):
            return "indexing a tensor"
        split = self.ops[src.name]
        how = _canonical(split.target)
        if how not in ("chunk", "split", "tensor_split"):
            return f"an element of the result of {how}"
        b = bind(how, split.args, split.kwargs)
        parts, i = split.value, a["index"]
        if not isinstance(i, int):
            return f"{how} indexed by {type(i).__name__}"
        rank = parts[0].dim()
        dim = b.get("dim", 0) % rank
        start = sum(p.shape[dim] for p in parts[:i % len(parts)])
        return Mapped([("Narrow", {"dim": dim, "start": start, "length": parts[i].shape[dim]})], [b["input"]])


    def _slice(self, x, index):
        """x[:, a:b] and friends: one contiguous slice along one dim is a Narrow."""
        index = index if isinstance(index, tuple) else (index,)
        shape = self.shape(x)
        if any(i is Ellipsis for i in index) or not all(isinstance(i, slice) for i in index):
            return "indexing a tensor (only x[:, a:b]-style slices map)"
        cut = [(d, i) for d, i in enumerate(index) if i != slice(None)]
        if len(cut) != 1 or cut[0][1].step not in (None, 1):
            return "indexing a tensor (more than one sliced dim, or a step)"
        d, sl = cut[0]
        start, stop, _ = sl.indices(shape[d])
        return Mapped([("Narrow", {"dim": d, "start": start, "length": max(stop - start, 0)})], [x])


# ------------------------------------------------------------------ building the Network
def trace(module: nn.Module, input_shape):
    """(ops, front end used): fx first, the eager tracer where fx fails."""
    try:
        return trace_fx(module, input_shape, is_leaf), "fx"
    except TraceFailed as fx_error:
        try:
            return trace_eager(module, input_shape, is_leaf), f"eager (fx: {fx_error})"
        except TraceFailed as e:
            raise UnmappedOps([(f"tracing failed: {e}", type(module).__name__)]) from None


def from_torch(module: nn.Module, input_shape, name: str | None = None, check: bool = True) -> Network:
    """A Network with one node per mapped op; node names follow module paths (state_dict keys)."""
    named = {str(k): tuple(int(d) for d in v) for k, v in input_shape.items()} if isinstance(input_shape, dict) \
        else None  # several inputs: {"image": (1, 3, 32, 32), "mask": (1, 1, 32, 32)}
    input_shape = next(iter(named.values())) if named else tuple(int(d) for d in input_shape)
    if isinstance(module, torch.jit.ScriptModule):
        raise UnmappedOps([("a torch.jit.script / torch.jit.trace module has no Python forward to trace: import "
                            "the nn.Module before scripting it", type(module).__name__)])
    root = module
    if is_leaf(module):  # a bare nn.ConvTranspose2d: fx would see its functional body, not the module
        module = _Root(module)
    was_training = root.training
    module.eval()
    try:
        ops, frontend = trace(module, named or input_shape)
    finally:
        module.train(was_training)
    mapper = _Mapper(ops)
    alias: dict = {}         # op name -> node name (or INPUT), or an _Unmapped marker
    nodes: list = []
    used: set = set(named or ())  # layer names never take an input's name
    counters: dict = {}
    shapes: dict = {}        # node name -> torch's shape, to verify the mapping
    output_refs: list = []
    for op in ops:
        if op.kind == "input":
            key = op.kwargs.get("__input__") if named else INPUT
            if key is not None:  # else an argument given no shape: it keeps its default, and a reader fails
                alias[op.name] = key
        elif op.kind == "output":
            output_refs = _output_refs(op.args, mapper)
        elif op.kind != "param" and isinstance(op.value, torch.Tensor):
            alias[op.name] = _add_op(op, mapper, alias, nodes, used, counters, shapes)
    where = type(root).__name__
    if not output_refs:
        raise UnmappedOps([("the module returns no tensor (forward must return a tensor, or a tuple, list or "
                            "dict of them)", where)])
    causes = set()
    for ref in output_refs:
        if not isinstance(mapper.ops[ref.name].value, torch.Tensor):
            causes.add((f"an output is the tuple result of {_describe(mapper.ops[ref.name])} (index it)",
                        _where(mapper.ops[ref.name]), mapper.position[ref.name]))
        elif isinstance(alias.get(ref.name), _Unmapped):
            causes |= alias[ref.name].causes
        elif alias.get(ref.name) == INPUT or named and alias.get(ref.name) in named:
            causes.add(("an output is the module's input itself", where, 0))
    # what runs but no output reads is counted as torch runs it: it must map too
    for op_name, value in alias.items():
        if isinstance(value, _Unmapped) and op_name not in mapper.derived:
            causes |= value.causes
    if causes:
        raise UnmappedOps([(what, at) for what, at, _ in sorted(causes, key=lambda c: (c[2], c[1]))])
    outputs = tuple(dict.fromkeys(alias[ref.name] for ref in output_refs))
    net = Network(name=name or type(root).__name__, input_shape=input_shape, nodes=nodes,
                  file=f"<{type(root).__name__}>", description=f"imported from {type(root).__module__}."
                  f"{type(root).__name__} (torch.{frontend.split(' ')[0]} trace)",
                  outputs=() if outputs == (nodes[-1].name,) else outputs,
                  unused_params=_unused_params(module, ops, mapper),
                  inputs=tuple(named.items()) if named else ())
    net.frontend = frontend
    net.module_classes = {path: type(m).__name__ for path, m in module.named_modules()}
    if check:
        _verify_shapes(net, shapes)
        _verify_params(net, module)
    return net


class _Root(nn.Module):
    """Holds a leaf module given as the root, under the name its node would get (`conv2d_1`)."""

    def __init__(self, leaf: nn.Module):
        super().__init__()
        self.name = f"{type(leaf).__name__.lower()}_1"
        self.add_module(self.name, leaf)

    def forward(self, x):
        return self.get_submodule(self.name)(x)


def _output_refs(args, mapper) -> list:
    """Every value forward returns, in order: a tensor, or tuples, lists, dicts, namedtuples of them."""
    out = []

    def walk(a):
        if isinstance(a, Ref):
            v = mapper.ops[a.name].value
            if isinstance(v, torch.Tensor) or isinstance(v, (tuple, list)) and any(
                    isinstance(x, torch.Tensor) for x in v):
                out.append(a)
        elif isinstance(a, (tuple, list)):
            for v in a:
                walk(v)
        elif isinstance(a, dict):
            for v in a.values():
                walk(v)
    walk(args)
    return out


def _unused_params(module: nn.Module, ops: list, mapper) -> tuple:
    """((module path, params, trainable, buffers), ...) for parameters and buffers no recorded op
    reads: modules forward never calls (smp's conv_head, GoogLeNet's aux heads in eval). Named by the
    outermost module all of whose tensors are unread, else by the tensor's own name."""
    named = dict(module.named_parameters(remove_duplicate=False))
    named.update(module.named_buffers(remove_duplicate=False))
    read = set()
    for op in ops:
        if op.kind == "module":
            path = op.kwargs.get("__path__", "")
            held = list(op.target.named_parameters()) + list(op.target.named_buffers())
            read.update(id(named.get(f"{path}.{n}" if path else n)) for n, _ in held)
        for r in _tensor_refs(op):
            src = mapper.ops.get(r.name)
            if src is not None and src.kind == "param" and isinstance(src.target, str) and src.target in named:
                read.add(id(named[src.target]))
    params = {id(p) for p in module.parameters()}
    unused = {id(t) for t in list(module.parameters()) + list(module.buffers()) if id(t) not in read}
    if not unused & params:  # buffers alone (a cache, a mask) are no sign of a module that never runs
        return ()

    def entry(path, tensors):
        ps = [t for t in tensors if id(t) in params]
        return (path, sum(t.numel() for t in ps), sum(t.numel() for t in ps if t.requires_grad),
                sum(t.numel() for t in tensors if id(t) not in params))

    out, covered = [], set()
    for path, m in module.named_modules():
        if not path or any(path.startswith(c + ".") for c in covered):
            continue
        mine = list(m.parameters()) + list(m.buffers())
        if any(id(t) in params for t in mine) and all(id(t) in unused for t in mine):
            covered.add(path)
            out.append(entry(path, mine))
    done = {id(t) for c in covered for t in list(module.get_submodule(c).parameters())}
    for pname, p in module.named_parameters():
        if id(p) in unused and id(p) not in done:
            out.append(entry(pname, [p]))
    return tuple(out)


def _verify_params(net: Network, module: nn.Module):
    """The totals must be torch's sum(p.numel()) (trainable: requires_grad), or the import fails."""
    from ..analysis import analyze
    t = analyze(net).totals
    want = sum(p.numel() for p in module.parameters())
    want_trainable = sum(p.numel() for p in module.parameters() if p.requires_grad)
    if (t.params, t.trainable_params) != (want, want_trainable):
        raise UnmappedOps([(f"parameters: convshape counts {t.params} ({t.trainable_params} trainable), torch's "
                            f"sum(p.numel()) is {want} ({want_trainable} trainable): a parameter is read by an "
                            f"op convshape does not attribute it to", type(module).__name__)])


@dataclass(frozen=True)
class _Unmapped:
    """Stands for a value convshape cannot follow; carries the ops that caused it."""
    causes: frozenset  # of (what, where, order)


def _add_op(op, mapper, alias, nodes, used, counters, shapes):
    """Map one op; append its nodes; return the node name now holding its value (or _Unmapped)."""
    refs = _tensor_refs(op)
    if refs and all(mapper.ops[r.name].kind == "param" or r.name in mapper.derived for r in refs):
        # computed from parameters/buffers alone (gamma.view(1, -1, 1, 1)): a parameter, not a layer
        mapper.derived.add(op.name)
        buffer = any(mapper.ops[r.name].kwargs.get("__buffer__") for r in refs)
        op.kwargs = dict(op.kwargs, __buffer__=buffer)
        return _Unmapped(frozenset({(f"{_canonical(op.target)} of parameters ({_describe(op)})", _where(op),
                                     mapper.position[op.name])}))
    poisoned = [alias[r.name] for r in refs
                if isinstance(alias.get(r.name), _Unmapped) and r.name not in mapper.derived]
    result = mapper.map(op)
    order = mapper.position[op.name]
    if poisoned:  # downstream of an unmapped value: report this op too if it cannot map either
        own = {(f"{result} ({_describe(op)})", _where(op), order)} if isinstance(result, str) else set()
        return _Unmapped(frozenset().union(own, *(p.causes for p in poisoned)))
    if isinstance(result, str):
        return _Unmapped(frozenset({(f"{result} ({_describe(op)})", _where(op), order)}))
    ins = [alias.get(r.name) for r in result.inputs]
    bad = [i for i in ins if isinstance(i, _Unmapped)]  # a parameter-derived value read as a tensor
    if bad:
        return _Unmapped(frozenset().union(*(b.causes for b in bad)))
    if any(i is None for i in ins):
        return _Unmapped(frozenset({(f"{_describe(op)} reads a value convshape does not follow", _where(op),
                                     order)}))
    if not result.layers:
        return ins[0]
    held = _held_params(op, mapper)
    grads = {p.requires_grad for _, p in held}
    if len(grads) > 1:
        return _Unmapped(frozenset({(f"{_describe(op)} has some parameters frozen (requires_grad=False) and "
                                     f"some trainable", _where(op), order)}))
    frozen = grads == {False}
    key = tuple(sorted(k for k, _ in held))  # the same parameters again: a module called again
    current = ins
    for j, (kind, args) in enumerate(result.layers):
        cls = REGISTRY.get(kind)
        if cls is None:
            return _Unmapped(frozenset({(f"{kind} is not a layer kind ({_describe(op)})", _where(op), order)}))
        try:
            layer = cls.model_validate(args)
        except ValidationError as e:
            return _Unmapped(frozenset({(f"{kind}{args}: {e.errors()[0]['msg']} ({_describe(op)})",
                                         _where(op), order)}))
        node_name = _node_name(op, kind, used, counters, functional=j > 0)
        shares = None
        if j == 0 and key:
            shares = mapper.calls.setdefault(key, node_name)
            shares = None if shares == node_name else shares
        nodes.append(Node(name=node_name, layer=layer, inputs=tuple(current), shares=shares, frozen=frozen))
        current = [node_name]
    shapes[current[0]] = tuple(op.value.shape)
    return current[0]


def _held_params(op, mapper) -> list:
    """[(key, parameter tensor)] of the parameters an op's first layer holds (not buffers)."""
    if op.kind == "module":
        path = op.kwargs.get("__path__", "")
        return [(f"{path}.{n}", p) for n, p in op.target.named_parameters()]
    out = []
    for r in _tensor_refs(op):
        src = mapper.ops[r.name]
        if (src.kind == "param" or r.name in mapper.derived) and not src.kwargs.get("__buffer__") \
                and isinstance(src.value, torch.Tensor):
            out.append((src.target if src.kind == "param" else r.name, src.value))
    return out


def _tensor_refs(op):
    out = []

    def walk(a):
        if isinstance(a, Ref):
            out.append(a)
        elif isinstance(a, (tuple, list)):
            for v in a:
                walk(v)
        elif isinstance(a, dict):
            for v in a.values():
                walk(v)
    walk(op.args)
    walk(op.kwargs)
    return out


def _describe(op: Op) -> str:
    if op.kind == "module":
        return f"{type(op.target).__name__} module '{op.kwargs.get('__path__', '')}'"
    target = op.target if isinstance(op.target, str) else getattr(op.target, "__qualname__", str(op.target))
    scope = f" in '{op.scope}'" if op.scope else ""
    return f"{op.kind} {target}{scope}"


def _where(op: Op) -> str:
    return op.location or (op.scope or "<top>")


def _node_name(op: Op, kind: str, used: set, counters: dict, functional: bool = False) -> str:
    if op.kind == "module" and not functional:
        base = op.kwargs.get("__path__") or kind.lower()
        name, k = base, 0
        while name in used:  # a module called more than once
            k += 1
            name = f"{base}_{k}"
    else:
        scope = op.scope + "." if op.scope else ""
        while True:
            key = (scope, kind)
            counters[key] = counters.get(key, 0) + 1
            name = f"{scope}{kind.lower()}_{counters[key]}"
            if name not in used:
                break
    used.add(name)
    return name


def _verify_shapes(net: Network, shapes: dict):
    from ..analysis import analyze
    from ..errors import ShapeError
    try:
        report = analyze(net)
    except ShapeError as e:
        raise UnmappedOps([(f"the imported network does not analyze: {e}", e.layer or "")]) from None
    bad = [(r.name, tuple(r.output_shape), shapes[r.name]) for r in report.layers
           if r.name in shapes and tuple(r.output_shape) != shapes[r.name]]
    if bad:
        raise UnmappedOps([(f"{n}: convshape gives {list(a)}, torch {list(b)}", n) for n, a, b in bad])


__all__ = ["from_torch", "UnmappedOps", "module_args", "layer_kind_of_module", "is_leaf"]
