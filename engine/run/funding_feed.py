"""Funding events beside the bars: a perpetual's funding history as ``FundingEvent``s,
merged into a bar stream in the engine's event order.

``FundingRates`` holds one symbol's funding times (UTC ms), rates (per funding period)
and the mark price at each time (NaN where unknown: the engine then uses the symbol's
latest close). ``with_funding`` merges them into ordered bars: a funding event at
``T`` comes after every bar closing at ``T`` (``events.PRIORITY``), so it is paid on
the position held after those bars' fills, and before the bars closing later. Funding
events outside the bars' time span are dropped (a run pays funding only while it runs).

>>> from tradeloom.engine.orders import Bar
>>> bars = [Bar("BTC/USDT:USDT", 0, 3_600_000, 1.0, 1.0, 1.0, 1.0, 1.0),
...         Bar("BTC/USDT:USDT", 3_600_000, 7_200_000, 1.0, 1.0, 1.0, 1.0, 1.0)]
>>> rates = FundingRates.from_columns(ts=[3_600_000], rate=[0.0001], mark=[1.0])
>>> [type(e).__name__ for e in with_funding(bars, {"BTC/USDT:USDT": rates})]
['Bar', 'FundingEvent', 'Bar']
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Iterable, Iterator, Mapping
from typing import Any, NamedTuple

import numpy as np

from tradeloom.engine.errors import DataError
from tradeloom.engine.orders import Bar
from tradeloom.engine.run.events import FundingEvent, order_key


class FundingRates(NamedTuple):
    """One symbol's funding history: ``ts`` (int64 ms, ascending), ``rate``, ``mark``."""

    ts: np.ndarray
    rate: np.ndarray
    mark: np.ndarray

    @classmethod
    def from_columns(cls, *, ts: Any, rate: Any, mark: Any = None) -> FundingRates:
        """Build and check (``mark`` may be omitted: all NaN)."""
        t = np.asarray(ts, dtype=np.int64)
        r = np.asarray(rate, dtype=np.float64)
        m = (np.full(t.shape, np.nan) if mark is None else np.asarray(mark, dtype=np.float64))
        if not (t.shape == r.shape == m.shape):
            raise DataError(f"funding columns differ in length: ts {t.shape}, rate {r.shape}, "
                            f"mark {m.shape}")
        if t.size and np.any(np.diff(t) <= 0):
            i = int(np.argmax(np.diff(t) <= 0))
            raise DataError(f"funding times must increase: row {i + 1} ({t[i + 1]}) follows "
                            f"{t[i]}; sort and deduplicate the funding history")
        if not np.all(np.isfinite(r)):
            i = int(np.argmax(~np.isfinite(r)))
            raise DataError(f"funding rate at {t[i]} is {r[i]}; rates must be finite")
        return cls(t, r, m)

    def events(self, symbol: str, start: int, end: int) -> list[FundingEvent]:
        """The events in ``[start, end]`` (ms)."""
        lo = int(np.searchsorted(self.ts, start, side="left"))
        hi = int(np.searchsorted(self.ts, end, side="right"))
        return [FundingEvent(symbol, int(t), float(r), float(m) if math.isfinite(m) else math.nan)
                for t, r, m in zip(self.ts[lo:hi].tolist(), self.rate[lo:hi].tolist(),
                                   self.mark[lo:hi].tolist())]


def with_funding(bars: Iterable[Bar], funding: Mapping[str, FundingRates],
                 start: int | None = None, end: int | None = None) -> Iterator[Any]:
    """``bars`` with the funding events of ``(start, end]`` merged in the engine's order
    (module docstring). Without ``start``/``end`` the bars are read first to find their
    span (the first bar's open to the last bar's close)."""
    if not funding:
        yield from bars
        return
    if start is None or end is None:
        bars = list(bars)
        if not bars:
            return
        start = bars[0].ts if start is None else start
        end = max(b.close_ts for b in bars) if end is None else end
    events = sorted((e for symbol, rates in sorted(funding.items())
                     for e in rates.events(symbol, int(start) + 1, int(end))), key=order_key)
    yield from heapq.merge(bars, events, key=order_key)


__all__ = ["FundingRates", "with_funding"]
