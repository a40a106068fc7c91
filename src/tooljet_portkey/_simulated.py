"""When the embedded simulator answers: the rule the command line and the playground share.

With neither an API key nor a gateway URL, a connection is the simulator's: its URL is the gateway and,
when nothing else routes the request, the provider is ``SIMULATOR_PROVIDER``. Below both ``cli`` and
``playground``, which apply it (the simulator itself is imported only by them, when it answers).
"""

from __future__ import annotations

from collections.abc import Mapping

__all__ = ["SIMULATOR_PROVIDER", "needs_simulator", "with_simulator_provider"]

SIMULATOR_PROVIDER = "openai"


def needs_simulator(options: Mapping[str, str]) -> bool:
    """Whether these connection options leave the embedded simulator to answer."""
    return not options.get("apiKey") and not options.get("gatewayUrl")


def with_simulator_provider(options: Mapping[str, str]) -> dict[str, str]:
    """The options with the simulator's provider when nothing else routes the request (no provider,
    virtual key or config)."""
    routed = dict(options)
    if not (routed.get("provider") or routed.get("virtualKey") or routed.get("config")):
        routed["provider"] = SIMULATOR_PROVIDER
    return routed
