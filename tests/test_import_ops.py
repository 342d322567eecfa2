"""The importer's op-pattern registry (convshape/torch/ops) and the ops it maps."""
import pytest

torch = pytest.importorskip("torch")
import torch.nn.functional as F  # noqa: E402
from torch import nn  # noqa: E402

import convshape as cs  # noqa: E402
from convshape.torch.importer import UnmappedOps, from_torch  # noqa: E402
from convshape.torch.ops import PATTERNS, SIGNATURES, bind, canonical, pattern  # noqa: E402


def test_registering_an_op_twice_raises():
    with pytest.raises(ValueError, match="op pattern relu is registered twice"):
        pattern("relu")(lambda m, name, a, out: None)
    assert PATTERNS["relu"].__name__ == "activation"  # the first registration stays


def test_every_pattern_has_a_signature_and_binds_by_it():
    assert set(PATTERNS) == set(SIGNATURES)
    # F.conv2d(x, w, None, 2) binds by conv2d's registered names
    assert bind("conv2d", ("x", "w", None, 2), {}) == {"input": "x", "weight": "w", "bias": None, "stride": 2}
    # view(*shape) gathers the rest, given spread or as one tuple
    assert bind("view", ("x", 1, -1), {}) == bind("view", ("x", (1, -1)), {}) == {"input": "x", "shape": (1, -1)}


def test_operator_names_are_canonical_and_reflected_ops_keep_their_order():
    import operator
    assert [canonical(t) for t in (operator.add, "__iadd__", "__radd__", "add_", torch.add)] == ["add"] * 5
    # 2 - x reaches Tensor.__rsub__(x, 2): it must not read as x - 2's sub(x, 2)
    assert canonical("__rsub__") == "rsub" and canonical("__rtruediv__") == "rtruediv"
