"""Batch jobs on the wire: what batch_submit uploads and creates, what status, results and cancel send and
return, and every refusal before anything is sent (the limits at their own sizes, 50,000 rows and
200 MB, are tests/scale/test_batch_job_sizes.py)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import respx
from batch_support import (
    FILE,
    answer_line,
    batch,
    headers,
    jsonl,
    lines_of,
    parts,
    refusal,
    results_routes,
    service,
    submit_routes,
)
from unit_support import API_KEY, BASE_URL, FULL_BATCH_QUERIES, SOURCE, run_async

from tooljet_portkey import AsyncQueryService, QueryError, QueryService
from tooljet_portkey._batch_jobs import JsonLines, batch_counts, default_row

__all__ = ["service"]  # a fixture (batch_support): one service for the module's tests
pytestmark = [
    pytest.mark.respx(base_url=BASE_URL, assert_all_called=False),
    pytest.mark.usefixtures("no_retry_sleep"),
]


# ---------------------------------------------------------------------------------------------------
# batch_submit


def test_submit_uploads_one_line_per_row_then_creates_the_batch(
    service: QueryService, respx_mock: respx.MockRouter
) -> None:
    upload, create = submit_routes(respx_mock)
    result = service.run({**SOURCE, "provider": "openai"}, FULL_BATCH_QUERIES[0])
    sent = upload.calls.last.request
    assert (sent.method, str(sent.url)) == ("POST", f"{BASE_URL}/files")
    routed = headers(
        **{
            "x-portkey-provider": "openai",
            "x-portkey-config": "pc-batch",
            "x-portkey-virtual-key": "vk-openai",
        }
    )
    assert {k: v for k, v in sent.headers.items() if k in routed} == routed
    assert sent.headers["content-type"].startswith("multipart/form-data; boundary=")
    form = parts(sent)
    assert form["purpose"] == (None, "text/plain", "batch")
    assert form["file"][:2] == ("batch.jsonl", "application/jsonl")
    schema = {"type": "object", "properties": {"label": {"type": "string"}}}
    common = {
        "model": "gpt-4o-mini",
        "max_tokens": 5,
        "stop": ["END"],
        "response_format": {
            "type": "json_schema",
            "json_schema": {"name": "response", "schema": schema, "strict": True},
        },
        "seed": 7,
    }
    system = {"role": "system", "content": "Classify the ticket: billing, bug or other."}
    assert lines_of(sent) == [
        {
            "custom_id": "row-0",
            "method": "POST",
            "url": "/v1/chat/completions",
            "body": {
                **common,
                "temperature": 0,
                "messages": [system, {"role": "user", "content": "I was charged twice"}],
            },
        },
        {
            "custom_id": "T-2",
            "method": "POST",
            "url": "/v1/chat/completions",
            "body": {
                **common,
                "temperature": 0.5,
                "messages": [system, {"role": "user", "content": "App crashes"}],
            },
        },
    ]
    created = create.calls.last.request
    assert json.loads(created.read()) == {
        "input_file_id": "file-in1",
        "endpoint": "/v1/chat/completions",
        "completion_window": "24h",
        "metadata": {"job": "tickets-2026-11"},
    }
    assert created.headers["x-portkey-config"] == "pc-batch"
    assert "x-portkey-metadata" not in created.headers  # the batch's metadata is its body's
    assert result["data"] == batch(counts=(0, 0, 0))
    assert result["metadata"]["batch"] == {"id": "batch_abc123", "inputFileId": "file-in1", "rows": 2}
    assert (result["metadata"]["status"], result["metadata"]["finished"]) == ("validating", False)


@pytest.mark.parametrize(
    ("endpoint", "row", "url", "body"),
    [
        ("completion", "Say hi", "/v1/completions", {"model": "m", "prompt": "Say hi"}),
        ("embedding", "hello", "/v1/embeddings", {"model": "m", "input": "hello"}),
        ("embedding", {"input": ["a", "b"]}, "/v1/embeddings", {"model": "m", "input": ["a", "b"]}),
    ],
)
def test_the_endpoint_field_chooses_each_lines_request(
    service: QueryService, respx_mock: respx.MockRouter, endpoint: str, row: Any, url: str, body: Any
) -> None:
    upload, create = submit_routes(respx_mock)
    service.run(SOURCE, {"operation": "batch_submit", "endpoint": endpoint, "model": "m", "rows": [row]})
    assert lines_of(upload.calls.last.request) == [
        {"custom_id": "row-0", "method": "POST", "url": url, "body": body}
    ]
    assert json.loads(create.calls.last.request.read())["endpoint"] == url


@pytest.mark.parametrize(
    ("options", "description"),
    [
        ({"rows": "[]"}, "rows: must have at least 1 item"),
        (
            {"rows": ["a", {"custom_id": "row-0", "prompt": "b"}]},
            'rows[1].custom_id: "row-0" is also rows[0]\'s: custom ids must be unique',
        ),
        (
            {"rows": [{"custom_id": "", "prompt": "b"}]},
            "rows[0].custom_id: must be a text of 1 to 512 characters, without control characters",
        ),
        (
            {"rows": [{"custom_id": 7, "prompt": "b"}]},
            "rows[0].custom_id: must be a text of 1 to 512 characters, without control characters",
        ),
        ({"rows": [{"temperature": 3, "prompt": "b"}]}, "rows[0].temperature: must be at most 2"),
        ({"rows": [{"temperature": 1}]}, "rows[0].prompt: is required (or give messages)"),
        (
            {"rows": [{"metadata": {"a": "b"}, "prompt": "b"}]},
            "rows[0].metadata: cannot be set per row, only for the whole run",
        ),
        (
            {"rows": ["a"], "endpoint": "embedding", "system_prompt": "x"},
            "system_prompt: is not a field of embedding requests (endpoint: embedding)",
        ),
        ({"rows": ["a"], "endpoint": "images"}, "endpoint: must be one of: chat, completion, embedding"),
        (
            {"rows": ["a"], "completion_window": "soon"},
            "completion_window: must be a number of hours such as 24h (OpenAI takes 24h only)",
        ),
        (
            {"rows": ["a"], "metadata": json.dumps({f"k{i}": "v" for i in range(17)})},
            "metadata: must have at most 16 keys",
        ),
    ],
)
def test_a_bad_submit_names_the_field_and_sends_nothing(
    service: QueryService, respx_mock: respx.MockRouter, options: dict[str, Any], description: str
) -> None:
    route = respx_mock.route().respond(200, json=FILE)
    query = {"operation": "batch_submit", "model": "gpt-4o-mini", **options}
    message, said, data = refusal(service, query)
    assert (message, said, data["field"]) == (
        "Invalid query options",
        description,
        description.split(":")[0].split("[")[0].split(".")[0],
    )
    assert route.call_count == 0


def test_submit_fails_as_a_query_when_the_upload_is_refused(
    service: QueryService, respx_mock: respx.MockRouter
) -> None:
    respx_mock.post("/files").respond(
        401,
        json={"error": {"message": "Invalid API key pk-test-0123456789", "type": "invalid_request_error"}},
    )
    create = respx_mock.post("/batches").respond(200, json=batch())
    message, description, data = refusal(service, {"operation": "batch_submit", "model": "m", "rows": ["a"]})
    assert (message, description, data["statusCode"]) == (
        "Query could not be completed",
        "Invalid API key ***",
        401,
    )
    assert create.call_count == 0


# ---------------------------------------------------------------------------------------------------
# batch_status, batch_cancel


def test_status_gives_the_batch_and_a_progress_bars_counts(
    service: QueryService, respx_mock: respx.MockRouter
) -> None:
    route = respx_mock.get("/batches/batch_abc123").respond(
        200, json=batch("in_progress", counts=(200, 50, 10))
    )
    result = service.run(
        SOURCE, {"operation": "batch_status", "batchId": "batch_abc123", "config": "pc-batch"}
    )
    assert route.calls.last.request.headers["x-portkey-config"] == "pc-batch"
    assert result["data"] == batch("in_progress", counts=(200, 50, 10))
    assert {
        k: result["metadata"][k] for k in ("status", "total", "completed", "failed", "progress", "finished")
    } == {
        "status": "in_progress",
        "total": 200,
        "completed": 50,
        "failed": 10,
        "progress": 30,
        "finished": False,
    }


def test_cancel_posts_to_the_batchs_cancel(service: QueryService, respx_mock: respx.MockRouter) -> None:
    route = respx_mock.post("/batches/batch_abc123/cancel").respond(200, json=batch("cancelling"))
    result = service.run(SOURCE, {"operation": "batch_cancel", "batchId": "batch_abc123"})
    assert (route.calls.last.request.read(), result["data"]["status"], result["metadata"]["status"]) == (
        b"",
        "cancelling",
        "cancelling",
    )


@pytest.mark.parametrize("batch_id", ["../files", "batch abc", "a/b", "a?b"])
def test_a_batch_id_that_is_no_id_is_refused(
    service: QueryService, respx_mock: respx.MockRouter, batch_id: str
) -> None:
    route = respx_mock.route().respond(200, json=batch())
    message, description, data = refusal(service, {"operation": "batch_status", "batchId": batch_id})
    assert (message, description.split(":")[0], data) == (
        "Invalid query options",
        "batchId",
        {"field": "batchId"},
    )
    assert route.call_count == 0


def test_counts_bind_a_progress_bar() -> None:
    assert batch_counts({"status": "completed", "request_counts": {"total": 0}})["progress"] == 100
    assert batch_counts({"status": "validating"}) == {
        "status": "validating",
        "total": 0,
        "completed": 0,
        "failed": 0,
        "progress": 0,
        "finished": False,
    }
    assert batch_counts("not a batch")["status"] == "unknown"


# ---------------------------------------------------------------------------------------------------
# batch_results


def test_results_are_rows_in_submit_order_with_the_output_mode_applied(
    service: QueryService, respx_mock: respx.MockRouter
) -> None:
    failed = {
        "id": "r",
        "custom_id": "row-1",
        "error": None,
        "response": {
            "status_code": 400,
            "request_id": "q",
            "body": {"error": {"message": "max_tokens is too large", "type": "invalid_request_error"}},
        },
    }
    results_routes(
        respx_mock,
        [answer_line("row-2", '{"label": "bug"}'), answer_line("row-0", '{"label": "billing"}')],
        [failed],
    )
    result = service.run(SOURCE, FULL_BATCH_QUERIES[1])
    usage = {"prompt_tokens": 10, "completion_tokens": 2, "total_tokens": 12}
    # gpt-4o-mini at batch prices: 10 x $0.075 + 2 x $0.30 per 1M tokens
    cost = 0.00000135
    assert result["data"] == [
        {
            "row": 0,
            "customId": "row-0",
            "status": "ok",
            "output": {"label": "billing"},
            "usage": usage,
            "cost": cost,
        },
        {
            "row": 1,
            "customId": "row-1",
            "status": "failed",
            "error": {
                "message": "Query could not be completed",
                "description": "max_tokens is too large",
                "data": {
                    "statusCode": 400,
                    "errorType": "invalid_request_error",
                    "traceId": None,
                    "retries": 0,
                },
            },
        },
        {
            "row": 2,
            "customId": "row-2",
            "status": "ok",
            "output": {"label": "bug"},
            "usage": usage,
            "cost": cost,
        },
    ]
    meta = result["metadata"]
    assert {k: meta[k] for k in ("rows", "succeeded", "failed", "status", "usage", "batch")} == {
        "rows": 3,
        "succeeded": 2,
        "failed": 1,
        "status": "completed",
        "usage": {"prompt_tokens": 20, "completion_tokens": 4, "total_tokens": 24},
        "batch": {"id": "batch_abc123"},
    }


def test_a_json_answer_that_breaks_the_schema_fails_its_row_only(
    service: QueryService, respx_mock: respx.MockRouter
) -> None:
    results_routes(
        respx_mock, [answer_line("row-0", '{"label": "refund"}'), answer_line("row-1", "not json")]
    )
    schema = '{"type": "object", "properties": {"label": {"enum": ["billing", "bug"]}}}'
    result = service.run(
        SOURCE,
        {
            "operation": "batch_results",
            "batchId": "batch_abc123",
            "output": "json",
            "response_format": schema,
        },
    )
    assert [(e["row"], e["status"], e["error"]["description"][:40]) for e in result["data"]] == [
        (0, "failed", "The answer does not follow the response "),
        (1, "failed", "The answer is not valid JSON (Expecting "),
    ]


def test_rows_with_their_own_custom_ids_are_put_in_order_from_the_input_file(
    service: QueryService, respx_mock: respx.MockRouter
) -> None:
    results_routes(respx_mock, [answer_line("T-9", "b"), answer_line("row-1", "a"), answer_line("T-1", "c")])
    submitted = [{"custom_id": "T-1"}, {"custom_id": "row-1"}, {"custom_id": "T-9"}]
    input_file = respx_mock.get("/files/file-in1/content").respond(200, content=jsonl(submitted))
    result = service.run(SOURCE, {"operation": "batch_results", "batchId": "batch_abc123", "output": "text"})
    assert [(e["row"], e["customId"], e["output"]) for e in result["data"]] == [
        (0, "T-1", "c"),
        (1, "row-1", "a"),
        (2, "T-9", "b"),
    ]
    assert input_file.call_count == 1


def test_rows_with_default_ids_need_no_input_file(
    service: QueryService, respx_mock: respx.MockRouter
) -> None:
    results_routes(respx_mock, [answer_line("row-1", "a"), answer_line("row-0", "b")])
    input_file = respx_mock.get("/files/file-in1/content").respond(200, content=b"")
    result = service.run(SOURCE, {"operation": "batch_results", "batchId": "batch_abc123", "output": "text"})
    assert [(e["row"], e["output"]) for e in result["data"]] == [(0, "b"), (1, "a")]
    assert input_file.call_count == 0


@pytest.mark.parametrize("status", ["validating", "in_progress", "finalizing", "cancelling"])
def test_results_of_a_batch_not_finished_are_an_error_naming_its_status(
    service: QueryService, respx_mock: respx.MockRouter, status: str
) -> None:
    respx_mock.get("/batches/batch_abc123").respond(200, json=batch(status, counts=(10, 3, 1)))
    files = respx_mock.get(url__regex=r".*/files/.*").respond(200, content=b"")
    assert refusal(service, {"operation": "batch_results", "batchId": "batch_abc123"}) == (
        "Batch not finished",
        f"batchId: batch batch_abc123 is {status} (4 of 10 requests answered): read its results once "
        "batch_status says completed",
        {"status": status, "errorType": "batch_not_finished", "statusCode": 200, "traceId": None},
    )
    assert files.call_count == 0


def test_a_key_pasted_as_the_batch_id_is_not_quoted_back(
    service: QueryService, respx_mock: respx.MockRouter
) -> None:
    status = respx_mock.get(f"/batches/{API_KEY}").respond(200, json=batch("in_progress"))
    description = refusal(service, {"operation": "batch_results", "batchId": API_KEY})[1]
    assert status.call_count == 1 and API_KEY not in description
    assert description.startswith("batchId: batch *** is in_progress")


def test_results_of_a_batch_that_failed_validation_give_its_errors(
    service: QueryService, respx_mock: respx.MockRouter
) -> None:
    errors = {
        "object": "list",
        "data": [
            {
                "code": "duplicate_custom_id",
                "message": "The custom_id is a duplicate.",
                "param": "custom_id",
                "line": 2,
            }
        ],
    }
    respx_mock.get("/batches/batch_abc123").respond(200, json=batch("failed", errors=errors))
    message, description, data = refusal(service, {"operation": "batch_results", "batchId": "batch_abc123"})
    assert (message, description, data) == (
        "Batch failed",
        "batchId: batch batch_abc123 failed: line 2: The custom_id is a duplicate.",
        {"status": "failed", "errorType": "batch_failed", "statusCode": 200, "traceId": None},
    )


def test_a_results_file_past_the_answer_cap_is_a_query_error(
    service: QueryService, respx_mock: respx.MockRouter
) -> None:
    results_routes(respx_mock, [answer_line(f"row-{i}", "x" * 1000) for i in range(2_000)])
    with pytest.raises(QueryError) as caught:
        service.run(
            {**SOURCE, "maxResponseMiB": "1"}, {"operation": "batch_results", "batchId": "batch_abc123"}
        )
    assert (caught.value.description, caught.value.data["errorType"]) == (
        "Portkey's answer is larger than 1 MiB (the connection's maxResponseMiB) and was not read further",
        "response_too_large",
    )


def test_json_lines_skip_blank_lines_and_mark_broken_ones_wherever_the_pieces_break() -> None:
    content = b'{"a": 1}\n\n  \nnot json\n{"b": NaN}\r\n{"c": "\xc3\xa9"}\n[1]'
    for cut in range(len(content) + 1):
        lines = JsonLines()
        lines.feed(content[:cut])
        lines.feed(content[cut:])
        lines.end()
        assert lines.items == [{"a": 1}, None, None, {"c": "\u00e9"}, [1]], cut
    one_by_one = JsonLines()
    for byte in content:
        one_by_one.feed(bytes([byte]))
    one_by_one.end()
    assert one_by_one.items == [{"a": 1}, None, None, {"c": "\u00e9"}, [1]]


class Pieces(httpx.SyncByteStream):
    """A body sent in small pieces; with ``broken``, the connection drops after that many bytes."""

    def __init__(self, content: bytes, size: int, broken: int | None = None) -> None:
        self.content, self.size, self.broken = content, size, broken
        self.sent = 0

    def __iter__(self) -> Iterator[bytes]:
        for start in range(0, len(self.content), self.size):
            if self.broken is not None and start >= self.broken:
                raise httpx.ReadError("connection reset")
            self.sent += 1
            yield self.content[start : start + self.size]


def test_a_results_file_sent_in_small_pieces_is_read_line_by_line_and_a_retried_read_starts_over(
    service: QueryService, respx_mock: respx.MockRouter, no_retry_sleep: list[float]
) -> None:
    count = 300
    content = jsonl([answer_line(f"row-{i}", f"label {i}") for i in range(count)])
    results_routes(respx_mock, [])
    broken, whole = Pieces(content, 7, broken=len(content) // 2), Pieces(content, 7)
    route = respx_mock.get("/files/file-out/content")
    route.side_effect = [httpx.Response(200, stream=broken), httpx.Response(200, stream=whole)]
    result = service.run(
        {**SOURCE, "maxRetries": "1"},
        {"operation": "batch_results", "batchId": "batch_abc123", "output": "text"},
    )
    assert route.call_count == 2 and broken.sent > 100 and whole.sent == -(-len(content) // 7)
    assert [(e["row"], e["output"]) for e in result["data"]] == [(i, f"label {i}") for i in range(count)]
    assert result["metadata"]["rows"] == result["metadata"]["succeeded"] == count
    assert len(no_retry_sleep) == 1  # the one retry's pause
    no_retry_sleep.clear()


@pytest.mark.parametrize(
    ("custom_id", "row"),
    [
        ("row-0", 0),
        ("row-12", 12),
        ("row-012", None),
        ("row-", None),
        ("row-1a", None),
        ("T-1", None),
        ("row-\u0663", None),
    ],
)
def test_only_a_default_custom_id_says_its_row(custom_id: str, row: int | None) -> None:
    assert default_row(custom_id) == row


# ---------------------------------------------------------------------------------------------------
# asyncio


def test_the_async_service_submits_and_reads_results_alike(respx_mock: respx.MockRouter) -> None:
    upload, _ = submit_routes(respx_mock)
    results_routes(respx_mock, [answer_line("row-0", "ok")])

    async def both() -> tuple[Any, Any]:
        async with AsyncQueryService() as service:
            submitted = await service.run(SOURCE, {"operation": "batch_submit", "model": "m", "rows": ["a"]})
            read = await service.run(
                SOURCE, {"operation": "batch_results", "batchId": "batch_abc123", "output": "text"}
            )
            return submitted, read

    submitted, read = run_async(both)
    assert submitted["metadata"]["batch"] == {"id": "batch_abc123", "inputFileId": "file-in1", "rows": 1}
    assert lines_of(upload.calls.last.request)[0]["custom_id"] == "row-0"
    assert [(e["row"], e["output"]) for e in read["data"]] == [(0, "ok")]


# ---------------------------------------------------------------------------------------------------
# the rows' cost, at the batch prices


def test_each_row_costs_the_batch_price_and_the_run_their_exact_sum(
    service: QueryService, respx_mock: respx.MockRouter
) -> None:
    usage = {"prompt_tokens": 1_000, "completion_tokens": 200, "total_tokens": 1_200}
    results_routes(respx_mock, [answer_line(f"row-{i}", "a", usage) for i in range(3)])
    result = service.run(SOURCE, {"operation": "batch_results", "batchId": "batch_abc123", "output": "text"})
    # half of the $0.00027 the same answer costs from chat (docs/cost.md)
    assert [entry["cost"] for entry in result["data"]] == [0.000135, 0.000135, 0.000135]
    assert result["metadata"]["cost"] == {
        "currency": "USD",
        "total": 0.000405,
        "input": 0.000225,
        "output": 0.00018,
        "pricing": {
            "provider": "openai",
            "model": "gpt-4o-mini-2024-07-18",
            "source": "Portkey-AI/models 2026-08-21",
            "prices": "batch",
        },
    }
    assert "warnings" not in result["metadata"]


def test_cached_input_of_a_batch_row_is_charged_at_the_batch_cache_price(
    service: QueryService, respx_mock: respx.MockRouter
) -> None:
    usage = {
        "prompt_tokens": 2_000,
        "completion_tokens": 0,
        "total_tokens": 2_000,
        "prompt_tokens_details": {"cached_tokens": 1_000},
    }
    results_routes(respx_mock, [answer_line("row-0", "a", usage, model="gpt-5-mini-2025-08-07")])
    result = service.run(SOURCE, {"operation": "batch_results", "batchId": "batch_abc123", "output": "text"})
    # gpt-5-mini's batch prices (its dated snapshot's are the alias's): $0.125 per 1M input tokens,
    # $0.0125 per 1M cached ones
    assert result["metadata"]["cost"]["input"] == 0.0001375


def test_the_connections_batch_prices_win_and_a_model_named_without_them_is_unpriced(
    service: QueryService, respx_mock: respx.MockRouter
) -> None:
    usage = {"prompt_tokens": 1_000_000, "completion_tokens": 1_000_000, "total_tokens": 2_000_000}
    results_routes(
        respx_mock,
        [answer_line("row-0", "a", usage, model="my-llama"), answer_line("row-1", "b", usage)],
    )
    prices = {
        "my-llama": {"input": 0.3, "output": 0.6, "batchInput": 0.1, "batchOutput": 0.2},
        "gpt-4o-mini-2024-07-18": {"input": 0.15, "output": 0.6},
    }
    result = service.run(
        {**SOURCE, "prices": json.dumps(prices)},
        {"operation": "batch_results", "batchId": "batch_abc123", "output": "text"},
    )
    assert [entry["cost"] for entry in result["data"]] == [0.3, None]
    assert result["metadata"]["cost"] is None  # one row could not be priced: no total, never a guess
    assert result["metadata"]["warnings"] == [
        "cost: gpt-4o-mini-2024-07-18: the price list has no batch price for it"
    ]


@pytest.mark.parametrize(
    ("provider", "model", "warning"),
    [
        (
            None,
            "gpt-4o-mini-2024-07-18",
            "cost: no price for gpt-4o-mini-2024-07-18 of an unknown provider "
            "(Portkey-AI/models 2026-08-21; set the connection's prices)",
        ),
        ("openai", "chatgpt-4o-latest", "cost: chatgpt-4o-latest: the price list has no batch price for it"),
    ],
)
def test_a_row_with_no_batch_price_has_no_cost_and_a_warning_once(
    service: QueryService, respx_mock: respx.MockRouter, provider: str | None, model: str, warning: str
) -> None:
    results_routes(
        respx_mock, [answer_line(f"row-{i}", "a", model=model) for i in range(2)], provider=provider
    )
    result = service.run(SOURCE, {"operation": "batch_results", "batchId": "batch_abc123", "output": "text"})
    assert [entry["cost"] for entry in result["data"]] == [None, None]
    assert result["metadata"]["cost"] is None
    assert result["metadata"]["warnings"] == [warning]
