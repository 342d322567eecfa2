"""Import truth (issue 11): a model that departs from one input -> one output, every module called
once, every parameter trainable, imports with torch's exact numbers, or is refused with a reason.
Torch is the referee: sum(p.numel()), requires_grad, FlopCounterMode, a real forward."""
import pytest

torch = pytest.importorskip("torch")
torchvision = pytest.importorskip("torchvision")
from torch import nn  # noqa: E402
from torch.utils.flop_counter import FlopCounterMode  # noqa: E402

import convshape as cs  # noqa: E402
from convshape.torch.check import check  # noqa: E402
from convshape.torch.importer import UnmappedOps, from_torch  # noqa: E402
from convshape.torch.spec_writer import to_yaml  # noqa: E402
from convshape.torch.verify import diff  # noqa: E402


def torch_flops(model, shape):
    """(forward, backward) FLOPs of a real run, the loss summed over every returned tensor."""
    x = torch.randn(shape)
    with FlopCounterMode(display=False) as fc:
        model(x)
    fwd = fc.get_total_flops()
    with FlopCounterMode(display=False) as fc:
        out = model(x)
        outs = out.values() if isinstance(out, dict) else out if isinstance(out, (tuple, list)) else [out]
        sum(o.sum() for o in outs).backward()
    return fwd, fc.get_total_flops() - fwd


def n_params(model, trainable=None):
    return sum(p.numel() for p in model.parameters() if trainable is None or p.requires_grad == trainable)


def round_trip(net):
    """The spec `convshape import` writes loads back to the same totals."""
    again = cs.analyze(cs.loads(to_yaml(net), "imported.yaml"))
    first = cs.analyze(net)
    assert (again.totals.params, again.totals.trainable_params, again.totals.macs, again.totals.flops_backward) == \
        (first.totals.params, first.totals.trainable_params, first.totals.macs, first.totals.flops_backward)
    assert again.outputs == first.outputs
    return first


# ------------------------------------------------------------------ several outputs
def test_fpn_backbone_follows_all_five_outputs():
    from torchvision.models.detection.backbone_utils import resnet_fpn_backbone
    model = resnet_fpn_backbone(backbone_name="resnet18", weights=None, trainable_layers=5, norm_layer=nn.BatchNorm2d)
    net = from_torch(model, (1, 3, 64, 64))
    r = round_trip(net)
    # sum(p.numel()): resnet18 without fc 11_176_512 + FPN 4 lateral 1x1 (64/128/256/512 -> 256) and
    # 4 output 3x3 convs (256 -> 256): 256*(64+128+256+512) + 4*256 + 4*(256*256*9 + 256) = 2_607_104
    assert r.totals.params == n_params(model) == 11_176_512 + 2_607_104 == 13_783_616
    out = model(torch.randn(1, 3, 64, 64))
    assert [r.layer(o).output_shape for o in r.outputs] == [tuple(v.shape) for v in out.values()]
    assert len(r.outputs) == 5  # "0", "1", "2", "3" and the max-pooled "pool"
    assert 2 * r.totals.macs == torch_flops(model.eval(), (1, 3, 64, 64))[0]


def test_a_dict_output_keeps_both_branches():
    class TwoHeads(nn.Module):
        def __init__(self):
            super().__init__()
            self.a, self.b = nn.Conv2d(3, 4, 3), nn.Conv2d(3, 5, 1)

        def forward(self, x):
            return {"a": self.a(x), "b": self.b(x)}

    model = TwoHeads()
    r = round_trip(from_torch(model, (1, 3, 8, 8)))
    assert r.outputs == ["a", "b"]
    # a: 4*3*9 + 4 = 112, b: 5*3 + 5 = 20
    assert r.totals.params == n_params(model) == 132
    # a: 6*6 * 4 * 27 = 3_888; b: 8*8 * 5 * 3 = 960
    assert r.totals.macs == 3_888 + 960
    assert (2 * r.totals.macs, r.totals.flops_backward) == torch_flops(model, (1, 3, 8, 8))


# ------------------------------------------------------------------ shared weights
def test_a_module_called_three_times_counts_its_params_once():
    class Loop(nn.Module):
        def __init__(self):
            super().__init__()
            self.c, self.fc = nn.Conv2d(8, 8, 3, padding=1), nn.Linear(8, 8)

        def forward(self, x):
            for _ in range(3):
                x = torch.relu(self.c(x))
            return self.fc(x.mean((2, 3)))

    model = Loop()
    net = from_torch(model, (1, 8, 8, 8))
    assert [n.shares for n in net.nodes if n.kind == "Conv2d"] == [None, "c", "c"]
    r = round_trip(net)
    # conv 8*8*9 + 8 = 584, linear 8*8 + 8 = 72
    assert r.totals.params == n_params(model) == 656
    # 3 calls * 64 * 8*8*9 = 110_592, + linear 64 = 110_656
    assert r.totals.macs == 110_656
    # torch: the weight gradient accumulates over the 3 calls, input gradients for calls 2 and 3
    assert (2 * r.totals.macs, r.totals.flops_backward) == torch_flops(model, (1, 8, 8, 8))
    assert check(net, (1, 8, 8, 8), sizes=False, rf_layers=0).ok


# ------------------------------------------------------------------ frozen parameters
def test_resnet18_with_its_first_30_parameter_tensors_frozen():
    model = torchvision.models.resnet18(weights=None)
    for p in list(model.parameters())[:30]:
        p.requires_grad_(False)
    net = from_torch(model, (1, 3, 32, 32))
    r = round_trip(net)
    assert (r.totals.trainable_params, r.totals.non_trainable_params) == \
        (n_params(model, True), n_params(model, False)) == (11_006_440, 683_072)  # torchinfo's figures too
    # backward: no weight gradient for the frozen stem..layer2.0, no input gradient before layer2.0.conv2
    assert r.totals.flops_backward == torch_flops(model.eval(), (1, 3, 32, 32))[1]


def test_a_module_with_some_parameters_frozen_is_refused_by_name():
    model = nn.Sequential(nn.Conv2d(3, 4, 3))
    model[0].bias.requires_grad_(False)
    with pytest.raises(UnmappedOps, match="Conv2d module '0' has some parameters frozen"):
        from_torch(model, (1, 3, 8, 8))


# ------------------------------------------------------------------ modules that never run
def test_parameters_of_modules_forward_never_calls_are_in_the_totals_by_name():
    class Unused(nn.Module):
        def __init__(self):
            super().__init__()
            self.stem = nn.Conv2d(3, 8, 3)
            self.head = nn.Sequential(nn.Conv2d(8, 16, 1), nn.BatchNorm2d(16))  # never called
            self.extra = nn.Linear(4, 4)

        def forward(self, x):
            return self.stem(x)

    model = Unused()
    model.extra.requires_grad_(False)
    r = round_trip(from_torch(model, (1, 3, 8, 8)))
    # stem 8*3*9 + 8 = 224; head (16*8 + 16) + 2*16 = 176; extra 4*4 + 4 = 20
    assert r.totals.params == n_params(model) == 224 + 176 + 20
    assert r.totals.trainable_params == n_params(model, True) == 224 + 176
    # head's BatchNorm2d(16) buffers: running mean and var 2*16 + num_batches_tracked 1 = 33
    # of them int64: num_batches_tracked (8 bytes in any dtype)
    assert r.unused_params == [{"module": "head", "params": 176, "trainable_params": 176, "buffers": 33,
                                "int64_buffers": 1},
                               {"module": "extra", "params": 20, "trainable_params": 0, "buffers": 0, "int64_buffers": 0}]
    assert r.totals.buffers == sum(b.numel() for b in model.buffers()) == 33
    # unread, yet resident: stem 224 params + head and extra 176 + 20, float32 (1,680 B), head's running
    # statistics 32 * 4 + num_batches_tracked 8 (136 B), the input 3*64*4 = 768 and the stem's output
    # 8*36*4 = 1,152: 3,736 B (the memory figures left the unused 920 B out before)
    from convshape.torch import memtrack
    assert r.totals.inference_peak_bytes == memtrack.inference_peak(model, torch.randn(1, 3, 8, 8)) == 3_736


def test_googlenet_aux_heads_count_though_eval_skips_them():
    model = torchvision.models.googlenet(weights=None, aux_logits=True, init_weights=False)
    r = cs.analyze(from_torch(model, (1, 3, 64, 64)))
    assert r.totals.params == n_params(model) == 13_004_888
    # the aux heads (InceptionAux: conv 512|528 -> 128, fc 2048 -> 1024, fc 1024 -> 1000, bn 128)
    # (512*128 + 2*128) + (2048*1024 + 1024) + (1024*1000 + 1000) = 3_188_968; with 528 in: + 16*128
    assert [(u["module"], u["params"]) for u in r.unused_params] == [("aux1", 3_188_968), ("aux2", 3_191_016)]
    # each aux head's BatchNorm2d(128): 2*128 + 1 = 257 buffers, in the totals as torch counts them
    assert [u["buffers"] for u in r.unused_params] == [257, 257]
    assert r.totals.buffers == sum(b.numel() for b in model.buffers())


# ------------------------------------------------------------------ computation whose result is unused
def test_a_head_whose_result_is_unused_is_counted_as_torch_runs_it():
    class DeepSupervision(nn.Module):
        def __init__(self):
            super().__init__()
            self.a, self.aux, self.b = nn.Conv2d(3, 8, 3, padding=1), nn.Conv2d(8, 2, 1), nn.Conv2d(8, 4, 3, padding=1)

        def forward(self, x):
            x = self.a(x)
            self.aux(x)  # a deep-supervision head: run, its result unused at inference
            return self.b(x)

    model = DeepSupervision()
    r = round_trip(from_torch(model, (1, 3, 8, 8)))
    assert r.unread == ["aux"]
    # a 64 * 8*27 = 13_824, aux 64 * 2*8 = 1_024, b 64 * 4*72 = 18_432
    assert r.totals.macs == 13_824 + 1_024 + 18_432
    assert (2 * r.totals.macs, r.totals.flops_backward) == torch_flops(model, (1, 3, 8, 8))


class _Conv(nn.Module):
    def __init__(self):
        super().__init__()
        self.c = nn.Conv2d(3, 4, 3)


class ReturnsNone(_Conv):
    def forward(self, x):
        self.c(x)


class ReturnsSize(_Conv):
    def forward(self, x):
        return self.c(x).shape


class ReturnsInt(_Conv):
    def forward(self, x):
        return self.c(x).shape[1]


class ReturnsDictOfInts(_Conv):
    def forward(self, x):
        return {"n": self.c(x).shape[0]}


@pytest.mark.parametrize("cls, what", [
    (ReturnsNone, "None"),
    (ReturnsSize, r"a torch.Size \(\[1, 4, 6, 6\]\)"),  # (8 - 3) + 1 = 6
    (ReturnsInt, r"an int \(4\)"),
    (ReturnsDictOfInts, "a dict holding no tensor"),
])
def test_a_forward_returning_no_tensor_is_a_clear_error(cls, what):
    with pytest.raises(UnmappedOps, match=f"the module returns no tensor: forward returned {what} \\(it must "
                                          f"return a tensor, or a tuple, list or dict of them\\) at {cls.__name__}$") as e:
        from_torch(cls(), (1, 3, 8, 8))
    assert "\n" not in str(e.value)


def test_cli_import_of_a_forward_returning_no_tensor_says_so_in_one_line(tmp_path, monkeypatch):
    from click.testing import CliRunner

    from convshape.cli import main
    (tmp_path / "none_models.py").write_text(
        "from torch import nn\n\n\nclass Nothing(nn.Module):\n"
        "    def __init__(self):\n        super().__init__()\n        self.c = nn.Conv2d(3, 4, 3)\n\n"
        "    def forward(self, x):\n        self.c(x)\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    res = CliRunner().invoke(main, ["import", "none_models:Nothing", "--input", "1,3,8,8"])
    assert res.exit_code == 2
    assert res.output.strip().splitlines() == [
        "error: cannot import 1 operation(s): the module returns no tensor: forward returned None (it must return "
        "a tensor, or a tuple, list or dict of them) at Nothing"]


# ------------------------------------------------------------------ crashes that are now imports or clear refusals
def test_a_scripted_module_is_refused_in_one_line():
    scripted = torch.jit.script(nn.Sequential(nn.Conv2d(3, 8, 3)))
    with pytest.raises(UnmappedOps, match="torch.jit.script / torch.jit.trace module has no Python forward") as e:
        from_torch(scripted, (1, 3, 8, 8))
    assert "\n" not in str(e.value)


def test_a_pruned_model_imports_with_its_masked_weight():
    import torch.nn.utils.prune as prune
    model = nn.Sequential(nn.Conv2d(3, 8, 3), nn.ReLU(), nn.Conv2d(8, 4, 3))
    prune.l1_unstructured(model[0], "weight", amount=0.5)
    r = cs.analyze(from_torch(model, (1, 3, 8, 8)))
    # weight_orig 8*3*9 + bias 8 = 224 (the mask is a buffer), + 4*8*9 + 4 = 292
    assert r.totals.params == n_params(model) == 224 + 292
    # 6*6 * 8*27 = 7_776 + 4*4 * 4*72 = 4_608: pruning zeroes weights, torch still multiplies them
    assert 2 * r.totals.macs == torch_flops(model, (1, 3, 8, 8))[0] == 2 * (7_776 + 4_608)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_half_and_bfloat16_models_trace_in_their_dtype(dtype):
    model = nn.Sequential(nn.Conv2d(3, 8, 3), nn.ReLU()).to(dtype)
    r = cs.analyze(from_torch(model, (1, 3, 8, 8)))
    assert r.totals.params == n_params(model) == 8 * 3 * 9 + 8  # 224
    assert r.totals.macs == 6 * 6 * 8 * 27  # 7_776


def test_a_bare_conv_transpose_root_imports():
    model = nn.ConvTranspose2d(3, 4, 3, stride=2)
    net = from_torch(model, (1, 3, 8, 8))
    r = cs.analyze(net)
    assert [n.kind for n in net.nodes] == ["ConvTranspose2d"]
    assert r.output_shape == tuple(model(torch.randn(1, 3, 8, 8)).shape) == (1, 4, 17, 17)  # (8-1)*2 + 3
    assert r.totals.params == n_params(model) == 3 * 4 * 9 + 4  # 112
    # every input pixel scatters a 3x3 x 4 window: 8*8 * 3 * 4*9 = 6_912
    assert 2 * r.totals.macs == torch_flops(model, (1, 3, 8, 8))[0] == 2 * 6_912


# ------------------------------------------------------------------ check and verify cover them
SIAMESE = """
input: [1, 3, 16, 16]
blocks:
  Tower:
    layers:
      - Conv2d: {out_channels: 8, kernel_size: 3, padding: 1}
        name: conv
      - ReLU: {}
        name: relu
layers:
  - Conv2d: {out_channels: 3, kernel_size: 1}
    name: stem
    frozen: true
  - Tower: {}
    name: left
  - Tower: {}
    name: right
    inputs: stem
    shares: left
  - Conv2d: {out_channels: 2, kernel_size: 1}
    name: head
outputs: [head, left]
"""


class Siamese(nn.Module):
    """SIAMESE in torch: one tower called twice, a frozen stem, two outputs."""

    def __init__(self):
        super().__init__()
        self.stem = nn.Conv2d(3, 3, 1).requires_grad_(False)
        self.left = nn.Sequential()
        self.left.add_module("conv", nn.Conv2d(3, 8, 3, padding=1))
        self.left.add_module("relu", nn.ReLU())
        self.head = nn.Conv2d(8, 2, 1)

    def forward(self, x):
        s = self.stem(x)
        a = self.left(s)
        return self.head(self.left(s)), a


def test_check_covers_several_outputs_shared_and_frozen_layers():
    net = cs.loads(SIAMESE)
    result = check(net, (1, 3, 16, 16), sizes=True, rf_layers=0)
    assert result.ok, [m.to_dict() for m in result.mismatches]
    r = cs.analyze(net)
    # stem 3*3 + 3 = 12 frozen; tower 8*3*9 + 8 = 224 once; head 2*8 + 2 = 18
    assert (r.totals.params, r.totals.trainable_params) == (12 + 224 + 18, 224 + 18)
    model = Siamese()
    assert (r.totals.params, r.totals.trainable_params) == (n_params(model), n_params(model, True))
    assert (2 * r.totals.macs, r.totals.flops_backward) == torch_flops(model, (1, 3, 16, 16))


def test_verify_covers_several_outputs_shared_and_frozen_layers():
    cs.verify(Siamese(), cs.loads(SIAMESE), input_shape=(1, 3, 16, 16))
    unfrozen = Siamese().requires_grad_(True)
    lines = diff(unfrozen, cs.loads(SIAMESE), (1, 3, 16, 16))
    # the stem trains in the module: 12 more trainable parameters; it then needs weight gradients
    assert "layer 'stem' (Conv2d): trainable_params expected 0, got 12" in lines
    assert "total trainable_params: expected 242, got 254" in lines
    one_output = cs.loads(SIAMESE.replace("outputs: [head, left]", "outputs: [head]"))
    assert "outputs: expected 1 ([1, 2, 16, 16]), got 2 ([1, 2, 16, 16], [1, 8, 16, 16])" in \
        diff(Siamese(), one_output, (1, 3, 16, 16))


# ------------------------------------------------------------------ several inputs
class TwoInputs(nn.Module):
    """A siamese pair: one encoder for both images, then a head over both."""

    def __init__(self):
        super().__init__()
        self.enc, self.head = nn.Conv2d(3, 8, 3), nn.Conv2d(16, 2, 1)

    def forward(self, left, right):
        return self.head(torch.cat([self.enc(left), self.enc(right)], 1))


class TwoInputsEager(TwoInputs):
    def forward(self, left, right):
        if left.shape[-1] > 2:  # Python on sizes: fx fails, the eager tracer takes over
            left = left + 0
        return super().forward(left, right)


@pytest.mark.parametrize("cls", [TwoInputs, TwoInputsEager])
def test_several_named_inputs_import_and_round_trip(cls):
    model = cls()
    net = from_torch(model, {"left": (1, 3, 8, 8), "right": (1, 3, 8, 8)})
    assert net.frontend.startswith("fx" if cls is TwoInputs else "eager")
    # left + 0 is a new tensor torch makes (ScalarArith), read by the encoder in the eager case
    first = [("scalararith_1", ("left",), None)] if cls is TwoInputsEager else []
    left = "scalararith_1" if cls is TwoInputsEager else "left"
    assert [(n.name, n.inputs, n.shares) for n in net.nodes][:len(first) + 2] == \
        first + [("enc", (left,), None), ("enc_1", ("right",), "enc")]
    r = round_trip(net)
    assert r.inputs == {"left": (1, 3, 8, 8), "right": (1, 3, 8, 8)}
    # enc 8*3*9 + 8 = 224 once, head 2*16 + 2 = 34
    assert r.totals.params == n_params(model) == 258
    # enc twice 2 * 6*6 * 8*27 = 15_552, head 6*6 * 2*16 = 1_152
    assert r.totals.macs == 15_552 + 1_152
    x = (torch.randn(1, 3, 8, 8), torch.randn(1, 3, 8, 8))
    with FlopCounterMode(display=False) as fc:
        model(*x)
    assert 2 * r.totals.macs == fc.get_total_flops()


def test_a_spec_with_several_inputs_checks_and_verifies_against_torch():
    spec = cs.loads("""
input: {left: [1, 3, 8, 8], right: [1, 3, 8, 8]}
layers:
  - Conv2d: {out_channels: 8, kernel_size: 3}
    name: enc
  - Conv2d: {out_channels: 8, kernel_size: 3}
    name: enc_1
    inputs: right
    shares: enc
  - Concat: {}
    inputs: [enc, enc_1]
  - Conv2d: {out_channels: 2, kernel_size: 1}
    name: head
""")
    result = check(spec)
    assert result.ok, [m.to_dict() for m in result.mismatches]
    assert result.notes == []  # nothing skipped: receptive fields probed, sizes sampled on both inputs
    # rf_layers=8 covers all 4 layers, each probed on both inputs (the union of their gradients)
    assert result.compared["receptive_field"] == 4 * 2  # 4 layers, 2 spatial axes each
    # both inputs follow every sampled size (1, 3, L, L): the minimal valid L is 3 (a 3x3 kernel)
    assert [s for s, ok in result.sizes][:3] == [(1, 3, 3, 3), (1, 3, 4, 4), (1, 3, 2, 2)]
    assert result.compared["output_shape(symbolic)"] > 0
    cs.verify(TwoInputs(), spec)


def test_check_names_an_input_of_another_spatial_size_where_it_cannot_follow_it():
    spec = cs.loads("""
input: {image: [1, 3, 16, 16], mask: [1, 1, 8, 8]}
layers:
  - Conv2d: {out_channels: 4, kernel_size: 3, stride: 2, padding: 1}
    name: img
  - Conv2d: {out_channels: 4, kernel_size: 3, padding: 1}
    name: msk
    inputs: mask
  - Concat: {}
    inputs: [img, msk]
    name: cat
  - Conv2d: {out_channels: 2, kernel_size: 3}
    name: head
""")
    result = check(spec)
    assert result.ok, [m.to_dict() for m in result.mismatches]
    # 'img' reads the image only: probed (2 axes); the rest read the 8x8 mask, whose pixels are not the image's
    assert result.compared["receptive_field"] == 2
    assert result.notes == [
        "receptive field of msk, cat, head not probed: they read input(s) 'mask' (8×8) of another spatial size "
        "than the first input's 16×16, whose pixels a field counts",
        "sampled sizes vary the spatial sizes of input(s) 'image' together; 'mask' keep their declared spatial "
        "sizes (not the first input's)"]
    # batch 2 follows on both inputs: torch and convshape agree it is valid
    assert ((2, 3, 16, 16), True) in result.sizes


class AutoEncoder(nn.Module):
    """A SegNet-style conv autoencoder: the decoder unpools with the encoder's argmax indices; the
    odd 9x9 input is restored by output_size (module call) and F.max_unpool2d (functional)."""

    def __init__(self):
        super().__init__()
        self.enc1, self.enc2 = nn.Conv2d(3, 8, 3, padding=1), nn.Conv2d(8, 16, 3, padding=1)
        self.pool1, self.pool2 = nn.MaxPool2d(2, return_indices=True), nn.MaxPool2d(2, return_indices=True)
        self.unpool = nn.MaxUnpool2d(2)
        self.dec2, self.dec1 = nn.Conv2d(16, 8, 3, padding=1), nn.Conv2d(8, 3, 3, padding=1)

    def forward(self, x):
        a = self.enc1(x)
        y1, i1 = self.pool1(a)
        y2, i2 = self.pool2(self.enc2(y1))
        d = self.dec2(self.unpool(y2, i2))
        return self.dec1(nn.functional.max_unpool2d(d, i1, 2, output_size=a.size()))


def test_a_conv_autoencoder_with_max_unpool_imports_exactly():
    from convshape.torch import memtrack
    model = AutoEncoder()
    net = from_torch(model, (1, 3, 9, 9))
    r = round_trip(net)
    assert [(n.name, n.kind) for n in net.nodes if "ool" in n.kind] == [
        ("pool1", "MaxPool2d"), ("pool2", "MaxPool2d"), ("unpool", "MaxUnpool2d"), ("maxunpool2d_1", "MaxUnpool2d")]
    # each unpool reads its values, then the pool whose indices it takes
    assert net.node("unpool").inputs == ("pool2", "pool2")
    assert net.node("maxunpool2d_1").inputs == ("dec2", "pool1")
    # 9 -> 4 -> 2 -> (2-1)*2 + 2 = 4 -> output_size restores 9 (the default 8 lies in (8-2, 8+2))
    assert [r.layer(n).output_shape for n in ("pool1", "pool2", "unpool", "maxunpool2d_1")] == \
        [(1, 8, 4, 4), (1, 16, 2, 2), (1, 16, 4, 4), (1, 8, 9, 9)]
    assert r.layer("dec1").output_shape == tuple(model(torch.randn(1, 3, 9, 9)).shape) == (1, 3, 9, 9)
    # 8*27 + 8 = 224, 16*72 + 16 = 1_168, 8*144 + 8 = 1_160, 3*72 + 3 = 219
    assert r.totals.params == n_params(model) == 224 + 1_168 + 1_160 + 219 == 2_771
    # pools and unpools: 0 MACs (FlopCounterMode counts none); enc1 81*8*27 = 17_496, enc2 16*16*72 = 18_432,
    # dec2 16*8*144 = 18_432, dec1 81*3*72 = 17_496
    assert r.layer("unpool").macs == r.layer("pool1").macs == 0
    assert r.totals.macs == 17_496 + 18_432 + 18_432 + 17_496 == 71_856
    # backward: enc1 its weight gradient only (the input needs none), the others weight + input:
    # 2 * (17_496 + 2*18_432 + 2*18_432 + 2*17_496) = 252_432
    assert (2 * r.totals.macs, r.totals.flops_backward) == torch_flops(model, (1, 3, 9, 9)) == (143_712, 252_432)
    # a pool's act. bytes hold its values (float32) and its indices (int64): pool1 128 * (4 + 8) = 1_536
    assert r.layer("pool1").activation_bytes == 1_536
    # memory referees on the built module: the indices live until their unpool, the values until theirs
    spec = cs.loads(to_yaml(net), "imported.yaml")
    built, x = cs.to_torch(spec), torch.randn(1, 3, 9, 9)
    assert cs.analyze(spec).totals.inference_peak_bytes == memtrack.inference_peak(built, x) == 16_184
    # the import keeps what the model's Python holds (Network.holds): a, y1, i1, y2 and i2 are locals to
    # the end, so the model itself peaks 21,028 - 16,184 = 4,844 B above the built module, by the tracker
    assert r.totals.inference_peak_bytes == memtrack.inference_peak(model, x) == 21_028
    # saved: the pools keep their input and indices, the unpools the same indices again (one storage)
    assert r.totals.saved_bytes == memtrack.saved_bytes(built.train(), x)[0] == 10_252
    # a training step (SGD): equal, 28,972 B, the loss scalar and the ones backward starts from (2 * 4 B)
    # counted (28,964 before they were)
    from convshape.memory.training import training_step
    predicted = training_step(spec, cs.analyze(spec), "sgd").peak_bytes
    torch.manual_seed(0)
    built = cs.to_torch(spec)
    measured = memtrack.training_step_peak(built, x, torch.optim.SGD(built.parameters(), lr=0.01))
    assert (predicted, measured) == (28_972, 28_972)
    result = check(spec)
    assert result.ok, result.mismatches
    assert not result.notes  # receptive fields probed through the unpools too, memory compared
    cs.verify(model, spec)


def test_pooling_indices_read_as_a_tensor_are_refused_by_name():
    class IndicesOut(nn.Module):
        def __init__(self):
            super().__init__()
            self.pool = nn.MaxPool2d(2, return_indices=True)

        def forward(self, x):
            y, i = self.pool(x)
            return y, i

    class IndicesAsFloat(IndicesOut):
        def forward(self, x):
            y, i = self.pool(x)
            return y + i.float()

    with pytest.raises(UnmappedOps, match=r"an output is the argmax indices of pooling 'pool'"):
        from_torch(IndicesOut(), (1, 3, 8, 8))
    with pytest.raises(UnmappedOps, match=r"reads the argmax indices of pooling 'pool' \(only MaxUnpool reads them\)"):
        from_torch(IndicesAsFloat(), (1, 3, 8, 8))

    class AdaptiveIndices(nn.Module):
        def __init__(self):
            super().__init__()
            self.pool = nn.AdaptiveMaxPool2d(2, return_indices=True)

        def forward(self, x):
            return self.pool(x)[0]

    with pytest.raises(UnmappedOps, match=r"AdaptiveMaxPool2d with return_indices \(only MaxPool's indices are "
                                          r"modelled\)"):
        from_torch(AdaptiveIndices(), (1, 3, 8, 8))


class FunctionalPool(nn.Module):
    def __init__(self):
        super().__init__()
        self.c = nn.Conv2d(3, 4, 3, padding=1)

    def forward(self, x):
        y, i = nn.functional.max_pool2d(self.c(x), 2, return_indices=True)
        return nn.functional.max_unpool2d(y * 2, i, 2)


class FunctionalPoolEager(FunctionalPool):
    def forward(self, x):
        h = self.c(x)
        if h.shape[-1] > 2:  # Python on a size: torch.fx cannot trace it, the eager tracer does
            y, i = nn.functional.max_pool2d(h, 2, return_indices=True)
        return nn.functional.max_unpool2d(y, i, kernel_size=2, output_size=h.shape[-2:])


@pytest.mark.parametrize("cls, frontend", [(FunctionalPool, "fx"), (FunctionalPoolEager, "eager")])
def test_functional_max_pool_with_indices_and_unpool_import(cls, frontend):
    net = from_torch(cls(), (1, 3, 8, 8))
    assert net.frontend.startswith(frontend)
    pool, unpool = net.nodes[1], net.nodes[-1]
    assert (pool.kind, pool.layer.return_indices, unpool.kind, unpool.inputs[1]) == \
        ("MaxPool2d", True, "MaxUnpool2d", pool.name)
    r = round_trip(net)
    # 8 -> 4 -> (4 - 1)*2 + 2 = 8; MACs: the conv only, 64 * 4*27 = 6_912
    assert r.layer(unpool.name).output_shape == tuple(cls()(torch.randn(1, 3, 8, 8)).shape) == (1, 4, 8, 8)
    assert 2 * r.totals.macs == 2 * 6_912 == torch_flops(cls(), (1, 3, 8, 8))[0]


@pytest.mark.parametrize("n", [1, 3])
def test_max_unpool_1d_and_3d_import_exactly(n):
    conv, pool, unpool = (getattr(nn, f"{k}{n}d") for k in ("Conv", "MaxPool", "MaxUnpool"))

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.c, self.p, self.u = conv(2, 4, 3, padding=1), pool(2, return_indices=True), unpool(2)

        def forward(self, x):
            return self.u(*self.p(self.c(x)))

    shape = (1, 2) + (6,) * n
    r = round_trip(from_torch(Net(), shape))
    # 6 -> 3 -> (3-1)*2 + 2 = 6
    assert r.layer("u").output_shape == tuple(Net()(torch.randn(shape)).shape) == (1, 4) + (6,) * n
    # 6^n outputs * 4 channels * 2*3^n
    assert r.totals.macs == 6 ** n * 4 * 2 * 3 ** n == torch_flops(Net(), shape)[0] // 2


def test_ssdlite_features_follow_all_six_outputs():
    from torchvision.models.detection import ssdlite320_mobilenet_v3_large
    model = ssdlite320_mobilenet_v3_large(weights=None, weights_backbone=None).backbone.eval()
    r = cs.analyze(from_torch(model, (1, 3, 320, 320)))
    out = model(torch.randn(1, 3, 320, 320))
    # MobileNetV3's stride-16 and stride-32 maps, then 4 extra blocks halving the size: 20, 10, 5, 3, 2, 1
    assert [r.layer(o).output_shape for o in r.outputs] == [tuple(v.shape) for v in out.values()]
    assert [s[-1] for s in r.output_shapes.values()] == [20, 10, 5, 3, 2, 1]
    # sum(p.numel()): MobileNetV3 features 1_620_512 + extra blocks 258_304 + 100_480 + 67_712 + 25_664;
    # following only the first output kept the features up to stride 16 and none of the extras
    assert r.totals.params == n_params(model) == 1_620_512 + 258_304 + 100_480 + 67_712 + 25_664 == 2_072_672
    assert 2 * r.totals.macs == torch_flops(model, (1, 3, 320, 320))[0]


def test_cli_import_of_a_module_with_several_inputs(tmp_path, monkeypatch):
    from click.testing import CliRunner

    from convshape.cli import main
    (tmp_path / "pair_models.py").write_text(
        "import torch\nfrom torch import nn\n\n\n"
        "class Pair(nn.Module):\n"
        "    def __init__(self):\n"
        "        super().__init__()\n"
        "        self.enc, self.head = nn.Conv2d(3, 8, 3), nn.Conv2d(16, 2, 1)\n\n"
        "    def forward(self, left, right):\n"
        "        return self.head(torch.cat([self.enc(left), self.enc(right)], 1))\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    out = tmp_path / "pair.yaml"
    res = CliRunner().invoke(main, ["import", "pair_models:Pair", "--input", "left=1,3,8,8;right=1,3,8,8",
                                    "-o", str(out)])
    assert res.exit_code == 0, res.output
    r = cs.analyze(cs.load(str(out)))
    assert r.inputs == {"left": (1, 3, 8, 8), "right": (1, 3, 8, 8)}
    # as in test_several_named_inputs_import_and_round_trip: 224 + 34 params, 15_552 + 1_152 MACs
    assert (r.totals.params, r.totals.macs) == (258, 16_704)
    res = CliRunner().invoke(main, ["import", "pair_models:Pair", "--input", "left=1,3,8,8;1,3,8,8"])
    assert res.exit_code == 2 and "several inputs are written name=SHAPE;name=SHAPE" in res.output


# ------------------------------------------------------------------ code that runs in train mode only
def test_code_behind_self_training_is_named_for_the_training_figures():
    """The import traces eval mode; what forward runs only in train mode (with gradients) is not in the
    network, so the training figures name it: a drop-connect written in Python, as MONAI's and smp's
    efficientnet-pytorch style encoders do, and GoogLeNet's aux heads."""
    class DropConnect(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv, self.bn = nn.Conv2d(3, 8, 3, padding=1), nn.BatchNorm2d(8)

        def forward(self, x):
            y = self.bn(self.conv(x))
            if self.training:   # the mask is N x 1 x 1 x 1: 8 B at batch 2, kept by the mul
                y = y / 0.8 * torch.floor(0.8 + torch.rand(y.shape[0], 1, 1, 1, device=y.device))
            return y
    net = from_torch(DropConnect(), (2, 3, 8, 8))
    assert net.train_only == ("train-only code in (top level) (add, div, floor, mul)",)
    t = cs.analyze(net).totals
    assert t.saved_unknown == net.train_only
    # a train-mode BatchNorm's num_batches_tracked += 1 reads buffers only: not flagged
    assert from_torch(nn.Sequential(nn.Conv2d(3, 8, 3), nn.BatchNorm2d(8)), (2, 3, 8, 8)).train_only == ()
    g = from_torch(torchvision.models.googlenet(weights=None, aux_logits=True, init_weights=False), (1, 3, 64, 64))
    assert [line.split(" (")[0] for line in g.train_only] == [
        "train-only code in aux1", "train-only code in aux1.conv", "train-only code in aux2", "train-only code in aux2.conv"]
