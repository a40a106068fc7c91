"""The SDK tier: the official ``openai`` and ``portkey-ai`` Python SDKs drive the offline simulator
over real HTTP on loopback, as an app using them would drive Portkey. The SDKs come with the ``sdk``
extra (part of ``dev``); without them the tier is skipped, unless the environment variable CI is set:
then it fails.

Each test gets the simulators reset: no recorded request, no pending fault, no feedback.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sdk_support import KEY

from tooljet_portkey.simulator import Simulator


@pytest.fixture(scope="module")
def _sims() -> Iterator[dict[str, Simulator]]:
    started = {
        "hosted": Simulator(profile="hosted", api_keys=[KEY]).start(),
        "openai": Simulator(profile="openai").start(),
    }
    yield started
    for sim in started.values():
        sim.stop()


@pytest.fixture
def hosted(_sims: dict[str, Simulator]) -> Iterator[Simulator]:
    """Portkey's hosted API, accepting only the API key KEY."""
    sim = _sims["hosted"]
    sim.reset()
    yield sim
    assert sim.errors == []


@pytest.fixture
def upstream(_sims: dict[str, Simulator]) -> Iterator[Simulator]:
    """A plain OpenAI-compatible server: no Portkey headers in its answers."""
    sim = _sims["openai"]
    sim.reset()
    yield sim
    assert sim.errors == []
