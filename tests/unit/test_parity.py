"""Sync/async parity: one table of cases through QueryService and AsyncQueryService gives identical
results (or identical QueryErrors) and identical requests on the wire."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import httpx
import pytest
import respx
from unit_support import (
    BASE_URL,
    CHAT_EXAMPLE,
    EXAMPLES,
    MINIMAL,
    SOURCE,
    aoutcome,
    outcome,
    run_async,
    wire,
)

from tooljet_portkey import AsyncQueryService, QueryService

pytestmark = pytest.mark.usefixtures("no_retry_sleep")

Answer = Callable[[httpx.Request], httpx.Response]


def answer(status: int, body: Any = None, headers: dict[str, str] | None = None) -> Answer:
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    return lambda request: httpx.Response(status, content=content, headers=headers or {})


def refused(request: httpx.Request) -> httpx.Response:
    raise httpx.ConnectError("Connection refused", request=request)


STREAM = (
    b'data: {"id": "c1", "object": "chat.completion.chunk", "created": 1, "model": "m", '
    b'"choices": [{"index": 0, "delta": {"role": "assistant", "content": "Hel"}}]}\n\n'
    b'data: {"id": "c1", "object": "chat.completion.chunk", "created": 1, "model": "m", '
    b'"choices": [{"index": 0, "delta": {"content": "lo"}, "finish_reason": "stop"}]}\n\n'
    b"data: [DONE]\n\n"
)
HEADERS = {
    "x-portkey-trace-id": "tr-1",
    "x-portkey-cache-status": "MISS",
    "x-portkey-retry-attempt-count": "0",
}

CASES: list[tuple[str, dict[str, Any], Any, Answer | None]] = [
    # id, source options, query options, the gateway's answer (None: nothing may be sent)
    *[(f"ok-{op}", SOURCE, query, answer(200, EXAMPLES[op], HEADERS)) for op, query in MINIMAL.items()],
    (
        "ok-every-field",
        {**SOURCE, "provider": "openai", "providerApiKey": "sk-p", "config": '{"retry": {"attempts": 2}}'},
        {**MINIMAL["chat"], "max_tokens": "9", "temperature": "0.3", "stop_sequence": "a,b",
         "metadata": '{"u": "1"}', "other_parameters": '{"seed": 3}', "virtualKey": "vk-q", "traceId": "t",
         "cacheNamespace": "ns", "cacheForceRefresh": "true"},
        answer(200, CHAT_EXAMPLE),
    ),
    ("ok-246", SOURCE, MINIMAL["chat"], answer(246, {**CHAT_EXAMPLE, "hook_results": {}})),
    ("ok-stream", SOURCE, {**MINIMAL["chat"], "stream": True},
     answer(200, STREAM, {"content-type": "text/event-stream", "x-portkey-trace-id": "tr-s"})),
    ("err-provider-400", SOURCE, MINIMAL["completion"],
     answer(400, {"error": {"message": "bad model", "type": "invalid_request_error"}, "provider": "openai"})),
    ("err-gateway-400", SOURCE, MINIMAL["chat"],
     answer(400, {"status": "failure", "message": "Invalid config passed", "errors": ["x: y"]})),
    ("err-guardrail-446", SOURCE, MINIMAL["chat"],
     answer(446, {"error": {"message": "denied", "type": "hooks_failed"}, "hook_results": {"a": 1}},
            {"x-portkey-trace-id": "tr-446"})),
    ("err-rate-limit-429", SOURCE, MINIMAL["create_embedding"],
     answer(429, {"error": {"message": "slow down"}}, {"retry-after": "3"})),
    ("err-html-502", SOURCE, MINIMAL["chat"], answer(502, b"<html><h1>502 Bad Gateway</h1></html>")),
    ("err-not-json-200", SOURCE, MINIMAL["prompt_completion"], answer(200, b"OK")),
    ("err-refused", SOURCE, MINIMAL["chat"], refused),
    ("err-stream-truncated", SOURCE, {**MINIMAL["completion"], "stream": "true"},
     answer(200, STREAM.replace(b"data: [DONE]\n\n", b""), {"content-type": "text/event-stream"})),
    ("bad-field", SOURCE, {**MINIMAL["chat"], "max_tokens": "0"}, None),
    ("bad-json", SOURCE, {**MINIMAL["prompt_completion"], "variables": "{"}, None),
    ("bad-connection", {"gatewayUrl": "nope"}, MINIMAL["chat"], None),
    ("bad-options-type", SOURCE, ["chat"], None),
]  # fmt: skip


def sync_run(source: Any, query: Any, respond: Answer | None) -> tuple[tuple[str, Any], list[dict[str, Any]]]:
    with respx.mock(base_url=BASE_URL, assert_all_called=False) as mock, QueryService() as service:
        if respond is not None:
            mock.route().mock(side_effect=respond)
        result = outcome(lambda: service.run(source, query, "ds-1", 1))
        return result, [wire(call.request) for call in mock.calls]


def async_run(
    source: Any, query: Any, respond: Answer | None
) -> tuple[tuple[str, Any], list[dict[str, Any]]]:
    async def go() -> tuple[tuple[str, Any], list[dict[str, Any]]]:
        with respx.mock(base_url=BASE_URL, assert_all_called=False) as mock:
            if respond is not None:
                mock.route().mock(side_effect=respond)
            async with AsyncQueryService() as service:
                result = await aoutcome(lambda: service.run(source, query, "ds-1", 1))
            return result, [wire(call.request) for call in mock.calls]

    return run_async(go)


@pytest.mark.parametrize(("source", "query", "respond"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_sync_and_async_services_agree(source: Any, query: Any, respond: Answer | None) -> None:
    sync_result, sync_requests = sync_run(source, query, respond)
    async_result, async_requests = async_run(source, query, respond)
    assert async_result == sync_result
    assert async_requests == sync_requests
    assert len(sync_requests) == (0 if respond is None else 1)


def test_the_table_reaches_every_kind_of_outcome() -> None:
    """The parity table is only worth something while it holds successes, API errors and field errors."""
    kinds = set()
    for _, source, query, respond in CASES:
        (status, value), _ = sync_run(source, query, respond)
        kinds.add("ok" if status == "ok" else ("field" if "field" in value[2] else value[2]["errorType"]))
    expected = {"ok", "field", "invalid_request_error", "hooks_failed", "connection_error"}
    assert kinds >= expected | {"invalid_response", "stream_truncated", "api_error", "rate_limit_error"}


@pytest.mark.parametrize(
    ("source", "respond"),
    [
        (SOURCE, answer(200, {"object": "list", "data": []})),
        (SOURCE, answer(401, {"error": {"message": "Invalid API key"}})),
        (SOURCE, answer(503, b"")),
        (SOURCE, refused),
        ({}, None),
        ("junk", None),
    ],
)
def test_test_connection_agrees(source: Any, respond: Answer | None) -> None:
    with respx.mock(base_url=BASE_URL, assert_all_called=False) as mock:
        if respond is not None:
            mock.route().mock(side_effect=respond)
        sync_result = QueryService().test_connection(source)
        sync_requests = [wire(call.request) for call in mock.calls]
        mock.calls.clear()
        async_result = run_async(lambda: AsyncQueryService().test_connection(source))
        async_requests = [wire(call.request) for call in mock.calls]
    assert async_result == sync_result
    assert async_requests == sync_requests
