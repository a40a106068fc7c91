"""The scale tier: the package's pure parts at the sizes they are built for (the largest batch, tens of
thousands of rows and lines) and their properties over hundreds of generated values (hypothesis). Its
tests use the unit tier's helpers and fixtures (tests/unit/unit_support.py and batch_support.py): the
same mocked gateway (respx), nothing on the network."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "unit"))

from unit_support import async_service, no_retry_sleep, service

__all__ = ["async_service", "no_retry_sleep", "service"]
