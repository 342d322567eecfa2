"""Swin Transformer's blocks (torchvision.models.swin_transformer), imported as leaf modules:
ShiftedWindowAttention (V1, relative-position-bias table) and ShiftedWindowAttentionV2 (cosine
attention, a continuous position bias from a 2-layer MLP), PatchMerging and PatchMergingV2.

Input (B, H, W, C), channels last. Attention runs within windows of window_size after padding H and
W up to multiples of it: nW = ceil(H/w0) * ceil(W/w1) windows of T = w0*w1 tokens per image.
MACs: qkv B*nW*T * C*3C, attention 2 * B*nW*T*T*C (all heads), proj B*nW*T * C*C; V2 adds its
position MLP on the (2w0-1)(2w1-1) table: that many * (2*512 + 512*heads).
Receptive field: global over H and W, an upper bound: each output reads its own window, but the
shifted blocks roll the map cyclically and mask the wrapped part with -100 (not -inf), so a window
at one border reads the opposite border with a tiny nonzero weight.
"""
from __future__ import annotations

from typing import ClassVar

from ..dims import ceildiv, prod, require_eq
from ..errors import ShapeError
from .base import (GlobalOver, Int, Layer, Params, PosInt, Window, check_rank, concrete_channels,
                   ntuple, register)
from .dropout import Probability
from .examples import Example

SWIN = "torchvision.models.swin_transformer"
CPB_HIDDEN = 512  # torchvision's V2 continuous-position-bias MLP: Linear(2, 512), ReLU, Linear(512, heads)


@register
class ShiftedWindowAttention(Layer):
    """torchvision's Swin (V1) window attention with a (2w0-1)(2w1-1) x heads relative-position-bias table."""

    family: ClassVar[str] = "attention"
    torch_class: ClassVar[str | None] = "torchvision"
    torch_module: ClassVar[str] = SWIN
    inferred: ClassVar[tuple] = ("dim",)
    has_weight_macs: ClassVar[bool] = True

    window_size: PosInt | tuple[PosInt, PosInt]
    shift_size: Int | tuple[Int, Int]  # torch shifts only when the sum is positive
    num_heads: PosInt
    qkv_bias: bool = True
    proj_bias: bool = True
    attention_dropout: Probability = 0.0
    dropout: Probability = 0.0
    dim: PosInt | None = None

    examples: ClassVar[tuple] = (
        Example({"window_size": 4, "shift_size": 0, "num_heads": 2}, ((2, 8, 8, 8),)),
        Example({"window_size": (4, 3), "shift_size": (2, 1), "num_heads": 3, "proj_bias": False},
                ((1, 6, 7, 6),), note="shifted, H and W padded to 8 and 9"),
    )

    @classmethod
    def args_from_module(cls, m) -> dict:
        args = {"window_size": tuple(m.window_size), "shift_size": tuple(m.shift_size), "num_heads": m.num_heads}
        if m.qkv.bias is None:
            args["qkv_bias"] = False
        if m.proj.bias is None:
            args["proj_bias"] = False
        return args

    def infer(self, inputs):
        x = inputs[0]
        check_rank(self, x, (4,))
        c = concrete_channels(x, 3, "channel", self.dim, "dim")
        if c % self.num_heads:  # torch: qkv.reshape(..., 3, num_heads, C // num_heads) fails
            self.fail(f"{c} channels are not divisible by num_heads={self.num_heads}", "num_heads", self.num_heads)
        return {"dim": c}

    def windows(self, x):
        w = ntuple(self.window_size, 2, "window_size")
        n_windows = x[0] * ceildiv(x[1], w[0]) * ceildiv(x[2], w[1])
        return n_windows, w[0] * w[1], w

    def shifted(self, x) -> bool:
        """torchvision's rule: no shift along an axis whose padded size fits in one window; the mask
        is applied when the remaining shifts sum to > 0 (symbolic sizes: assumed to shift)."""
        w = ntuple(self.window_size, 2, "window_size")
        s = list(ntuple(self.shift_size, 2, "shift_size"))
        for axis in range(2):
            padded = ceildiv(x[1 + axis], w[axis]) * w[axis]
            if type(padded) is int and w[axis] >= padded:
                s[axis] = 0
        return sum(s) > 0

    def table(self):
        w = ntuple(self.window_size, 2, "window_size")
        return (2 * w[0] - 1) * (2 * w[1] - 1)

    def params(self, inputs):
        c = self.infer(inputs)["dim"]
        projections = 3 * c * c + (3 * c if self.qkv_bias else 0) + c * c + (c if self.proj_bias else 0)
        return Params(trainable=projections + self.table() * self.num_heads)

    def buffers(self, inputs):
        t = prod(ntuple(self.window_size, 2, "window_size"))
        return t * t  # relative_position_index

    def macs(self, inputs, output):
        c = self.infer(inputs)["dim"]
        n, t, _ = self.windows(inputs[0])
        return n * t * 3 * c * c + 2 * n * t * t * c + n * t * c * c

    def other_ops(self, inputs, output):
        c = self.infer(inputs)["dim"]
        n, t, _ = self.windows(inputs[0])
        scores = n * self.num_heads * t * t
        shifted = self.shifted(inputs[0])
        biases = n * t * (3 * c * self.qkv_bias + c * self.proj_bias)
        # per score: scale, position bias, softmax's 3, and the shift mask's add in shifted blocks
        return scores * (5 + shifted) + biases

    def receptive_field(self, inputs, output):
        return GlobalOver(dims=(1, 2))

    def to_torch(self, inputs):
        from torchvision.models import swin_transformer as swin
        cls = getattr(swin, self.kind)
        dim = self.dim if self.dim is not None else self.infer(inputs)["dim"]
        return cls(dim, list(ntuple(self.window_size, 2, "window_size")),
                   list(ntuple(self.shift_size, 2, "shift_size")), self.num_heads, qkv_bias=self.qkv_bias,
                   proj_bias=self.proj_bias, attention_dropout=self.attention_dropout, dropout=self.dropout)


@register
class ShiftedWindowAttentionV2(ShiftedWindowAttention):
    """torchvision's Swin V2 window attention: cosine attention with a learned logit scale per head and
    a continuous position bias from an MLP on a (2w0-1)(2w1-1) x 2 coordinate table."""

    examples: ClassVar[tuple] = (
        Example({"window_size": 4, "shift_size": 2, "num_heads": 2}, ((2, 8, 8, 8),)),
        Example({"window_size": (3, 4), "shift_size": 0, "num_heads": 1, "qkv_bias": False}, ((1, 5, 6, 4),)),
    )

    def params(self, inputs):
        c = self.infer(inputs)["dim"]
        projections = 3 * c * c + (3 * c if self.qkv_bias else 0) + c * c + (c if self.proj_bias else 0)
        mlp = 2 * CPB_HIDDEN + CPB_HIDDEN + CPB_HIDDEN * self.num_heads
        return Params(trainable=projections + self.num_heads + mlp)  # + logit_scale (heads, 1, 1)

    def buffers(self, inputs):
        return super().buffers(inputs) + 2 * self.table()  # + relative_coords_table

    def macs(self, inputs, output):
        return super().macs(inputs, output) + self.table() * (2 * CPB_HIDDEN + CPB_HIDDEN * self.num_heads)


@register
class PatchMerging(Layer):
    """torchvision's Swin patch merging: pad H, W to even, concatenate the four 2x2 phases
    (4C channels), LayerNorm(4C), Linear(4C, 2C, bias=False): (B, H, W, C) -> (B, ceil(H/2), ceil(W/2), 2C)."""

    family: ClassVar[str] = "attention"
    torch_class: ClassVar[str | None] = "torchvision"
    torch_module: ClassVar[str] = SWIN
    inferred: ClassVar[tuple] = ("dim",)
    has_weight_macs: ClassVar[bool] = True
    norm_width: ClassVar[int] = 4  # the LayerNorm is over 4C channels (V2: 2C, after the reduction)

    dim: PosInt | None = None

    examples: ClassVar[tuple] = (
        Example({}, ((2, 8, 8, 4),)),
        Example({}, ((1, 7, 5, 6),), note="odd H and W are padded"),
        Example({}, ((3, 2, 4, 6, 4),), note="leading dims pass through, as torchvision's slicing allows"),
    )

    def infer(self, inputs):
        x = inputs[0]
        if len(x) < 3:  # torchvision slices x[..., 0::2, 0::2, :]: any leading dims, at least (H, W, C)
            raise ShapeError(f"expects an input of 3 or more dims (..., H, W, C), got {len(x)}-D",
                             argument="input", value=list(x))
        return {"dim": concrete_channels(x, -1, "channel", self.dim, "dim")}

    def output_shape(self, inputs):
        x = inputs[0]
        c = self.infer(inputs)["dim"]
        return tuple(x[:-3]) + (ceildiv(x[-3], 2), ceildiv(x[-2], 2), 2 * c)

    def params(self, inputs):
        c = self.infer(inputs)["dim"]
        return Params(trainable=8 * c * c + 2 * self.norm_width * c)

    def macs(self, inputs, output):
        c = self.infer(inputs)["dim"]
        return prod(output[:-1]) * 4 * c * 2 * c

    def other_ops(self, inputs, output):
        c = self.infer(inputs)["dim"]
        return prod(output[:-1]) * self.norm_width * c * 7  # LayerNorm: statistics 5, scale and shift 2

    def receptive_field(self, inputs, output):
        return Window(kernel=(2, 2, 1), stride=(2, 2, 1), padding=(0, 0, 0))

    def to_torch(self, inputs):
        from torchvision.models import swin_transformer as swin
        return getattr(swin, self.kind)(self.dim if self.dim is not None else self.infer(inputs)["dim"])


@register
class PatchMergingV2(PatchMerging):
    """Swin V2's patch merging: the LayerNorm comes after the reduction, over 2C channels."""

    norm_width: ClassVar[int] = 2


@register
class RelativePositionalMultiHeadAttention(Layer):
    """torchvision's MaxViT attention over (B, G, P, D): G groups (windows or grid cells) of P tokens,
    with a (2s-1)^2 x heads relative-position-bias table (s = sqrt(max_seq_len))."""

    family: ClassVar[str] = "attention"
    torch_class: ClassVar[str | None] = "torchvision"
    torch_module: ClassVar[str] = "torchvision.models.maxvit"
    inferred: ClassVar[tuple] = ("feat_dim",)
    has_weight_macs: ClassVar[bool] = True

    head_dim: PosInt
    max_seq_len: PosInt
    feat_dim: PosInt | None = None

    examples: ClassVar[tuple] = (
        Example({"head_dim": 4, "max_seq_len": 16}, ((2, 3, 16, 8),)),
        Example({"head_dim": 2, "max_seq_len": 9}, ((1, 4, 9, 6),)),
    )

    @classmethod
    def args_from_module(cls, m) -> dict:
        return {"head_dim": m.head_dim, "max_seq_len": m.max_seq_len}

    def infer(self, inputs):
        x = inputs[0]
        check_rank(self, x, (4,))
        d = concrete_channels(x, 3, "feature", self.feat_dim, "feat_dim")
        if d % self.head_dim:
            self.fail(f"feat_dim {d} is not divisible by head_dim={self.head_dim}", "head_dim", self.head_dim)
        s = int(self.max_seq_len ** 0.5)
        if s * s != self.max_seq_len:  # torchvision views the bias table as (max_seq_len, max_seq_len)
            self.fail(f"max_seq_len={self.max_seq_len} is not a square", "max_seq_len", self.max_seq_len)
        # the bias (1, heads, max_seq_len, max_seq_len) is added to the P x P scores of each group
        require_eq(x[2], self.max_seq_len, lambda: f"{x[2]} tokens per group but max_seq_len={self.max_seq_len}",
                   argument="max_seq_len", received=self.max_seq_len)
        return {"feat_dim": d}

    def table(self):
        s = int(self.max_seq_len ** 0.5)  # torchvision: int(math.sqrt(max_seq_len))
        return (2 * s - 1) ** 2

    def params(self, inputs):
        d = self.infer(inputs)["feat_dim"]
        return Params(trainable=3 * d * d + 3 * d + d * d + d + self.table() * (d // self.head_dim))

    def buffers(self, inputs):
        s = int(self.max_seq_len ** 0.5)
        return s ** 4  # relative_position_index: (s*s, s*s)

    def macs(self, inputs, output):
        d = self.infer(inputs)["feat_dim"]
        b, g, p, _ = inputs[0]
        return b * g * p * 4 * d * d + 2 * b * g * p * p * d  # to_qkv and merge; q @ k^T and @ v

    def other_ops(self, inputs, output):
        d = self.infer(inputs)["feat_dim"]
        b, g, p, _ = inputs[0]
        # k's scale (per element), per score: bias and softmax's 3; the bias adds of to_qkv and merge
        return b * g * p * d + 4 * b * g * (d // self.head_dim) * p * p + 4 * b * g * p * d

    def receptive_field(self, inputs, output):
        return GlobalOver(dims=(2, 3))  # within a group, every token sees every token

    def to_torch(self, inputs):
        from torchvision.models.maxvit import RelativePositionalMultiHeadAttention as R
        d = self.feat_dim if self.feat_dim is not None else self.infer(inputs)["feat_dim"]
        return R(d, self.head_dim, self.max_seq_len)


@register
class ShiftedWindowAttention3d(ShiftedWindowAttention):
    """torchvision's video Swin (Swin3D) window attention over (B, T, H, W, C): windows of w0 x w1 x w2
    tokens after padding T, H, W up to multiples; along an axis no longer than the window the window
    is clipped to the axis and does not shift (torchvision's _get_window_and_shift_size). Relative-
    position-bias table (2w0-1)(2w1-1)(2w2-1) x heads; the index buffer is the full window's."""

    torch_module: ClassVar[str] = "torchvision.models.video.swin_transformer"

    window_size: tuple[PosInt, PosInt, PosInt]
    shift_size: tuple[Int, Int, Int]

    examples: ClassVar[tuple] = (
        Example({"window_size": (2, 4, 4), "shift_size": (1, 2, 2), "num_heads": 2}, ((1, 4, 8, 8, 8),)),
        Example({"window_size": (8, 7, 7), "shift_size": (4, 3, 3), "num_heads": 3}, ((2, 4, 7, 9, 6),),
                note="clipped to T = 4 and H = 7 (no shift there); W padded to 14"),
        Example({"window_size": (2, 3, 3), "shift_size": (0, 0, 0), "num_heads": 1, "qkv_bias": False},
                ((1, 3, 5, 4, 4),)),
    )

    def infer(self, inputs):
        x = inputs[0]
        check_rank(self, x, (5,))
        c = concrete_channels(x, 4, "channel", self.dim, "dim")
        if c % self.num_heads:
            self.fail(f"{c} channels are not divisible by num_heads={self.num_heads}", "num_heads", self.num_heads)
        return {"dim": c}

    def effective(self, x):
        """(window, shift) per axis after torchvision's clipping to short axes; a symbolic size is
        refused, since whether the window is clipped (and the counts) depend on it."""
        window, shift = [], []
        for axis in range(3):
            size, w, s = x[1 + axis], self.window_size[axis], self.shift_size[axis]
            if type(size) is not int:
                raise ShapeError(f"axis {1 + axis} is {size}: whether the window {w} is clipped to it depends on "
                                 f"its size, give it concretely", argument="input", value=str(size))
            clipped = size <= w
            window.append(size if clipped else w)
            shift.append(0 if clipped else s)
        return tuple(window), tuple(shift)

    def windows(self, x):
        w, _ = self.effective(x)
        n_windows = x[0] * ceildiv(x[1], w[0]) * ceildiv(x[2], w[1]) * ceildiv(x[3], w[2])
        return n_windows, w[0] * w[1] * w[2], w

    def shifted(self, x) -> bool:
        return sum(self.effective(x)[1]) > 0

    def table(self):
        return prod(2 * w - 1 for w in self.window_size)

    def buffers(self, inputs):
        return prod(self.window_size) ** 2  # relative_position_index of the full window

    def receptive_field(self, inputs, output):
        return GlobalOver(dims=(1, 2, 3))

    def to_torch(self, inputs):
        from torchvision.models.video import swin_transformer as vswin
        dim = self.dim if self.dim is not None else self.infer(inputs)["dim"]
        return vswin.ShiftedWindowAttention3d(dim, list(self.window_size), list(self.shift_size), self.num_heads,
                                              qkv_bias=self.qkv_bias, proj_bias=self.proj_bias,
                                              attention_dropout=self.attention_dropout, dropout=self.dropout)
