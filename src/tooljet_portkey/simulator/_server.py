"""The simulator's HTTP server: the standard library's ThreadingHTTPServer with HTTP/1.1 keep-alive.

One ``Simulator`` serves one profile on one loopback port from a background thread. Requests are
recorded, faults applied, Portkey's rules checked (per profile), and answers made by ``_answers``.
"""

from __future__ import annotations

import contextlib
import json
import socket
import sys
import threading
import time
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from . import _answers as answers
from ._faults import FAULT_HEADER, Fault, FaultBook, fault_from_json
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
)

__all__ = ["RecordedRequest", "Simulator"]

ADMIN_PREFIX = "/_simulator"
IDLE_KEEPALIVE_SECONDS = 65.0
SECRET_HEADERS = frozenset({"x-portkey-api-key", "x-portkey-virtual-key", "authorization"})
CHAT_ROLES = frozenset({"system", "developer", "user", "assistant", "tool", "function"})
MODELS = (
    ("gpt-4o-mini", "openai"),
    ("gpt-4o", "openai"),
    ("gpt-3.5-turbo-instruct", "openai"),
    ("text-embedding-3-small", "openai"),
    ("text-embedding-3-large", "openai"),
    ("text-embedding-ada-002", "openai"),
)


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
class _Reply:
    status: int
    body: Any = None
    chunks: Iterator[dict[str, Any]] | None = None
    cache_status: str = "DISABLED"


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False

    def __init__(self, address: tuple[str, int], sim: Simulator) -> None:
        self.sim = sim
        super().__init__(address, _Handler)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that went away is normal here (drops, timeouts); anything else is kept for tests."""
        error = sys.exc_info()[1]
        if error is not None and not isinstance(error, (ConnectionError, TimeoutError)):
            self.sim.errors.append(error)


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _integer(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server
    timeout = IDLE_KEEPALIVE_SECONDS

    def version_string(self) -> str:
        return "portkey-simulator"

    def setup(self) -> None:
        super().setup()
        # headers and body leave in separate writes: without this, Nagle's algorithm and the client's
        # delayed ACK hold every answer back ~40 ms
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.server.sim._track(self.connection, add=True)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.sim._track(self.connection, add=False)

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
            raw = self._read_body()
            if path.startswith(ADMIN_PREFIX):
                status, body = sim._admin(self.command, path[len(ADMIN_PREFIX) :], raw)
                self._send_json(status, body, {})
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

    def _serve(
        self, path: str, headers: dict[str, str], body: Any, bad_json: bool, extra: dict[str, str]
    ) -> None:
        sim = self.server.sim
        route = path[3:] if path.startswith("/v1/") else path
        fault = sim._fault_for(route, headers)
        retried: int | None = 0
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
                    sim._fault_reply(fault, route, headers, body, extra)
                fault = None
        reply, more = sim._answer(self.command, route, headers, body, bad_json)
        extra.update(more)
        if fault is None and retried:
            extra["x-portkey-retry-attempt-count"] = str(retried)
        if sim.profile != "openai":
            extra["x-portkey-cache-status"] = reply.cache_status
        if reply.chunks is not None:
            self._send_stream(reply.chunks, extra, fault.drop_after if fault else None)
        else:
            self._send_json(reply.status, reply.body, extra)


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


class Simulator:
    """An offline, Portkey-compatible HTTP server on loopback.

    ``profile``: ``hosted`` (Portkey's hosted API: an API key and a routing header are required),
    ``gateway`` (a self-hosted gateway: routing required, no key) or ``openai`` (a plain
    OpenAI-compatible upstream, no Portkey rules). ``prompts``: a JSON file or dict of prompt templates
    added to the built-in demo prompts. Use as a context manager, or ``start()`` / ``stop()``.
    """

    def __init__(
        self,
        profile: str = "hosted",
        host: str = "127.0.0.1",
        port: int = 0,
        prompts: str | Path | Mapping[str, Any] | None = None,
    ) -> None:
        if profile not in PROFILES:
            raise ValueError(f"profile must be one of {', '.join(PROFILES)}, not {profile!r}")
        self.profile = profile
        self.host = host
        self.port = port
        self.prompts = PromptBook(prompts)
        self.faults = FaultBook()
        self.errors: list[BaseException] = []
        self.log: Any = None  # a callable taking one line, to log each request (the CLI's serve)
        self._requests: list[RecordedRequest] = []
        self._lock = threading.Lock()
        self._cache: dict[str, Any] = {}
        self._connections: set[socket.socket] = set()
        self._stopping = threading.Event()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    def __repr__(self) -> str:
        state = self.url if self._server else "stopped"
        return f"Simulator(profile={self.profile!r}, {state})"

    # -- lifecycle -----------------------------------------------------------------------------------

    def start(self) -> Simulator:
        if self._server is not None:
            return self
        self._stopping.clear()
        self._server = _Server((self.host, self.port), self)
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="portkey-simulator",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is None:
            return
        self._stopping.set()
        server.shutdown()
        with self._lock:
            connections = list(self._connections)
        for conn in connections:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
        server.server_close()
        if self._thread is not None:
            self._thread.join()
            self._thread = None

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
        """Forget recorded requests, pending faults and cached answers."""
        self.faults.clear()
        with self._lock:
            self._requests.clear()
            self._cache.clear()

    # -- internals used by the handler --------------------------------------------------------------------

    def _track(self, conn: socket.socket, add: bool) -> None:
        with self._lock:
            if add:
                self._connections.add(conn)
            else:
                self._connections.discard(conn)

    def _record(self, request: RecordedRequest) -> None:
        with self._lock:
            self._requests.append(request)

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

    def _not_found(self, method: str, route: str) -> SimError:
        if self.profile == "openai":
            return provider_error(404, f"Invalid URL ({method} /v1{route})")
        return SimError(404, {"message": "Not Found", "ok": False})

    def _answer(
        self, method: str, route: str, headers: Mapping[str, str], body: Any, bad_json: bool
    ) -> tuple[_Reply, dict[str, str]]:
        endpoints = {
            ("POST", "/chat/completions"),
            ("POST", "/completions"),
            ("POST", "/embeddings"),
            ("GET", "/models"),
        }
        prompt_id = None
        parts = route.split("/")
        if method == "POST" and len(parts) == 4 and parts[1] == "prompts" and parts[3] == "completions":
            prompt_id = parts[2]
        if (method, route) not in endpoints and (prompt_id is None or self.profile == "openai"):
            raise self._not_found(method, route)

        portkey = self.profile != "openai"
        config: dict[str, Any] | None = None
        if portkey:
            check_auth(self.profile, headers)
        if method == "GET":
            return _Reply(200, self._models()), {}
        if bad_json or not isinstance(body, dict):
            message = "We could not parse the JSON body of your request: send a JSON object."
            raise provider_error(400, message, provider="openai" if portkey else None)
        more: dict[str, str] = {}
        if portkey:
            check_metadata(headers)
            config = check_config(self.profile, headers)
            check_routing(headers, body.get("model"), prompt_id is not None)
            overrides = (config or {}).get("override_params")
            if isinstance(overrides, dict):
                body = {**body, **overrides}
            provider = provider_of(headers, config, body.get("model"))
            more = {"x-portkey-provider": provider, "x-portkey-retry-attempt-count": "0"}
            if config:  # as the open-source gateway: "config", or the target that answered
                targets = config.get("targets")
                used = "config.targets[0]" if isinstance(targets, list) and targets else "config"
                more["x-portkey-last-used-option-index"] = used
        provider_name = more.get("x-portkey-provider") if portkey else None

        cache_mode = (
            (config or {}).get("cache", {}).get("mode")
            if isinstance((config or {}).get("cache"), dict)
            else None
        )
        if prompt_id is not None:
            template = self.prompts.find(prompt_id)
            if template is None:
                raise gateway_error(404, f"Prompt {prompt_id} not found")
            route, body = self._prompt_request(template, body, provider_name)
        reply = self._cached(route, headers, body, cache_mode, provider_name)
        return reply, more

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
    ) -> _Reply:
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
            return _Reply(200, stored, cache_status=f"{label}HIT")
        reply = self._compute(route, body, provider)
        if reply.status == 200:
            with self._lock:
                self._cache[key] = reply.body
        reply.cache_status = "REFRESH" if refresh else f"{label}MISS"
        return reply

    def _models(self) -> dict[str, Any]:
        return {
            "object": "list",
            "data": [{"id": m, "object": "model", "created": 1715367049, "owned_by": o} for m, o in MODELS],
        }

    def _compute(self, route: str, body: dict[str, Any], provider: str | None) -> _Reply:
        def bad(message: str, param: str | None) -> SimError:
            return provider_error(400, message, param=param, provider=provider)

        model = body.get("model")
        if not isinstance(model, str) or not model:
            raise bad("you must provide a model parameter", "model")
        shown_model = answers.model_name(model)
        if route == "/embeddings":
            return _Reply(200, self._embeddings(model, body, bad))

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
            seed: Any = [shown_model, messages]
            prompt_tokens = answers.count_tokens(answers.message_text(messages))
        else:
            prompt = body.get("prompt")
            if not isinstance(prompt, (str, list)) or (isinstance(prompt, list) and not prompt):
                raise bad("'prompt' must be a string or a non-empty array.", "prompt")
            seed = [shown_model, prompt]
            prompt_tokens = answers.count_tokens(answers.prompt_text(prompt))
        choices = [answers.answer(seed, i, max_tokens, stop) for i in range(n)]
        if route == "/chat/completions":
            if stream:
                return _Reply(200, chunks=answers.chat_chunks(model, choices, prompt_tokens, include_usage))
            return _Reply(200, answers.chat_completion(model, choices, prompt_tokens))
        if stream:
            return _Reply(200, chunks=answers.completion_chunks(model, choices, prompt_tokens, include_usage))
        return _Reply(200, answers.text_completion(model, choices, prompt_tokens))

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
        size = answers.embedding_size(model)
        dimensions = body.get("dimensions")
        if dimensions is not None:
            if answers.model_name(model) in answers.FIXED_SIZE_MODELS:
                raise bad("This model does not support specifying dimensions.", "dimensions")
            if not _integer(dimensions) or not 1 <= dimensions <= size:
                raise bad(f"Invalid 'dimensions': expected an integer from 1 to {size}.", "dimensions")
        encoding = body.get("encoding_format", "float")
        if encoding not in ("float", "base64"):
            raise bad("Invalid 'encoding_format': expected 'float' or 'base64'.", "encoding_format")
        return answers.embeddings_response(model, items, dimensions, encoding)


def wait_forever(sim: Simulator) -> None:
    """Block until Ctrl-C (used by ``tooljet-portkey serve``)."""
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        sim.stop()
