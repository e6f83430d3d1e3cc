"""Fractionally differentiated series (fixed-width window, FFD) and the minimum d that is stationary.

López de Prado, *Advances in Financial Machine Learning* (2018), ch. 5. Returns
(d = 1) are stationary but forget the price level; prices (d = 0) remember it
but are not stationary, which most models need. A fractional d in between keeps
as much memory as stationarity allows.

The operator ``(1 - B)^d`` expands into weights over past values:
``w_0 = 1, w_k = -w_{k-1} * (d - k + 1) / k``, so for d = 0.5 the weights are
1, -0.5, -0.125, -0.0625, ... . The *fixed-width window* (FFD) keeps the weights
down to ``|w_k| >= threshold`` and drops the rest, so every value uses the same
window and the series has no drift from an expanding window:
``x~_t = sum_k w_k * x_{t-k}`` over the kept ``k``.

- :func:`ffd_weights` and :func:`frac_diff_ffd` (batch, a numba kernel);
- the feature kind ``ffd`` (``Feature("ffd_close", "ffd", {"d": 0.4})``): log
  close fractionally differentiated, batch and streaming forms agreeing bit for
  bit (``tests/property/test_features.py``); NaN until the window holds only
  usable prices (finite, > 0), like every feature;
- :func:`min_ffd_d`: the smallest d on a grid whose FFD series passes the
  augmented Dickey-Fuller test (statsmodels' ``adfuller``, one lag, constant, as in
  the book's snippet 5.4), with the whole table (ADF statistic, p-value,
  correlation with the original series) so the memory kept is visible.

>>> ffd_weights(0.5, threshold=0.05).tolist()
[1.0, -0.5, -0.125, -0.0625]
>>> import numpy as np
>>> frac_diff_ffd(np.array([1.0, 2.0, 4.0, 8.0]), 1.0).tolist()  # d = 1: first differences
[nan, 1.0, 2.0, 4.0]
"""

from __future__ import annotations

import math
import warnings
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from numba import njit

from tradeloom.engine.errors import ConfigError, DataError
from tradeloom.engine.indicators.base import check_real
from tradeloom.research.features.kinds_base import FeatureKind, register_kind

__all__ = ["DEFAULT_THRESHOLD", "FFDSearch", "ffd_weights", "frac_diff_ffd", "min_ffd_d"]

#: Weights below this magnitude are dropped: about 40-70 one-hour bars for d in 0.3-0.5.
DEFAULT_THRESHOLD = 1e-3
#: Longest window allowed (a d near 0 needs thousands of weights; refuse rather than stall).
MAX_WIDTH = 5000
NAN = math.nan


def ffd_weights(d: float, threshold: float = DEFAULT_THRESHOLD) -> np.ndarray:
    """Weights ``w_0 .. w_{K-1}`` of ``(1 - B)^d`` with ``|w_k| >= threshold`` (K >= 1).

    ``w_0 = 1`` and ``w_k = -w_{k-1} (d - k + 1) / k``; the first weight below the
    threshold ends the window. For an integer d the expansion ends by itself
    (d = 1: 1, -1).
    """
    d = check_real("ffd", "d", d)
    threshold = check_real("ffd", "threshold", threshold, positive=True)
    if not 0.0 <= d <= 2.0:
        raise ConfigError(f"ffd: d must be in [0, 2], got {d}")
    w = [1.0]
    k = 1
    while True:
        nxt = -w[-1] * (d - k + 1) / k
        if abs(nxt) < threshold:
            break
        w.append(nxt)
        k += 1
        if k > MAX_WIDTH:
            raise ConfigError(f"ffd: d = {d} with threshold {threshold} needs more than "
                              f"{MAX_WIDTH} weights; raise the threshold or d")
    return np.array(w)


@njit(cache=True)
def _ffd_nb(x, w, log):
    n = x.shape[0]
    k = w.shape[0]
    out = np.full(n, np.nan)
    vals = np.empty(n)
    good = 0
    for i in range(n):
        v = x[i]
        ok = v - v == 0.0 and (v > 0.0 or not log)
        if ok:
            good += 1
            vals[i] = math.log(v) if log else v
        else:
            good = 0
            vals[i] = np.nan
        if good >= k:
            acc = 0.0
            for j in range(k):
                acc += w[j] * vals[i - j]
            out[i] = acc
    return out


def frac_diff_ffd(x: Any, d: float, threshold: float = DEFAULT_THRESHOLD, *,
                  log: bool = False) -> np.ndarray:
    """FFD of the series ``x`` (of ``log(x)`` with ``log=True``): ``sum_k w_k x_{t-k}``.

    NaN until the window holds ``K`` usable values, and again after a hole (a
    non-finite value; with ``log``, also a value <= 0) until it is clean.
    """
    w = ffd_weights(d, threshold)
    arr = np.ascontiguousarray(x, dtype=np.float64)
    if arr.ndim != 1:
        raise DataError(f"frac_diff_ffd: x must be 1-D, got shape {arr.shape}")
    return _ffd_nb(arr, w, bool(log))


class _FFDStep:
    """Streaming twin of ``_ffd_nb``: the same products summed in the same order."""

    __slots__ = ("_buf", "_field", "_good", "_k", "_log", "_w")

    def __init__(self, w: np.ndarray, field: str, log: bool) -> None:
        self._w = [float(v) for v in w]
        self._k = len(self._w)
        self._field = field
        self._log = log
        self._buf: deque[float] = deque(maxlen=self._k)
        self._good = 0

    def __call__(self, bar: Mapping[str, Any]) -> float:
        v = bar[self._field]
        ok = v - v == 0.0 and (v > 0.0 or not self._log)
        if ok:
            self._good += 1
            self._buf.append(math.log(v) if self._log else v)
        else:
            self._good = 0
            self._buf.append(NAN)
        if self._good < self._k:
            return NAN
        acc = 0.0
        buf = self._buf
        last = self._k - 1
        for j, wj in enumerate(self._w):
            acc += wj * buf[last - j]
        return acc


def _field(p: Mapping[str, Any]) -> str:
    f = p["field"]
    if not isinstance(f, str) or not f:
        raise ConfigError(f"feature kind 'ffd': field must be a column name, got {f!r}")
    return f


def _warmup(p: Mapping[str, Any]) -> int:
    _field(p)
    return len(ffd_weights(p["d"], p["threshold"])) - 1


register_kind(FeatureKind(
    "ffd", {"d": 0.4, "threshold": DEFAULT_THRESHOLD, "field": "close", "log": True},
    lambda p: (_field(p),), _warmup,
    lambda b, p: _ffd_nb(b.col(_field(p)), ffd_weights(p["d"], p["threshold"]), bool(p["log"])),
    lambda p: _FFDStep(ffd_weights(p["d"], p["threshold"]), _field(p), bool(p["log"])),
    "fractionally differentiated (log) field, fixed-width window: sum_k w_k x[t-k]"))


# ------------------------------------------------------------- minimum d


@dataclass(frozen=True)
class FFDSearch:
    """Result of :func:`min_ffd_d`: the chosen d (None if none passed) and the table."""

    d: float | None
    p_value: float
    table: pd.DataFrame

    def __repr__(self) -> str:
        return f"FFDSearch(d={self.d}, p_value={self.p_value:.4g}, {len(self.table)} d tried)"


def min_ffd_d(series: Any, d_grid: Sequence[float] | None = None, *,
              threshold: float = DEFAULT_THRESHOLD, p_value: float = 0.05,
              log: bool = True) -> FFDSearch:
    """The smallest d on ``d_grid`` (default 0, 0.05, ..., 1) whose FFD passes the ADF test.

    For each d: the FFD series (of ``log(series)`` by default), its ADF statistic
    and p-value (``statsmodels.tsa.stattools.adfuller``, ``maxlag=1``,
    ``regression='c'``, no autolag), the 95 % critical value, and its correlation
    with the original (log) series (the memory it keeps). "Passes" means p-value
    below ``p_value``. Needs ``pip install 'tradeloom[ml]'`` (statsmodels).
    """
    try:
        from statsmodels.tsa.stattools import adfuller
    except ImportError:  # pragma: no cover - statsmodels is in the ml extra
        raise ConfigError("min_ffd_d needs statsmodels: pip install 'tradeloom[ml]'") from None
    x = np.asarray(series, dtype=np.float64)
    base = np.log(x) if log else x
    grid = np.round(np.arange(0.0, 1.0001, 0.05), 2) if d_grid is None else \
        np.asarray(d_grid, dtype=np.float64)
    rows = []
    chosen: float | None = None
    chosen_p = math.nan
    for d in grid:
        y = frac_diff_ffd(x, float(d), threshold, log=log)
        ok = ~np.isnan(y)
        if ok.sum() < 20:
            raise DataError(f"min_ffd_d: d = {d} leaves {int(ok.sum())} values after the "
                            f"{len(ffd_weights(float(d), threshold))}-value window; use a "
                            "longer series or a larger threshold")
        with warnings.catch_warnings():  # 0.15 announces a result object; the tuple stays
            warnings.simplefilter("ignore", FutureWarning)
            res = adfuller(y[ok], maxlag=1, regression="c", autolag=None)
        stat, p, crit = res[0], res[1], res[4]
        corr = float(np.corrcoef(y[ok], base[ok])[0, 1])
        rows.append({"d": float(d), "adf_stat": float(stat), "p_value": float(p),
                     "crit_5pct": float(crit["5%"]), "corr": corr,
                     "width": len(ffd_weights(float(d), threshold))})
        if chosen is None and p < p_value:
            chosen, chosen_p = float(d), float(p)
    return FFDSearch(chosen, chosen_p, pd.DataFrame(rows).set_index("d"))
