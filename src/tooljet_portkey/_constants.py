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

# What an answer may cost: its decompressed body (streamed or not), and one server-sent event (or one
# line still waiting for its end). Generous for real answers: a 100k-token streamed answer is ~25 MB.
MIB = 1024 * 1024
DEFAULT_MAX_RESPONSE_BYTES = 64 * MIB
DEFAULT_MAX_EVENT_BYTES = 8 * MIB
# The encodings asked for, and the only ones read: each is inflated with a cap (brotli and zstd
# cannot be, with the standard library).
ACCEPT_ENCODING = "gzip, deflate"
# Tool calls of one streamed choice: providers allow at most 128 tools; an index past this is refused.
MAX_TOOL_CALLS = 1024
# After [DONE], how long to wait for the end of the body before giving the connection up.
DRAIN_SECONDS = 0.05

# Guard rails for text a host hands us.
MAX_OPTION_CHARS = 8 * 1024 * 1024
MAX_HEADER_CHARS = 8 * 1024

# A table run (docs/batch.md): rows in flight at most, by default and at most; rows of one query; an
# embedding request's inputs (OpenAI's per-request limit), by default and at most; and the inputs of one
# embedding query, sent as requests of that many (49 requests of 2,048 at most, well within 8 MiB of text).
DEFAULT_CONCURRENCY = 8
MAX_CONCURRENCY = 64
MAX_ROWS = 10_000
MAX_EMBEDDING_BATCH = 2048
MAX_EMBEDDING_INPUTS = 100_000

USER_AGENT = "tooljet-portkey"


def make_timeout(seconds: float) -> httpx.Timeout:
    """The timeout for one attempt: a short connect limit, the configured read limit."""
    return httpx.Timeout(seconds, connect=min(CONNECT_TIMEOUT_SECONDS, seconds))
