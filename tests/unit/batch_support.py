"""What the batch job tests share (tests/unit/test_batch_jobs.py and tests/scale/test_batch_job_sizes.py):
Portkey's file and batch answers, the routes that serve them, and a multipart upload read as a user
checks it."""

from __future__ import annotations

import json
from collections.abc import Iterator
from email.parser import BytesParser
from email.policy import HTTP
from importlib import resources
from typing import Any

import httpx
import pytest
import respx
from unit_support import API_KEY, SOURCE

from tooljet_portkey import QueryError, QueryService


@pytest.fixture(scope="module")
def service() -> Iterator[QueryService]:
    """One service for a test module (its tests mock the gateway each for themselves)."""
    with QueryService() as svc:
        yield svc


FILE = {"id": "file-in1", "object": "file", "bytes": 10, "purpose": "batch", "filename": "batch.jsonl"}


def batch(status: str = "validating", **more: Any) -> dict[str, Any]:
    counts = more.pop("counts", (0, 0, 0))
    return {
        "id": "batch_abc123",
        "object": "batch",
        "endpoint": "/v1/chat/completions",
        "input_file_id": "file-in1",
        "completion_window": "24h",
        "status": status,
        "output_file_id": None,
        "error_file_id": None,
        "request_counts": dict(zip(("total", "completed", "failed"), counts, strict=True)),
        **more,
    }


def headers(**extra: str) -> dict[str, str]:
    return {
        "user-agent": "tooljet-portkey",
        "x-portkey-api-key": API_KEY,
        "accept": "application/json",
        **extra,
    }


def parts(request: httpx.Request) -> dict[str, Any]:
    """A multipart body as a user checks it: each part's name, file name, type and text."""
    content = request.read()
    message = BytesParser(policy=HTTP).parsebytes(
        b"content-type: " + request.headers["content-type"].encode() + b"\r\n\r\n" + content
    )
    found = {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        payload = part.get_payload(decode=True)
        found[name] = (part.get_filename(), part.get_content_type(), payload.decode())
    return found


def lines_of(request: httpx.Request) -> list[Any]:
    return [json.loads(line) for line in parts(request)["file"][2].splitlines()]


def submit_routes(respx_mock: respx.MockRouter) -> tuple[respx.Route, respx.Route]:
    upload = respx_mock.post("/files").respond(200, json=FILE)
    create = respx_mock.post("/batches").respond(200, json=batch(counts=(0, 0, 0)))
    return upload, create


def refusal(service: QueryService, query: dict[str, Any]) -> tuple[str, str, Any]:
    with pytest.raises(QueryError) as caught:
        service.run(SOURCE, query)
    return caught.value.message, caught.value.description, caught.value.data


def rows_schema() -> Any:
    text = resources.files("tooljet_portkey").joinpath("operations.json").read_text("utf-8")
    return json.loads(text)["definitions"]["batchRows"]


def answer_line(
    custom_id: str, text: str, usage: dict[str, Any] | None = None, model: str = "gpt-4o-mini-2024-07-18"
) -> dict[str, Any]:
    body = {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "model": model,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
        "usage": usage or {"prompt_tokens": 10, "completion_tokens": 2, "total_tokens": 12},
    }
    return {
        "id": "r",
        "custom_id": custom_id,
        "response": {"status_code": 200, "request_id": "q", "body": body},
        "error": None,
    }


def jsonl(lines: list[Any]) -> bytes:
    return b"".join(json.dumps(line).encode() + b"\n" for line in lines)


def results_routes(
    respx_mock: respx.MockRouter,
    output: list[Any],
    errors: list[Any] | None = None,
    provider: str | None = "openai",
) -> None:
    respx_mock.get("/batches/batch_abc123").respond(
        200,
        headers={"x-portkey-provider": provider} if provider else {},
        json=batch(
            "completed",
            counts=(3, 2, 1),
            output_file_id="file-out",
            error_file_id="file-err" if errors else None,
        ),
    )
    respx_mock.get("/files/file-out/content").respond(200, content=jsonl(output))
    if errors:
        respx_mock.get("/files/file-err/content").respond(200, content=jsonl(errors))
