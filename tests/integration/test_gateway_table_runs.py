"""A chat table run through the real open-source Portkey gateway, with the simulator as the provider:
every row reaches the provider as its own request (the form's system prompt, the row's text, the
schema as a strict response format), each under its own trace id, and each entry holds the provider's
answer parsed and checked against the schema, in row order."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from gateway_support import Gateway, Runner, portkey_headers

from tooljet_portkey.simulator import RecordedRequest, Simulator

pytestmark = pytest.mark.gateway

KEY = "sk-provider-key-0001"
ROWS = 120
PERSON = {
    "type": "object",
    "properties": {"name": {"type": "string"}, "age": {"type": "integer"}, "city": {"type": "string"}},
    "required": ["name", "age", "city"],
    "additionalProperties": False,
}
SYSTEM = "Extract the customer's name, age and city from the support ticket."
TICKETS = [f"Ticket {i}: Ada {i} ({20 + i % 60}) from London says her parcel is late" for i in range(ROWS)]


def row_body(ticket: str, **fields: Any) -> dict[str, Any]:
    return {
        "model": "gpt-4o-mini",
        "messages": [{"role": "system", "content": SYSTEM}, {"role": "user", "content": ticket}],
        "response_format": {
            "type": "json_schema",
            "json_schema": {"name": "response", "schema": PERSON, "strict": True},
        },
        **fields,
    }


def test_a_chat_table_run_reaches_the_provider_one_request_a_row(
    run: Runner,
    gateway: Gateway,
    upstream: Simulator,
    direct_answer: Callable[[RecordedRequest], dict[str, Any]],
) -> None:
    source = {"gatewayUrl": gateway.url, "maxRetries": "0", "provider": "openai", "customHost": upstream.url,
              "providerApiKey": KEY}  # fmt: skip
    rows: list[Any] = [*TICKETS[:-1], {"prompt": TICKETS[-1], "temperature": 0}]
    query = {
        "operation": "chat",
        "model": "gpt-4o-mini",
        "system_prompt": SYSTEM,
        "response_format": json.dumps(PERSON),
        "output": "json",
        "rows": json.dumps(rows),
        "traceId": "gateway-table",
        "concurrency": "8",
    }

    result = run(source, query)

    recorded = upstream.requests
    bodies = sorted(
        (r.json for r in recorded), key=lambda body: TICKETS.index(body["messages"][1]["content"])
    )
    assert bodies == [row_body(ticket) for ticket in TICKETS[:-1]] + [row_body(TICKETS[-1], temperature=0)]
    assert {r.headers["authorization"] for r in recorded} == {f"Bearer {KEY}"}
    assert [portkey_headers(r.headers) for r in recorded if portkey_headers(r.headers)] == []
    by_ticket = {r.json["messages"][1]["content"]: r for r in recorded}
    expected = [json.loads(direct_answer(by_ticket[t])["choices"][0]["message"]["content"]) for t in TICKETS]
    costs = [entry.pop("cost") for entry in result["data"]]
    assert result["data"] == [
        {"row": i, "status": "ok", "output": output, "traceId": f"gateway-table-{i}"}
        for i, output in enumerate(expected)
    ]
    # each row priced from the answer the gateway passed on, and the run's total their sum
    assert all(isinstance(cost, float) and cost > 0 for cost in costs)
    assert round(sum(costs), 12) == round(result["metadata"]["cost"]["total"], 12)
    metadata = result["metadata"]
    assert {key: metadata[key] for key in ("rows", "succeeded", "failed", "skipped", "retries")} == {
        "rows": ROWS, "succeeded": ROWS, "failed": 0, "skipped": 0, "retries": 0,
    }  # fmt: skip
    assert (metadata["traceId"], metadata["provider"], metadata["statusCode"]) == (
        "gateway-table-0",
        "openai",
        200,
    )
