"""No secret in any error, log record or repr, on every failure path.

The connection holds an API key, a virtual key, a provider key and a config with its own api_key; the
query adds its own virtual key and config. Portkey (or a proxy) is made to quote every one of them back
in its error text, which is the worst case: what the host sees must still hold none of them.
"""

from __future__ import annotations

import asyncio
import json
import logging
import traceback
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import respx

from tooljet_portkey import AsyncQueryService, QueryError, QueryService
from tooljet_portkey._requests import build_request
from tooljet_portkey._spec import parse_connection, parse_query

API_KEY = "pk-live-7f3a9c1e5b"
VIRTUAL_KEY = "vk-prod-2d8e4b6a0c"
PROVIDER_KEY = "sk-proj-9c1e5b7f3a"
CONFIG_KEY = "sk-cfg-4b6a0c2d8e"
QUERY_VIRTUAL_KEY = "vk-query-5b7f3a9c1e"
QUERY_CONFIG_KEY = "sk-qcfg-0c2d8e4b6a"
SECRETS = (API_KEY, VIRTUAL_KEY, PROVIDER_KEY, CONFIG_KEY, QUERY_VIRTUAL_KEY, QUERY_CONFIG_KEY)
ECHO = "keys seen: " + " ".join(SECRETS)
CONNECTION_ECHO = "keys seen: " + " ".join(SECRETS[:4])

BASE = "http://gw.test/v1"
SOURCE = {
    "apiKey": API_KEY,
    "virtualKey": VIRTUAL_KEY,
    "provider": "openai",
    "providerApiKey": PROVIDER_KEY,
    "config": json.dumps(
        {"retry": {"attempts": 2}, "targets": [{"provider": "openai", "api_key": CONFIG_KEY}]}
    ),
    "gatewayUrl": BASE,
    "maxRetries": "1",
}
QUERY = {
    "operation": "chat",
    "model": "gpt-4o-mini",
    "messages": '[{"role":"user","content":"hi"}]',
    "virtualKey": QUERY_VIRTUAL_KEY,
    "config": json.dumps({"provider": "openai", "api_key": QUERY_CONFIG_KEY}),
    "traceId": "trace-s1",
}


def exposed(err: BaseException) -> str:
    """Everything a host or a log could show of an exception."""
    parts = [str(err), repr(err), repr(err.args), "".join(traceback.format_exception(err))]
    if isinstance(err, QueryError):
        parts += [err.message, err.description, json.dumps(err.to_result(), default=repr)]
    return "\n".join(parts)


def logged(caplog: pytest.LogCaptureFixture) -> str:
    formatter = logging.Formatter("%(name)s %(levelname)s %(message)s")
    return "\n".join(formatter.format(record) for record in caplog.records)


def assert_no_secret(text: str) -> None:
    for secret in SECRETS:
        assert secret not in text


@pytest.fixture(autouse=True)
def _everything_logged(caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch) -> None:
    caplog.set_level(logging.DEBUG)  # the root logger: ours, httpx's and httpcore's records
    monkeypatch.setattr("tooljet_portkey._client._sleep", lambda seconds: None)

    async def no_wait(seconds: float) -> None:
        return None

    monkeypatch.setattr("tooljet_portkey._client._async_sleep", no_wait)


@pytest.fixture
def mock() -> Iterator[respx.MockRouter]:
    with respx.mock(base_url=BASE, assert_all_called=False) as router:
        yield router


def echo_json(status: int, body: Any, **headers: str) -> httpx.Response:
    return httpx.Response(status, json=body, headers=headers)


def echo_text(status: int, content_type: str = "text/plain") -> httpx.Response:
    return httpx.Response(status, text=f"<p>{ECHO}</p>", headers={"content-type": content_type})


# Each way run() can fail after the request was built, with the secrets quoted back where possible.
FAILURES: list[tuple[str, Any]] = [
    ("provider-error", echo_json(401, {"error": {"message": ECHO, "type": "auth"}, "provider": "openai"})),
    ("gateway-error", echo_json(400, {"status": "failure", "message": ECHO, "errors": [ECHO]})),
    (
        "guardrail-446",
        echo_json(446, {"error": {"message": ECHO}, "hook_results": {"verdict": False, "input": ECHO}}),
    ),
    ("rate-limit-429", echo_json(429, {"error": {"message": ECHO}}, **{"retry-after": "1"})),
    ("budget-412", echo_json(412, {"status": "failure", "message": ECHO})),
    ("plain-text-500", echo_text(500)),
    ("html-502", echo_text(502, "text/html")),
    ("empty-503", httpx.Response(503)),
    ("not-json-200", echo_text(200, "text/html")),
    ("connect-error", httpx.ConnectError(f"refused {ECHO}")),
    ("read-timeout", httpx.ReadTimeout(f"slow {ECHO}")),
    ("remote-protocol", httpx.RemoteProtocolError(f"cut {ECHO}")),
    # what h11 raises for a header value it refuses: it quotes the value
    ("illegal-header", httpx.LocalProtocolError(f"Illegal header value b'{API_KEY}\\n'")),
]


def _mock_failure(mock: respx.MockRouter, failure: Any) -> None:
    if isinstance(failure, Exception):
        mock.post("/chat/completions").mock(side_effect=failure)
    else:
        mock.post("/chat/completions").mock(return_value=failure)


@pytest.mark.parametrize("failure", [f[1] for f in FAILURES], ids=[f[0] for f in FAILURES])
def test_no_secret_in_a_failed_run(
    mock: respx.MockRouter, caplog: pytest.LogCaptureFixture, failure: Any
) -> None:
    _mock_failure(mock, failure)
    with QueryService() as service:
        with pytest.raises(QueryError) as caught:
            service.run(SOURCE, QUERY, "ds-1")
        client = service.get_connection(SOURCE, "ds-1")
        texts = [exposed(caught.value), logged(caplog), repr(service), repr(client), repr(client.settings)]
    assert_no_secret("\n".join(texts))


@pytest.mark.parametrize("failure", [f[1] for f in FAILURES], ids=[f[0] for f in FAILURES])
def test_no_secret_in_a_failed_async_run(
    mock: respx.MockRouter, caplog: pytest.LogCaptureFixture, failure: Any
) -> None:
    _mock_failure(mock, failure)

    async def scenario() -> list[str]:
        async with AsyncQueryService() as service:
            with pytest.raises(QueryError) as caught:
                await service.run(SOURCE, QUERY, "ds-1")
            client = await service.get_connection(SOURCE, "ds-1")
            return [exposed(caught.value), repr(service), repr(client)]

    texts = asyncio.run(scenario())
    assert_no_secret("\n".join([*texts, logged(caplog)]))


def test_the_echoed_secrets_are_replaced_not_dropped(mock: respx.MockRouter) -> None:
    """Redaction keeps Portkey's sentence readable: each key becomes ***."""
    mock.post("/chat/completions").mock(
        return_value=echo_json(401, {"error": {"message": ECHO, "type": "auth"}})
    )
    with QueryService() as service, pytest.raises(QueryError) as caught:
        service.run({**SOURCE, "maxRetries": "0"}, QUERY)
    assert caught.value.description == "keys seen: *** *** *** *** *** ***"


def test_no_secret_in_a_failed_stream(mock: respx.MockRouter, caplog: pytest.LogCaptureFixture) -> None:
    chunk = json.dumps({"error": {"message": ECHO, "type": "server_error"}})
    mock.post("/chat/completions").mock(
        return_value=httpx.Response(
            200, content=f"data: {chunk}\n\n".encode(), headers={"content-type": "text/event-stream"}
        )
    )
    with QueryService() as service, pytest.raises(QueryError) as caught:
        list(service.stream(SOURCE, QUERY))
    assert_no_secret(exposed(caught.value) + logged(caplog))


def test_no_secret_in_a_successful_run(mock: respx.MockRouter, caplog: pytest.LogCaptureFixture) -> None:
    route = mock.post("/chat/completions").mock(return_value=echo_json(200, {"choices": []}))
    with QueryService() as service:
        result = service.run(SOURCE, QUERY)
    # the keys went where they belong, on the wire...
    sent = route.calls.last.request.headers
    assert (sent["x-portkey-api-key"], sent["x-portkey-virtual-key"]) == (API_KEY, QUERY_VIRTUAL_KEY)
    assert sent["authorization"] == f"Bearer {PROVIDER_KEY}"
    # ...and nowhere else
    assert_no_secret(json.dumps(result) + logged(caplog))


@pytest.mark.parametrize(
    ("source", "query"),
    [
        ({**SOURCE, "apiKey": API_KEY + "\r\nX: 1"}, QUERY),
        ({**SOURCE, "apiKey": API_KEY * 100}, QUERY),
        ({**SOURCE, "virtualKey": VIRTUAL_KEY + "\n"}, QUERY),
        ({**SOURCE, "providerApiKey": [PROVIDER_KEY]}, QUERY),
        ({**SOURCE, "config": '{"api_key": "' + CONFIG_KEY + '", "retry": {"attempts": "x"}}'}, QUERY),
        ({**SOURCE, "config": '{"api_key": "' + CONFIG_KEY + '"'}, QUERY),
        ({**SOURCE, "gatewayUrl": f"http://user:{API_KEY}@gw.test/v1"}, QUERY),
        ({**SOURCE, "gatewayUrl": f"http://gw.test/v1?key={API_KEY}"}, QUERY),
        (SOURCE, {**QUERY, "virtualKey": QUERY_VIRTUAL_KEY + "\r\n"}),
        (SOURCE, {**QUERY, "config": '{"api_key": "' + QUERY_CONFIG_KEY + '", "cache": 5}'}),
        (SOURCE, {**QUERY, "config": QUERY_CONFIG_KEY + " x"}),
    ],
)
def test_no_secret_in_a_validation_error(
    mock: respx.MockRouter, caplog: pytest.LogCaptureFixture, source: Any, query: Any
) -> None:
    route = mock.route()
    with QueryService() as service, pytest.raises(QueryError) as caught:
        service.run(source, query)
    assert "field" in caught.value.data
    assert route.call_count == 0
    assert_no_secret(exposed(caught.value) + logged(caplog))


@pytest.mark.parametrize(
    "response",
    [
        echo_json(401, {"status": "failure", "message": CONNECTION_ECHO}),
        httpx.Response(500, text=CONNECTION_ECHO),
        httpx.ConnectError(f"refused {CONNECTION_ECHO}"),
    ],
    ids=["rejected", "server-error", "unreachable"],
)
def test_no_secret_in_test_connection(
    mock: respx.MockRouter, caplog: pytest.LogCaptureFixture, response: Any
) -> None:
    if isinstance(response, Exception):
        mock.get("/models").mock(side_effect=response)
    else:
        mock.get("/models").mock(return_value=response)
    source = {k: v for k, v in SOURCE.items() if k != "config"}
    source["config"] = json.dumps({"provider": "openai", "api_key": CONFIG_KEY})
    result = QueryService().test_connection(source)
    assert result["status"] == "failed"
    assert "keys seen: *** *** *** ***" in result["message"]
    assert_no_secret(json.dumps(result) + logged(caplog))


def test_no_secret_in_reprs() -> None:
    settings = parse_connection(SOURCE)
    assert_no_secret(repr(settings) + str(settings))
    with QueryService() as service:
        client = service.get_connection(SOURCE, "ds-1")
        assert_no_secret(repr(service) + repr(client) + str(client))


def test_no_secret_in_the_request_repr() -> None:
    request = build_request(parse_connection(SOURCE), parse_query(QUERY))
    assert_no_secret(repr(request) + str(request))


def test_no_secret_in_the_query_repr() -> None:
    assert_no_secret(repr(parse_query(QUERY)))
