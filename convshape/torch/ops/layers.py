"""Functional layers on a module's own tensors: F.conv2d, F.linear, F.layer_norm, F.batch_norm ..."""
from __future__ import annotations

from .registry import Mapped, bind, canonical, is_buffer, param_source, pattern, plain, take_param
from ..trace import Ref


def standardized(m, ref):
    """(weight, gain or None, eps) when `ref` is timm's standardized weight, else None:
    F.batch_norm(w.reshape(1, O, -1), None, None, weight=(gain * scale).view(-1), training=True,
    momentum=0., eps=eps).reshape_as(w), the parameters read nowhere else."""
    op = m.ops.get(ref.name) if isinstance(ref, Ref) else None
    if op is None or op.name not in m.derived or canonical(op.target) not in ("reshape_as", "reshape", "view"):
        return None
    bn = m.ops.get(op.args[0].name) if op.args and isinstance(op.args[0], Ref) else None
    if bn is None or bn.name not in m.derived or canonical(bn.target) != "batch_norm":
        return None
    a = bind("batch_norm", bn.args, bn.kwargs)
    if not a.get("training") or any(a.get(k) is not None for k in ("running_mean", "running_var", "bias")):
        return None
    w = param_source(m, a["input"])
    if w is None or tuple(w.value.shape) != tuple(op.value.shape) or m.is_fixed(a["input"]) \
            or tuple(m.ops[a["input"].name].value.shape)[:2] != (1, w.value.shape[0]):
        return None
    gain = None
    if a.get("weight") is not None:  # (gain * scale).view(-1): one gain per output channel, times a constant
        g = m.ops.get(a["weight"].name)
        while g is not None and canonical(g.target) in ("view", "reshape", "flatten"):
            g = m.ops.get(g.args[0].name) if g.args and isinstance(g.args[0], Ref) else None
        # the product is required: it is the new tensor batch_norm keeps (memory/corpus_rules.py), which a
        # bare gain parameter would not make
        if g is None or canonical(g.target) != "mul":
            return None
        refs = [x for x in g.args if isinstance(x, Ref)]
        consts = [x for x in g.args if not isinstance(x, Ref)]
        if len(refs) == 1 and all(isinstance(c, (int, float)) and not isinstance(c, bool) for c in consts):
            g = m.ops.get(refs[0].name)
        if g is None or g.kind != "param" or is_buffer(g) or g.value.numel() != w.value.shape[0]:
            return None
        gain = g
    for src in (w, gain):
        taken = m.__dict__.setdefault("taken_params", set())
        if src is not None:
            if src.name in taken:
                return None
            taken.add(src.name)
    return w, gain, a.get("eps", 1e-5)


@pattern("conv1d", "conv2d", "conv3d", signature=("input", "weight", "bias", "stride", "padding", "dilation",
                                                  "groups"))
def conv(m, name, a, out):
    n = int(name[4])
    kind = f"Conv{n}d"
    w = m.param(a.get("weight"))
    std = standardized(m, a.get("weight")) if w is not None else None
    if std is not None:  # timm's StdConv2d / ScaledStdConv2d: the weight standardized from its parameter
        bias = take_param(m, a["bias"]) if a.get("bias") is not None else None
        if isinstance(bias, str) or bias is not None and is_buffer(bias):
            return f"conv{n}d with a standardized weight and a bias that is not one parameter"
        kind, w = f"StdConv{n}d", std[0]
        extra = {"eps": std[2]} | ({"gain": True} if std[1] is not None else {})
    elif w is not None:  # the weight (and bias) must be the module's own tensors, unchanged and read once
        own = [take_param(m, a[k]) for k in ("weight", "bias") if a.get(k) is not None]
        if any(isinstance(o, str) for o in own):
            return f"conv{n}d with {next(o for o in own if isinstance(o, str))} as weight or bias " \
                   "(e.g. NF-Net's scaled weight standardization)"
    elif m.is_fixed(a.get("weight")):
        # a fixed filter (blur pool): weight and bias buffers, each exactly one buffer unchanged
        sources = [take_param(m, a[k]) for k in ("weight", "bias") if a.get(k) is not None]
        if any(isinstance(s, str) for s in sources) or not all(is_buffer(s) for s in sources):
            return f"conv{n}d with a fixed weight computed from buffers, or with a parameter bias"
        kind, w = f"FixedConv{n}d", m.ops[a["weight"].name]
    else:
        return f"conv{n}d with a computed weight"
    shape = tuple(w.value.shape)
    groups = a.get("groups", 1)
    extra = extra if std is not None else {}
    args = {"out_channels": shape[0], "kernel_size": plain(shape[2:]),
            "stride": plain(m.value(a.get("stride", 1))), "padding": plain(m.value(a.get("padding", 0))),
            "dilation": plain(m.value(a.get("dilation", 1))), "groups": groups,
            "bias": a.get("bias") is not None}
    defaults = {"stride": 1, "padding": 0, "dilation": 1, "groups": 1, "bias": not kind.startswith("Fixed")}
    args = {k: v for k, v in args.items() if defaults.get(k, object()) != v} | extra
    return Mapped([(kind, args)], [a["input"]])


@pattern("linear", signature=("input", "weight", "bias"))
def linear(m, name, a, out):
    w = m.param(a.get("weight"))
    own = [take_param(m, a[k]) for k in ("weight", "bias") if a.get(k) is not None]
    if w is None or any(isinstance(o, str) for o in own):
        return "linear with a computed weight or bias (not the module's own parameters, read once)"
    args = {"out_features": w.value.shape[0]}
    if a.get("bias") is None:
        args["bias"] = False
    return Mapped([("Linear", args)], [a["input"]])


def own_affine(m, a):
    """None when weight and bias (where given) are parameters read unchanged once, else why not."""
    for k in ("weight", "bias"):
        if a.get(k) is not None:
            src = take_param(m, a[k])
            if isinstance(src, str) or is_buffer(src):
                return f"with a {k} that is {src if isinstance(src, str) else 'a buffer'}"
    return None


@pattern("layer_norm", signature=("input", "normalized_shape", "weight", "bias", "eps"))
def layer_norm(m, name, a, out):
    why = own_affine(m, a)
    if why:
        return f"{name} {why}"
    args = {"normalized_shape": plain(tuple(m.value(a["normalized_shape"])))}
    if a.get("eps", 1e-5) != 1e-5:
        args["eps"] = a["eps"]
    if a.get("weight") is None:
        args["elementwise_affine"] = False
    elif a.get("bias") is None:
        args["bias"] = False
    return Mapped([("LayerNorm", args)], [a["input"]])


@pattern("group_norm", signature=("input", "num_groups", "weight", "bias", "eps"))
def group_norm(m, name, a, out):
    why = own_affine(m, a)
    if why:
        return f"{name} {why}"
    args = {"num_groups": a["num_groups"]}
    if a.get("eps", 1e-5) != 1e-5:
        args["eps"] = a["eps"]
    if a.get("weight") is None:
        args["affine"] = False
    elif a.get("bias") is None:  # timm's GroupNorm1NoBias (PoolFormer-V2): a weight, no bias
        args["bias"] = False
    return Mapped([("GroupNorm", args)], [a["input"]])


@pattern("batch_norm", signature=("input", "running_mean", "running_var", "weight", "bias", "training",
                                  "momentum", "eps"))
def batch_norm(m, name, a, out):
    """F.batch_norm on a module's own tensors (timm's BatchNormAct2d and friends)."""
    x = a["input"]
    rank = len(m.shape(x))
    n = {2: 1, 3: 1, 4: 2, 5: 3}.get(rank)
    if n is None or a.get("training"):
        return "batch_norm in training mode"
    w, b = a.get("weight"), a.get("bias")
    if (w is not None and m.param(w) is None) or (b is not None and m.param(b) is None):
        return "batch_norm with computed or fixed affine weights"
    if (w is None) != (b is None):
        return "batch_norm with only one of weight and bias"
    why = own_affine(m, a)
    if why:
        return f"{name} {why}"
    tracked = a.get("running_mean") is not None
    if tracked and not (m.is_fixed(a["running_mean"]) and m.is_fixed(a.get("running_var"))):
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


@pattern("stochastic_depth", signature=("input", "p", "mode", "training"))
def stochastic_depth(m, name, a, out):
    return Mapped([("StochasticDepth", {"p": a["p"], "mode": a.get("mode", "row")})], [a["input"]])
