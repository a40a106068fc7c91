"""The deadline under httpx's sockets: every wait cut to the time left, and none once it is spent."""

from __future__ import annotations

import asyncio
import socket
import threading
from collections.abc import Iterator

import httpcore
import httpx
import pytest

from tooljet_portkey import _deadline
from tooljet_portkey._deadline import _clamp, install, within


def test_without_a_deadline_httpx_timeouts_stand() -> None:
    assert _clamp(5.0, httpcore.ReadTimeout) == 5.0
    assert _clamp(None, httpcore.ReadTimeout) is None


def test_inside_a_deadline_every_wait_is_cut_to_the_time_left() -> None:
    with within(1.0):
        assert 0 < _clamp(5.0, httpcore.ReadTimeout) <= 1.0  # type: ignore[operator]
        assert 0 < _clamp(None, httpcore.ReadTimeout) <= 1.0  # type: ignore[operator]
        assert _clamp(0.5, httpcore.ReadTimeout) == 0.5
    assert _clamp(5.0, httpcore.ReadTimeout) == 5.0  # reset on leaving the block


@pytest.mark.parametrize("error", [httpcore.ReadTimeout, httpcore.WriteTimeout, httpcore.ConnectTimeout])
def test_a_spent_deadline_fails_at_once(error: type[Exception]) -> None:
    with within(-1.0), pytest.raises(error):
        _clamp(5.0, error)


def test_each_thread_keeps_its_own_deadline() -> None:
    seen: list[float | None] = []
    with within(-1.0):
        thread = threading.Thread(target=lambda: seen.append(_clamp(5.0, httpcore.ReadTimeout)))
        thread.start()
        thread.join()
    assert seen == [5.0]


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A loopback port that takes connections (the kernel completes them) and never sends a byte."""
    server = socket.create_server(("127.0.0.1", 0))
    yield server.getsockname()[1]
    server.close()


def test_a_read_without_its_own_timeout_still_ends_at_the_deadline(silent_port: int) -> None:
    client = httpx.Client()
    assert install(client)
    backend = client._transport._pool._network_backend  # type: ignore[attr-defined]
    stream = backend.connect_tcp("127.0.0.1", silent_port, timeout=5.0)
    try:
        with within(0.05), pytest.raises(httpcore.ReadTimeout):
            stream.read(1024, timeout=None)  # httpx would wait forever
    finally:
        stream.close()
        client.close()


def test_the_async_read_ends_at_the_deadline_too(silent_port: int) -> None:
    async def main() -> None:
        client = httpx.AsyncClient()
        assert install(client)
        backend = client._transport._pool._network_backend  # type: ignore[attr-defined]
        stream = await backend.connect_tcp("127.0.0.1", silent_port, timeout=5.0)
        try:
            with within(0.05), pytest.raises(httpcore.ReadTimeout):
                await stream.read(1024, timeout=None)
        finally:
            await stream.aclose()
            await client.aclose()

    asyncio.run(main())


def test_install_covers_proxy_pools_and_is_idempotent(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HTTPS_PROXY", "http://127.0.0.1:9")
    client = httpx.Client(trust_env=True)
    assert install(client) and install(client)
    pools = [client._transport._pool] + [t._pool for t in client._mounts.values() if t is not None]  # type: ignore[attr-defined]
    assert len(pools) >= 2
    assert all(type(pool._network_backend) is _deadline._Backend for pool in pools)
    assert all(type(pool._network_backend._inner) is httpcore.SyncBackend for pool in pools)
    client.close()
