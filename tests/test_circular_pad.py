"""CircularPad with crops, proved against torch: convshape accepts exactly the configurations whose
result is the periodic extension of the cropped input, and what torch does outside them.

Rule (layers/pad.py): per padded dim, the crop leaves K = L + min(l, 0) + min(r, 0) values and
circular padding needs K >= max(1, l, r). Outside it torch either raises, or returns
  - an empty tensor (convshape: empty-tensor, refused on purpose like every empty output),
  - uninitialized memory (NaN under torch.utils.deterministic.fill_uninitialized_memory), or
  - an overlapping self-copy that torch's own guard refuses when every dim before is 1;
agreement.INTENTIONAL names these "circular-undefined".
"""
import itertools
import random

import pytest

torch = pytest.importorskip("torch")
import torch.nn.functional as F  # noqa: E402

from convshape.errors import ShapeError  # noqa: E402
from convshape.layers import REGISTRY  # noqa: E402
from convshape.torch.agreement import compare  # noqa: E402


@pytest.fixture
def poisoned():
    """Fresh torch memory filled with NaN, so a read of uninitialized memory shows."""
    before = (torch.are_deterministic_algorithms_enabled(), torch.utils.deterministic.fill_uninitialized_memory)
    torch.use_deterministic_algorithms(True)
    torch.utils.deterministic.fill_uninitialized_memory = True
    yield
    torch.use_deterministic_algorithms(before[0])
    torch.utils.deterministic.fill_uninitialized_memory = before[1]


def periodic(x, pairs):
    """The definition: crop, then out[o] = kept[(o - left) mod K] on each padded dim."""
    y = x
    for i, (left, right) in enumerate(pairs):
        d = x.dim() - 1 - i
        kept = y.shape[d] + min(left, 0) + min(right, 0)
        y = y.narrow(d, max(-left, 0), kept)
        index = torch.tensor([(o - max(left, 0)) % kept for o in range(kept + max(left, 0) + max(right, 0))])
        y = y.index_select(d, index)
    return y


def convshape_accepts(shape, pairs) -> bool:
    cls = REGISTRY[f"CircularPad{len(shape) - 2}d"]
    try:
        cls.model_validate({"padding": tuple(p for pair in pairs for p in pair)}).output_shape([shape])
        return True
    except (ShapeError, ValueError):
        return False


def torch_pad(x, pairs):
    try:
        return F.pad(x, [p for pair in pairs for p in pair], mode="circular")
    except RuntimeError:
        return None


def assert_overlap_refused_at_batch_1(shape, pairs):
    """The same 1-D pad on a 1 x 1 x L input: torch's guard sees the overlapping copy and raises."""
    x = torch.randn(1, 1, shape[-1], dtype=torch.float64)
    with pytest.raises(RuntimeError, match="refer to a single memory location"):
        F.pad(x, list(pairs[0]), mode="circular")


def test_exhaustive_1d(poisoned):
    seen = {"accepted": 0, "both refuse": 0, "empty": 0, "uninitialized": 0, "overlap": 0}
    for (n, c), length, left, right in itertools.product(((1, 1), (2, 1), (1, 2), (2, 3)), range(1, 10),
                                                         range(-11, 12), range(-11, 12)):
        shape, pairs = (n, c, length), [(left, right)]
        x = torch.randn(*shape, dtype=torch.float64)
        ours, theirs = convshape_accepts(shape, pairs), torch_pad(x, pairs)
        where = f"padding {pairs} on {shape}"
        if ours:
            assert theirs is not None, where                     # never accept what torch refuses
            assert torch.equal(theirs, periodic(x, pairs)), where  # and torch computes the definition
            seen["accepted"] += 1
        elif theirs is None:
            seen["both refuse"] += 1
        elif theirs.numel() == 0:
            seen["empty"] += 1
        elif torch.isnan(theirs).any():
            seen["uninitialized"] += 1
        else:  # the only other case: a pad longer than the K >= 1 values left, copied onto itself
            kept = length + min(left, 0) + min(right, 0)
            assert kept >= 1 and max(left, right) > kept, where
            assert_overlap_refused_at_batch_1(shape, pairs)
            seen["overlap"] += 1
    assert min(seen.values()) > 0, seen  # every class is exercised


def test_random_nd_agree_with_torch_or_are_refused_on_purpose(poisoned):
    rng = random.Random(3)
    accepted = refused_on_purpose = 0
    for _ in range(3000):
        rank = rng.choice((1, 2, 3))
        shape = (rng.choice((1, 2)), rng.choice((1, 2))) + tuple(rng.randint(1, 6) for _ in range(rank))
        pairs = [(rng.randint(-7, 7), rng.randint(-7, 7)) for _ in range(rng.randint(1, rank))]
        x = torch.randn(*shape, dtype=torch.float64)
        ours, theirs = convshape_accepts(shape, pairs), torch_pad(x, pairs)
        where = f"padding {pairs} on {shape}"
        if ours:
            assert theirs is not None and torch.equal(theirs, periodic(x, pairs)), where
            accepted += 1
        elif theirs is not None:
            flat = tuple(p for pair in pairs for p in pair)
            o = compare(REGISTRY[f"CircularPad{rank}d"], {"padding": flat}, (shape,))
            assert o.agree and o.intentional in ("empty-tensor", "circular-undefined"), str(o)
            refused_on_purpose += 1
    assert accepted > 100 and refused_on_purpose > 50, (accepted, refused_on_purpose)


@pytest.mark.parametrize("pads, shape", [((-7, 3), (2, 3, 5)), ((3, -4), (2, 1, 5))])
def test_torch_returns_uninitialized_memory_outside_the_rule(poisoned, pads, shape):
    # (-7, 3): nothing is left after the crop, 5 - 7 + 3 = 1 value comes out;
    # (3, -4): K = 1 but the left pad copies 3 values from the 1-value middle
    y = F.pad(torch.ones(shape), pads, mode="circular")
    assert torch.isnan(y).any()
    assert not convshape_accepts(shape, [pads])
