"""The official ``portkey-ai`` SDK against the simulator: ``Portkey(api_key, base_url, provider)``, as
Portkey's docs show for a self-hosted gateway. Its inference calls go through the copy of the OpenAI SDK
it carries; prompts and feedback through its own client. Both retry only a 5xx that carries no Portkey
header (once), so against Portkey, which always sends ``x-portkey-trace-id``, they do not retry at all."""

from __future__ import annotations

import base64
import struct
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from sdk_support import HELLO, KEY, RETRY_AFTER, direct, import_sdk, without_ids

from tooljet_portkey.simulator import Simulator

portkey_ai = import_sdk("portkey_ai", "portkey-ai")
from portkey_ai._vendor import openai as vendored_openai  # noqa: E402  (after the import-or-skip)
from portkey_ai.api_resources import exceptions as portkey_errors  # noqa: E402

CHAT = {"model": "gpt-4o-mini", "messages": HELLO, "max_tokens": 6}
DEMO_VARIABLES = {"topic": "gateways", "audience": "engineers"}
RENDERED_DEMO = [
    {"role": "system", "content": "You are a concise assistant writing for engineers."},
    {"role": "user", "content": "Write one short paragraph about gateways."},
]


def portkey_client(sim: Simulator, api_key: str = KEY) -> Any:
    return portkey_ai.Portkey(api_key=api_key, base_url=sim.url, provider="openai")


def close(client: Any) -> None:
    client.close()  # its own client (prompts, feedback)
    client.openai_client.close()  # the OpenAI SDK copy it carries (inference)


@pytest.fixture
def client(hosted: Simulator) -> Iterator[Any]:
    sdk = portkey_client(hosted)
    yield sdk
    close(sdk)


def test_chat(client: Any, hosted: Simulator) -> None:
    expected = direct(hosted, "/chat/completions", CHAT)
    answer = client.chat.completions.create(**CHAT)
    assert without_ids(answer.model_dump(exclude_unset=True)) == without_ids(expected)
    (request,) = hosted.requests
    assert (request.path, request.json) == ("/v1/chat/completions", CHAT)
    assert (request.headers["x-portkey-api-key"], request.headers["x-portkey-provider"]) == (KEY, "openai")


def test_completion(client: Any, hosted: Simulator) -> None:
    body = {"model": "gpt-3.5-turbo-instruct", "prompt": ["One", "Two"], "max_tokens": 4}
    expected = direct(hosted, "/completions", body)
    answer = client.completions.create(**body)
    assert [(c.index, c.text, c.finish_reason) for c in answer.choices] == [
        (c["index"], c["text"], c["finish_reason"]) for c in expected["choices"]
    ]
    assert answer.usage.model_dump(exclude_unset=True) == expected["usage"]
    assert hosted.requests[0].json == body


@pytest.mark.parametrize("encoding", ["float", "base64"])
def test_embeddings(client: Any, hosted: Simulator, encoding: str) -> None:
    body = {
        "model": "text-embedding-3-small",
        "input": ["a", "b"],
        "dimensions": 4,
        "encoding_format": encoding,
    }
    expected = direct(hosted, "/embeddings", body)
    floats = direct(hosted, "/embeddings", {**body, "encoding_format": "float"})["data"]
    answer = client.embeddings.create(**body)
    assert [d.embedding for d in answer.data] == [d["embedding"] for d in expected["data"]]
    if encoding == "base64":
        for item, vector in zip(answer.data, floats, strict=True):
            decoded = struct.unpack("<4f", base64.b64decode(item.embedding))
            assert decoded == struct.unpack("<4f", struct.pack("<4f", *vector["embedding"]))
    assert hosted.requests[0].json == body


def test_chat_stream_with_usage(client: Any, hosted: Simulator) -> None:
    unstreamed = direct(hosted, "/chat/completions", CHAT)
    stream = client.chat.completions.create(**CHAT, stream=True, stream_options={"include_usage": True})
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == unstreamed["choices"][0]["message"]["content"]
    assert (chunks[-1].choices, chunks[-1].usage.model_dump(exclude_unset=True)) == ([], unstreamed["usage"])


def test_models_list_and_retrieve(client: Any, hosted: Simulator) -> None:
    expected = direct(hosted, "/models", None)
    listed = client.models.list()
    one = client.models.retrieve("gpt-4o")
    assert [m.model_dump(exclude_unset=True) for m in listed.data] == expected["data"]
    assert (one.id, one.object, one.created, one.owned_by) == ("gpt-4o", "model", 1715367049, "openai")
    assert [(r.method, r.path) for r in hosted.requests] == [
        ("GET", "/v1/models"),
        ("GET", "/v1/models/gpt-4o"),
    ]


def test_prompt_completion(client: Any, hosted: Simulator) -> None:
    """The same answer as a chat with the rendered messages and the template's settings."""
    expected = direct(
        hosted, "/chat/completions", {"model": "gpt-4o-mini", "messages": RENDERED_DEMO, "max_tokens": 5}
    )
    answer = client.prompts.completions.create(prompt_id="pp-demo", variables=DEMO_VARIABLES, max_tokens=5)
    assert answer.choices[0].message.content == expected["choices"][0]["message"]["content"]
    assert answer.usage.model_dump(exclude_unset=True) == expected["usage"]
    (request,) = hosted.requests
    assert (request.path, request.json) == (
        "/v1/prompts/pp-demo/completions",
        {"variables": DEMO_VARIABLES, "max_tokens": 5, "stream": False},
    )


def test_prompt_completion_stream_with_usage(client: Any, hosted: Simulator) -> None:
    unstreamed = direct(hosted, "/prompts/pp-demo-text/completions", {"variables": {"product": "Acme"}})
    stream = client.prompts.completions.create(
        prompt_id="pp-demo-text",
        variables={"product": "Acme"},
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    assert "".join(c.choices[0].text for c in chunks if c.choices) == unstreamed["choices"][0]["text"]
    assert (chunks[-1].choices, chunks[-1].usage) == ([], unstreamed["usage"])


def test_prompt_render(client: Any, hosted: Simulator) -> None:
    rendered = client.prompts.render(prompt_id="pp-demo", variables=DEMO_VARIABLES, temperature=0.3)
    assert rendered.success is True
    data = rendered.data
    assert [m.model_dump(exclude_unset=True) for m in data.messages] == RENDERED_DEMO
    assert (data.model, data.max_tokens, data.temperature) == ("gpt-4o-mini", 256, 0.3)
    (request,) = hosted.requests
    assert (request.path, request.json) == (
        "/v1/prompts/pp-demo/render",
        {"variables": DEMO_VARIABLES, "temperature": 0.3, "stream": False},
    )


def test_feedback_is_recorded(client: Any, hosted: Simulator) -> None:
    saved = client.feedback.create(trace_id="tr-9", value=-2, weight=0.5, metadata={"_user": "ada"})
    bulk = client.feedback.bulk_create(feedbacks=[{"trace_id": "tr-10", "value": 10}])
    assert (saved.status, saved.message) == ("success", "Feedback successfully saved")
    ids = [*saved.feedback_ids, *bulk.feedback_ids]
    expected = [
        {"id": ids[0], "trace_id": "tr-9", "value": -2, "weight": 0.5, "metadata": {"_user": "ada"}},
        {"id": ids[1], "trace_id": "tr-10", "value": 10, "weight": 1.0, "metadata": {}},
    ]
    assert [f.to_json() for f in hosted.feedback] == expected
    admin = hosted.url.removesuffix("/v1") + "/_simulator/feedback"
    assert httpx.get(admin).json() == {"feedback": expected}


def test_a_wrong_api_key_is_401_everywhere(hosted: Simulator) -> None:
    sdk = portkey_client(hosted, api_key="pk-not-accepted")
    try:
        with pytest.raises(vendored_openai.AuthenticationError) as inference:
            sdk.chat.completions.create(**CHAT)
        with pytest.raises(portkey_errors.AuthenticationError) as feedback:
            sdk.feedback.create(trace_id="tr-1", value=1)
        with pytest.raises(portkey_errors.AuthenticationError) as render:
            sdk.prompts.render(prompt_id="pp-demo", variables={})
    finally:
        close(sdk)
    assert (inference.value.status_code, inference.value.body) == (
        401,
        {"status": "failure", "message": "Invalid API Key"},
    )
    assert feedback.value.status_code == render.value.status_code == 401
    assert [r.path for r in hosted.requests] == [
        "/v1/chat/completions",
        "/v1/feedback",
        "/v1/prompts/pp-demo/render",
    ]


@pytest.mark.parametrize(
    ("call", "path", "status", "error"),
    [
        ("chat", "/chat/completions", 429, vendored_openai.RateLimitError),
        ("chat", "/chat/completions", 503, vendored_openai.InternalServerError),
        ("prompt", "/prompts/*", 503, portkey_errors.InternalServerError),
        ("feedback", "/feedback", 503, portkey_errors.InternalServerError),
    ],
)
def test_no_retry_when_portkey_answered(
    client: Any, hosted: Simulator, call: str, path: str, status: int, error: type[Exception]
) -> None:
    """Portkey's answer carries x-portkey-trace-id: the SDK leaves retrying to the gateway's config."""
    hosted.inject(path=path, status=status, retry_after=RETRY_AFTER, times=1)
    calls = {
        "chat": lambda: client.chat.completions.create(**CHAT),
        "prompt": lambda: client.prompts.completions.create(prompt_id="pp-demo", variables={}),
        "feedback": lambda: client.feedback.create(trace_id="tr-1", value=1),
    }
    with pytest.raises(error) as caught:
        calls[call]()
    assert caught.value.status_code == status  # type: ignore[attr-defined]
    assert len(hosted.requests) == 1
    assert hosted.faults.pending() == []


@pytest.mark.parametrize(
    ("status", "failures", "requests", "error"),
    [
        (503, 1, 2, None),  # one retry, which succeeds
        (503, 2, 2, vendored_openai.InternalServerError),  # one retry only
        (429, 1, 1, vendored_openai.RateLimitError),  # a 429 is never retried
    ],
)
def test_retries_without_portkey_headers(
    upstream: Simulator, status: int, failures: int, requests: int, error: type[Exception] | None
) -> None:
    """A server that sends no Portkey header (a plain OpenAI-compatible one): a 5xx is retried once."""
    expected = direct(upstream, "/chat/completions", CHAT)["choices"][0]["message"]["content"]
    upstream.inject(status=status, retry_after=RETRY_AFTER, times=failures)
    sdk = portkey_client(upstream)
    try:
        if error is None:
            assert sdk.chat.completions.create(**CHAT).choices[0].message.content == expected
        else:
            with pytest.raises(error):
                sdk.chat.completions.create(**CHAT)
    finally:
        close(sdk)
    assert len(upstream.requests) == requests
    assert all(r.json == CHAT for r in upstream.requests)
