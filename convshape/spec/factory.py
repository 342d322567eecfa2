"""Torch code as a spec: `package.module:factory` (with keyword arguments) -> nn.Module -> Network.

torch is imported only when such a reference is used; `is_factory_ref` decides without importing.
"""
from __future__ import annotations

import json
import os
import re

from ..errors import SpecError

_SPEC_FILE = re.compile(r"\.(ya?ml|json|toml)$", re.IGNORECASE)  # C:model.yaml is a (missing) file
_REF = re.compile(r"^[A-Za-z_][\w]*(\.[A-Za-z_][\w]*)*:[A-Za-z_][\w]*(\.[A-Za-z_][\w]*)*$")


def is_factory_ref(ref) -> bool:
    """`torchvision.models:resnet18` (not a path that exists, not zoo:NAME)."""
    return (isinstance(ref, str) and not ref.startswith("zoo:") and _REF.match(ref) is not None
            and not _SPEC_FILE.search(ref) and not os.path.exists(ref))


def parse_kwargs(text: str | None) -> dict:
    """--kwargs JSON -> dict (a one-line SpecError otherwise)."""
    if not text:
        return {}
    try:
        kwargs = json.loads(text)
    except json.JSONDecodeError as e:
        raise SpecError(f"--kwargs: not JSON ({e.msg} at column {e.colno})") from None
    if not isinstance(kwargs, dict):
        raise SpecError("--kwargs must be a JSON object")
    return kwargs


def make_module(ref: str, kwargs: dict | None = None):
    """Import `package.module`, look up `factory` and call it with kwargs (a class or a function);
    an nn.Module instance found there is used as it is."""
    import importlib
    mod_name, _, attr = ref.partition(":")
    if not mod_name or not attr:
        raise SpecError(f"{ref!r}: expected PKG.MODULE:FACTORY, e.g. torchvision.models:resnet50")
    try:
        import torch  # noqa: F401
    except ImportError:
        raise SpecError(f"{ref}: torch code as a spec needs PyTorch: pip install 'convshape[torch]'") from None
    try:
        target = importlib.import_module(mod_name)
    except ImportError as e:
        raise SpecError(f"cannot import module {mod_name!r}: {e}") from None
    for part in attr.split("."):
        if not hasattr(target, part):
            raise SpecError(f"module {mod_name!r} has no attribute {attr!r}")
        target = getattr(target, part)
    kwargs = kwargs or {}
    try:
        # a class (nn.Conv2d) or a function is called; an nn.Module instance is used as it is
        is_instance = hasattr(target, "forward") and not isinstance(target, type)
        return target if is_instance else target(**kwargs)
    except Exception as e:  # noqa: BLE001 - the user's factory: its error, in one line
        raise SpecError(f"{ref}(**{kwargs}) failed: {type(e).__name__}: {e}") from None


def load_factory(ref: str, input_shape, kwargs: dict | None = None, name: str | None = None):
    """The Network traced from `package.module:factory` at a concrete input shape."""
    if input_shape is None:
        raise SpecError(f"{ref}: torch code is traced at an input size: give one (--input 1,3,224,224)")
    if not all(isinstance(d, int) for d in input_shape):
        raise SpecError(f"{ref}: torch code is traced, so every size of the input must be a number")
    from ..torch.importer import from_torch
    network = from_torch(make_module(ref, kwargs), tuple(input_shape), name=name)
    network.file = ref
    return network
