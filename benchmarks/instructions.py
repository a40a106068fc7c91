"""Instructions per chat call, counted by valgrind's callgrind: ``run()`` against raw httpx.

    .venv/bin/python benchmarks/instructions.py            # 100 and 400 calls each, about two minutes

Timings on a shared machine move by 2x between runs; instruction counts do not. Each client runs in a
fresh interpreter under ``valgrind --tool=callgrind`` twice, for a few and for many calls against
benchmarks/server.py; the difference divided by the extra calls is the cost of one call, without the
import and the warm-up.
"""

from __future__ import annotations

import re
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
CASES = {"QueryService.run (chat)": "service_run", "raw httpx.Client.post": "httpx_post"}
_ONE = """
import sys
sys.path.insert(0, {here!r})
import worker
if {case!r} == "service_run":
    from tooljet_portkey import QueryService
    svc = QueryService(); src = worker.source({url!r})
    call = lambda: svc.run(src, worker.QUERY, "bench")
else:
    import httpx
    client = httpx.Client(); body = {{"model": worker.MODEL, "messages": worker.MESSAGES}}
    call = lambda: client.post({url!r} + "/chat/completions", json=body, headers=worker.HEADERS).json()
for _ in range({n}):
    call()
"""


def instructions(case: str, url: str, calls: int) -> int:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "callgrind.out"
        code = _ONE.format(here=str(HERE), case=case, url=url, n=calls)
        subprocess.run(
            ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}", sys.executable, "-c", code],
            check=True,
            capture_output=True,
        )
        found = re.search(r"^summary: (\d+)", out.read_text(), re.M) or re.search(
            r"^totals: (\d+)", out.read_text(), re.M
        )
        assert found is not None
        return int(found.group(1))


def main(argv: list[str]) -> int:
    sys.path.insert(0, str(HERE))
    from run import start_server

    few, many = (int(a) for a in argv[:2]) if len(argv) >= 2 else (100, 400)
    server, url = start_server(10)
    try:
        per_call = {
            name: (instructions(case, url, many) - instructions(case, url, few)) / (many - few)
            for name, case in CASES.items()
        }
    finally:
        server.terminate()
        server.wait(10)
    base = per_call["raw httpx.Client.post"]
    print("| client | instructions per call | ratio to raw httpx.Client.post |")
    print("| --- | ---: | ---: |")
    for name, value in per_call.items():
        print(f"| {name} | {value:,.0f} | {value / base:.2f}x |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
