"""An offline, Portkey-compatible server for trying the plugin and testing apps without spending tokens.

    from tooljet_portkey.simulator import Simulator

    with Simulator(profile="gateway") as sim:
        ...  # point a client at sim.url; sim.inject(status=429) faults the next chat request

Profiles, faults and shapes are described in docs/simulator.md. Not imported by ``import tooljet_portkey``.
"""

from __future__ import annotations

from ._answers import count_tokens, embedding_vector
from ._faults import FAULT_HEADER, Fault
from ._feedback import FeedbackRecord
from ._pacing import RateLimit
from ._rules import PROFILES
from ._server import RecordedRequest, Simulator

__all__ = [
    "FAULT_HEADER",
    "PROFILES",
    "Fault",
    "FeedbackRecord",
    "RateLimit",
    "RecordedRequest",
    "Simulator",
    "count_tokens",
    "embedding_vector",
]
