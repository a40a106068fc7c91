"""trim_spec.py, the script that regenerates portkey_schemas.json, on a small spec of the same shape
(the tests never read the full spec)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import trim_spec

SPEC: dict[str, Any] = {
    "info": {
        "title": "Portkey API",
        "version": "2.0.0",
        "license": {"name": "MIT", "url": "https://x/LICENSE"},
    },
    "paths": {
        "/things": {
            "post": {
                "operationId": "createThing",
                "description": "Makes a thing.",
                "requestBody": {
                    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/ThingRequest"}}}
                },
                "responses": {
                    "200": {
                        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Thing"}}}
                    },
                    "204": {"description": "nothing"},
                },
                "x-code-samples": [{"lang": "curl", "source": "curl ..."}],
            },
            "delete": {"responses": {"200": {"description": "gone"}}},
        }
    },
    "components": {
        "schemas": {
            "ThingRequest": {
                "type": "object",
                "description": "What to make.",
                "properties": {
                    "description": {"type": "string", "description": "a property so named stays"},
                    "part": {"$ref": "#/components/schemas/Part"},
                },
                "required": ["description"],
                "x-oaiExpandable": True,
            },
            "Thing": {
                "type": "object",
                "title": "Thing",
                "properties": {"id": {"type": "string", "example": "t1"}},
            },
            "Part": {"oneOf": [{"type": "string", "nullable": True, "example": "p"}, {"type": "integer"}]},
            "Error": {"type": "object", "properties": {"message": {"type": "string"}}},
            "Unused": {"type": "object"},
        }
    },
}


@pytest.fixture
def trimmed(monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    monkeypatch.setattr(trim_spec, "OPERATIONS", (("/things", "post"),))
    monkeypatch.setattr(trim_spec, "EXTRA_COMPONENTS", ("Error",))
    return trim_spec.trim(SPEC)


def test_paths_keep_json_schemas_only(trimmed: dict[str, Any]) -> None:
    assert trimmed["paths"] == {
        "/things": {
            "post": {
                "operationId": "createThing",
                "requestBody": {"$ref": "#/components/schemas/ThingRequest"},
                "responses": {"200": {"$ref": "#/components/schemas/Thing"}},
            }
        }
    }


def test_components_are_the_closure_without_prose(trimmed: dict[str, Any]) -> None:
    assert trimmed["components"]["schemas"] == {
        "ThingRequest": {
            "type": "object",
            "properties": {"description": {"type": "string"}, "part": {"$ref": "#/components/schemas/Part"}},
            "required": ["description"],
        },
        "Thing": {"type": "object", "properties": {"id": {"type": "string"}}},
        "Part": {"oneOf": [{"type": "string", "nullable": True}, {"type": "integer"}]},
        "Error": {"type": "object", "properties": {"message": {"type": "string"}}},
    }


def test_the_license_notice_names_the_source(trimmed: dict[str, Any]) -> None:
    assert trimmed["info"] == SPEC["info"]
    assert trimmed["_notice"][:2] == [
        "Schemas trimmed from Portkey's OpenAPI description of its REST API (Portkey API 2.0.0),",
        "published by Portkey under the MIT license: https://x/LICENSE",
    ]


def test_the_command_writes_sorted_json(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("yaml", reason="trim_spec.py reads YAML with PyYAML (the dev extra)")
    monkeypatch.setattr(trim_spec, "OPERATIONS", (("/things", "post"),))
    monkeypatch.setattr(trim_spec, "EXTRA_COMPONENTS", ())
    source = tmp_path / "spec.yaml"
    source.write_text(json.dumps(SPEC), encoding="utf-8")  # JSON is YAML
    output = tmp_path / "out.json"
    assert trim_spec.main([str(source), "--output", str(output)]) == 0
    text = output.read_text(encoding="utf-8")
    assert json.loads(text) == trim_spec.trim(SPEC)
    assert text == json.dumps(json.loads(text), indent=1, sort_keys=True, ensure_ascii=False) + "\n"


def test_security_requirements_and_their_schemes_are_kept(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each operation keeps its own security, else the spec's default; only the schemes named are kept."""
    spec = json.loads(json.dumps(SPEC))
    spec["security"] = [{"Key": []}]
    spec["paths"]["/other"] = {"get": {"responses": {}}}
    spec["paths"]["/things"]["post"]["security"] = [{"Key": [], "Auth": []}, {"Key": [], "Config": []}]
    spec["components"]["securitySchemes"] = {
        "Key": {"type": "apiKey", "in": "header", "name": "x-key", "description": "the key"},
        "Auth": {"type": "http", "scheme": "bearer"},
        "Config": {"type": "apiKey", "in": "header", "name": "x-config"},
        "Unused": {"type": "apiKey", "in": "header", "name": "x-unused"},
    }
    monkeypatch.setattr(trim_spec, "OPERATIONS", (("/things", "post"), ("/other", "get")))
    monkeypatch.setattr(trim_spec, "EXTRA_COMPONENTS", ())
    trimmed = trim_spec.trim(spec)
    assert trimmed["paths"]["/things"]["post"]["security"] == [
        {"Key": [], "Auth": []},
        {"Key": [], "Config": []},
    ]
    assert trimmed["paths"]["/other"]["get"]["security"] == [{"Key": []}]
    assert trimmed["components"]["securitySchemes"] == {
        "Auth": {"type": "http", "scheme": "bearer"},
        "Config": {"type": "apiKey", "in": "header", "name": "x-config"},
        "Key": {"type": "apiKey", "in": "header", "name": "x-key"},
    }


def test_query_parameters_are_kept_without_prose(monkeypatch: pytest.MonkeyPatch) -> None:
    """A GET's query parameters (name, required, schema) are kept; path parameters are not."""
    spec = json.loads(json.dumps(SPEC))
    spec["paths"]["/things/{id}"] = {
        "get": {
            "parameters": [
                {"in": "path", "name": "id", "required": True, "schema": {"type": "string"}},
                {"in": "query", "name": "limit", "description": "How many.", "schema": {"type": "integer",
                                                                                       "example": 3}},
                {"in": "query", "name": "sort", "required": True, "schema": {"type": "string", "enum": ["a"],
                                                                            "default": "a"}},
            ],
            "responses": {},
        }
    }  # fmt: skip
    monkeypatch.setattr(trim_spec, "OPERATIONS", (("/things/{id}", "get"),))
    monkeypatch.setattr(trim_spec, "EXTRA_COMPONENTS", ())
    assert trim_spec.trim(spec)["paths"]["/things/{id}"]["get"]["parameters"] == [
        {"in": "query", "name": "limit", "required": False, "schema": {"type": "integer"}},
        {
            "in": "query",
            "name": "sort",
            "required": True,
            "schema": {"type": "string", "enum": ["a"], "default": "a"},
        },
    ]
