#!/usr/bin/env python3
"""Write the query forms, ``src/tooljet_portkey/operations.json``, from their source,
``scripts/operations_source.json``, where each field several operations share is written once.

    python3 scripts/generate_operations.py          # rewrite operations.json from the source
    python3 scripts/generate_operations.py --check  # exit 1, rewriting nothing, when the two differ

Hosts read operations.json itself, so it stays a plain, committed file. The unit tier runs the check
(``tests/unit/test_operations_source.py``): a change made to operations.json alone, or to the source
without regenerating, fails it.

The source is operations.json with two differences. A top-level ``shared`` object holds the fields used
by more than one operation, each under its key. And each operation's fields are a list, in form order,
whose entries are one of:

- ``"config"``: the shared field of that name, as written there;
- ``{"shared": "config", "description": "..."}``: that shared field with the attributes given replaced,
  each in its place (only attributes the shared field has, and never its ``key``);
- any other object: the operation's own field, written in full (its ``key`` names it).

A ``$comment`` at the top is left out of the output. Only the standard library is used, so the script runs
on a fresh checkout with any Python 3.10 or later.
"""

from __future__ import annotations

import argparse
import difflib
import json
import pathlib
import sys
from collections.abc import Mapping, Sequence
from typing import Any

ROOT = pathlib.Path(__file__).resolve().parent.parent
SOURCE = ROOT / "scripts" / "operations_source.json"
TARGET = ROOT / "src" / "tooljet_portkey" / "operations.json"
# Keys of the source that are not copied to operations.json.
SOURCE_ONLY = ("$comment", "shared")
DROPDOWN = "operation"  # the properties entry that is the operation dropdown, not an operation
DIFF_LINES = 40  # of the unified diff --check prints


class SourceError(ValueError):
    """The source cannot be turned into operations.json; the message says where and why."""


def _shared_fields(source: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    shared = source.get("shared")
    if not isinstance(shared, Mapping):
        raise SourceError("shared: must be an object of fields by key")
    for name, field in shared.items():
        if not isinstance(field, Mapping):
            raise SourceError(f"shared.{name}: must be an object (a field)")
        if field.get("key") != name:
            raise SourceError(
                f"shared.{name}: its key is {field.get('key')!r}; a shared field's key is its name"
            )
    return {name: dict(field) for name, field in shared.items()}


def _field(
    entry: Any, where: str, shared: Mapping[str, Mapping[str, Any]]
) -> tuple[dict[str, Any], str | None]:
    """One entry of an operation's list -> (the field, the shared field's name it uses or None)."""
    if isinstance(entry, str):
        if entry not in shared:
            raise SourceError(f"{where}: {entry!r} is not a shared field (known: {', '.join(shared)})")
        return dict(shared[entry]), entry
    if not isinstance(entry, Mapping):
        raise SourceError(f"{where}: must be a shared field's name or an object")
    if "shared" in entry:
        name = entry["shared"]
        if not isinstance(name, str) or name not in shared:
            raise SourceError(f"{where}: {name!r} is not a shared field (known: {', '.join(shared)})")
        field = dict(shared[name])
        for attribute, value in entry.items():
            if attribute == "shared":
                continue
            if attribute == "key":
                raise SourceError(f"{where}: the key of shared field {name!r} cannot be replaced")
            if attribute not in field:
                raise SourceError(
                    f"{where}: shared field {name!r} has no {attribute!r} to replace; "
                    "add it to the shared field or write the field in full"
                )
            if value == field[attribute]:
                raise SourceError(f"{where}: {attribute!r} is the shared field {name!r}'s own; leave it out")
            field[attribute] = value
        return field, name
    key = entry.get("key")
    if not isinstance(key, str) or not key:
        raise SourceError(f"{where}: a field written in full needs its key")
    if shared.get(key) == entry:
        raise SourceError(f"{where}: is shared field {key!r} written out again; write {json.dumps(key)}")
    return dict(entry), None


def generate(source: Mapping[str, Any]) -> dict[str, Any]:
    """The operations.json document the source describes; SourceError when it is not sound."""
    shared = _shared_fields(source)
    properties = source.get("properties")
    if not isinstance(properties, Mapping) or not isinstance(properties.get(DROPDOWN), Mapping):
        raise SourceError(
            f"properties: must be an object holding the {DROPDOWN!r} dropdown and the operations"
        )
    used: set[str] = set()
    forms: dict[str, Any] = {}
    for operation, entries in properties.items():
        if operation == DROPDOWN:
            forms[operation] = entries
            continue
        if not isinstance(entries, Sequence) or isinstance(entries, str):
            raise SourceError(f"properties.{operation}: must be a list of fields")
        fields: dict[str, Any] = {}
        for index, entry in enumerate(entries):
            where = f"properties.{operation}[{index}]"
            field, name = _field(entry, where, shared)
            if field["key"] in fields:
                raise SourceError(f"{where}: {operation} already has a field {field['key']!r}")
            fields[field["key"]] = field
            if name is not None:
                used.add(name)
        forms[operation] = fields
    unused = [name for name in shared if name not in used]
    if unused:
        raise SourceError(
            f"shared: no operation uses {', '.join(unused)}; remove it or move it to its operation"
        )
    listed = [item.get("value") for item in properties[DROPDOWN].get("list", ()) if isinstance(item, Mapping)]
    operations = [name for name in forms if name != DROPDOWN]
    if listed != operations:
        raise SourceError(
            f"properties.{DROPDOWN}.list: lists {listed}, but the operations (in order) are {operations}"
        )
    return {
        key: (forms if key == "properties" else value)
        for key, value in source.items()
        if key not in SOURCE_ONLY
    }


def render(document: Mapping[str, Any]) -> str:
    """operations.json's text: two-space indent, ASCII (non-ASCII as \\u escapes), a final newline."""
    return json.dumps(document, indent=2, ensure_ascii=True) + "\n"


def load(path: pathlib.Path = SOURCE) -> dict[str, Any]:
    try:
        source = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise SourceError(f"{path.name}: not JSON: {exc}") from exc
    if not isinstance(source, dict):
        raise SourceError(f"{path.name}: must be a JSON object")
    return source


def _relative(path: pathlib.Path) -> str:
    try:
        return str(path.relative_to(ROOT))
    except ValueError:
        return str(path)


def check(source: pathlib.Path = SOURCE, target: pathlib.Path = TARGET) -> str | None:
    """None when ``target`` is exactly what ``source`` generates; else what differs and how to fix it."""
    expected = render(generate(load(source)))
    try:
        actual = target.read_text(encoding="utf-8")
    except FileNotFoundError:
        actual = ""
    if actual == expected:
        return None
    diff = list(
        difflib.unified_diff(
            actual.splitlines(),
            expected.splitlines(),
            f"{_relative(target)} (committed)",
            f"{_relative(target)} (generated from {_relative(source)})",
            lineterm="",
        )
    )
    shown = diff[:DIFF_LINES] + (
        [f"... {len(diff) - DIFF_LINES} more diff lines"] if len(diff) > DIFF_LINES else []
    )
    return "\n".join(
        [
            f"{_relative(target)} is not what {_relative(source)} generates. Make the change in the source,",
            "then run: python3 scripts/generate_operations.py",
            *shown,
        ]
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument(
        "--check", action="store_true", help="only compare: exit 1 when operations.json differs"
    )
    parser.add_argument("--source", type=pathlib.Path, default=SOURCE, help=argparse.SUPPRESS)
    parser.add_argument("--target", type=pathlib.Path, default=TARGET, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    try:
        if args.check:
            problem = check(args.source, args.target)
            if problem is not None:
                print(problem, file=sys.stderr)
                return 1
            print(f"ok: {_relative(args.target)} is what {_relative(args.source)} generates")
            return 0
        text = render(generate(load(args.source)))
    except SourceError as exc:
        print(f"{_relative(args.source)}: {exc}", file=sys.stderr)
        return 2
    if args.target.exists() and args.target.read_text(encoding="utf-8") == text:
        print(f"{_relative(args.target)} is up to date")
    else:
        args.target.write_text(text, encoding="utf-8")
        print(f"wrote {_relative(args.target)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
