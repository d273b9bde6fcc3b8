"""The import graph of the project's own packages (party_engine, workers), read with `ast`.

- Runtime imports only form no cycle. An import under `if TYPE_CHECKING:` never runs, so it is
  skipped; an import inside a function body runs when the function is called, so it counts as
  a runtime edge like a top-level one (a function-local import is no way around a cycle).
- Only the wiring imports the engine: party_engine/engine.py, server.py, cli.py and the HTTP
  app (party_engine/api/, whose factory and route dependencies take the Engine). Nothing else
  in party_engine/ and nothing in workers/ imports party_engine.engine, not even for typing:
  a role's service is handed what it needs.

An edge goes to the module named: `from a.b import c` is an edge to a.b.c when that is one of
ours, else to a.b. The parent packages that Python also runs first are not edges of their
own: a package's submodule importing its siblings is not a cycle through the package.
"""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("party_engine", "workers")
ENGINE = "party_engine.engine"
MAY_IMPORT_ENGINE = ("party_engine.engine", "party_engine.server", "party_engine.cli")
MAY_IMPORT_ENGINE_UNDER = ("party_engine.api",)


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def project_modules() -> dict[str, Path]:
    return {
        module_name(path): path
        for package in PACKAGES
        for path in sorted((ROOT / package).rglob("*.py"))
    }


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imports(tree: ast.AST, typing_only: bool = False):
    """(node, typing_only) for every import statement, wherever it is."""
    for node in ast.iter_child_nodes(tree):
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            for child in node.body:
                yield from _imports_in(child, True)
            for child in node.orelse:
                yield from _imports_in(child, typing_only)
        else:
            yield from _imports_in(node, typing_only)


def _imports_in(node: ast.AST, typing_only: bool):
    if isinstance(node, ast.Import | ast.ImportFrom):
        yield node, typing_only
    else:
        yield from _imports(node, typing_only)


def _ours(name: str, modules: dict[str, Path]) -> str | None:
    while name and name not in modules:
        name = name.rpartition(".")[0]
    return name or None


def imports_of(module: str, path: Path, modules: dict[str, Path]) -> list[tuple[str, bool]]:
    """(imported project module, typing only) for each import in the module."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found = []
    for node, typing_only in _imports(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        else:
            if node.level:
                base_parts = package.split(".")
                base_parts = base_parts[: len(base_parts) - (node.level - 1)]
                base = ".".join(base_parts + ([node.module] if node.module else []))
            else:
                base = node.module or ""
            targets = [
                f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base
                for alias in node.names
            ]
        for target in targets:
            ours = _ours(target, modules)
            if ours is not None and ours != module:
                found.append((ours, typing_only))
    return found


def import_graph() -> tuple[dict[str, set[str]], dict[str, set[str]]]:
    """(runtime edges, every edge) by importing module."""
    modules = project_modules()
    runtime: dict[str, set[str]] = {name: set() for name in modules}
    every: dict[str, set[str]] = {name: set() for name in modules}
    for name, path in modules.items():
        for target, typing_only in imports_of(name, path, modules):
            every[name].add(target)
            if not typing_only:
                runtime[name].add(target)
    return runtime, every


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    done: set[str] = set()
    path: list[str] = []
    on_path: set[str] = set()

    def visit(node: str) -> list[str] | None:
        path.append(node)
        on_path.add(node)
        for target in sorted(graph[node]):
            if target in on_path:
                return [*path[path.index(target) :], target]
            if target not in done:
                cycle = visit(target)
                if cycle:
                    return cycle
        path.pop()
        on_path.discard(node)
        done.add(node)
        return None

    for node in sorted(graph):
        if node not in done:
            cycle = visit(node)
            if cycle:
                return cycle
    return None


def test_the_reader_resolves_relative_imports_and_tells_typing_only_from_runtime(tmp_path):
    module = tmp_path / "mod.py"
    module.write_text(
        "from typing import TYPE_CHECKING\n"
        "from . import b\n"
        "from .c import thing\n"
        "if TYPE_CHECKING:\n"
        "    from ..d import D\n"
        "else:\n"
        "    import pkg.e\n"
        "def later():\n"
        "    from pkg.sub import f\n"
    )
    modules = dict.fromkeys(["pkg.sub.b", "pkg.sub.c", "pkg.d", "pkg.e", "pkg.sub.f"], module)
    assert sorted(imports_of("pkg.sub.mod", module, modules)) == [
        ("pkg.d", True),
        ("pkg.e", False),
        ("pkg.sub.b", False),
        ("pkg.sub.c", False),
        ("pkg.sub.f", False),
    ]


def test_the_cycle_finder_finds_a_cycle_and_only_one():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b", "c"}, "b": {"c"}, "c": set()}) is None


def test_the_runtime_imports_form_no_cycle():
    runtime, _ = import_graph()
    assert "party_engine.config" in runtime["party_engine.engine"]  # the reader reads ours
    # A session types its gateway, which makes sessions: for the type checker only.
    assert "party_engine.gateway.service" not in runtime["party_engine.gateway.session"]
    assert find_cycle(runtime) is None, " -> ".join(find_cycle(runtime) or [])


def test_only_the_wiring_imports_the_engine():
    _, every = import_graph()
    importers = sorted(name for name, targets in every.items() if ENGINE in targets)
    assert importers, "the reader found no importer of the engine at all"
    allowed = [
        name
        for name in importers
        if name in MAY_IMPORT_ENGINE
        or any(name == p or name.startswith(p + ".") for p in MAY_IMPORT_ENGINE_UNDER)
    ]
    assert importers == allowed, (
        f"below the engine and importing it: {set(importers) - set(allowed)}"
    )
    assert not [name for name in importers if name.startswith("workers")]
