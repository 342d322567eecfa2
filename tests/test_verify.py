"""convshape.verify and the pytest plugin: one assertion for users' own test suites."""
import subprocess
import sys
import textwrap

import pytest

torch = pytest.importorskip("torch")
torchvision = pytest.importorskip("torchvision")
from torch import nn  # noqa: E402

import convshape as cs  # noqa: E402
from convshape.torch.verify import diff  # noqa: E402


def test_torchvision_resnet18_matches_the_zoo_spec():
    cs.verify(torchvision.models.resnet18(weights=None), "zoo:resnet18", input_shape=(1, 3, 64, 64))


def test_a_different_module_fails_with_a_per_layer_diff():
    m = torchvision.models.resnet18(weights=None, num_classes=10)
    with pytest.raises(AssertionError) as info:
        cs.verify(m, "zoo:resnet18", input_shape=(1, 3, 64, 64))
    msg = str(info.value)
    assert msg.startswith("ResNet does not match spec zoo:resnet18:")
    # fc: 512*1000 + 1000 = 513,000 params in the spec; 512*10 + 10 = 5,130 in the module
    assert "layer 'fc' (Linear): output_shape expected [1, 1000], got [1, 10]; params expected 513,000, " \
           "got 5,130; macs expected 512,000, got 5,120" in msg
    assert "total params: expected 11,689,512, got 11,181,642" in msg


SPEC = """
input: [1, 3, 16, 16]
layers:
  - Conv2d: {out_channels: 8, kernel_size: 3, padding: 1}
  - ReLU
  - Conv2d: {out_channels: 8, kernel_size: 3, padding: 1}
  - AdaptiveAvgPool2d: {output_size: 1}
  - Flatten
  - Linear: {out_features: 4}
"""


def test_layers_pair_by_position_when_names_differ():
    spec = cs.loads(SPEC)
    good = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 8, 3, padding=1),
                         nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 4))
    assert diff(good, spec) == []
    missing_relu = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.Conv2d(8, 8, 3, padding=2),
                                 nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 4))
    lines = diff(missing_relu, spec)
    assert "layer 'relu_1' (ReLU): in the spec, missing from the module" in lines
    # padding 2: 16 + 4 - 3 + 1 = 18; MACs 8 * 18*18 * 8*9 = 186,624 instead of 8 * 16*16 * 72 = 147,456
    assert "layer 'conv2d_2' / module '1' (Conv2d): output_shape expected [1, 8, 16, 16], got [1, 8, 18, 18]; " \
           "macs expected 147,456, got 186,624" in lines


def test_the_pytest_plugin_is_registered_and_its_fixture_works(tmp_path):
    from importlib.metadata import entry_points
    assert [e.value for e in entry_points(group="pytest11") if e.name == "convshape"] == ["convshape.pytest_plugin"]
    (tmp_path / "net.yaml").write_text(SPEC)
    (tmp_path / "test_user.py").write_text(textwrap.dedent("""
        import pytest
        from torch import nn

        def make(pad=1):
            return nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 8, 3, padding=pad),
                                 nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 4))

        @pytest.mark.convshape("net.yaml", input=(2, 3, 16, 16))
        def test_marked(convshape_verify):
            convshape_verify(make())

        def test_explicit(convshape_verify):
            convshape_verify(make(), "net.yaml")

        @pytest.mark.convshape("net.yaml")
        def test_wrong(convshape_verify):
            convshape_verify(make(pad=0))
    """))
    # -p loads the plugin by module name as well, so this runs the same with or without the entry point
    out = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "test_user.py"],
                         cwd=tmp_path, capture_output=True, text=True)
    assert "1 failed, 2 passed" in out.stdout, out.stdout
    assert "layer 'conv2d_2' / module '2' (Conv2d): output_shape expected [1, 8, 16, 16], got [1, 8, 14, 14]" \
        in out.stdout


def test_loading_the_plugin_does_not_import_torch():
    code = "import sys, convshape.pytest_plugin; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
