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


def last_uses(network: Network, frames: bool = False) -> list[list[str]]:
    """Per node index, the values no later node reads (freed after it runs); the outputs are kept.
    frames: the network was imported from a module tree (node names are module paths), where a
    module's caller holds the argument it passed until the call returns: a value read inside a
    module it was not made in lives until that module's last node. Values and indices nothing reads
    are freed right after the node that yields them. A network imported with observed lifetimes (`holds`: node
    name -> index of the node after which eager torch freed its value, -1 for no longer than its
    readers) keeps each value that long, in place of the frame model."""
    last = {}
    for i, node in enumerate(network.nodes):
        for name in produced(node):   # a value nothing reads is dropped at once (fx's unused split pieces)
            last[name] = i
        for name in read_values(node):
            last[name] = i
    held = _held_by_frames(network, last) if frames else {}
    holds = getattr(network, "holds", None) or {}
    for name, i in holds.items():   # observed at import (locals, lists of features); never before a reader
        if name in last or i >= 0:   # -1: observed held no longer than its readers
            last[name] = max(last.get(name, i), i)
    last.update((name, i) for name, i in held.items() if name not in holds)
    out = [[] for _ in network.nodes]
    outputs = set(network.output_names)
    for name, i in last.items():
        if name not in outputs:
            out[i].append(name)
    return out


def _scopes(name: str) -> list[str]:
    parts = name.split(".")
    return [".".join(parts[:k]) for k in range(1, len(parts))]


def _held_by_frames(network: Network, last: dict) -> dict:
    end: dict = {}      # module path -> index of its last node
    for i, node in enumerate(network.nodes):
        for scope in _scopes(node.name):
            end[scope] = i
    made_in = {node.name: set(_scopes(node.name)) | {node.name} for node in network.nodes}
    held = {}
    for node in network.nodes:
        for name in read_values(node):
            maker = name[0] if isinstance(name, tuple) else name   # indices are made where their pool is
            outside = [s for s in _scopes(node.name) if s not in made_in.get(maker, ())]
            if outside:
                until = max(end[s] for s in outside)
                if until > held.get(name, last[name]):
                    held[name] = until
    return held


def input_values(network: Network) -> frozenset:
    """The names the network's inputs are read by (each input's, and `input` for the first)."""
    return frozenset(network.input_names) | {INPUT}


def live_peak(network: Network, storage_of: dict, sizes: dict, keep=frozenset(), during=None):
    """The largest sum of live storage bytes while the nodes run in order.

    storage_of: value name (the inputs included) -> storage key; sizes: storage key -> bytes; keep:
    values never freed (the caller's inputs, all alive from the start); during: node index -> bytes alive only while that node runs
    (temporaries it allocates and drops). Returns (peak, index of the node at the peak)."""
    frees = last_uses(network, frames=bool(getattr(network, "frontend", None)))
    refs: dict = {}
    live = 0

    def hold(name):
        nonlocal live
        key = storage_of[name]
        if refs.get(key, 0) == 0:
            live += sizes[key]
        refs[key] = refs.get(key, 0) + 1

    for name in network.input_names:
        hold(name)
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
