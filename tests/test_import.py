"""from_torch / `convshape import`: existing nn.Modules become specs, exactly."""
import functools

import pytest

torch = pytest.importorskip("torch")
torchvision = pytest.importorskip("torchvision")
import torch.nn.functional as F  # noqa: E402
from click.testing import CliRunner  # noqa: E402
from torch import nn  # noqa: E402

import convshape as cs  # noqa: E402
from convshape.cli import main  # noqa: E402
from convshape.torch.build import to_torch  # noqa: E402
from convshape.torch.importer import UnmappedOps, from_torch  # noqa: E402
from convshape.torch.spec_writer import to_yaml  # noqa: E402

# torchvision's published figures at 1x3x224x224 (issue 2's table): params, MACs
PUBLISHED = {
    "alexnet": (61_100_840, 714_188_480),
    "vgg16": (138_357_544, 15_470_264_320),
    "resnet18": (11_689_512, 1_814_073_344),
    "resnet50": (25_557_032, 4_089_184_256),
    "mobilenet_v2": (3_504_872, 300_774_272),
    "densenet121": (7_978_856, 2_834_161_664),
    "efficientnet_b0": (5_288_548, 385_814_752),
    "googlenet": (6_624_904, 1_498_376_192),
    "squeezenet1_0": (1_248_424, 818_924_576),
    "regnet_y_400mf": (4_344_144, 401_842_848),
    "convnext_tiny": (28_589_128, 4_455_531_264),
}


@functools.lru_cache(maxsize=None)  # built once for the tests that share it (from_torch never mutates it)
def tv_model(name):
    if name == "googlenet":  # aux heads off, as in the zoo spec
        return torchvision.models.googlenet(weights=None, aux_logits=False, init_weights=False)
    return getattr(torchvision.models, name)(weights=None)


def _row(r):
    return (r.type, tuple(r.output_shape), r.params, r.buffers, r.macs)


def _rows(report):
    return [_row(r) for r in report.layers]


@pytest.mark.parametrize("name", sorted(PUBLISHED))
def test_torchvision_imports_match_the_published_table(name):
    net = from_torch(tv_model(name), (1, 3, 224, 224))
    totals = cs.analyze(net).totals
    assert (totals.params, totals.macs) == PUBLISHED[name]


@pytest.mark.parametrize("name", [n for n in cs.zoo_names() if n in PUBLISHED])
def test_torchvision_imports_match_the_zoo_spec_layer_by_layer(name):
    imported = cs.analyze(from_torch(tv_model(name), (1, 3, 224, 224)))
    zoo = cs.analyze(cs.load("zoo:" + name), (1, 3, 224, 224))
    # the same layers (a spec may order independent branches differently: RegNet's projection)
    assert sorted(_rows(imported), key=str) == sorted(_rows(zoo), key=str)
    # and layer by layer for weighted layers the zoo spec names as torchvision does (names of
    # parameter-free layers are arbitrary: torchvision calls one ReLU module three times)
    by_name = {r.name: r for r in imported.layers}
    named = [r for r in zoo.layers if r.name in by_name and r.params]
    assert named
    for r in named:
        assert _row(r) == _row(by_name[r.name]), r.name
    # the inference peak depends on the order the layers run in (RegNet's projection branch runs
    # first in torchvision, last in the spec), so it is the one total that may differ; an import also names
    # the copies torch makes where no layer stands for them (densenet's torch.cat of one tensor)
    order_free = lambda t: {k: v for k, v in t.to_dict().items()  # noqa: E731
                            if k not in ("inference_peak_bytes", "inference_peak_unknown")}
    assert order_free(imported.totals) == order_free(zoo.totals)


@pytest.mark.parametrize("name", ["resnet50", "mobilenet_v2", "convnext_tiny", "googlenet", "densenet121"])
def test_yaml_round_trip_and_blocks(name):
    net = from_torch(tv_model(name), (1, 3, 224, 224))
    text = to_yaml(net)
    again = cs.loads(text)
    a, b = cs.analyze(net), cs.analyze(again)
    assert [r.name for r in a.layers] == [r.name for r in b.layers]
    assert _rows(a) == _rows(b)
    if name == "resnet50":
        assert "blocks:" in text and "Bottleneck:" in text
        # 175 layers in 86 lines: two blocks, and layerN.1.. folded into one repeated entry per stage
        assert len(text.splitlines()) < 90
        assert "- Bottleneck_2: {conv1_out_channels: 256}\n  name: layer3.{i + 1}\n  repeat: 5\n" in text


def test_resnet50_spec_reads_like_the_paper():
    text = to_yaml(from_torch(tv_model("resnet50"), (1, 3, 224, 224)))
    # block arguments: the varying width and stride, the 4x expansion recovered as an expression
    assert "out_channels: conv1_out_channels * 4" in text
    assert "- Bottleneck: {conv1_out_channels: 128, conv2_stride: 2}\n  name: layer2.0" in text


def test_round_trip_through_to_torch_keeps_shapes_params_and_macs():
    m = tv_model("resnet18").eval()
    net = from_torch(m, (1, 3, 64, 64))
    rebuilt = to_torch(net)
    again = from_torch(rebuilt, (1, 3, 64, 64))
    assert _rows(cs.analyze(again)) == _rows(cs.analyze(net))
    # parameter-bearing layers keep torchvision's names, so weights load across
    rebuilt.load_state_dict(m.state_dict())
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        assert torch.equal(rebuilt(x), m(x))
    from torch.utils.flop_counter import FlopCounterMode
    with FlopCounterMode(display=False) as a:
        m(x)
    with FlopCounterMode(display=False) as b:
        rebuilt(x)
    assert a.get_total_flops() == b.get_total_flops() == 2 * cs.analyze(net).totals.macs


class Functional(nn.Module):
    """Functional style as other model libraries write it."""

    def __init__(self):
        super().__init__()
        self.stem = nn.Conv2d(3, 8, 3, padding=1)
        self.weight = nn.Parameter(torch.randn(8, 8, 3, 3))
        self.gate = nn.Conv2d(8, 8, 1)
        self.head = nn.Linear(16, 5)

    def forward(self, x):
        x = F.relu(self.stem(x))
        y = F.conv2d(x, self.weight, None, 1, 1)            # functional conv on a parameter
        y = F.max_pool2d(y, 2)
        y = F.interpolate(y, scale_factor=2, mode="nearest")
        x = torch.cat([x, y * torch.sigmoid(self.gate(x))], dim=1) + F.pad(x, (0, 0, 0, 0, 0, 8))
        x = x.permute(0, 2, 3, 1).permute(0, 3, 1, 2)
        x = x.mean((2, 3))
        return self.head(x.view(x.size(0), -1))


def test_functional_ops_map_exactly():
    net = from_torch(Functional(), (2, 3, 16, 16))
    kinds = [n.kind for n in net.nodes]
    # F.pad's 6-entry tuple pads channels too: a ZeroPad2d for the 4-D input (the tuple's length,
    # not the class's rank, decides how many trailing dims torch pads)
    assert kinds == ["Conv2d", "ReLU", "Conv2d", "MaxPool2d", "Upsample", "Conv2d", "Sigmoid", "Mul", "Concat",
                     "ZeroPad2d", "Add", "Permute", "Permute", "AdaptiveAvgPool2d", "Flatten", "Linear"]
    r = cs.analyze(net)
    assert r.output_shape == (2, 5)
    # stem 8*3*9+8 = 224; functional conv 8*8*9 = 576; gate 8*8+8 = 72; head 16*5+5 = 85
    assert r.totals.params == 224 + 576 + 72 + 85


class SamePad(nn.Module):
    """TensorFlow-style 'same' padding computed from the input size (fx cannot trace the branch)."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3, stride=2)

    def forward(self, x):
        ih, iw = x.shape[-2:]
        ph = max((-(-ih // 2) - 1) * 2 + 3 - ih, 0)
        pw = max((-(-iw // 2) - 1) * 2 + 3 - iw, 0)
        if ph > 0 or pw > 0:
            x = F.pad(x, [pw // 2, pw - pw // 2, ph // 2, ph - ph // 2])
        return self.conv(x)


def test_dynamic_same_padding_imports_through_the_eager_tracer():
    net = from_torch(SamePad(), (1, 3, 15, 16))
    assert net.frontend.startswith("eager")
    assert [n.kind for n in net.nodes] == ["ZeroPad2d", "Conv2d"]
    # 15: ceil(15/2) = 8 outputs need (8-1)*2+3 = 17, pad 2 (1+1); 16: 8 outputs need 17, pad 1 (0+1)
    assert net.nodes[0].layer.padding == (0, 1, 1, 1)
    assert cs.analyze(net).output_shape == (1, 4, 8, 8)


class Chunky(nn.Module):
    def forward(self, x):
        a, b = x.chunk(2, dim=1)
        return torch.relu(a) * b.cumsum(1).flip(1)


def test_unmapped_ops_are_reported_with_their_source_line():
    with pytest.raises(UnmappedOps) as info:
        from_torch(Chunky(), (1, 4, 8, 8))
    msg = str(info.value)
    # the chunk maps (two Narrows); cumsum and the flip that reads it do not, and both are named
    assert msg.startswith("cannot import 2 operation(s): cumsum (method cumsum) at ")
    assert "flip" in msg and msg.count("test_import.py:") == 2


def test_shufflenet_chunk_and_channel_shuffle_import_exactly():
    m = torchvision.models.shufflenet_v2_x1_0(weights=None).eval()
    net = from_torch(m, (1, 3, 224, 224))
    kinds = [n.kind for n in net.nodes]
    assert kinds.count("Narrow") == 2 * 13   # 13 stride-1 blocks split their channels in two
    assert ["Concat", "Unflatten", "Permute", "Flatten"] == kinds[31:35]  # cat, then channel shuffle
    from torch.utils.flop_counter import FlopCounterMode
    with FlopCounterMode(display=False) as fc:
        m.to("meta")(torch.empty(1, 3, 224, 224, device="meta"))
    totals = cs.analyze(net).totals
    assert (totals.params, totals.macs) == (sum(p.numel() for p in m.parameters()), fc.get_total_flops() // 2)
    assert (totals.params, totals.macs) == (2_278_604, 144_907_992)  # torchvision: 2.28 M params, 0.14 GFLOPS


def test_cli_import_writes_a_loadable_spec(tmp_path):
    out = tmp_path / "r18.yaml"
    res = CliRunner().invoke(main, ["import", "torchvision.models:resnet18", "--kwargs", '{"num_classes": 10}',
                                    "--input", "1,3,64,64", "-o", str(out)])
    assert res.exit_code == 0, res.output
    text = out.read_text()
    assert text.startswith("# imported by `convshape import torchvision.models:resnet18`")
    r = cs.analyze(cs.load(str(out)))
    # resnet18 with 10 classes: 11,689,512 - 1000*512 - 1000 + 10*512 + 10 = 11,181,642
    assert r.totals.params == 11_181_642 and r.output_shape == (1, 10)
    for bad, code in ((["import", "nope.mod:f", "--input", "1,3,8,8"], 2),
                      (["import", "torchvision.models:resnet18"], 2),
                      (["import", "torchvision.models:resnet18", "--input", "1,3,64,64", "--kwargs", "[1"], 2),
                      (["import", "torchvision.models:resnet18", "--input", "1,3,64,64", "--kwargs", '{"no": 1}'], 2)):
        res = CliRunner().invoke(main, bad)
        assert res.exit_code == code, (bad, res.output)
        assert "internal error" not in res.output and len(res.output.strip().splitlines()) == 1


class BatchNormAct(nn.BatchNorm2d):
    """timm's BatchNormAct2d: F.batch_norm on the module's own tensors, then an activation."""

    def __init__(self, c):
        super().__init__(c)
        self.act = nn.SiLU()

    def forward(self, x):
        x = F.batch_norm(x, self.running_mean, self.running_var, self.weight, self.bias, False, 0.1, self.eps)
        return self.act(x)


class TimmStyle(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 16, 3, padding=1, bias=False)
        self.bn = BatchNormAct(16)
        self.eca = nn.Conv1d(1, 1, 3, padding=1, bias=False)
        self.gamma = nn.Parameter(torch.ones(16))

    def forward(self, x):
        x = self.bn(self.conv(x))
        y = x.mean((2, 3)).view(x.shape[0], 1, -1)               # ECA: a 1-d conv across channels
        y = self.eca(y).view(x.shape[0], -1, 1, 1).sigmoid()
        x = x * y.expand_as(x)
        x = x * self.gamma.view(1, -1, 1, 1)                      # layer scale on a reshaped parameter
        x = x + 0                                                 # a switched-off re-param branch: a new tensor
        return x[:, :8]                                           # GhostNet keeps the first channels


def test_timm_style_functional_code_imports_exactly():
    m = TimmStyle().eval()
    net = from_torch(m, (2, 3, 8, 8))
    kinds = [n.kind for n in net.nodes]
    assert kinds == ["Conv2d", "BatchNorm2d", "SiLU", "AdaptiveAvgPool2d", "Flatten", "Unflatten", "Conv1d",
                     "Reshape", "Sigmoid", "Mul", "LayerScale", "ScalarArith", "Narrow"]
    r = cs.analyze(net)
    assert r.output_shape == (2, 8, 8, 8)
    # conv 16*3*9 = 432; BN 2*16 = 32 (+ 2*16+1 = 33 buffers); ECA 3; gamma 16
    assert (r.totals.params, r.totals.buffers) == (432 + 32 + 3 + 16, 33)
    assert r.totals.params == sum(p.numel() for p in m.parameters())


class Blur(nn.Module):
    def __init__(self):
        super().__init__()
        self.register_buffer("filt", torch.ones(4, 1, 3, 3) / 9)

    def forward(self, x):
        return F.conv2d(x, self.filt, stride=2, padding=1, groups=4)


def test_a_convolution_with_a_fixed_buffer_weight_imports_as_a_fixed_conv():
    net = from_torch(Blur(), (1, 4, 8, 8))
    assert [n.kind for n in net.nodes] == ["FixedConv2d"]
    r = cs.analyze(net)
    # weight 4*1*3*3 = 36 buffer elements, no parameter; 4x4 output: 4*4*4 * (4/4)*3*3 = 576 MACs
    assert (r.totals.params, r.totals.buffers, r.totals.macs) == (0, 36, 576)
