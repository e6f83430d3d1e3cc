"""Streaming indicators on one series: one ``update(value)`` per bar, O(1) each.

Each class repeats the arithmetic of its kernel in ``indicators_nb.py`` operation
by operation, so a stream and the batch function agree bit for bit on every bar.
Hot paths use plain float math on ``__slots__`` attributes: no numpy call per
update (a numpy scalar operation costs more than the whole SMA update).

Common interface: ``update(...)`` returns the current value (a float, or a
NamedTuple of floats for several outputs), NaN during warm-up; ``value`` holds
the last result; ``ready`` is True when every output of the last result is
defined; ``warmup`` is the number of leading NaN outputs on a clean series;
``reset()`` forgets everything. Conventions (holes, degenerate windows): see
``indicators_base.py``.
"""

from __future__ import annotations

import math
from collections import deque

from tradeloom.engine.errors import ConfigError
from tradeloom.engine.indicators.base import NAN, MACDResult, check_period, neumaier_add


class _Single:
    """Base of single-output streams: ``ready`` means the last value is defined."""

    __slots__ = ()
    value: float

    @property
    def ready(self) -> bool:
        """True when the last update produced a defined (non-NaN) value."""
        return not math.isnan(self.value)


class _Multi:
    """Base of multi-output streams: ``ready`` means every output is defined."""

    __slots__ = ()
    value: tuple[float, ...]

    @property
    def ready(self) -> bool:
        """True when every output of the last update is defined (non-NaN)."""
        return not any(math.isnan(v) for v in self.value)


class SMA(_Single):
    """Simple moving average of the last ``period`` values; warm-up ``period - 1``.

    Running sum ``s = s + new - old``, resynchronised every ``period`` bars by
    summing the window afresh in chronological order, so rounding cannot drift on
    long series; exactly as :func:`indicators_nb.sma_nb`. A window of equal values
    averages to exactly that value, so SMAs of different periods tie exactly on
    flat prices instead of differing by an ulp.

    >>> s = SMA(3)
    >>> [s.update(x) for x in (1.0, 2.0, 3.0, 4.0)]
    [nan, nan, 2.0, 3.0]
    >>> s.warmup, s.ready
    (2, True)
    """

    __slots__ = ("_buf", "_last", "_pos", "_run", "_s", "_warm", "period", "value", "warmup")

    def __init__(self, period: int) -> None:
        self.period = check_period("sma", "period", period)
        self.warmup = self.period - 1
        self.reset()

    def reset(self) -> None:
        """Forget all values; the next update starts a new warm-up."""
        self._buf = [0.0] * self.period
        self._pos = 0
        self._warm = False  # the window has been full once since the last reset
        self._s = 0.0
        self._run = 0
        self._last = 0.0
        self.value = NAN

    def update(self, x: float) -> float:
        """Add one value; return the average of the last ``period`` values (NaN in warm-up)."""
        if x - x != 0.0:
            self.reset()
            return NAN
        buf = self._buf
        pos = self._pos
        s = self._s + x - buf[pos]  # buf holds 0.0 until the window is full
        buf[pos] = x
        pos += 1
        p = self.period
        if pos == p:
            pos = 0
            s = 0.0
            for w in buf:
                s += w
            # The first wrap after a reset is the ``period``-th value: the window is full
            # from here on (a flag instead of a count: one check per update, not three).
            self._warm = True
        self._pos = pos
        self._s = s
        if x == self._last and self._run > 0:
            run = self._run + 1
        else:
            run = 1
            self._last = x
        self._run = run
        if not self._warm:
            return NAN
        v = x if run >= p else s / p
        self.value = v
        return v


class EMA(_Single):
    """Exponential moving average, k = 2 / (period + 1); warm-up ``period - 1``.

    Seeded with the plain mean of the first ``period`` values (TA-Lib's default),
    then ``e = (x - e) * k + e``.

    >>> e = EMA(2)
    >>> [e.update(x) for x in (1.0, 3.0, 6.0)]
    [nan, 2.0, 4.666666666666666]
    """

    __slots__ = ("_acc", "_cnt", "_k", "period", "value", "warmup")

    def __init__(self, period: int) -> None:
        self.period = check_period("ema", "period", period)
        self.warmup = self.period - 1
        self._k = 2.0 / (self.period + 1)
        self.reset()

    def reset(self) -> None:
        """Forget all values; the next update starts a new warm-up."""
        self._acc = 0.0
        self._cnt = 0
        self.value = NAN

    def update(self, x: float) -> float:
        """Add one value; return the current EMA (NaN in warm-up)."""
        if x - x != 0.0:
            self.reset()
            return NAN
        p = self.period
        cnt = self._cnt
        if cnt >= p:
            e = self.value
            e = (x - e) * self._k + e
        else:
            cnt += 1
            self._cnt = cnt
            self._acc += x
            if cnt < p:
                return NAN
            e = self._acc / p
        self.value = e
        return e


class WMA(_Single):
    """Linearly weighted moving average (weights 1..period, newest heaviest); warm-up ``period - 1``.

    >>> w = WMA(3)
    >>> [w.update(x) for x in (1.0, 2.0, 3.0, 6.0)]
    [nan, nan, 2.3333333333333335, 4.333333333333333]
    """

    __slots__ = (
        "_buf",
        "_c",
        "_cnt",
        "_div",
        "_pos",
        "_s",
        "_wc",
        "_ws",
        "period",
        "value",
        "warmup",
    )

    def __init__(self, period: int) -> None:
        self.period = check_period("wma", "period", period)
        self.warmup = self.period - 1
        self._div = float(self.period * (self.period + 1) // 2)
        self.reset()

    def reset(self) -> None:
        """Forget all values; the next update starts a new warm-up."""
        self._buf = [0.0] * self.period
        self._pos = 0
        self._cnt = 0
        self._s = self._c = self._ws = self._wc = 0.0
        self.value = NAN

    def update(self, x: float) -> float:
        """Add one value; return the weighted average of the last ``period`` values."""
        if x - x != 0.0:
            self.reset()
            return NAN
        p = self.period
        cnt = self._cnt + 1
        self._cnt = cnt
        buf = self._buf
        pos = self._pos
        if cnt <= p:
            self._ws, self._wc = neumaier_add(self._ws, self._wc, cnt * x)
            self._s, self._c = neumaier_add(self._s, self._c, x)
        else:
            ws, wc = neumaier_add(self._ws, self._wc, -(self._s + self._c))
            self._ws, self._wc = neumaier_add(ws, wc, p * x)
            s, c = neumaier_add(self._s, self._c, x)
            self._s, self._c = neumaier_add(s, c, -buf[pos])
        buf[pos] = x
        pos += 1
        self._pos = 0 if pos == p else pos
        if cnt >= p:
            v = (self._ws + self._wc) / self._div
            self.value = v
            return v
        return NAN


class RSI(_Single):
    """Wilder's relative strength index, 0..100; warm-up ``period`` (needs period changes).

    Seeded with the mean gain and loss of the first ``period`` changes, then
    Wilder-smoothed, in TA-Lib's operation order. 50 when there were neither gains
    nor losses (flat prices); TA-Lib returns 0 there.

    >>> r = RSI(2)
    >>> [r.update(x) for x in (1.0, 2.0, 1.5, 1.5)]
    [nan, nan, 66.66666666666666, 66.66666666666666]
    """

    __slots__ = ("_cnt", "_g", "_l", "_prev", "period", "value", "warmup")

    def __init__(self, period: int = 14) -> None:
        self.period = check_period("rsi", "period", period)
        self.warmup = self.period
        self.reset()

    def reset(self) -> None:
        """Forget all values; the next update starts a new warm-up."""
        self._prev = 0.0
        self._g = 0.0
        self._l = 0.0
        self._cnt = -1
        self.value = NAN

    def update(self, x: float) -> float:
        """Add one close; return the current RSI (NaN in warm-up)."""
        if x - x != 0.0:
            self.reset()
            return NAN
        cnt = self._cnt
        if cnt < 0:
            self._prev = x
            self._g = 0.0
            self._l = 0.0
            self._cnt = 0
            return NAN
        p = self.period
        d = x - self._prev
        self._prev = x
        g = self._g
        lo = self._l
        if cnt < p:
            if d < 0:
                lo -= d
            else:
                g += d
            cnt += 1
            self._cnt = cnt
            if cnt < p:
                self._g = g
                self._l = lo
                return NAN
            lo /= p
            g /= p
        else:
            lo *= p - 1
            g *= p - 1
            if d < 0:
                lo -= d
            else:
                g += d
            lo /= p
            g /= p
        self._g = g
        self._l = lo
        tot = g + lo
        v = 100.0 * (g / tot) if tot != 0.0 else 50.0
        self.value = v
        return v


class _Extreme:
    """Monotonic deque of (index, value): max (or min) of the last ``period`` pushes."""

    __slots__ = ("_dq", "is_max", "period")

    def __init__(self, period: int, is_max: bool) -> None:
        self.period = period
        self.is_max = is_max
        self._dq: deque[tuple[int, float]] = deque()

    def clear(self) -> None:
        self._dq.clear()

    def push(self, i: int, v: float) -> float:
        """Push value ``v`` at bar index ``i``; return the extreme of the window ending at i."""
        dq = self._dq
        if self.is_max:
            while dq and dq[-1][1] <= v:
                dq.pop()
        else:
            while dq and dq[-1][1] >= v:
                dq.pop()
        dq.append((i, v))
        if dq[0][0] <= i - self.period:
            dq.popleft()
        return dq[0][1]


class _RollingExtreme(_Single):
    __slots__ = ("_cnt", "_ext", "period", "value", "warmup")
    _name = ""
    _is_max = True

    def __init__(self, period: int) -> None:
        self.period = check_period(self._name, "period", period)
        self.warmup = self.period - 1
        self._ext = _Extreme(self.period, self._is_max)
        self.reset()

    def reset(self) -> None:
        """Forget all values; the next update starts a new warm-up."""
        self._ext.clear()
        self._cnt = 0
        self.value = NAN

    def update(self, x: float) -> float:
        """Add one value; return the extreme of the last ``period`` values (NaN in warm-up)."""
        if x - x != 0.0:
            self.reset()
            return NAN
        cnt = self._cnt + 1
        self._cnt = cnt
        v = self._ext.push(cnt, x)
        if cnt >= self.period:
            self.value = v
            return v
        return NAN


class RollingMax(_RollingExtreme):
    """Highest value of the last ``period`` values, current included; warm-up ``period - 1``.

    >>> m = RollingMax(2)
    >>> [m.update(x) for x in (1.0, 3.0, 2.0, 1.0)]
    [nan, 3.0, 3.0, 2.0]
    """

    __slots__ = ()
    _name = "rolling_max"
    _is_max = True


class RollingMin(_RollingExtreme):
    """Lowest value of the last ``period`` values, current included; warm-up ``period - 1``.

    >>> m = RollingMin(2)
    >>> [m.update(x) for x in (3.0, 1.0, 2.0, 4.0)]
    [nan, 1.0, 1.0, 2.0]
    """

    __slots__ = ()
    _name = "rolling_min"
    _is_max = False


class MACD(_Multi):
    """MACD line, signal and histogram with TA-Lib's seeding; warm-up ``slow + signal - 2``.

    Both EMAs are seeded at the ``slow``-th bar (the fast one from the mean of the
    last ``fast`` closes), so the line starts at index ``slow - 1``; the signal EMA
    is seeded with the mean of the first ``signal`` line values.

    >>> m = MACD(2, 3, 2)  # line at bar 3: mean(2, 3) - mean(1, 2, 3) = 0.5
    >>> [tuple(round(v, 4) for v in m.update(x)) for x in (1.0, 2.0, 3.0, 5.0)][2:]
    [(0.5, nan, nan), (0.6667, 0.5833, 0.0833)]
    """

    __slots__ = (
        "_cnt",
        "_ef",
        "_es",
        "_g",
        "_gacc",
        "_kf",
        "_kg",
        "_ks",
        "_seed",
        "fast",
        "signal",
        "slow",
        "value",
        "warmup",
    )

    def __init__(self, fast: int = 12, slow: int = 26, signal: int = 9) -> None:
        self.fast = check_period("macd", "fast", fast)
        self.slow = check_period("macd", "slow", slow, 2)
        self.signal = check_period("macd", "signal", signal)
        if self.fast >= self.slow:
            raise ConfigError(
                f"macd: fast ({fast}) must be shorter than slow ({slow}); e.g. fast=12, slow=26"
            )
        self.warmup = self.slow + self.signal - 2
        self._kf = 2.0 / (self.fast + 1)
        self._ks = 2.0 / (self.slow + 1)
        self._kg = 2.0 / (self.signal + 1)
        self.reset()

    def reset(self) -> None:
        """Forget all values; the next update starts a new warm-up."""
        self._seed: list[float] = []
        self._cnt = 0
        self._ef = self._es = self._g = self._gacc = 0.0
        self.value = MACDResult(NAN, NAN, NAN)

    def update(self, x: float) -> MACDResult:
        """Add one close; return (macd, signal, hist)."""
        if x - x != 0.0:
            self.reset()
            return self.value
        cnt = self._cnt + 1
        self._cnt = cnt
        slow = self.slow
        if cnt < slow:
            self._seed.append(x)
            return self.value
        if cnt == slow:
            seed = self._seed
            seed.append(x)
            a = 0.0
            for w in seed[slow - self.fast:]:
                a += w
            ef = a / self.fast
            b = 0.0
            for w in seed:
                b += w
            es = b / slow
            self._seed = []
            self._gacc = 0.0
        else:
            ef = self._ef
            ef = (x - ef) * self._kf + ef
            es = self._es
            es = (x - es) * self._ks + es
        self._ef = ef
        self._es = es
        m = ef - es
        sc = cnt - slow + 1
        sig = self.signal
        if sc < sig:
            self._gacc += m
            v = MACDResult(m, NAN, NAN)
        else:
            if sc == sig:
                self._gacc += m
                g = self._gacc / sig
            else:
                g = self._g
                g = (m - g) * self._kg + g
            self._g = g
            v = MACDResult(m, g, m - g)
        self.value = v
        return v
