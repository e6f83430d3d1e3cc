"""``run_optimize``: search a strategy's parameters with optuna, on any executor.

Beyond the sweep's grid and random search: a sampler that learns where good params are
(TPE, optuna's default; ``random`` for a seeded baseline), several objectives at once
(e.g. Sharpe up and max drawdown down: the result is a Pareto front), and pruning of
hopeless trials on walk-forward folds.

**Folds and pruning.** With ``folds=K`` the data range is cut into K consecutive windows
of equal bar count; a trial runs its params on each window in time order (each starting
flat with the initial cash), and its objective is the mean over the folds (folds where
the metric is undefined, such as a Sharpe without trades, left out). After each fold the
worker reports the running mean to the study's storage and optuna's ``MedianPruner``
stops the trial when it is below the median of the finished trials at that fold (single
objective only; optuna does not prune multi-objective studies).

**Reproducible and distributed.** The driver asks the sampler for ``batch`` trials at a
time, sends them to the executor (a local process pool or a Dask cluster, as for
sweeps), and tells the results in trial order when the whole batch is back. So the
sampler's history, and the pruner's, never depend on which worker finished first: the
same seed and batch give the same trials table on any back end. The study lives in an
optuna storage the workers share (a journal file by default, or an RDB URL such as
``sqlite:///study.db``); workers report their folds' values there.

**Engines.** Trials run on a kernel fast path when the strategy has one (a named kernel
or a vectorized form) and on the event engine otherwise, chosen as in a sweep
(``engine=auto|fast|event``; ``OptimizeResult.engine_reason`` says why).

**Overfitting.** Every trial that ran is counted; the result reports the deflated Sharpe
ratio of the selected trial (deflated by all trials, pruned ones included) and the
probability of backtest overfitting by CSCV over the trials that ran every fold.

Optuna is the optional ``tradeloom[optimize]`` extra.

Example (after ``tradeloom data load-sample``)::

    from tradeloom.research.optimize.study import run_optimize
    from tradeloom.research.sweeps.jobs import DataSpec
    data = DataSpec("datasets/catalog", "binance", "1h", ("BTC/USDT",))
    res = run_optimize("research/strategies/sma_cross.py:SmaCross", data,
                       ["fast=5:50", "slow=60:240"], trials=40, seed=1, folds=3)
    print(res.best_params, res.overfit.text())
"""

from __future__ import annotations

import math
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from tradeloom.engine.errors import ConfigError, StrategyError
from tradeloom.engine.results.result import METRIC_KEYS
from tradeloom.engine.strategy.base import Strategy
from tradeloom.engine.timeframes import bars_per_year
from tradeloom.research.optimize.result import OptimizeResult, best_row, value_column
from tradeloom.research.optimize.space import Space
from tradeloom.research.optimize.trial_job import (
    PruneSpec,
    TrialJob,
    TrialOutcome,
    fold_value,
    open_storage,
    run_trial_job,
)
from tradeloom.research.strategy_loader import load_strategy
from tradeloom.research.sweeps.executors import Executor, LocalExecutor
from tradeloom.research.sweeps.fastpath import explain_fast_path
from tradeloom.research.sweeps.jobs import DataSpec, RunSettings, strategy_ref
from tradeloom.research.sweeps.sweep import Progress, sweep_metadata_data
from tradeloom.research.sweeps.table import LOWER_IS_BETTER, check_metric, results_table
from tradeloom.research.sweeps.trials import DEFAULT_BLOCKS, OverfitReport, overfit_report
from tradeloom.research.sweeps.walkforward import bar_times

__all__ = ["OPTIMIZE_INSTALL_HINT", "SAMPLERS", "run_optimize"]

OPTIMIZE_INSTALL_HINT = "pip install 'tradeloom[optimize]'"
SAMPLERS = ("tpe", "random")
DEFAULT_STUDY = "tradeloom"


def _optuna() -> Any:
    try:
        import optuna
    except ImportError as exc:
        raise ConfigError(f"tradeloom optimize needs optuna, which is not installed; run "
                          f"{OPTIMIZE_INSTALL_HINT} (or use tradeloom sweep --random)") from exc
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    return optuna


def _sampler(optuna: Any, name: str, seed: int) -> Any:
    if name == "tpe":
        return optuna.samplers.TPESampler(seed=seed)
    if name == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    raise ConfigError(f"--sampler {name!r}: use one of {', '.join(SAMPLERS)}")


def fold_windows(data: DataSpec, folds: int) -> tuple[DataSpec, ...]:
    """``data`` cut into ``folds`` consecutive windows of (almost) equal bar count."""
    if not isinstance(folds, int) or folds < 1:
        raise ConfigError(f"--folds {folds!r}: use a whole number >= 1")
    if folds == 1:
        return (data,)
    ts = bar_times(data)
    if ts.size < 2 * folds:
        raise ConfigError(f"--folds {folds}: the data has {ts.size} bars, too few for {folds} folds")
    starts = [int(part[0]) for part in np.array_split(ts, folds)]
    ends = starts[1:] + [data.end]
    return tuple(data.window(s if k else data.start, e) for k, (s, e) in enumerate(zip(starts, ends)))


@dataclass
class _Record:
    """What the driver keeps of one trial."""

    number: int
    params: dict[str, Any]
    typed: dict[str, Any] = field(default_factory=dict)
    state: str = "refused"
    outcome: TrialOutcome | None = None
    reason: str = ""


def _check_names(cls: type[Strategy], space: Space) -> None:
    declared = cls.params()
    for d in space.dims:
        if d.name not in declared:
            value = d.choices[0] if d.choices else d.low
            cls(**{d.name: value})  # raises the did-you-mean error


def _storage(storage: str | None, workdir: Path) -> str:
    if storage is None:
        return str(workdir / "study.journal")
    return storage


def run_optimize(
    strategy: str | type[Strategy],
    data: DataSpec,
    space: Space | Sequence[str],
    *,
    trials: int = 50,
    objectives: Sequence[str] = ("sharpe",),
    sampler: str = "tpe",
    seed: int = 0,
    folds: int = 1,
    prune: bool = True,
    prune_startup: int = 5,
    batch: int = 4,
    engine: str = "auto",
    executor: Executor | None = None,
    settings: RunSettings | None = None,
    storage: str | None = None,
    study_name: str = DEFAULT_STUDY,
    progress: Progress | None = None,
) -> OptimizeResult:
    """Search ``space`` with ``trials`` trials (see the module docstring).

    ``storage``: a journal file path or an RDB URL for the study (default: a journal file
    in a temporary directory, removed afterwards); a study of that name must not exist in
    it yet. ``executor`` defaults to a ``LocalExecutor()`` closed afterwards.
    """
    optuna = _optuna()
    space = space if isinstance(space, Space) else Space.parse(space)
    if not isinstance(trials, int) or trials < 1:
        raise ConfigError(f"--trials {trials!r}: use a whole number >= 1")
    if not isinstance(batch, int) or batch < 1:
        raise ConfigError(f"--batch {batch!r}: use a whole number >= 1")
    objectives = tuple(check_metric(o) for o in objectives)
    if not objectives or len(set(objectives)) != len(objectives):
        raise ConfigError(f"--objective: give one or more distinct metrics, got {list(objectives)}")
    directions = tuple("minimize" if o in LOWER_IS_BETTER else "maximize" for o in objectives)
    settings = settings or RunSettings()
    ref = strategy_ref(strategy)
    cls = load_strategy(ref)
    _check_names(cls, space)
    choice = explain_fast_path(cls, engine, data, settings, space.names)
    windows = fold_windows(data, folds)
    pruning = prune and folds > 1 and len(objectives) == 1
    with tempfile.TemporaryDirectory(prefix="tradeloom-optimize-") as tmp:
        url = _storage(storage, Path(tmp))
        store = open_storage(url)
        if study_name in {s.study_name for s in optuna.get_all_study_summaries(store)}:
            raise ConfigError(f"study {study_name!r} already exists in {url}; give another --study "
                              "name or a new --storage (a study is not resumed, so that a seed "
                              "always gives the same trials)")
        study = optuna.create_study(
            storage=store, sampler=_sampler(optuna, sampler, seed), study_name=study_name,
            directions=list(directions),
            pruner=optuna.pruners.MedianPruner(n_startup_trials=prune_startup) if pruning else None)
        prune_spec = PruneSpec(study_name, url, prune_startup) if pruning else None
        own = executor is None
        ex = executor if executor is not None else LocalExecutor()
        try:
            records = _drive(optuna, study, space, cls, ref, windows, settings, choice.name,
                             objectives, prune_spec, trials, batch, ex, progress)
        finally:
            if own:
                ex.close()
    table = _trials_table(records, space, objectives)
    meta = _metadata(ref, cls, data, space, settings, objectives, directions, sampler, seed, folds,
                     pruning, batch, trials, choice.engine, choice.reason, study_name)
    report = _overfit(records, table, objectives[0], directions[0], data.timeframe)
    meta["overfit"] = report.as_dict()
    return OptimizeResult(table, objectives, directions, meta, report, choice.engine, choice.reason)


def _drive(optuna: Any, study: Any, space: Space, cls: type[Strategy], ref: str,
           windows: tuple[DataSpec, ...], settings: RunSettings, fast_path: str | None,
           objectives: tuple[str, ...], prune: PruneSpec | None, trials: int, batch: int,
           ex: Executor, progress: Progress | None) -> list[_Record]:
    """Ask, run and tell ``trials`` trials, ``batch`` at a time (see the module docstring)."""
    dists = space.distributions()
    fixed = space.fixed()
    states = optuna.trial.TrialState
    records: list[_Record] = []
    state = {"done": 0}
    if progress is not None:
        progress(0, trials)

    def tick(_: int = 0) -> None:
        state["done"] += 1
        if progress is not None:
            progress(state["done"], trials)

    while len(records) < trials:
        asked, jobs = [], []
        for _ in range(min(batch, trials - len(records))):
            trial = study.ask(dists)
            rec = _Record(trial.number, {**trial.params, **fixed})
            records.append(rec)
            try:
                rec.typed = cls(**rec.params).params_dict()
            except StrategyError as exc:
                rec.reason = str(exc)
                study.tell(trial, state=states.FAIL)
                tick()
                continue
            asked.append((trial, rec))
            # the storage's id of the trial: how a worker reopens it to report its folds
            jobs.append(TrialJob(trial.number, trial._trial_id, ref, tuple(rec.typed.items()), windows,
                                 settings, fast_path, objectives[0], prune, DEFAULT_BLOCKS))
        outcomes = ex.map(run_trial_job, jobs, on_done=tick)
        for (trial, rec), outcome in zip(asked, outcomes):
            rec.outcome = outcome
            if outcome.pruned:
                rec.state = "pruned"
                study.tell(trial, state=states.PRUNED)
                continue
            values = [fold_value(outcome.fold_metrics, o) for o in objectives]
            if any(math.isnan(v) for v in values):
                rec.state = "failed"
                rec.reason = (f"{', '.join(o for o, v in zip(objectives, values) if math.isnan(v))} "
                              "undefined on every fold (e.g. no trades)")
                study.tell(trial, state=states.FAIL)
            else:
                rec.state = "complete"
                study.tell(trial, values[0] if len(values) == 1 else values)
    return records


def _trials_table(records: Sequence[_Record], space: Space, objectives: tuple[str, ...]) -> pd.DataFrame:
    names = list(space.names)
    params = [{n: (r.typed or r.params).get(n) for n in names} for r in records]
    metrics = []
    for r in records:
        folds = r.outcome.fold_metrics if r.outcome is not None else ()
        metrics.append({k: fold_value(folds, k) for k in METRIC_KEYS} if folds else {})
    table = results_table(names, params, metrics)
    table.insert(0, "state", pd.array([r.state for r in records], dtype="str"))
    table.insert(0, "number", np.array([r.number for r in records], dtype=np.int64))
    pos = 2 + len(names)
    for k, o in enumerate(objectives):
        table.insert(pos + k, value_column(o), np.array(
            [fold_value(r.outcome.fold_metrics, o) if r.outcome is not None else math.nan
             for r in records], dtype=np.float64))
    table.insert(pos + len(objectives), "folds", np.array(
        [len(r.outcome.fold_metrics) if r.outcome is not None else 0 for r in records], dtype=np.int64))
    table["reason"] = pd.array([r.reason for r in records], dtype="str")
    return table


def _overfit(records: Sequence[_Record], table: pd.DataFrame, objective: str, direction: str,
             timeframe: str) -> OverfitReport:
    """DSR of the selected trial deflated by every trial that ran (pruned ones too); PBO
    over the trials that ran every fold."""
    ran = [r for r in records if r.outcome is not None]
    with_stats = [r for r in ran if r.outcome is not None and r.outcome.stats is not None]
    stats = [r.outcome.stats for r in with_stats if r.outcome is not None and r.outcome.stats is not None]
    if not (table["state"] == "complete").any():
        return overfit_report([], 0, bars_per_year(timeframe), n_trials=len(ran))
    best_number = int(table["number"].iloc[best_row(table, objective, direction)])
    best = next(k for k, r in enumerate(with_stats) if r.number == best_number)
    return overfit_report(stats, best, bars_per_year(timeframe), n_trials=len(ran))


def _metadata(ref: str, cls: type[Strategy], data: DataSpec, space: Space, settings: RunSettings,
              objectives: tuple[str, ...], directions: tuple[str, ...], sampler: str, seed: int,
              folds: int, pruning: bool, batch: int, trials: int, engine: str, reason: str,
              study_name: str) -> dict[str, Any]:
    """Everything that decides the trials table's bytes (not where it ran or was stored)."""
    meta = sweep_metadata_data(ref, cls, data, settings)
    meta.update({
        "search": "optimize", "params": list(space.names), "space": space.specs(),
        "objectives": list(objectives), "directions": list(directions), "sampler": sampler,
        "seed": seed, "folds": folds, "pruning": pruning, "batch": batch, "trials": trials,
        "engine": engine, "engine_reason": reason, "study": study_name,
    })
    return meta
