"""A real HTTP server on 127.0.0.1 that misbehaves on cue, for the fault tier (see conftest.py).

Each test scripts the answers in order (``fault_server.script(Reply(...), ...)``); the last one repeats
once the script runs out (or ``fault_server.route(fn)`` picks each answer from the request, and may
hold it until the test says so). A reply can be an error status with any body, can wait before answering, can
drop the connection without a word, can reset it (TCP RST) half-way through the body, or can stream
server-sent events. It can also send its body as raw pieces (repeated, so a gigabyte is never built),
trickle them or its headers a byte at a time, and keep a body open after its last piece. Every request
is recorded (method, path, headers, JSON body) for assertions.
"""

from __future__ import annotations

import contextlib
import json
import socket
import struct
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass(frozen=True)
class Reply:
    """One scripted answer."""

    status: int = 200
    body: Any = None  # bytes/str are sent as they are, anything else as JSON
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0  # seconds to wait before answering (a test's timeout fires first)
    drop: bool = False  # close the connection without answering
    reset_after: int | None = None  # send headers and this many body bytes, then reset the connection
    events: tuple[str, ...] | None = None  # a text/event-stream answer: each item is one `data:` payload
    cut_after_events: bool = False  # with events: reset the connection after the last one
    pieces: tuple[bytes, ...] | None = None  # the body as raw pieces, chunked unless content-length is set
    repeat: int = 1  # with pieces: send the whole sequence this many times
    interval: float = 0.0  # with pieces: wait this long before each piece (a trickling server)
    hold_open: float = 0.0  # with pieces or events: keep the body open this long after the last byte
    trickle_headers: float = 0.0  # send the status line and headers one byte per this many seconds

    def payload(self) -> bytes:
        if self.body is None:
            return b""
        if isinstance(self.body, bytes):
            return self.body
        if isinstance(self.body, str):
            return self.body.encode()
        return json.dumps(self.body).encode()


@dataclass(frozen=True)
class Seen:
    method: str
    path: str
    headers: dict[str, str]
    body: Any


class FaultServer(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 1024  # hundreds of concurrent connects in the leak tests

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.lock = threading.Lock()
        self.replies: list[Reply] = [Reply(body={"ok": True})]
        self.cycle = False
        self.router: Callable[[Seen], Reply] | None = None
        self.requests: list[Seen] = []
        self.stopping = threading.Event()

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that gave up (timeout, reset) leaves a broken pipe behind: expected here."""

    @classmethod
    @contextlib.contextmanager
    def running(cls) -> Iterator[FaultServer]:
        """A new server, serving on its own thread until the block ends."""
        server = cls()
        thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        thread.start()
        try:
            yield server
        finally:
            server.stopping.set()
            server.shutdown()
            server.server_close()
            thread.join(5)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/v1"

    def script(self, *replies: Reply, cycle: bool = False) -> None:
        """Answer with these replies in order; then repeat the last one, or (cycle) start over."""
        with self.lock:
            self.replies = list(replies)
            self.cycle = cycle
            self.router = None
            self.requests.clear()

    def route(self, router: Callable[[Seen], Reply]) -> None:
        """Answer each request with ``router(request)``, called on the request's own thread (so it may
        wait, holding the request open, until the test releases it)."""
        with self.lock:
            self.router = router
            self.requests.clear()

    def next_reply(self, seen: Seen) -> Reply:
        with self.lock:
            self.requests.append(seen)
            router = self.router
            if router is None:
                return self._scripted()
        return router(seen)

    def _scripted(self) -> Reply:
        if self.cycle:
            self.replies.append(self.replies.pop(0))
            return self.replies[-1]
        return self.replies.pop(0) if len(self.replies) > 1 else self.replies[0]

    @property
    def count(self) -> int:
        with self.lock:
            return len(self.requests)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, so the client's pool is exercised
    server: FaultServer

    def setup(self) -> None:
        super().setup()
        # headers and body go out in separate writes: without this, Nagle's algorithm meets the
        # client's delayed ACK and every keep-alive answer waits ~40 ms
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _serve(self) -> None:
        length = int(self.headers.get("content-length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = raw
        headers = {k.lower(): v for k, v in self.headers.items()}
        reply = self.server.next_reply(Seen(self.command, self.path, headers, body))
        if reply.delay and self.server.stopping.wait(reply.delay):
            return
        if reply.drop:
            self.close_connection = True
            return
        if reply.trickle_headers:
            self._trickle_headers(reply)
            return
        if reply.pieces is not None:
            self._pieces(reply)
            return
        if reply.events is not None:
            self._stream(reply)
            return
        payload = reply.payload()
        self.send_response(reply.status)
        for name, value in reply.headers.items():
            self.send_header(name, value)
        if not any(name.lower() == "content-type" for name in reply.headers):
            self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(payload)))
        self.end_headers()
        if reply.reset_after is not None:
            self.wfile.write(payload[: reply.reset_after])
            self.wfile.flush()
            self._reset()
            return
        self.wfile.write(payload)

    def _stream(self, reply: Reply) -> None:
        self.send_response(reply.status)
        for name, value in reply.headers.items():
            self.send_header(name, value)
        self.send_header("content-type", "text/event-stream")
        self.send_header("transfer-encoding", "chunked")
        self.end_headers()
        for event in reply.events or ():
            data = f"data: {event}\n\n".encode()
            self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
            self.wfile.flush()
        if reply.cut_after_events:
            self._reset()
            return
        self._hold(reply)
        self.wfile.write(b"0\r\n\r\n")

    def _hold(self, reply: Reply) -> None:
        if reply.hold_open:
            self.close_connection = True
            self.server.stopping.wait(reply.hold_open)

    def _pieces(self, reply: Reply) -> None:
        """The body as raw pieces: chunked, or as they are when the reply sets content-length."""
        self.send_response(reply.status)
        for name, value in reply.headers.items():
            self.send_header(name, value)
        if not any(name.lower() == "content-type" for name in reply.headers):
            self.send_header("content-type", "application/json")
        chunked = not any(name.lower() == "content-length" for name in reply.headers)
        if chunked:
            self.send_header("transfer-encoding", "chunked")
        self.end_headers()
        self.wfile.flush()
        try:
            for _ in range(reply.repeat):
                for piece in reply.pieces or ():
                    if reply.interval and self.server.stopping.wait(reply.interval):
                        return
                    self.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece) if chunked else piece)
                    self.wfile.flush()
            self._hold(reply)
            if chunked:
                self.wfile.write(b"0\r\n\r\n")
        except OSError:  # the client stopped reading and went away: what these replies are for
            self.close_connection = True

    def _trickle_headers(self, reply: Reply) -> None:
        """The status line and headers one byte at a time, never finishing within a test."""
        self.close_connection = True
        head = b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\nx-padding: " + b"p" * 4096
        try:
            for byte in head:
                if self.server.stopping.wait(reply.trickle_headers):
                    return
                self.wfile.write(bytes([byte]))
                self.wfile.flush()
        except OSError:
            return

    def _reset(self) -> None:
        """Close with an RST (SO_LINGER 0), as a crashed proxy does."""
        self.close_connection = True
        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.connection.close()

    do_GET = _serve
    do_POST = _serve
