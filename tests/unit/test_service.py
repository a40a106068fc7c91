"""QueryService as a host sees it: results with Portkey's JSON and metadata, a QueryError naming the field
for bad input (nothing sent), Portkey's error shapes mapped to QueryError, the client pool, and
test_connection."""

# Tables of exact messages read best one case per line.
# ruff: noqa: E501

from __future__ import annotations

import datetime
import json
import logging
import socket
from typing import Any

import httpx
import pytest
import respx
from unit_support import (
    API_KEY,
    BASE_URL,
    CHAT_EXAMPLE,
    EXAMPLES,
    MINIMAL,
    PATHS,
    SNAPSHOT,
    SOURCE,
    run_async,
    unpriced,
)

from tooljet_portkey import AsyncQueryService, QueryError, QueryService
from tooljet_portkey._constants import MAX_CACHED_CLIENTS
from tooljet_portkey._operations import OPERATIONS as operation_table

pytestmark = pytest.mark.usefixtures("no_retry_sleep")

FAILED = "Query could not be completed"
INVALID = "Invalid query options"


# ---------------------------------------------------------------------------------------------------
# Results: the seed's examples passed through, metadata from Portkey's headers


@pytest.mark.respx(base_url=BASE_URL)
@pytest.mark.parametrize("operation", list(MINIMAL))
def test_seed_examples_pass_through_unchanged(
    service: QueryService, respx_mock: respx.MockRouter, operation: str
) -> None:
    respx_mock.post(PATHS[operation].removeprefix("/v1")).respond(
        200,
        json=EXAMPLES[operation],
        headers={
            "x-portkey-trace-id": "trace-abc",
            "x-portkey-cache-status": "MISS",
            "x-portkey-retry-attempt-count": "1",
            "x-portkey-provider": "openai",
            "x-portkey-last-used-option-index": "config.targets[1]",
        },
    )
    assert service.run(SOURCE, MINIMAL[operation]) == {
        "status": "ok",
        "data": EXAMPLES[operation],
        "metadata": {
            "statusCode": 200,
            "retries": 0,
            "traceId": "trace-abc",
            "cacheStatus": "MISS",
            "provider": "openai",
            "lastUsedOptionIndex": "config.targets[1]",
            "retryAttemptCount": 1,
            **SEED_ANSWER_METADATA[operation],
            "cost": {**SEED_COSTS[operation], "pricing": {"provider": "openai", "source": SNAPSHOT,
                                                        "model": SEED_ANSWER_METADATA[operation]["model"]}},
        },
    }  # fmt: skip


# What each seed example costs at OpenAI's prices: gpt-4o-mini $0.15 / $0.60 per 1M tokens,
# text-embedding-3-small $0.02 per 1M (docs/cost.md)
SEED_COSTS: dict[str, dict[str, Any]] = {
    "completion": {"currency": "USD", "total": 0.00000825, "input": 0.00000225, "output": 0.000006},
    "chat": {"currency": "USD", "total": 0.00000855, "input": 0.00000435, "output": 0.0000042},
    "prompt_completion": {"currency": "USD", "total": 0.00006435, "input": 0.00002175, "output": 0.0000426},
    "create_embedding": {"currency": "USD", "total": 0.00000018, "input": 0.00000018, "output": 0.0},
}


# What each seed example says of itself, as metadata carries it in every output mode.
SEED_ANSWER_METADATA: dict[str, dict[str, Any]] = {
    "completion": {
        "usage": {"prompt_tokens": 15, "completion_tokens": 10, "total_tokens": 25},
        "model": "gpt-4o-mini",
        "finishReason": "stop",
    },
    "chat": {
        "usage": {"prompt_tokens": 29, "completion_tokens": 7, "total_tokens": 36},
        "model": "gpt-4o-mini",
        "finishReason": "end",
    },
    "prompt_completion": {
        "usage": {"prompt_tokens": 145, "completion_tokens": 71, "total_tokens": 216},
        "model": "gpt-4o-mini",
        "finishReason": "stop",
    },
    "create_embedding": {"usage": {"prompt_tokens": 9, "total_tokens": 9}, "model": "text-embedding-3-small"},
}


@pytest.mark.respx(base_url=BASE_URL)
def test_result_is_json_ready(service: QueryService, respx_mock: respx.MockRouter) -> None:
    respx_mock.post("/chat/completions").respond(
        200, json=CHAT_EXAMPLE, headers={"x-portkey-cache-status": "HIT"}
    )
    result = service.run(SOURCE, MINIMAL["chat"])
    assert json.loads(json.dumps(result)) == result
    assert result["metadata"] == {
        "statusCode": 200,
        "retries": 0,
        "cacheStatus": "HIT",
        **SEED_ANSWER_METADATA["chat"],
        # a cache hit costs nothing, and says so
        "cost": {
            "currency": "USD",
            "total": 0.0,
            "input": 0.0,
            "output": 0.0,
            "pricing": {
                "provider": None,
                "model": "gpt-4o-mini",
                "source": "cache hit: not billed by the provider",
            },
            "cacheHit": True,
        },
    }


@pytest.mark.respx(base_url=BASE_URL)
def test_prompt_completion_wrapper_is_unwrapped(service: QueryService, respx_mock: respx.MockRouter) -> None:
    wrapped = {"status": 200, "headers": {"x": "y"}, "body": EXAMPLES["prompt_completion"]}
    respx_mock.post("/prompts/pp-welcome-e1f2a3/completions").respond(200, json=wrapped)
    assert service.run(SOURCE, MINIMAL["prompt_completion"])["data"] == EXAMPLES["prompt_completion"]


@pytest.mark.respx(base_url=BASE_URL)
def test_guardrail_warning_246_succeeds_with_a_flag(
    service: QueryService, respx_mock: respx.MockRouter
) -> None:
    body = {**CHAT_EXAMPLE, "hook_results": {"before_request_hooks": [{"verdict": False, "id": "pg-1"}]}}
    respx_mock.post("/chat/completions").respond(246, json=body, headers={"x-portkey-trace-id": "t-246"})
    assert service.run(SOURCE, MINIMAL["chat"]) == {
        "status": "ok",
        "data": body,
        "metadata": {
            "statusCode": 246,
            "retries": 0,
            "traceId": "t-246",
            "guardrailWarning": True,
            **SEED_ANSWER_METADATA["chat"],
            "guardrails": {
                "verdict": "failed",
                "checks": [],
                "after": [],
                "before": [{"id": "pg-1", "verdict": "failed", "checks": []}],
            },
            **unpriced("gpt-4o-mini"),
        },
    }


# ---------------------------------------------------------------------------------------------------
# Bad input: a QueryError naming the field, and nothing sent

CHAT = MINIMAL["chat"]
COMPLETION = MINIMAL["completion"]
PROMPT = MINIMAL["prompt_completion"]
EMBED = MINIMAL["create_embedding"]
JSON_ERROR = "is not valid JSON (Expecting property name enclosed in double quotes: line 1 column 2 (char 1))"
NOT_ALLOWED = "contains characters that are not allowed here"
NO_SCHEME = "must start with http:// or https:// (e.g. http://localhost:8787/v1)"
NOT_JSON = "must hold only JSON values (text, numbers, true/false, null, arrays, objects)"
OPERATIONS = f"(one of: {', '.join(operation_table)})"  # the dropdown's, as the refusal lists them

BAD_QUERIES: list[tuple[Any, str, str]] = [
    # query options, description, field
    (None, "query options must be an object", "operation"),
    ("chat", "query options must be an object", "operation"),
    ({}, f"operation: is required {OPERATIONS}", "operation"),
    ({"operation": ""}, f"operation: is required {OPERATIONS}", "operation"),
    ({"operation": "translate"}, f"operation: is not a known operation {OPERATIONS}", "operation"),
    ({"operation": ["chat"]}, f"operation: is not a known operation {OPERATIONS}", "operation"),
    # every required field missing, or blank
    ({**COMPLETION, "prompt": None}, "prompt: is required", "prompt"),
    ({**COMPLETION, "model": ""}, "model: is required", "model"),
    ({**CHAT, "messages": "  "}, "prompt: is required (or give messages)", "prompt"),
    ({**CHAT, "model": None}, "model: is required", "model"),
    ({"operation": "prompt_completion"}, "promptId: is required", "promptId"),
    ({**EMBED, "input": ""}, "input: is required", "input"),
    ({**EMBED, "model": None}, "model: is required", "model"),
    # every JSON field malformed
    ({**CHAT, "messages": "[{]"}, "messages: " + JSON_ERROR.replace("column 2 (char 1)", "column 3 (char 2)"), "messages"),
    ({**CHAT, "metadata": "{oops"}, f"metadata: {JSON_ERROR}", "metadata"),
    ({**COMPLETION, "metadata": "{oops"}, f"metadata: {JSON_ERROR}", "metadata"),
    ({**CHAT, "other_parameters": "{oops"}, f"other_parameters: {JSON_ERROR}", "other_parameters"),
    ({**EMBED, "other_parameters": "{oops"}, f"other_parameters: {JSON_ERROR}", "other_parameters"),
    ({**PROMPT, "variables": "{oops"}, f"variables: {JSON_ERROR}", "variables"),
    ({**PROMPT, "prompt_parameters": "{oops"}, f"prompt_parameters: {JSON_ERROR}", "prompt_parameters"),
    ({**PROMPT, "parameters": "{oops"}, f"prompt_parameters: {JSON_ERROR}", "prompt_parameters"),
    ({**CHAT, "config": "{oops"}, f"config: {JSON_ERROR}", "config"),
    ({**EMBED, "config": "{oops"}, f"config: {JSON_ERROR}", "config"),
    ({**CHAT, "other_parameters": '{"top_p": NaN}'}, "other_parameters: is not valid JSON (NaN is not allowed in JSON)", "other_parameters"),
    ({**CHAT, "metadata": '{"a": Infinity}'}, "metadata: is not valid JSON (Infinity is not allowed in JSON)", "metadata"),
    ({**CHAT, "messages": "[" * 100_000}, "messages: is nested more than 64 levels deep", "messages"),
    # values a Python host passes natively must still be JSON, and header JSON must fit a header
    ({**CHAT, "other_parameters": {"top_p": float("nan")}}, f"other_parameters: {NOT_JSON}", "other_parameters"),
    ({**CHAT, "messages": [{"role": "user", "content": "hi", "at": datetime.date(2026, 1, 1)}]}, f"messages: {NOT_JSON}", "messages"),
    ({**PROMPT, "variables": {"tags": {"a", "b"}}}, f"variables: {NOT_JSON}", "variables"),
    ({**COMPLETION, "max_tokens": 10**5000}, f"max_tokens: {NOT_JSON}", "max_tokens"),
    ({**COMPLETION, "max_tokens": -(10**5000)}, f"max_tokens: {NOT_JSON}", "max_tokens"),
    ({**CHAT, "model": 10**5000}, f"model: {NOT_JSON}", "model"),
    ({**EMBED, "config": {"retry": {"attempts": 1}, "x": b"bytes"}}, f"config: {NOT_JSON}", "config"),
    ({**CHAT, "metadata": json.dumps({f"key-{i:02}": "v" * 128 for i in range(64)})}, "metadata: is longer than 8192 characters as JSON, the most a header holds", "metadata"),
    ({**CHAT, "config": {"override_params": {"user": "u" * 9000}}}, "config: is longer than 8192 characters as JSON, the most a header holds", "config"),
    # JSON of the wrong shape
    ({**CHAT, "messages": "[]"}, "messages: must have at least 1 item", "messages"),
    ({**CHAT, "messages": '{"role": "user"}'}, "messages: must be a JSON array", "messages"),
    ({**CHAT, "messages": '[{"content": "hi"}]'}, "messages[0]: needs 'role'", "messages"),
    ({**CHAT, "messages": '[{"role": "robot"}]'}, "messages[0].role: must be one of: system, developer, user, assistant, tool, function", "messages"),
    ({**CHAT, "messages": '[{"role": "user", "content": 5}]'}, "messages[0].content: must be text or a JSON array or empty", "messages"),
    ({**CHAT, "messages": '["hi"]'}, "messages[0]: must be a JSON object", "messages"),
    ({**CHAT, "metadata": "[1]"}, "metadata: must be a JSON object", "metadata"),
    ({**CHAT, "metadata": '{"n": 1}'}, "metadata: a value must be text", "metadata"),
    ({**CHAT, "metadata": json.dumps({"k": "x" * 129})}, "metadata: a value must be at most 128 characters", "metadata"),
    ({**CHAT, "metadata": json.dumps({"k": "a\nb"})}, f"metadata: a value {NOT_ALLOWED}", "metadata"),
    ({**CHAT, "metadata": json.dumps({str(i): "v" for i in range(65)})}, "metadata: must have at most 64 keys", "metadata"),
    ({**CHAT, "metadata": '{"": "v"}'}, "metadata: must not be empty", "metadata"),
    ({**CHAT, "metadata": json.dumps({"k" * 129: "v"})}, "metadata: must be at most 128 characters", "metadata"),
    ({**CHAT, "other_parameters": "[1]"}, "other_parameters: must be a JSON object", "other_parameters"),
    ({**PROMPT, "variables": '"text"'}, "variables: must be a JSON object", "variables"),
    ({**PROMPT, "prompt_parameters": "[]"}, "prompt_parameters: must be a JSON object", "prompt_parameters"),
    ({**CHAT, "config": '{"retry": {"attempts": 11}}'}, "config.retry.attempts: must be at most 10", "config"),
    ({**CHAT, "config": '{"cache": {"mode": "always"}}'}, "config.cache.mode: must be one of: simple, semantic", "config"),
    ({**CHAT, "config": "pc id"}, f"config: {NOT_ALLOWED}", "config"),
    ({**CHAT, "config": 12}, "config: must be a JSON object or text", "config"),
    # wrong types and ranges
    ({**CHAT, "max_tokens": "0"}, "max_tokens: must be at least 1", "max_tokens"),
    ({**CHAT, "max_tokens": "-5"}, "max_tokens: must be at least 1", "max_tokens"),
    ({**CHAT, "max_tokens": "1.5"}, "max_tokens: must be a whole number", "max_tokens"),
    ({**CHAT, "max_tokens": "many"}, "max_tokens: must be a whole number", "max_tokens"),
    ({**CHAT, "max_tokens": "nan"}, "max_tokens: must be a whole number", "max_tokens"),
    ({**CHAT, "max_tokens": True}, "max_tokens: must be a whole number", "max_tokens"),
    ({**CHAT, "max_tokens": [5]}, "max_tokens: must be a whole number", "max_tokens"),
    ({**COMPLETION, "max_tokens": 0.5}, "max_tokens: must be a whole number", "max_tokens"),
    ({**CHAT, "temperature": "2.5"}, "temperature: must be at most 2", "temperature"),
    ({**CHAT, "temperature": "-0.1"}, "temperature: must be at least 0", "temperature"),
    ({**COMPLETION, "temperature": "warm"}, "temperature: must be a number", "temperature"),
    ({**COMPLETION, "temperature": float("inf")}, "temperature: must be a finite number", "temperature"),
    ({**CHAT, "temperature": "0x1"}, "temperature: must be a number", "temperature"),
    ({**CHAT, "stop_sequences": '["ok", 2]'}, "stop_sequences[1]: must be text", "stop_sequences"),
    ({**CHAT, "stop_sequence": '[""]'}, "stop_sequences[0]: must not be empty", "stop_sequences"),
    # Portkey's spec and OpenAI allow at most 4 stop sequences; a saved query with more is told so
    ({**COMPLETION, "stop_sequences": ",".join("abcde")}, "stop_sequences: must have at most 4 items", "stop_sequences"),
    ({**CHAT, "stop_sequences": "[]"}, "stop_sequences: must have at least 1 item", "stop_sequences"),
    # each role's rules, as Portkey's spec states them
    ({**CHAT, "messages": '[{"role": "user", "content": null}]'}, "messages[0].content: must be text or a JSON array", "messages"),
    ({**CHAT, "messages": '[{"role": "user", "content": []}]'}, "messages[0].content: must have at least 1 item", "messages"),
    ({**CHAT, "messages": '[{"role": "user"}]'}, "messages[0]: needs 'content'", "messages"),
    ({**CHAT, "messages": '[{"role": "system", "content": null}]'}, "messages[0].content: must be text or a JSON array", "messages"),
    ({**CHAT, "messages": '[{"role": "user", "content": [{"type": "image_url"}]}]'}, "messages[0].content[0]: needs 'image_url'", "messages"),
    ({**CHAT, "messages": '[{"role": "user", "content": [{"type": "video"}]}]'}, "messages[0].content[0].type: must be one of: text, image_url, input_audio, file", "messages"),
    ({**CHAT, "messages": '[{"role": "assistant", "content": null}]'}, "messages[0].content: must be text or a JSON array", "messages"),
    ({**CHAT, "messages": '[{"role": "assistant"}]'}, "messages[0]: needs 'content' or 'tool_calls'", "messages"),
    ({**CHAT, "messages": '[{"role": "assistant", "tool_calls": [{"id": "c1", "type": "function"}]}]'}, "messages[0].tool_calls[0]: needs 'function'", "messages"),
    ({**CHAT, "messages": '[{"role": "user", "content": "hi"}, {"role": "tool", "content": "42"}]'}, "messages[1]: needs 'tool_call_id'", "messages"),
    ({**CHAT, "messages": '[{"role": "tool", "content": "42", "tool_call_id": ""}]'}, "messages[0].tool_call_id: must not be empty", "messages"),
    ({**COMPLETION, "stop_sequences": 5}, "stop_sequences: must be a JSON array", "stop_sequences"),
    ({**CHAT, "model": ["gpt"]}, "model: must be text", "model"),
    ({**CHAT, "model": "m" * 257}, "model: must be at most 256 characters", "model"),
    ({**COMPLETION, "prompt": 42}, "prompt: must be text", "prompt"),
    ({**CHAT, "stream": "sometimes"}, "stream: must be true or false", "stream"),
    ({**CHAT, "cacheForceRefresh": 1}, "cacheForceRefresh: must be true or false", "cacheForceRefresh"),
    ({**CHAT, "virtualKey": "vk with space"}, f"virtualKey: {NOT_ALLOWED}", "virtualKey"),
    ({**CHAT, "virtualKey": "vk-key\n"}, f"virtualKey: {NOT_ALLOWED}", "virtualKey"),
    ({**CHAT, "traceId": "trace\r\nx-evil: 1"}, f"traceId: {NOT_ALLOWED}", "traceId"),
    ({**CHAT, "traceId": "t" * 1025}, "traceId: must be at most 1024 characters", "traceId"),
    ({**CHAT, "cacheNamespace": "näme"}, f"cacheNamespace: {NOT_ALLOWED}", "cacheNamespace"),
    ({**PROMPT, "promptId": "pp/../admin"}, f"promptId: {NOT_ALLOWED}", "promptId"),
    ({**PROMPT, "promptId": "pp?x=1"}, f"promptId: {NOT_ALLOWED}", "promptId"),
    ({**PROMPT, "promptId": "pp%2F"}, f"promptId: {NOT_ALLOWED}", "promptId"),
    ({**PROMPT, "promptId": ".."}, "promptId: is not allowed", "promptId"),
    ({**EMBED, "input": "[]"}, "input: must have at least 1 item", "input"),
    ({**EMBED, "input": '["ok", ""]'}, "input[1]: must not be empty", "input"),
    ({**EMBED, "input": '[{"text": "x"}]'}, "input[0]: must be text or a whole number or a JSON array", "input"),
    ({**EMBED, "input": 7}, "input: must be text or a JSON array", "input"),
    ({**CHAT, "not_a_field": "x" * (8 * 1024 * 1024 + 1), "model": "m" * (8 * 1024 * 1024 + 1)}, "model: is longer than 8388608 characters", "model"),
]  # fmt: skip


@pytest.mark.respx(base_url=BASE_URL)
@pytest.mark.parametrize(("query", "description", "field"), BAD_QUERIES)
def test_bad_query_names_the_field_and_sends_nothing(
    service: QueryService, respx_mock: respx.MockRouter, query: Any, description: str, field: str
) -> None:
    with pytest.raises(QueryError) as caught:
        service.run(SOURCE, query)
    assert (caught.value.message, caught.value.description, caught.value.data) == (
        INVALID,
        description,
        {"field": field},
    )
    assert respx_mock.calls.call_count == 0


@pytest.mark.respx(base_url=BASE_URL)
@pytest.mark.parametrize(
    ("source", "description", "field"),
    [
        ({}, "apiKey: is required for Portkey's hosted API (set gatewayUrl for a self-hosted gateway)", "apiKey"),
        ({**SOURCE, "gatewayUrl": "gateway.test/v1"}, f"gatewayUrl: {NO_SCHEME}", "gatewayUrl"),
        ({**SOURCE, "timeout": "fast"}, "timeout: must be a number", "timeout"),
        ({**SOURCE, "maxRetries": "-1"}, "maxRetries: must be at least 0", "maxRetries"),
        ({**SOURCE, "config": "{oops"}, f"config: {JSON_ERROR}", "config"),
        ({**SOURCE, "apiKey": "pk-key\n"}, f"apiKey: {NOT_ALLOWED}", "apiKey"),
        ("apiKey=1", "source options must be an object", "source"),
    ],
)  # fmt: skip
def test_bad_connection_fails_the_query_and_sends_nothing(
    service: QueryService, respx_mock: respx.MockRouter, source: Any, description: str, field: str
) -> None:
    with pytest.raises(QueryError) as caught:
        service.run(source, CHAT)
    assert (caught.value.message, caught.value.description, caught.value.data) == (
        "Invalid connection options",
        description,
        {"field": field},
    )
    assert respx_mock.calls.call_count == 0


def test_bad_input_error_never_quotes_a_secret(service: QueryService) -> None:
    with respx.mock(base_url=BASE_URL) as mock, pytest.raises(QueryError) as caught:
        service.run({**SOURCE, "virtualKey": "vk-secret-value xyz"}, {**CHAT, "config": "{bad"})
    assert "vk-secret-value" not in repr(caught.value.args) + repr(caught.value.to_result())
    assert mock.calls.call_count == 0


# ---------------------------------------------------------------------------------------------------
# Portkey's error shapes -> QueryError (PORTKEY_API.md "Errors")

GUARDRAIL_BODY = {
    "error": {
        "message": "The guardrail checks defined in the config failed. You can find more information in the "
        "`hook_results` object.",
        "type": "hooks_failed",
        "param": None,
        "code": None,
    },
    "hook_results": {
        "before_request_hooks": [
            {"verdict": False, "id": "pg-pii", "checks": [{"id": "default.regexMatch"}]}
        ],
        "after_request_hooks": [],
    },
}

ERROR_CASES: list[tuple[str, int, dict[str, str], Any, str, dict[str, Any]]] = [
    # id, status, headers, body (bytes = raw), description, data beyond the defaults
    (
        "provider-error",
        400,
        {"x-portkey-trace-id": "tr-400"},
        {"error": {"message": "Invalid value for 'temperature'", "type": "invalid_request_error",
                   "param": "temperature", "code": None}, "provider": "openai"},
        "Invalid value for 'temperature'",
        {"statusCode": 400, "errorType": "invalid_request_error", "traceId": "tr-400", "provider": "openai"},
    ),
    (
        "provider-error-code-only",
        429,
        {"retry-after": "20", "x-portkey-retry-attempt-count": "-1"},
        {"error": {"message": "Rate limit reached for gpt-4o-mini", "type": None, "code": "rate_limit_exceeded"},
         "provider": "azure-openai"},
        "Rate limit reached for gpt-4o-mini",
        {"statusCode": 429, "errorType": "rate_limit_exceeded", "traceId": None, "provider": "azure-openai",
         "retryAttemptCount": -1, "retryAfter": "20"},
    ),
    (
        "gateway-failure",
        400,
        {},
        {"status": "failure", "message": "Either x-portkey-config or x-portkey-provider header is required"},
        "Either x-portkey-config or x-portkey-provider header is required",
        {"statusCode": 400, "errorType": "invalid_request_error", "traceId": None},
    ),
    (
        "gateway-invalid-config",
        400,
        {"x-portkey-trace-id": "tr-cfg"},
        {"status": "failure", "message": "Invalid config passed",
         "errors": ["strategy.mode: Invalid enum value", "targets: Required"]},
        "Invalid config passed: strategy.mode: Invalid enum value; targets: Required",
        {"statusCode": 400, "errorType": "invalid_request_error", "traceId": "tr-cfg"},
    ),
    (
        "unauthorized",
        401,
        {},
        {"status": "failure", "message": "Invalid API Key"},
        "Invalid API Key",
        {"statusCode": 401, "errorType": "authentication_error", "traceId": None},
    ),
    (
        "forbidden",
        403,
        {},
        {"error": {"message": "You do not have access to this workspace", "type": None}},
        "You do not have access to this workspace",
        {"statusCode": 403, "errorType": "permission_error", "traceId": None},
    ),
    (
        "gateway-timeout-408",
        408,
        {"x-portkey-trace-id": "tr-408"},
        {"error": {"message": "Request exceeded the timeout sent in the request: 5000ms",
                   "type": "timeout_error", "param": None, "code": None}},
        "Request exceeded the timeout sent in the request: 5000ms",
        {"statusCode": 408, "errorType": "timeout_error", "traceId": "tr-408"},
    ),
    (
        "budget-412",
        412,
        {},
        {"status": "failure", "message": "Budget exhausted for this virtual key"},
        "Budget exhausted for this virtual key",
        {"statusCode": 412, "errorType": "budget_exceeded_error", "traceId": None},
    ),
    (
        "unprocessable-422",
        422,
        {},
        {"error": {"message": "messages: field required", "type": "validation_error"}, "provider": "anthropic"},
        "messages: field required",
        {"statusCode": 422, "errorType": "validation_error", "traceId": None, "provider": "anthropic"},
    ),
    (
        "guardrail-denied-446",
        446,
        {"x-portkey-trace-id": "tr-446"},
        GUARDRAIL_BODY,
        GUARDRAIL_BODY["error"]["message"],
        {"statusCode": 446, "errorType": "guardrail_denied", "traceId": "tr-446",
         "hookResults": GUARDRAIL_BODY["hook_results"],
         "guardrails": {"verdict": "denied", "after": [],
                        "checks": [{"id": "default.regexMatch", "verdict": "failed", "explanation": None}],
                        "before": [{"id": "pg-pii", "verdict": "failed", "checks": [
                            {"id": "default.regexMatch", "verdict": "failed", "explanation": None}]}]}},
    ),
    (
        "error-as-string",
        500,
        {},
        {"error": "upstream exploded"},
        "upstream exploded",
        {"statusCode": 500, "errorType": "api_error", "traceId": None},
    ),
    (
        "not-found-json",
        404,
        {},
        {"message": "Not Found", "ok": False},
        "Not Found",
        {"statusCode": 404, "errorType": "not_found_error", "traceId": None},
    ),
    (
        "proxy-html-502",
        502,
        {"content-type": "text/html"},
        b"<html><head><title>502 Bad Gateway</title></head>\n<body><center><h1>502 Bad Gateway</h1></center>"
        b"</body></html>",
        "502 Bad Gateway 502 Bad Gateway",
        {"statusCode": 502, "errorType": "api_error", "traceId": None},
    ),
    (
        "plain-text-500-gateway",
        500,
        {"content-type": "text/plain", "x-portkey-gateway-exception": "true"},
        b"Something went wrong",
        "Something went wrong",
        {"statusCode": 500, "errorType": "gateway_error", "traceId": None},
    ),
    (
        "empty-503",
        503,
        {},
        b"",
        "Portkey answered HTTP 503 with an empty body",
        {"statusCode": 503, "errorType": "api_error", "traceId": None},
    ),
    (
        "json-but-not-an-object-504",
        504,
        {},
        b'"upstream timed out"',
        "Portkey answered HTTP 504 with an empty body",
        {"statusCode": 504, "errorType": "api_error", "traceId": None},
    ),
    (
        "long-text-is-cut",
        500,
        {},
        b"x" * 600,
        "x" * 497 + "...",
        {"statusCode": 500, "errorType": "api_error", "traceId": None},
    ),
]  # fmt: skip


@pytest.mark.respx(base_url=BASE_URL)
@pytest.mark.parametrize(
    ("status", "headers", "body", "description", "data"),
    [case[1:] for case in ERROR_CASES],
    ids=[case[0] for case in ERROR_CASES],
)
def test_portkey_error_shapes_become_query_errors(
    service: QueryService,
    respx_mock: respx.MockRouter,
    status: int,
    headers: dict[str, str],
    body: Any,
    description: str,
    data: dict[str, Any],
) -> None:
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    route = respx_mock.post("/chat/completions").respond(status, headers=headers, content=content)
    with pytest.raises(QueryError) as caught:
        service.run(SOURCE, CHAT)
    assert (caught.value.message, caught.value.description, caught.value.data) == (
        FAILED,
        description,
        {"retries": 0, **data},
    )
    assert route.call_count == 1


@pytest.mark.respx(base_url=BASE_URL)
def test_query_trace_id_is_reported_when_portkey_sends_none(
    service: QueryService, respx_mock: respx.MockRouter
) -> None:
    respx_mock.post("/chat/completions").respond(400, json={"status": "failure", "message": "bad"})
    with pytest.raises(QueryError) as caught:
        service.run(SOURCE, {**CHAT, "traceId": "mine-1"})
    assert caught.value.data["traceId"] == "mine-1"


@pytest.mark.respx(base_url=BASE_URL)
@pytest.mark.parametrize(
    ("content", "description"),
    [
        (b"OK", "Portkey answered HTTP 200 but the body is not JSON: OK"),
        (b"<html><body>Login required</body></html>", "Portkey answered HTTP 200 but the body is not JSON: Login required"),
        (b"", "Portkey answered HTTP 200 but the body is not JSON: (empty)"),
    ],
)  # fmt: skip
def test_success_status_without_json_is_an_error(
    service: QueryService, respx_mock: respx.MockRouter, content: bytes, description: str
) -> None:
    respx_mock.post("/embeddings").respond(200, content=content, headers={"x-portkey-trace-id": "tr-html"})
    with pytest.raises(QueryError) as caught:
        service.run(SOURCE, EMBED)
    assert (caught.value.message, caught.value.description, caught.value.data) == (
        FAILED,
        description,
        {"statusCode": 200, "errorType": "invalid_response", "traceId": "tr-html", "retries": 0},
    )


@pytest.mark.respx(base_url=BASE_URL)
def test_connection_refused_is_could_not_reach(service: QueryService, respx_mock: respx.MockRouter) -> None:
    respx_mock.post("/chat/completions").mock(side_effect=httpx.ConnectError("Connection refused"))
    with pytest.raises(QueryError) as caught:
        service.run(SOURCE, CHAT)
    assert (caught.value.message, caught.value.description, caught.value.data) == (
        "Could not reach Portkey",
        "Could not get an answer from gateway.test: Connection refused",
        {"statusCode": None, "errorType": "connection_error", "traceId": None, "retries": 0},
    )


@pytest.mark.respx(base_url=BASE_URL)
def test_read_timeout_is_query_timed_out(service: QueryService, respx_mock: respx.MockRouter) -> None:
    respx_mock.post("/chat/completions").mock(side_effect=httpx.ReadTimeout("timed out"))
    with pytest.raises(QueryError) as caught:
        service.run({**SOURCE, "timeout": "30"}, {**CHAT, "traceId": "tr-slow"})
    assert caught.value.message == "Query timed out"
    assert caught.value.description.startswith("Portkey did not answer within 30 s")
    assert caught.value.data == {
        "statusCode": None,
        "errorType": "timeout_error",
        "traceId": "tr-slow",
        "retries": 0,
    }


@pytest.mark.respx(base_url=BASE_URL)
def test_secrets_quoted_by_portkey_are_redacted(
    service: QueryService, respx_mock: respx.MockRouter, caplog: pytest.LogCaptureFixture
) -> None:
    source = {**SOURCE, "virtualKey": "vk-conn-secret", "providerApiKey": "sk-provider-secret"}
    query = {**CHAT, "virtualKey": "vk-query-secret", "config": '{"api_key": "sk-config-secret"}'}
    secrets = [API_KEY, "vk-query-secret", "sk-provider-secret", "sk-config-secret"]
    respx_mock.post("/chat/completions").respond(
        401, json={"error": {"message": "Bad keys: " + ", ".join(secrets)}}
    )
    caplog.set_level(logging.DEBUG, logger="tooljet_portkey")
    with pytest.raises(QueryError) as caught:
        service.run(source, query)
    assert caught.value.description == "Bad keys: ***, ***, ***, ***"
    shown = repr(caught.value.to_result()) + caplog.text + repr(service)
    for secret in [*secrets, "vk-conn-secret"]:
        assert secret not in shown


@pytest.mark.respx(base_url=BASE_URL)
def test_a_saved_query_run_again_is_built_once_and_sends_the_same_request(
    service: QueryService, respx_mock: respx.MockRouter, monkeypatch: pytest.MonkeyPatch
) -> None:
    import tooljet_portkey._service as service_module

    built: list[str] = []
    real = service_module.build_request

    def counted(settings: Any, query: Any) -> Any:
        built.append(query.operation)
        return real(settings, query)

    monkeypatch.setattr(service_module, "build_request", counted)
    monkeypatch.setattr(service_module, "_built", {})
    route = respx_mock.post("/chat/completions").respond(200, json=CHAT_EXAMPLE)
    query = {**MINIMAL["chat"], "model": "built-once", "metadata": '{"app": "a"}'}
    first, again = service.run(SOURCE, query), service.run(SOURCE, dict(query))
    assert first == again and built == ["chat"]
    sent = [(call.request.headers.multi_items(), call.request.content) for call in route.calls]
    assert len(sent) == 2 and sent[0] == sent[1]
    # another connection, a table run (rows) and each stream's own trace id are built every time
    service.run({**SOURCE, "timeout": "7"}, query)
    rows = {**query, "rows": '[{"messages": [{"role": "user", "content": "hi"}]}]'}
    service.run(SOURCE, rows)
    service.run(SOURCE, rows)
    assert built == ["chat"] * 4
    traces = {stream.metadata["traceId"] for stream in (service.stream(SOURCE, query) for _ in range(2))}
    assert len(traces) == 2 and built == ["chat"] * 5


def test_unexpected_bug_still_leaves_as_query_error(
    service: QueryService, monkeypatch: pytest.MonkeyPatch
) -> None:
    import tooljet_portkey._service as service_module

    def broken(*args: Any) -> Any:
        raise KeyError("internal")

    monkeypatch.setattr(service_module, "build_request", broken)
    monkeypatch.setattr(service_module, "_built", {})  # a query run before is not built again
    with pytest.raises(QueryError) as caught:
        service.run(SOURCE, CHAT)
    assert (caught.value.message, caught.value.description, caught.value.data) == (
        FAILED,
        "Unexpected error in the Portkey plugin (KeyError)",
        {"statusCode": None, "errorType": "plugin_error", "traceId": None},
    )


# ---------------------------------------------------------------------------------------------------
# The client pool


def test_one_client_per_data_source_reused(service: QueryService) -> None:
    first = service.get_connection(SOURCE, "ds-1", "2026-01-01T00:00:00Z")
    assert service.get_connection(SOURCE, "ds-1", "2026-01-01T00:00:00Z") is first
    other = service.get_connection(SOURCE, "ds-2", "2026-01-01T00:00:00Z")
    assert other is not first
    assert service.get_connection(SOURCE, "ds-1", "2026-01-01T00:00:00Z") is first


def test_run_uses_the_pooled_client(service: QueryService) -> None:
    with respx.mock(base_url=BASE_URL) as mock:
        mock.post("/chat/completions").respond(200, json=CHAT_EXAMPLE)
        service.run(SOURCE, CHAT, "ds-1", 1)
        client = service.get_connection(SOURCE, "ds-1", 1)
        service.run(SOURCE, CHAT, "ds-1", 1)
        assert service.get_connection(SOURCE, "ds-1", 1) is client
        assert mock.calls.call_count == 2


def test_newer_update_time_replaces_and_closes_the_client(service: QueryService) -> None:
    old = service.get_connection(SOURCE, "ds-1", "2026-01-01T00:00:00Z")
    new = service.get_connection({**SOURCE, "apiKey": "pk-rotated-key"}, "ds-1", "2026-02-01T00:00:00Z")
    assert new is not old
    assert new.settings.api_key == "pk-rotated-key"
    assert old._http.is_closed
    assert not new._http.is_closed


def test_changed_options_under_the_same_id_replace_the_client(service: QueryService) -> None:
    old = service.get_connection(SOURCE, "ds-1", 5)
    new = service.get_connection({**SOURCE, "timeout": "10"}, "ds-1", 5)
    assert new is not old and old._http.is_closed
    assert new.settings.timeout == 10.0


def test_anonymous_callers_are_keyed_by_settings(service: QueryService) -> None:
    first = service.get_connection(SOURCE)
    assert service.get_connection(dict(SOURCE)) is first
    assert service.get_connection({**SOURCE, "maxRetries": "0 "}) is first  # same settings once parsed
    other = service.get_connection({**SOURCE, "provider": "openai"})
    assert other is not first
    assert not first._http.is_closed


def test_pool_is_bounded_and_closes_what_it_drops(
    service: QueryService, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert MAX_CACHED_CLIENTS == 64
    monkeypatch.setattr(
        "tooljet_portkey._constants.MAX_CACHED_CLIENTS", 3
    )  # each client costs an SSL context
    clients = [service.get_connection(SOURCE, f"ds-{i}") for i in range(4)]
    assert clients[0]._http.is_closed
    assert not any(c._http.is_closed for c in clients[1:])
    assert service.get_connection(SOURCE, "ds-1") is clients[1]  # used last: ds-2 is now the oldest
    newest = service.get_connection(SOURCE, "ds-4")
    assert clients[2]._http.is_closed and not clients[1]._http.is_closed
    assert repr(service) == "QueryService(clients=3)" and not newest._http.is_closed


def test_close_and_with_release_every_client() -> None:
    with QueryService() as service:
        clients = [service.get_connection(SOURCE, i) for i in range(3)]
        assert not any(c._http.is_closed for c in clients)
    assert all(c._http.is_closed for c in clients)
    assert repr(service) == "QueryService(clients=0)"


def test_async_pool_reuses_replaces_and_closes() -> None:
    async def scenario() -> tuple[bool, bool, bool, bool]:
        async with AsyncQueryService() as service:
            first = await service.get_connection(SOURCE, "ds-1", 1)
            same = await service.get_connection(SOURCE, "ds-1", 1) is first
            newer = await service.get_connection(SOURCE, "ds-1", 2)
            replaced = newer is not first and first._http.is_closed
            anon = await service.get_connection(SOURCE)
            anon_same = await service.get_connection(dict(SOURCE)) is anon
        return same, replaced, anon_same, newer._http.is_closed and anon._http.is_closed

    assert run_async(scenario) == (True, True, True, True)


def test_an_edit_while_a_request_is_on_the_wire_closes_the_old_client_after_it(service: QueryService) -> None:
    seen: dict[str, Any] = {}

    def edit_meanwhile(request: httpx.Request) -> httpx.Response:
        (old,) = service.pooled_clients()
        new = service.get_connection({**SOURCE, "apiKey": "pk-rotated-key"}, "ds-1", 2)
        seen.update(old=old, new=new, open_meanwhile=not old._http.is_closed)
        return httpx.Response(200, json=CHAT_EXAMPLE)

    with respx.mock(base_url=BASE_URL) as mock:
        mock.post("/chat/completions").mock(side_effect=edit_meanwhile)
        result = service.run(SOURCE, CHAT, "ds-1", 1)
    assert result == {
        "status": "ok",
        "data": CHAT_EXAMPLE,
        "metadata": {
            "statusCode": 200,
            "retries": 0,
            **SEED_ANSWER_METADATA["chat"],
            **unpriced("gpt-4o-mini"),
        },
    }
    assert seen["open_meanwhile"] and seen["old"]._http.is_closed
    assert service.pooled_clients() == [seen["new"]] and not seen["new"]._http.is_closed


def sse(*events: Any) -> bytes:
    return b"".join(f"data: {json.dumps(event)}\n\n".encode() for event in events) + b"data: [DONE]\n\n"


def test_a_stream_holds_its_client_through_an_edit_and_a_close(service: QueryService) -> None:
    chunk = {
        "id": "c-1",
        "object": "chat.completion.chunk",
        "choices": [{"index": 0, "delta": {"content": "hi"}}],
    }
    with respx.mock(base_url=BASE_URL) as mock:
        mock.post("/chat/completions").respond(
            200, headers={"content-type": "text/event-stream"}, content=sse(chunk, chunk)
        )
        stream = service.stream(SOURCE, CHAT, "ds-1", 1)
        first = next(stream)
        (old,) = service.pooled_clients()
        new = service.get_connection(SOURCE, "ds-1", 2)
        service.close()
        open_meanwhile = not old._http.is_closed
        rest = list(stream)
    assert [first, *rest] == [chunk, chunk]
    assert open_meanwhile and old._http.is_closed and new._http.is_closed  # new was idle: closed at once
    assert service.pooled_clients() == []


DELTA_CHUNK = {
    "choices": [{"index": 0, "delta": {"content": "Hi"}}]
}  # a chunk without choices is not yielded


def test_an_abandoned_stream_gives_its_client_back(service: QueryService) -> None:
    with respx.mock(base_url=BASE_URL) as mock:
        mock.post("/chat/completions").respond(
            200, headers={"content-type": "text/event-stream"}, content=sse(DELTA_CHUNK, DELTA_CHUNK)
        )
        stream = service.stream(SOURCE, CHAT, "ds-1", 1)
        next(stream)
        (old,) = service.pooled_clients()
        service.get_connection(SOURCE, "ds-1", 2)
        assert not old._http.is_closed
        stream.close()  # what the garbage collector does with a stream nobody reads to the end
    assert old._http.is_closed


def test_the_service_is_usable_after_close(service: QueryService) -> None:
    with respx.mock(base_url=BASE_URL) as mock:
        mock.post("/chat/completions").respond(200, json=CHAT_EXAMPLE)
        first = service.get_connection(SOURCE, "ds-1", 1)
        service.close()
        assert first._http.is_closed and service.pooled_clients() == []
        assert service.run(SOURCE, CHAT, "ds-1", 1)["data"] == CHAT_EXAMPLE
        (second,) = service.pooled_clients()
    assert second is not first and not second._http.is_closed


# ---------------------------------------------------------------------------------------------------
# test_connection


def test_connection_ok_on_models_200(service: QueryService) -> None:
    with respx.mock(base_url=BASE_URL) as mock:
        route = mock.get("/models").respond(200, json={"object": "list", "data": []})
        assert service.test_connection({**SOURCE, "provider": "@openai-prod", "maxRetries": "5"}) == {
            "status": "ok"
        }
    request = route.calls.last.request
    assert (request.method, str(request.url)) == ("GET", f"{BASE_URL}/models")
    assert request.headers["x-portkey-api-key"] == API_KEY
    assert request.headers["x-portkey-provider"] == "@openai-prod"
    assert route.call_count == 1


def test_connection_failed_on_401(service: QueryService) -> None:
    with respx.mock(base_url=BASE_URL) as mock:
        mock.get("/models").respond(
            401,
            json={
                "error": {"message": f"Invalid API key provided: {API_KEY}", "type": "authentication_error"}
            },
        )
        assert service.test_connection(SOURCE) == {
            "status": "failed",
            "message": "Portkey rejected the credentials (401): Invalid API key provided: ***",
        }


def test_connection_failed_on_500(service: QueryService) -> None:
    with respx.mock(base_url=BASE_URL) as mock:
        mock.get("/models").respond(500, text="Something went wrong")
        assert service.test_connection({**SOURCE, "maxRetries": "3"}) == {
            "status": "failed",
            "message": "Portkey answered 500: Something went wrong",
        }
        assert mock.calls.call_count == 1  # a connection test does not retry


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def test_connection_failed_when_refused(service: QueryService) -> None:
    result = service.test_connection({"gatewayUrl": f"http://127.0.0.1:{closed_port()}/v1"})
    assert result == {
        "status": "failed",
        "message": "Could not get an answer from 127.0.0.1: [Errno 111] Connection refused",
    }


def test_async_connection_failed_when_refused(async_service: AsyncQueryService) -> None:
    result = run_async(
        lambda: async_service.test_connection({"gatewayUrl": f"http://127.0.0.1:{closed_port()}/v1"})
    )
    assert result == {
        "status": "failed",
        "message": "Could not get an answer from 127.0.0.1: [Errno 111] Connection refused",
    }


@pytest.mark.parametrize(
    ("source", "message"),
    [
        (None, "apiKey: is required for Portkey's hosted API (set gatewayUrl for a self-hosted gateway)"),
        ({}, "apiKey: is required for Portkey's hosted API (set gatewayUrl for a self-hosted gateway)"),
        ("garbage", "source options must be an object"),
        (42, "source options must be an object"),
        ([{"apiKey": "x"}], "source options must be an object"),
        ({"gatewayUrl": "not a url"}, f"gatewayUrl: {NO_SCHEME}"),
        ({"gatewayUrl": "http://not a url"}, f"gatewayUrl: {NOT_ALLOWED}"),
        ({"gatewayUrl": "http://[::1/v1"}, "gatewayUrl: must be an http(s) URL with a host"),
        ({**SOURCE, "timeout": {"s": 1}}, "timeout: must be a number"),
        ({**SOURCE, "config": "{"}, "config: is not valid JSON (Expecting property name enclosed in double quotes: line 1 column 2 (char 1))"),
        ({**SOURCE, "apiKey": object()}, f"apiKey: {NOT_JSON}"),
        ({**SOURCE, "timeout": 10**5000}, f"timeout: {NOT_JSON}"),
        ({**SOURCE, "config": {"retry": {"attempts": -(10**5000)}}}, f"config: {NOT_JSON}"),
    ],
)  # fmt: skip
def test_connection_never_raises(service: QueryService, source: Any, message: str) -> None:
    with respx.mock(assert_all_called=False) as mock:
        assert service.test_connection(source) == {"status": "failed", "message": message}
        assert run_async(lambda: AsyncQueryService().test_connection(source)) == {
            "status": "failed",
            "message": message,
        }
        assert mock.calls.call_count == 0


@pytest.mark.respx(base_url=BASE_URL)
@pytest.mark.parametrize(
    "messages",
    [
        [{"role": "system", "content": [{"type": "text", "text": "Be brief."}]}, {"role": "user", "content": "hi"}],
        [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "https://x.test/a.png"}}]}],
        [
            {"role": "user", "content": "weather?"},
            {"role": "assistant", "content": None, "tool_calls": [
                {"id": "c1", "type": "function", "function": {"name": "weather", "arguments": "{}"}}]},
            {"role": "tool", "tool_call_id": "c1", "content": [{"type": "text", "text": "sunny"}]},
        ],
        [{"role": "function", "name": "weather", "content": None}],
    ],
    ids=["system-text-parts", "user-image-part", "tool-round-trip", "legacy-function"],
)  # fmt: skip
def test_messages_portkey_accepts_are_sent_as_given(
    service: QueryService, respx_mock: respx.MockRouter, messages: list[Any]
) -> None:
    """System content parts are outside Portkey's spec (it types system content as text only), but
    Portkey and OpenAI accept them, so the plugin does too."""
    route = respx_mock.post("/chat/completions").respond(200, json=CHAT_EXAMPLE)
    service.run(SOURCE, {**CHAT, "messages": json.dumps(messages)})
    assert json.loads(route.calls.last.request.content)["messages"] == messages
