"""Exact numbers for the algebra and attention kinds (arith, reduce, attention, Index, FixedConv):
the arithmetic beside each number; torch's agreement is tests/test_layer_contract.py's."""
from __future__ import annotations

import convshape as cs


def report(layers: str, shape):
    return cs.analyze(cs.loads(f"input: {list(shape)}\nlayers:\n" + layers))


def test_multihead_attention_counts():
    r = report("  - {MultiheadAttention: {embed_dim: 768, num_heads: 12, batch_first: true}}\n", (1, 197, 768))
    mha = r.layers[0]
    assert mha.output_shape == (1, 197, 768)
    # in_proj 3*768*768 + 3*768 = 1,771,776; out_proj 768*768 + 768 = 590,592
    assert mha.params == 1_771_776 + 590_592
    # projections 197*768*768 * 4 = 464,781,312; attention 2 * 197*197*768 = 59,610,624
    assert mha.macs == 464_781_312 + 59_610_624
    # biases (2*197 + 2*197) * 768 = 605,184; 4 per score: 4 * 12 * 197*197 = 1,862,832
    assert mha.other_ops == 605_184 + 1_862_832


def test_attention_is_global_over_the_sequence():
    r = report("  - {Conv2d: {out_channels: 8, kernel_size: 4, stride: 4}}\n"
               "  - {Flatten: {start_dim: 2}}\n"
               "  - {Permute: {dims: [0, 2, 1]}}\n"
               "  - {MultiheadAttention: {embed_dim: 8, num_heads: 2, batch_first: true}}\n", (1, 3, 32, 32))
    before, after = r.layers[2].receptive_field, r.layers[3].receptive_field
    assert before.size == (4, 4) and not before.is_global   # one 4x4 patch per token
    assert after.is_global                                   # every token attends to all 8*8 patches


def test_reduce_without_keepdim_keeps_the_remaining_axes_in_place():
    # sum over the channels of (1, 4, 6, 6) -> (1, 6, 6): H and W still carry spatial axes 0 and 1
    r = report("  - {Conv2d: {out_channels: 4, kernel_size: 3}}\n"
               "  - {Reduce: {op: sum, dim: 1}}\n"
               "  - {Unsqueeze: {dim: 1}}\n"
               "  - {Conv2d: {out_channels: 2, kernel_size: 3}}\n", (1, 3, 8, 8))
    assert r.layers[1].output_shape == (1, 6, 6)
    assert r.layers[1].other_ops == 144 - 36                    # 4*6*6 inputs folded into 6*6 outputs
    assert r.layers[3].receptive_field.size == (5, 5)            # 3 + (3 - 1), not global
    # a mean over W alone makes W global, H stays a window
    r = report("  - {Conv2d: {out_channels: 4, kernel_size: 3}}\n"
               "  - {Reduce: {op: mean, dim: -1}}\n", (1, 3, 8, 8))
    assert r.layers[1].output_shape == (1, 4, 6) and r.layers[1].other_ops == 144  # 4*6*6 adds/divides


def test_index_strided_crop_doubles_the_stride():
    r = report("  - {Index: {index: [[null, null, null], [null, null, null], [1, null, 2], [0, null, 2]]}}\n",
               (1, 3, 9, 8))
    crop = r.layers[0]
    assert crop.output_shape == (1, 3, 4, 4)                     # ceil((9-1)/2) = 4, ceil(8/2) = 4
    assert crop.receptive_field.stride == (2, 2) and crop.receptive_field.padding == (-1, 0)


def test_param_arith_and_fixed_conv_count_buffers_not_parameters():
    r = report("  - {ParamArith: {op: sub, shape: [1, 3, 1, 1], trainable: false}}\n"
               "  - {FixedConv2d: {out_channels: 3, kernel_size: 3, groups: 3, stride: 2, padding: 1}}\n"
               "  - {ParamArith: {op: add, shape: [1, 3, 1, 1]}}\n", (2, 3, 8, 8))
    assert [x.params for x in r.layers] == [0, 0, 3]
    assert [x.buffers for x in r.layers] == [3, 27, 0]           # 3 * 1*3*3 = 27 filter taps
    assert r.layers[1].macs == 2 * 3 * 4 * 4 * 9                 # 96 outputs * 9 taps = 864
    assert r.layers[1].output_shape == (2, 3, 4, 4)
