"""Fallbacks and guardrails as form fields: the Portkey config they become, and what the answer says of
them (who answered, the guardrails' verdict). Pure, no I/O.

The config (docs/routing.md):
``{"strategy": {"mode": "fallback"[, "on_status_codes"]}, "targets": [<the query's own model>,
<fallbacks...>], "input_guardrails": [...], "output_guardrails": [...]}``, sent as ``x-portkey-config``.
A model name becomes a target with the connection's routing (its provider and provider key, custom
host, or virtual key) and the model in ``override_params``: Portkey's gateway does not pass a request's
provider headers on to a config's targets, so each target carries them itself (the header is secret-
bearing: see ``_secrets.header_secrets``). A Model Catalog model (``@slug/model``) routes itself.

A config the query or the connection already has (the query's wins, as everywhere) combines by one rule:
a JSON config is merged into, when it does not already set what a field sets (``strategy``/``targets``
for fallbacks, ``input_guardrails``/``output_guardrails`` for guardrails); its provider, key and custom
host are then the routing of each model-name target. Anything else (a saved config id, a config that
routes or checks already) is a QueryError naming the field, never a silent override.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from ._constants import MAX_HEADER_CHARS
from ._settings import ConnectionSettings
from ._spec import config_header, invalid_option

__all__ = ["ROUTING_FIELDS", "guardrail_verdicts", "routing_config", "routing_header", "served_by"]

# The form fields this module turns into a config
ROUTING_FIELDS = frozenset({"fallbacks", "fallbackOn", "input_guardrails", "output_guardrails"})
_GUARDRAIL_FIELDS = ("input_guardrails", "output_guardrails")

# Config keys that hold for the whole request, whatever the target: kept at the config's top level.
# Every other key of a JSON config (provider, api_key, custom_host, virtual_key, aws_*, override_params,
# ...) says where one target goes, and moves into each model-name target when fallbacks are given.
_REQUEST_WIDE = frozenset({
    "strategy", "targets", "retry", "cache", "request_timeout", "input_guardrails", "output_guardrails",
    "before_request_hooks", "after_request_hooks", "forward_headers", "strict_open_ai_compliance",
})  # fmt: skip
# Keys of an inline guardrail that are options of the guardrail, not checks (as the gateway reads them)
_GUARDRAIL_OPTIONS = frozenset({"deny", "async", "sequential", "id", "on_fail", "on_success", "type",
                                "guardrail_version_id"})  # fmt: skip
_CHECK_NAME = re.compile(r"^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)?$")
_STATUS_RANGE = re.compile(r"^([1-5][0-9][0-9])(?:-([1-5][0-9][0-9]))?$")
_TARGET_PATH = re.compile(r"^config((?:\.targets\[\d+\])+)$")
_TARGET_STEP = re.compile(r"\.targets\[(\d+)\]")


def routing_header(settings: ConnectionSettings, params: Mapping[str, Any]) -> str | None:
    """The ``x-portkey-config`` text of ``routing_config``, refused when no header could hold it."""
    config = routing_config(settings, params)
    if config is None:
        return None
    text = config_header(config)
    if len(text) > MAX_HEADER_CHARS:
        key = "fallbacks" if "fallbacks" in params else next(k for k in _GUARDRAIL_FIELDS if k in params)
        problem = f"makes a config longer than {MAX_HEADER_CHARS} characters as JSON, the most a header holds"
        raise invalid_option(key, problem)
    return text


def routing_config(settings: ConnectionSettings, params: Mapping[str, Any]) -> dict[str, Any] | None:
    """The config a query's fallbacks and guardrails make, merged with the query's (or else the
    connection's) config by the rule above; None when the query has none of these fields."""
    given = [key for key in ("fallbacks", *_GUARDRAIL_FIELDS) if key in params]
    if not given:
        if "fallbackOn" in params:
            raise invalid_option("fallbackOn", "goes with fallbacks: give the models to fall back to")
        return None
    base = _base_config(settings, params, given[0])
    config = dict(base)
    for key in _GUARDRAIL_FIELDS:
        if key in params:
            if key in base:
                raise invalid_option(key, f"the config already has {key}: put these checks there, or leave "
                                     "them out of the config")  # fmt: skip
            config[key] = _guardrails(key, params[key])
    if "fallbacks" in params:
        if "strategy" in base or "targets" in base:
            problem = (
                "the config already routes (strategy, targets): add these models to its targets, or "
                "leave strategy and targets out of the config"
            )
            raise invalid_option("fallbacks", problem)
        routing = {key: value for key, value in base.items() if key not in _REQUEST_WIDE}
        config = {key: value for key, value in config.items() if key in _REQUEST_WIDE}
        config["strategy"] = {"mode": "fallback"}
        if "fallbackOn" in params:
            config["strategy"]["on_status_codes"] = status_codes(params["fallbackOn"])
        via = routing or _connection_routing(settings, params)
        own = _model_target(via, params.get("model"), "fallbacks", own=True)
        config["targets"] = [own, *(_fallback(via, item, i) for i, item in enumerate(params["fallbacks"]))]
    elif "fallbackOn" in params:
        raise invalid_option("fallbackOn", "goes with fallbacks: give the models to fall back to")
    return config


def _base_config(settings: ConnectionSettings, params: Mapping[str, Any], key: str) -> dict[str, Any]:
    """The query's config, else the connection's, as an object to merge into; a saved config id is
    refused (its content is not known here), naming the field that needs the merge."""
    if "config" in params:
        config, where = params["config"], "the query's config"
    elif settings.config:
        config, where = _parsed(settings.config), "the connection's config"
    else:
        return {}
    if not isinstance(config, dict):
        raise invalid_option(key, f"cannot be added to {where}, a saved config id: put it in that saved "
                             "config, or give the config as a JSON object")  # fmt: skip
    return config


def _parsed(text: str) -> Any:
    try:
        return json.loads(text)
    except ValueError:
        return text


def _connection_routing(settings: ConnectionSettings, params: Mapping[str, Any]) -> dict[str, Any]:
    """Where the connection sends a request (its headers), as the keys of a config target."""
    virtual_key = params.get("virtualKey") or settings.virtual_key
    if virtual_key:
        return {"virtual_key": virtual_key}
    routing: dict[str, Any] = {}
    if settings.provider:
        routing["provider"] = settings.provider
        if settings.provider_api_key:
            routing["api_key"] = settings.provider_api_key
        if settings.custom_host:
            routing["custom_host"] = settings.custom_host
    return routing


def _model_target(
    routing: Mapping[str, Any], model: Any, key: str, where: str = "", own: bool = False
) -> Any:
    """A model name as a config target: a Model Catalog model routes itself; any other needs the
    connection's (or the config's) routing. ``own``: the query's own model (none for a saved prompt,
    whose own routing then applies), which goes with whatever routing there is."""
    overrides = dict(routing.get("override_params") or {})
    if isinstance(model, str) and model.startswith("@") and "/" in model:
        return {"override_params": {**overrides, "model": model}}
    if not routing and not own:  # the query's own model goes where it would go without fallbacks
        raise invalid_option(key, "a model name needs the connection's provider or virtual key to route to: "
                             "give Model Catalog models (@slug/model) or config targets", where)  # fmt: skip
    target = {k: v for k, v in routing.items() if k != "override_params"}
    if model is not None:
        overrides["model"] = model
    if overrides:
        target["override_params"] = overrides
    return target


def _fallback(routing: Mapping[str, Any], item: Any, index: int) -> Any:
    if isinstance(item, dict):
        if not item:
            problem = "a config target must say where to go (provider, virtual_key or override_params)"
            raise invalid_option("fallbacks", problem, f"[{index}]")
        return item
    return _model_target(routing, item, "fallbacks", f"[{index}]")


def status_codes(items: Any) -> list[int]:
    """``fallbackOn`` (``[429, "500-599"]``) as the sorted status codes Portkey's config takes."""
    codes: set[int] = set()
    for index, item in enumerate(items):
        if isinstance(item, int):
            codes.add(item)
            continue
        found = _STATUS_RANGE.match(item)
        if found is None:  # the schema has refused it already
            raise invalid_option("fallbackOn", "must be a status code (429) or a range of them (500-599)",
                                 f"[{index}]")  # fmt: skip
        low, high = int(found[1]), int(found[2] or found[1])
        if low > high:
            raise invalid_option("fallbackOn", "a range must go from low to high (500-599)", f"[{index}]")
        codes.update(range(low, high + 1))
    return sorted(codes)


def _guardrails(key: str, items: list[Any]) -> list[Any]:
    """Saved guardrail ids or inline checks, not both (Portkey's config takes a list of one or the other);
    each inline guardrail has at least one check, each named ``plugin.check`` or ``check``."""
    if len({isinstance(item, str) for item in items}) > 1:
        raise invalid_option(key, "give either saved guardrail ids or inline checks, not both in one list")
    for index, item in enumerate(items):
        if isinstance(item, str):
            continue
        checks = [name for name in item if name not in _GUARDRAIL_OPTIONS]
        if not checks:
            raise invalid_option(key, "has no check (such as default.regexMatch)", f"[{index}]")
        if any(_CHECK_NAME.match(name) is None for name in checks):
            raise invalid_option(key, "has a check whose name is not plugin.check (default.regexMatch)",
                                 f"[{index}]")  # fmt: skip
    return items


# ---------------------------------------------------------------------------------------------------
# What the answer says


def served_by(option_index: str | None, config_header: str | None, body_model: Any,
              provider: str | None) -> dict[str, Any] | None:  # fmt: skip
    """The config target that answered, from ``x-portkey-last-used-option-index`` (``config.targets[1]``):
    ``{index, model, provider}`` (model and provider where the plugin can tell); None when no target of a
    config answered. Never a key: only the target's model and provider name are read."""
    found = _TARGET_PATH.match(option_index or "")
    if found is None or not config_header:  # no config sent: nothing of ours was routed
        return None
    steps = [int(step) for step in _TARGET_STEP.findall(found[1])]
    target: Any = _parsed(config_header) if config_header and config_header.startswith("{") else None
    for step in steps:
        targets = target.get("targets") if isinstance(target, dict) else None
        target = targets[step] if isinstance(targets, list) and step < len(targets) else None
    result: dict[str, Any] = {"index": steps[0]}
    overrides = target.get("override_params") if isinstance(target, dict) else None
    model = overrides.get("model") if isinstance(overrides, dict) else None
    model = model if isinstance(model, str) else body_model
    if isinstance(model, str):
        result["model"] = model
    named = target.get("provider") if isinstance(target, dict) else None
    if isinstance(provider, str) and provider:
        result["provider"] = provider
    elif isinstance(named, str):
        result["provider"] = named
    elif isinstance(model, str) and model.startswith("@") and "/" in model:
        result["provider"] = model[1:].split("/", 1)[0]
    return result


def guardrail_verdicts(hook_results: Any) -> dict[str, Any] | None:
    """Portkey's ``hook_results`` in a host's terms: ``{verdict, checks, before, after}``. ``verdict`` is
    ``denied`` when a guardrail that denies failed, ``failed`` when any other did, else ``passed``; each
    guardrail is ``{id, verdict, checks}`` and each check ``{id, verdict, explanation}``."""
    if not isinstance(hook_results, dict):
        return None
    sides = {
        "before": _guardrail_list(hook_results.get("before_request_hooks")),
        "after": _guardrail_list(hook_results.get("after_request_hooks")),
    }
    every = sides["before"] + sides["after"]
    verdicts = {guardrail["verdict"] for guardrail in every}
    verdict = "denied" if "denied" in verdicts else "failed" if "failed" in verdicts else "passed"
    checks = [check for guardrail in every for check in guardrail["checks"]]
    return {"verdict": verdict, "checks": checks, **sides}


def _guardrail_list(hooks: Any) -> list[dict[str, Any]]:
    return [_guardrail(hook) for hook in hooks if isinstance(hook, dict)] if isinstance(hooks, list) else []


def _guardrail(hook: Mapping[str, Any]) -> dict[str, Any]:
    if hook.get("skipped") is True:
        verdict = "skipped"
    elif hook.get("verdict") is False:
        verdict = "denied" if hook.get("deny") is True else "failed"
    else:
        verdict = "passed"
    checks = hook.get("checks")
    listed = (
        [_check(check) for check in checks if isinstance(check, dict)] if isinstance(checks, list) else []
    )
    return {"id": hook.get("id"), "verdict": verdict, "checks": listed}


def _check(check: Mapping[str, Any]) -> dict[str, Any]:
    data, error = check.get("data"), check.get("error")
    explanation = data.get("explanation") if isinstance(data, dict) else None
    if not isinstance(explanation, str) and isinstance(error, dict):
        explanation = error.get("message")
    return {
        "id": check.get("id"),
        "verdict": "passed" if check.get("verdict") is True else "failed",
        "explanation": explanation if isinstance(explanation, str) else None,
    }


def routing_metadata(
    headers: Mapping[str, str], body: Mapping[str, Any] | None, answer: Any, meta: Mapping[str, Any]
) -> dict[str, Any]:
    """What a result's metadata adds: ``servedBy`` (the config target that answered) and ``guardrails``
    (the verdicts in the answer's ``hook_results``), each when there is one."""
    more: dict[str, Any] = {}
    index = meta.get("lastUsedOptionIndex")
    served = served_by(
        index, headers.get("x-portkey-config"), (body or {}).get("model"), meta.get("provider")
    ) if index else None  # fmt: skip
    if served is not None:
        more["servedBy"] = served
    hooks = answer.get("hook_results") if isinstance(answer, dict) else None
    verdicts = guardrail_verdicts(hooks) if hooks is not None else None
    if verdicts is not None:
        more["guardrails"] = verdicts
    return more
