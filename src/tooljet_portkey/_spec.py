"""The declarative spec: manifest.json and operations.json, and the validation derived from them.

The two shipped JSON files are the one source of truth for which options exist, what they accept and
which are required. Hosts hand us text (``"256"``, ``"0.7"``, ``"[...]"``), so each value is first
coerced by its field's kind and then checked against the field's JSON Schema. Validators are compiled
once per process, on first use (jsonschema is imported lazily to keep ``import tooljet_portkey`` cheap).
``validate_form`` does both for one form; ``_options`` builds the connection and the query from it.

What a refusal says: the field, where inside it (array indexes and the property names the spec itself
declares) and the problem, never the value, nor a key the user chose (a metadata key): whatever a user
typed may be a key pasted into the wrong field. Refusing costs time linear in the size of the value and
little memory beyond it: every JSON value is first walked once without recursion (depth, JSON types,
lone surrogates), sizes come before items in each schema, and only the first schema error is built.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING, Any

from ._constants import (
    MAX_CHECKED_SCHEMAS,
    MAX_HEADER_CHARS,
    MAX_KNOWN_JSON_CHARS,
    MAX_KNOWN_TEXT_CHARS,
    MAX_KNOWN_UNKNOWN_KEYS,
    MAX_KNOWN_VALUES,
    MAX_NEAR_MISS_KEY_CHARS,
    MAX_NEAR_MISS_KEYS,
    MAX_OPTION_CHARS,
)
from ._errors import QueryError
from ._files import package_text
from ._operations import names_where
from ._plain_schemas import plain_verdict
from ._schema_words import describe_error
from ._values import TOO_DEEP, json_problem

__all__ = [
    "COERCE_KINDS",
    "CONNECTION_FORM",
    "HOST_QUERY_KEYS",
    "INVALID_CONNECTION",
    "INVALID_OPTIONS",
    "MANIFEST_URI",
    "OPERATIONS_URI",
    "Field",
    "Spec",
    "check_json_schema",
    "check_near_misses",
    "config_header",
    "field_error",
    "form_fields",
    "form_schema",
    "form_validator",
    "invalid_option",
    "is_blank",
    "load_spec",
    "validate_form",
    "validate_row",
]

if TYPE_CHECKING:
    from jsonschema.exceptions import ValidationError
    from jsonschema.protocols import Validator

OPERATIONS_URI = "urn:tooljet-portkey:operations"
MANIFEST_URI = "urn:tooljet-portkey:manifest"
INVALID_OPTIONS = "Invalid query options"
INVALID_CONNECTION = "Invalid connection options"

# The form name of the data source's connection (manifest.json); every other form is an operation's.
CONNECTION_FORM = "connection"

_TRUE = frozenset({"true", "1", "yes", "on"})
_FALSE = frozenset({"false", "0", "no", "off"})


@dataclass(frozen=True)
class Field:
    """One form field: its key, the old keys saved queries may still use, and its value rules."""

    key: str
    label: str
    required: bool
    coerce: str
    schema: Mapping[str, Any]
    aliases: tuple[str, ...] = ()


@dataclass(frozen=True)
class Spec:
    """What the two JSON files declare, read once: each operation's fields, the operation list (value ->
    label, in the dropdown's order), the operations that can stream, the connection's fields."""

    operations: Mapping[str, tuple[Field, ...]]
    operation_names: Mapping[str, str]
    # operations with a ``stream`` field, in the operation list's order
    streamable: tuple[str, ...]
    connection: tuple[Field, ...]
    operations_doc: Mapping[str, Any]
    manifest_doc: Mapping[str, Any]


def _read(name: str) -> dict[str, Any]:
    text = package_text(name)
    doc: dict[str, Any] = json.loads(text)
    return doc


def _coerce_kind(raw: Mapping[str, Any]) -> str:
    if "coerce" in raw:
        kind = str(raw["coerce"])
        if kind not in COERCE_KINDS:
            raise ValueError(f"field {raw.get('key')!r} has an unknown coerce kind {kind!r}")
        return kind
    schema_type = raw.get("value_type")
    return schema_type if schema_type in ("integer", "number", "boolean") else "text"


def _definition(ref: str, docs: Mapping[str, Mapping[str, Any]]) -> Mapping[str, Any]:
    """The value schema a field's ``$ref`` names: ``#/definitions/x`` in the field's own document, or
    ``urn:tooljet-portkey:operations#/definitions/x`` across documents."""
    uri, _, pointer = ref.partition("#/definitions/")
    doc = docs.get(uri)
    if doc is None or pointer not in doc.get("definitions", {}):
        raise ValueError(f"unknown value schema {ref!r}")
    return doc["definitions"][pointer]  # type: ignore[no-any-return]


def _field(raw: Mapping[str, Any], docs: Mapping[str, Mapping[str, Any]]) -> Field:
    # Field nodes hold only a $ref to their value schema: ToolJet's meta-schema reads any object with a
    # "type" under "properties" as a widget, so JSON Schemas live in the top-level "definitions".
    schema = raw["schema"]
    value_type = _definition(schema["$ref"], docs).get("type")
    return Field(
        key=raw["key"],
        label=raw["label"],
        required=bool(raw.get("required", False)),
        coerce=_coerce_kind({**raw, "value_type": value_type}),
        schema=schema,
        aliases=tuple(raw.get("aliases", ())),
    )


@cache
def load_spec() -> Spec:
    """Read the shipped manifest.json and operations.json (once per process)."""
    operations_doc = _read("operations.json")
    manifest_doc = _read("manifest.json")
    properties = operations_doc["properties"]
    names = {item["value"]: item["name"] for item in properties["operation"]["list"]}
    if CONNECTION_FORM in names:
        raise ValueError(f"the operation name {CONNECTION_FORM!r} is the connection form's")
    in_operations = {"": operations_doc, OPERATIONS_URI: operations_doc}
    in_manifest = {"": manifest_doc, OPERATIONS_URI: operations_doc}
    operations = {op: tuple(_field(raw, in_operations) for raw in properties[op].values()) for op in names}
    connection = tuple(_field(raw, in_manifest) for raw in manifest_doc["properties"].values())
    streamable = tuple(op for op in names if any(f.key == "stream" for f in operations[op]))
    return Spec(operations, names, streamable, connection, operations_doc, manifest_doc)


def _object_schema(fields: tuple[Field, ...], uri: str) -> dict[str, Any]:
    # "required" is checked by _validate itself, so that values already known to be valid can be left
    # out of the object the validator sees.
    return {"$id": uri, "type": "object", "properties": {f.key: f.schema for f in fields}}


def form_fields(form: str) -> tuple[Field, ...]:
    """The fields of one form: an operation's, or the connection's (``CONNECTION_FORM``)."""
    spec = load_spec()
    return spec.connection if form == CONNECTION_FORM else spec.operations[form]


@cache
def form_schema(form: str) -> dict[str, Any]:
    """The schema of one form's values, its definitions inlined: read by ``_plain_schemas`` for the
    plain values (no jsonschema at all), compiled by ``form_validator`` for the rest."""
    spec = load_spec()
    if form == CONNECTION_FORM:
        schema = _object_schema(spec.connection, MANIFEST_URI)
        local = spec.manifest_doc.get("definitions", {})
    else:
        schema = _object_schema(spec.operations[form], f"{OPERATIONS_URI}:{form}")
        local = spec.operations_doc["definitions"]
    inlined: dict[str, Any] = _inline_refs(schema, local, ())
    return inlined


@cache
def form_validator(form: str) -> Validator:
    """The compiled validator of one form: an operation's, or the connection's (``CONNECTION_FORM``)."""
    from jsonschema import Draft202012Validator
    from referencing import Registry, Resource
    from referencing.jsonschema import DRAFT202012

    from ._keywords import extended_validator

    spec = load_spec()
    operations_resource: Resource[Any] = DRAFT202012.create_resource(dict(spec.operations_doc))
    registry: Registry[Any] = Registry().with_resource(OPERATIONS_URI, operations_resource)
    validator: Validator = extended_validator(Draft202012Validator)(form_schema(form), registry=registry)
    return validator


def _inline_refs(node: Any, local: Mapping[str, Any], seen: tuple[str, ...]) -> Any:
    """Replace each ``$ref`` to a definition by the definition itself, except where it recurses (a
    config's targets): following a ``$ref`` is most of jsonschema's cost on a small value.

    ``#/definitions/x`` names ``local`` (the definitions of the document being read);
    ``urn:tooljet-portkey:operations#/definitions/x`` names operations.json's, and refs inside those
    are then read in operations.json's scope."""
    if isinstance(node, list):
        return [_inline_refs(item, local, seen) for item in node]
    if not isinstance(node, dict):
        return node
    ref = node.get("$ref")
    if isinstance(ref, str) and len(node) == 1:
        scope = local
        if ref.startswith(_OPERATIONS_DEFINITIONS):
            scope, ref = load_spec().operations_doc["definitions"], ref[len(OPERATIONS_URI) :]
        name = ref[len(_LOCAL_DEFINITIONS) :] if ref.startswith(_LOCAL_DEFINITIONS) else None
        if name is not None and name in scope:
            if name in seen:  # recursion, only in operations.json (a config's targets): a ref the
                # registry resolves from any schema
                return {"$ref": f"{_OPERATIONS_DEFINITIONS}{name}"}
            return _inline_refs(scope[name], scope, (*seen, name))
    return {key: _inline_refs(value, local, seen) for key, value in node.items()}


_LOCAL_DEFINITIONS = "#/definitions/"
_OPERATIONS_DEFINITIONS = f"{OPERATIONS_URI}#/definitions/"


# ---------------------------------------------------------------------------------------------------
# Coercion: host text -> Python values


def field_error(title: str, key: str, problem: str) -> QueryError:
    """The refusal of one field: ``title`` is the form's (INVALID_OPTIONS or INVALID_CONNECTION)."""
    return QueryError(title, f"{key}: {problem}", {"field": key})


class _NotJSONConstant(ValueError):
    """NaN or an infinity in JSON text: Python's json accepts them; JSON does not, nor does httpx."""


def invalid_option(key: str, problem: str, where: str = "") -> QueryError:
    """The error for a query option that passed its own schema but breaks a rule across fields;
    ``where`` is the place inside the field (``[1].function.name``)."""
    return QueryError(INVALID_OPTIONS, f"{key}{where}: {problem}", {"field": key})


_checked_schemas: dict[str, None] = {}


def check_json_schema(key: str, schema: Any, where: str = "") -> None:
    """Refuse a value that is not a JSON Schema the plugin can use (a response format's or a tool's
    parameters): invalid, leaving itself through a ``$ref``, or not checkable in bounded time
    (``_schemas.py``); ``where`` is the place inside the field (``[0].function.parameters``)."""
    from ._schemas import SchemaProblem, check_user_schema

    text = json.dumps(schema, sort_keys=True)
    if text in _checked_schemas:
        return
    try:
        check_user_schema(schema)
    except SchemaProblem as problem:
        raise invalid_option(key, str(problem), where) from None
    if len(_checked_schemas) >= MAX_CHECKED_SCHEMAS:
        _checked_schemas.clear()
    _checked_schemas[text] = None


def _no_constant(name: str) -> Any:
    raise _NotJSONConstant(f"{name} is not allowed in JSON")


def _parse(text: str) -> tuple[Any, str | None]:
    """(the JSON value of ``text``, None), or (None, why it is not JSON, in words that never quote it).
    Nothing is raised here, so a refusal made of it links to no exception that quotes the text."""
    try:
        return json.loads(text, parse_constant=_no_constant), None
    except json.JSONDecodeError as err:
        # the decoder's own words, cut before any quoted character ("Invalid \\escape: 'x'")
        detail = err.msg.partition(":")[0]
        return None, f"is not valid JSON ({detail}: line {err.lineno} column {err.colno} (char {err.pos}))"
    except _NotJSONConstant as err:
        return None, f"is not valid JSON ({err})"
    except ValueError:  # a number of more than 4,300 digits
        return None, "is not valid JSON (a number has too many digits)"
    except RecursionError:
        return None, TOO_DEEP


def _to_number(text: str) -> float | None:
    try:
        return float(text)
    except ValueError:
        return None


# One coercer per coerce kind: the host's text -> (the value, None), or (None, the problem in words that
# never quote the text). Pure: the field's key and the refusal's title are added by ``_coerce``.
Coerced = tuple[Any, str | None]


def _as_text(value: str) -> Coerced:
    return value, None


def _as_trimmed(value: str) -> Coerced:
    # Identifiers and keys: spaces pasted around them are never meant. Line breaks are not trimmed:
    # in a value that becomes a header they are refused, as header injection.
    return value.strip(" "), None


def _as_integer(value: str) -> Coerced:
    number = _to_number(value.strip())
    if number is None or not (math.isfinite(number) and number.is_integer()):
        return None, "must be a whole number"
    return int(number), None


def _as_number(value: str) -> Coerced:
    number = _to_number(value.strip())
    if number is None:
        return None, "must be a number"
    if not math.isfinite(number):
        return None, "must be a finite number"
    return number, None


def _as_boolean(value: str) -> Coerced:
    lowered = value.strip().lower()
    if lowered in _TRUE:
        return True, None
    if lowered in _FALSE:
        return False, None
    return None, "must be true or false"


def _as_json(value: str) -> Coerced:
    return _parse(value.strip())


def _as_json_object_or_text(value: str) -> Coerced:
    text = value.strip()
    return _parse(text) if text.startswith("{") else (text, None)


def _as_json_array_or_text(value: str) -> Coerced:
    """A JSON array when the text is one; else the text as it came."""
    text = value.strip()
    if text.startswith("["):
        parsed, problem = _parse(text)
        if not problem:
            return parsed, None
    return value, None


def _as_list(value: str) -> Coerced:
    """A JSON array when the text is one; else the text's comma-separated items."""
    text = value.strip()
    if text.startswith("["):
        parsed, problem = _parse(text)
        if not problem:
            return parsed, None
    return [part.strip(" ") for part in value.split(",") if part.strip(" ")], None


_COERCERS: Mapping[str, Callable[[str], Coerced]] = {
    "text": _as_text,
    "trim": _as_trimmed,
    "integer": _as_integer,
    "number": _as_number,
    "boolean": _as_boolean,
    "json": _as_json,
    "list": _as_list,
    "json-object-or-text": _as_json_object_or_text,
    "json-array-or-text": _as_json_array_or_text,
}
# How host text becomes a value (a field's "coerce"); the shipped meta-schemas list the same kinds.
COERCE_KINDS = frozenset(_COERCERS)


def _coerce(f: Field, value: Any, title: str) -> Any:
    """Turn what a host sent into the value the field's schema checks. Non-text passes through.

    A refusal names the field and the problem, never the text: a user who pastes the API key into
    the Timeout field must not see it printed back (nor the host's log, nor test_connection's message).
    """
    if not isinstance(value, str):
        if isinstance(value, float) and f.coerce in ("integer", "number"):
            if not math.isfinite(value):
                raise field_error(title, f.key, "must be a finite number")
            if f.coerce == "integer" and value.is_integer():
                return int(value)
        return value
    if len(value) > MAX_OPTION_CHARS:
        raise field_error(title, f.key, f"is longer than {MAX_OPTION_CHARS} characters")
    coerced, problem = _COERCERS[f.coerce](value)
    if problem:
        raise field_error(title, f.key, problem)
    return coerced


def is_blank(value: Any) -> bool:
    """Whether a host left a field empty: None, or text of only whitespace."""
    return value is None or (isinstance(value, str) and not value.strip())


def _pick(options: Mapping[str, Any], f: Field) -> Any:
    """The field's value, falling back to the old keys that saved queries may still carry."""
    value = options.get(f.key)
    if is_blank(value):
        for alias in f.aliases:
            if not is_blank(options.get(alias)):
                return options[alias]
    return value


def _collect(fields: tuple[Field, ...], options: Mapping[str, Any], title: str) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for f in fields:
        value = _pick(options, f)
        if not is_blank(value):
            values[f.key] = _coerce(f, value, title)
    return values


def _check_lengths(root: Mapping[str, Any], values: Mapping[str, Any], title: str) -> None:
    """A list or object with more items than its field allows is refused before anything walks it: 200k
    messages are "too many" at once, whatever they hold."""
    schemas: Mapping[str, Any] = root["properties"]
    for key, value in values.items():
        schema = schemas.get(key, {})
        if isinstance(value, list) and len(value) > schema.get("maxItems", math.inf):
            raise field_error(title, key, f"must have at most {schema['maxItems']} items")
        if isinstance(value, dict) and len(value) > schema.get("maxProperties", math.inf):
            raise field_error(title, key, f"must have at most {schema['maxProperties']} keys")


def _check_values(values: Mapping[str, Any], title: str) -> dict[str, int]:
    """Refuse any value that is not sendable JSON; the lower bound of each value's JSON size."""
    sizes: dict[str, int] = {}
    for key, value in values.items():
        problem, sizes[key] = json_problem(value)
        if problem:
            raise field_error(title, key, problem)
    return sizes


_HEADER_JSON = ("config", "metadata")  # sent as JSON text in an x-portkey-* header


def config_header(config: Any) -> str:
    """The x-portkey-config header value: a config object as compact ASCII JSON, or a config id."""
    if isinstance(config, str):
        return config
    return json.dumps(config, separators=(",", ":"), ensure_ascii=True)


def _check_header_sizes(values: Mapping[str, Any], sizes: Mapping[str, int], title: str) -> None:
    """JSON bound for a header must fit one: servers refuse headers of more than 8 to 16 KB. Checked
    before the schema, so an 8 MiB config costs one walk, not a validation."""
    for key in _HEADER_JSON:
        value = values.get(key)
        if value is None or isinstance(value, str):
            continue
        if sizes[key] > MAX_HEADER_CHARS or len(config_header(value)) > MAX_HEADER_CHARS:
            raise field_error(
                title, key, f"is longer than {MAX_HEADER_CHARS} characters as JSON, the most a header holds"
            )


# ---------------------------------------------------------------------------------------------------
# Validation errors -> one readable sentence naming the field


@cache
def _declared_names() -> frozenset[str]:
    """Every property name the shipped spec declares: the only object keys an error path may show."""
    spec = load_spec()
    names: set[str] = set()
    stack: list[Any] = [spec.operations_doc, spec.manifest_doc]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            if isinstance(node.get("properties"), dict):
                names.update(node["properties"])
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
    return frozenset(names)


def _path(error: ValidationError) -> tuple[str, bool]:
    """The error's place (``messages[0].role``), and whether it stopped at a key the user chose."""
    declared = _declared_names()
    out = ""
    for part in error.absolute_path:
        if isinstance(part, int):
            out += f"[{part}]"
        elif out and part not in declared:
            return out, True
        else:
            out += f".{part}" if out else str(part)
    return out, False


def _message(error: ValidationError) -> str:
    path, cut = _path(error)
    return f"{path}: {'a value ' if cut else ''}{describe_error(error)}"


# Scalar values that passed their field's schema, per form: a host sends the same model, max_tokens or
# virtual key over and over, and jsonschema costs tens of microseconds a value. Fields are independent
# (the schemas have no cross-field rules), so a value valid once is valid again.
_KnownKey = tuple[str, str, type, Any]
_known_valid: dict[_KnownKey, None] = {}
_TOOTOO_DEEP: Any = object()


def _known_key(form: str, key: str, value: Any, size: int) -> _KnownKey | None:
    """What identifies a value: itself when it is a scalar, its JSON text when it is an object or list
    (a saved query sends the same messages or config again and again)."""
    if isinstance(value, (bool, int, float)) or (
        isinstance(value, str) and len(value) <= MAX_KNOWN_TEXT_CHARS
    ):
        return (form, key, type(value), value)
    if isinstance(value, (dict, list)) and size <= MAX_KNOWN_JSON_CHARS:
        encoded = json.dumps(value, separators=(",", ":"), ensure_ascii=True)
        if len(encoded) <= MAX_KNOWN_JSON_CHARS:
            return (form, key, type(value), encoded)
    return None


def _validate(
    form: str,
    fields: tuple[Field, ...],
    values: dict[str, Any],
    sizes: Mapping[str, int],
    title: str,
    remember: bool = True,
) -> None:
    """Check the values against their schemas: the plain ones without jsonschema (_plain_schemas.py),
    the rest, and any the plain check refuses, with it. Only the first error is built: the schemas
    put sizes (maxItems) before items, so a list of a million items is refused for its length at once.
    ``remember``: keep the valid values for next time (not a table's rows: each row's text is new)."""
    for f in fields:
        if f.required and f.key not in values:
            raise field_error(title, f.key, "is required")
    keys = {k: _known_key(form, k, v, sizes[k]) for k, v in values.items()}
    pending = {k: v for k, v in values.items() if keys[k] not in _known_valid}
    if not pending:
        return
    schemas = form_schema(form)["properties"]
    try:
        plain = all(plain_verdict(schemas[k], v) is True for k, v in pending.items())
        first = None if plain else next(form_validator(form).iter_errors(pending), None)
    except RecursionError:  # only when the host's own stack is already deep
        first = _TOOTOO_DEEP
    if first is _TOOTOO_DEEP:
        raise field_error(title, max(pending, key=lambda k: sizes[k]), TOO_DEEP)
    if first is None:
        if not remember:
            return
        if len(_known_valid) >= MAX_KNOWN_VALUES:
            _known_valid.clear()
        _known_valid.update((known, None) for k in pending if (known := keys[k]) is not None)
        return
    from jsonschema.exceptions import best_match

    error = best_match([first]) or first  # descends into a oneOf's context, if a schema has one
    raise QueryError(title, _message(error), {"field": str(error.absolute_path[0])})


# ---------------------------------------------------------------------------------------------------
# The entry point: a form's options -> its coerced, validated values


def validate_form(
    form: str, options: Mapping[str, Any], title: str, check_required: bool = True
) -> dict[str, Any]:
    """The values of one form's fields (an operation's, or ``CONNECTION_FORM``), coerced from what the
    host sent and checked against their schemas, keyed by the spec's keys (an alias's value under its
    field's key); blank fields are left out. Raises QueryError(``title``) naming the field.
    ``check_required`` off: a required field may be missing (a table run's rows may each give it)."""
    fields = form_fields(form)
    values = _collect(fields, options, title)
    _check_lengths(form_schema(form), values, title)
    sizes = _check_values(values, title)
    _check_header_sizes(_header_bound(form, values), sizes, title)
    _validate(form, fields if check_required else (), values, sizes, title)
    return values


def validate_row(
    operation: str, row: Mapping[str, Any], where: str, not_per_row: frozenset[str]
) -> dict[str, Any]:
    """One row of a table run (``where``: ``rows[3]``): its fields coerced and checked as the form's
    are, keyed by the spec's keys. Every key must be a field of ``operation`` (a near miss is named
    as in the form: ``rows[3].temprature: not a field; did you mean temperature?``) and none of
    ``not_per_row``; a blank value is left out. Required fields are the merged query's to check.
    Raises QueryError naming the row and the field (``rows[3].temperature: must be at most 2``)."""
    fields, by_key = _row_keys(operation)
    options: dict[str, Any] = {}
    for key, value in row.items():
        f = by_key.get(key) if isinstance(key, str) else None
        if f is None:
            raise _not_a_row_field(operation, key, where, fields)
        if f.key in not_per_row:
            raise QueryError(
                INVALID_OPTIONS,
                f"{where}.{f.key}: cannot be set per row, only for the whole run",
                {"field": "rows"},
            )
        if not is_blank(value):
            options[f.key] = value
    try:
        values = {key: _coerce(fields[key], value, INVALID_OPTIONS) for key, value in options.items()}
        _check_lengths(form_schema(operation), values, INVALID_OPTIONS)
        sizes = _check_values(values, INVALID_OPTIONS)
        _check_header_sizes(_header_bound(operation, values), sizes, INVALID_OPTIONS)
        _validate(operation, (), values, sizes, INVALID_OPTIONS, remember=False)
    except QueryError as err:
        raise in_row(err, where) from None
    return values


# Each form's fields by key, and by key or alias, for validate_row: built once for a table's or a batch's
# many rows, not once a row (a batch of 50,000 rows built them 100,000 times). Kept with the fields they
# were built from, so a spec read anew (a test's) is never answered from the old one.
_row_keys_of: dict[str, tuple[tuple[Field, ...], dict[str, Field], dict[str, Field]]] = {}


def _row_keys(operation: str) -> tuple[dict[str, Field], dict[str, Field]]:
    """An operation's fields by key, and by key or alias (a key wins over another field's alias)."""
    form = form_fields(operation)
    known = _row_keys_of.get(operation)
    if known is not None and known[0] is form:
        return known[1], known[2]
    fields = {f.key: f for f in form}
    by_key = {**{alias: f for f in fields.values() for alias in f.aliases}, **fields}
    _row_keys_of[operation] = (form, fields, by_key)
    return fields, by_key


def in_row(error: QueryError, where: str) -> QueryError:
    """A field's refusal as one row's (``where``: ``rows[3]``): ``rows[3].temperature: ...``."""
    return QueryError(error.message, f"{where}.{error.description}", {**error.data, "field": "rows"})


def _not_a_row_field(operation: str, key: Any, where: str, fields: Mapping[str, Field]) -> QueryError:
    """A row key that is no field of the operation: named (when it is short enough to be a key one
    meant), with the field it is a near miss of, when it is one of this operation's."""
    shape = f"(a row is its prompt's text, or an object of {operation}'s fields)"
    if not isinstance(key, str) or len(key) > MAX_NEAR_MISS_KEY_CHARS:
        return QueryError(
            INVALID_OPTIONS,
            f"{where}: has a key that is not a field of {operation} {shape}",
            {"field": "rows"},
        )
    meant = _remembered_near_miss(key, operation)
    hint = f"; did you mean {meant}?" if meant in fields else f" of {operation} {shape}"
    return QueryError(INVALID_OPTIONS, f"{where}.{key}: not a field{hint}", {"field": "rows"})


# Operations whose ``metadata`` field is sent in the body (Portkey's feedback API), not as a header
_BODY_METADATA = names_where(body_metadata=True)


def _header_bound(form: str, values: Mapping[str, Any]) -> Mapping[str, Any]:
    """The values that become headers, for the header size check."""
    if form in _BODY_METADATA and "metadata" in values:
        return {key: value for key, value in values.items() if key != "metadata"}
    return values


# ---------------------------------------------------------------------------------------------------
# Keys that are no field: a near miss of one is a mistake, named; any other key is left alone

# Keys a host keeps in a query's options beside the form's fields, whatever the data source: ToolJet's
# query panel (the transformation, the run, confirmation and notification settings, event handlers).
# Never taken for a mistake, whichever field they come near.
HOST_QUERY_KEYS = frozenset(
    {
        "transformation", "transformations", "transformationLanguage", "enableTransformation",
        "runOnPageLoad", "runOnDependencyChange", "runPeriodically", "runPeriodicallyFx",
        "queryRunInterval", "requestConfirmation", "requestConfirmationFx", "confirmationMessage",
        "showSuccessNotification", "successMessage", "notificationDuration", "events",
    }
)  # fmt: skip


@dataclass(frozen=True)
class _FieldNames:
    """The query keys, read once from the spec: those never examined (every operation's fields and
    aliases, the operation, the host's keys); each field's key with the operations it belongs to, in
    the spec's order; and every spelling of a field (its key, its aliases) normalised (``_normal``)."""

    known: frozenset[str]
    fields: tuple[tuple[str, frozenset[str]], ...]  # (field key, its operations)
    spellings: Mapping[str, int]  # a field key or alias, normalised -> the field's index in ``fields``
    # each spelling's letters, for a cheap first test of the distance (``_may_be_near``)
    letters: Mapping[str, frozenset[str]]


def _normal(key: str) -> str:
    """A key as a near miss is compared: case, ``_`` and ``-`` do not count (trace_id, TraceId, traceId)."""
    return key.lower().replace("_", "").replace("-", "")


@cache
def _field_names() -> _FieldNames:
    owners: dict[str, set[str]] = {}
    aliases: dict[str, str] = {}
    for operation, fields in load_spec().operations.items():
        for f in fields:
            owners.setdefault(f.key, set()).add(operation)
            aliases.update((alias, f.key) for alias in f.aliases)
    index_of = {key: index for index, key in enumerate(owners)}
    spellings = {_normal(alias): index_of[key] for alias, key in aliases.items()}
    spellings.update((_normal(key), index) for key, index in index_of.items())
    known = frozenset({*owners, *aliases, "operation", *HOST_QUERY_KEYS})
    owned = tuple((key, frozenset(ops)) for key, ops in owners.items())
    return _FieldNames(known, owned, spellings, {spelling: frozenset(spelling) for spelling in spellings})


def _edits_allowed(key: str) -> int:
    """How far a key may be from a field's to be a near miss of it: typos in short keys are too
    likely to be another word (``size``, ``style``)."""
    return 2 if len(key) >= 9 else 1 if len(key) >= 5 else 0


def _may_be_near(a: str, letters: frozenset[str], b: str, b_letters: frozenset[str], limit: int) -> bool:
    """What any ``limit`` edits between ``a`` and ``b`` leave true, cheap to test: lengths at most
    ``limit`` apart, and at most ``limit`` letters of either missing from the other (an edit brings
    in one letter at most)."""
    return abs(len(a) - len(b)) <= limit and len(letters - b_letters) <= limit >= len(b_letters - letters)


def _distance(a: str, b: str, limit: int) -> int | None:
    """The edit distance of ``a`` and ``b`` (insertions, deletions, substitutions and swaps of two
    neighbours, each one edit) when it is at most ``limit``; None when it is more."""
    if abs(len(a) - len(b)) > limit:
        return None
    before: list[int] = []
    previous = list(range(len(b) + 1))
    for i in range(1, len(a) + 1):
        row = [i] + [0] * len(b)
        for j in range(1, len(b) + 1):
            edits = min(previous[j] + 1, row[j - 1] + 1, previous[j - 1] + (a[i - 1] != b[j - 1]))
            if i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]:
                edits = min(edits, before[j - 2] + 1)
            row[j] = edits
        if min(row) > limit:
            return None
        before, previous = previous, row
    return previous[-1] if previous[-1] <= limit else None


def near_miss(key: str, operation: str) -> str | None:
    """The field ``key`` was meant to be, when it is a near miss of one (of its key or an alias): the
    same but for case, ``_`` or ``-``, or a few edits away (``_edits_allowed``). The closest wins;
    between equals, a field of ``operation``, then the spec's order."""
    names = _field_names()
    normal = _normal(key)
    exact = names.spellings.get(normal)
    if exact is not None:
        return names.fields[exact][0]
    limit = _edits_allowed(key)
    letters = frozenset(normal)
    best: tuple[int, bool, int] | None = None
    for spelling, index in names.spellings.items():
        if not _may_be_near(normal, letters, spelling, names.letters[spelling], limit):
            continue
        edits = _distance(normal, spelling, limit)
        if edits is not None:
            rank = (edits, operation not in names.fields[index][1], index)
            best = rank if best is None or rank < best else best
    return None if best is None else names.fields[best[2]][0]


# The answers of near_miss, by (key, operation): a host sends the same keys of its own again and again.
_near_misses: dict[tuple[str, str], str | None] = {}


def _remembered_near_miss(key: str, operation: str) -> str | None:
    asked = (key, operation)
    if asked not in _near_misses:
        if len(_near_misses) >= MAX_KNOWN_UNKNOWN_KEYS:
            _near_misses.clear()
        _near_misses[asked] = near_miss(key, operation)
    return _near_misses[asked]


def check_near_misses(operation: str, options: Mapping[str, Any]) -> None:
    """Refuse a query option key that is no field but a near miss of one (``trace_id``, ``Temperature``,
    ``max_token``): sent as it is, the query would run without it, and nobody would know. The keys of
    other operations (a host keeps them when the user switches operation) and ``HOST_QUERY_KEYS`` are
    fields; any other key, and a blank value, is left alone (hosts add keys of their own).

    Only unknown keys are examined, at most ``MAX_NEAR_MISS_KEYS`` of them and only those up to
    ``MAX_NEAR_MISS_KEY_CHARS`` long: 100,000 keys or a 1 MB key cost one set lookup each. The
    answer for each key is remembered (a host sends the same keys of its own with every query)."""
    known = _field_names().known
    examined = 0
    for key, value in options.items():
        if key in known or not isinstance(key, str) or len(key) > MAX_NEAR_MISS_KEY_CHARS or is_blank(value):
            continue
        examined += 1
        if examined > MAX_NEAR_MISS_KEYS:
            return
        field = _remembered_near_miss(key, operation)
        if field is not None:
            raise QueryError(INVALID_OPTIONS, f"{key}: not a field; did you mean {field}?", {"field": key})
