"""Every network default of the package, in one place."""

from __future__ import annotations

import httpx

DEFAULT_GATEWAY_URL = "https://api.portkey.ai/v1"
HOSTED_API_HOST = "api.portkey.ai"

# LLM answers can take minutes; a dead host should fail fast.
DEFAULT_TIMEOUT_SECONDS = 600.0
CONNECT_TIMEOUT_SECONDS = 10.0

DEFAULT_MAX_RETRIES = 2
INITIAL_RETRY_DELAY = 0.5
MAX_RETRY_DELAY = 8.0
# A server's Retry-After above this is not waited for: the call fails instead.
MAX_RETRY_AFTER = 60.0

# One pooled client per data source; anonymous callers (no data source id) share a small cache.
MAX_CACHED_CLIENTS = 64
DEFAULT_LIMITS = httpx.Limits(max_connections=200, max_keepalive_connections=50, keepalive_expiry=30)

# Guard rails for text a host hands us.
MAX_OPTION_CHARS = 8 * 1024 * 1024
MAX_HEADER_CHARS = 8 * 1024

USER_AGENT = "tooljet-portkey"


def make_timeout(seconds: float) -> httpx.Timeout:
    """The timeout for one attempt: a short connect limit, the configured read limit."""
    return httpx.Timeout(seconds, connect=min(CONNECT_TIMEOUT_SECONDS, seconds))
