"""The rule that tells a listed model's kind, for the model dropdown (docs/operations/list_models.md)."""

from __future__ import annotations

from typing import Any

import pytest

from tooljet_portkey._model_kinds import OPERATION_KINDS, model_kind, offered_for


@pytest.mark.parametrize(
    ("item", "kind"),
    [
        # by name, in any case, without a Model Catalog @slug/ or an org/ prefix
        ({"id": "gpt-4o-mini"}, "chat"),
        ({"id": "@openai-prod/o4-mini"}, "chat"),
        ({"id": "claude-3-5-sonnet-latest"}, "chat"),
        ({"id": "meta-llama/Llama-3.3-70B-Instruct-Turbo"}, "chat"),  # "-Instruct" is a chat model here
        ({"id": "Mistral-7B-Instruct-v0.3"}, "chat"),
        ({"id": "gpt-3.5-turbo-instruct"}, "completion"),
        ({"id": "@openai-prod/gpt-3.5-turbo-instruct-0914"}, "completion"),
        ({"id": "davinci-002"}, "completion"),
        ({"id": "babbage-002"}, "completion"),
        ({"id": "text-davinci-003"}, "completion"),
        ({"id": "text-embedding-3-small"}, "embedding"),
        ({"id": "text-embedding-ada-002"}, "embedding"),
        ({"id": "Cohere-Embed-v3"}, "embedding"),
        ({"id": "nomic-embed-text"}, "embedding"),
        ({"id": "dall-e-2"}, "image"),
        ({"id": "@openai-prod/DALL-E-3"}, "image"),
        ({"id": "gpt-image-1"}, "image"),
        ({"id": "imagen-3.0-generate-002"}, "image"),
        ({"id": "stability-ai/stable-diffusion-xl"}, "image"),
        ({"id": "black-forest-labs/FLUX.1-schnell"}, "image"),
        ({"id": "tts-1"}, "speech"),
        ({"id": "tts-1-hd"}, "speech"),
        ({"id": "gpt-4o-mini-tts"}, "speech"),
        ({"id": "whisper-1"}, "transcription"),
        ({"id": "gpt-4o-transcribe"}, "transcription"),
        ({"id": "omni-moderation-latest"}, "moderation"),
        ({"id": "text-moderation-stable"}, "moderation"),
        ({"id": "gpt-4o-realtime-preview"}, "realtime"),
        ({"id": "rerank-english-v3.0"}, "rerank"),
        # Portkey's canonical_slug, when given, is the name read
        ({"id": "@team/my-embedder", "canonical_slug": "text-embedding-3-large"}, "embedding"),
        ({"id": "@team/my-model", "canonical_slug": ""}, "chat"),
        # the model's own type, when the list gives a known one, wins over the name
        ({"id": "mistralai/Mixtral-8x7B-v0.1", "type": "language"}, "completion"),
        ({"id": "BAAI/bge-large-en-v1.5", "type": "embedding"}, "embedding"),
        ({"id": "text-embedding-nomic", "type": "LLM"}, "chat"),
        ({"id": "whatever", "type": "image"}, "image"),
        ({"id": "cartesia/sonic", "type": "audio"}, "speech"),
        ({"id": "Salesforce/Llama-Rank-V1", "type": "rerank"}, "rerank"),
        ({"id": "dall-e-3", "type": "something-new"}, "image"),  # an unknown type: by name
        ({"id": "dall-e-3", "type": 3}, "image"),
        ({}, "chat"),
    ],
)
def test_model_kind(item: dict[str, Any], kind: str) -> None:
    assert model_kind(item) == kind


@pytest.mark.parametrize(
    ("operation", "offered"),
    [
        ("chat", ["gpt-4o", "claude-3-haiku"]),
        ("completion", ["gpt-3.5-turbo-instruct"]),
        ("create_embedding", ["text-embedding-3-small"]),
        ("image_generation", ["dall-e-3"]),
        ("prompt_completion", None),  # an operation without a model dropdown: every model
        (None, None),
    ],
)
def test_each_operation_is_offered_its_kind(operation: str | None, offered: list[str] | None) -> None:
    ids = ["gpt-4o", "gpt-3.5-turbo-instruct", "text-embedding-3-small", "dall-e-3", "tts-1", "whisper-1",
           "omni-moderation-latest", "claude-3-haiku"]  # fmt: skip
    assert [i for i in ids if offered_for({"id": i}, operation)] == (ids if offered is None else offered)


def test_every_operation_with_a_model_dropdown_has_its_kinds() -> None:
    from tooljet_portkey._spec import load_spec

    properties = load_spec().operations_doc["properties"]
    with_dropdown = sorted(
        name
        for name in load_spec().operation_names
        if any(
            field.get("key") == "model" and field.get("type") == "dynamic-selector"
            for field in properties[name].values()
        )
    )
    assert with_dropdown == sorted(OPERATION_KINDS)
