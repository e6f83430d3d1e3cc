"""Streaming rolling statistics: Bollinger bands, z-score, realized volatility.

Same contract as ``indicators_stream.py``; the twins of
``indicators_nb.mean_var_nb`` (mean bit-identical to :class:`SMA`, Welford
variance with a periodic exact recompute and exact zero on flat windows).
"""

from __future__ import annotations

import math

from tradeloom.engine.indicators.base import NAN, BBandsResult, check_period, check_real
from tradeloom.engine.indicators.stream import _Multi, _Single


class _MeanVar:
    """Rolling mean and variance, the twin of :func:`indicators_nb.mean_var_nb`."""

    __slots__ = (
        "_buf",
        "_cnt",
        "_last",
        "_m2",
        "_nw",
        "_pos",
        "_run",
        "_s",
        "_wm",
        "ddof",
        "period",
    )

    def __init__(self, period: int, ddof: int) -> None:
        self.period = period
        self.ddof = ddof
        self.reset()

    def reset(self) -> None:
        self._buf = [0.0] * self.period
        self._pos = 0
        self._cnt = 0
        self._s = self._wm = self._m2 = 0.0
        self._nw = 0
        self._run = 0
        self._last = 0.0

    def update(self, v: float) -> tuple[float, float]:
        """Add one value; return (mean, variance) of the window, NaNs in warm-up."""
        if v - v != 0.0:
            self.reset()
            return NAN, NAN
        p = self.period
        cnt = self._cnt + 1
        self._cnt = cnt
        buf = self._buf
        pos = self._pos
        o = buf[pos]  # 0.0 until the window is full
        s = self._s + v - o
        nw = self._nw + 1
        wm = self._wm
        d = v - wm
        wm += d / nw
        m2 = self._m2 + d * (v - wm)
        run = self._run + 1 if (self._run > 0 and v == self._last) else 1
        self._run = run
        self._last = v
        buf[pos] = v
        pos += 1
        if pos == p:
            pos = 0
        self._pos = pos
        if cnt > p:
            nw -= 1
            d = o - wm
            wm -= d / nw
            m2 -= d * (o - wm)
        self._nw = nw
        if cnt < p:
            self._s = s
            self._wm = wm
            self._m2 = m2
            return NAN, NAN
        if cnt % p == 0:
            window = buf[pos:] + buf[:pos]
            s = 0.0
            for w in window:
                s += w
            wm = s / p
            m2 = 0.0
            for w in window:
                dd = w - wm
                m2 += dd * dd
        self._s = s
        self._wm = wm
        self._m2 = m2
        mean = v if run >= p else s / p
        if run >= p or m2 <= 0.0:
            return mean, 0.0
        return mean, m2 / (p - self.ddof)


class BBands(_Multi):
    """Bollinger bands: SMA mid +/- ``nbdev`` population standard deviations; warm-up ``period - 1``.

    ``mid`` is bit-identical to :class:`SMA` of the same period.

    >>> b = BBands(2, nbdev=1.0)
    >>> [b.update(x) for x in (1.0, 3.0)][-1]
    BBandsResult(mid=2.0, upper=3.0, lower=1.0)
    """

    __slots__ = ("_mv", "nbdev", "period", "value", "warmup")

    def __init__(self, period: int = 20, nbdev: float = 2.0) -> None:
        self.period = check_period("bbands", "period", period, 2)
        self.nbdev = check_real("bbands", "nbdev", nbdev)
        self.warmup = self.period - 1
        self._mv = _MeanVar(self.period, 0)
        self.reset()

    def reset(self) -> None:
        """Forget all values; the next update starts a new warm-up."""
        self._mv.reset()
        self.value = BBandsResult(NAN, NAN, NAN)

    def update(self, x: float) -> BBandsResult:
        """Add one close; return (mid, upper, lower)."""
        mid, var = self._mv.update(x)
        std = NAN if math.isnan(var) else math.sqrt(var)
        k = self.nbdev * std
        v = BBandsResult(mid, mid + k, mid - k)
        self.value = v
        return v


class ZScore(_Single):
    """(x - rolling mean) / rolling population std over ``period`` values; warm-up ``period - 1``.

    0 when the window has no dispersion (flat prices): the value sits at its mean.

    >>> z = ZScore(2)
    >>> [z.update(x) for x in (1.0, 3.0, 3.0)]
    [nan, 1.0, 0.0]
    """

    __slots__ = ("_mv", "period", "value", "warmup")

    def __init__(self, period: int) -> None:
        self.period = check_period("zscore", "period", period, 2)
        self.warmup = self.period - 1
        self._mv = _MeanVar(self.period, 0)
        self.value = NAN

    def reset(self) -> None:
        """Forget all values; the next update starts a new warm-up."""
        self._mv.reset()
        self.value = NAN

    def update(self, x: float) -> float:
        """Add one value; return its z-score within the window (NaN in warm-up)."""
        mean, var = self._mv.update(x)
        if var > 0.0:
            z = (x - mean) / math.sqrt(var)
        elif var == 0.0:
            z = 0.0
        else:
            z = NAN
        self.value = z
        return z


class RealizedVol(_Single):
    """Sample std (ddof=1) of the last ``period`` log returns, times sqrt(periods_per_year).

    Warm-up ``period`` (period + 1 prices). A price that is not finite and > 0 is
    a hole. Flat prices give exactly 0.

    >>> rv = RealizedVol(2)
    >>> [round(v, 6) for v in (rv.update(x) for x in (100.0, 110.0, 99.0))]
    [nan, nan, 0.141896]
    """

    __slots__ = ("_af", "_mv", "_prev", "period", "periods_per_year", "value", "warmup")

    def __init__(self, period: int, periods_per_year: float | None = None) -> None:
        self.period = check_period("realized_vol", "period", period, 2)
        if periods_per_year is None:
            self._af = 1.0
        else:
            self._af = math.sqrt(
                check_real("realized_vol", "periods_per_year", periods_per_year, positive=True)
            )
        self.periods_per_year = periods_per_year
        self.warmup = self.period
        self._mv = _MeanVar(self.period, 1)
        self.reset()

    def reset(self) -> None:
        """Forget all values; the next update starts a new warm-up."""
        self._mv.reset()
        self._prev = NAN
        self.value = NAN

    def update(self, x: float) -> float:
        """Add one close; return the realized volatility (NaN in warm-up)."""
        prev = self._prev
        if x - x == 0.0 and x > 0.0:
            r = NAN if math.isnan(prev) else math.log(x / prev)
            self._prev = x
        else:
            r = NAN
            self._prev = NAN
        _, var = self._mv.update(r)
        v = NAN if math.isnan(var) else math.sqrt(var) * self._af
        self.value = v
        return v
