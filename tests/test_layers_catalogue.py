"""Exact numbers for the layer catalogue: pads, resampling, LP pooling, instance/local-response norms,
and the torch rules the contract test found missing in the older kinds. Arithmetic beside each number.
"""
from __future__ import annotations

import math
from fractions import Fraction

import pytest

import convshape as cs
from convshape.dims import substitute, symbol
from convshape.errors import ShapeError, SpecError
from convshape.layers import REGISTRY
from convshape.layers.pool import adaptive_windows


def one(layer: str, shape) -> "cs.report.LayerResult":
    """Analyze a one-layer spec (written as in a YAML file) on `shape`; returns its layer row."""
    net = cs.loads(f"input: {list(shape)}\nlayers:\n  - {layer}\n")
    return cs.analyze(net).layers[-1]


def report(layers: str, shape):
    return cs.analyze(cs.loads(f"input: {list(shape)}\nlayers:\n" + layers))


# ---------------------------------------------------------------- Upsample
def test_upsample_bilinear_scale_2():
    r = one("{Upsample: {scale_factor: 2, mode: bilinear}}", (1, 3, 7, 7))
    assert r.output_shape == (1, 3, 14, 14)      # floor(7 * 2.0) = 14
    assert r.other_ops == 4_116                  # 1*3*14*14 = 588 outputs * (2*4 taps - 1 = 7)
    assert (r.params, r.macs, r.buffers) == (0, 0, 0)


def test_upsample_nearest_costs_nothing_and_halves_the_stride():
    rep = report("  - {Conv2d: {out_channels: 4, kernel_size: 3, padding: 1}}\n"
                 "  - {Upsample: {scale_factor: 2}}\n"
                 "  - {Conv2d: {out_channels: 4, kernel_size: 3, padding: 1}}\n", (1, 3, 8, 8))
    up, conv = rep.layers[1], rep.layers[2]
    assert up.output_shape == (1, 4, 16, 16) and up.other_ops == 0
    # conv 3 (stride 1), nearest x2 (stride 1/2, 1 tap), conv 3: size 3 + (3 - 1) * 1/2 = 4
    assert up.receptive_field.stride == (Fraction(1, 2),) * 2
    assert conv.receptive_field.size == (4, 4)


def test_upsample_output_size_is_torchs_double_product():
    # 7 * 1.1 = 7.700000000000001 -> 7 and 10 * 1.1 = 11.000000000000002 -> 11
    assert one("{Upsample: {scale_factor: 1.1, mode: bilinear}}", (1, 2, 7, 10)).output_shape == (1, 2, 7, 11)
    # 100 * 0.57 = 56.99999999999999 in double precision: torch gives 56, and so do we
    assert one("{Upsample: {scale_factor: 0.57}}", (1, 2, 100)).output_shape == (1, 2, 56)
    # a symbolic length takes the scale as written, 57/100: floor(100 * 57/100) = 57, one more than
    # torch at this size (documented in convshape/layers/resample.py)
    sym = cs.analyze(cs.loads("input: [1, 2, L]\nlayers:\n  - {Upsample: {scale_factor: 0.57}}\n"))
    assert substitute(sym.layers[0].output_shape[2], {"L": 100}) == 57
    assert substitute(sym.layers[0].output_shape[2], {"L": 7}) == 3   # floor(3.99) = 3 both ways


def test_upsample_size_bicubic_align_corners():
    r = one("{Upsample: {size: [5, 9], mode: bicubic, align_corners: true}}", (1, 2, 4, 4))
    assert r.output_shape == (1, 2, 5, 9)
    assert r.other_ops == 2_790                  # 1*2*5*9 = 90 outputs * (2*16 taps - 1 = 31)


def test_upsample_trilinear_per_axis_scales():
    r = one("{Upsample: {scale_factor: [2, 0.5, 3], mode: trilinear}}", (1, 2, 3, 4, 5))
    assert r.output_shape == (1, 2, 6, 2, 15)    # 3*2, 4*0.5, 5*3
    assert r.other_ops == 5_400                  # 1*2*6*2*15 = 360 outputs * (2*8 taps - 1 = 15)


def test_upsample_area_reads_every_adaptive_window():
    r = one("{Upsample: {scale_factor: 1.5, mode: area}}", (1, 2, 5))
    assert r.output_shape == (1, 2, 7)           # floor(5 * 1.5) = 7
    # 7 windows over 5: 5 + 7 - gcd(5, 7) = 11 reads per (N, C) row, 2 rows
    assert r.other_ops == 22
    # area is adaptive average pooling: a tiny scale gives an empty tensor, as in torch
    assert one("{Upsample: {scale_factor: 0.1, mode: area}}", (1, 2, 5, 5)).output_shape == (1, 2, 0, 0)


def test_adaptive_window_reads_closed_form():
    # torch's windows [floor(iL/O), ceil((i+1)L/O)) summed by brute force, against L + O - gcd(L, O)
    for L in range(1, 25):
        for O in range(1, 25):
            brute = sum(-(-(i + 1) * L // O) - (i * L // O) for i in range(O))
            assert adaptive_windows(L, O) == brute == L + O - math.gcd(L, O)
    # symbolic L with a concrete O: sum of floor/ceiling terms; symbolic O: an evaluating gcd_int
    L = symbol("L")
    assert substitute(adaptive_windows(L, 3), {"L": 7}) == 9     # windows [0,3) [2,5) [4,7)
    O = symbol("O")
    assert substitute(adaptive_windows(L, O), {"L": 12, "O": 8}) == 16   # 12 + 8 - gcd 4


def test_upsample_mode_must_fit_the_rank():
    with pytest.raises(ShapeError, match="mode='bilinear' needs a 4-D input"):
        one("{Upsample: {scale_factor: 2, mode: bilinear}}", (1, 3, 7))
    with pytest.raises(ShapeError, match="scale_factor 0.1 on spatial axis 0 of size 5 gives output size 0"):
        one("{Upsample: {scale_factor: 0.1}}", (1, 3, 5, 5))
    with pytest.raises(SpecError, match="align_corners can only be set with the interpolating modes"):
        cs.loads("input: [1, 3, 4, 4]\nlayers:\n  - {Upsample: {scale_factor: 2, align_corners: false}}\n")
    with pytest.raises(SpecError, match="only one of size or scale_factor"):
        cs.loads("input: [1, 3, 4, 4]\nlayers:\n  - {Upsample: {scale_factor: 2, size: 8}}\n")


# ---------------------------------------------------------------- PixelShuffle, PixelUnshuffle, ChannelShuffle
def test_pixel_shuffle():
    r = one("{PixelShuffle: {upscale_factor: 2}}", (1, 16, 5, 5))
    assert r.output_shape == (1, 4, 10, 10)      # 16 / 2^2 = 4 channels; 5 * 2 = 10
    assert (r.other_ops, r.macs, r.params) == (0, 0, 0)
    assert r.receptive_field.stride == (Fraction(1, 2),) * 2
    with pytest.raises(ShapeError, match="channels 6 are not divisible by upscale_factor"):
        one("{PixelShuffle: {upscale_factor: 2}}", (1, 6, 5, 5))


def test_pixel_unshuffle_and_its_symbolic_condition():
    r = one("{PixelUnshuffle: {downscale_factor: 2}}", (1, 4, 10, 6))
    assert r.output_shape == (1, 16, 5, 3)       # 4 * 2^2 = 16; 10 / 2 = 5; 6 / 2 = 3
    assert r.receptive_field.size == (2, 2) and r.receptive_field.stride == (2, 2)
    with pytest.raises(ShapeError, match="width 5 is not divisible by downscale_factor=2"):
        one("{PixelUnshuffle: {downscale_factor: 2}}", (1, 4, 10, 5))
    sym = cs.analyze(cs.loads("input: [1, 4, H, W]\nlayers:\n  - {PixelUnshuffle: {downscale_factor: 2}}\n"))
    held = {(h, w): all(bool(substitute(c.expr, {"H": h, "W": w})) for c in sym.conditions)
            for h, w in ((10, 6), (10, 7), (9, 6))}
    assert held == {(10, 6): True, (10, 7): False, (9, 6): False}


def test_channel_shuffle():
    assert one("{ChannelShuffle: {groups: 3}}", (1, 6, 4, 4)).output_shape == (1, 6, 4, 4)
    with pytest.raises(ShapeError, match="4 channels are not divisible by groups=3"):
        one("{ChannelShuffle: {groups: 3}}", (1, 4, 10))
    with pytest.raises(ShapeError, match="at least 3 dims"):
        one("{ChannelShuffle: {groups: 2}}", (4, 10))


# ---------------------------------------------------------------- the Pad family
def test_reflection_pad_must_be_smaller_than_the_input():
    assert one("{ReflectionPad2d: {padding: 3}}", (1, 2, 5, 5)).output_shape == (1, 2, 11, 11)   # 5 + 3 + 3
    with pytest.raises(ShapeError, match="reflect padding must be smaller than the input size"):
        one("{ReflectionPad2d: {padding: 3}}", (1, 2, 3, 3))                                      # 3 < 3 fails


def test_pad_tuple_runs_from_the_last_dim_and_its_length_decides():
    assert one("{ZeroPad2d: {padding: [1, 2]}}", (1, 3, 4, 4)).output_shape == (1, 3, 4, 7)       # W 4+1+2
    assert one("{ZeroPad2d: {padding: [1, 1, 2, 0]}}", (1, 3, 4, 4)).output_shape == (1, 3, 6, 6)  # H 4+2, W 4+2
    assert one("{ReflectionPad1d: {padding: [1, 1, 1, 1]}}", (2, 3, 5, 5)).output_shape == (2, 3, 7, 7)
    r = one("{ConstantPad3d: {padding: 1, value: 0.5}}", (1, 2, 3, 4, 5))
    assert r.output_shape == (1, 2, 5, 6, 7) and r.other_ops == 0
    assert r.receptive_field.padding == (1, 1, 1)


def test_negative_padding_crops():
    assert one("{ConstantPad1d: {padding: [-3, -2], value: 0}}", (2, 3, 5)).output_shape == (2, 3, 0)  # 5-3-2
    assert one("{ReplicationPad1d: {padding: [-7, 3]}}", (2, 3, 5)).output_shape == (2, 3, 1)          # 5-7+3
    with pytest.raises(ShapeError, match="cropping more than the input"):
        one("{ZeroPad1d: {padding: [1, -6]}}", (2, 3, 5))          # torch crops 6 of 5 before padding
    with pytest.raises(ShapeError, match="output size 0 below 1"):
        one("{ReplicationPad1d: {padding: [0, -5]}}", (2, 3, 5))
    with pytest.raises(ShapeError, match="leaves every padded dim empty"):
        one("{ReflectionPad2d: {padding: [-5, 0, -5, 0]}}", (2, 3, 5, 5))


def test_circular_pad_wraps_at_most_once():
    assert one("{CircularPad2d: {padding: 5}}", (1, 2, 5, 5)).output_shape == (1, 2, 15, 15)    # 5 + 5 + 5
    with pytest.raises(ShapeError, match="wraps around more than once"):
        one("{CircularPad2d: {padding: 6}}", (1, 2, 5, 5))
    with pytest.raises(ShapeError, match="expects a 3-D or 4-D input"):
        one("{CircularPad2d: {padding: 1}}", (1, 1, 2, 5, 5))


def test_circular_pad_crops_must_leave_enough_to_wrap():
    # crop 4 of 5 leaves K = 1, pad 1 <= K: 5 - 4 + 1 = 2
    assert one("{CircularPad1d: {padding: [-4, 1]}}", (2, 7, 5)).output_shape == (2, 7, 2)
    # crop 2 of 5 leaves K = 3, pad 3 <= K: 5 - 2 + 3 = 6
    assert one("{CircularPad1d: {padding: [-2, 3]}}", (1, 1, 5)).output_shape == (1, 1, 6)
    # crop 7 of 5 leaves nothing to wrap (torch returns 1 uninitialized value)
    with pytest.raises(ShapeError, match=r"the crop leaves -2 value\(s\) to wrap around, circular padding needs at least 3"):
        one("{CircularPad1d: {padding: [-7, 3]}}", (2, 7, 5))
    # pad 4 > K = 3: torch's margin copy overlaps itself, whatever the batch
    for batch in (1, 2):
        with pytest.raises(ShapeError, match=r"leaves 3 value\(s\) to wrap around, circular padding needs at least 4"):
            one("{CircularPad1d: {padding: [-2, 4]}}", (batch, 1, 5))
    # symbolic sizes get the same rule, one linear condition: L - 4 >= 1
    sym = cs.analyze(cs.loads("input: [2, 3, L]\nlayers:\n  - {CircularPad1d: {padding: [-4, 1]}}\n"))
    assert [bool(substitute(c.expr, {"L": 5})) for c in sym.conditions] == [True] * len(sym.conditions)
    assert not all(bool(substitute(c.expr, {"L": 4})) for c in sym.conditions)
    assert sym.output_shape[2] == symbol("L") - 3


def test_pad_tuple_lengths_are_checked_in_the_spec():
    with pytest.raises(SpecError, match="even number of entries"):
        cs.loads("input: [1, 3, 4]\nlayers:\n  - {ZeroPad1d: {padding: [1, 1, 1]}}\n")
    with pytest.raises(SpecError, match="pads 1 to 3 dims"):
        cs.loads("input: [1, 3, 4]\nlayers:\n  - {ReplicationPad3d: {padding: [1, 1, 1, 1, 1, 1, 1, 1]}}\n")


def test_constant_pad_value_may_be_infinite():
    cls = REGISTRY["ConstantPad2d"]
    layer = cls(padding=1, value=float("-inf"))
    assert cls.model_validate_json(layer.model_dump_json()) == layer   # JSON keeps -Infinity


# ---------------------------------------------------------------- pooling
def test_lp_pool():
    r = one("{LPPool2d: {norm_type: 2, kernel_size: 3}}", (1, 2, 9, 9))
    assert r.output_shape == (1, 2, 3, 3)        # (9 - 3)/3 + 1 = 3
    assert r.other_ops == 342                    # 1*2*3*3 = 18 outputs * (2*9 + 1 = 19)
    with pytest.raises(SpecError, match="norm_type must be a non-zero value"):
        cs.loads("input: [1, 2, 9]\nlayers:\n  - {LPPool1d: {norm_type: 0, kernel_size: 3}}\n")
    with pytest.raises(SpecError, match="kernel_size"):   # lp_pool1d multiplies by kernel_size itself
        cs.loads("input: [1, 2, 9]\nlayers:\n  - {LPPool1d: {norm_type: 2, kernel_size: [3]}}\n")


def test_lp_pool3d_and_avg_pool3d_need_the_input_itself_to_cover_the_kernel():
    # ceil mode would keep one window on 3 < 5 (LPPool2d does), but avg_pool3d checks the input first
    assert one("{LPPool2d: {norm_type: 2, kernel_size: 5, ceil_mode: true}}", (1, 2, 3, 3)).output_shape == (1, 2, 1, 1)
    with pytest.raises(ShapeError, match="smaller than kernel_size 5"):
        one("{LPPool3d: {norm_type: 2, kernel_size: 5, ceil_mode: true}}", (1, 2, 3, 3, 3))
    # padded 2 + 1 + 1 = 4 >= 3 would give (4 - 3)/3 + 1 = 1, but the input 2 < 3
    with pytest.raises(ShapeError, match="input size 2 on spatial axis 0 is smaller than kernel_size 3"):
        one("{AvgPool3d: {kernel_size: 3, padding: 1}}", (1, 2, 2, 5, 5))
    assert one("{MaxPool3d: {kernel_size: 3, padding: 1}}", (1, 2, 2, 5, 5)).output_shape == (1, 2, 1, 2, 2)


def test_adaptive_pool_output_size_forms():
    assert one("{AdaptiveAvgPool1d: {output_size: [4]}}", (1, 2, 6)).output_shape == (1, 2, 4)
    assert one("{AdaptiveMaxPool2d: {output_size: [~, 3]}}", (1, 2, 5, 9)).output_shape == (1, 2, 5, 3)
    assert one("{AdaptiveAvgPool2d: {output_size: 0}}", (1, 2, 4, 4)).output_shape == (1, 2, 0, 0)
    # output size 1 is a mean over the last dims in ATen: any leading dims (average pooling only)
    assert one("{AdaptiveAvgPool2d: {output_size: 1}}", (6, 8, 3, 8, 2)).output_shape == (6, 8, 3, 1, 1)
    with pytest.raises(ShapeError, match="expects a 3 or 4-D input"):
        one("{AdaptiveMaxPool2d: {output_size: 1}}", (6, 8, 3, 8, 2))
    with pytest.raises(SpecError, match="output_size must be an int or have 2 entries"):
        cs.loads("input: [1, 2, 6, 6]\nlayers:\n  - {AdaptiveAvgPool2d: {output_size: [4]}}\n")
    # a dim kept at its symbolic size is read once per output: H reads per (N, C, W-window)
    sym = cs.analyze(cs.loads("input: [1, 2, H, 6]\nlayers:\n  - {AdaptiveAvgPool2d: {output_size: [~, 3]}}\n"))
    assert substitute(sym.layers[0].other_ops, {"H": 5}) == 60   # 1*2 * 5 * (6 reads over 3 windows) = 60


# ---------------------------------------------------------------- norms
def test_instance_norm():
    r = one("InstanceNorm2d", (2, 3, 4, 4))
    assert (r.params, r.buffers) == (0, 0)       # torch's defaults: affine=False, no running stats
    assert r.other_ops == 480                    # 2*3*4*4 = 96 elements * 5 (statistics from the input)
    r = one("{InstanceNorm2d: {affine: true, track_running_stats: true}}", (2, 3, 4, 4))
    assert (r.params, r.buffers) == (6, 7)       # weight + bias 2*3; running mean/var 2*3 + 1 counter
    assert r.other_ops == 192                    # running statistics: folded scale and shift, 96 * 2
    with pytest.raises(ShapeError, match="more than 1 value"):
        one("InstanceNorm2d", (2, 3, 1, 1))      # statistics of a single spatial value
    assert one("{InstanceNorm1d: {num_features: 3}}", (3, 4)).inferred == {"num_features": 3}  # unbatched: dim 0


def test_norms_check_num_features_only_when_something_is_sized_by_it():
    # torch ignores num_features without affine weights or running statistics (InstanceNorm warns)
    assert one("{InstanceNorm2d: {num_features: 7}}", (2, 3, 4, 4)).output_shape == (2, 3, 4, 4)
    assert one("{GroupNorm: {num_groups: 2, num_channels: 4, affine: false}}", (1, 6, 3)).output_shape == (1, 6, 3)
    with pytest.raises(ShapeError, match="num_features=7 but the input gives 3"):
        one("{InstanceNorm2d: {num_features: 7, affine: true}}", (2, 3, 4, 4))


def test_batch_and_group_norm_need_more_than_one_value_per_statistic():
    with pytest.raises(ShapeError, match="more than 1 value per channel"):
        one("{BatchNorm2d: {track_running_stats: false}}", (1, 3, 1, 1))      # N * H * W = 1
    assert one("{BatchNorm2d: {track_running_stats: false}}", (2, 3, 1, 1)).other_ops == 42  # 6 * (5 + 2)
    with pytest.raises(ShapeError, match="more than 1 value per group"):
        one("{GroupNorm: {num_groups: 4}}", (1, 4, 1))                         # (1 * 4/4) * 1 = 1
    r = one("{BatchNorm2d: {bias: false}}", (2, 3, 4, 4))
    assert (r.params, r.buffers) == (3, 7)       # weight only; 2*3 running stats + 1 counter


def test_layer_norm_symbolic_trailing_dim_is_a_condition():
    sym = cs.analyze(cs.loads("input: [N, 3, W]\nlayers:\n  - {LayerNorm: {normalized_shape: 5}}\n"))
    assert [str(c.expr) for c in sym.conditions] == ["Eq(W, 5)"]
    assert sym.layers[0].params == 10            # weight + bias over 5


def test_local_response_norm():
    r = one("{LocalResponseNorm: {size: 5}}", (2, 8, 6, 6))
    assert r.output_shape == (2, 8, 6, 6)
    assert r.other_ops == 5_760                  # 2*8*6*6 = 576 elements * (5 + 5)
    with pytest.raises(ShapeError, match="3 or more dims"):
        one("{LocalResponseNorm: {size: 2}}", (3, 5))


# ---------------------------------------------------------------- activations, dropout, linear
def test_softmax_without_dim_uses_torchs_implicit_dim():
    rep = report("  - {Conv2d: {out_channels: 4, kernel_size: 3}}\n  - Softmax\n", (1, 3, 8, 8))
    assert rep.layers[1].receptive_field.is_global is False   # 4-D input: dim 1, the channels
    rep = report("  - Flatten\n  - Softmax\n", (1, 3, 8, 8))
    assert rep.layers[1].output_shape == (1, 192)              # 2-D input: dim 1 as well


def test_prelu_channels():
    assert one("{PReLU: {num_parameters: 3}}", (5, 3)).params == 3
    with pytest.raises(ShapeError, match="num_parameters=3 but the input has 1 channels"):
        one("{PReLU: {num_parameters: 3}}", (3,))           # torch: a 1-D input has one channel


def test_dropout2d_accepts_any_rank_like_torch_in_eval():
    assert one("Dropout2d", (2, 3)).output_shape == (2, 3)
    with pytest.raises(ShapeError, match="expects a 2 or 3-D input"):
        one("Dropout1d", (2, 3, 4, 5))


def test_linear_over_any_rank():
    r = one("{Linear: {out_features: 4}}", (1, 1, 1, 1, 1, 1, 1, 1, 1, 3))
    assert r.output_shape == (1,) * 9 + (4,)
    assert r.macs == 12                          # 4 outputs * 3 in_features


# ---------------------------------------------------------------- convolution quirks
def test_conv_kernel_tuple_must_have_ndim_entries():
    with pytest.raises(SpecError, match="kernel_size must be an int or have 2 entries"):
        cs.loads("input: [1, 3, 8, 8]\nlayers:\n  - {Conv2d: {out_channels: 4, kernel_size: [3]}}\n")
    # other tuple arguments may have one entry, which torch broadcasts
    assert one("{Conv2d: {out_channels: 4, kernel_size: 3, padding: [1], stride: [2]}}",
               (1, 3, 8, 8)).output_shape == (1, 4, 4, 4)   # (8 + 2 - 3)/2 + 1 = 4


def test_conv_reflect_padding_with_one_entry_pads_only_the_last_axis():
    # torch pads with F.pad(padding repeated twice): (1, 1) on W only, which F.pad allows on 3-D inputs
    r = one("{Conv2d: {out_channels: 4, kernel_size: 3, padding: [1], padding_mode: reflect}}", (3, 8, 8))
    assert r.output_shape == (4, 6, 8)           # H: 8 - 3 + 1 = 6; W: 8 + 2 - 3 + 1 = 8
    with pytest.raises(ShapeError, match="pads only the last axis"):
        one("{Conv2d: {out_channels: 4, kernel_size: 3, padding: [1], padding_mode: reflect}}", (1, 3, 8, 8))


def test_broadcast_error_names_both_sizes():
    # (2, 3, 4) + (2, 4, 3): dim -2 holds 3 and 4 (the message once named the last dim's size instead)
    with pytest.raises(ShapeError, match=r"do not broadcast at dim -2 \(3 vs 4\)"):
        report("  - {Permute: {dims: [0, 2, 1]}, name: t}\n  - {Add: {}, inputs: [input, t]}\n", (2, 3, 4))
