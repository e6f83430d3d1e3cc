"""Funding and liquidation against small tables computed by hand, row by row.

Every run here: one linear perpetual ``BTC/USDT:USDT``, hourly bars whose open, high,
low and close are given per row, no trading fee (so the arithmetic stays in the
funding and liquidation), market orders placed at a bar's close filling at the next
bar's open (the engine's rule). The expected numbers are written out in the comments
of each test; the code only checks them.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from tradeloom.engine.contracts import ContractSpec, LeverageBracket
from tradeloom.engine.market import MarketSpec
from tradeloom.engine.run.backtest import backtest_arrays
from tradeloom.engine.run.feeds import BarArrays
from tradeloom.engine.run.funding_feed import FundingRates
from tradeloom.engine.strategy.base import Strategy

S = "BTC/USDT:USDT"
H = 3_600_000
#: One bracket: 0.4 % maintenance, no maintenance amount, up to 125x; 1.25 % clearance fee.
CONTRACT = ContractSpec(brackets=(LeverageBracket(0.0, math.inf, 125.0, 0.004, 0.0),),
                        liquidation_fee=0.0125)
MARKET = {S: MarketSpec(S, maker_fee=0.0, taker_fee=0.0, contract=CONTRACT)}


class Script(Strategy):
    """Sends the orders of ``plan`` (bar index -> list of (side, amount)) at that bar's close."""

    def __init__(self, plan, leverage=1.0, mode="cross"):
        super().__init__()
        self.plan, self.leverage, self.mode = plan, leverage, mode
        self.i = -1

    def on_start(self, ctx):
        ctx.set_leverage(S, self.leverage)
        ctx.set_margin_mode(S, self.mode)

    def on_bar(self, ctx, bar):
        self.i += 1
        for side, amount in self.plan.get(self.i, ()):
            (ctx.buy if side == "buy" else ctx.sell)(S, amount)


def bars(rows):
    """rows: (open, high, low, close) per hour from ts 0."""
    a = np.array(rows, dtype=float)
    return BarArrays(np.arange(len(a), dtype=np.int64) * H, a[:, 0], a[:, 1], a[:, 2], a[:, 3],
                     np.full(len(a), 1e6))


def flat(*closes):
    return bars([(c, c, c, c) for c in closes])


def run(strategy, data, cash=10_000.0, funding=None):
    return backtest_arrays(strategy, {S: data}, timeframe="1h", markets=MARKET,
                           initial_cash=cash, funding=funding)


def kinds(res, kind):
    return [e for e in res.events if e["kind"] == kind]


class TestFunding:
    def test_only_the_position_held_at_each_funding_time_pays(self):
        # A bar's fills are booked when the bar is delivered, at its close; an order sent
        # at the close of bar i fills at the open of bar i+1 and is held from bar i+1's
        # close on. A funding at T sees every fill booked at or before T.
        # (open = high = low = close on every bar)
        # bar  price  order at its close     booked at   position from then
        #  0    100    sell 2                 2h          -2 (filled @100, bar 1's open)
        #  1    100
        #  2    102    buy 3 (flip)           4h          +1 (filled @104, bar 3's open)
        #  3    104    buy 1 (add)            5h          +2 (filled @103, entry 103.5)
        #  4    103    sell 1 (reduce)        6h          +1 (filled @105)
        #  5    105    sell 1 (close)         7h           0 (filled @106)
        #  6    106
        #  7    107
        # funding   rate     mark   position then   amount = -qty * mark * rate
        #  2h       +0.0001  100.5  -2              -(-2 * 100.5 * 0.0001)  = +0.0201
        #  3h+1ms   -0.0002  102    -2 (the flip was sent at 3h: it fills after)
        #                                           -(-2 * 102 * -0.0002)   = -0.0408
        #  5h+1ms   +0.0003  103    +2              -(2 * 103 * 0.0003)     = -0.0618
        #  7h       +0.0005  106     0              nothing (flat)
        # Between 3h+1ms and 5h+1ms the position went -2 -> +1 -> +2: only the +2 held
        # at 5h+1ms pays; the +1 held for an hour changes nothing retroactively.
        plan = {0: [("sell", 2.0)], 2: [("buy", 3.0)], 3: [("buy", 1.0)], 4: [("sell", 1.0)],
                5: [("sell", 1.0)]}
        funding = FundingRates.from_columns(ts=[2 * H, 3 * H + 1, 5 * H + 1, 7 * H],
                                            rate=[0.0001, -0.0002, 0.0003, 0.0005],
                                            mark=[100.5, 102.0, 103.0, 106.0])
        res = run(Script(plan), flat(100, 100, 102, 104, 103, 105, 106, 107),
                  funding={S: funding})
        paid = kinds(res, "funding")
        assert [(e["ts"], e["qty"]) for e in paid] == [(2 * H, -2.0), (3 * H + 1, -2.0),
                                                        (5 * H + 1, 2.0)]
        assert [e["amount"] for e in paid] == pytest.approx([0.0201, -0.0408, -0.0618],
                                                            rel=1e-12)
        # Trading PnL: short 2 @100, cover @104: -8; long 1 @104, add 1 @103 (entry
        # 103.5), sell 1 @105: +1.5, sell 1 @106: +2.5; total -4.
        # Equity = 10000 - 4 - 0.0825 = 9995.9175
        assert res.metrics["final_equity"] == pytest.approx(9_995.9175, rel=1e-12)
        frame = res.funding
        assert frame["amount"].sum() == pytest.approx(-0.0825, rel=1e-9)
        assert list(frame.columns) == ["ts", "symbol", "qty", "mark", "rate", "amount"]
        summary = res.derivatives()["funding"][S]
        assert summary["paid"] == pytest.approx(0.1026) and summary["received"] == pytest.approx(0.0201)

    def test_funding_without_a_mark_uses_the_latest_close(self):
        # short 1 from bar 1's open (100); funding at 2h, no mark given: the latest close
        # is bar 1's, 101. amount = -(-1 * 101 * 0.001) = +0.101
        funding = FundingRates.from_columns(ts=[2 * H], rate=[0.001])
        res = run(Script({0: [("sell", 1.0)]}), flat(100, 101, 102), funding={S: funding})
        assert [e["amount"] for e in kinds(res, "funding")] == pytest.approx([0.101], rel=1e-12)

    def test_a_funding_payment_is_in_the_equity_row_of_its_time(self):
        # long 1 @100 from 1h; funding at 2h (+0.01, mark 100): pays 1.0. Row 2h: equity
        # = 10000 + 1 * (100 - 100) - 1.0 = 9999.0
        funding = FundingRates.from_columns(ts=[2 * H], rate=[0.01], mark=[100.0])
        res = run(Script({0: [("buy", 1.0)]}), flat(100, 100, 100), funding={S: funding})
        eq = res.equity.set_index("ts")["equity"]
        assert eq[H] == 10_000.0 and eq[2 * H] == 9_999.0 and eq[3 * H] == 9_999.0


class TestLiquidation:
    def test_isolated_long_gapping_through_its_price_loses_exactly_its_margin(self):
        # long 10 @100 at 10x isolated: margin = 10 * 100 / 10 = 100
        # LP = (WB - side*qty*EP + cum) / (qty*MMR - side*qty)
        #    = (100 - 1000 + 0) / (10 * 0.004 - 10) = -900 / -9.96 = 90.36144578...
        # bar 2: low 90.5 > LP: nothing. bar 3 opens at 85 (a gap through LP): liquidated
        # at LP. realized = 10 * (90.3614 - 100) = -96.3855; fee = min(0.0125 * 10 *
        # 90.3614 = 11.2952, margin + realized = 3.6145) = 3.6145; cash = 10000 - 100.
        lp = (100.0 - 1000.0) / (10 * 0.004 - 10)
        res = run(Script({0: [("buy", 10.0)]}, leverage=10, mode="isolated"),
                  bars([(100, 100, 100, 100), (100, 101, 99, 100), (99, 99, 90.5, 91),
                        (85, 86, 84, 85), (85, 85, 85, 85)]))
        (liq,) = kinds(res, "liquidation")
        assert liq["ts"] == 4 * H and liq["price"] == pytest.approx(lp, rel=1e-12)
        assert liq["fee"] == pytest.approx(100.0 - 10 * (100.0 - lp), rel=1e-12)
        assert res.metrics["final_equity"] == pytest.approx(9_900.0, rel=1e-12)
        trade = res.trades.iloc[0]
        assert trade["exit_tag"] == "liquidation" and trade["exit_price"] == pytest.approx(lp)
        assert res.final_positions == {}

    def test_isolated_short_is_liquidated_on_the_bar_high(self):
        # short 10 @100 at 10x isolated: LP = (100 + 1000) / (0.04 + 10) = 109.5617530
        # bar 2 high 109.5 < LP: nothing; bar 3 high 110 >= LP: liquidated at LP.
        # realized = -10 * (109.5618 - 100) = -95.6175; fee = min(0.0125 * 1095.6175 =
        # 13.6952, 100 - 95.6175 = 4.3825) = 4.3825: again exactly the margin, 100.
        lp = 1100.0 / 10.04
        res = run(Script({0: [("sell", 10.0)]}, leverage=10, mode="isolated"),
                  bars([(100, 100, 100, 100), (100, 101, 99, 100), (101, 109.5, 100, 108),
                        (108, 110, 107, 109), (109, 109, 109, 109)]))
        (liq,) = kinds(res, "liquidation")
        assert liq["ts"] == 4 * H and liq["price"] == pytest.approx(lp, rel=1e-12)
        assert res.metrics["final_equity"] == pytest.approx(9_900.0, rel=1e-12)

    # The account ends at 0: its step returns after that are undefined (NaN), by design.
    @pytest.mark.filterwarnings("ignore:invalid value encountered in divide")
    def test_cross_liquidation_takes_the_wallet_down_to_the_maintenance_margin(self):
        # cash 2000, long 100 @100 at 10x cross: WB = 2000
        # LP = (2000 - 10000) / (100 * 0.004 - 100) = -8000 / -99.6 = 80.32128514
        # at LP: margin balance = 2000 + 100 * (80.3213 - 100) = 32.1285
        #        maintenance    = 100 * 80.3213 * 0.004           = 32.1285 (equal: the rule)
        # fee = min(0.0125 * 8032.13 = 100.40, 32.1285) = 32.1285 -> cash 0
        lp = 8000.0 / 99.6
        res = run(Script({0: [("buy", 100.0)]}, leverage=10), bars(
            [(100, 100, 100, 100), (100, 100, 90, 95), (95, 95, 80, 81), (81, 81, 81, 81)]),
            cash=2_000.0)
        (liq,) = kinds(res, "liquidation")
        assert liq["price"] == pytest.approx(lp, rel=1e-12)
        assert liq["fee"] == pytest.approx(100 * lp * 0.004, rel=1e-9)
        assert res.metrics["final_equity"] == pytest.approx(0.0, abs=1e-9)

    def test_a_liquidation_cancels_the_symbols_working_orders(self):
        class WithStop(Script):
            def on_bar(self, ctx, bar):
                super().on_bar(ctx, bar)
                if self.i == 1:
                    ctx.sell(S, 10.0, stop=50.0, reduce_only=True, tag="far stop")

        res = run(WithStop({0: [("buy", 10.0)]}, leverage=10, mode="isolated"),
                  bars([(100, 100, 100, 100), (100, 100, 100, 100), (85, 86, 84, 85),
                        (85, 85, 85, 85)]))
        assert len(kinds(res, "liquidation")) == 1
        stop = res.orders[res.orders["tag"] == "far stop"].iloc[0]
        assert stop["status"] == "canceled"

    def test_a_position_with_room_left_is_not_liquidated(self):
        # 1x isolated long: LP = (1000 - 1000) / (...) = 0: no price liquidates it.
        res = run(Script({0: [("buy", 10.0)]}, leverage=1, mode="isolated"),
                  bars([(100, 100, 100, 100), (100, 100, 1, 2), (2, 2, 2, 2)]))
        assert kinds(res, "liquidation") == []
        assert res.final_positions == {S: 10.0}
