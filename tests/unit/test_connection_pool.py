"""The clients' httpcore pools hand a connection to one waiting request at a time (_connection_pool.py)."""

from __future__ import annotations

from typing import Any

import httpcore
import httpx
from httpcore._sync.connection_pool import PoolRequest

from tooljet_portkey import PortkeyClient, _connection_pool

ORIGIN = httpcore.URL("http://gateway.test/").origin


class Connection:
    """A stand-in for httpcore's HTTP/1.1 connection: idle (free for a request), active or closed."""

    def __init__(
        self, name: str, state: str = "idle", expired: bool = False, elsewhere: bool = False
    ) -> None:
        self.name, self.state, self.expired, self.elsewhere = name, state, expired, elsewhere

    def is_closed(self) -> bool:
        return self.state == "closed"

    def has_expired(self) -> bool:
        return self.expired

    def is_idle(self) -> bool:
        return self.state == "idle"

    def is_available(self) -> bool:
        return self.state == "idle"

    def can_handle_request(self, origin: Any) -> bool:
        return origin == ORIGIN and not self.elsewhere

    def __repr__(self) -> str:
        return self.name


def waiting_request() -> Any:
    return PoolRequest(httpcore.Request("GET", "http://gateway.test/"))


class Pool:
    _assign_requests_to_connections = _connection_pool._assign_requests_to_connections

    def __init__(self, connections: list[Connection], waiting: int, max_connections: int = 4) -> None:
        self._connections = connections
        self._max_connections = max_connections
        self._max_keepalive_connections = max_connections
        self._requests = [waiting_request() for _ in range(waiting)]
        self.opened: list[Connection] = []

    def create_connection(self, origin: Any) -> Connection:
        self.opened.append(Connection(f"new{len(self.opened)}"))
        return self.opened[-1]


def assigned(pool: Pool) -> list[str]:
    return [repr(request.connection) for request in pool._requests]


def test_each_waiting_request_gets_a_connection_no_other_request_holds() -> None:
    # httpcore 1.0 gives the idle connection to all three; two then fail and scan again
    pool = Pool([Connection("a"), Connection("b", "active")], waiting=3)
    assert pool._assign_requests_to_connections() == []
    assert assigned(pool) == ["a", "new0", "new1"]
    assert pool._connections == [pool._connections[0], pool._connections[1], *pool.opened]


def test_a_connection_held_by_a_request_not_yet_sent_is_not_handed_out_again() -> None:
    pool = Pool([Connection("a")], waiting=1)
    pool._assign_requests_to_connections()
    pool._requests.append(waiting_request())
    pool._assign_requests_to_connections()
    assert assigned(pool) == ["a", "new0"]


def test_a_full_pool_replaces_a_free_idle_connection_to_elsewhere_and_otherwise_lets_the_request_wait() -> (
    None
):
    idle, busy = Connection("idle", elsewhere=True), Connection("busy", "active")
    pool = Pool([idle, busy], waiting=2, max_connections=2)
    closing = pool._assign_requests_to_connections()
    assert closing == [idle]
    assert assigned(pool) == ["new0", "None"]  # the second waits: no connection is free
    assert pool._connections == [busy, pool.opened[0]]


def test_closed_expired_and_surplus_idle_connections_go_as_in_httpcore() -> None:
    closed, expired = Connection("closed", "closed"), Connection("old", expired=True)
    idle_first, idle_last = Connection("idle1"), Connection("idle2")
    pool = Pool([closed, expired, idle_first, idle_last], waiting=0, max_connections=4)
    pool._max_keepalive_connections = 1
    assert pool._assign_requests_to_connections() == [expired, idle_first]
    assert pool._connections == [idle_last]  # keep-alive count reached


def test_the_clients_this_package_builds_get_the_pool_and_one_passed_in_does_not() -> None:
    with PortkeyClient(base_url="http://gateway.test/v1") as client:
        assert type(client._http._transport._pool) is _connection_pool._ConnectionPool  # type: ignore[attr-defined]
    http = httpx.Client()
    with PortkeyClient(base_url="http://gateway.test/v1", http_client=http):
        assert type(http._transport._pool) is httpcore.ConnectionPool  # type: ignore[attr-defined]
    plain = httpx.AsyncClient()
    _connection_pool.install(plain)
    assert type(plain._transport._pool) is _connection_pool._AsyncConnectionPool  # type: ignore[attr-defined]
