"""The retry policy, one table per decision: retry or not, how long to wait, whether time is left."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from tooljet_portkey import _client
from tooljet_portkey._client import PortkeyClient, RequestNotSentError
from tooljet_portkey._constants import MAX_RETRY_AFTER
from tooljet_portkey._errors import APIConnectionError, APITimeoutError, PortkeyError, StreamError
from tooljet_portkey._responses import status_error
from tooljet_portkey._retry import (
    RETRYABLE_STATUS,
    backoff,
    is_retryable_status,
    retry_after,
    retry_delay,
    within_budget,
)
from tooljet_portkey._settings import ConnectionSettings

NOW = datetime(2026, 1, 1, 12, 0, 0, tzinfo=timezone.utc)


@pytest.mark.parametrize(
    ("status", "headers", "expected"),
    [
        (408, {}, True),
        (409, {}, True),
        (429, {}, True),
        (500, {}, True),
        (502, {}, True),
        (503, {}, True),
        (504, {}, True),
        (400, {}, False),
        (401, {}, False),
        (403, {}, False),
        (404, {}, False),
        (412, {}, False),  # budget exhausted: asking again spends nothing new
        (422, {}, False),
        (446, {}, False),  # guardrails denied: the same request gets the same verdict
        (501, {}, False),
        (505, {}, False),
        (200, {}, False),
        (246, {}, False),
        # Portkey's own retries already spent every attempt: do not multiply them
        (503, {"x-portkey-retry-attempt-count": "-1"}, False),
        (429, {"x-portkey-retry-attempt-count": " -1 "}, False),
        (503, {"x-portkey-retry-attempt-count": "0"}, True),
        (503, {"x-portkey-retry-attempt-count": "3"}, True),
    ],
)
def test_is_retryable_status(status: int, headers: dict[str, str], expected: bool) -> None:
    assert is_retryable_status(status, headers) is expected


@pytest.mark.parametrize(
    ("status", "error_type", "expected"),
    [
        (429, "insufficient_quota", False),  # a spent quota: no wait brings it back
        (429, "rate_limit_error", True),
        (429, None, True),
        (500, "insufficient_quota", False),
    ],
)
def test_a_spent_quota_is_never_retried(status: int, error_type: str | None, expected: bool) -> None:
    assert is_retryable_status(status, {}, error_type) is expected


def test_retryable_set_is_the_documented_one() -> None:
    assert sorted(RETRYABLE_STATUS) == [408, 409, 429, 500, 502, 503, 504]


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({}, None),
        ({"retry-after-ms": "1500"}, 1.5),
        ({"retry-after-ms": "0"}, 0.0),
        ({"retry-after-ms": "250", "retry-after": "9"}, 0.25),  # the finer header wins
        ({"retry-after-ms": "soon", "retry-after": "3"}, 3.0),  # unreadable: fall back
        ({"retry-after-ms": "-5", "retry-after": "3"}, 3.0),
        ({"retry-after-ms": "nan", "retry-after": "3"}, 3.0),
        ({"retry-after": "7"}, 7.0),
        ({"retry-after": " 2.5 "}, 2.5),
        ({"retry-after": "0"}, 0.0),
        ({"retry-after": "-1"}, None),
        ({"retry-after": "nan"}, None),
        ({"retry-after": ""}, None),
        ({"retry-after": "tomorrow"}, None),
        ({"retry-after": "Thu, 01 Jan 2026 12:00:30 GMT"}, 30.0),  # an HTTP date
        ({"retry-after": "Thu, 01 Jan 2026 11:59:00 GMT"}, 0.0),  # a date already past
        ({"retry-after": "Thu, 01 Jan 2026 12:02:00"}, 120.0),  # no zone: read as UTC
    ],
)
def test_retry_after(headers: dict[str, str], expected: float | None) -> None:
    assert retry_after(headers, now=NOW) == expected


@pytest.mark.parametrize(
    ("retries_done", "jitter", "expected"),
    [
        (0, 0.0, 0.5),
        (1, 0.0, 1.0),
        (2, 0.0, 2.0),
        (3, 0.0, 4.0),
        (4, 0.0, 8.0),
        (5, 0.0, 8.0),  # capped at MAX_RETRY_DELAY
        (10_000, 0.0, 8.0),  # no float overflow for absurd counts
        (0, 1.0, 0.375),  # full jitter takes a quarter off
        (2, 0.5, 1.75),
        (6, 1.0, 6.0),
    ],
)
def test_backoff(retries_done: int, jitter: float, expected: float) -> None:
    assert backoff(retries_done, jitter) == pytest.approx(expected)


@pytest.mark.parametrize("retries_done", [0, 1, 2, 3, 4, 8])
def test_backoff_random_jitter_stays_within_a_quarter(retries_done: int) -> None:
    ceiling = backoff(retries_done, 0.0)
    for _ in range(200):
        assert 0.75 * ceiling <= backoff(retries_done) <= ceiling


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"retry-after": "3"}, 3.0),
        ({"retry-after-ms": "20"}, 0.02),
        ({"retry-after": str(MAX_RETRY_AFTER)}, MAX_RETRY_AFTER),
        ({"retry-after": str(MAX_RETRY_AFTER + 1)}, None),  # beyond the cap: give up, do not hang
        ({"retry-after-ms": "3600000"}, None),
        ({"retry-after": "inf"}, None),
    ],
)
def test_retry_delay_honours_the_server_within_the_cap(
    headers: dict[str, str], expected: float | None
) -> None:
    assert retry_delay(1, headers) == expected


@pytest.mark.parametrize("headers", [None, {}, {"retry-after": "garbage"}])
def test_retry_delay_without_a_usable_header_backs_off(headers: dict[str, str] | None) -> None:
    delay = retry_delay(2, headers)
    assert delay is not None
    assert backoff(2, 1.0) <= delay <= backoff(2, 0.0)


@pytest.mark.parametrize(
    ("elapsed", "delay", "budget", "expected"),
    [
        (0.0, 0.5, 10.0, True),
        (9.0, 0.5, 10.0, True),
        (9.5, 0.5, 10.0, False),  # the retry would start exactly when time is up
        (9.9, 0.5, 10.0, False),
        (12.0, 0.0, 10.0, False),
    ],
)
def test_within_budget(elapsed: float, delay: float, budget: float, expected: bool) -> None:
    assert within_budget(elapsed, delay, budget) is expected


# --- the client's decision, which combines the above with maxRetries and the timeout --------------


def _error(kind: str) -> PortkeyError:
    if kind == "timeout":
        return APITimeoutError("slow", timeout=10)
    if kind == "connection":
        return APIConnectionError("refused")
    if kind == "not-sent":
        return RequestNotSentError("bad header")
    if kind == "stream":
        return StreamError("cut")
    status, _, after = kind.partition("/")
    headers = {"retry-after": after} if after else {}
    return status_error(int(status), headers, b"")


@pytest.mark.parametrize(
    ("kind", "retries", "max_retries", "elapsed", "expected"),
    [
        ("503", 0, 2, 0.0, "backoff"),
        ("503", 1, 2, 0.0, "backoff"),
        ("503", 2, 2, 0.0, None),  # maxRetries spent
        ("503", 0, 0, 0.0, None),  # maxRetries 0 turns retrying off
        ("429/4", 0, 2, 0.0, 4.0),
        ("429/4", 0, 2, 7.0, None),  # 7 s gone of a 10 s timeout: 4 s more would outlast it
        ("429/120", 0, 2, 0.0, None),  # the server asks for longer than the cap
        ("400", 0, 2, 0.0, None),
        ("446", 0, 2, 0.0, None),
        ("timeout", 0, 2, 0.0, "backoff"),
        ("connection", 0, 2, 0.0, "backoff"),
        ("connection", 0, 2, 9.9, None),
        ("not-sent", 0, 2, 0.0, None),  # our own request is malformed: the same again fails the same
        ("stream", 0, 2, 0.0, None),  # after the first byte a stream is never retried
    ],
)
def test_next_delay(
    monkeypatch: pytest.MonkeyPatch,
    kind: str,
    retries: int,
    max_retries: int,
    elapsed: float,
    expected: float | str | None,
) -> None:
    settings = ConnectionSettings(base_url="http://127.0.0.1:9/v1", timeout=10.0, max_retries=max_retries)
    monkeypatch.setattr(_client, "_clock", lambda: 100.0 + elapsed)
    with PortkeyClient(settings) as client:
        delay = client._next_delay(_error(kind), retries, 100.0)
    if expected == "backoff":
        assert delay is not None
        assert backoff(retries, 1.0) <= delay <= backoff(retries, 0.0)
    else:
        assert delay == expected
