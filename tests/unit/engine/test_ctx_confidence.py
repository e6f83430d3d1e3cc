"""ctx.confidence: the engine feeds the model book each closed bar before on_bar."""

from __future__ import annotations

import math

import numpy as np
import pytest

from tradeloom.engine.errors import StrategyError
from tradeloom.engine.run.backtest import backtest_arrays
from tradeloom.engine.run.feeds import BarArrays
from tradeloom.engine.strategy.base import Strategy

N = 6
PX = np.arange(1.0, N + 1.0)
DATA = BarArrays.from_columns(
    ts=np.arange(N, dtype=np.int64) * 60_000, open=PX, high=PX, low=PX, close=PX, volume=np.ones(N)
)


class LastCloseBook:
    """A model book whose 'confidence' is the last close it was fed divided by 10."""

    def __init__(self):
        self.required: list[str] = []
        self.fed: list[int] = []
        self._last = math.nan

    def require(self, ref):
        self.required.append(ref)
        return self

    def on_bar(self, bar):
        self.fed.append(bar.ts)
        self._last = bar.close / 10.0

    def confidence(self, ref, symbol):
        return self._last


def test_confidence_without_a_registry_says_how_to_provide_one():
    class Asks(Strategy):
        def on_start(self, ctx):
            ctx.confidence("btc_dir@champion", "BTC/USDT")

    with pytest.raises(StrategyError, match="needs a model registry"):
        backtest_arrays(Asks(), DATA, symbol="BTC/USDT", timeframe="1m")


def test_the_book_sees_each_bar_before_the_strategy_reads_confidence():
    book = LastCloseBook()

    class Reads(Strategy):
        def on_start(self, ctx):
            ctx.use_models(book)
            self.loaded = ctx.model("m")
            self.seen = []

        def on_bar(self, ctx, bar):
            self.seen.append((bar.close, ctx.confidence("m", bar.symbol)))

    strategy = Reads()
    backtest_arrays(strategy, DATA, symbol="BTC/USDT", timeframe="1m")
    assert strategy.loaded is book
    assert strategy.seen == [(c, c / 10.0) for c in PX]
    assert book.fed == list(DATA.ts)


def test_a_run_that_asks_for_no_model_never_feeds_the_book():
    book = LastCloseBook()

    class Ignores(Strategy):
        def on_start(self, ctx):
            ctx.use_models(book)

    backtest_arrays(Ignores(), DATA, symbol="BTC/USDT", timeframe="1m")
    assert book.fed == [] and book.required == []
