"""The strides convshape gives every value (convshape/memory/layout.py) against the strides torch
gives, and torch.matmul's copies of operands its reshape cannot view, against saved_tensors_hooks
and the live-storage tracker. Random layouts are seeded: each case is a fixed, repeatable check."""
from __future__ import annotations

import random
import warnings

import pytest

from convshape.layers import REGISTRY
from convshape.layers.examples import examples_of
from convshape.memory.rules import VIEWS
from convshape.memory.layout import (CONTIGUOUS_1D, STRIDED_OUTPUT, follows_format, contiguous, iterator_strides, matmul_plan,
                                     output_strides, view_strides)

torch = pytest.importorskip("torch")


def same_layout(got, tensor) -> bool:
    """Equal strides on every dim of size > 1 (torch leaves a size-1 dim's stride arbitrary)."""
    return got is not None and all(g == w or n == 1 for g, w, n in zip(got, tensor.stride(), tensor.shape))


def strided(rng, shape):
    """A tensor of `shape` as a permuted view, a transposed one, a slice of a wider one, or contiguous."""
    nd, how = len(shape), rng.choice(["contiguous", "permuted", "transposed", "sliced"])
    if how == "contiguous" or nd < 2:
        return torch.randn(*shape)
    if how == "transposed":
        return torch.randn(*shape[:-2], shape[-1], shape[-2]).transpose(-2, -1)
    if how == "sliced":
        return torch.randn(*shape[:-1], 2 * shape[-1])[..., :shape[-1]]
    perm = list(range(nd))
    rng.shuffle(perm)
    return torch.randn(*[shape[p] for p in perm]).permute(*[perm.index(i) for i in range(nd)])


def sliced(rng, shape):
    """A tensor of `shape` cut from a longer contiguous one along a random dim: strides in dim order."""
    if not shape:
        return torch.randn(())
    d = rng.randrange(len(shape))
    wider = list(shape)
    wider[d] = 2 * shape[d] + 1
    return torch.randn(*wider).narrow(d, rng.randint(0, shape[d] + 1), shape[d])


def channels_last_or_strided(rng, shape):
    """A 4-D tensor in channels-last memory (a convolution of NHWC activations); others as strided."""
    if len(shape) != 4:
        return strided(rng, shape)
    return torch.randn(*shape).contiguous(memory_format=torch.channels_last)


def test_worked_strides():
    # (2, 64, 4, 12) viewed from a (2, 4, 12, 64) product permuted (0, 3, 1, 2): the last two dims
    # chain (768 = 64 * 12), so flatten(2) is a view: strides (3072, 1, 64)
    assert view_strides((2, 64, 4, 12), (3072, 1, 768, 64), (2, 64, 48)) == (3072, 1, 64)
    # the transposed (4, 3) of a contiguous (3, 4) cannot merge into 12: reshape copies
    assert view_strides((4, 3), (1, 4), (12,)) is False
    # q of EdgeNeXt's qkv (B, N, 3, H, D) permuted (2, 0, 3, 4, 1) and selected: (B, H, D, N) with
    # strides (3NHD, D, 1, 3HD) = (1152, 8, 1, 72) at N=16, H=3, D=8; an element-wise result lays
    # out B, N, H, D contiguously: (NHD, D, 1, HD) = (384, 8, 1, 24)
    assert iterator_strides((2, 3, 8, 16), [((2, 3, 8, 16), (1152, 8, 1, 72))]) == (384, 8, 1, 24)


def test_view_and_element_wise_strides_match_torch_on_random_layouts():
    rng = random.Random(7)
    for _ in range(600):
        shape = [rng.choice([1, 2, 3, 4]) for _ in range(rng.randint(1, 5))]
        x = strided(rng, shape)
        if rng.random() < 0.3 and x.dim() > 1:
            x = x.expand(*[rng.choice([1, 3]) if s == 1 else s for s in x.shape])
        sizes, rest = [], x.numel()
        while rest > 1 and len(sizes) < 4:
            d = rng.choice([d for d in range(2, rest + 1) if rest % d == 0])
            sizes.append(d)
            rest //= d
        new = tuple(sizes) or (1,)
        try:
            want = x.view(new).stride()
        except RuntimeError:
            want = False
        got = view_strides(tuple(x.shape), x.stride(), new)
        assert got == want or (got and want and all(g == w or n == 1 for g, w, n in zip(got, want, new))), \
            (tuple(x.shape), x.stride(), new, got, want)
        t = torch.randn(*[s if rng.random() < 0.5 else 1 for s in x.shape])
        for operands in ([x], [x, t], [t, x]):
            out = operands[0] * 2 if len(operands) == 1 else operands[0] + operands[1]
            got = iterator_strides(tuple(out.shape), [(tuple(o.shape), o.stride()) for o in operands])
            assert same_layout(got, out), ([(tuple(o.shape), o.stride()) for o in operands], got, out.stride())


def matmul_operands(rng):
    m, k, n = rng.choice([1, 2, 3]), rng.choice([2, 3, 4]), rng.choice([1, 2, 5])
    batch = [rng.choice([1, 2, 3]) for _ in range(2)]

    def operand(rank, matrix):
        if rank == 1:
            return (k,)
        lead = tuple(rng.choice([1, b]) for b in batch)[4 - rank:] if rank > 2 else ()
        return lead + matrix
    return operand(rng.randint(1, 4), (m, k)), operand(rng.randint(1, 4), (k, n))


def test_matmul_copies_match_torch_on_random_layouts():
    """Per case: which operand storages autograd keeps, the bytes of the copies it keeps, and the
    bytes alive beyond the output in a no_grad forward, each as matmul_plan says."""
    from convshape.torch.memtrack import LiveStorages
    rng = random.Random(11)
    copied = 0
    for _ in range(500):
        sa, sb = matmul_operands(rng)
        a, b = strided(rng, sa), strided(rng, sb)
        ag, bg = rng.random() < 0.6, rng.random() < 0.6
        plan = matmul_plan(tuple(a.shape), a.stride(), tuple(b.shape), b.stride(), ag, bg)
        saved = []
        with torch.autograd.graph.saved_tensors_hooks(lambda t: saved.append(t) or t, lambda t: t):
            torch.matmul(a.detach().requires_grad_(ag), b.detach().requires_grad_(bg))
        storages = {t.untyped_storage().data_ptr(): t.untyped_storage().nbytes() for t in saved}
        pa, pb = a.untyped_storage().data_ptr(), b.untyped_storage().data_ptr()
        extra = sorted(v // 4 for key, v in storages.items() if key not in (pa, pb))
        want_extra = sorted([c for c, needed in ((plan.copy_a, bg), (plan.copy_b, ag)) if needed and c])
        assert (pa in storages, pb in storages, extra) == (bg and not plan.copy_a, ag and not plan.copy_b, want_extra), \
            (tuple(a.shape), a.stride(), tuple(b.shape), b.stride(), ag, bg, plan)
        copied += bool(want_extra)
        inference = matmul_plan(tuple(a.shape), a.stride(), tuple(b.shape), b.stride(), False, False)
        with torch.no_grad(), LiveStorages([a, b]) as mode:
            base = mode.current
            out = torch.matmul(a, b)
            out_bytes = out.untyped_storage().nbytes()
            del out
        assert (mode.peak - base - out_bytes) // 4 == inference.copy_a + inference.copy_b + inference.temporary
    assert copied >= 40   # 42 of the 500 seeded cases keep a copy: enough to test the copies


def test_edgenext_attention_keeps_the_copy_of_its_strided_v():
    """attn @ v in EdgeNeXt's cross-covariance attention: v = qkv.permute(2, 0, 3, 4, 1)[2] is
    (B, H, D, N) with batch strides (3NHD, D) that do not merge, so matmul copies it and keeps the copy."""
    # (2, 4, 12, 64) from the (2, 64, 3, 4, 12) qkv: strides (3*64*48, 12, 1, 3*48)
    plan = matmul_plan((2, 4, 12, 12), contiguous((2, 4, 12, 12)), (2, 4, 12, 64), (9216, 12, 1, 144), True, True)
    assert (plan.copy_a, plan.copy_b) == (0, 2 * 4 * 12 * 64)   # a contiguous; v's copy: 6,144 elements


def test_each_kind_lays_out_its_output_as_torch_does():
    """Every registered kind on its own examples, with contiguous, strided and sliced inputs: where
    convshape states the output's strides, torch's are the same; with contiguous inputs it states
    them for every kind but those listed in STRIDED_OUTPUT, and with sliced ones for every kind but
    those and the views."""
    rng = random.Random(3)
    stated = format_stated = 0
    for kind, cls in sorted(REGISTRY.items()):
        for example in examples_of(cls):
            if type(example).__name__ == "Rejected":
                continue
            layer, shapes = cls(**example.args), example.inputs
            module = layer.to_torch(shapes).eval()
            for layout in ("contiguous", "strided", "sliced", "sliced", "channels_last"):
                make = {"contiguous": lambda r, s: torch.randn(s), "strided": strided, "sliced": sliced,
                        "channels_last": channels_last_or_strided}[layout]
                xs = [torch.zeros(s, dtype=torch.int64) if j in cls.index_inputs else make(rng, s)
                      for j, s in enumerate(shapes)]
                with torch.no_grad(), warnings.catch_warnings():
                    warnings.simplefilter("ignore")
                    try:
                        out = module(*xs)
                    except RuntimeError:   # torch refuses some strided inputs (local_response_norm views its
                        assert layout != "contiguous" and kind in ("LocalResponseNorm", "MaxPool3d")   # input;
                        continue           # max_pool3d takes only contiguous and channels-last-3d memory)
                out = out[0] if isinstance(out, tuple) else out
                got = output_strides(layer, [(tuple(x.shape), x.stride()) for x in xs], tuple(out.shape), False)
                if layout == "contiguous" and kind not in STRIDED_OUTPUT:
                    assert got is not None, (kind, example.args)
                if layout == "channels_last" and follows_format(layer) and all(x.dim() == 4 for x in xs):
                    assert got is not None and out.dim() == 4, (kind, example.args)
                    format_stated += 1
                if kind in CONTIGUOUS_1D and all(x.dim() <= 3 for x in xs):
                    assert got is not None, (kind, example.args, layout)   # whatever the input's layout
                if layout == "sliced" and kind not in STRIDED_OUTPUT and kind not in VIEWS:
                    assert got is not None, (kind, example.args, [x.stride() for x in xs])
                if got is not None and out.numel():
                    stated += 1
                    assert same_layout(got, out), (kind, example.args, layout, got, out.stride())
    # 69 channels-last cases at this seed; each of the 18 kinds in FORMAT_2D has a 4-D example
    assert stated > len(REGISTRY) and format_stated >= 60


def test_an_edgenext_block_saves_what_torch_saves():
    """A SplitTransposeBlock in train mode: convshape's saved bytes equal saved_tensors_hooks', the
    copy of v among them."""
    edgenext = pytest.importorskip("timm.models.edgenext")
    import convshape as cs
    from convshape.graph import INPUT
    from convshape.memory.estimate import saved_for_backward
    from convshape.torch.importer import from_torch
    from convshape.torch.memtrack import saved_bytes
    m = edgenext.SplitTransposeBlock(48, num_scales=2, num_heads=4).train()
    x = (2, 48, 7, 7)
    net = from_torch(m, x)
    r = cs.analyze(net)
    shapes = {INPUT: x, **{layer.name: tuple(layer.output_shape) for layer in r.layers}}
    got, by_layer, unknown = saved_for_backward(net, shapes, r.layers, 4)
    want, _ = saved_bytes(m, torch.randn(x))
    assert not unknown and got == want
    # attn (2, 4, 12, 12) @ v (2, 4, 12, 49): v's copy 2*4*12*49 = 4,704 elements, 18,816 bytes, is
    # the product's own; attn itself is kept by the dropout-free softmax already
    matmul = [n.name for n in net.nodes if n.kind == "MatMul"][-1]
    assert by_layer[matmul] == 2 * 4 * 12 * 49 * 4


def test_an_unknown_layout_is_named_only_where_it_decides_a_copy():
    # mm of two matrices reads them as given: no copy whatever their strides
    assert matmul_plan((3, 4), None, (4, 5), (5, 1), True, True).copy_a == 0
    # a batched operand's strides decide whether its batch dims merge: not known, not guessed
    assert matmul_plan((2, 3, 3, 4), None, (2, 3, 4, 5), contiguous((2, 3, 4, 5)), True, True) is None


class _FlattenOfPermuted(torch.nn.Module):
    """y feeds a convolution (which keeps y) and, permuted and flattened, a Linear (which keeps the
    flatten's copy): two storages for autograd, and the copy is alive beside y."""

    def __init__(self):
        super().__init__()
        self.conv, self.conv2 = torch.nn.Conv2d(3, 8, 3, padding=1), torch.nn.Conv2d(8, 4, 1)
        self.fc = torch.nn.Linear(8 * 6 * 6, 5)

    def forward(self, x):
        y = self.conv(x)
        return self.conv2(y).sum() + self.fc(y.permute(0, 2, 3, 1).flatten(1)).sum()


def test_a_reshape_torch_cannot_view_has_its_own_storage():
    import convshape as cs
    from convshape.torch.check import check
    from convshape.torch.importer import from_torch
    from convshape.torch.memtrack import inference_peak, saved_bytes
    m, x = _FlattenOfPermuted(), torch.randn(2, 3, 6, 6)
    net = from_torch(m, tuple(x.shape))
    t = cs.analyze(net).totals
    # y is (2, 8, 6, 6) = 576 floats; its permuted view's strides (288, 6, 1, 36) do not chain, so
    # flatten copies: 2,304 B the Linear keeps beside the 2,304 B of y the 1x1 convolution keeps,
    # + x = 2*3*36*4 = 864 B the first convolution keeps for its weight's gradient
    assert t.saved_bytes == saved_bytes(m.train(), x)[0] == 2304 + 2304 + 864
    assert t.inference_peak_bytes == inference_peak(m.eval(), x)
    assert not t.inference_peak_unknown and not t.saved_unknown
    assert check(net).ok
    # without the copy modelled it said 3,168 = 2,304 + 864 (one storage for y and its flatten)


def test_a_permuted_flatten_held_by_its_caller_counts_the_copy():
    class M(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.ln = torch.nn.LayerNorm(64)

        def forward(self, x):
            y = x.permute(0, 2, 3, 1).flatten(1)
            return torch.sigmoid(self.ln(y.view(2, -1, 64)))
    import convshape as cs
    from convshape.torch.importer import from_torch
    from convshape.torch.memtrack import inference_peak
    m, x = M().eval(), torch.randn(2, 64, 16, 16)
    t = cs.analyze(from_torch(m, tuple(x.shape))).totals
    # x, the flatten's copy, LayerNorm's output and the sigmoid's, each 2*64*16*16*4 = 131,072 B,
    # all alive at the sigmoid (y is a local), + LayerNorm's 2*64 parameters * 4 = 512: 524,800
    # (393,728 = one tensor fewer while the copy was taken for a view)
    assert t.inference_peak_bytes == inference_peak(m, x) == 4 * 131_072 + 512


def test_a_reshape_symbolic_sizes_leave_open_is_named():
    import convshape as cs
    spec = """
input: [N, 8, H, W]
layers:
  - {Permute: {dims: [0, 2, 3, 1]}}
  - {Flatten: {}, name: flat}
  - {ReLU: {}}
"""
    t = cs.analyze(cs.loads(spec)).totals
    # at H = W = 1 the permuted view chains and flatten views it; at other sizes it copies
    assert "flat" in t.inference_peak_unknown and "flat" in t.saved_unknown
    # at concrete sizes it is decided: (2, 8, 3, 3) permuted copies, 2*8*9*4 = 576 B of its own:
    # x + copy + relu output = 3 * 576 at the ReLU
    c = cs.analyze(cs.loads(spec), (2, 8, 3, 3)).totals
    assert not c.inference_peak_unknown and c.inference_peak_bytes == 3 * 576


def test_a_convolution_of_channels_last_activations_writes_channels_last():
    """NHWC activations permuted to NCHW: torch's convolution keeps channels-last memory, so flattening
    its C, H and W copies (the copy is the Linear's saved input), as the layout rules say."""
    class M(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.conv, self.fc = torch.nn.Conv2d(4, 6, 3, padding=1), torch.nn.Linear(6 * 5 * 5, 3)

        def forward(self, x):                       # x: (N, H, W, C)
            return self.fc(torch.relu(self.conv(x.permute(0, 3, 1, 2))).flatten(1))
    import convshape as cs
    from convshape.torch.check import check
    from convshape.torch.importer import from_torch
    from convshape.torch.memtrack import inference_peak, saved_bytes
    m, x = M(), torch.randn(2, 5, 5, 4)
    assert m.conv(x.permute(0, 3, 1, 2)).is_contiguous(memory_format=torch.channels_last)
    net = from_torch(m, tuple(x.shape))
    t = cs.analyze(net).totals
    # conv keeps its input x (2*5*5*4*4 = 800 B, the permuted view of the network input) for the weight's
    # gradient; ReLU keeps its output (2*6*25*4 = 1,200 B); flatten copies it and the Linear keeps the
    # copy (1,200 B): 3,200 B (2,000 if the flatten were taken for a view)
    assert t.saved_bytes == saved_bytes(m.train(), x)[0] == 800 + 1200 + 1200
    assert t.inference_peak_bytes == inference_peak(m.eval(), x)
    assert not t.inference_peak_unknown and not t.saved_unknown and check(net).ok


def test_a_conformer_convolution_module_of_transposed_activations_is_decided():
    """(N, L, C) activations transposed for a pointwise and a depthwise Conv1d and transposed back, as
    a Conformer's convolution module does: torch's Conv1d writes contiguous whatever its input's
    layout (layout.CONTIGUOUS_1D), so the final flatten of the transposed-back result copies, decided."""
    class M(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.pw = torch.nn.Conv1d(8, 16, 1)
            self.dw = torch.nn.Conv1d(16, 16, 3, padding=1, groups=16)
            self.bn = torch.nn.BatchNorm1d(16)

        def forward(self, x):                       # x: (N, L, C)
            y = torch.relu(self.bn(self.dw(self.pw(x.transpose(1, 2)))))
            return torch.sigmoid(y.transpose(1, 2).flatten(1))
    import convshape as cs
    from convshape.torch.check import check
    from convshape.torch.importer import from_torch
    from convshape.torch.memtrack import inference_peak, saved_bytes
    m, x = M(), torch.randn(2, 10, 8)
    assert not m.pw(x.transpose(1, 2)).transpose(1, 2).is_contiguous()
    net = from_torch(m, tuple(x.shape))
    t = cs.analyze(net).totals
    assert not t.inference_peak_unknown and not t.saved_unknown   # the old rules named flatten_1 here
    # saved: the transposed x the pointwise conv keeps for its weight's gradient (2*10*8*4 = 640 B), its
    # output the depthwise conv keeps (2*16*10*4 = 1,280 B), the depthwise output BatchNorm keeps (1,280 B)
    # + its mean and inverse std (2 * 16 * 4 = 128 B), ReLU's output (1,280 B), and the sigmoid's output
    # (1,280 B); the flatten's copy of the transposed ReLU output is read only by the sigmoid, which keeps
    # its result: 640 + 4 * 1,280 + 128 = 5,888 B
    assert t.saved_bytes == saved_bytes(m.train(), x)[0] == 640 + 4 * 1280 + 128
    assert t.inference_peak_bytes == inference_peak(m.eval(), x)
    assert check(net).ok


@pytest.mark.parametrize("bias", [True, False])
def test_a_linear_of_permuted_activations_keeps_the_copy_matmul_makes(bias):
    """An N-D Linear of a strided input is torch.matmul(x, weight.t()): its reshape of x to 2-D
    cannot view NCHW activations permuted to NHWC, so it copies x and keeps the copy for the
    weight's gradient (and makes it under no_grad too)."""
    class M(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.conv, self.fc = torch.nn.Conv2d(4, 8, 3, padding=1), torch.nn.Linear(8, 3, bias=bias)

        def forward(self, x):
            return self.fc(torch.sigmoid(self.conv(x).permute(0, 2, 3, 1)))
    import convshape as cs
    from convshape.torch.importer import from_torch
    from convshape.torch.memtrack import inference_peak, saved_bytes
    m, x = M(), torch.randn(2, 4, 16, 16)
    t = cs.analyze(from_torch(m.eval(), tuple(x.shape))).totals
    # the conv keeps x (2*4*256*4 = 8,192 B), sigmoid its
    # output (16,384 B, permuted), the Linear the contiguous copy of it (16,384 B): 40,960 B (24,576
    # while the Linear was taken to keep a view of its input)
    assert t.saved_bytes == saved_bytes(m.train(), x)[0] == 8_192 + 2 * 16_384
    assert t.inference_peak_bytes == inference_peak(m.eval(), x)
    assert not t.saved_unknown and not t.inference_peak_unknown
