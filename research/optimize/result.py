"""What ``run_optimize`` returns: the trials table, the best trial or the Pareto front, the
overfitting statistics, and how the study was made.

The trials table has one row per trial in the order they were asked: ``number``,
``state`` (``complete``, ``pruned``, ``failed`` = an objective was undefined on every
fold, ``refused`` = the strategy refused the params), the searched params (typed by the
strategy), one ``value_<objective>`` column per objective (its mean over the folds run),
``folds`` (how many folds ran), every metric as its mean over those folds, and
``reason`` (why a trial failed or was refused).

>>> t = pd.DataFrame({"state": ["complete"] * 3, "value_sharpe": [1.0, 2.0, 0.5],
...                   "value_max_drawdown": [0.1, 0.3, 0.05]})
>>> pareto_mask(t, ("sharpe", "max_drawdown"), ("maximize", "minimize")).tolist()
[True, True, True]
>>> t.loc[2, "value_sharpe"] = 0.9  # now trial 0 is better on both objectives
>>> t.loc[2, "value_max_drawdown"] = 0.2
>>> pareto_mask(t, ("sharpe", "max_drawdown"), ("maximize", "minimize")).tolist()
[True, True, False]
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from tradeloom.engine.errors import ConfigError
from tradeloom.research.sweeps.table import write_parquet_atomic
from tradeloom.research.sweeps.trials import OverfitReport

__all__ = ["OptimizeResult", "best_row", "pareto_mask", "value_column"]


def value_column(objective: str) -> str:
    """The trials-table column of an objective's value."""
    return f"value_{objective}"


def pareto_mask(trials: pd.DataFrame, objectives: Sequence[str], directions: Sequence[str]) -> np.ndarray:
    """Complete trials that no other complete trial beats on every objective at once
    (at least as good everywhere, better somewhere)."""
    complete = (trials["state"] == "complete").to_numpy()
    signs = np.array([1.0 if d == "maximize" else -1.0 for d in directions])
    v = trials[[value_column(o) for o in objectives]].to_numpy(dtype=np.float64) * signs
    mask = np.zeros(len(trials), dtype=bool)
    idx = np.flatnonzero(complete)
    for i in idx:
        others = v[idx]
        dominated = np.any(np.all(others >= v[i], axis=1) & np.any(others > v[i], axis=1))
        mask[i] = not dominated
    return mask


def best_row(trials: pd.DataFrame, objective: str, direction: str) -> int:
    """Position of the best complete trial by ``objective`` (first of ties)."""
    complete = trials[trials["state"] == "complete"]
    if complete.empty:
        raise ConfigError("no trial completed; widen the --space or add --trials")
    order = complete[value_column(objective)].sort_values(ascending=direction == "minimize",
                                                           kind="mergesort")
    return int(trials.index.get_loc(order.index[0]))


@dataclass(frozen=True)
class OptimizeResult:
    """The trials of one study (see the module docstring) and its summary."""

    trials: pd.DataFrame
    objectives: tuple[str, ...]
    directions: tuple[str, ...]
    meta: dict[str, Any]
    overfit: OverfitReport
    engine: str
    engine_reason: str

    @property
    def multi_objective(self) -> bool:
        return len(self.objectives) > 1

    @property
    def pareto(self) -> pd.DataFrame:
        """The Pareto front: complete trials no other beats on every objective, best first
        by the first objective."""
        front = self.trials[pareto_mask(self.trials, self.objectives, self.directions)]
        col = value_column(self.objectives[0])
        return front.sort_values(col, ascending=self.directions[0] == "minimize", kind="mergesort")

    @property
    def best_position(self) -> int:
        """Row of the selected trial: the best complete trial by the first objective (first
        of ties). With several objectives it is the Pareto front's end on that objective."""
        return best_row(self.trials, self.objectives[0], self.directions[0])

    @property
    def best(self) -> pd.Series:
        return self.trials.iloc[self.best_position]

    @property
    def best_params(self) -> dict[str, Any]:
        row = self.best
        return {n: (row[n].item() if hasattr(row[n], "item") else row[n]) for n in self.meta["params"]}

    def to_parquet(self, directory: str | os.PathLike[str]) -> list[Path]:
        """``trials.parquet`` (and ``pareto.parquet`` with several objectives), atomically,
        the study's description in their metadata."""
        root = Path(directory)
        paths = [write_parquet_atomic(self.trials, root / "trials.parquet", self.meta)]
        if self.multi_objective:
            paths.append(write_parquet_atomic(self.pareto, root / "pareto.parquet", self.meta))
        return paths
