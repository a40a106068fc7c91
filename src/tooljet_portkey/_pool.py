"""The client pool: one client per data source, shared by concurrent queries, closed only when idle.

Every query and stream takes a *lease* on its data source's client and gives it back when it ends.
A client that is replaced (the data source was edited) or evicted (past ``MAX_CACHED_CLIENTS``) leaves
the pool at once, so no new query gets it, but it is *retired*, not closed: the pool hands it back for
closing only when its last lease ends. Closing a client under a running query would break that query
(a sync read on a closed socket, an async "client has been closed").

The pool does no I/O: it says which clients are now idle and retired, and the service closes them
(``close()`` or ``await aclose()``). Every decision is made under one lock, so a lease count is never
wrong whatever the threads do; the hot path (a hit) is one lock, a dict lookup and a counter.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable, Sequence
from typing import Any, Generic, TypeVar

from . import _constants
from ._settings import ConnectionSettings

__all__ = ["ClientPool", "Lease"]

ClientT = TypeVar("ClientT")

_NOTHING: tuple[Any, ...] = ()


class Lease(Generic[ClientT]):
    """One pooled client and who uses it: the number of queries and streams holding it, whether it
    has left the pool, and (async) the event loop its connections belong to."""

    __slots__ = ("client", "holders", "owner", "retired", "settings", "updated_at")

    def __init__(self, client: ClientT, settings: ConnectionSettings, updated_at: Any, owner: Any) -> None:
        self.client = client
        self.settings = settings
        self.updated_at = updated_at
        self.owner = owner
        self.holders = 0
        self.retired = False

    def __repr__(self) -> str:
        state = "retired" if self.retired else "pooled"
        return f"Lease({state}, holders={self.holders})"


class ClientPool(Generic[ClientT]):
    """Clients by key, least recently used first; see the module docstring for the lease rules."""

    def __init__(self, make: Callable[[ConnectionSettings], ClientT]) -> None:
        self._make = make
        self._leases: OrderedDict[Hashable, Lease[ClientT]] = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._leases)

    def acquire(
        self, key: Hashable, settings: ConnectionSettings, updated_at: Any, owner: Any = None
    ) -> tuple[Lease[ClientT], Sequence[Lease[ClientT]]]:
        """Hold the client for ``key``: the pooled one while ``updated_at`` and the settings are
        unchanged, else a new one that replaces it. Also returns the retired clients this made idle
        (the replaced one, the evicted ones), which the caller must close."""
        with self._lock:
            lease = self._leases.get(key)
            if (
                lease is not None
                and lease.updated_at == updated_at
                and (lease.settings is settings or lease.settings == settings)  # `is`: parsed ones are kept
            ):
                self._leases.move_to_end(key)
                lease.holders += 1
                return lease, _NOTHING
            idle: list[Lease[ClientT]] = []
            if lease is not None:
                del self._leases[key]
                _retire(lease, idle)
            lease = self._leases[key] = Lease(self._make(settings), settings, updated_at, owner)
            lease.holders = 1
            while len(self._leases) > _constants.MAX_CACHED_CLIENTS:
                _retire(self._leases.popitem(last=False)[1], idle)
        return lease, idle

    def release(self, lease: Lease[ClientT]) -> bool:
        """Give a lease back; True when that was the last hold on a retired client, which the caller
        must now close (exactly one caller ever gets True for a client)."""
        with self._lock:
            lease.holders -= 1
            return lease.retired and lease.holders == 0

    def retire(self, which: Callable[[Lease[ClientT]], bool] | None = None) -> list[Lease[ClientT]]:
        """Take every client (or those ``which`` picks) out of the pool; return those already idle,
        for the caller to close. The others are closed by whoever releases their last lease."""
        idle: list[Lease[ClientT]] = []
        with self._lock:
            for key, lease in list(self._leases.items()):
                if which is None or which(lease):
                    del self._leases[key]
                    _retire(lease, idle)
        return idle

    def pooled(self) -> list[ClientT]:
        """The clients in the pool now, least recently used first."""
        with self._lock:
            return [lease.client for lease in self._leases.values()]


def _retire(lease: Lease[Any], idle: list[Lease[Any]]) -> None:
    lease.retired = True
    if lease.holders == 0:
        idle.append(lease)
