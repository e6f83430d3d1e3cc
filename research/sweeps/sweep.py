"""Parameter sweeps: grid or random search over a strategy's params, on any back end.

``run_sweep(strategy, data, grid)`` enumerates the combinations of a
``ParamGrid`` (or ``random`` of them, drawn with ``seed``), lets the strategy
validate each one (combinations it refuses, such as ``fast >= slow``, are
skipped and counted, not run), runs the rest and returns a ``SweepResult``: a
table with the param columns and every metric per combination, in enumeration
order, plus the best row by ``metric``.

How combinations run (``engine=``):

- ``"fast"``: the strategy has a kernel fast path (``tradeloom.research.sweeps.fastpath``:
  a class attribute ``fast_path = "sma_cross"`` or the registry there), or a
  vectorized form (a ``vectorized(self, bars)`` method, ``tradeloom.engine.vector.form``);
  every combination of a data window runs in a few kernel calls.
- ``"event"``: one event-engine backtest per combination, spread over the
  executor's workers.
- ``"auto"`` (default): the fast path when the strategy has one that supports
  the run, else the event engine. ``SweepResult.engine_reason`` says which ran and
  why (the CLI prints it).

Overfitting: every combination that ran is a trial. The sweep records how many, and
reports the deflated Sharpe ratio of the best row and the probability of backtest
overfitting over all of them (``SweepResult.overfit``, ``meta["overfit"]``; see
``tradeloom.research.sweeps.overfit``). Their inputs come from each run's equity
curve (``trials.TrialStats``): on the event engine from the same runs, on a fast path
from one more kernel run per combination.

Determinism: combination order, the random draw (``numpy.random.default_rng(seed)``)
and every run are deterministic and executors return results in item order, so
the same inputs give byte-identical Parquet files whatever the back end.

Example (after ``tradeloom data load-sample``)::

    from tradeloom.research.sweeps.sweep import run_sweep
    from tradeloom.research.sweeps.jobs import DataSpec
    data = DataSpec("datasets/catalog", "binance", "1h", ("BTC/USDT",), start=1609459200000)
    res = run_sweep("research/strategies/sma_cross.py:SmaCross", data,
                    ["fast=5:50:5", "slow=60:240:20"], metric="sharpe")
    print(res.best_params, res.best[res.metric])
    res.to_parquet("results.parquet")
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import pandas as pd

from tradeloom.engine.errors import ConfigError, StrategyError
from tradeloom.engine.results.result import METRIC_KEYS
from tradeloom.engine.strategy.base import Strategy
from tradeloom.engine.timeframes import bars_per_year
from tradeloom.research.strategy_loader import load_strategy
from tradeloom.research.sweeps.executors import Executor, LocalExecutor
from tradeloom.research.sweeps.fastpath import explain_fast_path
from tradeloom.research.sweeps.grid import ParamGrid
from tradeloom.research.sweeps.jobs import (
    DataSpec,
    EventJob,
    FastJob,
    JobResult,
    RunSettings,
    run_event_job,
    run_fast_job,
    strategy_ref,
)
from tradeloom.research.sweeps.table import (
    best_index,
    check_metric,
    ranked,
    results_table,
    write_parquet_atomic,
)
from tradeloom.research.sweeps.trials import DEFAULT_BLOCKS, OverfitReport, overfit_report

__all__ = [
    "Combinations", "Progress", "SweepResult", "as_grid", "evaluate", "prepare_combinations",
    "progress_counter", "run_sweep", "search_overfit", "sweep_metadata_data",
]

Engine = Literal["auto", "fast", "event"]
Progress = Callable[[int, int], None]
"""Called as ``progress(done, total)`` while runs finish."""

GridLike = ParamGrid | Sequence[str] | Mapping[str, Sequence[Any]]


@dataclass(frozen=True)
class Combinations:
    """The combinations that will run (typed by the strategy) and those it refused."""

    names: tuple[str, ...]
    params: list[dict[str, Any]]
    """The grid's params of each combination (the table's param columns)."""
    full: list[dict[str, Any]]
    """Every param of each combination, defaults included (what the runs get)."""
    skipped: list[tuple[dict[str, str], str]] = field(default_factory=list)


def as_grid(grid: GridLike) -> ParamGrid:
    """A ``ParamGrid`` from specs (``["fast=5:50:5"]``), a mapping of value lists, or itself."""
    if isinstance(grid, ParamGrid):
        return grid
    if isinstance(grid, Mapping):
        return ParamGrid(tuple(grid), tuple(tuple(str(v) for v in vals) for vals in grid.values()))
    if isinstance(grid, str):
        return ParamGrid.parse([grid])
    return ParamGrid.parse(list(grid))


def prepare_combinations(cls: type[Strategy], grid: ParamGrid, *, random: int | None = None,
                         seed: int = 0) -> Combinations:
    """Enumerate (or sample) ``grid`` and type/validate every combination with ``cls``.

    Unknown param names fail at once (with a did-you-mean); combinations the
    strategy's ``validate`` refuses are returned in ``skipped`` with the reason.
    """
    declared = cls.params()
    for name in grid.names:
        if name not in declared:
            cls(**{name: grid.values[grid.names.index(name)][0]})  # raises the did-you-mean error
    raw = grid.sample(random, seed) if random is not None else list(grid)
    params: list[dict[str, Any]] = []
    full: list[dict[str, Any]] = []
    skipped: list[tuple[dict[str, str], str]] = []
    for combo in raw:
        try:
            instance = cls(**combo)
        except StrategyError as exc:
            skipped.append((combo, str(exc)))
            continue
        typed = instance.params_dict()
        params.append({n: typed[n] for n in grid.names})
        full.append(typed)
    if not params:
        reason = skipped[0][1] if skipped else "the grid is empty"
        raise ConfigError(
            f"{cls.__name__}: none of the {len(raw)} combinations is valid (first: {reason}); "
            "fix the --grid ranges"
        )
    return Combinations(grid.names, params, full, skipped)


def evaluate(
    strategy: str,
    windows: Sequence[DataSpec],
    params: Sequence[Mapping[str, Any]],
    *,
    fast_path: str | None,
    settings: RunSettings,
    executor: Executor,
    progress: Progress | None = None,
    blocks: int = 0,
) -> list[list[JobResult]]:
    """Every combination's result on every window: ``out[window][combination]``.

    The fast path makes one job per window (one kernel call each); the event
    engine one job per (window, combination). All jobs go to the executor at once.
    ``blocks`` > 0 asks each result for its ``TrialStats`` (the overfitting statistics).
    """
    keyed = [tuple(p.items()) for p in params]
    if fast_path is not None:
        fjobs = [FastJob(fast_path, w, tuple(keyed), settings, strategy, blocks) for w in windows]
        total = len(fjobs)
        done = progress_counter(progress, total)
        return executor.map(run_fast_job, fjobs, on_done=done)
    ejobs = [EventJob(strategy, w, p, settings, blocks=blocks) for w in windows for p in keyed]
    done = progress_counter(progress, len(ejobs))
    flat: list[JobResult] = executor.map(run_event_job, ejobs, on_done=done)
    n = len(keyed)
    return [flat[i * n:(i + 1) * n] for i in range(len(windows))]


def progress_counter(progress: Progress | None, total: int) -> Callable[[int], None] | None:
    """An executor ``on_done`` that reports ``progress(done, total)`` (and 0 at once)."""
    if progress is None:
        return None
    state = {"done": 0}
    progress(0, total)

    def on_done(_: int) -> None:
        state["done"] += 1
        progress(state["done"], total)

    return on_done


@dataclass(frozen=True)
class SweepResult:
    """The table of a sweep (params + every metric per combination) and how it was made."""

    table: pd.DataFrame
    metric: str
    engine: str
    meta: dict[str, Any]
    skipped: list[tuple[dict[str, str], str]] = field(default_factory=list)
    engine_reason: str = ""
    """Why ``engine`` ran: the fast path's name, or why the event engine did."""
    overfit: OverfitReport | None = None
    """The search's number of trials, deflated Sharpe ratio and PBO (``trials``)."""

    @property
    def best_position(self) -> int:
        """Row position of the best combination (NaN last, first of ties)."""
        return best_index(self.table, self.metric)

    @property
    def best(self) -> pd.Series:
        """The best row by ``metric``."""
        return self.table.iloc[self.best_position]

    @property
    def best_params(self) -> dict[str, Any]:
        """The params of the best row, as plain Python values."""
        pos = self.best_position
        return {n: _plain(self.table[n].iloc[pos]) for n in self.meta["params"]}

    def ranked(self) -> pd.DataFrame:
        """The table best first."""
        return ranked(self.table, self.metric)

    def to_parquet(self, path: str | os.PathLike[str]) -> Path:
        """Write the table atomically; the sweep description goes into the file's metadata."""
        return write_parquet_atomic(self.table, path, self.meta)


def _plain(value: Any) -> Any:
    return value.item() if hasattr(value, "item") else value


def run_sweep(
    strategy: str | type[Strategy],
    data: DataSpec,
    grid: GridLike,
    *,
    random: int | None = None,
    seed: int = 0,
    metric: str = "sharpe",
    executor: Executor | None = None,
    settings: RunSettings | None = None,
    engine: Engine = "auto",
    progress: Progress | None = None,
) -> SweepResult:
    """Run a grid (or ``random`` samples of it) and rank the results by ``metric``.

    ``executor`` defaults to a ``LocalExecutor()`` that is closed afterwards; pass
    your own to reuse its workers. See the module docstring for ``engine``.
    """
    metric = check_metric(metric)
    settings = settings or RunSettings()
    ref = strategy_ref(strategy)
    cls = load_strategy(ref)
    param_grid = as_grid(grid)
    combos = prepare_combinations(cls, param_grid, random=random, seed=seed)
    choice = explain_fast_path(cls, engine, data, settings, combos.names, probe=combos.full[0])
    own = executor is None
    ex = executor if executor is not None else LocalExecutor()
    try:
        results = evaluate(ref, [data], combos.full, fast_path=choice.name, settings=settings,
                           executor=ex, progress=progress, blocks=DEFAULT_BLOCKS)[0]
    finally:
        if own:
            ex.close()
    table = results_table(combos.names, combos.params, [r.metrics for r in results])
    meta = sweep_metadata(ref, cls, data, param_grid, combos, random=random, seed=seed,
                          metric=metric, engine=choice.engine, settings=settings)
    meta["engine_reason"] = choice.reason
    report = search_overfit(results, best_index(table, metric), data.timeframe)
    meta["overfit"] = report.as_dict()
    return SweepResult(table, metric, choice.engine, meta, combos.skipped, choice.reason, report)


def search_overfit(results: Sequence[JobResult], best: int, timeframe: str) -> OverfitReport:
    """The overfitting statistics of a search whose trials gave ``results`` (with stats),
    ``best`` being the selected one."""
    stats = [r.stats for r in results if r.stats is not None]
    if len(stats) != len(results):
        raise ConfigError("every trial needs its TrialStats for the overfitting statistics")
    return overfit_report(stats, best, bars_per_year(timeframe))


def _portable_ref(ref: str, cls: type[Strategy]) -> str:
    """``ref`` without directories (a file ref names the file only, so paths do not leak in)."""
    target = ref.rpartition(":")[0] if ":" in ref else ref
    if target.endswith(".py") or "/" in target or "\\" in target:
        return f"{Path(target).name}:{cls.__qualname__}"
    return ref


def sweep_metadata(ref: str, cls: type[Strategy], data: DataSpec, grid: ParamGrid,
                   combos: Combinations, *, random: int | None, seed: int, metric: str,
                   engine: str, settings: RunSettings) -> dict[str, Any]:
    """What made a table: everything that decides its bytes, nothing that does not.

    The catalog path and the executor are left out on purpose (moving a catalog
    or switching back ends does not change the results); the data fingerprint
    identifies the bars instead.
    """
    meta = {
        "strategy": _portable_ref(ref, cls),
        "params": list(combos.names),
        "grid": grid.specs(),
        "search": "random" if random is not None else "grid",
        "random": random,
        "seed": seed,
        "metric": metric,
        "engine": engine,
        "combinations": len(combos.params),
        "skipped": len(combos.skipped),
    }
    meta.update(sweep_metadata_data(ref, cls, data, settings))
    return meta


def sweep_metadata_data(ref: str, cls: type[Strategy], data: DataSpec,
                        settings: RunSettings) -> dict[str, Any]:
    """The part of a search's description that names the strategy, the bars and the account."""
    from tradeloom.adapters.store.market_store import MarketStore

    fingerprint = MarketStore(data.catalog).fingerprint(
        data.exchange, data.timeframe, list(data.symbols), data.start, data.end)
    return {
        "strategy": _portable_ref(ref, cls),
        "exchange": data.exchange,
        "timeframe": data.timeframe,
        "symbols": list(data.symbols),
        "start": data.start,
        "end": data.end,
        "data_fingerprint": fingerprint,
        "initial_cash": settings.initial_cash,
        "run_seed": settings.seed,
        "market_rules": settings.market_rules,
        "metrics": list(METRIC_KEYS),
    }
