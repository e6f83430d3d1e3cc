"""Numba batch kernels for indicators on several bar fields (high, low, close, volume, ts).

Same rules as ``indicators_nb.py``: float64 arrays in and out, no fastmath, no
division by zero, a non-finite value in any input field is a hole; each kernel is
the arithmetic reference of a class in ``indicators_stream_bars.py``.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from tradeloom.engine.indicators.series_nb import _nadd, rolling_extreme_nb


@njit(cache=True)
def _true_range(high, low, prev_close):
    """Wilder's true range, in TA-Lib's TRANGE operation order."""
    tr = high - low
    a = abs(prev_close - high)
    if a > tr:  # noqa: PLR1730 - TA-Lib's exact comparisons, no builtin call
        tr = a
    b = abs(prev_close - low)
    if b > tr:  # noqa: PLR1730
        tr = b
    return tr


@njit(cache=True)
def atr_nb(high, low, close, period):
    """Wilder's ATR: mean of the first ``period`` true ranges, then (atr*(p-1) + tr) / p."""
    n = close.shape[0]
    out = np.full(n, np.nan)
    prev_c = 0.0
    acc = 0.0
    atr = 0.0
    cnt = -1
    for i in range(n):
        h = high[i]
        lw = low[i]
        cl = close[i]
        if not (h - h == 0.0 and lw - lw == 0.0 and cl - cl == 0.0):
            cnt = -1
            continue
        if cnt < 0:
            prev_c = cl
            acc = 0.0
            cnt = 0
            continue
        tr = _true_range(h, lw, prev_c)
        prev_c = cl
        cnt += 1
        if cnt < period:
            acc += tr
        elif cnt == period:
            acc += tr
            atr = acc / period
            out[i] = atr
        else:
            atr = (atr * (period - 1) + tr) / period
            out[i] = atr
    return out


@njit(cache=True)
def stoch_fastk_nb(high, low, close, period):
    """Raw %K = 100 * (close - lowest low) / (highest high - lowest low); 50 if the range is 0.

    A hole in any of the three inputs resets both extremes.
    """
    n = close.shape[0]
    hm = high.copy()
    lm = low.copy()
    for i in range(n):
        if not (high[i] - high[i] == 0.0 and low[i] - low[i] == 0.0
                and close[i] - close[i] == 0.0):
            hm[i] = np.nan
            lm[i] = np.nan
    hh = rolling_extreme_nb(hm, period, True)
    ll = rolling_extreme_nb(lm, period, False)
    out = np.full(n, np.nan)
    for i in range(n):
        h = hh[i]
        lw = ll[i]
        if not np.isnan(h):
            rng = h - lw
            if rng != 0.0:
                out[i] = 100.0 * (close[i] - lw) / rng
            else:
                out[i] = 50.0
    return out


@njit(cache=True)
def adx_nb(high, low, close, period):
    """Wilder's ADX, +DI and -DI in TA-Lib's operation order (see the module docstring).

    DI is 0 when the smoothed true range is 0; DX is 0 when +DI + -DI is 0.
    """
    n = close.shape[0]
    adx = np.full(n, np.nan)
    pdi = np.full(n, np.nan)
    mdi = np.full(n, np.nan)
    ph = 0.0
    pl = 0.0
    pc = 0.0
    pdm = 0.0
    mdm = 0.0
    tr = 0.0
    sdx = 0.0
    ax = 0.0
    cnt = -1
    for i in range(n):
        h = high[i]
        lw = low[i]
        cl = close[i]
        if not (h - h == 0.0 and lw - lw == 0.0 and cl - cl == 0.0):
            cnt = -1
            continue
        if cnt < 0:
            ph = h
            pl = lw
            pc = cl
            pdm = 0.0
            mdm = 0.0
            tr = 0.0
            sdx = 0.0
            cnt = 0
            continue
        cnt += 1
        up = h - ph
        dn = pl - lw
        trv = _true_range(h, lw, pc)
        ph = h
        pl = lw
        pc = cl
        if cnt < period:
            if dn > 0 and up < dn:
                mdm += dn
            elif up > 0 and up > dn:
                pdm += up
            tr += trv
            continue
        mdm -= mdm / period
        pdm -= pdm / period
        if dn > 0 and up < dn:
            mdm += dn
        elif up > 0 and up > dn:
            pdm += up
        tr = tr - (tr / period) + trv
        if tr != 0.0:
            p = 100.0 * (pdm / tr)
            m = 100.0 * (mdm / tr)
        else:
            p = 0.0
            m = 0.0
        pdi[i] = p
        mdi[i] = m
        sdi = m + p
        if sdi != 0.0:
            dx = 100.0 * (abs(m - p) / sdi)
        else:
            dx = 0.0
        if cnt < 2 * period - 1:
            sdx += dx
        elif cnt == 2 * period - 1:
            sdx += dx
            ax = sdx / period
            adx[i] = ax
        else:
            ax = (ax * (period - 1) + dx) / period
            adx[i] = ax
    return adx, pdi, mdi


@njit(cache=True)
def obv_nb(close, volume):
    """On-balance volume, TA-Lib style: starts at the first bar's volume."""
    n = close.shape[0]
    out = np.full(n, np.nan)
    prev = 0.0
    obv = 0.0
    started = False
    for i in range(n):
        cl = close[i]
        vo = volume[i]
        if not (cl - cl == 0.0 and vo - vo == 0.0):
            started = False
            continue
        if not started:
            obv = vo
            started = True
        elif cl > prev:
            obv += vo
        elif cl < prev:
            obv -= vo
        prev = cl
        out[i] = obv
    return out


@njit(cache=True)
def vwap_nb(high, low, close, volume, period):
    """Rolling VWAP of the typical price (h + l + c) / 3 over ``period`` bars.

    Both sums are compensated; NaN when the window's volume is all zero.
    """
    n = close.shape[0]
    out = np.full(n, np.nan)
    sp = 0.0
    cp = 0.0
    sv = 0.0
    cv = 0.0
    cnt = 0
    zrun = 0
    for i in range(n):
        h = high[i]
        lw = low[i]
        cl = close[i]
        vo = volume[i]
        if not (h - h == 0.0 and lw - lw == 0.0 and cl - cl == 0.0 and vo - vo == 0.0):
            sp = 0.0
            cp = 0.0
            sv = 0.0
            cv = 0.0
            cnt = 0
            zrun = 0
            continue
        cnt += 1
        sp, cp = _nadd(sp, cp, ((h + lw + cl) / 3.0) * vo)
        sv, cv = _nadd(sv, cv, vo)
        if vo == 0.0:
            zrun += 1
        else:
            zrun = 0
        if cnt > period:
            j = i - period
            sp, cp = _nadd(sp, cp, -(((high[j] + low[j] + close[j]) / 3.0) * volume[j]))
            sv, cv = _nadd(sv, cv, -volume[j])
        if cnt >= period and zrun < period:
            den = sv + cv
            if den != 0.0:
                out[i] = (sp + cp) / den
    return out


@njit(cache=True)
def session_vwap_nb(ts, high, low, close, volume, session_ms, offset_ms):
    """VWAP of the typical price since the start of the UTC session holding each bar.

    A bar belongs to session ``(ts - offset_ms) // session_ms``; a change of session
    resets the sums. After a hole the rest of that session is NaN.
    """
    n = close.shape[0]
    out = np.full(n, np.nan)
    sp = 0.0
    cp = 0.0
    sv = 0.0
    cv = 0.0
    cur = np.int64(0)
    broken = False
    any_vol = False
    for i in range(n):
        sid = (ts[i] - offset_ms) // session_ms
        if i == 0 or sid != cur:
            cur = sid
            sp = 0.0
            cp = 0.0
            sv = 0.0
            cv = 0.0
            broken = False
            any_vol = False
        h = high[i]
        lw = low[i]
        cl = close[i]
        vo = volume[i]
        if not (h - h == 0.0 and lw - lw == 0.0 and cl - cl == 0.0 and vo - vo == 0.0):
            broken = True
        if broken:
            continue
        sp, cp = _nadd(sp, cp, ((h + lw + cl) / 3.0) * vo)
        sv, cv = _nadd(sv, cv, vo)
        if vo != 0.0:
            any_vol = True
        den = sv + cv
        if any_vol and den != 0.0:
            out[i] = (sp + cp) / den
    return out
