"""When to retry, and how long to wait first. Small pure functions, each tested by a table.

Retried: 408, 409, 429, 500, 502, 503, 504, and failures to connect or to get an answer in time.
Never: other 4xx (the request is wrong), a 429 whose error type says the quota is spent
(``insufficient_quota``: no wait brings it back), 446 (guardrails said no: asking again gives the same
verdict), and never a response whose ``x-portkey-retry-attempt-count`` is -1, because Portkey's own
retry config already spent every attempt and retrying on top would multiply the load.
A streamed request is retried only until its first byte arrives; after that a failure is final.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from datetime import datetime, timezone
from email.utils import parsedate_to_datetime

from ._constants import INITIAL_RETRY_DELAY, MAX_RETRY_AFTER, MAX_RETRY_DELAY

RETRYABLE_STATUS = frozenset({408, 409, 429, 500, 502, 503, 504})
# A 429 of this type is a spent quota, not a rate limit: waiting does not bring the quota back.
QUOTA_ERROR_TYPES = frozenset({"insufficient_quota"})


def is_retryable_status(status_code: int, headers: Mapping[str, str], error_type: object = None) -> bool:
    if status_code not in RETRYABLE_STATUS or error_type in QUOTA_ERROR_TYPES:
        return False
    return headers.get("x-portkey-retry-attempt-count", "").strip() != "-1"


def retry_after(headers: Mapping[str, str], now: datetime | None = None) -> float | None:
    """Seconds the server asked us to wait: ``retry-after-ms``, else ``retry-after`` (seconds or date)."""
    millis = headers.get("retry-after-ms")
    if millis is not None:
        try:
            value = float(millis) / 1000
        except ValueError:
            value = -1.0
        if value >= 0:  # NaN and negatives fall through to retry-after
            return value
    text = headers.get("retry-after")
    if text is None:
        return None
    text = text.strip()
    try:
        seconds = float(text)
    except ValueError:
        try:
            when = parsedate_to_datetime(text)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=timezone.utc)
        seconds = (when - (now or datetime.now(timezone.utc))).total_seconds()
        return max(seconds, 0.0)
    return seconds if seconds >= 0 else None


def backoff(retries_done: int, jitter: float | None = None) -> float:
    """Exponential backoff from 0.5 s, capped at 8 s, less up to 25% jitter."""
    # the exponent is capped so a large count reaches MAX_RETRY_DELAY instead of overflowing a float
    base = min(INITIAL_RETRY_DELAY * 2.0 ** min(retries_done, 32), MAX_RETRY_DELAY)
    return base * (1 - 0.25 * (random.random() if jitter is None else jitter))


def retry_delay(retries_done: int, headers: Mapping[str, str] | None = None) -> float | None:
    """How long to wait before the next attempt, or None when the server's wait is beyond the cap."""
    asked = retry_after(headers) if headers else None
    if asked is None:
        return backoff(retries_done)
    return asked if asked <= MAX_RETRY_AFTER else None


def within_budget(elapsed: float, delay: float, budget: float) -> bool:
    """Whether a retry after ``delay`` still starts inside the call's time budget."""
    return elapsed + delay < budget
