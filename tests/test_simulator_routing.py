"""The simulator's fallback configs and guardrails, as Portkey's gateway answers them: the next target after
a failure its on_status_codes list, ``x-portkey-last-used-option-index`` naming the target that answered,
``hook_results`` in the body, 246 for a failed check, 446 for a denial (an input denial before any model is
called), and the config refused when a guardrail list mixes saved ids and inline checks."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tooljet_portkey import QueryError, QueryService
from tooljet_portkey.simulator import Simulator

HELLO = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Hello there"}], "max_tokens": 12}
KEY = "sk-openai-sim-routing"


@pytest.fixture(scope="module")
def _sim() -> Iterator[Simulator]:
    with Simulator(profile="gateway") as sim:
        yield sim


@pytest.fixture
def sim(_sim: Simulator) -> Simulator:
    _sim.reset()
    return _sim


def post(sim: Simulator, config: dict[str, Any], body: dict[str, Any] = HELLO) -> httpx.Response:
    headers = {"x-portkey-provider": "openai", "authorization": f"Bearer {KEY}",
               "x-portkey-config": json.dumps(config)}  # fmt: skip
    return httpx.post(f"{sim.url}/chat/completions", json=body, headers=headers, timeout=10)


def fallback(*models: str, codes: list[int] | None = None) -> dict[str, Any]:
    strategy: dict[str, Any] = {"mode": "fallback"}
    if codes is not None:
        strategy["on_status_codes"] = codes
    targets = [{"provider": "openai", "api_key": KEY, "override_params": {"model": m}} for m in models]
    return {"strategy": strategy, "targets": targets}


def test_a_failing_first_target_falls_back_to_the_next(sim: Simulator) -> None:
    sim.inject(path="/chat/completions", status=503, times=1)
    response = post(sim, fallback("gpt-4o-mini", "gpt-4o", codes=[429, 503]))
    assert response.status_code == 200
    assert response.headers["x-portkey-last-used-option-index"] == "config.targets[1]"
    assert (
        response.json()["model"] == "gpt-4o-2024-08-06"
    )  # the simulator answers dated names, as OpenAI does


def test_without_a_failure_the_first_target_answers_with_its_model(sim: Simulator) -> None:
    response = post(sim, fallback("gpt-4o", "gpt-4o-mini"))
    assert response.headers["x-portkey-last-used-option-index"] == "config.targets[0]"
    assert (
        response.json()["model"] == "gpt-4o-2024-08-06"
    )  # the simulator answers dated names, as OpenAI does


def test_a_status_not_in_on_status_codes_is_answered_as_it_is(sim: Simulator) -> None:
    sim.inject(path="/chat/completions", status=500, times=1)
    assert post(sim, fallback("gpt-4o-mini", "gpt-4o", codes=[429])).status_code == 500
    assert sim.faults.pending() == []


def test_every_target_failing_is_the_last_failure(sim: Simulator) -> None:
    sim.inject(path="/chat/completions", status=502, times=1)
    sim.inject(path="/chat/completions", status=429, times=1)
    assert post(sim, fallback("gpt-4o-mini", "gpt-4o")).status_code == 429


def test_the_service_says_which_fallback_served(sim: Simulator) -> None:
    sim.inject(path="/chat/completions", status=503, times=1)
    source = {"gatewayUrl": sim.url, "provider": "openai", "providerApiKey": KEY, "maxRetries": "0"}
    query = {"operation": "chat", "model": "gpt-4o-mini", "prompt": "Hi", "fallbacks": "gpt-4o",
             "fallbackOn": "429, 500-599"}  # fmt: skip
    with QueryService() as service:
        result = service.run(source, query)
    assert result["metadata"]["servedBy"] == {"index": 1, "model": "gpt-4o", "provider": "openai"}


def guardrail(side: str, check: dict[str, Any], deny: bool) -> dict[str, Any]:
    return {f"{side}_guardrails": [{**check, "deny": deny}]}


OUTSIDE = "The text contains 12 words, which is outside the specified range of 1-3 words."


def test_an_output_check_that_fails_is_a_246_with_hook_results(sim: Simulator) -> None:
    response = post(sim, guardrail("output", {"default.wordCount": {"minWords": 1, "maxWords": 3}}, False))
    assert response.status_code == 246
    assert response.json()["hook_results"] == {
        "before_request_hooks": [],
        "after_request_hooks": [{
            "verdict": False, "id": "output_guardrail_0", "type": "guardrail", "deny": False,
            "checks": [{"verdict": False, "id": "default.wordCount", "data": {"explanation": OUTSIDE}}],
        }],
    }  # fmt: skip


def test_checks_that_pass_are_a_200_with_hook_results(sim: Simulator) -> None:
    check = {"default.contains": {"words": ["simulated"], "operator": "any"}}
    response = post(sim, guardrail("output", check, True))
    assert response.status_code == 200
    [hook] = response.json()["hook_results"]["after_request_hooks"]
    assert (hook["verdict"], hook["deny"], hook["checks"][0]["verdict"]) == (True, False, True)


def test_an_output_check_that_denies_is_a_446(sim: Simulator) -> None:
    check = {"default.regexMatch": {"rule": "simulated", "not": True}}
    response = post(sim, guardrail("output", check, True))
    assert response.status_code == 446
    body = response.json()
    assert body["error"]["type"] == "hooks_failed"
    assert body["hook_results"]["after_request_hooks"][0]["checks"][0]["data"] == {
        "explanation": "The regex pattern 'simulated' matched the text, which it must not."
    }


def test_an_input_check_that_denies_is_a_446_before_the_model(sim: Simulator) -> None:
    email = {"default.regexMatch": {"rule": "[\\w.]+@[\\w.]+", "not": True}}
    body = {**HELLO, "messages": [{"role": "user", "content": "write to ada@example.com"}]}
    response = post(sim, guardrail("input", email, True), body)
    assert response.status_code == 446
    assert response.json()["hook_results"]["after_request_hooks"] == []
    assert response.json()["hook_results"]["before_request_hooks"][0]["deny"] is True


def test_a_check_the_simulator_does_not_run_fails_as_the_gateways_does(sim: Simulator) -> None:
    response = post(sim, guardrail("output", {"default.validUrls": {"onlyDNS": True}}, False))
    assert response.status_code == 246
    [check] = response.json()["hook_results"]["after_request_hooks"][0]["checks"]
    assert check == {"verdict": False, "id": "default.validUrls", "data": None,
                     "error": {"name": "Check error", "message": "Error executing check"}}  # fmt: skip


def test_a_list_of_ids_and_checks_mixed_is_refused(sim: Simulator) -> None:
    response = post(sim, {"input_guardrails": ["pg-1", {"default.contains": {"words": ["x"]}}]})
    assert response.status_code == 400
    assert response.json() == {"status": "failure", "message": "Invalid config passed",
                               "errors": ["path: input_guardrails, message: Invalid input"]}  # fmt: skip


def test_the_service_reads_a_simulated_denial(sim: Simulator) -> None:
    source = {"gatewayUrl": sim.url, "provider": "openai", "providerApiKey": KEY, "maxRetries": "0"}
    checks = json.dumps([{"default.regexMatch": {"rule": "simulated", "not": True}, "deny": True}])
    with QueryService() as service, pytest.raises(QueryError) as caught:
        service.run(source, {"operation": "completion", "model": "gpt-3.5-turbo-instruct", "prompt": "Hi",
                             "output_guardrails": checks})  # fmt: skip
    assert (caught.value.data["statusCode"], caught.value.data["errorType"]) == (446, "guardrail_denied")
    assert caught.value.data["guardrails"]["verdict"] == "denied"
