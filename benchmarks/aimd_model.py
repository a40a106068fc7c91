"""How a table run meets a rate limit: a deterministic model on a simulated clock (nothing sleeps).

    .venv/bin/python benchmarks/aimd_model.py [--rows 1000] [--per-minute 600]

The run uses the package's real ``AdaptiveLimiter``; the rows and the server are modelled. Every row takes
``latency`` seconds; a refused row waits the server's ``retry-after`` and tries again, at most
``max_retries`` times (the client's policy), holding its place in flight as the client does; each 429
throttles the limiter, as the service's retry hook does. Two servers, both allowing ``per-minute``
requests a minute:

- window: a fixed window per minute; the 429's ``retry-after`` is the rest of the minute;
- bucket: a smooth limit (a token bucket holding one second's worth); ``retry-after`` is the whole
  seconds until the next token.

It prints, for each server, ceiling and latency: how many rows in flight use the limit exactly
(per-minute x latency / 60), the run's time against the limit's floor (rows / per-minute minutes), the
rows that failed, and the range the in-flight limit moved in.
"""

from __future__ import annotations

import argparse
import heapq
import math
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from tooljet_portkey._batch import AdaptiveLimiter


class Window:
    def __init__(self, per_minute: int) -> None:
        self.per_minute = per_minute
        self.counts: dict[float, int] = {}

    def admit(self, now: float) -> float | None:
        """None: answered; else the retry-after of a 429."""
        start = now // 60 * 60
        self.counts[start] = self.counts.get(start, 0) + 1
        return None if self.counts[start] <= self.per_minute else start + 60 - now


class Bucket:
    def __init__(self, per_minute: int) -> None:
        self.rate = per_minute / 60
        self.tokens = self.rate
        self.last = 0.0

    def admit(self, now: float) -> float | None:
        self.tokens = min(self.rate, self.tokens + (now - self.last) * self.rate)
        self.last = now
        if self.tokens >= 1:
            self.tokens -= 1
            return None
        return float(math.ceil((1 - self.tokens) / self.rate))


def simulate(
    rows: int, server: Window | Bucket, ceiling: int, latency: float, max_retries: int = 2
) -> tuple[float, int, int, int]:
    """(seconds, failed rows, lowest limit, highest limit) of one run."""
    now = 0.0
    limiter = AdaptiveLimiter(ceiling, clock=lambda: now)
    # (when, order, row, attempt, verdict): a request reaches the server (verdict -1.0) or its answer
    # comes back (None: answered, else the 429's retry-after)
    events: list[tuple[float, int, int, int, float | None]] = []
    order = 0

    def schedule(when: float, row: int, attempt: int, verdict: float | None) -> None:
        nonlocal order
        heapq.heappush(events, (when, order, row, attempt, verdict))
        order += 1

    next_row = finished = failed = 0
    limits = {ceiling}
    while finished < rows:
        while next_row < rows and limiter.try_start():
            schedule(now, next_row, 0, -1.0)
            next_row += 1
        pause = limiter.pause_remaining()
        if pause > 0 and next_row < rows and (not events or events[0][0] > now + pause):
            now += pause  # nothing happens before the pause ends
            continue
        now, _, row, attempt, verdict = heapq.heappop(events)
        if verdict == -1.0:
            schedule(now + latency, row, attempt, server.admit(now))
        elif verdict is None:
            limiter.finish(True)
            finished += 1
        elif attempt < max_retries and verdict <= 60:
            limiter.throttled(verdict)
            schedule(now + verdict, row, attempt + 1, -1.0)
        else:
            limiter.throttled(verdict)
            limiter.finish(False)
            finished += 1
            failed += 1
        limits.add(limiter.limit)
    return now, failed, min(limits), max(limits)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=1000)
    parser.add_argument("--per-minute", type=int, default=600)
    args = parser.parse_args()
    floor = args.rows / args.per_minute * 60
    print(f"{args.rows} rows against {args.per_minute} requests a minute (floor {floor:g} s)\n")
    print(
        "| server | ceiling | latency | limit's worth in flight | seconds | / floor | failed rows | limit |"
    )
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |")
    for name, make in (("window", Window), ("bucket", Bucket)):
        for ceiling in (8, 50):
            for latency in (0.1, 2.0):
                seconds, failed, low, high = simulate(args.rows, make(args.per_minute), ceiling, latency)
                print(
                    f"| {name} | {ceiling} | {latency:g} s | {args.per_minute * latency / 60:g}"
                    f" | {seconds:.0f} | {seconds / floor:.2f}x"
                    f" | {failed} | {low} to {high} |"
                )


if __name__ == "__main__":
    main()
