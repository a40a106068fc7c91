"""Every network default and every limit of the package, in one place: time, retries, sizes, counts and the
bounds of its caches. A module that needs one imports it from here; none keeps a number of its own.

(The playground and the simulator, apps of their own that ``import tooljet_portkey`` never loads, keep
their servers' limits beside their code.)
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

import httpx

DEFAULT_GATEWAY_URL = "https://api.portkey.ai/v1"
HOSTED_API_HOST = "api.portkey.ai"
USER_AGENT = "tooljet-portkey"

# ---------------------------------------------------------------------------------------------------
# Time

# LLM answers can take minutes; a dead host should fail fast.
DEFAULT_TIMEOUT_SECONDS = 600.0
CONNECT_TIMEOUT_SECONDS = 10.0
# test_connection answers within this, whatever the connection's timeout, and never retries.
CONNECTION_TEST_TIMEOUT_SECONDS = 20.0

# ---------------------------------------------------------------------------------------------------
# Retries

DEFAULT_MAX_RETRIES = 2
INITIAL_RETRY_DELAY = 0.5
MAX_RETRY_DELAY = 8.0
# A server's Retry-After above this is not waited for: the call fails instead.
MAX_RETRY_AFTER = 60.0

# ---------------------------------------------------------------------------------------------------
# Connections

# One pooled client per data source; anonymous callers (no data source id) share a small cache.
MAX_CACHED_CLIENTS = 64
DEFAULT_LIMITS = httpx.Limits(max_connections=200, max_keepalive_connections=50, keepalive_expiry=30)
# Absolute URLs parsed once per client, by path (prompt ids make paths unbounded).
MAX_CACHED_URLS = 256

# ---------------------------------------------------------------------------------------------------
# What an answer may cost

# Its decompressed body (streamed or not), and one server-sent event (or one line still waiting for its
# end). Generous for real answers: a 100k-token streamed answer is ~25 MB.
MIB = 1024 * 1024
DEFAULT_MAX_RESPONSE_BYTES = 64 * MIB
DEFAULT_MAX_EVENT_BYTES = 8 * MIB
# The encodings asked for, and the only ones read: each is inflated with a cap (brotli and zstd
# cannot be, with the standard library).
ACCEPT_ENCODING = "gzip, deflate"
# Inflate at most this much per call, so one network read never becomes more than this.
INFLATE_STEP_BYTES = 1 * MIB
# A body that fails as zlib is retried as raw deflate only within its first bytes, up to this many.
MAX_RAW_DEFLATE_PROBE_BYTES = 64 * 1024
# Tool calls of one streamed choice: providers allow at most 128 tools; an index past this is refused.
MAX_TOOL_CALLS = 1024
# After [DONE], how long to wait for the end of the body, and how much of it to read, before giving the
# connection up instead of reusing it.
DRAIN_SECONDS = 0.05
DRAIN_LIMIT_BYTES = 64 * 1024

# ---------------------------------------------------------------------------------------------------
# What an error or a result quotes of the server's text

# A body that is not JSON (a proxy's HTML page), as plain text in an error message.
MAX_ERROR_TEXT_CHARS = 500
# The gateway's list of errors: this many are joined into the message.
MAX_LISTED_ERRORS = 5
# A stream chunk that is not a JSON object, quoted in its error.
MAX_QUOTED_CHUNK_CHARS = 200
# A content-encoding nobody asked for, quoted in its error.
MAX_QUOTED_ENCODING_CHARS = 40
# An invalid_output error carries the start of the raw answer, enough to see what went wrong.
MAX_ECHOED_OUTPUT = 2000
# The model dropdown's choices (invoke_method("listModels")): a longer list is cut, with a warning.
MAX_MODEL_CHOICES = 10_000

# ---------------------------------------------------------------------------------------------------
# Guard rails for what a host hands us

MAX_OPTION_CHARS = 8 * MIB
MAX_HEADER_CHARS = 8 * 1024
# Deeper than any real config, message list or tool schema, and shallow enough that jsonschema (which
# recurses a few frames a level) stays far from Python's recursion limit.
MAX_JSON_DEPTH = 64
# About 3,900 digits: Python prints at most 4,300, and jsonschema prints them.
MAX_INT_BITS = 13_000
# Shorter "secrets" are not searched for: redacting every "ab" would make any message unreadable, and
# no real key is that short.
MIN_SECRET_CHARS = 4
# A query option key that is no field is checked for a near miss of one (``trace_id`` for ``traceId``):
# at most this many such keys a query, each only up to this length (no field key is half as long).
MAX_NEAR_MISS_KEYS = 64
MAX_NEAR_MISS_KEY_CHARS = 64

# ---------------------------------------------------------------------------------------------------
# Caches of validation (each is emptied when full: a host sends the same few values again and again)

# Validated connections, by their options.
MAX_CACHED_CONNECTIONS = 256
# Validated queries, by their options when every value is text and all of it together is at most
# MAX_CACHED_QUERY_CHARS (a saved query run again; a long one is checked anew, not held).
MAX_CACHED_QUERIES = 256
MAX_CACHED_QUERY_CHARS = 16_384
# Values that passed their field's schema; only texts up to MAX_KNOWN_TEXT_CHARS, and objects or lists
# up to MAX_KNOWN_JSON_CHARS of JSON, are remembered.
MAX_KNOWN_VALUES = 4096
MAX_KNOWN_TEXT_CHARS = 512
MAX_KNOWN_JSON_CHARS = 2048
# JSON Schemas a query carried (a response format's, a tool's parameters) found valid.
MAX_CHECKED_SCHEMAS = 4096
# The memory RE2 may use for one schema pattern's program (its own default is 8 MiB); a pattern whose
# program needs more is refused when the schema is checked.
MAX_PATTERN_MEMORY_BYTES = 8 * MIB
# The offline simulator checks each answer it makes up against the query's schema within this time.
SIMULATOR_SCHEMA_CHECK_SECONDS = 2.0
# An error that lists what a field accepts (a schema's enum) names this many values, then counts the rest.
MAX_LISTED_VALUES = 10
MAX_LISTED_VALUE_CHARS = 40
# Quick item checks compiled from the shipped schemas (there are a few dozen).
MAX_QUICK_CHECKS = 1024
# Query option keys that are no field, with the field each is a near miss of (or none): a host sends
# the same keys of its own with every query.
MAX_KNOWN_UNKNOWN_KEYS = 1024

# ---------------------------------------------------------------------------------------------------
# Runs over a table (_batch.py)

DEFAULT_CONCURRENCY = 8
MAX_CONCURRENCY = 64
# Rows of one query.
MAX_ROWS = 10_000
# OpenAI's per-request limit of embedding inputs: the largest batch_size.
MAX_EMBEDDING_BATCH = 2048
# The inputs of one embedding query, sent in requests of batch_size inputs (well within 8 MiB of text).
MAX_EMBEDDING_INPUTS = 100_000
# A run stops sending after this many failures in a row that no retry can fix (a spent quota, a key
# refused, a prompt that does not exist): the rest of the table would fail the same way.
STOP_AFTER_UNFIXABLE_FAILURES = 10
# The largest time limit a run may be given (maxRunSeconds): a day.
MAX_RUN_SECONDS = 86_400

# The default batch_size: as many vectors as keep one answer within a share of the connection's
# maxResponseMiB, by the answer's largest likely size. A float vector's number takes 24 bytes of JSON at
# most with its separator (a double printed with 17 significant digits: -1.2345678901234567e-05,);
# providers' answers average 21.5. A base64 vector (encoding_format) is 4 bytes a number, 5.33 as base64.
EMBEDDING_FLOAT_BYTES = 24
EMBEDDING_BASE64_BYTES = 6
# Around each vector: {"object": "embedding", "index": 12345, "embedding": [...]},
EMBEDDING_VECTOR_OVERHEAD_BYTES = 64
# Half the cap: room for a provider that prints longer numbers or indents its JSON, or for a model with
# more dimensions than assumed. At the 64 MiB default: 454 vectors of 3,072 numbers, 908 of 1,536.
EMBEDDING_ANSWER_SHARE = 0.5
# The vector sizes of known models (looked up by the model id's last part, after any @provider/); a
# model not listed is assumed to be this large unless the query gives `dimensions`.
EMBEDDING_DIMENSIONS: Mapping[str, int] = MappingProxyType(
    {
        "text-embedding-3-large": 3072,
        "text-embedding-3-small": 1536,
        "text-embedding-ada-002": 1536,
    }
)
DEFAULT_EMBEDDING_DIMENSIONS = 3072


# ---------------------------------------------------------------------------------------------------
# Cost (docs/cost.md)

# A connection's own prices are in dollars per this many tokens (as providers' price pages give them).
PRICES_PER_TOKENS = 1_000_000

# ---------------------------------------------------------------------------------------------------
# Batch jobs (_batch_jobs.py): the provider's Batch API, through Portkey's /files and /batches

# OpenAI's limits of one batch: requests in its input file, and the file's size (checked before upload).
MAX_BATCH_REQUESTS = 50_000
MAX_BATCH_FILE_BYTES = 200 * 1000 * 1000
DEFAULT_COMPLETION_WINDOW = "24h"
# A row's own custom_id, at most (OpenAI's custom ids are free text; this keeps errors and files sane).
MAX_CUSTOM_ID_CHARS = 512
# The name the input file is uploaded under (multipart ``file``, with ``purpose=batch``).
BATCH_FILE_NAME = "batch.jsonl"


def timeouts(seconds: float, read: float | None = None) -> dict[str, float]:
    """The timeouts of one attempt, as httpx's ``timeout`` request extension takes them: a short
    connect limit, ``seconds`` for the rest (``read``: a stream's wait for each event)."""
    return {
        "connect": min(CONNECT_TIMEOUT_SECONDS, seconds),
        "read": seconds if read is None else read,
        "write": seconds,
        "pool": seconds,
    }


def make_timeout(seconds: float) -> httpx.Timeout:
    """The timeout for one attempt as an ``httpx.Timeout`` (``timeouts``)."""
    return httpx.Timeout(**timeouts(seconds))
