"""What the services return, as types: ``QueryResult`` (with its ``QueryMetadata``) and ``ConnectionStatus``.

At run time each is a plain dict, JSON-ready as a host needs it; the TypedDicts only let a caller's type
checker see the keys (``result["metadata"]["traceId"]``). Keys are camelCase, as hosts read them.
"""

from __future__ import annotations

from typing import Any, Literal, TypedDict

__all__ = ["ConnectionStatus", "QueryMetadata", "QueryResult"]


class QueryMetadata(TypedDict, total=False):
    """What Portkey's headers and the answer said about one call (docs/host-integration.md).

    ``statusCode`` and ``retries`` are in every answer's metadata; the others when Portkey or the answer
    gave them."""

    statusCode: int  # the HTTP status of Portkey's answer (200, or 246: guardrails warned)
    retries: int  # how many times the plugin retried
    traceId: str  # x-portkey-trace-id
    cacheStatus: str  # x-portkey-cache-status
    provider: str  # x-portkey-provider: the provider that answered
    lastUsedOptionIndex: str  # x-portkey-last-used-option-index: the config target that answered
    retryAttemptCount: int  # x-portkey-retry-attempt-count: retries the gateway made
    guardrailWarning: bool  # on a 246
    servedBy: dict[str, Any]  # the config target that answered: {index, model, provider} (docs/routing.md)
    guardrails: dict[str, Any]  # the guardrails' verdicts: {verdict, checks, before, after}
    streamed: bool  # the answer was streamed and its chunks folded
    chunks: int  # how many chunks were folded
    model: str  # the answer's model
    usage: dict[str, Any]  # the answer's usage, as Portkey sent it
    finishReason: str  # when the answer has one choice
    warning: str  # what the output mode could not do as asked (arguments that are not JSON)
    cost: dict[str, Any] | None  # what the answer cost in USD (docs/cost.md); None: it could not be priced
    warnings: list[str]  # what the plugin could not do, each in words (an answer it could not price)
    # a query of rows (docs/batch.md): usage and retries summed over the rows
    rows: int  # how many rows
    succeeded: int  # rows that worked
    failed: int  # rows that failed (each one's error is in its entry of data)
    skipped: int  # rows never sent, because the run stopped early
    stopped: dict[str, Any]  # why the run stopped early: reason, description and its facts
    seconds: float  # the run's time
    # an embedding input sent in several requests
    requests: int  # how many requests
    traceIds: list[str | None]  # each request's trace id, in input order


class QueryResult(TypedDict):
    """What ``run()`` returns: the answer's ``data`` in the query's output mode, and its metadata."""

    status: Literal["ok"]
    data: Any
    metadata: QueryMetadata


class _ConnectionStatusAlways(TypedDict):
    status: Literal["ok", "failed"]


class ConnectionStatus(_ConnectionStatusAlways, total=False):
    """What ``test_connection()`` returns: ``{"status": "ok"}``, or ``{"status": "failed", "message"}``."""

    message: str
