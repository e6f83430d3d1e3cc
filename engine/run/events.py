"""Event kinds, their priorities, and the one ordering rule of the loop.

Every event has a time (integer UTC ms) at which the engine *learns* of it. A bar
is learnt at its close (``Bar.close_ts``); every other event at its ``ts``. Events
are processed in the order ``(time, kind priority, sequence)``:

===========  ========  ==========================================================
kind         priority  why it comes there
===========  ========  ==========================================================
ORDER         0        exchange order updates at T happened before anything the
                       strategy could react to at T (live only)
FILL          1        likewise fills reported by a live exchange
TRADE         2        ticks at T
QUOTE         3        quotes at T
BAR           4        bars closing at T; several symbols tie-break by symbol name
TIMER         5        timers at T fire after every market event at T, so a timer
                       set for a bar's close sees that bar
===========  ========  ==========================================================

``sequence`` is the arrival order within a source (for bars of one time step: the
symbol rank), which makes the order total: two runs over the same inputs see the
same sequence of events, independent of dict or set ordering.

>>> q = EventQueue()
>>> q.push(Timer(ts=60_000, name="t"))
>>> q.push(Bar("ETH/USDT", 0, 60_000, 1.0, 1.0, 1.0, 1.0, 0.0))
>>> q.push(Bar("BTC/USDT", 0, 60_000, 1.0, 1.0, 1.0, 1.0, 0.0))
>>> [(type(e).__name__, e[0]) for e in q.drain()]
[('Bar', 'BTC/USDT'), ('Bar', 'ETH/USDT'), ('Timer', 60000)]
"""

from __future__ import annotations

import heapq
from collections.abc import Iterator
from enum import IntEnum
from typing import NamedTuple

from tradeloom.engine.orders import Bar, Fill, Order


class EventKind(IntEnum):
    """Kind priority at equal time: lower runs first (see the module table)."""

    ORDER = 0
    FILL = 1
    TRADE = 2
    QUOTE = 3
    BAR = 4
    TIMER = 5


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


class OrderEvent(NamedTuple):
    """An order update reported by a live broker, known at ``ts``."""

    order: Order
    ts: int


Event = Bar | TradeTick | QuoteTick | Timer | FillEvent | OrderEvent

_KIND = {
    Bar: EventKind.BAR,
    TradeTick: EventKind.TRADE,
    QuoteTick: EventKind.QUOTE,
    Timer: EventKind.TIMER,
    FillEvent: EventKind.FILL,
    OrderEvent: EventKind.ORDER,
}


def event_kind(event: Event) -> EventKind:
    """The kind of ``event``.

    >>> event_kind(Timer(5, "x"))
    <EventKind.TIMER: 5>
    """
    try:
        return _KIND[type(event)]
    except KeyError:
        raise TypeError(
            f"unknown event type {type(event).__name__}; expected one of "
            + ", ".join(t.__name__ for t in _KIND)
        ) from None


def event_time(event: Event) -> int:
    """When the engine learns of ``event``: a bar's close, otherwise its ``ts``.

    >>> event_time(Bar("BTC/USDT", 0, 60_000, 1.0, 1.0, 1.0, 1.0, 0.0))
    60000
    """
    if type(event) is Bar:
        return event.close_ts  # type: ignore[union-attr]
    return event.ts  # type: ignore[union-attr]


def _tiebreak(event: Event) -> str:
    symbol = getattr(event, "symbol", None)
    return symbol if isinstance(symbol, str) else ""


class EventQueue:
    """A priority queue ordered by ``(time, kind, symbol, sequence)``.

    Used where heterogeneous sources must be merged (ticks with bars, journals,
    live events). Single-symbol bar replays do not need it: their arrays are
    already in order (see ``feeds``).
    """

    __slots__ = ("_heap", "_seq")

    def __init__(self) -> None:
        self._heap: list[tuple[int, int, str, int, Event]] = []
        self._seq = 0

    def __len__(self) -> int:
        return len(self._heap)

    def push(self, event: Event) -> None:
        self._seq += 1
        heapq.heappush(
            self._heap,
            (event_time(event), int(event_kind(event)), _tiebreak(event), self._seq, event),
        )

    def pop(self) -> Event:
        return heapq.heappop(self._heap)[-1]

    def peek_time(self) -> int | None:
        return self._heap[0][0] if self._heap else None

    def drain(self) -> Iterator[Event]:
        """Pop every event in order (events pushed meanwhile are included)."""
        while self._heap:
            yield heapq.heappop(self._heap)[-1]
