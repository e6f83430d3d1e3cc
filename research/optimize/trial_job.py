"""One optimize trial as a unit of work for an executor (a process of the local pool or a
Dask worker): run the params on each walk-forward fold in time order, and stop early when
the study's pruner says so.

The job is small and picklable (the strategy by reference, each fold as a ``DataSpec``,
the params). A worker reads its bars from the store itself, runs the fold (through the
event engine, or a kernel fast path) and, when the study prunes, reports the objective's
running mean after each fold to the study's storage, which every worker shares (an optuna
journal file, or an RDB URL): ``trial.report(value, fold)`` then ``trial.should_prune()``.
The pruner compares with the trials already finished, which the driver only tells
between batches, so a decision never depends on which worker was faster.

A trial that runs to the end returns its ``TrialStats`` over all its folds' returns
(the overfitting statistics' inputs; each fold starts flat with the initial cash).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from tradeloom.engine.results import metrics as m
from tradeloom.engine.results.result import METRIC_KEYS
from tradeloom.research.sweeps.jobs import DataSpec, EventJob, RunSettings, run_event_job
from tradeloom.research.sweeps.trials import TrialStats, trial_stats_from_returns

__all__ = ["PruneSpec", "TrialJob", "TrialOutcome", "fold_value", "open_storage", "run_trial_job"]


@dataclass(frozen=True)
class PruneSpec:
    """Where the study lives and how it prunes (``optuna.pruners.MedianPruner``)."""

    study_name: str
    storage: str
    """A journal file path, or an RDB URL (``sqlite:///study.db``)."""
    n_startup_trials: int = 5
    n_warmup_steps: int = 0


@dataclass(frozen=True)
class TrialJob:
    """One trial: typed params, the folds in time order, how to run them."""

    number: int
    trial_id: int
    strategy: str
    params: tuple[tuple[str, Any], ...]
    folds: tuple[DataSpec, ...]
    settings: RunSettings
    fast_path: str | None
    objective: str
    """The objective whose running mean is reported for pruning (the first one)."""
    prune: PruneSpec | None = None
    blocks: int = 0


@dataclass(frozen=True, eq=False)
class TrialOutcome:
    """The metrics of each fold run (all of them, or up to the pruning) and the stats."""

    number: int
    fold_metrics: tuple[dict[str, float], ...]
    pruned: bool
    stats: TrialStats | None


def fold_value(fold_metrics: Sequence[dict[str, float]], key: str) -> float:
    """The mean of ``key`` over the folds where it is defined (NaN when it is nowhere:
    a fold without trades has no Sharpe, and should not sink the trial's other folds).

    >>> fold_value([{"sharpe": 1.0}, {"sharpe": float("nan")}, {"sharpe": 2.0}], "sharpe")
    1.5
    """
    values = [v for v in (f[key] for f in fold_metrics) if not math.isnan(v)]
    return float(np.mean(values)) if values else math.nan


def open_storage(storage: str) -> Any:
    """The optuna storage a ``PruneSpec.storage`` names (journal file unless it is a URL)."""
    if "://" in storage:
        return storage
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend

    return JournalStorage(JournalFileBackend(storage))


def _run_fold(job: TrialJob, fold: DataSpec) -> tuple[dict[str, float], np.ndarray]:
    params = dict(job.params)
    if job.fast_path is None:
        res = run_event_job(EventJob(job.strategy, fold, job.params, job.settings, equity=True))
        return res.metrics, np.asarray(res.equity, dtype=np.float64)
    from tradeloom.research.sweeps.fastpath import get_fast_path
    from tradeloom.research.sweeps.vectorized import VECTORIZED, run_vectorized_combos_with_curves

    if job.fast_path == VECTORIZED:
        rows, curves = run_vectorized_combos_with_curves(job.strategy, fold, [params], job.settings)
        row, curve = rows[0], curves[0]
    else:
        fp = get_fast_path(job.fast_path)
        row = fp.run(fold, [params], job.settings)[0]
        curve = fp.curves(fold, [params], job.settings)[0]
    return {k: float(row[k]) for k in METRIC_KEYS}, np.asarray(curve, dtype=np.float64)


def _trial(job: TrialJob) -> Any:
    if job.prune is None:
        return None
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    p = job.prune
    pruner = optuna.pruners.MedianPruner(n_startup_trials=p.n_startup_trials,
                                         n_warmup_steps=p.n_warmup_steps)
    study = optuna.load_study(study_name=p.study_name, storage=open_storage(p.storage), pruner=pruner)
    return optuna.trial.Trial(study, job.trial_id)


def run_trial_job(job: TrialJob) -> TrialOutcome:
    """Run ``job``'s folds in order (see the module docstring)."""
    trial = _trial(job)
    done: list[dict[str, float]] = []
    returns: list[np.ndarray] = []
    cash = float(job.settings.initial_cash)
    for k, fold in enumerate(job.folds):
        metrics, equity = _run_fold(job, fold)
        done.append(metrics)
        returns.append(m.step_returns(np.concatenate([[cash], equity])))
        if trial is not None:
            value = fold_value(done, job.objective)
            if not math.isnan(value):
                trial.report(value, k)
            if k < len(job.folds) - 1 and trial.should_prune():
                return TrialOutcome(job.number, tuple(done), True, None)
    stats = (trial_stats_from_returns(np.concatenate(returns), n_blocks=job.blocks)
             if job.blocks > 0 else None)
    return TrialOutcome(job.number, tuple(done), False, stats)
