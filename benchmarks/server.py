"""A loopback HTTP/1.1 keep-alive server that answers Portkey-shaped requests at once.

Run in its own process, so its work never shares an interpreter (or a GIL) with the client being
measured. It prints its port on the first line of stdout and serves until killed.

- POST .../chat/completions or .../completions without ``"stream": true``: a fixed chat completion.
- the same with ``"stream": true``: an SSE stream of N chunks (the first argument, default 1,000),
  then ``data: [DONE]``, sent as one chunked body.
- anything else: 404.
"""

from __future__ import annotations

import asyncio
import json
import sys

CHAT = json.dumps(
    {
        "id": "chatcmpl-bench",
        "object": "chat.completion",
        "created": 1723461295,
        "model": "gpt-4o-mini",
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": "Developers and product teams.", "refusal": None},
                "logprobs": None,
                "finish_reason": "stop",
            }
        ],
        "usage": {"prompt_tokens": 29, "completion_tokens": 7, "total_tokens": 36},
        "system_fingerprint": None,
    }
).encode()


def _head(status: str, content_type: str, extra: str) -> bytes:
    return (
        f"HTTP/1.1 {status}\r\ncontent-type: {content_type}\r\nx-portkey-trace-id: bench\r\n"
        f"x-portkey-cache-status: MISS\r\n{extra}\r\n"
    ).encode()


CHAT_RESPONSE = _head("200 OK", "application/json", f"content-length: {len(CHAT)}\r\n") + CHAT
NOT_FOUND = _head("404 Not Found", "application/json", "content-length: 2\r\n") + b"{}"
_streams: dict[int, bytes] = {}
CHUNKS = int(sys.argv[1]) if len(sys.argv) > 1 else 1000


def stream_response(chunks: int) -> bytes:
    """A whole SSE answer of ``chunks`` chat chunks, as one HTTP chunked body (built once per size)."""
    if chunks not in _streams:
        pieces = []
        for i in range(chunks):
            chunk = {
                "id": "chatcmpl-bench",
                "object": "chat.completion.chunk",
                "created": 1723461295,
                "model": "gpt-4o-mini",
                "choices": [{"index": 0, "delta": {"content": f"token{i} "}, "finish_reason": None}],
            }
            pieces.append(b"data: " + json.dumps(chunk).encode() + b"\n\n")
        pieces.append(b"data: [DONE]\n\n")
        body = b"".join(pieces)
        _streams[chunks] = (
            _head("200 OK", "text/event-stream", "transfer-encoding: chunked\r\n")
            + b"%x\r\n" % len(body)
            + body
            + b"\r\n0\r\n\r\n"
        )
    return _streams[chunks]


class Gateway(asyncio.Protocol):
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport: asyncio.Transport = transport  # type: ignore[assignment]
        self.buffer = b""

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        while True:
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            head = self.buffer[:end].decode("latin-1")
            length = 0
            for line in head.split("\r\n")[1:]:
                name, _, value = line.partition(":")
                if name.strip().lower() == "content-length":
                    length = int(value)
            if len(self.buffer) < end + 4 + length:
                return
            body = self.buffer[end + 4 : end + 4 + length]
            self.buffer = self.buffer[end + 4 + length :]
            path = head.split(" ", 2)[1]
            if path.endswith("/completions"):
                streamed = b'"stream": true' in body or b'"stream":true' in body
                self.transport.write(stream_response(CHUNKS) if streamed else CHAT_RESPONSE)
            else:
                self.transport.write(NOT_FOUND)


async def main() -> None:
    loop = asyncio.get_running_loop()
    server = await loop.create_server(Gateway, "127.0.0.1", 0, backlog=1024)
    port = server.sockets[0].getsockname()[1]
    print(port, flush=True)
    await server.serve_forever()


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        sys.exit(0)
