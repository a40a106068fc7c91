"""The lease rules of the client pool, without any network: who gets which client, and who must
close a retired one (exactly one caller, once no query holds it)."""

from __future__ import annotations

import random
import threading
from typing import Any

import pytest

from tooljet_portkey._options import parse_connection
from tooljet_portkey._pool import ClientPool
from tooljet_portkey._settings import ConnectionSettings

SETTINGS = parse_connection({"apiKey": "pk-pool-test", "gatewayUrl": "http://gateway.test/v1"})
OTHER_SETTINGS = parse_connection(
    {"apiKey": "pk-pool-test", "gatewayUrl": "http://gateway.test/v1", "timeout": "9"}
)


class FakeClient:
    """Stands for a PortkeyClient: records its use and its closing, and refuses both when closed."""

    def __init__(self, number: int) -> None:
        self.number = number
        self.closed = 0
        self.uses = 0

    def use(self) -> None:
        assert not self.closed, f"client {self.number} used after it was closed"
        self.uses += 1

    def close(self) -> None:
        self.closed += 1

    def __repr__(self) -> str:
        return f"FakeClient({self.number})"


class Pool(ClientPool[FakeClient]):
    def __init__(self) -> None:
        self.made: list[FakeClient] = []
        self._made_lock = threading.Lock()
        super().__init__(self._make_fake)

    def _make_fake(self, settings: ConnectionSettings) -> FakeClient:
        with self._made_lock:
            client = FakeClient(len(self.made))
            self.made.append(client)
        return client


def close_all(idle: Any) -> list[int]:
    for lease in idle:
        lease.client.close()
    return [lease.client.number for lease in idle]


def test_a_hit_shares_the_client_and_counts_its_holders() -> None:
    pool = Pool()
    first, idle = pool.acquire("ds-1", SETTINGS, 1)
    second, idle_too = pool.acquire("ds-1", SETTINGS, 1)
    assert second is first and (first.holders, list(idle), list(idle_too)) == (2, [], [])
    assert pool.release(first) is False and pool.release(second) is False
    assert first.holders == 0 and not first.retired and pool.pooled() == [first.client]


def test_an_edit_replaces_an_idle_client_and_hands_it_back_for_closing() -> None:
    pool = Pool()
    old, _ = pool.acquire("ds-1", SETTINGS, 1)
    pool.release(old)
    new, idle = pool.acquire("ds-1", SETTINGS, 2)
    assert new is not old and list(idle) == [old] and old.retired
    assert pool.pooled() == [new.client]


def test_changed_settings_replace_the_client_too() -> None:
    pool = Pool()
    old, _ = pool.acquire("ds-1", SETTINGS, 1)
    pool.release(old)
    new, idle = pool.acquire("ds-1", OTHER_SETTINGS, 1)
    assert new.client is not old.client and list(idle) == [old]


def test_a_replaced_client_in_use_is_closed_by_its_last_holder_only() -> None:
    pool = Pool()
    first_query, _ = pool.acquire("ds-1", SETTINGS, 1)
    second_query, _ = pool.acquire("ds-1", SETTINGS, 1)
    new, idle = pool.acquire("ds-1", SETTINGS, 2)
    assert list(idle) == [] and first_query.retired  # held: not handed back yet
    assert pool.acquire("ds-1", SETTINGS, 2)[0] is new  # no one gets the retired client any more
    assert pool.release(second_query) is False
    assert pool.release(first_query) is True  # the last holder closes it
    assert first_query.holders == 0


def test_eviction_keeps_the_least_recently_used_order(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("tooljet_portkey._constants.MAX_CACHED_CLIENTS", 3)
    pool = Pool()
    leases = [pool.acquire(f"ds-{i}", SETTINGS, 1)[0] for i in range(3)]
    for lease in leases[1:]:
        pool.release(lease)
    pool.release(pool.acquire("ds-1", SETTINGS, 1)[0])  # ds-1 used last: ds-0, then ds-2, are oldest
    _, idle = pool.acquire("ds-3", SETTINGS, 1)
    assert list(idle) == [] and leases[0].retired  # ds-0 evicted, but still held
    _, idle = pool.acquire("ds-4", SETTINGS, 1)
    assert list(idle) == [leases[2]]  # ds-2 evicted, idle
    assert [client.number for client in pool.pooled()] == [1, 3, 4]
    assert pool.release(leases[0]) is True


def test_retire_takes_everything_out_and_returns_the_idle() -> None:
    pool = Pool()
    held, _ = pool.acquire("ds-1", SETTINGS, 1)
    idle_one, _ = pool.acquire("ds-2", SETTINGS, 1)
    pool.release(idle_one)
    assert pool.retire() == [idle_one]
    assert len(pool) == 0 and held.retired
    again, idle = pool.acquire("ds-1", SETTINGS, 1)
    assert again is not held and list(idle) == []  # the pool is usable after retiring everything
    assert pool.release(held) is True


def test_retire_can_pick_by_owner() -> None:
    pool = Pool()
    mine, _ = pool.acquire(("ds-1", "loop-a"), SETTINGS, 1, owner="loop-a")
    theirs, _ = pool.acquire(("ds-1", "loop-b"), SETTINGS, 1, owner="loop-b")
    pool.release(mine)
    pool.release(theirs)
    assert pool.retire(lambda lease: lease.owner == "loop-a") == [mine]
    assert pool.pooled() == [theirs.client]


def test_a_lease_repr_holds_no_settings() -> None:
    pool = Pool()
    lease, _ = pool.acquire("ds-1", SETTINGS, 1)
    assert repr(lease) == "Lease(pooled, holders=1)"
    pool.retire()
    assert repr(lease) == "Lease(retired, holders=1)"


@pytest.mark.parametrize("seed", range(5))
def test_threads_never_use_a_closed_client_and_every_retired_one_closes_once(
    seed: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """16 threads on 12 keys with a cap of 8, edits and a service close() in the middle: a client is
    never used after it was closed, and each client that left the pool is closed exactly once."""
    monkeypatch.setattr("tooljet_portkey._constants.MAX_CACHED_CLIENTS", 8)
    pool = Pool()
    versions = [1] * 12
    versions_lock = threading.Lock()
    errors: list[BaseException] = []
    start = threading.Barrier(16)

    def worker(number: int) -> None:
        rng = random.Random(seed * 100 + number)
        start.wait(10)
        try:
            for step in range(300):
                key = rng.randrange(12)
                with versions_lock:
                    if rng.random() < 0.1:
                        versions[key] += 1
                    version = versions[key]
                lease, idle = pool.acquire(key, SETTINGS, version)
                close_all(idle)
                lease.client.use()
                if number == 0 and step == 150:
                    close_all(pool.retire())
                lease.client.use()
                if pool.release(lease):
                    lease.client.close()
        except BaseException as err:
            errors.append(err)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    pooled = pool.pooled()
    close_all(pool.retire())
    assert errors == []
    assert sum(client.uses for client in pool.made) == 16 * 300 * 2
    assert [client.closed for client in pool.made] == [1] * len(pool.made)
    assert len(pooled) <= 8 and len(pool.made) > 12  # edits and evictions replaced clients
