"""The simulator's HTTP server: the standard library's ThreadingHTTPServer with HTTP/1.1 keep-alive.

One ``Simulator`` serves one profile on one loopback port from a background thread. Requests are
recorded, faults applied, Portkey's rules checked (per profile), and answer bodies made by ``_answers``
(imported as ``bodies``).
"""

from __future__ import annotations

import contextlib
import json
import socket
import time
import uuid
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

from .._loopback import LoopbackHandler, LoopbackHTTPServer, LoopbackService
from . import _answers as bodies
from ._batches import BatchBook, BatchReply, answer_of
from ._catalog import ModelCatalog
from ._chat import IMAGE_TOKENS, ChatPlan, chat_plan, check_max_tokens_param, image_count
from ._faults import FAULT_HEADER, Fault, FaultBook, fault_from_json
from ._feedback import FeedbackBook, FeedbackError, FeedbackRecord, parse_feedback
from ._guardrails import DENIED_MESSAGE, denied, failed, run_guardrails
from ._images import IMAGES_PREFIX, images_response, png_of_name
from ._pacing import RateLimit, latency_seconds, parse_rate_limit
from ._prompts import PromptBook, Template
from ._rules import (
    PROFILES,
    SimError,
    check_auth,
    check_config,
    check_metadata,
    check_routing,
    gateway_error,
    provider_error,
    provider_of,
    without_code,
)

__all__ = ["RecordedRequest", "Simulator"]

ADMIN_PREFIX = "/_simulator"
IDLE_KEEPALIVE_SECONDS = 65.0
SECRET_HEADERS = frozenset({"x-portkey-api-key", "x-portkey-virtual-key", "authorization"})
CHAT_ROLES = frozenset({"system", "developer", "user", "assistant", "tool", "function"})
# (method, route) -> endpoint; the routes with a path parameter are matched in ``endpoint_of``.
ENDPOINTS = {
    ("POST", "/chat/completions"): "chat",
    ("POST", "/completions"): "completions",
    ("POST", "/embeddings"): "embeddings",
    ("GET", "/models"): "models",
    ("POST", "/feedback"): "feedback",
    ("POST", "/images/generations"): "images",
}
BATCH_PREFIXES = ("/v1/files", "/v1/batches")
MAX_UPLOAD_BYTES = 256 * 1024 * 1024  # a 200 MB batch file and its multipart framing
# Portkey's own endpoints: 404 on the openai profile.
PORTKEY_ONLY = frozenset({"prompt", "render", "feedback"})


@dataclass(frozen=True)
class RecordedRequest:
    """One request as the simulator received it: headers lower-cased, the body parsed as JSON
    (None when empty or not JSON). ``path`` is the URL path as sent, e.g. ``/v1/chat/completions``."""

    method: str
    path: str
    headers: Mapping[str, str]
    json: Any

    def to_json(self) -> dict[str, Any]:
        return {"method": self.method, "path": self.path, "headers": dict(self.headers), "json": self.json}

    def __repr__(self) -> str:
        # the headers keep the real keys (tests assert on them); a repr in a log or failure must not
        shown = {k: ("***" if k in SECRET_HEADERS else v) for k, v in self.headers.items()}
        return f"RecordedRequest({self.method} {self.path}, headers={shown}, json={self.json!r})"


@dataclass
class _HTTPReply:
    """What the handler sends for one request: a status and a JSON body, or a stream of chunks."""

    status: int
    body: Any = None
    chunks: Iterator[dict[str, Any]] | None = None
    cache_status: str = "DISABLED"


class _Server(LoopbackHTTPServer):
    def __init__(self, address: tuple[str, int], sim: Simulator) -> None:
        self.sim = sim
        super().__init__(address, _Handler, sim)


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _integer(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


class _Handler(LoopbackHandler):
    server: _Server
    timeout = IDLE_KEEPALIVE_SECONDS

    def version_string(self) -> str:
        return "portkey-simulator"

    def log_message(self, format: str, *args: Any) -> None:
        if self.server.sim.log is not None:
            self.server.sim.log(f"{self.address_string()} {format % args}")

    def do_GET(self) -> None:
        self._dispatch()

    def do_POST(self) -> None:
        self._dispatch()

    def do_DELETE(self) -> None:
        self._dispatch()

    def do_PUT(self) -> None:
        self._dispatch()

    # -- plumbing ---------------------------------------------------------------------------------

    def _read_body(self) -> bytes:
        if "chunked" in self.headers.get("transfer-encoding", "").lower():
            self.close_connection = True
            raise gateway_error(411, "The simulator needs a Content-Length request body")
        length = self.headers.get("content-length", "0") or "0"
        if not length.isdigit():
            self.close_connection = True
            raise gateway_error(400, "Invalid Content-Length")
        return self.rfile.read(int(length)) if int(length) else b""

    def _uploads_chunked(self, path: str) -> bool:
        """A file sent in chunks: the gateway streams an upload's multipart body to the provider."""
        chunked = "chunked" in self.headers.get("transfer-encoding", "").lower()
        return chunked and path.startswith(BATCH_PREFIXES)

    def _read_chunked(self) -> bytes:
        """A chunked request body (RFC 9112 7.1), trailers skipped; at most ``MAX_UPLOAD_BYTES``."""
        parts: list[bytes] = []
        total = 0
        while True:
            size_line = self.rfile.readline(1024).split(b";", 1)[0].strip()
            try:
                size = int(size_line, 16)
            except ValueError:
                self.close_connection = True
                raise gateway_error(400, "Invalid chunked body") from None
            if size == 0:
                while self.rfile.readline(1024) not in (b"\r\n", b"\n", b""):
                    pass
                return b"".join(parts)
            total += size
            if total > MAX_UPLOAD_BYTES:
                self.close_connection = True
                raise gateway_error(413, "The upload is larger than the simulator takes")
            parts.append(self.rfile.read(size))
            self.rfile.readline(1024)

    def _send_json(self, status: int, body: Any, headers: Mapping[str, str]) -> None:
        data = json.dumps(body, ensure_ascii=False).encode("utf-8")
        self.send_response(status)
        for key, value in headers.items():
            self.send_header(key, value)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    def _send_png(self, data: bytes) -> None:
        self.send_response(200)
        self.send_header("content-type", "image/png")
        self.send_header("content-length", str(len(data)))
        self.send_header("cache-control", "public, max-age=3600")
        self.end_headers()
        self.wfile.write(data)

    def _write_chunk(self, text: str) -> None:
        data = text.encode("utf-8")
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))

    def _send_stream(
        self, chunks: Iterator[dict[str, Any]], headers: Mapping[str, str], drop_after: int | None
    ) -> None:
        self.send_response(200)
        for key, value in headers.items():
            self.send_header(key, value)
        self.send_header("content-type", "text/event-stream")
        self.send_header("cache-control", "no-cache")
        self.send_header("transfer-encoding", "chunked")
        self.end_headers()
        for sent, chunk in enumerate(chunks):
            if drop_after is not None and sent >= drop_after:
                self._drop()
                return
            self._write_chunk(f"data: {json.dumps(chunk, ensure_ascii=False)}\n\n")
        if drop_after is not None:  # asked to drop after more chunks than there were: drop before [DONE]
            self._drop()
            return
        self._write_chunk("data: [DONE]\n\n")
        self.wfile.write(b"0\r\n\r\n")

    def _drop(self) -> None:
        """Close the connection without (the rest of) an answer."""
        self.close_connection = True
        with contextlib.suppress(OSError):
            self.connection.shutdown(socket.SHUT_RDWR)

    # -- one request --------------------------------------------------------------------------------

    def _dispatch(self) -> None:
        sim = self.server.sim
        path = unquote(urlsplit(self.path).path)
        headers = {key.lower(): value for key, value in self.headers.items()}
        extra = {}
        if sim.profile != "openai":
            extra["x-portkey-trace-id"] = headers.get("x-portkey-trace-id") or str(uuid.uuid4())
        else:
            extra["x-request-id"] = f"req_sim{uuid.uuid4().hex[:24]}"
        try:
            raw = self._read_chunked() if self._uploads_chunked(path) else self._read_body()
            if self.command == "GET" and path.startswith(IMAGES_PREFIX):
                image = png_of_name(path[len(IMAGES_PREFIX) :])
                if image is None:
                    self._send_json(404, {"message": "Not Found", "ok": False}, {})
                else:
                    self._send_png(image)
                return
            if path.startswith(ADMIN_PREFIX):
                status, body = sim._admin(self.command, path[len(ADMIN_PREFIX) :], raw)
                self._send_json(status, body, {})
                return
            if path.startswith(BATCH_PREFIXES):  # files and batches (_batches.py): multipart, JSONL
                self._serve_batches(path, headers, raw, extra)
                return
            try:
                body = json.loads(raw) if raw else None
                bad_json = False
            except ValueError:
                body, bad_json = None, True
            sim._record(RecordedRequest(self.command, path, headers, body))
            self._serve(path, headers, body, bad_json, extra)
        except SimError as err:
            self._send_json(err.status, err.body, {**extra, **err.headers})
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True
        except Exception as err:  # a bug of the simulator: answer like the gateway, keep the detail
            sim.errors.append(err)
            self._send_json(
                500,
                {"status": "failure", "message": "Something went wrong"},
                {**extra, "x-portkey-gateway-exception": "true"},
            )

    def _serve_batches(self, path: str, headers: dict[str, str], raw: bytes, extra: dict[str, str]) -> None:
        sim = self.server.sim
        multipart = headers.get("content-type", "").lower().startswith("multipart/")
        try:
            recorded = None if multipart or not raw else json.loads(raw)
        except ValueError:
            recorded = None
        sim._record(RecordedRequest(self.command, path, headers, recorded))
        query = dict(parse_qsl(urlsplit(self.path).query))
        reply = sim._batch_reply(self.command, path[3:], headers, raw, query)
        if reply.content is None:
            self._send_json(reply.status, reply.body, extra)
            return
        self.send_response(reply.status)
        for key, value in extra.items():
            self.send_header(key, value)
        self.send_header("content-type", "application/octet-stream")
        self.send_header("content-length", str(len(reply.content)))
        self.end_headers()
        self.wfile.write(reply.content)

    def _serve(
        self, path: str, headers: dict[str, str], body: Any, bad_json: bool, extra: dict[str, str]
    ) -> None:
        sim = self.server.sim
        if not path.startswith("/v1/"):  # Portkey serves its API under /v1 only
            raise sim._not_found(self.command, path)
        route = path[3:]
        if not sim._pace(headers, body):  # a rate limit refuses (raises); a latency waits, unless stopped
            self._drop()
            return
        fault = sim._fault_for(route, headers)
        retried: int | None = 0
        target = 0  # the config target that answers: a fallback config moves on past failing ones
        if fault is not None:
            if fault.delay and sim._stopping.wait(fault.delay):
                self._drop()
                return
            if fault.drop and fault.drop_after is None:
                self._drop()
                return
            # a drop (now, or after N chunks) wins over a status
            if _failing(fault):
                retried = sim._retry_like_the_gateway(fault, route, headers, body)
                if retried is None:
                    fell_to = sim._fall_back_like_the_gateway(fault, route, headers, body)
                    if fell_to is None:
                        sim._fault_reply(fault, route, headers, body, extra)
                    else:
                        target = fell_to
                fault = None
        query = dict(parse_qsl(urlsplit(self.path).query))
        reply, more = sim._reply_to(self.command, route, headers, body, bad_json, query, target)
        extra.update(more)
        if fault is None and retried:
            extra["x-portkey-retry-attempt-count"] = str(retried)
        if sim.profile != "openai":
            extra["x-portkey-cache-status"] = reply.cache_status
        if reply.chunks is not None:
            self._send_stream(reply.chunks, extra, fault.drop_after if fault else None)
        else:
            self._send_json(reply.status, reply.body, extra)


def endpoint_of(method: str, route: str) -> tuple[str, str] | None:
    """(endpoint, path parameter) of a request, e.g. ``("model", "gpt-4o")`` for ``GET /models/gpt-4o``
    and ``("render", "pp-demo")`` for ``POST /prompts/pp-demo/render``; None for an unknown route."""
    endpoint = ENDPOINTS.get((method, route))
    if endpoint is not None:
        return endpoint, ""
    if method == "GET" and route.startswith("/models/") and len(route) > len("/models/"):
        return "model", route[len("/models/") :]  # a Model Catalog id keeps its slash: @slug/gpt-4o
    parts = route.split("/")
    if method == "POST" and len(parts) == 4 and parts[1] == "prompts" and parts[2]:
        if parts[3] == "completions":
            return "prompt", parts[2]
        if parts[3] == "render":
            return "render", parts[2]
    return None


# The snapshots OpenAI's chat aliases answered with when this was written: an answer's model is the dated one.
DATED_MODELS = {
    "gpt-4o-mini": "gpt-4o-mini-2024-07-18",
    "gpt-4o": "gpt-4o-2024-08-06",
    "o4-mini": "o4-mini-2025-04-16",
    "gpt-5-mini": "gpt-5-mini-2025-08-07",
}


@dataclass(frozen=True)
class _Generation:
    """A chat or text completion request, checked, and its answers (one per choice)."""

    model: str
    stream: bool
    include_usage: bool
    prompt_tokens: int
    choices: tuple[bodies.Choice, ...]


def _choices(
    seed: Any, n: int, max_tokens: int | None, stop: Any, plan: ChatPlan, bad: Any
) -> tuple[bodies.Choice, ...]:
    """The ``n`` answers of a request: text, JSON (an object, or an instance of the response format's
    schema) cut by ``stop`` and ``max_tokens`` like text, or calls of tools (never cut)."""
    from ._instances import NoInstance, instance_of

    made: list[bodies.Choice] = []
    for index in range(n):
        try:
            if plan.kind == "tools":
                calls = tuple(
                    bodies.tool_call(
                        seed,
                        index,
                        position,
                        tool.name,
                        instance_of(tool.parameters, [seed, index, position]),
                    )
                    for position, tool in enumerate(plan.calls)
                )
                made.append(bodies.Choice(None, "tool_calls", calls))
                continue
            if plan.kind == "json_schema":
                text = bodies.json_text(instance_of(plan.schema, [seed, index]))
            elif plan.kind == "json_object":
                text = bodies.json_text({"answer": bodies.answer_text(seed, index)})
            else:
                text = bodies.answer_text(seed, index)
        except NoInstance as err:
            param = "tools" if plan.kind == "tools" else "response_format"
            raise bad(f"{str(err).capitalize()} (simulated).", param) from None
        made.append(bodies.limited(text, max_tokens, stop))
    return tuple(made)


def _failing(fault: Fault) -> bool:
    """A fault that answers an error status (a drop wins over its status)."""
    return not fault.drop and fault.status is not None and fault.status >= 300


DEFAULT_RETRY_CODES = (429, 500, 502, 503, 504)
MAX_GATEWAY_RETRIES = 5


def _retry_policy(profile: str, headers: Mapping[str, str]) -> tuple[int, tuple[int, ...]]:
    """(attempts, on_status_codes) of the request's config ``retry``; (0, ()) without one."""
    if profile == "openai":
        return 0, ()
    try:
        config = json.loads(headers.get("x-portkey-config", "null"))
    except ValueError:
        return 0, ()
    retry = config.get("retry") if isinstance(config, dict) else None
    if not isinstance(retry, dict) or not _integer(retry.get("attempts")) or retry["attempts"] < 1:
        return 0, ()
    codes = retry.get("on_status_codes", DEFAULT_RETRY_CODES)
    if not isinstance(codes, list | tuple) or not all(_integer(c) for c in codes):
        codes = DEFAULT_RETRY_CODES
    return min(retry["attempts"], MAX_GATEWAY_RETRIES), tuple(codes)


class Simulator(LoopbackService):
    """An offline, Portkey-compatible HTTP server on loopback.

    ``profile``: ``hosted`` (Portkey's hosted API: an API key and a routing header are required),
    ``gateway`` (a self-hosted gateway: routing required, no key) or ``openai`` (a plain
    OpenAI-compatible upstream, no Portkey rules). ``prompts``: a JSON file or dict of prompt templates
    added to the built-in demo prompts. ``api_keys``: when given, only these keys are accepted (in
    x-portkey-api-key, or ``Authorization: Bearer`` on the openai profile); others get 401.
    ``latency_ms``: every answer waits this long first. ``rate_limit``: a ``RateLimit`` or its text
    (``"600/min"``), past which requests get 429 with ``retry-after`` (see ``_pacing``). ``models``: a
    JSON file or dict of models added to the built-in ones (see ``_catalog``); a request for a model it
    does not know, or of another kind, is refused as the provider refuses it. Use as a context manager,
    or ``start()`` / ``stop()``.
    """

    def __init__(
        self,
        profile: str = "hosted",
        host: str = "127.0.0.1",
        port: int = 0,
        prompts: str | Path | Mapping[str, Any] | None = None,
        api_keys: Iterable[str] | None = None,
        latency_ms: float = 0,
        rate_limit: RateLimit | str | None = None,
        models: str | Path | Mapping[str, Any] | None = None,
        batch_seconds: float = 0.0,
    ) -> None:
        if profile not in PROFILES:
            raise ValueError(f"profile must be one of {', '.join(PROFILES)}, not {profile!r}")
        self.latency = latency_seconds(latency_ms)
        self.rate_limit = parse_rate_limit(rate_limit) if isinstance(rate_limit, str) else rate_limit
        self.profile = profile
        self.api_keys = _api_keys(api_keys)
        super().__init__(host, port)
        self.prompts = PromptBook(prompts)
        self.models = ModelCatalog(models)
        self.faults = FaultBook()
        self.batches = BatchBook(batch_seconds)
        self._feedback = FeedbackBook()
        self.log: Any = None  # a callable taking one line, to log each request (the CLI's serve)
        self._requests: list[RecordedRequest] = []
        self._cache: dict[str, Any] = {}
        self._prompts_seen: set[str] = set()  # the provider's prompt cache, while Portkey's cache is on

    def __repr__(self) -> str:
        state = self.url if self._server else "stopped"
        return f"Simulator(profile={self.profile!r}, {state})"

    # -- lifecycle -----------------------------------------------------------------------------------

    thread_name = "portkey-simulator"

    def _make_server(self) -> _Server:
        return _Server((self.host, self.port), self)

    def start(self) -> Simulator:
        if self._server is None:
            self._serve()
        return self

    def stop(self) -> None:
        self._stop_serving()

    def __enter__(self) -> Simulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def url(self) -> str:
        """The base URL clients use, ``http://127.0.0.1:<port>/v1``."""
        if self._server is None:
            raise RuntimeError("the simulator is not running: call start() first")
        host = self.host if ":" not in self.host else f"[{self.host}]"
        return f"http://{host}:{self.port}/v1"

    # -- what tests use ---------------------------------------------------------------------------------

    @property
    def requests(self) -> list[RecordedRequest]:
        """The requests received so far (admin requests excluded), oldest first."""
        with self._lock:
            return list(self._requests)

    @property
    def feedback(self) -> list[FeedbackRecord]:
        """The feedback received through ``POST /v1/feedback``, oldest first."""
        return self._feedback.all()

    def inject(
        self,
        path: str = "/chat/completions",
        status: int | None = 429,
        retry_after: str | int | float | None = None,
        delay: float = 0.0,
        drop: bool = False,
        body: Any = None,
        times: int | None = 1,
        drop_after: int | None = None,
    ) -> Fault:
        """Fault the next ``times`` requests to ``path`` (relative to /v1; ``*`` for any)."""
        fault = Fault(
            path=path,
            status=status,
            retry_after=None if retry_after is None else str(retry_after),
            delay=delay,
            drop=drop,
            body=body,
            times=times,
            drop_after=drop_after,
        )
        self.faults.add(fault)
        return fault

    def clear_faults(self) -> None:
        self.faults.clear()

    def reset(self) -> None:
        """Forget recorded requests, pending faults, cached answers, feedback, files and batches."""
        self.faults.clear()
        self._feedback.clear()
        self.batches.clear()
        with self._lock:
            self._requests.clear()
            self._cache.clear()
            self._prompts_seen.clear()

    # -- internals used by the handler --------------------------------------------------------------------

    def _record(self, request: RecordedRequest) -> None:
        with self._lock:
            self._requests.append(request)

    def _pace(self, headers: Mapping[str, str], body: Any) -> bool:
        """The rate limit (a 429 raised at once) and the latency of one API request; False when the
        simulator stopped during the wait."""
        if self.rate_limit is not None:
            wait = self.rate_limit.take()
            if wait is not None:
                portkey = self.profile != "openai"
                model = body.get("model") if isinstance(body, dict) else None
                err = provider_error(429, provider=provider_of(headers, None, model) if portkey else None)
                err.headers.update(self.rate_limit.headers(wait))
                if portkey:
                    err.headers["x-portkey-retry-attempt-count"] = "0"
                raise err
        return not (self.latency and self._stopping.wait(self.latency))

    def _fault_for(self, route: str, headers: Mapping[str, str]) -> Fault | None:
        text = headers.get(FAULT_HEADER)
        if text is not None:
            try:
                return self.faults.take_header(text, route)
            except (TypeError, ValueError) as err:
                raise gateway_error(400, f"Invalid {FAULT_HEADER} header: {err}") from None
        return self.faults.take(route)

    def _retry_like_the_gateway(
        self, fault: Fault, route: str, headers: Mapping[str, str], body: Any
    ) -> int | None:
        """A config's ``retry`` (hosted and gateway profiles): the failed call is retried upstream, each
        retry meeting the next fault for this path. Returns the retry that succeeded, None when no retry
        applies (no retry config, or a status it does not retry); raises the last failure, with
        ``x-portkey-retry-attempt-count: -1``, when every retry failed too."""
        attempts, codes = _retry_policy(self.profile, headers)
        if not attempts or fault.status not in codes:
            return None
        for attempt in range(1, attempts + 1):
            again = self._fault_for(route, headers)
            if again is None or not _failing(again):
                return attempt
            fault = again
        raise self._fault_error(fault, headers, body, retry_count="-1")

    def _fall_back_like_the_gateway(
        self, fault: Fault, route: str, headers: Mapping[str, str], body: Any
    ) -> int | None:
        """A fallback config (portkey profiles): a failure whose status its ``on_status_codes`` lists (any
        error status without them) moves on to the next target, which meets the next fault for this path.
        Returns the target that answered, None when the config does not fall back from this failure;
        raises the last target's failure when every target failed."""
        targets, codes = _fallback_policy(self.profile, headers)
        if len(targets) < 2 or (codes is not None and fault.status not in codes):
            return None
        for index in range(1, len(targets)):
            again = self._fault_for(route, headers)
            if again is None or not _failing(again):
                return index
            fault = again
            if codes is not None and fault.status not in codes:
                break
        raise self._fault_error(fault, headers, body)

    def _fault_reply(
        self, fault: Fault, route: str, headers: Mapping[str, str], body: Any, extra: dict[str, str]
    ) -> None:
        raise self._fault_error(fault, headers, body)

    def _fault_error(
        self, fault: Fault, headers: Mapping[str, str], body: Any, retry_count: str = "0"
    ) -> SimError:
        assert fault.status is not None
        if fault.body is not None:
            err = SimError(fault.status, fault.body)
        else:
            portkey = self.profile != "openai"
            model = body.get("model") if isinstance(body, dict) else None
            err = provider_error(
                fault.status, provider=provider_of(headers, None, model) if portkey else None
            )
        if fault.retry_after is not None:
            err.headers["retry-after"] = fault.retry_after
        if self.profile != "openai":
            err.headers["x-portkey-retry-attempt-count"] = retry_count
        return err

    def _admin(self, method: str, path: str, raw: bytes) -> tuple[int, Any]:
        if (method, path) == ("GET", "/health"):
            return 200, {"status": "ok", "profile": self.profile}
        if (method, path) == ("GET", "/requests"):
            return 200, {"requests": [r.to_json() for r in self.requests]}
        if (method, path) == ("GET", "/feedback"):
            return 200, {"feedback": [f.to_json() for f in self.feedback]}
        if (method, path) == ("GET", "/faults"):
            return 200, {"faults": [f.to_json() for f in self.faults.pending()]}
        if (method, path) == ("DELETE", "/faults"):
            self.clear_faults()
            return 200, {"status": "ok"}
        if (method, path) == ("POST", "/reset"):
            self.reset()
            return 200, {"status": "ok"}
        if (method, path) == ("POST", "/faults"):
            try:
                fault = fault_from_json(json.loads(raw or b"{}"))
            except (TypeError, ValueError) as err:
                return 400, {"status": "failure", "message": f"Invalid fault: {err}"}
            self.faults.add(fault)
            return 201, {"fault": fault.to_json()}
        return 404, {"message": "Not Found", "ok": False}

    def _not_found(self, method: str, path: str) -> SimError:
        """An unknown path (``path`` as sent): the gateway's 404, or OpenAI's on the openai profile."""
        if self.profile == "openai":
            return without_code(provider_error(404, f"Invalid URL ({method} {path})"))
        return SimError(404, {"message": "Not Found", "ok": False})

    def _reply_to(
        self,
        method: str,
        route: str,
        headers: Mapping[str, str],
        body: Any,
        bad_json: bool,
        query: Mapping[str, str] | None = None,
        target: int = 0,
    ) -> tuple[_HTTPReply, dict[str, str]]:
        found = endpoint_of(method, route)
        if found is None or (found[0] in PORTKEY_ONLY and self.profile == "openai"):
            raise self._not_found(method, f"/v1{route}")
        endpoint, param = found
        portkey = self.profile != "openai"
        check_auth(self.profile, headers, self.api_keys)
        if endpoint == "models":
            return _HTTPReply(200, _models_page(self.models, query or {})), {}
        if endpoint == "feedback":
            return _HTTPReply(200, self._record_feedback(body, bad_json)), {}
        if endpoint == "model":
            more: dict[str, str] = {}
            if portkey:
                more = self._portkey_headers(headers, self._portkey_rules(headers, param), param)
            return _HTTPReply(200, self._model(param, more.get("x-portkey-provider"))), more
        if bad_json or not isinstance(body, dict):
            message = "We could not parse the JSON body of your request: send a JSON object."
            raise provider_error(400, message, provider="openai" if portkey else None)
        config: dict[str, Any] | None = None
        more = {}
        if portkey:
            routed = endpoint not in ("prompt", "render")
            config = self._portkey_rules(headers, body.get("model"), routed)
            for overrides in _overrides(config, target):
                body = {**body, **overrides}
            more = self._portkey_headers(headers, config, body.get("model"), target)
        provider_name = more.get("x-portkey-provider")
        if endpoint in ("prompt", "render"):
            template = self.prompts.find(param)
            if template is None:
                raise gateway_error(404, f"Prompt {param} not found")
            route, body = self._prompt_request(template, body, provider_name)
            more = self._portkey_headers(headers, config, body.get("model"))  # the template's model's
            if endpoint == "render":  # no model call, but the same 400s the completion would answer
                self._generation(route, body, provider_name)
                return _HTTPReply(200, {"success": True, "data": body}), more
        guarded = portkey and route in _GUARDED and body.get("stream") is not True
        before = run_guardrails(config, "input", _request_text(body)) if guarded else []
        if denied(before):  # before any model is called
            raise SimError(446, _denial(before, []))
        cache = (config or {}).get("cache")
        cache_mode = cache.get("mode") if isinstance(cache, dict) else None
        reply = self._cached(route, headers, body, cache_mode, provider_name)
        if guarded:
            reply = _with_hook_results(reply, config, before)
        return reply, more

    def _batch_reply(
        self, method: str, route: str, headers: Mapping[str, str], raw: bytes, query: Mapping[str, str]
    ) -> BatchReply:
        """Files and batches (``_batches.py``): the same key and routing rules as any call; each line of
        a batch is answered as the same request sent directly, under the headers that created it."""
        check_auth(self.profile, headers, self.api_keys)
        if self.profile != "openai":
            self._portkey_rules(headers, None)
        parts = route.strip("/").split("/")
        book = self.batches
        if parts[0] == "files":
            if method == "POST" and len(parts) == 1:
                return book.upload(headers.get("content-type", ""), raw)
            if method == "GET" and (len(parts) == 2 or (len(parts) == 3 and parts[2] == "content")):
                return book.file(parts[1], content=len(parts) == 3)
        elif len(parts) == 1 and method == "POST":
            try:
                body = json.loads(raw) if raw else None
            except ValueError:
                body = None
            return book.create(body, lambda endpoint, line: self._batch_line(endpoint, line, headers))
        elif len(parts) == 1 and method == "GET":
            return book.list(query)
        elif len(parts) == 2 and method == "GET":
            return book.get(parts[1])
        elif len(parts) == 3 and parts[2] == "cancel" and method == "POST":
            return book.cancel(parts[1])
        raise self._not_found(method, f"/v1{route}")

    def _batch_line(self, endpoint: str, body: Any, headers: Mapping[str, str]) -> tuple[int, Any]:
        """One batch line's answer: as the simulator answers the request sent directly."""
        if body.get("stream") is True:
            return 400, provider_error(400, "Streaming is not supported in batches.", param="stream").body
        return answer_of(lambda: self._reply_to("POST", endpoint[3:], headers, body, False)[0])

    def _portkey_rules(
        self, headers: Mapping[str, str], model: Any, routed: bool = True
    ) -> dict[str, Any] | None:
        """Check metadata, config and (when ``routed``) the routing rule; returns the parsed config."""
        check_metadata(headers)
        config = check_config(self.profile, headers)
        check_routing(headers, model, not routed)
        return config

    def _portkey_headers(
        self, headers: Mapping[str, str], config: Mapping[str, Any] | None, model: Any, target: int = 0
    ) -> dict[str, str]:
        """The Portkey response headers of an answered request. A Model Catalog slug (``@openai-prod``)
        names credentials; Portkey answers with the provider behind it, here the known model's owner."""
        provider = provider_of(headers, config, model)
        slug = headers.get("x-portkey-provider", "").startswith("@") or (
            not headers.get("x-portkey-provider")
            and not config
            and isinstance(model, str)
            and model.startswith("@")
        )
        known = self.models.find(model) if slug and isinstance(model, str) else None
        more = {
            "x-portkey-provider": known.owned_by if known is not None else provider,
            "x-portkey-retry-attempt-count": "0",
        }
        if config:  # as the open-source gateway: "config", or the target that answered
            targets = config.get("targets")
            used = f"config.targets[{target}]" if isinstance(targets, list) and targets else "config"
            more["x-portkey-last-used-option-index"] = used
        return more

    def _record_feedback(self, body: Any, bad_json: bool) -> dict[str, Any]:
        if bad_json:
            raise gateway_error(400, "Invalid feedback: the body is not valid JSON")
        try:
            records = parse_feedback(body)
        except FeedbackError as err:
            raise gateway_error(400, f"Invalid feedback: {err}") from None
        return self._feedback.add(records)

    def _model(self, model: str, provider: str | None) -> dict[str, Any]:
        found = self.models.find(model)
        if found is None:
            message = f"The model '{model}' does not exist or you do not have access to it."
            raise provider_error(404, message, param="model", provider=provider)
        return found.to_json()

    def _prompt_request(
        self, template: Template, body: dict[str, Any], provider: str | None
    ) -> tuple[str, dict[str, Any]]:
        variables = body.get("variables", {})
        if not isinstance(variables, dict):
            raise provider_error(400, "variables must be a JSON object", param="variables", provider=provider)
        request = template.rendered(variables)
        request.update({k: v for k, v in body.items() if k != "variables"})
        return ("/chat/completions" if template.messages is not None else "/completions"), request

    def _cached(
        self,
        route: str,
        headers: Mapping[str, str],
        body: dict[str, Any],
        mode: str | None,
        provider: str | None,
    ) -> _HTTPReply:
        """Portkey's cache, simplified: with a cache config, the same request gives the stored answer."""
        if mode is None or body.get("stream") is True:
            reply = self._compute(route, body, provider)
            reply.cache_status = "DISABLED" if mode is None else "MISS"
            return reply
        label = "SEMANTIC " if mode == "semantic" else ""
        key = json.dumps([route, headers.get("x-portkey-cache-namespace"), body], sort_keys=True)
        refresh = "x-portkey-cache-force-refresh" in headers
        with self._lock:
            stored = None if refresh else self._cache.get(key)
        if stored is not None:
            return _HTTPReply(200, stored, cache_status=f"{label}HIT")
        reply = self._compute(route, body, provider)
        self._prompt_cached(route, body, reply)
        if reply.status == 200:
            with self._lock:
                self._cache[key] = reply.body
        reply.cache_status = "REFRESH" if refresh else f"{label}MISS"
        return reply

    def _prompt_cached(self, route: str, body: Mapping[str, Any], reply: _HTTPReply) -> None:
        """A computed answer's usage says how much of its prompt the provider read from its own prompt
        cache (``prompt_tokens_details.cached_tokens``): all of it when the same model was sent the same
        prompt before while the cache was on, else none. So a cost with cached tokens runs offline."""
        usage = reply.body.get("usage") if isinstance(reply.body, dict) else None
        if reply.status != 200 or not isinstance(usage, dict) or "completion_tokens" not in usage:
            return
        prompt = json.dumps(
            [route, body.get("model"), body.get("messages", body.get("prompt"))], sort_keys=True
        )
        with self._lock:
            seen = prompt in self._prompts_seen
            self._prompts_seen.add(prompt)
        usage["prompt_tokens_details"] = {"cached_tokens": usage["prompt_tokens"] if seen else 0}

    @staticmethod
    def _bad(provider: str | None) -> Any:
        def bad(message: str, param: str | None, code: str | None = None) -> SimError:
            return provider_error(400, message, param=param, provider=provider, code=code)

        return bad

    @staticmethod
    def _model_of(body: Mapping[str, Any], bad: Any) -> str:
        model = body.get("model")
        if not isinstance(model, str) or not model:
            raise bad("you must provide a model parameter", "model")
        return model

    def _generation(self, route: str, body: dict[str, Any], provider: str | None) -> _Generation:
        """Check a chat or text completion body as OpenAI does (400 naming the parameter)."""
        bad = self._bad(provider)
        model = self._model_of(body, bad)
        self.models.check(model, route, provider)
        shown_model = bodies.model_name(model)
        max_tokens = body.get("max_completion_tokens", body.get("max_tokens"))
        if max_tokens is not None and (not _integer(max_tokens) or max_tokens < 1):
            raise bad(
                f"Invalid 'max_tokens': expected an integer of at least 1, got {max_tokens!r}.", "max_tokens"
            )
        temperature = body.get("temperature")
        if temperature is not None and (not _number(temperature) or not 0 <= temperature <= 2):
            raise bad(
                f"Invalid 'temperature': expected a number from 0 to 2, got {temperature!r}.", "temperature"
            )
        n = body.get("n", 1)
        if not _integer(n) or not 1 <= n <= 16:
            raise bad(f"Invalid 'n': expected an integer from 1 to 16, got {n!r}.", "n")
        stop = body.get("stop")
        if stop is not None and not (
            isinstance(stop, str)
            or (isinstance(stop, list) and len(stop) <= 4 and all(isinstance(s, str) for s in stop))
        ):
            raise bad("Invalid 'stop': expected a string or an array of at most 4 strings.", "stop")
        stream = body.get("stream", False)
        if not isinstance(stream, bool):
            raise bad("Invalid 'stream': expected a boolean.", "stream")
        options = body.get("stream_options")
        include_usage = isinstance(options, dict) and options.get("include_usage") is True

        plan = ChatPlan()
        if route == "/chat/completions":
            messages = body.get("messages")
            if not isinstance(messages, list) or not messages:
                raise bad("'messages' must be a non-empty array.", "messages")
            for i, message in enumerate(messages):
                if not isinstance(message, dict) or message.get("role") not in CHAT_ROLES:
                    raise bad(
                        f"Invalid 'messages[{i}].role': expected one of {', '.join(sorted(CHAT_ROLES))}.",
                        f"messages[{i}].role",
                    )
            check_max_tokens_param(shown_model, body, bad)
            plan = chat_plan(body, bad)
            seed: Any = [shown_model, messages]
            prompt_tokens = bodies.count_tokens(bodies.message_text(messages))
            prompt_tokens += IMAGE_TOKENS * image_count(messages)
        else:
            prompt = body.get("prompt")
            if not isinstance(prompt, (str, list)) or (isinstance(prompt, list) and not prompt):
                raise bad("'prompt' must be a string or a non-empty array.", "prompt")
            seed = [shown_model, prompt]
            prompt_tokens = bodies.count_tokens(bodies.prompt_text(prompt))
        choices = _choices(seed, n, max_tokens, stop, plan, bad)
        # OpenAI answers with the dated snapshot an alias stands for (what a price list names)
        return _Generation(
            DATED_MODELS.get(shown_model, model), stream, include_usage, prompt_tokens, choices
        )

    def _compute(self, route: str, body: dict[str, Any], provider: str | None) -> _HTTPReply:
        if route == "/images/generations":
            if isinstance(body.get("model"), str):
                self.models.check(body["model"], route, provider)
            base_url = self.url.removesuffix("/v1")
            image_models = self.models.ids("image")
            return _HTTPReply(200, images_response(body, base_url, self._bad(provider), image_models))
        if route == "/embeddings":
            bad = self._bad(provider)
            model = self._model_of(body, bad)
            self.models.check(model, route, provider)
            return _HTTPReply(200, self._embeddings(model, body, bad))
        request = self._generation(route, body, provider)
        choices = request.choices
        model, tokens, usage = request.model, request.prompt_tokens, request.include_usage
        if route == "/chat/completions":
            if request.stream:
                return _HTTPReply(200, chunks=bodies.chat_chunks(model, choices, tokens, usage))
            return _HTTPReply(200, bodies.chat_completion(model, choices, tokens))
        if request.stream:
            return _HTTPReply(200, chunks=bodies.completion_chunks(model, choices, tokens, usage))
        return _HTTPReply(200, bodies.text_completion(model, choices, tokens))

    @staticmethod
    def _embeddings(model: str, body: Mapping[str, Any], bad: Any) -> dict[str, Any]:
        raw = body.get("input")
        items: list[Any]
        if isinstance(raw, str) or (isinstance(raw, list) and raw and all(_integer(t) for t in raw)):
            items = [raw]
        elif (
            isinstance(raw, list)
            and raw
            and all(
                isinstance(x, str) or (isinstance(x, list) and x and all(_integer(t) for t in x)) for x in raw
            )
        ):
            items = list(raw)
        else:
            raise bad("'input' must be a string, an array of strings or an array of token arrays.", "input")
        if any(isinstance(x, str) and not x for x in items):
            raise bad("'input' cannot contain an empty string.", "input")
        size = bodies.embedding_size(model)
        dimensions = body.get("dimensions")
        if dimensions is not None:
            if bodies.model_name(model) in bodies.FIXED_SIZE_MODELS:
                raise bad("This model does not support specifying dimensions.", "dimensions")
            if not _integer(dimensions) or not 1 <= dimensions <= size:
                raise bad(f"Invalid 'dimensions': expected an integer from 1 to {size}.", "dimensions")
        encoding = body.get("encoding_format", "float")
        if encoding not in ("float", "base64"):
            raise bad("Invalid 'encoding_format': expected 'float' or 'base64'.", "encoding_format")
        return bodies.embeddings_response(model, items, dimensions, encoding)


def _models_page(catalog: ModelCatalog, query: Mapping[str, str]) -> dict[str, Any]:
    """``GET /models``, filtered by ``provider`` (the owner, in any case) and paged by ``offset`` and
    ``limit``, as Portkey's list takes them; a bad number is the gateway's 400."""
    listed: dict[str, Any] = {"object": "list", "data": [model.to_json() for model in catalog.all()]}
    provider = query.get("provider")
    if provider:
        wanted = provider.removeprefix("@").lower()
        listed["data"] = [model for model in listed["data"] if model["owned_by"].lower() == wanted]
    bounds = {"offset": 0, "limit": len(listed["data"])}
    for key, least in (("offset", 0), ("limit", 1)):
        text = query.get(key)
        if text is None:
            continue
        if not text.isdigit() or int(text) < least:
            raise gateway_error(400, f"Invalid {key}: expected a whole number of at least {least}")
        bounds[key] = int(text)
    start = bounds["offset"]
    listed["data"] = listed["data"][start : start + bounds["limit"]]
    return listed


def _api_keys(keys: Iterable[str] | None) -> frozenset[str] | None:
    """The accepted keys, checked: non-empty text without surrounding spaces (a header cannot carry them)."""
    if keys is None:
        return None
    if isinstance(keys, str):
        raise ValueError("api_keys must be a list of keys, not one string")
    accepted = frozenset(keys)
    if not accepted:
        raise ValueError("api_keys must hold at least one key (None accepts any key)")
    for key in accepted:
        if not isinstance(key, str) or not key or key != key.strip():
            raise ValueError("each API key must be non-empty text without leading or trailing spaces")
    return accepted


def wait_forever(sim: Simulator) -> None:
    """Block until Ctrl-C (used by ``tooljet-portkey serve``)."""
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        sim.stop()


# ---------------------------------------------------------------------------------------------------
# Fallbacks and guardrails of a config (the gateway's strategy fallback, input and output guardrails)

_GUARDED = frozenset({"/chat/completions", "/completions"})


def _parsed_config(profile: str, headers: Mapping[str, str]) -> Mapping[str, Any]:
    raw = headers.get("x-portkey-config", "")
    if profile == "openai" or not raw.startswith("{"):
        return {}
    try:
        config = json.loads(raw)
    except ValueError:
        return {}
    return config if isinstance(config, dict) else {}


def _fallback_policy(profile: str, headers: Mapping[str, str]) -> tuple[list[Any], list[int] | None]:
    """A fallback config's targets and ``on_status_codes`` (None: any error status falls back)."""
    config = _parsed_config(profile, headers)
    strategy = config.get("strategy")
    targets = config.get("targets")
    if not isinstance(strategy, dict) or strategy.get("mode") != "fallback" or not isinstance(targets, list):
        return [], None
    codes = strategy.get("on_status_codes")
    return targets, (codes if isinstance(codes, list) else None)


def _overrides(config: Mapping[str, Any] | None, target: int) -> list[dict[str, Any]]:
    """The override_params that apply: the config's own, then those of the target that answers."""
    found = []
    for node in (config or {}, _target(config, target)):
        overrides = node.get("override_params")
        if isinstance(overrides, dict):
            found.append(overrides)
    return found


def _target(config: Mapping[str, Any] | None, index: int) -> Mapping[str, Any]:
    targets = (config or {}).get("targets")
    if isinstance(targets, list) and index < len(targets) and isinstance(targets[index], dict):
        return dict(targets[index])
    return {}


def _request_text(body: Mapping[str, Any]) -> str:
    """What an input guardrail reads: the last message's text (chat), or the prompt (completions)."""
    messages = body.get("messages")
    if isinstance(messages, list) and messages and isinstance(messages[-1], dict):
        content = messages[-1].get("content")
        if isinstance(content, list):
            return " ".join(
                p.get("text", "") for p in content if isinstance(p, dict) and isinstance(p.get("text"), str)
            )
        return content if isinstance(content, str) else ""
    prompt = body.get("prompt")
    return prompt if isinstance(prompt, str) else ""


def _answer_text(answer: Any) -> str:
    """What an output guardrail reads: the first choice's text."""
    choices = answer.get("choices") if isinstance(answer, dict) else None
    first = choices[0] if isinstance(choices, list) and choices and isinstance(choices[0], dict) else {}
    message = first.get("message")
    text = message.get("content") if isinstance(message, dict) else first.get("text")
    return text if isinstance(text, str) else ""


def _denial(before: list[dict[str, Any]], after: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "error": {"message": DENIED_MESSAGE, "type": "hooks_failed", "param": None, "code": None},
        "hook_results": {"before_request_hooks": before, "after_request_hooks": after},
    }


def _with_hook_results(
    reply: _HTTPReply, config: Mapping[str, Any] | None, before: list[dict[str, Any]]
) -> _HTTPReply:
    """The answer with its guardrails' results: 446 when an output guardrail denies it, 246 when a check
    failed, else the answer with ``hook_results`` (when there were guardrails at all)."""
    if reply.chunks is not None or reply.status != 200:
        return reply
    after = run_guardrails(config, "output", _answer_text(reply.body))
    if not before and not after:
        return reply
    if denied(after):
        raise SimError(446, _denial(before, after))
    body = {**reply.body, "hook_results": {"before_request_hooks": before, "after_request_hooks": after}}
    status = 246 if failed(before) or failed(after) else 200
    return _HTTPReply(status, body, None, reply.cache_status)
