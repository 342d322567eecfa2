"""Reshapes, permutations, slices and the parts of a chunk or split."""
from __future__ import annotations

import math

import torch

from .registry import Mapped, bind, canonical, pattern
from ..trace import Ref


@pattern("flatten", signature=("input", "start_dim", "end_dim"))
def flatten(m, name, a, out):
    args = {}
    if a.get("start_dim", 0) != 1:  # torch.flatten and Tensor.flatten start at 0, nn.Flatten at 1
        args["start_dim"] = a.get("start_dim", 0)
    if a.get("end_dim", -1) != -1:
        args["end_dim"] = a["end_dim"]
    return Mapped([("Flatten", args)], [a["input"]])


@pattern("view", "reshape", signature=("input", "*shape"))
def view(m, name, a, out):
    return reshape(m, a["input"], tuple(out.shape))


@pattern("reshape_as", "view_as", signature=("input", "other"))
def reshape_as(m, name, a, out):
    """x.reshape_as(y): a reshape to y's shape (y is only read for its size)."""
    return reshape(m, a["input"], tuple(out.shape))


@pattern("unfold", signature=("input", "dimension", "size", "step"))
def unfold(m, name, a, out):
    """Tensor.unfold(dimension, size, step); F.unfold (im2col) is another op and does not map here."""
    x = a["input"]
    me = next((op for op in m.ops.values() if op.value is out), None)
    if me is None or me.kind != "method" or not isinstance(x, Ref):  # F.unfold(x, kernel_size, ...) is a function
        return "unfold (F.unfold's im2col)"
    return Mapped([("TensorUnfold", {"dimension": m.value(a["dimension"]), "size": m.value(a["size"]),
                                     "step": m.value(a["step"])})], [x])


@pattern("repeat_interleave", signature=("input", "repeats", "dim", "output_size"))
def repeat_interleave(m, name, a, out):
    """x.repeat_interleave(k, dim) of a dim of size 1 is k copies along it, as repeat (GC-ViT's global
    query, one image); of a longer dim the copies interleave, which no kind holds."""
    x, k, dim = a["input"], m.value(a.get("repeats")), a.get("dim")
    if dim is None or not isinstance(k, int) or isinstance(k, bool):
        return "repeat_interleave without a dim or with a tensor of repeats"
    d = dim % len(m.shape(x))
    if k == 1:
        return Mapped([], [x])
    if m.shape(x)[d] != 1:
        return f"repeat_interleave along a dim of size {m.shape(x)[d]} (not 1)"
    return Mapped([("Concat", {"dim": d})], [x] * k)


@pattern("repeat", signature=("input", "*sizes"))
def repeat(m, name, a, out):
    """x.repeat(1, k, 1, 1): k copies along one dim is torch.cat([x] * k, dim) (VNet's input block)."""
    sizes, x = tuple(m.value(a["sizes"])), a["input"]
    rank = len(m.shape(x))
    if len(sizes) != rank:
        return "repeat that adds dims"
    many = [(d, k) for d, k in enumerate(sizes) if k != 1]
    if not many:
        return Mapped([], [x])
    if len(many) > 1:
        return "repeat along more than one dim"
    d, k = many[0]
    return Mapped([("Concat", {"dim": d})], [x] * k)


def reshape(m, x, target):
    """The most specific kind: Flatten of a dim range, Unflatten of one dim, else Reshape."""
    src = m.shape(x)
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


@pattern("permute", signature=("input", "*dims"))
def permute(m, name, a, out):
    return Mapped([("Permute", {"dims": tuple(a["dims"])})], [a["input"]])


@pattern("transpose", signature=("input", "dim0", "dim1"))
def transpose(m, name, a, out):
    rank = len(m.shape(a["input"]))
    dims = list(range(rank))
    d0, d1 = a["dim0"] % rank, a["dim1"] % rank
    dims[d0], dims[d1] = dims[d1], dims[d0]
    return Mapped([("Permute", {"dims": tuple(dims)})], [a["input"]])


@pattern("pixel_shuffle", signature=("input", "upscale_factor"))
def pixel_shuffle(m, name, a, out):
    return Mapped([("PixelShuffle", {"upscale_factor": a["upscale_factor"]})], [a["input"]])


@pattern("pixel_unshuffle", signature=("input", "downscale_factor"))
def pixel_unshuffle(m, name, a, out):
    return Mapped([("PixelUnshuffle", {"downscale_factor": a["downscale_factor"]})], [a["input"]])


@pattern("channel_shuffle", signature=("input", "groups"))
def channel_shuffle(m, name, a, out):
    return Mapped([("ChannelShuffle", {"groups": a["groups"]})], [a["input"]])


@pattern("narrow", signature=("input", "dim", "start", "length"))
def narrow(m, name, a, out):
    """torch.narrow(x, dim, start, length), x.narrow(...): the layer of the same name."""
    if not all(isinstance(a.get(k), int) for k in ("dim", "start", "length")):
        return "narrow with a tensor start"
    dim = a["dim"] % max(out.dim(), 1)
    start = a["start"] % m.shape(a["input"])[dim] if a["start"] < 0 else a["start"]
    return Mapped([("Narrow", {"dim": dim, "start": start, "length": a["length"]})], [a["input"]])


@pattern("chunk", signature=("input", "chunks", "dim"))
@pattern("split", signature=("input", "split_size_or_sections", "dim"))
@pattern("unbind", signature=("input", "dim"))
@pattern("tensor_split", signature=("input", "indices_or_sections", "dim"))
def split(m, name, a, out):
    return name  # the tuple itself is no tensor; getitem below maps each part it reads


@pattern("getitem", signature=("input", "index"))
def getitem(m, name, a, out):
    """x[...] on a tensor, or one part of a chunk / split: a Narrow along the split dim."""
    src = a["input"]
    if isinstance(src, Ref) and isinstance(m.ops[src.name].value, torch.Tensor):
        return slice_(m, src, m.value(a["index"]))
    if isinstance(src, Ref) and m.ops[src.name].kind == "module" and \
            type(m.ops[src.name].target).__name__ == "MultiheadAttention":
        from .attention import multihead_output
        return multihead_output(m, m.ops[src.name], a["index"])
    if isinstance(src, Ref) and _is_pool_with_indices(m.ops[src.name]):
        from .pool import pool_part
        return pool_part(m, m.ops[src.name], a["index"])
    if isinstance(src, Ref) and m.ops[src.name].kind == "module" and getattr(m.ops[src.name].target, "return_indices",
                                                                              False):
        return f"{type(m.ops[src.name].target).__name__} with return_indices (only MaxPool's indices are modelled)"
    if isinstance(src, Ref) and m.ops[src.name].kind == "module" and type(m.ops[src.name].target).__name__ == "LSTM":
        return lstm_output(m, m.ops[src.name], a["index"])
    if not (isinstance(src, Ref) and m.ops[src.name].kind in ("function", "method")):
        return "indexing a tensor"
    split = m.ops[src.name]
    how = canonical(split.target)
    inner = m.ops.get(split.args[0].name) if how == "getitem" and split.args and isinstance(split.args[0], Ref) \
        else None
    if inner is not None and inner.kind == "module" and type(inner.target).__name__ == "LSTM":
        return "the final states (h, c) of nn.LSTM (element 1)"
    if how not in ("chunk", "split", "tensor_split", "unbind"):
        return f"an element of the result of {how}"
    b = bind(how, split.args, split.kwargs)
    parts, i = split.value, a["index"]
    if not isinstance(i, int):
        return f"{how} indexed by {type(i).__name__}"
    if how == "unbind":  # q, k, v = qkv.unbind(0): element i selects index i along dim
        rank = parts[0].dim() + 1
        dim = b.get("dim", 0) % rank
        return Mapped([("Index", {"index": ((None, None, None),) * dim + (i % len(parts),), "split": src.name})],
                      [b["input"]])
    rank = parts[0].dim()
    dim = b.get("dim", 0) % rank
    start = sum(p.shape[dim] for p in parts[:i % len(parts)])
    args = {"dim": dim, "start": start, "length": parts[i].shape[dim]}
    if how != "tensor_split":   # tensor_split is narrows (a SliceBackward each); split and chunk share one
        args["split"] = src.name
    return Mapped([("Narrow", args)], [b["input"]])


def _is_pool_with_indices(op) -> bool:
    """A max pooling whose result is (values, indices): nn.MaxPoolNd(return_indices=True) or F.max_poolNd."""
    if op.kind == "module":
        return type(op.target).__name__.startswith("MaxPool") and bool(getattr(op.target, "return_indices", False))
    return op.kind == "function" and canonical(op.target).startswith("max_pool") and isinstance(op.value, tuple)


def slice_(m, x, index):
    """x[...]: one contiguous slice along one dim is a Narrow; anything else of ints, slices with a
    positive step, None and one Ellipsis is an Index."""
    index = index if isinstance(index, tuple) else (index,)
    # bounds read from sizes (x[:, :n] with n = x.shape[1] // 2) are ints in the trace
    index = tuple(slice(m.value(i.start), m.value(i.stop), m.value(i.step)) if isinstance(i, slice) else i
                  for i in index)
    shape = m.shape(x)
    if any(isinstance(i, (Ref, torch.Tensor, list)) or isinstance(i, bool) for i in index):
        return "indexing a tensor with a tensor, a list or a bool"
    if sum(i is Ellipsis for i in index) > 1:
        return "indexing a tensor with two Ellipsis"
    if Ellipsis in index:  # expand it to full slices: the entries after it index the last dims
        e = index.index(Ellipsis)
        fill = len(shape) - sum(1 for i in index if i is not None and i is not Ellipsis)
        index = index[:e] + (slice(None),) * fill + index[e + 1:]
    if all(isinstance(i, slice) for i in index):
        cut = [(d, i) for d, i in enumerate(index) if i != slice(None)]
        if len(cut) == 1 and cut[0][1].step in (None, 1):
            d, sl = cut[0]
            start, stop, _ = sl.indices(shape[d])
            return Mapped([("Narrow", {"dim": d, "start": start, "length": max(stop - start, 0)})], [x])
        if not cut:
            return Mapped([], [x])
    entries = []
    for i in index:
        if isinstance(i, slice):
            if not all(v is None or isinstance(v, int) for v in (i.start, i.stop, i.step)):
                return "indexing a tensor with a slice of non-ints"
            entries.append((i.start, i.stop, i.step))
        elif i is None or isinstance(i, int):
            entries.append(i)
        else:
            return f"indexing a tensor with {type(i).__name__}"
    while entries and entries[-1] == (None, None, None):
        entries.pop()  # trailing full slices are implied
    return Mapped([("Index", {"index": tuple(entries)})], [x])


@pattern("unsqueeze", signature=("input", "dim"))
def unsqueeze(m, name, a, out):
    return Mapped([("Unsqueeze", {"dim": a["dim"]})], [a["input"]])


@pattern("squeeze", signature=("input", "dim"))
def squeeze(m, name, a, out):
    dim = m.value(a.get("dim"))
    return Mapped([("Squeeze", {} if dim is None else {"dim": tuple(dim) if isinstance(dim, list) else dim})],
                  [a["input"]])


@pattern("swapaxes", "swapdims", signature=("input", "axis0", "axis1"))
def swapaxes(m, name, a, out):
    return transpose(m, name, {"input": a["input"], "dim0": a["axis0"], "dim1": a["axis1"]}, out)


def lstm_output(m, module_op, index):
    """Element 0 of nn.LSTM(x): the output sequence; the final (h, c) states (element 1) do not map."""
    from ..importer import module_args
    from ...layers import REGISTRY
    if index != 0:
        return "the final states (h, c) of nn.LSTM (element 1)"
    refs = [r for r in module_op.args if isinstance(r, Ref)]
    if len(refs) != 1 or len(module_op.args) > 1 or any(k != "__path__" for k in module_op.kwargs):
        return "nn.LSTM with initial states"
    return Mapped([("LSTM", module_args(module_op.target, REGISTRY["LSTM"]))], refs)
