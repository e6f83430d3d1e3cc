"""The units of work a sweep or walk-forward sends to an executor, and the functions that run them.

Everything here is small and picklable on purpose: a job names the catalog path,
the dataset (exchange, timeframe, symbols, range), the strategy by reference
(``"file.py:Class"`` or ``"module:Class"``), the params and the run settings.
The worker opens the store itself and streams its bars (``run_backtest``), so a
Dask scheduler never carries market data.

``run_event_job`` runs one combination through the event engine;
``run_fast_job`` runs a whole list of combinations through a kernel fast path in
one call (see ``tradeloom.research.sweeps.fastpath``).
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from tradeloom.engine.errors import ConfigError, StrategyError
from tradeloom.engine.results.result import METRIC_KEYS
from tradeloom.engine.run.backtest import DEFAULT_CASH
from tradeloom.engine.strategy.base import Strategy
from tradeloom.research.sweeps.trials import TrialStats, trial_stats

__all__ = [
    "DataSpec",
    "EventJob",
    "FastJob",
    "JobResult",
    "RunSettings",
    "run_event_job",
    "run_fast_job",
    "strategy_ref",
]

_FILE_MODULE_PREFIX = "tradeloom_user_strategy_"  # how strategy_loader names file modules


@dataclass(frozen=True)
class DataSpec:
    """Which bars to read: ``start <= ts < end`` (UTC ms; ``None`` = open-ended)."""

    catalog: str
    exchange: str
    timeframe: str
    symbols: tuple[str, ...]
    start: int | None = None
    end: int | None = None

    def __post_init__(self) -> None:
        if not self.symbols:
            raise ConfigError("no symbols given; use e.g. --symbols BTC/USDT or --symbols BTC/USDT,ETH/USDT")
        object.__setattr__(self, "symbols", tuple(sorted(dict.fromkeys(self.symbols))))
        object.__setattr__(self, "catalog", str(self.catalog))

    def window(self, start: int | None, end: int | None) -> DataSpec:
        """The same dataset over another range."""
        return replace(self, start=start, end=end)


@dataclass(frozen=True)
class RunSettings:
    """Account and simulation settings shared by every run of a sweep."""

    initial_cash: float = DEFAULT_CASH
    seed: int = 0
    market_rules: str = "exchange"
    """``exchange`` or ``none`` (no rounding, no minimums; ``backtest.apply_market_rules``)."""

    def kwargs(self) -> dict[str, Any]:
        return {"initial_cash": float(self.initial_cash), "seed": int(self.seed),
                "market_rules": self.market_rules}


@dataclass(frozen=True)
class EventJob:
    """One combination for the event engine; ``equity`` asks for the equity curve too,
    ``blocks`` > 0 for its ``TrialStats`` (the overfitting statistics' inputs)."""

    strategy: str
    data: DataSpec
    params: tuple[tuple[str, Any], ...]
    settings: RunSettings = field(default_factory=RunSettings)
    equity: bool = False
    blocks: int = 0


@dataclass(frozen=True)
class FastJob:
    """Many combinations for one kernel fast path, run in a single call.

    ``strategy`` (a reference as in ``EventJob``) is needed by the ``vectorized``
    path, which asks the strategy itself for its arrays.
    """

    fast_path: str
    data: DataSpec
    params: tuple[tuple[tuple[str, Any], ...], ...]
    settings: RunSettings = field(default_factory=RunSettings)
    strategy: str = ""
    blocks: int = 0
    """> 0: also the ``TrialStats`` of every combination (one more kernel run each)."""


@dataclass(frozen=True)
class JobResult:
    """Metrics of one run (keys of ``METRIC_KEYS``) and, when asked, its equity curve and
    its ``TrialStats``."""

    metrics: dict[str, float]
    equity_ts: np.ndarray | None = None
    equity: np.ndarray | None = None
    stats: TrialStats | None = None


def run_event_job(job: EventJob) -> JobResult:
    """Backtest one combination with the event engine, reading bars from the store."""
    from tradeloom.research.backtest import run_backtest

    d = job.data
    res = run_backtest(
        job.strategy, list(d.symbols), d.timeframe, d.start, d.end, dict(job.params), d.catalog,
        exchange=d.exchange, **job.settings.kwargs(),
    )
    metrics = {k: float(res.metrics[k]) for k in METRIC_KEYS}
    eq = res.equity["equity"].to_numpy(dtype=np.float64)
    stats = (trial_stats(eq, job.settings.initial_cash, n_blocks=job.blocks)
             if job.blocks > 0 else None)
    if not job.equity:
        return JobResult(metrics, stats=stats)
    ts = res.equity["ts"].to_numpy(dtype=np.int64)
    return JobResult(metrics, ts, eq, stats)


def run_fast_job(job: FastJob) -> list[JobResult]:
    """Run every combination of ``job`` through its kernel fast path (one kernel call), and
    with ``blocks`` > 0 each combination once more alone for its ``TrialStats``."""
    from tradeloom.research.sweeps.fastpath import get_fast_path
    from tradeloom.research.sweeps.vectorized import (
        VECTORIZED,
        run_vectorized_combos,
        run_vectorized_combos_with_curves,
    )

    params = [dict(p) for p in job.params]
    curves: list[Any] | None = None
    if job.fast_path == VECTORIZED:
        if job.blocks > 0:
            rows, curves = run_vectorized_combos_with_curves(job.strategy, job.data, params, job.settings)
        else:
            rows = run_vectorized_combos(job.strategy, job.data, params, job.settings)
    else:
        fp = get_fast_path(job.fast_path)
        rows = fp.run(job.data, params, job.settings)
        curves = fp.curves(job.data, params, job.settings) if job.blocks > 0 else None
    stats = ([trial_stats(c, job.settings.initial_cash, n_blocks=job.blocks) for c in curves]
             if curves is not None else [None] * len(rows))
    return [JobResult({k: float(r[k]) for k in METRIC_KEYS}, stats=st) for r, st in zip(rows, stats)]


def strategy_ref(strategy: str | type[Strategy]) -> str:
    """A reference a worker process can load: the string itself, or one built from a class.

    Classes defined in an importable module become ``"module:Class"``; classes the
    strategy loader read from a file become ``"/abs/path/file.py:Class"``.

    >>> from tradeloom.research.strategies import SmaCross
    >>> strategy_ref(SmaCross)
    'tradeloom.research.strategies.sma_cross:SmaCross'
    """
    if isinstance(strategy, str):
        return strategy
    if not (isinstance(strategy, type) and issubclass(strategy, Strategy)):
        raise StrategyError(
            f"strategy must be a Strategy subclass or 'file.py:Class', got {strategy!r}"
        )
    if "<locals>" in strategy.__qualname__:
        raise StrategyError(
            f"{strategy.__qualname__} is defined inside a function; worker processes cannot "
            "import it: define it at module level"
        )
    module = strategy.__module__
    if module.startswith(_FILE_MODULE_PREFIX) or module == "__main__":
        try:
            path = Path(inspect.getfile(strategy)).resolve()
        except (TypeError, OSError) as exc:
            raise StrategyError(
                f"{strategy.__qualname__} has no source file that worker processes could load; "
                "save it in a .py file and pass 'file.py:Class'"
            ) from exc
        return f"{path}:{strategy.__qualname__}"
    return f"{module}:{strategy.__qualname__}"

