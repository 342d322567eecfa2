"""Plain statements for size rules, naming the layers that cause them.

The layers behind a divisibility rule are found from the graph: for an equality at a merge, the
nodes on only one of the merging paths (ancestors of one input but not of the other) that scale
the dim are the down- and up-samplers whose arithmetic has to cancel exactly.
"""
from __future__ import annotations

import re
from fractions import Fraction

from ..graph import INPUT
from .quasilinear import quasi_linear

_WORDS = ["no", "a", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten", "eleven", "twelve"]
_MERGES = {"Concat": ("concat", "concats"), "Add": ("addition", "additions"),
           "Mul": ("multiplication", "multiplications")}


def count_word(n: int) -> str:
    return _WORDS[n] if n < len(_WORDS) else str(n)


def plural(n: int, one: str, many: str) -> str:
    return one if n == 1 else many


def compress_names(names) -> str:
    """['pool1', 'pool2', 'pool3', 'pool4'] -> 'pool1..pool4'; keeps order, compresses runs."""
    names = list(dict.fromkeys(names))
    out, i = [], 0
    while i < len(names):
        j = i
        while j + 1 < len(names) and _next_in_run(names[j], names[j + 1]):
            j += 1
        if j - i >= 2:
            out.append(f"{names[i]}..{names[j]}")
        else:
            out.extend(names[i:j + 1])
        i = j + 1
    return ", ".join(out)


def _next_in_run(a: str, b: str) -> bool:
    ta, tb = re.split(r"(\d+)", a), re.split(r"(\d+)", b)
    if len(ta) != len(tb):
        return False
    diffs = [k for k, (x, y) in enumerate(zip(ta, tb)) if x != y]
    return (len(diffs) == 1 and diffs[0] % 2 == 1 and int(tb[diffs[0]]) == int(ta[diffs[0]]) + 1)


class Explainer:
    """Graph facts for explanations: ancestors, and how each layer scales a free dim."""

    def __init__(self, network, report):
        self.network = network
        self.report = report
        self.results = {r.name: r for r in report.layers}
        self.input_shape = report.input_shape
        self._anc: dict = {}
        self._bit = {n.name: 1 << i for i, n in enumerate(network.nodes)}
        self._slopes: dict = {}
        self._ql_memo: dict = {}

    def ancestors(self, name: str) -> int:
        """Bitset of the nodes that feed `name`, itself included."""
        if name == INPUT or name not in self._bit:  # a network input
            return 0
        hit = self._anc.get(name)
        if hit is not None:
            return hit
        # iterate in topological order so deep graphs never recurse
        for n in self.network.nodes:
            if n.name in self._anc:
                continue
            bits = self._bit[n.name]
            for i in n.inputs:
                bits |= self._anc.get(i, 0)
            self._anc[n.name] = bits
            if n.name == name:
                break
        return self._anc[name]

    def exclusive_nodes(self, merge: str) -> list:
        """Nodes on some but not all of the paths that meet at `merge`, in topological order."""
        node = self.network.node(merge)
        sets = [self.ancestors(i) for i in node.inputs]
        union, common = 0, ~0
        for s in sets:
            union |= s
            common &= s
        bits = union & ~common
        return [n.name for n in self.network.nodes if bits & self._bit[n.name]]

    def slope(self, name: str, symbol):
        """Slope of the output dim carrying `symbol` (in units of the input size), or None."""
        key = (name, symbol)
        if key in self._slopes:
            return self._slopes[key]
        shape = self.input_shape if name == INPUT else self.report.inputs[name] if name in self.report.inputs \
            else self.results[name].output_shape
        out = None
        for d in shape:
            if type(d) is not int and getattr(d, "free_symbols", None) == {symbol}:
                q = quasi_linear(d, symbol, self._ql_memo)
                out = q.slope if q is not None else None
                break
        self._slopes[key] = out
        return out

    def factor(self, name: str, symbol):
        """How the node scales `symbol`'s dim: 1/2 for a stride-2 layer, 2 for a 2x up-sampling."""
        node = self.network.node(name)
        a, b = self.slope(node.inputs[0], symbol), self.slope(name, symbol)
        if not a or b is None:
            return None
        return Fraction(b) / Fraction(a)

    def resamplers(self, names, symbol):
        downs, ups = [], []
        for n in names:
            f = self.factor(n, symbol)
            if f is None or f == 1:
                continue
            (downs if f < 1 else ups).append((n, f))
        return downs, ups

    def is_merge(self, name: str) -> bool:
        return getattr(self.network.node(name).layer, "family", "") == "merge"

    def kind(self, name: str) -> str:
        return self.network.node(name).layer.kind


def _noun(layer, factor: Fraction, down: bool) -> tuple:
    """(singular, plural) phrase for a resampling layer, e.g. ('2× pooling', '2× poolings')."""
    family = getattr(layer, "family", "")
    kind = layer.kind
    k = int(1 / factor) if down and (1 / factor).denominator == 1 else (
        int(factor) if factor.denominator == 1 else None)
    amount = f"{k}×" if k is not None else f"{factor}×"
    if down:
        if family == "pool":
            return f"{amount} pooling", f"{amount} poolings"
        if family == "conv":
            s = f"stride-{k}" if k is not None else f"{amount}"
            return f"{s} convolution", f"{s} convolutions"
        return f"{amount} down-sampling ({kind})", f"{amount} down-samplings ({kind})"
    if kind.startswith("ConvTranspose"):
        return f"{amount} up-convolution", f"{amount} up-convolutions"
    return f"{amount} up-sampling", f"{amount} up-samplings"


def describe_group(items, network, down: bool, article: str) -> str:
    """'four 2× poolings (pool1..pool4)' from [(name, factor), ...]."""
    groups: dict = {}
    for name, f in items:
        one, many = _noun(network.node(name).layer, f, down)
        groups.setdefault((one, many), []).append(name)
    parts = []
    for (one, many), names in groups.items():
        n = len(names)
        head = (count_word(n) if article == "count" else "the") + " " if n > 1 else ("a " if article == "count" else "the ")
        if one[0] in "0123456789" and n == 1 and article == "count":
            head = "a "
        parts.append(f"{head}{plural(n, one, many)} ({compress_names(names)})")
    return join_words(parts)


def join_words(parts) -> str:
    if len(parts) <= 1:
        return "".join(parts)
    return ", ".join(parts[:-1]) + " and " + parts[-1]


def merge_phrase(names, network) -> str:
    kinds = {network.node(n).layer.kind for n in names}
    if len(kinds) == 1 and next(iter(kinds)) in _MERGES:
        one, many = _MERGES[next(iter(kinds))]
        word = plural(len(names), one, many)
    else:
        word = plural(len(names), "merge", "merges")
    return f"the {word} {compress_names(names)}"


def failure_phrase(conditions) -> str:
    """What goes wrong in these layers below the minimum size."""
    args = {c.argument for c in conditions}
    names = compress_names([c.layer for c in conditions])
    many = len({c.layer for c in conditions}) > 1
    if args <= {"kernel_size"}:
        return f"{names} would get an input smaller than {'their windows' if many else 'its window'}"
    if args <= {"kernel_size", "padding"}:
        return f"{names} would produce an empty output"
    return f"{names}: {conditions[0].message}"


def flatten_floors(expr):
    """floor(floor(y)/n + k) -> floor(y/n + k) for whole n > 0 and k*n (exact identities), for display."""
    import sympy as sp

    def rewrite(e):
        if not e.args:
            return e
        e = e.func(*[rewrite(a) for a in e.args])
        if isinstance(e, (sp.floor, sp.ceiling)):
            k, rest = e.args[0].as_coeff_Add()
            c, inner = rest.as_coeff_Mul()
            if isinstance(inner, type(e)) and c.is_Rational and c > 0 and c.p == 1 and (k * c.q).is_Integer:
                return e.func(inner.args[0] / c.q + k)
        return e
    return rewrite(expr)


def show(expr) -> str:
    """A condition or dim as people write it: '50*floor(H/4)*floor(W/4) = 2450'."""
    import sympy as sp
    e = flatten_floors(expr)
    ops = {sp.Eq: "=", sp.Ne: "!=", sp.Ge: ">=", sp.Gt: ">", sp.Le: "<=", sp.Lt: "<"}
    if type(e) in ops:
        return f"{sp.sstr(e.lhs)} {ops[type(e)]} {sp.sstr(e.rhs)}"
    return sp.sstr(e)
