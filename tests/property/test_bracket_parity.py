"""Parity of the bracket kernel (``engine/vector/brackets_nb.py``) with the event engine.

The event side runs ``BracketSignalStrategy`` (entries, exits, a size per bar, a bracket
with a take-profit ladder, a trailing stop, a time stop) through ``backtest_arrays``; the
kernel side ``run_brackets`` on the same arrays. Hypothesis draws the bars (random walks
with gaps at the open), the signals, the exits, the market rules (tick, lot, minimum
notional, lots that leave dust), fees on every fee side, slippage and the intrabar rule;
fills, trades, equity, every metric and the dust events must agree
(``research.sweeps.parity.compare_results``).
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tradeloom.engine.costs.fees import MakerTakerFees
from tradeloom.engine.costs.slippage import FixedBpsSlippage, VolumeParticipationSlippage
from tradeloom.engine.market import FeeSide, MarketSpec
from tradeloom.engine.run.backtest import backtest_arrays
from tradeloom.engine.run.feeds import BarArrays
from tradeloom.engine.sim.matching import IntrabarRule
from tradeloom.engine.vector.brackets import BracketSignalStrategy, run_brackets, sweep_brackets
from tradeloom.engine.vector.form import BracketExits, Brackets, NotVectorizable
from tradeloom.research.sweeps.parity import compare_results

SYM = "BTC/USDT"
SETTINGS = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def make_bars(seed: int, n: int, vol: float, gap: float) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    c = 100.0 * np.exp(np.cumsum(rng.normal(0, vol, n)))
    o = np.r_[100.0, c[:-1]] * np.exp(rng.normal(0, gap, n))
    h = np.maximum(o, c) * np.exp(np.abs(rng.normal(0, vol, n)))
    lo = np.minimum(o, c) * np.exp(-np.abs(rng.normal(0, vol, n)))
    return pd.DataFrame({"ts": np.arange(n, dtype=np.int64) * 60_000, "open": o, "high": h,
                         "low": lo, "close": c, "volume": rng.uniform(1.0, 50.0, n)})


@st.composite
def exits(draw) -> BracketExits:
    sl = draw(st.sampled_from([None, 0.004, 0.01, 0.03]))
    tps: tuple = ()
    if sl is not None and draw(st.booleans()):
        k = draw(st.integers(1, 3))
        dists = sorted(draw(st.lists(st.sampled_from([0.002, 0.005, 0.01, 0.02, 0.04]), min_size=k,
                                     max_size=k)))
        weights = draw(st.lists(st.integers(1, 5), min_size=k, max_size=k))
        fracs = [w / sum(weights) for w in weights]
        fracs[-1] = 1.0 - sum(fracs[:-1])
        tps = tuple(zip(dists, fracs))
    return BracketExits(stop_loss=sl, take_profits=tps,
                        trailing=draw(st.sampled_from([None, None, 0.003, 0.01])),
                        time_stop=draw(st.sampled_from([None, None, 2, 12])))


MARKETS = [MarketSpec(SYM), MarketSpec(SYM, tick_size=0.01, lot_step=0.001, min_amount=0.001,
                                      min_notional=5.0),
           MarketSpec(SYM, tick_size=0.1, lot_step=0.01, min_amount=0.01, min_notional=300.0),
           MarketSpec(SYM, tick_size=0.01, lot_step=0.07, min_amount=0.14, min_notional=12.0)]
SLIPPAGE = [None, FixedBpsSlippage(4.0), VolumeParticipationSlippage()]


class TestKernelParityBrackets:
    @pytest.mark.parametrize("side", ["quote", "get"])  # give/base: refused (kernel_refusal)
    @SETTINGS
    @given(seed=st.integers(0, 2**32 - 1), rules=exits(), market=st.sampled_from(MARKETS),
           fee=st.sampled_from([None, 0.0, 0.002]), slippage=st.sampled_from(SLIPPAGE),
           rule=st.sampled_from(list(IntrabarRule)), vol=st.sampled_from([0.002, 0.008, 0.02]),
           p=st.sampled_from([0.03, 0.1, 0.3]), quote=st.sampled_from([None, None, 700.0, 50_000.0]))
    def test_random_brackets(self, side, seed, rules, market, fee, slippage, rule, vol, p, quote):
        market = dataclasses.replace(market, fee_side=FeeSide(side))
        bars = make_bars(seed, 250, vol, vol / 2)
        rng = np.random.default_rng(seed ^ 0xB5)
        n = len(bars)
        entries, exits_ = rng.random(n) < p, rng.random(n) < p / 3
        size = np.where(rng.random(n) < 0.15, np.nan, rng.choice([0.4, 0.999, 1.0], n))
        kernel = run_brackets(bars, entries, exits_, size, rules, market=market, fee=fee,
                              slippage=slippage, intrabar_rule=rule, fixed_quote=quote)
        fees = None if fee is None else MakerTakerFees(maker=fee, taker=fee)
        event = backtest_arrays(BracketSignalStrategy(entries, exits_, size, rules, quote),
                                {SYM: BarArrays.from_frame(bars)}, timeframe="1m",
                                markets={SYM: market}, fees=fees, slippage=slippage,
                                intrabar_rule=rule)
        assert compare_results(kernel, event) == []

    @pytest.mark.parametrize("side", ["give", "base"])
    def test_a_sell_fee_in_the_coin_sold_is_refused_with_the_reason(self, side):
        bars = make_bars(0, 20, 0.01, 0.005)
        n = len(bars)
        with pytest.raises(NotVectorizable, match=f"fee side {side}"):
            run_brackets(bars, np.ones(n, bool), np.zeros(n, bool), np.full(n, 1.0),
                         BracketExits(stop_loss=0.01), market=MarketSpec(SYM, fee_side=side))

    def test_a_two_level_ladder_scales_out_then_the_stop_takes_the_rest(self):
        # bar 0 decides (close 100): sl 98, tp1 101 (60 %), tp2 104 (40 %); entry at bar 1's open
        px = pd.DataFrame({"ts": np.arange(5) * 60_000,
                           "open": [100.0, 100.0, 100.5, 100.0, 99.0],
                           "high": [100.5, 100.5, 101.5, 100.2, 99.5],   # bar 2 reaches tp1
                           "low": [99.5, 99.5, 100.0, 97.5, 98.5],       # bar 3 reaches the stop
                           "close": [100.0, 100.2, 101.0, 98.5, 99.0], "volume": 10.0})
        rules = BracketExits(stop_loss=0.02, take_profits=((0.01, 0.6), (0.04, 0.4)))
        res = run_brackets(px, [True, False, False, False, False], np.zeros(5, bool), 1.0, rules,
                           fee=0.0, init_cash=1000.0)
        fills = res.fills[["ts", "tag", "price", "amount"]].values.tolist()
        assert fills == [[60_000, "bracket", 100.0, 10.0],          # 1000 / 100
                         [120_000, "bracket:tp1", 101.0, 6.0],      # 60 % at the limit (maker)
                         [180_000, "bracket:sl", 98.0, 4.0]]        # the stop covers what is left
        assert res.trades["pnl"].tolist() == [6.0 * 1.0 - 4.0 * 2.0]
        assert res.trades["exit_tag"].tolist() == ["bracket:sl"]

    def test_the_time_stop_exits_at_the_close_of_the_nth_bar_after_the_entry(self):
        bars = make_bars(7, 30, 0.001, 0.0)
        res = run_brackets(bars, np.r_[True, np.zeros(29, bool)], np.zeros(30, bool), 1.0,
                           BracketExits(time_stop=5), fee=0.0)
        # entry fills on bar 1; the exit goes out at bar 6's close and fills at bar 7's open
        assert res.fills["ts"].tolist() == [60_000, 7 * 60_000]

    @SETTINGS
    @given(seed=st.integers(0, 2**32 - 1), a=exits(), b=exits())
    def test_sweep_rows_equal_single_runs(self, seed, a, b):
        bars = make_bars(seed, 200, 0.01, 0.004)
        rng = np.random.default_rng(seed)
        forms = [Brackets(rng.random(200) < 0.1, rng.random(200) < 0.05, 1.0, r, q)
                 for r, q in ((a, None), (b, 2_500.0))]
        table = sweep_brackets(bars, forms)
        for row, f in zip(table.to_dict("records"), forms):
            single = run_brackets(bars, f.entries, f.exits, f.size, f.rules,
                                  fixed_quote=f.fixed_quote).metrics
            for key, value in single.items():
                assert row[key] == value or abs(row[key] - value) <= 1e-9 * abs(value) or (
                    np.isnan(row[key]) and np.isnan(value)), key
