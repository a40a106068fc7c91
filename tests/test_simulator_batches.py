"""The simulator's files and batches, through the plugin and raw: upload, create, the statuses over the
batch's time (a test clock, no waiting), answers as the simulator gives them directly, the error file,
a batch failed for bad lines, cancel, and the list's paging."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tooljet_portkey import QueryError, QueryService
from tooljet_portkey.simulator import Simulator

KEY = "pk-sim-batches-1"


class Clock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def sim() -> Iterator[Simulator]:
    with Simulator(batch_seconds=90) as server:
        yield server


@pytest.fixture
def clock(sim: Simulator) -> Clock:
    ticking = Clock()
    sim.batches.clock = ticking
    return ticking


@pytest.fixture
def service() -> Iterator[QueryService]:
    with QueryService() as svc:
        yield svc


def source(sim: Simulator) -> dict[str, Any]:
    return {"apiKey": KEY, "provider": "openai", "gatewayUrl": sim.url, "maxRetries": "0"}


def submit(service: QueryService, sim: Simulator, rows: list[Any], **more: Any) -> dict[str, Any]:
    query = {"operation": "batch_submit", "model": "gpt-4o-mini", "rows": rows, **more}
    return dict(service.run(source(sim), query))


def status(service: QueryService, sim: Simulator, batch_id: str) -> dict[str, Any]:
    return dict(service.run(source(sim), {"operation": "batch_status", "batchId": batch_id})["metadata"])


def test_a_batch_moves_from_validating_to_in_progress_to_completed(
    service: QueryService, sim: Simulator, clock: Clock
) -> None:
    submitted = submit(service, sim, [f"ticket {i}" for i in range(30)], metadata='{"job": "t"}')
    batch_id = submitted["data"]["id"]
    assert (submitted["data"]["status"], submitted["data"]["metadata"]) == ("validating", {"job": "t"})
    progress = lambda meta: (meta["status"], meta["completed"], meta["progress"], meta["finished"])  # noqa: E731
    assert progress(status(service, sim, batch_id)) == ("validating", 0, 0, False)
    clock.now += 60  # a third in validating, then two thirds in progress: half of the lines answered
    assert progress(status(service, sim, batch_id)) == ("in_progress", 15, 50, False)
    with pytest.raises(QueryError) as caught:
        service.run(source(sim), {"operation": "batch_results", "batchId": batch_id})
    assert (caught.value.message, caught.value.description) == (
        "Batch not finished",
        f"batchId: batch {batch_id} is in_progress (15 of 30 requests answered): read its results once "
        "batch_status says completed",
    )
    clock.now += 30
    assert progress(status(service, sim, batch_id)) == ("completed", 30, 100, True)
    result = service.run(source(sim), {"operation": "batch_results", "batchId": batch_id, "output": "text"})
    assert [entry["row"] for entry in result["data"]] == list(range(30))
    assert all(
        entry["status"] == "ok" and entry["output"].startswith("This is a simulated answer")
        for entry in result["data"]
    )
    assert result["metadata"]["succeeded"] == 30


def test_each_line_is_answered_as_the_simulator_answers_it_directly(
    service: QueryService, clock: Clock, sim: Simulator
) -> None:
    rows = [
        "Hello",
        {"prompt": "Hi", "model": "no-such-model"},
        {"prompt": "Hey", "model": "text-embedding-3-small"},
    ]
    batch_id = submit(service, sim, rows)["data"]["id"]
    clock.now += 90
    result = service.run(source(sim), {"operation": "batch_results", "batchId": batch_id, "output": "text"})
    direct = service.run(
        source(sim), {"operation": "chat", "model": "gpt-4o-mini", "prompt": "Hello", "output": "text"}
    )
    entries = result["data"]
    assert (entries[0]["status"], entries[0]["output"]) == ("ok", direct["data"])
    for entry, row in zip(entries[1:], rows[1:], strict=True):
        with pytest.raises(QueryError) as caught:
            service.run(source(sim), {"operation": "chat", "model": "gpt-4o-mini", **row})
        assert entry["status"] == "failed"
        assert (entry["error"]["description"], entry["error"]["data"]["statusCode"]) == (
            caught.value.description,
            caught.value.data["statusCode"],
        )
    batch = service.run(source(sim), {"operation": "batch_status", "batchId": batch_id})["data"]
    assert (batch["request_counts"], bool(batch["output_file_id"]), bool(batch["error_file_id"])) == (
        {"total": 3, "completed": 1, "failed": 2},
        True,
        True,
    )


def raw(sim: Simulator, method: str, path: str, **kwargs: Any) -> httpx.Response:
    headers = {"x-portkey-api-key": KEY, "x-portkey-provider": "openai", **kwargs.pop("headers", {})}
    return httpx.request(method, f"{sim.url}{path}", headers=headers, **kwargs)


def upload(sim: Simulator, content: bytes) -> str:
    answer = raw(sim, "POST", "/files", files={"file": ("in.jsonl", content)}, data={"purpose": "batch"})
    assert answer.status_code == 200
    return str(answer.json()["id"])


def line(custom_id: Any, url: str = "/v1/chat/completions", **more: Any) -> bytes:
    body = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "x"}]}
    return (
        json.dumps({"custom_id": custom_id, "method": "POST", "url": url, "body": body, **more}).encode()
        + b"\n"
    )


def test_bad_lines_fail_the_batch_with_errors_naming_each_line(service: QueryService, sim: Simulator) -> None:
    content = (
        line("a") + b"not json\n" + line("a") + line("b", url="/v1/embeddings") + line("c", method="GET")
    )
    file_id = upload(sim, content)
    created = raw(
        sim,
        "POST",
        "/batches",
        json={"input_file_id": file_id, "endpoint": "/v1/chat/completions", "completion_window": "24h"},
    )
    batch_id = created.json()["id"]
    batch = raw(sim, "GET", f"/batches/{batch_id}").json()
    assert batch["status"] == "failed"
    assert [(error["line"], error["code"]) for error in batch["errors"]["data"]] == [
        (2, "invalid_request"),
        (3, "duplicate_custom_id"),
        (4, "mismatched_endpoint"),
        (5, "invalid_value"),
    ]
    with pytest.raises(QueryError) as caught:
        service.run(source(sim), {"operation": "batch_results", "batchId": batch_id})
    assert caught.value.message == "Batch failed"
    assert caught.value.description.startswith(
        f"batchId: batch {batch_id} failed: line 2: This line is not parseable"
    )


@pytest.mark.parametrize(
    ("body", "status", "message"),
    [
        (
            {"endpoint": "/v1/chat/completions", "completion_window": "24h"},
            400,
            "Missing required parameter: 'input_file_id'.",
        ),
        (
            {"input_file_id": "file-nope", "endpoint": "/v1/chat/completions", "completion_window": "24h"},
            404,
            "No such File object: file-nope",
        ),
        (
            {"input_file_id": "F", "endpoint": "/v1/images/generations", "completion_window": "24h"},
            400,
            "Invalid value: '/v1/images/generations'. Supported values are: /v1/chat/completions, "
            "/v1/completions, /v1/embeddings, /v1/responses.",
        ),
        (
            {"input_file_id": "F", "endpoint": "/v1/chat/completions", "completion_window": "48h"},
            400,
            "Invalid value: '48h'. Supported values are: '24h'.",
        ),
    ],
)
def test_a_batch_is_refused_as_openai_refuses_it(
    sim: Simulator, body: dict[str, Any], status: int, message: str
) -> None:
    if body.get("input_file_id") == "F":
        body = {**body, "input_file_id": upload(sim, line("a"))}
    answer = raw(sim, "POST", "/batches", json=body)
    assert (answer.status_code, answer.json()["error"]["message"]) == (status, message)


def test_files_and_batches_need_the_key_and_a_route(sim: Simulator) -> None:
    no_route = httpx.post(f"{sim.url}/batches", headers={"x-portkey-api-key": KEY}, json={})
    no_key = httpx.get(f"{sim.url}/batches", headers={"x-portkey-provider": "openai"})
    assert (no_route.status_code, no_key.status_code) == (400, 401)


def test_a_cancelled_batch_keeps_the_lines_answered_by_then(
    service: QueryService, sim: Simulator, clock: Clock
) -> None:
    batch_id = submit(service, sim, [f"t{i}" for i in range(30)])["data"]["id"]
    clock.now += 40  # 10 seconds into the 60 of in_progress: 5 lines answered
    cancelled = service.run(source(sim), {"operation": "batch_cancel", "batchId": batch_id})
    assert cancelled["metadata"]["status"] == "cancelling"
    assert status(service, sim, batch_id)["status"] == "cancelled"
    result = service.run(source(sim), {"operation": "batch_results", "batchId": batch_id, "output": "text"})
    assert [entry["row"] for entry in result["data"]] == [0, 1, 2, 3, 4]
    with pytest.raises(QueryError) as caught:
        service.run(source(sim), {"operation": "batch_cancel", "batchId": batch_id})
    assert (caught.value.description, caught.value.data["statusCode"]) == (
        "Cannot cancel a batch with status 'cancelled'.",
        409,
    )


def test_the_list_pages_newest_first(sim: Simulator) -> None:
    file_id = upload(sim, line("a"))
    body = {"input_file_id": file_id, "endpoint": "/v1/chat/completions", "completion_window": "24h"}
    ids = [raw(sim, "POST", "/batches", json=body).json()["id"] for _ in range(3)]
    first = raw(sim, "GET", "/batches", params={"limit": "2"}).json()
    assert ([b["id"] for b in first["data"]], first["has_more"]) == ([ids[2], ids[1]], True)
    rest = raw(sim, "GET", "/batches", params={"limit": "2", "after": first["last_id"]}).json()
    assert ([b["id"] for b in rest["data"]], rest["has_more"]) == ([ids[0]], False)
    assert raw(sim, "GET", "/batches", params={"limit": "0"}).status_code == 400


def test_a_file_comes_back_as_it_was_uploaded(sim: Simulator) -> None:
    content = line("a") + line("b")
    file_id = upload(sim, content)
    assert raw(sim, "GET", f"/files/{file_id}/content").content == content
    assert raw(sim, "GET", f"/files/{file_id}").json()["bytes"] == len(content)
    assert raw(sim, "GET", "/files/file-nope/content").status_code == 404


def test_five_thousand_rows_go_through_and_come_back_in_order(
    service: QueryService, sim: Simulator, clock: Clock
) -> None:
    rows = [{"custom_id": f"T-{4999 - i}", "prompt": f"ticket {i}"} for i in range(5_000)]
    batch_id = submit(service, sim, rows, max_tokens="3")["data"]["id"]
    clock.now += 90
    result = service.run(source(sim), {"operation": "batch_results", "batchId": batch_id, "output": "text"})
    assert [entry["customId"] for entry in result["data"]] == [f"T-{4999 - i}" for i in range(5_000)]
    assert [entry["row"] for entry in result["data"]] == list(range(5_000))
    assert result["metadata"]["succeeded"] == 5_000
