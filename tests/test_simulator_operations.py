"""The simulator's image generation and model list through real HTTP, and QueryService (sync and async)
running list models, feedback, prompt render and image generation against it end to end, with the model
dropdown's invoke_method."""

from __future__ import annotations

import asyncio
import base64
import json
import struct
import zlib
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tooljet_portkey import AsyncQueryService, QueryError, QueryService
from tooljet_portkey.simulator import Simulator

ROUTE = {"x-portkey-provider": "openai"}
SECRET = "pk-live-operations-0001"
HTTP = httpx.Client(timeout=30)
CHAT_MODELS = ["gpt-4o-mini", "gpt-4o", "o4-mini", "gpt-5-mini"]
EMBEDDING_MODELS = ["text-embedding-3-small", "text-embedding-3-large", "text-embedding-ada-002"]
IMAGE_MODELS = ["dall-e-2", "dall-e-3", "gpt-image-1"]
ALL_MODELS = [*CHAT_MODELS, "gpt-3.5-turbo-instruct", *EMBEDDING_MODELS, *IMAGE_MODELS]


@pytest.fixture(scope="module")
def sims() -> Iterator[dict[str, Simulator]]:
    started = {p: Simulator(profile=p).start() for p in ("hosted", "gateway", "openai")}
    yield started
    for sim in started.values():
        sim.stop()
        assert sim.errors == []
    HTTP.close()


@pytest.fixture
def hosted(sims: dict[str, Simulator]) -> Simulator:
    sims["hosted"].reset()
    return sims["hosted"]


@pytest.fixture
def gateway(sims: dict[str, Simulator]) -> Simulator:
    sims["gateway"].reset()
    return sims["gateway"]


def source(sim: Simulator, **extra: str) -> dict[str, str]:
    return {"apiKey": SECRET, "provider": "openai", "gatewayUrl": sim.url, "maxRetries": "0", **extra}


def png_pixels(data: bytes) -> tuple[int, int, list[bytes]]:
    """Decode a PNG the simulator makes (8-bit RGB, filter 0, one IDAT), checking every chunk's CRC:
    (width, height, rows of RGB bytes)."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    chunks: list[tuple[bytes, bytes]] = []
    at = 8
    while at < len(data):
        (length,) = struct.unpack(">I", data[at : at + 4])
        kind, body = data[at + 4 : at + 8], data[at + 8 : at + 8 + length]
        (crc,) = struct.unpack(">I", data[at + 8 + length : at + 12 + length])
        assert crc == zlib.crc32(kind + body) & 0xFFFFFFFF
        chunks.append((kind, body))
        at += 12 + length
    assert [kind for kind, _ in chunks] == [b"IHDR", b"IDAT", b"IEND"]
    width, height, depth, colour, compression, filtering, interlace = struct.unpack(">IIBBBBB", chunks[0][1])
    assert (depth, colour, compression, filtering, interlace) == (8, 2, 0, 0, 0)
    raw = zlib.decompress(chunks[1][1])
    stride = 1 + 3 * width
    assert len(raw) == stride * height
    rows = [raw[y * stride : (y + 1) * stride] for y in range(height)]
    assert all(row[0] == 0 for row in rows)
    return width, height, [row[1:] for row in rows]


# -- the simulator's endpoints -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "pixels"),
    [
        ({"prompt": "A lighthouse"}, (16, 16)),  # dall-e-2, 1024x1024
        ({"prompt": "A lighthouse", "model": "dall-e-2", "size": "256x256", "n": 3}, (4, 4)),
        ({"prompt": "A lighthouse", "model": "dall-e-3", "size": "1792x1024", "quality": "hd"}, (28, 16)),
        ({"prompt": "A lighthouse", "model": "@openai-prod/dall-e-3", "size": "1024x1792"}, (16, 28)),
    ],
)
def test_image_urls_point_at_the_simulator_which_serves_the_pngs(
    gateway: Simulator, body: dict[str, Any], pixels: tuple[int, int]
) -> None:
    response = HTTP.post(gateway.url + "/images/generations", json=body, headers=ROUTE)
    assert response.status_code == 200, response.text
    answer = response.json()
    assert set(answer) == {"created", "data"}
    assert len(answer["data"]) == body.get("n", 1)
    root = gateway.url.removesuffix("/v1")
    urls = [item["url"] for item in answer["data"]]
    assert all(url.startswith(f"{root}/_simulator/images/") for url in urls)
    assert len(set(urls)) == len(urls)  # n different images
    for url in urls:
        image = HTTP.get(url)
        assert (image.status_code, image.headers["content-type"]) == (200, "image/png")
        width, height, rows = png_pixels(image.content)
        assert (width, height) == pixels
        assert len({rows[y][3 * x : 3 * x + 3] for y in range(height) for x in range(width)}) > 1
    dall_e_3 = "dall-e-3" in body.get("model", "")
    assert all(("revised_prompt" in item) == dall_e_3 for item in answer["data"])
    # the images are not requests to the API: nothing is recorded for them
    assert [(r.method, r.path) for r in gateway.requests] == [("POST", "/v1/images/generations")]


def test_the_same_request_gets_the_same_images_and_b64_holds_the_same_bytes(gateway: Simulator) -> None:
    body = {"prompt": "A lighthouse at dawn", "model": "dall-e-3"}
    first = HTTP.post(gateway.url + "/images/generations", json=body, headers=ROUTE).json()
    again = HTTP.post(gateway.url + "/images/generations", json=body, headers=ROUTE).json()
    other = HTTP.post(
        gateway.url + "/images/generations", json={**body, "prompt": "A cat"}, headers=ROUTE
    ).json()
    b64 = HTTP.post(
        gateway.url + "/images/generations", json={**body, "response_format": "b64_json"}, headers=ROUTE
    ).json()
    assert first["data"] == again["data"]
    assert first["data"][0]["url"] != other["data"][0]["url"]
    png = HTTP.get(first["data"][0]["url"]).content
    assert base64.b64decode(b64["data"][0]["b64_json"]) == png
    assert b64["data"][0]["revised_prompt"] == "A simulated image of: A lighthouse at dawn"


def test_gpt_image_1_answers_base64_with_token_usage(gateway: Simulator) -> None:
    body = {
        "prompt": "three word prompt",
        "model": "gpt-image-1",
        "n": 2,
        "size": "1536x1024",
        "quality": "low",
    }
    answer = HTTP.post(gateway.url + "/images/generations", json=body, headers=ROUTE).json()
    assert [set(item) for item in answer["data"]] == [{"b64_json"}, {"b64_json"}]
    assert png_pixels(base64.b64decode(answer["data"][0]["b64_json"]))[:2] == (24, 16)
    assert answer["usage"] == {
        "input_tokens": 3,
        "output_tokens": 544,
        "total_tokens": 547,
        "input_tokens_details": {"text_tokens": 3, "image_tokens": 0},
    }


DALL_E_3 = {"prompt": "x", "model": "dall-e-3"}
GPT_IMAGE = {"prompt": "x", "model": "gpt-image-1"}
IMAGE_REFUSALS = [
    ({"model": "dall-e-2"}, "'prompt' must be a non-empty string", "prompt"),
    ({"prompt": "x", "model": "gpt-4o-mini"},
     "Invalid 'model': gpt-4o-mini does not make images; the simulator's image models are dall-e-2, dall-e-3 "
     "or gpt-image-1", "model"),
    ({"prompt": "x", "n": 11}, "Invalid 'n': expected an integer from 1 to 10, got 11", "n"),
    ({**DALL_E_3, "n": 2}, "Invalid 'n': dall-e-3 makes at most 1 image per request", "n"),
    ({**DALL_E_3, "size": "256x256"}, "Invalid 'size': dall-e-3 takes 1024x1024, 1792x1024 or 1024x1792",
     "size"),
    ({"prompt": "x", "quality": "hd"}, "Invalid 'quality': dall-e-2 takes standard", "quality"),
    ({"prompt": "x", "style": "vivid"}, "Invalid 'style': dall-e-2 takes no style; dall-e-3 does", "style"),
    ({**DALL_E_3, "style": "bold"}, "Invalid 'style': dall-e-3 takes vivid or natural", "style"),
    ({"prompt": "x", "response_format": "png"}, "Invalid 'response_format': dall-e-2 takes url or b64_json",
     "response_format"),
    ({**GPT_IMAGE, "response_format": "url"}, "Invalid 'response_format': gpt-image-1 takes b64_json",
     "response_format"),
    ({**GPT_IMAGE, "output_format": "jpeg"}, "Invalid 'output_format': the simulator makes png images only",
     "output_format"),
]  # fmt: skip


@pytest.mark.parametrize(("body", "message", "param"), IMAGE_REFUSALS)
def test_image_refusals_in_openais_shape(
    gateway: Simulator, body: dict[str, Any], message: str, param: str
) -> None:
    response = HTTP.post(gateway.url + "/images/generations", json=body, headers=ROUTE)
    assert (response.status_code, response.json()) == (
        400,
        {"error": {"message": f"{message} (simulated).", "type": "invalid_request_error", "param": param,
                   "code": None}, "provider": "openai"},
    )  # fmt: skip


def test_images_need_routing_and_unknown_image_names_are_404(gateway: Simulator) -> None:
    unrouted = HTTP.post(gateway.url + "/images/generations", json={"prompt": "x"})
    assert (unrouted.status_code, unrouted.json()["message"]) == (
        400,
        "Either x-portkey-config or x-portkey-provider header is required",
    )
    root = gateway.url.removesuffix("/v1") + "/_simulator/images/"
    for name in ("nope.png", "0123456789abcdef01234567-10x10.png", "0123456789abcdef01234567-9999x64.png"):
        missing = HTTP.get(root + name)
        assert (missing.status_code, missing.json()) == (404, {"message": "Not Found", "ok": False})


@pytest.mark.parametrize(
    ("query", "ids"),
    [
        ("", ALL_MODELS),
        ("?limit=2", ["gpt-4o-mini", "gpt-4o"]),
        ("?offset=9&limit=5", ["dall-e-3", "gpt-image-1"]),
        ("?provider=OpenAI&offset=10", ["gpt-image-1"]),
        ("?provider=anthropic", []),
        ("?provider=@openai", ALL_MODELS),
    ],
)
def test_the_model_list_filters_by_provider_and_pages(hosted: Simulator, query: str, ids: list[str]) -> None:
    response = HTTP.get(hosted.url + "/models" + query, headers={"x-portkey-api-key": SECRET})
    assert response.status_code == 200
    assert [model["id"] for model in response.json()["data"]] == ids


@pytest.mark.parametrize(("query", "key", "least"), [("?limit=0", "limit", 1), ("?offset=-2", "offset", 0),
                                                     ("?limit=many", "limit", 1)])  # fmt: skip
def test_bad_paging_is_the_gateways_400(hosted: Simulator, query: str, key: str, least: int) -> None:
    response = HTTP.get(hosted.url + "/models" + query, headers={"x-portkey-api-key": SECRET})
    assert (response.status_code, response.json()) == (
        400,
        {"status": "failure", "message": f"Invalid {key}: expected a whole number of at least {least}"},
    )


# -- QueryService end to end -----------------------------------------------------------------------------


def test_list_models_as_full_and_text(hosted: Simulator) -> None:
    with QueryService() as service:
        full = service.run(source(hosted), {"operation": "list_models", "limit": "3", "traceId": "ignored"})
        text = service.run(source(hosted), {"operation": "list_models", "offset": "7", "output": "text"})
    assert [model["id"] for model in full["data"]["data"]] == ["gpt-4o-mini", "gpt-4o", "o4-mini"]
    assert full["data"]["object"] == "list"
    assert text["data"] == ["text-embedding-ada-002", "dall-e-2", "dall-e-3", "gpt-image-1"]
    assert "warning" not in text["metadata"]
    sent = hosted.requests[0]
    assert (sent.method, sent.path, sent.json) == ("GET", "/v1/models", None)
    assert sent.headers["x-portkey-api-key"] == SECRET


def test_an_empty_model_list_warns(hosted: Simulator) -> None:
    with QueryService() as service:
        result = service.run(
            source(hosted), {"operation": "list_models", "provider": "anthropic", "output": "text"}
        )
    assert result["data"] == []
    assert result["metadata"]["warning"] == "Portkey listed no models for this connection"
    assert result["metadata"]["statusCode"] == 200


def test_feedback_on_an_answers_trace_id_is_kept(hosted: Simulator) -> None:
    with QueryService() as service:
        answer = service.run(source(hosted), {"operation": "chat", "model": "gpt-4o-mini", "prompt": "Hi"})
        trace_id = answer["metadata"]["traceId"]
        rated = service.run(
            source(hosted, virtualKey="vk-never-sent"),
            {
                "operation": "feedback",
                "traceId": trace_id,
                "value": "-2",
                "weight": "0.5",
                "metadata": '{"_user": "ada", "why": ["too long"]}',
            },
        )
    (record,) = hosted.feedback
    assert rated["data"] == {
        "status": "success",
        "message": "Feedback successfully saved",
        "feedback_ids": [record.id],
    }
    assert (record.trace_id, record.value, record.weight, record.metadata) == (
        trace_id,
        -2,
        0.5,
        {"_user": "ada", "why": ["too long"]},
    )
    sent = hosted.requests[-1]
    assert [key for key in sent.headers if key.startswith("x-portkey-")] == ["x-portkey-api-key"]


def test_prompt_render_then_the_completion_it_stands_for(hosted: Simulator) -> None:
    variables = '{"topic": "gateways", "audience": "builders"}'
    with QueryService() as service:
        full = service.run(
            source(hosted),
            {
                "operation": "prompt_render",
                "promptId": "pp-demo@2",
                "variables": variables,
                "prompt_parameters": '{"max_tokens": 20}',
            },
        )
        text = service.run(
            source(hosted),
            {
                "operation": "prompt_render",
                "promptId": "pp-demo-text",
                "variables": '{"product": "Acme"}',
                "output": "text",
            },
        )
        chat = service.run(
            source(hosted),
            {
                "operation": "chat",
                "model": full["data"]["data"]["model"],
                "messages": json.dumps(full["data"]["data"]["messages"]),
                "max_tokens": "20",
            },
        )
        completion = service.run(
            source(hosted),
            {
                "operation": "prompt_completion",
                "promptId": "pp-demo@2",
                "variables": variables,
                "prompt_parameters": '{"max_tokens": 20}',
            },
        )
    assert full["data"] == {
        "success": True,
        "data": {
            "model": "gpt-4o-mini",
            "max_tokens": 20,
            "messages": [
                {"role": "system", "content": "You are a cheerful assistant writing for builders."},
                {"role": "user", "content": "Write two sentences about gateways."},
            ],
        },
    }
    assert full["metadata"]["model"] == "gpt-4o-mini"
    assert text["data"] == "Write a tagline for Acme:"
    assert chat["data"]["choices"] == completion["data"]["choices"]


def test_prompt_render_refused_like_the_completion(hosted: Simulator) -> None:
    with QueryService() as service, pytest.raises(QueryError) as caught:
        service.run(source(hosted), {"operation": "prompt_render", "promptId": "pp-nope"})
    assert (caught.value.description, caught.value.data["statusCode"]) == ("Prompt pp-nope not found", 404)


@pytest.mark.parametrize("flavour", ["sync", "async"])
def test_image_generation_gives_urls_the_simulator_serves(hosted: Simulator, flavour: str) -> None:
    query = {
        "operation": "image_generation",
        "prompt": "A lighthouse at dawn",
        "model": "dall-e-2",
        "n": "2",
        "size": "512x512",
        "output": "images",
        "metadata": '{"_user": "ada"}',
        "traceId": "tr-img",
    }
    if flavour == "sync":
        with QueryService() as service:
            result = service.run(source(hosted), query)
    else:

        async def run() -> dict[str, Any]:
            async with AsyncQueryService() as service:
                return await service.run(source(hosted), query)

        result = asyncio.run(run())
    urls = result["data"]
    assert len(urls) == 2 and all(url.startswith(hosted.url.removesuffix("/v1")) for url in urls)
    assert [png_pixels(HTTP.get(url).content)[:2] for url in urls] == [(8, 8), (8, 8)]
    assert (result["metadata"]["traceId"], result["metadata"]["provider"]) == ("tr-img", "openai")
    sent = hosted.requests[-1]
    assert sent.json == {"prompt": "A lighthouse at dawn", "model": "dall-e-2", "n": 2, "size": "512x512"}
    assert sent.headers["x-portkey-metadata"] == '{"_user":"ada"}'


def test_base64_images_become_data_uris_with_usage_in_metadata(hosted: Simulator) -> None:
    query = {
        "operation": "image_generation",
        "prompt": "A lighthouse",
        "model": "gpt-image-1",
        "output": "images",
    }
    with QueryService() as service:
        result = service.run(source(hosted), query)
    (uri,) = result["data"]
    prefix = "data:image/png;base64,"
    assert uri.startswith(prefix)
    assert png_pixels(base64.b64decode(uri[len(prefix) :]))[:2] == (16, 16)
    assert result["metadata"]["usage"]["total_tokens"] == 2 + 272


def test_an_image_refusal_is_a_query_error_with_the_providers_words(hosted: Simulator) -> None:
    query = {"operation": "image_generation", "prompt": "x", "model": "dall-e-3", "n": "3"}
    with QueryService() as service, pytest.raises(QueryError) as caught:
        service.run(source(hosted), query)
    assert (caught.value.description, caught.value.data["statusCode"], caught.value.data["errorType"]) == (
        "Invalid 'n': dall-e-3 makes at most 1 image per request (simulated).",
        400,
        "invalid_request_error",
    )


PRICE_LABELS = {
    "gpt-4o-mini": " \u00b7 $0.15 / $0.60 per 1M tokens",
    "gpt-4o": " \u00b7 $2.50 / $10.00 per 1M tokens",
    "o4-mini": " \u00b7 $1.10 / $4.40 per 1M tokens",
    "gpt-5-mini": " \u00b7 $0.25 / $2.00 per 1M tokens",
    "gpt-3.5-turbo-instruct": " \u00b7 $1.50 / $2.00 per 1M tokens",
    "text-embedding-3-small": " \u00b7 $0.02 per 1M tokens",
    "text-embedding-3-large": " \u00b7 $0.13 per 1M tokens",
    "text-embedding-ada-002": " \u00b7 $0.10 per 1M tokens",
}


@pytest.mark.parametrize(
    ("args", "ids"),
    [
        ({"operation": "chat"}, CHAT_MODELS),
        ({"operation": "completion"}, ["gpt-3.5-turbo-instruct"]),
        ({"operation": "image_generation"}, IMAGE_MODELS),
        ({"operation": "create_embedding"}, EMBEDDING_MODELS),
        ({"operation": "list_models"}, ALL_MODELS),  # an operation without a model field: every model
        (None, ALL_MODELS),
    ],
)
@pytest.mark.parametrize("flavour", ["sync", "async"])
def test_invoke_method_lists_the_simulators_models(
    gateway: Simulator, flavour: str, args: Any, ids: list[str]
) -> None:
    options = {"gatewayUrl": gateway.url, "provider": "openai"}
    if flavour == "sync":
        with QueryService() as service:
            result = service.invoke_method("listModels", options, args)
    else:

        async def invoke() -> dict[str, Any]:
            async with AsyncQueryService() as service:
                return await service.invoke_method("listModels", options, args)

        result = asyncio.run(invoke())
    # the models OpenAI's published prices know by the token show their price (docs/cost.md)
    assert result == {
        "status": "ok",
        "data": [{"value": i, "label": i + PRICE_LABELS.get(i, "")} for i in ids],
    }
    assert [(r.method, r.path) for r in gateway.requests] == [("GET", "/v1/models")]


def test_invoke_method_reports_a_rejected_key(sims: dict[str, Simulator]) -> None:
    with (
        Simulator(profile="hosted", api_keys=["pk-only"]) as keyed,
        QueryService() as service,
        pytest.raises(QueryError) as caught,
    ):
        service.invoke_method(
            "listModels", {"apiKey": SECRET, "gatewayUrl": keyed.url}, {"operation": "chat"}
        )
    assert (caught.value.description, caught.value.data["statusCode"]) == ("Invalid API Key", 401)
    assert SECRET not in json.dumps([caught.value.message, caught.value.description, caught.value.data])
