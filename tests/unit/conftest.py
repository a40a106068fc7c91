"""The unit tier's fixtures. They live in unit_support.py beside the helpers test modules import; naming
them here makes pytest offer them to every test of the tier."""

from __future__ import annotations

from unit_support import async_service, no_retry_sleep, service

__all__ = ["async_service", "no_retry_sleep", "service"]
