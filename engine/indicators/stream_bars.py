"""Streaming indicators on several bar fields (high, low, close, volume, ts).

Same contract as ``indicators_stream.py``: O(1) ``update`` per bar, bit-for-bit
equal to the batch kernels in ``indicators_nb.py``, NaN during warm-up, and a
non-finite value in *any* input field is a hole (see ``indicators_base.py``).
"""

from __future__ import annotations

from tradeloom.engine.indicators.base import (
    NAN,
    ADXResult,
    DonchianResult,
    KeltnerResult,
    StochResult,
    check_offset,
    check_period,
    check_real,
    neumaier_add,
)
from tradeloom.engine.indicators.stream import EMA, SMA, _Extreme, _Multi, _Single


def _true_range(high: float, low: float, prev_close: float) -> float:
    """Wilder's true range in TA-Lib's operation order (twin of ``indicators_nb._true_range``)."""
    tr = high - low
    a = abs(prev_close - high)
    if a > tr:  # noqa: PLR1730 - TA-Lib's exact comparisons, cheaper than max()
        tr = a
    b = abs(prev_close - low)
    if b > tr:  # noqa: PLR1730
        tr = b
    return tr


class ATR(_Single):
    """Wilder's average true range; warm-up ``period`` (the first bar has no true range).

    Seeded with the mean of the first ``period`` true ranges, then
    ``(atr * (period - 1) + tr) / period`` (TA-Lib's ATR).

    >>> a = ATR(2)
    >>> [a.update(h, l, c) for h, l, c in ((2.0, 1.0, 1.5), (3.0, 2.0, 2.5), (3.5, 2.5, 3.0))]
    [nan, nan, 1.25]
    """

    __slots__ = ("_acc", "_cnt", "_prev", "period", "value", "warmup")

    def __init__(self, period: int = 14) -> None:
        self.period = check_period("atr", "period", period)
        self.warmup = self.period
        self.reset()

    def reset(self) -> None:
        """Forget all bars; the next update starts a new warm-up."""
        self._prev = 0.0
        self._acc = 0.0
        self._cnt = -1
        self.value = NAN

    def update(self, high: float, low: float, close: float) -> float:
        """Add one bar; return the current ATR (NaN in warm-up)."""
        if high - high != 0.0 or low - low != 0.0 or close - close != 0.0:
            self.reset()
            return NAN
        cnt = self._cnt
        if cnt < 0:
            self._prev = close
            self._acc = 0.0
            self._cnt = 0
            return NAN
        tr = _true_range(high, low, self._prev)
        self._prev = close
        p = self.period
        cnt += 1
        if cnt <= p:
            self._cnt = cnt
            self._acc += tr
            if cnt < p:
                return NAN
            v = self._acc / p
        else:
            v = (self.value * (p - 1) + tr) / p
        self.value = v
        return v


class ADX(_Multi):
    """Wilder's ADX with +DI and -DI, in TA-Lib's operation order.

    +DI/-DI are defined from index ``period``; ADX from ``2 * period - 1`` (= ``warmup``).
    DI is 0 when the smoothed true range is 0 and DX is 0 when +DI + -DI is 0
    (TA-Lib skips such bars instead).
    """

    __slots__ = (
        "_adx",
        "_cnt",
        "_mdm",
        "_pc",
        "_pdm",
        "_ph",
        "_pl",
        "_sdx",
        "_tr",
        "period",
        "value",
        "warmup",
    )

    def __init__(self, period: int = 14) -> None:
        self.period = check_period("adx", "period", period)
        self.warmup = 2 * self.period - 1
        self.reset()

    def reset(self) -> None:
        """Forget all bars; the next update starts a new warm-up."""
        self._ph = self._pl = self._pc = 0.0
        self._pdm = self._mdm = self._tr = self._sdx = self._adx = 0.0
        self._cnt = -1
        self.value = ADXResult(NAN, NAN, NAN)

    def update(self, high: float, low: float, close: float) -> ADXResult:
        """Add one bar; return (adx, plus_di, minus_di)."""
        if high - high != 0.0 or low - low != 0.0 or close - close != 0.0:
            self.reset()
            return self.value
        cnt = self._cnt
        if cnt < 0:
            self._ph = high
            self._pl = low
            self._pc = close
            self._pdm = self._mdm = self._tr = self._sdx = 0.0
            self._cnt = 0
            return self.value
        cnt += 1
        self._cnt = cnt
        p = self.period
        up = high - self._ph
        dn = self._pl - low
        trv = _true_range(high, low, self._pc)
        self._ph = high
        self._pl = low
        self._pc = close
        if cnt < p:
            if dn > 0 and up < dn:
                self._mdm += dn
            elif up > 0 and up > dn:
                self._pdm += up
            self._tr += trv
            return self.value
        mdm = self._mdm
        pdm = self._pdm
        mdm -= mdm / p
        pdm -= pdm / p
        if dn > 0 and up < dn:
            mdm += dn
        elif up > 0 and up > dn:
            pdm += up
        tr = self._tr
        tr = tr - (tr / p) + trv
        self._mdm = mdm
        self._pdm = pdm
        self._tr = tr
        if tr != 0.0:
            pd = 100.0 * (pdm / tr)
            md = 100.0 * (mdm / tr)
        else:
            pd = 0.0
            md = 0.0
        sdi = md + pd
        dx = 100.0 * (abs(md - pd) / sdi) if sdi != 0.0 else 0.0
        last = 2 * p - 1
        if cnt < last:
            self._sdx += dx
            ax = NAN
        elif cnt == last:
            self._sdx += dx
            ax = self._sdx / p
            self._adx = ax
        else:
            ax = (self._adx * (p - 1) + dx) / p
            self._adx = ax
        v = ADXResult(ax, pd, md)
        self.value = v
        return v


class Stoch(_Multi):
    """Stochastic oscillator: ``k`` = SMA(k_smooth) of raw %K, ``d`` = SMA(d_period) of ``k``.

    Raw %K = 100 * (close - lowest low) / (highest high - lowest low) over
    ``k_period`` bars; 50 when the range is 0. ``k_smooth=1`` gives the fast
    stochastic. Warm-up ``k_period + k_smooth + d_period - 3`` (``k`` is defined
    ``d_period - 1`` bars earlier). TA-Lib's STOCH with SMA smoothing.
    """

    __slots__ = (
        "_cnt",
        "_ds",
        "_hi",
        "_ks",
        "_lo",
        "d_period",
        "k_period",
        "k_smooth",
        "value",
        "warmup",
    )

    def __init__(self, k_period: int = 14, k_smooth: int = 3, d_period: int = 3) -> None:
        self.k_period = check_period("stoch", "k_period", k_period)
        self.k_smooth = check_period("stoch", "k_smooth", k_smooth)
        self.d_period = check_period("stoch", "d_period", d_period)
        self.warmup = self.k_period + self.k_smooth + self.d_period - 3
        self._hi = _Extreme(self.k_period, True)
        self._lo = _Extreme(self.k_period, False)
        self._ks = SMA(self.k_smooth)
        self._ds = SMA(self.d_period)
        self.reset()

    def reset(self) -> None:
        """Forget all bars; the next update starts a new warm-up."""
        self._hi.clear()
        self._lo.clear()
        self._ks.reset()
        self._ds.reset()
        self._cnt = 0
        self.value = StochResult(NAN, NAN)

    def update(self, high: float, low: float, close: float) -> StochResult:
        """Add one bar; return (k, d)."""
        if high - high != 0.0 or low - low != 0.0 or close - close != 0.0:
            self.reset()
            return self.value
        cnt = self._cnt + 1
        self._cnt = cnt
        hh = self._hi.push(cnt, high)
        ll = self._lo.push(cnt, low)
        raw = NAN
        if cnt >= self.k_period:
            rng = hh - ll
            raw = 100.0 * (close - ll) / rng if rng != 0.0 else 50.0
        k = self._ks.update(raw)
        v = StochResult(k, self._ds.update(k))
        self.value = v
        return v


class OBV(_Single):
    """On-balance volume: starts at the first bar's volume (as TA-Lib), then +/- volume.

    Warm-up 0. After a hole the running total restarts at the next bar's volume.

    >>> o = OBV()
    >>> [o.update(c, v) for c, v in ((1.0, 5.0), (2.0, 3.0), (1.0, 1.0), (1.0, 9.0))]
    [5.0, 8.0, 7.0, 7.0]
    """

    __slots__ = ("_prev", "_started", "value", "warmup")

    def __init__(self) -> None:
        self.warmup = 0
        self.reset()

    def reset(self) -> None:
        """Forget all bars; the running total restarts at the next bar."""
        self._prev = 0.0
        self._started = False
        self.value = NAN

    def update(self, close: float, volume: float) -> float:
        """Add one bar; return the running OBV."""
        if close - close != 0.0 or volume - volume != 0.0:
            self.reset()
            return NAN
        if not self._started:
            obv = volume
            self._started = True
        elif close > self._prev:
            obv = self.value + volume
        elif close < self._prev:
            obv = self.value - volume
        else:
            obv = self.value
        self._prev = close
        self.value = obv
        return obv


class VWAP(_Single):
    """Rolling VWAP of the typical price (high + low + close) / 3 over ``period`` bars.

    Warm-up ``period - 1``; NaN when every bar in the window has zero volume.

    >>> w = VWAP(2)
    >>> [w.update(3.0, 3.0, 3.0, 1.0), w.update(6.0, 6.0, 6.0, 2.0)]
    [nan, 5.0]
    """

    __slots__ = (
        "_cnt",
        "_cp",
        "_cv",
        "_pos",
        "_pv",
        "_sp",
        "_sv",
        "_v",
        "_zrun",
        "period",
        "value",
        "warmup",
    )

    def __init__(self, period: int) -> None:
        self.period = check_period("vwap", "period", period)
        self.warmup = self.period - 1
        self.reset()

    def reset(self) -> None:
        """Forget all bars; the next update starts a new warm-up."""
        self._pv = [0.0] * self.period
        self._v = [0.0] * self.period
        self._pos = 0
        self._cnt = 0
        self._zrun = 0
        self._sp = self._cp = self._sv = self._cv = 0.0
        self.value = NAN

    def update(self, high: float, low: float, close: float, volume: float) -> float:
        """Add one bar; return the VWAP of the last ``period`` bars (NaN in warm-up)."""
        if (high - high != 0.0 or low - low != 0.0 or close - close != 0.0
                or volume - volume != 0.0):
            self.reset()
            return NAN
        p = self.period
        cnt = self._cnt + 1
        self._cnt = cnt
        pv = ((high + low + close) / 3.0) * volume
        sp, cp = neumaier_add(self._sp, self._cp, pv)
        sv, cv = neumaier_add(self._sv, self._cv, volume)
        self._zrun = self._zrun + 1 if volume == 0.0 else 0
        pos = self._pos
        if cnt > p:
            sp, cp = neumaier_add(sp, cp, -self._pv[pos])
            sv, cv = neumaier_add(sv, cv, -self._v[pos])
        self._pv[pos] = pv
        self._v[pos] = volume
        pos += 1
        self._pos = 0 if pos == p else pos
        self._sp, self._cp, self._sv, self._cv = sp, cp, sv, cv
        v = NAN
        if cnt >= p and self._zrun < p:
            den = sv + cv
            if den != 0.0:
                v = (sp + cp) / den
        self.value = v
        return v


class SessionVWAP(_Single):
    """VWAP of the typical price since the start of the current UTC session.

    A bar with open time ``ts`` (ms) belongs to session
    ``(ts - offset_ms) // session_ms``; the default is the UTC day. Warm-up 0.
    NaN while the session has had no volume; after a hole, NaN until the next
    session (a VWAP over part of a session would be a different quantity).

    >>> s = SessionVWAP()
    >>> [s.update(0, 2.0, 2.0, 2.0, 1.0), s.update(3_600_000, 5.0, 5.0, 5.0, 2.0),
    ...  s.update(86_400_000, 7.0, 7.0, 7.0, 1.0)]
    [2.0, 4.0, 7.0]
    """

    __slots__ = (
        "_any",
        "_broken",
        "_cp",
        "_cv",
        "_sid",
        "_sp",
        "_sv",
        "offset_ms",
        "session_ms",
        "value",
        "warmup",
    )

    def __init__(self, session_ms: int = 86_400_000, offset_ms: int = 0) -> None:
        self.session_ms = check_period("session_vwap", "session_ms", session_ms)
        self.offset_ms = check_offset("session_vwap", offset_ms)
        self.warmup = 0
        self.reset()

    def reset(self) -> None:
        """Forget everything; the next bar starts a session."""
        self._sid: int | None = None
        self._broken = False
        self._any = False
        self._sp = self._cp = self._sv = self._cv = 0.0
        self.value = NAN

    def update(self, ts: int, high: float, low: float, close: float, volume: float) -> float:
        """Add one bar opening at ``ts`` (UTC ms); return the session VWAP so far."""
        sid = (int(ts) - self.offset_ms) // self.session_ms
        if sid != self._sid:
            self._sid = sid
            self._broken = False
            self._any = False
            self._sp = self._cp = self._sv = self._cv = 0.0
        if (high - high != 0.0 or low - low != 0.0 or close - close != 0.0
                or volume - volume != 0.0):
            self._broken = True
        if self._broken:
            self.value = NAN
            return NAN
        sp, cp = neumaier_add(self._sp, self._cp, ((high + low + close) / 3.0) * volume)
        sv, cv = neumaier_add(self._sv, self._cv, volume)
        self._sp, self._cp, self._sv, self._cv = sp, cp, sv, cv
        if volume != 0.0:
            self._any = True
        den = sv + cv
        v = (sp + cp) / den if self._any and den != 0.0 else NAN
        self.value = v
        return v


class Donchian(_Multi):
    """Donchian channel over ``period`` bars, current bar included; warm-up ``period - 1``.

    For breakouts compare the close with the *previous* bar's channel.

    >>> d = Donchian(2)
    >>> [d.update(h, l) for h, l in ((3.0, 1.0), (4.0, 2.0))][-1]
    DonchianResult(upper=4.0, lower=1.0, mid=2.5)
    """

    __slots__ = ("_cnt", "_hi", "_lo", "period", "value", "warmup")

    def __init__(self, period: int = 20) -> None:
        self.period = check_period("donchian", "period", period)
        self.warmup = self.period - 1
        self._hi = _Extreme(self.period, True)
        self._lo = _Extreme(self.period, False)
        self.reset()

    def reset(self) -> None:
        """Forget all bars; the next update starts a new warm-up."""
        self._hi.clear()
        self._lo.clear()
        self._cnt = 0
        self.value = DonchianResult(NAN, NAN, NAN)

    def update(self, high: float, low: float) -> DonchianResult:
        """Add one bar; return (upper, lower, mid)."""
        if high - high != 0.0 or low - low != 0.0:
            self.reset()
            return self.value
        cnt = self._cnt + 1
        self._cnt = cnt
        hh = self._hi.push(cnt, high)
        ll = self._lo.push(cnt, low)
        if cnt < self.period:
            return self.value
        v = DonchianResult(hh, ll, (hh + ll) / 2.0)
        self.value = v
        return v


class Keltner(_Multi):
    """Keltner channel: EMA(close, period) mid +/- multiplier * ATR(atr_period).

    ``mid`` is defined from index ``period - 1``; the bands from
    ``max(period - 1, atr_period)`` (= ``warmup``).
    """

    __slots__ = ("_atr", "_ema", "atr_period", "multiplier", "period", "value", "warmup")

    def __init__(self, period: int = 20, atr_period: int = 10, multiplier: float = 2.0) -> None:
        self.period = check_period("keltner", "period", period)
        self.atr_period = check_period("keltner", "atr_period", atr_period)
        self.multiplier = check_real("keltner", "multiplier", multiplier)
        self.warmup = max(self.period - 1, self.atr_period)
        self._ema = EMA(self.period)
        self._atr = ATR(self.atr_period)
        self.reset()

    def reset(self) -> None:
        """Forget all bars; the next update starts a new warm-up."""
        self._ema.reset()
        self._atr.reset()
        self.value = KeltnerResult(NAN, NAN, NAN)

    def update(self, high: float, low: float, close: float) -> KeltnerResult:
        """Add one bar; return (mid, upper, lower)."""
        if high - high != 0.0 or low - low != 0.0 or close - close != 0.0:
            self.reset()
            return self.value
        mid = self._ema.update(close)
        k = self.multiplier * self._atr.update(high, low, close)
        v = KeltnerResult(mid, mid + k, mid - k)
        self.value = v
        return v
