"""The Portkey client: the only module that does network I/O.

Requests are built by ``_requests`` and answers read by ``_responses`` (both pure); the sync and async
clients differ only in how they send, sleep and read lines. Every transport exception is wrapped here,
in ``_transport_error``, and nowhere else.
"""

from __future__ import annotations

import functools
import importlib.util
import os
import re
import ssl
import time
from collections.abc import AsyncGenerator, AsyncIterator, Generator, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal, overload

import httpx

from . import _connection_pool, _deadline, _logs, _throttle
from ._constants import (
    ACCEPT_ENCODING,
    BATCH_FILE_NAME,
    DEFAULT_LIMITS,
    DEFAULT_MAX_EVENT_BYTES,
    DEFAULT_MAX_RESPONSE_BYTES,
    DRAIN_LIMIT_BYTES,
    DRAIN_SECONDS,
    MAX_CACHED_URLS,
    MAX_QUOTED_ENCODING_CHARS,
    MIB,
    make_timeout,
    timeouts,
)
from ._decoding import BodyDecoder, BodyTooLarge, CorruptBody, UnsupportedEncoding
from ._errors import (
    APIConnectionError,
    APIResponseValidationError,
    APIStatusError,
    APITimeoutError,
    PortkeyError,
    ProxyConfigurationError,
    QueryError,
    RequestNotSentError,
    ResponseTooLargeError,
    StreamError,
    StreamTruncatedError,
)
from ._operations import operation as operation_facts
from ._options import parse_connection, parse_query
from ._requests import PortkeyRequest, build_request
from ._responses import (
    DONE,
    GuardrailChunk,
    PortkeyResponse,
    decode_chunk,
    error_details,
    header_int,
    parse_json,
    response_metadata,
    status_error,
    success_body,
    unwrap_prompt_body,
)
from ._retry import is_retryable_status, retry_delay, within_budget
from ._routing import guardrail_verdicts
from ._settings import ConnectionSettings
from ._sse import EventTooLarge, SSEDecoder

if TYPE_CHECKING:
    from ._batch_jobs import JsonLines
    from ._models import (
        ChatCompletion,
        Completion,
        EmbeddingList,
        FeedbackResult,
        ImagesResponse,
        ModelList,
        PromptRender,
    )

__all__ = ["AsyncChunkStream", "AsyncPortkeyClient", "ChunkStream", "PortkeyClient"]

# Looked up at call time, so tests can patch them and retries take no real time.
_sleep = time.sleep
_clock = time.monotonic


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
        "max_response_bytes": "maxResponseMiB",
        "max_event_bytes": "maxEventMiB",
        "stream_timeout": "streamTimeout",
        "use_system_proxy": "useSystemProxy",
    }
    unknown = set(kwargs) - set(names)
    if unknown:
        raise TypeError(f"unexpected keyword argument(s): {', '.join(sorted(unknown))}")
    options = {names[k]: v for k, v in kwargs.items() if v is not None}
    for name in ("maxResponseMiB", "maxEventMiB"):  # given in bytes, the form's field is in MiB
        if isinstance(options.get(name), int) and not isinstance(options[name], bool):
            options[name] = options[name] / MIB
    try:
        return parse_connection(options)
    except QueryError as err:
        raise ValueError(err.description) from None


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
    values = " ".join(request.headers.values())
    if values.isascii() and values.isprintable():  # the usual case, without a regex scan
        return
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


_READ_HEADERS = "_tooljet_portkey_headers"


def _headers(response: httpx.Response) -> dict[str, str]:
    """The answer's headers, lower-cased, a repeated one joined by ", " (as httpx's ``items()``), read
    in one pass (httpx's ``Headers`` decodes every header again for each lookup), once per answer: kept
    on the response. The same dict each time: read it, never change it."""
    kept: dict[str, str] | None = response.__dict__.get(_READ_HEADERS)
    if kept is not None:
        return kept
    raw = response.headers
    encoding = raw.encoding
    pairs = raw.raw
    # decoded in two pieces, not two per header: names and values joined by a byte HTTP forbids in both
    keys, values = zip(*pairs, strict=True) if pairs else ((), ())
    names = b"\n".join(keys).decode(encoding).lower().split("\n") if keys else []
    texts = b"\n".join(values).decode(encoding).split("\n") if values else []
    headers = dict(zip(names, texts, strict=False))  # lengths compared next
    if not len(headers) == len(names) == len(texts) == len(pairs):
        # a repeated header (its values joined, in order), or a line break a transport let through
        headers = {}
        for key, value in pairs:
            name, text = key.decode(encoding).lower(), value.decode(encoding)
            headers[name] = f"{headers[name]}, {text}" if name in headers else text
    response.__dict__[_READ_HEADERS] = headers
    return headers


# ---------------------------------------------------------------------------------------------------
# Proxies from the environment

_PROXY_VARIABLES = ("http_proxy", "https_proxy", "all_proxy")


def _proxy_problem() -> tuple[str | None, str]:
    """Which proxy environment variable httpx could not use, and why (never its value: a proxy URL may
    carry a password)."""
    for name, value in os.environ.items():
        if name.lower() not in _PROXY_VARIABLES or not value:
            continue
        try:
            proxy = httpx.Proxy(value if "://" in value else f"http://{value}")
        except (ValueError, TypeError, httpx.InvalidURL):
            return name, "is not a valid proxy URL (http://, https://, socks5:// or socks5h://)"
        if proxy.url.scheme in ("socks5", "socks5h") and importlib.util.find_spec("socksio") is None:
            return name, "names a SOCKS proxy, which needs the socksio package (pip install 'httpx[socks]')"
    return None, "cannot be used"


def _proxy_error() -> ProxyConfigurationError:
    variable, problem = _proxy_problem()
    subject = f"The {variable} environment variable" if variable else "A proxy environment variable"
    return ProxyConfigurationError(
        f"{subject} {problem}; fix or unset it, or turn the connection's useSystemProxy off",
        variable=variable,
    )


def _build_http(factory: type[Any], options: dict[str, Any]) -> Any:
    """httpx.Client or httpx.AsyncClient with these options.

    httpx reads HTTP(S)_PROXY, ALL_PROXY and NO_PROXY here, when the client is built, and raises for a
    malformed one or a SOCKS one without socksio: that becomes a ProxyConfigurationError naming it.
    """
    try:
        return factory(**options)
    except (ImportError, ValueError, TypeError, httpx.InvalidURL):
        if not options.get("trust_env", True):
            raise
    # raised here, outside the except block, so httpx's error (which may quote the URL) is not kept
    # as its __context__
    raise _proxy_error()


# ---------------------------------------------------------------------------------------------------
# Reading a body: decoded with a size cap, within the query's deadline


def _size(limit: int) -> str:
    return f"{limit // MIB} MiB" if limit % MIB == 0 else f"{limit:,} bytes"


def _too_large(response: httpx.Response, limit: int) -> ResponseTooLargeError:
    return ResponseTooLargeError(
        f"Portkey's answer is larger than {_size(limit)} (the connection's maxResponseMiB) "
        "and was not read further",
        status_code=response.status_code,
        headers=_headers(response),
        limit=limit,
    )


def _event_too_large(response: httpx.Response, limit: int) -> ResponseTooLargeError:
    return ResponseTooLargeError(
        f"A stream event is larger than {_size(limit)} (the connection's maxEventMiB) "
        "and the stream was not read further",
        status_code=response.status_code,
        headers=_headers(response),
        limit=limit,
    )


_PRINTABLE = re.compile(r"[^\x20-\x7e]")


def _body_decoder(response: httpx.Response, limit: int) -> BodyDecoder:
    """The bounded decoder of this response's body; a declared length past the cap fails at once."""
    headers = _headers(response)
    try:
        decoder = BodyDecoder(headers.get("content-encoding"), limit)
    except UnsupportedEncoding as err:
        encoding = _PRINTABLE.sub("?", err.encoding)[:MAX_QUOTED_ENCODING_CHARS]
        raise APIResponseValidationError(
            f"Portkey answered with content-encoding {encoding!r}, which was not asked for "
            f"(only {ACCEPT_ENCODING} is read)",
            status_code=response.status_code,
            headers=headers,
        ) from None
    if not decoder.inflates:
        declared = header_int(headers.get("content-length"))
        if declared is not None and declared > limit:
            raise _too_large(response, limit)
    return decoder


def _decoded(decoder: BodyDecoder, response: httpx.Response, data: bytes | None) -> list[bytes]:
    """The decoded bytes of the next raw piece (None: the body has ended)."""
    try:
        return decoder.decode(data) if data is not None else decoder.flush()
    except BodyTooLarge:
        raise _too_large(response, decoder.limit) from None
    except CorruptBody as err:
        # what httpx itself raises for a body that does not inflate: a lost answer, retried as one
        raise httpx.DecodingError(str(err), request=response.request) from None


def _deadline_passed(timeout: float) -> APITimeoutError:
    return APITimeoutError(f"Portkey did not answer within {timeout:g} s", timeout=timeout)


class _Pieces:
    """Where a body's decoded pieces go: kept, to be joined; or, for a JSONL answer, handed to its
    ``JsonLines`` as they arrive (the body is never held whole)."""

    def __init__(self, lines: JsonLines | None) -> None:
        self.lines = lines
        self.kept: list[bytes] = []
        if lines is not None:
            lines.reset()  # a retried read starts over

    def add(self, pieces: list[bytes]) -> None:
        if self.lines is None:
            self.kept += pieces
            return
        for piece in pieces:
            self.lines.feed(piece)

    def body(self) -> bytes:
        if self.lines is not None:
            self.lines.end()
        return b"".join(self.kept)


def _read_body(
    response: httpx.Response, limit: int, deadline: float, timeout: float, lines: JsonLines | None = None
) -> bytes:
    """The whole decoded body (nothing when ``lines`` took it line by line), or ResponseTooLargeError
    past ``limit``, or APITimeoutError once the clock passes ``deadline`` (checked between pieces; the
    caller reads it ``within`` that deadline, which cuts each blocking read to the time left)."""
    decoder = _body_decoder(response, limit)
    left = deadline - _clock()
    if left <= 0:
        raise _deadline_passed(timeout)
    pieces = _Pieces(lines)
    for data in response.iter_raw():
        pieces.add(_decoded(decoder, response, data))
        if _clock() > deadline:
            raise _deadline_passed(timeout)
    pieces.add(_decoded(decoder, response, None))
    return pieces.body()


async def _aread_body(
    response: httpx.Response, limit: int, deadline: float, timeout: float, lines: JsonLines | None = None
) -> bytes:
    """The async twin of _read_body."""
    decoder = _body_decoder(response, limit)
    left = deadline - _clock()
    if left <= 0:
        raise _deadline_passed(timeout)
    pieces = _Pieces(lines)
    async for data in response.aiter_raw():
        pieces.add(_decoded(decoder, response, data))
        if _clock() > deadline:
            raise _deadline_passed(timeout)
    pieces.add(_decoded(decoder, response, None))
    return pieces.body()


class _BaseClient:
    """What the sync and async clients share: settings, request building, retry decisions."""

    settings: ConnectionSettings
    _guarded: bool  # whether every socket wait of this client's httpx client is cut to the deadline

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.settings!r})"

    def _httpx_options(self) -> dict[str, Any]:
        return {
            "base_url": self.settings.base_url + "/",
            "timeout": make_timeout(self.settings.timeout),
            "limits": DEFAULT_LIMITS,
            "follow_redirects": False,
            "verify": _ssl_context(),
            "trust_env": self.settings.use_system_proxy,
        }

    def _request_from_keywords(self, operation: str, kwargs: dict[str, Any]) -> PortkeyRequest:
        """Convenience-method keywords -> the same validated request a host's query becomes."""
        options: dict[str, Any] = {"operation": operation}
        extra_key = operation_facts(operation).extra_body or "other_parameters"
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

    def _request_from_options(self, options: dict[str, Any]) -> PortkeyRequest:
        """The validated request of query options given whole (None values left out)."""
        given = {key: value for key, value in options.items() if value is not None}
        try:
            return build_request(self.settings, parse_query(given))
        except QueryError as err:
            raise ValueError(err.description) from None

    @staticmethod
    def _list_models_options(provider: str | None, limit: int | None, offset: int | None) -> dict[str, Any]:
        return {"operation": "list_models", "provider": provider, "limit": limit, "offset": offset}

    @staticmethod
    def _feedback_options(
        trace_id: str, value: int, weight: float | None, metadata: Mapping[str, Any] | None
    ) -> dict[str, Any]:
        return {"operation": "feedback", "traceId": trace_id, "value": value, "weight": weight,
                "metadata": metadata}  # fmt: skip

    @staticmethod
    def _render_options(
        prompt_id: str, variables: Mapping[str, Any] | None, parameters: Mapping[str, Any]
    ) -> dict[str, Any]:
        return {"operation": "prompt_render", "promptId": prompt_id, "variables": variables,
                "prompt_parameters": dict(parameters) or None}  # fmt: skip

    def _httpx_request(
        self, http: httpx.Client | httpx.AsyncClient, request: PortkeyRequest, budget: float
    ) -> httpx.Request:
        """The httpx request that puts ``request`` on the wire, its timeouts cut to ``budget`` seconds."""
        # a stream's reads wait for the next event: each may take up to the whole timeout (the
        # deadline, not this, bounds the wait for the answer to start)
        timeout = timeouts(budget, self.settings.timeout if request.stream else None)
        content: dict[str, Any] = {"json": request.body}
        if request.upload is not None:  # a batch's input file (POST /files)
            content = {
                "files": {"file": (BATCH_FILE_NAME, request.upload, "application/jsonl")},
                "data": {"purpose": "batch"},
            }
        return http.build_request(
            request.method,
            self._url(request.path),
            headers={**request.headers, "accept-encoding": ACCEPT_ENCODING},
            params=request.params,
            extensions={"timeout": timeout},  # what httpx makes of a ``timeout=``, made once
            **content,
        )

    def _url(self, path: str) -> httpx.URL:
        """The absolute URL of a path, parsed once: httpx parses and merges a URL string on every
        request, which is about half the cost of building one."""
        urls: dict[str, httpx.URL] = self.__dict__.setdefault("_urls", {})
        url = urls.get(path)
        if url is None:
            if len(urls) >= MAX_CACHED_URLS:  # prompt ids are unbounded
                urls.clear()
            url = urls[path] = httpx.URL(self.settings.base_url + path)
        return url

    def _next_delay(
        self, error: PortkeyError, retries: int, started: float, limit: float | None = None
    ) -> float | None:
        """Seconds to wait before retrying after ``error``, or None to give up (``limit``: the
        seconds the whole exchange may take, the connection's timeout unless given)."""
        if retries >= self.settings.max_retries:
            return None
        headers: Mapping[str, str] = {}
        if isinstance(error, APIStatusError):
            if not is_retryable_status(error.status_code, error.headers, error.error_type):
                return None
            headers = error.headers
        elif not isinstance(error, APIConnectionError) or isinstance(error, RequestNotSentError):
            return None
        delay = retry_delay(retries, headers)
        limit = self.settings.timeout if limit is None else limit
        if delay is None or not within_budget(_clock() - started, delay, limit):
            return None
        return delay

    def _remaining(self, started: float, limit: float | None = None) -> float:
        limit = self.settings.timeout if limit is None else limit
        return max(limit - (_clock() - started), 0.001)

    def _limit(self, request: PortkeyRequest) -> float:
        """Seconds until the answer must have started (a plain one: ended): the timeout, or for a
        stream the total limit when that is shorter."""
        limit = self.settings.timeout
        stream_timeout = self.settings.stream_timeout
        if request.stream and stream_timeout is not None and stream_timeout < limit:
            return stream_timeout
        return limit

    def _stream_options(self, started: float, request: PortkeyRequest) -> dict[str, Any]:
        settings = self.settings
        return {
            "max_response_bytes": settings.max_response_bytes,
            "max_event_bytes": settings.max_event_bytes,
            "stream_timeout": settings.stream_timeout,
            "started": started,
            "drain": self._guarded,
            "redaction": _logs.Redaction(settings, request.headers),
            "secrets": request.secrets(),
        }


def _fields(operation: str) -> tuple[Any, ...]:
    from ._spec import load_spec

    return load_spec().operations[operation]


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
        _logs.install()
        if http_client is None:
            http_client = _build_http(httpx.Client, self._httpx_options())
            self._guarded = _deadline.install(http_client)
            _connection_pool.install(http_client)
        else:
            self._guarded = False  # a client passed in is used as it is: deadlines are checked between reads
        self._http = http_client

    # -- plumbing -----------------------------------------------------------------------------------

    def _exchange(self, request: PortkeyRequest, started: float) -> tuple[httpx.Response, bytes, int]:
        """Send with retries until a 2xx arrives; return it with its body read (left unread when the
        request streams), and the number of retries. Everything, retries and waits included, ends
        by ``started + timeout``. httpx's and httpcore's log records of it are redacted (_logs.py)."""
        with _logs.redacting(_logs.Redaction(self.settings, request.headers)):
            return self._attempts(request, started)

    def _attempts(self, request: PortkeyRequest, started: float) -> tuple[httpx.Response, bytes, int]:
        """The attempts of ``_exchange``, one after another within its time."""
        _refuse_unsendable(request)
        timeout = self._limit(request)
        deadline = started + timeout
        retries = 0
        while True:
            budget = self._remaining(started, timeout)
            error: PortkeyError
            cause: BaseException
            with _deadline.within(budget):  # every socket wait of the attempt, its body's reads too
                try:
                    response = self._http.send(self._httpx_request(self._http, request, budget), stream=True)
                except httpx.RequestError as err:
                    error, cause = _transport_error(err, timeout), err
                else:
                    success = response.is_success
                    if success and request.stream:
                        return response, b"", retries
                    try:
                        lines = request.lines if success else None
                        limit = self.settings.max_response_bytes
                        content = _read_body(response, limit, deadline, timeout, lines)
                    except httpx.RequestError as err:
                        error, cause = _transport_error(err, timeout), err
                    except PortkeyError as err:
                        error = cause = err
                    else:
                        if success:
                            return response, content, retries
                        error = cause = status_error(response.status_code, _headers(response), content)
                    finally:
                        response.close()
            delay = self._next_delay(error, retries, started, timeout)
            if delay is None:
                if cause is error:
                    raise error.after_retries(retries)
                raise error.after_retries(retries) from cause
            _throttle.retrying(error)  # a table run slows down at once (_throttle.py)
            _sleep(delay)
            retries += 1

    def send(self, request: PortkeyRequest) -> PortkeyResponse:
        """Send one non-streamed request; return the parsed JSON answer."""
        started = _clock()
        response, content, retries = self._exchange(request, started)
        headers = _headers(response)
        data = (
            request.lines.items
            if request.lines is not None
            else success_body(response.status_code, headers, content)
        )
        if operation_facts(request.operation).wrapped:
            data = unwrap_prompt_body(data)
        return PortkeyResponse(response.status_code, headers, data, retries, started + self._limit(request))

    def open_stream(self, request: PortkeyRequest) -> ChunkStream:
        """Send one streamed request; return its chunks once the answer has started."""
        started = _clock()
        response, _, retries = self._exchange(request, started)
        return ChunkStream(response, retries, self.settings.timeout, **self._stream_options(started, request))

    # -- convenience --------------------------------------------------------------------------------

    @overload
    def completions(
        self, *, model: str, prompt: str, stream: Literal[False] = False, **kwargs: Any
    ) -> Completion: ...
    @overload
    def completions(
        self, *, model: str, prompt: str, stream: Literal[True], **kwargs: Any
    ) -> ChunkStream: ...
    @overload
    def completions(
        self, *, model: str, prompt: str, stream: bool, **kwargs: Any
    ) -> Completion | ChunkStream: ...
    def completions(
        self, *, model: str, prompt: str, stream: bool = False, **kwargs: Any
    ) -> Completion | ChunkStream:
        from ._models import Completion

        request = self._request_from_keywords(
            "completion", {"model": model, "prompt": prompt, "stream": stream, **kwargs}
        )
        if request.stream:
            return self.open_stream(request)
        return Completion.model_validate(self.send(request).data)

    @overload
    def chat(
        self, *, messages: list[Any], model: str, stream: Literal[False] = False, **kwargs: Any
    ) -> ChatCompletion: ...
    @overload
    def chat(
        self, *, messages: list[Any], model: str, stream: Literal[True], **kwargs: Any
    ) -> ChunkStream: ...
    @overload
    def chat(
        self, *, messages: list[Any], model: str, stream: bool, **kwargs: Any
    ) -> ChatCompletion | ChunkStream: ...
    def chat(
        self, *, messages: list[Any], model: str, stream: bool = False, **kwargs: Any
    ) -> ChatCompletion | ChunkStream:
        from ._models import ChatCompletion

        request = self._request_from_keywords(
            "chat", {"messages": messages, "model": model, "stream": stream, **kwargs}
        )
        if request.stream:
            return self.open_stream(request)
        return ChatCompletion.model_validate(self.send(request).data)

    @overload
    def prompt_completion(
        self,
        prompt_id: str,
        *,
        variables: Mapping[str, Any] | None = None,
        stream: Literal[False] = False,
        **kwargs: Any,
    ) -> ChatCompletion | Completion: ...
    @overload
    def prompt_completion(
        self,
        prompt_id: str,
        *,
        variables: Mapping[str, Any] | None = None,
        stream: Literal[True],
        **kwargs: Any,
    ) -> ChunkStream: ...
    @overload
    def prompt_completion(
        self,
        prompt_id: str,
        *,
        variables: Mapping[str, Any] | None = None,
        stream: bool,
        **kwargs: Any,
    ) -> ChatCompletion | Completion | ChunkStream: ...
    def prompt_completion(
        self,
        prompt_id: str,
        *,
        variables: Mapping[str, Any] | None = None,
        stream: bool = False,
        **kwargs: Any,
    ) -> ChatCompletion | Completion | ChunkStream:
        from ._models import prompt_completion_model

        request = self._request_from_keywords(
            "prompt_completion", {"prompt_id": prompt_id, "variables": variables, "stream": stream, **kwargs}
        )
        if request.stream:
            return self.open_stream(request)
        return prompt_completion_model(self.send(request).data)

    def embeddings(self, *, input: str | list[Any], model: str, **kwargs: Any) -> EmbeddingList:
        from ._models import EmbeddingList

        request = self._request_from_keywords("create_embedding", {"input": input, "model": model, **kwargs})
        return EmbeddingList.model_validate(self.send(request).data)

    def list_models(
        self, *, provider: str | None = None, limit: int | None = None, offset: int | None = None
    ) -> ModelList:
        """``GET /models``: the models Portkey lists for this connection (an empty list is no error)."""
        from ._models import ModelList

        request = self._request_from_options(self._list_models_options(provider, limit, offset))
        return ModelList.model_validate(self.send(request).data)

    def feedback(
        self,
        *,
        trace_id: str,
        value: int,
        weight: float | None = None,
        metadata: Mapping[str, Any] | None = None,
    ) -> FeedbackResult:
        """``POST /feedback``: rate the answer with this trace id, from -10 to 10."""
        from ._models import FeedbackResult

        request = self._request_from_options(self._feedback_options(trace_id, value, weight, metadata))
        return FeedbackResult.model_validate(self.send(request).data)

    def prompt_render(
        self, prompt_id: str, *, variables: Mapping[str, Any] | None = None, **parameters: Any
    ) -> PromptRender:
        """``POST /prompts/{id}/render``: the saved prompt filled in, with no model called."""
        from ._models import PromptRender

        request = self._request_from_options(self._render_options(prompt_id, variables, parameters))
        return PromptRender.model_validate(self.send(request).data)

    def generate_images(self, *, prompt: str, **kwargs: Any) -> ImagesResponse:
        """``POST /images/generations``; ``images.urls`` lists them (base64 ones as data: URIs)."""
        from ._models import ImagesResponse

        request = self._request_from_keywords("image_generation", {"prompt": prompt, **kwargs})
        return ImagesResponse.model_validate(self.send(request).data)

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
        _logs.install()
        if http_client is None:
            http_client = _build_http(httpx.AsyncClient, self._httpx_options())
            self._guarded = _deadline.install(http_client)
            _connection_pool.install(http_client)
        else:
            self._guarded = False
        self._http = http_client

    async def _exchange(self, request: PortkeyRequest, started: float) -> tuple[httpx.Response, bytes, int]:
        with _logs.redacting(_logs.Redaction(self.settings, request.headers)):
            return await self._attempts(request, started)

    async def _attempts(self, request: PortkeyRequest, started: float) -> tuple[httpx.Response, bytes, int]:
        _refuse_unsendable(request)
        timeout = self._limit(request)
        deadline = started + timeout
        retries = 0
        while True:
            budget = self._remaining(started, timeout)
            error: PortkeyError
            cause: BaseException
            with _deadline.within(budget):
                try:
                    response = await self._http.send(
                        self._httpx_request(self._http, request, budget), stream=True
                    )
                except httpx.RequestError as err:
                    error, cause = _transport_error(err, timeout), err
                else:
                    success = response.is_success
                    if success and request.stream:
                        return response, b"", retries
                    try:
                        lines = request.lines if success else None
                        limit = self.settings.max_response_bytes
                        content = await _aread_body(response, limit, deadline, timeout, lines)
                    except httpx.RequestError as err:
                        error, cause = _transport_error(err, timeout), err
                    except PortkeyError as err:
                        error = cause = err
                    else:
                        if success:
                            return response, content, retries
                        error = cause = status_error(response.status_code, _headers(response), content)
                    finally:
                        await response.aclose()
            delay = self._next_delay(error, retries, started, timeout)
            if delay is None:
                if cause is error:
                    raise error.after_retries(retries)
                raise error.after_retries(retries) from cause
            _throttle.retrying(error)
            await _async_sleep(delay)
            retries += 1

    async def send(self, request: PortkeyRequest) -> PortkeyResponse:
        started = _clock()
        response, content, retries = await self._exchange(request, started)
        headers = _headers(response)
        data = (
            request.lines.items
            if request.lines is not None
            else success_body(response.status_code, headers, content)
        )
        if operation_facts(request.operation).wrapped:
            data = unwrap_prompt_body(data)
        return PortkeyResponse(response.status_code, headers, data, retries, started + self._limit(request))

    async def open_stream(self, request: PortkeyRequest) -> AsyncChunkStream:
        started = _clock()
        response, _, retries = await self._exchange(request, started)
        return AsyncChunkStream(
            response, retries, self.settings.timeout, **self._stream_options(started, request)
        )

    @overload
    async def completions(
        self, *, model: str, prompt: str, stream: Literal[False] = False, **kwargs: Any
    ) -> Completion: ...
    @overload
    async def completions(
        self, *, model: str, prompt: str, stream: Literal[True], **kwargs: Any
    ) -> AsyncChunkStream: ...
    @overload
    async def completions(
        self, *, model: str, prompt: str, stream: bool, **kwargs: Any
    ) -> Completion | AsyncChunkStream: ...
    async def completions(
        self, *, model: str, prompt: str, stream: bool = False, **kwargs: Any
    ) -> Completion | AsyncChunkStream:
        from ._models import Completion

        request = self._request_from_keywords(
            "completion", {"model": model, "prompt": prompt, "stream": stream, **kwargs}
        )
        if request.stream:
            return await self.open_stream(request)
        return Completion.model_validate((await self.send(request)).data)

    @overload
    async def chat(
        self, *, messages: list[Any], model: str, stream: Literal[False] = False, **kwargs: Any
    ) -> ChatCompletion: ...
    @overload
    async def chat(
        self, *, messages: list[Any], model: str, stream: Literal[True], **kwargs: Any
    ) -> AsyncChunkStream: ...
    @overload
    async def chat(
        self, *, messages: list[Any], model: str, stream: bool, **kwargs: Any
    ) -> ChatCompletion | AsyncChunkStream: ...
    async def chat(
        self, *, messages: list[Any], model: str, stream: bool = False, **kwargs: Any
    ) -> ChatCompletion | AsyncChunkStream:
        from ._models import ChatCompletion

        request = self._request_from_keywords(
            "chat", {"messages": messages, "model": model, "stream": stream, **kwargs}
        )
        if request.stream:
            return await self.open_stream(request)
        return ChatCompletion.model_validate((await self.send(request)).data)

    @overload
    async def prompt_completion(
        self,
        prompt_id: str,
        *,
        variables: Mapping[str, Any] | None = None,
        stream: Literal[False] = False,
        **kwargs: Any,
    ) -> ChatCompletion | Completion: ...
    @overload
    async def prompt_completion(
        self,
        prompt_id: str,
        *,
        variables: Mapping[str, Any] | None = None,
        stream: Literal[True],
        **kwargs: Any,
    ) -> AsyncChunkStream: ...
    @overload
    async def prompt_completion(
        self,
        prompt_id: str,
        *,
        variables: Mapping[str, Any] | None = None,
        stream: bool,
        **kwargs: Any,
    ) -> ChatCompletion | Completion | AsyncChunkStream: ...
    async def prompt_completion(
        self,
        prompt_id: str,
        *,
        variables: Mapping[str, Any] | None = None,
        stream: bool = False,
        **kwargs: Any,
    ) -> ChatCompletion | Completion | AsyncChunkStream:
        from ._models import prompt_completion_model

        request = self._request_from_keywords(
            "prompt_completion", {"prompt_id": prompt_id, "variables": variables, "stream": stream, **kwargs}
        )
        if request.stream:
            return await self.open_stream(request)
        return prompt_completion_model((await self.send(request)).data)

    async def embeddings(self, *, input: str | list[Any], model: str, **kwargs: Any) -> EmbeddingList:
        from ._models import EmbeddingList

        request = self._request_from_keywords("create_embedding", {"input": input, "model": model, **kwargs})
        return EmbeddingList.model_validate((await self.send(request)).data)

    async def list_models(
        self, *, provider: str | None = None, limit: int | None = None, offset: int | None = None
    ) -> ModelList:
        from ._models import ModelList

        request = self._request_from_options(self._list_models_options(provider, limit, offset))
        return ModelList.model_validate((await self.send(request)).data)

    async def feedback(
        self,
        *,
        trace_id: str,
        value: int,
        weight: float | None = None,
        metadata: Mapping[str, Any] | None = None,
    ) -> FeedbackResult:
        from ._models import FeedbackResult

        request = self._request_from_options(self._feedback_options(trace_id, value, weight, metadata))
        return FeedbackResult.model_validate((await self.send(request)).data)

    async def prompt_render(
        self, prompt_id: str, *, variables: Mapping[str, Any] | None = None, **parameters: Any
    ) -> PromptRender:
        from ._models import PromptRender

        request = self._request_from_options(self._render_options(prompt_id, variables, parameters))
        return PromptRender.model_validate((await self.send(request)).data)

    async def generate_images(self, *, prompt: str, **kwargs: Any) -> ImagesResponse:
        from ._models import ImagesResponse

        request = self._request_from_keywords("image_generation", {"prompt": prompt, **kwargs})
        return ImagesResponse.model_validate((await self.send(request)).data)

    async def aclose(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> AsyncPortkeyClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()


# ---------------------------------------------------------------------------------------------------
# Streams


class _StreamBase:
    """What the sync and async streams share: everything but reading the body.

    The body's raw bytes go through ``_take`` (inflated with a cap, split into events, parsed into
    chunks); the reading loops (``ChunkStream._chunks`` and its async twin) only move bytes and
    chunks, so both behave alike: chunks up to ``[DONE]`` or an error chunk are yielded, then a pending
    StreamError is raised, and an end without ``[DONE]`` raises StreamTruncatedError. The connection
    is closed however the loop ends.

    Time: each read may wait until the next event is due (``timeout`` after the previous one, or
    after the answer started) and never past the stream's total limit (``stream_timeout`` after the
    request, when set); past either, APITimeoutError.
    """

    def __init__(
        self,
        response: httpx.Response,
        retries: int,
        timeout: float,
        *,
        max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES,
        max_event_bytes: int = DEFAULT_MAX_EVENT_BYTES,
        stream_timeout: float | None = None,
        started: float | None = None,
        drain: bool = False,
        redaction: _logs.Redaction | None = None,
        secrets: Sequence[str] = (),  # the request's keys, redacted from the metadata's headers
    ) -> None:
        self.response = response
        self.retries = retries
        self.chunks_received = 0
        self._timeout = timeout
        self._max_response_bytes = max_response_bytes
        self._decoder = SSEDecoder(max_event_bytes)
        self._body: BodyDecoder | None = None
        self._saw_done_marker = False
        self._error: StreamError | None = None
        self._drain_after_done = drain
        self._redaction = redaction  # of the log records made while reading
        now = _clock()
        self._event_due = now + timeout
        self._stream_timeout = stream_timeout
        self._finish_by = (
            float("inf") if stream_timeout is None else (now if started is None else started) + stream_timeout
        )
        headers = _headers(response)
        self.metadata = response_metadata(response.status_code, headers, retries, secrets)
        self._hook_results: dict[str, Any] = {}
        # An answer that is JSON, not an event stream: an error the gateway sent with a 2xx status.
        self._json_body = headers.get("content-type", "").startswith("application/json")

    @property
    def _stopped(self) -> bool:
        """Whether reading should stop: the [DONE] marker came, or an error chunk did."""
        return self._saw_done_marker or self._error is not None

    def _time_left(self) -> float:
        """Seconds the next read may wait; APITimeoutError when none are left."""
        left = min(self._event_due, self._finish_by) - _clock()
        if left <= 0:
            raise self._stalled()
        return left

    def _stalled(self) -> APITimeoutError:
        """The error for a stream that ran out of time (a read timed out, or a deadline passed)."""
        received = f"after {self.chunks_received} chunks; the answer is incomplete"
        if self._stream_timeout is not None and self._finish_by <= self._event_due:
            error = APITimeoutError(
                f"The stream did not finish within {self._stream_timeout:g} s (streamTimeout), {received}",
                timeout=self._stream_timeout,
            )
        else:
            error = APITimeoutError(
                f"Portkey sent no stream event for {self._timeout:g} s, {received}", timeout=self._timeout
            )
        error.after_retries(self.retries)
        return error

    def _take(self, raw: bytes | None) -> list[dict[str, Any]]:
        """The chunks completed by the next raw bytes of the body (None: the body has ended)."""
        if self._body is None:
            self._body = _body_decoder(self.response, self._max_response_bytes)
        decoder = self._decoder
        try:
            pieces = _decoded(self._body, self.response, raw)
            if len(pieces) == 1 and raw is not None:
                events = decoder.decode(pieces[0])
            else:
                events = [event for piece in pieces for event in decoder.decode(piece)]
            if raw is None:
                events += decoder.end()
        except EventTooLarge as err:
            raise _event_too_large(self.response, err.limit) from None
        if not events:
            return []
        self._event_due = _clock() + self._timeout
        chunks: list[dict[str, Any]] = []
        try:
            for event in events:
                chunk = decode_chunk(event)
                if chunk is DONE:
                    self._saw_done_marker = True
                    break
                if isinstance(chunk, GuardrailChunk):
                    self._guardrails(chunk.hook_results)
                else:
                    chunks.append(chunk)
        except StreamError as err:
            self._error = err
        self.chunks_received += len(chunks)
        return chunks

    def _guardrails(self, hook_results: Any) -> None:
        """A guardrail-only chunk's verdicts, merged with those sent before (the input checks' come first,
        the output checks' may come last), into ``metadata.guardrails`` (docs/routing.md)."""
        if not isinstance(hook_results, dict):
            return
        self._hook_results = {**self._hook_results, **hook_results}
        verdicts = guardrail_verdicts(self._hook_results)
        if verdicts is not None:
            self.metadata["guardrails"] = verdicts

    def _ending(self) -> PortkeyError:
        """The error to raise when the loop stopped without [DONE]."""
        if self._error is not None:
            return self._error.after_retries(self.retries)
        return StreamTruncatedError(
            f"The stream ended after {self.chunks_received} chunks without [DONE]: the answer is incomplete"
        ).after_retries(self.retries)

    def _json_error(self, content: bytes) -> PortkeyError:
        body = parse_json(content)
        if isinstance(body, dict) and (body.get("error") or body.get("message")):
            message, error_type = error_details(self.response.status_code, body, "")
            return StreamError(message, error_type=error_type, chunk=body).after_retries(self.retries)
        return StreamError(
            "Portkey answered a streamed request with JSON, not an event stream", error_type="invalid_stream"
        ).after_retries(self.retries)

    def _failed(self, err: httpx.RequestError) -> PortkeyError:
        """A transport failure mid-stream: a timeout (APITimeoutError) or a lost connection."""
        if isinstance(err, httpx.TimeoutException):
            return self._stalled()
        cause = _transport_error(err, self._timeout)
        return StreamTruncatedError(
            f"The connection was lost after {self.chunks_received} chunks: {cause.detail}"
        ).after_retries(self.retries)


class ChunkStream(_StreamBase):
    """The chunks of a streamed answer, as Portkey sends them.

    Iterate it once; ``close()`` (or leaving a ``with`` block) stops early and closes the connection.
    """

    def __init__(self, response: httpx.Response, retries: int, timeout: float, **options: Any) -> None:
        super().__init__(response, retries, timeout, **options)
        self._iterator = self._chunks()

    def _chunks(self) -> Generator[dict[str, Any], None, None]:
        try:
            if self._json_body:
                left = self._time_left()
                deadline = _clock() + left
                with _deadline.within(left), _logs.redacting(self._redaction):
                    body = _read_body(self.response, self._max_response_bytes, deadline, self._timeout)
                raise self._json_error(body)
            raw = self.response.iter_raw()
            while True:
                with _deadline.within(self._time_left()), _logs.redacting(self._redaction):
                    data = next(raw, None)
                yield from self._take(data)
                if data is None or self._stopped:
                    break
            if not self._saw_done_marker:
                raise self._ending()
            if self._drain_after_done:
                with _logs.redacting(self._redaction):
                    self._drain(raw)
        except httpx.RequestError as err:
            raise self._failed(err) from err
        except PortkeyError as err:  # a size or encoding error: say how many retries came first
            err.after_retries(self.retries)
            raise
        finally:
            self.response.close()

    @staticmethod
    def _drain(pieces: Iterator[bytes]) -> None:
        """Read the end of the body if it is already there (normally it comes with [DONE]), so the
        connection can be reused; a body that does not end at once is left, and its connection
        closed, rather than waited for."""
        left = DRAIN_LIMIT_BYTES
        try:
            with _deadline.within(DRAIN_SECONDS):
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

    def __init__(self, response: httpx.Response, retries: int, timeout: float, **options: Any) -> None:
        super().__init__(response, retries, timeout, **options)
        self._iterator = self._chunks()

    async def _chunks(self) -> AsyncGenerator[dict[str, Any], None]:
        try:
            if self._json_body:
                left = self._time_left()
                deadline = _clock() + left
                with _deadline.within(left), _logs.redacting(self._redaction):
                    body = await _aread_body(self.response, self._max_response_bytes, deadline, self._timeout)
                raise self._json_error(body)
            raw = self.response.aiter_raw()
            while True:
                with _deadline.within(self._time_left()), _logs.redacting(self._redaction):
                    data = await anext(raw, None)
                for chunk in self._take(data):
                    yield chunk
                if data is None or self._stopped:
                    break
            if not self._saw_done_marker:
                raise self._ending()
            if self._drain_after_done:
                with _logs.redacting(self._redaction):
                    await self._adrain(raw)
        except httpx.RequestError as err:
            raise self._failed(err) from err
        except PortkeyError as err:
            err.after_retries(self.retries)
            raise
        finally:
            await self.response.aclose()

    @staticmethod
    async def _adrain(pieces: AsyncIterator[bytes]) -> None:
        left = DRAIN_LIMIT_BYTES
        try:
            with _deadline.within(DRAIN_SECONDS):
                async for data in pieces:
                    left -= len(data)
                    if left < 0:
                        return
        except httpx.HTTPError:
            return

    def __aiter__(self) -> AsyncIterator[dict[str, Any]]:
        return self._iterator

    async def __anext__(self) -> dict[str, Any]:
        return await anext(self._iterator)

    async def aclose(self) -> None:
        await self._iterator.aclose()
        await self.response.aclose()

    async def __aenter__(self) -> AsyncChunkStream:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()
