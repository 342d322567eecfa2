"""What `convshape constraints` finds: per-dim rules, joint rules, and the reasons behind them.

Renderers read these objects only; everything here is computed in derive.py and explain.py.
"""
from __future__ import annotations

from dataclasses import dataclass, field

SPATIAL_NAMES = {1: ("L",), 2: ("H", "W"), 3: ("D", "H", "W")}


def spatial_rank(network, rank: int) -> int:
    """How many trailing dims of the input are spatial: the first windowed layer's ndim."""
    for node in network.nodes:
        n = getattr(type(node.layer), "ndim", None)
        if isinstance(n, int) and n >= 1:
            return min(n, max(rank - 1, 0))
    return max(rank - 2, 0)


@dataclass
class Reason:
    """Why a rule holds: a plain sentence and the layers that cause it."""

    text: str
    layers: list = field(default_factory=list)
    conditions: list = field(default_factory=list)   # sympy relations as strings

    def to_dict(self) -> dict:
        return {"text": self.text, "layers": list(self.layers), "conditions": list(self.conditions)}


@dataclass
class DimRule:
    """The sizes of one free input dim that the network accepts on its own (other dims aside).

    The valid set is `exceptions` plus every x >= `periodic_from` with x % modulus in residues.
    When `proved`, that description holds for every size; otherwise only inside `range`.
    """

    symbol: str
    axis: int
    range: tuple
    valid: list                      # valid sizes inside range, ascending
    minimum: int | None              # smallest valid size found (None: none in the searched sizes)
    modulus: int = 1
    residues: tuple = (0,)
    periodic_from: int | None = None  # None: no periodic tail (finitely many valid sizes)
    exceptions: list = field(default_factory=list)
    proved: bool = False
    method: str = "enumeration"
    searched: tuple = (1, 1)         # sizes evaluated exactly (may extend past range for a proof)
    statement: str = ""
    reasons: list = field(default_factory=list)
    # valid(x) for sizes beyond `searched` when proved; inside, the enumeration decides
    _table: dict = field(default_factory=dict, repr=False)

    def is_valid(self, x: int) -> bool | None:
        """True/False, or None when x lies outside what was searched and nothing was proved."""
        lo, hi = self.searched
        if lo <= x <= hi:
            return bool(self._table.get(x, False))
        if not self.proved or x < 1:
            return None if x >= 1 else False
        if x in self.exceptions:
            return True
        return (self.periodic_from is not None and x >= self.periodic_from
                and x % self.modulus in self.residues)

    def nearest(self, x: int) -> tuple:
        """(largest valid size below x, smallest above x); None where there is none (or none known)."""
        below = next((y for y in range(x - 1, 0, -1) if self.is_valid(y)), None)
        above = None
        y = x + 1
        limit = max(self.searched[1], x) + 4 * self.modulus + 2
        while y <= limit:
            if self.is_valid(y):
                above = y
                break
            y += 1
        return below, above

    @property
    def unconstrained(self) -> bool:
        return self.proved and self.minimum == 1 and self.modulus == 1 and not self.exceptions \
            and self.periodic_from == 1

    def to_dict(self) -> dict:
        return {
            "symbol": self.symbol, "axis": self.axis, "statement": self.statement,
            "minimum": self.minimum, "modulus": self.modulus, "residues": list(self.residues),
            "periodic_from": self.periodic_from, "exceptions": list(self.exceptions),
            "proved": self.proved, "method": self.method,
            "range": list(self.range), "valid_in_range": intervals(self.valid),
            "valid_count": len(self.valid), "range_size": self.range[1] - self.range[0] + 1,
            "reasons": [r.to_dict() for r in self.reasons],
        }


@dataclass
class JointRule:
    """A rule that ties several dims together (e.g. a written in_features after Flatten)."""

    symbols: tuple
    statement: str
    reasons: list
    blocks: list            # [{symbol: [[lo, hi], ...]}, ...]: valid combinations in range
    method: str = "enumeration"
    complete: bool = True   # False when the product of ranges was too large to enumerate
    _check: object = field(default=None, repr=False)

    def is_valid(self, values: dict) -> bool:
        return bool(self._check(*[values[s] for s in self.symbols]))

    def to_dict(self) -> dict:
        return {"symbols": list(self.symbols), "statement": self.statement, "method": self.method,
                "complete": self.complete, "valid_in_range": self.blocks,
                "reasons": [r.to_dict() for r in self.reasons]}


@dataclass
class Violation:
    """A concrete size that breaks a rule, with the nearest sizes that satisfy it."""

    symbol: str | None
    value: object
    statement: str
    reasons: list
    below: object = None
    above: object = None

    def suggestion(self) -> str:
        options = [str(v) for v in (self.below, self.above) if v is not None]
        return "use " + " or ".join(options) if options else "no valid size is known nearby"

    def text(self) -> str:
        head = f"{self.symbol}={self.value}" if self.symbol else str(self.value)
        why = "; ".join(r.text for r in self.reasons)
        return f"{head} is not valid: {self.suggestion()} ({self.statement}{': ' + why if why else ''})"

    def to_dict(self) -> dict:
        return {"symbol": self.symbol, "value": self.value, "statement": self.statement,
                "below": self.below, "above": self.above, "reasons": [r.to_dict() for r in self.reasons]}


@dataclass
class Constraints:
    network: str
    input_shape: tuple          # with symbol names for the free dims
    declared: tuple | None      # the spec's concrete input, when it has one
    dims: list                  # DimRule per free symbol
    joint: list                 # JointRule
    conditions: list            # every recorded dims.Condition (sympy relation, message, layer)
    output_shape: tuple = ()
    notes: list = field(default_factory=list)
    given: tuple | None = None             # a concrete input to check (the --input, or the declared one)
    given_violations: list = field(default_factory=list)

    def dim(self, symbol: str) -> DimRule:
        for d in self.dims:
            if d.symbol == symbol:
                return d
        raise KeyError(symbol)

    def is_valid(self, values: dict) -> bool | None:
        verdicts = [d.is_valid(values[d.symbol]) for d in self.dims if d.symbol in values]
        if any(v is False for v in verdicts):
            return False
        for j in self.joint:
            if all(s in values for s in j.symbols) and not j.is_valid(values):
                return False
        return None if any(v is None for v in verdicts) else True

    def violations(self, values: dict) -> list:
        """The rules that these concrete sizes break, each with the nearest valid sizes."""
        out = []
        for d in self.dims:
            x = values.get(d.symbol)
            if x is None or d.is_valid(x) is not False:
                continue
            below, above = d.nearest(x)
            out.append(Violation(d.symbol, x, d.statement, d.reasons, below, above))
        for j in self.joint:
            if all(s in values for s in j.symbols) and not j.is_valid(values):
                near = nearest_joint(j, values, self)
                out.append(Violation(None, _tuple_str(j.symbols, values), j.statement, j.reasons, near, None))
        return out

    @property
    def valid_somewhere(self) -> bool:
        if any(not d.valid for d in self.dims):
            return False
        return all(j.blocks or not j.complete for j in self.joint)

    def to_dict(self) -> dict:
        return {
            "network": self.network,
            "input": [d if isinstance(d, int) else str(d) for d in self.input_shape],
            "declared_input": list(self.declared) if self.declared else None,
            "dims": [d.to_dict() for d in self.dims],
            "joint": [j.to_dict() for j in self.joint],
            "valid_somewhere_in_range": self.valid_somewhere,
            "given_input": list(self.given) if self.given else None,
            "given_input_valid": (not self.given_violations) if self.given else None,
            "given_input_violations": [v.to_dict() for v in self.given_violations],
            "output": [d if isinstance(d, int) else str(d) for d in self.output_shape],
            "conditions": [{"layer": c.layer, "condition": _show(c.expr), "message": c.message}
                           for c in self.conditions],
            "notes": list(self.notes),
        }


def _show(expr) -> str:
    from .explain import show
    return show(expr)


def nearest_joint(rule: JointRule, values: dict, constraints: Constraints):
    """The valid combination closest to `values` (sum of absolute differences) inside the range."""
    best, best_cost = None, None
    for block in rule.blocks:
        cand = {}
        for s in rule.symbols:
            x = values[s]
            options = []
            for lo, hi in block[s]:
                options.append(min(max(x, lo), hi))
            cand[s] = min(options, key=lambda y: abs(y - x))
        cost = sum(abs(cand[s] - values[s]) for s in rule.symbols)
        if best_cost is None or cost < best_cost:
            best, best_cost = cand, cost
    return None if best is None else _tuple_str(rule.symbols, best)


def _tuple_str(symbols, values) -> str:
    return ", ".join(f"{s}={values[s]}" for s in symbols)


def intervals(xs) -> list:
    """Sorted ints -> [[lo, hi], ...] runs of consecutive values."""
    out = []
    for x in xs:
        if out and x == out[-1][1] + 1:
            out[-1][1] = x
        else:
            out.append([x, x])
    return out


def intervals_text(xs, limit: int = 8) -> str:
    """'4..7, 28..31' or, for an arithmetic progression, '16, 32, 48, ..., 1024 (64 sizes)'."""
    runs = intervals(xs)
    if len(runs) > limit and all(a == b for a, b in runs):
        step = xs[1] - xs[0]
        if all(b - a == step for a, b in zip(xs, xs[1:])):
            return f"{xs[0]}, {xs[1]}, {xs[2]}, ..., {xs[-1]} ({len(xs)} sizes)"
    parts = [f"{a}" if a == b else f"{a}..{b}" for a, b in runs[:limit]]
    if len(runs) > limit:
        parts.append(f"... ({len(xs)} sizes in {len(runs)} runs)")
    return ", ".join(parts)
