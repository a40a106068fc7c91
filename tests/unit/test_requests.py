"""What goes on the wire: for every operation and every field of operations.json, and every connection
option of manifest.json, the exact method, URL, headers and JSON body QueryService.run() sends."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import respx
from unit_support import (
    API_KEY,
    BASE_URL,
    CHAT_EXAMPLE,
    COMPLETION_EXAMPLE,
    EMBEDDING_EXAMPLE,
    FULL_BATCH_QUERIES,
    MINIMAL,
    PATHS,
    PROMPT_EXAMPLE,
    SOURCE,
    base_headers,
    wire,
)

from tooljet_portkey import QueryService
from tooljet_portkey._bodies import BUILDERS
from tooljet_portkey._options import parse_connection, parse_query
from tooljet_portkey._requests import _REQUEST_BUILDERS, HANDLED_FIELDS, build_request

pytestmark = [pytest.mark.respx(base_url=BASE_URL), pytest.mark.usefixtures("no_retry_sleep")]

ANY_ANSWER = {"object": "list", "data": []}


@pytest.fixture(scope="module")
def service() -> Iterator[QueryService]:
    """One service for the module: building a client costs an SSL context, and run() keeps no state
    between queries beyond its pool, which these tests do not inspect."""
    with QueryService() as svc:
        yield svc


def send(
    service: QueryService,
    respx_mock: respx.MockRouter,
    query: dict[str, Any],
    source: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Run one query against a catch-all route and return the one request it sent."""
    route = respx_mock.route().respond(200, json=ANY_ANSWER)
    service.run(source or SOURCE, query)
    assert route.call_count == 1
    return wire(route.calls.last.request)


# ---------------------------------------------------------------------------------------------------
# Every operation with every field of its form, as a host sends them (text)

FULL_QUERIES: list[tuple[dict[str, Any], dict[str, Any]]] = [
    (
        {
            "operation": "completion",
            "prompt": "Write a tagline for an ice cream shop.",
            "model": "gpt-3.5-turbo-instruct",
            "max_tokens": "256",
            "temperature": "0.7",
            "stop_sequences": '["\\n\\n", "END"]',
            "metadata": '{"_user": "user-123", "environment": "production"}',
            "other_parameters": '{"top_p": 0.9, "seed": 42, "max_tokens": 9999, "model": "other"}',
            "config": '{"retry": {"attempts": 3}, "cache": {"mode": "simple"}}',
            "virtualKey": "vk-query-1",
            "traceId": "checkout-flow-42",
            "cacheNamespace": "team-a",
            "cacheForceRefresh": "true",
        },
        {
            "method": "POST",
            "url": f"{BASE_URL}/completions",
            "headers": base_headers(
                **{
                    "x-portkey-config": '{"retry":{"attempts":3},"cache":{"mode":"simple"}}',
                    "x-portkey-virtual-key": "vk-query-1",
                    "x-portkey-metadata": '{"_user":"user-123","environment":"production"}',
                    "x-portkey-trace-id": "checkout-flow-42",
                    "x-portkey-cache-namespace": "team-a",
                    "x-portkey-cache-force-refresh": "true",
                }
            ),
            "json": {
                "top_p": 0.9,
                "seed": 42,
                "max_tokens": 256,
                "model": "gpt-3.5-turbo-instruct",
                "prompt": "Write a tagline for an ice cream shop.",
                "temperature": 0.7,
                "stop": ["\n\n", "END"],
            },
        },
    ),
    (
        {
            "operation": "chat",
            "messages": '[{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}]',
            "model": "gpt-4o-mini",
            "max_tokens": "100",
            "temperature": "0",
            "stop_sequences": "END, STOP",
            "metadata": '{"_user": "u-7"}',
            "other_parameters": '{"response_format": {"type": "json_object"}, "temperature": 2, "n": 2}',
            "config": "pc-prod-routing",
            "virtualKey": "vk-chat",
            "traceId": "t-1",
            "cacheNamespace": "ns",
            "cacheForceRefresh": "false",
        },
        {
            "method": "POST",
            "url": f"{BASE_URL}/chat/completions",
            "headers": base_headers(
                **{
                    "x-portkey-config": "pc-prod-routing",
                    "x-portkey-virtual-key": "vk-chat",
                    "x-portkey-metadata": '{"_user":"u-7"}',
                    "x-portkey-trace-id": "t-1",
                    "x-portkey-cache-namespace": "ns",
                }
            ),
            "json": {
                "response_format": {"type": "json_object"},
                "temperature": 0.0,
                "n": 2,
                "model": "gpt-4o-mini",
                "messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}],
                "max_tokens": 100,
                "stop": ["END", "STOP"],
            },
        },
    ),
    (
        # the chat form of ToolJet's AI plugins: system prompt, Chat component history, new message
        {
            "operation": "chat",
            "system_prompt": "You answer in JSON.",
            "message_history": json.dumps(
                [
                    {"message": "Hi", "type": "message"},
                    {"message": "Hello! How can I help?", "type": "response"},
                    {"message": "Network error", "type": "error"},
                    {"role": "user", "content": "Extract the name."},
                    {"role": "assistant", "content": "Which text?"},
                ]
            ),
            "prompt": "Ada Lovelace wrote the first program.",
            "images": '["https://img.test/a.png", "data:image/png;base64,iVBORw0KGgo="]',
            "model": "@openai-prod/o3-mini",
            "max_tokens": "300",
            "response_format": '{"type": "object", "properties": {"name": {"type": "string"}}}',
            "tools": json.dumps(
                [{"type": "function", "function": {"name": "lookup", "parameters": {"type": "object"}}}]
            ),
            "tool_choice": "lookup",
        },
        {
            "method": "POST",
            "url": f"{BASE_URL}/chat/completions",
            "headers": base_headers(),
            "json": {
                "model": "@openai-prod/o3-mini",
                "messages": [
                    {"role": "system", "content": "You answer in JSON."},
                    {"role": "user", "content": "Hi"},
                    {"role": "assistant", "content": "Hello! How can I help?"},
                    {"role": "user", "content": "Extract the name."},
                    {"role": "assistant", "content": "Which text?"},
                    {
                        "role": "user",
                        "content": [
                            {"type": "text", "text": "Ada Lovelace wrote the first program."},
                            {"type": "image_url", "image_url": {"url": "https://img.test/a.png"}},
                            {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}},
                        ],
                    },
                ],
                "max_completion_tokens": 300,
                "response_format": {
                    "type": "json_schema",
                    "json_schema": {
                        "name": "response",
                        "schema": {"type": "object", "properties": {"name": {"type": "string"}}},
                        "strict": True,
                    },
                },
                "tools": [
                    {"type": "function", "function": {"name": "lookup", "parameters": {"type": "object"}}}
                ],
                "tool_choice": {"type": "function", "function": {"name": "lookup"}},
            },
        },
    ),
    (
        {
            "operation": "prompt_completion",
            "promptId": "pp-welcome-e1f2a3@12",
            "variables": '{"customer_name": "Ada", "items": [1, 2]}',
            "prompt_parameters": '{"max_tokens": 200, "temperature": 0.2, "variables": {"lost": true}}',
            "metadata": '{"feature": "welcome"}',
            "config": {"cache": {"mode": "semantic", "max_age": 60}},
            "virtualKey": "vk-prompt",
            "traceId": "t-2",
            "cacheNamespace": "ns-2",
            "cacheForceRefresh": True,
        },
        {
            "method": "POST",
            "url": f"{BASE_URL}/prompts/pp-welcome-e1f2a3@12/completions",
            "headers": base_headers(
                **{
                    "x-portkey-config": '{"cache":{"mode":"semantic","max_age":60}}',
                    "x-portkey-virtual-key": "vk-prompt",
                    "x-portkey-metadata": '{"feature":"welcome"}',
                    "x-portkey-trace-id": "t-2",
                    "x-portkey-cache-namespace": "ns-2",
                    "x-portkey-cache-force-refresh": "true",
                }
            ),
            "json": {
                "max_tokens": 200,
                "temperature": 0.2,
                "variables": {"customer_name": "Ada", "items": [1, 2]},
            },
        },
    ),
    (
        {
            "operation": "create_embedding",
            "input": '["first text", "second text"]',
            "model": "text-embedding-3-small",
            "metadata": '{"batch": "b-1"}',
            "other_parameters": '{"dimensions": 256, "encoding_format": "float", "input": "lost"}',
            "config": '{"provider": "openai", "api_key": "sk-in-config"}',
            "virtualKey": "vk-embed",
            "traceId": "t-3",
            "cacheNamespace": "ns-3",
            "cacheForceRefresh": "yes",
        },
        {
            "method": "POST",
            "url": f"{BASE_URL}/embeddings",
            "headers": base_headers(
                **{
                    "x-portkey-config": '{"provider":"openai","api_key":"sk-in-config"}',
                    "x-portkey-virtual-key": "vk-embed",
                    "x-portkey-metadata": '{"batch":"b-1"}',
                    "x-portkey-trace-id": "t-3",
                    "x-portkey-cache-namespace": "ns-3",
                    "x-portkey-cache-force-refresh": "true",
                }
            ),
            "json": {
                "dimensions": 256,
                "encoding_format": "float",
                "input": ["first text", "second text"],
                "model": "text-embedding-3-small",
            },
        },
    ),
    (
        {
            "operation": "image_generation",
            "prompt": "A watercolour lighthouse at dawn",
            "model": "dall-e-3",
            "n": "1",
            "size": "1792x1024",
            "quality": "hd",
            "style": "natural",
            "response_format": "b64_json",
            "other_parameters": '{"user": "user-123", "n": 4, "prompt": "lost"}',
            "metadata": '{"_user": "user-123"}',
            "config": '{"provider": "openai", "api_key": "sk-in-config"}',
            "virtualKey": "vk-images",
            "traceId": "t-4",
            "output": "images",
        },
        {
            "method": "POST",
            "url": f"{BASE_URL}/images/generations",
            "headers": base_headers(
                **{
                    "x-portkey-config": '{"provider":"openai","api_key":"sk-in-config"}',
                    "x-portkey-virtual-key": "vk-images",
                    "x-portkey-metadata": '{"_user":"user-123"}',
                    "x-portkey-trace-id": "t-4",
                }
            ),
            "json": {
                "user": "user-123",
                "n": 1,
                "prompt": "A watercolour lighthouse at dawn",
                "model": "dall-e-3",
                "size": "1792x1024",
                "quality": "hd",
                "style": "natural",
                "response_format": "b64_json",
            },
        },
    ),
    (
        {
            "operation": "prompt_render",
            "promptId": "pp-welcome-e1f2a3@latest",
            "variables": '{"customer_name": "Ada"}',
            "parameters": '{"max_tokens": 50, "stream": true, "variables": {"lost": true}}',  # the old key
        },
        {
            "method": "POST",
            "url": f"{BASE_URL}/prompts/pp-welcome-e1f2a3@latest/render",
            "headers": base_headers(),
            "json": {"max_tokens": 50, "variables": {"customer_name": "Ada"}},
        },
    ),
    (
        {
            "operation": "list_models",
            "provider": "anthropic",
            "limit": "25",
            "offset": "50",
            "output": "text",
        },
        {
            "method": "GET",
            "url": f"{BASE_URL}/models?provider=anthropic&limit=25&offset=50",
            "headers": {
                "user-agent": "tooljet-portkey",
                "x-portkey-api-key": API_KEY,
                "accept": "application/json",
            },
            "json": None,
        },
    ),
    (
        {
            "operation": "feedback",
            "traceId": "checkout-flow-42",
            "value": "-10",
            "weight": "0.25",
            "metadata": '{"_user": "user-123", "reason": {"kind": "wrong answer"}, "tags": [1, 2]}',
        },
        {
            "method": "POST",
            "url": f"{BASE_URL}/feedback",
            "headers": base_headers(),
            "json": {
                "trace_id": "checkout-flow-42",
                "value": -10,
                "weight": 0.25,
                "metadata": {"_user": "user-123", "reason": {"kind": "wrong answer"}, "tags": [1, 2]},
            },
        },
    ),
    # fallbacks and guardrails become the x-portkey-config header (_routing.py): the chat's JSON config is
    # merged into, its provider and key the routing of each model-name target
    (
        {
            "operation": "chat",
            "model": "gpt-4o-mini",
            "messages": '[{"role": "user", "content": "Hi"}]',
            "config": '{"provider": "openai", "api_key": "sk-in-config", "retry": {"attempts": 2}}',
            "fallbacks": "gpt-4o, @anthropic-prod/claude-3-5-haiku-20241022",
            "fallbackOn": "429, 500-502",
            "input_guardrails": '["pg-pii-1"]',
            "output_guardrails": '[{"default.wordCount": {"minWords": 1, "maxWords": 50}, "deny": true}]',
        },
        {
            "method": "POST",
            "url": f"{BASE_URL}/chat/completions",
            "headers": base_headers(
                **{
                    "x-portkey-config": '{"retry":{"attempts":2},"input_guardrails":["pg-pii-1"],'
                    '"output_guardrails":[{"default.wordCount":{"minWords":1,"maxWords":50},"deny":true}],'
                    '"strategy":{"mode":"fallback","on_status_codes":[429,500,501,502]},"targets":['
                    '{"provider":"openai","api_key":"sk-in-config","override_params":{"model":"gpt-4o-mini"}},'
                    '{"provider":"openai","api_key":"sk-in-config","override_params":{"model":"gpt-4o"}},'
                    '{"override_params":{"model":"@anthropic-prod/claude-3-5-haiku-20241022"}}]}',
                }
            ),
            "json": {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Hi"}]},
        },
    ),
    (
        {
            "operation": "batch_status",
            "batchId": "batch_abc123",
            "config": "pc-batch",
            "virtualKey": "vk-openai",
        },
        {
            "method": "GET",
            "url": f"{BASE_URL}/batches/batch_abc123",
            "headers": {  # no body: no content-type
                "user-agent": "tooljet-portkey",
                "x-portkey-api-key": API_KEY,
                "x-portkey-config": "pc-batch",
                "x-portkey-virtual-key": "vk-openai",
                "accept": "application/json",
            },
            "json": None,
        },
    ),
    (
        {
            "operation": "completion",
            "model": "gpt-3.5-turbo-instruct",
            "prompt": "Say hi",
            "virtualKey": "vk-query-1",
            "fallbacks": "gpt-3.5-turbo-instruct-0914",
            "fallbackOn": "[503]",
            "input_guardrails": '[{"default.regexMatch": {"rule": "\\\\d{16}", "not": true}, "deny": true}]',
            "output_guardrails": "pg-tone-2, pg-length-3",
        },
        {
            "method": "POST",
            "url": f"{BASE_URL}/completions",
            "headers": base_headers(
                **{
                    "x-portkey-virtual-key": "vk-query-1",
                    "x-portkey-config": '{"input_guardrails":[{"default.regexMatch":'
                    '{"rule":"\\\\d{16}","not":true},"deny":true}],"output_guardrails":["pg-tone-2","pg-length-3"],'
                    '"strategy":{"mode":"fallback","on_status_codes":[503]},"targets":['
                    '{"virtual_key":"vk-query-1","override_params":{"model":"gpt-3.5-turbo-instruct"}},'
                    '{"virtual_key":"vk-query-1","override_params":{"model":"gpt-3.5-turbo-instruct-0914"}}]}',
                }
            ),
            "json": {"model": "gpt-3.5-turbo-instruct", "prompt": "Say hi"},
        },
    ),
    (
        {
            "operation": "prompt_completion",
            "promptId": "pp-welcome",
            "fallbacks": '[{"provider": "anthropic", "api_key": "sk-ant-fallback", '
            '"override_params": {"model": "claude-3-5-haiku-20241022"}}]',
            "fallbackOn": "502-504",
        },
        {
            "method": "POST",
            "url": f"{BASE_URL}/prompts/pp-welcome/completions",
            "headers": base_headers(
                **{
                    "x-portkey-config": '{"strategy":{"mode":"fallback","on_status_codes":[502,503,504]},'
                    '"targets":[{},{"provider":"anthropic","api_key":"sk-ant-fallback",'
                    '"override_params":{"model":"claude-3-5-haiku-20241022"}}]}',
                }
            ),
            "json": {"variables": {}},
        },
    ),
    (
        {
            "operation": "create_embedding",
            "model": "text-embedding-3-small",
            "input": "hello",
            "fallbacks": "@openai-backup/text-embedding-3-small",
            "fallbackOn": "429",
        },
        {
            "method": "POST",
            "url": f"{BASE_URL}/embeddings",
            "headers": base_headers(
                **{
                    "x-portkey-config": '{"strategy":{"mode":"fallback","on_status_codes":[429]},"targets":['
                    '{"override_params":{"model":"text-embedding-3-small"}},'
                    '{"override_params":{"model":"@openai-backup/text-embedding-3-small"}}]}',
                }
            ),
            "json": {"model": "text-embedding-3-small", "input": "hello"},
        },
    ),
    (
        {
            "operation": "batch_cancel",
            "batchId": "batch_abc123",
            "config": "pc-batch",
            "virtualKey": "vk-openai",
        },
        {
            "method": "POST",
            "url": f"{BASE_URL}/batches/batch_abc123/cancel",
            "headers": {  # no body: no content-type
                "user-agent": "tooljet-portkey",
                "x-portkey-api-key": API_KEY,
                "x-portkey-config": "pc-batch",
                "x-portkey-virtual-key": "vk-openai",
                "accept": "application/json",
            },
            "json": None,
        },
    ),
]


@pytest.mark.parametrize(("query", "expected"), FULL_QUERIES, ids=[q["operation"] for q, _ in FULL_QUERIES])
def test_every_field_of_each_operation_reaches_the_wire(
    service: QueryService, respx_mock: respx.MockRouter, query: dict[str, Any], expected: dict[str, Any]
) -> None:
    assert send(service, respx_mock, query) == expected


def test_every_operation_with_handled_fields_has_a_builder() -> None:
    """A body builder (completion, chat, prompt completion, embeddings) or a whole-request builder (list
    models, feedback, prompt render, image generation), never both."""
    assert set(BUILDERS) | set(_REQUEST_BUILDERS) == set(HANDLED_FIELDS)
    assert set(BUILDERS) & set(_REQUEST_BUILDERS) == set()


def test_full_queries_cover_every_field_of_operations_json() -> None:
    """The table above is only complete while its queries name every form field but the stream toggle and
    the output mode, which change what is read, not what is sent (chat's two forms take two queries), and
    the fields of a run of several requests (rows, concurrency...: tests/unit/test_rows.py)."""
    from tooljet_portkey._rows import RUN_FIELDS
    from tooljet_portkey._spec import load_spec

    covered: dict[str, set[str]] = {}
    for query in [q for q, _ in FULL_QUERIES] + FULL_BATCH_QUERIES:
        covered.setdefault(query["operation"], set()).update(query)
    for operation, fields in load_spec().operations.items():
        # prompt render's parameters are given by their old key, which the form keeps as an alias
        keys = {
            alias if alias in covered[operation] else f.key for f in fields for alias in (*f.aliases, f.key)
        }
        unsent = {"stream", "output", "prompt_parameters"} | RUN_FIELDS.get(operation, frozenset())
        assert keys - unsent <= covered[operation], operation


@pytest.mark.parametrize(
    ("operation", "answer"),
    [("completion", COMPLETION_EXAMPLE), ("chat", CHAT_EXAMPLE), ("prompt_completion", PROMPT_EXAMPLE)],
)
def test_stream_toggle_asks_for_events_and_sends_stream_true(
    service: QueryService, respx_mock: respx.MockRouter, operation: str, answer: dict[str, Any]
) -> None:
    route = respx_mock.route().respond(
        200,
        headers={"content-type": "text/event-stream"},
        content=b"data: " + json.dumps(answer).encode() + b"\n\ndata: [DONE]\n\n",
    )
    result = service.run(SOURCE, {**MINIMAL[operation], "stream": "true"})
    sent = wire(route.calls.last.request)
    assert sent["headers"]["accept"] == "text/event-stream"
    assert sent["json"]["stream"] is True
    assert result["metadata"]["streamed"] is True


@pytest.mark.parametrize("operation", ["completion", "chat", "prompt_completion"])
@pytest.mark.parametrize("value", ["false", False, "", None])
def test_stream_off_sends_no_stream_key(
    service: QueryService, respx_mock: respx.MockRouter, operation: str, value: Any
) -> None:
    sent = send(service, respx_mock, {**MINIMAL[operation], "stream": value})
    assert "stream" not in sent["json"]
    assert sent["headers"]["accept"] == "application/json"


@pytest.mark.parametrize(
    ("operation", "body"),
    [
        ("completion", {"model": "gpt-3.5-turbo-instruct", "prompt": "Say hi"}),
        ("chat", {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Who uses ToolJet?"}]}),
        ("prompt_completion", {"variables": {}}),
        ("create_embedding", {"model": "text-embedding-3-small", "input": "hello"}),
    ],
)
def test_minimal_query_sends_only_the_required_fields(
    service: QueryService, respx_mock: respx.MockRouter, operation: str, body: dict[str, Any]
) -> None:
    assert send(service, respx_mock, MINIMAL[operation]) == {
        "method": "POST",
        "url": "http://gateway.test" + PATHS[operation],
        "headers": base_headers(),
        "json": body,
    }


# ---------------------------------------------------------------------------------------------------
# Host text -> values


@pytest.mark.parametrize(
    ("options", "body_part"),
    [
        ({"max_tokens": "256"}, {"max_tokens": 256}),
        ({"max_tokens": " 256 "}, {"max_tokens": 256}),
        ({"max_tokens": 256}, {"max_tokens": 256}),
        ({"max_tokens": 256.0}, {"max_tokens": 256}),
        ({"max_tokens": "1e3"}, {"max_tokens": 1000}),
        ({"temperature": "0.7"}, {"temperature": 0.7}),
        ({"temperature": 1}, {"temperature": 1}),
        ({"temperature": "2"}, {"temperature": 2.0}),
        ({"stop_sequences": '["a", "b"]'}, {"stop": ["a", "b"]}),
        ({"stop_sequences": ["a", "b"]}, {"stop": ["a", "b"]}),
        ({"stop_sequences": "a, b"}, {"stop": ["a", "b"]}),
        ({"stop_sequences": "END"}, {"stop": ["END"]}),
        ({"stop_sequences": "a,,b,"}, {"stop": ["a", "b"]}),
        ({"stop_sequences": "[END], STOP"}, {"stop": ["[END]", "STOP"]}),
        ({"stop_sequence": "END"}, {"stop": ["END"]}),
        ({"stop_sequence": '["x"]'}, {"stop": ["x"]}),
        ({"stop_sequences": "new", "stop_sequence": "old"}, {"stop": ["new"]}),
        ({"stop_sequences": "", "stop_sequence": "old"}, {"stop": ["old"]}),
        ({"other_parameters": {"seed": 1}}, {"seed": 1}),
        ({"other_parameters": '{"seed": 1}'}, {"seed": 1}),
        ({"other_parameters": "{}"}, {}),
        (
            {"messages": [{"role": "user", "content": "native"}]},
            {"messages": [{"role": "user", "content": "native"}]},
        ),
    ],
)
def test_chat_values_as_hosts_send_them(
    service: QueryService, respx_mock: respx.MockRouter, options: dict[str, Any], body_part: dict[str, Any]
) -> None:
    body = send(service, respx_mock, {**MINIMAL["chat"], **options})["json"]
    expected = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Who uses ToolJet?"}]}
    assert body == {**expected, **body_part}


@pytest.mark.parametrize("blank", ["", "   ", None])
@pytest.mark.parametrize(
    "key",
    ["max_tokens", "temperature", "stop_sequences", "metadata", "other_parameters", "config", "virtualKey",
     "traceId", "cacheNamespace", "cacheForceRefresh", "stream"],
)  # fmt: skip
def test_blank_optional_values_are_not_given(
    service: QueryService, respx_mock: respx.MockRouter, key: str, blank: Any
) -> None:
    sent = send(service, respx_mock, {**MINIMAL["chat"], key: blank})
    assert sent["headers"] == base_headers()
    assert sent["json"] == {
        "model": "gpt-4o-mini",
        "messages": [{"role": "user", "content": "Who uses ToolJet?"}],
    }


@pytest.mark.parametrize(
    ("options", "body"),
    [
        ({"prompt_parameters": '{"max_tokens": 5}'}, {"max_tokens": 5, "variables": {}}),
        ({"parameters": '{"max_tokens": 5}'}, {"max_tokens": 5, "variables": {}}),
        ({"parameters": {"top_p": 1}}, {"top_p": 1, "variables": {}}),
        ({"prompt_parameters": '{"a": 1}', "parameters": '{"b": 2}'}, {"a": 1, "variables": {}}),
        ({"variables": {"x": "y"}}, {"variables": {"x": "y"}}),
        (
            {"variables": '{"x": "y"}', "prompt_parameters": '{"variables": {"z": 1}}'},
            {"variables": {"x": "y"}},
        ),
        # without the Variables field, variables given among the parameters are kept, not dropped
        ({"prompt_parameters": '{"variables": {"z": 1}}'}, {"variables": {"z": 1}}),
    ],
)
def test_prompt_parameters_sit_at_the_body_root_beside_variables(
    service: QueryService, respx_mock: respx.MockRouter, options: dict[str, Any], body: dict[str, Any]
) -> None:
    assert send(service, respx_mock, {**MINIMAL["prompt_completion"], **options})["json"] == body


@pytest.mark.parametrize(
    ("prompt_id", "raw_path"),
    [
        ("pp-welcome-e1f2a3", "/v1/prompts/pp-welcome-e1f2a3/completions"),
        ("pp-welcome-e1f2a3@12", "/v1/prompts/pp-welcome-e1f2a3@12/completions"),
        ("pp-welcome@latest", "/v1/prompts/pp-welcome@latest/completions"),
        ("pp-ünïcode", "/v1/prompts/pp-%C3%BCn%C3%AFcode/completions"),
        ("a:b;c&d=e", "/v1/prompts/a%3Ab%3Bc%26d%3De/completions"),
    ],
)
def test_prompt_id_is_percent_encoded_keeping_the_version(
    service: QueryService, respx_mock: respx.MockRouter, prompt_id: str, raw_path: str
) -> None:
    route = respx_mock.route().respond(200, json=PROMPT_EXAMPLE)
    service.run(SOURCE, {"operation": "prompt_completion", "promptId": prompt_id})
    assert route.calls.last.request.url.raw_path.decode() == raw_path


@pytest.mark.parametrize(
    ("options", "input_sent"),
    [
        ({"input": "hello"}, "hello"),
        ({"input": '["a", "b"]'}, ["a", "b"]),
        ({"input": ["a", "b"]}, ["a", "b"]),
        ({"input": "[[1, 2], [3]]"}, [[1, 2], [3]]),
        ({"input": "[not json] is text too"}, "[not json] is text too"),
    ],
)
def test_embedding_input_forms(
    service: QueryService, respx_mock: respx.MockRouter, options: dict[str, Any], input_sent: Any
) -> None:
    body = send(service, respx_mock, {**MINIMAL["create_embedding"], **options})["json"]
    assert body == {"model": "text-embedding-3-small", "input": input_sent}


@pytest.mark.parametrize(
    ("metadata", "header"),
    [
        ('{"_user": "u-1"}', '{"_user":"u-1"}'),
        ({"_user": "u-1", "env": "prod"}, '{"_user":"u-1","env":"prod"}'),
        ('{"city": "Zürich"}', '{"city":"Z\\u00fcrich"}'),
        ("{}", "{}"),
    ],
)
@pytest.mark.parametrize("operation", list(MINIMAL))
def test_metadata_is_a_compact_json_header_and_never_in_the_body(
    service: QueryService, respx_mock: respx.MockRouter, operation: str, metadata: Any, header: str
) -> None:
    sent = send(service, respx_mock, {**MINIMAL[operation], "metadata": metadata})
    assert sent["headers"]["x-portkey-metadata"] == header
    assert "metadata" not in sent["json"]


# ---------------------------------------------------------------------------------------------------
# The connection's options, and the query's overrides


@pytest.mark.parametrize(
    ("source", "headers"),
    [
        ({}, {}),
        ({"provider": "@openai-prod"}, {"x-portkey-provider": "@openai-prod"}),
        (
            {"provider": "openai", "providerApiKey": "sk-provider-1"},
            {"x-portkey-provider": "openai", "authorization": "Bearer sk-provider-1"},
        ),
        ({"virtualKey": "vk-conn"}, {"x-portkey-virtual-key": "vk-conn"}),
        ({"config": "pc-default-1"}, {"x-portkey-config": "pc-default-1"}),
        (
            {"config": '{ "strategy": {"mode": "fallback"},\n "targets": [{"provider": "openai"}] }'},
            {"x-portkey-config": '{"strategy":{"mode":"fallback"},"targets":[{"provider":"openai"}]}'},
        ),
        ({"config": {"retry": {"attempts": 2}}}, {"x-portkey-config": '{"retry":{"attempts":2}}'}),
        (
            {"customHost": "http://127.0.0.1:9000/v1", "provider": "openai"},
            {"x-portkey-custom-host": "http://127.0.0.1:9000/v1", "x-portkey-provider": "openai"},
        ),
        ({"customHost": "http://127.0.0.1:9000/v1/"}, {"x-portkey-custom-host": "http://127.0.0.1:9000/v1"}),
        ({"timeout": "30", "maxRetries": "0"}, {}),
    ],
)
def test_connection_options_become_headers(
    service: QueryService, respx_mock: respx.MockRouter, source: dict[str, Any], headers: dict[str, str]
) -> None:
    sent = send(service, respx_mock, MINIMAL["chat"], {**SOURCE, **source})
    assert sent["headers"] == base_headers(**headers)


@pytest.mark.parametrize(
    ("query", "headers"),
    [
        ({}, {"x-portkey-config": "pc-conn", "x-portkey-virtual-key": "vk-conn"}),
        ({"config": "pc-query"}, {"x-portkey-config": "pc-query", "x-portkey-virtual-key": "vk-conn"}),
        (
            {"config": '{"cache": {"mode": "simple"}}'},
            {"x-portkey-config": '{"cache":{"mode":"simple"}}', "x-portkey-virtual-key": "vk-conn"},
        ),
        ({"virtualKey": "vk-query"}, {"x-portkey-config": "pc-conn", "x-portkey-virtual-key": "vk-query"}),
        ({"virtualKey": ""}, {"x-portkey-config": "pc-conn", "x-portkey-virtual-key": "vk-conn"}),
    ],
)
@pytest.mark.parametrize("operation", list(MINIMAL))
def test_query_config_and_virtual_key_override_the_connections(
    service: QueryService,
    respx_mock: respx.MockRouter,
    operation: str,
    query: dict[str, Any],
    headers: dict[str, str],
) -> None:
    source = {**SOURCE, "config": "pc-conn", "virtualKey": "vk-conn"}
    sent = send(service, respx_mock, {**MINIMAL[operation], **query}, source)
    assert sent["headers"] == base_headers(**headers)


@pytest.mark.parametrize(
    ("gateway_url", "url"),
    [
        ("http://127.0.0.1:8787/v1", "http://127.0.0.1:8787/v1/chat/completions"),
        ("http://127.0.0.1:8787/v1/", "http://127.0.0.1:8787/v1/chat/completions"),
        ("https://gw.example.internal/portkey/v1", "https://gw.example.internal/portkey/v1/chat/completions"),
        ("HTTPS://GW.EXAMPLE.INTERNAL/v1//", "https://gw.example.internal/v1/chat/completions"),
    ],
)
def test_gateway_url_is_honoured(service: QueryService, gateway_url: str, url: str) -> None:
    with respx.mock(assert_all_called=True) as mock:
        route = mock.route().respond(200, json=CHAT_EXAMPLE)
        service.run({"gatewayUrl": gateway_url, "maxRetries": "0"}, MINIMAL["chat"])
    request = route.calls.last.request
    assert str(request.url) == url
    assert "x-portkey-api-key" not in request.headers  # a self-hosted gateway may need no key


def test_hosted_api_is_the_default(service: QueryService) -> None:
    with respx.mock(assert_all_called=True) as mock:
        route = mock.route().respond(200, json=EMBEDDING_EXAMPLE)
        service.run({"apiKey": API_KEY}, MINIMAL["create_embedding"])
    request = route.calls.last.request
    assert str(request.url) == "https://api.portkey.ai/v1/embeddings"
    assert request.headers["x-portkey-api-key"] == API_KEY


# ---------------------------------------------------------------------------------------------------
# The pure builder: the same request without a service


def test_build_request_is_pure_and_hides_secrets_in_its_repr() -> None:
    settings = parse_connection({**SOURCE, "virtualKey": "vk-secret-1", "providerApiKey": "sk-secret-2"})
    query = parse_query({**MINIMAL["chat"], "max_tokens": "5"})
    first, second = build_request(settings, query), build_request(settings, query)
    assert first == second
    assert (first.method, first.path, first.body, first.stream) == (
        "POST",
        "/chat/completions",
        {
            "model": "gpt-4o-mini",
            "messages": [{"role": "user", "content": "Who uses ToolJet?"}],
            "max_tokens": 5,
        },
        False,
    )
    assert dict(query.params) == dict(parse_query({**MINIMAL["chat"], "max_tokens": "5"}).params)
    shown = repr(first)
    for secret in (API_KEY, "vk-secret-1", "sk-secret-2"):
        assert secret not in shown
    assert "/chat/completions" in shown


def test_chat_message_list_is_sent_as_given(service: QueryService, respx_mock: respx.MockRouter) -> None:
    messages = [
        {"role": "developer", "content": "Answer in JSON."},
        {"role": "user", "content": [{"type": "text", "text": "Describe"}], "name": "ada"},
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [{"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{}"}}],
        },
        {"role": "tool", "content": "42", "tool_call_id": "c1"},
    ]
    body = send(service, respx_mock, {**MINIMAL["chat"], "messages": json.dumps(messages)})["json"]
    assert body["messages"] == messages


def test_other_parameters_never_override_a_form_field_even_when_empty_form_values(
    service: QueryService, respx_mock: respx.MockRouter
) -> None:
    """A form field left blank is not given, so other_parameters may then supply it."""
    body = send(
        service,
        respx_mock,
        {**MINIMAL["completion"], "max_tokens": "", "other_parameters": '{"max_tokens": 7, "prompt": "x"}'},
    )["json"]
    assert body == {"max_tokens": 7, "prompt": "Say hi", "model": "gpt-3.5-turbo-instruct"}


def test_request_carries_no_unexpected_transport_settings(
    service: QueryService, respx_mock: respx.MockRouter
) -> None:
    route = respx_mock.route().respond(200, json=CHAT_EXAMPLE)
    service.run(SOURCE, MINIMAL["chat"])
    request: httpx.Request = route.calls.last.request
    timeout = request.extensions["timeout"]
    assert timeout["connect"] == 10.0
    assert 0 < timeout["read"] <= 600.0


@pytest.mark.parametrize(
    ("options", "source", "url", "header", "value"),
    [
        ({"model": " gpt-4o-mini "}, {}, None, None, None),
        ({"virtualKey": "  vk-1 "}, {}, None, "x-portkey-virtual-key", "vk-1"),
        ({"traceId": " t-1"}, {}, None, "x-portkey-trace-id", "t-1"),
        ({}, {"apiKey": f" {API_KEY} "}, None, "x-portkey-api-key", API_KEY),
        ({}, {"provider": "@openai-prod "}, None, "x-portkey-provider", "@openai-prod"),
        ({}, {"gatewayUrl": f" {BASE_URL}/ "}, f"{BASE_URL}/chat/completions", None, None),
    ],
)
def test_spaces_pasted_around_identifiers_and_keys_are_trimmed(
    service: QueryService,
    respx_mock: respx.MockRouter,
    options: dict[str, Any],
    source: dict[str, Any],
    url: str | None,
    header: str | None,
    value: str | None,
) -> None:
    sent = send(service, respx_mock, {**MINIMAL["chat"], **options}, {**SOURCE, **source})
    assert sent["json"]["model"] == "gpt-4o-mini"
    if url is not None:
        assert sent["url"] == url
    if header is not None:
        assert sent["headers"][header] == value


def test_embeddings_never_ask_for_a_stream(service: QueryService, respx_mock: respx.MockRouter) -> None:
    options = {**MINIMAL["create_embedding"], "other_parameters": '{"stream": true, "dimensions": 8}'}
    sent = send(service, respx_mock, options)
    assert sent["json"] == {"model": MINIMAL["create_embedding"]["model"], "input": "hello", "dimensions": 8}
    assert sent["headers"]["accept"] == "application/json"
