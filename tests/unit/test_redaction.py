"""Redaction: which config entries are secrets, and how text that quotes secrets is hidden."""

from __future__ import annotations

from typing import Any

import pytest

from tooljet_portkey._secrets import config_secrets, is_secret_name, redact, redact_json


@pytest.mark.parametrize(
    "name",
    ["api_key", "virtual_key", "aws_secret_access_key", "aws_access_key_id", "aws_session_token",
     "azure_ad_token", "azure_entra_client_secret", "vertex_service_account_json", "Authorization",
     "apiKey", "X-Api-Key", "PASSWORD", "db_password", "client_secrets", "refresh-tokens", "vault_secret_id",
     "Cookie", "credentials"],
)  # fmt: skip
def test_credential_names(name: str) -> None:
    assert is_secret_name(name)


@pytest.mark.parametrize(
    "name",
    ["provider", "custom_host", "weight", "mode", "model", "max_tokens_limit", "strategy", "user",
     "on_status_codes", "override_params", "request_timeout", "azure_deployment_id", "key_name_prefix"],
)  # fmt: skip
def test_names_that_are_not_credentials(name: str) -> None:
    assert not is_secret_name(name)


@pytest.mark.parametrize(
    ("config", "secrets"),
    [
        ({"api_key": "a1"}, ["a1"]),
        ({"targets": [{"targets": [{"aws_secret_access_key": "a2"}]}]}, ["a2"]),
        ({"private": {"api_key": {"primary": "a3", "backup": ["a4"]}}}, ["a3", "a4"]),
        ({"vertex_service_account_json": '{"private_key": "a5", "type": "sa"}'},
         ['{"private_key": "a5", "type": "sa"}', "a5", "sa"]),
        ({"api_key": 12345, "virtual_key": None, "token": ""}, []),
        ({"provider": "openai", "override_params": {"max_tokens": 5, "user": "u"}}, []),
        ("pc-saved-config-id", []),
    ],
)  # fmt: skip
def test_config_secrets(config: Any, secrets: list[str]) -> None:
    assert sorted(config_secrets(config)) == sorted(secrets)


def test_config_secrets_of_any_depth() -> None:
    config: Any = {"api_key": "deep-secret"}
    for _ in range(20_000):
        config = {"targets": [config]}
    assert config_secrets(config) == ["deep-secret"]


@pytest.mark.parametrize(
    ("text", "secrets", "redacted"),
    [
        ("key pk-1234 here", ["pk-1234"], "key *** here"),
        ("pk-1234 pk-1234", ["pk-1234"], "*** ***"),
        # one secret begins with another: hidden whole, whatever the order given
        ("vk pk-1234-vk-5", ["pk-1234", "pk-1234-vk-5"], "vk ***"),
        ("vk pk-1234-vk-5", ["pk-1234-vk-5", "pk-1234"], "vk ***"),
        # two secrets overlap in the text: hidden as one
        ("abcdXYZ123 end", ["abcdXYZ", "XYZ123"], "*** end"),
        # touching secrets: one ***
        ("abcdefgh", ["abcd", "efgh"], "***"),
        # a secret as it appears inside a JSON string
        ('{"k": "sk-\\"q\\\\1"}', ['sk-"q\\1'], '{"k": "***"}'),
        ('"ключ-1234"', ["ключ-1234"], '"***"'),
        ('"\\u043a\\u043b\\u044e\\u0447-1234"', ["ключ-1234"], '"***"'),
        # a secret inside a Python repr (httpcore logs the headers it read as bytes reprs)
        (repr([(b"x-echo", b"sk-\\1\"'q")]), ["sk-\\1\"'q"], "[(b'x-echo', b'***')]"),
        # three characters or fewer: not searched for
        ("abc abc", ["abc", ""], "abc abc"),
        ("nothing here", [], "nothing here"),
    ],
)
def test_redact(text: str, secrets: list[str], redacted: str) -> None:
    assert redact(text, secrets) == redacted


def test_redact_json_copies_with_every_text_and_key_redacted() -> None:
    value = {"pk-1234": ["pk-1234 x", {"k": "pk-1234", "n": 1, "b": True, "z": None}], "ok": "fine"}
    assert redact_json(value, ["pk-1234"]) == {
        "***": ["*** x", {"k": "***", "n": 1, "b": True, "z": None}],
        "ok": "fine",
    }
    assert value["pk-1234"][0] == "pk-1234 x"  # the original is untouched
    assert redact_json("pk-1234", ["pk-1234"]) == "***"
    assert redact_json(5, ["pk-1234"]) == 5


def test_redact_json_of_any_depth() -> None:
    deep: Any = "pk-1234"
    for _ in range(20_000):
        deep = [deep]
    copy = redact_json(deep, ["pk-1234"])
    for _ in range(20_000):
        copy = copy[0]
    assert copy == "***"
