"""The JSON Schemas a query carries (a response format's, a tool's parameters): checked, then used.

A schema is user text, and jsonschema left to itself would follow any ``$ref`` it meets with urllib
(``http://169.254.169.254/...``, ``file:///etc/...``), with no timeout. Here:

- ``check_user_schema`` refuses, before anything is sent, a schema whose references leave it (any
  ``$ref`` not starting with ``#``, an ``$id`` below the root, ``$dynamicRef``), a reference that points
  at nothing, a loop of references that never goes into the answer (``{"$ref": "#"}``: a check with no
  end), a dialect it does not know, and a ``pattern`` the linear-time engine cannot run (lookarounds,
  backreferences). Its words never quote the schema's text.
- ``answer_problem`` checks an answer against a checked schema with a registry that retrieves nothing,
  ``pattern`` and ``patternProperties`` run by RE2 (time linear in the text: no catastrophic
  backtracking, whatever the pattern), ``uniqueItems`` in linear time, every keyword bounded by a
  deadline, and an answer nested deeper than ``MAX_JSON_DEPTH`` refused before any check.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator, Mapping
from contextvars import ContextVar
from functools import cache
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote

from ._constants import MAX_CHECKED_SCHEMAS, MAX_JSON_DEPTH, MAX_PATTERN_MEMORY_BYTES
from ._schema_words import describe_error

if TYPE_CHECKING:
    from jsonschema.exceptions import ValidationError
    from jsonschema.protocols import Validator

__all__ = [
    "CheckTimeout",
    "SchemaProblem",
    "answer_problem",
    "bounded_validator",
    "check_user_schema",
    "checking_until",
    "no_retrieval",
    "schema_place",
]

# Keywords whose value is a schema / a list of schemas / an object of schemas (the drafts 4 to 2020-12).
_ONE = frozenset(
    {
        "not", "if", "then", "else", "additionalProperties", "additionalItems", "contains", "propertyNames",
        "unevaluatedProperties", "unevaluatedItems", "contentSchema", "items",
    }
)  # fmt: skip
_LIST = frozenset({"allOf", "anyOf", "oneOf", "prefixItems", "items"})
_MAP = frozenset(
    {"properties", "patternProperties", "$defs", "definitions", "dependentSchemas", "dependencies"}
)
# The keywords that check the same value as their schema (not a part of it): a loop through these alone
# never ends.
_IN_PLACE_ONE = frozenset({"not", "if", "then", "else"})
_IN_PLACE_LIST = frozenset({"allOf", "anyOf", "oneOf"})
_IN_PLACE_MAP = frozenset({"dependentSchemas", "dependencies"})
# What the plugin cannot check in bounded time or without leaving the schema.
_UNSUPPORTED = ("$dynamicRef", "$recursiveRef")
_DIALECTS = frozenset(
    {
        "http://json-schema.org/draft-04/schema", "http://json-schema.org/draft-06/schema",
        "http://json-schema.org/draft-07/schema", "https://json-schema.org/draft/2019-09/schema",
        "https://json-schema.org/draft/2020-12/schema",
    }
)  # fmt: skip
# Words of JSON Schema itself: a place inside a user's schema is shown up to its first name of the
# user's own (a property name could be anything they typed).
_SCHEMA_WORDS = _ONE | _LIST | _MAP | {
    "type", "enum", "const", "required", "minimum", "maximum", "minLength", "maxLength", "minItems",
    "maxItems", "pattern", "format", "$ref", "uniqueItems", "$id", "id", "$anchor", "$schema",
    *_UNSUPPORTED,
}  # fmt: skip


class SchemaProblem(ValueError):
    """Why a schema cannot be used: ``where`` (a place inside it, in schema words), the problem, and
    the headline (``is not a valid JSON Schema``: its dialect refuses it; ``cannot be used here``: it is
    valid, but leaves itself or cannot be checked in bounded time)."""

    def __init__(self, where: str, problem: str, headline: str = "cannot be used here") -> None:
        super().__init__(f"{headline} (at schema{where}: {problem})")
        self.where = where
        self.problem = problem
        self.headline = headline


def schema_place(path: Iterator[Any] | tuple[Any, ...] | list[Any]) -> str:
    """``.properties.(a name).items[0]``: a place in a schema, up to its first name of the user's own."""
    place = ""
    for part in path:
        if isinstance(part, int):
            place += f"[{part}]"
        elif part in _SCHEMA_WORDS:
            place += f".{part}"
        else:
            return place + ".(a name)"
    return place


# ---------------------------------------------------------------------------------------------------
# Checking a schema


def check_user_schema(schema: Any) -> None:
    """Raise SchemaProblem unless ``schema`` stays inside itself, can be checked in bounded time, and
    is a valid JSON Schema of a dialect jsonschema knows."""
    if isinstance(schema, bool):
        return
    if not isinstance(schema, dict):
        raise SchemaProblem("", "must be a JSON object")
    dialect = schema.get("$schema")
    if dialect is not None and (not isinstance(dialect, str) or dialect.rstrip("#") not in _DIALECTS):
        raise SchemaProblem(".$schema", "names a dialect this plugin does not check (drafts 4 to 2020-12)")
    old_ids = isinstance(dialect, str) and "draft-04" in dialect
    nodes, refs, anchors = _walk(schema, old_ids)
    edges: dict[int, list[int]] = {id(node): [id(sub) for sub in _in_place(node)] for node, _ in nodes}
    for node, path in refs:
        target = _resolve(schema, node["$ref"], anchors, path)
        if isinstance(target, dict) and id(target) in edges:
            edges[id(node)].append(id(target))
        elif not isinstance(target, bool):
            raise SchemaProblem(schema_place([*path, "$ref"]), "points to something that is not a schema")
    if _has_loop(edges):
        raise SchemaProblem(
            "",
            "has a loop of $ref that never goes into the answer (a schema that refers back to itself in "
            "place can never be checked)",
        )
    for node, path in nodes:
        _check_patterns(node, path)
    _check_against_dialect(schema)


_Placed = list[tuple[dict[str, Any], tuple[Any, ...]]]  # subschemas, each with its place


def _walk(schema: dict[str, Any], old_ids: bool) -> tuple[_Placed, _Placed, dict[str, Any]]:
    """Every subschema (object) with its place, those with a ``$ref``, and the ``$anchor`` names; one
    iterative walk over the schema's own keywords only (an ``enum``'s values are data, not schemas)."""
    nodes: _Placed = []
    refs: _Placed = []
    anchors: dict[str, Any] = {}
    seen: set[int] = set()
    stack: list[tuple[Any, tuple[Any, ...]]] = [(schema, ())]
    while stack:
        node, path = stack.pop()
        if not isinstance(node, dict) or id(node) in seen:
            continue
        seen.add(id(node))
        nodes.append((node, path))
        for word in _UNSUPPORTED:
            if word in node:
                raise SchemaProblem(schema_place([*path, word]), "is not supported here (use $ref)")
        id_word = "id" if old_ids else "$id"
        if path and isinstance(node.get(id_word), str):
            raise SchemaProblem(
                schema_place([*path, id_word]),
                "only the root of the schema may have an id: the schema is one document",
            )
        if "$ref" in node:
            ref = node["$ref"]
            if not isinstance(ref, str) or not ref.startswith("#"):
                raise SchemaProblem(
                    schema_place([*path, "$ref"]),
                    "must point inside the schema (a reference starting with #); references to URLs "
                    "or files are not followed",
                )
            refs.append((node, path))
        anchor = node.get("$anchor")
        if isinstance(anchor, str):
            anchors[anchor] = node
        for keyword, value in node.items():
            if keyword in _MAP and isinstance(value, dict):
                stack.extend((sub, (*path, keyword, name)) for name, sub in value.items())
            elif keyword in _LIST and isinstance(value, list):
                stack.extend((sub, (*path, keyword, i)) for i, sub in enumerate(value))
            elif keyword in _ONE:
                stack.append((value, (*path, keyword)))
    return nodes, refs, anchors


def _in_place(node: Mapping[str, Any]) -> Iterator[dict[str, Any]]:
    """The subschemas that check the same value as ``node`` (its ``$ref`` aside)."""
    for keyword, value in node.items():
        if keyword in _IN_PLACE_ONE and isinstance(value, dict):
            yield value
        elif keyword in _IN_PLACE_LIST and isinstance(value, list):
            yield from (sub for sub in value if isinstance(sub, dict))
        elif keyword in _IN_PLACE_MAP and isinstance(value, dict):
            yield from (sub for sub in value.values() if isinstance(sub, dict))


def _resolve(schema: Any, ref: str, anchors: Mapping[str, Any], path: tuple[Any, ...]) -> Any:
    """What ``#``, ``#/json/pointer`` or ``#anchor`` names inside ``schema``."""
    fragment = unquote(ref[1:])
    where = schema_place([*path, "$ref"])
    if not fragment:
        return schema
    if not fragment.startswith("/"):
        if fragment in anchors:
            return anchors[fragment]
        raise SchemaProblem(where, "points to nothing inside the schema")
    target = schema
    for token in fragment[1:].split("/"):
        token = token.replace("~1", "/").replace("~0", "~")
        if isinstance(target, dict) and token in target:
            target = target[token]
        elif isinstance(target, list) and token.isdigit() and int(token) < len(target):
            target = target[int(token)]
        else:
            raise SchemaProblem(where, "points to nothing inside the schema")
    return target


def _has_loop(edges: Mapping[int, list[int]]) -> bool:
    """Whether the graph has a cycle (an iterative depth-first search)."""
    state: dict[int, int] = {}  # 1: on the path, 2: done
    for start in edges:
        if start in state:
            continue
        state[start] = 1
        stack = [(start, iter(edges[start]))]
        while stack:
            node, followers = stack[-1]
            for nxt in followers:
                mark = state.get(nxt)
                if mark == 1:
                    return True
                if mark is None:
                    state[nxt] = 1
                    stack.append((nxt, iter(edges.get(nxt, ()))))
                    break
            else:
                state[node] = 2
                stack.pop()
    return False


def _check_patterns(node: Mapping[str, Any], path: tuple[Any, ...]) -> None:
    pattern = node.get("pattern")
    if isinstance(pattern, str) and _compiled(pattern) is None:
        raise SchemaProblem(schema_place([*path, "pattern"]), _PATTERN_REFUSED)
    patterns = node.get("patternProperties")
    if isinstance(patterns, dict):
        for name in patterns:
            if _compiled(name) is None:
                raise SchemaProblem(schema_place([*path, "patternProperties"]), _PATTERN_REFUSED)


_PATTERN_REFUSED = (
    "is a regular expression this plugin cannot check in bounded time (lookarounds, backreferences "
    "and very large repetitions are not supported)"
)


def _check_against_dialect(schema: Any) -> None:
    from jsonschema.exceptions import SchemaError
    from jsonschema.validators import validator_for

    try:
        validator_for(schema).check_schema(schema)
    except SchemaError as error:
        raise SchemaProblem(
            schema_place(list(error.absolute_path)), describe_error(error), "is not a valid JSON Schema"
        ) from None


# ---------------------------------------------------------------------------------------------------
# Patterns: RE2, linear in the text


@cache
def _re2_options() -> Any:
    import re2  # type: ignore[import-untyped]

    options = re2.Options()
    options.log_errors = False  # RE2 would print the pattern to the host's stderr
    options.max_mem = MAX_PATTERN_MEMORY_BYTES
    return options


_patterns: dict[str, Any] = {}


def _compiled(pattern: str) -> Any:
    """The RE2 program of ``pattern``, or None when RE2 cannot run it."""
    found = _patterns.get(pattern)
    if found is not None:
        return found
    import re2

    try:
        program = re2.compile(pattern, _re2_options())
    except re2.error:
        return None
    if len(_patterns) >= MAX_CHECKED_SCHEMAS:
        _patterns.clear()
    _patterns[pattern] = program
    return program


def _pattern(validator: Any, pattern: Any, instance: Any, schema: Any) -> Iterator[ValidationError]:
    from jsonschema.exceptions import ValidationError

    if isinstance(instance, str) and isinstance(pattern, str):
        program = _compiled(pattern)  # None: a schema check_user_schema would refuse
        if program is None or program.search(instance) is None:
            yield ValidationError("does not match the pattern")


def _pattern_properties(
    validator: Any, patterns: Any, instance: Any, schema: Any
) -> Iterator[ValidationError]:
    if not isinstance(instance, dict):
        return
    for pattern, subschema in patterns.items():
        program = _compiled(pattern)
        if program is None:  # a schema check_user_schema would refuse
            yield ValidationError("has a pattern that cannot be checked")
            continue
        for key, value in instance.items():
            if program.search(key) is not None:
                yield from validator.descend(value, subschema, path=key, schema_path=pattern)


def _unique(validator: Any, unique: Any, instance: Any, schema: Any) -> Iterator[ValidationError]:
    from jsonschema.exceptions import ValidationError

    if unique and isinstance(instance, list):
        seen: set[str] = set()
        for item in instance:
            key = _canonical(item)
            if key in seen:
                yield ValidationError("has non-unique elements")
                return
            seen.add(key)


def _canonical(value: Any) -> str:
    """One text for JSON-equal values (``1`` and ``1.0`` alike, ``true`` not ``1``, keys in any order)."""
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, (int, float)):
        return f"n{value!r}" if isinstance(value, float) and not value.is_integer() else f"n{int(value)}"
    if isinstance(value, list):
        return "[" + ",".join(_canonical(item) for item in value) + "]"
    if isinstance(value, dict):
        return "{" + ",".join(f"{json.dumps(k)}:{_canonical(v)}" for k, v in sorted(value.items())) + "}"
    return repr(value)


# ---------------------------------------------------------------------------------------------------
# Checking an answer

_check_deadline: ContextVar[float] = ContextVar("tooljet_portkey_check_deadline", default=0.0)
_clock = time.monotonic


class CheckTimeout(Exception):
    """The check ran past the query's deadline."""


def _timed(keyword: Any) -> Any:
    def check(validator: Any, value: Any, instance: Any, schema: Any) -> Iterator[ValidationError]:
        if _clock() > _check_deadline.get():
            raise CheckTimeout
        errors = keyword(validator, value, instance, schema)
        if errors is not None:
            yield from errors

    return check


@cache
def _validator_class(base: type[Validator]) -> type[Validator]:
    from jsonschema.validators import extend

    keywords = {name: _timed(function) for name, function in base.VALIDATORS.items()}
    keywords.update(
        pattern=_timed(_pattern),
        patternProperties=_timed(_pattern_properties),
        uniqueItems=_timed(_unique),
    )
    extended: type[Validator] = extend(base, keywords)  # type: ignore[no-untyped-call]
    return extended


@cache
def no_retrieval() -> Any:
    """A registry of no schemas that retrieves nothing: a reference that leaves its schema fails."""
    from referencing import Registry
    from referencing.exceptions import NoSuchResource

    def refuse(uri: str) -> Any:
        raise NoSuchResource(ref=uri)  # type: ignore[call-arg]  # an attrs class: its stub lacks the field

    return Registry(retrieve=refuse)  # type: ignore[call-arg]  # an attrs class: its stub lacks the field


def bounded_validator(schema: Any, format_checker: Any = None) -> Validator:
    """A validator of ``schema`` that retrieves nothing, runs patterns with RE2 and whose keywords
    raise CheckTimeout past the deadline ``checking_until`` sets."""
    from jsonschema.validators import validator_for

    cls = _validator_class(validator_for(schema))
    return cls(schema, registry=no_retrieval(), format_checker=format_checker)


class checking_until:  # lower case: read as a statement, ``with checking_until(deadline):``
    """Checks made by a ``bounded_validator`` inside the block raise CheckTimeout past ``deadline``
    (time.monotonic; a contextvar, so threads and tasks each keep their own)."""

    def __init__(self, deadline: float) -> None:
        self._deadline = deadline
        self._token: Any = None

    def __enter__(self) -> None:
        self._token = _check_deadline.set(self._deadline)

    def __exit__(self, *exc: object) -> None:
        _check_deadline.reset(self._token)


_validators: dict[str, Validator] = {}


def _answer_validator(schema: Any) -> Validator:
    text = json.dumps(schema, sort_keys=True)
    found = _validators.get(text)
    if found is None:
        found = bounded_validator(schema)
        if len(_validators) >= MAX_CHECKED_SCHEMAS:
            _validators.clear()
        _validators[text] = found
    return found


def answer_problem(value: Any, schema: Any, deadline: float) -> str | None:
    """Why ``value`` (a model's answer) does not follow ``schema`` (already checked by
    ``check_user_schema``), in words that quote only the answer's own keys; None when it does.
    The check ends by ``deadline`` (time.monotonic)."""
    from jsonschema.exceptions import best_match

    if _depth_over(value, MAX_JSON_DEPTH):
        return f"(the answer): is nested more than {MAX_JSON_DEPTH} levels deep, too deep to check"
    try:
        with checking_until(deadline):
            error = best_match(_answer_validator(schema).iter_errors(value))
    except CheckTimeout:
        return "(the answer): could not be checked against the schema before the query's time was up"
    except RecursionError:
        return "(the answer): is nested too deeply to check against the schema"
    if error is None:
        return None
    where = "".join(f"[{p}]" if isinstance(p, int) else f".{_short(str(p))}" for p in error.absolute_path)
    problem = "does not match the schema's pattern" if error.validator == "pattern" else describe_error(error)
    return f"{where.lstrip('.') or '(the answer)'}: {problem}"


def _short(name: str) -> str:
    return name if len(name) <= 40 else name[:40] + "..."


def _depth_over(value: Any, limit: int) -> bool:
    """Whether ``value`` nests more than ``limit`` levels (iteratively: any depth is safe to ask)."""
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children: Any = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        if depth >= limit:
            return True
        stack.extend((child, depth + 1) for child in children if isinstance(child, (dict, list)))
    return False
