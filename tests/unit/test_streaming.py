"""Streaming, sync and async alike: chunks as Portkey sends them, run() assembling them, every way a
stream can fail, and closing early (against a real loopback server, to see the connection drop)."""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import uuid
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
import respx
from unit_support import SNAPSHOT, unpriced

from tooljet_portkey import AsyncQueryService, QueryError, QueryService
from tooljet_portkey._client import AsyncPortkeyClient, PortkeyClient
from tooljet_portkey._errors import StreamError, StreamTruncatedError
from tooljet_portkey._responses import DONE, GuardrailChunk, StreamAssembler, decode_chunk
from tooljet_portkey._sse import ServerSentEvent

BASE_URL = "http://gateway.test/v1"
API_KEY = "pk-test-0123456789"
SOURCE: dict[str, Any] = {"apiKey": API_KEY, "gatewayUrl": BASE_URL, "maxRetries": "0"}
MESSAGES = [{"role": "user", "content": "Who uses ToolJet?"}]
CHAT = {"operation": "chat", "messages": json.dumps(MESSAGES), "model": "gpt-4o-mini"}
COMPLETION = {"operation": "completion", "prompt": "Say hi", "model": "gpt-3.5-turbo-instruct"}
PROMPT = {"operation": "prompt_completion", "promptId": "pp-welcome-e1f2a3", "variables": '{"topic": "AI"}'}
MODES = ["sync", "async"]

HOOKS = {"hook_results": {"before_request_hooks": [{"id": "pg-pii", "verdict": True}]}}
_HEAD = {"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1723461295, "model": "gpt-4o-mini"}
USAGE = {"prompt_tokens": 29, "completion_tokens": 7, "total_tokens": 36}


def chat_chunk(delta: dict[str, Any], finish: str | None = None, **extra: Any) -> dict[str, Any]:
    return {**_HEAD, "choices": [{"index": 0, "delta": delta, "finish_reason": finish}], **extra}


CHAT_CHUNKS = [
    chat_chunk({"role": "assistant", "content": ""}),
    chat_chunk({"content": "Developers"}),
    chat_chunk({"content": " and product\u2028teams."}),
    chat_chunk({}, "stop"),
    {**_HEAD, "choices": [], "usage": USAGE},
]
CHAT_ASSEMBLED = {
    "id": "chatcmpl-1",
    "object": "chat.completion",
    "created": 1723461295,
    "model": "gpt-4o-mini",
    "choices": [
        {
            "index": 0,
            "message": {"role": "assistant", "content": "Developers and product\u2028teams."},
            "finish_reason": "stop",
        }
    ],
    "usage": USAGE,
}
TOOL_CHUNKS = [
    chat_chunk(
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "index": 0,
                    "id": "call_1",
                    "type": "function",
                    "function": {"name": "get_weather", "arguments": ""},
                }
            ],
        }
    ),
    chat_chunk({"tool_calls": [{"index": 0, "function": {"arguments": '{"city":'}}]}),
    chat_chunk({"tool_calls": [{"index": 0, "function": {"arguments": ' "Paris"}'}}]}),
    chat_chunk({}, "tool_calls", system_fingerprint="fp_1"),
]
TOOL_ASSEMBLED = {
    "id": "chatcmpl-1",
    "object": "chat.completion",
    "created": 1723461295,
    "model": "gpt-4o-mini",
    "system_fingerprint": "fp_1",
    "choices": [
        {
            "index": 0,
            "message": {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {
                        "id": "call_1",
                        "type": "function",
                        "function": {"name": "get_weather", "arguments": '{"city": "Paris"}'},
                    }
                ],
            },
            "finish_reason": "tool_calls",
        }
    ],
}
_CMPL = {
    "id": "cmpl-1",
    "object": "text_completion",
    "created": 1723462033,
    "model": "gpt-3.5-turbo-instruct",
}
COMPLETION_CHUNKS = [
    {**_CMPL, "choices": [{"text": "Hello", "index": 0, "logprobs": None, "finish_reason": None}]},
    {**_CMPL, "choices": [{"text": " world", "index": 0, "logprobs": None, "finish_reason": "length"}]},
    {**_CMPL, "choices": [], "usage": {"prompt_tokens": 2, "completion_tokens": 2, "total_tokens": 4}},
]
COMPLETION_ASSEMBLED = {
    **_CMPL,
    "choices": [{"index": 0, "text": "Hello world", "finish_reason": "length"}],
    "usage": {"prompt_tokens": 2, "completion_tokens": 2, "total_tokens": 4},
}
PROVIDER_ERROR = {
    "error": {"message": "The server had an error while processing your request.", "type": "server_error"},
    "provider": "openai",
}


def sse(*chunks: Any, done: bool = True) -> bytes:
    body = b"".join(b"data: " + json.dumps(c, ensure_ascii=False).encode() + b"\n\n" for c in chunks)
    return body + (b"data: [DONE]\n\n" if done else b"")


class Pieces(httpx.SyncByteStream, httpx.AsyncByteStream):
    """A response body delivered in pieces, optionally failing after them; remembers being closed."""

    def __init__(self, body: bytes, size: int = 7, fail: Exception | None = None) -> None:
        self.pieces = [body[i : i + size] for i in range(0, len(body), size)]
        self.fail = fail
        self.closed = False

    def __iter__(self) -> Iterator[bytes]:
        yield from self.pieces
        if self.fail is not None:
            raise self.fail

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for piece in self.pieces:
            yield piece
        if self.fail is not None:
            raise self.fail

    def close(self) -> None:
        self.closed = True

    async def aclose(self) -> None:
        self.closed = True


SSE_HEADERS = {
    "content-type": "text/event-stream",
    "x-portkey-trace-id": "trace-1",
    "x-portkey-cache-status": "MISS",
}


def answer(body: bytes, *, fail: Exception | None = None, headers: dict[str, str] | None = None) -> Pieces:
    """Mock every POST on the gateway with this streamed body; return the body, to check it closed."""
    pieces = Pieces(body, fail=fail)
    respx.post(url__startswith=BASE_URL).mock(
        return_value=httpx.Response(200, headers=headers or SSE_HEADERS, stream=pieces)
    )
    return pieces


@dataclass
class Streamed:
    """What a host saw of one stream(): the items its loop got, then ("error", message, description,
    data) if it failed; ``metadata`` before the loop, when the first item came, and after the loop."""

    items: list[Any]
    before: dict[str, Any]
    at_first: dict[str, Any] | None
    after: dict[str, Any]


def service_stream(mode: str, query: dict[str, Any], source: dict[str, Any] | None = None) -> Streamed:
    out: list[Any] = []
    seen: list[dict[str, Any]] = []
    if mode == "sync":
        with QueryService() as svc:
            stream = svc.stream(source or SOURCE, query)
            before = dict(stream.metadata)
            try:
                for item in stream:
                    seen.append(dict(stream.metadata))
                    out.append(item)
            except QueryError as err:
                out.append(("error", err.message, err.description, err.data))
        return Streamed(out, before, (seen or [None])[0], dict(stream.metadata))

    async def main() -> Streamed:
        svc = AsyncQueryService()
        try:
            stream = svc.stream(source or SOURCE, query)
            before = dict(stream.metadata)
            try:
                async for item in stream:
                    seen.append(dict(stream.metadata))
                    out.append(item)
            except QueryError as err:
                out.append(("error", err.message, err.description, err.data))
            return Streamed(out, before, (seen or [None])[0], dict(stream.metadata))
        finally:
            await svc.aclose()

    return asyncio.run(main())


def service_run(mode: str, query: dict[str, Any]) -> Any:
    """run()'s result, or ("error", message, description, data)."""
    try:
        if mode == "sync":
            with QueryService() as svc:
                return svc.run(SOURCE, query)

        async def main() -> Any:
            svc = AsyncQueryService()
            try:
                return await svc.run(SOURCE, query)
            finally:
                await svc.aclose()

        return asyncio.run(main())
    except QueryError as err:
        return ("error", err.message, err.description, err.data)


def sent(route_calls: Any) -> dict[str, Any]:
    request = route_calls.last.request
    return {
        "method": request.method,
        "url": str(request.url),
        "accept": request.headers["accept"],
        "json": json.loads(request.read()),
    }


# -- the service: stream() -------------------------------------------------------------------------


def sent_trace_id(route_calls: Any) -> str:
    return str(route_calls.last.request.headers["x-portkey-trace-id"])


# what the answer's headers say (SSE_HEADERS); the trace id stays the one the plugin sent
HEADERS_SAID = {"statusCode": 200, "retries": 0, "cacheStatus": "MISS"}
# what the guardrail-only chunk (HOOKS, sent before the first chunk) says: known from the first chunk on
HOOKS_SAID = {
    "guardrails": {
        "verdict": "passed",
        "checks": [],
        "before": [{"id": "pg-pii", "verdict": "passed", "checks": []}],
        "after": [],
    }
}
# what the chunks say, once the answer is complete: as run() reports it
CHAT_TOLD = {"streamed": True, "chunks": 5, "usage": USAGE, "model": "gpt-4o-mini", "finishReason": "stop"}
# and, the connection naming no provider, that its cost is unknown
CHAT_SAID = {**CHAT_TOLD, **unpriced("gpt-4o-mini")}


@pytest.mark.parametrize("mode", MODES)
@respx.mock
def test_stream_yields_the_chunks_with_choices_and_reads_the_rest_into_metadata(mode: str) -> None:
    answer(sse(HOOKS, *CHAT_CHUNKS))
    got = service_stream(mode, CHAT)
    # the hook results and the usage chunk (choices: []) are not yielded: every chunk has choices[0]
    assert got.items == CHAT_CHUNKS[:4]
    assert sent(respx.calls) == {
        "method": "POST",
        "url": f"{BASE_URL}/chat/completions",
        "accept": "text/event-stream",
        "json": {
            "model": "gpt-4o-mini",
            "messages": MESSAGES,
            "stream": True,
            "stream_options": {"include_usage": True},
        },
    }
    # the query set no trace id: the plugin made one (a uuid4), sent it, and said it before any chunk
    trace_id = sent_trace_id(respx.calls)
    assert uuid.UUID(trace_id).version == 4
    assert got.before == {"traceId": trace_id}
    assert got.at_first == {"traceId": trace_id, **HEADERS_SAID, **HOOKS_SAID}
    assert got.after == {"traceId": trace_id, **HEADERS_SAID, **HOOKS_SAID, **CHAT_SAID}


@pytest.mark.parametrize("mode", MODES)
@respx.mock
def test_a_streams_guardrail_verdicts_are_read_as_portkey_sends_them(mode: str) -> None:
    """The input checks' verdict (before the first chunk) is in the metadata from the first chunk on;
    the output checks' (after the last chunk) joins it at the end, and fails the verdict."""
    after = {
        "hook_results": {
            "after_request_hooks": [
                {
                    "id": "out-1",
                    "verdict": False,
                    "deny": False,
                    "checks": [
                        {"id": "default.wordCount", "verdict": False, "data": {"explanation": "too long"}}
                    ],
                }
            ]
        }
    }
    answer(sse(HOOKS, *CHAT_CHUNKS, after))
    got = service_stream(mode, CHAT)
    assert got.items == CHAT_CHUNKS[:4]
    assert got.at_first["guardrails"] == HOOKS_SAID["guardrails"]
    failed = {"id": "default.wordCount", "verdict": "failed", "explanation": "too long"}
    assert got.after["guardrails"] == {
        "verdict": "failed",
        "checks": [failed],
        "before": [{"id": "pg-pii", "verdict": "passed", "checks": []}],
        "after": [{"id": "out-1", "verdict": "failed", "checks": [failed]}],
    }


@pytest.mark.parametrize("mode", MODES)
@respx.mock
def test_a_finished_streams_metadata_is_what_run_reports(mode: str) -> None:
    answer(sse(HOOKS, *CHAT_CHUNKS), headers={**SSE_HEADERS, "x-portkey-retry-attempt-count": "2",
                                               "x-portkey-provider": "openai"})  # fmt: skip
    query = {**CHAT, "traceId": "trace-1"}  # the id the answer's headers carry
    got = service_stream(mode, query)
    assert sent_trace_id(respx.calls) == "trace-1"
    assert got.before == {"traceId": "trace-1"}
    ran = service_run(mode, {**query, "stream": "true"})
    assert (
        got.after
        == ran["metadata"]
        == {
            "traceId": "trace-1",
            **HEADERS_SAID,
            "retryAttemptCount": 2,
            "provider": "openai",
            **HOOKS_SAID,
            **CHAT_TOLD,
            # priced once the stream ended: 29 prompt tokens at $0.15 and 7 at $0.60 per 1M
            "cost": {
                "currency": "USD",
                "total": 0.00000855,
                "input": 0.00000435,
                "output": 0.0000042,
                "pricing": {"provider": "openai", "model": "gpt-4o-mini", "source": SNAPSHOT},
            },
        }
    )


TEXT_CASES = [
    # the role chunk's "" and the last chunk's empty delta add no text: nothing is yielded for them
    ("chat", CHAT, CHAT_CHUNKS, ["Developers", " and product\u2028teams."], CHAT_SAID),
    ("completion", COMPLETION, COMPLETION_CHUNKS, ["Hello", " world"],
     {"streamed": True, "chunks": 3, "usage": {"prompt_tokens": 2, "completion_tokens": 2, "total_tokens": 4},
      "model": "gpt-3.5-turbo-instruct", "finishReason": "length", **unpriced("gpt-3.5-turbo-instruct")}),
    ("tool calls only", CHAT, TOOL_CHUNKS, [],
     {"streamed": True, "chunks": 4, "model": "gpt-4o-mini", "finishReason": "tool_calls",
      **unpriced("gpt-4o-mini")}),
]  # fmt: skip


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize(
    ("query", "chunks", "texts", "said"), [c[1:] for c in TEXT_CASES], ids=[c[0] for c in TEXT_CASES]
)
@respx.mock
def test_output_text_streams_the_text_pieces(
    mode: str, query: dict[str, Any], chunks: list[Any], texts: list[str], said: dict[str, Any]
) -> None:
    answer(sse(HOOKS, *chunks))
    got = service_stream(mode, {**query, "output": "text"})
    assert got.items == texts
    assert got.after == {"traceId": sent_trace_id(respx.calls), **HEADERS_SAID, **HOOKS_SAID, **said}
    assert "output" not in sent(respx.calls)["json"]


FAILURES = [
    (
        "error chunk",
        1,
        sse(CHAT_CHUNKS[0], PROVIDER_ERROR, done=False),
        None,
        "The server had an error while processing your request.",
        "server_error",
    ),
    (
        "gateway failure chunk",
        1,
        sse(CHAT_CHUNKS[0], {"status": "failure", "message": "Something went wrong"}),
        None,
        "Something went wrong",
        "stream_error",
    ),
    (
        "error event",
        1,
        sse(CHAT_CHUNKS[0], done=False) + b"event: error\ndata: upstream reset\n\n",
        None,
        "upstream reset",
        "stream_error",
    ),
    (
        "finish_reason naming an error",
        1,
        sse(CHAT_CHUNKS[0], chat_chunk({}, "error")),
        None,
        "The provider ended the stream with error",
        "error",
    ),
    (
        "chunk that is not JSON",
        1,
        sse(CHAT_CHUNKS[0]).replace(b"data: [DONE]", b"data: <html>oops</html>"),
        None,
        "Portkey sent a stream chunk that is not a JSON object: oops",
        "invalid_chunk",
    ),
    (
        "no [DONE]",
        1,
        sse(CHAT_CHUNKS[0], done=False),
        None,
        "The stream ended after 1 chunks without [DONE]: the answer is incomplete",
        "stream_truncated",
    ),
    (
        "no [DONE], last event without blank line",
        2,
        sse(CHAT_CHUNKS[0], done=False) + b"data: " + json.dumps(CHAT_CHUNKS[1]).encode(),
        None,
        "The stream ended after 2 chunks without [DONE]: the answer is incomplete",
        "stream_truncated",
    ),
    (
        "connection lost",
        1,
        sse(CHAT_CHUNKS[0], done=False),
        httpx.RemoteProtocolError("peer closed connection without sending complete message body"),
        "The connection was lost after 1 chunks: Could not get an answer from gateway.test: "
        "peer closed connection without sending complete message body",
        "stream_truncated",
    ),
]


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize(
    ("good", "body", "fail", "description", "error_type"),
    [f[1:] for f in FAILURES],
    ids=[f[0] for f in FAILURES],
)
@respx.mock
def test_stream_failure_is_query_error_after_good_chunks(
    mode: str, good: int, body: bytes, fail: Exception | None, description: str, error_type: str
) -> None:
    # The answer had started, so the trace id comes from its headers (the query did not set one).
    pieces = answer(body, fail=fail)
    got = service_stream(mode, CHAT)
    error = (
        "error",
        "Query could not be completed",
        description,
        {"statusCode": None, "errorType": error_type, "traceId": "trace-1", "retries": 0},
    )
    # stream() sent a trace id of its own, the one its metadata gave before the first chunk
    trace_id = sent_trace_id(respx.calls)
    assert got.items[-1] == (*error[:3], {**error[3], "traceId": trace_id})
    assert got.items[:-1] == CHAT_CHUNKS[:good]
    assert got.after == {"traceId": trace_id, **HEADERS_SAID}  # no end: nothing the chunks said
    assert pieces.closed
    # run() fails the same way: a truncated or failed answer is never returned as a success.
    answer(body, fail=fail)
    assert service_run(mode, {**CHAT, "stream": "true"}) == error


@pytest.mark.parametrize("mode", MODES)
@respx.mock
def test_json_error_with_2xx_status_is_query_error(mode: str) -> None:
    answer(json.dumps(PROVIDER_ERROR).encode(), headers={"content-type": "application/json"})
    assert service_stream(mode, CHAT).items == [
        (
            "error",
            "Query could not be completed",
            "The server had an error while processing your request.",
            {"statusCode": None, "errorType": "server_error", "traceId": sent_trace_id(respx.calls),
             "retries": 0},
        )
    ]  # fmt: skip


@pytest.mark.parametrize("mode", MODES)
@respx.mock
def test_error_status_before_the_stream_is_the_usual_query_error(mode: str) -> None:
    respx.post(f"{BASE_URL}/chat/completions").mock(
        return_value=httpx.Response(
            429,
            json={
                "error": {"message": "Rate limit reached", "type": "rate_limit_error"},
                "provider": "openai",
            },
        )
    )
    [(kind, message, description, data)] = service_stream(mode, CHAT).items
    assert (kind, message, description) == ("error", "Query could not be completed", "Rate limit reached")
    assert (data["statusCode"], data["errorType"], data["provider"]) == (429, "rate_limit_error", "openai")


BAD_QUERIES = [
    (
        {"operation": "create_embedding", "input": "hi", "model": "text-embedding-3-small"},
        "operation: create_embedding cannot be streamed",
        {"field": "operation"},
    ),
    ({**CHAT, "max_tokens": "0"}, "max_tokens: must be at least 1", {"field": "max_tokens"}),
]


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize(("query", "description", "data"), BAD_QUERIES)
@respx.mock
def test_stream_rejects_bad_options_at_call_before_any_request(
    mode: str, query: dict[str, Any], description: str, data: dict[str, Any]
) -> None:
    route = respx.post(url__startswith=BASE_URL)
    service: Any = QueryService() if mode == "sync" else AsyncQueryService()
    with pytest.raises(QueryError) as caught:
        service.stream(SOURCE, query)  # not iterated: the check happens at the call
    assert (caught.value.description, caught.value.data) == (description, data)
    assert not route.called


# -- the service: run() with stream --------------------------------------------------------------

ASSEMBLED = [
    ("chat", {**CHAT, "stream": "true"}, "/chat/completions", CHAT_CHUNKS, CHAT_ASSEMBLED),
    (
        "chat via other_parameters",
        {**CHAT, "other_parameters": '{"stream": true}'},
        "/chat/completions",
        CHAT_CHUNKS,
        CHAT_ASSEMBLED,
    ),
    ("chat with tool calls", {**CHAT, "stream": True}, "/chat/completions", TOOL_CHUNKS, TOOL_ASSEMBLED),
    ("completion", {**COMPLETION, "stream": "true"}, "/completions", COMPLETION_CHUNKS, COMPLETION_ASSEMBLED),
    (
        "prompt completion",
        {**PROMPT, "stream": "true"},
        "/prompts/pp-welcome-e1f2a3/completions",
        CHAT_CHUNKS,
        CHAT_ASSEMBLED,
    ),
]


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize(
    ("query", "path", "chunks", "expected"), [a[1:] for a in ASSEMBLED], ids=[a[0] for a in ASSEMBLED]
)
@respx.mock
def test_run_with_stream_assembles_the_unstreamed_shape(
    mode: str, query: dict[str, Any], path: str, chunks: list[Any], expected: dict[str, Any]
) -> None:
    answer(sse(HOOKS, *chunks))
    result = service_run(mode, query)
    # what the answer says of itself: its model, its usage when sent, its one choice's finish reason
    said: dict[str, Any] = {"model": expected["model"]}
    if "usage" in expected:
        said["usage"] = expected["usage"]
    if len(expected["choices"]) == 1 and expected["choices"][0]["finish_reason"]:
        said["finishReason"] = expected["choices"][0]["finish_reason"]
    assert result == {
        "status": "ok",
        "data": expected,
        "metadata": {
            "statusCode": 200,
            "retries": 0,
            "traceId": "trace-1",
            "cacheStatus": "MISS",
            **HOOKS_SAID,
            "streamed": True,
            "chunks": len(chunks),
            **said,
            **unpriced(expected["model"]),
        },
    }
    request = sent(respx.calls)
    assert (request["url"], request["accept"], request["json"]["stream"]) == (
        BASE_URL + path,
        "text/event-stream",
        True,
    )


@pytest.mark.parametrize("mode", MODES)
@respx.mock
def test_prompt_completion_stream_sends_variables_and_yields_chunks(mode: str) -> None:
    answer(sse(*CHAT_CHUNKS))
    assert service_stream(mode, PROMPT).items == CHAT_CHUNKS[:4]
    assert sent(respx.calls)["json"] == {"variables": {"topic": "AI"}, "stream": True}


# -- the clients --------------------------------------------------------------------------------


def client_chunks(mode: str, method: str, **kwargs: Any) -> list[dict[str, Any]]:
    if mode == "sync":
        with PortkeyClient(base_url=BASE_URL, api_key=API_KEY, max_retries=0) as client:
            return list(getattr(client, method)(stream=True, **kwargs))

    async def main() -> list[dict[str, Any]]:
        async with AsyncPortkeyClient(base_url=BASE_URL, api_key=API_KEY, max_retries=0) as client:
            return [chunk async for chunk in await getattr(client, method)(stream=True, **kwargs)]

    return asyncio.run(main())


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize(
    ("method", "kwargs", "chunks"),
    [
        ("chat", {"messages": MESSAGES, "model": "gpt-4o-mini"}, CHAT_CHUNKS),
        ("completions", {"prompt": "Say hi", "model": "gpt-3.5-turbo-instruct"}, COMPLETION_CHUNKS),
        ("prompt_completion", {"prompt_id": "pp-welcome-e1f2a3"}, CHAT_CHUNKS),
    ],
)
@respx.mock
def test_client_stream_true_iterates_chunks(
    mode: str, method: str, kwargs: dict[str, Any], chunks: list[Any]
) -> None:
    answer(sse(HOOKS, *chunks))
    assert client_chunks(mode, method, **kwargs) == chunks


@pytest.mark.parametrize("mode", MODES)
@respx.mock
def test_client_stream_errors_are_stream_errors(mode: str) -> None:
    answer(sse(CHAT_CHUNKS[0], PROVIDER_ERROR))
    with pytest.raises(StreamError) as caught:
        client_chunks(mode, "chat", messages=MESSAGES, model="gpt-4o-mini")
    assert (type(caught.value), caught.value.message, caught.value.error_type, caught.value.chunk) == (
        StreamError,
        "The server had an error while processing your request.",
        "server_error",
        PROVIDER_ERROR,
    )
    answer(sse(CHAT_CHUNKS[0], done=False))
    with pytest.raises(StreamTruncatedError, match=r"^The stream ended after 1 chunks without \[DONE\]"):
        client_chunks(mode, "chat", messages=MESSAGES, model="gpt-4o-mini")


@respx.mock
def test_sync_close_stops_iteration_and_closes_the_response() -> None:
    pieces = answer(sse(*CHAT_CHUNKS))
    with PortkeyClient(base_url=BASE_URL, api_key=API_KEY, max_retries=0) as client:
        stream = client.chat(messages=MESSAGES, model="gpt-4o-mini", stream=True)
        assert next(stream) == CHAT_CHUNKS[0]
        stream.close()
        assert pieces.closed and stream.response.is_closed
        assert list(stream) == []


@respx.mock
def test_async_close_stops_iteration_and_closes_the_response() -> None:
    pieces = answer(sse(*CHAT_CHUNKS))

    async def main() -> list[Any]:
        async with AsyncPortkeyClient(base_url=BASE_URL, api_key=API_KEY, max_retries=0) as client:
            stream = await client.chat(messages=MESSAGES, model="gpt-4o-mini", stream=True)
            async with stream:
                first = await stream.__anext__()
            assert pieces.closed and stream.response.is_closed
            return [first] + [chunk async for chunk in stream]

    assert asyncio.run(main()) == [CHAT_CHUNKS[0]]


# -- early close against a real server ------------------------------------------------------------

EVENT_STREAM_HEAD = (
    b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\n\r\n"
)


def read_request(conn: socket.socket, data: bytes = b"") -> bytes | None:
    """Read one HTTP request (head and content-length body) from ``conn``; what came after it, or None
    when the peer closed first."""
    while b"\r\n\r\n" not in data:
        more = conn.recv(65536)
        if not more:
            return None
        data += more
    head, _, data = data.partition(b"\r\n\r\n")
    length = int(
        next(h.split(b":")[1] for h in head.split(b"\r\n") if h.lower().startswith(b"content-length"))
    )
    while len(data) < length:
        data += conn.recv(65536)
    return data[length:]


class LoopbackServer:
    """A loopback HTTP/1.1 server answering each connection in a thread of its own (``answer``).
    ``close()`` wakes the accepting thread with a connection of its own (closing a socket does not wake
    a thread blocked in accept()) and waits for it to end: no fixed wait."""

    def __init__(self) -> None:
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.sock.getsockname()[1]}/v1"
        self.connections = 0
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        with self.sock:
            while True:
                conn, _ = self.sock.accept()
                if self.stopping.is_set():
                    conn.close()
                    return
                self.connections += 1
                threading.Thread(target=self._answer, args=(conn,), daemon=True).start()

    def _answer(self, conn: socket.socket) -> None:
        with conn:
            conn.settimeout(10)
            try:
                self.answer(conn)
            except OSError:
                return

    def answer(self, conn: socket.socket) -> None:
        raise NotImplementedError

    def close(self) -> None:
        self.stopping.set()
        socket.create_connection(self.sock.getsockname()).close()
        self.thread.join()


class SlowStreamServer(LoopbackServer):
    """Streams two chunks, then waits, and notes when the client hangs up (recv() returns b"" only when
    the peer closed: a client sends nothing more mid-body)."""

    def __init__(self) -> None:
        self.disconnected = threading.Event()
        super().__init__()

    def answer(self, conn: socket.socket) -> None:
        if read_request(conn) is None:
            return
        payload = sse(*CHAT_CHUNKS[:2], done=False)
        conn.sendall(EVENT_STREAM_HEAD + b"%x\r\n%s\r\n" % (len(payload), payload))
        try:
            if conn.recv(1) == b"":
                self.disconnected.set()
        except OSError:
            self.disconnected.set()


class KeepAliveStreamServer(LoopbackServer):
    """Answers every request on a connection with a whole stream (chunked, ending after [DONE])."""

    def answer(self, conn: socket.socket) -> None:
        payload = sse(*CHAT_CHUNKS)
        whole = EVENT_STREAM_HEAD + b"%x\r\n%s\r\n0\r\n\r\n" % (len(payload), payload)
        rest: bytes | None = b""
        while True:
            rest = read_request(conn, rest or b"")
            if rest is None:
                return
            conn.sendall(whole)


@pytest.fixture
def slow_server() -> Iterator[SlowStreamServer]:
    server = SlowStreamServer()
    yield server
    server.close()


def test_sync_closing_the_service_stream_early_disconnects(slow_server: SlowStreamServer) -> None:
    source = {**SOURCE, "gatewayUrl": slow_server.url}
    with QueryService() as svc:
        chunks = svc.stream(source, CHAT)
        assert next(chunks) == CHAT_CHUNKS[0]
        chunks.close()
        assert slow_server.disconnected.wait(5)
        assert list(chunks) == []


def leave_early(svc: QueryService, source: dict[str, Any], how: str) -> list[Any]:
    """The chunks a host's loop took before it left: by ``break`` inside ``with``, by ``break`` from a
    loop over the stream itself (dropped at once), or by an exception in its body inside ``with``."""
    got = []
    if how == "break in with":
        with svc.stream(source, CHAT, "ds-1") as stream:
            for chunk in stream:
                got.append(chunk)
                break
    elif how == "break, dropped":
        for chunk in svc.stream(source, CHAT, "ds-1"):
            got.append(chunk)
            break
    else:
        with pytest.raises(KeyError), svc.stream(source, CHAT, "ds-1") as stream:
            for chunk in stream:
                got.append(chunk)
                chunk["no such key"]
    return got


@pytest.mark.parametrize("how", ["break in with", "break, dropped", "exception in the loop"])
def test_sync_leaving_the_loop_early_disconnects_and_gives_the_client_back(
    slow_server: SlowStreamServer, how: str
) -> None:
    source = {**SOURCE, "gatewayUrl": slow_server.url}
    with QueryService() as svc:
        assert leave_early(svc, source, how) == [CHAT_CHUNKS[0]]
        assert slow_server.disconnected.wait(5)
        (client,) = svc.pooled_clients()
    assert client._http.is_closed  # no stream held it: close() closed it at once


def test_async_closing_the_service_stream_early_disconnects(slow_server: SlowStreamServer) -> None:
    source = {**SOURCE, "gatewayUrl": slow_server.url}

    async def main() -> bool:
        svc = AsyncQueryService()
        try:
            chunks = svc.stream(source, CHAT)
            async for chunk in chunks:
                assert chunk == CHAT_CHUNKS[0]
                break
            await chunks.aclose()
            return await asyncio.to_thread(slow_server.disconnected.wait, 5)
        finally:
            await svc.aclose()

    assert asyncio.run(main())


@pytest.mark.parametrize("how", ["break", "exception in the loop"])
def test_async_leaving_the_loop_early_inside_async_with_disconnects(
    slow_server: SlowStreamServer, how: str
) -> None:
    source = {**SOURCE, "gatewayUrl": slow_server.url}

    async def main() -> tuple[list[Any], bool, bool]:
        got = []
        async with AsyncQueryService() as svc:
            try:
                async with svc.stream(source, CHAT, "ds-1") as stream:
                    async for chunk in stream:
                        got.append(chunk)
                        if how == "break":
                            break
                        chunk["no such key"]
            except KeyError:
                assert how != "break"
            disconnected = await asyncio.to_thread(slow_server.disconnected.wait, 5)
            (client,) = svc.pooled_clients()
        return got, disconnected, client._http.is_closed

    assert asyncio.run(main()) == ([CHAT_CHUNKS[0]], True, True)


def test_async_a_dropped_stream_gives_its_client_back(slow_server: SlowStreamServer) -> None:
    """Dropped unfinished outside ``async with``, a stream cannot await anything: its client goes back to
    the pool at once, and one retired meanwhile is closed by its loop (here at the service's aclose)."""
    source = {**SOURCE, "gatewayUrl": slow_server.url}

    async def main() -> tuple[bool, bool, bool]:
        svc = AsyncQueryService()
        stream = svc.stream(source, CHAT, "ds-1")
        assert await stream.__anext__() == CHAT_CHUNKS[0]
        (client,) = svc.pooled_clients()
        await svc.aclose()  # retired, but the stream holds it: left open
        held = not client._http.is_closed
        del stream
        await svc.aclose()
        return held, client._http.is_closed, await asyncio.to_thread(slow_server.disconnected.wait, 5)

    assert asyncio.run(main()) == (True, True, True)


def test_async_an_exception_in_a_bare_loop_leaves_no_error_behind(
    slow_server: SlowStreamServer, caplog: pytest.LogCaptureFixture
) -> None:
    """The loop of the host guide without ``async with``: the body's exception is the only one (an
    async generator here once failed with "aclose(): asynchronous generator is already running" when
    the loop shut down), and the connection is closed by the time the loop is."""
    source = {**SOURCE, "gatewayUrl": slow_server.url}

    async def main() -> None:
        async with AsyncQueryService() as svc:
            async for chunk in svc.stream(source, CHAT, "ds-1"):
                chunk["no such key"]

    with pytest.raises(KeyError):
        asyncio.run(main())
    assert slow_server.disconnected.wait(5)
    assert [r.getMessage() for r in caplog.records if r.levelname == "ERROR"] == []


@pytest.mark.parametrize("mode", MODES)
def test_a_finished_stream_leaves_its_connection_for_the_next_call(mode: str) -> None:
    server = KeepAliveStreamServer()
    try:
        source = {**SOURCE, "gatewayUrl": server.url}
        if mode == "sync":
            with QueryService() as svc:
                answers = [list(svc.stream(source, CHAT, "ds-1")) for _ in range(3)]
        else:

            async def main() -> list[list[dict[str, Any]]]:
                svc = AsyncQueryService()
                try:
                    out = []
                    for _ in range(3):
                        out.append([c async for c in svc.stream(source, CHAT, "ds-1")])
                    return out
                finally:
                    await svc.aclose()

            answers = asyncio.run(main())
        assert answers == [CHAT_CHUNKS[:4]] * 3
        assert server.connections == 1
    finally:
        server.close()


# -- the pure parts ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ("[DONE]", DONE),
        (" [DONE] ", DONE),
        (json.dumps(HOOKS), GuardrailChunk(HOOKS["hook_results"])),
        (
            '{"hook_results": {}, "choices": [{"index": 0, "delta": {"content": "x"}}]}',
            {"hook_results": {}, "choices": [{"index": 0, "delta": {"content": "x"}}]},
        ),
        ('{"error": null, "choices": []}', {"error": None, "choices": []}),
        ('  {"choices": []}\t', {"choices": []}),
        (
            '{"choices": [{"index": 0, "finish_reason": "stop"}]}',
            {"choices": [{"index": 0, "finish_reason": "stop"}]},
        ),
    ],
)
def test_decode_chunk(data: str, expected: Any) -> None:
    got = decode_chunk(ServerSentEvent(data))
    if isinstance(expected, (dict, GuardrailChunk)):
        assert got == expected
    else:
        assert got is expected


def test_assembler_keeps_choices_apart_and_tolerates_odd_indexes() -> None:
    assembler = StreamAssembler()
    for chunk in [
        {
            "id": "c",
            "choices": [{"index": 1, "delta": {"content": "B"}}, {"index": 0, "delta": {"content": "A"}}],
        },
        {
            "choices": [
                {"index": "x", "delta": {"content": "!"}},
                {"index": 1, "delta": {}, "finish_reason": "stop"},
            ]
        },
        {"choices": [{"index": 0, "delta": {"tool_calls": [{"index": "?", "function": {"name": "f"}}]}}]},
    ]:
        assembler.add(chunk)
    assert assembler.result()["choices"] == [
        {
            "index": 0,
            "message": {
                "role": "assistant",
                "content": "A!",
                "tool_calls": [{"function": {"name": "f", "arguments": ""}}],
            },
            "finish_reason": None,
        },
        {"index": 1, "message": {"role": "assistant", "content": "B"}, "finish_reason": "stop"},
    ]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (
            '{"choices": []} trailing',
            'Portkey sent a stream chunk that is not a JSON object: {"choices": []} trailing',
        ),
        ("[1, 2]", "Portkey sent a stream chunk that is not a JSON object: [1, 2]"),
        ('{"choices": [', 'Portkey sent a stream chunk that is not a JSON object: {"choices": ['),
    ],
)
def test_decode_chunk_rejects_what_is_not_one_json_object(data: str, message: str) -> None:
    with pytest.raises(StreamError) as caught:
        decode_chunk(ServerSentEvent(data))
    assert (caught.value.message, caught.value.error_type) == (message, "invalid_chunk")


@pytest.mark.parametrize("choices", ["5", '"abc"', '{"0": {}}', "true"])
def test_decode_chunk_refuses_choices_that_are_not_a_list(choices: str) -> None:
    with pytest.raises(StreamError) as caught:
        decode_chunk(ServerSentEvent(f'{{"id": "c", "choices": {choices}}}'))
    assert (caught.value.message, caught.value.error_type) == (
        "Portkey sent a stream chunk whose choices is not a list",
        "invalid_chunk",
    )


def test_assembler_refuses_an_absurd_tool_call_index_without_allocating() -> None:
    assembler = StreamAssembler()
    last = {"index": 1023, "function": {"name": "g", "arguments": "{}"}}
    assembler.add({"choices": [{"index": 0, "delta": {"tool_calls": [last]}}]})
    assert len(assembler.choices[0]["tool_calls"]) == 1024  # the largest index accepted
    with pytest.raises(StreamError) as caught:
        assembler.add({"choices": [{"index": 0, "delta": {"tool_calls": [{"index": 10**7}]}}]})
    assert (caught.value.message, caught.value.error_type) == (
        "Portkey sent a tool call with index 10000000; at most 1024 tool calls are read",
        "invalid_chunk",
    )
    assert len(assembler.choices[0]["tool_calls"]) == 1024


@pytest.mark.parametrize("tool_calls", [{"index": 0}, "call", 7])
def test_assembler_refuses_tool_calls_that_are_not_a_list(tool_calls: Any) -> None:
    with pytest.raises(StreamError) as caught:
        StreamAssembler().add({"choices": [{"index": 0, "delta": {"tool_calls": tool_calls}}]})
    assert caught.value.error_type == "invalid_chunk"


def test_assembler_skips_choices_a_caller_built_oddly() -> None:
    assembler = StreamAssembler()
    assembler.add({"id": "c", "choices": "not a list"})
    assembler.add({"choices": [None, 3, {"index": True, "text": "hi"}]})
    assert assembler.result()["choices"] == [{"index": 0, "text": "hi", "finish_reason": None}]
