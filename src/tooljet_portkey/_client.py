"""The Portkey client: the only module that does network I/O.

Requests are built by ``_requests`` and answers read by ``_responses`` (both pure); the sync and async
clients differ only in how they send, sleep and read lines. Every transport exception is wrapped here,
in ``_transport_error``, and nowhere else.
"""

from __future__ import annotations

import functools
import os
import re
import ssl
import time
from collections.abc import AsyncGenerator, AsyncIterator, Generator, Iterator, Mapping
from typing import TYPE_CHECKING, Any

import httpx

from ._constants import DEFAULT_LIMITS, make_timeout
from ._errors import (
    APIConnectionError,
    APIStatusError,
    APITimeoutError,
    PortkeyError,
    QueryError,
    StreamError,
    StreamTruncatedError,
)
from ._requests import PortkeyRequest, build_request
from ._responses import (
    DONE,
    SKIP,
    PortkeyResponse,
    decode_chunk,
    error_details,
    parse_json,
    response_metadata,
    status_error,
    success_body,
    unwrap_prompt_body,
)
from ._retry import is_retryable_status, retry_delay, within_budget
from ._spec import ConnectionSettings, parse_connection, parse_query
from ._sse import SSEDecoder

if TYPE_CHECKING:
    from ._models import ChatCompletion, Completion, EmbeddingList

__all__ = ["AsyncChunkStream", "AsyncPortkeyClient", "ChunkStream", "PortkeyClient"]

# Looked up at call time, so tests can patch them and retries take no real time.
_sleep = time.sleep
_clock = time.monotonic
_MAX_CACHED_URLS = 256


async def _async_sleep(seconds: float) -> None:
    import asyncio  # here, not at the top: a sync host should not pay ~50 ms to import asyncio

    await asyncio.sleep(seconds)


# Python keyword names of the convenience methods -> operations.json keys.
_KWARG_KEYS = {
    "stop": "stop_sequences",
    "virtual_key": "virtualKey",
    "trace_id": "traceId",
    "cache_namespace": "cacheNamespace",
    "cache_force_refresh": "cacheForceRefresh",
    "prompt_id": "promptId",
    "parameters": "prompt_parameters",
}


def _settings_from(settings: ConnectionSettings | None, kwargs: Mapping[str, Any]) -> ConnectionSettings:
    if settings is not None:
        return settings
    names = {
        "api_key": "apiKey",
        "virtual_key": "virtualKey",
        "provider": "provider",
        "provider_api_key": "providerApiKey",
        "config": "config",
        "base_url": "gatewayUrl",
        "custom_host": "customHost",
        "timeout": "timeout",
        "max_retries": "maxRetries",
    }
    unknown = set(kwargs) - set(names)
    if unknown:
        raise TypeError(f"unexpected keyword argument(s): {', '.join(sorted(unknown))}")
    try:
        return parse_connection({names[k]: v for k, v in kwargs.items() if v is not None})
    except QueryError as err:
        raise ValueError(err.description) from None


class RequestNotSentError(APIConnectionError):
    """httpx refused to put the request on the wire (a header value HTTP forbids). Never retried."""

    kind = "invalid_request"


def _transport_error(err: httpx.RequestError, timeout: float) -> APIConnectionError:
    """The one place a transport exception becomes a PortkeyError."""
    if isinstance(err, httpx.TimeoutException):
        return APITimeoutError(f"Portkey did not answer within {timeout:g} s", timeout=timeout)
    if isinstance(err, httpx.LocalProtocolError):
        # h11 quotes the offending header value, which may be an API key: never repeat its words.
        return RequestNotSentError(
            "The request was not sent: a header value holds characters that HTTP does not allow"
        )
    try:
        host = err.request.url.host
    except RuntimeError:
        host = "the gateway"
    return APIConnectionError(f"Could not get an answer from {host}: {_os_reason(err)}")


_UNSENDABLE = re.compile(r"[^\t\x20-\x7e]")


def _refuse_unsendable(request: PortkeyRequest) -> None:
    """Refuse a header value HTTP forbids (CR, LF, other controls, non-ASCII) before httpx sees it:
    httpx's own error, and httpcore's DEBUG log of it, would quote the value, which may be a key.
    Validation already refuses such values; this guards every other way a request is built."""
    for name, value in request.headers.items():
        if _UNSENDABLE.search(value):
            raise RequestNotSentError(
                f"The request was not sent: the {name} header holds characters that HTTP does not allow"
            )


def _os_reason(err: BaseException) -> str:
    """The OS's own reason when there is one (refused, reset), else the transport's words.

    Under asyncio httpx says only "All connection attempts failed" or nothing at all: the reason
    found beneath makes the sync and async clients describe one failure alike.
    """
    inner = err.__cause__
    for _ in range(8):  # a chain is a few links deep; never follow a cycle forever
        if inner is None:
            break
        if isinstance(inner, ConnectionError) and inner.errno:
            return f"[Errno {inner.errno}] {os.strerror(inner.errno)}"
        inner = inner.__cause__ or inner.__context__
    return str(err) or type(err).__name__


@functools.cache
def _ssl_context() -> ssl.SSLContext:
    """One TLS context for every client: building one parses the CA bundle (~60 ms), and a service
    builds a client per data source, per settings change and per connection test."""
    return httpx.create_ssl_context()


def _headers(response: httpx.Response) -> dict[str, str]:
    return {k.lower(): v for k, v in response.headers.items()}


class _BaseClient:
    """What the sync and async clients share: settings, request building, retry decisions."""

    settings: ConnectionSettings

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.settings!r})"

    def _httpx_options(self) -> dict[str, Any]:
        return {
            "base_url": self.settings.base_url + "/",
            "timeout": make_timeout(self.settings.timeout),
            "limits": DEFAULT_LIMITS,
            "follow_redirects": False,
            "verify": _ssl_context(),
        }

    def _query(self, operation: str, kwargs: dict[str, Any]) -> PortkeyRequest:
        """Convenience-method keywords -> the same validated request a host's query becomes."""
        options: dict[str, Any] = {"operation": operation}
        extra_key = "prompt_parameters" if operation == "prompt_completion" else "other_parameters"
        extra: dict[str, Any] = dict(kwargs.pop(extra_key, None) or {})
        known = {f.key for f in _fields(operation)}
        for name, value in kwargs.items():
            key = _KWARG_KEYS.get(name, name)
            if key in known:
                options[key] = value
            elif value is not None:
                extra[name] = value
        if extra:
            options[extra_key] = extra
        try:
            return build_request(self.settings, parse_query(options))
        except QueryError as err:
            raise ValueError(err.description) from None

    def _prepare(
        self, http: httpx.Client | httpx.AsyncClient, request: PortkeyRequest, budget: float
    ) -> httpx.Request:
        return http.build_request(
            request.method,
            self._url(request.path),
            headers=dict(request.headers),
            json=request.body,
            timeout=make_timeout(budget),
        )

    def _url(self, path: str) -> httpx.URL:
        """The absolute URL of a path, parsed once: httpx parses and merges a URL string on every
        request, which is about half the cost of building one."""
        urls: dict[str, httpx.URL] = self.__dict__.setdefault("_urls", {})
        url = urls.get(path)
        if url is None:
            if len(urls) >= _MAX_CACHED_URLS:  # prompt ids are unbounded
                urls.clear()
            url = urls[path] = httpx.URL(self.settings.base_url + path)
        return url

    def _next_delay(self, error: PortkeyError, retries: int, started: float) -> float | None:
        """Seconds to wait before retrying after ``error``, or None to give up."""
        if retries >= self.settings.max_retries:
            return None
        headers: Mapping[str, str] = {}
        if isinstance(error, APIStatusError):
            if not is_retryable_status(error.status_code, error.headers):
                return None
            headers = error.headers
        elif not isinstance(error, APIConnectionError) or isinstance(error, RequestNotSentError):
            return None
        delay = retry_delay(retries, headers)
        if delay is None or not within_budget(_clock() - started, delay, self.settings.timeout):
            return None
        return delay

    def _remaining(self, started: float) -> float:
        return max(self.settings.timeout - (_clock() - started), 0.001)


def _fields(operation: str) -> tuple[Any, ...]:
    from ._spec import load_spec

    return load_spec().operations[operation]


def _annotate(error: PortkeyError, retries: int) -> PortkeyError:
    error.retries = retries  # type: ignore[attr-defined]
    return error


class PortkeyClient(_BaseClient):
    """A synchronous Portkey client with a pooled connection, retries and streaming."""

    def __init__(
        self,
        settings: ConnectionSettings | None = None,
        *,
        http_client: httpx.Client | None = None,
        **options: Any,
    ) -> None:
        self.settings = _settings_from(settings, options)
        self._http = http_client or httpx.Client(**self._httpx_options())

    # -- plumbing -----------------------------------------------------------------------------------

    def _open(self, request: PortkeyRequest) -> tuple[httpx.Response, int]:
        """Send with retries until a 2xx arrives (headers only, when streaming)."""
        _refuse_unsendable(request)
        started = _clock()
        retries = 0
        while True:
            budget = self._remaining(started)
            error: PortkeyError
            try:
                response = self._http.send(self._prepare(self._http, request, budget), stream=request.stream)
            except httpx.RequestError as err:
                error = _transport_error(err, self.settings.timeout)
                cause: BaseException = err
            else:
                if response.is_success:
                    return response, retries
                try:
                    content = response.read()
                except httpx.RequestError as err:
                    error, cause = _transport_error(err, self.settings.timeout), err
                else:
                    error = status_error(response.status_code, _headers(response), content)
                    cause = error
                finally:
                    response.close()
            delay = self._next_delay(error, retries, started)
            if delay is None:
                if cause is error:
                    raise _annotate(error, retries)
                raise _annotate(error, retries) from cause
            _sleep(delay)
            retries += 1

    def send(self, request: PortkeyRequest) -> PortkeyResponse:
        """Send one non-streamed request; return the parsed JSON answer."""
        response, retries = self._open(request)
        headers = _headers(response)
        data = success_body(response.status_code, headers, response.content)
        if request.operation == "prompt_completion":
            data = unwrap_prompt_body(data)
        return PortkeyResponse(response.status_code, headers, data, retries)

    def open_stream(self, request: PortkeyRequest) -> ChunkStream:
        """Send one streamed request; return its chunks once the answer has started."""
        response, retries = self._open(request)
        return ChunkStream(response, retries, self.settings.timeout)

    # -- convenience --------------------------------------------------------------------------------

    def completions(
        self, *, model: str, prompt: str, stream: bool = False, **kwargs: Any
    ) -> Completion | ChunkStream:
        from ._models import Completion

        request = self._query("completion", {"model": model, "prompt": prompt, "stream": stream, **kwargs})
        if request.stream:
            return self.open_stream(request)
        return Completion.model_validate(self.send(request).data)

    def chat(
        self, *, messages: list[Any], model: str, stream: bool = False, **kwargs: Any
    ) -> ChatCompletion | ChunkStream:
        from ._models import ChatCompletion

        request = self._query("chat", {"messages": messages, "model": model, "stream": stream, **kwargs})
        if request.stream:
            return self.open_stream(request)
        return ChatCompletion.model_validate(self.send(request).data)

    def prompt_completion(
        self,
        prompt_id: str,
        *,
        variables: Mapping[str, Any] | None = None,
        stream: bool = False,
        **kwargs: Any,
    ) -> ChatCompletion | Completion | ChunkStream:
        from ._models import prompt_completion_model

        request = self._query(
            "prompt_completion", {"prompt_id": prompt_id, "variables": variables, "stream": stream, **kwargs}
        )
        if request.stream:
            return self.open_stream(request)
        return prompt_completion_model(self.send(request).data)

    def embeddings(self, *, input: str | list[Any], model: str, **kwargs: Any) -> EmbeddingList:
        from ._models import EmbeddingList

        request = self._query("create_embedding", {"input": input, "model": model, **kwargs})
        return EmbeddingList.model_validate(self.send(request).data)

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> PortkeyClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class AsyncPortkeyClient(_BaseClient):
    """The asynchronous twin of PortkeyClient: same arguments, same behaviour, awaitable."""

    def __init__(
        self,
        settings: ConnectionSettings | None = None,
        *,
        http_client: httpx.AsyncClient | None = None,
        **options: Any,
    ) -> None:
        self.settings = _settings_from(settings, options)
        self._http = http_client or httpx.AsyncClient(**self._httpx_options())

    async def _open(self, request: PortkeyRequest) -> tuple[httpx.Response, int]:
        _refuse_unsendable(request)
        started = _clock()
        retries = 0
        while True:
            budget = self._remaining(started)
            error: PortkeyError
            try:
                response = await self._http.send(
                    self._prepare(self._http, request, budget), stream=request.stream
                )
            except httpx.RequestError as err:
                error = _transport_error(err, self.settings.timeout)
                cause: BaseException = err
            else:
                if response.is_success:
                    return response, retries
                try:
                    content = await response.aread()
                except httpx.RequestError as err:
                    error, cause = _transport_error(err, self.settings.timeout), err
                else:
                    error = status_error(response.status_code, _headers(response), content)
                    cause = error
                finally:
                    await response.aclose()
            delay = self._next_delay(error, retries, started)
            if delay is None:
                if cause is error:
                    raise _annotate(error, retries)
                raise _annotate(error, retries) from cause
            await _async_sleep(delay)
            retries += 1

    async def send(self, request: PortkeyRequest) -> PortkeyResponse:
        response, retries = await self._open(request)
        headers = _headers(response)
        data = success_body(response.status_code, headers, response.content)
        if request.operation == "prompt_completion":
            data = unwrap_prompt_body(data)
        return PortkeyResponse(response.status_code, headers, data, retries)

    async def open_stream(self, request: PortkeyRequest) -> AsyncChunkStream:
        response, retries = await self._open(request)
        return AsyncChunkStream(response, retries, self.settings.timeout)

    async def completions(
        self, *, model: str, prompt: str, stream: bool = False, **kwargs: Any
    ) -> Completion | AsyncChunkStream:
        from ._models import Completion

        request = self._query("completion", {"model": model, "prompt": prompt, "stream": stream, **kwargs})
        if request.stream:
            return await self.open_stream(request)
        return Completion.model_validate((await self.send(request)).data)

    async def chat(
        self, *, messages: list[Any], model: str, stream: bool = False, **kwargs: Any
    ) -> ChatCompletion | AsyncChunkStream:
        from ._models import ChatCompletion

        request = self._query("chat", {"messages": messages, "model": model, "stream": stream, **kwargs})
        if request.stream:
            return await self.open_stream(request)
        return ChatCompletion.model_validate((await self.send(request)).data)

    async def prompt_completion(
        self,
        prompt_id: str,
        *,
        variables: Mapping[str, Any] | None = None,
        stream: bool = False,
        **kwargs: Any,
    ) -> ChatCompletion | Completion | AsyncChunkStream:
        from ._models import prompt_completion_model

        request = self._query(
            "prompt_completion", {"prompt_id": prompt_id, "variables": variables, "stream": stream, **kwargs}
        )
        if request.stream:
            return await self.open_stream(request)
        return prompt_completion_model((await self.send(request)).data)

    async def embeddings(self, *, input: str | list[Any], model: str, **kwargs: Any) -> EmbeddingList:
        from ._models import EmbeddingList

        request = self._query("create_embedding", {"input": input, "model": model, **kwargs})
        return EmbeddingList.model_validate((await self.send(request)).data)

    async def aclose(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> AsyncPortkeyClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()


# ---------------------------------------------------------------------------------------------------
# Streams


# After [DONE], read at most this much more before giving the connection up instead of reusing it.
_DRAIN_LIMIT = 64 * 1024


class _StreamBase:
    """What the sync and async streams share: everything but reading the body.

    The body's bytes go through ``_take``; the reading loops (``ChunkStream._chunks`` and its async
    twin) only move bytes and chunks, so both behave alike: chunks up to ``[DONE]`` or an error chunk
    are yielded, then a pending StreamError is raised, and an end without ``[DONE]`` raises
    StreamTruncatedError. The connection is closed however the loop ends.
    """

    def __init__(self, response: httpx.Response, retries: int, timeout: float) -> None:
        self.response = response
        self.retries = retries
        self.chunks_received = 0
        self._timeout = timeout
        self._decoder = SSEDecoder()
        self._done = False
        self._error: StreamError | None = None
        headers = _headers(response)
        self.metadata = response_metadata(response.status_code, headers, retries)
        # An answer that is JSON, not an event stream: an error the gateway sent with a 2xx status.
        self._json_body = headers.get("content-type", "").startswith("application/json")

    @property
    def _finished(self) -> bool:
        return self._done or self._error is not None

    def _take(self, data: bytes | None) -> list[dict[str, Any]]:
        """The chunks completed by the next bytes (None: the stream has ended)."""
        events = self._decoder.decode(data) if data is not None else self._decoder.end()
        chunks: list[dict[str, Any]] = []
        try:
            for event in events:
                chunk = decode_chunk(event)
                if chunk is DONE:
                    self._done = True
                    break
                if chunk is not SKIP:
                    chunks.append(chunk)
        except StreamError as err:
            self._error = err
        self.chunks_received += len(chunks)
        return chunks

    def _ending(self) -> PortkeyError:
        """The error to raise when the loop stopped without [DONE]."""
        if self._error is not None:
            return _annotate(self._error, self.retries)
        return _annotate(
            StreamTruncatedError(
                f"The stream ended after {self.chunks_received} chunks without [DONE]: "
                "the answer is incomplete"
            ),
            self.retries,
        )

    def _json_error(self, content: bytes) -> PortkeyError:
        body = parse_json(content)
        if isinstance(body, dict) and (body.get("error") or body.get("message")):
            message, kind = error_details(self.response.status_code, body, "")
            return _annotate(
                StreamError(message, error_type=kind or "stream_error", chunk=body), self.retries
            )
        return _annotate(
            StreamError(
                "Portkey answered a streamed request with JSON, not an event stream",
                error_type="invalid_stream",
            ),
            self.retries,
        )

    def _lost(self, err: httpx.RequestError) -> StreamTruncatedError:
        cause = _transport_error(err, self._timeout)
        error = StreamTruncatedError(
            f"The connection was lost after {self.chunks_received} chunks: {cause.message}"
        )
        _annotate(error, self.retries)
        return error


class ChunkStream(_StreamBase):
    """The chunks of a streamed answer, as Portkey sends them.

    Iterate it once; ``close()`` (or leaving a ``with`` block) stops early and closes the connection.
    """

    def __init__(self, response: httpx.Response, retries: int, timeout: float) -> None:
        super().__init__(response, retries, timeout)
        self._iterator = self._chunks()

    def _chunks(self) -> Generator[dict[str, Any], None, None]:
        try:
            if self._json_body:
                raise self._json_error(self.response.read())
            pieces = self.response.iter_bytes()
            for data in pieces:
                yield from self._take(data)
                if self._finished:
                    break
            else:
                yield from self._take(None)
            if not self._done:
                raise self._ending()
            self._drain(pieces)
        except httpx.RequestError as err:
            raise self._lost(err) from err
        finally:
            self.response.close()

    @staticmethod
    def _drain(pieces: Iterator[bytes]) -> None:
        """Read what follows [DONE] (normally only the body's end), so the connection can be reused."""
        left = _DRAIN_LIMIT
        try:
            for data in pieces:
                left -= len(data)
                if left < 0:
                    return
        except httpx.HTTPError:
            return

    def __iter__(self) -> Iterator[dict[str, Any]]:
        return self._iterator

    def __next__(self) -> dict[str, Any]:
        return next(self._iterator)

    def close(self) -> None:
        self._iterator.close()
        self.response.close()

    def __enter__(self) -> ChunkStream:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class AsyncChunkStream(_StreamBase):
    """The async twin of ChunkStream: ``async for`` it; ``aclose()`` (or ``async with``) stops early."""

    def __init__(self, response: httpx.Response, retries: int, timeout: float) -> None:
        super().__init__(response, retries, timeout)
        self._iterator = self._chunks()

    async def _chunks(self) -> AsyncGenerator[dict[str, Any], None]:
        try:
            if self._json_body:
                raise self._json_error(await self.response.aread())
            pieces = self.response.aiter_bytes()
            async for data in pieces:
                for chunk in self._take(data):
                    yield chunk
                if self._finished:
                    break
            else:
                for chunk in self._take(None):
                    yield chunk
            if not self._done:
                raise self._ending()
            await self._adrain(pieces)
        except httpx.RequestError as err:
            raise self._lost(err) from err
        finally:
            await self.response.aclose()

    @staticmethod
    async def _adrain(pieces: AsyncIterator[bytes]) -> None:
        left = _DRAIN_LIMIT
        try:
            async for data in pieces:
                left -= len(data)
                if left < 0:
                    return
        except httpx.HTTPError:
            return

    def __aiter__(self) -> AsyncIterator[dict[str, Any]]:
        return self._iterator

    async def __anext__(self) -> dict[str, Any]:
        return await self._iterator.__anext__()

    async def aclose(self) -> None:
        await self._iterator.aclose()
        await self.response.aclose()

    async def __aenter__(self) -> AsyncChunkStream:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()
