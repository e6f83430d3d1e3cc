"""The floor plan holds: imports flow one way, and the engine touches nothing outside.

Layers, lowest first: ``tradeloom.engine`` <- ``tradeloom.adapters`` <-
``tradeloom.research`` <- ``tradeloom.app`` <- ``tradeloom.cli`` / ``tradeloom.serve``
(and ``tradeloom.pytest_plugin``). A module may import its own layer or lower ones,
never a higher one, at module level or inside a function (see docs/architecture.md).
``tradeloom._version`` is importable by all; the package's front door
(``tradeloom/__init__.py``) may re-export from every layer.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
#: Source folder -> installed package (pyproject's package-dir mapping).
FOLDERS = {"engine": "tradeloom.engine", "adapters": "tradeloom.adapters",
           "research": "tradeloom.research", "tradeloom": "tradeloom"}
#: Layer prefixes, lowest first.
LAYERS = [("tradeloom.engine",), ("tradeloom.adapters",), ("tradeloom.research",),
          ("tradeloom.app",), ("tradeloom.cli", "tradeloom.serve", "tradeloom.pytest_plugin")]
#: Libraries that reach outside the process; the pure engine imports none of them.
OUTSIDE_WORLD = {"ccxt", "duckdb", "aiohttp", "sqlite3", "socket", "requests", "urllib",
                 "http", "asyncio", "subprocess", "os", "pathlib", "time", "threading",
                 "logging", "pyarrow.parquet", "plotly"}


def layer_of(module: str) -> int | None:
    """Index in LAYERS, or None for modules that sit outside the layering.

    >>> layer_of("tradeloom.engine.run.loop"), layer_of("tradeloom.app.session")
    (0, 3)
    >>> layer_of("tradeloom._version") is None, layer_of("tradeloom") is None
    (True, True)
    """
    for index, prefixes in enumerate(LAYERS):
        if any(module == p or module.startswith(p + ".") for p in prefixes):
            return index
    return None


def package_modules() -> dict[str, Path]:
    found = {}
    for folder, package in FOLDERS.items():
        for path in sorted((ROOT / folder).rglob("*.py")):
            parts = list(path.relative_to(ROOT / folder).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts = parts[:-1]
            found[".".join([package, *parts])] = path
    return found


def imports_of(path: Path) -> list[tuple[int, str]]:
    """Every absolute import in the file (relative imports are refused elsewhere)."""
    out = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            out.append((node.lineno, node.module))
        elif isinstance(node, ast.Import):
            out.extend((node.lineno, alias.name) for alias in node.names)
    return out


MODULES = package_modules()


def test_the_package_is_found():
    assert "tradeloom.engine.run.loop" in MODULES and "tradeloom.cli.main" in MODULES


def test_no_module_imports_a_higher_layer():
    upward = []
    for module, path in MODULES.items():
        own = layer_of(module)
        if own is None:
            continue
        for line, target in imports_of(path):
            other = layer_of(target) if target.startswith("tradeloom") else None
            if other is not None and other > own:
                upward.append(f"{path.relative_to(ROOT)}:{line}: {module} imports {target}")
    assert not upward, "imports against the layer order:\n" + "\n".join(upward)


def test_no_layer_imports_the_front_door():
    """``tradeloom/__init__.py`` re-exports every layer; importing it from a layer would
    reach up through it (``tradeloom._version`` is the one top-level module anyone may use)."""
    found = [f"{path.relative_to(ROOT)}:{line}" for module, path in MODULES.items()
             if layer_of(module) is not None for line, target in imports_of(path)
             if target == "tradeloom"]
    assert not found, "modules importing the tradeloom front door:\n" + "\n".join(found)


def test_package_modules_use_absolute_imports():
    relative = []
    for path in MODULES.values():
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.level:
                relative.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert not relative, "relative imports hide the layer an import reaches:\n" + "\n".join(relative)


@pytest.mark.parametrize("module", sorted(m for m in MODULES if layer_of(m) == 0))
def test_the_engine_reaches_nothing_outside_the_process(module):
    bad = [f"line {line}: {target}" for line, target in imports_of(MODULES[module])
           if target in OUTSIDE_WORLD or target.split(".")[0] in OUTSIDE_WORLD - {"pyarrow.parquet"}]
    assert not bad, f"{module} imports I/O libraries: {bad}"


def test_the_layer_check_catches_an_upward_import(tmp_path):
    path = tmp_path / "bad.py"
    path.write_text("def f():\n    from tradeloom.cli.main import app\n", encoding="utf-8")
    assert [layer_of(t) for _, t in imports_of(path)] == [4]
    assert layer_of("tradeloom.engine.orders") < layer_of("tradeloom.cli.main")
