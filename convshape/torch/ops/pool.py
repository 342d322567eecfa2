"""Pooling, global means, resampling and padding."""
from __future__ import annotations

from .registry import Mapped, SIGNATURES, bind, canonical, pattern, plain
from .reduce import reduce


@pattern("mean", signature=("input", "dim", "keepdim", "dtype"))
def mean(m, name, a, out):
    x = a["input"]
    rank = len(m.shape(x))
    dims = a.get("dim")
    dims = (dims,) if isinstance(dims, int) else tuple(dims or ())
    dims = tuple(sorted(d % rank for d in dims))
    n = rank - 2
    if not 1 <= n <= 3 or dims != tuple(range(2, rank)):
        return reduce(m, "mean", a, out)
    layers = [(f"AdaptiveAvgPool{n}d", {"output_size": 1})]
    if not a.get("keepdim", False):
        layers.append(("Flatten", {}))
    return Mapped(layers, [x])


@pattern(*(f"adaptive_{k}_pool{n}d" for k in ("avg", "max") for n in (1, 2, 3)), signature=("input", "output_size"))
def adaptive(m, name, a, out):
    kind = "Adaptive" + name.split("_")[1].capitalize() + "Pool" + name[-2:]
    return Mapped([(kind, {"output_size": plain(m.value(a["output_size"]))})], [a["input"]])


@pattern("avg_pool1d", signature=("input", "kernel_size", "stride", "padding", "ceil_mode", "count_include_pad"))
@pattern("avg_pool2d", "avg_pool3d", signature=("input", "kernel_size", "stride", "padding", "ceil_mode",
                                                "count_include_pad", "divisor_override"))
@pattern("max_pool1d", "max_pool2d", "max_pool3d", signature=("input", "kernel_size", "stride", "padding",
                                                              "dilation", "ceil_mode", "return_indices"))
def pool(m, name, a, out):
    kind = name.split("_")[0].capitalize() + "Pool" + name[-2:]
    args = {k: plain(m.value(a[k])) for k in SIGNATURES[name][1:] if k in a and a[k] is not None}
    if not args.get("return_indices"):
        args.pop("return_indices", None)
    return Mapped([(kind, args)], [a["input"]])


def pool_part(m, tuple_op, index):
    """Element 0 (values) or 1 (indices) of a max pooling with return_indices: one MaxPool node."""
    from ...layers import REGISTRY
    from ..importer import module_args
    if tuple_op.kind == "module":
        cls = REGISTRY[type(tuple_op.target).__name__]
        mapped = Mapped([(cls.kind, module_args(tuple_op.target, cls))], [tuple_op.args[0]])
    else:
        name = canonical(tuple_op.target).replace("_with_indices", "")
        mapped = pool(m, name, bind(name, tuple_op.args, tuple_op.kwargs), tuple_op.value)
    mapped.layers[0][1]["return_indices"] = True
    mapped.part = (tuple_op.name, index)
    return mapped


@pattern("max_unpool1d", "max_unpool2d", "max_unpool3d", signature=("input", "indices", "kernel_size", "stride",
                                                                    "padding", "output_size"))
def max_unpool(m, name, a, out):
    from ...layers import REGISTRY
    kind = "MaxUnpool" + name[-2:]
    args = {k: plain(m.value(a[k])) for k in ("kernel_size", "stride", "padding") if a.get(k) is not None}
    if a.get("output_size") is not None:
        args.update(REGISTRY[kind].args_from_forward({"output_size": m.value(a["output_size"])}))
    return Mapped([(kind, args)], [a["input"], a["indices"]])


@pattern("interpolate", signature=("input", "size", "scale_factor", "mode", "align_corners",
                                   "recompute_scale_factor", "antialias"))
@pattern("upsample", signature=("input", "size", "scale_factor", "mode", "align_corners"))
def interpolate(m, name, a, out):
    args = {k: plain(m.value(a[k])) for k in ("size", "scale_factor", "mode", "align_corners",
                                               "recompute_scale_factor") if a.get(k) is not None}
    if a.get("antialias"):
        return "interpolate with antialias"
    return Mapped([("Upsample", args)], [a["input"]])


@pattern("pad", signature=("input", "pad", "mode", "value"))
def pad(m, name, a, out):
    pads = tuple(m.value(a["pad"]))
    mode = a.get("mode", "constant") or "constant"
    value = a.get("value", None)
    n = max(len(pads) // 2, 1)
    if mode == "constant":
        kind = "ZeroPad" if not value else "ConstantPad"
        rank = len(m.shape(a["input"]))
        n = min(max(rank - 2, 1), 3)
        args = {"padding": pads} if kind == "ZeroPad" else {"padding": pads, "value": float(value)}
        return Mapped([(f"{kind}{n}d", args)], [a["input"]])
    kind = {"reflect": "ReflectionPad", "replicate": "ReplicationPad", "circular": "CircularPad"}.get(mode)
    if kind is None:
        return f"pad mode {mode!r}"
    return Mapped([(f"{kind}{n}d", {"padding": pads})], [a["input"]])
