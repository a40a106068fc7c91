"""The simulator's pacing: a fixed-window rate limit answering 429 with retry-after, and a latency before
every answer. Time is moved by the tests themselves (an injected clock); nothing here waits on timing."""

from __future__ import annotations

import signal
import subprocess
import sys

import httpx
import pytest

from tooljet_portkey.simulator import RateLimit, Simulator
from tooljet_portkey.simulator._pacing import parse_rate_limit

CHAT = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Hi"}], "max_tokens": 2}
ROUTED = {"x-portkey-provider": "openai"}


class Clock:
    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def test_a_fixed_window_admits_n_requests_then_says_when_it_ends() -> None:
    clock = Clock()
    limit = RateLimit(2, 60, clock=clock)
    assert [limit.take(), limit.take(), limit.take()] == [None, None, 60.0]
    clock.now += 45
    assert limit.take() == 15.0
    clock.now += 15  # the next window starts where the first ended
    assert [limit.take(), limit.take(), limit.take()] == [None, None, 60.0]
    clock.now += 150  # at 1210, in the window [1180, 1240): two windows passed with no request
    assert [limit.take(), limit.take(), limit.take()] == [None, None, 30.0]
    assert (limit.admitted, limit.refused) == (6, 4)


@pytest.mark.parametrize(
    ("text", "requests", "window"),
    [("600/min", 600, 60.0), ("10/s", 10, 1.0), ("5/10s", 5, 10.0), ("100/500ms", 100, 0.5),
     ("1000/h", 1000, 3600.0), (" 7 / 2 min ", 7, 120.0)],
)  # fmt: skip
def test_rate_limits_are_written_as_requests_per_window(text: str, requests: int, window: float) -> None:
    limit = parse_rate_limit(text)
    assert (limit.requests, limit.window) == (requests, window)


@pytest.mark.parametrize("text", ["600", "600/day", "0/min", "-1/min", "x/min", "5/0s"])
def test_a_bad_rate_limit_is_refused(text: str) -> None:
    with pytest.raises(ValueError):
        parse_rate_limit(text)


@pytest.mark.parametrize("latency", [-1, 600_001, float("nan"), True, "100"])
def test_a_bad_latency_is_refused(latency: object) -> None:
    with pytest.raises(ValueError, match="latency_ms must be a number of milliseconds from 0 to 600000"):
        Simulator(latency_ms=latency)  # type: ignore[arg-type]


@pytest.mark.parametrize("profile", ["gateway", "openai"])
def test_past_the_limit_the_answer_is_a_429_with_retry_after(profile: str) -> None:
    clock = Clock()
    with Simulator(profile=profile, rate_limit=RateLimit(1, 60, clock=clock)) as sim:
        first = httpx.post(sim.url + "/chat/completions", json=CHAT, headers=ROUTED)
        clock.now += 12.5
        second = httpx.post(sim.url + "/chat/completions", json=CHAT, headers=ROUTED)
        clock.now += 47.5
        third = httpx.post(sim.url + "/chat/completions", json=CHAT, headers=ROUTED)
    assert (first.status_code, second.status_code, third.status_code) == (200, 429, 200)
    error = {
        "message": "Rate limit reached for requests (simulated).",
        "type": "requests",
        "param": None,
        "code": "rate_limit_exceeded",
    }
    relayed = {"error": error, "provider": "openai"} if profile == "gateway" else {"error": error}
    assert second.json() == relayed
    pacing = ("retry-after", "x-ratelimit", "x-portkey-retry")
    headers = {k: v for k, v in second.headers.items() if k.startswith(pacing)}
    expected = {
        "retry-after": "48",
        "retry-after-ms": "47500",
        "x-ratelimit-limit-requests": "1",
        "x-ratelimit-remaining-requests": "0",
        "x-ratelimit-reset-requests": "47.500s",
    }
    if profile == "gateway":
        expected["x-portkey-retry-attempt-count"] = "0"
    assert headers == expected
    assert len(sim.requests) == 3  # a refused request is recorded too


def test_the_latency_is_waited_before_every_answer() -> None:
    """A client that waits 1 s meets a simulator that answers after a minute: it times out; the
    admin endpoints are not delayed."""
    with Simulator(profile="gateway", latency_ms=60_000) as sim:
        health = httpx.get(sim.url.removesuffix("/v1") + "/_simulator/health", timeout=30)
        with pytest.raises(httpx.ReadTimeout):
            httpx.post(sim.url + "/chat/completions", json=CHAT, headers=ROUTED, timeout=1)
    assert health.json() == {"status": "ok", "profile": "gateway"}


def test_serve_applies_the_rate_limit_and_latency_flags() -> None:
    command = ["serve", "--port", "0", "--quiet", "--rate-limit", "1/h", "--latency-ms", "1"]
    process = subprocess.Popen(
        [sys.executable, "-m", "tooljet_portkey", *command],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        url = process.stdout.readline().strip()
        answered = httpx.get(url + "/models")
        refused = httpx.get(url + "/models")
    finally:
        process.send_signal(signal.SIGTERM)
        _, err = process.communicate(timeout=30)
    assert (answered.status_code, refused.status_code) == (200, 429)
    assert 3500 <= int(refused.headers["retry-after"]) <= 3600
    assert err.splitlines() == [
        f"tooljet-portkey serve: Portkey simulator (profile gateway, 1 requests per 3600 s, 1 ms latency) at "
        f"{url}; Ctrl-C stops it",
        "tooljet-portkey serve: stopped",
    ]


def test_serve_refuses_a_bad_rate_limit_in_one_line() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "tooljet_portkey", "serve", "--port", "0", "--rate-limit", "fast"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert (done.returncode, done.stderr) == (
        1,
        "tooljet-portkey serve: a rate limit is written N/min, N/s, N/10s or N/h, not 'fast'\n",
    )
