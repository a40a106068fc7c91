"""What an answer cost, in US dollars, from its usage and a price list (docs/cost.md). Pure: no I/O but
reading the shipped snapshot once.

The prices: the package's ``prices.json``, a trimmed snapshot of Portkey's MIT-licensed price list
(``Portkey-AI/models``, refreshed by ``scripts/refresh_prices.py``), in US cents per token; a connection's
own ``prices`` (dollars per million tokens, by model) win over it. Arithmetic is in ``Decimal`` from the
prices' own text, so 1,000 prompt tokens of gpt-4o-mini cost exactly 0.00015, not 0.00015000000000000001;
each amount becomes a float only at the end.

The formula is Portkey's: ``prompt_tokens`` include ``prompt_tokens_details.cached_tokens``; the uncached
part is charged at ``request_token``, the cached part at ``cache_read_input_token``, tokens written to a
provider's cache (``cache_creation_input_tokens``) at ``cache_write_input_token``, and
``completion_tokens`` at ``response_token``. An image answer is priced per image, by its size and
quality. A cache hit costs nothing. A batch job's rows (``batch_results``) are charged at the batch
prices (``batch_config``; a connection's ``batchInput`` and ``batchOutput``). What cannot be priced
exactly (an unknown model or provider, tokens of a kind with no price) gives no cost and a warning: never
a guess.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from ._constants import PRICES_PER_TOKENS
from ._files import package_text
from ._operations import operation as operation_facts

__all__ = [
    "CACHE_HIT_STATUSES",
    "Rates",
    "answer_cost",
    "connection_prices",
    "model_rates",
    "price_label",
    "snapshot_source",
    "sum_costs",
]

CENTS = Decimal(100)
PER_MILLION = Decimal(PRICES_PER_TOKENS)
CACHE_HIT_STATUSES = frozenset({"HIT", "SEMANTIC HIT"})
CONNECTION_SOURCE = "connection prices"


@dataclass(frozen=True)
class Rates:
    """One model's prices in dollars: per token (``input`` uncached, ``cached_input`` read from the
    provider's cache, ``cache_write`` written to it, ``output``), per image by quality then size."""

    source: str
    input: Decimal | None = None
    output: Decimal | None = None
    cached_input: Decimal | None = None
    cache_write: Decimal | None = None
    images: Mapping[str, Mapping[str, Decimal]] = field(default_factory=dict)
    batch: bool = False  # the prices of a provider's Batch API


PAY_AS_YOU_GO = "pay_as_you_go"
BATCH_PRICES = "batch_config"
_DATED = re.compile(r"-\d{4}-\d{2}-\d{2}$")  # a snapshot's date, as OpenAI names them


@functools.lru_cache(maxsize=1)
def _snapshot() -> Mapping[str, Any]:
    """The shipped snapshot, numbers read as Decimal (from their text, so no binary rounding)."""
    text = package_text("prices.json")
    data: Mapping[str, Any] = json.loads(text, parse_float=Decimal, parse_int=Decimal)
    return data


@functools.lru_cache(maxsize=1)
def snapshot_source() -> str:
    """Where the shipped prices come from, as ``pricing.source`` says: ``Portkey-AI/models 2026-08-21``."""
    data = _snapshot()
    return f"{data['source']} {data['date']}"


def _dollars(cents: Any) -> Decimal | None:
    return cents / CENTS if isinstance(cents, Decimal) else None


def _batch_prices(listed: Mapping[str, Any], model: str) -> Mapping[str, Any]:
    """A model's batch prices. The list gives them to an alias (``gpt-4o-mini``) and not to its dated
    snapshot (``gpt-4o-mini-2024-07-18``), the name a batch's answers carry: a snapshot whose
    pay-as-you-go prices are the alias's takes the alias's batch prices. None found: no token price."""
    entry = listed[model]
    if BATCH_PRICES in entry:
        return dict(entry[BATCH_PRICES])
    alias = listed.get(_DATED.sub("", model))
    if alias is not None and BATCH_PRICES in alias and alias.get(PAY_AS_YOU_GO) == entry.get(PAY_AS_YOU_GO):
        return dict(alias[BATCH_PRICES])
    return {}


@functools.lru_cache(maxsize=256)  # a query's model is priced again with every answer: read the list once
def _snapshot_rates(provider: str, model: str, batch: bool = False) -> Rates | None:
    """A model the snapshot lists, at its pay-as-you-go or its batch prices (no token price at all
    when the list gives the model no batch prices: its cost is then unknown, never guessed)."""
    listed = _snapshot()["providers"].get(provider, {})
    entry = listed.get(model)
    if entry is None:
        return None
    tokens = _batch_prices(listed, model) if batch else entry.get(PAY_AS_YOU_GO, {})
    images = {
        quality: {size: cents / CENTS for size, cents in sizes.items()}
        for quality, sizes in entry.get("image", {}).items()
    }
    return Rates(
        snapshot_source(),
        _dollars(tokens.get("request_token")),
        _dollars(tokens.get("response_token")),
        _dollars(tokens.get("cache_read_input_token")),
        _dollars(tokens.get("cache_write_input_token")),
        {} if batch else images,
        batch,
    )


def _per_token(prices: Mapping[str, Decimal], key: str) -> Decimal | None:
    return prices[key] / PER_MILLION if key in prices else None


@functools.lru_cache(maxsize=64)
def connection_prices(text: str | None, batch: bool = False) -> Mapping[str, Rates]:
    """A connection's ``prices`` (its compact JSON text, already checked by the form's schema): model ->
    Rates, from dollars per million tokens; with ``batch``, its ``batchInput`` and ``batchOutput`` (a
    model named without them has no batch price)."""
    if text is None:
        return {}
    given = json.loads(text, parse_float=Decimal, parse_int=Decimal)
    if batch:
        return {
            model: Rates(
                CONNECTION_SOURCE,
                _per_token(prices, "batchInput"),
                _per_token(prices, "batchOutput"),
                batch=True,
            )
            for model, prices in given.items()
        }
    return {
        model: Rates(
            CONNECTION_SOURCE,
            _per_token(prices, "input"),
            _per_token(prices, "output"),
            _per_token(prices, "cachedInput"),
        )
        for model, prices in given.items()
    }


def model_name(model: Any) -> str | None:
    """A model as price lists name it: without a Model Catalog ``@slug/`` prefix."""
    if not isinstance(model, str) or not model:
        return None
    return model.split("/", 1)[1] if model.startswith("@") and "/" in model else model


def model_rates(
    provider: str | None, models: Iterable[str | None], own: Mapping[str, Rates], batch: bool = False
) -> tuple[Rates, str] | None:
    """The rates of the first of ``models`` the connection's own prices name; else those of the first
    model (the answer's) in the snapshot, for ``provider``. With the model priced, which model it was."""
    names = [name for name in map(model_name, models) if name]
    for name in names:
        if name in own:
            return own[name], name
    if provider and names:
        rates = _snapshot_rates(provider, names[0], batch)
        if rates is not None:
            return rates, names[0]
    return None


def _count(value: Any) -> int:
    return value if type(value) is int and value > 0 else 0


def _amount(value: Decimal) -> float:
    """A dollar amount for JSON: the float nearest the exact decimal (0.00027 prints as 0.00027)."""
    return float(value) + 0.0  # + 0.0: never -0.0


def _cost(
    rates: Rates, provider: str | None, model: str, input_usd: Decimal, output_usd: Decimal
) -> dict[str, Any]:
    pricing = {"provider": provider, "model": model, "source": rates.source}
    if rates.batch:
        pricing["prices"] = "batch"
    return {
        "currency": "USD",
        "total": _amount(input_usd + output_usd),
        "input": _amount(input_usd),
        "output": _amount(output_usd),
        "pricing": pricing,
    }


_AUDIO = "audio tokens are not priced by the plugin"


def _token_cost(rates: Rates, usage: Mapping[str, Any]) -> tuple[Decimal, Decimal] | str:
    """(input, output) dollars of an OpenAI-shaped usage, or what keeps it from being priced."""
    details = usage.get("prompt_tokens_details")
    cached = 0
    if isinstance(details, dict):
        if _count(details.get("audio_tokens")):
            return _AUDIO
        cached = _count(details.get("cached_tokens"))
    completion = usage.get("completion_tokens_details")
    if isinstance(completion, dict) and _count(completion.get("audio_tokens")):
        return _AUDIO
    prompt = usage.get("prompt_tokens")
    if type(prompt) is not int:
        return "the answer's usage has no prompt_tokens"
    prompt = max(prompt, 0)
    written = _count(usage.get("cache_creation_input_tokens"))
    output = _count(usage.get("completion_tokens"))
    if rates.input is None or (output and rates.output is None):
        return (
            "the price list has no batch price for it"
            if rates.batch
            else "the price list has no token price for it"
        )
    if cached and rates.cached_input is None:
        return "the price list has no price for cached input tokens"
    if written and rates.cache_write is None:
        return "the price list has no price for tokens written to the provider's cache"
    uncached = max(prompt - cached - written, 0)
    input_usd = uncached * rates.input
    if cached:
        input_usd += cached * (rates.cached_input or 0)
    if written:
        input_usd += written * (rates.cache_write or 0)
    return input_usd, output * (rates.output or Decimal(0))


def _image_cost(rates: Rates, body: Mapping[str, Any], answer: Any) -> Decimal | str:
    """Dollars for the images of an image answer: each at its quality's and size's price."""
    images = answer.get("data") if isinstance(answer, Mapping) else None
    count = len(images) if isinstance(images, list) else 0
    given_quality, given_size = body.get("quality"), body.get("size")
    quality = given_quality if isinstance(given_quality, str) else "default"
    size = given_size if isinstance(given_size, str) else "default"
    price = rates.images.get(quality, {}).get(size)
    if price is None:
        return f"the price list has no price for an image of quality {quality} and size {size}"
    return count * price


def answer_cost(
    operation: str,
    body: Mapping[str, Any] | None,
    answer: Any,
    meta: Mapping[str, Any],
    provider: str | None,
    own: Mapping[str, Rates],
    batch: bool = False,
) -> tuple[dict[str, Any] | None, str | None]:
    """An answer's ``metadata.cost`` and, when it cannot be priced, the warning saying why.

    ``meta``: the answer's metadata so far (``provider`` from Portkey's header, ``model``, ``usage``,
    ``cacheStatus``); ``provider``: the connection's, when Portkey named none; ``batch``: the answer is
    a batch job's row, charged at the batch prices (``own`` then the connection's batch prices)."""
    body = body or {}
    provider = meta.get("provider") if isinstance(meta.get("provider"), str) else provider
    if provider is not None and provider.startswith("@"):
        provider = None  # a Model Catalog slug names credentials, not the provider
    models = [meta.get("model"), body.get("model")] if meta.get("model") else [body.get("model")]
    shown = model_name(models[0]) or model_name(body.get("model"))
    if meta.get("cacheStatus") in CACHE_HIT_STATUSES:
        cost = _cost(
            Rates("cache hit: not billed by the provider"), provider, shown or "", Decimal(0), Decimal(0)
        )
        return {**cost, "cacheHit": True}, None
    found = model_rates(provider, models, own, batch)
    if found is None:
        where = f"provider {provider}" if provider else "an unknown provider"
        name = shown or "an unnamed model"
        return (
            None,
            f"cost: no price for {name} of {where} ({snapshot_source()}; set the connection's prices)",
        )
    rates, model = found
    # billed by the image, whatever usage the answer reports
    if operation_facts(operation).billed == "images":
        images = _image_cost(rates, body, answer)
        if isinstance(images, str):
            return None, f"cost: {model}: {images}"
        return {**_cost(rates, provider, model, Decimal(0), images), "images": len(answer["data"])}, None
    usage = meta.get("usage")
    if not isinstance(usage, dict):
        return None, f"cost: {model}: the answer has no token usage"
    tokens = _token_cost(rates, usage)
    if isinstance(tokens, str):
        return None, f"cost: {model}: {tokens}"
    return _cost(rates, provider, model, *tokens), None


def add_cost(
    meta: dict[str, Any],
    operation: str,
    body: Mapping[str, Any] | None,
    answer: Any,
    provider: str | None,
    prices: str | None,
) -> None:
    """Put ``cost`` (and a warning when there is none) in an answer's metadata, for the operations
    that are billed by the token or the image (``Operation.billed``)."""
    if operation_facts(operation).billed is None:
        return
    cost, warning = answer_cost(operation, body, answer, meta, provider, connection_prices(prices))
    meta["cost"] = cost
    if warning is not None:
        meta.setdefault("warnings", []).append(warning)


def sum_costs(costs: Iterable[Mapping[str, Any] | None]) -> dict[str, Any] | None:
    """The cost of a run: each amount summed exactly (as decimals); None when any part is unpriced.
    ``pricing`` is the first part's."""
    parts = list(costs)
    if not parts or any(part is None for part in parts):
        return None
    totals = {
        key: sum((Decimal(repr(part[key])) for part in parts if part), Decimal(0))
        for key in ("total", "input", "output")
    }
    first = parts[0] or {}
    return {
        "currency": "USD",
        **{key: _amount(value) for key, value in totals.items()},
        "pricing": first.get("pricing"),
    }


def per_million(rate: Decimal | None) -> str | None:
    """A rate per token as dollars per million tokens, for a label: ``$0.15``."""
    if rate is None:
        return None
    value = (rate * PER_MILLION).normalize()
    text = f"{value:f}"
    whole, _, fraction = text.partition(".")
    return f"${whole}.{(fraction + '00')[: max(2, len(fraction))]}"


def _by_the_token(model: str) -> bool:
    """Whether a listed model is billed by the text token (chat, completion, embedding): the price list
    also gives speech by the character and transcription by the minute in its token fields."""
    from ._model_kinds import CHAT, COMPLETION, EMBEDDING, model_kind  # for a dropdown's prices only

    return model_kind({"id": model}) in (CHAT, COMPLETION, EMBEDDING)


def _per_million_number(rate: Decimal | None) -> float | None:
    return None if rate is None else _amount(rate * PER_MILLION)


def model_price(provider: str | None, model: str, own: Mapping[str, Rates]) -> dict[str, Any] | None:
    """A listed model's token prices in dollars per 1M tokens (``cachedInput`` when known), with their
    source; None when the prices do not know the model by the token."""
    found = model_rates(provider, [model], own) if _by_the_token(model) else None
    if found is None or found[0].input is None:
        return None
    rates = found[0]
    price: dict[str, Any] = {
        "input": _per_million_number(rates.input),
        "output": _per_million_number(rates.output),
    }
    if rates.cached_input is not None:
        price["cachedInput"] = _per_million_number(rates.cached_input)
    return {**price, "per": "1M tokens", "currency": "USD", "source": rates.source}


def with_prices(data: Any, provider: str | None, own: Mapping[str, Rates]) -> Any:
    """A ``GET /models`` answer whose items the prices know carry a ``price`` (``model_price``)."""
    items = data.get("data") if isinstance(data, Mapping) else None
    if not isinstance(items, list) or not provider or provider.startswith("@"):
        return data
    priced = []
    for item in items:
        model = item.get("id") if isinstance(item, Mapping) else None
        price = model_price(provider, model, own) if isinstance(model, str) else None
        priced.append(item if price is None else {**item, "price": price})
    return {**data, "data": priced}


def price_label(provider: str | None, model: str, own: Mapping[str, Rates]) -> str | None:
    """``$0.15 / $0.60 per 1M tokens`` for a model the prices know by the token; None otherwise."""
    found = model_rates(provider, [model], own) if _by_the_token(model) else None
    if found is None:
        return None
    rates = found[0]
    given, taken = per_million(rates.input), per_million(rates.output)
    if given is None:
        return None
    if taken is None or rates.output == 0:
        return f"{given} per 1M tokens"
    return f"{given} / {taken} per 1M tokens"
