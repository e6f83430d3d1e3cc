"""No look-ahead across timeframes: change every base bar from time T on, and nothing a
multi-timeframe strategy saw or decided before T may change.

Random strategies read 5m and 15m bars resampled from 1m bars (``ctx.bars``,
``ctx.history(..., timeframe=)``, indicators on both timeframes, one of them multi-input)
and trade on them, on random data with random gaps. The run is repeated with every
base bar opening at or after T replaced by another random walk, and with other bars
missing after T. Every record taken at a step ``<= T`` (the higher-timeframe bars seen,
every indicator value, every order placed) and every fill before T must be identical,
byte for byte; and no higher-timeframe bar may ever be seen before its close.
"""

from __future__ import annotations

import numpy as np
from engine_helpers import random_walk
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tradeloom.engine.run.backtest import backtest_arrays
from tradeloom.engine.run.feeds import BarArrays
from tradeloom.engine.strategy.base import Param, Strategy

SYMBOLS = ("BTC/USDT", "ETH/USDT")
MIN = 60_000


class MultiTimeframeRule(Strategy):
    """Trades when the 1m close crosses the 5m SMA, filtered by the 15m trend."""

    timeframes = {"5m": 4}
    period = Param(int, 3, min=1)
    threshold = Param(float, 0.0)
    kinds = Param(str, "market")

    def on_start(self, ctx):
        self.fast = {s: ctx.indicator("sma", symbol=s, period=self.period, timeframe="5m")
                     for s in ctx.symbols}
        self.trend = ctx.indicator("ema", period=2, timeframe="15m")
        self.atr = ctx.indicator("atr", period=2, timeframe="5m")
        self.records: list[tuple] = []
        self.early: list[tuple] = []  # any higher-timeframe bar seen before its close
        self.kind_list = self.kinds.split(",")
        self.n = 0

    def on_bar(self, ctx, bar):
        s = bar.symbol
        five = ctx.bars(s, "5m", 4)
        fifteen = ctx.bars(s, "15m", 2)
        highs = ctx.history(s, 3, "high", timeframe="5m")
        self.early += [(ctx.now, b) for b in (*five, *fifteen) if b.close_ts > ctx.now]
        fast, trend, atr = self.fast[s].value, self.trend.value, self.atr.value
        self.records.append((ctx.now, s, tuple(five), tuple(fifteen), highs.tobytes(),
                             repr((fast, trend, atr))))
        if not (self.fast[s].ready and self.trend.ready):
            return
        kind = self.kind_list[self.n % len(self.kind_list)]
        self.n += 1
        order = None
        if bar.close > fast * (1 + self.threshold) and bar.close > trend and ctx.cash > 50:
            size = ctx.cash * 0.2 / bar.close
            if kind == "limit":
                order = ctx.buy(s, size, price=bar.close - 0.5 * atr)
            elif kind == "target":
                order = ctx.target_percent(s, 0.3)
            else:
                order = ctx.buy(s, size)
        elif bar.close < fast * (1 - self.threshold) and ctx.position(s) > 0:
            order = ctx.target_percent(s, 0.0)
        if order is not None:
            self.records.append((ctx.now, order.id, order.side.value, order.type.value,
                                 order.amount, order.price, order.quote_amount))


def with_gaps(data: BarArrays, drop: np.ndarray) -> BarArrays:
    keep = ~drop
    return BarArrays(*(c[keep] for c in data))


def mutated(data: BarArrays, k: int, seed: int) -> BarArrays:
    """Bars from index k on replaced by another random walk's."""
    other = random_walk(len(data), seed)
    cols = [c.copy() for c in data]
    for j in range(1, 6):
        cols[j][k:] = other[j][k:]
    return BarArrays(*cols)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(0, 100_000),
    n=st.integers(60, 240),
    cut=st.floats(0.2, 0.9),
    gap_rate=st.sampled_from([0.0, 0.05, 0.2]),
    period=st.integers(1, 4),
    threshold=st.floats(0.0, 0.005),
    kinds=st.lists(st.sampled_from(["market", "limit", "target"]), min_size=1, max_size=3)
    .map(",".join),
)
def test_changing_the_base_bars_after_t_never_changes_what_was_seen_before_t(
        seed, n, cut, gap_rate, period, threshold, kinds):
    rng = np.random.default_rng(seed)
    k = int(n * cut)
    t_cut = k * MIN  # base bars opening at or after t_cut change (and other ones go missing)
    data, changed = {}, {}
    for i, s in enumerate(SYMBOLS):
        walk = random_walk(n, seed + i, 100.0 * (i + 1))
        drop = rng.random(n) < gap_rate
        drop_after = drop | ((np.arange(n) >= k) & (rng.random(n) < 0.3))
        data[s] = with_gaps(walk, drop)
        changed[s] = with_gaps(mutated(walk, k, seed + 999 + i), drop_after)
    params = {"period": period, "threshold": threshold, "kinds": kinds}

    runs = []
    for d in (data, changed):
        strategy = MultiTimeframeRule(**params)
        res = backtest_arrays(strategy, d, timeframe="1m", initial_cash=10_000.0, seed=seed)
        runs.append((strategy, res))
    (a, ra), (b, rb) = runs

    assert a.early == [] and b.early == []  # no 5m/15m bar ever seen before its close
    before_a = [r for r in a.records if r[0] <= t_cut]
    before_b = [r for r in b.records if r[0] <= t_cut]
    assert before_a == before_b
    assert repr(before_a) == repr(before_b)  # floats equal bit for bit (NaN included)
    fa = ra.fills[ra.fills["ts"] < t_cut].reset_index(drop=True)
    fb = rb.fills[rb.fills["ts"] < t_cut].reset_index(drop=True)
    assert fa.equals(fb)
    # the mutation really changed what came after T (the test would be vacuous otherwise)
    after_a = [r for r in a.records if r[0] > t_cut]
    after_b = [r for r in b.records if r[0] > t_cut]
    assert after_a != after_b or not after_a
