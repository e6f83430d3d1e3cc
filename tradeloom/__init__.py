"""tradeloom: deterministic crypto trading research, one engine from backtest to live.

The names below are the public front door; they load lazily, so ``import tradeloom``
stays cheap (no numba, DuckDB or ccxt until used)::

    from tradeloom import MarketStore, Strategy, Param, run_backtest, load_result
"""

from __future__ import annotations

import importlib
from typing import Any

from tradeloom import _compat
from tradeloom._version import __version__

_compat.install()  # old module paths keep importing, with a DeprecationWarning

_EXPORTS = {
    "Strategy": "tradeloom.engine.strategy.base",
    "Param": "tradeloom.engine.strategy.base",
    "MarketSpec": "tradeloom.engine.market",
    "BacktestResult": "tradeloom.engine.results.result",
    "RiskEngine": "tradeloom.engine.risk.engine",
    "MarketStore": "tradeloom.adapters.store.market_store",
    "run_backtest": "tradeloom.research.backtest",
    "ResearchResult": "tradeloom.research.research_result",
    "load_sample": "tradeloom.app.sample",
    "load_profile": "tradeloom.adapters.config.risk_profiles",
}

__all__ = [
    "BacktestResult", "MarketSpec", "MarketStore", "Param", "ResearchResult", "RiskEngine",
    "Strategy", "__version__", "load_profile", "load_result", "load_sample", "run_backtest",
]


def load_result(directory: Any) -> Any:
    """Load a saved result (``--out`` of ``tradeloom backtest``) as a ``ResearchResult``."""
    from tradeloom.adapters.store.results_io import load_result as _load
    from tradeloom.research.research_result import ResearchResult

    return ResearchResult.of(_load(directory))


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'tradeloom' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
