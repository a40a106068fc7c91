"""Chat table runs at a realistic size against real servers on loopback: 5,000 rows extracted into a
table through the simulator, each answer a schema instance checked by the plugin; and a server whose
answers sometimes break the schema, so that those rows, and only those, fail as ``invalid_output``.

Nothing waits a fixed time: each run ends when its last row has answered.
"""

from __future__ import annotations

import json
from typing import Any

from jsonschema import Draft202012Validator
from loopback_server import FaultServer, Reply, Seen

from tooljet_portkey import AsyncQueryService, QueryService
from tooljet_portkey.simulator import Simulator

ROWS = 5000
PERSON = {
    "type": "object",
    "properties": {"name": {"type": "string"}, "age": {"type": "integer"}, "city": {"type": "string"}},
    "required": ["name", "age", "city"],
    "additionalProperties": False,
}
TICKETS = [f"Ticket {i}: Ada {i} ({20 + i % 60}) from London says her parcel is late" for i in range(ROWS)]


def extraction(concurrency: int, **fields: Any) -> dict[str, Any]:
    """The recipe's query (docs/batch.md): a chat prompt, a schema, one row of text per ticket."""
    return {
        "operation": "chat",
        "model": "gpt-4o-mini",
        "system_prompt": "Extract the customer's name, age and city from the support ticket.",
        "response_format": json.dumps(PERSON),
        "output": "json",
        "rows": json.dumps(TICKETS),
        "concurrency": str(concurrency),
        "traceId": "extract-7",
        **fields,
    }


def test_five_thousand_rows_are_extracted_in_order_each_checked_against_the_schema() -> None:
    with Simulator(profile="gateway") as sim, QueryService() as service:
        source = {"gatewayUrl": sim.url, "provider": "openai", "providerApiKey": "sk-loopback"}
        progress: list[int] = []
        result = service.run(source, extraction(16), on_progress=lambda done, total: progress.append(done))
        sent = sim.requests
    metadata = result["metadata"]
    assert {key: metadata[key] for key in ("rows", "succeeded", "failed", "skipped", "retries")} == {
        "rows": ROWS,
        "succeeded": ROWS,
        "failed": 0,
        "skipped": 0,
        "retries": 0,
    }
    assert [(entry["row"], entry["status"], entry["traceId"]) for entry in result["data"]] == [
        (i, "ok", f"extract-7-{i}") for i in range(ROWS)
    ]
    schema = Draft202012Validator(PERSON)
    assert [entry["row"] for entry in result["data"] if not schema.is_valid(entry["output"])] == []
    assert progress == list(range(1, ROWS + 1))
    # each row's own request: its ticket after the form's system prompt, under its own trace id
    by_trace = {request.headers["x-portkey-trace-id"]: request.json for request in sent}
    assert len(by_trace) == ROWS
    assert by_trace["extract-7-4999"]["messages"] == [
        {"role": "system", "content": "Extract the customer's name, age and city from the support ticket."},
        {"role": "user", "content": TICKETS[4999]},
    ]
    usage = metadata["usage"]
    assert usage["total_tokens"] == usage["prompt_tokens"] + usage["completion_tokens"] > 0


def broken_every_seventh(seen: Seen) -> Reply:
    """A model that answers the ticket's person, but for every seventh ticket gives the age as words."""
    ticket = seen.body["messages"][-1]["content"]
    number = int(ticket.split(":")[0].removeprefix("Ticket "))
    age: Any = "forty" if number % 7 == 0 else 20 + number % 60
    text = json.dumps({"name": f"Ada {number}", "age": age, "city": "London"})
    answer = {
        "id": "chatcmpl-loopback",
        "object": "chat.completion",
        "model": "gpt-4o-mini",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 20, "completion_tokens": 9, "total_tokens": 29},
    }
    return Reply(body=answer, headers={"x-portkey-trace-id": seen.headers["x-portkey-trace-id"]})


def test_rows_whose_answer_breaks_the_schema_fail_alone(fault_server: FaultServer) -> None:
    fault_server.route(broken_every_seventh)
    with QueryService() as service:
        result = service.run({"gatewayUrl": fault_server.url}, extraction(8, rows=json.dumps(TICKETS[:2000])))
    broken = [i for i in range(2000) if i % 7 == 0]
    assert [entry["row"] for entry in result["data"] if entry["status"] == "failed"] == broken
    assert result["data"][7] == {
        "row": 7,
        "status": "failed",
        "error": {
            "message": "The answer is not the output asked for",
            "description": "The answer does not follow the response schema: age: must be a whole number",
            "data": {
                "statusCode": 200,
                "errorType": "invalid_output",
                "traceId": "extract-7-7",
                "output": '{"name": "Ada 7", "age": "forty", "city": "London"}',
            },
        },
    }
    assert result["data"][8] == {
        "row": 8,
        "status": "ok",
        "output": {"name": "Ada 8", "age": 28, "city": "London"},
        "traceId": "extract-7-8",
        "cost": None,  # the connection names no provider: a billed row whose cost cannot be told
    }
    metadata = result["metadata"]
    assert (metadata["rows"], metadata["succeeded"], metadata["failed"]) == (
        2000,
        2000 - len(broken),
        len(broken),
    )
    # failed rows used nothing: the usage is the rows that succeeded
    assert metadata["usage"] == {
        "prompt_tokens": 20 * (2000 - len(broken)),
        "completion_tokens": 9 * (2000 - len(broken)),
        "total_tokens": 29 * (2000 - len(broken)),
    }


def test_an_async_run_of_the_same_table_gives_the_same_entries(fault_server: FaultServer) -> None:
    import asyncio

    fault_server.route(broken_every_seventh)
    query = extraction(8, rows=json.dumps(TICKETS[:500]))
    with QueryService() as service:
        threaded = service.run({"gatewayUrl": fault_server.url}, query)

    async def main() -> Any:
        async with AsyncQueryService() as service:
            return await service.run({"gatewayUrl": fault_server.url}, query)

    assert asyncio.run(main())["data"] == threaded["data"]
