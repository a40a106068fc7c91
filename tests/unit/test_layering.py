"""The package's modules form layers: no import loop, not even one closed by an import inside a function.

Every import of one of the package's modules counts, at the top of a module or inside a function (an
import made late still runs back up); one under ``if TYPE_CHECKING:`` does not (it never runs). So do the
names ``tooljet_portkey`` loads on first use (``__init__.py``'s ``_LOCATIONS``). ``from . import _host``
imports the module ``_host``, not its package: a module's package is always imported before the module
itself, so naming it adds no order. What two modules share goes in a module below both
(docs/architecture.md).
"""

from __future__ import annotations

import ast
from collections.abc import Iterator, Mapping
from pathlib import Path

import tooljet_portkey

PACKAGE = Path(tooljet_portkey.__file__).parent

# module -> {imported module: the line of its first import that runs}
Imports = dict[str, dict[str, int]]


def package_modules(root: Path) -> dict[str, Path]:
    """Every module of the package at ``root``, by its dotted name (a package by its own name)."""
    modules = {}
    for path in sorted(root.rglob("*.py")):
        parts = path.relative_to(root.parent).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        modules[".".join(parts)] = path
    return modules


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _run_imports(tree: ast.AST) -> Iterator[ast.Import | ast.ImportFrom]:
    """Every import statement that can run: anywhere in the module, but not under ``if TYPE_CHECKING``."""
    for node in ast.iter_child_nodes(tree):
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            for branch in node.orelse:
                yield from _run_imports(ast.Module(body=[branch], type_ignores=[]))
            continue
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            yield node
        yield from _run_imports(node)


def _lazy_names(tree: ast.Module) -> Mapping[str, str]:
    """``_LOCATIONS``: public name -> the module it is imported from on first use."""
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == "_LOCATIONS" for t in node.targets
        ):
            locations = ast.literal_eval(node.value)
            assert isinstance(locations, dict)
            return locations
    return {}


def imports_of(modules: Mapping[str, Path]) -> Imports:
    """Which of the package's modules each module imports."""
    found: Imports = {name: {} for name in modules}
    for name, path in modules.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
        for node in _run_imports(tree):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            else:
                base = package
                for _ in range(node.level - 1):
                    base = base.rpartition(".")[0]
                if node.level == 0:
                    base = node.module or ""
                elif node.module:
                    base = f"{base}.{node.module}"
                submodules = [f"{base}.{alias.name}" for alias in node.names]
                targets = [module for module in submodules if module in modules]
                if len(targets) < len(submodules):  # a name the module (or package) itself defines
                    targets.append(base)
            for target in targets:
                if target in modules and target != name:
                    found[name].setdefault(target, node.lineno)
        if path.name == "__init__.py":
            for module in _lazy_names(tree).values():
                found[name].setdefault(f"{name}.{module}", 0)
    return found


def import_loops(imports: Imports) -> list[set[str]]:
    """Each import loop: the modules that import one another, directly or not (the strongly connected
    components of more than one module, Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[list[str]] = []

    def visit(module: str) -> None:
        index[module] = low[module] = len(index)
        stack.append(module)
        on_stack.add(module)
        for target in imports[module]:
            if target not in index:
                visit(target)
                low[module] = min(low[module], low[target])
            elif target in on_stack:
                low[module] = min(low[module], index[target])
        if low[module] == index[module]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == module:
                    break
            if len(component) > 1:
                components.append(component)

    for module in imports:
        if module not in index:
            visit(module)
    return [set(component) for component in components]


def cycle(imports: Imports, component: set[str]) -> list[str]:
    """One cycle through a strongly connected component, from its first module back to it."""
    start = min(component)
    paths = {start: [start]}
    queue = [start]
    while queue:
        module = queue.pop(0)
        for target in sorted(imports[module]):
            if target == start:
                return paths[module]
            if target in component and target not in paths:
                paths[target] = [*paths[module], target]
                queue.append(target)
    raise AssertionError(f"no cycle through {sorted(component)}")


def describe(imports: Imports, component: set[str]) -> str:
    """``a -> b (a: line 12) -> a (b: line 40)``: one cycle of the loop, each step with the line of the
    import that makes it, then every module in the loop when there are more than the cycle's."""
    loop = cycle(imports, component)
    steps = [loop[0]]
    for module, target in zip(loop, [*loop[1:], loop[0]], strict=True):
        line = imports[module][target]
        where = "_LOCATIONS" if line == 0 else f"line {line}"
        steps.append(f"{target} ({module.rpartition('.')[2]}: {where})")
    text = " -> ".join(steps)
    return text if len(loop) == len(component) else f"{text}; in the loop: {', '.join(sorted(component))}"


def test_the_package_has_no_import_loop() -> None:
    imports = imports_of(package_modules(PACKAGE))
    loops = [describe(imports, loop) for loop in import_loops(imports)]
    advice = "import loops (move what both sides need into a module below them):"
    assert not loops, "\n".join([advice, *loops])


def test_the_check_sees_every_import(tmp_path: Path) -> None:
    """The checker itself: a package that loops through an import inside a function is caught; an
    import under TYPE_CHECKING and a package naming its own submodule are not loops."""
    pkg = tmp_path / "pkg"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text('_LOCATIONS = {"Thing": "_b"}\n')
    (pkg / "_a.py").write_text(
        "from typing import TYPE_CHECKING\n"
        "from ._b import thing\n"
        "if TYPE_CHECKING:\n"
        "    from ._c import Other\n"
    )
    (pkg / "_b.py").write_text("def thing():\n    from ._c import other\n    return other\n")
    (pkg / "_c.py").write_text("def other():\n    from . import _a\n    return _a\n")
    (pkg / "sub" / "__init__.py").write_text("from ._server import Server\n")
    (pkg / "sub" / "_server.py").write_text("from . import _parts as parts\nfrom .. import _c\n")
    (pkg / "sub" / "_parts.py").write_text("")
    imports = imports_of(package_modules(pkg))
    assert imports["pkg._a"] == {"pkg._b": 2}  # the TYPE_CHECKING import of _c is left out
    assert imports["pkg"] == {"pkg._b": 0}
    assert imports["pkg.sub._server"] == {"pkg.sub._parts": 1, "pkg._c": 2}  # not pkg.sub itself
    loops = import_loops(imports)
    assert loops == [{"pkg._a", "pkg._b", "pkg._c"}]
    assert describe(imports, loops[0]) == (
        "pkg._a -> pkg._b (_a: line 2) -> pkg._c (_b: line 2) -> pkg._a (_c: line 2)"
    )
