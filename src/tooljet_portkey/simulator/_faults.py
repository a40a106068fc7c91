"""Injected faults: a status, a Retry-After, a delay, a dropped connection, for the next N requests.

Three ways in, one shape (``Fault``): ``Simulator.inject(...)``, ``POST /_simulator/faults`` with the
same fields as JSON, and per request the header ``x-simulator-fault: status=503; retry-after=1; times=2``.
"""

from __future__ import annotations

import threading
from dataclasses import asdict, dataclass
from fnmatch import fnmatchcase
from typing import Any

__all__ = ["FAULT_HEADER", "Fault", "FaultBook", "fault_from_json", "parse_fault_header"]

FAULT_HEADER = "x-simulator-fault"


def normalize_path(path: str | None) -> str:
    """Fault paths are relative to /v1: ``/v1/chat/completions`` and ``chat/completions`` both mean
    ``/chat/completions``; ``*`` (or None) matches every path."""
    if not path or path == "*":
        return "*"
    if not path.startswith("/"):
        path = "/" + path
    if path == "/v1" or path.startswith("/v1/"):
        path = path[3:] or "/"
    return path


@dataclass(frozen=True)
class Fault:
    """What to do instead of (or before) answering.

    ``status`` None (or below 300) answers normally, after ``delay``. ``drop`` closes the connection
    without an answer, or, with ``drop_after``, a streamed answer after that many chunks; a drop wins over
    ``status``. ``times`` None means every request.
    """

    path: str = "*"
    status: int | None = 429
    retry_after: str | None = None
    delay: float = 0.0
    drop: bool = False
    body: Any = None
    times: int | None = 1
    drop_after: int | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "path", normalize_path(self.path))
        if self.status is not None and (
            isinstance(self.status, bool) or not isinstance(self.status, int) or not 100 <= self.status <= 599
        ):
            raise ValueError(f"status must be an HTTP status code (100-599), not {self.status!r}")
        if (
            isinstance(self.delay, bool)
            or not isinstance(self.delay, (int, float))
            or not 0 <= self.delay <= 600
        ):
            raise ValueError(f"delay must be a number of seconds from 0 to 600, not {self.delay!r}")
        if self.times is not None and (
            isinstance(self.times, bool) or not isinstance(self.times, int) or self.times < 1
        ):
            raise ValueError(f"times must be a positive integer or None, not {self.times!r}")
        if self.drop_after is not None and (
            isinstance(self.drop_after, bool) or not isinstance(self.drop_after, int) or self.drop_after < 0
        ):
            raise ValueError(f"drop_after must be a number of chunks (0 or more), not {self.drop_after!r}")
        if self.drop_after is not None:
            object.__setattr__(self, "drop", True)
        if self.retry_after is not None:
            object.__setattr__(self, "retry_after", str(self.retry_after))

    def matches(self, path: str) -> bool:
        return self.path == "*" or fnmatchcase(path, self.path)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


_FIELDS = {"path", "status", "retry_after", "delay", "drop", "body", "times", "drop_after"}


def fault_from_json(data: Any) -> Fault:
    """A Fault from the admin endpoint's JSON body (the fields of ``Simulator.inject``)."""
    if not isinstance(data, dict):
        raise ValueError("a fault must be a JSON object")
    unknown = sorted(set(data) - _FIELDS)
    if unknown:
        raise ValueError(f"unknown fault field(s): {', '.join(unknown)}")
    if "drop" in data and not isinstance(data["drop"], bool):
        raise ValueError("drop must be true or false")
    return Fault(**data)


def _number(key: str, text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise ValueError(f"{key} must be a number, not {text!r}") from None


def _integer(key: str, text: str) -> int:
    if not text.strip().isdigit():
        raise ValueError(f"{key} must be a whole number, not {text!r}")
    return int(text)


def parse_fault_header(text: str, path: str) -> Fault:
    """``status=503; retry-after=1; delay=0.5; times=2; drop; drop-after=3; id=any``.

    Without ``status`` the request is answered normally (after any delay or drop). ``times=N`` faults
    the first N requests that carry this exact header text (``id=...`` starts a fresh count); without it
    every such request is faulted.
    """
    fields: dict[str, Any] = {"path": path, "status": None, "times": None}
    for part in text.split(";"):
        part = part.strip()
        if not part:
            continue
        key, _, value = part.partition("=")
        key = key.strip().lower().replace("_", "-")
        value = value.strip()
        if key == "status":
            fields["status"] = _integer(key, value)
        elif key == "retry-after":
            fields["retry_after"] = value
        elif key == "delay":
            fields["delay"] = _number(key, value)
        elif key == "times":
            fields["times"] = _integer(key, value)
        elif key == "drop":
            fields["drop"] = value.lower() not in ("false", "0", "no")
        elif key == "drop-after":
            fields["drop_after"] = _integer(key, value)
        elif key == "id":
            pass
        else:
            raise ValueError(f"unknown key {key!r}")
    return Fault(**fields)


class FaultBook:
    """The faults waiting for requests, and how often each header fault has fired. Thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._queue: list[list[Any]] = []  # [fault, remaining or None]
        self._header_counts: dict[tuple[str, str], int] = {}

    def add(self, fault: Fault) -> None:
        with self._lock:
            self._queue.append([fault, fault.times])

    def pending(self) -> list[Fault]:
        with self._lock:
            return [fault for fault, _ in self._queue]

    def clear(self) -> None:
        with self._lock:
            self._queue.clear()
            self._header_counts.clear()

    def take(self, path: str) -> Fault | None:
        """The first queued fault for this path, used up once."""
        with self._lock:
            for entry in self._queue:
                fault, remaining = entry
                if fault.matches(path):
                    if remaining is not None:
                        if remaining <= 1:
                            self._queue.remove(entry)
                        else:
                            entry[1] = remaining - 1
                    return fault  # type: ignore[no-any-return]
        return None

    def take_header(self, text: str, path: str) -> Fault | None:
        """The fault a request's x-simulator-fault header asks for (ValueError when malformed)."""
        fault = parse_fault_header(text, path)
        if fault.times is None:
            return fault
        key = (text.strip(), path)
        with self._lock:
            seen = self._header_counts.get(key, 0)
            if seen >= fault.times:
                return None
            self._header_counts[key] = seen + 1
        return fault
