"""Agreement fuzzing over the whole layer registry (short campaign for CI) and its regressions.

Every registered kind is fuzzed from its own field annotations and examples, so a new kind is
covered here with no wiring. The long campaign is benchmarks/fuzz_campaign.py (docs/torch.md).
"""
import random
from typing import Literal

import pytest

torch = pytest.importorskip("torch")
hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from convshape.layers import REGISTRY  # noqa: E402
from convshape.layers.base import PosInt  # noqa: E402
from convshape.torch.agreement import (Chooser, RandomChooser, campaign, compare, draw_value,  # noqa: E402
                                       generate, kinds)


class HypothesisChooser(Chooser):
    def __init__(self, data):
        self.data = data

    def choice(self, seq):
        return self.data.draw(st.sampled_from(list(seq)))

    def chance(self, p):
        return self.data.draw(st.integers(0, 99)) < round(100 * p)


def test_every_registered_kind_is_fuzzed():
    assert kinds() == sorted(REGISTRY)


@pytest.mark.parametrize("kind", kinds())
@settings(max_examples=12, deadline=None, database=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(data=st.data())
def test_convshape_agrees_with_torch(kind, data):
    cls = REGISTRY[kind]
    args, inputs = generate(cls, HypothesisChooser(data))
    outcome = compare(cls, args, inputs)
    assert outcome.agree, str(outcome)


def test_generation_covers_valid_and_invalid_configurations():
    result = campaign(400, seed=7)
    c = result["counts"]
    assert c["configurations"] + c["too_large"] == 400 and c["too_large"] <= 4  # inputs over 10**7 are skipped
    assert c["both_valid"] > 100 and c["both_invalid"] > 100  # both sides of validity are exercised
    assert not result["failures"], [str(f) for f in result["failures"][:5]]


def test_values_are_drawn_from_the_field_annotations():
    ch = RandomChooser(random.Random(0))
    seen = {draw_value(PosInt, ch) for _ in range(200)}
    assert {0, -1, 1} <= seen  # out of range too, so convshape's refusals are compared with torch's
    assert {draw_value(Literal["zeros", "reflect"], ch) for _ in range(50)} == {"zeros", "reflect"}
    tuples = [draw_value(tuple[PosInt, ...], ch) for _ in range(50)]
    assert {len(t) for t in tuples} == {1, 2, 3}
    assert {draw_value(PosInt | None, ch) is None for _ in range(100)} == {True, False}


# ---------------------------------------------------------------- regressions found by fuzzing
@pytest.mark.parametrize("args", [
    {"track_running_stats": False, "eps": 0.0},   # torch: eps must be positive with batch statistics
    {"eps": -0.5},                                # torch: eps must be non-negative
])
@pytest.mark.parametrize("kind", ["BatchNorm1d", "BatchNorm2d"])
def test_batchnorm_eps_is_refused_like_torch(kind, args):
    shape = (2, 3, 5) if kind == "BatchNorm1d" else (2, 3, 4, 4)
    o = compare(REGISTRY[kind], args, (shape,))
    assert o.agree and not o.convshape_ok and not o.torch_ok, str(o)


@pytest.mark.parametrize("args, shape", [
    ({"channels": 1, "dim": 2}, (6, 1, 5, 5)),    # gamma of 1 would broadcast over 5: refused now
    ({"dim": 5}, (2, 8, 8, 5)),                   # dim out of range (the module used dim % rank)
])
def test_layerscale_module_is_as_strict_as_the_rule(args, shape):
    o = compare(REGISTRY["LayerScale"], args, (shape,))
    assert o.agree and not o.torch_ok, str(o)


def test_upsample_validity_is_judged_outside_the_flop_counter():
    # under FlopCounterMode interpolate decomposes and returns an empty tensor instead of raising
    o = compare(REGISTRY["Upsample"], {"scale_factor": 0.1}, ((3, 2, 5, 2),))
    assert o.agree and not o.torch_ok and "greater than 0" in o.torch_error, str(o)


@pytest.mark.parametrize("kind, args, shape, reason", [
    ("Linear", {"out_features": 0}, (2, 3), "empty-tensor"),
    ("BatchNorm2d", {"num_features": -1, "affine": False, "track_running_stats": False}, (2, 6, 2, 3),
     "ignored-input-size"),
    ("AvgPool2d", {"kernel_size": 2, "divisor_override": -1}, (2, 4, 4), "non-positive-divisor"),
    ("Upsample", {"scale_factor": 0.0, "size": 2}, (1, 2, 5, 6), "zero-scale"),
    ("Conv2d", {"out_channels": 2, "kernel_size": 3, "padding": (0, 5, 3), "padding_mode": "reflect"},
     (12, 12, 12, 8), "unchecked-conv-padding"),
    ("Conv1d", {"out_channels": 4, "kernel_size": 1, "padding": -1, "padding_mode": "reflect"}, (1, 3, 3),
     "unchecked-conv-padding"),
    # crop 7 of 5 leaves nothing, yet torch makes 5 - 7 + 3 = 1 value (uninitialized memory)
    ("CircularPad1d", {"padding": (-7, 3)}, (2, 3, 5), "circular-undefined"),
    # crop 2 of 5 leaves 3, pad 4 wraps past them: an overlapping self-copy torch detects only at batch 1
    ("CircularPad1d", {"padding": (-2, 4)}, (2, 1, 5), "circular-undefined"),
    ("CircularPad2d", {"padding": (3, -4, 0, 0)}, (1, 2, 3, 5), "circular-undefined"),  # pad 3 > 5 - 4 kept
    ("CircularPad1d", {"padding": (-7, 3)}, (5, 3, 4), "empty-tensor"),  # 4 - 7 + 3 = 0
])
def test_documented_intentional_refusals(kind, args, shape, reason):
    o = compare(REGISTRY[kind], args, (shape,))
    assert o.agree and not o.convshape_ok and o.torch_ok and o.intentional == reason, str(o)


def test_circular_pad_mixed_sign_padding():  # fixed in layers/pad.py after fuzzing found it
    o = compare(REGISTRY["CircularPad1d"], {"padding": (-7, 3)}, ((2, 7, 6),))
    assert o.agree, str(o)


def test_adaptive_avg_pool_leading_dims():  # fixed in layers/pool.py after fuzzing found it
    o = compare(REGISTRY["AdaptiveAvgPool2d"], {"output_size": 1}, ((6, 8, 3, 8, 2),))
    assert o.agree, str(o)


# found by the second 100,000 campaign (seed 1): the symbolic rule for crops was stricter than the
# concrete replay of torch's copies; now one rule, K = L + crops >= max(1, pads), for both
# (tests/test_circular_pad.py proves what torch returns outside it)
@pytest.mark.parametrize("args, shape", [
    ({"padding": (-7, 3)}, (5, 3, 4)), ({"padding": (-4, 1, 0, 0, 0, 0)}, (12, 5, 4, 5, 3)),
    ({"padding": (-7, 3)}, (1, 7)), ({"padding": (-2, 3)}, (2, 1, 5))])
def test_circular_pad_symbolic_rule_is_the_concrete_one(args, shape):
    kind = f"CircularPad{len(args['padding']) // 2}d"
    o = compare(REGISTRY[kind], args, (shape,))
    assert o.agree, str(o)


# found by the 1,000,000 campaign (seed 3): nn.Conv zips dilation with kernel_size for F.pad's
# 'same' amounts, so a 1-entry dilation with a non-zeros mode pads only the first spatial axis:
# here H 3 -> 3 + 3 * (4 - 1) = 12, W stays 7 < the dilated kernel 10, and torch refuses
@pytest.mark.parametrize("shape, torch_ok", [((7, 4, 3, 7), False), ((1, 4, 3, 12), True)])
def test_conv_same_padding_with_a_one_entry_dilation(shape, torch_ok):
    args = {"out_channels": 2, "kernel_size": 4, "padding": "same", "dilation": (3,), "padding_mode": "replicate"}
    o = compare(REGISTRY["Conv2d"], args, (shape,))
    assert o.agree and o.torch_ok is torch_ok, str(o)


def test_the_counter_blind_spots_are_torch_s():
    """FlopCounterMode (torch 2.14) counts 0 for these products; the agreement fuzzer takes convshape's
    count there (COUNTER_BLIND_SPOTS). When torch starts counting them, this fails: drop the entry."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    def counted(fn, *shapes):
        with FlopCounterMode(display=False) as fc:
            fn(*[torch.randn(s) for s in shapes])
        return fc.get_total_flops()
    assert counted(torch.matmul, (4,), (4,)) == 0       # dot: 4 MACs really
    assert counted(torch.matmul, (3, 4), (4,)) == 0     # mv: 3*4 = 12 MACs really
    assert counted(torch.matmul, (4,), (4, 3)) == 24    # a 1-D first factor is counted: 2 * 4*3 = 24
    # head_dim 1: 2*3*4 (B G H) * 5*6 (I J) * 1 (D) = 720 MACs really
    assert counted(lambda q, k: torch.einsum("bghid,bghjd->bghij", q, k), (2, 3, 4, 5, 1), (2, 3, 4, 6, 1)) == 0
