"""Read what Portkey answered: error bodies, response headers, stream chunks. Pure, no I/O.

Portkey's error bodies come in several shapes (see docs/errors.md), all read by ``status_error``:
1. a provider error: ``{"error": {"message", "type", "param", "code"}, "provider": "openai"}``
2. the gateway's own: ``{"status": "failure", "message": "...", "errors": ["..."]}``
3. a guardrail denial (446): shape 1 plus ``hook_results``
4. no JSON at all: proxies' 502/503/504 pages, plain-text 500s, empty bodies.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from ._constants import MAX_ERROR_TEXT_CHARS, MAX_LISTED_ERRORS, MAX_QUOTED_CHUNK_CHARS, MAX_TOOL_CALLS
from ._errors import (
    APIResponseValidationError,
    APIStatusError,
    StreamError,
    status_error_class,
)
from ._secrets import redact
from ._sse import ServerSentEvent
from ._values import NotStrictJSON, loads_strict, raw_decode_strict

DEFAULT_ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    408: "timeout_error",
    409: "conflict_error",
    412: "budget_exceeded_error",
    422: "unprocessable_entity_error",
    429: "rate_limit_error",
    446: "guardrail_denied_error",
}

_TAG = re.compile(r"<[^>]+>")
_SPACE = re.compile(r"\s+")


@dataclass(frozen=True)
class PortkeyResponse:
    """A successful answer: status, the lower-cased headers, the parsed JSON, our retry count, and the
    query's deadline (time.monotonic; reading the answer, a schema check included, ends by it)."""

    status_code: int
    headers: Mapping[str, str]
    data: Any
    retries: int = 0
    deadline: float | None = None


def header_int(value: str | None) -> int | None:
    """A numeric header (x-portkey-retry-attempt-count) as an int, or None when absent or not a number."""
    try:
        return int(value) if value is not None else None
    except ValueError:
        return None


def response_metadata(
    status_code: int, headers: Mapping[str, str], retries: int = 0, secrets: Sequence[str] = ()
) -> dict[str, Any]:
    """What Portkey said about the call, for the QueryResult's ``metadata``; ``retries``: how many times
    this client retried (``retryAttemptCount`` is the gateway's own count, from its header); a header
    that echoes one of ``secrets`` (the request's keys) is redacted."""
    meta: dict[str, Any] = {"statusCode": status_code, "retries": retries}
    for key, header in (
        ("traceId", "x-portkey-trace-id"),
        ("cacheStatus", "x-portkey-cache-status"),
        ("provider", "x-portkey-provider"),
        ("lastUsedOptionIndex", "x-portkey-last-used-option-index"),
    ):
        # The open-source gateway echoes an empty trace id when none was sent: leave it out.
        value = headers.get(header)
        if value:
            for secret in secrets:
                if secret in value:
                    value = redact(value, secrets)
                    break
            meta[key] = value
    gateway_retries = header_int(headers.get("x-portkey-retry-attempt-count"))
    if gateway_retries is not None:  # Portkey's own retries (a config's); ``retries`` is the client's
        meta["retryAttemptCount"] = gateway_retries
    if status_code == 246:
        meta["guardrailWarning"] = True
    return meta


def _plain_text(text: str) -> str:
    text = _SPACE.sub(" ", _TAG.sub(" ", text)).strip()
    return text if len(text) <= MAX_ERROR_TEXT_CHARS else text[: MAX_ERROR_TEXT_CHARS - 3] + "..."


def error_details(status_code: int, body: Any, text: str) -> tuple[str, str | None]:
    """The human message and the error type in an error body of any shape."""
    if isinstance(body, dict):
        error = body.get("error")
        if isinstance(error, dict):
            message = error.get("message") or body.get("message")
            error_type = error.get("type") or error.get("code")
            if message:
                return str(message), str(error_type) if error_type else None
        elif isinstance(error, str) and error:
            return error, None
        message = body.get("message")
        if isinstance(message, str) and message:
            errors = body.get("errors")
            if isinstance(errors, list) and errors:
                message = f"{message}: " + "; ".join(str(e) for e in errors[:MAX_LISTED_ERRORS])
            return message, None
    if text.strip():
        return _plain_text(text), None
    return f"Portkey answered HTTP {status_code} with an empty body", None


def parse_json(content: bytes) -> Any:
    """A body's JSON, or None when it is not strict JSON (``loads_strict``: no NaN, no infinity, no
    RecursionError): an error body is then read as text, and nothing read can make a result that is
    not JSON."""
    try:
        return loads_strict(content) if content else None
    except ValueError:
        return None


def status_error(status_code: int, headers: Mapping[str, str], content: bytes) -> APIStatusError:
    body = parse_json(content)
    text = content.decode("utf-8", "replace") if body is None else ""
    message, error_type = error_details(status_code, body, text)
    if error_type is None:
        gateway = headers.get("x-portkey-gateway-exception") == "true"
        default = "gateway_error" if gateway else "api_error"
        error_type = DEFAULT_ERROR_TYPES.get(status_code, default)
    return status_error_class(status_code)(
        message,
        status_code=status_code,
        error_type=error_type,
        body=body if body is not None else text,
        headers=dict(headers),
        trace_id=headers.get("x-portkey-trace-id"),
    )


def success_body(status_code: int, headers: Mapping[str, str], content: bytes) -> Any:
    """The JSON of a 2xx answer; a body that is not JSON is an error, not data. So is one that only
    Python's parser takes (NaN, Infinity, 1e999), or too deep to parse: data never holds a value a
    host's strict serialiser refuses."""
    try:
        body = loads_strict(content) if content else None
    except NotStrictJSON as err:
        raise APIResponseValidationError(
            f"Portkey answered HTTP {status_code} but the body is not valid JSON ({err})",
            status_code=status_code,
            headers=dict(headers),
        ) from None
    except ValueError:
        body = None
    if body is None:
        raise APIResponseValidationError(
            f"Portkey answered HTTP {status_code} but the body is not JSON: "
            + (_plain_text(content.decode("utf-8", "replace")) or "(empty)"),
            status_code=status_code,
            headers=dict(headers),
        )
    return body


def unwrap_prompt_body(data: Any) -> Any:
    """A prompt completion may come wrapped as ``{status, headers, body}``: return the completion."""
    if isinstance(data, dict) and "choices" not in data and isinstance(data.get("body"), dict):
        return data["body"]
    return data


# ---------------------------------------------------------------------------------------------------
# Streams


class StreamMarker(enum.Enum):
    """What ``decode_chunk`` returns for an event that is not a chunk to yield."""

    DONE = "[DONE]"  # the stream's last event: the answer is complete


DONE: Final = StreamMarker.DONE


@dataclass(frozen=True)
class GuardrailChunk:
    """A chunk that only carries guardrail verdicts (Portkey sends the input checks' before the first
    chunk, and may send the output checks' after the last): nothing to fold or yield, read into the
    stream's metadata instead (``metadata.guardrails``)."""

    hook_results: Any


def _loads_chunk(data: str) -> Any:
    """``loads_strict`` for one chunk, or None when it is not JSON. ``raw_decode`` first: it skips
    json.loads' wrapper layers and whitespace scans, about a third of the parse time of a small chunk;
    anything it does not take whole (surrounding whitespace, trailing text) goes to ``loads_strict``,
    which decides. Raises NotStrictJSON for JSON only Python takes (NaN, 1e999) or nested too deeply."""
    try:
        value, end = raw_decode_strict(data)
        if end == len(data):
            return value
    except NotStrictJSON:
        raise
    except ValueError:
        pass
    try:
        return loads_strict(data)
    except NotStrictJSON:
        raise
    except ValueError:
        return None


def decode_chunk(event: ServerSentEvent) -> dict[str, Any] | StreamMarker | GuardrailChunk:
    """One SSE event -> a chunk dict, DONE at ``[DONE]``, a GuardrailChunk for a guardrail-only chunk.

    Raises StreamError for an error chunk (a non-empty ``error`` key, the gateway's ``status: failure``,
    an ``error`` event, or a finish_reason naming an error): Portkey forwards a provider failure
    mid-stream as an ordinary-looking chunk.
    """
    data = event.data
    if data == "[DONE]" or (len(data) < 16 and data.strip() == "[DONE]"):
        return DONE
    problem = None
    try:
        chunk = _loads_chunk(data)
    except NotStrictJSON as err:
        chunk, problem = None, str(err)
    if event.event == "error":
        message, error_type = error_details(500, chunk, data)
        raise StreamError(message, error_type=error_type, chunk=chunk)
    if problem is not None:
        raise StreamError(
            f"Portkey sent a stream chunk that is not valid JSON ({problem})", error_type="invalid_chunk"
        )
    if type(chunk) is not dict:
        quoted = _plain_text(data)[:MAX_QUOTED_CHUNK_CHARS]
        raise StreamError(
            f"Portkey sent a stream chunk that is not a JSON object: {quoted}",
            error_type="invalid_chunk",
        )
    if chunk.get("error") or chunk.get("status") == "failure":
        message, error_type = error_details(500, chunk, data)
        raise StreamError(message, error_type=error_type, chunk=chunk)
    choices = chunk.get("choices")
    if choices is not None and type(choices) is not list:
        raise StreamError(
            "Portkey sent a stream chunk whose choices is not a list", error_type="invalid_chunk", chunk=chunk
        )
    if choices:
        for choice in choices:
            # Some providers end a failed stream with a finish_reason such as "error".
            reason = choice.get("finish_reason") if type(choice) is dict else None
            if reason and type(reason) is str and (reason == "error" or reason.endswith("_error")):
                message = f"The provider ended the stream with {reason}"
                raise StreamError(message, error_type=reason, chunk=chunk)
    elif "hook_results" in chunk and choices is None:
        return GuardrailChunk(chunk["hook_results"])
    return chunk


def _merge_tool_calls(into: list[dict[str, Any]], deltas: Iterable[Any]) -> None:
    """Fold one delta's tool_calls pieces into the calls so far, by their ``index``.

    An index past MAX_TOOL_CALLS is refused (StreamError ``invalid_chunk``): the calls are a list, and
    an index of 10**7 would otherwise allocate ten million empty calls.
    """
    for delta in deltas:
        if not isinstance(delta, dict):
            continue
        index = delta.get("index")
        if type(index) is not int or index < 0:
            index = len(into)
        if index >= MAX_TOOL_CALLS:
            raise StreamError(
                f"Portkey sent a tool call with index {index}; at most {MAX_TOOL_CALLS} tool calls are read",
                error_type="invalid_chunk",
            )
        while len(into) <= index:
            into.append({"function": {"name": "", "arguments": ""}})
        call = into[index]
        for key in ("id", "type"):
            if delta.get(key):
                call[key] = delta[key]
        function = delta.get("function")
        if isinstance(function, dict):
            for key in ("name", "arguments"):
                if isinstance(function.get(key), str):
                    call["function"][key] += function[key]


def _indexed_choices(chunk: Mapping[str, Any]) -> list[tuple[int, dict[str, Any]]]:
    """A chunk's choices that are objects, each with its ``index`` (0 when it has none that is an int)."""
    choices = chunk.get("choices")
    if type(choices) is not list:  # decode_chunk refuses other types; a chunk built by hand may differ
        return []
    found = []
    for choice in choices:
        if isinstance(choice, dict):
            index = choice.get("index", 0)
            found.append((index if type(index) is int else 0, choice))
    return found


class StreamTally:
    """What a stream's chunks say of the answer beside its text: how many came, the first one (its id,
    created and model), the usage (sent when the provider includes it, e.g. with
    ``stream_options.include_usage``) and each choice's last finish_reason.

    ``answer()`` gives them in the shape of an answer, for ``answer_metadata``: a stream's metadata and
    ``run()``'s for the same answer are read by the one function.
    """

    def __init__(self) -> None:
        self.first: dict[str, Any] | None = None
        self.count = 0
        self.usage: Any = None
        self.finish_reasons: dict[int, Any] = {}

    def add(self, chunk: Mapping[str, Any]) -> None:
        self.count += 1
        if self.first is None:
            self.first = dict(chunk)
        if chunk.get("usage"):
            self.usage = chunk["usage"]
        reasons = self.finish_reasons
        for index, choice in _indexed_choices(chunk):
            if choice.get("finish_reason"):
                reasons[index] = choice["finish_reason"]
            elif index not in reasons:
                reasons[index] = None

    def answer(self) -> dict[str, Any]:
        """The answer's model, usage and choices' finish reasons, as an unstreamed answer holds them."""
        first = self.first or {}
        out: dict[str, Any] = {
            "model": first.get("model"),
            "choices": [
                {"index": i, "finish_reason": self.finish_reasons[i]} for i in sorted(self.finish_reasons)
            ],
        }
        if self.usage is not None:
            out["usage"] = self.usage
        return out


class StreamAssembler(StreamTally):
    """Folds a stream's chunks into the shape the same call gives unstreamed.

    Chat deltas become ``message`` (role, content, tool_calls, refusal), completion pieces become
    ``text``; finish_reason and usage are kept (``StreamTally``). ``content`` stays None when no text
    arrived at all, as in an unstreamed answer that only calls tools.
    """

    def __init__(self) -> None:
        super().__init__()
        self.choices: dict[int, dict[str, Any]] = {}
        self.chat = False
        self.extra: dict[str, Any] = {}

    def add(self, chunk: Mapping[str, Any]) -> None:
        super().add(chunk)
        for key in ("system_fingerprint", "provider"):
            if chunk.get(key):
                self.extra[key] = chunk[key]
        for index, choice in _indexed_choices(chunk):
            slot = self.choices.get(index)
            if slot is None:
                slot = self.choices[index] = {"text": []}
            delta = choice.get("delta")
            if isinstance(delta, dict):
                self.chat = True
                self._add_delta(slot, delta)
            elif isinstance(choice.get("text"), str):
                slot["text"].append(choice["text"])

    @staticmethod
    def _add_delta(slot: dict[str, Any], delta: Mapping[str, Any]) -> None:
        if delta.get("role"):
            slot["role"] = delta["role"]
        content = delta.get("content")
        if isinstance(content, str):
            slot["text"].append(content)
        if isinstance(delta.get("refusal"), str):
            slot.setdefault("refusal", []).append(delta["refusal"])
        tool_calls = delta.get("tool_calls")
        if tool_calls:
            if type(tool_calls) is not list:
                raise StreamError(
                    "Portkey sent a stream chunk whose tool_calls is not a list", error_type="invalid_chunk"
                )
            _merge_tool_calls(slot.setdefault("tool_calls", []), tool_calls)

    def result(self) -> dict[str, Any]:
        first = self.first or {}
        choices = []
        for index in sorted(self.choices):
            slot = self.choices[index]
            finish_reason = self.finish_reasons[index]
            if self.chat:
                message: dict[str, Any] = {
                    "role": slot.get("role", "assistant"),
                    "content": "".join(slot["text"]) if slot["text"] else None,
                }
                if "refusal" in slot:
                    message["refusal"] = "".join(slot["refusal"])
                if "tool_calls" in slot:
                    message["tool_calls"] = slot["tool_calls"]
                choices.append({"index": index, "message": message, "finish_reason": finish_reason})
            else:
                choices.append(
                    {
                        "index": index,
                        "text": "".join(slot["text"]),
                        "finish_reason": finish_reason,
                    }
                )
        out: dict[str, Any] = {
            "id": first.get("id"),
            "object": "chat.completion" if self.chat else "text_completion",
            "created": first.get("created"),
            "model": first.get("model"),
            "choices": choices,
            **self.extra,
        }
        if self.usage is not None:
            out["usage"] = self.usage
        return out
