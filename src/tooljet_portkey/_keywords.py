"""Our implementations of some JSON Schema keywords: what they accept is jsonschema's, what they cost is not.

jsonschema builds each error's message with ``repr()`` of the value it checks: refusing an 8 MiB list
for its length would first print all of it, and a refused option would carry the user's text (perhaps
a key pasted into the wrong field) inside the error object. The plugin never shows these messages (it
describes an error from its keyword and the schema's limit), so the keywords the shipped schemas use
are replaced here by checks whose errors carry only the keyword's name. Two more changes:

- ``pattern``: JSON Schema's (ECMA 262) ``$`` is the end of the text. Python's ``$`` also matches
  before a final newline, which would let "vk-key\\n" through to a header that httpx then refuses.
- ``items``: an item schema of only a type and its bounds (a token array's ``{"type": "integer",
  "minimum": 0}``) is checked for the whole list at C speed first, and item by item with jsonschema
  only where that quick check fails: a list of a million tokens costs milliseconds, not seconds.

Importing this module imports jsonschema: only ``_spec._validator`` does, on first use.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from jsonschema.exceptions import ValidationError
from jsonschema.validators import extend

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
        "if",
        "then",
        "else",
        "title",
        "description",
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
    if not isinstance(instance, str):
        return
    if regex.endswith("$") and not regex.endswith("\\$"):
        regex = regex[:-1] + "\\Z"
    if re.search(regex, instance) is None:
        yield ValidationError("pattern")


@dataclass(frozen=True)
class _QuickCheck:
    """The bounds of a scalar item schema. ``passes`` is True only for values the schema surely
    accepts (exact ints, exact strs); anything else goes to jsonschema, which decides."""

    kind: type
    low: float | None
    high: float | None

    def passes(self, item: Any) -> bool:
        if type(item) is not self.kind:
            return False
        size = _size(item)
        return (self.low is None or size >= self.low) and (self.high is None or size <= self.high)

    def all_pass(self, items: list[Any]) -> bool:
        if not items:
            return True
        if set(map(type, items)) != {self.kind}:
            return False
        sizes = items if self.kind is int else list(map(len, items))
        return (self.low is None or min(sizes) >= self.low) and (self.high is None or max(sizes) <= self.high)


def _size(item: Any) -> int:
    """What an int item's bounds apply to: itself; a str's: its length."""
    return item if isinstance(item, int) else len(item)


_QUICK_KEYWORDS = frozenset({"type", "minimum", "maximum", "minLength", "maxLength"})


def _quick_check(schema: Any) -> _QuickCheck | None:
    if not isinstance(schema, dict) or not schema.keys() <= _QUICK_KEYWORDS:
        return None
    if schema.get("type") == "integer":
        return _QuickCheck(int, schema.get("minimum"), schema.get("maximum"))
    if schema.get("type") == "string":
        return _QuickCheck(str, schema.get("minLength"), schema.get("maxLength"))
    return None


def _items_keyword(general: Keyword) -> Keyword:
    def items(validator: Any, item_schema: Any, instance: Any, schema: Any) -> Iterator[ValidationError]:
        check = _quick_check(item_schema)
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
