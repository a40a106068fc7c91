"""A schema a query carries (a response format's, a tool's parameters) reaches neither the network nor
the disk, and checking an answer against it ends in bounded time.

Two real loopback servers: Portkey's stand-in, and a recording server that a ``$ref`` points at. A
refused schema must leave both without a request; a file a ``$ref`` names must never be read (its text
appears in no error).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from loopback_server import FaultServer, Reply

from tooljet_portkey import QueryError, QueryService
from tooljet_portkey.simulator import Simulator

UNUSABLE = "response_format: cannot be used here (at schema"
LEAVES = (
    "must point inside the schema (a reference starting with #); references to URLs or files are not followed"
)
LOOP = (
    "has a loop of $ref that never goes into the answer (a schema that refers back to itself in place "
    "can never be checked)"
)
SECRET_IN_FILE = "sk-file-secret-4242424242"


@pytest.fixture(scope="module")
def ref_target() -> Iterator[FaultServer]:
    """The server a hostile ``$ref`` names: it must never see a request."""
    with FaultServer.running() as server:
        yield server


@pytest.fixture
def target(ref_target: FaultServer) -> FaultServer:
    ref_target.script(Reply(body={"enum": ["from-the-network"]}))
    return ref_target


@pytest.fixture
def creds(tmp_path: Path) -> Path:
    path = tmp_path / "creds.json"
    path.write_text(json.dumps({"enum": [SECRET_IN_FILE]}))
    return path


def source(server: FaultServer, **extra: Any) -> dict[str, Any]:
    return {"apiKey": "pk-test", "provider": "openai", "gatewayUrl": server.url, **extra}


def json_query(schema: Any, **extra: Any) -> dict[str, Any]:
    return {
        "operation": "chat",
        "model": "gpt-4o-mini",
        "prompt": "Give me the record",
        "output": "json",
        "response_format": json.dumps(schema),
        **extra,
    }


def answer(content: str) -> Reply:
    return Reply(
        body={
            "id": "c1",
            "object": "chat.completion",
            "model": "gpt-4o-mini",
            "choices": [
                {"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}
            ],
        }
    )


def refused(service: QueryService, server: FaultServer, schema: Any) -> QueryError:
    with pytest.raises(QueryError) as caught:
        service.run(source(server), json_query(schema))
    return caught.value


def hostile_schemas(target_url: str, creds: Path) -> list[tuple[Any, str]]:
    """(schema, the exact refusal after ``response_format: ``)."""
    prop = ".properties.(a name)"
    return [
        ({"type": "object", "properties": {"a": {"$ref": target_url}}}, f"{prop}: {LEAVES}"),
        ({"type": "object", "properties": {"a": {"$ref": f"{target_url}#/enum"}}}, f"{prop}: {LEAVES}"),
        ({"type": "object", "properties": {"a": {"$ref": creds.as_uri()}}}, f"{prop}: {LEAVES}"),
        ({"type": "object", "properties": {"a": {"$ref": "file:///dev/zero"}}}, f"{prop}: {LEAVES}"),
        ({"$ref": "creds.json"}, f".$ref: {LEAVES}"),
        ({"$id": target_url + "/", "$ref": "other.json"}, f".$ref: {LEAVES}"),
        ({"type": "object", "properties": {"a": {"$id": target_url, "type": "string"}}},
         f"{prop}: only the root of the schema may have an id: the schema is one document"),
        ({"$defs": {"x": {"$dynamicRef": "#node"}}}, ".$defs.(a name): is not supported here (use $ref)"),
        ({"$ref": "#"}, f": {LOOP}"),
        ({"$defs": {"a": {"$ref": "#/$defs/b"}, "b": {"anyOf": [{"$ref": "#/$defs/a"}]}},
          "$ref": "#/$defs/a"}, f": {LOOP}"),
        ({"allOf": [{"not": {"$ref": "#"}}]}, f": {LOOP}"),
        ({"properties": {"a": {"$ref": "#/$defs/missing"}}}, f"{prop}: points to nothing inside the schema"),
        ({"properties": {"a": {"$ref": "#nowhere"}}}, f"{prop}: points to nothing inside the schema"),
        ({"examples": [{"$ref": target_url}], "$ref": "#/examples/0"},
         ".$ref: points to something that is not a schema"),
        ({"$schema": target_url},
         ".$schema: names a dialect this plugin does not check (drafts 4 to 2020-12)"),
        ({"properties": {"a": {"type": "string", "pattern": "^(?=a)"}}},
         f"{prop}: is a regular expression this plugin cannot check in bounded time (lookarounds, "
         "backreferences and very large repetitions are not supported)"),
        ({"patternProperties": {"(a)\\1": {"type": "string"}}},
         ".patternProperties: is a regular expression this plugin cannot check in bounded time "
         "(lookarounds, backreferences and very large repetitions are not supported)"),
    ]  # fmt: skip


def test_every_hostile_schema_is_refused_before_any_request(
    service: QueryService, fault_server: FaultServer, target: FaultServer, creds: Path
) -> None:
    for schema, expected in hostile_schemas(target.url, creds):
        error = refused(service, fault_server, schema)
        assert error.message == "Invalid query options"
        assert error.description == f"{UNUSABLE}{expected.partition(':')[0]}: {expected.partition(': ')[2]})"
        assert error.data == {"field": "response_format"}
        assert SECRET_IN_FILE not in str(error) and "from-the-network" not in str(error)
    assert fault_server.count == 0
    assert target.count == 0


def test_a_tool_schema_that_leaves_itself_is_refused(
    service: QueryService, fault_server: FaultServer, target: FaultServer
) -> None:
    tools = [{"type": "function", "function": {"name": "f", "parameters": {"$ref": target.url}}}]
    with pytest.raises(QueryError) as caught:
        service.run(source(fault_server), {**json_query({"type": "object"}), "tools": json.dumps(tools)})
    assert (
        caught.value.description
        == f"tools[0].function.parameters: cannot be used here (at schema.$ref: {LEAVES})"
    )
    assert (fault_server.count, target.count) == (0, 0)


def test_local_references_and_recursion_that_descends_are_checked(
    service: QueryService, fault_server: FaultServer
) -> None:
    tree = {
        "type": "object",
        "properties": {
            "name": {"$ref": "#/$defs/name"},
            "children": {"type": "array", "items": {"$ref": "#"}},
        },
        "required": ["name"],
        "$defs": {"name": {"type": "string", "pattern": "^[a-z]+$"}},
    }
    good = {"name": "root", "children": [{"name": "leaf", "children": []}]}
    fault_server.script(answer(json.dumps(good)))
    assert service.run(source(fault_server), json_query(tree))["data"] == good

    fault_server.script(answer(json.dumps({"name": "root", "children": [{"name": "Leaf"}]})))
    with pytest.raises(QueryError) as caught:
        service.run(source(fault_server), json_query(tree))
    assert caught.value.description == (
        "The answer does not follow the response schema: children[0].name: "
        "does not match the schema's pattern"
    )
    assert caught.value.data["errorType"] == "invalid_output"


def test_a_backtracking_pattern_meets_a_long_answer_in_linear_time(
    service: QueryService, fault_server: FaultServer
) -> None:
    # ^(a+)+$ against 31 a's and a '!' takes Python's re about 2^31 steps; RE2 reads the text once, so
    # this test would not end at all on a backtracking engine
    schema = {"type": "object", "properties": {"a": {"type": "string", "pattern": "^(a+)+$"}}}
    fault_server.script(answer(json.dumps({"a": "a" * 100_000 + "!"})))
    with pytest.raises(QueryError) as caught:
        service.run(source(fault_server), json_query(schema))
    assert caught.value.description == (
        "The answer does not follow the response schema: a: does not match the schema's pattern"
    )


def test_a_check_that_would_take_forever_ends_at_the_query_deadline(
    service: QueryService, fault_server: FaultServer
) -> None:
    # 40 levels of anyOf, each naming the next twice: 2^40 checks of one value, no loop to refuse
    defs: dict[str, Any] = {f"d{i}": {"anyOf": [{"$ref": f"#/$defs/d{i + 1}"}] * 2} for i in range(40)}
    defs["d40"] = {"type": "string"}
    schema = {"type": "object", "properties": {"a": {"$ref": "#/$defs/d0"}}, "$defs": defs}
    fault_server.script(answer('{"a": 5}'))
    with pytest.raises(QueryError) as caught:
        service.run(source(fault_server, timeout="1"), json_query(schema))
    assert caught.value.description == (
        "The answer does not follow the response schema: (the answer): could not be checked against the "
        "schema before the query's time was up"
    )
    assert caught.value.data["errorType"] == "invalid_output"


def test_an_answer_deeper_than_any_check_is_invalid_output_not_a_plugin_error(
    service: QueryService, fault_server: FaultServer
) -> None:
    tree = {"type": "object", "properties": {"children": {"type": "array", "items": {"$ref": "#"}}}}
    fault_server.script(answer('{"children": [' * 300 + "{}" + "]}" * 300))
    with pytest.raises(QueryError) as caught:
        service.run(source(fault_server), json_query(tree))
    assert caught.value.description == (
        "The answer does not follow the response schema: (the answer): is nested more than 64 levels deep, "
        "too deep to check"
    )


def test_a_huge_enum_is_summarised_in_the_error(service: QueryService, fault_server: FaultServer) -> None:
    schema = {"type": "object", "properties": {"a": {"enum": [f"value-{i}" for i in range(100_000)]}}}
    fault_server.script(answer('{"a": "other"}'))
    with pytest.raises(QueryError) as caught:
        service.run(source(fault_server), json_query(schema))
    listed = ", ".join(f"value-{i}" for i in range(10))
    assert caught.value.description == (
        f"The answer does not follow the response schema: a: must be one of: {listed} (and 99,990 more)"
    )


def test_unique_items_compares_json_values(service: QueryService, fault_server: FaultServer) -> None:
    schema = {"type": "array", "uniqueItems": True}
    fault_server.script(answer('[1, true, {"a": 1, "b": [1]}, {"b": [1.0], "a": 1.0}]'))
    with pytest.raises(QueryError) as caught:
        service.run(source(fault_server), json_query(schema))
    assert caught.value.description == (
        "The answer does not follow the response schema: (the answer): must not hold the same item twice"
    )
    fault_server.script(answer("[1, true, 1.5, [1], {}]"))
    assert service.run(source(fault_server), json_query(schema))["data"] == [1, True, 1.5, [1], {}]


def test_the_simulator_refuses_a_schema_that_leaves_itself(target: FaultServer, creds: Path) -> None:
    with Simulator(profile="openai") as sim:
        for ref in (target.url, creds.as_uri()):
            body = {
                "model": "gpt-4o-mini",
                "messages": [{"role": "user", "content": "hi"}],
                "response_format": {
                    "type": "json_schema",
                    "json_schema": {
                        "name": "r",
                        "schema": {"type": "object", "properties": {"a": {"$ref": ref}}},
                    },
                },
            }
            reply = httpx.post(
                f"{sim.url}/chat/completions", json=body, headers={"authorization": "Bearer sk-x"}
            )
            assert reply.status_code == 400
            assert reply.json()["error"]["message"] == (
                "Invalid schema for response_format 'r': cannot be used here "
                f"(at schema.properties.(a name): {LEAVES})."
            )
            assert SECRET_IN_FILE not in reply.text
    assert target.count == 0
