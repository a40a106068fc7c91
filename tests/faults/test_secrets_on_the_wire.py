"""No key in errors or logs when real sockets fail: httpx and httpcore log at DEBUG with real connections.

tests/test_secrets.py covers every failure shape through a mocked transport; here each fault comes
from the loopback server (or from no server at all), so the real transport's exceptions and log
records are what is searched.
"""

from __future__ import annotations

import asyncio
import json
import logging
import traceback
from typing import Any

import httpx
import pytest
from loopback_server import FaultServer, Reply

from tooljet_portkey import AsyncQueryService, QueryError, QueryService
from tooljet_portkey._client import PortkeyClient, RequestNotSentError
from tooljet_portkey._requests import PortkeyRequest
from tooljet_portkey._settings import ConnectionSettings

API_KEY = "pk-live-wire-3e9a7c"
VIRTUAL_KEY = "vk-wire-8b1d5f"
PROVIDER_KEY = "sk-wire-6c2a4e"
CONFIG_KEY = "sk-wire-cfg-0f7b3d"
SECRETS = (API_KEY, VIRTUAL_KEY, PROVIDER_KEY, CONFIG_KEY)
ECHO = " ".join(SECRETS)
CHAT = {"operation": "chat", "model": "m", "messages": '[{"role":"user","content":"hi"}]'}
DELTA = json.dumps({"choices": [{"index": 0, "delta": {"content": "hi"}}]})
ERROR_CHUNK = json.dumps({"error": {"message": ECHO}})


def source(url: str, **extra: str) -> dict[str, Any]:
    return {
        "apiKey": API_KEY,
        "virtualKey": VIRTUAL_KEY,
        "provider": "openai",
        "providerApiKey": PROVIDER_KEY,
        "config": json.dumps({"provider": "openai", "api_key": CONFIG_KEY}),
        "gatewayUrl": url,
        "maxRetries": "1",
        **extra,
    }


def assert_clean(err: BaseException, caplog: pytest.LogCaptureFixture) -> None:
    text = [str(err), repr(err), repr(err.args), "".join(traceback.format_exception(err))]
    if isinstance(err, QueryError):
        text.append(json.dumps(err.to_result()))
    formatter = logging.Formatter("%(name)s %(levelname)s %(message)s")
    text += [formatter.format(record) for record in caplog.records]
    joined = "\n".join(text)
    for secret in SECRETS:
        assert secret not in joined


FAULTS = [
    ("401-echo", Reply(401, {"error": {"message": f"bad key {ECHO}"}}), {}, CHAT),
    ("500-text-echo", Reply(500, f"upstream said {ECHO}", {"content-type": "text/plain"}), {}, CHAT),
    ("200-html-echo", Reply(200, f"<p>{ECHO}</p>", {"content-type": "text/html"}), {}, CHAT),
    ("dropped", Reply(drop=True), {}, CHAT),
    ("reset-mid-body", Reply(200, {"choices": []}, reset_after=4), {}, CHAT),
    ("timeout", Reply(200, {"choices": []}, delay=30), {"timeout": "0.2"}, CHAT),
    ("stream-cut", Reply(events=(DELTA,), cut_after_events=True), {}, {**CHAT, "stream": "true"}),
    ("stream-error-chunk", Reply(events=(ERROR_CHUNK,)), {}, {**CHAT, "stream": "true"}),
]  # fmt: skip


@pytest.mark.parametrize(("reply", "extra", "query"), [f[1:] for f in FAULTS], ids=[f[0] for f in FAULTS])
def test_no_secret_when_the_server_fails(
    fault_server: FaultServer,
    sleeps: list[float],
    caplog: pytest.LogCaptureFixture,
    reply: Reply,
    extra: dict[str, str],
    query: dict[str, Any],
) -> None:
    caplog.set_level(logging.DEBUG)
    fault_server.script(reply)
    with QueryService() as service, pytest.raises(QueryError) as caught:
        service.run(source(fault_server.url, **extra), query)
    assert fault_server.requests[0].headers["x-portkey-api-key"] == API_KEY  # the key did go out
    assert_clean(caught.value, caplog)


@pytest.mark.parametrize(
    "url",
    ["http://127.0.0.1:9/v1", "http://no-such-gateway.invalid/v1", "https://127.0.0.1:{port}/v1"],
    ids=["refused", "dns", "tls"],
)
def test_no_secret_when_there_is_no_answer(
    fault_server: FaultServer, sleeps: list[float], caplog: pytest.LogCaptureFixture, url: str
) -> None:
    caplog.set_level(logging.DEBUG)
    with QueryService() as service, pytest.raises(QueryError) as caught:
        service.run(source(url.format(port=fault_server.server_address[1])), CHAT)
    assert_clean(caught.value, caplog)


def test_a_header_http_refuses_is_not_sent_retried_or_quoted(
    fault_server: FaultServer, sleeps: list[float], caplog: pytest.LogCaptureFixture
) -> None:
    """Below validation (a request built by hand), a header value with a newline is refused before
    httpx sees it: httpx's error and httpcore's DEBUG log would quote the value, key and all."""
    caplog.set_level(logging.DEBUG)
    settings = ConnectionSettings(base_url=fault_server.url, max_retries=2)
    request = PortkeyRequest(
        "POST", "/chat/completions", {"x-portkey-api-key": API_KEY + "\n"}, {"model": "m"}
    )
    with PortkeyClient(settings) as client, pytest.raises(RequestNotSentError) as caught:
        client.send(request)
    assert caught.value.message == (
        "The request was not sent: the x-portkey-api-key header holds characters that HTTP does not allow"
    )
    assert (fault_server.count, sleeps) == (0, [])
    text = "\n".join([str(caught.value), repr(caught.value)] + [r.getMessage() for r in caplog.records])
    assert API_KEY not in text


# -- a server that echoes the keys in its headers: httpx's and httpcore's own records ------------------

QUERY_VIRTUAL_KEY = "vk-wire-query-4d2b9e"
QUERY_CONFIG_KEY = "sk-wire-qcfg-7a5c1f"
OWN_QUERY = {
    **CHAT,
    "virtualKey": QUERY_VIRTUAL_KEY,
    "config": json.dumps({"provider": "openai", "api_key": QUERY_CONFIG_KEY}),
}
ECHOING = {
    "x-portkey-trace-id": API_KEY,
    "retry-after": VIRTUAL_KEY,
    "x-echo-provider": f"Bearer {PROVIDER_KEY}",
    "x-echo-config": f'{{"api_key": "{CONFIG_KEY}"}}',
    "x-echo-query": f"{QUERY_VIRTUAL_KEY} {QUERY_CONFIG_KEY}",
}
ANSWER = {"choices": [{"index": 0, "message": {"role": "assistant", "content": "hi"}}]}


def every_record(caplog: pytest.LogCaptureFixture) -> str:
    formatter = logging.Formatter("%(name)s %(levelname)s %(message)s")
    return "\n".join(formatter.format(record) for record in caplog.records)


def assert_redacted_headers(caplog: pytest.LogCaptureFixture) -> None:
    """httpcore did log the headers it read, and every echoed key in them is replaced."""
    logged = every_record(caplog)
    for secret in (*SECRETS, QUERY_VIRTUAL_KEY, QUERY_CONFIG_KEY):
        assert secret not in logged
    headers = [r.getMessage() for r in caplog.records if r.name == "httpcore.http11"]
    read = [m for m in headers if m.startswith("receive_response_headers.complete")]
    assert read and all("(b'x-portkey-trace-id', b'***')" in m for m in read)
    assert all("(b'x-echo-query', b'*** ***')" in m for m in read)


@pytest.mark.parametrize(
    ("reply", "query"),
    [
        (Reply(200, ANSWER, ECHOING), OWN_QUERY),
        (Reply(events=(DELTA, "[DONE]"), headers=ECHOING), {**OWN_QUERY, "stream": "true"}),
    ],
    ids=["answer", "stream"],
)
def test_no_secret_in_any_record_when_the_server_echoes_keys_in_headers(
    fault_server: FaultServer, caplog: pytest.LogCaptureFixture, reply: Reply, query: dict[str, Any]
) -> None:
    caplog.set_level(logging.DEBUG)  # the root logger: every logger's records, httpx's and httpcore's
    fault_server.script(reply)
    with QueryService() as service:
        result = service.run(source(fault_server.url), query)
    assert result["status"] == "ok"
    assert_redacted_headers(caplog)
    ours = [r.getMessage() for r in caplog.records if r.name == "tooljet_portkey"]
    assert ours == ["portkey POST /chat/completions -> 200 trace=*** retries=0"]


def test_no_secret_in_any_record_of_retries_and_failures(
    fault_server: FaultServer, sleeps: list[float], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    fault_server.script(Reply(429, {"error": {"message": "slow down"}}, {**ECHOING, "retry-after": "1"}))
    with QueryService() as service, pytest.raises(QueryError) as caught:
        service.run(source(fault_server.url), OWN_QUERY)
    assert (caught.value.data["statusCode"], caught.value.data["retries"], sleeps) == (429, 1, [1.0])
    assert caught.value.data["traceId"] == "***"
    assert_redacted_headers(caplog)
    status_lines = [r.getMessage() for r in caplog.records if r.name == "httpx"]
    assert (
        status_lines
        == [f'HTTP Request: POST {fault_server.url}/chat/completions "HTTP/1.1 429 Too Many Requests"'] * 2
    )


def test_no_secret_in_any_record_of_the_async_client(
    fault_server: FaultServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    fault_server.script(Reply(200, ANSWER, ECHOING))

    async def run() -> Any:
        async with AsyncQueryService() as service:
            return await service.run(source(fault_server.url), OWN_QUERY)

    assert asyncio.run(run())["status"] == "ok"
    assert_redacted_headers(caplog)


def test_records_of_other_requests_are_left_as_they_are(
    fault_server: FaultServer, caplog: pytest.LogCaptureFixture
) -> None:
    """Another app's httpx request, even in a process where the plugin's filter is installed, keeps
    its records untouched: its own message and arguments, not a copy."""
    caplog.set_level(logging.DEBUG)
    with QueryService() as service:
        service.run(source(fault_server.url), CHAT)  # the filter is installed
    caplog.clear()
    fault_server.script(Reply(200, {"ok": True}, {"x-app-token": "app-token-5e1c9a"}))
    httpx.get(fault_server.url + "/other")
    status = next(r for r in caplog.records if r.name == "httpx")
    assert status.msg == 'HTTP Request: %s %s "%s %d %s"'
    assert status.args == ("GET", httpx.URL(fault_server.url + "/other"), "HTTP/1.1", 200, "OK")
    assert any("(b'x-app-token', b'app-token-5e1c9a')" in r.getMessage() for r in caplog.records)


# -- the same echo in a result: metadata read from headers never shows a key ----------------------------

ECHOED_META = {
    "x-portkey-trace-id": f"trace {API_KEY}",
    "x-portkey-provider": QUERY_VIRTUAL_KEY,
    "x-portkey-cache-status": QUERY_CONFIG_KEY,
    "x-portkey-last-used-option-index": PROVIDER_KEY,
}
REDACTED_META = {
    "traceId": "trace ***",
    "provider": "***",
    "cacheStatus": "***",
    "lastUsedOptionIndex": "***",
}


def _header_meta(metadata: Any) -> dict[str, Any]:
    return {key: metadata.get(key) for key in REDACTED_META}


def test_a_result_never_shows_a_key_a_server_echoes_in_its_headers(fault_server: FaultServer) -> None:
    fault_server.script(Reply(200, ANSWER, ECHOED_META))
    with QueryService() as service:
        assert _header_meta(service.run(source(fault_server.url), OWN_QUERY)["metadata"]) == REDACTED_META
        fault_server.script(Reply(events=(DELTA, "[DONE]"), headers=ECHOED_META))
        with service.stream(source(fault_server.url), {**OWN_QUERY, "traceId": "t-1"}) as stream:
            list(stream)
        assert {**_header_meta(stream.metadata), "traceId": "trace ***"} == REDACTED_META
        fault_server.script(Reply(200, {**ANSWER, "model": "m"}, ECHOED_META))
        table = {**OWN_QUERY, "operation": "prompt_completion", "promptId": "pp-1", "rows": '[{"a": 1}]'}
        for key in ("messages", "model"):
            table.pop(key, None)
        result = service.run(source(fault_server.url), table)
    assert _header_meta(result["metadata"]) == REDACTED_META
    assert result["data"][0]["traceId"] == "trace ***"
