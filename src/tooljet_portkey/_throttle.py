"""A hook from the client's retry loop to whatever paces a run's requests (a table run's limiter).

A row that meets a 429 and then succeeds on the client's own retry never shows the 429 in its result, yet
the whole run should slow down at once, not only that row. So the client, before it waits to retry after
a rate-limit answer, calls the hook set in the current context (``contextvars``: a worker thread or an
asyncio task sets it around its own request, and no other request sees it) with the seconds the server
asked for (``retry-after-ms`` or ``retry-after``), or None when it named none. Without a hook, nothing
happens: a plain query never pays for this beyond one context lookup per retry.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from ._errors import APIStatusError, PortkeyError
from ._retry import QUOTA_ERROR_TYPES, retry_after

__all__ = ["QUOTA_ERROR_TYPES", "is_rate_limit", "rate_limits_to", "retrying"]

RateLimitHook = Callable[[float | None], object]

_HOOK: ContextVar[RateLimitHook | None] = ContextVar("tooljet_portkey_rate_limit_hook", default=None)


def is_rate_limit(status_code: object, retry_after_value: object, error_type: object = None) -> bool:
    """A 429, or a 503 that says when to come back: the server is shedding load, not failing. A 429
    that says the quota is spent (``insufficient_quota``) is not: no pause brings the quota back."""
    if error_type in QUOTA_ERROR_TYPES:
        return False
    return status_code == 429 or (status_code == 503 and retry_after_value is not None)


@contextmanager
def rate_limits_to(hook: RateLimitHook) -> Iterator[None]:
    """Within this block (in this thread or task), rate limits the client retries reach ``hook``."""
    token = _HOOK.set(hook)
    try:
        yield
    finally:
        _HOOK.reset(token)


def retrying(error: PortkeyError) -> None:
    """The client is about to wait and retry after ``error``: tell the hook if it was a rate limit."""
    hook = _HOOK.get()
    if hook is None or not isinstance(error, APIStatusError):
        return
    if is_rate_limit(error.status_code, error.headers.get("retry-after"), error.error_type):
        hook(retry_after(error.headers))
