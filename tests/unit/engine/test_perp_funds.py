"""The simulated exchange's perpetual rules (``engine.sim.perp_funds``), fill by fill.

A ``SimulatedBroker`` over a real ``Portfolio``; one perpetual ``BTC/USDT:USDT`` (default
terms: one tier, 20x at most) unless a test sets its own. Market orders placed at
``MIN`` fill at bar 1's open; every bar here is flat (open = high = low = close), and
``bar`` books the fills it returns, as the engine does after each matching call.
"""

from __future__ import annotations

import math

import pytest

from tradeloom.engine.accounting.portfolio import Portfolio
from tradeloom.engine.contracts import ContractSpec, LeverageBracket
from tradeloom.engine.costs.fees import FixedFees
from tradeloom.engine.market import MarketSpec
from tradeloom.engine.orders import Bar, Order, OrderType, Side, TimeInForce
from tradeloom.engine.sim.broker import SimulatedBroker
from tradeloom.engine.sim.perp_funds import target_notional

S = "BTC/USDT:USDT"
MIN = 60_000
B, SELL = Side.BUY, Side.SELL


class Exchange:
    def __init__(self, usdt, leverage=1.0, mode="cross", fee=0.0, **rules):
        contract = rules.pop("contract", ContractSpec())
        self.spec = MarketSpec(S, maker_fee=fee, taker_fee=fee, contract=contract, **rules)
        self.pf = Portfolio(usdt, "USDT", markets={S: self.spec})
        self.pf.set_leverage(S, leverage)
        self.pf.set_margin_mode(S, mode)
        self.broker = SimulatedBroker({S: self.spec}, self.pf)
        self.ids = iter(range(1, 1000))

    def submit(self, side, amount, pct=None, **kw):
        o = Order(next(self.ids), S, side, OrderType.MARKET, amount, MIN, **kw)
        o.target_pct = pct
        self.broker.submit(o, MIN)
        return o

    def bar(self, price, i=1):
        fills = self.broker.on_bar(Bar(S, i * MIN, (i + 1) * MIN, price, price, price, price,
                                       1e9))
        for f in fills:
            self.pf.apply_fill(f)
        self.pf.set_mark(S, price)
        return [(f.side.value, f.amount) for f in fills]


class TestTargetNotional:
    # N >= 0 solving N / L + r * |s * N - N0| = |pct| * E / L
    @pytest.mark.parametrize(("pct", "equity", "lev", "rate", "current", "expected"), [
        # all-in from flat: N (1 + r) = E -> 1000 / 1.001
        (1.0, 1_000.0, 1.0, 0.001, 0.0, 1_000.0 / 1.001),
        # add to a 100 long at 2x: N / 2 + r (N - 100) = 250 -> N = 250.1 / 0.501
        (0.5, 1_000.0, 2.0, 0.001, 100.0, 250.1 / 0.501),
        # flip a 500 long to short: N + r (N + 500) = 1000 -> N = 999.5 / 1.001
        (-1.0, 1_000.0, 1.0, 0.001, 500.0, 999.5 / 1.001),
        # cut a 500 long to 10 %: N + r (500 - N) = 100 -> N = 99.5 / 0.999
        (0.1, 1_000.0, 1.0, 0.001, 500.0, 99.5 / 0.999),
        # a short cut the same way (the current notional is counted in its direction)
        (-0.1, 1_000.0, 1.0, 0.001, -500.0, 99.5 / 0.999),
        # a fee rate equal to 1 / L (500x, 0.2 %): no reduction can pay its own fee -> 0
        (0.1, 1_000.0, 500.0, 0.002, 500.0, 0.0),
        # a target under 1 USDT: 0.05 % of 1,000 at 1x from flat, no fee
        (0.0005, 1_000.0, 1.0, 0.0, 0.0, 0.5),
        # the fee of closing exceeds the budget: N would be negative -> 0
        (0.1, 1_000.0, 1.0, 0.5, 5_000.0, 0.0),
    ])
    def test_table(self, pct, equity, lev, rate, current, expected):
        n = target_notional(pct, equity, lev, rate, current)
        assert n == pytest.approx(expected, rel=1e-12, abs=0.0)
        if n > 0.0:  # the definition holds
            s = math.copysign(1.0, pct)
            assert n / lev + rate * abs(s * n - current) == pytest.approx(
                abs(pct) * equity / lev, rel=1e-12)


class TestReduceOnly:
    @pytest.mark.parametrize(("held", "side", "words"), [
        (0.0, SELL, "holds no position"),
        (2.0, B, "holds a long of 2"),
        (0.5, B, "holds a long of 0.5"),
        (1.0, B, "holds a long of 1"),
        (-2.0, SELL, "holds a short of -2"),
    ])
    def test_nothing_to_reduce_on_that_side_is_rejected(self, held, side, words):
        ex = Exchange(10_000.0)
        if held:
            ex.submit(B if held > 0 else SELL, abs(held))
            ex.bar(100.0)
        o = ex.submit(side, 1.0, reduce_only=True)
        assert o.status.value == "rejected" and words in o.reason

    @pytest.mark.parametrize(("held", "side"), [(2.0, SELL), (-2.0, B), (0.5, SELL)])
    def test_it_is_capped_at_the_position_when_submitted(self, held, side):
        ex = Exchange(10_000.0)
        ex.submit(B if held > 0 else SELL, abs(held))
        ex.bar(100.0)
        o = ex.submit(side, 5.0, reduce_only=True)
        assert o.amount == abs(held)
        assert ex.bar(100.0, i=2) == [(side.value, abs(held))]
        assert ex.pf.perp_position(S) == 0.0

    def test_two_closes_on_one_bar_close_the_position_once(self):
        # long 2; two reduce-only sells of 2 meet the same bar: the second sees the first
        # fill (not booked yet) and has nothing left to reduce
        ex = Exchange(10_000.0)
        ex.submit(B, 2.0)
        ex.bar(100.0)
        first = ex.submit(SELL, 2.0, reduce_only=True)
        second = ex.submit(SELL, 2.0, reduce_only=True)
        assert ex.bar(100.0, i=2) == [("sell", 2.0)]
        assert first.status.value == "filled"
        assert (second.status.value, second.reason) == ("canceled",
                                                        "canceled: no position left to reduce")


class TestMargin:
    def test_a_fill_that_fits_the_balance_exactly_fills_whole(self):
        # 1,000 at 2x: 20 @100 uses margin 1,000 (no fee)
        ex = Exchange(1_000.0, leverage=2.0)
        ex.submit(B, 20.0)
        assert ex.bar(100.0) == [("buy", 20.0)]

    def test_a_reduction_is_always_allowed(self):
        # long 10 @100 at 1x (available 0), the price falls to 60 (a cross loss of 400:
        # available -400): selling 4 only reduces, so it fills
        ex = Exchange(1_000.0, fee=0.001, lot_step=0.001)
        ex.submit(B, 9.99)      # 999 + fee 0.999
        ex.bar(100.0)
        ex.bar(60.0, i=2)
        assert ex.pf.available() < 0.0
        ex.submit(SELL, 4.0)
        assert ex.bar(60.0, i=3) == [("sell", 4.0)]

    @pytest.mark.parametrize("amount", [100.0, 99.5])
    def test_a_close_that_loses_more_than_the_wallet_still_fills(self, amount):
        # cross long 100 @100 at 10x on 1,000; the price gaps to 85 and a sell meets the
        # open before the liquidation check: closing 100 realizes -1,500 (cash -500),
        # closing 99.5 leaves a 0.5 long. A fill that only reduces is never cut.
        ex = Exchange(1_000.0, leverage=10.0)
        ex.submit(B, 100.0)
        ex.bar(100.0)
        ex.submit(SELL, amount)
        assert ex.bar(85.0, i=2) == [("sell", amount)]
        assert ex.pf.cash == pytest.approx(1_000.0 - 15.0 * amount, rel=1e-12)

    def test_a_partial_close_of_a_sub_unit_long_underwater_still_fills(self):
        # cross long 0.8 @100 at 10x on 8 USDT (available 0); at 85 a sell of 0.5 realizes
        # -7.5 and leaves 0.3 long (margin 3, loss 4.5): available 0.5 - 3 - 4.5 = -7,
        # but the fill only reduces
        ex = Exchange(8.0, leverage=10.0)
        ex.submit(B, 0.8)
        ex.bar(100.0)
        ex.submit(SELL, 0.5)
        assert ex.bar(85.0, i=2) == [("sell", 0.5)]

    def test_an_order_through_zero_is_cut_to_the_close_plus_what_the_balance_pays(self):
        # long 10 @100 at 1x from 1,001 (fee 0.1 %): after the fill cash 1,000, available
        # 1000 - 1000 = 0. A sell of 30 @100: the close of 10 is free (fee 1 -> available
        # 999); each short unit costs 100 * (1 + 0.001) = 100.1 -> 999 / 100.1 = 9.98002
        # units, rounded down to the lot: 9.98. Fill 10 + 9.98 = 19.98.
        ex = Exchange(1_000.0 + 1.0, fee=0.001, lot_step=0.001)
        ex.submit(B, 10.0)
        ex.bar(100.0)
        o = ex.submit(SELL, 30.0)
        assert ex.bar(100.0, i=2) == [("sell", 19.98)]
        assert ex.pf.perp_position(S) == pytest.approx(-9.98, abs=1e-12)
        assert o.status.value == "canceled"
        assert "insufficient margin for the rest" in o.reason
        assert "need " in o.reason and "USDT more margin at 1x" in o.reason

    def test_a_sub_unit_long_sold_through_zero_frees_its_margin_first(self):
        # 100 at 1x, no fee: long 0.5 @100 (margin 50, available 50). Sell 2: closing the
        # 0.5 frees 50 (available 100), which pays a 1.0 short: fill 0.5 + 1.0 = 1.5
        ex = Exchange(100.0)
        ex.submit(B, 0.5)
        ex.bar(100.0)
        ex.submit(SELL, 2.0)
        assert ex.bar(100.0, i=2) == [("sell", 1.5)]

    def test_a_lot_rounded_up_past_the_balance_steps_down_one_lot(self):
        # 1,000 - 2.5e-8 at 1x, BTC at 50,000, lot 0.001: the balance pays 0.0199999999995
        # BTC, which the lot rounding (1e-9 tolerance) lifts to 0.02 = 1,000 USDT, 2.5e-8
        # more than there is: one lot less, 0.019
        ex = Exchange(1_000.0 - 2.5e-8, lot_step=0.001)
        ex.submit(B, 1.0)
        assert ex.bar(50_000.0) == [("buy", 0.019)]

    def test_a_shortfall_beyond_float_noise_is_a_shortfall(self):
        # 1,000 at 1x: a buy of 10.000000000015 @100 costs 1,000.0000000015, 1.5e-9 USDT
        # more than there is (the slack is 1e-9): cut to 10
        ex = Exchange(1_000.0)
        ex.submit(B, 10.000000000015)
        assert ex.bar(100.0) == [("buy", 10.0)]

    def test_without_a_lot_the_cut_is_exactly_the_balance(self):
        # 1,000 at 4x, fee 0.05 %: each unit costs 100 * (0.25 + 0.0005) = 25.05
        ex = Exchange(1_000.0, leverage=4.0, fee=0.0005)
        ex.submit(SELL, 100.0)
        ((_, amount),) = ex.bar(100.0)
        assert amount == pytest.approx(1_000.0 / 25.05, rel=1e-12)
        assert ex.pf.available() == pytest.approx(0.0, abs=1e-9)

    def test_a_sub_dollar_coin_is_cut_to_the_balance(self):
        # 100 at 1x, no fee: a buy of 500 @0.5 (250) is cut to 100 / 0.5 = 200
        ex = Exchange(100.0)
        ex.submit(B, 500.0)
        assert ex.bar(0.5) == [("buy", 200.0)]

    def test_fill_or_kill_beyond_the_margin_is_cancelled_whole(self):
        ex = Exchange(1_000.0)
        o = ex.submit(B, 20.0, tif=TimeInForce.FOK)
        assert ex.bar(100.0) == []
        assert o.status.value == "canceled" and "insufficient margin:" in o.reason

    def test_a_cut_below_the_minimum_notional_is_cancelled(self):
        # 1,000 + 40 at 1x, minimum 50 USDT: long 10 @100 leaves 40; a buy of 5 more
        # could only be cut to 0.4 (40 USDT < 50)
        ex = Exchange(1_040.0, min_notional=50.0)
        ex.submit(B, 10.0)
        ex.bar(100.0)
        o = ex.submit(B, 5.0)
        assert ex.bar(100.0, i=2) == []
        assert o.status.value == "canceled" and "insufficient margin" in o.reason

    def test_nothing_payable_cancels_the_order(self):
        ex = Exchange(1_000.0)
        ex.submit(B, 10.0)
        ex.bar(100.0)
        o = ex.submit(B, 1.0)
        assert ex.bar(100.0, i=2) == []
        assert o.reason.startswith("canceled: insufficient margin: need 100.00 USDT more")

    @pytest.mark.parametrize(("amount", "filled"), [
        (100.0, [("buy", 100.0)]),   # 100 @100 = 10,000 = the 50x cap exactly: allowed
        (100.5, []),                 # 10,050 > 10,000
        (100.00000000015, []),       # 1.5e-12 over: beyond the 1e-12 float slack
    ])
    def test_the_leverage_caps_the_position(self, amount, filled):
        tiers = ContractSpec(brackets=(LeverageBracket(0.0, 10_000.0, 50.0, 0.01, 0.0),
                                       LeverageBracket(10_000.0, math.inf, 10.0, 0.02, 100.0)))
        ex = Exchange(1_000.0, leverage=50.0, contract=tiers)
        o = ex.submit(B, amount)
        assert ex.bar(100.0) == filled
        if not filled:
            assert f"would be {amount * 100:.2f} USDT, more than 10000.00, the largest " \
                   "allowed at 50x" in o.reason


class TestFlatFee:
    """A flat fee per fill (``FixedFees``): its rate falls as the notional grows, so the
    first estimate of a cut (the rate at the whole order's notional) is too large."""

    @pytest.mark.parametrize(("cash", "lot", "price", "amount", "expected"), [
        # 1,000 at 1x, fee 1 per fill: the balance pays x * 100 + 1 <= 1000 -> 9.99
        (1_000.0, None, 100.0, 20.0, 9.99),
        (1_000.0, 0.001, 100.0, 20.0, 9.99),
        # at 1 USDT with a 0.001 lot: x + 1 <= 1000 -> 999 (the estimate, 999.5, is 500
        # lots too many: more than float noise)
        (1_000.0, 0.001, 1.0, 2_000.0, 999.0),
        # 50 USDT: x * 100 + 1 <= 50 -> 0.49, under one unit
        (50.0, None, 100.0, 1.0, 0.49),
    ])
    def test_a_cut_fills_only_what_the_balance_pays(self, cash, lot, price, amount, expected):
        ex = Exchange(cash, lot_step=lot)
        ex.broker = SimulatedBroker({S: ex.spec}, ex.pf, fees=FixedFees(1.0))
        o = ex.submit(B, amount)
        ((_, filled),) = ex.bar(price)
        assert filled == pytest.approx(expected, rel=1e-9)
        assert ex.pf.available() >= -1e-9
        assert "insufficient margin for the rest" in o.reason


class TestTargetOrders:
    def test_a_target_is_sized_at_the_fill_price(self):
        # 50 % of 10,000 at 2x from flat, no fee: N / 2 = 0.5 * 10000 / 2 -> N = 5,000;
        # at the fill price 125: 40 units (the order's amount is the estimate)
        ex = Exchange(10_000.0, leverage=2.0)
        o = ex.submit(B, 1.0, pct=0.5)
        assert ex.bar(125.0) == [("buy", 40.0)]
        assert o.amount == 40.0

    def test_a_target_of_less_than_one_unit_still_trades(self):
        # 100 % of 1,000 at 1x from flat, no fee: N = 1,000; at 40,000 that is 0.025 BTC
        ex = Exchange(1_000.0)
        o = ex.submit(B, 0.02, pct=1.0)
        assert ex.bar(40_000.0) == [("buy", 0.025)]
        assert o.amount == 0.025

    def test_a_target_already_met_is_cancelled(self):
        # long 60 @100 = 6,000 > 50 % of 10,000: a buy toward +50 % has nothing to buy
        ex = Exchange(10_000.0)
        ex.submit(B, 60.0)
        ex.bar(100.0)
        o = ex.submit(B, 1.0, pct=0.5)
        assert ex.bar(100.0, i=2) == []
        assert "already meets the target 0.5" in o.reason

    def test_a_target_sells_down_to_its_share(self):
        # long 60 @100; a sell toward +50 % of 10,000: 10 units
        ex = Exchange(10_000.0)
        ex.submit(B, 60.0)
        ex.bar(100.0)
        ex.submit(SELL, 1.0, pct=0.5)
        assert ex.bar(100.0, i=2) == [("sell", 10.0)]
