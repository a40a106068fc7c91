"""Shared helpers of the unit tier: a fake gateway address, the seed doc's response examples, a reader
that turns a recorded httpx request into what a user would check on the wire, and the tier's fixtures
(conftest.py imports them, so every test of the tier has them)."""

from __future__ import annotations

import asyncio
import importlib.util
import json
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest

import tooljet_portkey._client as client_module
from tooljet_portkey import AsyncQueryService, QueryError, QueryService

T = TypeVar("T")

BASE_URL = "http://gateway.test/v1"
API_KEY = "pk-test-0123456789"
# A self-hosted gateway URL, so no request can reach Portkey's hosted API; retries off, so one
# answer is one request (the retry policy has its own tests).
SOURCE: dict[str, Any] = {"apiKey": API_KEY, "gatewayUrl": BASE_URL, "maxRetries": "0"}

# Headers httpx adds by itself; everything else on a request is ours and is compared exactly.
_TRANSPORT_HEADERS = frozenset({"host", "accept-encoding", "connection", "content-length"})

# The four response examples of the seed doc (portkey-tooljet-doc.txt), the embedding cut short
# where the doc itself elides it; tests/data holds them for every tier.
SEED_RESPONSES: dict[str, dict[str, Any]] = json.loads(
    (Path(__file__).resolve().parents[1] / "data" / "seed_responses.json").read_text(encoding="utf-8")
)
COMPLETION_EXAMPLE = SEED_RESPONSES["completion"]
CHAT_EXAMPLE = SEED_RESPONSES["chat"]
PROMPT_EXAMPLE = SEED_RESPONSES["prompt_completion"]
EMBEDDING_EXAMPLE = SEED_RESPONSES["create_embedding"]

CHAT_MESSAGES = '[{"role": "user", "content": "Who uses ToolJet?"}]'
# The smallest valid query of each operation, as a host sends it.
MINIMAL: dict[str, dict[str, Any]] = {
    "completion": {"operation": "completion", "prompt": "Say hi", "model": "gpt-3.5-turbo-instruct"},
    "chat": {"operation": "chat", "messages": CHAT_MESSAGES, "model": "gpt-4o-mini"},
    "prompt_completion": {"operation": "prompt_completion", "promptId": "pp-welcome-e1f2a3"},
    "create_embedding": {
        "operation": "create_embedding",
        "input": "hello",
        "model": "text-embedding-3-small",
    },
}
# The smallest valid query of each operation that is not a completion, chat or embedding (kept apart from
# MINIMAL: tests over MINIMAL check the header fields those four share)
MINIMAL_MORE: dict[str, dict[str, Any]] = {
    "image_generation": {"operation": "image_generation", "prompt": "A lighthouse at dawn"},
    "prompt_render": {"operation": "prompt_render", "promptId": "pp-welcome-e1f2a3"},
    "list_models": {"operation": "list_models"},
    "feedback": {"operation": "feedback", "traceId": "trace-rated-1", "value": "1"},
}
# The smallest valid query of each batch job operation (a submit sends a file, then creates the batch)
MINIMAL_BATCH: dict[str, dict[str, Any]] = {
    "batch_submit": {"operation": "batch_submit", "model": "gpt-4o-mini", "rows": '["Hello"]'},
    "batch_status": {"operation": "batch_status", "batchId": "batch_abc123"},
    "batch_results": {"operation": "batch_results", "batchId": "batch_abc123"},
    "batch_cancel": {"operation": "batch_cancel", "batchId": "batch_abc123"},
}
BATCH_PATHS = {
    "batch_submit": "/v1/files",
    "batch_status": "/v1/batches/batch_abc123",
    "batch_results": "/v1/batches/batch_abc123",
    "batch_cancel": "/v1/batches/batch_abc123/cancel",
}
# Batch job queries with every field of their form: a submit and a result read send several requests,
# checked request by request in tests/unit/test_batch_jobs.py
FULL_BATCH_QUERIES: list[dict[str, Any]] = [
    {
        "operation": "batch_submit",
        "endpoint": "chat",
        "model": "gpt-4o-mini",
        "system_prompt": "Classify the ticket: billing, bug or other.",
        "max_tokens": "5",
        "temperature": "0",
        "stop_sequences": "END",
        "response_format": '{"type": "object", "properties": {"label": {"type": "string"}}}',
        "other_parameters": '{"seed": 7}',
        "rows": '["I was charged twice", {"custom_id": "T-2", "prompt": "App crashes", "temperature": 0.5}]',
        "completion_window": "24h",
        "metadata": '{"job": "tickets-2026-11"}',
        "config": "pc-batch",
        "virtualKey": "vk-openai",
    },
    {
        "operation": "batch_results",
        "batchId": "batch_abc123",
        "output": "json",
        "response_format": '{"type": "object", "properties": {"label": {"enum": ["billing", "bug", '
        '"other"]}}, "required": ["label"]}',
        "config": "pc-batch",
        "virtualKey": "vk-openai",
    },
]
PATHS = {
    "completion": "/v1/completions",
    "chat": "/v1/chat/completions",
    "prompt_completion": "/v1/prompts/pp-welcome-e1f2a3/completions",
    "create_embedding": "/v1/embeddings",
}
EXAMPLES = {
    "completion": COMPLETION_EXAMPLE,
    "chat": CHAT_EXAMPLE,
    "prompt_completion": PROMPT_EXAMPLE,
    "create_embedding": EMBEDDING_EXAMPLE,
}


# Where the shipped prices come from, as metadata.cost.pricing.source says (docs/cost.md).
SNAPSHOT = "Portkey-AI/models 2026-08-21"


def unpriced(model: str, provider: str | None = None) -> dict[str, Any]:
    """The metadata of an answer the prices cannot price: no cost, and the warning saying why (a unit
    test's connection names no provider, so most answers of the tier are unpriced)."""
    where = f"provider {provider}" if provider else "an unknown provider"
    warning = f"cost: no price for {model} of {where} ({SNAPSHOT}; set the connection's prices)"
    return {"cost": None, "warnings": [warning]}


def wire(request: httpx.Request) -> dict[str, Any]:
    """A recorded request as a user checks it: method, URL, our headers, and the parsed JSON body."""
    content = request.read()
    return {
        "method": request.method,
        "url": str(request.url),
        "headers": {k: v for k, v in request.headers.items() if k not in _TRANSPORT_HEADERS},
        "json": json.loads(content) if content else None,
    }


def base_headers(**extra: str) -> dict[str, str]:
    """The headers every non-streamed query carries with SOURCE, plus ``extra`` (a JSON body)."""
    headers = {
        "user-agent": "tooljet-portkey",
        "x-portkey-api-key": API_KEY,
        "accept": "application/json",
        "content-type": "application/json",
    }
    headers.update(extra)
    return headers


SCRIPTS = Path(__file__).resolve().parents[2] / "scripts"


def load_script(name: str) -> Any:
    """A script of ``scripts/`` (``refresh_prices``), loaded as a module so its functions can be tested
    in process."""
    spec = importlib.util.spec_from_file_location(name, SCRIPTS / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def run_async(make: Callable[[], Awaitable[T]]) -> T:
    """Run one coroutine to completion on a fresh event loop (pytest-asyncio is not used)."""

    async def main() -> T:
        return await make()

    return asyncio.run(main())


def outcome(call: Callable[[], T]) -> tuple[str, Any]:
    """("ok", result) or ("error", (message, description, data)): what a host would see either way."""
    try:
        return "ok", call()
    except QueryError as err:
        return "error", (err.message, err.description, err.data)


async def aoutcome(call: Callable[[], Awaitable[T]]) -> tuple[str, Any]:
    try:
        return "ok", await call()
    except QueryError as err:
        return "error", (err.message, err.description, err.data)


@pytest.fixture
def no_retry_sleep(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[float]]:
    """Unit tests run with retries off: a sleep would mean a retry that should not have happened."""
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)

    async def async_sleep(seconds: float) -> None:
        slept.append(seconds)

    monkeypatch.setattr(client_module, "_sleep", sleep)
    monkeypatch.setattr(client_module, "_async_sleep", async_sleep)
    yield slept
    assert slept == [], "a unit test slept for a retry"


@pytest.fixture
def service() -> Iterator[QueryService]:
    with QueryService() as svc:
        yield svc


@pytest.fixture
def async_service() -> Iterator[AsyncQueryService]:
    svc = AsyncQueryService()
    yield svc
    run_async(svc.aclose)


# ---------------------------------------------------------------------------------------------------
# Answers as a strict host reads them (tests/unit/test_json_results.py, tests/scale)

# A stream chunk's text up to its first choice's delta
CHUNK_HEAD = (
    '{"id": "c", "object": "chat.completion.chunk", "model": "gpt-4o-mini", '
    '"choices": [{"index": 0, "delta": '
)


def sse(*chunks: str) -> bytes:
    """The SSE body of these chunks' texts, then ``[DONE]``."""
    return b"".join(f"data: {chunk}\n\n".encode() for chunk in (*chunks, "[DONE]"))


def strict(value: Any) -> str:
    """What a strict host does with a result: JSON without NaN or infinities."""
    return json.dumps(value, allow_nan=False)
