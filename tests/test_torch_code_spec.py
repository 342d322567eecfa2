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
