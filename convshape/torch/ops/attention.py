"""Matrix products of activations and attention: matmul / bmm / @, F.scaled_dot_product_attention,
and the output of an nn.MultiheadAttention module (a leaf that returns a tuple: its element 0)."""
from __future__ import annotations

from .registry import Mapped, gathered, is_buffer, pattern, take_param


@pattern("matmul", "bmm", signature=("input", "other"))
def matmul(m, name, a, out):
    x, y = a.get("input"), a.get("other")
    if m.param(x, buffers=True) is not None:
        return f"{name} of a parameter times a tensor"
    if m.param(y, buffers=True) is not None:
        return param_matmul(m, name, x, y)
    return Mapped([("MatMul", {})], [x, y])


def param_matmul(m, name, x, w):
    """x @ W for a 2-D parameter W (in, out), read unchanged (through views, a transpose too): a Linear
    without bias, which holds in x out weights and costs x's rows x in x out MACs as torch's mm does."""
    shape = tuple(m.ops[w.name].value.shape)
    if len(shape) != 2 or len(m.shape(x)) < 2:
        return f"{name} with a parameter that is not a matrix, or of a vector"
    src = take_param(m, w)
    if isinstance(src, str) or is_buffer(src):
        return f"{name} with {src if isinstance(src, str) else 'a buffer'}"
    return Mapped([("Linear", {"out_features": shape[1], "bias": False})], [x])


@pattern("scaled_dot_product_attention", signature=("query", "key", "value", "attn_mask", "dropout_p",
                                                    "is_causal", "scale", "enable_gqa"))
def sdpa(m, name, a, out):
    if a.get("enable_gqa"):
        return f"{name} with enable_gqa"
    refs = [a["query"], a["key"], a["value"]]
    if any(m.param(r, buffers=True) is not None for r in refs):
        return f"{name} of a parameter"
    args = ({"is_causal": True} if a.get("is_causal") else {}) | \
        ({"scale": float(a["scale"])} if a.get("scale") is not None else {})
    mask = a.get("attn_mask")
    if mask is not None:  # a learned bias: a parameter, or a table gathered by a fixed index
        if m.param(mask, buffers=True) is None:
            return f"{name} with an attn_mask computed from activations"
        shape = tuple(m.ops[mask.name].value.shape)
        g = gathered(m, mask)
        if isinstance(g, str):
            return f"{name} with {g}"
        if g is not None:
            table, idx, dim = g
            args |= {"attn_bias": shape, "bias_table": tuple(table.value.shape), "bias_index": tuple(idx.value.shape),
                     "gather_dim": dim}
        else:
            src = take_param(m, mask)
            if isinstance(src, str) or is_buffer(src):
                return f"{name} with an attn_mask that is {src if isinstance(src, str) else 'a buffer'}"
            args |= {"attn_bias": shape}
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
