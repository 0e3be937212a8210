"""The package's shape: data flows one way (cli -> use-cases -> stages), with no import cycles
and no module that grows past its room.

Imports are read from the source (ast), including the lazy ones inside functions, since those
are dependencies too; imports under `if TYPE_CHECKING:` are left out (they never run).
"""

from __future__ import annotations

import ast
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "bulletin"
MAX_LINES = 400


def _modules() -> dict[str, Path]:
    found = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        if "migrations" in parts:
            continue  # Alembic's scripts: loaded by Alembic, not imported
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        found[name] = path
    return found


MODULES = _modules()


def _type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _import_nodes(tree: ast.AST) -> Iterator[ast.Import | ast.ImportFrom]:
    for node in ast.iter_child_nodes(tree):
        if isinstance(node, ast.If) and _type_checking(node):
            yield from (n for child in node.orelse for n in _import_nodes_in(child))
            continue
        yield from _import_nodes_in(node)


def _import_nodes_in(node: ast.AST) -> Iterator[ast.Import | ast.ImportFrom]:
    if isinstance(node, ast.Import | ast.ImportFrom):
        yield node
    else:
        yield from _import_nodes(node)


def imports_of(name: str) -> set[str]:
    """The bulletin modules `name` imports (a package counts as its __init__)."""
    path = MODULES[name]
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in _import_nodes(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        else:
            if node.level:
                base = package.split(".")
                base = base[:len(base) - node.level + 1]
                stem = ".".join(base + ([node.module] if node.module else []))
            else:
                stem = node.module or ""
            # `from x import y` imports the module x.y when there is one, else a name in x.
            targets = [f"{stem}.{alias.name}" if f"{stem}.{alias.name}" in MODULES else stem
                       for alias in node.names]
        found.update(target for target in targets if target in MODULES and target != name)
    return found


GRAPH = {name: imports_of(name) for name in MODULES}


def _cycles() -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    sys.setrecursionlimit(max(10_000, sys.getrecursionlimit()))

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for after in GRAPH[node]:
            if after not in index:
                visit(after)
                low[node] = min(low[node], low[after])
            elif after in on_stack:
                low[node] = min(low[node], index[after])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for name in sorted(GRAPH):
        if name not in index:
            visit(name)
    return found


def reaches(start: str) -> set[str]:
    """Every module `start` depends on, directly or not."""
    seen: set[str] = set()
    todo = [start]
    while todo:
        for after in GRAPH[todo.pop()]:
            if after not in seen:
                seen.add(after)
                todo.append(after)
    return seen


def _within(name: str, *packages: str) -> bool:
    return any(name == package or name.startswith(package + ".") for package in packages)


def test_the_reader_sees_imports_as_python_does() -> None:
    assert "bulletin.errors" in GRAPH["bulletin.store.errors"]  # from ..errors import
    assert "bulletin.store.ledger" in GRAPH["bulletin.store.sendledger"]  # from . import ledger
    assert "bulletin.store.engine" in GRAPH["bulletin.store.sendledger"]  # from . import engine as
    assert _cycles.__name__ and imports_of("bulletin.errors") == set()


def test_no_import_cycles() -> None:
    assert _cycles() == []


def test_only_the_cli_imports_the_cli() -> None:
    offenders = {name: sorted(m for m in deps if _within(m, "bulletin.cli"))
                 for name, deps in GRAPH.items()
                 if not _within(name, "bulletin.cli") and name != "bulletin.__main__"}
    assert {name: deps for name, deps in offenders.items() if deps} == {}


@pytest.mark.parametrize(("stage", "forbidden"), [
    # The store knows nothing of what is sent, served or rendered.
    ("bulletin.store", ("bulletin.send", "bulletin.web", "bulletin.render", "bulletin.compose",
                        "bulletin.message", "bulletin.personalise", "bulletin.workflow")),
    # Sending never reaches into the web service.
    ("bulletin.send", ("bulletin.web",)),
    # The subscriber service sends through the transport protocol only: no dispatcher, no SMTP
    # client, no renderer (the authoring preview, a use-case of its own, does render).
    ("bulletin.web.service", ("bulletin.send.dispatch", "bulletin.send.campaign",
                              "bulletin.send.smtp", "bulletin.send.outgoing",
                              "bulletin.workflow")),
    # What comes back is classified without a database; its processing reaches the store,
    # never the sender, the service or the renderer.
    ("bulletin.inbound.families", ("bulletin.store", "bulletin.send", "bulletin.web",
                                   "bulletin.render")),
    ("bulletin.inbound", ("bulletin.send", "bulletin.web", "bulletin.render",
                          "bulletin.compose", "bulletin.workflow")),
    # Rendering is pure: no database, no sending, no service.
    ("bulletin.render", ("bulletin.store", "bulletin.send", "bulletin.web")),
    ("bulletin.compose", ("bulletin.store", "bulletin.send", "bulletin.web")),
])
def test_stages_do_not_reach_up(stage: str, forbidden: tuple[str, ...]) -> None:
    offenders = {name: sorted(m for m in reaches(name) if _within(m, *forbidden))
                 for name in GRAPH if _within(name, stage)}
    assert {name: deps for name, deps in offenders.items() if deps} == {}


def test_modules_stay_in_their_room() -> None:
    """A module over MAX_LINES says in its docstring why it is one piece."""
    too_long = []
    for name, path in MODULES.items():
        lines = path.read_text(encoding="utf-8").count("\n")
        docstring = ast.get_docstring(ast.parse(path.read_text(encoding="utf-8"))) or ""
        if lines > MAX_LINES and "one piece" not in docstring:
            too_long.append(f"{name}: {lines} lines")
    assert too_long == []
