"""QueryService and AsyncQueryService: what a host calls.

``run()`` validates the options against the spec, builds the request, sends it through a pooled client
(one per data source), and returns a JSON-ready QueryResult. Every failure leaves as a ``QueryError``;
no other exception escapes, and no secret is in any message.
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
import logging
import re
import threading
from collections.abc import AsyncGenerator, Callable, Hashable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Generic, TypeVar, cast

from . import _logs
from ._client import AsyncChunkStream, AsyncPortkeyClient, ChunkStream, PortkeyClient
from ._constants import CONNECTION_TEST_TIMEOUT_SECONDS, MAX_CACHED_QUERIES, MAX_MODEL_CHOICES
from ._cost import add_cost, connection_prices, price_label
from ._errors import QueryError
from ._mapping import detached, query_errors, query_result, streamed_metadata
from ._options import Query, parse_connection, parse_query, query_key
from ._output import chunk_text
from ._pool import ClientPool, Lease
from ._requests import TRACE_HEADER, PortkeyRequest, build_request, traced
from ._responses import PortkeyResponse, StreamAssembler, StreamTally, response_metadata
from ._rows import RunningRuns, is_several
from ._settings import ConnectionSettings
from ._spec import load_spec

if TYPE_CHECKING:  # the result types are for type checkers: a query never loads them
    from ._types import ConnectionStatus, QueryMetadata, QueryResult

__all__ = ["AsyncQueryService", "AsyncQueryStream", "QueryService", "QueryStream"]

log = logging.getLogger("tooljet_portkey")

ClientT = TypeVar("ClientT", PortkeyClient, AsyncPortkeyClient)
F = TypeVar("F", bound=Callable[..., Any])


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
        self._pool: ClientPool[ClientT] = ClientPool(self._new_client)
        self._runs = RunningRuns()  # queries of rows or chunks in progress: close() stops them

    def __repr__(self) -> str:
        return f"{type(self).__name__}(clients={len(self._pool)})"

    def _new_client(self, settings: ConnectionSettings) -> ClientT:
        raise NotImplementedError

    def pooled_clients(self) -> list[ClientT]:
        """The clients the pool holds now (one per data source), least recently used first."""
        return self._pool.pooled()

    @staticmethod
    def _validate_and_build(
        source_options: Any, query_options: Any, force_stream: bool = False
    ) -> tuple[ConnectionSettings, PortkeyRequest]:
        """The connection's settings and the request to send, before any I/O; only QueryError leaves,
        whatever the options hold (its callers are ``_detaching``)."""
        try:
            return _settings_and_request(source_options, query_options, force_stream)
        except QueryError:
            raise
        except Exception as exc:  # what ``with query_errors():`` does, without its three calls per query
            raise query_errors().map(exc) from None

    @staticmethod
    @_detaching
    def _validate_and_build_method(
        method_name: Any, source_options: Any, args: Any
    ) -> tuple[ConnectionSettings, PortkeyRequest, str | None]:
        """Check an invoke_method call and build its request (``GET /models``), before any I/O."""
        with query_errors():
            operation = method_operation(method_name, args)
            settings, request = _settings_and_request(source_options, {"operation": "list_models"}, False)
            return settings, request, operation

    @staticmethod
    def _result_of_answer(
        response: PortkeyResponse, request: PortkeyRequest, settings: ConnectionSettings | None = None
    ) -> QueryResult:
        """The QueryResult of a plain answer: its data in the query's output mode, and what Portkey's
        headers and the answer said (and, with the connection's ``settings``, what it cost)."""
        meta = response_metadata(response.status_code, response.headers, response.retries, request.secrets())
        return query_result(request, response.data, meta, response.deadline, settings)

    @staticmethod
    def _result_of_stream(
        assembler: StreamAssembler,
        stream_metadata: Mapping[str, Any],
        request: PortkeyRequest,
        settings: ConnectionSettings | None = None,
    ) -> QueryResult:
        """The QueryResult of a streamed answer: the same shape as unstreamed, chunks folded."""
        meta = streamed_metadata(stream_metadata, assembler)
        return query_result(request, assembler.result(), meta, None, settings)

    @staticmethod
    def _log(settings: ConnectionSettings, request: PortkeyRequest, meta: Mapping[str, Any]) -> None:
        """One DEBUG line per query; redacted (_logs.py), since the trace id is the server's text."""
        if not log.isEnabledFor(logging.DEBUG):
            return
        with _logs.redacting(_logs.Redaction(settings, request.headers)):
            log.debug(
                "portkey %s %s -> %s trace=%s retries=%s",
                request.method,
                request.path,
                meta.get("statusCode"),
                meta.get("traceId"),
                meta.get("retries"),
            )


# Requests built from the same short text options and the same connection: a host runs a saved query
# again and again, and its request (immutable once built) is the same each time. A request that carries
# state or a payload of its own (rows, a batch job, a file) is built anew.
_built: dict[tuple[bool, Hashable], tuple[ConnectionSettings, PortkeyRequest]] = {}


def _reusable(request: PortkeyRequest) -> bool:
    return (
        request.run.rows is None
        and request.batch is None
        and request.upload is None
        and request.lines is None
    )


def _settings_and_request(
    source_options: Any, query_options: Any, force_stream: bool
) -> tuple[ConnectionSettings, PortkeyRequest]:
    """Parse the connection and the query (a QueryError naming the field if either is bad) and build
    the request; ``force_stream``: the query is sent as a stream (``stream()``), if its operation can be,
    with a trace id known before it is sent."""
    settings = parse_connection(source_options)
    options_key = query_key(query_options) if isinstance(query_options, (dict, Mapping)) else None
    key = (force_stream, options_key)
    known = _built.get(key) if options_key is not None else None
    if known is not None and known[0] is settings:
        request = known[1]
    else:
        request = _build(settings, parse_query(query_options), force_stream)
        if options_key is not None and _reusable(request):
            if len(_built) >= MAX_CACHED_QUERIES:
                _built.clear()
            _built[key] = (settings, request)
    return settings, traced(request) if force_stream else request


def _build(settings: ConnectionSettings, query: Query, force_stream: bool) -> PortkeyRequest:
    if force_stream:
        if query.operation not in load_spec().streamable:
            raise QueryError(
                "Invalid query options",
                f"operation: {query.operation} cannot be streamed",
                {"field": "operation"},
            )
        query = Query(query.operation, {**query.params, "stream": True})
    return build_request(settings, query)


def _connection_status(error: QueryError, error_status: int | None) -> ConnectionStatus:
    """A failed connection test as the host's form shows it: the QueryError's detail, with Portkey's
    error status (``error_status``) in front when the failure was an error answer."""
    if error_status in (401, 403):
        return {
            "status": "failed",
            "message": f"Portkey rejected the credentials ({error_status}): {error.description}",
        }
    if error_status is not None:
        return {"status": "failed", "message": f"Portkey answered {error_status}: {error.description}"}
    return {"status": "failed", "message": error.description}


def _pool_key(settings: ConnectionSettings, data_source_id: Any) -> Hashable:
    """A data source's id (as text: 42 and "42" are one data source); without one, its settings."""
    return ("id", str(data_source_id)) if data_source_id is not None else settings


def _close_quietly(client: PortkeyClient) -> None:
    """Closing an old client must not fail the query that happened to retire it."""
    try:
        client.close()
    except Exception as err:
        log.debug("tooljet_portkey: closing a retired client failed (%s)", type(err).__name__)


async def _aclose_quietly(clients: Sequence[AsyncPortkeyClient]) -> None:
    for client in clients:
        try:
            await client.aclose()
        except Exception as err:
            log.debug("tooljet_portkey: closing a retired client failed (%s)", type(err).__name__)


# ---------------------------------------------------------------------------------------------------
# invoke_method: what fills a dynamic-selector (the model dropdown)

LIST_MODELS = "listModels"
METHODS = (LIST_MODELS,)
INVALID_METHOD = "Invalid method"
CUT_MODEL_LIST = (
    f"Portkey listed more than {MAX_MODEL_CHOICES:,} models: the first {MAX_MODEL_CHOICES:,} are offered; "
    "type the name of another one"
)
_SHOWN_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}")


def _method_error(field: str, problem: str) -> QueryError:
    return QueryError(INVALID_METHOD, f"{field}: {problem}", {"field": field})


def method_operation(method_name: Any, args: Any) -> str | None:
    """Check an invoke_method call; the operation its model list is for (None: every model).

    The method name is shown in the error only when it is a plain identifier (it comes from
    operations.json through the host, but a host could send anything)."""
    if method_name not in METHODS:
        shown = method_name if isinstance(method_name, str) and _SHOWN_NAME.fullmatch(method_name) else None
        what = f"{shown} is not a method of this plugin" if shown else "is not a method of this plugin"
        raise _method_error("method", f"{what} (one of: {', '.join(METHODS)})")
    if args is None:
        return None
    if not isinstance(args, Mapping):
        raise _method_error("args", "must be an object")
    operation = args.get("operation")
    if operation is None or (isinstance(operation, str) and not operation.strip()):
        return None
    if not isinstance(operation, str):
        raise _method_error("args.operation", "must be text")
    return operation


def model_choices(
    data: Any, operation: str | None, label: Callable[[str], str] = str
) -> tuple[list[dict[str, str]], bool]:
    """A dynamic-selector's choices from a ``GET /models`` answer, and whether the list was cut: each
    model id once, in Portkey's order, only the models of the operation's kind (``_model_kinds``; all
    of them without an operation), at most MAX_MODEL_CHOICES. The answer is read item by item and
    nothing is made past the cap, so a list of a million models costs no more choices than the cap."""
    from ._model_kinds import offered_for  # only a dropdown's list of models needs the kinds

    items = data.get("data") if isinstance(data, Mapping) else None
    seen: set[str] = set()
    choices: list[dict[str, str]] = []
    for item in items if isinstance(items, list) else ():
        model = item.get("id") if isinstance(item, Mapping) else None
        if not isinstance(model, str) or model in seen or not offered_for(item, operation):
            continue
        if len(choices) == MAX_MODEL_CHOICES:
            return choices, True
        seen.add(model)
        choices.append({"value": model, "label": label(model)})
    return choices, False


def priced_label(response: PortkeyResponse, settings: ConnectionSettings) -> Callable[[str], str]:
    """A dropdown label with the model's price when the prices know it (docs/cost.md):
    ``gpt-4o-mini · $0.15 / $0.60 per 1M tokens``; the provider is the one Portkey's answer names, else
    the connection's (a Model Catalog slug names none: no price is shown rather than a guess)."""
    provider = response.headers.get("x-portkey-provider") or settings.provider
    own = connection_prices(settings.prices)

    def label(model: str) -> str:
        price = price_label(provider if provider and not provider.startswith("@") else None, model, own)
        return model if price is None else f"{model} \u00b7 {price}"

    return label


def _listed(response: PortkeyResponse, operation: str | None, settings: ConnectionSettings) -> dict[str, Any]:
    choices, cut = model_choices(response.data, operation, priced_label(response, settings))
    if not cut:
        return {"status": "ok", "data": choices}
    return {"status": "ok", "data": choices, "metadata": {"warning": CUT_MODEL_LIST}}


class QueryService(_ServiceBase[PortkeyClient]):
    """The plugin's service, as a host loads it: ``run()``, ``stream()``, ``test_connection()``.

    Safe to share between threads. Each query and stream holds its data source's client while it
    runs; a client replaced or evicted meanwhile is closed when the last of them ends.
    """

    def _new_client(self, settings: ConnectionSettings) -> PortkeyClient:
        return PortkeyClient(settings)

    def get_connection(
        self, source_options: Any, data_source_id: Any = None, data_source_updated_at: Any = None
    ) -> PortkeyClient:
        """The pooled client for a data source (ToolJet's getConnection).

        The pool owns it: it is closed once the data source is edited or evicted, or the service is
        closed, and no query of this service is using it; use it right away, do not keep it.
        """
        lease = self._lease(parse_connection(source_options), data_source_id, data_source_updated_at)
        self._release(lease)
        return lease.client

    def _lease(
        self, settings: ConnectionSettings, data_source_id: Any, updated_at: Any
    ) -> Lease[PortkeyClient]:
        lease, idle = self._pool.acquire(_pool_key(settings, data_source_id), settings, updated_at)
        for old in idle:
            _close_quietly(old.client)
        return lease

    def _release(self, lease: Lease[PortkeyClient]) -> None:
        if self._pool.release(lease):
            _close_quietly(lease.client)

    @_detaching
    def run(
        self,
        source_options: Any,
        query_options: Any,
        data_source_id: Any = None,
        data_source_updated_at: Any = None,
        on_progress: Callable[[int, int], object] | None = None,
    ) -> QueryResult:
        """Run one query; return ``{status: ok, data, metadata}`` or raise QueryError.

        A query of ``rows`` (or an embedding input longer than ``batch_size``) sends several requests
        (docs/batch.md); ``on_progress(done, total)`` is then called after each of them finishes."""
        settings, request = self._validate_and_build(source_options, query_options)
        with query_errors(settings, request):
            lease = self._lease(settings, data_source_id, data_source_updated_at)
            try:
                if request.batch is not None:  # a batch job: a file and a batch, or a batch's files
                    from ._run_batch_jobs import run_batch_job

                    result = run_batch_job(lease.client, settings, request)
                elif is_several(request):
                    from ._run_rows import run_several

                    result = run_several(lease.client, settings, request, on_progress, self._runs)
                else:
                    result = self._send(lease.client, settings, request)
            finally:
                self._release(lease)
        self._log(settings, request, result["metadata"])
        return result

    def _send(
        self, client: PortkeyClient, settings: ConnectionSettings, request: PortkeyRequest
    ) -> QueryResult:
        if not request.stream:
            return self._result_of_answer(client.send(request), request, settings)
        assembler = StreamAssembler()
        # a bad chunk, a cut or a timeout, once the answer had started: its trace id is known
        with client.open_stream(request) as stream:  # noqa: SIM117 - as in the async twin, which must nest
            with query_errors(settings, request, stream.metadata):
                for chunk in stream:
                    assembler.add(chunk)
        return self._result_of_stream(assembler, stream.metadata, request, settings)

    @_detaching
    def stream(
        self,
        source_options: Any,
        query_options: Any,
        data_source_id: Any = None,
        data_source_updated_at: Any = None,
    ) -> QueryStream:
        """A streamed answer, chunk by chunk (its text in ``text`` output mode); failures are QueryError.

        The options are checked at once (a bad field raises here, before any request); the request is
        sent when iteration starts. See QueryStream: its ``metadata`` and closing it early.
        """
        settings, request = self._validate_and_build(source_options, query_options, force_stream=True)
        return QueryStream(self, settings, request, data_source_id, data_source_updated_at)

    @_detaching
    def invoke_method(self, method_name: str, source_options: Any, args: Any = None) -> dict[str, Any]:
        """ToolJet's invokeMethod, what fills a ``dynamic-selector``. ``listModels`` answers
        ``{status: ok, data: [{value, label}, ...]}``: the models Portkey lists for this connection,
        those for ``args["operation"]`` (see ``model_choices``), with ``metadata.warning`` when the
        list was cut. Failures are QueryError."""
        settings, request, operation = self._validate_and_build_method(method_name, source_options, args)
        with query_errors(settings, request):
            lease = self._lease(settings, None, None)
            try:
                response = lease.client.send(request)
            finally:
                self._release(lease)
        self._log(settings, request, {"statusCode": response.status_code, "retries": response.retries})
        return _listed(response, operation, settings)

    def test_connection(self, source_options: Any) -> ConnectionStatus:
        """``{status: ok}`` when Portkey accepts the connection, else ``{status: failed, message}``."""
        probe = query_errors()
        try:
            with probe:
                settings = parse_connection(source_options)
                request = _models_request(settings)
            probe = query_errors(settings, request)
            with probe:  # noqa: SIM117 - as in the async twin, which must nest
                with PortkeyClient(_probe_settings(settings)) as client:
                    client.send(request)
        except QueryError as err:
            return _connection_status(err, probe.error_status)
        return {"status": "ok"}

    def close(self) -> None:
        """Release every pooled client: an idle one at once, one in use when its last query or stream
        ends (those finish normally). A query of rows sends no new row and fails once its rows in
        flight have finished. The service stays usable: a later query opens a new client."""
        self._runs.stop_all()
        for lease in self._pool.retire():
            _close_quietly(lease.client)

    def __enter__(self) -> QueryService:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class AsyncQueryService(_ServiceBase[AsyncPortkeyClient]):
    """The async twin of QueryService: the same methods, awaitable.

    An httpx connection belongs to the event loop that opened it, so clients are pooled per event
    loop: a service used from a second ``asyncio.run()`` never reuses a client of the first. Each
    loop's clients are closed when that loop shuts down (``asyncio.run`` and ``asyncio.Runner`` close
    async generators first, and the service keeps one per loop for this).
    """

    def __init__(self) -> None:
        super().__init__()
        self._keepers: dict[Any, AsyncGenerator[None, None]] = {}
        self._orphans: list[Lease[AsyncPortkeyClient]] = []
        self._closing: set[Any] = set()
        self._loops_lock = threading.Lock()

    def _new_client(self, settings: ConnectionSettings) -> AsyncPortkeyClient:
        return AsyncPortkeyClient(settings)

    async def get_connection(
        self, source_options: Any, data_source_id: Any = None, data_source_updated_at: Any = None
    ) -> AsyncPortkeyClient:
        """The pooled client for a data source on the running event loop; see QueryService's."""
        lease = await self._lease(parse_connection(source_options), data_source_id, data_source_updated_at)
        await self._release(lease)
        return lease.client

    async def _lease(
        self, settings: ConnectionSettings, data_source_id: Any, updated_at: Any
    ) -> Lease[AsyncPortkeyClient]:
        loop = _running_loop()
        if loop is not None and loop not in self._keepers:
            await self._watch(loop)
        key = (_pool_key(settings, data_source_id), loop)
        lease, idle = self._pool.acquire(key, settings, updated_at, loop)
        if idle or self._orphans:
            try:
                await self._close([*idle, *self._take_orphans(loop)])
            except BaseException:  # cancelled while closing: the lease is not the caller's yet
                await self._release(lease)
                raise
        return lease

    async def _release(self, lease: Lease[AsyncPortkeyClient]) -> None:
        if self._pool.release(lease):
            await self._close([lease])

    async def _close(self, idle: Sequence[Lease[AsyncPortkeyClient]]) -> None:
        """Close the idle retired clients of the running loop. Another live loop's are left to that
        loop (its next query or its shutdown closes them); those of a closed loop are forgotten, as
        nothing can close them any more (the garbage collector releases their sockets)."""
        loop = _running_loop()
        mine: list[AsyncPortkeyClient] = []
        others: list[Lease[AsyncPortkeyClient]] = []
        for lease in idle:
            if lease.owner is loop or lease.owner is None:
                mine.append(lease.client)
            elif not lease.owner.is_closed():
                others.append(lease)
        if others:
            with self._loops_lock:
                self._orphans.extend(others)
        if not mine:
            return
        if loop is None:
            await _aclose_quietly(mine)
            return
        import asyncio

        # in a task of its own, so a cancelled caller cannot leave a client half closed
        task = loop.create_task(_aclose_quietly(mine))
        self._closing.add(task)
        task.add_done_callback(self._closing.discard)
        await asyncio.shield(task)

    def _take_orphans(self, loop: Any) -> list[Lease[AsyncPortkeyClient]]:
        """The orphans this loop can close, taken off the list with those of closed loops."""
        with self._loops_lock:
            mine = [lease for lease in self._orphans if lease.owner is loop]
            self._orphans = [
                lease for lease in self._orphans if lease.owner is not loop and not lease.owner.is_closed()
            ]
        return mine

    async def _watch(self, loop: Any) -> None:
        """Start the keeper that closes this loop's clients when the loop shuts down, and forget the
        clients of loops closed without that (``loop.close()`` with no ``shutdown_asyncgens()``)."""
        keeper = self._keeper(loop)
        with self._loops_lock:
            if loop in self._keepers:
                return
            self._keepers[loop] = keeper
            dead = [other for other in self._keepers if other.is_closed()]
            for other in dead:
                del self._keepers[other]
        await keeper.__anext__()
        if dead:
            self._pool.retire(lambda lease: lease.owner in dead)

    async def _keeper(self, loop: Any) -> AsyncGenerator[None, None]:
        """Suspended for the loop's whole life; the loop's ``shutdown_asyncgens()`` resumes it to
        close the clients the loop leaves behind."""
        try:
            yield
        finally:
            with self._loops_lock:
                self._keepers.pop(loop, None)
            idle = self._pool.retire(lambda lease: lease.owner is loop)
            await self._close(idle + self._take_orphans(loop))

    @_detaching
    async def run(
        self,
        source_options: Any,
        query_options: Any,
        data_source_id: Any = None,
        data_source_updated_at: Any = None,
        on_progress: Callable[[int, int], object] | None = None,
    ) -> QueryResult:
        settings, request = self._validate_and_build(source_options, query_options)
        with query_errors(settings, request):
            lease = await self._lease(settings, data_source_id, data_source_updated_at)
            try:
                if request.batch is not None:  # a batch job: a file and a batch, or a batch's files
                    from ._run_batch_jobs import arun_batch_job

                    result = await arun_batch_job(lease.client, settings, request)
                elif is_several(request):
                    from ._run_rows import arun_several

                    result = await arun_several(lease.client, settings, request, on_progress, self._runs)
                else:
                    result = await self._send(lease.client, settings, request)
            finally:
                await self._release(lease)
        self._log(settings, request, result["metadata"])
        return result

    async def _send(
        self, client: AsyncPortkeyClient, settings: ConnectionSettings, request: PortkeyRequest
    ) -> QueryResult:
        if not request.stream:
            return self._result_of_answer(await client.send(request), request, settings)
        assembler = StreamAssembler()
        async with await client.open_stream(request) as stream:
            # a bad chunk, a cut or a timeout, once the answer had started: its trace id is known
            with query_errors(settings, request, stream.metadata):
                async for chunk in stream:
                    assembler.add(chunk)
        return self._result_of_stream(assembler, stream.metadata, request, settings)

    @_detaching
    def stream(
        self,
        source_options: Any,
        query_options: Any,
        data_source_id: Any = None,
        data_source_updated_at: Any = None,
    ) -> AsyncQueryStream:
        """``async for`` the chunks; options are checked at once, as in QueryService.stream."""
        settings, request = self._validate_and_build(source_options, query_options, force_stream=True)
        return AsyncQueryStream(self, settings, request, data_source_id, data_source_updated_at)

    def _drop(self, lease: Lease[AsyncPortkeyClient]) -> None:
        """Give back the lease of a stream dropped unfinished, without awaiting (see AsyncQueryStream):
        a client retired meanwhile is left to its loop, which closes it at its next query or shutdown."""
        if self._pool.release(lease) and lease.owner is not None:
            with self._loops_lock:
                self._orphans.append(lease)

    @_detaching
    async def invoke_method(self, method_name: str, source_options: Any, args: Any = None) -> dict[str, Any]:
        """The async twin of QueryService.invoke_method."""
        settings, request, operation = self._validate_and_build_method(method_name, source_options, args)
        with query_errors(settings, request):
            lease = await self._lease(settings, None, None)
            try:
                response = await lease.client.send(request)
            finally:
                await self._release(lease)
        self._log(settings, request, {"statusCode": response.status_code, "retries": response.retries})
        return _listed(response, operation, settings)

    async def test_connection(self, source_options: Any) -> ConnectionStatus:
        probe = query_errors()
        try:
            with probe:
                settings = parse_connection(source_options)
                request = _models_request(settings)
            probe = query_errors(settings, request)
            with probe:
                async with AsyncPortkeyClient(_probe_settings(settings)) as client:
                    await client.send(request)
        except QueryError as err:
            return _connection_status(err, probe.error_status)
        return {"status": "ok"}

    async def aclose(self) -> None:
        """Release every pooled client, as QueryService.close() does. Clients of another event loop
        that is still running are closed by that loop (its next query, or its shutdown). A query of
        rows stops as in QueryService.close()."""
        self._runs.stop_all()
        await self._close(self._pool.retire() + self._take_orphans(_running_loop()))

    async def __aenter__(self) -> AsyncQueryService:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()


def _running_loop() -> Any:
    """The running asyncio event loop, or None under another async library (nothing to track)."""
    import asyncio  # already imported by any asyncio host; not at the top, for sync hosts

    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


def _models_request(settings: ConnectionSettings) -> PortkeyRequest:
    """GET /models (the model list's request, unfiltered): Portkey's cheapest authenticated call, used
    by test_connection."""
    from ._operations import operation
    from ._requests import connection_headers

    headers = {**connection_headers(settings), "accept": "application/json"}
    op = operation("list_models")
    return PortkeyRequest(op.method, op.path, headers, None, False, op.name)


def _probe_settings(settings: ConnectionSettings) -> ConnectionSettings:
    """A connection test should answer quickly: a short timeout and no retries."""
    return dataclasses.replace(
        settings, timeout=min(settings.timeout, CONNECTION_TEST_TIMEOUT_SECONDS), max_retries=0
    )


# ---------------------------------------------------------------------------------------------------
# stream(): what a host iterates


class _QueryStreamBase(Generic[ClientT]):
    """What the sync and async streams share: the metadata, and what each chunk becomes.

    ``metadata`` holds the trace id from the start (the query's ``traceId``, else one the plugin made
    and sent), so an answer can be rated while it streams; once the answer started, what Portkey's
    headers said (statusCode, retries, cacheStatus, provider...); once it ended, what ``run()`` reports
    of a streamed answer (``streamed``, ``chunks``, ``model``, ``usage``, ``finishReason``).

    Each chunk with choices is yielded, or its text in ``text`` output mode (none that adds no text).
    A chunk without choices (the usage chunk the plugin asks for) is read into ``metadata``, so every
    chunk yielded has ``choices[0]``.
    """

    _lease: Lease[ClientT] | None = None
    _done = False

    def __init__(
        self,
        service: _ServiceBase[ClientT],
        settings: ConnectionSettings,
        request: PortkeyRequest,
        data_source_id: Any,
        updated_at: Any,
    ) -> None:
        self.metadata = cast("QueryMetadata", {"traceId": request.headers[TRACE_HEADER]})
        self._service: Any = service
        self._settings = settings
        self._request = request
        self._source = (data_source_id, updated_at)
        self._errors = query_errors(settings, request, self.metadata)
        self._text = request.answer.mode == "text"
        self._tally = StreamTally()

    def __repr__(self) -> str:
        return f"{type(self).__name__}(traceId={self.metadata['traceId']!r})"

    def _started(self, headers_said: Mapping[str, Any]) -> None:
        """The answer started: what its headers said. The trace id stays the one sent (Portkey files
        the request under it)."""
        cast(dict[str, Any], self.metadata).update({**headers_said, "traceId": self.metadata["traceId"]})

    def _guardrails(self, chunks_said: Mapping[str, Any]) -> None:
        """The guardrails' verdict, as soon as Portkey sent it (the input checks' before the first chunk,
        the output checks' with the last): the chunk stream reads it into its own metadata."""
        if "guardrails" in chunks_said:
            cast(dict[str, Any], self.metadata)["guardrails"] = chunks_said["guardrails"]

    def _item(self, chunk: Mapping[str, Any], chunks_said: Mapping[str, Any]) -> Any:
        """What a chunk gives the host: itself, its text in text mode, or None (nothing to yield)."""
        self._guardrails(chunks_said)
        self._tally.add(chunk)
        if not chunk.get("choices"):
            return None
        if self._text:
            return chunk_text(chunk) or None
        return chunk

    def _ended(self, chunks_said: Mapping[str, Any]) -> None:
        """The answer is complete ([DONE] came): the metadata run() gives a streamed answer."""
        self._guardrails(chunks_said)
        meta = cast(dict[str, Any], self.metadata)
        meta.update(streamed_metadata(meta, self._tally))
        request, settings = self._request, self._settings
        add_cost(
            meta, request.operation, request.body, self._tally.answer(), settings.provider, settings.prices
        )


class QueryStream(_QueryStreamBase[PortkeyClient]):
    """What ``QueryService.stream()`` returns: iterate it once (``for``), read ``metadata``.

    ``with`` it, or call ``close()``, to stop early: the connection is closed and the data source's
    client given back. It closes itself when the answer ends or fails, and when it is dropped (a loop
    left by ``break`` or an exception). Every failure is a QueryError.
    """

    _service: QueryService
    _chunks: ChunkStream | None = None

    def __iter__(self) -> QueryStream:
        return self

    @_detaching
    def __next__(self) -> Any:
        try:
            with self._errors:
                item = self._next_item()
        except BaseException:
            self.close()
            raise
        if item is None:
            self.close()
            raise StopIteration
        return item

    def _next_item(self) -> Any:
        """The next thing to yield, sending the request first; None once the answer is complete."""
        if self._done:
            return None
        if self._chunks is None:
            self._lease = self._service._lease(self._settings, *self._source)
            self._chunks = self._lease.client.open_stream(self._request)
            self._started(self._chunks.metadata)
        for chunk in self._chunks:
            item = self._item(chunk, self._chunks.metadata)
            if item is not None:
                return item
        self._ended(self._chunks.metadata)
        return None

    def close(self) -> None:
        """Stop: close the connection (a finished answer's goes back to the pool) and give the client
        back. Nothing more is yielded; calling it again does nothing."""
        self._done = True
        chunks, self._chunks = self._chunks, None
        lease, self._lease = self._lease, None
        try:
            if chunks is not None:
                chunks.close()
        finally:
            if lease is not None:
                self._service._release(lease)

    def __enter__(self) -> QueryStream:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:
        # CPython drops a stream as soon as nothing refers to it, as it closed a generator
        if self._chunks is not None or self._lease is not None:
            self.close()


class AsyncQueryStream(_QueryStreamBase[AsyncPortkeyClient]):
    """The async twin of QueryStream: ``async for`` it, ``async with`` it or ``await aclose()``.

    A class, not an async generator: closing it never races a generator still running, and a loop
    left by ``break`` or an exception inside ``async with`` closes the connection at once.
    """

    _service: AsyncQueryService
    _chunks: AsyncChunkStream | None = None

    def __aiter__(self) -> AsyncQueryStream:
        return self

    @_detaching
    async def __anext__(self) -> Any:
        try:
            with self._errors:
                item = await self._next_item()
        except BaseException:
            await self.aclose()
            raise
        if item is None:
            await self.aclose()
            raise StopAsyncIteration
        return item

    async def _next_item(self) -> Any:
        """The next thing to yield, sending the request first; None once the answer is complete."""
        if self._done:
            return None
        if self._chunks is None:
            self._lease = await self._service._lease(self._settings, *self._source)
            self._chunks = await self._lease.client.open_stream(self._request)
            self._started(self._chunks.metadata)
        async for chunk in self._chunks:
            item = self._item(chunk, self._chunks.metadata)
            if item is not None:
                return item
        self._ended(self._chunks.metadata)
        return None

    async def aclose(self) -> None:
        """Stop: close the connection (a finished answer's goes back to the pool) and give the client
        back. Nothing more is yielded; calling it again does nothing."""
        self._done = True
        chunks, self._chunks = self._chunks, None
        lease, self._lease = self._lease, None
        try:
            if chunks is not None:
                await chunks.aclose()
        finally:
            if lease is not None:
                await self._service._release(lease)

    async def __aenter__(self) -> AsyncQueryStream:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    def __del__(self) -> None:
        # Dropped unfinished outside ``async with``: nothing can be awaited here. The client is given
        # back now (one retired meanwhile is closed by its loop, with its connections); the client's
        # stream closes its own when asyncio finalizes it, at the latest when the loop shuts down.
        lease, self._lease = self._lease, None
        if lease is not None:
            self._service._drop(lease)
