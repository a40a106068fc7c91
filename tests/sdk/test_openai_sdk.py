"""The official ``openai`` SDK against the simulator's hosted profile, configured as Portkey's docs show:
``base_url`` the gateway, the provider's key as ``api_key``, Portkey's headers as default headers."""

from __future__ import annotations

import base64
import struct
from collections.abc import Iterator
from typing import Any

import pytest
from sdk_support import HELLO, KEY, PROVIDER_KEY, RETRY_AFTER, direct, import_sdk, without_ids

from tooljet_portkey.simulator import Simulator

openai = import_sdk("openai", "openai")

PORTKEY_HEADERS = {"x-portkey-api-key": KEY, "x-portkey-provider": "openai"}
CHAT = {"model": "gpt-4o-mini", "messages": HELLO, "max_tokens": 6}


@pytest.fixture
def client(hosted: Simulator) -> Iterator[Any]:
    with openai.OpenAI(base_url=hosted.url, api_key=PROVIDER_KEY, default_headers=PORTKEY_HEADERS) as sdk:
        yield sdk


def test_chat(client: Any, hosted: Simulator) -> None:
    expected = direct(hosted, "/chat/completions", CHAT)
    answer = client.chat.completions.create(**CHAT)
    assert without_ids(answer.model_dump(exclude_unset=True)) == without_ids(expected)
    (request,) = hosted.requests
    assert (request.method, request.path, request.json) == ("POST", "/v1/chat/completions", CHAT)
    assert request.headers["authorization"] == f"Bearer {PROVIDER_KEY}"
    assert (request.headers["x-portkey-api-key"], request.headers["x-portkey-provider"]) == (KEY, "openai")


def test_completion(client: Any, hosted: Simulator) -> None:
    body = {"model": "gpt-3.5-turbo-instruct", "prompt": "Say hi", "max_tokens": 3, "n": 2}
    expected = direct(hosted, "/completions", body)
    answer = client.completions.create(**body)
    assert without_ids(answer.model_dump(exclude_unset=True)) == without_ids(expected)
    assert [c.text for c in answer.choices] == [c["text"] for c in expected["choices"]]
    assert hosted.requests[0].json == body


def float32(values: list[float]) -> list[float]:
    """The values as float32 and back: what base64 embeddings carry."""
    return list(struct.unpack(f"<{len(values)}f", struct.pack(f"<{len(values)}f", *values)))


def test_embeddings_as_floats(client: Any, hosted: Simulator) -> None:
    body = {
        "model": "text-embedding-3-small",
        "input": ["a", "b c"],
        "dimensions": 8,
        "encoding_format": "float",
    }
    expected = direct(hosted, "/embeddings", body)
    answer = client.embeddings.create(**body)
    assert [d.embedding for d in answer.data] == [d["embedding"] for d in expected["data"]]
    assert (answer.usage.prompt_tokens, answer.usage.total_tokens) == (3, 3)
    assert hosted.requests[0].json == body


def test_embeddings_by_default_travel_as_base64(client: Any, hosted: Simulator) -> None:
    """Without encoding_format the SDK asks for base64 and decodes the float32 bytes itself."""
    body = {"model": "text-embedding-3-large", "input": "hello", "dimensions": 16}
    expected = direct(hosted, "/embeddings", {**body, "encoding_format": "float"})
    answer = client.embeddings.create(**body)
    assert hosted.requests[0].json == {**body, "encoding_format": "base64"}
    assert answer.data[0].embedding == float32(expected["data"][0]["embedding"])


def test_embeddings_as_base64(client: Any, hosted: Simulator) -> None:
    body = {"model": "text-embedding-3-small", "input": "hello", "dimensions": 4, "encoding_format": "base64"}
    floats = direct(hosted, "/embeddings", {**body, "encoding_format": "float"})["data"][0]["embedding"]
    answer = client.embeddings.create(**body)
    encoded = answer.data[0].embedding
    assert isinstance(encoded, str)
    assert list(struct.unpack("<4f", base64.b64decode(encoded))) == float32(floats)


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("/chat/completions", {**CHAT, "n": 2}),
        ("/completions", {"model": "gpt-3.5-turbo-instruct", "prompt": "Say hi", "max_tokens": 5}),
    ],
)
def test_streams_with_usage(client: Any, hosted: Simulator, path: str, body: dict[str, Any]) -> None:
    """stream_options.include_usage: the last chunk has no choices and the usage of the whole answer,
    the same usage as the unstreamed answer; the text joins back to the unstreamed text."""
    unstreamed = direct(hosted, path, body)
    create = client.chat.completions.create if path == "/chat/completions" else client.completions.create
    chunks = list(create(**body, stream=True, stream_options={"include_usage": True}))
    assert (chunks[-1].choices, chunks[-1].usage.model_dump(exclude_unset=True)) == ([], unstreamed["usage"])
    assert all(chunk.usage is None for chunk in chunks[:-1])
    for index, choice in enumerate(unstreamed["choices"]):
        parts = [c for chunk in chunks for c in chunk.choices if c.index == index]
        if path == "/chat/completions":
            text = "".join(p.delta.content or "" for p in parts)
            assert text == choice["message"]["content"]
        else:
            assert "".join(p.text for p in parts) == choice["text"]
        assert [p.finish_reason for p in parts if p.finish_reason] == [choice["finish_reason"]]
    assert hosted.requests[0].json == {**body, "stream": True, "stream_options": {"include_usage": True}}


def test_models_list_and_retrieve(client: Any, hosted: Simulator) -> None:
    expected = direct(hosted, "/models", None)
    listed = [m.model_dump(exclude_unset=True) for m in client.models.list()]
    one = client.models.retrieve("text-embedding-3-large")
    assert listed == expected["data"]
    assert one.model_dump(exclude_unset=True) == {
        "id": "text-embedding-3-large",
        "object": "model",
        "created": 1715367049,
        "owned_by": "openai",
    }
    assert [(r.method, r.path) for r in hosted.requests] == [
        ("GET", "/v1/models"),
        ("GET", "/v1/models/text-embedding-3-large"),
    ]


@pytest.mark.parametrize(
    "body",
    [
        {
            "model": "dall-e-3",
            "prompt": "A lighthouse",
            "size": "1792x1024",
            "quality": "hd",
            "style": "vivid",
        },
        {"model": "dall-e-2", "prompt": "A lighthouse", "n": 2, "response_format": "b64_json"},
        {"model": "gpt-image-1", "prompt": "A lighthouse", "size": "1536x1024", "quality": "low"},
    ],
    ids=["dall-e-3 url", "dall-e-2 base64", "gpt-image-1 with usage"],
)
def test_images_generate(client: Any, hosted: Simulator, body: dict[str, Any]) -> None:
    """The SDK reads the simulator's image answers; a URL image and a base64 one are the same PNG."""
    expected = direct(hosted, "/images/generations", body)
    answer = client.images.generate(**body)
    dumped = answer.model_dump(exclude_unset=True)
    assert {k: v for k, v in dumped.items() if k != "created"} == {
        k: v for k, v in expected.items() if k != "created"
    }
    for image in answer.data:
        png = base64.b64decode(image.b64_json) if image.b64_json else None
        assert image.url is not None or png is not None
        assert (png or b"\x89PNG\r\n\x1a\n")[:8] == b"\x89PNG\r\n\x1a\n"
    assert hosted.requests[-1].json == body


def test_a_wrong_api_key_is_401_and_not_retried(hosted: Simulator) -> None:
    headers = {**PORTKEY_HEADERS, "x-portkey-api-key": "pk-not-accepted"}
    with (
        openai.OpenAI(base_url=hosted.url, api_key=PROVIDER_KEY, default_headers=headers) as sdk,
        pytest.raises(openai.AuthenticationError) as caught,
    ):
        sdk.chat.completions.create(**CHAT)
    assert (caught.value.status_code, caught.value.body) == (
        401,
        {"status": "failure", "message": "Invalid API Key"},
    )
    assert len(hosted.requests) == 1


@pytest.mark.parametrize(
    ("status", "failures", "requests", "error"),
    [
        (429, 1, 2, None),  # the retry succeeds
        (503, 2, 3, None),  # so does the second retry
        (429, 3, 3, "RateLimitError"),  # two retries by default, then the caller gets the error
        (503, 3, 3, "InternalServerError"),
    ],
)
def test_429_and_503_are_retried_twice(
    client: Any, hosted: Simulator, status: int, failures: int, requests: int, error: str | None
) -> None:
    """The SDK's own retries (max_retries 2), honouring Retry-After; each retry says its number in
    x-stainless-retry-count."""
    expected = direct(hosted, "/chat/completions", CHAT)["choices"][0]["message"]["content"]
    hosted.inject(status=status, retry_after=RETRY_AFTER, times=failures)
    if error is None:
        assert client.chat.completions.create(**CHAT).choices[0].message.content == expected
    else:
        with pytest.raises(getattr(openai, error)) as caught:
            client.chat.completions.create(**CHAT)
        assert caught.value.status_code == status
    sent = hosted.requests
    assert [r.headers["x-stainless-retry-count"] for r in sent] == [str(i) for i in range(requests)]
    assert all(r.json == CHAT for r in sent)


def test_a_dropped_connection_is_retried(client: Any, hosted: Simulator) -> None:
    hosted.inject(status=None, drop=True, times=1)
    answer = client.chat.completions.create(**CHAT)
    assert answer.choices[0].finish_reason in ("stop", "length")
    assert [r.headers["x-stainless-retry-count"] for r in hosted.requests] == ["0", "1"]
