"""Every worked example in ../shared/seeds, as exact tests through convshape.loads + analyze.

Seeds: 000 (CNN lecture: output-size formula, common configurations, batch norm, residuals),
001 (lecture: valid/strided/"invalid" stride, parameter counts), 002 (notes: 3x32x32 conv, receptive
field 1 + L(K-1), LeNet table, batch norm), 003 (lecture: cross-shaped kernel, 1x1 conv on 64x64x192,
batch-norm mean shape), 004 (Goodfellow ch. 9 + CS231n: 7x7 input and strides, 32x32x3 with ten
5x5 filters, the 2-element edge kernel on a 320x280 image, valid/same/full padding, pooling).

The arithmetic is written beside each expected number. A few cases are cross-checked against a live
torch module (skipped when torch is not installed).
"""
import pytest

import convshape as cs
from convshape.layers.window import dropped_tail


def run(yaml_text: str, input_shape=None):
    return cs.analyze(cs.loads(yaml_text), input_shape)


def conv_net(input_shape, **conv_args):
    args = ", ".join(f"{k}: {v}" for k, v in conv_args.items())
    return run(f"input: {list(input_shape)}\nlayers:\n  - Conv2d: {{{args}}}\n")


# ---------------------------------------------------------------- seed 004 / 002: 32x32x3, ten 5x5 filters
def test_ten_5x5_filters_stride_1_pad_2_on_32x32x3():
    r = conv_net([1, 3, 32, 32], out_channels=10, kernel_size=5, stride=1, padding=2)
    (conv,) = r.layers
    assert conv.output_shape == (1, 10, 32, 32)  # (32 + 2*2 - 5)/1 + 1 = 32 spatially, 10 maps: 32x32x10
    assert conv.params == 760                     # each filter 5*5*3 + 1 = 76 params (+1 bias); 76 * 10 = 760
    assert conv.macs == 768_000                   # outputs 10*32*32 = 10_240, each a 3*5*5 = 75 dot product
    assert conv.other_ops == 10_240               # one bias add per output
    assert conv.flops == 1_536_000                # 2 * MACs


# ---------------------------------------------------------------- seed 004 / 001: the 7x7 input and its strides
@pytest.mark.parametrize("stride, size", [
    (1, 5),  # (7 - 3)/1 + 1 = 5
    (2, 3),  # (7 - 3)/2 + 1 = 3
    (3, 2),  # (7 - 3)/3 + 1 = 2.33: "cannot apply 3x3 filter on 7x7 input with stride 3"; torch floors to 2
])
def test_7x7_input_3x3_filter(stride, size):
    r = conv_net([1, 1, 7, 7], out_channels=1, kernel_size=3, stride=stride)
    assert r.layers[0].output_shape == (1, 1, size, size)


def test_7x7_stride_3_does_not_tile_and_the_floor_is_visible():
    # The windows start at 0 and 3 and cover input rows 0..5; row 6 is read by no window:
    # (7 - 3) % 3 = 1 input position is silently dropped on each spatial axis.
    assert dropped_tail(7, kernel=3, stride=3, pad_left=0, pad_right=0) == 1
    assert dropped_tail(7, kernel=3, stride=2, pad_left=0, pad_right=0) == 0  # (7 - 3) % 2 = 0: tiles exactly
    assert dropped_tail(7, kernel=3, stride=1, pad_left=0, pad_right=0) == 0
    # seed 001: "stride of 3 for 5x5 input" skips pixels too: (5 - 3) % 3 = 2 dropped, output 1x1
    assert dropped_tail(5, kernel=3, stride=3, pad_left=0, pad_right=0) == 2
    assert conv_net([1, 1, 5, 5], out_channels=1, kernel_size=3, stride=3).layers[0].output_shape == (1, 1, 1, 1)


def test_7x7_pad_1_keeps_7x7():
    # seed 004: "pad with 1 pixel border => 7x7 output": (7 + 2*1 - 3)/1 + 1 = 7
    assert conv_net([1, 1, 7, 7], out_channels=1, kernel_size=3, padding=1).layers[0].output_shape == (1, 1, 7, 7)


@pytest.mark.parametrize("stride, size", [(1, 3), (2, 2), (3, 1)])
def test_5x5_input_3x3_filter_seed_001(stride, size):
    # valid convolution (H - k + 1) = 3; stride 2: (H - k)/2 + 1 = 2; stride 3: floor(2/3) + 1 = 1
    assert conv_net([1, 1, 5, 5], out_channels=1, kernel_size=3, stride=stride).layers[0].output_shape \
        == (1, 1, size, size)


# ---------------------------------------------------------------- seed 001: parameter counts
def test_four_3x3_filters_on_3_channels_have_112_params():
    r = conv_net([1, 3, 8, 8], out_channels=4, kernel_size=3)
    assert r.layers[0].params == 112  # N * (k1*k2*3 + 1) = (3*3*3 + 1) * 4 = 112


def test_linear_layer_has_m_times_n_plus_n_params():
    r = run("input: [1, 3072]\nlayers:\n  - Linear: {out_features: 10}\n")
    assert r.layers[0].params == 30_730  # M*N weights + N bias: 3072*10 + 10 (seed 002: 32x32x3 = 3072 inputs)


def test_pooling_has_no_parameters():
    # seed 001: "How many learned parameters does this layer have? None!"
    r = run("input: [1, 1, 3, 3]\nlayers:\n  - MaxPool2d: {kernel_size: 3}\n  - ReLU\n")
    assert r.layers[0].output_shape == (1, 1, 1, 1)
    assert r.layers[0].params == 0 and r.layers[0].macs == 0
    assert r.layers[0].other_ops == 8  # max of 9 values: 3*3 - 1 = 8 comparisons


# ---------------------------------------------------------------- seed 002: receptive field 1 + L(K - 1)
@pytest.mark.parametrize("layers", [1, 2, 3, 5, 10])
@pytest.mark.parametrize("kernel", [3, 5, 7])
def test_receptive_field_of_stacked_convs(layers, kernel):
    spec = (f"input: [1, 1, 64, 64]\nlayers:\n"
            f"  - Conv2d: {{out_channels: 1, kernel_size: {kernel}, padding: {(kernel - 1) // 2}}}\n"
            f"    repeat: {layers}\n")
    rf = run(spec).layers[-1].receptive_field
    expected = 1 + layers * (kernel - 1)  # e.g. L=2, K=3: 1 + 2*(3 - 1) = 5
    assert rf.size == (expected, expected)
    assert rf.stride == (1, 1)


def test_a_1000x1000_image_needs_500_stacked_3x3_convs():
    # seed 002: 1000 = 1 + L*(3 - 1) gives L = 999/2 = 499.5, so 500 layers (1 + 500*2 = 1001 >= 1000)
    spec = ("input: [1, 1, 1000, 1000]\nvars: {L: 499}\nlayers:\n"
            "  - Conv2d: {out_channels: 1, kernel_size: 3, padding: 1, bias: false}\n    repeat: L\n")
    assert run(spec).layers[-1].receptive_field.size == (999, 999)       # 1 + 499*2: one short
    rf = run(spec.replace("L: 499", "L: 500")).layers[-1].receptive_field
    assert rf.size == (1001, 1001)                                     # 1 + 500*2 >= 1000
    assert not rf.is_global


# ---------------------------------------------------------------- seed 002: the LeNet-5 table
LENET = """
input: [1, 1, 28, 28]
layers:
  - Conv2d: {out_channels: 20, kernel_size: 5, padding: 2, stride: 1}
  - ReLU
  - MaxPool2d: {kernel_size: 2, stride: 2}
  - Conv2d: {out_channels: 50, kernel_size: 5, padding: 2, stride: 1}
  - ReLU
  - MaxPool2d: {kernel_size: 2, stride: 2}
  - Flatten
  - Linear: {in_features: 2450, out_features: 500}
  - ReLU
"""


def test_lenet_table():
    r = run(LENET)
    rows = [(layer.type, layer.output_shape[1:]) for layer in r.layers]
    assert rows == [
        ("Conv2d", (20, 28, 28)),     # (28 + 2*2 - 5)/1 + 1 = 28
        ("ReLU", (20, 28, 28)),
        ("MaxPool2d", (20, 14, 14)),  # (28 - 2)/2 + 1 = 14
        ("Conv2d", (50, 14, 14)),
        ("ReLU", (50, 14, 14)),
        ("MaxPool2d", (50, 7, 7)),
        ("Flatten", (2450,)),         # 50*7*7 = 2450
        ("Linear", (500,)),
        ("ReLU", (500,)),
    ]
    # weight sizes in the table: 20x1x5x5, 50x20x5x5, 2450x500 (each plus one bias per output)
    assert [layer.params for layer in r.layers if layer.params] == [
        20 * 1 * 5 * 5 + 20,       # 520
        50 * 20 * 5 * 5 + 50,      # 25_050
        2450 * 500 + 500,          # 1_225_500
    ]
    assert r.totals.params == 1_251_070  # 520 + 25_050 + 1_225_500
    assert r.totals.macs == 20 * 28 * 28 * 25 + 50 * 14 * 14 * (20 * 25) + 2450 * 500  # 392_000 + 4_900_000 + 1_225_000
    # the bundled zoo:lenet5 is this table plus the 10-way classifier: 500*10 + 10 = 5_010 more params
    assert cs.analyze(cs.load("zoo:lenet5")).totals.params == 1_251_070 + 5_010


# ---------------------------------------------------------------- seed 004: the 2-element edge kernel
EDGE = """
input: [1, 1, 280, 320]   # 280 pixels tall, 320 wide
layers:
  - Conv2d: {out_channels: 1, kernel_size: [1, 2], bias: false}   # each pixel minus its left neighbour
"""


def test_edge_kernel_on_320x280():
    (edge,) = run(EDGE).layers
    assert edge.output_shape == (1, 1, 280, 319)  # 320 - 2 + 1 = 319 wide, still 280 tall
    assert edge.params == 2
    outputs = 319 * 280                            # 89_320 output pixels
    assert edge.macs == 2 * outputs == 178_640     # = the seed's "2 x 319 x 280 = 178,640" non-zero matrix entries
    # The seed counts 319*280*3 = 267,960 floating point operations: two multiplications and ONE
    # addition per output. convshape's FLOPs = 2 * MACs = 4 per output: it counts each of the two
    # multiply-accumulates as a multiply and an add (the first add is into zero), as torch's
    # flop_counter does. So the seed's figure is our FLOPs minus one add per output.
    assert edge.flops == 357_280
    assert edge.flops - outputs == 267_960


def test_edge_transformation_as_a_dense_matrix():
    # seed 004: as a matrix multiplication it takes 320*280 x 319*280 entries ("over eight billion")
    # and "over sixteen billion" floating point operations
    r = run("input: [1, 1, 280, 320]\nlayers:\n  - Flatten\n  - Linear: {out_features: 89320, bias: false}\n")
    dense = r.layers[-1]
    assert dense.params == 320 * 280 * 319 * 280 == 8_003_072_000
    assert dense.flops == 16_006_144_000
    # "four billion times more efficient for representing": 8_003_072_000 / 2 weights
    assert dense.params // run(EDGE).layers[0].params == 4_001_536_000
    # "roughly 60,000 times more efficient computationally": 16_006_144_000 / 267_960
    assert round(dense.flops / 267_960, -3) == 60_000


# ---------------------------------------------------------------- seed 003: 1x1 conv and the cross kernel
def test_1x1_conv_on_64x64x192():
    (conv,) = conv_net([1, 192, 64, 64], out_channels=1, kernel_size=1).layers
    assert conv.output_shape == (1, 1, 64, 64)  # "a (64 x 64 x 1) feature map": depth 192 collapsed
    assert conv.params == 193                   # 192 weights + 1 bias
    assert conv.macs == 786_432                 # 64*64 outputs, each a 192-long dot product
    assert conv.receptive_field.size == (1, 1)
    # the seed's trade-off question: an MLP producing the same 64x64x1 map from the whole cube
    r = run("input: [1, 192, 64, 64]\nlayers:\n  - Flatten\n  - Linear: {out_features: 4096}\n")
    assert r.layers[-1].params == 786_432 * 4096 + 4096 == 3_221_229_568  # 64*64*192 inputs x 64*64 outputs


def test_cross_kernel_on_5x5_image_seed_003():
    torch = pytest.importorskip("torch")
    image = [[1, 1, 1, 0, 0], [0, 0, 1, 1, 0], [0, 1, 0, 1, 1], [1, 1, 0, 0, 0], [1, 0, 0, 1, 1]]
    kernel = [[0, 1, 0], [1, 0, 1], [0, 1, 0]]
    (conv,) = conv_net([1, 1, 5, 5], out_channels=1, kernel_size=3, bias="false").layers
    assert conv.output_shape == (1, 1, 3, 3)  # 5 - 3 + 1 = 3
    out = torch.nn.functional.conv2d(torch.tensor([[image]], dtype=torch.float32),
                                     torch.tensor([[kernel]], dtype=torch.float32))
    assert tuple(out.shape) == conv.output_shape
    assert out[0, 0].tolist() == [[3, 2, 2], [1, 3, 2], [2, 1, 2]]  # the seed's result, cross-correlation


# ---------------------------------------------------------------- seed 002 / 004: batches and several filters
def test_batch_2x3x32x32_through_six_3x5x5_filters():
    (conv,) = conv_net([2, 3, 32, 32], out_channels=6, kernel_size=5).layers
    assert conv.output_shape == (2, 6, 28, 28)  # N x C_out x H' x W': 32 - 5 + 1 = 28
    assert conv.params == 456                   # weights C_out x C_in x K x K = 6*3*5*5 = 450, + 6 bias
    assert conv.macs == 705_600                 # 2*6*28*28 outputs x 3*5*5 = 9_408 * 75


def test_seed_002_typo_six_7x5x5_filters_is_a_shape_error():
    # the seed also writes the filters as 6x7x5x5; on a 3-channel input that is an error, named
    spec = "input: [2, 3, 32, 32]\nlayers:\n  - Conv2d: {in_channels: 7, out_channels: 6, kernel_size: 5}\n"
    with pytest.raises(cs.ShapeError) as e:
        run(spec)
    assert "in_channels=7 but the input gives 3" in str(e.value)
    assert "[2, 3, 32, 32]" in str(e.value)


def test_six_5x5_filters_give_28x28x6():
    # seed 004: "if we had 6 5x5 filters, we'll get 6 separate activation maps ... 28x28x6"
    assert conv_net([1, 3, 32, 32], out_channels=6, kernel_size=5).layers[0].output_shape == (1, 6, 28, 28)


# ---------------------------------------------------------------- seed 000 / 002 / 004: padding conventions
@pytest.mark.parametrize("kernel, padding, stride, expected", [
    (1, 0, 1, 32),  # 1x1, padding 0, stride 1: same size
    (3, 1, 1, 32),  # 3x3, padding 1: (32 + 2 - 3)/1 + 1 = 32
    (5, 2, 1, 32),  # 5x5, padding 2
    (7, 3, 1, 32),  # seed 004: F = 7 => zero pad with 3
    (2, 0, 2, 16),  # 2x2, padding 0, stride 2: half
    (4, 1, 2, 16),  # 4x4, padding 1, stride 2: (32 + 2 - 4)/2 + 1 = 16
])
def test_common_configurations_seed_000(kernel, padding, stride, expected):
    r = conv_net([1, 3, 32, 32], out_channels=8, kernel_size=kernel, padding=padding, stride=stride)
    assert r.layers[0].output_shape == (1, 8, expected, expected)


def test_common_configurations_hold_for_any_even_size():
    # symbolic H, W: the "same" configurations give H exactly, the halving ones H/2 for even H
    for kernel, padding, stride, halves in [(3, 1, 1, False), (5, 2, 1, False), (4, 1, 2, True), (2, 0, 2, True)]:
        r = conv_net(["N", 3, "H", "W"], out_channels=8, kernel_size=kernel, padding=padding, stride=stride)
        _, _, h, w = r.layers[0].output_shape
        (H,) = h.free_symbols
        assert H.name == "H" and str(h).replace("H", "W") == str(w)
        for even in (8, 32, 224):
            assert h.subs(H, even) == (even // 2 if halves else even)


@pytest.mark.parametrize("padding, width", [
    (0, 8),   # valid: m - k + 1 = 10 - 3 + 1
    (1, 10),  # same: (k - 1)/2 = 1 zero on each side keeps m
    (2, 12),  # full: k - 1 = 2 zeros on each side, m + k - 1 = 12
])
def test_valid_same_full_seed_004(padding, width):
    assert conv_net([1, 1, 10, 10], out_channels=1, kernel_size=3, padding=padding).layers[0].output_shape \
        == (1, 1, width, width)


def test_padding_same_keyword_matches_p_equals_k_minus_1_over_2():
    # seed 002: "common: P = (K - 1)/2 to make size in = out"
    for k in (1, 3, 5, 7):
        assert conv_net([1, 3, 17, 17], out_channels=4, kernel_size=k, padding="same").layers[0].output_shape \
            == conv_net([1, 3, 17, 17], out_channels=4, kernel_size=k, padding=(k - 1) // 2).layers[0].output_shape \
            == (1, 4, 17, 17)


# ---------------------------------------------------------------- seed 004: pooling figures
def test_max_pool_width_3_stride_1_figure_9_8():
    r = run("input: [1, 1, 10]\nlayers:\n  - MaxPool1d: {kernel_size: 3, stride: 1}\n")
    assert r.layers[0].output_shape == (1, 1, 8)  # (10 - 3)/1 + 1


def test_max_pool_width_3_stride_2_keeps_the_smaller_rightmost_region_figure_9_10():
    # "the rightmost pooling region has a smaller size, but must be included": ceil_mode
    floor = run("input: [1, 1, 6]\nlayers:\n  - MaxPool1d: {kernel_size: 3, stride: 2}\n").layers[0]
    ceil = run("input: [1, 1, 6]\nlayers:\n  - MaxPool1d: {kernel_size: 3, stride: 2, ceil_mode: true}\n").layers[0]
    assert floor.output_shape == (1, 1, 2)  # floor((6 - 3)/2) + 1 = 2: position 5 is read by no window
    assert ceil.output_shape == (1, 1, 3)   # ceil((6 - 3)/2) + 1 = 3: the last window starts at 4 < 6, reads 4..5
    assert dropped_tail(6, kernel=3, stride=2, pad_left=0, pad_right=0) == 1


def test_pooling_halves_and_reads_2x2_seed_003():
    # "Pooling layers have a receptive field of 2 and stride of 2"
    r = run("input: [1, 8, 32, 32]\nlayers:\n  - MaxPool2d: {kernel_size: 2, stride: 2}\n")
    assert r.layers[0].output_shape == (1, 8, 16, 16)
    assert r.layers[0].receptive_field.size == (2, 2)
    assert r.layers[0].receptive_field.stride == (2, 2)


# ---------------------------------------------------------------- seeds 000 / 002 / 003: batch normalization
def test_batch_norm_2d_statistics_are_per_channel():
    # seed 003: for a b x c x h x w volume the mean has one value per channel (1 x C x 1 x 1);
    # seed 002: gamma, beta : 1 x C x 1 x 1, learnable; mu, sigma^2 running averages (buffers)
    (bn,) = run("input: [8, 64, 32, 32]\nlayers:\n  - BatchNorm2d\n").layers
    assert bn.output_shape == (8, 64, 32, 32)
    assert bn.params == bn.trainable_params == 128  # gamma and beta: 2 * 64
    assert bn.buffers == 129                        # running mean and variance 2 * 64, + num_batches_tracked


def test_batch_norm_1d_on_n_by_d():
    # seed 002: "x : N x D; gamma, beta : D"
    (bn,) = run("input: [32, 100]\nlayers:\n  - BatchNorm1d\n").layers
    assert (bn.params, bn.buffers) == (200, 201)  # 2 * 100; 2 * 100 + 1


def test_batch_norm_without_affine_or_running_stats():
    (bn,) = run("input: [8, 64, 4, 4]\nlayers:\n  - BatchNorm2d: {affine: false, track_running_stats: false}\n").layers
    assert (bn.params, bn.buffers) == (0, 0)


# ---------------------------------------------------------------- seed 000: residual connections
RESIDUAL = """
input: [1, 64, 56, 56]
layers:
  - Conv2d: {out_channels: 64, kernel_size: 3, padding: 1}
    name: f1
  - ReLU
  - Conv2d: {out_channels: 64, kernel_size: 3, padding: 1}
    name: f2
  - Add:
    inputs: [f2, input]     # y = f(x) + x
"""


def test_residual_adds_the_input():
    r = run(RESIDUAL)
    add = r.layers[-1]
    assert add.inputs == ("f2", "input")
    assert add.output_shape == (1, 64, 56, 56)
    assert add.params == 0 and add.other_ops == 64 * 56 * 56  # one add per element
    # the receptive field of the sum is the union of the paths: the conv path's 1 + 2*(3 - 1) = 5
    assert add.receptive_field.size == (5, 5)


def test_residual_with_mismatched_dims_needs_a_projection():
    # seed 000: "if the dimensionality is not the same ... y = f(x) + conv(x)"
    mismatched = RESIDUAL.replace("{out_channels: 64, kernel_size: 3, padding: 1}\n    name: f2",
                                  "{out_channels: 128, kernel_size: 3, padding: 1, stride: 2}\n    name: f2")
    with pytest.raises(cs.ShapeError) as e:
        run(mismatched)
    assert "'add_1' (Add)" in str(e.value) and "[1, 128, 28, 28], [1, 64, 56, 56]" in str(e.value)
    projected = mismatched.replace("inputs: [f2, input]", "inputs: [f2, proj]").replace(
        "  - Add:", "  - Conv2d: {out_channels: 128, kernel_size: 1, stride: 2}\n    name: proj\n    inputs: input\n"
                    "  - Add:")
    r = run(projected)
    assert r.layers[-1].output_shape == (1, 128, 28, 28)
    assert r.layers[-2].params == 64 * 128 + 128  # the 1x1 projection W: 8_320


def test_resnet_34_stem_seed_000():
    # "7x7 conv, 64, /2; pool, /2; ... 3x3 conv, 128, /2"
    r = run("""
input: [1, 3, 224, 224]
layers:
  - Conv2d: {out_channels: 64, kernel_size: 7, stride: 2, padding: 3}
  - MaxPool2d: {kernel_size: 3, stride: 2, padding: 1}
  - Conv2d: {out_channels: 64, kernel_size: 3, padding: 1}
  - Conv2d: {out_channels: 128, kernel_size: 3, stride: 2, padding: 1}
""")
    assert [layer.output_shape[2] for layer in r.layers] == [112, 56, 56, 28]  # (224 + 6 - 7)//2 + 1 = 112, ...


# ---------------------------------------------------------------- live torch cross-checks
CROSS_CHECKS = [
    ("conv 760", [1, 3, 32, 32], "Conv2d: {out_channels: 10, kernel_size: 5, padding: 2}"),
    ("conv 112", [1, 3, 8, 8], "Conv2d: {out_channels: 4, kernel_size: 3}"),
    ("7x7 stride 3", [1, 1, 7, 7], "Conv2d: {out_channels: 1, kernel_size: 3, stride: 3}"),
    ("batch 2x6x28x28", [2, 3, 32, 32], "Conv2d: {out_channels: 6, kernel_size: 5}"),
    ("edge kernel", [1, 1, 280, 320], "Conv2d: {out_channels: 1, kernel_size: [1, 2], bias: false}"),
    ("1x1 conv", [1, 192, 64, 64], "Conv2d: {out_channels: 1, kernel_size: 1}"),
    ("ceil pool", [1, 1, 6], "MaxPool1d: {kernel_size: 3, stride: 2, ceil_mode: true}"),
    ("batch norm", [8, 64, 32, 32], "BatchNorm2d"),
]


@pytest.mark.parametrize("label, shape, layer", CROSS_CHECKS, ids=[c[0] for c in CROSS_CHECKS])
def test_against_live_torch(label, shape, layer):
    torch = pytest.importorskip("torch")
    from torch.utils.flop_counter import FlopCounterMode

    network = cs.loads(f"input: {shape}\nlayers:\n  - {layer}\n")
    (result,) = cs.analyze(network).layers
    module = network.nodes[0].layer.to_torch([tuple(shape)])
    x = torch.zeros(shape)
    with FlopCounterMode(display=False) as counter:
        y = module(x)
    assert tuple(y.shape) == result.output_shape
    assert sum(p.numel() for p in module.parameters()) == result.params
    assert sum(b.numel() for b in module.buffers()) == result.buffers
    assert counter.get_total_flops() == result.flops  # torch's flop counter = 2 * MACs, bias excluded
