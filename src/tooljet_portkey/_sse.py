"""A small server-sent-events decoder, fed one line at a time (sync and async feed it alike).

Written here rather than taken from a library to keep the runtime dependencies to httpx, pydantic and
jsonschema; it follows the WHATWG event-stream rules that Portkey's streams use: ``data:`` lines join
with newlines, a blank line ends an event, ``:`` lines are comments, one leading space is dropped.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ServerSentEvent:
    data: str
    event: str = "message"
    id: str | None = None


class SSEDecoder:
    def __init__(self) -> None:
        self._data: list[str] = []
        self._event = ""
        self._id: str | None = None

    def feed(self, line: str) -> ServerSentEvent | None:
        """Take one line (without its end of line); return an event when a blank line completes it."""
        if not line:
            return self.flush()
        if line.startswith(":"):
            return None
        name, sep, value = line.partition(":")
        if sep and value.startswith(" "):
            value = value[1:]
        if name == "data":
            self._data.append(value)
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
        event = ServerSentEvent("\n".join(self._data), self._event or "message", self._id)
        self._data = []
        self._event = ""
        return event
