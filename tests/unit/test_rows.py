"""A query over a table (prompt_completion's rows) and an embedding input of any length, as a host sees
them: the exact request of every row or chunk on the wire, the exact result in row order, the exact
errors, validation before anything is sent, failOnError, progress, closing mid-run; async twins.

Nothing here depends on timing: answers that must arrive out of order wait on events another request
sets (with a timeout only so that a broken runner fails instead of hanging), and ``seconds`` in the
metadata is checked for its type only.
"""

# Tables of exact messages read best one case per line.
# ruff: noqa: E501

from __future__ import annotations

import asyncio
import dataclasses
import json
import threading
from typing import Any

import httpx
import pytest
import respx
from rows_support import PROMPT_PATH, TICKETS, chat_answer, mock, row_threads, table_query, ticket_of
from unit_support import (
    API_KEY,
    BASE_URL,
    SNAPSHOT,
    SOURCE,
    aoutcome,
    base_headers,
    outcome,
    run_async,
    unpriced,
    wire,
)

from tooljet_portkey import AsyncQueryService, QueryError, QueryService, _run_rows
from tooljet_portkey._batch import AdaptiveLimiter
from tooljet_portkey._constants import MIB
from tooljet_portkey._options import parse_connection, parse_query
from tooljet_portkey._requests import build_request

pytestmark = pytest.mark.usefixtures("no_retry_sleep")
__all__ = ["mock"]  # a fixture (rows_support): pytest offers it to the tests below

FAILED = "Query could not be completed"
INVALID = "Invalid query options"
HANG_GUARD = 10.0  # seconds; only a broken runner ever waits this long


def label(ticket: str) -> str:
    return {"My card was charged twice": "billing", "Where is my parcel?": "shipping"}.get(ticket, "other")


def answer_by_ticket(request: httpx.Request) -> httpx.Response:
    """Portkey's answer to one row: the label of its ticket, the ticket's length as prompt tokens, and
    a trace id naming the ticket."""
    ticket = ticket_of(request)
    return httpx.Response(
        200,
        json=chat_answer(label(ticket), prompt_tokens=len(ticket)),
        headers={"x-portkey-trace-id": f"trace-{len(ticket)}"},
    )


def without_seconds(result: dict[str, Any]) -> dict[str, Any]:
    """The result with ``metadata.seconds`` checked for its type and taken out (it is a measured time)."""
    seconds = result["metadata"].pop("seconds")
    assert isinstance(seconds, float) and seconds >= 0
    return result


# ---------------------------------------------------------------------------------------------------
# Rows: the wire, the result


def test_each_row_sends_the_saved_prompt_with_the_forms_variables_updated_by_the_rows_fields(
    service: QueryService, mock: respx.MockRouter
) -> None:
    route = mock.post(PROMPT_PATH).mock(side_effect=answer_by_ticket)
    rows = [
        {"ticket": "My card was charged twice", "team": "billing-desk"},
        {"ticket": "Where is my parcel?", "n": 2},
    ]
    service.run(
        SOURCE,
        table_query(
            rows,
            prompt_parameters='{"max_tokens": 5, "variables": {"lost": true}}',
            metadata='{"run": "triage"}',
            concurrency="1",
        ),
    )
    headers = base_headers(**{"x-portkey-metadata": '{"run":"triage"}'})
    url = f"{BASE_URL}{PROMPT_PATH}"
    assert [wire(call.request) for call in route.calls] == [
        {
            "method": "POST",
            "url": url,
            "headers": headers,
            "json": {
                "max_tokens": 5,
                "variables": {"team": "billing-desk", "ticket": "My card was charged twice"},
            },
        },
        {
            "method": "POST",
            "url": url,
            "headers": headers,
            "json": {
                "max_tokens": 5,
                "variables": {"team": "support", "ticket": "Where is my parcel?", "n": 2},
            },
        },
    ]


def test_without_form_variables_a_row_is_the_variables(service: QueryService, mock: respx.MockRouter) -> None:
    route = mock.post(PROMPT_PATH).mock(side_effect=answer_by_ticket)
    query = table_query([{"ticket": "I love it"}])
    del query["variables"]
    service.run(SOURCE, query)
    assert json.loads(route.calls[0].request.content) == {"variables": {"ticket": "I love it"}}


def test_a_table_returns_one_entry_per_row_in_row_order_and_sums_the_metadata(
    service: QueryService, mock: respx.MockRouter
) -> None:
    mock.post(PROMPT_PATH).mock(side_effect=answer_by_ticket)
    result = service.run(SOURCE, table_query(output="text"))
    assert without_seconds(result) == {
        "status": "ok",
        "data": [
            # each row's cost: unknown, as the connection names no provider (tests/unit/test_cost.py)
            {"row": 0, "status": "ok", "output": "billing", "traceId": "trace-25", "cost": None},
            {"row": 1, "status": "ok", "output": "shipping", "traceId": "trace-19", "cost": None},
            {"row": 2, "status": "ok", "output": "other", "traceId": "trace-9", "cost": None},
        ],
        "metadata": {
            # the keys of a single run's metadata, the first row's (test_a_table_has_every_key_...)
            "statusCode": 200,
            "traceId": "trace-25",
            "model": "gpt-4o-mini",
            "finishReason": "stop",
            "rows": 3,
            "succeeded": 3,
            "failed": 0,
            "skipped": 0,
            "retries": 0,
            "usage": {"prompt_tokens": 53, "completion_tokens": 6, "total_tokens": 59},
            **unpriced("gpt-4o-mini"),
        },
    }


def test_rows_come_back_in_row_order_whatever_order_the_answers_arrive_in(
    service: QueryService, mock: respx.MockRouter
) -> None:
    """Row 0's answer waits until row 2's has been given: the answers arrive 2, 1, 0 at best."""
    last_answered = threading.Event()
    arrived: list[str] = []

    def answer(request: httpx.Request) -> httpx.Response:
        ticket = ticket_of(request)
        if ticket == TICKETS[0]["ticket"]:
            assert last_answered.wait(HANG_GUARD)
        arrived.append(ticket)
        if ticket == TICKETS[2]["ticket"]:
            last_answered.set()
        return answer_by_ticket(request)

    mock.post(PROMPT_PATH).mock(side_effect=answer)
    result = service.run(SOURCE, table_query(output="text", concurrency="3"))
    assert arrived.index(TICKETS[2]["ticket"]) < arrived.index(TICKETS[0]["ticket"])
    assert [(entry["row"], entry["output"]) for entry in result["data"]] == [
        (0, "billing"),
        (1, "shipping"),
        (2, "other"),
    ]


def test_the_output_mode_applies_to_each_row(service: QueryService, mock: respx.MockRouter) -> None:
    """full: Portkey's answer; json: the text parsed, and a row whose text is not JSON fails alone."""
    mock.post(PROMPT_PATH).mock(side_effect=answer_by_ticket)
    full = service.run(SOURCE, table_query(TICKETS[:1]))
    assert full["data"] == [
        {
            "row": 0,
            "status": "ok",
            "output": chat_answer("billing", prompt_tokens=25),
            "traceId": "trace-25",
            "cost": None,
        }
    ]

    def json_or_not(request: httpx.Request) -> httpx.Response:
        text = '{"label": "billing"}' if "card" in ticket_of(request) else "not json"
        return httpx.Response(200, json=chat_answer(text), headers={"x-portkey-trace-id": "t"})

    mock.post(PROMPT_PATH).mock(side_effect=json_or_not)
    parsed = service.run(SOURCE, table_query(TICKETS[:2], output="json"))
    assert without_seconds(parsed) == {
        "status": "ok",
        "data": [
            {"row": 0, "status": "ok", "output": {"label": "billing"}, "traceId": "t", "cost": None},
            {
                "row": 1,
                "status": "failed",
                "error": {
                    "message": "The answer is not the output asked for",
                    "description": "The answer is not valid JSON (Expecting value: line 1 column 1 (char 0))",
                    "data": {
                        "statusCode": 200,
                        "errorType": "invalid_output",
                        "traceId": "t",
                        "output": "not json",
                    },
                },
            },
        ],
        "metadata": {
            "statusCode": 200,
            "traceId": "t",
            "model": "gpt-4o-mini",
            "finishReason": "stop",
            "rows": 2,
            "succeeded": 1,
            "failed": 1,
            "skipped": 0,
            "retries": 0,
            "usage": {"prompt_tokens": 10, "completion_tokens": 2, "total_tokens": 12},
            **unpriced("gpt-4o-mini"),
        },
    }


def test_a_failed_row_is_an_entry_with_the_error_a_single_query_would_raise(
    service: QueryService, mock: respx.MockRouter
) -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        if "parcel" in ticket_of(request):
            return httpx.Response(
                400,
                json={"error": {"message": "Invalid variables", "type": "invalid_request_error"}},
                headers={"x-portkey-trace-id": "trace-bad"},
            )
        return answer_by_ticket(request)

    mock.post(PROMPT_PATH).mock(side_effect=answer)
    result = without_seconds(service.run(SOURCE, table_query(output="text")))
    single = outcome(
        lambda: service.run(SOURCE, {**table_query(), "rows": "", "variables": json.dumps(TICKETS[1])})
    )
    error = {
        "message": FAILED,
        "description": "Invalid variables",
        "data": {
            "statusCode": 400,
            "errorType": "invalid_request_error",
            "traceId": "trace-bad",
            "retries": 0,
        },
    }
    assert single == ("error", (error["message"], error["description"], error["data"]))
    assert result["data"][1] == {"row": 1, "status": "failed", "error": error}
    assert [entry["status"] for entry in result["data"]] == ["ok", "failed", "ok"]
    assert result["metadata"] == {
        "statusCode": 200,
        "traceId": "trace-25",
        "model": "gpt-4o-mini",
        "finishReason": "stop",
        "rows": 3,
        "succeeded": 2,
        "failed": 1,
        "skipped": 0,
        "retries": 0,
        "usage": {"prompt_tokens": 34, "completion_tokens": 4, "total_tokens": 38},
        **unpriced("gpt-4o-mini"),
    }


def test_empty_rows_send_nothing_and_return_an_empty_list(
    service: QueryService, mock: respx.MockRouter
) -> None:
    route = mock.post(PROMPT_PATH).mock(side_effect=answer_by_ticket)
    assert without_seconds(service.run(SOURCE, table_query([]))) == {
        "status": "ok",
        "data": [],
        "metadata": {"rows": 0, "succeeded": 0, "failed": 0, "skipped": 0, "retries": 0, "usage": {}},
    }
    assert route.call_count == 0


def test_blank_rows_run_the_prompt_once_as_before(service: QueryService, mock: respx.MockRouter) -> None:
    mock.post(PROMPT_PATH).respond(200, json=chat_answer("hello"))
    result = service.run(SOURCE, table_query("  ", output="text"))
    assert result["data"] == "hello"
    assert result["metadata"]["statusCode"] == 200


# ---------------------------------------------------------------------------------------------------
# failOnError, retries, rate limits


def test_fail_on_error_raises_naming_the_row_and_sends_no_row_after_it(
    service: QueryService, mock: respx.MockRouter
) -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        if "parcel" in ticket_of(request):
            return httpx.Response(404, json={"error": {"message": "Prompt not found", "type": "not_found"}})
        return answer_by_ticket(request)

    route = mock.post(PROMPT_PATH).mock(side_effect=answer)
    rows = [*TICKETS, {"ticket": "never sent"}]
    assert outcome(lambda: service.run(SOURCE, table_query(rows, failOnError="true", concurrency="1"))) == (
        "error",
        (
            FAILED,
            "row 1: Prompt not found",
            {"statusCode": 404, "errorType": "not_found", "traceId": None, "retries": 0, "row": 1},
        ),
    )
    assert [ticket_of(call.request) for call in route.calls] == [TICKETS[0]["ticket"], TICKETS[1]["ticket"]]


def test_fail_on_error_lets_the_rows_in_flight_finish_first(
    service: QueryService, mock: respx.MockRouter
) -> None:
    """Row 0 fails while row 1 is in flight (row 1 is answered only once the run has seen row 0 fail):
    row 1 is still answered, no later row is sent, then the query fails with row 0."""
    row_one_started = threading.Event()
    failure_seen = threading.Event()
    finished: list[str] = []

    def answer(request: httpx.Request) -> httpx.Response:
        ticket = ticket_of(request)
        if ticket == TICKETS[0]["ticket"]:
            assert row_one_started.wait(HANG_GUARD)
            return httpx.Response(500, json={"error": {"message": "upstream broke"}})
        row_one_started.set()
        assert failure_seen.wait(HANG_GUARD)
        finished.append(ticket)
        return answer_by_ticket(request)

    route = mock.post(PROMPT_PATH).mock(side_effect=answer)
    rows = TICKETS[:2] + [{"ticket": "never"}] * 5
    status, (_, description, data) = outcome(
        lambda: service.run(
            SOURCE,
            table_query(rows, failOnError="true", concurrency="2"),
            on_progress=lambda d, t: failure_seen.set(),
        )
    )
    assert (status, description, data["row"]) == ("error", "row 0: upstream broke", 0)
    assert finished == [TICKETS[1]["ticket"]]
    assert route.call_count == 2
    assert row_threads() == []


def test_metadata_retries_sum_the_rows_retries(
    mock: respx.MockRouter, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Row 0 needs one retry after a 500, row 1 none, row 2 fails after two: 3 retries in all."""
    monkeypatch.setattr("tooljet_portkey._client._sleep", lambda seconds: None)
    seen: dict[str, int] = {}

    def answer(request: httpx.Request) -> httpx.Response:
        ticket = ticket_of(request)
        seen[ticket] = seen.get(ticket, 0) + 1
        if (ticket == TICKETS[0]["ticket"] and seen[ticket] == 1) or ticket == TICKETS[2]["ticket"]:
            return httpx.Response(500, json={"error": {"message": "flaky"}})
        return answer_by_ticket(request)

    mock.post(PROMPT_PATH).mock(side_effect=answer)
    with QueryService() as service:
        result = service.run({**SOURCE, "maxRetries": "2"}, table_query())
    assert [entry["status"] for entry in result["data"]] == ["ok", "ok", "failed"]
    assert result["data"][2]["error"]["data"]["retries"] == 2
    assert result["metadata"]["retries"] == 3


class RecordingLimiter(AdaptiveLimiter):
    """The run's limiter, noting each rate-limit signal; it never pauses, so the test waits for nothing."""

    signals: list[float | None] = []

    def __init__(self, ceiling: int, **options: Any) -> None:
        super().__init__(ceiling, max_pause=0.0)

    def throttled(self, wait: float | None = None, sent: int | None = None) -> float:
        RecordingLimiter.signals.append(wait)
        return super().throttled(wait, sent)


@pytest.fixture
def recording_limiter(monkeypatch: pytest.MonkeyPatch) -> list[float | None]:
    RecordingLimiter.signals = []
    monkeypatch.setattr(_run_rows, "AdaptiveLimiter", RecordingLimiter)
    monkeypatch.setattr("tooljet_portkey._client._sleep", lambda seconds: None)
    return RecordingLimiter.signals


def test_a_429_the_client_retries_slows_the_run_at_once(
    recording_limiter: list[float | None], mock: respx.MockRouter
) -> None:
    """Row 0 meets a 429 (retry-after: 3), then its retry succeeds: the row shows only a retry, but the
    run's limiter heard the 429 and the wait it asked for. A 500 retried says nothing to it."""
    seen: dict[str, int] = {}

    def answer(request: httpx.Request) -> httpx.Response:
        ticket = ticket_of(request)
        seen[ticket] = seen.get(ticket, 0) + 1
        if seen[ticket] == 1 and ticket == TICKETS[0]["ticket"]:
            return httpx.Response(429, json={"error": {"message": "slow down"}}, headers={"retry-after": "3"})
        if seen[ticket] == 1 and ticket == TICKETS[1]["ticket"]:
            return httpx.Response(500, json={"error": {"message": "flaky"}})
        return answer_by_ticket(request)

    mock.post(PROMPT_PATH).mock(side_effect=answer)
    with QueryService() as service:
        result = service.run({**SOURCE, "maxRetries": "2"}, table_query(output="text"))
    assert [entry["output"] for entry in result["data"]] == ["billing", "shipping", "other"]
    assert result["metadata"]["retries"] == 2
    assert recording_limiter == [3.0]


def test_a_row_that_fails_with_a_rate_limit_slows_the_run(
    recording_limiter: list[float | None], mock: respx.MockRouter
) -> None:
    """With no retries left the 429 is the row's failure; the runner reads its retry-after from it."""
    mock.post(PROMPT_PATH).respond(
        429, json={"error": {"message": "slow down"}}, headers={"retry-after": "7"}
    )
    with QueryService() as service:
        result = service.run(SOURCE, table_query(TICKETS[:1]))
    assert result["data"][0]["error"]["data"] == {
        "statusCode": 429,
        "errorType": "rate_limit_error",
        "traceId": None,
        "retries": 0,
        "retryAfter": "7",
    }
    assert recording_limiter == [7.0]


# ---------------------------------------------------------------------------------------------------
# Validation: before anything is sent


@pytest.mark.parametrize(
    ("fields", "description", "field"),
    [
        ({"rows": "[1]"}, "rows[0]: must be a JSON object", "rows"),
        ({"rows": '[{"ticket": "a"}, "b"]'}, "rows[1]: must be a JSON object", "rows"),
        ({"rows": '{"ticket": "a"}'}, "rows: must be a JSON array", "rows"),
        (
            {"rows": "[{"},
            "rows: is not valid JSON (Expecting property name enclosed in double quotes: line 1 column 3 (char 2))",
            "rows",
        ),
        ({"rows": json.dumps([{}] * 10_001)}, "rows: must have at most 10000 items", "rows"),
        ({"stream": "true"}, "stream: a streamed answer cannot be combined with rows", "stream"),
        (
            {"prompt_parameters": '{"stream": true}'},
            "prompt_parameters: a streamed answer cannot be combined with rows",
            "prompt_parameters",
        ),
        ({"concurrency": "0"}, "concurrency: must be at least 1", "concurrency"),
        ({"concurrency": "65"}, "concurrency: must be at most 64", "concurrency"),
        ({"concurrency": "2.5"}, "concurrency: must be a whole number", "concurrency"),
        ({"failOnError": "maybe"}, "failOnError: must be true or false", "failOnError"),
        ({"maxRunSeconds": "0"}, "maxRunSeconds: must be greater than 0", "maxRunSeconds"),
        ({"maxRunSeconds": "86401"}, "maxRunSeconds: must be at most 86400", "maxRunSeconds"),
        ({"maxRunSeconds": "soon"}, "maxRunSeconds: must be a number", "maxRunSeconds"),
    ],
)
def test_bad_table_options_are_refused_before_anything_is_sent(
    service: QueryService, mock: respx.MockRouter, fields: dict[str, Any], description: str, field: str
) -> None:
    route = mock.route().respond(200, json=chat_answer("x"))
    assert outcome(lambda: service.run(SOURCE, {**table_query(), **fields})) == (
        "error",
        (INVALID, description, {"field": field}),
    )
    assert route.call_count == 0


@pytest.mark.parametrize(("text", "seconds"), [("30", 30), ("0.5", 0.5), (" 86400 ", 86400), ("", None)])
def test_max_run_seconds_is_the_runs_time_limit(text: str, seconds: float | None) -> None:
    for query in (table_query([{"ticket": "a"}]), embed_query(TEXTS)):
        request = build_request(parse_connection(SOURCE), parse_query({**query, "maxRunSeconds": text}))
        assert request.run.max_seconds == seconds


def test_the_time_limits_bound_is_the_engines() -> None:
    from tooljet_portkey._constants import MAX_RUN_SECONDS
    from tooljet_portkey._spec import load_spec

    assert load_spec().operations_doc["definitions"]["runSeconds"]["maximum"] == MAX_RUN_SECONDS


def test_ten_thousand_rows_are_accepted() -> None:
    query = parse_query(table_query([{"ticket": str(i)} for i in range(10_000)]))
    request = build_request(parse_connection(SOURCE), query)
    assert request.run.rows is not None and len(request.run.rows) == 10_000


def test_merged_variables_are_checked_as_the_variables_field_is(
    service: QueryService, mock: respx.MockRouter, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Were ``variables`` limited (here to 2 keys), a row whose fields push the merge past the limit is
    refused before any row is sent, naming the row."""
    from tooljet_portkey import _spec

    spec = _spec.load_spec()
    definitions = {**spec.operations_doc["definitions"], "variables": {"type": "object", "maxProperties": 2}}
    limited = dataclasses.replace(spec, operations_doc={**spec.operations_doc, "definitions": definitions})
    monkeypatch.setattr(_spec, "load_spec", lambda: limited)
    _spec.form_validator.cache_clear()
    _spec.form_schema.cache_clear()
    try:
        route = mock.route().respond(200, json=chat_answer("x"))
        rows = [{"ticket": "a"}, {"ticket": "b"}, {"ticket": "c", "extra": 1}]
        assert outcome(lambda: service.run(SOURCE, table_query(rows))) == (
            "error",
            (INVALID, "rows[2]: variables: must have at most 2 keys", {"field": "rows"}),
        )
        assert route.call_count == 0
    finally:
        _spec.form_validator.cache_clear()
        _spec.form_schema.cache_clear()
    _spec.form_schema.cache_clear()


def test_stream_refuses_a_query_of_rows(service: QueryService) -> None:
    with pytest.raises(QueryError) as caught:
        service.stream(SOURCE, table_query())
    assert (caught.value.description, caught.value.data) == (
        "stream: a streamed answer cannot be combined with rows",
        {"field": "stream"},
    )


# ---------------------------------------------------------------------------------------------------
# Progress, closing


def test_on_progress_counts_finished_rows_on_the_callers_thread(
    service: QueryService, mock: respx.MockRouter
) -> None:
    mock.post(PROMPT_PATH).mock(side_effect=answer_by_ticket)
    calls: list[tuple[int, int, str]] = []
    service.run(
        SOURCE,
        table_query(),
        on_progress=lambda done, total: calls.append((done, total, threading.current_thread().name)),
    )
    me = threading.current_thread().name
    assert calls == [(1, 3, me), (2, 3, me), (3, 3, me)]


def test_closing_the_service_mid_run_sends_no_new_row(service: QueryService, mock: respx.MockRouter) -> None:
    route = mock.post(PROMPT_PATH).mock(side_effect=answer_by_ticket)
    leased = []

    def close_after_first(done: int, total: int) -> None:
        leased.extend(service.pooled_clients())
        service.close()

    rows = [{"ticket": str(i)} for i in range(6)]
    assert outcome(
        lambda: service.run(SOURCE, table_query(rows, concurrency="1"), on_progress=close_after_first)
    ) == (
        "error",
        (
            "Query cancelled",
            "the run was stopped: 1 of 6 rows finished, the rest were not sent",
            {"statusCode": None, "errorType": "cancelled", "traceId": None, "finished": 1},
        ),
    )
    assert route.call_count == 1
    assert row_threads() == []
    # the run's client was retired by close() and closed when the run gave it back
    assert service.pooled_clients() == [] and leased[0]._http.is_closed


# ---------------------------------------------------------------------------------------------------
# Embeddings of any length

EMBED_PATH = "/embeddings"


def embedding_answer(request: httpx.Request) -> httpx.Response:
    """One vector per input, ``[len(text), position in this request]``, listed in reverse order (a
    provider may), with ``index`` telling each one's place; one token per input."""
    inputs = json.loads(request.content)["input"]
    data = [{"object": "embedding", "index": i, "embedding": [len(text), i]} for i, text in enumerate(inputs)]
    return httpx.Response(
        200,
        json={
            "object": "list",
            "data": data[::-1],
            "model": "text-embedding-3-small",
            "usage": {"prompt_tokens": len(inputs), "total_tokens": len(inputs)},
        },
        headers={"x-portkey-trace-id": f"trace-{inputs[0]}", "x-portkey-provider": "openai"},
    )


def embed_query(inputs: list[str], **fields: Any) -> dict[str, Any]:
    return {
        "operation": "create_embedding",
        "model": "text-embedding-3-small",
        "input": json.dumps(inputs),
        **fields,
    }


TEXTS = ["a", "bb", "ccc", "dddd", "eeeee"]


def test_a_long_input_is_sent_in_order_as_requests_of_batch_size_inputs(
    service: QueryService, mock: respx.MockRouter
) -> None:
    route = mock.post(EMBED_PATH).mock(side_effect=embedding_answer)
    service.run(
        SOURCE, embed_query(TEXTS, batch_size="2", concurrency="1", other_parameters='{"dimensions": 2}')
    )
    assert [wire(call.request) for call in route.calls] == [
        {
            "method": "POST",
            "url": f"{BASE_URL}/embeddings",
            "headers": base_headers(),
            "json": {"dimensions": 2, "model": "text-embedding-3-small", "input": part},
        }
        for part in (["a", "bb"], ["ccc", "dddd"], ["eeeee"])
    ]


def test_the_chunks_answers_are_one_portkey_shaped_answer(
    service: QueryService, mock: respx.MockRouter
) -> None:
    mock.post(EMBED_PATH).mock(side_effect=embedding_answer)
    result = service.run(SOURCE, embed_query(TEXTS, batch_size="2"))
    assert result == {
        "status": "ok",
        "data": {
            "object": "list",
            "data": [
                {"object": "embedding", "index": 0, "embedding": [1, 0]},
                {"object": "embedding", "index": 1, "embedding": [2, 1]},
                {"object": "embedding", "index": 2, "embedding": [3, 0]},
                {"object": "embedding", "index": 3, "embedding": [4, 1]},
                {"object": "embedding", "index": 4, "embedding": [5, 0]},
            ],
            "model": "text-embedding-3-small",
            "usage": {"prompt_tokens": 5, "total_tokens": 5},
        },
        "metadata": {
            "statusCode": 200,
            "retries": 0,
            "traceId": "trace-a",
            "provider": "openai",
            "requests": 3,
            "traceIds": ["trace-a", "trace-ccc", "trace-eeeee"],
            "usage": {"prompt_tokens": 5, "total_tokens": 5},
            "model": "text-embedding-3-small",
            "cost": {  # 5 tokens at $0.02 per 1M, the summed usage's
                "currency": "USD",
                "total": 0.0000001,
                "input": 0.0000001,
                "output": 0.0,
                "pricing": {"provider": "openai", "model": "text-embedding-3-small", "source": SNAPSHOT},
            },
        },
    }


def test_vectors_output_applies_to_the_merged_answer(service: QueryService, mock: respx.MockRouter) -> None:
    mock.post(EMBED_PATH).mock(side_effect=embedding_answer)
    result = service.run(SOURCE, embed_query(TEXTS, batch_size="2", output="vectors"))
    assert result["data"] == [[1, 0], [2, 1], [3, 0], [4, 1], [5, 0]]


def test_an_input_within_batch_size_is_one_request_as_before(
    service: QueryService, mock: respx.MockRouter
) -> None:
    route = mock.post(EMBED_PATH).mock(side_effect=embedding_answer)
    result = service.run(SOURCE, embed_query(TEXTS[:2], batch_size="2"))
    assert route.call_count == 1
    assert "requests" not in result["metadata"] and result["metadata"]["traceId"] == "trace-a"


def test_a_failing_chunk_fails_the_query_naming_its_input_range(
    service: QueryService, mock: respx.MockRouter
) -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        if json.loads(request.content)["input"][0] == "ccc":
            return httpx.Response(
                400, json={"error": {"message": "input too long", "type": "invalid_request_error"}}
            )
        return embedding_answer(request)

    route = mock.post(EMBED_PATH).mock(side_effect=answer)
    assert outcome(lambda: service.run(SOURCE, embed_query(TEXTS, batch_size="2", concurrency="1"))) == (
        "error",
        (
            FAILED,
            "input[2:4]: input too long",
            {
                "statusCode": 400,
                "errorType": "invalid_request_error",
                "traceId": None,
                "retries": 0,
                "inputRange": [2, 4],
            },
        ),
    )
    assert route.call_count == 2  # the chunk after the failed one is not sent


def test_a_chunk_answer_with_a_vector_missing_fails_naming_its_range(
    service: QueryService, mock: respx.MockRouter
) -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        response = embedding_answer(request)
        body = json.loads(response.content)
        if body["data"][-1]["embedding"][0] == 3:  # the chunk starting at "ccc"
            body["data"] = body["data"][:1]
        return httpx.Response(200, json=body)

    mock.post(EMBED_PATH).mock(side_effect=answer)
    assert outcome(lambda: service.run(SOURCE, embed_query(TEXTS, batch_size="2"))) == (
        "error",
        (
            FAILED,
            "input[2:4]: the answer held 1 embeddings for 2 inputs",
            {"statusCode": None, "errorType": "invalid_response", "traceId": None, "inputRange": [2, 4]},
        ),
    )


@pytest.mark.parametrize(
    ("fields", "description", "field"),
    [
        ({"batch_size": "0"}, "batch_size: must be at least 1", "batch_size"),
        ({"batch_size": "2049"}, "batch_size: must be at most 2048", "batch_size"),
        ({"concurrency": "65"}, "concurrency: must be at most 64", "concurrency"),
        ({"input": json.dumps(["t"] * 100_001)}, "input: must have at most 100000 items", "input"),
        ({"input": json.dumps(list(range(2049)))}, "input: must have at most 2048 items", "input"),
    ],
)
def test_bad_embedding_batch_options_are_refused_before_anything_is_sent(
    service: QueryService, mock: respx.MockRouter, fields: dict[str, Any], description: str, field: str
) -> None:
    route = mock.route().respond(200, json={})
    assert outcome(lambda: service.run(SOURCE, {**embed_query(TEXTS), **fields})) == (
        "error",
        (INVALID, description, {"field": field}),
    )
    assert route.call_count == 0


def test_ten_thousand_inputs_are_five_requests_merged_in_order(
    service: QueryService, mock: respx.MockRouter
) -> None:
    texts = [f"text {i}" for i in range(10_000)]
    route = mock.post(EMBED_PATH).mock(side_effect=embedding_answer)
    progress: list[tuple[int, int]] = []
    result = service.run(
        SOURCE,
        embed_query(texts, output="vectors", batch_size="2048"),
        on_progress=lambda d, t: progress.append((d, t)),
    )
    assert sorted(len(json.loads(call.request.content)["input"]) for call in route.calls) == [
        1808,
        2048,
        2048,
        2048,
        2048,
    ]
    assert result["data"] == [[len(text), i % 2048] for i, text in enumerate(texts)]
    assert result["metadata"]["usage"] == {"prompt_tokens": 10_000, "total_tokens": 10_000}
    assert progress == [(1, 5), (2, 5), (3, 5), (4, 5), (5, 5)]


# ---------------------------------------------------------------------------------------------------
# The default batch_size: each answer well within the connection's answer cap

THOUSAND = [f"text {i}" for i in range(1000)]


@pytest.mark.parametrize(
    ("connection", "fields", "sizes"),
    [
        # 64 MiB: half of it is 454 vectors of 3,072 numbers at 24 bytes each (plus 64 around each)
        ({}, {"model": "text-embedding-3-large"}, [454, 454, 92]),
        ({}, {"model": "text-embedding-3-small"}, [908, 92]),
        ({}, {"model": "@openai-prod/text-embedding-ada-002"}, [908, 92]),
        ({}, {"model": "my-embedder"}, [454, 454, 92]),  # unknown: as large as text-embedding-3-large
        ({}, {"model": "my-embedder", "other_parameters": '{"dimensions": 1024}'}, [1000]),  # 1,361
        (
            {},
            {"model": "text-embedding-3-large", "other_parameters": '{"encoding_format": "base64"}'},
            [1000],
        ),
        ({"maxResponseMiB": "8"}, {"model": "text-embedding-3-large"}, [56] * 17 + [48]),
        (
            {"maxResponseMiB": "0.01"},
            {"model": "text-embedding-3-large", "input": json.dumps(TEXTS)},
            [1] * 5,
        ),
        ({}, {"model": "text-embedding-3-large", "batch_size": "300"}, [300, 300, 300, 100]),
        ({}, {"model": "text-embedding-3-large", "batch_size": "2048"}, [1000]),  # given: trusted
    ],
)
def test_the_default_batch_size_keeps_each_answer_within_half_the_answer_cap(
    service: QueryService,
    mock: respx.MockRouter,
    connection: dict[str, Any],
    fields: dict[str, Any],
    sizes: list[int],
) -> None:
    route = mock.post(EMBED_PATH).mock(side_effect=embedding_answer)
    result = service.run({**SOURCE, **connection}, {**embed_query(THOUSAND), **fields})
    sent = [json.loads(call.request.content)["input"] for call in route.calls]
    assert sorted((len(part) for part in sent), reverse=True) == sizes
    assert sorted(text for part in sent for text in part) == sorted(
        json.loads(embed_query(THOUSAND, **fields)["input"])
    )
    assert result["metadata"].get("requests", 1) == len(sizes)


def too_large_answer(request: httpx.Request) -> httpx.Response:
    """1 MiB and a bit: past a connection's maxResponseMiB of 1."""
    return httpx.Response(
        200, json={"data": [], "padding": "x" * MIB}, headers={"x-portkey-trace-id": "trace-big"}
    )


FEWER = (
    "lower batch_size (this request held 2 inputs) or ask for fewer dimensions (other_parameters.dimensions)"
)


def test_a_chunk_answer_past_the_cap_names_the_fields_that_make_it_smaller(
    service: QueryService, mock: respx.MockRouter
) -> None:
    route = mock.post(EMBED_PATH).mock(side_effect=too_large_answer)
    query = embed_query(TEXTS, batch_size="2", concurrency="1")
    assert outcome(lambda: service.run({**SOURCE, "maxResponseMiB": "1"}, query)) == (
        "error",
        (
            FAILED,
            "input[0:2]: Portkey's answer is larger than 1 MiB (the connection's maxResponseMiB) and was "
            f"not read further: {FEWER}",
            {
                "statusCode": 200,
                "errorType": "response_too_large",
                "traceId": "trace-big",
                "retries": 0,
                "field": "batch_size",
                "inputRange": [0, 2],
            },
        ),
    )
    assert route.call_count == 1  # no chunk after it is sent


@pytest.mark.parametrize(
    ("given", "description", "field"),
    [
        (
            TEXTS[:2],
            f"Portkey's answer is larger than 1 MiB (the connection's maxResponseMiB) and was not read further: {FEWER}",
            {"field": "batch_size"},
        ),
        # one vector: fewer inputs cannot help, the cap can
        (
            TEXTS[:1],
            "Portkey's answer is larger than 1 MiB (the connection's maxResponseMiB) and was not read further",
            {},
        ),
        (
            "one text",
            "Portkey's answer is larger than 1 MiB (the connection's maxResponseMiB) and was not read further",
            {},
        ),
    ],
)
def test_a_single_embedding_answer_past_the_cap_names_batch_size_when_it_held_several_vectors(
    service: QueryService, mock: respx.MockRouter, given: Any, description: str, field: dict[str, str]
) -> None:
    mock.post(EMBED_PATH).mock(side_effect=too_large_answer)
    query = {**embed_query([]), "input": given}
    assert outcome(lambda: service.run({**SOURCE, "maxResponseMiB": "1"}, query)) == (
        "error",
        (
            FAILED,
            description,
            {
                "statusCode": 200,
                "errorType": "response_too_large",
                "traceId": "trace-big",
                "retries": 0,
                **field,
            },
        ),
    )


# ---------------------------------------------------------------------------------------------------
# A key of a single query's metadata is a key of a long one's


def answer_with_every_header(request: httpx.Request) -> httpx.Response:
    """``embedding_answer`` with every header Portkey's metadata is read from; a trace id per request
    unless the query gave its own."""
    response = embedding_answer(request)
    headers = {
        "x-portkey-trace-id": request.headers.get(
            "x-portkey-trace-id", response.headers["x-portkey-trace-id"]
        ),
        "x-portkey-provider": "openai",
        "x-portkey-cache-status": "MISS",
        "x-portkey-retry-attempt-count": "1",
        "x-portkey-last-used-option-index": "0",
    }
    return httpx.Response(
        200, content=response.content, headers={**headers, "content-type": "application/json"}
    )


def test_a_long_inputs_metadata_has_every_key_of_a_single_requests(
    service: QueryService, mock: respx.MockRouter
) -> None:
    mock.post(EMBED_PATH).mock(side_effect=answer_with_every_header)
    short = service.run(SOURCE, embed_query(TEXTS[:2], batch_size="2"))["metadata"]
    long = service.run(SOURCE, embed_query(TEXTS, batch_size="2"))["metadata"]
    assert set(short) == {
        "statusCode",
        "retries",
        "traceId",
        "cacheStatus",
        "provider",
        "lastUsedOptionIndex",
        "retryAttemptCount",
        "usage",
        "model",
        "cost",
    }
    assert long == {
        "statusCode": 200,
        "retries": 0,
        "traceId": "trace-a",  # the first request's
        "cacheStatus": "MISS",
        "provider": "openai",
        "lastUsedOptionIndex": "0",
        "retryAttemptCount": 3,  # the gateway's retries, summed as the client's are
        "requests": 3,
        "traceIds": ["trace-a", "trace-ccc", "trace-eeeee"],
        "usage": {"prompt_tokens": 5, "total_tokens": 5},
        "model": "text-embedding-3-small",
        "cost": {
            "currency": "USD",
            "total": 0.0000001,
            "input": 0.0000001,
            "output": 0.0,
            "pricing": {"provider": "openai", "model": "text-embedding-3-small", "source": SNAPSHOT},
        },
    }
    assert set(long) > set(short)
    given = service.run(SOURCE, embed_query(TEXTS, batch_size="2", traceId="checkout-42"))["metadata"]
    assert (given["traceId"], given["traceIds"]) == ("checkout-42", ["checkout-42"] * 3)


def test_a_tables_metadata_has_every_key_of_a_single_runs(
    service: QueryService, mock: respx.MockRouter
) -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        response = answer_by_ticket(request)
        headers = {
            "x-portkey-trace-id": response.headers["x-portkey-trace-id"],
            "x-portkey-provider": "openai",
            "x-portkey-cache-status": "HIT",
            "x-portkey-retry-attempt-count": "2",
            "content-type": "application/json",
        }
        return httpx.Response(200, content=response.content, headers=headers)

    mock.post(PROMPT_PATH).mock(side_effect=answer)
    single = service.run(SOURCE, {**table_query(), "rows": "", "variables": json.dumps(TICKETS[0])})[
        "metadata"
    ]
    table = without_seconds(service.run(SOURCE, table_query()))["metadata"]
    assert set(single) == {
        "statusCode",
        "retries",
        "traceId",
        "cacheStatus",
        "provider",
        "retryAttemptCount",
        "usage",
        "model",
        "finishReason",
        "cost",
    }
    assert table == {
        "statusCode": 200,
        "retries": 0,
        "traceId": "trace-25",  # the first row's that succeeded
        "cacheStatus": "HIT",
        "provider": "openai",
        "retryAttemptCount": 6,
        "usage": {"prompt_tokens": 53, "completion_tokens": 6, "total_tokens": 59},
        "model": "gpt-4o-mini",
        "finishReason": "stop",
        "rows": 3,
        "succeeded": 3,
        "failed": 0,
        "skipped": 0,
        # every row a cache hit: nothing billed
        "cost": {
            "currency": "USD",
            "total": 0.0,
            "input": 0.0,
            "output": 0.0,
            "pricing": {
                "provider": "openai",
                "model": "gpt-4o-mini",
                "source": "cache hit: not billed by the provider",
            },
        },
    }
    assert set(table) > set(single)


# ---------------------------------------------------------------------------------------------------
# Async twins


def test_async_rows_give_the_same_result(async_service: AsyncQueryService, mock: respx.MockRouter) -> None:
    mock.post(PROMPT_PATH).mock(side_effect=answer_by_ticket)
    calls: list[tuple[int, int]] = []

    async def run() -> dict[str, Any]:
        return await async_service.run(
            SOURCE, table_query(output="text"), on_progress=lambda d, t: calls.append((d, t))
        )

    result = without_seconds(run_async(run))
    with QueryService() as sync_service:
        assert result == without_seconds(sync_service.run(SOURCE, table_query(output="text")))
    assert [entry["output"] for entry in result["data"]] == ["billing", "shipping", "other"]
    assert calls == [(1, 3), (2, 3), (3, 3)]


def test_async_fail_on_error_names_the_row(async_service: AsyncQueryService, mock: respx.MockRouter) -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        if "parcel" in ticket_of(request):
            return httpx.Response(404, json={"error": {"message": "Prompt not found", "type": "not_found"}})
        return answer_by_ticket(request)

    route = mock.post(PROMPT_PATH).mock(side_effect=answer)
    rows = [*TICKETS, {"ticket": "never sent"}]
    assert run_async(
        lambda: aoutcome(
            lambda: async_service.run(SOURCE, table_query(rows, failOnError="true", concurrency="1"))
        )
    ) == (
        "error",
        (
            FAILED,
            "row 1: Prompt not found",
            {"statusCode": 404, "errorType": "not_found", "traceId": None, "retries": 0, "row": 1},
        ),
    )
    assert route.call_count == 2


def test_async_embeddings_are_merged_as_the_sync_ones(
    async_service: AsyncQueryService, mock: respx.MockRouter
) -> None:
    mock.post(EMBED_PATH).mock(side_effect=embedding_answer)
    result = run_async(
        lambda: async_service.run(SOURCE, embed_query(TEXTS, batch_size="2", output="vectors"))
    )
    assert result["data"] == [[1, 0], [2, 1], [3, 0], [4, 1], [5, 0]]
    assert result["metadata"]["requests"] == 3


def test_async_aclose_mid_run_sends_no_new_row(
    async_service: AsyncQueryService, mock: respx.MockRouter
) -> None:
    route = mock.post(PROMPT_PATH).mock(side_effect=answer_by_ticket)
    rows = [{"ticket": str(i)} for i in range(6)]

    async def run() -> tuple[str, Any]:
        def close_after_first(done: int, total: int) -> None:
            asyncio.get_running_loop().create_task(async_service.aclose())

        return await aoutcome(
            lambda: async_service.run(
                SOURCE, table_query(rows, concurrency="1"), on_progress=close_after_first
            )
        )

    status, (message, _, data) = run_async(run)
    # aclose() runs as its own task: the row after the first may already have started when it does
    assert (status, message, data["errorType"]) == ("error", "Query cancelled", "cancelled")
    assert route.call_count == data["finished"] < 6


def test_cancelling_an_async_run_cancels_its_rows_in_flight_and_leaves_no_task(
    async_service: AsyncQueryService, mock: respx.MockRouter
) -> None:
    async def run() -> list[asyncio.Task[Any]]:
        started = asyncio.Event()
        never = asyncio.Event()

        async def stall(request: httpx.Request) -> httpx.Response:
            started.set()
            await never.wait()
            return answer_by_ticket(request)

        mock.post(PROMPT_PATH).mock(side_effect=stall)
        task = asyncio.ensure_future(async_service.run(SOURCE, table_query(concurrency="2")))
        await asyncio.wait_for(started.wait(), HANG_GUARD)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        return [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]

    assert run_async(run) == []


def test_the_secret_never_reaches_a_rows_error(service: QueryService, mock: respx.MockRouter) -> None:
    mock.post(PROMPT_PATH).respond(401, json={"error": {"message": f"Invalid API key {API_KEY}"}})
    result = service.run(SOURCE, table_query(TICKETS[:1]))
    assert API_KEY not in json.dumps(result)
    assert result["data"][0]["error"]["description"] == "Invalid API key ***"


def test_the_table_machinery_loads_only_when_a_query_needs_it() -> None:
    """A host that never runs a table never imports the runner, its thread pool or asyncio."""
    import subprocess
    import sys

    script = (
        "import sys\n"
        "from tooljet_portkey import QueryService\n"
        "from tooljet_portkey._requests import build_request\n"
        "from tooljet_portkey._options import parse_connection, parse_query\n"
        "build_request(parse_connection({'apiKey': 'k'}), parse_query({'operation': 'prompt_completion', "
        "'promptId': 'p', 'rows': '[{\"a\": 1}]'}))\n"
        "print(sorted(m for m in ('tooljet_portkey._batch', 'tooljet_portkey._run_rows', "
        "'concurrent.futures', 'asyncio') if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
