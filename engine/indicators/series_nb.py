"""Numba batch kernels for the technical indicators: float64 arrays in, arrays out.

Each kernel is the arithmetic reference for one streaming class
(``indicators_stream.py``, ``indicators_stream_bars.py``); the two perform the
same float64 operations in the same order and agree bit for bit. Conventions
(holes, warm-up, window sums, degenerate windows) are in ``indicators_base.py``.
Where TA-Lib has the indicator, the kernel follows TA-Lib's seeding and
operation order (``tests/regression/test_indicators_talib.py`` names the differences).

``fastmath`` is deliberately left off: it would let LLVM reorder sums and fuse
multiply-adds, and the streaming twins could no longer match. Divisions are
guarded so that no kernel divides by zero (numba would raise).
"""

from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True)
def _nadd(s, c, x):
    """Neumaier step: add ``x`` to the compensated sum ``(s, c)``; value is ``s + c``."""
    t = s + x
    if abs(s) >= abs(x):
        c += (s - t) + x
    else:
        c += (x - t) + s
    return t, c


@njit(cache=True)
def _window_sum(x, end, period):
    """Plain left-to-right sum of x[end-period+1 .. end] (the resync of a running sum)."""
    s = 0.0
    for j in range(end - period + 1, end + 1):
        s += x[j]
    return s


@njit(cache=True)
def sma_nb(x, period):
    """Simple moving average: running sum ``s = s + new - old``, resynchronised every
    ``period`` bars by summing the window afresh (so rounding cannot drift).

    A window of equal values averages to exactly that value (run counter), so two
    SMAs of different periods tie exactly on flat prices.
    """
    n = x.shape[0]
    out = np.full(n, np.nan)
    s = 0.0
    cnt = 0
    run = 0
    last = 0.0
    for i in range(n):
        v = x[i]
        if v - v != 0.0:
            s = 0.0
            cnt = 0
            run = 0
            continue
        o = x[i - period] if cnt >= period else 0.0
        s = s + v - o
        cnt += 1
        if cnt % period == 0:
            s = _window_sum(x, i, period)
        if run > 0 and v == last:
            run += 1
        else:
            run = 1
        last = v
        if cnt >= period:
            if run >= period:
                out[i] = v
            else:
                out[i] = s / period
    return out


@njit(cache=True)
def ema_nb(x, period):
    """EMA with k = 2 / (period + 1), seeded by the plain mean of the first ``period`` values.

    Matches TA-Lib's EMA (default compatibility): ``e = (x - e) * k + e``.
    """
    n = x.shape[0]
    out = np.full(n, np.nan)
    k = 2.0 / (period + 1)
    acc = 0.0
    e = 0.0
    cnt = 0
    for i in range(n):
        v = x[i]
        if v - v != 0.0:
            acc = 0.0
            cnt = 0
            continue
        cnt += 1
        if cnt < period:
            acc += v
        elif cnt == period:
            acc += v
            e = acc / period
            out[i] = e
        else:
            e = (v - e) * k + e
            out[i] = e
    return out


@njit(cache=True)
def wma_nb(x, period):
    """Linearly weighted moving average (weights 1..period, newest heaviest).

    Keeps the plain window sum S and the weighted sum W, both compensated; when the
    window is full, W += -S (every weight drops by one) then W += period * x.
    """
    n = x.shape[0]
    out = np.full(n, np.nan)
    div = float(period * (period + 1) // 2)
    s = 0.0
    c = 0.0
    ws = 0.0
    wc = 0.0
    cnt = 0
    for i in range(n):
        v = x[i]
        if v - v != 0.0:
            s = 0.0
            c = 0.0
            ws = 0.0
            wc = 0.0
            cnt = 0
            continue
        cnt += 1
        if cnt <= period:
            ws, wc = _nadd(ws, wc, cnt * v)
            s, c = _nadd(s, c, v)
        else:
            ws, wc = _nadd(ws, wc, -(s + c))
            ws, wc = _nadd(ws, wc, period * v)
            s, c = _nadd(s, c, v)
            s, c = _nadd(s, c, -x[i - period])
        if cnt >= period:
            out[i] = (ws + wc) / div
    return out


@njit(cache=True)
def rsi_nb(x, period):
    """Wilder's RSI in TA-Lib's operation order; 50 when there are no gains and no losses."""
    n = x.shape[0]
    out = np.full(n, np.nan)
    prev = 0.0
    g = 0.0
    lo = 0.0
    cnt = -1
    for i in range(n):
        v = x[i]
        if v - v != 0.0:
            cnt = -1
            continue
        if cnt < 0:
            prev = v
            g = 0.0
            lo = 0.0
            cnt = 0
            continue
        d = v - prev
        prev = v
        if cnt < period:
            if d < 0:
                lo -= d
            else:
                g += d
            cnt += 1
            if cnt < period:
                continue
            lo /= period
            g /= period
        else:
            lo *= period - 1
            g *= period - 1
            if d < 0:
                lo -= d
            else:
                g += d
            lo /= period
            g /= period
        tot = g + lo
        if tot != 0.0:
            out[i] = 100.0 * (g / tot)
        else:
            out[i] = 50.0
    return out


@njit(cache=True)
def _window_moments(x, end, period):
    """Window sum, mean and sum of squared deviations of x[end-period+1 .. end], afresh."""
    s = _window_sum(x, end, period)
    m = s / period
    q = 0.0
    for j in range(end - period + 1, end + 1):
        dd = x[j] - m
        q += dd * dd
    return s, m, q


@njit(cache=True)
def mean_var_nb(x, period, ddof):
    """Rolling mean (bit-identical to ``sma_nb``) and variance (Welford, ``ddof``).

    The variance is exactly 0 when all ``period`` values are equal and is never
    negative. Every ``period`` bars the Welford state is recomputed from the window.
    """
    n = x.shape[0]
    mean = np.full(n, np.nan)
    var = np.full(n, np.nan)
    s = 0.0
    wm = 0.0
    m2 = 0.0
    nw = 0
    cnt = 0
    run = 0
    last = 0.0
    for i in range(n):
        v = x[i]
        if v - v != 0.0:
            s = 0.0
            wm = 0.0
            m2 = 0.0
            nw = 0
            cnt = 0
            run = 0
            continue
        o = x[i - period] if cnt >= period else 0.0
        s = s + v - o
        cnt += 1
        nw += 1
        d = v - wm
        wm += d / nw
        m2 += d * (v - wm)
        if run > 0 and v == last:
            run += 1
        else:
            run = 1
        last = v
        if cnt > period:
            nw -= 1
            d = o - wm
            wm -= d / nw
            m2 -= d * (o - wm)
        if cnt >= period:
            if cnt % period == 0:
                s, wm, m2 = _window_moments(x, i, period)
            if run >= period:
                mean[i] = v
            else:
                mean[i] = s / period
            if run >= period or m2 <= 0.0:
                var[i] = 0.0
            else:
                var[i] = m2 / (period - ddof)
    return mean, var


@njit(cache=True)
def zscore_nb(x, period):
    """(x - rolling mean) / rolling population std; 0 where the std is 0."""
    mean, var = mean_var_nb(x, period, 0)
    n = x.shape[0]
    out = np.full(n, np.nan)
    for i in range(n):
        vr = var[i]
        if vr > 0.0:
            out[i] = (x[i] - mean[i]) / np.sqrt(vr)
        elif vr == 0.0:
            out[i] = 0.0
    return out


@njit(cache=True)
def log_returns_nb(x):
    """log(x[i] / x[i-1]); NaN at the first bar and wherever either price is not finite and > 0."""
    n = x.shape[0]
    out = np.full(n, np.nan)
    prev = np.nan
    for i in range(n):
        v = x[i]
        if v - v == 0.0 and v > 0.0:
            if not np.isnan(prev):
                out[i] = np.log(v / prev)
            prev = v
        else:
            prev = np.nan
    return out


@njit(cache=True)
def rolling_extreme_nb(x, period, is_max):
    """Rolling max (``is_max``) or min of the window ending at each bar (monotonic deque)."""
    n = x.shape[0]
    out = np.full(n, np.nan)
    dq = np.empty(n, dtype=np.int64)
    head = 0
    tail = 0
    cnt = 0
    for i in range(n):
        v = x[i]
        if v - v != 0.0:
            head = 0
            tail = 0
            cnt = 0
            continue
        cnt += 1
        if is_max:
            while tail > head and x[dq[tail - 1]] <= v:
                tail -= 1
        else:
            while tail > head and x[dq[tail - 1]] >= v:
                tail -= 1
        dq[tail] = i
        tail += 1
        if dq[head] <= i - period:
            head += 1
        if cnt >= period:
            out[i] = x[dq[head]]
    return out


@njit(cache=True)
def macd_nb(x, fast, slow, signal):
    """MACD with TA-Lib's seeding: both EMAs seeded at the ``slow``-th bar.

    The slow EMA starts from the mean of the first ``slow`` values, the fast EMA
    from the mean of the last ``fast`` of them; the signal EMA starts from the
    mean of the first ``signal`` MACD values.
    """
    n = x.shape[0]
    line = np.full(n, np.nan)
    sig = np.full(n, np.nan)
    hist = np.full(n, np.nan)
    kf = 2.0 / (fast + 1)
    ks = 2.0 / (slow + 1)
    kg = 2.0 / (signal + 1)
    ef = 0.0
    es = 0.0
    g = 0.0
    gacc = 0.0
    cnt = 0
    for i in range(n):
        v = x[i]
        if v - v != 0.0:
            cnt = 0
            continue
        cnt += 1
        if cnt < slow:
            continue
        if cnt == slow:
            a = 0.0
            for j in range(i - fast + 1, i + 1):
                a += x[j]
            ef = a / fast
            b = 0.0
            for j in range(i - slow + 1, i + 1):
                b += x[j]
            es = b / slow
            gacc = 0.0
        else:
            ef = (v - ef) * kf + ef
            es = (v - es) * ks + es
        m = ef - es
        line[i] = m
        sc = cnt - slow + 1
        if sc < signal:
            gacc += m
        elif sc == signal:
            gacc += m
            g = gacc / signal
            sig[i] = g
            hist[i] = m - g
        else:
            g = (m - g) * kg + g
            sig[i] = g
            hist[i] = m - g
    return line, sig, hist
