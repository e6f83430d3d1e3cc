"""Every docstring example in the package runs (docs that cannot drift).

Modules are imported by their installed names (``tradeloom.engine.x``), never as
``engine.x``: numba's on-disk cache records the module name, so importing the
same file under two names would poison the cache.
"""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest

import tradeloom

PACKAGES = ["tradeloom", "tradeloom.engine", "tradeloom.adapters", "tradeloom.research"]


def _modules() -> list[str]:
    names = []
    for package_name in PACKAGES:
        package = importlib.import_module(package_name)
        for info in pkgutil.walk_packages(package.__path__, prefix=package_name + "."):
            if info.name.count(".") > package_name.count(".") + 1 and not info.ispkg:
                continue
            names.append(info.name)
    return sorted(set(names))


@pytest.mark.parametrize("module_name", _modules())
def test_docstring_examples_run(module_name):
    module = importlib.import_module(module_name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0, f"{result.failed} doctest failure(s) in {module_name}"


def test_the_package_has_doctests_to_run():
    assert tradeloom.__name__ == "tradeloom"
    assert sum(doctest.testmod(importlib.import_module(m)).attempted for m in _modules()) > 50
