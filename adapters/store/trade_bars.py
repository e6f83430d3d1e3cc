"""Aggregate trades (ticks) into OHLCV bars, streaming one batch of trades at a time.

A bar opening at ``t`` holds the trades with ``t <= ts < t + timeframe``: open is
the first trade's price, close the last one's (in stored order: time, then the
order the exchange listed them), high/low the extremes, volume the summed amount.
Periods without a trade produce no bar (a gap, as on the exchange's own klines).
State carries across batches, so a bar split over two batches or two day files
comes out whole.

>>> import numpy as np
>>> agg = TradeBars(60_000)
>>> agg.feed(np.array([0, 30_000, 61_000]), np.array([10.0, 12.0, 11.0]), np.array([1.0, 2.0, 3.0]))
>>> bars = agg.finish()
>>> bars["ts"].tolist(), bars["open"].tolist(), bars["high"].tolist(), bars["volume"].tolist()
([0, 60000], [10.0, 11.0], [12.0, 11.0], [3.0, 3.0])
"""

from __future__ import annotations

import numpy as np

from tradeloom.adapters.store.schema import BAR_COLUMNS, grid_offset_ms


class TradeBars:
    """Streaming trades -> bars of ``timeframe_ms`` (see the module docstring)."""

    def __init__(self, timeframe_ms: int, offset_ms: int = 0) -> None:
        self.tf = int(timeframe_ms)
        self.offset = int(offset_ms)
        self._done: list[dict[str, np.ndarray]] = []
        self._open: dict[str, float] | None = None  # the last, maybe unfinished bar

    def feed(self, ts: np.ndarray, price: np.ndarray, amount: np.ndarray) -> None:
        """Add trades in time order."""
        if len(ts) == 0:
            return
        bucket = ts - (ts - self.offset) % self.tf
        starts = np.flatnonzero(np.r_[True, bucket[1:] != bucket[:-1]])
        ends = np.r_[starts[1:], len(ts)]
        bars = {
            "ts": bucket[starts].astype(np.int64),
            "open": price[starts].astype(np.float64),
            "high": np.maximum.reduceat(price, starts).astype(np.float64),
            "low": np.minimum.reduceat(price, starts).astype(np.float64),
            "close": price[ends - 1].astype(np.float64),
            "volume": np.add.reduceat(amount, starts).astype(np.float64),
        }
        if self._open is not None:
            if bars["ts"][0] == self._open["ts"]:
                first = self._open
                bars["open"][0] = first["open"]
                bars["high"][0] = max(first["high"], bars["high"][0])
                bars["low"][0] = min(first["low"], bars["low"][0])
                bars["volume"][0] = first["volume"] + bars["volume"][0]
            else:
                self._done.append({c: np.array([self._open[c]]) for c in BAR_COLUMNS})
        last = len(bars["ts"]) - 1
        self._open = {c: bars[c][last] for c in BAR_COLUMNS}
        if last:
            self._done.append({c: v[:last] for c, v in bars.items()})

    def take(self) -> dict[str, np.ndarray]:
        """The bars finished so far (all but the last one, which more trades may extend)."""
        done, self._done = self._done, []
        return _concat(done)

    def finish(self) -> dict[str, np.ndarray]:
        """Every remaining bar, the last one included."""
        if self._open is not None:
            self._done.append({c: np.array([self._open[c]]) for c in BAR_COLUMNS})
            self._open = None
        return self.take()


def _concat(parts: list[dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    if not parts:
        return {c: np.empty(0, dtype=np.int64 if c == "ts" else np.float64) for c in BAR_COLUMNS}
    out = {c: np.concatenate([p[c] for p in parts]) for c in BAR_COLUMNS}
    out["ts"] = out["ts"].astype(np.int64)
    return out


def trade_bars_for(timeframe: str, timeframe_ms: int) -> TradeBars:
    """A :class:`TradeBars` on ``timeframe``'s grid (weekly bars open on Mondays)."""
    return TradeBars(timeframe_ms, grid_offset_ms(timeframe))


__all__ = ["TradeBars", "trade_bars_for"]
