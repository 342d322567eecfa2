"""Memory figures (convshape/memory) against torch: the eager inference peak against a live-storage
tracker (convshape/torch/memtrack.py) and the saved-for-backward bytes against
saved_tensors_hooks, exactly, for every zoo network at a small input."""
from __future__ import annotations

import pytest

from convshape import spec
from convshape.analysis import analyze
from convshape.dims import substitute

SMALL = {"c3d": (1, 3, 16, 112, 112), "fcn1d": (2, 9, 128), "lenet5": (2, 1, 28, 28), "unet": (1, 3, 64, 64),
         "alexnet": (1, 3, 96, 96), "googlenet": (1, 3, 96, 96), "squeezenet1_0": (1, 3, 96, 96)}


def test_lenet5_figures_by_hand():
    r = analyze(spec.load("zoo:lenet5"), (1, 1, 28, 28))
    # conv1 keeps the input 1*28*28*4 = 3136; relu_1 its output 20*28*28*4 = 62720; the max pool the
    # same tensor (counted once) and int64 indices 20*14*14*8 = 31360
    assert [r.layer(n).saved_bytes for n in ("conv2d_1", "relu_1", "maxpool2d_1")] == [3136, 62720, 31360]
    assert r.totals.saved_bytes == sum(x.saved_bytes for x in r.layers)
    assert r.totals.saved_unknown == ()


def test_symbolic_figures_agree_with_concrete():
    net = spec.load("zoo:resnet18")
    sym = analyze(net, ("N", 3, "H", "W"))
    for n, h in ((2, 64), (3, 97)):
        con = analyze(net, (n, 3, h, h))
        values = {"N": n, "H": h, "W": h}
        assert substitute(sym.totals.saved_bytes, values) == con.totals.saved_bytes
        assert substitute(sym.totals.inference_peak_bytes, values) == con.totals.inference_peak_bytes


def test_memory_pass_runs_on_first_read_only():
    """analyze() leaves the memory pass to the first read of a memory field; what it then gives is
    what estimate_memory gives on the same shapes."""
    from convshape.graph import INPUT
    from convshape.memory import estimate_memory
    net = spec.load("zoo:resnet18")
    r = analyze(net, (2, 3, 64, 64))
    lazy = r.totals.memory_pass
    assert lazy._compute is not None and all(x.memory_pass is lazy for x in r.layers)
    peak = r.totals.inference_peak_bytes
    assert lazy._compute is None                       # computed once, kept
    shapes = {INPUT: (2, 3, 64, 64), **{x.name: tuple(x.output_shape) for x in r.layers}}
    direct = estimate_memory(net, shapes, r.layers, 4)
    assert (peak, r.totals.saved_bytes) == (direct.inference_peak_bytes, direct.saved_bytes)
    assert {x.name: x.saved_bytes for x in r.layers} == direct.saved_by_layer


torch = pytest.importorskip("torch")
from convshape.torch.build import to_torch  # noqa: E402
from convshape.torch.memtrack import inference_peak, saved_bytes  # noqa: E402


@pytest.mark.parametrize("name", spec.zoo_names())
def test_zoo_memory_equals_torch(name):
    net = spec.load(f"zoo:{name}")
    shape = SMALL.get(name, (2, 3, 64, 64))
    report = analyze(net, shape)
    torch.manual_seed(0)
    model = to_torch(net)
    x = torch.randn(shape)
    assert report.totals.inference_peak_bytes == inference_peak(model, x), "inference peak vs live storages"
    model.train()
    layers = {model.get_submodule(n.name): n.name for n in net.nodes}
    total, per_layer = saved_bytes(model, x, layers)
    assert report.totals.saved_unknown == ()
    assert report.totals.saved_bytes == total, "saved bytes vs saved_tensors_hooks"
    assert {r.name: r.saved_bytes for r in report.layers if r.saved_bytes} == per_layer, "per layer"


def test_issue_figure_resnet18_batch8():
    """The issue's figure: resnet18 in train mode, batch 8, 224x224, float32: 169.3 MiB saved."""
    torchvision = pytest.importorskip("torchvision")
    report = analyze(spec.load("zoo:resnet18"), (8, 3, 224, 224))
    torch.manual_seed(0)
    model = torchvision.models.resnet18().train()
    total, _ = saved_bytes(model, torch.randn(8, 3, 224, 224))
    assert total == 177_477_120   # 177_477_120 / 2**20 = 169.26 MiB, the issue's 169.3
    assert report.totals.saved_bytes == total


from convshape.memory.training import training_step  # noqa: E402
from convshape.torch.memtrack import training_step_peak  # noqa: E402

OPTIMIZERS = {"sgd": lambda p: torch.optim.SGD(p, lr=0.01),
              "sgd-momentum": lambda p: torch.optim.SGD(p, lr=0.01, momentum=0.9),
              "adam": lambda p: torch.optim.Adam(p), "adamw": lambda p: torch.optim.AdamW(p)}


def _step_peaks(name, optimizer):
    net = spec.load(f"zoo:{name}")
    shape = SMALL.get(name, (2, 3, 64, 64))
    predicted = training_step(net, analyze(net, shape), optimizer)
    torch.manual_seed(0)
    model = to_torch(net)
    measured = training_step_peak(model, torch.randn(shape), OPTIMIZERS[optimizer](model.parameters()))
    return predicted, measured


@pytest.mark.parametrize("name", spec.zoo_names())
def test_training_step_peak_within_one_percent(name):
    predicted, measured = _step_peaks(name, "sgd")
    assert abs(predicted.peak_bytes - measured) <= 0.01 * measured, (predicted.peak_bytes, measured)


AFFINE_STEPS = [
    # (layer before, Affine arguments): the input needs a gradient or not (the Affine first), a
    # per-channel weight (GRN) or an output-sized one, value != 1, a scalar-like bias, broadcast growing x
    ("Conv2d: {out_channels: 4, kernel_size: 1}", "shape: [1, 4, 1, 1]"),
    ("Conv2d: {out_channels: 4, kernel_size: 1}", "shape: [1, 4, 1, 1], value: 0.5, bias_shape: [1]"),
    (None, "shape: [1, 4, 1, 1]"),
    (None, "shape: [1, 4, 1, 1], bias_shape: [1]"),
    ("Conv2d: {out_channels: 4, kernel_size: 1}", "shape: [2, 4, 8, 8]"),
    ("Conv2d: {out_channels: 4, kernel_size: 1}", "shape: [2, 4, 8, 8], bias_shape: [1]"),
    (None, "shape: [2, 4, 8, 8]"),
    (None, "shape: [2, 4, 8, 8], bias_shape: [1]"),
    ("Conv2d: {out_channels: 1, kernel_size: 1}", "shape: [1, 4, 1, 1]"),
]


@pytest.mark.parametrize("before, args", AFFINE_STEPS)
def test_affine_backward_temporaries_equal_the_tracker(before, args):
    # each peaks in Affine's backward, where AddcmulBackward holds up to three output-sized tensors
    layers = ([f"  - {before}"] if before else []) + [f"  - Affine: {{{args}}}"]
    net = spec.loads(f"input: [2, {3 if before else 4}, 8, 8]\nlayers:\n" + "\n".join(layers) + "\n", name="a.yaml")
    predicted = training_step(net, analyze(net), "sgd")
    torch.manual_seed(0)
    model = to_torch(net)
    measured = training_step_peak(model, torch.randn(2, 3 if before else 4, 8, 8), OPTIMIZERS["sgd"](model.parameters()))
    assert predicted.phase == "backward" and predicted.layer == net.nodes[-1].name
    # equal, the loss scalar and the ones backward starts from (2 * 4 B) counted (they were 8 B short)
    assert predicted.peak_bytes == measured, (predicted.peak_bytes, measured)


@pytest.mark.parametrize("optimizer", ["sgd-momentum", "adam", "adamw"])
@pytest.mark.parametrize("name", ["resnet18", "unet", "convnext_tiny"])
def test_training_step_peak_with_optimizer_state(name, optimizer):
    predicted, measured = _step_peaks(name, optimizer)
    assert abs(predicted.peak_bytes - measured) <= 0.01 * measured, (predicted.peak_bytes, measured)
    trainable = sum(p.numel() for p in to_torch(spec.load(f"zoo:{name}")).parameters())
    # momentum: one buffer per parameter; Adam(W): exp_avg and exp_avg_sq, float32
    assert predicted.optimizer_bytes == {"sgd-momentum": 1, "adam": 2, "adamw": 2}[optimizer] * trainable * 4
    assert predicted.gradient_bytes == trainable * 4


from convshape.memory.budget import largest_batch, largest_square, memory_figure  # noqa: E402


@pytest.mark.parametrize("name, budget, batch", [
    # convshape's SGD step at 64x64: resnet50 216,182,248 B at batch 3, 221,408,744 B at 4;
    # unet 269,690,272 B at batch 2, 281,863,584 B at 3: each budget sits between, 1% from both
    ("resnet50", 219_000_000, 3),
    ("unet", 275_000_000, 2),
])
def test_largest_batch_fits_and_the_next_does_not_by_the_tracker(name, budget, batch):
    net = spec.load(f"zoo:{name}")
    limit = largest_batch(net, (1, 3, 64, 64), budget, train=True, optimizer="sgd")
    assert limit.value == batch
    assert limit.fits.peak_bytes <= budget < limit.over.peak_bytes
    assert limit.over.input_shape[0] == batch + 1
    for n, fits in ((batch, True), (batch + 1, False)):
        torch.manual_seed(0)
        model = to_torch(net)
        measured = training_step_peak(model, torch.randn(n, 3, 64, 64), torch.optim.SGD(model.parameters(), lr=0.01))
        assert (measured <= budget) is fits, (n, measured, budget)


def test_largest_square_input_skips_sizes_the_network_refuses():
    # U-Net's four 2x poolings and skip concatenations accept multiples of 16 only
    net = spec.load("zoo:unet")
    fig_272 = memory_figure(net, (4, 3, 272, 272), train=True, optimizer="adamw")
    fig_288 = memory_figure(net, (4, 3, 288, 288), train=True, optimizer="adamw")
    budget = (fig_272.peak_bytes + fig_288.peak_bytes) // 2
    limit = largest_square(net, (4, 3, 256, 256), budget, train=True, optimizer="adamw")
    assert limit.value == 272 and limit.over.input_shape == (4, 3, 288, 288)


from convshape.torch.memtrack import mixed_precision_step_peak  # noqa: E402


@pytest.mark.parametrize("optimizer", ["sgd", "adamw"])
@pytest.mark.parametrize("name", ["resnet18", "unet", "lenet5"])
def test_mixed_precision_step_within_one_percent(name, optimizer):
    """bfloat16 model and gradients, float32 master weights and optimizer state."""
    net = spec.load(f"zoo:{name}")
    shape = SMALL.get(name, (2, 3, 64, 64))
    predicted = training_step(net, analyze(net, shape, dtype="bfloat16"), optimizer, mixed_precision=True)
    torch.manual_seed(0)
    model = to_torch(net).to(torch.bfloat16)
    measured = mixed_precision_step_peak(model, torch.randn(shape, dtype=torch.bfloat16), OPTIMIZERS[optimizer])
    assert abs(predicted.peak_bytes - measured) <= 0.01 * measured, (predicted.peak_bytes, measured)
    trainable = sum(p.numel() for p in model.parameters())
    assert predicted.master_bytes == 4 * trainable           # float32 master copy
    assert predicted.gradient_bytes == 2 * trainable         # bfloat16 gradients from backward


def test_check_compares_memory_layer_by_layer():
    from convshape.torch.check import check
    result = check("zoo:lenet5", rf_layers=0, sizes=False)
    assert result.ok, result.mismatches
    assert result.compared["saved_bytes"] == 10 + 1        # lenet5's 10 layers and the network total
    assert result.compared["inference_peak_bytes"] == 1


def test_check_names_layers_whose_saved_tensors_are_not_modelled():
    from convshape.torch.check import check
    net = spec.loads("input: [1, 3, 16, 16]\nlayers:\n  - Conv2d: {out_channels: 4, kernel_size: 3}\n"
                     "  - LPPool2d: {norm_type: 2, kernel_size: 2}\n", name="lp.yaml")
    result = check(net, rf_layers=0, sizes=False)
    assert result.ok
    assert any("lppool2d_1" in n for n in result.notes)
    assert analyze(net).totals.saved_unknown == ("lppool2d_1",)


# ---------------------------------------------------------------- several inputs, several outputs, shared weights
CONV8 = "{out_channels: 8, kernel_size: 3, padding: 1}"
GRAPHS = {
    # two heads read one ReLU: both outputs alive at the end; their gradients meet at relu_1
    "two_outputs": f"""
input: [2, 3, 8, 8]
layers:
  - Conv2d: {CONV8}
  - ReLU
  - Conv2d: {{out_channels: 2, kernel_size: 1}}
    name: head_a
  - Conv2d: {{out_channels: 5, kernel_size: 1}}
    name: head_b
    inputs: relu_1
outputs: [head_a, head_b]
""",
    # an output that later layers also read: its loss gradient (an expanded scalar) meets real ones
    "output_read_later": f"""
input: [2, 3, 8, 8]
layers:
  - Conv2d: {CONV8}
  - ReLU:
    name: r
  - Conv2d: {CONV8}
    name: aux
  - Add:
    inputs: [aux, r]
    name: head
outputs: [head, r]
""",
    # two inputs, both alive from the start
    "two_inputs": f"""
input: {{image: [2, 3, 8, 8], mask: [2, 1, 8, 8]}}
layers:
  - Conv2d: {CONV8}
    inputs: image
    name: a
  - Conv2d: {CONV8}
    inputs: mask
    name: b
  - Mul:
    inputs: [a, b]
  - ReLU
""",
    # one Conv2d called four times: one weight gradient, accumulated; each call keeps its own input
    "shared_layer": f"""
input: [2, 8, 8, 8]
layers:
  - Conv2d: {CONV8}
    name: c
  - ReLU
  - Conv2d: {CONV8}
    shares: c
  - ReLU
  - Conv2d: {CONV8}
    shares: c
    repeat: 2
""",
    # a shared block with BatchNorm (buffers once) on the same input, both towers outputs
    "shared_block": f"""
input: [2, 3, 8, 8]
blocks:
  Tower:
    layers:
      - Conv2d: {CONV8}
      - BatchNorm2d
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
""",
}


def _graph(name):
    net = spec.loads(GRAPHS[name], name=f"{name}.yaml")
    report = analyze(net)
    torch.manual_seed(0)
    x = tuple(torch.randn(s) for s in report.inputs.values()) if net.inputs else torch.randn(report.input_shape)
    return net, report, x


@pytest.mark.parametrize("name", sorted(GRAPHS))
def test_several_inputs_outputs_and_shared_weights_equal_torch(name):
    """Inference peak and saved bytes (total and per call) equal the referees; the loss of a network
    with several outputs is the sum of every output's sum (memtrack._loss)."""
    from convshape.torch.check import calls_by_module
    net, report, x = _graph(name)
    torch.manual_seed(0)
    model = to_torch(net)
    assert report.totals.inference_peak_bytes == inference_peak(model, x)
    model.train()
    total, per_layer = saved_bytes(model, x, calls_by_module(model, net))
    assert report.totals.saved_unknown == ()
    assert report.totals.saved_bytes == total
    assert {r.name: r.saved_bytes for r in report.layers if r.saved_bytes} == per_layer


@pytest.mark.parametrize("optimizer", ["sgd", "adamw"])
@pytest.mark.parametrize("name", sorted(GRAPHS))
def test_several_inputs_outputs_and_shared_weights_training_step(name, optimizer):
    net, report, x = _graph(name)
    predicted = training_step(net, report, optimizer)
    torch.manual_seed(0)
    model = to_torch(net)
    measured = training_step_peak(model, x, OPTIMIZERS[optimizer](model.parameters()))
    assert abs(predicted.peak_bytes - measured) <= 0.01 * measured, (predicted.peak_bytes, measured)
    # one gradient per parameter however often it is called: sum(p.numel()) counts shared ones once
    assert predicted.gradient_bytes == 4 * sum(p.numel() for p in model.parameters())


def test_shared_layer_figures_by_hand():
    _, report, _ = _graph("shared_layer")
    # each of the 4 calls keeps its own input (2*8*8*8*4 = 4096): the first the network input (which
    # needs no gradient: the weight does), then relu_1's and relu_2's outputs (kept by the ReLUs,
    # counted there) and call 3's output for call 4
    assert [r.saved_bytes for r in report.layers] == [4096, 4096, 0, 4096, 0, 4096]
    # parameters once (8*8*9 + 8 = 584, float32) and input + the live pair at a call: 3 * 4096
    assert report.totals.inference_peak_bytes == 584 * 4 + 3 * 4096


def test_budget_solve_refuses_several_inputs_by_name():
    from convshape.errors import SpecError
    net, _, _ = _graph("two_inputs")
    with pytest.raises(SpecError, match=r"scales one input, and this network has 2 \(image, mask\)"):
        largest_batch(net, (2, 3, 8, 8), 10**6, train=True)


@pytest.mark.parametrize("name", ["mobilenet_v2", "efficientnet_b0", "regnet_x_400mf"])
def test_imported_model_inference_peak_counts_what_module_frames_hold(name):
    """An imported model runs as its module tree: a module's caller holds the argument it passed until
    the call returns (torchvision's InvertedResidual without a residual holds its input while its
    block runs), so such a value lives until the module's last node (memory/schedule.py: frames).
    Without that, mobilenet_v2 at 2x3x64x64 came out 131,072 B (one 2x16x32x32 float32) low."""
    torchvision = pytest.importorskip("torchvision")
    from convshape.torch.importer import from_torch
    torch.manual_seed(0)
    model = getattr(torchvision.models, name)(weights=None).eval()
    report = analyze(from_torch(model, (2, 3, 64, 64)), (2, 3, 64, 64))
    assert report.totals.inference_peak_bytes == inference_peak(model, torch.randn(2, 3, 64, 64))



class _TimesOne(torch.nn.Module):
    """timm's NF-Net pre-activation: `act(x) * beta` with beta = 1.0 (or x + 0, 1 * x), then a conv;
    in place (x.mul_(1.0)) on the first conv's output, which no op keeps."""

    def __init__(self, how):
        super().__init__()
        self.how = how
        self.conv0, self.act, self.conv = torch.nn.Conv2d(4, 4, 1), torch.nn.ReLU(), torch.nn.Conv2d(4, 8, 3, padding=1)

    def forward(self, x):
        x = self.conv0(x)
        if self.how == "inplace":
            x = x.mul_(1.0)
        x = self.act(x)   # (x reassigned: the frame holds no earlier tensor)
        if self.how != "inplace":
            x = {"mul": lambda t: t * 1.0, "add": lambda t: t + 0, "rmul": lambda t: 1 * t}[self.how](x)
        return self.conv(x)


@pytest.mark.parametrize("how", ["mul", "add", "rmul", "inplace"])
def test_times_one_makes_a_new_tensor_the_conv_keeps(how):
    """x * 1.0 is a new tensor that the conv after it keeps for its weight gradient: the importer maps
    it to ScalarArith, not the identity (nf_resnet26 was 131,072 B = 2*64*16*16*4 short); x.mul_(1.0)
    is truly in place and stays the identity. At 2x4x8x8 float32 every tensor is 512 elements, 2,048 B:
    saved = conv0's input 2,048 + relu's output 2,048 + the conv's input (the product) 2,048 = 6,144;
    in place the conv keeps relu's output itself: 4,096. torch (saved_tensors_hooks, live storages)
    is the referee."""
    from convshape.torch.importer import from_torch
    torch.manual_seed(0)
    model = _TimesOne(how)
    x = torch.randn(2, 4, 8, 8)
    net = from_torch(model, (2, 4, 8, 8))
    kinds = [n.layer.kind for n in net.nodes]
    assert kinds == ["Conv2d", "ReLU"] + ([] if how == "inplace" else ["ScalarArith"]) + ["Conv2d"]
    report = analyze(net, (2, 4, 8, 8))
    assert report.totals.inference_peak_bytes == inference_peak(model, x)
    model.train()
    total, _ = saved_bytes(model, x)
    assert total == (4096 if how == "inplace" else 6144)
    assert report.totals.saved_unknown == ()
    assert report.totals.saved_bytes == total, "saved bytes vs saved_tensors_hooks"
class _FeatureList(torch.nn.Module):
    """DenseNet-like: every block reads the concatenation of all earlier features, which a Python list
    holds to the end; the locals `cat` and `y` hold the previous block's tensors until they are rebound."""

    def __init__(self):
        super().__init__()
        self.stem = torch.nn.Conv2d(3, 4, 3, padding=1, bias=False)
        self.blocks = torch.nn.ModuleList(torch.nn.Conv2d(4 * (i + 1), 4, 3, padding=1, bias=False)
                                          for i in range(3))

    def forward(self, x):
        a = self.stem(x)
        features = [a, self.blocks[0](a)]
        for conv in self.blocks[1:]:
            cat = torch.cat(features, 1)
            y = torch.relu(cat)
            features.append(conv(y))
        return torch.cat(features, 1)


def test_imported_inference_peak_counts_what_python_locals_and_lists_hold():
    """Lifetimes observed at import (Network.holds): at 1x3x8x8 float32, parameters 4*3*9 + 4*4*9 + 8*4*9
    + 12*4*9 = 972 -> 3,888 B; the peak is at the last cat: x 768 + four features 4*1,024 + cat2 (12 ch)
    3,072 + y2 3,072 (both still bound) + the output (16 ch) 4,096 = 15,104 -> 18,992 B. The flat graph
    schedule frees cat2 and y2 after their readers: its peak is at relu_2, 3,888 + 768 + 3*1,024 + cat2
    3,072 + y2 3,072 = 13,872 (5,120 low); the module-frame model holds relu_1 (2,048) until the
    ModuleList's last node, which no call frame does: 13,872 + 2,048 = 15,920 (3,072 low)."""
    from convshape.torch.importer import from_torch
    torch.manual_seed(0)
    model = _FeatureList().eval()
    net = from_torch(model, (1, 3, 8, 8))
    report = analyze(net, (1, 3, 8, 8))
    assert report.totals.inference_peak_bytes == 18_992 == inference_peak(model, torch.randn(1, 3, 8, 8))
    holds, frontend = net.holds, net.frontend
    try:
        net.holds = None
        assert analyze(net, (1, 3, 8, 8)).totals.inference_peak_bytes == 15_920   # graph + module frames
        net.frontend = None
        assert analyze(net, (1, 3, 8, 8)).totals.inference_peak_bytes == 13_872   # the flat graph
    finally:
        net.holds, net.frontend = holds, frontend
    # the order is the module's, not the size's: at 16x16 every activation is 4x: 3,888 + 4*15,104 = 64,304
    assert analyze(net, (1, 3, 16, 16)).totals.inference_peak_bytes == 64_304 \
        == inference_peak(model, torch.randn(1, 3, 16, 16))


class _CopyNoNodeMakes(torch.nn.Module):
    """`torch.cat([y], 1)` is a new tensor in torch, which the importer maps to the value of `y` (no
    layer; `y + 0` became a ScalarArith node, so it no longer stands here)."""

    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 4, 3, padding=1, bias=False)
        self.head = torch.nn.Conv2d(4, 4, 3, padding=1, bias=False)

    def forward(self, x):
        y = self.conv(x)
        z = torch.cat([y], 1)
        return self.head(z) + y


def test_imported_copy_no_layer_stands_for_is_named_not_counted_silently():
    from convshape.torch.importer import from_torch
    net = from_torch(_CopyNoNodeMakes().eval(), (1, 3, 8, 8))
    assert net.unseen_copies == ("conv",)
    totals = analyze(net, (1, 3, 8, 8)).totals
    assert totals.inference_peak_unknown == ("conv",) and totals.to_dict()["inference_peak_unknown"] == ["conv"]
    assert totals.saved_unknown == ()   # what autograd saves is unaffected


class _SplitBlock(torch.nn.Module):
    """torch.split into two pieces, the second never read (a local until the block returns)."""

    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(4, 8, 3, padding=1, bias=False)

    def forward(self, x):
        a, b = torch.split(self.conv(x), 4, 1)
        return torch.relu(a)


def test_a_value_nothing_reads_is_freed_at_once():
    """fx makes a Narrow node for the unread piece `b`, a view of the conv's output. At 1x4x8x8 float32,
    parameters 3 * 8*4*9 = 864 -> 3,456 B; imported, the peak is in block 2 or 3: x 1,024 + the previous
    block's output 1,024 (Sequential holds it while the block runs) + conv 2,048 + relu 1,024 = 5,120 ->
    8,576 B. The flat schedule frees the previous output after the conv: 3,456 + 1,024 + 2,048 + 1,024 =
    7,552; were `b` never freed, every conv output would live to the end: at the last relu 3,456 + 1,024
    + 3*2,048 + 1,024 = 11,648."""
    from convshape.torch.importer import from_torch
    torch.manual_seed(0)
    model = torch.nn.Sequential(_SplitBlock(), _SplitBlock(), _SplitBlock()).eval()
    net = from_torch(model, (1, 4, 8, 8))
    assert [n.kind for n in net.nodes[:4]] == ["Conv2d", "Narrow", "Narrow", "ReLU"]
    assert analyze(net, (1, 4, 8, 8)).totals.inference_peak_bytes == 8_576 \
        == inference_peak(model, torch.randn(1, 4, 8, 8))
    net.holds, net.frontend = None, ""   # the flat graph schedule alone
    assert analyze(net, (1, 4, 8, 8)).totals.inference_peak_bytes == 7_552
