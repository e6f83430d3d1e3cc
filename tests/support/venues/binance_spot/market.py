"""Public market data of the Binance emulator: klines from replayed bars, order book depth.

Klines (rest-api.md "Kline/Candlestick data"): rows ``[open time, open, high, low,
close, volume, close time, quote volume, trades, taker buy base, taker buy quote,
"0"]``; without startTime/endTime the most recent bars; with startTime the oldest
from it; with endTime the most recent up to it; ``limit`` default 500, max 1000
(rest-api.md "General API Information"). Bars closed on the emulator's market clock
are served whole; the bar in progress is served last, as Binance serves the open
bar, with its open price as open/high/low/close and no volume yet.

Depth (rest-api.md "Order book"): ``limit`` default 100, max 5000, levels
``[price, qty]`` as 8-decimal strings; the account's own resting orders are part of
the book like everybody else's.

>>> from venues.common.bars import sample_bars
>>> bars = sample_bars("BTC/USDT")
>>> rows = klines(bars, index=3, tf_ms=3_600_000, start=None, end=None, limit=2)
>>> [r[0] for r in rows], rows[-1][1:6]
([1606788000000, 1606791600000], ['19680.96000000', '19680.96000000', '19680.96000000', \
'19680.96000000', '0.00000000'])
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from venues.binance_spot.errors import BinanceError
from venues.binance_spot.orders import Order
from venues.common.bars import Bars
from venues.common.book import Book
from venues.common.money import EIGHT, ZERO, Decimal, dec, fixed8, round_down

DEFAULT_KLINES, MAX_KLINES = 500, 1000
DEFAULT_DEPTH, MAX_DEPTH = 100, 5000


def _q8(value: float | Decimal) -> str:
    return fixed8(round_down(dec(value), EIGHT))


def klines(bars: Bars, *, index: int, tf_ms: int, start: int | None, end: int | None,
           limit: int) -> list[list]:
    """Rows visible when bar ``index`` is in progress (bars before it are closed)."""
    if not 1 <= limit <= MAX_KLINES:
        raise BinanceError.invalid_param("limit")
    visible = min(index + 1, len(bars))
    hi = visible if end is None else min(visible, int(np.searchsorted(bars.ts, end, "right")))
    if start is not None:
        lo = int(np.searchsorted(bars.ts, start, "left"))
        hi = min(hi, lo + limit)
    else:
        lo = max(0, hi - limit)
    return [_kline(bars, i, tf_ms, open_bar=i == index) for i in range(lo, max(lo, hi))]


def _kline(bars: Bars, i: int, tf_ms: int, *, open_bar: bool) -> list:
    t = int(bars.ts[i])
    o, h, low, c, v = bars.row(i)
    if open_bar:
        h = low = c = o
        v = ZERO
    return [t, _q8(o), _q8(h), _q8(low), _q8(c), _q8(v), t + tf_ms - 1, _q8(v * c), 0,
            _q8(v / 2), _q8(v * c / 2), "0"]


def depth(book: Book, own: Iterable[Order], limit: int) -> dict[str, list[list[str]]]:
    """Bids and asks (best first) merged with the account's own open orders."""
    if not 1 <= limit <= MAX_DEPTH:
        raise BinanceError.invalid_param("limit")
    bids: dict[Decimal, Decimal] = {lv.price: lv.qty for lv in book.bids}
    asks: dict[Decimal, Decimal] = {lv.price: lv.qty for lv in book.asks}
    for order in own:
        side = bids if order.side == "BUY" else asks
        side[order.price] = side.get(order.price, ZERO) + order.remaining
    return {"bids": [[fixed8(p), fixed8(q)] for p, q in sorted(bids.items(), reverse=True)][:limit],
            "asks": [[fixed8(p), fixed8(q)] for p, q in sorted(asks.items())][:limit]}
