"""Products of two activations: MatMul (torch.matmul / bmm), scaled_dot_product_attention, and
nn.MultiheadAttention (projections + attention + output projection).

MACs: every multiply-accumulate of a matrix product counts, whether a weight or an activation is
the other factor (FlopCounterMode counts them the same way: mm, bmm, attention).
other_ops of attention: one scale and three softmax ops (exp, sum, divide) per attention score, and
the bias adds of the projections.
Receptive field: an attention output sees every position of the attended (sequence) dim, so it is
global over that dim and over the feature dim; MatMul is global over both matrix dims (exact when,
as in attention, both factors come from one tensor; an upper bound otherwise).
"""
from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import model_validator

from ..dims import prod, require_eq
from ..errors import ShapeError
from .base import GlobalOver, Layer, Number, Params, PosInt, concrete_channels, register
from .examples import Example, Rejected
from .merge import broadcast


def _matmul_dims(a, b):
    """(batch shape, n, k, m, output shape) of torch.matmul(a, b) with its 1-D rules."""
    if not a or not b:
        raise ShapeError("matmul needs inputs of at least 1 dim", argument="inputs", value=[len(a), len(b)])
    a2 = (1,) + tuple(a) if len(a) == 1 else tuple(a)
    b2 = tuple(b) + (1,) if len(b) == 1 else tuple(b)
    require_eq(b2[-2], a2[-1], lambda: f"MatMul: shapes [{', '.join(map(str, a))}] and [{', '.join(map(str, b))}] "
               f"cannot be multiplied ({a2[-1]} vs {b2[-2]})", argument="inputs", received=b2[-2])
    batch = broadcast([a2[:-2], b2[:-2]], "MatMul") if len(a2) > 2 or len(b2) > 2 else ()
    n, k, m = a2[-2], a2[-1], b2[-1]
    out = tuple(batch) + ((n,) if len(a) > 1 else ()) + ((m,) if len(b) > 1 else ())
    return batch, n, k, m, out


@register
class MatMul(Layer):
    """torch.matmul(inputs[0], inputs[1]) (also bmm, @): batch dims broadcast, 1-D inputs as torch."""

    family: ClassVar[str] = "attention"
    min_inputs: ClassVar[int] = 2
    max_inputs: ClassVar[int | None] = 2
    torch_class: ClassVar[str | None] = None

    examples: ClassVar[tuple] = (
        Example({}, ((2, 3, 5, 4), (2, 3, 4, 6)), note="attention scores q @ k^T"),
        Example({}, ((2, 1, 5, 4), (3, 4, 6)), note="batch dims broadcast"),
        # no matrix-vector example: torch runs it as aten.mv, which FlopCounterMode does not count (0)
        Rejected({}, ((2, 5, 4), (2, 5, 4)), torch_says="Expected size for first two dimensions of batch2"),
        Rejected({}, ((5, 4), (5, 4)), torch_says="cannot be multiplied"),
    )

    def output_shape(self, inputs):
        return _matmul_dims(*inputs)[4]

    def macs(self, inputs, output):
        batch, n, k, m, _ = _matmul_dims(*inputs)
        return prod(batch) * n * k * m

    def backward_macs(self, inputs, output, input_requires_grad, weight_requires_grad=True):
        # no weights; the gradient of each factor is one product of the same size as the forward
        return 2 * self.macs(inputs, output) if input_requires_grad else 0

    def receptive_field(self, inputs, output):
        # dims counted in the inputs' broadcast rank: out[..., i, j] = sum_k a[..., i, k] b[..., k, j]
        # reads all of k, and positions i and j together: the last two dims read globally
        a, b = inputs
        r = max(len(a), len(b))
        batch = tuple((d,) for d in range(r - 2))
        rows = ((r - 2,),) if len(a) >= 2 else ()
        cols = ((r - 1,),) if len(b) >= 2 else ()
        return GlobalOver(dims=tuple(range(max(r - 2, 0), r)), sources=batch + rows + cols)


@register
class ScaledDotProductAttention(Layer):
    """F.scaled_dot_product_attention(q, k, v): q (..., L, E), k (..., S, E), v (..., S, Ev) -> (..., L, Ev)."""

    family: ClassVar[str] = "attention"
    min_inputs: ClassVar[int] = 3
    max_inputs: ClassVar[int | None] = 3
    torch_class: ClassVar[str | None] = None

    is_causal: bool = False
    scale: Number | None = None
    # attn_mask as a learned additive bias of `attn_bias`'s shape, or gathered from `bias_table` by a
    # fixed index buffer `bias_index` along `gather_dim` (TinyViT, MaxViT's relative-position biases)
    attn_bias: tuple[PosInt, ...] | None = None
    bias_table: tuple[PosInt, ...] | None = None
    bias_index: tuple[PosInt, ...] | None = None
    gather_dim: Literal[0, 1] = 0

    examples: ClassVar[tuple] = (
        Example({}, ((2, 3, 5, 4), (2, 3, 7, 4), (2, 3, 7, 6))),
        Example({"is_causal": True, "scale": 0.5}, ((2, 4, 6, 8), (2, 4, 6, 8), (2, 4, 6, 8))),
        Example({"attn_bias": (3, 5, 7)}, ((2, 3, 5, 4), (2, 3, 7, 4), (2, 3, 7, 6)), note="a learned attention bias"),
        Example({"attn_bias": (2, 9, 9), "bias_table": (2, 9), "bias_index": (9, 9), "gather_dim": 1},
                ((1, 2, 9, 4), (1, 2, 9, 4), (1, 2, 9, 4)), note="TinyViT's attention_biases[:, idxs]"),
        Rejected({}, ((2, 3, 5, 4), (2, 3, 7, 5), (2, 3, 7, 6)), torch_says="Expected size for first two dimensions of batch2"),
    )

    @model_validator(mode="after")
    def _bias(self):
        if (self.bias_table is None) != (self.bias_index is None) or self.bias_table is not None and \
                self.attn_bias is None:
            raise ValueError("bias_table and bias_index go together, with attn_bias (the gathered shape)")
        if self.attn_bias is not None and self.is_causal:
            raise ValueError("is_causal and an attention bias do not go together (torch refuses both)")
        if self.bias_table is not None:
            if len(self.bias_table) <= self.gather_dim:
                raise ValueError(f"gather_dim={self.gather_dim} needs a table of {self.gather_dim + 1}+ dims")
            got = prod(self.bias_index) * prod(self.bias_table) // self.bias_table[self.gather_dim]
            if got != prod(self.attn_bias):
                raise ValueError(f"the gathered bias has {got} elements, attn_bias {list(self.attn_bias)} holds "
                                 f"{prod(self.attn_bias)}")
        return self

    def params(self, inputs):
        table = self.bias_table if self.bias_table is not None else self.attn_bias
        return Params(trainable=prod(table) if table is not None else 0)

    def buffers(self, inputs):
        return prod(self.bias_index) if self.bias_index is not None else 0

    def _dims(self, inputs):
        q, k, v = inputs
        if min(len(q), len(k), len(v)) < 2:
            raise ShapeError("attention needs q, k, v of at least 2 dims", argument="inputs",
                             value=[len(q), len(k), len(v)])
        require_eq(k[-1], q[-1], lambda: f"key features {k[-1]} differ from query features {q[-1]}",
                   argument="inputs", received=k[-1])
        require_eq(v[-2], k[-2], lambda: f"value length {v[-2]} differs from key length {k[-2]}",
                   argument="inputs", received=v[-2])
        batch = broadcast([q[:-2], k[:-2], v[:-2]], self.kind)
        return batch, q[-2], k[-2], q[-1], v[-1]

    def output_shape(self, inputs):
        batch, L, S, E, Ev = self._dims(inputs)
        if self.attn_bias is not None:  # the bias broadcasts against the scores, and must not grow them
            scores = tuple(batch) + (L, S)
            if tuple(broadcast([scores, self.attn_bias], self.kind)) != scores:
                raise ShapeError(f"attn_bias {list(self.attn_bias)} does not broadcast to the scores "
                                 f"{[str(d) for d in scores]}", argument="attn_bias", value=list(self.attn_bias))
        return tuple(batch) + (L, Ev)

    def macs(self, inputs, output):
        batch, L, S, E, Ev = self._dims(inputs)
        return prod(batch) * L * S * (E + Ev)  # q @ k^T, then scores @ v

    def other_ops(self, inputs, output):
        batch, L, S, E, Ev = self._dims(inputs)
        # scale, then softmax's exp, sum, divide per score; plus the bias add
        return (4 + (self.attn_bias is not None)) * prod(batch) * L * S

    def receptive_field(self, inputs, output):
        r = len(output)
        return GlobalOver(dims=(r - 2, r - 1))


@register
class MultiheadAttention(Layer):
    """nn.MultiheadAttention's attention output (need_weights=False): one input (self-attention,
    query = key = value) or three (query, key, value). (L, N, E), or (N, L, E) with batch_first,
    or unbatched (L, E)."""

    family: ClassVar[str] = "attention"
    max_inputs: ClassVar[int | None] = 3
    torch_class: ClassVar[str | None] = None
    has_weight_macs: ClassVar[bool] = True

    embed_dim: PosInt
    num_heads: PosInt
    dropout: Number = 0.0
    bias: bool = True
    kdim: PosInt | None = None
    vdim: PosInt | None = None
    batch_first: bool = False

    examples: ClassVar[tuple] = (
        Example({"embed_dim": 8, "num_heads": 2, "batch_first": True}, ((2, 5, 8),), note="ViT's self-attention"),
        Example({"embed_dim": 8, "num_heads": 4, "kdim": 6, "vdim": 3, "bias": False},
                ((5, 2, 8), (7, 2, 6), (7, 2, 3)), note="cross-attention, sequence first"),
        Example({"embed_dim": 6, "num_heads": 3}, ((4, 6),), note="unbatched"),
        Rejected({"embed_dim": 8, "num_heads": 2, "batch_first": True}, ((2, 5, 6),),
                 torch_says="embed_dim 8 didn.t match last dim of query"),
    )

    @model_validator(mode="after")
    def _heads_divide(self):
        if self.embed_dim % self.num_heads:
            raise ValueError(f"embed_dim={self.embed_dim} must be divisible by num_heads={self.num_heads}")
        return self

    def _qkv(self, inputs):
        q, k, v = (inputs * 3)[:3] if len(inputs) == 1 else inputs
        if len(inputs) == 2:
            raise ShapeError("MultiheadAttention takes 1 (self-attention) or 3 inputs", argument="inputs",
                             value=len(inputs))
        for s in (q, k, v):
            if len(s) not in (2, 3):
                raise ShapeError(f"expects 2-D or 3-D inputs, got {len(s)}-D", argument="inputs", value=list(s))
        require_eq(q[-1], self.embed_dim, lambda: f"was expecting embedding dimension of {self.embed_dim}, "
                   f"but got {q[-1]}", argument="embed_dim", received=q[-1])
        require_eq(k[-1], self.kdim or self.embed_dim, lambda: f"key features {k[-1]} != kdim "
                   f"{self.kdim or self.embed_dim}", argument="kdim", received=k[-1])
        require_eq(v[-1], self.vdim or self.embed_dim, lambda: f"value features {v[-1]} != vdim "
                   f"{self.vdim or self.embed_dim}", argument="vdim", received=v[-1])
        if not len(q) == len(k) == len(v):
            raise ShapeError(f"query, key and value have ranks {len(q)}, {len(k)}, {len(v)}; all must match",
                             argument="inputs", value=[len(q), len(k), len(v)])
        seq = 1 if self.batch_first and len(q) == 3 else 0
        if len(q) == 3:  # one batch size for query, key and value
            for s in (k, v):
                require_eq(s[1 - seq], q[1 - seq], lambda s=s: f"batch size {s[1 - seq]} of key/value differs "
                           f"from the query's {q[1 - seq]}", argument="inputs", received=s[1 - seq])
        L, S = q[seq], k[seq]
        require_eq(v[seq], S, lambda: f"value length {v[seq]} differs from key length {S}", argument="inputs",
                   received=v[seq])
        N = q[1 - seq] if len(q) == 3 else 1
        return q, L, S, N

    def output_shape(self, inputs):
        return tuple(self._qkv(inputs)[0])

    def params(self, inputs):
        E, kd, vd = self.embed_dim, self.kdim or self.embed_dim, self.vdim or self.embed_dim
        b = E if self.bias else 0
        return Params(trainable=E * (E + kd + vd) + 3 * b + E * E + b)  # in-projections + out_proj

    def macs(self, inputs, output):
        q, L, S, N = self._qkv(inputs)
        E, kd, vd = self.embed_dim, self.kdim or self.embed_dim, self.vdim or self.embed_dim
        projections = N * L * E * E + N * S * (kd + vd) * E + N * L * E * E  # q, k, v, out
        return projections + 2 * N * L * S * E  # heads x (q @ k^T + scores @ v), E = heads x head_dim

    def backward_macs(self, inputs, output, input_requires_grad, weight_requires_grad=True):
        # weight gradients of the projections (unless frozen); the attention products have no weight,
        # but a gradient must pass back through them to reach the q/k/v weights or the input
        q, L, S, N = self._qkv(inputs)
        E, kd, vd = self.embed_dim, self.kdim or self.embed_dim, self.vdim or self.embed_dim
        weights = N * L * E * E + N * S * (kd + vd) * E + N * L * E * E
        attention = 2 * N * L * S * E
        if not (input_requires_grad or weight_requires_grad):
            return 0
        weight_grads = weights if weight_requires_grad else 0
        # the output projection's input gradient is always needed once anything upstream is
        return weight_grads + (weights + 2 * attention if input_requires_grad else 2 * attention)

    def other_ops(self, inputs, output):
        q, L, S, N = self._qkv(inputs)
        E = self.embed_dim
        biases = N * (2 * L + 2 * S) * E if self.bias else 0
        return biases + 4 * N * self.num_heads * L * S

    def receptive_field(self, inputs, output):
        seq = 1 if self.batch_first and len(output) == 3 else 0
        return GlobalOver(dims=(seq, len(output) - 1))

    def torch_kwargs(self, inputs):
        return self.model_dump()
