"""Receptive fields through the dim-moving kinds (Stack, Index, Reduce, Unsqueeze, Squeeze, Permute,
Narrow, ParamConcat, Concat, MatMul) around convolutions and pools, refereed by the gradient probe."""
import pytest

torch = pytest.importorskip("torch")

import convshape as cs  # noqa: E402
from convshape.torch.build import to_torch  # noqa: E402
from convshape.graph import INPUT  # noqa: E402
from convshape.torch.check import _axis_states, _past_an_edge, check  # noqa: E402
from convshape.torch.probe import probe  # noqa: E402


def _spec(pre: str, move: str, post: str, shape=(2, 4, 16, 16)) -> str:
    lines = "\n".join(f"  {line}" for part in (pre, move, post) for line in part.strip().splitlines())
    return f"name: chain\ninput: {list(shape)}\nlayers:\n{lines}\n"


def test_stack_then_index_or_reduce_then_conv_is_3x3():
    # [2,4,6,6] -> Stack dim 1 [2,2,4,6,6] -> x[:, 0] or sum over dim 1 [2,4,6,6] -> Conv2d k=3 [2,4,4,4]:
    # dims 3 and 4 of the stack carry H and W, which move back to dims 2 and 3; the conv's field is
    # 1 + (3 - 1) * 1 = 3 on both axes (it was (3, 1): the merge aligned the inputs to the stack's
    # output rank, so W fell off the end before the Stack's own dims were read)
    for select in ("{Index: {index: [[null, null, null], 0]}}", "{Reduce: {op: sum, dim: 1}}"):
        spec = _spec("- {Stack: {dim: 1}, inputs: [input, input]}", f"- {select}",
                     "- {Conv2d: {out_channels: 4, kernel_size: 3}}", shape=(2, 4, 6, 6))
        net = cs.loads(spec)
        rf = cs.analyze(net).layers[-1].receptive_field
        assert (rf.size, rf.stride, rf.padding, rf.is_global) == ((3, 3), (1, 1), (0, 0), False)
        # centre unit of the 4x4 output is (1, 1): it reads input rows and columns 1*1 - 0 .. 1 + 3 - 1 = 1..3
        assert probe(to_torch(net, (2, 4, 6, 6)), (2, 4, 6, 6)) == [(1, 3), (1, 3)]


PRE = {  # the tensor named x: [2, 4, H, W]
    "input": ("- {Identity, name: x}", 32),
    "conv3": ("- {Conv2d: {out_channels: 4, kernel_size: 3, padding: 1}, name: x}", 32),
    "conv3s2": ("- {Conv2d: {out_channels: 4, kernel_size: 3, stride: 2, padding: 1}, name: x}", 16),
    "pool3": ("- {MaxPool2d: {kernel_size: 3, stride: 1, padding: 1}, name: x}", 32),
}

# name: (layers reading x and ending at a [2, C, H', W'] tensor, the input axes (0 = H, 1 = W) it
# reports global). {S} is x's spatial size, {S1} = S - 1, {S4} = S - 4, {4S} = 4 * S.
MOVES = {
    "stack1_index": ("- {Stack: {dim: 1}, inputs: [x, x]}\n- {Index: {index: [[null, null, null], 0]}}", set()),
    "stack1_reduce": ("- {Stack: {dim: 1}, inputs: [x, x]}\n- {Reduce: {op: sum, dim: 1}}", set()),
    "stack0_index": ("- {Stack: {dim: 0}, inputs: [x, x]}\n- {Index: {index: [1]}}", set()),
    "stack_last_amax": ("- {Stack: {dim: -1}, inputs: [x, x, x]}\n- {Reduce: {op: amax, dim: -1}}", set()),
    "stack1_single": ("- {Stack: {dim: 1}, inputs: [x]}\n- {Squeeze: {dim: 1}}", set()),
    "unsqueeze_squeeze": ("- {Unsqueeze: {dim: 2}}\n- {Squeeze: {dim: 2}}", set()),
    "unsqueeze_reduce": ("- {Unsqueeze: {dim: 1}}\n- {Reduce: {op: mean, dim: 1}}", set()),
    "new_axis_squeeze": ("- {Index: {index: [[null, null, null], null]}}\n- {Squeeze: {dim: 1}}", set()),
    "permute_back": ("- {Permute: {dims: [0, 2, 3, 1]}}\n- {Permute: {dims: [0, 3, 1, 2]}}", set()),
    "permute_swap_hw": ("- {Permute: {dims: [0, 1, 3, 2]}}", set()),
    # after the permute dim 1 is H: the narrow shifts H by 1 (output row o reads row o + 1)
    "narrow_dim1_after_permute": ("- {Permute: {dims: [0, 2, 3, 1]}}\n- {Narrow: {dim: 1, start: 1, length: {S1}}}\n"
                                  "- {Permute: {dims: [0, 3, 1, 2]}}", set()),
    "narrow_w": ("- {Narrow: {dim: 3, start: 2, length: {S4}}}", set()),
    # a 5-wide crop: the centre unit's field reaches the crop's edges, where the cropped tensor has no
    # positions: an upper bound there, checked for containment (check once called it a mismatch)
    "narrow_w_tight": ("- {Narrow: {dim: 3, start: 2, length: 5}}", set()),
    # a learned row prepended along H (dim 1 after the permute): output row o reads row o - 1
    "param_row_after_permute": ("- {Permute: {dims: [0, 2, 3, 1]}}\n- {ParamConcat: {shape: [1, 1, {S}, 4], dim: 1}}\n"
                                "- {Permute: {dims: [0, 3, 1, 2]}}", set()),
    "strided_crop": ("- {Index: {index: [[null, null, null], [null, null, null], [1, null, 2], [null, null, 3]]}}", set()),
    # an int picks a branch and a slice crops H in the same index: the crop's offset and step stay
    "stack_pick_and_crop": ("- {Stack: {dim: 1}, inputs: [x, x]}\n"
                            "- {Index: {index: [[null, null, null], 1, [null, null, null], [2, null, 2]]}}", set()),
    "negative_int_pick": ("- {Stack: {dim: 2}, inputs: [x, x]}\n- {Index: {index: [[null, null, null], "
                          "[null, null, null], -1]}}", set()),
    # W is reduced, then broadcast back onto x: every output reads all of W
    "mean_w_broadcast": ("- {Reduce: {op: mean, dim: 3, keepdim: true}, name: m}\n- {Add, inputs: [x, m]}", {1}),
    # Concat along W: which input, and where, an output column reads depends on the column
    "concat_w": ("- {Concat: {dim: 3}, inputs: [x, x]}", {1}),
    # C and H folded into the channels of a Conv1d: it reads all of H
    "fold_ch_channels": ("- {Flatten: {start_dim: 1, end_dim: 2}}\n- {Conv1d: {out_channels: {4S}, kernel_size: 3, "
                         "padding: 1}}\n- {Unflatten: {dim: 1, unflattened_size: [4, -1]}}", {0}),
    # C and H folded into the dim a Conv1d slides over (W its channels): the window wraps from one
    # channel's last row to the next's first, so H is reported global, and W is read whole
    "fold_ch_window": ("- {Flatten: {start_dim: 1, end_dim: 2}}\n- {Permute: {dims: [0, 2, 1]}}\n"
                       "- {Conv1d: {out_channels: {S}, kernel_size: 3, padding: 1}}\n- {Permute: {dims: [0, 2, 1]}}\n"
                       "- {Unflatten: {dim: 1, unflattened_size: [4, -1]}}", {0, 1}),
    # x + x^T: output (h, w) reads (h, w) and (w, h)
    "add_transposed": ("- {Permute: {dims: [0, 1, 3, 2]}, name: xt}\n- {Add, inputs: [x, xt]}", {0, 1}),
    # x @ x^T over W: all of W, and rows i and j together
    "gram_matmul": ("- {Permute: {dims: [0, 1, 3, 2]}, name: xt}\n- {MatMul, inputs: [x, xt]}", {0, 1}),
}

POST = ("- {Conv2d: {out_channels: 3, kernel_size: 3, padding: 1}}\n"
        "- {MaxPool2d: {kernel_size: 2, stride: 2}}")


@pytest.mark.parametrize("pre", sorted(PRE))
@pytest.mark.parametrize("move", sorted(MOVES))
def test_chain_receptive_field_matches_the_probe(pre, move):
    pre_text, size = PRE[pre]
    move_text, expected_global = MOVES[move]
    move_text = move_text.replace("{S1}", str(size - 1)).replace("{S4}", str(size - 4))
    move_text = move_text.replace("{4S}", str(4 * size)).replace("{S}", str(size))
    net = cs.loads(_spec(pre_text, move_text, POST, shape=(2, 4, 32, 32)))
    report = cs.analyze(net)
    states, approx = _axis_states(net, report)
    last = report.layers[-1]
    state = states[last.name]
    assert {a for a, f in enumerate(state.fields) if f.is_global} == expected_global
    assert not approx
    # every layer against the probe, as `convshape check --rf-layers all` does
    result = check(net, rf_layers="all", sizes=False, real=False)
    assert [m for m in result.mismatches if m.metric == "receptive_field"] == []
    # the last layer, exactly: the probe's centre unit against o * stride - padding .. + size - 1
    measured = probe(to_torch(net, report.input_shape), report.input_shape)
    unit = [(s - 1) // 2 for s in last.output_shape]
    rf = last.receptive_field
    L = report.input_shape[2]
    reads = {node.name: node.inputs for node in net.nodes}
    lengths = {INPUT: report.input_shape, **{r.name: r.output_shape for r in report.layers}}
    for a in range(2):
        if a in expected_global:
            lo, hi = measured[a]
            assert 0 <= lo <= hi <= L - 1
            continue
        (dim,) = [j for j, ax in enumerate(state.axes) if a in ax]  # one dim carries the axis, alone
        assert state.axes[dim] == frozenset({a})
        lo = unit[dim] * rf.stride[a] - rf.padding[a]
        hi = lo + rf.size[a] - 1
        if _past_an_edge(reads, states, lengths, last.name, a, lo, hi):
            # past an edge of the input or of an intermediate tensor (a padded border, a crop)
            # positions do not exist: an upper bound there
            assert max(lo, 0) <= measured[a][0] <= measured[a][1] <= min(hi, L - 1), (a, rf)
            continue
        assert measured[a] == (lo, hi), (a, rf)
