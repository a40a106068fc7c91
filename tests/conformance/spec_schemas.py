"""Validators for Portkey's request and response schemas, from the trimmed copy in portkey_schemas.json.

    from spec_schemas import assert_valid, chunk_validator, request_validator, response_validator
    from spec_schemas import query_validator, security_problem, typed_query

    assert_valid(request_validator("/chat/completions"), body)
    assert security_problem("/chat/completions", headers, body) is None
    assert_valid(response_validator("/embeddings"), answer)
    assert_valid(chunk_validator("/chat/completions"), chunk)
    assert_valid(query_validator("/models"), typed_query("/models", {"limit": "5"}))

Paths are the spec's own (``/prompts/{promptId}/completions``, ``/models/{model}``), without ``/v1``.
The trimmed file is OpenAPI 3.0; on load each schema becomes JSON Schema 2020-12:

- ``nullable: true`` adds ``"null"`` to ``type`` when ``type`` is given, and does nothing otherwise; an
  ``enum`` keeps its values, so a nullable enum without ``null`` in it still refuses null (OpenAPI 3.0.3
  says so explicitly);
- a ``$ref`` replaces the object holding it (OpenAPI 3.0 ignores the siblings of ``$ref``);
- boolean ``exclusiveMinimum``/``exclusiveMaximum`` become the numeric form.

Then, unless ``corrected=False``, the ``CORRECTIONS`` below are applied: the places where the spec
disagrees with what Portkey and OpenAI really send, each with the reason. ``corrected=False`` gives the
spec as written, so a test can show that each correction is needed.

A GET's query parameters become one object schema at ``/paths/<path>/get/query`` (each parameter a
property, ``required`` as declared, no other key); ``typed_query`` reads the text of a URL's query as the
types the parameters declare (``"5"`` is 5 for an integer), so a value that is not one stays text and fails.

``security_problem`` checks a request's headers against the operation's security requirements (one of
its alternatives must be met in full); ``MODEL_CATALOG`` is the one correction there.
"""

from __future__ import annotations

import copy
import functools
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

__all__ = [
    "CORRECTIONS",
    "MODEL_CATALOG",
    "SCHEMAS_FILE",
    "Correction",
    "assert_valid",
    "chunk_validator",
    "component_validator",
    "document",
    "problems",
    "query_validator",
    "request_validator",
    "response_validator",
    "security_problem",
    "to_json_schema",
    "typed_query",
]

SCHEMAS_FILE = Path(__file__).resolve().with_name("portkey_schemas.json")
BASE_URI = "urn:tooljet-portkey:portkey-openapi-trimmed"

_SCHEMA_MAPS = frozenset({"properties", "patternProperties"})
_SCHEMA_VALUES = frozenset({"items", "additionalProperties", "not"})
_SCHEMA_LISTS = frozenset({"allOf", "anyOf", "oneOf"})


def to_json_schema(schema: Any) -> Any:
    """One OpenAPI 3.0 schema object as JSON Schema 2020-12 (see the module docstring)."""
    if not isinstance(schema, dict):
        return schema
    if "$ref" in schema:
        return {"$ref": schema["$ref"]}
    converted: dict[str, Any] = {}
    for key, value in schema.items():
        if key in _SCHEMA_MAPS and isinstance(value, dict):
            converted[key] = {name: to_json_schema(sub) for name, sub in value.items()}
        elif key in _SCHEMA_VALUES and isinstance(value, dict):
            converted[key] = to_json_schema(value)
        elif key in _SCHEMA_LISTS and isinstance(value, list):
            converted[key] = [to_json_schema(sub) for sub in value]
        else:
            converted[key] = value
    if converted.pop("nullable", False) is True and isinstance(converted.get("type"), str):
        converted["type"] = [converted["type"], "null"]
    for bound, limit in (("exclusiveMinimum", "minimum"), ("exclusiveMaximum", "maximum")):
        # draft 4's boolean form: pop it, and when true the limit itself becomes exclusive
        if isinstance(converted.get(bound), bool) and converted.pop(bound) and limit in converted:
            converted[bound] = converted.pop(limit)
    return converted


def _escape(path: str) -> str:
    """A spec path as one JSON Pointer token (``/chat/completions`` -> ``~1chat~1completions``)."""
    return path.replace("~", "~0").replace("/", "~1")


def _at(doc: dict[str, Any], pointer: str) -> Any:
    node: Any = doc
    for token in pointer.lstrip("/").split("/"):
        node = node[token.replace("~1", "/").replace("~0", "~")]
    return node


def _put(doc: dict[str, Any], pointer: str, value: Any) -> None:
    parent, _, last = pointer.rpartition("/")
    _at(doc, parent)[last.replace("~1", "/").replace("~0", "~")] = value


@dataclass(frozen=True)
class Correction:
    """A change to the converted spec at ``pointer``: ``change`` maps the document's value there (None
    when the pointer names a new schema) to the corrected value."""

    pointer: str
    reason: str
    change: Callable[[dict[str, Any], Any], Any]


def _nullable_finish_reason(schema: dict[str, Any]) -> dict[str, Any]:
    corrected = copy.deepcopy(schema)
    finish = corrected["properties"]["choices"]["items"]["properties"]["finish_reason"]
    finish["type"] = ["string", "null"]
    finish["enum"] = [*finish["enum"], None]
    return corrected


def _or_parts(content: dict[str, Any], *part_schemas: str) -> dict[str, Any]:
    """A message's ``content`` schema that also takes a non-empty list of the named part schemas."""
    parts = [{"$ref": f"#/components/schemas/{name}"} for name in part_schemas]
    items = parts[0] if len(parts) == 1 else {"oneOf": parts}
    return {"anyOf": [content, {"type": "array", "minItems": 1, "items": items}]}


def _root_hyperparameters(doc: dict[str, Any], old: dict[str, Any]) -> dict[str, Any]:
    """A prompt request whose root keys beside ``variables`` and ``stream`` are the hyperparameters of a
    chat or a text completion, checked as those requests check them (none is required)."""
    schemas = doc["components"]["schemas"]
    forms = [
        {"properties": schemas[name]["properties"]}
        for name in ("CreateChatCompletionRequest", "CreateCompletionRequest")
    ]
    return {
        "type": "object",
        "properties": {"variables": {"type": "object"}, "stream": {"type": "boolean"}},
        "anyOf": forms,
    }


SCHEMAS = "/components/schemas"
TEXT_PART = "ChatCompletionRequestMessageContentPartText"
REFUSAL_PART = "ChatCompletionRequestMessageContentPartRefusal"
AUDIO_PART = "ChatCompletionRequestMessageContentPartAudio"
FILE_PART = "ChatCompletionRequestMessageContentPartFile"
CHAT_CHUNK = "/components/schemas/CreateChatCompletionStreamResponse"
COMPLETION_CHUNK = "/components/schemas/CreateCompletionStreamResponse"

CORRECTIONS: tuple[Correction, ...] = (
    Correction(
        CHAT_CHUNK,
        "Chunk finish_reason is declared `nullable` with an enum that lacks null, and OpenAPI 3.0.3 keeps "
        "the enum: a strict validator refuses null. OpenAI and Portkey send finish_reason null on every "
        "chunk but the last one of each choice.",
        lambda doc, old: _nullable_finish_reason(old),
    ),
    Correction(
        COMPLETION_CHUNK,
        "The spec has no schema for the /completions stream. OpenAI and Portkey stream `text_completion` "
        "objects shaped as CreateCompletionResponse whose finish_reason is null until the last chunk of "
        "each choice; this new schema is CreateCompletionResponse with that one change.",
        lambda doc, old: _nullable_finish_reason(_at(doc, "/components/schemas/CreateCompletionResponse")),
    ),
    Correction(
        "/components/schemas/Embedding/properties/embedding",
        "Embedding.embedding is typed as an array of numbers only. With encoding_format base64, OpenAI "
        "and Portkey send it as one string: the vector's little-endian float32 bytes in base64.",
        lambda doc, old: {"anyOf": [old, {"type": "string", "contentEncoding": "base64"}]},
    ),
    Correction(
        f"/paths/{_escape('/prompts/{promptId}/completions')}/post/responses/200",
        "The spec wraps a prompt completion as {status, headers, body}, with no required key, so any "
        "object passes it. Portkey sends the chat or text completion itself at the top level (Portkey's "
        "SDK reads id, choices and usage there), so the schema is the wrapper's `body`.",
        lambda doc, old: old["properties"]["body"],
    ),
    # -- request bodies ------------------------------------------------------------------------------
    Correction(
        f"{SCHEMAS}/{REFUSAL_PART}",
        "New: the refusal part an assistant message may carry back ({type: refusal, refusal}), in OpenAI's "
        "API reference and missing from the spec.",
        lambda doc, old: {
            "type": "object",
            "required": ["type", "refusal"],
            "properties": {"type": {"enum": ["refusal"]}, "refusal": {"type": "string"}},
        },
    ),
    Correction(
        f"{SCHEMAS}/{AUDIO_PART}",
        "New: the input_audio user content part ({type: input_audio, input_audio: {data, format}}), in "
        "OpenAI's API reference and passed on by Portkey, missing from the spec.",
        lambda doc, old: {
            "type": "object",
            "required": ["type", "input_audio"],
            "properties": {
                "type": {"enum": ["input_audio"]},
                "input_audio": {
                    "type": "object",
                    "required": ["data", "format"],
                    "properties": {"data": {"type": "string"}, "format": {"enum": ["wav", "mp3"]}},
                },
            },
        },
    ),
    Correction(
        f"{SCHEMAS}/{FILE_PART}",
        "New: the file user content part ({type: file, file: {file_data | file_id, filename}}), in "
        "OpenAI's API reference and passed on by Portkey, missing from the spec.",
        lambda doc, old: {
            "type": "object",
            "required": ["type", "file"],
            "properties": {
                "type": {"enum": ["file"]},
                "file": {
                    "type": "object",
                    "minProperties": 1,
                    "properties": {
                        "file_data": {"type": "string"},
                        "file_id": {"type": "string"},
                        "filename": {"type": "string"},
                    },
                },
            },
        },
    ),
    Correction(
        f"{SCHEMAS}/ChatCompletionRequestMessageContentPart",
        "A user message's parts are text and image_url only in the spec; OpenAI also takes input_audio "
        "and file parts, and Portkey passes them on.",
        lambda doc, old: {
            "oneOf": [
                *old["oneOf"],
                {"$ref": f"#{SCHEMAS}/{AUDIO_PART}"},
                {"$ref": f"#{SCHEMAS}/{FILE_PART}"},
            ]
        },
    ),
    Correction(
        f"{SCHEMAS}/ChatCompletionRequestSystemMessage/properties/content",
        "A system message's content is a string only in the spec; OpenAI (and Portkey, which passes it on) "
        "also takes a non-empty list of text parts.",
        lambda doc, old: _or_parts(old, TEXT_PART),
    ),
    Correction(
        f"{SCHEMAS}/ChatCompletionRequestDeveloperMessage/properties/content",
        "A developer message's content is a string only in the spec; OpenAI also takes a non-empty list of "
        "text parts.",
        lambda doc, old: _or_parts(old, TEXT_PART),
    ),
    Correction(
        f"{SCHEMAS}/ChatCompletionRequestAssistantMessage/properties/content",
        "An assistant message's content is a string (or null) only in the spec; OpenAI also takes a "
        "non-empty list of text and refusal parts.",
        lambda doc, old: _or_parts(old, TEXT_PART, REFUSAL_PART),
    ),
    Correction(
        f"{SCHEMAS}/ChatCompletionRequestToolMessage/properties/content",
        "A tool message's content is a string only in the spec; OpenAI also takes a non-empty list of text "
        "parts.",
        lambda doc, old: _or_parts(old, TEXT_PART),
    ),
    Correction(
        f"/paths/{_escape('/prompts/{promptId}/completions')}/post/requestBody",
        "The spec groups a prompt completion's hyperparameters under `hyperparameters`, and its own "
        "description says they go at the root, beside `variables` and `stream` (as Portkey reads them); "
        "as written the root keys are not checked at all. Here they are checked as a chat or text "
        "completion's.",
        _root_hyperparameters,
    ),
    Correction(
        f"/paths/{_escape('/prompts/{promptId}/render')}/post/requestBody",
        "As for prompt completions: the hyperparameters go at the root, beside `variables`.",
        _root_hyperparameters,
    ),
    Correction(
        f"{SCHEMAS}/CreateImageRequest/properties/size",
        "The image sizes are dall-e-2's and dall-e-3's only. OpenAI's gpt-image-1 also takes 1536x1024, "
        "1024x1536 and auto, and Portkey passes them on (the plugin sends them from other_parameters).",
        lambda doc, old: {**old, "enum": [*old["enum"], "1536x1024", "1024x1536", "auto"]},
    ),
    Correction(
        f"{SCHEMAS}/CreateImageRequest/properties/quality",
        "The image qualities are dall-e-3's only (standard, hd). OpenAI's gpt-image-1 takes low, medium, "
        "high and auto, and Portkey passes them on.",
        lambda doc, old: {**old, "enum": [*old["enum"], "low", "medium", "high", "auto"]},
    ),
)


@functools.cache
def document(corrected: bool = True) -> dict[str, Any]:
    """The trimmed spec with every schema converted to JSON Schema (and corrected, by default)."""
    raw = json.loads(SCHEMAS_FILE.read_text(encoding="utf-8"))
    doc: dict[str, Any] = {
        "paths": {},
        "components": {
            "schemas": {name: to_json_schema(s) for name, s in raw["components"]["schemas"].items()}
        },
    }
    for path, methods in raw["paths"].items():
        for method, operation in methods.items():
            entry: dict[str, Any] = {
                "responses": {status: to_json_schema(s) for status, s in operation["responses"].items()}
            }
            if "requestBody" in operation:
                entry["requestBody"] = to_json_schema(operation["requestBody"])
            if "parameters" in operation:
                entry["query"] = _query_schema(operation["parameters"])
            doc["paths"].setdefault(path, {})[method] = entry
    if corrected:
        for correction in CORRECTIONS:
            try:
                old = _at(doc, correction.pointer)
            except KeyError:
                old = None
            _put(doc, correction.pointer, correction.change(doc, old))
    return doc


def _query_schema(parameters: list[dict[str, Any]]) -> dict[str, Any]:
    """The query parameters of an operation as one object schema: no key but theirs."""
    return {
        "type": "object",
        "properties": {p["name"]: to_json_schema(p["schema"]) for p in parameters},
        "required": [p["name"] for p in parameters if p.get("required")],
        "additionalProperties": False,
    }


@functools.cache
def _registry(corrected: bool) -> Registry[Any]:
    resource: Resource[Any] = Resource(contents=document(corrected), specification=DRAFT202012)
    return Registry().with_resource(BASE_URI, resource)


def _validator(pointer: str, corrected: bool) -> Draft202012Validator:
    _at(document(corrected), pointer)  # a KeyError here names a path or status the file does not hold
    return Draft202012Validator({"$ref": f"{BASE_URI}#{pointer}"}, registry=_registry(corrected))


@functools.cache
def request_validator(path: str, method: str = "post", *, corrected: bool = True) -> Draft202012Validator:
    """The validator of ``path``'s JSON request body, e.g. ``request_validator("/embeddings")``."""
    return _validator(f"/paths/{_escape(path)}/{method.lower()}/requestBody", corrected)


@functools.cache
def query_validator(path: str, method: str = "get", *, corrected: bool = True) -> Draft202012Validator:
    """The validator of ``path``'s query parameters (checked on ``typed_query``'s reading of them)."""
    return _validator(f"/paths/{_escape(path)}/{method.lower()}/query", corrected)


def typed_query(path: str, params: dict[str, str], method: str = "get") -> dict[str, Any]:
    """A URL's query values as the types ``path``'s parameters declare: integer and number text read as
    numbers, ``true``/``false`` as booleans; text that is not one stays text (and so fails)."""
    declared = document()["paths"][path][method.lower()]["query"]["properties"]
    typed: dict[str, Any] = {}
    for name, text in params.items():
        kind = declared.get(name, {}).get("type")
        typed[name] = _typed(text, kind)
    return typed


def _typed(text: str, kind: Any) -> Any:
    try:
        if kind == "integer":
            return int(text)
        if kind == "number":
            return float(text)
    except ValueError:
        return text
    if kind == "boolean" and text in ("true", "false"):
        return text == "true"
    return text


@functools.cache
def response_validator(
    path: str, method: str = "post", status: int | str = 200, *, corrected: bool = True
) -> Draft202012Validator:
    """The validator of ``path``'s JSON response body for ``status``, e.g.
    ``response_validator("/models/{model}", "get")``."""
    return _validator(f"/paths/{_escape(path)}/{method.lower()}/responses/{status}", corrected)


@functools.cache
def component_validator(name: str, *, corrected: bool = True) -> Draft202012Validator:
    """The validator of a component schema by name, e.g. ``component_validator("ErrorResponse")``."""
    return _validator(f"/components/schemas/{name}", corrected)


_CHUNKS = {
    "/chat/completions": (CHAT_CHUNK,),
    "/completions": (COMPLETION_CHUNK,),
    "/prompts/{promptId}/completions": (CHAT_CHUNK, COMPLETION_CHUNK),
}


@functools.cache
def chunk_validator(path: str, *, corrected: bool = True) -> Draft202012Validator:
    """The validator of one streamed chunk (one SSE ``data:`` JSON) of ``path``: chat, completions, or a
    prompt completion (either). With ``corrected=False`` only chat has a schema in the spec."""
    pointers = _CHUNKS[path]
    if not corrected:
        pointers = tuple(p for p in pointers if p == CHAT_CHUNK)
    if len(pointers) == 1:
        return _validator(pointers[0], corrected)
    schema = {"anyOf": [{"$ref": f"{BASE_URI}#{p}"} for p in pointers]}
    return Draft202012Validator(schema, registry=_registry(corrected))


def problems(validator: Draft202012Validator, instance: Any) -> list[str]:
    """Each way ``instance`` fails, as ``<JSON path>: <message>`` (empty when it conforms)."""
    found: list[str] = []
    for error in sorted(validator.iter_errors(instance), key=lambda e: list(map(str, e.absolute_path))):
        found.append(f"{error.json_path}: {error.message}")
        found.extend(f"  {sub.json_path}: {sub.message}" for sub in _leaves(error.context or ()))
    return found


def _leaves(errors: Iterable[Any]) -> Iterable[Any]:
    for error in errors:
        if error.context:
            yield from _leaves(error.context)
        else:
            yield error


def assert_valid(validator: Draft202012Validator, instance: Any) -> None:
    """Fail with every problem listed when ``instance`` does not conform."""
    found = problems(validator, instance)
    assert not found, "does not conform to Portkey's spec:\n" + "\n".join(found)


# -- security requirements (headers) ---------------------------------------------------------------

MODEL_CATALOG = (
    "The spec's security alternatives all need a virtual key, a config, or a provider name with the "
    "provider's own key. Portkey's Model Catalog routes with the Portkey key alone: a model written "
    "`@slug/model`, or an `x-portkey-provider: @slug` header, names an integration whose provider "
    "credentials Portkey holds."
)


def _header_of(scheme: dict[str, Any]) -> str:
    """The (lower-case) header a security scheme reads: an apiKey's name, or Authorization for http."""
    if scheme.get("type") == "apiKey" and scheme.get("in") == "header":
        return str(scheme["name"]).lower()
    if scheme.get("type") == "http":
        return "authorization"
    raise ValueError(f"a security scheme this module does not read: {scheme}")


@functools.cache
def _raw() -> dict[str, Any]:
    return json.loads(SCHEMAS_FILE.read_text(encoding="utf-8"))  # type: ignore[no-any-return]


def security_alternatives(path: str, method: str = "post") -> list[frozenset[str]]:
    """The header sets of which a request to ``path`` must send one in full, as the spec says."""
    raw = _raw()
    schemes = raw["components"]["securitySchemes"]
    needs = raw["paths"][path][method.lower()].get("security", [])
    return [frozenset(_header_of(schemes[name]) for name in need) for need in needs]


def _routes_by_model_catalog(headers: dict[str, str], body: Any) -> bool:
    model = body.get("model") if isinstance(body, dict) else None
    by_model = isinstance(model, str) and model.startswith("@") and "/" in model
    return by_model or headers.get("x-portkey-provider", "").startswith("@")


def security_problem(
    path: str, headers: dict[str, str], body: Any = None, method: str = "post", *, corrected: bool = True
) -> str | None:
    """Why the headers (lower-case names) meet none of the operation's security alternatives, or None.
    With ``corrected``, a Model Catalog request needs only the Portkey key (``MODEL_CATALOG``)."""
    alternatives = security_alternatives(path, method)
    if corrected and _routes_by_model_catalog(headers, body):
        alternatives = [*alternatives, frozenset({"x-portkey-api-key"})]
    sent = {name for name, value in headers.items() if value}
    if not alternatives or any(need <= sent for need in alternatives):
        return None
    shown = " | ".join("+".join(sorted(need)) for need in alternatives)
    return f"the headers meet none of: {shown}"
