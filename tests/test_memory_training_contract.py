"""Every kind's training step against the live-storage tracker: each single-input example and variant
of tests/test_memory_contract.py, behind a trainable ParamArith (so its input needs a gradient), one
SGD step. A kind must be exact, or listed in memory/unmodelled.py, whose bound must hold; a figure a
listed kind could change is named (TrainingMemory.unknown), so none is silently low."""
from __future__ import annotations

import warnings

import pytest

from convshape.layers import REGISTRY

torch = pytest.importorskip("torch")

from test_memory_contract import _cases  # noqa: E402

from convshape.analysis import analyze  # noqa: E402
from convshape.graph import INPUT, Network, Node  # noqa: E402
from convshape.memory.training import training_step  # noqa: E402
from convshape.memory.unmodelled import bound, unmodelled  # noqa: E402
from convshape.torch.build import to_torch  # noqa: E402
from convshape.torch.memtrack import training_step_peak  # noqa: E402


def _behind_a_trainable_layer(layer, shape):
    pre = REGISTRY["ParamArith"].model_validate({"op": "add", "shape": (1,)})   # x + p: its gradient is grad's
    return Network("one", shape, [Node("pre", pre, (INPUT,)), Node("layer", layer, ("pre",))])


@pytest.mark.parametrize("kind", sorted(REGISTRY))
def test_training_step_of_one_layer(kind):
    cls = REGISTRY[kind]
    checked = 0
    for case, args, shapes in _cases(kind):
        if len(shapes) != 1:
            continue
        shape = tuple(shapes[0])
        layer = cls.model_validate(args)
        net = _behind_a_trainable_layer(layer, shape)
        report = analyze(net, shape)
        predicted = training_step(net, report, "sgd")
        torch.manual_seed(0)
        model = to_torch(net)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                measured = training_step_peak(model, torch.randn(shape), torch.optim.SGD(model.parameters(), lr=0.01))
            except (RuntimeError, ValueError):
                # torch's backward refuses it (an adaptive pool to a 0-size output, InstanceNorm of
                # one value per channel in train mode): no step to compare with
                continue
        node = net.nodes[1]
        if not unmodelled(node):
            assert predicted.peak_bytes == measured, f"{kind} {case} {args} {shape}: {predicted.phase}"
        else:
            b = bound(node, {INPUT: shape, "pre": shape, "layer": tuple(report.layers[1].output_shape)}, 4)
            if b is not None:   # the bound bounds what torch makes beyond the figure
                assert measured - predicted.peak_bytes <= b, f"{kind} {case} {args} {shape}"
            assert predicted.peak_bytes == measured or "layer" in predicted.unknown, f"{kind} {case} silently off"
        checked += 1
    assert checked or all(len(s) != 1 for _, _, s in _cases(kind))
