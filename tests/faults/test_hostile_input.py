"""Hostile and malformed options: refused with a QueryError naming the field, before any byte is sent.

Every option is text a user typed (or a template resolved from one). A CR/LF in anything that becomes a
header would split it; a promptId with ``../`` would leave ``/prompts/``; a gateway URL could carry
credentials. The loopback server counts requests: zero means nothing left the process.
"""

from __future__ import annotations

import json
import tracemalloc
from collections.abc import Callable
from typing import Any

import pytest
from loopback_server import FaultServer, Reply

from tooljet_portkey import QueryError, QueryService
from tooljet_portkey._operations import OPERATIONS as operation_table

CHAT = {"operation": "chat", "model": "m", "messages": '[{"role":"user","content":"hi"}]'}
PROMPT = {"operation": "prompt_completion", "promptId": "pp-1"}
BAD_CHARS = "contains characters that are not allowed here"
NO_SCHEME = "must start with http:// or https:// (e.g. http://localhost:8787/v1)"
LOOKS_LIKE_A_KEY = "looks like an API key; put it in API key (Portkey's) or Provider API key (the provider's)"
NOT_A_PROVIDER = (
    "must be a provider name or a Model Catalog slug (openai, azure-openai, @openai-prod): "
    "lowercase letters, digits, -, _ and ., after an optional @"
)
NOT_A_FIELD = "not a field; did you mean "
HISTORY_SHAPES = (
    "must be a message ({role, content}) or a ToolJet Chat component message ({message, type} with type "
    "message, response or error)"
)
CONNECTION = "Invalid connection options"
QUERY = "Invalid query options"
OPERATIONS = f"(one of: {', '.join(operation_table)})"  # the dropdown's, as the refusal lists them


def source(server: FaultServer, **extra: Any) -> dict[str, Any]:
    return {"apiKey": "pk-test", "provider": "openai", "gatewayUrl": server.url, **extra}


CONNECTION_CASES: list[tuple[dict[str, Any], str]] = [
    # header injection: CR/LF or other control characters in anything that becomes a header
    ({"apiKey": "pk-a\r\nX-Evil: 1"}, f"apiKey: {BAD_CHARS}"),
    ({"apiKey": "pk-a\n"}, f"apiKey: {BAD_CHARS}"),
    ({"apiKey": "pk a"}, f"apiKey: {BAD_CHARS}"),
    ({"virtualKey": "vk\x00"}, f"virtualKey: {BAD_CHARS}"),
    ({"provider": "openai\r\n"}, f"provider: {NOT_A_PROVIDER}"),
    ({"providerApiKey": "sk\x7f"}, f"providerApiKey: {BAD_CHARS}"),
    ({"config": "pc-abc\r\nX: 1"}, f"config: {BAD_CHARS}"),
    ({"customHost": "http://h/v1\r\n"}, f"customHost: {BAD_CHARS}"),
    # the gateway URL: http(s), a host, no credentials, nothing after the path
    ({"gatewayUrl": "ftp://h/v1"}, f"gatewayUrl: {NO_SCHEME}"),
    ({"gatewayUrl": "javascript:alert(1)"}, f"gatewayUrl: {NO_SCHEME}"),
    ({"gatewayUrl": "//h/v1"}, f"gatewayUrl: {NO_SCHEME}"),
    ({"gatewayUrl": "localhost:8787/v1"}, f"gatewayUrl: {NO_SCHEME}"),
    ({"customHost": "localhost:11434/v1"}, f"customHost: {NO_SCHEME}"),
    # a key pasted into Provider never becomes a header, and is never repeated
    ({"provider": "sk-proj-" + "a1b2c3d4" * 6}, f"provider: {LOOKS_LIKE_A_KEY}"),
    ({"provider": "sk-ant-api03-" + "Xy9_" * 24}, f"provider: {LOOKS_LIKE_A_KEY}"),
    ({"provider": "pk-" + "Qw3rTy" * 6}, f"provider: {NOT_A_PROVIDER}"),
    ({"provider": "Open AI"}, f"provider: {NOT_A_PROVIDER}"),
    ({"gatewayUrl": "http://h/v1\n"}, f"gatewayUrl: {BAD_CHARS}"),
    ({"gatewayUrl": "http://user:pw@h/v1"}, "gatewayUrl: must not carry credentials (user:password@)"),
    ({"gatewayUrl": "http://:pw@h/v1"}, "gatewayUrl: must not carry credentials (user:password@)"),
    ({"gatewayUrl": "http:///v1"}, "gatewayUrl: must be an http(s) URL with a host"),
    ({"gatewayUrl": "http://[::1/v1"}, "gatewayUrl: must be an http(s) URL with a host"),
    ({"gatewayUrl": "http://h/v1?x=1"}, "gatewayUrl: must not have a query string or fragment"),
    ({"gatewayUrl": "http://h/v1#f"}, "gatewayUrl: must not have a query string or fragment"),
    ({"gatewayUrl": "http://h:99999/v1"}, "gatewayUrl: has an invalid port"),
    ({"gatewayUrl": 5}, "gatewayUrl: must be text"),
    # numbers a user typed
    ({"timeout": "0"}, "timeout: must be greater than 0"),
    ({"timeout": "-1"}, "timeout: must be greater than 0"),
    ({"timeout": "nan"}, "timeout: must be a finite number"),
    ({"timeout": "1e9"}, "timeout: must be at most 3600"),
    ({"timeout": "abc"}, "timeout: must be a number"),
    ({"timeout": [1]}, "timeout: must be a number"),
    ({"maxRetries": "-1"}, "maxRetries: must be at least 0"),
    ({"maxRetries": "11"}, "maxRetries: must be at most 10"),
    ({"maxRetries": "2.5"}, "maxRetries: must be a whole number"),
    ({"maxRetries": True}, "maxRetries: must be a whole number"),
    # oversized and wrongly typed keys
    ({"apiKey": "a" * 2000}, "apiKey: must be at most 1024 characters"),
    ({"apiKey": 12345}, "apiKey: must be text"),
    ({"apiKey": {"k": "v"}}, "apiKey: must be text"),
]


@pytest.mark.parametrize(("options", "description"), CONNECTION_CASES)
def test_hostile_connection_options_are_refused_before_sending(
    fault_server: FaultServer, service: QueryService, options: dict[str, Any], description: str
) -> None:
    field = description.split(":")[0]
    with pytest.raises(QueryError) as caught:
        service.run(source(fault_server, **options), CHAT)
    assert (caught.value.message, caught.value.description) == (CONNECTION, description)
    assert caught.value.data == {"field": field}
    assert fault_server.count == 0


QUERY_CASES: list[tuple[dict[str, Any], str]] = [
    ({**CHAT, "traceId": "t\r\nX: 1"}, f"traceId: {BAD_CHARS}"),
    ({**CHAT, "traceId": "t\n"}, f"traceId: {BAD_CHARS}"),
    ({**CHAT, "cacheNamespace": "ns\x01"}, f"cacheNamespace: {BAD_CHARS}"),
    ({**CHAT, "virtualKey": "vk\r\n"}, f"virtualKey: {BAD_CHARS}"),
    ({**CHAT, "config": "pc-1\r\nX: 1"}, f"config: {BAD_CHARS}"),
    ({**CHAT, "metadata": '{"a\\nb":"v"}'}, f"metadata: {BAD_CHARS}"),
    ({**CHAT, "metadata": '{"a":"v\\r\\n"}'}, f"metadata: a value {BAD_CHARS}"),
    ({**CHAT, "metadata": '{"a":"' + "x" * 200 + '"}'}, "metadata: a value must be at most 128 characters"),
    ({**CHAT, "metadata": "[]"}, "metadata: must be a JSON object"),
    ({**CHAT, "config": '{"retry":{"attempts":"x"}}'}, "config.retry.attempts: must be a whole number"),
    # promptId never leaves /prompts/
    ({**PROMPT, "promptId": "../x"}, f"promptId: {BAD_CHARS}"),
    ({**PROMPT, "promptId": ".."}, "promptId: is not allowed"),
    ({**PROMPT, "promptId": "."}, "promptId: is not allowed"),
    ({**PROMPT, "promptId": "a/b"}, f"promptId: {BAD_CHARS}"),
    ({**PROMPT, "promptId": "a?b"}, f"promptId: {BAD_CHARS}"),
    ({**PROMPT, "promptId": "a#b"}, f"promptId: {BAD_CHARS}"),
    ({**PROMPT, "promptId": "%2F"}, f"promptId: {BAD_CHARS}"),
    ({**PROMPT, "promptId": "a%2fb"}, f"promptId: {BAD_CHARS}"),
    ({**PROMPT, "promptId": "a\\b"}, f"promptId: {BAD_CHARS}"),
    ({**PROMPT, "promptId": "a b"}, f"promptId: {BAD_CHARS}"),
    ({**PROMPT, "promptId": "pp\n"}, f"promptId: {BAD_CHARS}"),
    ({**PROMPT, "promptId": "x" * 300}, "promptId: must be at most 256 characters"),
    ({**PROMPT, "promptId": 7}, "promptId: must be text"),
    ({**PROMPT, "variables": "[1]"}, "variables: must be a JSON object"),
    # oversized: a clear error, not a hang
    ({**CHAT, "messages": "x" * (8 * 1024 * 1024 + 1)}, "messages: is longer than 8388608 characters"),
    ({**CHAT, "messages": "[" * 100_000}, "messages: is nested more than 64 levels deep"),
    # wrong types anywhere
    ({**CHAT, "model": 5}, "model: must be text"),
    ({**CHAT, "model": ["m"]}, "model: must be text"),
    ({**CHAT, "model": {"a": 1}}, "model: must be text"),
    ({**CHAT, "model": ""}, "model: is required"),
    ({**CHAT, "messages": 5}, "messages: must be a JSON array"),
    ({**CHAT, "messages": {}}, "messages: must be a JSON array"),
    ({**CHAT, "max_tokens": "ten"}, "max_tokens: must be a whole number"),
    ({**CHAT, "max_tokens": []}, "max_tokens: must be a whole number"),
    ({**CHAT, "max_tokens": 1.5}, "max_tokens: must be a whole number"),
    ({**CHAT, "max_tokens": "0"}, "max_tokens: must be at least 1"),
    ({**CHAT, "temperature": "hot"}, "temperature: must be a number"),
    ({**CHAT, "temperature": "3"}, "temperature: must be at most 2"),
    ({**CHAT, "stop_sequences": 5}, "stop_sequences: must be a JSON array"),
    ({**CHAT, "other_parameters": "[]"}, "other_parameters: must be a JSON object"),
    ({**CHAT, "stream": "maybe"}, "stream: must be true or false"),
    ({**CHAT, "operation": None}, f"operation: is required {OPERATIONS}"),
    ({**CHAT, "operation": 5}, f"operation: is not a known operation {OPERATIONS}"),
    ({**CHAT, "operation": "drop"}, f"operation: is not a known operation {OPERATIONS}"),
]


@pytest.mark.parametrize(("query", "description"), QUERY_CASES)
def test_hostile_query_options_are_refused_before_sending(
    fault_server: FaultServer, service: QueryService, query: dict[str, Any], description: str
) -> None:
    field = description.split(":")[0].split(".")[0]
    with pytest.raises(QueryError) as caught:
        service.run(source(fault_server), query)
    assert (caught.value.message, caught.value.description) == (QUERY, description)
    assert caught.value.data == {"field": field}
    assert fault_server.count == 0


MISTAKES: list[tuple[dict[str, Any], str, str]] = [
    # a near miss of a field: the query would have run without it
    ({**CHAT, "trace_id": "t-1"}, "trace_id: not a field; did you mean traceId?", "trace_id"),
    ({**CHAT, "Temperature": "0.2"}, "Temperature: not a field; did you mean temperature?", "Temperature"),
    ({**CHAT, "max_token": "5"}, "max_token: not a field; did you mean max_tokens?", "max_token"),
    ({**PROMPT, "fail_on_error": "true"}, f"fail_on_error: {NOT_A_FIELD}failOnError?", "fail_on_error"),
    ({**CHAT, "system_promt": "Be brief"}, f"system_promt: {NOT_A_FIELD}system_prompt?", "system_promt"),
    # a history item of neither accepted shape
    ({**CHAT, "messages": None, "prompt": "hi", "message_history": '[{"text": "x", "type": "message"}]'},
     f"message_history[0]: {HISTORY_SHAPES}", "message_history"),
    ({**CHAT, "messages": None, "prompt": "hi", "message_history": '[{"message": "x", "type": "user"}]'},
     f"message_history[0]: {HISTORY_SHAPES}", "message_history"),
    ({**CHAT, "messages": None, "prompt": "hi", "message_history": '[{"message": "x", "type": "bot"}]'},
     f"message_history[0]: {HISTORY_SHAPES}", "message_history"),
    # stop inside the free-form parameters: the Stop Sequence field's limit
    ({**CHAT, "other_parameters": '{"stop": ["a", "b", "c", "d", "e"]}'},
     "other_parameters.stop: must have at most 4 items", "other_parameters"),
    ({**PROMPT, "prompt_parameters": '{"stop": ["a", "b", "c", "d", "e"]}'},
     "prompt_parameters.stop: must have at most 4 items", "prompt_parameters"),
]  # fmt: skip


@pytest.mark.parametrize(("query", "description", "field"), MISTAKES)
def test_mistakes_are_named_before_sending(
    fault_server: FaultServer, service: QueryService, query: dict[str, Any], description: str, field: str
) -> None:
    with pytest.raises(QueryError) as caught:
        service.run(source(fault_server), query)
    assert (caught.value.message, caught.value.description, caught.value.data) == (
        QUERY,
        description,
        {"field": field},
    )
    assert fault_server.count == 0


@pytest.mark.parametrize(
    ("source_options", "query_options", "message", "description", "field"),
    [
        ("ok", None, QUERY, "query options must be an object", "operation"),
        ("ok", [], QUERY, "query options must be an object", "operation"),
        ("ok", "chat", QUERY, "query options must be an object", "operation"),
        ("ok", 5, QUERY, "query options must be an object", "operation"),
        ("x", CHAT, CONNECTION, "source options must be an object", "source"),
        ([], CHAT, CONNECTION, "source options must be an object", "source"),
        (5, CHAT, CONNECTION, "source options must be an object", "source"),
    ],
)
def test_options_that_are_not_objects(
    fault_server: FaultServer,
    service: QueryService,
    source_options: Any,
    query_options: Any,
    message: str,
    description: str,
    field: str,
) -> None:
    src = source(fault_server) if source_options == "ok" else source_options
    with pytest.raises(QueryError) as caught:
        service.run(src, query_options)
    assert (caught.value.message, caught.value.description, caught.value.data) == (
        message,
        description,
        {"field": field},
    )
    assert fault_server.count == 0


class Unprintable:
    """A key no text can be made of: str() and repr() raise (a host's broken object)."""

    def __str__(self) -> str:
        raise RuntimeError("no text")

    __repr__ = __str__


@pytest.mark.parametrize(
    "key",
    [Unprintable(), 3, None, ("apiKey",), b"apiKey"],
    ids=["unprintable", "number", "none", "tuple", "bytes"],
)
@pytest.mark.parametrize("where", ["source", "query"])
def test_option_names_that_are_not_text_are_refused_naming_the_options(
    fault_server: FaultServer, service: QueryService, key: Any, where: str
) -> None:
    """Connection and query alike: the options' own fault, named, never a plugin_error."""
    src, query = source(fault_server), dict(CHAT)
    (src if where == "source" else query)[key] = "x"
    with pytest.raises(QueryError) as caught:
        service.run(src, query)
    expected = {
        "source": (CONNECTION, "source options must be an object whose keys are text", {"field": "source"}),
        "query": (QUERY, "query options must be an object whose keys are text", {"field": "operation"}),
    }[where]
    assert (caught.value.message, caught.value.description, caught.value.data) == expected
    assert fault_server.count == 0
    if where == "source":
        status = service.test_connection(src)
        assert status == {"status": "failed", "message": expected[1]}


def test_header_values_reach_the_wire_exactly(fault_server: FaultServer, service: QueryService) -> None:
    """The accepted counterpart: each header a field becomes holds exactly the text, and nothing more.
    A config id's surrounding whitespace (a template's stray newline) is trimmed, not sent."""
    fault_server.script(Reply(body={"ok": True}))
    src = source(fault_server, virtualKey="vk-1", config="pc-abc\n")
    query = {
        **CHAT,
        "traceId": "trace-1",
        "cacheNamespace": "ns-1",
        "metadata": '{"_user":"ana","team":"a b"}',
    }
    service.run(src, query)
    headers = fault_server.requests[0].headers
    assert {k: v for k, v in headers.items() if k.startswith("x-portkey-")} == {
        "x-portkey-api-key": "pk-test",
        "x-portkey-provider": "openai",
        "x-portkey-virtual-key": "vk-1",
        "x-portkey-config": "pc-abc",
        "x-portkey-trace-id": "trace-1",
        "x-portkey-cache-namespace": "ns-1",
        "x-portkey-metadata": '{"_user":"ana","team":"a b"}',
    }


def test_prompt_id_stays_under_prompts(fault_server: FaultServer, service: QueryService) -> None:
    fault_server.script(Reply(body={"choices": []}))
    service.run(source(fault_server), {**PROMPT, "promptId": "pp-greet@12"})
    assert fault_server.requests[0].path == "/v1/prompts/pp-greet@12/completions"


# ---------------------------------------------------------------------------------------------------
# Lone surrogates: a JavaScript string cut inside an emoji is a clear refusal, never a plugin error

SURROGATE = "contains invalid text (a lone UTF-16 surrogate)"
CUT = "ab\ud83d"  # "ab😀" cut after the first half of the emoji's UTF-16 pair
CUT_JSON = json.dumps(CUT)  # the same as JSON text: "ab\ud83d"
COMPLETION = {"operation": "completion", "model": "m", "prompt": "hi"}
EMBED = {"operation": "create_embedding", "model": "m", "input": "hi"}

SURROGATE_QUERIES: list[tuple[dict[str, Any], str]] = [
    ({**COMPLETION, "prompt": CUT}, "prompt"),
    ({**COMPLETION, "model": CUT}, "model"),
    ({**CHAT, "messages": '[{"role": "user", "content": ' + CUT_JSON + "}]"}, "messages"),
    ({**CHAT, "messages": [{"role": "user", "content": [{"type": "text", "text": CUT}]}]}, "messages"),
    ({**CHAT, "metadata": '{"team": ' + CUT_JSON + "}"}, "metadata"),
    ({**CHAT, "metadata": {CUT: "v"}}, "metadata"),
    ({**CHAT, "other_parameters": {"user": CUT}}, "other_parameters"),
    ({**CHAT, "config": '{"provider": ' + CUT_JSON + "}"}, "config"),
    ({**CHAT, "config": CUT}, "config"),
    ({**CHAT, "virtualKey": CUT}, "virtualKey"),
    ({**CHAT, "traceId": CUT}, "traceId"),
    ({**CHAT, "cacheNamespace": CUT}, "cacheNamespace"),
    ({**CHAT, "stop_sequences": f"{CUT},end"}, "stop_sequences"),
    ({**CHAT, "stop_sequences": "[" + CUT_JSON + "]"}, "stop_sequences"),
    ({**PROMPT, "promptId": CUT}, "promptId"),
    ({**PROMPT, "variables": '{"name": ' + CUT_JSON + "}"}, "variables"),
    ({**PROMPT, "prompt_parameters": {"user": CUT}}, "prompt_parameters"),
    ({**EMBED, "input": CUT}, "input"),
    ({**EMBED, "input": "[" + CUT_JSON + ', "b"]'}, "input"),
    ({**EMBED, "input": ["a", CUT]}, "input"),
]


@pytest.mark.parametrize(("query", "field"), SURROGATE_QUERIES)
def test_a_lone_surrogate_in_a_query_is_a_clear_refusal(
    fault_server: FaultServer, service: QueryService, query: dict[str, Any], field: str
) -> None:
    with pytest.raises(QueryError) as caught:
        service.run(source(fault_server), query)
    assert (caught.value.message, caught.value.description, caught.value.data) == (
        QUERY,
        f"{field}: {SURROGATE}",
        {"field": field},
    )
    assert fault_server.count == 0


@pytest.mark.parametrize(
    ("options", "field"),
    [
        ({"apiKey": CUT}, "apiKey"),
        ({"virtualKey": CUT}, "virtualKey"),
        ({"provider": CUT}, "provider"),
        ({"providerApiKey": CUT}, "providerApiKey"),
        ({"config": CUT}, "config"),
        ({"config": '{"api_key": ' + CUT_JSON + "}"}, "config"),
        ({"gatewayUrl": f"http://{CUT}/v1"}, "gatewayUrl"),
        ({"customHost": f"http://h/{CUT}"}, "customHost"),
    ],
)
def test_a_lone_surrogate_in_a_connection_is_a_clear_refusal(
    fault_server: FaultServer, service: QueryService, options: dict[str, Any], field: str
) -> None:
    with pytest.raises(QueryError) as caught:
        service.run(source(fault_server, **options), CHAT)
    assert (caught.value.message, caught.value.description, caught.value.data) == (
        CONNECTION,
        f"{field}: {SURROGATE}",
        {"field": field},
    )
    assert service.test_connection(source(fault_server, **options)) == {
        "status": "failed",
        "message": f"{field}: {SURROGATE}",
    }
    assert fault_server.count == 0


def test_a_surrogate_in_a_number_field_is_not_a_number(
    fault_server: FaultServer, service: QueryService
) -> None:
    with pytest.raises(QueryError) as caught:
        service.run(source(fault_server, timeout=f"1{CUT}"), {**CHAT, "max_tokens": f"5{CUT}"})
    assert caught.value.description == "timeout: must be a number"
    with pytest.raises(QueryError) as caught:
        service.run(source(fault_server), {**CHAT, "max_tokens": f"5{CUT}"})
    assert caught.value.description == "max_tokens: must be a whole number"
    assert fault_server.count == 0


def test_a_whole_surrogate_pair_is_an_emoji_and_is_sent(
    fault_server: FaultServer, service: QueryService
) -> None:
    """JSON text may spell an emoji as its UTF-16 pair: that is valid, and the emoji reaches the wire."""
    fault_server.script(Reply(body={"choices": []}))
    service.run(
        source(fault_server), {**CHAT, "messages": '[{"role": "user", "content": "ab\\ud83d\\ude00"}]'}
    )
    assert fault_server.requests[0].body["messages"] == [{"role": "user", "content": "ab😀"}]


# ---------------------------------------------------------------------------------------------------
# Deep nesting: a field-named refusal, never a RecursionError or plugin_error

DEEP = "is nested more than 64 levels deep"


def nested_config(levels: int) -> dict[str, Any]:
    """A config whose targets nest ``levels`` deep (two JSON levels each: an object and its list)."""
    config: dict[str, Any] = {"provider": "openai"}
    for _ in range(levels):
        config = {"strategy": {"mode": "fallback"}, "targets": [config]}
    return config


def nested_lists(levels: int) -> Any:
    value: Any = "x"
    for _ in range(levels):
        value = [value]
    return value


@pytest.mark.parametrize(
    ("options", "query", "message", "field"),
    [
        ({"config": json.dumps(nested_config(200))}, CHAT, CONNECTION, "config"),
        ({"config": nested_config(200)}, CHAT, CONNECTION, "config"),
        ({}, {**CHAT, "config": json.dumps(nested_config(200))}, QUERY, "config"),
        ({}, {**CHAT, "config": nested_config(200)}, QUERY, "config"),
        ({}, {**CHAT, "other_parameters": {"tools": nested_lists(400)}}, QUERY, "other_parameters"),
        ({}, {**CHAT, "messages": [{"role": "user", "content": nested_lists(400)}]}, QUERY, "messages"),
        ({}, {**PROMPT, "variables": json.dumps({"v": nested_lists(400)})}, QUERY, "variables"),
        ({}, {**CHAT, "messages": "[" * 100_000}, QUERY, "messages"),
    ],
    ids=["connection-text", "connection-native", "query-text", "query-native", "other_parameters",
         "messages-content", "variables", "unclosed-brackets"],
)  # fmt: skip
def test_deep_nesting_is_a_clear_refusal(
    fault_server: FaultServer,
    service: QueryService,
    options: dict[str, Any],
    query: dict[str, Any],
    message: str,
    field: str,
) -> None:
    with pytest.raises(QueryError) as caught:
        service.run(source(fault_server, **options), query)
    assert (caught.value.message, caught.value.description, caught.value.data) == (
        message,
        f"{field}: {DEEP}",
        {"field": field},
    )
    assert fault_server.count == 0


def test_nesting_up_to_64_levels_is_sent(fault_server: FaultServer, service: QueryService) -> None:
    fault_server.script(Reply(body={"choices": []}))
    at_limit = {"tools": nested_lists(63)}  # the object and 63 lists: 64 levels
    service.run(source(fault_server), {**CHAT, "other_parameters": at_limit, "config": nested_config(31)})
    assert fault_server.requests[0].body["tools"] == at_limit["tools"]
    with pytest.raises(QueryError) as caught:
        service.run(source(fault_server), {**CHAT, "other_parameters": {"tools": nested_lists(64)}})
    assert caught.value.description == f"other_parameters: {DEEP}"
    assert fault_server.count == 1


# ---------------------------------------------------------------------------------------------------
# Embedding input: every form Portkey accepts is sent as it is; anything else is refused by its place


@pytest.mark.parametrize(
    ("given", "sent"),
    [
        ("The food was delicious.", "The food was delicious."),
        ('["first text", "second text"]', ["first text", "second text"]),
        ("[1212, 318, 257, 1332, 13]", [1212, 318, 257, 1332, 13]),
        ("[[1212, 318], [257, 1332, 13]]", [[1212, 318], [257, 1332, 13]]),
        ([0, 7, 100_000], [0, 7, 100_000]),
        ([[5], [6, 7]], [[5], [6, 7]]),
        (["t"] * 2048, ["t"] * 2048),
        (list(range(2048)), list(range(2048))),
        ([[1] * 20_000, [2]], [[1] * 20_000, [2]]),
    ],
    ids=["text", "texts", "tokens", "token-arrays", "native-tokens", "native-token-arrays", "2048-texts",
         "2048-tokens", "long-token-array"],
)  # fmt: skip
def test_every_embedding_input_form_is_sent_as_given(
    fault_server: FaultServer, service: QueryService, given: Any, sent: Any
) -> None:
    fault_server.script(Reply(body={"data": []}))
    service.run(source(fault_server), {**EMBED, "input": given, "batch_size": "2048"})  # one request
    assert fault_server.requests[0].body == {"model": "m", "input": sent}


@pytest.mark.parametrize(
    ("given", "description"),
    [
        ('["text", [1, 2]]', "input[1]: must be text"),
        ('[[1, 2], "text"]', "input[1]: must be a JSON array"),
        ('[1, "text"]', "input[1]: must be a whole number"),
        ("[1, [2]]", "input[1]: must be a whole number"),
        ('[[1, "2"]]', "input[0][1]: must be a whole number"),
        ("[[1, 2.5]]", "input[0][1]: must be a whole number"),
        ("[-1]", "input[0]: must be at least 0"),
        ("[[3, -1]]", "input[0][1]: must be at least 0"),
        ("[[]]", "input[0]: must have at least 1 item"),
        ('["a", ""]', "input[1]: must not be empty"),
        ("[]", "input: must have at least 1 item"),
        ('[{"text": "x"}]', "input[0]: must be text or a whole number or a JSON array"),
        ("[true]", "input[0]: must be text or a whole number or a JSON array"),
        (7, "input: must be text or a JSON array"),
        (json.dumps(["t"] * 100_001), "input: must have at most 100000 items"),
        (json.dumps(list(range(200_000))), "input: must have at most 100000 items"),
        (json.dumps(list(range(2049))), "input: must have at most 2048 items"),  # one text, as tokens
        ([[1]] * 100_001, "input: must have at most 100000 items"),
    ],
    ids=lambda value: value if isinstance(value, str) and len(value) < 40 else None,
)
def test_a_bad_embedding_input_is_refused_at_its_place(
    fault_server: FaultServer, service: QueryService, given: Any, description: str
) -> None:
    with pytest.raises(QueryError) as caught:
        service.run(source(fault_server), {**EMBED, "input": given})
    assert (caught.value.description, caught.value.data) == (description, {"field": "input"})
    assert fault_server.count == 0


def test_too_many_messages_are_refused_for_their_number(
    fault_server: FaultServer, service: QueryService
) -> None:
    """200k empty messages: "too many", not 200k "needs 'role'" first."""
    for messages in ("[" + ",".join(["{}"] * 200_000) + "]", [{"role": "user"}] * 100_001):
        with pytest.raises(QueryError) as caught:
            service.run(source(fault_server), {**CHAT, "messages": messages})
        assert caught.value.description == "messages: must have at most 100000 items"
    assert fault_server.count == 0


# ---------------------------------------------------------------------------------------------------
# Refusing costs little memory beyond the value itself (tracemalloc peaks: deterministic, no clock)


def peak_bytes(action: Callable[[], object]) -> int:
    """The most memory Python held at once during ``action`` (a QueryError is expected and kept out)."""
    tracemalloc.start()
    try:
        action()
    except QueryError:
        pass
    finally:
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    return peak


@pytest.mark.parametrize(
    ("field", "text"),
    [
        ("input", json.dumps(list(range(200_000)))),  # once 1.76 GB to refuse
        ("input", json.dumps([[7] * 100] * 2048)),  # accepted: 2048 token arrays
        ("input", json.dumps([[7] * 100] * 2047 + [[7] * 99 + [-1]])),  # refused at its last token
        ("messages", "[" + ",".join(["{}"] * 200_000) + "]"),  # too many
        ("messages", "[" + ",".join(["{}"] * 99_999) + "]"),  # each lacks a role
        ("stop_sequences", json.dumps(["s"] * 100_000)),
    ],
    ids=["200k-tokens", "2048-token-arrays", "last-token-bad", "200k-messages", "99999-bad-messages",
         "100k-stops"],
)  # fmt: skip
def test_validation_memory_is_bounded_by_the_value(
    fault_server: FaultServer, service: QueryService, field: str, text: str
) -> None:
    base = CHAT if field != "input" else EMBED
    query = {**base, field: text}
    service.run(source(fault_server), base)  # validators compiled, client pooled: not measured
    fault_server.script(Reply(body={"data": []}))
    decoding = peak_bytes(lambda: json.loads(text))
    validating = peak_bytes(lambda: service.run(source(fault_server), query))
    assert validating <= 2 * decoding + 4 * 1024 * 1024, (validating, decoding)
