"""Fixtures of the playground's server tests: a running playground (with its embedded simulator), a
recording HTTP client on it, and a hosted-profile simulator to point a connection with an API key at."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playground_support import Recorder

from tooljet_portkey.playground import Playground
from tooljet_portkey.simulator import Simulator


@pytest.fixture
def playground() -> Iterator[Playground]:
    with Playground() as running:
        yield running
    assert running.errors == []


@pytest.fixture
def client(playground: Playground) -> Iterator[Recorder]:
    recorder = Recorder(playground)
    yield recorder
    recorder.close()


@pytest.fixture(scope="module")
def hosted_simulator() -> Iterator[Simulator]:
    with Simulator(profile="hosted") as sim:
        yield sim


@pytest.fixture
def hosted(hosted_simulator: Simulator) -> Simulator:
    hosted_simulator.reset()
    return hosted_simulator
