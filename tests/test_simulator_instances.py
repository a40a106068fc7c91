"""The simulator's JSON Schema instances (structured output and tool arguments): valid, deterministic,
and a clear NoInstance when no value can be made."""

from __future__ import annotations

import datetime
import ipaddress
import json
import re
import uuid
from typing import Any
from urllib.parse import urlsplit

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator
from jsonschema.validators import validator_for

from tooljet_portkey.simulator._instances import DEEP, NoInstance, from_pattern, instance_of


def assert_instance(schema: Any, value: Any) -> None:
    cls = validator_for(schema)  # with the formats of the schema's own draft
    errors = [e.message for e in cls(schema, format_checker=cls.FORMAT_CHECKER).iter_errors(value)]
    assert errors == [], f"{json.dumps(value)} fails {json.dumps(schema)}"


ORDER = {
    "type": "object",
    "properties": {
        "customer": {"type": "string"},
        "items": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {"product": {"type": "string"}, "quantity": {"type": "integer", "minimum": 1}},
                "required": ["product", "quantity"],
                "additionalProperties": False,
            },
        },
    },
    "required": ["customer", "items"],
    "additionalProperties": False,
}
TREE = {
    "$defs": {
        "node": {
            "type": "object",
            "properties": {
                "label": {"type": "string"},
                "children": {"type": "array", "items": {"$ref": "#/$defs/node"}},
            },
            "required": ["label", "children"],
            "additionalProperties": False,
        }
    },
    "$ref": "#/$defs/node",
}

SCHEMAS = {
    "strict order": ORDER,
    "recursive tree": TREE,
    "recursion through the root": {
        "type": "object",
        "properties": {"next": {"anyOf": [{"$ref": "#"}, {"type": "null"}]}},
        "required": ["next"],
        "additionalProperties": False,
    },
    "draft-07 definitions": {
        "$schema": "http://json-schema.org/draft-07/schema#",
        "definitions": {"id": {"type": "string", "pattern": "^id-[0-9]{4}$"}},
        "type": "object",
        "properties": {"ids": {"type": "array", "items": {"$ref": "#/definitions/id"}, "minItems": 2}},
        "required": ["ids"],
    },
    "nullable fields": {
        "type": "object",
        "properties": {"note": {"type": ["string", "null"]}, "age": {"type": ["integer", "null"]}},
        "required": ["note", "age"],
        "additionalProperties": False,
    },
    "enum and const": {
        "type": "object",
        "properties": {"unit": {"enum": ["c", "f"]}, "v": {"const": 2}},
        "required": ["unit", "v"],
        "additionalProperties": False,
    },
    "number bounds": {
        "type": "object",
        "properties": {
            "score": {"type": "number", "minimum": 0, "maximum": 1},
            "open": {"type": "number", "exclusiveMinimum": 0, "exclusiveMaximum": 0.05},
            "neg": {"type": "integer", "maximum": -1000},
            "step": {"type": "integer", "minimum": 10, "maximum": 20, "multipleOf": 7},
            "half": {"type": "number", "multipleOf": 0.5, "minimum": 1, "maximum": 2},
        },
        "required": ["score", "open", "neg", "step", "half"],
    },
    "string lengths": {
        "type": "array",
        "items": {"type": "string", "minLength": 40, "maxLength": 45},
        "minItems": 3,
        "maxItems": 3,
    },
    "short strings": {"type": "array", "items": {"type": "string", "maxLength": 2}, "minItems": 1},
    "unique enum items": {
        "type": "array",
        "items": {"enum": ["a", "b", "c"]},
        "uniqueItems": True,
        "minItems": 3,
    },
    "tuple": {
        "type": "array",
        "prefixItems": [{"type": "integer"}, {"type": "boolean"}],
        "items": False,
        "minItems": 2,
    },
    "anyOf and oneOf": {
        "type": "object",
        "properties": {
            "a": {"anyOf": [{"type": "string", "format": "email"}, {"type": "integer"}]},
            "b": {"oneOf": [{"type": "string"}, {"type": "string", "maxLength": 3}]},
        },
        "required": ["a", "b"],
    },
    "allOf": {
        "allOf": [
            {"type": "object", "properties": {"x": {"type": "integer"}}, "required": ["x"]},
            {"properties": {"y": {"type": "string"}}, "required": ["y"]},
            {"properties": {"x": {"minimum": 50, "maximum": 51}}},
        ]
    },
    "minProperties": {"type": "object", "minProperties": 3, "additionalProperties": {"type": "boolean"}},
    "not a string": {"not": {"type": "string"}},
    "true": True,
}


@pytest.mark.parametrize("schema", SCHEMAS.values(), ids=SCHEMAS.keys())
def test_instances_are_valid_and_deterministic(schema: Any) -> None:
    value = instance_of(schema, ["gpt-4o-mini", "seed"])
    assert_instance(schema, value)
    assert instance_of(schema, ["gpt-4o-mini", "seed"]) == value


def test_declared_properties_are_all_given_and_seeds_vary_the_values() -> None:
    values = [instance_of(ORDER, seed) for seed in range(6)]
    assert all(set(v) == {"customer", "items"} for v in values)
    assert all(set(item) == {"product", "quantity"} for v in values for item in v["items"])
    assert len({json.dumps(v) for v in values}) == 6


def test_optional_properties_are_given_too() -> None:
    schema = {"type": "object", "properties": {"a": {"type": "string"}, "b": {"type": "integer"}}}
    assert set(instance_of(schema, 1)) == {"a", "b"}


def test_recursion_ends_past_the_deep_level() -> None:
    def depth(node: dict[str, Any]) -> int:
        return 1 + max((depth(child) for child in node["children"]), default=0)

    trees = [instance_of(TREE, seed) for seed in range(10)]
    assert max(depth(tree) for tree in trees) <= DEEP
    assert max(depth(tree) for tree in trees) >= 2  # not always a leaf


FORMATS = {
    "date-time": lambda s: datetime.datetime.fromisoformat(s.replace("Z", "+00:00")).tzinfo is not None,
    "date": lambda s: datetime.date.fromisoformat(s) is not None,
    "time": lambda s: re.fullmatch(r"\d\d:\d\d:\d\dZ", s) is not None,
    "email": lambda s: re.fullmatch(r"[a-z]+@example\.com", s) is not None,
    "hostname": lambda s: re.fullmatch(r"[a-z]+\.example\.com", s) is not None,
    "uri": lambda s: urlsplit(s).scheme == "https" and urlsplit(s).netloc == "example.com",
    "uuid": lambda s: uuid.UUID(s).version == 4,
    "ipv4": lambda s: ipaddress.ip_address(s).version == 4,
    "ipv6": lambda s: ipaddress.ip_address(s).version == 6,
    "duration": lambda s: re.fullmatch(r"P\d+DT\d+H", s) is not None,
}


@pytest.mark.parametrize("fmt", FORMATS)
def test_string_formats(fmt: str) -> None:
    for seed in range(5):
        text = instance_of({"type": "string", "format": fmt}, seed)
        assert FORMATS[fmt](text), text


@pytest.mark.parametrize(
    "pattern",
    [
        r"^[A-Z]{2}-\d{3,5}$",
        r"^(red|green|blue)$",
        r"^[^a-z\s]+x?\.(\w{2,4})$",
        r"\bcode_[0-9a-f]{8}\b",
        r"^\S+@\S+\.\S+$",
        r"^.{3}$",
    ],
)
def test_patterns(pattern: str) -> None:
    for seed in range(5):
        text = instance_of({"type": "string", "pattern": pattern}, seed)
        assert re.search(pattern, text), text


def test_a_pattern_no_linear_time_engine_runs_has_no_instance() -> None:
    # backreferences and lookarounds: the plugin refuses such a schema before sending, and the
    # simulator, which checks what it makes with the same bounded validator, makes nothing for it
    for pattern in (r"^(ab)+\1$", r"^(?=a)a$"):
        with pytest.raises(NoInstance):
            instance_of({"type": "string", "pattern": pattern})


@pytest.mark.parametrize(
    ("schema", "problem"),
    [
        ({"type": "integer", "minimum": 5, "maximum": 4}, "the bounds leave no integer"),
        ({"type": "integer", "minimum": 1, "maximum": 2, "multipleOf": 5}, "no multiple of multipleOf"),
        ({"not": {}}, "should not be valid"),
        (
            {
                "type": "object",
                "properties": {"a": {"$ref": "https://example.com/a.json"}},
                "required": ["a"],
            },
            "only references inside the schema are followed",
        ),
        ({"$ref": "#/$defs/missing"}, "the reference #/$defs/missing names nothing"),
        ({"type": "object", "properties": {"a": {"$ref": "#"}}, "required": ["a"]}, "it nests without end"),
        (
            {"type": "array", "items": {"enum": [1]}, "uniqueItems": True, "minItems": 2},
            "too few distinct items",
        ),
        ({"type": "string", "pattern": "(?<=a)b"}, "no string made for the pattern"),
        ({"type": "strin"}, "not a valid JSON Schema"),
    ],
)
def test_no_instance(schema: Any, problem: str) -> None:
    with pytest.raises(NoInstance) as caught:
        instance_of(schema, 0)
    assert problem in str(caught.value)


def test_from_pattern_refuses_a_pattern_it_cannot_parse() -> None:
    import random

    with pytest.raises(NoInstance, match="the pattern does not parse"):
        from_pattern("(unclosed", random.Random(0))


# -- any strict-mode schema gets a valid instance ------------------------------------------------------

LEAVES = st.one_of(
    st.just({"type": "string"}),
    st.just({"type": "boolean"}),
    st.builds(lambda f: {"type": "string", "format": f}, st.sampled_from(sorted(FORMATS))),
    st.builds(
        lambda lo, span: {"type": "integer", "minimum": lo, "maximum": lo + span},
        st.integers(-1000, 1000),
        st.integers(0, 50),
    ),
    st.builds(
        lambda lo, span: {"type": "number", "minimum": lo, "maximum": lo + span},
        st.floats(-100, 100, allow_nan=False),
        st.floats(0.5, 10, allow_nan=False),
    ),
    st.builds(
        lambda values: {"enum": values}, st.lists(st.text(max_size=5), min_size=1, max_size=4, unique=True)
    ),
    st.builds(lambda t: {"type": [t, "null"]}, st.sampled_from(["string", "integer", "number", "boolean"])),
)


def _strict_object(properties: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": properties,
        "required": list(properties),
        "additionalProperties": False,
    }


NAMES = st.text(alphabet="abcdefghijklmnopqrstuvwxyz_", min_size=1, max_size=8)
STRICT_SCHEMAS = st.recursive(
    LEAVES,
    lambda inner: st.one_of(
        st.builds(_strict_object, st.dictionaries(NAMES, inner, max_size=4)),
        st.builds(
            lambda items, low: {"type": "array", "items": items, "minItems": low}, inner, st.integers(0, 3)
        ),
        st.builds(lambda branches: {"anyOf": branches}, st.lists(inner, min_size=1, max_size=3)),
    ),
    max_leaves=12,
).map(lambda schema: _strict_object({"result": schema}))


@settings(max_examples=200, deadline=None, derandomize=True)
@given(schema=STRICT_SCHEMAS, seed=st.integers(0, 10**6))
def test_every_strict_mode_schema_gets_a_valid_instance(schema: dict[str, Any], seed: int) -> None:
    Draft202012Validator.check_schema(schema)
    value = instance_of(schema, seed)
    assert_instance(schema, value)
    assert instance_of(schema, seed) == value
