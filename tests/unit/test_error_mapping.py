"""The one mapping of failures to the host's QueryError (``_mapping.query_errors``), and the facts every
client error declares (``error_type``, ``retries``) that it reads."""

from __future__ import annotations

import asyncio

import pytest

from tooljet_portkey import (
    APIConnectionError,
    APIResponseValidationError,
    APITimeoutError,
    PortkeyError,
    ProxyConfigurationError,
    QueryError,
    RequestNotSentError,
    ResponseTooLargeError,
    StreamError,
    StreamTruncatedError,
)
from tooljet_portkey._mapping import query_errors
from tooljet_portkey._requests import PortkeyRequest
from tooljet_portkey._settings import ConnectionSettings

SETTINGS = ConnectionSettings(api_key="pk-mapping-secret", base_url="http://127.0.0.1:9/v1")
REQUEST = PortkeyRequest("POST", "/chat/completions", {"x-portkey-trace-id": "t-1"}, {}, False, "chat")
FAILED = "Query could not be completed"


def mapped(error: BaseException, **options: object) -> QueryError:
    with pytest.raises(QueryError) as caught, query_errors(SETTINGS, REQUEST, **options):  # type: ignore[arg-type]
        raise error
    return caught.value


@pytest.mark.parametrize(
    ("error", "error_type"),
    [
        (PortkeyError("x"), None),
        (APIConnectionError("x"), "connection_error"),
        (APITimeoutError("x", timeout=1.0), "timeout_error"),
        (ProxyConfigurationError("x", variable="HTTPS_PROXY"), "proxy_error"),
        (RequestNotSentError("x"), "invalid_request"),
        (APIResponseValidationError("x", status_code=200, headers={}), "invalid_response"),
        (ResponseTooLargeError("x", status_code=200, headers={}, limit=1), "response_too_large"),
        (StreamError("x"), "stream_error"),
        (StreamError("x", error_type="server_error"), "server_error"),
        (StreamTruncatedError("x"), "stream_truncated"),
    ],
)
def test_each_client_error_declares_its_type_and_the_host_sees_it_as_error_type(
    error: PortkeyError, error_type: str | None
) -> None:
    assert (error.error_type, error.retries, error.detail, error.message) == (error_type, 0, "x", "x")
    query_error = mapped(error)
    assert (query_error.data["errorType"], query_error.error_type) == (error_type, error_type)


@pytest.mark.parametrize(
    ("retries", "description"),
    [(0, "down"), (1, "down (after 1 retry)"), (2, "down (after 2 retries)")],
)
def test_retries_are_declared_and_counted_in_words(retries: int, description: str) -> None:
    error = mapped(APIConnectionError("down").after_retries(retries))
    assert (error.message, error.description, error.data) == (
        "Could not reach Portkey",
        description,
        {"statusCode": None, "errorType": "connection_error", "traceId": "t-1", "retries": retries},
    )


def test_a_query_error_passes_through_as_it_is() -> None:
    original = QueryError("Invalid query options", "model: is required", {"field": "model"})
    assert mapped(original) is original


def test_any_other_exception_is_the_plugin_error_without_its_words() -> None:
    error = mapped(ValueError("pk-mapping-secret leaked"))
    assert (error.message, error.description, error.data) == (
        FAILED,
        "Unexpected error in the Portkey plugin (ValueError)",
        {"statusCode": None, "errorType": "plugin_error", "traceId": None},
    )


def test_server_text_is_redacted_and_a_started_stream_lends_its_trace_id() -> None:
    request = PortkeyRequest("POST", "/chat/completions", {}, {}, True, "chat")
    with pytest.raises(QueryError) as caught, query_errors(SETTINGS, request, {"traceId": "t-stream"}):
        raise StreamError("bad key pk-mapping-secret", error_type="server_error")
    assert (caught.value.description, caught.value.data["traceId"]) == ("bad key ***", "t-stream")


@pytest.mark.parametrize("error", [GeneratorExit(), KeyboardInterrupt(), asyncio.CancelledError()])
def test_base_exceptions_pass_untouched(error: BaseException) -> None:
    with pytest.raises(type(error)) as caught, query_errors(SETTINGS, REQUEST):
        raise error
    assert caught.value is error


def test_without_a_request_every_client_error_is_a_bug() -> None:
    with pytest.raises(QueryError) as caught, query_errors():
        raise APIConnectionError("down")
    assert caught.value.data["errorType"] == "plugin_error"
