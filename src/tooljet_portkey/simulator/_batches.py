"""Files and batches, kept in memory: OpenAI's Batch API as Portkey routes it (``/v1/files``,
``/v1/batches``).

- ``POST /files`` (multipart: ``file`` and ``purpose``) keeps the file; ``GET /files/{id}`` and
  ``GET /files/{id}/content`` give it back.
- ``POST /batches`` checks its body as OpenAI does (an uploaded ``batch`` file, a known endpoint, the
  ``24h`` window) and answers ``validating``. The lines are checked as OpenAI checks them (JSON, a
  unique ``custom_id``, ``POST``, the batch's endpoint as ``url``, an object ``body``): a file with bad
  lines fails the batch, with ``errors`` naming each line.
- A batch then moves from ``validating`` to ``in_progress`` to ``completed`` over ``seconds``
  (``Simulator(batch_seconds=...)``; 0 by default, so a test's first poll sees it completed), read from
  ``clock`` at each poll. On completion every line is answered as the simulator answers the same request
  sent directly (the same models, rules and refusals): 2xx answers go to the output file, the others to
  the error file.
- ``POST /batches/{id}/cancel`` cancels a batch not finished (``cancelling``, then ``cancelled``: the lines
  answered by then are in its files); ``GET /batches?limit&after`` lists the batches, newest first.
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from email.parser import BytesParser
from email.policy import HTTP
from typing import Any

from ._rules import SimError, provider_error

__all__ = ["BatchBook", "BatchReply"]

BATCH_ENDPOINTS = frozenset({"/v1/chat/completions", "/v1/completions", "/v1/embeddings", "/v1/responses"})
WINDOWS = frozenset({"24h"})
MAX_LIST = 100
DEFAULT_LIST = 20
DUPLICATE_ID = (
    "The custom_id for this request is a duplicate of another request. "
    "The custom_id parameter must be unique for each request in a batch."
)
FINISHED = frozenset({"completed", "failed", "expired", "cancelled"})
# Answers one line the way the simulator answers the same request sent directly: (status, body).
Answer = Callable[[str, Any], tuple[int, Any]]


@dataclass
class BatchReply:
    """What the handler sends: a status, and a JSON body or a file's bytes."""

    status: int
    body: Any = None
    content: bytes | None = None


@dataclass
class _File:
    id: str
    filename: str
    purpose: str
    content: bytes
    created_at: int

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "object": "file",
            "bytes": len(self.content),
            "created_at": self.created_at,
            "filename": self.filename,
            "purpose": self.purpose,
            "status": "processed",
        }


@dataclass
class _Batch:
    id: str
    endpoint: str
    input_file_id: str
    completion_window: str
    metadata: Any
    created_at: int
    started: float  # clock() at creation
    lines: list[tuple[str, Any]]  # (custom_id, body) of each valid line
    answer: Answer
    errors: list[dict[str, Any]] = field(default_factory=list)
    status: str = "validating"
    answered: int = 0  # lines answered so far (into the files)
    output: list[bytes] = field(default_factory=list)
    failed: list[bytes] = field(default_factory=list)
    output_file_id: str | None = None
    error_file_id: str | None = None
    times: dict[str, int | None] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        done_failed = len(self.failed)
        return {
            "id": self.id,
            "object": "batch",
            "endpoint": self.endpoint,
            "errors": {"object": "list", "data": self.errors} if self.errors else None,
            "input_file_id": self.input_file_id,
            "completion_window": self.completion_window,
            "status": self.status,
            "output_file_id": self.output_file_id,
            "error_file_id": self.error_file_id,
            "created_at": self.created_at,
            **{f"{name}_at": self.times.get(name) for name in _TIMES},
            "request_counts": {
                "total": len(self.lines) if not self.errors else 0,
                "completed": self.answered - done_failed,
                "failed": done_failed,
            },
            "metadata": self.metadata,
        }


_TIMES = ("in_progress", "expires", "finalizing", "completed", "failed", "expired", "cancelling", "cancelled")


def _new_id(prefix: str) -> str:
    return f"{prefix}{uuid.uuid4().hex[:24]}"


def _multipart(content_type: str, raw: bytes) -> dict[str, tuple[str | None, bytes]]:
    """The parts of a multipart/form-data body: name -> (filename, bytes)."""
    if not content_type.lower().startswith("multipart/form-data"):
        return {}
    message = BytesParser(policy=HTTP).parsebytes(
        b"content-type: " + content_type.encode() + b"\r\n\r\n" + raw
    )
    parts: dict[str, tuple[str | None, bytes]] = {}
    for part in message.iter_parts() if message.is_multipart() else ():
        name = part.get_param("name", header="content-disposition")
        payload = part.get_payload(decode=True)
        if isinstance(name, str) and isinstance(payload, bytes):
            parts[name] = (part.get_filename(), payload)
    return parts


def _line_error(
    line: int, message: str, code: str = "invalid_request", param: str | None = None
) -> dict[str, Any]:
    return {"code": code, "message": message, "param": param, "line": line}


def check_lines(content: bytes, endpoint: str) -> tuple[list[tuple[str, Any]], list[dict[str, Any]]]:
    """The valid lines of an input file (custom id, body), and the errors of the bad ones (1-based
    line numbers), as OpenAI's validation reports them."""
    lines: list[tuple[str, Any]] = []
    errors: list[dict[str, Any]] = []
    seen: set[str] = set()
    for number, raw in enumerate(content.splitlines(), start=1):
        if not raw.strip():
            continue
        try:
            line = json.loads(raw)
        except ValueError:
            errors.append(_line_error(number, "This line is not parseable as valid JSON."))
            continue
        if not isinstance(line, dict):
            errors.append(_line_error(number, "Each line must be a JSON object."))
            continue
        custom_id = line.get("custom_id")
        if not isinstance(custom_id, str) or not custom_id:
            errors.append(
                _line_error(number, "Each line needs a custom_id.", "missing_required_parameter", "custom_id")
            )
        elif custom_id in seen:
            errors.append(_line_error(number, DUPLICATE_ID, "duplicate_custom_id", "custom_id"))
        elif line.get("method") != "POST":
            errors.append(_line_error(number, "The method must be POST.", "invalid_value", "method"))
        elif line.get("url") != endpoint:
            errors.append(_line_error(number, f"The url must be the batch's endpoint, {endpoint}.",
                                      "mismatched_endpoint", "url"))  # fmt: skip
        elif not isinstance(line.get("body"), dict):
            errors.append(_line_error(number, "The body must be a JSON object.", "invalid_value", "body"))
        else:
            seen.add(custom_id)
            lines.append((custom_id, line["body"]))
    if not lines and not errors:
        errors.append(_line_error(1, "The input file holds no requests.", "empty_file"))
    return lines, errors


class BatchBook:
    """The files and batches one simulator holds. Thread-safe."""

    def __init__(self, seconds: float = 0.0, clock: Callable[[], float] = time.monotonic) -> None:
        if seconds < 0:
            raise ValueError("batch_seconds must be 0 or more")
        self.seconds = seconds
        self.clock = clock
        self._lock = threading.Lock()
        self._files: dict[str, _File] = {}
        self._batches: dict[str, _Batch] = {}

    def clear(self) -> None:
        with self._lock:
            self._files.clear()
            self._batches.clear()

    # -- files ---------------------------------------------------------------------------------------

    def upload(self, content_type: str, raw: bytes) -> BatchReply:
        parts = _multipart(content_type, raw)
        if "file" not in parts:
            raise provider_error(400, "'file' is a required property", param="file")
        purpose = parts.get("purpose", (None, b""))[1].decode("utf-8", "replace")
        if purpose not in ("batch", "fine-tune", "assistants", "user_data", "evals", "vision"):
            raise provider_error(400, f"'{purpose}' is not one of the supported purposes", param="purpose")
        filename, content = parts["file"]
        file = _File(_new_id("file-"), filename or "file", purpose, content, int(time.time()))
        with self._lock:
            self._files[file.id] = file
        return BatchReply(200, file.to_json())

    def _file(self, file_id: str) -> _File:
        file = self._files.get(file_id)
        if file is None:
            raise provider_error(404, f"No such File object: {file_id}", param="id")
        return file

    def file(self, file_id: str, content: bool) -> BatchReply:
        with self._lock:
            for batch in self._batches.values():
                self._advance(batch)
            found = self._file(file_id)
        return BatchReply(200, content=found.content) if content else BatchReply(200, found.to_json())

    # -- batches -------------------------------------------------------------------------------------

    def create(self, body: Any, answer: Answer) -> BatchReply:
        if not isinstance(body, dict):
            raise provider_error(400, "We could not parse the JSON body of your request.")
        for key in ("input_file_id", "endpoint", "completion_window"):
            if not isinstance(body.get(key), str):
                raise provider_error(400, f"Missing required parameter: '{key}'.", param=key)
        if body["endpoint"] not in BATCH_ENDPOINTS:
            raise provider_error(400, f"Invalid value: '{body['endpoint']}'. Supported values are: "
                                 f"{', '.join(sorted(BATCH_ENDPOINTS))}.", param="endpoint")  # fmt: skip
        if body["completion_window"] not in WINDOWS:
            raise provider_error(400, f"Invalid value: '{body['completion_window']}'. Supported values are: "
                                 "'24h'.", param="completion_window")  # fmt: skip
        metadata = body.get("metadata")
        if metadata is not None and (not isinstance(metadata, dict) or len(metadata) > 16):
            raise provider_error(400, "metadata must be an object of at most 16 pairs", param="metadata")
        with self._lock:
            file = self._file(body["input_file_id"])
            if file.purpose != "batch":
                raise provider_error(400, "The file's purpose must be 'batch'.", param="input_file_id")
            lines, errors = check_lines(file.content, body["endpoint"])
            batch = _Batch(
                _new_id("batch_"), body["endpoint"], file.id, body["completion_window"], metadata,
                int(time.time()), self.clock(), lines, answer, errors,
            )  # fmt: skip
            batch.times["expires"] = batch.created_at + 86_400
            self._batches[batch.id] = batch
            return BatchReply(200, batch.to_json())

    def _batch(self, batch_id: str) -> _Batch:
        batch = self._batches.get(batch_id)
        if batch is None:
            raise provider_error(404, f"No batch found with id '{batch_id}'.", param="batch_id")
        return batch

    def get(self, batch_id: str) -> BatchReply:
        with self._lock:
            batch = self._batch(batch_id)
            self._advance(batch)
            return BatchReply(200, batch.to_json())

    def cancel(self, batch_id: str) -> BatchReply:
        with self._lock:
            batch = self._batch(batch_id)
            self._advance(batch)
            if batch.status in FINISHED or batch.status == "cancelling":
                raise provider_error(409, f"Cannot cancel a batch with status '{batch.status}'.")
            batch.status = "cancelling"
            batch.times["cancelling"] = int(time.time())
            return BatchReply(200, batch.to_json())

    def list(self, query: Mapping[str, str]) -> BatchReply:
        limit_text = query.get("limit", str(DEFAULT_LIST))
        if not limit_text.isdigit() or not 1 <= int(limit_text) <= MAX_LIST:
            raise provider_error(400, f"limit must be an integer from 1 to {MAX_LIST}", param="limit")
        limit = int(limit_text)
        with self._lock:
            newest = list(reversed(self._batches.values()))
            after = query.get("after")
            if after is not None:
                ids = [batch.id for batch in newest]
                newest = newest[ids.index(after) + 1 :] if after in ids else []
            for batch in newest[:limit]:
                self._advance(batch)
            page = [batch.to_json() for batch in newest[:limit]]
        return BatchReply(
            200,
            {
                "object": "list",
                "data": page,
                "first_id": page[0]["id"] if page else None,
                "last_id": page[-1]["id"] if page else None,
                "has_more": len(newest) > limit,
            },
        )

    # -- time ----------------------------------------------------------------------------------------

    def _advance(self, batch: _Batch) -> None:
        """Move a batch on to where ``seconds`` after its creation puts it (under the lock)."""
        if batch.status in FINISHED:
            return
        now = int(time.time())
        if batch.status == "cancelling":
            self._finish(batch, "cancelled", now)
            return
        if batch.errors:
            batch.status = "failed"
            batch.times["failed"] = now
            return
        elapsed = self.clock() - batch.started
        if elapsed >= self.seconds:
            self._answer(batch, len(batch.lines))
            self._finish(batch, "completed", now)
        elif elapsed >= self.seconds / 3:
            if batch.status == "validating":
                batch.status = "in_progress"
                batch.times["in_progress"] = now
            share = (elapsed - self.seconds / 3) / (self.seconds * 2 / 3)
            self._answer(batch, int(len(batch.lines) * share))

    def _answer(self, batch: _Batch, upto: int) -> None:
        """Answer the lines up to ``upto`` (as the simulator answers them directly)."""
        for custom_id, body in batch.lines[batch.answered : upto]:
            status, answer = batch.answer(batch.endpoint, body)
            line = {
                "id": _new_id("batch_req_"),
                "custom_id": custom_id,
                "response": {"status_code": status, "request_id": _new_id("req_"), "body": answer},
                "error": None,
            }
            text = json.dumps(line, ensure_ascii=False, separators=(",", ":")).encode() + b"\n"
            (batch.output if 200 <= status < 300 else batch.failed).append(text)
        batch.answered = max(batch.answered, upto)

    def _finish(self, batch: _Batch, status: str, now: int) -> None:
        batch.status = status
        batch.times["finalizing" if status == "completed" else status] = now
        batch.times[status] = now
        if batch.output:
            batch.output_file_id = self._keep(b"".join(batch.output))
        if batch.failed:
            batch.error_file_id = self._keep(b"".join(batch.failed))

    def _keep(self, content: bytes) -> str:
        file = _File(_new_id("file-"), "batch_output.jsonl", "batch_output", content, int(time.time()))
        self._files[file.id] = file
        return file.id


def answer_of(reply: Callable[[], Any]) -> tuple[int, Any]:
    """(status, body) of a direct answer, a refusal included."""
    try:
        result = reply()
    except SimError as err:
        return err.status, err.body
    return result.status, result.body
