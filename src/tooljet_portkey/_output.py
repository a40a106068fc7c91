"""What ``run()`` returns as ``data``: Portkey's whole answer, or the part an app binds. Pure, no I/O.

The query's ``output`` field picks the mode:

- ``full`` (the default): Portkey's JSON as it came;
- ``text``: the answer's text, a string; a list of strings when the answer has several choices;
- ``json``: that text parsed as JSON, and checked against the response format's schema when one was
  given (an answer that is not is an ``invalid_output`` QueryError);
- ``vectors`` (embeddings): one vector for one input, else a list of vectors in input order;
- ``text`` of list models: the model ids; of prompt render: the rendered messages (a chat template) or
  prompt (a text template);
- ``images`` (image generation): the image URLs (``http:`` or ``https:`` only), base64 images as
  ``data:`` URIs.

List models says in ``metadata.warning`` when Portkey listed no model, whatever the mode.

An answer that only calls tools gives, in ``text`` and ``json`` modes, ``[{id, name, arguments}]`` with
the arguments parsed from JSON. Whatever the mode, ``answer_metadata`` reads the answer's usage, model
and (for a single choice) finish reason for the result's ``metadata``.

``data`` is always JSON a strict serialiser takes: a model's text is parsed by ``loads_strict`` (no NaN,
no infinity, no RecursionError), base64 vectors holding NaN are refused, and an answer too deep to
parse or to check against its schema is an ``invalid_output`` error, never the plugin's own error.
"""

from __future__ import annotations

import base64
import math
import re
import struct
import time
from collections.abc import Callable, Mapping
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from ._constants import DEFAULT_TIMEOUT_SECONDS, MAX_ECHOED_OUTPUT
from ._errors import QueryError
from ._operations import operation as operation_facts
from ._values import NESTED_TOO_DEEPLY, NotStrictJSON, loads_strict

__all__ = [
    "AnswerShape",
    "answer_metadata",
    "answer_shape",
    "choice_texts",
    "chunk_text",
    "image_source",
    "image_uri",
    "model_ids",
    "shape_answer",
]

INVALID_OUTPUT = "The answer is not the output asked for"
# A model asked for JSON sometimes wraps it in a Markdown code fence anyway.
_FENCE = re.compile(r"\A\s*```[A-Za-z0-9_-]*[ \t]*\r?\n(.*?)\r?\n?```\s*\Z", re.DOTALL)


@dataclass(frozen=True)
class AnswerShape:
    """How to turn one answer into ``data``: the mode, the schema a json answer follows, and whether an
    embedding query had a single input (one vector) or a list (a list of vectors)."""

    mode: str = "full"
    schema: Any = None
    single_input: bool = False
    # seconds a schema check may take when the caller gives no deadline (a stream's folded answer):
    # the query's timeout
    check_seconds: float = DEFAULT_TIMEOUT_SECONDS
    # the operation whose answer it reads: one with a reader of its own in _OPERATION_READERS (list
    # models, prompt render, image generation, feedback...) is read by it
    operation: str = ""


def answer_shape(
    operation: str,
    params: Mapping[str, Any],
    schema: Any = None,
    check_seconds: float = DEFAULT_TIMEOUT_SECONDS,
) -> AnswerShape:
    """The shape a validated query asks for."""
    mode = params.get("output", "full")
    single = False
    if operation_facts(operation).runs == "chunks":  # an input of one text (or tokens) is one vector
        given = params.get("input")
        single = isinstance(given, str) or (isinstance(given, list) and all(type(t) is int for t in given))
    return AnswerShape(mode, schema, single, check_seconds, operation)


def answer_metadata(data: Any) -> dict[str, Any]:
    """``usage`` as Portkey sent it, ``model``, and ``finishReason`` when there is one choice."""
    meta: dict[str, Any] = {}
    if not isinstance(data, dict):
        return meta
    if isinstance(data.get("usage"), dict):
        meta["usage"] = data["usage"]
    if isinstance(data.get("model"), str):
        meta["model"] = data["model"]
    choices = data.get("choices")
    if isinstance(choices, list) and len(choices) == 1 and isinstance(choices[0], dict):
        reason = choices[0].get("finish_reason")
        if isinstance(reason, str):
            meta["finishReason"] = reason
    return meta


def shape_answer(shape: AnswerShape, data: Any, deadline: float | None = None) -> tuple[Any, dict[str, Any]]:
    """``data`` for the query's output mode, and what to add to its metadata (a warning); a schema
    check ends by ``deadline`` (time.monotonic), or ``shape.check_seconds`` from now."""
    _answer_deadline.set(deadline if deadline is not None else time.monotonic() + shape.check_seconds)
    reader = _OPERATION_READERS.get(shape.operation)
    if reader is not None:
        return reader(shape.mode, data)
    if shape.mode == "full":
        return data, {}
    if shape.mode == "vectors":
        return _vectors(data, shape.single_input), {}
    choices = data.get("choices") if isinstance(data, dict) else None
    if not isinstance(choices, list) or not choices:
        raise _invalid("Portkey's answer holds no choices to read text from", "")
    warnings: list[str] = []
    values = [_choice_value(choice, shape, warnings) for choice in choices]
    extra = {"warning": "; ".join(warnings)} if warnings else {}
    return (values[0] if len(values) == 1 else values), extra


def _choice_value(choice: Any, shape: AnswerShape, warnings: list[str]) -> Any:
    if not isinstance(choice, dict):
        raise _invalid("Portkey's answer holds a choice that is not an object", "")
    message = choice.get("message")
    if isinstance(message, dict):
        text = _message_text(message.get("content"))
        calls = message.get("tool_calls")
        if not text and isinstance(calls, list) and calls:
            return [_tool_call(call, warnings) for call in calls]
    else:
        text = choice.get("text") if isinstance(choice.get("text"), str) else None
    text = text or ""
    return _parse_json(text, shape.schema) if shape.mode == "json" else text


def _message_text(content: Any) -> str | None:
    """A message's text: the string, or the text parts of a content-part list joined."""
    if isinstance(content, str) or content is None:
        return content
    if isinstance(content, list):
        return "".join(
            part["text"] for part in content if isinstance(part, dict) and isinstance(part.get("text"), str)
        )
    return None


def chunk_text(chunk: Mapping[str, Any]) -> str:
    """The text a stream chunk adds, what ``stream()`` yields in ``text`` mode: its chat deltas'
    content, or its completion choices' text, of every choice in order ("" when it adds none)."""
    return "".join(text for _, text in choice_texts(chunk))


def choice_texts(chunk: Mapping[str, Any]) -> list[tuple[int, str]]:
    """The text a stream chunk adds to each choice, by the choice's index (its place when it has none)."""
    pieces = []
    for place, choice in enumerate(chunk.get("choices") or ()):
        if not isinstance(choice, Mapping):
            continue
        delta = choice.get("delta")
        text = delta.get("content") if isinstance(delta, Mapping) else choice.get("text")
        if isinstance(text, str):
            index = choice.get("index")
            pieces.append((index if type(index) is int else place, text))
    return pieces


def _tool_call(call: Any, warnings: list[str]) -> dict[str, Any]:
    function = call.get("function") if isinstance(call, dict) else None
    function = function if isinstance(function, dict) else {}
    call_id = call.get("id") if isinstance(call, dict) else None
    arguments = function.get("arguments")
    if isinstance(arguments, str):
        try:
            arguments = loads_strict(arguments) if arguments.strip() else {}
        except ValueError as err:  # NotStrictJSON (NaN, 1e999, nested too deeply) says why
            why = f" ({err})" if isinstance(err, NotStrictJSON) else ""
            shown = call_id if isinstance(call_id, str) else "(no id)"
            warnings.append(f"the arguments of tool call {shown} are not valid JSON{why}; kept as text")
    return {"id": call_id, "name": function.get("name"), "arguments": arguments}


def _parse_json(text: str, schema: Any) -> Any:
    fenced = _FENCE.match(text)
    source = fenced.group(1) if fenced else text
    try:
        value = loads_strict(source)
    except ValueError as err:  # NotStrictJSON says NaN, too large or nested too deeply
        raise _invalid(f"The answer is not valid JSON ({err})", text) from None
    if schema is not None:
        try:
            _check_schema(value, schema, text)
        except RecursionError:  # a recursive schema met by a deep answer, on a deep stack
            raise _invalid(
                f"The answer is {NESTED_TOO_DEEPLY} to check against the response schema", text
            ) from None
    return value


# The deadline of the answer being read (shape_answer sets it for the checks below it).
_answer_deadline: ContextVar[float] = ContextVar("tooljet_portkey_answer_deadline", default=0.0)


def _check_schema(value: Any, schema: Any, text: str) -> None:
    from ._schemas import answer_problem

    # the answer's own keys (the model's output, not the user's text) may be shown
    problem = answer_problem(value, schema, _answer_deadline.get())
    if problem is not None:
        raise _invalid(f"The answer does not follow the response schema: {problem}", text)


def _invalid(description: str, text: str) -> QueryError:
    return QueryError(
        INVALID_OUTPUT,
        description,
        {
            "statusCode": None,
            "errorType": "invalid_output",
            "traceId": None,
            "output": text[:MAX_ECHOED_OUTPUT],
        },
    )


def _vectors(data: Any, single: bool) -> Any:
    items = data.get("data") if isinstance(data, dict) else None
    if not isinstance(items, list):
        raise _invalid("Portkey's answer holds no embeddings", "")
    ordered = sorted((item for item in items if isinstance(item, dict)), key=_index)
    vectors = [_vector(item.get("embedding")) for item in ordered]
    if single:
        return vectors[0] if vectors else []
    return vectors


def _index(item: Mapping[str, Any]) -> int:
    index = item.get("index")
    return index if isinstance(index, int) else 0


def _vector(embedding: Any) -> Any:
    """A vector as numbers; a base64 one (``encoding_format: base64``) is little-endian float32."""
    if not isinstance(embedding, str):
        return embedding
    try:
        raw = base64.b64decode(embedding, validate=True)
    except ValueError:
        raise _invalid("Portkey's answer holds an embedding that is not base64", embedding) from None
    if len(raw) % 4:
        raise _invalid("Portkey's answer holds a base64 embedding that is not float32", embedding)
    vector = list(struct.unpack(f"<{len(raw) // 4}f", raw))
    if not all(map(math.isfinite, vector)):  # float32 bits can spell NaN and infinities; JSON cannot
        raise _invalid("Portkey's answer holds a base64 embedding with NaN or an infinity", embedding)
    return vector


# ---------------------------------------------------------------------------------------------------
# List models, prompt render, image generation, feedback

NO_MODELS = "Portkey listed no models for this connection"


def model_ids(data: Any) -> list[str] | None:
    """The model ids of a ``GET /models`` answer, in its order; None when it holds no list."""
    items = data.get("data") if isinstance(data, dict) else None
    if not isinstance(items, list):
        return None
    return [item["id"] for item in items if isinstance(item, dict) and isinstance(item.get("id"), str)]


def _model_list(mode: str, data: Any) -> tuple[Any, dict[str, Any]]:
    """A 200 that lists no model is still an answer (Portkey's list can come back empty), with a warning."""
    ids = model_ids(data)
    extra = {} if ids else {"warning": NO_MODELS}
    if mode == "full":
        return data, extra
    if ids is None:
        raise _invalid("Portkey's answer holds no model list", "")
    return ids, extra


def _rendered(mode: str, data: Any) -> tuple[Any, dict[str, Any]]:
    """``{success, data}``: the request body the saved prompt renders to. ``text`` gives its messages
    (a chat template) or its prompt (a text template); metadata carries the model it names."""
    rendered = data.get("data") if isinstance(data, dict) else None
    extra: dict[str, Any] = {}
    if isinstance(rendered, dict) and isinstance(rendered.get("model"), str):
        extra["model"] = rendered["model"]
    if mode == "full":
        return data, extra
    if isinstance(rendered, dict):
        if isinstance(rendered.get("messages"), list):
            return rendered["messages"], extra
        if isinstance(rendered.get("prompt"), (str, list)):
            return rendered["prompt"], extra
    raise _invalid("Portkey's answer holds no rendered messages or prompt", "")


def _images(mode: str, data: Any) -> tuple[Any, dict[str, Any]]:
    if mode == "full":
        return data, {}
    items = data.get("data") if isinstance(data, dict) else None
    if not isinstance(items, list):
        raise _invalid("Portkey's answer holds no images", "")
    return [_image(item) for item in items], {}


def _image(item: Any) -> str:
    if isinstance(item, dict):
        return image_source(item.get("url"), item.get("b64_json"))
    raise _invalid("Portkey's answer holds an image with neither url nor b64_json", "")


def image_source(url: Any, b64: Any) -> str:
    """An image an app can show, from an answer's ``url`` and ``b64_json``: an ``http:``/``https:``
    URL, or the base64 as a ``data:image/...`` URI. Anything else (``javascript:``, an empty
    ``b64_json``) is an ``invalid_output`` error rather than a value bound to a page."""
    if isinstance(url, str) and url:
        return _image_url(url)
    if isinstance(b64, str) and b64:
        return image_uri(b64)
    if url == "" or b64 == "":
        raise _invalid("Portkey's answer holds an image whose url or b64_json is empty", "")
    raise _invalid("Portkey's answer holds an image with neither url nor b64_json", "")


def _image_url(url: str) -> str:
    try:
        parts = urlsplit(url)
        shown = parts.scheme.lower() in ("http", "https") and bool(parts.hostname)
    except ValueError:  # an unclosed [IPv6 address
        shown = False
    if not shown:
        raise _invalid("Portkey's answer holds an image URL that is not http(s)", url)
    return url


# Image formats by their first bytes; a provider may answer jpeg or webp (gpt-image-1's output_format)
_MAGIC = ((b"\x89PNG\r\n\x1a\n", "image/png"), (b"\xff\xd8\xff", "image/jpeg"), (b"GIF8", "image/gif"))


def image_uri(b64: str) -> str:
    """A base64 image as a ``data:`` URI an ``<img>`` or ToolJet's Image component shows; the type is
    read from the image's first bytes (PNG unless they say JPEG, GIF or WebP). All of it must be
    base64, and not empty: the URI is exactly what a browser will decode."""
    try:
        head = base64.b64decode(b64, validate=True)[:16] if b64 else b""
    except ValueError:
        raise _invalid("Portkey's answer holds an image that is not base64", b64) from None
    if not head:
        raise _invalid("Portkey's answer holds an image whose b64_json is empty", b64)
    mime = next((kind for magic, kind in _MAGIC if head.startswith(magic)), "image/png")
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        mime = "image/webp"
    return f"data:{mime};base64,{b64}"


def _acknowledged(mode: str, data: Any) -> tuple[Any, dict[str, Any]]:
    """Feedback has no output modes: its data is Portkey's answer."""
    return data, {}


def _batch_object(mode: str, data: Any) -> tuple[Any, dict[str, Any]]:
    """A batch (status, cancel): the batch object itself, its status and counts in metadata for a
    progress bar (``_batch_jobs.batch_counts``)."""
    from ._batch_jobs import batch_counts

    return data, batch_counts(data)


_OPERATION_READERS: dict[str, Callable[[str, Any], tuple[Any, dict[str, Any]]]] = {
    "list_models": _model_list,
    "prompt_render": _rendered,
    "image_generation": _images,
    "feedback": _acknowledged,
    "batch_status": _batch_object,
    "batch_cancel": _batch_object,
}
