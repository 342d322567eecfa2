"""End-to-end checks of the core pipeline on LeNet-5 (seed 002) and ResNet-50 (torchvision figures)."""
import convshape as cs


def test_lenet_table_from_seed_002():
    r = cs.analyze(cs.load("zoo:lenet5"))
    shapes = [tuple(layer.output_shape) for layer in r.layers]
    assert shapes == [
        (1, 20, 28, 28),  # (28 + 2*2 - 5)/1 + 1 = 28
        (1, 20, 28, 28),
        (1, 20, 14, 14),  # (28 - 2)/2 + 1 = 14
        (1, 50, 14, 14),
        (1, 50, 14, 14),
        (1, 50, 7, 7),
        (1, 2450),        # 50 * 7 * 7 = 2450
        (1, 500),
        (1, 500),
        (1, 10),
    ]
    # weights 20x1x5x5 + 20 bias = 520; 50x20x5x5 + 50 = 25_050; 2450*500 + 500 = 1_225_500; 500*10 + 10 = 5_010
    assert [layer.params for layer in r.layers if layer.params] == [520, 25_050, 1_225_500, 5_010]


def test_resnet50_matches_torchvision():
    t = cs.analyze(cs.load("zoo:resnet50")).totals
    assert t.params == 25_557_032       # torchvision.models.resnet50().parameters()
    assert t.macs == 4_089_184_256      # torchvision's published 4.09 "GFLOPS"
    assert t.flops == 8_178_368_512     # 2 * MACs = torch.utils.flop_counter total
    assert t.buffers == 53_173          # 53 BatchNorms: 2*C running stats + 1 counter each


def test_ten_thousand_layer_spec_is_exact():
    # 5,000 x (3x3 conv, padding 1, 8 -> 8 channels) interleaved with 5,000 ReLUs on 1x8x32x32
    text = "name: deep\ninput: [1, 8, 32, 32]\nlayers:\n" + (
        "  - Conv2d: {out_channels: 8, kernel_size: 3, padding: 1}\n  - ReLU\n" * 5000)
    r = cs.analyze(cs.loads(text, name="deep.yaml"))
    assert len(r.layers) == 10_000
    assert r.output_shape == (1, 8, 32, 32)              # (32 + 2*1 - 3)/1 + 1 = 32 at every conv
    assert r.totals.params == 2_920_000                  # 5000 * (8*8*3*3 + 8) = 5000 * 584
    assert r.totals.macs == 2_949_120_000                # 5000 * (8*32*32) * (8*3*3) = 5000 * 589_824
    assert r.layers[-1].receptive_field.size == (10_001, 10_001)   # 1 + L(K-1) = 1 + 5000*2 (seed 002)
