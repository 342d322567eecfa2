"""to_torch: real torch.nn modules from specs, named like torchvision's."""
import subprocess
import sys

import pytest

torch = pytest.importorskip("torch")
torchvision = pytest.importorskip("torchvision")

import convshape as cs  # noqa: E402
from convshape.torch.build import to_torch  # noqa: E402


def _shapes(sd):
    return {k: tuple(v.shape) for k, v in sd.items()}


def test_resnet50_state_dict_keys_and_shapes_equal_torchvision():
    ours = _shapes(to_torch(cs.load("zoo:resnet50")).state_dict())
    theirs = _shapes(torchvision.models.resnet50(weights=None).state_dict())
    assert set(ours) == set(theirs)
    assert ours == theirs
    # 53 conv weights + 53 BN x (weight, bias) + fc (weight, bias) = 161; 53 BN x 3 buffers = 159
    assert len(ours) == 161 + 159


TORCHVISION = ["alexnet", "vgg16", "resnet18", "resnet50", "mobilenet_v2", "densenet121", "efficientnet_b0",
               "googlenet", "squeezenet1_0", "regnet_y_400mf", "convnext_tiny"]


def torchvision_key(key: str) -> str:
    """Our name for a torchvision state_dict key: the one documented difference, ConvNeXt's layer scale,
    a bare nn.Parameter on torchvision's block and a LayerScale module's `gamma` here (docs/torch.md)."""
    return key + ".gamma" if key.endswith(".layer_scale") else key


@pytest.mark.parametrize("name", TORCHVISION)
def test_zoo_loads_torchvision_weights_and_computes_the_same_function(name):
    kwargs = {"aux_logits": False, "init_weights": False} if name == "googlenet" else {}
    torch.manual_seed(0)
    tv = getattr(torchvision.models, name)(weights=None, **kwargs).eval()
    theirs = {torchvision_key(k): v for k, v in tv.state_dict().items()}
    ours = to_torch(cs.load(f"zoo:{name}"))
    assert _shapes(ours.state_dict()) == _shapes(theirs)   # every key and shape, buffers included
    ours.load_state_dict(theirs)
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        assert torch.equal(ours(x), tv(x))


def test_modules_are_torch_nn_classes_with_spec_arguments():
    m = to_torch(cs.load("zoo:resnet50"))
    conv = m.get_submodule("layer2.0.conv2")
    assert type(conv) is torch.nn.Conv2d
    # planes=128, stride on the 3x3 conv (v1.5), in_channels inferred from the previous layer
    assert (conv.in_channels, conv.out_channels, conv.kernel_size, conv.stride, conv.padding) == \
        (128, 128, (3, 3), (2, 2), (1, 1))
    assert type(m.get_submodule("layer1.0.add_1")).__name__ == "Add"
    assert not m.training  # built in eval mode


def test_merges_run_as_graph_and_keep_every_output():
    net = cs.loads("""
input: [2, 4, 8, 8]
layers:
  - Conv2d: {out_channels: 4, kernel_size: 3, padding: 1}
    name: a
  - ReLU
  - Add:
    inputs: [input, relu_1]
  - Concat: {dim: 1}
    inputs: [add_1, a]
""")
    m = to_torch(net)
    x = torch.randn(2, 4, 8, 8)
    outs = m.run(x, keep=True)
    assert tuple(outs["concat_1"].shape) == (2, 8, 8, 8)  # 4 + 4 channels
    a = m.get_submodule("a")(x)
    assert torch.equal(outs["concat_1"], torch.cat([x + a.relu(), a], 1))
    assert torch.equal(m(x), outs["concat_1"])


def test_layer_name_that_is_also_a_prefix_is_a_spec_error():
    net = cs.loads("""
input: [1, 3, 8, 8]
layers:
  - Conv2d: {out_channels: 4, kernel_size: 1}
    name: stem
  - Conv2d: {out_channels: 4, kernel_size: 1}
    name: stem.conv
""")
    with pytest.raises(cs.SpecError, match="stem"):
        to_torch(net)


@pytest.mark.parametrize("name", cs.zoo_names())
def test_every_zoo_network_builds_with_the_predicted_parameter_count(name):
    net = cs.load("zoo:" + name)
    m = to_torch(net)
    report = cs.analyze(net)
    assert sum(p.numel() for p in m.parameters()) == report.totals.params
    assert sum(b.numel() for b in m.buffers()) == report.totals.buffers


def test_importing_convshape_does_not_import_torch():
    code = "import sys, convshape; convshape.load('zoo:resnet50'); print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
    code = "import sys, convshape; convshape.to_torch; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "True"  # the lazy attribute loads the bridge on first use
