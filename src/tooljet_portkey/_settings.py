"""A validated connection: ``ConnectionSettings``. ``_options.parse_connection`` makes it from a host's
options; it lives below that parser, so the modules that only read settings (routing, the requests, the
client, the pool, the error mapping) do not import the parser.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from ._constants import (
    DEFAULT_GATEWAY_URL,
    DEFAULT_MAX_EVENT_BYTES,
    DEFAULT_MAX_RESPONSE_BYTES,
    DEFAULT_MAX_RETRIES,
    DEFAULT_TIMEOUT_SECONDS,
)
from ._secrets import config_secrets

__all__ = ["ConnectionSettings"]


def _redacted(value: str | None) -> str:
    return "None" if value is None else "'***'"


@dataclass(frozen=True, repr=False)  # its own __repr__ (the generated one would be made, unused)
class ConnectionSettings:
    """A validated connection. Hashable (it keys the client pool); its repr hides every secret."""

    base_url: str = DEFAULT_GATEWAY_URL
    api_key: str | None = field(default=None, repr=False)
    virtual_key: str | None = field(default=None, repr=False)
    provider: str | None = None
    provider_api_key: str | None = field(default=None, repr=False)
    config: str | None = None  # the x-portkey-config header: compact JSON, or a saved config id
    custom_host: str | None = None
    timeout: float = DEFAULT_TIMEOUT_SECONDS
    max_retries: int = DEFAULT_MAX_RETRIES
    max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES
    max_event_bytes: int = DEFAULT_MAX_EVENT_BYTES
    stream_timeout: float | None = None  # the most a whole stream may take; None: no total limit
    use_system_proxy: bool = True  # honour HTTP(S)_PROXY, ALL_PROXY, NO_PROXY
    prices: str | None = None  # the connection's own rates (docs/cost.md): compact JSON, keys sorted

    def __repr__(self) -> str:
        return (
            f"ConnectionSettings(base_url={self.base_url!r}, api_key={_redacted(self.api_key)}, "
            f"virtual_key={_redacted(self.virtual_key)}, provider={self.provider!r}, "
            f"provider_api_key={_redacted(self.provider_api_key)}, "
            f"config={'None' if self.config is None else '<set>'}, custom_host={self.custom_host!r}, "
            f"timeout={self.timeout!r}, max_retries={self.max_retries!r}, "
            f"max_response_bytes={self.max_response_bytes!r}, max_event_bytes={self.max_event_bytes!r}, "
            f"stream_timeout={self.stream_timeout!r}, use_system_proxy={self.use_system_proxy!r}, "
            f"prices={'None' if self.prices is None else '<set>'})"
        )

    @property
    def secrets(self) -> tuple[str, ...]:
        """Every secret this connection holds, for redaction of text Portkey sends back."""
        found = [s for s in (self.api_key, self.virtual_key, self.provider_api_key) if s]
        if self.config and self.config.startswith("{"):
            found.extend(config_secrets(json.loads(self.config)))
        return tuple(found)
