"""Regenerate ``portkey_schemas.json`` from Portkey's full OpenAPI description.

    python tests/conformance/trim_spec.py PATH/TO/portkey-openapi.yaml

Not run by the tests: they read only the trimmed file this writes, so a clone of the project passes its
tests without the full spec. Run it again when the spec changes, and review the diff.

What it keeps, per served path and method: the JSON request body schema and the JSON schema of each
response status, the query parameters (name, required, schema), the operation's security requirements
(its own, else the spec's default) with the security schemes they name, plus every component schema
those reach through ``$ref`` (and a few named in
``EXTRA_COMPONENTS`` that no path references: the chat stream chunk and OpenAI's error body). What it
drops: prose and examples (``description``, ``example``, ``title``, ``x-*``...) at schema positions only,
so a property that happens to be called ``description`` stays. The schemas stay in OpenAPI 3.0 form
(``nullable``); ``spec_schemas.py`` turns them into JSON Schema when the tests load them.

Needs PyYAML (part of the ``dev`` extra).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

OUTPUT = Path(__file__).resolve().with_name("portkey_schemas.json")

# (path, method) pairs the simulator serves or the plugin calls.
OPERATIONS = (
    ("/chat/completions", "post"),
    ("/completions", "post"),
    ("/embeddings", "post"),
    ("/prompts/{promptId}/completions", "post"),
    ("/prompts/{promptId}/render", "post"),
    ("/models", "get"),
    ("/models/{model}", "get"),
    ("/feedback", "post"),
    ("/images/generations", "post"),
    ("/batches", "post"),
    ("/batches/{batch_id}", "get"),
    ("/batches/{batch_id}/cancel", "post"),
)
# Components no path above references but the tests need.
EXTRA_COMPONENTS = ("CreateChatCompletionStreamResponse", "ErrorResponse")

# Keys that never affect validation, dropped wherever a schema (not a property map) holds them.
ANNOTATIONS = frozenset({"description", "example", "examples", "title", "externalDocs", "xml"})
# Keywords whose value is a map of name -> schema, a schema, or a list of schemas.
SCHEMA_MAPS = frozenset({"properties", "patternProperties"})
SCHEMA_VALUES = frozenset({"items", "additionalProperties", "not"})
SCHEMA_LISTS = frozenset({"allOf", "anyOf", "oneOf"})

NOTICE = [
    "Schemas trimmed from Portkey's OpenAPI description of its REST API ({title} {version}),",
    "published by Portkey under the {license} license: {url}",
    "Only the request and response schemas of the paths listed under 'paths' are kept, with prose and",
    "examples removed; regenerate with tests/conformance/trim_spec.py.",
    "",
    "MIT License. Copyright (c) Portkey-AI, the authors of the Portkey OpenAPI description.",
    "Permission is hereby granted, free of charge, to any person obtaining a copy of this software and",
    'associated documentation files (the "Software"), to deal in the Software without restriction,',
    "including without limitation the rights to use, copy, modify, merge, publish, distribute,",
    "sublicense, and/or sell copies of the Software, and to permit persons to whom the Software is",
    "furnished to do so, subject to the following conditions: The above copyright notice and this",
    "permission notice shall be included in all copies or substantial portions of the Software.",
    'THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR IMPLIED, INCLUDING BUT',
    "NOT LIMITED TO THE WARRANTIES OF MERCHANTABILITY, FITNESS FOR A PARTICULAR PURPOSE AND",
    "NONINFRINGEMENT. IN NO EVENT SHALL THE AUTHORS OR COPYRIGHT HOLDERS BE LIABLE FOR ANY CLAIM, DAMAGES",
    "OR OTHER LIABILITY, WHETHER IN AN ACTION OF CONTRACT, TORT OR OTHERWISE, ARISING FROM, OUT OF OR IN",
    "CONNECTION WITH THE SOFTWARE OR THE USE OR OTHER DEALINGS IN THE SOFTWARE.",
]


def strip_schema(schema: Any) -> Any:
    """A copy of an OpenAPI schema without annotations and ``x-`` extensions (at schema positions)."""
    if not isinstance(schema, dict):
        return schema
    kept: dict[str, Any] = {}
    for key, value in schema.items():
        if key in ANNOTATIONS or key.startswith("x-"):
            continue
        if key in SCHEMA_MAPS and isinstance(value, dict):
            kept[key] = {name: strip_schema(sub) for name, sub in value.items()}
        elif key in SCHEMA_VALUES and isinstance(value, dict):
            kept[key] = strip_schema(value)
        elif key in SCHEMA_LISTS and isinstance(value, list):
            kept[key] = [strip_schema(sub) for sub in value]
        else:
            kept[key] = value
    return kept


def component_refs(node: Any) -> set[str]:
    """Names of the component schemas a node refers to directly."""
    found: set[str] = set()
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/components/schemas/"):
            found.add(ref.rsplit("/", 1)[1])
        for value in node.values():
            found |= component_refs(value)
    elif isinstance(node, list):
        for value in node:
            found |= component_refs(value)
    return found


def json_schema_of(content: Any) -> Any:
    """The ``application/json`` schema of a requestBody or response, or None."""
    if not isinstance(content, dict):
        return None
    media = content.get("content", {}).get("application/json")
    return strip_schema(media["schema"]) if isinstance(media, dict) and "schema" in media else None


def query_parameters(parameters: Any) -> list[dict[str, Any]]:
    """The query parameters of an operation: name, whether required, and schema (prose removed)."""
    return [
        {
            "in": "query",
            "name": p["name"],
            "required": bool(p.get("required", False)),
            "schema": strip_schema(p["schema"]),
        }
        for p in parameters
        if isinstance(p, dict) and p.get("in") == "query" and "schema" in p
    ]


def trim(spec: dict[str, Any]) -> dict[str, Any]:
    components = spec["components"]["schemas"]
    paths: dict[str, dict[str, Any]] = {}
    for path, method in OPERATIONS:
        operation = spec["paths"][path][method]
        entry: dict[str, Any] = {"operationId": operation.get("operationId")}
        request = json_schema_of(operation.get("requestBody"))
        if request is not None:
            entry["requestBody"] = request
        query = query_parameters(operation.get("parameters", ()))
        if query:
            entry["parameters"] = query
        entry["responses"] = {
            status: schema
            for status, response in operation.get("responses", {}).items()
            if (schema := json_schema_of(response)) is not None
        }
        security = operation.get("security", spec.get("security"))
        if security is not None:
            entry["security"] = security
        paths.setdefault(path, {})[method] = entry
    wanted = set(EXTRA_COMPONENTS) | component_refs(paths)
    kept: dict[str, Any] = {}
    while wanted:
        name = wanted.pop()
        if name in kept:
            continue
        kept[name] = strip_schema(components[name])
        wanted |= component_refs(kept[name]) - set(kept)
    schemes = spec["components"].get("securitySchemes", {})
    named = {name for entry in _operations(paths) for need in entry.get("security", ()) for name in need}
    security_schemes = {name: strip_schema(schemes[name]) for name in sorted(named)}
    info = spec["info"]
    license_ = info["license"]
    notice = [
        line.format(
            title=info["title"], version=info["version"], license=license_["name"], url=license_["url"]
        )
        for line in NOTICE
    ]
    return {
        "_notice": notice,
        "info": {"title": info["title"], "version": info["version"], "license": license_},
        "paths": paths,
        "components": {
            "schemas": kept,
            **({"securitySchemes": security_schemes} if security_schemes else {}),
        },
    }


def _operations(paths: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    return [entry for methods in paths.values() for entry in methods.values()]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("spec", type=Path, help="Portkey's openapi.yaml")
    parser.add_argument("--output", type=Path, default=OUTPUT, help=f"where to write (default {OUTPUT.name})")
    args = parser.parse_args(argv)
    try:
        import yaml
    except ImportError:
        print("trim_spec.py needs PyYAML: pip install pyyaml", file=sys.stderr)
        return 1
    spec = yaml.safe_load(args.spec.read_text(encoding="utf-8"))
    trimmed = trim(spec)
    text = json.dumps(trimmed, indent=1, sort_keys=True, ensure_ascii=False) + "\n"
    args.output.write_text(text, encoding="utf-8")
    count = len(trimmed["components"]["schemas"])
    print(f"wrote {args.output} ({len(text)} characters, {count} component schemas)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
