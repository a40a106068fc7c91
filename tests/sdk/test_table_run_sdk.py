"""A chat table run beside the loop an app would write with the official ``openai`` SDK, one call per
row: against the simulator's hosted profile, each row of the plugin's run sends the request the SDK
sends for that row, and its entry holds what the SDK's answer parses to, checked against the schema."""

from __future__ import annotations

import json
from typing import Any

from sdk_support import KEY, PROVIDER_KEY, import_sdk

from tooljet_portkey import QueryService
from tooljet_portkey.simulator import Simulator

openai = import_sdk("openai", "openai")

PERSON = {
    "type": "object",
    "properties": {"name": {"type": "string"}, "age": {"type": "integer"}, "city": {"type": "string"}},
    "required": ["name", "age", "city"],
    "additionalProperties": False,
}
SYSTEM = "Extract the customer's name, age and city from the support ticket."
TICKETS = [f"Ticket {i}: Ada {i} ({30 + i}) from London cannot log in" for i in range(40)]
RESPONSE_FORMAT = {
    "type": "json_schema",
    "json_schema": {"name": "response", "schema": PERSON, "strict": True},
}


def sdk_loop(sim: Simulator) -> list[Any]:
    """What an app does without rows: one SDK call per ticket, its answer parsed as JSON."""
    headers = {"x-portkey-api-key": KEY, "x-portkey-provider": "openai"}
    outputs = []
    with openai.OpenAI(base_url=sim.url, api_key=PROVIDER_KEY, default_headers=headers) as sdk:
        for i, ticket in enumerate(TICKETS):
            answer = sdk.chat.completions.create(
                model="gpt-4o-mini",
                messages=[{"role": "system", "content": SYSTEM}, {"role": "user", "content": ticket}],
                response_format=RESPONSE_FORMAT,  # type: ignore[arg-type]
                extra_headers={"x-portkey-trace-id": f"sdk-{i}"},
            )
            outputs.append(json.loads(answer.choices[0].message.content or ""))
    return outputs


def test_a_chat_table_run_sends_each_row_as_the_sdk_loop_does(hosted: Simulator) -> None:
    expected = sdk_loop(hosted)
    sdk_bodies = [request.json for request in hosted.requests]
    hosted.reset()
    source = {"apiKey": KEY, "gatewayUrl": hosted.url, "provider": "openai", "providerApiKey": PROVIDER_KEY}
    query = {
        "operation": "chat",
        "model": "gpt-4o-mini",
        "system_prompt": SYSTEM,
        "response_format": json.dumps(PERSON),
        "output": "json",
        "rows": json.dumps(TICKETS),
        "traceId": "plugin",
        "concurrency": "8",
    }
    with QueryService() as service:
        result = service.run(source, query)
    by_trace = {request.headers["x-portkey-trace-id"]: request.json for request in hosted.requests}
    assert [by_trace[f"plugin-{i}"] for i in range(len(TICKETS))] == sdk_bodies
    costs = [entry.pop("cost") for entry in result["data"]]
    assert result["data"] == [
        {"row": i, "status": "ok", "output": output, "traceId": f"plugin-{i}"}
        for i, output in enumerate(expected)
    ]
    assert all(isinstance(cost, float) and cost > 0 for cost in costs)
    assert round(sum(costs), 12) == round(result["metadata"]["cost"]["total"], 12)
    assert (result["metadata"]["rows"], result["metadata"]["succeeded"]) == (len(TICKETS), len(TICKETS))
