"""Matrix products of activations and attention: matmul / bmm / @, F.scaled_dot_product_attention,
and the output of an nn.MultiheadAttention module (a leaf that returns a tuple: its element 0)."""
from __future__ import annotations

from .registry import Mapped, pattern


@pattern("matmul", "bmm", signature=("input", "other"))
def matmul(m, name, a, out):
    x, y = a.get("input"), a.get("other")
    if m.param(x, buffers=True) is not None or m.param(y, buffers=True) is not None:
        return f"{name} with a parameter"
    return Mapped([("MatMul", {})], [x, y])


@pattern("scaled_dot_product_attention", signature=("query", "key", "value", "attn_mask", "dropout_p",
                                                    "is_causal", "scale", "enable_gqa"))
def sdpa(m, name, a, out):
    if a.get("attn_mask") is not None or a.get("enable_gqa"):
        return f"{name} with an attn_mask or enable_gqa"
    refs = [a["query"], a["key"], a["value"]]
    if any(m.param(r, buffers=True) is not None for r in refs):
        return f"{name} of a parameter"
    args = ({"is_causal": True} if a.get("is_causal") else {}) | \
        ({"scale": float(a["scale"])} if a.get("scale") is not None else {})
    return Mapped([("ScaledDotProductAttention", args)], refs)


def multihead_output(m, module_op, index):
    """Element 0 of nn.MultiheadAttention(q, k, v, ...): the layer; element 1 (the weights) does not map."""
    from ..importer import module_args
    from ...layers import REGISTRY
    if index != 0:
        return "the attention weights of nn.MultiheadAttention (element 1)"
    names = ("query", "key", "value", "key_padding_mask", "need_weights", "attn_mask", "average_attn_weights",
             "is_causal")
    bound = dict(zip(names, module_op.args)) | {k: v for k, v in module_op.kwargs.items() if k != "__path__"}
    if bound.get("key_padding_mask") is not None or bound.get("attn_mask") is not None:
        return "nn.MultiheadAttention with a mask"
    q, k, v = bound["query"], bound["key"], bound["value"]
    mod = module_op.target
    if mod.bias_k is not None or mod.add_zero_attn:
        return "nn.MultiheadAttention with add_bias_kv or add_zero_attn"
    args = module_args(mod, REGISTRY["MultiheadAttention"])
    return Mapped([("MultiheadAttention", args)], [q] if q == k == v else [q, k, v])
