"""A config's guardrails, as Portkey's gateway runs them: its ``input_guardrails`` on the request before any
model is called, its ``output_guardrails`` on the answer, and ``hook_results`` in the answer's body.

The simulator runs three of the gateway's ``default.*`` checks, with the gateway's parameters and verdicts:
``regexMatch`` (``rule``, ``not``: the verdict is whether the rule matched, the other way with ``not``),
``wordCount`` (``minWords``, ``maxWords``, ``not``) and ``contains`` (``words``, ``operator`` any, all or
none). Any other check fails as the gateway's does when it cannot run one ("Error executing check"); a
saved guardrail id (``pg-...``) passes, its checks unknown here. A guardrail that fails with ``deny``
gives a 446 (before the model for an input guardrail); one that fails without it gives a 246 with the
answer. Streams are answered without guardrails. Nothing here does I/O.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["DENIED_MESSAGE", "run_guardrails"]

DENIED_MESSAGE = (
    "The guardrail checks defined in the config failed. You can find more information in the `hook_results` "
    "object."
)
# Keys of an inline guardrail that are options, not checks (as the gateway reads them)
_OPTIONS = frozenset(
    {"deny", "async", "sequential", "id", "on_fail", "on_success", "type", "guardrail_version_id"}
)
_WORDS = re.compile(r"\S+")


def _regex_match(text: str, params: Mapping[str, Any]) -> tuple[bool, str]:
    rule, negate = params.get("rule"), params.get("not") is True
    if not isinstance(rule, str) or not rule:
        raise ValueError("Missing regex pattern")
    matched = re.search(rule, text) is not None
    said = "matched the text" if matched else "did not match the text"
    if negate:
        said += ", which it must not" if matched else ", as required"
    return matched != negate, f"The regex pattern '{rule}' {said}."


def _word_count(text: str, params: Mapping[str, Any]) -> tuple[bool, str]:
    low, high, negate = params.get("minWords"), params.get("maxWords"), params.get("not") is True
    if not isinstance(low, int) or not isinstance(high, int):
        raise ValueError("Invalid or missing word count range")
    count = len(_WORDS.findall(text))
    inside = low <= count <= high
    where = "within" if inside else "outside"
    return (
        inside != negate,
        f"The text contains {count} words, which is {where} the specified range of {low}-{high} words.",
    )


def _contains(text: str, params: Mapping[str, Any]) -> tuple[bool, str]:
    words, operator = params.get("words"), params.get("operator", "any")
    if not isinstance(words, list) or not all(isinstance(word, str) for word in words):
        raise ValueError("Missing words to check")
    found = [word for word in words if word in text]
    verdict = {"any": bool(found), "all": len(found) == len(words), "none": not found}.get(str(operator))
    if verdict is None:
        raise ValueError(f"Invalid operator: {operator}")
    return verdict, f"Found {len(found)} of {len(words)} words (operator {operator})."


_CHECKS: Mapping[str, Callable[[str, Mapping[str, Any]], tuple[bool, str]]] = {
    "default.regexMatch": _regex_match,
    "default.wordCount": _word_count,
    "default.contains": _contains,
}


def _check(name: str, params: Any, text: str) -> dict[str, Any]:
    check_id = name if "." in name else f"default.{name}"
    run = _CHECKS.get(check_id)
    if run is None or not isinstance(params, dict):
        return {"verdict": False, "id": check_id, "data": None,
                "error": {"name": "Check error", "message": "Error executing check"}}  # fmt: skip
    try:
        verdict, explanation = run(text, params)
    except ValueError as err:
        return {"verdict": False, "id": check_id, "data": {"explanation": f"An error occurred: {err}"},
                "error": {"name": "Error", "message": str(err)}}  # fmt: skip
    return {"verdict": verdict, "id": check_id, "data": {"explanation": explanation}}


def _hook(item: Any, side: str, index: int, text: str) -> dict[str, Any]:
    if isinstance(item, str):  # a saved guardrail: its checks live in Portkey's app
        return {"verdict": True, "id": item, "checks": [], "type": "guardrail", "deny": False}
    checks = [_check(name, params, text) for name, params in item.items() if name not in _OPTIONS]
    verdict = all(check["verdict"] for check in checks)
    hook_id = item.get("id") if isinstance(item.get("id"), str) else f"{side}_guardrail_{index}"
    return {"verdict": verdict, "id": hook_id, "checks": checks, "type": "guardrail",
            "deny": item.get("deny") is True and not verdict}  # fmt: skip


def run_guardrails(config: Mapping[str, Any] | None, side: str, text: str) -> list[dict[str, Any]]:
    """The results of a config's ``input`` or ``output`` guardrails on ``text``; [] when it has none."""
    items = (config or {}).get(f"{side}_guardrails")
    if not isinstance(items, list):
        return []
    return [
        _hook(item, side, index, text) for index, item in enumerate(items) if isinstance(item, (str, dict))
    ]


def denied(results: list[dict[str, Any]]) -> bool:
    return any(result["deny"] for result in results)


def failed(results: list[dict[str, Any]]) -> bool:
    return any(not result["verdict"] for result in results)
