"""A wall-clock deadline under every socket operation httpx makes for a query.

httpx's timeouts limit each read, write or connect on its own: a server that sends one byte a second
never trips a 3-second read timeout, and a sync read cannot be interrupted from outside. So the client
sets the time left (``within``), and the network streams of its own httpx clients (``install``) cut
every socket wait to that time, and fail at once when it is spent. The timeout httpx raises is the
ordinary ``httpx.ReadTimeout`` (or Connect/Write), which the client already turns into its
``APITimeoutError``.

Outside ``within`` (and for an ``http_client`` a caller passed in, which is never altered) the streams
behave exactly as httpx's own.
"""

from __future__ import annotations

import time
from contextvars import ContextVar, Token
from typing import TYPE_CHECKING, Any

import httpcore
from httpcore._utils import is_socket_readable

if TYPE_CHECKING:
    import ssl
    from collections.abc import Iterable

    import httpx

_deadline: ContextVar[float | None] = ContextVar("tooljet_portkey_deadline", default=None)
_monotonic = time.monotonic


class within:  # lower case: read as a statement, ``with within(seconds):``
    """Every socket operation inside the block ends by ``seconds`` from now (a contextvar, so threads
    and asyncio tasks each keep their own)."""

    __slots__ = ("_seconds", "_token")

    def __init__(self, seconds: float) -> None:
        self._seconds = seconds
        self._token: Token[float | None] | None = None

    def __enter__(self) -> None:
        self._token = _deadline.set(_monotonic() + self._seconds)

    def __exit__(self, *exc: object) -> None:
        if self._token is not None:
            _deadline.reset(self._token)


def _clamp(timeout: float | None, error: type[Exception]) -> float | None:
    """httpx's timeout for one operation, cut to what is left of the deadline."""
    deadline = _deadline.get()
    if deadline is None:
        return timeout
    left = deadline - _monotonic()
    if left <= 0:
        raise error("the query's time is up")
    return left if timeout is None or left < timeout else timeout


_UNKNOWN: Any = object()


class _Stream(httpcore.NetworkStream):
    def __init__(self, inner: httpcore.NetworkStream) -> None:
        self._inner = inner
        self._socket: Any = _UNKNOWN

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._inner.read(max_bytes, _clamp(timeout, httpcore.ReadTimeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._inner.write(buffer, _clamp(timeout, httpcore.WriteTimeout))

    def close(self) -> None:
        self._inner.close()

    def start_tls(
        self, ssl_context: ssl.SSLContext, server_hostname: str | None = None, timeout: float | None = None
    ) -> httpcore.NetworkStream:
        timeout = _clamp(timeout, httpcore.ConnectTimeout)
        return _Stream(self._inner.start_tls(ssl_context, server_hostname, timeout))

    def get_extra_info(self, info: str) -> Any:
        if info == "is_readable":
            # httpcore's pools ask this of every idle connection each time a request comes or goes
            # (the async streams rebuild a table of their attributes for each ask: at 50 requests at
            # once, a third of a table run's time): the socket is looked up once per stream.
            if self._socket is _UNKNOWN:
                self._socket = self._inner.get_extra_info("socket")
            if self._socket is not None:
                return is_socket_readable(self._socket)
        return self._inner.get_extra_info(info)


class _Backend(httpcore.NetworkBackend):
    def __init__(self, inner: httpcore.NetworkBackend) -> None:
        self._inner = inner

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.NetworkStream:
        timeout = _clamp(timeout, httpcore.ConnectTimeout)
        return _Stream(self._inner.connect_tcp(host, port, timeout, local_address, socket_options))

    def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Iterable[Any] | None = None
    ) -> httpcore.NetworkStream:
        timeout = _clamp(timeout, httpcore.ConnectTimeout)
        return _Stream(self._inner.connect_unix_socket(path, timeout, socket_options))

    def sleep(self, seconds: float) -> None:
        self._inner.sleep(seconds)


class _AsyncStream(httpcore.AsyncNetworkStream):
    def __init__(self, inner: httpcore.AsyncNetworkStream) -> None:
        self._inner = inner
        self._socket: Any = _UNKNOWN

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return await self._inner.read(max_bytes, _clamp(timeout, httpcore.ReadTimeout))

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:
        await self._inner.write(buffer, _clamp(timeout, httpcore.WriteTimeout))

    async def aclose(self) -> None:
        await self._inner.aclose()

    async def start_tls(
        self, ssl_context: ssl.SSLContext, server_hostname: str | None = None, timeout: float | None = None
    ) -> httpcore.AsyncNetworkStream:
        timeout = _clamp(timeout, httpcore.ConnectTimeout)
        return _AsyncStream(await self._inner.start_tls(ssl_context, server_hostname, timeout))

    def get_extra_info(self, info: str) -> Any:
        if info == "is_readable":
            # httpcore's pools ask this of every idle connection each time a request comes or goes
            # (the async streams rebuild a table of their attributes for each ask: at 50 requests at
            # once, a third of a table run's time): the socket is looked up once per stream.
            if self._socket is _UNKNOWN:
                self._socket = self._inner.get_extra_info("socket")
            if self._socket is not None:
                return is_socket_readable(self._socket)
        return self._inner.get_extra_info(info)


class _AsyncBackend(httpcore.AsyncNetworkBackend):
    def __init__(self, inner: httpcore.AsyncNetworkBackend) -> None:
        self._inner = inner

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        timeout = _clamp(timeout, httpcore.ConnectTimeout)
        return _AsyncStream(await self._inner.connect_tcp(host, port, timeout, local_address, socket_options))

    async def connect_unix_socket(
        self, path: str, timeout: float | None = None, socket_options: Iterable[Any] | None = None
    ) -> httpcore.AsyncNetworkStream:
        timeout = _clamp(timeout, httpcore.ConnectTimeout)
        return _AsyncStream(await self._inner.connect_unix_socket(path, timeout, socket_options))

    async def sleep(self, seconds: float) -> None:
        await self._inner.sleep(seconds)


def install(client: httpx.Client | httpx.AsyncClient) -> bool:
    """Put the deadline under every connection pool of a client this package built (the direct one and
    each proxy's). False when httpx's layout is not the one known here: then only httpx's per-operation
    timeouts and the client's checks between reads apply."""
    transports = [getattr(client, "_transport", None), *getattr(client, "_mounts", {}).values()]
    installed = True
    for transport in transports:
        if transport is None:  # a NO_PROXY entry: the direct transport serves it
            continue
        pool = getattr(transport, "_pool", None)
        backend = getattr(pool, "_network_backend", None)
        if isinstance(backend, (_Backend, _AsyncBackend)):
            continue
        if isinstance(backend, httpcore.NetworkBackend):
            pool._network_backend = _Backend(backend)  # type: ignore[union-attr]
        elif isinstance(backend, httpcore.AsyncNetworkBackend):
            pool._network_backend = _AsyncBackend(backend)  # type: ignore[union-attr]
        else:
            installed = False
    return installed
