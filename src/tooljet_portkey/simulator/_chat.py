"""What a chat request asks for beyond text, checked as OpenAI checks it: response formats, tools and
tool choice, content parts and images, tool round trips, and reasoning models' ``max_completion_tokens``.

``chat_plan`` reads a chat body (already checked for model, messages and roles) and says what the
answer is: text, a JSON object, an instance of a JSON Schema, or calls of tools. A request OpenAI would
refuse raises the ``SimError`` that ``bad(message, param)`` makes (400, OpenAI's error shape). The rules
and the deterministic choices are documented in docs/simulator.md. Nothing here does I/O.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ._rules import SimError

__all__ = [
    "IMAGE_TOKENS",
    "ChatPlan",
    "ToolSpec",
    "chat_plan",
    "check_max_tokens_param",
    "image_count",
    "is_reasoning_model",
    "strict_problem",
]

Bad = Callable[..., SimError]

# Prompt tokens an image part counts: OpenAI's cost of one low-detail image.
IMAGE_TOKENS = 85
# The function and response format name rule (OpenAI's): 1 to 64 letters, digits, underscores, dashes.
NAME = re.compile(r"[A-Za-z0-9_-]{1,64}")
USER_PART_TYPES = ("text", "image_url", "input_audio", "file")
# A data URI of an image: data:image/png;base64,<data>
DATA_IMAGE = re.compile(r"data:image/[A-Za-z0-9.+-]+;base64,[A-Za-z0-9+/=\s]+", re.DOTALL)
# OpenAI's reasoning models (o1, o3, o4 and their variants, every gpt-5), which refuse max_tokens.
REASONING_MODEL = re.compile(r"(?:o[134](?:$|-)|gpt-5)", re.IGNORECASE)
# json_object needs the word JSON somewhere in the messages (OpenAI's rule).
JSON_WORD = re.compile("json", re.IGNORECASE)


@dataclass(frozen=True)
class ToolSpec:
    """A function tool: its name and the JSON Schema of its arguments."""

    name: str
    parameters: Any = field(default_factory=dict)


@dataclass(frozen=True)
class ChatPlan:
    """What the answer holds: ``text``, ``json_object``, ``json_schema`` (an instance of ``schema``) or
    ``tools`` (calls of ``calls``, in order)."""

    kind: str = "text"
    schema: Any = None
    calls: tuple[ToolSpec, ...] = ()


def is_reasoning_model(model: str) -> bool:
    """o1, o3, o4 (with variants such as o3-mini, o4-mini-2025-04-16) and gpt-5 models (the model name,
    without a Model Catalog ``@slug/`` prefix)."""
    return REASONING_MODEL.match(model) is not None


def check_max_tokens_param(model: str, body: Mapping[str, Any], bad: Bad) -> None:
    """Reasoning models refuse ``max_tokens`` and want ``max_completion_tokens`` (OpenAI's answer)."""
    if is_reasoning_model(model) and body.get("max_tokens") is not None:
        raise bad(
            "Unsupported parameter: 'max_tokens' is not supported with this model. "
            "Use 'max_completion_tokens' instead.",
            "max_tokens",
            code="unsupported_parameter",
        )


def image_count(messages: Sequence[Any]) -> int:
    """The image parts of every message (counted into prompt tokens)."""
    return sum(
        1
        for message in messages
        if isinstance(message, Mapping) and isinstance(message.get("content"), list)
        for part in message["content"]
        if isinstance(part, Mapping) and part.get("type") == "image_url"
    )


def chat_plan(body: Mapping[str, Any], bad: Bad) -> ChatPlan:
    """Check the chat features of ``body`` and decide what the answer holds."""
    messages = body["messages"]
    _check_messages(messages, bad)
    tools = _tools(body, bad)
    choice = _tool_choice(body.get("tool_choice"), tools, bad)
    response_format = _response_format(body.get("response_format"), messages, bad)
    parallel = body.get("parallel_tool_calls", True)
    if not isinstance(parallel, bool):
        raise bad("Invalid 'parallel_tool_calls': expected a boolean.", "parallel_tool_calls")
    calls = _calls(choice, tools, messages, parallel)
    if calls:
        return ChatPlan("tools", calls=calls)
    return response_format


# -- messages --------------------------------------------------------------------------------------


def _check_messages(messages: Sequence[Any], bad: Bad) -> None:
    open_calls: list[str] = []  # ids of the last assistant message's tool calls not yet answered
    for i, message in enumerate(messages):
        role = message["role"]
        content = message.get("content")
        where = f"messages[{i}]"
        if open_calls and role != "tool":
            raise bad(
                "An assistant message with 'tool_calls' must be followed by tool messages responding to "
                f"each 'tool_call_id'. The following tool_call_ids did not have response messages: "
                f"{', '.join(open_calls)}",
                f"{where}.role",
            )
        if role == "user":
            _check_user_content(content, where, bad)
        elif role in ("system", "developer"):
            _check_text_content(content, where, bad, required=True)
        elif role == "assistant":
            calls = message.get("tool_calls")
            if calls is not None:
                open_calls = _tool_call_ids(calls, where, bad)
            if content is not None:
                _check_text_content(content, where, bad, required=False, refusal=True)
            elif not calls:
                raise bad(f"Invalid '{where}': an assistant message needs 'content' or 'tool_calls'.", where)
        elif role == "tool":
            call_id = message.get("tool_call_id")
            if not isinstance(call_id, str) or not call_id:
                raise bad(f"Missing required parameter: '{where}.tool_call_id'.", f"{where}.tool_call_id")
            if call_id not in open_calls:
                raise bad(
                    "Invalid parameter: messages with role 'tool' must be a response to a preceding "
                    "message with 'tool_calls'.",
                    f"{where}.role",
                )
            open_calls.remove(call_id)
            _check_text_content(content, where, bad, required=True)
    if open_calls:
        raise bad(
            "An assistant message with 'tool_calls' must be followed by tool messages responding to each "
            f"'tool_call_id'. The following tool_call_ids did not have response messages: "
            f"{', '.join(open_calls)}",
            "messages",
        )


def _tool_call_ids(calls: Any, where: str, bad: Bad) -> list[str]:
    if not isinstance(calls, list) or not calls:
        raise bad(f"Invalid '{where}.tool_calls': expected a non-empty array.", f"{where}.tool_calls")
    ids: list[str] = []
    for j, call in enumerate(calls):
        at = f"{where}.tool_calls[{j}]"
        function = call.get("function") if isinstance(call, Mapping) else None
        if (
            not isinstance(call, Mapping)
            or not isinstance(call.get("id"), str)
            or call.get("type") != "function"
            or not isinstance(function, Mapping)
            or not isinstance(function.get("name"), str)
            or not isinstance(function.get("arguments"), str)
        ):
            raise bad(
                f"Invalid '{at}': expected {{id, type: 'function', function: {{name, arguments}}}} "
                "with text values.",
                at,
            )
        ids.append(call["id"])
    return ids


def _check_text_content(content: Any, where: str, bad: Bad, required: bool, refusal: bool = False) -> None:
    """Text, or a non-empty list of text parts (system, developer and tool messages; assistant messages
    may also hold refusal parts)."""
    if isinstance(content, str):
        return
    if content is None and required:
        raise bad(f"Missing required parameter: '{where}.content'.", f"{where}.content")
    if not isinstance(content, list) or not content:
        raise bad(
            f"Invalid '{where}.content': expected a string or a non-empty array of text parts.",
            f"{where}.content",
        )
    for j, part in enumerate(content):
        kind = part.get("type") if isinstance(part, Mapping) else None
        ok = (kind == "text" and isinstance(part.get("text"), str)) or (
            refusal and kind == "refusal" and isinstance(part.get("refusal"), str)
        )
        if not ok:
            raise bad(
                f"Invalid '{where}.content[{j}]': expected a text part {{type: 'text', text}}.",
                f"{where}.content[{j}]",
            )


def _check_user_content(content: Any, where: str, bad: Bad) -> None:
    if isinstance(content, str):
        return
    if not isinstance(content, list) or not content:
        raise bad(
            f"Invalid '{where}.content': expected a string or a non-empty array of content parts.",
            f"{where}.content",
        )
    for j, part in enumerate(content):
        at = f"{where}.content[{j}]"
        kind = part.get("type") if isinstance(part, Mapping) else None
        if kind not in USER_PART_TYPES:
            supported = ", ".join(f"'{t}'" for t in USER_PART_TYPES)
            raise bad(f"Invalid value: {kind!r}. Supported values are: {supported}.", f"{at}.type")
        if kind == "text" and not isinstance(part.get("text"), str):
            raise bad(f"Missing required parameter: '{at}.text'.", f"{at}.text")
        if kind == "image_url":
            image = part.get("image_url")
            url = image.get("url") if isinstance(image, Mapping) else None
            if not isinstance(url, str) or not _image_url(url):
                raise bad(
                    f"Invalid image URL: '{at}.image_url.url'. Expected an http(s) URL, or a base64 data "
                    "URL with an image MIME type (data:image/png;base64,...).",
                    f"{at}.image_url.url",
                )
            detail = image.get("detail", "auto") if isinstance(image, Mapping) else None
            if detail not in ("auto", "low", "high"):
                raise bad(
                    f"Invalid value: {detail!r}. Supported values are: 'auto', 'low' and 'high'.",
                    f"{at}.image_url.detail",
                )


def _image_url(url: str) -> bool:
    lowered = url[:8].lower()
    if lowered.startswith(("http://", "https://")):
        return len(url) > len("https://") and " " not in url
    return DATA_IMAGE.fullmatch(url) is not None


# -- response_format -------------------------------------------------------------------------------


def _response_format(value: Any, messages: Sequence[Any], bad: Bad) -> ChatPlan:
    if value is None:
        return ChatPlan()
    if not isinstance(value, Mapping):
        raise bad("Invalid type for 'response_format': expected an object.", "response_format")
    kind = value.get("type")
    if kind == "text":
        return ChatPlan()
    if kind == "json_object":
        if not any(JSON_WORD.search(text) for text in _texts(messages)):
            raise bad(
                "'messages' must contain the word 'json' in some form, to use 'response_format' of type "
                "'json_object'.",
                "messages",
            )
        return ChatPlan("json_object")
    if kind != "json_schema":
        raise bad(
            f"Invalid value: {kind!r}. Supported values are: 'text', 'json_object' and 'json_schema'.",
            "response_format.type",
        )
    spec = value.get("json_schema")
    if not isinstance(spec, Mapping):
        raise bad("Missing required parameter: 'response_format.json_schema'.", "response_format.json_schema")
    name = spec.get("name")
    if not isinstance(name, str) or not NAME.fullmatch(name):
        raise bad(
            "Invalid 'response_format.json_schema.name': expected 1 to 64 letters, digits, '_' or '-'.",
            "response_format.json_schema.name",
        )
    schema = spec.get("schema", {})
    problem = _schema_problem(schema)
    if problem is None and spec.get("strict") is True:
        problem = strict_problem(schema)
    if problem is not None:
        raise bad(f"Invalid schema for response_format '{name}': {problem}", "response_format")
    return ChatPlan("json_schema", schema=schema)


def _texts(messages: Sequence[Any]) -> list[str]:
    found: list[str] = []
    for message in messages:
        content = message.get("content")
        if isinstance(content, str):
            found.append(content)
        elif isinstance(content, list):
            found.extend(
                p["text"] for p in content if isinstance(p, Mapping) and isinstance(p.get("text"), str)
            )
    return found


# Schemas found acceptable, by their JSON text: a table run sends the same schema with every row, and
# checking it costs milliseconds each time.
_accepted_schemas: dict[str, None] = {}


def _schema_problem(schema: Any) -> str | None:
    """Why the schema is refused (invalid, or a reference that leaves it: nothing is fetched), or None."""
    import json

    from .._constants import MAX_CHECKED_SCHEMAS
    from .._schemas import SchemaProblem, check_user_schema
    from ._instances import meta_schema_error

    if not isinstance(schema, dict):
        return "the schema must be a JSON object."
    text = json.dumps(schema, sort_keys=True, default=str)
    if text in _accepted_schemas:
        return None
    error = meta_schema_error(schema)
    if error is not None:
        return f"not a valid JSON Schema ({error[:200]})."
    try:
        check_user_schema(schema)
    except SchemaProblem as err:
        return f"{err}."
    if len(_accepted_schemas) >= MAX_CHECKED_SCHEMAS:
        _accepted_schemas.clear()
    _accepted_schemas[text] = None
    return None


def strict_problem(schema: Mapping[str, Any]) -> str | None:
    """Why strict mode refuses ``schema`` (OpenAI's rules: an object at the root, and in every object
    ``additionalProperties: false`` and every property required), or None."""
    if schema.get("type") != "object" or "anyOf" in schema:
        return "in context=(), the schema must be of type 'object' and not use 'anyOf' at the root."
    return _strict_walk(schema, ())


def _strict_walk(schema: Any, context: tuple[str, ...]) -> str | None:
    if not isinstance(schema, Mapping):
        return None
    types = schema.get("type")
    is_object = types == "object" or (isinstance(types, list) and "object" in types) or "properties" in schema
    if is_object:
        if schema.get("additionalProperties") is not False:
            return f"in context={context}, 'additionalProperties' must be given and be false (strict mode)."
        properties = schema.get("properties") or {}
        missing = [name for name in properties if name not in (schema.get("required") or ())]
        if missing:
            return (
                f"in context={context}, 'required' must list every key in 'properties' (strict mode). "
                f"Missing {missing[0]!r}."
            )
    for key in ("properties", "$defs", "definitions"):
        for name, sub in (schema.get(key) or {}).items():
            found = _strict_walk(sub, (*context, key, name))
            if found:
                return found
    for key in ("items",):
        found = _strict_walk(schema.get(key), (*context, key))
        if found:
            return found
    for key in ("anyOf", "prefixItems", "allOf"):
        for i, sub in enumerate(schema.get(key) or ()):
            found = _strict_walk(sub, (*context, key, str(i)))
            if found:
                return found
    return None


# -- tools -----------------------------------------------------------------------------------------


def _tools(body: Mapping[str, Any], bad: Bad) -> tuple[ToolSpec, ...]:
    raw = body.get("tools")
    if raw is None:
        return ()
    if not isinstance(raw, list) or not raw:
        raise bad("Invalid 'tools': expected a non-empty array of tools.", "tools")
    specs: list[ToolSpec] = []
    for i, tool in enumerate(raw):
        at = f"tools[{i}]"
        function = tool.get("function") if isinstance(tool, Mapping) else None
        if (
            not isinstance(tool, Mapping)
            or tool.get("type") != "function"
            or not isinstance(function, Mapping)
        ):
            raise bad(f"Invalid '{at}': expected {{type: 'function', function: {{name, ...}}}}.", at)
        name = function.get("name")
        if not isinstance(name, str) or not NAME.fullmatch(name):
            raise bad(
                f"Invalid '{at}.function.name': expected 1 to 64 letters, digits, '_' or '-'.",
                f"{at}.function.name",
            )
        parameters = function.get("parameters", {"type": "object", "properties": {}})
        problem = _schema_problem(parameters)
        if problem is None and function.get("strict") is True:
            problem = strict_problem(parameters)
        if problem is not None:
            raise bad(f"Invalid schema for function '{name}': {problem}", f"{at}.function.parameters")
        specs.append(ToolSpec(name, parameters))
    return tuple(specs)


def _tool_choice(choice: Any, tools: tuple[ToolSpec, ...], bad: Bad) -> Any:
    """``none``, ``auto``, ``required``, or the ToolSpec a named choice names. Without tools only
    ``none`` (or nothing) is accepted."""
    if choice is None:
        return "auto" if tools else "none"
    if not tools and choice != "none":
        raise bad(
            "Invalid value for 'tool_choice': 'tool_choice' is only allowed when 'tools' are specified.",
            "tool_choice",
        )
    if choice in ("none", "auto", "required"):
        return choice
    function = choice.get("function") if isinstance(choice, Mapping) else None
    if (
        not isinstance(choice, Mapping)
        or choice.get("type") != "function"
        or not isinstance(function, Mapping)
    ):
        raise bad(
            "Invalid 'tool_choice': expected 'none', 'auto', 'required' or "
            "{type: 'function', function: {name}}.",
            "tool_choice",
        )
    for tool in tools:
        if tool.name == function.get("name"):
            return tool
    raise bad(f"Invalid 'tool_choice': no tool named {function.get('name')!r} in 'tools'.", "tool_choice")


def _calls(
    choice: Any, tools: tuple[ToolSpec, ...], messages: Sequence[Any], parallel: bool
) -> tuple[ToolSpec, ...]:
    """Which tools the answer calls: the named one; for ``required``, the tools the last user message
    names (the first tool when it names none); for ``auto``, the tools the last message names when it is
    the user's, else none. Without ``parallel_tool_calls`` only the first is called."""
    if isinstance(choice, ToolSpec):
        return (choice,)
    if choice == "none":
        return ()
    last_user = next((m for m in reversed(messages) if m["role"] == "user"), None)
    named = _named(tools, last_user)
    if choice == "required":
        named = named or tools[:1]
    elif messages[-1]["role"] != "user":  # auto after a tool result: answer in text
        named = ()
    return named[:1] if not parallel else named


def _named(tools: tuple[ToolSpec, ...], message: Mapping[str, Any] | None) -> tuple[ToolSpec, ...]:
    if message is None:
        return ()
    text = "\n".join(_texts([message])).lower()
    return tuple(
        tool
        for tool in tools
        if re.search(rf"(?<![A-Za-z0-9_-]){re.escape(tool.name.lower())}(?![A-Za-z0-9_-])", text)
    )
