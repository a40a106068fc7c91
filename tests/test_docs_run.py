"""Every example of the README and docs/ runs, exactly as printed, against the offline simulator.

- A ```python block is executed in this process (``exec`` in a fresh namespace, as ``__main__``) while a
  hosted-profile simulator stands in for Portkey's hosted API: the default gateway URL
  (``DEFAULT_GATEWAY_URL``, what a connection without ``gatewayUrl`` reaches) points at it, so the
  examples' ``{"apiKey": "PORTKEY_API_KEY", ...}`` connections reach it as they would reach Portkey.
  It serves the built-in demo prompts (``pp-demo``, ``pp-demo-text``). One simulator serves the module;
  after each block the garbage collector runs, so a client or stream left open fails the block.
- A ```sh block runs in bash (``set -e``) in a new temporary directory, with ``.venv/bin`` first on
  ``PATH``, no ``PORTKEY_*`` variable set and ``BROWSER=true``: what a reader who has installed the
  package has. ``tooljet-portkey serve``/``playground`` in a console block run in the background for the
  rest of the page (``Server``).
- A ```console block is a terminal session: each ``$ command`` (with ``\\`` continuation lines) runs as
  a sh block does, all of one block in one temporary directory, and what it printed (stdout and stderr,
  as a terminal shows them) must be the lines printed under it, but for what changes from run to run
  (see ``normalise``) and a ``...`` in the printed text, which stands for any text.

A ```text block right after a python or sh block (blank lines between at most) is what it prints, checked
as a console block's output is. Each block stands alone (it imports what it uses), as the type-checking
tier wants too. A block is not run here only when the line before its fence is a marker:

- ``<!-- needs: portkey-account -->``: it needs hosted Portkey (say why in the text);
- ``<!-- run-by: <file> -->``: another tier runs it; ``<file>`` must exist and hold the block's text
  (e.g. ``.ci/run``) or the marker itself (a test that reads the marked blocks).

``XFAIL_UNTIL_STREAM_CHANGES_MERGE`` lists the blocks expected to fail until a change elsewhere
lands (strict: a block that passes fails the run, and its entry must go).
"""

from __future__ import annotations

import contextlib
import gc
import io
import linecache
import os
import queue
import re
import signal
import subprocess
import sys
import threading
import traceback
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tooljet_portkey import _options
from tooljet_portkey.simulator import Simulator

ROOT = Path(__file__).resolve().parents[1]
DOCUMENTS = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
VENV_BIN = Path(sys.executable).parent
LANGUAGES = ("python", "sh", "console")
NEEDS_ACCOUNT = "<!-- needs: portkey-account -->"
RUN_BY = re.compile(r"^<!-- run-by: (\S+) -->$")
_FENCE = re.compile(r"^```(\w*)\n(.*?)^```$", re.DOTALL | re.MULTILINE)
# The blocks found when this runner was written: fewer means blocks went missing from the search.
BLOCKS_AT_LEAST = 37

# (document, number of the block on its page, from 1) -> why it fails for now. TO BE EMPTIED when the
# stream changes are merged (stream() yielding only chunks with choices; the stream examples, which those
# changes own, fixed): then these pass, strict xfail fails the run, and each entry must go.
XFAIL_UNTIL_STREAM_CHANGES_MERGE: dict[tuple[str, int], str] = {}
XFAIL = XFAIL_UNTIL_STREAM_CHANGES_MERGE


@dataclass(frozen=True)
class Block:
    document: str  # relative to the repository
    number: int  # among the page's python, sh and console blocks, from 1
    line: int  # of the opening fence
    language: str
    code: str
    marker: str  # the HTML comment on the line before the fence, or ""
    output: str | None = None  # a ```text block right after it (blank lines between): what it prints

    @property
    def name(self) -> str:
        return f"{self.document}#{self.number}(L{self.line})"


def blocks(document: str, text: str) -> list[Block]:
    """The python, sh and console blocks of one Markdown text, in order, with the marker before each
    and the output shown after a python or sh block."""
    found: list[Block] = []
    fences = list(_FENCE.finditer(text))
    for i, match in enumerate(fences):
        following = fences[i + 1] if i + 1 < len(fences) else None
        if match.group(1) not in LANGUAGES:
            continue
        before = text[: match.start()].rstrip("\n").rsplit("\n", 1)[-1].strip()
        marker = before if before.startswith("<!--") else ""
        line = text.count("\n", 0, match.start()) + 1
        output = None
        if following and following.group(1) == "text" and not text[match.end() : following.start()].strip():
            assert match.group(1) != "console", f"{document}:{line}: a console block holds its output"
            output = following.group(2)
        found.append(Block(document, len(found) + 1, line, match.group(1), match.group(2), marker, output))
    return found


def all_blocks() -> list[Block]:
    return [
        block
        for path in DOCUMENTS
        for block in blocks(str(path.relative_to(ROOT)), path.read_text(encoding="utf-8"))
    ]


# -- the console blocks: commands and what they print -----------------------------------------------


@dataclass(frozen=True)
class Command:
    command: str
    printed: str  # the lines under it, "" when none


def commands(code: str) -> list[Command]:
    """``$ command`` lines (a line ending in ``\\`` continues) and the lines printed under each."""
    found: list[Command] = []
    lines = code.splitlines()
    i = 0
    if not lines or not lines[0].startswith("$ "):
        raise AssertionError("a console block starts with a `$ ` command line")
    while i < len(lines):
        command = [lines[i].removeprefix("$ ")]
        while command[-1].endswith("\\"):
            i += 1
            command.append(lines[i])
        i += 1
        printed = []
        while i < len(lines) and not lines[i].startswith("$ "):
            printed.append(lines[i])
            i += 1
        found.append(Command("\n".join(command), "\n".join(printed).strip("\n")))
    return found


# What changes from run to run, in both the printed and the actual text.
_VOLATILE = [
    (re.compile(r"127\.0\.0\.1:\d+"), "127.0.0.1:<port>"),
    (re.compile(r"(127\.0\.0\.1:<port>/)[A-Za-z0-9_-]{20,}/"), r"\1<token>/"),  # the playground's
    (re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"), "<uuid>"),
    (re.compile(r"-sim[0-9a-f]{16,}"), "-sim<id>"),
    (re.compile(r'("created": )\d+'), r"\1<time>"),
    (re.compile(r"^(Date: ).*$", re.MULTILINE), r"\1<date>"),
]


def normalise(text: str) -> str:
    for pattern, replacement in _VOLATILE:
        text = pattern.sub(replacement, text)
    return "\n".join(line.rstrip() for line in text.strip("\n").splitlines())


def matches(printed: str, actual: str) -> bool:
    """The actual output is the printed one, but for volatile parts and ``...`` (any text)."""
    pieces = [re.escape(piece) for piece in normalise(printed).split("...")]
    return re.fullmatch(".*?".join(pieces), normalise(actual), re.DOTALL) is not None


def test_blocks_are_found_with_their_markers_and_numbers() -> None:
    text = (
        "# Title\n\n```python\nx = 1\n```\n\n<!-- needs: portkey-account -->\n```sh\necho hi\n```\n"
        "```json\n{}\n```\n```text\nout\n```\n```console\n$ echo a \\\n  b\na b\n\n$ true\n```\n"
    )
    found = blocks("docs/page.md", text)
    assert [(b.number, b.line, b.language, b.marker) for b in found] == [
        (1, 3, "python", ""),
        (2, 8, "sh", NEEDS_ACCOUNT),
        (3, 17, "console", ""),
    ]
    assert commands(found[2].code) == [Command("echo a \\\n  b", "a b"), Command("true", "")]
    shown = blocks(
        "p.md", "```python\nprint(1)\n```\n\n```text\n1\n```\n```sh\necho\n```\nprose\n```text\nx\n```\n"
    )
    assert [(b.language, b.output) for b in shown] == [("python", "1\n"), ("sh", None)]
    with pytest.raises(AssertionError, match="starts with"):
        commands("echo no prompt\n")


def test_printed_output_matches_only_with_its_volatile_parts_changed() -> None:
    printed = (
        '{"id": "chatcmpl-sim0b50d0b77d844348b9af9813", "created": 1795676076}\nat http://127.0.0.1:41507/v1'
    )
    actual = (
        '{"id": "chatcmpl-sim99706188e1e94025b3663e49", "created": 1795674780}\nat http://127.0.0.1:1234/v1'
    )
    assert matches(printed, actual)
    assert not matches(printed, actual.replace("created", "made"))
    assert matches('["data:image/png;base64,iVBOR..."]', '["data:image/png;base64,iVBORw0KGgo"]')
    assert not matches('["data:image/png;base64,iVBOR..."]', '["data:image/jpeg;base64,iVBORw0KGgo"]')
    assert not matches("a\nb", "a")


# -- running them -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def hosted() -> Iterator[Simulator]:
    with Simulator(profile="hosted") as sim:
        yield sim


@pytest.fixture
def portkey_is_the_simulator(hosted: Simulator, monkeypatch: pytest.MonkeyPatch) -> Iterator[Simulator]:
    """Connections without a gatewayUrl reach the simulator, which answers as Portkey's hosted API."""
    monkeypatch.setattr(_options, "DEFAULT_GATEWAY_URL", hosted.url)
    _options._connections.clear()  # settings remembered from other tests name the real URL
    hosted.reset()
    yield hosted
    _options._connections.clear()
    assert hosted.errors == []


def reader_environment() -> dict[str, str]:
    """A shell with the package's console scripts on PATH and no Portkey connection configured."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PORTKEY_")}
    env["PATH"] = f"{VENV_BIN}{os.pathsep}{env.get('PATH', '')}"
    env["BROWSER"] = "true"  # a machine without a display: the playground opens no page
    return env


def run_shell(command: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", "-c", command],
        cwd=cwd,
        env=reader_environment(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=120,
        check=False,
    )


def run_python(block: Block) -> str:
    """Execute the block as a script; what it printed, or a failure with the block's own traceback."""
    filename = f"<{block.name}>"
    linecache.cache[filename] = (len(block.code), None, block.code.splitlines(True), filename)
    out = io.StringIO()
    try:
        with contextlib.redirect_stdout(out):
            exec(compile(block.code, filename, "exec"), {"__name__": "__main__"})
    except Exception:
        failure = traceback.format_exc()
    else:
        return out.getvalue()
    finally:
        del linecache.cache[filename]
        gc.collect()  # a stream the block left unclosed is finalised (and reported) here, in its test
    pytest.fail(f"{block.name} failed; it printed:\n{out.getvalue()}\n{failure}", pytrace=False)


class Server:
    """A command that serves until Ctrl-C (``tooljet-portkey serve``, ``playground``), in the background
    of its page: what it prints first is read as it comes. A page's ``serve ... &`` runs the same way (the
    ``&`` is what a reader types to get the prompt back). It runs in a process group of its own, stopped
    (SIGTERM, then SIGKILL) when the module ends, so nothing it started outlives the test."""

    def __init__(self, command: str, cwd: Path) -> None:
        self.process = subprocess.Popen(
            ["bash", "-c", f"exec {command.removesuffix('&').rstrip()}"],
            cwd=cwd,
            env=reader_environment(),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
        self.lines: queue.Queue[str] = queue.Queue()
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.put(line)

    def first_lines(self, count: int) -> str:
        """The first ``count`` lines it prints (waiting at most 60 s for each)."""
        try:
            return "".join(self.lines.get(timeout=60) for _ in range(count))
        except queue.Empty:
            return f"<fewer than {count} lines; exit status {self.process.poll()}>"

    def _signal(self, signal_number: int) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal_number)

    def stop(self) -> None:
        self._signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self._signal(signal.SIGKILL)
            self.process.wait(timeout=30)
        self._signal(signal.SIGKILL)  # whatever it started in its group
        # the reader ends when the last writer of the pipe is gone; closing the pipe under a reader
        # that still reads would block on the reader's lock
        self.reader.join(timeout=30)
        if not self.reader.is_alive():
            assert self.process.stdout is not None
            self.process.stdout.close()


_SERVES = re.compile(r"^tooljet-portkey (serve|playground)\b")
_PORT = re.compile(r"127\.0\.0\.1:(\d+)")


@pytest.fixture(scope="module")
def servers() -> Iterator[dict[str, tuple[Server, str, str]]]:
    """Per page: the server started there, its printed port and its real one."""
    started: dict[str, tuple[Server, str, str]] = {}
    yield started
    for server, _, _ in started.values():
        server.stop()


def run_console(block: Block, cwd: Path, servers: dict[str, tuple[Server, str, str]]) -> int:
    """Run each command; return how many ran. A server started earlier on the page is the one the later
    commands reach: its port as printed stands for its real port."""
    ran = 0
    for command in commands(block.code):
        text = command.command
        if servers.get(block.document, (None, ""))[1]:
            _, printed_port, real_port = servers[block.document]
            text = text.replace(f"127.0.0.1:{printed_port}", f"127.0.0.1:{real_port}")
        if _SERVES.match(text):
            assert block.document not in servers, f"{block.name}: one server per page"
            server = Server(text, cwd)
            servers[block.document] = (server, "", "")  # stopped with the others, whatever follows
            output = server.first_lines(len(command.printed.splitlines()))
            printed_url, real_url = _PORT.search(command.printed), _PORT.search(output)
            assert printed_url and real_url, f"{block.name}: no URL in\n{output}"
            servers[block.document] = (server, printed_url.group(1), real_url.group(1))
        else:
            output = run_shell(text, cwd).stdout
        if not matches(command.printed, output):
            pytest.fail(
                f"{block.name}: $ {text}\n--- printed ---\n{command.printed}\n--- got ---\n{output}",
                pytrace=False,
            )
        ran += 1
    return ran


def check_output(block: Block, printed: str) -> None:
    """What a python or sh block printed is the ```text block shown after it, if any."""
    if block.output is not None and not matches(block.output, printed):
        pytest.fail(f"{block.name}\n--- shown ---\n{block.output}\n--- printed ---\n{printed}", pytrace=False)


def _check_run_by(block: Block) -> None:
    match = RUN_BY.match(block.marker)
    assert match, f"{block.name}: unknown marker {block.marker!r}"
    runner = ROOT / match.group(1)
    assert runner.is_file(), f"{block.name}: {match.group(1)} does not exist"
    text = runner.read_text(encoding="utf-8")
    assert block.code.strip() in text or block.marker in text, f"{block.name}: {runner} does not run it"


def _params() -> list[object]:
    params: list[object] = []
    for block in all_blocks():
        why = XFAIL.get((block.document, block.number))
        marks = [pytest.mark.xfail(strict=True, reason=why)] if why else []
        params.append(pytest.param(block, id=block.name, marks=marks))
    return params


@pytest.mark.parametrize("block", _params())
def test_the_example_runs_as_printed(block: Block, request: pytest.FixtureRequest, tmp_path: Path) -> None:
    if block.marker == NEEDS_ACCOUNT:
        pytest.skip("needs a Portkey account")
    if block.marker:
        _check_run_by(block)
        return
    if block.language == "python":
        request.getfixturevalue("portkey_is_the_simulator")
        check_output(block, run_python(block))
    elif block.language == "sh":
        done = run_shell("set -e\n" + block.code, tmp_path)
        assert done.returncode == 0, f"{block.name} exited {done.returncode}:\n{done.stdout}"
        check_output(block, done.stdout)
    else:
        servers = request.getfixturevalue("servers")
        assert run_console(block, tmp_path, servers) == len(commands(block.code)) > 0


def test_every_block_is_found_and_few_are_left_out() -> None:
    found = all_blocks()
    assert len(found) >= BLOCKS_AT_LEAST, [b.name for b in found]
    left_out = [b.name for b in found if b.marker == NEEDS_ACCOUNT]
    assert len(left_out) <= 2, f"needs a Portkey account, not run: {left_out}"
    assert set(XFAIL) <= {(b.document, b.number) for b in found}, "an XFAIL entry names no block"


def test_a_block_that_fails_or_prints_otherwise_fails_its_test(tmp_path: Path) -> None:
    def block(language: str, code: str) -> Block:
        return Block("docs/page.md", 1, 3, language, code, "")

    assert run_python(block("python", "print('hi')\n")) == "hi\n"
    with pytest.raises(pytest.fail.Exception, match="ValueError: broken"):
        run_python(block("python", "raise ValueError('broken')\n"))
    assert run_console(block("console", "$ echo hello\nhello\n\n$ true\n"), tmp_path, {}) == 2
    with pytest.raises(pytest.fail.Exception, match="--- got ---\nhello"):
        run_console(block("console", "$ echo hello\nhullo\n"), tmp_path, {})
    with pytest.raises(pytest.fail.Exception, match=r"--- got ---\n$"):
        run_console(block("console", "$ true\nsomething\n"), tmp_path, {})
