"""Deterministic answers: the same request always gets the same text, usage and embedding vectors.

Tokens are counted by splitting on whitespace (``len(text.split())``): a simple, documented stand-in for
a real tokenizer, good enough to check that usage adds up. Nothing here does I/O.
"""

from __future__ import annotations

import base64
import hashlib
import json
import math
import random
import re
import struct
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

__all__ = [
    "Choice",
    "ToolCall",
    "answer_text",
    "chat_chunks",
    "chat_completion",
    "completion_chunks",
    "count_tokens",
    "embedding_size",
    "embedding_vector",
    "embeddings_response",
    "json_text",
    "limited",
    "message_text",
    "model_name",
    "text_completion",
    "tool_call",
]

SYSTEM_FINGERPRINT = "fp_simulator"

# Embedding sizes of OpenAI's models; any other model gets DEFAULT_EMBEDDING_SIZE.
EMBEDDING_SIZES = {
    "text-embedding-3-small": 1536,
    "text-embedding-3-large": 3072,
    "text-embedding-ada-002": 1536,
}
DEFAULT_EMBEDDING_SIZE = 1536
# ada-002 has a fixed size: OpenAI refuses `dimensions` for it.
FIXED_SIZE_MODELS = frozenset({"text-embedding-ada-002"})

_WORDS = (
    "gateway", "requests", "route", "through", "one", "endpoint", "with", "retries", "fallbacks",
    "caching", "and", "logs", "every", "call", "keeps", "a", "trace", "so", "teams", "can", "see",
    "latency", "cost", "tokens", "per", "model", "while", "apps", "stay", "simple", "the", "provider",
    "answers", "quickly", "config", "decides", "where", "traffic", "goes", "metadata", "tags", "users",
    "budgets", "limit", "spend", "guardrails", "check", "outputs", "before", "they", "reach", "screens",
)  # fmt: skip
OPENING = "This is a simulated answer."


def count_tokens(text: str) -> int:
    """The simulator's token count: whitespace-separated words."""
    return len(text.split())


def _digest(*parts: Any) -> bytes:
    blob = json.dumps(parts, sort_keys=True, separators=(",", ":"), ensure_ascii=True, default=str)
    return hashlib.sha256(blob.encode("utf-8")).digest()


def model_name(model: str) -> str:
    """``@openai-prod/gpt-4o-mini`` -> ``gpt-4o-mini`` (a Model Catalog slug prefix dropped)."""
    if model.startswith("@") and "/" in model:
        return model.split("/", 1)[1]
    return model


def message_text(messages: Sequence[Any]) -> str:
    """The text of a chat: every message's content (a string, or the text parts of a list)."""
    pieces: list[str] = []
    for message in messages:
        content = message.get("content") if isinstance(message, dict) else None
        if isinstance(content, str):
            pieces.append(content)
        elif isinstance(content, list):
            for part in content:
                if isinstance(part, dict) and isinstance(part.get("text"), str):
                    pieces.append(part["text"])
    return "\n".join(pieces)


def prompt_text(prompt: Any) -> str:
    if isinstance(prompt, str):
        return prompt
    if isinstance(prompt, list):
        return "\n".join(p if isinstance(p, str) else " ".join(map(str, p)) for p in prompt)
    return ""


@dataclass(frozen=True)
class ToolCall:
    """One call of a function tool: OpenAI's ``{id, type: "function", function: {name, arguments}}``."""

    id: str
    name: str
    arguments: str  # JSON text

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "type": "function",
            "function": {"name": self.name, "arguments": self.arguments},
        }


@dataclass(frozen=True)
class Choice:
    """One choice: its text (None when it only calls tools), why it ended (``stop``, ``length`` or
    ``tool_calls``) and its tool calls."""

    text: str | None
    finish_reason: str
    tool_calls: tuple[ToolCall, ...] = ()

    @property
    def tokens(self) -> int:
        """Completion tokens: the words of the text, or of each call's name and arguments."""
        calls = sum(count_tokens(c.name) + count_tokens(c.arguments) for c in self.tool_calls)
        return count_tokens(self.text or "") + calls


def _stops(stop: Any) -> list[str]:
    if isinstance(stop, str):
        return [stop] if stop else []
    if isinstance(stop, list):
        return [s for s in stop if isinstance(s, str) and s]
    return []


def answer_text(seed: Any, index: int = 0) -> str:
    """The text for a request's seed (model and input): an opening plus hash-chosen words."""
    rng = random.Random(_digest(seed, index))
    count = rng.randint(8, 24)
    words = [rng.choice(_WORDS) for _ in range(count)]
    return f"{OPENING} {' '.join(words).capitalize()}."


def limited(text: str, max_tokens: int | None = None, stop: Any = None) -> Choice:
    """``text`` cut before the first stop sequence, then to ``max_tokens`` words (``length``)."""
    finish = "stop"
    for marker in _stops(stop):
        cut = text.find(marker)
        if cut >= 0:
            text = text[:cut].rstrip()
    if max_tokens is not None and count_tokens(text) > max_tokens:
        text = "".join(pieces(text)[:max_tokens]).lstrip()
        finish = "length"
    return Choice(text, finish)


def json_text(value: Any) -> str:
    """JSON content as the simulator writes it: one line, with a space after each ``,`` and ``:`` (so
    that it counts, streams and cuts by words like any text)."""
    return json.dumps(value, ensure_ascii=False)


def tool_call(seed: Any, index: int, position: int, name: str, arguments: Any) -> ToolCall:
    """A tool call whose id is drawn from the request's seed, the choice and the call's position."""
    call_id = "call_" + _digest(seed, index, position, name).hex()[:24]
    return ToolCall(call_id, name, json_text(arguments))


def pieces(text: str) -> list[str]:
    """The stream's pieces, one word each (with its leading space): they join back to ``text``."""
    return re.findall(r"\s*\S+", text)


def _usage(prompt_tokens: int, completion_tokens: int) -> dict[str, int]:
    return {
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion_tokens,
        "total_tokens": prompt_tokens + completion_tokens,
    }


def new_id(prefix: str) -> str:
    return f"{prefix}-sim{uuid.uuid4().hex[:24]}"


def chat_completion(model: str, choices: Sequence[Choice], prompt_tokens: int) -> dict[str, Any]:
    return {
        "id": new_id("chatcmpl"),
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "choices": [
            {"index": i, "message": _message(a), "logprobs": None, "finish_reason": a.finish_reason}
            for i, a in enumerate(choices)
        ],
        "usage": _usage(prompt_tokens, sum(a.tokens for a in choices)),
        "system_fingerprint": SYSTEM_FINGERPRINT,
    }


def _message(a: Choice) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": a.text, "refusal": None}
    if a.tool_calls:
        message["tool_calls"] = [call.to_json() for call in a.tool_calls]
    return message


def text_completion(model: str, choices: Sequence[Choice], prompt_tokens: int) -> dict[str, Any]:
    return {
        "id": new_id("cmpl"),
        "object": "text_completion",
        "created": int(time.time()),
        "model": model,
        "choices": [
            {"text": a.text, "index": i, "logprobs": None, "finish_reason": a.finish_reason}
            for i, a in enumerate(choices)
        ],
        "usage": _usage(prompt_tokens, sum(a.tokens for a in choices)),
    }


def chat_chunks(
    model: str, choices: Sequence[Choice], prompt_tokens: int, include_usage: bool
) -> Iterator[dict[str, Any]]:
    """OpenAI's chat stream: a role delta, one content delta per word, a finish chunk, optional usage.
    A choice that calls tools streams, per call, a delta with its index, id, name and empty arguments,
    then its arguments word by word (``tool_calls: [{index, function: {arguments}}]``)."""
    base = {
        "id": new_id("chatcmpl"),
        "object": "chat.completion.chunk",
        "created": int(time.time()),
        "model": model,
        "system_fingerprint": SYSTEM_FINGERPRINT,
    }

    def chunk(index: int, delta: dict[str, Any], finish: str | None) -> dict[str, Any]:
        choice = {"index": index, "delta": delta, "logprobs": None, "finish_reason": finish}
        return {**base, "choices": [choice]}

    for i, a in enumerate(choices):
        if a.tool_calls:
            yield from (chunk(i, delta, None) for delta in _tool_call_deltas(a.tool_calls))
        else:
            yield chunk(i, {"role": "assistant", "content": "", "refusal": None}, None)
            for piece in pieces(a.text or ""):
                yield chunk(i, {"content": piece}, None)
        yield chunk(i, {}, a.finish_reason)
    if include_usage:
        yield {**base, "choices": [], "usage": _usage(prompt_tokens, sum(a.tokens for a in choices))}


def _tool_call_deltas(calls: Sequence[ToolCall]) -> Iterator[dict[str, Any]]:
    for position, call in enumerate(calls):
        opening = {
            "index": position,
            "id": call.id,
            "type": "function",
            "function": {"name": call.name, "arguments": ""},
        }
        if position == 0:
            yield {"role": "assistant", "content": None, "tool_calls": [opening], "refusal": None}
        else:
            yield {"tool_calls": [opening]}
        for piece in pieces(call.arguments):
            yield {"tool_calls": [{"index": position, "function": {"arguments": piece}}]}


def completion_chunks(
    model: str, choices: Sequence[Choice], prompt_tokens: int, include_usage: bool
) -> Iterator[dict[str, Any]]:
    """OpenAI's text completion stream: one chunk per word, then the finish reason."""
    base = {"id": new_id("cmpl"), "object": "text_completion", "created": int(time.time()), "model": model}
    for i, a in enumerate(choices):
        for piece in pieces(a.text or ""):
            yield {**base, "choices": [{"text": piece, "index": i, "logprobs": None, "finish_reason": None}]}
        yield {
            **base,
            "choices": [{"text": "", "index": i, "logprobs": None, "finish_reason": a.finish_reason}],
        }
    if include_usage:
        yield {**base, "choices": [], "usage": _usage(prompt_tokens, sum(a.tokens for a in choices))}


def embedding_size(model: str) -> int:
    return EMBEDDING_SIZES.get(model_name(model), DEFAULT_EMBEDDING_SIZE)


def embedding_vector(model: str, item: Any, dimensions: int | None = None) -> list[float]:
    """A unit vector drawn from a hash of (model, input); ``dimensions`` keeps the first n, renormalised
    (as OpenAI shortens its text-embedding-3 vectors). Its numbers are doubles, printed to 17 significant
    digits as a provider's are: an answer is as large as a real one (about 22 bytes a number)."""
    rng = random.Random(_digest(model_name(model), item))
    size = embedding_size(model) if dimensions is None else min(dimensions, embedding_size(model))
    vector = [rng.gauss(0.0, 1.0) for _ in range(size)]  # the first n of the full vector: drawn in order
    norm = math.sqrt(math.fsum(x * x for x in vector))
    return [x / norm for x in vector]


def input_tokens(item: Any) -> int:
    return len(item) if isinstance(item, list) else count_tokens(item)


def embeddings_response(
    model: str, items: Sequence[Any], dimensions: int | None, encoding_format: str
) -> dict[str, Any]:
    data: list[dict[str, Any]] = []
    for i, item in enumerate(items):
        vector = embedding_vector(model, item, dimensions)
        encoded: Any = vector
        if encoding_format == "base64":
            encoded = base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode("ascii")
        data.append({"object": "embedding", "index": i, "embedding": encoded})
    tokens = sum(input_tokens(item) for item in items)
    return {
        "object": "list",
        "data": data,
        "model": model,
        "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
    }
