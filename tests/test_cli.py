"""The command line, as a user meets it: through a subprocess (``python -m tooljet_portkey``) and
in-process through ``main([...])``. Every error is one line on stderr and a non-zero exit, with no
traceback and no secret."""

from __future__ import annotations

import io
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator
from importlib import resources
from pathlib import Path
from typing import Any

import httpx
import pytest

from tooljet_portkey._operations import OPERATIONS as OPERATION_TABLE
from tooljet_portkey.cli import main
from tooljet_portkey.simulator import Simulator

MESSAGES = '[{"role":"user","content":"Hello"}]'
FIRST_COMMAND = ["run", "chat", "--set", "model=gpt-4o-mini", "--set", f"messages={MESSAGES}"]
SECRET = "pk-live-SECRET-4f9a0c"
SIMULATOR_NOTE = "tooljet-portkey: no API key or gateway URL given: answered by the offline Portkey simulator"
BY_SIMULATOR = " (offline Portkey simulator)"


def clean_env() -> dict[str, str]:
    """The process environment without any PORTKEY_* variable of the machine running the tests."""
    return {k: v for k, v in os.environ.items() if not k.startswith("PORTKEY_")}


def run_cli(*argv: str, env: dict[str, str] | None = None, stdin: str = "") -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(list(argv), environ=env or {}, stdout=out, stderr=err, stdin=io.StringIO(stdin))
    return code, out.getvalue(), err.getvalue()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture(scope="module")
def hosted() -> Iterator[Simulator]:
    with Simulator(profile="hosted") as sim:
        yield sim


@pytest.fixture
def hosted_sim(hosted: Simulator) -> Simulator:
    hosted.reset()
    return hosted


# -- the README's first command, as a process ------------------------------------------------------


def test_first_command_answers_from_the_simulator() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "tooljet_portkey", *FIRST_COMMAND],
        capture_output=True,
        text=True,
        env=clean_env(),
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["status"] == "ok"
    assert result["data"]["object"] == "chat.completion"
    assert result["data"]["choices"][0]["message"]["content"].startswith("This is a simulated answer.")
    assert result["metadata"]["statusCode"] == 200
    assert result["metadata"]["provider"] == "openai"
    assert done.stderr.startswith(SIMULATOR_NOTE)
    assert len(done.stderr.splitlines()) == 1


def test_console_script_error_is_one_line() -> None:
    script = Path(sys.executable).with_name("tooljet-portkey")
    if not script.exists():
        pytest.skip("the console script is not installed next to this interpreter")
    done = subprocess.run(
        [str(script), "run", "chat", "--api-key", SECRET, "--gateway-url", "http://127.0.0.1:1/v1"],
        capture_output=True,
        text=True,
        env=clean_env(),
        timeout=120,
        check=False,
    )
    assert done.returncode == 1
    assert done.stdout == ""
    assert done.stderr == "tooljet-portkey: Invalid query options: model: is required\n"


@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGTERM])
def test_serve_until_stopped(stop: signal.Signals) -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "tooljet_portkey", "serve", "--port", "0", "--profile", "hosted"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=clean_env(),
    )
    try:
        assert process.stdout is not None
        url = process.stdout.readline().strip()
        assert url.startswith("http://127.0.0.1:") and url.endswith("/v1")
        response = httpx.get(url + "/models", headers={"x-portkey-api-key": "pk-1"})
        assert response.status_code == 200
        unauthorized = httpx.get(url + "/models")
        assert unauthorized.status_code == 401
    finally:
        process.send_signal(stop)
        _, err = process.communicate(timeout=30)
    assert process.returncode == 0
    lines = err.splitlines()
    assert lines[0] == f"tooljet-portkey serve: Portkey simulator (profile hosted) at {url}; Ctrl-C stops it"
    assert '"GET /v1/models HTTP/1.1" 200' in lines[1]
    assert '"GET /v1/models HTTP/1.1" 401' in lines[2]
    assert lines[-1] == "tooljet-portkey serve: stopped"


def test_serve_accepts_only_the_given_api_keys() -> None:
    command = ["serve", "--port", "0", "--quiet", "--api-key", "pk-serve-one", "--api-key", "pk-serve-two"]
    process = subprocess.Popen(
        [sys.executable, "-m", "tooljet_portkey", *command],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=clean_env(),
    )
    try:
        assert process.stdout is not None
        url = process.stdout.readline().strip()
        accepted = httpx.get(url + "/models", headers={"x-portkey-api-key": "pk-serve-two"})
        refused = httpx.get(url + "/models", headers={"x-portkey-api-key": "pk-serve-three"})
    finally:
        process.send_signal(signal.SIGTERM)
        out, err = process.communicate(timeout=30)
    assert accepted.status_code == 200
    assert (refused.status_code, refused.json()) == (401, {"status": "failure", "message": "Invalid API Key"})
    assert err.splitlines() == [
        f"tooljet-portkey serve: Portkey simulator (profile gateway, 2 API keys accepted) at {url}; "
        "Ctrl-C stops it",
        "tooljet-portkey serve: stopped",
    ]
    assert "pk-serve" not in out + err


def test_serve_adds_the_models_of_a_file(tmp_path: Path) -> None:
    models = tmp_path / "models.json"
    models.write_text(json.dumps({"llama-3.1-8b-instant": {"kind": "chat", "owned_by": "groq"}}))
    command = ["serve", "--port", "0", "--quiet", "--profile", "openai", "--models", str(models)]
    process = subprocess.Popen(
        [sys.executable, "-m", "tooljet_portkey", *command],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=clean_env(),
    )
    try:
        assert process.stdout is not None
        url = process.stdout.readline().strip()
        listed = httpx.get(url + "/models", params={"provider": "groq"}).json()["data"]
        hello = [{"role": "user", "content": "Hello"}]
        added = httpx.post(
            url + "/chat/completions", json={"model": "llama-3.1-8b-instant", "messages": hello}
        )
        unknown = httpx.post(url + "/chat/completions", json={"model": "llama-9", "messages": hello})
    finally:
        process.send_signal(signal.SIGTERM)
        process.communicate(timeout=30)
    assert listed == [
        {"id": "llama-3.1-8b-instant", "object": "model", "created": 1715367049, "owned_by": "groq"}
    ]
    assert (added.status_code, added.json()["model"]) == (200, "llama-3.1-8b-instant")
    assert (unknown.status_code, unknown.json()["error"]["code"]) == (404, "model_not_found")


def test_serve_on_a_busy_port_is_one_line() -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        done = subprocess.run(
            [sys.executable, "-m", "tooljet_portkey", "serve", "--port", str(port)],
            capture_output=True,
            text=True,
            env=clean_env(),
            timeout=60,
            check=False,
        )
    assert done.returncode == 1
    assert (
        done.stderr == f"tooljet-portkey serve: cannot listen on 127.0.0.1:{port}: Address already in use\n"
    )


# -- run, in process -------------------------------------------------------------------------------


def test_run_prints_the_query_result() -> None:
    code, out, err = run_cli(*FIRST_COMMAND)
    result = json.loads(out)
    assert code == 0
    assert list(result) == ["status", "data", "metadata"]
    assert err.startswith(SIMULATOR_NOTE)


def test_raw_prints_only_the_data() -> None:
    code, out, _ = run_cli(*FIRST_COMMAND)
    raw_code, raw, _ = run_cli(*FIRST_COMMAND, "--raw")
    assert (code, raw_code) == (0, 0)
    data = json.loads(raw)
    assert data["object"] == "chat.completion"
    assert data["choices"] == json.loads(out)["data"]["choices"]


PROMPT_DEMO = '{"topic": "gateways", "audience": "builders"}'
MORE_OPERATIONS = [
    (["list_models", "--set", "output=text", "--set", "limit=3"], ["gpt-4o-mini", "gpt-4o", "o4-mini"]),
    (["list_models", "--set", "provider=anthropic", "--set", "output=text"], []),
    (["prompt_render", "--set", "promptId=pp-demo-text", "--set", 'variables={"product": "Acme"}',
      "--set", "output=text"], "Write a tagline for Acme:"),
    (["prompt_render", "--set", "promptId=pp-demo", "--set", f"variables={PROMPT_DEMO}",
      "--set", "output=text"],
     [{"role": "system", "content": "You are a concise assistant writing for builders."},
      {"role": "user", "content": "Write one short paragraph about gateways."}]),
]  # fmt: skip


@pytest.mark.parametrize(("argv", "data"), MORE_OPERATIONS)
def test_run_the_other_operations_on_the_simulator(argv: list[str], data: Any) -> None:
    code, out, err = run_cli("run", *argv, "--raw")
    assert (code, json.loads(out)) == (0, data)
    assert err.startswith(SIMULATOR_NOTE)


def test_run_feedback_and_image_generation_on_the_simulator() -> None:
    code, out, _ = run_cli("run", "feedback", "--set", "traceId=trace-1", "--set", "value=-1")
    result = json.loads(out)
    assert (code, result["data"]["status"], result["data"]["message"]) == (
        0,
        "success",
        "Feedback successfully saved",
    )
    assert len(result["data"]["feedback_ids"]) == 1
    code, out, _ = run_cli(
        "run", "image_generation", "--set", "prompt=A lighthouse", "--set", "model=gpt-image-1",
        "--set", "output=images", "--raw",
    )  # fmt: skip
    (uri,) = json.loads(out)
    assert code == 0 and uri.startswith("data:image/png;base64,iVBORw0KGgo")


def test_stream_prints_chunks_as_json_lines_then_the_metadata() -> None:
    _, whole, _ = run_cli(*FIRST_COMMAND)
    result = json.loads(whole)
    code, out, _ = run_cli(*FIRST_COMMAND, "--stream")
    *chunks, last = [json.loads(line) for line in out.splitlines()]
    text = "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks)
    assert code == 0
    assert all(c["object"] == "chat.completion.chunk" for c in chunks)
    assert chunks[-1]["choices"][0]["finish_reason"] == "stop"
    assert text == result["data"]["choices"][0]["message"]["content"]
    # the usage chunk the plugin asks for is read into the metadata: what run() says of the answer, with
    # the trace id the plugin made and sent
    metadata = last["metadata"]
    assert uuid.UUID(metadata.pop("traceId")).version == 4
    del result["metadata"]["traceId"]
    assert metadata == {**result["metadata"], "streamed": True, "chunks": len(chunks) + 1}


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        ([*FIRST_COMMAND, "--set", "max_tokens=4"],
         "This is a simulated\n"),
        ([*FIRST_COMMAND, "--set", "max_tokens=4", "--set", "output=text"],
         "This is a simulated\n"),
        (["run", "completion", "--set", "model=gpt-3.5-turbo-instruct", "--set", "prompt=Hi",
          "--set", "max_tokens=2"],
         "This is\n"),
        (["run", "prompt_completion", "--set", "promptId=pp-demo",
          "--set", 'prompt_parameters={"max_tokens": 3}'],
         "This is a\n"),
    ],
)  # fmt: skip
def test_stream_raw_prints_the_text(argv: list[str], expected: str) -> None:
    code, out, _ = run_cli(*argv, "--stream", "--raw")
    assert (code, out) == (0, expected)


def test_options_file_and_set_on_top(tmp_path: Path, hosted_sim: Simulator) -> None:
    options = tmp_path / "query.json"
    options.write_text(json.dumps({"model": "gpt-4o", "input": ["a", "b"], "metadata": {"_user": "ada"}}))
    code, out, err = run_cli(
        "run", "create_embedding", "--options", str(options), "--set", "model=text-embedding-3-large",
        "--api-key", SECRET, "--virtual-key", "vk-1", "--gateway-url", hosted_sim.url,
    )  # fmt: skip
    assert (code, err) == (0, "")
    assert [len(d["embedding"]) for d in json.loads(out)["data"]["data"]] == [3072, 3072]
    sent = hosted_sim.requests[-1]
    assert sent.json == {"model": "text-embedding-3-large", "input": ["a", "b"]}
    assert sent.headers["x-portkey-metadata"] == '{"_user":"ada"}'
    assert sent.headers["x-portkey-virtual-key"] == "vk-1"


def test_options_from_stdin() -> None:
    stdin = json.dumps({"model": "gpt-4o-mini", "messages": MESSAGES, "max_tokens": "3"})
    code, out, _ = run_cli("run", "chat", "--options", "-", "--raw", stdin=stdin)
    assert code == 0
    assert json.loads(out)["choices"][0]["message"]["content"] == "This is a"


def test_connection_from_the_environment(hosted_sim: Simulator) -> None:
    env = {
        "PORTKEY_API_KEY": SECRET,
        "PORTKEY_GATEWAY_URL": hosted_sim.url,
        "PORTKEY_PROVIDER": "@openai-prod",
        "PORTKEY_CONFIG": '{"retry": {"attempts": 2}}',
        "PORTKEY_VIRTUAL_KEY": "vk-env",
    }
    code, _, err = run_cli(*FIRST_COMMAND, env=env)
    assert (code, err) == (0, "")
    headers = hosted_sim.requests[-1].headers
    assert (headers["x-portkey-api-key"], headers["x-portkey-provider"]) == (SECRET, "@openai-prod")
    assert (headers["x-portkey-config"], headers["x-portkey-virtual-key"]) == (
        '{"retry":{"attempts":2}}',
        "vk-env",
    )

    code, _, _ = run_cli(
        *FIRST_COMMAND, "--provider", "openai", "--config", '{"cache": {"mode": "simple"}}', env=env
    )
    headers = hosted_sim.requests[-1].headers
    assert code == 0
    assert (headers["x-portkey-provider"], headers["x-portkey-config"]) == (
        "openai",
        '{"cache":{"mode":"simple"}}',
    )


def test_simulator_fault_then_retry_succeeds(monkeypatch: pytest.MonkeyPatch) -> None:
    from tooljet_portkey import _client

    waited: list[float] = []
    monkeypatch.setattr(_client, "_sleep", waited.append)
    code, out, _ = run_cli(*FIRST_COMMAND, "--fault", "status=503; retry-after=1; times=1")
    assert code == 0
    assert json.loads(out)["metadata"]["retries"] == 1
    assert waited == [1.0]


def test_test_connection_on_the_simulator() -> None:
    code, out, err = run_cli("test-connection")
    assert (code, json.loads(out)) == (0, {"status": "ok"})
    assert err.startswith(SIMULATOR_NOTE)


# -- every error: one line on stderr, non-zero exit, no secret ---------------------------------------------

CHAT = ["run", "chat", "--set", "model=gpt-4o-mini", "--set", f"messages={MESSAGES}"]
ERRORS = [
    # (argv, exit code, the one line on stderr)
    ([], 2,
     "tooljet-portkey: error: the following arguments are required: COMMAND (see tooljet-portkey --help)"),
    (["run"], 2, "tooljet-portkey run: error: the following arguments are required: OPERATION "
                 "(see tooljet-portkey run --help)"),
    (["run", "translate"], 2, "tooljet-portkey run: error: argument OPERATION: invalid choice: 'translate' "
                             f"(choose from {', '.join(map(repr, OPERATION_TABLE))}) "
                             "(see tooljet-portkey run --help)"),
    (["run", "chat", "--set", "model"], 2, "tooljet-portkey run: error: --set wants KEY=VALUE, got 'model'"),
    (["run", "create_embedding", "--stream"], 2,
     "tooljet-portkey run: error: create_embedding cannot be streamed"),
    (["run", "image_generation", "--stream", "--set", "prompt=A lighthouse"], 2,
     "tooljet-portkey run: error: image_generation cannot be streamed"),
    (["run", "feedback", "--set", "traceId=tr-1", "--set", "value=11"], 1,
     "tooljet-portkey: Invalid query options: value: must be at most 10"),
    (["run", "list_models", "--set", "limit=0"], 1,
     "tooljet-portkey: Invalid query options: limit: must be at least 1"),
    (["run", "prompt_render", "--set", "promptId=pp-unknown"], 1,
     "tooljet-portkey: Query could not be completed: Prompt pp-unknown not found" + BY_SIMULATOR),
    (["run", "chat", "--fault", "colour=red"], 2, "tooljet-portkey: error: --fault: unknown key 'colour'"),
    ([*CHAT, "--fault", "status=500", "--gateway-url", "http://127.0.0.1:1/v1"], 2,
     "tooljet-portkey: error: --fault only applies to the embedded simulator"),
    (["serve", "--port", "70000"], 2, "tooljet-portkey serve: error: --port must be from 0 to 65535"),
    (["serve", "--port", "0", "--api-key", " pk-1"], 2,
     "tooljet-portkey serve: error: --api-key must be non-empty text without leading or trailing spaces"),
    (["serve", "--port", "x"], 2, "tooljet-portkey serve: error: argument --port: invalid int value: 'x' "
                                  "(see tooljet-portkey serve --help)"),
    (["run", "chat", "--set", "model=m"], 1,
     "tooljet-portkey: Invalid query options: prompt: is required (or give messages)"),
    ([*CHAT, "--set", "max_tokens=0"], 1,
     "tooljet-portkey: Invalid query options: max_tokens: must be at least 1"),
    (["run", "chat", "--set", "model=m", "--set", "messages=[{"], 1,
     "tooljet-portkey: Invalid query options: messages: is not valid JSON "
     "(Expecting property name enclosed in double quotes: line 1 column 3 (char 2))"),
    ([*CHAT, "--timeout", "-1"], 1,
     "tooljet-portkey: Invalid connection options: timeout: must be greater than 0"),
    ([*CHAT, "--api-key", "pk bad\nkey"], 1,
     "tooljet-portkey: Invalid connection options: apiKey: contains characters that are not allowed here"),
    ([*CHAT, "--fault", "status=503", "--max-retries", "0"], 1,
     "tooljet-portkey: Query could not be completed: "
     "The engine is currently overloaded, please try again later (simulated)." + BY_SIMULATOR),
    ([*CHAT, "--fault", "drop", "--max-retries", "0"], 1, ("tooljet-portkey: Could not reach Portkey: ",)),
    (["run", "prompt_completion", "--set", "promptId=pp-unknown"], 1,
     "tooljet-portkey: Query could not be completed: Prompt pp-unknown not found" + BY_SIMULATOR),
    (["run", "chat", "--set", "model=gpt-4o-mini", "--set", f"messages={MESSAGES}", "--stream", "--raw",
      "--fault", "drop-after=0"], 1,
     ("tooljet-portkey: Query could not be completed: The connection was lost after 0 chunks: ",)),
    (["run", "chat", "--options", "/nonexistent/query.json"], 1,
     "tooljet-portkey: cannot read /nonexistent/query.json: No such file or directory"),
    (["run", "chat", "--options", "-"], 1, "tooljet-portkey: - must hold a JSON object of query options"),
    (["run", "chat", "--set", "model=gpt-4o-mnii", "--set", f"messages={MESSAGES}"], 1,
     "tooljet-portkey: Query could not be completed: "
     "The model `gpt-4o-mnii` does not exist or you do not have access to it." + BY_SIMULATOR),
    (["serve", "--port", "0", "--models", "/nonexistent/models.json"], 1,
     "tooljet-portkey serve: cannot read models file /nonexistent/models.json: No such file or directory"),
    (["serve", "--port", "0", "--prompts", "/nonexistent/prompts.json"], 1,
     "tooljet-portkey serve: cannot read prompts file /nonexistent/prompts.json: No such file or directory"),
    (["serve", "--port", "0", "--profile", "cloud"], 2,
     "tooljet-portkey serve: error: argument --profile: invalid choice: 'cloud' "
     "(choose from 'hosted', 'gateway', 'openai') (see tooljet-portkey serve --help)"),
    (["validate", "--manifest", "/nonexistent.json"], 1,
     "tooljet-portkey validate: cannot read /nonexistent.json: No such file or directory"),
]  # fmt: skip


@pytest.mark.parametrize(("argv", "code", "line"), ERRORS)
def test_errors_are_one_line(argv: list[str], code: int, line: str | tuple[str]) -> None:
    got, out, err = run_cli(*argv, stdin="[1, 2]")
    assert got == code
    assert out == ""
    assert len(err.splitlines()) == 1, err
    if isinstance(line, str):
        assert err == line + "\n"
    else:  # the rest is httpx's words
        assert err.startswith(line[0])
        assert err.endswith(BY_SIMULATOR + "\n")


# -- files are read within a bound ---------------------------------------------------------------------

MIB = 1024 * 1024
FILE_LIMIT = 8 * MIB  # MAX_OPTION_CHARS, the most one option may hold
TOO_LONG = f"is longer than {FILE_LIMIT} characters, the most the command line reads from a file"


class EndlessWriter(threading.Thread):
    """Writes to a FIFO until its reader goes away; counts what the reader took (at most)."""

    def __init__(self, fifo: Path) -> None:
        super().__init__(daemon=True)
        self.fifo = fifo
        self.written = 0

    def run(self) -> None:
        fd = os.open(self.fifo, os.O_WRONLY)  # waits for the command to open it
        try:
            while True:
                self.written += os.write(fd, b"x" * 65536)
        except BrokenPipeError:
            pass
        finally:
            os.close(fd)

    def finish(self) -> None:
        # a writer still waiting for a reader (the command never opened the FIFO) is let go
        os.close(os.open(self.fifo, os.O_RDONLY | os.O_NONBLOCK))
        self.join()


@pytest.fixture(params=["device", "sparse file", "fifo"])
def endless(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A file without end, or far larger than the bound: /dev/zero, a sparse 200 MiB file, a FIFO fed
    without end (after the test: its writer wrote no more than the bound and a pipe's worth)."""
    if request.param == "device":
        yield "/dev/zero"
        return
    path = tmp_path / "big.json"
    if request.param == "sparse file":
        path.touch()
        os.truncate(path, 200 * MIB)
        yield str(path)
        return
    os.mkfifo(path)
    writer = EndlessWriter(path)
    writer.start()
    yield str(path)
    writer.finish()
    assert FILE_LIMIT < writer.written < FILE_LIMIT + MIB


BOUNDED_READS = [
    # (argv with FILE for the file, the line before TOO_LONG)
    (["run", "chat", "--set", "model=m", "--set", "prompt=@FILE"],
     "tooljet-portkey: --set prompt=@FILE: FILE"),
    (["run", "chat", "--options", "FILE"], "tooljet-portkey: --options FILE"),
    (["validate", "--manifest", "FILE"], "tooljet-portkey validate: --manifest FILE"),
    (["validate", "--operations", "FILE"], "tooljet-portkey validate: --operations FILE"),
    (["serve", "--port", "0", "--prompts", "FILE"], "tooljet-portkey serve: --prompts FILE"),
]  # fmt: skip


@pytest.mark.parametrize(("argv", "line"), BOUNDED_READS)
def test_files_are_read_within_a_bound(endless: str, argv: list[str], line: str) -> None:
    code, out, err = run_cli(*(arg.replace("FILE", endless) for arg in argv))
    assert (code, out) == (1, "")
    assert err == f"{line.replace('FILE', endless)} {TOO_LONG}\n"


class EndlessInput(io.StringIO):
    """Standard input without end, which fails the test if read whole."""

    def read(self, size: int | None = -1) -> str:
        assert size is not None and size >= 0, "standard input read whole"
        return "0" * size


def test_options_from_endless_stdin_are_read_within_a_bound() -> None:
    err = io.StringIO()
    code = main(["run", "chat", "--options", "-"], environ={}, stdout=io.StringIO(), stderr=err,
                stdin=EndlessInput())  # fmt: skip
    assert (code, err.getvalue()) == (1, f"tooljet-portkey: --options - {TOO_LONG}\n")


def test_a_file_of_exactly_the_bound_is_read(tmp_path: Path) -> None:
    package = resources.files("tooljet_portkey")
    text = package.joinpath("manifest.json").read_text(encoding="utf-8")
    manifest = tmp_path / "manifest.json"
    manifest.write_text(text.ljust(FILE_LIMIT), encoding="utf-8")
    code, out, err = run_cli("validate", "--manifest", str(manifest))
    assert (code, err) == (0, "")
    assert out.startswith(f"ok: {manifest} (")
    manifest.write_text(text.ljust(FILE_LIMIT + 1), encoding="utf-8")
    code, out, err = run_cli("validate", "--manifest", str(manifest))
    assert (code, out, err) == (1, "", f"tooljet-portkey validate: --manifest {manifest} {TOO_LONG}\n")


@pytest.mark.parametrize(
    ("argv", "line"),
    [
        (["run", "chat", "--options", "FILE"], "tooljet-portkey: FILE is not UTF-8 text"),
        (["run", "chat", "--set", "model=m", "--set", "prompt=@FILE"],
         "tooljet-portkey: --set prompt=@FILE: FILE is not UTF-8 text"),
        (["validate", "--manifest", "FILE"], "tooljet-portkey validate: FILE is not UTF-8 text"),
        (["serve", "--port", "0", "--prompts", "FILE"],
         "tooljet-portkey serve: prompts file FILE is not UTF-8 text"),
    ],
)  # fmt: skip
def test_a_file_that_is_not_utf8_is_one_line(tmp_path: Path, argv: list[str], line: str) -> None:
    path = tmp_path / "latin1.json"
    path.write_bytes('{"prompt": "café"}'.encode("latin-1"))
    code, out, err = run_cli(*(arg.replace("FILE", str(path)) for arg in argv))
    assert (code, out, err) == (1, "", line.replace("FILE", str(path)) + "\n")


def test_unreachable_gateway() -> None:
    port = free_port()
    code, out, err = run_cli(*CHAT, "--api-key", SECRET, "--gateway-url", f"http://127.0.0.1:{port}/v1",
                             "--max-retries", "0")  # fmt: skip
    assert (code, out) == (1, "")
    assert err.startswith("tooljet-portkey: Could not reach Portkey: ")
    assert len(err.splitlines()) == 1
    assert SECRET not in err


@pytest.mark.parametrize(
    "body",
    [
        None,
        {"error": {"message": f"Incorrect API key provided: {SECRET}", "type": "invalid_request_error"}},
        {"status": "failure", "message": f"key {SECRET} is revoked"},
    ],
)
def test_rejected_key_is_never_printed(hosted_sim: Simulator, body: Any) -> None:
    hosted_sim.inject(path="*", status=401, body=body, times=2)
    flags = ["--api-key", SECRET, "--provider", "openai", "--gateway-url", hosted_sim.url]
    code, out, err = run_cli(*CHAT, *flags)
    test_code, test_out, test_err = run_cli("test-connection", *flags)
    assert (code, out, test_code, test_out) == (1, "", 1, "")
    assert len(err.splitlines()) == len(test_err.splitlines()) == 1
    assert err.startswith("tooljet-portkey: Query could not be completed: ")
    assert test_err.startswith("tooljet-portkey: connection failed: Portkey rejected the credentials (401): ")
    assert SECRET not in err + test_err
    assert hosted_sim.requests[0].headers["x-portkey-api-key"] == SECRET


def test_secret_from_the_environment_never_printed(hosted_sim: Simulator) -> None:
    hosted_sim.inject(status=403, body={"status": "failure", "message": f"{SECRET} may not use this model"})
    env = {"PORTKEY_API_KEY": SECRET, "PORTKEY_GATEWAY_URL": hosted_sim.url, "PORTKEY_PROVIDER": "openai"}
    code, out, err = run_cli(*CHAT, "--max-retries", "0", env=env)
    assert (code, out) == (1, "")
    assert err == "tooljet-portkey: Query could not be completed: *** may not use this model\n"


def test_help_and_version_exit_zero(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--version"]) == 0
    assert capsys.readouterr().out.startswith("tooljet-portkey ")
    assert main(["run", "--help"]) == 0
    help_text = capsys.readouterr().out
    for flag in ("--set", "--options", "--raw", "--stream", "--api-key", "--virtual-key", "--provider",
                 "--config", "--gateway-url", "--timeout", "--max-retries", "--fault",
                 "PORTKEY_API_KEY"):  # fmt: skip
        assert flag in help_text


def test_unexpected_errors_are_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    from tooljet_portkey import cli

    def broken(*args: Any) -> int:
        raise RuntimeError(f"internal detail {SECRET}")

    monkeypatch.setattr(cli, "cmd_validate", broken)
    code, out, err = run_cli("validate")
    assert (code, out, err) == (1, "", "tooljet-portkey: unexpected error (RuntimeError)\n")


# -- validate --------------------------------------------------------------------------------------


def test_validate_the_shipped_files() -> None:
    package = resources.files("tooljet_portkey")
    manifest = json.loads(package.joinpath("manifest.json").read_text(encoding="utf-8"))
    operations = json.loads(package.joinpath("operations.json").read_text(encoding="utf-8"))["properties"]
    fields = sum(len(section) for name, section in operations.items() if name != "operation")
    code, out, err = run_cli("validate")
    assert (code, err) == (0, "")
    assert out == (
        f"ok: manifest.json ({len(manifest['properties'])} connection fields) and operations.json "
        f"({len(operations) - 1} operations, {fields} fields) are valid and fully handled\n"
    )


def test_validate_as_a_process() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "tooljet_portkey", "validate"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert (done.returncode, done.stderr) == (0, "")


@pytest.fixture
def spec_copies(tmp_path: Path) -> tuple[Path, Path, dict[str, Any], dict[str, Any]]:
    package = resources.files("tooljet_portkey")
    manifest = json.loads(package.joinpath("manifest.json").read_text(encoding="utf-8"))
    operations = json.loads(package.joinpath("operations.json").read_text(encoding="utf-8"))
    return tmp_path / "manifest.json", tmp_path / "operations.json", manifest, operations


def write(path: Path, doc: Any) -> str:
    path.write_text(json.dumps(doc), encoding="utf-8")
    return str(path)


def test_validate_reports_each_unhandled_or_inconsistent_field(
    spec_copies: tuple[Path, Path, dict[str, Any], dict[str, Any]],
) -> None:
    manifest_path, operations_path, manifest, operations = spec_copies
    chat = operations["properties"]["chat"]
    chat["seed"] = {**chat["model"], "key": "seed", "label": "Seed"}
    del operations["properties"]["create_embedding"]["input"]
    operations["properties"]["chat"]["model"]["key"] = "modelName"
    del manifest["source"]["options"]["customHost"]
    manifest["source"]["options"]["timeout"]["encrypted"] = True
    code, out, err = run_cli(
        "validate",
        "--manifest",
        write(manifest_path, manifest),
        "--operations",
        write(operations_path, operations),
    )
    assert (code, out) == (1, "")
    assert err.splitlines() == [
        f"{manifest_path}: customHost is a form field but not in source.options",
        f"{manifest_path}: timeout is type text but encrypted is True",
        f"{operations_path}: chat.model has key 'modelName'",
        f"{operations_path}: chat.seed is not handled by the service",
        f"{operations_path}: the service reads create_embedding.input, which the form lacks",
    ]


@pytest.mark.parametrize(
    ("target", "change", "line"),
    [
        ("operations", lambda d: d["properties"]["chat"]["model"].update(type="slider"),
         "properties/chat/model/type: 'slider' is not one of"),
        ("operations", lambda d: d["properties"]["chat"]["model"].pop("schema"),
         "properties/chat/model: 'schema' is a required property"),
        ("operations", lambda d: d["properties"]["chat"]["model"].update(coerce="yaml"),
         "properties/chat/model/coerce: 'yaml' is not one of"),
        ("manifest", lambda d: d["source"].pop("kind"), "source: 'kind' is a required property"),
        ("manifest", lambda d: d["definitions"]["timeoutSeconds"].update(type="numeric"),
         "definitions.timeoutSeconds is not a valid JSON Schema: 'numeric' is not valid under any of the "
         "given schemas"),
        # a JSON Schema standing inside a field node: ToolJet reads it as a widget
        ("operations", lambda d: d["properties"]["chat"]["max_tokens"].update(schema={"type": "integer"}),
         "properties/chat/max_tokens/schema: '$ref' is a required property\n"
         "properties/chat/max_tokens/schema: Additional properties are not allowed ('type' was unexpected)"),
        ("operations", lambda d: d["properties"]["chat"]["model"].update(hint={"type": "integer"}),
         "properties/chat/model/hint: type 'integer' is not a widget type"),
        ("manifest", lambda d: d["properties"]["apiKey"].update(hint={"type": "string"}),
         "properties/apiKey/hint: type 'string' is not a widget type"),
        ("operations", lambda d: d["properties"]["chat"]["model"].update(schema={"$ref": "#/definitions/x"}),
         "chat.model.schema names no definition: #/definitions/x"),
    ],
)  # fmt: skip
def test_validate_against_the_meta_schemas(
    spec_copies: tuple[Path, Path, dict[str, Any], dict[str, Any]], target: str, change: Any, line: str
) -> None:
    manifest_path, operations_path, manifest, operations = spec_copies
    change(operations if target == "operations" else manifest)
    code, _, err = run_cli(
        "validate",
        "--manifest",
        write(manifest_path, manifest),
        "--operations",
        write(operations_path, operations),
    )
    path = operations_path if target == "operations" else manifest_path
    assert code == 1
    expected = line.splitlines()
    lines = err.splitlines()
    assert len(lines) == len(expected)
    for got, want in zip(lines, expected, strict=True):
        assert got.startswith(f"{path}: {want}")


def test_cli_and_simulator_stay_out_of_the_package_import() -> None:
    done = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys, tooljet_portkey; print(sorted(m for m in sys.modules if 'portkey' in m))",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert done.stdout.strip() == "['tooljet_portkey']"
