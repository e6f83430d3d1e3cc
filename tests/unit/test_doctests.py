"""Every docstring example in the package runs (docs that cannot drift).

Modules are imported by their installed names (``tradeloom.engine.x``), never as
``engine.x``: numba's on-disk cache records the module name, so importing the
same file under two names would poison the cache. Every module at every depth is
collected (subpackages included), so moving a module never silently drops its examples.
"""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest

PACKAGES = ["tradeloom", "tradeloom.engine", "tradeloom.adapters", "tradeloom.research"]
FLAGS = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE

#: Docstring examples in the package when this floor was set; fewer means examples
#: were lost (a module no longer collected, or examples deleted): raise it as you add more.
MIN_EXAMPLES = 560


def _modules() -> list[str]:
    names = set()
    for package_name in PACKAGES:
        package = importlib.import_module(package_name)
        names.add(package_name)
        for info in pkgutil.walk_packages(package.__path__, prefix=package_name + "."):
            names.add(info.name)
    return sorted(names)


def _examples(module_name: str) -> int:
    finder = doctest.DocTestFinder()
    module = importlib.import_module(module_name)
    return sum(len(t.examples) for t in finder.find(module))


@pytest.mark.parametrize("module_name", _modules())
def test_docstring_examples_run(module_name):
    module = importlib.import_module(module_name)
    result = doctest.testmod(module, optionflags=FLAGS)
    assert result.failed == 0, f"{result.failed} doctest failure(s) in {module_name}"


def test_modules_in_nested_subpackages_are_collected():
    modules = _modules()
    assert "tradeloom.engine.run.loop" in modules
    assert "tradeloom.adapters.ccxt.broker" in modules


def test_no_docstring_examples_were_lost():
    total = sum(_examples(m) for m in _modules())
    assert total >= MIN_EXAMPLES, f"{total} docstring examples, expected at least {MIN_EXAMPLES}"
