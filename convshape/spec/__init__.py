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
    """`1,3,224,224`, `N,3,H,W` or `1x3x224x224` / `1×3×224×224` (as tables print shapes) -> tuple
    of ints and symbol names."""
    sep = "," if "," in (text or "") else ("×" if "×" in (text or "") else "x")
    if sep == "x" and not all(p.strip().isdigit() for p in (text or "").split("x")):
        sep = ","  # "x" splits only all-number shapes: N,3,Hx is a symbol name
    parts = [p.strip() for p in text.split(sep)] if text else []
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


RANK_NAMES = {2: "N,F", 3: "N,C,L", 4: "N,C,H,W", 5: "N,C,D,H,W"}


def check_input_rank(network: Network, shape, what: str = "--input") -> None:
    """Refuse an input shape whose rank differs from the declared one, before analysis misreads it
    (1,3,224 for an image network would be an unbatched 1-channel 3×224 image)."""
    declared = tuple(network.input_shape or ())
    if shape is None or not declared or len(shape) == len(declared):
        return
    takes = RANK_NAMES.get(len(declared), f"a {len(declared)}-D input")
    shown = ",".join(str(d) for d in declared)
    raise SpecError(f"the network takes {takes} (declared {shown}); {what} has {len(shape)} "
                    f"dim{'s' if len(shape) != 1 else ''}: {','.join(str(d) for d in shape)}", file=network.file)


__all__ = ["check_input_rank", "load", "loads", "zoo_names", "read_source", "parse_input_shape", "detect_format"]
