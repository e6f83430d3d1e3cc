"""Performance metrics: pure functions over numpy arrays.

Conventions, decided here once:

- **Returns** are simple per-step returns ``r[i] = e[i+1] / e[i] - 1`` of an
  equity series ``e``; a step is one bar (one distinct bar-close time).
- **Years** are 365 days (crypto trades 24/7); ``bars_per_year`` comes from
  :func:`tradeloom.engine.timeframes.bars_per_year`.
- **Undefined ratios are NaN.** A ratio whose denominator is zero or that needs
  more data than there is (Sharpe, Sortino, volatility with fewer than 2 returns;
  Sharpe with zero volatility, e.g. flat equity; Calmar with no drawdown; win
  rate with no trades) is ``nan``, never 0 and never inf. vectorbt returns
  ``inf`` for zero volatility; we prefer "undefined" to a number that would top
  every ranking in a sweep.
- **Profit factor is the one exception:** gross wins over gross losses is
  ``inf`` when there are wins and no losses (the value trading reports show),
  ``nan`` with neither. Results files store non-finite floats as the strings
  ``"inf"``, ``"-inf"`` and ``"nan"`` so the JSON stays strict.
- **Sortino** uses the downside deviation ``sqrt(mean(min(r, 0)^2))`` over *all*
  returns (target 0, divisor n, not the count of negative returns), as vectorbt
  and empyrical do.
- **Drawdown** is a positive fraction (0.1 = 10 % below the running peak).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import numpy.typing as npt

from tradeloom.engine.timeframes import MS_PER_DAY

FloatArray = npt.NDArray[np.float64]
MS_PER_YEAR = 365 * MS_PER_DAY
NAN = float("nan")


def _f(values: npt.ArrayLike) -> FloatArray:
    return np.asarray(values, dtype=np.float64)


def step_returns(equity: npt.ArrayLike) -> FloatArray:
    """Simple returns between consecutive equity values: ``e[1:] / e[:-1] - 1``.

    >>> step_returns([100.0, 110.0, 99.0, 121.0]).round(6).tolist()
    [0.1, -0.1, 0.222222]
    """
    e = _f(equity)
    if e.size < 2:
        return np.empty(0, dtype=np.float64)
    r = e[1:] / e[:-1]
    r -= 1.0  # in place: the same operation without a second full-length temporary
    return r


def total_return(equity: npt.ArrayLike) -> float:
    """``e[-1] / e[0] - 1``; NaN for an empty series.

    >>> round(total_return([100.0, 110.0, 99.0, 121.0]), 12)
    0.21
    """
    e = _f(equity)
    if e.size == 0:
        return NAN
    return float(e[-1] / e[0] - 1.0)


def cagr(equity: npt.ArrayLike, ts: npt.ArrayLike) -> float:
    """Compound annual growth rate ``(e[-1]/e[0]) ** (1/years) - 1``.

    ``years = (ts[-1] - ts[0]) / (365 days in ms)``. NaN when no time passes;
    -1.0 when the account ended at or below zero; ``inf`` when a short run's growth
    compounds past float range (a few hours annualised), rather than a warning.

    >>> round(cagr([100.0, 121.0], [0, 2 * 365 * 86_400_000]), 12)
    0.1
    """
    e = _f(equity)
    t = np.asarray(ts, dtype=np.int64)
    if e.size < 2 or t[-1] <= t[0]:
        return NAN
    growth = e[-1] / e[0]
    if growth <= 0:
        return -1.0
    years = (int(t[-1]) - int(t[0])) / MS_PER_YEAR
    log_annual = np.log(growth) / years
    if log_annual > 709.0:  # exp overflows float64 beyond ~709.78
        return float("inf")
    return float(growth ** (1.0 / years) - 1.0)


def std_or_nan(returns: npt.ArrayLike) -> float:
    """``std(r, ddof=1)``, NaN for fewer than 2 returns (shared by volatility and Sharpe).

    >>> std_or_nan([1.0])
    nan
    """
    r = _f(returns)
    if r.size < 2:
        return NAN
    return float(np.std(r, ddof=1))


def volatility(returns: npt.ArrayLike, bars_per_year: float, *, std: float | None = None) -> float:
    """Annualised volatility ``std(r, ddof=1) * sqrt(bars_per_year)``; NaN for < 2 returns.

    ``std``, when given, is :func:`std_or_nan` of the same returns (saves a pass).

    >>> round(volatility([0.01, -0.01], 365.0), 12) == round(0.02 / 2 ** 0.5 * 365 ** 0.5, 12)
    True
    """
    r = _f(returns)
    if r.size < 2:
        return NAN
    if std is None:
        std = float(np.std(r, ddof=1))
    return float(std * math.sqrt(bars_per_year))


def sharpe(returns: npt.ArrayLike, bars_per_year: float, *, std: float | None = None) -> float:
    """Sharpe ratio, risk-free 0: ``mean(r) / std(r, ddof=1) * sqrt(bars_per_year)``.

    NaN with fewer than 2 returns or zero volatility (flat equity). ``std``, when
    given, is :func:`std_or_nan` of the same returns (saves a pass).

    >>> round(sharpe([0.1, -0.1, 0.3], 1.0), 12)
    0.5
    >>> sharpe([0.0, 0.0, 0.0], 365.0)
    nan
    """
    r = _f(returns)
    if r.size < 2:
        return NAN
    if std is None:
        std = float(np.std(r, ddof=1))
    if not std > 0:
        return NAN
    return float(np.mean(r) / std * math.sqrt(bars_per_year))


def downside_deviation(returns: npt.ArrayLike) -> float:
    """``sqrt(mean(min(r, 0)^2))`` over all returns (target 0, divisor n); NaN if empty.

    >>> downside_deviation([0.1, -0.2, 0.3, 0.0])
    0.1
    """
    r = _f(returns)
    if r.size == 0:
        return NAN
    down = np.minimum(r, 0.0)
    np.square(down, out=down)  # what ``** 2`` computes, in place
    return float(np.sqrt(np.mean(down)))


def sortino(returns: npt.ArrayLike, bars_per_year: float) -> float:
    """Sortino ratio ``mean(r) / downside_deviation(r) * sqrt(bars_per_year)``.

    NaN with fewer than 2 returns or no losing step (zero downside deviation).

    >>> round(sortino([0.1, -0.2, 0.3, 0.0], 1.0), 12)
    0.5
    """
    r = _f(returns)
    if r.size < 2:
        return NAN
    dd = downside_deviation(r)
    if not dd > 0:
        return NAN
    return float(np.mean(r) / dd * math.sqrt(bars_per_year))


def drawdown_series(equity: npt.ArrayLike) -> FloatArray:
    """Fraction below the running peak at each step: ``1 - e / cummax(e)``.

    >>> drawdown_series([100.0, 110.0, 99.0, 121.0]).round(12).tolist()
    [0.0, 0.0, 0.1, 0.0]
    """
    e = _f(equity)
    if e.size == 0:
        return e
    dd = np.maximum.accumulate(e)
    np.divide(e, dd, out=dd)  # in place: each full-length temporary costs page faults
    np.subtract(1.0, dd, out=dd)
    return dd


def max_drawdown(equity: npt.ArrayLike) -> float:
    """Largest drawdown as a positive fraction (0.1 = 10 %); 0.0 for a single value.

    >>> round(max_drawdown([100.0, 110.0, 99.0, 121.0]), 12)
    0.1
    """
    dd = drawdown_series(equity)
    if dd.size == 0:
        return NAN
    return float(dd.max())


def max_drawdown_duration(equity: npt.ArrayLike, ts: npt.ArrayLike) -> tuple[int, int]:
    """Longest time under water as ``(milliseconds, steps)``.

    Measured from the peak a drawdown starts at to the first step whose equity
    is back at or above that peak, or to the last step if it never recovers.
    ``(0, 0)`` when equity never falls below a previous peak.

    >>> max_drawdown_duration([100.0, 110.0, 99.0, 105.0, 121.0, 120.0], [0, 1, 2, 3, 4, 5])
    (3, 3)
    """
    e = _f(equity)
    t = np.asarray(ts, dtype=np.int64)
    if e.size != t.size:
        raise ValueError(f"equity has {e.size} values but ts has {t.size}; pass aligned arrays")
    if e.size == 0 or np.isnan(e).any():
        return _max_drawdown_duration_loop(e, t)  # NaN never makes a peak: the loop's rule
    # Peaks are the steps at or above every earlier value (the loop's ``e[i] >= e[peak]``).
    # A drawdown runs from a peak to the next peak when at least one step lies between them,
    # or from the last peak to the last step.
    peaks = np.flatnonzero(e >= np.maximum.accumulate(e))
    ends = np.append(peaks[1:], e.size - 1)
    under = ends - peaks > (np.arange(peaks.size) < peaks.size - 1)
    if not under.any():
        return 0, 0
    starts, ends = peaks[under], ends[under]
    return int((t[ends] - t[starts]).max()), int((ends - starts).max())


def drawdown_stats(
    equity: npt.ArrayLike, take_ts: Callable[[npt.NDArray[np.intp]], npt.NDArray[np.int64]]
) -> tuple[float, tuple[int, int]]:
    """``(max_drawdown(e), max_drawdown_duration(e, ts))`` with one running-peak pass.

    ``take_ts(idx)`` returns ``ts[idx]`` (so the caller need not build ``ts``).

    >>> e, ts = [100.0, 110.0, 99.0, 105.0, 121.0, 120.0], np.arange(6) * 10
    >>> drawdown_stats(e, ts.__getitem__) == (max_drawdown(e), max_drawdown_duration(e, ts))
    True
    """
    e = _f(equity)
    if e.size == 0 or np.isnan(e).any():
        return max_drawdown(e), _max_drawdown_duration_loop(e, take_ts(np.arange(e.size)))
    peak = np.maximum.accumulate(e)
    # max_drawdown_duration's rule, on the same running peak
    peaks = np.flatnonzero(e >= peak)
    ends = np.append(peaks[1:], e.size - 1)
    under = ends - peaks > (np.arange(peaks.size) < peaks.size - 1)
    if under.any():
        starts, ends = peaks[under], ends[under]
        duration = int((take_ts(ends) - take_ts(starts)).max()), int((ends - starts).max())
    else:
        duration = 0, 0
    # drawdown_series, in place on the peak
    np.divide(e, peak, out=peak)
    np.subtract(1.0, peak, out=peak)
    return float(peak.max()), duration


def _max_drawdown_duration_loop(e: FloatArray, t: npt.NDArray[np.int64]) -> tuple[int, int]:
    """The reference definition, one step at a time (used when ``e`` has NaN)."""
    best_ms, best_steps = 0, 0
    peak_i = 0
    under = False
    for i in range(1, e.size):
        if e[i] >= e[peak_i]:
            if under:
                best_ms = max(best_ms, int(t[i] - t[peak_i]))
                best_steps = max(best_steps, i - peak_i)
                under = False
            peak_i = i
        else:
            under = True
    if under:
        best_ms = max(best_ms, int(t[-1] - t[peak_i]))
        best_steps = max(best_steps, e.size - 1 - peak_i)
    return best_ms, best_steps


def calmar(cagr_value: float, max_drawdown_value: float) -> float:
    """``cagr / max_drawdown``; NaN when there was no drawdown.

    >>> calmar(0.2, 0.1)
    2.0
    """
    if not max_drawdown_value > 0:
        return NAN
    return float(cagr_value / max_drawdown_value)


def win_rate(pnl: npt.ArrayLike) -> float:
    """Fraction of trades with ``pnl > 0`` (break-even counts as not won); NaN with none.

    >>> win_rate([10.0, -5.0, 0.0, 2.0])
    0.5
    """
    p = _f(pnl)
    if p.size == 0:
        return NAN
    return float(np.count_nonzero(p > 0) / p.size)


def profit_factor(pnl: npt.ArrayLike) -> float:
    """Gross wins / gross losses: ``sum(p[p>0]) / -sum(p[p<0])``.

    ``inf`` with wins and no losses; NaN with neither (no trades, or all zero).

    >>> profit_factor([10.0, -5.0, 0.0, 2.0])
    2.4
    >>> profit_factor([1.0])
    inf
    """
    p = _f(pnl)
    wins = float(p[p > 0].sum())
    losses = float(-p[p < 0].sum())
    if losses > 0:
        return wins / losses
    return math.inf if wins > 0 else NAN


def mean_or_nan(values: npt.ArrayLike) -> float:
    """Mean, or NaN for an empty array (used for average trade PnL and return).

    >>> mean_or_nan([])
    nan
    """
    v = _f(values)
    return float(v.mean()) if v.size else NAN


def max_or_nan(values: npt.ArrayLike) -> float:
    """Maximum, or NaN for an empty array (best trade).

    >>> max_or_nan([1.0, 3.0])
    3.0
    """
    v = _f(values)
    return float(v.max()) if v.size else NAN


def min_or_nan(values: npt.ArrayLike) -> float:
    """Minimum, or NaN for an empty array (worst trade).

    >>> min_or_nan([1.0, 3.0])
    1.0
    """
    v = _f(values)
    return float(v.min()) if v.size else NAN


def exposure_time(exposure: npt.ArrayLike) -> float:
    """Fraction of steps with a position on (gross exposure > 0); NaN with no steps.

    >>> exposure_time([0.0, 50.0, 60.0, 0.0])
    0.5
    """
    x = _f(exposure)
    if x.size == 0:
        return NAN
    return float(np.count_nonzero(x > 0) / x.size)


def turnover(traded_notional: float, equity: npt.ArrayLike) -> float:
    """Traded notional (buys + sells, quote) over average equity; NaN with no equity.

    >>> turnover(300.0, [100.0, 200.0])
    2.0
    """
    e = _f(equity)
    if e.size == 0 or not e.mean() > 0:
        return NAN
    return float(traded_notional / e.mean())
