"""Several timeframes of a symbol: ctx.bars, ctx.history and ctx.indicator on bars
resampled from the run's base bars (engine.run.resample, engine.run.timeframe_data)."""

from __future__ import annotations

import numpy as np
import pytest

from tradeloom.engine.errors import StrategyError
from tradeloom.engine.market import MarketSpec
from tradeloom.engine.orders import Bar
from tradeloom.engine.run.backtest import backtest_arrays, build_engine
from tradeloom.engine.run.feeds import BarArrays
from tradeloom.engine.run.resample import resample
from tradeloom.engine.strategy.base import Strategy

H = 3_600_000
DAY = 24 * H


def hourly(closes, start=0, skip=()):
    """1h bars with the given closes (open = previous close, high/low +-1), minus ``skip``."""
    rows = [(start + i * H, c) for i, c in enumerate(closes) if i not in skip]
    ts = np.array([t for t, _ in rows], dtype=np.int64)
    close = np.array([c for _, c in rows], dtype=np.float64)
    open_ = np.r_[close[:1], close[:-1]]
    return BarArrays(ts, open_, np.maximum(open_, close) + 1.0, np.minimum(open_, close) - 1.0,
                     close, np.full(len(rows), 2.0))


class Reader(Strategy):
    """Records what it sees of the 4h timeframe at every 1h bar."""

    timeframes = {"4h": 3}

    def on_start(self, ctx):
        self.sma = ctx.indicator("sma", period=2, timeframe="4h")
        self.seen = []

    def on_bar(self, ctx, bar):
        four = ctx.bars(bar.symbol, "4h", 3)
        self.seen.append((ctx.now // H, [(b.ts // H, b.close_ts // H, b.close) for b in four],
                          self.sma.value))


def test_a_4h_bar_reaches_the_strategy_at_the_step_of_its_close_never_before():
    s = Reader()
    backtest_arrays(s, hourly([float(10 + i) for i in range(9)]), symbol="BTC/USDT",
                    timeframe="1h")
    seen = {now: bars for now, bars, _ in s.seen}
    assert seen[3] == []  # the 1h bar closing at 03:00: the 00:00-04:00 bar is not closed yet
    assert seen[4] == [(0, 4, 13.0)]  # closes with the 1h bar 03:00-04:00: close 13
    assert seen[7] == [(0, 4, 13.0)]
    assert seen[8] == [(0, 4, 13.0), (4, 8, 17.0)]
    assert all(b[1] <= now for now, bars, _ in s.seen for b in bars)


def test_an_indicator_on_a_higher_timeframe_updates_when_its_bar_closes():
    s = Reader()
    backtest_arrays(s, hourly([float(10 + i) for i in range(9)]), symbol="BTC/USDT",
                    timeframe="1h")
    sma = {now: v for now, _, v in s.seen}
    assert np.isnan(sma[4]) and np.isnan(sma[7])  # one 4h close so far (13)
    assert sma[8] == (13.0 + 17.0) / 2  # the second 4h close (17) arrives at 08:00


def test_the_4h_bar_aggregates_open_high_low_close_and_volume_of_its_hours():
    data = hourly([10.0, 14.0, 9.0, 12.0])
    bars = [Bar("BTC/USDT", int(t), int(t) + H, o, h, lo, c, v) for t, o, h, lo, c, v in zip(*data)]
    (four,) = resample(bars, "4h", "1h")
    # open 10 (first open), high 15 (14 + 1), low 8 (9 - 1), close 12, volume 4 x 2
    assert tuple(four) == ("BTC/USDT", 0, 4 * H, 10.0, 15.0, 8.0, 12.0, 8.0)


def test_a_gap_inside_a_bucket_gives_a_partial_bar_emitted_when_the_next_bucket_starts():
    # hours 0..11 with hours 6 and 7 missing: the 04:00-08:00 bar has 04:00 and 05:00 only
    s = Reader()
    backtest_arrays(s, hourly([float(10 + i) for i in range(12)], skip=(6, 7)),
                    symbol="BTC/USDT", timeframe="1h")
    seen = {now: bars for now, bars, _ in s.seen}
    assert seen[6] == [(0, 4, 13.0)]  # 05:00-06:00 closed; the bucket may still get bars
    assert seen[9] == [(0, 4, 13.0), (4, 8, 15.0)]  # the 08:00 bar proves 04:00-08:00 is over
    assert seen[12] == [(0, 4, 13.0), (4, 8, 15.0), (8, 12, 21.0)]


def test_a_run_starting_inside_a_bucket_skips_that_bucket_and_the_last_open_one_never_closes():
    # hours 2..9: 00:00-04:00 began before the data (skipped), 08:00-12:00 never closes
    s = Reader()
    backtest_arrays(s, hourly([float(10 + i) for i in range(8)], start=2 * H),
                    symbol="BTC/USDT", timeframe="1h")
    assert s.seen[-1] == (10, [(4, 8, 15.0)], s.seen[-1][2])


def test_weeks_start_on_monday():
    # 1970-01-05 was a Monday; 21 daily bars from 1970-01-01 (a Thursday)
    days = [Bar("BTC/USDT", d * DAY, (d + 1) * DAY, 1.0, 2.0, 0.5, float(d), 1.0) for d in range(21)]
    weeks = resample(days, "1w", "1d")
    assert [(b.ts // DAY, b.close_ts // DAY, b.close) for b in weeks] == [(4, 11, 10.0), (11, 18, 17.0)]


def test_a_timeframe_that_is_not_a_multiple_of_the_run_is_refused_with_the_reason():
    class Bad(Strategy):
        def on_start(self, ctx):
            ctx.bars("BTC/USDT", "90m")

    with pytest.raises(StrategyError, match="'90m' cannot be built from '1h' bars"):
        backtest_arrays(Bad(), hourly([1.0, 2.0]), symbol="BTC/USDT", timeframe="1h")


def test_asking_for_more_bars_than_kept_after_they_started_is_refused():
    class Greedy(Strategy):
        timeframes = {"4h": 2}

        def on_bar(self, ctx, bar):
            if ctx.now == 9 * H:
                ctx.bars(bar.symbol, "4h", 5)

    with pytest.raises(StrategyError, match=r"declare `timeframes = \{'4h': 5\}`"):
        backtest_arrays(Greedy(), hourly([1.0] * 10), symbol="BTC/USDT", timeframe="1h")


def test_history_of_a_higher_timeframe_is_numpy_like_the_base_history():
    class Hist(Strategy):
        def on_start(self, ctx):
            self.last = None
            ctx.history("BTC/USDT", 2, timeframe="4h")

        def on_bar(self, ctx, bar):
            self.last = (ctx.history(bar.symbol, 2, "close", timeframe="4h"),
                         ctx.history(bar.symbol, 2, "ts", timeframe="4h"))

    s = Hist()
    backtest_arrays(s, hourly([float(10 + i) for i in range(12)]), symbol="BTC/USDT",
                    timeframe="1h")
    closes, ts = s.last
    assert closes.tolist() == [17.0, 21.0] and closes.dtype == np.float64
    assert ts.tolist() == [4 * H, 8 * H] and ts.dtype == np.int64


def test_a_multi_symbol_indicator_view_shows_the_symbol_of_the_bar_being_handled():
    class Both(Strategy):
        def on_start(self, ctx):
            self.hi = ctx.indicator("sma", period=1, timeframe="4h")
            self.seen = []

        def on_bar(self, ctx, bar):
            self.seen.append((ctx.now // H, bar.symbol, self.hi.value))

    s = Both()
    data = {"BTC/USDT": hourly([float(100 + i) for i in range(8)]),
            "ETH/USDT": hourly([float(10 + i) for i in range(8)])}
    backtest_arrays(s, data, timeframe="1h")
    at8 = {sym: v for now, sym, v in s.seen if now == 8}
    assert at8 == {"BTC/USDT": 107.0, "ETH/USDT": 17.0}


def test_warm_up_counts_base_bars_for_higher_timeframe_indicators():
    class Warm(Strategy):
        def on_start(self, ctx):
            ctx.indicator("sma", period=3, timeframe="4h")  # 3 closed 4h bars
            ctx.indicator("sma", period=5)  # 5 closed 1h bars

    engine = build_engine(Warm(), symbols=["BTC/USDT"], timeframe="1h")
    engine.start(0)
    # 3 full buckets of 4 hours, plus the 3 hours of a bucket the warm-up may begin inside
    assert engine.warmup_bars() == 4 * (3 + 1) - 1


def test_priming_feeds_the_higher_timeframes_like_the_step():
    engine = build_engine(Reader(), symbols=["BTC/USDT"], timeframe="1h",
                          markets={"BTC/USDT": MarketSpec("BTC/USDT")})
    engine.start(0)
    for i in range(8):
        engine.prime(Bar("BTC/USDT", i * H, (i + 1) * H, 1.0, 2.0, 0.5, float(i), 1.0))
    assert [b.close for b in engine.ctx.bars("BTC/USDT", "4h", 3)] == [3.0, 7.0]
    assert engine.strategy.sma.value == 5.0
