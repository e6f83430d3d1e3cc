"""Honest evaluation of out-of-fold predictions: baselines, the model's edge with a CI, calibration.

A CV AUC of 0.51 means nothing alone. Every training report therefore puts the
model next to two forecasts anyone could make, each fitted on the same fold's
training rows and scored on the same test rows:

- ``base_rate``: the fold's training share of positive labels, for every row
  (the *constant forecast*; within a fold it ranks nothing, pooled over folds its
  AUC only reflects how the base rate moved between folds);
- ``prev_return_sign``: "up if the last ``horizon`` bars went up", as a
  probability: the training frequency of a positive label after an up move (or
  after a down move).

The model's AUC is that of its raw scores (its *ranking* skill: the calibrator
may have replaced a score without information by the base rate), its Brier
score and log loss those of the calibrated confidence (what a strategy sizes
by). For each baseline the **edge** is the model's gain: AUC gained, and Brier
score saved (baseline Brier - model Brier), each with a 95 % interval and a one-sided
p-value (H0: no gain) from a paired *block* bootstrap over the pooled
out-of-fold rows. Blocks are one label horizon of bars (every symbol of those
bars together), because overlapping labels make neighbouring rows dependent and a
row-level bootstrap would give intervals too narrow to mean anything
(``significance.py``).

**Calibration**: ECE of the calibrated confidence, of the base model's raw
probability ("before calibration") and of the constant forecast, and the
reliability tables behind the diagram (``calibration.py``).

>>> import numpy as np
>>> prev_return_up(np.array([10.0, 11.0, 10.5, 12.0]), 1).tolist()  # first bar: unknown
[nan, 1.0, 0.0, 1.0]
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from tradeloom.engine.errors import DataError
from tradeloom.research.ml.calibration import ece, reliability
from tradeloom.research.ml.significance import block_resamples, fast_auc

__all__ = ["BASELINES", "evaluate_oof", "prev_return_up", "rule_probability"]

BASELINES = ("base_rate", "prev_return_sign")
EPS = 1e-15


def prev_return_up(close: Any, horizon: int) -> np.ndarray:
    """1.0 where ``close[t] > close[t - horizon]``, 0.0 where not, NaN before ``horizon``
    or where a price is not usable (one symbol's closes)."""
    c = np.asarray(close, dtype=np.float64)
    out = np.full(c.size, np.nan)
    if c.size > horizon:
        now, before = c[horizon:], c[:-horizon]
        ok = np.isfinite(now) & np.isfinite(before) & (now > 0) & (before > 0)
        out[horizon:] = np.where(ok, (now > before).astype(np.float64), np.nan)
    return out


def rule_probability(y_train: np.ndarray, up_train: np.ndarray, up_test: np.ndarray) -> np.ndarray:
    """The previous-return-sign baseline as a probability: the training frequency of a
    positive label after an up move where ``up_test`` is 1, after a down move where 0.

    >>> rule_probability(np.array([1, 1, 0, 0, 1]), np.array([1, 1, 1, 0, 0]),
    ...                  np.array([1.0, 0.0])).round(4).tolist()  # 2/3 after up, 1/2 after down
    [0.6667, 0.5]
    """
    yt = np.asarray(y_train, dtype=np.float64)
    ut = np.asarray(up_train, dtype=np.float64)
    base = float(yt.mean())

    def rate(mask: np.ndarray) -> float:
        return float(yt[mask].mean()) if mask.any() else base

    p_up, p_down = rate(ut == 1.0), rate(ut == 0.0)
    u = np.asarray(up_test, dtype=np.float64)
    return np.where(u == 1.0, p_up, np.where(u == 0.0, p_down, base))


def _brier(y: np.ndarray, p: np.ndarray) -> float:
    return float(np.mean((p - y) ** 2))


def _log_loss(y: np.ndarray, p: np.ndarray) -> float:
    pc = np.clip(p, EPS, 1 - EPS)
    return float(-np.mean(y * np.log(pc) + (1 - y) * np.log(1 - pc)))


def _scores(y: np.ndarray, p: np.ndarray) -> dict[str, float]:
    return {"auc": fast_auc(y, p), "brier": _brier(y, p), "log_loss": _log_loss(y, p)}


def _interval(point: float, draws: np.ndarray) -> dict[str, float]:
    d = draws[np.isfinite(draws)]
    lo, hi = np.quantile(d, [0.025, 0.975]) if d.size else (math.nan, math.nan)
    p = (1.0 + np.sum(d <= 0.0)) / (1.0 + d.size) if d.size else math.nan
    return {"value": point, "ci_low": float(lo), "ci_high": float(hi), "p_value": float(p)}


def evaluate_oof(y: Any, conf: Any, raw: Any, baselines: Mapping[str, Any], blocks: Any, *,
                 rank: Any = None, n_boot: int = 1000, seed: int = 0,
                 bins: int = 10) -> dict[str, Any]:
    """Scores, baselines with the model's edge, and calibration of pooled out-of-fold rows.

    ``y`` 0/1 targets, ``conf`` calibrated confidence, ``raw`` the base model's own
    probability (NaN for a regressor), ``rank`` its raw score (what its AUC is
    computed from; default ``conf``), ``baselines`` name -> probability forecast,
    ``blocks`` one dependence-block id per row (``significance.time_blocks``). The
    ``base_rate`` baseline doubles as the constant forecast of the calibration check.
    JSON-ready output (see the module doc).
    """
    yy = np.asarray(y, dtype=np.float64)
    pm = np.asarray(conf, dtype=np.float64)
    pr = np.asarray(raw, dtype=np.float64)
    rk = pm if rank is None else np.asarray(rank, dtype=np.float64)
    base = {k: np.asarray(v, dtype=np.float64) for k, v in baselines.items()}
    ids = np.asarray(blocks)
    n = yy.size
    if not (pm.size == pr.size == rk.size == ids.size == n
            and all(v.size == n for v in base.values())):
        raise DataError("evaluate_oof: y, conf, raw, rank, blocks and every baseline need one "
                        "value per row")
    if np.isnan(pm).any() or np.isnan(yy).any() or np.isnan(rk).any():
        raise DataError("evaluate_oof: y, conf and rank must be NaN-free (out-of-fold rows only)")
    model = {**_scores(yy, pm), "auc": fast_auc(yy, rk), "auc_calibrated": fast_auc(yy, pm)}
    out_base: dict[str, Any] = {k: _scores(yy, v) for k, v in base.items()}
    groups, draws = block_resamples(ids, n_boot, seed)
    edges = {k: np.empty((n_boot, 2)) for k in base}
    for b, rows in enumerate(draws):
        ys, ms = yy[rows], pm[rows]
        m_auc, m_brier = fast_auc(ys, rk[rows]), _brier(ys, ms)
        for k, v in base.items():
            vs = v[rows]
            edges[k][b] = (m_auc - fast_auc(ys, vs), _brier(ys, vs) - m_brier)
    for k in base:
        out_base[k]["edge_auc"] = _interval(model["auc"] - out_base[k]["auc"], edges[k][:, 0])
        out_base[k]["edge_brier"] = _interval(out_base[k]["brier"] - model["brier"],
                                              edges[k][:, 1])
    calib: dict[str, Any] = {
        "bins": bins, "ece": ece(yy, pm, bins),
        "ece_raw": ece(yy, pr, bins) if np.isfinite(pr).any() else math.nan,
        "ece_constant": ece(yy, base["base_rate"], bins) if "base_rate" in base else math.nan,
        "reliability": reliability(yy, pm, bins).to_dict("records"),
        "reliability_raw": reliability(yy, pr, bins).to_dict("records")
        if np.isfinite(pr).any() else [],
        "distinct_values": int(np.unique(pm).size),
    }
    return {"rows": n, "blocks": groups, "n_boot": n_boot, "model": model,
            "baselines": out_base, "calibration": calib}
