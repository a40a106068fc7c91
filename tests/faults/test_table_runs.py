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
from loopback_server import FaultServer, Reply, Seen

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


# ---------------------------------------------------------------------------------------------------
# One pause per burst, and runs that stop early

ANSWER = {
    "object": "chat.completion",
    "model": "gpt-4o-mini",
    "choices": [{"index": 0, "message": {"role": "assistant", "content": "ok"}, "finish_reason": "stop"}],
    "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
}
RATE_LIMITED = {"error": {"message": "Rate limit reached", "type": "rate_limit_error"}}
QUOTA_SPENT = {"error": {"message": "You exceeded your current quota", "type": "insufficient_quota"}}


def row_of(seen: Seen) -> int:
    return int(seen.body["variables"]["topic"].split()[1])


class Runs:
    """The limiters of the runs a test starts, and the pauses their runners slept, on the test clock."""

    def __init__(self, clock: TestClock, monkeypatch: pytest.MonkeyPatch) -> None:
        self.limiters: list[AdaptiveLimiter] = []
        self.sleeps: list[float] = []

        def make(ceiling: int) -> AdaptiveLimiter:
            self.limiters.append(AdaptiveLimiter(ceiling, clock=clock))
            return self.limiters[-1]

        def sleep(seconds: float) -> None:
            self.sleeps.append(seconds)
            clock.sleep(seconds)

        async def asleep(seconds: float) -> None:
            sleep(seconds)
            await asyncio.sleep(0)

        monkeypatch.setattr(_run_rows, "AdaptiveLimiter", make)
        monkeypatch.setattr(_run_rows, "run_items", functools.partial(run_items, sleep=sleep))
        monkeypatch.setattr(_run_rows, "arun_items", functools.partial(arun_items, sleep=asleep))


def run_table(asynchronous: bool, source: dict[str, Any], query: dict[str, Any]) -> dict[str, Any]:
    if not asynchronous:
        with QueryService() as service:
            return service.run(source, query)

    async def run() -> dict[str, Any]:
        async with AsyncQueryService() as service:
            return await service.run(source, query)

    return asyncio.run(run())


def without_seconds(metadata: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in metadata.items() if key != "seconds"}


@pytest.mark.parametrize("asynchronous", [False, True], ids=["threads", "tasks"])
@pytest.mark.parametrize("concurrency", [8, 64])
def test_a_burst_of_refusals_is_one_pause(
    clock: TestClock,
    monkeypatch: pytest.MonkeyPatch,
    fault_server: FaultServer,
    concurrency: int,
    asynchronous: bool,
) -> None:
    """The first `concurrency` rows (the first burst) are refused with retry-after: 3 and no retry; the
    runner records their refusals one by one, some after the pause they began has ended, yet the run
    pauses once, for 3 s, and every later row succeeds."""
    runs = Runs(clock, monkeypatch)
    fault_server.route(
        lambda seen: (
            Reply(429, RATE_LIMITED, {"retry-after": "3"})
            if row_of(seen) < concurrency
            else Reply(body=ANSWER)
        )
    )
    rows = [{"topic": f"topic {i}"} for i in range(concurrency + 32)]
    began = clock()
    result = run_table(
        asynchronous, {"gatewayUrl": fault_server.url, "maxRetries": "0"}, table(concurrency, rows)
    )
    assert (runs.sleeps, runs.limiters[0].pauses, clock() - began) == ([3.0], 1, 3.0)
    assert [entry["status"] for entry in result["data"]] == ["failed"] * concurrency + ["ok"] * 32
    assert result["data"][0]["error"] == {
        "message": "Query could not be completed",
        "description": "Rate limit reached",
        "data": {
            "statusCode": 429,
            "errorType": "rate_limit_error",
            "traceId": None,
            "retries": 0,
            "retryAfter": "3",
        },
    }
    assert without_seconds(result["metadata"]) == {
        # the first successful row's own keys (the server sends no Portkey headers)
        "statusCode": 200,
        "model": "gpt-4o-mini",
        "finishReason": "stop",
        "rows": concurrency + 32,
        "succeeded": 32,
        "failed": concurrency,
        "skipped": 0,
        "retries": 0,
        "usage": {"prompt_tokens": 32, "completion_tokens": 32, "total_tokens": 64},
        # the connection names no provider, nor does the server: no price (docs/cost.md)
        "cost": None,
        "warnings": [
            "cost: no price for gpt-4o-mini of an unknown provider "
            "(Portkey-AI/models 2026-08-21; set the connection's prices)"
        ],
    }
    assert fault_server.count == concurrency + 32


QUOTA_ERROR = {
    "message": "Query could not be completed",
    "description": "You exceeded your current quota",
    "data": {"statusCode": 429, "errorType": "insufficient_quota", "traceId": None, "retries": 0},
}


@pytest.mark.parametrize("asynchronous", [False, True], ids=["threads", "tasks"])
def test_a_spent_quota_stops_the_run_after_10_rows(
    clock: TestClock, monkeypatch: pytest.MonkeyPatch, fault_server: FaultServer, asynchronous: bool
) -> None:
    """Every request is answered 429 insufficient_quota: each row is sent once (maxRetries 2, but a spent
    quota is never retried), the run never pauses (no wait brings a quota back), and it stops after the
    10th row; 9,990 are skipped."""
    runs = Runs(clock, monkeypatch)
    fault_server.script(Reply(429, QUOTA_SPENT))
    rows = [{"topic": f"topic {i}"} for i in range(10_000)]
    result = run_table(asynchronous, {"gatewayUrl": fault_server.url, "maxRetries": "2"}, table(1, rows))
    assert result["data"][:10] == [{"row": i, "status": "failed", "error": QUOTA_ERROR} for i in range(10)]
    assert result["data"][10:] == [
        {"row": i, "status": "skipped", "reason": "unfixable_failures"} for i in range(10, 10_000)
    ]
    assert without_seconds(result["metadata"]) == {
        "rows": 10_000,
        "succeeded": 0,
        "failed": 10,
        "skipped": 9_990,
        "retries": 0,
        "usage": {},
        "stopped": {
            "reason": "unfixable_failures",
            "description": "10 consecutive failures that no retry can fix (insufficient_quota, status 429)",
            "row": 9,
            "statusCode": 429,
            "errorType": "insufficient_quota",
        },
    }
    assert (fault_server.count, runs.limiters[0].pauses, runs.sleeps) == (10, 0, [])


def test_a_refused_key_stops_a_run_of_8_in_flight(fault_server: FaultServer, sleeps: list[float]) -> None:
    """At 8 in flight each of the first 9 failures frees a place for one more row; the 10th stops the
    run: 17 rows were sent, and their requests are all the server saw."""
    fault_server.script(Reply(401, {"error": {"message": "Invalid API key", "type": "authentication_error"}}))
    rows = [{"topic": f"topic {i}"} for i in range(100)]
    result = run_table(False, {"gatewayUrl": fault_server.url}, table(8, rows))
    assert [entry["status"] for entry in result["data"]] == ["failed"] * 17 + ["skipped"] * 83
    assert result["metadata"]["stopped"]["description"] == (
        "10 consecutive failures that no retry can fix (authentication_error, status 401)"
    )
    assert (fault_server.count, sleeps) == (17, [])  # a 401 is never retried


@pytest.mark.parametrize("asynchronous", [False, True], ids=["threads", "tasks"])
def test_a_run_sends_no_row_after_its_time_limit(
    clock: TestClock, monkeypatch: pytest.MonkeyPatch, fault_server: FaultServer, asynchronous: bool
) -> None:
    """Every row is refused with retry-after: 30, the run may take 45 s: rows 0 and 1 at 0 (one burst, one
    pause), row 2 at 30 (refused again: a second pause, which the limit cuts short at 45)."""
    runs = Runs(clock, monkeypatch)
    fault_server.script(Reply(429, RATE_LIMITED, {"retry-after": "30"}))
    rows = [{"topic": f"topic {i}"} for i in range(10)]
    began = clock()
    query = {**table(2, rows), "maxRunSeconds": "45"}
    result = run_table(asynchronous, {"gatewayUrl": fault_server.url, "maxRetries": "0"}, query)
    assert [entry["status"] for entry in result["data"]] == ["failed"] * 3 + ["skipped"] * 7
    assert result["data"][9] == {"row": 9, "status": "skipped", "reason": "time_limit"}
    assert result["metadata"] == {
        "rows": 10,
        "succeeded": 0,
        "failed": 3,
        "skipped": 7,
        "retries": 0,
        "seconds": 45.0,
        "usage": {},
        "stopped": {
            "reason": "time_limit",
            "description": "the run's time limit of 45 s passed",
            "limitSeconds": 45,
        },
    }
    assert (runs.sleeps, runs.limiters[0].pauses, clock() - began) == ([30.0, 15.0], 2, 45.0)
    assert fault_server.count == 3


def test_a_long_embedding_input_past_its_time_limit_fails_whole(
    clock: TestClock, monkeypatch: pytest.MonkeyPatch, fault_server: FaultServer
) -> None:
    """The first request meets a 429 (retry-after: 30), then its retry succeeds 30 s later: the run's
    time limit of 10 s has passed, so no other request is sent, and no partial list of vectors is
    returned."""
    Runs(clock, monkeypatch)
    vectors = {
        "object": "list",
        "model": "m",
        "data": [{"object": "embedding", "index": 0, "embedding": [0.5]}],
    }
    fault_server.script(Reply(429, RATE_LIMITED, {"retry-after": "30"}), Reply(body=vectors))
    query = {
        "operation": "create_embedding",
        "model": "text-embedding-3-small",
        "input": '["a", "b", "c"]',
        "batch_size": "1",
        "concurrency": "1",
        "maxRunSeconds": "10",
    }
    with QueryService() as service, pytest.raises(QueryError) as caught:
        service.run({"gatewayUrl": fault_server.url}, query)
    error = caught.value
    assert (error.message, error.description, error.data) == (
        "Query could not be completed",
        "the run stopped: the run's time limit of 10 s passed: 1 of 3 rows finished, the rest were not sent",
        {"statusCode": None, "errorType": "time_limit", "traceId": None, "finished": 1},
    )
    assert fault_server.count == 2
