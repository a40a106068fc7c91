"""The command line over a table: ``--set rows=@tickets.json`` reads the rows from a file, and a one-line
progress indicator is drawn on stderr only when stderr is a terminal."""

from __future__ import annotations

import io
import json
import re
from pathlib import Path
from typing import Any

import pytest

from tooljet_portkey.cli import EXIT_ROWS_FAILED, Progress, main

TICKETS = [{"topic": "refunds"}, {"topic": "parcels"}, {"topic": "passwords"}]
NOTE = "tooljet-portkey: no API key or gateway URL given: answered by the offline Portkey simulator"


class Terminal(io.StringIO):
    """A stderr that says it is a terminal."""

    def isatty(self) -> bool:
        return True


def run_cli(*argv: str, err: io.StringIO | None = None) -> tuple[int, str, str]:
    out, err = io.StringIO(), err or io.StringIO()
    code = main(list(argv), environ={}, stdout=out, stderr=err, stdin=io.StringIO(""))
    return code, out.getvalue(), err.getvalue()


def table_command(rows_file: Path, *more: str) -> list[str]:
    return [
        "run", "prompt_completion", "--set", "promptId=pp-demo", "--set", "rows=@" + str(rows_file),
        "--set", 'prompt_parameters={"max_tokens": 3}', "--set", "output=text", *more,
    ]  # fmt: skip


@pytest.fixture
def tickets(tmp_path: Path) -> Path:
    path = tmp_path / "tickets.json"
    path.write_text(json.dumps(TICKETS, indent=2) + "\n", encoding="utf-8")
    return path


def test_rows_from_a_file_run_the_prompt_per_row(tickets: Path) -> None:
    code, out, err = run_cli(*table_command(tickets, "--raw"))
    assert code == 0
    assert json.loads(out) == [
        # each row's cost: 14 prompt tokens at $0.15 and 3 completion tokens at $0.60 per 1M
        {"row": i, "status": "ok", "output": "This is a", "traceId": entry["traceId"], "cost": 0.0000039}
        for i, entry in enumerate(json.loads(out))
    ]
    assert len(json.loads(out)) == 3
    assert err.startswith(NOTE) and "\r" not in err  # not a terminal: no progress line


def test_a_terminal_sees_one_progress_line_rewritten_then_wiped(tickets: Path) -> None:
    terminal = Terminal()
    code, out, err = run_cli(*table_command(tickets, "--set", "concurrency=1"), err=terminal)
    assert code == 0 and json.loads(out)["metadata"]["succeeded"] == 3
    drawn, note = err[: err.index(NOTE)], err[err.index(NOTE) :]
    last = "tooljet-portkey: 3 of 3 rows done (100%)"
    states = drawn.split("\r")
    # each state overwrites the last from the line's start; the last state is always drawn, then wiped
    assert states[0] == "" and states[-3:] == [last, " " * len(last), ""]
    shape = re.compile(r"tooljet-portkey: [123] of 3 rows done \(\d+%\) *")
    assert all(shape.fullmatch(state) for state in states[1:-2])
    assert note.count("\n") == 1


def test_progress_draws_at_most_ten_times_a_second_and_always_the_end() -> None:
    now = [0.0]
    terminal = Terminal()
    progress = Progress(terminal, "rows", clock=lambda: now[0])
    for done in range(1, 5):
        progress(done, 4)
        now[0] += 0.06
    progress.clear()
    assert terminal.getvalue() == (
        "\rtooljet-portkey: 1 of 4 rows done (25%)"
        "\rtooljet-portkey: 3 of 4 rows done (75%)"
        "\rtooljet-portkey: 4 of 4 rows done (100%)"
        "\r" + " " * len("tooljet-portkey: 4 of 4 rows done (100%)") + "\r"
    )


def test_progress_is_silent_when_stderr_is_not_a_terminal() -> None:
    plain = io.StringIO()
    progress = Progress(plain, "rows")
    progress(1, 1)
    progress.clear()
    assert plain.getvalue() == ""


def test_at_file_works_for_every_set_and_drops_one_final_line_break(tmp_path: Path) -> None:
    (tmp_path / "id.txt").write_text("pp-demo\n", encoding="utf-8")
    (tmp_path / "vars.json").write_text('{"topic": "refunds", "audience": "kids"}', encoding="utf-8")
    code, out, _ = run_cli(
        "run", "prompt_completion", "--set", f"promptId=@{tmp_path / 'id.txt'}",
        "--set", f"variables=@{tmp_path / 'vars.json'}", "--set", 'prompt_parameters={"max_tokens": 2}',
        "--set", "output=text", "--raw",
    )  # fmt: skip
    assert (code, json.loads(out)) == (0, "This is")


def test_a_double_at_is_a_literal_at() -> None:
    """A Model Catalog model (@slug/model) keeps its @ when written @@ (read as a file, it would fail);
    the simulator answers with the dated model it stands for."""
    code, out, _ = run_cli(
        "run", "chat", "--set", "model=@@openai-prod/gpt-4o-mini", "--set", "prompt=Hi",
        "--set", "max_tokens=2", "--raw",
    )  # fmt: skip
    assert code == 0
    assert json.loads(out)["model"] == "gpt-4o-mini-2024-07-18"


def test_an_unreadable_file_is_one_line() -> None:
    code, out, err = run_cli(
        "run", "prompt_completion", "--set", "promptId=pp-demo", "--set", "rows=@/nonexistent/tickets.json"
    )
    assert (code, out, err) == (
        1,
        "",
        "tooljet-portkey: --set rows=@/nonexistent/tickets.json: cannot read /nonexistent/tickets.json: "
        "No such file or directory "
        "(a value starting with @ is read from that file; write @@ for a literal @)\n",
    )


def test_a_file_that_is_not_utf8_is_one_line(tmp_path: Path) -> None:
    path = tmp_path / "rows.bin"
    path.write_bytes(b"\xff\xfe[")
    code, _, err = run_cli("run", "prompt_completion", "--set", "promptId=pp-demo", "--set", f"rows=@{path}")
    assert (code, err) == (1, f"tooljet-portkey: --set rows=@{path}: {path} is not UTF-8 text\n")


def test_bad_rows_in_the_file_are_refused_naming_the_row(tmp_path: Path) -> None:
    path = tmp_path / "rows.json"
    path.write_text('[{"topic": "a"}, "b"]', encoding="utf-8")
    code, _, err = run_cli("run", "prompt_completion", "--set", "promptId=pp-demo", "--set", f"rows=@{path}")
    assert (code, err) == (1, "tooljet-portkey: Invalid query options: rows[1]: must be a JSON object\n")


def test_a_long_embedding_input_shows_requests(tmp_path: Path) -> None:
    path = tmp_path / "texts.json"
    path.write_text(json.dumps([f"text {i}" for i in range(5)]), encoding="utf-8")
    terminal = Terminal()
    code, out, err = run_cli(
        "run", "create_embedding", "--set", "model=text-embedding-3-small", "--set", f"input=@{path}",
        "--set", "batch_size=2", "--set", "output=vectors", "--raw", err=terminal,
    )  # fmt: skip
    vectors: Any = json.loads(out)
    assert code == 0 and len(vectors) == 5
    assert "tooljet-portkey: 3 of 3 requests done (100%)" in err


def test_a_table_with_a_failed_row_prints_the_result_and_exits_3(tickets: Path) -> None:
    """Row 0 is answered 500 (no retry); the others work: the whole result is printed, one line on
    stderr says how many rows did not work, and the exit code tells a script."""
    code, out, err = run_cli(
        *table_command(
            tickets, "--set", "concurrency=1", "--fault", "status=500; times=1", "--max-retries", "0"
        )
    )
    result = json.loads(out)
    assert code == EXIT_ROWS_FAILED == 3
    assert [entry["status"] for entry in result["data"]] == ["failed", "ok", "ok"]
    assert result["data"][0]["error"]["data"]["statusCode"] == 500
    assert (result["metadata"]["failed"], result["metadata"]["skipped"]) == (1, 0)
    assert err.endswith("\ntooljet-portkey: 1 of 3 rows failed, 0 skipped\n")


def test_a_table_stopped_early_says_why_and_exits_3(tmp_path: Path) -> None:
    """Every request is refused (403): the run stops after 10 rows and skips the other 2."""
    path = tmp_path / "rows.json"
    path.write_text(json.dumps([{"topic": str(i)} for i in range(12)]), encoding="utf-8")
    code, out, err = run_cli(*table_command(path, "--set", "concurrency=1", "--fault", "status=403", "--raw"))
    statuses = [entry["status"] for entry in json.loads(out)]
    assert (code, statuses) == (3, ["failed"] * 10 + ["skipped"] * 2)
    assert err.endswith(
        "\ntooljet-portkey: 10 of 12 rows failed, 2 skipped (the run stopped: 10 consecutive failures "
        "that no retry can fix (permission_denied, status 403))\n"
    )


def test_a_table_where_every_row_worked_exits_0(tickets: Path) -> None:
    code, out, err = run_cli(*table_command(tickets))
    assert code == 0 and json.loads(out)["metadata"]["failed"] == 0
    assert "rows failed" not in err


def test_chat_rows_from_a_file_extract_each_row_checked_against_the_schema(tmp_path: Path) -> None:
    rows = tmp_path / "tickets.json"
    rows.write_text(json.dumps(["Ada Lovelace, 36, London", {"prompt": "Alan Turing, 41", "temperature": 0}]))
    schema = tmp_path / "person.schema.json"
    schema.write_text(
        json.dumps({"type": "object", "properties": {"name": {"type": "string"}, "age": {"type": "integer"}},
                    "required": ["name", "age"], "additionalProperties": False})
    )  # fmt: skip
    code, out, err = run_cli(
        "run", "chat", "--set", "model=gpt-4o-mini", "--set", "system_prompt=Extract the name and age.",
        "--set", f"response_format=@{schema}", "--set", "output=json", "--set", f"rows=@{rows}",
        "--set", "traceId=people", "--raw",
    )  # fmt: skip
    entries = json.loads(out)
    assert code == 0 and err.startswith(NOTE)
    assert [(e["row"], e["status"], e["traceId"], sorted(e["output"])) for e in entries] == [
        (0, "ok", "people-0", ["age", "name"]),
        (1, "ok", "people-1", ["age", "name"]),
    ]


def test_a_bad_chat_row_in_the_file_is_refused_naming_the_row_and_field(tmp_path: Path) -> None:
    rows = tmp_path / "tickets.json"
    rows.write_text(json.dumps(["a", "b", "c", {"prompt": "d", "temperature": 3}]))
    code, out, err = run_cli("run", "chat", "--set", "model=gpt-4o-mini", "--set", f"rows=@{rows}")
    assert (code, out, err) == (
        1,
        "",
        "tooljet-portkey: Invalid query options: rows[3].temperature: must be at most 2\n",
    )
