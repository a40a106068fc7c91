"""The TypedDicts of the public surface describe what the services return: every key a result carries is
declared, with the type its value has, so a caller's type checker sees what a host gets."""

from __future__ import annotations

import json
import types
import typing
from typing import Any

import pytest
import respx
from unit_support import BASE_URL, MINIMAL, SOURCE, run_async

from tooljet_portkey import AsyncQueryService, ConnectionStatus, QueryMetadata, QueryResult, QueryService

pytestmark = [pytest.mark.respx(base_url=BASE_URL), pytest.mark.usefixtures("no_retry_sleep")]

CALLS = [
    {"id": "c1", "type": "function", "function": {"name": "weather", "arguments": '{"city": "Oslo"}'}},
    {"id": "c2", "type": "function", "function": {"name": "time", "arguments": "{not json"}},
]
# An answer that fills every metadata key: each header Portkey sends, a guardrail warning (246), usage,
# model, one choice's finish reason, and an output-mode warning (tool arguments that are not JSON).
ANSWER = {
    "id": "chatcmpl-1",
    "object": "chat.completion",
    "model": "gpt-4o-mini",
    "choices": [{"index": 0, "message": {"role": "assistant", "content": None, "tool_calls": CALLS},
                 "finish_reason": "tool_calls"}],
    "usage": {"prompt_tokens": 5, "completion_tokens": 7, "total_tokens": 12},
    "hook_results": {"before_request_hooks": [], "after_request_hooks": [
        {"id": "out-1", "verdict": False, "deny": False,
         "checks": [{"id": "default.wordCount", "verdict": False, "data": {"explanation": "too long"}}]}]},
}  # fmt: skip
HEADERS = {
    "x-portkey-trace-id": "trace-types",
    "x-portkey-cache-status": "MISS",
    "x-portkey-retry-attempt-count": "1",
    "x-portkey-provider": "openai",
    "x-portkey-last-used-option-index": "config.targets[1]",
}
# a fallback config, so the metadata can say which target answered (servedBy)
QUERY = {**MINIMAL["chat"], "output": "text", "virtualKey": "vk-types", "fallbacks": "gpt-4o"}
FULL_METADATA = {
    "statusCode": 246,
    "retries": 0,
    "traceId": "trace-types",
    "cacheStatus": "MISS",
    "provider": "openai",
    "lastUsedOptionIndex": "config.targets[1]",
    "retryAttemptCount": 1,
    "guardrailWarning": True,
    "usage": {"prompt_tokens": 5, "completion_tokens": 7, "total_tokens": 12},
    "model": "gpt-4o-mini",
    "finishReason": "tool_calls",
    "warning": "the arguments of tool call c2 are not valid JSON; kept as text",
    "servedBy": {"index": 1, "model": "gpt-4o", "provider": "openai"},
    "guardrails": {
        "verdict": "failed",
        "checks": [{"id": "default.wordCount", "verdict": "failed", "explanation": "too long"}],
        "before": [],
        "after": [
            {
                "id": "out-1",
                "verdict": "failed",
                "checks": [{"id": "default.wordCount", "verdict": "failed", "explanation": "too long"}],
            }
        ],
    },
    # 5 prompt tokens at $0.15 and 7 completion tokens at $0.60 per 1M (docs/cost.md)
    "cost": {
        "currency": "USD",
        "total": 0.00000495,
        "input": 0.00000075,
        "output": 0.0000042,
        "pricing": {"provider": "openai", "model": "gpt-4o-mini", "source": "Portkey-AI/models 2026-08-21"},
    },
}


def problems(value: Any, typed: Any) -> list[str]:
    """Where a runtime value departs from a TypedDict: undeclared or missing keys, values of another type
    (only the types these TypedDicts use: classes, Literal, Any, dict[...] and TypedDicts)."""
    if not isinstance(value, dict):
        return [f"{typed.__name__}: not a dict"]
    hints = typing.get_type_hints(typed)
    found = [f"{typed.__name__}.{key}: not declared" for key in value if key not in hints]
    found += [f"{typed.__name__}.{key}: missing" for key in typed.__required_keys__ if key not in value]
    for key, item in value.items():
        hint = hints.get(key)
        if hint is None or hint is Any:
            continue
        if typing.is_typeddict(hint):
            found += problems(item, hint)
        elif isinstance(hint, types.UnionType):  # X | None
            if not isinstance(item, tuple(typing.get_origin(arg) or arg for arg in typing.get_args(hint))):
                found.append(f"{typed.__name__}.{key}: {type(item).__name__}, not {hint}")
        elif typing.get_origin(hint) is typing.Literal:
            if item not in typing.get_args(hint):
                found.append(f"{typed.__name__}.{key}: {item!r} is not one of {typing.get_args(hint)}")
        elif not isinstance(item, typing.get_origin(hint) or hint):
            found.append(f"{typed.__name__}.{key}: {type(item).__name__}, not {hint}")
    return found


def test_the_checker_finds_what_departs() -> None:
    assert problems({"status": "ok", "data": 1, "metadata": {"retries": "2", "extra": 1}}, QueryResult) == [
        "QueryMetadata.extra: not declared",
        "QueryMetadata.retries: str, not <class 'int'>",
    ]
    assert problems({"status": "maybe"}, ConnectionStatus) == [
        "ConnectionStatus.status: 'maybe' is not one of ('ok', 'failed')"
    ]
    assert problems({"data": None, "metadata": {}}, QueryResult) == ["QueryResult.status: missing"]


# What a query of rows or of a long embedding input adds (tests/unit/test_rows.py checks it)
TABLE_KEYS = {"rows", "succeeded", "failed", "skipped", "stopped", "seconds", "requests", "traceIds"}


def test_a_plain_answer_is_a_query_result(service: QueryService, respx_mock: respx.MockRouter) -> None:
    respx_mock.post("/chat/completions").respond(246, json=ANSWER, headers=HEADERS)
    result = service.run(SOURCE, QUERY)
    assert result["metadata"] == FULL_METADATA
    # warnings: only when an answer cannot be priced (tests/unit/test_cost.py)
    assert (
        set(FULL_METADATA)
        == set(QueryMetadata.__annotations__) - {"streamed", "chunks", "warnings"} - TABLE_KEYS
    )
    assert problems(result, QueryResult) == []


def test_a_streamed_answer_is_a_query_result(
    async_service: AsyncQueryService, respx_mock: respx.MockRouter
) -> None:
    delta = {"role": "assistant", "tool_calls": [{"index": i, **call} for i, call in enumerate(CALLS)]}
    choice = {"index": 0, "delta": delta, "finish_reason": "tool_calls"}
    chunk = {**ANSWER, "object": "chat.completion.chunk", "choices": [choice]}
    body = f"data: {json.dumps(chunk)}\n\ndata: [DONE]\n\n".encode()
    respx_mock.post("/chat/completions").respond(
        246, content=body, headers={**HEADERS, "content-type": "text/event-stream"}
    )
    result = run_async(lambda: async_service.run(SOURCE, {**QUERY, "stream": "true"}))
    # a stream's chunks carry no after-request verdicts: only the metadata of its headers and chunks
    streamed = {key: value for key, value in FULL_METADATA.items() if key != "guardrails"}
    assert result["metadata"] == {**streamed, "streamed": True, "chunks": 1}
    assert problems(result, QueryResult) == []


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        (200, {"status": "ok"}),
        (401, {"status": "failed", "message": "Portkey rejected the credentials (401): Invalid API Key"}),
    ],
)
def test_test_connection_gives_a_connection_status(
    service: QueryService, respx_mock: respx.MockRouter, status: int, expected: dict[str, str]
) -> None:
    respx_mock.get("/models").respond(
        status, json={"data": []} if status == 200 else {"message": "Invalid API Key"}
    )
    status_ = service.test_connection(SOURCE)
    assert status_ == expected
    assert problems(status_, ConnectionStatus) == []


def test_a_table_and_a_long_embedding_input_are_query_results(
    service: QueryService, respx_mock: respx.MockRouter
) -> None:
    """A query of rows (data one entry per row, metadata the counts beside a single run's keys) and an
    embedding input sent in several requests (metadata with requests and traceIds) are QueryResults
    too."""
    respx_mock.post("/prompts/pp-welcome-e1f2a3/completions").respond(200, json=ANSWER, headers=HEADERS)
    single = service.run(SOURCE, MINIMAL["prompt_completion"])
    rows = service.run(SOURCE, {**MINIMAL["prompt_completion"], "rows": '[{"a": 1}, {"a": 2}]'})
    assert set(rows["metadata"]) == {*single["metadata"], "rows", "succeeded", "failed", "skipped", "seconds"}
    assert problems(rows, QueryResult) == []

    def vectors(request: Any) -> Any:
        count = len(json.loads(request.content)["input"])
        data = [{"object": "embedding", "index": i, "embedding": [0.5]} for i in range(count)]
        return respx.MockResponse(200, json={"object": "list", "data": data, "model": "m"}, headers=HEADERS)

    respx_mock.post("/embeddings").mock(side_effect=vectors)
    long_input = {**MINIMAL["create_embedding"], "input": '["a", "b", "c"]', "batch_size": "2"}
    embedded = service.run(SOURCE, long_input)
    assert embedded["metadata"]["requests"] == 2
    assert embedded["metadata"]["traceIds"] == ["trace-types", "trace-types"]
    assert problems(embedded, QueryResult) == []
