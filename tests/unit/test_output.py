"""What apps bind: output modes (full, text, json, vectors), chat's prompt form, structured output,
tools, images, reasoning models and usage in streams, checked on the wire and in the QueryResult."""

# Tables of exact messages read best one case per line.
# ruff: noqa: E501

from __future__ import annotations

import base64
import json
import struct
from typing import Any

import pytest
import respx
from unit_support import BASE_URL, CHAT_EXAMPLE, MINIMAL, SOURCE, unpriced, wire

from tooljet_portkey import QueryError, QueryService

pytestmark = pytest.mark.respx(base_url=BASE_URL)

CHAT = MINIMAL["chat"]
PROMPT_CHAT = {"operation": "chat", "prompt": "Hello", "model": "gpt-4o-mini"}
INVALID = "Invalid query options"
HEADERS = {"x-portkey-trace-id": "trace-9"}


def chat_answer(*messages: dict[str, Any], usage: Any = None) -> dict[str, Any]:
    answer: dict[str, Any] = {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "created": 1,
        "model": "gpt-4o-mini",
        "choices": [
            {"index": i, "message": {"role": "assistant", **m}, "finish_reason": "stop"}
            for i, m in enumerate(messages)
        ],
    }
    if usage is not None:
        answer["usage"] = usage
    return answer


def run(service: QueryService, respx_mock: respx.MockRouter, query: dict[str, Any], answer: Any) -> Any:
    respx_mock.route().respond(200, json=answer, headers=HEADERS)
    return service.run(SOURCE, query)


def sent_body(respx_mock: respx.MockRouter, service: QueryService, query: dict[str, Any]) -> Any:
    route = respx_mock.route().respond(200, json=CHAT_EXAMPLE)
    service.run(SOURCE, query)
    return wire(route.calls.last.request)["json"]


# ---------------------------------------------------------------------------------------------------
# output: text


def test_text_is_the_answer_text_with_usage_model_and_finish_reason(
    service: QueryService, respx_mock: respx.MockRouter
) -> None:
    usage = {"prompt_tokens": 3, "completion_tokens": 2, "total_tokens": 5}
    result = run(
        service, respx_mock, {**CHAT, "output": "text"}, chat_answer({"content": "Hi!"}, usage=usage)
    )
    assert result == {
        "status": "ok",
        "data": "Hi!",
        "metadata": {
            "statusCode": 200,
            "retries": 0,
            "traceId": "trace-9",
            "usage": usage,
            "model": "gpt-4o-mini",
            "finishReason": "stop",
            **unpriced("gpt-4o-mini"),
        },
    }


def test_text_of_several_choices_is_a_list_and_has_no_single_finish_reason(
    service: QueryService, respx_mock: respx.MockRouter
) -> None:
    result = run(
        service, respx_mock, {**CHAT, "output": "text"}, chat_answer({"content": "A"}, {"content": "B"})
    )
    assert result["data"] == ["A", "B"]
    assert "finishReason" not in result["metadata"]


@pytest.mark.parametrize(
    ("operation", "answer"),
    [
        ("completion", {"choices": [{"index": 0, "text": " a tagline", "finish_reason": "length"}]}),
        ("prompt_completion", {"choices": [{"index": 0, "message": {"content": " a tagline"}}]}),
        # a wrapped prompt completion is unwrapped first
        ("prompt_completion", {"status": 200, "body": {"choices": [{"message": {"content": " a tagline"}}]}}),
    ],
)
def test_text_of_completions_and_saved_prompts(
    service: QueryService, respx_mock: respx.MockRouter, operation: str, answer: Any
) -> None:
    assert run(service, respx_mock, {**MINIMAL[operation], "output": "text"}, answer)["data"] == " a tagline"


def test_tool_calls_only_answer_gives_calls_with_parsed_arguments(
    service: QueryService, respx_mock: respx.MockRouter
) -> None:
    calls = [
        {"id": "c1", "type": "function", "function": {"name": "weather", "arguments": '{"city": "Oslo"}'}},
        {"id": "c2", "type": "function", "function": {"name": "time", "arguments": "{not json"}},
    ]
    result = run(
        service, respx_mock, {**CHAT, "output": "text"}, chat_answer({"content": None, "tool_calls": calls})
    )
    assert result["data"] == [
        {"id": "c1", "name": "weather", "arguments": {"city": "Oslo"}},
        {"id": "c2", "name": "time", "arguments": "{not json"},
    ]
    assert result["metadata"]["warning"] == "the arguments of tool call c2 are not valid JSON; kept as text"


# ---------------------------------------------------------------------------------------------------
# output: json


@pytest.mark.parametrize(
    "content",
    ['{"name": "Ada", "age": 36}', '```json\n{"name": "Ada", "age": 36}\n```', '  {"name":"Ada","age":36}\n'],
    ids=["plain", "markdown fence", "whitespace"],
)
def test_json_parses_the_answer(service: QueryService, respx_mock: respx.MockRouter, content: str) -> None:
    result = run(service, respx_mock, {**CHAT, "output": "json"}, chat_answer({"content": content}))
    assert result["data"] == {"name": "Ada", "age": 36}


def test_json_that_does_not_parse_is_invalid_output_with_the_raw_text(
    service: QueryService, respx_mock: respx.MockRouter
) -> None:
    content = "Sure! " + "x" * 3000
    with pytest.raises(QueryError) as caught:
        run(service, respx_mock, {**CHAT, "output": "json"}, chat_answer({"content": content}))
    err = caught.value
    assert err.message == "The answer is not the output asked for"
    assert err.description == "The answer is not valid JSON (Expecting value: line 1 column 1 (char 0))"
    assert err.data == {
        "statusCode": 200,
        "errorType": "invalid_output",
        "traceId": "trace-9",
        "output": content[:2000],
    }


SCHEMA = {
    "type": "object",
    "properties": {"name": {"type": "string"}, "age": {"type": "integer"}},
    "required": ["name", "age"],
}


def test_json_is_checked_against_the_response_schema_and_names_the_failing_path(
    service: QueryService, respx_mock: respx.MockRouter
) -> None:
    query = {**CHAT, "output": "json", "response_format": json.dumps(SCHEMA)}
    content = '{"name": "Ada", "age": "thirty-six"}'
    with pytest.raises(QueryError) as caught:
        run(service, respx_mock, query, chat_answer({"content": content}))
    assert (
        caught.value.description
        == "The answer does not follow the response schema: age: must be a whole number"
    )
    assert caught.value.data["output"] == content
    assert caught.value.data["errorType"] == "invalid_output"


def test_json_that_follows_the_schema_is_the_data(
    service: QueryService, respx_mock: respx.MockRouter
) -> None:
    query = {**CHAT, "output": "json", "response_format": SCHEMA}
    result = run(service, respx_mock, query, chat_answer({"content": '{"name": "Ada", "age": 36}'}))
    assert result["data"] == {"name": "Ada", "age": 36}


def test_run_with_stream_applies_the_output_to_the_assembled_answer(
    service: QueryService, respx_mock: respx.MockRouter
) -> None:
    chunks = [
        {"id": "c", "model": "gpt-4o-mini", "choices": [{"index": 0, "delta": {"role": "assistant", "content": '{"a"'}}]},
        {"id": "c", "model": "gpt-4o-mini", "choices": [{"index": 0, "delta": {"content": ": 1}"}, "finish_reason": "stop"}]},
        {"id": "c", "model": "gpt-4o-mini", "choices": [], "usage": {"prompt_tokens": 1, "completion_tokens": 2, "total_tokens": 3}},
    ]  # fmt: skip
    body = b"".join(b"data: " + json.dumps(c).encode() + b"\n\n" for c in chunks) + b"data: [DONE]\n\n"
    route = respx_mock.route().respond(200, content=body, headers={"content-type": "text/event-stream"})
    result = service.run(SOURCE, {**CHAT, "stream": "true", "output": "json"})
    assert result["data"] == {"a": 1}
    assert result["metadata"]["usage"] == {"prompt_tokens": 1, "completion_tokens": 2, "total_tokens": 3}
    assert result["metadata"]["finishReason"] == "stop"
    assert wire(route.calls.last.request)["json"]["stream_options"] == {"include_usage": True}


# ---------------------------------------------------------------------------------------------------
# output: vectors


def embedding_answer(*vectors: Any) -> dict[str, Any]:
    items = [{"object": "embedding", "index": i, "embedding": v} for i, v in enumerate(vectors)]
    return {
        "object": "list",
        "data": list(reversed(items)),
        "model": "e",
        "usage": {"prompt_tokens": 2, "total_tokens": 2},
    }


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("one text", [0.5, 0.25]),
        ([1, 2, 3], [0.5, 0.25]),  # one token array is one input
        (["a", "b"], [[0.5, 0.25], [1.0, 2.0]]),  # answers out of order come back in input order
        ([[1], [2]], [[0.5, 0.25], [1.0, 2.0]]),
    ],
)
def test_vectors_of_one_input_or_many(
    service: QueryService, respx_mock: respx.MockRouter, given: Any, expected: Any
) -> None:
    query = {**MINIMAL["create_embedding"], "input": json.dumps(given) if isinstance(given, list) else given}
    answer = (
        embedding_answer([0.5, 0.25], [1.0, 2.0])
        if isinstance(expected[0], list)
        else embedding_answer([0.5, 0.25])
    )
    assert run(service, respx_mock, {**query, "output": "vectors"}, answer)["data"] == expected


def test_base64_vectors_are_decoded_to_numbers(service: QueryService, respx_mock: respx.MockRouter) -> None:
    packed = base64.b64encode(struct.pack("<3f", 0.5, -1.0, 2.0)).decode()
    query = {
        **MINIMAL["create_embedding"],
        "output": "vectors",
        "other_parameters": '{"encoding_format": "base64"}',
    }
    assert run(service, respx_mock, query, embedding_answer(packed))["data"] == [0.5, -1.0, 2.0]


@pytest.mark.parametrize(
    ("operation", "mode", "allowed"),
    [("create_embedding", "text", "full, vectors"), ("chat", "vectors", "full, text, json")],
)
def test_an_output_mode_the_operation_lacks_is_refused(
    service: QueryService, operation: str, mode: str, allowed: str
) -> None:
    with pytest.raises(QueryError) as caught:
        service.run(SOURCE, {**MINIMAL[operation], "output": mode})
    assert (caught.value.description, caught.value.data) == (
        f"output: must be one of: {allowed}",
        {"field": "output"},
    )


# ---------------------------------------------------------------------------------------------------
# Chat: prompt form, response format, tools, images, reasoning models


HISTORY_SHAPES = (
    "must be a message ({role, content}) or a ToolJet Chat component message ({message, type} with type "
    "message, response or error)"
)


@pytest.mark.parametrize(
    ("query", "description", "field"),
    [
        ({**CHAT, "prompt": "Hi"}, "messages: give either messages or prompt, not both", "messages"),
        ({"operation": "chat", "model": "m"}, "prompt: is required (or give messages)", "prompt"),
        ({**CHAT, "message_history": "[]"}, "message_history: goes with prompt, not with messages", "message_history"),
        ({**PROMPT_CHAT, "message_history": '[{"text": "hi"}]'}, f"message_history[0]: {HISTORY_SHAPES}", "message_history"),
        ({**PROMPT_CHAT, "message_history": '[{"text": "hi", "type": "message"}]'}, f"message_history[0]: {HISTORY_SHAPES}", "message_history"),
        ({**PROMPT_CHAT, "message_history": '[{"message": "hi"}]'}, f"message_history[0]: {HISTORY_SHAPES}", "message_history"),
        ({**PROMPT_CHAT, "message_history": '[{"message": "hi", "type": "message"}, {"message": "hi", "type": "user"}]'}, f"message_history[1]: {HISTORY_SHAPES}", "message_history"),
        ({**PROMPT_CHAT, "message_history": '[{"message": "hello", "type": "bot"}]'}, f"message_history[0]: {HISTORY_SHAPES}", "message_history"),
        ({**PROMPT_CHAT, "message_history": '[{"message": "hello", "type": 1}]'}, f"message_history[0]: {HISTORY_SHAPES}", "message_history"),
        ({**PROMPT_CHAT, "message_history": '[{"message": 5, "type": "message"}]'}, "message_history[0].message: must be text or empty", "message_history"),
        ({**PROMPT_CHAT, "other_parameters": '{"stop": ["a", "b", "c", "d", "e"]}'}, "other_parameters.stop: must have at most 4 items", "other_parameters"),
        ({**PROMPT_CHAT, "other_parameters": '{"stop": ["a", ""]}'}, "other_parameters.stop[1]: must not be empty", "other_parameters"),
        ({**PROMPT_CHAT, "message_history": '[{"role": "user"}]'}, "message_history[0]: needs 'content'", "message_history"),
        ({**PROMPT_CHAT, "response_format": '{"type": "object", "properties": 5}'}, "response_format: is not a valid JSON Schema (at schema.properties: must be a JSON object)", "response_format"),
        ({**PROMPT_CHAT, "response_format": '{"type": "json_schema", "json_schema": {"name": "x"}}'}, "response_format: a json_schema response format needs json_schema.schema", "response_format"),
        ({**PROMPT_CHAT, "response_format": "yaml"}, "response_format: must be text, json_object, a response_format object or a JSON Schema", "response_format"),
        ({**PROMPT_CHAT, "tools": '[{"type": "function", "function": {"name": "get weather"}}]'}, "tools[0].function.name: must be 1 to 64 letters, digits, _ or -", "tools"),
        ({**PROMPT_CHAT, "tools": '[{"type": "function", "function": {"name": "f", "parameters": {"type": 5}}}]'}, "tools[0].function.parameters: is not a valid JSON Schema (at schema.type: is not in an accepted form)", "tools"),
        ({**PROMPT_CHAT, "tools": '[{"type": "function", "function": {"name": "f"}}, {"type": "function", "function": {"name": "f"}}]'}, "tools[1].function.name: f is given twice", "tools"),
        ({**PROMPT_CHAT, "tool_choice": "lookup"}, "tool_choice: names no tool in tools (tools: none given)", "tool_choice"),
        ({**PROMPT_CHAT, "tool_choice": "any tool"}, "tool_choice: must be auto, none, required or a function name (1 to 64 letters, digits, _ or -)", "tool_choice"),
        ({**PROMPT_CHAT, "images": "ftp://img.test/a.png"}, "images: must be an http(s) URL or a data:image/...;base64, URI", "images"),
        ({**PROMPT_CHAT, "images": json.dumps(["https://a.test/x.png"] * 17)}, "images: must have at most 16 items", "images"),
        ({**PROMPT_CHAT, "images": "[]"}, "images: must have at least 1 item", "images"),
        ({**PROMPT_CHAT, "images": 5}, "images: must be an image URL, a data:image/...;base64, URI, or a JSON list of them (at most 16)", "images"),
        ({**PROMPT_CHAT, "images": '["https://a.test/x.png", "javascript:alert(1)"]'}, "images[1]: must be an http(s) URL or a data:image/...;base64, URI", "images"),
        ({**CHAT, "messages": '[{"role": "system", "content": "s"}]', "images": "https://a.test/x.png"}, "images: needs a user message to add the images to", "images"),
    ],
)  # fmt: skip
@pytest.mark.respx(base_url=BASE_URL, assert_all_called=False)
def test_chat_rules_name_the_field_and_send_nothing(
    service: QueryService, respx_mock: respx.MockRouter, query: dict[str, Any], description: str, field: str
) -> None:
    route = respx_mock.route().respond(200, json=CHAT_EXAMPLE)
    with pytest.raises(QueryError) as caught:
        service.run(SOURCE, query)
    assert (caught.value.message, caught.value.description, caught.value.data) == (
        INVALID,
        description,
        {"field": field},
    )
    assert not route.called


def test_system_prompt_goes_before_the_messages_own_system_message(
    service: QueryService, respx_mock: respx.MockRouter
) -> None:
    query = {
        **CHAT,
        "messages": '[{"role": "system", "content": "B"}, {"role": "user", "content": "Q"}]',
        "system_prompt": "A",
    }
    assert sent_body(respx_mock, service, query)["messages"] == [
        {"role": "system", "content": "A"},
        {"role": "system", "content": "B"},
        {"role": "user", "content": "Q"},
    ]


@pytest.mark.parametrize(
    ("history", "messages"),
    [
        # the Chat component's history already ends with the new message: it is sent once
        (
            [{"message": "Hi", "type": "message"}, {"message": "Hi!", "type": "response"}, {"message": "Hello", "type": "message"}],
            [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hi!"}, {"role": "user", "content": "Hello"}],
        ),
        # the same in OpenAI form
        ([{"role": "user", "content": "Hello"}], [{"role": "user", "content": "Hello"}]),
        # an error item after it is skipped first
        (
            [{"message": "Hello", "type": "message"}, {"message": "Network error", "type": "error"}],
            [{"role": "user", "content": "Hello"}],
        ),
        # the same text said before, with an answer between: both stay
        (
            [{"message": "Hello", "type": "message"}, {"message": "Hi!", "type": "response"}],
            [{"role": "user", "content": "Hello"}, {"role": "assistant", "content": "Hi!"}, {"role": "user", "content": "Hello"}],
        ),
        # the assistant's last words equal to the prompt are not the prompt
        (
            [{"message": "Hello", "type": "response"}],
            [{"role": "assistant", "content": "Hello"}, {"role": "user", "content": "Hello"}],
        ),
        # another user message: both are sent
        ([{"message": "Hi", "type": "message"}], [{"role": "user", "content": "Hi"}, {"role": "user", "content": "Hello"}]),
    ],
)  # fmt: skip
def test_the_prompt_at_the_end_of_the_history_is_sent_once(
    service: QueryService, respx_mock: respx.MockRouter, history: list[Any], messages: list[Any]
) -> None:
    query = {**PROMPT_CHAT, "message_history": json.dumps(history)}
    assert sent_body(respx_mock, service, query)["messages"] == messages


def test_images_join_the_prompt_sent_once(service: QueryService, respx_mock: respx.MockRouter) -> None:
    history = [{"message": "Hello", "type": "message"}]
    query = {**PROMPT_CHAT, "message_history": json.dumps(history), "images": "https://a.test/x.png"}
    assert sent_body(respx_mock, service, query)["messages"] == [
        {"role": "user", "content": [{"type": "text", "text": "Hello"}, {"type": "image_url", "image_url": {"url": "https://a.test/x.png"}}]},
    ]  # fmt: skip


def test_images_join_the_last_user_message_of_a_messages_list(
    service: QueryService, respx_mock: respx.MockRouter
) -> None:
    messages = [
        {"role": "user", "content": "first"},
        {"role": "user", "content": [{"type": "text", "text": "last"}]},
        {"role": "assistant", "content": "?"},
    ]
    query = {**CHAT, "messages": json.dumps(messages), "images": "https://a.test/x.png"}
    assert sent_body(respx_mock, service, query)["messages"] == [
        {"role": "user", "content": "first"},
        {"role": "user", "content": [{"type": "text", "text": "last"}, {"type": "image_url", "image_url": {"url": "https://a.test/x.png"}}]},
        {"role": "assistant", "content": "?"},
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("given", "sent"),
    [
        ("text", None),
        ("json_object", {"type": "json_object"}),
        ('{"type": "json_object"}', {"type": "json_object"}),
        ('{"type": "json_schema", "json_schema": {"name": "person", "schema": {"type": "object"}, "strict": false}}',
         {"type": "json_schema", "json_schema": {"name": "person", "schema": {"type": "object"}, "strict": False}}),
        ('{"type": "object"}', {"type": "json_schema", "json_schema": {"name": "response", "schema": {"type": "object"}, "strict": True}}),
    ],
)  # fmt: skip
def test_response_format_forms(
    service: QueryService, respx_mock: respx.MockRouter, given: str, sent: Any
) -> None:
    body = sent_body(respx_mock, service, {**PROMPT_CHAT, "response_format": given})
    assert body.get("response_format") == sent


@pytest.mark.parametrize(("choice", "sent"), [("auto", "auto"), ("none", "none"), ("required", "required"),
                                              ("lookup", {"type": "function", "function": {"name": "lookup"}})])  # fmt: skip
def test_tool_choice_forms(
    service: QueryService, respx_mock: respx.MockRouter, choice: str, sent: Any
) -> None:
    tools = '[{"type": "function", "function": {"name": "lookup"}}]'
    assert (
        sent_body(respx_mock, service, {**PROMPT_CHAT, "tools": tools, "tool_choice": choice})["tool_choice"]
        == sent
    )


@pytest.mark.parametrize(
    ("model", "key"),
    [
        ("o1", "max_completion_tokens"),
        ("o1-mini", "max_completion_tokens"),
        ("o1-preview-2024-09-12", "max_completion_tokens"),
        ("o3", "max_completion_tokens"),
        ("o3-mini", "max_completion_tokens"),
        ("o4-mini", "max_completion_tokens"),
        ("O3-PRO", "max_completion_tokens"),
        ("gpt-5", "max_completion_tokens"),
        ("gpt-5-mini", "max_completion_tokens"),
        ("gpt-5.1", "max_completion_tokens"),
        ("@openai-prod/o4-mini", "max_completion_tokens"),
        ("@openai-prod/gpt-5-nano", "max_completion_tokens"),
        ("gpt-4o", "max_tokens"),
        ("gpt-4o-mini", "max_tokens"),
        ("gpt-4.1", "max_tokens"),
        ("o2-lookalike", "max_tokens"),
        ("o10", "max_tokens"),
        ("claude-3-5-sonnet", "max_tokens"),
        ("@anthropic/claude-opus-4", "max_tokens"),
    ],
)
def test_max_tokens_key_by_model_family(
    service: QueryService, respx_mock: respx.MockRouter, model: str, key: str
) -> None:
    body = sent_body(respx_mock, service, {**PROMPT_CHAT, "model": model, "max_tokens": "50"})
    assert {k: v for k, v in body.items() if "max" in k} == {key: 50}


def test_other_parameters_may_still_set_either_max_tokens_key(
    service: QueryService, respx_mock: respx.MockRouter
) -> None:
    body = sent_body(
        respx_mock, service, {**PROMPT_CHAT, "model": "o3", "other_parameters": '{"max_tokens": 7}'}
    )
    assert body["max_tokens"] == 7
    assert "max_completion_tokens" not in body


@pytest.mark.parametrize(
    ("query", "stream_options"),
    [
        ({**CHAT, "stream": "true"}, {"include_usage": True}),
        ({**MINIMAL["completion"], "stream": "true"}, {"include_usage": True}),
        ({**CHAT, "stream": "true", "other_parameters": '{"stream_options": {"include_usage": false}}'}, {"include_usage": False}),
        ({**MINIMAL["prompt_completion"], "stream": "true"}, None),  # a saved prompt's body holds only variables
    ],
)  # fmt: skip
def test_streams_ask_for_usage_unless_told_otherwise(
    service: QueryService, respx_mock: respx.MockRouter, query: dict[str, Any], stream_options: Any
) -> None:
    route = respx_mock.route().respond(
        200, content=b"data: [DONE]\n\n", headers={"content-type": "text/event-stream"}
    )
    service.run(SOURCE, query)
    assert wire(route.calls.last.request)["json"].get("stream_options") == stream_options
