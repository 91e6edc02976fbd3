"""Request validation shared by the fakes: flat field specs and a small JSON-Schema checker.

Segmind and PixelDojo document flat parameter lists (name, type, allowed values, range); a
`Field` table per model checks a JSON or form body against one. Apiframe publishes a real
JSON Schema, so `schema_errors` walks the subset of JSON Schema its OpenAPI uses and reports
errors keyed by JSON path, the way Apiframe's Zod validation does.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import urlsplit

from .images import is_image

# The ":" ratios Segmind, PixelDojo and Replicate accept for ideogram-character.
ASPECT_RATIOS = (
    "1:3", "3:1", "1:2", "2:1", "9:16", "16:9", "10:16",
    "16:10", "2:3", "3:2", "3:4", "4:3", "4:5", "5:4", "1:1",
)  # fmt: skip

# Ideogram 3.0's ResolutionV3 enum (reference/ideogram-openapi.yml), plus "None" = "use the
# aspect ratio". These are the 70 values Segmind's ideogram-character page counts.
RESOLUTIONS = (
    "None", "512x1536", "576x1408", "576x1472", "576x1536", "640x1344", "640x1408", "640x1472",
    "640x1536", "704x1152", "704x1216", "704x1280", "704x1344", "704x1408", "704x1472", "736x1312",
    "768x1088", "768x1216", "768x1280", "768x1344", "800x1280", "832x960", "832x1024", "832x1088",
    "832x1152", "832x1216", "832x1248", "864x1152", "896x960", "896x1024", "896x1088", "896x1120",
    "896x1152", "960x832", "960x896", "960x1024", "960x1088", "1024x832", "1024x896", "1024x960",
    "1024x1024", "1088x768", "1088x832", "1088x896", "1088x960", "1120x896", "1152x704", "1152x832",
    "1152x864", "1152x896", "1216x704", "1216x768", "1216x832", "1248x832", "1280x704", "1280x768",
    "1280x800", "1312x736", "1344x640", "1344x704", "1344x768", "1408x576", "1408x640", "1408x704",
    "1472x576", "1472x640", "1472x704", "1536x512", "1536x576", "1536x640",
)  # fmt: skip

Kind = Literal["str", "int", "number", "bool", "url", "image"]


class FieldError(ValueError):
    """One invalid field; the message names the field and what was wrong."""


@dataclass(frozen=True)
class Field:
    """One documented parameter.

    `image` accepts an http(s) URL, or in a form body an uploaded file that must decode as an
    image; `url` accepts only an http(s) URL.
    """

    kind: Kind
    required: bool = False
    choices: tuple[str, ...] | None = None
    minimum: float | None = None
    maximum: float | None = None


def is_http_url(value: object) -> bool:
    if not isinstance(value, str):
        return False
    parts = urlsplit(value)
    return parts.scheme in ("http", "https") and bool(parts.netloc)


def check_fields(
    body: Mapping[str, Any], spec: Mapping[str, Field], *, form: bool
) -> dict[str, Any]:
    """Return the body with values converted to their documented types, or raise FieldError.

    `form` is True for multipart and url-encoded bodies, whose values arrive as text (or bytes
    for file parts) and are converted the way a form-reading server would.
    """
    unknown = sorted(set(body) - set(spec))
    if unknown:
        raise FieldError(f"unknown parameter(s): {', '.join(unknown)}")
    clean: dict[str, Any] = {}
    for name, field in spec.items():
        if name not in body or body[name] is None:
            if field.required:
                raise FieldError(f"{name}: this parameter is required")
            continue
        clean[name] = _convert(name, body[name], field, form=form)
    return clean


def _convert(name: str, value: Any, field: Field, *, form: bool) -> Any:
    if field.kind == "image" and isinstance(value, bytes):
        if not form:
            raise FieldError(f"{name}: expected a URL")
        if not is_image(value):
            raise FieldError(f"{name}: the uploaded file is not a PNG, JPEG, WebP or GIF image")
        return value
    if isinstance(value, bytes):
        raise FieldError(f"{name}: expected a value, received a file")
    converted = _convert_text(name, value, field.kind) if form else value
    _check_type(name, converted, field.kind)
    if field.kind == "str" and field.required and not converted.strip():
        # Only required text (the prompt) must say something; an empty negative_prompt is fine.
        raise FieldError(f"{name}: must not be empty")
    if field.choices is not None and converted not in field.choices:
        allowed = ", ".join(field.choices)
        raise FieldError(f"{name}: {converted!r} is not one of the allowed values ({allowed})")
    if field.minimum is not None and converted < field.minimum:
        raise FieldError(f"{name}: must be at least {field.minimum:g}")
    if field.maximum is not None and converted > field.maximum:
        raise FieldError(f"{name}: must be at most {field.maximum:g}")
    return converted


def _convert_text(name: str, text: str, kind: Kind) -> Any:
    try:
        if kind == "int":
            return int(text)
        if kind == "number":
            return float(text)
    except ValueError:
        raise FieldError(f"{name}: expected a number, received {text!r}") from None
    if kind == "bool":
        lowered = text.strip().lower()
        if lowered not in ("true", "false"):
            raise FieldError(f"{name}: expected true or false, received {text!r}")
        return lowered == "true"
    return text


def _check_type(name: str, value: Any, kind: Kind) -> None:
    # bool is a subclass of int in Python, but JSON true is never a valid integer.
    if kind == "int" and (not isinstance(value, int) or isinstance(value, bool)):
        raise FieldError(f"{name}: expected an integer")
    if kind == "number" and (not isinstance(value, int | float) or isinstance(value, bool)):
        raise FieldError(f"{name}: expected a number")
    if kind == "bool" and not isinstance(value, bool):
        raise FieldError(f"{name}: expected a boolean")
    if kind == "str" and not isinstance(value, str):
        raise FieldError(f"{name}: expected a string")
    if kind in ("url", "image") and not is_http_url(value):
        raise FieldError(f"{name}: expected an http(s) URL")


# JSON Schema (the subset Apiframe's OpenAPI uses) ------------------------------------------------

_JSON_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,),
    "integer": (int,),
    "number": (int, float),
    "boolean": (bool,),
    "object": (dict,),
    "array": (list,),
    "null": (type(None),),
}


def _json_type_name(value: Any) -> str:
    for name in ("null", "boolean", "integer", "number", "string", "object", "array"):
        if _matches_type(value, name):
            return name
    return type(value).__name__


def _matches_type(value: Any, name: str) -> bool:
    if name in ("integer", "number") and isinstance(value, bool):
        return False
    if name == "integer" and isinstance(value, float):
        return value.is_integer()
    return isinstance(value, _JSON_TYPES[name])


def schema_errors(value: Any, schema: Mapping[str, Any], path: str = "") -> dict[str, list[str]]:
    """Errors keyed by JSON path ("ideogramParams.rendering_speed"); empty when valid.

    Messages follow Zod's wording, since Apiframe validates with Zod and reports its messages;
    string lengths are counted as Zod counts them (`utf16_length`).
    An unknown key is reported under its own path, so a test can name the offending field.
    """
    errors: dict[str, list[str]] = {}

    def add(where: str, message: str) -> None:
        errors.setdefault(where or "(root)", []).append(message)

    types = schema.get("type")
    if types is not None:
        names = [types] if isinstance(types, str) else list(types)
        if not any(_matches_type(value, name) for name in names):
            add(path, f"Expected {' | '.join(names)}, received {_json_type_name(value)}")
            return errors
    if "enum" in schema and value not in schema["enum"]:
        options = " | ".join(repr(option) for option in schema["enum"])
        add(path, f"Invalid enum value. Expected {options}, received {value!r}")
    if isinstance(value, str):
        length = utf16_length(value)
        if length < schema.get("minLength", 0):
            add(path, f"String must contain at least {schema['minLength']} character(s)")
        if "maxLength" in schema and length > schema["maxLength"]:
            add(path, f"String must contain at most {schema['maxLength']} character(s)")
        if schema.get("format") == "uri" and not is_http_url(value):
            add(path, "Invalid url")
    if isinstance(value, list):
        if len(value) < schema.get("minItems", 0):
            add(path, f"Array must contain at least {schema['minItems']} element(s)")
        if "maxItems" in schema and len(value) > schema["maxItems"]:
            add(path, f"Array must contain at most {schema['maxItems']} element(s)")
        if "items" in schema:
            for index, item in enumerate(value):
                _merge(errors, schema_errors(item, schema["items"], _join(path, str(index))))
    if isinstance(value, dict):
        properties: Mapping[str, Any] = schema.get("properties", {})
        for key in schema.get("required", ()):
            if key not in value:
                add(_join(path, key), "Required")
        for key, item in value.items():
            if key in properties:
                _merge(errors, schema_errors(item, properties[key], _join(path, key)))
            elif schema.get("additionalProperties") is False:
                add(_join(path, key), f"Unrecognized key(s) in object: '{key}'")
    return errors


def utf16_length(text: str) -> int:
    """A string's length as Zod (JavaScript's `string.length`) counts it: UTF-16 code units, so
    a character outside the Basic Multilingual Plane, such as most emoji, counts twice."""
    return len(text.encode("utf-16-le")) // 2


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _merge(into: dict[str, list[str]], more: dict[str, list[str]]) -> None:
    for key, messages in more.items():
        into.setdefault(key, []).extend(messages)
