"""The package's import structure: no module imports another that imports it back, directly or in a
loop; an import inside a function says why beside it; the counting core loads no web code."""
from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import voting

PACKAGE = Path(voting.__file__).resolve().parent


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(path): path for path in PACKAGE.rglob("*.py")}


def imported(name: str, path: Path) -> list[tuple[str, ast.stmt]]:
    """The modules of the package that the module `name` imports, anywhere in it, with the statement."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1] + ([base] if base else []))
            # `from . import views` imports a module; `from .services import f` the module it names
            targets = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in MODULES else base for alias in node.names]
        else:
            continue
        found += [(target, node) for target in targets if target in MODULES and target != name]
    return found


GRAPH = {name: {target for target, _node in imported(name, path)} for name, path in MODULES.items()}


def loops(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan's algorithm)."""
    index, low, stack, on_stack, found = {}, {}, [], set(), []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(graph[node]):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
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

    sys.setrecursionlimit(max(sys.getrecursionlimit(), 10 * len(graph)))
    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_no_module_imports_one_that_imports_it_back():
    assert loops(GRAPH) == []


def test_the_loop_finder_finds_a_loop():
    assert loops({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert loops({"a": {"b"}, "b": set()}) == []


def test_an_import_inside_a_function_says_why():
    unexplained = []
    for name, path in MODULES.items():
        lines = path.read_text().splitlines()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                for inner in ast.walk(node):
                    if isinstance(inner, ast.Import | ast.ImportFrom):
                        beside = lines[inner.lineno - 1] + lines[inner.lineno - 2]
                        if "#" not in beside:
                            unexplained.append(f"{name}:{inner.lineno}")
    assert sorted(set(unexplained)) == []


def test_features_packages_import_nothing():
    """Blueprints are registered one by one in `create_app`; a feature's package only names it."""
    for name, path in MODULES.items():
        if path.name == "__init__.py" and name not in ("voting.tally", "voting.api"):
            assert imported(name, path) == [], name


def test_the_counting_core_imports_no_web_or_database_code():
    probe = ("import sys, voting.tally, voting.tally.command\n"
             "print(sorted({m.split('.')[0] for m in sys.modules} & {'flask', 'sqlalchemy', 'alembic', 'werkzeug'}))")
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"
    assert all(target.startswith("voting.tally") for module in GRAPH if module.startswith("voting.tally")
               for target in GRAPH[module])


def test_the_counting_core_loads_numpy_only_for_equal_shares():
    """`import voting.tally` and a greedy count start without numpy; equal shares loads it when it runs."""
    probe = ("import sys\n"
             "from voting.tally import Election, Project, tally\n"
             "election = Election.from_values([Project(1, 5), Project(2, 3)], 6, [[1], [1, 2], [2]])\n"
             "tally(election, 'greedy')\n"
             "print('numpy' in sys.modules, end=' ')\n"
             "tally(election, 'mes')\n"
             "print('numpy' in sys.modules)\n")
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "False True"
