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
from spec_schemas import assert_valid, problems, request_validator, security_problem

from tooljet_portkey._requests import build_request
from tooljet_portkey._rows import chunk_request, chunked_input, row_request
from tooljet_portkey._spec import load_spec, parse_connection, parse_query

CONNECTION = parse_connection({"apiKey": "pk-conformance", "virtualKey": "vk-conformance"})
SPEC_PATHS = {
    "chat": "/chat/completions",
    "completion": "/completions",
    "prompt_completion": "/prompts/{promptId}/completions",
    "create_embedding": "/embeddings",
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


HEADERS_ONLY = {
    "metadata": j({"_user": "ada", "team": "support"}),
    "config": j({"retry": {"attempts": 2}, "cache": {"mode": "simple"}}),
    "virtualKey": "vk-other",
    "traceId": "tr-1",
    "cacheNamespace": "ns-1",
    "cacheForceRefresh": "true",
}
CASES = [
    # -- chat, the prompt form
    chat("prompt only", prompt="Hello", expect={"messages": [{"role": "user", "content": "Hello"}]}),
    chat("system prompt and prompt", system_prompt="Be brief.", prompt="Hello",
         expect={"messages": [{"role": "system", "content": "Be brief."},
                              {"role": "user", "content": "Hello"}]}),
    chat("history in OpenAI form", prompt="And now?", message_history=j(ROUND_TRIP[2:6])),
    chat("history from ToolJet's Chat component, mixed", prompt="And now?", system_prompt="Be brief.",
         message_history=j([{"message": "Hi", "type": "message"}, {"message": "Hello!", "type": "response"},
                            {"message": "failed", "type": "error"}, {"role": "user", "content": "More"},
                            {"message": "x", "type": "unknown"}]),
         expect={"messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"},
                              {"role": "assistant", "content": "Hello!"}, {"role": "user", "content": "More"},
                              {"role": "user", "content": "And now?"}]}),
    chat("empty history", prompt="Hi", message_history="[]"),
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
    # -- several requests: what one row or one chunk sends (the first)
    RequestCase("a row of a table",
                {"operation": "prompt_completion", "promptId": "pp-demo", "variables": j({"audience": "d"}),
                 "rows": j([{"topic": "AI"}, {"topic": "ML"}]), "concurrency": "4", "failOnError": "true"},
                {"variables": {"audience": "d", "topic": "AI"}}, ("rows", "concurrency", "failOnError")),
    embedding("a long input, in chunks", input=j(["t0", "t1", "t2", "t3", "t4"]), batch_size="2",
              concurrency="2", expect={"input": ["t0", "t1"]}),
]  # fmt: skip


def build(options: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """The spec path and body of the request the plugin builds for these options."""
    query = parse_query(options)
    request = build_request(CONNECTION, query)
    if request.run.rows:  # a table: the first row's request
        request = row_request(request, request.run.rows[0])
    inputs = chunked_input(request)
    if inputs is not None:  # a long embedding input: the first chunk's request
        request = chunk_request(request, inputs[: request.run.batch_size])
    assert request.body is not None
    return SPEC_PATHS[query.operation], dict(request.body)


@pytest.mark.parametrize("case", [pytest.param(c, id=c.name, marks=c.marks) for c in CASES])
def test_every_request_conforms(case: RequestCase) -> None:
    path, body = build(case.options)
    assert_valid(request_validator(path), body)
    assert {key: body.get(key) for key in case.expect} == case.expect
    assert [key for key in case.absent if key in body] == []


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


@settings(max_examples=300, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(options=chat_queries() | other_queries())
def test_any_valid_query_builds_a_conforming_request(options: dict[str, str]) -> None:
    path, body = build(options)
    assert_valid(request_validator(path), body)


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
}


def wire(source: dict[str, str], options: dict[str, str]) -> tuple[str, dict[str, str], dict[str, Any]]:
    query = parse_query(options)
    request = build_request(parse_connection(source), query)
    assert request.body is not None
    return SPEC_PATHS[query.operation], dict(request.headers), dict(request.body)


@pytest.mark.parametrize("operation", QUERIES)
@pytest.mark.parametrize("connection", CONNECTIONS)
def test_every_connection_form_meets_the_security_requirements(connection: str, operation: str) -> None:
    path, headers, body = wire(CONNECTIONS[connection], QUERIES[operation])
    assert security_problem(path, headers, body) is None


@pytest.mark.parametrize("operation", ["chat", "completion", "create_embedding"])
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
