"""The playground's server: the standard library's ThreadingHTTPServer on a loopback address.

Every request must carry the session's random token as the first path segment (``/<token>/...``) and a
``Host`` header naming exactly the address and port the server bound (a page on another site that
rebinds its DNS name to 127.0.0.1 sends its own name, and is refused). POSTs must be JSON, and an
``Origin``, when sent, must be the playground's own. Every JSON answer and every stream event is scrubbed
of the secrets the user typed before it leaves. The page itself is three static files shipped in the
package; its Content-Security-Policy lets it load nothing from anywhere else.
"""

from __future__ import annotations

import hmac
import ipaddress
import json
import secrets
import shlex
from collections.abc import Iterator, Mapping
from importlib import resources
from typing import Any
from urllib.parse import urlsplit

from .._errors import QueryError
from .._loopback import LoopbackHandler, LoopbackHTTPServer, LoopbackService
from .._options import parse_connection
from .._responses import StreamAssembler
from .._service import QueryService, _settings_and_request
from .._spec import load_spec
from .._types import ConnectionStatus
from ..simulator import Simulator
from ..simulator._images import png_of_name
from . import _host as host
from ._connection import ConnectionStore, effective_options
from ._forms import form_layout, load_documents, load_layout, operation_values, secret_keys

__all__ = ["Playground", "check_loopback", "host_allowed", "host_port", "token_route"]

DATA_SOURCE_ID = "playground"
MAX_BODY_BYTES = 8 * 1024 * 1024
# A body over the limit but under this is read and dropped before the 413 (a browser that is still sending
# when the connection closes may see only "failed to fetch"); a larger one is not read at all
MAX_DRAINED_BYTES = 4 * MAX_BODY_BYTES
IDLE_KEEPALIVE_SECONDS = 30.0
# The embedded simulator's stream chunks reach the page this many ms apart, so streaming is seen offline as
# it is online (the simulator alone sends a whole answer in a few ms)
STREAM_PACE_MS = 30.0
MAX_STREAM_PACE_MS = 10_000
STATIC_FILES = {
    "playground.js": "text/javascript; charset=utf-8",
    "playground.css": "text/css; charset=utf-8",
}
SECURITY_HEADERS = {
    # the page may load its own script, style and icon, and talk to its own server: nothing else
    "content-security-policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
        "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    ),
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "no-referrer",
    "cache-control": "no-store",
}


# -- the guards (pure) ----------------------------------------------------------------------------------


def check_loopback(address: str) -> str:
    """The address, when it is a loopback IP address; ValueError otherwise (keys stay on this machine)."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        raise ValueError(
            f"--host must be a loopback IP address such as 127.0.0.1 or ::1, not {address!r}"
        ) from None
    if not ip.is_loopback:
        raise ValueError(f"the playground serves on loopback only: {address} is not a loopback address")
    return address


def host_port(address: str, port: int) -> str:
    """What a browser sends as ``Host`` for this address and port (IPv6 in brackets)."""
    return f"[{address}]:{port}" if ":" in address else f"{address}:{port}"


def host_allowed(header: str | None, expected: str) -> bool:
    """Whether a request's Host header names the bound address and port, and nothing else."""
    return header is not None and header.strip().lower() == expected.lower()


def token_route(path: str, token: str) -> str | None:
    """The route after ``/<token>``: ``""`` for ``/<token>``, ``/api/run`` for ``/<token>/api/run``;
    None when the first segment is not the token (compared in constant time)."""
    if not path.startswith("/"):
        return None
    first, slash, rest = path[1:].partition("/")
    if not hmac.compare_digest(first.encode("utf-8", "surrogateescape"), token.encode("utf-8")):
        return None
    return "/" + rest if slash else ""


def redact(text: str, secrets_typed: tuple[str, ...]) -> str:
    """Replace every secret, raw or as JSON escapes it, with ***."""
    for secret in secrets_typed:
        text = text.replace(secret, "***")
        escaped = json.dumps(secret, ensure_ascii=False)[1:-1]
        if escaped != secret:
            text = text.replace(escaped, "***")
    return text


def _secret_start(text: str, forms: tuple[str, ...]) -> int:
    """How many characters at the end of ``text`` a secret (in one of its forms) could begin with: the
    longest end of it that is the start of one, shorter than the whole."""
    longest = 0
    for form in forms:
        for size in range(min(len(form) - 1, len(text)), longest, -1):
            if text.endswith(form[:size]):
                longest = size
                break
    return longest


class StreamScrubber:
    """One streamed text, scrubbed of secrets across its pieces.

    A key the gateway echoes can arrive split between two chunks, each half harmless on its own. So the
    end of what has come that could be the start of a secret is held back until the next piece shows
    whether it is (then the whole key becomes ***) or not (then it is sent as it is). What ``feed``
    returns never contains a secret, nor the start of one still possible; ``flush`` gives what is held
    when the stream ends.
    """

    def __init__(self, secrets_typed: tuple[str, ...]) -> None:
        self._secrets = secrets_typed
        escaped = (json.dumps(secret, ensure_ascii=False)[1:-1] for secret in secrets_typed)
        self._forms = tuple({*secrets_typed, *escaped})
        self._held = ""

    def feed(self, piece: str) -> str:
        if not self._forms:
            return piece
        text = redact(self._held + piece, self._secrets)
        cut = len(text) - _secret_start(text, self._forms)
        self._held = text[cut:]
        return text[:cut]

    def flush(self) -> str:
        held, self._held = self._held, ""
        return held


class ScrubbedTexts:
    """The text each chunk of a stream adds to the page, scrubbed per choice (a choice's key split
    between two of its chunks, with another choice's chunk between them) and as the page joins them."""

    def __init__(self, secrets_typed: tuple[str, ...]) -> None:
        self._secrets = secrets_typed
        self._choices: dict[int, StreamScrubber] = {}
        self._page = StreamScrubber(secrets_typed)

    def _choice(self, index: int) -> StreamScrubber:
        scrubber = self._choices.get(index)
        if scrubber is None:
            scrubber = self._choices[index] = StreamScrubber(self._secrets)
        return scrubber

    def add(self, chunk: Mapping[str, Any]) -> str:
        """What this chunk lets the page show now."""
        pieces = [self._choice(index).feed(text) for index, text in host.choice_texts(chunk)]
        return self._page.feed("".join(pieces))

    def rest(self) -> str:
        """What was held back, once the stream has ended."""
        pieces = [scrubber.flush() for scrubber in self._choices.values()]
        return self._page.feed("".join(pieces)) + self._page.flush()


class BadRequest(Exception):
    """A request the page should never send, or a connection Save refuses: answered with this status and
    message (and, for a field-named error, its QueryError result beside them)."""

    def __init__(self, status: int, message: str, result: Mapping[str, Any] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.result = dict(result or {})


TOO_LARGE = (
    "The request is larger than the playground accepts ({mib} MiB at most): shorten the longest field, "
    "or send a body this large from Python instead."
)
# Header values the "Copy as curl" text shows as shell variables: the key itself never
CURL_SECRET_HEADERS = {
    "x-portkey-api-key": "$PORTKEY_API_KEY",
    "x-portkey-virtual-key": "$PORTKEY_VIRTUAL_KEY",
    "x-portkey-config": "$PORTKEY_CONFIG",
    "authorization": "Bearer $PROVIDER_API_KEY",
}


def curl_text(
    base_url: str,
    method: str,
    path: str,
    headers: Mapping[str, str],
    body: Any,
    params: Mapping[str, str] | None,
    hidden: frozenset[str],
) -> str:
    """A request as a curl command line; each header in ``hidden`` is a shell variable, never its value."""
    url = base_url.rstrip("/") + path
    if params:
        from urllib.parse import urlencode

        url += "?" + urlencode(params)
    lines = [f"curl -X {method} {shlex.quote(url)}"]
    for name, value in headers.items():
        if name in hidden:
            lines.append(
                f'-H "{name}: {CURL_SECRET_HEADERS.get(name, "$" + name.upper().replace("-", "_"))}"'
            )
        else:
            lines.append(f"-H {shlex.quote(f'{name}: {value}')}")
    if body is not None:
        lines.append("-H 'content-type: application/json'")
        lines.append(f"-d {shlex.quote(json.dumps(body, ensure_ascii=False))}")
    return " \\\n  ".join(lines)


def python_text(source: Mapping[str, str], query: Mapping[str, str], simulated: bool) -> str:
    """The query as a Python script calling ``QueryService.run``, the connection's secrets as
    placeholders the reader fills in."""
    lines = ["from tooljet_portkey import QueryService", ""]
    if simulated:
        lines.append("# The playground answered from its offline simulator: set apiKey to ask Portkey itself")
    lines.append(f"source = {_py_dict(source)}")
    lines.append(f"options = {_py_dict(query)}")
    lines += [
        "",
        "with QueryService() as service:",
        "    result = service.run(source, options)",
        'print(result["data"])',
    ]
    return "\n".join(lines)


def _py_dict(values: Mapping[str, str]) -> str:
    if not values:
        return "{}"
    items = [
        f"    {json.dumps(key)}: {json.dumps(value, ensure_ascii=False)}," for key, value in values.items()
    ]
    return "{\n" + "\n".join(items) + "\n}"


def _text_map(value: Any, what: str) -> dict[str, str]:
    if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
        raise BadRequest(400, f"{what} must be an object of text values, as a host sends them")
    return value


def _chat_history(value: Any) -> list[dict[str, str]]:
    if not isinstance(value, list) or not all(
        isinstance(entry, dict)
        and isinstance(entry.get("message"), str)
        and isinstance(entry.get("type"), str)
        for entry in value
    ):
        raise BadRequest(400, "history must be a list of {message, type} objects")
    return [{"message": entry["message"], "type": entry["type"]} for entry in value]


Event = tuple[str, dict[str, Any]]


# -- the host ----------------------------------------------------------------------------------------


class Playground(LoopbackService):
    """A ToolJet-style host for the plugin, serving its page on loopback.

    ``connection``: initial source options (e.g. from the environment). ``service``: the QueryService the
    page's queries go to (one is made when omitted; the playground closes only the one it made). The
    embedded simulator (``gateway`` profile) runs alongside and answers whenever the connection has
    neither an API key nor a gateway URL; it streams ``stream_pace_ms`` a chunk apart (0: at once).
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        connection: Mapping[str, str] | None = None,
        service: QueryService | None = None,
        stream_pace_ms: float = STREAM_PACE_MS,
    ) -> None:
        super().__init__(check_loopback(host), port)
        self.token = secrets.token_urlsafe(24)
        self.manifest, self.operations = load_documents()
        self.connection = ConnectionStore(self.manifest, connection)
        self._own_service = service is None
        self.service = service if service is not None else QueryService()
        self.simulator = Simulator(profile="gateway", host=self.host)
        if isinstance(stream_pace_ms, bool) or not 0 <= stream_pace_ms <= MAX_STREAM_PACE_MS:
            raise ValueError(
                f"the stream pace must be from 0 to {MAX_STREAM_PACE_MS} ms, not {stream_pace_ms!r}"
            )
        self.stream_pace = stream_pace_ms / 1000
        layout = load_layout()
        self.layout = form_layout(self.operations, layout)
        self.help: dict[str, str] = dict(layout.get("help", {}))

    def __repr__(self) -> str:
        return f"Playground({host_port(self.host, self.port) if self._server else 'stopped'})"

    # -- lifecycle ------------------------------------------------------------------------------------

    thread_name = "tooljet-portkey-playground"

    def _make_server(self) -> _Server:
        return _Server((self.host, self.port), self)

    def start(self) -> Playground:
        if self._server is not None:
            return self
        self.simulator.start()
        try:
            self._serve()
        except OSError:
            self.simulator.stop()
            raise
        return self

    def stop(self) -> None:
        if not self._stop_serving():
            return
        if self._own_service:
            self.service.close()
        self.simulator.stop()

    def __enter__(self) -> Playground:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def address(self) -> str:
        """``127.0.0.1:<port>``: the only Host header the server accepts."""
        return host_port(self.host, self.port)

    @property
    def url(self) -> str:
        """The page's address, token included: ``http://127.0.0.1:<port>/<token>/``."""
        if self._server is None:
            raise RuntimeError("the playground is not running: call start() first")
        return f"http://{self.address}/{self.token}/"

    # -- what the page asks for ----------------------------------------------------------------------

    def source_options(self) -> tuple[dict[str, str], bool]:
        """The options the plugin gets now, and whether the embedded simulator answers."""
        return effective_options(self.connection.options(), self.simulator.url)

    def state(self) -> dict[str, Any]:
        """What the page needs besides the two JSON files: never a secret, only whether it is set."""
        _, simulated = self.source_options()
        mode = host.chat_mode(self.operations)
        chat = None
        if mode is not None:
            chat = {
                "operation": host.CHAT_OPERATION,
                "mode": mode,
                "fills": host.chat_fills(mode),
                "feedback": host.feedback_supported(self.operations),
            }
        return {
            "connection": self.connection.view(),
            "simulator": {"active": simulated, "url": self.simulator.url},
            "streamable": [op for op in operation_values(self.operations) if op in load_spec().streamable],
            "invokeMethod": callable(getattr(self.service, "invoke_method", None)),
            "chat": chat,
        }

    def save_connection(self, changes: Any) -> dict[str, Any]:
        """Apply the changes when the connection they make is one ``run()`` accepts; else refuse them
        all, with the QueryError naming the field (nothing is saved)."""
        changes = _text_map(changes, "changes")
        try:
            proposed = self.connection.preview(changes)
        except ValueError as error:
            raise BadRequest(400, str(error)) from None
        try:
            parse_connection(effective_options(proposed, self.simulator.url)[0])
        except QueryError as error:
            raise BadRequest(400, f"{error.message}: {error.description}", error.to_result()) from None
        self.connection.update(changes)
        return self.state()

    def test_connection(self) -> dict[str, Any]:
        """``test_connection()``'s status and message, and whether the embedded simulator answered."""
        options, simulated = self.source_options()
        status: ConnectionStatus = self.service.test_connection(options)
        return {**status, "simulator": simulated}

    def export(self, options: Any) -> dict[str, Any]:
        """The query to take away: its options as JSON, a Python script, and the request as curl (keys as
        placeholders). A query the plugin refuses answers its QueryError's result instead."""
        query = _text_map(options, "options")
        source, simulated = self.source_options()
        try:
            settings, request = _settings_and_request(source, query, False)
        except QueryError as error:
            return error.to_result()
        hidden = frozenset(name for name in request.headers if request._hides(name, request.headers[name]))
        return {
            "status": "ok",
            "json": json.dumps(query, indent=2, ensure_ascii=False),
            "python": python_text(self._source_placeholders(), query, simulated),
            "curl": curl_text(
                settings.base_url,
                request.method,
                request.path,
                request.headers,
                request.body,
                request.params,
                hidden,
            ),
        }

    def _source_placeholders(self) -> dict[str, str]:
        """The saved connection with every secret field, or value holding a key, as ``<field>``."""
        shown = {}
        secret_fields = secret_keys(self.manifest)
        typed = self.connection.secrets()
        for key, value in self.connection.options().items():
            hides = key in secret_fields or any(secret in value for secret in typed)
            shown[key] = f"<your {key}>" if hides else value
        return shown

    def _source(self) -> tuple[dict[str, str], int]:
        """The source options and the connection's version (the host's "data source updated at")."""
        version = self.connection.version
        source, _ = self.source_options()
        return source, version

    def run(self, options: Any) -> Mapping[str, Any]:
        """One query through ``QueryService.run``: the QueryResult, or the failed result of its error."""
        query = _text_map(options, "options")
        source, version = self._source()
        try:
            return self.service.run(source, query, DATA_SOURCE_ID, version)
        except QueryError as error:
            return error.to_result()

    def stream(self, options: Any, trace_id: str | None = None) -> Iterator[Event]:
        """One query through ``QueryService.stream``: ``chunk`` events with each chunk and its text, then
        ``done`` with the assembled result, or ``error`` with the failed result."""
        query = _text_map(options, "options")
        if "output" in query:  # the page shows the chunks and the answer they fold into: stream them whole
            query = {**query, "output": "full"}
        if trace_id is None:
            trace_id = host.query_trace_id(self.operations, query)
        source, version = self._source()
        return self._stream_events(source, query, version, trace_id)

    def _stream_events(
        self, source: dict[str, str], query: dict[str, str], version: int, trace_id: str | None
    ) -> Iterator[Event]:
        if trace_id:
            yield "start", {"traceId": trace_id}
        try:
            chunks = self.service.stream(source, query, DATA_SOURCE_ID, version)
        except QueryError as error:
            yield "error", error.to_result()
            return
        assembler = StreamAssembler()
        pace = self.stream_pace if self.source_options()[1] else 0.0
        # the page is sent each chunk's text, scrubbed across chunks; the whole answer only once assembled
        texts = ScrubbedTexts(self.connection.secrets())
        try:
            for chunk in chunks:
                if pace and assembler.count and self._stopping.wait(pace):
                    break
                assembler.add(chunk)
                yield "chunk", {"text": texts.add(chunk)}
        except QueryError as error:
            yield from _rest(texts)
            yield "error", error.to_result()
            return
        finally:
            close = getattr(chunks, "close", None)
            if close is not None:
                close()
        yield from _rest(texts)
        # the usage chunk is not yielded: the stream reads it into its metadata
        usage = getattr(chunks, "metadata", {}).get("usage", assembler.usage)
        metadata = host.stream_metadata(assembler.count, usage, trace_id)
        said = getattr(chunks, "metadata", {})
        metadata.update({key: said[key] for key in ("cost", "warnings") if key in said})  # docs/cost.md
        yield "done", {"status": "ok", "data": assembler.result(), "metadata": metadata}

    def chat(self, history: Any, prompt: Any, fields: Any) -> Iterator[Event]:
        """The chat view's turn: the conversation as the chat query, streamed, with a trace id to rate."""
        if not isinstance(prompt, str) or not prompt.strip():
            raise BadRequest(400, "prompt must be a non-empty message")
        try:
            options = host.chat_options(
                self.operations, _text_map(fields, "fields"), _chat_history(history), prompt
            )
        except ValueError as error:
            raise BadRequest(404, str(error)) from None
        trace_id = host.assign_trace_id(self.operations, options)
        return self.stream(options, trace_id)

    def feedback(self, trace_id: Any, rating: Any) -> Mapping[str, Any]:
        """Thumbs up or down on an answer: the feedback operation with that answer's trace id."""
        if not host.feedback_supported(self.operations):
            raise BadRequest(404, f"operations.json has no {host.FEEDBACK_OPERATION} operation")
        if not isinstance(trace_id, str) or not trace_id.strip() or not isinstance(rating, str):
            raise BadRequest(400, "feedback needs a traceId and a rating")
        try:
            options = host.feedback_options(trace_id, rating)
        except ValueError as error:
            raise BadRequest(400, str(error)) from None
        return self.run(options)

    def invoke(self, method: Any, args: Any) -> dict[str, Any]:
        """The service's ``invoke_method`` (what fills a dynamic-selector), when the service has one."""
        invoke_method = getattr(self.service, "invoke_method", None)
        if not callable(invoke_method):
            raise BadRequest(404, "this version of the plugin has no invoke_method")
        if not isinstance(method, str) or not method:
            raise BadRequest(400, "method must be a method name")
        if args is not None and not isinstance(args, dict):
            raise BadRequest(400, "args must be an object")
        source, _ = self.source_options()
        try:
            result: dict[str, Any] = invoke_method(method, source, args)
        except QueryError as error:
            return error.to_result()
        return result


def _drain(stream: Any, length: int) -> None:
    """Read ``length`` bytes of a body and keep none of them."""
    while length > 0:
        piece = stream.read(min(length, 1 << 16))
        if not piece:
            return
        length -= len(piece)


def _rest(texts: ScrubbedTexts) -> Iterator[Event]:
    """One more ``chunk`` event with the text held back at the end of a stream, when there is some."""
    rest = texts.rest()
    if rest:
        yield "chunk", {"text": rest}


# -- HTTP ---------------------------------------------------------------------------------------------


class _Server(LoopbackHTTPServer):
    def __init__(self, address: tuple[str, int], playground: Playground) -> None:
        self.playground = playground
        super().__init__(address, _Handler, playground)


def _static(name: str) -> bytes:
    if name == "icon.svg":
        return resources.files("tooljet_portkey").joinpath("icon.svg").read_bytes()
    return resources.files(__package__).joinpath("static").joinpath(name).read_bytes()


class _Handler(LoopbackHandler):
    server: _Server
    timeout = IDLE_KEEPALIVE_SECONDS

    def version_string(self) -> str:
        return "tooljet-portkey-playground"

    def log_message(self, format: str, *args: Any) -> None:
        """Silent: a request line holds the token."""

    def do_GET(self) -> None:
        self._handle("GET")

    def do_HEAD(self) -> None:
        self._handle("HEAD")

    def do_POST(self) -> None:
        self._handle("POST")

    def do_PUT(self) -> None:
        self._handle("PUT")

    def do_DELETE(self) -> None:
        self._handle("DELETE")

    # -- answers ----------------------------------------------------------------------------------------

    def _headers(self, status: int, content_type: str, length: int | None, **extra: str) -> None:
        self.send_response(status)
        for key, value in {**SECURITY_HEADERS, **extra}.items():
            self.send_header(key, value)
        self.send_header("content-type", content_type)
        if length is None:
            self.send_header("connection", "close")
            self.close_connection = True
        else:
            self.send_header("content-length", str(length))
        self.end_headers()

    def _send(self, status: int, content_type: str, body: bytes, **extra: str) -> None:
        self._headers(status, content_type, len(body), **extra)
        if self.command != "HEAD":
            self.wfile.write(body)

    def _send_text(self, status: int, text: str) -> None:
        self._send(status, "text/plain; charset=utf-8", (text + "\n").encode("utf-8"))

    def _send_json(self, status: int, value: Any) -> None:
        text = redact(json.dumps(value, ensure_ascii=False), self.server.playground.connection.secrets())
        self._send(status, "application/json; charset=utf-8", text.encode("utf-8"))

    def _send_events(self, events: Iterator[Event]) -> None:
        """Server-sent events, each written and flushed as it comes; a browser that leaves ends the stream."""
        playground = self.server.playground
        self._headers(200, "text/event-stream; charset=utf-8", None)
        try:
            for name, data in events:
                text = redact(json.dumps(data, ensure_ascii=False), playground.connection.secrets())
                self.wfile.write(f"event: {name}\ndata: {text}\n\n".encode())
                self.wfile.flush()
        except OSError:
            pass
        finally:
            close = getattr(events, "close", None)
            if close is not None:
                close()

    # -- one request ----------------------------------------------------------------------------------

    def _handle(self, method: str) -> None:
        playground = self.server.playground
        if method not in ("GET", "HEAD", "POST"):
            self.close_connection = True  # a body it may carry is not read
        if not host_allowed(self.headers.get("host"), playground.address):
            self.close_connection = True
            self._send_text(403, "Forbidden: the Host header must be the playground's own address")
            return
        route = token_route(urlsplit(self.path).path, playground.token)
        if route is None:
            self.close_connection = True
            self._send_text(404, "Not found: open the URL the playground printed (it carries the token)")
            return
        try:
            if method in ("GET", "HEAD"):
                self._get(route)
            elif method == "POST":
                self._post(route)
            else:
                raise BadRequest(405, "Method not allowed")
        except BadRequest as error:
            self._send_json(error.status, {**error.result, "error": error.message})
        except Exception as error:  # a bug of ours: say so to the page, keep it for tests
            playground.errors.append(error)
            self._send_json(500, {"error": f"unexpected error in the playground ({type(error).__name__})"})

    def _get(self, route: str) -> None:
        playground = self.server.playground
        if route == "":
            self._send(308, "text/plain; charset=utf-8", b"", location=f"/{playground.token}/")
        elif route == "/":
            self._send(200, "text/html; charset=utf-8", _static("index.html"))
        elif route.startswith("/images/"):
            image = png_of_name(route[len("/images/") :])
            if image is None:
                raise BadRequest(404, "Not found: not an image of the embedded simulator")
            self._send(200, "image/png", image)
        elif route.startswith("/static/") and route[len("/static/") :] in {*STATIC_FILES, "icon.svg"}:
            name = route[len("/static/") :]
            self._send(200, STATIC_FILES.get(name, "image/svg+xml"), _static(name))
        elif route == "/api/spec":
            spec = {"manifest": playground.manifest, "operations": playground.operations}
            self._send_json(200, {**spec, "layout": playground.layout, "help": playground.help})
        elif route == "/api/state":
            self._send_json(200, playground.state())
        else:
            raise BadRequest(404, "Not found")

    def _read_json(self) -> dict[str, Any]:
        """The POST body, read in full first (so a refused request leaves nothing on the connection)."""
        playground = self.server.playground
        length = self.headers.get("content-length", "")
        if not length.isdigit():
            self.close_connection = True
            raise BadRequest(411, "a JSON body with a Content-Length is needed")
        if int(length) > MAX_BODY_BYTES:
            self.close_connection = True
            if int(length) <= MAX_DRAINED_BYTES:  # read and dropped, so the browser surely gets the answer
                _drain(self.rfile, int(length))
            raise BadRequest(413, TOO_LARGE.format(mib=MAX_BODY_BYTES // (1024 * 1024)))
        raw = self.rfile.read(int(length))
        origin = self.headers.get("origin")
        if origin is not None and origin != f"http://{playground.address}":
            raise BadRequest(403, "Forbidden: a request from another origin")
        if self.headers.get("content-type", "").split(";")[0].strip().lower() != "application/json":
            raise BadRequest(415, "POST bodies must be application/json")
        try:
            body = json.loads(raw or b"{}")
        except ValueError:
            raise BadRequest(400, "the body is not JSON") from None
        if not isinstance(body, dict):
            raise BadRequest(400, "the body must be a JSON object")
        return body

    def _post(self, route: str) -> None:
        playground = self.server.playground
        body = self._read_json()
        if route == "/api/connection":
            self._send_json(200, playground.save_connection(body.get("changes")))
        elif route == "/api/test-connection":
            self._send_json(200, playground.test_connection())
        elif route == "/api/run":
            self._send_json(200, playground.run(body.get("options")))
        elif route == "/api/stream":
            self._send_events(playground.stream(body.get("options")))
        elif route == "/api/chat":
            self._send_events(playground.chat(body.get("history"), body.get("prompt"), body.get("fields")))
        elif route == "/api/feedback":
            self._send_json(200, playground.feedback(body.get("traceId"), body.get("rating")))
        elif route == "/api/export":
            self._send_json(200, playground.export(body.get("options")))
        elif route == "/api/invoke":
            self._send_json(200, playground.invoke(body.get("method"), body.get("args")))
        else:
            raise BadRequest(404, "Not found")
