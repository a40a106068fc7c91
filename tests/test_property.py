"""Whatever a host sends, run() returns a result or raises QueryError, and sends nothing it refused.

Options are generated from the real manifest.json and operations.json keys (and their old aliases),
with values mixing what a form really holds (``"256"``, ``"0.7"``, JSON text, keys, URLs) with junk:
None, numbers, NaN, lists, nested objects, control characters, and options that are not objects at
all. A recording mock answers every request, sometimes with an error status, sometimes as a stream.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any
from unittest.mock import patch

import httpx
import respx
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from tooljet_portkey import AsyncQueryService, QueryError, QueryService
from tooljet_portkey._spec import load_spec

SPEC = load_spec()
CONNECTION_KEYS = sorted({f.key for f in SPEC.connection} | {a for f in SPEC.connection for a in f.aliases})
OPERATION_KEYS = {
    op: sorted({f.key for f in fields} | {a for f in fields for a in f.aliases})
    for op, fields in SPEC.operations.items()
}
GATEWAY = "http://gw.test/v1"
PATHS = {
    "completion": "/v1/completions",
    "chat": "/v1/chat/completions",
    "create_embedding": "/v1/embeddings",
}

FORM_TEXT = st.sampled_from(
    [
        "",
        " ",
        "0",
        "1",
        "256",
        "-3",
        "0.7",
        "2.5",
        "1e400",
        "nan",
        "true",
        "false",
        "maybe",
        "gpt-4o-mini",
        "openai",
        "@openai-prod",
        "pk-abc123",
        "pc-config-1",
        "pp-greet@12",
        "../etc",
        "a/b",
        "%2F",
        "http://gw.test/v1",
        "https://api.portkey.ai/v1",
        "http://user:pw@gw.test/v1",
        "ftp://gw.test",
        "hello\r\nX-Injected: 1",
        "tail\n",
        '[{"role":"user","content":"hi"}]',
        '[{"role":"robot"}]',
        '{"role":"user"}',
        '{"a":"b"}',
        '{"a":1}',
        '{"retry":{"attempts":3},"cache":{"mode":"simple"}}',
        '{"strategy":{"mode":"fallback"},"targets":[{"provider":"openai","api_key":"sk-x"}]}',
        '{"a":',
        "[1, 2]",
        "[[1, 2], [3]]",
        '["stop", "end"]',
        "NaN",
        "[" * 50,
    ]
)
JUNK_TEXT = st.text(st.characters(codec="utf-8", max_codepoint=0x2FF), max_size=24)
JSONISH = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | JUNK_TEXT,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(JUNK_TEXT, inner, max_size=4),
    max_leaves=12,
)
VALUE = st.one_of(FORM_TEXT, FORM_TEXT, JSONISH, st.builds(lambda v: json.dumps(v), JSONISH))


@st.composite
def source_options(draw: st.DrawFn) -> Any:
    if draw(st.integers(0, 19)) == 0:
        return draw(JSONISH)  # not an object at all, sometimes
    # a working connection, the same with a few fields changed, or one from scratch: so that many
    # examples get past validation and reach the wire, and many do not
    regime = draw(st.sampled_from(["valid", "valid", "changed", "changed", "scratch"]))
    options: dict[Any, Any] = {}
    if regime != "scratch":
        options.update(gatewayUrl=GATEWAY, provider="openai", apiKey="pk-1")
    changes = {"valid": 0, "changed": 2, "scratch": 6}[regime]
    for key in draw(st.lists(st.sampled_from(CONNECTION_KEYS), max_size=changes, unique=True)):
        options[key] = draw(VALUE)
    if draw(st.integers(0, 4)) == 0:
        options[draw(JUNK_TEXT)] = draw(VALUE)
    return options


@st.composite
def query_options(draw: st.DrawFn) -> Any:
    if draw(st.integers(0, 19)) == 0:
        return draw(JSONISH)
    operation = draw(st.sampled_from([*OPERATION_KEYS, "drop_table", None, 3]))
    keys = OPERATION_KEYS.get(operation, OPERATION_KEYS["chat"]) if isinstance(operation, str) else []
    options: dict[Any, Any] = {"operation": operation}
    # as for the connection: valid, valid with a few fields changed, or from scratch
    regime = draw(st.sampled_from(["valid", "valid", "changed", "changed", "scratch"]))
    if regime != "scratch":
        options.update(
            model="m",
            prompt="hi",
            messages='[{"role":"user","content":"hi"}]',
            promptId="pp-1",
            input="hello",
        )
    changes = {"valid": 0, "changed": 2, "scratch": 5}[regime]
    for key in draw(st.lists(st.sampled_from(keys or ["model"]), max_size=changes, unique=True)):
        options[key] = draw(VALUE)
    return options


STATUSES = st.sampled_from([200, 200, 200, 246, 400, 401, 429, 446, 500, 503])


def answer(status: int) -> Any:
    """The mock's side effect: a chat-shaped answer, an event stream when one was asked for."""

    def respond(request: httpx.Request) -> httpx.Response:
        if status >= 300:
            return httpx.Response(status, json={"error": {"message": "no", "type": "x"}})
        if request.headers.get("accept") == "text/event-stream":
            chunk = json.dumps({"choices": [{"index": 0, "delta": {"content": "hi"}}]})
            body = f"data: {chunk}\n\ndata: [DONE]\n\n"
            return httpx.Response(status, text=body, headers={"content-type": "text/event-stream"})
        return httpx.Response(status, json={"choices": [{"index": 0, "text": "hi"}]})

    return respond


def check(outcome: Any, calls: list[httpx.Request]) -> None:
    """The property, given what run() gave back (a result or the QueryError) and what was sent."""
    if isinstance(outcome, QueryError):
        assert isinstance(outcome.description, str)
        assert isinstance(outcome.data, dict)
        json.dumps(outcome.to_result())  # a host can serialise it
        if "field" in outcome.data:  # refused by validation: nothing may have been sent
            event("refused before sending")
            assert calls == []
            return
        event(f"failed after sending ({outcome.data.get('errorType')})")
        assert calls, outcome  # any other failure comes from an answer (or its absence)
    else:
        event("succeeded")
        assert outcome["status"] == "ok"
        json.dumps(outcome)
        assert len(calls) >= 1
    for request in calls:
        for name, value in request.headers.items():
            assert value.isascii() and value.isprintable(), (name, value)
        if request.url.host == "gw.test":
            path = request.url.raw_path.decode()
            assert path in PATHS.values() or (
                path.startswith("/v1/prompts/") and path.endswith("/completions") and path.count("/") == 4
            ), path


def _no_sleep(seconds: float) -> None:
    return None


async def _no_async_sleep(seconds: float) -> None:
    return None


SERVICE = QueryService()


@settings(
    max_examples=1000,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
)
@given(source=source_options(), query=query_options(), status=STATUSES)
def test_run_returns_a_result_or_raises_query_error(source: Any, query: Any, status: int) -> None:
    with (
        patch("tooljet_portkey._client._sleep", _no_sleep),
        respx.mock(assert_all_called=False) as router,
    ):
        route = router.route().mock(side_effect=answer(status))
        try:
            outcome: Any = SERVICE.run(source, query, "ds-1")
        except QueryError as err:
            outcome = err
        check(outcome, [call.request for call in route.calls])


@settings(
    max_examples=200,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
)
@given(source=source_options(), query=query_options(), status=STATUSES)
def test_async_run_returns_a_result_or_raises_query_error(source: Any, query: Any, status: int) -> None:
    async def scenario() -> Any:
        async with AsyncQueryService() as service:
            try:
                return await service.run(source, query)
            except QueryError as err:
                return err

    with (
        patch("tooljet_portkey._client._async_sleep", _no_async_sleep),
        respx.mock(assert_all_called=False) as router,
    ):
        route = router.route().mock(side_effect=answer(status))
        outcome = asyncio.run(scenario())
        check(outcome, [call.request for call in route.calls])
