"""Whatever an answer holds, the result or the error run() gives is strict JSON: generated answers
(hypothesis, 300 examples) whose numbers may be NaN or infinities, with raw tokens (1e999, 400 digits,
3,000 levels) spliced in anywhere, placed as Portkey's whole body, a model's text, tool-call arguments,
usage, a vector or an image, streamed or not, under every output mode the operation has. The cases one
by one are in tests/unit/test_json_results.py."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
import respx
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from unit_support import BASE_URL, CHUNK_HEAD, MINIMAL, MINIMAL_MORE, SOURCE, sse, strict

from tooljet_portkey import QueryError, QueryService

CHAT = MINIMAL["chat"]


@dataclass(frozen=True)
class Raw:
    """Text written into the JSON as it is (a token json.dumps never writes)."""

    text: str


RAW_TOKENS = [
    Raw(t) for t in ("1e999", "-1E400", "1" * 400 + ".0", "[" * 3000 + "]" * 3000, "NaN", "-Infinity")
]


LEAVES = (
    st.none()
    | st.booleans()
    | st.integers(-(10**20), 10**20)
    | st.floats()  # NaN and infinities included
    | st.text(max_size=8)
    | st.sampled_from(RAW_TOKENS)
)


VALUES = st.recursive(
    LEAVES,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=5), inner, max_size=4),
    max_leaves=12,
)


def render(value: Any) -> str:
    """``value`` as JSON text the way a lax writer would: NaN and Infinity as such, Raw text as is."""
    if isinstance(value, Raw):
        return value.text
    if isinstance(value, dict):
        return "{" + ", ".join(f"{json.dumps(k)}: {render(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(render(v) for v in value) + "]"
    return json.dumps(value)


def placed(where: str, value: Any) -> tuple[str, bytes, bool]:
    """(operation, body, streamed) with ``value`` at ``where``."""
    text = json.dumps(render(value))  # a model's text holding the rendered value
    message = '{"role": "assistant", "content": ' + text + "}"
    if where == "body":
        return "chat", render(value).encode(), False
    if where == "model text":
        body = '{"choices": [{"index": 0, "message": ' + message + ', "finish_reason": "stop"}]}'
        return "chat", body.encode(), False
    if where == "tool arguments":
        call = '{"id": "call_1", "function": {"name": "f", "arguments": ' + text + "}}"
        body = '{"choices": [{"index": 0, "message": {"content": null, "tool_calls": [' + call + "]}}]}"
        return "chat", body.encode(), False
    if where == "usage":
        return (
            "chat",
            ('{"choices": [{"message": ' + message + '}], "usage": ' + render(value) + "}").encode(),
            False,
        )
    if where == "vector":
        return (
            "create_embedding",
            ('{"data": [{"index": 0, "embedding": ' + render(value) + "}]}").encode(),
            False,
        )
    if where == "image":
        return "image_generation", ('{"data": [' + render(value) + "]}").encode(), False
    if where == "chunk text":
        return "chat", sse(CHUNK_HEAD + '{"content": ' + text + "}}]}"), True
    return "chat", sse(CHUNK_HEAD + '{"content": "a"}}], "usage": ' + render(value) + "}"), True


MODES = {
    "chat": ["full", "text", "json"],
    "create_embedding": ["full", "vectors"],
    "image_generation": ["full", "images"],
}


QUERIES = {
    "chat": CHAT,
    "create_embedding": MINIMAL["create_embedding"],
    "image_generation": MINIMAL_MORE["image_generation"],
}


PLACES = ["body", "model text", "tool arguments", "usage", "vector", "image", "chunk text", "chunk usage"]


@pytest.fixture(scope="module")
def answering() -> Any:
    """One service and one mocked gateway for every example; each example sets the answer it gets
    (starting a mock and a service per example was most of this test's time)."""
    answer: dict[str, Any] = {}
    with respx.mock(base_url=BASE_URL) as mock, QueryService() as service:
        mock.route().mock(side_effect=lambda request: httpx.Response(200, **answer))
        yield service, answer


@settings(
    max_examples=300,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
@given(where=st.sampled_from(PLACES), value=VALUES, pick=st.integers(0, 2))
def test_whatever_an_answer_holds_the_result_or_the_error_is_strict_json(
    answering: Any, where: str, value: Any, pick: int
) -> None:
    service, answer = answering
    operation, body, streamed = placed(where, value)
    modes = MODES[operation]
    query = {
        **QUERIES[operation],
        "output": modes[pick % len(modes)],
        **({"stream": "true"} if streamed else {}),
    }
    answer.update(content=body, headers={"content-type": "text/event-stream"} if streamed else {})
    try:
        outcome: Any = service.run(SOURCE, query)
    except QueryError as err:
        assert err.data["errorType"] != "plugin_error", err.description
        outcome = err.to_result()
    strict(outcome)
