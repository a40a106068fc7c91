"""Small helpers the gateway tier's tests share."""

from __future__ import annotations

import asyncio
import os
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tooljet_portkey import AsyncQueryService, QueryService

LOG_TAIL = 8000
# Run the gateway with tests/integration/mutable_fetch_headers.cjs preloaded: the known-defect tests
# are then expected to pass.
FETCH_SHIM_ON = os.environ.get("GATEWAY_FETCH_SHIM", "") == "1"

Runner = Callable[[dict[str, Any], dict[str, Any]], dict[str, Any]]
"""QueryService.run or AsyncQueryService.run: (source options, query options) -> QueryResult."""


@dataclass
class Gateway:
    """The running gateway: ``url`` is its API base (``http://127.0.0.1:<port>/v1``)."""

    url: str
    log_path: Path
    process: subprocess.Popen[bytes]

    def log_size(self) -> int:
        return self.log_path.stat().st_size

    def log_since(self, offset: int = 0) -> str:
        with self.log_path.open("rb") as log:
            log.seek(offset)
            text = log.read().decode("utf-8", "replace")
        return text[-LOG_TAIL:]


def without_ids(completion: dict[str, Any]) -> dict[str, Any]:
    """A completion minus what differs between two identical calls: its id and creation time."""
    return {key: value for key, value in completion.items() if key not in ("id", "created")}


def portkey_headers(headers: dict[str, str] | Any) -> list[str]:
    """The x-portkey-* headers in a request the upstream received (the gateway should keep them)."""
    return sorted(key for key in headers if key.lower().startswith("x-portkey-"))


def check_connection(flavour: str, source: dict[str, Any]) -> dict[str, Any]:
    """QueryService.test_connection ("sync") or AsyncQueryService.test_connection ("async")."""
    if flavour == "sync":
        return QueryService().test_connection(source)
    return asyncio.run(AsyncQueryService().test_connection(source))
