"""The two JSON files a host draws its forms from, and the few facts the playground derives from them.

Nothing here knows a field by name: which connection fields are secret follows from their widget type
(``password``) and their ``encrypted`` flag, and an operation's fields are read as the file lists them.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from importlib import resources
from typing import Any

__all__ = [
    "form_layout",
    "load_documents",
    "load_layout",
    "operation_fields",
    "operation_values",
    "secret_keys",
]

LAYOUT_FILE = "playground_forms.json"


def load_documents() -> tuple[dict[str, Any], dict[str, Any]]:
    """The package's own manifest.json and operations.json, as the host reads them."""
    root = resources.files("tooljet_portkey")
    manifest = json.loads(root.joinpath("manifest.json").read_text(encoding="utf-8"))
    operations = json.loads(root.joinpath("operations.json").read_text(encoding="utf-8"))
    return manifest, operations


def secret_keys(manifest: Mapping[str, Any]) -> frozenset[str]:
    """The connection fields whose values are secrets: password widgets, and options stored encrypted."""
    options = manifest.get("source", {}).get("options", {})
    found = set()
    for key, field in manifest.get("properties", {}).items():
        option = options.get(key)
        encrypted = isinstance(option, Mapping) and option.get("encrypted") is True
        if encrypted or (isinstance(field, Mapping) and field.get("type") == "password"):
            found.add(key)
    return frozenset(found)


def operation_values(operations: Mapping[str, Any]) -> list[str]:
    """The operations the query form's operation dropdown lists, in its order."""
    selector = operations.get("properties", {}).get("operation", {})
    return [
        item["value"] for item in selector.get("list", ()) if isinstance(item, Mapping) and "value" in item
    ]


def operation_fields(operations: Mapping[str, Any], operation: str) -> dict[str, Any]:
    """One operation's fields by key, with the dropdown's ``commonFields`` (shown for every operation).

    Empty when the file does not list the operation.
    """
    properties = operations.get("properties", {})
    if operation not in operation_values(operations) or not isinstance(properties.get(operation), Mapping):
        return {}
    common = properties.get("operation", {}).get("commonFields", {})
    fields = dict(common) if isinstance(common, Mapping) else {}
    fields.update(properties[operation])
    return fields


def load_layout() -> dict[str, Any]:
    """The package's playground_forms.json: each operation's core fields and example values."""
    text = resources.files("tooljet_portkey").joinpath(LAYOUT_FILE).read_text(encoding="utf-8")
    layout: dict[str, Any] = json.loads(text)
    return layout


def form_layout(operations: Mapping[str, Any], layout: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """Each operation's form as the page draws it: ``core`` fields first (the layout's order, then any
    required field it leaves out), ``advanced`` the rest in operations.json's order, and the ``examples``
    the untouched form starts with. Only fields operations.json has count, so a field added there lands
    in ``advanced`` and a layout naming a removed field changes nothing."""
    drawn: dict[str, dict[str, Any]] = {}
    for operation in operation_values(operations):
        fields = operation_fields(operations, operation)
        named = layout.get("core", {}).get(operation, [])
        core = [key for key in named if key in fields]
        core += [key for key, field in fields.items() if key not in core and _required(field)]
        examples = layout.get("examples", {}).get(operation, {})
        drawn[operation] = {
            "core": core,
            "advanced": [key for key in fields if key not in core],
            "examples": {key: value for key, value in examples.items() if key in fields},
        }
    return drawn


def _required(field: Any) -> bool:
    return isinstance(field, Mapping) and field.get("required") is True
