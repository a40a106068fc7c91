"""The simulator's answers can be priced offline (docs/cost.md): dated model names, as OpenAI answers,
and, while Portkey's cache is on, the prompt tokens the provider read from its own prompt cache."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tooljet_portkey import QueryService
from tooljet_portkey.simulator import Simulator

SNAPSHOT = "Portkey-AI/models 2026-08-21"
CACHED = '{"cache": {"mode": "simple"}}'


@pytest.fixture
def sim() -> Iterator[Simulator]:
    with Simulator(profile="hosted") as simulator:
        yield simulator


def chat(sim: Simulator, **fields: str) -> dict[str, Any]:
    source = {"apiKey": "pk-test", "provider": "@openai-prod", "gatewayUrl": sim.url}
    query = {"operation": "chat", "model": "gpt-4o-mini", "prompt": "Summarise our refund policy", **fields}
    with QueryService() as service:
        return service.run(source, query)["metadata"]


def test_an_answer_names_the_dated_model_and_its_provider_and_is_priced(sim: Simulator) -> None:
    meta = chat(sim)
    assert (meta["provider"], meta["model"]) == ("openai", "gpt-4o-mini-2024-07-18")
    assert meta["usage"] == {"prompt_tokens": 4, "completion_tokens": 13, "total_tokens": 17}
    assert meta["cost"] == {
        "currency": "USD",
        "total": 0.0000084,  # 4 tokens at $0.15 and 13 at $0.60 per 1M
        "input": 0.0000006,
        "output": 0.0000078,
        "pricing": {"provider": "openai", "model": "gpt-4o-mini-2024-07-18", "source": SNAPSHOT},
    }


def test_with_the_cache_on_a_prompt_seen_before_is_read_from_the_providers_cache(sim: Simulator) -> None:
    first = chat(sim, config=CACHED)
    other_params = chat(sim, config=CACHED, temperature="0.5")  # Portkey's cache misses: a new request
    hit = chat(sim, config=CACHED)
    assert [m["cacheStatus"] for m in (first, other_params, hit)] == ["MISS", "MISS", "HIT"]
    assert first["usage"]["prompt_tokens_details"] == {"cached_tokens": 0}
    assert other_params["usage"]["prompt_tokens_details"] == {"cached_tokens": 4}
    # the 4 cached prompt tokens at $0.075 per 1M instead of $0.15
    assert (other_params["cost"]["input"], other_params["cost"]["total"]) == (0.0000003, 0.0000081)
    assert (hit["cost"]["total"], hit["cost"]["cacheHit"]) == (0.0, True)


def test_without_the_cache_usage_has_no_cached_tokens(sim: Simulator) -> None:
    assert "prompt_tokens_details" not in chat(sim)["usage"]
    assert "prompt_tokens_details" not in chat(sim)["usage"]
