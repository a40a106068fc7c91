"""The declarative spec: operations.json and manifest.json agree with the code that reads them, and host
text is coerced and validated as the forms promise."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from importlib import resources
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator
from unit_support import API_KEY, MINIMAL, MINIMAL_BATCH, MINIMAL_MORE

from tooljet_portkey import QueryError, _options, _spec
from tooljet_portkey._bodies import BUILDERS
from tooljet_portkey._constants import MAX_NEAR_MISS_KEY_CHARS, MAX_NEAR_MISS_KEYS
from tooljet_portkey._operations import OPERATIONS as OPERATION_TABLE
from tooljet_portkey._options import Query, parse_connection, parse_query, read_connection
from tooljet_portkey._requests import _REQUEST_BUILDERS, HANDLED_FIELDS, build_request
from tooljet_portkey._settings import ConnectionSettings
from tooljet_portkey._spec import COERCE_KINDS, HOST_QUERY_KEYS, _coerce_kind, form_validator, load_spec

OPERATIONS = json.loads(resources.files("tooljet_portkey").joinpath("operations.json").read_text("utf-8"))
MANIFEST = json.loads(resources.files("tooljet_portkey").joinpath("manifest.json").read_text("utf-8"))
ROOT = Path(__file__).resolve().parents[2]
OPERATION_NAMES = list(OPERATION_TABLE)  # the operations, as tests/unit/test_operations.py pins them
SMALLEST = {**MINIMAL, **MINIMAL_MORE, **MINIMAL_BATCH}


def form_fields(operation: str) -> dict[str, Any]:
    fields: dict[str, Any] = OPERATIONS["properties"][operation]
    return fields


def value_schema_of(raw: Mapping[str, Any]) -> Any:
    """The JSON Schema a field's ``$ref`` names in operations.json's definitions."""
    ref = raw["schema"]["$ref"]
    assert ref.startswith("#/definitions/")
    return OPERATIONS["definitions"][ref.removeprefix("#/definitions/")]


# ---------------------------------------------------------------------------------------------------
# operations.json <-> code


def test_top_level_files_are_the_shipped_ones() -> None:
    for name in ("operations.json", "manifest.json"):
        shipped = resources.files("tooljet_portkey").joinpath(name).read_text("utf-8")
        assert (ROOT / name).read_text("utf-8") == shipped


def test_operation_dropdown_lists_the_operations_by_their_names() -> None:
    dropdown = OPERATIONS["properties"]["operation"]
    assert dropdown["type"] == "dropdown-component-flip"
    assert [item["value"] for item in dropdown["list"]] == OPERATION_NAMES
    # each shown as its name in words: create_embedding is "Create Embedding"
    assert [item["name"] for item in dropdown["list"]] == [
        name.replace("_", " ").title() for name in OPERATION_NAMES
    ]
    assert set(OPERATIONS["properties"]) == {"operation", *OPERATION_NAMES}
    assert set(HANDLED_FIELDS) == set(BUILDERS) | set(_REQUEST_BUILDERS) == set(OPERATION_NAMES)
    assert set(BUILDERS) & set(_REQUEST_BUILDERS) == set()
    assert OPERATIONS["defaults"]["operation"] in OPERATION_NAMES


@pytest.mark.parametrize("operation", OPERATION_NAMES)
def test_every_form_field_is_handled_and_every_handled_field_is_in_the_form(operation: str) -> None:
    assert set(form_fields(operation)) == set(HANDLED_FIELDS[operation])


# The keys saved queries use (TOOLJET_PLUGIN.md), required ones marked: the form must keep them.
SAVED_QUERY_KEYS = {
    "completion": ({"prompt", "model"}, {"max_tokens", "temperature", "stop_sequences", "metadata",
                                         "other_parameters", "config", "virtualKey"}),
    # messages is no longer required: a chat query gives messages or a prompt (one of them, checked)
    "chat": ({"model"}, {"messages", "max_tokens", "temperature", "stop_sequences", "metadata",
                         "other_parameters", "config", "virtualKey"}),
    "prompt_completion": ({"promptId"}, {"variables", "prompt_parameters", "metadata", "config",
                                         "virtualKey"}),
    "create_embedding": ({"input", "model"}, {"metadata", "config", "virtualKey"}),
    # the operations added after the TypeScript plugin: the keys their issue named
    "image_generation": ({"prompt"}, {"model", "n", "size", "quality", "style", "response_format",
                                      "other_parameters", "metadata", "config", "virtualKey", "traceId"}),
    "prompt_render": ({"promptId"}, {"variables", "prompt_parameters"}),
    "list_models": (set(), {"provider", "limit", "offset"}),
    "feedback": ({"traceId", "value"}, {"weight", "metadata"}),
    "batch_submit": ({"model", "rows"}, {"endpoint", "completion_window", "metadata", "config",
                                         "virtualKey"}),
    "batch_status": ({"batchId"}, {"config", "virtualKey"}),
    "batch_results": ({"batchId"}, {"output", "response_format", "config", "virtualKey"}),
    "batch_cancel": ({"batchId"}, {"config", "virtualKey"}),
}  # fmt: skip


@pytest.mark.parametrize("operation", OPERATION_NAMES)
def test_form_keeps_the_keys_saved_queries_use(operation: str) -> None:
    required, optional = SAVED_QUERY_KEYS[operation]
    fields = form_fields(operation)
    assert {key for key, f in fields.items() if f["required"]} == required
    assert optional <= set(fields)


def test_old_keys_are_declared_as_aliases() -> None:
    assert form_fields("chat")["stop_sequences"]["aliases"] == ["stop_sequence"]
    assert form_fields("prompt_completion")["prompt_parameters"]["aliases"] == ["parameters"]


@pytest.mark.parametrize("operation", OPERATION_NAMES)
def test_each_field_is_well_formed(operation: str) -> None:
    for key, raw in form_fields(operation).items():
        assert raw["key"] == key
        assert raw["label"] and raw["description"]
        assert raw["type"] in {"codehinter", "toggle", "dropdown", "dynamic-selector"}
        if raw["type"] == "dynamic-selector":  # free text and templates still work (fxEnabled)
            assert key == "model" and raw["coerce"] == "trim"
            assert (raw["dependsOn"], raw["fxEnabled"], raw["autoFetch"], raw["operation"]) == (
                ["operation"],
                True,
                True,
                {"invokeMethod": "listModels", "label": "Fetch models"},
            )
        if raw["type"] == "dropdown":  # its choices are exactly what its value schema accepts
            assert [item["value"] for item in raw["list"]] == value_schema_of(raw)["enum"]
        assert isinstance(raw["required"], bool)
        assert set(raw["schema"]) == {"$ref"}, "a field node holds only a $ref to its value schema"
        value_schema = value_schema_of(raw)
        Draft202012Validator.check_schema(value_schema)
        if raw["type"] == "toggle":
            assert value_schema == {"type": "boolean"}


# One sample value per field; each must change the request the query becomes, which proves the
# field is really read (HANDLED_FIELDS is a promise; this checks it).
SAMPLES: dict[str, Any] = {
    "prompt": "another prompt",
    "messages": '[{"role": "user", "content": "other"}]',
    "model": "another-model",
    "max_tokens": "3",
    "temperature": "1.5",
    "stop_sequences": "END",
    "metadata": '{"k": "v"}',
    "other_parameters": '{"seed": 1}',
    "config": "pc-sample",
    "virtualKey": "vk-sample",
    "stream": "true",
    "traceId": "trace-sample",
    "cacheNamespace": "ns-sample",
    "cacheForceRefresh": "true",
    "promptId": "pp-other",
    "variables": '{"name": "Ada"}',
    "prompt_parameters": '{"max_tokens": 9}',
    "input": "other text",
    "system_prompt": "Be brief.",
    "message_history": '[{"message": "Hi", "type": "message"}]',
    "response_format": "json_object",
    "tools": '[{"type": "function", "function": {"name": "f"}}]',
    "tool_choice": "auto",
    "images": "https://img.test/a.png",
    "output": "text",
    "n": "2",
    "size": "1792x1024",
    "quality": "hd",
    "style": "natural",
    "provider": "anthropic",
    "limit": "5",
    "offset": "10",
    "value": "-4",
    "weight": "0.5",
    "rows": '[{"name": "Ada"}]',
    "concurrency": "3",
    "failOnError": "true",
    "batch_size": "16",
    "maxRunSeconds": "30",
    "fallbacks": "@anthropic-prod/claude-3-5-haiku-20241022",
    "fallbackOn": "429, 500-599",
    "input_guardrails": '[{"default.regexMatch": {"rule": "\\\\d{16}"}, "deny": true}]',
    "output_guardrails": '["pg-tone-1"]',
    "maxCostUsd": "2.5",
    "endpoint": "completion",
    "completion_window": "48h",
    "batchId": "batch_other",
}
# Where a key's sample differs by operation (the same key, another field)
OPERATION_SAMPLES = {
    ("output", "create_embedding"): "vectors",
    ("output", "image_generation"): "images",
    ("response_format", "image_generation"): "b64_json",
    ("metadata", "feedback"): '{"reason": {"kind": "wrong answer"}}',
    ("rows", "chat"): '["Hello", {"temperature": 0.5}]',  # a row of chat or completion is a query's fields
    ("rows", "completion"): '["Hello", {"temperature": 0.5}]',
    ("rows", "batch_submit"): '["Hello", {"prompt": "Hi", "temperature": 0.5}]',
    ("response_format", "batch_results"): '{"type": "object"}',  # the schema each row's json is checked by
    ("metadata", "batch_submit"): '{"job": "tickets"}',
}
# Chat's prompt and message_history go with a prompt, not with the messages of MINIMAL["chat"].
PROMPT_CHAT = {"operation": "chat", "prompt": "Hello", "model": "gpt-4o-mini"}


@pytest.mark.parametrize("operation", OPERATION_NAMES)
def test_every_field_changes_the_request(operation: str) -> None:
    settings = parse_connection({"apiKey": API_KEY})
    assert set(form_fields(operation)) <= set(SAMPLES)
    for key in form_fields(operation):
        before = SMALLEST[operation]
        sample = OPERATION_SAMPLES.get((key, operation), SAMPLES[key])
        after = {**before, key: sample}
        if operation == "chat" and key == "prompt":  # the prompt form instead of messages
            after = {**PROMPT_CHAT, key: sample}
        elif operation == "chat" and key == "message_history":
            before, after = PROMPT_CHAT, {**PROMPT_CHAT, key: sample}
        elif key == "fallbackOn":  # the statuses that move on to the fallbacks: with fallbacks
            before = {**before, "fallbacks": SAMPLES["fallbacks"]}
            after = {**before, key: sample}
        baseline = build_request(settings, parse_query(before))
        changed = build_request(settings, parse_query(after))
        # the output mode changes how the answer is read, rows and concurrency how it is sent, the
        # rest what is sent
        assert (changed, changed.answer, changed.run) != (baseline, baseline.answer, baseline.run), key


# ---------------------------------------------------------------------------------------------------
# manifest.json <-> code


class RecordingOptions(Mapping[str, Any]):
    """Source options that note every key the parser asks for."""

    def __init__(self, data: dict[str, Any]) -> None:
        self.data = data
        self.read: set[str] = set()

    def __getitem__(self, key: str) -> Any:
        self.read.add(key)
        return self.data[key]

    def get(self, key: str, default: Any = None) -> Any:
        self.read.add(key)
        return self.data.get(key, default)

    def __iter__(self) -> Iterator[str]:
        return iter(self.data)

    def __len__(self) -> int:
        return len(self.data)


def test_source_options_keys_equal_the_form_properties() -> None:
    assert set(MANIFEST["source"]["options"]) == set(MANIFEST["properties"])


def test_every_manifest_property_is_read_by_parse_connection() -> None:
    options = RecordingOptions({"apiKey": API_KEY})
    read_connection(options)  # parse_connection's cache may answer without reading
    assert options.read == set(MANIFEST["properties"])


def test_a_connection_is_validated_once_per_distinct_options() -> None:
    config = {"retry": {"attempts": 2}}
    first = parse_connection({"apiKey": API_KEY, "maxRetries": "1", "config": config})
    assert parse_connection({"maxRetries": "1", "config": config, "apiKey": API_KEY}) is first
    # a value of another type, or a changed config, is another data source: validated afresh
    assert parse_connection({"apiKey": API_KEY, "maxRetries": 1, "config": config}) is not first
    config["retry"]["attempts"] = 99
    with pytest.raises(QueryError, match=r"config\.retry\.attempts: must be at most 10"):
        parse_connection({"apiKey": API_KEY, "maxRetries": "1", "config": config})


def test_known_valid_values_skip_validation_but_never_hide_an_invalid_one() -> None:
    query = {**MINIMAL["chat"], "max_tokens": "64"}
    parse_query(query)  # 64 is now known valid for chat's max_tokens
    with pytest.raises(QueryError, match=r"^Invalid query options: max_tokens: must be at least 1$"):
        parse_query({**query, "max_tokens": "0"})
    with pytest.raises(QueryError, match=r"^Invalid query options: model: must be text$"):
        parse_query({**query, "model": 64})  # the same value under another key is checked anew
    messages = [{"role": "user", "content": "hi"}]
    parse_query({**query, "messages": messages})  # known valid by its JSON text from now on
    with pytest.raises(QueryError, match=r"^Invalid query options: messages\[0\]\.role: must be one of"):
        parse_query({**query, "messages": [{"role": "robot", "content": "hi"}]})


def test_password_fields_are_encrypted_and_only_they_are() -> None:
    options = MANIFEST["source"]["options"]
    for key, prop in MANIFEST["properties"].items():
        assert prop["key"] == key
        assert options[key]["encrypted"] is (prop["type"] == "password"), key
    assert {k for k, p in MANIFEST["properties"].items() if p["type"] == "password"} == {
        "apiKey",
        "virtualKey",
        "providerApiKey",
    }


def test_manifest_keeps_the_saved_connection_keys_and_defaults() -> None:
    assert {"apiKey", "virtualKey", "config", "gatewayUrl"} <= set(MANIFEST["properties"])
    assert MANIFEST["source"]["kind"] == "portkey"
    assert MANIFEST["required"] == []
    defaults = {k: v["value"] for k, v in MANIFEST["defaults"].items()}
    assert set(defaults) <= set(MANIFEST["properties"])
    # The form's defaults give the same connection as leaving the fields empty.
    assert parse_connection({"apiKey": API_KEY, **defaults}) == parse_connection({"apiKey": API_KEY})


CONNECTION_SAMPLES = {
    "apiKey": "pk-other",
    "virtualKey": "vk-other",
    "provider": "@openai-prod",
    "providerApiKey": "sk-other",
    "config": "pc-other",
    "gatewayUrl": "http://127.0.0.1:8787/v1",
    "customHost": "http://127.0.0.1:9000/v1",
    "timeout": "30",
    "maxRetries": "5",
    "maxResponseMiB": "1.5",
    "maxEventMiB": "0.5",
    "streamTimeout": "90",
    "useSystemProxy": "false",
    "prices": '{"my-model": {"input": 0.5, "output": 1.5}}',
}


def test_every_manifest_property_changes_the_connection() -> None:
    assert set(CONNECTION_SAMPLES) == set(MANIFEST["properties"])
    baseline = parse_connection({"apiKey": API_KEY})
    for key, value in CONNECTION_SAMPLES.items():
        assert parse_connection({"apiKey": API_KEY, key: value}) != baseline, key


# ---------------------------------------------------------------------------------------------------
# parse_connection


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        ({"apiKey": API_KEY}, ConnectionSettings(api_key=API_KEY)),
        (
            {"apiKey": API_KEY, "gatewayUrl": "", "timeout": "", "maxRetries": None, "config": "  "},
            ConnectionSettings(api_key=API_KEY),
        ),
        ({"gatewayUrl": "http://127.0.0.1:8787/v1/"}, ConnectionSettings(base_url="http://127.0.0.1:8787/v1")),
        (
            {"apiKey": API_KEY, "timeout": "12.5", "maxRetries": "0"},
            ConnectionSettings(api_key=API_KEY, timeout=12.5, max_retries=0),
        ),
        ({"apiKey": API_KEY, "timeout": 7, "maxRetries": 3},
         ConnectionSettings(api_key=API_KEY, timeout=7.0, max_retries=3)),
        # sizes in MiB (fractions allowed) become bytes; the stream limit and the proxy switch as given
        ({"apiKey": API_KEY, "maxResponseMiB": "1.5", "maxEventMiB": 0.25, "streamTimeout": "90",
          "useSystemProxy": "false"},
         ConnectionSettings(api_key=API_KEY, max_response_bytes=1572864, max_event_bytes=262144,
                            stream_timeout=90.0, use_system_proxy=False)),
        ({"apiKey": API_KEY, "maxResponseMiB": "", "maxEventMiB": None, "streamTimeout": "",
          "useSystemProxy": True},
         ConnectionSettings(api_key=API_KEY)),
        ({"apiKey": API_KEY, "maxResponseMiB": "0.0000001"},
         ConnectionSettings(api_key=API_KEY, max_response_bytes=1)),
        # the connection's own prices (docs/cost.md): compact JSON with sorted keys, whatever was typed
        ({"apiKey": API_KEY, "prices": ' { "m": {"output": 2, "input": 1.5} } '},
         ConnectionSettings(api_key=API_KEY, prices='{"m":{"input":1.5,"output":2}}')),
        (
            {"apiKey": API_KEY, "config": '{"retry": {"attempts": 3, "on_status_codes": [429]}}'},
            ConnectionSettings(api_key=API_KEY, config='{"retry":{"attempts":3,"on_status_codes":[429]}}'),
        ),
        ({"apiKey": API_KEY, "config": {"cache": {"mode": "simple"}}},
         ConnectionSettings(api_key=API_KEY, config='{"cache":{"mode":"simple"}}')),
        ({"apiKey": API_KEY, "config": " pc-abc-123\n"},
         ConnectionSettings(api_key=API_KEY, config="pc-abc-123")),
    ],
)  # fmt: skip
def test_parse_connection(options: dict[str, Any], expected: ConnectionSettings) -> None:
    assert parse_connection(options) == expected


@pytest.mark.parametrize(
    "options", [None, {}, {"apiKey": ""}, {"apiKey": None}, {"gatewayUrl": "HTTPS://API.PORTKEY.AI/v1/"}]
)
def test_hosted_api_needs_an_api_key(options: Any) -> None:
    with pytest.raises(QueryError) as caught:
        parse_connection(options)
    assert (caught.value.message, caught.value.description, caught.value.data) == (
        "Invalid connection options",
        "apiKey: is required for Portkey's hosted API (set gatewayUrl for a self-hosted gateway)",
        {"field": "apiKey"},
    )


BAD_JSON = "is not valid JSON (Expecting property name enclosed in double quotes: line 1 column 2 (char 1))"
NOT_ALLOWED = "contains characters that are not allowed here"
NO_HOST = "must be an http(s) URL with a host"
NO_SCHEME = "must start with http:// or https:// (e.g. http://localhost:8787/v1)"
NOT_A_PROVIDER = (
    "must be a provider name or a Model Catalog slug (openai, azure-openai, @openai-prod): "
    "lowercase letters, digits, -, _ and ., after an optional @"
)
LOOKS_LIKE_A_KEY = "looks like an API key; put it in API key (Portkey's) or Provider API key (the provider's)"
NOT_JSON = "must hold only JSON values (text, numbers, true/false, null, arrays, objects)"


TOO_LONG_FOR_A_HEADER = "is longer than 8192 characters as JSON, the most a header holds"


@pytest.mark.parametrize(
    ("options", "problem"),
    [
        ({"gatewayUrl": "ftp://gw/v1"}, NO_SCHEME),
        ({"gatewayUrl": "localhost:8787/v1"}, NO_SCHEME),
        ({"gatewayUrl": "gw.test/v1"}, NO_SCHEME),
        ({"gatewayUrl": "http:///v1"}, NO_HOST),
        ({"gatewayUrl": "http://u:p@gw/v1"}, "must not carry credentials (user:password@)"),
        ({"gatewayUrl": "http://gw:99999/v1"}, "has an invalid port"),
        ({"gatewayUrl": "http://gw/v1?x=1"}, "must not have a query string or fragment"),
        ({"gatewayUrl": "http://gw/v1#top"}, "must not have a query string or fragment"),
        ({"gatewayUrl": "http://[::1/v1"}, NO_HOST),
        ({"gatewayUrl": "http://gw/v 1"}, NOT_ALLOWED),
        ({"gatewayUrl": "http://gw/v1\n"}, NOT_ALLOWED),
        ({"gatewayUrl": 5}, "must be text"),
        ({"customHost": "localhost:9000"}, NO_SCHEME),
        ({"customHost": "http://[fe80::1/v1"}, NO_HOST),
        ({"timeout": "0"}, "must be greater than 0"),
        ({"timeout": "-1"}, "must be greater than 0"),
        ({"timeout": "3601"}, "must be at most 3600"),
        ({"timeout": "soon"}, "must be a number"),
        ({"timeout": "inf"}, "must be a finite number"),
        ({"timeout": float("nan")}, "must be a finite number"),
        ({"maxRetries": "1.5"}, "must be a whole number"),
        ({"maxRetries": "-1"}, "must be at least 0"),
        ({"maxRetries": "11"}, "must be at most 10"),
        ({"maxRetries": True}, "must be a whole number"),
        ({"maxResponseMiB": "0"}, "must be greater than 0"),
        ({"maxResponseMiB": "4097"}, "must be at most 4096"),
        ({"maxResponseMiB": "big"}, "must be a number"),
        ({"maxEventMiB": "-1"}, "must be greater than 0"),
        ({"maxEventMiB": "1025"}, "must be at most 1024"),
        ({"streamTimeout": "0"}, "must be greater than 0"),
        ({"streamTimeout": "86401"}, "must be at most 86400"),
        ({"useSystemProxy": "maybe"}, "must be true or false"),
        ({"config": "{not json"}, BAD_JSON),
        ({"config": '{"targets": [{"weight": NaN}]}'}, "is not valid JSON (NaN is not allowed in JSON)"),
        ({"config": "pc with spaces"}, NOT_ALLOWED),
        ({"config": {"weight": float("inf")}}, NOT_JSON),
        ({"config": {"targets": [{"api_key": "k" * 9000}]}}, TOO_LONG_FOR_A_HEADER),
        ({"config": ["pc-1"]}, "must be a JSON object or text"),
        ({"apiKey": "pk key"}, NOT_ALLOWED),
        ({"apiKey": "pk-ключ"}, NOT_ALLOWED),
        ({"virtualKey": "vk\n"}, NOT_ALLOWED),
        ({"provider": ["openai"]}, "must be text"),
        ({"provider": "sk-proj-abcdefghijklmnopqrstuvwxyz012345"}, LOOKS_LIKE_A_KEY),
        ({"provider": "sk-" + "Ab1_" * 41}, LOOKS_LIKE_A_KEY),
        ({"provider": "OpenAI"}, NOT_A_PROVIDER),
        ({"provider": "open ai"}, NOT_A_PROVIDER),
        ({"provider": "@"}, NOT_A_PROVIDER),
        ({"provider": "@@openai"}, NOT_A_PROVIDER),
        ({"provider": "-openai"}, NOT_A_PROVIDER),
        ({"provider": "openai/gpt-4o"}, NOT_A_PROVIDER),
        ({"provider": "openai\n"}, NOT_A_PROVIDER),
        ({"provider": "a" * 129}, "must be at most 128 characters"),
        ({"providerApiKey": "x" * 1025}, "must be at most 1024 characters"),
    ],
)
def test_bad_connection_options_name_the_field(options: dict[str, Any], problem: str) -> None:
    [field] = options
    with pytest.raises(QueryError) as caught:
        parse_connection({"apiKey": API_KEY, "gatewayUrl": "http://gw.test/v1", **options})
    assert caught.value.message == "Invalid connection options"
    assert caught.value.description == f"{field}: {problem}"
    assert caught.value.data == {"field": field}


@pytest.mark.parametrize(
    ("config", "description"),
    [
        ('{"retry": {"attempts": "3"}}', "config.retry.attempts: must be a whole number"),
        ('{"retry": {"attempts": 11}}', "config.retry.attempts: must be at most 10"),
        ('{"strategy": {"mode": "random"}}', "config.strategy.mode: must be one of: single, loadbalance, "
         "fallback, conditional"),
        ('{"strategy": {}}', "config.strategy: needs 'mode'"),
        ('{"targets": []}', "config.targets: must have at least 1 item"),
        ('{"targets": [{"cache": {"mode": "never"}}]}', "config.targets[0].cache.mode: must be one of: "
         "simple, semantic"),
        ('{"request_timeout": 0}', "config.request_timeout: must be at least 1"),
    ],
)  # fmt: skip
def test_bad_config_names_the_path_inside_it(config: str, description: str) -> None:
    with pytest.raises(QueryError) as caught:
        parse_connection({"apiKey": API_KEY, "config": config})
    assert (caught.value.description, caught.value.data) == (description, {"field": "config"})


@pytest.mark.parametrize("options", ["apiKey=x", 42, ["apiKey"]])
def test_connection_options_must_be_an_object(options: Any) -> None:
    with pytest.raises(QueryError) as caught:
        parse_connection(options)
    assert (caught.value.description, caught.value.data) == (
        "source options must be an object",
        {"field": "source"},
    )


def test_connection_settings_repr_and_errors_hide_secrets() -> None:
    settings = parse_connection(
        {
            "apiKey": "pk-secret-aaaa",
            "virtualKey": "vk-secret-bbbb",
            "providerApiKey": "sk-secret-cccc",
            "config": '{"targets": [{"provider": "openai", "api_key": "sk-secret-dddd"}]}',
        }
    )
    shown = repr(settings) + str(settings)
    for secret in ("pk-secret-aaaa", "vk-secret-bbbb", "sk-secret-cccc", "sk-secret-dddd"):
        assert secret not in shown
        assert secret in settings.secrets
    with pytest.raises(QueryError) as caught:
        parse_connection({"apiKey": "pk secret with spaces"})
    assert "secret" not in str(caught.value) + repr(caught.value.data)


# ---------------------------------------------------------------------------------------------------
# parse_query: coercion and validators


@pytest.mark.parametrize(
    ("options", "params"),
    [
        ({"max_tokens": "256"}, {"max_tokens": 256}),
        ({"max_tokens": "2.0"}, {"max_tokens": 2}),
        ({"temperature": "0.7"}, {"temperature": 0.7}),
        ({"temperature": " 0 "}, {"temperature": 0.0}),
        ({"stream": "TRUE"}, {"stream": True}),
        ({"stream": "off"}, {"stream": False}),
        ({"stream": True}, {"stream": True}),
        ({"cacheForceRefresh": "1"}, {"cacheForceRefresh": True}),
        ({"config": '  {"retry": {"attempts": 1}}  '}, {"config": {"retry": {"attempts": 1}}}),
        ({"config": "pc-1"}, {"config": "pc-1"}),
        ({"metadata": {"a": "b"}}, {"metadata": {"a": "b"}}),
        ({"stop_sequence": "a,b"}, {"stop_sequences": ["a", "b"]}),
        ({"max_tokens": None, "temperature": "", "metadata": " "}, {}),
        ({"unknown_key": "ignored"}, {}),
    ],
)
def test_parse_query_coerces_host_text(options: dict[str, Any], params: dict[str, Any]) -> None:
    query = parse_query({**MINIMAL["chat"], **options})
    assert query == Query("chat", {"messages": [{"role": "user", "content": "Who uses ToolJet?"}],
                                   "model": "gpt-4o-mini", **params})  # fmt: skip


# ---------------------------------------------------------------------------------------------------
# Keys that are no field: near misses are named, other keys are left alone


@pytest.mark.parametrize(
    ("operation", "key", "field"),
    [
        ("chat", "trace_id", "traceId"),
        ("chat", "TraceId", "traceId"),
        ("chat", "trace-id", "traceId"),
        ("chat", "TRACE_ID", "traceId"),
        ("chat", "Temperature", "temperature"),
        ("chat", "max_token", "max_tokens"),
        ("chat", "maxTokens", "max_tokens"),
        ("chat", "max_tokesn", "max_tokens"),  # two neighbours swapped: one edit
        ("chat", "temprature", "temperature"),
        ("chat", "system_promt", "system_prompt"),
        ("chat", "sytem_promt", "system_prompt"),  # two edits in a key of 9 or more
        ("chat", "Stop_Sequence", "stop_sequences"),  # an alias's near miss names the field
        ("chat", "message", "messages"),
        ("chat", "virtual_key", "virtualKey"),
        ("chat", "Model", "model"),
        ("prompt_completion", "fail_on_error", "failOnError"),
        ("prompt_completion", "prompt_id", "promptId"),
        ("prompt_completion", "variable", "variables"),
        ("prompt_completion", "parameter", "prompt_parameters"),  # near the alias "parameters"
        ("create_embedding", "batchSize", "batch_size"),
        ("image_generation", "N", "n"),
        ("image_generation", "sizes", "size"),
        ("list_models", "Limit", "limit"),
        # a near miss of another operation's field: named too (switching operation keeps it)
        ("chat", "fail_on_error", "failOnError"),
        # between equals, the query's own operation's field wins
        ("feedback", "values", "value"),
    ],
)
def test_a_near_miss_of_a_field_is_named_with_the_field(operation: str, key: str, field: str) -> None:
    with pytest.raises(QueryError) as caught:
        parse_query({**SMALLEST[operation], key: "1"})
    assert (caught.value.message, caught.value.description, caught.value.data) == (
        "Invalid query options",
        f"{key}: not a field; did you mean {field}?",
        {"field": key},
    )


HOST_KEYS = {
    "transformation": "return data;",
    "transformations": {"javascript": "return data;"},
    "transformationLanguage": "javascript",
    "enableTransformation": False,
    "runOnPageLoad": True,
    "runOnDependencyChange": False,
    "runPeriodically": False,
    "runPeriodicallyFx": False,
    "queryRunInterval": "60000",
    "requestConfirmation": False,
    "requestConfirmationFx": False,
    "confirmationMessage": "Run it?",
    "showSuccessNotification": True,
    "successMessage": "Done",
    "notificationDuration": "5",
    "events": [],
}


@pytest.mark.parametrize("operation", OPERATION_NAMES)
def test_host_keys_other_operations_fields_and_far_keys_are_left_alone(operation: str) -> None:
    others = {f.key: "x" for op, fields in load_spec().operations.items() if op != operation for f in fields}
    own = {f.key for f in load_spec().operations[operation]}
    far = {
        "kind": "portkey",
        "queryName": "chat1",
        "dataSourceId": "ds-1",
        "model_id": "m",
        "siz": "1",
        "x" * 1_000_000: "v",
    }
    query = parse_query(
        {**SMALLEST[operation], **HOST_KEYS, **{k: v for k, v in others.items() if k not in own}, **far}
    )
    assert query == parse_query(SMALLEST[operation])


def test_the_host_keys_are_declared_once() -> None:
    assert set(HOST_KEYS) == HOST_QUERY_KEYS


def test_a_near_miss_with_a_blank_value_is_left_alone() -> None:
    query = parse_query({**MINIMAL["chat"], "Temperature": " ", "trace_id": None})
    assert query == parse_query(MINIMAL["chat"])


def test_only_unknown_keys_are_examined_and_each_once(monkeypatch: pytest.MonkeyPatch) -> None:
    examined: list[tuple[str, str]] = []
    monkeypatch.setattr(_spec, "near_miss", lambda key, operation: examined.append((key, operation)))
    monkeypatch.setattr(_spec, "_near_misses", {})
    every_field = {f.key: "" for fields in load_spec().operations.values() for f in fields}
    query = {
        **every_field,
        **HOST_KEYS,
        **MINIMAL["chat"],
        "stop_sequence": "a",
        "parameters": "",
        "custom": "1",
    }
    for _ in range(3):
        parse_query(query)
    parse_query({**MINIMAL["completion"], "custom": "1"})
    assert examined == [("custom", "chat"), ("custom", "completion")]


def refusal(options: dict[str, Any]) -> str | None:
    """The description of the query's refusal, or None when it is accepted."""
    try:
        parse_query(options)
    except QueryError as err:
        return err.description
    return None


def test_near_misses_are_looked_for_in_a_bounded_number_of_bounded_keys() -> None:
    far = [(f"unrelated_key_{i}", "v") for i in range(100_000)]
    chat, near = MINIMAL["chat"], "trace_id: not a field; did you mean traceId?"
    # past MAX_NEAR_MISS_KEYS unknown keys, no more are examined
    assert refusal({**chat, **dict(far[: MAX_NEAR_MISS_KEYS - 1]), "trace_id": "t"}) == near
    assert refusal({**chat, **dict(far[:MAX_NEAR_MISS_KEYS]), "trace_id": "t"}) is None
    # a key longer than MAX_NEAR_MISS_KEY_CHARS is not examined, even one that normalises to a field's
    padded = "trace_id" + "_" * (MAX_NEAR_MISS_KEY_CHARS - len("trace_id"))
    assert refusal({**chat, padded: "t"}) == f"{padded}: not a field; did you mean traceId?"
    assert refusal({**chat, padded + "_": "t", "trace" + "_" * 1_000_000 + "id": "t", **dict(far)}) is None


@pytest.mark.parametrize("definition", ["bodyParameters", "promptParameters"])
def test_stop_in_free_form_parameters_is_the_stop_sequence_field_s_value(definition: str) -> None:
    stop = OPERATIONS["definitions"][definition]["properties"]["stop"]
    assert stop == {"if": {"type": "array"}, "then": {"$ref": "#/definitions/stopSequences"}}
    assert value_schema_of(form_fields("chat")["stop_sequences"])["maxItems"] == 4


@pytest.mark.parametrize(
    ("operation", "key", "stop", "description"),
    [
        (
            "prompt_completion",
            "prompt_parameters",
            list("abcde"),
            "prompt_parameters.stop: must have at most 4 items",
        ),
        (
            "prompt_render",
            "prompt_parameters",
            list("abcde"),
            "prompt_parameters.stop: must have at most 4 items",
        ),
        ("completion", "other_parameters", list("abcde"), "other_parameters.stop: must have at most 4 items"),
        ("completion", "other_parameters", [], "other_parameters.stop: must have at least 1 item"),
        ("completion", "other_parameters", [5], "other_parameters.stop[0]: must be text"),
        ("completion", "other_parameters", list("abcd"), None),
        ("completion", "other_parameters", "END", None),
        ("prompt_completion", "prompt_parameters", None, None),
    ],
)
def test_stop_in_free_form_parameters(operation: str, key: str, stop: Any, description: str | None) -> None:
    assert refusal({**SMALLEST[operation], key: json.dumps({"stop": stop})}) == description


def test_validators_are_compiled_once_and_only_for_what_plain_checks_do_not_decide() -> None:
    form_validator.cache_clear()
    _spec.form_schema.cache_clear()
    source = {"apiKey": API_KEY, "provider": "compiled-once"}  # options no other test sends
    query = {**MINIMAL["chat"], "model": "compiled-once"}
    for _ in range(3):
        parse_query(query)
        parse_connection(source)
    # plain values are decided without jsonschema; repeated options by parse_query's and
    # parse_connection's caches
    assert form_validator.cache_info().misses == 0
    # each form's schema built once (read twice per validation: the lengths, then the values)
    assert (_spec.form_schema.cache_info().misses, _spec.form_schema.cache_info().hits) == (2, 2)
    for _ in range(2):
        assert refusal({**query, "max_tokens": "-1"}) == "max_tokens: must be at least 1"
    info = form_validator.cache_info()
    assert (info.misses, info.hits) == (1, 1)  # jsonschema builds the error, compiled once


def test_a_query_run_again_is_remembered_and_each_gets_its_own_values() -> None:
    query = {**MINIMAL["chat"], "model": "remembered", "max_tokens": "12"}
    first, second = parse_query(query), parse_query(dict(reversed(query.items())))
    assert first == second == Query("chat", {**first.params})
    assert first.params["max_tokens"] == 12 and first.params is not second.params
    first.params["max_tokens"] = 99  # type: ignore[index]
    assert parse_query(query).params["max_tokens"] == 12
    # a value that is not text, or options too long to hold, are validated every time, alike
    assert parse_query({**query, "max_tokens": 12}) == second
    long = {**query, "prompt": "x" * 20_000}
    assert parse_query(long).params["prompt"] == "x" * 20_000
    assert _options.query_key(long) is None and _options.query_key({**query, "max_tokens": 12}) is None


def test_spec_is_loaded_once() -> None:
    assert load_spec() is load_spec()


@pytest.mark.parametrize("name", ["manifest.schema.json", "operations.schema.json"])
def test_meta_schemas_know_exactly_the_coerce_kinds_the_code_applies(name: str) -> None:
    """`tooljet-portkey validate` checks the spec against these meta-schemas; a kind added to the code
    and not to them (or the reverse) would make it refuse the shipped files or pass a wrong one."""
    text = resources.files("tooljet_portkey").joinpath("metaschemas", name).read_text(encoding="utf-8")

    def coerce_enums(node: Any) -> Iterator[list[str]]:
        if isinstance(node, dict):
            if isinstance(node.get("coerce"), dict) and "enum" in node["coerce"]:
                yield node["coerce"]["enum"]
            for value in node.values():
                yield from coerce_enums(value)
        elif isinstance(node, list):
            for value in node:
                yield from coerce_enums(value)

    enums = list(coerce_enums(json.loads(text)))
    assert enums, "the meta-schema declares no coerce kinds"
    assert all(set(enum) == COERCE_KINDS for enum in enums)


def test_an_unknown_coerce_kind_is_a_spec_error() -> None:
    with pytest.raises(ValueError, match="unknown coerce kind 'csv'"):
        _coerce_kind({"key": "stop", "coerce": "csv", "schema": {}})


# ---------------------------------------------------------------------------------------------------
# ToolJet's meta-schema rule: under "properties" every object is a form node, and a node's "type" is a
# widget type or an object. The lists are ToolJet's (plugins/schemas/*.schema.json); a JSON Schema
# ("type": "integer") nested in a field would be read as an unknown widget.

TOOLJET_OPERATION_WIDGETS = {
    "checkbox-group", "codehinter", "columns", "dropdown", "dropdown-component-flip", "dynamic-selector",
    "filters", "react-component-api-endpoint", "react-component-api-endpoint-old", "react-component-headers",
    "react-component-key-value-tabs", "react-component-sort", "react-component-sql-aggregate",
    "react-component-sql-columns", "react-component-sql-filters", "react-component-sql-groupby",
    "react-component-sql-sort", "sorts", "toggle",
}  # fmt: skip
TOOLJET_MANIFEST_WIDGETS = {"text", "password", "dropdown", "toggle", "codehinter"}


def _typed_nodes(node: Any, path: str) -> Iterator[tuple[str, Any]]:
    if isinstance(node, list):
        for index, item in enumerate(node):
            yield from _typed_nodes(item, f"{path}[{index}]")
    elif isinstance(node, dict):
        if "type" in node:
            yield path, node["type"]
        for key, value in node.items():
            yield from _typed_nodes(value, f"{path}.{key}")


@pytest.mark.parametrize(
    ("doc", "widgets"),
    [(OPERATIONS, TOOLJET_OPERATION_WIDGETS), (MANIFEST, TOOLJET_MANIFEST_WIDGETS)],
    ids=["operations.json", "manifest.json"],
)
def test_every_typed_node_under_properties_is_a_tooljet_widget(doc: Any, widgets: set[str]) -> None:
    nodes = list(_typed_nodes(doc["properties"], "properties"))
    assert len(nodes) >= 9  # the walk reaches every field
    bad = [(path, kind) for path, kind in nodes if not (kind in widgets or isinstance(kind, dict))]
    assert bad == []


def test_value_schemas_stand_in_the_top_level_definitions() -> None:
    for op in OPERATION_NAMES:
        for raw in form_fields(op).values():
            assert set(raw["schema"]) == {"$ref"}
    assert all(set(raw["schema"]) == {"$ref"} for raw in MANIFEST["properties"].values())
    assert {"model", "maxTokens", "messages", "embeddingInput"} <= set(OPERATIONS["definitions"])
    assert {"httpUrl", "timeoutSeconds", "maxRetries"} <= set(MANIFEST["definitions"])


def test_cli_rule_and_test_rule_agree_on_the_widget_lists() -> None:
    from tooljet_portkey.cli import MANIFEST_WIDGETS, OPERATION_WIDGETS

    assert OPERATION_WIDGETS == TOOLJET_OPERATION_WIDGETS
    assert MANIFEST_WIDGETS == TOOLJET_MANIFEST_WIDGETS


def test_the_operation_list_and_the_streamable_operations_come_from_operations_json() -> None:
    from tooljet_portkey._spec import load_spec

    spec = load_spec()
    listed = [item["value"] for item in OPERATIONS["properties"]["operation"]["list"]]
    with_stream = [op for op in listed if "stream" in OPERATIONS["properties"][op]]
    assert (list(spec.operation_names), list(spec.streamable)) == (listed, with_stream)
    assert with_stream == ["completion", "chat", "prompt_completion"]


def test_every_header_field_is_a_field_of_an_operation() -> None:
    from tooljet_portkey._requests import HEADER_FIELDS, QUERY_HEADERS

    fields = {key for op, props in OPERATIONS["properties"].items() if op != "operation" for key in props}
    assert HEADER_FIELDS == set(QUERY_HEADERS) <= fields
