"""Embedding inputs of thousands of texts against a real loopback server whose answers are as large as a
provider's: 3,072 numbers a vector, each printed as a provider prints a double (up to 17 significant
digits, ``-0.020832369849085808``), about 22 bytes of JSON a number with its separator.

With every default, 3,000 texts succeed: the default batch_size keeps each answer within half the
64 MiB answer cap. The old default, 2,048 inputs a request, makes an answer of 134 MiB: it fails, and
its error names the field to change.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from loopback_server import FaultServer, Reply, Seen

from tooljet_portkey import QueryError, QueryService
from tooljet_portkey._constants import DEFAULT_MAX_RESPONSE_BYTES, MIB
from tooljet_portkey.simulator._answers import embedding_vector

MODEL = "text-embedding-3-large"
VECTOR = embedding_vector(MODEL, "one realistic vector")  # 3,072 doubles of a unit vector
VECTOR_JSON = json.dumps(VECTOR).encode()
TEXTS = [f"text {i}" for i in range(3000)]


def realistic_answer(sizes: list[int]) -> Any:
    """A router: each request's answer holds one VECTOR per input; ``sizes`` gets each body's length."""

    def answer(seen: Seen) -> Reply:
        count = len(seen.body["input"])
        items = b", ".join(
            b'{"object": "embedding", "index": %d, "embedding": %s}' % (i, VECTOR_JSON) for i in range(count)
        )
        usage = b'"usage": {"prompt_tokens": %d, "total_tokens": %d}' % (count, count)
        body = b'{"object": "list", "data": [%s], "model": "%s", %s}' % (items, MODEL.encode(), usage)
        sizes.append(len(body))
        first = seen.body["input"][0].replace(" ", "-")
        return Reply(body=body, headers={"x-portkey-trace-id": f"trace-{first}"})

    return answer


def embed(**fields: Any) -> dict[str, Any]:
    return {"operation": "create_embedding", "model": MODEL, "input": TEXTS, **fields}


def test_the_answers_are_as_large_as_a_providers() -> None:
    numbers = len(VECTOR)
    assert numbers == 3072
    assert len(VECTOR_JSON) / numbers > 21.5  # bytes a number, its ", " included
    assert 2048 * len(VECTOR_JSON) > 2 * DEFAULT_MAX_RESPONSE_BYTES  # the old default: past twice the cap


def test_three_thousand_texts_with_every_default_succeed(fault_server: FaultServer) -> None:
    sizes: list[int] = []
    fault_server.route(realistic_answer(sizes))
    with QueryService() as service:
        result = service.run({"gatewayUrl": fault_server.url}, embed())
    sent = sorted((len(seen.body["input"]) for seen in fault_server.requests), reverse=True)
    assert sent == [454] * 6 + [276]
    assert max(sizes) < DEFAULT_MAX_RESPONSE_BYTES / 2  # 454 vectors: 29.8 MiB
    assert sum(sizes) > 196 * MIB  # every byte of it was read
    items = result["data"]["data"]
    assert [item["index"] for item in items] == list(range(3000))
    assert all(item["embedding"] == VECTOR for item in items)
    metadata = result["metadata"]
    assert (metadata["requests"], metadata["traceId"], metadata["usage"]) == (
        7,
        "trace-text-0",
        {"prompt_tokens": 3000, "total_tokens": 3000},
    )
    assert metadata["traceIds"] == [f"trace-text-{start}" for start in range(0, 3000, 454)]


def test_two_thousand_and_forty_eight_inputs_a_request_fail_naming_batch_size(
    fault_server: FaultServer,
) -> None:
    sizes: list[int] = []
    fault_server.route(realistic_answer(sizes))
    with QueryService() as service, pytest.raises(QueryError) as caught:
        service.run({"gatewayUrl": fault_server.url}, embed(batch_size="2048", concurrency="1"))
    error = caught.value
    assert (error.message, error.description, error.data) == (
        "Query could not be completed",
        "input[0:2048]: Portkey's answer is larger than 64 MiB (the connection's maxResponseMiB) and was "
        "not read further: lower batch_size (this request held 2048 inputs) or ask for fewer dimensions "
        "(other_parameters.dimensions)",
        {
            "statusCode": 200,
            "errorType": "response_too_large",
            "traceId": "trace-text-0",
            "retries": 0,
            "field": "batch_size",
            "inputRange": [0, 2048],
        },
    )
    assert sizes[0] > 2 * DEFAULT_MAX_RESPONSE_BYTES
    assert fault_server.count == 1  # the chunk after it is never sent
