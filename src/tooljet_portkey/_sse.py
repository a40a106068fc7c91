"""A small server-sent-events decoder, fed the raw bytes of a response as they arrive.

Written here rather than taken from a library to keep the runtime dependencies to httpx, pydantic and
jsonschema; it follows the WHATWG event-stream rules that Portkey's streams use: lines end with CRLF, LF
or CR (and nothing else), ``data:`` lines join with newlines, a blank line ends an event, ``:`` lines
are comments, one space after the colon is dropped.

It splits bytes itself instead of using httpx's ``iter_lines``, which splits on every line boundary
``str.splitlines`` knows: U+2028, U+2029 and U+0085 may stand unescaped inside a JSON string (Node's
``JSON.stringify`` leaves them so), and splitting there would cut a chunk in two.
"""

from __future__ import annotations

from typing import NamedTuple


class ServerSentEvent(NamedTuple):
    data: str
    event: str = "message"
    id: str | None = None


class EventTooLarge(ValueError):
    """One event (its data lines, and a line still waiting for its end) grew past the decoder's limit."""

    def __init__(self, limit: int) -> None:
        super().__init__(f"a stream event is larger than {limit} bytes")
        self.limit = limit


_new_event = tuple.__new__
_NO_LIMIT = 1 << 62


class SSEDecoder:
    """Bytes in (``decode``), complete events out; ``end`` at the close of the stream.

    ``decode`` handles the ``data: ...`` lines and blank lines that make up nearly all of a stream
    inline, on bytes, and decodes an event's text once; every other line goes through ``feed``.

    Linear in the bytes fed, however they are cut: the pieces of a line that has not ended yet are kept
    in a list and joined once, when its end arrives (appending each piece to one buffer would copy the
    line again for every piece). ``max_event_bytes`` caps one event, counting its data lines and the
    line still pending; past it, ``decode`` raises EventTooLarge instead of buffering more.
    """

    __slots__ = (
        "_data",
        "_data_size",
        "_event",
        "_id",
        "_limit",
        "_pending",
        "_pending_size",
        "_started",
        "_trailing_cr",
    )

    def __init__(self, max_event_bytes: int | None = None) -> None:
        self._data: list[bytes] = []
        self._data_size = 0
        self._event = ""
        self._id: str | None = None
        self._pending: list[bytes] = []
        self._pending_size = 0
        self._limit = _NO_LIMIT if max_event_bytes is None else max_event_bytes
        self._trailing_cr = False
        self._started = False

    def decode(self, chunk: bytes) -> list[ServerSentEvent]:
        """Take the next bytes of the stream; return the events they complete (often none or one)."""
        if self._trailing_cr:
            # A CR at the end of the previous piece: a following LF belongs to it (one CRLF line end).
            self._trailing_cr = False
            if chunk[:1] == b"\n":
                chunk = chunk[1:]
        if not chunk:
            return []
        if b"\r" in chunk:
            self._trailing_cr = chunk[-1:] == b"\r"
            chunk = chunk.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
        if b"\n" not in chunk:
            self._pending.append(chunk)
            self._pending_size += len(chunk)
            if self._pending_size + self._data_size > self._limit:
                raise EventTooLarge(self._limit)
            return []
        if self._pending:
            self._pending.append(chunk)
            chunk = b"".join(self._pending)
            self._pending = []
        lines = chunk.split(b"\n")
        tail = lines.pop()
        self._pending_size = len(tail)
        if tail:
            self._pending.append(tail)
        if not self._started:
            self._started = True
            if lines[0][:3] == b"\xef\xbb\xbf":  # a byte-order mark may open the stream
                lines[0] = lines[0][3:]
        events = []
        data = self._data
        size = self._data_size
        limit = self._limit
        for raw in lines:
            if raw[:6] == b"data: ":
                data.append(raw[6:])
                size += len(raw)
                if size > limit:
                    raise EventTooLarge(limit)
            elif not raw:
                if data:
                    events.append(self._dispatch())
                    data = self._data
                else:
                    self._event = ""
                size = 0
            else:
                if len(raw) > limit:
                    raise EventTooLarge(limit)
                self._data_size = size
                event = self.feed(raw.decode("utf-8", "replace"))
                size = self._data_size
                if event is not None:
                    events.append(event)
                    data = self._data
                    size = 0
        self._data_size = size
        if size + self._pending_size > limit:
            raise EventTooLarge(limit)
        return events

    def end(self) -> list[ServerSentEvent]:
        """The stream closed: finish a last line and a last event that had no blank line after them."""
        events = []
        if self._pending:
            line = b"".join(self._pending)
            self._pending = []
            self._pending_size = 0
            if not self._started and line[:3] == b"\xef\xbb\xbf":
                line = line[3:]
            self._started = True
            event = self.feed(line.decode("utf-8", "replace"))
            if event is not None:
                events.append(event)
        event = self.flush()
        if event is not None:
            events.append(event)
        return events

    def feed(self, line: str) -> ServerSentEvent | None:
        """Take one line (without its end of line); return an event when a blank line completes it."""
        if not line:
            return self.flush()
        if line[0] == ":":
            return None
        name, sep, value = line.partition(":")
        if sep and value[:1] == " ":
            value = value[1:]
        if name == "data":
            encoded = value.encode()
            self._data.append(encoded)
            self._data_size += len(encoded) + 1
        elif name == "event":
            self._event = value
        elif name == "id" and "\0" not in value:
            self._id = value
        return None

    def flush(self) -> ServerSentEvent | None:
        """End the current event (at a blank line, or when the stream closes)."""
        if not self._data:
            self._event = ""
            return None
        return self._dispatch()

    def _dispatch(self) -> ServerSentEvent:
        data = self._data
        text = (data[0] if len(data) == 1 else b"\n".join(data)).decode("utf-8", "replace")
        # tuple.__new__ skips the NamedTuple's Python-level __new__: this runs once per chunk.
        event = _new_event(ServerSentEvent, (text, self._event or "message", self._id))
        self._data = []
        self._data_size = 0
        self._event = ""
        return event
