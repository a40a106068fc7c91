"""The pydantic views of Portkey's four answers: the seed's examples read field by field, unknown fields
kept, and a prompt completion read as the chat or text completion it renders to."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError
from unit_support import CHAT_EXAMPLE, COMPLETION_EXAMPLE, EMBEDDING_EXAMPLE, PROMPT_EXAMPLE

from tooljet_portkey import ChatCompletion, Completion, Embedding, EmbeddingList, Usage
from tooljet_portkey._models import prompt_completion_model


@pytest.mark.parametrize(
    ("model", "example"),
    [
        (Completion, COMPLETION_EXAMPLE),
        (ChatCompletion, CHAT_EXAMPLE),
        (ChatCompletion, PROMPT_EXAMPLE),
        (EmbeddingList, EMBEDDING_EXAMPLE),
    ],
)
def test_seed_examples_round_trip(model: Any, example: dict[str, Any]) -> None:
    parsed = model.model_validate(example)
    assert parsed.model_dump(mode="json", exclude_unset=True) == example


def test_completion_fields() -> None:
    completion = Completion.model_validate(COMPLETION_EXAMPLE)
    assert completion.text == COMPLETION_EXAMPLE["choices"][0]["text"]
    assert completion.choices[0].finish_reason == "stop"
    assert completion.usage == Usage(prompt_tokens=15, completion_tokens=10, total_tokens=25)


def test_chat_fields() -> None:
    chat = ChatCompletion.model_validate(CHAT_EXAMPLE)
    assert chat.text == "Developers and product teams."
    assert chat.choices[0].message.role == "user"
    assert chat.choices[0].finish_reason == "end"
    assert chat.system_fingerprint is None
    assert chat.usage is not None and chat.usage.total_tokens == 36


def test_embedding_fields() -> None:
    embeddings = EmbeddingList.model_validate(EMBEDDING_EXAMPLE)
    assert embeddings.model == "text-embedding-3-small"
    assert embeddings.data[0].embedding == EMBEDDING_EXAMPLE["data"][0]["embedding"]
    assert Embedding.model_validate({"index": 1, "embedding": "AAAAPw=="}).embedding == "AAAAPw=="


def test_unknown_fields_are_kept() -> None:
    answer = {
        **CHAT_EXAMPLE,
        "provider": "openai",
        "service_tier": "default",
        "choices": [
            {**CHAT_EXAMPLE["choices"][0], "message": {"role": "assistant", "content": "x", "audio": None}}
        ],
        "usage": {**CHAT_EXAMPLE["usage"], "prompt_tokens_details": {"cached_tokens": 0}},
    }
    chat = ChatCompletion.model_validate(answer)
    assert chat.model_extra == {"provider": "openai", "service_tier": "default"}
    assert chat.model_dump(mode="json", exclude_unset=True) == answer


@pytest.mark.parametrize(
    ("message", "text"),
    [
        ({"role": "assistant", "content": None, "tool_calls": [{"id": "c1", "type": "function"}]}, ""),
        ({"role": "assistant", "content": [{"type": "text", "text": "part"}]}, ""),
        ({"role": "assistant", "content": "plain"}, "plain"),
    ],
)
def test_chat_text_is_the_first_choice_text_content(message: dict[str, Any], text: str) -> None:
    chat = ChatCompletion.model_validate({"choices": [{"index": 0, "message": message}]})
    assert chat.text == text
    assert chat.choices[0].message.model_dump(exclude_unset=True) == message


def test_empty_answers_have_empty_text() -> None:
    assert ChatCompletion().text == ""
    assert Completion().text == ""
    assert EmbeddingList().data == []


@pytest.mark.parametrize(
    ("data", "model"),
    [
        (PROMPT_EXAMPLE, ChatCompletion),
        (COMPLETION_EXAMPLE, Completion),
        ({"choices": []}, ChatCompletion),
    ],
)
def test_prompt_completion_model_follows_the_object_field(data: dict[str, Any], model: type) -> None:
    parsed = prompt_completion_model(data)
    assert type(parsed) is model
    assert parsed == model.model_validate(data)


@pytest.mark.parametrize(
    ("model", "data"),
    [
        (ChatCompletion, COMPLETION_EXAMPLE),
        (Completion, CHAT_EXAMPLE),
        (EmbeddingList, {"object": "list", "data": [{"embedding": {"not": "a vector"}}]}),
    ],
)
def test_wrong_shapes_are_refused(model: Any, data: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        model.model_validate(data)
