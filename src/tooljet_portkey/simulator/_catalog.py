"""The models the simulator knows, each of one kind, and how a request for another one is refused.

Portkey relays the provider's answer when a model does not exist or does not serve the endpoint, so
the refusals are OpenAI's (404 ``model_not_found``; "This is not a chat model..."). The built-in
models are declared once here; a models file or dict (``Simulator(models=...)``, ``serve --models``)
adds to them, or replaces one of the same id. A file is a JSON object from model id to its kind, or to
``{"kind": ..., "owned_by": ...}``. Nothing here does I/O but reading that file.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ._answers import model_name
from ._rules import provider_error, without_code

__all__ = ["KINDS", "ModelCatalog", "SimModel"]

# What a model serves: chat (POST /chat/completions), completion (POST /completions), embedding
# (POST /embeddings), image (POST /images/generations).
KINDS = ("chat", "completion", "embedding", "image")
# The endpoint each kind serves.
ROUTE_KINDS = {
    "/chat/completions": "chat",
    "/completions": "completion",
    "/embeddings": "embedding",
    "/images/generations": "image",
}
DEFAULT_OWNER = "openai"
MODEL_CREATED = 1715367049

BUILT_IN = (
    ("gpt-4o-mini", "chat"),
    ("gpt-4o", "chat"),
    ("o4-mini", "chat"),  # reasoning models: max_completion_tokens, not max_tokens
    ("gpt-5-mini", "chat"),
    ("gpt-3.5-turbo-instruct", "completion"),
    ("text-embedding-3-small", "embedding"),
    ("text-embedding-3-large", "embedding"),
    ("text-embedding-ada-002", "embedding"),
    ("dall-e-2", "image"),
    ("dall-e-3", "image"),
    ("gpt-image-1", "image"),
)

NOT_A_CHAT_MODEL = (
    "This is not a chat model and thus not supported in the v1/chat/completions endpoint. "
    "Did you mean to use v1/completions?"
)
A_CHAT_MODEL = (
    "This is a chat model and not supported in the v1/completions endpoint. "
    "Did you mean to use v1/chat/completions?"
)
NOT_A_COMPLETION_MODEL = (
    "This is not a completion model and thus not supported in the v1/completions endpoint (simulated)."
)
NO_EMBEDDINGS = "You are not allowed to generate embeddings from this model"


@dataclass(frozen=True)
class SimModel:
    """One model: its id, what it serves and its owner (what ``GET /v1/models`` says)."""

    id: str
    kind: str
    owned_by: str = DEFAULT_OWNER

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "object": "model", "created": MODEL_CREATED, "owned_by": self.owned_by}


def _entry(model_id: Any, raw: Any) -> SimModel:
    if not isinstance(model_id, str) or not model_id.strip() or model_id != model_id.strip():
        raise ValueError("a model id must be non-empty text without surrounding spaces")
    if model_id.startswith("@"):
        raise ValueError(f"model {model_id}: give the id without a Model Catalog @slug/ prefix")
    fields = {"kind": raw} if isinstance(raw, str) else raw
    if not isinstance(fields, dict):
        raise ValueError(f"model {model_id}: give its kind, or an object with kind and owned_by")
    unknown = sorted(set(fields) - {"kind", "owned_by"})
    if unknown:
        raise ValueError(f"model {model_id}: unknown field {unknown[0]} (kind, owned_by)")
    kind = fields.get("kind")
    if kind not in KINDS:
        raise ValueError(f"model {model_id}: kind must be one of {', '.join(KINDS)}, not {kind!r}")
    owner = fields.get("owned_by", DEFAULT_OWNER)
    if not isinstance(owner, str) or not owner:
        raise ValueError(f"model {model_id}: owned_by must be non-empty text")
    return SimModel(model_id, kind, owner)


def _document(source: str | Path | Mapping[str, Any]) -> Mapping[str, Any]:
    if isinstance(source, Mapping):
        return source
    try:
        doc = json.loads(Path(source).read_text(encoding="utf-8"))
    except OSError as err:
        raise ValueError(f"cannot read models file {source}: {err.strerror}") from None
    except ValueError as err:
        raise ValueError(f"models file {source} is not valid JSON: {err}") from None
    if not isinstance(doc, dict):
        raise ValueError(f"models file {source} must hold a JSON object of model id -> kind")
    return doc


class ModelCatalog:
    """The simulator's models, in ``GET /v1/models`` order: the built-in ones, then those added."""

    def __init__(self, source: str | Path | Mapping[str, Any] | None = None) -> None:
        self._models = {model_id: SimModel(model_id, kind) for model_id, kind in BUILT_IN}
        if source is not None:
            for model_id, raw in _document(source).items():
                self._models[model_id] = _entry(model_id, raw)

    def all(self) -> list[SimModel]:
        return list(self._models.values())

    def ids(self, kind: str) -> tuple[str, ...]:
        """The ids of one kind's models, in order."""
        return tuple(m.id for m in self._models.values() if m.kind == kind)

    def find(self, model: str) -> SimModel | None:
        """The model a request names (a ``@slug/`` prefix dropped), or None when unknown."""
        return self._models.get(model_name(model))

    def check(self, model: str, route: str, provider: str | None) -> SimModel:
        """The model a request to ``route`` names, when the simulator knows it; else OpenAI's 404. A
        chat, completion or embeddings request also needs a model of that kind, else OpenAI's
        refusal (404; 403 for embeddings); an images request's model is checked by its own rules
        (``images_response``), which name the image models."""
        found = self.find(model)
        if found is None:
            message = f"The model `{model_name(model)}` does not exist or you do not have access to it."
            raise provider_error(404, message, provider=provider, code="model_not_found")
        wanted = ROUTE_KINDS[route]
        if found.kind == wanted or wanted == "image":
            return found
        if wanted == "chat":
            raise without_code(provider_error(404, NOT_A_CHAT_MODEL, param="model", provider=provider))
        if wanted == "completion":
            message = A_CHAT_MODEL if found.kind == "chat" else NOT_A_COMPLETION_MODEL
            raise without_code(provider_error(404, message, param="model", provider=provider))
        raise provider_error(403, NO_EMBEDDINGS, error_type="invalid_request_error", provider=provider)
