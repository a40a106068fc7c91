"""httpcore's connection pools, in the clients this package builds, without scans that grow as the
square of the requests and connections.

httpcore 1.0 reassigns waiting requests to connections whenever a request comes or goes
(``_assign_requests_to_connections``), and at 50 requests at once that was most of an async table
run's time, making concurrency 50 slower than 16 (benchmarks/README.md), for two reasons:

- it hands the first idle connection to *every* waiting request of a pass; an HTTP/1.1 connection
  takes one request, so all but one of them fail (``ConnectionNotAvailable``), and each reruns the
  whole pass: about nine passes per request at 50;
- for each idle connection it builds a list of every connection only to take its length.

The method here gives a waiting request a connection no other request holds, and reads the count once.
Otherwise it decides as httpcore's does: the same connections closed (closed, expired, idle past the
keep-alive count), reused in the same order, or opened, within the same limits.

Only HTTP/1.1 pools of exactly httpcore's own classes, of the 1.0 series whose method this mirrors,
are changed; any other keeps httpcore's method (slower, the same results).
"""

from __future__ import annotations

from typing import Any

import httpcore

__all__ = ["install"]


def _assign_requests_to_connections(self: Any) -> list[Any]:
    """httpcore 1.0's method, but a connection goes to one request at a time, and the count of
    connections is read once (see the module docstring)."""
    closing_connections = []
    connections = self._connections
    for connection in list(connections):
        if connection.is_closed():
            connections.remove(connection)
        elif connection.has_expired() or (
            connection.is_idle() and len(connections) > self._max_keepalive_connections
        ):
            connections.remove(connection)
            closing_connections.append(connection)

    queued = [request for request in self._requests if request.is_queued()]
    if not queued:
        return closing_connections
    # connections a request holds (sending, or about to): not free for another one
    held = {id(request.connection) for request in self._requests if request.connection is not None}
    for pool_request in queued:
        origin = pool_request.request.url.origin
        available = next(
            (
                c
                for c in connections
                if c.can_handle_request(origin) and c.is_available() and id(c) not in held
            ),
            None,
        )
        if available is not None:
            connection = available
        elif len(connections) < self._max_connections:
            connection = self.create_connection(origin)
            connections.append(connection)
        else:
            idle = next((c for c in connections if c.is_idle() and id(c) not in held), None)
            if idle is None:
                continue  # it waits for a request to end
            connections.remove(idle)
            closing_connections.append(idle)
            connection = self.create_connection(origin)
            connections.append(connection)
        held.add(id(connection))
        pool_request.assign_to_connection(connection)
    return closing_connections


class _ConnectionPool(httpcore.ConnectionPool):
    _assign_requests_to_connections = _assign_requests_to_connections


class _AsyncConnectionPool(httpcore.AsyncConnectionPool):
    _assign_requests_to_connections = _assign_requests_to_connections


_REPLACEMENTS: dict[type[Any], type[Any]] = {
    httpcore.ConnectionPool: _ConnectionPool,
    httpcore.AsyncConnectionPool: _AsyncConnectionPool,
}


def install(client: Any) -> None:
    """Give the direct HTTP/1.1 pool of a client this package built the method above (httpcore 1.0)."""
    if not httpcore.__version__.startswith("1.0."):
        return
    pool = getattr(getattr(client, "_transport", None), "_pool", None)
    replacement = _REPLACEMENTS.get(type(pool))
    if replacement is not None and getattr(pool, "_http2", True) is False:
        pool.__class__ = replacement
