"""What the open-source gateway 1.15.2 gets wrong on Node 20, written as the tests should pass.

The gateway appends its x-portkey-* headers to the upstream's fetch() Response, whose headers are
immutable on Node 20 ("TypeError: immutable" in its log), so it answers 500 "Something went wrong" to
every response it passes through untransformed: embeddings, every stream, GET /v1/models. Each case is
``xfail(strict=True)``: when a fixed gateway is pinned, these pass, strict xfail fails the run, and the
marker has to go. With GATEWAY_FETCH_SHIM=1 the gateway runs with mutable_fetch_headers.cjs preloaded
(it copies each upstream response so its headers can be appended to) and these tests must pass: that
shows the defect is the gateway's, and runs streams and embeddings through the real gateway meanwhile.

The expected answer is the same query sent straight to the simulator (no gateway): through a gateway
that works, the provider's answer comes back unchanged.
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from gateway_support import FETCH_SHIM_ON, Gateway, Runner, check_connection, without_ids

from tooljet_portkey import AsyncQueryService, QueryError, QueryService
from tooljet_portkey.simulator import Simulator

pytestmark = pytest.mark.gateway

KEY = "sk-provider-key-0001"
TRACE = "trace-defects"
IMMUTABLE_HEADERS = (
    "gateway 1.15.2 on Node 20 answers 500 'Something went wrong' when it passes an upstream response "
    "through untransformed (TypeError: immutable, appending headers to a fetch() Response)"
)


def known_defect(raises: type[BaseException], detail: str = "") -> pytest.MarkDecorator:
    """Expected to fail on the pinned gateway; expected to pass with GATEWAY_FETCH_SHIM=1."""
    return pytest.mark.xfail(not FETCH_SHIM_ON, reason=IMMUTABLE_HEADERS + detail, raises=raises, strict=True)


CHAT = {
    "operation": "chat",
    "model": "gpt-4o-mini",
    "messages": '[{"role": "user", "content": "Stream me an answer"}]',
    "max_tokens": "12",
    "traceId": TRACE,
}
COMPLETION = {
    "operation": "completion",
    "model": "gpt-3.5-turbo-instruct",
    "prompt": "Stream me an answer",
    "max_tokens": "12",
    "traceId": TRACE,
}
EMBEDDING = {
    "operation": "create_embedding",
    "model": "text-embedding-3-small",
    "input": '["first text", "second text"]',
    "traceId": TRACE,
}


def through_gateway(gateway: Gateway, upstream: Simulator) -> dict[str, Any]:
    return {
        "gatewayUrl": gateway.url,
        "maxRetries": "0",
        "provider": "openai",
        "customHost": upstream.url,
        "providerApiKey": KEY,
    }


def straight_to(upstream: Simulator) -> dict[str, Any]:
    """The simulator's openai profile is itself an OpenAI-compatible API: the answer with no gateway."""
    return {"gatewayUrl": upstream.url, "maxRetries": "0", "providerApiKey": KEY}


@known_defect(QueryError)
@pytest.mark.parametrize("query", [CHAT, COMPLETION], ids=["chat", "completion"])
def test_streamed_answer_through_the_gateway(
    run: Runner, gateway: Gateway, upstream: Simulator, query: dict[str, Any]
) -> None:
    streamed = {**query, "stream": "true"}

    result = run(through_gateway(gateway, upstream), streamed)

    expected = run(straight_to(upstream), streamed)
    via_gateway, direct = upstream.requests
    assert via_gateway.json == direct.json
    assert via_gateway.json["stream"] is True
    assert without_ids(result["data"]) == without_ids(expected["data"])
    assert result["metadata"]["streamed"] is True
    assert result["metadata"]["traceId"] == TRACE


def _chunks(flavour: str, source: dict[str, Any], query: dict[str, Any]) -> list[dict[str, Any]]:
    if flavour == "sync":
        with QueryService() as service:
            return list(service.stream(source, query))

    async def collect() -> list[dict[str, Any]]:
        async with AsyncQueryService() as service:
            return [chunk async for chunk in service.stream(source, query)]

    return asyncio.run(collect())


@known_defect(QueryError)
@pytest.mark.parametrize("flavour", ["sync", "async"])
def test_stream_chunks_through_the_gateway(gateway: Gateway, upstream: Simulator, flavour: str) -> None:
    chunks = _chunks(flavour, through_gateway(gateway, upstream), CHAT)

    expected = _chunks(flavour, straight_to(upstream), CHAT)
    assert len(chunks) == len(expected) > 1
    assert [without_ids(chunk) for chunk in chunks] == [without_ids(chunk) for chunk in expected]


@known_defect(QueryError)
def test_embeddings_through_the_gateway(run: Runner, gateway: Gateway, upstream: Simulator) -> None:
    result = run(through_gateway(gateway, upstream), EMBEDDING)

    expected = run(straight_to(upstream), EMBEDDING)
    via_gateway, direct = upstream.requests
    assert (
        via_gateway.json
        == direct.json
        == {
            "model": "text-embedding-3-small",
            "input": ["first text", "second text"],
        }
    )
    assert result["data"] == expected["data"]
    assert [len(item["embedding"]) for item in result["data"]["data"]] == [1536, 1536]
    assert result["metadata"]["traceId"] == TRACE


@known_defect(AssertionError, ", here to GET /v1/models")
@pytest.mark.parametrize("flavour", ["sync", "async"])
def test_connection_through_the_gateway(gateway: Gateway, upstream: Simulator, flavour: str) -> None:
    result = check_connection(flavour, through_gateway(gateway, upstream))

    [recorded] = upstream.requests
    assert (recorded.method, recorded.path, recorded.headers["authorization"]) == (
        "GET",
        "/v1/models",
        f"Bearer {KEY}",
    )
    assert result == {"status": "ok"}
