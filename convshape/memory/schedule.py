"""The liveness schedule of eager execution: each value is freed after its last reader, and a
storage lives while any value on it does (views and in-place outputs share their input's storage).
The executor's memory pass and convshape's memory figures both walk it."""
from __future__ import annotations

from ..graph import INPUT, Network


def indices_of(name: str) -> tuple:
    """The value name of the argmax indices a node yields beside its output (MaxPool return_indices)."""
    return (name, "indices")


def produced(node) -> list:
    """The values a node makes: its output, and its indices when it yields them."""
    return [node.name, indices_of(node.name)] if node.layer.has_indices() else [node.name]


def read_values(node) -> list:
    """The values a node reads, in input order: an index input reads the named node's indices."""
    index_inputs = node.layer.index_inputs
    return [indices_of(name) if j in index_inputs else name for j, name in enumerate(node.inputs)]


def last_uses(network: Network) -> list[list[str]]:
    """Per node index, the values no later node reads (freed after it runs); the output is kept.
    Indices nothing reads are freed right after the node that yields them."""
    last = {INPUT: -1}
    for i, node in enumerate(network.nodes):
        for name in produced(node)[1:]:
            last[name] = i
        for name in read_values(node):
            last[name] = i
    out = [[] for _ in network.nodes]
    final = network.nodes[-1].name
    for name, i in last.items():
        if i >= 0 and name != final:
            out[i].append(name)
    return out


def live_peak(network: Network, storage_of: dict, sizes: dict, keep=frozenset(), during=None):
    """The largest sum of live storage bytes while the nodes run in order.

    storage_of: value name (INPUT included) -> storage key; sizes: storage key -> bytes; keep: values
    never freed (the caller's input); during: node index -> bytes alive only while that node runs
    (temporaries it allocates and drops). Returns (peak, index of the node at the peak)."""
    frees = last_uses(network)
    refs: dict = {}
    live = 0

    def hold(name):
        nonlocal live
        key = storage_of[name]
        if refs.get(key, 0) == 0:
            live += sizes[key]
        refs[key] = refs.get(key, 0) + 1

    hold(INPUT)
    peak, at = live, -1
    symbolic = {}   # a symbolic peak is the Max of every distinct live sum, left unevaluated:
    for i, node in enumerate(network.nodes):   # sympy's pairwise Max comparisons are quadratic
        for name in produced(node):
            hold(name)
        now = live + (during.get(i, 0) if during else 0)
        if type(now) is int:
            if now > peak:
                peak, at = now, i
        else:
            symbolic.setdefault(now, now)
        for name in frees[i]:
            if name in keep:
                continue
            key = storage_of[name]
            refs[key] -= 1
            if refs[key] == 0:
                live -= sizes[key]
    if symbolic:
        import sympy
        return sympy.Max(peak, *symbolic.values(), evaluate=False), None
    return peak, at
