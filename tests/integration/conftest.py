"""The gateway tier: the real open-source Portkey gateway (npm @portkey-ai/gateway, pinned in
tests/gateway/package-lock.json) as a node process on loopback, with the offline simulator (profile
``openai``) as its upstream provider. Nothing in this tier is mocked: QueryService talks HTTP to the
gateway, and the gateway talks HTTP to the simulator.

Set-up: ``(cd tests/gateway && npm ci)`` (scripts/test.sh does it). Without node or the installed
gateway the tier is skipped, unless the environment variable CI is set: then it fails.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from gateway_support import FETCH_SHIM_ON, Gateway, Runner, without_ids

from tooljet_portkey import AsyncQueryService, QueryService
from tooljet_portkey.simulator import RecordedRequest, Simulator

GATEWAY_DIR = Path(__file__).resolve().parents[1] / "gateway"
GATEWAY_VERSION = "1.15.2"
ENTRY = GATEWAY_DIR / "node_modules" / "@portkey-ai" / "gateway" / "build" / "start-server.js"
# Makes the gateway listen on 127.0.0.1 only (start-server.js has no host option).
LOOPBACK_ONLY = Path(__file__).resolve().with_name("loopback_only.cjs")
# With GATEWAY_FETCH_SHIM=1, works around the gateway's Node 20 defect (see test_gateway_defects.py).
FETCH_SHIM = Path(__file__).resolve().with_name("mutable_fetch_headers.cjs")
START_TIMEOUT = 30.0
STOP_TIMEOUT = 5.0


def _in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def _missing() -> str | None:
    """Why the gateway cannot run here, or None."""
    if shutil.which("node") is None:
        return "node is not installed: the gateway tier needs Node.js 18+ and `npm ci` in tests/gateway"
    if not ENTRY.is_file():
        return f"the Portkey gateway is not installed: run `npm ci` in {GATEWAY_DIR}"
    installed = GATEWAY_DIR / "node_modules" / "@portkey-ai" / "gateway" / "package.json"
    if f'"version": "{GATEWAY_VERSION}"' not in installed.read_text(encoding="utf-8"):
        return f"tests/gateway/node_modules does not hold gateway {GATEWAY_VERSION}: run `npm ci` there"
    return None


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_until_ready(gateway: Gateway) -> None:
    """Poll the gateway's root (it answers "AI Gateway says hey!") until it does, or give up."""
    root = gateway.url.removesuffix("/v1") + "/"
    deadline = time.monotonic() + START_TIMEOUT
    while True:
        if gateway.process.poll() is not None:
            raise RuntimeError(f"the gateway exited with code {gateway.process.returncode}")
        try:
            if httpx.get(root, timeout=1.0).status_code == 200:
                return
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"the gateway did not answer on {root} within {START_TIMEOUT:g} s")
        time.sleep(0.1)


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(STOP_TIMEOUT)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(STOP_TIMEOUT)


@pytest.fixture(scope="session")
def _gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    reason = _missing()
    if reason is not None:
        if _in_ci():
            pytest.fail(f"CI is set but the gateway tier cannot run: {reason}", pytrace=False)
        pytest.skip(reason)
    port = _free_port()
    log_path = tmp_path_factory.mktemp("gateway") / "gateway.log"
    node = shutil.which("node")
    assert node is not None
    env = {**os.environ, "NO_COLOR": "1"}
    preload = ["--require", str(LOOPBACK_ONLY)]
    if FETCH_SHIM_ON:
        preload += ["--require", str(FETCH_SHIM)]
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [node, *preload, str(ENTRY), f"--port={port}", "--headless"],
            cwd=GATEWAY_DIR,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
        )
    gateway = Gateway(f"http://127.0.0.1:{port}/v1", log_path, process)
    try:
        _wait_until_ready(gateway)
    except RuntimeError as err:
        _stop(process)
        pytest.fail(f"{err}\n--- gateway log ---\n{gateway.log_since()}", pytrace=False)
    try:
        yield gateway
    finally:
        _stop(process)


_LOG_START = pytest.StashKey[int]()
_GATEWAY = pytest.StashKey[Gateway]()


@pytest.fixture
def gateway(_gateway: Gateway, request: pytest.FixtureRequest) -> Gateway:
    """The session's gateway; a failing test shows what the gateway logged while it ran."""
    request.node.stash[_GATEWAY] = _gateway
    request.node.stash[_LOG_START] = _gateway.log_size()
    return _gateway


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    report = yield
    gateway = item.stash.get(_GATEWAY, None)
    if gateway is not None and report.failed:
        log = gateway.log_since(item.stash.get(_LOG_START, 0)).strip()
        report.sections.append(("gateway log", log or "(nothing logged)"))
    return report


@pytest.fixture(scope="session")
def _upstream() -> Iterator[Simulator]:
    with Simulator(profile="openai") as simulator:
        yield simulator


@pytest.fixture
def upstream(_upstream: Simulator) -> Iterator[Simulator]:
    """The OpenAI-compatible upstream, with no recorded request and no pending fault."""
    _upstream.reset()
    errors_before = len(_upstream.errors)
    yield _upstream
    assert _upstream.errors[errors_before:] == [], "the simulator failed while answering the gateway"


def _run_sync(source: dict[str, Any], query: dict[str, Any]) -> dict[str, Any]:
    with QueryService() as service:
        return service.run(source, query, "gateway-tier")


def _run_async(source: dict[str, Any], query: dict[str, Any]) -> dict[str, Any]:
    async def run() -> dict[str, Any]:
        async with AsyncQueryService() as service:
            return await service.run(source, query, "gateway-tier")

    return asyncio.run(run())


@pytest.fixture(params=["sync", "async"])
def run(request: pytest.FixtureRequest) -> Runner:
    """QueryService.run or AsyncQueryService.run, each with a fresh service."""
    return _run_sync if request.param == "sync" else _run_async


@pytest.fixture(scope="session")
def _direct_client() -> Iterator[httpx.Client]:
    with httpx.Client(timeout=10.0) as client:
        yield client


@pytest.fixture
def direct_answer(
    upstream: Simulator, _direct_client: httpx.Client
) -> Callable[[RecordedRequest], dict[str, Any]]:
    """What the upstream answers to a recorded request when asked directly, without the gateway,
    minus what differs between two identical calls (the completion's id and creation time)."""

    def answer(recorded: RecordedRequest) -> dict[str, Any]:
        response = _direct_client.request(
            recorded.method,
            upstream.url.removesuffix("/v1") + recorded.path,
            json=recorded.json,
            headers={"authorization": recorded.headers["authorization"]},
        )
        assert response.status_code == 200, response.text
        return without_ids(response.json())

    return answer
