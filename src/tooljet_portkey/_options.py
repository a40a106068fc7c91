"""A host's options, parsed: a data source's into ``ConnectionSettings``, a query's into ``Query``.

Both are validated by the spec (``_spec.validate_form``) before anything else reads them; what this
module adds is what the spec's schemas cannot say: which operation a query names, that a gateway URL
is one (no credentials, query string or fragment in it), that Portkey's hosted API needs an API key,
and the conversions to the settings' own units (MiB to bytes, the config as its header text).
Refusals name the field and the problem, never the value.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from ._constants import (
    DEFAULT_GATEWAY_URL,
    DEFAULT_MAX_EVENT_BYTES,
    DEFAULT_MAX_RESPONSE_BYTES,
    DEFAULT_MAX_RETRIES,
    DEFAULT_TIMEOUT_SECONDS,
    HOSTED_API_HOST,
    MAX_CACHED_CONNECTIONS,
    MAX_CACHED_QUERIES,
    MAX_CACHED_QUERY_CHARS,
    MIB,
)
from ._errors import QueryError
from ._rows import QUERY_ROW_OPERATIONS
from ._settings import ConnectionSettings
from ._spec import (
    CONNECTION_FORM,
    INVALID_CONNECTION,
    INVALID_OPTIONS,
    check_near_misses,
    config_header,
    field_error,
    is_blank,
    load_spec,
    validate_form,
)

__all__ = [
    "Query",
    "parse_connection",
    "parse_query",
    "query_key",
    "read_connection",
]


# Options are a JSON object, whose keys are text: any other key (a number, an object whose str() fails)
# is refused as the options' own fault, before anything looks a field up or quotes the key.
KEYS_NOT_TEXT = "must be an object whose keys are text"


def _text_keys(options: Mapping[Any, Any]) -> bool:
    return all(isinstance(key, str) for key in options)


# ---------------------------------------------------------------------------------------------------
# A query


@dataclass(frozen=True, repr=False)  # its own __repr__ (the generated one would be made, unused)
class Query:
    """A validated query: the operation and its coerced values, keyed by operations.json keys."""

    operation: str
    params: Mapping[str, Any]

    def __repr__(self) -> str:
        # values stay out: a query's virtualKey or config may be a secret
        return f"Query({self.operation!r}, fields={sorted(self.params)})"


# Validated queries' values by their options: a host runs the same saved query again and again.
_queries: dict[tuple[tuple[str, str], ...], tuple[str, dict[str, Any]]] = {}


def query_key(options: Mapping[str, Any]) -> tuple[tuple[str, str], ...] | None:
    """The options as a key when they are short text only (what a host sends), else None. Not
    sorted: a host sends a saved query's options in the same order each time, and options in another
    order are only validated once more."""
    return _text_items(options, MAX_CACHED_QUERY_CHARS)


def _text_items(options: Mapping[Any, Any], limit: int | None = None) -> tuple[tuple[str, str], ...] | None:
    """The options' items when every key and every value is exactly ``str`` (not a subclass: a key must
    hash and compare as the text it reads) and, with ``limit``, they hold at most that many characters;
    else None. A loop: for the few options of a query it is faster than building sets of their types."""
    items = tuple(options.items())
    size = 0
    for key, value in items:
        if type(key) is not str or type(value) is not str:
            return None
        size += len(key) + len(value)
    return items if limit is None or size <= limit else None


def parse_query(query_options: Any) -> Query:
    """Validate what a host sent for one query. Raises QueryError naming the field and the problem.

    The same short text options give the same values, remembered: a saved query run again is not
    validated again. Each Query has its own top-level dict (the values inside are never changed)."""
    # (dict, Mapping): a dict, what hosts send, is answered without the Mapping ABC's slower check
    key = query_key(query_options) if isinstance(query_options, (dict, Mapping)) else None
    known = _queries.get(key) if key is not None else None
    if known is not None:
        return Query(known[0], dict(known[1]))
    query = _read_query(query_options)
    if key is not None:
        if len(_queries) >= MAX_CACHED_QUERIES:
            _queries.clear()
        _queries[key] = (query.operation, dict(query.params))
    return query


def _read_query(query_options: Any) -> Query:
    """Validate a query's options every time (``parse_query`` remembers its answers)."""
    if not isinstance(query_options, (dict, Mapping)):
        raise QueryError(INVALID_OPTIONS, "query options must be an object", {"field": "operation"})
    if not _text_keys(query_options):
        raise QueryError(INVALID_OPTIONS, f"query options {KEYS_NOT_TEXT}", {"field": "operation"})
    operations = load_spec().operations
    operation = query_options.get("operation")
    if not isinstance(operation, str) or operation not in operations:
        allowed = ", ".join(operations)
        problem = "is required" if is_blank(operation) else "is not a known operation"
        raise field_error(INVALID_OPTIONS, "operation", f"{problem} (one of: {allowed})")
    check_near_misses(operation, query_options)
    # a table run's rows may each give a required field (a row of text is its prompt): the merged
    # query of each row is checked for them (_requests.py)
    per_row = operation in QUERY_ROW_OPERATIONS and not is_blank(query_options.get("rows"))
    return Query(operation, validate_form(operation, query_options, INVALID_OPTIONS, not per_row))


# ---------------------------------------------------------------------------------------------------
# A data source's connection


def _url_problem(value: str) -> str | None:
    """What is wrong with a gateway or custom host URL, in words that never quote it."""
    try:
        parts = urlsplit(value)
    except ValueError:  # an unclosed IPv6 bracket: "http://[::1/v1"
        return "must be an http(s) URL with a host"
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        return "must be an http(s) URL with a host"
    if parts.username is not None or parts.password is not None:
        return "must not carry credentials (user:password@)"
    if parts.query or parts.fragment:
        return "must not have a query string or fragment"
    try:
        _ = parts.port
    except ValueError:  # its message quotes the port text
        return "has an invalid port"
    return None


def _check_url(value: str, key: str) -> str:
    problem = _url_problem(value)
    if problem:
        raise field_error(INVALID_CONNECTION, key, problem)
    return value.rstrip("/")


# Validated connections by their options: a host sends the same data source's options with every query.
_connections: dict[tuple[Any, ...], ConnectionSettings] = {}


def _options_key(options: Mapping[str, Any]) -> tuple[Any, ...] | None:
    """A hashable, type-exact key for source options made of text, numbers, None and JSON values (a
    host's options of text only are keyed by ``_text_items``, in the order given)."""
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
    """Validate a data source's options (manifest.json keys). Raises QueryError naming the field.

    The same options give the same settings, remembered (a host sends them with every query)."""
    if source_options is None:
        source_options = {}
    if not isinstance(source_options, (dict, Mapping)):
        raise QueryError(INVALID_CONNECTION, "source options must be an object", {"field": "source"})
    key: tuple[Any, ...] | None = _text_items(source_options)
    if key is None:
        if not _text_keys(source_options):
            raise QueryError(INVALID_CONNECTION, f"source options {KEYS_NOT_TEXT}", {"field": "source"})
        key = _options_key(source_options)
    settings = _connections.get(key) if key is not None else None
    if settings is None:
        settings = read_connection(source_options)
        if key is not None:
            if len(_connections) >= MAX_CACHED_CONNECTIONS:
                _connections.clear()
            _connections[key] = settings
    return settings


def read_connection(source_options: Mapping[str, Any]) -> ConnectionSettings:
    """Validate a data source's options every time (``parse_connection`` remembers its answers)."""
    values = validate_form(CONNECTION_FORM, source_options, INVALID_CONNECTION)
    base_url = _check_url(values.get("gatewayUrl", DEFAULT_GATEWAY_URL), "gatewayUrl")
    custom_host = values.get("customHost")
    if custom_host is not None:
        custom_host = _check_url(custom_host, "customHost")
    api_key = values.get("apiKey")
    if api_key is None and urlsplit(base_url).hostname == HOSTED_API_HOST:
        raise field_error(
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
        max_response_bytes=_mib_to_bytes(values.get("maxResponseMiB"), DEFAULT_MAX_RESPONSE_BYTES),
        max_event_bytes=_mib_to_bytes(values.get("maxEventMiB"), DEFAULT_MAX_EVENT_BYTES),
        stream_timeout=None if values.get("streamTimeout") is None else float(values["streamTimeout"]),
        use_system_proxy=bool(values.get("useSystemProxy", True)),
        prices=None if values.get("prices") is None else _compact(values["prices"]),
    )


def _compact(value: Any) -> str:
    """A JSON value as compact text with sorted keys: hashable, and the same for the same value."""
    return json.dumps(value, separators=(",", ":"), sort_keys=True)


def _mib_to_bytes(mib: Any, default: int) -> int:
    """A size in MiB (fractions allowed) as a whole number of bytes, at least 1."""
    return default if mib is None else max(int(float(mib) * MIB), 1)
