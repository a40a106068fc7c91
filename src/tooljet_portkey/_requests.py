"""Build the request for one validated query: method, path, headers and JSON body. Pure, no I/O.

Where each form field goes on the wire (facts from Portkey's API reference):
- ``stop_sequences`` is sent as the OpenAI body field ``stop``;
- ``other_parameters`` is merged into the body, but never overrides a field of the form;
- ``prompt_parameters`` sits at the body's root beside ``variables``;
- ``metadata``, ``config``, ``virtualKey``, ``traceId`` and the cache options are headers, never body;
- a query's ``config`` and ``virtualKey`` override the connection's.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from ._constants import USER_AGENT
from ._spec import ConnectionSettings, Query, config_header

__all__ = ["HANDLED_FIELDS", "PortkeyRequest", "build_request", "connection_headers"]


@dataclass(frozen=True)
class PortkeyRequest:
    """What to send: a path relative to the gateway URL (``/chat/completions``), headers and body."""

    method: str
    path: str
    headers: Mapping[str, str]
    body: Mapping[str, Any] | None = None
    stream: bool = False
    operation: str = ""
    # header values that are secrets, so a repr or a log never shows them
    secret_headers: frozenset[str] = field(
        default=frozenset({"x-portkey-api-key", "x-portkey-virtual-key", "authorization"}),
        repr=False,
    )

    def __repr__(self) -> str:
        shown = {k: ("***" if self._hides(k, v) else v) for k, v in self.headers.items()}
        return f"PortkeyRequest({self.method} {self.path}, headers={shown}, stream={self.stream})"

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


def _query_headers(params: Mapping[str, Any]) -> dict[str, str]:
    headers: dict[str, str] = {}
    if "config" in params:
        headers["x-portkey-config"] = config_header(params["config"])
    if "virtualKey" in params:
        headers["x-portkey-virtual-key"] = params["virtualKey"]
    if "metadata" in params:
        headers["x-portkey-metadata"] = json.dumps(
            params["metadata"], separators=(",", ":"), ensure_ascii=True
        )
    if "traceId" in params:
        headers["x-portkey-trace-id"] = params["traceId"]
    if "cacheNamespace" in params:
        headers["x-portkey-cache-namespace"] = params["cacheNamespace"]
    # The gateway checks this header's presence, not its value: send it only when true.
    if params.get("cacheForceRefresh") is True:
        headers["x-portkey-cache-force-refresh"] = "true"
    return headers


HEADER_FIELDS = frozenset(
    {"config", "virtualKey", "metadata", "traceId", "cacheNamespace", "cacheForceRefresh"}
)


def _merge(form: dict[str, Any], extra: Mapping[str, Any] | None) -> dict[str, Any]:
    """other_parameters first, then the form's own fields on top: the form always wins."""
    return {**extra, **form} if extra else form


def _stream_flag(params: Mapping[str, Any], body: dict[str, Any]) -> bool:
    """Stream when the form's toggle (or, without it, other_parameters) says so; never send false."""
    if "stream" in params:
        body["stream"] = params["stream"]
    if body.get("stream") is True:
        return True
    body.pop("stream", None)
    return False


def _completion(params: Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
    form = {"model": params["model"], "prompt": params["prompt"]}
    _copy_sampling(params, form)
    return "/completions", _merge(form, params.get("other_parameters"))


def _chat(params: Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
    form = {"model": params["model"], "messages": params["messages"]}
    _copy_sampling(params, form)
    return "/chat/completions", _merge(form, params.get("other_parameters"))


def _copy_sampling(params: Mapping[str, Any], form: dict[str, Any]) -> None:
    for key in ("max_tokens", "temperature"):
        if key in params:
            form[key] = params[key]
    if "stop_sequences" in params:
        form["stop"] = params["stop_sequences"]


def _prompt_completion(params: Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
    # "pp-abc@12" keeps its "@version"; the schema already refuses "/", "?", "#", "%" and "..".
    path = f"/prompts/{quote(params['promptId'], safe='@')}/completions"
    form = {"variables": params["variables"]} if "variables" in params else {}
    body = _merge(form, params.get("prompt_parameters"))
    body.setdefault("variables", {})
    return path, body


def _create_embedding(params: Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
    form = {"model": params["model"], "input": params["input"]}
    return "/embeddings", _merge(form, params.get("other_parameters"))


_BUILDERS: dict[str, Callable[[Mapping[str, Any]], tuple[str, dict[str, Any]]]] = {
    "completion": _completion,
    "chat": _chat,
    "prompt_completion": _prompt_completion,
    "create_embedding": _create_embedding,
}

# The form fields each builder reads (plus the header fields): a test holds operations.json to this.
_BODY_FIELDS = {
    "completion": {"prompt", "model", "max_tokens", "temperature", "stop_sequences",
                   "other_parameters", "stream"},
    "chat": {"messages", "model", "max_tokens", "temperature", "stop_sequences",
             "other_parameters", "stream"},
    "prompt_completion": {"promptId", "variables", "prompt_parameters", "stream"},
    "create_embedding": {"input", "model", "other_parameters"},
}  # fmt: skip
HANDLED_FIELDS: Mapping[str, frozenset[str]] = {
    op: frozenset(fields | HEADER_FIELDS) for op, fields in _BODY_FIELDS.items()
}


def build_request(settings: ConnectionSettings, query: Query) -> PortkeyRequest:
    """The one request a validated query becomes."""
    path, body = _BUILDERS[query.operation](query.params)
    if query.operation == "create_embedding":
        body.pop("stream", None)  # embeddings never stream; the answer is read as one JSON body
        stream = False
    else:
        stream = _stream_flag(query.params, body)
    headers = connection_headers(settings)
    headers.update(_query_headers(query.params))
    headers["accept"] = "text/event-stream" if stream else "application/json"
    return PortkeyRequest("POST", path, headers, body, stream, query.operation)
