"""Walk-forward analysis: optimise on a train window, trade the next window out of sample, repeat.

For each window of ``plan_windows`` (rolling or anchored, by bars or durations):

1. every combination of the grid runs on the train window (the kernel fast path
   when the strategy has one, a named kernel or its vectorized form, else the
   event engine; ``summary["engine_reason"]`` says why), and the best by ``metric``
   is picked (NaN last, first of ties, as in a sweep);
2. the picked params run on the test window through the **event engine**, the
   reference engine, and its equity curve is kept.

All train runs of all windows go to the executor in one batch, then all test
runs, so every worker stays busy. Each test run starts flat with
``initial_cash`` at the test window's first bar: indicators warm up inside the
test window, nothing leaks from the train data into it.

**Stitching.** The out-of-sample curves are chained by compounding: window k's
curve is scaled so that it starts from the equity window k-1 ended with, as if
one account had traded every test window in turn. Overall out-of-sample metrics
(return, CAGR, volatility, Sharpe, Sortino, max drawdown) are computed on that
stitched curve.

**Overfitting.** Each train window's search is scored like a sweep: ``is_trials``,
``is_dsr`` (deflated Sharpe ratio of the pick) and ``is_pbo`` (probability of backtest
overfitting by CSCV over that window's trials) per window; the summary has the
trials over all windows (``trials``) and the windows' means (``is_dsr_mean``,
``is_pbo_mean``).

**Degradation.** Per window: ``is_<metric>`` (the best train value),
``oos_<metric>`` (the same params out of sample), ``degradation = oos - is`` and
``efficiency = oos / is`` (NaN when ``is`` is 0 or NaN). Overall: the means of
both, their difference and ratio (the "walk-forward efficiency"). For metrics
where lower is better (drawdown, volatility) a positive degradation is the bad
direction.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from tradeloom.engine.results import metrics as m
from tradeloom.engine.strategy.base import Strategy
from tradeloom.engine.timeframes import bars_per_year, timeframe_to_ms
from tradeloom.research.strategy_loader import load_strategy
from tradeloom.research.sweeps.executors import Executor, LocalExecutor
from tradeloom.research.sweeps.fastpath import explain_fast_path
from tradeloom.research.sweeps.jobs import (
    DataSpec,
    EventJob,
    JobResult,
    RunSettings,
    run_event_job,
    strategy_ref,
)
from tradeloom.research.sweeps.sweep import (
    Engine,
    GridLike,
    Progress,
    as_grid,
    evaluate,
    prepare_combinations,
    progress_counter,
    search_overfit,
)
from tradeloom.research.sweeps.table import (
    best_index,
    check_metric,
    results_table,
    write_parquet_atomic,
)
from tradeloom.research.sweeps.trials import DEFAULT_BLOCKS, OverfitReport
from tradeloom.research.sweeps.wf_windows import Span, Window, parse_span, plan_windows

__all__ = ["WalkForwardResult", "bar_times", "run_walkforward", "stitch"]

STITCHED_METRICS = ("total_return", "cagr", "volatility", "sharpe", "sortino", "max_drawdown")


@dataclass(frozen=True)
class WalkForwardResult:
    """Per-window picks and scores, the stitched out-of-sample curve, and a summary."""

    windows: pd.DataFrame
    """One row per window: bounds, bar counts, picked params, is/oos metric, degradation."""
    equity: pd.DataFrame
    """The stitched out-of-sample equity: ts (bar close, ms), equity, window."""
    in_sample: pd.DataFrame
    """Every combination's train metrics: a ``window`` column, the params, every metric."""
    summary: dict[str, Any]
    metric: str

    def to_parquet(self, directory: str | os.PathLike[str]) -> list[Path]:
        """Write windows.parquet, equity.parquet and in_sample.parquet into ``directory``."""
        root = Path(directory)
        meta = {k: v for k, v in self.summary.items()}
        return [
            write_parquet_atomic(self.windows, root / "windows.parquet", meta),
            write_parquet_atomic(self.equity, root / "equity.parquet", meta),
            write_parquet_atomic(self.in_sample, root / "in_sample.parquet", meta),
        ]


def stitch(curves: Sequence[tuple[np.ndarray, np.ndarray]], initial_cash: float) -> pd.DataFrame:
    """Chain equity curves by compounding (each starts from ``initial_cash``).

    >>> a = (np.array([1, 2]), np.array([110.0, 120.0]))
    >>> b = (np.array([3, 4]), np.array([90.0, 100.0]))
    >>> stitch([a, b], 100.0)["equity"].tolist()
    [110.0, 120.0, 108.0, 120.0]
    """
    ts_parts, eq_parts, win_parts = [], [], []
    carried = float(initial_cash)
    for k, (ts, eq) in enumerate(curves):
        scaled = np.asarray(eq, dtype=np.float64) * carried / initial_cash
        ts_parts.append(np.asarray(ts, dtype=np.int64))
        eq_parts.append(scaled)
        win_parts.append(np.full(len(scaled), k, dtype=np.int64))
        if len(scaled):
            carried = float(scaled[-1])
    cat = (lambda parts, dt: np.concatenate(parts) if parts else np.empty(0, dtype=dt))
    return pd.DataFrame({"ts": cat(ts_parts, np.int64), "equity": cat(eq_parts, np.float64),
                         "window": cat(win_parts, np.int64)})


def _stitched_metrics(curve: pd.DataFrame, timeframe: str, initial_cash: float) -> dict[str, float]:
    if curve.empty:
        return dict.fromkeys(STITCHED_METRICS, math.nan)
    tf = timeframe_to_ms(timeframe)
    e = np.concatenate([[initial_cash], curve["equity"].to_numpy()])
    ts = np.concatenate([[int(curve["ts"].iloc[0]) - tf], curve["ts"].to_numpy(dtype=np.int64)])
    r = m.step_returns(e)
    bpy = bars_per_year(timeframe)
    return {
        "total_return": m.total_return(e), "cagr": m.cagr(e, ts), "volatility": m.volatility(r, bpy),
        "sharpe": m.sharpe(r, bpy), "sortino": m.sortino(r, bpy), "max_drawdown": m.max_drawdown(e),
    }


def _ratio(a: float, b: float) -> float:
    return a / b if b != 0 and math.isfinite(a) and math.isfinite(b) else math.nan


def bar_times(data: DataSpec) -> np.ndarray:
    """The distinct bar open times of ``data`` (all its symbols), sorted."""
    from tradeloom.adapters.store.market_store import MarketStore

    table = MarketStore(data.catalog).read_arrow(
        data.exchange, data.timeframe, list(data.symbols) if len(data.symbols) > 1 else data.symbols[0],
        data.start, data.end)
    return np.unique(table.column("ts").to_numpy().astype(np.int64))


def run_walkforward(
    strategy: str | type[Strategy],
    data: DataSpec,
    grid: GridLike,
    *,
    train: str | Span,
    test: str | Span,
    anchored: bool = False,
    metric: str = "sharpe",
    random: int | None = None,
    seed: int = 0,
    executor: Executor | None = None,
    settings: RunSettings | None = None,
    engine: Engine = "auto",
    progress: Progress | None = None,
) -> WalkForwardResult:
    """Walk-forward over ``data`` (see the module docstring).

    ``random``/``seed`` draw combinations as in a sweep, once: every train window
    searches the same draw, so windows differ only by their data.
    """
    metric = check_metric(metric)
    settings = settings or RunSettings()
    train_span = train if isinstance(train, Span) else parse_span(train, "--train")
    test_span = test if isinstance(test, Span) else parse_span(test, "--test")
    ref = strategy_ref(strategy)
    cls = load_strategy(ref)
    combos = prepare_combinations(cls, as_grid(grid), random=random, seed=seed)
    choice = explain_fast_path(cls, engine, data, settings, combos.names, probe=combos.full[0])
    fast = choice.name
    windows = plan_windows(bar_times(data), data.timeframe, train_span, test_span, anchored=anchored)
    n_is = len(windows) * (1 if fast else len(combos.full))
    total = n_is + len(windows)

    def is_progress(done: int, _: int) -> None:
        if progress is not None:
            progress(done, total)

    def oos_progress(done: int, _: int) -> None:
        if progress is not None:
            progress(n_is + done, total)

    own = executor is None
    ex = executor if executor is not None else LocalExecutor()
    try:
        is_results = evaluate(ref, [data.window(w.train_start, w.train_end) for w in windows],
                              combos.full, fast_path=fast, settings=settings, executor=ex,
                              progress=is_progress, blocks=DEFAULT_BLOCKS)
        tables = [results_table(combos.names, combos.params, [r.metrics for r in rows])
                  for rows in is_results]
        picks = [best_index(t, metric) for t in tables]
        overfits = [search_overfit(rows, p, data.timeframe) for rows, p in zip(is_results, picks)]
        jobs = [EventJob(ref, data.window(w.test_start, w.test_end), tuple(combos.full[p].items()),
                         settings, equity=True) for w, p in zip(windows, picks)]
        done = progress_counter(oos_progress, len(jobs))
        oos: list[JobResult] = ex.map(run_event_job, jobs, on_done=done)
    finally:
        if own:
            ex.close()
    curve = stitch([(r.equity_ts, r.equity) for r in oos], settings.initial_cash)
    window_table = _window_table(windows, combos.names, combos.params, tables, picks, oos, metric)
    window_table["is_trials"] = np.array([o.n_trials for o in overfits], dtype=np.int64)
    window_table["is_dsr"] = np.array([o.dsr for o in overfits], dtype=np.float64)
    window_table["is_pbo"] = np.array([o.pbo for o in overfits], dtype=np.float64)
    in_sample = pd.concat(
        [t.assign(window=np.int64(w.index))[["window", *t.columns]] for w, t in zip(windows, tables)],
        ignore_index=True)
    summary = _summary(window_table, curve, metric, data, settings, anchored, train_span, test_span,
                       choice.engine, ref, seed, random)
    summary["engine_reason"] = choice.reason
    summary.update(_overfit_summary(overfits))
    return WalkForwardResult(window_table, curve, in_sample, summary, metric)


def _overfit_summary(overfits: Sequence[OverfitReport]) -> dict[str, Any]:
    """Trials run in sample over all windows, and the windows' mean DSR and PBO."""
    def mean(values: list[float]) -> float | None:
        finite = [v for v in values if math.isfinite(v)]
        return float(np.mean(finite)) if finite else None

    return {"trials": int(sum(o.n_trials for o in overfits)),
            "is_dsr_mean": mean([o.dsr for o in overfits]),
            "is_pbo_mean": mean([o.pbo for o in overfits])}


def _window_table(windows: Sequence[Window], names: Sequence[str], params: Sequence[dict[str, Any]],
                  tables: Sequence[pd.DataFrame], picks: Sequence[int], oos: Sequence[JobResult],
                  metric: str) -> pd.DataFrame:
    rows = []
    for w, t, p, r in zip(windows, tables, picks, oos):
        is_v = float(t[metric].iloc[p])
        oos_v = float(r.metrics[metric])
        row: dict[str, Any] = {
            "window": w.index, "train_start": w.train_start, "train_end": w.train_end,
            "test_start": w.test_start, "test_end": w.test_end, "train_bars": w.train_bars,
            "test_bars": w.test_bars,
        }
        row.update(params[p])
        row.update({f"is_{metric}": is_v, f"oos_{metric}": oos_v, "degradation": oos_v - is_v,
                    "efficiency": _ratio(oos_v, is_v),
                    "oos_total_return": float(r.metrics["total_return"]),
                    "oos_n_trades": float(r.metrics["n_trades"])})
        rows.append(row)
    frame = pd.DataFrame(rows)
    for col in ("window", "train_start", "train_end", "test_start", "test_end", "train_bars", "test_bars"):
        frame[col] = frame[col].astype(np.int64)
    return frame


def _summary(table: pd.DataFrame, curve: pd.DataFrame, metric: str, data: DataSpec,
             settings: RunSettings, anchored: bool, train: Span, test: Span, engine: str,
             ref: str, seed: int, random: int | None) -> dict[str, Any]:
    is_vals = table[f"is_{metric}"].to_numpy(dtype=np.float64)
    oos_vals = table[f"oos_{metric}"].to_numpy(dtype=np.float64)
    is_mean = float(np.nanmean(is_vals)) if np.isfinite(is_vals).any() else math.nan
    oos_mean = float(np.nanmean(oos_vals)) if np.isfinite(oos_vals).any() else math.nan
    stitched = _stitched_metrics(curve, data.timeframe, settings.initial_cash)
    out: dict[str, Any] = {
        "strategy": ref.rpartition("/")[2], "metric": metric, "engine": engine,
        "mode": "anchored" if anchored else "rolling", "train": train.text, "test": test.text,
        "windows": len(table), "exchange": data.exchange, "timeframe": data.timeframe,
        "symbols": list(data.symbols), "start": data.start, "end": data.end,
        "search": "random" if random is not None else "grid", "random": random, "seed": seed,
        f"is_{metric}_mean": is_mean, f"oos_{metric}_mean": oos_mean,
        "degradation_mean": oos_mean - is_mean, "efficiency": _ratio(oos_mean, is_mean),
    }
    out.update({f"oos_stitched_{k}": v for k, v in stitched.items()})
    return {k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in out.items()}

