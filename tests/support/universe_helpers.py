"""Tiny synthetic stores for the universe and regime tests (hand-checkable figures)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from tradeloom.adapters.store.market_store import MarketStore

HOUR = 3_600_000
DAY = 24 * HOUR


def flat_bars(first_hour: int, hours: int, volume: float, rng: float = 0.02,
              price: float = 1.0) -> pd.DataFrame:
    """Constant close ``price``, bar range ``rng * price``: quote volume = price*volume per bar."""
    ts = (np.arange(hours) + first_hour) * HOUR
    return pd.DataFrame({"ts": ts, "open": price, "high": price * (1 + rng / 2),
                         "low": price * (1 - rng / 2), "close": price, "volume": volume})


def walk_bars(seed: int, hours: int, first_hour: int = 0) -> pd.DataFrame:
    """A seeded random walk with consistent OHLC."""
    gen = np.random.default_rng(seed)
    close = 100.0 * np.exp(np.cumsum(gen.normal(0, 0.01, hours)))
    opn = np.concatenate([[100.0], close[:-1]])
    spread = np.abs(gen.normal(0, 0.004, hours)) * close
    return pd.DataFrame({"ts": (np.arange(hours) + first_hour) * HOUR, "open": opn,
                         "high": np.maximum(opn, close) + spread,
                         "low": np.minimum(opn, close) - spread, "close": close,
                         "volume": gen.uniform(1, 100, hours)})


def write(store: MarketStore, frames: dict[str, pd.DataFrame], exchange: str = "binance") -> MarketStore:
    for symbol, frame in frames.items():
        store.write_bars(exchange, "1h", symbol, frame, source="test")
    return store
