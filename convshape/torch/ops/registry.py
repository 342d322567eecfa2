"""The op-pattern registry: one small function per traced torch op, registered by name.

`@pattern("conv1d", "conv2d", "conv3d", signature=(...))` registers `fn(m, name, a, out)` for each
name, where `m` is the importer's mapper (values, shapes, parameters of the trace), `a` the op's
arguments bound to `signature`'s names, and `out` torch's value. It returns `Mapped` (layers in
sequence plus the refs feeding the first) or a string naming why the op does not map. Registering a
name twice raises (one source of truth, as torch.utils.flop_counter's registry does).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

PATTERNS: dict = {}
SIGNATURES: dict = {}


def pattern(*names: str, signature: tuple = ("input",)):
    """Register the decorated function as the mapping of each op name (canonical, see `canonical`)."""
    def deco(fn):
        for name in names:
            if name in PATTERNS:
                raise ValueError(f"op pattern {name} is registered twice")
            PATTERNS[name] = fn
            SIGNATURES[name] = signature
        return fn
    return deco


@dataclass
class Mapped:
    """One or more layers (applied in sequence) produced by one op, or a pass-through (layers=[])."""
    layers: list           # [(kind, args)]
    inputs: list           # op refs feeding the first layer
    # (tuple op name, index) for one element of a tuple result that is one node: the elements of one
    # tuple map to the same node, and element 1 stands for its indices (MaxPool's return_indices)
    part: tuple | None = None


def canonical(target) -> str:
    """torch.add, Tensor.add, operator.add, __add__, __iadd__, __radd__, add_ -> 'add'."""
    if isinstance(target, str):
        name = target
    else:
        name = getattr(target, "__name__", "") or type(target).__name__
    if name.startswith("__") and name.endswith("__"):
        name = name[2:-2]
        if name.startswith("i") and name[1:] in ("add", "mul", "sub", "truediv", "pow"):
            name = name[1:]
        elif name in ("radd", "rmul"):  # symmetric; rsub/rtruediv/rpow keep their operand order
            name = name[1:]
    return name.rstrip("_") if name.endswith("_") and not name.endswith("__") else name


def bind(name: str, args: tuple, kwargs: dict) -> dict:
    """Positional and keyword arguments by the registered signature's names ('*rest' gathers)."""
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


def plain(v):
    """torch.Size/list -> tuple; (3, 3) -> 3 (torch expands an int the same way)."""
    if isinstance(v, torch.Size):
        v = tuple(v)
    if isinstance(v, list):
        v = tuple(v)
    if isinstance(v, tuple):
        v = tuple(plain(x) for x in v)
        if v and all(x == v[0] for x in v) and all(isinstance(x, int) and not isinstance(x, bool) for x in v):
            return v[0]
        return v
    return v


def refs_in(value) -> list:
    """Every Ref in a value, in order, inside nested tuples, lists (namedtuples) and dicts too."""
    from ..trace import Ref
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
    walk(value)
    return out


def tensor_refs(op) -> list:
    """Every Ref in an op's arguments, nested ones included."""
    return refs_in(op.args) + refs_in(op.kwargs)


# ops that hand on one tensor's values unchanged (a parameter reshaped to broadcast: gamma.view(1, -1, 1, 1))
VIEWS = {"view", "reshape", "unsqueeze", "squeeze", "permute", "transpose", "flatten", "contiguous", "to",
         "float", "clone", "detach", "expand", "expand_as", "getattr"}


def param_source(m, ref, expanded: bool = False):
    """The parameter or buffer op whose values `ref` holds unchanged (through views), else None.

    With expanded=False the value must hold exactly the source's elements (no expand), so a layer
    counting the value's numel counts the parameter's."""
    from ..trace import Ref
    if not isinstance(ref, Ref):
        return None
    op = m.ops.get(ref.name)
    while op is not None and op.kind != "param":
        if op.name not in m.derived or canonical(op.target) not in VIEWS:
            return None
        tensors = [r for r in tensor_refs(op) if isinstance(m.ops[r.name].value, torch.Tensor)]
        if len(tensors) != 1:
            return None
        src = m.ops[tensors[0].name]
        if not expanded and src.value.numel() != op.value.numel():
            return None
        op = src
    return op


def take_param(m, ref, expanded: bool = False):
    """param_source, recorded as read: a parameter read by two mapped ops would be counted twice,
    so the second read is refused by name. Returns the source op, or a string saying why not."""
    src = param_source(m, ref, expanded)
    if src is None:
        return "a value computed from parameters (not one parameter or buffer, unchanged)"
    taken = m.__dict__.setdefault("taken_params", set())
    if src.name in taken:
        return f"parameter {src.target!r} read by more than one op"
    taken.add(src.name)
    return src


def is_buffer(op) -> bool:
    return bool(op.kwargs.get("__buffer__"))


def gathered(m, ref):
    """(table, index, dim) when `ref` holds a parameter table gathered by a fixed index buffer along
    dim 0 or 1, through views: LeViT's / EfficientFormer's `biases[:, idxs]`, Swin's
    `table[index.view(-1)].view(N, N, -1).permute(2, 0, 1)`; else None, or a string when the table
    was read before. Both are recorded as read."""
    from ..trace import Ref
    op = m.ops.get(ref.name) if isinstance(ref, Ref) else None
    while op is not None and op.name in m.derived and canonical(op.target) in VIEWS:
        tensors = [r for r in tensor_refs(op) if isinstance(m.ops[r.name].value, torch.Tensor)]
        if len(tensors) != 1 or m.ops[tensors[0].name].value.numel() != op.value.numel():
            return None
        op = m.ops[tensors[0].name]
    if op is None or op.name not in m.derived or canonical(op.target) != "getitem" or len(op.args) != 2:
        return None
    table = param_source(m, op.args[0])
    index = op.args[1]
    dim = 0
    if isinstance(index, tuple) and len(index) == 2 and index[0] == slice(None):
        index, dim = index[1], 1
    idx = param_source(m, index, expanded=False) if isinstance(index, Ref) else None
    if table is None or idx is None or is_buffer(table) or not is_buffer(idx) \
            or idx.value.dtype not in (torch.int64, torch.int32) or table.value.dim() <= dim:
        return None
    taken = m.__dict__.setdefault("taken_params", set())
    if table.name in taken or idx.name in taken:
        return f"parameter {table.target!r} (gathered by {idx.target!r}) read by more than one op"
    taken.update((table.name, idx.name))
    return table, idx, dim
