"""Each failure Portkey (or the network in front of it) can produce, injected by a real loopback server.

Every test states what a user of run() sees: the result, or the QueryError's message, description and
data, and how many attempts reached the server. Sleeps are patched, so retries cost no time.
"""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from loopback_server import FaultServer, Reply

from tooljet_portkey import AsyncQueryService, QueryError, QueryService

Run = Callable[[dict[str, Any], dict[str, Any]], dict[str, Any]]

CHAT = {"operation": "chat", "model": "gpt-4o-mini", "messages": '[{"role":"user","content":"Hi"}]'}
COMPLETION = {
    "id": "chatcmpl-1",
    "object": "chat.completion",
    "created": 1,
    "model": "gpt-4o-mini",
    "choices": [{"index": 0, "message": {"role": "assistant", "content": "Hello"}, "finish_reason": "stop"}],
}
# what COMPLETION says of itself, in every result's metadata
SAID = {
    "model": "gpt-4o-mini",
    "finishReason": "stop",
    # and what it cost: unknown, as COMPLETION carries no usage (docs/cost.md)
    "cost": None,
    "warnings": ["cost: gpt-4o-mini: the answer has no token usage"],
}
OPERATIONS = {
    "completion": {"operation": "completion", "model": "m", "prompt": "Say hi"},
    "chat": CHAT,
    "prompt_completion": {"operation": "prompt_completion", "promptId": "pp-greet@3", "variables": "{}"},
    "create_embedding": {"operation": "create_embedding", "model": "e", "input": "hello"},
}


def source(server: FaultServer, **extra: str) -> dict[str, Any]:
    return {"apiKey": "pk-test-key", "provider": "openai", "gatewayUrl": server.url, **extra}


@pytest.fixture(params=["sync", "async"])
def run(request: pytest.FixtureRequest) -> Iterator[Run]:
    """QueryService.run or AsyncQueryService.run, through one service for the whole test."""
    if request.param == "sync":
        with QueryService() as service:
            yield lambda src, query: service.run(src, query, "ds-1")
        return

    loop = asyncio.new_event_loop()
    service = AsyncQueryService()
    try:
        yield lambda src, query: loop.run_until_complete(service.run(src, query, "ds-1"))
    finally:
        loop.run_until_complete(service.aclose())
        loop.close()


def fail(run: Run, src: dict[str, Any], query: dict[str, Any]) -> QueryError:
    with pytest.raises(QueryError) as caught:
        run(src, query)
    return caught.value


# --- error answers: the right QueryError after the right number of attempts -----------------------

TRACE = {"x-portkey-trace-id": "trace-42"}
PROVIDER_400 = {
    "error": {
        "message": "Unknown model: gpt-9",
        "type": "invalid_request_error",
        "param": "model",
        "code": None,
    },
    "provider": "openai",
}
HOOKS = {"before_request_hooks": [{"verdict": False, "id": "pg-no-pii"}]}

STATUS_CASES = [
    # (id, reply, attempts, description, data beyond statusCode/errorType/traceId/retries)
    ("provider-400", Reply(400, PROVIDER_400, TRACE), 1, "Unknown model: gpt-9",
     {"statusCode": 400, "errorType": "invalid_request_error", "traceId": "trace-42", "provider": "openai"}),
    ("gateway-400", Reply(400, {"status": "failure", "message": "Either x-portkey-config or "
                                "x-portkey-provider header is required"}), 1,
     "Either x-portkey-config or x-portkey-provider header is required",
     {"statusCode": 400, "errorType": "invalid_request_error"}),
    ("invalid-config-400", Reply(400, {"status": "failure", "message": "Invalid config passed",
                                       "errors": ["strategy.mode: Invalid enum value"]}), 1,
     "Invalid config passed: strategy.mode: Invalid enum value",
     {"statusCode": 400, "errorType": "invalid_request_error"}),
    ("401", Reply(401, {"status": "failure", "message": "Invalid API Key"}), 1, "Invalid API Key",
     {"statusCode": 401, "errorType": "authentication_error"}),
    ("403", Reply(403, {"error": {"message": "Not allowed", "type": "permission_error"}}), 1, "Not allowed",
     {"statusCode": 403, "errorType": "permission_error"}),
    ("404-not-json-shape", Reply(404, {"message": "Not Found", "ok": False}), 1, "Not Found",
     {"statusCode": 404, "errorType": "not_found_error"}),
    ("408-gateway-timeout", Reply(408, {"error": {"message": "Request exceeded the timeout sent in the "
                                                  "request: 5000ms", "type": "timeout_error"}}), 3,
     "Request exceeded the timeout sent in the request: 5000ms",
     {"statusCode": 408, "errorType": "timeout_error"}),
    ("409", Reply(409, {"error": {"message": "Conflict", "type": "conflict"}}), 3, "Conflict",
     {"statusCode": 409, "errorType": "conflict"}),
    ("412-budget", Reply(412, {"status": "failure", "message": "Budget exhausted for this key"}), 1,
     "Budget exhausted for this key", {"statusCode": 412, "errorType": "budget_exceeded_error"}),
    ("422", Reply(422, {"error": {"message": "messages: too long", "type": "invalid_request_error"}}), 1,
     "messages: too long", {"statusCode": 422, "errorType": "invalid_request_error"}),
    ("429-retry-after", Reply(429, {"error": {"message": "Rate limit reached", "type": "rate_limit_error"}},
                              {"retry-after": "1"}), 3, "Rate limit reached",
     {"statusCode": 429, "errorType": "rate_limit_error", "retryAfter": "1"}),
    ("446-guardrail", Reply(446, {"error": {"message": "Request blocked by guardrails",
                                            "type": "hooks_failed"}, "hook_results": HOOKS}), 1,
     "Request blocked by guardrails",
     {"statusCode": 446, "errorType": "guardrail_denied", "hookResults": HOOKS,
      "guardrails": {"verdict": "denied", "checks": [], "after": [],
                     "before": [{"id": "pg-no-pii", "verdict": "failed", "checks": []}]}}),
    ("500-plain-text", Reply(500, "Internal Server Error", {"content-type": "text/plain"}), 3,
     "Internal Server Error", {"statusCode": 500, "errorType": "api_error"}),
    ("502-html", Reply(502, "<html><body><h1>502 Bad Gateway</h1>\n<hr>nginx</body></html>",
                       {"content-type": "text/html"}), 3, "502 Bad Gateway nginx",
     {"statusCode": 502, "errorType": "api_error"}),
    ("503-empty", Reply(503, b""), 3, "Portkey answered HTTP 503 with an empty body",
     {"statusCode": 503, "errorType": "api_error"}),
    ("504-gateway-exception", Reply(504, "upstream timed out", {"x-portkey-gateway-exception": "true",
                                                                 "content-type": "text/plain"}), 3,
     "upstream timed out", {"statusCode": 504, "errorType": "gateway_error"}),
    ("503-portkey-retries-spent", Reply(503, {"error": {"message": "All targets failed"}},
                                        {"x-portkey-retry-attempt-count": "-1"}), 1, "All targets failed",
     {"statusCode": 503, "errorType": "api_error", "retryAttemptCount": -1}),
    ("418-unknown-4xx", Reply(418, {"error": {"message": "I'm a teapot"}}), 1, "I'm a teapot",
     {"statusCode": 418, "errorType": "api_error"}),
]  # fmt: skip


@pytest.mark.parametrize(
    ("reply", "attempts", "description", "data"),
    [case[1:] for case in STATUS_CASES],
    ids=[case[0] for case in STATUS_CASES],
)
def test_error_status_becomes_query_error(
    fault_server: FaultServer,
    sleeps: list[float],
    run: Run,
    reply: Reply,
    attempts: int,
    description: str,
    data: dict[str, Any],
) -> None:
    fault_server.script(reply)
    err = fail(run, source(fault_server), CHAT)
    assert (err.message, err.description) == ("Query could not be completed", description)
    assert err.data == {"traceId": None, "retries": attempts - 1, **data}
    assert fault_server.count == attempts
    assert len(sleeps) == attempts - 1
    if "retryAfter" in data:
        assert sleeps == [1.0] * (attempts - 1)
    # every attempt is the same request
    first = fault_server.requests[0]
    assert all(seen == first for seen in fault_server.requests)


@pytest.mark.parametrize(("max_retries", "attempts"), [("0", 1), ("1", 2), ("2", 3), ("5", 6)])
def test_max_retries_bounds_the_attempts(
    fault_server: FaultServer, sleeps: list[float], run: Run, max_retries: str, attempts: int
) -> None:
    fault_server.script(Reply(503, {"error": {"message": "overloaded"}}))
    err = fail(run, source(fault_server, maxRetries=max_retries), CHAT)
    assert err.description == "overloaded"
    assert err.data["retries"] == attempts - 1
    assert fault_server.count == attempts


def test_retry_after_beyond_the_cap_is_not_waited_for(
    fault_server: FaultServer, sleeps: list[float], run: Run
) -> None:
    fault_server.script(Reply(429, {"error": {"message": "slow down"}}, {"retry-after": "3600"}))
    err = fail(run, source(fault_server), CHAT)
    assert err.data == {
        "statusCode": 429,
        "errorType": "rate_limit_error",
        "traceId": None,
        "retries": 0,
        "retryAfter": "3600",
    }
    assert fault_server.count == 1
    assert sleeps == []


def test_retry_after_longer_than_the_timeout_is_not_waited_for(
    fault_server: FaultServer, sleeps: list[float], run: Run
) -> None:
    fault_server.script(Reply(503, {"error": {"message": "busy"}}, {"retry-after": "30"}))
    err = fail(run, source(fault_server, timeout="5"), CHAT)
    assert (err.description, err.data["retries"], fault_server.count, sleeps) == ("busy", 0, 1, [])


# --- transient faults within maxRetries: the call succeeds and says how many retries it took --------

OK = Reply(200, COMPLETION, {"x-portkey-trace-id": "trace-ok"})

TRANSIENT = [
    ("503-then-ok", [Reply(503, "busy"), OK], [None]),
    ("429-ms-then-ok", [Reply(429, {"error": {"message": "rate"}}, {"retry-after-ms": "20"}), OK], [0.02]),
    ("429-date-then-ok", [Reply(429, "rate", {"retry-after": "Thu, 01 Jan 1970 00:00:00 GMT"}), OK], [0.0]),
    ("408-502-then-ok", [Reply(408, "timeout"), Reply(502, "bad gateway"), OK], [None, None]),
    ("dropped-then-ok", [Reply(drop=True), OK], [None]),
    ("reset-mid-body-then-ok", [Reply(200, COMPLETION, reset_after=20), OK], [None]),
]


@pytest.mark.parametrize(("replies", "waits"), [c[1:] for c in TRANSIENT], ids=[c[0] for c in TRANSIENT])
def test_transient_fault_within_max_retries_succeeds(
    fault_server: FaultServer,
    sleeps: list[float],
    run: Run,
    replies: list[Reply],
    waits: list[float | None],
) -> None:
    fault_server.script(*replies)
    result = run(source(fault_server), CHAT)
    assert result == {
        "status": "ok",
        "data": COMPLETION,
        "metadata": {"statusCode": 200, "retries": len(waits), "traceId": "trace-ok", **SAID},
    }
    assert fault_server.count == len(replies)
    assert len(sleeps) == len(waits)
    for slept, wanted in zip(sleeps, waits, strict=True):
        if wanted is None:  # our own backoff: 0.5 s, 1 s, ... less up to a quarter
            assert 0.375 <= slept <= 8.0
        else:
            assert slept == wanted
    first = fault_server.requests[0]
    assert first.method == "POST"
    assert first.path == "/v1/chat/completions"
    assert first.body == {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Hi"}]}
    assert all(seen == first for seen in fault_server.requests)


def test_metadata_reports_our_retries_and_portkeys(
    fault_server: FaultServer, sleeps: list[float], run: Run
) -> None:
    headers = {
        "x-portkey-trace-id": "trace-7",
        "x-portkey-retry-attempt-count": "2",
        "x-portkey-cache-status": "MISS",
        "x-portkey-provider": "openai",
        "x-portkey-last-used-option-index": "config.targets[1]",
    }
    fault_server.script(Reply(500, "oops"), Reply(200, COMPLETION, headers))
    result = run(source(fault_server), CHAT)
    assert result["metadata"] == {
        "statusCode": 200,
        "retries": 1,
        "retryAttemptCount": 2,
        "traceId": "trace-7",
        "cacheStatus": "MISS",
        "provider": "openai",
        "lastUsedOptionIndex": "config.targets[1]",
        **SAID,
    }


def test_246_succeeds_with_a_guardrail_warning(fault_server: FaultServer, run: Run) -> None:
    fault_server.script(Reply(246, {**COMPLETION, "hook_results": HOOKS}))
    result = run(source(fault_server), CHAT)
    assert result["data"]["choices"] == COMPLETION["choices"]
    verdicts = {"verdict": "failed", "checks": [], "after": [],
                "before": [{"id": "pg-no-pii", "verdict": "failed", "checks": []}]}  # fmt: skip
    assert result["metadata"] == {
        "statusCode": 246, "retries": 0, "guardrailWarning": True, **SAID, "guardrails": verdicts
    }  # fmt: skip


# --- a 2xx that is not the JSON Portkey promised: an error, never retried --------------------------

NOT_JSON = [
    ("html", Reply(200, "<html><p>Login required</p></html>", {"content-type": "text/html"}),
     "Portkey answered HTTP 200 but the body is not JSON: Login required"),
    ("empty", Reply(200, b""), "Portkey answered HTTP 200 but the body is not JSON: (empty)"),
    ("truncated-json", Reply(200, '{"id": "chatcmpl-1", "choi'),
     'Portkey answered HTTP 200 but the body is not JSON: {"id": "chatcmpl-1", "choi'),
]  # fmt: skip


@pytest.mark.parametrize(("reply", "description"), [c[1:] for c in NOT_JSON], ids=[c[0] for c in NOT_JSON])
def test_success_status_without_json_is_an_error(
    fault_server: FaultServer, sleeps: list[float], run: Run, reply: Reply, description: str
) -> None:
    fault_server.script(reply)
    err = fail(run, source(fault_server), CHAT)
    assert (err.message, err.description) == ("Query could not be completed", description)
    assert err.data == {"statusCode": 200, "errorType": "invalid_response", "traceId": None, "retries": 0}
    assert fault_server.count == 1


# --- no answer at all ---------------------------------------------------------------------------------


def _closed_port() -> int:
    """A loopback port nothing listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_connection_refused(sleeps: list[float], run: Run) -> None:
    port = _closed_port()
    src = {"apiKey": "pk-test-key", "provider": "openai", "gatewayUrl": f"http://127.0.0.1:{port}/v1"}
    err = fail(run, src, CHAT)
    assert err.message == "Could not reach Portkey"
    assert err.description == (
        "Could not get an answer from 127.0.0.1: [Errno 111] Connection refused (after 2 retries)"
    )
    assert err.data == {"statusCode": None, "errorType": "connection_error", "traceId": None, "retries": 2}
    assert len(sleeps) == 2


def test_dns_failure(sleeps: list[float], run: Run) -> None:
    src = {"apiKey": "pk-test-key", "provider": "openai", "gatewayUrl": "http://portkey-gateway.invalid/v1"}
    err = fail(run, src, {**CHAT, "traceId": "t-dns"})
    assert err.message == "Could not reach Portkey"
    assert err.description.startswith("Could not get an answer from portkey-gateway.invalid: ")
    assert err.description.endswith(" (after 2 retries)")
    assert err.data == {"statusCode": None, "errorType": "connection_error", "traceId": "t-dns", "retries": 2}


def test_tls_failure(fault_server: FaultServer, sleeps: list[float], run: Run) -> None:
    src = source(fault_server, gatewayUrl=fault_server.url.replace("http://", "https://"), maxRetries="1")
    err = fail(run, src, CHAT)
    assert err.message == "Could not reach Portkey"
    assert err.description.startswith("Could not get an answer from 127.0.0.1: [SSL")
    assert err.description.endswith(" (after 1 retry)")
    assert err.data == {"statusCode": None, "errorType": "connection_error", "traceId": None, "retries": 1}
    assert fault_server.count == 0  # the handshake failed: no HTTP request was ever read


@pytest.mark.parametrize(
    ("reply", "description"),
    [
        (Reply(drop=True), "Server disconnected without sending a response."),
        (Reply(200, COMPLETION, reset_after=20), "[Errno 104] Connection reset by peer"),
    ],
    ids=["dropped", "reset-mid-body"],
)
def test_persistent_connection_loss(
    fault_server: FaultServer, sleeps: list[float], run: Run, reply: Reply, description: str
) -> None:
    fault_server.script(reply)
    err = fail(run, source(fault_server), CHAT)
    assert err.message == "Could not reach Portkey"
    assert err.description == f"Could not get an answer from 127.0.0.1: {description} (after 2 retries)"
    assert err.data == {"statusCode": None, "errorType": "connection_error", "traceId": None, "retries": 2}
    assert fault_server.count == 3


# --- timeouts: every operation, prompt completions included ------------------------------------------


@pytest.mark.parametrize("operation", list(OPERATIONS))
def test_timeout_applies_to_every_operation(
    fault_server: FaultServer, sleeps: list[float], run: Run, operation: str
) -> None:
    fault_server.script(Reply(200, COMPLETION, delay=30))
    err = fail(run, source(fault_server, timeout="0.25"), OPERATIONS[operation])
    assert err.message == "Query timed out"
    assert err.description == "Portkey did not answer within 0.25 s"
    assert err.data == {"statusCode": None, "errorType": "timeout_error", "traceId": None, "retries": 0}
    # the whole budget went on the one attempt, so there was no time left to retry
    assert fault_server.count == 1


# --- streams: retried until the answer starts, never after ------------------------------------------

DELTA = json.dumps({"id": "c1", "choices": [{"index": 0, "delta": {"role": "assistant", "content": "Hel"}}]})
DELTA2 = json.dumps(
    {"id": "c1", "choices": [{"index": 0, "delta": {"content": "lo"}, "finish_reason": "stop"}]}
)
STREAM = {**CHAT, "stream": "true"}


def test_stream_is_retried_before_it_starts(fault_server: FaultServer, sleeps: list[float], run: Run) -> None:
    fault_server.script(Reply(503, "busy"), Reply(events=(DELTA, DELTA2, "[DONE]")))
    result = run(source(fault_server), STREAM)
    assert result["data"]["choices"] == [
        {"index": 0, "message": {"role": "assistant", "content": "Hello"}, "finish_reason": "stop"}
    ]
    assert result["metadata"]["retries"] == 1
    assert fault_server.count == 2
    assert fault_server.requests[0].headers["accept"] == "text/event-stream"
    assert fault_server.requests[1].body["stream"] is True


@pytest.mark.parametrize(
    ("reply", "description"),
    [
        (Reply(events=(DELTA,), cut_after_events=True), "The connection was lost after 1 chunks"),
        (Reply(events=(DELTA, DELTA2)), "The stream ended after 2 chunks without [DONE]"),
    ],
    ids=["reset-after-first-chunk", "ended-without-done"],
)
def test_stream_is_never_retried_after_its_first_byte(
    fault_server: FaultServer, sleeps: list[float], run: Run, reply: Reply, description: str
) -> None:
    fault_server.script(reply, Reply(events=(DELTA, DELTA2, "[DONE]")))
    err = fail(run, source(fault_server), STREAM)
    assert err.message == "Query could not be completed"
    assert err.description.startswith(description)
    assert err.data == {"statusCode": None, "errorType": "stream_truncated", "traceId": None, "retries": 0}
    assert fault_server.count == 1
    assert sleeps == []


def test_service_stream_yields_then_fails_without_retrying(
    fault_server: FaultServer, sleeps: list[float]
) -> None:
    fault_server.script(Reply(events=(DELTA,), cut_after_events=True), Reply(events=(DELTA, "[DONE]")))
    got: list[dict[str, Any]] = []
    with QueryService() as service, pytest.raises(QueryError) as caught:
        for chunk in service.stream(source(fault_server), CHAT):
            got.append(chunk)
    assert got == [json.loads(DELTA)]
    assert caught.value.data["errorType"] == "stream_truncated"
    assert fault_server.count == 1
