"""Every docstring example in the venue emulators (``tests/support/venues``) runs."""

from __future__ import annotations

import doctest
import importlib
import pkgutil

import pytest
import venues

FLAGS = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE


def _modules() -> list[str]:
    names = {"venues"}
    for info in pkgutil.walk_packages(venues.__path__, prefix="venues."):
        names.add(info.name)
    return sorted(names)


@pytest.mark.parametrize("module_name", _modules())
def test_docstring_examples_run(module_name: str) -> None:
    module = importlib.import_module(module_name)
    result = doctest.testmod(module, optionflags=FLAGS)
    assert result.failed == 0, f"{result.failed} doctest failure(s) in {module_name}"


def test_the_emulator_modules_carry_examples() -> None:
    finder = doctest.DocTestFinder()
    total = sum(len(t.examples) for name in _modules()
                for t in finder.find(importlib.import_module(name)))
    assert total >= 20
