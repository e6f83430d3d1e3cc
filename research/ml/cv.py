"""Purged walk-forward cross-validation with an embargo, and per-fold scoring.

A sample is a bar with a label window [t0, t1]: ``t0`` the bar's ts, ``t1`` the
time its label becomes known (``labels.py``). Financial labels overlap in time,
so an ordinary split leaks: a training label that ends inside the test window has
seen test-period prices. :class:`PurgedWalkForward` therefore

- orders samples by t0 and cuts the test region into ``n_splits`` contiguous
  blocks (never splitting samples that share a t0, e.g. several symbols);
- trains on samples before the block: all of them (``mode='anchored'``) or the
  last ``train_size`` (``'rolling'``); ``mode='kfold'`` is purged k-fold and also
  trains on samples after the block;
- **purges** every training sample whose [t0, t1] overlaps the test window
  [first test t0, last test t1] (closed intervals: touching counts);
- **embargoes** the training samples whose t0 falls within ``embargo_ms`` (or the
  next ``embargo_bars`` distinct t0 values) after the test window's end, because
  features computed from bars just after the test window are serially
  correlated with it. In the walk-forward modes no training sample follows its
  test window, so the embargo only removes anything in ``mode='kfold'``.

``cross_validate`` fits a caller's ``fit_predict`` per fold and scores out-of-fold
predictions (AUC, log loss, Brier, accuracy, hit rate; or RMSE/IC for
regression) per fold and overall. ``CVResult.fold_backtest(fn)`` runs a
caller's backtest of the model-driven strategy on each test fold.

>>> import numpy as np
>>> t0 = np.arange(10) * 10
>>> cv = PurgedWalkForward(n_splits=2, train_min=4)
>>> [(f.train.tolist(), f.test.tolist()) for f in cv.split(t0, t0 + 15)]
[([0, 1, 2], [4, 5, 6]), ([0, 1, 2, 3, 4, 5], [7, 8, 9])]
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from sklearn import metrics

from tradeloom.engine.errors import ConfigError, DataError

__all__ = [
    "CVResult", "Fold", "FoldResult", "PurgedWalkForward", "classification_scores",
    "cross_validate", "regression_scores",
]

MODES = ("anchored", "rolling", "kfold")
TASKS = ("binary", "multiclass", "regression")
EPS = 1e-15


@dataclass(frozen=True)
class Fold:
    """One split: positions into the caller's arrays (sorted ascending).

    ``test_start`` / ``test_end`` bound the test window (first test t0, last
    test t1); ``purged`` and ``embargoed`` count the training candidates removed.
    """

    k: int
    train: np.ndarray
    test: np.ndarray
    test_start: int
    test_end: int
    purged: int
    embargoed: int


def _as_times(name: str, values: Any) -> np.ndarray:
    arr = np.asarray(values)
    if arr.ndim != 1 or arr.dtype.kind not in "iu":
        raise DataError(f"{name} must be a 1-D integer array of UTC ms, got dtype {arr.dtype} "
                        f"shape {arr.shape}")
    return arr.astype(np.int64)


@dataclass(frozen=True)
class PurgedWalkForward:
    """Walk-forward (or k-fold) splits with purging and an embargo; see the module doc.

    ``train_min``: samples before the first test block (walk-forward; default
    ``N // (n_splits + 1)``). ``train_size``: rolling window length in samples
    (default ``train_min``). Give at most one of ``embargo_bars`` / ``embargo_ms``.
    """

    n_splits: int = 5
    train_min: int | None = None
    embargo_bars: int = 0
    embargo_ms: int | None = None
    mode: str = "anchored"
    train_size: int | None = None

    def __post_init__(self) -> None:
        if isinstance(self.n_splits, bool) or not isinstance(self.n_splits, int) \
                or self.n_splits < (2 if self.mode == "kfold" else 1):
            raise ConfigError(f"PurgedWalkForward: n_splits must be an integer >= 1 (>= 2 for "
                              f"kfold), got {self.n_splits!r}")
        if self.mode not in MODES:
            raise ConfigError(f"PurgedWalkForward: mode must be one of {MODES}, got {self.mode!r}")
        for name in ("train_min", "train_size", "embargo_ms"):
            v = getattr(self, name)
            if v is not None and (isinstance(v, bool) or not isinstance(v, int) or v < 1):
                raise ConfigError(f"PurgedWalkForward: {name} must be a positive integer or "
                                  f"None, got {v!r}")
        if isinstance(self.embargo_bars, bool) or not isinstance(self.embargo_bars, int) \
                or self.embargo_bars < 0:
            raise ConfigError(f"PurgedWalkForward: embargo_bars must be an integer >= 0, got "
                              f"{self.embargo_bars!r}")
        if self.embargo_bars and self.embargo_ms is not None:
            raise ConfigError("PurgedWalkForward: give embargo_bars or embargo_ms, not both")

    def split(self, t0: Any, t1: Any) -> Iterator[Fold]:
        """Yield the folds for samples with label windows [t0[i], t1[i]]."""
        t0 = _as_times("t0", t0)
        t1 = _as_times("t1", t1)
        if t0.shape != t1.shape:
            raise DataError(f"t0 and t1 differ in length ({t0.size} vs {t1.size})")
        if (t1 < t0).any():
            i = int(np.flatnonzero(t1 < t0)[0])
            raise DataError(f"sample {i}: label end t1={t1[i]} is before its start t0={t0[i]}")
        order = np.argsort(t0, kind="stable")
        st0 = t0[order]
        uniq = np.unique(st0)
        for k, (a, b) in enumerate(self._blocks(st0)):
            yield self._fold(k, order, a, b, t0, t1, uniq)

    def as_sklearn(self, t0: Any, t1: Any) -> list[tuple[np.ndarray, np.ndarray]]:
        """(train, test) pairs, usable as ``cv=`` in scikit-learn's search and scoring."""
        return [(f.train, f.test) for f in self.split(t0, t1)]

    def _blocks(self, st0: np.ndarray) -> list[tuple[int, int]]:
        n = st0.size
        starts = np.flatnonzero(np.r_[True, st0[1:] != st0[:-1]])  # group starts

        def snap(p: int) -> int:  # first group start >= p
            i = np.searchsorted(starts, p, side="left")
            return int(starts[i]) if i < starts.size else n

        if self.mode == "kfold":
            first = 0
        else:
            tm = self.train_min if self.train_min is not None else n // (self.n_splits + 1)
            first = snap(max(tm, 1))
        cuts = [snap(round(x)) for x in np.linspace(first, n, self.n_splits + 1)]
        cuts[0], cuts[-1] = first, n
        blocks = list(itertools.pairwise(cuts))
        if any(b <= a for a, b in blocks):
            raise DataError(
                f"PurgedWalkForward: {n} samples ({starts.size} distinct t0) are too few for "
                f"{self.n_splits} test blocks after {first} training samples; lower n_splits or "
                "train_min, or use more data"
            )
        return blocks

    def _fold(self, k: int, order: np.ndarray, a: int, b: int, t0: np.ndarray,
              t1: np.ndarray, uniq: np.ndarray) -> Fold:
        test = np.sort(order[a:b])
        start = int(t0[test].min())
        end = int(t1[test].max())
        if self.mode == "anchored":
            cand = order[:a]
        elif self.mode == "rolling":
            size = self.train_size or self.train_min or a
            cand = order[max(0, a - size):a]
        else:
            cand = np.concatenate([order[:a], order[b:]])
        overlap = (t0[cand] <= end) & (t1[cand] >= start)
        if self.embargo_ms is not None:
            limit = end + self.embargo_ms
        elif self.embargo_bars:
            i = int(np.searchsorted(uniq, end, side="right")) + self.embargo_bars - 1
            limit = int(uniq[i]) if i < uniq.size else int(uniq[-1])
        else:
            limit = end
        embargo = ~overlap & (t0[cand] > end) & (t0[cand] <= limit)
        train = np.sort(cand[~overlap & ~embargo])
        if train.size == 0:
            raise DataError(
                f"fold {k}: no training samples left after purging {int(overlap.sum())} and "
                f"embargoing {int(embargo.sum())}; raise train_min, shorten the label horizon "
                "or the embargo"
            )
        return Fold(k, train, test, start, end, int(overlap.sum()), int(embargo.sum()))


# ------------------------------------------------------------------- scores


def classification_scores(y_true: Any, proba: Any, *, threshold: float = 0.5,
                          classes: Any = None) -> dict[str, float]:
    """AUC, log loss, Brier, accuracy, hit rate (+ n, base rate) of probabilistic predictions.

    Binary: ``proba`` is P(y=1), 1-D; ``hit_rate`` is the share of long calls
    (proba >= threshold) that were right (NaN with no calls). Multiclass: ``proba``
    is (n, k) over sorted ``classes`` (default: sorted labels of ``y_true``); AUC is
    one-vs-rest macro; ``hit_rate`` is the share of non-zero-class calls that were
    right. AUC is NaN when ``y_true`` holds a single class.

    >>> s = classification_scores([0, 1, 1, 0], [0.2, 0.8, 0.6, 0.4])
    >>> s["auc"], s["accuracy"], round(s["brier"], 3)
    (1.0, 1.0, 0.1)
    """
    y = np.asarray(y_true)
    p = np.asarray(proba, dtype=np.float64)
    if p.ndim == 1:
        y = y.astype(np.int64)
        pc = np.clip(p, EPS, 1 - EPS)
        calls = p >= threshold
        two = np.unique(y).size == 2
        return {
            "n": float(y.size), "base_rate": float(y.mean()) if y.size else np.nan,
            "auc": float(metrics.roc_auc_score(y, p)) if two else np.nan,
            "log_loss": float(metrics.log_loss(y, pc, labels=[0, 1])),
            "brier": float(np.mean((p - y) ** 2)),
            "accuracy": float(metrics.accuracy_score(y, calls.astype(np.int64))),
            "hit_rate": float(y[calls].mean()) if calls.any() else np.nan,
        }
    cls = np.unique(y) if classes is None else np.asarray(classes)
    if p.shape[1] != cls.size:
        raise DataError(f"classification_scores: proba has {p.shape[1]} columns for "
                        f"{cls.size} classes {cls.tolist()}; pass classes=model.classes_")
    onehot = (y[:, None] == cls[None, :]).astype(np.float64)
    pred = cls[np.argmax(p, axis=1)]
    calls = pred != 0
    pc = np.clip(p, EPS, 1.0)
    pc = pc / pc.sum(axis=1, keepdims=True)
    present = np.unique(y).size == cls.size
    return {
        "n": float(y.size), "base_rate": float(onehot.mean(axis=0).max()),
        "auc": float(metrics.roc_auc_score(y, pc, multi_class="ovr", labels=cls))
        if present else np.nan,
        "log_loss": float(metrics.log_loss(y, pc, labels=cls)),
        "brier": float(np.mean(((p - onehot) ** 2).sum(axis=1))),
        "accuracy": float(metrics.accuracy_score(y, pred)),
        "hit_rate": float((pred[calls] == y[calls]).mean()) if calls.any() else np.nan,
    }


def regression_scores(y_true: Any, pred: Any) -> dict[str, float]:
    """RMSE, MAE, R^2, IC (Pearson), rank IC (Spearman) and sign hit rate.

    >>> s = regression_scores([0.01, -0.02, 0.03], [0.02, -0.01, 0.01])
    >>> s["hit_rate"], round(s["ic"], 3)
    (1.0, 0.737)
    """
    y = np.asarray(y_true, dtype=np.float64)
    p = np.asarray(pred, dtype=np.float64)
    nz = y != 0
    flat = y.size < 2 or np.ptp(y) == 0 or np.ptp(p) == 0
    return {
        "n": float(y.size),
        "rmse": float(np.sqrt(np.mean((y - p) ** 2))),
        "mae": float(np.mean(np.abs(y - p))),
        "r2": float(metrics.r2_score(y, p)) if y.size > 1 else np.nan,
        "ic": np.nan if flat else float(np.corrcoef(y, p)[0, 1]),
        "rank_ic": np.nan if flat else float(pd.Series(y).rank().corr(pd.Series(p).rank())),
        "hit_rate": float((np.sign(p[nz]) == np.sign(y[nz])).mean()) if nz.any() else np.nan,
    }


def _score(task: str, y: np.ndarray, pred: np.ndarray, classes: Any) -> dict[str, float]:
    if task == "regression":
        return regression_scores(y, pred)
    return classification_scores(y, pred, classes=classes)


# ------------------------------------------------------------ cross-validate


@dataclass(frozen=True)
class FoldResult:
    """One fold's out-of-sample predictions: ``pred[i]`` is for sample ``fold.test[i]``."""

    fold: Fold
    t0: np.ndarray
    t1: np.ndarray
    y_true: np.ndarray
    pred: np.ndarray
    scores: Mapping[str, float]


BacktestHook = Callable[[FoldResult], Mapping[str, float]]


@dataclass(frozen=True)
class CVResult:
    """Folds with predictions and scores; ``overall`` scores all out-of-fold predictions."""

    task: str
    folds: tuple[FoldResult, ...]
    overall: Mapping[str, float]
    extra: tuple[Mapping[str, float], ...] = field(default=())

    def table(self) -> pd.DataFrame:
        """One row per fold (scores, test window, train/test sizes, hook metrics) + 'overall'."""
        rows = []
        for i, fr in enumerate(self.folds):
            f = fr.fold
            row = {"fold": f.k, "test_start": f.test_start, "test_end": f.test_end,
                   "n_train": f.train.size, "n_test": f.test.size, "purged": f.purged,
                   "embargoed": f.embargoed, **fr.scores}
            if self.extra:
                row.update(self.extra[i])
            rows.append(row)
        rows.append({"fold": "overall", **self.overall})
        return pd.DataFrame(rows).set_index("fold")

    def fold_backtest(self, fn: BacktestHook) -> pd.DataFrame:
        """Run ``fn(fold_result)`` on each test fold (e.g. a backtest of the strategy
        driven by ``pred`` over [test_start, test_end]); one row of its metrics per fold."""
        return pd.DataFrame([{"fold": fr.fold.k, **dict(fn(fr))} for fr in self.folds]
                            ).set_index("fold")

    def oof(self, n: int) -> np.ndarray:
        """Out-of-fold predictions in sample order (NaN where a sample was never tested)."""
        first = self.folds[0].pred
        out = np.full((n, *first.shape[1:]), np.nan)
        for fr in self.folds:
            out[fr.fold.test] = fr.pred
        return out


def _take(x: Any, idx: np.ndarray) -> Any:
    return x.iloc[idx] if isinstance(x, pd.DataFrame | pd.Series) else np.asarray(x)[idx]


def cross_validate(cv: PurgedWalkForward, X: Any, y: Any, t0: Any, t1: Any,
                   fit_predict: Callable[[Any, np.ndarray, Any], Any], *,
                   task: str = "binary", classes: Any = None,
                   fold_backtest: BacktestHook | None = None) -> CVResult:
    """Fit and predict on every fold; score each fold and all out-of-fold predictions.

    ``fit_predict(X_train, y_train, X_test)`` returns predictions for ``X_test``:
    P(y=1) for ``task='binary'``, an (n, k) probability matrix over ``classes`` for
    ``'multiclass'``, values for ``'regression'``. It must be deterministic (seed
    its model) for the result to be. ``fold_backtest`` adds its metrics per fold.
    """
    if task not in TASKS:
        raise ConfigError(f"cross_validate: task must be one of {TASKS}, got {task!r}")
    y = np.asarray(y)
    t0a, t1a = _as_times("t0", t0), _as_times("t1", t1)
    if not (len(y) == len(t0a) == len(X)):
        raise DataError(f"cross_validate: X, y, t0 differ in length ({len(X)}, {len(y)}, "
                        f"{len(t0a)})")
    if task == "multiclass" and classes is None:
        classes = np.unique(y)
    results = []
    for fold in cv.split(t0a, t1a):
        pred = np.asarray(fit_predict(_take(X, fold.train), y[fold.train], _take(X, fold.test)),
                          dtype=np.float64)
        if pred.shape[0] != fold.test.size:
            raise DataError(f"fit_predict returned {pred.shape[0]} predictions for "
                            f"{fold.test.size} test rows in fold {fold.k}")
        yt = y[fold.test]
        results.append(FoldResult(fold, t0a[fold.test], t1a[fold.test], yt, pred,
                                  _score(task, yt, pred, classes)))
    all_y = np.concatenate([r.y_true for r in results])
    all_p = np.concatenate([r.pred for r in results])
    res = CVResult(task, tuple(results), _score(task, all_y, all_p, classes))
    if fold_backtest is not None:
        extra = tuple(dict(fold_backtest(r)) for r in results)
        res = CVResult(task, res.folds, res.overall, extra)
    return res
