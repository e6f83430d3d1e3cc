"""Combinatorial purged cross-validation (CPCV): many backtest paths instead of one.

López de Prado, *Advances in Financial Machine Learning* (2018), ch. 12. Walk-forward
gives one out-of-sample path, so one Sharpe ratio, which says little about how
lucky it was. CPCV cuts the rows (in time order) into ``N`` groups and tests
every combination of ``k`` groups, training on the rest (purged of labels that
overlap a test group, embargoed after each one, as in ``cv.py``):

- ``C(N, k)`` splits; every group is tested in ``C(N-1, k-1)`` of them;
- those test predictions assemble into ``phi = k / N * C(N, k)`` complete
  **paths**: path ``j`` takes, for each group, the ``j``-th split (in split order)
  that tests it. Each path covers every row once, with predictions from models that
  never saw that row's neighbourhood.

With N = 6, k = 2: 15 splits and 5 paths. Scoring (or backtesting) each path
gives a *distribution* of out-of-sample results.

>>> cv = CombinatorialPurgedCV(n_groups=6, n_test_groups=2)
>>> cv.n_splits, cv.n_paths
(15, 5)
>>> cv.combinations()[:3]
[(0, 1), (0, 2), (0, 3)]
>>> cv.path_splits()[0]  # path 0: group g is predicted by this split
[0, 0, 1, 2, 3, 4]
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from tradeloom.engine.errors import ConfigError, DataError

__all__ = ["CPCVResult", "CPCVSplit", "CombinatorialPurgedCV", "assemble_paths",
           "combinatorial_cross_validate"]


@dataclass(frozen=True)
class CPCVSplit:
    """One split: test groups, row positions (sorted), and what purging/embargo removed."""

    k: int
    test_groups: tuple[int, ...]
    train: np.ndarray
    test: np.ndarray
    purged: int
    embargoed: int


@dataclass(frozen=True)
class CombinatorialPurgedCV:
    """``N`` time-ordered groups, every ``k``-combination tested (see the module doc)."""

    n_groups: int = 6
    n_test_groups: int = 2
    embargo_bars: int = 0

    def __post_init__(self) -> None:
        n, k = self.n_groups, self.n_test_groups
        for name, v in (("n_groups", n), ("n_test_groups", k), ("embargo_bars",
                                                                 self.embargo_bars)):
            if isinstance(v, bool) or not isinstance(v, int):
                raise ConfigError(f"CombinatorialPurgedCV: {name} must be an integer, got {v!r}")
        if not 2 <= n <= 20 or not 1 <= k < n:
            raise ConfigError(f"CombinatorialPurgedCV: need 2 <= n_groups <= 20 and "
                              f"1 <= n_test_groups < n_groups, got {n} and {k}")
        if self.embargo_bars < 0:
            raise ConfigError(f"CombinatorialPurgedCV: embargo_bars must be >= 0, got "
                              f"{self.embargo_bars}")

    @property
    def n_splits(self) -> int:
        """``C(N, k)``."""
        return math.comb(self.n_groups, self.n_test_groups)

    @property
    def n_paths(self) -> int:
        """``k / N * C(N, k) = C(N-1, k-1)``."""
        return math.comb(self.n_groups - 1, self.n_test_groups - 1)

    def combinations(self) -> list[tuple[int, ...]]:
        """The test groups of each split, in split order (lexicographic)."""
        return list(itertools.combinations(range(self.n_groups), self.n_test_groups))

    def path_splits(self) -> list[list[int]]:
        """``[path][group] -> split``: path ``j`` uses the ``j``-th split testing each group."""
        by_group: list[list[int]] = [[] for _ in range(self.n_groups)]
        for s, combo in enumerate(self.combinations()):
            for g in combo:
                by_group[g].append(s)
        return [[by_group[g][j] for g in range(self.n_groups)] for j in range(self.n_paths)]

    def groups(self, t0: Any) -> np.ndarray:
        """Group id (0..N-1) of each row: contiguous blocks of distinct ``t0`` (rows sharing
        a ``t0``, e.g. several symbols at one bar, stay in one group)."""
        t = np.asarray(t0, dtype=np.int64)
        uniq = np.unique(t)
        if uniq.size < self.n_groups:
            raise DataError(f"CPCV: {uniq.size} distinct t0 are too few for {self.n_groups} "
                            "groups; use more data or fewer groups")
        cuts = np.linspace(0, uniq.size, self.n_groups + 1).round().astype(np.int64)
        edges = uniq[cuts[1:-1]]  # first t0 of groups 1..N-1
        return np.searchsorted(edges, t, side="right").astype(np.int64)

    def split(self, t0: Any, t1: Any) -> Iterator[CPCVSplit]:
        """Yield each split for samples with label windows [t0[i], t1[i]]."""
        a = np.asarray(t0, dtype=np.int64)
        b = np.asarray(t1, dtype=np.int64)
        if a.shape != b.shape or (b < a).any():
            raise DataError("CPCV: t0 and t1 must have one length and t1 >= t0")
        gid = self.groups(a)
        uniq = np.unique(a)
        for s, combo in enumerate(self.combinations()):
            test_mask = np.isin(gid, combo)
            keep = ~test_mask
            purged = np.zeros(a.size, dtype=bool)
            embargo = np.zeros(a.size, dtype=bool)
            for g in combo:
                rows = gid == g
                start, end = int(a[rows].min()), int(b[rows].max())
                overlap = keep & (a <= end) & (b >= start)
                purged |= overlap
                if self.embargo_bars:
                    i = int(np.searchsorted(uniq, end, side="right")) + self.embargo_bars - 1
                    limit = int(uniq[min(i, uniq.size - 1)])
                    embargo |= keep & ~overlap & (a > end) & (a <= limit)
            train = np.flatnonzero(keep & ~purged & ~embargo)
            if train.size == 0:
                raise DataError(f"CPCV split {s} (test groups {combo}): no training rows left "
                                "after purging and embargo; use fewer test groups")
            yield CPCVSplit(s, tuple(combo), train, np.flatnonzero(test_mask),
                            int(purged.sum()), int((embargo & ~purged).sum()))


@dataclass(frozen=True)
class CPCVResult:
    """Predictions of every path (``paths[j, i]`` for row ``i``), per-path scores, splits."""

    cv: CombinatorialPurgedCV
    paths: np.ndarray
    path_scores: pd.DataFrame
    splits: tuple[CPCVSplit, ...]

    def summary(self) -> pd.DataFrame:
        """Mean, std, min, median and max of each path score across the paths."""
        return self.path_scores.agg(["mean", "std", "min", "median", "max"]).T


Scorer = Callable[[np.ndarray, np.ndarray], Mapping[str, float]]


def assemble_paths(cv: CombinatorialPurgedCV, groups: np.ndarray,
                   split_preds: list[np.ndarray]) -> np.ndarray:
    """``paths[j, i]``: row ``i``'s prediction in path ``j``, from per-split full-length
    prediction arrays (NaN outside each split's test rows) and each row's group."""
    paths = np.full((cv.n_paths, groups.size), np.nan)
    for j, per_group in enumerate(cv.path_splits()):
        for g, s in enumerate(per_group):
            rows = groups == g
            paths[j, rows] = split_preds[s][rows]
    return paths


def combinatorial_cross_validate(cv: CombinatorialPurgedCV, X: Any, y: Any, t0: Any, t1: Any,
                                 fit_predict: Callable[[np.ndarray, np.ndarray], np.ndarray],
                                 score: Scorer,
                                 path_hook: Callable[[int, np.ndarray], Mapping[str, float]]
                                 | None = None) -> CPCVResult:
    """Fit on every split, assemble the paths and score each one.

    ``fit_predict(train_positions, test_positions)`` returns the predictions for
    the test rows (1-D). ``score(y, pred)`` returns a mapping of scores for one
    path; ``path_hook(j, pred)`` may add more (a backtest of path ``j``).
    """
    yy = np.asarray(y)
    n = yy.size
    if not (len(X) == n == np.asarray(t0).size):
        raise DataError(f"CPCV: X, y, t0 differ in length ({len(X)}, {n}, {np.asarray(t0).size})")
    gid = cv.groups(t0)
    splits = tuple(cv.split(t0, t1))
    preds: list[np.ndarray] = []
    for sp in splits:
        p = np.asarray(fit_predict(sp.train, sp.test), dtype=np.float64)
        if p.shape != (sp.test.size,):
            raise DataError(f"CPCV split {sp.k}: fit_predict returned shape {p.shape} for "
                            f"{sp.test.size} test rows")
        full = np.full(n, np.nan)
        full[sp.test] = p
        preds.append(full)
    paths = assemble_paths(cv, gid, preds)
    rows = []
    for j in range(cv.n_paths):
        r = dict(score(yy, paths[j]))
        if path_hook is not None:
            r.update(path_hook(j, paths[j]))
        rows.append({"path": j, **r})
    return CPCVResult(cv, paths, pd.DataFrame(rows).set_index("path"), splits)
