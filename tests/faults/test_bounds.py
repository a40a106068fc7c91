"""What an answer may cost, against a real loopback server that misbehaves on purpose.

A gzip bomb, a gigabyte body, an endless SSE line, absurd stream chunks, a server that trickles one
byte a second or keeps a finished stream open, and proxy variables httpx cannot use: each ends as a
clear QueryError (or a prompt answer), never as an exhausted machine, a hung query or a plugin_error.

Time is asserted only with wide margins (timeout 1 s, the server stalls 60 s or more, the assertion
allows 15 s): the point is that the query ends, not how fast.
"""

from __future__ import annotations

import asyncio
import gzip
import importlib.util
import json
import time
import tracemalloc
import zlib
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from loopback_server import FaultServer, Reply

from tooljet_portkey import AsyncQueryService, QueryError, QueryService

CHAT = {"operation": "chat", "model": "gpt-4o-mini", "messages": '[{"role":"user","content":"Hi"}]'}
STREAM = {**CHAT, "stream": "true"}
COMPLETION = {
    "id": "chatcmpl-1",
    "object": "chat.completion",
    "created": 1,
    "model": "gpt-4o-mini",
    "choices": [{"index": 0, "message": {"role": "assistant", "content": "Hello"}, "finish_reason": "stop"}],
}
MIB = 1024 * 1024
FAILED = "Query could not be completed"
TIMED_OUT = "Query timed out"
LONG_STALL = 60.0  # how long a misbehaving reply would go on; far beyond every test's bound
BOUND = 15.0  # each query here must end well before this


def source(server: FaultServer, **extra: str) -> dict[str, Any]:
    return {"apiKey": "pk-test-key", "provider": "openai", "gatewayUrl": server.url, **extra}


def data(**fields: Any) -> dict[str, Any]:
    return {"statusCode": None, "errorType": None, "traceId": None, "retries": 0, **fields}


def sse(*payloads: str) -> bytes:
    return b"".join(b"data: " + p.encode() + b"\n\n" for p in payloads)


Run = Callable[[dict[str, Any], dict[str, Any]], dict[str, Any]]
Collect = Callable[[dict[str, Any], dict[str, Any]], list[dict[str, Any]]]


@pytest.fixture(params=["sync", "async"])
def run(request: pytest.FixtureRequest) -> Iterator[Run]:
    """QueryService.run or AsyncQueryService.run, through one fresh service for the whole test."""
    if request.param == "sync":
        with QueryService() as service:
            yield lambda src, query: service.run(src, query, "ds-1")
        return
    loop = asyncio.new_event_loop()
    service = AsyncQueryService()
    try:
        yield lambda src, query: loop.run_until_complete(service.run(src, query, "ds-1"))
    finally:
        loop.run_until_complete(service.aclose())
        loop.close()


@pytest.fixture(params=["sync", "async"])
def collect(request: pytest.FixtureRequest) -> Iterator[Collect]:
    """Every chunk of QueryService.stream or AsyncQueryService.stream, as a list."""
    if request.param == "sync":
        with QueryService() as service:
            yield lambda src, query: list(service.stream(src, query, "ds-1"))
        return
    loop = asyncio.new_event_loop()
    service = AsyncQueryService()

    async def gather(src: dict[str, Any], query: dict[str, Any]) -> list[dict[str, Any]]:
        return [chunk async for chunk in service.stream(src, query, "ds-1")]

    try:
        yield lambda src, query: loop.run_until_complete(gather(src, query))
    finally:
        loop.run_until_complete(service.aclose())
        loop.close()


def fail(call: Callable[[], Any]) -> tuple[QueryError, float]:
    """The QueryError a call raises, and how long it took."""
    started = time.monotonic()
    with pytest.raises(QueryError) as caught:
        call()
    return caught.value, time.monotonic() - started


# --- the size of an answer -----------------------------------------------------------------------

BOMB = gzip.compress(b" " * (64 * MIB), 6)  # 64 MiB of JSON whitespace in about 64 KB


def too_large(limit: str, **fields: Any) -> tuple[str, str, dict[str, Any]]:
    description = (
        f"Portkey's answer is larger than {limit} (the connection's maxResponseMiB) and was not read further"
    )
    return FAILED, description, data(errorType="response_too_large", **fields)


def test_a_gzip_bomb_is_refused_without_being_inflated(fault_server: FaultServer, run: Run) -> None:
    fault_server.script(Reply(200, BOMB, {"content-encoding": "gzip"}))
    tracemalloc.start()
    try:
        err, _ = fail(lambda: run(source(fault_server, maxResponseMiB="1"), CHAT))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert (err.message, err.description, err.data) == too_large("1 MiB", statusCode=200)
    assert fault_server.count == 1  # never retried: the same answer would come again
    assert peak < 16 * MIB  # 64 MiB was compressed in the answer; at most 1 MiB + one step was inflated


@pytest.mark.parametrize(
    ("encoding", "body"),
    [("deflate", zlib.compress(b" " * (4 * MIB))), ("deflate", zlib.compress(b" " * (4 * MIB))[2:-4])],
    ids=["deflate", "raw-deflate"],
)
def test_a_deflate_bomb_is_refused(fault_server: FaultServer, run: Run, encoding: str, body: bytes) -> None:
    fault_server.script(Reply(200, body, {"content-encoding": encoding}))
    err, _ = fail(lambda: run(source(fault_server, maxResponseMiB="1"), CHAT))
    assert (err.message, err.description, err.data) == too_large("1 MiB", statusCode=200)


def test_a_compressed_answer_within_the_cap_is_read(fault_server: FaultServer, run: Run) -> None:
    fault_server.script(
        Reply(200, gzip.compress(json.dumps(COMPLETION).encode()), {"content-encoding": "gzip"})
    )
    assert run(source(fault_server, maxResponseMiB="1"), CHAT)["data"] == COMPLETION
    assert fault_server.requests[0].headers["accept-encoding"] == "gzip, deflate"


def test_an_error_answer_is_capped_too(fault_server: FaultServer, sleeps: list[float], run: Run) -> None:
    """A 503 whose body inflates past the cap is the size error, with the status, and is not retried."""
    fault_server.script(Reply(503, BOMB, {"content-encoding": "gzip", "x-portkey-trace-id": "trace-9"}))
    err, _ = fail(lambda: run(source(fault_server, maxResponseMiB="0.5"), CHAT))
    assert (err.message, err.description, err.data) == too_large(
        "524,288 bytes", statusCode=503, traceId="trace-9"
    )
    assert fault_server.count == 1
    assert sleeps == []


def test_a_declared_gigabyte_is_refused_before_reading(fault_server: FaultServer, run: Run) -> None:
    """content-length 1 GiB, the body then trickled: refused on the headers, at once."""
    fault_server.script(
        Reply(200, headers={"content-length": str(1024 * MIB)}, pieces=(b" " * 1024,), repeat=60, interval=1)
    )
    err, elapsed = fail(lambda: run(source(fault_server), CHAT))
    assert (err.message, err.description, err.data) == too_large("64 MiB", statusCode=200)
    assert elapsed < BOUND


def test_a_gigabyte_body_is_not_read_whole(fault_server: FaultServer, run: Run) -> None:
    """1 GiB of chunked JSON (sent 1 MiB at a time, never built): the default cap of 64 MiB stops it."""
    fault_server.script(Reply(200, pieces=(b"[" + b" " * (MIB - 1),), repeat=1024))
    err, _ = fail(lambda: run(source(fault_server), CHAT))
    assert (err.message, err.description, err.data) == too_large("64 MiB", statusCode=200)


def test_a_streamed_answer_is_capped_as_a_whole(fault_server: FaultServer, run: Run) -> None:
    chunk = json.dumps({"choices": [{"index": 0, "delta": {"content": "x" * 1000}}]})
    fault_server.script(
        Reply(pieces=(sse(chunk) * 100,), repeat=20, headers={"content-type": "text/event-stream"})
    )
    err, _ = fail(lambda: run(source(fault_server, maxResponseMiB="1"), STREAM))
    assert (err.message, err.description, err.data) == too_large("1 MiB", statusCode=200)


EVENT_TOO_LARGE = (
    "A stream event is larger than 1 MiB (the connection's maxEventMiB) and the stream was not read further"
)
LINE_WITHOUT_END = (b"data: " + b"x" * (64 * 1024),) + (b"x" * (64 * 1024),) * 63  # 4 MiB, no newline
EVENT_WITHOUT_END = (b"data: " + b"x" * 1023 + b"\n",) * 4096  # 4 MiB of data lines, no blank line


@pytest.mark.parametrize("pieces", [LINE_WITHOUT_END, EVENT_WITHOUT_END], ids=["one-line", "one-event"])
def test_a_huge_stream_event_is_refused(
    fault_server: FaultServer, run: Run, pieces: tuple[bytes, ...]
) -> None:
    fault_server.script(Reply(pieces=pieces, repeat=16, headers={"content-type": "text/event-stream"}))
    err, _ = fail(lambda: run(source(fault_server, maxEventMiB="1"), STREAM))
    assert (err.message, err.description, err.data) == (
        FAILED,
        EVENT_TOO_LARGE,
        data(statusCode=200, errorType="response_too_large"),
    )


def test_a_size_error_after_a_retry_counts_the_retry(
    fault_server: FaultServer, sleeps: list[float], run: Run
) -> None:
    fault_server.script(
        Reply(503, {"error": {"message": "busy"}}),
        Reply(pieces=LINE_WITHOUT_END, headers={"content-type": "text/event-stream"}),
    )
    err, _ = fail(lambda: run(source(fault_server, maxEventMiB="1"), STREAM))
    assert (err.description, err.data) == (
        EVENT_TOO_LARGE,
        data(statusCode=200, errorType="response_too_large", retries=1),
    )
    assert fault_server.count == 2


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_stream_yields_the_chunks_before_a_huge_event(fault_server: FaultServer, mode: str) -> None:
    first = json.dumps({"choices": [{"index": 0, "delta": {"content": "Hel"}}]})
    fault_server.script(
        Reply(pieces=(sse(first), *LINE_WITHOUT_END), headers={"content-type": "text/event-stream"})
    )
    src = source(fault_server, maxEventMiB="1")
    got: list[dict[str, Any]] = []
    with pytest.raises(QueryError) as caught:
        if mode == "sync":
            with QueryService() as service:
                for chunk in service.stream(src, CHAT):
                    got.append(chunk)
        else:

            async def consume() -> None:
                async with AsyncQueryService() as service:
                    async for chunk in service.stream(src, CHAT):
                        got.append(chunk)

            asyncio.run(consume())
    assert got == [json.loads(first)]
    assert (caught.value.description, caught.value.data["errorType"]) == (
        EVENT_TOO_LARGE,
        "response_too_large",
    )


def test_a_long_event_within_the_cap_is_read(fault_server: FaultServer, run: Run) -> None:
    """A 3 MiB chunk (one long line, in 64 KiB pieces) with the default 8 MiB event cap."""
    chunk = sse(json.dumps({"choices": [{"index": 0, "delta": {"content": "y" * (3 * MIB)}}]}), "[DONE]")
    pieces = tuple(chunk[i : i + 65536] for i in range(0, len(chunk), 65536))
    fault_server.script(Reply(pieces=pieces, headers={"content-type": "text/event-stream"}))
    result = run(source(fault_server), STREAM)
    assert result["data"]["choices"][0]["message"]["content"] == "y" * (3 * MIB)


# --- absurd stream chunks ---------------------------------------------------------------------------


def test_a_tool_call_index_of_ten_million_is_refused(fault_server: FaultServer, run: Run) -> None:
    call = {"index": 10**7, "id": "call_1", "type": "function", "function": {"name": "f", "arguments": "{}"}}
    chunk = json.dumps({"choices": [{"index": 0, "delta": {"tool_calls": [call]}}]})
    fault_server.script(Reply(events=(chunk, "[DONE]")))
    err, _ = fail(lambda: run(source(fault_server), STREAM))
    assert (err.message, err.description, err.data) == (
        FAILED,
        "Portkey sent a tool call with index 10000000; at most 1024 tool calls are read",
        data(errorType="invalid_chunk"),
    )


@pytest.mark.parametrize("choices", [5, "abc", {"0": {"delta": {}}}, True])
def test_choices_that_are_not_a_list_are_an_invalid_chunk(
    fault_server: FaultServer, run: Run, collect: Collect, choices: Any
) -> None:
    fault_server.script(Reply(events=(json.dumps({"id": "c1", "choices": choices}), "[DONE]")))
    expected = (
        FAILED,
        "Portkey sent a stream chunk whose choices is not a list",
        data(errorType="invalid_chunk"),
    )
    err, _ = fail(lambda: run(source(fault_server), STREAM))
    assert (err.message, err.description, err.data) == expected
    err, _ = fail(lambda: collect(source(fault_server), CHAT))
    # stream() sends a trace id of its own, so the failure carries it
    sent_trace_id = fault_server.requests[-1].headers["x-portkey-trace-id"]
    assert (err.message, err.description, err.data) == (
        *expected[:2],
        {**expected[2], "traceId": sent_trace_id},
    )


def test_odd_choice_items_are_skipped(fault_server: FaultServer, run: Run) -> None:
    odd = json.dumps({"id": "c1", "choices": [5, None, "x", {"index": 0, "delta": "not a delta"}]})
    good = json.dumps({"choices": [{"index": 0, "delta": {"role": "assistant", "content": "Hi"}}]})
    bad_calls = json.dumps({"choices": [{"index": 0, "delta": {"tool_calls": {"index": 0}}}]})
    fault_server.script(Reply(events=(odd, good, "[DONE]")))
    assert run(source(fault_server), STREAM)["data"]["choices"] == [
        {"index": 0, "message": {"role": "assistant", "content": "Hi"}, "finish_reason": None}
    ]
    fault_server.script(Reply(events=(good, bad_calls, "[DONE]")))
    err, _ = fail(lambda: run(source(fault_server), STREAM))
    assert (err.description, err.data["errorType"]) == (
        "Portkey sent a stream chunk whose tool_calls is not a list",
        "invalid_chunk",
    )


# --- the deadline -----------------------------------------------------------------------------------

TRICKLE = (b" ",)  # one byte of JSON whitespace, sent once a second


def test_a_trickling_body_ends_at_the_timeout(fault_server: FaultServer, run: Run) -> None:
    fault_server.script(Reply(200, pieces=TRICKLE, repeat=int(LONG_STALL), interval=1))
    err, elapsed = fail(lambda: run(source(fault_server, timeout="1", maxRetries="0"), CHAT))
    assert (err.message, err.description, err.data) == (
        TIMED_OUT,
        "Portkey did not answer within 1 s",
        data(errorType="timeout_error"),
    )
    assert elapsed < BOUND


def test_trickling_headers_end_at_the_timeout(fault_server: FaultServer, run: Run) -> None:
    fault_server.script(Reply(trickle_headers=0.5))
    err, elapsed = fail(lambda: run(source(fault_server, timeout="1", maxRetries="0"), CHAT))
    assert (err.message, err.description, err.data) == (
        TIMED_OUT,
        "Portkey did not answer within 1 s",
        data(errorType="timeout_error"),
    )
    assert elapsed < BOUND


def test_the_deadline_includes_retries(fault_server: FaultServer, run: Run) -> None:
    """A 503, the backoff (real, 0.375 to 0.5 s), then a trickle: one query, one deadline, and no
    second retry once the time is spent."""
    fault_server.script(
        Reply(503, {"error": {"message": "busy"}}),
        Reply(200, pieces=TRICKLE, repeat=int(LONG_STALL), interval=1),
    )
    err, elapsed = fail(lambda: run(source(fault_server, timeout="3", maxRetries="5"), CHAT))
    assert (err.message, err.description, err.data) == (
        TIMED_OUT,
        "Portkey did not answer within 3 s (after 1 retry)",
        data(errorType="timeout_error", retries=1),
    )
    assert fault_server.count == 2
    assert elapsed < BOUND


def test_a_stream_that_trickles_without_an_event_ends(fault_server: FaultServer, collect: Collect) -> None:
    first = json.dumps({"choices": [{"index": 0, "delta": {"content": "Hel"}}]})
    fault_server.script(
        Reply(
            pieces=(sse(first), b"data: {", *(b"x",) * int(LONG_STALL)),
            interval=0.5,
            headers={"content-type": "text/event-stream"},
        )
    )
    err, elapsed = fail(lambda: collect(source(fault_server, timeout="2"), CHAT))
    assert (err.message, err.description, err.data) == (
        TIMED_OUT,
        "Portkey sent no stream event for 2 s, after 1 chunks; the answer is incomplete",
        data(errorType="timeout_error", traceId=fault_server.requests[-1].headers["x-portkey-trace-id"]),
    )
    assert elapsed < BOUND


def test_a_stream_that_never_finishes_ends_at_stream_timeout(fault_server: FaultServer, run: Run) -> None:
    chunk = sse(json.dumps({"choices": [{"index": 0, "delta": {"content": "x"}}]}))
    fault_server.script(
        Reply(
            pieces=(chunk,),
            repeat=int(LONG_STALL) * 5,
            interval=0.2,
            headers={"content-type": "text/event-stream"},
        )
    )
    err, elapsed = fail(lambda: run(source(fault_server, timeout="5", streamTimeout="1"), STREAM))
    assert err.message == TIMED_OUT
    assert err.description.startswith("The stream did not finish within 1 s (streamTimeout), after ")
    assert err.description.endswith(" chunks; the answer is incomplete")
    assert err.data == data(errorType="timeout_error")
    assert elapsed < BOUND


def test_stream_timeout_bounds_the_wait_for_the_stream_to_start(fault_server: FaultServer, run: Run) -> None:
    fault_server.script(Reply(events=("[DONE]",), delay=LONG_STALL))
    err, elapsed = fail(lambda: run(source(fault_server, timeout="30", streamTimeout="1"), STREAM))
    assert (err.message, err.description, err.data) == (
        TIMED_OUT,
        "Portkey did not answer within 1 s",
        data(errorType="timeout_error"),
    )
    assert elapsed < BOUND


def test_a_slow_stream_with_steady_events_is_not_cut(fault_server: FaultServer, run: Run) -> None:
    """Events 0.3 s apart with timeout 2 s: the whole stream (2.7 s) takes longer than the timeout,
    and that is fine, because no single wait does."""
    chunk = json.dumps({"choices": [{"index": 0, "delta": {"content": "x"}}]})
    fault_server.script(
        Reply(
            pieces=(*(sse(chunk),) * 8, sse("[DONE]")),
            interval=0.3,
            headers={"content-type": "text/event-stream"},
        )
    )
    result = run(source(fault_server, timeout="2"), STREAM)
    assert result["data"]["choices"][0]["message"]["content"] == "x" * 8


def test_a_stream_kept_open_after_done_returns_at_done(
    fault_server: FaultServer, run: Run, collect: Collect
) -> None:
    delta = json.dumps({"choices": [{"index": 0, "delta": {"role": "assistant", "content": "Hi"}}]})
    held = Reply(events=(delta, "[DONE]"), hold_open=LONG_STALL)
    fault_server.script(held)
    started = time.monotonic()
    result = run(source(fault_server), STREAM)
    assert result["data"]["choices"][0]["message"]["content"] == "Hi"
    assert collect(source(fault_server), CHAT) == [json.loads(delta)]
    assert time.monotonic() - started < BOUND
    # the held connections were given up, not reused: the next query still gets its answer
    fault_server.script(Reply(200, COMPLETION))
    assert run(source(fault_server), CHAT)["data"] == COMPLETION


@pytest.mark.parametrize(
    "reply",
    [Reply(200, pieces=TRICKLE, repeat=int(LONG_STALL), interval=1), Reply(trickle_headers=0.5)],
    ids=["trickling-body", "trickling-headers"],
)
def test_test_connection_ends_at_its_timeout(fault_server: FaultServer, reply: Reply) -> None:
    fault_server.script(reply)
    started = time.monotonic()
    with QueryService() as service:
        assert service.test_connection(source(fault_server, timeout="1")) == {
            "status": "failed",
            "message": "Portkey did not answer within 1 s",
        }

    async def probe() -> dict[str, Any]:
        async with AsyncQueryService() as service:
            return await service.test_connection(source(fault_server, timeout="1"))

    assert asyncio.run(probe()) == {"status": "failed", "message": "Portkey did not answer within 1 s"}
    assert time.monotonic() - started < 2 * BOUND


# --- proxies from the environment ------------------------------------------------------------------

PROXY_VARIABLES = ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY")


@pytest.fixture
def no_proxy_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    """An environment without proxy variables (in either case), for the test to set its own."""
    for name in PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)
    monkeypatch.delenv("REQUEST_METHOD", raising=False)  # urllib ignores HTTP_PROXY under CGI
    return monkeypatch


def proxy_error(variable: str, problem: str) -> tuple[str, str, dict[str, Any]]:
    description = (
        f"The {variable} environment variable {problem}; fix or unset it, or turn the connection's "
        "useSystemProxy off"
    )
    return FAILED, description, data(errorType="proxy_error")


def chain(err: BaseException) -> list[BaseException]:
    """The error and every exception reachable from it through __cause__ and __context__."""
    links, todo = [], [err]
    while todo and len(links) < 20:
        link = todo.pop()
        links.append(link)
        todo += [e for e in (link.__cause__, link.__context__) if e is not None]
    return links


NOT_A_PROXY_URL = "is not a valid proxy URL (http://, https://, socks5:// or socks5h://)"
SOCKS_WITHOUT_SOCKSIO = "names a SOCKS proxy, which needs the socksio package (pip install 'httpx[socks]')"


@pytest.mark.parametrize(
    ("variable", "value", "problem"),
    [
        ("HTTP_PROXY", "http://[::1", NOT_A_PROXY_URL),
        ("HTTPS_PROXY", "ftp://user:secret-pw@proxy.example", NOT_A_PROXY_URL),
        pytest.param(
            "ALL_PROXY",
            "socks5://user:secret-pw@127.0.0.1:1080",
            SOCKS_WITHOUT_SOCKSIO,
            marks=pytest.mark.skipif(
                importlib.util.find_spec("socksio") is not None, reason="socksio is here"
            ),
        ),
    ],
)
def test_an_unusable_proxy_variable_is_named(
    fault_server: FaultServer,
    no_proxy_env: pytest.MonkeyPatch,
    run: Run,
    variable: str,
    value: str,
    problem: str,
) -> None:
    no_proxy_env.setenv(variable, value)
    err, _ = fail(lambda: run(source(fault_server), CHAT))
    assert (err.message, err.description, err.data) == proxy_error(variable, problem)
    assert "secret-pw" not in " ".join(repr(link) for link in chain(err))
    assert fault_server.count == 0
    with QueryService() as service:
        assert service.test_connection(source(fault_server)) == {
            "status": "failed",
            "message": err.description,
        }
    # turned off, the environment is not read at all
    fault_server.script(Reply(200, COMPLETION))
    assert run(source(fault_server, useSystemProxy="false"), CHAT)["data"] == COMPLETION


def test_a_proxy_variable_is_honoured_and_no_proxy_or_the_switch_bypasses_it(
    fault_server: FaultServer, no_proxy_env: pytest.MonkeyPatch, run: Run
) -> None:
    """HTTP_PROXY names the loopback server itself: a request through a proxy carries the absolute
    URL, and the proxy sees every header, the API key included (which is why https matters)."""
    proxy = fault_server.url.removesuffix("/v1")
    no_proxy_env.setenv("HTTP_PROXY", proxy)
    fault_server.script(Reply(200, COMPLETION))
    assert run(source(fault_server), CHAT)["data"] == COMPLETION
    seen = fault_server.requests[0]
    assert seen.path == f"{fault_server.url}/chat/completions"
    assert seen.headers["x-portkey-api-key"] == "pk-test-key"

    fault_server.script(Reply(200, COMPLETION))
    assert run(source(fault_server, useSystemProxy="false"), CHAT)["data"] == COMPLETION
    assert fault_server.requests[0].path == "/v1/chat/completions"

    no_proxy_env.setenv("NO_PROXY", "127.0.0.1")
    fault_server.script(Reply(200, COMPLETION))
    with QueryService() as service:  # proxies are read when a client is built: a fresh service
        assert service.run(source(fault_server), CHAT)["data"] == COMPLETION
    assert fault_server.requests[0].path == "/v1/chat/completions"
