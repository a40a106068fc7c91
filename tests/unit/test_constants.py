"""Every limit of the package lives in _constants.py: no other module of the plugin assigns a number to a
module-level MAX_/MIN_/DEFAULT_ name (a bound written inline as a bare number is left to review)."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

import tooljet_portkey

PACKAGE = Path(tooljet_portkey.__file__).parent
# The playground and the simulator are apps of their own; their servers' limits stay beside them.
MODULES = sorted(p for p in PACKAGE.glob("*.py") if p.name != "_constants.py")
LIMIT_NAME = re.compile(r"^_?(MAX|MIN|DEFAULT)_")


def numeric(node: ast.expr) -> bool:
    """An expression made only of number literals (``64 * 1024``, ``1 << 20``)."""
    return all(
        isinstance(sub, (ast.BinOp, ast.UnaryOp, ast.operator, ast.unaryop))
        or (isinstance(sub, ast.Constant) and isinstance(sub.value, (int, float)))
        for sub in ast.walk(node)
    )


def limits_assigned(source: str) -> list[str]:
    found = []
    for node in ast.parse(source).body:
        targets = (
            node.targets
            if isinstance(node, ast.Assign)
            else [node.target]
            if isinstance(node, ast.AnnAssign)
            else []
        )
        value = node.value if isinstance(node, (ast.Assign, ast.AnnAssign)) else None
        for target in targets:
            if (
                isinstance(target, ast.Name)
                and LIMIT_NAME.match(target.id)
                and value is not None
                and numeric(value)
            ):
                found.append(target.id)
    return found


def test_the_scan_finds_a_limit_kept_elsewhere() -> None:
    source = (
        "_MAX_KNOWN = 4096\nMAX_SIZE: int = 64 * 1024\nMAX_NAME = 'x'\nDEFAULT_LIMITS = make()\nOTHER = 3\n"
    )
    assert limits_assigned(source) == ["_MAX_KNOWN", "MAX_SIZE"]


@pytest.mark.parametrize("path", MODULES, ids=[p.name for p in MODULES])
def test_no_module_but_constants_keeps_a_limit(path: Path) -> None:
    assert limits_assigned(path.read_text(encoding="utf-8")) == []
