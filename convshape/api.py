"""The Python entry point: `analyze` takes whatever a notebook has at hand (a path, `zoo:NAME`,
spec text, a Network, an nn.Module or `package.module:factory`) and a shape as text or a tuple."""
from __future__ import annotations

from . import analysis
from .errors import SpecError
from .graph import Network


def as_shape(input_shape):
    """'1,3,224,224' / '1x3x224x224' / (1, 3, 'H', 'W') -> tuple of ints and symbol names."""
    if input_shape is None:
        return None
    if isinstance(input_shape, str):
        from .spec import parse_input_shape
        return parse_input_shape(input_shape)
    try:
        shape = tuple(input_shape)
    except TypeError:
        raise SpecError(f"input_shape must be a string like '1,3,224,224' or a tuple, got {input_shape!r}") from None
    for d in shape:
        if isinstance(d, bool) or not (isinstance(d, str) and d.isidentifier() or isinstance(d, int) and d >= 1):
            raise SpecError(f"input_shape {shape!r}: {d!r} is not a positive int or a symbol name")
    return shape


def as_network(spec, input_shape=None, kwargs: dict | None = None) -> Network:
    """A Network from a Network, an nn.Module (traced at input_shape), `package.module:factory`,
    a path or `zoo:NAME`, or spec text (YAML/JSON: anything with a line break or a brace)."""
    from .spec import load, loads
    from .spec.factory import is_factory_ref, load_factory
    if isinstance(spec, Network):
        return spec
    if hasattr(spec, "forward") and hasattr(spec, "named_modules"):  # an nn.Module, without importing torch
        if input_shape is None or not all(isinstance(d, int) for d in input_shape):
            raise SpecError("analyzing an nn.Module traces it: give a concrete input_shape, e.g. '1,3,224,224'")
        from .torch.importer import from_torch
        return from_torch(spec, tuple(input_shape))
    if hasattr(spec, "__fspath__"):
        spec = str(spec)
    if not isinstance(spec, str):
        raise SpecError(f"cannot analyze a {type(spec).__name__}: give a path, 'zoo:NAME', spec text, a Network "
                        f"or an nn.Module")
    if "\n" in spec or spec.lstrip().startswith("{"):
        return loads(spec)
    if is_factory_ref(spec):
        return load_factory(spec, input_shape, kwargs)
    return load(spec)


def analyze(spec, input_shape=None, dtype: str = "float32", on_error: str = "raise", *,
            kwargs: dict | None = None):
    """Shapes, parameters, MACs/FLOPs, memory and receptive field of every layer: a Report.

        >>> import convshape
        >>> r = convshape.analyze("zoo:resnet18", "1,3,224,224")
        >>> r.totals.params
        11689512
        >>> convshape.analyze("zoo:resnet18", "N,3,H,W").at(N=1, H=224, W=224).totals.macs
        1814073344

    spec: a path, `zoo:NAME`, spec text, a Network, an nn.Module (traced at input_shape) or
    `package.module:factory` (called with `kwargs`). input_shape: '1,3,224,224', 'N,3,H,W' or a
    tuple; default the spec's own. A shape of another rank than the declared input is refused.
    on_error="stop" returns the layers before a failing one, with the error in `report.failure`.
    """
    from .spec import check_input_rank
    shape = as_shape(input_shape)
    network = as_network(spec, shape, kwargs)
    check_input_rank(network, shape, what="input_shape")
    return analysis.analyze(network, shape, dtype=dtype, on_error=on_error)
