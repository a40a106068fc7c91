"""What a query's outcome becomes for a host: the one mapping of failures to a ``QueryError``
(``query_errors``, ``to_query_error``) and of an answer to a ``QueryResult`` (``query_result``).

Below the service (``_service``) and the runs it hands a query to (``_run_rows``, ``_run_batch_jobs``),
which all map through it; it knows nothing of clients, pools or runs.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, cast

from ._cost import add_cost, connection_prices, with_prices
from ._errors import (
    QUERY_FAILED_TITLE,
    APIConnectionError,
    APIResponseValidationError,
    APIStatusError,
    APITimeoutError,
    GuardrailDeniedError,
    PortkeyError,
    QueryError,
    ResponseTooLargeError,
)
from ._operations import operation
from ._output import answer_metadata, shape_answer
from ._requests import PortkeyRequest
from ._responses import StreamTally, header_int
from ._routing import guardrail_verdicts, routing_metadata
from ._secrets import header_secrets, redact, redact_json
from ._settings import ConnectionSettings

if TYPE_CHECKING:  # for type checkers: a query never loads them
    from ._types import QueryMetadata, QueryResult

__all__ = [
    "after_retries",
    "detached",
    "query_errors",
    "query_result",
    "streamed_metadata",
    "to_query_error",
    "unexpected",
]

log = logging.getLogger("tooljet_portkey")


# ---------------------------------------------------------------------------------------------------
# Failures -> QueryError


def to_query_error(err: PortkeyError, settings: ConnectionSettings, request: PortkeyRequest) -> QueryError:
    """A client error -> the host's QueryError: Portkey's own words and {statusCode, errorType, traceId}.

    Every text in it that the server (or a proxy, or the network library) supplied is redacted of the
    connection's and the query's secrets: the message, and every text in ``data`` (errorType,
    provider, retryAfter, hookResults, traceId...).
    """
    trace_id = request.headers.get("x-portkey-trace-id")
    secrets = settings.secrets + _query_secrets(request)
    detail = err.detail
    data: dict[str, Any] = {
        "statusCode": None,
        "errorType": err.error_type,
        "traceId": trace_id,
        "retries": err.retries,
    }
    title = QUERY_FAILED_TITLE
    if isinstance(err, APIStatusError):
        data.update(statusCode=err.status_code, traceId=err.trace_id or trace_id)
        gateway_retries = err.portkey_retry_attempts
        if gateway_retries is not None:
            attempts = header_int(gateway_retries)
            data["retryAttemptCount"] = gateway_retries if attempts is None else attempts
        if isinstance(err.body, dict) and isinstance(err.body.get("provider"), str):
            data["provider"] = err.body["provider"]
        if isinstance(err, GuardrailDeniedError):
            data["errorType"] = "guardrail_denied"  # one name for hosts, whatever the body's type says
            data["hookResults"] = err.hook_results  # the verdicts may quote the request, and a key
            verdicts = guardrail_verdicts(err.hook_results)
            if verdicts is not None:
                data["guardrails"] = {**verdicts, "verdict": "denied"}  # Portkey denied, whatever a hook says
        if "retry-after" in err.headers:
            data["retryAfter"] = err.headers["retry-after"]
    elif isinstance(err, APIConnectionError):
        # a timeout, an unreachable gateway, a proxy setting or a request httpx refused to send
        if isinstance(err, APITimeoutError):
            title = "Query timed out"
        elif err.error_type == "connection_error":
            title = "Could not reach Portkey"
        if err.retries:
            detail = f"{detail} ({after_retries(err.retries)})"
    elif isinstance(err, (APIResponseValidationError, ResponseTooLargeError)):
        data.update(statusCode=err.status_code, traceId=err.headers.get("x-portkey-trace-id", trace_id))
        fewer = _fewer_vectors(request) if isinstance(err, ResponseTooLargeError) else None
        if fewer is not None:
            detail = f"{detail}: {fewer}"
            data["field"] = "batch_size"
    return QueryError(title, redact(detail, secrets), redact_json(data, secrets))


def _fewer_vectors(request: PortkeyRequest) -> str | None:
    """For an embedding answer of several vectors past the cap: the fields that make it smaller."""
    inputs = (request.body or {}).get("input")
    if (
        operation(request.operation).runs != "chunks"
        or request.answer.single_input
        or not isinstance(inputs, list)
    ):
        return None
    if len(inputs) < 2:
        return None
    return (
        f"lower batch_size (this request held {len(inputs)} inputs) or ask for fewer dimensions "
        "(other_parameters.dimensions)"
    )


def after_retries(retries: int) -> str:
    """ "after 1 retry", "after 3 retries"."""
    return f"after {retries} {'retry' if retries == 1 else 'retries'}"


def _query_secrets(request: PortkeyRequest) -> tuple[str, ...]:
    """Secrets a query itself adds (its own virtual key, a config carrying keys), for redaction."""
    return header_secrets(request.headers)


def unexpected(err: BaseException) -> QueryError:
    """A bug of ours must still reach the host as a QueryError, not as 'Internal server error'. Only
    the exception's type is told (its message may quote a key); the caller detaches it (see
    ``detached``)."""
    log.error("tooljet_portkey: unexpected %s", type(err).__name__)
    return QueryError(
        QUERY_FAILED_TITLE,
        f"Unexpected error in the Portkey plugin ({type(err).__name__})",
        {"statusCode": None, "errorType": "plugin_error", "traceId": None},
    )


class query_errors:
    """The one mapping of failures to the host's QueryError, for every service path::

        with query_errors(settings, request):
            ...  # send, stream, fold

    A ``PortkeyError`` leaves as ``to_query_error`` makes it; a ``QueryError`` passes through; any
    other ``Exception`` (a bug of ours) leaves as the ``plugin_error`` QueryError. ``BaseException``s
    (cancellation, ``GeneratorExit``, ``KeyboardInterrupt``) pass untouched. Without settings and a
    request (before the query was built) every non-QueryError is a bug.

    Python links the QueryError raised here to the exception it replaces; the service's public
    methods are ``_detaching``, which cut that link before the host sees it (``detached``).
    """

    def __init__(
        self,
        settings: ConnectionSettings | None = None,
        request: PortkeyRequest | None = None,
        stream_metadata: Mapping[str, Any] | None = None,
    ) -> None:
        self.settings = settings
        self.request = request
        # the metadata of a stream's answer once it started: its trace id fills in a missing one
        self.stream_metadata = stream_metadata
        # the status of Portkey's error answer when that was the failure (test_connection words it)
        self.error_status: int | None = None

    def __enter__(self) -> query_errors:
        return self

    def __exit__(self, exc_type: object, exc: BaseException | None, traceback: object) -> None:
        if exc is None or isinstance(exc, QueryError) or not isinstance(exc, Exception):
            return
        raise self.map(exc) from None

    def map(self, exc: Exception) -> QueryError:
        """The QueryError ``exc`` becomes, without raising it (a table run keeps one per failed row)."""
        if isinstance(exc, QueryError):
            return exc
        if isinstance(exc, PortkeyError) and self.settings is not None and self.request is not None:
            if isinstance(exc, APIStatusError):
                self.error_status = exc.status_code
            error = to_query_error(exc, self.settings, self.request)
            answer = self.stream_metadata
            if answer and error.data.get("traceId") is None and answer.get("traceId"):
                secrets = self.settings.secrets + _query_secrets(self.request)
                error.data["traceId"] = redact_json(answer["traceId"], secrets)
        else:
            error = unexpected(exc)
        return detached(error)


def detached(error: QueryError) -> QueryError:
    """``error`` with no link to the exception it replaced. That exception (an httpx error, the client's
    PortkeyError, a ValueError) may hold the server's unredacted text or a key, and a host's logger
    prints the whole chain; ``raise ... from None`` only hides ``__context__``, it keeps it."""
    error.__cause__ = None
    error.__context__ = None
    error.__suppress_context__ = True
    return error


# ---------------------------------------------------------------------------------------------------
# Answers -> QueryResult


def query_result(
    request: PortkeyRequest,
    answer: Any,
    meta: dict[str, Any],
    deadline: float | None = None,
    settings: ConnectionSettings | None = None,
) -> QueryResult:
    """``{status: ok, data, metadata}``; an answer that is not the output asked for is a QueryError
    carrying the call's status and trace id. Reading it ends by ``deadline`` (time.monotonic), or by
    the query's timeout from now. With the connection's ``settings``, ``metadata.cost`` (_cost.py)."""
    meta.update(answer_metadata(answer))
    meta.update(routing_metadata(request.headers, request.body, answer, meta))
    if settings is not None:
        add_cost(meta, request.operation, request.body, answer, settings.provider, settings.prices)
        if operation(request.operation).model_list and request.answer.mode == "full":
            provider = meta.get("provider") or settings.provider
            answer = with_prices(answer, provider, connection_prices(settings.prices))
    try:
        data, extra = shape_answer(request.answer, answer, deadline)
    except QueryError as err:
        err.data.update(statusCode=meta.get("statusCode"), traceId=meta.get("traceId"))
        raise
    meta.update(extra)
    return {"status": "ok", "data": data, "metadata": cast("QueryMetadata", meta)}


def streamed_metadata(stream_metadata: Mapping[str, Any], tally: StreamTally) -> dict[str, Any]:
    """A streamed answer's metadata, for ``run()`` and ``stream()`` alike: what Portkey's headers said,
    ``streamed``, how many chunks came, and what the chunks said (model, usage, finish reason)."""
    return {**stream_metadata, "streamed": True, "chunks": tally.count, **answer_metadata(tally.answer())}
