"""Where a research notebook reads its bars: ``notebook_catalog()``.

With ``$TRADELOOM_CATALOG`` set (as for the CLI), a notebook works in that catalog, on
the data you ingested or imported there; it checks first that the bars it reads are
stored, and otherwise says which command stores them. Without it, a notebook gets a
fresh temporary catalog holding the bundled sample, so it runs anywhere and depends on
no local state (the test suite runs the notebooks that way).

>>> path = notebook_catalog(env={})  # as if TRADELOOM_CATALOG were not set
>>> path.name.startswith("tradeloom-notebook-"), is_temporary(path)
(True, True)
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path

from tradeloom.adapters.store.locations import ENV_CATALOG
from tradeloom.adapters.store.market_store import MarketStore
from tradeloom.app.sample import load_sample
from tradeloom.engine.errors import DataError

__all__ = ["ENV_CATALOG", "is_temporary", "notebook_catalog"]

MARKER = ".tradeloom-temporary-catalog"
"""A file in every catalog ``notebook_catalog`` made itself (and so may delete)."""

NEEDS = (("binance", "1h", "BTC/USDT"),)
"""What the bundled notebooks read: (exchange, timeframe, symbol)."""


def notebook_catalog(needs: Sequence[tuple[str, str, str]] = NEEDS,
                     env: Mapping[str, str] | None = None) -> Path:
    """``$TRADELOOM_CATALOG`` (checked to hold ``needs``), else a temporary sample catalog
    (``env``: the environment to read, default ``os.environ``)."""
    env = (os.environ if env is None else env).get(ENV_CATALOG, "").strip()
    if not env:
        path = Path(tempfile.mkdtemp(prefix="tradeloom-notebook-"))
        (path / MARKER).write_text("made by tradeloom.app.notebook.notebook_catalog; safe to delete\n")
        load_sample(MarketStore(path))
        return path
    path = Path(env).expanduser()
    stored = {(d.exchange, d.timeframe, d.symbol) for d in MarketStore(path).list_datasets()}
    missing = [n for n in needs if n not in stored]
    if missing:
        names = ", ".join(f"{e} {s} {t}" for e, t, s in missing)
        raise DataError(
            f"{ENV_CATALOG}={env} holds no {names} bars, which this notebook reads; store them "
            f"with `TRADELOOM_CATALOG={env} tradeloom data load-sample` (or `tradeloom ingest`), "
            f"or unset {ENV_CATALOG} to run on a temporary copy of the bundled sample")
    return path


def is_temporary(catalog: Path) -> bool:
    """True for a catalog ``notebook_catalog`` created (a notebook may delete it when done),
    False for any other, such as the one ``$TRADELOOM_CATALOG`` names."""
    return (Path(catalog) / MARKER).is_file()
