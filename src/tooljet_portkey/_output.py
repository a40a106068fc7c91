"""What ``run()`` returns as ``data``: Portkey's whole answer, or the part an app binds. Pure, no I/O.

The query's ``output`` field picks the mode:

- ``full`` (the default): Portkey's JSON as it came;
- ``text``: the answer's text, a string; a list of strings when the answer has several choices;
- ``json``: that text parsed as JSON, and checked against the response format's schema when one was
  given (an answer that is not is an ``invalid_output`` QueryError);
- ``vectors`` (embeddings): one vector for one input, else a list of vectors in input order;
- ``text`` of list models: the model ids; of prompt render: the rendered messages (a chat template) or
  prompt (a text template);
- ``images`` (image generation): the image URLs, base64 images as ``data:`` URIs.

List models says in ``metadata.warning`` when Portkey listed no model, whatever the mode.

An answer that only calls tools gives, in ``text`` and ``json`` modes, ``[{id, name, arguments}]`` with
the arguments parsed from JSON. Whatever the mode, ``answer_metadata`` reads the answer's usage, model
and (for a single choice) finish reason for the result's ``metadata``.
"""

from __future__ import annotations

import base64
import json
import re
import struct
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from ._constants import MAX_ECHOED_OUTPUT
from ._errors import QueryError

__all__ = [
    "AnswerShape",
    "answer_metadata",
    "answer_shape",
    "chunk_text",
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
    # set for the operations whose answers have readers of their own (list models, prompt render,
    # image generation, feedback)
    operation: str = ""


def answer_shape(operation: str, params: Mapping[str, Any], schema: Any = None) -> AnswerShape:
    """The shape a validated query asks for."""
    mode = params.get("output", "full")
    single = False
    if operation == "create_embedding":
        given = params.get("input")
        single = isinstance(given, str) or (isinstance(given, list) and all(type(t) is int for t in given))
    return AnswerShape(mode, schema, single)


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


def shape_answer(shape: AnswerShape, data: Any) -> tuple[Any, dict[str, Any]]:
    """``data`` for the query's output mode, and what to add to its metadata (a warning)."""
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
    pieces = []
    for choice in chunk.get("choices") or ():
        if not isinstance(choice, Mapping):
            continue
        delta = choice.get("delta")
        text = delta.get("content") if isinstance(delta, Mapping) else choice.get("text")
        if isinstance(text, str):
            pieces.append(text)
    return "".join(pieces)


def _tool_call(call: Any, warnings: list[str]) -> dict[str, Any]:
    function = call.get("function") if isinstance(call, dict) else None
    function = function if isinstance(function, dict) else {}
    call_id = call.get("id") if isinstance(call, dict) else None
    arguments = function.get("arguments")
    if isinstance(arguments, str):
        try:
            arguments = json.loads(arguments) if arguments.strip() else {}
        except ValueError:
            warnings.append(f"the arguments of tool call {call_id} are not valid JSON; kept as text")
    return {"id": call_id, "name": function.get("name"), "arguments": arguments}


def _parse_json(text: str, schema: Any) -> Any:
    fenced = _FENCE.match(text)
    source = fenced.group(1) if fenced else text
    try:
        value = json.loads(source)
    except (ValueError, RecursionError) as err:
        problem = str(err) if isinstance(err, ValueError) else "nested too deeply"
        raise _invalid(f"The answer is not valid JSON ({problem})", text) from None
    if schema is not None:
        _check_schema(value, schema, text)
    return value


def _check_schema(value: Any, schema: Any, text: str) -> None:
    from jsonschema.exceptions import best_match
    from jsonschema.validators import validator_for

    from ._spec import describe_error

    error = best_match(validator_for(schema)(schema).iter_errors(value))
    if error is not None:
        # the answer's own keys (the model's output, not the user's text) may be shown
        where = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in error.absolute_path)
        where = where.lstrip(".") or "(the answer)"
        problem = f"{where}: {describe_error(error)}"
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
    return list(struct.unpack(f"<{len(raw) // 4}f", raw))


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
        if isinstance(item.get("url"), str):
            return str(item["url"])
        if isinstance(item.get("b64_json"), str):
            return image_uri(item["b64_json"])
    raise _invalid("Portkey's answer holds an image with neither url nor b64_json", "")


# Image formats by their first bytes; a provider may answer jpeg or webp (gpt-image-1's output_format)
_MAGIC = ((b"\x89PNG\r\n\x1a\n", "image/png"), (b"\xff\xd8\xff", "image/jpeg"), (b"GIF8", "image/gif"))


def image_uri(b64: str) -> str:
    """A base64 image as a ``data:`` URI an ``<img>`` or ToolJet's Image component shows; the type is
    read from the image's first bytes (PNG unless they say JPEG, GIF or WebP)."""
    try:
        head = base64.b64decode(b64[:16], validate=True)
    except ValueError:
        raise _invalid("Portkey's answer holds an image that is not base64", b64) from None
    mime = next((kind for magic, kind in _MAGIC if head.startswith(magic)), "image/png")
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        mime = "image/webp"
    return f"data:{mime};base64,{b64}"


def _acknowledged(mode: str, data: Any) -> tuple[Any, dict[str, Any]]:
    """Feedback has no output modes: its data is Portkey's answer."""
    return data, {}


_OPERATION_READERS: dict[str, Callable[[str, Any], tuple[Any, dict[str, Any]]]] = {
    "list_models": _model_list,
    "prompt_render": _rendered,
    "image_generation": _images,
    "feedback": _acknowledged,
}
