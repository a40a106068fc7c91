"""How fast the simulator answers: a latency for every answer, and a rate limit that answers 429.

- ``latency_ms``: every API request that is answered waits this long first (a refused one does not: a
  rate limit refuses at once, as a real one does). Admin requests never wait.
- ``RateLimit(requests, window)``: at most ``requests`` API requests in each **fixed window** of
  ``window`` seconds (60 for ``N/min``). The first window starts with the first request; each later one
  starts where the last ended, so windows are ``[t0, t0 + w)``, ``[t0 + w, t0 + 2w)``... A request
  past the count is answered 429 in OpenAI's shape (which Portkey relays), with ``retry-after`` (whole
  seconds, rounded up), ``retry-after-ms`` and ``x-ratelimit-*`` headers saying when the window ends.
  A fixed window is what Portkey's and most providers' "requests per minute" mean: the count resets
  each minute, so a burst of ``requests`` at a window's start is allowed. The clock is injectable, so a
  test can move time itself.
"""

from __future__ import annotations

import math
import re
import threading
import time
from collections.abc import Callable

__all__ = ["RateLimit", "parse_rate_limit"]

_UNITS = {"ms": 0.001, "s": 1.0, "sec": 1.0, "m": 60.0, "min": 60.0, "h": 3600.0}
_SPEC = re.compile(r"\s*(\d+)\s*/\s*(\d+(?:\.\d+)?)?\s*(ms|s|sec|min|m|h)\s*")


class RateLimit:
    """At most ``requests`` requests in each fixed window of ``window`` seconds. Thread-safe."""

    def __init__(
        self, requests: int, window: float = 60.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        if isinstance(requests, bool) or not isinstance(requests, int) or requests < 1:
            raise ValueError(f"a rate limit allows at least 1 request, not {requests!r}")
        if isinstance(window, bool) or not isinstance(window, (int, float)) or not 0 < window <= 86400:
            raise ValueError(f"a rate limit's window must be from 0 to 86400 seconds, not {window!r}")
        self.requests = requests
        self.window = float(window)
        self.clock = clock
        self.admitted = 0  # requests let through, over the whole run
        self.refused = 0  # requests answered 429
        self._lock = threading.Lock()
        self._start: float | None = None
        self._count = 0

    def __repr__(self) -> str:
        return f"RateLimit({self.requests} per {self.window:g} s)"

    def take(self) -> float | None:
        """Count one request: None when it may be answered, else the seconds until its window ends."""
        with self._lock:
            now = self.clock()
            if self._start is None:
                self._start = now
            elapsed = now - self._start
            if elapsed >= self.window:
                self._start += elapsed // self.window * self.window
                self._count = 0
            if self._count < self.requests:
                self._count += 1
                self.admitted += 1
                return None
            self.refused += 1
            return max(self._start + self.window - now, 0.0)

    def headers(self, wait: float) -> dict[str, str]:
        """The headers of a 429 that asks for ``wait`` seconds."""
        return {
            "retry-after": str(max(math.ceil(wait), 1)),
            "retry-after-ms": str(max(math.ceil(wait * 1000), 1)),
            "x-ratelimit-limit-requests": str(self.requests),
            "x-ratelimit-remaining-requests": "0",
            "x-ratelimit-reset-requests": f"{wait:.3f}s",
        }


def parse_rate_limit(text: str) -> RateLimit:
    """``600/min``, ``10/s``, ``5/10s``, ``100/500ms`` or ``1000/h``: requests per window."""
    match = _SPEC.fullmatch(text)
    if match is None:
        raise ValueError(f"a rate limit is written N/min, N/s, N/10s or N/h, not {text!r}")
    count, size, unit = match.groups()
    return RateLimit(int(count), float(size or 1) * _UNITS[unit])


def latency_seconds(latency_ms: float) -> float:
    """A latency in milliseconds, checked: from 0 to 600,000 (ten minutes)."""
    if (
        isinstance(latency_ms, bool)
        or not isinstance(latency_ms, (int, float))
        or not 0 <= latency_ms <= 600_000
    ):
        raise ValueError(f"latency_ms must be a number of milliseconds from 0 to 600000, not {latency_ms!r}")
    return latency_ms / 1000
