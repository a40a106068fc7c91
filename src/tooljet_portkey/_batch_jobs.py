"""Batch jobs: a table handed whole to the provider's Batch API through Portkey, polled, read back. Pure,
no I/O; ``_run_batch_jobs`` sends the requests.

- ``batch_submit``: each row becomes one JSONL line ``{custom_id, method, url, body}`` whose body is the
  request the ``endpoint``'s operation (chat, completion, create_embedding) would send for the row laid
  over the form, each row checked as a table run checks it (``validate_row``, then as a whole query),
  before anything is sent; the file's size is checked against OpenAI's limit before it is uploaded
  (``POST /files``, multipart, ``purpose=batch``), then ``POST /batches`` creates the batch.
- ``batch_status`` and ``batch_cancel``: the batch object, and in ``metadata`` its status and counts.
- ``batch_results``: the batch, then its output (and error) file read as JSONL, line by line, into the
  table-run entry shape, each row's answer under the query's output mode.

Rows have a ``custom_id`` each (``row-<i>`` unless the row gives its own; unique): the provider answers
lines in any order, and the id is how an answer finds its row.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ._bodies import row_body, row_params
from ._constants import (
    DEFAULT_COMPLETION_WINDOW,
    MAX_BATCH_FILE_BYTES,
    MAX_BATCH_REQUESTS,
    MAX_CUSTOM_ID_CHARS,
)
from ._errors import QueryError
from ._operations import fill_path, names_where, operation
from ._spec import INVALID_OPTIONS, in_row, invalid_option

__all__ = [
    "BATCH_OPERATIONS",
    "FINISHED",
    "BatchPlan",
    "batch_counts",
    "batch_lines",
    "default_row",
    "not_finished",
]

BATCH_OPERATIONS = names_where(batch_job=True)
# endpoint -> (the operation each line is a request of, the line's url)
ENDPOINTS: Mapping[str, tuple[str, str]] = {
    endpoint: (name, "/v1" + operation(name).path)
    for endpoint, name in (("chat", "chat"), ("completion", "completion"), ("embedding", "create_embedding"))
}
# The fields of batch_submit that shape the batch, not a line's body
SUBMIT_FIELDS = frozenset({"endpoint", "rows", "completion_window", "metadata", "config", "virtualKey"})
# What a row may not set: the batch's own fields, and what a batch line cannot carry (headers, a stream)
_NOT_PER_ROW = frozenset(
    {"rows", "concurrency", "failOnError", "maxRunSeconds", "stream", "output", "metadata", "config",
     "virtualKey", "traceId", "cacheNamespace", "cacheForceRefresh", "batch_size"}
)  # fmt: skip
# A batch's statuses after which nothing more will be answered
FINISHED = frozenset({"completed", "failed", "expired", "cancelled"})
_DEFAULT_ID_PREFIX = "row-"
# A line of the input file: compact JSON, UTF-8 as it is (json.dumps with these arguments, its encoder
# built once rather than once a line)
_LINE_JSON = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False)


@dataclass(frozen=True)
class BatchPlan:
    """What a batch query does after its first request: ``submit`` creates the batch from the uploaded
    file (``create``: the ``POST /batches`` body, its ``input_file_id`` filled in once known);
    ``results`` reads the batch's files. ``rows``: how many lines the input file holds."""

    kind: str
    create: Mapping[str, Any] | None = None
    rows: int = 0
    batch_id: str = ""

    def __repr__(self) -> str:
        return f"BatchPlan({self.kind}, rows={self.rows})"


def _text_row(name: str) -> str:
    field = operation(name).text_row
    assert field is not None, name  # every endpoint's operation takes a row as text
    return field


def create_path() -> str:
    """``POST /batches``: what a submit sends once its file is uploaded."""
    return operation("batch_submit").then[0]


def file_content_path(file_id: str) -> str:
    """``GET /files/{id}/content``: what results read, for the output and the error file."""
    return fill_path(operation("batch_results").then[0], {"id": file_id})


def default_row(custom_id: str) -> int | None:
    """The row number of a default custom id (``row-12`` -> 12); None for an id of the row's own."""
    number = custom_id.removeprefix(_DEFAULT_ID_PREFIX)
    if number == custom_id or not number.isascii() or not number.isdigit() or str(int(number)) != number:
        return None
    return int(number)


def _custom_id(row: Any, index: int) -> str:
    """The row's ``custom_id``: its own (a non-empty text without control characters), else ``row-<i>``."""
    given = row.get("custom_id") if isinstance(row, dict) else None
    if given is None:
        return f"{_DEFAULT_ID_PREFIX}{index}"
    if (
        not isinstance(given, str)
        or not given.strip()
        or len(given) > MAX_CUSTOM_ID_CHARS
        or any(ord(c) < 32 or ord(c) == 127 for c in given)
    ):
        raise QueryError(
            INVALID_OPTIONS,
            f"rows[{index}].custom_id: must be a text of 1 to {MAX_CUSTOM_ID_CHARS} characters, "
            "without control characters",
            {"field": "rows"},
        )
    return given


def _row_fields(operation: str, row: Any, index: int) -> dict[str, Any]:
    """A row's own fields, checked as a table run checks them; a text is the row's prompt (an
    embedding's input)."""
    from ._spec import validate_row

    if isinstance(row, str):
        row = {_text_row(operation): row}
    else:
        row = {key: value for key, value in row.items() if key != "custom_id"}
    return validate_row(operation, row, f"rows[{index}]", _NOT_PER_ROW)


def _form(operation: str, endpoint: str, params: Mapping[str, Any]) -> dict[str, Any]:
    """The form's fields every line starts from; a field the endpoint's operation does not have is
    refused by name (``system_prompt`` with ``embedding``)."""
    from ._spec import load_spec

    known = {f.key for f in load_spec().operations[operation]}
    form: dict[str, Any] = {}
    for key, value in params.items():
        if key in SUBMIT_FIELDS:
            continue
        if key not in known:
            raise invalid_option(key, f"is not a field of {endpoint} requests (endpoint: {endpoint})")
        form[key] = value
    return form


def _line_body(operation: str, form: Mapping[str, Any], row: Mapping[str, Any], index: int) -> Any:
    """The body row ``index`` sends, as the operation's request would be built; a rule the row breaks
    names the row, one the form breaks alone names the form's field."""
    try:
        body = row_body(operation, row_params(form, row))
    except QueryError as err:
        field = err.data.get("field")
        raise (err if field in form and field not in row else in_row(err, f"rows[{index}]")) from None
    body.pop("stream", None)  # a batch line's answer is read whole
    body.pop("stream_options", None)
    return body


def batch_lines(params: Mapping[str, Any]) -> tuple[bytes, list[str], dict[str, Any]]:
    """The input file of a ``batch_submit`` query (JSONL, UTF-8), the rows' custom ids in order, and
    the ``POST /batches`` body without its ``input_file_id``. Every row is checked, the custom ids are
    unique, and the file is at most ``MAX_BATCH_FILE_BYTES``, before anything is sent."""
    endpoint = params.get("endpoint", "chat")
    operation, url = ENDPOINTS[endpoint]
    form = _form(operation, endpoint, params)
    rows: Sequence[Any] = params["rows"]
    if len(rows) > MAX_BATCH_REQUESTS:  # the schema's maxItems says the same; kept for direct callers
        raise invalid_option("rows", f"a batch holds at most {MAX_BATCH_REQUESTS} requests, not {len(rows)}")
    seen: dict[str, int] = {}
    parts: list[bytes] = []
    size = 0
    for index, row in enumerate(rows):
        custom_id = _custom_id(row, index)
        if custom_id in seen:
            raise QueryError(
                INVALID_OPTIONS,
                f"rows[{index}].custom_id: {json.dumps(custom_id)[:80]} is also rows[{seen[custom_id]}]'s: "
                "custom ids must be unique",
                {"field": "rows"},
            )
        seen[custom_id] = index
        body = _line_body(operation, form, _row_fields(operation, row, index), index)
        line = {"custom_id": custom_id, "method": "POST", "url": url, "body": body}
        part = _LINE_JSON.encode(line).encode() + b"\n"
        size += len(part)
        if size > MAX_BATCH_FILE_BYTES:
            raise invalid_option(
                "rows",
                f"the batch file would be larger than {MAX_BATCH_FILE_BYTES // 1_000_000} MB, the most a "
                f"batch file may hold (at rows[{index}]): split the rows into several batches",
            )
        parts.append(part)
    create: dict[str, Any] = {
        "endpoint": url,
        "completion_window": params.get("completion_window", DEFAULT_COMPLETION_WINDOW),
    }
    if "metadata" in params:
        create["metadata"] = params["metadata"]
    return b"".join(parts), list(seen), create


# ---------------------------------------------------------------------------------------------------
# Reading a batch


def _count(value: Any) -> int:
    return value if type(value) is int and value >= 0 else 0


def batch_counts(batch: Any) -> dict[str, Any]:
    """What a progress bar binds: ``status``, ``total``, ``completed``, ``failed``, ``progress`` (0 to
    100, the share of requests answered) and ``finished``."""
    data = batch if isinstance(batch, dict) else {}
    counts = data.get("request_counts")
    counts = counts if isinstance(counts, dict) else {}
    total, completed, failed = (_count(counts.get(key)) for key in ("total", "completed", "failed"))
    status = data.get("status") if isinstance(data.get("status"), str) else "unknown"
    progress = min(100, (completed + failed) * 100 // total) if total else (100 if status in FINISHED else 0)
    return {
        "status": status,
        "total": total,
        "completed": completed,
        "failed": failed,
        "progress": progress,
        "finished": status in FINISHED,
    }


def not_finished(batch: Any, batch_id: str) -> QueryError | None:
    """The error of reading a batch's results before there are any to read: not finished yet (its
    status named), or failed as a whole (its errors, e.g. a line the provider refused). It comes from
    Portkey's answer, so it names no ``field`` (a field-named error is one refused before sending)."""
    counts = batch_counts(batch)
    status = counts["status"]
    if status == "failed" and not _file_id(batch, "output_file_id"):
        return QueryError(
            "Batch failed",
            f"batchId: batch {batch_id} failed: {_batch_errors(batch)}",
            {"status": status, "errorType": "batch_failed"},
        )
    if status in FINISHED:
        return None
    done = counts["completed"] + counts["failed"]
    return QueryError(
        "Batch not finished",
        f"batchId: batch {batch_id} is {status} ({done} of {counts['total']} requests answered): read its "
        "results once batch_status says completed",
        {"status": status, "errorType": "batch_not_finished"},
    )


def _batch_errors(batch: Any) -> str:
    errors = batch.get("errors") if isinstance(batch, dict) else None
    items = errors.get("data") if isinstance(errors, dict) else None
    texts = []
    for item in items if isinstance(items, list) else ():
        if isinstance(item, dict) and isinstance(item.get("message"), str):
            line = item.get("line")
            texts.append(f"line {line}: {item['message']}" if type(line) is int else item["message"])
    return "; ".join(texts[:5]) or "the provider gave no reason"


def _file_id(batch: Any, key: str) -> str | None:
    value = batch.get(key) if isinstance(batch, dict) else None
    return value if isinstance(value, str) and value else None


def result_files(batch: Any) -> list[str]:
    """The files a finished batch's answers are in: its output file, then its error file."""
    return [f for f in (_file_id(batch, "output_file_id"), _file_id(batch, "error_file_id")) if f]


def input_file(batch: Any) -> str | None:
    """The batch's input file: where a row's own custom id finds its row number."""
    return _file_id(batch, "input_file_id")


class JsonLines:
    """A JSONL body read as it arrives (``PortkeyRequest.lines``): each complete line is parsed strictly
    into ``items``, so a file of 50,000 answers is never held whole nor parsed as one value. A line that
    is not JSON is None; blank lines are skipped. A read that is retried starts over (``reset``)."""

    def __init__(self) -> None:
        self._partial = bytearray()
        self.items: list[Any] = []

    def reset(self) -> None:
        self._partial.clear()
        self.items = []

    def feed(self, data: bytes) -> None:
        start = 0
        while (end := data.find(b"\n", start)) != -1:
            if self._partial:
                self._partial += data[start:end]
                self._line(bytes(self._partial))
                self._partial.clear()
            else:
                self._line(data[start:end])
            start = end + 1
        self._partial += data[start:]

    def end(self) -> None:
        line = bytes(self._partial)
        self._partial.clear()
        self._line(line)

    def _line(self, line: bytes) -> None:
        from ._values import loads_strict

        line = line.strip()
        if not line:
            return
        try:
            value = loads_strict(line)
        except ValueError:
            value = None
        self.items.append(value)
