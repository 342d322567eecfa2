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
    # a lower-rank operand broadcast onto x, written first: a [2, 4, 1, 1] gate reads every pixel, so
    # every output does
    "pooled_gate_first": ("- {AdaptiveAvgPool2d: {output_size: 1}, name: g}\n- {Mul, inputs: [g, x]}", {0, 1}),
    # two branches flattened and concatenated: which branch, and where, an element reads depends on it
    "concat_flattened_branches": ("- {Flatten, inputs: x, name: a}\n- {Conv2d: {out_channels: 4, kernel_size: 3, "
                                  "padding: 1}, inputs: x, name: b}\n- {Flatten, name: bf}\n"
                                  "- {Concat: {dim: 1}, inputs: [a, bf]}\n"
                                  "- {Unflatten: {dim: 1, unflattened_size: [8, {S}, {S}]}}", {0, 1}),
    # the same branches flattened over H, W only, stacked, summed and unflattened: the unflattened dims
    # each carry H and W together (an Unflatten is not matched with the Flatten it undoes), so the
    # next window is global on both: an upper bound, said so
    "stack_flattened_branches": ("- {Flatten: {start_dim: 2}, inputs: x, name: a}\n- {Conv2d: {out_channels: 4, "
                                 "kernel_size: 3, padding: 1}, inputs: x, name: b}\n- {Flatten: {start_dim: 2}, "
                                 "name: bf}\n- {Stack: {dim: 1}, inputs: [a, bf]}\n- {Reduce: {op: sum, dim: 1}}\n"
                                 "- {Unflatten: {dim: 2, unflattened_size: [{S}, {S}]}}", {0, 1}),
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


# Merges of tensors of different ranks. Several inputs of different spatial ranks crashed analysis, lint
# and check (IndexError in rf.merge and rf.apply, TypeError in lint's coverage, KeyError in check): each
# input's fields count its own axes, and a merge now keeps the paths that count the first input's
# (rf.frame). The probe measures every layer in the first input's axes.
RANKS = {
    # a 3-D and a 1-D branch concatenated after Flatten (the issue-14 report)
    "vol_sig_concat": ("input: {vol: [1, 2, 6, 6, 6], sig: [1, 3, 10]}", """
  - {Conv3d: {out_channels: 4, kernel_size: 3}, name: v}
  - {Flatten, name: vf}
  - {Conv1d: {out_channels: 4, kernel_size: 3}, inputs: sig, name: s}
  - {Flatten, name: sf}
  - {Concat: {dim: 1}, inputs: [vf, sf], name: cat}
  - {Linear: {out_features: 5}, name: fc}"""),
    # the same with the 1-D input first: the fields count the signal's positions
    "sig_vol_concat": ("input: {sig: [1, 3, 10], vol: [1, 2, 6, 6, 6]}", """
  - {Conv1d: {out_channels: 4, kernel_size: 3}, name: s}
  - {Flatten, name: sf}
  - {Conv3d: {out_channels: 4, kernel_size: 3}, inputs: vol, name: v}
  - {Flatten, name: vf}
  - {Concat: {dim: 1}, inputs: [sf, vf], name: cat}
  - {Linear: {out_features: 5}, name: fc}"""),
    # a [N, C] conditioning vector reshaped to [N, C, 1, 1], written first, gating an image map
    "vector_gate": ("input: {img: [1, 4, 10, 10], emb: [1, 4]}", """
  - {Conv2d: {out_channels: 4, kernel_size: 3, padding: 1}, name: x}
  - {Unflatten: {dim: 1, unflattened_size: [4, 1, 1]}, inputs: emb, name: e}
  - {Mul, inputs: [e, x], name: gated}
  - {Conv2d: {out_channels: 2, kernel_size: 3}, name: out}"""),
    # a pooled 1-D signal gating an image map (it reported the signal's 1-D field, silently)
    "signal_gate": ("input: {img: [1, 3, 8, 8], sig: [1, 2, 30]}", """
  - {Conv2d: {out_channels: 4, kernel_size: 3}, name: i}
  - {Conv1d: {out_channels: 4, kernel_size: 3}, inputs: sig, name: s}
  - {AdaptiveAvgPool1d: {output_size: 1}, name: sp}
  - {Unsqueeze: {dim: 3}, name: sp4}
  - {Mul, inputs: [sp4, i], name: gated}"""),
    # 2-D, 1-D and 3-D branches: the 1-D one broadcast onto the flattened 3-D one, their mean gating the image
    "three_ranks": ("input: {img: [1, 3, 12, 12], sig: [1, 2, 20], vol: [1, 1, 6, 6, 6]}", """
  - {Conv2d: {out_channels: 4, kernel_size: 3}, name: i}
  - {AdaptiveAvgPool2d: {output_size: 1}, name: ip}
  - {Conv1d: {out_channels: 4, kernel_size: 5}, inputs: sig, name: s}
  - {AdaptiveAvgPool1d: {output_size: 1}, name: sp}
  - {Conv3d: {out_channels: 4, kernel_size: 3}, inputs: vol, name: v}
  - {Flatten: {start_dim: 2}, name: vf}
  - {Add, inputs: [vf, sp], name: vs}
  - {Reduce: {op: mean, dim: 2, keepdim: true}, name: vm}
  - {Unsqueeze: {dim: 3}, name: vm4}
  - {Add, inputs: [i, vm4], name: film}
  - {Conv2d: {out_channels: 2, kernel_size: 3}, name: out}
  - {Flatten, name: f}
  - {Flatten, inputs: ip, name: ipf}
  - {Concat: {dim: 1}, inputs: [f, ipf], name: cat}"""),
}

# name: {layer: (size, stride, is_global)}, by hand, in the first input's axes
RANKS_RF = {
    # Conv3d k=3: 3×3×3; a Concat along the flattened dim (which holds D, H, W) reads a position that
    # depends on the output's: global; the 1-D branch counts the signal's positions (size 3)
    "vol_sig_concat": {"v": ((3, 3, 3), (1, 1, 1), False), "s": ((3,), (1,), False),
                       "cat": ((6, 6, 6), (1, 1, 1), True)},
    "sig_vol_concat": {"s": ((3,), (1,), False), "v": ((3, 3, 3), (1, 1, 1), False), "cat": ((10,), (1,), True)},
    # the gate reads no pixel: gated has x's 3×3; out: 1 + (3 - 1) + (3 - 1) = 5
    "vector_gate": {"gated": ((3, 3), (1, 1), False), "out": ((5, 5), (1, 1), False)},
    "signal_gate": {"sp": ((30,), (1,), True), "gated": ((3, 3), (1, 1), False)},
    # film: i's 3×3 (the gate comes from the signal and the volume); out: 3 + 2 = 5; cat: Concat along
    # the flattened dim: global (ipf is the image pooled: global too)
    "three_ranks": {"vs": ((3, 3, 3), (1, 1, 1), False), "film": ((3, 3), (1, 1), False),
                    "out": ((5, 5), (1, 1), False), "cat": ((12, 12), (1, 1), True)},
}

# receptive-field comparisons check makes: one per probed layer and axis of the first input, except
# a flattened axis that is not global (no single unit index); the layers in another input's axes are
# named in a note, not probed
RANKS_PROBED = {
    "vol_sig_concat": (9, "s, sf"),          # v, cat, fc: 3 layers × 3 axes (vf flattened: none)
    "sig_vol_concat": (3, "v, vf"),          # s, cat, fc: 3 layers × 1 axis (sf flattened: none)
    "vector_gate": (6, "e"),                 # x, gated, out: 3 layers × 2 axes
    "signal_gate": (4, "s, sp, sp4"),        # i, gated: 2 layers × 2 axes
    "three_ranks": (12, "s, sp, v, vf, vs, vm, vm4"),   # i, ip, film, out, ipf, cat: 6 × 2 (f flattened: none)
}


@pytest.mark.parametrize("name", sorted(RANKS))
def test_merges_of_inputs_of_other_ranks(name):
    inputs, layers = RANKS[name]
    net = cs.loads(f"name: {name}\n{inputs}\nlayers:{layers}\n")
    report = cs.analyze(net)
    for layer, (size, stride, is_global) in RANKS_RF[name].items():
        rf = report.layer(layer).receptive_field
        assert (tuple(rf.size), tuple(rf.stride), rf.is_global) == (size, stride, is_global), layer
    # lint ran every rule (its pixel-coverage rule raised TypeError): only the small channel counts (4, 2)
    assert {f.code for f in cs.lint(net)} == {"CS402"}
    result = check(net, rf_layers="all", sizes=False, real=False)
    assert [m for m in result.mismatches if m.metric == "receptive_field"] == []
    count, skipped = RANKS_PROBED[name]
    assert result.compared["receptive_field"] == count
    assert any(n.startswith(f"receptive field of {skipped} not probed") for n in result.notes), result.notes


@pytest.mark.parametrize("first", [True, False])
def test_rank3_bias_broadcast_onto_a_map_reads_every_pixel(first):
    # x [1, 8, 12, 12]; its pooled [1, 8, 1, 1] flattened to [8] and unflattened to a [8, 1, 1] bias, added
    # to x (a rank-3 tensor onto a rank-4 one, in either order); the 3×3/2 conv after it: 5×5 outputs.
    # The bias reads all 12×12 pixels, so every output does: global on H and W, and the probe's centre
    # unit (2, 2) reads rows and columns 0..11
    add = "[c, x]" if first else "[x, c]"
    net = cs.loads(f"""name: bias
input: [1, 4, 12, 12]
layers:
  - {{Conv2d: {{out_channels: 8, kernel_size: 3, padding: 1}}, name: x}}
  - {{AdaptiveAvgPool2d: {{output_size: 1}}}}
  - {{Flatten: {{start_dim: 0}}}}
  - {{Unflatten: {{dim: 0, unflattened_size: [8, 1, 1]}}, name: c}}
  - {{Add, inputs: {add}}}
  - {{Conv2d: {{out_channels: 3, kernel_size: 3, stride: 2}}}}
""")
    report = cs.analyze(net)
    rf = report.layers[-1].receptive_field
    assert report.layers[-1].output_shape == (1, 3, 5, 5) and rf.is_global and rf.size == (12, 12)
    assert probe(to_torch(net, (1, 4, 12, 12)), (1, 4, 12, 12)) == [(0, 11), (0, 11)]
