"""Deterministic public trades for the emulator's ``<symbol>@trade`` stream.

Each replayed bar becomes ``TRADES_PER_BAR`` trades, evenly spaced from the bar's
open time (the first trade is at the open, the last before the close), along
open -> low -> high -> close when the bar closed up (or flat), open -> high -> low ->
close when it closed down. Each trade has a quarter of the bar's volume, the last
one the remainder, so the trades aggregated into a bar give back the kline's open,
high, low, close exactly and its volume to float rounding. Trade ids are
``bar index * TRADES_PER_BAR + k``: unique and increasing per symbol.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

TRADES_PER_BAR = 4


class EmuTrade(NamedTuple):
    id: int
    ts: int
    price: float
    qty: float
    buyer_maker: bool


def bar_trades(index: int, open_ts: int, ohlcv: np.ndarray, tf_ms: int) -> list[EmuTrade]:
    """The trades of the bar at ``index`` (``ohlcv``: open, high, low, close, volume)."""
    o, h, lo, c, v = (float(x) for x in ohlcv)
    path = (o, lo, h, c) if c >= o else (o, h, lo, c)
    share = v / TRADES_PER_BAR
    qtys = [share] * (TRADES_PER_BAR - 1) + [v - share * (TRADES_PER_BAR - 1)]
    out: list[EmuTrade] = []
    prev = o
    for k, (price, qty) in enumerate(zip(path, qtys)):
        out.append(EmuTrade(index * TRADES_PER_BAR + k, open_ts + k * tf_ms // TRADES_PER_BAR,
                            price, qty, price < prev))
        prev = price
    return out


def trades_between(ts: np.ndarray, values: np.ndarray, tf_ms: int, start: int,
                   end: int) -> list[EmuTrade]:
    """Every trade with ``start <= ts < end`` (``end`` exclusive: the clock's now + 1)."""
    if end <= start:
        return []
    lo = max(0, int(np.searchsorted(ts, start - tf_ms, side="right")))
    hi = int(np.searchsorted(ts, end, side="left"))
    return [t for i in range(lo, hi) for t in bar_trades(i, int(ts[i]), values[i], tf_ms)
            if start <= t.ts < end]


__all__ = ["TRADES_PER_BAR", "EmuTrade", "bar_trades", "trades_between"]
