"""Spec features beyond one input -> one output: several outputs, shared weights, frozen layers,
results no output reads, parameters of modules that never run. No torch here (torch proofs are in
tests/test_import_truth.py); each figure has its arithmetic beside it."""
import json

import pytest
from click.testing import CliRunner

import convshape as cs
from convshape.cli import main
from convshape.errors import ShapeError, SpecError

CONV8 = "{out_channels: 8, kernel_size: 3, padding: 1}"


def analyze(text):
    return cs.analyze(cs.loads(text))


def test_several_outputs_are_named_and_all_counted():
    r = analyze(f"""
input: [1, 3, 8, 8]
layers:
  - Conv2d: {CONV8}
    name: stem
  - Conv2d: {{out_channels: 2, kernel_size: 1}}
    name: head_a
  - Conv2d: {{out_channels: 5, kernel_size: 1}}
    name: head_b
    inputs: stem
outputs: [head_a, head_b]
""")
    assert r.outputs == ["head_a", "head_b"]
    assert r.output_shapes == {"head_a": (1, 2, 8, 8), "head_b": (1, 5, 8, 8)}
    assert r.output_shape == (1, 2, 8, 8)  # the first output
    # stem 64 * 8*3*9 = 13_824; head_a 64 * 2*8 = 1_024; head_b 64 * 5*8 = 2_560
    assert r.totals.macs == 13_824 + 1_024 + 2_560
    # (8*3*9 + 8) + (2*8 + 2) + (5*8 + 5) = 224 + 18 + 45 = 287
    assert r.totals.params == 287
    assert r.unread == []
    d = r.to_dict()
    assert d["outputs"] == [{"name": "head_a", "output_shape": [1, 2, 8, 8]},
                            {"name": "head_b", "output_shape": [1, 5, 8, 8]}]


def test_a_result_no_output_reads_is_counted_and_named():
    r = analyze(f"""
input: [1, 3, 8, 8]
layers:
  - Conv2d: {CONV8}
    name: stem
  - Conv2d: {{out_channels: 2, kernel_size: 1}}
    name: aux
  - Conv2d: {{out_channels: 4, kernel_size: 1}}
    name: head
    inputs: stem
""")
    assert r.unread == ["aux"]
    # counted as torch runs it: 13_824 + aux 64 * 2*8 = 1_024 + head 64 * 4*8 = 2_048
    assert r.totals.macs == 13_824 + 1_024 + 2_048
    # no gradient reaches aux: backward = stem weight grad 13_824 (the input needs none)
    # + head weight and input grads 2 * 2_048; FLOPs = 2 * MACs
    assert r.totals.flops_backward == 2 * (13_824 + 2 * 2_048)
    assert r.to_dict()["unread"] == ["aux"]


def test_a_shared_layer_counts_params_once_and_macs_per_call():
    r = analyze(f"""
input: [1, 8, 8, 8]
layers:
  - Conv2d: {CONV8}
    name: c
  - Conv2d: {CONV8}
    name: c_again
    shares: c
  - Conv2d: {CONV8}
    shares: c
    repeat: 2
""")
    # one Conv2d(8, 8, 3) called 4 times: params 8*8*9 + 8 = 584 once
    assert r.totals.params == 584
    assert [x.params for x in r.layers] == [584, 0, 0, 0]
    assert [x.shares for x in r.layers] == [None, "c", "c", "c"]
    # MACs per call: 64 * 8*8*9 = 36_864, four calls
    assert r.totals.macs == 4 * 36_864
    # backward: the weight gradient accumulates over the 4 calls; input gradients for calls 2-4
    assert r.totals.flops_backward == 2 * (4 * 36_864 + 3 * 36_864)


def test_a_shared_block_instance_reuses_every_inner_layer():
    r = analyze(f"""
input: [1, 3, 8, 8]
blocks:
  Tower:
    layers:
      - Conv2d: {CONV8}
      - ReLU
      - Conv2d: {{out_channels: 4, kernel_size: 1}}
layers:
  - Tower: {{}}
    name: left
  - Tower: {{}}
    name: right
    inputs: input
    shares: left
outputs: [left, right]
""")
    assert [x.shares for x in r.layers] == [None, None, None, "left.conv2d_1", "left.relu_1", "left.conv2d_2"]
    # (8*3*9 + 8) + (4*8 + 4) = 224 + 36 = 260, once
    assert r.totals.params == 260
    # two towers: 2 * (64 * 8*3*9 + 64 * 4*8) = 2 * (13_824 + 2_048)
    assert r.totals.macs == 2 * (13_824 + 2_048)


def test_frozen_layers_and_blocks_are_non_trainable_and_need_no_weight_gradient():
    r = analyze(f"""
input: [1, 3, 8, 8]
blocks:
  Stage:
    layers:
      - Conv2d: {CONV8}
      - BatchNorm2d
layers:
  - Stage: {{}}
    name: stem
    frozen: true
  - Conv2d: {CONV8}
    name: head
""")
    # stem: conv 8*3*9 + 8 = 224, bn 2*8 = 16 -> 240 frozen; head 8*8*9 + 8 = 584 trainable
    assert (r.totals.trainable_params, r.totals.non_trainable_params) == (584, 240)
    assert [x.frozen for x in r.layers] == [True, True, False]
    # backward: the frozen stem needs neither weight nor input gradients; head: weight grad only
    # (its input needs none), 64 * 8*8*9 = 36_864 MACs
    assert r.totals.flops_backward == 2 * 36_864


def test_unused_params_count_in_the_totals_and_show_by_module():
    r = analyze("""
input: [1, 3, 8, 8]
layers:
  - Conv2d: {out_channels: 8, kernel_size: 3}
unused_params:
  conv_head: 412160
  aux: {params: 100, trainable_params: 0, buffers: 3}
""")
    # 224 (the conv) + 412_160 + 100; trainable 224 + 412_160
    assert r.totals.params == 224 + 412_160 + 100
    assert r.totals.trainable_params == 224 + 412_160
    assert r.totals.buffers == 3
    assert [u["module"] for u in r.unused_params] == ["conv_head", "aux"]
    assert r.to_dict()["unused_params"][0] == {"module": "conv_head", "params": 412_160, "trainable_params": 412_160,
                                               "buffers": 0, "int64_buffers": 0}


def test_summary_shows_outputs_unread_and_unused(tmp_path):
    spec = tmp_path / "net.yaml"
    spec.write_text(f"""
input: [1, 3, 8, 8]
layers:
  - Conv2d: {CONV8}
    name: stem
  - Conv2d: {{out_channels: 2, kernel_size: 1}}
    name: aux
  - Conv2d: {CONV8}
    name: again
    inputs: input
    shares: stem
outputs: [again, stem]
unused_params: {{conv_head: 10}}
""")
    res = CliRunner().invoke(main, ["summary", str(spec)], env={"COLUMNS": "200"})
    assert res.exit_code == 0, res.output
    assert "outputs  again 1×8×8×8; stem 1×8×8×8" in res.output
    assert "unread   1 layer(s) computed and counted, result read by no output: aux" in res.output
    assert "unused   10 params in modules forward never calls (in the totals): conv_head (10)" in res.output
    res = CliRunner().invoke(main, ["summary", str(spec), "--format", "json"])
    d = json.loads(res.output)
    assert [o["name"] for o in d["outputs"]] == ["again", "stem"]
    assert d["layers"][2]["shares"] == "stem"


@pytest.mark.parametrize("text, message", [
    ("outputs: [nope]", "unknown layer 'nope' in outputs"),
    ("outputs: [a, a]", "output 'a' is named twice"),
    ("outputs: 3", "'outputs' must be a layer name or a non-empty list of layer names"),
    ("unused_params: {m: -1}", "unused_params 'm' must be a count >= 0"),
    # 2 int64 buffers among 1 buffer: more than there are
    ("unused_params: {m: {params: 10, buffers: 1, int64_buffers: 2}}", r"0 <= i <= b"),
])
def test_bad_outputs_and_unused_params_are_located_spec_errors(text, message):
    with pytest.raises(SpecError, match=message) as e:
        cs.loads(f"input: [1, 3, 8, 8]\nlayers:\n  - Conv2d: {CONV8}\n    name: a\n{text}\n", "n.yaml")
    assert str(e.value).startswith("n.yaml:5:")


def test_sharing_needs_an_earlier_layer_of_the_same_arguments():
    head = f"input: [1, 8, 8, 8]\nlayers:\n  - Conv2d: {CONV8}\n    name: a\n"
    with pytest.raises(SpecError, match="'shares' names 'b', which is no earlier layer"):
        cs.loads(head + f"  - Conv2d: {CONV8}\n    shares: b\n", "n.yaml")
    with pytest.raises(SpecError, match="arguments differ"):
        cs.loads(head + "  - Conv2d: {out_channels: 4, kernel_size: 3}\n    shares: a\n", "n.yaml")
    with pytest.raises(SpecError, match="a layer that shares weights is frozen when the layer it shares is"):
        cs.loads(head + f"  - Conv2d: {CONV8}\n    shares: a\n    frozen: true\n", "n.yaml")
    with pytest.raises(SpecError, match="'frozen' must be true or false"):
        cs.loads(head + f"  - Conv2d: {CONV8}\n    frozen: 1\n", "n.yaml")
    # same arguments, but the input gives other weight shapes: the analysis names the layer
    net = cs.loads("input: [1, 3, 8, 8]\nlayers:\n  - Conv2d: {out_channels: 8, kernel_size: 3, padding: 1}\n"
                   "    name: a\n  - Conv2d: {out_channels: 8, kernel_size: 3, padding: 1}\n    shares: a\n")
    with pytest.raises(ShapeError, match="shares the weights of 'a' .Conv2d, 224 parameters. but would hold 584"):
        cs.analyze(net)


def test_several_named_inputs():
    r = analyze(f"""
input: {{image: [1, 3, 8, 8], mask: [1, 1, 8, 8]}}
layers:
  - Conv2d: {CONV8}
    name: a
  - Conv2d: {CONV8}
    name: b
    inputs: mask
  - Concat: {{}}
    inputs: [a, b]
""")
    assert r.inputs == {"image": (1, 3, 8, 8), "mask": (1, 1, 8, 8)}
    assert r.output_shape == (1, 16, 8, 8)
    # a: 8*3*9 + 8 = 224, b: 8*1*9 + 8 = 80; MACs 64 * 8*27 = 13_824 and 64 * 8*9 = 4_608
    assert (r.totals.params, r.totals.macs) == (224 + 80, 13_824 + 4_608)
    assert r.to_dict()["inputs"] == [{"name": "image", "shape": [1, 3, 8, 8]}, {"name": "mask", "shape": [1, 1, 8, 8]}]
    with pytest.raises(SpecError, match="input name 'input' must be an identifier other than 'input'") as e:
        cs.loads("input: {input: [1, 3, 8, 8]}\nlayers: [ReLU]\n", "n.yaml")
    assert str(e.value).startswith("n.yaml:1:")
    with pytest.raises(SpecError, match=r"'input' must be a list of sizes") as e:
        cs.loads("input: {a: [1, 3, 8, 8], b: 3}\nlayers: [ReLU]\n", "n.yaml")


# ------------------------------------------------------------------ lint with several outputs and inputs
def lint_codes(text):
    from convshape.lint.runner import lint
    return [(f.code, f.message) for f in lint(cs.loads(text, "n.yaml"))]


def test_channel_rule_exempts_the_head_of_every_output():
    text = """
input: [1, 3, 16, 16]
layers:
  - Conv2d: {out_channels: 64, kernel_size: 3, padding: 1}
    name: stem
  - Conv2d: {out_channels: 10, kernel_size: 1}
    name: classes
  - Conv2d: {out_channels: 4, kernel_size: 1}
    name: boxes
    inputs: stem
outputs: [classes, boxes]
"""
    # both heads' sizes are the task's (10 classes, 4 box coordinates): CS402 flags neither
    assert [c for c, _ in lint_codes(text) if c == "CS402"] == []
    # with 'boxes' the only output, 'classes' is an ordinary layer doing 256 * 10*64 = 163_840 of the
    # 442_368 + 163_840 + 65_536 = 671_744 MACs (24%, over the 1% floor): flagged
    one = [m for c, m in lint_codes(text.replace("outputs: [classes, boxes]", "")) if c == "CS402"]
    assert one == ["Conv2d 'classes' has out_channels=10, not a multiple of 8: tensor cores (fp16/bf16) work in "
                   "tiles of 8, so this size is padded or runs on slower kernels. Consider 8 or 16."]


def test_min_receptive_field_budget_checks_every_output():
    text = """
input: [1, 3, 32, 32]
lint: {min-receptive-field: 8}
layers:
  - Conv2d: {out_channels: 8, kernel_size: 3, padding: 1}
    name: shallow
  - Conv2d: {out_channels: 8, kernel_size: 5, padding: 2}
    name: c2
  - Conv2d: {out_channels: 8, kernel_size: 5, padding: 2}
    name: deep
outputs: [deep, shallow]
"""
    # deep: 3 + 4 + 4 = 11 >= 8; shallow: 3 < 8; before, only the first output ('deep') was looked at
    found = [m for c, m in lint_codes(text) if c == "CS604"]
    assert found == ["the receptive field of 'shallow' is 3×3 input pixels, below the min-receptive-field budget "
                     "of 8: its features cannot see objects larger than that."]


def test_classifier_rf_rule_follows_a_head_to_any_output():
    text = """
input: [1, 3, 64, 64]
layers:
  - Conv2d: {out_channels: 8, kernel_size: 3, padding: 1}
    name: stem
  - Conv2d: {out_channels: 2, kernel_size: 1}
    name: seg
  - AdaptiveAvgPool2d: {output_size: 1}
    inputs: stem
  - Flatten
  - Linear: {out_features: 10}
    name: cls
outputs: [seg, cls]
"""
    # the pool's features see 3×3 of 64×64; its head ends at 'cls', the second output
    assert [c for c, _ in lint_codes(text) if c == "CS301"] == ["CS301"]


def test_input_pixels_never_read_are_found_on_every_input():
    text = """
input: {image: [1, 3, 35, 35], mask: [1, 1, 36, 36]}
layers:
  - Conv2d: {out_channels: 8, kernel_size: 3, stride: 2}
    name: a
    noqa: CS201
  - Conv2d: {out_channels: 8, kernel_size: 3, stride: 2}
    name: b
    inputs: mask
    noqa: CS201
  - Add: {}
    inputs: [a, b]
"""
    # image: (35 - 3)/2 + 1 = 17 windows read rows 0..34, all of them; mask: floor((36 - 3)/2) + 1 = 17
    # windows read rows 0..34 too, so its row 35 (and column 35) is never read
    found = [m for c, m in lint_codes(text) if c == "CS502"]
    assert found == ["the last row of input 'mask' on H never reaches the output at this size, by any path: the "
                     "windows of b stop short of the border.",
                     "the last column of input 'mask' on W never reaches the output at this size, by any path: the "
                     "windows of b stop short of the border."]


# ------------------------------------------------------------------ max pooling indices and unpooling
UNPOOL = """
input: [1, 3, 9, 9]
layers:
  - MaxPool2d: {kernel_size: 2, return_indices: true}
    name: pool
  - Conv2d: {out_channels: 3, kernel_size: 3, padding: 1}
    name: mid
  - MaxUnpool2d: {kernel_size: 2, output_size: [9, 9]}
    inputs: [mid, pool]
    name: unpool
"""


def test_max_unpool_reads_the_indices_of_a_pool():
    r = analyze(UNPOOL)
    # 9 -> floor(9/2) = 4 -> (4 - 1)*2 + 2 = 8, and output_size 9 lies strictly between 8 - 2 and 8 + 2
    assert [x.output_shape for x in r.layers] == [(1, 3, 4, 4), (1, 3, 4, 4), (1, 3, 9, 9)]
    assert (r.layer("unpool").params, r.layer("unpool").macs, r.layer("unpool").other_ops) == (0, 0, 0)
    # the pool's act. bytes: its values 48 * 4 and its int64 indices 48 * 8 = 576
    assert r.layer("pool").activation_bytes == 48 * 4 + 48 * 8 == 576
    # the unpool's field: pool 2 (stride 2) -> conv 3 at stride 2: 2 + 2*2 = 6 -> back to stride 1
    assert r.layer("unpool").receptive_field.stride == (1, 1)
    table = cs.render.table.render(r) if hasattr(cs, "render") else str(r)
    assert "MaxUnpool2d" in str(r) and "1×3×9×9" in str(r)


@pytest.mark.parametrize("change, message", [
    ("return_indices: true", r"input 2 \('pool'\) must be a MaxPool with return_indices: true, whose indices "
                             "MaxUnpool2d reads"),
    ("output_size: [9, 9]", r"invalid output_size \(11, 11\): dim 0 must be strictly between 6 and 10"),
])
def test_max_unpool_refuses_what_torch_refuses(change, message):
    replaced = {"return_indices: true": "return_indices: false", "output_size: [9, 9]": "output_size: [11, 11]"}
    with pytest.raises(ShapeError, match=message):
        analyze(UNPOOL.replace(change, replaced[change]))
