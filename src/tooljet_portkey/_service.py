"""QueryService and AsyncQueryService: what a host calls.

``run()`` validates the options against the spec, builds the request, sends it through a pooled client
(one per data source), and returns a JSON-ready QueryResult. Every failure leaves as a ``QueryError``;
no other exception escapes, and no secret is in any message.
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
import json
import logging
import threading
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable, Hashable, Iterator, Mapping
from typing import Any, Generic, TypeVar, cast

from ._client import AsyncPortkeyClient, PortkeyClient
from ._constants import MAX_CACHED_CLIENTS
from ._errors import (
    APIConnectionError,
    APIResponseValidationError,
    APIStatusError,
    APITimeoutError,
    GuardrailDeniedError,
    PortkeyError,
    QueryError,
    ResponseTooLargeError,
    StreamError,
    StreamTruncatedError,
)
from ._output import answer_metadata, shape_answer
from ._requests import PortkeyRequest, build_request
from ._responses import PortkeyResponse, StreamAssembler, header_int, response_metadata
from ._secrets import config_secrets, redact, redact_json
from ._spec import ConnectionSettings, Query, parse_connection, parse_query

__all__ = ["AsyncQueryService", "QueryService"]

log = logging.getLogger("tooljet_portkey")

FAILED = "Query could not be completed"
STREAMABLE = frozenset({"completion", "chat", "prompt_completion"})

ClientT = TypeVar("ClientT", PortkeyClient, AsyncPortkeyClient)
F = TypeVar("F", bound=Callable[..., Any])


def to_query_error(err: PortkeyError, settings: ConnectionSettings, request: PortkeyRequest) -> QueryError:
    """A client error -> the host's QueryError: Portkey's own words and {statusCode, errorType, traceId}.

    Every text in it that the server (or a proxy, or the network library) supplied is redacted of the
    connection's and the query's secrets: the message, and every text in ``data`` (errorType,
    provider, retryAfter, hookResults, traceId...).
    """
    retries = getattr(err, "retries", 0)
    trace_id = request.headers.get("x-portkey-trace-id")
    secrets = settings.secrets + _query_secrets(request)
    message = err.message
    data: dict[str, Any] = {"statusCode": None, "errorType": None, "traceId": trace_id, "retries": retries}
    title = FAILED
    if isinstance(err, APIStatusError):
        data.update(statusCode=err.status_code, errorType=err.error_type, traceId=err.trace_id or trace_id)
        if err.retry_attempt_count is not None:
            attempts = header_int(err.retry_attempt_count)
            data["retryAttemptCount"] = err.retry_attempt_count if attempts is None else attempts
        if isinstance(err.body, dict) and isinstance(err.body.get("provider"), str):
            data["provider"] = err.body["provider"]
        if isinstance(err, GuardrailDeniedError):
            data["hookResults"] = err.hook_results  # the verdicts may quote the request, and a key
        if "retry-after" in err.headers:
            data["retryAfter"] = err.headers["retry-after"]
    elif isinstance(err, APITimeoutError):
        title = "Query timed out"
        data["errorType"] = "timeout_error"
        if retries:
            message = f"{message} (after {retries} {'retry' if retries == 1 else 'retries'})"
    elif isinstance(err, APIConnectionError):
        # kind: connection_error, or invalid_request when httpx refused to send what we built
        title = "Could not reach Portkey" if err.kind == "connection_error" else FAILED
        data["errorType"] = err.kind
        if retries:
            message = f"{message} (after {retries} retries)"
    elif isinstance(err, APIResponseValidationError):
        data.update(
            statusCode=err.status_code,
            errorType="invalid_response",
            traceId=err.headers.get("x-portkey-trace-id", trace_id),
        )
    elif isinstance(err, ResponseTooLargeError):
        data.update(
            statusCode=err.status_code,
            errorType="response_too_large",
            traceId=err.headers.get("x-portkey-trace-id", trace_id),
        )
    elif isinstance(err, StreamTruncatedError):
        data["errorType"] = "stream_truncated"
    elif isinstance(err, StreamError):
        data["errorType"] = err.error_type or "stream_error"
    return QueryError(title, redact(message, secrets), redact_json(data, secrets))


def _query_secrets(request: PortkeyRequest) -> tuple[str, ...]:
    """Secrets a query itself adds (its own virtual key, a config carrying keys), for redaction."""
    found: list[str] = []
    virtual_key = request.headers.get("x-portkey-virtual-key")
    if virtual_key:
        found.append(virtual_key)
    config = request.headers.get("x-portkey-config", "")
    if config.startswith("{"):
        found.extend(config_secrets(json.loads(config)))
    return tuple(found)


def _stream_failure(
    err: PortkeyError, settings: ConnectionSettings, request: PortkeyRequest, answer: Mapping[str, Any] | None
) -> QueryError:
    """to_query_error, plus the trace id from the answer's headers when the stream had started."""
    error = to_query_error(err, settings, request)
    if answer and error.data.get("traceId") is None and answer.get("traceId"):
        error.data["traceId"] = redact_json(answer["traceId"], settings.secrets + _query_secrets(request))
    return error


def unexpected(err: BaseException) -> QueryError:
    """A bug of ours must still reach the host as a QueryError, not as 'Internal server error'. Only
    the exception's type is told (its message may quote a key); the caller detaches it (see
    ``detached``)."""
    log.error("tooljet_portkey: unexpected %s", type(err).__name__)
    return QueryError(
        FAILED,
        f"Unexpected error in the Portkey plugin ({type(err).__name__})",
        {"statusCode": None, "errorType": "plugin_error", "traceId": None},
    )


def detached(error: QueryError) -> QueryError:
    """``error`` with no link to the exception it replaced. That exception (an httpx error, the client's
    PortkeyError, a ValueError) may hold the server's unredacted text or a key, and a host's logger
    prints the whole chain; ``raise ... from None`` only hides ``__context__``, it keeps it."""
    error.__cause__ = None
    error.__context__ = None
    error.__suppress_context__ = True
    return error


def _detaching(func: F) -> F:
    """``func`` (a function, coroutine, generator or async generator function) whose QueryErrors leave
    ``detached``. Each is re-raised outside of any ``except`` block, so Python links it to nothing."""
    if inspect.isasyncgenfunction(func):

        @functools.wraps(func)
        async def async_stream(*args: Any, **kwargs: Any) -> Any:
            chunks = func(*args, **kwargs)
            failure: QueryError | None = None
            try:
                async for chunk in chunks:
                    yield chunk
            except QueryError as err:
                failure = err
            finally:
                await chunks.aclose()
            if failure is not None:
                raise detached(failure)

        return cast(F, async_stream)
    if inspect.isgeneratorfunction(func):

        @functools.wraps(func)
        def stream(*args: Any, **kwargs: Any) -> Any:
            failure: QueryError | None = None
            try:
                yield from func(*args, **kwargs)
            except QueryError as err:
                failure = err
            if failure is not None:
                raise detached(failure)

        return cast(F, stream)
    if inspect.iscoroutinefunction(func):

        @functools.wraps(func)
        async def coroutine(*args: Any, **kwargs: Any) -> Any:
            try:
                return await func(*args, **kwargs)
            except QueryError as err:
                failure = err
            raise detached(failure)

        return cast(F, coroutine)

    @functools.wraps(func)
    def function(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except QueryError as err:
            failure = err
        raise detached(failure)

    return cast(F, function)


class _ServiceBase(Generic[ClientT]):
    """The pool of clients (one per data source) and the query preparation both services share."""

    def __init__(self) -> None:
        self._clients: OrderedDict[Hashable, tuple[Any, ClientT]] = OrderedDict()
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"{type(self).__name__}(clients={len(self._clients)})"

    def _new_client(self, settings: ConnectionSettings) -> ClientT:
        raise NotImplementedError

    def _client(
        self, settings: ConnectionSettings, data_source_id: Any, updated_at: Any
    ) -> tuple[ClientT, list[ClientT]]:
        """The pooled client for this data source, and any clients it replaced (to close)."""
        key: Hashable = ("id", str(data_source_id)) if data_source_id is not None else settings
        stale: list[ClientT] = []
        with self._lock:
            entry = self._clients.get(key)
            if entry is not None:
                seen_at, client = entry
                if seen_at == updated_at and client.settings == settings:
                    self._clients.move_to_end(key)
                    return client, stale
                stale.append(client)
            client = self._new_client(settings)
            self._clients[key] = (updated_at, client)
            while len(self._clients) > MAX_CACHED_CLIENTS:
                stale.append(self._clients.popitem(last=False)[1][1])
        return client, stale

    @classmethod
    def _prepare(
        cls, source_options: Any, query_options: Any, force_stream: bool = False
    ) -> tuple[ConnectionSettings, PortkeyRequest]:
        """Validate and build, before any I/O; only QueryError leaves, whatever the options hold."""
        try:
            return cls._build(source_options, query_options, force_stream)
        except QueryError as err:
            failure = err
        except Exception as err:
            failure = unexpected(err)
        raise detached(failure)

    @staticmethod
    def _build(
        source_options: Any, query_options: Any, force_stream: bool
    ) -> tuple[ConnectionSettings, PortkeyRequest]:
        settings = parse_connection(source_options)
        query = parse_query(query_options)
        if force_stream:
            if query.operation not in STREAMABLE:
                raise QueryError(
                    "Invalid query options",
                    f"operation: {query.operation} cannot be streamed",
                    {"field": "operation"},
                )
            query = Query(query.operation, {**query.params, "stream": True})
        return settings, build_request(settings, query)

    @staticmethod
    def _answered(response: PortkeyResponse, request: PortkeyRequest) -> dict[str, Any]:
        """The QueryResult of a plain answer: its data in the query's output mode, and what Portkey's
        headers and the answer said."""
        meta = response_metadata(response.status_code, response.headers, response.retries)
        return _result(request, response.data, meta)

    @staticmethod
    def _assembled(
        assembler: StreamAssembler, stream_metadata: Mapping[str, Any], request: PortkeyRequest
    ) -> dict[str, Any]:
        """The QueryResult of a streamed answer: the same shape as unstreamed, chunks folded."""
        meta = {**stream_metadata, "streamed": True, "chunks": assembler.count}
        return _result(request, assembler.result(), meta)

    @staticmethod
    def _log(request: PortkeyRequest, meta: Mapping[str, Any]) -> None:
        log.debug(
            "portkey %s %s -> %s trace=%s retries=%s",
            request.method,
            request.path,
            meta.get("statusCode"),
            meta.get("traceId"),
            meta.get("retries"),
        )


def _result(request: PortkeyRequest, answer: Any, meta: dict[str, Any]) -> dict[str, Any]:
    """``{status: ok, data, metadata}``; an answer that is not the output asked for is a QueryError
    carrying the call's status and trace id."""
    meta.update(answer_metadata(answer))
    try:
        data, extra = shape_answer(request.answer, answer)
    except QueryError as err:
        err.data.update(statusCode=meta.get("statusCode"), traceId=meta.get("traceId"))
        raise
    meta.update(extra)
    return {"status": "ok", "data": data, "metadata": meta}


def _connection_failure(err: BaseException, settings: ConnectionSettings | None) -> dict[str, Any]:
    if isinstance(err, QueryError):
        return {"status": "failed", "message": err.description}
    if isinstance(err, APIStatusError):
        text = redact(err.message, settings.secrets) if settings else err.message
        if err.status_code in (401, 403):
            return {
                "status": "failed",
                "message": f"Portkey rejected the credentials ({err.status_code}): {text}",
            }
        return {"status": "failed", "message": f"Portkey answered {err.status_code}: {text}"}
    if isinstance(err, PortkeyError):
        text = redact(err.message, settings.secrets) if settings else err.message
        return {"status": "failed", "message": text}
    return {"status": "failed", "message": f"Unexpected error ({type(err).__name__})"}


class QueryService(_ServiceBase[PortkeyClient]):
    """The plugin's service, as a host loads it: ``run()``, ``stream()``, ``test_connection()``."""

    def _new_client(self, settings: ConnectionSettings) -> PortkeyClient:
        return PortkeyClient(settings)

    def get_connection(
        self, source_options: Any, data_source_id: Any = None, data_source_updated_at: Any = None
    ) -> PortkeyClient:
        """The pooled client for a data source (ToolJet's getConnection)."""
        return self._pooled(parse_connection(source_options), data_source_id, data_source_updated_at)

    def _pooled(self, settings: ConnectionSettings, data_source_id: Any, updated_at: Any) -> PortkeyClient:
        client, stale = self._client(settings, data_source_id, updated_at)
        for old in stale:
            old.close()
        return client

    @_detaching
    def run(
        self,
        source_options: Any,
        query_options: Any,
        data_source_id: Any = None,
        data_source_updated_at: Any = None,
    ) -> dict[str, Any]:
        """Run one query; return ``{status: ok, data, metadata}`` or raise QueryError."""
        settings, request = self._prepare(source_options, query_options)
        try:
            client = self._pooled(settings, data_source_id, data_source_updated_at)
            if request.stream:
                assembler = StreamAssembler()
                with client.open_stream(request) as stream:
                    try:
                        for chunk in stream:
                            assembler.add(chunk)
                    except StreamError as err:
                        raise _stream_failure(err, settings, request, stream.metadata) from None
                result = self._assembled(assembler, stream.metadata, request)
            else:
                result = self._answered(client.send(request), request)
        except PortkeyError as err:
            raise to_query_error(err, settings, request) from None
        except QueryError:
            raise
        except Exception as err:
            raise unexpected(err) from None
        self._log(request, result["metadata"])
        return result

    def stream(
        self,
        source_options: Any,
        query_options: Any,
        data_source_id: Any = None,
        data_source_updated_at: Any = None,
    ) -> Iterator[dict[str, Any]]:
        """A streamed answer's chunks as Portkey sends them; failures are QueryError.

        The options are checked at once (a bad field raises here, before any request); the request is
        sent when iteration starts. Closing the iterator early closes the connection.
        """
        settings, request = self._prepare(source_options, query_options, force_stream=True)
        return self._stream(settings, request, data_source_id, data_source_updated_at)

    @_detaching
    def _stream(
        self, settings: ConnectionSettings, request: PortkeyRequest, data_source_id: Any, updated_at: Any
    ) -> Iterator[dict[str, Any]]:
        chunks = None
        try:
            client = self._pooled(settings, data_source_id, updated_at)
            chunks = client.open_stream(request)
            yield from chunks
        except PortkeyError as err:
            raise _stream_failure(err, settings, request, chunks.metadata if chunks else None) from None
        except (QueryError, GeneratorExit):
            raise
        except Exception as err:
            raise unexpected(err) from None
        finally:
            if chunks is not None:
                chunks.close()

    def test_connection(self, source_options: Any) -> dict[str, Any]:
        """``{status: ok}`` when Portkey accepts the connection, else ``{status: failed, message}``."""
        settings: ConnectionSettings | None = None
        try:
            settings = parse_connection(source_options)
            with PortkeyClient(_probe_settings(settings)) as client:
                client.send(_models_request(settings))
        except Exception as err:
            return _connection_failure(err, settings)
        return {"status": "ok"}

    def close(self) -> None:
        with self._lock:
            clients = [client for _, client in self._clients.values()]
            self._clients.clear()
        for client in clients:
            client.close()

    def __enter__(self) -> QueryService:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class AsyncQueryService(_ServiceBase[AsyncPortkeyClient]):
    """The async twin of QueryService: the same methods, awaitable."""

    def _new_client(self, settings: ConnectionSettings) -> AsyncPortkeyClient:
        return AsyncPortkeyClient(settings)

    async def get_connection(
        self, source_options: Any, data_source_id: Any = None, data_source_updated_at: Any = None
    ) -> AsyncPortkeyClient:
        return await self._pooled(parse_connection(source_options), data_source_id, data_source_updated_at)

    async def _pooled(
        self, settings: ConnectionSettings, data_source_id: Any, updated_at: Any
    ) -> AsyncPortkeyClient:
        client, stale = self._client(settings, data_source_id, updated_at)
        for old in stale:
            await old.aclose()
        return client

    @_detaching
    async def run(
        self,
        source_options: Any,
        query_options: Any,
        data_source_id: Any = None,
        data_source_updated_at: Any = None,
    ) -> dict[str, Any]:
        settings, request = self._prepare(source_options, query_options)
        try:
            client = await self._pooled(settings, data_source_id, data_source_updated_at)
            if request.stream:
                assembler = StreamAssembler()
                async with await client.open_stream(request) as stream:
                    try:
                        async for chunk in stream:
                            assembler.add(chunk)
                    except StreamError as err:
                        raise _stream_failure(err, settings, request, stream.metadata) from None
                result = self._assembled(assembler, stream.metadata, request)
            else:
                result = self._answered(await client.send(request), request)
        except PortkeyError as err:
            raise to_query_error(err, settings, request) from None
        except QueryError:
            raise
        except Exception as err:
            raise unexpected(err) from None
        self._log(request, result["metadata"])
        return result

    def stream(
        self,
        source_options: Any,
        query_options: Any,
        data_source_id: Any = None,
        data_source_updated_at: Any = None,
    ) -> AsyncIterator[dict[str, Any]]:
        """``async for`` the chunks; options are checked at once, as in QueryService.stream."""
        settings, request = self._prepare(source_options, query_options, force_stream=True)
        return self._stream(settings, request, data_source_id, data_source_updated_at)

    @_detaching
    async def _stream(
        self, settings: ConnectionSettings, request: PortkeyRequest, data_source_id: Any, updated_at: Any
    ) -> AsyncIterator[dict[str, Any]]:
        chunks = None
        try:
            client = await self._pooled(settings, data_source_id, updated_at)
            chunks = await client.open_stream(request)
            async for chunk in chunks:
                yield chunk
        except PortkeyError as err:
            raise _stream_failure(err, settings, request, chunks.metadata if chunks else None) from None
        except (QueryError, GeneratorExit):
            raise
        except Exception as err:
            raise unexpected(err) from None
        finally:
            if chunks is not None:
                await chunks.aclose()

    async def test_connection(self, source_options: Any) -> dict[str, Any]:
        settings: ConnectionSettings | None = None
        try:
            settings = parse_connection(source_options)
            async with AsyncPortkeyClient(_probe_settings(settings)) as client:
                await client.send(_models_request(settings))
        except Exception as err:
            return _connection_failure(err, settings)
        return {"status": "ok"}

    async def aclose(self) -> None:
        with self._lock:
            clients = [client for _, client in self._clients.values()]
            self._clients.clear()
        for client in clients:
            await client.aclose()

    async def __aenter__(self) -> AsyncQueryService:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()


def _models_request(settings: ConnectionSettings) -> PortkeyRequest:
    """GET /models: Portkey's cheapest authenticated call, used by test_connection."""
    from ._requests import connection_headers

    headers = {**connection_headers(settings), "accept": "application/json"}
    return PortkeyRequest("GET", "/models", headers, None, False, "models")


def _probe_settings(settings: ConnectionSettings) -> ConnectionSettings:
    """A connection test should answer quickly: a short timeout and no retries."""
    return dataclasses.replace(settings, timeout=min(settings.timeout, 20.0), max_retries=0)
