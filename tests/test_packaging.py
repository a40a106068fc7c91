"""The package as a host gets it: build the sdist and the wheel from it, install the wheel in a new virtual
environment, find the plugin by its entry point, read the shipped files, and run one real query
against a loopback server.

Slow (a build and a pip install from PyPI): run with ``pytest -m slow tests/test_packaging.py``.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import subprocess
import sys
import tarfile
import threading
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from faults.loopback_server import FaultServer, Reply, Seen

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
PACKAGE_DIR = ROOT / "src" / "tooljet_portkey"
RESOURCES = ("manifest.json", "operations.json", "icon.svg", "py.typed", "prices.json")
VERSION_TAG = "tooljet_portkey-0.1.0"

# The seed's chat response example, as the loopback server answers it.
SEED_CHAT_RESPONSE: dict[str, Any] = json.loads(
    (Path(__file__).resolve().parent / "data" / "seed_responses.json").read_text(encoding="utf-8")
)["chat"]

# Loads every entry point the distribution declares (the plugin and any console script).
LOAD_ALL_SCRIPT = r"""
import json
from importlib import metadata

failures = {}
for ep in metadata.distribution("tooljet-portkey").entry_points:
    try:
        ep.load()
    except Exception as err:
        failures[f"{ep.group}:{ep.name} = {ep.value}"] = f"{type(err).__name__}: {err}"
print(json.dumps(failures))
"""

# A host, inside the new virtual environment: find the plugin, read the shipped files, run one query.
HOST_SCRIPT = r"""
import hashlib, json, sys
from importlib import metadata, resources

gateway_url = sys.argv[1]
(plugin,) = [ep for ep in metadata.entry_points(group="tooljet.plugins") if ep.name == "portkey"]
service_class = plugin.load()
package = resources.files("tooljet_portkey")
shipped = {
    name: hashlib.sha256(package.joinpath(name).read_bytes()).hexdigest()
    for name in ("manifest.json", "operations.json", "icon.svg", "py.typed", "prices.json")
}
fields = json.loads(package.joinpath("operations.json").read_text(encoding="utf-8"))["properties"]["chat"]

import tooljet_portkey

with service_class() as service:
    result = service.run(
        {"gatewayUrl": gateway_url, "apiKey": "pk-packaging-check", "provider": "@openai-prod",
         "timeout": "30", "maxRetries": "0"},
        {
            "operation": "chat",
            "model": "gpt-4o-mini",
            "messages": '[{"role": "user", "content": "Who is ToolJet for?"}]',
            "max_tokens": "64",
            "temperature": "0.2",
            "stop_sequence": "END",
            "metadata": '{"_user": "user-123"}',
            "traceId": "packaging-check",
        },
        "data-source-1",
        "2026-01-01T00:00:00Z",
    )
print(json.dumps({
    "entryPoint": plugin.value,
    "serviceClass": f"{service_class.__module__}.{service_class.__qualname__}",
    "packageFile": tooljet_portkey.__file__,
    "shipped": shipped,
    "chatFields": sorted(fields),
    "result": result,
}))
"""


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The sdist of this checkout, and the wheel built from that sdist (``python -m build``'s default),
    so a file the sdist forgets is missing from the wheel too."""
    out = tmp_path_factory.mktemp("dist")
    subprocess.run(
        [sys.executable, "-m", "build", "--outdir", str(out), str(ROOT)],
        check=True,
        capture_output=True,
        text=True,
    )
    (wheel,) = out.glob("*.whl")
    (sdist,) = out.glob("*.tar.gz")
    return {"wheel": wheel, "sdist": sdist}


@pytest.fixture(scope="module")
def installed(built: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A new virtual environment with the wheel installed (its dependencies come from PyPI)."""
    venv = tmp_path_factory.mktemp("host") / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    python = venv / "bin" / "python"
    subprocess.run(
        [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", str(built["wheel"])],
        check=True,
        capture_output=True,
        text=True,
    )
    return python


def _run_in(python: Path, script: str, *args: str) -> Any:
    """Run a script in the host's environment (python -I: no PYTHONPATH, user site or cwd on sys.path)."""
    done = subprocess.run(
        [str(python), "-I", "-c", script, *args],
        cwd=python.parents[2],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def _answer_chat(seen: Seen) -> Reply:
    """POST /v1/chat/completions gets the seed's example, with Portkey's headers; any other path a 404."""
    if seen.path != "/v1/chat/completions":
        return Reply(404, {"message": "Not Found", "ok": False})
    headers = {
        "x-portkey-trace-id": seen.headers.get("x-portkey-trace-id", ""),
        "x-portkey-cache-status": "MISS",
        "x-portkey-retry-attempt-count": "0",
        "x-portkey-provider": "openai",
    }
    return Reply(200, SEED_CHAT_RESPONSE, headers)


@pytest.fixture
def loopback_gateway() -> Iterator[tuple[str, list[Seen]]]:
    server = FaultServer()
    server.route(_answer_chat)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.url, server.requests
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# What may ship inside the package: modules, the JSON data the package reads, the icon, the typing marker,
# and the playground's page (plain HTML, CSS and JS).
SHIPPED_SUFFIXES = {".py", ".json", ".svg", ".typed", ".html", ".css", ".js"}
PLAYGROUND_FILES = ("index.html", "playground.css", "playground.js")


def _package_sources() -> set[str]:
    """The package's files in this checkout (caches aside): the wheel must hold exactly these."""
    return {
        f"tooljet_portkey/{p.relative_to(PACKAGE_DIR).as_posix()}"
        for p in PACKAGE_DIR.rglob("*")
        if p.is_file() and "__pycache__" not in p.parts
    }


def test_wheel_holds_the_package_and_its_resources_only(built: dict[str, Path]) -> None:
    with zipfile.ZipFile(built["wheel"]) as wheel:
        names = set(wheel.namelist())
        entry_points = wheel.read(f"{VERSION_TAG}.dist-info/entry_points.txt").decode()
    dist_info = {n for n in names if n.startswith(f"{VERSION_TAG}.dist-info/")}
    package = names - dist_info
    assert package == _package_sources()
    assert {f"tooljet_portkey/{name}" for name in RESOURCES} <= package
    assert {f"tooljet_portkey/playground/static/{name}" for name in PLAYGROUND_FILES} <= package
    assert not [n for n in package if Path(n).suffix not in SHIPPED_SUFFIXES]
    assert not [n for n in names if "tests/" in n or n.startswith("tests")]
    assert {n for n in dist_info if "/licenses/" not in n} == {
        f"{VERSION_TAG}.dist-info/{name}" for name in ("METADATA", "WHEEL", "RECORD", "entry_points.txt")
    }
    assert "[tooljet.plugins]\nportkey = tooljet_portkey:QueryService\n" in entry_points


def test_sdist_ships_real_files_only(built: dict[str, Path]) -> None:
    """No symlinks (the repository's top-level manifest.json/operations.json are); the package's copies
    are regular files with the checkout's bytes, and nothing from caches, node_modules or a venv."""
    with tarfile.open(built["sdist"]) as sdist:
        members = sdist.getmembers()
        assert [m.name for m in members if not (m.isfile() or m.isdir())] == []
        for name in RESOURCES:
            extracted = sdist.extractfile(f"{VERSION_TAG}/src/tooljet_portkey/{name}")
            assert extracted is not None
            assert extracted.read() == (PACKAGE_DIR / name).read_bytes()
    names = [m.name for m in members]
    assert not [n for n in names if "__pycache__" in n or "/node_modules/" in n or "/.venv/" in n]


def test_every_declared_entry_point_loads(installed: Path) -> None:
    assert _run_in(installed, LOAD_ALL_SCRIPT) == {}


# The playground from the installed wheel: its page and the files the page loads, byte for byte.
PLAYGROUND_SCRIPT = r"""
import hashlib, json, urllib.request
from tooljet_portkey.playground import Playground

with Playground() as playground:
    served = {}
    for name, path in (("index.html", ""), ("playground.css", "static/playground.css"),
                       ("playground.js", "static/playground.js")):
        with urllib.request.urlopen(playground.url + path, timeout=30) as response:
            served[name] = hashlib.sha256(response.read()).hexdigest()
print(json.dumps(served))
"""


def test_installed_wheel_serves_the_playground_page(installed: Path) -> None:
    served = _run_in(installed, PLAYGROUND_SCRIPT)
    static = PACKAGE_DIR / "playground" / "static"
    assert served == {name: _sha256(static / name) for name in PLAYGROUND_FILES}


def test_installed_wheel_runs_a_chat_query(installed: Path, loopback_gateway: tuple[str, list[Seen]]) -> None:
    gateway_url, received = loopback_gateway
    out = _run_in(installed, HOST_SCRIPT, gateway_url)

    assert out["entryPoint"] == "tooljet_portkey:QueryService"
    assert out["serviceClass"] == "tooljet_portkey._service.QueryService"
    assert Path(out["packageFile"]).is_relative_to(installed.parents[1])
    assert out["shipped"] == {name: _sha256(PACKAGE_DIR / name) for name in RESOURCES}
    operations = json.loads((PACKAGE_DIR / "operations.json").read_text(encoding="utf-8"))
    assert out["chatFields"] == sorted(operations["properties"]["chat"])

    assert out["result"] == {
        "status": "ok",
        "data": SEED_CHAT_RESPONSE,
        "metadata": {
            "statusCode": 200,
            "retries": 0,
            "traceId": "packaging-check",
            "cacheStatus": "MISS",
            "provider": "openai",
            "retryAttemptCount": 0,
            "usage": SEED_CHAT_RESPONSE["usage"],
            "model": SEED_CHAT_RESPONSE["model"],
            "finishReason": SEED_CHAT_RESPONSE["choices"][0]["finish_reason"],
            # priced from the prices.json the wheel ships: 29 + 7 tokens of gpt-4o-mini
            "cost": {
                "currency": "USD",
                "total": 0.00000855,
                "input": 0.00000435,
                "output": 0.0000042,
                "pricing": {
                    "provider": "openai",
                    "model": "gpt-4o-mini",
                    "source": "Portkey-AI/models 2026-08-21",
                },
            },
        },
    }
    (request,) = received
    assert request.method == "POST"
    assert request.path == "/v1/chat/completions"
    assert request.body == {
        "model": "gpt-4o-mini",
        "messages": [{"role": "user", "content": "Who is ToolJet for?"}],
        "max_tokens": 64,
        "temperature": 0.2,
        "stop": ["END"],
    }
    headers = request.headers
    assert {k: headers.get(k) for k in _EXPECTED_HEADERS} == _EXPECTED_HEADERS
    assert "x-portkey-virtual-key" not in headers
    assert "x-portkey-config" not in headers


_EXPECTED_HEADERS = {
    "content-type": "application/json",
    "accept": "application/json",
    "user-agent": "tooljet-portkey",
    "x-portkey-api-key": "pk-packaging-check",
    "x-portkey-provider": "@openai-prod",
    "x-portkey-metadata": '{"_user":"user-123"}',
    "x-portkey-trace-id": "packaging-check",
}


# The README's first command, marked for this tier: the docs tier (test_docs_run.py) leaves it to us.
README_MARK = "<!-- run-by: tests/test_packaging.py -->"


def _readme_first_command() -> tuple[str, str]:
    """The marked ```sh block of the README, and the ```text block after it that shows its output."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    after = text.split(f"{README_MARK}\n```sh\n", 1)[1]
    command, rest = after.split("\n```\n", 1)
    shown = rest.split("```text\n", 1)[1].split("\n```\n", 1)[0]
    return command, shown


def _without_volatile(result: dict[str, Any]) -> dict[str, Any]:
    """The result without what changes from run to run (the answer's id and time, the trace id)."""
    data = {k: v for k, v in result["data"].items() if k not in ("id", "created")}
    metadata = {k: v for k, v in result["metadata"].items() if k != "traceId"}
    return {**result, "data": data, "metadata": metadata}


def test_the_readme_first_command_runs_as_printed(built: dict[str, Path], tmp_path: Path) -> None:
    """On a fresh copy of the project (the sdist unpacked: no .venv), the README's first command
    creates .venv, installs the package (dependencies from PyPI) and answers from the simulator, with
    the note and the result the README shows, but for the port, ids and time."""
    command, shown = _readme_first_command()
    with tarfile.open(built["sdist"]) as sdist:
        sdist.extractall(tmp_path, filter="data")
    env = {k: v for k, v in os.environ.items() if not k.startswith("PORTKEY_")}
    done = subprocess.run(
        ["bash", "-c", command],
        cwd=tmp_path / VERSION_TAG,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    note, printed = shown.split("\n", 1)
    port = re.compile(r"127\.0\.0\.1:\d+")
    # pip may warn on stderr before (about the machine's index settings); the note is the last line
    assert port.sub("PORT", done.stderr.strip().splitlines()[-1]) == port.sub("PORT", note)
    assert _without_volatile(json.loads(done.stdout)) == _without_volatile(json.loads(printed))
