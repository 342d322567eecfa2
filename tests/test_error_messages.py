"""summary's errors are lint's: the same sentence, the argument's column and the fix, no repeated tails."""
import pytest
from click.testing import CliRunner

from convshape.cli import main
from convshape.errors import SpecError
from convshape.spec import parse_input_shape

WRONG_IN_CHANNELS = """\
name: inch
input: [1, 3, 32, 32]
layers:
  - Conv2d: {in_channels: 3, out_channels: 32, kernel_size: 3}
  - Conv2d: {in_channels: 16, out_channels: 32, kernel_size: 3}
"""
WRONG_IN_FEATURES = """\
name: infeat
input: [1, 3, 32, 32]
layers:
  - Conv2d: {in_channels: 3, out_channels: 8, kernel_size: 5}
  - MaxPool2d: {kernel_size: 2}
  - Flatten: {}
  - Linear: {in_features: 100, out_features: 10}
"""


def run(*args):
    return CliRunner().invoke(main, list(args))


def write(tmp_path, text):
    path = tmp_path / "net.yaml"
    path.write_text(text)
    return str(path)


@pytest.mark.parametrize("text, fix", [
    (WRONG_IN_CHANNELS, "set in_channels: 32"),   # conv2d_1 gives 32 channels
    (WRONG_IN_FEATURES, "Set in_features: 1568"),  # (32 - 5 + 1) / 2 = 14: 8 * 14 * 14 = 1568
])
def test_summary_prints_lints_message_for_the_same_mistake(tmp_path, text, fix):
    path = write(tmp_path, text)
    summary, lint = run("summary", path), run("lint", path)
    assert summary.exit_code == 1 and lint.exit_code == 1
    lint_line = lint.output.splitlines()[0]
    message = lint_line[:lint_line.rindex(" [")]  # lint's line without its shapes tail
    # the line and column of the argument itself: in_channels/in_features is at column 14 of its line
    assert message.startswith(f"{path}:5:14: CS102 " if "inch" in text else f"{path}:7:14: CS106 ")
    assert summary.output == f"error: {message}\n"
    assert fix in summary.output
    assert "no valid size" not in summary.output and "H=" not in summary.output


def test_size_hints_for_h_and_w_share_one_line():
    r = run("summary", "zoo:unet", "--input", "1,3,100,100")
    assert r.exit_code == 1
    assert "CS101 Concat 'concat_2'" in r.output
    assert "H=100, W=100 are not valid: use 96 or 112 (H and W must each be a multiple of 16" in r.output
    assert "W=100 is not valid" not in r.output and r.output.count("four 2× poolings") == 1
    # 25 vs 24 is a rounding, not a 1.04167× downsampling
    assert "1.04167" not in r.output and "The sizes differ by 1" in r.output


def test_wrong_rank_input_names_the_dims_the_network_takes():
    for command in ("summary", "lint", "check", "constraints"):
        r = run(command, "zoo:resnet18", "--input", "1,3,224")
        if command == "check" and "needs PyTorch" in r.output:
            continue
        assert r.exit_code == 2, command
        assert ("error: zoo:resnet18: the network takes N,C,H,W (declared 1,3,224,224); --input has 3 dims: 1,3,224"
                in r.output), (command, r.output)


def test_input_shape_as_tables_print_it():
    assert parse_input_shape("1x3x224x224") == (1, 3, 224, 224)
    assert parse_input_shape("1×3×224×224") == (1, 3, 224, 224)
    assert parse_input_shape("N,3,H,W") == ("N", 3, "H", "W")
    with pytest.raises(SpecError):
        parse_input_shape("1x3xHx4")
