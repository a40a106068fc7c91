"""Whatever a host sends, run() returns a result or raises QueryError, sends nothing it refused, and
never shows a secret.

Options are generated from the real manifest.json and operations.json keys (and their old aliases),
with values mixing what a form really holds (``"256"``, ``"0.7"``, JSON text, keys, URLs) with junk:
None, numbers, NaN, lists, nested objects, control characters, and options that are not objects at
all. Key-shaped values from a small pool land in every field, keys and others alike (a key pasted into
the Timeout field). A recording mock answers every request, sometimes with an error status whose
message, type, provider, retry-after, trace id and guardrail verdicts quote every header it was sent,
keys included; sometimes as a stream.

Examples are derandomized and no example database is kept: every run of the same selection of tests
(the whole suite, as CI runs it) tries the same examples. Hypothesis also draws constants from the code
of the modules loaded, so the file run alone tries others: each is a run with another seed, and a
failure either way is a real one. ``TOOLJET_PORTKEY_PROPERTY_SEED=<n>`` explores other examples (a proof
run: run the file many times with different seeds).
"""

from __future__ import annotations

import asyncio
import json
import os
import re
from collections.abc import Callable
from typing import Any, TypeVar
from unittest.mock import patch

import httpx
import pytest
import respx
from hypothesis import HealthCheck, event, given, seed, settings
from hypothesis import strategies as st

from tooljet_portkey import AsyncQueryService, QueryError, QueryService
from tooljet_portkey._operations import OPERATIONS
from tooljet_portkey._spec import load_spec

SPEC = load_spec()
CONNECTION_KEYS = sorted({f.key for f in SPEC.connection} | {a for f in SPEC.connection for a in f.aliases})
OPERATION_KEYS = {
    op: sorted({f.key for f in fields} | {a for f in fields for a in f.aliases})
    for op, fields in SPEC.operations.items()
}
GATEWAY = "http://gw.test/v1"
# Every path an operation's requests may have (_operations.py), a {field} being one path segment
PATHS = re.compile(
    "|".join(
        re.sub(r"\\\{\w+\\\}", "[^/?#]+", re.escape("/v1" + path))
        for op in OPERATIONS.values()
        for path in (op.path, *op.then)
    )
)

# Keys a user may paste anywhere. An error must never show one of them that the example used as a key,
# and a refusal must never show any of them (it never quotes what the user typed).
API_KEY = "pk-prop-1a2b3c4d"
VIRTUAL_KEY = "vk-prop-5e6f7a8b"
PROVIDER_KEY = "sk-prop-9c0d1e2f"
CONFIG_KEY = "sk-cfg-3a4b5c6d"
POOL = (API_KEY, VIRTUAL_KEY, PROVIDER_KEY, CONFIG_KEY)
# config entries that hold credentials, as Portkey names them
CREDENTIALS = ("api_key", "virtual_key", "aws_secret_access_key", "azure_ad_token", "Authorization")

KEY = st.sampled_from(POOL)
# a key as a user may paste it into any field: as is, with a stray line break or spaces, repeated
KEY_TEXT = st.one_of(KEY, KEY.map(lambda k: f"{k}\n"), KEY.map(lambda k: f" {k} "), KEY.map(lambda k: k * 80))
# keys inside the JSON a field holds, shaped so that the field is refused (or not) for another reason
CONFIG_WITH_KEY = st.sampled_from(
    [
        {"api_key": CONFIG_KEY, "provider": "openai"},
        {"targets": [{"provider": "openai", "aws_secret_access_key": CONFIG_KEY}]},
        {"Authorization": f"Bearer {PROVIDER_KEY}", "retry": {"attempts": "x"}},
        {"azure_ad_token": VIRTUAL_KEY, "cache": {"mode": API_KEY}},
        {"virtual_key": API_KEY, "provider": "openai", "weight": -1},
        {"targets": [{"api_key": API_KEY}, {"virtual_key": VIRTUAL_KEY, "retry": {"attempts": 99}}]},
    ]
)
SHAPED: dict[str, Any] = {
    "metadata": KEY.flatmap(
        lambda k: st.sampled_from(
            [{k: "v"}, {k: 5}, {k: "x" * 200}, {"team": "a", k: "a\nb"}, {"team": k * 10}]
        )
    ),
    "config": CONFIG_WITH_KEY,
    "messages": KEY.flatmap(
        lambda k: st.sampled_from([[{"role": k}], [{"role": "user", "content": k}], [{"role": "user", k: 1}]])
    ),
    "input": KEY.flatmap(lambda k: st.sampled_from([[k, 5], [k, [1, 2]], [k, ""], [[1], k]])),
    "stop_sequences": KEY.flatmap(lambda k: st.sampled_from([[k, 5], [k] * 17, f"{k},{k}"])),
    "other_parameters": KEY.map(lambda k: {"user": k}),
    "variables": KEY.map(lambda k: {k: k}),
}


def shaped(key: str) -> Any:
    """A value for the field ``key``: any VALUE, or one shaped for it that carries a key, as JSON text
    or as a native value."""
    if key not in SHAPED:
        return VALUE
    return st.one_of(VALUE, SHAPED[key], SHAPED[key].map(json.dumps))


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
VALUE = st.one_of(FORM_TEXT, KEY_TEXT, JSONISH, st.builds(lambda v: json.dumps(v), JSONISH))


# the required fields of every operation, valid
VALID_FIELDS = {
    "model": "m",
    "prompt": "hi",
    "messages": '[{"role":"user","content":"hi"}]',
    "promptId": "pp-1",
    "input": "hello",
    "traceId": "tr-1",
    "value": "1",
}


@st.composite
def source_options(draw: st.DrawFn) -> Any:
    if draw(st.integers(0, 19)) == 0:
        return draw(JSONISH)  # not an object at all, sometimes
    # a working connection, the same with a few fields changed, or one from scratch: so that many
    # examples get past validation and reach the wire, and many do not
    regime = draw(st.sampled_from(["valid", "valid", "changed", "changed", "scratch"]))
    options: dict[Any, Any] = {}
    if regime != "scratch":
        options.update(gatewayUrl=GATEWAY, provider="openai", apiKey=API_KEY)
    changes = {"valid": 0, "changed": 2, "scratch": 6}[regime]
    for key in draw(st.lists(st.sampled_from(CONNECTION_KEYS), max_size=changes, unique=True)):
        options[key] = draw(shaped(key))
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
        options.update(VALID_FIELDS)
    changes = {"valid": 0, "changed": 2, "scratch": 5}[regime]
    for key in draw(st.lists(st.sampled_from(keys or ["model"]), max_size=changes, unique=True)):
        options[key] = draw(shaped(key))
    return options


STATUSES = st.sampled_from([200, 200, 200, 246, 400, 401, 429, 446, 500, 503])


@st.composite
def keyed_source(draw: st.DrawFn) -> dict[str, Any]:
    """A working connection holding keys from the pool (in its key fields and its config), sometimes
    with one more field given a value that carries a key."""
    options: dict[str, Any] = {"gatewayUrl": GATEWAY, "provider": "openai", "apiKey": draw(KEY)}
    if draw(st.booleans()):
        options["virtualKey"] = draw(KEY)
    if draw(st.booleans()):
        options["providerApiKey"] = draw(KEY)
    if draw(st.booleans()):
        options["config"] = json.dumps(draw(CONFIG_WITH_KEY))
    for key in draw(st.lists(st.sampled_from(CONNECTION_KEYS), max_size=1)):
        options[key] = draw(shaped(key))
    return options


@st.composite
def keyed_query(draw: st.DrawFn) -> dict[str, Any]:
    """A valid query of a known operation with one or two fields given values that carry keys."""
    operation = draw(st.sampled_from(sorted(OPERATION_KEYS)))
    options: dict[str, Any] = {"operation": operation, **VALID_FIELDS}
    if draw(st.booleans()):
        options["virtualKey"] = draw(KEY)
    for key in draw(st.lists(st.sampled_from(OPERATION_KEYS[operation]), min_size=1, max_size=2)):
        options[key] = draw(shaped(key))
    return options


def _quoted(request: httpx.Request) -> str:
    """Every Portkey header and the Authorization the request carried: what a careless gateway quotes."""
    return " ".join(
        v for k, v in request.headers.items() if k.startswith("x-portkey-") or k == "authorization"
    )


def answer(status: int) -> Any:
    """The mock's side effect: a chat-shaped answer, an event stream when one was asked for; or an
    error that quotes the request's keys in every text the plugin passes on."""

    def respond(request: httpx.Request) -> httpx.Response:
        if status >= 300:
            quoted = _quoted(request)
            api_key = request.headers.get("x-portkey-api-key", "none")
            body = {
                "error": {"message": f"no: {quoted}", "type": api_key},
                "provider": request.headers.get("x-portkey-virtual-key", "openai"),
                "hook_results": {quoted: [{"verdict": False, "explanation": quoted}]},
            }
            headers = {"retry-after": api_key, "x-portkey-trace-id": quoted[:200] or "t"}
            return httpx.Response(status, json=body, headers=headers)
        if request.headers.get("accept") == "text/event-stream":
            chunk = json.dumps({"choices": [{"index": 0, "delta": {"content": "hi"}}]})
            body = f"data: {chunk}\n\ndata: [DONE]\n\n"
            return httpx.Response(status, text=body, headers={"content-type": "text/event-stream"})
        return httpx.Response(status, json={"choices": [{"index": 0, "text": "hi"}]})

    return respond


def _config_credentials(config: Any) -> set[str]:
    """Pool keys a config holds under a credential's name (a config id is no secret)."""
    if isinstance(config, str):
        if not config.strip().startswith("{"):
            return set()
        try:
            config = json.loads(config)
        except ValueError:
            return set()
    found: set[str] = set()
    stack = [config]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            for key, value in node.items():
                if key in CREDENTIALS and isinstance(value, str):
                    found.update(p for p in POOL if p in value)
                stack.append(value)
        elif isinstance(node, list):
            stack.extend(node)
    return found


def example_secrets(source: Any, query: Any) -> set[str]:
    """The pool keys this example gave the plugin as keys: its connection's, its query's, its configs'."""
    found: set[str] = set()
    for options, names in (
        (source, ("apiKey", "virtualKey", "providerApiKey")),
        (query, ("virtualKey",)),
    ):
        if not isinstance(options, dict):
            continue
        for name in names:
            value = options.get(name)
            if isinstance(value, str) and value.strip(" ") in POOL:
                found.add(value.strip(" "))
        found |= _config_credentials(options.get("config"))
    return found


def check(outcome: Any, calls: list[httpx.Request], secrets: set[str]) -> None:
    """The property, given what run() gave back (a result or the QueryError), what was sent, and the
    keys the example gave as keys."""
    if isinstance(outcome, QueryError):
        assert isinstance(outcome.description, str)
        assert isinstance(outcome.data, dict)
        shown = json.dumps(outcome.to_result())  # a host can serialise it
        # nothing unredacted is reachable from the error
        assert outcome.__context__ is None and outcome.__cause__ is None
        leaked = [secret for secret in secrets if secret in shown]
        assert not leaked, (leaked, shown)
        if "field" in outcome.data:  # refused by validation: nothing sent, nothing the user typed shown
            event("refused before sending")
            assert calls == []
            echoed = [key for key in POOL if key in shown]
            assert not echoed, (echoed, shown)
            return
        event(f"failed after sending ({outcome.data.get('errorType')})")
        assert calls, outcome  # any other failure comes from an answer (or its absence)
    else:
        event("succeeded")
        assert outcome["status"] == "ok"
        json.dumps(outcome)
        if outcome["metadata"].get("rows") == 0:  # an empty table (rows: []) runs, sending nothing
            assert calls == [] and outcome["data"] == []
        else:
            assert len(calls) >= 1
    for request in calls:
        for name, value in request.headers.items():
            assert value.isascii() and value.isprintable(), (name, value)
        if request.url.host == "gw.test":
            path = request.url.raw_path.decode().partition("?")[0]
            assert PATHS.fullmatch(path), path


def _no_sleep(seconds: float) -> None:
    return None


async def _no_async_sleep(seconds: float) -> None:
    return None


SERVICE = QueryService()
SEED = os.environ.get("TOOLJET_PORTKEY_PROPERTY_SEED")
TestT = TypeVar("TestT", bound=Callable[..., Any])


def examples(count: int) -> Callable[[TestT], TestT]:
    """``count`` examples, the same ones every run (derandomized, no example database), unless
    TOOLJET_PORTKEY_PROPERTY_SEED picks others."""

    def apply(test: TestT) -> TestT:
        configured: TestT = settings(
            max_examples=count,
            deadline=None,
            derandomize=SEED is None,
            database=None,
            suppress_health_check=[
                HealthCheck.too_slow,
                HealthCheck.data_too_large,
                HealthCheck.filter_too_much,
            ],
        )(test)
        return configured if SEED is None else seed(int(SEED))(configured)

    return apply


@examples(1000)
@given(source=source_options(), query=query_options(), status=STATUSES)
def test_run_returns_a_result_or_raises_query_error(source: Any, query: Any, status: int) -> None:
    run_once(source, query, status)


def run_once(source: Any, query: Any, status: int) -> None:
    """One run() against the mock, and the property checked on what it gave back and sent."""
    with (
        patch("tooljet_portkey._client._sleep", _no_sleep),
        respx.mock(assert_all_called=False) as router,
    ):
        route = router.route().mock(side_effect=answer(status))
        try:
            outcome: Any = SERVICE.run(source, query, "ds-1")
        except QueryError as err:
            outcome = err
        check(outcome, [call.request for call in route.calls], example_secrets(source, query))


@examples(200)
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
        check(outcome, [call.request for call in route.calls], example_secrets(source, query))


@examples(1000)
@given(source=keyed_source(), query=keyed_query(), status=STATUSES)
def test_no_key_is_ever_shown(source: Any, query: Any, status: int) -> None:
    """Connections and queries that hold keys, with keys pasted into other fields too: the same
    property, aimed at what an error may show rather than at what a host may send."""
    run_once(source, query, status)


# -- response schemas with references: refused by field, or checked in bounded time; nothing fetched ---

REFS = st.sampled_from(
    [
        "#", "#/$defs/a", "#/$defs/b", "#/properties/x", "#/$defs/missing", "#node", "#/items",
        "http://127.0.0.1:9/x", "https://169.254.169.254/latest/meta-data/", "file:///etc/passwd",
        "file:///dev/zero", "other.json", "//host/x", "urn:x", "#/$defs/a/anyOf/0",
    ]
)  # fmt: skip
LEAF_SCHEMAS = st.one_of(
    st.sampled_from(
        [{"type": "string"}, {"type": "integer"}, {"type": "object"}, {"enum": [1, "a", None]}, True, {}]
    ),
    REFS.map(lambda ref: {"$ref": ref}),
    st.sampled_from(["^a+$", "^(a+)+$", "(?=a)", "(a)\\1", "[", "\\d{2,}"]).map(lambda p: {"pattern": p}),
)


def _compound(children: Any) -> Any:
    return st.one_of(
        st.builds(lambda s: {"type": "object", "properties": {"x": s}}, children),
        st.builds(lambda s: {"type": "array", "items": s}, children),
        st.lists(children, min_size=1, max_size=3).map(lambda items: {"anyOf": items}),
        st.lists(children, min_size=1, max_size=3).map(lambda items: {"allOf": items}),
        st.builds(lambda s: {"not": s}, children),
        st.builds(lambda a, b: {"$defs": {"a": a, "b": b}, "$ref": "#/$defs/a"}, children, children),
        st.builds(lambda s: {"$id": "http://127.0.0.1:9/s.json", "properties": {"x": s}}, children),
    )


USER_SCHEMAS = st.recursive(LEAF_SCHEMAS, _compound, max_leaves=8)
ANSWERS = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.text(alphabet="ab!", max_size=40)),
    lambda children: st.one_of(
        st.lists(children, max_size=3), st.dictionaries(st.sampled_from(["x", "y"]), children, max_size=2)
    ),
    max_leaves=10,
)


@examples(400)
@given(schema=USER_SCHEMAS, value=ANSWERS)
def test_a_response_schema_is_refused_by_field_or_checked_and_nothing_is_fetched(
    schema: Any, value: Any
) -> None:
    from tooljet_portkey._output import AnswerShape, shape_answer

    def no_fetch(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("a schema reference was fetched")

    query = {"operation": "chat", "model": "m", "prompt": "p", "output": "json", "response_format": schema}
    source = {"apiKey": API_KEY, "provider": "openai", "gatewayUrl": GATEWAY}
    reply = {"choices": [{"message": {"role": "assistant", "content": json.dumps(value)}}]}
    with (
        patch("urllib.request.urlopen", no_fetch),
        patch("urllib.request.OpenerDirector.open", no_fetch),
        respx.mock(assert_all_called=False) as router,
    ):
        route = router.route().mock(return_value=httpx.Response(200, json=reply))
        try:
            result = SERVICE.run(source, query, "ds-schemas")
        except QueryError as err:
            assert err.data.get("field") == "response_format" or err.data.get("errorType") == "invalid_output"
            if "field" in err.data:
                assert route.call_count == 0, "a refused schema was sent"
            event(f"refused: {err.data.get('field') or err.data.get('errorType')}")
        else:
            assert result["data"] == value
            event("accepted")
            # the same answer, checked with no time left, is cut off rather than run on
            shape = AnswerShape("json", schema if isinstance(schema, dict) else None)
            if isinstance(schema, dict) and schema:
                with pytest.raises(QueryError, match=r"before the query's time was up|nested more than"):
                    shape_answer(shape, reply, deadline=0.0)
