"""The declarative spec: manifest.json and operations.json, and the validation derived from them.

The two shipped JSON files are the one source of truth for which options exist, what they accept and
which are required. Hosts hand us text (``"256"``, ``"0.7"``, ``"[...]"``), so each value is first
coerced by its field's kind and then checked against the field's JSON Schema. Validators are compiled
once per process, on first use (jsonschema is imported lazily to keep ``import tooljet_portkey`` cheap).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from ._constants import (
    DEFAULT_GATEWAY_URL,
    DEFAULT_MAX_RETRIES,
    DEFAULT_TIMEOUT_SECONDS,
    HOSTED_API_HOST,
    MAX_HEADER_CHARS,
    MAX_OPTION_CHARS,
)
from ._errors import QueryError

if TYPE_CHECKING:
    from jsonschema.exceptions import ValidationError
    from jsonschema.protocols import Validator

OPERATIONS_URI = "urn:tooljet-portkey:operations"
MANIFEST_URI = "urn:tooljet-portkey:manifest"
INVALID_OPTIONS = "Invalid query options"
INVALID_CONNECTION = "Invalid connection options"

# How host text becomes a value (a field's "coerce"); the shipped meta-schemas list the same kinds.
COERCE_KINDS = frozenset(
    {
        "text",
        "trim",
        "integer",
        "number",
        "boolean",
        "json",
        "list",
        "json-object-or-text",
        "json-array-or-text",
    }
)

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
    operations: Mapping[str, tuple[Field, ...]]
    operation_names: Mapping[str, str]
    connection: tuple[Field, ...]
    operations_doc: Mapping[str, Any]
    manifest_doc: Mapping[str, Any]


def _read(name: str) -> dict[str, Any]:
    text = resources.files(__package__).joinpath(name).read_text(encoding="utf-8")
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
    in_operations = {"": operations_doc, OPERATIONS_URI: operations_doc}
    in_manifest = {"": manifest_doc, OPERATIONS_URI: operations_doc}
    operations = {op: tuple(_field(raw, in_operations) for raw in properties[op].values()) for op in names}
    connection = tuple(_field(raw, in_manifest) for raw in manifest_doc["properties"].values())
    return Spec(operations, names, connection, operations_doc, manifest_doc)


def _object_schema(fields: tuple[Field, ...], uri: str) -> dict[str, Any]:
    # "required" is checked by _validate itself, so that values already known to be valid can be left
    # out of the object the validator sees.
    return {"$id": uri, "type": "object", "properties": {f.key: f.schema for f in fields}}


@cache
def _validator(name: str) -> Validator:
    """The compiled validator for one operation, or for the connection (``name == ""``)."""
    from jsonschema import Draft202012Validator
    from referencing import Registry, Resource
    from referencing.jsonschema import DRAFT202012

    spec = load_spec()
    operations_resource: Resource[Any] = DRAFT202012.create_resource(dict(spec.operations_doc))
    registry: Registry[Any] = Registry().with_resource(OPERATIONS_URI, operations_resource)
    if name:
        schema = _object_schema(spec.operations[name], f"{OPERATIONS_URI}:{name}")
        local = spec.operations_doc["definitions"]
    else:
        schema = _object_schema(spec.connection, MANIFEST_URI)
        local = spec.manifest_doc.get("definitions", {})
    schema = _inline_refs(schema, local, ())
    validator: Validator = _ecma_patterns(Draft202012Validator)(schema, registry=registry)
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


def _ecma_patterns(base: Any) -> Any:
    """``base`` with JSON Schema's (ECMA 262) ``$``: the end of the text. Python's ``$`` also matches
    before a final newline, which would let "vk-key\\n" through to a header that httpx then refuses."""
    import re

    from jsonschema.exceptions import ValidationError
    from jsonschema.validators import extend

    def pattern(validator: Any, regex: str, instance: Any, schema: Any) -> Any:
        if not isinstance(instance, str):
            return
        if regex.endswith("$") and not regex.endswith("\\$"):
            regex = regex[:-1] + "\\Z"
        if re.search(regex, instance) is None:
            yield ValidationError(f"{instance!r} does not match {regex!r}")

    return extend(base, {"pattern": pattern})  # type: ignore[no-untyped-call]


# ---------------------------------------------------------------------------------------------------
# Coercion: host text -> Python values


def _fail(title: str, key: str, problem: str) -> QueryError:
    return QueryError(title, f"{key}: {problem}", {"field": key})


def invalid_option(key: str, problem: str, where: str = "") -> QueryError:
    """The error for a query option that passed its own schema but breaks a rule across fields;
    ``where`` is the place inside the field (``[1].function.name``)."""
    return QueryError(INVALID_OPTIONS, f"{key}{where}: {problem}", {"field": key})


_checked_schemas: dict[str, None] = {}


def check_json_schema(key: str, schema: Any, where: str = "") -> None:
    """Refuse a value that is not a valid JSON Schema (a response format's or a tool's parameters);
    ``where`` is the place inside the field (``[0].function.parameters``)."""
    from jsonschema.exceptions import SchemaError
    from jsonschema.validators import validator_for

    text = json.dumps(schema, sort_keys=True)
    if text in _checked_schemas:
        return
    try:
        validator_for(schema).check_schema(schema)
    except SchemaError as error:
        inside = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in error.absolute_path)
        problem = f"is not a valid JSON Schema (at schema{inside}: {error.message[:200]})"
        raise invalid_option(key, problem, where) from None
    if len(_checked_schemas) >= _MAX_KNOWN:
        _checked_schemas.clear()
    _checked_schemas[text] = None


def _show(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _no_constant(name: str) -> Any:
    # Python's json accepts NaN and Infinity; JSON does not, and httpx refuses to send them.
    raise ValueError(f"{name} is not allowed in JSON")


def _loads(text: str, title: str, key: str) -> Any:
    try:
        return json.loads(text, parse_constant=_no_constant)
    except (ValueError, RecursionError) as err:
        detail = str(err) if isinstance(err, ValueError) else "nested too deeply"
        raise _fail(title, key, f"is not valid JSON ({detail})") from None


def _coerce(f: Field, value: Any, title: str) -> Any:
    """Turn what a host sent into the value the field's schema checks. Non-text passes through."""
    if not isinstance(value, str):
        if isinstance(value, float) and f.coerce in ("integer", "number"):
            if not math.isfinite(value):
                raise _fail(title, f.key, "must be a finite number")
            if f.coerce == "integer" and value.is_integer():
                return int(value)
        return value
    if len(value) > MAX_OPTION_CHARS:
        raise _fail(title, f.key, f"is longer than {MAX_OPTION_CHARS} characters")
    text = value.strip()
    kind = f.coerce
    if kind == "integer":
        try:
            number = float(text)
        except ValueError:
            raise _fail(title, f.key, f"must be a whole number, got {_show(value)}") from None
        if not (math.isfinite(number) and number.is_integer()):
            raise _fail(title, f.key, f"must be a whole number, got {_show(value)}")
        return int(number)
    if kind == "number":
        try:
            number = float(text)
        except ValueError:
            raise _fail(title, f.key, f"must be a number, got {_show(value)}") from None
        if not math.isfinite(number):
            raise _fail(title, f.key, "must be a finite number")
        return number
    if kind == "boolean":
        lowered = text.lower()
        if lowered in _TRUE:
            return True
        if lowered in _FALSE:
            return False
        raise _fail(title, f.key, f"must be true or false, got {_show(value)}")
    if kind == "trim":
        # Identifiers and keys: spaces pasted around them are never meant. Line breaks are not
        # trimmed: in a value that becomes a header they are refused, as header injection.
        return value.strip(" ")
    if kind == "json":
        return _loads(text, title, f.key)
    if kind == "json-object-or-text":
        return _loads(text, title, f.key) if text.startswith("{") else text
    if kind == "json-array-or-text":
        if text.startswith("["):
            try:
                return json.loads(text)
            except (ValueError, RecursionError):
                return value
        return value
    if kind == "list":
        if text.startswith("["):
            try:
                return json.loads(text)
            except (ValueError, RecursionError):
                pass
        return [part.strip(" ") for part in value.split(",") if part.strip(" ")]
    return value


def _is_blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def _pick(options: Mapping[str, Any], f: Field) -> Any:
    """The field's value, falling back to the old keys that saved queries may still carry."""
    value = options.get(f.key)
    if _is_blank(value):
        for alias in f.aliases:
            if not _is_blank(options.get(alias)):
                return options[alias]
    return value


def _collect(fields: tuple[Field, ...], options: Mapping[str, Any], title: str) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for f in fields:
        value = _pick(options, f)
        if not _is_blank(value):
            values[f.key] = _coerce(f, value, title)
    return values


# ---------------------------------------------------------------------------------------------------
# Validation errors -> one readable sentence naming the field

_TYPE_WORDS = {
    "integer": "a whole number",
    "number": "a number",
    "string": "text",
    "boolean": "true or false",
    "object": "a JSON object",
    "array": "a JSON array",
    "null": "empty",
}


def error_path(error: ValidationError) -> str:
    """Where a validation error is, as a user writes it: ``messages[0].content``."""
    out = ""
    for part in error.absolute_path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def describe_error(error: ValidationError) -> str:
    """What is wrong, in words for a form's user: ``must be at least 1``."""
    kw = error.validator
    arg: Any = error.validator_value
    custom = error.schema.get("errorMessage") if isinstance(error.schema, dict) else None
    if isinstance(custom, str):  # a rule whose plain reading would mislead ("needs 'content'")
        return custom
    if kw == "type":
        wanted = arg if isinstance(arg, list) else [arg]
        return "must be " + " or ".join(_TYPE_WORDS.get(str(t), str(t)) for t in wanted)
    if kw == "required":
        missing = error.message.split("'")[1] if "'" in error.message else "a field"
        return f"needs '{missing}'"
    if kw == "minLength":
        return "must not be empty" if arg == 1 else f"must be at least {arg} characters"
    if kw == "maxLength":
        return f"must be at most {arg} characters"
    if kw == "pattern":
        return "contains characters that are not allowed here"
    if kw == "enum":
        return "must be one of: " + ", ".join(str(v) for v in arg)
    if kw == "minimum":
        return f"must be at least {arg}"
    if kw == "maximum":
        return f"must be at most {arg}"
    if kw == "exclusiveMinimum":
        return f"must be greater than {arg}"
    if kw == "minItems":
        return f"must have at least {arg} item{'s' if arg != 1 else ''}"
    if kw == "maxItems":
        return f"must have at most {arg} items"
    if kw == "maxProperties":
        return f"must have at most {arg} keys"
    if kw == "propertyNames":
        return "has a key that is empty, too long or has control characters"
    if kw == "not":
        return "is not allowed"
    if kw == "oneOf":
        return "is not in an accepted form"
    return f"is not valid ({kw})"


_HEADER_JSON = frozenset({"metadata", "config"})  # sent as JSON text in an x-portkey-* header


def _encode_natives(fields: tuple[Field, ...], values: dict[str, Any], title: str) -> dict[str, str]:
    """The JSON text of every value that is not text. A Python host may pass values natively: they must
    still be JSON (no NaN, dates, sets, or ints too long to print, on which jsonschema's own messages fail).
    """
    encoded: dict[str, str] = {}
    for f in fields:
        value = values.get(f.key)
        if value is None or isinstance(value, str):
            continue
        try:
            encoded[f.key] = json.dumps(value, separators=(",", ":"), ensure_ascii=True, allow_nan=False)
        except (TypeError, ValueError, RecursionError):
            raise _fail(
                title, f.key, "must hold only JSON values (text, numbers, true/false, null, arrays, objects)"
            ) from None
    return encoded


def _check_header_sizes(encoded: Mapping[str, str], title: str) -> None:
    """JSON bound for a header must fit one: servers refuse headers of more than 8 to 16 KB."""
    for key in sorted(_HEADER_JSON & encoded.keys()):
        size = len(encoded[key])
        if size > MAX_HEADER_CHARS:
            raise _fail(
                title, key, f"is {size} characters as JSON; a header holds at most {MAX_HEADER_CHARS}"
            )


# Scalar values that passed their field's schema, per form: a host sends the same model, max_tokens or
# virtual key over and over, and jsonschema costs tens of microseconds a value. Fields are independent
# (the schemas have no cross-field rules), so a value valid once is valid again.
_KnownKey = tuple[str, str, type, Any]
_known_valid: dict[_KnownKey, None] = {}
_MAX_KNOWN = 4096
_MAX_KNOWN_TEXT = 512
_MAX_KNOWN_JSON = 2048


def _known_key(form: str, key: str, value: Any, encoded: str | None) -> _KnownKey | None:
    """What identifies a value: itself when it is a scalar, its JSON text when it is an object or list
    (a saved query sends the same messages or config again and again)."""
    if isinstance(value, (bool, int, float)) or (isinstance(value, str) and len(value) <= _MAX_KNOWN_TEXT):
        return (form, key, type(value), value)
    if encoded is not None and len(encoded) <= _MAX_KNOWN_JSON:
        return (form, key, type(value), encoded)
    return None


def _validate(
    form: str,
    fields: tuple[Field, ...],
    validator: Validator,
    values: dict[str, Any],
    encoded: Mapping[str, str],
    title: str,
) -> None:
    from jsonschema.exceptions import best_match

    for f in fields:
        if f.required and f.key not in values:
            raise _fail(title, f.key, "is required")
    keys = {k: _known_key(form, k, v, encoded.get(k)) for k, v in values.items()}
    pending = {k: v for k, v in values.items() if keys[k] not in _known_valid}
    if not pending:
        return
    error = best_match(validator.iter_errors(pending))
    if error is None:
        if len(_known_valid) >= _MAX_KNOWN:
            _known_valid.clear()
        _known_valid.update((known, None) for k in pending if (known := keys[k]) is not None)
        return
    path = error_path(error)
    key = str(error.absolute_path[0]) if error.absolute_path else path
    raise QueryError(title, f"{path}: {describe_error(error)}", {"field": key})


# ---------------------------------------------------------------------------------------------------
# Public entry points


@dataclass(frozen=True)
class Query:
    """A validated query: the operation and its coerced values, keyed by operations.json keys."""

    operation: str
    params: Mapping[str, Any]

    def __repr__(self) -> str:
        # values stay out: a query's virtualKey or config may be a secret
        return f"Query({self.operation!r}, fields={sorted(self.params)})"


def parse_query(query_options: Any) -> Query:
    """Validate what a host sent for one query. Raises QueryError naming the field and the problem."""
    if not isinstance(query_options, Mapping):
        raise QueryError(INVALID_OPTIONS, "query options must be an object", {"field": "operation"})
    spec = load_spec()
    operation = query_options.get("operation")
    if not isinstance(operation, str) or operation not in spec.operations:
        allowed = ", ".join(spec.operations)
        problem = "is required" if _is_blank(operation) else "is not a known operation"
        raise _fail(INVALID_OPTIONS, "operation", f"{problem} (one of: {allowed})")
    values = _collect(spec.operations[operation], query_options, INVALID_OPTIONS)
    encoded = _encode_natives(spec.operations[operation], values, INVALID_OPTIONS)
    _validate(operation, spec.operations[operation], _validator(operation), values, encoded, INVALID_OPTIONS)
    _check_header_sizes(encoded, INVALID_OPTIONS)
    return Query(operation, values)


def _redacted(value: str | None) -> str:
    return "None" if value is None else "'***'"


@dataclass(frozen=True)
class ConnectionSettings:
    """A validated connection. Hashable (it keys the client pool); its repr hides every secret."""

    base_url: str = DEFAULT_GATEWAY_URL
    api_key: str | None = field(default=None, repr=False)
    virtual_key: str | None = field(default=None, repr=False)
    provider: str | None = None
    provider_api_key: str | None = field(default=None, repr=False)
    config: str | None = None  # the x-portkey-config header: compact JSON, or a saved config id
    custom_host: str | None = None
    timeout: float = DEFAULT_TIMEOUT_SECONDS
    max_retries: int = DEFAULT_MAX_RETRIES

    def __repr__(self) -> str:
        return (
            f"ConnectionSettings(base_url={self.base_url!r}, api_key={_redacted(self.api_key)}, "
            f"virtual_key={_redacted(self.virtual_key)}, provider={self.provider!r}, "
            f"provider_api_key={_redacted(self.provider_api_key)}, "
            f"config={'None' if self.config is None else '<set>'}, custom_host={self.custom_host!r}, "
            f"timeout={self.timeout!r}, max_retries={self.max_retries!r})"
        )

    @property
    def secrets(self) -> tuple[str, ...]:
        """Every secret this connection holds, for redaction of text Portkey sends back."""
        found = [s for s in (self.api_key, self.virtual_key, self.provider_api_key) if s]
        if self.config and self.config.startswith("{"):
            found.extend(_config_secrets(json.loads(self.config)))
        return tuple(found)


def _config_secrets(config: Any) -> list[str]:
    found: list[str] = []
    if isinstance(config, dict):
        for key, value in config.items():
            if key in ("api_key", "virtual_key") and isinstance(value, str) and value:
                found.append(value)
            else:
                found.extend(_config_secrets(value))
    elif isinstance(config, list):
        for item in config:
            found.extend(_config_secrets(item))
    return found


def config_header(config: Any) -> str:
    """The x-portkey-config header value: a config object as compact ASCII JSON, or a config id."""
    if isinstance(config, str):
        return config
    return json.dumps(config, separators=(",", ":"), ensure_ascii=True)


def _check_url(value: str, key: str) -> str:
    try:
        parts = urlsplit(value)
    except ValueError:  # an unclosed IPv6 bracket: "http://[::1/v1"
        raise _fail(INVALID_CONNECTION, key, "must be an http(s) URL with a host") from None
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        raise _fail(INVALID_CONNECTION, key, "must be an http(s) URL with a host")
    if parts.username is not None or parts.password is not None:
        raise _fail(INVALID_CONNECTION, key, "must not carry credentials (user:password@)")
    if parts.query or parts.fragment:
        raise _fail(INVALID_CONNECTION, key, "must not have a query string or fragment")
    try:
        _ = parts.port
    except ValueError:
        raise _fail(INVALID_CONNECTION, key, "has an invalid port") from None
    return value.rstrip("/")


# Validated connections by their options: a host sends the same data source's options with every query.
_connections: dict[tuple[Any, ...], ConnectionSettings] = {}
_MAX_CONNECTIONS = 256


def _options_key(options: Mapping[str, Any]) -> tuple[Any, ...] | None:
    """A hashable, type-exact key for source options made of text, numbers, None and JSON values."""
    try:
        return tuple(
            sorted(
                (
                    str(k),
                    type(v).__name__,
                    v
                    if isinstance(v, (str, int, float, type(None)))
                    else json.dumps(v, sort_keys=True, allow_nan=False),
                )
                for k, v in options.items()
            )
        )
    except (TypeError, ValueError, RecursionError):
        return None


def parse_connection(source_options: Any) -> ConnectionSettings:
    """Validate a data source's options (manifest.json keys). Raises QueryError naming the field."""
    if source_options is None:
        source_options = {}
    if not isinstance(source_options, Mapping):
        raise QueryError(INVALID_CONNECTION, "source options must be an object", {"field": "source"})
    key = _options_key(source_options)
    settings = _connections.get(key) if key is not None else None
    if settings is None:
        settings = _parse_connection(source_options)
        if key is not None:
            if len(_connections) >= _MAX_CONNECTIONS:
                _connections.clear()
            _connections[key] = settings
    return settings


def _parse_connection(source_options: Mapping[str, Any]) -> ConnectionSettings:
    spec = load_spec()
    values = _collect(spec.connection, source_options, INVALID_CONNECTION)
    encoded = _encode_natives(spec.connection, values, INVALID_CONNECTION)
    _validate("", spec.connection, _validator(""), values, encoded, INVALID_CONNECTION)
    _check_header_sizes(encoded, INVALID_CONNECTION)
    base_url = _check_url(values.get("gatewayUrl", DEFAULT_GATEWAY_URL), "gatewayUrl")
    custom_host = values.get("customHost")
    if custom_host is not None:
        custom_host = _check_url(custom_host, "customHost")
    api_key = values.get("apiKey")
    if api_key is None and urlsplit(base_url).hostname == HOSTED_API_HOST:
        raise _fail(
            INVALID_CONNECTION,
            "apiKey",
            "is required for Portkey's hosted API (set gatewayUrl for a self-hosted gateway)",
        )
    config = values.get("config")
    return ConnectionSettings(
        base_url=base_url,
        api_key=api_key,
        virtual_key=values.get("virtualKey"),
        provider=values.get("provider"),
        provider_api_key=values.get("providerApiKey"),
        config=None if config is None else config_header(config),
        custom_host=custom_host,
        timeout=float(values.get("timeout", DEFAULT_TIMEOUT_SECONDS)),
        max_retries=int(values.get("maxRetries", DEFAULT_MAX_RETRIES)),
    )
