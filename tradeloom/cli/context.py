"""Shared state of one CLI invocation: the catalog location chosen by --catalog.

Sub-command modules (``cli.data``, ``cli.ingest``, ...) call ``catalog_path()`` or
``open_store()`` instead of reading options themselves, so the global option and
``TRADELOOM_CATALOG`` behave the same everywhere.
"""

from __future__ import annotations

from pathlib import Path

from tradeloom.adapters.store.locations import (
    DEFAULT_CATALOG,
    ENV_CATALOG,
    PROJECT_ROOT,
    default_catalog,
)

_state: dict[str, Path] = {}


def set_catalog(path: Path | None) -> None:
    """Remember the catalog given on the command line (``None``: use env or default)."""
    if path is None:
        _state.pop("catalog", None)
    else:
        _state["catalog"] = Path(path)


def catalog_path() -> Path:
    """--catalog if given, else $TRADELOOM_CATALOG, else the project's datasets/catalog."""
    if "catalog" in _state:
        return _state["catalog"]
    return default_catalog()


def open_store():
    """The market-data store at the chosen catalog (created on first write)."""
    from tradeloom.adapters.store.market_store import MarketStore

    return MarketStore(catalog_path())
