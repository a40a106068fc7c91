"""PortkeyClient and AsyncPortkeyClient used on their own: the convenience methods return the pydantic
models and send the very request QueryService.run() sends for the same options; errors are typed."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
import respx
from unit_support import (
    API_KEY,
    BASE_URL,
    CHAT_EXAMPLE,
    COMPLETION_EXAMPLE,
    EMBEDDING_EXAMPLE,
    PROMPT_EXAMPLE,
    SOURCE,
    run_async,
    wire,
)

from tooljet_portkey import (
    APIConnectionError,
    APIResponseValidationError,
    APIStatusError,
    AsyncPortkeyClient,
    AuthenticationError,
    BadRequestError,
    BudgetExceededError,
    ChatCompletion,
    Completion,
    ConflictError,
    EmbeddingList,
    GuardrailDeniedError,
    InternalServerError,
    NotFoundError,
    PermissionDeniedError,
    PortkeyClient,
    PortkeyError,
    ProxyConfigurationError,
    QueryService,
    RateLimitError,
    RequestTimeoutError,
    UnprocessableEntityError,
)
from tooljet_portkey._options import parse_connection
from tooljet_portkey._requests import PortkeyRequest

pytestmark = [pytest.mark.respx(base_url=BASE_URL), pytest.mark.usefixtures("no_retry_sleep")]

MESSAGES = [{"role": "user", "content": "Who uses ToolJet?"}]

# (method, keyword arguments, the same query as a host sends it, the answer, the model it becomes)
CALLS: list[tuple[str, dict[str, Any], dict[str, Any], dict[str, Any], type]] = [
    (
        "chat",
        {"messages": MESSAGES, "model": "gpt-4o-mini", "max_tokens": 64, "temperature": 0.5, "stop": ["END"],
         "metadata": {"_user": "u-1"}, "trace_id": "t-1", "virtual_key": "vk-1", "config": "pc-1",
         "cache_namespace": "ns", "cache_force_refresh": True, "top_p": 0.9, "seed": 7},
        {"operation": "chat", "messages": json.dumps(MESSAGES), "model": "gpt-4o-mini", "max_tokens": "64",
         "temperature": "0.5", "stop_sequences": '["END"]', "metadata": '{"_user": "u-1"}', "traceId": "t-1",
         "virtualKey": "vk-1", "config": "pc-1", "cacheNamespace": "ns", "cacheForceRefresh": "true",
         "other_parameters": '{"top_p": 0.9, "seed": 7}'},
        CHAT_EXAMPLE,
        ChatCompletion,
    ),
    (
        "completions",
        {"model": "gpt-3.5-turbo-instruct", "prompt": "Say hi", "max_tokens": 5,
         "other_parameters": {"n": 2}},
        {"operation": "completion", "model": "gpt-3.5-turbo-instruct", "prompt": "Say hi", "max_tokens": "5",
         "other_parameters": '{"n": 2}'},
        COMPLETION_EXAMPLE,
        Completion,
    ),
    (
        "prompt_completion",
        {"prompt_id": "pp-welcome@12", "variables": {"name": "Ada"}, "parameters": {"max_tokens": 9},
         "config": {"cache": {"mode": "simple"}}},
        {"operation": "prompt_completion", "promptId": "pp-welcome@12", "variables": '{"name": "Ada"}',
         "prompt_parameters": '{"max_tokens": 9}', "config": '{"cache": {"mode": "simple"}}'},
        PROMPT_EXAMPLE,
        ChatCompletion,
    ),
    (
        "prompt_completion",
        {"prompt_id": "pp-plain", "temperature": 0.1},
        {"operation": "prompt_completion", "promptId": "pp-plain",
         "prompt_parameters": '{"temperature": 0.1}'},
        COMPLETION_EXAMPLE,
        Completion,
    ),
    (
        "embeddings",
        {"input": ["a", "b"], "model": "text-embedding-3-small", "dimensions": 256, "metadata": {"k": "v"}},
        {"operation": "create_embedding", "input": '["a", "b"]', "model": "text-embedding-3-small",
         "other_parameters": '{"dimensions": 256}', "metadata": '{"k": "v"}'},
        EMBEDDING_EXAMPLE,
        EmbeddingList,
    ),
]  # fmt: skip
IDS = [f"{c[0]}-{i}" for i, c in enumerate(CALLS)]


def call(client: PortkeyClient, method: str, kwargs: dict[str, Any]) -> Any:
    if method == "prompt_completion":
        rest = dict(kwargs)
        return client.prompt_completion(rest.pop("prompt_id"), **rest)
    return getattr(client, method)(**kwargs)


async def acall(client: AsyncPortkeyClient, method: str, kwargs: dict[str, Any]) -> Any:
    if method == "prompt_completion":
        rest = dict(kwargs)
        return await client.prompt_completion(rest.pop("prompt_id"), **rest)
    return await getattr(client, method)(**kwargs)


@pytest.mark.parametrize(("method", "kwargs", "query", "answer", "model"), CALLS, ids=IDS)
def test_convenience_method_returns_the_model_and_sends_what_the_service_sends(
    respx_mock: respx.MockRouter,
    method: str,
    kwargs: dict[str, Any],
    query: dict[str, Any],
    answer: dict[str, Any],
    model: type,
) -> None:
    route = respx_mock.route().respond(200, json=answer)
    with PortkeyClient(api_key=API_KEY, base_url=BASE_URL, max_retries=0) as client:
        result = call(client, method, kwargs)
    assert type(result) is model
    assert result == model.model_validate(answer)
    assert result.model_dump(mode="json", exclude_unset=True) == answer
    by_client = wire(route.calls.last.request)

    with QueryService() as service:
        assert service.run(SOURCE, query)["data"] == answer
    assert wire(route.calls.last.request) == by_client


@pytest.mark.parametrize(("method", "kwargs", "query", "answer", "model"), CALLS, ids=IDS)
def test_async_convenience_method_matches_the_sync_one(
    respx_mock: respx.MockRouter,
    method: str,
    kwargs: dict[str, Any],
    query: dict[str, Any],
    answer: dict[str, Any],
    model: type,
) -> None:
    route = respx_mock.route().respond(200, json=answer)
    with PortkeyClient(api_key=API_KEY, base_url=BASE_URL, max_retries=0) as client:
        sync_result = call(client, method, kwargs)
    sync_request = wire(route.calls.last.request)

    async def go() -> Any:
        async with AsyncPortkeyClient(api_key=API_KEY, base_url=BASE_URL, max_retries=0) as client:
            return await acall(client, method, kwargs)

    assert run_async(go) == sync_result
    assert wire(route.calls.last.request) == sync_request


def test_prompt_completion_unwraps_the_status_headers_body_form(respx_mock: respx.MockRouter) -> None:
    respx_mock.post("/prompts/pp-1/completions").respond(
        200, json={"status": 200, "headers": {}, "body": PROMPT_EXAMPLE}
    )
    with PortkeyClient(api_key=API_KEY, base_url=BASE_URL) as client:
        result = client.prompt_completion("pp-1")
    assert isinstance(result, ChatCompletion)
    assert result.text == PROMPT_EXAMPLE["choices"][0]["message"]["content"]


def test_a_request_built_by_hand_is_sent_and_its_answer_read_as_it_came(respx_mock: respx.MockRouter) -> None:
    """A PortkeyRequest that names no operation (the client's lowest level) is one request whose
    answer is returned as Portkey sent it: nothing unwrapped, nothing priced."""
    wrapped = {"status": 200, "headers": {}, "body": PROMPT_EXAMPLE}
    route = respx_mock.post("/prompts/pp-1/completions").respond(200, json=wrapped)
    request = PortkeyRequest("POST", "/prompts/pp-1/completions", {"x-portkey-api-key": API_KEY}, {})
    with PortkeyClient(api_key=API_KEY, base_url=BASE_URL) as client:
        response = client.send(request)
    assert (route.call_count, response.status_code, response.data) == (1, 200, wrapped)


@pytest.mark.parametrize(
    ("sent", "read"),
    [
        ([], {}),
        ([("X-Portkey-Trace-Id", "t-1"), ("Content-Type", "application/json")],
         {"x-portkey-trace-id": "t-1", "content-type": "application/json"}),
        # a repeated header is one value, joined in order; a line break a transport let through is kept
        ([("X-A", "1"), ("x-b", "two\nlines"), ("x-a", "3")], {"x-a": "1, 3", "x-b": "two\nlines"}),
        ([("Set-Cookie", "caf\u00e9".encode()), ("X-A", "1"), ("X-A", "2")],
         {"set-cookie": "caf\u00e9", "x-a": "1, 2"}),
    ],
)  # fmt: skip
def test_an_answers_headers_are_read_once_lower_cased_with_repeats_joined(
    sent: list[tuple[str, Any]], read: dict[str, str]
) -> None:
    from tooljet_portkey._client import _headers

    response = httpx.Response(200, headers=sent)
    assert _headers(response) == read == dict(response.headers.items())
    assert list(_headers(response)) == list(read) and _headers(response) is _headers(response)


@pytest.mark.parametrize(
    ("method", "kwargs", "message"),
    [
        ("chat", {"messages": [], "model": "m"}, "messages: must have at least 1 item"),
        ("chat", {"messages": MESSAGES, "model": "m", "max_tokens": 0}, "max_tokens: must be at least 1"),
        (
            "chat",
            {"messages": MESSAGES, "model": "m", "metadata": {"n": 1}},
            "metadata: a value must be text",
        ),
        ("completions", {"model": "m", "prompt": ""}, "prompt: is required"),
        ("completions", {"model": "m", "prompt": "p", "temperature": 3}, "temperature: must be at most 2"),
        ("embeddings", {"input": [], "model": "m"}, "input: must have at least 1 item"),
        (
            "prompt_completion",
            {"prompt_id": "a/b"},
            "promptId: contains characters that are not allowed here",
        ),
        ("prompt_completion", {"prompt_id": "p", "variables": ["x"]}, "variables: must be a JSON object"),
    ],
)
def test_bad_arguments_raise_value_error_before_sending(
    respx_mock: respx.MockRouter, method: str, kwargs: dict[str, Any], message: str
) -> None:
    with PortkeyClient(api_key=API_KEY, base_url=BASE_URL) as client, pytest.raises(ValueError) as caught:
        call(client, method, kwargs)
    assert str(caught.value) == message
    assert respx_mock.calls.call_count == 0


@pytest.mark.parametrize(
    ("options", "error", "message"),
    [
        ({"api_key": API_KEY, "base": BASE_URL}, TypeError, "unexpected keyword argument(s): base"),
        (
            {},
            ValueError,
            "apiKey: is required for Portkey's hosted API (set gatewayUrl for a self-hosted gateway)",
        ),
        ({"api_key": API_KEY, "timeout": 0}, ValueError, "timeout: must be greater than 0"),
        (
            {"base_url": "ftp://x"},
            ValueError,
            "gatewayUrl: must start with http:// or https:// (e.g. http://localhost:8787/v1)",
        ),
        (
            {"api_key": API_KEY, "provider": "sk-" + "x" * 40},
            ValueError,
            "provider: looks like an API key; put it in API key (Portkey's) or Provider API key "
            "(the provider's)",
        ),
    ],
)
def test_client_options_are_checked(options: dict[str, Any], error: type[Exception], message: str) -> None:
    with pytest.raises(error) as caught:
        PortkeyClient(**options)
    assert str(caught.value) == message


def test_client_defaults_and_repr() -> None:
    with PortkeyClient(api_key=API_KEY, virtual_key="vk-secret-1", provider_api_key="sk-secret-2") as client:
        assert client.settings == parse_connection(
            {"apiKey": API_KEY, "virtualKey": "vk-secret-1", "providerApiKey": "sk-secret-2"}
        )
        timeout = client._http.timeout
        assert (timeout.connect, timeout.read, timeout.write, timeout.pool) == (10.0, 600.0, 600.0, 600.0)
        assert str(client._http.base_url) == "https://api.portkey.ai/v1/"
        shown = repr(client)
    for secret in (API_KEY, "vk-secret-1", "sk-secret-2"):
        assert secret not in shown


def test_client_accepts_settings_and_an_http_client(respx_mock: respx.MockRouter) -> None:
    route = respx_mock.post("/embeddings").respond(200, json=EMBEDDING_EXAMPLE)
    http = httpx.Client(base_url=BASE_URL + "/", headers={"x-extra": "1"})
    client = PortkeyClient(parse_connection(SOURCE), http_client=http)
    assert (
        client.embeddings(input="hello", model="m").data[0].embedding
        == EMBEDDING_EXAMPLE["data"][0]["embedding"]
    )
    assert route.calls.last.request.headers["x-extra"] == "1"
    client.close()
    assert http.is_closed


def test_client_size_time_and_proxy_options() -> None:
    """Sizes are given in bytes in Python (the form's fields are in MiB) and land in the settings."""
    options = {"max_response_bytes": 3 * 1024 * 1024, "max_event_bytes": 4096, "stream_timeout": 90}
    with PortkeyClient(api_key=API_KEY, use_system_proxy=False, **options) as client:
        assert (
            client.settings.max_response_bytes,
            client.settings.max_event_bytes,
            client.settings.stream_timeout,
            client.settings.use_system_proxy,
        ) == (3 * 1024 * 1024, 4096, 90.0, False)
        assert client._http.trust_env is False
        assert client._guarded
    with pytest.raises(ValueError) as caught:
        PortkeyClient(api_key=API_KEY, max_event_bytes=0)
    assert str(caught.value) == "maxEventMiB: must be greater than 0"


def test_a_client_passed_in_is_not_altered(respx_mock: respx.MockRouter) -> None:
    """The deadline is put under the sockets of the package's own httpx clients only."""
    http = httpx.Client(base_url=BASE_URL + "/")
    backend = http._transport._pool._network_backend  # type: ignore[attr-defined]
    with PortkeyClient(parse_connection(SOURCE), http_client=http) as client:
        assert not client._guarded
        assert http._transport._pool._network_backend is backend  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        (
            "HTTPS_PROXY",
            "http://[::1",
            "The HTTPS_PROXY environment variable is not a valid proxy URL (http://, https://, socks5:// or "
            "socks5h://); fix or unset it, or turn the connection's useSystemProxy off",
        ),
        (
            "all_proxy",
            "gopher://proxy.example",
            "The all_proxy environment variable is not a valid proxy URL (http://, https://, socks5:// or "
            "socks5h://); fix or unset it, or turn the connection's useSystemProxy off",
        ),
    ],
)
def test_an_unusable_proxy_variable_fails_the_client_by_name(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str, message: str
) -> None:
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)
    monkeypatch.setenv(variable, value)
    for factory in (PortkeyClient, AsyncPortkeyClient):
        with pytest.raises(ProxyConfigurationError) as caught:
            factory(api_key=API_KEY)
        assert (caught.value.message, caught.value.variable, caught.value.error_type) == (
            message,
            variable,
            "proxy_error",
        )
        assert caught.value.__context__ is None and caught.value.__cause__ is None
    PortkeyClient(api_key=API_KEY, use_system_proxy=False).close()  # the switch skips the environment


@pytest.mark.parametrize(
    ("status", "error_class"),
    [
        (400, BadRequestError),
        (401, AuthenticationError),
        (403, PermissionDeniedError),
        (404, NotFoundError),
        (408, RequestTimeoutError),
        (409, ConflictError),
        (412, BudgetExceededError),
        (418, APIStatusError),
        (422, UnprocessableEntityError),
        (429, RateLimitError),
        (446, GuardrailDeniedError),
        (500, InternalServerError),
        (503, InternalServerError),
    ],
)
def test_error_status_raises_its_class(respx_mock: respx.MockRouter, status: int, error_class: type) -> None:
    body = {"error": {"message": f"failed with {status}", "type": "some_type"}, "hook_results": {"v": 1}}
    respx_mock.post("/chat/completions").respond(status, json=body, headers={"x-portkey-trace-id": "tr"})
    with (
        PortkeyClient(api_key=API_KEY, base_url=BASE_URL, max_retries=0) as client,
        pytest.raises(APIStatusError) as caught,
    ):
        client.chat(messages=MESSAGES, model="m")
    err = caught.value
    assert type(err) is error_class
    assert isinstance(err, PortkeyError)
    assert (err.status_code, err.message, err.error_type, err.trace_id, err.body) == (
        status,
        f"failed with {status}",
        "some_type",
        "tr",
        body,
    )
    if status == 446:
        assert isinstance(err, GuardrailDeniedError) and err.hook_results == {"v": 1}


def test_transport_failure_raises_connection_error(respx_mock: respx.MockRouter) -> None:
    respx_mock.post("/chat/completions").mock(side_effect=httpx.ConnectError("Connection refused"))
    with (
        PortkeyClient(api_key=API_KEY, base_url=BASE_URL, max_retries=0) as client,
        pytest.raises(APIConnectionError) as caught,
    ):
        client.chat(messages=MESSAGES, model="m")
    assert caught.value.message == "Could not get an answer from gateway.test: Connection refused"
    assert isinstance(caught.value.__cause__, httpx.ConnectError)


def test_success_without_json_raises_response_validation_error(respx_mock: respx.MockRouter) -> None:
    respx_mock.post("/chat/completions").respond(200, text="<html>maintenance</html>")
    with (
        PortkeyClient(api_key=API_KEY, base_url=BASE_URL) as client,
        pytest.raises(APIResponseValidationError) as caught,
    ):
        client.chat(messages=MESSAGES, model="m")
    assert caught.value.message == "Portkey answered HTTP 200 but the body is not JSON: maintenance"
    assert caught.value.status_code == 200


def test_errors_are_named_after_the_package() -> None:
    assert repr(RateLimitError).startswith("<class 'tooljet_portkey.RateLimitError'")
