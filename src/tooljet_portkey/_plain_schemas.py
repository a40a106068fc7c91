"""Decide the plain schemas of the spec without jsonschema, so that a plain query loads none of it.

Most of what a host sends is checked by schemas of a few keywords: a model name's text and pattern,
max_tokens' bounds, a chat message's type, role word and content. ``plain_verdict`` decides those at
Python speed, with no import: importing and compiling jsonschema and referencing was a third of a
fresh process's first query. It answers True (valid), False (invalid) or None (a keyword or a shape
it does not decide: a recursive ``$ref``, ``prefixItems``, an enum of numbers); only True is trusted
alone. On False or None the spec asks jsonschema, which builds the error the host sees, so every
verdict and every message stays jsonschema's (tests/unit/test_validation_limits.py holds the two
to the same verdict).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

from ._constants import MAX_JSON_DEPTH

__all__ = ["ecma_search", "plain_verdict"]

# Keywords that say nothing about validity
_ANNOTATIONS = frozenset({"$id", "title", "description", "definitions", "errorMessage"})

_TYPES: dict[str, Callable[[Any], bool]] = {
    "string": lambda v: isinstance(v, str),
    "object": lambda v: isinstance(v, dict),
    "array": lambda v: isinstance(v, list),
    "boolean": lambda v: isinstance(v, bool),
    "null": lambda v: v is None,
    "number": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
    "integer": lambda v: (
        (isinstance(v, int) and not isinstance(v, bool)) or (isinstance(v, float) and v.is_integer())
    ),
}

_LIMITS: dict[str, tuple[str, Callable[[Any, Any], bool]]] = {
    "minLength": ("string", lambda value, limit: len(value) >= limit),
    "maxLength": ("string", lambda value, limit: len(value) <= limit),
    "minItems": ("array", lambda value, limit: len(value) >= limit),
    "maxItems": ("array", lambda value, limit: len(value) <= limit),
    "minProperties": ("object", lambda value, limit: len(value) >= limit),
    "maxProperties": ("object", lambda value, limit: len(value) <= limit),
    "minimum": ("number", lambda value, limit: value >= limit),
    "maximum": ("number", lambda value, limit: value <= limit),
    "exclusiveMinimum": ("number", lambda value, limit: value > limit),
    "exclusiveMaximum": ("number", lambda value, limit: value < limit),
}


def ecma_search(regex: str, text: str) -> bool:
    """Whether a JSON Schema ``pattern`` finds a match in ``text``. JSON Schema's (ECMA 262) ``$`` is
    the end of the text; Python's also matches before a final newline, which would let "vk-key\\n"
    through to a header that httpx then refuses."""
    if regex.endswith("$") and not regex.endswith("\\$"):
        regex = regex[:-1] + "\\Z"
    return re.search(regex, text) is not None


def _all(verdicts: Any) -> bool | None:
    """True when every verdict is True, False as soon as one is False, else None."""
    unknown = False
    for verdict in verdicts:
        if verdict is False:
            return False
        if verdict is None:
            unknown = True
    return None if unknown else True


def plain_verdict(schema: Any, value: Any, depth: int = 0) -> bool | None:
    """Whether ``value`` satisfies ``schema``, as jsonschema (Draft 2020-12) decides; None when this
    function does not decide it."""
    if schema is True or schema == {}:
        return True
    if schema is False:
        return False
    if not isinstance(schema, Mapping) or depth > MAX_JSON_DEPTH:
        return None
    unknown = False
    for keyword, argument in schema.items():
        verdict = _keyword(keyword, argument, schema, value, depth)
        if verdict is False:
            return False
        if verdict is None:
            unknown = True
    return None if unknown else True


def _type_check(argument: Any) -> Callable[[Any], bool] | None:
    """What a ``type`` keyword checks of a value (one type's name, or a list of them); None when a name
    is not one this module decides."""
    if isinstance(argument, str):  # the usual case, without a list of one
        return _TYPES.get(argument)
    kinds = argument if isinstance(argument, list) else [argument]
    checks = [_TYPES.get(kind) for kind in kinds]
    if None in checks:
        return None
    return lambda value: any(check(value) for check in checks if check is not None)


def _keyword(keyword: str, argument: Any, schema: Mapping[str, Any], value: Any, depth: int) -> bool | None:
    if keyword in _ANNOTATIONS:
        return True
    if keyword in _LIMITS:
        kind, holds = _LIMITS[keyword]
        return holds(value, argument) if _TYPES[kind](value) else True
    if keyword == "type":
        check = _type_check(argument)
        return None if check is None else check(value)
    if keyword == "enum":
        if isinstance(value, str) and all(isinstance(choice, str) for choice in argument):
            return value in argument
        return None
    if keyword == "pattern":
        return ecma_search(argument, value) if isinstance(value, str) else True
    if keyword == "required":
        return all(name in value for name in argument) if isinstance(value, dict) else True
    if keyword == "properties":
        if not isinstance(value, dict):
            return True
        return _all(plain_verdict(argument[k], v, depth + 1) for k, v in value.items() if k in argument)
    if keyword == "additionalProperties":
        if not isinstance(value, dict):
            return True
        known = schema.get("properties", {})
        if "patternProperties" in schema:
            return None
        return _all(plain_verdict(argument, v, depth + 1) for k, v in value.items() if k not in known)
    if keyword == "propertyNames":
        return _all(plain_verdict(argument, k, depth + 1) for k in value) if isinstance(value, dict) else True
    if keyword == "items":
        if "prefixItems" in schema:
            return None
        if isinstance(value, list) and isinstance(argument, Mapping) and argument.keys() == {"type"}:
            # items of a type alone (a batch's 50,000 rows of text or objects): the type's check is
            # found once, not once an item
            check = _type_check(argument["type"]) if depth < MAX_JSON_DEPTH else None
            if check is not None:
                return all(map(check, value))
        return (
            _all(plain_verdict(argument, item, depth + 1) for item in value)
            if isinstance(value, list)
            else True
        )
    if keyword == "allOf":
        return _all(plain_verdict(part, value, depth + 1) for part in argument)
    if keyword == "not":
        inner = plain_verdict(argument, value, depth + 1)
        return None if inner is None else not inner
    if keyword == "if":
        condition = plain_verdict(argument, value, depth + 1)
        if condition is None:
            return None
        branch = schema.get("then" if condition else "else", True)
        return plain_verdict(branch, value, depth + 1)
    if keyword in ("then", "else"):
        return True  # decided with "if"; alone they do nothing
    return None  # $ref, prefixItems, a keyword not listed: jsonschema decides
