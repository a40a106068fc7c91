"""Every request the plugin builds conforms to Portkey's request schema for its path.

Queries go through the plugin's own pure pipeline, as a host's options would: ``parse_query`` (coercion
and validation of the host's text), then ``build_request``. Each body is validated against the
request schema of its spec path, from the trimmed copy in portkey_schemas.json. Where the spec is wrong,
spec_schemas.CORRECTIONS says why; the ``test_the_spec_as_written_*`` tests below show each request
correction is needed. A property test builds many more queries from the fields' own value schemas.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from spec_schemas import (
    assert_valid,
    document,
    problems,
    query_validator,
    request_validator,
    security_problem,
    typed_query,
)

from tooljet_portkey._options import parse_connection, parse_query
from tooljet_portkey._requests import PortkeyRequest, build_request, row_request
from tooljet_portkey._rows import chunk_request, chunked_input
from tooljet_portkey._spec import load_spec

CONNECTION = parse_connection({"apiKey": "pk-conformance", "virtualKey": "vk-conformance"})
SPEC_PATHS = {
    "chat": "/chat/completions",
    "completion": "/completions",
    "prompt_completion": "/prompts/{promptId}/completions",
    "create_embedding": "/embeddings",
    "image_generation": "/images/generations",
    "prompt_render": "/prompts/{promptId}/render",
    "list_models": "/models",
    "feedback": "/feedback",
    # a submit's second request, which creates the batch (its lines are checked by their own endpoint's)
    "batch_submit": "/batches",
    "batch_status": "/batches/{batch_id}",
    "batch_results": "/batches/{batch_id}",
    "batch_cancel": "/batches/{batch_id}/cancel",
}
PNG = "data:image/png;base64,iVBORw0KGgo="
SCHEMA = {
    "type": "object",
    "properties": {"name": {"type": "string"}, "age": {"type": "integer"}},
    "required": ["name", "age"],
    "additionalProperties": False,
}
WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "The weather in a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    },
}
CLOCK = {"type": "function", "function": {"name": "get_time"}}
CALL = {"id": "call_1", "type": "function", "function": {"name": "get_time", "arguments": "{}"}}
ROUND_TRIP = [
    {"role": "system", "content": "Be brief."},
    {"role": "developer", "content": "Use tools."},
    {"role": "user", "content": "What time is it?", "name": "ada"},
    {"role": "assistant", "content": None, "tool_calls": [CALL]},
    {"role": "tool", "tool_call_id": "call_1", "content": "12:00"},
    {"role": "assistant", "content": "It is noon."},
    {"role": "user", "content": "Thanks"},
]


def j(value: Any) -> str:
    """A JSON option as a host sends it: text."""
    return json.dumps(value)


@dataclass(frozen=True)
class RequestCase:
    """A query as a host sends it (every value text), and what its body must then hold."""

    name: str
    options: dict[str, str]
    expect: dict[str, Any] = field(default_factory=dict)  # body keys and their exact values
    absent: tuple[str, ...] = ()  # body keys that must not be sent
    marks: tuple[Any, ...] = ()


def chat(
    name: str, expect: dict[str, Any] | None = None, absent: tuple[str, ...] = (), **options: str
) -> RequestCase:
    return RequestCase(name, {"operation": "chat", "model": "gpt-4o-mini", **options}, expect or {}, absent)


def completion(name: str, expect: dict[str, Any] | None = None, **options: str) -> RequestCase:
    return RequestCase(
        name, {"operation": "completion", "model": "gpt-3.5-turbo-instruct", **options}, expect or {}
    )


def prompt(name: str, expect: dict[str, Any] | None = None, **options: str) -> RequestCase:
    return RequestCase(
        name, {"operation": "prompt_completion", "promptId": "pp-demo", **options}, expect or {}
    )


def embedding(
    name: str, expect: dict[str, Any] | None = None, marks: tuple[Any, ...] = (), **options: str
) -> RequestCase:
    base = {"operation": "create_embedding", "model": "text-embedding-3-small"}
    return RequestCase(name, {**base, **options}, expect or {}, (), marks)


def images(
    name: str, expect: dict[str, Any] | None = None, absent: tuple[str, ...] = (), **options: str
) -> RequestCase:
    base = {"operation": "image_generation", "prompt": "A lighthouse"}
    return RequestCase(name, {**base, **options}, expect or {}, absent)


def render(
    name: str, expect: dict[str, Any] | None = None, absent: tuple[str, ...] = (), **options: str
) -> RequestCase:
    return RequestCase(
        name, {"operation": "prompt_render", "promptId": "pp-demo", **options}, expect or {}, absent
    )


def models(name: str, expect: dict[str, Any] | None = None, **options: str) -> RequestCase:
    """A GET: ``expect`` holds the query parameters sent (text, as in the URL)."""
    return RequestCase(name, {"operation": "list_models", **options}, expect or {})


def feedback(
    name: str, expect: dict[str, Any] | None = None, absent: tuple[str, ...] = (), **options: str
) -> RequestCase:
    base = {"operation": "feedback", "traceId": "tr-rated", "value": "1"}
    return RequestCase(name, {**base, **options}, expect or {}, absent)


HEADERS_ONLY = {
    "metadata": j({"_user": "ada", "team": "support"}),
    "config": j({"retry": {"attempts": 2}, "cache": {"mode": "simple"}}),
    "virtualKey": "vk-other",
    "traceId": "tr-1",
    "cacheNamespace": "ns-1",
    "cacheForceRefresh": "true",
}
# A batch of chat rows with every field that shapes its lines
BATCH_CHAT = {"operation": "batch_submit", "model": "gpt-4o-mini", "system_prompt": "Be brief.",
              "max_tokens": "8",
              "temperature": "0.2", "stop_sequences": "END", "response_format": j(SCHEMA),
              "other_parameters": j({"seed": 1}), "endpoint": "chat",
              "rows": j(["Hello", {"custom_id": "T-1", "prompt": "Hi", "temperature": 0}])}  # fmt: skip


CASES = [
    # -- chat, the prompt form
    chat("prompt only", prompt="Hello", expect={"messages": [{"role": "user", "content": "Hello"}]}),
    chat("system prompt and prompt", system_prompt="Be brief.", prompt="Hello",
         expect={"messages": [{"role": "system", "content": "Be brief."},
                              {"role": "user", "content": "Hello"}]}),
    chat("history in OpenAI form", prompt="And now?", message_history=j(ROUND_TRIP[2:6])),
    chat("history from ToolJet's Chat component, mixed", prompt="And now?", system_prompt="Be brief.",
         message_history=j([{"message": "Hi", "type": "message"}, {"message": "Hello!", "type": "response"},
                            {"message": "failed", "type": "error"}, {"role": "user", "content": "More"}]),
         expect={"messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"},
                              {"role": "assistant", "content": "Hello!"}, {"role": "user", "content": "More"},
                              {"role": "user", "content": "And now?"}]}),
    chat("empty history", prompt="Hi", message_history="[]"),
    chat("history that ends with the prompt, as the Chat component sends it", prompt="And now?",
         message_history=j([{"message": "Hi", "type": "message"}, {"message": "Hello!", "type": "response"},
                            {"message": "And now?", "type": "message"}]),
         expect={"messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello!"},
                              {"role": "user", "content": "And now?"}]}),
    # -- chat, the messages form
    chat("messages", messages=j([{"role": "user", "content": "Hi"}])),
    chat("messages with a system prompt before their own system message", system_prompt="First.",
         messages=j(ROUND_TRIP[:3])),
    chat("a tool round trip in messages", messages=j(ROUND_TRIP), tools=j([WEATHER, CLOCK])),
    chat("user content parts", messages=j([{"role": "user", "content": [
        {"type": "text", "text": "Describe"},
        {"type": "image_url", "image_url": {"url": "https://example.com/a.png", "detail": "high"}}]}])),
    chat("system and developer content as text parts", messages=j([
        {"role": "system", "content": [{"type": "text", "text": "Be brief."}]},
        {"role": "developer", "content": [{"type": "text", "text": "Use tools."}]},
        {"role": "user", "content": "Hi"}])),
    chat("assistant and tool content as text parts", messages=j([
        {"role": "user", "content": "What time is it?"},
        {"role": "assistant", "content": [{"type": "text", "text": "Checking."}], "tool_calls": [CALL]},
        {"role": "tool", "tool_call_id": "call_1", "content": [{"type": "text", "text": "12:00"}]}])),
    chat("audio and file parts", messages=j([{"role": "user", "content": [
        {"type": "input_audio", "input_audio": {"data": "UklGRg==", "format": "wav"}},
        {"type": "file", "file": {"file_id": "file-abc"}}]}])),
    # -- chat, sampling
    chat("max_tokens, temperature, one stop sequence", prompt="Hi", max_tokens="64", temperature="0.2",
         stop_sequences="END", expect={"max_tokens": 64, "temperature": 0.2, "stop": ["END"]}),
    chat("four stop sequences", prompt="Hi", stop_sequences='["a", "b", "c", "d"]',
         expect={"stop": ["a", "b", "c", "d"]}),
    chat("temperature bounds", prompt="Hi", temperature="2", max_tokens="1"),
    # -- chat, reasoning models
    chat("o3-mini gets max_completion_tokens", prompt="Hi", max_tokens="100", model="o3-mini",
         expect={"max_completion_tokens": 100}, absent=("max_tokens",)),
    chat("a Model Catalog gpt-5 gets max_completion_tokens", prompt="Hi", max_tokens="100",
         model="@openai-prod/gpt-5-mini", expect={"max_completion_tokens": 100}, absent=("max_tokens",)),
    chat("o1 with max_completion_tokens in other_parameters", prompt="Hi", model="o1",
         other_parameters=j({"max_completion_tokens": 50, "reasoning_effort": "low"})),
    # -- chat, response formats
    chat("response format text sends nothing", prompt="Hi", response_format="text",
         absent=("response_format",)),
    chat("response format json_object", prompt="Reply in JSON", response_format="json_object",
         expect={"response_format": {"type": "json_object"}}),
    chat("a bare JSON Schema", prompt="Extract", response_format=j(SCHEMA),
         expect={"response_format": {"type": "json_schema",
                                     "json_schema": {"name": "response", "schema": SCHEMA, "strict": True}}}),
    chat("a full json_schema response format", prompt="Extract", response_format=j(
        {"type": "json_schema", "json_schema": {"name": "person", "description": "A person", "schema": SCHEMA,
                                                "strict": False}})),
    chat("a full text response format", prompt="Hi", response_format=j({"type": "text"}),
         expect={"response_format": {"type": "text"}}),
    chat("a full json_object response format", prompt="JSON please",
         response_format=j({"type": "json_object"})),
    # -- chat, tools
    chat("tools alone", prompt="Weather?", tools=j([WEATHER, CLOCK])),
    *[chat(f"tool_choice {choice}", prompt="Weather?", tools=j([WEATHER, CLOCK]), tool_choice=choice,
           expect={"tool_choice": choice}) for choice in ("auto", "none", "required")],
    chat("tool_choice a function name", prompt="Weather?", tools=j([WEATHER, CLOCK]),
         tool_choice="get_weather",
         expect={"tool_choice": {"type": "function", "function": {"name": "get_weather"}}}),
    chat("a strict tool and parallel_tool_calls", prompt="Weather?", tools=j([
        {"type": "function", "function": {"name": "get_weather", "strict": True, "parameters": SCHEMA}}]),
         other_parameters=j({"parallel_tool_calls": False})),
    # -- chat, images
    chat("one image URL", prompt="What is this?", images="https://example.com/cat.png",
         expect={"messages": [{"role": "user", "content": [
             {"type": "text", "text": "What is this?"},
             {"type": "image_url", "image_url": {"url": "https://example.com/cat.png"}}]}]}),
    chat("a data URI image", prompt="What is this?", images=PNG),
    chat("a list of images with history", prompt="Compare",
         message_history=j([{"message": "Hi", "type": "message"}]),
         images=j(["https://example.com/a.png", PNG])),
    chat("images on the last user message of messages", messages=j(ROUND_TRIP), images="https://example.com/a.png"),
    # -- chat, streams and the rest
    chat("stream asks for usage", prompt="Hi", stream="true",
         expect={"stream": True, "stream_options": {"include_usage": True}}),
    chat("stream with its own stream_options", prompt="Hi", stream="true",
         other_parameters=j({"stream_options": {"include_usage": False}}),
         expect={"stream_options": {"include_usage": False}}),
    chat("stream off sends no stream", prompt="Hi", stream="false", absent=("stream", "stream_options")),
    chat("other_parameters", prompt="Hi", other_parameters=j(
        {"top_p": 0.9, "n": 2, "seed": 7, "user": "ada", "presence_penalty": 0.5, "frequency_penalty": -0.5,
         "logit_bias": {"50256": -100}, "logprobs": True, "top_logprobs": 3})),
    chat("header fields stay out of the body", prompt="Hi", **HEADERS_ONLY, output="text",
         absent=("metadata", "config", "virtualKey", "traceId", "output")),
    chat("output json", prompt="JSON", response_format=j(SCHEMA), output="json"),
    # -- completion
    completion("completion minimal", prompt="Say hi", expect={"prompt": "Say hi"}),
    completion("completion full", prompt="Say hi", max_tokens="16", temperature="0", stop_sequences='["\\n"]',
               stream="true", other_parameters=j({"suffix": "!", "echo": False, "logprobs": 2, "best_of": 2,
                                                  "top_p": 1}),
               expect={"stream_options": {"include_usage": True}, "stop": ["\n"]}),
    completion("completion with four stop sequences and output text", prompt="List", output="text",
               stop_sequences="1.,2.,3.,4.", **HEADERS_ONLY),
    # -- prompt completion
    prompt("prompt minimal", expect={"variables": {}}),
    prompt("prompt with variables", variables=j({"topic": "AI", "audience": {"role": "developers"}}),
           expect={"variables": {"topic": "AI", "audience": {"role": "developers"}}}),
    prompt("prompt with parameters at the root", variables=j({"topic": "AI"}),
           prompt_parameters=j({"max_tokens": 50, "temperature": 0.3, "stop": ["END"]}),
           expect={"max_tokens": 50, "temperature": 0.3}),
    prompt("prompt of a version, streamed", promptId="pp-demo@2", stream="true", output="text",
           expect={"stream": True}),
    prompt("prompt with header fields", **HEADERS_ONLY),
    # -- embeddings
    embedding("one text", input="hello world", expect={"input": "hello world"}),
    embedding("texts", input=j(["a", "b c"]), expect={"input": ["a", "b c"]}),
    embedding("token arrays", input=j([[1, 2, 3], [4]]), expect={"input": [[1, 2, 3], [4]]}),
    embedding("one token array", input=j([1, 2, 3]), expect={"input": [1, 2, 3]}),
    embedding("embedding parameters", input=j(["a"]), output="vectors",
              other_parameters=j({"dimensions": 256, "encoding_format": "base64", "user": "ada"})),
    embedding("embedding with header fields", input="x", **HEADERS_ONLY),
    # -- image generation
    images("image minimal", expect={"prompt": "A lighthouse"}, absent=()),
    images("dall-e-3, every field", model="dall-e-3", n="1", size="1792x1024", quality="hd", style="vivid",
           response_format="b64_json", output="images",
           expect={"model": "dall-e-3", "n": 1, "size": "1792x1024", "quality": "hd", "style": "vivid",
                   "response_format": "b64_json"}),
    images("dall-e-2, several", model="dall-e-2", n="10", size="256x256", response_format="url",
           other_parameters=j({"user": "ada"}), expect={"n": 10, "user": "ada"}),
    images("gpt-image-1's own sizes and qualities in other_parameters", model="gpt-image-1",
           other_parameters=j({"size": "1536x1024", "quality": "high", "output_format": "png",
                               "background": "transparent"})),
    images("image with header fields", metadata=HEADERS_ONLY["metadata"], config=HEADERS_ONLY["config"],
           virtualKey="vk-other", traceId="tr-1"),
    # -- prompt render
    render("render minimal", expect={"variables": {}}),
    render("render with variables and parameters at the root", promptId="pp-demo@latest",
           variables=j({"topic": "AI"}),
           prompt_parameters=j({"max_completion_tokens": 250, "presence_penalty": 0.2}),
           output="text", expect={"variables": {"topic": "AI"}, "max_completion_tokens": 250}),
    render("render never streams", prompt_parameters=j({"stream": True, "temperature": 1}),
           absent=("stream",)),
    # -- list models (query parameters)
    models("models, all", expect={}),
    models("models of a provider, paged", provider="openai", limit="25", offset="50", output="text",
           expect={"provider": "openai", "limit": "25", "offset": "50"}),
    # -- feedback
    feedback("feedback minimal", expect={"trace_id": "tr-rated", "value": 1}, absent=("weight", "metadata")),
    feedback("feedback, every field", value="-10", weight="0.5", metadata=j({"_user": "ada", "why": [1, 2]}),
             expect={"value": -10, "weight": 0.5, "metadata": {"_user": "ada", "why": [1, 2]}}),
    # -- several requests: what one row or one chunk sends (the first)
    RequestCase("a row of a table",
                {"operation": "prompt_completion", "promptId": "pp-demo", "variables": j({"audience": "d"}),
                 "rows": j([{"topic": "AI"}, {"topic": "ML"}]), "concurrency": "4", "failOnError": "true",
                 "maxRunSeconds": "30", "maxCostUsd": "2.5"},
                {"variables": {"audience": "d", "topic": "AI"}},
                ("rows", "concurrency", "failOnError", "maxRunSeconds", "maxCostUsd")),
    RequestCase("a row of a chat table (its text the prompt, the form's system prompt and schema)",
                {"operation": "chat", "model": "gpt-4o-mini", "system_prompt": "Extract the fields.",
                 "response_format": j({"type": "object", "properties": {"name": {"type": "string"}},
                                       "required": ["name"], "additionalProperties": False}),
                 "output": "json", "rows": j(["Ada, 36, London", {"prompt": "Linus", "temperature": 0}]),
                 "concurrency": "8", "failOnError": "false", "maxRunSeconds": "60", "maxCostUsd": "5"},
                {"messages": [{"role": "system", "content": "Extract the fields."},
                              {"role": "user", "content": "Ada, 36, London"}]},
                ("rows", "concurrency", "failOnError", "maxRunSeconds", "maxCostUsd", "stream")),
    RequestCase("a row of a completion table (its fields over the form's)",
                {"operation": "completion", "model": "gpt-3.5-turbo-instruct", "max_tokens": "16",
                 "rows": j([{"prompt": "Say this is a test", "max_tokens": 5}, "Say hi"]), "concurrency": "2",
                 "failOnError": "true", "maxRunSeconds": "60", "maxCostUsd": "1"},
                {"prompt": "Say this is a test", "max_tokens": 5},
                ("rows", "concurrency", "failOnError", "maxRunSeconds", "maxCostUsd", "stream")),
    embedding("a long input, in chunks", input=j(["t0", "t1", "t2", "t3", "t4"]), batch_size="2",
              concurrency="2", maxRunSeconds="30", maxCostUsd="0.5", expect={"input": ["t0", "t1"]}),
    # -- fallbacks and guardrails: the x-portkey-config header, never the body
    chat("chat with fallbacks and guardrails", messages=j([{"role": "user", "content": "Hi"}]),
         fallbacks="gpt-4o, @anthropic-prod/claude-3-5-haiku-20241022", fallbackOn="429, 500-599",
         input_guardrails=j(["pg-pii-1"]), output_guardrails=j([{"default.wordCount": {"maxWords": 9}}]),
         expect={"model": "gpt-4o-mini"},
         absent=("fallbacks", "fallbackOn", "input_guardrails", "output_guardrails", "strategy", "targets")),
    completion("completion with fallbacks and guardrails", prompt="Hi",
               fallbacks="gpt-3.5-turbo-instruct-0914", fallbackOn="503", input_guardrails=j(["pg-pii-1"]),
               output_guardrails=j(["pg-tone-2"]),
               expect={"model": "gpt-3.5-turbo-instruct", "prompt": "Hi"}),
    prompt("prompt with fallbacks", fallbacks=j([{"provider": "anthropic", "api_key": "sk-ant-1"}]),
           fallbackOn="500-599", expect={"variables": {}}),
    embedding("embedding with fallbacks", input="hi", fallbacks="text-embedding-3-large", fallbackOn="429",
              expect={"model": "text-embedding-3-small", "input": "hi"}),
    # -- batch jobs: the POST /batches a submit sends once its file is uploaded; status, results, cancel
    RequestCase("a batch of chat rows", {**BATCH_CHAT, "completion_window": "24h",
                "metadata": j({"job": "t"}), "config": "pc-batch", "virtualKey": "vk-openai"},
                {"endpoint": "/v1/chat/completions", "completion_window": "24h", "metadata": {"job": "t"}}),
    RequestCase("a batch of embeddings", {"operation": "batch_submit", "endpoint": "embedding",
                "model": "text-embedding-3-small", "rows": j(["a", {"input": ["b", "c"]}])},
                {"endpoint": "/v1/embeddings", "input_file_id": "file-abc123"}, ("metadata",)),
    RequestCase("a batch's status", {"operation": "batch_status", "batchId": "batch_abc123",
                                     "config": "pc-1", "virtualKey": "vk-1"}),
    RequestCase("a batch's results", {"operation": "batch_results", "batchId": "batch_abc123",
                                      "output": "json", "response_format": j(SCHEMA), "config": "pc-1",
                                      "virtualKey": "vk-1"}),
    RequestCase("a batch cancelled", {"operation": "batch_cancel", "batchId": "batch_abc123",
                                      "config": "pc-1", "virtualKey": "vk-1"}),
]  # fmt: skip


def build(options: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """The spec path and body of the request the plugin builds for these options."""
    query = parse_query(options)
    request = build_request(CONNECTION, query)
    assert request.body is not None
    return SPEC_PATHS[query.operation], dict(request.body)


def first_sent(request: PortkeyRequest) -> PortkeyRequest:
    """The request itself; for a query of several requests, the first: its first row's, or its first
    chunk of inputs'; for a batch submit, the ``POST /batches`` that follows its upload."""
    if request.batch is not None and request.batch.create is not None:
        body = {"input_file_id": "file-abc123", **request.batch.create}
        return PortkeyRequest("POST", "/batches", request.headers, body, False, request.operation)
    if request.run.rows:
        return row_request(request, request.run.rows[0], 0)
    inputs = chunked_input(request)
    if inputs is not None:
        return chunk_request(request, inputs[: request.run.batch_size])
    return request


def sent(request: PortkeyRequest) -> dict[str, Any]:
    """What a request carries: its JSON body, or a GET's query parameters (as the URL's text)."""
    if request.method == "GET" or request.operation == "batch_cancel":  # a cancel has no body
        assert request.body is None
        return dict(request.params or {})
    assert request.body is not None
    return dict(request.body)


def assert_conforms(path: str, request: PortkeyRequest) -> None:
    if request.method == "GET":
        params = dict(request.params or {})
        if params or "query" in document()["paths"][path]["get"]:
            assert_valid(query_validator(path), typed_query(path, params))
    elif request.body is None:
        assert "requestBody" not in document()["paths"][path]["post"]
    else:
        assert_valid(request_validator(path), request.body)


@pytest.mark.parametrize("case", [pytest.param(c, id=c.name, marks=c.marks) for c in CASES])
def test_every_request_conforms(case: RequestCase) -> None:
    query = parse_query(case.options)
    request = first_sent(build_request(CONNECTION, query))
    assert_conforms(SPEC_PATHS[query.operation], request)
    carried = sent(request)
    assert {key: carried.get(key) for key in case.expect} == case.expect
    assert [key for key in case.absent if key in carried] == []


@pytest.mark.parametrize(
    ("options", "path"),
    [(BATCH_CHAT, "/chat/completions"),
     ({**BATCH_CHAT, "endpoint": "completion", "system_prompt": "", "response_format": ""}, "/completions"),
     ({"operation": "batch_submit", "endpoint": "embedding", "model": "text-embedding-3-small",
       "rows": j(["a", {"input": ["b", "c"]}])}, "/embeddings")],
)  # fmt: skip
def test_each_line_of_a_batch_file_is_its_endpoints_request(options: dict[str, str], path: str) -> None:
    request = build_request(CONNECTION, parse_query(options))
    lines = [json.loads(line) for line in (request.upload or b"").splitlines()]
    assert [line["url"] for line in lines] == [f"/v1{path}"] * 2
    for line in lines:
        assert_valid(request_validator(path), line["body"])


def test_every_operation_and_field_has_request_cases() -> None:
    """The table covers each operation of operations.json, and each of its fields at least once."""
    spec = load_spec()
    covered: dict[str, set[str]] = {}
    for case in CASES:
        covered.setdefault(case.options["operation"], set()).update(case.options)
    assert set(covered) == set(spec.operations) == set(SPEC_PATHS)
    for operation, fields in spec.operations.items():
        missing = {f.key for f in fields} - covered[operation]
        assert missing == set(), f"{operation}: no case sets {sorted(missing)}"


# -- where the spec is wrong: each request correction is needed -----------------------------------------

WRONG_AS_WRITTEN = {
    "system and developer content as text parts": ("$.messages[0]", "$.messages[1]"),
    "assistant and tool content as text parts": ("$.messages[1]", "$.messages[2]"),
    "audio and file parts": ("$.messages[0]",),
}


@pytest.mark.parametrize("name", WRONG_AS_WRITTEN)
def test_the_spec_as_written_refuses_content_parts_openai_accepts(name: str) -> None:
    (case,) = [c for c in CASES if c.name == name]
    path, body = build(case.options)
    found = problems(request_validator(path, corrected=False), body)
    failing = tuple(line.split(":")[0] for line in found if not line.startswith(" "))
    assert failing == WRONG_AS_WRITTEN[name]
    assert all(
        "is not valid under any of the given schemas" in line for line in found if not line.startswith(" ")
    )
    assert_valid(request_validator(path), body)


def test_the_spec_as_written_leaves_prompt_hyperparameters_unchecked() -> None:
    """Hyperparameters go at the root of a prompt completion (the spec's own description says so); as
    written, nothing there is checked, so a wrong one passes."""
    wrong = {"variables": {}, "max_tokens": "many", "temperature": 9}
    path = "/prompts/{promptId}/completions"
    assert problems(request_validator(path, corrected=False), wrong) == []
    assert problems(request_validator(path), wrong) == [
        "$: {'variables': {}, 'max_tokens': 'many', 'temperature': 9} is not valid under any of the given "
        "schemas",
        "  $.max_tokens: 'many' is not of type 'integer', 'null'",
        "  $.temperature: 9 is greater than the maximum of 2",
        "  $.max_tokens: 'many' is not of type 'integer', 'null'",
        "  $.temperature: 9 is greater than the maximum of 2",
    ]
    assert problems(request_validator("/prompts/{promptId}/render"), wrong) != []


def test_the_spec_as_written_refuses_gpt_image_1s_sizes_and_qualities() -> None:
    (case,) = [c for c in CASES if c.name == "gpt-image-1's own sizes and qualities in other_parameters"]
    path, body = build(case.options)
    assert problems(request_validator(path, corrected=False), body) == [
        "$.quality: 'high' is not one of ['standard', 'hd']",
        "$.size: '1536x1024' is not one of ['256x256', '512x512', '1024x1024', '1792x1024', '1024x1792']",
    ]
    assert_valid(request_validator(path), body)


# -- many more queries, from the fields' own value schemas -------------------------------------------

TEXT = st.text(
    alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), min_size=1, max_size=30
).filter(
    str.strip  # a blank value is an empty field
)
NAMES = st.from_regex(re.compile(r"[A-Za-z0-9_-]{1,20}", re.ASCII), fullmatch=True)
MODELS = st.sampled_from(
    ["gpt-4o-mini", "o3-mini", "gpt-5", "@openai-prod/gpt-4o", "claude-3-5-sonnet", "o1-pro"]
)
IMAGE = st.sampled_from(["https://example.com/a.png", "http://img.example.org/x.jpg?s=1", PNG])
PARAMETERS = st.sampled_from(
    [
        {"type": "object", "properties": {}},
        {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
        SCHEMA,
    ]
)


def _history_item() -> st.SearchStrategy[dict[str, Any]]:
    chat_item = st.builds(
        lambda m, t: {"message": m, "type": t}, TEXT, st.sampled_from(["message", "response", "error"])
    )
    openai_item = st.builds(
        lambda r, c: {"role": r, "content": c}, st.sampled_from(["user", "assistant", "system"]), TEXT
    )
    return chat_item | openai_item


@st.composite
def chat_queries(draw: st.DrawFn) -> dict[str, str]:
    options: dict[str, str] = {"operation": "chat", "model": draw(MODELS)}
    if draw(st.booleans()):
        options["prompt"] = draw(TEXT)
        if draw(st.booleans()):
            options["message_history"] = j(draw(st.lists(_history_item(), max_size=4)))
    else:
        first = draw(st.builds(lambda c: {"role": "user", "content": c}, TEXT))
        rest = draw(st.lists(_history_item().filter(lambda item: "role" in item), max_size=3))
        options["messages"] = j([*rest, first])
    if draw(st.booleans()):
        options["system_prompt"] = draw(TEXT)
    if draw(st.booleans()):
        options["max_tokens"] = str(draw(st.integers(1, 100_000)))
    if draw(st.booleans()):
        options["temperature"] = str(draw(st.floats(0, 2)))
    if draw(st.booleans()):
        options["stop_sequences"] = j(draw(st.lists(TEXT, min_size=1, max_size=4)))
    if draw(st.booleans()):
        options["response_format"] = draw(
            st.sampled_from(["text", "json_object", j(SCHEMA), j({"type": "json_object"})])
        )
    if draw(st.booleans()):
        names = draw(st.lists(NAMES, min_size=1, max_size=3, unique=True))
        tools = [{"type": "function", "function": {"name": n, "parameters": draw(PARAMETERS)}} for n in names]
        options["tools"] = j(tools)
        options["tool_choice"] = draw(st.sampled_from(["auto", "none", "required", *names]))
    if draw(st.booleans()):
        options["images"] = j(draw(st.lists(IMAGE, min_size=1, max_size=3)))
    if draw(st.booleans()):
        options["stream"] = draw(st.sampled_from(["true", "false"]))
    if draw(st.booleans()):
        options["other_parameters"] = j(
            draw(
                st.fixed_dictionaries(
                    {},
                    optional={
                        "top_p": st.floats(0, 1),
                        "n": st.integers(1, 4),
                        "seed": st.integers(-(2**31), 2**31),
                    },
                )
            )
        )
    return options


@st.composite
def other_queries(draw: st.DrawFn) -> dict[str, str]:
    operation = draw(st.sampled_from(["completion", "prompt_completion", "create_embedding"]))
    if operation == "completion":
        options = {"operation": operation, "model": draw(MODELS), "prompt": draw(TEXT)}
        if draw(st.booleans()):
            options["max_tokens"] = str(draw(st.integers(1, 4096)))
        if draw(st.booleans()):
            options["stop_sequences"] = j(draw(st.lists(TEXT, min_size=1, max_size=4)))
        if draw(st.booleans()):
            options["stream"] = "true"
        return options
    if operation == "prompt_completion":
        options = {"operation": operation, "promptId": draw(NAMES)}
        if draw(st.booleans()):
            options["variables"] = j(draw(st.dictionaries(NAMES, TEXT | st.integers(), max_size=3)))
        if draw(st.booleans()):
            options["prompt_parameters"] = j(
                draw(
                    st.fixed_dictionaries(
                        {}, optional={"max_tokens": st.integers(1, 999), "temperature": st.floats(0, 2)}
                    )
                )
            )
        if draw(st.booleans()):
            options["stream"] = draw(st.sampled_from(["true", "false"]))
        return options
    texts = st.lists(TEXT, min_size=1, max_size=4)
    tokens = st.lists(st.lists(st.integers(0, 100_000), min_size=1, max_size=5), min_size=1, max_size=3)
    given_input = draw(TEXT | texts.map(j) | tokens.map(j))
    return {"operation": operation, "model": draw(MODELS), "input": given_input}


@st.composite
def more_queries(draw: st.DrawFn) -> dict[str, str]:
    """Image generation, prompt render, list models and feedback, from their fields' value schemas."""
    operation = draw(st.sampled_from(["image_generation", "prompt_render", "list_models", "feedback"]))
    options: dict[str, str] = {"operation": operation}
    optional: dict[str, st.SearchStrategy[str]]
    if operation == "image_generation":
        options["prompt"] = draw(TEXT)
        optional = {
            "model": st.sampled_from(["dall-e-2", "dall-e-3", "gpt-image-1", "@openai-prod/dall-e-3"]),
            "n": st.integers(1, 10).map(str),
            "size": st.sampled_from(["256x256", "512x512", "1024x1024", "1792x1024", "1024x1792"]),
            "quality": st.sampled_from(["standard", "hd"]),
            "style": st.sampled_from(["vivid", "natural"]),
            "response_format": st.sampled_from(["url", "b64_json"]),
            "other_parameters": st.fixed_dictionaries({}, optional={"user": TEXT}).map(j),
        }
    elif operation == "prompt_render":
        options["promptId"] = draw(NAMES)
        optional = {
            "variables": st.dictionaries(NAMES, TEXT | st.integers(), max_size=3).map(j),
            "prompt_parameters": st.fixed_dictionaries(
                {}, optional={"max_tokens": st.integers(1, 999), "temperature": st.floats(0, 2)}
            ).map(j),
        }
    elif operation == "list_models":
        optional = {
            "provider": NAMES,
            "limit": st.integers(1, 10**6).map(str),
            "offset": st.integers(0, 10**6).map(str),
        }
    else:
        options.update(traceId=draw(NAMES), value=str(draw(st.integers(-10, 10))))
        optional = {
            "weight": st.floats(0, 1).map(str),
            "metadata": st.dictionaries(
                NAMES, TEXT | st.integers() | st.lists(st.integers()), max_size=3
            ).map(j),
        }
    for key, values in optional.items():
        if draw(st.booleans()):
            options[key] = draw(values)
    return options


@settings(max_examples=300, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(options=chat_queries() | other_queries() | more_queries())
def test_any_valid_query_builds_a_conforming_request(options: dict[str, str]) -> None:
    query = parse_query(options)
    assert_conforms(SPEC_PATHS[query.operation], build_request(CONNECTION, query))


# -- headers: the security requirements -----------------------------------------------------------------

CONNECTIONS = {
    "virtual key": {"apiKey": "pk-1", "virtualKey": "vk-1"},
    "provider and its key": {"apiKey": "pk-1", "provider": "openai", "providerApiKey": "sk-1"},
    "config object": {"apiKey": "pk-1", "config": j({"provider": "openai", "api_key": "sk-1"})},
    "saved config id": {"apiKey": "pk-1", "config": "pc-abc123"},
    "custom host": {"apiKey": "pk-1", "provider": "openai", "providerApiKey": "sk-1",
                    "customHost": "https://llm.example.com/v1"},
    "Model Catalog provider slug": {"apiKey": "pk-1", "provider": "@openai-prod"},
}  # fmt: skip
QUERIES = {
    "chat": {"operation": "chat", "model": "gpt-4o-mini", "prompt": "Hi"},
    "completion": {"operation": "completion", "model": "gpt-3.5-turbo-instruct", "prompt": "Hi"},
    "create_embedding": {"operation": "create_embedding", "model": "text-embedding-3-small", "input": "Hi"},
    "prompt_completion": {"operation": "prompt_completion", "promptId": "pp-demo"},
    "image_generation": {"operation": "image_generation", "prompt": "A lighthouse", "model": "dall-e-3"},
    "prompt_render": {"operation": "prompt_render", "promptId": "pp-demo"},
    "list_models": {"operation": "list_models"},
    "feedback": {"operation": "feedback", "traceId": "tr-1", "value": "1"},
}


def wire(source: dict[str, str], options: dict[str, str]) -> tuple[str, dict[str, str], dict[str, Any]]:
    query = parse_query(options)
    request = build_request(parse_connection(source), query)
    return SPEC_PATHS[query.operation], dict(request.headers), sent(request)


@pytest.mark.parametrize("operation", QUERIES)
@pytest.mark.parametrize("connection", CONNECTIONS)
def test_every_connection_form_meets_the_security_requirements(connection: str, operation: str) -> None:
    path, headers, body = wire(CONNECTIONS[connection], QUERIES[operation])
    method = "get" if operation == "list_models" else "post"
    assert security_problem(path, headers, body, method) is None


@pytest.mark.parametrize("operation", ["prompt_render", "feedback"])
def test_portkeys_own_endpoints_get_the_portkey_key_alone(operation: str) -> None:
    """No model is called: the Portkey key meets their security, and no provider secret goes along."""
    source = {**CONNECTIONS["provider and its key"], "virtualKey": "vk-1", "config": "pc-1"}
    path, headers, body = wire(source, QUERIES[operation])
    assert security_problem(path, headers, body) is None
    assert headers == {
        "user-agent": "tooljet-portkey",
        "accept": "application/json",
        "x-portkey-api-key": "pk-1",
    }


@pytest.mark.parametrize("operation", ["chat", "completion", "create_embedding", "image_generation"])
def test_query_level_routing_meets_the_security_requirements(operation: str) -> None:
    """A query's own virtual key or config routes a data source that holds only the Portkey key."""
    for extra in ({"virtualKey": "vk-2"}, {"config": j({"provider": "openai", "api_key": "sk-2"})}):
        path, headers, body = wire({"apiKey": "pk-1"}, {**QUERIES[operation], **extra})
        assert security_problem(path, headers, body) is None
    path, headers, body = wire({"apiKey": "pk-1"}, QUERIES[operation])
    assert security_problem(path, headers, body) is not None  # nothing routes it: Portkey refuses it too


@pytest.mark.parametrize(
    ("source", "options"),
    [
        ({"apiKey": "pk-1"}, {**QUERIES["chat"], "model": "@openai-prod/gpt-4o-mini"}),
        ({"apiKey": "pk-1"}, {**QUERIES["create_embedding"], "model": "@openai-prod/text-embedding-3-small"}),
        (CONNECTIONS["Model Catalog provider slug"], QUERIES["chat"]),
    ],
)
def test_the_spec_as_written_refuses_model_catalog_routing(
    source: dict[str, str], options: dict[str, str]
) -> None:
    path, headers, body = wire(source, options)
    assert security_problem(path, headers, body, corrected=False) == (
        "the headers meet none of: x-portkey-api-key+x-portkey-virtual-key | "
        "authorization+x-portkey-api-key+x-portkey-provider | x-portkey-api-key+x-portkey-config | "
        "authorization+x-portkey-api-key+x-portkey-custom-host+x-portkey-provider"
    )
    assert security_problem(path, headers, body) is None
