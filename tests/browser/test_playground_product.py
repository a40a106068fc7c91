"""The playground as a person uses it, in Chromium: every operation's first Run on the untouched form,
answers shown as what they are, errors at their field, a chat that keeps working, the keyboard, the names
tests and screen readers rely on, and the desktop and phone layouts (screenshots for docs/playground.md)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
from browser_support import SCREENSHOTS, PageRecord

from tooljet_portkey.playground import Playground
from tooljet_portkey.playground._forms import load_documents, operation_values

pytestmark = pytest.mark.browser

_, OPERATIONS = load_documents()
DESKTOP = {"width": 1440, "height": 900}
PHONE = {"width": 390, "height": 844}
KEY = "pk-live-SECRET-5e55ed"


@pytest.fixture
def playground() -> Iterator[Playground]:
    with Playground() as running:
        yield running
    assert running.errors == []


def opened(browser: Any, playground: Playground, viewport: dict[str, int]) -> tuple[Any, PageRecord]:
    context = browser.new_context(viewport=viewport, service_workers="block")
    page = context.new_page()
    page.set_default_timeout(30_000)
    record = PageRecord(page)
    page.goto(playground.url)
    page.wait_for_selector("body[data-ready=true]")
    page.wait_for_function("() => !document.querySelector('[data-fetch=pending]')")
    return page, record


def shot(page: Any, name: str, full: bool = False) -> None:
    SCREENSHOTS.mkdir(exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=full)


def run(page: Any) -> str:
    page.get_by_role("button", name="Run", exact=True).click()
    page.wait_for_selector("#result[data-state=ok], #result[data-state=failed]")
    return str(page.get_by_role("region", name="Result").locator("#result-status").inner_text())


def off_origin(record: PageRecord, playground: Playground) -> list[str]:
    origin = playground.url.split("/")[2]
    return [url for url in record.requests if url.split("/")[2] != origin and not url.startswith("data:")]


def test_every_operations_first_run_answers_on_the_untouched_form(
    browser: Any, playground: Playground
) -> None:
    page, record = opened(browser, playground, DESKTOP)
    operation = page.get_by_label("Operation", exact=True)
    submitted = ""  # the id batch_submit's answer gives, which the later batch forms are filled with
    for name in operation_values(OPERATIONS):
        operation.select_option(name)
        page.wait_for_function("() => !document.querySelector('[data-fetch=pending]')")
        if name == "batch_cancel":  # the batch submitted above, which the simulator answered at once
            assert page.locator("#query-batch_cancel-batchId").input_value() == submitted
            assert run(page) == "status: failed"
            assert "Cannot cancel a batch with status 'completed'." in page.locator("#result").inner_text()
            continue
        assert run(page) == "status: ok", (name, page.locator("#result").inner_text())
        if name == "batch_submit":  # its id fills the other batch forms
            submitted = json.loads(page.locator("#data").get_attribute("data-json") or "null")["id"]
        if name in ("batch_status", "batch_results"):
            assert page.locator(f"#query-{name}-batchId").input_value() == submitted
        if name == "batch_results":
            shown = json.loads(page.locator("#data").get_attribute("data-json") or "null")
            assert [(row["customId"], row["status"]) for row in shown] == [("row-0", "ok"), ("T-1042", "ok")]
            table = page.locator("#answer table.rows-table")
            assert table.locator("th").all_text_contents() == [
                "Row",
                "Custom ID",
                "Status",
                "Output",
                "Cost (USD)",
            ]
            cells = [table.locator("tbody tr").nth(i).locator("td").all_text_contents() for i in range(2)]
            assert [(c[0], c[1], c[2], c[3], c[4]) for c in cells] == [
                ("0", "row-0", "ok", shown[0]["output"], f"${Decimal(repr(shown[0]['cost'])):f}"),
                ("1", "T-1042", "ok", shown[1]["output"], f"${Decimal(repr(shown[1]['cost'])):f}"),
            ]
            assert page.locator("#answer .answer-facts").inner_text() == "2 of 2 rows ok"
            shot(page, "playground-batch-results")
        if name == "image_generation":
            images = page.locator("#answer img")
            assert images.count() == 1
            page.wait_for_function("() => document.querySelector('#answer img').naturalWidth === 4")
            shot(page, "playground-images")
        if name == "create_embedding":
            assert page.locator("#answer .answer-text").inner_text() == "1 vector x 1536 dimensions"
        if name == "chat":
            assert page.locator("#answer .answer-text").inner_text().strip()
            assert "Finish reason: stop" in page.locator("#answer").inner_text()
            assert "Tokens:" in page.locator("#answer").inner_text()
            shot(page, "playground-desktop")
        if name == "list_models":
            rows = page.locator("#answer tbody tr")
            assert rows.count() >= 4
            first = rows.first.get_attribute("data-model")
            rows.first.get_by_role("button").click()
            assert page.locator("#query-chat-model").input_value() == first
        if name == "prompt_render":
            assert page.locator("#answer .role").all_text_contents() == ["system", "user"]
        if name == "feedback":
            # feedback rated the last answer that had a trace id
            assert playground.simulator.feedback[-1].value == 1
            # raw JSON is one click away, as a tree of the same data
            page.get_by_role("button", name="Raw JSON").click()
            assert page.locator("#raw").is_visible() and page.locator("#answer").is_hidden()
            shown = json.loads(page.locator("#data").get_attribute("data-json") or "null")
            assert shown["status"] == "success"
            page.context.grant_permissions(["clipboard-read", "clipboard-write"])
            page.get_by_role("button", name="Copy JSON").click()
            page.wait_for_selector("#raw .status[data-kind=ok]")
            assert json.loads(page.evaluate("() => navigator.clipboard.readText()")) == shown
    assert off_origin(record, playground) == [] and record.errors == []
    page.context.close()


def test_an_error_is_shown_at_its_field(browser: Any, playground: Playground) -> None:
    page, record = opened(browser, playground, DESKTOP)
    page.get_by_label("Operation", exact=True).select_option("chat")
    page.locator("details.advanced[data-operation=chat] > summary").click()
    page.fill("#query-chat-metadata", "{not json")
    page.locator(
        "details.advanced[data-operation=chat] > summary"
    ).click()  # folded again: the error opens it
    assert run(page) == "status: failed"
    field = page.locator("#query-chat-metadata")
    assert field.is_visible() and field.get_attribute("aria-invalid") == "true"
    assert page.evaluate("() => document.activeElement.id") == "query-chat-metadata"
    note = page.locator("#query-chat-metadata-note").inner_text()
    assert note.startswith("metadata: is not valid JSON")
    assert "query-chat-metadata-note" in (field.get_attribute("aria-describedby") or "")
    shot(page, "playground-field-error")
    field.fill('{"_user": "ada"}')
    assert field.get_attribute("aria-invalid") is None
    page.fill("#query-chat-messages", "[]")
    page.get_by_role("button", name="Load example").click()  # the example again, the metadata cleared
    assert json.loads(page.locator("#query-chat-messages").input_value())[0]["role"] == "user"
    assert field.input_value() == ""
    # Save refuses a connection run() would refuse, at its field, and keeps the old one
    page.click("#connection-fold > summary")
    page.fill("#connection-timeout", "abc")
    page.click("#save-connection")
    page.wait_for_selector("#connection-status[data-kind=failed]")
    assert page.locator("#connection-status").inner_text() == (
        "Not saved: Invalid connection options: timeout: must be a number"
    )
    assert page.locator("#connection-timeout").get_attribute("aria-invalid") == "true"
    assert playground.connection.options() == {}
    page.fill("#connection-timeout", "")
    page.click("#test-connection")
    page.wait_for_selector("#connection-status[data-kind=ok]")
    assert "The offline Portkey simulator answered" in page.locator("#connection-status").inner_text()
    assert record.errors == [
        "Failed to load resource: the server responded with a status of 400 (Bad Request)"
    ]
    page.context.close()


def test_the_chat_keeps_working(browser: Any, playground: Playground) -> None:
    playground.connection.update(
        {"apiKey": KEY, "provider": "openai", "gatewayUrl": playground.simulator.url}
    )
    page, record = opened(browser, playground, DESKTOP)
    assert page.locator("#query-chat-messages").input_value()  # the Query tab's messages are filled
    page.get_by_role("tab", name="Query").focus()
    page.keyboard.press("ArrowRight")  # the ARIA tabs pattern
    assert page.get_by_role("tab", name="Chat").get_attribute("aria-selected") == "true"
    box = page.get_by_label("Message", exact=True)
    box.fill("Hi")
    box.press("Shift+Enter")
    box.type("there")
    assert box.input_value() == "Hi\nthere"
    box.press("Enter")
    log = page.get_by_role("log", name="Conversation")
    log.locator("li.entry:nth-child(2)[data-state=done]").wait_for()
    assert playground.simulator.requests[-1].json["messages"] == [{"role": "user", "content": "Hi\nthere"}]
    assert page.evaluate("() => document.activeElement.id") == "chat-input"
    # thumbs show the chosen one, and can change
    up = log.get_by_role("button", name="▲ Good")
    up.click()
    page.wait_for_selector(".thumb[data-rating=up][aria-pressed=true]")
    log.get_by_role("button", name="▼ Bad").click()
    page.wait_for_selector(".thumb[data-rating=down][aria-pressed=true]")
    assert up.get_attribute("aria-pressed") == "false"
    assert [f.value for f in playground.simulator.feedback] == [1, -1]
    # a failed turn is marked, kept out of the history, and retried
    playground.simulator.inject(status=400, times=1)
    box.fill("Again")
    page.keyboard.press("Control+Enter")
    log.locator("li.entry.error[data-state=failed]").wait_for()
    log.get_by_role("button", name="Retry").click()
    log.locator("li.entry:nth-child(4)[data-state=done]").wait_for()
    assert [m["role"] for m in playground.simulator.requests[-1].json["messages"]] == [
        "user",
        "assistant",
        "user",
    ]
    shot(page, "playground-chat")
    # the conversation survives a reload, without a secret in storage; New chat starts again
    page.reload()
    page.wait_for_selector("body[data-ready=true]")
    assert page.locator("#conversation li.entry").count() == 4
    stored = page.evaluate("() => JSON.stringify(sessionStorage)")
    saved = json.loads(json.loads(stored)["tooljet-portkey-playground:chat"])
    assert saved["history"][0] == {"message": "Hi\nthere", "type": "message"} and KEY not in stored
    page.get_by_role("tab", name="Chat").click()
    page.get_by_role("button", name="New chat").click()
    assert page.locator("#conversation li.entry").count() == 0
    assert record.errors == []
    page.context.close()


def test_copy_as_curl_python_and_json_never_the_key(browser: Any, playground: Playground) -> None:
    playground.connection.update({"apiKey": "pk-live-SECRET-c0ffee", "gatewayUrl": playground.simulator.url})
    page, record = opened(browser, playground, DESKTOP)
    page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    for kind, start in (("curl", "curl -X POST"), ("python", "from tooljet_portkey import QueryService"),
                        ("json", '{\n  "operation": "chat"')):  # fmt: skip
        page.click("#copy-menu > summary")
        page.click(f"[data-copy={kind}]")
        page.wait_for_selector("#copy-status[data-kind=ok]")
        text = page.evaluate("() => navigator.clipboard.readText()")
        assert text.startswith(start) and "pk-live-SECRET-c0ffee" not in text
        if kind == "curl":
            assert '-H "x-portkey-api-key: $PORTKEY_API_KEY"' in text
        page.evaluate("() => { document.getElementById('copy-status').dataset.kind = ''; }")
    assert all("pk-live-SECRET-c0ffee" not in body for body in record.bodies())
    page.context.close()


def test_on_a_phone_the_query_comes_first_and_run_stays_in_reach(
    browser: Any, playground: Playground
) -> None:
    page, _ = opened(browser, playground, PHONE)
    form = page.locator("#query-form").bounding_box()
    source = page.locator("#connection-panel").bounding_box()
    assert form is not None and source is not None and form["y"] < source["y"]
    button = page.get_by_role("button", name="Run", exact=True).bounding_box()
    assert button is not None and button["y"] + button["height"] <= PHONE["height"]  # in view at the top
    shot(page, "playground-phone")
    page.mouse.wheel(0, 600)
    page.wait_for_function("() => window.scrollY > 0")
    button = page.get_by_role("button", name="Run", exact=True).bounding_box()
    assert button is not None and button["y"] + button["height"] <= PHONE["height"]
    for target in page.locator("button:visible, summary:visible").all():
        box = target.bounding_box()
        assert box is not None and box["height"] >= 24, target.inner_text()
    page.get_by_role("button", name="Run", exact=True).click()
    page.wait_for_selector("#result[data-state=ok]")
    shot(page, "playground-phone-answer")
    page.context.close()


def test_tool_calls_show_as_name_and_arguments(browser: Any, playground: Playground) -> None:
    page, _ = opened(browser, playground, DESKTOP)
    page.locator("details.advanced[data-operation=chat] > summary").click()
    page.fill(
        "#query-chat-tools",
        '[{"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object", '
        '"properties": {"city": {"type": "string"}}}}}]',
    )
    page.fill("#query-chat-tool_choice", "get_weather")
    page.locator("#query-chat-tool_choice").press("Control+Enter")  # runs from any field
    page.wait_for_selector("#result[data-state=ok]")
    arguments = json.loads(
        playground.simulator.requests[-1].json and page.locator("#answer .tool-args").inner_text()
    )
    assert page.locator("#answer .tool-name").inner_text() == "Tool call: get_weather"
    assert list(arguments) == ["city"]
    assert "Finish reason: tool_calls" in page.locator("#answer").inner_text()
    page.context.close()


def test_plain_sentences_for_an_over_size_body_and_a_stopped_server(
    browser: Any, playground: Playground
) -> None:
    page, _ = opened(browser, playground, DESKTOP)
    page.evaluate(
        "() => { document.getElementById('query-chat-system_prompt').value = 'x'.repeat(9 << 20); }"
    )
    assert run(page) == "status: failed"
    assert page.locator("#result .error-message").inner_text() == (
        "The request is larger than the playground accepts (8 MiB at most): shorten the longest field, "
        "or send a body this large from Python instead."
    )
    page.evaluate("() => { document.getElementById('query-chat-system_prompt').value = ''; }")
    playground.stop()
    assert run(page) == "status: failed"
    assert page.locator("#result .error-message").inner_text() == (
        "The playground server is not answering: it may have been stopped. "
        "Start it again (tooljet-portkey playground) and reload this page."
    )
    page.context.close()


def test_the_overview_for_the_docs(browser: Any, playground: Playground) -> None:
    """The page as docs/playground.md opens with: the data source open, a chat answered."""
    page, _ = opened(browser, playground, DESKTOP)
    page.click("#connection-fold > summary")
    assert run(page) == "status: ok"
    shot(page, "playground-overview")
    page.click("#connection-fold > summary")
    shot(page, "playground-desktop")
    page.context.close()
