"""Numba kernels for the feature kinds that are not plain indicators.

Each kernel is the arithmetic reference for one streaming step in
``feature_kinds.py``; the two perform the same float64 operations in the same
order, so batch and online features agree bit for bit. Two rules make that hold:

- ``fastmath`` stays off (no reassociation, no fused multiply-add), as in
  ``engine/indicators/series_nb.py``;
- transcendental functions (log, sin, cos) are computed here, never with numpy
  ufuncs: numba calls the C library's ``log``/``sin``/``cos`` like Python's
  ``math`` module does, while numpy's vectorised ``np.log`` rounds differently in
  about one value in ten thousand.

Conventions: a price is usable when it is finite and > 0, any other value is a
*hole*; a windowed kernel gives NaN until its window holds only usable values
(the indicator convention of ``engine/indicators/base.py``). No kernel divides
by zero: degenerate ratios return a documented constant or NaN.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit


@njit(cache=True)
def _price_ok(v):
    return v - v == 0.0 and v > 0.0


@njit(cache=True)
def ret_nb(close, horizon, log):
    """close[t] / close[t - horizon] - 1 (or its log); NaN unless the horizon+1 closes are usable.

    >>> ret_nb(np.array([100.0, 110.0, np.nan, 121.0, 133.1]), 1, False).round(6).tolist()
    [nan, 0.1, nan, nan, 0.1]
    """
    n = close.shape[0]
    out = np.full(n, np.nan)
    good = 0
    for i in range(n):
        v = close[i]
        if _price_ok(v):
            good += 1
        else:
            good = 0
        if good > horizon:
            r = v / close[i - horizon]
            out[i] = math.log(r) if log else r - 1.0
    return out


@njit(cache=True)
def hl_log_sq_nb(high, low):
    """Per bar ln(high / low) ** 2 (Parkinson's term); NaN for a hole or high < low."""
    n = high.shape[0]
    out = np.full(n, np.nan)
    for i in range(n):
        h = high[i]
        lo = low[i]
        if _price_ok(h) and _price_ok(lo) and h >= lo:
            a = math.log(h / lo)
            out[i] = a * a
    return out


@njit(cache=True)
def gk_term_nb(open_, high, low, close, k):
    """Per bar 0.5 * ln(h/l)**2 - k * ln(c/o)**2 with k = 2 ln 2 - 1 (Garman-Klass)."""
    n = high.shape[0]
    out = np.full(n, np.nan)
    for i in range(n):
        o = open_[i]
        h = high[i]
        lo = low[i]
        c = close[i]
        if _price_ok(o) and _price_ok(h) and _price_ok(lo) and _price_ok(c) and h >= lo:
            a = math.log(h / lo)
            b = math.log(c / o)
            out[i] = 0.5 * a * a - k * b * b
    return out


@njit(cache=True)
def sqrt_scaled_nb(mean, scale, clip):
    """sqrt(mean / scale), with negative means clipped to 0 when ``clip``; NaN stays NaN."""
    n = mean.shape[0]
    out = np.full(n, np.nan)
    for i in range(n):
        m = mean[i] / scale
        if clip and m < 0.0:
            m = 0.0
        if m >= 0.0:
            out[i] = math.sqrt(m)
    return out


@njit(cache=True)
def ratio_nb(a, b, minus_one):
    """a / b (minus 1 when ``minus_one``); NaN where b == 0 or either is NaN."""
    n = a.shape[0]
    out = np.full(n, np.nan)
    for i in range(n):
        d = b[i]
        if d != 0.0:
            r = a[i] / d
            out[i] = r - 1.0 if minus_one else r
    return out


@njit(cache=True)
def position_nb(x, lower, upper):
    """(x - lower) / (upper - lower): 0 at the lower band, 1 at the upper, 0.5 if they meet."""
    n = x.shape[0]
    out = np.full(n, np.nan)
    for i in range(n):
        w = upper[i] - lower[i]
        if w > 0.0 or w < 0.0:
            out[i] = (x[i] - lower[i]) / w
        elif w == 0.0 and x[i] - x[i] == 0.0:
            out[i] = 0.5
    return out


@njit(cache=True)
def diff_nb(a, b):
    """a - b element-wise (kept here so every derived value has one reference kernel)."""
    n = a.shape[0]
    out = np.empty(n)
    for i in range(n):
        out[i] = a[i] - b[i]
    return out


@njit(cache=True)
def candle_nb(open_, high, low, close, which):
    """Candle shape per bar: 0 body/range (signed), 1 upper wick/range, 2 lower wick/range,
    3 close location ((c-l) - (h-c)) / range, 4 range / close. Ratios over a zero range are 0."""
    n = high.shape[0]
    out = np.full(n, np.nan)
    for i in range(n):
        o = open_[i]
        h = high[i]
        lo = low[i]
        c = close[i]
        if not (_price_ok(o) and _price_ok(h) and _price_ok(lo) and _price_ok(c)):
            continue
        rng = h - lo
        if which == 4:
            out[i] = rng / c
        elif rng <= 0.0:
            out[i] = 0.0
        elif which == 0:
            out[i] = (c - o) / rng
        elif which == 1:
            out[i] = (h - max(o, c)) / rng
        elif which == 2:
            out[i] = (min(o, c) - lo) / rng
        else:
            out[i] = ((c - lo) - (h - c)) / rng
    return out


@njit(cache=True)
def rank_nb(x, period):
    """Fraction of the last ``period`` values (current included) that are <= the current one.

    In (0, 1]: 1 means the current value is the window's highest. NaN until the
    window holds only finite values. O(n * period).
    """
    n = x.shape[0]
    out = np.full(n, np.nan)
    good = 0
    for i in range(n):
        v = x[i]
        if v - v == 0.0:
            good += 1
        else:
            good = 0
        if good >= period:
            count = 0
            for j in range(i - period + 1, i + 1):
                if x[j] <= v:
                    count += 1
            out[i] = count / period
    return out


@njit(cache=True)
def cycle_nb(ts, period_ms, offset_ms, use_cos, two_pi):
    """sin or cos of 2*pi * ((ts + offset) mod period) / period, for calendar cycles."""
    n = ts.shape[0]
    out = np.empty(n)
    for i in range(n):
        frac = ((ts[i] + offset_ms) % period_ms) / period_ms
        a = two_pi * frac
        out[i] = math.cos(a) if use_cos else math.sin(a)
    return out
