"""A pooled client is closed only when no query or stream is using it, and never reused on another
event loop.

A data source edit (a new ``data_source_updated_at``) or the 64-client cap replaces a data source's
client while other threads or tasks may be in the middle of a request on it. Those requests must end
as if nothing happened, and the old client must be closed once they have (no descriptor left open).
The loopback server echoes each request's trace id in its answer, so every result is checked whole,
and can hold a request open (``model: "hold"``) until the test releases it, so "in flight" is a fact
of the test, not a matter of timing.
"""

from __future__ import annotations

import asyncio
import gc
import json
import os
import random
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from loopback_server import FaultServer, Reply, Seen
from test_leaks import TOLERANCE, open_fds, settled

from tooljet_portkey import AsyncPortkeyClient, AsyncQueryService, PortkeyClient, QueryError, QueryService
from tooljet_portkey._constants import MAX_CACHED_CLIENTS
from tooljet_portkey._settings import ConnectionSettings

counts_fds = pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="counts descriptors in /proc")

MESSAGES = '[{"role":"user","content":"hi"}]'
CREATED = 1700000000


def source(server: FaultServer, data_source: int = 1, version: int = 1) -> dict[str, Any]:
    """A data source's options; each edit rotates its key, as a user editing it might."""
    return {
        "apiKey": f"pk-lifetime-{data_source}-{version}",
        "provider": "openai",
        "gatewayUrl": server.url,
        "maxRetries": "0",
        "timeout": "60",  # a query stuck on a closed client fails the test instead of hanging it
    }


def query(trace: str, *, streamed: bool = False, hold: bool = False) -> dict[str, Any]:
    options = {"operation": "chat", "model": "hold" if hold else "m", "messages": MESSAGES, "traceId": trace}
    return {**options, "stream": "true"} if streamed else options


def answer(trace: str) -> dict[str, Any]:
    """What the server answers a plain request with trace id ``trace``."""
    message = {"role": "assistant", "content": f"answer to {trace}"}
    return {
        "id": f"chatcmpl-{trace}",
        "object": "chat.completion",
        "created": CREATED,
        "model": "m",
        "choices": [{"index": 0, "message": message, "finish_reason": "stop"}],
    }


def chunks(trace: str) -> list[dict[str, Any]]:
    """The two chunks the server streams for trace id ``trace``: together, ``answer(trace)``."""
    head = {"id": f"chatcmpl-{trace}", "object": "chat.completion.chunk", "created": CREATED, "model": "m"}
    return [
        {**head, "choices": [{"index": 0, "delta": {"role": "assistant", "content": "answer to "}}]},
        {**head, "choices": [{"index": 0, "delta": {"content": trace}, "finish_reason": "stop"}]},
    ]


UNPRICED_M = (
    "cost: no price for m of provider openai (Portkey-AI/models 2026-08-21; set the connection's prices)"
)


def result(trace: str, *, streamed: bool = False) -> dict[str, Any]:
    """run()'s exact result for a query with trace id ``trace``."""
    metadata: dict[str, Any] = {
        "statusCode": 200,
        "retries": 0,
        "traceId": trace,
        "model": "m",
        "finishReason": "stop",
        # "m" has no published price, and the answer no usage (docs/cost.md)
        "cost": None,
        "warnings": [UNPRICED_M],
    }
    if streamed:
        metadata.update(streamed=True, chunks=2)
    return {"status": "ok", "data": answer(trace), "metadata": metadata}


class HeldEvents(tuple):  # type: ignore[type-arg]
    """A stream's events that stop after the first one until the test releases the rest."""

    answers: Answers

    def __iter__(self) -> Iterator[str]:
        events = super().__iter__()
        yield next(events)
        self.answers.hold()
        yield from events


class Answers:
    """The server's router: each answer echoes the request's trace id. A request for the model
    "hold" waits (a plain one before its answer, a streamed one after its first event) until
    ``release()``; ``arrived`` is set once it is waiting."""

    def __init__(self) -> None:
        self.arrived = threading.Event()
        self.released = threading.Event()

    def __call__(self, seen: Seen) -> Reply:
        trace = seen.headers.get("x-portkey-trace-id", "")
        body = seen.body if isinstance(seen.body, dict) else {}
        hold = body.get("model") == "hold"
        headers = {"x-portkey-trace-id": trace}
        if body.get("stream"):
            events = (*(json.dumps(chunk) for chunk in chunks(trace)), "[DONE]")
            if hold:
                held = HeldEvents(events)
                held.answers = self
                events = held
            return Reply(headers=headers, events=events)
        if hold:
            self.hold()
        return Reply(body=answer(trace), headers=headers)

    def hold(self) -> None:
        self.arrived.set()
        self.released.wait(60)

    def release(self) -> None:
        self.released.set()


@pytest.fixture
def answers(fault_server: FaultServer) -> Iterator[Answers]:
    router = Answers()
    fault_server.route(router)
    yield router
    router.release()  # never leave a server thread waiting


class RecordingService(QueryService):
    """A QueryService that remembers every client it made."""

    def __init__(self) -> None:
        super().__init__()
        self.made: list[PortkeyClient] = []

    def _new_client(self, settings: ConnectionSettings) -> PortkeyClient:
        client = super()._new_client(settings)
        self.made.append(client)
        return client


class RecordingAsyncService(AsyncQueryService):
    """An AsyncQueryService that remembers every client it made."""

    def __init__(self) -> None:
        super().__init__()
        self.made: list[AsyncPortkeyClient] = []

    def _new_client(self, settings: ConnectionSettings) -> AsyncPortkeyClient:
        client = super()._new_client(settings)
        self.made.append(client)
        return client


def is_closed(client: PortkeyClient | AsyncPortkeyClient) -> bool:
    return client._http.is_closed


# --- one query in flight while its client is replaced: deterministic, the server holds it -------


@pytest.mark.parametrize("streamed", [False, True], ids=["plain", "streamed"])
def test_an_edit_does_not_close_the_client_under_a_running_query(
    fault_server: FaultServer, answers: Answers, streamed: bool
) -> None:
    with QueryService() as service, ThreadPoolExecutor(1) as pool:
        old = service.get_connection(source(fault_server, 1, 1), "ds-1", 1)
        running = pool.submit(
            service.run, source(fault_server, 1, 1), query("held", streamed=streamed, hold=True), "ds-1", 1
        )
        try:
            assert answers.arrived.wait(30)
            edited = service.run(source(fault_server, 1, 2), query("after-edit"), "ds-1", 2)
            new = service.get_connection(source(fault_server, 1, 2), "ds-1", 2)
            open_while_running = not is_closed(old)
        finally:
            answers.release()
        held = running.result(30)
        closed_after = is_closed(old)
        assert new is not old and not is_closed(new)
        assert service.pooled_clients() == [new]
    assert open_while_running and closed_after
    assert held == result("held", streamed=streamed)
    assert edited == result("after-edit")
    keys = sorted(seen.headers["x-portkey-api-key"] for seen in fault_server.requests)
    assert keys == ["pk-lifetime-1-1", "pk-lifetime-1-2"]  # the held query kept its own client


def test_eviction_does_not_close_the_client_under_an_open_stream(
    fault_server: FaultServer, answers: Answers
) -> None:
    assert MAX_CACHED_CLIENTS == 64
    with QueryService() as service:
        stream = service.stream(source(fault_server, 0), query("stream-0", hold=True), "ds-0", 1)
        first = next(stream)
        (oldest,) = service.pooled_clients()
        others = [service.run(source(fault_server, i), query(f"q-{i}"), f"ds-{i}", 1) for i in range(1, 65)]
        evicted = oldest not in service.pooled_clients()
        open_while_streaming = not is_closed(oldest)
        answers.release()
        rest = list(stream)
        assert is_closed(oldest)
        assert len(service.pooled_clients()) == 64
    assert evicted and open_while_streaming
    assert [first, *rest] == chunks("stream-0")
    assert others == [result(f"q-{i}") for i in range(1, 65)]


def test_close_lets_running_work_finish_and_the_service_stays_usable(
    fault_server: FaultServer, answers: Answers
) -> None:
    service = QueryService()
    stream = service.stream(source(fault_server), query("s", hold=True), "ds-1", 1)
    first = next(stream)
    (client,) = service.pooled_clients()
    service.close()
    assert service.pooled_clients() == [] and not is_closed(client)
    answers.release()
    assert [first, *stream] == chunks("s")
    assert is_closed(client)
    assert service.run(source(fault_server), query("after-close"), "ds-1", 1) == result("after-close")
    (reopened,) = service.pooled_clients()
    assert reopened is not client
    service.close()
    assert is_closed(reopened)


@pytest.mark.parametrize("streamed", [False, True], ids=["plain", "streamed"])
def test_an_edit_does_not_close_the_client_under_a_running_async_query(
    fault_server: FaultServer, answers: Answers, streamed: bool
) -> None:
    async def scenario() -> tuple[Any, ...]:
        async with AsyncQueryService() as service:
            old = await service.get_connection(source(fault_server, 1, 1), "ds-1", 1)
            held = asyncio.ensure_future(
                service.run(
                    source(fault_server, 1, 1), query("held", streamed=streamed, hold=True), "ds-1", 1
                )
            )
            assert await asyncio.get_running_loop().run_in_executor(None, answers.arrived.wait, 30)
            edited = await service.run(source(fault_server, 1, 2), query("after-edit"), "ds-1", 2)
            open_while_running = not is_closed(old)
            answers.release()
            done = await held
            return open_while_running, is_closed(old), done, edited

    open_while_running, closed_after, held, edited = asyncio.run(scenario())
    assert open_while_running and closed_after
    assert held == result("held", streamed=streamed)
    assert edited == result("after-edit")


def test_a_cancelled_async_query_still_lets_its_replaced_client_close(
    fault_server: FaultServer, answers: Answers
) -> None:
    async def scenario() -> tuple[bool, bool, bool]:
        async with AsyncQueryService() as service:
            old = await service.get_connection(source(fault_server, 1, 1), "ds-1", 1)
            held = asyncio.ensure_future(
                service.run(source(fault_server, 1, 1), query("held", hold=True), "ds-1", 1)
            )
            assert await asyncio.get_running_loop().run_in_executor(None, answers.arrived.wait, 30)
            await service.run(source(fault_server, 1, 2), query("after-edit"), "ds-1", 2)
            open_while_running = not is_closed(old)
            held.cancel()  # what asyncio.wait_for does when the host's deadline passes
            with pytest.raises(asyncio.CancelledError):
                await held
            closed_after_cancel = is_closed(old)
            answers.release()
            return open_while_running, closed_after_cancel, held.cancelled()

    assert asyncio.run(scenario()) == (True, True, True)


def test_an_edit_does_not_close_the_client_under_an_open_async_stream(
    fault_server: FaultServer, answers: Answers
) -> None:
    async def scenario() -> tuple[Any, ...]:
        async with AsyncQueryService() as service:
            stream = service.stream(source(fault_server, 1, 1), query("s", hold=True), "ds-1", 1)
            first = await stream.__anext__()
            (old,) = service.pooled_clients()
            edited = await service.run(source(fault_server, 1, 2), query("after-edit"), "ds-1", 2)
            open_while_streaming = not is_closed(old)
            answers.release()
            rest = [chunk async for chunk in stream]
            return open_while_streaming, is_closed(old), [first, *rest], edited

    open_while_streaming, closed_after, streamed, edited = asyncio.run(scenario())
    assert open_while_streaming and closed_after
    assert streamed == chunks("s")
    assert edited == result("after-edit")


# --- many threads and tasks, more data sources than the cap, edits: no failure, nothing left open ----

DATA_SOURCES = 80  # more than MAX_CACHED_CLIENTS: the pool evicts all along
WORKERS = 64
CALLS = 20  # per worker
KINDS = ("run", "run", "streamed run", "stream", "edit")


class Sources:
    """The data sources' current versions, as a host's database holds them; an edit bumps one."""

    def __init__(self, server: FaultServer) -> None:
        self.server = server
        self.versions = [1] * DATA_SOURCES
        self.lock = threading.Lock()
        self.used: set[tuple[int, int]] = set()

    def current(self, data_source: int, *, edit: bool = False) -> tuple[dict[str, Any], str, int]:
        with self.lock:
            if edit:
                self.versions[data_source] += 1
            version = self.versions[data_source]
            self.used.add((data_source, version))
        return source(self.server, data_source, version), f"ds-{data_source}", version


def plan(worker: int) -> list[tuple[str, int, int]]:
    """A worker's calls, fixed by its seed: (kind, data source, data source edited mid-stream)."""
    rng = random.Random(worker)
    return [
        (rng.choice(KINDS), rng.randrange(DATA_SOURCES), rng.randrange(DATA_SOURCES)) for _ in range(CALLS)
    ]


def expected(worker: int) -> list[Any]:
    out: list[Any] = []
    for call, (kind, _, _) in enumerate(plan(worker)):
        trace = f"w{worker}-c{call}"
        out.append(chunks(trace) if kind == "stream" else result(trace, streamed=kind == "streamed run"))
    return out


def sync_worker(service: QueryService, sources: Sources, worker: int) -> list[Any]:
    """Run a worker's plan; a stream is read half, then another data source is edited and queried
    while it stays open (often its own, or one the edit evicts)."""
    out: list[Any] = []
    for call, (kind, data_source, other) in enumerate(plan(worker)):
        trace = f"w{worker}-c{call}"
        try:
            options, ds_id, version = sources.current(data_source, edit=kind == "edit")
            if kind == "stream":
                stream = service.stream(options, query(trace), ds_id, version)
                got = [next(stream)]
                edit_options, edit_id, edit_version = sources.current(other, edit=True)
                side = service.run(edit_options, query(f"{trace}-side"), edit_id, edit_version)
                assert side == result(f"{trace}-side")
                out.append([*got, *stream])
            else:
                out.append(
                    service.run(options, query(trace, streamed=kind == "streamed run"), ds_id, version)
                )
        except (QueryError, AssertionError) as err:
            out.append(("failed", trace, repr(err)))
    return out


def edits_in_plans() -> int:
    return sum(kind in ("edit", "stream") for worker in range(WORKERS) for kind, _, _ in plan(worker))


def calls_in_plans() -> int:
    return sum(2 if kind == "stream" else 1 for worker in range(WORKERS) for kind, _, _ in plan(worker))


@pytest.mark.slow
@counts_fds
def test_threads_edits_and_evictions_never_break_a_query(fault_server: FaultServer, answers: Answers) -> None:
    sources = Sources(fault_server)
    before = open_fds()
    service = RecordingService()
    with ThreadPoolExecutor(WORKERS) as pool:
        outcomes = list(pool.map(lambda worker: sync_worker(service, sources, worker), range(WORKERS)))
    pooled = service.pooled_clients()
    replaced = [client for client in service.made if client not in pooled]
    still_open = [client for client in replaced if not is_closed(client)]
    service.close()

    failures = [o for worker in outcomes for o in worker if isinstance(o, tuple)]
    assert failures == []
    assert outcomes == [expected(worker) for worker in range(WORKERS)]
    assert fault_server.count == calls_in_plans()
    # every (data source, version) used needed a client of its own (each edit made a new version);
    # the pool keeps at most 64
    assert len(service.made) >= len(sources.used) >= edits_in_plans()
    assert len(pooled) == MAX_CACHED_CLIENTS
    assert still_open == []  # every replaced or evicted client was closed once its queries ended
    assert all(is_closed(client) for client in service.made)
    assert settled(open_fds, before + TOLERANCE) <= before + TOLERANCE


async def async_worker(service: AsyncQueryService, sources: Sources, worker: int) -> list[Any]:
    """sync_worker, as an asyncio task."""
    out: list[Any] = []
    for call, (kind, data_source, other) in enumerate(plan(worker)):
        trace = f"w{worker}-c{call}"
        try:
            options, ds_id, version = sources.current(data_source, edit=kind == "edit")
            if kind == "stream":
                stream = service.stream(options, query(trace), ds_id, version)
                got = [await stream.__anext__()]
                edit_options, edit_id, edit_version = sources.current(other, edit=True)
                side = await service.run(edit_options, query(f"{trace}-side"), edit_id, edit_version)
                assert side == result(f"{trace}-side")
                out.append([*got, *[chunk async for chunk in stream]])
            else:
                streamed = kind == "streamed run"
                out.append(await service.run(options, query(trace, streamed=streamed), ds_id, version))
        except (QueryError, AssertionError) as err:
            out.append(("failed", trace, repr(err)))
    return out


@pytest.mark.slow
@counts_fds
def test_tasks_edits_and_evictions_never_break_a_query(fault_server: FaultServer, answers: Answers) -> None:
    sources = Sources(fault_server)
    before = open_fds()
    service = RecordingAsyncService()

    async def scenario() -> tuple[list[Any], list[AsyncPortkeyClient], list[AsyncPortkeyClient]]:
        outcomes = await asyncio.gather(*(async_worker(service, sources, w) for w in range(WORKERS)))
        pooled = service.pooled_clients()
        replaced = [client for client in service.made if client not in pooled]
        still_open = [client for client in replaced if not is_closed(client)]
        await service.aclose()
        return outcomes, pooled, still_open

    outcomes, pooled, still_open = asyncio.run(scenario())
    failures = [o for worker in outcomes for o in worker if isinstance(o, tuple)]
    assert failures == []
    assert outcomes == [expected(worker) for worker in range(WORKERS)]
    assert fault_server.count == calls_in_plans()
    assert len(service.made) >= len(sources.used) >= edits_in_plans()
    assert len(pooled) == MAX_CACHED_CLIENTS
    assert still_open == []
    assert all(is_closed(client) for client in service.made)
    assert settled(open_fds, before + TOLERANCE) <= before + TOLERANCE


# --- event loops -----------------------------------------------------------------------------------


async def mixed_calls(service: AsyncQueryService, server: FaultServer, loop_number: int) -> list[Any]:
    """A plain query, a streamed run and a stream on one data source, and an anonymous query."""
    prefix = f"loop{loop_number}"

    async def streamed() -> list[dict[str, Any]]:
        return [chunk async for chunk in service.stream(source(server), query(f"{prefix}-s"), "ds-1", 1)]

    return list(
        await asyncio.gather(
            service.run(source(server), query(f"{prefix}-a"), "ds-1", 1),
            service.run(source(server), query(f"{prefix}-b", streamed=True), "ds-1", 1),
            streamed(),
            service.run(source(server), query(f"{prefix}-c")),
        )
    )


def mixed_results(loop_number: int) -> list[Any]:
    prefix = f"loop{loop_number}"
    return [
        result(f"{prefix}-a"),
        result(f"{prefix}-b", streamed=True),
        chunks(f"{prefix}-s"),
        result(f"{prefix}-c"),
    ]


@counts_fds
def test_one_async_service_serves_successive_event_loops(fault_server: FaultServer, answers: Answers) -> None:
    before = open_fds()
    service = RecordingAsyncService()
    for loop_number in range(3):
        made_before = len(service.made)
        assert asyncio.run(mixed_calls(service, fault_server, loop_number)) == mixed_results(loop_number)
        made = service.made[made_before:]
        # each loop made its own two clients (ds-1 and the anonymous one) and closed them on the way out
        assert len(made) == 2 and all(is_closed(client) for client in made)
        assert service.pooled_clients() == []
    asyncio.run(service.aclose())
    gc.collect()  # an unclosed socket would warn here, and warnings are errors
    assert settled(open_fds, before + TOLERANCE) <= before + TOLERANCE


@counts_fds
@pytest.mark.filterwarnings("ignore::ResourceWarning")
def test_a_client_of_a_loop_closed_by_hand_is_never_reused(
    fault_server: FaultServer, answers: Answers
) -> None:
    before = open_fds()
    service = RecordingAsyncService()
    loop = asyncio.new_event_loop()
    assert loop.run_until_complete(service.run(source(fault_server), query("first"), "ds-1", 1)) == result(
        "first"
    )
    loop.close()  # without shutdown_asyncgens(): its client could not be closed on the way out
    (abandoned,) = service.made
    assert not is_closed(abandoned)

    async def on_a_new_loop() -> list[Any]:
        return [await service.run(source(fault_server), query(f"next-{i}"), "ds-1", 1) for i in range(3)]

    assert asyncio.run(on_a_new_loop()) == [result(f"next-{i}") for i in range(3)]
    assert len(service.made) == 2 and service.made[0] is abandoned  # one new client, reused 3 times
    assert service.pooled_clients() == []  # the new loop's client was closed with its loop
    del abandoned, loop
    service.made.clear()
    gc.collect()  # the abandoned client's socket is released with it
    assert settled(open_fds, before + TOLERANCE) <= before + TOLERANCE


def test_two_event_loops_in_two_threads_share_one_service(
    fault_server: FaultServer, answers: Answers
) -> None:
    service = RecordingAsyncService()
    barrier = threading.Barrier(2)

    def in_a_thread(loop_number: int) -> list[Any]:
        async def scenario() -> list[Any]:
            await asyncio.get_running_loop().run_in_executor(None, barrier.wait, 30)
            return await mixed_calls(service, fault_server, loop_number)

        return asyncio.run(scenario())

    with ThreadPoolExecutor(2) as pool:
        outcomes = list(pool.map(in_a_thread, range(2)))
    assert outcomes == [mixed_results(0), mixed_results(1)]
    assert len(service.made) == 4  # two per loop: a loop never uses another loop's client
    assert all(is_closed(client) for client in service.made)
    assert service.pooled_clients() == []
