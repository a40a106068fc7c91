"""Send a query of several requests through a service's pooled client: its rows, or its embedding input
in chunks. The scheduling (bounded, adaptive concurrency; results in row order) is ``_batch``'s; this
module says what one row or chunk is: its request, its answer under the query's output mode, its
failure as the QueryError a single query would raise.

- Rows: the QueryResult's ``data`` is one entry per row (``BatchResult.rows()``), ``metadata`` the
  counts, summed usage and retries, and the time taken, over the first successful row's own metadata
  (``statusCode``, ``traceId``, ``provider``, ``model``...), so that a key a single run's metadata has
  is there for a table too. With ``failOnError`` the first failure raises, naming the row. A run that
  stops early (failures no retry can fix, ``maxRunSeconds``) skips the rows not sent and says why in
  ``metadata.stopped``.
- Chunks: every chunk must work (a failure raises, naming the chunk's input range); the answers are
  merged into one Portkey-shaped answer, and the output mode applies to it. ``metadata`` has every key
  a single request's has, the first chunk's value of each (``traceId``, status, provider...), with
  ``retries`` and ``retryAttemptCount`` summed, and ``requests`` and every chunk's ``traceIds``.
- Cost (docs/cost.md): each ok row's entry carries its ``cost`` in dollars and ``metadata.cost`` is the
  rows' sum; a chunked input's cost is its summed usage's. ``maxCostUsd`` is the run's budget (``_batch``).

Each request runs inside ``rate_limits_to(limiter.throttled)``: a 429 the client retries slows the whole
run at once. Loaded only when a query is several requests (it imports the thread pool, or asyncio).
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, cast

from ._batch import (
    AdaptiveLimiter,
    BatchResult,
    InputChunk,
    ItemFailed,
    ItemOk,
    arun_items,
    chunk_failure,
    merge_embeddings,
    run_items,
    split_input,
)
from ._cost import add_cost, sum_costs
from ._errors import QueryError
from ._mapping import query_errors, query_result
from ._output import answer_metadata
from ._requests import TRACE_HEADER, PortkeyRequest, row_request
from ._responses import PortkeyResponse, response_metadata
from ._rows import RunningRuns, chunk_request, chunked_input
from ._settings import ConnectionSettings
from ._throttle import rate_limits_to
from ._types import QueryResult

if TYPE_CHECKING:
    from ._client import AsyncPortkeyClient, PortkeyClient

__all__ = ["arun_several", "run_several"]

Progress = Callable[[int, int], object]
Answered = Callable[[PortkeyRequest, PortkeyResponse, ConnectionSettings], ItemOk]


def _total(cost: Any) -> float | None:
    """A cost's dollars (docs/cost.md); None when the answer could not be priced."""
    return cost.get("total") if isinstance(cost, Mapping) else None


def _row_ok(request: PortkeyRequest, response: PortkeyResponse, settings: ConnectionSettings) -> ItemOk:
    """A row that was answered: its output under the query's output mode (an answer that is not the
    output asked for fails the row, as it fails a single query), and what it cost."""
    meta = response_metadata(response.status_code, response.headers, response.retries, request.secrets())
    shaped = query_result(request, response.data, meta, response.deadline, settings)
    metadata = shaped["metadata"]
    # the id Portkey filed the row under: the one it answered with, else the one the row sent
    trace_id = meta.get("traceId") or request.headers.get(TRACE_HEADER)
    cost = _total(metadata.get("cost"))
    return ItemOk(shaped["data"], trace_id, metadata.get("usage"), response.retries, metadata, cost)


def _chunk_ok(request: PortkeyRequest, response: PortkeyResponse, settings: ConnectionSettings) -> ItemOk:
    """A chunk that was answered: the whole response, merged with the others once all have worked; its
    cost counts towards the run's budget."""
    meta = {**response_metadata(response.status_code, response.headers), **answer_metadata(response.data)}
    add_cost(meta, request.operation, request.body, response.data, settings.provider, settings.prices)
    return ItemOk(response, retries=response.retries, cost=_total(meta.get("cost")))


def _failure(err: Exception, settings: ConnectionSettings, request: PortkeyRequest) -> QueryError:
    """What a row's exception becomes: Portkey's error as a single query gives it; a bug of ours as
    the plugin's own error, so one odd answer fails its row, not the table."""
    return query_errors(settings, request).map(err)


def _first_of_each(metas: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """Every key of these metadata, each with the value of the first that has it."""
    meta: dict[str, Any] = {}
    for one in metas:
        for key, value in one.items():
            meta.setdefault(key, value)
    return meta


def _gateway_retries(meta: dict[str, Any], sources: Sequence[Mapping[str, Any]]) -> None:
    """``retryAttemptCount`` (Portkey's own retries) summed over the requests that report it."""
    counts = [one["retryAttemptCount"] for one in sources if type(one.get("retryAttemptCount")) is int]
    if counts:
        meta["retryAttemptCount"] = sum(counts)


def _table_result(result: BatchResult) -> QueryResult:
    """A table's QueryResult: the run's counts and sums over the keys of a single run's metadata, from
    the rows that succeeded (none when no row did)."""
    metas = [o.metadata for o in result.outcomes if isinstance(o, ItemOk) and o.metadata is not None]
    failed = [o.error.data for o in result.outcomes if isinstance(o, ItemFailed)]
    meta = _first_of_each(metas)
    _gateway_retries(meta, [*metas, *failed])
    meta.update(result.metadata())
    _run_cost(meta, metas)
    return cast(QueryResult, {"status": "ok", "data": result.rows(), "metadata": meta})


def _run_cost(meta: dict[str, Any], metas: Sequence[Mapping[str, Any]]) -> None:
    """A table's ``cost``: the rows' costs summed (exactly), None when a row that worked could not be
    priced; ``warnings`` each distinct warning of the rows, once."""
    costed = [one for one in metas if "cost" in one]
    if not costed:
        return
    meta["cost"] = sum_costs(one["cost"] for one in costed)
    warnings = list(dict.fromkeys(w for one in metas for w in one.get("warnings", ())))
    if warnings:
        meta["warnings"] = warnings


def _merged(
    request: PortkeyRequest,
    chunks: Sequence[InputChunk[Any]],
    answers: Sequence[Any],
    settings: ConnectionSettings,
) -> QueryResult:
    """The QueryResult of a chunked embedding query, from each chunk's PortkeyResponse: the metadata of
    a single request, every key in it (the first chunk's ``traceId``), with the chunks' retries summed."""
    responses: list[PortkeyResponse] = list(answers)
    secrets = request.secrets()
    metas = [response_metadata(r.status_code, r.headers, r.retries, secrets) for r in responses]
    meta = _first_of_each(metas)
    _gateway_retries(meta, metas)
    meta["retries"] = sum(r.retries for r in responses)
    meta["requests"] = len(chunks)
    meta["traceIds"] = [one.get("traceId") for one in metas]
    merged = merge_embeddings(chunks, [r.data for r in responses])
    return query_result(request, merged, meta, None, settings)  # its cost: the summed usage's


# -- threads --------------------------------------------------------------------------------------------


def run_several(
    client: PortkeyClient,
    settings: ConnectionSettings,
    request: PortkeyRequest,
    on_progress: Progress | None,
    runs: RunningRuns,
) -> QueryResult:
    """The QueryResult of a query of rows or of a chunked embedding input, on a bounded thread pool."""
    shape = request.run
    limiter = AdaptiveLimiter(shape.concurrency)
    stop = threading.Event()

    def attempt(one: PortkeyRequest, answered: Answered) -> ItemOk:
        try:
            with rate_limits_to(limiter.throttled):
                response = client.send(one)
            return answered(one, response, settings)
        except Exception as err:
            failure = _failure(err, settings, one)
        raise failure  # outside the except block: the row's error links to no exception

    with runs.running(stop.set):
        if shape.rows is not None:
            rows = shape.rows
            result = run_items(
                range(len(rows)),
                lambda row: attempt(row_request(request, rows[row], row), _row_ok),
                concurrency=shape.concurrency,
                fail_on_error=shape.fail_on_error,
                on_progress=on_progress,
                limiter=limiter,
                stop=stop,
                max_seconds=shape.max_seconds,
                max_cost=shape.max_cost,
            )
            return _table_result(result)
        chunks = split_input(chunked_input(request) or [], shape.batch_size)
        result = run_items(
            chunks,
            lambda part: attempt(chunk_request(request, part.inputs), _chunk_ok),
            concurrency=shape.concurrency,
            fail_on_error=True,
            on_progress=on_progress,
            limiter=limiter,
            stop=stop,
            name_failure=chunk_failure(chunks),
            max_seconds=shape.max_seconds,
            max_cost=shape.max_cost,
        )
    return _merged(request, chunks, result.outputs(), settings)


# -- asyncio --------------------------------------------------------------------------------------------


async def arun_several(
    client: AsyncPortkeyClient,
    settings: ConnectionSettings,
    request: PortkeyRequest,
    on_progress: Progress | None,
    runs: RunningRuns,
) -> QueryResult:
    """The asyncio twin of ``run_several``: one task per request in flight."""
    import asyncio

    shape = request.run
    limiter = AdaptiveLimiter(shape.concurrency)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()

    def stop_from_anywhere() -> None:
        with contextlib.suppress(RuntimeError):  # a closed loop: nothing of the run is left to stop
            loop.call_soon_threadsafe(stop.set)

    async def attempt(one: PortkeyRequest, answered: Answered) -> ItemOk:
        try:
            with rate_limits_to(limiter.throttled):
                response = await client.send(one)
            return answered(one, response, settings)
        except Exception as err:
            failure = _failure(err, settings, one)
        raise failure

    with runs.running(stop_from_anywhere):
        if shape.rows is not None:
            rows = shape.rows
            result = await arun_items(
                range(len(rows)),
                lambda row: attempt(row_request(request, rows[row], row), _row_ok),
                concurrency=shape.concurrency,
                fail_on_error=shape.fail_on_error,
                on_progress=on_progress,
                limiter=limiter,
                stop=stop,
                max_seconds=shape.max_seconds,
                max_cost=shape.max_cost,
            )
            return _table_result(result)
        chunks = split_input(chunked_input(request) or [], shape.batch_size)
        result = await arun_items(
            chunks,
            lambda part: attempt(chunk_request(request, part.inputs), _chunk_ok),
            concurrency=shape.concurrency,
            fail_on_error=True,
            on_progress=on_progress,
            limiter=limiter,
            stop=stop,
            name_failure=chunk_failure(chunks),
            max_seconds=shape.max_seconds,
            max_cost=shape.max_cost,
        )
    return _merged(request, chunks, result.outputs(), settings)
