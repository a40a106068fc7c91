"""How a query runs when it is more than one request: prompt_completion's ``rows``, and an embedding input
longer than one request holds. Pure, no I/O; ``_run_rows`` sends the requests.

- ``rows`` (prompt_completion): the saved prompt runs once per row, with ``variables`` = the query's
  ``variables`` (the form's; without them, a ``variables`` in ``prompt_parameters``, as a single run
  sends) updated with the row's top-level fields (a shallow merge: the row's keys win). Every
  merged ``variables`` is checked as the ``variables`` field is, before anything is sent: a table that
  would fail on row 9,000 for a bad value fails at once, naming the row.
- ``concurrency``: the most rows (or embedding requests) in flight; ``failOnError``: the first failed row
  fails the query; ``batch_size`` (create_embedding): the inputs of one request. Without it, as many as
  keep one answer well within the connection's answer cap (``default_batch_size``): the cap is checked
  only as the answer is read, after the provider has computed (and billed) it. ``maxRunSeconds``: the
  time after which no new row (or request) is sent. ``maxCostUsd``: the budget in dollars past which no new
  row (or request) is sent (docs/cost.md).

- ``rows`` (chat, completion): each row is a query: an object of the operation's own fields (``prompt``,
  ``system_prompt``, ``temperature``, ``metadata``...) laid over the form's values (the row's field
  wins), or a text, that row's ``prompt``. Each row is checked field by field as the form is
  (``query_rows``), then as a whole query (``_requests.py``), before anything is sent. The fields that
  shape the whole run (``NOT_PER_ROW``) cannot be set per row.
- With a ``traceId``, each row sends ``<traceId>-<row>`` (``row_trace_id``), so Portkey's logs group a
  run and each row's log is found from its entry; a row's own ``traceId`` is sent as it is.

These fields shape how the query runs, not one request's body: ``build_request`` reads them into the
request's ``run`` (a ``RunShape``), as it reads ``output`` into its ``answer``.
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ._constants import (
    DEFAULT_CONCURRENCY,
    DEFAULT_EMBEDDING_DIMENSIONS,
    DEFAULT_MAX_RESPONSE_BYTES,
    EMBEDDING_ANSWER_SHARE,
    EMBEDDING_BASE64_BYTES,
    EMBEDDING_DIMENSIONS,
    EMBEDDING_FLOAT_BYTES,
    EMBEDDING_VECTOR_OVERHEAD_BYTES,
    MAX_EMBEDDING_BATCH,
)
from ._errors import QueryError
from ._operations import OPERATIONS, names_where
from ._operations import operation as operation_facts
from ._routing import ROUTING_FIELDS

if TYPE_CHECKING:
    from ._requests import PortkeyRequest

__all__ = [
    "NOT_PER_ROW",
    "QUERY_ROW_OPERATIONS",
    "RUN_FIELDS",
    "RunShape",
    "RunningRuns",
    "check_not_streamed",
    "chunk_request",
    "chunked_input",
    "default_batch_size",
    "is_several",
    "query_rows",
    "row_trace_id",
    "row_variables",
    "run_shape",
    "table_shape",
]

_TABLE_FIELDS = frozenset({"rows", "concurrency", "failOnError", "maxRunSeconds", "maxCostUsd"})
_CHUNK_FIELDS = frozenset({"concurrency", "batch_size", "maxRunSeconds", "maxCostUsd"})
# The fields each operation of several requests (_operations.py ``runs``) reads into its RunShape (a
# test holds operations.json to these).
RUN_FIELDS: Mapping[str, frozenset[str]] = {
    name: _CHUNK_FIELDS if op.runs == "chunks" else _TABLE_FIELDS
    for name, op in OPERATIONS.items()
    if op.runs is not None
}
# The operations whose rows are queries (a row holds the operation's own fields), not variables
QUERY_ROW_OPERATIONS = names_where(runs="rows")
# What a row may not set: how the whole run is sent and read
NOT_PER_ROW = _TABLE_FIELDS | {"stream", "output"}


@dataclass(frozen=True, repr=False)  # its own __repr__ (the generated one would be made, unused)
class RunShape:
    """How run() sends a query: one request (``rows`` None), or one per row, or (create_embedding) one
    per ``batch_size`` inputs; at most ``concurrency`` at once."""

    rows: Sequence[Mapping[str, Any]] | None = None
    concurrency: int = DEFAULT_CONCURRENCY
    fail_on_error: bool = False
    batch_size: int = MAX_EMBEDDING_BATCH
    max_seconds: float | None = None  # no new request after this long
    # chat and completion: the form's values each row's own (``rows``) is laid over
    form: Mapping[str, Any] | None = None
    max_cost: float | None = None  # no new request that would take the run past this many dollars

    def __repr__(self) -> str:
        # the rows are the user's data: their count is enough
        rows = "None" if self.rows is None else f"<{len(self.rows)} rows>"
        return (
            f"RunShape(rows={rows}, concurrency={self.concurrency}, fail_on_error={self.fail_on_error}, "
            f"batch_size={self.batch_size}, max_seconds={self.max_seconds}, max_cost={self.max_cost})"
        )


_ONE_REQUEST = RunShape()


def run_shape(
    operation: str,
    params: Mapping[str, Any],
    body: Mapping[str, Any],
    stream: bool,
    max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES,
) -> RunShape:
    """The RunShape a validated query asks for (``body``: the request it becomes; ``max_response_bytes``:
    the connection's answer cap, which sizes an embedding query's default chunks); a QueryError naming
    the field when its rows cannot run (a stream, or a row whose merged variables are not valid
    ``variables``)."""
    if operation_facts(operation).runs == "chunks":
        return RunShape(
            concurrency=params.get("concurrency", DEFAULT_CONCURRENCY),
            batch_size=params.get("batch_size") or default_batch_size(body, max_response_bytes),
            max_seconds=params.get("maxRunSeconds"),
            max_cost=params.get("maxCostUsd"),
        )
    if not RUN_FIELDS.get(operation, frozenset()) & params.keys():
        return _ONE_REQUEST
    rows = params.get("rows")
    if rows is not None:
        check_not_streamed(params, stream)
        _check_row_variables(operation, body.get("variables") or {}, rows)
    return RunShape(
        rows=rows,
        concurrency=params.get("concurrency", DEFAULT_CONCURRENCY),
        fail_on_error=params.get("failOnError", False),
        batch_size=params.get("batch_size", MAX_EMBEDDING_BATCH),
        max_seconds=params.get("maxRunSeconds"),
        max_cost=params.get("maxCostUsd"),
    )


def check_not_streamed(params: Mapping[str, Any], stream: bool, extra: str = "prompt_parameters") -> None:
    """Refuse a stream with rows: a table's answers are read whole, one result per row. ``extra``: the
    field of body parameters that asked for it, when the ``stream`` field did not."""
    if stream:
        field = "stream" if params.get("stream") is True else extra
        raise QueryError(
            "Invalid query options",
            f"{field}: a streamed answer cannot be combined with rows",
            {"field": field},
        )


def query_rows(name: str, rows: Sequence[Any]) -> list[dict[str, Any]]:
    """Each row's own fields (chat, completion), coerced and checked as the form's are: a text is the
    row's ``prompt``; a QueryError names the row and the field (``rows[3].temperature: ...``)."""
    from ._spec import validate_row

    # the run's routing (a config, fallbacks, guardrails) is one x-portkey-config for every row
    not_per_row = NOT_PER_ROW | ROUTING_FIELDS | {"config"}
    text = operation_facts(name).text_row or "prompt"
    return [
        validate_row(name, {text: row} if isinstance(row, str) else row, f"rows[{index}]", not_per_row)
        for index, row in enumerate(rows)
    ]


def table_shape(
    params: Mapping[str, Any], form: Mapping[str, Any], rows: Sequence[Mapping[str, Any]]
) -> RunShape:
    """The RunShape of a chat or completion table: each row's own fields, laid over ``form``."""
    return RunShape(
        rows=rows,
        concurrency=params.get("concurrency", DEFAULT_CONCURRENCY),
        fail_on_error=params.get("failOnError", False),
        max_seconds=params.get("maxRunSeconds"),
        max_cost=params.get("maxCostUsd"),
        form=form,
    )


def row_trace_id(trace_id: str, index: int) -> str:
    """The trace id row ``index`` sends when the query gives ``trace_id``: Portkey's logs group the
    run under it, and each row's is found from its entry."""
    return f"{trace_id}-{index}"


def _embedding_dimensions(body: Mapping[str, Any]) -> int:
    """How many numbers each vector of the answer holds: the query's ``dimensions``, else the model's
    known size (its id's last part: ``@openai-prod/text-embedding-3-small`` is a known model), else
    the largest common size."""
    dimensions = body.get("dimensions")
    if type(dimensions) is int and dimensions >= 1:
        return dimensions
    model = body.get("model")
    name = model.rsplit("/", 1)[-1] if isinstance(model, str) else ""
    return EMBEDDING_DIMENSIONS.get(name, DEFAULT_EMBEDDING_DIMENSIONS)


def default_batch_size(body: Mapping[str, Any], max_response_bytes: int) -> int:
    """The inputs of one embedding request when the query gives no ``batch_size``: as many vectors as
    fit in ``EMBEDDING_ANSWER_SHARE`` of the answer cap at their largest likely size, 1 to 2048.

    The answer cap is met only while reading the answer, after the provider has computed and billed
    every vector of the request (and of the requests in flight beside it): a default must never reach
    it. 2,048 vectors of 3,072 numbers are 128.5 MiB of a provider's JSON, twice the 64 MiB default.
    """
    per_number = EMBEDDING_BASE64_BYTES if body.get("encoding_format") == "base64" else EMBEDDING_FLOAT_BYTES
    per_vector = _embedding_dimensions(body) * per_number + EMBEDDING_VECTOR_OVERHEAD_BYTES
    fitting = int(max_response_bytes * EMBEDDING_ANSWER_SHARE) // per_vector
    return max(1, min(fitting, MAX_EMBEDDING_BATCH))


def row_variables(variables: Mapping[str, Any], row: Mapping[str, Any]) -> dict[str, Any]:
    """The variables one row runs with: the form's, updated with the row's top-level fields."""
    return {**variables, **row}


def _check_row_variables(operation: str, variables: Mapping[str, Any], rows: Sequence[Any]) -> None:
    """Each row's merged variables, checked by the ``variables`` field's own schema (the values were
    already walked once, as part of ``rows``: only the schema is left)."""
    from ._spec import _message, form_validator

    form = form_validator(operation)
    schema: Any = form.schema
    validator = form.evolve(schema=schema["properties"]["variables"])
    for index, row in enumerate(rows):
        error = next(validator.iter_errors(row_variables(variables, row)), None)
        if error is not None:
            error.path.appendleft("variables")  # described as the field's own error is
            raise QueryError("Invalid query options", f"rows[{index}]: {_message(error)}", {"field": "rows"})


def chunk_request(request: PortkeyRequest, inputs: Sequence[Any]) -> PortkeyRequest:
    """One embedding request of a long input: the query's own, with these inputs."""
    return dataclasses.replace(request, body={**(request.body or {}), "input": list(inputs)})


def chunked_input(request: PortkeyRequest) -> Sequence[Any] | None:
    """The input list of an embedding query that needs more than one request; None otherwise."""
    if (
        operation_facts(request.operation).runs != "chunks"
        or request.answer.single_input
        or request.body is None
    ):
        return None
    inputs = request.body.get("input")
    if not isinstance(inputs, list) or len(inputs) <= request.run.batch_size:
        return None
    return inputs


def is_several(request: PortkeyRequest) -> bool:
    """Whether run() sends this query as several requests (rows, or a long embedding input)."""
    return request.run.rows is not None or chunked_input(request) is not None


class RunningRuns:
    """A service's runs of several requests in progress, so that closing the service stops them: each
    registers how to stop it (set its stop event), and ``stop_all`` calls every one. Thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._stops: dict[int, Callable[[], None]] = {}
        self._next = 0

    def __len__(self) -> int:
        return len(self._stops)

    @contextmanager
    def running(self, stop: Callable[[], None]) -> Iterator[None]:
        with self._lock:
            key, self._next = self._next, self._next + 1
            self._stops[key] = stop
        try:
            yield
        finally:
            with self._lock:
                del self._stops[key]

    def stop_all(self) -> None:
        """Ask every run in progress to send no new request (the requests in flight finish)."""
        with self._lock:
            stops = list(self._stops.values())
        for stop in stops:
            stop()
