"""stream() as an app uses it, against the real simulator on loopback: the trace id known before the first
chunk and rated while the answer streams, the metadata once it ends (what run() says of the same answer),
the text mode, an answer cut mid-stream, and loops left early, sync and async alike."""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from tooljet_portkey import AsyncQueryService, QueryError, QueryService
from tooljet_portkey.simulator import Simulator

MESSAGES = json.dumps([{"role": "user", "content": "Name an AI gateway."}])
CHAT = {"operation": "chat", "model": "gpt-4o-mini", "messages": MESSAGES, "max_tokens": "6"}
MODES = ["sync", "async"]


@pytest.fixture
def sim() -> Iterator[Simulator]:
    with Simulator() as simulator:  # the hosted profile: any API key, a routing rule
        yield simulator
        assert simulator.errors == []


def source(sim: Simulator) -> dict[str, str]:
    return {"apiKey": "pk-test", "provider": "@openai-prod", "gatewayUrl": sim.url}


def rate(service: QueryService, sim: Simulator, trace_id: str) -> Any:
    return service.run(source(sim), {"operation": "feedback", "traceId": trace_id, "value": "1"})


def sync_stream(sim: Simulator, query: dict[str, Any]) -> tuple[str, list[Any], dict[str, Any]]:
    """Stream ``query``; rate the answer by its trace id after its first chunk, while it streams."""
    with QueryService() as service, service.stream(source(sim), query) as stream:
        trace_id = stream.metadata["traceId"]
        items = []
        for item in stream:
            if not items:
                rate(service, sim, trace_id)
            items.append(item)
    return trace_id, items, dict(stream.metadata)


def async_stream(sim: Simulator, query: dict[str, Any]) -> tuple[str, list[Any], dict[str, Any]]:
    async def main() -> tuple[str, list[Any], dict[str, Any]]:
        async with AsyncQueryService() as service, service.stream(source(sim), query) as stream:
            trace_id = stream.metadata["traceId"]
            items = []
            async for item in stream:
                if not items:
                    await service.run(
                        source(sim), {"operation": "feedback", "traceId": trace_id, "value": "1"}
                    )
                items.append(item)
        return trace_id, items, dict(stream.metadata)

    return asyncio.run(main())


STREAMS = {"sync": sync_stream, "async": async_stream}


@pytest.mark.parametrize("mode", MODES)
def test_an_answer_is_rated_by_its_trace_id_while_it_streams(sim: Simulator, mode: str) -> None:
    trace_id, chunks, metadata = STREAMS[mode](sim, CHAT)
    assert uuid.UUID(trace_id).version == 4
    (asked, rated) = sim.requests
    assert asked.headers["x-portkey-trace-id"] == trace_id  # the id the plugin made is the one sent
    assert (rated.path, rated.json) == ("/v1/feedback", {"trace_id": trace_id, "value": 1})
    [feedback] = sim.feedback
    assert (feedback.trace_id, feedback.value) == (trace_id, 1)
    # every chunk has choices; the usage chunk went into the metadata
    assert all(chunk["choices"] for chunk in chunks)
    text = "".join(chunk["choices"][0]["delta"].get("content") or "" for chunk in chunks)
    with QueryService() as service:
        ran = service.run(source(sim), {**CHAT, "traceId": trace_id, "stream": "true"})
    assert text == ran["data"]["choices"][0]["message"]["content"]
    assert metadata == ran["metadata"]
    assert (metadata["usage"]["completion_tokens"], metadata["finishReason"]) == (6, "length")


@pytest.mark.parametrize("mode", MODES)
def test_output_text_streams_the_text_and_its_own_trace_id_is_kept(sim: Simulator, mode: str) -> None:
    trace_id, pieces, metadata = STREAMS[mode](sim, {**CHAT, "output": "text", "traceId": "order-42"})
    with QueryService() as service:
        ran = service.run(source(sim), {**CHAT, "output": "text"})
    assert trace_id == metadata["traceId"] == "order-42"
    assert sim.requests[0].headers["x-portkey-trace-id"] == "order-42"
    assert all(isinstance(piece, str) and piece for piece in pieces)
    assert "".join(pieces) == ran["data"]
    assert metadata["usage"] == ran["metadata"]["usage"]


def cut(mode: str, sim: Simulator) -> tuple[list[Any], QueryError, dict[str, Any]]:
    """A stream the simulator drops after three chunks: what the loop got, the error, the metadata."""
    sim.inject(path="/chat/completions", status=None, drop_after=3)
    got: list[Any] = []
    if mode == "sync":
        with (
            QueryService() as service,
            service.stream(source(sim), CHAT) as stream,
            pytest.raises(QueryError) as caught,
        ):
            for chunk in stream:
                got.append(chunk)
        return got, caught.value, dict(stream.metadata)

    async def main() -> tuple[list[Any], QueryError, dict[str, Any]]:
        async with AsyncQueryService() as service, service.stream(source(sim), CHAT) as stream:
            with pytest.raises(QueryError) as caught:
                async for chunk in stream:
                    got.append(chunk)
        return got, caught.value, dict(stream.metadata)

    return asyncio.run(main())


@pytest.mark.parametrize("mode", MODES)
def test_an_answer_cut_mid_stream_is_a_query_error_with_the_streams_trace_id(
    sim: Simulator, mode: str
) -> None:
    got, error, metadata = cut(mode, sim)
    assert len(got) == 3
    assert (error.message, error.description) == (
        "Query could not be completed",
        "The connection was lost after 3 chunks: Could not get an answer from 127.0.0.1: "
        "peer closed connection without sending complete message body (incomplete chunked read)",
    )
    assert error.data == {
        "statusCode": None,
        "errorType": "stream_truncated",
        "traceId": metadata["traceId"],
        "retries": 0,
    }
    assert "usage" not in metadata and "finishReason" not in metadata  # the answer never ended


@pytest.mark.parametrize("mode", MODES)
def test_a_loop_left_early_leaves_the_service_ready_for_the_next_stream(sim: Simulator, mode: str) -> None:
    if mode == "sync":
        with QueryService() as service:
            with service.stream(source(sim), CHAT, "ds-1") as stream:
                for _ in stream:
                    break
            second = list(service.stream(source(sim), CHAT, "ds-1"))
    else:

        async def main() -> list[Any]:
            async with AsyncQueryService() as service:
                async with service.stream(source(sim), CHAT, "ds-1") as stream:
                    async for _ in stream:
                        break
                return [chunk async for chunk in service.stream(source(sim), CHAT, "ds-1")]

        second = asyncio.run(main())
    with QueryService() as service:
        whole = service.run(source(sim), {**CHAT, "output": "text"})["data"]
    assert "".join(c["choices"][0]["delta"].get("content") or "" for c in second) == whole


def test_the_host_guides_async_loop_failing_in_its_body_leaves_no_error_behind(
    sim: Simulator, caplog: pytest.LogCaptureFixture
) -> None:
    """An exception in the body of a bare ``async for`` (no ``async with``) is the only error: no
    "aclose(): asynchronous generator is already running" when asyncio.run shuts the loop down."""

    async def main() -> None:
        async with AsyncQueryService() as service:
            async for chunk in service.stream(source(sim), CHAT, "2f6c7a", "2026-03-01T09:30:00Z"):
                print(chunk["choices"][1])

    with caplog.at_level(logging.ERROR), pytest.raises(IndexError):
        asyncio.run(main())
    assert [record.getMessage() for record in caplog.records if record.levelno >= logging.ERROR] == []
