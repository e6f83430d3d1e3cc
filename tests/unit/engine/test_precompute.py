"""Indicators precomputed in a backtest whose bars are known (``StrategyData.precompute``)
read exactly what the streaming indicators would have read, bar by bar, and the run's
orders, fills and equity are byte-identical.

``drive`` precomputes when it steps ``KnownBars`` (``merge_bars``); the same bars as a
plain iterator stream as before, which is the reference here. ``PRECOMPUTE_MIN_BARS``
is lowered for these short runs.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from engine_helpers import random_walk

from tradeloom.engine.indicators.registry import INDICATORS
from tradeloom.engine.run import strategy_data
from tradeloom.engine.run.backtest import build_engine, collect, drive
from tradeloom.engine.run.feeds import BarArrays, KnownBars, merge_bars
from tradeloom.engine.strategy.base import Strategy
from tradeloom.research.strategies import SmaCross

MIN = 60_000
#: Every single-output indicator of the close: the ones ``precompute`` may take over.
CLOSE_SINGLE = sorted(n for n, s in INDICATORS.items() if s.inputs == ("close",) and s.outputs == ("value",))


@pytest.fixture(autouse=True)
def _short_runs_precompute(monkeypatch):
    monkeypatch.setattr(strategy_data, "PRECOMPUTE_MIN_BARS", 0)


def with_holes(a: BarArrays, rows: list[int]) -> BarArrays:
    """``a`` with NaN closes at ``rows`` (a hole resets a streaming indicator)."""
    close = a.close.copy()
    close[rows] = np.nan
    return BarArrays(a.ts, a.open, a.high, a.low, close, a.volume)


class Reader(Strategy):
    """Records ``(value, ready)`` of each indicator on every bar; never trades."""

    def on_start(self, ctx):
        self.inds = {name: ctx.indicator(name, "BTC/USDT", period=5) for name in CLOSE_SINGLE}
        self.seen = {name: [] for name in CLOSE_SINGLE}

    def on_bar(self, ctx, bar):
        for name, ind in self.inds.items():
            self.seen[name].append((ind.value, ind.ready))


def run(strategy, data, *, known: bool):
    engine = build_engine(strategy, symbols=sorted(data), timeframe="1m", initial_cash=10_000.0)
    bars = merge_bars(data, MIN)
    drive(engine, bars if known else iter(list(bars)))
    return engine, collect(engine, timeframe="1m")


def test_merge_bars_carries_its_columns():
    a = random_walk(3, 1)
    bars = merge_bars({"ETH/USDT": a, "BTC/USDT": a}, MIN)
    assert isinstance(bars, KnownBars)
    assert sorted(bars.columns) == ["BTC/USDT", "ETH/USDT"]
    assert len(list(bars)) == 6


@pytest.mark.parametrize("name", CLOSE_SINGLE)
def test_a_streams_value_is_what_its_last_update_returned(name):
    # precompute sets ``value`` only; exact because update's return and value never differ
    stream = INDICATORS[name].make_stream(period=5)
    closes = with_holes(random_walk(60, 3), [7, 30, 31]).close.tolist()
    for x in closes:
        out = stream.update(x)
        assert (math.isnan(out) and math.isnan(stream.value)) or out == stream.value


def test_precomputed_values_equal_streamed_ones_bit_for_bit_through_holes():
    data = {"BTC/USDT": with_holes(random_walk(300, 5), [20, 21, 150])}
    fast, slow = Reader(), Reader()
    e_fast, _ = run(fast, data, known=True)
    run(slow, data, known=False)
    assert len(e_fast._feed["BTC/USDT"][2]) == len(CLOSE_SINGLE)  # all precomputed
    for name in CLOSE_SINGLE:
        a = np.array([v for v, _ in fast.seen[name]])
        b = np.array([v for v, _ in slow.seen[name]])
        assert a.tobytes() == b.tobytes(), name
        assert [r for _, r in fast.seen[name]] == [r for _, r in slow.seen[name]], name


def test_sma_cross_backtest_is_byte_identical_with_precomputed_smas():
    data = {"BTC/USDT": random_walk(3000, 11), "ETH/USDT": random_walk(3000, 12, 50.0)}
    e_fast, fast = run(SmaCross(fast=5, slow=20), data, known=True)
    _, slow = run(SmaCross(fast=5, slow=20), data, known=False)
    assert len(e_fast._feed["ETH/USDT"][2]) == 2
    assert len(fast.fills) > 10
    for frame in ("orders", "fills", "equity", "trades"):
        assert getattr(fast, frame).equals(getattr(slow, frame)), frame


def test_short_runs_keep_streaming(monkeypatch):
    monkeypatch.setattr(strategy_data, "PRECOMPUTE_MIN_BARS", 301)
    engine, _ = run(Reader(), {"BTC/USDT": random_walk(300, 5)}, known=True)
    assert engine._feed["BTC/USDT"][2] == []
    assert len(engine._feed["BTC/USDT"][0]) == len(CLOSE_SINGLE)


def test_a_primed_engine_keeps_streaming():
    data = {"BTC/USDT": random_walk(50, 5)}
    engine = build_engine(Reader(), symbols=["BTC/USDT"], timeframe="1m", initial_cash=1_000.0)
    engine.start(0)
    engine.prime(next(iter(merge_bars(data, MIN))))
    assert engine.precompute(data) == 0
    assert engine._feed["BTC/USDT"][2] == []


class LateAndShared(Strategy):
    """An indicator per symbol without naming one (a view), and one asked for on bar 10."""

    def on_start(self, ctx):
        self.view = ctx.indicator("sma", period=3)
        self.late = None
        self.n = 0

    def on_bar(self, ctx, bar):
        self.n += 1
        if self.n == 10:
            self.late = ctx.indicator("ema", "BTC/USDT", period=3)


def test_views_and_indicators_asked_for_later_keep_streaming():
    data = {"BTC/USDT": random_walk(40, 1), "ETH/USDT": random_walk(40, 2)}
    engine, _ = run(LateAndShared(), data, known=True)
    assert all(feed[2] == [] for feed in engine._feed.values())
    assert engine.strategy.late.ready
