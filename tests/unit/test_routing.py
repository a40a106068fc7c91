"""Fallbacks and guardrails as query fields (_routing.py): the x-portkey-config they become on the wire,
the refusals before anything is sent, how they combine with a config the query or connection has, and
what the answer's headers and hook_results become (metadata.servedBy, metadata.guardrails, the 446)."""

from __future__ import annotations

import json
from typing import Any

import pytest
import respx
from unit_support import API_KEY, BASE_URL, CHAT_EXAMPLE, MINIMAL, PROMPT_EXAMPLE, SOURCE, wire

from tooljet_portkey import QueryError, QueryService

pytestmark = [pytest.mark.respx(base_url=BASE_URL), pytest.mark.usefixtures("no_retry_sleep")]

PROVIDER_KEY = "sk-provider-routing-0001"
# A connection that routes by headers: the provider, its key and a custom host
PROVIDER_SOURCE = {
    "gatewayUrl": BASE_URL,
    "maxRetries": "0",
    "provider": "openai",
    "providerApiKey": PROVIDER_KEY,
    "customHost": "http://llm.test/v1",
}
CHAT = MINIMAL["chat"]
VIA_CONNECTION = {"provider": "openai", "api_key": PROVIDER_KEY, "custom_host": "http://llm.test/v1"}


def sent_config(
    service: QueryService, respx_mock: respx.MockRouter, query: dict[str, Any], source: dict[str, Any]
) -> Any:
    """The x-portkey-config one query sends, parsed."""
    route = respx_mock.route().respond(200, json=CHAT_EXAMPLE)
    service.run(source, query)
    return json.loads(wire(route.calls.last.request)["headers"]["x-portkey-config"])


def refusal(service: QueryService, respx_mock: respx.MockRouter, query: dict[str, Any], source: Any) -> Any:
    """The QueryError's (description, data) for a query refused before anything is sent."""
    with pytest.raises(QueryError) as caught:
        service.run(source, query)
    assert respx_mock.calls.call_count == 0
    assert caught.value.message == "Invalid query options"
    return caught.value.description, caught.value.data


# ---------------------------------------------------------------------------------------------------
# The config on the wire


def test_a_model_name_fallback_takes_the_connections_provider_key_and_host(
    service: QueryService, respx_mock: respx.MockRouter
) -> None:
    query = {**CHAT, "fallbacks": '["gpt-4o", "@anthropic-prod/claude-3-5-haiku-20241022"]',
             "fallbackOn": "429, 500-504"}  # fmt: skip
    assert sent_config(service, respx_mock, query, PROVIDER_SOURCE) == {
        "strategy": {"mode": "fallback", "on_status_codes": [429, 500, 501, 502, 503, 504]},
        "targets": [
            {**VIA_CONNECTION, "override_params": {"model": "gpt-4o-mini"}},
            {**VIA_CONNECTION, "override_params": {"model": "gpt-4o"}},
            {"override_params": {"model": "@anthropic-prod/claude-3-5-haiku-20241022"}},
        ],
    }


def test_a_virtual_key_connection_routes_each_model_by_its_virtual_key(
    service: QueryService, respx_mock: respx.MockRouter
) -> None:
    source = {**SOURCE, "virtualKey": "vk-connection-1"}
    assert sent_config(service, respx_mock, {**CHAT, "fallbacks": "gpt-4o"}, source) == {
        "strategy": {"mode": "fallback"},
        "targets": [
            {"virtual_key": "vk-connection-1", "override_params": {"model": "gpt-4o-mini"}},
            {"virtual_key": "vk-connection-1", "override_params": {"model": "gpt-4o"}},
        ],
    }


def test_guardrails_alone_are_a_config_the_provider_headers_still_route(
    service: QueryService, respx_mock: respx.MockRouter
) -> None:
    check = {"default.regexMatch": {"rule": "[\\w.]+@[\\w.]+", "not": True}, "deny": True}
    query = {**CHAT, "input_guardrails": "pg-pii-1, pg-topics-2", "output_guardrails": json.dumps([check])}
    assert sent_config(service, respx_mock, query, PROVIDER_SOURCE) == {
        "input_guardrails": ["pg-pii-1", "pg-topics-2"],
        "output_guardrails": [check],
    }


def test_a_connections_json_config_is_merged_into_its_routing_goes_into_the_targets(
    service: QueryService, respx_mock: respx.MockRouter
) -> None:
    config = {
        "provider": "openai",
        "api_key": PROVIDER_KEY,
        "retry": {"attempts": 2},
        "cache": {"mode": "simple"},
    }
    source = {**SOURCE, "config": json.dumps(config)}
    assert sent_config(service, respx_mock, {**CHAT, "fallbacks": "gpt-4o"}, source) == {
        "retry": {"attempts": 2},
        "cache": {"mode": "simple"},
        "strategy": {"mode": "fallback"},
        "targets": [
            {"provider": "openai", "api_key": PROVIDER_KEY, "override_params": {"model": "gpt-4o-mini"}},
            {"provider": "openai", "api_key": PROVIDER_KEY, "override_params": {"model": "gpt-4o"}},
        ],
    }


def test_a_queries_config_wins_over_the_connections_and_keeps_its_own_keys(
    service: QueryService, respx_mock: respx.MockRouter
) -> None:
    source = {**PROVIDER_SOURCE, "config": "pc-connection-1"}
    query = {**CHAT, "config": '{"request_timeout": 5000}', "output_guardrails": '["pg-tone-1"]'}
    assert sent_config(service, respx_mock, query, source) == {
        "request_timeout": 5000,
        "output_guardrails": ["pg-tone-1"],
    }


def test_a_config_target_fallback_is_sent_as_given(
    service: QueryService, respx_mock: respx.MockRouter
) -> None:
    fallback = {
        "provider": "anthropic",
        "api_key": "sk-ant-0002",
        "override_params": {"model": "claude-3-5-haiku"},
    }
    query = {**MINIMAL["create_embedding"], "fallbacks": json.dumps([fallback])}
    route = respx_mock.route().respond(200, json={"object": "list", "data": []})
    service.run(PROVIDER_SOURCE, query)
    assert json.loads(wire(route.calls.last.request)["headers"]["x-portkey-config"])["targets"] == [
        {**VIA_CONNECTION, "override_params": {"model": "text-embedding-3-small"}},
        fallback,
    ]


# ---------------------------------------------------------------------------------------------------
# Refusals, naming the field (and the item), before anything is sent

LOADBALANCE = '{"strategy": {"mode": "loadbalance"}, "targets": [{"virtual_key": "v"}]}'
REFUSALS = [
    ("fallbackOn-alone", {"fallbackOn": "429"}, PROVIDER_SOURCE,
     "fallbackOn: goes with fallbacks: give the models to fall back to", "fallbackOn"),
    ("status-out-of-range", {"fallbacks": "gpt-4o", "fallbackOn": "429, 600"}, PROVIDER_SOURCE,
     "fallbackOn[1]: must be a status code (429) or a range of them (500-599)", "fallbackOn"),
    ("range-backwards", {"fallbacks": "gpt-4o", "fallbackOn": "599-500"}, PROVIDER_SOURCE,
     "fallbackOn[0]: a range must go from low to high (500-599)", "fallbackOn"),
    ("fallback-not-text-or-target", {"fallbacks": '["gpt-4o", 7]'}, PROVIDER_SOURCE,
     "fallbacks[1]: must be text or a JSON object", "fallbacks"),
    ("target-bad-mode", {"fallbacks": '[{"strategy": {"mode": "race"}}]'}, PROVIDER_SOURCE,
     "fallbacks[0].strategy.mode: must be one of: single, loadbalance, fallback, conditional", "fallbacks"),
    ("empty-target", {"fallbacks": "[{}]"}, PROVIDER_SOURCE,
     "fallbacks[0]: a config target must say where to go (provider, virtual_key or override_params)",
     "fallbacks"),
    ("too-many", {"fallbacks": json.dumps([f"m-{i}" for i in range(9)])}, PROVIDER_SOURCE,
     "fallbacks: must have at most 8 items", "fallbacks"),
    ("model-name-without-routing", {"fallbacks": "gpt-4o, claude-3-5-haiku"}, SOURCE,
     "fallbacks[0]: a model name needs the connection's provider or virtual key to route to: give Model "
     "Catalog models (@slug/model) or config targets", "fallbacks"),
    ("saved-config-id", {"fallbacks": "gpt-4o", "config": "pc-routing-1"}, PROVIDER_SOURCE,
     "fallbacks: cannot be added to the query's config, a saved config id: put it in that saved config, or "
     "give the config as a JSON object", "fallbacks"),
    ("connection-saved-config", {"input_guardrails": '["pg-1"]'}, {**PROVIDER_SOURCE, "config": "pc-c-1"},
     "input_guardrails: cannot be added to the connection's config, a saved config id: put it in that saved "
     "config, or give the config as a JSON object", "input_guardrails"),
    ("config-already-routes", {"fallbacks": "gpt-4o", "config": LOADBALANCE},
     PROVIDER_SOURCE, "fallbacks: the config already routes (strategy, targets): add these models to its "
     "targets, or leave strategy and targets out of the config", "fallbacks"),
    ("config-already-checks", {"output_guardrails": '["pg-2"]', "config": '{"output_guardrails": ["pg-1"]}'},
     PROVIDER_SOURCE, "output_guardrails: the config already has output_guardrails: put these checks there, "
     "or leave them out of the config", "output_guardrails"),
    ("ids-and-checks-mixed", {"input_guardrails": '["pg-1", {"default.contains": {"words": ["x"]}}]'},
     PROVIDER_SOURCE,
     "input_guardrails: give either saved guardrail ids or inline checks, not both in one list",
     "input_guardrails"),
    ("no-check", {"output_guardrails": '[{"deny": true}]'}, PROVIDER_SOURCE,
     "output_guardrails[0]: has no check (such as default.regexMatch)", "output_guardrails"),
    ("check-not-an-object", {"output_guardrails": '[{"default.wordCount": 5}]'}, PROVIDER_SOURCE,
     "output_guardrails[0]: a value must be a JSON object", "output_guardrails"),
    ("check-name", {"output_guardrails": '[{"default regex": {}}]'}, PROVIDER_SOURCE,
     "output_guardrails[0]: has a check whose name is not plugin.check (default.regexMatch)",
     "output_guardrails"),
    ("deny-not-boolean", {"input_guardrails": '[{"default.contains": {}, "deny": "yes"}]'}, PROVIDER_SOURCE,
     "input_guardrails[0].deny: must be true or false", "input_guardrails"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("fields", "source", "description", "field"), [c[1:] for c in REFUSALS], ids=[c[0] for c in REFUSALS]
)
def test_bad_routing_fields_are_refused_naming_the_field(
    service: QueryService,
    respx_mock: respx.MockRouter,
    fields: dict[str, Any],
    source: dict[str, Any],
    description: str,
    field: str,
) -> None:
    assert refusal(service, respx_mock, {**CHAT, **fields}, source) == (description, {"field": field})


def test_guardrail_fields_are_chat_and_completion_only(
    service: QueryService, respx_mock: respx.MockRouter
) -> None:
    query = {**MINIMAL["create_embedding"], "output_guardrails": '["pg-1"]'}
    route = respx_mock.route().respond(200, json={"object": "list", "data": []})
    service.run(PROVIDER_SOURCE, query)  # not a field of create_embedding: left alone, as any unknown key
    assert "x-portkey-config" not in wire(route.calls.last.request)["headers"]


# ---------------------------------------------------------------------------------------------------
# What the answer says: servedBy and guardrails


def answered(
    service: QueryService, respx_mock: respx.MockRouter, query: dict[str, Any], source: dict[str, Any],
    index: str, status: int = 200, body: Any = None,
) -> dict[str, Any]:  # fmt: skip
    respx_mock.route().respond(
        status,
        json=body or CHAT_EXAMPLE,
        headers={"x-portkey-last-used-option-index": index, "x-portkey-provider": "openai"},
    )
    return service.run(source, query)["metadata"]


def test_served_by_names_the_fallback_that_answered(
    service: QueryService, respx_mock: respx.MockRouter
) -> None:
    query = {**CHAT, "fallbacks": "gpt-4o, @anthropic-prod/claude-3-5-haiku-20241022"}
    meta = answered(service, respx_mock, query, PROVIDER_SOURCE, "config.targets[1]")
    assert meta["servedBy"] == {"index": 1, "model": "gpt-4o", "provider": "openai"}
    assert meta["lastUsedOptionIndex"] == "config.targets[1]"


def test_served_by_of_a_model_catalog_fallback_says_its_provider_slug(
    service: QueryService, respx_mock: respx.MockRouter
) -> None:
    query = {**CHAT, "fallbacks": "@anthropic-prod/claude-3-5-haiku-20241022"}
    respx_mock.route().respond(
        200, json=CHAT_EXAMPLE, headers={"x-portkey-last-used-option-index": "config.targets[1]"}
    )
    assert service.run(SOURCE, query)["metadata"]["servedBy"] == {
        "index": 1,
        "model": "@anthropic-prod/claude-3-5-haiku-20241022",
        "provider": "anthropic-prod",
    }


def test_served_by_reads_a_config_of_the_users_own_and_never_shows_a_key(
    service: QueryService, respx_mock: respx.MockRouter
) -> None:
    config = {"strategy": {"mode": "loadbalance"},
              "targets": [{"provider": "openai", "api_key": "sk-first-0003"},
                          {"provider": "groq", "api_key": "sk-second-0004"}]}  # fmt: skip
    meta = answered(service, respx_mock, {**CHAT, "config": json.dumps(config)}, SOURCE, "config.targets[1]")
    assert meta["servedBy"] == {"index": 1, "model": "gpt-4o-mini", "provider": "openai"}
    assert "sk-" not in json.dumps(meta)


@pytest.mark.parametrize("index", ["config", "", "config.targets[x]"])
def test_no_served_by_without_a_target_that_answered(
    service: QueryService, respx_mock: respx.MockRouter, index: str
) -> None:
    meta = answered(service, respx_mock, {**CHAT, "output_guardrails": '["pg-1"]'}, PROVIDER_SOURCE, index)
    assert "servedBy" not in meta


def test_no_served_by_when_no_config_was_sent(service: QueryService, respx_mock: respx.MockRouter) -> None:
    assert "servedBy" not in answered(service, respx_mock, CHAT, PROVIDER_SOURCE, "config.targets[0]")


# hook_results as Portkey's gateway writes them (check results trimmed to what is read)
MATCHED = {"explanation": "The regex pattern matched."}
TOO_MANY = "The text contains 12 words, which is not within the range of 1-5 words."
HOOK_RESULTS = {
    "before_request_hooks": [
        {"id": "input_guardrail_a1b", "verdict": True, "deny": False, "checks": [
            {"id": "default.regexMatch", "verdict": True, "data": MATCHED}]},
    ],
    "after_request_hooks": [
        {"id": "output_guardrail_c2d", "verdict": False, "deny": False, "checks": [
            {"id": "default.wordCount", "verdict": False,
             "data": {"explanation": TOO_MANY}},
            {"id": "default.jsonSchema", "verdict": False, "data": None,
             "error": {"name": "Error", "message": "No JSON found"}}]},
        {"id": "output_guardrail_e3f", "type": "guardrail", "skipped": True},
    ],
}  # fmt: skip
CHECKED = {
    "before": [{"id": "input_guardrail_a1b", "verdict": "passed", "checks": [
        {"id": "default.regexMatch", "verdict": "passed", "explanation": MATCHED["explanation"]}]}],
    "after": [
        {"id": "output_guardrail_c2d", "verdict": "failed", "checks": [
            {"id": "default.wordCount", "verdict": "failed",
             "explanation": TOO_MANY},
            {"id": "default.jsonSchema", "verdict": "failed", "explanation": "No JSON found"}]},
        {"id": "output_guardrail_e3f", "verdict": "skipped", "checks": []},
    ],
}  # fmt: skip


def test_a_246_is_ok_with_the_verdict_failed_and_each_check(
    service: QueryService, respx_mock: respx.MockRouter
) -> None:
    body = {**CHAT_EXAMPLE, "hook_results": HOOK_RESULTS}
    meta = answered(
        service, respx_mock, {**CHAT, "output_guardrails": '["pg-1"]'}, PROVIDER_SOURCE, "config", 246, body
    )
    assert meta["guardrailWarning"] is True
    assert meta["guardrails"] == {
        "verdict": "failed",
        "checks": [check for side in ("before", "after") for g in CHECKED[side] for check in g["checks"]],
        **CHECKED,
    }


def test_passed_checks_are_the_verdict_passed(service: QueryService, respx_mock: respx.MockRouter) -> None:
    body = {**CHAT_EXAMPLE, "hook_results": {"before_request_hooks": HOOK_RESULTS["before_request_hooks"]}}
    meta = answered(
        service, respx_mock, {**CHAT, "input_guardrails": '["pg-1"]'}, PROVIDER_SOURCE, "config", 200, body
    )
    assert meta["guardrails"] == {"verdict": "passed", "checks": CHECKED["before"][0]["checks"],
                                  "before": CHECKED["before"], "after": []}  # fmt: skip


def test_a_446_is_guardrail_denied_with_the_failed_checks_in_data(
    service: QueryService, respx_mock: respx.MockRouter
) -> None:
    denied = {"id": "input_guardrail_x", "verdict": False, "deny": True, "checks": [
        {"id": "default.regexMatch", "verdict": False, "data": MATCHED}]}  # fmt: skip
    body = {
        "error": {"message": "The guardrail checks defined in the config failed. You can find more "
                  "information in the `hook_results` object.", "type": "hooks_failed", "param": None,
                  "code": None},
        "hook_results": {"before_request_hooks": [denied], "after_request_hooks": []},
    }  # fmt: skip
    respx_mock.route().respond(446, json=body, headers={"x-portkey-trace-id": "tr-446"})
    with pytest.raises(QueryError) as caught:
        checks = [{"default.regexMatch": {"rule": "x"}, "deny": True}]
        service.run(PROVIDER_SOURCE, {**CHAT, "input_guardrails": json.dumps(checks)})
    assert caught.value.description == body["error"]["message"]
    assert caught.value.data == {
        "statusCode": 446,
        "errorType": "guardrail_denied",
        "traceId": "tr-446",
        "retries": 0,
        "hookResults": body["hook_results"],
        "guardrails": {
            "verdict": "denied",
            "checks": [{"id": "default.regexMatch", "verdict": "failed", **MATCHED}],
            "before": [{"id": "input_guardrail_x", "verdict": "denied", "checks": [
                {"id": "default.regexMatch", "verdict": "failed", **MATCHED}]}],
            "after": [],
        },
    }  # fmt: skip


def test_a_fallback_providers_key_quoted_in_an_error_is_hidden(
    service: QueryService, respx_mock: respx.MockRouter
) -> None:
    fallback = {"provider": "anthropic", "api_key": "sk-ant-quoted-0005"}
    respx_mock.route().respond(
        401, json={"error": {"message": "bad key sk-ant-quoted-0005 and " + PROVIDER_KEY}}
    )
    with pytest.raises(QueryError) as caught:
        service.run(PROVIDER_SOURCE, {**CHAT, "fallbacks": json.dumps([fallback])})
    assert caught.value.description == "bad key *** and ***"


def test_table_rows_each_say_which_target_answered(
    service: QueryService, respx_mock: respx.MockRouter
) -> None:
    answers = iter(["config.targets[0]", "config.targets[1]"])
    respx_mock.route().mock(side_effect=lambda request: __import__("httpx").Response(
        200, json=PROMPT_EXAMPLE, headers={"x-portkey-last-used-option-index": next(answers)}))  # fmt: skip
    query = {**MINIMAL["prompt_completion"], "rows": '[{"n": 1}, {"n": 2}]', "concurrency": "1",
             "fallbacks": "gpt-4o", "output": "text"}  # fmt: skip
    rows = service.run(PROVIDER_SOURCE, query)["data"]
    assert [row["servedBy"] for row in rows] == [
        {"index": 0, "provider": "openai"},
        {"index": 1, "model": "gpt-4o", "provider": "openai"},
    ]


def test_api_key_is_not_a_fallback_routing(service: QueryService, respx_mock: respx.MockRouter) -> None:
    """The Portkey API key routes nothing: it never goes into a target."""
    query = {**CHAT, "fallbacks": "@openai-backup/gpt-4o"}
    config = sent_config(service, respx_mock, query, SOURCE)
    assert API_KEY not in json.dumps(config)
