"""QueryService through the real open-source Portkey gateway, with the simulator as the provider.

Each test checks both ends: what the host gets back from run() (data, metadata or the QueryError) and
what the upstream provider actually received from the gateway (method, path, key, JSON body).
``maxRetries`` is 0 unless a test is about the client's own retries, so the upstream's request count is
exactly what the gateway did.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest
from gateway_support import Gateway, Runner, check_connection, portkey_headers, without_ids

from tooljet_portkey import QueryError
from tooljet_portkey.simulator import RecordedRequest, Simulator

pytestmark = pytest.mark.gateway

KEY = "sk-provider-key-0001"
TRACE = "trace-order-42"

CHAT_QUERY = {
    "operation": "chat",
    "model": "gpt-4o-mini",
    "messages": '[{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hello"}]',
    "max_tokens": "16",
    "temperature": "0.2",
    "stop_sequences": '["\\n\\n"]',
    "traceId": TRACE,
}
CHAT_BODY = {
    "model": "gpt-4o-mini",
    "messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hello"}],
    "max_tokens": 16,
    "temperature": 0.2,
    "stop": ["\n\n"],
}
COMPLETION_QUERY = {
    "operation": "completion",
    "model": "gpt-3.5-turbo-instruct",
    "prompt": "Say hello to the gateway",
    "max_tokens": "8",
    "stop_sequences": "END",
    "traceId": TRACE,
}
COMPLETION_BODY = {
    "model": "gpt-3.5-turbo-instruct",
    "prompt": "Say hello to the gateway",
    "max_tokens": 8,
    "stop": ["END"],  # the form's text becomes a one-item list
}
OPERATIONS = {
    "chat": (CHAT_QUERY, "/v1/chat/completions", CHAT_BODY),
    "completion": (COMPLETION_QUERY, "/v1/completions", COMPLETION_BODY),
}


# OpenAI's published prices, dollars per 1M tokens (input, output), as the shipped snapshot has them
PRICES = {"gpt-4o-mini-2024-07-18": ("0.15", "0.60"), "gpt-3.5-turbo-instruct": ("1.50", "2.00")}
SNAPSHOT = "Portkey-AI/models 2026-08-21"


def expected_cost(data: Any) -> dict[str, Any]:
    """What an answer's usage costs at ``PRICES`` (docs/cost.md), worked out here, not by the plugin."""
    given, taken = (Decimal(price) / 1_000_000 for price in PRICES[data["model"]])
    spent_in = data["usage"]["prompt_tokens"] * given
    spent_out = data["usage"]["completion_tokens"] * taken
    return {
        "currency": "USD",
        "total": float(spent_in + spent_out),
        "input": float(spent_in),
        "output": float(spent_out),
        "pricing": {"provider": "openai", "model": data["model"], "source": SNAPSHOT},
    }


def ok_metadata(data: Any, **changes: Any) -> dict[str, Any]:
    """The metadata of a call the gateway routed by a single provider, with no retry, and what the
    answer says of itself (its model, usage and one choice's finish reason) and costs."""
    return {
        "cost": expected_cost(data),
        "model": data["model"],
        "usage": data["usage"],
        "finishReason": data["choices"][0]["finish_reason"],
        "statusCode": 200,
        "retries": 0,
        "traceId": TRACE,
        "cacheStatus": "DISABLED",
        "provider": "openai",
        "lastUsedOptionIndex": "config",
        "retryAttemptCount": 0,
        **changes,
    }


def target(upstream: Simulator, key: str = KEY, **extra: Any) -> dict[str, Any]:
    """A config target (or a whole single-provider config) that routes to the simulator."""
    return {"provider": "openai", "api_key": key, "custom_host": upstream.url, **extra}


def routed(form: str, gateway: Gateway, upstream: Simulator, query: dict[str, Any]) -> tuple[dict, dict]:
    """Connection and query options for one way of telling the gateway where to route."""
    source: dict[str, Any] = {"gatewayUrl": gateway.url, "maxRetries": "0"}
    if form == "provider headers":
        source.update(provider="openai", customHost=upstream.url, providerApiKey=KEY)
    elif form == "connection config (JSON text)":
        source["config"] = json.dumps(target(upstream))
    elif form == "query config (object)":
        query = {**query, "config": target(upstream)}
    else:
        raise AssertionError(form)
    return source, query


def assert_forwarded(recorded: RecordedRequest, path: str, body: dict[str, Any], key: str = KEY) -> None:
    """The upstream got the body we built, with the provider's key, and no Portkey header."""
    assert (recorded.method, recorded.path, recorded.json) == ("POST", path, body)
    assert recorded.headers["authorization"] == f"Bearer {key}"
    assert portkey_headers(recorded.headers) == []


# ---------------------------------------------------------------------------------------------------
# Routing forms


@pytest.mark.parametrize("operation", sorted(OPERATIONS))
@pytest.mark.parametrize(
    "form", ["provider headers", "connection config (JSON text)", "query config (object)"]
)
def test_each_routing_form_reaches_the_provider(
    run: Runner,
    gateway: Gateway,
    upstream: Simulator,
    direct_answer: Callable[[RecordedRequest], dict[str, Any]],
    form: str,
    operation: str,
) -> None:
    query, path, body = OPERATIONS[operation]
    source, query = routed(form, gateway, upstream, query)

    result = run(source, query)

    [recorded] = upstream.requests
    assert_forwarded(recorded, path, body)
    assert result["status"] == "ok"
    assert without_ids(result["data"]) == direct_answer(recorded)
    assert result["metadata"] == ok_metadata(result["data"])


@pytest.mark.parametrize("operation", sorted(OPERATIONS))
def test_cost_through_the_gateway_is_the_cost_without_it(
    run: Runner, gateway: Gateway, upstream: Simulator, operation: str
) -> None:
    """The gateway names the provider (x-portkey-provider) and passes the usage through: the answer
    costs what the same answer costs straight from the provider, whose connection names it. (Streams
    through this gateway are test_gateway_defects.py's: it fails to pass them on.)"""
    query = OPERATIONS[operation][0]
    source, _ = routed("provider headers", gateway, upstream, query)
    through = run(source, query)
    direct = run(
        {"gatewayUrl": upstream.url, "maxRetries": "0", "providerApiKey": KEY, "provider": "openai"}, query
    )
    assert through["metadata"]["usage"] == direct["metadata"]["usage"]
    assert through["metadata"]["cost"] == direct["metadata"]["cost"] == expected_cost(through["data"])
    assert through["metadata"]["cost"]["total"] > 0


def test_fallback_answers_from_the_second_target_when_the_first_fails(
    run: Runner,
    gateway: Gateway,
    upstream: Simulator,
    direct_answer: Callable[[RecordedRequest], dict[str, Any]],
) -> None:
    upstream.inject(path="/chat/completions", status=503, times=1)
    config = {
        "strategy": {"mode": "fallback"},
        "targets": [
            target(upstream, "sk-first-target", override_params={"model": "gpt-4o"}),
            target(upstream, "sk-second-target"),
        ],
    }

    result = run({"gatewayUrl": gateway.url, "maxRetries": "0", "config": config}, CHAT_QUERY)

    first, second = upstream.requests
    assert_forwarded(first, "/v1/chat/completions", {**CHAT_BODY, "model": "gpt-4o"}, "sk-first-target")
    assert_forwarded(second, "/v1/chat/completions", CHAT_BODY, "sk-second-target")
    assert without_ids(result["data"]) == direct_answer(second)
    served_by = {"index": 1, "model": "gpt-4o-mini", "provider": "openai"}  # the second target: no override
    assert result["metadata"] == ok_metadata(
        result["data"], lastUsedOptionIndex="config.targets[1]", servedBy=served_by
    )


def test_retry_config_recovers_from_one_failure(
    run: Runner,
    gateway: Gateway,
    upstream: Simulator,
    direct_answer: Callable[[RecordedRequest], dict[str, Any]],
) -> None:
    upstream.inject(path="/chat/completions", status=503, times=1)
    config = target(upstream, retry={"attempts": 2})

    result = run({"gatewayUrl": gateway.url, "maxRetries": "0", "config": config}, CHAT_QUERY)

    failed, answered = upstream.requests
    assert_forwarded(failed, "/v1/chat/completions", CHAT_BODY)
    assert_forwarded(answered, "/v1/chat/completions", CHAT_BODY)
    assert without_ids(result["data"]) == direct_answer(answered)
    # the gateway retried once; the client did not retry at all
    assert result["metadata"] == ok_metadata(result["data"], retryAttemptCount=1)


def test_spent_retry_config_is_a_query_error_the_client_does_not_retry_again(
    run: Runner, gateway: Gateway, upstream: Simulator
) -> None:
    overloaded = {
        "error": {"message": "Upstream overloaded", "type": "server_error", "param": None, "code": None}
    }
    upstream.inject(path="/chat/completions", status=503, body=overloaded, times=None)
    config = target(upstream, retry={"attempts": 1})

    # the client may retry twice, but a -1 retry attempt count means the gateway spent every attempt
    with pytest.raises(QueryError) as caught:
        run({"gatewayUrl": gateway.url, "maxRetries": "2", "config": config}, CHAT_QUERY)

    assert len(upstream.requests) == 2  # the first attempt and the gateway's one retry
    assert (caught.value.message, caught.value.description) == (
        "Query could not be completed",
        "openai error: Upstream overloaded",
    )
    assert caught.value.data == {
        "statusCode": 503,
        "errorType": "server_error",
        "traceId": TRACE,
        "retries": 0,
        "retryAttemptCount": -1,
        "provider": "openai",
    }


def test_client_retries_a_gateway_503_and_says_so(
    run: Runner,
    gateway: Gateway,
    upstream: Simulator,
    direct_answer: Callable[[RecordedRequest], dict[str, Any]],
) -> None:
    # No retry config: the gateway relays the provider's 503 (and its Retry-After: 0) and the client retries.
    upstream.inject(path="/chat/completions", status=503, retry_after=0, times=1)
    source = {
        "gatewayUrl": gateway.url,
        "maxRetries": "1",
        "provider": "openai",
        "customHost": upstream.url,
        "providerApiKey": KEY,
    }

    result = run(source, CHAT_QUERY)

    failed, answered = upstream.requests
    assert_forwarded(failed, "/v1/chat/completions", CHAT_BODY)
    assert_forwarded(answered, "/v1/chat/completions", CHAT_BODY)
    assert without_ids(result["data"]) == direct_answer(answered)
    assert result["metadata"] == ok_metadata(result["data"], retries=1)


def test_config_request_timeout_is_the_gateways_408(
    run: Runner, gateway: Gateway, upstream: Simulator
) -> None:
    upstream.inject(path="/chat/completions", status=None, delay=2.0, times=1)  # answers, but too late
    config = target(upstream, request_timeout=100)

    with pytest.raises(QueryError) as caught:
        run({"gatewayUrl": gateway.url, "maxRetries": "0", "config": config}, CHAT_QUERY)

    [recorded] = upstream.requests
    assert_forwarded(recorded, "/v1/chat/completions", CHAT_BODY)
    assert (caught.value.message, caught.value.description) == (
        "Query could not be completed",
        "Request exceeded the timeout sent in the request: 100ms",
    )
    assert caught.value.data == {
        "statusCode": 408,
        "errorType": "timeout_error",
        "traceId": TRACE,
        "retries": 0,
        "retryAttemptCount": 0,
    }


# ---------------------------------------------------------------------------------------------------
# Metadata and trace id


@pytest.mark.parametrize("trace_id", ["trace-order-42", "a4f1c9e2-5d3b-4c8a-9e7f-0b1d2c3e4f5a"])
def test_trace_id_and_metadata_round_trip(
    run: Runner, gateway: Gateway, upstream: Simulator, trace_id: str
) -> None:
    source, _ = routed("provider headers", gateway, upstream, {})
    query = {**CHAT_QUERY, "traceId": trace_id, "metadata": '{"_user": "user-7", "team": "checkout"}'}

    result = run(source, query)

    [recorded] = upstream.requests
    assert_forwarded(recorded, "/v1/chat/completions", CHAT_BODY)  # metadata is for Portkey, not the provider
    assert result["metadata"] == ok_metadata(result["data"], traceId=trace_id)


# ---------------------------------------------------------------------------------------------------
# The gateway's own refusals


def test_no_routing_is_the_gateways_400(run: Runner, gateway: Gateway, upstream: Simulator) -> None:
    with pytest.raises(QueryError) as caught:
        run({"gatewayUrl": gateway.url, "maxRetries": "2"}, CHAT_QUERY)

    assert upstream.requests == []
    assert (caught.value.message, caught.value.description) == (
        "Query could not be completed",
        "Either x-portkey-config or x-portkey-provider header is required",
    )
    assert caught.value.data == {
        "statusCode": 400,
        "errorType": "invalid_request_error",
        "traceId": TRACE,
        "retries": 0,
    }


INVALID_CONFIGS = {
    # each passes the plugin's own config schema; only the gateway knows it cannot route with it
    "provider without api_key": (
        lambda url: {"provider": "openai"},
        "Invalid config passed: path: , message: Invalid configuration. It must have either 'provider' "
        "and 'api_key', or 'strategy' and 'targets', or 'cache', or 'retry', or 'request_timeout'",
    ),
    "custom_host not http(s)": (
        lambda url: {"provider": "openai", "api_key": KEY, "custom_host": "ftp://127.0.0.1/v1"},
        "Invalid config passed: path: , message: Invalid custom host",
    ),
    "conditional mode without conditions": (
        lambda url: {
            "strategy": {"mode": "conditional"},
            "targets": [{"provider": "openai", "api_key": KEY, "custom_host": url}],
        },
        "No conditions passed in the query router",
    ),
    "saved config id (hosted Portkey only)": (
        lambda url: "pc-checkout-prod",
        "Invalid config passed. You need to pass a valid json",
    ),
}


@pytest.mark.parametrize("case", sorted(INVALID_CONFIGS))
def test_config_the_gateway_rejects_is_a_query_error_with_its_message(
    run: Runner, gateway: Gateway, upstream: Simulator, case: str
) -> None:
    make_config, message = INVALID_CONFIGS[case]
    source = {"gatewayUrl": gateway.url, "maxRetries": "2", "config": make_config(upstream.url)}

    with pytest.raises(QueryError) as caught:
        run(source, CHAT_QUERY)

    assert upstream.requests == []
    assert (caught.value.message, caught.value.description) == ("Query could not be completed", message)
    assert caught.value.data == {
        "statusCode": 400,
        "errorType": "invalid_request_error",
        "traceId": TRACE,
        "retries": 0,
    }
    assert KEY not in repr(caught.value.args)


# ---------------------------------------------------------------------------------------------------
# test_connection


@pytest.mark.parametrize("flavour", ["sync", "async"])
def test_connection_without_routing_reports_the_gateways_400(
    gateway: Gateway, upstream: Simulator, flavour: str
) -> None:
    result = check_connection(flavour, {"gatewayUrl": gateway.url})

    assert result == {
        "status": "failed",
        "message": "Portkey answered 400: Either x-portkey-config or x-portkey-provider header is required",
    }
    assert upstream.requests == []
