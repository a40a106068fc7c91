"""No connection or file descriptor leaks: thousands of calls through one service, failures included.

Open descriptors are counted in /proc/self/fd (the loopback server's sockets live in this process too,
so its side of every connection is counted as well), and the pooled client's connections are counted
in its pool. Counts are taken after a warm-up, so the pool's steady state is the baseline.
"""

from __future__ import annotations

import asyncio
import collections
import json
import os
import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from loopback_server import FaultServer, Reply

from tooljet_portkey import AsyncQueryService, QueryError, QueryService
from tooljet_portkey._constants import DEFAULT_LIMITS

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="counts descriptors in /proc"),
]

CHAT = {"operation": "chat", "model": "m", "messages": '[{"role":"user","content":"hi"}]'}
OK = Reply(200, {"choices": [{"index": 0, "message": {"role": "assistant", "content": "hi"}}]})
DELTA = json.dumps({"choices": [{"index": 0, "delta": {"content": "hi"}}]})
# one of each way a call can end: answered, refused with a status, dropped, reset mid-body,
# not JSON, streamed to the end, stream cut after its first chunk
MIXED = (
    OK,
    Reply(500, "oops", {"content-type": "text/plain"}),
    Reply(drop=True),
    Reply(200, {"choices": []}, reset_after=5),
    Reply(200, "<html>", {"content-type": "text/html"}),
    Reply(events=(DELTA, "[DONE]")),
    Reply(events=(DELTA,), cut_after_events=True),
)
TOLERANCE = 8
# how a call can end when replies reach calls out of order (a streamed query may get a plain answer)
KINDS = ("ok", "api_error", "connection_error", "invalid_response", "stream_truncated", "invalid_stream")


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def settled(count: Callable[[], int], ceiling: int, seconds: float = 5.0) -> int:
    """The count once it is at or below ceiling (closing sockets on the server's threads is not
    instantaneous), or its value when time is up."""
    deadline = time.monotonic() + seconds
    value = count()
    while value > ceiling and time.monotonic() < deadline:
        time.sleep(0.02)
        value = count()
    return value


def accounted(before: int, pooled: int) -> int:
    """The descriptors a pool of ``pooled`` connections explains: both ends are in this process."""
    return before + 2 * pooled + TOLERANCE


def pool_size(client: Any) -> int:
    transport = client._http._transport
    assert isinstance(transport, (httpx.HTTPTransport, httpx.AsyncHTTPTransport))
    return len(transport._pool.connections)


def source(server: FaultServer) -> dict[str, Any]:
    return {"apiKey": "pk-test", "provider": "openai", "gatewayUrl": server.url, "maxRetries": "0"}


def query(i: int) -> dict[str, Any]:
    # the streamed replies of MIXED answer streamed queries
    return {**CHAT, "stream": "true"} if i % len(MIXED) in (5, 6) else CHAT


def test_2000_sequential_calls_do_not_leak(fault_server: FaultServer, sleeps: list[float]) -> None:
    fault_server.script(*MIXED, cycle=True)
    before_service = open_fds()
    outcomes: list[str] = []
    with QueryService() as service:

        def call() -> None:
            try:
                service.run(source(fault_server), query(len(outcomes)), "ds-leak")
                outcomes.append("ok")
            except QueryError as err:
                outcomes.append(err.data["errorType"])

        for _ in range(len(MIXED) * 10):  # warm-up: the pool reaches its steady state
            call()
        client = service.get_connection(source(fault_server), "ds-leak")
        fds, pooled = settled(open_fds, accounted(before_service, 1)), pool_size(client)
        assert pooled <= 1  # one call at a time needs one connection
        assert fds <= accounted(before_service, 1)
        for _ in range(2000):
            call()
        assert pool_size(client) <= 1
        assert settled(open_fds, fds + TOLERANCE) <= fds + TOLERANCE
    assert outcomes[:7] == [
        "ok",
        "api_error",
        "connection_error",
        "connection_error",
        "invalid_response",
        "ok",
        "stream_truncated",
    ]
    assert outcomes == outcomes[:7] * 295 + outcomes[:5]  # 2,070 calls, each ended as scripted
    assert settled(open_fds, before_service + TOLERANCE) <= before_service + TOLERANCE


def test_500_concurrent_async_calls_do_not_leak(fault_server: FaultServer, sleeps: list[float]) -> None:
    fault_server.script(*MIXED, cycle=True)
    before_service = open_fds()

    async def burst(service: AsyncQueryService, size: int) -> list[Any]:
        async def call(i: int) -> Any:
            try:
                return await service.run(source(fault_server), query(i), "ds-leak")
            except QueryError as err:
                return err.data["errorType"]

        return await asyncio.gather(*(call(i) for i in range(size)))

    async def scenario() -> list[tuple[int, int]]:
        counts = []
        async with AsyncQueryService() as service:
            client = await service.get_connection(source(fault_server), "ds-leak")
            for size in (210, 500):  # the first opens the pool's 200 connections
                outcomes = await burst(service, size)
                ended = collections.Counter(o if isinstance(o, str) else "ok" for o in outcomes)
                assert set(ended) <= set(KINDS), ended  # never a plugin_error
                assert ended["ok"] >= 1 and ended["connection_error"] >= 1
                pooled = pool_size(client)
                counts.append((pooled, settled(open_fds, accounted(before_service, pooled))))
        return counts

    counts = asyncio.run(scenario())
    assert fault_server.count == 710
    for pooled, fds in counts:
        # the pool keeps at most its keep-alive limit, and every descriptor still open is one end of
        # a pooled connection: nothing left behind by the calls that failed
        assert pooled <= DEFAULT_LIMITS.max_keepalive_connections
        assert fds <= accounted(before_service, pooled)
    assert settled(open_fds, before_service + TOLERANCE) <= before_service + TOLERANCE
