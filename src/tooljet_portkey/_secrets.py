"""Which texts are secrets, and how text that may quote them is redacted.

A connection's API key, virtual key and provider key are secrets, and so is every credential a config
carries (``api_key``, ``aws_secret_access_key``, ``azure_ad_token``...), and a query's own virtual key
and config. Portkey, a provider or a proxy may quote any of them back in an error; everything the
server says that reaches a ``QueryError`` goes through ``redact`` or ``redact_json`` first.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from typing import Any

from ._constants import MIN_SECRET_CHARS

__all__ = [
    "MIN_SECRET_CHARS",
    "config_secrets",
    "header_secrets",
    "is_secret_name",
    "redact",
    "redact_forms",
    "redact_json",
    "secret_forms",
]

REDACTED = "***"

# A config entry holds a credential when its name, lower-cased and without separators, ends in one of
# these: api_key, virtual_key, aws_secret_access_key, aws_session_token, azure_ad_token, vault_token,
# Authorization, aws_access_key_id, azure_entra_client_secret, vertex_service_account_json, password...
_SECRET_NAME_ENDINGS = (
    "key",
    "keys",
    "keyid",
    "secret",
    "secrets",
    "secretid",
    "token",
    "tokens",
    "password",
    "passwords",
    "passwd",
    "credential",
    "credentials",
    "authorization",
    "cookie",
    "serviceaccountjson",
)
_NAME_SEPARATORS = re.compile(r"[^0-9a-z]")


def is_secret_name(name: str) -> bool:
    """Whether a config key names a credential (``aws_secret_access_key``, ``apiKey``, ``x-api-key``)."""
    return _NAME_SEPARATORS.sub("", name.lower()).endswith(_SECRET_NAME_ENDINGS)


def _parsed(text: str) -> Any:
    try:
        return json.loads(text)
    except (ValueError, RecursionError):
        return None


def config_secrets(config: Any) -> list[str]:
    """Every text a config holds under a credential's name, at any depth: what redaction must hide.

    Under such a name every text counts, however deep (a service account's JSON object and each of its
    fields); a text that is itself JSON (a service account's JSON as a string) is read for its fields
    too. Iterative, so any depth is safe.
    """
    found: list[str] = []
    stack: list[tuple[Any, bool]] = [(config, False)]
    while stack:
        node, secret = stack.pop()
        if isinstance(node, str):
            if secret and node:
                found.append(node)
                if node.lstrip().startswith(("{", "[")):
                    stack.append((_parsed(node), True))
        elif isinstance(node, dict):
            stack.extend((v, secret or (isinstance(k, str) and is_secret_name(k))) for k, v in node.items())
        elif isinstance(node, (list, tuple)):
            stack.extend((item, secret) for item in node)
    return found


def header_secrets(headers: Mapping[str, str]) -> tuple[str, ...]:
    """Secrets a query itself adds to its request's headers (its own virtual key, a config carrying
    keys), for redaction beside the connection's."""
    found: list[str] = []
    virtual_key = headers.get("x-portkey-virtual-key")
    if virtual_key:
        found.append(virtual_key)
    config = headers.get("x-portkey-config", "")
    if config.startswith("{"):
        found.extend(config_secrets(json.loads(config)))
    return tuple(found)


def _forms(secret: str) -> set[str]:
    """The secret as it may appear in a server's text: as is, escaped inside a JSON string, and inside
    a Python repr (httpcore logs the headers it read as ``repr()`` of their bytes)."""
    return {
        secret,
        json.dumps(secret)[1:-1],
        json.dumps(secret, ensure_ascii=False)[1:-1],
        repr(secret)[1:-1],
    }


def secret_forms(secrets: Iterable[str]) -> frozenset[str]:
    """Every text ``redact`` searches for, worked out once for texts redacted again and again."""
    return frozenset(form for secret in secrets if len(secret) >= MIN_SECRET_CHARS for form in _forms(secret))


def redact(text: str, secrets: Iterable[str]) -> str:
    """``text`` with every occurrence of every secret replaced by ``***``.

    Occurrences are found for all secrets first and overlapping or touching ones are merged, so the
    result is the same as replacing the longest secret first: a virtual key that starts with the API
    key is hidden whole, not left half-shown, and no part of a secret survives next to another.
    """
    return redact_forms(text, secret_forms(secrets))


def redact_forms(text: str, forms: Iterable[str]) -> str:
    """``redact`` with the secrets' forms given (``secret_forms``); ``text`` itself when none occurs."""
    spans: list[tuple[int, int]] = []
    for form in forms:
        start = text.find(form)
        while start != -1:
            spans.append((start, start + len(form)))
            start = text.find(form, start + 1)
    if not spans:
        return text
    merged: list[list[int]] = []
    for start, end in sorted(spans):
        if merged and start <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    parts: list[str] = []
    shown_from = 0
    for start, end in merged:
        parts += [text[shown_from:start], REDACTED]
        shown_from = end
    parts.append(text[shown_from:])
    return "".join(parts)


def redact_json(value: Any, secrets: Iterable[str]) -> Any:
    """A copy of a JSON value (a server's ``hook_results``, an error's data) with every text redacted,
    keys included. Iterative: a body nested as deep as the JSON parser allows is no RecursionError."""
    secrets = tuple(secrets)
    if not isinstance(value, (dict, list)):
        return redact(value, secrets) if isinstance(value, str) else value
    root: Any = {} if isinstance(value, dict) else []
    stack: list[tuple[Any, Any]] = [(value, root)]
    while stack:
        source, copy = stack.pop()
        pairs = source.items() if isinstance(source, dict) else enumerate(source)
        for key, item in pairs:
            if isinstance(item, (dict, list)):
                new: Any = {} if isinstance(item, dict) else []
                stack.append((item, new))
            else:
                new = redact(item, secrets) if isinstance(item, str) else item
            if isinstance(copy, dict):
                copy[redact(key, secrets) if isinstance(key, str) else key] = new
            else:
                copy.append(new)
    return root
