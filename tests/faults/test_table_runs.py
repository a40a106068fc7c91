"""Tables against real servers on loopback: the simulator's rate limit slows a run down and every row
still succeeds; closing or cancelling mid-run leaves no thread, task or open client; memory follows the
results, not the answers.

Time under a rate limit is a test clock: the simulator's window, the client's retry sleeps, the run's
limiter and its pauses all read or move the same ``TestClock``, so no test waits a minute, and every
interleaving of the threads gives the same verdict (see the argument in
``test_a_rate_limited_table_slows_down_and_every_row_succeeds``).
"""

from __future__ import annotations

import asyncio
import functools
import json
import math
import threading
import tracemalloc
from collections.abc import Iterator
from typing import Any

import pytest
from loopback_server import FaultServer, Reply

from tooljet_portkey import AsyncQueryService, QueryError, QueryService, _client, _run_rows
from tooljet_portkey._batch import AdaptiveLimiter, arun_items, run_items
from tooljet_portkey.simulator import RateLimit, Simulator

HANG_GUARD = 30.0  # seconds; only a broken run ever waits this long
ROWS = [{"topic": f"topic {i}"} for i in range(20)]


class TestClock:
    """Seconds as whole milliseconds, moved only by sleeps: a sleep moves the clock forward by its
    length. A sleep never ends before the time it asked for, so a row refused until a window's end
    retries in a later window, as with a real clock; sleeps that overlap in real time follow each other
    here, so the clock says how long a run took at least, not exactly."""

    __test__ = False

    def __init__(self) -> None:
        self.ms = 1_000_000
        self.lock = threading.Lock()

    def __call__(self) -> float:
        return self.ms / 1000

    def sleep(self, seconds: float) -> None:
        with self.lock:
            wake = self.ms + math.ceil(round(seconds * 1000, 6))
            self.ms = wake

    async def asleep(self, seconds: float) -> None:
        self.sleep(seconds)
        await asyncio.sleep(0)


class Limits:
    """The limits the run's limiter took, on the test clock."""

    def __init__(self, clock: TestClock) -> None:
        self.clock = clock
        self.seen: list[int] = []

    def make(self, ceiling: int, **options: Any) -> AdaptiveLimiter:
        seen = self.seen

        class Recording(AdaptiveLimiter):
            def throttled(self, wait: float | None = None, sent: int | None = None) -> float:
                pause = super().throttled(wait, sent)
                seen.append(self.limit)
                return pause

        return Recording(ceiling, clock=self.clock)


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Iterator[TestClock]:
    """The test clock behind the client's retry sleeps and the run's limiter and pauses."""
    test_clock = TestClock()
    monkeypatch.setattr(_client, "_sleep", test_clock.sleep)
    monkeypatch.setattr(_client, "_async_sleep", test_clock.asleep)
    monkeypatch.setattr(_run_rows, "run_items", functools.partial(run_items, sleep=test_clock.sleep))
    monkeypatch.setattr(_run_rows, "arun_items", functools.partial(arun_items, sleep=test_clock.asleep))
    monkeypatch.setattr(_run_rows, "AdaptiveLimiter", functools.partial(AdaptiveLimiter, clock=test_clock))
    yield test_clock


def table(concurrency: int, rows: list[dict[str, Any]] = ROWS) -> dict[str, Any]:
    return {
        "operation": "prompt_completion",
        "promptId": "pp-demo",
        "variables": '{"audience": "testers"}',
        "rows": json.dumps(rows),
        "prompt_parameters": '{"max_tokens": 3}',
        "output": "text",
        "concurrency": str(concurrency),
    }


def row_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name.startswith("tooljet-portkey-row")]


def test_a_rate_limited_table_slows_down_and_every_row_succeeds(
    clock: TestClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """20 rows at 8 in flight against 5 requests a minute. Why no row can fail, whatever the threads
    do: a row is refused only in a window that already let 5 requests through, each of them a row that
    then succeeded; 20 rows fill at most 4 such windows, and a refused row waits for the next window,
    so no row is refused more than 4 times, within its 6 retries."""
    limits = Limits(clock)
    monkeypatch.setattr(_run_rows, "AdaptiveLimiter", limits.make)
    rate_limit = RateLimit(5, 60, clock=clock)
    with Simulator(profile="gateway", rate_limit=rate_limit) as sim, QueryService() as service:
        source = {"gatewayUrl": sim.url, "maxRetries": "6"}
        result = service.run(source, table(8))
    assert [(entry["row"], entry["status"]) for entry in result["data"]] == [(i, "ok") for i in range(20)]
    assert result["data"][0]["output"] == "This is a"
    assert (rate_limit.admitted, result["metadata"]["retries"]) == (20, rate_limit.refused)
    assert rate_limit.refused > 0
    # the run slowed down: the limit halved from 8 at the first 429 and never went back above 4
    assert limits.seen[0] == 4 and max(limits.seen) <= 4
    # the rows took at least the four windows the limit allows (the test clock says no more: sleeps
    # that overlap in real time follow each other on it)
    assert clock() - 1000 >= 180
    assert row_threads() == []


def test_async_a_rate_limited_table_slows_down_and_every_row_succeeds(
    clock: TestClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    limits = Limits(clock)
    monkeypatch.setattr(_run_rows, "AdaptiveLimiter", limits.make)
    rate_limit = RateLimit(5, 60, clock=clock)

    async def run(url: str) -> dict[str, Any]:
        async with AsyncQueryService() as service:
            return await service.run({"gatewayUrl": url, "maxRetries": "6"}, table(8))

    with Simulator(profile="gateway", rate_limit=rate_limit) as sim:
        result = asyncio.run(run(sim.url))
    assert [entry["status"] for entry in result["data"]] == ["ok"] * 20
    assert (rate_limit.admitted, result["metadata"]["retries"]) == (20, rate_limit.refused)
    assert rate_limit.refused > 0 and limits.seen[0] == 4 and max(limits.seen) <= 4
    assert clock() - 1000 >= 180


def test_without_retries_the_refused_rows_fail_and_the_others_succeed(clock: TestClock) -> None:
    """maxRetries 0: a refused row is a failed entry carrying the 429 and its retry-after."""
    rate_limit = RateLimit(5, 60, clock=clock)
    with Simulator(profile="gateway", rate_limit=rate_limit) as sim, QueryService() as service:
        result = service.run({"gatewayUrl": sim.url, "maxRetries": "0"}, table(1, ROWS[:7]))
    statuses = [entry["status"] for entry in result["data"]]
    # one at a time: five go through, the sixth is refused; the run pauses to the window's end
    assert statuses == ["ok"] * 5 + ["failed", "ok"]
    failed = result["data"][5]["error"]
    assert (failed["description"], failed["data"]["statusCode"], failed["data"]["retryAfter"]) == (
        "Rate limit reached for requests (simulated).",
        429,
        "60",
    )
    assert result["metadata"] == {**result["metadata"], "rows": 7, "succeeded": 6, "failed": 1, "retries": 0}


# ---------------------------------------------------------------------------------------------------
# Closing and cancelling mid-run


def test_closing_mid_run_finishes_the_rows_in_flight_and_leaves_no_thread_or_client() -> None:
    with Simulator(profile="gateway", latency_ms=20) as sim:
        service = QueryService()
        source = {"gatewayUrl": sim.url}
        clients: list[Any] = []

        def close_once(done: int, total: int) -> None:
            if done == 1:
                clients.extend(service.pooled_clients())
                service.close()

        rows = [{"topic": str(i)} for i in range(200)]
        with pytest.raises(QueryError) as caught:
            service.run(source, table(4, rows), on_progress=close_once)
        error = caught.value
        assert (error.message, error.data["errorType"]) == ("Query cancelled", "cancelled")
        finished = error.data["finished"]
        stopped = f"the run was stopped: {finished} of 200 rows finished, the rest were not sent"
        assert error.description == stopped
        # the first row and the (at most 3) rows in flight when it finished; each request sent finished
        assert len(sim.requests) == finished <= 4
    assert row_threads() == []
    assert clients[0]._http.is_closed and service.pooled_clients() == []


def test_cancelling_an_async_run_leaves_no_task_and_closes_its_client() -> None:
    async def run(url: str) -> list[asyncio.Task[Any]]:
        async with asyncio.timeout(HANG_GUARD):
            service = AsyncQueryService()
            task = asyncio.ensure_future(service.run({"gatewayUrl": url}, table(4)))
            while not service.pooled_clients():  # the run has leased its client and is sending
                await asyncio.sleep(0.01)
            client = service.pooled_clients()[0]
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            await service.aclose()
            assert client._http.is_closed
            return [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]

    with Simulator(profile="gateway", latency_ms=60_000) as sim:
        assert asyncio.run(run(sim.url)) == []


# ---------------------------------------------------------------------------------------------------
# Memory


@pytest.fixture
def big_answers(fault_server: FaultServer) -> int:
    """Every answer is a chat completion carrying 256 KiB the output does not use."""
    padding = "x" * (256 * 1024)
    answer = {
        "object": "chat.completion",
        "model": "gpt-4o-mini",
        "padding": padding,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "ok"}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
    }
    fault_server.script(Reply(body=answer))
    return len(padding)


def test_memory_follows_the_results_not_the_answers(fault_server: FaultServer, big_answers: int) -> None:
    """200 answers of 256 KiB (50 MiB in all) at 4 in flight, output text: the run's peak follows the
    rows in flight, not the 200 answers."""
    rows = [{"topic": str(i)} for i in range(200)]
    with QueryService() as service:
        source = {"gatewayUrl": fault_server.url}
        service.run(source, table(4, rows[:4]))  # the client and its connections exist before measuring
        tracemalloc.start()
        try:
            result = service.run(source, table(4, rows))
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
    assert [entry["output"] for entry in result["data"]] == ["ok"] * 200
    # 4 in flight, each answer held a few times while it is read and parsed (about 18 answers' worth
    # measured): far from the 200 answers a run holding every answer would need
    assert peak < 50 * big_answers
