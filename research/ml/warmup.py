"""Warm-up for model strategies in backtests: the bars before the start, fed to the model first.

Why: a model's features need history (the default library's longest window is
199 bars), so a backtest that starts feeding the model at its first bar leaves a
model strategy flat for its first ~200 bars, which a live trader, whose model
has seen the market all along, would not be. ``run_backtest`` therefore gives
its model book a :class:`StoreHistory`: when the strategy loads a model
(``ctx.model`` / ``ctx.confidence`` in ``on_start``), the book reads the
:func:`warmup_bars` bars per symbol that closed before the backtest's start from
the store and feeds them to the model's online features (and its meta-labeling
primary rule). Nothing is traded or recorded on them: the first decision is on
the first bar after the start, with the model already warm.

**How many bars**: twice the longest lookback (the pipeline's ``warmup``, or the
primary rule's when longer), plus one. The first ``warmup`` bars make every
feature defined; the second half lets the recursive ones (EMA, RSI, ATR, ADX,
MACD, Keltner), which depend on where their series started, forget it. A start
with less stored history before it is primed with what there is (the features
then become defined a little later, as in a batch over the same bars).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pandas as pd

from tradeloom.engine.timeframes import timeframe_to_ms

__all__ = ["StoreHistory", "warmup_bars"]


def warmup_bars(model: Any) -> int:
    """Bars per symbol to prime ``model`` (a ``confidence.ConfidenceModel``) with.

    >>> from tradeloom.research.features.library import default_pipeline
    >>> from types import SimpleNamespace
    >>> warmup_bars(SimpleNamespace(pipeline=default_pipeline(), primary=None))  # 2 * 199 + 1
    399
    """
    need = int(model.pipeline.warmup)
    prim = getattr(model, "primary", None)
    if prim is not None:
        need = max(need, int(prim.warmup))
    return 2 * need + 1


class StoreHistory:
    """The bars of a store that closed before ``start`` (UTC ms): ``bars(symbols, n)`` is the
    last ``n`` bar opens per symbol before ``start`` (a time window, so a gap in the data
    gives fewer bars, never older ones), ordered like a run: by ts, then symbol."""

    def __init__(self, store: Any, exchange: str, timeframe: str, start: int) -> None:
        self.store = store
        self.exchange = exchange
        self.timeframe = timeframe
        self.start = int(start)
        self._tf = timeframe_to_ms(timeframe)

    def __repr__(self) -> str:
        return (f"StoreHistory({self.exchange} {self.timeframe}, before {self.start})")

    def bars(self, symbols: Sequence[str], n: int) -> pd.DataFrame:
        lo = self.start - int(n) * self._tf
        stored = {d.symbol: d for d in self.store.list_datasets()
                  if d.exchange == self.exchange and d.timeframe == self.timeframe}
        # only symbols with bars in [lo, start): a run starting at the first stored bar
        # has nothing before it, which is not an error
        have = sorted(s for s in set(symbols)
                      if s in stored and stored[s].first_ts < self.start
                      and stored[s].last_ts >= lo)
        if not have:
            return pd.DataFrame({"ts": pd.Series(dtype="int64"),
                                 "symbol": pd.Series(dtype=object)})
        frame = self.store.read_bars(self.exchange, self.timeframe, have, lo, self.start)
        frame = frame.assign(symbol=frame["symbol"].astype(object))
        return frame.sort_values(["ts", "symbol"], kind="stable").reset_index(drop=True)
