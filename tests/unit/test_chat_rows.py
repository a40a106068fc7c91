"""Table runs of chat and completion, as a host sees them: a row is the fields that change (a text is
its prompt), laid over the form's; the exact request of every row on the wire; answers checked per row
against the response format's schema; per-row trace ids; every row checked before anything is sent.

The run itself (order, concurrency, failOnError, progress, closing) is the same engine as prompt
completion's (test_rows.py); here, what a chat or completion row adds. Nothing depends on timing.
"""

# Tables of exact messages read best one case per line.
# ruff: noqa: E501

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import respx
from unit_support import BASE_URL, SOURCE, aoutcome, base_headers, outcome, run_async, wire

from tooljet_portkey import AsyncQueryService, QueryError, QueryService

pytestmark = pytest.mark.usefixtures("no_retry_sleep")

INVALID = "Invalid query options"
INVALID_OUTPUT = "The answer is not the output asked for"
CHAT_URL = f"{BASE_URL}/chat/completions"
PERSON = {
    "type": "object",
    "properties": {"name": {"type": "string"}, "age": {"type": "integer"}},
    "required": ["name", "age"],
    "additionalProperties": False,
}
RESPONSE_FORMAT = {
    "type": "json_schema",
    "json_schema": {"name": "response", "schema": PERSON, "strict": True},
}


def chat_table(rows: Any, **fields: Any) -> dict[str, Any]:
    """A chat over ``rows``, as a host sends it (the rows as JSON text)."""
    return {
        "operation": "chat",
        "model": "gpt-4o-mini",
        "rows": rows if isinstance(rows, str) else json.dumps(rows),
        **fields,
    }


def chat_answer(text: str) -> dict[str, Any]:
    return {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "model": "gpt-4o-mini",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 10, "completion_tokens": 2, "total_tokens": 12},
    }


def last_user_text(request: httpx.Request) -> str:
    body = json.loads(request.content)
    if "prompt" in body:
        return str(body["prompt"])
    return str(body["messages"][-1]["content"])


def echo(request: httpx.Request) -> httpx.Response:
    """Portkey's answer to one row: the row's text upper-cased, under the trace id the row sent."""
    trace = request.headers.get("x-portkey-trace-id", "trace-portkey")
    return httpx.Response(
        200, json=chat_answer(last_user_text(request).upper()), headers={"x-portkey-trace-id": trace}
    )


# What the extraction model answers for each ticket: one answer breaks the schema ("forty")
EXTRACTED = {
    "Ada Lovelace, 36": '{"name": "Ada Lovelace", "age": 36}',
    "Alan Turing, forty": '{"name": "Alan Turing", "age": "forty"}',
    "Grace Hopper, 85": '```json\n{"name": "Grace Hopper", "age": 85}\n```',
}


def extract(request: httpx.Request) -> httpx.Response:
    trace = request.headers["x-portkey-trace-id"]
    return httpx.Response(
        200, json=chat_answer(EXTRACTED[last_user_text(request)]), headers={"x-portkey-trace-id": trace}
    )


def without_seconds(result: dict[str, Any]) -> dict[str, Any]:
    seconds = result["metadata"].pop("seconds")
    assert isinstance(seconds, float) and seconds >= 0
    return result


@pytest.fixture
def mock() -> Iterator[respx.MockRouter]:
    with respx.mock(base_url=BASE_URL, assert_all_called=False) as router:
        yield router


# ---------------------------------------------------------------------------------------------------
# The wire


def test_each_row_is_the_forms_query_with_the_rows_fields_laid_over_it(
    service: QueryService, mock: respx.MockRouter
) -> None:
    route = mock.post("/chat/completions").mock(side_effect=echo)
    rows = [
        "My card was charged twice",
        {"prompt": "Where is my parcel?", "temperature": "0.9", "metadata": {"ticket": "17"}},
        {"messages": [{"role": "user", "content": "hi"}], "traceId": "mine"},
    ]
    service.run(
        SOURCE,
        chat_table(
            rows,
            system_prompt="Classify the ticket.",
            message_history='[{"role": "user", "content": "Be brief."}, {"role": "assistant", "content": "OK."}]',
            temperature="0",
            metadata='{"run": "triage"}',
            traceId="triage-7",
            concurrency="1",
        ),
    )
    system = {"role": "system", "content": "Classify the ticket."}
    history = [{"role": "user", "content": "Be brief."}, {"role": "assistant", "content": "OK."}]
    assert [wire(call.request) for call in route.calls] == [
        {
            "method": "POST",
            "url": CHAT_URL,
            "headers": base_headers(
                **{"x-portkey-metadata": '{"run":"triage"}', "x-portkey-trace-id": "triage-7-0"}
            ),
            "json": {
                "model": "gpt-4o-mini",
                "messages": [system, *history, {"role": "user", "content": "My card was charged twice"}],
                "temperature": 0,
            },
        },
        {
            "method": "POST",
            "url": CHAT_URL,
            "headers": base_headers(
                **{"x-portkey-metadata": '{"ticket":"17"}', "x-portkey-trace-id": "triage-7-1"}
            ),
            "json": {
                "model": "gpt-4o-mini",
                "messages": [system, *history, {"role": "user", "content": "Where is my parcel?"}],
                "temperature": 0.9,
            },
        },
        {
            # a row's messages are the whole conversation: the form's history is not added to them
            "method": "POST",
            "url": CHAT_URL,
            "headers": base_headers(
                **{"x-portkey-metadata": '{"run":"triage"}', "x-portkey-trace-id": "mine"}
            ),
            "json": {
                "model": "gpt-4o-mini",
                "messages": [system, {"role": "user", "content": "hi"}],
                "temperature": 0,
            },
        },
    ]


def test_a_completion_row_of_text_is_its_prompt(service: QueryService, mock: respx.MockRouter) -> None:
    route = mock.post("/completions").mock(side_effect=echo)
    query = {
        "operation": "completion",
        "model": "gpt-3.5-turbo-instruct",
        "max_tokens": "5",
        "rows": json.dumps(["Say hi", {"prompt": "Say bye", "max_tokens": 9}]),
        "output": "text",
        "concurrency": "1",
    }
    result = without_seconds(service.run(SOURCE, query))
    assert [json.loads(call.request.content) for call in route.calls] == [
        {"model": "gpt-3.5-turbo-instruct", "prompt": "Say hi", "max_tokens": 5},
        {"model": "gpt-3.5-turbo-instruct", "prompt": "Say bye", "max_tokens": 9},
    ]
    assert result["data"] == [
        # no provider on the connection: a billed row whose cost cannot be told (docs/cost.md)
        {"row": 0, "status": "ok", "output": "SAY HI", "traceId": "trace-portkey", "cost": None},
        {"row": 1, "status": "ok", "output": "SAY BYE", "traceId": "trace-portkey", "cost": None},
    ]


def test_a_table_of_text_is_one_entry_per_row_in_row_order(
    service: QueryService, mock: respx.MockRouter
) -> None:
    mock.post("/chat/completions").mock(side_effect=echo)
    source = {**SOURCE, "provider": "openai"}
    result = without_seconds(service.run(source, chat_table(["a", "b", "c"], output="text", traceId="run-1")))
    # each row: 10 prompt tokens at $0.15 and 2 completion tokens at $0.60 per 1M = $0.0000027
    assert result == {
        "status": "ok",
        "data": [
            {"row": 0, "status": "ok", "output": "A", "traceId": "run-1-0", "cost": 2.7e-06},
            {"row": 1, "status": "ok", "output": "B", "traceId": "run-1-1", "cost": 2.7e-06},
            {"row": 2, "status": "ok", "output": "C", "traceId": "run-1-2", "cost": 2.7e-06},
        ],
        "metadata": {
            "statusCode": 200,
            "traceId": "run-1-0",
            "model": "gpt-4o-mini",
            "finishReason": "stop",
            "cost": {
                "currency": "USD",
                "total": 8.1e-06,
                "input": 4.5e-06,
                "output": 3.6e-06,
                "pricing": {
                    "provider": "openai",
                    "model": "gpt-4o-mini",
                    "source": "Portkey-AI/models 2026-08-21",
                },
            },
            "rows": 3,
            "succeeded": 3,
            "failed": 0,
            "skipped": 0,
            "retries": 0,
            "usage": {"prompt_tokens": 30, "completion_tokens": 6, "total_tokens": 36},
        },
    }


def test_an_entry_has_the_trace_id_its_row_sent_when_the_answer_names_none(
    service: QueryService, mock: respx.MockRouter
) -> None:
    mock.post("/chat/completions").mock(return_value=httpx.Response(200, json=chat_answer("x")))
    result = service.run(
        SOURCE, chat_table(["a", {"prompt": "b", "traceId": "own"}], output="text", traceId="run-2")
    )
    assert [(entry["row"], entry["traceId"]) for entry in result["data"]] == [(0, "run-2-0"), (1, "own")]


def test_a_prompt_completion_row_sends_the_querys_trace_id_with_its_row(
    service: QueryService, mock: respx.MockRouter
) -> None:
    route = mock.post("/prompts/pp-triage/completions").mock(
        side_effect=lambda request: httpx.Response(200, json=chat_answer("x"))
    )
    query = {
        "operation": "prompt_completion",
        "promptId": "pp-triage",
        "rows": '[{"t": 1}, {"t": 2}]',
        "traceId": "tr",
        "concurrency": "1",
    }
    service.run(SOURCE, query)
    assert [call.request.headers["x-portkey-trace-id"] for call in route.calls] == ["tr-0", "tr-1"]


# ---------------------------------------------------------------------------------------------------
# Answers checked per row


def test_each_rows_answer_is_checked_against_the_schema(
    service: QueryService, mock: respx.MockRouter
) -> None:
    route = mock.post("/chat/completions").mock(side_effect=extract)
    query = chat_table(
        list(EXTRACTED),
        system_prompt="Extract the person's name and age.",
        response_format=json.dumps(PERSON),
        output="json",
        traceId="people",
        concurrency="1",
    )
    result = without_seconds(service.run(SOURCE, query))
    assert json.loads(route.calls[0].request.content)["response_format"] == RESPONSE_FORMAT
    assert result == {
        "status": "ok",
        "data": [
            {
                "row": 0,
                "status": "ok",
                "output": {"name": "Ada Lovelace", "age": 36},
                "traceId": "people-0",
                "cost": None,
            },
            {
                "row": 1,
                "status": "failed",
                "error": {
                    "message": INVALID_OUTPUT,
                    "description": "The answer does not follow the response schema: age: must be a whole number",
                    "data": {
                        "statusCode": 200,
                        "errorType": "invalid_output",
                        "traceId": "people-1",
                        "output": '{"name": "Alan Turing", "age": "forty"}',
                    },
                },
            },
            {
                "row": 2,
                "status": "ok",
                "output": {"name": "Grace Hopper", "age": 85},
                "traceId": "people-2",
                "cost": None,
            },
        ],
        "metadata": {
            "statusCode": 200,
            "traceId": "people-0",
            "model": "gpt-4o-mini",
            "finishReason": "stop",
            "cost": None,
            "warnings": [
                "cost: no price for gpt-4o-mini of an unknown provider (Portkey-AI/models 2026-08-21; "
                "set the connection's prices)"
            ],
            "rows": 3,
            "succeeded": 2,
            "failed": 1,
            "skipped": 0,
            "retries": 0,
            "usage": {"prompt_tokens": 20, "completion_tokens": 4, "total_tokens": 24},
        },
    }


def test_a_rows_own_response_format_is_the_one_its_answer_is_checked_against(
    service: QueryService, mock: respx.MockRouter
) -> None:
    mock.post("/chat/completions").mock(side_effect=extract)
    rows = ["Ada Lovelace, 36", {"prompt": "Alan Turing, forty", "response_format": "json_object"}]
    result = service.run(
        SOURCE, chat_table(rows, response_format=json.dumps(PERSON), output="json", traceId="t")
    )
    assert [entry["status"] for entry in result["data"]] == ["ok", "ok"]
    assert result["data"][1]["output"] == {"name": "Alan Turing", "age": "forty"}


def test_the_raw_text_of_a_failed_answer_is_capped(service: QueryService, mock: respx.MockRouter) -> None:
    long = '{"name": "' + "x" * 5000 + '"}'
    mock.post("/chat/completions").mock(return_value=httpx.Response(200, json=chat_answer(long)))
    result = service.run(SOURCE, chat_table(["a"], response_format=json.dumps(PERSON), output="json"))
    error = result["data"][0]["error"]
    assert (error["description"], error["data"]["output"]) == (
        "The answer does not follow the response schema: (the answer): needs 'age'",
        long[:2000],
    )


def test_prompt_completion_rows_are_checked_against_the_prompt_parameters_schema(
    service: QueryService, mock: respx.MockRouter
) -> None:
    answers = iter(['{"name": "Ada", "age": 36}', '{"name": "Alan", "age": "forty"}'])
    mock.post("/prompts/pp-extract/completions").mock(
        side_effect=lambda request: httpx.Response(200, json=chat_answer(next(answers)))
    )
    query = {
        "operation": "prompt_completion",
        "promptId": "pp-extract",
        "rows": '[{"ticket": "Ada, 36"}, {"ticket": "Alan, forty"}]',
        "prompt_parameters": json.dumps({"response_format": RESPONSE_FORMAT}),
        "output": "json",
        "concurrency": "1",
    }
    result = service.run(SOURCE, query)
    assert [
        (entry["status"], entry.get("output"), entry.get("error", {}).get("description"))
        for entry in result["data"]
    ] == [
        ("ok", {"name": "Ada", "age": 36}, None),
        ("failed", None, "The answer does not follow the response schema: age: must be a whole number"),
    ]
    assert (result["metadata"]["succeeded"], result["metadata"]["failed"]) == (1, 1)


def test_a_prompt_parameters_schema_is_refused_as_chats_is() -> None:
    query = {
        "operation": "prompt_completion",
        "promptId": "pp-extract",
        "prompt_parameters": json.dumps(
            {"response_format": {"type": "json_schema", "json_schema": {"schema": {"$ref": "http://x"}}}}
        ),
        "output": "json",
    }
    with QueryService() as service:
        assert outcome(lambda: service.run(SOURCE, query)) == (
            "error",
            (
                INVALID,
                "prompt_parameters.response_format.json_schema.schema: cannot be used here (at schema.$ref: must point inside the schema (a reference starting with #); references to URLs or files are not followed)",
                {"field": "prompt_parameters"},
            ),
        )


# ---------------------------------------------------------------------------------------------------
# Every row checked before anything is sent

BAD_TABLES = [
    (
        chat_table(["a", "b", "c", {"prompt": "d", "temperature": 3}]),
        "rows[3].temperature: must be at most 2",
        "rows",
    ),
    (chat_table([{"prompt": "d", "temperature": "warm"}]), "rows[0].temperature: must be a number", "rows"),
    (
        chat_table([{"prompt": "d", "temprature": 1}]),
        "rows[0].temprature: not a field; did you mean temperature?",
        "rows",
    ),
    (
        chat_table([{"ticket": "My card"}]),
        "rows[0].ticket: not a field of chat (a row is its prompt's text, or an object of chat's fields)",
        "rows",
    ),
    (
        chat_table([{"promptId": "pp-1"}]),
        "rows[0].promptId: not a field of chat (a row is its prompt's text, or an object of chat's fields)",
        "rows",
    ),
    (
        chat_table([{"k" * 65: 1}]),
        "rows[0]: has a key that is not a field of chat (a row is its prompt's text, or an object of chat's fields)",
        "rows",
    ),
    (
        chat_table([{"prompt": "d", "stream": True}]),
        "rows[0].stream: cannot be set per row, only for the whole run",
        "rows",
    ),
    (
        chat_table([{"prompt": "d", "output": "text"}]),
        "rows[0].output: cannot be set per row, only for the whole run",
        "rows",
    ),
    (
        chat_table([{"prompt": "d", "concurrency": 2}]),
        "rows[0].concurrency: cannot be set per row, only for the whole run",
        "rows",
    ),
    (
        chat_table([{"prompt": "d", "rows": []}]),
        "rows[0].rows: cannot be set per row, only for the whole run",
        "rows",
    ),
    (chat_table(["a", {}]), "rows[1].prompt: is required (or give messages)", "rows"),
    (chat_table(["a", {"temperature": None}]), "rows[1].prompt: is required (or give messages)", "rows"),
    (
        chat_table(["a", {"messages": [], "prompt": "b"}]),
        "rows[1].messages: must have at least 1 item",
        "rows",
    ),
    (
        chat_table(["a", {"messages": [{"role": "user", "content": "x"}], "prompt": "b"}]),
        "rows[1].messages: give either messages or prompt, not both",
        "rows",
    ),
    (chat_table(["a", 7]), "rows[1]: must be a JSON object or text", "rows"),
    (chat_table(["a", ""]), "rows[1].prompt: is required (or give messages)", "rows"),
    (chat_table([{"prompt": "a", "metadata": {"k": 1}}]), "rows[0].metadata: a value must be text", "rows"),
    (
        chat_table([{"prompt": "a", "tool_choice": "lookup"}]),
        "rows[0].tool_choice: names no tool in tools (tools: none given)",
        "rows",
    ),
    (chat_table(["a"] * 10_001), "rows: must have at most 10000 items", "rows"),
    (
        chat_table(
            "[1, 2",
        ),
        "rows: is not valid JSON (Expecting ',' delimiter: line 1 column 6 (char 5))",
        "rows",
    ),
    (chat_table(["a"], stream="true"), "stream: a streamed answer cannot be combined with rows", "stream"),
    (
        chat_table(["a"], other_parameters='{"stream": true}'),
        "other_parameters: a streamed answer cannot be combined with rows",
        "other_parameters",
    ),
    (
        chat_table(["a", {"prompt": "b", "other_parameters": {"stream": True}}]),
        "rows[1].other_parameters: a streamed answer cannot be combined with rows",
        "rows",
    ),
    (
        chat_table(["a"], tool_choice="lookup"),
        "tool_choice: names no tool in tools (tools: none given)",
        "tool_choice",
    ),
    ({**chat_table(["a"]), "model": ""}, "rows[0].model: is required", "rows"),
    (
        {"operation": "completion", "model": "m", "rows": '[{"max_tokens": 5}]'},
        "rows[0].prompt: is required",
        "rows",
    ),
    (
        {"operation": "completion", "model": "m", "rows": '[{"system_prompt": "x"}]'},
        "rows[0].system_prompt: not a field of completion (a row is its prompt's text, or an object of completion's fields)",
        "rows",
    ),
    (
        {"operation": "prompt_completion", "promptId": "pp-1", "rows": '["text"]'},
        "rows[0]: must be a JSON object",
        "rows",
    ),
]


@pytest.mark.parametrize(("query", "description", "field"), BAD_TABLES)
def test_bad_rows_are_refused_naming_the_row_and_field_before_anything_is_sent(
    service: QueryService, mock: respx.MockRouter, query: dict[str, Any], description: str, field: str
) -> None:
    route = mock.route().mock(side_effect=echo)
    assert outcome(lambda: service.run(SOURCE, query)) == ("error", (INVALID, description, {"field": field}))
    assert route.calls.call_count == 0


def test_a_chat_without_rows_still_needs_its_prompt(service: QueryService) -> None:
    query = {"operation": "completion", "model": "m"}
    assert outcome(lambda: service.run(SOURCE, query)) == (
        "error",
        (INVALID, "prompt: is required", {"field": "prompt"}),
    )


def test_empty_rows_send_nothing(service: QueryService, mock: respx.MockRouter) -> None:
    route = mock.route().mock(side_effect=echo)
    result = without_seconds(service.run(SOURCE, chat_table([])))
    assert (result["data"], result["metadata"]["rows"], route.calls.call_count) == ([], 0, 0)


def test_stream_refuses_a_chat_of_rows(service: QueryService) -> None:
    assert outcome(lambda: service.stream(SOURCE, chat_table(["a"]))) == (
        "error",
        (INVALID, "stream: a streamed answer cannot be combined with rows", {"field": "stream"}),
    )


def test_fail_on_error_names_the_row(service: QueryService, mock: respx.MockRouter) -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        if last_user_text(request) == "b":
            return httpx.Response(
                400, json={"error": {"message": "Bad prompt", "type": "invalid_request_error"}}
            )
        return echo(request)

    route = mock.post("/chat/completions").mock(side_effect=answer)
    query = chat_table(["a", "b", "c"], failOnError="true", concurrency="1")
    assert outcome(lambda: service.run(SOURCE, query)) == (
        "error",
        (
            "Query could not be completed",
            "row 1: Bad prompt",
            {
                "statusCode": 400,
                "errorType": "invalid_request_error",
                "traceId": None,
                "retries": 0,
                "row": 1,
            },
        ),
    )
    assert route.calls.call_count == 2


def test_async_rows_give_the_same_result(async_service: AsyncQueryService, mock: respx.MockRouter) -> None:
    mock.post("/chat/completions").mock(side_effect=extract)
    query = chat_table(list(EXTRACTED), response_format=json.dumps(PERSON), output="json", traceId="people")
    with QueryService() as service:
        expected = without_seconds(service.run(SOURCE, query))
    result = run_async(lambda: aoutcome(lambda: async_service.run(SOURCE, query)))
    assert result[0] == "ok"
    assert without_seconds(result[1]) == expected


def test_a_chat_table_run_sends_the_forms_fallbacks_with_every_row_and_refuses_them_per_row(
    service: QueryService, mock: respx.MockRouter
) -> None:
    """The run's routing is one config every row sends; a row may not route itself."""
    route = mock.post("/chat/completions").mock(side_effect=echo)
    source = {**SOURCE, "provider": "openai", "providerApiKey": "sk-rows-fallback-1"}
    result = service.run(source, chat_table(["one", "two"], fallbacks="gpt-4o", output="text"))
    assert [entry["output"] for entry in result["data"]] == ["ONE", "TWO"]
    configs = [json.loads(call.request.headers["x-portkey-config"]) for call in route.calls]
    assert [[t["override_params"]["model"] for t in config["targets"]] for config in configs] == [
        ["gpt-4o-mini", "gpt-4o"],
        ["gpt-4o-mini", "gpt-4o"],
    ]
    for key, value in (("fallbacks", "gpt-4o"), ("config", '{"retry": {"attempts": 2}}')):
        with pytest.raises(QueryError) as caught:
            service.run(source, chat_table([{"prompt": "x", key: value}]))
        assert caught.value.description == f"rows[0].{key}: cannot be set per row, only for the whole run"
    assert route.call_count == 2
