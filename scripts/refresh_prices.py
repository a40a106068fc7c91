#!/usr/bin/env python3
"""Refresh the price snapshot the package ships (src/tooljet_portkey/prices.json) from Portkey's own
price list, the MIT-licensed ``Portkey-AI/models`` repository.

    python3 scripts/refresh_prices.py            # download from GitHub's raw files
    python3 scripts/refresh_prices.py --from DIR # read a local checkout of Portkey-AI/models

Only the providers the plugin serves are kept, and of each model only what the plugin prices with:
``pay_as_you_go`` token prices (request, response, cache read and write), per-image prices, and
``batch_config``. Prices stay in the upstream unit, US cents per token (or per image). Models with no
such price, and each file's ``default`` entry (a zero placeholder, not a price), are left out: the
plugin must never take a placeholder for a price. Run it, look at the diff, commit it with the date.
Not run by the tests (it needs the network); ``trim_provider`` is tested on a sample.
"""

from __future__ import annotations

import argparse
import datetime
import json
import pathlib
import sys
import urllib.request
from collections.abc import Mapping
from typing import Any

REPOSITORY = "Portkey-AI/models"
RAW = f"https://raw.githubusercontent.com/{REPOSITORY}/main"
# Portkey's provider ids, which are also its x-portkey-provider answer header and the files' names.
PROVIDERS = ("openai", "azure-openai", "anthropic", "google", "vertex-ai", "bedrock", "mistral-ai", "groq")
TOKEN_PRICES = ("request_token", "response_token", "cache_read_input_token", "cache_write_input_token")
TARGET = pathlib.Path(__file__).resolve().parent.parent / "src" / "tooljet_portkey" / "prices.json"


def _price(entry: Any) -> float | int | None:
    """``{"price": 0.00015}`` -> 0.00015; anything else (a missing or odd entry) -> None."""
    price = entry.get("price") if isinstance(entry, Mapping) else None
    if isinstance(price, bool) or not isinstance(price, (int, float)) or price < 0:
        return None
    return price


def _tokens(config: Any) -> dict[str, float | int]:
    """The token prices of one ``pay_as_you_go`` or ``batch_config`` block, flattened."""
    if not isinstance(config, Mapping):
        return {}
    kept = {name: _price(config.get(name)) for name in TOKEN_PRICES}
    return {name: price for name, price in kept.items() if price is not None}


def _images(config: Any) -> dict[str, dict[str, float | int]]:
    """Per-image prices by quality then size (``"default"`` where the model has one price)."""
    image = config.get("image") if isinstance(config, Mapping) else None
    if not isinstance(image, Mapping):
        return {}
    table: dict[str, dict[str, float | int]] = {}
    for quality, sizes in image.items():
        if not isinstance(sizes, Mapping):
            continue
        priced = {size: _price(entry) for size, entry in sizes.items()}
        kept = {size: price for size, price in priced.items() if price is not None}
        if kept:
            table[str(quality)] = kept
    return table


def trim_model(entry: Any) -> dict[str, Any] | None:
    """What the plugin keeps of one model's upstream entry; None when it has no price the plugin uses."""
    config = entry.get("pricing_config") if isinstance(entry, Mapping) else None
    if not isinstance(config, Mapping):
        return None
    trimmed: dict[str, Any] = {}
    pay = config.get("pay_as_you_go")
    tokens = _tokens(pay)
    if "request_token" in tokens or "response_token" in tokens:
        trimmed["pay_as_you_go"] = tokens
    images = _images(pay)
    if images:
        trimmed["image"] = images
    batch = _tokens(config.get("batch_config"))
    if batch and "pay_as_you_go" in trimmed:
        trimmed["batch_config"] = batch
    return trimmed or None


def trim_provider(data: Any) -> dict[str, Any]:
    """One upstream ``pricing/<provider>.json`` trimmed: model -> ``trim_model``, sorted by model."""
    if not isinstance(data, Mapping):
        return {}
    models = {}
    for model, entry in data.items():
        if model == "default":
            continue
        trimmed = trim_model(entry)
        if trimmed is not None:
            models[str(model)] = trimmed
    return dict(sorted(models.items()))


def snapshot(files: Mapping[str, Any], license_text: str, date: str) -> dict[str, Any]:
    """The whole shipped file: where it came from, its license, and the providers' trimmed prices."""
    return {
        "source": REPOSITORY,
        "url": f"https://github.com/{REPOSITORY}",
        "date": date,
        "unit": "US cents per token (per image for image prices)",
        "license": license_text.strip(),
        "providers": {
            provider: trim_provider(files[provider]) for provider in PROVIDERS if provider in files
        },
    }


def render(data: Mapping[str, Any]) -> str:
    """The snapshot as text: one model a line, so that a refresh's diff shows each price that moved."""
    head = {key: value for key, value in data.items() if key != "providers"}
    lines = [
        "{",
        *(f" {json.dumps(key)}: {json.dumps(value)}," for key, value in head.items()),
        ' "providers": {',
    ]
    providers = list(data["providers"].items())
    for p_index, (provider, models) in enumerate(providers):
        lines.append(f"  {json.dumps(provider)}: {{")
        entries = list(models.items())
        for m_index, (model, prices) in enumerate(entries):
            comma = "," if m_index < len(entries) - 1 else ""
            lines.append(f"   {json.dumps(model)}: {json.dumps(prices, separators=(',', ':'))}{comma}")
        lines.append("  }" + ("," if p_index < len(providers) - 1 else ""))
    lines += [" }", "}"]
    return "\n".join(lines) + "\n"


def _download(path: str) -> bytes:
    with urllib.request.urlopen(f"{RAW}/{path}", timeout=60) as reply:
        body: bytes = reply.read()
        return body


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--from", dest="source", type=pathlib.Path, help="a local checkout of Portkey-AI/models"
    )
    parser.add_argument(
        "--date", default=datetime.date.today().isoformat(), help="the data's date (YYYY-MM-DD)"
    )
    parser.add_argument("--out", type=pathlib.Path, default=TARGET)
    args = parser.parse_args(argv)

    def read(path: str) -> bytes:
        return (args.source / path).read_bytes() if args.source else _download(path)

    files = {provider: json.loads(read(f"pricing/{provider}.json")) for provider in PROVIDERS}
    data = snapshot(files, read("LICENSE").decode("utf-8"), args.date)
    args.out.write_text(render(data), encoding="utf-8")
    counts = ", ".join(f"{name} {len(models)}" for name, models in data["providers"].items())
    print(f"wrote {args.out} ({counts} models)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
