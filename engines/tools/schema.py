"""A small JSON-schema checker for tool arguments (the subset tools use).

Supports object schemas with `properties`, `required`, `additionalProperties: false`, and
per-property `type` (string, number, integer, boolean, array, object), `enum`, `maxLength`.
Numbers given as numeric strings are coerced for number/integer properties, because small
models and users both write "3".
"""

from __future__ import annotations

_TYPES = {"string": str, "number": (int, float), "integer": int, "boolean": bool, "array": list, "object": dict}


class SchemaError(ValueError):
    """Arguments that do not fit the tool's schema (the message names the argument)."""


def validate_args(schema: dict, args) -> dict:
    if not isinstance(args, dict):
        raise SchemaError(f"arguments must be a JSON object, got {type(args).__name__}")
    props = schema.get("properties", {})
    out = dict(args)
    for name in schema.get("required", []):
        if name not in out or out[name] in (None, ""):
            raise SchemaError(f"missing required argument {name!r}")
    if schema.get("additionalProperties") is False:
        extra = sorted(set(out) - set(props))
        if extra:
            raise SchemaError(f"unknown argument(s) {extra}; expected {sorted(props)}")
    for name, value in list(out.items()):
        spec = props.get(name)
        if not spec:
            continue
        typ = spec.get("type")
        if typ in ("number", "integer") and isinstance(value, str):
            try:
                value = int(value) if typ == "integer" else float(value)
            except ValueError:
                raise SchemaError(f"argument {name!r} must be a {typ}, got {value!r}") from None
            out[name] = value
        want = _TYPES.get(typ)
        if want and (not isinstance(value, want) or (typ != "boolean" and isinstance(value, bool))):
            raise SchemaError(f"argument {name!r} must be a {typ}, got {type(value).__name__}")
        if "enum" in spec and value not in spec["enum"]:
            raise SchemaError(f"argument {name!r} must be one of {spec['enum']}, got {value!r}")
        if "maxLength" in spec and isinstance(value, str) and len(value) > spec["maxLength"]:
            raise SchemaError(f"argument {name!r} is longer than {spec['maxLength']} characters")
    return out
