"""Torch code as SPEC: `package.module:factory` with --kwargs, for every command that takes a SPEC."""
import json

import pytest
from click.testing import CliRunner

from convshape.cli import main
from convshape.spec.factory import is_factory_ref

torch = pytest.importorskip("torch")

CONV = ["torch.nn:Conv2d", "--kwargs", '{"in_channels": 3, "out_channels": 8, "kernel_size": 3}',
        "--input", "1,3,16,16"]
CONV_PARAMS = 8 * 3 * 3 * 3 + 8  # 224 = sum(p.numel() for p in nn.Conv2d(3, 8, 3).parameters())


def run(*args):
    return CliRunner().invoke(main, list(args))


def test_reference_is_told_from_paths_and_zoo():
    assert is_factory_ref("torchvision.models:resnet18") and is_factory_ref("pkg.mod:make.model")
    assert not is_factory_ref("zoo:resnet18") and not is_factory_ref("model.yaml")
    assert not is_factory_ref("C:model.yaml")   # a dotted file name is not a module


def test_summary_of_torchvision_factory_matches_torch():
    tv = pytest.importorskip("torchvision")
    model = tv.models.resnet18(num_classes=10)
    r = run("summary", "torchvision.models:resnet18", "--kwargs", '{"num_classes": 10}', "--input", "1,3,224,224",
            "--format", "json")
    assert r.exit_code == 0, r.output
    data = json.loads(r.output)
    assert data["totals"]["params"] == sum(p.numel() for p in model.parameters()) == 11_181_642
    assert data["totals"]["buffers"] == sum(b.numel() for b in model.buffers()) == 9_620


@pytest.mark.parametrize("command", ["summary", "lint", "check", "constraints"])
def test_every_spec_command_takes_torch_code(command):
    extra = {"summary": ["--format", "json"], "lint": ["--format", "json"], "check": ["--no-real", "--rf-layers", "0",
             "--no-sizes", "--format", "json"], "constraints": ["--format", "json"]}[command]
    r = run(command, *CONV, *extra)
    assert r.exit_code == 0, r.output
    data = json.loads(r.output)
    if command == "summary":
        assert data["totals"]["params"] == CONV_PARAMS
        assert data["layers"][0]["output_shape"] == [1, 8, 14, 14]   # 16 - 3 + 1 = 14
    elif command == "constraints":
        assert data["dims"][0]["statement"] == "H must be at least 3"   # the 3x3 kernel fits
    elif command == "check":
        assert data["ok"] is True


def test_torch_code_needs_an_input_and_kwargs_need_torch_code():
    r = run("summary", "torchvision.models:resnet18")
    assert r.exit_code == 2
    assert r.output == ("error: torchvision.models:resnet18: torch code is traced at an input size: "
                        "give one (--input 1,3,224,224)\n")
    r = run("summary", "zoo:lenet5", "--kwargs", "{}")
    assert r.exit_code == 2 and "--kwargs applies to torch code" in r.output
    r = run("summary", "torch.nn:NoSuchLayer", "--input", "1,3,8,8")
    assert r.exit_code == 2 and "module 'torch.nn' has no attribute 'NoSuchLayer'" in r.output


@pytest.mark.parametrize("shape, says", [
    # Conv2d reads a 3-D input as unbatched C,H,W (C=1 here): torch's own words are "Invalid channel dimensions"
    ("1,3,224", "the network takes N,C,H,W (its first layer is a Conv2d); the input has 3 dims: 1,3,224"),
    ("1,3,224,224,2", "the network takes N,C,H,W (its first layer is a Conv2d); the input has 5 dims: 1,3,224,224,2"),
    # resnet18's conv1 is Conv2d(3, 64, 7): 4 channels do not fit
    ("1,4,224,224", "the network takes 3 input channels (in_channels of its first Conv2d); the input has 4 "
                    "(dim 1 of 1,4,224,224)"),
])
def test_torch_code_given_an_input_its_first_conv_cannot_take_says_why_and_where(shape, says):
    pytest.importorskip("torchvision")
    for command in ("summary", "lint"):
        r = run(command, "torchvision.models:resnet18", "--input", shape)
        assert r.exit_code == 2, r.output
        assert says in r.output and "at ResNet.conv1 (Conv2d)" in r.output, r.output
        assert "Invalid channel dimensions" not in r.output


def test_torch_code_failing_inside_a_layer_names_the_layer():
    from convshape.torch.importer import UnmappedOps, from_torch
    # Linear(8, 2) after Flatten of 1x3x4x4 (3 * 4 * 4 = 48 features): torch refuses, convshape names the layer
    net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(8, 2))
    with pytest.raises(UnmappedOps) as e:
        from_torch(net, (1, 3, 4, 4))
    assert "tracing failed: RuntimeError: " in str(e.value) and str(e.value).endswith("at Sequential.1 (Linear)")
