"""Event kinds and the one ordering rule of the engine's events.

Every event has a time (integer UTC ms) at which the engine *learns* of it. A bar
is learnt at its close (``Bar.close_ts``); every other event at its ``ts``. Events
are processed in the order ``(time, kind priority, symbol)`` (``order_key``), ties
beyond that in arrival order:

===========  ========  ==========================================================
kind         priority  why it comes there
===========  ========  ==========================================================
OrderEvent    0        exchange order updates at T happened before anything the
                       strategy could react to at T (live only)
FillEvent     1        likewise fills reported by a live exchange
TradeTick     2        ticks at T
QuoteTick     3        quotes at T
Bar           4        bars closing at T; several symbols tie-break by symbol name
FundingEvent  5        a perpetual's funding at T is paid on the position held after
                       the fills of every bar closing at or before T (their fills
                       happened before T), before any fill of the bar opening at T
Timer         6        timers at T fire after every market event at T, so a timer
                       set for a bar's close sees that bar
===========  ========  ==========================================================

Who applies it: ``feeds.merge_bars`` (bars only: ``(close, symbol)``, one numpy
lexsort instead of a key per bar), ``merge_ticks`` below (the live runner's ticks
and bars of one round), the engine's timers (fired after the market events of
their time), and the live runner, which steps the fills its broker reported before
the bars of the round (a fill reported later than a bar's close is booked just
before that close, ``LiveRunner._step_fill``). ``replay`` steps a journal in the
order it was written, which is this order. Two runs over the same inputs therefore
see the same sequence of events, independent of dict or set ordering.

>>> bars = [Bar("ETH/USDT", 0, 60_000, 1.0, 1.0, 1.0, 1.0, 0.0),
...         Bar("BTC/USDT", 0, 60_000, 1.0, 1.0, 1.0, 1.0, 0.0)]
>>> [e[0] for e in sorted([Timer(ts=60_000, name="t"), *bars], key=order_key)]
['BTC/USDT', 'ETH/USDT', 60000]
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

from tradeloom.engine.orders import Bar, Fill, Order


class TradeTick(NamedTuple):
    """One public trade: ``amount`` base units at ``price``, known at ``ts``."""

    symbol: str
    ts: int
    price: float
    amount: float


class QuoteTick(NamedTuple):
    """Best bid/ask at ``ts``."""

    symbol: str
    ts: int
    bid: float
    ask: float
    bid_size: float
    ask_size: float


class Timer(NamedTuple):
    """A strategy timer firing at ``ts``; ``every_ms`` > 0 re-arms it."""

    ts: int
    name: str
    every_ms: int = 0


class FillEvent(NamedTuple):
    """A fill reported by a live (or paper) broker as an event, known at ``fill.ts``."""

    fill: Fill

    @property
    def ts(self) -> int:
        return self.fill.ts


class FundingEvent(NamedTuple):
    """A perpetual's funding at ``ts`` (the venue's funding time, UTC ms): the position
    held then pays ``qty * mark * rate`` (``rate`` per funding period; positive: longs
    pay shorts). ``mark`` is the mark price at the funding time, NaN when unknown (the
    engine then uses the symbol's latest mark). ``amount``: the cash flow the venue
    booked (a live account's funding history: < 0 paid, > 0 received), NaN to compute
    it (backtests, paper)."""

    symbol: str
    ts: int
    rate: float
    mark: float = float("nan")
    amount: float = float("nan")


class OrderEvent(NamedTuple):
    """An order update reported by a live broker, known at ``ts``."""

    order: Order
    ts: int


Event = Bar | TradeTick | QuoteTick | Timer | FillEvent | OrderEvent | FundingEvent

#: Kind priority at equal time: lower runs first (see the module table).
PRIORITY: dict[type, int] = {
    OrderEvent: 0,
    FillEvent: 1,
    TradeTick: 2,
    QuoteTick: 3,
    Bar: 4,
    FundingEvent: 5,
    Timer: 6,
}


def event_time(event: Event) -> int:
    """When the engine learns of ``event``: a bar's close, otherwise its ``ts``.

    >>> event_time(Bar("BTC/USDT", 0, 60_000, 1.0, 1.0, 1.0, 1.0, 0.0))
    60000
    """
    if type(event) is Bar:
        return event.close_ts  # type: ignore[union-attr]
    return event.ts  # type: ignore[union-attr]


def order_key(event: Event) -> tuple[int, int, str]:
    """``(time, kind priority, symbol)``: the engine's order of events (a stable sort by
    it keeps arrival order for the rest).

    >>> order_key(TradeTick("BTC/USDT", 60_000, 1.0, 1.0)) < order_key(
    ...     Bar("BTC/USDT", 0, 60_000, 1.0, 1.0, 1.0, 1.0, 0.0))
    True
    """
    kind = type(event)
    try:
        priority = PRIORITY[kind]
    except KeyError:
        raise TypeError(
            f"unknown event type {kind.__name__}; expected one of "
            + ", ".join(t.__name__ for t in PRIORITY)
        ) from None
    if kind is Bar or kind is TradeTick or kind is QuoteTick or kind is FundingEvent:
        return event_time(event), priority, event.symbol  # type: ignore[union-attr]
    if kind is FillEvent:
        return event.ts, priority, event.fill.symbol  # type: ignore[union-attr]
    if kind is OrderEvent:
        return event.ts, priority, event.order.symbol  # type: ignore[union-attr]
    return event.ts, priority, ""  # type: ignore[union-attr]


def merge_ticks(bars: Sequence[Bar], ticks: Sequence[TradeTick]) -> list[Bar | TradeTick]:
    """``bars`` (in ``(close, symbol)`` order) and ``ticks`` (in ``(ts, symbol, arrival)``
    order) merged in the engine's event order: a tick at ``T`` before a bar closing at
    ``T``, otherwise by time.

    >>> b = Bar("BTC/USDT", 0, 60_000, 1.0, 1.0, 1.0, 1.0, 0.0)
    >>> ticks = [TradeTick("BTC/USDT", 59_000, 1.0, 1.0), TradeTick("BTC/USDT", 60_000, 1.0, 1.0)]
    >>> [type(e).__name__ + str(e.ts) for e in merge_ticks([b], ticks)]
    ['TradeTick59000', 'TradeTick60000', 'Bar0']
    """
    if not ticks:
        return list(bars)
    events: list[Bar | TradeTick] = [*ticks, *bars]
    events.sort(key=order_key)
    return events


__all__ = [
    "PRIORITY",
    "Event",
    "FillEvent",
    "OrderEvent",
    "QuoteTick",
    "Timer",
    "TradeTick",
    "event_time",
    "merge_ticks",
    "order_key",
]
