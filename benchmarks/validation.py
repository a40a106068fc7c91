"""What refusing (or accepting) one huge query option costs: time and memory against json.loads alone.

    .venv/bin/python benchmarks/validation.py            # 8 MiB options, 5 rounds
    .venv/bin/python benchmarks/validation.py --quick    # 256 KiB options, 1 round (CI smoke run)

Each case is one option a host may send as text, as large as the plugin takes (8 MiB); `parse_query`
is what `QueryService.run()` does with it before any request. The floor is `json.loads` of the same
text: no validation can cost less than reading the value. Time is the median over rounds (the machine
is shared: compare the ratio, not the milliseconds); memory is the tracemalloc peak of one more round,
which is deterministic. Nothing here is a timed test.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import statistics
import sys
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from tooljet_portkey import QueryError
from tooljet_portkey._options import parse_query

MiB = 1024 * 1024
CHAT = {"operation": "chat", "model": "m", "messages": '[{"role": "user", "content": "hi"}]'}
EMBED = {"operation": "create_embedding", "model": "m"}


def fill(unit: str, size: int) -> str:
    """A JSON array of ``unit`` repeated to about ``size`` characters."""
    return "[" + ",".join([unit] * ((size - 2) // (len(unit) + 1))) + "]"


def token_arrays(size: int, last: int = 7) -> str:
    """2048 token arrays of equal length, about ``size`` characters in all; the very last token given."""
    per_array = max(1, (size // 2048 - 3) // 6)
    arrays = [[12345] * per_array for _ in range(2048)]
    arrays[-1][-1] = last
    return json.dumps(arrays, separators=(",", ":"))


def texts(size: int, last: str = "t") -> str:
    """2048 texts of equal length, about ``size`` characters in all; the very last one given."""
    items = ["t" * max(1, size // 2048 - 4)] * 2047 + [last]
    return json.dumps(items)


def cases(size: int) -> list[tuple[str, dict[str, Any], str]]:
    """(what, query, field) for options of about ``size`` characters."""
    message = json.dumps({"role": "user", "content": "x" * 60})
    wide = json.dumps({f"k{i}": [i, "v", {"n": None}] for i in range(size // 40)})
    return [
        ("input: one flat token array", {**EMBED, "input": fill("12345", size)}, "input"),
        ("input: 2048 token arrays", {**EMBED, "input": token_arrays(size)}, "input"),
        ("input: 2048 token arrays, the last token -1", {**EMBED, "input": token_arrays(size, -1)}, "input"),
        ("input: 2048 texts", {**EMBED, "input": texts(size)}, "input"),
        ("input: 2048 texts, the last a cut emoji", {**EMBED, "input": texts(size, "ab\ud83d")}, "input"),
        ("messages: empty objects", {**CHAT, "messages": fill("{}", size)}, "messages"),
        ("messages: valid ones", {**CHAT, "messages": fill(message, min(size, 100_000 * 80))}, "messages"),
        (
            "other_parameters: a wide object",
            {**CHAT, "other_parameters": wide},
            "other_parameters",
        ),
        ("prompt: one text", {"operation": "completion", "model": "m", "prompt": "p" * (size - 1)}, "prompt"),
    ]


def outcome(query: dict[str, Any]) -> str:
    try:
        parse_query(query)
    except QueryError as err:
        return f"refused: {err.description}"
    return "accepted"


def seconds(action: Callable[[], object]) -> float:
    start = time.perf_counter()
    with contextlib.suppress(QueryError):
        action()
    return time.perf_counter() - start


def peak(action: Callable[[], object]) -> int:
    tracemalloc.start()
    try:
        action()
    except QueryError:
        pass
    finally:
        most = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    return most


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="256 KiB options, one round")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    size = MiB // 4 if args.quick else 8 * MiB - 16
    rounds = 1 if args.quick else args.rounds
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    python = platform.python_version()
    print(f"Machine: {os.cpu_count()} CPUs, Python {python}, load average {load:.2f} at start")
    print(f"Options of {size / MiB:.2f} MiB, {rounds} round(s)\n")
    outcome({**CHAT, "messages": '[{"role":"user"}]'})  # validators compiled: not measured
    print("| option | outcome | ms (median) | ratio to json.loads | peak MiB | ratio to json.loads peak |")
    print("| --- | --- | ---: | ---: | ---: | ---: |")
    for what, query, field in cases(size):
        text = query[field]
        is_json = text.startswith(("[", "{"))

        def floor(text: str = text, is_json: bool = is_json) -> object:
            return json.loads(text) if is_json else text.strip()

        def validate(query: dict[str, Any] = query) -> object:
            return parse_query(query)

        times = [(seconds(validate), seconds(floor)) for _ in range(rounds)]
        took = statistics.median(t for t, _ in times)
        base = statistics.median(b for _, b in times)
        most, base_most = peak(validate), peak(floor)
        ratio = f"{took / base:.2f}x" if base > 0.0005 else "-"
        memory_ratio = f"{most / base_most:.2f}x" if base_most > MiB / 16 else "-"
        cells = [what, outcome(query), f"{took * 1000:,.0f}", ratio, f"{most / MiB:,.1f}", memory_ratio]
        print("| " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
