"""Batch jobs at the limits' own sizes: 50,000 rows uploaded whole and one more refused, a file past
200 MB refused before it is uploaded, and a results file of 20,000 lines read line by line. The same
operations at everyday sizes are in tests/unit/test_batch_jobs.py."""

from __future__ import annotations

import functools
import json

import pytest
import respx
from batch_support import (
    FILE,
    answer_line,
    lines_of,
    refusal,
    results_routes,
    rows_schema,
    service,
    submit_routes,
)
from unit_support import BASE_URL, SOURCE

from tooljet_portkey import QueryService
from tooljet_portkey._constants import MAX_BATCH_FILE_BYTES, MAX_BATCH_REQUESTS

__all__ = ["service"]  # a fixture (batch_support): one service for the module's tests
pytestmark = [
    pytest.mark.respx(base_url=BASE_URL, assert_all_called=False),
    pytest.mark.usefixtures("no_retry_sleep"),
]


def test_the_request_limit_is_50000_rows_checked_before_anything_is_sent(
    service: QueryService, respx_mock: respx.MockRouter
) -> None:
    assert rows_schema()["maxItems"] == MAX_BATCH_REQUESTS == 50_000  # the form's limit is the constant
    upload, _ = submit_routes(respx_mock)
    too_many = {"operation": "batch_submit", "model": "gpt-4o-mini", "rows": ["t"] * (MAX_BATCH_REQUESTS + 1)}
    assert refusal(service, too_many)[1] == "rows: must have at most 50000 items"
    assert upload.call_count == 0
    service.run(SOURCE, {**too_many, "rows": [f"ticket {i}" for i in range(MAX_BATCH_REQUESTS)]})
    lines = lines_of(upload.calls.last.request)
    assert len(lines) == 50_000
    assert lines[-1]["custom_id"] == "row-49999"
    assert lines[-1]["body"]["messages"] == [{"role": "user", "content": "ticket 49999"}]


def test_a_file_past_200_mb_is_refused_before_it_is_uploaded(
    service: QueryService, respx_mock: respx.MockRouter
) -> None:
    route = respx_mock.route().respond(200, json=FILE)
    # 4,000 rows of 50,000 characters: about 50,100 bytes a line, 200.4 MB in all
    text = "x" * 50_000

    @functools.cache
    def line_size(custom_id_length: int) -> int:
        # the lines differ only in their custom ids: lines whose ids are as long are as long, so each
        # length is encoded once (encoding all 4,000 lines was most of this test's time)
        line = {
            "custom_id": "row-".ljust(custom_id_length, "0"),
            "method": "POST",
            "url": "/v1/chat/completions",
            "body": {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": text}]},
        }
        return len(json.dumps(line, separators=(",", ":"))) + 1

    sizes = [line_size(len(f"row-{i}")) for i in range(4_000)]
    first_over = next(i for i in range(4_000) if sum(sizes[: i + 1]) > MAX_BATCH_FILE_BYTES)
    message, description, data = refusal(
        service, {"operation": "batch_submit", "model": "gpt-4o-mini", "rows": [text] * 4_000}
    )
    assert (message, description, data) == (
        "Invalid query options",
        "rows: the batch file would be larger than 200 MB, the most a batch file may hold "
        f"(at rows[{first_over}]): "
        "split the rows into several batches",
        {"field": "rows"},
    )
    assert route.call_count == 0
    assert first_over == 3988  # the rows before it fit: a file of exactly those is accepted


def test_a_results_file_of_thousands_of_lines_is_read_line_by_line(
    service: QueryService, respx_mock: respx.MockRouter
) -> None:
    count = 20_000
    results_routes(respx_mock, [answer_line(f"row-{i}", f"label {i}") for i in reversed(range(count))])
    result = service.run(SOURCE, {"operation": "batch_results", "batchId": "batch_abc123", "output": "text"})
    assert [e["output"] for e in result["data"]] == [f"label {i}" for i in range(count)]
    assert result["metadata"]["usage"] == {
        "prompt_tokens": 10 * count,
        "completion_tokens": 2 * count,
        "total_tokens": 12 * count,
    }
