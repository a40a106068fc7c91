"""What the playground adds as a host: the chat view's query, the thumbs' feedback query, stream texts.

The page stays generic; the few field names a chat needs live here, each used only when operations.json
has the field (the chat's ``prompt`` and ``message_history``, or its ``messages``; ``traceId``; the
``feedback`` operation), so a form without them simply turns the matching feature off.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Mapping, Sequence
from typing import Any

from .._output import choice_texts, chunk_text  # what the plugin's stream() yields as text
from ._forms import operation_fields

__all__ = [
    "CHAT_OPERATION",
    "FEEDBACK_OPERATION",
    "assign_trace_id",
    "chat_fills",
    "chat_mode",
    "chat_options",
    "choice_texts",
    "chunk_text",
    "feedback_options",
    "feedback_supported",
    "history_messages",
    "query_trace_id",
    "stream_metadata",
]

CHAT_OPERATION = "chat"
FEEDBACK_OPERATION = "feedback"
PROMPT_FIELD = "prompt"
HISTORY_FIELD = "message_history"
MESSAGES_FIELD = "messages"
# what the conversation owns: never taken from the query form (the Query tab's messages beside the chat's
# prompt would be refused as "give either messages or prompt, not both")
CONVERSATION_FIELDS = frozenset({PROMPT_FIELD, HISTORY_FIELD, MESSAGES_FIELD})
TRACE_FIELD = "traceId"
FEEDBACK_VALUE_FIELD = "value"
# Thumbs up and down on Portkey's feedback scale (-10 to 10)
RATINGS = {"up": "1", "down": "-1"}
# ToolJet's Chat component: "message" is the user's, "response" the bot's, "error" a failed answer
CHAT_ROLES = {"message": "user", "response": "assistant"}


def chat_mode(operations: Mapping[str, Any]) -> str | None:
    """How the chat view fills the chat query: ``history`` (prompt + message_history, in the Chat
    component's form), ``messages`` (one JSON array), or None when there is no chat operation to fill."""
    fields = operation_fields(operations, CHAT_OPERATION)
    if PROMPT_FIELD in fields and HISTORY_FIELD in fields:
        return "history"
    if MESSAGES_FIELD in fields:
        return "messages"
    return None


def chat_fills(mode: str | None) -> list[str]:
    """The chat fields the conversation fills (the others come from the query form)."""
    if mode == "history":
        return [PROMPT_FIELD, HISTORY_FIELD]
    if mode == "messages":
        return [MESSAGES_FIELD]
    return []


def history_messages(history: Sequence[Mapping[str, str]]) -> list[dict[str, str]]:
    """Chat component entries as chat messages: the user's and the bot's turns; errors are left out."""
    return [
        {"role": CHAT_ROLES[entry["type"]], "content": entry["message"]}
        for entry in history
        if entry.get("type") in CHAT_ROLES
    ]


def chat_options(
    operations: Mapping[str, Any],
    form_values: Mapping[str, str],
    history: Sequence[Mapping[str, str]],
    prompt: str,
) -> dict[str, str]:
    """The chat query for the conversation so far and the new message, as host text.

    The other chat fields (model, temperature, a system prompt, ...) are the query form's; the
    conversation's own fields (prompt, history, messages) never are, whichever of them the chat fills.
    ValueError when there is no chat to fill.
    """
    mode = chat_mode(operations)
    if mode is None:
        raise ValueError(f"operations.json has no {CHAT_OPERATION} operation with messages to fill")
    fields = operation_fields(operations, CHAT_OPERATION)
    options = {
        key: value for key, value in form_values.items() if key in fields and key not in CONVERSATION_FIELDS
    }
    options["operation"] = CHAT_OPERATION
    if mode == "history":
        options[PROMPT_FIELD] = prompt
        options[HISTORY_FIELD] = json.dumps([dict(entry) for entry in history], ensure_ascii=False)
    else:
        messages = [*history_messages(history), {"role": "user", "content": prompt}]
        options[MESSAGES_FIELD] = json.dumps(messages, ensure_ascii=False)
    return options


def query_trace_id(operations: Mapping[str, Any], options: Mapping[str, str]) -> str | None:
    """The trace id a query sets for itself, when its operation has a trace id field."""
    if TRACE_FIELD not in operation_fields(operations, options.get("operation", "")):
        return None
    return options.get(TRACE_FIELD, "").strip() or None


def assign_trace_id(operations: Mapping[str, Any], options: dict[str, str]) -> str | None:
    """The query's trace id, made up (``playground-<hex>``) when its form has a blank trace id field.

    A stream hands back no response headers, so a trace id known in advance is the one an answer can be
    rated by. None when the operation has no trace id field.
    """
    if TRACE_FIELD not in operation_fields(operations, options.get("operation", "")):
        return None
    current = query_trace_id(operations, options)
    if current is None:
        current = options[TRACE_FIELD] = f"playground-{uuid.uuid4().hex}"
    return current


def feedback_supported(operations: Mapping[str, Any]) -> bool:
    """Whether operations.json has a feedback operation taking a trace id and a value."""
    fields = operation_fields(operations, FEEDBACK_OPERATION)
    return TRACE_FIELD in fields and FEEDBACK_VALUE_FIELD in fields


def feedback_options(trace_id: str, rating: str) -> dict[str, str]:
    """The feedback query for thumbs ``up`` or ``down`` on the answer with this trace id."""
    if rating not in RATINGS:
        raise ValueError(f"rating must be one of {', '.join(RATINGS)}")
    return {"operation": FEEDBACK_OPERATION, TRACE_FIELD: trace_id, FEEDBACK_VALUE_FIELD: RATINGS[rating]}


def stream_metadata(chunks: int, usage: Any, trace_id: str | None) -> dict[str, Any]:
    """A streamed answer's metadata as the page shows it: what the chunks themselves said."""
    metadata: dict[str, Any] = {"streamed": True, "chunks": chunks}
    if trace_id:
        metadata["traceId"] = trace_id
    if usage:
        metadata["usage"] = usage
    return metadata
