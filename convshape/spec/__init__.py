"""Spec loading: text -> plain data with positions -> Network of validated layer models."""
from __future__ import annotations

from importlib import resources

from ..errors import SpecError
from ..gcpause import paused_gc
from ..graph import Network
from .network import build_network
from .source import decode, detect_format, parse_text, read_file

ZOO_PREFIX = "zoo:"


def zoo_names() -> list[str]:
    files = resources.files("convshape.zoo")
    return sorted(p.name[:-5] for p in files.iterdir() if p.name.endswith(".yaml"))


def read_source(ref: str) -> tuple[str, str]:
    """Return (text, display name) for a path or `zoo:NAME`."""
    if ref.startswith(ZOO_PREFIX):
        name = ref[len(ZOO_PREFIX):]
        res = resources.files("convshape.zoo").joinpath(name + ".yaml")
        if not res.is_file():
            from .network import suggest
            raise SpecError(f"no zoo network '{name}'{suggest(name, zoo_names())} "
                            f"(see `convshape zoo`)", file=ref)
        return decode(res.read_bytes(), ref), ref
    return read_file(ref)


def load(ref: str, input_shape=None) -> Network:
    """Load a spec from a file path or `zoo:NAME` into a Network."""
    text, name = read_source(ref)
    return loads(text, name=name, input_shape=input_shape)


def loads(text: str, name: str = "<spec>", fmt: str | None = None, input_shape=None) -> Network:
    with paused_gc():
        data, smap = parse_text(text, name, fmt)
        return build_network(data, smap, input_override=input_shape)


def parse_input_shape(text: str) -> tuple:
    """`1,3,224,224` or `N,3,H,W` (from --input) -> tuple of ints and symbol names."""
    parts = [p.strip() for p in text.split(",")] if text else []
    if not parts or any(not p for p in parts):
        raise SpecError(f"--input {text!r}: expected sizes separated by commas, e.g. 1,3,224,224 or N,3,H,W")
    out = []
    for p in parts:
        if p.isdigit():
            v = int(p)
            if v < 1:
                raise SpecError(f"--input {text!r}: sizes must be >= 1, got {v}")
            out.append(v)
        elif p.isidentifier():
            out.append(p)
        else:
            raise SpecError(f"--input {text!r}: {p!r} is not a positive int or a symbol name")
    return tuple(out)


__all__ = ["load", "loads", "zoo_names", "read_source", "parse_input_shape", "detect_format"]
