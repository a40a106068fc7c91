"""The model dropdown against a real loopback server listing a million models: the choices stop at
MAX_MODEL_CHOICES, with a warning, instead of a million choices a host would have to draw.

The server sends the list as pieces (a thousand of a thousand models each), so the test never builds
one string of it; the client reads the whole answer (about 16 MB, within maxResponseMiB) as for any
other query.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from typing import Any

import pytest
from loopback_server import FaultServer, Reply

from tooljet_portkey import AsyncQueryService, QueryService
from tooljet_portkey._constants import MAX_MODEL_CHOICES

MODELS = 1_000_000
PER_PIECE = 1_000
CUT = "Portkey listed more than 10,000 models: the first 10,000 are offered; type the name of another one"


def model_id(index: int) -> str:
    return f"m{index:07d}"


@pytest.fixture(scope="module")
def million() -> Iterator[tuple[bytes, ...]]:
    """``{"object": "list", "data": [{"id": "m0000000"}, ...]}`` in pieces."""
    pieces = [b'{"object":"list","data":[']
    for start in range(0, MODELS, PER_PIECE):
        items = ",".join(f'{{"id":"{model_id(i)}"}}' for i in range(start, start + PER_PIECE))
        pieces.append(("," if start else "").encode() + items.encode())
    pieces.append(b"]}")
    yield tuple(pieces)


def listed(flavour: str, server: FaultServer) -> dict[str, Any]:
    options = {"apiKey": "pk-dropdown", "provider": "openai", "gatewayUrl": server.url}
    if flavour == "sync":
        with QueryService() as service:
            return service.invoke_method("listModels", options, {"operation": "chat"})

    async def invoke() -> dict[str, Any]:
        async with AsyncQueryService() as service:
            return await service.invoke_method("listModels", options, {"operation": "chat"})

    return asyncio.run(invoke())


@pytest.mark.parametrize("flavour", ["sync", "async"])
def test_a_million_models_give_the_first_ten_thousand_choices(
    fault_server: FaultServer, million: tuple[bytes, ...], flavour: str
) -> None:
    fault_server.script(Reply(200, pieces=million, headers={"content-type": "application/json"}))
    result = listed(flavour, fault_server)
    assert MAX_MODEL_CHOICES == 10_000
    assert result == {
        "status": "ok",
        "data": [{"value": model_id(i), "label": model_id(i)} for i in range(MAX_MODEL_CHOICES)],
        "metadata": {"warning": CUT},
    }
    assert len(json.dumps(result)) < 1024 * 1024  # what the host draws: ten thousand choices, not a million
    assert [(r.method, r.path) for r in fault_server.requests] == [("GET", "/v1/models")]
