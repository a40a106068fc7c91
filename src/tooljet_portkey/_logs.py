"""No log record of the plugin's own requests carries a secret, at any level.

httpcore logs at DEBUG every response's status line and headers as it read them, and httpx at INFO
each response's status line: a server that echoes a key in a header (``x-portkey-trace-id``,
``retry-after``) or in its reason phrase would put that key in a host's log, and h11 quotes a header
value it refuses. So the client marks the time it sends a request and reads its answer
(``redacting``: a contextvar, so threads and asyncio tasks each keep their own), and a filter on the
loggers of httpx, httpcore and the plugin redacts that request's secrets (the connection's and the
query's own) from every record made meanwhile.

Records of anything else (another app's httpx client, in another thread or outside the mark) pass
untouched. The cost when nothing is logged is a contextvar set and reset per request; a record made
during a request is formatted once more, and its secrets worked out once per request.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping
from contextvars import ContextVar, Token
from typing import TYPE_CHECKING

from ._secrets import header_secrets, redact_forms, secret_forms

if TYPE_CHECKING:
    from ._settings import ConnectionSettings

__all__ = ["Redaction", "install", "redacting"]

# The loggers httpx and httpcore make their records with (a filter applies only to records of the
# logger it is on, not to those its children pass up), and the plugin's own.
LOGGERS = (
    "httpx",
    "httpcore.connection",
    "httpcore.http11",
    "httpcore.http2",
    "httpcore.proxy",
    "httpcore.socks",
    "tooljet_portkey",
)


class Redaction:
    """The secrets of one request, worked out only when a record made during it needs them, then kept
    (as the texts ``redact`` searches for) for the request's other records."""

    __slots__ = ("_forms", "_headers", "_settings")

    def __init__(self, settings: ConnectionSettings, headers: Mapping[str, str]) -> None:
        self._settings = settings
        self._headers = headers
        self._forms: frozenset[str] | None = None

    def __call__(self, text: str) -> str:
        """``text`` redacted of the request's secrets (``text`` itself when it holds none)."""
        if self._forms is None:
            self._forms = secret_forms(self._settings.secrets + header_secrets(self._headers))
        return redact_forms(text, self._forms)


_current: ContextVar[Redaction | None] = ContextVar("tooljet_portkey_redaction", default=None)


class redacting:  # lower case: read as a statement, ``with redacting(redaction):``
    """Records made inside the block (in this thread or task) are redacted of ``redaction``'s secrets
    (None: of none, as for a stream made without a client)."""

    __slots__ = ("_redaction", "_token")

    def __init__(self, redaction: Redaction | None) -> None:
        self._redaction = redaction
        self._token: Token[Redaction | None] | None = None

    def __enter__(self) -> None:
        self._token = _current.set(self._redaction)

    def __exit__(self, *exc: object) -> None:
        if self._token is not None:
            _current.reset(self._token)


class _RedactSecrets(logging.Filter):
    """Redacts the current request's secrets from a record's text; never drops a record."""

    def filter(self, record: logging.LogRecord) -> bool:
        redaction = _current.get()
        if redaction is None:
            return True
        try:
            message = record.getMessage()
        except Exception:  # arguments that do not format: the handler reports it, not the request
            return True
        clean = redaction(message)
        if clean is not message:
            record.msg, record.args = clean, ()
        return True


_FILTER = _RedactSecrets()
_lock = threading.Lock()
_installed = False


def install() -> None:
    """Put the filter on the loggers, once (a filter stays through ``logging.config.dictConfig``)."""
    global _installed
    if _installed:
        return
    with _lock:
        if not _installed:
            for name in LOGGERS:
                logging.getLogger(name).addFilter(_FILTER)
            _installed = True
