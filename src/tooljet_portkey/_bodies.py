"""Each operation's request body from its validated fields: what goes on the wire as JSON. Pure, no I/O.

``BUILDERS`` holds the path and body of the operations ``_requests.build_request`` sends with the
connection's headers (chat, completion, prompt completion, embeddings), ``BODY_FIELDS`` the fields each
reads; image generation's and prompt render's are here too. A table row's or a batch line's query is
the form's fields with the row's laid over them (``row_params``), its body the one its operation builds
(``row_body``). Below both ``_requests`` (a query's request, a table row's) and ``_batch_jobs`` (a batch
line's body).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

from ._operations import operation, operation_path
from ._spec import check_json_schema, invalid_option, load_spec

__all__ = [
    "BODY_FIELDS",
    "BUILDERS",
    "IMAGE_FIELDS",
    "chat_messages",
    "image_generation_body",
    "prompt_render_body",
    "response_schema",
    "row_body",
    "row_params",
    "row_path_and_body",
    "uses_max_completion_tokens",
]


# ---------------------------------------------------------------------------------------------------
# The operations build_request sends with the connection's headers: chat, completion, prompt
# completion, embeddings


def _merge(form: dict[str, Any], extra: Mapping[str, Any] | None) -> dict[str, Any]:
    """other_parameters first, then the form's own fields on top: the form always wins."""
    return {**extra, **form} if extra else form


def _completion(params: Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
    form = {"model": params["model"], "prompt": params["prompt"]}
    _copy_sampling(params, form)
    return operation("completion").path, _merge(form, params.get("other_parameters"))


def _chat(params: Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
    form: dict[str, Any] = {"model": params["model"], "messages": chat_messages(params)}
    _copy_sampling(params, form)
    if uses_max_completion_tokens(params["model"]) and "max_tokens" in form:
        form["max_completion_tokens"] = form.pop("max_tokens")
    response_format = _response_format(params.get("response_format"))
    if response_format is not None:
        form["response_format"] = response_format
    if "tools" in params:
        form["tools"] = _tools(params["tools"])
    if "tool_choice" in params:
        form["tool_choice"] = _tool_choice(params["tool_choice"], form.get("tools"))
    return operation("chat").path, _merge(form, params.get("other_parameters"))


def _copy_sampling(params: Mapping[str, Any], form: dict[str, Any]) -> None:
    for key in ("max_tokens", "temperature"):
        if key in params:
            form[key] = params[key]
    if "stop_sequences" in params:
        form["stop"] = params["stop_sequences"]


# OpenAI's reasoning models refuse max_tokens and want max_completion_tokens; Portkey passes either
# through unchanged for OpenAI. o1, o3 and o4 with their variants (o1-mini, o3-pro, o4-mini-2025-04-16),
# and every gpt-5 model, with or without a Model Catalog "@slug/" prefix.
_REASONING_MODEL = re.compile(r"^(?:@[^/]+/)?(?:o[134](?:$|-)|gpt-5)", re.IGNORECASE)


def uses_max_completion_tokens(model: str) -> bool:
    """Whether chat's Max Tokens goes out as ``max_completion_tokens`` for this model."""
    return _REASONING_MODEL.match(model) is not None


# ---------------------------------------------------------------------------------------------------
# Chat messages: [system_prompt] + history + [prompt], or the messages given, with images attached

_HISTORY_ROLES = {"message": "user", "response": "assistant"}  # ToolJet Chat component types


def chat_messages(params: Mapping[str, Any]) -> list[Any]:
    """The messages a chat query sends. Exactly one of ``messages`` and ``prompt`` is given."""
    has_messages, has_prompt = "messages" in params, "prompt" in params
    if has_messages and has_prompt:
        raise invalid_option("messages", "give either messages or prompt, not both")
    if not (has_messages or has_prompt):
        raise invalid_option("prompt", "is required (or give messages)")
    if has_messages:
        if "message_history" in params:
            raise invalid_option("message_history", "goes with prompt, not with messages")
        messages = list(params["messages"])
    else:
        prompt = {"role": "user", "content": params["prompt"]}
        history = _history(params.get("message_history", ()))
        if history and _is_prompt(history[-1], params["prompt"]):
            history.pop()  # the Chat component adds the new message to its history before the query runs
        messages = [*history, prompt]
    if "system_prompt" in params:
        messages.insert(0, {"role": "system", "content": params["system_prompt"]})
    if "images" in params:
        messages = _with_images(messages, params["images"])
    return messages


def _history(items: Any) -> list[Any]:
    """History items in OpenAI form pass as they are; ToolJet Chat component items ``{message, type}``
    become user (``message``) and assistant (``response``) messages; ``error`` items (and empty
    messages) are skipped, as the Chat component shows them but they were never part of the
    conversation. The schema (``historyItem``) has refused every other shape, naming the item."""
    messages = []
    for item in items:
        if "role" in item:
            messages.append(item)
            continue
        role = _HISTORY_ROLES.get(item["type"])
        text = item["message"]
        if role is not None and text:
            messages.append({"role": role, "content": text})
    return messages


def _is_prompt(message: Any, prompt: str) -> bool:
    """Whether a history message is the prompt itself: a user message of the same text."""
    return bool(message.get("role") == "user" and message.get("content") == prompt)


def _with_images(messages: list[Any], images: Any) -> list[Any]:
    urls = [images] if isinstance(images, str) else list(images)
    for index in range(len(messages) - 1, -1, -1):
        message = messages[index]
        if isinstance(message, dict) and message.get("role") == "user":
            break
    else:
        raise invalid_option("images", "needs a user message to add the images to")
    content = message.get("content")
    parts = [{"type": "text", "text": content}] if isinstance(content, str) else list(content or ())
    parts.extend({"type": "image_url", "image_url": {"url": url}} for url in urls)
    messages = list(messages)
    messages[index] = {**message, "content": parts}
    return messages


def _response_format(value: Any) -> dict[str, Any] | None:
    """text: nothing is sent; json_object; a full response_format passed as is; any other object is
    a JSON Schema for a strict json_schema response format."""
    if value is None or value == "text":
        return None
    if value == "json_object":
        return {"type": "json_object"}
    kind = value.get("type")
    if kind in ("text", "json_object"):
        return dict(value)
    if kind == "json_schema":
        inner = value.get("json_schema")
        if not isinstance(inner, dict) or not isinstance(inner.get("schema"), dict):
            raise invalid_option("response_format", "a json_schema response format needs json_schema.schema")
        check_json_schema("response_format", inner["schema"])
        return dict(value)
    check_json_schema("response_format", value)
    return {"type": "json_schema", "json_schema": {"name": "response", "schema": value, "strict": True}}


def response_schema(params: Mapping[str, Any]) -> Any:
    """The JSON Schema the answer must follow, when the query's response format gives one."""
    value = params.get("response_format")
    if value is None and params.get("output") == "json":
        return _prompt_response_schema(params.get("prompt_parameters"))
    if not isinstance(value, dict) or value.get("type") in ("text", "json_object"):
        return None
    if value.get("type") == "json_schema":
        return value["json_schema"]["schema"]
    return value


def _prompt_response_schema(prompt_parameters: Any) -> Any:
    """The schema a saved prompt's json answer must follow: a ``json_schema`` response format in its
    ``prompt_parameters`` (OpenAI's shape), checked as chat's is; None without one."""
    value = prompt_parameters.get("response_format") if isinstance(prompt_parameters, dict) else None
    inner = (
        value.get("json_schema") if isinstance(value, dict) and value.get("type") == "json_schema" else None
    )
    schema = inner.get("schema") if isinstance(inner, dict) else None
    if not isinstance(schema, dict):
        return None
    check_json_schema("prompt_parameters", schema, ".response_format.json_schema.schema")
    return schema


def _tools(tools: list[Any]) -> list[Any]:
    names: set[str] = set()
    for index, tool in enumerate(tools):
        function = tool["function"]
        if function["name"] in names:
            raise invalid_option("tools", f"{function['name']} is given twice", f"[{index}].function.name")
        names.add(function["name"])
        if "parameters" in function:
            check_json_schema("tools", function["parameters"], f"[{index}].function.parameters")
    return tools


def _tool_choice(choice: str, tools: list[Any] | None) -> Any:
    if choice in ("auto", "none", "required"):
        return choice
    names = [tool["function"]["name"] for tool in tools or ()]
    if choice not in names:
        known = ", ".join(names) if names else "none given"
        raise invalid_option("tool_choice", f"names no tool in tools (tools: {known})")
    return {"type": "function", "function": {"name": choice}}


def _prompt_completion(params: Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
    # "pp-abc@12" keeps its "@version"; the schema already refuses "/", "?", "#", "%" and "..".
    path = operation_path("prompt_completion", params, safe="@")
    form = {"variables": params["variables"]} if "variables" in params else {}
    body = _merge(form, params.get("prompt_parameters"))
    body.setdefault("variables", {})
    return path, body


def _create_embedding(params: Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
    form = {"model": params["model"], "input": params["input"]}
    return operation("create_embedding").path, _merge(form, params.get("other_parameters"))


# ---------------------------------------------------------------------------------------------------
# Bodies of operations whose whole request is built by a function of their own (_requests.py)


def prompt_render_body(params: Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
    """The body a prompt completion would send, to ``/render``; a render never streams."""
    _, body = _prompt_completion(params)
    body.pop("stream", None)
    return operation_path("prompt_render", params, safe="@"), body


IMAGE_FIELDS = ("model", "n", "size", "quality", "style", "response_format")


def image_generation_body(params: Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
    form: dict[str, Any] = {"prompt": params["prompt"]}
    form.update((key, params[key]) for key in IMAGE_FIELDS if key in params)
    body = _merge(form, params.get("other_parameters"))
    body.pop("stream", None)  # the answer is read as one JSON body
    return operation("image_generation").path, body


# ---------------------------------------------------------------------------------------------------
# The builders: a test holds operations.json to the fields each reads

BUILDERS: dict[str, Callable[[Mapping[str, Any]], tuple[str, dict[str, Any]]]] = {
    "completion": _completion,
    "chat": _chat,
    "prompt_completion": _prompt_completion,
    "create_embedding": _create_embedding,
}

# The form fields each builder reads (plus the header fields): a test holds operations.json to this.
BODY_FIELDS = {
    "completion": {"prompt", "model", "max_tokens", "temperature", "stop_sequences",
                   "other_parameters", "stream"},
    "chat": {"messages", "model", "max_tokens", "temperature", "stop_sequences",
             "other_parameters", "stream", "system_prompt", "prompt", "message_history",
             "response_format", "tools", "tool_choice", "images"},
    "prompt_completion": {"promptId", "variables", "prompt_parameters", "stream"},
    "create_embedding": {"input", "model", "other_parameters"},
}  # fmt: skip


# ---------------------------------------------------------------------------------------------------
# A table row's or a batch line's query: the row's fields laid over the form's

# A row's field that replaces others of the form besides its own: the messages given whole, or a prompt
_DISPLACES = {"messages": ("prompt", "message_history"), "prompt": ("messages",)}


def row_params(form: Mapping[str, Any], row: Mapping[str, Any]) -> dict[str, Any]:
    """The query of one row: the row's fields laid over the form's (the row's win). A row's
    ``messages`` replaces the form's ``prompt`` and ``message_history``; a row's ``prompt``, the form's
    ``messages``: each is the whole of what the row asks."""
    merged = dict(form)
    for key in row:
        for displaced in _DISPLACES.get(key, ()):
            merged.pop(displaced, None)
    merged.update(row)
    return merged


def row_path_and_body(operation: str, params: Mapping[str, Any]) -> tuple[str, dict[str, Any]]:
    """The path and body of one row's query; a required field that neither the row nor the form gives
    is named as the form names it."""
    for f in load_spec().operations[operation]:
        if f.required and f.key not in params:
            raise invalid_option(f.key, "is required")
    return BUILDERS[operation](params)


def row_body(operation: str, params: Mapping[str, Any]) -> dict[str, Any]:
    """The body of one row's query (a batch line's), required fields checked as a table run's are."""
    return row_path_and_body(operation, params)[1]
