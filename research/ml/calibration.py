"""Probability calibration: the calibrator, the rule choosing its method, ECE and reliability.

A model's raw score ranks rows; a strategy that sizes by confidence needs the
score to *mean* a probability: of the bars given 0.6, about 60 % should go up.

**Where the calibrator is fitted** (``models.fit_model``): on the pooled
out-of-fold scores of an inner purged k-fold over *all* the training rows
(every row scored by a model that did not see it or its overlapping
neighbours), never on a short tail. The base model is then refitted on all rows
and the calibrator maps its scores. A tail of a few hundred overlapping labels
is a few dozen independent observations: an isotonic step fitted on it put
P = 0.001 on 521 test rows of which 59 % went up (issue 17).

**Which method** (``calibration = "auto"``, :func:`choose_method`): isotonic
regression is a free monotone step function, one level per step estimated from
the rows in it; Platt's sigmoid has two parameters. Isotonic is used only when the
rows are worth at least ``ISOTONIC_MIN_EFFECTIVE`` (1,000) independent labels, the
*effective sample size* (the sum of label uniqueness, ``weights.py``: 7,000 rows
of 12-bar labels are worth about 600). Below that, sigmoid. 1,000 follows
scikit-learn's guidance that isotonic calibration overfits on fewer samples, counted
in independent labels because overlapping ones are not independent.

**Only what the scores know** (:func:`fit_calibrator`): before any calibrator is
kept, a likelihood-ratio test asks whether the out-of-fold scores carry
information about the label at all: a logistic regression of the label on the
score against the base rate alone, with the rows weighted to sum to the
effective sample size (overlapping labels are not independent evidence). Unless
it rejects "no information" at ``INFORMATION_ALPHA`` (5 %), the calibrated
confidence is the training base rate itself (method ``constant``): a model with
no detectable skill says exactly what the constant forecast says, never more.
The test's p-value is kept with the model (``fit_info["information_p"]``).

**How it is judged**: the expected calibration error :func:`ece` (equal-width
bins, ``sum_b n_b / N * |mean(p)_b - mean(y)_b|``) and the reliability table
:func:`reliability` (per bin: mean prediction, observed frequency, count), both
on out-of-sample rows. The bar to clear is the *constant forecast*: the training
base rate for every row, whose ECE is ``|train base rate - test base rate|``. A
calibrated model without skill should come close to it; one far above it is
worse than saying nothing.

>>> import numpy as np
>>> y = np.array([0, 0, 1, 1, 1, 0, 1, 1])
>>> p = np.array([0.1, 0.2, 0.8, 0.9, 0.7, 0.3, 0.6, 0.85])
>>> round(ece(y, p, bins=2), 6)  # 3/8 * |0.2 - 0/3| + 5/8 * |0.77 - 5/5| = 0.075 + 0.14375
0.21875
>>> choose_method(600.0), choose_method(1500.0)
('sigmoid', 'isotonic')
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from tradeloom.engine.errors import ConfigError, DataError

__all__ = [
    "CALIBRATIONS",
    "INFORMATION_ALPHA",
    "ISOTONIC_BOUND",
    "ISOTONIC_MIN_EFFECTIVE",
    "Calibrator",
    "choose_method",
    "ece",
    "fit_calibrator",
    "information_test",
    "reliability",
]

CALIBRATIONS = ("auto", "isotonic", "sigmoid", "none")
#: Effective (non-overlapping) labels needed before isotonic calibration is chosen.
ISOTONIC_MIN_EFFECTIVE = 1000.0
#: Isotonic output is kept within [b, 1 - b]: a step must not claim certainty (one wrong
#: "certain" call makes the log loss infinite).
ISOTONIC_BOUND = 1e-3
DEFAULT_BINS = 10
#: Level of the likelihood-ratio test a score must pass before a calibrator may use it.
INFORMATION_ALPHA = 0.05


def choose_method(effective_n: float) -> str:
    """``'isotonic'`` with at least ``ISOTONIC_MIN_EFFECTIVE`` effective labels, else ``'sigmoid'``."""
    if not effective_n >= 0:
        raise DataError(f"choose_method: effective sample size must be >= 0, got {effective_n}")
    return "isotonic" if effective_n >= ISOTONIC_MIN_EFFECTIVE else "sigmoid"


def _logit(p: float) -> float:
    p = min(max(p, 1e-6), 1 - 1e-6)
    return math.log(p / (1 - p))


@dataclass(frozen=True)
class Calibrator:
    """Maps a raw model score to a probability: ``isotonic`` (piecewise linear through
    ``x``/``y``), ``sigmoid`` (``1 / (1 + exp(-(a * s + b)))``), ``constant`` (``y[0]`` for
    every row: the scores carried no information) or ``none`` (a=1, b=0)."""

    method: str
    x: tuple[float, ...] = ()
    y: tuple[float, ...] = ()
    a: float = 1.0
    b: float = 0.0

    def apply(self, score: Any) -> np.ndarray:
        """Probabilities in [0, 1] for ``score`` (NaN stays NaN)."""
        s = np.asarray(score, dtype=np.float64)
        if self.method == "isotonic":
            out = np.interp(s, np.asarray(self.x), np.asarray(self.y))
            return np.where(np.isnan(s), np.nan, np.clip(out, 0.0, 1.0))
        if self.method == "constant":
            return np.where(np.isnan(s), np.nan, self.y[0])
        with np.errstate(over="ignore"):
            return 1.0 / (1.0 + np.exp(-(self.a * s + self.b)))

    def to_dict(self) -> dict[str, Any]:
        return {"method": self.method, "x": list(self.x), "y": list(self.y), "a": self.a,
                "b": self.b}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Calibrator:
        return cls(d["method"], tuple(d["x"]), tuple(d["y"]), float(d["a"]), float(d["b"]))

    @classmethod
    def fit(cls, method: str, score: Any, y: Any, weights: Any = None) -> Calibrator:
        """Fit on out-of-sample ``score`` and binary targets ``y`` (optionally weighted)."""
        if method not in ("isotonic", "sigmoid", "none"):
            raise ConfigError(f"calibration method {method!r} is unknown; use isotonic, "
                              "sigmoid or none (auto is resolved by choose_method)")
        if method == "none":
            return cls("none")
        s = np.asarray(score, dtype=np.float64)
        t = np.asarray(y, dtype=np.float64)
        w = None if weights is None else np.asarray(weights, dtype=np.float64)
        if method == "isotonic":
            from sklearn.isotonic import IsotonicRegression

            iso = IsotonicRegression(y_min=ISOTONIC_BOUND, y_max=1.0 - ISOTONIC_BOUND,
                                     out_of_bounds="clip").fit(s, t, sample_weight=w)
            return cls("isotonic", tuple(map(float, iso.X_thresholds_)),
                       tuple(map(float, iso.y_thresholds_)))
        from sklearn.linear_model import LogisticRegression

        if np.unique(t).size < 2:
            return cls("sigmoid", a=0.0, b=_logit(float(np.mean(t))))
        lr = LogisticRegression(C=1e6, max_iter=1000).fit(s.reshape(-1, 1), t, sample_weight=w)
        return cls("sigmoid", a=float(lr.coef_[0, 0]), b=float(lr.intercept_[0]))


def information_test(score: Any, y: Any, weights: Any = None,
                     effective_n: float | None = None) -> float:
    """p-value of the likelihood-ratio test "the score carries no information about y":
    logistic regression of ``y`` on ``score`` vs the (weighted) base rate alone, the
    weights scaled to sum to ``effective_n`` (default: the row count), chi-square(1).

    >>> import numpy as np
    >>> s = np.linspace(-1, 1, 200); y = (s > 0).astype(float)
    >>> information_test(s, y) < 1e-6, round(information_test(s, y, effective_n=2), 2) > 0.05
    (True, True)
    """
    from scipy import stats
    from sklearn.linear_model import LogisticRegression

    s = np.asarray(score, dtype=np.float64)
    t = np.asarray(y, dtype=np.float64)
    w = np.ones(t.size) if weights is None else np.asarray(weights, dtype=np.float64)
    n = float(t.size if effective_n is None else effective_n)
    w = w * (n / w.sum())
    if np.unique(t).size < 2 or np.ptp(s) == 0:
        return 1.0
    base = float(np.sum(w * t) / w.sum())
    ll0 = float(np.sum(w * (t * np.log(base) + (1 - t) * np.log(1 - base))))
    lr = LogisticRegression(C=1e6, max_iter=1000).fit(s.reshape(-1, 1), t, sample_weight=w)
    p = np.clip(lr.predict_proba(s.reshape(-1, 1))[:, 1], 1e-15, 1 - 1e-15)
    ll1 = float(np.sum(w * (t * np.log(p) + (1 - t) * np.log(1 - p))))
    return float(stats.chi2.sf(max(2.0 * (ll1 - ll0), 0.0), 1))


def fit_calibrator(method: str, score: Any, y: Any, *, weights: Any = None,
                   effective_n: float | None = None,
                   alpha: float = INFORMATION_ALPHA) -> tuple[Calibrator, float]:
    """The calibrator of out-of-fold ``score``: ``method`` if :func:`information_test`
    rejects "no information" at ``alpha``, else ``constant`` at the plain base rate of
    ``y`` (the constant forecast). Returns it with the test's p-value.

    >>> import numpy as np
    >>> cal, p = fit_calibrator("sigmoid", np.array([0.3, 0.1, 0.2, 0.4]), np.array([1, 0, 1, 0]))
    >>> cal.method, cal.y, round(p, 3)
    ('constant', (0.5,), 1.0)
    """
    t = np.asarray(y, dtype=np.float64)
    p = information_test(score, t, weights, effective_n)
    if p >= alpha:
        return Calibrator("constant", y=(float(t.mean()),)), p
    return Calibrator.fit(method, score, t, weights), p


def _binned(y: Any, p: Any, bins: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    yy = np.asarray(y, dtype=np.float64)
    pp = np.asarray(p, dtype=np.float64)
    if yy.shape != pp.shape or yy.ndim != 1:
        raise DataError(f"calibration: y and p must be 1-D of one length, got {yy.shape} and "
                        f"{pp.shape}")
    if not isinstance(bins, int) or bins < 1:
        raise ConfigError(f"calibration: bins must be a positive integer, got {bins!r}")
    ok = ~np.isnan(pp) & ~np.isnan(yy)
    yy, pp = yy[ok], pp[ok]
    if pp.size and (pp.min() < 0.0 or pp.max() > 1.0):
        raise DataError("calibration: predictions must be probabilities in [0, 1]")
    idx = np.minimum((pp * bins).astype(np.int64), bins - 1)  # p = 1.0 goes to the last bin
    return yy, pp, idx


def ece(y: Any, p: Any, bins: int = DEFAULT_BINS) -> float:
    """Expected calibration error: bin-size-weighted |mean prediction - observed frequency|
    over ``bins`` equal-width bins of [0, 1] (NaN rows ignored; NaN if none are left)."""
    yy, pp, idx = _binned(y, p, bins)
    if yy.size == 0:
        return math.nan
    n = np.bincount(idx, minlength=bins).astype(np.float64)
    sp = np.bincount(idx, weights=pp, minlength=bins)
    sy = np.bincount(idx, weights=yy, minlength=bins)
    used = n > 0
    return float(np.sum(np.abs(sp[used] - sy[used])) / yy.size)


def reliability(y: Any, p: Any, bins: int = DEFAULT_BINS) -> pd.DataFrame:
    """The reliability diagram as a table: one row per non-empty bin with its range,
    row count, mean prediction and observed frequency of positives.

    >>> reliability([0, 1, 1, 1], [0.2, 0.3, 0.8, 0.9], bins=2).round(3).to_dict("list")
    {'lo': [0.0, 0.5], 'hi': [0.5, 1.0], 'n': [2, 2], 'mean_pred': [0.25, 0.85], 'frac_pos': [0.5, 1.0]}
    """
    yy, pp, idx = _binned(y, p, bins)
    n = np.bincount(idx, minlength=bins)
    sp = np.bincount(idx, weights=pp, minlength=bins)
    sy = np.bincount(idx, weights=yy, minlength=bins)
    used = np.flatnonzero(n > 0)
    return pd.DataFrame({
        "lo": [float(b) / bins for b in used], "hi": [float(b + 1) / bins for b in used],
        "n": [int(n[b]) for b in used], "mean_pred": [float(sp[b] / n[b]) for b in used],
        "frac_pos": [float(sy[b] / n[b]) for b in used]})
