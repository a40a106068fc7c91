"""The ``tooljet-portkey`` command line: run a query, test a connection, serve the simulator, validate.

Every failure prints one line to stderr and exits non-zero (2 for usage, 1 for a failed query or
check); no traceback and no secret reaches the terminal. Not imported by ``import tooljet_portkey``.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import IO, Any, NoReturn

from ._files import package_text
from ._simulated import needs_simulator, with_simulator_provider

PROG = "tooljet-portkey"

# connection flag -> (manifest.json key, environment variable or None)
CONNECTION_FLAGS = {
    "api_key": ("apiKey", "PORTKEY_API_KEY"),
    "virtual_key": ("virtualKey", "PORTKEY_VIRTUAL_KEY"),
    "provider": ("provider", "PORTKEY_PROVIDER"),
    "provider_api_key": ("providerApiKey", None),
    "config": ("config", "PORTKEY_CONFIG"),
    "gateway_url": ("gatewayUrl", "PORTKEY_GATEWAY_URL"),
    "custom_host": ("customHost", None),
    "timeout": ("timeout", None),
    "max_retries": ("maxRetries", None),
}

USAGE_ERROR = 2
EXIT_FAILED = 1
# A table run that returned, but not every row worked: some failed, or were skipped when the run stopped.
EXIT_ROWS_FAILED = 3


class CommandError(Exception):
    """A failure to report as one line: ``code`` is the exit status."""

    def __init__(self, message: str, code: int = EXIT_FAILED) -> None:
        super().__init__(message)
        self.message = message
        self.code = code


def _one_line(text: str) -> str:
    return " ".join(str(text).split())


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line (``tooljet-portkey run: error: ...``) and exit 2."""

    def error(self, message: str) -> NoReturn:
        raise CommandError(f"{self.prog}: error: {message} (see {self.prog} --help)", USAGE_ERROR)


def _connection_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group(
        "connection (flags win over environment variables)",
        "With neither an API key nor a gateway URL, the embedded simulator answers.",
    )
    group.add_argument("--api-key", metavar="KEY", help="Portkey API key [PORTKEY_API_KEY]")
    group.add_argument("--virtual-key", metavar="KEY", help="Portkey virtual key [PORTKEY_VIRTUAL_KEY]")
    group.add_argument(
        "--provider", help="provider or Model Catalog slug, e.g. openai, @openai-prod [PORTKEY_PROVIDER]"
    )
    group.add_argument(
        "--provider-api-key", metavar="KEY", help="the provider's own key (Authorization: Bearer)"
    )
    group.add_argument(
        "--config", help="Portkey config: JSON object or saved config id pc-... [PORTKEY_CONFIG]"
    )
    group.add_argument("--gateway-url", metavar="URL", help="API base URL incl. /v1 [PORTKEY_GATEWAY_URL]")
    group.add_argument(
        "--custom-host", metavar="URL", help="an OpenAI-compatible provider URL (x-portkey-custom-host)"
    )
    group.add_argument("--timeout", metavar="SECONDS", help="seconds one query may take, retries included")
    group.add_argument(
        "--max-retries", metavar="N", help="retries after 408/409/429/5xx or a lost connection"
    )
    group.add_argument(
        "--fault",
        metavar="SPEC",
        help="embedded simulator only: fault its requests, e.g. 'status=503; retry-after=1; times=1'",
    )


def operation_names() -> list[str]:
    """The operations ``run`` takes: operations.json's operation list, in its order."""
    from ._spec import load_spec

    return list(load_spec().operation_names)


def streamable_operations() -> list[str]:
    """The operations ``run --stream`` takes: those with a ``stream`` field in operations.json."""
    from ._spec import load_spec

    return list(load_spec().streamable)


def build_parser() -> argparse.ArgumentParser:
    from . import __version__

    parser = _Parser(prog=PROG, description="Run Portkey queries as a ToolJet-style host would.")
    parser.add_argument("--version", action="version", version=f"{PROG} {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    commands.required = True

    run = commands.add_parser("run", help="run one query and print the QueryResult as JSON")
    operations = operation_names()
    run.add_argument("operation", choices=operations, metavar="OPERATION", help=", ".join(operations))
    run.add_argument(
        "--set",
        dest="sets",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a query option as host text (repeatable), e.g. --set max_tokens=64; @FILE reads the value "
        "from a file (--set rows=@tickets.json), @@ stands for a literal @",
    )
    run.add_argument("--options", metavar="FILE", help="query options as a JSON object file ('-' for stdin)")
    run.add_argument("--raw", action="store_true", help="print only the data (with --stream: only the text)")
    run.add_argument(
        "--stream",
        action="store_true",
        help="print chunks as they arrive, one JSON per line (completion, chat and prompt completion stream)",
    )
    _connection_arguments(run)

    test = commands.add_parser("test-connection", help="check that Portkey accepts the connection")
    _connection_arguments(test)

    serve = commands.add_parser("serve", help="run the Portkey simulator until Ctrl-C")
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    serve.add_argument("--port", type=int, default=8787, help="port (default 8787; 0 picks a free one)")
    serve.add_argument("--profile", choices=("hosted", "gateway", "openai"), default="gateway")
    serve.add_argument("--prompts", metavar="FILE", help="prompt templates (JSON) added to the demo prompts")
    serve.add_argument(
        "--models", metavar="FILE", help="models (JSON: id -> kind) added to the built-in ones"
    )
    serve.add_argument(
        "--api-key",
        dest="api_keys",
        action="append",
        metavar="KEY",
        help="accept only this API key (repeatable); others get 401. Default: any key",
    )
    serve.add_argument("--quiet", action="store_true", help="do not log each request to stderr")
    serve.add_argument(
        "--latency-ms", type=float, default=0, metavar="N", help="wait N milliseconds before each answer"
    )
    serve.add_argument(
        "--rate-limit",
        metavar="N/min",
        help="answer 429 with retry-after past N requests in each fixed window: 600/min, 10/s, 5/10s",
    )

    playground = commands.add_parser(
        "playground", help="serve a page to try the plugin in a browser, as a ToolJet-style host draws it"
    )
    playground.add_argument(
        "--host", default="127.0.0.1", help="loopback address to listen on (default 127.0.0.1)"
    )
    playground.add_argument("--port", type=int, default=0, help="port (default 0: a free one)")
    playground.add_argument("--no-browser", action="store_true", help="only print the URL; open no browser")
    playground.add_argument(
        "--stream-pace-ms",
        type=float,
        metavar="N",
        help="embedded simulator only: its stream chunks reach the page N ms apart, so streaming shows "
        "(default: the playground's pace; 0: at once)",
    )

    validate = commands.add_parser("validate", help="check manifest.json and operations.json")
    validate.add_argument(
        "--manifest", metavar="FILE", help="a manifest.json to check (default: the package's)"
    )
    validate.add_argument(
        "--operations", metavar="FILE", help="an operations.json to check (default: the package's)"
    )
    return parser


# -- connection options ----------------------------------------------------------------------------


def connection_options(args: argparse.Namespace, environ: Mapping[str, str]) -> dict[str, str]:
    """The data source's options (manifest.json keys) from flags, then the environment."""
    options: dict[str, str] = {}
    for attr, (key, env) in CONNECTION_FLAGS.items():
        value = getattr(args, attr, None)
        if value is None and env is not None:
            value = environ.get(env) or None
        if value is not None:
            options[key] = value
    return options


@dataclass
class _Target:
    """Where queries go: the connection options, and the embedded simulator's URL when it answers."""

    options: dict[str, str]
    simulator_url: str | None = None
    noted: bool = False

    def note(self, err: IO[str]) -> None:
        """Say (once, on stderr) that the answer came from the simulator."""
        if self.simulator_url and not self.noted:
            self.noted = True
            print(
                f"{PROG}: no API key or gateway URL given: answered by the offline Portkey simulator "
                f"at {self.simulator_url} (set PORTKEY_API_KEY or --gateway-url to use Portkey)",
                file=err,
                flush=True,
            )

    def failure(self, error: Exception) -> CommandError:
        """A QueryError as the one line to print (naming the simulator when it answered)."""
        message = getattr(error, "message", "")
        description = getattr(error, "description", "")
        where = " (offline Portkey simulator)" if self.simulator_url else ""
        return CommandError(f"{PROG}: {message}: {description}{where}")


def _fault(args: argparse.Namespace) -> Any:
    """The --fault spec as a simulator Fault (None without one); a bad spec is a usage error."""
    if not args.fault:
        return None
    from .simulator._faults import parse_fault_header

    try:
        return parse_fault_header(args.fault, "*")
    except (TypeError, ValueError) as error:
        raise CommandError(f"{PROG}: error: --fault: {error}", USAGE_ERROR) from None


@contextmanager
def _connection(args: argparse.Namespace, environ: Mapping[str, str]) -> Iterator[_Target]:
    """The connection; with no API key and no gateway URL, the embedded simulator's.

    The options are validated first, so a typing mistake is reported before anything starts.
    """
    from ._options import parse_connection

    options = connection_options(args, environ)
    if not needs_simulator(options):
        if args.fault:
            raise CommandError(f"{PROG}: error: --fault only applies to the embedded simulator", USAGE_ERROR)
        parse_connection(options)
        yield _Target(options)
        return
    options = with_simulator_provider(options)
    parse_connection({**options, "gatewayUrl": "http://127.0.0.1/v1"})  # the simulator's URL comes later
    from .simulator import Simulator

    fault = _fault(args)
    with Simulator(profile="gateway") as sim:
        if fault is not None:
            sim.faults.add(fault)
        options["gatewayUrl"] = sim.url
        yield _Target(options, sim.url)


# -- files ----------------------------------------------------------------------------------------


class FileTooLong(Exception):
    """A file the command line was given holds more text than it reads (the message names the file)."""


def read_text(name: str, stdin: IO[str] | None = None) -> str:
    """The UTF-8 text of a file the command line was given (``-`` with ``stdin``: standard input).

    At most ``MAX_OPTION_CHARS`` characters are read, the most one option may hold: whatever the name
    points at (a device such as /dev/zero, a FIFO, a file of gigabytes) is read no further than one
    character past that, and refused. Its size is never asked, since a device or a FIFO has none.
    Raises OSError, UnicodeDecodeError or FileTooLong.
    """
    from ._constants import MAX_OPTION_CHARS

    if name == "-" and stdin is not None:
        text = stdin.read(MAX_OPTION_CHARS + 1)
    else:
        with open(name, encoding="utf-8") as file:
            text = file.read(MAX_OPTION_CHARS + 1)
    if len(text) > MAX_OPTION_CHARS:
        limit = f"{MAX_OPTION_CHARS} characters, the most the command line reads from a file"
        raise FileTooLong(f"{name} is longer than {limit}")
    return text


# -- commands --------------------------------------------------------------------------------------


def query_options(args: argparse.Namespace, stdin: IO[str]) -> dict[str, Any]:
    options: dict[str, Any] = {}
    if args.options:
        try:
            text = read_text(args.options, stdin)
        except OSError as error:
            raise CommandError(f"{PROG}: cannot read {args.options}: {error.strerror}") from None
        except UnicodeDecodeError:
            raise CommandError(f"{PROG}: {args.options} is not UTF-8 text") from None
        except FileTooLong as error:
            raise CommandError(f"{PROG}: --options {error}") from None
        try:
            loaded = json.loads(text)
        except ValueError as error:
            raise CommandError(f"{PROG}: {args.options} is not valid JSON: {error}") from None
        if not isinstance(loaded, dict):
            raise CommandError(f"{PROG}: {args.options} must hold a JSON object of query options")
        options.update(loaded)
    for item in args.sets:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise CommandError(f"{PROG} run: error: --set wants KEY=VALUE, got {item!r}", USAGE_ERROR)
        options[key.strip()] = set_value(key.strip(), value)
    options["operation"] = args.operation
    return options


def set_value(key: str, value: str) -> str:
    """A ``--set`` value: ``@FILE`` is the file's text (one final line break dropped), ``@@...`` the text
    with its first ``@`` dropped (a literal leading ``@``, as a Model Catalog ``@slug/model`` needs)."""
    if value.startswith("@@"):
        return value[1:]
    if not value.startswith("@"):
        return value
    name = value[1:]
    try:
        text = read_text(name)
    except OSError as error:
        raise CommandError(
            f"{PROG}: --set {key}=@{name}: cannot read {name}: {error.strerror} "
            "(a value starting with @ is read from that file; write @@ for a literal @)"
        ) from None
    except UnicodeDecodeError:
        raise CommandError(f"{PROG}: --set {key}=@{name}: {name} is not UTF-8 text") from None
    except FileTooLong as error:
        raise CommandError(f"{PROG}: --set {key}=@{name}: {error}") from None
    return text.removesuffix("\n").removesuffix("\r")


class Progress:
    """``on_progress`` for a run of several requests: one line on ``err``, rewritten in place, when
    ``err`` is a terminal (at most ten times a second, and always for the last request); nothing
    otherwise. ``clear()`` wipes the line once the run ends."""

    def __init__(self, err: IO[str], unit: str, clock: Any = None) -> None:
        import time

        self.err = err
        self.unit = unit
        self.clock = clock or time.monotonic
        self.shown = ""
        self.last = -1.0
        self.enabled = _is_terminal(err)

    def __call__(self, done: int, total: int) -> None:
        if not self.enabled:
            return
        now = self.clock()
        if done < total and now - self.last < 0.1:
            return
        self.last = now
        percent = done * 100 // total if total else 100
        line = f"{PROG}: {done:,} of {total:,} {self.unit} done ({percent}%)"
        self.err.write("\r" + line.ljust(len(self.shown)))
        self.err.flush()
        self.shown = line

    def clear(self) -> None:
        if self.shown:
            self.err.write("\r" + " " * len(self.shown) + "\r")
            self.err.flush()
            self.shown = ""


def _is_terminal(stream: IO[str]) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):  # no isatty, or a closed stream
        return False


def _print_json(value: Any, out: IO[str]) -> None:
    out.write(json.dumps(value, indent=2, ensure_ascii=False) + "\n")


def _rows_verdict(metadata: Mapping[str, object], err: IO[str]) -> int:
    """0, or ``EXIT_ROWS_FAILED`` with one line on stderr when rows of a table run failed or were
    skipped: a script sees it in the exit code, and the result was printed all the same."""
    failed, skipped = metadata.get("failed") or 0, metadata.get("skipped") or 0
    if not failed and not skipped:
        return 0
    line = f"{PROG}: {failed} of {metadata.get('rows')} rows failed, {skipped} skipped"
    stopped = metadata.get("stopped")
    if isinstance(stopped, Mapping):
        line += f" (the run stopped: {stopped.get('description')})"
    err.write(line + "\n")
    return EXIT_ROWS_FAILED


def cmd_run(
    args: argparse.Namespace, environ: Mapping[str, str], out: IO[str], err: IO[str], stdin: IO[str]
) -> int:
    from ._errors import QueryError
    from ._operations import OPERATIONS
    from ._options import parse_query
    from ._output import chunk_text
    from ._requests import build_request
    from ._service import QueryService
    from ._settings import ConnectionSettings

    options = query_options(args, stdin)
    if args.stream and args.operation not in streamable_operations():
        raise CommandError(f"{PROG} run: error: {args.operation} cannot be streamed", USAGE_ERROR)
    _fault(args)  # usage errors first
    # bad options fail here, before a simulator starts: each field, then the rules across fields
    # (messages or prompt, tool_choice naming a tool...) that building the request checks
    build_request(ConnectionSettings(), parse_query(options))
    with _connection(args, environ) as target, QueryService() as service:
        try:
            if not args.stream:
                chunks = OPERATIONS[args.operation].runs == "chunks"  # an input cut into requests
                progress = Progress(err, "requests" if chunks else "rows")
                try:
                    result = service.run(target.options, options, on_progress=progress)
                finally:
                    progress.clear()
                target.note(err)
                _print_json(result["data"] if args.raw else result, out)
                return _rows_verdict(result["metadata"], err)
            with service.stream(target.options, options) as stream:
                for chunk in stream:
                    target.note(err)
                    if args.raw:  # the text alone (output=text streams it already)
                        out.write(chunk if isinstance(chunk, str) else chunk_text(chunk))
                    else:
                        out.write(json.dumps(chunk, ensure_ascii=False) + "\n")
                    out.flush()
            if not args.raw:  # the trace id, usage, finish reason...: what run() would say of the answer
                out.write(json.dumps({"metadata": stream.metadata}, ensure_ascii=False) + "\n")
        except QueryError as error:
            if args.stream and args.raw and target.noted:
                out.write("\n")  # end the partial line the failed stream left
            raise target.failure(error) from None
        if args.raw:
            out.write("\n")
    return 0


def cmd_test_connection(
    args: argparse.Namespace, environ: Mapping[str, str], out: IO[str], err: IO[str]
) -> int:
    from ._service import QueryService

    with _connection(args, environ) as target, QueryService() as service:
        result = service.test_connection(target.options)
        if result.get("status") != "ok":
            where = " (offline Portkey simulator)" if target.simulator_url else ""
            raise CommandError(
                f"{PROG}: connection failed: {result.get('message', 'no reason given')}{where}"
            )
        target.note(err)
    _print_json(result, out)
    return 0


def cmd_serve(args: argparse.Namespace, out: IO[str], err: IO[str]) -> int:
    from .simulator import Simulator

    if not 0 <= args.port <= 65535:
        raise CommandError(f"{PROG} serve: error: --port must be from 0 to 65535", USAGE_ERROR)
    if any(not key or key != key.strip() for key in args.api_keys or ()):
        raise CommandError(
            f"{PROG} serve: error: --api-key must be non-empty text without leading or trailing spaces",
            USAGE_ERROR,
        )
    try:
        sim = Simulator(
            profile=args.profile,
            host=args.host,
            port=args.port,
            prompts=_json_file("prompts", args.prompts),
            models=_json_file("models", args.models),
            api_keys=args.api_keys,
            latency_ms=args.latency_ms,
            rate_limit=args.rate_limit,
        )
        sim.start()
    except ValueError as error:
        raise CommandError(f"{PROG} serve: {error}") from None
    except OSError as error:
        raise CommandError(
            f"{PROG} serve: cannot listen on {args.host}:{args.port}: {error.strerror}"
        ) from None
    if not args.quiet:
        sim.log = lambda line: print(f"{PROG} serve: {line}", file=err, flush=True)
    print(sim.url, file=out, flush=True)
    print(
        f"{PROG} serve: Portkey simulator (profile {args.profile}{_keys_note(args.api_keys)}"
        f"{_pacing_note(sim)}) at {sim.url}; "
        "Ctrl-C stops it",
        file=err,
        flush=True,
    )
    try:
        _wait_for_interrupt()
    finally:
        sim.stop()
    print(f"{PROG} serve: stopped", file=err, flush=True)
    return 0


def _json_file(name: str, path: str | None) -> Any:
    """The --prompts or --models file, read within the command line's bound and parsed here (the
    simulator, given a path, would read it whole); the simulator checks what it holds."""
    if path is None:
        return None
    doc = read_json(path, "serve", f"--{name}", f"{name} file {path}")
    if not isinstance(doc, dict):
        what = "prompt id -> prompt" if name == "prompts" else "model id -> kind"
        raise CommandError(f"{PROG} serve: a {name} file must hold a JSON object of {what}")
    return doc


def read_json(path: str, command: str, flag: str, what: str) -> Any:
    """The JSON a file given to ``flag`` holds, read within the command line's bound; a CommandError
    naming ``command`` and ``what`` (the file, in words) otherwise."""
    try:
        return json.loads(read_text(path))
    except OSError as error:
        raise CommandError(f"{PROG} {command}: cannot read {what}: {error.strerror}") from None
    except FileTooLong as error:
        raise CommandError(f"{PROG} {command}: {flag} {error}") from None
    except UnicodeDecodeError:
        raise CommandError(f"{PROG} {command}: {what} is not UTF-8 text") from None
    except ValueError as error:
        raise CommandError(f"{PROG} {command}: {what} is not valid JSON: {error}") from None


def _keys_note(api_keys: list[str] | None) -> str:
    """How many keys ``serve`` accepts, for its start line (never the keys themselves)."""
    if not api_keys:
        return ""
    count = len(set(api_keys))
    return f", {count} API key{'s' if count > 1 else ''} accepted"


def _pacing_note(sim: Any) -> str:
    """The latency and rate limit ``serve`` applies, for its start line."""
    note = ""
    if sim.rate_limit is not None:
        note += f", {sim.rate_limit.requests} requests per {sim.rate_limit.window:g} s"
    if sim.latency:
        note += f", {sim.latency * 1000:g} ms latency"
    return note


def cmd_playground(args: argparse.Namespace, environ: Mapping[str, str], out: IO[str], err: IO[str]) -> int:
    """Serve the playground page until Ctrl-C; the connection starts from the PORTKEY_* variables."""
    from .playground import Playground

    if not 0 <= args.port <= 65535:
        raise CommandError(f"{PROG} playground: error: --port must be from 0 to 65535", USAGE_ERROR)
    try:
        playground = Playground(
            args.host,
            args.port,
            connection=connection_options(argparse.Namespace(), environ),
            **({} if args.stream_pace_ms is None else {"stream_pace_ms": args.stream_pace_ms}),
        )
    except ValueError as error:
        raise CommandError(f"{PROG} playground: error: {error}", USAGE_ERROR) from None
    try:
        playground.start()
    except OSError as error:
        raise CommandError(
            f"{PROG} playground: cannot listen on {args.host}:{args.port}: {error.strerror}"
        ) from None
    try:
        print(playground.url, file=out, flush=True)
        print(
            f"{PROG} playground: serving the page above on loopback (the URL carries this session's "
            "token); Ctrl-C stops it",
            file=err,
            flush=True,
        )
        if playground.source_options()[1]:
            print(
                f"{PROG} playground: no API key or gateway URL given: queries are answered by the offline "
                "Portkey simulator until the page saves one",
                file=err,
                flush=True,
            )
        if not args.no_browser:
            import webbrowser

            webbrowser.open(playground.url)
        _wait_for_interrupt()
    finally:
        playground.stop()
    print(f"{PROG} playground: stopped", file=err, flush=True)
    return 0


def _wait_for_interrupt() -> None:
    """Block until Ctrl-C or SIGTERM (SIGINT explicitly: a shell's background job ignores it)."""
    stops = (signal.SIGINT, signal.SIGTERM)
    previous = {signum: signal.signal(signum, _interrupt) for signum in stops}
    try:
        signal.pause() if hasattr(signal, "pause") else _sleep_forever()
    except KeyboardInterrupt:
        pass
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def _interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


def _sleep_forever() -> None:  # pragma: no cover - platforms without signal.pause (Windows)
    import time

    while True:
        time.sleep(3600)


# -- validate --------------------------------------------------------------------------------------


def _load_json(path: str | None, default: str, flag: str) -> tuple[str, Any]:
    if path is None:
        text = package_text(default)
        return default, json.loads(text)
    return path, read_json(path, "validate", flag, path)


def _metaschema(name: str) -> Any:
    text = package_text(f"metaschemas/{name}")
    return json.loads(text)


def _where(path: Sequence[Any]) -> str:
    return "/".join(str(p) for p in path) or "(top level)"


# The widget types ToolJet's own meta-schemas know. Under "properties" every object is read as a form
# node whose "type" must be one of these (or an object): a JSON Schema with "type": "integer" nested in a
# field would be read as an unknown widget, so value schemas live in the top-level "definitions".
OPERATION_WIDGETS = frozenset(
    {
        "checkbox-group", "codehinter", "columns", "dropdown", "dropdown-component-flip",
        "dynamic-selector", "filters", "react-component-api-endpoint", "react-component-api-endpoint-old",
        "react-component-headers", "react-component-key-value-tabs", "react-component-sort",
        "react-component-sql-aggregate", "react-component-sql-columns", "react-component-sql-filters",
        "react-component-sql-groupby", "react-component-sql-sort", "sorts", "toggle",
    }
)  # fmt: skip
OPERATIONS_REF = "urn:tooljet-portkey:operations#/definitions/"
MANIFEST_WIDGETS = frozenset({"text", "password", "dropdown", "toggle", "codehinter"})


def widget_problems(label: str, doc: Any, widgets: frozenset[str]) -> list[str]:
    """Every object nested under ``properties`` whose ``type`` is neither a known widget nor an object."""
    problems: list[str] = []

    def visit(node: Any, path: tuple[str, ...]) -> None:
        if isinstance(node, list):
            for index, item in enumerate(node):
                visit(item, (*path, str(index)))
        elif isinstance(node, dict):
            kind = node.get("type")
            if "type" in node and not isinstance(kind, dict) and kind not in widgets:
                problems.append(f"{label}: {_where(path)}: type {kind!r} is not a widget type")
            for key, value in node.items():
                if key != "type":
                    visit(value, (*path, key))

    visit(doc.get("properties"), ("properties",))
    return problems


def schema_problems(label: str, doc: Any, metaschema_name: str) -> list[str]:
    """The document against its meta-schema, each definition as a JSON Schema, each field's ``$ref``
    naming one, and ToolJet's rule that only widget types stand under ``properties``."""
    from jsonschema import Draft202012Validator
    from jsonschema.exceptions import SchemaError

    validator = Draft202012Validator(_metaschema(metaschema_name))
    problems = [
        f"{label}: {_where(e.absolute_path)}: {e.message}"
        for e in sorted(validator.iter_errors(doc), key=lambda e: list(map(str, e.absolute_path)))
    ]
    if problems:
        return problems
    manifest = metaschema_name.startswith("manifest")
    problems = widget_problems(label, doc, MANIFEST_WIDGETS if manifest else OPERATION_WIDGETS)
    definitions = doc.get("definitions", {})
    for name, schema in definitions.items():
        try:
            Draft202012Validator.check_schema(schema)
        except SchemaError as error:
            problems.append(f"{label}: definitions.{name} is not a valid JSON Schema: {error.message}")
    sections = (
        [("", doc["properties"])]
        if manifest
        else [(f"{op}.", fields) for op, fields in doc["properties"].items() if op != "operation"]
    )
    for prefix, fields in sections:
        for key, field in fields.items():
            ref = field["schema"]["$ref"]
            local = ref.removeprefix("#/definitions/")
            if ref.startswith("#/definitions/") and local not in definitions:
                problems.append(f"{label}: {prefix}{key}.schema names no definition: {ref}")
    return problems


def consistency_problems(
    manifest: Any,
    operations: Any,
    handled: Mapping[str, frozenset[str]],
    manifest_label: str = "manifest.json",
    operations_label: str = "operations.json",
) -> list[str]:
    """What the meta-schemas cannot say: keys agree, and the service handles every field of the form."""
    problems: list[str] = []
    props = manifest["properties"]
    for name, field in props.items():
        if field["key"] != name:
            problems.append(f"{manifest_label}: properties.{name} has key {field['key']!r}")
    options = manifest["source"]["options"]
    for name in sorted(set(props) - set(options)):
        problems.append(f"{manifest_label}: {name} is a form field but not in source.options")
    for name in sorted(set(options) - set(props)):
        problems.append(f"{manifest_label}: source.options.{name} has no form field")
    for name in sorted(set(props) & set(options)):
        secret = props[name]["type"] == "password"
        if options[name]["encrypted"] != secret:
            problems.append(
                f"{manifest_label}: {name} is type {props[name]['type']} "
                f"but encrypted is {options[name]['encrypted']}"
            )
    for name in manifest["required"]:
        if name not in props:
            problems.append(f"{manifest_label}: required names unknown field {name}")
    for name in manifest["defaults"]:
        if name not in props:
            problems.append(f"{manifest_label}: defaults names unknown field {name}")
    shared = operations.get("definitions", {})
    for name, field in props.items():
        ref = field["schema"]["$ref"]
        if ref.startswith(OPERATIONS_REF) and ref.removeprefix(OPERATIONS_REF) not in shared:
            problems.append(
                f"{manifest_label}: {name}.schema names no definition of {operations_label}: {ref}"
            )

    sections = {op: fields for op, fields in operations["properties"].items() if op != "operation"}
    listed = [item["value"] for item in operations["properties"]["operation"]["list"]]
    for op in listed:
        if op not in sections:
            problems.append(f"{operations_label}: operation {op} is listed but has no fields")
    for op in sections:
        if op not in listed:
            problems.append(f"{operations_label}: {op} has fields but is not in the operation list")
    default_op = operations["defaults"].get("operation")
    if default_op is not None and default_op not in listed:
        problems.append(f"{operations_label}: defaults.operation {default_op!r} is not a listed operation")
    for op, fields in sections.items():
        for key, field in fields.items():
            if field["key"] != key:
                problems.append(f"{operations_label}: {op}.{key} has key {field['key']!r}")
        if op not in handled:
            problems.append(f"{operations_label}: the service has no operation {op}")
            continue
        for key in sorted(set(fields) - handled[op]):
            problems.append(f"{operations_label}: {op}.{key} is not handled by the service")
        for key in sorted(handled[op] - set(fields)):
            problems.append(f"{operations_label}: the service reads {op}.{key}, which the form lacks")
    for op in sorted(set(handled) - set(sections)):
        problems.append(f"{operations_label}: the service handles {op}, which the form lacks")
    return problems


def cmd_validate(args: argparse.Namespace, out: IO[str], err: IO[str]) -> int:
    from ._requests import HANDLED_FIELDS

    manifest_label, manifest = _load_json(args.manifest, "manifest.json", "--manifest")
    operations_label, operations = _load_json(args.operations, "operations.json", "--operations")
    problems = schema_problems(manifest_label, manifest, "manifest.schema.json")
    problems += schema_problems(operations_label, operations, "operations.schema.json")
    if not problems:
        problems = consistency_problems(
            manifest, operations, HANDLED_FIELDS, manifest_label, operations_label
        )
    for problem in problems:
        print(_one_line(problem), file=err)
    if problems:
        return EXIT_FAILED
    count = sum(len(f) for op, f in operations["properties"].items() if op != "operation")
    print(
        f"ok: {manifest_label} ({len(manifest['properties'])} connection fields) and {operations_label} "
        f"({len(operations['properties']) - 1} operations, {count} fields) are valid and fully handled",
        file=out,
    )
    return 0


# -- entry point -----------------------------------------------------------------------------------


def main(
    argv: Sequence[str] | None = None,
    *,
    environ: Mapping[str, str] | None = None,
    stdout: IO[str] | None = None,
    stderr: IO[str] | None = None,
    stdin: IO[str] | None = None,
) -> int:
    """Run the command line; return the exit status (the console script exits with it)."""
    out = stdout or sys.stdout
    err = stderr or sys.stderr
    env = os.environ if environ is None else environ
    try:
        args = build_parser().parse_args(argv)
        if args.command == "run":
            return cmd_run(args, env, out, err, stdin or sys.stdin)
        if args.command == "test-connection":
            return cmd_test_connection(args, env, out, err)
        if args.command == "serve":
            return cmd_serve(args, out, err)
        if args.command == "playground":
            return cmd_playground(args, env, out, err)
        return cmd_validate(args, out, err)
    except CommandError as error:
        print(_one_line(error.message), file=err)
        return error.code
    except SystemExit as done:  # --help and --version
        return done.code if isinstance(done.code, int) else 0
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=err)
        return 130
    except BrokenPipeError:
        return EXIT_FAILED
    except Exception as error:
        from ._errors import QueryError

        if isinstance(error, QueryError):
            print(_one_line(f"{PROG}: {error.message}: {error.description}"), file=err)
            return EXIT_FAILED
        print(f"{PROG}: unexpected error ({type(error).__name__})", file=err)
        return EXIT_FAILED
