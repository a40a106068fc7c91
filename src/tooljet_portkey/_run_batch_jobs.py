"""Send a batch job's requests through a service's pooled client (the pure half is ``_batch_jobs``).

- ``batch_submit``: ``POST /files`` (the rows' JSONL), then ``POST /batches`` with the file's id. The
  QueryResult's ``data`` is Portkey's batch object; ``metadata.batch`` is ``{id, inputFileId, rows}``.
- ``batch_results``: ``GET /batches/{id}``; a batch not finished is a QueryError naming its status;
  then ``GET /files/{id}/content`` for its output file and its error file, each read line by line into
  one entry per row (``{row, customId, status, output, usage, cost}`` or ``{row, customId, status:
  failed, error}``), in submit order. Each row's ``cost`` is at the batch prices (docs/cost.md), and
  ``metadata.cost`` is their sum.

Every answer is read within the connection's answer cap and its timeout, as any other query's.
Loaded only when a query is a batch job.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any, cast

from ._batch import add_usage
from ._batch_jobs import (
    JsonLines,
    batch_counts,
    create_path,
    default_row,
    file_content_path,
    input_file,
    not_finished,
    result_files,
)
from ._cost import answer_cost, connection_prices, sum_costs
from ._errors import QUERY_FAILED_TITLE, QueryError
from ._mapping import to_query_error
from ._output import shape_answer
from ._requests import PortkeyRequest
from ._responses import PortkeyResponse, response_metadata, status_error
from ._secrets import redact, redact_json
from ._settings import ConnectionSettings
from ._types import QueryResult

if TYPE_CHECKING:
    from ._client import AsyncPortkeyClient, PortkeyClient

__all__ = ["arun_batch_job", "run_batch_job"]


def _metadata(response: PortkeyResponse, request: PortkeyRequest) -> dict[str, Any]:
    return response_metadata(response.status_code, response.headers, response.retries, request.secrets())


def _object_id(response: PortkeyResponse, what: str) -> str:
    """The ``id`` of a created file or batch; an answer without one is the query's failure."""
    data = response.data
    value = data.get("id") if isinstance(data, dict) else None
    if not isinstance(value, str) or not value:
        raise QueryError(QUERY_FAILED_TITLE, f"Portkey's answer to creating the {what} holds no id", {})
    return value


def _create_request(request: PortkeyRequest, file_id: str) -> PortkeyRequest:
    plan = request.batch
    body = {"input_file_id": file_id, **((plan.create if plan else None) or {})}
    return PortkeyRequest("POST", create_path(), request.headers, body, False, request.operation)


def _submitted(request: PortkeyRequest, file_id: str, created: PortkeyResponse) -> QueryResult:
    meta = _metadata(created, request)
    rows = request.batch.rows if request.batch else 0
    meta["batch"] = {"id": _object_id(created, "batch"), "inputFileId": file_id, "rows": rows}
    meta.update(batch_counts(created.data))
    return cast(QueryResult, {"status": "ok", "data": created.data, "metadata": meta})


def _file_request(request: PortkeyRequest, file_id: str) -> PortkeyRequest:
    headers = {**request.headers, "accept": "application/jsonl, application/json"}
    path = file_content_path(file_id)
    return PortkeyRequest("GET", path, headers, None, False, request.operation, lines=JsonLines())


def _finished(request: PortkeyRequest, batch: PortkeyResponse) -> None:
    error = not_finished(batch.data, request.batch.batch_id if request.batch else "")
    if error is not None:
        meta = _metadata(batch, request)
        error.data.update(statusCode=meta.get("statusCode"), traceId=meta.get("traceId"))
        secrets = request.secrets()  # the batch id quoted is what the query typed: a pasted key is hidden
        raise QueryError(error.message, redact(error.description, secrets), redact_json(error.data, secrets))


def _line_error(line: Mapping[str, Any], settings: ConnectionSettings, request: PortkeyRequest) -> QueryError:
    """A failed line's error, as a table run's failed row gives it: the provider's error answer mapped
    as any error answer is, or the batch's own error for the line (``{code, message}``)."""
    response = line.get("response")
    if (
        isinstance(response, dict)
        and type(response.get("status_code")) is int
        and response["status_code"] >= 400
    ):
        content = json.dumps(response.get("body")).encode()
        return to_query_error(status_error(response["status_code"], {}, content), settings, request)
    error = line.get("error")
    error = error if isinstance(error, dict) else {}
    said = error.get("message")
    message = said if isinstance(said, str) else "the provider gave no reason"
    secrets = settings.secrets + request.secrets()
    data = {
        "statusCode": None,
        "errorType": error.get("code") if isinstance(error.get("code"), str) else None,
    }
    return QueryError(QUERY_FAILED_TITLE, redact(message, secrets), redact_json(data, secrets))


class _BatchPrices:
    """Prices a finished batch's rows at the batch prices: the provider Portkey named for the batch,
    else the connection's; the connection's own ``batchInput``/``batchOutput`` first. Keeps each
    distinct warning of a row that could not be priced."""

    def __init__(self, settings: ConnectionSettings, batch_meta: Mapping[str, Any]) -> None:
        named = batch_meta.get("provider")
        self.provider = named if isinstance(named, str) else settings.provider
        self.own = connection_prices(settings.prices, batch=True)
        self.warnings: dict[str, None] = {}

    def __call__(self, body: Any) -> dict[str, Any] | None:
        body = body if isinstance(body, dict) else {}
        meta = {"model": body.get("model"), "usage": body.get("usage")}
        cost, warning = answer_cost("batch_results", body, body, meta, self.provider, self.own, batch=True)
        if warning is not None:
            self.warnings[warning] = None
        return cost


def _entry(
    line: Any,
    settings: ConnectionSettings,
    request: PortkeyRequest,
    deadline: float | None,
    price: _BatchPrices,
) -> dict[str, Any]:
    """One row's entry from one line of an output or error file."""
    if not isinstance(line, dict) or not isinstance(line.get("custom_id"), str):
        error = QueryError(QUERY_FAILED_TITLE, "a line of the batch's files is not a batch answer", {})
        return {"row": None, "customId": None, "status": "failed", "error": _error_json(error)}
    custom_id = line["custom_id"]
    entry: dict[str, Any] = {"row": default_row(custom_id), "customId": custom_id}
    response = line.get("response")
    ok = isinstance(response, dict) and response.get("status_code") == 200 and line.get("error") is None
    if not ok:
        return {**entry, "status": "failed", "error": _error_json(_line_error(line, settings, request))}
    body = response.get("body") if isinstance(response, dict) else None
    try:
        output, _ = shape_answer(request.answer, body, deadline)
    except QueryError as err:
        return {**entry, "status": "failed", "error": _error_json(err)}
    usage = body.get("usage") if isinstance(body, dict) and isinstance(body.get("usage"), dict) else None
    return {**entry, "status": "ok", "output": output, "usage": usage, "cost": price(body)}


def _error_json(error: QueryError) -> dict[str, Any]:
    return {"message": error.message, "description": error.description, "data": error.data}


def _order(entry: Mapping[str, Any]) -> tuple[int, int]:
    row = entry["row"]
    return (0, row) if isinstance(row, int) else (1, 0)


def _entries(
    request: PortkeyRequest,
    settings: ConnectionSettings,
    contents: Iterable[PortkeyResponse],
    price: _BatchPrices,
) -> list[dict[str, Any]]:
    """One entry per line of the batch's output and error files (each read line by line as it arrived:
    its data is the lines' parsed values)."""
    entries: list[dict[str, Any]] = []
    for content in contents:
        lines = content.data if isinstance(content.data, list) else []
        entries.extend(_entry(line, settings, request, content.deadline, price) for line in lines)
    return entries


def _own_ids(batch: PortkeyResponse, entries: list[dict[str, Any]]) -> str | None:
    """The input file to read for the rows' order: only when a row gave its own custom id."""
    if all(entry["row"] is not None or entry["customId"] is None for entry in entries):
        return None
    return input_file(batch.data)


def _in_submit_order(entries: list[dict[str, Any]], input_content: PortkeyResponse | None) -> None:
    """Each entry's ``row`` (its line in the input file) and the entries in that order; a row's own
    custom id is found in the input file, a default id (``row-<i>``) says its row itself."""
    if input_content is not None and isinstance(input_content.data, list):
        rows = {
            line["custom_id"]: index
            for index, line in enumerate(input_content.data)
            if isinstance(line, dict) and isinstance(line.get("custom_id"), str)
        }
        for entry in entries:
            if entry["row"] is None and entry["customId"] in rows:
                entry["row"] = rows[entry["customId"]]
    entries.sort(key=_order)  # stable: a line of no known row keeps the files' order, last


def _results(
    request: PortkeyRequest, batch: PortkeyResponse, entries: list[dict[str, Any]], price: _BatchPrices
) -> QueryResult:
    """The rows of a finished batch, and the run's counts, usage and cost in metadata: each row's
    ``cost`` becomes its dollars (None: it could not be priced), the run's is their exact sum."""
    meta = _metadata(batch, request)
    usage: dict[str, Any] = {}
    costs: list[dict[str, Any] | None] = []
    for entry in entries:
        if entry["status"] == "ok":
            usage = add_usage(usage, entry.get("usage") or {})
            costs.append(entry["cost"])
            entry["cost"] = entry["cost"]["total"] if entry["cost"] is not None else None
    succeeded = len(costs)
    meta.update(batch_counts(batch.data))
    meta.update(
        {
            "rows": len(entries),
            "succeeded": succeeded,
            "failed": len(entries) - succeeded,
            "usage": usage,
            "batch": {"id": request.batch.batch_id if request.batch else None},
            "cost": sum_costs(costs) if costs else None,
        }
    )
    if price.warnings:
        meta.setdefault("warnings", []).extend(price.warnings)
    return cast(QueryResult, {"status": "ok", "data": entries, "metadata": meta})


# -- threads --------------------------------------------------------------------------------------------


def run_batch_job(
    client: PortkeyClient, settings: ConnectionSettings, request: PortkeyRequest
) -> QueryResult:
    """The QueryResult of a batch job query: its first request, then what its plan asks."""
    plan = request.batch
    first = client.send(request)
    if plan is not None and plan.kind == "submit":
        file_id = _object_id(first, "batch file")
        return _submitted(request, file_id, client.send(_create_request(request, file_id)))
    _finished(request, first)
    files = [client.send(_file_request(request, file_id)) for file_id in result_files(first.data)]
    price = _BatchPrices(settings, _metadata(first, request))
    entries = _entries(request, settings, files, price)
    input_id = _own_ids(first, entries)
    _in_submit_order(entries, client.send(_file_request(request, input_id)) if input_id else None)
    return _results(request, first, entries, price)


# -- asyncio --------------------------------------------------------------------------------------------


async def arun_batch_job(
    client: AsyncPortkeyClient, settings: ConnectionSettings, request: PortkeyRequest
) -> QueryResult:
    """The asyncio twin of ``run_batch_job``."""
    plan = request.batch
    first = await client.send(request)
    if plan is not None and plan.kind == "submit":
        file_id = _object_id(first, "batch file")
        return _submitted(request, file_id, await client.send(_create_request(request, file_id)))
    _finished(request, first)
    files = [await client.send(_file_request(request, file_id)) for file_id in result_files(first.data)]
    price = _BatchPrices(settings, _metadata(first, request))
    entries = _entries(request, settings, files, price)
    input_id = _own_ids(first, entries)
    _in_submit_order(entries, await client.send(_file_request(request, input_id)) if input_id else None)
    return _results(request, first, entries, price)
