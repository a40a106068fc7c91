"""A cold first query: a fresh interpreter imports the client, makes it and sends one chat on
loopback, against the same with raw httpx, side by side.

    .venv/bin/python benchmarks/cold.py              # 10 pairs, ABAB, in about ten seconds
    .venv/bin/python benchmarks/cold.py --pairs 20

Each sample is one new interpreter; the time is measured inside it (``time.perf_counter`` from before
the import to the parsed answer), so the interpreter's own start-up is left out of both. The server
is benchmarks/server.py, in its own process. The report is the median of each side and their ratio.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from run import interleave, machine, start_server, table  # noqa: E402

_SETUP = """
import time
started = time.perf_counter()
import json
URL = "THE_URL"
API_KEY, PROVIDER_KEY = "pk-bench-0123456789", "sk-bench-0123456789"
MESSAGES = [{"role": "user", "content": "Who uses ToolJet?"}]
"""
CASES = {
    "QueryService.run (chat), cold": _SETUP
    + """
from tooljet_portkey import QueryService
source = {"apiKey": API_KEY, "gatewayUrl": URL, "provider": "openai", "providerApiKey": PROVIDER_KEY}
query = {"operation": "chat", "messages": json.dumps(MESSAGES), "model": "gpt-4o-mini"}
answer = QueryService().run(source, query, "bench")["data"]
print(time.perf_counter() - started)
""",
    "raw httpx.Client.post, cold": _SETUP
    + """
import httpx
headers = {"x-portkey-api-key": API_KEY, "x-portkey-provider": "openai",
           "authorization": f"Bearer {PROVIDER_KEY}", "accept": "application/json"}
answer = httpx.Client().post(URL + "/chat/completions", json={"model": "gpt-4o-mini", "messages": MESSAGES},
                             headers=headers).json()
print(time.perf_counter() - started)
""",
}


def cold(case: str, url: str) -> float:
    out = subprocess.run(
        [sys.executable, "-c", CASES[case].replace("THE_URL", url)],
        capture_output=True,
        text=True,
        check=False,
    )
    if out.returncode != 0:
        raise SystemExit(f"{case} failed:\n{out.stderr[-2000:]}")
    return float(out.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--pairs", type=int, default=10, help="samples of each side (default 10)")
    args = parser.parse_args(argv)
    server, url = start_server(10)
    try:
        for name in CASES:  # warm the file cache and the .pyc files; not counted
            cold(name, url)
        samples = interleave(list(CASES), args.pairs, lambda name: cold(name, url))
    finally:
        server.terminate()
        server.wait(10)
    print(f"Machine: {machine()}\n")
    print(
        "\n".join(
            table(f"Cold first query ({args.pairs} pairs)", "s", samples, "raw httpx.Client.post, cold")
        )
    )
    values = {name: statistics.median(v) for name, v in samples.items()}
    ratio = values["QueryService.run (chat), cold"] / values["raw httpx.Client.post, cold"]
    print(
        f"- a cold first query within 1.25x of raw httpx: "
        f"{'met' if ratio <= 1.25 else 'NOT met'} ({ratio:.2f}x)"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
