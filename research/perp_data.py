"""The perpetuals' funding for a backtest, from the store: rates and the mark price at
each funding time.

``funding_for`` reads, for each perpetual of the run (a ``MarketSpec`` with contract
terms), the stored funding history (``MarketStore.read_funding``) in ``[start, end)``
and the stored mark-price bars (``MarketStore.read_bars(price="mark")``, the finest
timeframe stored): the mark at a funding time ``T`` is the open of the mark bar
containing ``T`` (``bar.ts <= T < bar.ts + timeframe``; Binance stamps funding a few
ms after the 8-hour boundary, when the mark bar of that boundary has just opened). A
funding time without a mark bar gets NaN, which the engine replaces with the symbol's
latest close (``engine.run.perp_step``). What is missing is said, once per symbol, in
the notes the run records as events (a perpetual without stored funding pays none:
the note names the ingest command).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from tradeloom.engine.market import MarketSpec
from tradeloom.engine.run.funding_feed import FundingRates
from tradeloom.engine.timeframes import timeframe_to_ms


def _mark_timeframe(store: Any, exchange: str, symbol: str) -> str | None:
    stored = [d.timeframe for d in store.list_datasets("mark")
              if d.exchange == exchange and d.symbol == symbol]
    return min(stored, key=timeframe_to_ms) if stored else None


def funding_for(store: Any, exchange: str, markets: Mapping[str, MarketSpec],
                start: int | None, end: int | None
                ) -> tuple[dict[str, FundingRates], list[str]]:
    """``({symbol: FundingRates}, notes)`` for the perpetuals among ``markets``."""
    out: dict[str, FundingRates] = {}
    notes: list[str] = []
    for symbol, spec in sorted(markets.items()):
        if not spec.is_perp:
            continue
        frame = store.read_funding(exchange, symbol, start, end)
        if frame.empty:
            notes.append(
                f"no funding history stored for {symbol}: the run pays no funding; fetch it with "
                f"`tradeloom ingest --kind funding --market-type swap --exchange {exchange} "
                f"--symbols {symbol}`")
            continue
        ts = frame["ts"].to_numpy(dtype=np.int64)
        rate = frame["funding_rate"].to_numpy(dtype=np.float64)
        mark = np.full(ts.shape, np.nan)
        tf = _mark_timeframe(store, exchange, symbol)
        if tf is None:
            notes.append(
                f"no mark-price bars stored for {symbol}: funding is valued at the latest close; "
                f"fetch them with `tradeloom ingest --kind mark --market-type swap --exchange "
                f"{exchange} --symbols {symbol} --timeframe 8h`")
        else:
            tf_ms = timeframe_to_ms(tf)
            bars = store.read_bars(exchange, tf, symbol, int(ts[0]) - tf_ms, int(ts[-1]) + 1,
                                   price="mark")
            if not bars.empty:
                bar_ts = bars["ts"].to_numpy(dtype=np.int64)
                opens = bars["open"].to_numpy(dtype=np.float64)
                i = np.searchsorted(bar_ts, ts, side="right") - 1
                ok = (i >= 0) & (ts < bar_ts[np.maximum(i, 0)] + tf_ms)
                mark[ok] = opens[i[ok]]
        out[symbol] = FundingRates.from_columns(ts=ts, rate=rate, mark=mark)
    return out, notes


__all__ = ["funding_for"]
