"""Hostile and malformed options: refused with a QueryError naming the field, before any byte is sent.

Every option is text a user typed (or a template resolved from one). A CR/LF in anything that becomes a
header would split it; a promptId with ``../`` would leave ``/prompts/``; a gateway URL could carry
credentials. The loopback server counts requests: zero means nothing left the process.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from loopback_server import FaultServer, Reply

from tooljet_portkey import QueryError, QueryService

CHAT = {"operation": "chat", "model": "m", "messages": '[{"role":"user","content":"hi"}]'}
PROMPT = {"operation": "prompt_completion", "promptId": "pp-1"}
BAD_CHARS = "contains characters that are not allowed here"
CONNECTION = "Invalid connection options"
QUERY = "Invalid query options"
OPERATIONS = "(one of: completion, chat, prompt_completion, create_embedding)"


@pytest.fixture
def service() -> Iterator[QueryService]:
    with QueryService() as svc:
        yield svc


def source(server: FaultServer, **extra: Any) -> dict[str, Any]:
    return {"apiKey": "pk-test", "provider": "openai", "gatewayUrl": server.url, **extra}


CONNECTION_CASES: list[tuple[dict[str, Any], str]] = [
    # header injection: CR/LF or other control characters in anything that becomes a header
    ({"apiKey": "pk-a\r\nX-Evil: 1"}, f"apiKey: {BAD_CHARS}"),
    ({"apiKey": "pk-a\n"}, f"apiKey: {BAD_CHARS}"),
    ({"apiKey": "pk a"}, f"apiKey: {BAD_CHARS}"),
    ({"virtualKey": "vk\x00"}, f"virtualKey: {BAD_CHARS}"),
    ({"provider": "openai\r\n"}, f"provider: {BAD_CHARS}"),
    ({"providerApiKey": "sk\x7f"}, f"providerApiKey: {BAD_CHARS}"),
    ({"config": "pc-abc\r\nX: 1"}, f"config: {BAD_CHARS}"),
    ({"customHost": "http://h/v1\r\n"}, f"customHost: {BAD_CHARS}"),
    # the gateway URL: http(s), a host, no credentials, nothing after the path
    ({"gatewayUrl": "ftp://h/v1"}, f"gatewayUrl: {BAD_CHARS}"),
    ({"gatewayUrl": "javascript:alert(1)"}, f"gatewayUrl: {BAD_CHARS}"),
    ({"gatewayUrl": "//h/v1"}, f"gatewayUrl: {BAD_CHARS}"),
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
