"""Every result is JSON a strict serialiser takes, and an answer of any depth is a result or an error a
host can show: NaN, Infinity and overflowing numbers (which Python's json.loads accepts) never reach
``data`` or ``metadata``, deep JSON never becomes the plugin's own error, and images are only http(s)
URLs or base64 ``data:`` URIs. Checked through ``run()`` and ``stream()`` on respx answers."""

# Tables of exact messages read best one case per line.

from __future__ import annotations

import base64
import json
import struct
import sys
from collections.abc import Callable
from typing import Any, TypeVar

import httpx
import pytest
import respx
from unit_support import BASE_URL, CHUNK_HEAD, MINIMAL, MINIMAL_MORE, SOURCE, run_async, sse, strict

from tooljet_portkey import AsyncQueryService, QueryError, QueryService
from tooljet_portkey._batch import add_usage
from tooljet_portkey._output import image_source
from tooljet_portkey._values import NotStrictJSON, loads_strict

pytestmark = pytest.mark.respx(base_url=BASE_URL)

T = TypeVar("T")
CHAT = MINIMAL["chat"]
FAILED = "Query could not be completed"
OUTPUT = "The answer is not the output asked for"
HEADERS = {"x-portkey-trace-id": "trace-j"}
DEEP = 100_000
DEEP_TEXT = "[" * DEEP + "]" * DEEP
PNG_B64 = base64.b64encode(b"\x89PNG\r\n\x1a\n" + b"\0" * 24).decode()


def chat_answer(message: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {
        "id": "chatcmpl-1",
        "object": "chat.completion",
        "model": "gpt-4o-mini",
        "choices": [{"index": 0, "message": {"role": "assistant", **message}, "finish_reason": "stop"}],
        **extra,
    }


def raw_answer(message: dict[str, Any]) -> bytes:
    """A chat answer's body, as bytes (so a test can splice text json.dumps would never write)."""
    return json.dumps(chat_answer(message)).encode()


def refused(call: Callable[[], Any]) -> QueryError:
    with pytest.raises(QueryError) as caught:
        call()
    strict(caught.value.to_result())
    return caught.value


def answered(respx_mock: respx.MockRouter, content: bytes, **headers: str) -> None:
    respx_mock.route().respond(200, content=content, headers={**HEADERS, **headers})


# ---------------------------------------------------------------------------------------------------
# The strict reader


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ('{"score": NaN}', "NaN is not allowed in JSON"),
        ("[Infinity]", "Infinity is not allowed in JSON"),
        ('{"a": [-Infinity]}', "-Infinity is not allowed in JSON"),
        ("[1e999]", "a number is larger than 1.8e308 in size"),
        ("-1E+400", "a number is larger than 1.8e308 in size"),
        ("1" * 400 + ".0", "a number is larger than 1.8e308 in size"),
        (DEEP_TEXT, "nested too deeply"),
    ],
)
def test_loads_strict_refuses_what_only_python_takes(text: str, problem: str) -> None:
    if text != DEEP_TEXT:
        json.loads(text)  # Python's own parser takes it
    with pytest.raises(NotStrictJSON) as caught:
        loads_strict(text)
    assert str(caught.value) == problem
    with pytest.raises(NotStrictJSON):
        loads_strict(text.encode())


def test_loads_strict_keeps_every_json_value() -> None:
    text = '{"a": [1.5e300, -2.5E-300, 0.1, 1e308, 12345678901234567890, "NaN", true, null]}'
    assert loads_strict(text) == json.loads(text)
    assert loads_strict(b"\xef\xbb\xbf[1]") == [1]  # bytes with a byte-order mark, as json.loads reads them


@pytest.mark.parametrize(
    "text",
    ["\ufeff[1]", "", "[1] x", "{", b"", b"\xff", b'"\xed\xa0\x80"', '"\\ud800"', "[1]".encode("utf-16"),
     bytearray(b'{"a": 1}'), b"\x00[\x001\x00]"],
)  # fmt: skip
def test_loads_strict_reads_and_refuses_as_json_loads_does(text: str | bytes) -> None:
    """One decoder serves every answer: text, bytes in any of JSON's encodings, and the same errors."""
    try:
        expected: Any = json.loads(text)
    except (ValueError, UnicodeDecodeError) as err:
        with pytest.raises(type(err)) as caught:
            loads_strict(text)
        assert str(caught.value) == str(err)
    else:
        assert loads_strict(text) == expected


# ---------------------------------------------------------------------------------------------------
# output: json


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        ('{"score": NaN}', "NaN is not allowed in JSON"),
        ('{"score": Infinity}', "Infinity is not allowed in JSON"),
        ('{"score": -Infinity}', "-Infinity is not allowed in JSON"),
        ('{"score": 1e999}', "a number is larger than 1.8e308 in size"),
        ('```json\n{"score": NaN}\n```', "NaN is not allowed in JSON"),
        (DEEP_TEXT, "nested too deeply"),
    ],
)
def test_json_output_only_python_takes_is_invalid_output_with_the_raw_text(
    service: QueryService, respx_mock: respx.MockRouter, content: str, problem: str
) -> None:
    answered(respx_mock, raw_answer({"content": content}))
    error = refused(lambda: service.run(SOURCE, {**CHAT, "output": "json"}))
    assert (error.message, error.description, error.data) == (
        OUTPUT,
        f"The answer is not valid JSON ({problem})",
        {"statusCode": 200, "errorType": "invalid_output", "traceId": "trace-j", "output": content[:2000]},
    )


def test_a_tree_schema_met_by_a_300_level_answer_is_never_the_plugins_error(
    service: QueryService, respx_mock: respx.MockRouter
) -> None:
    """jsonschema recurses several frames per level of a recursive schema; however deep that goes, the
    answer is a result or invalid_output."""
    schema = {"type": "object", "properties": {"children": {"type": "array", "items": {"$ref": "#"}}}}
    content = '{"children": [' * 300 + "{}" + "]}" * 300
    answered(respx_mock, raw_answer({"content": content}))
    query = {**CHAT, "output": "json", "response_format": json.dumps(schema)}
    try:
        result = service.run(SOURCE, query)
    except QueryError as err:
        assert (err.message, err.data["errorType"]) == (OUTPUT, "invalid_output")
    else:
        assert result["data"] == json.loads(content)


def test_a_schema_check_that_runs_out_of_stack_is_invalid_output(
    service: QueryService, respx_mock: respx.MockRouter, monkeypatch: pytest.MonkeyPatch
) -> None:
    """However the check of a schema recurses, a host whose stack is already deep gets invalid_output."""

    def recursing(value: Any, schema: Any, text: str) -> None:
        raise RecursionError("maximum recursion depth exceeded")

    monkeypatch.setattr("tooljet_portkey._output._check_schema", recursing)
    answered(respx_mock, raw_answer({"content": "[[[]]]"}))
    query = {**CHAT, "output": "json", "response_format": '{"type": "array"}'}
    error = refused(lambda: service.run(SOURCE, query))
    assert (error.message, error.description, error.data) == (
        OUTPUT,
        "The answer is nested too deeply to check against the response schema",
        {"statusCode": 200, "errorType": "invalid_output", "traceId": "trace-j", "output": "[[[]]]"},
    )


# ---------------------------------------------------------------------------------------------------
# Tool calls: arguments that are not strict JSON stay text, with a warning


@pytest.mark.parametrize(
    ("arguments", "why"),
    [
        ('{"x": NaN}', " (NaN is not allowed in JSON)"),
        ('{"x": 1e999}', " (a number is larger than 1.8e308 in size)"),
        ('{"x": [Infinity]}', " (Infinity is not allowed in JSON)"),
        ('{"x": ' * DEEP + "1" + "}" * DEEP, " (nested too deeply)"),
        ('{"x": ', ""),
    ],
)
@pytest.mark.parametrize("streamed", [False, True])
def test_tool_call_arguments_only_python_takes_stay_text_with_a_warning(
    service: QueryService, respx_mock: respx.MockRouter, arguments: str, why: str, streamed: bool
) -> None:
    call = {"id": "call_1", "type": "function", "function": {"name": "f", "arguments": arguments}}
    if streamed:
        head = {"id": "c", "object": "chat.completion.chunk", "model": "gpt-4o-mini"}
        delta = {"role": "assistant", "tool_calls": [{"index": 0, **call}]}
        chunk = {**head, "choices": [{"index": 0, "delta": delta, "finish_reason": "tool_calls"}]}
        answered(respx_mock, sse(json.dumps(chunk)), **{"content-type": "text/event-stream"})
    else:
        answered(respx_mock, json.dumps(chat_answer({"content": None, "tool_calls": [call]})).encode())
    query = {**CHAT, "output": "json", **({"stream": "true"} if streamed else {})}
    result = service.run(SOURCE, query)
    strict(result)
    assert result["data"] == [{"id": "call_1", "name": "f", "arguments": arguments}]
    assert (
        result["metadata"]["warning"]
        == f"the arguments of tool call call_1 are not valid JSON{why}; kept as text"
    )


# ---------------------------------------------------------------------------------------------------
# Portkey's own answer: a body only Python takes is not an answer


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        (
            raw_answer({"content": "hi"}).replace(b'"stop"', b'"stop", "logprobs": NaN'),
            "NaN is not allowed in JSON",
        ),
        (b'{"choices": [], "usage": {"cost": Infinity}}', "Infinity is not allowed in JSON"),
        (b'{"choices": [], "usage": {"cost": 1e999}}', "a number is larger than 1.8e308 in size"),
        (b'{"choices": ' + DEEP_TEXT.encode() + b"}", "nested too deeply"),
    ],
)
@pytest.mark.parametrize("output", ["full", "text"])
def test_a_body_only_python_takes_is_an_invalid_response(
    service: QueryService, respx_mock: respx.MockRouter, body: bytes, problem: str, output: str
) -> None:
    answered(respx_mock, body)
    error = refused(lambda: service.run(SOURCE, {**CHAT, "output": output}))
    assert (error.message, error.description, error.data) == (
        FAILED,
        f"Portkey answered HTTP 200 but the body is not valid JSON ({problem})",
        {"statusCode": 200, "errorType": "invalid_response", "traceId": "trace-j", "retries": 0},
    )


def test_an_error_body_only_python_takes_is_read_as_text(
    service: QueryService, respx_mock: respx.MockRouter
) -> None:
    respx_mock.route().respond(400, content=b'{"error": {"message": "bad", "x": NaN}}')
    error = refused(lambda: service.run(SOURCE, CHAT))
    assert (error.description, error.data["errorType"]) == (
        '{"error": {"message": "bad", "x": NaN}}',
        "invalid_request_error",
    )


# ---------------------------------------------------------------------------------------------------
# Streams: a chunk only Python takes ends the stream as invalid_chunk


@pytest.mark.parametrize(
    ("chunk", "problem"),
    [
        (CHUNK_HEAD + '{"content": "a"}, "logprobs": {"p": NaN}}]}', "NaN is not allowed in JSON"),
        (
            CHUNK_HEAD + '{"content": "a"}}], "usage": {"cost": -1e999}}',
            "a number is larger than 1.8e308 in size",
        ),
        (CHUNK_HEAD + '{"content": "a"}, "x": ' + DEEP_TEXT + "}]}", "nested too deeply"),
    ],
)
def test_a_stream_chunk_only_python_takes_is_an_invalid_chunk(
    service: QueryService,
    async_service: AsyncQueryService,
    respx_mock: respx.MockRouter,
    chunk: str,
    problem: str,
) -> None:
    first = CHUNK_HEAD + '{"role": "assistant", "content": "Hi"}}]}'
    answered(respx_mock, sse(first, chunk), **{"content-type": "text/event-stream"})
    expected = (
        FAILED,
        f"Portkey sent a stream chunk that is not valid JSON ({problem})",
        "invalid_chunk",
        "trace-j",
    )

    def shown(error: QueryError) -> tuple[Any, ...]:
        return (error.message, error.description, error.data["errorType"], error.data["traceId"])

    assert shown(refused(lambda: service.run(SOURCE, {**CHAT, "stream": "true"}))) == expected
    seen: list[dict[str, Any]] = []
    # stream() sends a trace id of its own unless the query gives one, and its errors carry the one sent
    traced = {**CHAT, "traceId": "trace-j"}
    assert shown(refused(lambda: seen.extend(service.stream(SOURCE, traced)))) == expected
    assert [c["choices"][0]["delta"]["content"] for c in seen] == ["Hi"]

    async def streamed() -> list[dict[str, Any]]:
        return [chunk async for chunk in async_service.stream(SOURCE, traced)]

    assert shown(refused(lambda: run_async(streamed))) == expected


# ---------------------------------------------------------------------------------------------------
# Vectors and images


def test_a_base64_vector_holding_nan_is_invalid_output(
    service: QueryService, respx_mock: respx.MockRouter
) -> None:
    packed = base64.b64encode(struct.pack("<3f", 0.5, float("nan"), 1.0)).decode()
    body = {
        "object": "list",
        "data": [{"object": "embedding", "index": 0, "embedding": packed}],
        "model": "m",
    }
    answered(respx_mock, json.dumps(body).encode())
    query = {
        **MINIMAL["create_embedding"],
        "output": "vectors",
        "other_parameters": '{"encoding_format": "base64"}',
    }
    error = refused(lambda: service.run(SOURCE, query))
    assert (error.description, error.data) == (
        "Portkey's answer holds a base64 embedding with NaN or an infinity",
        {"statusCode": 200, "errorType": "invalid_output", "traceId": "trace-j", "output": packed},
    )


IMAGES = {**MINIMAL_MORE["image_generation"], "output": "images"}
NOT_HTTP = "Portkey's answer holds an image URL that is not http(s)"
EMPTY = "Portkey's answer holds an image whose url or b64_json is empty"


@pytest.mark.parametrize(
    ("item", "description", "output"),
    [
        ({"url": "javascript:alert(1)"}, NOT_HTTP, "javascript:alert(1)"),
        ({"url": " JavaScript:alert(1)", "b64_json": PNG_B64}, NOT_HTTP, " JavaScript:alert(1)"),
        ({"url": "java\tscript:alert(1)"}, NOT_HTTP, "java\tscript:alert(1)"),
        ({"url": "data:text/html;base64,PHNjcmlwdD4="}, NOT_HTTP, "data:text/html;base64,PHNjcmlwdD4="),
        ({"url": "//images.test/1.png"}, NOT_HTTP, "//images.test/1.png"),
        ({"url": "https:///1.png"}, NOT_HTTP, "https:///1.png"),
        ({"url": "http://[::1/1.png"}, NOT_HTTP, "http://[::1/1.png"),
        ({"url": "javascript:" + "a" * 10_000}, NOT_HTTP, ("javascript:" + "a" * 10_000)[:2000]),
        ({"b64_json": ""}, EMPTY, ""),
        ({"url": "", "b64_json": None}, EMPTY, ""),
        (
            {"b64_json": PNG_B64[:16] + "%%%%"},
            "Portkey's answer holds an image that is not base64",
            PNG_B64[:16] + "%%%%",
        ),
        ({"b64_json": "A" * 5000 + "!"}, "Portkey's answer holds an image that is not base64", "A" * 2000),
    ],
)
def test_images_are_only_http_urls_and_base64_data_uris(
    service: QueryService, respx_mock: respx.MockRouter, item: dict[str, Any], description: str, output: str
) -> None:
    answered(
        respx_mock, json.dumps({"created": 1, "data": [{"url": "https://images.test/0.png"}, item]}).encode()
    )
    error = refused(lambda: service.run(SOURCE, IMAGES))
    assert (error.message, error.description, error.data) == (
        OUTPUT,
        description,
        {"statusCode": 200, "errorType": "invalid_output", "traceId": "trace-j", "output": output},
    )


def test_http_and_https_urls_of_any_case_and_base64_images_are_kept(
    service: QueryService, respx_mock: respx.MockRouter
) -> None:
    items = [
        {"url": "HTTPS://Images.test/1.png?sig=a%20b"},
        {"url": "http://127.0.0.1:8080/2.png"},
        {"url": None, "b64_json": PNG_B64},
        {"url": "", "b64_json": PNG_B64},
    ]
    answered(respx_mock, json.dumps({"created": 1, "data": items}).encode())
    assert service.run(SOURCE, IMAGES)["data"] == [
        "HTTPS://Images.test/1.png?sig=a%20b",
        "http://127.0.0.1:8080/2.png",
        f"data:image/png;base64,{PNG_B64}",
        f"data:image/png;base64,{PNG_B64}",
    ]
    assert image_source(None, PNG_B64) == f"data:image/png;base64,{PNG_B64}"


# ---------------------------------------------------------------------------------------------------
# Tables: one bad answer fails its row; any depth of usage is summed on any stack


TABLE = {
    "operation": "prompt_completion",
    "promptId": "pp-triage",
    "rows": json.dumps([{"t": "a"}, {"t": "b"}]),
    "output": "json",
    "concurrency": "1",
}


def nested(depth: int, leaf: dict[str, Any]) -> dict[str, Any]:
    value = leaf
    for _ in range(depth):
        value = {"detail": value}
    return value


def deepest(value: dict[str, Any]) -> Any:
    while "detail" in value:
        value = value["detail"]
    return value


def test_a_row_answering_nan_fails_alone(service: QueryService, respx_mock: respx.MockRouter) -> None:
    def answer(request: httpx.Request) -> httpx.Response:
        row = json.loads(request.content)["variables"]["t"]
        content = '{"label": NaN}' if row == "a" else '{"label": "ok"}'
        return httpx.Response(200, content=raw_answer({"content": content}))

    respx_mock.route().mock(side_effect=answer)
    result = service.run(SOURCE, TABLE)
    strict(result)
    assert [
        (r["status"], r.get("output"), r.get("error", {}).get("description")) for r in result["data"]
    ] == [
        ("failed", None, "The answer is not valid JSON (NaN is not allowed in JSON)"),
        ("ok", {"label": "ok"}, None),
    ]


def on_a_deep_stack(call: Callable[[], T], spare: int = 200) -> T:
    """``call()`` from within a recursion that leaves only ``spare`` frames of the recursion limit."""

    def down(levels: int) -> T:
        return down(levels - 1) if levels else call()

    frames = 0
    frame = sys._getframe()
    while frame is not None:
        frames += 1
        frame = frame.f_back  # type: ignore[assignment]
    return down(sys.getrecursionlimit() - spare - frames)


def test_a_row_usage_900_deep_is_summed_on_a_deep_stack(
    service: QueryService, respx_mock: respx.MockRouter
) -> None:
    """The rows are answered on the run's threads; the usage is summed on the caller's, which here has
    200 frames left: a recursive sum would fail the whole finished table."""
    usage = nested(900, {"tokens": 2})
    body = json.dumps(chat_answer({"content": '{"label": "ok"}'}, usage=usage)).encode()
    respx_mock.route().respond(200, content=body)
    result = on_a_deep_stack(lambda: service.run(SOURCE, TABLE))
    assert [row["status"] for row in result["data"]] == ["ok", "ok"]
    assert deepest(result["metadata"]["usage"]) == {"tokens": 4}


def test_usage_is_summed_iteratively_and_capped_at_what_json_holds() -> None:
    deep = nested(DEEP, {"tokens": 1})
    assert deepest(add_usage(add_usage({}, deep), deep)) == {"tokens": 2}
    big = {"cost": 1e308, "debt": -1e308, "tokens": 10**3950}
    assert add_usage(big, big) == {
        "cost": sys.float_info.max,
        "debt": -sys.float_info.max,
        "tokens": sys.float_info.max,
    }


# ---------------------------------------------------------------------------------------------------
# The property: whatever the answer, the result (or the error) is strict JSON


HOSTILE = [
    "NaN",
    "Infinity",
    "-Infinity",
    "1e999",
    "-1e400",
    "1" * 320 + ".5",
    "[" * 5000 + "]" * 5000,
    '"ok"',
    "1.5",
]
WHERE = ["content", "arguments", "usage", "logprobs", "chunk content", "chunk usage", "row content"]


def hostile_exchange(where: str, value: str) -> tuple[dict[str, Any], bytes, dict[str, str]]:
    """(query, body, headers) putting ``value`` as raw JSON text (or as a model's text) at ``where``."""
    text = json.dumps('{"v": ' + value + "}")
    event = {"content-type": "text/event-stream"}
    if where == "content":
        return (
            {**CHAT, "output": "json"},
            b'{"choices": [{"index": 0, "message": {"role": "assistant", "content": '
            + text.encode()
            + b'}, "finish_reason": "stop"}]}',
            {},
        )
    if where == "arguments":
        call = '{"id": "call_1", "function": {"name": "f", "arguments": ' + text + "}}"
        return (
            {**CHAT, "output": "text"},
            (
                '{"choices": [{"index": 0, "message": {"content": null, "tool_calls": [' + call + "]}}]}"
            ).encode(),
            {},
        )
    if where == "usage":
        return {**CHAT, "output": "full"}, ('{"choices": [], "usage": {"cost": ' + value + "}}").encode(), {}
    if where == "logprobs":
        return (
            {**CHAT, "output": "text"},
            ('{"choices": [{"index": 0, "text": "a", "logprobs": [' + value + "]}]}").encode(),
            {},
        )
    if where == "chunk content":
        return (
            {**CHAT, "stream": "true", "output": "json"},
            sse(CHUNK_HEAD + '{"content": ' + text + "}}]}"),
            event,
        )
    if where == "chunk usage":
        return (
            {**CHAT, "stream": "true"},
            sse(CHUNK_HEAD + '{"content": "a"}}], "usage": {"x": ' + value + "}}"),
            event,
        )
    return (
        {**TABLE, "output": "json"},
        b'{"choices": [{"index": 0, "message": {"content": ' + text.encode() + b"}}]}",
        {},
    )


@pytest.mark.parametrize("value", HOSTILE)
@pytest.mark.parametrize("where", WHERE)
def test_every_result_and_every_error_is_strict_json(
    service: QueryService, respx_mock: respx.MockRouter, where: str, value: str
) -> None:
    query, body, headers = hostile_exchange(where, value)
    respx_mock.route().respond(200, content=body, headers=headers)
    try:
        result: Any = service.run(SOURCE, query)
    except QueryError as err:
        result = err.to_result()
        assert err.data["errorType"] in {"invalid_output", "invalid_response", "invalid_chunk"}
    strict(result)
    for row in result["data"] if where == "row content" else ():
        assert row["status"] == "ok" or row["error"]["data"]["errorType"] == "invalid_output"


@pytest.mark.parametrize("value", HOSTILE)
def test_every_stream_chunk_is_strict_json(
    service: QueryService, respx_mock: respx.MockRouter, value: str
) -> None:
    chunks = [
        CHUNK_HEAD + '{"content": "a"}}]}',
        CHUNK_HEAD + '{"content": "b"}}], "usage": {"x": ' + value + "}}",
    ]
    respx_mock.route().respond(200, content=sse(*chunks), headers={"content-type": "text/event-stream"})
    kept: list[dict[str, Any]] = []
    try:
        kept.extend(service.stream(SOURCE, CHAT))
    except QueryError as err:
        assert (err.data["errorType"], len(kept)) == ("invalid_chunk", 1)
    else:
        assert len(kept) == 2
    strict(kept)
