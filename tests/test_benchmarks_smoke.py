"""The benchmark's quick mode runs end to end and reports every comparison as ratios (no timing check)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

RUN = Path(__file__).resolve().parents[1] / "benchmarks" / "run.py"

SECTIONS = {
    "### Import (in-process seconds)": ["import tooljet_portkey", "import httpx"],
    "### Per call, chat": ["QueryService.run (chat)", "PortkeyClient.chat", "raw httpx.Client.post"],
    "### Concurrency: 20 calls at once": ["AsyncQueryService.run", "raw httpx.AsyncClient.post"],
    "### Streaming: one 100-chunk answer": ["QueryService.stream", "raw iter_lines + json.loads"],
    "### Large answers: one 2 MiB SSE line": ["SSEDecoder.decode", "one join + split"],
    "### Large answers: a 2 MiB gzip JSON body": [
        "BodyDecoder (capped, 1 MiB steps)",
        "zlib whole, as httpx",
    ],
}


@pytest.mark.skipif(not RUN.exists(), reason="benchmarks/ is not part of this install")
def test_quick_benchmark_prints_ratios_for_every_client() -> None:
    done = subprocess.run(
        [sys.executable, str(RUN), "--quick"], capture_output=True, text=True, timeout=600, check=False
    )
    assert done.returncode == 0, done.stderr[-2000:]
    out = done.stdout
    assert out.startswith("Machine: ") and "CPUs" in out and "Python 3." in out
    assert "Note: the portkey-ai SDK is not measured with --quick or --no-sdk." in out
    for heading, clients in SECTIONS.items():
        section = out[out.index(heading) :].split("\n\n")[1]
        for client in clients:
            row = re.search(
                rf"^\| {re.escape(client)} \| [\d,.]+ \| (\d+\.\d\d)x \| [\d,.]+ - [\d,.]+ \|$", section, re.M
            )
            assert row is not None, (client, section)
            assert float(row.group(1)) > 0
        # each table's baseline row is the last client listed and compares to itself
        assert re.search(rf"^\| {re.escape(clients[-1])} \| [\d,.]+ \| 1\.00x \| ", section, re.M)
    verdicts = out[out.index("### Targets") :]
    targets = (
        "import under 0.2 s",
        "run() within 1.10x",
        "async throughput at 20",
        "streaming within 1.2x",
        "a long SSE line within 3x",
        "capped inflation within 1.2x",
    )
    for target in targets:
        assert re.search(rf"^- {re.escape(target)}.*: (met|NOT met) \(", verdicts, re.M), target


VALIDATION = Path(__file__).resolve().parents[1] / "benchmarks" / "validation.py"
VALIDATION_OUTCOMES = {
    "input: one flat token array": "refused: input: must have at most 2048 items",
    "input: 2048 token arrays": "accepted",
    "input: 2048 token arrays, the last token -1": "refused: input[2047][19]: must be at least 0",
    "input: 2048 texts": "accepted",
    "input: 2048 texts, the last a cut emoji": (
        "refused: input: contains invalid text (a lone UTF-16 surrogate)"
    ),
    "messages: empty objects": "refused: messages[0]: needs 'role'",
    "messages: valid ones": "accepted",
    "other_parameters: a wide object": "accepted",
    "prompt: one text": "accepted",
}


@pytest.mark.skipif(not VALIDATION.exists(), reason="benchmarks/ is not part of this install")
def test_quick_validation_benchmark_reports_every_case() -> None:
    done = subprocess.run(
        [sys.executable, str(VALIDATION), "--quick"], capture_output=True, text=True, timeout=600, check=False
    )
    assert done.returncode == 0, done.stderr[-2000:]
    for option, outcome in VALIDATION_OUTCOMES.items():
        row = re.search(
            rf"^\| {re.escape(option)} \| {re.escape(outcome)} \| [\d,]+ \| (\d+\.\d\dx|-) \| [\d,.]+ \| "
            rf"(\d+\.\d\dx|-) \|$",
            done.stdout,
            re.M,
        )
        assert row is not None, (option, done.stdout)


TABLE = Path(__file__).resolve().parents[1] / "benchmarks" / "table.py"


@pytest.mark.skipif(not TABLE.exists(), reason="benchmarks/ is not part of this install")
def test_quick_table_benchmark_reports_every_case_as_ratios() -> None:
    """Rows against a loop, a run against the simulator's rate limit, a long embedding input against
    hand-made requests: each table is printed, with a verdict for each target (not asserted: timing)."""
    done = subprocess.run(
        [sys.executable, str(TABLE), "--quick"], capture_output=True, text=True, timeout=600, check=False
    )
    assert done.returncode == 0, done.stderr[-2000:]
    out = done.stdout
    assert re.search(r"^\| rows at concurrency 50 \| [\d.]+ \| \d+\.\d{3}x \| ", out, re.M), out
    assert re.search(r"^\| a loop of run\(\) calls \| [\d.]+ \| 1\.000x \| ", out, re.M), out
    assert re.search(r"^\| ratio to that floor \| \d+\.\d\dx \|$", out, re.M), out
    # the run against the limit met 429s and still lost no row (a verdict the quick run can check: the
    # retry budget is generous and the limit's window short)
    assert re.search(r"^\| failed rows \| 0 \|$", out, re.M), out
    assert re.search(r"^\| retries \(429s met\) \| [1-9]\d* \|$", out, re.M), out
    assert re.search(r"^\| one query, split by the plugin \| [\d.]+ \| \d+\.\d\dx \| ", out, re.M), out
    targets = out[out.index("### Targets") :]
    for target in (
        "rows at concurrency 50 at least 25x a loop",
        "no failed row against the rate limit",
        "within 1.3x of the rate limit's floor",
        "a long embedding input within 1.2x of hand-made requests",
    ):
        assert re.search(rf"^- {re.escape(target)}: (met|NOT met) \(", targets, re.M), target
