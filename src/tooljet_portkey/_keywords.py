"""Our implementations of some JSON Schema keywords: what they accept is jsonschema's, what they cost is not.

jsonschema builds each error's message with ``repr()`` of the value it checks: refusing an 8 MiB list
for its length would first print all of it, and a refused option would carry the user's text (perhaps
a key pasted into the wrong field) inside the error object. The plugin never shows these messages (it
describes an error from its keyword and the schema's limit), so the keywords the shipped schemas use
are replaced here by checks whose errors carry only the keyword's name. Two more changes:

- ``pattern``: JSON Schema's (ECMA 262) ``$`` is the end of the text. Python's ``$`` also matches
  before a final newline, which would let "vk-key\\n" through to a header that httpx then refuses.
- ``items``: an item schema made only of types, bounds, word enums and required names (a token's
  ``{"type": "integer", "minimum": 0}``, a chat message's) is first checked for the whole list by a
  quick test (for ints and strs at C speed), and item by item with jsonschema only where that test
  fails: a million tokens cost milliseconds, 100,000 messages a fraction of a second.

Importing this module imports jsonschema: only ``_spec.form_validator`` does, on first use.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from jsonschema.exceptions import ValidationError
from jsonschema.validators import extend

from ._constants import MAX_QUICK_CHECKS
from ._plain_schemas import ecma_search

__all__ = ["QUIET_KEYWORDS", "STRUCTURAL_KEYWORDS", "extended_validator"]

Keyword = Callable[[Any, Any, Any, Any], Iterator[ValidationError]]

# (JSON type the keyword applies to, whether the value fails the limit), as jsonschema decides it
_LIMITS: dict[str, tuple[str, Callable[[Any, Any], bool]]] = {
    "minLength": ("string", lambda value, limit: len(value) < limit),
    "maxLength": ("string", lambda value, limit: len(value) > limit),
    "minItems": ("array", lambda value, limit: len(value) < limit),
    "maxItems": ("array", lambda value, limit: len(value) > limit),
    "minProperties": ("object", lambda value, limit: len(value) < limit),
    "maxProperties": ("object", lambda value, limit: len(value) > limit),
    "minimum": ("number", lambda value, limit: value < limit),
    "maximum": ("number", lambda value, limit: value > limit),
    "exclusiveMinimum": ("number", lambda value, limit: value <= limit),
    "exclusiveMaximum": ("number", lambda value, limit: value >= limit),
}

# Keywords whose errors never print the value; the shipped schemas may use only these and the
# structural ones (a spec test holds them to it).
QUIET_KEYWORDS = frozenset({*_LIMITS, "type", "enum", "not", "pattern"})
# Keywords that only descend into parts of the value, or annotate: their errors come from the above.
STRUCTURAL_KEYWORDS = frozenset(
    {
        "$ref",
        "$id",
        "definitions",
        "properties",
        "additionalProperties",
        "propertyNames",
        "required",
        "items",
        "prefixItems",
        "allOf",
        "if",
        "then",
        "else",
        "title",
        "description",
        "errorMessage",  # ours: the words an error of this schema is described with (_schema_words)
    }
)


def _limit(name: str) -> Keyword:
    kind, fails = _LIMITS[name]

    def keyword(validator: Any, limit: Any, instance: Any, schema: Any) -> Iterator[ValidationError]:
        if validator.is_type(instance, kind) and fails(instance, limit):
            yield ValidationError(name)

    return keyword


def _type(validator: Any, types: Any, instance: Any, schema: Any) -> Iterator[ValidationError]:
    wanted = types if isinstance(types, list) else [types]
    if not any(validator.is_type(instance, kind) for kind in wanted):
        yield ValidationError("type")


def _enum_keyword(general: Keyword) -> Keyword:
    def enum(validator: Any, choices: Any, instance: Any, schema: Any) -> Iterator[ValidationError]:
        # text is equal only to text: the shipped enums are lists of words
        if isinstance(instance, str):
            if instance not in choices:
                yield ValidationError("enum")
        elif isinstance(instance, (dict, list)) and not any(isinstance(c, (dict, list)) for c in choices):
            yield ValidationError("enum")
        else:  # a number, true/false or null: small, and jsonschema's rules for them (1 == 1.0, True != 1)
            if next(iter(general(validator, choices, instance, schema)), None) is not None:
                yield ValidationError("enum")

    return enum


def _not(validator: Any, not_schema: Any, instance: Any, schema: Any) -> Iterator[ValidationError]:
    if validator.evolve(schema=not_schema).is_valid(instance):
        yield ValidationError("not")


def _pattern(validator: Any, regex: str, instance: Any, schema: Any) -> Iterator[ValidationError]:
    if isinstance(instance, str) and not ecma_search(regex, instance):
        yield ValidationError("pattern")


Check = Callable[[Any], bool]
Bounds = tuple[type, Any, Any]  # (exact type: int or str, lowest, highest), None for no bound

# The exact Python types json.loads gives for each JSON type (bool is not an integer to JSON Schema)
_EXACT_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,),
    "integer": (int,),
    "number": (int, float),
    "boolean": (bool,),
    "null": (type(None),),
    "array": (list,),
    "object": (dict,),
}
_BOUND_KEYWORDS = frozenset({"type", "minimum", "maximum", "minLength", "maxLength"})


@dataclass(frozen=True)
class _QuickCheck:
    """A test that is True only for items the schema surely accepts; anything else goes to jsonschema,
    which decides. ``bounds``, for an int or str item schema, lets a whole list be checked at C speed."""

    passes: Check
    bounds: Bounds | None = None

    def all_pass(self, items: list[Any]) -> bool:
        if self.bounds is None:
            return all(map(self.passes, items))
        kind, low, high = self.bounds
        if not items:
            return True
        if set(map(type, items)) != {kind}:
            return False
        sizes = items if kind is int else list(map(len, items))
        return (low is None or min(sizes) >= low) and (high is None or max(sizes) <= high)


def _within(bounds: Bounds, item: Any) -> bool:
    kind, low, high = bounds
    if type(item) is not kind:
        return False
    size = _size(item)
    return (low is None or size >= low) and (high is None or size <= high)


def _size(item: Any) -> int:
    """What an int's bounds apply to: itself; a str's: its length."""
    return item if isinstance(item, int) else len(item)


def _object_passes(required: tuple[str, ...], properties: dict[str, Check], item: Any) -> bool:
    if type(item) is not dict or any(name not in item for name in required):
        return False
    return all(check(item[name]) for name, check in properties.items() if name in item)


def _quick_check(schema: Any) -> _QuickCheck | None:
    """The quick test of an item schema made only of types, bounds, word enums, required names and
    such properties (a token, a text, a chat message); None for any other schema."""
    if not isinstance(schema, dict):
        return None
    keys, kind = schema.keys(), schema.get("type")
    if keys <= _BOUND_KEYWORDS and kind in ("integer", "string"):
        exact = int if kind == "integer" else str
        low, high = ("minimum", "maximum") if exact is int else ("minLength", "maxLength")
        bounds: Bounds = (exact, schema.get(low), schema.get(high))
        return _QuickCheck(functools.partial(_within, bounds), bounds)
    if keys == {"type"}:
        names: list[Any] = kind if isinstance(kind, list) else [kind]
        if not all(name in _EXACT_TYPES for name in names):
            return None
        types = frozenset(t for name in names for t in _EXACT_TYPES[name])
        return _QuickCheck(lambda item: type(item) in types)
    if keys == {"enum"} and all(isinstance(choice, str) for choice in schema["enum"]):
        words = frozenset(schema["enum"])
        return _QuickCheck(lambda item: type(item) is str and item in words)
    if kind == "object" and keys <= {"type", "required", "properties"}:
        checks = {name: _quick_check(inner) for name, inner in schema.get("properties", {}).items()}
        properties = {name: check.passes for name, check in checks.items() if check is not None}
        if len(properties) < len(checks):
            return None
        return _QuickCheck(functools.partial(_object_passes, tuple(schema.get("required", ())), properties))
    return None


# Compiled quick checks by the identity of their schema (kept alive beside it, so the id is never reused)
_quick_checks: dict[int, tuple[Any, _QuickCheck | None]] = {}


def _cached_quick_check(schema: Any) -> _QuickCheck | None:
    known = _quick_checks.get(id(schema))
    if known is None or known[0] is not schema:
        known = (schema, _quick_check(schema))
        if len(_quick_checks) < MAX_QUICK_CHECKS:
            _quick_checks[id(schema)] = known
    return known[1]


def _items_keyword(general: Keyword) -> Keyword:
    def items(validator: Any, item_schema: Any, instance: Any, schema: Any) -> Iterator[ValidationError]:
        check = _cached_quick_check(item_schema)
        if check is None or not isinstance(instance, list) or "prefixItems" in schema:
            yield from general(validator, item_schema, instance, schema)
            return
        if check.all_pass(instance):
            return
        for index, item in enumerate(instance):
            if not check.passes(item):
                yield from validator.descend(item, item_schema, path=index)

    return items


def extended_validator(base: Any) -> Any:
    """``base`` (a jsonschema validator class) with the keywords above."""
    keywords: dict[str, Keyword] = {name: _limit(name) for name in _LIMITS}
    keywords.update(
        type=_type,
        enum=_enum_keyword(base.VALIDATORS["enum"]),
        pattern=_pattern,
        items=_items_keyword(base.VALIDATORS["items"]),
    )
    keywords["not"] = _not
    return extend(base, keywords)  # type: ignore[no-untyped-call]
