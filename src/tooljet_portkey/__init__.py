"""tooljet-portkey: the Portkey AI gateway as a datasource plugin for ToolJet-style app builders.

Hosts load ``QueryService`` (entry point group ``tooljet.plugins``, name ``portkey``) and draw their
forms from the shipped ``manifest.json`` and ``operations.json``. Names are imported on first use, so
``import tooljet_portkey`` stays cheap.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

if TYPE_CHECKING:
    from ._client import AsyncChunkStream, AsyncPortkeyClient, ChunkStream, PortkeyClient
    from ._errors import (
        APIConnectionError,
        APIResponseValidationError,
        APIStatusError,
        APITimeoutError,
        AuthenticationError,
        BadRequestError,
        BudgetExceededError,
        ConflictError,
        GuardrailDeniedError,
        InternalServerError,
        NotFoundError,
        PermissionDeniedError,
        PortkeyError,
        ProxyConfigurationError,
        QueryError,
        RateLimitError,
        RequestNotSentError,
        RequestTimeoutError,
        ResponseTooLargeError,
        StreamError,
        StreamTruncatedError,
        UnprocessableEntityError,
    )
    from ._models import (
        ChatChoice,
        ChatCompletion,
        ChatMessage,
        Completion,
        CompletionChoice,
        Embedding,
        EmbeddingList,
        FeedbackResult,
        Image,
        ImagesResponse,
        Model,
        ModelList,
        PromptRender,
        RenderedPrompt,
        Usage,
    )
    from ._requests import PortkeyRequest
    from ._service import AsyncQueryService, AsyncQueryStream, QueryService, QueryStream
    from ._settings import ConnectionSettings
    from ._types import ConnectionStatus, QueryMetadata, QueryResult

_LOCATIONS = {
    "AsyncChunkStream": "_client",
    "AsyncPortkeyClient": "_client",
    "ChunkStream": "_client",
    "PortkeyClient": "_client",
    "APIConnectionError": "_errors",
    "APIResponseValidationError": "_errors",
    "APIStatusError": "_errors",
    "APITimeoutError": "_errors",
    "AuthenticationError": "_errors",
    "BadRequestError": "_errors",
    "BudgetExceededError": "_errors",
    "ConflictError": "_errors",
    "GuardrailDeniedError": "_errors",
    "InternalServerError": "_errors",
    "NotFoundError": "_errors",
    "PermissionDeniedError": "_errors",
    "PortkeyError": "_errors",
    "ProxyConfigurationError": "_errors",
    "QueryError": "_errors",
    "RateLimitError": "_errors",
    "RequestNotSentError": "_errors",
    "RequestTimeoutError": "_errors",
    "ResponseTooLargeError": "_errors",
    "StreamError": "_errors",
    "StreamTruncatedError": "_errors",
    "UnprocessableEntityError": "_errors",
    "ChatChoice": "_models",
    "ChatCompletion": "_models",
    "ChatMessage": "_models",
    "Completion": "_models",
    "CompletionChoice": "_models",
    "Embedding": "_models",
    "EmbeddingList": "_models",
    "FeedbackResult": "_models",
    "Image": "_models",
    "ImagesResponse": "_models",
    "Model": "_models",
    "ModelList": "_models",
    "PromptRender": "_models",
    "RenderedPrompt": "_models",
    "Usage": "_models",
    "PortkeyRequest": "_requests",
    "AsyncQueryService": "_service",
    "AsyncQueryStream": "_service",
    "QueryService": "_service",
    "QueryStream": "_service",
    "ConnectionSettings": "_settings",
    "ConnectionStatus": "_types",
    "QueryMetadata": "_types",
    "QueryResult": "_types",
}

__all__ = [
    "APIConnectionError",
    "APIResponseValidationError",
    "APIStatusError",
    "APITimeoutError",
    "AsyncChunkStream",
    "AsyncPortkeyClient",
    "AsyncQueryService",
    "AsyncQueryStream",
    "AuthenticationError",
    "BadRequestError",
    "BudgetExceededError",
    "ChatChoice",
    "ChatCompletion",
    "ChatMessage",
    "ChunkStream",
    "Completion",
    "CompletionChoice",
    "ConflictError",
    "ConnectionSettings",
    "ConnectionStatus",
    "Embedding",
    "EmbeddingList",
    "FeedbackResult",
    "GuardrailDeniedError",
    "Image",
    "ImagesResponse",
    "InternalServerError",
    "Model",
    "ModelList",
    "NotFoundError",
    "PermissionDeniedError",
    "PortkeyClient",
    "PortkeyError",
    "PortkeyRequest",
    "PromptRender",
    "ProxyConfigurationError",
    "QueryError",
    "QueryMetadata",
    "QueryResult",
    "QueryService",
    "QueryStream",
    "RateLimitError",
    "RenderedPrompt",
    "RequestNotSentError",
    "RequestTimeoutError",
    "ResponseTooLargeError",
    "StreamError",
    "StreamTruncatedError",
    "UnprocessableEntityError",
    "Usage",
    "__version__",
]


def __getattr__(name: str) -> Any:
    module = _LOCATIONS.get(name)
    if module is None:
        raise AttributeError(f"module 'tooljet_portkey' has no attribute {name!r}")
    value = getattr(import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
