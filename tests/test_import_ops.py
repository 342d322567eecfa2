"""The importer's op-pattern registry (convshape/torch/ops) and the ops it maps."""
import pytest

torch = pytest.importorskip("torch")
import torch.nn.functional as F  # noqa: E402
from torch import nn  # noqa: E402

import convshape as cs  # noqa: E402
from convshape.torch.importer import UnmappedOps, from_torch  # noqa: E402
from convshape.torch.ops import PATTERNS, SIGNATURES, bind, canonical, pattern  # noqa: E402


def test_registering_an_op_twice_raises():
    with pytest.raises(ValueError, match="op pattern relu is registered twice"):
        pattern("relu")(lambda m, name, a, out: None)
    assert PATTERNS["relu"].__name__ == "activation"  # the first registration stays


def test_every_pattern_has_a_signature_and_binds_by_it():
    assert set(PATTERNS) == set(SIGNATURES)
    # F.conv2d(x, w, None, 2) binds by conv2d's registered names
    assert bind("conv2d", ("x", "w", None, 2), {}) == {"input": "x", "weight": "w", "bias": None, "stride": 2}
    # view(*shape) gathers the rest, given spread or as one tuple
    assert bind("view", ("x", 1, -1), {}) == bind("view", ("x", (1, -1)), {}) == {"input": "x", "shape": (1, -1)}


def test_operator_names_are_canonical_and_reflected_ops_keep_their_order():
    import operator
    assert [canonical(t) for t in (operator.add, "__iadd__", "__radd__", "add_", torch.add)] == ["add"] * 5
    # 2 - x reaches Tensor.__rsub__(x, 2): it must not read as x - 2's sub(x, 2)
    assert canonical("__rsub__") == "rsub" and canonical("__rtruediv__") == "rtruediv"


def truth(m, shape):
    """torch's own figures: parameter and buffer numel, forward MACs (FlopCounterMode / 2), output shape."""
    from torch.utils.flop_counter import FlopCounterMode
    m = m.to("meta").eval()
    with FlopCounterMode(display=False) as fc:
        y = m(torch.empty(shape, device="meta"))
    return (sum(p.numel() for p in m.parameters()), sum(b.numel() for b in m.buffers()),
            fc.get_total_flops() // 2, tuple(y.shape))


def ours(net):
    r = cs.analyze(net)
    return (r.totals.params, r.totals.buffers, r.totals.macs, tuple(r.output_shape))


class ArithBlock(nn.Module):
    """NF-Net's scaled activation, PoolFormer's token mixer, ConvNeXt-V2's GRN, an RMS norm, a clamp."""

    def __init__(self, c=8):
        super().__init__()
        self.pool = nn.AvgPool2d(3, 1, 1, count_include_pad=False)
        self.gamma = nn.Parameter(torch.zeros(1, 1, 1, c))
        self.beta = nn.Parameter(torch.zeros(1, 1, 1, c))
        self.register_buffer("mean", torch.zeros(1, c, 1, 1))

    def forward(self, x):
        x = F.relu(x) * 1.7015                       # NF-Net
        x = self.pool(x) - x                         # PoolFormer
        x = (x - self.mean) / 2.0                    # a fixed normalisation constant
        y = x.permute(0, 2, 3, 1)                    # GRN, channels-last
        g = y.pow(2).sum(dim=(1, 2), keepdim=True).sqrt()
        n = g / (g.mean(dim=-1, keepdim=True) + 1e-6)
        y = self.gamma * (y * n) + self.beta + y
        y = y * torch.rsqrt(y.square().mean(-1, keepdim=True) + 1e-6)  # RMS norm
        return y.clamp(min=0.0).amax(dim=-1)


def test_elementwise_algebra_imports_exactly():
    m = ArithBlock()
    net = from_torch(m, (2, 8, 6, 6))
    kinds = [n.kind for n in net.nodes]
    assert kinds == ["ReLU", "ScalarArith", "AvgPool2d", "Sub", "ParamArith", "ScalarArith", "Permute",
                     "ScalarArith", "Reduce", "UnaryOp", "Reduce", "ScalarArith", "Div", "Mul", "LayerScale",
                     "ParamArith", "Add", "UnaryOp", "Reduce", "ScalarArith", "UnaryOp", "Mul", "ScalarArith",
                     "Reduce"]
    # gamma 8 + beta 8 = 16 parameters; the mean buffer 8; no products of two tensors: 0 MACs
    assert ours(net) == truth(m, (2, 8, 6, 6)) == (16, 8, 0, (2, 6, 6))
    sub = net.nodes[4].layer
    assert (sub.op, sub.shape, sub.trainable) == ("sub", (1, 8, 1, 1), False)
    rsub = cs.analyze(from_torch(Rsub(), (2, 3))).layers[0]
    assert rsub.type == "ScalarArith" and rsub.output_shape == (2, 3) and rsub.other_ops == 6  # one per element


class Rsub(nn.Module):
    def forward(self, x):
        return 1 - x


class TokenAttention(nn.Module):
    """timm-style attention: qkv Linear, reshape to heads, q @ k^T, softmax, @ v; then F.sdpa."""

    def __init__(self, dim=16, heads=2):
        super().__init__()
        self.heads, self.qkv, self.proj = heads, nn.Linear(dim, 3 * dim), nn.Linear(dim, dim)

    def forward(self, x):
        B, N, C = x.shape
        qkv = self.qkv(x).reshape(B, N, 3, self.heads, C // self.heads).permute(2, 0, 3, 1, 4)
        q, k, v = qkv[0], qkv[1], qkv[2]
        a = (q @ k.transpose(-2, -1)) * (C // self.heads) ** -0.5
        y = a.softmax(dim=-1) @ v
        y = F.scaled_dot_product_attention(y, k, v)
        return self.proj(y.transpose(1, 2).reshape(B, N, C))


class PatchMerge(nn.Module):
    """Swin's patch merging: four strided crops of a channels-last map, concatenated, a LayerNorm
    over the channels; then an SK-Net style stack of two branches summed."""

    def __init__(self, c=4):
        super().__init__()
        self.norm, self.reduction = nn.LayerNorm(4 * c), nn.Linear(4 * c, 2 * c, bias=False)

    def forward(self, x):
        x0, x1 = x[..., 0::2, 0::2, :], x[..., 1::2, 0::2, :]
        x2, x3 = x[..., 0::2, 1::2, :], x[..., 1::2, 1::2, :]
        y = self.reduction(self.norm(torch.cat([x0, x1, x2, x3], -1)))
        return torch.stack([y, y * 2], dim=1).sum(dim=1).unsqueeze(1).squeeze(1)


def test_strided_slices_stack_sum_unsqueeze_squeeze_import_exactly():
    m = PatchMerge()
    net = from_torch(m, (2, 6, 8, 4))
    kinds = [n.kind for n in net.nodes]
    assert kinds == ["Index", "Index", "Index", "Index", "Concat", "LayerNorm", "Linear", "ScalarArith", "Stack",
                     "Reduce", "Unsqueeze", "Squeeze"]
    assert net.nodes[1].layer.index == ((None, None, None), (1, None, 2), (0, None, 2))
    # norm 2*16 = 32, reduction 16*8 = 128; MACs 2*3*4 * 16*8 = 3072
    assert ours(net) == truth(m, (2, 6, 8, 4)) == (160, 0, 3072, (2, 3, 4, 8))


def test_vit_imports_exactly_and_stays_symbolic():
    torchvision = pytest.importorskip("torchvision")
    with torch.device("meta"):
        m = torchvision.models.VisionTransformer(image_size=32, patch_size=16, num_layers=2, num_heads=2,
                                                 hidden_dim=8, mlp_dim=16, num_classes=3)
    net = from_torch(m, (2, 3, 32, 32))
    assert "MultiheadAttention" in [n.kind for n in net.nodes]
    # conv_proj 8*3*16*16+8 = 6152, class token 8, position embedding (1, 5, 8) = 40,
    # per layer: 2 LayerNorms 32, attention 4*8*8+4*8 = 288, MLP 8*16+16+16*8+8 = 280 -> 600 each,
    # final LayerNorm 16, head 8*3+3 = 27: 6152 + 8 + 40 + 1200 + 16 + 27 = 7443
    assert ours(net) == truth(m, (2, 3, 32, 32)) and ours(net)[0] == 7443
    # symbolic N, H, W: the figures at (2, 3, 32, 32) are the concrete ones; the position embedding
    # (1, 5, 8) records the condition (H/16)(W/16) + 1 == 5; attention makes the field global
    r = cs.analyze(net, input_shape=("N", 3, "H", "W"))
    at = {"N": 2, "H": 32, "W": 32}
    assert str(r.output_shape[0]) == "N" and cs.dims.substitute(r.totals.macs, at) == ours(net)[2]
    assert any("ParamArith" in c.message for c in r.conditions)
    assert r.layers[-1].receptive_field.is_global


def test_frozen_batchnorm_detection_backbone_imports_exactly():
    torchvision = pytest.importorskip("torchvision")
    from torchvision.ops.misc import FrozenBatchNorm2d
    with torch.device("meta"):  # what torchvision's detection models build their backbones with
        body = torchvision.models.resnet18(weights=None, norm_layer=FrozenBatchNorm2d)
    net = from_torch(body, (1, 3, 64, 64))
    assert sum(n.kind == "FrozenBatchNorm2d" for n in net.nodes) == 20  # every BN of resnet18
    # frozen BN: 4 buffers per channel (4 * 4,800 channels = 19,200), no parameters: resnet18's
    # 11,689,512 minus its BNs' 2 * 4,800 = 11,679,912
    assert ours(net) == truth(body, (1, 3, 64, 64))
    assert ours(net)[:2] == (11_679_912, 19_200)


def test_a_parameter_read_twice_is_refused_by_name():
    class Twice(nn.Module):
        def __init__(self):
            super().__init__()
            self.b = nn.Parameter(torch.zeros(4))

        def forward(self, x):
            return x + self.b - self.b

    with pytest.raises(UnmappedOps, match="parameter 'b' read by more than one op"):
        from_torch(Twice(), (2, 4))


@pytest.mark.parametrize("v2", [False, True])
def test_swin_imports_exactly(v2):
    torchvision = pytest.importorskip("torchvision")
    from torchvision.models import swin_transformer as swin
    extra = {"block": swin.SwinTransformerBlockV2, "downsample_layer": swin.PatchMergingV2} if v2 else {}
    with torch.device("meta"):
        m = swin.SwinTransformer(patch_size=[4, 4], embed_dim=8, depths=[2, 2], num_heads=[1, 2],
                                 window_size=[4, 4], num_classes=3, **extra)
    net = from_torch(m, (1, 3, 32, 32))
    kinds = [n.kind for n in net.nodes]
    attention = "ShiftedWindowAttentionV2" if v2 else "ShiftedWindowAttention"
    assert kinds.count(attention) == 4 and kinds.count("PatchMergingV2" if v2 else "PatchMerging") == 1
    assert ours(net) == truth(m, (1, 3, 32, 32))
    if not v2:
        # stage 1 (8x8 tokens of 8 channels, windows 4x4: 4 windows of 16 tokens), one block:
        # qkv 64*8*24 = 12,288, attention 2 * 4*16*16*8 = 16,384, proj 64*8*8 = 4,096
        assert cs.analyze(net).layers[kinds.index(attention)].macs == 12_288 + 16_384 + 4_096


def test_maxvit_imports_exactly():
    torchvision = pytest.importorskip("torchvision")
    with torch.device("meta"):
        m = torchvision.models.MaxVit(input_size=(32, 32), stem_channels=8, partition_size=2, block_channels=[8],
                                      block_layers=[1], head_dim=4, stochastic_depth_prob=0.0, num_classes=3)
    net = from_torch(m, (1, 3, 32, 32))
    # one block: window attention and grid attention
    assert [n.kind for n in net.nodes].count("RelativePositionalMultiHeadAttention") == 2
    assert ours(net) == truth(m, (1, 3, 32, 32))


def test_a_weight_computed_from_parameters_is_refused_not_miscounted():
    class ScaledStdConv(nn.Conv2d):
        """NF-Net's weight standardization: the weight is computed from itself and a gain parameter."""

        def __init__(self):
            super().__init__(3, 4, 3)
            self.gain = nn.Parameter(torch.ones(4, 1, 1, 1))

        def forward(self, x):
            w = (self.weight - self.weight.mean(dim=(1, 2, 3), keepdim=True)) * self.gain
            return F.conv2d(x, w, self.bias)

    # counting the conv by its weight's shape would drop the 4 gains: 4*3*9 + 4 = 112 of torch's 116
    with pytest.raises(UnmappedOps, match="conv2d with a value computed from parameters"):
        from_torch(ScaledStdConv(), (1, 3, 8, 8))


class StdConv(nn.Conv2d):
    """timm.layers.StdConv2d / ScaledStdConv2d's forward, copied (timm is no test dependency): the
    weight standardized per output channel at every call, with a gain per output channel."""

    def __init__(self, *args, gain=False, **kwargs):
        super().__init__(*args, **kwargs)
        self.gain = nn.Parameter(torch.ones(self.out_channels, 1, 1, 1)) if gain else None
        self.scale = (self.weight[0].numel()) ** -0.5

    def forward(self, x):
        weight = F.batch_norm(self.weight.reshape(1, self.out_channels, -1), None, None,
                              weight=None if self.gain is None else (self.gain * self.scale).view(-1),
                              training=True, momentum=0., eps=1e-6).reshape_as(self.weight)
        return F.conv2d(x, weight, self.bias, self.stride, self.padding, self.dilation, self.groups)


def test_weight_standardized_convs_import_exactly():
    m = nn.Sequential(StdConv(3, 4, 3, gain=True), nn.ReLU(), StdConv(4, 6, 3, bias=False))
    net = from_torch(m, (1, 3, 8, 8))
    assert [(n.kind, n.layer.gain) for n in net.nodes if n.kind == "StdConv2d"] == [("StdConv2d", True),
                                                                                      ("StdConv2d", False)]
    # params: 4*3*9 weight + 4 bias + 4 gains = 116; 6*4*9 = 216; 332 in all (the gains counted)
    # MACs: 4*6*6 outputs * 27 = 3,888; 6*4*4 * 36 = 3,456; 7,344 (the standardization is no MAC)
    assert ours(net) == truth(m, (1, 3, 8, 8)) == (332, 0, 7_344, (1, 6, 4, 4))
    r = cs.analyze(net)
    # other_ops: bias adds 144 + standardizing 108 weights at 5 + 1 (gain) = 648 -> 792; 216 * 5 = 1,080
    assert [lr.other_ops for lr in r.layers if lr.type == "StdConv2d"] == [792, 1_080]


def test_a_standardized_weight_read_twice_is_refused():
    class Twice(StdConv):
        def forward(self, x):  # the same standardized parameter feeds two convs: the second read is refused
            return super().forward(x) + super().forward(x)
    with pytest.raises(UnmappedOps, match="conv2d with a value computed from parameters"):
        from_torch(Twice(3, 4, 3, padding=1), (1, 3, 8, 8))


class GRN(nn.Module):
    """timm.layers.GlobalResponseNorm's forward (ConvNeXt-V2), channels-last, copied."""

    def __init__(self, dim):
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(dim))
        self.bias = nn.Parameter(torch.zeros(dim))

    def forward(self, x):
        x_g = x.norm(p=2, dim=(1, 2), keepdim=True)
        x_n = x_g / (x_g.mean(dim=-1, keepdim=True) + 1e-6)
        return x + torch.addcmul(self.bias.view(1, 1, 1, -1), self.weight.view(1, 1, 1, -1), x * x_n)


def test_convnext_v2_grn_imports_exactly():
    class Block(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv, self.grn = nn.Conv2d(3, 8, 1), GRN(8)

        def forward(self, x):
            return self.grn(self.conv(x).permute(0, 2, 3, 1))

    m, x = Block(), (2, 3, 5, 5)
    net = from_torch(m, x)
    kinds = [n.kind for n in net.nodes]
    # addcmul(bias, weight, x * x_n) is one Affine: torch makes no intermediate weight * x
    assert kinds == ["Conv2d", "Permute", "Reduce", "Reduce", "ScalarArith", "Div", "Mul", "Affine", "Add"]
    assert net.nodes[7].layer.shape == (1, 1, 1, 8) and net.nodes[7].layer.bias_shape is None
    # params: conv 8*3 + 8 = 32, GRN weight 8 + bias 8 = 48; MACs: 2*8*5*5 outputs * 3 = 1,200
    assert ours(net) == truth(m, x) == (48, 0, 1_200, (2, 5, 5, 8))
    r = cs.analyze(net)
    # the norm over H, W of 2*5*5*8 = 400 elements: 400 squares + (400 - 16) adds + 16 square roots = 800
    assert r.layers[2].other_ops == 800 and tuple(r.layers[2].output_shape) == (2, 1, 1, 8)


class AddcmulVariants(nn.Module):
    """addcmul as GRN writes it, with value != 1, a bias of another shape, the tensor first (commuted),
    and with fixed buffers."""

    def __init__(self, c=8, value=0.5, buffers=False):
        super().__init__()
        self.value = value
        for name, t in (("weight", torch.zeros(c)), ("bias", torch.zeros(1))):
            self.register_buffer(name, t) if buffers else setattr(self, name, nn.Parameter(t))

    def forward(self, x):
        # tensor1 is the tensor: weight and x swap (the product commutes)
        return torch.addcmul(self.bias, x, self.weight.view(1, 1, -1), value=self.value)


@pytest.mark.parametrize("buffers", [False, True])
def test_addcmul_is_one_affine_with_value_bias_shape_and_buffers(buffers):
    m, x = AddcmulVariants(buffers=buffers), (2, 5, 8)
    net = from_torch(m, x)
    assert [(n.kind, n.inputs) for n in net.nodes] == [("Affine", ("input",))]
    a = net.nodes[0].layer
    assert (a.shape, a.bias_shape, a.value, a.trainable) == ((1, 1, 8), (1,), 0.5, not buffers)
    # weight 8 + bias 1 = 9 tensors, learned or fixed; an element-wise op: 0 MACs
    assert ours(net) == truth(m, x) == ((0, 9) if buffers else (9, 0)) + (0, (2, 5, 8))
    # other ops: value * weight * x + bias is 3 per output element, 3 * 2*5*8 = 240
    assert cs.analyze(net).layers[0].other_ops == 240


def test_imported_affine_round_trips_through_the_spec_and_torch():
    from dataclasses import replace

    from convshape.torch.build import to_torch
    from convshape.torch.spec_writer import to_yaml

    def numbers(report):  # every per-layer figure and the totals, memory included (not the spec's line)
        return [{k: v for k, v in r.to_dict().items() if k != "location"} for r in report.layers], \
            report.totals.to_dict()

    class Block(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv, self.grn, self.tail = nn.Conv2d(3, 8, 1), GRN(8), AddcmulVariants()

        def forward(self, x):
            return self.tail(self.grn(self.conv(x).permute(0, 2, 3, 1)).flatten(1, 2))

    net = from_torch(Block(), (2, 3, 5, 5))
    assert [n.kind for n in net.nodes].count("Affine") == 2
    text = to_yaml(net)
    assert "Affine" in text and "bias_shape" in text and "value: 0.5" in text
    again = cs.loads(text)
    # a spec has no `holds` (values the imported forward keeps in Python: GRN's x until its last add),
    # so it matches the graph without them, as convshape's torch module does (torch/check.py)
    assert numbers(cs.analyze(again)) == numbers(cs.analyze(replace(net, holds=None)))
    # convshape's torch module re-imports as the same Affine layers
    rebuilt = from_torch(to_torch(net), (2, 3, 5, 5))
    assert [n.layer for n in rebuilt.nodes] == [n.layer for n in net.nodes]


class AddcmulRefused(nn.Module):
    def __init__(self, case):
        super().__init__()
        self.case = case
        self.weight = nn.Parameter(torch.zeros(8))
        if case == "mixed":
            self.register_buffer("bias", torch.zeros(8))
        else:
            self.bias = nn.Parameter(torch.zeros(8))
        self.table = nn.Parameter(torch.zeros(3, 8))
        self.register_buffer("idx", torch.zeros(1, dtype=torch.int64))

    def forward(self, x):
        if self.case == "gathered":  # a weight gathered from a table by a fixed index
            return torch.addcmul(self.bias, self.table[self.idx], x)
        if self.case == "tensors":
            return torch.addcmul(x, self.weight, x)
        return torch.addcmul(self.bias, self.weight, x)


@pytest.mark.parametrize("case, reason", [
    ("mixed", "addcmul with one buffer and one parameter"),
    ("gathered", "addcmul with a gathered parameter table"),
    ("tensors", "addcmul of tensors"),
])
def test_addcmul_outside_affine_is_refused_by_name(case, reason):
    with pytest.raises(UnmappedOps, match=reason):
        from_torch(AddcmulRefused(case), (2, 5, 8))


def test_f_normalize_imports_exactly():
    class L2Norm(nn.Module):
        """torchvision SSD300's scaled L2 norm of VGG's conv4_3."""

        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(3, 8, 3, padding=1)
            self.scale_weight = nn.Parameter(torch.ones(8) * 20)

        def forward(self, x):
            return self.scale_weight.view(1, -1, 1, 1) * F.normalize(self.conv(x))

    m = L2Norm()
    net = from_torch(m, (2, 3, 4, 4))
    assert [n.kind for n in net.nodes] == ["Conv2d", "Normalize", "LayerScale"]
    # params: 8*3*9 + 8 = 224, scale 8 = 232; MACs 2*8*4*4 outputs * 27 = 6,912
    assert ours(net) == truth(m, (2, 3, 4, 4)) == (232, 0, 6_912, (2, 8, 4, 4))
    # other_ops: 3 per element, 256 elements, + 1 per vector over dim 1, 2*4*4 = 32: 800
    assert cs.analyze(net).layers[1].other_ops == 3 * 256 + 32

    class L1(nn.Module):
        def forward(self, x):
            return F.normalize(x, p=1.0)
    with pytest.raises(UnmappedOps, match="normalize with p=1.0"):  # only the 2-norm has a kind
        from_torch(L1(), (2, 3))


def test_qkv_unbind_attention_imports_exactly():
    class Attention(nn.Module):
        """timm's ViT attention: one qkv projection, q, k, v = qkv.unbind(0), SDPA."""

        def __init__(self, dim=16, heads=2):
            super().__init__()
            self.heads = heads
            self.qkv = nn.Linear(dim, dim * 3)
            self.proj = nn.Linear(dim, dim)

        def forward(self, x):
            B, N, C = x.shape
            qkv = self.qkv(x).reshape(B, N, 3, self.heads, C // self.heads).permute(2, 0, 3, 1, 4)
            q, k, v = qkv.unbind(0)
            x = F.scaled_dot_product_attention(q, k, v)
            return self.proj(x.transpose(1, 2).reshape(B, N, C))

    m = Attention()
    net = from_torch(m, (2, 5, 16))
    assert [n.kind for n in net.nodes].count("Index") == 3
    # params: qkv 16*48 + 48 = 816, proj 16*16 + 16 = 272 -> 1,088
    # MACs: qkv 2*5*48*16 = 7,680; q k^T and attn v 2 * (2*2*5*5*8) = 1,600; proj 2*5*16*16 = 2,560 -> 11,840
    assert ours(net) == truth(m, (2, 5, 16)) == (1_088, 0, 11_840, (2, 5, 16))


class BiasedAttention(nn.Module):
    """LeViT / EfficientFormer / TinyViT attention: a learned bias per head and relative offset,
    gathered by a fixed index buffer, added to the scores (by hand, or as SDPA's attn_mask)."""

    def __init__(self, dim=8, heads=2, side=3, sdpa=False):
        super().__init__()
        n, self.heads, self.sdpa = side * side, heads, sdpa
        self.qkv = nn.Linear(dim, 3 * dim)
        self.attention_biases = nn.Parameter(torch.zeros(heads, n))
        self.register_buffer("attention_bias_idxs", torch.zeros(n, n, dtype=torch.long))

    def forward(self, x):
        B, N, C = x.shape
        q, k, v = self.qkv(x).reshape(B, N, 3, self.heads, C // self.heads).permute(2, 0, 3, 1, 4).unbind(0)
        bias = self.attention_biases[:, self.attention_bias_idxs]
        if self.sdpa:
            return F.scaled_dot_product_attention(q, k, v, attn_mask=bias)
        return ((q @ k.transpose(-2, -1)) * 0.5 + bias).softmax(dim=-1) @ v


@pytest.mark.parametrize("sdpa", [False, True])
def test_gathered_attention_biases_import_exactly(sdpa):
    m = BiasedAttention(sdpa=sdpa)
    net = from_torch(m, (2, 9, 8))
    kind = "ScaledDotProductAttention" if sdpa else "ParamArith"
    (layer,) = [n.layer for n in net.nodes if n.kind == kind]
    assert (layer.bias_table, layer.bias_index) == ((2, 9), (9, 9)) if sdpa else (layer.table, layer.index) == \
        ((2, 9), (9, 9))
    # params: qkv 8*24 + 24 = 216, the table 2*9 = 18 (not the gathered 2*9*9 = 162): 234; buffers: the index 81
    # MACs: qkv 2*9*24*8 = 3,456; scores and output 2 * (2*2*9*9*4) = 2,592 -> 6,048
    assert ours(net) == truth(m, (2, 9, 8)) == (234, 81, 6_048, (2, 2, 9, 4))


def test_a_gathered_table_read_twice_is_refused():
    class Twice(BiasedAttention):
        def forward(self, x):  # the table added twice: counting it twice would be wrong, so the second read refuses
            q = self.qkv(x)[..., :8].reshape(2, 9, 2, 4).transpose(1, 2)
            bias = self.attention_biases[:, self.attention_bias_idxs]
            return (q @ q.transpose(-2, -1)) + bias + self.attention_biases[:, self.attention_bias_idxs]
    with pytest.raises(UnmappedOps, match="read by more than one op"):
        from_torch(Twice(), (2, 9, 8))


def test_matmul_with_a_parameter_repeat_expand_and_group_norm_without_bias():
    class Block(nn.Module):
        def __init__(self):
            super().__init__()
            self.w_g = nn.Parameter(torch.zeros(8, 1))       # SwiftFormer's additive attention vector
            self.norm_w = nn.Parameter(torch.ones(4))        # timm's GroupNorm1NoBias: a weight, no bias
            self.token = nn.Conv2d(4, 4, 1)

        def forward(self, x):                                # x: (2, 1, 5, 5)
            x = x.repeat(1, 4, 1, 1)                         # VNet: 4 copies along the channels
            x = F.group_norm(x, 1, self.norm_w, None)
            t = self.token(x).flatten(2).transpose(1, 2)     # (2, 25, 4)
            g = torch.cat([t, t], dim=-1) @ self.w_g         # (2, 25, 1)
            return torch.cat([g.expand(-1, -1, 3), t], dim=-1)  # an expand read by a cat: an Expand

    m = Block()
    net = from_torch(m, (2, 1, 5, 5))
    kinds = [n.kind for n in net.nodes]
    assert kinds[:2] == ["Concat", "GroupNorm"] and "Linear" in kinds and "Expand" in kinds
    # params: w_g 8, norm weight 4 (no bias), conv 4*4 + 4 = 20 -> 32
    # MACs: conv 2*4*5*5 * 4 = 800; x @ w_g 2*25 rows * 8 * 1 = 400 -> 1,200
    assert ours(net) == truth(m, (2, 1, 5, 5)) == (32, 0, 1_200, (2, 25, 7))


def test_slice_bounds_read_from_sizes_import_under_fx():
    class Split(nn.Module):
        """PiT's x[:, :n] with n from x.shape (an fx node inside the slice)."""

        def forward(self, x):
            n = x.shape[1] // 2
            return x[:, :n] * 2.0

    net = from_torch(Split(), (2, 6, 4))
    assert net.frontend.startswith("fx") and [n.kind for n in net.nodes] == ["Narrow", "ScalarArith"]
    assert ours(net)[3] == (2, 3, 4)


def test_repeat_interleave_of_one_and_as_tensor():
    class Global(nn.Module):
        """GC-ViT's global query for one image, repeated per window; MONAI's torch.as_tensor(x)."""

        def forward(self, q, windows):                     # q: (1, 4, 8), windows: (3, 4, 8)
            q = torch.as_tensor(q).repeat_interleave(windows.shape[0] // q.shape[0], dim=0)
            return q @ windows.transpose(1, 2)

    from torch.utils.flop_counter import FlopCounterMode
    net = from_torch(Global(), {"q": (1, 4, 8), "windows": (3, 4, 8)})
    assert [n.kind for n in net.nodes] == ["Concat", "Permute", "MatMul"]
    r = cs.analyze(net)
    with FlopCounterMode(display=False) as fc:
        y = Global()(torch.empty(1, 4, 8, device="meta"), torch.empty(3, 4, 8, device="meta"))
    # 3 windows * 4 * 4 scores * 8 = 384 MACs; the copies cost nothing
    assert (tuple(r.output_shape), r.totals.macs) == (tuple(y.shape), fc.get_total_flops() // 2) == ((3, 4, 4), 384)

    class Interleaved(nn.Module):
        def forward(self, x):
            return x.repeat_interleave(2, dim=0)
    with pytest.raises(UnmappedOps, match="repeat_interleave along a dim of size 3"):
        from_torch(Interleaved(), (3, 4))


def test_video_swin_imports_exactly():
    pytest.importorskip("torchvision")
    from torchvision.models.video import swin_transformer as vswin
    with torch.device("meta"):
        m = vswin.SwinTransformer3d(patch_size=[2, 4, 4], embed_dim=8, depths=[2, 2], num_heads=[1, 2],
                                    window_size=[2, 4, 4], num_classes=3)
    x = (1, 3, 4, 32, 32)
    net = from_torch(m, x)
    kinds = [n.kind for n in net.nodes]
    assert kinds.count("ShiftedWindowAttention3d") == 4 and kinds.count("PatchMerging") == 1
    assert ours(net) == truth(m, x)
    # stage 1: 2x8x8 tokens of 8 channels in 2x4x4 windows: 4 windows of 32 tokens, one block:
    # qkv 128*8*24 = 24,576, attention 2 * 4*32*32*8 = 65,536, proj 128*8*8 = 8,192
    assert cs.analyze(net).layers[kinds.index("ShiftedWindowAttention3d")].macs == 24_576 + 65_536 + 8_192


def test_tensor_unfold_imports_and_f_unfold_is_refused():
    class Halo(nn.Module):
        """HaloNet's overlapping key blocks: pad, then x.unfold twice (windows of 6 every 4)."""

        def __init__(self):
            super().__init__()
            self.kv = nn.Conv2d(3, 4, 1)

        def forward(self, x):
            kv = F.pad(self.kv(x), [1, 1, 1, 1])
            return kv.unfold(2, 6, 4).unfold(3, 6, 4)

    m = Halo()
    net = from_torch(m, (2, 3, 8, 8))
    assert [n.kind for n in net.nodes][-2:] == ["TensorUnfold", "TensorUnfold"]
    # 10 padded positions -> (10 - 6) // 4 + 1 = 2 windows per axis; MACs: conv 2*4*8*8 * 3 = 1,536
    assert ours(net) == truth(m, (2, 3, 8, 8)) == (16, 0, 1_536, (2, 4, 2, 2, 6, 6))

    class Im2col(nn.Module):
        def forward(self, x):
            return F.unfold(x, 2)
    with pytest.raises(UnmappedOps, match="F.unfold's im2col"):
        from_torch(Im2col(), (1, 2, 4, 4))


def test_import_leaves_the_module_as_it_was_on_cpu_and_on_meta():
    for device in ("cpu", "meta"):  # a CPU module is copied to meta for the trace; a meta one is traced as is
        with torch.device(device):
            m = nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.Dropout(0.5))
        m.train()
        net = from_torch(m, (1, 3, 8, 8))
        assert m.training and all(p.device.type == device for p in m.parameters())
        # 4*3*9 + 4 conv, 8 BatchNorm affine: 120 parameters; 4 + 4 + 1 buffers
        assert ours(net)[:2] == (120, 9)


def test_lstm_output_imports_exactly():
    class Rows(nn.Module):
        """Sequencer2D's LSTM over the rows of a channels-last map: v, _ = lstm(rows)."""

        def __init__(self):
            super().__init__()
            self.rnn = nn.LSTM(8, 16, batch_first=True, bidirectional=True)

        def forward(self, x):                      # x: (2, 3, 5, 8)
            v, _ = self.rnn(x.reshape(-1, 5, 8))
            return v.reshape(2, 3, 5, 32)

    m = Rows()
    net = from_torch(m, (2, 3, 5, 8))
    assert "LSTM" in [n.kind for n in net.nodes]
    # params per direction: 4*16*8 + 4*16*16 + 8*16 = 1,664 -> 3,328
    # MACs: 6 sequences * 5 steps * 2 directions * 4*16*(8 + 16) = 92,160
    assert ours(net) == truth(m, (2, 3, 5, 8)) == (3_328, 0, 92_160, (2, 3, 5, 32))

    class WithState(nn.Module):
        def __init__(self):
            super().__init__()
            self.rnn = nn.LSTM(4, 4)

        def forward(self, x):
            return self.rnn(x)[1][0]
    with pytest.raises(UnmappedOps, match="final states"):
        from_torch(WithState(), (3, 2, 4))


@pytest.mark.parametrize("kw,shape", [({}, (5, 2, 4)), ({"batch_first": True, "bidirectional": True}, (2, 5, 4)),
                                      ({"num_layers": 2, "proj_size": 2}, (5, 4)), ({"bidirectional": True}, (5, 4))])
def test_the_tracer_s_lstm_shapes_are_torch_s(kw, shape):
    """The fx tracer gives a leaf nn.LSTM's results as empty tensors of these shapes instead of running
    it step by step on meta: they must be torch's own, output and final states alike."""
    import torch.fx as fx
    from convshape.torch.trace import _lstm_on_meta
    m = nn.LSTM(4, 3, **kw)
    gm = fx.symbolic_trace(nn.Sequential(m))
    node = next(n for n in gm.graph.nodes if n.op == "call_module")
    interp = fx.Interpreter(gm)
    interp.env[next(n for n in gm.graph.nodes if n.op == "placeholder")] = torch.empty(shape, device="meta")
    out, (h, c) = _lstm_on_meta(interp, node)
    want, (wh, wc) = m(torch.randn(shape))
    assert (out.shape, h.shape, c.shape) == (want.shape, wh.shape, wc.shape)


def test_a_bare_gain_on_a_standardized_weight_is_refused():
    class BareGain(StdConv):
        def forward(self, x):  # gain.view(-1), no product: batch_norm would keep no new tensor, unlike StdConv2d's rule
            weight = F.batch_norm(self.weight.reshape(1, self.out_channels, -1), None, None, weight=self.gain.view(-1),
                                  training=True, momentum=0., eps=1e-6).reshape_as(self.weight)
            return F.conv2d(x, weight, self.bias)
    with pytest.raises(UnmappedOps, match="conv2d"):
        from_torch(BareGain(3, 4, 3, gain=True), (1, 3, 8, 8))
