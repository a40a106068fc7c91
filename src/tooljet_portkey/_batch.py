"""One piece of work per item of a table, at a bounded and adaptive concurrency, with per-item results.

The pieces, each usable alone:

- ``AdaptiveLimiter``: how many items may be in flight now (AIMD). It starts at its ceiling. A rate-limit
  signal (``throttled(wait)``) halves the limit (at least 1) and pauses new starts until the server's
  wait has passed (or a backoff, when the server named no wait). Once ``limit`` items have succeeded at
  the current limit it climbs one step, up to the ceiling: one step per round of successes, as TCP's
  congestion avoidance does, so a run that found the server's limit stays near it instead of overshooting
  again at once. Each item is sent under a generation (``admit()``: the pauses begun so far). The items
  in flight at a halving were sent under the old limit: however late their news is recorded, their
  rate limits only lengthen the pause they belong to (counted from its start), never begin another,
  and their successes do not count towards a step up (one decision per round, as TCP): a burst is one
  pause. The limiter is thread-safe, takes no time itself (its clock is injected) and never sleeps.
- ``run_items`` (threads) and ``arun_items`` (asyncio tasks): run ``work(item)`` for every item, never
  more at once than the limiter allows, and return a ``BatchResult`` in input order, whatever order the
  answers arrive in. Both share one sans-I/O bookkeeper (``_Run``); they differ only in how they start
  work and how they wait.
- ``BatchResult``: the rows for a QueryResult's ``data`` and the summary for its ``metadata``.
- Embeddings: ``split_input`` cuts an input list into chunks of ``batch_size``; ``merge_embeddings``
  joins the chunk answers into one answer indexed across the whole input.

How a rate limit reaches the limiter. ``work`` returns an ``ItemOk`` or raises a ``QueryError``:

1. a row that ends in a rate-limit failure (``data.statusCode`` 429, or 503 with ``data.retryAfter``)
   throttles the limiter by itself: the runner reads the error;
2. a row that met a 429 and then succeeded on the client's own retry never shows it in its result, so
   ``work`` may call ``limiter.throttled(wait)`` at the moment it sees one (the client's retry loop is
   the place). ``throttled`` is thread-safe and may be called from any worker.

Each row keeps its own retry policy and deadline; the limiter only slows the run, so that other rows stop
hammering a server that asked for a pause.

What a run does when things go wrong:

- ``fail_on_error``: the first failure (in the order the runner sees them) stops new starts; the rows in
  flight finish; then a ``QueryError`` naming the row is raised (``row 1: ...``, rows numbered from 0).
- ``stop`` (an Event, set by a service that closes): no new starts; rows in flight finish; then a
  ``QueryError`` ("Query cancelled") says how many finished.
- ``STOP_AFTER_UNFIXABLE_FAILURES`` failures in a row that no retry can fix (``unfixable``: a spent
  quota, a refused key, an unknown prompt), or ``max_seconds`` passed: no new starts; rows in flight
  finish; the rows not sent are ``ItemSkipped`` entries and the result's ``stopped`` says why
  (``RunStop``). With ``fail_on_error``, a ``QueryError`` instead (``errorType`` the stop's reason).
- ``max_cost`` (dollars): a row is started only while what was spent plus what the rows in flight and
  the new one are expected to cost stays within it (each ``ItemOk.cost``; one row at a time until the
  first cost is known); a row whose cost is unknown stops the run too. The stop's reason is ``budget``.
- an exception from ``work`` other than ``QueryError`` is a bug: it stops new starts, the rows in flight
  finish, and it is raised again as it is.
- ``KeyboardInterrupt`` (threads): no new starts; the runner waits for the rows in flight (a thread
  cannot be killed) and re-raises. Cancelling ``arun_items``'s task cancels the rows in flight too and
  waits until they have unwound, so no task or connection is left behind.

The pause is waited with ``sleep`` (injected; by default a sleep that a ``stop`` ends early). Rows that
finish during a pause are reported when it ends, so a failure under ``fail_on_error`` is raised at the
latest one pause later. ``on_progress(done, total)`` runs after each finished item, on the caller's
thread (``run_items``) or in the caller's task (``arun_items``); an ``Exception`` it raises is logged
once and the callback is not called again in that run, so a broken progress bar cannot fail a table.
Memory: the runner holds the results and the items in flight, nothing more (a new item starts only when
a slot is free).
"""

from __future__ import annotations

import contextlib
import logging
import math
import queue
import sys
import threading
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from ._constants import (
    DEFAULT_CONCURRENCY,
    MAX_CONCURRENCY,
    MAX_EMBEDDING_BATCH,
    MAX_INT_BITS,
    MAX_RETRY_AFTER,
    MAX_RUN_SECONDS,
    STOP_AFTER_UNFIXABLE_FAILURES,
)
from ._errors import QUERY_FAILED_TITLE, QueryError
from ._retry import backoff, retry_after
from ._throttle import QUOTA_ERROR_TYPES, is_rate_limit

if TYPE_CHECKING:
    import asyncio  # imported when an async run starts: the threaded path never loads it

__all__ = [
    "DEFAULT_CONCURRENCY",
    "MAX_CONCURRENCY",
    "MAX_EMBEDDING_BATCH",
    "AdaptiveLimiter",
    "BatchResult",
    "InputChunk",
    "ItemFailed",
    "ItemOk",
    "ItemSkipped",
    "RunStop",
    "add_usage",
    "arun_items",
    "asked_wait",
    "chunk_failure",
    "is_rate_limit",
    "merge_embeddings",
    "row_failure",
    "run_items",
    "split_input",
    "unfixable",
]

log = logging.getLogger("tooljet_portkey")

T = TypeVar("T")


def _check_concurrency(concurrency: int) -> None:
    if not 1 <= concurrency <= MAX_CONCURRENCY:
        raise ValueError(f"concurrency must be between 1 and {MAX_CONCURRENCY}, not {concurrency!r}")


# -- the adaptive limit -------------------------------------------------------------------------------


class AdaptiveLimiter:
    """How many items may be in flight: AIMD under a ceiling, paused while the server asked for a wait."""

    def __init__(
        self,
        ceiling: int,
        *,
        clock: Callable[[], float] = time.monotonic,
        max_pause: float = MAX_RETRY_AFTER,
    ) -> None:
        _check_concurrency(ceiling)
        self.ceiling = ceiling
        self.clock = clock
        self._max_pause = max_pause
        self._lock = threading.Lock()
        self._limit = ceiling
        self._in_flight = 0
        self._successes = 0  # at the current limit, since it last changed
        self._throttles = 0  # signals since the last success: the exponent of the backoff
        # The pauses begun so far: the generation an item is sent under. Items sent before the last
        # pause began report news of the old limit: their rate limits do not halve again or begin a
        # pause, and their successes do not climb.
        self._pauses = 0
        self._flights: dict[int, int] = {}  # items in flight, by the generation they were sent under
        self._pause_began = -math.inf
        self._paused_until = -math.inf

    def __repr__(self) -> str:
        return f"AdaptiveLimiter(limit={self._limit}, ceiling={self.ceiling}, in_flight={self._in_flight})"

    @property
    def limit(self) -> int:
        return self._limit

    @property
    def in_flight(self) -> int:
        return self._in_flight

    @property
    def pauses(self) -> int:
        """How many pauses have begun: one per burst of rate limits, however many rows it refused."""
        return self._pauses

    def pause_remaining(self) -> float:
        """Seconds before new starts may resume; 0.0 when not paused."""
        with self._lock:
            return max(self._paused_until - self.clock(), 0.0)

    def admit(self) -> int | None:
        """Count one more item in flight, if the limit and the pause allow it: the generation it is sent
        under (give it back to ``finish`` and ``throttled``), or None when nothing may start now."""
        with self._lock:
            if self._paused_until > self.clock() or self._in_flight >= self._limit:
                return None
            self._in_flight += 1
            self._flights[self._pauses] = self._flights.get(self._pauses, 0) + 1
            return self._pauses

    def try_start(self) -> bool:
        """Count one more item in flight, if the limit and the pause allow it."""
        return self.admit() is not None

    def _unsettled(self) -> bool:
        """Whether an item sent before the current pause began is still in flight."""
        return any(generation < self._pauses for generation in self._flights)

    def finish(self, succeeded: bool, sent: int | None = None) -> None:
        """One item is no longer in flight; a success outside a pause counts towards the next step up.

        ``sent``: the generation ``admit`` gave the item; without it, the oldest item in flight is taken
        to be the one that finished."""
        with self._lock:
            if sent is None and self._flights:
                sent = min(self._flights)
            if sent not in self._flights:
                raise RuntimeError("finish() without a matching try_start()")
            self._flights[sent] -= 1
            if not self._flights[sent]:
                del self._flights[sent]
            self._in_flight -= 1
            if sent < self._pauses:  # sent under an old limit
                return
            if not succeeded or self._paused_until > self.clock():
                return
            self._throttles = 0
            self._successes += 1
            if self._successes >= self._limit:
                self._successes = 0
                self._limit = min(self._limit + 1, self.ceiling)

    def throttled(self, wait: float | None = None, sent: int | None = None) -> float:
        """The server asked to slow down (and to wait ``wait`` seconds, if given); returns the pause.

        ``sent``: the generation the refused request was sent under (``admit``'s). A refusal of a
        request sent before the current pause began belongs to the burst that began it, however late it
        is reported: it may lengthen that pause (to its wait, counted from when the pause began), never
        begin another, so a burst is one pause. Without ``sent`` (a signal from the client's retry loop,
        given as it happens) the signal is news of the current limit unless an item sent before the
        current pause is still in flight, and a lengthened pause counts from now."""
        with self._lock:
            now = self.clock()
            if wait is None or not wait >= 0:  # NaN too
                wait = backoff(self._throttles, jitter=0.0)
            pause = min(wait, self._max_pause)
            if sent is not None and sent < self._pauses:
                self._paused_until = max(self._paused_until, self._pause_began + pause)
                return pause
            if sent is None and self._unsettled():
                self._paused_until = max(self._paused_until, now + pause)
                return pause
            self._limit = max(self._limit // 2, 1)
            self._successes = 0
            self._throttles += 1
            self._pauses += 1
            self._pause_began = now
            self._paused_until = max(self._paused_until, now + pause)
            return pause


def asked_wait(retry_after_value: object) -> float | None:
    """The seconds a ``retry-after`` value (seconds or an HTTP date) asks for; None if unreadable."""
    if retry_after_value is None:
        return None
    return retry_after({"retry-after": str(retry_after_value)})


# -- outcomes and the result ---------------------------------------------------------------------------


@dataclass(frozen=True)
class ItemOk:
    """What ``work`` returns for an item that worked: its output and what Portkey said about it."""

    output: Any
    trace_id: str | None = None
    usage: Mapping[str, Any] | None = None
    retries: int = 0
    # the item's own QueryResult metadata, when it is a query: the run's metadata starts from the first
    metadata: Mapping[str, Any] | None = None
    # what the item cost in US dollars (docs/cost.md); None: unknown. A run with a budget reads it.
    cost: float | None = None


@dataclass(frozen=True)
class ItemFailed:
    """An item whose ``work`` raised a QueryError."""

    error: QueryError

    @property
    def retries(self) -> int:
        retries = self.error.data.get("retries")
        return retries if isinstance(retries, int) and not isinstance(retries, bool) else 0


@dataclass(frozen=True)
class ItemSkipped:
    """An item never sent, because the run stopped first (``reason``: a ``RunStop``'s)."""

    reason: str
    retries: int = 0


Outcome = ItemOk | ItemFailed | ItemSkipped
Finished = ItemOk | ItemFailed  # what an item that was sent ends in


def row_entry(row: int, outcome: Outcome) -> dict[str, Any]:
    """One entry of ``data``: ``{row, status: ok, output, traceId}``, ``{row, status: failed, error}`` or
    ``{row, status: skipped, reason}``."""
    if isinstance(outcome, ItemOk):
        entry = {"row": row, "status": "ok", "output": outcome.output, "traceId": outcome.trace_id}
        for key in ("servedBy", "guardrails"):  # which fallback answered this row, its guardrails' verdict
            if outcome.metadata and key in outcome.metadata:
                entry[key] = outcome.metadata[key]
        if outcome.metadata is not None and "cost" in outcome.metadata:  # an answer that is billed
            entry["cost"] = outcome.cost  # its dollars, for a table cell; None: it could not be priced
        return entry
    if isinstance(outcome, ItemSkipped):
        return {"row": row, "status": "skipped", "reason": outcome.reason}
    error = outcome.error
    return {
        "row": row,
        "status": "failed",
        "error": {"message": error.message, "description": error.description, "data": error.data},
    }


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _sum(current: Any, value: Any) -> Any:
    """Two counts added. A sum past what JSON can carry (a float overflowing to infinity, an int too
    long to print) is capped at the largest float, 1.8e308, keeping its sign."""
    total = current + value
    if (isinstance(total, float) and math.isinf(total)) or (
        isinstance(total, int) and total.bit_length() > MAX_INT_BITS
    ):
        return sys.float_info.max if total > 0 else -sys.float_info.max
    return total


def add_usage(total: Mapping[str, Any], more: Mapping[str, Any]) -> dict[str, Any]:
    """``total`` plus ``more``, field by field: numbers add up, nested objects add up the same way, and
    any other value keeps the first one seen. Neither argument is changed.

    Iterative, one level of objects at a time: a row's answer may nest its usage as deep as the JSON
    parser allows, and the sum runs on the caller's thread, whose stack may already be deep. A sum too
    large for JSON is capped (``_sum``)."""
    summed = dict(total)
    pending: list[tuple[dict[str, Any], Mapping[str, Any]]] = [(summed, more)]
    while pending:
        into, adding = pending.pop()
        for key, value in adding.items():
            if value is None:
                continue
            current = into.get(key)
            if current is None:
                if isinstance(value, Mapping):
                    into[key] = {}
                    pending.append((into[key], value))
                else:
                    into[key] = value
            elif _is_number(current) and _is_number(value):
                into[key] = _sum(current, value)
            elif isinstance(current, Mapping) and isinstance(value, Mapping):
                into[key] = dict(current)
                pending.append((into[key], value))
    return summed


@dataclass(frozen=True)
class BatchResult:
    """Every item's outcome in input order, how long the run took, and why it stopped early (if it did)."""

    outcomes: tuple[Outcome, ...]
    seconds: float
    stopped: Mapping[str, Any] | None = None  # a RunStop's metadata

    def rows(self) -> list[dict[str, Any]]:
        """The QueryResult's ``data``: one entry per item, in input order."""
        return [row_entry(row, outcome) for row, outcome in enumerate(self.outcomes)]

    def metadata(self) -> dict[str, Any]:
        """The QueryResult's ``metadata``: counts, summed retries and usage, the time taken, and
        ``stopped`` when the run stopped before sending every item."""
        usage: dict[str, Any] = {}
        succeeded = skipped = 0
        for outcome in self.outcomes:
            if isinstance(outcome, ItemOk):
                succeeded += 1
                usage = add_usage(usage, outcome.usage or {})
            elif isinstance(outcome, ItemSkipped):
                skipped += 1
        metadata = {
            "rows": len(self.outcomes),
            "succeeded": succeeded,
            "failed": len(self.outcomes) - succeeded - skipped,
            "skipped": skipped,
            "retries": sum(outcome.retries for outcome in self.outcomes),
            "seconds": round(self.seconds, 3),
            "usage": usage,
        }
        if self.stopped is not None:
            metadata["stopped"] = dict(self.stopped)
        return metadata

    def to_query_result(self) -> dict[str, Any]:
        return {"status": "ok", "data": self.rows(), "metadata": self.metadata()}

    def outputs(self) -> list[Any]:
        """The outputs in input order, for a run where every item worked (``fail_on_error``)."""
        failed = [row for row, outcome in enumerate(self.outcomes) if not isinstance(outcome, ItemOk)]
        if failed:
            raise ValueError(f"rows {failed} did not work: outputs() needs a run where every item worked")
        return [outcome.output for outcome in self.outcomes if isinstance(outcome, ItemOk)]


# -- runs that cannot succeed --------------------------------------------------------------------------

# Statuses that say every other row would fail the same way: the key is refused (401, 403), the prompt
# or model does not exist (404), a budget is spent (412).
UNFIXABLE_STATUS = frozenset({401, 403, 404, 412})
UNFIXABLE_FAILURES = "unfixable_failures"
TIME_LIMIT = "time_limit"
BUDGET = "budget"


def unfixable(data: Mapping[str, Any]) -> bool:
    """Whether a failed row's error (its ``data``) is one no retry or pause can fix and that every other
    row would meet too: a status of ``UNFIXABLE_STATUS``, or a 429 that says the quota is spent. A rate
    limit with a wait, a 5xx or a timeout is not: the server may answer the next row."""
    status = data.get("statusCode")
    return status in UNFIXABLE_STATUS or (status == 429 and data.get("errorType") in QUOTA_ERROR_TYPES)


@dataclass(frozen=True)
class RunStop:
    """Why a run stopped sending items: ``reason`` (a stable code, also each skipped entry's), a
    ``description`` in words, and the facts behind it (``details``)."""

    reason: str
    description: str
    details: Mapping[str, Any]

    def metadata(self) -> dict[str, Any]:
        return {"reason": self.reason, "description": self.description, **self.details}


def failures_stop(row: int, data: Mapping[str, Any]) -> RunStop:
    """The stop after ``STOP_AFTER_UNFIXABLE_FAILURES`` unfixable failures in a row, the last ``row``'s."""
    status, error_type = data.get("statusCode"), data.get("errorType")
    kind = f"{error_type}, status {status}" if error_type else f"status {status}"
    return RunStop(
        UNFIXABLE_FAILURES,
        f"{STOP_AFTER_UNFIXABLE_FAILURES} consecutive failures that no retry can fix ({kind})",
        {"row": row, "statusCode": status, "errorType": error_type},
    )


def time_stop(limit: float) -> RunStop:
    """The stop at the run's time limit of ``limit`` seconds."""
    return RunStop(TIME_LIMIT, f"the run's time limit of {limit:g} s passed", {"limitSeconds": limit})


def budget_stop(budget: float, spent: Decimal, rows: int) -> RunStop:
    """The stop before a row that would take the run past its budget of ``budget`` dollars."""
    return RunStop(
        BUDGET,
        f"the run's budget of {_usd(budget)} {'was' if spent > Decimal(repr(budget)) else 'would be'} passed "
        f"({_usd(_dollars(spent))} spent on {rows} {'row' if rows == 1 else 'rows'})",
        {"maxCostUsd": budget, "spentUsd": _dollars(spent)},
    )


def unpriced_stop(budget: float, spent: Decimal, row: int) -> RunStop:
    """The stop after a row whose cost is unknown: the budget can no longer be kept."""
    return RunStop(
        BUDGET,
        f"row {row}'s cost is unknown (see metadata.warnings): the budget of {_usd(budget)} cannot be kept",
        {"maxCostUsd": budget, "spentUsd": _dollars(spent), "row": row},
    )


def _dollars(amount: Decimal) -> float:
    return float(amount) + 0.0


def _usd(amount: float) -> str:
    """Dollars as people write them, never in exponent form: ``$0.0000405``, ``$5``."""
    return f"${Decimal(repr(amount)).normalize():f}"


def _check_max_seconds(max_seconds: float | None) -> None:
    if max_seconds is not None and not 0 < max_seconds <= MAX_RUN_SECONDS:
        raise ValueError(f"max_seconds must be above 0 and at most {MAX_RUN_SECONDS}, not {max_seconds!r}")


def row_failure(row: int, error: QueryError) -> QueryError:
    """The error ``fail_on_error`` raises: the row's own, its description prefixed with the row."""
    return QueryError(error.message, f"row {row}: {error.description}", {**error.data, "row": row})


# -- the run, without I/O ------------------------------------------------------------------------------

NameFailure = Callable[[int, QueryError], QueryError]
Progress = Callable[[int, int], object]


class _Run(Generic[T]):
    """The bookkeeping both runners share: what to start next, what to wait for, what to return.

    Touched only by the runner's own thread or task; the limiter is the one shared, locked part.
    """

    def __init__(
        self,
        total: int,
        concurrency: int,
        limiter: AdaptiveLimiter | None,
        fail_on_error: bool,
        on_progress: Progress | None,
        stop_requested: Callable[[], bool],
        name_failure: NameFailure,
        max_seconds: float | None = None,
        max_cost: float | None = None,
    ) -> None:
        _check_concurrency(concurrency)
        _check_max_seconds(max_seconds)
        if limiter is None:
            limiter = AdaptiveLimiter(concurrency)
        elif limiter.ceiling != concurrency:
            raise ValueError(f"the limiter's ceiling {limiter.ceiling} is not the concurrency {concurrency}")
        self.total = total
        self.limiter = limiter
        self.fail_on_error = fail_on_error
        self.on_progress = on_progress
        self.stop_requested = stop_requested
        self.name_failure = name_failure
        self.outcomes: list[Outcome | None] = [None] * total
        self.next_row = 0
        self.running = 0
        self.done = 0
        self.first_failure: int | None = None
        self.fatal: BaseException | None = None
        self.started_at = limiter.clock()
        self.deadline = math.inf if max_seconds is None else self.started_at + max_seconds
        self.max_seconds = max_seconds
        self.sent_under: dict[int, int] = {}  # each row in flight: the limiter's generation it went under
        self.unfixable_streak = 0  # failures no retry can fix, in a row, in the order recorded
        self.stopped_by: RunStop | None = None
        self.max_cost = max_cost  # the budget in dollars: see _within_budget
        self.spent = Decimal(0)
        self.priced = 0  # rows whose cost is known

    def stopping(self) -> bool:
        return (
            self.fatal is not None
            or (self.fail_on_error and self.first_failure is not None)
            or self.stopped_by is not None
            or self.stop_requested()
        )

    def _more_to_start(self) -> bool:
        """Whether rows are left to start; a run past its time limit stops here, skipping them."""
        if self.next_row >= self.total or self.stopping():
            return False
        if self.max_seconds is not None and self.limiter.clock() >= self.deadline:
            self.stopped_by = time_stop(self.max_seconds)
            return False
        return self._within_budget()

    def _within_budget(self) -> bool:
        """Whether a new row fits the budget: what was spent, plus what the rows in flight and the new one
        are expected to cost (the mean of the rows priced so far), stays within it. Until a row's cost is
        known only one row is in flight, so at concurrency 1 a run spends at most the budget plus one
        row. A run past its budget stops (the rows not sent are skipped, reason ``budget``)."""
        if self.max_cost is None:
            return True
        if not self.priced:
            return self.running == 0  # one row at a time until a cost is known
        expected = self.spent + (self.running + 1) * self.spent / self.priced
        if expected > Decimal(repr(self.max_cost)):
            self.stopped_by = budget_stop(self.max_cost, self.spent, self.priced)
            return False
        return True

    def _count_cost(self, row: int, outcome: ItemOk) -> None:
        if self.max_cost is None:
            return
        if outcome.cost is None:
            if self.stopped_by is None and self.next_row < self.total:
                self.stopped_by = unpriced_stop(self.max_cost, self.spent, row)
            return
        self.spent += Decimal(repr(outcome.cost))
        self.priced += 1

    def start_next(self) -> int | None:
        """The next row to start now, counted as in flight; None when nothing may start now."""
        if not self._more_to_start():
            return None
        sent = self.limiter.admit()
        if sent is None:
            return None
        self.sent_under[self.next_row] = sent
        self.next_row += 1
        self.running += 1
        return self.next_row - 1

    def next_wait(self) -> float | None:
        """None: the run is over. 0.0: wait for a row to finish. Above 0: sleep that long (a pause, never
        past the run's time limit)."""
        more_to_start = self._more_to_start()
        if self.running == 0 and not more_to_start:
            return None
        pause = self.limiter.pause_remaining() if more_to_start else 0.0
        if pause == 0.0 and self.running == 0:
            raise RuntimeError("the limiter admits no start: is it shared with another run?")
        return min(pause, self.deadline - self.limiter.clock()) if pause else pause

    def record(self, row: int, outcome: Finished | BaseException) -> None:
        """A row finished: keep its outcome, tell the limiter, report progress."""
        self.running -= 1
        self.done += 1
        sent = self.sent_under.pop(row)
        if isinstance(outcome, ItemOk):
            self.limiter.finish(True, sent)
            self.outcomes[row] = outcome
            self.unfixable_streak = 0
            self._count_cost(row, outcome)
        elif isinstance(outcome, ItemFailed):
            data = outcome.error.data
            if is_rate_limit(data.get("statusCode"), data.get("retryAfter"), data.get("errorType")):
                self.limiter.throttled(asked_wait(data.get("retryAfter")), sent)
            self.limiter.finish(False, sent)
            self.outcomes[row] = outcome
            if self.first_failure is None:
                self.first_failure = row
            self._count_unfixable(row, data)
        else:
            self.limiter.finish(False, sent)
            if self.fatal is None:
                self.fatal = outcome
        self._report_progress()

    def _count_unfixable(self, row: int, data: Mapping[str, Any]) -> None:
        """A run whose last ``STOP_AFTER_UNFIXABLE_FAILURES`` rows failed in a way no retry can fix
        (a spent quota, a refused key) stops sending: the rest of the table would fail the same way."""
        if not unfixable(data):
            self.unfixable_streak = 0
            return
        self.unfixable_streak += 1
        at_limit = self.unfixable_streak >= STOP_AFTER_UNFIXABLE_FAILURES
        if at_limit and self.stopped_by is None and self.next_row < self.total:
            self.stopped_by = failures_stop(row, data)

    def _report_progress(self) -> None:
        if self.on_progress is None:
            return
        try:
            self.on_progress(self.done, self.total)
        except Exception as err:
            log.warning("tooljet_portkey: on_progress raised %s; it is not called again", type(err).__name__)
            self.on_progress = None

    def result(self) -> BatchResult:
        """The result, or the error that ended the run."""
        if self.fatal is not None:
            raise self.fatal
        if self.fail_on_error and self.first_failure is not None:
            failed = self.outcomes[self.first_failure]
            assert isinstance(failed, ItemFailed)
            raise self.name_failure(self.first_failure, failed.error)
        seconds = self.limiter.clock() - self.started_at
        stop = self.stopped_by
        if (
            stop is not None
            and stop.reason == BUDGET
            and self.max_cost is not None
            and "row" not in stop.details
        ):
            # told with what was spent once the rows in flight had finished
            self.stopped_by = budget_stop(self.max_cost, self.spent, self.priced)
        if self.stopped_by is not None:
            return self._stopped_result(self.stopped_by, seconds)
        if self.next_row < self.total:
            raise QueryError(
                "Query cancelled",
                f"the run was stopped: {self.done} of {self.total} rows finished, the rest were not sent",
                {"statusCode": None, "errorType": "cancelled", "traceId": None, "finished": self.done},
            )
        outcomes = tuple(outcome for outcome in self.outcomes if outcome is not None)
        return BatchResult(outcomes, seconds)

    def _stopped_result(self, stop: RunStop, seconds: float) -> BatchResult:
        """The rows not sent are skipped entries; a run that must have every row (``fail_on_error``)
        fails instead, saying why it stopped."""
        if self.fail_on_error:
            raise QueryError(
                QUERY_FAILED_TITLE,
                f"the run stopped: {stop.description}: {self.done} of {self.total} rows finished, "
                "the rest were not sent",
                {"statusCode": None, "errorType": stop.reason, "traceId": None, "finished": self.done},
            )
        skipped = ItemSkipped(stop.reason)
        outcomes = tuple(skipped if outcome is None else outcome for outcome in self.outcomes)
        return BatchResult(outcomes, seconds, stop.metadata())


# -- the runners ---------------------------------------------------------------------------------------


def _attempt(
    work: Callable[[T], ItemOk],
    row: int,
    item: T,
    deliver: Callable[[tuple[int, Finished | BaseException]], None],
) -> None:
    """One row on a worker thread; whatever happens is delivered to the runner's thread."""
    outcome: Finished | BaseException
    try:
        outcome = work(item)
    except QueryError as err:
        outcome = ItemFailed(err)
    except BaseException as err:
        outcome = err
    deliver((row, outcome))


def run_items(
    items: Sequence[T],
    work: Callable[[T], ItemOk],
    *,
    concurrency: int = DEFAULT_CONCURRENCY,
    fail_on_error: bool = False,
    on_progress: Progress | None = None,
    limiter: AdaptiveLimiter | None = None,
    stop: threading.Event | None = None,
    sleep: Callable[[float], object] | None = None,
    name_failure: NameFailure = row_failure,
    max_seconds: float | None = None,
    max_cost: float | None = None,
) -> BatchResult:
    """Run ``work`` on every item on at most ``concurrency`` threads; the outcomes in input order.

    The calling thread starts rows, waits, records outcomes and calls ``on_progress``; the pool's threads
    only run ``work``, and are gone when this returns or raises.
    """
    run: _Run[T] = _Run(
        len(items),
        concurrency,
        limiter,
        fail_on_error,
        on_progress,
        stop.is_set if stop is not None else lambda: False,
        name_failure,
        max_seconds,
        max_cost,
    )
    if sleep is None:
        sleep = stop.wait if stop is not None else time.sleep
    if not items:
        return run.result()
    finished: queue.SimpleQueue[tuple[int, Finished | BaseException]] = queue.SimpleQueue()
    pool = ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="tooljet-portkey-row")
    try:
        while True:
            while (row := run.start_next()) is not None:
                pool.submit(_attempt, work, row, items[row], finished.put)
            wait = run.next_wait()
            if wait is None:
                break
            if wait > 0:
                sleep(wait)
            else:
                run.record(*finished.get())
    finally:
        # Normally nothing is left; after an interrupt, the rows in flight finish here.
        pool.shutdown(wait=True, cancel_futures=True)
    return run.result()


async def _aattempt(work: Callable[[T], Awaitable[ItemOk]], item: T) -> Finished | BaseException:
    try:
        return await work(item)
    except QueryError as err:
        return ItemFailed(err)
    except Exception as err:
        return err


async def _sleep_unless_stopped(seconds: float, stop: asyncio.Event | None) -> None:
    import asyncio

    if stop is None:
        await asyncio.sleep(seconds)
        return
    with contextlib.suppress(asyncio.TimeoutError):
        await asyncio.wait_for(stop.wait(), seconds)


async def arun_items(
    items: Sequence[T],
    work: Callable[[T], Awaitable[ItemOk]],
    *,
    concurrency: int = DEFAULT_CONCURRENCY,
    fail_on_error: bool = False,
    on_progress: Progress | None = None,
    limiter: AdaptiveLimiter | None = None,
    stop: asyncio.Event | None = None,
    sleep: Callable[[float], Awaitable[object]] | None = None,
    name_failure: NameFailure = row_failure,
    max_seconds: float | None = None,
    max_cost: float | None = None,
) -> BatchResult:
    """The asyncio twin of ``run_items``: one task per row in flight, never more than the limiter allows.

    Cancelling the task that awaits this cancels the rows in flight and waits until they have unwound.
    """
    import asyncio

    run: _Run[T] = _Run(
        len(items),
        concurrency,
        limiter,
        fail_on_error,
        on_progress,
        stop.is_set if stop is not None else lambda: False,
        name_failure,
        max_seconds,
        max_cost,
    )
    in_flight: dict[asyncio.Task[Finished | BaseException], int] = {}
    try:
        while True:
            while (row := run.start_next()) is not None:
                in_flight[asyncio.ensure_future(_aattempt(work, items[row]))] = row
            wait = run.next_wait()
            if wait is None:
                break
            if wait > 0:
                await (sleep(wait) if sleep is not None else _sleep_unless_stopped(wait, stop))
                continue
            finished, _ = await asyncio.wait(in_flight, return_when=asyncio.FIRST_COMPLETED)
            for task in sorted(finished, key=in_flight.__getitem__):
                run.record(in_flight.pop(task), task.result())
    except BaseException:
        for task in in_flight:
            task.cancel()
        raise
    finally:
        if in_flight:
            await asyncio.gather(*in_flight, return_exceptions=True)
    return run.result()


# -- embeddings of any length --------------------------------------------------------------------------


@dataclass(frozen=True)
class InputChunk(Generic[T]):
    """Inputs ``start`` to ``stop`` (exclusive) of an embedding input, sent as one request."""

    start: int
    inputs: Sequence[T]

    @property
    def stop(self) -> int:
        return self.start + len(self.inputs)

    @property
    def label(self) -> str:
        return f"input[{self.start}:{self.stop}]"


def split_input(inputs: Sequence[T], batch_size: int = MAX_EMBEDDING_BATCH) -> list[InputChunk[T]]:
    """The input in order, in chunks of exactly ``batch_size`` items, the last holding the rest."""
    if not 1 <= batch_size <= MAX_EMBEDDING_BATCH:
        raise ValueError(f"batch_size must be between 1 and {MAX_EMBEDDING_BATCH}, not {batch_size!r}")
    return [
        InputChunk(start, inputs[start : start + batch_size]) for start in range(0, len(inputs), batch_size)
    ]


def chunk_failure(chunks: Sequence[InputChunk[Any]]) -> NameFailure:
    """A ``name_failure`` for a run over chunks: the error names the chunk's index range."""

    def name(row: int, error: QueryError) -> QueryError:
        chunk = chunks[row]
        return QueryError(
            error.message,
            f"{chunk.label}: {error.description}",
            {**error.data, "inputRange": [chunk.start, chunk.stop]},
        )

    return name


def _placed(chunk: InputChunk[Any], answer: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The chunk's embeddings in order, their ``index`` counted across the whole input."""
    count = len(chunk.inputs)
    items = answer.get("data")
    items = items if isinstance(items, list) else []
    by_index = {item.get("index"): item for item in items if isinstance(item, Mapping)}
    indexed_once_each = all(type(index) is int for index in by_index) and set(by_index) == set(range(count))
    if len(items) != count or not indexed_once_each:
        raise QueryError(
            QUERY_FAILED_TITLE,
            f"{chunk.label}: the answer held {len(items)} embeddings for {count} inputs"
            if len(items) != count
            else f"{chunk.label}: the answer's embeddings are not indexed 0 to {count - 1}",
            {
                "statusCode": None,
                "errorType": "invalid_response",
                "traceId": None,
                "inputRange": [chunk.start, chunk.stop],
            },
        )
    return [{**by_index[index], "index": chunk.start + index} for index in range(count)]


def merge_embeddings(
    chunks: Sequence[InputChunk[Any]], answers: Sequence[Mapping[str, Any]]
) -> dict[str, Any]:
    """One Portkey-shaped embedding answer from the chunks' answers: ``data[i].index == i`` across the
    whole input, ``usage`` summed, every other field (``object``, ``model``) from the first answer."""
    if not chunks or len(chunks) != len(answers):
        raise ValueError(f"{len(answers)} answers for {len(chunks)} chunks")
    data: list[dict[str, Any]] = []
    usage: dict[str, Any] = {}
    for chunk, answer in zip(chunks, answers, strict=True):
        data.extend(_placed(chunk, answer))
        usage = add_usage(usage, answer.get("usage") or {})
    return {**answers[0], "data": data, "usage": usage}
