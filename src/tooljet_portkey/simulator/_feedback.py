"""``POST /v1/feedback``: check a feedback body as Portkey's spec describes it, and keep what was sent.

A body is one feedback object or a list of them (the SDKs' bulk form). Each needs ``trace_id`` (text)
and ``value`` (an integer from -10 to 10); ``weight`` is a number from 0 to 1 (default 1.0) and
``metadata`` an object. The answer is ``{"status": "success", "message": ..., "feedback_ids": [...]}``
with one new id per feedback, in order.
"""

from __future__ import annotations

import threading
import uuid
from dataclasses import dataclass, field
from typing import Any, TypeGuard

__all__ = ["FeedbackBook", "FeedbackError", "FeedbackRecord", "parse_feedback"]

SAVED_MESSAGE = "Feedback successfully saved"
MIN_VALUE, MAX_VALUE = -10, 10


class FeedbackError(ValueError):
    """A feedback body that breaks the spec's rules; the text names the field."""


@dataclass(frozen=True)
class FeedbackRecord:
    """One feedback as the simulator stored it: the id it answered, and the fields sent (weight 1.0
    when absent, metadata {} when absent)."""

    id: str
    trace_id: str
    value: int
    weight: float
    metadata: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "trace_id": self.trace_id,
            "value": self.value,
            "weight": self.weight,
            "metadata": self.metadata,
        }


def _number(value: Any) -> TypeGuard[int | float]:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _one(item: Any, where: str) -> FeedbackRecord:
    if not isinstance(item, dict):
        raise FeedbackError(f"{where or 'body'}: must be a JSON object")
    prefix = f"{where}." if where else ""
    trace_id = item.get("trace_id")
    if not isinstance(trace_id, str) or not trace_id.strip():
        raise FeedbackError(f"{prefix}trace_id: must be a non-empty string")
    value = item.get("value")
    if not _number(value) or not MIN_VALUE <= value <= MAX_VALUE or value != int(value):
        raise FeedbackError(f"{prefix}value: must be an integer from {MIN_VALUE} to {MAX_VALUE}")
    weight = item.get("weight", 1.0)
    if not _number(weight) or not 0 <= weight <= 1:
        raise FeedbackError(f"{prefix}weight: must be a number from 0 to 1")
    metadata = item.get("metadata", {})
    if not isinstance(metadata, dict):
        raise FeedbackError(f"{prefix}metadata: must be a JSON object")
    return FeedbackRecord(str(uuid.uuid4()), trace_id, int(value), float(weight), dict(metadata))


def parse_feedback(body: Any) -> list[FeedbackRecord]:
    """The records a body stands for (FeedbackError naming the first bad field)."""
    if isinstance(body, list):
        if not body:
            raise FeedbackError("body: a list of feedback must not be empty")
        return [_one(item, f"[{i}]") for i, item in enumerate(body)]
    return [_one(body, "")]


class FeedbackBook:
    """The feedback a simulator received, oldest first. Thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._records: list[FeedbackRecord] = []

    def add(self, records: list[FeedbackRecord]) -> dict[str, Any]:
        """Store the records and return the answer body."""
        with self._lock:
            self._records.extend(records)
        return {"status": "success", "message": SAVED_MESSAGE, "feedback_ids": [r.id for r in records]}

    def all(self) -> list[FeedbackRecord]:
        with self._lock:
            return list(self._records)

    def clear(self) -> None:
        with self._lock:
            self._records.clear()
