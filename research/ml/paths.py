"""CPCV inside ``train``: score and backtest every combinatorial out-of-sample path.

``cv.cpcv = { groups = 6, test_groups = 2 }`` in a training config adds, to the
walk-forward result, the ``C(groups - 1, test_groups - 1)`` paths of
``cpcv.CombinatorialPurgedCV`` (purged, embargoed like the walk-forward): each
path's AUC, Brier score and ECE, and (``backtest = true``) a backtest of
``ConfidenceSized`` driven by the path's predictions over the whole data range.
The registry stores one row per path and their summary (mean, std, min, median,
max): a distribution of Sharpe ratios instead of one.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from tradeloom.research.ml.calibration import ece
from tradeloom.research.ml.config import TrainConfig
from tradeloom.research.ml.cpcv import CombinatorialPurgedCV, combinatorial_cross_validate
from tradeloom.research.ml.data import Dataset, backtest_predictions
from tradeloom.research.ml.significance import fast_auc

__all__ = ["cpcv_paths"]


def _path_scores(y: np.ndarray, p: np.ndarray) -> dict[str, float]:
    ok = ~np.isnan(p)
    return {"rows": float(ok.sum()), "auc": fast_auc(y[ok], p[ok]),
            "brier": float(np.mean((p[ok] - y[ok]) ** 2)), "ece": ece(y[ok], p[ok])}


def cpcv_paths(cfg: TrainConfig, ds: Dataset, t0: np.ndarray, t1: np.ndarray, y: np.ndarray,
               symbols: np.ndarray, embargo: int,
               fit_predict: Callable[[np.ndarray, np.ndarray], np.ndarray],
               markets: Mapping[str, Any]) -> dict[str, Any]:
    """The CPCV block of a training report (see the module doc)."""
    settings = cfg.cv.cpcv
    if settings is None:
        raise ValueError("cpcv_paths needs cfg.cv.cpcv")
    cv = CombinatorialPurgedCV(settings.groups, settings.test_groups, embargo)

    def backtest(_j: int, pred: np.ndarray) -> dict[str, float]:
        out = backtest_predictions(ds.bars, symbols, t0, pred, timeframe=cfg.data.timeframe,
                                   strategy=cfg.strategy, markets=markets, lo=int(t0.min()),
                                   hi=int(t0.max()))
        return {"bt_sharpe": out["sharpe"], "bt_total_return": out["total_return"],
                "bt_max_drawdown": out["max_drawdown"]}

    res = combinatorial_cross_validate(cv, np.arange(y.size), y, t0, t1, fit_predict,
                                       _path_scores, backtest if settings.backtest else None)
    summary = res.summary()
    return {"groups": settings.groups, "test_groups": settings.test_groups,
            "splits": cv.n_splits, "n_paths": cv.n_paths, "embargo_bars": embargo,
            "paths": res.path_scores.reset_index().to_dict("records"),
            "summary": {k: {s: float(v) for s, v in row.items()}
                        for k, row in summary.iterrows()}}
