"""The bundled zoo: exact figures, a layer-by-layer match with the live torch models, symbolic sizes.

- The table of issue #2: params / MACs / FLOPs / buffers at 1x3x224x224 for the torchvision networks.
- For each of them, the torchvision model built on the meta device (no memory, no arithmetic):
  every layer with parameters matches by name and count, every module called once has the output
  shape of the spec's layer of the same name, buffers match, and FlopCounterMode counts 2 x MACs.
- ResNet-18 with N, H, W free: one expression that equals the concrete analysis at any size.
- U-Net, the 1-D FCN and C3D: hand-computed shapes, params and MACs, and the same match against torch
  modules written here.
The torch comparisons are skipped when torch/torchvision are not installed.
"""
from __future__ import annotations

import json
import re
from collections import OrderedDict

import pytest
from click.testing import CliRunner

import convshape as cs
from convshape.cli import main
from convshape.dims import substitute
from convshape.spec import read_source

# Source: torchvision's published figures (params; "GFLOPS", which are MACs) and
# torch.utils.flop_counter's total (= 2 x MACs); buffers are sum(b.numel() for b in model.buffers())
# of torchvision 0.29: BatchNorm's running mean and variance (C each) plus num_batches_tracked (1).
TORCHVISION = {
    #                  params         MACs               buffers
    "alexnet":         (61_100_840,   714_188_480,       0),
    "vgg16":           (138_357_544,  15_470_264_320,    0),
    "resnet18":        (11_689_512,   1_814_073_344,     9_620),   # 20 BNs over 4_800 channels: 2*4_800 + 20
    "resnet50":        (25_557_032,   4_089_184_256,     53_173),  # 53 BNs over 26_560 channels: 2*26_560 + 53
    "mobilenet_v2":    (3_504_872,    300_774_272,       34_164),
    "densenet121":     (7_978_856,    2_834_161_664,     83_769),
    "efficientnet_b0": (5_288_548,    385_814_752,       42_065),
    "googlenet":       (6_624_904,    1_498_376_192,     14_617),
    "squeezenet1_0":   (1_248_424,    818_924_576,       0),
    "regnet_y_400mf":  (4_344_144,    401_842_848,       27_205),
    "convnext_tiny":   (28_589_128,   4_455_531_264,     0),       # LayerNorm: no running statistics
}
OWN = ["lenet5", "unet", "fcn1d", "c3d"]


@pytest.mark.parametrize("name", list(TORCHVISION))
def test_zoo_table_is_exact(name):
    params, macs, buffers = TORCHVISION[name]
    r = cs.analyze(cs.load(f"zoo:{name}"))
    assert r.output_shape == (1, 1000)
    assert r.totals.params == params
    assert r.totals.trainable_params == params
    assert r.totals.macs == macs
    assert r.totals.flops == 2 * macs
    assert r.totals.buffers == buffers


def test_zoo_command_lists_every_network():
    result = CliRunner().invoke(main, ["zoo", "--format", "json"])
    assert result.exit_code == 0, result.output
    entries = json.loads(result.output)
    names = [e["name"] for e in entries]
    assert sorted(names) == sorted(list(TORCHVISION) + OWN) == cs.zoo_names()
    for e in entries:
        assert e["description"] and e["layers"] > 0 and e["input"]


# ---------------------------------------------------------------- torch comparisons
def compare_with_torch(net, model, x, rename=lambda name: name):
    """Run `model` on the meta tensor `x` and check the Network `net` layer by layer; returns the Report.

    `rename` maps a torch module name to the spec's where they differ (DenseNet's 1-based layers).
    """
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    report = cs.analyze(net, tuple(x.shape))
    names = {node.name for node in net.nodes}

    shapes: dict = {}
    modules = {rename(n): m for n, m in model.named_modules()}

    def record(name, module, output):
        shape = tuple(output.shape)
        if type(module).__name__ == "LayerNorm2d":  # the spec's LayerNorm sits between two permutes
            shape = (shape[0], *shape[2:], shape[1])
        shapes.setdefault(name, []).append(shape)

    hooks = [m.register_forward_hook(lambda m, i, o, n=n: record(n, m, o)) for n, m in modules.items()]
    counter = FlopCounterMode(display=False)
    with counter, torch.no_grad():
        y = model(x)
    for h in hooks:
        h.remove()

    # parameters, by owning module; a bare nn.Parameter that the spec models as a layer of the same
    # name (ConvNeXt's layer_scale) is its own owner
    torch_params: dict = {}
    for pname, p in model.named_parameters():
        pname = rename(pname)
        owner = pname if pname in names else pname.rsplit(".", 1)[0]
        torch_params[owner] = torch_params.get(owner, 0) + p.numel()
    spec_params = {r.name: r.params for r in report.layers if r.params}
    assert spec_params == torch_params

    compared = set()
    for r in report.layers:
        calls = shapes.get(r.name, [])
        if len(calls) == 1:  # modules called more than once (ResNet's shared relu) are skipped
            assert r.output_shape == calls[0], r.name
            compared.add(r.name)
    weighted = {n.name for n in net.nodes if n.layer.kind.startswith(("Conv", "Linear", "BatchNorm", "LayerNorm"))}
    assert weighted <= compared

    for node in net.nodes:  # stochastic depth rates follow torchvision's schedules
        if node.layer.kind == "StochasticDepth":
            assert node.layer.p == pytest.approx(modules[node.name].p, rel=1e-12), node.name

    assert report.output_shape == tuple(y.shape)
    assert report.totals.buffers == sum(b.numel() for b in model.buffers())
    assert report.totals.flops == counter.get_total_flops()
    return report


def torchvision_model(name):
    torch = pytest.importorskip("torch")
    models = pytest.importorskip("torchvision.models")
    kwargs = {"aux_logits": False, "init_weights": False} if name == "googlenet" else {}
    factory = getattr(models, name)
    try:
        with torch.device("meta"):
            return factory(weights=None, **kwargs).eval()
    except NotImplementedError:  # regnet computes its stage widths with tensor ops while building
        return factory(weights=None, **kwargs).eval().to("meta")


@pytest.mark.parametrize("name", list(TORCHVISION))
def test_layers_match_torchvision(name):
    model = torchvision_model(name)
    import torch
    x = torch.empty(1, 3, 224, 224, device="meta")
    compare_with_torch(cs.load(f"zoo:{name}"), model, x)


def test_mobilenet_width_multiplier_matches_torchvision():
    """width_mult rounds channels to multiples of 8 as torchvision does (make_divisible)."""
    torch = pytest.importorskip("torch")
    mobilenet_v2 = pytest.importorskip("torchvision.models").mobilenet_v2
    text = read_source("zoo:mobilenet_v2")[0].replace("width_mult: 1.0", "width_mult: 0.35")
    with torch.device("meta"):
        model = mobilenet_v2(width_mult=0.35).eval()
    r = compare_with_torch(cs.loads(text), model, torch.empty(1, 3, 224, 224, device="meta"))
    assert r.totals.params == 1_677_128  # torchvision's count at width 0.35


# ---------------------------------------------------------------- symbolic ResNet-18
def test_resnet18_macs_as_an_expression_in_n_h_w():
    net = cs.load("zoo:resnet18")
    macs = cs.analyze(net, input_shape=("N", 3, "H", "W")).totals.macs
    assert {s.name for s in macs.free_symbols} == {"N", "H", "W"}
    assert substitute(macs, {"N": 1, "H": 224, "W": 224}) == 1_814_073_344
    for n, h, w in [(1, 160, 160), (1, 225, 225), (1, 97, 97), (3, 225, 97), (8, 32, 64)]:
        assert substitute(macs, {"N": n, "H": h, "W": w}) == cs.analyze(net, (n, 3, h, w)).totals.macs
    # the batch scales every term: 2 images cost twice one
    assert substitute(macs, {"N": 2, "H": 224, "W": 224}) == 2 * 1_814_073_344


# ---------------------------------------------------------------- U-Net, 1-D FCN, C3D
def test_unet_by_hand():
    r = cs.analyze(cs.load("zoo:unet"))
    assert r.output_shape == (1, 2, 256, 256)  # same padding everywhere: the output keeps H x W
    assert r.layer("down4.maxpool_conv.1.double_conv.5").output_shape == (1, 1024, 16, 16)  # 256 / 2**4
    # DoubleConv(in, out) = 9*in*out + 9*out*out weights + 2 BNs * 2*out
    #   inc 3->64: 1_728 + 36_864 + 256 = 38_848;  down1 64->128: 221_696;  down2 128->256: 885_760
    #   down3 256->512: 3_540_992;  down4 512->1024: 14_159_872
    # up-conv 2x2 (2C->C, with bias): 4*2C*C + C: 2_097_664 + 524_544 + 131_200 + 32_832
    # up DoubleConv(2C, C): 7_079_936 + 1_770_496 + 442_880 + 110_848;  outc 64*2 + 2 = 130
    assert r.totals.params == 31_037_698
    # 18 BNs: 4*(64+128+256+512+1024+512+256+128+64) + 2*9 = 4*2_944 + 18
    assert r.totals.buffers == 11_794
    # with u = (256*64)**2 = 268_435_456 (every level has H*C = 256*64): down convs 4.5u + 9u, up-convs
    # 2u, up DoubleConvs 18u + 9u; inc's first conv 65_536*64*27 = 113_246_208, outc 65_536*2*64 = 8_388_608
    # 9u + 4*13.5u + 4*29u = 179u = 48_049_946_624, + 121_634_816
    assert r.totals.macs == 48_171_581_440
    # 735_040 MACs per input pixel at any multiple of 16 (48_171_581_440 / 256**2)
    assert cs.analyze(cs.load("zoo:unet"), (1, 3, 128, 96)).totals.macs == 735_040 * 128 * 96


def test_fcn1d_by_hand():
    r = cs.analyze(cs.load("zoo:fcn1d"))
    assert r.output_shape == (1, 6)
    assert r.layer("block1.conv").output_shape == (1, 128, 128)  # 'same': 8-tap kernel padded 3 + 4
    # convs 9*128*8 + 128 = 9_344; 128*256*5 + 256 = 164_096; 256*128*3 + 128 = 98_432
    # BNs 2*(128 + 256 + 128) = 1_024; fc 128*6 + 6 = 774
    assert r.totals.params == 273_670
    assert r.totals.buffers == 1_027  # 2*512 + 3
    # 128*128 outputs * 9*8 + 256*128 * 128*5 + 128*128 * 256*3 + 6*128
    # = 1_179_648 + 20_971_520 + 12_582_912 + 768
    assert r.totals.macs == 34_734_848
    # global pooling: any length works, MACs grow linearly in T
    assert cs.analyze(cs.load("zoo:fcn1d"), (1, 9, 1000)).totals.macs == (34_734_848 - 768) // 128 * 1000 + 768


def test_c3d_by_hand():
    r = cs.analyze(cs.load("zoo:c3d"))
    assert r.output_shape == (1, 487)
    assert [r.layer(p).output_shape[2:] for p in ("pool1", "pool2", "pool3", "pool4", "pool5")] == [
        (16, 56, 56),  # 1x2x2 pool keeps the 16 frames
        (8, 28, 28),
        (4, 14, 14),
        (2, 7, 7),
        (1, 4, 4),     # (7 + 2*1 - 2)//2 + 1 = 4 with pool5's H, W padding
    ]
    # conv weights 27*in*out + out: 5_248; 221_312; 884_992; 1_769_728; 3_539_456; 3 * 7_078_400
    # fc6 8_192*4_096 + 4_096 = 33_558_528; fc7 16_781_312; fc8 4_096*487 + 487 = 1_995_239
    assert r.totals.params == 79_991_015
    # conv MACs = outputs * 27*in: 64*16*112*112*81 = 1_040_449_536; 128*16*56*56*1_728; 256*8*28*28*3_456;
    # 256*8*28*28*6_912; 512*4*14*14*6_912; 512*4*14*14*13_824; 2 * 512*2*7*7*13_824; fc 8_192*4_096 + ...
    assert r.totals.macs == (1_040_449_536 + 11_098_128_384 + 5_549_064_192 + 11_098_128_384
                             + 2_774_532_096 + 5_549_064_192 + 2 * 693_633_024
                             + 33_554_432 + 16_777_216 + 1_994_752) == 38_548_959_232


def unet_torch():
    """milesial/Pytorch-UNet's UNet(n_channels=3, n_classes=2, bilinear=False), written out."""
    from torch import nn

    class DoubleConv(nn.Module):
        def __init__(self, cin, cout):
            super().__init__()
            self.double_conv = nn.Sequential(
                nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True),
                nn.Conv2d(cout, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True))

        def forward(self, x):
            return self.double_conv(x)

    class Down(nn.Module):
        def __init__(self, cin, cout):
            super().__init__()
            self.maxpool_conv = nn.Sequential(nn.MaxPool2d(2), DoubleConv(cin, cout))

        def forward(self, x):
            return self.maxpool_conv(x)

    class Up(nn.Module):
        def __init__(self, cin, cout):
            super().__init__()
            self.up = nn.ConvTranspose2d(cin, cin // 2, kernel_size=2, stride=2)
            self.conv = DoubleConv(cin, cout)

        def forward(self, x1, x2):
            import torch
            return self.conv(torch.cat([x2, self.up(x1)], dim=1))

    class OutConv(nn.Module):
        def __init__(self, cin, cout):
            super().__init__()
            self.conv = nn.Conv2d(cin, cout, kernel_size=1)

        def forward(self, x):
            return self.conv(x)

    class UNet(nn.Module):
        def __init__(self):
            super().__init__()
            self.inc = DoubleConv(3, 64)
            self.down1, self.down2 = Down(64, 128), Down(128, 256)
            self.down3, self.down4 = Down(256, 512), Down(512, 1024)
            self.up1, self.up2 = Up(1024, 512), Up(512, 256)
            self.up3, self.up4 = Up(256, 128), Up(128, 64)
            self.outc = OutConv(64, 2)

        def forward(self, x):
            x1 = self.inc(x)
            x2 = self.down1(x1)
            x3 = self.down2(x2)
            x4 = self.down3(x3)
            x5 = self.down4(x4)
            x = self.up1(x5, x4)
            x = self.up2(x, x3)
            x = self.up3(x, x2)
            x = self.up4(x, x1)
            return self.outc(x)

    return UNet()


def fcn1d_torch():
    from torch import nn

    def block(cin, cout, k):
        return nn.Sequential(OrderedDict(conv=nn.Conv1d(cin, cout, k, padding="same"),
                                         bn=nn.BatchNorm1d(cout), relu=nn.ReLU()))
    return nn.Sequential(OrderedDict(block1=block(9, 128, 8), block2=block(128, 256, 5), block3=block(256, 128, 3),
                                     gap=nn.AdaptiveAvgPool1d(1), flatten=nn.Flatten(), fc=nn.Linear(128, 6)))


def c3d_torch():
    from torch import nn

    def conv(cin, cout):
        return nn.Conv3d(cin, cout, kernel_size=3, padding=1)
    layers = [
        ("conv1", conv(3, 64)), ("relu1", nn.ReLU()), ("pool1", nn.MaxPool3d((1, 2, 2), (1, 2, 2))),
        ("conv2", conv(64, 128)), ("relu2", nn.ReLU()), ("pool2", nn.MaxPool3d(2, 2)),
        ("conv3a", conv(128, 256)), ("relu3a", nn.ReLU()), ("conv3b", conv(256, 256)), ("relu3b", nn.ReLU()),
        ("pool3", nn.MaxPool3d(2, 2)),
        ("conv4a", conv(256, 512)), ("relu4a", nn.ReLU()), ("conv4b", conv(512, 512)), ("relu4b", nn.ReLU()),
        ("pool4", nn.MaxPool3d(2, 2)),
        ("conv5a", conv(512, 512)), ("relu5a", nn.ReLU()), ("conv5b", conv(512, 512)), ("relu5b", nn.ReLU()),
        ("pool5", nn.MaxPool3d(2, 2, padding=(0, 1, 1))),
        ("flatten", nn.Flatten()),
        ("fc6", nn.Linear(8192, 4096)), ("relu6", nn.ReLU()), ("drop6", nn.Dropout(0.5)),
        ("fc7", nn.Linear(4096, 4096)), ("relu7", nn.ReLU()), ("drop7", nn.Dropout(0.5)),
        ("fc8", nn.Linear(4096, 487)),
    ]
    return nn.Sequential(OrderedDict(layers))


@pytest.mark.filterwarnings("ignore:Using padding='same' with even kernel lengths")
@pytest.mark.parametrize("name, build, shape", [
    ("unet", unet_torch, (1, 3, 256, 256)),
    ("fcn1d", fcn1d_torch, (1, 9, 128)),
    ("c3d", c3d_torch, (1, 3, 16, 112, 112)),
])
def test_own_networks_match_torch_modules(name, build, shape):
    torch = pytest.importorskip("torch")
    with torch.device("meta"):
        model = build().eval()
    compare_with_torch(cs.load(f"zoo:{name}"), model, torch.empty(*shape, device="meta"))
