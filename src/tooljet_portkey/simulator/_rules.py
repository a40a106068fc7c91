"""What the simulator refuses, and how: Portkey's rules per profile and the two error body shapes.

Facts from Portkey's docs and the open-source gateway (see docs/simulator.md):
- gateway failures: ``{"status": "failure", "message": ...}`` (an invalid config adds ``errors``);
- provider failures: OpenAI's ``{"error": {message, type, param, code}}``, plus ``"provider"`` when
  Portkey relays it;
- the routing rule: a provider, virtual key or config must name where a request goes, unless the model
  is written ``@slug/model`` or the request is a prompt completion.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

__all__ = [
    "PROFILES",
    "SimError",
    "check_auth",
    "check_config",
    "check_metadata",
    "check_routing",
    "gateway_error",
    "provider_error",
    "without_code",
]

PROFILES = ("hosted", "gateway", "openai")

ROUTING_MESSAGE = "Either x-portkey-config or x-portkey-provider header is required"
CONFIG_PROVIDER_MESSAGE = (
    "Either x-portkey-provider needs to be passed. Or the x-portkey-config header should have a valid "
    "config with provider details in it."
)
INVALID_CONFIG_JSON = "Invalid config passed. You need to pass a valid json"
MISSING_API_KEY = "Portkey API key not found: send it in the x-portkey-api-key header"
INVALID_API_KEY = "Invalid API Key"
MISSING_BEARER = "You didn't provide an API key: send it as Authorization: Bearer <key> (simulated)."
MAX_METADATA_VALUE = 128

STRATEGY_MODES = ("single", "loadbalance", "fallback", "conditional")
CACHE_MODES = ("simple", "semantic")


class SimError(Exception):
    """An answer other than success: a status, a JSON body and extra headers."""

    def __init__(self, status: int, body: Any, headers: Mapping[str, str] | None = None) -> None:
        super().__init__(status)
        self.status = status
        self.body = body
        self.headers = dict(headers or {})


def gateway_error(status: int, message: str, errors: list[str] | None = None) -> SimError:
    body: dict[str, Any] = {"status": "failure", "message": message}
    if errors is not None:
        body["errors"] = errors
    return SimError(status, body)


# OpenAI's error type and code per status, for provider-shaped errors and injected faults.
_PROVIDER_ERRORS = {
    400: ("invalid_request_error", None, "The request was invalid (simulated)."),
    401: ("invalid_request_error", "invalid_api_key", "Incorrect API key provided (simulated)."),
    403: ("permission_denied", None, "You are not allowed to use this model (simulated)."),
    404: ("invalid_request_error", "model_not_found", "The model does not exist (simulated)."),
    408: ("timeout_error", None, "Request timed out (simulated)."),
    409: ("conflict_error", None, "The request conflicted with another one (simulated)."),
    422: ("invalid_request_error", None, "The request could not be processed (simulated)."),
    429: ("requests", "rate_limit_exceeded", "Rate limit reached for requests (simulated)."),
    500: ("server_error", None, "The server had an error while processing your request (simulated)."),
    502: ("server_error", None, "Bad gateway (simulated)."),
    503: ("server_error", None, "The engine is currently overloaded, please try again later (simulated)."),
    504: ("server_error", None, "The upstream timed out (simulated)."),
}


def provider_error(
    status: int,
    message: str | None = None,
    *,
    param: str | None = None,
    error_type: str | None = None,
    provider: str | None = None,
    code: str | None = None,
) -> SimError:
    """OpenAI's error shape; ``provider`` set when Portkey relays it (not on the plain openai profile)."""
    default_type, default_code, default_message = _PROVIDER_ERRORS.get(
        status, ("api_error", None, f"Simulated error {status}.")
    )
    body: dict[str, Any] = {
        "error": {
            "message": message or default_message,
            "type": error_type or default_type,
            "param": param,
            "code": code or default_code,
        }
    }
    if provider:
        body["provider"] = provider
    return SimError(status, body)


def without_code(err: SimError) -> SimError:
    """The error with ``code: null``, as OpenAI sends some of them (``provider_error`` fills in the
    status's usual code)."""
    err.body["error"]["code"] = None
    return err


def _bearer(headers: Mapping[str, str]) -> str:
    scheme, _, token = headers.get("authorization", "").strip().partition(" ")
    return token.strip() if scheme.lower() == "bearer" else ""


def check_auth(profile: str, headers: Mapping[str, str], api_keys: frozenset[str] | None = None) -> None:
    """The API key rule. Without ``api_keys``: the hosted profile needs a non-empty x-portkey-api-key,
    the others need none. With them: the hosted and gateway profiles need x-portkey-api-key to be one of
    them (Portkey's 401 bodies), the openai profile needs ``Authorization: Bearer <one of them>``
    (OpenAI's 401 body). No error text repeats the key that was sent."""
    if profile == "openai":
        if api_keys is None:
            return
        token = _bearer(headers)
        if not token:
            raise provider_error(401, MISSING_BEARER)
        if token not in api_keys:
            raise provider_error(401)
        return
    key = headers.get("x-portkey-api-key", "").strip()
    if not key and (profile == "hosted" or api_keys is not None):
        raise gateway_error(401, MISSING_API_KEY)
    if api_keys is not None and key not in api_keys:
        raise gateway_error(401, INVALID_API_KEY)


def check_metadata(headers: Mapping[str, str]) -> dict[str, Any] | None:
    """x-portkey-metadata must be a JSON object whose string values are at most 128 characters."""
    raw = headers.get("x-portkey-metadata")
    if raw is None:
        return None
    try:
        metadata = json.loads(raw)
    except ValueError:
        raise gateway_error(400, "Invalid metadata passed: x-portkey-metadata is not valid JSON") from None
    if not isinstance(metadata, dict):
        raise gateway_error(400, "Invalid metadata passed: x-portkey-metadata must be a JSON object")
    for key, value in metadata.items():
        if isinstance(value, str) and len(value) > MAX_METADATA_VALUE:
            raise gateway_error(
                400,
                f"Invalid metadata passed: the value of {key} is longer than {MAX_METADATA_VALUE} characters",
            )
    return metadata


def _config_problems(config: Mapping[str, Any], path: tuple[str | int, ...] = ()) -> list[str]:
    """A small subset of the gateway's config schema; messages in its ``path: a,b, message: ...`` form."""
    problems: list[str] = []

    def add(where: tuple[str | int, ...], message: str) -> None:
        problems.append(f"path: {','.join(map(str, where))}, message: {message}")

    strategy = config.get("strategy")
    if strategy is not None:
        if not isinstance(strategy, dict):
            add((*path, "strategy"), "Expected object, received " + _kind(strategy))
        elif strategy.get("mode") not in STRATEGY_MODES:
            modes = " | ".join(f"'{m}'" for m in STRATEGY_MODES)
            add(
                (*path, "strategy", "mode"),
                f"Invalid enum value. Expected {modes}, received '{strategy.get('mode')}'",
            )
    retry = config.get("retry")
    if retry is not None:
        if not isinstance(retry, dict):
            add((*path, "retry"), "Expected object, received " + _kind(retry))
        elif "attempts" in retry and (
            not isinstance(retry["attempts"], int) or isinstance(retry["attempts"], bool)
        ):
            add((*path, "retry", "attempts"), "Expected number, received " + _kind(retry["attempts"]))
    cache = config.get("cache")
    if cache is not None:
        if not isinstance(cache, dict):
            add((*path, "cache"), "Expected object, received " + _kind(cache))
        elif cache.get("mode") not in CACHE_MODES:
            add(
                (*path, "cache", "mode"),
                f"Invalid enum value. Expected 'simple' | 'semantic', received '{cache.get('mode')}'",
            )
    timeout = config.get("request_timeout")
    if timeout is not None and (
        not isinstance(timeout, (int, float)) or isinstance(timeout, bool) or timeout <= 0
    ):
        add((*path, "request_timeout"), "Expected a positive number")
    targets = config.get("targets")
    if targets is not None:
        if not isinstance(targets, list):
            add((*path, "targets"), "Expected array, received " + _kind(targets))
        else:
            for i, target in enumerate(targets):
                if isinstance(target, dict):
                    problems.extend(_config_problems(target, (*path, "targets", i)))
                else:
                    add((*path, "targets", i), "Expected object, received " + _kind(target))
    for side in ("input_guardrails", "output_guardrails"):
        # the gateway takes a list of saved ids or a list of inline checks, not both in one list
        items = config.get(side)
        kinds = {type(item) for item in items} if isinstance(items, list) else set()
        if items is not None and (not isinstance(items, list) or len(kinds) > 1 or not kinds <= {str, dict}):
            add((*path, side), "Invalid input")
    return problems


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def check_config(profile: str, headers: Mapping[str, str]) -> dict[str, Any] | None:
    """Parse and check x-portkey-config. The hosted API also takes a saved config id (``pc-...``)."""
    raw = headers.get("x-portkey-config")
    if raw is None:
        return None
    if profile == "hosted" and raw.startswith("pc-"):
        return {"id": raw}
    try:
        config = json.loads(raw)
    except ValueError:
        raise gateway_error(400, INVALID_CONFIG_JSON) from None
    if not isinstance(config, dict):
        raise gateway_error(
            400, "Invalid config passed", [f"path: , message: Expected object, received {_kind(config)}"]
        )
    if not (
        "x-portkey-provider" in headers or any(config.get(k) for k in ("provider", "targets", "virtual_key"))
    ):
        raise gateway_error(400, CONFIG_PROVIDER_MESSAGE)
    problems = _config_problems(config)
    if problems:
        raise gateway_error(400, "Invalid config passed", problems)
    return config


def check_routing(headers: Mapping[str, str], model: Any, prompt_completion: bool) -> None:
    if prompt_completion:
        return
    if any(h in headers for h in ("x-portkey-provider", "x-portkey-virtual-key", "x-portkey-config")):
        return
    if isinstance(model, str) and model.startswith("@") and "/" in model:
        return
    raise gateway_error(400, ROUTING_MESSAGE)


def provider_of(headers: Mapping[str, str], config: Mapping[str, Any] | None, model: Any) -> str:
    """The provider the simulator says it used (x-portkey-provider response header)."""
    if headers.get("x-portkey-provider"):
        return headers["x-portkey-provider"].lstrip("@")
    if config:
        if isinstance(config.get("provider"), str):
            return str(config["provider"])
        targets = config.get("targets")
        if isinstance(targets, list) and targets and isinstance(targets[0], dict):
            first = targets[0].get("provider")
            if isinstance(first, str):
                return first
    if isinstance(model, str) and model.startswith("@") and "/" in model:
        return model[1:].split("/", 1)[0]
    return "openai"
