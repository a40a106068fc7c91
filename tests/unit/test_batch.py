"""The batch core: the AIMD limiter, the thread and asyncio runners, the run's result, embedding chunks.

Nothing here depends on timing. Rows that must finish in a given order wait on events the test sets;
the limiter runs on a fake clock whose sleep only moves the clock; the windowed rate-limit server counts
requests per window of that fake clock. Waits on events carry a timeout only so that a broken runner
fails the test instead of hanging it.
"""

from __future__ import annotations

import asyncio
import logging
import math
import random
import subprocess
import sys
import threading
from collections.abc import Callable, Coroutine
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tooljet_portkey import QueryError
from tooljet_portkey._batch import (
    AdaptiveLimiter,
    BatchResult,
    InputChunk,
    ItemFailed,
    ItemOk,
    add_usage,
    arun_items,
    asked_wait,
    chunk_failure,
    is_rate_limit,
    merge_embeddings,
    run_items,
    split_input,
    unfixable,
)

HANG_GUARD = 10.0  # seconds; only a broken runner ever waits this long
FAILED = "Query could not be completed"


class FakeClock:
    """A monotonic clock that moves only when something sleeps on it."""

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds

    async def asleep(self, seconds: float) -> None:
        self.sleep(seconds)
        await asyncio.sleep(0)


def answer(row: int) -> ItemOk:
    return ItemOk(
        output=f"answer {row}",
        trace_id=f"trace-{row}",
        usage={"prompt_tokens": 10, "completion_tokens": row, "total_tokens": 10 + row},
        retries=row % 2,
    )


def bad_request(description: str = "promptId: prompt not found") -> QueryError:
    return QueryError(
        FAILED, description, {"statusCode": 404, "errorType": "not_found", "traceId": "trace-x", "retries": 0}
    )


def rate_limited(retry_after: str | None) -> QueryError:
    data: dict[str, Any] = {"statusCode": 429, "errorType": "rate_limit_error", "traceId": None, "retries": 2}
    if retry_after is not None:
        data["retryAfter"] = retry_after
    return QueryError(FAILED, "Rate limit exceeded", data)


# -- the limiter ---------------------------------------------------------------------------------------


def test_limiter_admits_up_to_its_ceiling() -> None:
    limiter = AdaptiveLimiter(3, clock=FakeClock())
    assert [limiter.try_start() for _ in range(4)] == [True, True, True, False]
    limiter.finish(True)
    assert limiter.try_start() is True
    assert (limiter.limit, limiter.in_flight) == (3, 3)


@pytest.mark.parametrize("ceiling", [0, 65, -1])
def test_limiter_ceiling_is_between_1_and_64(ceiling: int) -> None:
    with pytest.raises(ValueError, match="concurrency must be between 1 and 64"):
        AdaptiveLimiter(ceiling)


def test_finish_without_start_is_a_bug() -> None:
    with pytest.raises(RuntimeError, match="without a matching try_start"):
        AdaptiveLimiter(2).finish(True)


def test_each_throttle_halves_the_limit_down_to_1() -> None:
    clock = FakeClock()
    limiter = AdaptiveLimiter(64, clock=clock)
    limits = []
    for _ in range(8):
        clock.sleep(limiter.throttled(1.0))  # each signal after the previous pause has ended
        limits.append(limiter.limit)
    assert limits == [32, 16, 8, 4, 2, 1, 1, 1]


@pytest.mark.parametrize(
    ("waits", "pauses"),
    [
        ([30.0], [30.0]),
        ([0.0], [0.0]),
        ([3600.0], [60.0]),  # capped as the client caps a retry-after
        # no wait named: the client's backoff, one step longer per signal without a success between
        ([None, None, None, None, None, None], [0.5, 1.0, 2.0, 4.0, 8.0, 8.0]),
        ([-1.0, math.nan], [0.5, 1.0]),  # unreadable waits count as none
    ],
)
def test_pause_is_the_wait_asked_for_else_a_backoff(waits: list[float | None], pauses: list[float]) -> None:
    clock = FakeClock()
    limiter = AdaptiveLimiter(8, clock=clock)
    seen = []
    for wait in waits:
        pause = limiter.throttled(wait)
        seen.append(pause)
        assert limiter.pause_remaining() == pause
        clock.sleep(pause)
    assert seen == pauses


def test_a_pause_stops_new_starts_until_it_ends() -> None:
    clock = FakeClock()
    limiter = AdaptiveLimiter(4, clock=clock)
    limiter.throttled(30.0)
    assert limiter.try_start() is False
    clock.sleep(29.5)
    assert (limiter.try_start(), limiter.pause_remaining()) == (False, 0.5)
    clock.sleep(0.5)
    assert [limiter.try_start() for _ in range(3)] == [True, True, False]  # limit 2 now


def test_signals_from_rows_sent_under_the_old_limit_extend_the_pause_without_halving_again() -> None:
    clock = FakeClock()
    limiter = AdaptiveLimiter(16, clock=clock)
    assert all(limiter.try_start() for _ in range(3))
    limiter.throttled(10.0)  # 3 rows in flight were sent under 16
    clock.sleep(4.0)
    limiter.throttled(10.0)  # ends at 14 now
    limiter.throttled(2.0)  # would end at 6: the longer pause stands
    assert (limiter.limit, limiter.pause_remaining()) == (8, 10.0)
    clock.sleep(10.0)
    limiter.finish(True)
    limiter.finish(False)
    limiter.throttled(1.0)  # the third is still in flight
    assert limiter.limit == 8
    limiter.finish(True)
    limiter.throttled(1.0)  # all three have finished: news of the new limit
    assert limiter.limit == 4


def test_the_limit_climbs_one_step_per_round_of_successes_up_to_the_ceiling() -> None:
    clock = FakeClock()
    limiter = AdaptiveLimiter(8, clock=clock)
    clock.sleep(limiter.throttled(5.0))
    assert limiter.limit == 4
    limits = []  # the limit after each success
    for _ in range(40):
        assert limiter.try_start()
        limiter.finish(True)
        limits.append(limiter.limit)
    # 4 successes at 4, then 5 at 5, 6 at 6 and 7 at 7: back at the ceiling after 22, and no higher
    assert [limits.index(step) + 1 for step in (5, 6, 7, 8)] == [4, 9, 15, 22]
    assert sorted(set(limits)) == [4, 5, 6, 7, 8]
    assert limiter.limit == 8


def test_successes_of_rows_sent_under_the_old_limit_do_not_climb() -> None:
    clock = FakeClock()
    limiter = AdaptiveLimiter(4, clock=clock)
    assert limiter.try_start() and limiter.try_start()
    limiter.throttled(10.0)  # limit 2; both rows were sent under 4
    clock.sleep(10.0)
    limiter.finish(True)
    limiter.finish(True)
    assert limiter.limit == 2
    for _ in range(2):
        assert limiter.try_start()
        limiter.finish(True)
    assert limiter.limit == 3


def test_successes_during_a_pause_and_failures_do_not_climb() -> None:
    clock = FakeClock()
    limiter = AdaptiveLimiter(4, clock=clock)
    assert limiter.try_start()  # row a
    limiter.throttled(10.0)  # limit 2
    clock.sleep(10.0)
    assert limiter.try_start()  # row b, sent under 2
    limiter.throttled(10.0)  # row a again (a retry): the pause runs to 20, the limit stays
    limiter.finish(True)  # b, during the pause
    limiter.finish(False)  # a gives up
    clock.sleep(10.0)
    for _ in range(5):
        assert limiter.try_start()
        limiter.finish(False)
    assert limiter.try_start()
    limiter.finish(True)
    assert limiter.limit == 2  # one success at 2: b's did not count
    assert limiter.try_start()
    limiter.finish(True)
    assert limiter.limit == 3


def test_limiter_is_safe_across_threads() -> None:
    limiter = AdaptiveLimiter(64)
    admitted: list[bool] = []
    barrier = threading.Barrier(8)

    def worker() -> None:
        barrier.wait(HANG_GUARD)
        for _ in range(1000):
            if limiter.try_start():
                admitted.append(True)
                limiter.finish(True)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert limiter.in_flight == 0
    assert len(admitted) == 8000  # never paused, never above the ceiling of 64 with 8 threads


@pytest.mark.parametrize(
    ("status", "retry_after", "expected"),
    [
        (429, None, True),
        (429, "30", True),
        (503, "5", True),
        (503, None, False),  # an overloaded server that named no wait is an ordinary failure
        (500, "5", False),
        (404, None, False),
        (None, None, False),
    ],
)
def test_what_counts_as_a_rate_limit(status: int | None, retry_after: str | None, expected: bool) -> None:
    assert is_rate_limit(status, retry_after) is expected


@pytest.mark.parametrize(
    ("value", "seconds"),
    [("30", 30.0), ("2.5", 2.5), (7, 7.0), ("0", 0.0), (None, None), ("soon", None), ("-3", None)],
)
def test_asked_wait_reads_retry_after(value: object, seconds: float | None) -> None:
    assert asked_wait(value) == seconds


# -- the threaded runner -------------------------------------------------------------------------------


class GatedRows:
    """Rows that each wait for the test to release them, then answer (or raise) what the test set."""

    def __init__(self, rows: int, failures: dict[int, BaseException] | None = None) -> None:
        self.release = [threading.Event() for _ in range(rows)]
        self.has_started = [threading.Event() for _ in range(rows)]
        self.failures = failures or {}
        self.log: list[str] = []  # "start 3", "end 3", "progress 2", in the order they happened
        self.progress: list[tuple[int, int]] = []
        self.progress_threads: set[int] = set()
        self._lock = threading.Lock()
        self._progress_seen = threading.Condition(self._lock)

    def work(self, row: int) -> ItemOk:
        with self._lock:
            self.log.append(f"start {row}")
        self.has_started[row].set()
        try:
            if not self.release[row].wait(HANG_GUARD):
                raise AssertionError(f"row {row} was never released")
            if row in self.failures:
                raise self.failures[row]
            return answer(row)
        finally:
            with self._lock:
                self.log.append(f"end {row}")

    def on_progress(self, done: int, total: int) -> None:
        with self._lock:
            self.log.append(f"progress {done}")
            self.progress.append((done, total))
            self.progress_threads.add(threading.get_ident())
            self._progress_seen.notify_all()

    def open(self, *rows: int) -> None:
        for row in rows:
            self.release[row].set()

    def wait_started(self, *rows: int) -> None:
        for row in rows:
            assert self.has_started[row].wait(HANG_GUARD), f"row {row} never started"

    def wait_progress(self, done: int) -> None:
        with self._progress_seen:
            assert self._progress_seen.wait_for(lambda: len(self.progress) >= done, HANG_GUARD)

    def started(self) -> list[int]:
        return sorted(int(entry.split()[1]) for entry in self.log if entry.startswith("start"))

    def ended(self) -> list[int]:
        return sorted(int(entry.split()[1]) for entry in self.log if entry.startswith("end"))


class InBackground:
    """A call on its own thread, so the test can drive the rows while the runner waits for them."""

    def __init__(self, call: Callable[[], Any]) -> None:
        self.result: Any = None
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, args=(call,))
        self.thread.start()

    def _run(self, call: Callable[[], Any]) -> None:
        try:
            self.result = call()
        except BaseException as err:
            self.error = err

    def join(self) -> Any:
        self.thread.join(HANG_GUARD)
        assert not self.thread.is_alive(), "the run did not end"
        if self.error is not None:
            raise self.error
        return self.result


def test_rows_come_back_in_input_order_whatever_order_they_finish() -> None:
    baseline = threading.active_count()
    rows = GatedRows(3)
    clock = FakeClock()
    run = InBackground(
        lambda: run_items(
            [0, 1, 2],
            rows.work,
            concurrency=3,
            on_progress=rows.on_progress,
            limiter=AdaptiveLimiter(3, clock=clock),
        )
    )
    rows.wait_started(0, 1, 2)
    for done, row in enumerate([2, 0, 1], start=1):
        rows.open(row)
        rows.wait_progress(done)
    result = run.join()
    assert [entry for entry in rows.log if entry.startswith("end")] == ["end 2", "end 0", "end 1"]
    assert result.rows() == [
        {"row": 0, "status": "ok", "output": "answer 0", "traceId": "trace-0"},
        {"row": 1, "status": "ok", "output": "answer 1", "traceId": "trace-1"},
        {"row": 2, "status": "ok", "output": "answer 2", "traceId": "trace-2"},
    ]
    assert result.metadata() == {
        "rows": 3,
        "succeeded": 3,
        "failed": 0,
        "skipped": 0,
        "retries": 1,
        "seconds": 0.0,
        "usage": {"prompt_tokens": 30, "completion_tokens": 3, "total_tokens": 33},
    }
    # progress after every row, on the thread that called run_items
    assert rows.progress == [(1, 3), (2, 3), (3, 3)]
    assert rows.progress_threads == {run.thread.ident}
    assert threading.active_count() == baseline


def test_never_more_rows_in_flight_than_the_concurrency() -> None:
    baseline = threading.active_count()
    together = threading.Barrier(3)  # breaks, failing the row, unless exactly 3 rows run at once
    active: list[int] = []
    peak = [0]
    lock = threading.Lock()

    def work(row: int) -> ItemOk:
        with lock:
            active.append(row)
            peak[0] = max(peak[0], len(active))
        together.wait(HANG_GUARD)
        with lock:
            active.remove(row)
        return ItemOk(row)

    result = run_items(list(range(9)), work, concurrency=3)
    assert [entry["output"] for entry in result.rows()] == list(range(9))
    assert peak[0] == 3
    assert threading.active_count() == baseline


def test_failed_rows_are_entries_and_the_run_goes_on() -> None:
    failures = {3: bad_request(), 7: rate_limited(None)}

    def work(row: int) -> ItemOk:
        if row in failures:
            raise failures[row]
        return answer(row)

    clock = FakeClock()
    result = run_items(
        list(range(10)), work, concurrency=4, limiter=AdaptiveLimiter(4, clock=clock), sleep=clock.sleep
    )
    entries = result.rows()
    assert entries[3] == {
        "row": 3,
        "status": "failed",
        "error": {
            "message": FAILED,
            "description": "promptId: prompt not found",
            "data": {"statusCode": 404, "errorType": "not_found", "traceId": "trace-x", "retries": 0},
        },
    }
    assert entries[7]["error"]["data"]["statusCode"] == 429
    assert [entry["status"] for entry in entries] == ["ok"] * 3 + ["failed"] + ["ok"] * 3 + ["failed"] + [
        "ok"
    ] * 2
    metadata = result.metadata()
    # retries: 1 for each odd ok row (1, 5, 9) and 2 for the rate-limited row
    assert {key: metadata[key] for key in ("rows", "succeeded", "failed", "skipped", "retries")} == {
        "rows": 10,
        "succeeded": 8,
        "failed": 2,
        "skipped": 0,
        "retries": 5,
    }
    assert metadata["usage"] == {"prompt_tokens": 80, "completion_tokens": 35, "total_tokens": 115}


def test_fail_on_error_sends_no_new_row_and_lets_rows_in_flight_finish() -> None:
    baseline = threading.active_count()
    rows = GatedRows(10, failures={1: bad_request()})
    run = InBackground(
        lambda: run_items(
            list(range(10)), rows.work, concurrency=3, fail_on_error=True, on_progress=rows.on_progress
        )
    )
    rows.wait_started(0, 1, 2)
    rows.open(1)
    rows.wait_progress(1)
    rows.open(0, 2)
    with pytest.raises(QueryError) as caught:
        run.join()
    error = caught.value
    assert (error.message, error.description, error.data) == (
        FAILED,
        "row 1: promptId: prompt not found",
        {"statusCode": 404, "errorType": "not_found", "traceId": "trace-x", "retries": 0, "row": 1},
    )
    assert rows.started() == [0, 1, 2]
    assert rows.ended() == [0, 1, 2]  # the rows in flight finished before the error was raised
    assert rows.progress == [(1, 10), (2, 10), (3, 10)]
    assert threading.active_count() == baseline


def test_a_stop_sends_no_new_row_and_says_how_far_the_run_got() -> None:
    baseline = threading.active_count()
    rows = GatedRows(5)
    stop = threading.Event()
    run = InBackground(lambda: run_items(list(range(5)), rows.work, concurrency=2, stop=stop))
    rows.wait_started(0, 1)
    stop.set()
    rows.open(0, 1)
    with pytest.raises(QueryError) as caught:
        run.join()
    assert (caught.value.message, caught.value.description, caught.value.data) == (
        "Query cancelled",
        "the run was stopped: 2 of 5 rows finished, the rest were not sent",
        {"statusCode": None, "errorType": "cancelled", "traceId": None, "finished": 2},
    )
    assert rows.started() == [0, 1]
    assert threading.active_count() == baseline


def test_a_stop_ends_a_pause_early() -> None:
    """The default sleep is the stop event's wait: closing during a 60 s pause does not wait it out."""
    rows = GatedRows(3, failures={0: rate_limited("60")})
    stop = threading.Event()
    run = InBackground(
        lambda: run_items(list(range(3)), rows.work, concurrency=1, stop=stop, on_progress=rows.on_progress)
    )
    rows.open(0)
    rows.wait_progress(1)
    stop.set()
    with pytest.raises(QueryError, match="1 of 3 rows finished"):
        run.join()
    assert rows.started() == [0]


def test_an_interrupt_waits_for_rows_in_flight_and_leaves_no_thread() -> None:
    baseline = threading.active_count()
    rows = GatedRows(4)
    interrupted = threading.Event()

    def on_progress(done: int, total: int) -> None:
        interrupted.set()
        raise KeyboardInterrupt

    run = InBackground(lambda: run_items(list(range(4)), rows.work, concurrency=2, on_progress=on_progress))
    rows.wait_started(0, 1)
    rows.open(0)
    assert interrupted.wait(HANG_GUARD)
    assert run.thread.is_alive()  # row 1 is still in flight, so the run cannot have ended
    rows.open(1)
    with pytest.raises(KeyboardInterrupt):
        run.join()
    assert (rows.started(), rows.ended()) == ([0, 1], [0, 1])
    assert threading.active_count() == baseline


def test_a_bug_in_work_is_raised_as_it_is_once_rows_in_flight_finish() -> None:
    baseline = threading.active_count()
    rows = GatedRows(6, failures={0: ZeroDivisionError("division by zero")})
    run = InBackground(
        lambda: run_items(list(range(6)), rows.work, concurrency=2, on_progress=rows.on_progress)
    )
    rows.wait_started(0, 1)
    rows.open(0)
    rows.wait_progress(1)
    rows.open(1)
    with pytest.raises(ZeroDivisionError):
        run.join()
    assert rows.started() == [0, 1]
    assert threading.active_count() == baseline


def test_a_rate_limited_row_halves_the_run_and_pauses_new_rows() -> None:
    rows = GatedRows(8, failures={0: rate_limited("30")})
    rows.open(4, 5, 6, 7)  # the rows that start after the pause answer at once
    clock = FakeClock()
    limiter = AdaptiveLimiter(4, clock=clock)
    run = InBackground(
        lambda: run_items(
            list(range(8)),
            rows.work,
            concurrency=4,
            limiter=limiter,
            sleep=clock.sleep,
            on_progress=rows.on_progress,
        )
    )
    rows.wait_started(0, 1, 2, 3)
    for done, row in enumerate([0, 1, 2], start=1):
        rows.open(row)
        rows.wait_progress(done)
    rows.wait_progress(7)  # rows 4 to 7 ran; row 3 is still in flight
    rows.open(3)
    result = run.join()
    # the 429 halved the limit to 2 and paused for the 30 s the server asked for; the 3 rows in flight
    # were above the new limit, so row 4 started only once two of them had finished
    assert clock.sleeps == [30.0]
    assert rows.log.index("start 4") > rows.log.index("progress 3")
    # 4 rows were in flight at the halving: row 0 and the next 3 finishes (1, 2, 4) settle them; 2 successes
    # (5, 6) at 2 make it 3, and 2 more (7, 3) are not yet a round at 3
    assert limiter.limit == 3
    assert [entry["status"] for entry in result.rows()] == ["failed"] + ["ok"] * 7
    assert result.metadata()["seconds"] == 30.0


def test_a_broken_progress_callback_does_not_break_the_run(caplog: pytest.LogCaptureFixture) -> None:
    calls: list[int] = []

    def on_progress(done: int, total: int) -> None:
        calls.append(done)
        raise ValueError("progress bar is gone")

    with caplog.at_level(logging.WARNING, logger="tooljet_portkey"):
        result = run_items(list(range(5)), answer, concurrency=2, on_progress=on_progress)
    assert [entry["status"] for entry in result.rows()] == ["ok"] * 5
    assert calls == [1]  # called no more once it failed
    assert [record.getMessage() for record in caplog.records] == [
        "tooljet_portkey: on_progress raised ValueError; it is not called again"
    ]


def test_no_rows_runs_nothing() -> None:
    baseline = threading.active_count()
    calls: list[tuple[int, int]] = []
    result = run_items([], answer, concurrency=8, on_progress=lambda done, total: calls.append((done, total)))
    assert result.to_query_result() == {
        "status": "ok",
        "data": [],
        "metadata": {
            "rows": 0,
            "succeeded": 0,
            "failed": 0,
            "skipped": 0,
            "retries": 0,
            "seconds": 0.0,
            "usage": {},
        },
    }
    assert calls == []
    assert threading.active_count() == baseline


@pytest.mark.parametrize("concurrency", [0, 65])
def test_runner_concurrency_is_between_1_and_64(concurrency: int) -> None:
    with pytest.raises(ValueError, match="concurrency must be between 1 and 64"):
        run_items([1], answer, concurrency=concurrency)


def test_a_limiter_must_match_the_concurrency() -> None:
    with pytest.raises(ValueError, match="the limiter's ceiling 4 is not the concurrency 8"):
        run_items([1], answer, concurrency=8, limiter=AdaptiveLimiter(4))


# -- the asyncio runner --------------------------------------------------------------------------------


def run_async(make: Callable[[], Coroutine[Any, Any, Any]]) -> Any:
    return asyncio.run(make())


async def until(condition: Callable[[], bool]) -> None:
    """Let the loop run until condition holds (bounded: a broken runner fails instead of hanging)."""
    for _ in range(10_000):
        if condition():
            return
        await asyncio.sleep(0)
    raise AssertionError("the condition never held")


class AsyncGatedRows:
    """The asyncio twin of GatedRows."""

    def __init__(self, rows: int, failures: dict[int, BaseException] | None = None) -> None:
        self.release = [asyncio.Event() for _ in range(rows)]
        self.failures = failures or {}
        self.started: list[int] = []
        self.ended: list[int] = []
        self.cancelled: list[int] = []
        self.progress: list[tuple[int, int]] = []

    async def work(self, row: int) -> ItemOk:
        self.started.append(row)
        try:
            await self.release[row].wait()
        except asyncio.CancelledError:
            self.cancelled.append(row)
            raise
        self.ended.append(row)
        if row in self.failures:
            raise self.failures[row]
        return answer(row)

    def on_progress(self, done: int, total: int) -> None:
        self.progress.append((done, total))


def test_async_rows_come_back_in_input_order_whatever_order_they_finish() -> None:
    async def scenario() -> tuple[BatchResult, AsyncGatedRows]:
        rows = AsyncGatedRows(3)
        run = asyncio.ensure_future(
            arun_items([0, 1, 2], rows.work, concurrency=3, on_progress=rows.on_progress)
        )
        await until(lambda: len(rows.started) == 3)
        for done, row in enumerate([1, 2, 0], start=1):
            rows.release[row].set()
            await until(lambda done=done: len(rows.progress) == done)
        return await run, rows

    result, rows = run_async(scenario)
    assert rows.ended == [1, 2, 0]
    assert [entry["output"] for entry in result.rows()] == ["answer 0", "answer 1", "answer 2"]
    assert rows.progress == [(1, 3), (2, 3), (3, 3)]


def test_async_fail_on_error_sends_no_new_row_and_lets_rows_in_flight_finish() -> None:
    async def scenario() -> tuple[QueryError, AsyncGatedRows]:
        rows = AsyncGatedRows(10, failures={2: bad_request()})
        run = asyncio.ensure_future(arun_items(list(range(10)), rows.work, concurrency=3, fail_on_error=True))
        await until(lambda: len(rows.started) == 3)
        rows.release[2].set()
        await until(lambda: rows.ended == [2])
        rows.release[0].set()
        rows.release[1].set()
        with pytest.raises(QueryError) as caught:
            await run
        return caught.value, rows

    error, rows = run_async(scenario)
    assert (error.description, error.data["row"]) == ("row 2: promptId: prompt not found", 2)
    assert (rows.started, sorted(rows.ended)) == ([0, 1, 2], [0, 1, 2])


def test_async_cancelling_the_run_cancels_rows_in_flight_and_leaves_no_task() -> None:
    async def scenario() -> tuple[AsyncGatedRows, set[asyncio.Task[Any]]]:
        rows = AsyncGatedRows(5)
        run = asyncio.ensure_future(arun_items(list(range(5)), rows.work, concurrency=2))
        await until(lambda: len(rows.started) == 2)
        run.cancel()
        with pytest.raises(asyncio.CancelledError):
            await run
        return rows, asyncio.all_tasks() - {asyncio.current_task()}

    rows, leftover = run_async(scenario)
    assert (rows.started, rows.cancelled, rows.ended) == ([0, 1], [0, 1], [])
    assert leftover == set()


def test_async_stop_sends_no_new_row_and_lets_rows_in_flight_finish() -> None:
    async def scenario() -> tuple[QueryError, AsyncGatedRows]:
        rows = AsyncGatedRows(5)
        stop = asyncio.Event()
        run = asyncio.ensure_future(arun_items(list(range(5)), rows.work, concurrency=2, stop=stop))
        await until(lambda: len(rows.started) == 2)
        stop.set()
        rows.release[0].set()
        rows.release[1].set()
        with pytest.raises(QueryError) as caught:
            await run
        return caught.value, rows

    error, rows = run_async(scenario)
    assert (error.message, error.data["finished"]) == ("Query cancelled", 2)
    assert (rows.started, rows.cancelled, sorted(rows.ended)) == ([0, 1], [], [0, 1])


class WindowedServer:
    """A rate limit of ``limit`` requests per fixed window of ``window`` seconds (a per-minute limit):
    requests beyond it get a 429 whose retry-after says when the window ends."""

    def __init__(self, clock: FakeClock, limiter: AdaptiveLimiter, limit: int, window: float = 60.0) -> None:
        self.clock = clock
        self.limiter = limiter
        self.limit = limit
        self.window = window
        self.counts: dict[float, int] = {}
        self.requests: list[tuple[float, int, int]] = []  # (when, row, the run's limit then)

    async def work(self, row: int) -> ItemOk:
        now = self.clock.now
        window_start = now // self.window * self.window
        self.counts[window_start] = self.counts.get(window_start, 0) + 1
        self.requests.append((now, row, self.limiter.limit))
        if self.counts[window_start] > self.limit:
            raise rate_limited(f"{window_start + self.window - now:g}")
        return ItemOk(row)


def test_aimd_against_a_limit_of_10_requests_a_minute() -> None:
    clock = FakeClock()
    limiter = AdaptiveLimiter(8, clock=clock)
    server = WindowedServer(clock, limiter, limit=10)

    async def scenario() -> BatchResult:
        return await arun_items(
            list(range(40)), server.work, concurrency=8, limiter=limiter, sleep=clock.asleep
        )

    result = run_async(scenario)

    def rows_at(when: float) -> list[tuple[int, int]]:
        return [(row, limit) for at, row, limit in server.requests if at == when]

    # at 0: 8 rows, 8 more; the window's 10 are spent and 6 rows get a 429: the limit halves to 4 and the
    # run pauses the 60 s the server asked for
    assert rows_at(0.0) == [(row, 8) for row in range(16)]
    # at 60: 4 rows, then one step up per round (5, then 6); the 11th request of the window is refused
    assert rows_at(60.0) == [(row, 4) for row in range(16, 20)] + [(row, 5) for row in range(20, 25)] + [
        (row, 6) for row in range(25, 31)
    ]
    # at 120: 6 halved to 3, and climbing again
    assert rows_at(120.0) == [(row, 3) for row in range(31, 34)] + [(row, 4) for row in range(34, 38)] + [
        (38, 5),
        (39, 5),
    ]
    assert len(server.requests) == 40  # no request was sent during a pause
    assert clock.sleeps == [60.0, 60.0]
    failed = [entry["row"] for entry in result.rows() if entry["status"] == "failed"]
    assert failed == [*range(10, 16), *range(26, 31)]
    assert result.metadata()["seconds"] == 120.0
    assert limiter.limit == 5


def test_a_rate_limit_signalled_by_work_slows_the_run_though_the_row_succeeds() -> None:
    """A row whose client retried a 429 and then succeeded tells the limiter itself."""
    clock = FakeClock()
    limiter = AdaptiveLimiter(4, clock=clock)
    started_at: list[tuple[int, float]] = []

    async def work(row: int) -> ItemOk:
        started_at.append((row, clock.now))
        if row == 0:
            limiter.throttled(5.0)
        return ItemOk(row, retries=1 if row == 0 else 0)

    async def scenario() -> BatchResult:
        return await arun_items(list(range(6)), work, concurrency=4, limiter=limiter, sleep=clock.asleep)

    result = run_async(scenario)
    assert started_at == [(0, 0.0), (1, 0.0), (2, 0.0), (3, 0.0), (4, 5.0), (5, 5.0)]
    assert [entry["status"] for entry in result.rows()] == ["ok"] * 6
    assert result.metadata()["retries"] == 1
    assert limiter.limit == 3  # halved to 2; rows 4 and 5 were a round of 2 successes


# -- the result ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("total", "more", "expected"),
    [
        (
            {"prompt_tokens": 1, "total_tokens": 3},
            {"prompt_tokens": 2, "completion_tokens": 4},
            {"prompt_tokens": 3, "total_tokens": 3, "completion_tokens": 4},
        ),
        (
            {"prompt_tokens_details": {"cached_tokens": 1}},
            {"prompt_tokens_details": {"cached_tokens": 2, "audio_tokens": 1}},
            {"prompt_tokens_details": {"cached_tokens": 3, "audio_tokens": 1}},
        ),
        ({"cost": 0.25}, {"cost": 0.5}, {"cost": 0.75}),
        ({"cached_tokens": None}, {"cached_tokens": 2}, {"cached_tokens": 2}),
        ({"cached_tokens": 1}, {"cached_tokens": None}, {"cached_tokens": 1}),
        ({"unit": "tokens"}, {"unit": "characters"}, {"unit": "tokens"}),  # not a number: the first stays
        ({"estimated": True}, {"estimated": True}, {"estimated": True}),  # booleans are not counts
        ({"tokens": 1}, {"tokens": {"text": 2}}, {"tokens": 1}),
        ({}, {}, {}),
    ],
)
def test_usage_adds_every_number_nested_too(
    total: dict[str, Any], more: dict[str, Any], expected: dict[str, Any]
) -> None:
    before = (repr(total), repr(more))
    assert add_usage(total, more) == expected
    assert (repr(total), repr(more)) == before


def test_summed_usage_shares_nothing_with_a_row() -> None:
    row_usage = {"details": {"cached_tokens": 1}}
    summed = add_usage({}, row_usage)
    summed = add_usage(summed, {"details": {"cached_tokens": 1}})
    assert (summed, row_usage) == ({"details": {"cached_tokens": 2}}, {"details": {"cached_tokens": 1}})


def test_result_of_a_mixed_run() -> None:
    result = BatchResult(
        (
            ItemOk({"label": "billing"}, "trace-a", {"total_tokens": 7, "cost": 0.5}, retries=1),
            ItemFailed(rate_limited("12")),
            ItemOk("bug", None, None),
        ),
        seconds=12.34567,
    )
    assert result.to_query_result() == {
        "status": "ok",
        "data": [
            {"row": 0, "status": "ok", "output": {"label": "billing"}, "traceId": "trace-a"},
            {
                "row": 1,
                "status": "failed",
                "error": {
                    "message": FAILED,
                    "description": "Rate limit exceeded",
                    "data": {
                        "statusCode": 429,
                        "errorType": "rate_limit_error",
                        "traceId": None,
                        "retries": 2,
                        "retryAfter": "12",
                    },
                },
            },
            {"row": 2, "status": "ok", "output": "bug", "traceId": None},
        ],
        "metadata": {
            "rows": 3,
            "succeeded": 2,
            "failed": 1,
            "skipped": 0,
            "retries": 3,
            "seconds": 12.346,
            "usage": {"total_tokens": 7, "cost": 0.5},
        },
    }
    with pytest.raises(ValueError, match=r"rows \[1\] did not work"):
        result.outputs()


# -- embeddings of any length --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("length", "batch_size", "ranges"),
    [
        (0, 2048, []),
        (1, 2048, [(0, 1)]),
        (2048, 2048, [(0, 2048)]),
        (2049, 2048, [(0, 2048), (2048, 2049)]),
        (5000, 2048, [(0, 2048), (2048, 4096), (4096, 5000)]),
        (7, 3, [(0, 3), (3, 6), (6, 7)]),
        (6, 3, [(0, 3), (3, 6)]),
        (3, 1, [(0, 1), (1, 2), (2, 3)]),
    ],
)
def test_input_splits_in_order_into_chunks_of_exactly_batch_size(
    length: int, batch_size: int, ranges: list[tuple[int, int]]
) -> None:
    inputs = [f"text {i}" for i in range(length)]
    chunks = split_input(inputs, batch_size)
    assert [(chunk.start, chunk.stop) for chunk in chunks] == ranges
    assert [item for chunk in chunks for item in chunk.inputs] == inputs


@pytest.mark.parametrize("batch_size", [0, 2049, -1])
def test_batch_size_is_between_1_and_2048(batch_size: int) -> None:
    with pytest.raises(ValueError, match="batch_size must be between 1 and 2048"):
        split_input(["a"], batch_size)


def embedding_answer(
    chunk: InputChunk[Any], order: list[int] | None = None, model: str = "m"
) -> dict[str, Any]:
    """What Portkey answers for a chunk; each vector names its input, so misplacing one shows."""
    positions = order if order is not None else list(range(len(chunk.inputs)))
    return {
        "object": "list",
        "data": [
            {"object": "embedding", "index": i, "embedding": [float(chunk.start + i)]} for i in positions
        ],
        "model": model,
        "usage": {"prompt_tokens": len(chunk.inputs), "total_tokens": len(chunk.inputs)},
    }


def test_chunk_answers_merge_into_one_answer_indexed_across_the_input() -> None:
    chunks = split_input([f"text {i}" for i in range(7)], 3)
    answers = [
        embedding_answer(chunks[0], model="text-embedding-3-small"),
        embedding_answer(chunks[1], order=[2, 0, 1], model="other"),  # a provider may answer out of order
        embedding_answer(chunks[2]),
    ]
    assert merge_embeddings(chunks, answers) == {
        "object": "list",
        "data": [{"object": "embedding", "index": i, "embedding": [float(i)]} for i in range(7)],
        "model": "text-embedding-3-small",
        "usage": {"prompt_tokens": 7, "total_tokens": 7},
    }


@pytest.mark.parametrize(
    ("data", "description"),
    [
        ([{"index": 0, "embedding": [0.0]}], "input[3:6]: the answer held 1 embeddings for 3 inputs"),
        (None, "input[3:6]: the answer held 0 embeddings for 3 inputs"),
        (
            [{"index": 0}, {"index": 1}, {"index": 1}],
            "input[3:6]: the answer's embeddings are not indexed 0 to 2",
        ),
        (
            [{"index": 0}, {"index": 1}, {"index": 3}],
            "input[3:6]: the answer's embeddings are not indexed 0 to 2",
        ),
        (
            [{"index": 0}, {"index": True}, {"index": 2}],
            "input[3:6]: the answer's embeddings are not indexed 0 to 2",
        ),
        ([{"index": 0}, {"index": 1}, "x"], "input[3:6]: the answer's embeddings are not indexed 0 to 2"),
    ],
)
def test_a_chunk_answer_that_does_not_fit_its_inputs_fails_the_query(data: Any, description: str) -> None:
    chunks = split_input(["a"] * 7, 3)
    answers = [embedding_answer(chunks[0]), {"object": "list", "data": data}, embedding_answer(chunks[2])]
    with pytest.raises(QueryError) as caught:
        merge_embeddings(chunks, answers)
    assert (caught.value.message, caught.value.description, caught.value.data) == (
        FAILED,
        description,
        {"statusCode": None, "errorType": "invalid_response", "traceId": None, "inputRange": [3, 6]},
    )


def test_a_failing_chunk_fails_the_query_naming_its_range() -> None:
    chunks = split_input([f"text {i}" for i in range(5000)])

    def work(chunk: InputChunk[str]) -> ItemOk:
        if chunk.start == 2048:
            raise QueryError(
                FAILED, "input too long", {"statusCode": 400, "errorType": None, "traceId": "t-2"}
            )
        return ItemOk(embedding_answer(chunk))

    with pytest.raises(QueryError) as caught:
        run_items(chunks, work, concurrency=1, fail_on_error=True, name_failure=chunk_failure(chunks))
    assert (caught.value.message, caught.value.description, caught.value.data) == (
        FAILED,
        "input[2048:4096]: input too long",
        {"statusCode": 400, "errorType": None, "traceId": "t-2", "inputRange": [2048, 4096]},
    )


def test_chunks_run_through_the_runner_and_merge() -> None:
    chunks = split_input([f"text {i}" for i in range(10)], 4)
    result = run_items(
        chunks, lambda chunk: ItemOk(embedding_answer(chunk)), concurrency=3, fail_on_error=True
    )
    merged = merge_embeddings(chunks, result.outputs())
    assert [item["index"] for item in merged["data"]] == list(range(10))
    assert [item["embedding"] for item in merged["data"]] == [[float(i)] for i in range(10)]
    assert merged["usage"] == {"prompt_tokens": 10, "total_tokens": 10}


@settings(derandomize=True, max_examples=200, deadline=None)
@given(length=st.integers(1, 300), batch_size=st.integers(1, 64), seed=st.integers(0, 2**32))
def test_split_then_merge_places_every_vector_at_its_input(length: int, batch_size: int, seed: int) -> None:
    chunks = split_input(list(range(length)), batch_size)
    assert all(len(chunk.inputs) == batch_size for chunk in chunks[:-1])
    assert 1 <= len(chunks[-1].inputs) <= batch_size
    shuffle = random.Random(seed).sample  # each chunk answered in some order of its own
    answers = [
        embedding_answer(chunk, order=shuffle(range(len(chunk.inputs)), len(chunk.inputs)))
        for chunk in chunks
    ]
    merged = merge_embeddings(chunks, answers)
    assert [(item["index"], item["embedding"]) for item in merged["data"]] == [
        (i, [float(i)]) for i in range(length)
    ]
    assert merged["usage"]["total_tokens"] == length


def test_a_threaded_run_does_not_load_asyncio() -> None:
    code = (
        "import sys\n"
        "from tooljet_portkey._batch import ItemOk, run_items\n"
        "run_items([1, 2], lambda item: ItemOk(item), concurrency=2)\n"
        "print('asyncio' in sys.modules)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert done.stdout == "False\n"


# -- one pause per burst -------------------------------------------------------------------------------


def test_a_refusal_sent_before_the_pause_began_never_begins_another() -> None:
    """A refusal reported late (after the pause it belongs to has ended) is news of the old limit."""
    clock = FakeClock()
    limiter = AdaptiveLimiter(8, clock=clock)
    sent = [limiter.admit() for _ in range(8)]
    assert sent == [0] * 8  # no pause has begun yet
    assert limiter.throttled(3.0, sent[0]) == 3.0
    assert (limiter.pauses, limiter.limit, limiter.pause_remaining()) == (1, 4, 3.0)
    clock.sleep(3.0)
    for generation in sent[1:]:  # the rest of the burst, recorded after the pause
        limiter.throttled(3.0, generation)
    assert (limiter.pauses, limiter.limit, limiter.pause_remaining()) == (1, 4, 0.0)
    limiter.throttled(5.0, sent[0])  # a longer wait of the same burst counts from the pause's start
    assert (limiter.pauses, limiter.pause_remaining()) == (1, 2.0)
    for generation in sent:
        limiter.finish(False, generation)
    clock.sleep(2.0)
    again = limiter.admit()
    assert again == 1  # sent under the first pause's limit
    limiter.throttled(3.0, again)  # refused after the pause: the server still limits, a new pause
    assert (limiter.pauses, limiter.limit, limiter.pause_remaining()) == (2, 2, 3.0)


def test_finishing_an_item_the_limiter_never_admitted_under_that_generation_is_a_bug() -> None:
    limiter = AdaptiveLimiter(2)
    assert limiter.admit() == 0
    with pytest.raises(RuntimeError, match="without a matching try_start"):
        limiter.finish(True, 1)


def burst_work(refused: int, retry_after: str = "3") -> Callable[[int], ItemOk]:
    """Rows below ``refused`` are refused with a 429 asking for ``retry_after`` seconds; the rest work."""

    def work(row: int) -> ItemOk:
        if row < refused:
            raise rate_limited(retry_after)
        return ItemOk(row)

    return work


@pytest.mark.parametrize("concurrency", [8, 64])
def test_a_burst_of_refusals_is_one_pause_in_threads(concurrency: int) -> None:
    """The runner records a burst's refusals one by one, some after the pause: still one pause of 3 s."""
    clock = FakeClock()
    limiter = AdaptiveLimiter(concurrency, clock=clock)
    rows = list(range(concurrency * 5))
    result = run_items(
        rows, burst_work(concurrency), concurrency=concurrency, limiter=limiter, sleep=clock.sleep
    )
    assert (clock.sleeps, limiter.pauses, result.metadata()["seconds"]) == ([3.0], 1, 3.0)
    statuses = [entry["status"] for entry in result.rows()]
    assert statuses == ["failed"] * concurrency + ["ok"] * (concurrency * 4)


@pytest.mark.parametrize("concurrency", [8, 64])
def test_a_burst_of_refusals_is_one_pause_in_tasks(concurrency: int) -> None:
    clock = FakeClock()
    limiter = AdaptiveLimiter(concurrency, clock=clock)
    work = burst_work(concurrency)

    async def awork(row: int) -> ItemOk:
        await asyncio.sleep(0)
        return work(row)

    async def scenario() -> BatchResult:
        rows = list(range(concurrency * 5))
        return await arun_items(rows, awork, concurrency=concurrency, limiter=limiter, sleep=clock.asleep)

    result = run_async(scenario)
    assert (clock.sleeps, limiter.pauses, result.metadata()["seconds"]) == ([3.0], 1, 3.0)
    statuses = [entry["status"] for entry in result.rows()]
    assert statuses == ["failed"] * concurrency + ["ok"] * (concurrency * 4)


# -- runs that stop early ------------------------------------------------------------------------------


def failure(status: int, error_type: str | None = None) -> QueryError:
    data = {"statusCode": status, "errorType": error_type, "traceId": None, "retries": 0}
    return QueryError(FAILED, f"status {status}", data)


@pytest.mark.parametrize(
    ("status", "error_type", "expected"),
    [
        (429, "insufficient_quota", True),  # a spent quota
        (401, "authentication_error", True),
        (403, "permission_error", True),
        (404, "not_found_error", True),  # the prompt id does not exist
        (412, "budget_exceeded_error", True),
        (429, "rate_limit_error", False),  # a wait fixes it
        (500, None, False),
        (503, None, False),
        (400, "invalid_request_error", False),  # this row's own problem
        (None, "timeout_error", False),
    ],
)
def test_what_no_retry_can_fix(status: int | None, error_type: str | None, expected: bool) -> None:
    assert unfixable({"statusCode": status, "errorType": error_type}) is expected


def test_a_spent_quota_is_not_a_rate_limit() -> None:
    assert is_rate_limit(429, "30", "insufficient_quota") is False
    assert is_rate_limit(429, None, "rate_limit_error") is True


def always(error: QueryError) -> Callable[[int], ItemOk]:
    def work(row: int) -> ItemOk:
        raise error

    return work


QUOTA_STOP = {
    "reason": "unfixable_failures",
    "description": "10 consecutive failures that no retry can fix (insufficient_quota, status 429)",
    "row": 9,
    "statusCode": 429,
    "errorType": "insufficient_quota",
}


def test_ten_failures_no_retry_can_fix_stop_the_run_and_skip_the_rest() -> None:
    clock = FakeClock()
    limiter = AdaptiveLimiter(1, clock=clock)
    result = run_items(
        list(range(100)), always(failure(429, "insufficient_quota")), concurrency=1, limiter=limiter
    )
    rows = result.rows()
    assert [entry["status"] for entry in rows] == ["failed"] * 10 + ["skipped"] * 90
    assert rows[10] == {"row": 10, "status": "skipped", "reason": "unfixable_failures"}
    assert result.metadata() == {
        "rows": 100,
        "succeeded": 0,
        "failed": 10,
        "skipped": 90,
        "retries": 0,
        "seconds": 0.0,
        "usage": {},
        "stopped": QUOTA_STOP,
    }
    assert limiter.pauses == 0  # a spent quota paused nothing: no wait brings it back


def test_at_concurrency_8_the_rows_in_flight_finish_and_no_new_row_is_sent() -> None:
    """Each of the first 9 failures frees one place for one more row; the 10th stops the run."""
    result = run_items(list(range(100)), always(failure(401, "authentication_error")), concurrency=8)
    statuses = [entry["status"] for entry in result.rows()]
    assert statuses == ["failed"] * 17 + ["skipped"] * 83
    metadata = result.metadata()
    assert (metadata["failed"], metadata["skipped"], metadata["stopped"]["reason"]) == (
        17,
        83,
        "unfixable_failures",
    )


def test_async_ten_failures_no_retry_can_fix_stop_the_run() -> None:
    async def work(row: int) -> ItemOk:
        raise failure(429, "insufficient_quota")

    async def scenario() -> BatchResult:
        return await arun_items(list(range(100)), work, concurrency=1)

    result = run_async(scenario)
    assert [entry["status"] for entry in result.rows()] == ["failed"] * 10 + ["skipped"] * 90
    assert result.metadata()["stopped"] == QUOTA_STOP


@pytest.mark.parametrize(
    "error",
    [failure(500), failure(503), rate_limited("0"), failure(400, "invalid_request_error")],
    ids=["500", "503", "429-with-a-wait", "400"],
)
def test_failures_a_retry_or_a_wait_may_fix_never_stop_the_run(error: QueryError) -> None:
    result = run_items(list(range(30)), always(error), concurrency=1, sleep=FakeClock().sleep)
    assert [entry["status"] for entry in result.rows()] == ["failed"] * 30
    assert "stopped" not in result.metadata()


def test_any_other_outcome_between_them_restarts_the_count() -> None:
    """9 failures no retry can fix, then a success or another failure, and again: never 10 in a row."""

    def work(row: int) -> ItemOk:
        if row % 10 == 9:
            if row % 20 == 9:
                return ItemOk(row)
            raise failure(500)
        raise failure(403, "permission_error")

    result = run_items(list(range(40)), work, concurrency=1)
    assert result.metadata()["skipped"] == 0 and "stopped" not in result.metadata()
    assert sum(entry["status"] == "failed" for entry in result.rows()) == 38


def test_the_last_rows_failing_stop_nothing_when_nothing_is_left_to_send() -> None:
    result = run_items(list(range(10)), always(failure(401)), concurrency=1)
    assert (result.metadata()["failed"], result.metadata()["skipped"]) == (10, 0)
    assert "stopped" not in result.metadata()


def test_a_run_sends_no_new_row_after_its_time_limit() -> None:
    """Every row is refused with a wait of 30 s, and the run may take 45 s: rows 0 and 1 at 0 (one burst,
    one pause), row 2 at 30 (refused again: a second pause, cut short by the limit at 45)."""
    clock = FakeClock()
    limiter = AdaptiveLimiter(2, clock=clock)

    async def work(row: int) -> ItemOk:
        raise rate_limited("30")

    async def scenario() -> BatchResult:
        return await arun_items(
            list(range(10)), work, concurrency=2, limiter=limiter, sleep=clock.asleep, max_seconds=45
        )

    result = run_async(scenario)
    assert (clock.sleeps, limiter.pauses) == ([30.0, 15.0], 2)
    assert [entry["status"] for entry in result.rows()] == ["failed"] * 3 + ["skipped"] * 7
    assert result.rows()[3] == {"row": 3, "status": "skipped", "reason": "time_limit"}
    assert result.metadata() == {
        "rows": 10,
        "succeeded": 0,
        "failed": 3,
        "skipped": 7,
        "retries": 6,
        "seconds": 45.0,
        "usage": {},
        "stopped": {
            "reason": "time_limit",
            "description": "the run's time limit of 45 s passed",
            "limitSeconds": 45,
        },
    }


def test_a_run_that_must_have_every_row_fails_at_its_time_limit() -> None:
    """fail_on_error (and every chunked embedding run): rows not sent fail the query, saying why."""
    clock = FakeClock()
    limiter = AdaptiveLimiter(4, clock=clock)

    async def work(row: int) -> ItemOk:
        if row == 0:
            limiter.throttled(50.0)  # a 429 the client retried past: the run pauses 50 s
        return ItemOk(row)

    async def scenario() -> BatchResult:
        return await arun_items(
            list(range(10)),
            work,
            concurrency=4,
            limiter=limiter,
            sleep=clock.asleep,
            fail_on_error=True,
            max_seconds=20,
        )

    with pytest.raises(QueryError) as caught:
        run_async(scenario)
    error = caught.value
    assert (error.message, error.description, error.data) == (
        FAILED,
        "the run stopped: the run's time limit of 20 s passed: 4 of 10 rows finished, the rest were not sent",
        {"statusCode": None, "errorType": "time_limit", "traceId": None, "finished": 4},
    )
    assert clock.sleeps == [20.0]


@pytest.mark.parametrize("max_seconds", [0, -1.0, 86_401])
def test_a_time_limit_is_above_0_and_at_most_a_day(max_seconds: float) -> None:
    with pytest.raises(ValueError, match="max_seconds must be above 0 and at most 86400"):
        run_items([1], ItemOk, max_seconds=max_seconds)
