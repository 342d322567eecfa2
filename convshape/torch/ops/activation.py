"""Ops that change no values (pass-through) and element-wise activations."""
from __future__ import annotations

import torch

from .registry import Mapped, pattern

# a broadcast made explicit (expand/expand_as): the element-wise op that reads it broadcasts the
# same way (the node-by-node shape check afterwards catches any other reader)
@pattern("contiguous", "clone", "float", "detach", signature=("input", "p", "training", "inplace"))
def identity(m, name, a, out):
    return Mapped([], [a["input"]])


DROPOUTS = {"dropout": "Dropout", "dropout1d": "Dropout1d", "dropout2d": "Dropout2d", "dropout3d": "Dropout3d",
            "alpha_dropout": "AlphaDropout", "feature_alpha_dropout": "FeatureAlphaDropout"}


@pattern(*DROPOUTS, signature=("input", "p", "training", "inplace"))
def dropout(m, name, a, out):
    # traced in eval mode, but written F.dropout(x, p, training=self.training): in train mode it drops
    # (its mask is saved for backward), so it is a layer, an identity in eval as the module is
    p = float(a.get("p", 0.5))
    if p == 0:
        return Mapped([], [a["input"]])
    args = {"p": p, **({"inplace": True} if a.get("inplace") else {})}
    return Mapped([(DROPOUTS[name], args)], [a["input"]])


@pattern("expand_as", signature=("input", "other"))
@pattern("expand", signature=("input", "*sizes"))
def broadcast_made_explicit(m, name, a, out):
    x = a["input"]
    src, want = m.shape(x), tuple(out.shape)
    if len(src) == len(want) and src != want and not only_broadcasting_readers(m, out):
        # read by a cat or a matmul, which do not broadcast: an Expand of the same rank
        return Mapped([("Expand", {"sizes": tuple(w if s != w else -1 for s, w in zip(src, want))})], [x])
    return Mapped([], [x])


BROADCASTING = {"add", "mul", "sub", "rsub", "truediv", "div", "rtruediv", "rdiv", "maximum", "minimum"}


def only_broadcasting_readers(m, value) -> bool:
    """Whether every op reading `value` (an op's result) is element-wise arithmetic, which broadcasts."""
    from .registry import canonical, tensor_refs
    me = next((op.name for op in m.ops.values() if op.value is value), None)
    readers = [op for op in m.ops.values() if any(r.name == me for r in tensor_refs(op))]
    return bool(readers) and all(op.kind in ("function", "method") and canonical(op.target) in BROADCASTING
                                 for op in readers)


@pattern("to", signature=("input",))
@pattern("as_tensor", signature=("input", "dtype", "device"))
def to(m, name, a, out):
    x = a["input"]
    if isinstance(out, torch.Tensor) and out.dtype != m.ops[x.name].value.dtype:
        return f"{name} (dtype change)"
    return Mapped([], [x])


ACTIVATIONS = {"relu": "ReLU", "relu6": "ReLU6", "silu": "SiLU", "sigmoid": "Sigmoid", "tanh": "Tanh",
               "hardswish": "Hardswish", "hardsigmoid": "Hardsigmoid", "mish": "Mish", "gelu": "GELU",
               "leaky_relu": "LeakyReLU", "elu": "ELU"}


@pattern("relu", "relu6", "silu", "hardswish", "hardsigmoid", "mish", signature=("input", "inplace"))
@pattern("sigmoid", "tanh")
@pattern("gelu", signature=("input", "approximate"))
@pattern("leaky_relu", signature=("input", "negative_slope", "inplace"))
@pattern("elu", signature=("input", "alpha", "inplace"))
def activation(m, name, a, out):
    args = {}
    if name == "leaky_relu" and a.get("negative_slope", 0.01) != 0.01:
        args["negative_slope"] = float(a["negative_slope"])
    if name == "elu" and a.get("alpha", 1.0) != 1.0:
        args["alpha"] = float(a["alpha"])
    if name == "gelu" and a.get("approximate", "none") != "none":
        args["approximate"] = a["approximate"]
    if a.get("inplace"):
        args["inplace"] = True   # the output is the input's storage: memory figures differ (docs/memory.md)
    return Mapped([(ACTIVATIONS[name], args)], [a["input"]])


@pattern("hardtanh", signature=("input", "min_val", "max_val", "inplace"))
def hardtanh(m, name, a, out):
    if (a.get("min_val", -1.0), a.get("max_val", 1.0)) == (0.0, 6.0):
        return Mapped([("ReLU6", {"inplace": True} if a.get("inplace") else {})], [a["input"]])
    return "hardtanh other than relu6"


@pattern("softmax", "log_softmax", signature=("input", "dim", "_stacklevel", "dtype"))
def softmax(m, name, a, out):
    return Mapped([("Softmax" if name == "softmax" else "LogSoftmax", {"dim": a.get("dim")})], [a["input"]])
