"""How the live runner orders the events of one round: fills, then ticks and bars by time.

A tick at ``T`` comes before a bar closing at ``T`` (``engine.events``: TRADE before
BAR at equal time); otherwise ticks and bars go by their event time. The sort is
stable, so ticks keep their ``(ts, symbol, arrival)`` order and bars their
``(close, symbol)`` order.

>>> from tradeloom.engine.run.events import TradeTick
>>> b = Bar("BTC/USDT", 0, 60_000, 1.0, 1.0, 1.0, 1.0, 0.0)
>>> ticks = [TradeTick("BTC/USDT", 60_000, 1.0, 1.0), TradeTick("BTC/USDT", 59_000, 1.0, 1.0)]
>>> [type(e).__name__ + str(e.ts) for e in merge_ticks([b], sorted(ticks, key=lambda t: t.ts))]
['TradeTick59000', 'TradeTick60000', 'Bar0']
"""

from __future__ import annotations

from collections.abc import Sequence

from tradeloom.engine.run.events import TradeTick
from tradeloom.engine.orders import Bar


def merge_ticks(bars: Sequence[Bar], ticks: Sequence[TradeTick]) -> list[Bar | TradeTick]:
    """``bars`` and ``ticks`` (each already in order) in engine event order."""
    if not ticks:
        return list(bars)
    events: list[Bar | TradeTick] = [*ticks, *bars]
    events.sort(key=lambda e: (e.close_ts, 1) if type(e) is Bar else (e.ts, 0))
    return events


__all__ = ["merge_ticks"]
