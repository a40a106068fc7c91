"""The playground's pure parts: what it derives from the two JSON files, the connection it keeps, the
chat and feedback queries it builds as a host, and the guards on every request."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from tooljet_portkey._operations import OPERATIONS as OPERATION_TABLE
from tooljet_portkey.playground import _host as host
from tooljet_portkey.playground._connection import ConnectionStore, effective_options
from tooljet_portkey.playground._forms import load_documents, operation_fields, operation_values, secret_keys
from tooljet_portkey.playground._server import check_loopback, host_allowed, host_port, redact, token_route

MANIFEST, OPERATIONS = load_documents()
TOKEN = "tok-ABCdef_123"


def with_chat_fields(**fields: dict[str, Any]) -> dict[str, Any]:
    """operations.json with the chat operation's fields replaced (a form of another version)."""
    doc = copy.deepcopy(OPERATIONS)
    doc["properties"]["chat"] = {key: {"label": key, "key": key, "type": "codehinter"} for key in fields}
    return doc


HISTORY_FORM = with_chat_fields(system_prompt={}, prompt={}, message_history={}, model={}, traceId={})
MESSAGES_FORM = with_chat_fields(messages={}, model={}, max_tokens={})
HISTORY = [
    {"message": "Hi", "type": "message"},
    {"message": "Hello! How can I help?", "type": "response"},
    {"message": "Query could not be completed", "type": "error"},
]


# -- the two JSON files ----------------------------------------------------------------------------


def test_secret_fields_follow_the_widget_type_and_the_encrypted_flag() -> None:
    assert secret_keys(MANIFEST) == {"apiKey", "virtualKey", "providerApiKey"}
    doc = copy.deepcopy(MANIFEST)
    doc["source"]["options"]["config"]["encrypted"] = True  # encrypted without a password widget
    assert secret_keys(doc) == {"apiKey", "virtualKey", "providerApiKey", "config"}


def test_operation_fields_are_the_files_own_with_common_fields_first() -> None:
    assert operation_values(OPERATIONS) == list(OPERATION_TABLE)  # the dropdown's, in its order
    assert operation_fields(OPERATIONS, "chat") == OPERATIONS["properties"]["chat"]
    assert operation_fields(OPERATIONS, "nope") == {}
    doc = copy.deepcopy(OPERATIONS)
    common = {"region": {"label": "Region", "key": "region", "type": "dropdown"}}
    doc["properties"]["operation"]["commonFields"] = common
    assert list(operation_fields(doc, "create_embedding")) == [
        "region",
        *OPERATIONS["properties"]["create_embedding"],
    ]


# -- the connection ---------------------------------------------------------------------------------


def test_the_view_says_set_for_secrets_and_never_holds_them() -> None:
    store = ConnectionStore(MANIFEST, {"apiKey": "pk-live-SECRET-4f9a0c", "provider": "openai"})
    store.update(
        {
            "config": '{"provider": "openai", "api_key": "sk-in-config-7781"}',
            "timeout": "30",
            "virtualKey": "vk-secret-0042",
        }
    )
    view = store.view()
    assert view["apiKey"] == {"set": True, "hidden": True}
    assert view["virtualKey"] == {"set": True, "hidden": True}
    assert view["providerApiKey"] == {"set": False}
    assert view["provider"] == {"set": True, "value": "openai"}
    assert view["timeout"] == {"set": True, "value": "30"}
    # a config holding a key is set, and not shown
    assert view["config"] == {"set": True, "hidden": True}
    text = json.dumps(view)
    for secret in ("pk-live-SECRET-4f9a0c", "sk-in-config-7781", "vk-secret-0042"):
        assert secret not in text
    assert set(store.secrets()) == {"pk-live-SECRET-4f9a0c", "sk-in-config-7781", "vk-secret-0042"}


def test_an_update_replaces_clears_and_counts_versions() -> None:
    store = ConnectionStore(MANIFEST, {"provider": "openai"})
    assert store.version == 0
    store.update({"provider": "  ", "maxRetries": "0"})
    assert store.options() == {"maxRetries": "0"}
    assert store.version == 1
    with pytest.raises(ValueError, match=r"^nope: not a field of manifest.json$"):
        store.update({"nope": "x"})
    with pytest.raises(ValueError, match=r"^timeout: the value must be text, as a host sends it$"):
        store.update({"timeout": 30})
    assert store.options() == {"maxRetries": "0"}
    assert store.version == 1


def test_the_simulator_answers_without_key_or_gateway_url_as_the_command_line_does() -> None:
    sim = "http://127.0.0.1:9/v1"
    assert effective_options({}, sim) == ({"provider": "openai", "gatewayUrl": sim}, True)
    assert effective_options({"virtualKey": "vk-1"}, sim) == ({"virtualKey": "vk-1", "gatewayUrl": sim}, True)
    assert effective_options({"apiKey": "pk-1"}, sim) == ({"apiKey": "pk-1"}, False)
    assert effective_options({"gatewayUrl": "http://gw/v1"}, sim) == ({"gatewayUrl": "http://gw/v1"}, False)


# -- the chat view's query ------------------------------------------------------------------------


def test_chat_mode_follows_the_chat_fields() -> None:
    assert host.chat_mode(HISTORY_FORM) == "history"
    assert host.chat_mode(MESSAGES_FORM) == "messages"
    doc = copy.deepcopy(OPERATIONS)
    del doc["properties"]["chat"]
    doc["properties"]["operation"]["list"] = [
        i for i in doc["properties"]["operation"]["list"] if i["value"] != "chat"
    ]
    assert host.chat_mode(doc) is None
    assert host.chat_fills("history") == ["prompt", "message_history"]
    assert host.chat_fills("messages") == ["messages"]
    assert host.chat_fills(None) == []


def test_with_prompt_and_history_fields_the_history_goes_in_chat_component_form() -> None:
    form = {"model": "gpt-4o-mini", "system_prompt": "Be brief.", "prompt": "old", "unknown": "x"}
    options = host.chat_options(HISTORY_FORM, form, HISTORY, "And now?")
    assert options == {
        "operation": "chat",
        "model": "gpt-4o-mini",
        "system_prompt": "Be brief.",
        "prompt": "And now?",
        "message_history": json.dumps(HISTORY),
    }


def test_without_them_the_conversation_becomes_the_messages_array() -> None:
    form = {"model": "gpt-4o-mini", "max_tokens": "64", "messages": '[{"role": "user", "content": "form"}]'}
    options = host.chat_options(MESSAGES_FORM, form, HISTORY, "And now?")
    assert options == {
        "operation": "chat",
        "model": "gpt-4o-mini",
        "max_tokens": "64",
        "messages": json.dumps(
            [
                {"role": "user", "content": "Hi"},
                {"role": "assistant", "content": "Hello! How can I help?"},
                {"role": "user", "content": "And now?"},
            ]
        ),
    }


def test_chat_options_refuse_a_form_without_a_chat() -> None:
    doc = with_chat_fields(model={})
    with pytest.raises(ValueError, match="no chat operation with messages to fill"):
        host.chat_options(doc, {}, [], "Hi")


def test_a_blank_trace_id_is_made_up_and_a_given_one_is_kept() -> None:
    options = {"operation": "chat", "traceId": " "}
    made = host.assign_trace_id(HISTORY_FORM, options)
    assert made is not None and made.startswith("playground-") and len(made) == len("playground-") + 32
    assert options["traceId"] == made
    assert host.assign_trace_id(HISTORY_FORM, {"operation": "chat", "traceId": " mine "}) == "mine"
    assert host.assign_trace_id(MESSAGES_FORM, {"operation": "chat"}) is None  # no trace id field
    assert host.query_trace_id(HISTORY_FORM, {"operation": "chat"}) is None


# -- thumbs up and down -------------------------------------------------------------------------------


def test_feedback_needs_an_operation_with_a_trace_id_and_a_value() -> None:
    doc = copy.deepcopy(OPERATIONS)
    doc["properties"]["operation"]["list"].append({"value": "feedback", "name": "Feedback"})
    doc["properties"]["feedback"] = {
        key: {"label": key, "key": key, "type": "codehinter"} for key in ("traceId", "value", "weight")
    }
    assert host.feedback_supported(doc)
    del doc["properties"]["feedback"]["value"]
    assert not host.feedback_supported(doc)
    assert host.feedback_options("trace-1", "up") == {
        "operation": "feedback",
        "traceId": "trace-1",
        "value": "1",
    }
    assert host.feedback_options("trace-1", "down") == {
        "operation": "feedback",
        "traceId": "trace-1",
        "value": "-1",
    }
    with pytest.raises(ValueError, match="rating must be one of up, down"):
        host.feedback_options("trace-1", "meh")


def test_feedback_support_follows_the_shipped_operations_json() -> None:
    fields = operation_fields(OPERATIONS, "feedback")
    assert host.feedback_supported(OPERATIONS) == ("traceId" in fields and "value" in fields)


# -- stream texts -----------------------------------------------------------------------------------


def test_chunk_text_reads_chat_deltas_and_completion_text() -> None:
    assert (
        host.chunk_text({"choices": [{"delta": {"content": "Hel"}}, {"delta": {"content": "lo"}}]}) == "Hello"
    )
    assert host.chunk_text({"choices": [{"text": " world"}]}) == " world"
    assert host.chunk_text({"choices": [{"delta": {"role": "assistant"}}, "junk"]}) == ""
    assert host.chunk_text({}) == ""


def test_stream_metadata_holds_what_the_chunks_said() -> None:
    assert host.stream_metadata(3, None, None) == {"streamed": True, "chunks": 3}
    usage = {"prompt_tokens": 1, "completion_tokens": 2, "total_tokens": 3}
    assert host.stream_metadata(4, usage, "t-1") == {
        "streamed": True,
        "chunks": 4,
        "traceId": "t-1",
        "usage": usage,
    }


# -- the guards --------------------------------------------------------------------------------------


def test_only_loopback_addresses_are_served() -> None:
    assert check_loopback("127.0.0.1") == "127.0.0.1"
    assert check_loopback("::1") == "::1"
    with pytest.raises(ValueError, match=r"loopback only: 0\.0\.0\.0 is not a loopback address"):
        check_loopback("0.0.0.0")
    with pytest.raises(
        ValueError, match=r"must be a loopback IP address such as 127\.0\.0\.1 or ::1, not 'localhost'$"
    ):
        check_loopback("localhost")


def test_the_host_header_must_name_the_bound_address_and_port() -> None:
    expected = host_port("127.0.0.1", 8123)
    assert expected == "127.0.0.1:8123"
    assert host_port("::1", 8123) == "[::1]:8123"
    assert host_allowed("127.0.0.1:8123", expected)
    for header in (
        None,
        "",
        "localhost:8123",
        "127.0.0.1",
        "127.0.0.1:8124",
        "evil.example:8123",
        "127.0.0.2:8123",
    ):
        assert not host_allowed(header, expected), header


def test_the_token_is_the_first_path_segment() -> None:
    assert token_route(f"/{TOKEN}", TOKEN) == ""
    assert token_route(f"/{TOKEN}/", TOKEN) == "/"
    assert token_route(f"/{TOKEN}/api/run", TOKEN) == "/api/run"
    for path in ("/", "", "/api/run", f"/{TOKEN}x/", f"/x{TOKEN}/", f"/{TOKEN[:-1]}/", "/%ff/"):
        assert token_route(path, TOKEN) is None, path


def test_redact_replaces_raw_and_json_escaped_secrets() -> None:
    secret = 'pk-"quoted"-1234'
    text = json.dumps({"a": secret, "b": "pk-plain-5678 and more"})
    assert redact(text, (secret, "pk-plain-5678")) == '{"a": "***", "b": "*** and more"}'
