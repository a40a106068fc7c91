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
from importlib import resources
from typing import Any

import httpx
import pytest
import respx

from tooljet_portkey import AsyncQueryService, QueryError, QueryService
from tooljet_portkey._options import parse_connection, parse_query
from tooljet_portkey._requests import build_request

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


def assert_detached(err: BaseException) -> None:
    """Nothing unredacted is reachable from the error: it links to no other exception."""
    assert (err.__context__, err.__cause__, err.__suppress_context__) == (None, None, True)


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
    assert_detached(caught.value)


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
            assert_detached(caught.value)
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
    assert_detached(caught.value)


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
    assert_detached(caught.value)


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


# ---------------------------------------------------------------------------------------------------
# Refusals quote nothing the user typed: a key pasted into any field stays unseen

MANIFEST = json.loads(resources.files("tooljet_portkey").joinpath("manifest.json").read_text("utf-8"))
OPERATIONS = json.loads(resources.files("tooljet_portkey").joinpath("operations.json").read_text("utf-8"))
TYPED = "mk-typed-4d5e6f7a"  # what the user typed, shaped like a key
# Values carrying it that each field refuses for one reason or another (a field accepts some of them)
HOSTILE_VALUES: list[Any] = [
    TYPED,
    f"{TYPED}\n",
    f"{TYPED} x",
    TYPED * 300,
    f"{TYPED}\ud83d",
    '{"' + TYPED,
    json.dumps({TYPED: 5}),
    json.dumps({TYPED: "x" * 200}),
    json.dumps([TYPED, 5]),
    json.dumps([{"role": TYPED}]),
    json.dumps({"retry": {"attempts": TYPED}, "targets": [{"api_key": TYPED, "weight": TYPED}]}),
    {TYPED: 5},
    [TYPED, 5],
    [[TYPED]],
]
BASE_QUERY: dict[str, dict[str, Any]] = {
    "completion": {"operation": "completion", "model": "m", "prompt": "p"},
    "chat": {"operation": "chat", "model": "m", "messages": '[{"role":"user","content":"hi"}]'},
    "prompt_completion": {"operation": "prompt_completion", "promptId": "pp-1"},
    "create_embedding": {"operation": "create_embedding", "model": "m", "input": "hello"},
}
FIELDS = [("connection", key) for key in MANIFEST["properties"]] + [
    (operation, key) for operation in BASE_QUERY for key in OPERATIONS["properties"][operation]
]


@pytest.mark.parametrize(("form", "key"), FIELDS, ids=[f"{form}-{key}" for form, key in FIELDS])
def test_a_refusal_never_quotes_what_the_user_typed(mock: respx.MockRouter, form: str, key: str) -> None:
    """Every field, every kind of refusal (not a number, bad characters, too long, bad JSON, wrong
    JSON, a lone surrogate, a key the user chose): the field and the problem, never the value."""
    mock.route().mock(return_value=echo_json(200, {"choices": []}))
    refused = []
    with QueryService() as service:
        for value in HOSTILE_VALUES:
            source = {"apiKey": API_KEY, "gatewayUrl": BASE}
            query = dict(BASE_QUERY["chat" if form == "connection" else form])
            if (form, key) == ("chat", "prompt"):  # the prompt form, not messages
                del query["messages"]
            (source if form == "connection" else query)[key] = value
            try:
                service.run(source, query)
            except QueryError as err:
                if "field" in err.data:
                    refused.append(value)
                    assert err.data["field"] == key
                    assert TYPED not in exposed(err), (value, str(err))
            if form == "connection":
                result = service.test_connection(source)
                assert TYPED not in result.get("message", ""), (value, result)
    assert len(refused) >= 3, refused  # the field was really tried
    # (an accepted value may be logged: a promptId is part of the path)


def test_a_key_used_as_a_metadata_key_is_not_shown_in_the_path(mock: respx.MockRouter) -> None:
    with QueryService() as service, pytest.raises(QueryError) as caught:
        service.run(SOURCE, {**QUERY, "metadata": json.dumps({"team": "a", API_KEY: "x" * 200})})
    assert (caught.value.description, caught.value.data) == (
        "metadata: a value must be at most 128 characters",
        {"field": "metadata"},
    )


def test_spec_names_in_a_path_are_shown(mock: respx.MockRouter) -> None:
    """The path names what the spec declares (config.targets[1].retry.attempts), and stops at a key the
    user chose."""
    config = {"targets": [{"provider": "openai"}, {"retry": {"attempts": 11}}], "api_key": QUERY_CONFIG_KEY}
    with QueryService() as service, pytest.raises(QueryError) as caught:
        service.run(SOURCE, {**QUERY, "config": config})
    assert caught.value.description == "config.targets[1].retry.attempts: must be at most 10"


# ---------------------------------------------------------------------------------------------------
# Config credentials: any key whose name ends in key, secret, token, password... at any depth

CREDENTIAL_CONFIGS: list[tuple[dict[str, Any], str]] = [
    ({"api_key": "cred-value-0001"}, "cred-value-0001"),
    ({"virtual_key": "cred-value-0002"}, "cred-value-0002"),
    ({"targets": [{"aws_secret_access_key": "cred-value-0003"}]}, "cred-value-0003"),
    ({"targets": [{"aws_access_key_id": "cred-value-0004"}]}, "cred-value-0004"),
    ({"targets": [{"aws_session_token": "cred-value-0005"}]}, "cred-value-0005"),
    ({"targets": [{"targets": [{"azure_ad_token": "cred-value-0006"}]}]}, "cred-value-0006"),
    ({"targets": [{"azure_entra_client_secret": "cred-value-0007"}]}, "cred-value-0007"),
    ({"override_params": {"Authorization": "Bearer cred-value-0008"}}, "Bearer cred-value-0008"),
    ({"targets": [{"vertex_service_account_json": {"private_key": "cred-value-0009"}}]}, "cred-value-0009"),
    ({"targets": [{"vertex_service_account_json": '{"private_key": "cred-value-0010"}'}]}, "cred-value-0010"),
    ({"custom": {"apiKey": "cred-value-0011", "X-Api-Key": "cred-value-0012"}}, "cred-value-0011"),
    ({"custom": {"X-Api-Key": "cred-value-0012"}}, "cred-value-0012"),
    ({"vault": {"password": "cred-value-0013", "PASSWORD": "cred-value-0014"}}, "cred-value-0014"),
    ({"api_keys": ["cred-value-0015", "cred-value-0016"]}, "cred-value-0016"),
]


@pytest.mark.parametrize(("config", "secret"), CREDENTIAL_CONFIGS)
def test_every_config_credential_is_redacted(mock: respx.MockRouter, config: Any, secret: str) -> None:
    mock.post("/chat/completions").mock(
        return_value=echo_json(400, {"error": {"message": f"bad key {secret}", "type": secret}})
    )
    source = {"apiKey": API_KEY, "gatewayUrl": BASE, "maxRetries": "0", "config": json.dumps(config)}
    assert secret in parse_connection(source).secrets
    with QueryService() as service:
        with pytest.raises(QueryError) as from_connection:
            service.run(source, {k: v for k, v in QUERY.items() if k != "config"})
        with pytest.raises(QueryError) as from_query:
            service.run({**source, "config": None}, {**QUERY, "config": config})
    for caught in (from_connection, from_query):
        assert (caught.value.description, caught.value.data["errorType"]) == ("bad key ***", "***")


def test_config_entries_that_are_not_credentials_are_not_secrets() -> None:
    config = {
        "provider": "openai-prod",
        "custom_host": "http://models.internal:8080",
        "override_params": {"model": "gpt-4o-mini", "max_tokens": 256, "user": "user-1234"},
        "strategy": {"mode": "fallback"},
        "targets": [{"provider": "anthropic", "weight": 1}],
    }
    assert parse_connection({"apiKey": API_KEY, "config": json.dumps(config)}).secrets == (API_KEY,)


# ---------------------------------------------------------------------------------------------------
# Every text the server supplies is redacted, wherever it lands in the QueryError


def test_every_server_text_in_the_error_is_redacted(mock: respx.MockRouter) -> None:
    body = {
        "error": {"message": ECHO, "type": f"type-{API_KEY}"},
        "provider": f"provider {VIRTUAL_KEY}",
        "hook_results": {PROVIDER_KEY: [{"verdict": False, "explanation": ECHO, "id": CONFIG_KEY}]},
    }
    headers = {
        "retry-after": QUERY_VIRTUAL_KEY,
        "x-portkey-trace-id": f"trace-{QUERY_CONFIG_KEY}",
        "x-portkey-retry-attempt-count": API_KEY,
    }
    mock.post("/chat/completions").mock(return_value=echo_json(446, body, **headers))
    with QueryService() as service, pytest.raises(QueryError) as caught:
        service.run({**SOURCE, "maxRetries": "0"}, QUERY)
    assert caught.value.description == "keys seen: *** *** *** *** *** ***"
    assert caught.value.data == {
        "statusCode": 446,
        "errorType": "guardrail_denied",  # a 446 is named by the plugin, not by the body's type
        "traceId": "trace-***",
        "retries": 0,
        "retryAttemptCount": "***",
        "provider": "provider ***",
        "hookResults": {
            "***": [{"verdict": False, "explanation": "keys seen: *** *** *** *** *** ***", "id": "***"}]
        },
        "guardrails": {"verdict": "denied", "checks": [], "before": [], "after": []},
        "retryAfter": "***",
    }
    assert_detached(caught.value)


def test_a_key_that_starts_with_another_is_hidden_whole(mock: respx.MockRouter) -> None:
    """The virtual key begins with the API key: replacing the API key first used to leave '***-vk-2b'.
    And two keys that overlap in the text (the query's virtual key begins where the provider key ends)
    are hidden as one."""
    virtual_key = f"{API_KEY}-vk-2b"
    overlapping = f"{PROVIDER_KEY[-4:]}abcd"
    message = f"{virtual_key} / {API_KEY} / {PROVIDER_KEY}abcd / {overlapping}"
    mock.post("/chat/completions").mock(return_value=echo_json(401, {"error": {"message": message}}))
    source = {**SOURCE, "virtualKey": virtual_key, "maxRetries": "0", "config": None}
    query = {**QUERY, "virtualKey": overlapping, "config": None}
    with QueryService() as service, pytest.raises(QueryError) as caught:
        service.run(source, query)
    assert caught.value.description == "*** / *** / *** / ***"


def test_a_key_quoted_inside_json_text_is_redacted(mock: respx.MockRouter) -> None:
    """A key holding a quote or a backslash is redacted in its JSON-escaped form too."""
    config_key = 'sk-"quoted\\key-77'
    mock.post("/chat/completions").mock(
        return_value=httpx.Response(
            400, text='{"error": {"message": "got ' + json.dumps(config_key)[1:-1] + '"}}'
        )
    )
    source = {**SOURCE, "maxRetries": "0", "config": json.dumps({"api_key": config_key})}
    with QueryService() as service, pytest.raises(QueryError) as caught:
        service.run(source, {**QUERY, "config": None})
    assert caught.value.description == "got ***"


def test_an_unexpected_error_is_detached_and_names_only_its_type(
    mock: respx.MockRouter, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(*args: Any, **kwargs: Any) -> Any:
        raise KeyError(API_KEY)

    monkeypatch.setattr("tooljet_portkey._service.build_request", broken)
    with QueryService() as service, pytest.raises(QueryError) as caught:
        service.run(SOURCE, QUERY)
    assert (caught.value.description, caught.value.data["errorType"]) == (
        "Unexpected error in the Portkey plugin (KeyError)",
        "plugin_error",
    )
    assert_detached(caught.value)
    assert_no_secret(exposed(caught.value) + logged(caplog))


@pytest.mark.parametrize(
    "source",
    [
        {**SOURCE, "timeout": API_KEY},
        {**SOURCE, "config": '{"api_key": "' + CONFIG_KEY + '", \\x}'},
        {**SOURCE, "gatewayUrl": f"http://gw.test:{API_KEY}/v1"},
    ],
    ids=["number", "json", "url-port"],
)
def test_a_refusal_made_from_an_exception_is_detached(mock: respx.MockRouter, source: Any) -> None:
    """float(), json.loads() and urlsplit().port raise exceptions that quote the text: the refusal
    does not link to them."""
    for call in (parse_connection, lambda s: QueryService().run(s, QUERY)):
        with pytest.raises(QueryError) as caught:
            call(source)
        assert caught.value.__context__ is None and caught.value.__cause__ is None
        assert_no_secret(exposed(caught.value))
