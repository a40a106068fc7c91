"""No key in errors or logs when real sockets fail: httpx and httpcore log at DEBUG with real connections.

tests/test_secrets.py covers every failure shape through a mocked transport; here each fault comes
from the loopback server (or from no server at all), so the real transport's exceptions and log
records are what is searched.
"""

from __future__ import annotations

import json
import logging
import traceback
from typing import Any

import pytest
from loopback_server import FaultServer, Reply

from tooljet_portkey import QueryError, QueryService
from tooljet_portkey._client import PortkeyClient, RequestNotSentError
from tooljet_portkey._options import ConnectionSettings
from tooljet_portkey._requests import PortkeyRequest

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
