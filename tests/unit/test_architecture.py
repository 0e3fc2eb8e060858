"""The layout's rules, checked on the source: no import cycles, a core that imports no database
client and no pytest, and an engine that knows nothing of templates or pydantic.

Only imports that run when a module is imported count (module level, outside
``if TYPE_CHECKING:``); an import inside a function is a deliberate lazy edge (drivers are
imported only when a run needs them) and does not form a cycle at import time.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "pytest_flakebench"
CLIENTS = ("psycopg", "sqlite3", "snowflake", "fakesnow")
CORE = ("template", "workload", "judge", "histogram", "units", "identifiers", "compare.stats",
        "compare.thresholds", "engine")


def _module_name(path: Path) -> str:
    rel = path.relative_to(PACKAGE.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _eager_imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: set[str] = set()

    def visit(body: list[ast.stmt]) -> None:
        for node in body:
            if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
                continue
            if isinstance(node, ast.Import):
                found.update(a.name for a in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                found.add(node.module)
                # "from pytest_flakebench.x import y": y may be a submodule
                found.update(f"{node.module}.{a.name}" for a in node.names)
            elif isinstance(node, ast.If | ast.Try):
                visit(node.body)
                visit(getattr(node, "orelse", []))
                for handler in getattr(node, "handlers", []):
                    visit(handler.body)

    visit(tree.body)
    return found


MODULES = {_module_name(p): p for p in PACKAGE.rglob("*.py")}
GRAPH = {name: {m for m in _eager_imports(path) if m in MODULES and m != name}
         for name, path in MODULES.items()}


def _closure(start: str) -> set[str]:
    seen, todo = set(), [start]
    while todo:
        name = todo.pop()
        for dep in GRAPH.get(name, ()):
            if dep not in seen:
                seen.add(dep)
                todo.append(dep)
    return seen


def test_no_import_cycles() -> None:
    # Tarjan's strongly connected components over eager imports
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    cycles: list[list[str]] = []
    counter = [0]

    def strong(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in GRAPH[v]:
            if w not in index:
                strong(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            # a package importing its own submodules is not a cycle worth naming
            real = [c for c in component if not any(o.startswith(c + ".") for o in component)]
            if len(real) > 1:
                cycles.append(sorted(component))

    for v in sorted(GRAPH):
        if v not in index:
            strong(v)
    assert cycles == []


@pytest.mark.parametrize("core", CORE)
def test_the_core_imports_no_database_client_and_no_pytest(core: str) -> None:
    name = f"pytest_flakebench.{core}"
    members = [m for m in MODULES if m == name or m.startswith(name + ".")]
    assert members, f"no module {name}"
    for member in members:
        for module in {member, *_closure(member)}:
            imported = _eager_imports(MODULES[module])
            bad = sorted(i for i in imported if i.split(".")[0] in (*CLIENTS, "pytest", "_pytest"))
            assert bad == [], f"{member} (via {module}) imports {bad}"


def test_the_engine_knows_nothing_of_templates_or_pydantic() -> None:
    engine = [m for m in MODULES if m.startswith("pytest_flakebench.engine")]
    for member in engine:
        reach = {member, *_closure(member)}
        assert not [m for m in reach if m.startswith("pytest_flakebench.template")], member
        imported = {i for m in reach for i in _eager_imports(MODULES[m])}
        assert not [i for i in imported if i.split(".")[0] == "pydantic"], member
