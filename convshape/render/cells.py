"""Cell text shared by the human-facing renderers (table, markdown, mermaid).

Machine formats (json, csv) keep `dims.to_json`'s sympy-parseable strings; people get
`⌊H/2⌋` for floor(H/2), `⌈x⌉` for ceiling(x), `·` for `*` and `^` for `**`.
"""
from __future__ import annotations

from ..dims import to_json

_BRACKETS = {"floor(": ("⌊", "⌋"), "ceiling(": ("⌈", "⌉")}


def readable(expr: str) -> str:
    """A sympy expression string with floor/ceiling as brackets and `·` for multiplication."""
    for head, op in (("Eq(", " = "), ("Ne(", " ≠ ")):
        if expr.startswith(head) and _matching(expr, len(head) - 1) == len(expr) - 1:
            left, right = _split_top(expr[len(head):-1])
            return readable(left) + op + readable(right)
    out = []
    i = 0
    while i < len(expr):
        for head, (left, right) in _BRACKETS.items():
            if expr.startswith(head, i) and (i == 0 or not (expr[i - 1].isalnum() or expr[i - 1] == "_")):
                close = _matching(expr, i + len(head) - 1)
                out.append(left + readable(expr[i + len(head):close]) + right)
                i = close + 1
                break
        else:
            out.append(expr[i])
            i += 1
    return "".join(out).replace("**", "^").replace("*", "·")


def _matching(text: str, open_at: int) -> int:
    depth = 0
    for j in range(open_at, len(text)):
        if text[j] == "(":
            depth += 1
        elif text[j] == ")":
            depth -= 1
            if depth == 0:
                return j
    return len(text) - 1


def _split_top(args: str) -> tuple[str, str]:
    """Split `a, b` at its top-level comma."""
    depth = 0
    for j, ch in enumerate(args):
        depth += ch == "("
        depth -= ch == ")"
        if ch == "," and depth == 0:
            return args[:j].strip(), args[j + 1:].strip()
    return args, ""


def dim(x) -> str:
    """One size: an int, or a readable expression."""
    v = to_json(x)
    return str(v) if isinstance(v, int) else readable(str(v))


def count(x) -> str:
    """A count with thousands separators: 25,557,032; symbolic counts as readable expressions."""
    v = to_json(x)
    return f"{v:,}" if isinstance(v, int) else readable(str(v))


def human(x, binary: bool = False) -> str:
    """3 significant digits with an SI (k, M, G, T) or binary (KiB, MiB, GiB) unit: 4.09 G, 143 MiB;
    below 1000 (1024) the exact int; symbolic counts as readable expressions."""
    v = to_json(x)
    if not isinstance(v, int):
        return readable(str(v))
    base, units = (1024, ("B", "KiB", "MiB", "GiB", "TiB", "PiB")) if binary else \
        (1000, ("", "k", "M", "G", "T", "P"))
    if abs(v) < base:
        return f"{v} B" if binary else str(v)
    value, i = float(v), 0
    while abs(value) >= base and i < len(units) - 1:
        value /= base
        i += 1
    digits = f"{value:.3g}" if abs(value) < 1000 else f"{value:.0f}"
    return f"{digits} {units[i]}"


def percent(part, whole) -> str:
    """Share of the total, 1 decimal: 6.5%; '' when symbolic, '-' when the total is 0."""
    p, w = to_json(part), to_json(whole)
    if not isinstance(p, int) or not isinstance(w, int):
        return ""
    return "-" if w == 0 else f"{100 * p / w:.1f}%"


def shape(s) -> str:
    """1×64×112×112, or N×64×⌊H/2⌋×⌊W/2⌋."""
    return "×".join(dim(d) for d in s) if s else "scalar"


def rf_size(rf) -> str:
    """Receptive field size per spatial axis (7×7), `global` when it covers the whole input,
    `-` when the tensor has no spatial axes left; † marks a merge of paths that are not aligned."""
    if rf.is_global:
        text = "global"
    elif not rf.size:
        text = "-"
    else:
        text = "×".join(_grouped(s) for s in rf.size)
    return text + ("†" if rf.aligned is False else "")


def _grouped(x) -> str:
    """A size with thousands separators (receptive fields reach 1,000s of pixels)."""
    v = to_json(x)
    return f"{v:,}" if isinstance(v, int) else dim(x)


def rf_stride(rf) -> str:
    """Effective stride (jump) per spatial axis: 2×2; fractional after transposed convolutions."""
    if not rf.stride:
        return "-"
    return "×".join(dim(s) for s in rf.stride)


def kind(row) -> str:
    """Layer type, or block type with its repeat count for a collapsed row: Bottleneck ×3."""
    if row.repeat:
        return f"{row.type} ×{row.repeat}"
    marks = ([f"shares {row.shares}"] if getattr(row, "shares", None) else []) + \
        (["frozen"] if getattr(row, "frozen", False) else [])
    return f"{row.type} ({', '.join(marks)})" if marks else row.type


UNALIGNED_NOTE = "† the paths into this merge differ in stride or centre (receptive field is their union)"
