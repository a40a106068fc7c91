"""What validation costs and what it may say: the quick item check decides as jsonschema does, the
shipped schemas use only keywords whose errors never print the value, and the one walk over a value
(types, depth, text) decides what it promises. The same over generated values (hypothesis) is in
tests/scale/test_validation_properties.py."""

from __future__ import annotations

import json
import math
from collections.abc import Iterator
from importlib import resources
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from tooljet_portkey._keywords import QUIET_KEYWORDS, STRUCTURAL_KEYWORDS, extended_validator
from tooljet_portkey._values import MAX_JSON_DEPTH, NOT_JSON, SURROGATE, TOO_DEEP, json_problem

OPERATIONS = json.loads(resources.files("tooljet_portkey").joinpath("operations.json").read_text("utf-8"))
MANIFEST = json.loads(resources.files("tooljet_portkey").joinpath("manifest.json").read_text("utf-8"))


def schema_keywords(node: Any) -> Iterator[str]:
    """Every keyword of a schema and of the schemas inside it."""
    if isinstance(node, dict):
        for key, value in node.items():
            yield key
            if key in ("properties", "definitions"):
                for inner in value.values():
                    yield from schema_keywords(inner)
            elif key in ("prefixItems",):
                for inner in value:
                    yield from schema_keywords(inner)
            elif key not in ("enum", "required", "pattern", "type", "$ref", "description", "title"):
                yield from schema_keywords(value)


def shipped_schemas() -> Iterator[Any]:
    yield from OPERATIONS["definitions"].values()
    for name, fields in OPERATIONS["properties"].items():
        if name != "operation":
            yield from (field["schema"] for field in fields.values())
    yield from (field["schema"] for field in MANIFEST["properties"].values())


def test_shipped_schemas_use_only_keywords_whose_errors_never_print_the_value() -> None:
    """jsonschema's own errors print repr() of the value: of an 8 MiB list, or of a key pasted into the
    wrong field. A keyword added to the spec must first get a quiet implementation in _keywords.py."""
    used = {keyword for schema in shipped_schemas() for keyword in schema_keywords(schema)}
    assert used - (QUIET_KEYWORDS | STRUCTURAL_KEYWORDS) == set()
    assert "oneOf" not in used and "anyOf" not in used  # each validates every item before any limit


@pytest.mark.parametrize(
    ("schema", "items", "valid"),
    [
        ({"type": "integer", "minimum": 0}, [0, 5, 10**30], True),
        ({"type": "integer", "minimum": 0}, [1, 2.0, 3], True),  # 2.0 is an integer to JSON Schema
        ({"type": "integer", "minimum": 0}, [1, True], False),  # true is not
        ({"type": "integer", "minimum": 0}, [1, -1], False),
        ({"type": "integer", "maximum": 9}, [1, 10], False),
        ({"type": "string", "minLength": 1}, ["a", ""], False),
        ({"type": "string", "maxLength": 2}, ["ab", "abc"], False),
        ({"type": "string", "minLength": 1}, ["a", 1], False),
        ({"type": "string"}, [], True),
    ],
)
def test_the_quick_item_check_decides_as_jsonschema_does(schema: Any, items: list[Any], valid: bool) -> None:
    ours = extended_validator(Draft202012Validator)({"type": "array", "items": schema})
    stock = Draft202012Validator({"type": "array", "items": schema})
    assert ours.is_valid(items) is stock.is_valid(items) is valid
    if not valid:
        assert list(next(ours.iter_errors(items)).absolute_path) == list(
            next(stock.iter_errors(items)).absolute_path
        )


def test_an_error_about_a_huge_value_does_not_print_it() -> None:
    """Refusing a list for its length builds one small error, not the repr of a million items."""
    validator = extended_validator(Draft202012Validator)({"type": "array", "maxItems": 3})
    error = next(validator.iter_errors(list(range(1_000_000))))
    assert (error.validator, error.message) == ("maxItems", "maxItems")


# ---------------------------------------------------------------------------------------------------
# json_problem: one walk, any depth, no recursion


def nested(levels: int) -> Any:
    value: Any = 1
    for level in range(levels):
        value = [value] if level % 2 else {"k": value}
    return value


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("text", None),
        ("ab\ud83d", SURROGATE),
        ("\udc00", SURROGATE),
        ("ok 😀 ünïcode", None),
        ({"a\ud83d": 1}, SURROGATE),
        ([["x"] * 20, ["y", "\ud83d"]], SURROGATE),
        (["x\ud83d"] * 20, SURROGATE),
        (nested(MAX_JSON_DEPTH), None),
        (nested(MAX_JSON_DEPTH + 1), TOO_DEEP),
        (nested(5000), TOO_DEEP),
        ({"n": float("nan")}, NOT_JSON),
        ([1.0, math.inf], NOT_JSON),
        ({1: "x"}, NOT_JSON),
        ({"s": {1, 2}}, NOT_JSON),
        (b"bytes", NOT_JSON),
        ([10**5000], NOT_JSON),
        ([1] * 20 + [10**5000], NOT_JSON),
        (10**3900, None),
        ([True, False, None, 1.5, -3], None),
        (("tu", "ple"), None),
    ],
)
def test_json_problem(value: Any, problem: str | None) -> None:
    assert json_problem(value)[0] == problem
