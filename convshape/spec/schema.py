"""JSON Schema for spec files, generated from the layer models (one source of truth)."""
from __future__ import annotations

from ..layers import REGISTRY

_EXPR = {"type": "string", "description": "an expression over vars/block args, e.g. `planes * 4`"}


def _args_schema(cls) -> dict:
    schema = cls.model_json_schema()
    props = {}
    for name, prop in schema.get("properties", {}).items():
        props[name] = {"anyOf": [prop, _EXPR], "description": prop.get("description", "")}
    out = {"type": "object", "properties": props, "additionalProperties": False}
    required = schema.get("required")
    if required:
        out["required"] = required
    if "$defs" in schema:
        out["$defs"] = schema["$defs"]
    if cls.__doc__:
        out["description"] = cls.__doc__.strip().splitlines()[0]
    return out


def spec_schema() -> dict:
    kinds = sorted(REGISTRY)
    entry_variants = []
    for kind in kinds:
        entry_variants.append({
            "type": "object",
            "properties": {kind: {"anyOf": [_args_schema(REGISTRY[kind]), {"type": "null"}]},
                           **_ENTRY_META},
            "required": [kind],
            "additionalProperties": False,
        })
    block_entry = {
        "type": "object",
        "description": "a block instance: {BlockName: {arg: value}}",
        "minProperties": 1,
        "properties": _ENTRY_META,
        "additionalProperties": {"type": ["object", "null"]},
    }
    layer_entry = {"anyOf": [{"type": "string", "enum": kinds}, {"type": "string", "description": "a block name"},
                             *entry_variants, block_entry]}
    # Block names are defined by the document itself, which a schema cannot look up; so a document
    # without `blocks` admits layer types only, and an unknown type there is an error in the editor.
    layers_only = {"anyOf": [{"type": "string", "enum": kinds}, *entry_variants]}
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": "https://convshape.dev/schema/spec.json",
        "title": "convshape network spec",
        "type": "object",
        "properties": {
            "name": {"type": "string"},
            "description": {"type": "string"},
            "input": {"type": "array", "minItems": 1,
                      "items": {"anyOf": [{"type": "integer", "minimum": 1},
                                          {"type": "string", "pattern": "^[A-Za-z_][A-Za-z0-9_]*$"}]}},
            "vars": {"type": "object"},
            "blocks": {"type": "object", "additionalProperties": {
                "type": "object",
                "properties": {"args": {"type": "object"}, "description": {"type": "string"},
                               "layers": {"type": "array", "items": layer_entry, "minItems": 1}},
                "required": ["layers"], "additionalProperties": False}},
            "layers": {"type": "array", "items": layer_entry, "minItems": 1},
            "lint": {"type": "object"},
        },
        "required": ["input", "layers"],
        "additionalProperties": False,
        "if": {"not": {"required": ["blocks"]}},
        "then": {"properties": {"layers": {"items": layers_only}}},
    }


_ENTRY_META = {
    "name": {"type": "string"},
    "inputs": {"anyOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}]},
    "repeat": {"anyOf": [{"type": "integer", "minimum": 0}, {"type": "string"}]},
    "when": {"anyOf": [{"type": "boolean"}, {"type": "string"}]},
    "noqa": {"anyOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}]},
}
