"""Each installed counting tool, run on zoo networks built with to_torch, against convshape's
convention for it: every layer (the node's module run alone with its inputs) and the total (the
whole model). A tool that is not installed is skipped by name; the literals in
tests/test_conventions.py hold the same numbers for machines without the tools."""
from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

import convshape as cs  # noqa: E402
from convshape.torch.peer_tools import PACKAGE, TOOLS, convention_key, installed, node_inputs, per_layer, \
    total  # noqa: E402

NETS = [("zoo:lenet5", (1, 1, 28, 28)), ("zoo:resnet18", (1, 3, 64, 64)), ("zoo:mobilenet_v2", (1, 3, 64, 64)),
        ("zoo:convnext_tiny", (1, 3, 64, 64)), ("zoo:unet", (1, 3, 64, 64)), ("zoo:fcn1d", (1, 9, 128)),
        ("tests/specs/conventions_mix.yaml", (1, 3, 8, 8)), ("tests/specs/conventions_mix2.yaml", (1, 4, 16)),
        ("tests/specs/conventions_mix3.yaml", (1, 2, 6, 6, 6))]


@pytest.fixture(scope="module", params=NETS, ids=[n for n, _ in NETS])
def built(request):
    spec, shape = request.param
    net = cs.load(spec)
    torch.manual_seed(0)
    model = cs.to_torch(net)
    x = torch.randn(*shape)
    return cs.analyze(net, shape), net, model, x, node_inputs(model, net, x)


@pytest.mark.parametrize("tool", TOOLS)
def test_every_layer_and_the_total_equal_the_tool(tool, built):
    if not installed(tool):
        pytest.skip(f"{PACKAGE[tool]} is not installed")
    report, net, model, x, inputs = built
    ours = report.convention(convention_key(tool))
    theirs = per_layer(tool, model, net, x, inputs)
    # None (the tool does not count the kind) must be what the tool measures as 0
    assert {n: ours.layers[n] or 0 for n in theirs} == theirs
    assert ours.total == total(tool, model, x)
