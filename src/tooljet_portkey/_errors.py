"""Errors.

The host sees one type, ``QueryError``: the service turns every failure into it. The client, usable on
its own, raises a tree modelled on httpx's and the Anthropic SDK's::

    PortkeyError
    ├── APIStatusError                 Portkey answered with an error status (status_code, body, ...)
    │   ├── BadRequestError            400
    │   ├── AuthenticationError        401
    │   ├── PermissionDeniedError      403
    │   ├── NotFoundError              404
    │   ├── RequestTimeoutError        408 (Portkey's x-portkey-request-timeout fired)
    │   ├── ConflictError              409
    │   ├── BudgetExceededError        412
    │   ├── UnprocessableEntityError   422
    │   ├── RateLimitError             429
    │   ├── GuardrailDeniedError       446 (hook_results holds the verdict)
    │   └── InternalServerError        >= 500
    ├── APIConnectionError             no usable answer: refused, DNS, TLS, reset
    │   ├── APITimeoutError            no answer in time (the query's deadline passed)
    │   ├── ProxyConfigurationError    a proxy environment variable that cannot be used
    │   └── RequestNotSentError        httpx refused to send what was built (a header HTTP forbids)
    ├── APIResponseValidationError     a 2xx whose body is not the JSON promised
    ├── ResponseTooLargeError          a body or one stream event beyond the connection's cap
    └── StreamError                    an error chunk inside a stream
        └── StreamTruncatedError       the stream ended without [DONE]

Every PortkeyError declares two facts the service maps for hosts (``_mapping.query_errors``):

- ``error_type``: the kind of failure, one spelling everywhere; hosts see it as ``errorType`` in
  ``QueryError.data``. An error answer's comes from its body (Portkey's ``error.type``); every other
  class has its own (``connection_error``, ``timeout_error``, ``stream_truncated``...).
- ``retries``: how many times the client retried before giving up (0 when it did not).

``QueryError.message`` is a short title ("Query timed out"), ``QueryError.description`` the detail; a
PortkeyError has only the detail, ``PortkeyError.detail`` (``message`` is kept as its alias, as the
Anthropic SDK and httpx callers expect).
"""

from __future__ import annotations

from typing import Any

# The title of a failed query that has no more telling one ("Query timed out", "Could not reach Portkey").
QUERY_FAILED_TITLE = "Query could not be completed"

__all__ = [
    "APIConnectionError",
    "APIResponseValidationError",
    "APIStatusError",
    "APITimeoutError",
    "AuthenticationError",
    "BadRequestError",
    "BudgetExceededError",
    "ConflictError",
    "GuardrailDeniedError",
    "InternalServerError",
    "NotFoundError",
    "PermissionDeniedError",
    "PortkeyError",
    "ProxyConfigurationError",
    "QueryError",
    "RateLimitError",
    "RequestNotSentError",
    "RequestTimeoutError",
    "ResponseTooLargeError",
    "StreamError",
    "StreamTruncatedError",
    "UnprocessableEntityError",
]


class QueryError(Exception):
    """The one error a host turns into a readable failure: ``{status: failed, message, description}``.

    ``message`` is the title a host shows in bold ("Query could not be completed"), ``description``
    the detail, ``data`` the facts (``statusCode``, ``errorType``, ``traceId``, ``retries``...): the
    names ToolJet reads, so they stay as they are.
    """

    def __init__(self, message: str, description: str, data: dict[str, Any] | None = None) -> None:
        super().__init__(message, description, data or {})
        self.message = message
        self.description = description
        self.data: dict[str, Any] = data or {}

    @property
    def error_type(self) -> str | None:
        """The failure's kind: ``data["errorType"]``, under the name PortkeyError uses for it."""
        value = self.data.get("errorType")
        return value if isinstance(value, str) else None

    def __str__(self) -> str:
        return f"{self.message}: {self.description}"

    def to_result(self) -> dict[str, Any]:
        """The failed QueryResult a host shows."""
        return {
            "status": "failed",
            "errorMessage": self.description,
            "message": self.message,
            "description": self.description,
            "data": self.data,
        }


class PortkeyError(Exception):
    """Base of every error the Portkey client raises: ``detail`` says what happened."""

    #: the kind of failure (hosts see it as ``errorType``); None when an error answer named none
    error_type: str | None = None
    #: how many times the client retried the request before this error ended it
    retries: int = 0

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail

    @property
    def message(self) -> str:
        """``detail``, under the name httpx and the Anthropic SDK give it."""
        return self.detail

    def after_retries(self, retries: int) -> PortkeyError:
        """This error, recording the retries that came before it."""
        self.retries = retries
        return self


class APIStatusError(PortkeyError):
    """Portkey (or the provider behind it) answered with an error status."""

    status_code: int

    def __init__(
        self,
        message: str,
        *,
        status_code: int,
        error_type: str | None,
        body: Any,
        headers: dict[str, str],
        trace_id: str | None,
    ) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.error_type = error_type
        self.body = body
        self.headers = headers
        self.trace_id = trace_id

    @property
    def portkey_retry_attempts(self) -> str | None:
        """The gateway's own retry count (``x-portkey-retry-attempt-count``, as sent: text), set when
        the connection's config makes Portkey retry; not the client's ``retries``."""
        return self.headers.get("x-portkey-retry-attempt-count")


class BadRequestError(APIStatusError):
    status_code: int = 400


class AuthenticationError(APIStatusError):
    status_code: int = 401


class PermissionDeniedError(APIStatusError):
    status_code: int = 403


class NotFoundError(APIStatusError):
    status_code: int = 404


class RequestTimeoutError(APIStatusError):
    status_code: int = 408


class ConflictError(APIStatusError):
    status_code: int = 409


class BudgetExceededError(APIStatusError):
    status_code: int = 412


class UnprocessableEntityError(APIStatusError):
    status_code: int = 422


class RateLimitError(APIStatusError):
    status_code: int = 429


class GuardrailDeniedError(APIStatusError):
    status_code: int = 446

    @property
    def hook_results(self) -> Any:
        return self.body.get("hook_results") if isinstance(self.body, dict) else None


class InternalServerError(APIStatusError):
    status_code: int = 500


STATUS_ERRORS: dict[int, type[APIStatusError]] = {
    400: BadRequestError,
    401: AuthenticationError,
    403: PermissionDeniedError,
    404: NotFoundError,
    408: RequestTimeoutError,
    409: ConflictError,
    412: BudgetExceededError,
    422: UnprocessableEntityError,
    429: RateLimitError,
    446: GuardrailDeniedError,
}


def status_error_class(status_code: int) -> type[APIStatusError]:
    if status_code >= 500:
        return InternalServerError
    return STATUS_ERRORS.get(status_code, APIStatusError)


class APIConnectionError(PortkeyError):
    """No usable answer: the connection was refused, reset, or never made (DNS, TLS)."""

    error_type: str | None = "connection_error"


class APITimeoutError(APIConnectionError):
    """No answer within the timeout."""

    error_type: str | None = "timeout_error"

    def __init__(self, message: str, *, timeout: float) -> None:
        super().__init__(message)
        self.timeout = timeout


class ProxyConfigurationError(APIConnectionError):
    """A proxy environment variable (HTTP_PROXY, HTTPS_PROXY, ALL_PROXY) that cannot be used: malformed,
    or SOCKS without the ``socksio`` package. Names the variable, never its value (it may hold a
    password)."""

    error_type: str | None = "proxy_error"

    def __init__(self, message: str, *, variable: str | None) -> None:
        super().__init__(message)
        self.variable = variable


class RequestNotSentError(APIConnectionError):
    """httpx refused to put the request on the wire (a header value HTTP forbids). Never retried."""

    error_type: str | None = "invalid_request"


class ResponseTooLargeError(PortkeyError):
    """The answer grew past the connection's cap (``maxResponseMiB`` for a body, decompressed;
    ``maxEventMiB`` for one stream event or line) and was not read further."""

    error_type: str | None = "response_too_large"

    def __init__(self, message: str, *, status_code: int, headers: dict[str, str], limit: int) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.headers = headers
        self.limit = limit


class APIResponseValidationError(PortkeyError):
    """A successful status whose body is not the JSON Portkey promised."""

    error_type: str | None = "invalid_response"

    def __init__(self, message: str, *, status_code: int, headers: dict[str, str]) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.headers = headers


class StreamError(PortkeyError):
    """A streamed answer failed part-way: the provider sent an error chunk."""

    error_type: str | None = "stream_error"

    def __init__(self, message: str, *, error_type: str | None = None, chunk: Any = None) -> None:
        super().__init__(message)
        if error_type:
            self.error_type = error_type
        self.chunk = chunk


class StreamTruncatedError(StreamError):
    """The stream ended without Portkey's closing ``data: [DONE]``: the answer is incomplete."""

    error_type: str | None = "stream_truncated"


# Tracebacks say tooljet_portkey.QueryError, the name users import (as httpx does).
for _name in __all__:
    globals()[_name].__module__ = "tooljet_portkey"
