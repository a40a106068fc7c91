"""What a listed model does, so each operation's model dropdown offers only the models it can use.

Portkey's ``GET /models`` says nothing of what a model does (``{"id", "object": "model", ...}``), so the
kind is read from the model's data when the list carries a type (some providers' lists do: Together's
``type``, LM Studio's), and otherwise from its name. The rule lives here and only here; it is
documented in docs/operations/list_models.md (the model dropdown). Pure: no I/O.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from ._operations import OPERATIONS

__all__ = ["OPERATION_KINDS", "model_kind", "offered_for"]

CHAT = "chat"
COMPLETION = "completion"
EMBEDDING = "embedding"
IMAGE = "image"

# The kinds an operation's dropdown offers (``Operation.model_kinds``). An operation not named here
# offers every model.
OPERATION_KINDS: Mapping[str, frozenset[str]] = {
    name: op.model_kinds for name, op in OPERATIONS.items() if op.model_kinds
}

# A model's own ``type`` (lower-cased), when its list gives one.
TYPE_KINDS: Mapping[str, str] = {
    "chat": CHAT,
    "llm": CHAT,
    "vlm": CHAT,
    "language": COMPLETION,
    "code": COMPLETION,
    "embedding": EMBEDDING,
    "embeddings": EMBEDDING,
    "image": IMAGE,
    "audio": "speech",
    "tts": "speech",
    "transcribe": "transcription",
    "transcription": "transcription",
    "stt": "transcription",
    "moderation": "moderation",
    "rerank": "rerank",
}

# By name: the first rule that matches the model's name (lower-cased, without any @slug/ or org/
# prefix) gives its kind; a name no rule matches is a chat model. Only OpenAI's instruct models are
# completion models: other "-Instruct" models (Llama, Mistral, Qwen) are served as chat models.
NAME_RULES: tuple[tuple[str, re.Pattern[str]], ...] = (
    (EMBEDDING, re.compile(r"embed")),
    (IMAGE, re.compile(r"^(?:dall-e|gpt-image|imagen|stable-diffusion|sdxl|sd3|flux)")),
    ("speech", re.compile(r"^tts-|-tts(?:$|-)")),
    ("transcription", re.compile(r"^whisper|transcribe")),
    ("moderation", re.compile(r"moderation")),
    ("realtime", re.compile(r"realtime")),
    ("rerank", re.compile(r"rerank")),
    (COMPLETION, re.compile(r"^(?:gpt-3\.5-turbo-instruct|davinci-002|babbage-002|text-(?:davinci|ada)-)")),
)

# Any rule at all: one search tells most names (chat models) apart from the others at once.
_ANY_RULE = re.compile("|".join(f"(?:{rule.pattern})" for _, rule in NAME_RULES))


def _name(item: Mapping[str, Any]) -> str:
    """The name the rules read: Portkey's ``canonical_slug`` when given, else the id, its last part."""
    name = item.get("canonical_slug")
    if not isinstance(name, str) or not name:
        name = item.get("id")
    return name.rsplit("/", 1)[-1].lower() if isinstance(name, str) else ""


def model_kind(item: Mapping[str, Any]) -> str:
    """The kind of one entry of a model list: its ``type`` when the list gives a known one, else the
    first name rule that matches, else ``chat``."""
    given = item.get("type")
    if isinstance(given, str) and given.lower() in TYPE_KINDS:
        return TYPE_KINDS[given.lower()]
    name = _name(item)
    if _ANY_RULE.search(name) is None:
        return CHAT
    return next(kind for kind, rule in NAME_RULES if rule.search(name))


def offered_for(item: Mapping[str, Any], operation: str | None) -> bool:
    """Whether the dropdown of ``operation`` offers the model (every model without an operation)."""
    kinds = OPERATION_KINDS.get(operation) if operation is not None else None
    return kinds is None or model_kind(item) in kinds
