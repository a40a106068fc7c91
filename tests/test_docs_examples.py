"""Every Python example of the README and docs/ type-checks under ``mypy --strict``, against the package
as installed: a signature or a return type changed without its example fails here.

Each ```python block becomes a module of its own in a temporary directory (so each must import what it
uses); one mypy run checks them all, beside a module of ``assert_type`` lines for the typed surface
(the ``stream`` overloads, the TypedDict results) and one deliberately wrong example, whose exact errors
prove the run really saw the package's types. A block whose first line is ``# not type-checked: <why>``
is left out. Slow-marked: mypy takes several seconds from a cold cache.
"""

from __future__ import annotations

import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
DOCUMENTS = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
SKIP_MARK = "# not type-checked:"
_BLOCK = re.compile(r"^```python\n(.*?)^```", re.DOTALL | re.MULTILINE)


@dataclass(frozen=True)
class Example:
    document: str  # relative to the repository
    line: int  # of the opening fence
    code: str

    @property
    def module(self) -> str:
        """A module name unique to the block: ``docs_errors_L121``."""
        stem = re.sub(r"[^0-9A-Za-z]+", "_", self.document.removesuffix(".md"))
        return f"{stem}_L{self.line}"


def examples(document: str, text: str) -> list[Example]:
    """The ```python blocks of one Markdown text, but those marked as not type-checked."""
    found = []
    for match in _BLOCK.finditer(text):
        code = match.group(1)
        if code.startswith(SKIP_MARK):
            assert code.split("\n", 1)[0].removeprefix(SKIP_MARK).strip(), "say why it is not checked"
            continue
        found.append(Example(document, text.count("\n", 0, match.start()) + 1, code))
    return found


def all_examples() -> list[Example]:
    return [
        example
        for path in DOCUMENTS
        for example in examples(str(path.relative_to(ROOT)), path.read_text(encoding="utf-8"))
    ]


def test_blocks_are_found_with_their_lines_and_marked_ones_left_out() -> None:
    text = (
        "# Title\n\n```python\nx = 1\n```\n\ntext\n```python\n# not type-checked: a fragment\ny\n```\n"
        "```json\n{}\n```\n```python\nz = 2\n```\n"
    )
    found = examples("docs/some-page.md", text)
    assert [(e.line, e.code, e.module) for e in found] == [
        (3, "x = 1\n", "docs_some_page_L3"),
        (15, "z = 2\n", "docs_some_page_L15"),
    ]
    with pytest.raises(AssertionError, match="say why"):
        examples("x.md", "```python\n# not type-checked:\nq\n```\n")


def test_the_readme_client_example_is_among_them() -> None:
    codes = [e.code for e in all_examples() if e.document == "README.md"]
    assert any("client.chat(" in code and "PortkeyClient" in code for code in codes)
    assert len(all_examples()) >= 20


# What a type checker must see of the typed surface: each line would fail if an overload or a TypedDict
# were lost.
TYPED_SURFACE = """
from typing import Any

from typing_extensions import assert_type

from tooljet_portkey import (
    AsyncChunkStream,
    AsyncPortkeyClient,
    ChatCompletion,
    ChunkStream,
    Completion,
    ConnectionStatus,
    EmbeddingList,
    PortkeyClient,
    QueryMetadata,
    QueryResult,
    QueryService,
)


def sync_client(client: PortkeyClient, flag: bool) -> None:
    messages: list[Any] = []
    assert_type(client.chat(messages=messages, model="m"), ChatCompletion)
    assert_type(client.chat(messages=messages, model="m", stream=False), ChatCompletion)
    assert_type(client.chat(messages=messages, model="m", stream=True), ChunkStream)
    assert_type(client.chat(messages=messages, model="m", stream=flag), ChatCompletion | ChunkStream)
    assert_type(client.completions(model="m", prompt="p"), Completion)
    assert_type(client.completions(model="m", prompt="p", stream=True), ChunkStream)
    assert_type(client.prompt_completion("pp-1"), ChatCompletion | Completion)
    assert_type(client.prompt_completion("pp-1", stream=True), ChunkStream)
    assert_type(client.embeddings(input="x", model="m"), EmbeddingList)


async def async_client(client: AsyncPortkeyClient, flag: bool) -> None:
    messages: list[Any] = []
    assert_type(await client.chat(messages=messages, model="m"), ChatCompletion)
    assert_type(await client.chat(messages=messages, model="m", stream=True), AsyncChunkStream)
    assert_type(
        await client.chat(messages=messages, model="m", stream=flag), ChatCompletion | AsyncChunkStream
    )
    assert_type(await client.completions(model="m", prompt="p"), Completion)
    assert_type(await client.completions(model="m", prompt="p", stream=True), AsyncChunkStream)
    assert_type(await client.prompt_completion("pp-1"), ChatCompletion | Completion)
    assert_type(await client.prompt_completion("pp-1", stream=True), AsyncChunkStream)


def service(service: QueryService) -> None:
    result = service.run({}, {})
    assert_type(result, QueryResult)
    assert_type(result["metadata"], QueryMetadata)
    assert_type(result["metadata"]["traceId"], str)
    assert_type(service.test_connection({}), ConnectionStatus)
"""

# A wrong example: the run must report exactly these errors, or it did not check against the package.
WRONG_EXAMPLE = """from tooljet_portkey import PortkeyClient

with PortkeyClient(api_key="pk-...") as client:
    reply = client.chat(messages=[], model="m")
    print(reply.no_such_field)
    print(client.chat(messages=[], model="m", stream=True).text)
"""
WRONG_EXAMPLE_ERRORS = [
    'wrong_example.py:5: error: "ChatCompletion" has no attribute "no_such_field"  [attr-defined]',
    'wrong_example.py:6: error: "ChunkStream" has no attribute "text"  [attr-defined]',
]


def test_every_python_example_type_checks_under_mypy_strict(tmp_path: Path) -> None:
    found = all_examples()
    modules = {example.module: example.code for example in found}
    assert len(modules) == len(found), "two blocks map to one module name"
    modules |= {"typed_surface": TYPED_SURFACE, "wrong_example": WRONG_EXAMPLE}
    for name, code in modules.items():
        (tmp_path / f"{name}.py").write_text(code, encoding="utf-8")
    command = [sys.executable, "-m", "mypy", "--strict", "--python-version", "3.10", "--no-error-summary"]
    command += ["--cache-dir", str(tmp_path / ".mypy_cache"), "--config-file", "", "--hide-error-context"]
    done = subprocess.run(
        [*command, *sorted(f"{name}.py" for name in modules)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    errors = [line for line in done.stdout.splitlines() if ": error:" in line or ": note:" in line]
    where = {f"{e.module}.py": f"{e.document} (block at line {e.line})" for e in found}
    shown = [
        f"{where.get(line.split(':', 1)[0], line.split(':', 1)[0])}: {line.split(':', 1)[1]}"
        for line in errors
        if not line.startswith("wrong_example.py")
    ]
    assert shown == [], "\n".join(shown) + done.stderr
    assert errors == WRONG_EXAMPLE_ERRORS, done.stdout + done.stderr
