"""Every answer of the simulator conforms to Portkey's OpenAPI spec: each endpoint it serves, on each
profile that serves it, each streamed chunk, and the provider-shaped error bodies.

The schemas come from the trimmed copy in portkey_schemas.json (see spec_schemas.py). Where the spec is
wrong, spec_schemas.CORRECTIONS says why and the answers follow what Portkey and OpenAI really send;
the ``test_the_spec_as_written_*`` tests below show that each correction is needed.

Portkey's own gateway errors (``{"status": "failure", "message": ...}``) have no schema in the spec for
these paths; their exact bodies are asserted in tests/test_simulator.py.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from spec_schemas import (
    assert_valid,
    chunk_validator,
    component_validator,
    document,
    problems,
    query_validator,
    request_validator,
    response_validator,
    to_json_schema,
    typed_query,
)

from tooljet_portkey.simulator import PROFILES, Simulator
from tooljet_portkey.simulator._server import ENDPOINTS, endpoint_of

KEY = "pk-conformance"
PORTKEY_HEADERS = {"x-portkey-api-key": KEY, "x-portkey-provider": "openai"}
HELLO = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hello there"}]
HTTP = httpx.Client(timeout=30)
PERSON = {
    "type": "object",
    "properties": {
        "name": {"type": "string"},
        "age": {"type": ["integer", "null"], "minimum": 0},
        "email": {"type": "string", "format": "email"},
        "tags": {"type": "array", "items": {"enum": ["a", "b"]}},
    },
    "required": ["name", "age", "email", "tags"],
    "additionalProperties": False,
}
STRUCTURED = {"type": "json_schema", "json_schema": {"name": "person", "schema": PERSON, "strict": True}}
WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}},
            "required": ["city"],
            "additionalProperties": False,
        },
    },
}
TOOLS = [WEATHER, {"type": "function", "function": {"name": "get_time"}}]
CALL_BOTH = [{"role": "user", "content": "Call get_weather and get_time"}]
IMAGE = [
    {
        "role": "user",
        "content": [
            {"type": "text", "text": "What is this?"},
            {"type": "image_url", "image_url": {"url": "https://example.com/cat.png", "detail": "low"}},
        ],
    }
]


@dataclass(frozen=True)
class Case:
    """One request, the spec path and method it belongs to, and the profiles that serve it."""

    name: str
    method: str
    route: str  # relative to /v1, as sent
    spec_path: str
    body: Any = None
    profiles: tuple[str, ...] = PROFILES
    headers: dict[str, str] = field(default_factory=dict)
    params: dict[str, str] = field(default_factory=dict)  # a GET's query parameters


CASES = [
    Case("chat", "POST", "/chat/completions", "/chat/completions",
         {"model": "gpt-4o-mini", "messages": HELLO}),
    Case("chat n=3 cut by max_tokens", "POST", "/chat/completions", "/chat/completions",
         {"model": "gpt-4o-mini", "messages": HELLO, "n": 3, "max_tokens": 2}),
    Case("chat with stop and max_completion_tokens", "POST", "/chat/completions", "/chat/completions",
         {"model": "gpt-4o", "messages": HELLO, "stop": ["answer", "\n"], "max_completion_tokens": 40,
          "temperature": 0.2}),
    Case("chat with a Model Catalog model", "POST", "/chat/completions", "/chat/completions",
         {"model": "@openai-prod/gpt-4o-mini", "messages": HELLO}, ("hosted", "gateway")),
    Case("chat from the cache", "POST", "/chat/completions", "/chat/completions",
         {"model": "gpt-4o-mini", "messages": HELLO}, ("hosted", "gateway"),
         {"x-portkey-config": '{"provider": "openai", "cache": {"mode": "simple"}}'}),
    Case("chat with a json_schema response format", "POST", "/chat/completions", "/chat/completions",
         {"model": "gpt-4o-mini", "messages": HELLO, "response_format": STRUCTURED, "n": 2}),
    Case("chat with json_object", "POST", "/chat/completions", "/chat/completions",
         {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Answer in JSON"}],
          "response_format": {"type": "json_object"}}),
    Case("chat calling a named tool", "POST", "/chat/completions", "/chat/completions",
         {"model": "gpt-4o-mini", "messages": HELLO, "tools": TOOLS,
          "tool_choice": {"type": "function", "function": {"name": "get_weather"}}}),
    Case("chat calling two tools", "POST", "/chat/completions", "/chat/completions",
         {"model": "gpt-4o-mini", "messages": CALL_BOTH, "tools": TOOLS, "tool_choice": "required"}),
    Case("chat after a tool round trip", "POST", "/chat/completions", "/chat/completions",
         {"model": "gpt-4o-mini", "tools": TOOLS, "messages": [
             *CALL_BOTH,
             {"role": "assistant", "content": None, "tool_calls": [
                 {"id": "call_1", "type": "function", "function": {"name": "get_time", "arguments": "{}"}}]},
             {"role": "tool", "tool_call_id": "call_1", "content": "12:00"}]}),
    Case("chat with an image", "POST", "/chat/completions", "/chat/completions",
         {"model": "gpt-4o", "messages": IMAGE}),
    Case("chat with a reasoning model", "POST", "/chat/completions", "/chat/completions",
         {"model": "o4-mini", "messages": HELLO, "max_completion_tokens": 6}),
    Case("completion", "POST", "/completions", "/completions",
         {"model": "gpt-3.5-turbo-instruct", "prompt": "Say hi", "max_tokens": 7}),
    Case("completion of two prompts, n=2", "POST", "/completions", "/completions",
         {"model": "gpt-3.5-turbo-instruct", "prompt": ["One", "Two"], "n": 2}),
    Case("embedding", "POST", "/embeddings", "/embeddings",
         {"model": "text-embedding-3-small", "input": "hello"}),
    Case("embeddings of texts, shortened", "POST", "/embeddings", "/embeddings",
         {"model": "text-embedding-3-large", "input": ["a", "b c"], "dimensions": 8}),
    Case("embeddings of token arrays", "POST", "/embeddings", "/embeddings",
         {"model": "text-embedding-ada-002", "input": [[1, 2, 3], [4]], "encoding_format": "float"}),
    Case("embeddings in base64", "POST", "/embeddings", "/embeddings",
         {"model": "text-embedding-3-small", "input": ["a", "b"], "dimensions": 16,
          "encoding_format": "base64"}),
    Case("prompt completion, chat template", "POST", "/prompts/pp-demo/completions",
         "/prompts/{promptId}/completions",
         {"variables": {"topic": "AI", "audience": "kids"}, "max_tokens": 9}, ("hosted", "gateway")),
    Case("prompt completion, text template", "POST", "/prompts/pp-demo-text/completions",
         "/prompts/{promptId}/completions", {"variables": {"product": "Acme"}}, ("hosted", "gateway")),
    Case("prompt render, chat template", "POST", "/prompts/pp-demo@2/render", "/prompts/{promptId}/render",
         {"variables": {"topic": "AI"}, "temperature": 1}, ("hosted", "gateway")),
    Case("prompt render, text template", "POST", "/prompts/pp-demo-text/render", "/prompts/{promptId}/render",
         {"variables": {"product": "Acme"}}, ("hosted", "gateway")),
    Case("models", "GET", "/models", "/models"),
    Case("models of a provider, paged", "GET", "/models", "/models",
         params={"provider": "openai", "limit": "3", "offset": "2"}),
    Case("no models for a provider", "GET", "/models", "/models", params={"provider": "anthropic"}),
    Case("images, dall-e-2 urls", "POST", "/images/generations", "/images/generations",
         {"prompt": "A lighthouse at dawn", "n": 2, "size": "512x512"}),
    Case("images, dall-e-3 b64 with a revised prompt", "POST", "/images/generations", "/images/generations",
         {"prompt": "A lighthouse at dawn", "model": "dall-e-3", "size": "1024x1792", "quality": "hd",
          "style": "natural", "response_format": "b64_json", "user": "ada"}),
    Case("images, gpt-image-1 with usage", "POST", "/images/generations", "/images/generations",
         {"prompt": "A lighthouse at dawn", "model": "gpt-image-1", "size": "1536x1024", "quality": "low"}),
    Case("model", "GET", "/models/text-embedding-3-small", "/models/{model}"),
    Case("model by Model Catalog id", "GET", "/models/@openai-prod/gpt-4o", "/models/{model}",
         profiles=("hosted", "gateway")),
    Case("feedback", "POST", "/feedback", "/feedback",
         {"trace_id": "tr-1", "value": 7, "weight": 0.25, "metadata": {"_user": "ada"}},
         ("hosted", "gateway")),
    Case("feedback in bulk", "POST", "/feedback", "/feedback",
         [{"trace_id": "tr-1", "value": -3}, {"trace_id": "tr-2", "value": 10}], ("hosted", "gateway")),
]  # fmt: skip

STREAMS = [
    Case("chat stream", "POST", "/chat/completions", "/chat/completions",
         {"model": "gpt-4o-mini", "messages": HELLO, "stream": True}),
    Case("chat stream, n=2, with usage", "POST", "/chat/completions", "/chat/completions",
         {"model": "gpt-4o-mini", "messages": HELLO, "stream": True, "n": 2, "max_tokens": 4,
          "stream_options": {"include_usage": True}}),
    Case("chat stream of a json_schema answer, with usage", "POST", "/chat/completions", "/chat/completions",
         {"model": "gpt-4o-mini", "messages": HELLO, "response_format": STRUCTURED, "stream": True,
          "stream_options": {"include_usage": True}}),
    Case("chat stream of two tool calls, with usage", "POST", "/chat/completions", "/chat/completions",
         {"model": "gpt-4o-mini", "messages": CALL_BOTH, "tools": TOOLS, "stream": True,
          "stream_options": {"include_usage": True}}),
    Case("chat stream with an image", "POST", "/chat/completions", "/chat/completions",
         {"model": "gpt-4o", "messages": IMAGE, "stream": True}),
    Case("completion stream with usage", "POST", "/completions", "/completions",
         {"model": "gpt-3.5-turbo-instruct", "prompt": "Say hi", "stream": True,
          "stream_options": {"include_usage": True}}),
    Case("prompt completion stream, chat template", "POST", "/prompts/pp-demo/completions",
         "/prompts/{promptId}/completions",
         {"variables": {"topic": "AI"}, "stream": True, "stream_options": {"include_usage": True}},
         ("hosted", "gateway")),
    Case("prompt completion stream, text template", "POST", "/prompts/pp-demo-text/completions",
         "/prompts/{promptId}/completions", {"variables": {"product": "Acme"}, "stream": True},
         ("hosted", "gateway")),
]  # fmt: skip

# Requests answered with OpenAI's error body (the spec's ErrorResponse), and the status expected.
ERRORS = [
    (Case("chat with max_tokens 0", "POST", "/chat/completions", "/chat/completions",
          {"model": "gpt-4o-mini", "messages": HELLO, "max_tokens": 0}), 400),
    (Case("reasoning model with max_tokens", "POST", "/chat/completions", "/chat/completions",
          {"model": "o4-mini", "messages": HELLO, "max_tokens": 5}), 400),
    (Case("schema strict mode refuses", "POST", "/chat/completions", "/chat/completions",
          {"model": "gpt-4o-mini", "messages": HELLO, "response_format": {
              "type": "json_schema", "json_schema": {"name": "r", "strict": True,
                                                     "schema": {"type": "object", "properties": {}}}}}), 400),
    (Case("tool_choice naming no tool", "POST", "/chat/completions", "/chat/completions",
          {"model": "gpt-4o-mini", "messages": HELLO, "tools": TOOLS,
           "tool_choice": {"type": "function", "function": {"name": "nope"}}}), 400),
    (Case("embedding with a bad dimensions", "POST", "/embeddings", "/embeddings",
          {"model": "text-embedding-ada-002", "input": "x", "dimensions": 3}), 400),
    (Case("unknown model", "GET", "/models/gpt-9", "/models/{model}"), 404),
    (Case("chat with an unknown model", "POST", "/chat/completions", "/chat/completions",
          {"model": "gpt-4o-mnii", "messages": HELLO}), 404),
    (Case("chat with an image model", "POST", "/chat/completions", "/chat/completions",
          {"model": "dall-e-3", "messages": HELLO}), 404),
    (Case("completion with a chat model", "POST", "/completions", "/completions",
          {"model": "gpt-4o-mini", "prompt": "x"}), 404),
    (Case("embeddings from a chat model", "POST", "/embeddings", "/embeddings",
          {"model": "gpt-4o-mini", "input": "x"}), 403),
    (Case("images from a chat model", "POST", "/images/generations", "/images/generations",
          {"prompt": "x", "model": "gpt-4o-mini"}), 400),
    (Case("two images from dall-e-3", "POST", "/images/generations", "/images/generations",
          {"prompt": "x", "model": "dall-e-3", "n": 2}), 400),
    (Case("render with a bad hyperparameter", "POST", "/prompts/pp-demo/render", "/prompts/{promptId}/render",
          {"variables": {}, "n": 99}, ("hosted", "gateway")), 400),
    (Case("injected 429", "POST", "/chat/completions", "/chat/completions",
          {"model": "gpt-4o-mini", "messages": HELLO}, headers={"x-simulator-fault": "status=429"}), 429),
    (Case("injected 503", "POST", "/embeddings", "/embeddings",
          {"model": "text-embedding-3-small", "input": "x"},
          headers={"x-simulator-fault": "status=503"}), 503),
    (Case("unknown route on the openai profile", "POST", "/prompts/pp-demo/render",
          "/prompts/{promptId}/render", {"variables": {}}, ("openai",)), 404),
]  # fmt: skip


@pytest.fixture(scope="module")
def sims() -> Iterator[dict[str, Simulator]]:
    started = {p: Simulator(profile=p).start() for p in PROFILES}
    yield started
    for sim in started.values():
        sim.stop()
        assert sim.errors == []
    HTTP.close()


def send(sim: Simulator, case: Case) -> httpx.Response:
    headers = {**(PORTKEY_HEADERS if sim.profile != "openai" else {}), **case.headers}
    params = case.params or None
    if case.body is None:
        return HTTP.request(case.method, sim.url + case.route, headers=headers, params=params)
    return HTTP.request(case.method, sim.url + case.route, json=case.body, headers=headers, params=params)


def per_profile(cases: list[Case]) -> list[Any]:
    return [pytest.param(p, c, id=f"{c.name} [{p}]") for c in cases for p in c.profiles]


@pytest.mark.parametrize(("profile", "case"), per_profile(CASES))
def test_answers_conform(sims: dict[str, Simulator], profile: str, case: Case) -> None:
    sim = sims[profile]
    response = send(sim, case)
    if case.name == "chat from the cache":  # the second answer comes from the cache
        assert response.headers["x-portkey-cache-status"] in ("MISS", "HIT")
        response = send(sim, case)
        assert response.headers["x-portkey-cache-status"] == "HIT"
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/json"
    assert_valid(response_validator(case.spec_path, case.method), response.json())


@pytest.mark.parametrize(("profile", "case"), per_profile(STREAMS))
def test_every_stream_chunk_conforms(sims: dict[str, Simulator], profile: str, case: Case) -> None:
    response = send(sims[profile], case)
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/event-stream"
    events = [block.removeprefix("data: ") for block in response.text.split("\n\n") if block]
    assert events[-1] == "[DONE]"
    chunks = [json.loads(event) for event in events[:-1]]
    validator = chunk_validator(case.spec_path)
    for i, chunk in enumerate(chunks):
        found = problems(validator, chunk)
        assert not found, f"chunk {i} of {len(chunks)}: {chunk}\n" + "\n".join(found)
    body = case.body
    if isinstance(body.get("stream_options"), dict) and body["stream_options"].get("include_usage"):
        assert (chunks[-1]["choices"], set(chunks[-1]["usage"])) == (
            [],
            {"prompt_tokens", "completion_tokens", "total_tokens"},
        )
    else:
        assert all("usage" not in chunk for chunk in chunks)


@pytest.mark.parametrize(
    ("profile", "case", "status"),
    [pytest.param(p, c, s, id=f"{c.name} [{p}]") for c, s in ERRORS for p in c.profiles],
)
def test_provider_error_bodies_conform(
    sims: dict[str, Simulator], profile: str, case: Case, status: int
) -> None:
    """OpenAI's error body is the spec's ErrorResponse (used by its other paths; these paths list only
    200). Portkey adds ``provider`` beside ``error`` when it relays one, which the schema allows."""
    response = send(sims[profile], case)
    assert response.status_code == status
    assert_valid(component_validator("ErrorResponse"), response.json())
    assert ("provider" in response.json()) == (profile != "openai")


def test_every_served_endpoint_has_a_case() -> None:
    served = set(ENDPOINTS.values()) | {"model", "prompt", "render"}
    covered = {endpoint_of(c.method, c.route) for c in CASES}
    assert {found[0] for found in covered if found is not None} == served
    streamed = {endpoint_of(c.method, c.route) for c in STREAMS}
    assert {found[0] for found in streamed if found is not None} == {"chat", "completions", "prompt"}


@pytest.mark.parametrize("case", [pytest.param(c, id=c.name) for c in CASES + STREAMS])
def test_the_requests_sent_here_conform_too(case: Case) -> None:
    """The bodies above are ones Portkey documents, so the answers are checked on realistic input.
    The bulk feedback form (a list, as the SDKs' bulk_create sends) is checked item by item; the prompt
    paths' hyperparameters at the root are checked as a chat's or text completion's (a correction)."""
    if case.params:
        assert_valid(query_validator(case.spec_path), typed_query(case.spec_path, case.params))
    if case.body is None:
        return
    items = case.body if isinstance(case.body, list) else [case.body]
    for item in items:
        assert_valid(request_validator(case.spec_path, case.method), item)


# -- where the spec is wrong: each correction is needed ----------------------------------------------


def first_chunk(sim: Simulator, route: str, body: dict[str, Any]) -> dict[str, Any]:
    response = HTTP.post(sim.url + route, json={**body, "stream": True})
    return json.loads(response.text.split("\n\n")[0].removeprefix("data: "))  # type: ignore[no-any-return]


def test_the_spec_as_written_refuses_a_null_chunk_finish_reason(sims: dict[str, Simulator]) -> None:
    chunk = first_chunk(sims["openai"], "/chat/completions", {"model": "gpt-4o-mini", "messages": HELLO})
    assert chunk["choices"][0]["finish_reason"] is None  # what OpenAI and Portkey send mid-stream
    assert problems(chunk_validator("/chat/completions", corrected=False), chunk) == [
        "$.choices[0].finish_reason: None is not one of "
        "['stop', 'length', 'tool_calls', 'content_filter', 'function_call']"
    ]
    assert_valid(chunk_validator("/chat/completions"), chunk)


def test_the_spec_as_written_has_no_completion_chunk(sims: dict[str, Simulator]) -> None:
    chunk = first_chunk(sims["openai"], "/completions", {"model": "gpt-3.5-turbo-instruct", "prompt": "Hi"})
    assert sorted(problems(response_validator("/completions", corrected=False), chunk)) == [
        "$.choices[0].finish_reason: None is not of type 'string'",
        "$.choices[0].finish_reason: None is not one of ['stop', 'length', 'content_filter']",
    ]
    assert_valid(chunk_validator("/completions"), chunk)


def test_the_spec_as_written_refuses_base64_embeddings(sims: dict[str, Simulator]) -> None:
    body = {"model": "text-embedding-3-small", "input": "x", "dimensions": 2, "encoding_format": "base64"}
    answer = HTTP.post(sims["openai"].url + "/embeddings", json=body).json()
    assert isinstance(answer["data"][0]["embedding"], str)
    assert problems(response_validator("/embeddings", corrected=False), answer) == [
        f"$.data[0].embedding: {answer['data'][0]['embedding']!r} is not of type 'array'"
    ]
    assert_valid(response_validator("/embeddings"), answer)


def test_images_conform_as_the_spec_is_written(sims: dict[str, Simulator]) -> None:
    """Image answers need no correction: gpt-image-1's usage is a key the spec leaves open."""
    for case in [c for c in CASES if c.spec_path == "/images/generations"]:
        answer = send(sims["openai"], case).json()
        assert problems(response_validator(case.spec_path, corrected=False), answer) == []


def test_the_spec_as_written_accepts_any_prompt_completion() -> None:
    """The spec's wrapper has no required key: it cannot tell a completion from anything else."""
    assert problems(response_validator("/prompts/{promptId}/completions", corrected=False), {"x": 1}) == []
    assert problems(response_validator("/prompts/{promptId}/completions"), {"x": 1}) != []


# -- the schema file and its conversion ------------------------------------------------------------


def test_the_trimmed_file_carries_portkeys_license_notice() -> None:
    from spec_schemas import SCHEMAS_FILE

    raw = json.loads(SCHEMAS_FILE.read_text(encoding="utf-8"))
    assert raw["info"]["license"] == {
        "name": "MIT",
        "url": "https://github.com/Portkey-AI/portkey-openapi/blob/master/LICENSE",
    }
    assert "MIT License" in " ".join(raw["_notice"])


def test_every_reference_resolves() -> None:
    doc = document()

    def refs(node: Any) -> Iterator[str]:
        if isinstance(node, dict):
            if isinstance(node.get("$ref"), str):
                yield node["$ref"]
            for value in node.values():
                yield from refs(value)
        elif isinstance(node, list):
            for value in node:
                yield from refs(value)

    names = set(doc["components"]["schemas"])
    found = set(refs(doc))
    assert found
    assert {ref.removeprefix("#/components/schemas/") for ref in found} <= names


@pytest.mark.parametrize(
    ("schema", "converted"),
    [
        ({"type": "string", "nullable": True}, {"type": ["string", "null"]}),
        (  # OpenAPI 3.0.3: nullable does not add null to an enum
            {"type": "string", "nullable": True, "enum": ["a"]},
            {"type": ["string", "null"], "enum": ["a"]},
        ),
        ({"nullable": True, "oneOf": [{"type": "string"}]}, {"oneOf": [{"type": "string"}]}),  # no type
        ({"type": "string", "nullable": False}, {"type": "string"}),
        ({"$ref": "#/components/schemas/X", "type": "object"}, {"$ref": "#/components/schemas/X"}),
        (
            {"properties": {"nullable": {"type": "integer", "nullable": True}}},  # a property so named
            {"properties": {"nullable": {"type": ["integer", "null"]}}},
        ),
        (
            {"type": "number", "minimum": 0, "exclusiveMinimum": True},
            {"type": "number", "exclusiveMinimum": 0},
        ),
        ({"type": "number", "maximum": 1, "exclusiveMaximum": False}, {"type": "number", "maximum": 1}),
        (
            {"type": "array", "items": {"type": "object", "nullable": True, "additionalProperties": {
                "anyOf": [{"type": "string", "nullable": True}]}}},
            {"type": "array", "items": {"type": ["object", "null"], "additionalProperties": {
                "anyOf": [{"type": ["string", "null"]}]}}},
        ),
    ],
)  # fmt: skip
def test_openapi_to_json_schema(schema: dict[str, Any], converted: dict[str, Any]) -> None:
    assert to_json_schema(schema) == converted
