"""Shared by the SDK tier: import an official SDK or skip the module (fail instead when CI is set), and
the simulator's own answer to a request, for comparing with what an SDK hands its caller."""

from __future__ import annotations

import importlib
import json
import os
from types import ModuleType
from typing import Any

import httpx
import pytest

from tooljet_portkey.simulator import Simulator

KEY = "pk-sdk-tier"  # the one Portkey API key the simulators of this tier accept
PROVIDER_KEY = "sk-provider-sdk-tier"
HELLO = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hello there"}]
RETRY_AFTER = "0.01"  # seconds: the SDKs honour Retry-After, so their retries wait 10 ms, not their backoff


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def import_sdk(module: str, package: str) -> ModuleType:
    """The SDK's module; without it the calling test module is skipped, or fails when CI is set."""
    try:
        return importlib.import_module(module)
    except ImportError as err:
        reason = (
            f"the {package} SDK cannot be imported ({err}): install the 'sdk' extra "
            "(pip install -e '.[sdk]'; the 'dev' extra includes it)"
        )
        if in_ci():
            pytest.fail(f"CI is set but the SDK tier cannot run: {reason}", pytrace=False)
        pytest.skip(reason, allow_module_level=True)


def direct(sim: Simulator, path: str, body: Any) -> Any:
    """The simulator's answer to ``body`` sent straight to ``path`` with plain httpx (a GET when ``body``
    is None): its JSON, or the ``data:`` events of a stream as parsed JSON. The requests it records
    are forgotten afterwards."""
    headers = {"x-portkey-api-key": KEY, "x-portkey-provider": "openai"}
    with httpx.Client(timeout=30) as client:
        if body is None:
            response = client.get(sim.url + path, headers=headers)
        else:
            response = client.post(sim.url + path, json=body, headers=headers)
    sim.reset()
    assert response.status_code == 200, response.text
    if response.headers["content-type"] != "text/event-stream":
        return response.json()
    events = [block.removeprefix("data: ") for block in response.text.split("\n\n") if block]
    assert events[-1] == "[DONE]"
    return [json.loads(event) for event in events[:-1]]


def without_ids(answer: dict[str, Any]) -> dict[str, Any]:
    """An answer minus what differs on every call (``id`` and ``created``)."""
    return {k: v for k, v in answer.items() if k not in ("id", "created")}
