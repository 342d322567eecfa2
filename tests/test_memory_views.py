"""Backward of in-place layers on torch views (convshape/memory/views.py), PReLU's backward, the loss
scalars, and imports that keep in-place and eval-identity facts: each against the CPU tracker."""
from __future__ import annotations

import json

import pytest

torch = pytest.importorskip("torch")
from torch import nn  # noqa: E402

import convshape as cs  # noqa: E402
from convshape.graph import INPUT  # noqa: E402
from convshape.layers import REGISTRY  # noqa: E402
from convshape.layers.examples import examples_of  # noqa: E402
from convshape.memory.training import training_step  # noqa: E402
from convshape.memory.views import view_state  # noqa: E402
from convshape.torch.importer import from_torch  # noqa: E402
from convshape.torch.memtrack import inference_peak, saved_bytes, training_step_peak  # noqa: E402


def peaks(m, shape):
    """(convshape's SGD step peak, the tracker's) for module m imported at shape."""
    torch.manual_seed(0)
    net = from_torch(m.eval(), shape)
    predicted = training_step(net, cs.analyze(net), "sgd").peak_bytes
    measured = training_step_peak(m, torch.randn(shape), torch.optim.SGD(m.parameters(), lr=0.01))
    return predicted, measured


class _Norm(nn.Module):
    """conv -> InstanceNorm2d -> in-place activations -> 1x1 conv, MONAI's ADN order."""

    def __init__(self, *acts):
        super().__init__()
        self.c1, self.n = nn.Conv2d(4, 8, 3, padding=1), nn.InstanceNorm2d(8, affine=True)
        self.acts, self.c2 = nn.Sequential(*acts), nn.Conv2d(8, 2, 1)

    def forward(self, x):
        return self.c2(self.acts(self.n(self.c1(x))))


@pytest.mark.parametrize("acts, want", [
    # the InstanceNorm output V = 2*8*16*16*4 = 16,384 B is a view of batch_norm's: LeakyReLU_'s
    # backward runs in CopySlices, 2 * V above the 75,320 B of an out-of-place activation
    ((nn.LeakyReLU(0.1, inplace=True),), 75_320 + 2 * 16_384),
    ((nn.ELU(inplace=True),), 75_320 + 2 * 16_384),
    ((nn.ReLU(),), 75_320),
    # two in-place layers on the view: each backward its own CopySlices; dropout keeps its mask (V)
    ((nn.Dropout(0.5, inplace=True), nn.ReLU(inplace=True)), 75_320 + 16_384 + 2 * 16_384),
])
def test_an_in_place_layer_on_an_instance_norm_view_pays_copy_slices(acts, want):
    assert peaks(_Norm(*acts), (2, 4, 16, 16)) == (want, want)


def test_a_functional_in_place_op_on_a_flatten_view_is_imported_in_place():
    class M(nn.Module):
        def __init__(self):
            super().__init__()
            self.c1, self.fc = nn.Conv2d(4, 8, 3, padding=1), nn.Linear(8 * 16 * 16, 3)

        def forward(self, x):
            return self.fc(torch.relu_(self.c1(x).flatten(1)))
    net = from_torch(M(), (2, 4, 16, 16))
    assert [getattr(n.layer, "inplace", None) for n in net.nodes if n.kind == "ReLU"] == [True]
    # V = 2*8*16*16*4 = 16,384 B; without inplace (the import dropped relu_'s underscore) 107,712 B,
    # 2 * V short of the tracker's 140,480
    assert peaks(M(), (2, 4, 16, 16)) == (140_480, 140_480)


@pytest.mark.parametrize("n, frozen, first, want", [
    # V = 2*8*16*16*4 = 16,384 B. _prelu_kernel_backward makes the input's gradient and the
    # output-sized weight gradient (then summed to the weight's shape) together: V above convshape's
    # count before, frozen weight or not
    (1, False, False, 75_072), (8, False, False, 75_128), (1, True, False, 75_068), (8, True, False, 75_096),
])
def test_prelu_backward_holds_the_output_sized_weight_gradient(n, frozen, first, want):
    class M(nn.Module):
        def __init__(self):
            super().__init__()
            self.c1, self.a, self.c2 = nn.Conv2d(4, 8, 3, padding=1), nn.PReLU(n), nn.Conv2d(8, 2, 1)
            self.a.weight.requires_grad_(not frozen)

        def forward(self, x):
            return self.c2(self.a(self.c1(x)))
    # (each was 16,392 = V + the loss's 8 B short before either was counted)
    assert peaks(M(), (2, 4, 16, 16)) == (want, want)


def test_prelu_on_the_input_makes_both_gradients_though_only_the_weight_needs_one():
    class M(nn.Module):
        def __init__(self):
            super().__init__()
            self.a, self.c = nn.PReLU(8), nn.Conv2d(8, 1, 1)

        def forward(self, x):
            return self.c(self.a(x))
    # x and the incoming gradient (2*8*32*32*4 = 65,536 B each) beside both kernel outputs (2 * 65,536)
    # before the weight's is summed: 4 * 65,536 + weights and small tensors = 262,256 B
    assert peaks(M(), (2, 8, 32, 32)) == (262_256, 262_256)


def test_view_states_match_torch_on_every_kind_s_examples():
    """True (a view of its own size) or False as view_state says equals Tensor._is_view() on each
    registered kind's examples in train mode; None is allowed only for the kinds it names."""
    checked = 0
    for kind, cls in sorted(REGISTRY.items()):
        for example in examples_of(cls):
            if type(example).__name__ == "Rejected":
                continue
            layer, shapes = cls(**example.args), example.inputs
            if len(shapes) != 1:
                continue
            try:
                net = cs.loads(json.dumps({"input": list(shapes[0]), "layers": [{kind: example.args, "name": "x"}]}))
            except Exception:   # noqa: BLE001 - arguments JSON cannot carry (tuples are lists, fine; others skip)
                continue
            try:
                module = layer.to_torch(shapes).train()
                out = module(*[torch.zeros(s, dtype=torch.int64) if j in cls.index_inputs else torch.randn(s)
                               .requires_grad_() for j, s in enumerate(shapes)])
            except Exception:   # noqa: BLE001 - a kind torch refuses in train mode on this example
                continue
            out = out[0] if isinstance(out, tuple) else out
            shape_of = {INPUT: tuple(shapes[0]), "x": tuple(out.shape)}
            state = view_state(net, shape_of)["x"]
            if state is None:
                continue
            checked += 1
            assert state == out._is_view(), (kind, example.args)
    assert checked > 300


def test_eval_dropout_readers_keep_the_observed_lifetimes():
    """MONAI VNet's DownTransition adds `down` where the eager run sees the (eval) dropout's result:
    the import matches the two runs' nodes and keeps the lifetimes Python gives (holds)."""
    class Down(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv, self.drop, self.ops = nn.Conv2d(4, 8, 3, padding=1), nn.Dropout2d(0.5), nn.Conv2d(8, 8, 1)

        def forward(self, x):
            down = torch.relu(self.conv(x))
            out = self.ops(self.drop(down))
            return torch.add(out, down)

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.d1, self.d2, self.head = Down(), nn.Sequential(nn.Conv2d(8, 4, 1), Down()), nn.Conv2d(8, 2, 1)

        def forward(self, x):
            a = self.d1(x)            # a local to the end: alive past its last reader
            b = self.d2(a)
            return self.head(b)
    m = Net().eval()
    net = from_torch(m, (2, 4, 8, 8))
    assert net.holds is not None
    assert cs.analyze(net).totals.inference_peak_bytes == inference_peak(m, torch.randn(2, 4, 8, 8))
    assert cs.analyze(net).totals.saved_bytes == saved_bytes(m.train(), torch.randn(2, 4, 8, 8))[0]


class _ChannelsLast(nn.Module):
    """NHWC input permuted to NCHW: the first 1x1 convolution writes channels-last, so does `c`."""

    def __init__(self, c):
        super().__init__()
        self.a, self.c, self.d = nn.Conv2d(4, 64, 1), c, nn.Conv2d(128 if c.out_channels == 128 else 64, 2, 1)

    def forward(self, x):
        return self.d(self.c(self.a(x.permute(0, 3, 1, 2))))


@pytest.mark.parametrize("c, want", [
    # torch computes c's weight gradient channels-last (its input is); AccumulateGrad copies it into
    # the contiguous weight's layout once c's gradient and saved input are released: 128*64*3*3*4 =
    # 294,912 B twice for a moment, 908,696 B (648,600 before the copy was modelled)
    (nn.Conv2d(64, 128, 3), 908_696),
    (nn.ConvTranspose2d(64, 128, 3, stride=2), 908_696),
    # 1x1 and depthwise kernels: channels-last strides equal the weight's on every dim of size > 1
    (nn.Conv2d(64, 128, 1), 144_792),
    (nn.Conv2d(64, 64, 3, groups=64), 53_656),
])
def test_a_channels_last_weight_gradient_is_copied_into_the_weight_s_layout(c, want):
    assert peaks(_ChannelsLast(c), (2, 6, 6, 4)) == (want, want)


def test_convnext_tiny_training_step_equals_the_tracker():
    """torchvision ConvNeXt's downsampling convolutions read LayerNorm2d's permuted-back output
    (channels-last): the copy of features.4.1's weight gradient (384*192*2*2*4 = 1,179,648 B) sets
    the step's peak; the figure was 205,848 B (0.087%) short before the copy was modelled."""
    torchvision = pytest.importorskip("torchvision")
    torch.manual_seed(0)
    m = torchvision.models.convnext_tiny(weights=None)
    net = from_torch(m.eval(), (2, 3, 64, 64))
    step = training_step(net, cs.analyze(net), "sgd")
    measured = training_step_peak(m, torch.randn(2, 3, 64, 64), torch.optim.SGD(m.parameters(), lr=0.01))
    assert (step.peak_bytes, step.layer) == (measured, "features.4.1") and measured == 236_477_168


@pytest.mark.parametrize("optimizer", ["sgd", "sgd-momentum"])
def test_a_branch_no_output_reads_frees_what_it_saved_in_the_forward(optimizer):
    """An encoder stage computed for nothing (smp's PSPNet runs encoder blocks its depth-3 decoder never
    reads): its autograd nodes die with its last tensor, and what they saved with them; its weights
    get no gradient and no optimizer state. smp PSPNet(efficientnet-b0) at 2x3x64x64 said 30,173,344 B
    for the SGD step (3.1% above torch's 29,265,248) before; 29,265,216 after (the 32 B are the
    drop_connect masks the eval-mode import cannot see)."""
    class M(nn.Module):
        def __init__(self):
            super().__init__()
            self.a, self.head = nn.Conv2d(3, 8, 3, padding=1), nn.Conv2d(8, 2, 1)
            self.unread = nn.Sequential(nn.Conv2d(8, 64, 3, padding=1), nn.BatchNorm2d(64), nn.ReLU(), nn.Conv2d(64, 64, 3))

        def forward(self, x):
            f = self.a(x)
            self.unread(f)            # a stage nothing reads: run, its result dropped at once
            return self.head(f)
    torch.manual_seed(0)
    m, shape = M(), (2, 3, 32, 32)
    net = from_torch(m.eval(), shape)
    step = training_step(net, cs.analyze(net), optimizer)
    make = {"sgd": lambda p: torch.optim.SGD(p, lr=0.01),
            "sgd-momentum": lambda p: torch.optim.SGD(p, lr=0.01, momentum=0.9)}[optimizer]
    measured = training_step_peak(m, torch.randn(shape), make(m.parameters()))
    assert step.peak_bytes == measured
    # momentum buffers for a's and head's parameters only: (8*3*9 + 8 + 2*8 + 2) * 4 = 968 B
    assert step.optimizer_bytes == (0 if optimizer == "sgd" else (8 * 3 * 9 + 8 + 2 * 8 + 2) * 4)
    # the dead stage's saved tensors (the conv's input f is a's output, kept anyway; the BatchNorm's
    # input 2*64*32*32*4 = 524,288 B, the ReLU's output, the last conv's input) go before backward
    assert step.phase == "forward" and step.layer.startswith("unread")


def test_a_broadcast_mul_s_gradient_is_output_sized_before_it_is_summed():
    """x * s with s = sigmoid(fc(mean(x))) of shape N×C×1×1 (a squeeze-excitation gate): MulBackward0
    makes grad * x output-sized for s, beside x's grad * s, and only then sums it to N×C×1×1."""
    class M(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv, self.fc, self.out = nn.Conv2d(4, 64, 1), nn.Conv2d(64, 64, 1), nn.Conv2d(64, 1, 1)

        def forward(self, x):
            y = self.conv(x)
            return self.out(y * torch.sigmoid(self.fc(y.mean((2, 3), keepdim=True))))
    # at the Mul's backward: V = 2*64*32*32*4 = 524,288 B each for y (kept by the Mul), the incoming
    # gradient, y's gradient and s's unsummed one; weights (4*64+64 + 64*64+64 + 64+1) * 4 = 18,180,
    # x 2*4*32*32*4 = 32,768, s, the mean and s's summed gradient 512 each, out's weight gradient 260,
    # the loss scalars 8: 4 * V + 18,180 + 32,768 + 3 * 512 + 260 + 8 = 2,149,904 (one V fewer before)
    assert peaks(M(), (2, 4, 32, 32)) == (2_149_904, 2_149_904)


def test_a_sum_s_gradient_is_the_incoming_one_expanded():
    """ResNeSt's split attention sums the radix splits (x.sum(1)) and also multiplies them: the sum's
    backward is grad.expand (a view), so the only new tensor for x is the out-of-place sum of its two
    gradients; timm resnest14d's SGD step was 262,144 B (0.284%) above the tracker's before."""
    timm = pytest.importorskip("timm")
    torch.manual_seed(0)
    m = timm.create_model("resnest14d", pretrained=False)
    net = from_torch(m.eval(), (2, 3, 64, 64))
    predicted = training_step(net, cs.analyze(net), "sgd").peak_bytes
    measured = training_step_peak(m, torch.randn(2, 3, 64, 64), torch.optim.SGD(m.parameters(), lr=0.01))
    assert predicted == measured == 92_316_928


def test_an_in_place_layer_after_a_strided_linear_is_named():
    """A Linear of a permuted (N, L, C) input runs torch.matmul, whose result may be a view: the
    backward of an in-place ReLU on it is not modelled, and the layer is named; after a Linear of a
    contiguous input (measured: a tensor of its own) it is not."""
    def step(first):
        net = cs.loads(f"input: [2, 6, 5]\nlayers:\n{first}  - Linear: {{out_features: 8}}\n"
                       "  - {ReLU: {inplace: true}, name: act}\n  - Linear: {out_features: 2}\n")
        return training_step(net, cs.analyze(net), "sgd")
    assert "act" in step("  - Permute: {dims: [0, 2, 1]}\n").unknown
    assert step("").unknown == ()
