"""Shared state of one CLI invocation: the catalog location chosen by --catalog.

Sub-command modules (``cli.data``, ``cli.ingest``, ...) call ``catalog_location()``,
``catalog_path()`` or ``open_store()`` instead of reading options themselves, so the
global option and ``TRADELOOM_CATALOG`` behave the same everywhere. The location may
be a directory or an object store (``s3://bucket/prefix``); commands that keep their
own files beside the catalog (models, deployments, audit) need a directory and say so.
"""

from __future__ import annotations

from pathlib import Path

from tradeloom.adapters.store.locations import (
    DEFAULT_CATALOG,
    ENV_CATALOG,
    PROJECT_ROOT,
    default_location,
)
from tradeloom.adapters.store.storage import is_object_store
from tradeloom.engine.errors import ConfigError

_state: dict[str, str] = {}


def set_catalog(location: str | Path | None) -> None:
    """Remember the catalog given on the command line (``None``: use env or default)."""
    if location is None:
        _state.pop("catalog", None)
    else:
        _state["catalog"] = str(location)


def catalog_location() -> str:
    """--catalog if given, else $TRADELOOM_CATALOG, else the project's datasets/catalog
    (a directory, or ``s3://bucket/prefix``)."""
    return _state.get("catalog") or default_location()


def catalog_path() -> Path:
    """The catalog as a local directory (for commands that keep files beside it)."""
    location = catalog_location()
    if is_object_store(location):
        raise ConfigError(
            f"this command keeps files beside the catalog and needs a local directory, not "
            f"{location}; pass --catalog DIR (market data commands, backtest and sweep work "
            "on object storage)")
    return Path(location)


def open_store():
    """The market-data store at the chosen catalog (created on first write)."""
    from tradeloom.adapters.store.market_store import MarketStore

    return MarketStore(catalog_location())


__all__ = ["DEFAULT_CATALOG", "ENV_CATALOG", "PROJECT_ROOT", "catalog_location", "catalog_path",
           "open_store", "set_catalog"]
