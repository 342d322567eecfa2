"""Small torch modules for layer kinds that torch.nn has no class for (merges, reshapes, scale).

Class names equal the spec's layer kinds, so a built module reads like its spec.
"""
from __future__ import annotations

import math

import torch
from torch import nn


class Add(nn.Module):
    """Sum of all inputs (broadcasting)."""

    def forward(self, *xs):
        out = xs[0]
        for x in xs[1:]:
            out = out + x
        return out


class Mul(nn.Module):
    """Product of all inputs (broadcasting), e.g. a squeeze-excitation gate."""

    def forward(self, *xs):
        out = xs[0]
        for x in xs[1:]:
            out = out * x
        return out


class Concat(nn.Module):
    """torch.cat along `dim`."""

    def __init__(self, dim: int = 1):
        super().__init__()
        self.dim = dim

    def forward(self, *xs):
        return torch.cat(xs, dim=self.dim)

    def extra_repr(self):
        return f"dim={self.dim}"


class Permute(nn.Module):
    """x.permute(*dims)."""

    def __init__(self, dims):
        super().__init__()
        self.dims = list(dims)

    def forward(self, x):
        return x.permute(*self.dims)

    def extra_repr(self):
        return f"dims={self.dims}"


class Reshape(nn.Module):
    """x.reshape(*shape)."""

    def __init__(self, shape):
        super().__init__()
        self.shape = list(shape)

    def forward(self, x):
        return x.reshape(*self.shape)

    def extra_repr(self):
        return f"shape={self.shape}"


class LayerScale(nn.Module):
    """gamma * x with one learned gamma per channel of `dim` (ConvNeXt's layer_scale)."""

    def __init__(self, channels: int, dim: int = 1, init: float = 1e-6, trailing: int = 0):
        super().__init__()
        self.dim = dim
        # (channels, 1, ..., 1) with `trailing` ones: torchvision ConvNeXt's (C, 1, 1) for dim 1 of NCHW
        self.gamma = nn.Parameter(torch.full((channels,) + (1,) * trailing, float(init)))

    def forward(self, x):
        if not -x.dim() <= self.dim < x.dim():
            raise IndexError(f"LayerScale: dim={self.dim} is out of range for a {x.dim()}-D input")
        d = self.dim + x.dim() if self.dim < 0 else self.dim  # out of range: torch.cat refuses, as convshape
        if x.shape[d] != self.gamma.numel():
            raise RuntimeError(f"LayerScale: {self.gamma.numel()} channels but dim {self.dim} of the input "
                               f"has size {x.shape[d]}")
        shape = [1] * x.dim()
        shape[d] = -1
        return x * self.gamma.reshape(shape)


class SplitParts:
    """The parts of one torch.split / unbind, shared by the Narrow (or Index) modules of a split: the
    first of them to run splits the input once (one SplitWithSizesBackward / UnbindBackward, as in the
    torch code it was imported from), each takes its part, and the last forgets them all."""

    def __init__(self, members: list):
        self.members, self.x, self.parts = members, None, {}
        for m in members:
            m.parts = self

    def take(self, member, x):
        if self.x is not x or id(member) not in self.parts:   # a new input, or a member run again alone
            self.x, self.parts = x, self._split(x)
        part = self.parts.pop(id(member))
        if not self.parts:   # held only until every member has its part: no storage outlives torch's
            self.x, self.parts = None, {}
        return part

    def _split(self, x):
        if isinstance(self.members[0], Index):
            d = self.members[0].unbind_dim()
            pieces = x.unbind(d)
            return {id(m): pieces[m.index[-1] % x.shape[d]] for m in self.members}
        d = self.members[0].dim % x.dim()
        readers: dict = {}   # (start, length) -> the members reading that part (spx[0] read twice: one part)
        for m in self.members:
            readers.setdefault((m.start % x.shape[d] if m.start < 0 else m.start, m.length), []).append(m)
        sizes, owner, at = [], [], 0
        for (start, length), ms in sorted(readers.items()):
            if start > at:   # a part no member reads (fx drops its getitem): torch still splits it off
                sizes.append(start - at)
                owner.append(())
            sizes.append(length)
            owner.append(ms)
            at = start + length
        if at < x.shape[d]:
            sizes.append(x.shape[d] - at)
            owner.append(())
        return {id(m): p for ms, p in zip(owner, x.split(sizes, d)) for m in ms}


def share_splits(members_by_split: list):
    """Link each group of split members (one list per split) to one SplitParts."""
    for members in members_by_split:
        SplitParts(members)


class Narrow(nn.Module):
    """x.narrow(dim, start, length), or one part of a chunk or split (`split`: see SplitParts)."""

    def __init__(self, dim: int, start: int, length: int, split: str | None = None):
        super().__init__()
        self.dim, self.start, self.length, self.split = dim, start, length, split
        self.parts = None

    def forward(self, x):
        if self.split is not None:
            if self.parts is None:   # alone in its split (built by itself): a split of its own
                SplitParts([self])
            return self.parts.take(self, x)
        return x.narrow(self.dim, self.start, self.length)

    def extra_repr(self):
        return f"dim={self.dim}, start={self.start}, length={self.length}" + \
            (f", split={self.split!r}" if self.split is not None else "")


def _arith(op: str, x, t):
    """x op t for ScalarArith / ParamArith (r-prefixed ops swap the operands)."""
    if op in ("maximum", "minimum"):
        t = t if isinstance(t, torch.Tensor) else torch.tensor(t, dtype=x.dtype, device=x.device)
        return getattr(torch, op)(x, t)
    swap = op.startswith("r")
    name = {"add": "add", "sub": "sub", "mul": "mul", "div": "truediv", "pow": "pow"}[op[1:] if swap else op]
    import operator
    f = getattr(operator, name)
    return f(t, x) if swap else f(x, t)


class Sub(nn.Module):
    def forward(self, x, y):
        return x - y


class Div(nn.Module):
    def forward(self, x, y):
        return x / y


class Maximum(nn.Module):
    def forward(self, x, y):
        return torch.maximum(x, y)


class Minimum(nn.Module):
    def forward(self, x, y):
        return torch.minimum(x, y)


class ScalarArith(nn.Module):
    """x op value for a constant scalar."""

    def __init__(self, op: str, value: float):
        super().__init__()
        self.op, self.value = op, value

    def forward(self, x):
        return _arith(self.op, x, self.value)

    def extra_repr(self):
        return f"op={self.op}, value={self.value}"


class ParamArith(nn.Module):
    """x op t with t a parameter (trainable) or a buffer of `shape`, broadcast against x."""

    def __init__(self, op: str, shape, trainable: bool = True, table=None, index=None, gather_dim: int = 0):
        super().__init__()
        if (table is None) != (index is None) or table is not None and not trainable:
            raise ValueError("a gathered table needs both table and index, and is a parameter")
        self.op, self.shape, self.gather_dim = op, tuple(shape), gather_dim
        t = torch.ones(tuple(shape) if table is None else tuple(table))
        if trainable:
            self.t = nn.Parameter(t)
        else:
            self.register_buffer("t", t)
        # a table gathered by a fixed index (relative-position biases)
        self.register_buffer("idx", None if index is None else torch.zeros(tuple(index), dtype=torch.long))

    def value(self):
        t = self.t
        if self.idx is not None:
            t = (t[:, self.idx] if self.gather_dim == 1 else t[self.idx]).reshape(self.shape)
        return t

    def forward(self, x):
        return _arith(self.op, x, self.value())

    def extra_repr(self):
        return f"op={self.op}, shape={list(self.t.shape)}"


class Affine(nn.Module):
    """torch.addcmul(bias, weight, x, value=value): parameters (trainable) or buffers, broadcast against x."""

    def __init__(self, shape, bias_shape=None, value: float = 1.0, trainable: bool = True):
        super().__init__()
        self.value = value
        for name, t in (("weight", torch.ones(tuple(shape))), ("bias", torch.zeros(tuple(bias_shape or shape)))):
            if trainable:
                setattr(self, name, nn.Parameter(t))
            else:
                self.register_buffer(name, t)

    def forward(self, x):
        return torch.addcmul(self.bias, self.weight, x, value=self.value)

    def extra_repr(self):
        return f"shape={list(self.weight.shape)}, bias_shape={list(self.bias.shape)}, value={self.value}"


class UnaryOp(nn.Module):
    """torch.<fn>(x)."""

    def __init__(self, fn: str):
        super().__init__()
        self.fn = fn

    def forward(self, x):
        return getattr(torch, self.fn)(x)

    def extra_repr(self):
        return f"fn={self.fn}"


class Reduce(nn.Module):
    """torch.<op>(x, dim, keepdim)."""

    def __init__(self, op: str, dim=None, keepdim: bool = False):
        super().__init__()
        self.op, self.dim, self.keepdim = op, dim, keepdim

    def forward(self, x):
        dim = tuple(range(x.dim())) if self.dim is None else self.dim
        if self.op == "norm":
            return torch.linalg.vector_norm(x, 2, dim=dim, keepdim=self.keepdim)
        return getattr(torch, self.op)(x, dim=dim, keepdim=self.keepdim)

    def extra_repr(self):
        return f"op={self.op}, dim={self.dim}, keepdim={self.keepdim}"


class Unsqueeze(nn.Module):
    def __init__(self, dim: int):
        super().__init__()
        self.dim = dim

    def forward(self, x):
        return x.unsqueeze(self.dim)


class Squeeze(nn.Module):
    def __init__(self, dim=None):
        super().__init__()
        self.dim = dim

    def forward(self, x):
        return x.squeeze() if self.dim is None else x.squeeze(self.dim)


class Stack(nn.Module):
    def __init__(self, dim: int = 0):
        super().__init__()
        self.dim = dim

    def forward(self, *xs):
        return torch.stack(xs, dim=self.dim)


class Index(nn.Module):
    """x[index] with an int (select), [start, stop, step] (slice) or null (newaxis) per entry; with
    `split`, one element of an unbind (see SplitParts)."""

    def __init__(self, index, split: str | None = None):
        super().__init__()
        self.index, self.split = tuple(index), split
        self.parts = None
        if split is not None:
            self.unbind_dim()

    def unbind_dim(self) -> int:
        *full, last = self.index
        if not isinstance(last, int) or any(tuple(e) != (None, None, None) for e in full):
            raise ValueError(f"an Index with split takes full slices, then one int; got {list(self.index)}")
        return len(full)

    def forward(self, x):
        if self.split is not None:
            if self.parts is None:
                SplitParts([self])
            return self.parts.take(self, x)
        return x[tuple(slice(*i) if isinstance(i, (list, tuple)) else i for i in self.index)]

    def extra_repr(self):
        return f"index={list(self.index)}" + (f", split={self.split!r}" if self.split is not None else "")


class MatMul(nn.Module):
    def forward(self, a, b):
        return torch.matmul(a, b)


class ScaledDotProductAttention(nn.Module):
    def __init__(self, is_causal: bool = False, scale=None, attn_bias=None, bias_table=None, bias_index=None,
                 gather_dim: int = 0):
        super().__init__()
        self.is_causal, self.scale = is_causal, scale
        if attn_bias is None and (bias_table is not None or bias_index is not None):
            raise ValueError("bias_table and bias_index need attn_bias, the gathered shape")
        self.bias = None if attn_bias is None else ParamArith("add", attn_bias, True, bias_table, bias_index,
                                                              gather_dim)

    def forward(self, q, k, v):
        mask = None if self.bias is None else self.bias.value()
        return nn.functional.scaled_dot_product_attention(q, k, v, attn_mask=mask, is_causal=self.is_causal,
                                                          scale=self.scale)


class MultiheadAttention(nn.MultiheadAttention):
    """nn.MultiheadAttention returning the attention output only (need_weights=False); one input
    is self-attention."""

    def forward(self, *xs):
        q, k, v = (xs * 3)[:3] if len(xs) == 1 else xs
        return super().forward(q, k, v, need_weights=False)[0]


def _fixed(conv_cls):
    class Fixed(conv_cls):
        """A convolution whose weight and bias are buffers (fixed filters: blur pools)."""

        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            for name in ("weight", "bias"):
                p = getattr(self, name)
                if p is not None:
                    delattr(self, name)
                    self.register_buffer(name, p.detach())
    Fixed.__name__ = Fixed.__qualname__ = "Fixed" + conv_cls.__name__
    return Fixed


FixedConv1d, FixedConv2d, FixedConv3d = (_fixed(c) for c in (nn.Conv1d, nn.Conv2d, nn.Conv3d))


class ParamConcat(nn.Module):
    """cat([token.expand(...), x], dim): a learned tensor before the input along `dim`."""

    def __init__(self, shape, dim: int = 1):
        super().__init__()
        self.dim = dim
        self.token = nn.Parameter(torch.zeros(tuple(shape)))

    def forward(self, x):
        if self.token.dim() != x.dim():  # expand would add leading dims: the spec's rule says same rank
            raise RuntimeError(f"ParamConcat: a {self.token.dim()}-D parameter for a {x.dim()}-D input")
        d = self.dim + x.dim() if self.dim < 0 else self.dim  # out of range: torch.cat refuses, as convshape
        sizes = [x.shape[i] if i != d and self.token.shape[i] == 1 else -1 for i in range(x.dim())]
        return torch.cat([self.token.expand(*sizes), x], dim=d)


class _UnpoolOutputSize:
    """nn.MaxUnpoolNd with output_size fixed at construction (torch takes it in forward)."""

    def __init__(self, kernel_size, stride=None, padding=0, output_size=None):
        super().__init__(kernel_size, stride, padding)
        self.output_size = tuple(output_size) if output_size is not None else None

    def forward(self, x, indices):
        return super().forward(x, indices, self.output_size)

    def extra_repr(self):
        return super().extra_repr() + (f", output_size={self.output_size}" if self.output_size else "")


class MaxUnpool1d(_UnpoolOutputSize, nn.MaxUnpool1d):
    pass


class MaxUnpool2d(_UnpoolOutputSize, nn.MaxUnpool2d):
    pass


class MaxUnpool3d(_UnpoolOutputSize, nn.MaxUnpool3d):
    pass


def _standardized(conv_cls):
    class Std(conv_cls):
        """A convolution whose weight is standardized per output channel at every call (timm's
        StdConv2d; with gain, ScaledStdConv2d)."""

        def __init__(self, *args, eps: float = 1e-6, gain: bool = False, **kwargs):
            super().__init__(*args, **kwargs)
            self.eps = eps
            self.gain = nn.Parameter(torch.ones(self.out_channels, *([1] * (self.weight.dim() - 1)))) if gain else None

        def forward(self, x):
            # timm's (gain * scale).view(-1), scale = fan_in ** -0.5: a new tensor batch_norm keeps for backward,
            # inline as timm writes it (a local would hold it through the convolution)
            w = nn.functional.batch_norm(
                self.weight.reshape(1, self.out_channels, -1), None, None, training=True, momentum=0.0, eps=self.eps,
                weight=None if self.gain is None else (self.gain * self.weight[0].numel() ** -0.5).view(-1),
            ).reshape_as(self.weight)
            return self._conv_forward(x, w, self.bias)
    Std.__name__ = Std.__qualname__ = "Std" + conv_cls.__name__
    return Std


StdConv1d, StdConv2d, StdConv3d = (_standardized(c) for c in (nn.Conv1d, nn.Conv2d, nn.Conv3d))


class Normalize(nn.Module):
    """F.normalize(x, p=2, dim, eps)."""

    def __init__(self, dim: int = 1, eps: float = 1e-12):
        super().__init__()
        self.dim, self.eps = dim, eps

    def forward(self, x):
        return nn.functional.normalize(x, p=2.0, dim=self.dim, eps=self.eps)


class Expand(nn.Module):
    def __init__(self, sizes):
        super().__init__()
        self.sizes = tuple(sizes)

    def forward(self, x):
        return x.expand(*self.sizes)


class TensorUnfold(nn.Module):
    def __init__(self, dimension: int, size: int, step: int):
        super().__init__()
        self.dimension, self.size, self.step = dimension, size, step

    def forward(self, x):
        return x.unfold(self.dimension, self.size, self.step)


class LSTM(nn.LSTM):
    """nn.LSTM's output sequence (element 0 of the (output, (h, c)) tuple)."""

    def forward(self, x):
        return super().forward(x)[0]


class PositionalEncodingFourier(nn.Module):
    """timm EdgeNeXt's PositionalEncodingFourier (timm/models/edgenext.py), its math without timm, called
    on a tensor whose (B, _, H, W) it reads instead of on the (B, H, W) tuple."""

    def __init__(self, hidden_dim: int = 32, dim: int = 768, temperature: float = 10000.0):
        super().__init__()
        self.token_projection = nn.Conv2d(hidden_dim * 2, dim, kernel_size=1)
        self.scale = 2 * math.pi
        self.temperature, self.hidden_dim, self.dim = temperature, hidden_dim, dim

    def forward(self, x):
        b, _, h, w = x.shape
        device, dtype = self.token_projection.weight.device, self.token_projection.weight.dtype
        inv_mask = ~torch.zeros((b, h, w)).to(device=device, dtype=torch.bool)
        y_embed = inv_mask.cumsum(1, dtype=torch.float32)
        x_embed = inv_mask.cumsum(2, dtype=torch.float32)
        y_embed = y_embed / (y_embed[:, -1:, :] + 1e-6) * self.scale
        x_embed = x_embed / (x_embed[:, :, -1:] + 1e-6) * self.scale
        dim_t = torch.arange(self.hidden_dim, dtype=torch.int64, device=device).to(torch.float32)
        dim_t = self.temperature ** (2 * torch.div(dim_t, 2, rounding_mode="floor") / self.hidden_dim)
        pos_x = x_embed[:, :, :, None] / dim_t
        pos_y = y_embed[:, :, :, None] / dim_t
        pos_x = torch.stack((pos_x[:, :, :, 0::2].sin(), pos_x[:, :, :, 1::2].cos()), dim=4).flatten(3)
        pos_y = torch.stack((pos_y[:, :, :, 0::2].sin(), pos_y[:, :, :, 1::2].cos()), dim=4).flatten(3)
        pos = torch.cat((pos_y, pos_x), dim=3).permute(0, 3, 1, 2)
        return self.token_projection(pos.to(dtype))
