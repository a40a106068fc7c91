"""operations.json is generated from scripts/operations_source.json, where a field several operations share
is written once: the committed file must be exactly what the source generates (this is CI's check), and
the generator refuses a source it cannot turn into sound forms, saying where and why."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from unit_support import load_script

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "generate_operations.py"
SOURCE_TEXT = (ROOT / "scripts" / "operations_source.json").read_text(encoding="utf-8")
# Sent as headers (or read from the answer) the same way by every operation that has them.
ROUTING_FIELDS = (
    "config",
    "virtualKey",
    "traceId",
    "metadata",
    "fallbacks",
    "fallbackOn",
    "cacheNamespace",
    "cacheForceRefresh",
    "stream",
    "output",
    "concurrency",
    "failOnError",
    "maxRunSeconds",
    "maxCostUsd",
)


def generator() -> Any:
    return load_script("generate_operations")


def test_the_committed_operations_json_is_what_the_source_generates() -> None:
    problem = generator().check()
    assert problem is None, problem


@pytest.mark.parametrize("key", ROUTING_FIELDS)
def test_a_shared_field_is_written_once_in_the_source(key: str) -> None:
    operations = json.loads((ROOT / "operations.json").read_text(encoding="utf-8"))["properties"]
    users = [name for name, fields in operations.items() if name != "operation" and key in fields]
    assert len(users) >= 2, f"{key} is in {users} only: not a shared field"
    assert SOURCE_TEXT.count(f'"key": {json.dumps(key)}') == 1
    assert key in json.loads(SOURCE_TEXT)["shared"]


def test_a_shared_label_is_in_the_source_once_and_in_every_form_that_uses_it() -> None:
    generated = (ROOT / "operations.json").read_text(encoding="utf-8")
    assert SOURCE_TEXT.count('"label": "Virtual Key"') == 1
    source = json.loads(SOURCE_TEXT)["properties"]
    using = [
        name
        for name, fields in source.items()
        if isinstance(fields, list)
        and any(entry == "virtualKey" or (isinstance(entry, dict) and entry.get("shared") == "virtualKey")
                for entry in fields)
    ]  # fmt: skip
    assert len(using) > 1 and generated.count('"label": "Virtual Key"') == len(using)


def small_source(**operations: list[Any]) -> dict[str, Any]:
    return {
        "$comment": ["left out of the output"],
        "title": "Forms",
        "shared": {
            "config": {"label": "Config", "key": "config", "type": "codehinter", "description": "A config."},
            "traceId": {"label": "Trace ID", "key": "traceId", "type": "codehinter", "required": False},
        },
        "properties": {
            "operation": {"key": "operation", "list": [{"value": name, "name": name} for name in operations]},
            **operations,
        },
        "definitions": {},
    }


def test_a_name_stands_for_the_shared_field_and_replaced_attributes_keep_their_place() -> None:
    own = {"label": "Prompt", "key": "prompt", "type": "codehinter"}
    document = generator().generate(
        small_source(
            chat=[own, "config", "traceId"],
            batch=[{"shared": "config", "description": "A batch's config."}, "traceId"],
        )
    )
    assert list(document) == ["title", "properties", "definitions"]
    chat, batch = document["properties"]["chat"], document["properties"]["batch"]
    assert list(chat) == ["prompt", "config", "traceId"]
    assert chat["prompt"] == own
    assert chat["config"]["description"] == "A config."
    assert list(batch["config"].items()) == [
        ("label", "Config"),
        ("key", "config"),
        ("type", "codehinter"),
        ("description", "A batch's config."),
    ]


@pytest.mark.parametrize(
    ("operations", "message"),
    [
        ({"chat": ["confg", "traceId"]}, r"properties\.chat\[0\]: 'confg' is not a shared field"),
        ({"chat": [{"shared": "cfg"}, "traceId"]}, r"properties\.chat\[0\]: 'cfg' is not a shared field"),
        (
            {"chat": ["config", {"shared": "config", "description": "Again."}, "traceId"]},
            r"properties\.chat\[1\]: chat already has a field 'config'",
        ),
        (
            {"chat": ["config", "traceId", {"label": "Trace", "key": "traceId", "type": "codehinter"}]},
            r"properties\.chat\[2\]: chat already has a field 'traceId'",
        ),
        (
            {"chat": [{"shared": "config", "placeholder": "x"}, "traceId"]},
            r"shared field 'config' has no 'placeholder' to replace",
        ),
        (
            {"chat": [{"shared": "config", "key": "cfg"}, "traceId"]},
            r"the key of shared field 'config' cannot be replaced",
        ),
        (
            {"chat": [{"shared": "config", "label": "Config"}, "traceId"]},
            r"'label' is the shared field 'config''s own; leave it out",
        ),
        (
            {
                "chat": [
                    {"label": "Config", "key": "config", "type": "codehinter", "description": "A config."},
                    "traceId",
                ]
            },
            r"properties\.chat\[0\]: is shared field 'config' written out again; write \"config\"",
        ),
        ({"chat": ["traceId"]}, r"shared: no operation uses config"),
        ({"chat": ["config", {"label": "No key"}, "traceId"]}, r"a field written in full needs its key"),
    ],
)
def test_the_generator_refuses_an_unsound_source(operations: dict[str, list[Any]], message: str) -> None:
    script = generator()
    with pytest.raises(script.SourceError, match=message):
        script.generate(small_source(**operations))


def test_a_shared_field_is_filed_under_its_own_key() -> None:
    source = small_source(chat=["config", "traceId"])
    source["shared"]["config"]["key"] = "configuration"
    script = generator()
    with pytest.raises(script.SourceError, match=r"shared\.config: its key is 'configuration'"):
        script.generate(source)


def test_the_operation_dropdown_lists_the_operations_in_order() -> None:
    source = small_source(chat=["config"], feedback=["traceId"])
    source["properties"]["operation"]["list"].reverse()
    script = generator()
    with pytest.raises(
        script.SourceError, match=r"properties\.operation\.list: lists \['feedback', 'chat'\]"
    ):
        script.generate(source)


def test_check_reports_a_difference_and_rewrites_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    script = generator()
    source, target = tmp_path / "source.json", tmp_path / "operations.json"
    source.write_text(json.dumps(small_source(chat=["config", "traceId"])), encoding="utf-8")
    paths = ["--source", str(source), "--target", str(target)]

    assert script.main(["--check", *paths]) == 1
    assert not target.exists()
    assert "python3 scripts/generate_operations.py" in capsys.readouterr().err

    assert script.main(paths) == 0
    generated = target.read_text(encoding="utf-8")
    assert generated == json.dumps(json.loads(generated), indent=2) + "\n"
    assert script.main(["--check", *paths]) == 0

    target.write_text(generated.replace("A config.", "An edited config."), encoding="utf-8")
    assert script.main(["--check", *paths]) == 1
    err = capsys.readouterr().err
    assert '-        "description": "An edited config."' in err
    assert '+        "description": "A config."' in err
    assert "An edited config." in target.read_text(encoding="utf-8")


def test_an_unsound_source_fails_the_command_with_the_reason(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = tmp_path / "source.json"
    source.write_text(json.dumps(small_source(chat=["confg", "traceId"])), encoding="utf-8")
    target = tmp_path / "operations.json"
    assert generator().main(["--source", str(source), "--target", str(target)]) == 2
    assert "properties.chat[0]: 'confg' is not a shared field" in capsys.readouterr().err
    assert not target.exists()


def test_the_check_command_runs_from_anywhere(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--check"], cwd=tmp_path, capture_output=True, text=True, check=False
    )
    assert (done.returncode, done.stderr) == (0, "")
    assert done.stdout.startswith("ok: src/tooljet_portkey/operations.json is what scripts/")
