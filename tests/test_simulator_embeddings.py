"""The simulator's embeddings are as large as a provider's, and a long input with every default succeeds
against them: the default batch_size is sized for answers of this size (docs/batch.md)."""

from __future__ import annotations

import re
from collections.abc import Iterator

import httpx
import pytest

from tooljet_portkey import QueryService
from tooljet_portkey.simulator import Simulator

NUMBER = re.compile(rb"-?\d\.?\d*(?:e-?\d+)?")


@pytest.fixture(scope="module")
def sim() -> Iterator[Simulator]:
    with Simulator(profile="gateway") as started:
        yield started
        assert started.errors == []


def test_an_embedding_answer_prints_its_numbers_as_a_provider_does(sim: Simulator) -> None:
    """A provider prints each number as a double, to 17 significant digits: about 21.5 bytes of JSON a
    number with its separator. Short numbers would hide an answer past the connection's cap."""
    body = {"model": "text-embedding-3-large", "input": ["first text", "second text"]}
    response = httpx.post(f"{sim.url}/embeddings", json=body, headers={"x-portkey-provider": "openai"})
    vectors = [item["embedding"] for item in response.json()["data"]]
    assert [len(vector) for vector in vectors] == [3072, 3072]
    numbers = NUMBER.findall(response.content.split(b'"embedding": [', 1)[1].split(b"]", 1)[0])
    digits = [len(number.lstrip(b"-").split(b"e")[0].replace(b".", b"").lstrip(b"0")) for number in numbers]
    assert len(numbers) == 3072 and sum(digits) / len(digits) > 16
    assert len(response.content) / (2 * 3072) > 21.5


@pytest.mark.slow
def test_three_thousand_texts_with_every_default_succeed(sim: Simulator) -> None:
    texts = [f"review {i}: the parcel came on time" for i in range(3000)]
    with QueryService() as service:
        result = service.run(
            {"apiKey": "pk-sim", "provider": "openai", "gatewayUrl": sim.url},
            {"operation": "create_embedding", "model": "text-embedding-3-large", "input": texts},
        )
    items = result["data"]["data"]
    assert [(item["index"], len(item["embedding"])) for item in items] == [(i, 3072) for i in range(3000)]
    # 454 inputs a request: answers of about 30 MiB each (66 KiB a vector, as the test above measures)
    assert result["metadata"]["requests"] == 7
