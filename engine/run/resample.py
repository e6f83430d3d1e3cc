"""Bars of a higher timeframe built from the run's base bars as they stream.

A strategy that trades 1h bars and reads 4h and 1d context gets those bars from
``BarResampler``s fed by the very base bars the engine steps, so a backtest, a sweep,
paper and live all build them the same way (the live runner's bars go through the
same step). The store's DuckDB resample (``adapters.store.resample``) gives the same
bars for a whole range at once; a test holds the two equal.

**Buckets.** A ``timeframe`` bar covers ``[start, start + timeframe)``, buckets counted
from the Unix epoch (weeks from Monday 1970-01-05, see ``timeframes.bucket_origin``).
Its open is the first base bar's open, high and low the extremes, close the last base
bar's close, volume the base volumes added in time order.

**When a bar is known.** A bucket's bar is emitted at the first moment it is certainly
complete, never earlier:

- when the base bar closing at the bucket's end arrives (the usual case: the 4h bar of
  00:00-04:00 reaches the strategy with the 1h bar closing at 04:00, before that 1h
  bar's ``on_bar``);
- otherwise (the data has a gap at the end of the bucket) when the symbol's first base
  bar of a later bucket arrives: later than the bucket's end, never before it.

So every emitted bar has ``close_ts <=`` the time of the step that emits it.

**Partial bars at gaps** (the rule): a bucket's bar aggregates the base bars that exist
in it; nothing is filled in. A bucket with a gap inside or at its end is still emitted,
from the bars it has (as a ``GROUP BY`` over the stored bars would), and a bucket
without any base bar has no bar. Two exceptions, both about where the data starts or
stops rather than gaps: the *first* bucket is skipped unless the first base bar seen
opens at its start (reading began inside it - the run's start, a warm-up window - so
its bar would be short only because of where reading began), and a bucket in which
the data ends before it closes is never emitted (the run ended before that bar closed).

Below, 1h bars open at 02:00..09:00 and 12:00..13:00 (10:00 and 11:00 missing): the
00:00 bucket is skipped (reading began at 02:00), 04:00-08:00 is complete, 08:00-12:00
is partial (two bars) and emitted when the 12:00 bar arrives, 12:00-16:00 never closes.

>>> H = 3_600_000
>>> out = []
>>> r = BarResampler("BTC/USDT", 4 * H, 0, out.append)
>>> for h in (2, 3, 4, 5, 6, 7, 8, 9, 12, 13):
...     r.add(Bar("BTC/USDT", h * H, (h + 1) * H, float(h), h + 0.5, h - 0.5, h + 0.25, 1.0))
>>> [(b.ts // H, b.close_ts // H, b.open, b.high, b.low, b.close, b.volume) for b in out]
[(4, 8, 4.0, 7.5, 3.5, 7.25, 4.0), (8, 12, 8.0, 9.5, 7.5, 9.25, 2.0)]
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from tradeloom.engine.orders import Bar
from tradeloom.engine.timeframes import bucket_origin, check_resample, timeframe_to_ms


class BarResampler:
    """One symbol's bars of one higher timeframe (see the module docstring for the rules).

    ``add(bar)`` takes the symbol's base bars in time order; each finished bucket is
    handed to ``emit`` as a ``Bar`` (``ts`` its start, ``close_ts`` its end).
    """

    __slots__ = (
        "_c", "_end", "_h", "_l", "_o", "_open", "_seen", "_skip_until", "_start", "_v",
        "emit", "origin", "symbol", "tf_ms",
    )

    def __init__(self, symbol: str, tf_ms: int, origin: int, emit: Callable[[Bar], None]) -> None:
        self.symbol = symbol
        self.tf_ms = int(tf_ms)
        self.origin = int(origin)
        self.emit = emit
        self._open = False  # a bucket is being built
        self._seen = False  # a bucket was started before (later buckets may start mid-way)
        self._skip_until = -(2**62)
        self._start = self._end = 0
        self._o = self._h = self._l = self._c = self._v = 0.0

    def add(self, bar: Bar) -> None:
        """One base bar of the symbol (bars arrive in time order)."""
        ts = bar[1]
        if ts < self._skip_until:
            return
        if self._open:
            if ts < self._end:
                high, low = bar[4], bar[5]
                self._h = max(self._h, high)
                self._l = min(self._l, low)
                self._c = bar[6]
                self._v += bar[7]
            else:  # a later bucket began: the open one had a gap at its end
                self._close()
                self._begin(ts, bar)
        else:
            start = ts - (ts - self.origin) % self.tf_ms
            if start != ts and not self._seen:  # reading began inside this bucket
                self._skip_until = start + self.tf_ms
                self._seen = True
                return
            self._begin(ts, bar)
        if bar[2] == self._end:
            self._close()

    def _begin(self, ts: int, bar: Bar) -> None:
        start = ts - (ts - self.origin) % self.tf_ms
        self._start, self._end = start, start + self.tf_ms
        self._o, self._h, self._l, self._c, self._v = bar[3], bar[4], bar[5], bar[6], bar[7]
        self._open = self._seen = True

    def _close(self) -> None:
        self._open = False
        self.emit(Bar(self.symbol, self._start, self._end, self._o, self._h, self._l, self._c,
                      self._v))


def resample(bars: Iterable[Bar], timeframe: str, base_timeframe: str) -> list[Bar]:
    """Every ``timeframe`` bar the engine would emit from ``bars`` (``base_timeframe``
    bars of one or more symbols in time order), in ``(close_ts, symbol)`` order.

    >>> H = 3_600_000
    >>> one = [Bar("ETH/USDT", h * H, (h + 1) * H, 1.0, 2.0, 0.5, 1.5, 3.0) for h in range(4)]
    >>> [(b.symbol, b.ts, b.close_ts, b.volume) for b in resample(one, "4h", "1h")]
    [('ETH/USDT', 0, 14400000, 12.0)]
    """
    check_resample(timeframe, base_timeframe)
    tf_ms, origin = timeframe_to_ms(timeframe), bucket_origin(timeframe)
    out: list[Bar] = []
    by_symbol: dict[str, BarResampler] = {}
    for bar in bars:
        r = by_symbol.get(bar[0])
        if r is None:
            r = by_symbol[bar[0]] = BarResampler(bar[0], tf_ms, origin, out.append)
        r.add(bar)
    out.sort(key=lambda b: (b.close_ts, b.symbol))
    return out


__all__ = ["BarResampler", "resample"]
