"""A table run against the simulator, as ratios: rows at a concurrency against a loop of run() calls, a
run against a rate limit against the limit's floor, and a long embedding input against hand-made
requests of 2,048 inputs.

    .venv/bin/python benchmarks/table.py            # the full run (about five minutes)
    .venv/bin/python benchmarks/table.py --quick    # a smoke run in seconds (tests/test_benchmarks_smoke.py)

The simulator runs as its own process (``tooljet-portkey serve --latency-ms N [--rate-limit N/W]``), so
it never shares an interpreter or a GIL with the client. Each case is one ``QueryService`` in this
process. Nothing here is a timed test: the verdicts are printed, not asserted.

1. Rows: ``rows`` of a prompt_completion at ``--concurrency`` (50) against a loop of one ``run()`` a
   row, each row answered after ``--latency-ms`` (100). Target: at least 25x faster.
2. Rate limit: the same table against ``--rate-limit`` (600/min), with a generous retry budget. Targets:
   no failed row, and a time within 1.3x of the limit's floor (rows / limit). The simulator's limit is a
   fixed window, so a run may finish before that floor: the first window's requests go at once. The
   table also gives the fixed window's own floor (the start of the last window the rows need).
3. Embeddings: one create_embedding of ``--inputs`` (10,000) texts, split by the plugin into requests of
   2,048 at ``--concurrency``, against the same input cut by hand into 2,048-input queries run on a
   thread pool of the same size (the app then joins the vectors itself).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import statistics
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from tooljet_portkey import QueryService

PROMPT = {
    "operation": "prompt_completion",
    "promptId": "pp-demo",
    "variables": '{"audience": "support agents"}',
    "prompt_parameters": '{"max_tokens": 4}',
    "output": "text",
}
EMBED = {
    "operation": "create_embedding",
    "model": "text-embedding-3-small",
    "other_parameters": '{"dimensions": 64}',
    "output": "vectors",
}


def serve(latency_ms: int, rate_limit: str | None = None) -> tuple[subprocess.Popen[str], str]:
    """The simulator in its own process; its base URL."""
    command = [sys.executable, "-m", "tooljet_portkey", "serve", "--port", "0", "--quiet"]
    command += ["--latency-ms", str(latency_ms)]
    if rate_limit:
        command += ["--rate-limit", rate_limit]
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1] / "src")}
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=env)
    assert process.stdout is not None
    url = process.stdout.readline().strip()
    if not url.startswith("http://"):
        process.kill()
        raise SystemExit("the simulator did not start")
    return process, url


def stop(process: subprocess.Popen[str]) -> None:
    process.terminate()
    process.wait(30)


def rows_of(count: int) -> list[dict[str, str]]:
    return [{"topic": f"ticket {i}"} for i in range(count)]


def seconds(action: Any) -> tuple[float, Any]:
    started = time.perf_counter()
    result = action()
    return time.perf_counter() - started, result


def table_run(service: QueryService, source: dict[str, str], rows: int, concurrency: int) -> dict[str, Any]:
    query = {**PROMPT, "rows": json.dumps(rows_of(rows)), "concurrency": str(concurrency)}
    return service.run(source, query)


def loop_run(service: QueryService, source: dict[str, str], rows: int) -> list[Any]:
    results = []
    for row in rows_of(rows):
        variables = json.dumps({"audience": "support agents", **row})
        results.append(service.run(source, {**PROMPT, "variables": variables})["data"])
    return results


def embed_whole(service: QueryService, source: dict[str, str], texts: list[str], concurrency: int) -> Any:
    query = {**EMBED, "input": json.dumps(texts), "concurrency": str(concurrency)}
    return service.run(source, query)["data"]


def embed_by_hand(service: QueryService, source: dict[str, str], texts: list[str], concurrency: int) -> Any:
    parts = [texts[start : start + 2048] for start in range(0, len(texts), 2048)]
    queries = [{**EMBED, "input": json.dumps(part)} for part in parts]
    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        answers = list(pool.map(lambda query: service.run(source, query), queries))
    return [vector for answer in answers for vector in answer["data"]]


def raw_threads(url: str, rows: int, concurrency: int) -> float:
    """The floor of a threaded run: the same requests from ``concurrency`` threads with raw httpx (the
    body each row sends, no validation, no result)."""
    import httpx

    limits = httpx.Limits(max_connections=200, max_keepalive_connections=50)
    headers = {"x-portkey-provider": "openai"}
    with httpx.Client(limits=limits) as client, ThreadPoolExecutor(max_workers=concurrency) as pool:

        def one(row: dict[str, str]) -> Any:
            body = {"max_tokens": 4, "variables": {"audience": "support agents", **row}}
            return client.post(f"{url}/prompts/pp-demo/completions", json=body, headers=headers).json()

        list(pool.map(one, rows_of(min(rows, 20))))  # connections warm, not timed
        started = time.perf_counter()
        list(pool.map(one, rows_of(rows)))
        return time.perf_counter() - started


def rows_case(args: argparse.Namespace, rounds: int) -> tuple[list[str], float]:
    process, url = serve(args.latency_ms)
    source = {"gatewayUrl": url, "provider": "openai"}
    table: list[float] = []
    loop: list[float] = []
    raw: list[float] = []
    try:
        with QueryService() as service:
            table_run(service, source, min(args.rows, 20), args.concurrency)  # connections warm
            for round_number in range(rounds):
                if round_number % 2:  # ABBA: the loop first every other round
                    loop.append(seconds(lambda: loop_run(service, source, args.rows))[0])
                took, result = seconds(lambda: table_run(service, source, args.rows, args.concurrency))
                assert result["metadata"]["succeeded"] == args.rows, result["metadata"]
                table.append(took)
                raw.append(raw_threads(url, args.rows, args.concurrency))
                if not round_number % 2:
                    loop.append(seconds(lambda: loop_run(service, source, args.rows))[0])
    finally:
        stop(process)
    base = statistics.median(loop)
    ratio = base / statistics.median(table)

    def line(name: str, samples: list[float]) -> str:
        value = statistics.median(samples)
        return f"| {name} | {value:.2f} | {value / base:.3f}x | {min(samples):.2f} - {max(samples):.2f} |"

    return [
        f"### Rows: {args.rows} rows, {args.latency_ms} ms a request",
        "",
        "| run | s (median) | ratio to the loop | range over rounds |",
        "| --- | ---: | ---: | ---: |",
        line(f"rows at concurrency {args.concurrency}", table),
        line(f"raw httpx.Client.post from {args.concurrency} threads", raw),
        line("a loop of run() calls", loop),
        "",
        f"Speed-up: {ratio:.1f}x "
        f"(raw httpx from the same number of threads: {base / statistics.median(raw):.1f}x)",
        "",
    ], ratio


def async_case(args: argparse.Namespace, rounds: int) -> list[str]:
    """The same rows through AsyncQueryService, against raw httpx.AsyncClient at the same concurrency."""
    import asyncio

    import httpx

    from tooljet_portkey import AsyncQueryService

    process, url = serve(args.latency_ms)
    source = {"gatewayUrl": url, "provider": "openai"}
    query = {**PROMPT, "rows": json.dumps(rows_of(args.rows)), "concurrency": str(args.concurrency)}
    service_times: list[float] = []
    raw_times: list[float] = []
    thread_times: list[float] = []

    async def measure() -> None:
        limits = httpx.Limits(max_connections=200, max_keepalive_connections=50)
        gate = asyncio.Semaphore(args.concurrency)
        headers = {"x-portkey-provider": "openai"}
        async with AsyncQueryService() as service, httpx.AsyncClient(limits=limits) as client:

            async def one(row: dict[str, str]) -> Any:
                async with gate:
                    body = {"max_tokens": 4, "variables": {"audience": "support agents", **row}}
                    answer = await client.post(
                        f"{url}/prompts/pp-demo/completions", json=body, headers=headers
                    )
                    return answer.json()

            await service.run(source, {**query, "rows": json.dumps(rows_of(20))})  # warm, not timed
            await asyncio.gather(*(one(row) for row in rows_of(20)))
            for _ in range(rounds):
                started = time.perf_counter()
                result = await service.run(source, query)
                service_times.append(time.perf_counter() - started)
                assert result["metadata"]["succeeded"] == args.rows, result["metadata"]
                started = time.perf_counter()
                await asyncio.gather(*(one(row) for row in rows_of(args.rows)))
                raw_times.append(time.perf_counter() - started)

    try:
        asyncio.run(measure())
        with QueryService() as threaded:  # the same rows from threads, at the same concurrency
            threaded.run(source, {**query, "rows": json.dumps(rows_of(20))})
            for _ in range(rounds):
                took, result = seconds(lambda: threaded.run(source, query))
                assert result["metadata"]["succeeded"] == args.rows, result["metadata"]
                thread_times.append(took)
    finally:
        stop(process)
    base = statistics.median(raw_times)

    def line(name: str, samples: list[float]) -> str:
        value = statistics.median(samples)
        return f"| {name} | {value:.2f} | {value / base:.2f}x | {min(samples):.2f} - {max(samples):.2f} |"

    return [
        f"### Async: {args.rows} rows, {args.latency_ms} ms a request, concurrency {args.concurrency}",
        "",
        "| run | s (median) | ratio to raw httpx.AsyncClient | range over rounds |",
        "| --- | ---: | ---: | ---: |",
        line("AsyncQueryService rows", service_times),
        line("QueryService rows (threads)", thread_times),
        line(f"raw httpx.AsyncClient.post, {args.concurrency} at once", raw_times),
        "",
        f"Async against threads: {statistics.median(service_times) / statistics.median(thread_times):.2f}x",
        "",
    ]


def limit_case(args: argparse.Namespace) -> tuple[list[str], float, int, float]:
    process, url = serve(args.latency_ms, args.rate_limit)
    from tooljet_portkey.simulator._pacing import parse_rate_limit

    limit = parse_rate_limit(args.rate_limit)
    floor = args.limit_rows / limit.requests * limit.window
    window_floor = (math.ceil(args.limit_rows / limit.requests) - 1) * limit.window
    source = {"gatewayUrl": url, "provider": "openai", "maxRetries": "8"}
    try:
        with QueryService() as service:
            took, result = seconds(lambda: table_run(service, source, args.limit_rows, args.concurrency))
    finally:
        stop(process)
    meta = result["metadata"]
    lines = [
        f"### Rate limit: {args.limit_rows} rows against {args.rate_limit}, concurrency {args.concurrency}, "
        f"{args.latency_ms} ms a request",
        "",
        "| measure | value |",
        "| --- | ---: |",
        f"| seconds | {took:.2f} |",
        f"| floor: rows / limit (s) | {floor:g} |",
        f"| ratio to that floor | {took / floor:.2f}x |",
        f"| the fixed window's floor: start of the last window needed (s) | {window_floor:g} |",
        f"| failed rows | {meta['failed']} |",
        f"| retries (429s met) | {meta['retries']} |",
        "",
    ]
    return lines, took / floor, meta["failed"], took


def embed_case(args: argparse.Namespace, rounds: int) -> tuple[list[str], float]:
    process, url = serve(args.latency_ms)
    source = {"gatewayUrl": url, "provider": "openai"}
    texts = [f"document {i}" for i in range(args.inputs)]
    whole: list[float] = []
    hand: list[float] = []
    try:
        with QueryService() as service:
            embed_whole(service, source, texts[:10], args.concurrency)  # connections warm
            for round_number in range(rounds):
                cases = [(whole, embed_whole), (hand, embed_by_hand)]
                outputs = []
                for samples, case in cases if round_number % 2 == 0 else cases[::-1]:  # ABBA
                    took, vectors = seconds(lambda case=case: case(service, source, texts, args.concurrency))
                    samples.append(took)
                    outputs.append(vectors)
                assert outputs[0] == outputs[1], "the merged vectors differ from the hand-made requests'"
    finally:
        stop(process)
    ratio = statistics.median(whole) / statistics.median(hand)
    parts = math.ceil(args.inputs / 2048)
    return [
        f"### Embeddings: {args.inputs:,} inputs, concurrency {args.concurrency}, "
        f"{args.latency_ms} ms a request",
        "",
        "| run | s (median) | ratio to the hand-made requests | range over rounds |",
        "| --- | ---: | ---: | ---: |",
        f"| one query, split by the plugin | {statistics.median(whole):.2f} | {ratio:.2f}x | "
        f"{min(whole):.2f} - {max(whole):.2f} |",
        f"| {parts} hand-made queries of at most 2,048 | {statistics.median(hand):.2f} | 1.00x | "
        f"{min(hand):.2f} - {max(hand):.2f} |",
        "",
    ], ratio


def verdict(label: str, ok: bool, detail: str) -> str:
    return f"- {label}: {'met' if ok else 'NOT met'} ({detail})"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="small sizes, one round: seconds")
    parser.add_argument("--rounds", type=int, help="rounds of the rows and embedding cases (default 3)")
    parser.add_argument("--rows", type=int, help="rows of the speed case (default 1000)")
    parser.add_argument("--latency-ms", type=int, help="the simulator's latency (default 100)")
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--rate-limit", help="the simulator's limit (default 600/min)")
    parser.add_argument("--limit-rows", type=int, help="rows of the rate-limit case (default 1000)")
    parser.add_argument("--inputs", type=int, help="embedding inputs (default 10000)")
    parser.add_argument(
        "--cases",
        default="rows,limit,embed",
        help="which cases to run: rows, async, limit, embed (default rows,limit,embed)",
    )
    args = parser.parse_args(argv)
    quick = args.quick
    rounds = args.rounds or (1 if quick else 3)
    args.rows = args.rows or (100 if quick else 1000)
    args.latency_ms = args.latency_ms if args.latency_ms is not None else (20 if quick else 100)
    args.rate_limit = args.rate_limit or ("20/s" if quick else "600/min")
    args.limit_rows = args.limit_rows or (50 if quick else 1000)
    args.inputs = args.inputs or (3000 if quick else 10_000)

    started = time.perf_counter()
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    report = [
        f"Machine: {os.cpu_count()} CPUs, Python {platform.python_version()} on {platform.system()}, "
        f"load average {load:.2f} at start",
        "",
    ]
    cases = set(args.cases.split(","))
    targets: list[str] = []
    if "rows" in cases:
        lines, speedup = rows_case(args, rounds)
        report += lines
        label = f"rows at concurrency {args.concurrency} at least 25x a loop"
        targets.append(verdict(label, speedup >= 25, f"{speedup:.1f}x"))
    if "async" in cases:
        report += async_case(args, rounds)
    if "limit" in cases:
        lines, to_floor, failed, _ = limit_case(args)
        report += lines
        targets.append(verdict("no failed row against the rate limit", failed == 0, f"{failed} failed"))
        targets.append(verdict("within 1.3x of the rate limit's floor", to_floor <= 1.3, f"{to_floor:.2f}x"))
    if "embed" in cases:
        lines, embed_ratio = embed_case(args, rounds)
        report += lines
        label = "a long embedding input within 1.2x of hand-made requests"
        targets.append(verdict(label, embed_ratio <= 1.2, f"{embed_ratio:.2f}x"))
    report += [
        "### Targets",
        "",
        *targets,
        "",
        f"({rounds} round(s), {time.perf_counter() - started:.0f} s in all)",
    ]
    print("\n".join(report))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
