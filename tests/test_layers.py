"""The package's layers point one way: store → dataset → model → predictions → acquisition → suggestions.

Imports are read from the source (ast), lazy imports inside functions included for the layer rules,
so a shortcut taken in a function body is caught too.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "drxlab"
LOWER = ("chem", "profiles", "model", "training", "candidates", "acquisition", "store", "lab")
UPPER = ("workflow", "report", "cli")
FORBIDDEN = {**{low: set(UPPER) for low in LOWER}, "workflow": {"report", "cli"}, "report": {"cli"}}


def _module(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path, *, top_level_only: bool) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    nodes = tree.body if top_level_only else list(ast.walk(tree))
    out: set[str] = set()
    for node in nodes:
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: resolve against the module's own package
                package = _module(path).split(".")[: None if path.name == "__init__.py" else -1]
                base = ".".join(package[: len(package) - node.level + 1] + ([base] if base else []))
            out.add(base)
            out |= {f"{base}.{a.name}" for a in node.names}
    return {m for m in out if m == "drxlab" or m.startswith("drxlab.")}


MODULES = {_module(p): p for p in sorted(PACKAGE.rglob("*.py")) if "migrations" not in p.parts}


def _layer(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


@pytest.mark.parametrize("module", sorted(m for m in MODULES if _layer(m) in FORBIDDEN))
def test_no_module_reaches_up_the_flow(module: str) -> None:
    bad = sorted(
        m for m in _imports(MODULES[module], top_level_only=False) if _layer(m) in FORBIDDEN[_layer(module)]
    )
    assert not bad, f"{module} imports {bad}, a layer above it"


def test_no_import_circles() -> None:
    graph = {
        m: {i for i in _imports(p, top_level_only=True) if i in MODULES and i != m}
        for m, p in MODULES.items()
    }
    cycles: list[list[str]] = []
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(m: str) -> None:
        state[m] = 1
        stack.append(m)
        for n in sorted(graph[m]):
            if state.get(n) == 1:
                cycles.append(stack[stack.index(n) :] + [n])
            elif n not in state:
                visit(n)
        stack.pop()
        state[m] = 2

    for m in sorted(graph):
        if m not in state:
            visit(m)
    assert not cycles, "import circles: " + "; ".join(" → ".join(c) for c in cycles)


def test_the_walker_sees_lazy_imports(tmp_path: Path) -> None:
    # the layer rule must be able to fail: an import inside a function body is found
    src = tmp_path / "mod.py"
    src.write_text("import os\n\ndef f():\n    from drxlab.cli import main\n")
    assert "drxlab.cli" in _imports(src, top_level_only=False)
    assert "drxlab.cli" not in _imports(src, top_level_only=True)
