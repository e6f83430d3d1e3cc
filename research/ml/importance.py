"""Feature importance out of sample: MDA (permutation) and SFI (single feature).

López de Prado, *Advances in Financial Machine Learning* (2018), ch. 8. A tree
model's gain importance (``FittedModel.importance``) is in-sample and biased
towards noisy, high-cardinality features; these two are measured on
out-of-fold rows, so a feature the model merely memorised scores near zero.

- **MDA** (mean decrease accuracy, :func:`mda`): per CV fold, fit on the training
  rows, score the test rows, then shuffle one feature's column in the test rows
  and score again; the importance is the loss of score, averaged over folds
  (with its standard error). Substitution effects: two features carrying the same
  information can each look unimportant, since the model leans on the other.
- **SFI** (single feature importance, :func:`sfi`): per feature, a model trained on
  that feature alone, scored out of fold. No substitution effect, but no joint
  effects either.

Scores: ``"auc"`` (importance = AUC lost) or ``"log_loss"`` (importance = log loss
gained). ``spec_fitter`` adapts ``models.fit_model`` to both: pass it to
:func:`mda` / :func:`sfi` with the splits of a purged CV (``cv.PurgedWalkForward``
or ``cpcv.CombinatorialPurgedCV``). For SFI prefer ``calibration = "none"`` (AUC
does not need it and every feature costs a fit per fold).

>>> import numpy as np
>>> from tradeloom.research.ml.models import ModelSpec
>>> rng = np.random.default_rng(0)
>>> X = rng.normal(size=(600, 2)); y = (X[:, 0] > 0).astype(float)  # only feature 0 matters
>>> t0 = np.arange(600, dtype=np.int64); t1 = t0 + 2
>>> splits = [(np.arange(300), np.arange(300, 600))]
>>> fit = spec_fitter(ModelSpec("logistic", calibration="none"), X, y, t0, t1)
>>> imp = mda(X, y, splits, fit, scoring="auc", names=["signal", "noise"])
>>> imp["importance"].round(1).to_dict()
{'signal': 0.5, 'noise': 0.0}
>>> sfi(X, y, splits, fit, names=["signal", "noise"])["score"].round(1).to_dict()
{'signal': 1.0, 'noise': 0.5}
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import Any

import numpy as np
import pandas as pd
from sklearn import metrics

from tradeloom.engine.errors import ConfigError, DataError

__all__ = ["SCORINGS", "mda", "sfi", "spec_fitter"]

SCORINGS = ("auc", "log_loss")
Predict = Callable[[np.ndarray], np.ndarray]
Fitter = Callable[[np.ndarray, Sequence[int] | None], Predict]
Split = tuple[np.ndarray, np.ndarray]


def _score(scoring: str, y: np.ndarray, p: np.ndarray) -> float:
    if scoring == "auc":
        return float(metrics.roc_auc_score(y, p)) if np.unique(y).size == 2 else np.nan
    return float(metrics.log_loss(y, np.clip(p, 1e-15, 1 - 1e-15), labels=[0, 1]))


def _setup(X: Any, y: Any, scoring: str, names: Sequence[str] | None
           ) -> tuple[np.ndarray, np.ndarray, list[str]]:
    if scoring not in SCORINGS:
        raise ConfigError(f"scoring must be one of {SCORINGS}, got {scoring!r}")
    arr = np.asarray(X, dtype=np.float64)
    yy = (np.asarray(y, dtype=np.float64) > 0).astype(np.float64)
    if arr.ndim != 2 or arr.shape[0] != yy.size:
        raise DataError(f"importance: X must be (rows, features) with one row per label, got "
                        f"{arr.shape} for {yy.size} labels")
    cols = list(names) if names is not None else (
        list(X.columns) if isinstance(X, pd.DataFrame) else [f"f{j}" for j in range(arr.shape[1])])
    if len(cols) != arr.shape[1]:
        raise DataError(f"importance: {len(cols)} names for {arr.shape[1]} features")
    return arr, yy, [str(c) for c in cols]


def mda(X: Any, y: Any, splits: Iterable[Split], fit: Fitter, *, scoring: str = "log_loss",
        names: Sequence[str] | None = None, seed: int = 0) -> pd.DataFrame:
    """Permutation importance on out-of-fold rows (see the module doc).

    Returns one row per feature, sorted by importance: ``importance`` (mean score
    lost over folds), ``std`` and ``se`` (std / sqrt(folds)), ``folds``. The
    base (unshuffled) score per fold is in ``df.attrs["base"]``.
    """
    arr, yy, cols = _setup(X, y, scoring, names)
    sign = 1.0 if scoring == "auc" else -1.0  # importance: how much worse the shuffled score is
    rng = np.random.default_rng(seed)
    losses: list[np.ndarray] = []
    base_scores: list[float] = []
    for train, test in splits:
        predict = fit(np.asarray(train), None)
        Xt = arr[test]
        base = _score(scoring, yy[test], predict(Xt))
        base_scores.append(base)
        row = np.empty(len(cols))
        for j in range(len(cols)):
            shuffled = Xt.copy()
            shuffled[:, j] = rng.permutation(shuffled[:, j])
            row[j] = sign * (base - _score(scoring, yy[test], predict(shuffled)))
        losses.append(row)
    if not losses:
        raise DataError("mda: no splits given")
    m = np.vstack(losses)
    std = m.std(axis=0, ddof=1) if m.shape[0] > 1 else np.zeros(m.shape[1])
    out = pd.DataFrame({"importance": m.mean(axis=0), "std": std,
                        "se": std / np.sqrt(m.shape[0]), "folds": m.shape[0]}, index=cols)
    out = out.sort_values("importance", ascending=False, kind="stable")
    out.attrs["base"] = base_scores
    return out


def sfi(X: Any, y: Any, splits: Iterable[Split], fit: Fitter, *, scoring: str = "auc",
        names: Sequence[str] | None = None) -> pd.DataFrame:
    """Single-feature importance: each feature's own out-of-fold score (see the module doc).

    Returns one row per feature, best first: ``score`` (pooled over the folds' test
    rows) and ``std`` across folds.
    """
    arr, yy, cols = _setup(X, y, scoring, names)
    folds = [(np.asarray(a), np.asarray(b)) for a, b in splits]
    if not folds:
        raise DataError("sfi: no splits given")
    rows = []
    for j, name in enumerate(cols):
        pooled_y, pooled_p, per_fold = [], [], []
        for train, test in folds:
            p = fit(train, [j])(arr[test][:, [j]])
            pooled_y.append(yy[test])
            pooled_p.append(p)
            per_fold.append(_score(scoring, yy[test], p))
        rows.append({"feature": name,
                     "score": _score(scoring, np.concatenate(pooled_y), np.concatenate(pooled_p)),
                     "std": float(np.std(per_fold, ddof=1)) if len(per_fold) > 1 else 0.0})
    out = pd.DataFrame(rows).set_index("feature")
    return out.sort_values("score", ascending=scoring == "log_loss", kind="stable")


def spec_fitter(spec: Any, X: Any, label: Any, t0: Any, t1: Any, *, groups: Any = None,
                timeframe_ms: int | None = None) -> Fitter:
    """A :data:`Fitter` over ``models.fit_model``: ``fit(train_positions, columns)`` fits
    ``spec`` on those rows (and feature columns, all when None) and returns its
    ``confidence`` function."""
    from tradeloom.research.ml.models import fit_model

    arr = np.asarray(X, dtype=np.float64)
    lab = np.asarray(label, dtype=np.float64)
    a = np.asarray(t0, dtype=np.int64)
    b = np.asarray(t1, dtype=np.int64)
    grp = None if groups is None else np.asarray(groups, dtype=object)

    def fit(train: np.ndarray, columns: Sequence[int] | None) -> Predict:
        cols = list(range(arr.shape[1])) if columns is None else list(columns)
        model = fit_model(spec, arr[train][:, cols], lab[train], a[train], b[train],
                          groups=None if grp is None else grp[train], timeframe_ms=timeframe_ms)
        return model.confidence

    return fit
