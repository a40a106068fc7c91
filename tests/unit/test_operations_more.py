"""List models, feedback, prompt render and image generation as a host and a Python program see them: the
exact request on the wire, the exact result in each output mode, the exact refusal of bad input (nothing
sent), the model dropdown's invoke_method, and the typed client methods, sync and async."""

# Tables of exact messages read best one case per line.
# ruff: noqa: E501

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import respx
from unit_support import API_KEY, BASE_URL, MINIMAL_MORE, SOURCE, base_headers, run_async, unpriced, wire

from tooljet_portkey import (
    AsyncPortkeyClient,
    AsyncQueryService,
    FeedbackResult,
    ImagesResponse,
    ModelList,
    PortkeyClient,
    PromptRender,
    QueryError,
    QueryService,
)
from tooljet_portkey._constants import MAX_MODEL_CHOICES
from tooljet_portkey._service import model_choices

pytestmark = [pytest.mark.respx(base_url=BASE_URL), pytest.mark.usefixtures("no_retry_sleep")]

INVALID = "Invalid query options"
OUTPUT = "The answer is not the output asked for"
HEADERS = {"x-portkey-trace-id": "trace-7"}
# A connection that holds every kind of secret a model call may need
ROUTED = {**SOURCE, "virtualKey": "vk-conn-1", "providerApiKey": "sk-provider-1", "provider": "openai",
          "config": '{"retry": {"attempts": 2}}'}  # fmt: skip
MODELS = {
    "object": "list",
    "data": [
        {
            "id": "@openai-prod/gpt-4o-mini",
            "slug": "gpt-4o-mini",
            "canonical_slug": "gpt-4o-mini",
            "object": "model",
        },
        {"id": "text-embedding-3-small", "object": "model", "created": 1, "owned_by": "openai"},
        {"id": "dall-e-3", "object": "model", "created": 1, "owned_by": "openai"},
        {"id": "@openai-prod/text-embedding-3-large", "object": "model"},
        {"id": "@openai-prod/gpt-4o-mini", "object": "model"},  # listed twice
        {"object": "model"},  # no id: left out
        {"id": "Cohere-Embed-v3", "object": "model"},
    ],
}
CHAT_RENDER = {
    "success": True,
    "data": {
        "model": "gpt-4o-mini",
        "max_tokens": 256,
        "messages": [
            {"role": "system", "content": "You are a concise assistant writing for builders."},
            {"role": "user", "content": "Write one short paragraph about gateways."},
        ],
    },
}
TEXT_RENDER = {"success": True, "data": {"model": "gpt-3.5-turbo-instruct", "prompt": "A tagline for Acme:"}}
FEEDBACK_ANSWER = {"status": "success", "message": "Feedback successfully saved", "feedback_ids": ["fb-1"]}
PNG_B64 = base64.b64encode(b"\x89PNG\r\n\x1a\n" + bytes(24)).decode()
JPEG_B64 = base64.b64encode(b"\xff\xd8\xff\xe0" + bytes(20)).decode()
WEBP_B64 = base64.b64encode(b"RIFF\x10\x00\x00\x00WEBPVP8 " + bytes(12)).decode()


def answered(respx_mock: respx.MockRouter, answer: Any, status: int = 200) -> respx.Route:
    return respx_mock.route().respond(status, json=answer, headers=HEADERS)


def run(service: QueryService, respx_mock: respx.MockRouter, query: dict[str, Any], answer: Any) -> Any:
    answered(respx_mock, answer)
    return service.run(SOURCE, query)


def refusal(
    service: QueryService, respx_mock: respx.MockRouter, query: dict[str, Any]
) -> tuple[str, str, Any]:
    with pytest.raises(QueryError) as caught:
        service.run(SOURCE, query)
    assert respx_mock.calls.call_count == 0
    return caught.value.message, caught.value.description, caught.value.data


# ---------------------------------------------------------------------------------------------------
# list_models


def test_list_models_full_is_portkeys_list(service: QueryService, respx_mock: respx.MockRouter) -> None:
    route = answered(respx_mock, MODELS)
    assert service.run(SOURCE, MINIMAL_MORE["list_models"]) == {
        "status": "ok",
        "data": MODELS,
        "metadata": {"statusCode": 200, "retries": 0, "traceId": "trace-7"},
    }
    assert wire(route.calls.last.request) == {
        "method": "GET",
        "url": f"{BASE_URL}/models",
        "headers": {
            "user-agent": "tooljet-portkey",
            "x-portkey-api-key": API_KEY,
            "accept": "application/json",
        },
        "json": None,
    }


def test_list_models_text_is_the_ids_in_order(service: QueryService, respx_mock: respx.MockRouter) -> None:
    result = run(service, respx_mock, {"operation": "list_models", "output": "text"}, MODELS)
    assert result["data"] == [
        "@openai-prod/gpt-4o-mini",
        "text-embedding-3-small",
        "dall-e-3",
        "@openai-prod/text-embedding-3-large",
        "@openai-prod/gpt-4o-mini",
        "Cohere-Embed-v3",
    ]


@pytest.mark.parametrize(("output", "data"), [("full", {"object": "list", "data": []}), ("text", [])])
def test_an_empty_list_is_ok_with_a_warning(
    service: QueryService, respx_mock: respx.MockRouter, output: str, data: Any
) -> None:
    result = run(
        service, respx_mock, {"operation": "list_models", "output": output}, {"object": "list", "data": []}
    )
    assert result == {
        "status": "ok",
        "data": data,
        "metadata": {
            "statusCode": 200,
            "retries": 0,
            "traceId": "trace-7",
            "warning": "Portkey listed no models for this connection",
        },
    }


def test_an_answer_without_a_list_cannot_give_ids(
    service: QueryService, respx_mock: respx.MockRouter
) -> None:
    answered(respx_mock, {"object": "list"})
    with pytest.raises(QueryError) as caught:
        service.run(SOURCE, {"operation": "list_models", "output": "text"})
    assert (caught.value.message, caught.value.description, caught.value.data) == (
        OUTPUT,
        "Portkey's answer holds no model list",
        {"statusCode": 200, "errorType": "invalid_output", "traceId": "trace-7", "output": ""},
    )


def test_list_models_takes_the_connections_routing_headers(
    service: QueryService, respx_mock: respx.MockRouter
) -> None:
    """A self-hosted gateway lists the models of the provider the connection routes to."""
    route = answered(respx_mock, MODELS)
    service.run(ROUTED, {"operation": "list_models", "limit": "3"})
    sent = wire(route.calls.last.request)
    assert (sent["method"], sent["url"]) == ("GET", f"{BASE_URL}/models?limit=3")
    assert sent["headers"] == {
        "user-agent": "tooljet-portkey",
        "x-portkey-api-key": API_KEY,
        "x-portkey-provider": "openai",
        "authorization": "Bearer sk-provider-1",
        "x-portkey-virtual-key": "vk-conn-1",
        "x-portkey-config": '{"retry":{"attempts":2}}',
        "accept": "application/json",
    }


@pytest.mark.parametrize(
    ("options", "description"),
    [
        ({"limit": "0"}, "limit: must be at least 1"),
        ({"limit": "ten"}, "limit: must be a whole number"),
        ({"offset": "-1"}, "offset: must be at least 0"),
        ({"provider": "open ai"}, "provider: contains characters that are not allowed here"),
        ({"output": "vectors"}, "output: must be one of: full, text"),
    ],
)
def test_list_models_refusals(
    service: QueryService, respx_mock: respx.MockRouter, options: dict[str, str], description: str
) -> None:
    field = next(iter(options))
    assert refusal(service, respx_mock, {"operation": "list_models", **options}) == (
        INVALID,
        description,
        {"field": field},
    )


def test_a_list_models_request_shows_its_query_and_hides_its_keys() -> None:
    from tooljet_portkey._options import parse_connection, parse_query
    from tooljet_portkey._requests import build_request

    request = build_request(parse_connection(ROUTED), parse_query({"operation": "list_models", "limit": "5"}))
    shown = repr(request)
    assert shown.startswith("PortkeyRequest(GET /models?limit=5, headers={")
    assert "'x-portkey-virtual-key': '***'" in shown and "'authorization': '***'" in shown
    assert "vk-conn-1" not in shown and "sk-provider-1" not in shown and API_KEY not in shown


def test_list_models_cannot_be_streamed(service: QueryService) -> None:
    with pytest.raises(QueryError) as caught:
        service.stream(SOURCE, {"operation": "list_models"})
    assert caught.value.description == "operation: list_models cannot be streamed"


# ---------------------------------------------------------------------------------------------------
# feedback


def test_feedback_sends_its_fields_in_the_body_and_only_the_portkey_key(
    service: QueryService, respx_mock: respx.MockRouter
) -> None:
    route = answered(respx_mock, FEEDBACK_ANSWER)
    result = service.run(
        ROUTED,
        {
            "operation": "feedback",
            "traceId": " trace-rated-1 ",
            "value": "7",
            "weight": "1",
            "metadata": '{"_user": "ada"}',
        },
    )
    assert result == {
        "status": "ok",
        "data": FEEDBACK_ANSWER,
        "metadata": {"statusCode": 200, "retries": 0, "traceId": "trace-7"},
    }
    assert wire(route.calls.last.request) == {
        "method": "POST",
        "url": f"{BASE_URL}/feedback",
        "headers": base_headers(),  # no provider key, virtual key, config, metadata or trace id header
        "json": {"trace_id": "trace-rated-1", "value": 7, "weight": 1.0, "metadata": {"_user": "ada"}},
    }


def test_feedback_metadata_is_no_header_so_it_may_be_large_and_nested(
    service: QueryService, respx_mock: respx.MockRouter
) -> None:
    metadata = {"comment": "x" * 20_000, "answer": {"tokens": [1, 2, 3]}}
    route = answered(respx_mock, FEEDBACK_ANSWER)
    service.run(SOURCE, {**MINIMAL_MORE["feedback"], "metadata": json.dumps(metadata)})
    assert wire(route.calls.last.request)["json"] == {
        "trace_id": "trace-rated-1",
        "value": 1,
        "metadata": metadata,
    }


@pytest.mark.parametrize(
    ("options", "description", "field"),
    [
        ({"value": "11"}, "value: must be at most 10", "value"),
        ({"value": "-11"}, "value: must be at least -10", "value"),
        ({"value": "0.5"}, "value: must be a whole number", "value"),
        ({"value": ""}, "value: is required", "value"),
        ({"traceId": "  "}, "traceId: is required", "traceId"),
        ({"traceId": "trace 1"}, "traceId: contains characters that are not allowed here", "traceId"),
        ({"weight": "1.5"}, "weight: must be at most 1", "weight"),
        ({"weight": "-0.1"}, "weight: must be at least 0", "weight"),
        ({"metadata": "[1]"}, "metadata: must be a JSON object", "metadata"),
        (
            {"metadata": json.dumps({f"k{i}": i for i in range(65)})},
            "metadata: must have at most 64 keys",
            "metadata",
        ),
    ],
)
def test_feedback_refusals(
    service: QueryService, respx_mock: respx.MockRouter, options: dict[str, str], description: str, field: str
) -> None:
    assert refusal(service, respx_mock, {**MINIMAL_MORE["feedback"], **options}) == (
        INVALID,
        description,
        {"field": field},
    )


# ---------------------------------------------------------------------------------------------------
# prompt_render


def test_prompt_render_full_is_portkeys_answer_with_the_model_in_metadata(
    service: QueryService, respx_mock: respx.MockRouter
) -> None:
    route = answered(respx_mock, CHAT_RENDER)
    result = service.run(
        ROUTED,
        {
            "operation": "prompt_render",
            "promptId": "pp-welcome-e1f2a3@3",
            "variables": '{"topic": "gateways"}',
            "prompt_parameters": '{"temperature": 0.3}',
        },
    )
    assert result == {
        "status": "ok",
        "data": CHAT_RENDER,
        "metadata": {"statusCode": 200, "retries": 0, "traceId": "trace-7", "model": "gpt-4o-mini"},
    }
    assert wire(route.calls.last.request) == {
        "method": "POST",
        "url": f"{BASE_URL}/prompts/pp-welcome-e1f2a3@3/render",
        "headers": base_headers(),  # no model is called: no provider key, virtual key or config
        "json": {"temperature": 0.3, "variables": {"topic": "gateways"}},
    }


@pytest.mark.parametrize(
    ("answer", "data"),
    [(CHAT_RENDER, CHAT_RENDER["data"]["messages"]), (TEXT_RENDER, "A tagline for Acme:")],
    ids=["chat template", "text template"],
)
def test_prompt_render_text_is_the_rendered_messages_or_prompt(
    service: QueryService, respx_mock: respx.MockRouter, answer: Any, data: Any
) -> None:
    result = run(service, respx_mock, {**MINIMAL_MORE["prompt_render"], "output": "text"}, answer)
    assert result["data"] == data
    assert result["metadata"]["model"] == answer["data"]["model"]


def test_a_render_without_messages_or_prompt_has_no_text(
    service: QueryService, respx_mock: respx.MockRouter
) -> None:
    answered(respx_mock, {"success": True, "data": {"model": "m"}})
    with pytest.raises(QueryError) as caught:
        service.run(SOURCE, {**MINIMAL_MORE["prompt_render"], "output": "text"})
    assert (caught.value.message, caught.value.description, caught.value.data) == (
        OUTPUT,
        "Portkey's answer holds no rendered messages or prompt",
        {"statusCode": 200, "errorType": "invalid_output", "traceId": "trace-7", "output": ""},
    )


def test_a_render_sends_variables_even_when_none_are_given(
    service: QueryService, respx_mock: respx.MockRouter
) -> None:
    route = answered(respx_mock, CHAT_RENDER)
    service.run(SOURCE, MINIMAL_MORE["prompt_render"])
    assert wire(route.calls.last.request)["json"] == {"variables": {}}


@pytest.mark.parametrize(
    ("options", "description", "field"),
    [
        ({"promptId": "pp/../x"}, "promptId: contains characters that are not allowed here", "promptId"),
        ({"variables": "[1]"}, "variables: must be a JSON object", "variables"),
        (
            {"prompt_parameters": "{"},
            "prompt_parameters: is not valid JSON (Expecting property name enclosed in double quotes: line 1 column 2 (char 1))",
            "prompt_parameters",
        ),
        ({"output": "json"}, "output: must be one of: full, text", "output"),
    ],
)
def test_prompt_render_refusals(
    service: QueryService, respx_mock: respx.MockRouter, options: dict[str, str], description: str, field: str
) -> None:
    assert refusal(service, respx_mock, {**MINIMAL_MORE["prompt_render"], **options}) == (
        INVALID,
        description,
        {"field": field},
    )


# ---------------------------------------------------------------------------------------------------
# image_generation


def images_answer(*items: dict[str, Any], usage: Any = None) -> dict[str, Any]:
    answer: dict[str, Any] = {"created": 1700000000, "data": list(items)}
    if usage is not None:
        answer["usage"] = usage
    return answer


def test_images_are_urls_and_data_uris(service: QueryService, respx_mock: respx.MockRouter) -> None:
    answer = images_answer(
        {"url": "https://images.test/1.png", "revised_prompt": "A lighthouse"},
        {"b64_json": PNG_B64},
        {"b64_json": JPEG_B64},
        {"b64_json": WEBP_B64},
    )
    result = run(service, respx_mock, {**MINIMAL_MORE["image_generation"], "output": "images"}, answer)
    assert result["data"] == [
        "https://images.test/1.png",
        f"data:image/png;base64,{PNG_B64}",
        f"data:image/jpeg;base64,{JPEG_B64}",
        f"data:image/webp;base64,{WEBP_B64}",
    ]


def test_images_full_is_portkeys_answer_with_its_usage(
    service: QueryService, respx_mock: respx.MockRouter
) -> None:
    usage = {"input_tokens": 10, "output_tokens": 272, "total_tokens": 282}
    answer = images_answer({"b64_json": PNG_B64}, usage=usage)
    route = answered(respx_mock, answer)
    assert service.run(SOURCE, MINIMAL_MORE["image_generation"]) == {
        "status": "ok",
        "data": answer,
        # the query names no model (the provider picks one): nothing to price it by
        "metadata": {"statusCode": 200, "retries": 0, "traceId": "trace-7", "usage": usage,
                     **unpriced("an unnamed model")},
    }  # fmt: skip
    assert wire(route.calls.last.request) == {
        "method": "POST",
        "url": f"{BASE_URL}/images/generations",
        "headers": base_headers(),
        "json": {"prompt": "A lighthouse at dawn"},
    }


def test_other_parameters_fill_what_the_form_leaves_empty(
    service: QueryService, respx_mock: respx.MockRouter
) -> None:
    """gpt-image-1's sizes and qualities are not in the form's dropdowns: they go in other_parameters."""
    route = answered(respx_mock, images_answer({"b64_json": PNG_B64}))
    service.run(
        ROUTED,
        {
            **MINIMAL_MORE["image_generation"],
            "model": "gpt-image-1",
            "virtualKey": "vk-query",
            "other_parameters": '{"size": "1536x1024", "quality": "high", "output_format": "jpeg"}',
        },
    )
    sent = wire(route.calls.last.request)
    assert sent["json"] == {
        "size": "1536x1024",
        "quality": "high",
        "output_format": "jpeg",
        "prompt": "A lighthouse at dawn",
        "model": "gpt-image-1",
    }
    assert (sent["headers"]["x-portkey-virtual-key"], sent["headers"]["authorization"]) == (
        "vk-query",
        "Bearer sk-provider-1",
    )


@pytest.mark.parametrize(
    ("item", "description", "output"),
    [
        ({"revised_prompt": "x"}, "Portkey's answer holds an image with neither url nor b64_json", ""),
        (
            {"b64_json": "%%%notbase64%%%"},
            "Portkey's answer holds an image that is not base64",
            "%%%notbase64%%%",
        ),
    ],
)
def test_an_image_that_cannot_be_shown_is_an_invalid_output(
    service: QueryService, respx_mock: respx.MockRouter, item: dict[str, Any], description: str, output: str
) -> None:
    answered(respx_mock, images_answer(item))
    with pytest.raises(QueryError) as caught:
        service.run(SOURCE, {**MINIMAL_MORE["image_generation"], "output": "images"})
    assert (caught.value.message, caught.value.description, caught.value.data) == (
        OUTPUT,
        description,
        {"statusCode": 200, "errorType": "invalid_output", "traceId": "trace-7", "output": output},
    )


def test_no_images_at_all_is_an_invalid_output(service: QueryService, respx_mock: respx.MockRouter) -> None:
    answered(respx_mock, {"created": 1})
    with pytest.raises(QueryError) as caught:
        service.run(SOURCE, {**MINIMAL_MORE["image_generation"], "output": "images"})
    assert caught.value.description == "Portkey's answer holds no images"


@pytest.mark.parametrize(
    ("options", "description", "field"),
    [
        ({"prompt": " "}, "prompt: is required", "prompt"),
        ({"n": "11"}, "n: must be at most 10", "n"),
        ({"n": "0"}, "n: must be at least 1", "n"),
        (
            {"size": "1536x1024"},
            "size: must be one of: 256x256, 512x512, 1024x1024, 1792x1024, 1024x1792",
            "size",
        ),
        ({"quality": "high"}, "quality: must be one of: standard, hd", "quality"),
        ({"style": "bold"}, "style: must be one of: vivid, natural", "style"),
        ({"response_format": "png"}, "response_format: must be one of: url, b64_json", "response_format"),
        ({"output": "text"}, "output: must be one of: full, images", "output"),
        ({"other_parameters": "[]"}, "other_parameters: must be a JSON object", "other_parameters"),
        ({"metadata": '{"k": 1}'}, "metadata: a value must be text", "metadata"),
    ],
)
def test_image_generation_refusals(
    service: QueryService, respx_mock: respx.MockRouter, options: dict[str, str], description: str, field: str
) -> None:
    assert refusal(service, respx_mock, {**MINIMAL_MORE["image_generation"], **options}) == (
        INVALID,
        description,
        {"field": field},
    )


@pytest.mark.parametrize("operation", ["image_generation", "prompt_render", "feedback"])
def test_the_new_operations_cannot_be_streamed(service: QueryService, operation: str) -> None:
    with pytest.raises(QueryError) as caught:
        service.stream(SOURCE, MINIMAL_MORE[operation])
    assert caught.value.description == f"operation: {operation} cannot be streamed"


def test_a_provider_error_is_the_query_error_with_portkeys_words(
    service: QueryService, respx_mock: respx.MockRouter
) -> None:
    error = {"error": {"message": "Your request was rejected by the safety system.", "type": "invalid_request_error",
                       "param": None, "code": "content_policy_violation"}, "provider": "openai"}  # fmt: skip
    respx_mock.post("/images/generations").respond(400, json=error, headers={"x-portkey-trace-id": "trace-8"})
    with pytest.raises(QueryError) as caught:
        service.run(SOURCE, MINIMAL_MORE["image_generation"])
    assert (caught.value.message, caught.value.description, caught.value.data) == (
        "Query could not be completed",
        "Your request was rejected by the safety system.",
        {"statusCode": 400, "errorType": "invalid_request_error", "traceId": "trace-8", "retries": 0,
         "provider": "openai"},
    )  # fmt: skip


# ---------------------------------------------------------------------------------------------------
# invoke_method: the model dropdown


# One model of every kind, as lists write them: Portkey's (Model Catalog ids, canonical_slug), OpenAI's,
# and a provider's list that gives each model's type.
DROPDOWN_MODELS = {
    "object": "list",
    "data": [
        {"id": "@openai-prod/gpt-4o-mini", "slug": "gpt-4o-mini", "canonical_slug": "gpt-4o-mini",
         "object": "model"},
        {"id": "text-embedding-3-small", "object": "model", "created": 1, "owned_by": "openai"},
        {"id": "dall-e-3", "object": "model", "created": 1, "owned_by": "openai"},
        {"id": "@openai-prod/gpt-3.5-turbo-instruct", "object": "model"},
        {"id": "@openai-prod/gpt-4o-mini", "object": "model"},  # listed twice
        {"object": "model"},  # no id: left out
        {"id": 7, "object": "model"},  # not text: left out
        "gpt-4o",  # not an object: left out
        {"id": "Cohere-Embed-v3", "object": "model"},
        {"id": "tts-1-hd", "object": "model"},
        {"id": "gpt-4o-mini-tts", "object": "model"},
        {"id": "whisper-1", "object": "model"},
        {"id": "gpt-4o-transcribe", "object": "model"},
        {"id": "omni-moderation-latest", "object": "model"},
        {"id": "gpt-4o-realtime-preview", "object": "model"},
        {"id": "@openai-prod/gpt-image-1", "object": "model"},
        {"id": "meta-llama/Llama-3.3-70B-Instruct-Turbo", "object": "model", "type": "chat"},
        {"id": "mistralai/Mixtral-8x7B-v0.1", "object": "model", "type": "language"},
        {"id": "BAAI/bge-large-en-v1.5", "object": "model", "type": "embedding"},
        {"id": "black-forest-labs/FLUX.1-schnell", "object": "model", "type": "image"},
        {"id": "Salesforce/Llama-Rank-V1", "object": "model", "type": "rerank"},
        {"id": "my-own-model", "object": "model", "type": "something-new"},  # an unknown type: by name
    ],
}  # fmt: skip
CHOICES = {
    "chat": ["@openai-prod/gpt-4o-mini", "meta-llama/Llama-3.3-70B-Instruct-Turbo", "my-own-model"],
    "completion": ["@openai-prod/gpt-3.5-turbo-instruct", "mistralai/Mixtral-8x7B-v0.1"],
    "create_embedding": ["text-embedding-3-small", "Cohere-Embed-v3", "BAAI/bge-large-en-v1.5"],
    "image_generation": ["dall-e-3", "@openai-prod/gpt-image-1", "black-forest-labs/FLUX.1-schnell"],
}
EVERY_ID = [
    "@openai-prod/gpt-4o-mini", "text-embedding-3-small", "dall-e-3", "@openai-prod/gpt-3.5-turbo-instruct",
    "Cohere-Embed-v3", "tts-1-hd", "gpt-4o-mini-tts", "whisper-1", "gpt-4o-transcribe", "omni-moderation-latest",
    "gpt-4o-realtime-preview", "@openai-prod/gpt-image-1", "meta-llama/Llama-3.3-70B-Instruct-Turbo",
    "mistralai/Mixtral-8x7B-v0.1", "BAAI/bge-large-en-v1.5", "black-forest-labs/FLUX.1-schnell",
    "Salesforce/Llama-Rank-V1", "my-own-model",
]  # fmt: skip


# The dropdown's labels of the models OpenAI's published prices know by the token (docs/cost.md); speech,
# transcription and realtime models are billed otherwise, and show no price
PRICED = {
    "@openai-prod/gpt-4o-mini": " \u00b7 $0.15 / $0.60 per 1M tokens",
    "@openai-prod/gpt-3.5-turbo-instruct": " \u00b7 $1.50 / $2.00 per 1M tokens",
    "text-embedding-3-small": " \u00b7 $0.02 per 1M tokens",
}


def choices_of(ids: list[str]) -> list[dict[str, str]]:
    return [{"value": model, "label": model + PRICED.get(model, "")} for model in ids]


@pytest.mark.parametrize(
    ("args", "ids"),
    [
        ({"operation": "chat"}, CHOICES["chat"]),
        ({"operation": "completion"}, CHOICES["completion"]),
        ({"operation": "create_embedding"}, CHOICES["create_embedding"]),
        ({"operation": "image_generation"}, CHOICES["image_generation"]),
        ({"operation": "prompt_completion"}, EVERY_ID),  # no model field of its own: every model
        (None, EVERY_ID),
        ({}, EVERY_ID),
    ],
)
def test_list_models_fills_the_dropdown_for_the_operation(
    service: QueryService, respx_mock: respx.MockRouter, args: Any, ids: list[str]
) -> None:
    route = answered(respx_mock, DROPDOWN_MODELS)
    assert service.invoke_method("listModels", ROUTED, args) == {"status": "ok", "data": choices_of(ids)}
    sent = wire(route.calls.last.request)
    assert (sent["method"], sent["url"], sent["json"]) == ("GET", f"{BASE_URL}/models", None)
    assert sent["headers"]["x-portkey-virtual-key"] == "vk-conn-1"


def listing(ids: list[str]) -> dict[str, Any]:
    return {"object": "list", "data": [{"id": model, "object": "model"} for model in ids]}


CAP = 10_000
CUT_WARNING = (
    "Portkey listed more than 10,000 models: the first 10,000 are offered; type the name of another one"
)
MANY = [f"gpt-{i}" for i in range(CAP)]


@pytest.mark.parametrize(
    ("ids", "cut"),
    [
        (MANY, False),  # exactly the cap
        ([*MANY, "text-embedding-3-small"], False),  # one more, but not for chat
        ([*MANY, MANY[0]], False),  # one more, but offered already
        ([*MANY, "gpt-extra"], True),
        ([*MANY, "gpt-extra", "gpt-more"], True),
    ],
)
def test_the_dropdown_offers_at_most_ten_thousand_models(
    service: QueryService, respx_mock: respx.MockRouter, ids: list[str], cut: bool
) -> None:
    assert MAX_MODEL_CHOICES == CAP
    expected: dict[str, Any] = {"status": "ok", "data": choices_of(MANY)}
    if cut:
        expected["metadata"] = {"warning": CUT_WARNING}
    answered(respx_mock, listing(ids))
    assert service.invoke_method("listModels", SOURCE, {"operation": "chat"}) == expected


class CountedList(list[Any]):
    """A model list that counts the items read."""

    read = 0

    def __iter__(self) -> Iterator[Any]:
        for item in super().__iter__():
            self.read += 1
            yield item


def test_the_dropdown_reads_no_further_than_the_first_model_past_the_cap() -> None:
    items = CountedList({"id": f"gpt-{i}"} for i in range(3 * CAP))
    choices, cut = model_choices({"data": items}, "chat")
    assert (len(choices), cut, items.read) == (CAP, True, CAP + 1)


def test_the_async_service_fills_it_alike(respx_mock: respx.MockRouter) -> None:
    answered(respx_mock, DROPDOWN_MODELS)

    async def listed() -> dict[str, Any]:
        async with AsyncQueryService() as service:
            return await service.invoke_method("listModels", ROUTED, {"operation": "create_embedding"})

    assert run_async(listed) == {"status": "ok", "data": choices_of(CHOICES["create_embedding"])}


def test_an_empty_list_gives_no_choices(service: QueryService, respx_mock: respx.MockRouter) -> None:
    answered(respx_mock, {"object": "list", "data": []})
    assert service.invoke_method("listModels", SOURCE, {"operation": "chat"}) == {"status": "ok", "data": []}


@pytest.mark.parametrize(
    ("method", "args", "description", "field"),
    [
        (
            "listModel",
            None,
            "method: listModel is not a method of this plugin (one of: listModels)",
            "method",
        ),
        ("x" * 80, None, "method: is not a method of this plugin (one of: listModels)", "method"),
        ("pk-live secret", None, "method: is not a method of this plugin (one of: listModels)", "method"),
        (None, None, "method: is not a method of this plugin (one of: listModels)", "method"),
        ("listModels", ["chat"], "args: must be an object", "args"),
        ("listModels", {"operation": 3}, "args.operation: must be text", "args.operation"),
    ],
)
def test_a_bad_method_call_is_a_query_error_and_sends_nothing(
    service: QueryService, respx_mock: respx.MockRouter, method: Any, args: Any, description: str, field: str
) -> None:
    with pytest.raises(QueryError) as caught:
        service.invoke_method(method, SOURCE, args)
    assert (caught.value.message, caught.value.description, caught.value.data) == (
        "Invalid method",
        description,
        {"field": field},
    )
    assert caught.value.__context__ is None and caught.value.__cause__ is None
    assert respx_mock.calls.call_count == 0


def test_a_bad_connection_is_the_connections_error(service: QueryService) -> None:
    with pytest.raises(QueryError) as caught:
        service.invoke_method("listModels", {}, {"operation": "chat"})
    assert (caught.value.message, caught.value.description) == (
        "Invalid connection options",
        "apiKey: is required for Portkey's hosted API (set gatewayUrl for a self-hosted gateway)",
    )


def test_portkeys_refusal_is_a_query_error_with_its_status(
    service: QueryService, respx_mock: respx.MockRouter
) -> None:
    respx_mock.get("/models").respond(
        401, json={"status": "failure", "message": "Invalid API Key"}, headers={"x-portkey-trace-id": "t-401"}
    )
    with pytest.raises(QueryError) as caught:
        service.invoke_method("listModels", SOURCE, {"operation": "chat"})
    assert (caught.value.message, caught.value.description, caught.value.data) == (
        "Query could not be completed",
        "Invalid API Key",
        {"statusCode": 401, "errorType": "authentication_error", "traceId": "t-401", "retries": 0},
    )


def test_a_lost_connection_is_a_query_error(service: QueryService, respx_mock: respx.MockRouter) -> None:
    respx_mock.get("/models").mock(side_effect=httpx.ConnectError("refused"))
    with pytest.raises(QueryError) as caught:
        service.invoke_method("listModels", SOURCE)
    assert (caught.value.message, caught.value.data["errorType"]) == (
        "Could not reach Portkey",
        "connection_error",
    )


# ---------------------------------------------------------------------------------------------------
# The typed client


def test_typed_client_methods(respx_mock: respx.MockRouter) -> None:
    models = respx_mock.get("/models").respond(200, json=MODELS)
    feedback = respx_mock.post("/feedback").respond(200, json=FEEDBACK_ANSWER)
    render = respx_mock.post("/prompts/pp-1/render").respond(200, json=TEXT_RENDER)
    images = respx_mock.post("/images/generations").respond(
        200, json=images_answer({"url": "https://images.test/1.png"}, {"b64_json": PNG_B64})
    )
    with PortkeyClient(api_key=API_KEY, base_url=BASE_URL, max_retries=0) as client:
        listed = client.list_models(provider="openai", limit=2)
        rated = client.feedback(trace_id="trace-1", value=-1, metadata={"why": "slow"})
        rendered = client.prompt_render("pp-1", variables={"product": "Acme"}, max_tokens=9)
        made = client.generate_images(prompt="A lighthouse", model="dall-e-2", n=2, user="ada")
    assert isinstance(listed, ModelList)
    assert listed.ids == [  # in Portkey's order; the item without an id left out
        "@openai-prod/gpt-4o-mini", "text-embedding-3-small", "dall-e-3", "@openai-prod/text-embedding-3-large",
        "@openai-prod/gpt-4o-mini", "Cohere-Embed-v3",
    ]  # fmt: skip
    assert listed.data[0].model_extra == {"slug": "gpt-4o-mini", "canonical_slug": "gpt-4o-mini"}
    assert str(models.calls.last.request.url) == f"{BASE_URL}/models?provider=openai&limit=2"
    assert isinstance(rated, FeedbackResult) and rated.feedback_ids == ["fb-1"]
    assert json.loads(feedback.calls.last.request.content) == {
        "trace_id": "trace-1",
        "value": -1,
        "metadata": {"why": "slow"},
    }
    assert isinstance(rendered, PromptRender)
    assert (rendered.data.model, rendered.data.prompt, rendered.data.messages) == (
        "gpt-3.5-turbo-instruct",
        "A tagline for Acme:",
        None,
    )
    assert json.loads(render.calls.last.request.content) == {
        "max_tokens": 9,
        "variables": {"product": "Acme"},
    }
    assert isinstance(made, ImagesResponse)
    assert made.urls == ["https://images.test/1.png", f"data:image/png;base64,{PNG_B64}"]
    assert json.loads(images.calls.last.request.content) == {
        "user": "ada",
        "prompt": "A lighthouse",
        "model": "dall-e-2",
        "n": 2,
    }


def test_typed_async_client_methods(respx_mock: respx.MockRouter) -> None:
    respx_mock.get("/models").respond(200, json={"object": "list", "data": []})
    respx_mock.post("/feedback").respond(200, json=FEEDBACK_ANSWER)
    respx_mock.post("/prompts/pp-1@2/render").respond(200, json=CHAT_RENDER)
    respx_mock.post("/images/generations").respond(200, json=images_answer({"b64_json": JPEG_B64}))

    async def calls() -> tuple[Any, ...]:
        async with AsyncPortkeyClient(api_key=API_KEY, base_url=BASE_URL, max_retries=0) as client:
            return (
                await client.list_models(),
                await client.feedback(trace_id="trace-1", value=10, weight=0.5),
                await client.prompt_render("pp-1@2"),
                await client.generate_images(prompt="A lighthouse", response_format="b64_json"),
            )

    listed, rated, rendered, made = run_async(calls)
    assert listed.ids == []
    assert rated.message == "Feedback successfully saved"
    assert rendered.data.messages == CHAT_RENDER["data"]["messages"]
    assert made.urls == [f"data:image/jpeg;base64,{JPEG_B64}"]


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda c: c.feedback(trace_id="t", value=11), "value: must be at most 10"),
        (lambda c: c.list_models(limit=0), "limit: must be at least 1"),
        (lambda c: c.prompt_render("a/b"), "promptId: contains characters that are not allowed here"),
        (lambda c: c.generate_images(prompt="x", size="2x2"),
         "size: must be one of: 256x256, 512x512, 1024x1024, 1792x1024, 1024x1792"),
    ],
)  # fmt: skip
def test_typed_client_refuses_bad_input_before_sending(
    respx_mock: respx.MockRouter, call: Any, message: str
) -> None:
    with PortkeyClient(api_key=API_KEY, base_url=BASE_URL) as client, pytest.raises(ValueError) as caught:
        call(client)
    assert str(caught.value) == message
    assert respx_mock.calls.call_count == 0
