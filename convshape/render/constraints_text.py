"""`convshape constraints --format text`: the size rules, their reasons, and how they were found."""
from __future__ import annotations

from ..constraints.explain import show
from ..constraints.model import intervals_text


def _shape(shape) -> str:
    return "[" + ", ".join(str(d) for d in shape) + "]"


def render(c) -> str:
    lines = [f"{c.network}: input {_shape(c.input_shape)}"]
    for d in c.dims:
        lo, hi = d.range
        lines.append(f"  {d.symbol}: {d.statement}")
        for r in d.reasons:
            lines.append(f"      because {r.text}")
        if d.method == "not derived":
            how = "not derived: nothing is claimed for other sizes"
        elif d.proved and d.searched[1] < d.searched[0]:  # nothing enumerated: a contradiction
            how = "proved for every size (the symbolic analysis fails whatever the size)"
        elif d.proved:
            how = "proved for every size (closed form, checked exactly against every size up to " \
                  f"{d.searched[1]})"
        else:
            how = f"exact enumeration of {d.searched[0]}..{d.searched[1]}; not proved beyond"
        lines.append(f"      {how}")
        if d.method == "not derived":
            continue
        lines.append(f"      valid in {lo}..{hi}: {len(d.valid)} of {hi - lo + 1}"
                     + (f" ({intervals_text(d.valid)})" if d.valid and len(d.valid) < hi - lo + 1 else ""))
    for j in c.joint:
        lines.append(f"  {' and '.join(j.symbols)}: {j.statement}")
        for r in j.reasons:
            lines.append(f"      because {r.text}")
        if not j.complete:
            lines.append("      too many combinations to enumerate in the ranges; narrow them with --range")
        elif not j.blocks:
            lines.append("      no combination in the ranges works")
        else:
            shown = j.blocks[:6]
            parts = [" × ".join(f"{s} {intervals_text([x for a, b in blk[s] for x in range(a, b + 1)], 4)}"
                                for s in j.symbols) for blk in shown]
            more = f" (+{len(j.blocks) - len(shown)} more)" if len(j.blocks) > len(shown) else ""
            lines.append(f"      valid in the ranges (exact enumeration): {'; '.join(parts)}{more}")
    if not c.dims and not c.joint:
        lines.append("  no free input dims: nothing to derive (give symbols with --input, e.g. N,3,H,W)")
    if c.given is not None:
        if c.given_violations:
            lines.append(f"  input {_shape(c.given)}: not valid")
            for v in c.given_violations:
                lines.append(f"      {v.symbol + '=' + str(v.value) if v.symbol else v.value} is not valid: "
                             f"{v.suggestion()}")
        else:
            lines.append(f"  input {_shape(c.given)}: valid")
    lines.append(f"  output: {_shape([show(d) if not isinstance(d, int) else d for d in c.output_shape])}")
    for n in c.notes:
        lines.append(f"  note: {n}")
    return "\n".join(lines) + "\n"
