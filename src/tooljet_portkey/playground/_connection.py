"""The data source the page edits: its options, kept in the server process.

The page sends what the user typed; secrets (password and encrypted fields, and keys inside other values
such as a config's ``api_key``) stay here. What goes back to the page says only which fields are set.
"""

from __future__ import annotations

import contextlib
import json
import threading
from collections.abc import Mapping
from typing import Any

from .._constants import MIN_SECRET_CHARS
from .._secrets import config_secrets
from .._simulated import needs_simulator, with_simulator_provider
from ._forms import secret_keys

__all__ = ["MIN_SECRET_CHARS", "ConnectionStore", "effective_options"]


class ConnectionStore:
    """The connection options (manifest.json keys -> host text), thread-safe, with a version number that
    grows on every change (the host's "data source updated at", which renews the pooled client)."""

    def __init__(self, manifest: Mapping[str, Any], initial: Mapping[str, str] | None = None) -> None:
        self._keys = tuple(manifest.get("properties", {}))
        self._secret_keys = secret_keys(manifest)
        self._lock = threading.Lock()
        self._values: dict[str, str] = {}
        self.version = 0
        if initial:
            self.update(initial)
            self.version = 0

    def __repr__(self) -> str:
        return f"ConnectionStore(set={sorted(self._values)})"

    def _check(self, changes: Mapping[str, Any]) -> None:
        for key, value in changes.items():
            if key not in self._keys:
                raise ValueError(f"{key}: not a field of manifest.json")
            if not isinstance(value, str):
                raise ValueError(f"{key}: the value must be text, as a host sends it")

    def preview(self, changes: Mapping[str, Any]) -> dict[str, str]:
        """The options these changes would make, without making them (what Save validates first)."""
        self._check(changes)
        options = self.options()
        for key, value in changes.items():
            if value.strip():
                options[key] = value
            else:
                options.pop(key, None)
        return options

    def update(self, changes: Mapping[str, Any]) -> None:
        """Apply the fields the user changed; empty text clears a field. ValueError names a bad key."""
        self._check(changes)
        with self._lock:
            for key, value in changes.items():
                if value.strip():
                    self._values[key] = value
                else:
                    self._values.pop(key, None)
            self.version += 1

    def options(self) -> dict[str, str]:
        """The source options as a host hands them to the plugin."""
        with self._lock:
            return dict(self._values)

    def secrets(self) -> tuple[str, ...]:
        """Every secret the user typed: the secret fields' values and keys inside JSON values."""
        found: list[str] = []
        for key, value in self.options().items():
            if key in self._secret_keys:
                found.append(value)
                found.append(value.strip())
            elif value.lstrip()[:1] in ("{", "["):
                with contextlib.suppress(ValueError, RecursionError):
                    found.extend(config_secrets(json.loads(value)))
        return tuple(sorted({s for s in found if len(s) >= MIN_SECRET_CHARS}, key=len, reverse=True))

    def view(self) -> dict[str, dict[str, Any]]:
        """What the page may know: which fields are set, and the text of those holding no secret."""
        values = self.options()
        secrets = self.secrets()
        shown: dict[str, dict[str, Any]] = {}
        for key in self._keys:
            value = values.get(key)
            if value is None:
                shown[key] = {"set": False}
            elif key in self._secret_keys or any(secret in value for secret in secrets):
                shown[key] = {"set": True, "hidden": True}
            else:
                shown[key] = {"set": True, "value": value}
        return shown


def effective_options(options: Mapping[str, str], simulator_url: str) -> tuple[dict[str, str], bool]:
    """The options the plugin gets, and whether the embedded simulator answers.

    The command line's rule (``_simulated``): with neither an API key nor a gateway URL, the simulator's
    URL is the gateway and, when nothing else routes the request, the provider is ``openai``.
    """
    if not needs_simulator(options):
        return dict(options), False
    effective = with_simulator_provider(options)
    effective["gatewayUrl"] = simulator_url
    return effective, True
