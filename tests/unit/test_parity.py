"""Sync/async parity: one table of cases through QueryService and AsyncQueryService gives identical
results (or identical QueryErrors) and identical requests on the wire."""

from __future__ import annotations

import ast
import copy
import difflib
import functools
import importlib
import inspect
import json
from collections.abc import Callable
from typing import Any

import httpx
import pytest
import respx
from unit_support import (
    BASE_URL,
    CHAT_EXAMPLE,
    EXAMPLES,
    MINIMAL,
    SOURCE,
    aoutcome,
    outcome,
    run_async,
    wire,
)

from tooljet_portkey import AsyncQueryService, QueryService

pytestmark = pytest.mark.usefixtures("no_retry_sleep")

Answer = Callable[[httpx.Request], httpx.Response]


def answer(status: int, body: Any = None, headers: dict[str, str] | None = None) -> Answer:
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    return lambda request: httpx.Response(status, content=content, headers=headers or {})


def refused(request: httpx.Request) -> httpx.Response:
    raise httpx.ConnectError("Connection refused", request=request)


STREAM = (
    b'data: {"id": "c1", "object": "chat.completion.chunk", "created": 1, "model": "m", '
    b'"choices": [{"index": 0, "delta": {"role": "assistant", "content": "Hel"}}]}\n\n'
    b'data: {"id": "c1", "object": "chat.completion.chunk", "created": 1, "model": "m", '
    b'"choices": [{"index": 0, "delta": {"content": "lo"}, "finish_reason": "stop"}]}\n\n'
    b"data: [DONE]\n\n"
)
HEADERS = {
    "x-portkey-trace-id": "tr-1",
    "x-portkey-cache-status": "MISS",
    "x-portkey-retry-attempt-count": "0",
}

CASES: list[tuple[str, dict[str, Any], Any, Answer | None]] = [
    # id, source options, query options, the gateway's answer (None: nothing may be sent)
    *[(f"ok-{op}", SOURCE, query, answer(200, EXAMPLES[op], HEADERS)) for op, query in MINIMAL.items()],
    (
        "ok-every-field",
        {**SOURCE, "provider": "openai", "providerApiKey": "sk-p", "config": '{"retry": {"attempts": 2}}'},
        {**MINIMAL["chat"], "max_tokens": "9", "temperature": "0.3", "stop_sequence": "a,b",
         "metadata": '{"u": "1"}', "other_parameters": '{"seed": 3}', "virtualKey": "vk-q", "traceId": "t",
         "cacheNamespace": "ns", "cacheForceRefresh": "true"},
        answer(200, CHAT_EXAMPLE),
    ),
    ("ok-246", SOURCE, MINIMAL["chat"], answer(246, {**CHAT_EXAMPLE, "hook_results": {}})),
    ("ok-stream", SOURCE, {**MINIMAL["chat"], "stream": True},
     answer(200, STREAM, {"content-type": "text/event-stream", "x-portkey-trace-id": "tr-s"})),
    ("err-provider-400", SOURCE, MINIMAL["completion"],
     answer(400, {"error": {"message": "bad model", "type": "invalid_request_error"}, "provider": "openai"})),
    ("err-gateway-400", SOURCE, MINIMAL["chat"],
     answer(400, {"status": "failure", "message": "Invalid config passed", "errors": ["x: y"]})),
    ("err-guardrail-446", SOURCE, MINIMAL["chat"],
     answer(446, {"error": {"message": "denied", "type": "hooks_failed"}, "hook_results": {"a": 1}},
            {"x-portkey-trace-id": "tr-446"})),
    ("err-rate-limit-429", SOURCE, MINIMAL["create_embedding"],
     answer(429, {"error": {"message": "slow down"}}, {"retry-after": "3"})),
    ("err-html-502", SOURCE, MINIMAL["chat"], answer(502, b"<html><h1>502 Bad Gateway</h1></html>")),
    ("err-not-json-200", SOURCE, MINIMAL["prompt_completion"], answer(200, b"OK")),
    ("err-refused", SOURCE, MINIMAL["chat"], refused),
    ("err-stream-truncated", SOURCE, {**MINIMAL["completion"], "stream": "true"},
     answer(200, STREAM.replace(b"data: [DONE]\n\n", b""), {"content-type": "text/event-stream"})),
    ("bad-field", SOURCE, {**MINIMAL["chat"], "max_tokens": "0"}, None),
    ("bad-json", SOURCE, {**MINIMAL["prompt_completion"], "variables": "{"}, None),
    ("bad-connection", {"gatewayUrl": "nope"}, MINIMAL["chat"], None),
    ("bad-options-type", SOURCE, ["chat"], None),
]  # fmt: skip


def sync_run(source: Any, query: Any, respond: Answer | None) -> tuple[tuple[str, Any], list[dict[str, Any]]]:
    with respx.mock(base_url=BASE_URL, assert_all_called=False) as mock, QueryService() as service:
        if respond is not None:
            mock.route().mock(side_effect=respond)
        result = outcome(lambda: service.run(source, query, "ds-1", 1))
        return result, [wire(call.request) for call in mock.calls]


def async_run(
    source: Any, query: Any, respond: Answer | None
) -> tuple[tuple[str, Any], list[dict[str, Any]]]:
    async def go() -> tuple[tuple[str, Any], list[dict[str, Any]]]:
        with respx.mock(base_url=BASE_URL, assert_all_called=False) as mock:
            if respond is not None:
                mock.route().mock(side_effect=respond)
            async with AsyncQueryService() as service:
                result = await aoutcome(lambda: service.run(source, query, "ds-1", 1))
            return result, [wire(call.request) for call in mock.calls]

    return run_async(go)


@pytest.mark.parametrize(("source", "query", "respond"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_sync_and_async_services_agree(source: Any, query: Any, respond: Answer | None) -> None:
    sync_result, sync_requests = sync_run(source, query, respond)
    async_result, async_requests = async_run(source, query, respond)
    assert async_result == sync_result
    assert async_requests == sync_requests
    assert len(sync_requests) == (0 if respond is None else 1)


def test_the_table_reaches_every_kind_of_outcome() -> None:
    """The parity table is only worth something while it holds successes, API errors and field errors."""
    kinds = set()
    for _, source, query, respond in CASES:
        (status, value), _ = sync_run(source, query, respond)
        kinds.add("ok" if status == "ok" else ("field" if "field" in value[2] else value[2]["errorType"]))
    expected = {"ok", "field", "invalid_request_error", "guardrail_denied", "connection_error"}
    assert kinds >= expected | {"invalid_response", "stream_truncated", "api_error", "rate_limit_error"}


def gateway(request: httpx.Request) -> httpx.Response:
    """Answers each request of a run of many: chat rows (a row saying "fail" is refused), embedding
    chunks (a vector per input), and a finished batch with its output file."""
    path = request.url.path
    if path.endswith("/chat/completions"):
        said = json.loads(request.content)["messages"][-1]["content"]
        if said == "fail":
            return httpx.Response(
                400, json={"error": {"message": "bad row", "type": "invalid_request_error"}}
            )
        choice = {**CHAT_EXAMPLE["choices"][0], "message": {"role": "assistant", "content": said.upper()}}
        return httpx.Response(200, json={**CHAT_EXAMPLE, "choices": [choice]}, headers=HEADERS)
    if path.endswith("/embeddings"):
        inputs = json.loads(request.content)["input"]
        data = [
            {"object": "embedding", "index": i, "embedding": [len(text), 0.5]}
            for i, text in enumerate(inputs)
        ]
        usage = {"prompt_tokens": len(inputs), "total_tokens": len(inputs)}
        return httpx.Response(200, json={"object": "list", "data": data, "model": "m", "usage": usage})
    if path.endswith("/files/file-out/content"):
        lines = [
            {
                "custom_id": f"row-{i}",
                "response": {"status_code": 200, "body": {**CHAT_EXAMPLE, "model": "gpt-4o-mini"}},
            }
            for i in (2, 0, 1)
        ]
        return httpx.Response(200, content=b"".join(json.dumps(line).encode() + b"\n" for line in lines))
    batch = {"id": "batch_abc123", "object": "batch", "status": "completed", "output_file_id": "file-out",
             "request_counts": {"total": 3, "completed": 3, "failed": 0}}  # fmt: skip
    return httpx.Response(200, json=batch, headers={"x-portkey-provider": "openai"})


MANY = [
    ("chat-rows", {**MINIMAL["chat"], "rows": '["a", "fail", "c", "d"]', "concurrency": "1"}),
    ("chat-rows-concurrent", {**MINIMAL["chat"], "rows": '["a", "b", "c", "d", "e"]', "concurrency": "3"}),
    ("embedding-chunks", {**MINIMAL["create_embedding"], "input": '["a", "bb", "ccc", "dddd", "e"]',
                          "batch_size": "2", "concurrency": "1"}),
    ("batch-results", {"operation": "batch_results", "batchId": "batch_abc123", "output": "text"}),
]  # fmt: skip


@pytest.mark.parametrize("query", [case[1] for case in MANY], ids=[case[0] for case in MANY])
def test_sync_and_async_runs_of_many_requests_agree(query: dict[str, Any]) -> None:
    """The hand-kept engines (run_several, run_items, run_batch_job and their async twins) give the same
    result and send the same requests; with concurrency above 1 the order they are sent in may differ."""
    sync_result, sync_requests = sync_run(SOURCE, query, gateway)
    async_result, async_requests = async_run(SOURCE, query, gateway)
    assert sync_result[0] == "ok" and len(sync_requests) > 1
    for _, result in (sync_result, async_result):  # the run's wall time is the one fact that may differ
        seconds = result["metadata"].pop("seconds", 0.0)
        assert isinstance(seconds, float) and seconds >= 0
    assert async_result == sync_result
    key = json.dumps
    assert sorted(async_requests, key=key) == sorted(sync_requests, key=key)
    if query.get("concurrency") == "1" or ("rows" not in query and "input" not in query):
        assert async_requests == sync_requests


@pytest.mark.parametrize(
    ("source", "respond"),
    [
        (SOURCE, answer(200, {"object": "list", "data": []})),
        (SOURCE, answer(401, {"error": {"message": "Invalid API key"}})),
        (SOURCE, answer(503, b"")),
        (SOURCE, refused),
        ({}, None),
        ("junk", None),
    ],
)
def test_test_connection_agrees(source: Any, respond: Answer | None) -> None:
    with respx.mock(base_url=BASE_URL, assert_all_called=False) as mock:
        if respond is not None:
            mock.route().mock(side_effect=respond)
        sync_result = QueryService().test_connection(source)
        sync_requests = [wire(call.request) for call in mock.calls]
        mock.calls.clear()
        async_result = run_async(lambda: AsyncQueryService().test_connection(source))
        async_requests = [wire(call.request) for call in mock.calls]
    assert async_result == sync_result
    assert async_requests == sync_requests


USAGE_CHUNK = b'data: {"id": "c1", "choices": [], "usage": {"prompt_tokens": 2, "total_tokens": 4}}\n\n'
STREAM_HEADERS = {"content-type": "text/event-stream", "x-portkey-cache-status": "MISS"}
TRACED_CHAT = {**MINIMAL["chat"], "traceId": "tr-s"}  # a trace id of its own: the same on both sides

# id, query options, the gateway's answer: stream() of each, through both services
STREAM_CASES: list[tuple[str, Any, Answer]] = [
    ("chunks", TRACED_CHAT, answer(200, STREAM.replace(b"data: [DONE]", USAGE_CHUNK + b"data: [DONE]"),
                                   STREAM_HEADERS)),
    ("text", {**TRACED_CHAT, "output": "text"}, answer(200, STREAM, STREAM_HEADERS)),
    ("truncated", TRACED_CHAT, answer(200, STREAM.replace(b"data: [DONE]\n\n", b""), STREAM_HEADERS)),
    ("error-status", TRACED_CHAT, answer(429, {"error": {"message": "slow down"}}, {"retry-after": "3"})),
]  # fmt: skip


def sync_stream(query: Any, respond: Answer) -> tuple[list[Any], dict[str, Any], list[dict[str, Any]]]:
    """What the loop got (then the error), the stream's metadata after it, and the requests sent."""
    got: list[Any] = []
    with respx.mock(base_url=BASE_URL) as mock, QueryService() as service:
        mock.route().mock(side_effect=respond)
        stream = service.stream(SOURCE, query, "ds-1", 1)
        got.append(outcome(lambda: list(stream)))
        return got, dict(stream.metadata), [wire(call.request) for call in mock.calls]


def async_stream(query: Any, respond: Answer) -> tuple[list[Any], dict[str, Any], list[dict[str, Any]]]:
    async def go() -> tuple[list[Any], dict[str, Any], list[dict[str, Any]]]:
        got: list[Any] = []
        with respx.mock(base_url=BASE_URL) as mock:
            mock.route().mock(side_effect=respond)
            async with AsyncQueryService() as service:
                stream = service.stream(SOURCE, query, "ds-1", 1)

                async def items() -> list[Any]:
                    return [item async for item in stream]

                got.append(await aoutcome(items))
            return got, dict(stream.metadata), [wire(call.request) for call in mock.calls]

    return run_async(go)


@pytest.mark.parametrize(
    ("query", "respond"), [c[1:] for c in STREAM_CASES], ids=[c[0] for c in STREAM_CASES]
)
def test_sync_and_async_streams_agree(query: Any, respond: Answer) -> None:
    assert async_stream(query, respond) == sync_stream(query, respond)


def test_the_stream_table_reaches_chunks_text_and_errors() -> None:
    seen = {}
    for name, query, respond in STREAM_CASES:
        [(status, value)], metadata, _ = sync_stream(query, respond)
        seen[name] = (status, value if status == "ok" else value[2]["errorType"], metadata)
    assert seen["chunks"][:2] == ("ok", [json.loads(line[6:]) for line in STREAM.split(b"\n\n")[:2]])
    assert seen["chunks"][2]["usage"] == {"prompt_tokens": 2, "total_tokens": 4}
    assert seen["text"][:2] == ("ok", ["Hel", "lo"])
    assert seen["truncated"][:2] == ("error", "stream_truncated")
    assert seen["error-status"][:2] == ("error", "rate_limit_error")


# ---------------------------------------------------------------------------------------------------
# The hand-written twins, compared as syntax trees: each async twin, rewritten into sync form (no await,
# ``async def``/``for``/``with`` made plain, names mapped by the table below), must be the sync code,
# method by method, so a change made to one side alone fails here. Docstrings and comments are prose and
# are not compared.

# Async spelling -> sync spelling: the only names in which the twins may differ.
SYNC_NAMES = {
    "AsyncPortkeyClient": "PortkeyClient",
    "AsyncChunkStream": "ChunkStream",
    "AsyncQueryService": "QueryService",
    "AsyncQueryStream": "QueryStream",
    "StopAsyncIteration": "StopIteration",
    "AsyncClient": "Client",  # httpx
    "AsyncIterator": "Iterator",
    "AsyncGenerator": "Generator",
    "aclose": "close",
    "__aenter__": "__enter__",
    "__aexit__": "__exit__",
    "__aiter__": "__iter__",
    "__anext__": "__next__",
    "anext": "next",
    "aiter_raw": "iter_raw",
    "aiter_bytes": "iter_bytes",
    "_async_sleep": "_sleep",
    "_aread_body": "_read_body",
    "_adrain": "_drain",
    "_aclose_quietly": "_close_quietly",
    "arun_several": "run_several",  # _run_rows: a query of rows or chunks
    "arun_batch_job": "run_batch_job",  # _run_batch_jobs: a batch job's requests
    "arun_items": "run_items",  # _batch: the engine of a table run
    "_aattempt": "_attempt",
    "AsyncNetworkStream": "NetworkStream",  # httpcore, under _deadline's streams
    "AsyncNetworkBackend": "NetworkBackend",
    "_AsyncStream": "_Stream",
    "_AsyncBackend": "_Backend",
}

# (module, sync name, async name): classes compared method by method, functions as a whole.
TWINS = [
    ("_client", "PortkeyClient", "AsyncPortkeyClient"),
    ("_client", "ChunkStream", "AsyncChunkStream"),
    ("_client", "_read_body", "_aread_body"),
    ("_service", "QueryService", "AsyncQueryService"),
    ("_service", "QueryStream", "AsyncQueryStream"),
    ("_service", "_close_quietly", "_aclose_quietly"),
    ("_run_rows", "run_several", "arun_several"),
    ("_run_batch_jobs", "run_batch_job", "arun_batch_job"),
    ("_batch", "run_items", "arun_items"),
    ("_batch", "_attempt", "_aattempt"),
    ("_deadline", "_Stream", "_AsyncStream"),
    ("_deadline", "_Backend", "_AsyncBackend"),
]

# Where the twins differ on purpose: (async twin, method or "" for a function) -> why.
_LOOPS = "event-loop bookkeeping: an httpx connection belongs to the loop that opened it"
DIFFERENT_ON_PURPOSE = {
    ("AsyncQueryService", "__init__"): f"{_LOOPS} (the sync service has no __init__ of its own)",
    ("AsyncQueryService", "_lease"): f"{_LOOPS}: clients are pooled per loop, each loop's shutdown watched",
    ("AsyncQueryService", "_release"): f"{_LOOPS}: a retired client is closed by its own loop",
    ("AsyncQueryService", "aclose"): f"{_LOOPS}: it also closes the clients other loops left to this one",
    ("AsyncQueryService", "_close"): f"{_LOOPS} (no sync counterpart)",
    ("AsyncQueryService", "_take_orphans"): f"{_LOOPS} (no sync counterpart)",
    ("AsyncQueryService", "_watch"): f"{_LOOPS} (no sync counterpart)",
    ("AsyncQueryService", "_keeper"): f"{_LOOPS} (no sync counterpart)",
    (
        "_aclose_quietly",
        "",
    ): "closes a list in one task (AsyncQueryService._close shields it from cancellation)",
    (
        "AsyncQueryService",
        "_drop",
    ): f"{_LOOPS}: a dropped stream's client is closed by its loop (no sync counterpart)",
    (
        "AsyncQueryStream",
        "__del__",
    ): "nothing can be awaited in __del__: the lease is given back; the client's stream closes itself",
    # a table run's engine: worker threads handing outcomes to a queue, or tasks awaited together;
    # what the two share (order, the limiter, pauses, stops, the result) is _Run's, and the runs
    # themselves are compared by behaviour below (test_sync_and_async_runs_of_many_requests_agree)
    ("arun_items", ""): "a pool of threads and a queue of outcomes, or tasks and asyncio.wait",
    ("_aattempt", ""): "a thread hands its outcome to the queue; a task returns it",
    ("arun_several", ""): "the run's stop: a threading.Event, or an asyncio.Event set through its loop",
}


class ToSync(ast.NodeTransformer):
    """Rewrite async code into the sync code it twins."""

    def visit_AsyncFunctionDef(self, node: ast.AsyncFunctionDef) -> ast.FunctionDef:
        self.generic_visit(node)
        plain = ast.FunctionDef(**{name: getattr(node, name) for name in node._fields})
        plain.name = SYNC_NAMES.get(node.name, node.name)
        return ast.copy_location(plain, node)

    def visit_FunctionDef(self, node: ast.FunctionDef) -> ast.FunctionDef:
        self.generic_visit(node)
        node.name = SYNC_NAMES.get(node.name, node.name)
        return node

    def visit_Await(self, node: ast.Await) -> ast.AST:
        return self.visit(node.value)

    def visit_AsyncWith(self, node: ast.AsyncWith) -> ast.With:
        self.generic_visit(node)
        return ast.copy_location(ast.With(**{name: getattr(node, name) for name in node._fields}), node)

    def visit_AsyncFor(self, node: ast.AsyncFor) -> ast.AST:
        self.generic_visit(node)
        return self._yield_from(
            ast.copy_location(ast.For(**{n: getattr(node, n) for n in node._fields}), node)
        )

    def visit_For(self, node: ast.For) -> ast.AST:
        self.generic_visit(node)
        return self._yield_from(node)

    @staticmethod
    def _yield_from(loop: ast.For) -> ast.AST:
        """``for x in it: yield x`` is how an async generator says ``yield from it``."""
        body = loop.body
        if (
            len(body) == 1
            and not loop.orelse
            and isinstance(loop.target, ast.Name)
            and isinstance(body[0], ast.Expr)
            and isinstance(body[0].value, ast.Yield)
            and isinstance(body[0].value.value, ast.Name)
            and body[0].value.value.id == loop.target.id
        ):
            return ast.copy_location(ast.Expr(ast.copy_location(ast.YieldFrom(loop.iter), loop)), loop)
        return loop

    def visit_Name(self, node: ast.Name) -> ast.Name:
        node.id = SYNC_NAMES.get(node.id, node.id)
        return node

    def visit_alias(self, node: ast.alias) -> ast.alias:
        """A name imported inside a function (``from ._run_rows import arun_several``)."""
        node.name = SYNC_NAMES.get(node.name, node.name)
        return node

    def visit_Attribute(self, node: ast.Attribute) -> ast.Attribute:
        self.generic_visit(node)
        node.attr = SYNC_NAMES.get(node.attr, node.attr)
        return node

    def visit_Subscript(self, node: ast.Subscript) -> ast.Subscript:
        """``AsyncGenerator[Y, S]`` -> ``Generator[Y, S, None]``: an async generator returns nothing."""
        self.generic_visit(node)
        generator = isinstance(node.value, ast.Name) and node.value.id == "Generator"
        if generator and isinstance(node.slice, ast.Tuple) and len(node.slice.elts) == 2:
            node.slice.elts.append(ast.copy_location(ast.Constant(None), node))
        return node


Definition = ast.FunctionDef | ast.AsyncFunctionDef


def without_docstring(node: Definition) -> Definition:
    node = copy.deepcopy(node)
    first = node.body[0]
    if (
        isinstance(first, ast.Expr)
        and isinstance(first.value, ast.Constant)
        and isinstance(first.value.value, str)
    ):
        node.body = node.body[1:] or [ast.Pass()]
    return node


@functools.cache
def parsed(module: str) -> ast.Module:
    """A module's syntax tree, parsed once for the whole run (one per member case was most of this
    file's time); nothing changes it: without_docstring works on a copy."""
    return ast.parse(inspect.getsource(importlib.import_module(f"tooljet_portkey.{module}")))


def definitions(module: str) -> dict[str, ast.ClassDef | Definition]:
    tree = parsed(module)
    return {
        n.name: n for n in tree.body if isinstance(n, (ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef))
    }


def members(node: ast.ClassDef | Definition) -> dict[str, list[Definition]]:
    """A class's methods by name (an overloaded one: each definition, in order); a function as itself."""
    if not isinstance(node, ast.ClassDef):
        return {"": [node]}
    found: dict[str, list[Definition]] = {}
    for item in node.body:
        if isinstance(item, (ast.FunctionDef, ast.AsyncFunctionDef)):
            found.setdefault(item.name, []).append(item)
    return found


def as_sync(code: list[Definition]) -> list[str]:
    return [ast.unparse(ToSync().visit(without_docstring(node))) for node in code]


def as_is(code: list[Definition]) -> list[str]:
    return [ast.unparse(without_docstring(node)) for node in code]


def twin_methods() -> list[tuple[str, str, str, str]]:
    """(module, sync twin, async twin, async member name) for every member of either twin."""
    cases = []
    for module, sync, async_ in TWINS:
        found = definitions(module)
        async_names = set(members(found[async_]))
        sync_only = set(members(found[sync])) - {SYNC_NAMES.get(name, name) for name in async_names}
        by_sync_name = {SYNC_NAMES.get(name, name): name for name in async_names}
        for name in sorted(async_names | {by_sync_name.get(name, name) for name in sync_only}):
            cases.append((module, sync, async_, name))
    return cases


TWIN_METHODS = twin_methods()


@pytest.mark.parametrize(
    ("module", "sync", "async_", "name"),
    TWIN_METHODS,
    ids=[f"{a}.{n}" if n else a for _, _, a, n in TWIN_METHODS],
)
def test_each_async_twin_rewritten_into_sync_form_is_the_sync_code(
    module: str, sync: str, async_: str, name: str
) -> None:
    found = definitions(module)
    async_code = members(found[async_]).get(name, [])
    sync_code = members(found[sync]).get(SYNC_NAMES.get(name, name), [])
    rewritten, expected = as_sync(async_code), as_is(sync_code)
    if (async_, name) in DIFFERENT_ON_PURPOSE:
        assert rewritten != expected, (
            f"{async_}.{name} now matches its twin: drop it from DIFFERENT_ON_PURPOSE"
        )
        return
    diff = difflib.unified_diff(
        "\n\n".join(expected).splitlines(), "\n\n".join(rewritten).splitlines(), sync, async_, lineterm=""
    )
    assert rewritten == expected, "\n".join(diff)


def test_every_listed_difference_names_a_real_member() -> None:
    known = {(async_, name) for _, _, async_, name in TWIN_METHODS}
    assert set(DIFFERENT_ON_PURPOSE) <= known


# (async code, the sync code it rewrites into): one case per rule of ToSync.
REWRITES = [
    ("async def aclose(self):\n    await self._http.aclose()",
     "def close(self):\n    self._http.close()"),
    ("async def __aenter__(self) -> AsyncChunkStream:\n    return self",
     "def __enter__(self) -> ChunkStream:\n    return self"),
    ("async def f(r):\n    async for d in r.aiter_raw():\n        yield d",
     "def f(r):\n    yield from r.iter_raw()"),
    ("async def f(c):\n    async with await c.open_stream() as s:\n        pass",
     "def f(c):\n    with c.open_stream() as s:\n        pass"),
    ("async def f() -> AsyncGenerator[int, None]:\n    await _async_sleep(1)",
     "def f() -> Generator[int, None, None]:\n    _sleep(1)"),
    ("async def f(x):\n    return await anext(x, None)",
     "def f(x):\n    return next(x, None)"),
]  # fmt: skip


@pytest.mark.parametrize(("async_source", "sync_source"), REWRITES)
def test_the_rewrite(async_source: str, sync_source: str) -> None:
    rewritten = ToSync().visit(ast.parse(async_source))
    assert ast.dump(rewritten) == ast.dump(ast.parse(sync_source))


def test_a_change_to_one_side_alone_is_caught() -> None:
    """The sync send with one line changed no longer matches its async twin."""
    found = definitions("_client")
    (sync_send,) = members(found["PortkeyClient"])["send"]
    (async_send,) = members(found["AsyncPortkeyClient"])["send"]
    assert as_sync([async_send]) == as_is([sync_send])
    changed = ast.parse(ast.unparse(sync_send).replace("data = unwrap_prompt_body(data)", "pass")).body[0]
    assert isinstance(changed, ast.FunctionDef)
    assert as_sync([async_send]) != as_is([changed])
