"""What the playground's server adds for the page as a product: Save validated as run() would, the query
to take away (never the key), simulator images from the page's own origin, plain sentences, the chat
owning its messages, and the layout file's core fields."""

from __future__ import annotations

import io
import json

import pytest
from playground_support import CHAT_MESSAGES, SECRET, Recorder

from tooljet_portkey.cli import main
from tooljet_portkey.playground import Playground
from tooljet_portkey.playground._forms import form_layout, load_documents


def test_save_refuses_a_connection_run_would_refuse_and_keeps_the_old_one(client: Recorder) -> None:
    response = client.post("api/connection", {"changes": {"timeout": "abc"}})
    assert response.status_code == 400
    assert response.json()["error"] == "Invalid connection options: timeout: must be a number"
    assert response.json()["data"] == {"field": "timeout"}
    assert client.playground.connection.options() == {}


def test_test_connection_says_the_simulator_answered(client: Recorder) -> None:
    assert client.post("api/test-connection", {}).json() == {"status": "ok", "simulator": True}


def test_curl_and_python_show_the_key_as_a_placeholder(client: Recorder, playground: Playground) -> None:
    playground.connection.update({"apiKey": SECRET, "gatewayUrl": playground.simulator.url})
    options = {"operation": "chat", "model": "gpt-4o-mini", "messages": '[{"role": "user", "content": "Hi"}]'}
    answer = client.post("api/export", {"options": options}).json()
    assert answer["curl"] == (
        f"curl -X POST {playground.simulator.url}/chat/completions \\\n"
        "  -H 'user-agent: tooljet-portkey' \\\n"
        '  -H "x-portkey-api-key: $PORTKEY_API_KEY" \\\n'
        "  -H 'accept: application/json' \\\n"
        "  -H 'content-type: application/json' \\\n"
        """  -d '{"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Hi"}]}'"""
    )
    assert '"apiKey": "<your apiKey>",' in answer["python"]
    assert json.loads(answer["json"]) == options
    assert all(SECRET not in body for body in client.bodies)


def test_a_bad_query_is_not_exported(client: Recorder) -> None:
    answer = client.post("api/export", {"options": {"operation": "chat", "messages": "[]"}}).json()
    assert (answer["status"], answer["data"]) == ("failed", {"field": "model"})


def test_simulator_images_come_from_the_pages_origin(client: Recorder) -> None:
    options = {
        "operation": "image_generation",
        "prompt": "A lighthouse",
        "model": "dall-e-2",
        "output": "images",
    }
    (url,) = client.post("api/run", {"options": options}).json()["data"]
    name = url.rsplit("/", 1)[1]
    image = client.get(f"images/{name}")
    assert image.headers["content-type"] == "image/png" and image.content.startswith(b"\x89PNG")
    assert client.get("images/not-an-image.png").status_code == 404


def test_an_over_size_body_gets_a_sentence(client: Recorder) -> None:
    response = client.client.post(
        "api/run", content=b" " * (8 * 1024 * 1024 + 1), headers={"content-type": "application/json"}
    )
    assert response.status_code == 413
    assert response.json() == {
        "error": "The request is larger than the playground accepts (8 MiB at most): shorten the longest "
        "field, or send a body this large from Python instead."
    }


def test_the_chat_never_sends_the_query_tabs_messages(client: Recorder, playground: Playground) -> None:
    fields = {"model": "gpt-4o-mini", "messages": '[{"role": "user", "content": "from the Query tab"}]'}
    events = client.events("api/chat", {"history": [], "prompt": "Hi", "fields": fields})
    assert events[-1][0] == "done"
    assert playground.simulator.requests[-1].json["messages"] == [{"role": "user", "content": "Hi"}]


def test_a_field_the_layout_does_not_name_lands_in_advanced() -> None:
    _, operations = load_documents()
    operations["properties"]["chat"]["brand_new"] = {"label": "Brand new", "type": "codehinter"}
    layout = {"core": {"chat": ["model", "messages", "gone"]}, "examples": {"chat": {"gone": "x"}}}
    chat = form_layout(operations, layout)["chat"]
    assert chat["core"] == ["model", "messages"]
    assert chat["advanced"][-1] == "brand_new" and "gone" not in chat["advanced"]
    assert chat["examples"] == {}


class RecordedWaits:
    """Stands in for the playground's stop event: records each pause a stream asks for, pausing none."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    def wait(self, timeout: float) -> bool:
        self.waits.append(timeout)
        return False

    def set(self) -> None:
        pass


@pytest.mark.parametrize(("pace_ms", "pause"), [(None, 0.03), (5, 0.005), (0, None)])
def test_the_simulators_streams_reach_the_page_paced(pace_ms: float | None, pause: float | None) -> None:
    kwargs = {} if pace_ms is None else {"stream_pace_ms": pace_ms}
    with Playground(**kwargs) as playground:
        waits = RecordedWaits()
        playground._stopping = waits  # type: ignore[assignment]
        recorder = Recorder(playground)
        options = {"operation": "chat", "model": "gpt-4o-mini", "messages": CHAT_MESSAGES}
        events = recorder.events("api/stream", {"options": options})
        recorder.close()
    chunks = events[-1][1]["metadata"]["chunks"]
    assert chunks > 3
    assert waits.waits == ([] if pause is None else [pause] * (chunks - 1))  # between chunks, not before


def test_a_pace_out_of_bounds_is_refused() -> None:
    with pytest.raises(ValueError, match="the stream pace must be from 0 to 10000 ms, not -1"):
        Playground(stream_pace_ms=-1)


def test_the_command_line_refuses_a_pace_out_of_bounds() -> None:
    out, err = io.StringIO(), io.StringIO()
    code = main(["playground", "--no-browser", "--stream-pace-ms", "-1"], environ={}, stdout=out, stderr=err)
    assert (code, out.getvalue()) == (2, "")
    assert err.getvalue() == (
        "tooljet-portkey playground: error: the stream pace must be from 0 to 10000 ms, not -1.0\n"
    )
