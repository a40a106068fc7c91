"""Deterministic instances of a JSON Schema: the simulator's structured outputs and tool call arguments.

``instance_of(schema, seed)`` gives the same value for the same schema and seed, and the value is valid
against the schema (checked with jsonschema before it is returned). What it reads:

- ``$ref`` to the same document (``#/$defs/x``, ``#/definitions/x``, ``#``), recursion included;
- ``const`` and ``enum`` (a value picked from the list), ``type`` (one type or a list of them);
- objects: every declared property, ``required`` ones without a declaration too, and extra keys up to
  ``minProperties``; past a nesting depth of ``DEEP``, only the required properties;
- arrays: ``items``, ``prefixItems`` (or the older list form of ``items``), ``minItems``/``maxItems``,
  ``uniqueItems``; one to three items, ``minItems`` past ``DEEP``;
- strings: ``format`` (date-time, date, time, email, hostname, uri, uuid, ipv4, ipv6, duration...),
  ``pattern`` (a string made from the regular expression), ``minLength``/``maxLength``; otherwise a few
  words;
- numbers and integers within ``minimum``/``maximum`` and their exclusive forms, ``multipleOf``;
- ``anyOf``/``oneOf`` (a branch picked), ``allOf`` (the branches merged).

Other keywords (``not``, ``if``/``then``/``else``, ``patternProperties``...) are not read, but the
check still applies them: when a made value fails it, other picks are tried, and ``NoInstance`` is
raised when none passes. Nothing here does I/O.
"""

from __future__ import annotations

import hashlib
import json
import random
import re
import string
import time
import uuid
from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["DEEP", "NoInstance", "instance_of"]

# Nesting depth past which objects keep only required properties and arrays their minimum length, so
# that recursive schemas (a tree of nodes) end.
DEEP = 4
# Depth at which a schema still asks for more nesting: it cannot be satisfied by a finite value here.
MAX_DEPTH = 32
ATTEMPTS = 8
_WORDS = (
    "alpha", "bravo", "cedar", "delta", "ember", "fjord", "grove", "harbor", "island", "juniper",
    "kestrel", "lumen", "meadow", "nova", "orbit", "prairie", "quartz", "river", "summit", "tundra",
)  # fmt: skip
_NUMBER_SPAN = 100
_ANY_KIND = ("string", "integer", "boolean", "object", "array", "null")


class NoInstance(ValueError):
    """No value this module can make satisfies the schema."""


def _rng(seed: Any, attempt: int) -> random.Random:
    blob = json.dumps([seed, attempt], sort_keys=True, default=str).encode("utf-8")
    return random.Random(hashlib.sha256(blob).digest())


# Schemas found valid by their draft's meta-schema, by their JSON text: a table run sends the same
# schema with every row, and checking it costs milliseconds each time.
_valid_schemas: dict[str, None] = {}


def meta_schema_error(schema: Any) -> str | None:
    """Why ``schema`` is not a valid JSON Schema of its draft (the meta-schema's words), or None."""
    from jsonschema.exceptions import SchemaError
    from jsonschema.validators import validator_for

    from .._constants import MAX_CHECKED_SCHEMAS

    text = json.dumps(schema, sort_keys=True, default=str)
    if text in _valid_schemas:
        return None
    try:
        validator_for(schema).check_schema(schema)
    except SchemaError as err:
        return str(err.message)
    if len(_valid_schemas) >= MAX_CHECKED_SCHEMAS:
        _valid_schemas.clear()
    _valid_schemas[text] = None
    return None


def instance_of(schema: Any, seed: Any = None) -> Any:
    """A value valid against ``schema``, the same for the same schema and seed."""
    from jsonschema.validators import validator_for

    from .._constants import SIMULATOR_SCHEMA_CHECK_SECONDS
    from .._schemas import CheckTimeout, bounded_validator, checking_until

    cls = validator_for(schema)
    invalid = meta_schema_error(schema)
    if invalid is not None:
        raise NoInstance(f"not a valid JSON Schema: {invalid}")
    # the formats of the schema's draft; nothing a reference names is fetched, and each check is bounded
    validator = bounded_validator(schema, format_checker=cls.FORMAT_CHECKER)
    problem = "no value fits it"
    for attempt in range(ATTEMPTS):
        try:
            value = _Maker(schema, _rng(seed, attempt), attempt).make(schema, 0)
        except (NoInstance, RecursionError) as err:
            problem = str(err) or "it nests without end"
            continue
        try:
            with checking_until(time.monotonic() + SIMULATOR_SCHEMA_CHECK_SECONDS):
                error = next(iter(validator.iter_errors(value)), None)
        except CheckTimeout:
            raise NoInstance("its check takes too long") from None
        if error is None:
            return value
        problem = error.message
    raise NoInstance(f"the simulator could not make a value for this schema ({problem[:200]})")


class _Maker:
    """One attempt: a random source and the root schema that ``$ref`` points into."""

    def __init__(self, root: Any, rng: random.Random, attempt: int) -> None:
        self.root = root
        self.rng = rng
        self.attempt = attempt

    def make(self, schema: Any, depth: int) -> Any:
        if depth > MAX_DEPTH:
            raise NoInstance("it nests without end")
        if schema is True or schema == {}:
            return self.words(1, 2)
        if schema is False or not isinstance(schema, Mapping):
            raise NoInstance("a schema position allows no value")
        if "$ref" in schema:
            target = self.resolve(schema["$ref"])
            rest = {k: v for k, v in schema.items() if k not in ("$ref", "$defs", "definitions")}
            return self.make(_merge([target, rest]) if rest else target, depth + 1)
        if "allOf" in schema:
            parts = [self.resolve(s["$ref"]) if _is_ref(s) else s for s in schema["allOf"]]
            rest = {k: v for k, v in schema.items() if k != "allOf"}
            return self.make(_merge([rest, *parts]), depth)
        if "const" in schema:
            return schema["const"]
        if "enum" in schema:
            values = list(schema["enum"])
            if not values:
                raise NoInstance("an empty enum")
            return self.rng.choice(values)
        for key in ("anyOf", "oneOf"):
            if key in schema:
                return self.make(_merge([self.branch(schema[key], depth), _without(schema, key)]), depth)
        kind = self.kind(schema, depth)
        return getattr(self, f"make_{kind}")(schema, depth)

    # -- picking -----------------------------------------------------------------------------------

    def resolve(self, ref: Any) -> Any:
        if not isinstance(ref, str) or not ref.startswith("#"):
            raise NoInstance(f"only references inside the schema are followed, not {ref!r}")
        node = self.root
        for token in ref[1:].lstrip("/").split("/") if ref not in ("#", "#/") else ():
            token = token.replace("~1", "/").replace("~0", "~")
            if isinstance(node, list) and token.isdigit():
                node = node[int(token)]
            elif isinstance(node, Mapping) and token in node:
                node = node[token]
            else:
                raise NoInstance(f"the reference {ref} names nothing")
        return node

    def branch(self, branches: Any, depth: int) -> Any:
        """A branch of anyOf/oneOf: past ``DEEP`` one without references (which may recurse)."""
        if not isinstance(branches, list) or not branches:
            raise NoInstance("an empty anyOf or oneOf")
        if depth >= DEEP:
            flat = [b for b in branches if not _mentions_ref(b)]
            if flat:
                nulls = [b for b in flat if isinstance(b, Mapping) and b.get("type") == "null"]
                return (nulls or flat)[0]
        return branches[(self.rng.randrange(len(branches)) + self.attempt) % len(branches)]

    def kind(self, schema: Mapping[str, Any], depth: int) -> str:
        declared = schema.get("type")
        if isinstance(declared, list):
            types = [t for t in declared if isinstance(t, str)]
            if not types:
                raise NoInstance("an empty type list")
            concrete = [t for t in types if t != "null"]
            if (depth >= DEEP and "null" in types) or not concrete:
                return "null"
            return concrete[(self.rng.randrange(len(concrete)) + self.attempt) % len(concrete)]
        if isinstance(declared, str):
            return declared
        if any(k in schema for k in ("properties", "required", "additionalProperties", "minProperties")):
            return "object"
        if any(k in schema for k in ("items", "prefixItems", "minItems", "maxItems", "uniqueItems")):
            return "array"
        if any(k in schema for k in ("minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum")):
            return "number"
        if any(k in schema for k in ("minLength", "maxLength", "pattern", "format")):
            return "string"
        return _ANY_KIND[self.attempt % len(_ANY_KIND)]  # nothing says: another kind on each attempt

    # -- one type each -----------------------------------------------------------------------------

    def make_null(self, schema: Mapping[str, Any], depth: int) -> None:
        return None

    def make_boolean(self, schema: Mapping[str, Any], depth: int) -> bool:
        return self.rng.random() < 0.5

    def make_object(self, schema: Mapping[str, Any], depth: int) -> dict[str, Any]:
        properties = schema.get("properties") or {}
        required = [r for r in schema.get("required") or () if isinstance(r, str)]
        extra = schema.get("additionalProperties", True)
        names = list(properties) if depth < DEEP else [n for n in properties if n in required]
        names += [r for r in required if r not in names]
        maximum = schema.get("maxProperties")
        if isinstance(maximum, int) and len(names) > maximum:
            optional = [n for n in names if n not in required]
            drop = set(optional[: len(names) - maximum])
            names = [n for n in names if n not in drop]
        result: dict[str, Any] = {}
        for name in names:
            sub = properties.get(name, extra if isinstance(extra, Mapping) else True)
            result[name] = self.make(sub, depth + 1)
        minimum = schema.get("minProperties")
        if isinstance(minimum, int) and extra is not False:
            sub = extra if isinstance(extra, Mapping) else True
            index = 1
            while len(result) < minimum:
                key = f"field_{index}"
                if key not in result:
                    result[key] = self.make(sub, depth + 1)
                index += 1
        return result

    def make_array(self, schema: Mapping[str, Any], depth: int) -> list[Any]:
        items = schema.get("items")
        prefix = schema.get("prefixItems")
        if isinstance(items, list):  # drafts 4 to 2019-09: a list of schemas, one per position
            prefix, items = items, schema.get("additionalItems", True)
        prefix = prefix if isinstance(prefix, list) else []
        low = schema.get("minItems", 0)
        high = schema.get("maxItems")
        count = low if depth >= DEEP else max(low, self.rng.randint(1, 3))
        if isinstance(high, int):
            count = min(count, high)
        if items is False:
            count = min(count, len(prefix))
        result: list[Any] = []
        tries = 0
        while len(result) < count:
            position = len(result)
            sub = prefix[position] if position < len(prefix) else (items if items is not None else True)
            value = self.make(sub, depth + 1)
            if schema.get("uniqueItems") is True and any(_same(value, seen) for seen in result):
                tries += 1
                if tries > 20 * count:
                    if len(result) >= low:
                        break
                    raise NoInstance("too few distinct items")
                continue
            result.append(value)
        return result

    def make_string(self, schema: Mapping[str, Any], depth: int) -> str:
        low = schema.get("minLength", 0)
        high = schema.get("maxLength")
        fmt = schema.get("format")
        pattern = schema.get("pattern")
        if isinstance(pattern, str):
            text = from_pattern(pattern, self.rng)
        elif isinstance(fmt, str) and fmt in _FORMATS:
            text = _FORMATS[fmt](self.rng)
        else:
            text = self.words(1, 3)
        if not isinstance(pattern, str) and not (isinstance(fmt, str) and fmt in _FORMATS):
            while len(text) < low:
                text = f"{text} {self.words(1, 1)}"
            if isinstance(high, int) and len(text) > high:
                text = text[:high].rstrip() if len(text[:high].rstrip()) >= low else text[:high]
        return text

    def make_integer(self, schema: Mapping[str, Any], depth: int) -> int:
        low, high = _bounds(schema, integer=True)
        step = schema.get("multipleOf")
        if isinstance(step, int) and not isinstance(step, bool) and step > 0:
            first, last = -(-low // step), high // step
            if first > last:
                raise NoInstance("no multiple of multipleOf between the bounds")
            return self.rng.randint(first, last) * step
        if low > high:
            raise NoInstance("the bounds leave no integer")
        return self.rng.randint(int(low), int(high))

    def make_number(self, schema: Mapping[str, Any], depth: int) -> float | int:
        step = schema.get("multipleOf")
        if isinstance(step, (int, float)) and not isinstance(step, bool) and step > 0:
            low, high = _bounds(schema, integer=False)
            first, last = int(-(-low // step)), int(high // step)
            if first > last:
                raise NoInstance("no multiple of multipleOf between the bounds")
            value = self.rng.randint(first, last) * step
            return int(value) if float(value).is_integer() else value
        low, high = _bounds(schema, integer=False)
        if low > high:
            raise NoInstance("the bounds leave no number")
        value = round(self.rng.uniform(low, high), 2)
        if not low <= value <= high or value in _exclusive(schema):
            value = (low + high) / 2
        return value

    def words(self, fewest: int, most: int) -> str:
        return " ".join(self.rng.choice(_WORDS) for _ in range(self.rng.randint(fewest, most)))


def _is_ref(schema: Any) -> bool:
    return isinstance(schema, Mapping) and "$ref" in schema and len(schema) == 1


def _mentions_ref(schema: Any) -> bool:
    return "$ref" in json.dumps(schema)


def _without(schema: Mapping[str, Any], key: str) -> dict[str, Any]:
    return {k: v for k, v in schema.items() if k != key}


def _merge(schemas: list[Any]) -> dict[str, Any]:
    """The keywords of several schemas in one (for allOf): properties and required are united, bounds
    take the tighter value, and otherwise the first schema to give a keyword wins."""
    merged: dict[str, Any] = {}
    for schema in schemas:
        if schema is True or not isinstance(schema, Mapping):
            if schema is False:
                raise NoInstance("allOf holds false")
            continue
        for key, value in schema.items():
            if key == "properties" and isinstance(value, Mapping):
                props = dict(merged.get("properties", {}))
                for name, sub in value.items():
                    props[name] = {"allOf": [props[name], sub]} if name in props else sub
                merged["properties"] = props
            elif key == "required" and isinstance(value, list):
                merged["required"] = list(dict.fromkeys([*merged.get("required", []), *value]))
            elif key in ("minimum", "minLength", "minItems", "minProperties", "exclusiveMinimum"):
                merged[key] = max(merged[key], value) if key in merged else value
            elif key in ("maximum", "maxLength", "maxItems", "maxProperties", "exclusiveMaximum"):
                merged[key] = min(merged[key], value) if key in merged else value
            elif key == "type" and "type" in merged:
                merged["type"] = _common_type(merged["type"], value)
            else:
                merged.setdefault(key, value)
    return merged


def _common_type(first: Any, second: Any) -> Any:
    one = set(first) if isinstance(first, list) else {first}
    two = set(second) if isinstance(second, list) else {second}
    if ("number" in one and "integer" in two) or ("integer" in one and "number" in two):
        one |= {"integer"}
        two |= {"integer"}
    both = sorted(one & two)
    if not both:
        raise NoInstance("allOf branches of different types")
    return both[0] if len(both) == 1 else both


def _exclusive(schema: Mapping[str, Any]) -> set[float]:
    found = set()
    for key in ("exclusiveMinimum", "exclusiveMaximum"):
        value = schema.get(key)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            found.add(float(value))
    return found


def _bounds(schema: Mapping[str, Any], integer: bool) -> tuple[Any, Any]:
    """The closed range a number must fall in; an open side spans ``_NUMBER_SPAN`` from the other."""
    low: Any = schema.get("minimum")
    high: Any = schema.get("maximum")
    exclusive_low: Any = schema.get("exclusiveMinimum")
    exclusive_high: Any = schema.get("exclusiveMaximum")
    nudge = 1 if integer else 0.01
    if exclusive_low is True and low is not None:  # draft 4's boolean form
        low = low + nudge
    elif _real(exclusive_low):
        low = max(low, exclusive_low + nudge) if _real(low) else exclusive_low + nudge
    if exclusive_high is True and high is not None:
        high = high - nudge
    elif _real(exclusive_high):
        high = min(high, exclusive_high - nudge) if _real(high) else exclusive_high - nudge
    if not _real(low):
        low = high - _NUMBER_SPAN if _real(high) else 0
    if not _real(high):
        high = low + _NUMBER_SPAN
    if integer:
        return -(-low // 1), high // 1
    return low, high


def _real(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _same(one: Any, two: Any) -> bool:
    return json.dumps(one, sort_keys=True) == json.dumps(two, sort_keys=True)


# -- string formats ------------------------------------------------------------------------------


def _date(rng: random.Random) -> str:
    return f"20{rng.randint(20, 29)}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}"


def _time(rng: random.Random) -> str:
    return f"{rng.randint(0, 23):02d}:{rng.randint(0, 59):02d}:{rng.randint(0, 59):02d}Z"


def _word(rng: random.Random) -> str:
    return rng.choice(_WORDS)


_FORMATS: dict[str, Callable[[random.Random], str]] = {
    "date-time": lambda rng: f"{_date(rng)}T{_time(rng)}",
    "date": _date,
    "time": _time,
    "duration": lambda rng: f"P{rng.randint(1, 30)}DT{rng.randint(1, 23)}H",
    "email": lambda rng: f"{_word(rng)}@example.com",
    "idn-email": lambda rng: f"{_word(rng)}@example.com",
    "hostname": lambda rng: f"{_word(rng)}.example.com",
    "idn-hostname": lambda rng: f"{_word(rng)}.example.com",
    "uri": lambda rng: f"https://example.com/{_word(rng)}",
    "iri": lambda rng: f"https://example.com/{_word(rng)}",
    "uri-reference": lambda rng: f"/{_word(rng)}",
    "iri-reference": lambda rng: f"/{_word(rng)}",
    "uri-template": lambda rng: f"https://example.com/{_word(rng)}/{{id}}",
    "url": lambda rng: f"https://example.com/{_word(rng)}",
    "uuid": lambda rng: str(uuid.UUID(int=rng.getrandbits(128), version=4)),
    "ipv4": lambda rng: f"192.0.2.{rng.randint(1, 254)}",
    "ipv6": lambda rng: f"2001:db8::{rng.randint(1, 0xFFFF):x}",
    "json-pointer": lambda rng: f"/{_word(rng)}/{rng.randint(0, 9)}",
    "relative-json-pointer": lambda rng: f"{rng.randint(0, 3)}/{_word(rng)}",
    "regex": lambda rng: f"^{_word(rng)}[0-9]+$",
}


# -- strings from a regular expression -----------------------------------------------------------


def _parser() -> Any:
    """The standard library's regular expression parser (``re._parser``; ``sre_parse`` before 3.11)."""
    import importlib

    try:
        return importlib.import_module("re._parser")
    except ImportError:  # pragma: no cover - Python 3.10
        return importlib.import_module("sre_parse")


_PRINTABLE = string.ascii_letters + string.digits + "-_ .,:;@/+"
_CATEGORIES = {
    "CATEGORY_DIGIT": string.digits,
    "CATEGORY_NOT_DIGIT": string.ascii_letters,
    "CATEGORY_SPACE": " ",
    "CATEGORY_NOT_SPACE": string.ascii_letters + string.digits,
    "CATEGORY_WORD": string.ascii_letters + string.digits + "_",
    "CATEGORY_NOT_WORD": "-.,:; ",
}


def from_pattern(pattern: str, rng: random.Random) -> str:
    """A string matching the regular expression (as ``re.search`` reads it), built from its parse."""
    try:
        parsed = _parser().parse(pattern)
    except re.error as err:
        raise NoInstance(f"the pattern does not parse: {err}") from None
    groups: dict[int, str] = {}
    text = _emit(list(parsed), rng, groups)
    if re.search(pattern, text) is None:
        raise NoInstance(f"no string made for the pattern {pattern!r}")
    return text


def _emit(items: list[Any], rng: random.Random, groups: dict[int, str]) -> str:
    out: list[str] = []
    for op, arg in items:
        name = str(op)
        if name == "LITERAL":
            out.append(chr(arg))
        elif name == "NOT_LITERAL":
            out.append(next(c for c in _PRINTABLE if ord(c) != arg))
        elif name == "ANY":
            out.append(rng.choice(string.ascii_lowercase))
        elif name == "IN":
            out.append(_one_of_set(arg, rng))
        elif name in ("MAX_REPEAT", "MIN_REPEAT", "POSSESSIVE_REPEAT"):
            low, high, sub = arg
            high = low + 3 if str(high) == "MAXREPEAT" or high > low + 3 else high
            count = rng.randint(max(low, 1) if high >= 1 else 0, high) if high > low else low
            out.extend(_emit(list(sub), rng, groups) for _ in range(count))
        elif name == "SUBPATTERN":
            group, sub = arg[0], arg[-1]
            text = _emit(list(sub), rng, groups)
            if group is not None:
                groups[group] = text
            out.append(text)
        elif name == "ATOMIC_GROUP":
            out.append(_emit(list(arg), rng, groups))
        elif name == "BRANCH":
            out.append(_emit(list(rng.choice(arg[1])), rng, groups))
        elif name == "GROUPREF":
            out.append(groups.get(arg, ""))
        elif name == "CATEGORY":
            out.append(rng.choice(_CATEGORIES.get(str(arg), "a")))
        elif name in ("AT", "ASSERT", "ASSERT_NOT"):
            continue  # anchors and lookarounds take no characters; the final re.search checks them
        else:
            raise NoInstance(f"the pattern uses {name}, which the simulator does not follow")
    return "".join(out)


def _one_of_set(members: list[Any], rng: random.Random) -> str:
    negate = bool(members) and str(members[0][0]) == "NEGATE"
    pool: list[str] = []
    for op, arg in members[1:] if negate else members:
        name = str(op)
        if name == "LITERAL":
            pool.append(chr(arg))
        elif name == "RANGE":
            low, high = arg
            pool.extend(chr(c) for c in range(low, min(high, low + 94) + 1))
        elif name == "CATEGORY":
            pool.extend(_CATEGORIES.get(str(arg), ""))
    if negate:
        allowed = [c for c in _PRINTABLE if c not in pool]
        if not allowed:
            raise NoInstance("a negated character set leaves nothing")
        return rng.choice(allowed)
    if not pool:
        raise NoInstance("an empty character set")
    return rng.choice(pool)
