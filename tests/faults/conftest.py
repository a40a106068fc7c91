"""Fixtures of the fault tier: the loopback fault server, and patched sleeps so retries cost no time."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from loopback_server import FaultServer, Reply

from tooljet_portkey import QueryService, _client


@pytest.fixture(scope="session")
def _server() -> Iterator[FaultServer]:
    with FaultServer.running() as server:
        yield server


@pytest.fixture
def service() -> Iterator[QueryService]:
    """A QueryService closed after the test."""
    with QueryService() as svc:
        yield svc


@pytest.fixture
def fault_server(_server: FaultServer) -> FaultServer:
    _server.script(Reply(body={"ok": True}))
    return _server


@pytest.fixture
def sleeps(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """The delays the client waited between attempts, without waiting them."""
    waited: list[float] = []

    async def async_sleep(seconds: float) -> None:
        waited.append(seconds)

    monkeypatch.setattr(_client, "_sleep", waited.append)
    monkeypatch.setattr(_client, "_async_sleep", async_sleep)
    return waited
