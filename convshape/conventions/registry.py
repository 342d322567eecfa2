"""The registry of other tools' counting conventions: one rule per (tool, layer kind).

A rule gets a `Seen` (the layer model, its input and output shapes, its own parameter count)
and returns that tool's figure for the layer; `not_counted` declares kinds a tool does not count
(the figure is None, shown as "-"). A kind with neither is refused by name (ConventionError):
convshape never guesses another tool's number. Registering a (tool, kind) twice raises.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

from ..errors import ConventionError


@dataclass(frozen=True)
class Convention:
    tool: str           # the --convention key
    figure: str         # what the tool calls its number
    measures: str       # one line: what it counts, and in which version/mode
    rules: dict = field(default_factory=dict)        # kind -> rule(Seen) -> int
    not_counted: dict = field(default_factory=dict)  # kind -> why the tool counts nothing for it
    batch_one: bool = False   # the tool builds its own batch of 1 (ptflops): other batches are refused


@dataclass(frozen=True)
class Seen:
    """What a tool sees of one layer call."""
    layer: Any          # the convshape layer model (its torch constructor arguments)
    inputs: list        # input shapes
    output: tuple       # output shape
    params: Any         # this call's own parameter elements (a `shares` call counts its owner's)
    macs: Any           # convshape's MACs of the layer (docs/conventions.md)
    contiguous: bool = True   # False: the input may be a strided view (after a Permute or Narrow)


CONVENTIONS: dict[str, Convention] = {}


def convention(tool: str, figure: str, measures: str, batch_one: bool = False) -> Convention:
    if tool in CONVENTIONS:
        raise ValueError(f"convention {tool!r} is registered twice")
    CONVENTIONS[tool] = Convention(tool, figure, measures, batch_one=batch_one)
    return CONVENTIONS[tool]


def _claim(conv: Convention, kind: str) -> None:
    if kind in conv.rules or kind in conv.not_counted:
        raise ValueError(f"{conv.tool}: kind {kind!r} has two rules")


def rule(tool: str, *kinds: str) -> Callable:
    """Register `fn(seen) -> int` as `tool`'s figure for each of `kinds`."""
    def register(fn):
        for kind in kinds:
            _claim(CONVENTIONS[tool], kind)
            CONVENTIONS[tool].rules[kind] = fn
        return fn
    return register


def not_counted(tool: str, kinds, why: str) -> None:
    """Kinds `tool` gives no figure for (no hook, no handled op): shown as "-", named in the notes."""
    for kind in kinds:
        _claim(CONVENTIONS[tool], kind)
        CONVENTIONS[tool].not_counted[kind] = why


class Uncounted(str):
    """A rule's answer where the tool counts nothing for this configuration; the text says why."""


def figure_of(tool: str, kind: str, seen: Seen) -> tuple:
    """(`tool`'s figure for one layer, None) or (None, why the tool does not count it)."""
    conv = CONVENTIONS[tool]
    if kind in conv.not_counted:
        return None, conv.not_counted[kind]
    fn = conv.rules.get(kind)
    if fn is None:
        raise ConventionError(f"--convention {tool}: no rule for {kind}, so convshape cannot say what {tool} "
                              f"counts for it (kinds with a rule: docs/conventions.md)")
    value = fn(seen)
    return (None, str(value)) if isinstance(value, Uncounted) else (value, None)


def refuse(tool: str, kind: str, why: str):
    """A rule's refusal for one configuration it cannot reproduce exactly."""
    raise ConventionError(f"--convention {tool}: {kind} {why}")
