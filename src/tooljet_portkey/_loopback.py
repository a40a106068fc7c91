"""The HTTP server the offline simulator and the playground both run: threaded, on loopback, in a daemon
thread, recording the errors of its handlers for tests and closing its open connections when stopped.
Each keeps its own request handler; this is only the scaffold. Not imported by ``import tooljet_portkey``.
"""

from __future__ import annotations

import contextlib
import socket
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

__all__ = ["LoopbackHTTPServer", "LoopbackHandler", "LoopbackService"]


class LoopbackHTTPServer(ThreadingHTTPServer):
    """One thread per connection, none of which holds the process or the server's close."""

    daemon_threads = True
    block_on_close = False
    request_queue_size = 128  # a table run opens tens of connections at once; the default backlog is 5

    def __init__(
        self, address: tuple[str, int], handler: type[BaseHTTPRequestHandler], owner: LoopbackService
    ) -> None:
        self.owner = owner
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        super().__init__(address, handler)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that went away is normal (drops, timeouts); anything else is kept for tests."""
        error = sys.exc_info()[1]
        if error is not None and not isinstance(error, (ConnectionError, TimeoutError)):
            self.owner.errors.append(error)


class LoopbackHandler(BaseHTTPRequestHandler):
    """Keep-alive HTTP/1.1, each connection known to its service (so ``stop`` can close it)."""

    protocol_version = "HTTP/1.1"
    server: LoopbackHTTPServer

    def setup(self) -> None:
        super().setup()
        # headers and body leave in separate writes: without this, Nagle's algorithm and the client's
        # delayed ACK hold every answer back ~40 ms
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.server.owner._track(self.connection, add=True)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.owner._track(self.connection, add=False)


class LoopbackService:
    """What serves on ``host``:``port`` (0: any free port, read back once serving): ``_serve`` starts
    the server ``_make_server`` makes in a daemon thread named ``thread_name``, ``_stop_serving`` stops
    it, its waits (``_stopping``) and every open connection."""

    thread_name = "tooljet-portkey-loopback"

    def __init__(self, host: str, port: int) -> None:
        self.host = host
        self.port = port
        self.errors: list[BaseException] = []
        self._lock = threading.Lock()
        self._connections: set[socket.socket] = set()
        self._stopping = threading.Event()
        self._server: LoopbackHTTPServer | None = None
        self._thread: threading.Thread | None = None

    def _make_server(self) -> LoopbackHTTPServer:
        raise NotImplementedError

    def _serve(self) -> None:
        self._stopping.clear()
        self._server = self._make_server()
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=self.thread_name,
            daemon=True,
        )
        self._thread.start()

    def _stop_serving(self) -> bool:
        """Stop serving; False when it was not."""
        server, self._server = self._server, None
        if server is None:
            return False
        self._stopping.set()  # paced answers and streams end their waits
        server.shutdown()
        with self._lock:
            connections = list(self._connections)
        for conn in connections:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
        server.server_close()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        return True

    def _track(self, conn: socket.socket, add: bool) -> None:
        with self._lock:
            if add:
                self._connections.add(conn)
            else:
                self._connections.discard(conn)
