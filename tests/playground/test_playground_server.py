"""The playground's server over real HTTP on loopback, without a browser: the token and Host guards, the
endpoints the page uses (each query answered by the embedded simulator, or by a hosted-profile
simulator when the connection has an API key), and that no key typed into the page ever comes back."""

from __future__ import annotations

import json
import re
import selectors
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest
from playground_support import CHAT_MESSAGES, CONFIG_SECRET, SECRET, VIRTUAL_SECRET, Recorder

from tooljet_portkey import QueryError, QueryService
from tooljet_portkey.cli import main
from tooljet_portkey.playground import Playground
from tooljet_portkey.playground import _host as host
from tooljet_portkey.playground._forms import load_documents
from tooljet_portkey.simulator import Simulator

MANIFEST, OPERATIONS = load_documents()
CHAT = {"operation": "chat", "model": "gpt-4o-mini", "messages": CHAT_MESSAGES, "max_tokens": "64"}
# The required fields of each operation, as a user types them
EVERY_OPERATION = {
    "completion": ({"prompt": "Write a tagline", "model": "gpt-3.5-turbo-instruct"}, "/v1/completions"),
    "chat": ({"messages": CHAT_MESSAGES, "model": "gpt-4o-mini"}, "/v1/chat/completions"),
    "prompt_completion": (
        {"promptId": "pp-demo", "variables": '{"audience": "builders", "topic": "gateways"}'},
        "/v1/prompts/pp-demo/completions",
    ),
    "create_embedding": (
        {"input": "The food was delicious.", "model": "text-embedding-3-small"},
        "/v1/embeddings",
    ),
}
# The operations that are no completion: the fields a user types, the method and path the simulator sees
MORE_OPERATIONS = {
    "image_generation": ({"prompt": "A lighthouse", "model": "dall-e-3", "output": "images"}, "POST",
                         "/v1/images/generations"),
    "prompt_render": ({"promptId": "pp-demo", "variables": '{"topic": "gateways"}', "output": "text"}, "POST",
                      "/v1/prompts/pp-demo/render"),
    "list_models": ({"limit": "2", "output": "text"}, "GET", "/v1/models"),
    "feedback": ({"traceId": "trace-1", "value": "1"}, "POST", "/v1/feedback"),
}  # fmt: skip
HAS_INVOKE_METHOD = callable(getattr(QueryService, "invoke_method", None))
FEEDBACK = host.feedback_supported(OPERATIONS)
CHAT_MODE = host.chat_mode(OPERATIONS)


def direct_answer(sim: Simulator, options: dict[str, str]) -> dict[str, Any]:
    """The same query asked through QueryService directly, as the command line would."""
    with QueryService() as service:
        return service.run({"gatewayUrl": sim.url, "provider": "openai"}, options)


# -- the guards -------------------------------------------------------------------------------------


def test_the_url_is_loopback_with_a_long_random_token(playground: Playground) -> None:
    match = re.fullmatch(r"http://127\.0\.0\.1:(\d+)/([A-Za-z0-9_-]{32})/", playground.url)
    assert match is not None, playground.url
    assert int(match.group(1)) == playground.port
    assert match.group(2) == playground.token
    with Playground() as other:
        assert other.token != playground.token


def test_the_page_comes_with_headers_that_forbid_loading_anything_else(client: Recorder) -> None:
    page = client.get("")
    assert page.status_code == 200
    assert page.headers["content-type"] == "text/html; charset=utf-8"
    assert page.headers["content-security-policy"] == (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
        "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    )
    assert page.headers["cache-control"] == "no-store"
    assert page.headers["x-content-type-options"] == "nosniff"
    assert page.headers["referrer-policy"] == "no-referrer"
    links = re.findall(r'(?:src|href)="([^"]*)"', page.text)
    assert sorted(set(links)) == ["static/icon.svg", "static/playground.css", "static/playground.js"]
    for name, kind in (
        ("playground.js", "text/javascript; charset=utf-8"),
        ("playground.css", "text/css; charset=utf-8"),
        ("icon.svg", "image/svg+xml"),
    ):
        response = client.get(f"static/{name}")
        assert (response.status_code, response.headers["content-type"]) == (200, kind)
        if name != "icon.svg":  # the icon names its XML namespace; the page's own code loads nothing
            assert not re.search(r"https?:|url\(|@import|import\(|XMLHttpRequest|WebSocket", response.text)
    assert client.get("static/../../cli.py").status_code == 404


def test_the_page_names_no_field_of_the_two_files(client: Recorder) -> None:
    """The renderer is generic: no connection or query field key appears as a string in its code."""
    script = client.get("static/playground.js").text
    keys = set(MANIFEST["properties"])
    for operation, fields in OPERATIONS["properties"].items():
        if operation != "operation":
            keys |= set(fields)
    # words the page uses for something else: the QueryResult's metadata and its traceId row, and the
    # HTML element a text box is
    keys -= {"metadata", "traceId", "input"}
    named = [key for key in sorted(keys) if re.search(rf"[\"'`]{re.escape(key)}[\"'`]", script)]
    assert named == []


def test_the_token_guards_every_path(playground: Playground, client: Recorder) -> None:
    base = f"http://{playground.address}"
    for path in ("/", "/api/state", "/static/playground.js", f"/{playground.token[:-1]}/api/state", "/x/"):
        response = httpx.get(base + path)
        assert response.status_code == 404, path
        assert response.text == "Not found: open the URL the playground printed (it carries the token)\n"
    posted = httpx.post(base + "/api/run", json={"options": CHAT})
    assert posted.status_code == 404
    assert playground.simulator.requests == []
    redirect = httpx.get(f"{base}/{playground.token}")
    assert (redirect.status_code, redirect.headers["location"]) == (308, f"/{playground.token}/")


@pytest.mark.parametrize(
    "host_header", ["localhost:{port}", "evil.example:{port}", "127.0.0.1:1", "127.0.0.1", "[::1]:{port}"]
)
def test_a_foreign_host_header_is_refused(playground: Playground, host_header: str) -> None:
    """A page whose DNS name was rebound to 127.0.0.1 sends its own name as Host: refused."""
    header = host_header.format(port=playground.port)
    response = httpx.get(playground.url + "api/state", headers={"host": header})
    assert response.status_code == 403
    assert response.text == "Forbidden: the Host header must be the playground's own address\n"
    posted = httpx.post(playground.url + "api/run", json={"options": CHAT}, headers={"host": header})
    assert posted.status_code == 403
    assert playground.simulator.requests == []


def test_a_request_without_host_is_refused(playground: Playground) -> None:
    with socket.create_connection((playground.host, playground.port), timeout=30) as sock:
        sock.sendall(f"GET /{playground.token}/api/state HTTP/1.1\r\nConnection: close\r\n\r\n".encode())
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    assert answer.startswith(b"HTTP/1.1 403 ")


def test_posts_must_be_json_from_the_page_itself(playground: Playground, client: Recorder) -> None:
    other = client.post("api/run", {"options": CHAT}, headers={"origin": "http://evil.example"})
    assert (other.status_code, other.json()) == (403, {"error": "Forbidden: a request from another origin"})
    same = client.post("api/run", {"options": CHAT}, headers={"origin": f"http://{playground.address}"})
    assert same.json()["status"] == "ok"
    form = client.client.post(
        "api/run", content=json.dumps({"options": CHAT}), headers={"content-type": "text/plain"}
    )
    assert (form.status_code, form.json()) == (415, {"error": "POST bodies must be application/json"})
    bad = client.client.post("api/run", content=b"{", headers={"content-type": "application/json"})
    assert (bad.status_code, bad.json()) == (400, {"error": "the body is not JSON"})
    listed = client.post("api/run", [CHAT])
    assert (listed.status_code, listed.json()) == (400, {"error": "the body must be a JSON object"})
    put = client.client.put("api/run", json={})
    assert (put.status_code, put.json()) == (405, {"error": "Method not allowed"})
    assert len(playground.simulator.requests) == 1


def test_non_loopback_addresses_are_refused() -> None:
    with pytest.raises(ValueError, match="loopback only"):
        Playground("0.0.0.0")


# -- the forms and the state ------------------------------------------------------------------------


def test_spec_is_the_two_files_and_state_holds_no_secret(client: Recorder, playground: Playground) -> None:
    spec = client.get("api/spec").json()
    assert (spec["manifest"], spec["operations"]) == (MANIFEST, OPERATIONS)
    assert spec["layout"] == playground.layout  # playground_forms.json, as the page draws it
    state = client.get("api/state").json()
    assert state == {
        "connection": {key: {"set": False} for key in MANIFEST["properties"]},
        "simulator": {"active": True, "url": playground.simulator.url},
        "streamable": ["completion", "chat", "prompt_completion"],
        "invokeMethod": HAS_INVOKE_METHOD,
        "chat": {
            "operation": "chat",
            "mode": CHAT_MODE,
            "fills": host.chat_fills(CHAT_MODE),
            "feedback": FEEDBACK,
        },
    }


def test_saving_a_gateway_url_turns_the_simulator_off_and_clearing_it_back_on(
    client: Recorder, hosted: Simulator
) -> None:
    saved = client.post(
        "api/connection", {"changes": {"gatewayUrl": hosted.url, "provider": "openai"}}
    ).json()
    assert saved["simulator"]["active"] is False
    assert saved["connection"]["gatewayUrl"] == {"set": True, "value": hosted.url}
    cleared = client.post("api/connection", {"changes": {"gatewayUrl": ""}}).json()
    assert cleared["simulator"]["active"] is True
    assert cleared["connection"]["gatewayUrl"] == {"set": False}
    assert cleared["connection"]["provider"] == {"set": True, "value": "openai"}


def test_a_bad_connection_change_is_refused_by_name(client: Recorder) -> None:
    unknown = client.post("api/connection", {"changes": {"apiKeyy": "x"}})
    assert (unknown.status_code, unknown.json()) == (400, {"error": "apiKeyy: not a field of manifest.json"})
    number = client.post("api/connection", {"changes": {"timeout": 30}})
    assert (number.status_code, number.json()) == (
        400,
        {"error": "changes must be an object of text values, as a host sends them"},
    )


def test_test_connection_on_the_embedded_simulator(client: Recorder, playground: Playground) -> None:
    assert client.post("api/test-connection", {}).json()["status"] == "ok"
    assert [(r.method, r.path) for r in playground.simulator.requests] == [("GET", "/v1/models")]


# -- queries ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("operation", list(EVERY_OPERATION))
def test_every_operation_runs_on_the_embedded_simulator(
    operation: str, client: Recorder, playground: Playground
) -> None:
    fields, path = EVERY_OPERATION[operation]
    options = {"operation": operation, **fields}
    result = client.post("api/run", {"options": options}).json()
    (request,) = playground.simulator.requests
    assert (request.method, request.path) == ("POST", path)
    assert request.headers["x-portkey-provider"] == "openai"
    expected = direct_answer(playground.simulator, options)
    for answer in (result, expected):
        answer["data"].pop("id", None)
        answer["data"].pop("created", None)
        answer["metadata"].pop("traceId")
    assert result == expected
    assert result["status"] == "ok"


@pytest.mark.parametrize("operation", list(MORE_OPERATIONS))
def test_the_other_operations_run_on_the_embedded_simulator(
    operation: str, client: Recorder, playground: Playground
) -> None:
    fields, method, path = MORE_OPERATIONS[operation]
    options = {"operation": operation, **fields}
    result = client.post("api/run", {"options": options}).json()
    (request,) = playground.simulator.requests
    assert (request.method, request.path) == (method, path)
    expected = direct_answer(playground.simulator, options)
    for answer in (result, expected):
        if isinstance(answer["data"], dict):
            answer["data"].pop("created", None)
            answer["data"].pop("feedback_ids", None)
        answer["metadata"].pop("traceId")
    assert result == expected
    assert result["status"] == "ok"


def test_values_reach_the_plugin_as_text(client: Recorder, playground: Playground) -> None:
    result = client.post("api/run", {"options": {**CHAT, "temperature": "0.5", "stream": "false"}}).json()
    assert result["status"] == "ok"
    assert playground.simulator.requests[-1].json == {
        "model": "gpt-4o-mini",
        "messages": [{"role": "user", "content": "Hello"}],
        "max_tokens": 64,
        "temperature": 0.5,
    }
    typed = client.post("api/run", {"options": {**CHAT, "max_tokens": 64}})
    assert (typed.status_code, typed.json()) == (
        400,
        {"error": "options must be an object of text values, as a host sends them"},
    )


def test_bad_json_in_messages_is_the_field_named_query_error(
    client: Recorder, playground: Playground
) -> None:
    result = client.post("api/run", {"options": {**CHAT, "messages": "[{bad"}}).json()
    description = (
        "messages: is not valid JSON (Expecting property name enclosed in double quotes: line 1 column 3 "
        "(char 2))"
    )
    assert result == {
        "status": "failed",
        "errorMessage": description,
        "message": "Invalid query options",
        "description": description,
        "data": {"field": "messages"},
    }
    assert playground.simulator.requests == []


def test_a_provider_error_comes_back_as_the_query_error(client: Recorder, playground: Playground) -> None:
    playground.simulator.inject(
        path="/chat/completions", status=400, body={"error": {"message": "No.", "type": "x"}}
    )
    result = client.post("api/run", {"options": {**CHAT, "traceId": "trace-err"}}).json()
    assert result["status"] == "failed"
    assert (result["message"], result["description"]) == ("Query could not be completed", "No.")
    assert result["data"] == {
        "statusCode": 400,
        "errorType": "x",
        "traceId": "trace-err",
        "retries": 0,
        "retryAttemptCount": 0,
    }


# -- streams ---------------------------------------------------------------------------------------


def test_a_stream_sends_each_chunk_then_the_assembled_answer(
    client: Recorder, playground: Playground
) -> None:
    events = client.events("api/stream", {"options": {**CHAT, "traceId": "trace-stream"}})
    names = [name for name, _ in events]
    assert names[0] == "start" and names[-1] == "done"
    assert set(names[1:-1]) == {"chunk"} and len(names) > 5
    assert events[0][1] == {"traceId": "trace-stream"}
    text = "".join(data["text"] for name, data in events if name == "chunk")
    done = events[-1][1]
    assert done["status"] == "ok"
    assert done["data"]["choices"][0]["message"]["content"] == text
    unstreamed = direct_answer(playground.simulator, CHAT)
    # the plugin asks for the usage chunk, so a streamed answer counts its tokens as an unstreamed one
    assert done["metadata"] == {
        "streamed": True,
        "chunks": len(names) - 2,
        "traceId": "trace-stream",
        "usage": unstreamed["data"]["usage"],
        "cost": unstreamed["metadata"]["cost"],  # what the same answer costs unstreamed (docs/cost.md)
    }
    assert done["metadata"]["cost"]["total"] > 0
    assert playground.simulator.requests[-2].headers["x-portkey-trace-id"] == "trace-stream"
    assert playground.simulator.requests[-2].json["stream"] is True
    assert text == unstreamed["data"]["choices"][0]["message"]["content"]


def test_a_stream_shows_the_chunks_whatever_the_output_mode(client: Recorder, playground: Playground) -> None:
    whole = client.events("api/stream", {"options": {**CHAT, "traceId": "t-full"}})
    text = client.events("api/stream", {"options": {**CHAT, "traceId": "t-text", "output": "text"}})
    assert [name for name, _ in text] == [name for name, _ in whole]
    assert [data["text"] for name, data in text if name == "chunk"] == [
        data["text"] for name, data in whole if name == "chunk"
    ]
    assert text[-1][1]["data"]["object"] == "chat.completion"


def test_stream_refusals_arrive_as_error_events(client: Recorder, playground: Playground) -> None:
    (bad,) = client.events("api/stream", {"options": {**CHAT, "messages": "[{bad"}})
    assert bad[0] == "error" and bad[1]["data"] == {"field": "messages"}
    fields, _ = EVERY_OPERATION["create_embedding"]
    (refused,) = client.events("api/stream", {"options": {"operation": "create_embedding", **fields}})
    assert refused == (
        "error",
        {
            "status": "failed",
            "errorMessage": "operation: create_embedding cannot be streamed",
            "message": "Invalid query options",
            "description": "operation: create_embedding cannot be streamed",
            "data": {"field": "operation"},
        },
    )
    assert playground.simulator.requests == []


def test_a_stream_cut_short_ends_with_its_error(client: Recorder, playground: Playground) -> None:
    playground.simulator.inject(path="/chat/completions", status=None, drop_after=3)
    events = client.events("api/stream", {"options": CHAT})
    assert [name for name, _ in events] == ["chunk", "chunk", "chunk", "error"]
    error = events[-1][1]
    assert error["message"] == "Query could not be completed"
    assert error["description"].startswith("The connection was lost after 3 chunks")
    assert error["data"]["errorType"] == "stream_truncated"


# -- the chat view -------------------------------------------------------------------------------------

HISTORY = [
    {"message": "Hi", "type": "message"},
    {"message": "Hello! How can I help?", "type": "response"},
    {"message": "Query could not be completed", "type": "error"},
]


@pytest.mark.skipif(
    CHAT_MODE != "messages", reason="the chat operation has prompt and message_history fields"
)
def test_a_chat_turn_sends_the_conversation_as_messages(client: Recorder, playground: Playground) -> None:
    fields = {"model": "gpt-4o-mini", "max_tokens": "32", "messages": "ignored", "stream": "false"}
    events = client.events("api/chat", {"history": HISTORY, "prompt": "And now?", "fields": fields})
    assert events[0][0] == "start" and events[-1][0] == "done"
    trace_id = events[0][1]["traceId"]
    assert re.fullmatch(r"playground-[0-9a-f]{32}", trace_id)
    (request,) = playground.simulator.requests
    assert request.headers["x-portkey-trace-id"] == trace_id
    assert request.json == {
        "model": "gpt-4o-mini",
        "max_tokens": 32,
        "stream": True,
        "messages": [
            {"role": "user", "content": "Hi"},
            {"role": "assistant", "content": "Hello! How can I help?"},
            {"role": "user", "content": "And now?"},
        ],
    }
    assert events[-1][1]["metadata"]["traceId"] == trace_id


@pytest.mark.skipif(
    CHAT_MODE != "history",
    reason="operations.json's chat has no prompt and message_history fields yet (issue 11's chat fields)",
)
def test_a_chat_turn_sends_prompt_and_history_in_chat_component_form(
    client: Recorder, playground: Playground
) -> None:  # pragma: no cover - runs once the chat fields exist
    fields = {"model": "gpt-4o-mini", "system_prompt": "Be brief."}
    events = client.events("api/chat", {"history": HISTORY, "prompt": "And now?", "fields": fields})
    assert events[-1][0] == "done", events[-1]
    (request,) = playground.simulator.requests
    assert request.json["messages"] == [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Hi"},
        {"role": "assistant", "content": "Hello! How can I help?"},
        {"role": "user", "content": "And now?"},
    ]


def test_a_chat_turn_needs_a_message_and_a_history_of_chat_entries(
    client: Recorder, playground: Playground
) -> None:
    empty = client.post("api/chat", {"history": [], "prompt": " ", "fields": {}})
    assert (empty.status_code, empty.json()) == (400, {"error": "prompt must be a non-empty message"})
    odd = client.post("api/chat", {"history": [{"role": "user"}], "prompt": "Hi", "fields": {}})
    assert (odd.status_code, odd.json()) == (
        400,
        {"error": "history must be a list of {message, type} objects"},
    )
    assert playground.simulator.requests == []


@pytest.mark.skipif(FEEDBACK, reason="operations.json has a feedback operation")
def test_without_a_feedback_operation_there_is_nothing_to_rate(client: Recorder) -> None:
    response = client.post("api/feedback", {"traceId": "t-1", "rating": "up"})
    assert (response.status_code, response.json()) == (
        404,
        {"error": "operations.json has no feedback operation"},
    )


@pytest.mark.skipif(
    not FEEDBACK, reason="operations.json has no feedback operation yet (issue 12's feedback)"
)
def test_thumbs_send_the_feedback_operation_with_the_trace_id(
    client: Recorder, playground: Playground
) -> None:
    for rating, value in (("up", 1), ("down", -1)):
        result = client.post("api/feedback", {"traceId": "trace-rated", "rating": rating}).json()
        assert result["status"] == "ok", result
        request = playground.simulator.requests[-1]
        assert (request.method, request.path) == ("POST", "/v1/feedback")
        assert request.json["trace_id"] == "trace-rated"
        assert request.json["value"] == value
    bad = client.post("api/feedback", {"traceId": "trace-rated", "rating": "meh"})
    assert (bad.status_code, bad.json()) == (400, {"error": "rating must be one of up, down"})


# -- dynamic-selector ------------------------------------------------------------------------------


class ListingService(QueryService):
    """A service with the invoke_method a live model dropdown calls; it records each call."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: list[tuple[str, dict[str, str], Any]] = []

    def invoke_method(
        self, method_name: str, source_options: dict[str, str], args: Any = None
    ) -> dict[str, Any]:
        self.calls.append((method_name, source_options, args))
        if method_name != "listModels":
            raise QueryError("Invalid method", f"unknown method {method_name}", {"field": "method"})
        return {"status": "ok", "data": [{"value": "gpt-4o-mini", "label": "gpt-4o-mini"}]}


def test_invoke_forwards_to_the_services_invoke_method() -> None:
    with ListingService() as service, Playground(service=service) as playground:
        recorder = Recorder(playground)
        try:
            assert recorder.get("api/state").json()["invokeMethod"] is True
            listed = recorder.post(
                "api/invoke", {"method": "listModels", "args": {"operation": "chat"}}
            ).json()
            unknown = recorder.post("api/invoke", {"method": "nope", "args": None}).json()
            missing = recorder.post("api/invoke", {"args": {}})
        finally:
            recorder.close()
        sim_url = playground.simulator.url
    assert listed == {"status": "ok", "data": [{"value": "gpt-4o-mini", "label": "gpt-4o-mini"}]}
    assert unknown["status"] == "failed" and unknown["description"] == "unknown method nope"
    assert (missing.status_code, missing.json()) == (400, {"error": "method must be a method name"})
    assert service.calls == [
        ("listModels", {"provider": "openai", "gatewayUrl": sim_url}, {"operation": "chat"}),
        ("nope", {"provider": "openai", "gatewayUrl": sim_url}, None),
    ]


@pytest.mark.skipif(HAS_INVOKE_METHOD, reason="QueryService has invoke_method")
def test_without_invoke_method_the_selector_is_a_text_box(client: Recorder) -> None:
    assert client.get("api/state").json()["invokeMethod"] is False
    response = client.post("api/invoke", {"method": "listModels", "args": {"operation": "chat"}})
    assert (response.status_code, response.json()) == (
        404,
        {"error": "this version of the plugin has no invoke_method"},
    )


@pytest.mark.skipif(
    not HAS_INVOKE_METHOD, reason="QueryService has no invoke_method yet (issue 12's live model dropdown)"
)
def test_list_models_fills_the_selector_from_the_simulator(
    client: Recorder,
) -> None:
    result = client.post("api/invoke", {"method": "listModels", "args": {"operation": "chat"}}).json()
    assert result["status"] == "ok", result
    # with its published price (docs/cost.md)
    assert {"value": "gpt-4o-mini", "label": "gpt-4o-mini \u00b7 $0.15 / $0.60 per 1M tokens"} in result[
        "data"
    ]


# -- secrets ---------------------------------------------------------------------------------------


def test_keys_typed_into_the_page_never_come_back(client: Recorder, hosted: Simulator) -> None:
    changes = {
        "apiKey": SECRET,
        "virtualKey": VIRTUAL_SECRET,
        "config": json.dumps({"provider": "openai", "api_key": CONFIG_SECRET}),
        "gatewayUrl": hosted.url,
        "maxRetries": "0",
    }
    saved = client.post("api/connection", {"changes": changes}).json()
    assert saved["connection"]["apiKey"] == {"set": True, "hidden": True}
    assert saved["connection"]["config"] == {"set": True, "hidden": True}
    assert saved["simulator"]["active"] is False
    client.get("")
    client.get("static/playground.js")
    client.get("api/state")
    client.get("api/spec")
    assert client.post("api/test-connection", {}).json()["status"] == "ok"
    assert client.post("api/run", {"options": CHAT}).json()["status"] == "ok"
    client.events("api/stream", {"options": CHAT})
    client.events("api/chat", {"history": [], "prompt": "Hi", "fields": {"model": "gpt-4o-mini"}})
    # Portkey quoting a key back in an error
    hosted.inject(status=401, body={"error": {"message": f"Invalid API key {SECRET} ({CONFIG_SECRET})"}})
    failed = client.post("api/run", {"options": CHAT}).json()
    assert failed["description"] == "Invalid API key *** (***)"
    hosted.inject(status=401, body={"error": {"message": f"Invalid virtual key {VIRTUAL_SECRET}"}})
    events = client.events("api/stream", {"options": CHAT})
    assert events[-1][1]["description"] == "Invalid virtual key ***"
    client.post("api/connection", {"changes": {"timeout": "30"}})

    # the keys were used ...
    assert {r.headers["x-portkey-api-key"] for r in hosted.requests} == {SECRET}
    assert {r.headers["x-portkey-virtual-key"] for r in hosted.requests} == {VIRTUAL_SECRET}
    # ... and never came back
    assert len(client.bodies) == 12
    for body in client.bodies:
        for secret in (SECRET, VIRTUAL_SECRET, CONFIG_SECRET):
            assert secret not in body


class LeakyService(QueryService):
    """A service that (wrongly) puts a key in its answer: the playground still keeps it in."""

    def run(self, source_options: Any, query_options: Any, *args: Any) -> dict[str, Any]:
        return {"status": "ok", "data": {"echo": dict(source_options)}, "metadata": {}}


def test_a_key_in_an_answer_is_scrubbed_before_it_leaves() -> None:
    with LeakyService() as service, Playground(service=service) as playground:
        recorder = Recorder(playground)
        try:
            recorder.post(
                "api/connection", {"changes": {"apiKey": SECRET, "gatewayUrl": "http://127.0.0.1:9/v1"}}
            )
            result = recorder.post("api/run", {"options": CHAT}).json()
        finally:
            recorder.close()
    assert result["data"]["echo"] == {"apiKey": "***", "gatewayUrl": "http://127.0.0.1:9/v1"}


# -- the command ------------------------------------------------------------------------------------


def _clean_env() -> dict[str, str]:
    import os

    return {k: v for k, v in os.environ.items() if not k.startswith("PORTKEY_")}


def _first_line(process: subprocess.Popen[str], timeout: float = 60) -> str:
    assert process.stdout is not None
    with selectors.DefaultSelector() as selector:
        selector.register(process.stdout, selectors.EVENT_READ)
        assert selector.select(timeout), "the playground printed no URL"
    return process.stdout.readline().strip()


@pytest.mark.parametrize("with_key", [False, True])
def test_the_command_prints_its_url_and_serves_until_stopped(with_key: bool, hosted: Simulator) -> None:
    env = _clean_env()
    if with_key:
        env.update(PORTKEY_API_KEY=SECRET, PORTKEY_GATEWAY_URL=hosted.url)
    process = subprocess.Popen(
        [sys.executable, "-m", "tooljet_portkey", "playground", "--no-browser"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        url = _first_line(process)
        assert re.fullmatch(r"http://127\.0\.0\.1:\d+/[A-Za-z0-9_-]{32}/", url), url
        state = httpx.get(url + "api/state", timeout=30).json()
        page = httpx.get(url, timeout=30)
    finally:
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=30)
    assert process.returncode == 0
    assert page.status_code == 200
    assert state["simulator"]["active"] is not with_key
    assert state["connection"]["apiKey"] == ({"set": True, "hidden": True} if with_key else {"set": False})
    lines = err.splitlines()
    assert lines[0] == (
        "tooljet-portkey playground: serving the page above on loopback (the URL carries this session's "
        "token); Ctrl-C stops it"
    )
    simulator_note = (
        "tooljet-portkey playground: no API key or gateway URL given: queries are answered by the offline "
        "Portkey simulator until the page saves one"
    )
    assert (simulator_note in lines) is not with_key
    assert lines[-1] == "tooljet-portkey playground: stopped"
    assert out == ""
    assert SECRET not in err


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (
            ["--host", "0.0.0.0"],
            "tooljet-portkey playground: error: the playground serves on loopback only: 0.0.0.0 is not a "
            "loopback address",
        ),
        (
            ["--host", "localhost"],
            "tooljet-portkey playground: error: --host must be a loopback IP address such as 127.0.0.1 or "
            "::1, not 'localhost'",
        ),
        (["--port", "70000"], "tooljet-portkey playground: error: --port must be from 0 to 65535"),
    ],
)
def test_usage_errors_are_one_line(argv: list[str], message: str) -> None:
    import io

    out, err = io.StringIO(), io.StringIO()
    assert main(["playground", "--no-browser", *argv], environ={}, stdout=out, stderr=err) == 2
    assert err.getvalue() == message + "\n"
    assert out.getvalue() == ""


def test_a_busy_port_is_one_line() -> None:
    import io

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        err = io.StringIO()
        code = main(
            ["playground", "--no-browser", "--port", str(port)], environ={}, stdout=io.StringIO(), stderr=err
        )
    assert code == 1
    assert (
        err.getvalue()
        == f"tooljet-portkey playground: cannot listen on 127.0.0.1:{port}: Address already in use\n"
    )


# -- a key split across stream chunks ------------------------------------------------------------------


class EchoingGateway(ThreadingHTTPServer):
    """A loopback gateway that streams a chat answer in the pieces a test gives, one chunk each: as a
    provider may echo a key it was sent, cut anywhere."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _EchoHandler)
        self.pieces: list[list[str]] = []  # per chunk, the content of each choice

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/v1"


class _EchoHandler(BaseHTTPRequestHandler):
    server: EchoingGateway

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers["content-length"]))
        self.send_response(200)
        self.send_header("content-type", "text/event-stream")
        self.end_headers()
        for contents in self.server.pieces:
            choices = [{"index": i, "delta": {"content": text}} for i, text in enumerate(contents)]
            chunk = {"id": "c1", "object": "chat.completion.chunk", "model": "m", "choices": choices}
            self.wfile.write(f"data: {json.dumps(chunk)}\n\n".encode())
            self.wfile.flush()
        self.wfile.write(b"data: [DONE]\n\n")


@pytest.fixture(scope="module")
def echoing() -> Iterator[EchoingGateway]:
    server = EchoingGateway()
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()
    thread.join()


HALF = len(SECRET) // 2
SPLIT_KEY_CASES = [
    # (the content of each chunk, one list per chunk with a text per choice; the text of each chunk event;
    # the assembled answer's choices)
    ([[f"Your key is {SECRET[:HALF]}"], [f"{SECRET[HALF:]}, keep it safe."]],
     ["Your key is ", "***, keep it safe."], ["Your key is ***, keep it safe."]),
    # a character at a time
    ([[c] for c in f"key:{SECRET}!"], ["k", "e", "y", ":", *[""] * (len(SECRET) - 1), "***", "!"],
     ["key:***!"]),
    # the start of the key, then something else: sent once it is known not to be the key
    ([[f"see {SECRET[:HALF]}"], ["x and more"]], ["see ", f"{SECRET[:HALF]}x and more"],
     [f"see {SECRET[:HALF]}x and more"]),
    # an answer that ends with what could start a key: held to the end, then sent in one more event
    ([["a p"], ["k"]], ["a ", "", "pk"], ["a pk"]),
    # two choices, the key split in choice 0 with a chunk of choice 1 between the halves
    ([[SECRET[:HALF], "one"], ["", "two"], [SECRET[HALF:], ""]], ["one", "two", "***"], ["***", "onetwo"]),
]  # fmt: skip


@pytest.mark.parametrize(("pieces", "texts", "answer"), SPLIT_KEY_CASES)
def test_a_key_split_across_chunks_never_reaches_the_page(
    client: Recorder, echoing: EchoingGateway, pieces: list[list[str]], texts: list[str], answer: list[str]
) -> None:
    echoing.pieces = pieces
    changes = {"apiKey": SECRET, "gatewayUrl": echoing.url, "provider": "openai", "maxRetries": "0"}
    assert client.post("api/connection", {"changes": changes}).json()["simulator"]["active"] is False
    events = client.events("api/stream", {"options": CHAT})
    assert [name for name, _ in events] == ["chunk"] * len(texts) + ["done"]
    assert [data for _, data in events[:-1]] == [{"text": text} for text in texts]
    done = events[-1][1]
    assert done["status"] == "ok"
    assert [choice["message"]["content"] for choice in done["data"]["choices"]] == answer
    unpriced = (
        "cost: no price for m of provider openai (Portkey-AI/models 2026-08-21; set the connection's prices)"
    )
    assert done["metadata"] == {"streamed": True, "chunks": len(pieces), "cost": None, "warnings": [unpriced]}
    # no piece of the key the page could join: its halves are nowhere in what was sent
    body = client.bodies[-1]
    assert SECRET[:HALF] not in body.replace(f"{SECRET[:HALF]}x", "") and SECRET[HALF:] not in body
