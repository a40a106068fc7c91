"""Build the request for one validated query: method, path, headers and JSON body (each operation's
body builder is in ``_bodies``). Pure, no I/O.

Where each form field goes on the wire (facts from Portkey's API reference):
- ``stop_sequences`` is sent as the OpenAI body field ``stop``;
- ``other_parameters`` is merged into the body, but never overrides a field of the form;
- ``prompt_parameters`` sits at the body's root beside ``variables``;
- ``metadata``, ``config``, ``virtualKey``, ``traceId`` and the cache options are headers, never body;
- a query's ``config`` and ``virtualKey`` override the connection's;
- ``fallbacks``, ``fallbackOn`` and the guardrail fields become the ``x-portkey-config`` header, merged
  with that config (_routing.py);
- list models is a GET with query parameters; feedback's ``traceId`` and ``metadata`` go in its body
  (as ``trace_id`` and ``metadata``), never in headers;
- feedback and prompt render are Portkey's own endpoints (no model is called): they carry the Portkey
  API key alone, never a provider's key, a virtual key or a config.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from ._bodies import (
    BODY_FIELDS,
    BUILDERS,
    IMAGE_FIELDS,
    image_generation_body,
    prompt_render_body,
    response_schema,
    row_params,
    row_path_and_body,
)
from ._constants import USER_AGENT
from ._errors import QueryError
from ._operations import operation, operation_path
from ._options import Query
from ._output import AnswerShape, answer_shape
from ._routing import ROUTING_FIELDS, routing_header
from ._rows import (
    QUERY_ROW_OPERATIONS,
    RUN_FIELDS,
    RunShape,
    check_not_streamed,
    query_rows,
    row_trace_id,
    row_variables,
    run_shape,
    table_shape,
)
from ._secrets import header_secrets
from ._settings import ConnectionSettings
from ._spec import config_header, in_row, load_spec

if TYPE_CHECKING:  # a batch job's types; its machinery loads with the first batch query
    from ._batch_jobs import BatchPlan, JsonLines

__all__ = ["HANDLED_FIELDS", "PortkeyRequest", "build_request", "connection_headers"]


@dataclass(frozen=True, repr=False)  # its own __repr__ (the generated one would be made, unused)
class PortkeyRequest:
    """What to send: a path relative to the gateway URL (``/chat/completions``), headers and body."""

    method: str
    path: str
    headers: Mapping[str, str]
    body: Mapping[str, Any] | None = None
    stream: bool = False
    operation: str = ""
    # how run() turns the answer into data (the query's output mode); not part of what is sent
    answer: AnswerShape = field(default=AnswerShape(), repr=False, compare=False)
    # the URL's query parameters (list models' filter and paging), sent as ?key=value
    params: Mapping[str, str] | None = None
    # how run() sends it: once, once per row, or in chunks of inputs (_rows.py); not part of what is sent
    run: RunShape = field(default=RunShape(), repr=False, compare=False)
    # batch jobs: a file sent as multipart (``POST /files``), an answer read line by line as it arrives
    # (a JSONL file's content: the answer's data is the lines' items), and what the query does after
    # this request (_batch_jobs.py)
    upload: bytes | None = field(default=None, repr=False)
    lines: JsonLines | None = field(default=None, repr=False, compare=False)
    batch: BatchPlan | None = field(default=None, repr=False)
    # header values that are secrets, so a repr or a log never shows them
    secret_headers: frozenset[str] = field(
        default=frozenset({"x-portkey-api-key", "x-portkey-virtual-key", "authorization"}),
        repr=False,
    )

    def __repr__(self) -> str:
        shown = {k: ("***" if self._hides(k, v) else v) for k, v in self.headers.items()}
        target = f"{self.path}?{urlencode(self.params)}" if self.params else self.path
        return f"PortkeyRequest({self.method} {target}, headers={shown}, stream={self.stream})"

    def secrets(self) -> tuple[str, ...]:
        """The secrets the request carries (its keys' header values, a config's credentials): what no
        text the server sends back may show (``response_metadata`` redacts them from its headers)."""
        kept: tuple[str, ...] | None = self.__dict__.get("_secrets")
        if kept is None:
            headers = self.headers
            found = [headers[name].removeprefix("Bearer ") for name in self.secret_headers if name in headers]
            kept = (*found, *header_secrets(headers))
            object.__setattr__(self, "_secrets", kept)  # worked out once per request (a frozen dataclass)
        return kept

    def _hides(self, name: str, value: str) -> bool:
        # a config object may carry a provider's api_key; a saved config id is shown
        return name in self.secret_headers or (name == "x-portkey-config" and value.startswith("{"))


def connection_headers(settings: ConnectionSettings) -> dict[str, str]:
    """Headers every request of a data source carries."""
    headers = {"user-agent": USER_AGENT}
    if settings.api_key:
        headers["x-portkey-api-key"] = settings.api_key
    if settings.provider:
        headers["x-portkey-provider"] = settings.provider
    if settings.provider_api_key:
        headers["authorization"] = f"Bearer {settings.provider_api_key}"
    if settings.virtual_key:
        headers["x-portkey-virtual-key"] = settings.virtual_key
    if settings.config:
        headers["x-portkey-config"] = settings.config
    if settings.custom_host:
        headers["x-portkey-custom-host"] = settings.custom_host
    return headers


def _as_sent(value: str) -> str | None:
    return value


def _compact_json(value: Any) -> str | None:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=True)


def _present_when_true(value: Any) -> str | None:
    # The gateway checks this header's presence, not its value: send it only when true.
    return "true" if value is True else None


# The query fields sent as headers: field key -> (header name, its value as header text, or None to
# leave the header out). The one list of them: the headers built and HEADER_FIELDS both come from it.
QUERY_HEADERS: Mapping[str, tuple[str, Callable[[Any], str | None]]] = {
    "config": ("x-portkey-config", config_header),
    "virtualKey": ("x-portkey-virtual-key", _as_sent),
    "metadata": ("x-portkey-metadata", _compact_json),
    "traceId": ("x-portkey-trace-id", _as_sent),
    "cacheNamespace": ("x-portkey-cache-namespace", _as_sent),
    "cacheForceRefresh": ("x-portkey-cache-force-refresh", _present_when_true),
}
HEADER_FIELDS = frozenset(QUERY_HEADERS)
TRACE_HEADER = QUERY_HEADERS["traceId"][0]


def _query_headers(params: Mapping[str, Any]) -> dict[str, str]:
    """The headers a query's own fields add (QUERY_HEADERS)."""
    headers: dict[str, str] = {}
    for key, (name, header_text) in QUERY_HEADERS.items():
        if key in params:
            text = header_text(params[key])
            if text is not None:
                headers[name] = text
    return headers


def traced(request: PortkeyRequest) -> PortkeyRequest:
    """``request`` with a trace id: the query's own, else a new one (a uuid4), sent as
    ``x-portkey-trace-id``. ``stream()`` knows its trace id before the answer starts, so an app can
    rate the answer while it streams (Portkey files the request under the id it was sent)."""
    if request.headers.get(TRACE_HEADER):
        return request
    import uuid  # here: only a stream without a trace id of its own needs it

    return dataclasses.replace(request, headers={**request.headers, TRACE_HEADER: str(uuid.uuid4())})


# Fields that shape what run() returns from the answer, not what is sent.
ANSWER_FIELDS = frozenset({"output"})
# Fields that shape how run() sends the query (rows, concurrency...) are _rows.RUN_FIELDS.


def _stream_flag(params: Mapping[str, Any], body: dict[str, Any]) -> bool:
    """Stream when the form's toggle (or, without it, other_parameters) says so; never send false."""
    if "stream" in params:
        body["stream"] = params["stream"]
    if body.get("stream") is True:
        return True
    body.pop("stream", None)
    return False


# ---------------------------------------------------------------------------------------------------
# Operations whose whole request is built by a function of their own: list models (a GET), feedback
# and prompt render (Portkey's own endpoints), image generation


def portkey_only_headers(settings: ConnectionSettings) -> dict[str, str]:
    """Headers of a call to Portkey's own endpoints (feedback, prompt render): no model is called, so
    only the Portkey API key goes, never a provider's key, a virtual key or a config."""
    headers = {"user-agent": USER_AGENT, "accept": "application/json"}
    if settings.api_key:
        headers["x-portkey-api-key"] = settings.api_key
    return headers


def _list_models_request(settings: ConnectionSettings, query: Query) -> PortkeyRequest:
    """``GET /models``, with the connection's headers (a self-hosted gateway asks the provider the
    connection routes to) and the filter and paging as query parameters."""
    params = query.params
    sent = {key: str(params[key]) for key in ("provider", "limit", "offset") if key in params}
    headers = {**connection_headers(settings), "accept": "application/json"}
    answer = AnswerShape(params.get("output", "full"), operation=query.operation)
    op = operation(query.operation)
    return PortkeyRequest(op.method, op.path, headers, None, False, query.operation, answer, sent or None)


def _feedback_request(settings: ConnectionSettings, query: Query) -> PortkeyRequest:
    """``POST /feedback`` ``{trace_id, value, weight, metadata}``: the trace id rated and the feedback's
    metadata travel in the body, as Portkey's API takes them (not as x-portkey-* headers)."""
    params = query.params
    body: dict[str, Any] = {"trace_id": params["traceId"], "value": params["value"]}
    for key in ("weight", "metadata"):
        if key in params:
            body[key] = params[key]
    answer = AnswerShape(operation=query.operation)
    op = operation(query.operation)
    return PortkeyRequest(op.method, op.path, portkey_only_headers(settings), body, False, op.name, answer)


def _prompt_render_request(settings: ConnectionSettings, query: Query) -> PortkeyRequest:
    path, body = prompt_render_body(query.params)
    answer = AnswerShape(query.params.get("output", "full"), operation=query.operation)
    return PortkeyRequest("POST", path, portkey_only_headers(settings), body, False, query.operation, answer)


def _image_generation_request(settings: ConnectionSettings, query: Query) -> PortkeyRequest:
    """``POST /images/generations``, routed like a chat: the connection's headers and the query's own
    metadata, config, virtual key and trace id."""
    path, body = image_generation_body(query.params)
    headers = connection_headers(settings)
    headers.update(_query_headers(query.params))
    headers["accept"] = "application/json"
    answer = AnswerShape(query.params.get("output", "full"), operation=query.operation)
    return PortkeyRequest("POST", path, headers, body, False, query.operation, answer)


def _batch_headers(settings: ConnectionSettings, params: Mapping[str, Any]) -> dict[str, str]:
    """A batch call's headers: the connection's, routed by the query's own config and virtual key (the
    batch's ``metadata`` goes in its body)."""
    headers = connection_headers(settings)
    headers.update(_query_headers({key: params[key] for key in ("config", "virtualKey") if key in params}))
    headers["accept"] = "application/json"
    return headers


def _batch_submit_request(settings: ConnectionSettings, query: Query) -> PortkeyRequest:
    """``POST /files`` with the rows' JSONL (every row checked first); ``POST /batches`` follows."""
    from ._batch_jobs import BatchPlan, batch_lines

    content, _, create = batch_lines(query.params)
    plan = BatchPlan("submit", create, len(query.params["rows"]))
    headers = _batch_headers(settings, query.params)
    op = operation(query.operation)
    return PortkeyRequest(op.method, op.path, headers, None, False, op.name, upload=content, batch=plan)


def _batch_request(settings: ConnectionSettings, query: Query) -> PortkeyRequest:
    """``GET /batches/{id}`` (status, and the first call of results) or ``POST /batches/{id}/cancel``."""
    from ._batch_jobs import BatchPlan

    params = query.params
    op = operation(query.operation)
    path = operation_path(op.name, params)
    if op.then:  # results: the batch, then its files
        answer = answer_shape("chat", params, response_schema(params), settings.timeout)
        plan: BatchPlan | None = BatchPlan("results", batch_id=params["batchId"])
    else:
        answer, plan = AnswerShape(operation=query.operation), None
    headers = _batch_headers(settings, params)
    return PortkeyRequest(op.method, path, headers, None, False, op.name, answer, batch=plan)


_REQUEST_BUILDERS: dict[str, Callable[[ConnectionSettings, Query], PortkeyRequest]] = {
    "list_models": _list_models_request,
    "feedback": _feedback_request,
    "prompt_render": _prompt_render_request,
    "image_generation": _image_generation_request,
    "batch_submit": _batch_submit_request,
    "batch_status": _batch_request,
    "batch_results": _batch_request,
    "batch_cancel": _batch_request,
}
# The form fields each of them reads: a test holds operations.json to this.
_OWN_FIELDS = {
    "list_models": {"provider", "limit", "offset", "output"},
    "feedback": {"traceId", "value", "weight", "metadata"},
    "prompt_render": {"promptId", "variables", "prompt_parameters", "output"},
    "image_generation": {"prompt", *IMAGE_FIELDS, "other_parameters", "metadata", "config", "virtualKey",
                         "traceId", "output"},
    "batch_submit": {"endpoint", "rows", "completion_window", "metadata", "config", "virtualKey", "model",
                     "system_prompt", "max_tokens", "temperature", "stop_sequences", "response_format",
                     "other_parameters"},
    "batch_status": {"batchId", "config", "virtualKey"},
    "batch_results": {"batchId", "output", "response_format", "config", "virtualKey"},
    "batch_cancel": {"batchId", "config", "virtualKey"},
}  # fmt: skip


# The fields that become a fallback or guardrail config (_routing.py), per operation; none when not named
_ROUTED_FIELDS = {
    "completion": ROUTING_FIELDS,
    "chat": ROUTING_FIELDS,
    "prompt_completion": frozenset({"fallbacks", "fallbackOn"}),
    "create_embedding": frozenset({"fallbacks", "fallbackOn"}),
}
HANDLED_FIELDS: Mapping[str, frozenset[str]] = {
    **{
        op: frozenset(
            fields
            | HEADER_FIELDS
            | ANSWER_FIELDS
            | RUN_FIELDS.get(op, frozenset())
            | _ROUTED_FIELDS.get(op, frozenset())
        )
        for op, fields in BODY_FIELDS.items()
    },
    **{op: frozenset(fields) for op, fields in _OWN_FIELDS.items()},
}


def build_request(settings: ConnectionSettings, query: Query) -> PortkeyRequest:
    """The one request a validated query becomes."""
    own = _REQUEST_BUILDERS.get(query.operation)
    if own is not None:
        return own(settings, query)
    if query.operation in QUERY_ROW_OPERATIONS and "rows" in query.params:
        return _table_request(settings, query)
    path, body = BUILDERS[query.operation](query.params)
    if query.operation not in load_spec().streamable:
        body.pop("stream", None)  # an operation with no stream field never streams: its answer is read whole
        stream = False
    else:
        stream = _stream_flag(query.params, body)
        # Ask for the final usage chunk, which providers leave out of streams unless asked; a
        # stream_options of the query's own (other_parameters) is left as it is.
        if stream and operation(query.operation).usage_chunk:
            body.setdefault("stream_options", {"include_usage": True})
    headers = connection_headers(settings)
    headers.update(_query_headers(query.params))
    routed = routing_header(settings, query.params)  # fallbacks and guardrails, merged with the config
    if routed is not None:
        headers["x-portkey-config"] = routed
    headers["accept"] = "text/event-stream" if stream else "application/json"
    answer = answer_shape(query.operation, query.params, response_schema(query.params), settings.timeout)
    run = run_shape(query.operation, query.params, body, stream, settings.max_response_bytes)
    return PortkeyRequest("POST", path, headers, body, stream, query.operation, answer, run=run)


# ---------------------------------------------------------------------------------------------------
# A chat or completion table run: each row's own fields laid over the form's, one request a row


def _checked_row(operation: str, form: Mapping[str, Any], row: Mapping[str, Any], index: int) -> None:
    """Refuse row ``index`` if its query could not be sent: a rule across fields (messages or prompt,
    a response format's schema, tool_choice naming a tool) broken by the row, or a required field given
    by neither. A rule the form breaks alone is the form's field's error."""
    try:
        params = row_params(form, row)
        _, body = row_path_and_body(operation, params)
        check_not_streamed(
            params, params.get("stream") is not False and body.get("stream") is True, "other_parameters"
        )
    except QueryError as err:
        field = err.data.get("field")
        raise (err if field in form and field not in row else in_row(err, f"rows[{index}]")) from None


def _table_request(settings: ConnectionSettings, query: Query) -> PortkeyRequest:
    """The request of a chat or completion table run: the form's headers and answer shape; its rows'
    own fields in ``run`` (``query_row_request`` makes each row's request as it is sent). Every row is
    checked as a whole query here, before anything is sent."""
    params = query.params
    check_not_streamed(params, params.get("stream") is True)  # the form's own: other_parameters' per row
    form = {key: value for key, value in params.items() if key not in RUN_FIELDS[query.operation]}
    rows = query_rows(query.operation, params["rows"])
    for index, row in enumerate(rows):
        _checked_row(query.operation, form, row, index)
    headers = connection_headers(settings)
    headers.update(_query_headers(form))
    routed = routing_header(settings, form)  # one config for every row: fallbacks and guardrails
    if routed is not None:
        headers["x-portkey-config"] = routed
    headers["accept"] = "application/json"
    path = operation(query.operation).path
    answer = answer_shape(query.operation, form, response_schema(form), settings.timeout)
    run = table_shape(params, form, rows)
    return PortkeyRequest("POST", path, headers, None, False, query.operation, answer, run=run)


def query_row_request(table: PortkeyRequest, row: Mapping[str, Any], index: int) -> PortkeyRequest:
    """The request row ``index`` of a chat or completion table sends (checked by ``_table_request``):
    the table's headers with the row's own header fields (the query's trace id as the row's,
    ``<traceId>-<row>``, unless the row gives its own), the body of the row's query, and the row's
    answer shape (its response format's schema)."""
    form = table.run.form or {}
    params = row_params(form, row)
    path, body = row_path_and_body(table.operation, params)
    body.pop("stream", None)  # a row's answer is read whole
    headers = {**row_headers(table.headers, index), **_query_headers(row)}
    answer = dataclasses.replace(
        table.answer, schema=response_schema(params) if "response_format" in row else table.answer.schema
    )
    return dataclasses.replace(table, path=path, headers=headers, body=body, answer=answer)


# ---------------------------------------------------------------------------------------------------
# Each row's request, as a table run sends it (_run_rows.py)


def row_headers(headers: Mapping[str, str], index: int) -> Mapping[str, str]:
    """A row's headers: the query's, with the row's trace id when the query gives one."""
    trace_id = headers.get(TRACE_HEADER)
    if not trace_id:
        return headers
    return {**headers, TRACE_HEADER: row_trace_id(trace_id, index)}


def row_request(request: PortkeyRequest, row: Mapping[str, Any], index: int) -> PortkeyRequest:
    """The request of row ``index``: of a saved prompt, the query's own, its ``variables`` updated with
    the row's fields; of chat or completion, the query the row's fields laid over the form's make.
    With the query's trace id, the row's (``row_trace_id``)."""
    if request.run.form is not None:
        return query_row_request(request, row, index)
    body = dict(request.body or {})
    body["variables"] = row_variables(body.get("variables") or {}, row)
    return dataclasses.replace(request, body=body, headers=row_headers(request.headers, index))
