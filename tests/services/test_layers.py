"""The layout's rules, read from the source: services/ and models/ import no reflex; no import cycles between the
packages of services/ and of admin_panel/ (module-level imports); function-local imports only to break a cycle
that a comment documents."""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
TOPS = ("services", "admin_panel", "models")


def _modules():
    for top in TOPS:
        for path in sorted((ROOT / top).rglob("*.py")):
            if ".web" in path.parts:
                continue
            name = ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")
            yield name, path, ast.parse(path.read_text(), str(path))


def _imported(node) -> list[str]:
    if isinstance(node, ast.Import):
        return [a.name for a in node.names]
    if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
        return [node.module]
    return []


def _package(module: str) -> str:
    """services.core.db -> services.core; admin_panel.features.users.state -> admin_panel.features.users."""
    parts = module.split(".")
    return ".".join(parts[:3] if parts[:2] == ["admin_panel", "features"] else parts[:2])


def _cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one package (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in edges.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                found.append(sorted(comp))

    for v in list(edges):
        if v not in index:
            visit(v)
    return found


def test_services_and_models_import_no_reflex():
    offenders = [f"{name}: {mod}" for name, _, tree in _modules() if not name.startswith("admin_panel")
                 for node in ast.walk(tree) for mod in _imported(node) if mod.split(".")[0] == "reflex"]
    assert offenders == []


def test_no_import_cycles_between_packages():
    edges: dict[str, set[str]] = {}
    for name, _, tree in _modules():
        for node in tree.body:
            for mod in _imported(node):
                if mod.split(".")[0] in TOPS and _package(mod) != _package(name):
                    edges.setdefault(_package(name), set()).add(_package(mod))
    assert _cycles(edges) == []


def test_the_cycle_finder_sees_a_cycle():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_function_local_imports_say_why():
    """An import inside a function is allowed only with a comment on its line or the line above naming the
    reason (a cycle it breaks, a heavy optional module, an entry point loaded lazily)."""
    undocumented = []
    for name, path, tree in _modules():
        lines = path.read_text().splitlines()
        for fn in ast.walk(tree):
            if not isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)):
                continue
            for node in ast.walk(fn):
                if isinstance(node, (ast.Import, ast.ImportFrom)):
                    here, above = lines[node.lineno - 1], lines[node.lineno - 2]
                    if "#" not in here and not above.strip().startswith("#"):
                        undocumented.append(f"{name}:{node.lineno}: {here.strip()}")
    assert sorted(set(undocumented)) == []
