"""Old import paths (before the package was regrouped by subject) still import, with a
DeprecationWarning that names the new path."""

from __future__ import annotations

import importlib
import importlib.util
import warnings

import pytest

from tradeloom import _compat


@pytest.mark.parametrize("old,new", sorted(_compat.MOVED.items()))
def test_every_moved_path_leads_to_its_new_module(old, new):
    assert importlib.util.find_spec(new) is not None, f"{new} does not exist"


def test_an_old_path_is_the_new_module_and_warns():
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        old = importlib.import_module("tradeloom.research.registry")
    new = importlib.import_module("tradeloom.research.ml.registry")
    assert old is new
    assert any(issubclass(w.category, DeprecationWarning) and "tradeloom.research.ml.registry"
               in str(w.message) for w in caught)


def test_documented_names_import_from_their_old_paths():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        from tradeloom.adapters.results_io import load_result
        from tradeloom.engine.fast import run_signals
    assert callable(load_result) and callable(run_signals)


def test_no_old_path_shadows_a_module_that_exists_today():
    for old in _compat.MOVED:
        parent, _, leaf = old.rpartition(".")
        package = importlib.import_module(parent)
        found = importlib.machinery.PathFinder.find_spec(leaf, package.__path__)
        assert found is None, f"{old} exists as a real module; drop it from MOVED"
