"""Measure the plugin against raw httpx and the official portkey-ai SDK, side by side, as ratios.

    .venv/bin/python benchmarks/run.py            # the full run (a few minutes)
    .venv/bin/python benchmarks/run.py --quick    # a smoke run for CI (seconds; no SDK)

One loopback server (benchmarks/server.py, its own process) answers every client. Each measurement
runs in a fresh interpreter (benchmarks/worker.py); the clients of a group take turns round after
round (ABAB, the order rotated each round) and the report gives the median over rounds, so a burst
of load on a shared machine hits all of them alike. The SDK lives in benchmarks/.venv (git-ignored),
installed here on first use with pip; if that fails its column is skipped with a note.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
import venv
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
SDK_VENV = HERE / ".venv"
SDK_PYTHON = SDK_VENV / ("Scripts/python.exe" if os.name == "nt" else "bin/python")
PYTHON = sys.executable

IMPORTS = {
    "import tooljet_portkey": (PYTHON, "import tooljet_portkey"),
    "from tooljet_portkey import QueryService": (PYTHON, "from tooljet_portkey import QueryService"),
    "import httpx": (PYTHON, "import httpx"),
    "import portkey_ai": (str(SDK_PYTHON), "import portkey_ai"),
}
_TIMED_IMPORT = "import time; t = time.perf_counter(); {0}; print(time.perf_counter() - t)"


def machine() -> str:
    model = platform.processor() or "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    return (
        f"{os.cpu_count()} CPUs ({model}), Python {platform.python_version()} on {platform.system()}, "
        f"load average {load:.2f} at start"
    )


def ensure_sdk(wanted: bool) -> str | None:
    """The SDK's interpreter is ready (None), or why its column is skipped."""
    if not wanted:
        return "the portkey-ai SDK is not measured with --quick or --no-sdk"
    check = [str(SDK_PYTHON), "-c", "import portkey_ai"]
    if SDK_PYTHON.exists() and subprocess.run(check, capture_output=True).returncode == 0:
        return None
    print("installing portkey-ai into benchmarks/.venv ...", file=sys.stderr, flush=True)
    try:
        if not SDK_PYTHON.exists():
            venv.create(SDK_VENV, with_pip=True)
        subprocess.run(
            [str(SDK_PYTHON), "-m", "pip", "install", "--quiet", "portkey-ai"],
            check=True,
            capture_output=True,
            timeout=600,
        )
        subprocess.run(check, check=True, capture_output=True)
    except (OSError, subprocess.SubprocessError) as err:
        return f"the portkey-ai SDK is not measured: installing it failed ({type(err).__name__})"
    return None


def start_server(chunks: int) -> tuple[subprocess.Popen[str], str]:
    server = subprocess.Popen(
        [PYTHON, str(HERE / "server.py"), str(chunks)], stdout=subprocess.PIPE, text=True
    )
    assert server.stdout is not None
    port = server.stdout.readline().strip()
    if not port.isdigit():
        server.kill()
        raise SystemExit("the benchmark server did not start")
    return server, f"http://127.0.0.1:{port}/v1"


def worker(case: str, url: str, *args: int) -> float:
    python = str(SDK_PYTHON) if case.startswith("sdk") else PYTHON
    out = subprocess.run(
        [python, str(HERE / "worker.py"), case, url, *map(str, args)],
        capture_output=True,
        text=True,
        check=False,
    )
    if out.returncode != 0:
        raise SystemExit(f"worker {case} failed:\n{out.stderr[-2000:]}")
    return float(json.loads(out.stdout.strip().splitlines()[-1])["value"])


def timed_import(python: str, statement: str) -> float:
    out = subprocess.run([python, "-c", _TIMED_IMPORT.format(statement)], capture_output=True, text=True)
    if out.returncode != 0:
        raise SystemExit(f"{statement} failed:\n{out.stderr[-2000:]}")
    return float(out.stdout.strip())


def interleave(names: list[str], rounds: int, measure: Any) -> dict[str, list[float]]:
    """Each round measures every name once, in an order rotated round by round; samples per name."""
    samples: dict[str, list[float]] = {name: [] for name in names}
    for r in range(rounds):
        order = names[r % len(names) :] + names[: r % len(names)]
        for name in order:
            samples[name].append(measure(name))
    return samples


def medians(samples: dict[str, list[float]]) -> dict[str, float]:
    return {name: statistics.median(values) for name, values in samples.items()}


def _num(value: float) -> str:
    return f"{value:,.{3 if value < 10 else 1}f}"


def table(title: str, unit: str, samples: dict[str, list[float]], base: str) -> list[str]:
    values = medians(samples)
    lines = [
        f"### {title}",
        "",
        f"| client | {unit} (median) | ratio to {base} | range over rounds |",
        "| --- | ---: | ---: | ---: |",
    ]
    for name, value in values.items():
        low, high = min(samples[name]), max(samples[name])
        lines.append(f"| {name} | {_num(value)} | {value / values[base]:.2f}x | {_num(low)} - {_num(high)} |")
    return [*lines, ""]


def verdict(label: str, ok: bool, detail: str) -> str:
    return f"- {label}: {'met' if ok else 'NOT met'} ({detail})"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="a smoke run in seconds: small sizes, no SDK")
    parser.add_argument("--no-sdk", action="store_true", help="do not measure (or install) portkey-ai")
    parser.add_argument("--rounds", type=int, help="ABAB rounds per group (default 5, quick 1)")
    parser.add_argument("--calls", type=int, help="calls per per-call measurement (default 1000)")
    parser.add_argument("--concurrency", type=int, nargs="+", help="concurrent calls (default 100 300)")
    parser.add_argument("--chunks", type=int, help="chunks per stream (default 1000)")
    args = parser.parse_args(argv)
    quick = args.quick
    rounds = args.rounds or (1 if quick else 5)
    calls = args.calls or (25 if quick else 1000)
    levels = args.concurrency or ([20] if quick else [100, 300])
    chunks = args.chunks or (100 if quick else 1000)
    streams = 2 if quick else 20
    gathers = 1 if quick else 3

    started = time.perf_counter()
    note = ensure_sdk(wanted=not (quick or args.no_sdk))
    report = [f"Machine: {machine()}", ""]
    if note:
        report += [f"Note: {note}.", ""]
    server, url = start_server(chunks)
    try:
        imports = [n for n in IMPORTS if note is None or "portkey_ai" not in n]
        for name in imports if not quick else ():  # warm the file cache and .pyc files; not counted
            timed_import(*IMPORTS[name])
        import_rounds = 1 if quick else rounds * 2
        import_samples = interleave(imports, import_rounds, lambda n: timed_import(*IMPORTS[n]))
        report += table("Import (in-process seconds)", "s", import_samples, "import httpx")
        import_times = medians(import_samples)

        per_call = {
            "QueryService.run (chat)": "service_run",
            "PortkeyClient.chat": "client_chat",
            "raw httpx.Client.post": "httpx_post",
        }
        if note is None:
            per_call["portkey-ai SDK chat.completions.create"] = "sdk_chat"
        call_samples = interleave(list(per_call), rounds, lambda n: worker(per_call[n], url, calls))
        report += table(
            f"Per call, chat ({calls} calls per sample)", "us/call", call_samples, "raw httpx.Client.post"
        )
        call_times = medians(call_samples)

        async_rates: dict[int, dict[str, float]] = {}
        for level in levels:
            cases = {"AsyncQueryService.run": "async_service", "raw httpx.AsyncClient.post": "async_httpx"}
            rate_samples = interleave(
                list(cases), rounds, lambda n, level=level, cases=cases: worker(cases[n], url, gathers, level)
            )
            report += table(
                f"Concurrency: {level} calls at once", "calls/s", rate_samples, "raw httpx.AsyncClient.post"
            )
            async_rates[level] = medians(rate_samples)

        stream_cases = {"QueryService.stream": "service_stream", "raw iter_lines + json.loads": "raw_stream"}
        stream_samples = interleave(
            list(stream_cases), rounds, lambda n: worker(stream_cases[n], url, streams)
        )
        report += table(
            f"Streaming: one {chunks}-chunk answer",
            "ms/stream",
            stream_samples,
            "raw iter_lines + json.loads",
        )
        stream_times = medians(stream_samples)

        mib = 2 if quick else 16
        line_cases = {"SSEDecoder.decode": "sse_long_line", "one join + split": "join_long_line"}
        line_samples = interleave(list(line_cases), rounds, lambda n: worker(line_cases[n], url, 5, mib))
        report += table(
            f"Large answers: one {mib} MiB SSE line in 16 KiB pieces", "ms", line_samples, "one join + split"
        )
        line_times = medians(line_samples)
        body_cases = {
            "BodyDecoder (capped, 1 MiB steps)": "gzip_capped",
            "zlib whole, as httpx": "gzip_whole",
        }
        body_samples = interleave(list(body_cases), rounds, lambda n: worker(body_cases[n], url, 5, mib))
        report += table(
            f"Large answers: a {mib} MiB gzip JSON body in 64 KiB reads",
            "ms",
            body_samples,
            "zlib whole, as httpx",
        )
        body_times = medians(body_samples)
    finally:
        server.terminate()
        server.wait(10)

    ours = import_times["import tooljet_portkey"]
    service = import_times["from tooljet_portkey import QueryService"]
    report += ["### Targets", ""]
    detail = f"{ours:.3f} s; QueryService itself {service:.3f} s"
    report.append(verdict("import under 0.2 s", ours < 0.2, detail))
    if "import portkey_ai" in import_times:
        speedup = import_times["import portkey_ai"] / ours
        detail = f"{speedup:.1f}x; QueryService itself {import_times['import portkey_ai'] / service:.1f}x"
        report.append(verdict("import at least 6x faster than portkey_ai", speedup >= 6, detail))
    run_ratio = call_times["QueryService.run (chat)"] / call_times["raw httpx.Client.post"]
    report.append(verdict("run() within 1.10x of raw httpx", run_ratio <= 1.10, f"{run_ratio:.2f}x"))
    for level, rates in async_rates.items():
        ratio = rates["AsyncQueryService.run"] / rates["raw httpx.AsyncClient.post"]
        label = f"async throughput at {level} at least 0.9x raw"
        report.append(verdict(label, ratio >= 0.9, f"{ratio:.2f}x"))
    stream_ratio = stream_times["QueryService.stream"] / stream_times["raw iter_lines + json.loads"]
    label = "streaming within 1.2x of raw iter_lines"
    report.append(verdict(label, stream_ratio <= 1.2, f"{stream_ratio:.2f}x"))
    line_ratio = line_times["SSEDecoder.decode"] / line_times["one join + split"]
    report.append(verdict("a long SSE line within 3x of one join", line_ratio <= 3, f"{line_ratio:.2f}x"))
    body_ratio = body_times["BodyDecoder (capped, 1 MiB steps)"] / body_times["zlib whole, as httpx"]
    report.append(verdict("capped inflation within 1.2x of httpx's", body_ratio <= 1.2, f"{body_ratio:.2f}x"))
    report += ["", f"({rounds} rounds, {time.perf_counter() - started:.0f} s in all)"]
    print("\n".join(report))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
