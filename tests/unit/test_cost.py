"""What an answer cost (docs/cost.md): the formula on exact dollar values, where the prices come from, what
cannot be priced, a table run's cost and its budget, the prices in the model dropdown, and the refresh
script's trimming."""

from __future__ import annotations

import json
import threading
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
import respx
from unit_support import BASE_URL, SNAPSHOT, SOURCE, load_script, unpriced

from tooljet_portkey import QueryError, QueryService
from tooljet_portkey._batch import ItemOk, run_items
from tooljet_portkey._cost import answer_cost, connection_prices, per_million, price_label

OPENAI = {"provider": "openai", "model": "gpt-4o-mini", "source": SNAPSHOT}
MESSAGES = json.dumps([{"role": "user", "content": "Hi"}])
CHAT = {"operation": "chat", "model": "gpt-4o-mini", "messages": MESSAGES}


def cost_of(
    usage: dict[str, Any] | None = None,
    *,
    operation: str = "chat",
    body: dict[str, Any] | None = None,
    answer: Any = None,
    provider: str | None = "openai",
    model: str | None = "gpt-4o-mini",
    prices: str | None = None,
    **meta: Any,
) -> tuple[dict[str, Any] | None, str | None]:
    said = {"provider": provider, "model": model, "usage": usage, **meta}
    said = {key: value for key, value in said.items() if value is not None}
    request = body if body is not None else {"model": "gpt-4o-mini"}
    return answer_cost(operation, request, answer, said, None, connection_prices(prices))


# ---------------------------------------------------------------------------------------------------
# The formula, in exact dollars


def test_uncached_prompt_and_completion_tokens_at_the_published_prices() -> None:
    """gpt-4o-mini: $0.15 / $0.60 per 1M tokens (Portkey's 0.000015 / 0.00006 cents a token)."""
    assert cost_of({"prompt_tokens": 1000, "completion_tokens": 200, "total_tokens": 1200}) == (
        {"currency": "USD", "total": 0.00027, "input": 0.00015, "output": 0.00012, "pricing": OPENAI},
        None,
    )


def test_cached_tokens_are_part_of_the_prompt_and_charged_at_the_cache_read_price() -> None:
    """800 of 1,000 prompt tokens read from OpenAI's cache: 200 at $0.15 and 800 at $0.075 per 1M."""
    usage = {"prompt_tokens": 1000, "completion_tokens": 200, "prompt_tokens_details": {"cached_tokens": 800}}
    assert cost_of(usage)[0] == {
        "currency": "USD",
        "total": 0.00021,  # 0.00003 + 0.00006 + 0.00012
        "input": 0.00009,
        "output": 0.00012,
        "pricing": OPENAI,
    }


def test_tokens_written_to_the_providers_cache_at_the_cache_write_price() -> None:
    """claude-3-5-haiku: $0.80 in, $4 out, $0.08 cached, $1 written to the cache per 1M tokens."""
    usage = {
        "prompt_tokens": 3000,  # 1,000 plain + 1,000 read from the cache + 1,000 written to it
        "completion_tokens": 100,
        "prompt_tokens_details": {"cached_tokens": 1000},
        "cache_creation_input_tokens": 1000,
    }
    cost, warning = cost_of(usage, provider="anthropic", model="claude-3-5-haiku-20241022")
    assert (cost, warning) == (
        {
            "currency": "USD",
            "total": 0.00228,  # 0.0008 + 0.00008 + 0.001 + 0.0004
            "input": 0.00188,
            "output": 0.0004,
            "pricing": {"provider": "anthropic", "model": "claude-3-5-haiku-20241022", "source": SNAPSHOT},
        },
        None,
    )


def test_the_answers_dated_model_is_priced_and_named() -> None:
    cost, _ = cost_of({"prompt_tokens": 1000, "completion_tokens": 0}, model="gpt-4o-mini-2024-07-18")
    assert cost is not None
    assert (cost["total"], cost["pricing"]["model"]) == (0.00015, "gpt-4o-mini-2024-07-18")


def batch_cost(model: str, usage: dict[str, Any], prices: str | None = None) -> tuple[Any, str | None]:
    said = {"provider": "openai", "model": model, "usage": usage}
    return answer_cost(
        "batch_results", {"model": model}, None, said, None, connection_prices(prices, batch=True), batch=True
    )


def test_a_batch_row_is_charged_at_the_batch_prices() -> None:
    """gpt-4o-mini's Batch API: $0.075 / $0.30 per 1M tokens, half its $0.15 / $0.60."""
    cost, warning = batch_cost("gpt-4o-mini", {"prompt_tokens": 1000, "completion_tokens": 200})
    assert (cost, warning) == (
        {
            "currency": "USD",
            "total": 0.000135,
            "input": 0.000075,
            "output": 0.00006,
            "pricing": {**OPENAI, "prices": "batch"},
        },
        None,
    )


@pytest.mark.parametrize(
    ("model", "total", "warning"),
    [
        # the dated snapshot a batch answers with: the list gives it the alias's prices, so its batch ones
        ("gpt-4o-mini-2024-07-18", 0.000135, None),
        # a snapshot priced unlike its alias (o1-mini's first release) takes none of the alias's
        ("o1-mini-2024-09-12", None, "cost: o1-mini-2024-09-12: the price list has no batch price for it"),
        # a model with no Batch API price at all
        ("chatgpt-4o-latest", None, "cost: chatgpt-4o-latest: the price list has no batch price for it"),
    ],
)
def test_a_dated_snapshot_takes_its_aliass_batch_prices_only_when_priced_alike(
    model: str, total: float | None, warning: str | None
) -> None:
    cost, said = batch_cost(model, {"prompt_tokens": 1000, "completion_tokens": 200})
    assert (cost and cost["total"], said) == (total, warning)


def test_a_connections_batch_prices_are_its_own_and_never_its_pay_as_you_go_ones() -> None:
    usage = {"prompt_tokens": 1_000_000, "completion_tokens": 1_000_000}
    own = json.dumps({"my-llama": {"input": 0.3, "output": 0.6, "batchInput": 0.1, "batchOutput": 0.2}})
    cost, _ = batch_cost("my-llama", usage, own)
    assert cost is not None
    assert (cost["total"], cost["pricing"]["source"]) == (0.3, "connection prices")
    plain = json.dumps({"my-llama": {"input": 0.3, "output": 0.6}})
    assert batch_cost("my-llama", usage, plain) == (
        None,
        "cost: my-llama: the price list has no batch price for it",
    )


def test_embeddings_have_no_output_tokens() -> None:
    """text-embedding-3-small: $0.02 per 1M tokens."""
    cost, _ = cost_of(
        {"prompt_tokens": 5000, "total_tokens": 5000},
        operation="create_embedding",
        model="text-embedding-3-small",
    )
    assert cost == {
        "currency": "USD",
        "total": 0.0001,
        "input": 0.0001,
        "output": 0.0,
        "pricing": {"provider": "openai", "model": "text-embedding-3-small", "source": SNAPSHOT},
    }


def test_images_are_priced_by_quality_and_size_each() -> None:
    """dall-e-3: 8 cents an HD 1024x1024 image, 12 cents an HD 1024x1792 one."""
    body = {"model": "dall-e-3", "quality": "hd", "size": "1024x1792"}
    answer = {"created": 1, "data": [{"url": "a"}, {"url": "b"}]}
    cost, warning = cost_of(operation="image_generation", body=body, answer=answer, model=None)
    assert (cost, warning) == (
        {
            "currency": "USD",
            "total": 0.24,
            "input": 0.0,
            "output": 0.24,
            "pricing": {"provider": "openai", "model": "dall-e-3", "source": SNAPSHOT},
            "images": 2,
        },
        None,
    )
    plain, _ = cost_of(operation="image_generation", body={"model": "dall-e-3"}, answer=answer, model=None)
    assert plain is not None and plain["total"] == 0.08  # the model's default quality and size


def test_a_cache_hit_costs_nothing_and_says_so() -> None:
    cost, warning = cost_of({"prompt_tokens": 1000, "completion_tokens": 200}, cacheStatus="HIT")
    assert (cost, warning) == (
        {
            "currency": "USD",
            "total": 0.0,
            "input": 0.0,
            "output": 0.0,
            "pricing": {
                "provider": "openai",
                "model": "gpt-4o-mini",
                "source": "cache hit: not billed by the provider",
            },
            "cacheHit": True,
        },
        None,
    )


# ---------------------------------------------------------------------------------------------------
# Never a guess


@pytest.mark.parametrize(
    ("kwargs", "warning"),
    [
        ({"model": "gpt-unknown"}, unpriced("gpt-unknown", "openai")["warnings"][0]),
        ({"provider": "someone-else"}, unpriced("gpt-4o-mini", "someone-else")["warnings"][0]),
        # a Model Catalog slug names credentials, not the provider
        ({"provider": "@openai-prod"}, unpriced("gpt-4o-mini")["warnings"][0]),
        ({"usage": None}, "cost: gpt-4o-mini: the answer has no token usage"),
        ({"usage": {"input_tokens": 5, "output_tokens": 2}},
         "cost: gpt-4o-mini: the answer's usage has no prompt_tokens"),
        ({"usage": {"prompt_tokens": 9, "completion_tokens": 1,
                    "prompt_tokens_details": {"audio_tokens": 4}}},
         "cost: gpt-4o-mini: audio tokens are not priced by the plugin"),
        # gpt-3.5-turbo has no published cached-token price: charging them in full would be a guess
        ({"model": "gpt-3.5-turbo", "usage": {"prompt_tokens": 9, "completion_tokens": 1,
                                              "prompt_tokens_details": {"cached_tokens": 4}}},
         "cost: gpt-3.5-turbo: the price list has no price for cached input tokens"),
        ({"operation": "image_generation", "body": {"model": "dall-e-3", "size": "640x480"}, "model": None,
          "answer": {"data": [{}]}},
         "cost: dall-e-3: the price list has no price for an image of quality default and size 640x480"),
    ],
)  # fmt: skip
def test_what_cannot_be_priced_has_no_cost_and_a_warning(kwargs: dict[str, Any], warning: str) -> None:
    usage = {"prompt_tokens": 10, "completion_tokens": 2}
    given = {"usage": usage, **kwargs}
    assert cost_of(given.pop("usage"), **given) == (None, warning)


# ---------------------------------------------------------------------------------------------------
# The connection's own prices


def test_the_connections_prices_win_and_name_their_source() -> None:
    """Dollars per 1M tokens; the answer's dated model is priced by the request's model's entry."""
    prices = '{"gpt-4o-mini": {"cachedInput": 0.05, "input": 0.1, "output": 0.4}}'
    usage = {"prompt_tokens": 1000, "completion_tokens": 200, "prompt_tokens_details": {"cached_tokens": 500}}
    cost, warning = cost_of(usage, model="gpt-4o-mini-2024-07-18", prices=prices)
    assert (cost, warning) == (
        {
            "currency": "USD",
            "total": 0.000155,  # 500 x 0.1 + 500 x 0.05 + 200 x 0.4, per 1M
            "input": 0.000075,
            "output": 0.00008,
            "pricing": {"provider": "openai", "model": "gpt-4o-mini", "source": "connection prices"},
        },
        None,
    )
    # a model of no provider the snapshot knows, priced by the connection alone
    own, _ = cost_of({"prompt_tokens": 2000000, "completion_tokens": 0}, provider=None, model="my-llama",
                     prices='{"my-llama": {"input": 0.3, "output": 0.6}}')  # fmt: skip
    assert own is not None and (own["total"], own["pricing"]["source"]) == (0.6, "connection prices")


@respx.mock(base_url=BASE_URL)
def test_run_gives_the_cost_from_portkeys_provider_header(respx_mock: respx.MockRouter) -> None:
    answer = {
        "id": "c",
        "object": "chat.completion",
        "model": "gpt-4o-mini-2024-07-18",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "Hi"}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 1000, "completion_tokens": 200, "total_tokens": 1200},
    }
    respx_mock.post("/chat/completions").respond(200, json=answer, headers={"x-portkey-provider": "openai"})
    with QueryService() as service:
        result = service.run(SOURCE, {**CHAT, "output": "text"})
        own = service.run({**SOURCE, "prices": '{"gpt-4o-mini": {"input": 1, "output": 2}}'}, CHAT)
    assert result["metadata"]["cost"] == {
        "currency": "USD",
        "total": 0.00027,
        "input": 0.00015,
        "output": 0.00012,
        "pricing": {"provider": "openai", "model": "gpt-4o-mini-2024-07-18", "source": SNAPSHOT},
    }
    assert "warnings" not in result["metadata"]
    assert own["metadata"]["cost"]["total"] == 0.0014  # 1,000 x $1 + 200 x $2 per 1M


@pytest.mark.parametrize(
    ("prices", "problem"),
    [
        ('{"m": {"input": 1}}', "prices: a value needs 'output'"),
        ('{"m": {"input": -1, "output": 1}}', "prices: a value must be at least 0"),
        ("[1]", "prices: must be a JSON object"),
        ("nope", "prices: is not valid JSON (Expecting value: line 1 column 1 (char 0))"),
    ],
)
def test_bad_prices_are_refused_naming_the_field(prices: str, problem: str) -> None:
    with QueryService() as service, pytest.raises(QueryError) as caught:
        service.run({**SOURCE, "prices": prices}, CHAT)
    assert (caught.value.message, caught.value.description, caught.value.data) == (
        "Invalid connection options",
        problem,
        {"field": "prices"},
    )


# ---------------------------------------------------------------------------------------------------
# Tables: each row's cost, the run's sum, the budget

PROMPT_PATH = "/prompts/pp-triage/completions"


def priced_answer(request: httpx.Request) -> httpx.Response:
    """Every row: 1,000 prompt and 200 completion tokens of gpt-4o-mini, $0.00027."""
    body = {
        "id": "c",
        "object": "chat.completion",
        "model": "gpt-4o-mini",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": "ok"}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 1000, "completion_tokens": 200, "total_tokens": 1200},
    }
    row = json.loads(request.content)["variables"]["n"]
    return httpx.Response(
        200, json=body, headers={"x-portkey-provider": "openai", "x-portkey-trace-id": f"t{row}"}
    )


def table(count: int, **fields: str) -> dict[str, Any]:
    return {
        "operation": "prompt_completion",
        "promptId": "pp-triage",
        "rows": json.dumps([{"n": n} for n in range(count)]),
        "output": "text",
        **fields,
    }


def test_each_row_carries_its_cost_and_the_run_their_exact_sum() -> None:
    with respx.mock(base_url=BASE_URL) as mock, QueryService() as service:
        mock.post(PROMPT_PATH).mock(side_effect=priced_answer)
        result = service.run(SOURCE, table(3))
    assert [entry["cost"] for entry in result["data"]] == [0.00027, 0.00027, 0.00027]
    assert result["metadata"]["cost"] == {
        "currency": "USD",
        "total": 0.00081,  # not 0.0008100000000000001
        "input": 0.00045,
        "output": 0.00036,
        "pricing": {"provider": "openai", "model": "gpt-4o-mini", "source": SNAPSHOT},
    }


def test_a_budget_stops_the_run_before_a_row_that_would_pass_it() -> None:
    """$0.001 at $0.00027 a row: after 3 rows ($0.00081) a 4th would pass it; the rest are skipped."""
    with respx.mock(base_url=BASE_URL) as mock, QueryService() as service:
        route = mock.post(PROMPT_PATH).mock(side_effect=priced_answer)
        result = service.run(SOURCE, table(6, maxCostUsd="0.001", concurrency="1"))
    assert route.call_count == 3
    assert [entry["status"] for entry in result["data"]] == ["ok"] * 3 + ["skipped"] * 3
    assert result["data"][3] == {"row": 3, "status": "skipped", "reason": "budget"}
    meta = result["metadata"]
    assert (meta["succeeded"], meta["skipped"], meta["cost"]["total"]) == (3, 3, 0.00081)
    assert meta["stopped"] == {
        "reason": "budget",
        "description": "the run's budget of $0.001 would be passed ($0.00081 spent on 3 rows)",
        "maxCostUsd": 0.001,
        "spentUsd": 0.00081,
    }


def test_a_row_that_cannot_be_priced_stops_a_budgeted_run() -> None:
    def unpriced_answer(request: httpx.Request) -> httpx.Response:
        response = priced_answer(request)
        return httpx.Response(200, content=response.content, headers={"content-type": "application/json"})

    with respx.mock(base_url=BASE_URL) as mock, QueryService() as service:
        mock.post(PROMPT_PATH).mock(side_effect=unpriced_answer)
        result = service.run(SOURCE, table(3, maxCostUsd="5"))
    assert [entry["status"] for entry in result["data"]] == ["ok", "skipped", "skipped"]
    assert result["data"][0]["cost"] is None
    meta = result["metadata"]
    assert (meta["cost"], meta["warnings"]) == (None, unpriced("gpt-4o-mini")["warnings"])
    assert meta["stopped"] == {
        "reason": "budget",
        "description": "row 0's cost is unknown (see metadata.warnings): the budget of $5 cannot be kept",
        "maxCostUsd": 5.0,
        "spentUsd": 0.0,
        "row": 0,
    }


def test_a_budgeted_long_embedding_input_fails_rather_than_return_part_of_it() -> None:
    def vectors(request: httpx.Request) -> httpx.Response:
        count = len(json.loads(request.content)["input"])
        data = [{"object": "embedding", "index": i, "embedding": [0.5]} for i in range(count)]
        usage = {"prompt_tokens": 1_000_000, "total_tokens": 1_000_000}  # $0.02 a request
        body = {"object": "list", "data": data, "model": "text-embedding-3-small", "usage": usage}
        return httpx.Response(200, json=body, headers={"x-portkey-provider": "openai"})

    query = {"operation": "create_embedding", "model": "text-embedding-3-small",
             "input": json.dumps(list("abcdef")), "batch_size": "1", "concurrency": "1",
             "maxCostUsd": "0.05"}  # fmt: skip
    with respx.mock(base_url=BASE_URL) as mock, QueryService() as service:
        route = mock.post("/embeddings").mock(side_effect=vectors)
        with pytest.raises(QueryError) as caught:
            service.run(SOURCE, query)
    assert route.call_count == 2
    assert (caught.value.description, caught.value.data["errorType"]) == (
        "the run stopped: the run's budget of $0.05 would be passed ($0.04 spent on 2 rows): "
        "2 of 6 rows finished, the rest were not sent",
        "budget",
    )


def test_until_a_cost_is_known_a_budgeted_run_has_one_row_in_flight() -> None:
    """At concurrency 3 the first row runs alone: a run cannot spend three rows before it knows one's
    cost. Then rows go three at a time while the budget allows."""
    lock = threading.Lock()
    events: list[str] = []

    def work(row: int) -> ItemOk:
        with lock:
            events.append(f"start {row}")
        with lock:
            events.append(f"end {row}")
        return ItemOk(row, metadata={"cost": {}}, cost=1.0)

    result = run_items(list(range(6)), work, concurrency=3, max_cost=100.0)
    assert events.index("end 0") < events.index("start 1")
    assert [entry["cost"] for entry in result.rows()] == [1.0] * 6


def test_at_concurrency_one_a_run_spends_at_most_the_budget_plus_one_row() -> None:
    costs = [0.5, 3.0, 0.5, 0.5, 0.5]  # row 1 costs far more than the rows before it

    def work(row: int) -> ItemOk:
        return ItemOk(row, metadata={"cost": {}}, cost=costs[row])

    result = run_items(list(range(5)), work, concurrency=1, max_cost=2.0)
    spent = sum(Decimal(repr(entry["cost"])) for entry in result.rows() if entry["status"] == "ok")
    assert (spent, result.stopped is not None and result.stopped["reason"]) == (Decimal("3.5"), "budget")
    assert spent <= Decimal("2.0") + Decimal(repr(max(costs)))
    assert result.stopped["description"] == "the run's budget of $2 was passed ($3.5 spent on 2 rows)"


# ---------------------------------------------------------------------------------------------------
# Prices where models are picked


def test_price_labels() -> None:
    assert price_label("openai", "gpt-4o-mini", {}) == "$0.15 / $0.60 per 1M tokens"
    assert price_label("openai", "text-embedding-3-small", {}) == "$0.02 per 1M tokens"
    assert price_label("anthropic", "claude-3-5-haiku-20241022", {}) == "$0.80 / $4.00 per 1M tokens"
    assert price_label("openai", "dall-e-3", {}) is None  # priced by the image
    assert price_label("openai", "gpt-unknown", {}) is None
    assert [per_million(Decimal(n) / 1_000_000) for n in ("0.075", "2.5", "15")] == [
        "$0.075",
        "$2.50",
        "$15.00",
    ]


def test_the_model_dropdown_shows_prices() -> None:
    listed = {"data": [{"id": "gpt-4o-mini"}, {"id": "my-own-model"}, {"id": "text-embedding-3-small"}]}
    with respx.mock(base_url=BASE_URL) as mock, QueryService() as service:
        mock.get("/models").respond(200, json=listed)
        chat = service.invoke_method("listModels", {**SOURCE, "provider": "openai"}, {"operation": "chat"})
        unknown = service.invoke_method("listModels", SOURCE, {"operation": "chat"})
    assert chat == {
        "status": "ok",
        "data": [
            {"value": "gpt-4o-mini", "label": "gpt-4o-mini · $0.15 / $0.60 per 1M tokens"},
            {"value": "my-own-model", "label": "my-own-model"},
        ],
    }
    # no provider named: no price is shown rather than a guessed one
    assert unknown["data"][0] == {"value": "gpt-4o-mini", "label": "gpt-4o-mini"}


# ---------------------------------------------------------------------------------------------------
# The refresh script's trimming


def refresh_script() -> Any:
    return load_script("refresh_prices")


def test_the_refresh_script_keeps_only_the_prices_the_plugin_uses() -> None:
    upstream = {
        "default": {"pricing_config": {"pay_as_you_go": {"request_token": {"price": 0}}}},
        "gpt-x": {
            "pricing_config": {
                "pay_as_you_go": {
                    "request_token": {"price": 0.000015},
                    "response_token": {"price": 0.00006},
                    "cache_read_input_token": {"price": 0.0000075},
                    "additional_units": {"web_search": {"price": 1}},
                    "request_audio_token": {"price": 0.001},
                },
                "batch_config": {"request_token": {"price": 0.0000075}, "response_token": {"price": 0.00003}},
                "calculate": {"request": {"operation": "sum"}},
            },
            "custom_pricing": {"regions": {}},
        },
        "img": {
            "pricing_config": {"pay_as_you_go": {"image": {"hd": {"1024x1024": {"price": 8}, "x": "odd"}}}}
        },
        "speech-only": {"pricing_config": {"pay_as_you_go": {"request_audio_token": {"price": 0.001}}}},
        "broken": {"pricing_config": None},
    }
    assert refresh_script().trim_provider(upstream) == {
        "gpt-x": {
            "pay_as_you_go": {
                "request_token": 0.000015,
                "response_token": 0.00006,
                "cache_read_input_token": 0.0000075,
            },
            "batch_config": {"request_token": 0.0000075, "response_token": 0.00003},
        },
        "img": {"image": {"hd": {"1024x1024": 8}}},
    }


def test_the_shipped_snapshot_carries_its_license_and_date() -> None:
    import tooljet_portkey

    data = json.loads((Path(tooljet_portkey.__file__).parent / "prices.json").read_text(encoding="utf-8"))
    assert (data["source"], data["date"]) == ("Portkey-AI/models", "2026-08-21")
    assert data["license"].startswith("MIT License\n\nCopyright (c) 2025 Portkey.ai")
    assert refresh_script().render(data) == (Path(tooljet_portkey.__file__).parent / "prices.json").read_text(
        encoding="utf-8"
    )


# docs/cost.md's refresh commands: <!-- run-by: tests/unit/test_cost.py --> (the download needs the
# network, so this runs the same main() on a local checkout, as ``--from DIR`` does)
def test_the_refresh_script_writes_the_snapshot_from_a_local_checkout(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    script = refresh_script()
    checkout = tmp_path / "models"
    (checkout / "pricing").mkdir(parents=True)
    (checkout / "LICENSE").write_text("MIT License\n\nCopyright (c) Portkey\n")
    for provider in script.PROVIDERS:
        (checkout / "pricing" / f"{provider}.json").write_text("{}")
    prices = {"pay_as_you_go": {"request_token": {"price": 0.000015}, "response_token": {"price": 0.00006}}}
    (checkout / "pricing" / "openai.json").write_text(json.dumps({"gpt-x": {"pricing_config": prices}}))
    out = tmp_path / "prices.json"
    assert script.main(["--from", str(checkout), "--out", str(out), "--date", "2026-12-01"]) == 0
    written = json.loads(out.read_text())
    assert (written["date"], written["license"], written["source"]) == (
        "2026-12-01",
        "MIT License\n\nCopyright (c) Portkey",
        "Portkey-AI/models",
    )
    assert written["providers"]["openai"] == {
        "gpt-x": {"pay_as_you_go": {"request_token": 0.000015, "response_token": 0.00006}}
    }
    assert capsys.readouterr().err == (
        f"wrote {out} (openai 1, azure-openai 0, anthropic 0, google 0, vertex-ai 0, bedrock 0, "
        "mistral-ai 0, groq 0 models)\n"
    )
