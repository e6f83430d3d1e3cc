"""CPCV inside ``train``: score and backtest every combinatorial out-of-sample path.

``cv.cpcv = { groups = 6, test_groups = 2 }`` in a training config adds, to the
walk-forward result, the ``C(groups - 1, test_groups - 1)`` paths of
``cpcv.CombinatorialPurgedCV`` (purged, embargoed like the walk-forward): each
path's AUC (of the raw scores: the ranking), Brier score and ECE (of the calibrated
confidence), and (``backtest = true``) a backtest of
``ConfidenceSized`` driven by the path's predictions over the whole data range.
The registry stores one row per path and their summary (mean, std, min, median,
max): a distribution of Sharpe ratios instead of one.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import pandas as pd

from tradeloom.research.ml.calibration import ece
from tradeloom.research.ml.config import TrainConfig
from tradeloom.research.ml.cpcv import CombinatorialPurgedCV, assemble_paths
from tradeloom.research.ml.data import Dataset, backtest_predictions
from tradeloom.research.ml.significance import fast_auc

__all__ = ["cpcv_paths"]


Fit = Callable[[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]


def cpcv_paths(cfg: TrainConfig, ds: Dataset, t0: np.ndarray, t1: np.ndarray, y: np.ndarray,
               symbols: np.ndarray, embargo: int, fit_predict: Fit,
               markets: Mapping[str, Any]) -> dict[str, Any]:
    """The CPCV block of a training report (see the module doc). ``fit_predict(train,
    test)`` returns the test rows' (calibrated confidence, raw score)."""
    settings = cfg.cv.cpcv
    if settings is None:
        raise ValueError("cpcv_paths needs cfg.cv.cpcv")
    cv = CombinatorialPurgedCV(settings.groups, settings.test_groups, embargo)
    conf_splits: list[np.ndarray] = []
    raw_splits: list[np.ndarray] = []
    for sp in cv.split(t0, t1):
        conf, raw = fit_predict(sp.train, sp.test)
        for out, values in ((conf_splits, conf), (raw_splits, raw)):
            full = np.full(y.size, np.nan)
            full[sp.test] = values
            out.append(full)
    gid = cv.groups(t0)
    conf_paths = assemble_paths(cv, gid, conf_splits)
    raw_paths = assemble_paths(cv, gid, raw_splits)
    rows = []
    for j in range(cv.n_paths):
        p, r = conf_paths[j], raw_paths[j]
        row: dict[str, float] = {"path": j, "rows": float(p.size), "auc": fast_auc(y, r),
                                 "brier": float(np.mean((p - y) ** 2)), "ece": ece(y, p)}
        if settings.backtest:
            bt = backtest_predictions(ds.bars, symbols, t0, p, timeframe=cfg.data.timeframe,
                                      strategy=cfg.strategy, markets=markets,
                                      lo=int(t0.min()), hi=int(t0.max()))
            row.update(bt_sharpe=bt["sharpe"], bt_total_return=bt["total_return"],
                       bt_max_drawdown=bt["max_drawdown"])
        rows.append(row)
    table = pd.DataFrame(rows).set_index("path")
    summary = table.agg(["mean", "std", "min", "median", "max"]).T
    return {"groups": settings.groups, "test_groups": settings.test_groups,
            "splits": cv.n_splits, "n_paths": cv.n_paths, "embargo_bars": embargo,
            "paths": table.reset_index().to_dict("records"),
            "summary": {k: {s: float(v) for s, v in row.items()}
                        for k, row in summary.iterrows()}}
