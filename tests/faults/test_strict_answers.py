"""A real loopback server answering what only Python's json.loads takes (NaN, Infinity, 1e999) or JSON
nested 100,000 deep, plain, gzipped and streamed: the user sees an error naming it, never the plugin's
own error, and every result a host gets is strict JSON (``json.dumps(..., allow_nan=False)``)."""

from __future__ import annotations

import asyncio
import gzip
import json
import sys
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import pytest
from loopback_server import FaultServer, Reply

from tooljet_portkey import AsyncQueryService, QueryError, QueryService

T = TypeVar("T")
Run = Callable[[dict[str, Any], dict[str, Any]], dict[str, Any]]

CHAT = {"operation": "chat", "model": "gpt-4o-mini", "messages": '[{"role":"user","content":"Hi"}]'}
FAILED = "Query could not be completed"
DEEP = 100_000
DEEP_TEXT = "[" * DEEP + "]" * DEEP
HEAD = '{"id": "c", "object": "chat.completion.chunk", "choices": [{"index": 0, "delta": '
FIRST_CHUNK = HEAD + '{"role": "assistant", "content": "Hi"}}]}'


def source(server: FaultServer) -> dict[str, Any]:
    return {"apiKey": "pk-test-key", "provider": "openai", "gatewayUrl": server.url}


def answer(content: str, usage: Any = None) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "model": "gpt-4o-mini",
        "choices": [
            {"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}
        ],
    }
    if usage is not None:
        body["usage"] = usage
    return body


@pytest.fixture(params=["sync", "async"])
def run(request: pytest.FixtureRequest) -> Iterator[Run]:
    """QueryService.run or AsyncQueryService.run, through one service for the whole test."""
    if request.param == "sync":
        with QueryService() as service:
            yield lambda src, query: service.run(src, query)
        return
    loop = asyncio.new_event_loop()
    service = AsyncQueryService()
    try:
        yield lambda src, query: loop.run_until_complete(service.run(src, query))
    finally:
        loop.run_until_complete(service.aclose())
        loop.close()


def fail(run: Run, query: dict[str, Any], server: FaultServer) -> QueryError:
    with pytest.raises(QueryError) as caught:
        run(source(server), query)
    json.dumps(caught.value.to_result(), allow_nan=False)
    return caught.value


OVERFLOW = "a number is larger than 1.8e308 in size"
GZIP = {"content-encoding": "gzip"}
BODIES = [
    ("nan", Reply(200, '{"choices": [], "usage": {"cost": NaN}}'), "NaN is not allowed in JSON"),
    ("overflow", Reply(200, '{"choices": [], "usage": {"cost": 1e999}}'), OVERFLOW),
    ("deep", Reply(200, '{"choices": ' + DEEP_TEXT + "}"), "nested too deeply"),
    ("deep-gzip", Reply(200, gzip.compress(DEEP_TEXT.encode()), GZIP), "nested too deeply"),
]  # fmt: skip


@pytest.mark.parametrize(("reply", "problem"), [b[1:] for b in BODIES], ids=[b[0] for b in BODIES])
def test_a_body_only_python_takes_is_an_invalid_response_and_not_retried(
    fault_server: FaultServer, sleeps: list[float], run: Run, reply: Reply, problem: str
) -> None:
    fault_server.script(reply)
    err = fail(run, CHAT, fault_server)
    assert (err.message, err.description, err.data) == (
        FAILED,
        f"Portkey answered HTTP 200 but the body is not valid JSON ({problem})",
        {"statusCode": 200, "errorType": "invalid_response", "traceId": None, "retries": 0},
    )
    assert fault_server.count == 1


@pytest.mark.parametrize(
    ("content", "problem"),
    [('{"score": NaN}', "NaN is not allowed in JSON"), (DEEP_TEXT, "nested too deeply")],
    ids=["nan", "deep"],
)
def test_json_output_only_python_takes_is_invalid_output(
    fault_server: FaultServer, run: Run, content: str, problem: str
) -> None:
    fault_server.script(Reply(200, answer(content)))
    err = fail(run, {**CHAT, "output": "json"}, fault_server)
    assert (err.description, err.data) == (
        f"The answer is not valid JSON ({problem})",
        {"statusCode": 200, "errorType": "invalid_output", "traceId": None, "output": content[:2000]},
    )


def test_tool_call_arguments_100000_deep_stay_text(fault_server: FaultServer, run: Run) -> None:
    arguments = '{"a": ' * DEEP + "1" + "}" * DEEP
    call = {"id": "call_1", "type": "function", "function": {"name": "f", "arguments": arguments}}
    body = answer("")
    body["choices"][0]["message"] = {"role": "assistant", "content": None, "tool_calls": [call]}
    fault_server.script(Reply(200, body))
    result = run(source(fault_server), {**CHAT, "output": "json"})
    json.dumps(result, allow_nan=False)
    assert result["data"] == [{"id": "call_1", "name": "f", "arguments": arguments}]
    assert result["metadata"]["warning"] == (
        "the arguments of tool call call_1 are not valid JSON (nested too deeply); kept as text"
    )


@pytest.mark.parametrize(
    ("chunk", "problem"),
    [
        (HEAD + '{"content": "!"}, "logprobs": {"p": NaN}}]}', "NaN is not allowed in JSON"),
        (HEAD + '{"content": "!"}, "x": ' + DEEP_TEXT + "}]}", "nested too deeply"),
    ],
    ids=["nan", "deep"],
)
def test_a_stream_chunk_only_python_takes_ends_the_stream_as_invalid_chunk(
    fault_server: FaultServer, run: Run, chunk: str, problem: str
) -> None:
    fault_server.script(Reply(events=(FIRST_CHUNK, chunk, "[DONE]")))
    err = fail(run, {**CHAT, "stream": "true"}, fault_server)
    assert (err.message, err.description, err.data["errorType"]) == (
        FAILED,
        f"Portkey sent a stream chunk that is not valid JSON ({problem})",
        "invalid_chunk",
    )
    with QueryService() as service:
        seen: list[dict[str, Any]] = []
        with pytest.raises(QueryError) as caught:
            seen.extend(service.stream(source(fault_server), CHAT))
    assert caught.value.description == err.description
    assert [c["choices"][0]["delta"]["content"] for c in seen] == ["Hi"]


def test_an_image_url_that_is_not_http_is_invalid_output(fault_server: FaultServer, run: Run) -> None:
    fault_server.script(Reply(200, {"created": 1, "data": [{"url": "javascript:alert(document.cookie)"}]}))
    err = fail(
        run, {"operation": "image_generation", "prompt": "A lighthouse", "output": "images"}, fault_server
    )
    assert (err.description, err.data["output"]) == (
        "Portkey's answer holds an image URL that is not http(s)",
        "javascript:alert(document.cookie)",
    )


# --- tables -------------------------------------------------------------------------------------------


def nested(depth: int, leaf: dict[str, Any]) -> dict[str, Any]:
    value = leaf
    for _ in range(depth):
        value = {"detail": value}
    return value


def on_a_deep_stack(call: Callable[[], T], spare: int = 200) -> T:
    """``call()`` from within a recursion that leaves only ``spare`` frames of the recursion limit."""

    def down(levels: int) -> T:
        return down(levels - 1) if levels else call()

    frames = 0
    frame = sys._getframe()
    while frame is not None:
        frames += 1
        frame = frame.f_back  # type: ignore[assignment]
    return down(sys.getrecursionlimit() - spare - frames)


def test_a_table_with_a_900_deep_usage_and_a_nan_row_finishes_on_a_deep_stack(
    fault_server: FaultServer,
) -> None:
    """Rows are answered on the run's threads; the results are gathered and the usage summed on the
    caller's thread, which here has 200 frames left."""
    fault_server.script(
        Reply(200, answer('{"label": "billing"}', nested(900, {"tokens": 3}))),
        Reply(200, json.dumps(answer("x")).replace('"x"', '"{\\"label\\": NaN}"')),
        Reply(200, answer('{"label": "other"}', nested(900, {"tokens": 4}))),
    )
    query = {
        "operation": "prompt_completion",
        "promptId": "pp-triage",
        "rows": json.dumps([{"t": "a"}, {"t": "b"}, {"t": "c"}]),
        "output": "json",
        "concurrency": "1",
    }
    with QueryService() as service:
        result = on_a_deep_stack(lambda: service.run(source(fault_server), query))
    json.dumps(result, allow_nan=False)
    assert [(row["status"], row.get("output")) for row in result["data"]] == [
        ("ok", {"label": "billing"}),
        ("failed", None),
        ("ok", {"label": "other"}),
    ]
    assert (
        result["data"][1]["error"]["description"]
        == "The answer is not valid JSON (NaN is not allowed in JSON)"
    )
    assert result["metadata"]["usage"] == nested(900, {"tokens": 7})
