"""The offline Portkey simulator through real HTTP: its rules, shapes, headers, faults and determinism,
and QueryService.run against it for every operation."""

from __future__ import annotations

import asyncio
import base64
import json
import math
import re
import struct
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tooljet_portkey import QueryError, QueryService, _client
from tooljet_portkey.simulator import PROFILES, Fault, Simulator, count_tokens
from tooljet_portkey.simulator._rules import CONFIG_PROVIDER_MESSAGE, MISSING_API_KEY, ROUTING_MESSAGE

HELLO = [{"role": "user", "content": "Hello there"}]
CHAT = {"model": "gpt-4o-mini", "messages": HELLO}
ROUTE = {"x-portkey-provider": "openai"}
KEY = {"x-portkey-api-key": "pk-test"}
HTTP = httpx.Client(timeout=30)  # one client (creating one per request costs more than the request)
BUILT_IN_MODELS = [
    "gpt-4o-mini",
    "gpt-4o",
    "o4-mini",
    "gpt-5-mini",
    "gpt-3.5-turbo-instruct",
    "text-embedding-3-small",
    "text-embedding-3-large",
    "text-embedding-ada-002",
    "dall-e-2",
    "dall-e-3",
    "gpt-image-1",
]
# The models these tests name beyond the simulator's own (which refuses a model it does not know):
# other providers' models, and reasoning models the max_tokens rule knows by name.
MORE_MODELS: dict[str, Any] = {
    "claude": {"kind": "chat", "owned_by": "anthropic"},
    "mistral-small": {"kind": "chat", "owned_by": "mistral"},
    "nomic-embed-text": "embedding",
    **dict.fromkeys(
        ["o1", "o1-mini", "o3", "o3-mini", "o4-mini-2025-04-16", "gpt-5", "gpt-5-nano", "o10", "gpt-4.1"],
        "chat",
    ),
}


@pytest.fixture(scope="module")
def sims() -> Iterator[dict[str, Simulator]]:
    started = {p: Simulator(profile=p, models=MORE_MODELS).start() for p in ("hosted", "gateway", "openai")}
    yield started
    for sim in started.values():
        sim.stop()
    HTTP.close()


@pytest.fixture
def hosted(sims: dict[str, Simulator]) -> Simulator:
    sims["hosted"].reset()
    return sims["hosted"]


@pytest.fixture
def gateway(sims: dict[str, Simulator]) -> Simulator:
    sims["gateway"].reset()
    return sims["gateway"]


@pytest.fixture
def openai(sims: dict[str, Simulator]) -> Simulator:
    sims["openai"].reset()
    return sims["openai"]


@pytest.fixture(autouse=True)
def _no_simulator_errors(sims: dict[str, Simulator]) -> Iterator[None]:
    yield
    for sim in sims.values():
        assert sim.errors == []


@pytest.fixture
def no_sleep(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    waited: list[float] = []
    monkeypatch.setattr(_client, "_sleep", waited.append)
    return waited


def post(sim: Simulator, path: str, body: Any, headers: dict[str, str] | None = None) -> httpx.Response:
    return HTTP.post(sim.url + path, json=body, headers=headers or {})


def sse_events(response: httpx.Response) -> list[str]:
    return [line[len("data: ") :] for line in response.text.split("\n\n") if line.startswith("data: ")]


# -- Portkey's rules, per profile ------------------------------------------------------------------

INVALID_CONFIG = {"status": "failure", "message": "Invalid config passed. You need to pass a valid json"}
RULES = [
    # (profile, path, headers, body, status, expected body)
    ("hosted", "/chat/completions", {}, CHAT, 401, {"status": "failure", "message": MISSING_API_KEY}),
    ("hosted", "/models", {}, None, 401, {"status": "failure", "message": MISSING_API_KEY}),
    ("hosted", "/chat/completions", KEY, CHAT, 400, {"status": "failure", "message": ROUTING_MESSAGE}),
    ("gateway", "/chat/completions", {}, CHAT, 400, {"status": "failure", "message": ROUTING_MESSAGE}),
    (
        "gateway",
        "/embeddings",
        {},
        {"model": "m", "input": "x"},
        400,
        {"status": "failure", "message": ROUTING_MESSAGE},
    ),
    ("gateway", "/chat/completions", {"x-portkey-config": "{nope"}, CHAT, 400, INVALID_CONFIG),
    ("gateway", "/chat/completions", {"x-portkey-config": "pc-saved-1"}, CHAT, 400, INVALID_CONFIG),
    (
        "gateway",
        "/chat/completions",
        {"x-portkey-config": '{"cache": {"mode": "simple"}}'},
        CHAT,
        400,
        {"status": "failure", "message": CONFIG_PROVIDER_MESSAGE},
    ),
    (
        "gateway",
        "/chat/completions",
        {
            "x-portkey-config": '{"provider": "openai", "strategy": {"mode": "roundrobin"}, '
            '"retry": {"attempts": "3"}}'
        },
        CHAT,
        400,
        {
            "status": "failure",
            "message": "Invalid config passed",
            "errors": [
                "path: strategy,mode, message: Invalid enum value. Expected 'single' | 'loadbalance' | "
                "'fallback' | 'conditional', received 'roundrobin'",
                "path: retry,attempts, message: Expected number, received string",
            ],
        },
    ),
    (
        "gateway",
        "/chat/completions",
        {"x-portkey-config": '{"targets": [{"provider": "openai", "cache": {"mode": "exact"}}]}'},
        CHAT,
        400,
        {
            "status": "failure",
            "message": "Invalid config passed",
            "errors": [
                "path: targets,0,cache,mode, message: Invalid enum value. "
                "Expected 'simple' | 'semantic', received 'exact'"
            ],
        },
    ),
    (
        "gateway",
        "/chat/completions",
        {**ROUTE, "x-portkey-metadata": "{not json"},
        CHAT,
        400,
        {"status": "failure", "message": "Invalid metadata passed: x-portkey-metadata is not valid JSON"},
    ),
    (
        "gateway",
        "/chat/completions",
        {**ROUTE, "x-portkey-metadata": '["a"]'},
        CHAT,
        400,
        {"status": "failure", "message": "Invalid metadata passed: x-portkey-metadata must be a JSON object"},
    ),
    (
        "hosted",
        "/chat/completions",
        {**KEY, **ROUTE, "x-portkey-metadata": json.dumps({"_user": "u" * 129})},
        CHAT,
        400,
        {
            "status": "failure",
            "message": "Invalid metadata passed: the value of _user is longer than 128 characters",
        },
    ),
    ("gateway", "/nowhere", ROUTE, CHAT, 404, {"message": "Not Found", "ok": False}),
    (
        "gateway",
        "/prompts/pp-missing/completions",
        {},
        {"variables": {}},
        404,
        {"status": "failure", "message": "Prompt pp-missing not found"},
    ),
    (
        "gateway",
        "/prompts/pp-demo@9/completions",
        {},
        {"variables": {}},
        404,
        {"status": "failure", "message": "Prompt pp-demo@9 not found"},
    ),
    (
        "openai",
        "/prompts/pp-demo/completions",
        {},
        {"variables": {}},
        404,
        {
            "error": {
                "message": "Invalid URL (POST /v1/prompts/pp-demo/completions)",
                "type": "invalid_request_error",
                "param": None,
                "code": None,
            }
        },
    ),
    (
        "gateway",
        "/chat/completions",
        ROUTE,
        {"messages": HELLO},
        400,
        {
            "error": {
                "message": "you must provide a model parameter",
                "type": "invalid_request_error",
                "param": "model",
                "code": None,
            },
            "provider": "openai",
        },
    ),
    (
        "openai",
        "/chat/completions",
        {},
        {"model": "gpt-4o-mini", "messages": []},
        400,
        {
            "error": {
                "message": "'messages' must be a non-empty array.",
                "type": "invalid_request_error",
                "param": "messages",
                "code": None,
            }
        },
    ),
    (
        "openai",
        "/embeddings",
        {},
        {"model": "text-embedding-ada-002", "input": "x", "dimensions": 8},
        400,
        {
            "error": {
                "message": "This model does not support specifying dimensions.",
                "type": "invalid_request_error",
                "param": "dimensions",
                "code": None,
            }
        },
    ),
]


@pytest.mark.parametrize(("profile", "path", "headers", "body", "status", "expected"), RULES)
def test_rules_and_error_shapes(
    sims: dict[str, Simulator],
    profile: str,
    path: str,
    headers: dict[str, str],
    body: Any,
    status: int,
    expected: Any,
) -> None:
    sim = sims[profile]
    get = body is None
    response = HTTP.get(sim.url + path, headers=headers) if get else post(sim, path, body, headers)
    assert (response.status_code, response.json()) == (status, expected)


# -- models: unknown, of the wrong kind, added -------------------------------------------------------

NOT_A_CHAT_MODEL = (
    "This is not a chat model and thus not supported in the v1/chat/completions endpoint. "
    "Did you mean to use v1/completions?"
)
A_CHAT_MODEL = (
    "This is a chat model and not supported in the v1/completions endpoint. "
    "Did you mean to use v1/chat/completions?"
)
NOT_A_COMPLETION_MODEL = (
    "This is not a completion model and thus not supported in the v1/completions endpoint (simulated)."
)
IMAGE_MODELS_NOTE = "the simulator's image models are dall-e-2, dall-e-3 or gpt-image-1 (simulated)."


def request_for(path: str, model: str) -> dict[str, Any]:
    """A body the endpoint would answer, but for its model."""
    return {
        "/chat/completions": {"model": model, "messages": HELLO},
        "/completions": {"model": model, "prompt": "Once"},
        "/embeddings": {"model": model, "input": "x"},
        "/images/generations": {"model": model, "prompt": "a cat"},
    }[path]


def openai_error(message: str, param: str | None, code: str | None) -> dict[str, Any]:
    return {"message": message, "type": "invalid_request_error", "param": param, "code": code}


@pytest.mark.parametrize("path", ["/chat/completions", "/completions", "/embeddings", "/images/generations"])
@pytest.mark.parametrize(
    ("profile", "headers", "model", "provider"),
    [
        ("hosted", {**KEY, **ROUTE}, "gpt-4o-mnii", "openai"),
        ("hosted", KEY, "@openai-prod/gpt-4o-mnii", "openai-prod"),
        ("gateway", {"x-portkey-provider": "anthropic"}, "claude-9", "anthropic"),
        ("openai", {}, "gpt-4o-mnii", None),
    ],
)
def test_an_unknown_model_is_not_found(
    sims: dict[str, Simulator], path: str, profile: str, headers: dict[str, str], model: str, provider: Any
) -> None:
    response = post(sims[profile], path, request_for(path, model), headers)
    shown = model.rsplit("/", 1)[-1]  # Portkey sends the provider the model without its @slug/
    message = f"The model `{shown}` does not exist or you do not have access to it."
    expected: dict[str, Any] = {"error": openai_error(message, None, "model_not_found")}
    if provider is not None:
        expected["provider"] = provider
    assert (response.status_code, response.json()) == (404, expected)


@pytest.mark.parametrize(
    ("path", "model", "status", "error"),
    [
        ("/chat/completions", "gpt-3.5-turbo-instruct", 404, openai_error(NOT_A_CHAT_MODEL, "model", None)),
        ("/chat/completions", "dall-e-3", 404, openai_error(NOT_A_CHAT_MODEL, "model", None)),
        ("/chat/completions", "text-embedding-3-small", 404, openai_error(NOT_A_CHAT_MODEL, "model", None)),
        ("/completions", "gpt-4o-mini", 404, openai_error(A_CHAT_MODEL, "model", None)),
        ("/completions", "@openai-prod/o4-mini", 404, openai_error(A_CHAT_MODEL, "model", None)),
        ("/completions", "text-embedding-3-small", 404, openai_error(NOT_A_COMPLETION_MODEL, "model", None)),
        ("/completions", "gpt-image-1", 404, openai_error(NOT_A_COMPLETION_MODEL, "model", None)),
        ("/embeddings", "gpt-4o-mini", 403,
         openai_error("You are not allowed to generate embeddings from this model", None, None)),
        ("/embeddings", "dall-e-2", 403,
         openai_error("You are not allowed to generate embeddings from this model", None, None)),
        ("/images/generations", "gpt-4o", 400,
         openai_error(f"Invalid 'model': gpt-4o does not make images; {IMAGE_MODELS_NOTE}", "model", None)),
        ("/images/generations", "text-embedding-3-large", 400, openai_error(
            f"Invalid 'model': text-embedding-3-large does not make images; {IMAGE_MODELS_NOTE}",
            "model",
            None,
        )),
    ],
)  # fmt: skip
def test_a_model_of_another_kind_is_refused_as_openai_refuses_it(
    hosted: Simulator, path: str, model: str, status: int, error: dict[str, Any]
) -> None:
    response = post(hosted, path, request_for(path, model), {**KEY, **ROUTE})
    assert (response.status_code, response.json()) == (status, {"error": error, "provider": "openai"})


@pytest.mark.parametrize(
    ("path", "model"),
    [
        ("/chat/completions", "@openai-prod/gpt-4o-mini"),
        ("/chat/completions", "gpt-5-mini"),
        ("/completions", "gpt-3.5-turbo-instruct"),
        ("/completions", "@openai-prod/gpt-3.5-turbo-instruct"),
        ("/embeddings", "@openai-prod/text-embedding-3-small"),
        ("/images/generations", "@openai-prod/dall-e-3"),
    ],
)
def test_each_kind_is_served_at_its_endpoint(hosted: Simulator, path: str, model: str) -> None:
    response = post(hosted, path, request_for(path, model), {**KEY, **ROUTE})
    assert response.status_code == 200, response.text


@pytest.mark.parametrize(
    ("profile", "method", "path", "expected"),
    [
        ("hosted", "POST", "/chat/completions", {"message": "Not Found", "ok": False}),
        ("gateway", "POST", "/embeddings", {"message": "Not Found", "ok": False}),
        ("gateway", "GET", "/models", {"message": "Not Found", "ok": False}),
        ("gateway", "POST", "/v2/chat/completions", {"message": "Not Found", "ok": False}),
        ("openai", "POST", "/chat/completions",
         {"error": openai_error("Invalid URL (POST /chat/completions)", None, None)}),
        ("openai", "GET", "/models", {"error": openai_error("Invalid URL (GET /models)", None, None)}),
    ],
)  # fmt: skip
def test_paths_outside_v1_are_not_found(
    sims: dict[str, Simulator], profile: str, method: str, path: str, expected: dict[str, Any]
) -> None:
    """A gateway URL missing its /v1 (http://host:8787 instead of http://host:8787/v1) finds nothing."""
    sim = sims[profile]
    root = sim.url.removesuffix("/v1")
    body = None if method == "GET" else request_for(path.removeprefix("/v2"), "gpt-4o-mini")
    response = HTTP.request(method, root + path, json=body, headers={**KEY, **ROUTE})
    assert (response.status_code, response.json()) == (404, expected)


def test_added_models_are_listed_and_served(tmp_path: Path) -> None:
    path = tmp_path / "models.json"
    path.write_text(json.dumps({
        "llama-3.1-8b": {"kind": "chat", "owned_by": "groq"},
        "babbage-002": "completion",
        "embed-small": "embedding",
        "flux-pro": {"kind": "image", "owned_by": "fal"},
        "gpt-4o": "completion",  # the same id replaces the built-in model, in its place
    }))  # fmt: skip
    with Simulator(profile="gateway", models=path) as sim:
        listed = HTTP.get(sim.url + "/models").json()["data"]
        answered = {
            (route, model): post(sim, route, request_for(route, model), ROUTE).status_code
            for route, model in [
                ("/chat/completions", "@groq-main/llama-3.1-8b"),
                ("/completions", "babbage-002"),
                ("/completions", "gpt-4o"),
                ("/chat/completions", "gpt-4o"),
                ("/embeddings", "embed-small"),
                ("/images/generations", "flux-pro"),
            ]
        }
        image = post(
            sim, "/images/generations", {"model": "flux-pro", "prompt": "x", "size": "1792x1024"}, ROUTE
        )
    assert [(m["id"], m["owned_by"]) for m in listed] == [
        *((m, "openai") for m in BUILT_IN_MODELS),
        ("llama-3.1-8b", "groq"),
        ("babbage-002", "openai"),
        ("embed-small", "openai"),
        ("flux-pro", "fal"),
    ]
    assert answered == {
        ("/chat/completions", "@groq-main/llama-3.1-8b"): 200,
        ("/completions", "babbage-002"): 200,
        ("/completions", "gpt-4o"): 200,
        ("/chat/completions", "gpt-4o"): 404,
        ("/embeddings", "embed-small"): 200,
        ("/images/generations", "flux-pro"): 200,
    }
    # an image model the simulator has no rules for takes dall-e-2's
    assert (image.status_code, image.json()["error"]["message"]) == (
        400,
        "Invalid 'size': flux-pro takes 256x256, 512x512 or 1024x1024 (simulated).",
    )


KIND_RULE = "model m: kind must be one of chat, completion, embedding, image"


@pytest.mark.parametrize(
    ("models", "message"),
    [
        ({"m": "speech"}, f"{KIND_RULE}, not 'speech'"),
        ({"m": {"owned_by": "x"}}, f"{KIND_RULE}, not None"),
        ({"m": {"kind": "chat", "vision": True}}, "model m: unknown field vision (kind, owned_by)"),
        ({"m": {"kind": "chat", "owned_by": ""}}, "model m: owned_by must be non-empty text"),
        ({"m": 3}, "model m: give its kind, or an object with kind and owned_by"),
        ({"@openai-prod/m": "chat"},
         "model @openai-prod/m: give the id without a Model Catalog @slug/ prefix"),
        ({" m": "chat"}, "a model id must be non-empty text without surrounding spaces"),
        ("/nonexistent/models.json",
         "cannot read models file /nonexistent/models.json: No such file or directory"),
    ],
)  # fmt: skip
def test_bad_models_are_refused_at_start(models: Any, message: str) -> None:
    with pytest.raises(ValueError) as caught:
        Simulator(models=models)
    assert str(caught.value) == message


@pytest.mark.parametrize(
    ("content", "message"),
    [("{", "is not valid JSON: "), ("[]", "must hold a JSON object of model id -> kind")],
)
def test_bad_models_file(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "models.json"
    path.write_text(content)
    with pytest.raises(ValueError) as caught:
        Simulator(models=path)
    assert str(caught.value).startswith(f"models file {path} {message}")


ALLOWED = [
    # (profile, headers, model): requests each profile lets through
    ("hosted", {**KEY, **ROUTE}, "gpt-4o-mini"),
    ("hosted", {**KEY, "x-portkey-virtual-key": "vk-1"}, "gpt-4o-mini"),
    ("hosted", {**KEY, "x-portkey-config": "pc-saved-1"}, "gpt-4o-mini"),
    ("hosted", KEY, "@openai-prod/gpt-4o-mini"),
    ("gateway", {"x-portkey-config": '{"provider": "openai", "api_key": "sk-1"}'}, "gpt-4o-mini"),
    ("gateway", {**ROUTE, "x-portkey-metadata": json.dumps({"_user": "u" * 128, "n": 1})}, "gpt-4o-mini"),
    ("openai", {}, "gpt-4o-mini"),
]


@pytest.mark.parametrize(("profile", "headers", "model"), ALLOWED)
def test_allowed_requests(
    sims: dict[str, Simulator], profile: str, headers: dict[str, str], model: str
) -> None:
    response = post(sims[profile], "/chat/completions", {"model": model, "messages": HELLO}, headers)
    assert response.status_code == 200
    assert response.json()["object"] == "chat.completion"
    assert response.json()["model"] == "gpt-4o-mini-2024-07-18"  # the snapshot the alias stands for


def test_prompt_completions_need_no_routing(gateway: Simulator) -> None:
    response = post(gateway, "/prompts/pp-demo/completions", {"variables": {"topic": "x"}})
    assert response.status_code == 200


# -- response headers ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("headers", "model", "provider"),
    [
        # a Model Catalog slug: the provider behind it (the known model's owner), as Portkey answers
        ({"x-portkey-provider": "@openai-prod"}, "gpt-4o-mini", "openai"),
        ({}, "@openai-prod/gpt-4o-mini", "openai"),
        ({"x-portkey-provider": "anthropic"}, "claude", "anthropic"),
        (
            {"x-portkey-config": '{"targets": [{"provider": "groq"}, {"provider": "openai"}]}'},
            "gpt-4o",
            "groq",
        ),
        ({}, "@mistral-main/mistral-small", "mistral"),  # the model's owner, from the test's models
    ],
)
def test_provider_header(gateway: Simulator, headers: dict[str, str], model: str, provider: str) -> None:
    response = post(gateway, "/chat/completions", {"model": model, "messages": HELLO}, headers)
    assert response.headers["x-portkey-provider"] == provider
    assert response.headers["x-portkey-retry-attempt-count"] == "0"
    assert response.headers["x-portkey-cache-status"] == "DISABLED"


def test_trace_id_echoed_or_generated(gateway: Simulator) -> None:
    echoed = post(gateway, "/chat/completions", CHAT, {**ROUTE, "x-portkey-trace-id": "trace-42"})
    generated = post(gateway, "/chat/completions", CHAT, ROUTE)
    refused = post(gateway, "/chat/completions", CHAT, {"x-portkey-trace-id": "trace-43"})
    assert echoed.headers["x-portkey-trace-id"] == "trace-42"
    assert uuid.UUID(generated.headers["x-portkey-trace-id"]).version == 4
    assert (refused.status_code, refused.headers["x-portkey-trace-id"]) == (400, "trace-43")


def test_openai_profile_sends_no_portkey_headers(openai: Simulator) -> None:
    response = post(openai, "/chat/completions", CHAT, {"authorization": "Bearer sk-up"})
    assert [h for h in response.headers if h.startswith("x-portkey")] == []
    assert response.headers["x-request-id"].startswith("req_sim")
    assert openai.requests[-1].headers["authorization"] == "Bearer sk-up"


def test_requests_are_recorded(gateway: Simulator) -> None:
    post(gateway, "/chat/completions", CHAT, {**ROUTE, "X-Portkey-Trace-Id": "T"})
    HTTP.get(gateway.url + "/models")
    first, second = gateway.requests
    assert (first.method, first.path, first.json) == ("POST", "/v1/chat/completions", CHAT)
    assert first.headers["x-portkey-trace-id"] == "T"
    assert first.headers["x-portkey-provider"] == "openai"
    assert (second.method, second.path, second.json) == ("GET", "/v1/models", None)


def test_recorded_request_repr_hides_keys(openai: Simulator) -> None:
    headers = {
        "authorization": "Bearer sk-up-123",
        "x-portkey-api-key": "pk-456",
        "x-portkey-virtual-key": "vk-789",
    }
    post(openai, "/chat/completions", CHAT, headers)
    shown = repr(openai.requests[-1])
    assert shown.startswith("RecordedRequest(POST /v1/chat/completions, headers={")
    assert "'authorization': '***'" in shown
    assert not any(secret in shown for secret in ("sk-up-123", "pk-456", "vk-789"))


def test_models(hosted: Simulator) -> None:
    response = HTTP.get(hosted.url + "/models", headers=KEY)
    ids = [m["id"] for m in response.json()["data"]]
    assert response.json()["object"] == "list"
    assert ids == [*BUILT_IN_MODELS, *MORE_MODELS]  # the models added come after the simulator's own


@pytest.mark.parametrize(
    ("model", "headers", "provider"),
    [
        ("gpt-4o", {**KEY, **ROUTE}, "openai"),
        ("text-embedding-3-small", {**KEY, "x-portkey-virtual-key": "vk-1"}, "openai"),
        ("@openai-prod/gpt-4o-mini", KEY, "openai"),  # a Model Catalog id: the provider behind its slug
        ("o4-mini", {**KEY, **ROUTE}, "openai"),
    ],
)
def test_model_retrieve(hosted: Simulator, model: str, headers: dict[str, str], provider: str) -> None:
    response = HTTP.get(hosted.url + "/models/" + model, headers=headers)
    shown = model.rsplit("/", 1)[-1]
    assert (response.status_code, response.json()) == (
        200,
        {"id": shown, "object": "model", "created": 1715367049, "owned_by": "openai"},
    )
    assert response.headers["x-portkey-provider"] == provider
    assert hosted.requests[-1].path == "/v1/models/" + model


def test_model_retrieve_refusals(sims: dict[str, Simulator]) -> None:
    unknown = HTTP.get(sims["gateway"].url + "/models/gpt-9", headers=ROUTE)
    unrouted = HTTP.get(sims["gateway"].url + "/models/gpt-4o")
    plain = HTTP.get(sims["openai"].url + "/models/gpt-9")
    assert (unknown.status_code, unknown.json()) == (
        404,
        {
            "error": {
                "message": "The model 'gpt-9' does not exist or you do not have access to it.",
                "type": "invalid_request_error",
                "param": "model",
                "code": "model_not_found",
            },
            "provider": "openai",
        },
    )
    assert (unrouted.status_code, unrouted.json()) == (400, {"status": "failure", "message": ROUTING_MESSAGE})
    assert (plain.status_code, plain.json()["error"]["code"]) == (404, "model_not_found")
    assert "provider" not in plain.json()


# -- prompt render -----------------------------------------------------------------------------------


def test_render_fills_the_template_without_a_model_call(hosted: Simulator) -> None:
    body = {"variables": {"topic": "gateways", "audience": "engineers"}, "max_tokens": 64, "stream": False}
    response = post(hosted, "/prompts/pp-demo/render", body, KEY)
    assert (response.status_code, response.json()) == (
        200,
        {
            "success": True,
            "data": {
                "model": "gpt-4o-mini",
                "max_tokens": 64,  # the body's hyperparameters override the template's 256
                "temperature": 0.7,
                "stream": False,
                "messages": [
                    {"role": "system", "content": "You are a concise assistant writing for engineers."},
                    {"role": "user", "content": "Write one short paragraph about gateways."},
                ],
            },
        },
    )
    assert "x-portkey-provider" in response.headers  # answered by Portkey itself, no routing needed


def test_render_text_prompt_and_versions(gateway: Simulator) -> None:
    text = post(gateway, "/prompts/pp-demo-text/render", {"variables": {"product": "Acme"}})
    second = post(gateway, "/prompts/pp-demo@2/render", {"variables": {"topic": "AI"}})
    assert text.json() == {
        "success": True,
        "data": {"model": "gpt-3.5-turbo-instruct", "max_tokens": 32, "prompt": "Write a tagline for Acme:"},
    }
    assert second.json()["data"]["messages"][1] == {
        "role": "user",
        "content": "Write two sentences about AI.",
    }


def test_render_is_what_the_completion_answers(gateway: Simulator) -> None:
    """The rendered body, sent as a plain chat, gets the same answer as the prompt completion."""
    body = {"variables": {"topic": "caching"}, "max_tokens": 12}
    rendered = post(gateway, "/prompts/pp-demo/render", body).json()["data"]
    direct = post(gateway, "/chat/completions", rendered, ROUTE).json()
    via_prompt = post(gateway, "/prompts/pp-demo/completions", body).json()
    assert direct["choices"] == via_prompt["choices"]
    assert direct["usage"] == via_prompt["usage"]


@pytest.mark.parametrize(
    ("path", "body", "status", "expected"),
    [
        (
            "/prompts/pp-demo/render",
            {"variables": {}, "max_tokens": 0},
            400,
            {
                "error": {
                    "message": "Invalid 'max_tokens': expected an integer of at least 1, got 0.",
                    "type": "invalid_request_error",
                    "param": "max_tokens",
                    "code": None,
                },
                "provider": "openai",
            },
        ),
        (
            "/prompts/pp-demo/render",
            {"variables": ["topic"]},
            400,
            {
                "error": {
                    "message": "variables must be a JSON object",
                    "type": "invalid_request_error",
                    "param": "variables",
                    "code": None,
                },
                "provider": "openai",
            },
        ),
        (
            "/prompts/pp-nope/render",
            {"variables": {}},
            404,
            {"status": "failure", "message": "Prompt pp-nope not found"},
        ),
    ],
)
def test_render_refusals(
    gateway: Simulator, path: str, body: dict[str, Any], status: int, expected: dict[str, Any]
) -> None:
    response = post(gateway, path, body)
    assert (response.status_code, response.json()) == (status, expected)


# -- feedback --------------------------------------------------------------------------------------


def test_feedback_is_recorded_and_read_back(hosted: Simulator) -> None:
    one = {"trace_id": "tr-1", "value": 5, "weight": 0.5, "metadata": {"_user": "ada", "reason": "clear"}}
    response = post(hosted, "/feedback", one, KEY)
    bulk = post(
        hosted, "/feedback", [{"trace_id": "tr-2", "value": -10}, {"trace_id": "tr-3", "value": 0}], KEY
    )
    ids = response.json()["feedback_ids"] + bulk.json()["feedback_ids"]
    assert (response.status_code, response.json()) == (
        200,
        {"status": "success", "message": "Feedback successfully saved", "feedback_ids": ids[:1]},
    )
    assert len(bulk.json()["feedback_ids"]) == 2
    assert all(uuid.UUID(i).version == 4 for i in ids)
    expected = [
        {"id": ids[0], "trace_id": "tr-1", "value": 5, "weight": 0.5, "metadata": one["metadata"]},
        {"id": ids[1], "trace_id": "tr-2", "value": -10, "weight": 1.0, "metadata": {}},
        {"id": ids[2], "trace_id": "tr-3", "value": 0, "weight": 1.0, "metadata": {}},
    ]
    assert [f.to_json() for f in hosted.feedback] == expected
    admin = hosted.url.removesuffix("/v1") + "/_simulator"
    assert HTTP.get(admin + "/feedback").json() == {"feedback": expected}
    HTTP.post(admin + "/reset")
    assert hosted.feedback == []


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"value": 1}, "trace_id: must be a non-empty string"),
        ({"trace_id": " ", "value": 1}, "trace_id: must be a non-empty string"),
        ({"trace_id": "t"}, "value: must be an integer from -10 to 10"),
        ({"trace_id": "t", "value": 11}, "value: must be an integer from -10 to 10"),
        ({"trace_id": "t", "value": 1.5}, "value: must be an integer from -10 to 10"),
        ({"trace_id": "t", "value": True}, "value: must be an integer from -10 to 10"),
        ({"trace_id": "t", "value": 1, "weight": 1.5}, "weight: must be a number from 0 to 1"),
        ({"trace_id": "t", "value": 1, "metadata": "x"}, "metadata: must be a JSON object"),
        ([{"trace_id": "t", "value": 1}, {"trace_id": "t"}], "[1].value: must be an integer from -10 to 10"),
        ([], "body: a list of feedback must not be empty"),
        ("thumbs up", "body: must be a JSON object"),
    ],
)
def test_feedback_refusals(gateway: Simulator, body: Any, message: str) -> None:
    response = post(gateway, "/feedback", body)
    assert (response.status_code, response.json()) == (
        400,
        {"status": "failure", "message": f"Invalid feedback: {message}"},
    )
    assert gateway.feedback == []


def test_portkey_endpoints_are_not_on_the_openai_profile(openai: Simulator) -> None:
    for path in ("/feedback", "/prompts/pp-demo/render"):
        response = post(openai, path, {"trace_id": "t", "value": 1, "variables": {}})
        assert (response.status_code, response.json()["error"]["message"]) == (
            404,
            f"Invalid URL (POST /v1{path})",
        )


# -- accepted API keys -----------------------------------------------------------------------------

MISSING_KEY_BODY = {"status": "failure", "message": MISSING_API_KEY}
INVALID_KEY_BODY = {"status": "failure", "message": "Invalid API Key"}


@pytest.fixture(scope="module")
def keyed() -> Iterator[dict[str, Simulator]]:
    started = {p: Simulator(profile=p, api_keys=["pk-one", "pk-two"]).start() for p in PROFILES}
    yield started
    for sim in started.values():
        assert sim.errors == []
        sim.stop()


@pytest.mark.parametrize("profile", ["hosted", "gateway"])
@pytest.mark.parametrize(
    ("key", "status", "expected"),
    [
        ("pk-one", 200, None),
        ("pk-two", 200, None),
        (None, 401, MISSING_KEY_BODY),
        ("", 401, MISSING_KEY_BODY),
        ("pk-three", 401, INVALID_KEY_BODY),
        ("PK-ONE", 401, INVALID_KEY_BODY),
    ],
)
def test_only_given_api_keys_on_portkey_profiles(
    keyed: dict[str, Simulator], profile: str, key: str | None, status: int, expected: Any
) -> None:
    headers = {} if key is None else {"x-portkey-api-key": key}
    for path, body in (
        ("/chat/completions", CHAT),
        ("/models", None),
        ("/feedback", {"trace_id": "t", "value": 1}),
    ):
        url = keyed[profile].url + path
        response = (
            HTTP.get(url, headers=headers)
            if body is None
            else HTTP.post(url, json=body, headers={**headers, **ROUTE})
        )
        assert response.status_code == status, path
        if expected is not None:
            assert response.json() == expected
            assert "pk-three" not in response.text


@pytest.mark.parametrize(
    ("authorization", "status", "message"),
    [
        ("Bearer pk-one", 200, None),
        ("bearer pk-two", 200, None),
        (None, 401, "You didn't provide an API key: send it as Authorization: Bearer <key> (simulated)."),
        (
            "Basic pk-one",
            401,
            "You didn't provide an API key: send it as Authorization: Bearer <key> (simulated).",
        ),
        ("Bearer sk-wrong-key", 401, "Incorrect API key provided (simulated)."),
    ],
)
def test_only_given_api_keys_on_the_openai_profile(
    keyed: dict[str, Simulator], authorization: str | None, status: int, message: str | None
) -> None:
    headers = {} if authorization is None else {"authorization": authorization}
    response = post(keyed["openai"], "/chat/completions", CHAT, headers)
    assert response.status_code == status
    if message is not None:
        assert response.json() == {
            "error": {
                "message": message,
                "type": "invalid_request_error",
                "param": None,
                "code": "invalid_api_key",
            }
        }


@pytest.mark.parametrize(
    ("api_keys", "message"),
    [
        ("pk-one", "api_keys must be a list of keys, not one string"),
        ([], "api_keys must hold at least one key"),
        (["pk-one", ""], "each API key must be non-empty text"),
        ([" pk-one"], "each API key must be non-empty text without leading or trailing spaces"),
    ],
)
def test_bad_api_keys(api_keys: Any, message: str) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        Simulator(api_keys=api_keys)


def test_api_keys_stay_out_of_the_repr() -> None:
    sim = Simulator(api_keys=["pk-secret-123"])
    assert "pk-secret-123" not in repr(sim)


# -- answers: shapes, usage, determinism -----------------------------------------------------------


def chat(sim: Simulator, **body: Any) -> dict[str, Any]:
    response = post(sim, "/chat/completions", {**CHAT, **body})
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


def test_chat_shape_and_usage(openai: Simulator) -> None:
    messages = [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Name an AI gateway."},
    ]
    data = chat(openai, messages=messages)
    content = data["choices"][0]["message"]["content"]
    assert data["object"] == "chat.completion"
    assert data["id"].startswith("chatcmpl-")
    assert data["choices"][0]["message"]["role"] == "assistant"
    assert data["choices"][0]["finish_reason"] == "stop"
    assert content.startswith("This is a simulated answer. ")
    assert data["usage"] == {
        "prompt_tokens": 6,  # "Be brief." + "Name an AI gateway."
        "completion_tokens": len(content.split()),
        "total_tokens": 6 + len(content.split()),
    }


def test_same_request_same_answer(openai: Simulator) -> None:
    first = chat(openai)["choices"][0]["message"]["content"]
    again = chat(openai)["choices"][0]["message"]["content"]
    other = chat(openai, messages=[{"role": "user", "content": "Something else"}])["choices"][0]["message"]
    other_model = chat(openai, model="gpt-4o")["choices"][0]["message"]["content"]
    assert first == again
    assert other["content"] != first
    assert other_model != first


def test_n_choices_differ(openai: Simulator) -> None:
    data = chat(openai, n=3)
    texts = [c["message"]["content"] for c in data["choices"]]
    assert [c["index"] for c in data["choices"]] == [0, 1, 2]
    assert len(set(texts)) == 3
    assert data["usage"]["completion_tokens"] == sum(len(t.split()) for t in texts)


@pytest.mark.parametrize("limit_key", ["max_tokens", "max_completion_tokens"])
def test_max_tokens_cuts_the_answer(openai: Simulator, limit_key: str) -> None:
    data = chat(openai, **{limit_key: 4})
    assert data["choices"][0] == {
        "index": 0,
        "message": {"role": "assistant", "content": "This is a simulated", "refusal": None},
        "logprobs": None,
        "finish_reason": "length",
    }
    assert data["usage"]["completion_tokens"] == 4


def test_stop_sequence_ends_the_answer(openai: Simulator) -> None:
    assert chat(openai, stop=["simulated", "zzz"])["choices"][0]["message"]["content"] == "This is a"
    assert chat(openai, stop="is a")["choices"][0]["message"]["content"] == "This"


def test_text_completion(openai: Simulator) -> None:
    response = post(
        openai, "/completions", {"model": "gpt-3.5-turbo-instruct", "prompt": "Say hi to ToolJet"}
    )
    data = response.json()
    assert data["object"] == "text_completion"
    assert data["choices"][0]["text"].startswith("This is a simulated answer.")
    assert data["usage"]["prompt_tokens"] == 4
    assert data["usage"]["completion_tokens"] == count_tokens(data["choices"][0]["text"])


# -- embeddings ------------------------------------------------------------------------------------


def norm(vector: list[float]) -> float:
    return math.sqrt(math.fsum(x * x for x in vector))


@pytest.mark.parametrize(
    ("model", "dimensions", "size"),
    [
        ("text-embedding-3-small", None, 1536),
        ("text-embedding-3-large", None, 3072),
        ("text-embedding-ada-002", None, 1536),
        ("@openai-prod/text-embedding-3-large", None, 3072),
        ("nomic-embed-text", None, 1536),
        ("text-embedding-3-large", 256, 256),
    ],
)
def test_embedding_sizes_are_unit_vectors(
    openai: Simulator, model: str, dimensions: int | None, size: int
) -> None:
    body: dict[str, Any] = {"model": model, "input": ["first text", "second"]}
    if dimensions:
        body["dimensions"] = dimensions
    data = post(openai, "/embeddings", body).json()
    assert data["object"] == "list"
    assert data["model"] == model
    assert data["usage"] == {"prompt_tokens": 3, "total_tokens": 3}
    assert [(d["object"], d["index"], len(d["embedding"])) for d in data["data"]] == [
        ("embedding", 0, size),
        ("embedding", 1, size),
    ]
    for item in data["data"]:
        assert abs(norm(item["embedding"]) - 1.0) < 1e-9


def test_embeddings_are_deterministic(openai: Simulator) -> None:
    def vector(text: Any, model: str = "text-embedding-3-small") -> list[float]:
        data = post(openai, "/embeddings", {"model": model, "input": text}).json()
        result: list[float] = data["data"][0]["embedding"]
        return result

    assert vector("hello") == vector("hello")
    assert vector("hello") != vector("hello!")
    assert vector("hello") != vector("hello", "text-embedding-ada-002")
    assert len(vector([1, 2, 3])) == 1536


def test_embedding_base64(openai: Simulator) -> None:
    body = {"model": "text-embedding-3-small", "input": "x", "dimensions": 8}
    plain = post(openai, "/embeddings", body).json()["data"][0]
    packed = post(openai, "/embeddings", {**body, "encoding_format": "base64"}).json()["data"][0]
    decoded = struct.unpack("<8f", base64.b64decode(packed["embedding"]))
    assert decoded == pytest.approx(plain["embedding"], rel=1e-6)


# -- streaming -------------------------------------------------------------------------------------


def test_chat_stream_matches_the_unstreamed_answer(openai: Simulator) -> None:
    whole = chat(openai)["choices"][0]["message"]["content"]
    response = post(
        openai, "/chat/completions", {**CHAT, "stream": True, "stream_options": {"include_usage": True}}
    )
    events = sse_events(response)
    assert response.headers["content-type"] == "text/event-stream"
    assert events[-1] == "[DONE]"
    chunks = [json.loads(e) for e in events[:-1]]
    assert all(c["object"] == "chat.completion.chunk" for c in chunks)
    assert chunks[0]["choices"][0]["delta"] == {"role": "assistant", "content": "", "refusal": None}
    text = "".join(c["choices"][0]["delta"].get("content", "") for c in chunks if c["choices"])
    assert text == whole
    assert len(chunks) == len(whole.split()) + 3  # role, one per word, finish, usage
    assert chunks[-2]["choices"][0]["finish_reason"] == "stop"
    assert chunks[-1]["choices"] == []
    assert chunks[-1]["usage"]["completion_tokens"] == len(whole.split())


def test_completion_stream(openai: Simulator) -> None:
    body = {"model": "gpt-3.5-turbo-instruct", "prompt": "Hi", "max_tokens": 3}
    events = sse_events(post(openai, "/completions", {**body, "stream": True}))
    chunks = [json.loads(e) for e in events[:-1]]
    assert [c["choices"][0]["text"] for c in chunks] == ["This", " is", " a", ""]
    assert chunks[-1]["choices"][0]["finish_reason"] == "length"
    assert events[-1] == "[DONE]"


# -- structured output ----------------------------------------------------------------------------

ORDER_SCHEMA = {
    "type": "object",
    "properties": {
        "customer": {"type": "string"},
        "placed": {"type": "string", "format": "date"},
        "items": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "product": {"type": "string"},
                    "quantity": {"type": "integer", "minimum": 1, "maximum": 9},
                },
                "required": ["product", "quantity"],
                "additionalProperties": False,
            },
        },
        "status": {"enum": ["new", "paid"]},
    },
    "required": ["customer", "placed", "items", "status"],
    "additionalProperties": False,
}
EXTRACT = [{"role": "user", "content": "Extract the order: Ada wants two lamps."}]


def json_schema_format(schema: Any, strict: bool = True, name: str = "order") -> dict[str, Any]:
    return {"type": "json_schema", "json_schema": {"name": name, "schema": schema, "strict": strict}}


def content_of(data: dict[str, Any], index: int = 0) -> Any:
    return data["choices"][index]["message"]["content"]


def test_json_schema_answer_is_an_instance_of_the_schema(openai: Simulator) -> None:
    from jsonschema import Draft202012Validator

    data = chat(openai, messages=EXTRACT, response_format=json_schema_format(ORDER_SCHEMA), n=2)
    first, second = (json.loads(content_of(data, i)) for i in (0, 1))
    for value in (first, second):
        assert list(Draft202012Validator(ORDER_SCHEMA).iter_errors(value)) == []
        assert set(value) == {"customer", "placed", "items", "status"}
    assert first != second  # each choice its own instance
    assert [c["finish_reason"] for c in data["choices"]] == ["stop", "stop"]
    words = sum(len(content_of(data, i).split()) for i in (0, 1))
    assert data["usage"]["completion_tokens"] == words
    again = chat(openai, messages=EXTRACT, response_format=json_schema_format(ORDER_SCHEMA), n=2)
    assert content_of(again) == content_of(data)  # deterministic


def test_json_schema_answer_cut_by_max_tokens_is_no_longer_json(openai: Simulator) -> None:
    whole = content_of(chat(openai, messages=EXTRACT, response_format=json_schema_format(ORDER_SCHEMA)))
    data = chat(openai, messages=EXTRACT, response_format=json_schema_format(ORDER_SCHEMA), max_tokens=3)
    assert content_of(data) == " ".join(whole.split(" ")[:3])
    assert data["choices"][0]["finish_reason"] == "length"
    with pytest.raises(ValueError):
        json.loads(content_of(data))


def test_json_schema_without_strict_and_without_schema(openai: Simulator) -> None:
    loose = {"type": "object", "properties": {"tags": {"type": "array", "items": {"type": "string"}}}}
    value = json.loads(content_of(chat(openai, response_format=json_schema_format(loose, strict=False))))
    assert isinstance(value["tags"], list) and all(isinstance(t, str) for t in value["tags"])
    bare = {"type": "json_schema", "json_schema": {"name": "any"}}
    assert json.loads(content_of(chat(openai, response_format=bare))) is not None


def test_json_object_answer(openai: Simulator) -> None:
    messages = [{"role": "user", "content": "Reply in JSON: what is a gateway?"}]
    text = content_of(chat(openai, messages=messages))
    data = chat(openai, messages=messages, response_format={"type": "json_object"})
    assert json.loads(content_of(data)) == {"answer": text}  # the same words, as a JSON object
    assert data["usage"]["completion_tokens"] == len(content_of(data).split())
    plain = chat(openai, messages=messages, response_format={"type": "text"})
    assert content_of(plain) == text


STRICT_REFUSALS = [
    ({"type": "object", "properties": {"a": {"type": "string"}}, "required": ["a"]},
     "Invalid schema for response_format 'order': in context=(), 'additionalProperties' must be given and "
     "be false (strict mode)."),
    ({"type": "object", "properties": {"a": {"type": "string"}, "b": {"type": "integer"}}, "required": ["a"],
      "additionalProperties": False},
     "Invalid schema for response_format 'order': in context=(), 'required' must list every key in "
     "'properties' (strict mode). Missing 'b'."),
    ({"type": "object", "properties": {"x": {"type": "array", "items": {"type": "object", "properties": {}}}},
      "required": ["x"], "additionalProperties": False},
     "Invalid schema for response_format 'order': in context=('properties', 'x', 'items'), "
     "'additionalProperties' must be given and be false (strict mode)."),
    ({"type": "array", "items": {"type": "string"}},
     "Invalid schema for response_format 'order': in context=(), the schema must be of type 'object' and not "
     "use 'anyOf' at the root."),
]  # fmt: skip


@pytest.mark.parametrize(("schema", "message"), STRICT_REFUSALS)
def test_strict_mode_refuses_what_openai_refuses(openai: Simulator, schema: Any, message: str) -> None:
    response = post(openai, "/chat/completions", {**CHAT, "response_format": json_schema_format(schema)})
    assert response.status_code == 400
    assert response.json() == {
        "error": {
            "message": message,
            "type": "invalid_request_error",
            "param": "response_format",
            "code": None,
        }
    }


@pytest.mark.parametrize(
    ("response_format", "messages", "message", "param"),
    [
        ("json_object", HELLO, "Invalid type for 'response_format': expected an object.", "response_format"),
        ({"type": "xml"}, HELLO,
         "Invalid value: 'xml'. Supported values are: 'text', 'json_object' and 'json_schema'.",
         "response_format.type"),
        ({"type": "json_object"}, HELLO,
         "'messages' must contain the word 'json' in some form, to use 'response_format' of type "
         "'json_object'.",
         "messages"),
        ({"type": "json_schema"}, HELLO, "Missing required parameter: 'response_format.json_schema'.",
         "response_format.json_schema"),
        ({"type": "json_schema", "json_schema": {"name": "a b", "schema": {}}}, HELLO,
         "Invalid 'response_format.json_schema.name': expected 1 to 64 letters, digits, '_' or '-'.",
         "response_format.json_schema.name"),
        ({"type": "json_schema", "json_schema": {"name": "r", "schema": {"type": "strin"}}}, HELLO,
         "Invalid schema for response_format 'r': not a valid JSON Schema ('strin' is not valid under any of "
         "the given schemas).", "response_format"),
        ({"type": "json_schema", "json_schema": {"name": "r", "schema": {"type": "integer", "minimum": 3,
                                                                       "maximum": 2}}}, HELLO,
         "The simulator could not make a value for this schema (the bounds leave no integer) (simulated).",
         "response_format"),
    ],
)  # fmt: skip
def test_response_format_refusals(
    openai: Simulator, response_format: Any, messages: Any, message: str, param: str
) -> None:
    response = post(
        openai, "/chat/completions", {**CHAT, "messages": messages, "response_format": response_format}
    )
    assert response.status_code == 400
    assert (response.json()["error"]["message"], response.json()["error"]["param"]) == (message, param)


# -- tools -----------------------------------------------------------------------------------------

WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "The weather in a city",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}, "unit": {"enum": ["celsius", "fahrenheit"]}},
            "required": ["city", "unit"],
            "additionalProperties": False,
        },
        "strict": True,
    },
}
CLOCK = {"type": "function", "function": {"name": "get_time"}}  # no parameters: called with {}
TOOLS = [WEATHER, CLOCK]


def calls_of(data: dict[str, Any], index: int = 0) -> list[tuple[str, Any]]:
    message = data["choices"][index]["message"]
    return [(c["function"]["name"], json.loads(c["function"]["arguments"])) for c in message["tool_calls"]]


@pytest.mark.parametrize(
    ("text", "tool_choice", "called"),
    [
        ("Hello there", {"type": "function", "function": {"name": "get_time"}}, ["get_time"]),
        ("Hello there", "required", ["get_weather"]),  # names no tool: the first one
        ("What does get_time say?", "required", ["get_time"]),
        ("Use get_time, then get_weather", "required", ["get_weather", "get_time"]),  # in the order of tools
        ("Use get_time, then get_weather", "auto", ["get_weather", "get_time"]),
        ("Use GET_TIME", None, ["get_time"]),  # auto by default; names match in any case
        ("Use get_times", "auto", []),  # a whole name only
        ("Hello there", "auto", []),
        ("Use get_time", "none", []),
    ],
)
def test_which_tools_are_called(openai: Simulator, text: str, tool_choice: Any, called: list[str]) -> None:
    body: dict[str, Any] = {"messages": [{"role": "user", "content": text}], "tools": TOOLS}
    if tool_choice is not None:
        body["tool_choice"] = tool_choice
    data = chat(openai, **body)
    choice = data["choices"][0]
    if not called:
        assert choice["finish_reason"] == "stop"
        assert "tool_calls" not in choice["message"]
        assert choice["message"]["content"].startswith("This is a simulated answer.")
        return
    assert choice["finish_reason"] == "tool_calls"
    assert choice["message"]["content"] is None
    assert [name for name, _ in calls_of(data)] == called
    for call in choice["message"]["tool_calls"]:
        assert re.fullmatch(r"call_[0-9a-f]{24}", call["id"])
        assert call["type"] == "function"


def test_tool_arguments_satisfy_the_parameters(openai: Simulator) -> None:
    from jsonschema import Draft202012Validator

    data = chat(
        openai, tools=TOOLS, tool_choice={"type": "function", "function": {"name": "get_weather"}}, n=3
    )
    arguments = [calls_of(data, i)[0][1] for i in range(3)]
    for value in arguments:
        assert list(Draft202012Validator(WEATHER["function"]["parameters"]).iter_errors(value)) == []
    assert len({json.dumps(a) for a in arguments}) > 1  # each choice its own arguments
    calls = data["choices"][0]["message"]["tool_calls"]
    assert data["usage"]["completion_tokens"] == sum(
        1 + len(c["function"]["arguments"].split())
        for i in range(3)
        for c in data["choices"][i]["message"]["tool_calls"]
    )
    again = chat(
        openai, tools=TOOLS, tool_choice={"type": "function", "function": {"name": "get_weather"}}, n=3
    )
    assert again["choices"][0]["message"]["tool_calls"] == calls  # ids and arguments: deterministic
    assert calls_of(
        chat(openai, tools=TOOLS, tool_choice="required", messages=[{"role": "user", "content": "get_time"}])
    )[0] == ("get_time", {})


def test_parallel_tool_calls_false_calls_one(openai: Simulator) -> None:
    messages = [{"role": "user", "content": "get_time and get_weather"}]
    data = chat(openai, messages=messages, tools=TOOLS, parallel_tool_calls=False)
    assert [name for name, _ in calls_of(data)] == ["get_weather"]


def test_a_tool_round_trip(openai: Simulator) -> None:
    first = chat(openai, messages=[{"role": "user", "content": "get_weather please"}], tools=TOOLS)
    call = first["choices"][0]["message"]["tool_calls"][0]
    history = [
        {"role": "user", "content": "get_weather please"},
        {"role": "assistant", "content": None, "tool_calls": [call]},
        {"role": "tool", "tool_call_id": call["id"], "content": '{"temperature": 21}'},
    ]
    answer = chat(openai, messages=history, tools=TOOLS)  # auto after a tool result: text
    assert answer["choices"][0]["finish_reason"] == "stop"
    assert answer["choices"][0]["message"]["content"].startswith("This is a simulated answer.")
    required = chat(openai, messages=history, tools=TOOLS, tool_choice="required")
    assert [name for name, _ in calls_of(required)] == ["get_weather"]  # the last user message names it


TOOL_CALL = {"id": "call_1", "type": "function", "function": {"name": "get_time", "arguments": "{}"}}


@pytest.mark.parametrize(
    ("body", "message", "param"),
    [
        ({"tools": []}, "Invalid 'tools': expected a non-empty array of tools.", "tools"),
        ({"tools": [{"type": "function", "function": {"name": "get time"}}]},
         "Invalid 'tools[0].function.name': expected 1 to 64 letters, digits, '_' or '-'.",
         "tools[0].function.name"),
        ({"tools": [{"type": "retrieval"}]},
         "Invalid 'tools[0]': expected {type: 'function', function: {name, ...}}.", "tools[0]"),
        ({"tools": [{"type": "function", "function": {"name": "f", "parameters": {"type": 5}}}]},
         "Invalid schema for function 'f': not a valid JSON Schema (5 is not valid under any of the given "
         "schemas).", "tools[0].function.parameters"),
        ({"tools": [{"type": "function", "function": {"name": "f", "strict": True,
                                                       "parameters": {"type": "object", "properties": {}}}}]},
         "Invalid schema for function 'f': in context=(), 'additionalProperties' must be given and be false "
         "(strict mode).", "tools[0].function.parameters"),
        ({"tool_choice": "required"},
         "Invalid value for 'tool_choice': 'tool_choice' is only allowed when 'tools' are specified.",
         "tool_choice"),
        ({"tools": TOOLS, "tool_choice": {"type": "function", "function": {"name": "nope"}}},
         "Invalid 'tool_choice': no tool named 'nope' in 'tools'.", "tool_choice"),
        ({"tools": TOOLS, "tool_choice": "always"},
         "Invalid 'tool_choice': expected 'none', 'auto', 'required' or "
         "{type: 'function', function: {name}}.",
         "tool_choice"),
        ({"tools": TOOLS, "parallel_tool_calls": "yes"}, "Invalid 'parallel_tool_calls': expected a boolean.",
         "parallel_tool_calls"),
        ({"messages": [*HELLO, {"role": "assistant", "tool_calls": [TOOL_CALL]}]},
         "An assistant message with 'tool_calls' must be followed by tool messages responding to each "
         "'tool_call_id'. The following tool_call_ids did not have response messages: call_1", "messages"),
        ({"messages": [*HELLO, {"role": "assistant", "tool_calls": [TOOL_CALL]}, *HELLO]},
         "An assistant message with 'tool_calls' must be followed by tool messages responding to each "
         "'tool_call_id'. The following tool_call_ids did not have response messages: call_1",
         "messages[2].role"),
        ({"messages": [*HELLO, {"role": "tool", "tool_call_id": "call_1", "content": "12:00"}]},
         "Invalid parameter: messages with role 'tool' must be a response to a preceding message with "
         "'tool_calls'.", "messages[1].role"),
        ({"messages": [*HELLO, {"role": "assistant", "tool_calls": [TOOL_CALL]},
                       {"role": "tool", "content": "x"}]},
         "Missing required parameter: 'messages[2].tool_call_id'.", "messages[2].tool_call_id"),
        ({"messages": [*HELLO, {"role": "assistant",
                                "tool_calls": [{"id": "c", "function": {"name": "f"}}]}]},
         "Invalid 'messages[1].tool_calls[0]': expected {id, type: 'function', function: {name, arguments}} "
         "with text values.", "messages[1].tool_calls[0]"),
        ({"messages": [*HELLO, {"role": "assistant"}]},
         "Invalid 'messages[1]': an assistant message needs 'content' or 'tool_calls'.", "messages[1]"),
    ],
)  # fmt: skip
def test_tool_refusals(openai: Simulator, body: dict[str, Any], message: str, param: str) -> None:
    response = post(openai, "/chat/completions", {**CHAT, **body})
    assert response.status_code == 400
    assert (response.json()["error"]["message"], response.json()["error"]["param"]) == (message, param)


# -- images and content parts ----------------------------------------------------------------------

PNG = (  # a 1x1 PNG
    "data:image/png;base64,iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJ"
    "RU5ErkJggg=="
)


def test_image_parts_are_accepted_counted_and_recorded(openai: Simulator) -> None:
    parts = [
        {"type": "text", "text": "What is in these two images?"},
        {"type": "image_url", "image_url": {"url": "https://example.com/cat.png", "detail": "low"}},
        {"type": "image_url", "image_url": {"url": PNG}},
    ]
    data = chat(openai, messages=[{"role": "user", "content": parts}])
    assert data["usage"]["prompt_tokens"] == 6 + 2 * 85  # the text's words, and 85 per image
    assert openai.requests[-1].json["messages"][0]["content"] == parts
    other = chat(openai, messages=[{"role": "user", "content": [parts[0], parts[1]]}])
    assert other["usage"]["prompt_tokens"] == 6 + 85
    assert content_of(other) != content_of(data)  # the images are part of the input


def test_text_parts_in_system_developer_assistant_and_tool_messages(openai: Simulator) -> None:
    text = [{"type": "text", "text": "Be brief."}]
    messages = [
        {"role": "system", "content": text},
        {"role": "developer", "content": text},
        {"role": "user", "content": "get_time"},
        {"role": "assistant", "content": [{"type": "refusal", "refusal": "No."}], "tool_calls": [TOOL_CALL]},
        {"role": "tool", "tool_call_id": "call_1", "content": [{"type": "text", "text": "12:00"}]},
    ]
    data = chat(openai, messages=messages)
    assert data["usage"]["prompt_tokens"] == 2 + 2 + 1 + 1  # text parts count; a refusal part does not


@pytest.mark.parametrize(
    ("content", "message", "param"),
    [
        ([], "Invalid 'messages[0].content': expected a string or a non-empty array of content parts.",
         "messages[0].content"),
        ([{"type": "video", "url": "x"}],
         "Invalid value: 'video'. Supported values are: 'text', 'image_url', 'input_audio', 'file'.",
         "messages[0].content[0].type"),
        ([{"type": "text"}], "Missing required parameter: 'messages[0].content[0].text'.",
         "messages[0].content[0].text"),
        ([{"type": "image_url", "image_url": {"url": "ftp://example.com/a.png"}}],
         "Invalid image URL: 'messages[0].content[0].image_url.url'. Expected an http(s) URL, or a base64 "
         "data URL with an image MIME type (data:image/png;base64,...).",
         "messages[0].content[0].image_url.url"),
        ([{"type": "image_url", "image_url": {"url": "data:text/plain;base64,aGk="}}],
         "Invalid image URL: 'messages[0].content[0].image_url.url'. Expected an http(s) URL, or a base64 "
         "data URL with an image MIME type (data:image/png;base64,...).",
         "messages[0].content[0].image_url.url"),
        ([{"type": "image_url", "image_url": {"url": PNG, "detail": "max"}}],
         "Invalid value: 'max'. Supported values are: 'auto', 'low' and 'high'.",
         "messages[0].content[0].image_url.detail"),
    ],
)  # fmt: skip
def test_content_part_refusals(openai: Simulator, content: Any, message: str, param: str) -> None:
    response = post(openai, "/chat/completions", {**CHAT, "messages": [{"role": "user", "content": content}]})
    assert response.status_code == 400
    assert (response.json()["error"]["message"], response.json()["error"]["param"]) == (message, param)


def test_system_content_must_be_text(openai: Simulator) -> None:
    messages = [{"role": "system", "content": [{"type": "image_url", "image_url": {"url": PNG}}]}, *HELLO]
    response = post(openai, "/chat/completions", {**CHAT, "messages": messages})
    assert response.json()["error"]["message"] == (
        "Invalid 'messages[0].content[0]': expected a text part {type: 'text', text}."
    )


# -- reasoning models ------------------------------------------------------------------------------

UNSUPPORTED_MAX_TOKENS = {
    "error": {
        "message": "Unsupported parameter: 'max_tokens' is not supported with this model. "
        "Use 'max_completion_tokens' instead.",
        "type": "invalid_request_error",
        "param": "max_tokens",
        "code": "unsupported_parameter",
    }
}


@pytest.mark.parametrize(
    "model",
    [
        "o1",
        "o1-mini",
        "o3",
        "o3-mini",
        "o4-mini-2025-04-16",
        "gpt-5",
        "gpt-5-nano",
        "@openai-prod/gpt-5-mini",
    ],
)
def test_reasoning_models_want_max_completion_tokens(openai: Simulator, model: str) -> None:
    response = post(openai, "/chat/completions", {**CHAT, "model": model, "max_tokens": 5})
    assert (response.status_code, response.json()) == (400, UNSUPPORTED_MAX_TOKENS)
    data = chat(openai, model=model, max_completion_tokens=5)
    # an alias answers with its dated snapshot, without any @slug/
    assert data["model"] == {"@openai-prod/gpt-5-mini": "gpt-5-mini-2025-08-07"}.get(model, model)
    assert (content_of(data), data["choices"][0]["finish_reason"]) == (
        "This is a simulated answer.",
        "length",
    )


@pytest.mark.parametrize("model", ["gpt-4o", "o10", "gpt-4.1", "@openai-prod/gpt-4o-mini"])
def test_other_models_take_max_tokens(openai: Simulator, model: str) -> None:
    assert chat(openai, model=model, max_tokens=2)["usage"]["completion_tokens"] == 2


# -- streamed structured output and tool calls --------------------------------------------------------


def stream_chunks(sim: Simulator, body: dict[str, Any]) -> list[dict[str, Any]]:
    events = sse_events(post(sim, "/chat/completions", {**CHAT, **body, "stream": True}))
    assert events[-1] == "[DONE]"
    return [json.loads(e) for e in events[:-1]]


def test_streamed_json_comes_in_pieces_that_join_to_the_answer(openai: Simulator) -> None:
    body = {"messages": EXTRACT, "response_format": json_schema_format(ORDER_SCHEMA)}
    whole = content_of(chat(openai, **body))
    chunks = stream_chunks(openai, {**body, "stream_options": {"include_usage": True}})
    pieces = [c["choices"][0]["delta"].get("content") for c in chunks if c["choices"]]
    assert pieces[0] == ""  # the role chunk
    assert len(pieces) == len(whole.split()) + 2  # role, one per word, finish
    assert "".join(p or "" for p in pieces) == whole
    assert chunks[-1]["usage"]["completion_tokens"] == len(whole.split())


def test_streamed_tool_calls_carry_their_index_and_join_to_the_answer(openai: Simulator) -> None:
    body = {"messages": [{"role": "user", "content": "get_weather and get_time"}], "tools": TOOLS}
    whole = chat(openai, **body)["choices"][0]["message"]["tool_calls"]
    chunks = stream_chunks(openai, body)
    deltas = [c["choices"][0]["delta"] for c in chunks]
    assert deltas[0]["role"] == "assistant"
    assert deltas[0]["content"] is None
    assert chunks[-1]["choices"][0]["finish_reason"] == "tool_calls"
    assembled: dict[int, dict[str, Any]] = {}
    for delta in deltas[:-1]:
        (part,) = delta["tool_calls"]
        call = assembled.setdefault(part["index"], {"function": {"arguments": ""}})
        if "id" in part:  # the first delta of each call: id, type and name
            assert part["function"] == {"name": part["function"]["name"], "arguments": ""}
            call.update(id=part["id"], type=part["type"])
            call["function"]["name"] = part["function"]["name"]
        call["function"]["arguments"] += part["function"]["arguments"]
    assert [assembled[i] for i in sorted(assembled)] == whole
    assert sorted(assembled) == [0, 1]


# -- prompt templates ------------------------------------------------------------------------------


def test_prompt_renders_variables_like_the_chat_it_stands_for(gateway: Simulator) -> None:
    variables = {"audience": "developers", "topic": "caching"}
    rendered = [
        {"role": "system", "content": "You are a concise assistant writing for developers."},
        {"role": "user", "content": "Write one short paragraph about caching."},
    ]
    data = post(gateway, "/prompts/pp-demo/completions", {"variables": variables}).json()
    direct = post(gateway, "/chat/completions", {"model": "gpt-4o-mini", "messages": rendered}, ROUTE).json()
    assert data["object"] == "chat.completion"
    assert data["model"] == "gpt-4o-mini-2024-07-18"
    assert data["usage"]["prompt_tokens"] == 14
    assert data["choices"][0]["message"]["content"] == direct["choices"][0]["message"]["content"]


@pytest.mark.parametrize(
    ("reference", "prompt_tokens"),
    [
        ("pp-demo", 14),  # published version 1
        ("pp-demo@1", 14),
        (
            "pp-demo@2",
            13,
        ),  # "...cheerful assistant writing for developers." + "Write two sentences about caching."
        ("pp-demo@latest", 13),
    ],
)
def test_prompt_versions(gateway: Simulator, reference: str, prompt_tokens: int) -> None:
    body = {"variables": {"audience": "developers", "topic": "caching"}}
    data = post(gateway, f"/prompts/{reference}/completions", body).json()
    assert data["usage"]["prompt_tokens"] == prompt_tokens


def test_prompt_hyperparameters_at_the_root_override_the_template(gateway: Simulator) -> None:
    body = {"variables": {"topic": "x"}, "max_tokens": 2}
    data = post(gateway, "/prompts/pp-demo/completions", body).json()
    assert data["choices"][0]["message"]["content"] == "This is"
    assert data["choices"][0]["finish_reason"] == "length"


def test_prompts_file_and_missing_variables(tmp_path: Path) -> None:
    prompts = tmp_path / "prompts.json"
    prompts.write_text(
        json.dumps({"pp-tagline": {"model": "gpt-3.5-turbo-instruct", "prompt": "Tag {{ a }}{{b}}!"}})
    )
    with Simulator(profile="gateway", prompts=prompts) as sim:
        data = post(sim, "/prompts/pp-tagline/completions", {"variables": {"a": "one two"}}).json()
        demo = post(sim, "/prompts/pp-demo/completions", {"variables": {}})
    assert data["object"] == "text_completion"
    assert data["model"] == "gpt-3.5-turbo-instruct"
    assert data["usage"]["prompt_tokens"] == 3  # "Tag one two!": b renders empty
    assert demo.status_code == 200


def test_a_prompt_template_needs_a_known_model_of_its_kind(tmp_path: Path) -> None:
    prompts = tmp_path / "prompts.json"
    prompts.write_text(json.dumps({
        "pp-typo": {"model": "gpt-4o-mnii", "messages": [{"role": "user", "content": "Hi"}]},
        "pp-chat-as-text": {"model": "gpt-4o-mini", "prompt": "Hi"},
    }))  # fmt: skip
    with Simulator(profile="gateway", prompts=prompts) as sim:
        typo = post(sim, "/prompts/pp-typo/completions", {"variables": {}})
        rendered = post(sim, "/prompts/pp-typo/render", {"variables": {}})
        text = post(sim, "/prompts/pp-chat-as-text/completions", {"variables": {}})
    message = "The model `gpt-4o-mnii` does not exist or you do not have access to it."
    not_found = {"error": openai_error(message, None, "model_not_found"), "provider": "openai"}
    assert (typo.status_code, typo.json()) == (404, not_found)
    assert (rendered.status_code, rendered.json()) == (404, not_found)
    assert (text.status_code, text.json()) == (
        404,
        {"error": openai_error(A_CHAT_MODEL, "model", None), "provider": "openai"},
    )


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{", "is not valid JSON"),
        ("[]", "a prompts file must hold a JSON object of prompt id -> prompt"),
        ('{"p": {"model": "m"}}', "prompt p: a template needs either messages or prompt"),
        ('{"p": {"published": 3, "versions": {"1": {"prompt": "x"}}}}', "prompt p: published version 3"),
    ],
)
def test_bad_prompts_file(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "p.json"
    path.write_text(content)
    with pytest.raises(ValueError, match=message):
        Simulator(prompts=path)


# -- cache -----------------------------------------------------------------------------------------


def test_cache_config_hits_on_the_same_request(gateway: Simulator) -> None:
    headers = {"x-portkey-config": '{"provider": "openai", "cache": {"mode": "simple"}}'}
    first = post(gateway, "/chat/completions", CHAT, headers)
    second = post(gateway, "/chat/completions", CHAT, headers)
    other = post(gateway, "/chat/completions", {**CHAT, "temperature": 1}, headers)
    refreshed = post(gateway, "/chat/completions", CHAT, {**headers, "x-portkey-cache-force-refresh": "true"})
    statuses = [r.headers["x-portkey-cache-status"] for r in (first, second, other, refreshed)]
    assert statuses == ["MISS", "HIT", "MISS", "REFRESH"]
    assert second.json() == first.json()
    assert refreshed.json()["id"] != first.json()["id"]


# -- faults ----------------------------------------------------------------------------------------


def test_injected_status_with_retry_after(gateway: Simulator) -> None:
    gateway.inject(status=429, retry_after=2, times=2)
    responses = [post(gateway, "/chat/completions", CHAT, ROUTE) for _ in range(3)]
    assert [r.status_code for r in responses] == [429, 429, 200]
    assert responses[0].headers["retry-after"] == "2"
    assert responses[0].json() == {
        "error": {
            "message": "Rate limit reached for requests (simulated).",
            "type": "requests",
            "param": None,
            "code": "rate_limit_exceeded",
        },
        "provider": "openai",
    }


def test_faults_match_their_path_and_carry_a_body(gateway: Simulator) -> None:
    gateway.inject(path="/embeddings", status=500, body={"status": "failure", "message": "boom"})
    assert post(gateway, "/chat/completions", CHAT, ROUTE).status_code == 200
    embed = {"model": "text-embedding-3-small", "input": "x"}
    failed = post(gateway, "/embeddings", embed, ROUTE)
    assert (failed.status_code, failed.json()) == (500, {"status": "failure", "message": "boom"})
    assert post(gateway, "/embeddings", embed, ROUTE).status_code == 200


def test_prompt_path_patterns_and_forever_faults(gateway: Simulator) -> None:
    gateway.inject(path="/v1/prompts/*/completions", status=503, times=None)
    codes = [post(gateway, "/prompts/pp-demo/completions", {"variables": {}}).status_code for _ in range(3)]
    assert codes == [503, 503, 503]
    gateway.clear_faults()
    assert post(gateway, "/prompts/pp-demo/completions", {"variables": {}}).status_code == 200


def test_drop_closes_without_an_answer(gateway: Simulator) -> None:
    gateway.inject(drop=True)
    with pytest.raises(httpx.RemoteProtocolError):
        post(gateway, "/chat/completions", CHAT, ROUTE)
    assert post(gateway, "/chat/completions", CHAT, ROUTE).status_code == 200


def test_drop_mid_stream_after_n_chunks(gateway: Simulator) -> None:
    gateway.inject(drop_after=3)
    received: list[str] = []
    with (
        pytest.raises(httpx.RemoteProtocolError),
        httpx.stream(
            "POST", gateway.url + "/chat/completions", json={**CHAT, "stream": True}, headers=ROUTE
        ) as r,
    ):
        for line in r.iter_lines():
            if line.startswith("data: "):
                received.append(line)
    assert len(received) == 3


def test_delay_then_normal_answer(gateway: Simulator) -> None:
    gateway.inject(status=None, delay=5.0)
    with pytest.raises(httpx.ReadTimeout):
        HTTP.post(gateway.url + "/chat/completions", json=CHAT, headers=ROUTE, timeout=0.2)
    assert post(gateway, "/chat/completions", CHAT, ROUTE).status_code == 200


def test_fault_header_counts_per_header_text(gateway: Simulator) -> None:
    fault = {**ROUTE, "x-simulator-fault": "status=503; retry-after=1; times=2"}
    codes = [post(gateway, "/chat/completions", CHAT, fault) for _ in range(3)]
    fresh = post(
        gateway, "/chat/completions", CHAT, {**fault, "x-simulator-fault": "status=503; times=2; id=b"}
    )
    every = [post(gateway, "/chat/completions", CHAT, {"x-simulator-fault": "status=502"}) for _ in range(2)]
    assert [r.status_code for r in codes] == [503, 503, 200]
    assert codes[0].headers["retry-after"] == "1"
    assert fresh.status_code == 503
    assert [r.status_code for r in every] == [502, 502]  # no routing needed: the fault comes first


@pytest.mark.parametrize(
    ("header", "message"),
    [
        ("status=abc", "Invalid x-simulator-fault header: status must be a whole number, not 'abc'"),
        (
            "status=700",
            "Invalid x-simulator-fault header: status must be an HTTP status code (100-599), not 700",
        ),
        ("colour=red", "Invalid x-simulator-fault header: unknown key 'colour'"),
        ("delay=soon", "Invalid x-simulator-fault header: delay must be a number, not 'soon'"),
    ],
)
def test_bad_fault_header(gateway: Simulator, header: str, message: str) -> None:
    response = post(gateway, "/chat/completions", CHAT, {**ROUTE, "x-simulator-fault": header})
    assert (response.status_code, response.json()) == (400, {"status": "failure", "message": message})


def test_admin_endpoint(gateway: Simulator) -> None:
    admin = gateway.url.removesuffix("/v1") + "/_simulator"
    created = HTTP.post(admin + "/faults", json={"path": "/completions", "status": 500, "retry_after": "3"})
    listed = HTTP.get(admin + "/faults").json()
    failed = post(gateway, "/completions", {"model": "m", "prompt": "x"}, ROUTE)
    bad = HTTP.post(admin + "/faults", json={"status": 500, "colour": "red"})
    recorded = HTTP.get(admin + "/requests").json()["requests"]
    assert created.status_code == 201
    assert listed["faults"][0]["path"] == "/completions"
    assert (failed.status_code, failed.headers["retry-after"]) == (500, "3")
    assert (bad.status_code, bad.json()) == (
        400,
        {"status": "failure", "message": "Invalid fault: unknown fault field(s): colour"},
    )
    assert [(r["method"], r["path"]) for r in recorded] == [("POST", "/v1/completions")]
    assert HTTP.post(admin + "/reset").json() == {"status": "ok"}
    assert gateway.requests == []
    assert HTTP.get(admin + "/health").json() == {"status": "ok", "profile": "gateway"}


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"status": 99}, "status must be an HTTP status code"),
        ({"times": 0}, "times must be a positive integer or None"),
        ({"delay": -1}, "delay must be a number of seconds from 0 to 600"),
        ({"drop_after": -2}, "drop_after must be a number of chunks"),
    ],
)
def test_fault_validation(fields: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Fault(**fields)


def test_unknown_profile() -> None:
    with pytest.raises(ValueError, match="profile must be one of hosted, gateway, openai, not 'cloud'"):
        Simulator(profile="cloud")


def test_lifecycle() -> None:
    sim = Simulator(profile="gateway")
    with pytest.raises(RuntimeError, match="not running"):
        _ = sim.url
    with sim:
        assert sim.url == f"http://127.0.0.1:{sim.port}/v1"
        with httpx.Client() as client:  # two requests over HTTP/1.1 keep-alive
            for _ in range(2):
                assert client.post(sim.url + "/chat/completions", json=CHAT, headers=ROUTE).status_code == 200
    with pytest.raises(httpx.ConnectError):
        HTTP.post(f"http://127.0.0.1:{sim.port}/v1/chat/completions", json=CHAT)


# -- QueryService.run against the simulator --------------------------------------------------------

SECRET = "pk-live-0123456789abcdef"
OPERATIONS = [
    (
        {"operation": "chat", "model": "gpt-4o-mini", "messages": json.dumps(HELLO), "max_tokens": "5"},
        "/v1/chat/completions",
        {"model": "gpt-4o-mini", "messages": HELLO, "max_tokens": 5},
        "This is a simulated answer.",
    ),
    (
        {"operation": "completion", "model": "gpt-3.5-turbo-instruct", "prompt": "Hi", "max_tokens": "3"},
        "/v1/completions",
        {"model": "gpt-3.5-turbo-instruct", "prompt": "Hi", "max_tokens": 3},
        "This is a",
    ),
    (
        {"operation": "prompt_completion", "promptId": "pp-demo@2", "variables": '{"topic": "AI"}',
         "prompt_parameters": '{"max_tokens": 2}'},
        "/v1/prompts/pp-demo@2/completions",
        {"variables": {"topic": "AI"}, "max_tokens": 2},
        "This is",
    ),
]  # fmt: skip


@pytest.mark.parametrize("stream", [False, True])
@pytest.mark.parametrize(("options", "path", "body", "text"), OPERATIONS)
def test_query_service_runs_each_operation(
    hosted: Simulator, options: dict[str, str], path: str, body: dict[str, Any], text: str, stream: bool
) -> None:
    source = {"apiKey": SECRET, "provider": "openai", "gatewayUrl": hosted.url}
    query = {**options, "traceId": "tr-1", "metadata": '{"_user": "ada"}', "stream": str(stream).lower()}
    with QueryService() as service:
        result = service.run(source, query)
    choice = result["data"]["choices"][0]
    assert (choice.get("text") or choice["message"]["content"]) == text
    assert choice["finish_reason"] == "length"
    meta = result["metadata"]
    assert (meta["statusCode"], meta["traceId"], meta["provider"], meta["cacheStatus"]) == (
        200,
        "tr-1",
        "openai",
        "DISABLED",
    )
    assert meta.get("streamed", False) is stream
    sent = hosted.requests[-1]
    assert (sent.method, sent.path) == ("POST", path)
    if stream:  # chat and completion streams ask for the final usage chunk; prompt completions do not
        usage = {"stream_options": {"include_usage": True}} if "model" in body else {}
        body = {**body, "stream": True, **usage}
    assert sent.json == body
    if "stream_options" in body or not stream:
        assert set(meta["usage"]) == {"prompt_tokens", "completion_tokens", "total_tokens"}
        assert meta["usage"]["completion_tokens"] == len(text.split())
    else:  # a streamed prompt completion asks for no usage chunk, so it has none
        assert "usage" not in meta
    assert sent.headers["x-portkey-api-key"] == SECRET
    assert sent.headers["x-portkey-metadata"] == '{"_user":"ada"}'
    assert sent.headers["accept"] == ("text/event-stream" if stream else "application/json")


def test_query_service_embeddings(hosted: Simulator) -> None:
    source = {"apiKey": SECRET, "virtualKey": "vk-openai", "gatewayUrl": hosted.url}
    query = {"operation": "create_embedding", "model": "text-embedding-3-small", "input": '["a b", "c"]'}
    with QueryService() as service:
        result = service.run(source, query)
    vectors = [d["embedding"] for d in result["data"]["data"]]
    assert [len(v) for v in vectors] == [1536, 1536]
    assert result["data"]["usage"] == {"prompt_tokens": 3, "total_tokens": 3}
    assert hosted.requests[-1].json == {"model": "text-embedding-3-small", "input": ["a b", "c"]}


def test_query_service_stream_yields_chunks(hosted: Simulator) -> None:
    source = {"apiKey": SECRET, "provider": "openai", "gatewayUrl": hosted.url}
    query = {"operation": "chat", "model": "gpt-4o-mini", "messages": json.dumps(HELLO), "max_tokens": "4"}
    with QueryService() as service, service.stream(source, query) as stream:
        chunks = list(stream)
    pieces = [c["choices"][0]["delta"].get("content") for c in chunks]
    assert pieces == ["", "This", " is", " a", " simulated", None]
    # the final usage chunk (no choices) is read into the stream's metadata, not yielded
    assert stream.metadata["usage"]["completion_tokens"] == 4


def test_query_service_retries_an_injected_503(hosted: Simulator, no_sleep: list[float]) -> None:
    hosted.inject(status=503, retry_after="1")
    source = {"apiKey": SECRET, "provider": "openai", "gatewayUrl": hosted.url, "maxRetries": "2"}
    with QueryService() as service:
        result = service.run(
            source, {"operation": "chat", "model": "gpt-4o-mini", "messages": json.dumps(HELLO)}
        )
    assert result["metadata"]["retries"] == 1
    assert no_sleep == [1.0]
    assert len(hosted.requests) == 2


@pytest.mark.parametrize(
    ("fault", "message", "description", "data"),
    [
        (
            {"status": 429, "times": None},
            "Query could not be completed",
            "Rate limit reached for requests (simulated).",
            {"statusCode": 429, "errorType": "requests", "provider": "openai", "retries": 0},
        ),
        (
            {
                "status": 401,
                "body": {"error": {"message": f"Incorrect API key provided: {SECRET}", "type": "auth"}},
            },
            "Query could not be completed",
            "Incorrect API key provided: ***",
            {"statusCode": 401, "errorType": "auth", "retries": 0},
        ),
        (
            {"status": 400, "body": {"status": "failure", "message": "Invalid config passed"}},
            "Query could not be completed",
            "Invalid config passed",
            {"statusCode": 400, "retries": 0},
        ),
    ],
)
def test_query_service_maps_injected_errors(
    hosted: Simulator, fault: dict[str, Any], message: str, description: str, data: dict[str, Any]
) -> None:
    hosted.inject(**fault)
    source = {"apiKey": SECRET, "provider": "openai", "gatewayUrl": hosted.url, "maxRetries": "0"}
    query = {"operation": "chat", "model": "m", "messages": json.dumps(HELLO), "traceId": "tr-9"}
    with QueryService() as service, pytest.raises(QueryError) as caught:
        service.run(source, query)
    err = caught.value
    assert (err.message, err.description) == (message, description)
    assert data.items() <= err.data.items()
    assert err.data["traceId"] == "tr-9"
    assert SECRET not in json.dumps([err.message, err.description, err.data])


def test_query_service_reports_a_dropped_stream(hosted: Simulator) -> None:
    hosted.inject(status=None, drop_after=2)
    source = {"apiKey": SECRET, "provider": "openai", "gatewayUrl": hosted.url, "maxRetries": "0"}
    query = {"operation": "chat", "model": "gpt-4o-mini", "messages": json.dumps(HELLO), "stream": "true"}
    with QueryService() as service, pytest.raises(QueryError) as caught:
        service.run(source, query)
    assert caught.value.data["errorType"] in ("connection_error", "stream_truncated")


def test_async_query_service_against_the_simulator(hosted: Simulator) -> None:
    from tooljet_portkey import AsyncQueryService

    source = {"apiKey": SECRET, "provider": "openai", "gatewayUrl": hosted.url}
    query = {"operation": "chat", "model": "gpt-4o-mini", "messages": json.dumps(HELLO), "max_tokens": "3"}

    async def scenario() -> tuple[dict[str, Any], list[dict[str, Any]], dict[str, Any]]:
        async with AsyncQueryService() as service:
            result = await service.run(source, query)
            async with service.stream(source, query) as stream:
                chunks = [chunk async for chunk in stream]
        return result, chunks, dict(stream.metadata)

    result, chunks, metadata = asyncio.run(scenario())
    assert result["data"]["choices"][0]["message"]["content"] == "This is a"
    text = "".join(c["choices"][0]["delta"].get("content") or "" for c in chunks)
    assert text == "This is a"
    assert metadata["usage"]["completion_tokens"] == 3


JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-5, 5000)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4),
    max_leaves=12,
)
BODIES = st.dictionaries(
    st.sampled_from(["model", "messages", "prompt", "input", "max_tokens", "temperature", "n", "stop",
                     "stream", "stream_options", "dimensions", "encoding_format", "variables",
                     "trace_id", "value", "weight", "metadata", "size", "quality", "style",
                     "response_format", "output_format"]),
    JSON_VALUES,
)  # fmt: skip


@settings(
    max_examples=150,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    path=st.sampled_from(
        [
            "/chat/completions",
            "/completions",
            "/embeddings",
            "/prompts/pp-demo/completions",
            "/prompts/pp-demo/render",
            "/feedback",
            "/images/generations",
        ]
    ),
    body=st.one_of(BODIES, JSON_VALUES),
)
def test_any_body_gets_an_answer_or_a_400(sims: dict[str, Simulator], path: str, body: Any) -> None:
    """Whatever JSON a client sends, the simulator answers 200, a 400 in a documented shape, or the 404
    of a model it does not serve (``model_not_found``, as OpenAI answers); it never fails itself (its own
    exceptions would be a 500 and land in sim.errors)."""
    sim = sims["gateway"]
    response = HTTP.post(sim.url + path, json=body, headers=ROUTE)
    assert response.status_code in (200, 400, 404), response.text
    if response.status_code == 404:
        assert response.json()["error"]["code"] == "model_not_found", response.text
    if response.status_code == 400:
        payload = response.json()
        assert set(payload) in ({"error", "provider"}, {"status", "message"})
    assert sim.errors == []


@pytest.mark.parametrize(
    ("retry", "fault", "status", "attempt_count", "upstream_calls_left"),
    [
        ({"attempts": 2}, {"status": 503, "times": 2}, 200, "2", 0),  # failed twice, third call answered
        ({"attempts": 3}, {"status": 429, "times": 1}, 200, "1", 0),
        ({"attempts": 2}, {"status": 503, "times": 3}, 503, "-1", 0),  # every retry failed
        ({"attempts": 2}, {"status": 400, "times": 1}, 400, "0", 0),  # 400 is not retried
        ({"attempts": 2, "on_status_codes": [500]}, {"status": 503, "times": 2}, 503, "0", 1),
        (None, {"status": 503, "times": 2}, 503, "0", 1),  # no retry config: the client sees the first
    ],
)
def test_config_retry_like_the_gateway(
    gateway: Simulator,
    retry: dict[str, Any] | None,
    fault: dict[str, Any],
    status: int,
    attempt_count: str,
    upstream_calls_left: int,
) -> None:
    config: dict[str, Any] = {"provider": "openai"}
    if retry is not None:
        config["retry"] = retry
    gateway.inject(**fault)
    response = post(gateway, "/chat/completions", CHAT, {"x-portkey-config": json.dumps(config)})
    assert (response.status_code, response.headers["x-portkey-retry-attempt-count"]) == (
        status,
        attempt_count,
    )
    assert len(gateway.faults.pending()) == upstream_calls_left
    assert len(gateway.requests) == 1  # the gateway retries upstream; the client sent one request


def test_retry_attempt_count_reaches_the_query_result(hosted: Simulator) -> None:
    hosted.inject(status=502, times=2)
    source = {
        "apiKey": SECRET,
        "gatewayUrl": hosted.url,
        "config": '{"provider": "openai", "retry": {"attempts": 3}}',
    }
    with QueryService() as service:
        result = service.run(
            source, {"operation": "chat", "model": "gpt-4o-mini", "messages": json.dumps(HELLO)}
        )
    assert (result["metadata"]["retryAttemptCount"], result["metadata"]["retries"]) == (2, 0)


# -- QueryService.run against the simulator: chat forms, output modes, structured output, tools, images --

HOSTED_SOURCE = {"apiKey": SECRET, "provider": "openai"}


def run_query(sim: Simulator, query: dict[str, str]) -> dict[str, Any]:
    with QueryService() as service:
        result: dict[str, Any] = service.run({**HOSTED_SOURCE, "gatewayUrl": sim.url}, query)
    return result


def direct_chat(sim: Simulator, body: dict[str, Any]) -> dict[str, Any]:
    """The simulator's answer to the same body, sent by hand (what the plugin's result is made from)."""
    response = post(sim, "/chat/completions", body, {**KEY, **ROUTE})
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


def test_chat_prompt_form_with_output_text(hosted: Simulator) -> None:
    query = {
        "operation": "chat",
        "model": "gpt-4o-mini",
        "system_prompt": "Be brief.",
        "message_history": json.dumps(
            [{"message": "Hi", "type": "message"}, {"message": "Hello! How can I help?", "type": "response"},
             {"message": "Network error", "type": "error"}]
        ),
        "prompt": "Name an AI gateway.",
        "output": "text",
    }  # fmt: skip
    result = run_query(hosted, query)
    sent = hosted.requests[-1].json
    assert sent == {
        "model": "gpt-4o-mini",
        "messages": [
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "Hi"},
            {"role": "assistant", "content": "Hello! How can I help?"},
            {"role": "user", "content": "Name an AI gateway."},
        ],
    }
    expected = direct_chat(hosted, sent)
    assert result["data"] == expected["choices"][0]["message"]["content"]
    assert result["data"].startswith("This is a simulated answer.")
    meta = result["metadata"]
    assert (meta["usage"], meta["model"], meta["finishReason"]) == (
        expected["usage"],
        "gpt-4o-mini-2024-07-18",
        "stop",
    )
    assert meta["usage"]["prompt_tokens"] == 2 + 1 + 5 + 4  # the error item is not sent


def test_chat_response_format_schema_with_output_json(hosted: Simulator) -> None:
    from jsonschema import Draft202012Validator

    query = {
        "operation": "chat",
        "model": "gpt-4o-mini",
        "system_prompt": "Extract the order.",
        "prompt": "Ada wants two lamps.",
        "response_format": json.dumps(ORDER_SCHEMA),
        "output": "json",
    }
    result = run_query(hosted, query)
    sent = hosted.requests[-1].json
    assert sent["response_format"] == {
        "type": "json_schema",
        "json_schema": {"name": "response", "schema": ORDER_SCHEMA, "strict": True},
    }
    assert list(Draft202012Validator(ORDER_SCHEMA).iter_errors(result["data"])) == []
    assert result["data"] == json.loads(direct_chat(hosted, sent)["choices"][0]["message"]["content"])


def test_chat_json_output_cut_by_max_tokens_is_invalid_output(hosted: Simulator) -> None:
    query = {
        "operation": "chat",
        "model": "gpt-4o-mini",
        "prompt": "Extract the order: Ada wants two lamps.",
        "response_format": json.dumps(ORDER_SCHEMA),
        "max_tokens": "3",
        "output": "json",
    }
    with pytest.raises(QueryError) as caught:
        run_query(hosted, query)
    raw = direct_chat(hosted, hosted.requests[-1].json)["choices"][0]["message"]["content"]
    assert len(raw.split()) == 3
    assert caught.value.data["errorType"] == "invalid_output"
    assert caught.value.data["output"] == raw
    assert caught.value.data["statusCode"] == 200
    assert caught.value.description.startswith("The answer is not valid JSON")


def test_chat_json_object_with_output_json(hosted: Simulator) -> None:
    query = {"operation": "chat", "model": "gpt-4o-mini", "prompt": "Answer in JSON: what is Portkey?",
             "response_format": "json_object", "output": "json"}  # fmt: skip
    result = run_query(hosted, query)
    assert hosted.requests[-1].json["response_format"] == {"type": "json_object"}
    assert set(result["data"]) == {"answer"}
    assert result["data"]["answer"].startswith("This is a simulated answer.")


@pytest.mark.parametrize("stream", [False, True])
def test_chat_tools_with_a_named_tool_choice_and_output_text(hosted: Simulator, stream: bool) -> None:
    from jsonschema import Draft202012Validator

    query = {
        "operation": "chat",
        "model": "gpt-4o-mini",
        "prompt": "What is the weather in Paris?",
        "tools": json.dumps(TOOLS),
        "tool_choice": "get_weather",
        "output": "text",
        "stream": str(stream).lower(),
    }
    result = run_query(hosted, query)
    sent = hosted.requests[-1].json
    assert sent["tool_choice"] == {"type": "function", "function": {"name": "get_weather"}}
    expected = direct_chat(hosted, {k: v for k, v in sent.items() if k not in ("stream", "stream_options")})
    (call,) = expected["choices"][0]["message"]["tool_calls"]
    assert result["data"] == [
        {"id": call["id"], "name": "get_weather", "arguments": json.loads(call["function"]["arguments"])}
    ]
    parameters = WEATHER["function"]["parameters"]
    assert list(Draft202012Validator(parameters).iter_errors(result["data"][0]["arguments"])) == []
    assert result["metadata"]["finishReason"] == "tool_calls"
    assert result["metadata"]["usage"] == expected["usage"]


def test_chat_tool_round_trip_through_messages(hosted: Simulator) -> None:
    first = run_query(hosted, {"operation": "chat", "model": "gpt-4o-mini", "prompt": "Call get_time",
                               "tools": json.dumps(TOOLS), "output": "full"})  # fmt: skip
    call = first["data"]["choices"][0]["message"]["tool_calls"][0]
    messages = [
        {"role": "user", "content": "Call get_time"},
        {"role": "assistant", "content": None, "tool_calls": [call]},
        {"role": "tool", "tool_call_id": call["id"], "content": "12:00"},
    ]
    result = run_query(hosted, {"operation": "chat", "model": "gpt-4o-mini", "messages": json.dumps(messages),
                                "tools": json.dumps(TOOLS), "output": "text"})  # fmt: skip
    assert result["data"].startswith("This is a simulated answer.")  # auto after a tool result: text
    assert result["metadata"]["finishReason"] == "stop"


def test_chat_images(hosted: Simulator) -> None:
    query = {
        "operation": "chat",
        "model": "gpt-4o",
        "prompt": "What is in these images?",
        "images": json.dumps(["https://example.com/cat.png", PNG]),
        "output": "text",
    }
    result = run_query(hosted, query)
    assert hosted.requests[-1].json["messages"] == [
        {
            "role": "user",
            "content": [
                {"type": "text", "text": "What is in these images?"},
                {"type": "image_url", "image_url": {"url": "https://example.com/cat.png"}},
                {"type": "image_url", "image_url": {"url": PNG}},
            ],
        }
    ]
    assert result["metadata"]["usage"]["prompt_tokens"] == 5 + 2 * 85
    assert result["data"] == direct_chat(hosted, hosted.requests[-1].json)["choices"][0]["message"]["content"]


@pytest.mark.parametrize("model", ["o3-mini", "gpt-5", "@openai-prod/o4-mini"])
def test_chat_reasoning_models_get_max_completion_tokens(hosted: Simulator, model: str) -> None:
    """The simulator refuses max_tokens for these models, as OpenAI does; the plugin's query succeeds."""
    result = run_query(hosted, {"operation": "chat", "model": model, "prompt": "Hi", "max_tokens": "4",
                                "output": "text"})  # fmt: skip
    assert hosted.requests[-1].json["max_completion_tokens"] == 4
    assert "max_tokens" not in hosted.requests[-1].json
    assert (result["data"], result["metadata"]["finishReason"]) == ("This is a simulated", "length")


def test_streamed_chat_carries_usage_in_metadata(hosted: Simulator) -> None:
    query = {"operation": "chat", "model": "gpt-4o-mini", "prompt": "Hello there", "output": "text"}
    whole = run_query(hosted, query)
    streamed = run_query(hosted, {**query, "stream": "true"})
    assert hosted.requests[-1].json["stream_options"] == {"include_usage": True}
    assert streamed["data"] == whole["data"]
    assert streamed["metadata"]["streamed"] is True
    assert streamed["metadata"]["usage"] == whole["metadata"]["usage"]
    assert streamed["metadata"]["usage"]["completion_tokens"] == len(whole["data"].split())
    assert streamed["metadata"]["finishReason"] == "stop"


def test_streamed_structured_output_with_output_json(hosted: Simulator) -> None:
    query = {"operation": "chat", "model": "gpt-4o-mini", "prompt": "Extract: Ada, two lamps",
             "response_format": json.dumps(ORDER_SCHEMA), "output": "json"}  # fmt: skip
    assert run_query(hosted, {**query, "stream": "true"})["data"] == run_query(hosted, query)["data"]


@pytest.mark.parametrize(
    ("given", "inputs"),
    [("first text", ["first text"]), ('["a b", "c"]', ["a b", "c"]), ("[[1, 2], [3]]", [[1, 2], [3]])],
)
def test_embeddings_with_output_vectors(hosted: Simulator, given: str, inputs: list[Any]) -> None:
    from tooljet_portkey.simulator import embedding_vector

    query = {"operation": "create_embedding", "model": "text-embedding-3-small", "input": given,
             "other_parameters": '{"dimensions": 8}', "output": "vectors"}  # fmt: skip
    result = run_query(hosted, query)
    expected = [embedding_vector("text-embedding-3-small", item, 8) for item in inputs]
    single = not given.startswith("[")
    assert result["data"] == (expected[0] if single else expected)
    assert result["metadata"]["usage"]["prompt_tokens"] == sum(
        len(i) if isinstance(i, list) else len(i.split()) for i in inputs
    )


def test_embeddings_base64_with_output_vectors(hosted: Simulator) -> None:
    from tooljet_portkey.simulator import embedding_vector

    query = {
        "operation": "create_embedding",
        "model": "text-embedding-3-small",
        "input": '["x"]',
        "other_parameters": '{"dimensions": 4, "encoding_format": "base64"}',
        "output": "vectors",
    }
    (vector,) = run_query(hosted, query)["data"]
    assert vector == pytest.approx(embedding_vector("text-embedding-3-small", "x", 4), rel=1e-6)


def _ipv6_loopback() -> bool:
    import socket

    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as probe:
            probe.bind(("::1", 0))
    except OSError:
        return False
    return True


@pytest.mark.skipif(not _ipv6_loopback(), reason="this machine has no IPv6 loopback")
def test_the_simulator_serves_on_the_ipv6_loopback_too() -> None:
    """Given ``host="::1"`` it listens there (as the playground does) and says so in its URL."""
    with Simulator(profile="openai", host="::1") as sim:
        assert re.fullmatch(r"http://\[::1\]:\d+/v1", sim.url)
        answer = httpx.get(sim.url + "/models", timeout=10)
    assert answer.status_code == 200 and answer.json()["object"] == "list"
