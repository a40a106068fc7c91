"""One measurement in a fresh interpreter: ``python worker.py CASE URL N [--profile]``.

Prints one JSON line: ``{"case", "value", "unit"}``. ``value`` is the median over batches: microseconds
per call (per-call cases), calls per second (async cases) or milliseconds per stream (stream cases).
The SDK case runs under the interpreter that has ``portkey_ai`` (benchmarks/.venv); every other case
under the project's. Every case sends the same chat request with the same headers.
"""

from __future__ import annotations

import asyncio
import json
import statistics
import sys
import time
from collections.abc import Callable
from typing import Any

API_KEY = "pk-bench-0123456789"
PROVIDER_KEY = "sk-bench-0123456789"
MESSAGES = [{"role": "user", "content": "Who uses ToolJet?"}]
MODEL = "gpt-4o-mini"
HEADERS = {
    "x-portkey-api-key": API_KEY,
    "x-portkey-provider": "openai",
    "authorization": f"Bearer {PROVIDER_KEY}",
    "user-agent": "bench",
    "accept": "application/json",
}
BATCH = 25


def source(url: str) -> dict[str, str]:
    return {"apiKey": API_KEY, "gatewayUrl": url, "provider": "openai", "providerApiKey": PROVIDER_KEY}


QUERY = {"operation": "chat", "messages": json.dumps(MESSAGES), "model": MODEL}


def per_call(call: Callable[[], Any], n: int) -> float:
    """Median microseconds per call over batches of BATCH calls, after a warm-up."""
    for _ in range(min(n, 50)):
        call()
    samples = []
    for _ in range(max(n // BATCH, 1)):
        start = time.perf_counter()
        for _ in range(BATCH):
            call()
        samples.append((time.perf_counter() - start) / BATCH * 1e6)
    return statistics.median(samples)


def per_stream(consume: Callable[[], int], n: int) -> float:
    """Median milliseconds to read one whole stream."""
    consume()
    samples = []
    for _ in range(n):
        start = time.perf_counter()
        consume()
        samples.append((time.perf_counter() - start) * 1e3)
    return statistics.median(samples)


def throughput(make_call: Callable[[], Any], concurrency: int, rounds: int) -> float:
    """Median calls per second, each round ``concurrency`` calls started together."""

    async def main() -> float:
        call = await make_call()
        await asyncio.gather(*(call() for _ in range(concurrency)))  # warm-up: open the connections
        samples = []
        for _ in range(rounds):
            start = time.perf_counter()
            await asyncio.gather(*(call() for _ in range(concurrency)))
            samples.append(concurrency / (time.perf_counter() - start))
        return statistics.median(samples)

    return asyncio.run(main())


# -- the cases ------------------------------------------------------------------------------------


def service_run(url: str, n: int) -> float:
    from tooljet_portkey import QueryService

    svc = QueryService()
    src = source(url)
    result = svc.run(src, QUERY, "bench")
    assert result["data"]["choices"][0]["message"]["content"] == "Developers and product teams."
    return per_call(lambda: svc.run(src, QUERY, "bench"), n)


def client_chat(url: str, n: int) -> float:
    from tooljet_portkey import PortkeyClient

    client = PortkeyClient(base_url=url, api_key=API_KEY, provider="openai", provider_api_key=PROVIDER_KEY)
    return per_call(lambda: client.chat(messages=MESSAGES, model=MODEL), n)


def httpx_post(url: str, n: int) -> float:
    import httpx

    client = httpx.Client()
    target = url + "/chat/completions"
    body = {"model": MODEL, "messages": MESSAGES}
    return per_call(lambda: client.post(target, json=body, headers=HEADERS).json(), n)


def sdk_chat(url: str, n: int) -> float:
    from portkey_ai import Portkey

    client = Portkey(api_key=API_KEY, base_url=url, provider="openai", Authorization=f"Bearer {PROVIDER_KEY}")
    return per_call(lambda: client.chat.completions.create(messages=MESSAGES, model=MODEL), n)


def async_service(url: str, n: int, concurrency: int) -> float:
    async def make() -> Callable[[], Any]:
        from tooljet_portkey import AsyncQueryService

        svc = AsyncQueryService()
        src = source(url)
        return lambda: svc.run(src, QUERY, "bench")

    return throughput(make, concurrency, n)


def async_httpx(url: str, n: int, concurrency: int) -> float:
    async def make() -> Callable[[], Any]:
        import httpx

        # The same pool limits the plugin uses, so both sides may open as many connections.
        client = httpx.AsyncClient(
            limits=httpx.Limits(max_connections=200, max_keepalive_connections=50, keepalive_expiry=30)
        )
        target = url + "/chat/completions"
        body = {"model": MODEL, "messages": MESSAGES}

        async def call() -> Any:
            return (await client.post(target, json=body, headers=HEADERS)).json()

        return call

    return throughput(make, concurrency, n)


def service_stream(url: str, n: int) -> float:
    from tooljet_portkey import QueryService

    svc = QueryService()
    src = source(url)

    def consume() -> int:
        count = 0
        for _ in svc.stream(src, QUERY, "bench"):
            count += 1
        return count

    return per_stream(consume, n)


def raw_stream(url: str, n: int) -> float:
    import httpx

    client = httpx.Client()
    target = url + "/chat/completions"
    body = {"model": MODEL, "messages": MESSAGES, "stream": True}
    headers = {**HEADERS, "accept": "text/event-stream"}

    def consume() -> int:
        # Read to the end of the body rather than stop at [DONE], so the connection is reused.
        count = 0
        with client.stream("POST", target, json=body, headers=headers) as response:
            for line in response.iter_lines():
                if line.startswith("data: "):
                    data = line[6:]
                    if data != "[DONE]":
                        json.loads(data)
                        count += 1
        return count

    return per_stream(consume, n)


# -- large answers: the bounded readers against the unbounded floor, in process (no server) -----------

PIECE = 16 * 1024


def _long_line(mib: int) -> list[bytes]:
    """One SSE line of ``mib`` MiB, cut into 16 KiB pieces as a network would deliver it."""
    piece = b"x" * PIECE
    return [b"data: " + piece] + [piece] * (mib * 64 - 1)


def per_run(work: Callable[[], Any], n: int) -> float:
    """Median milliseconds of ``work`` over n runs, after one warm-up."""
    work()
    samples = []
    for _ in range(n):
        start = time.perf_counter()
        work()
        samples.append((time.perf_counter() - start) * 1e3)
    return statistics.median(samples)


def sse_long_line(url: str, n: int, mib: int) -> float:
    from tooljet_portkey._sse import SSEDecoder

    pieces = _long_line(mib)

    def work() -> None:
        decoder = SSEDecoder(max_event_bytes=(mib + 1) * 1024 * 1024)
        for piece in pieces:
            decoder.decode(piece)
        assert len(decoder.decode(b"\n\n")[0].data) == mib * 1024 * 1024

    return per_run(work, n)


def join_long_line(url: str, n: int, mib: int) -> float:
    pieces = _long_line(mib)

    def work() -> None:  # the floor: join the pieces once, split the lines, decode the text
        line = b"".join([*pieces, b"\n\n"]).split(b"\n")[0]
        assert len(line[6:].decode()) == mib * 1024 * 1024

    return per_run(work, n)


def _gzip_body(mib: int) -> list[bytes]:
    """An embeddings answer of about ``mib`` MiB (seeded random floats: it compresses as real ones
    do, about 2.5x), gzip-compressed and cut into 64 KiB reads."""
    import gzip
    import random

    rng = random.Random(0)
    items, size = [], 0
    while size < mib * 1024 * 1024:
        vector = [round(rng.uniform(-0.1, 0.1), 8) for _ in range(256)]
        item = json.dumps({"object": "embedding", "index": len(items), "embedding": vector}).encode()
        items.append(item)
        size += len(item) + 1
    body = gzip.compress(b"[" + b",".join(items) + b"]")
    return [body[i : i + 65536] for i in range(0, len(body), 65536)]


def gzip_capped(url: str, n: int, mib: int) -> float:
    from tooljet_portkey._decoding import BodyDecoder

    raw = _gzip_body(mib)

    def work() -> None:
        decoder = BodyDecoder("gzip", 64 * 1024 * 1024)
        out = [piece for data in raw for piece in decoder.decode(data)]
        assert b"".join(out + decoder.flush())[-1:] == b"]"

    return per_run(work, n)


def gzip_whole(url: str, n: int, mib: int) -> float:
    import zlib

    raw = _gzip_body(mib)

    def work() -> None:  # what httpx does: each read inflated whole, no count
        inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
        out = [inflater.decompress(data) for data in raw]
        assert b"".join([*out, inflater.flush()])[-1:] == b"]"

    return per_run(work, n)


CASES: dict[str, tuple[Callable[..., float], str]] = {
    "service_run": (service_run, "us/call"),
    "client_chat": (client_chat, "us/call"),
    "httpx_post": (httpx_post, "us/call"),
    "sdk_chat": (sdk_chat, "us/call"),
    "async_service": (async_service, "calls/s"),
    "async_httpx": (async_httpx, "calls/s"),
    "service_stream": (service_stream, "ms/stream"),
    "raw_stream": (raw_stream, "ms/stream"),
    "sse_long_line": (sse_long_line, "ms"),
    "join_long_line": (join_long_line, "ms"),
    "gzip_capped": (gzip_capped, "ms"),
    "gzip_whole": (gzip_whole, "ms"),
}


def main(argv: list[str]) -> None:
    case, url, n = argv[0], argv[1], int(argv[2])
    extra = [int(a) for a in argv[3:] if a.isdigit()]
    func, unit = CASES[case]
    if "--profile" in argv:
        import cProfile
        import pstats

        profiler = cProfile.Profile()
        profiler.enable()
        value = func(url, n, *extra)
        profiler.disable()
        pstats.Stats(profiler, stream=sys.stderr).sort_stats("tottime").print_stats(25)
    else:
        value = func(url, n, *extra)
    print(json.dumps({"case": case, "value": value, "unit": unit}))


if __name__ == "__main__":
    main(sys.argv[1:])
