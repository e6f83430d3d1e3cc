"""Shared data for the sweep, walk-forward, executor and research-CLI tests.

A store in a temp dir holding the bundled real sample (binance 1h, 2020-12 to
2021-07), and short ranges of it so each backtest takes a fraction of a second.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

from tradeloom.adapters.store.market_store import MarketStore
from tradeloom.app.sample import load_sample
from tradeloom.engine.market import FeeSide
from tradeloom.engine.timeutil import parse_utc_ms
from tradeloom.research.sweeps.jobs import DataSpec

SMA = "tradeloom.research.strategies.sma_cross:SmaCross"
SMA_FILE = str(Path(__file__).resolve().parents[2] / "research" / "strategies" / "sma_cross.py") + ":SmaCross"
RSI = "tradeloom.research.strategies.rsi_reversion:RsiReversion"
START, END = "2021-01-01", "2021-02-15"  # about 1,080 bars of 1h


def make_store(root: Path, *, quote_fees: bool = True) -> MarketStore:
    """The sample in a store. ``quote_fees`` (the default) records a newer snapshot of
    the sample's Binance rules charging fees in the quote currency (the figures these
    tests pin were computed so); ``quote_fees=False`` keeps Binance's own rule (fees in
    the coin received). The kernel fast path runs either."""
    store = MarketStore(root)
    load_sample(store)
    if quote_fees:
        markets = store.load_markets("binance")
        store.save_markets("binance", {s: dataclasses.replace(m, fee_side=FeeSide.QUOTE)
                                       for s, m in markets.items()}, fetched_ts=2)
    return store


def data_spec(root: Path, symbols: tuple[str, ...] = ("BTC/USDT",), start: str = START,
              end: str = END) -> DataSpec:
    return DataSpec(str(root), "binance", "1h", symbols, parse_utc_ms(start), parse_utc_ms(end))
