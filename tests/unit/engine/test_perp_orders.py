"""Orders on a perpetual: shorts through ``sell``, signed targets under leverage,
reduce-only and close-position orders, leverage and margin mode, margin checks, and
brackets, OCO and trailing stops protecting a short (the long tests mirrored).

Hourly bars given as (open, high, low, close); orders sent at a bar's close fill from
the next bar on (market orders at its open). Taker fee 0.05 %, maker 0.02 %.
"""

from __future__ import annotations

import numpy as np
import pytest
from engine_helpers import Do

from tradeloom.engine.contracts import ContractSpec
from tradeloom.engine.errors import ConfigError, StrategyError
from tradeloom.engine.market import MarketSpec
from tradeloom.engine.orders import Side
from tradeloom.engine.run.backtest import backtest_arrays
from tradeloom.engine.run.feeds import BarArrays

S = "BTC/USDT:USDT"
H = 3_600_000
TAKER, MAKER = 0.0005, 0.0002
MARKETS = {S: MarketSpec(S, maker_fee=MAKER, taker_fee=TAKER, contract=ContractSpec())}


def bars(rows):
    a = np.array(rows, dtype=float)
    return BarArrays(np.arange(len(a), dtype=np.int64) * H, a[:, 0], a[:, 1], a[:, 2], a[:, 3],
                     np.full(len(a), 1e6))


def flat(*closes):
    return bars([(c, c, c, c) for c in closes])


def run(strategy, data, cash=10_000.0):
    return backtest_arrays(strategy, {S: data}, timeframe="1h", markets=MARKETS,
                           initial_cash=cash)


def sides(res):
    return [(f.side, f.price, round(f.amount, 12)) for f in res.fills.itertuples()]


class TestShorts:
    def test_a_sell_from_flat_opens_a_short(self):
        s = Do({0: lambda c: c.sell(S, 2.0), 2: lambda c: c.position(S)})
        res = run(s, flat(100, 100, 90, 90))
        assert s.seen[2] == -2.0
        # short 2 @100 (fee 0.1), marked at 90: equity = 10000 - 0.1 + 2 * 10
        assert res.equity["equity"].iloc[-1] == pytest.approx(10_019.9, rel=1e-12)
        assert res.final_positions == {S: -2.0}

    def test_a_sell_larger_than_the_long_goes_through_zero(self):
        # long 2 @100; sell 5 @110: closes 2 (+20), opens a 3 short @110
        s = Do({0: lambda c: c.buy(S, 2.0), 1: lambda c: c.sell(S, 5.0)})
        res = run(s, flat(100, 100, 110, 110))
        assert res.final_positions == {S: -3.0}
        trades = res.trades
        assert list(trades["side"]) == ["long", "short"]
        assert trades["gross_pnl"].iloc[0] == pytest.approx(20.0)
        # the flip's fee (5 * 110 * 0.0005 = 0.275) is split 2:3 between the two trades
        assert trades["exit_fees"].iloc[0] == pytest.approx(0.11)
        assert trades["entry_fees"].iloc[1] == pytest.approx(0.165)


class TestTargets:
    def test_target_percent_minus_one_is_an_all_in_short_at_1x(self):
        # amount = E / (p * (1 + fee)) = 10000 / (100 * 1.0005)
        s = Do({0: lambda c: c.target_percent(S, -1.0)})
        res = run(s, flat(100, 100, 100))
        assert res.final_positions[S] == pytest.approx(-10_000.0 / 100.05, rel=1e-12)

    def test_target_percent_beyond_the_leverage_is_refused(self):
        s = Do({0: lambda c: c.target_percent(S, -1.5)})
        with pytest.raises(StrategyError, match=r"\[-1, 1\]"):
            run(s, flat(100, 100))

    def test_target_percent_under_3x_leverage_holds_two_and_a_half_equities(self):
        # N / L + r * N = 2.5 * E / L  ->  N = 2.5 * 10000 / 3 / (1/3 + 0.0005)
        s = Do({0: lambda c: c.target_percent(S, 2.5)}, start=lambda c: c.set_leverage(S, 3))
        res = run(s, flat(100, 100, 100))
        n = 2.5 * 10_000.0 / 3 / (1 / 3 + TAKER)
        assert res.final_positions[S] == pytest.approx(n / 100.0, rel=1e-12)

    def test_target_percent_flips_a_long_into_a_short(self):
        s = Do({0: lambda c: c.target_percent(S, 1.0), 2: lambda c: c.target_percent(S, -1.0)})
        res = run(s, flat(100, 100, 100, 100))
        assert res.final_positions[S] < 0.0
        assert [f.side for f in res.fills.itertuples()] == ["buy", "sell"]

    def test_target_percent_zero_closes_with_a_reduce_only_order(self):
        s = Do({0: lambda c: c.target_percent(S, -0.5), 2: lambda c: c.target_percent(S, 0.0)})
        res = run(s, flat(100, 100, 100, 100))
        assert res.final_positions == {}
        assert bool(res.orders["reduce_only"].iloc[-1]) is True

    def test_target_amount_may_be_negative_on_a_perpetual(self):
        s = Do({0: lambda c: c.target_amount(S, -1.5)})
        res = run(s, flat(100, 100, 100))
        assert res.final_positions == {S: -1.5}


class TestReduceOnlyAndClose:
    def test_reduce_only_buy_without_a_short_is_rejected(self):
        s = Do({0: lambda c: c.buy(S, 1.0, reduce_only=True)})
        res = run(s, flat(100, 100))
        assert res.orders["status"].iloc[0] == "rejected"
        assert "nothing to reduce" in res.orders["reason"].iloc[0]

    def test_reduce_only_is_capped_at_the_open_position(self):
        s = Do({0: lambda c: c.sell(S, 2.0), 1: lambda c: c.buy(S, 5.0, reduce_only=True)})
        res = run(s, flat(100, 100, 100, 100))
        assert res.final_positions == {}
        assert res.fills["amount"].tolist() == [2.0, 2.0]

    def test_close_position_buys_back_a_short(self):
        s = Do({0: lambda c: c.sell(S, 2.0), 2: lambda c: c.close_position(S),
                3: lambda c: c.close_position(S)})
        res = run(s, flat(100, 100, 100, 100, 100))
        assert sides(res) == [("sell", 100.0, 2.0), ("buy", 100.0, 2.0)]
        assert s.seen[3] is None  # flat: nothing to close


    def test_a_position_below_the_minimum_notional_still_closes_reduce_only(self):
        """Binance USDⓈ-M -4164: "Order's notional must be no smaller than 5.0 (unless you
        choose reduce only)". Min notional 100 USDT: short 1.5 @100 (150 USDT), then the
        price halves: the 1.5 position is worth 75 < 100. A plain buy of 1.5 is rejected;
        close_position (reduce-only) buys it back."""
        markets = {S: MarketSpec(S, lot_step=0.001, min_notional=100.0, maker_fee=MAKER,
                                 taker_fee=TAKER, contract=ContractSpec())}
        s = Do({0: lambda c: c.sell(S, 1.5), 2: lambda c: c.buy(S, 1.5),
                3: lambda c: c.close_position(S)})
        res = backtest_arrays(s, {S: flat(100, 100, 50, 50, 50)}, timeframe="1h",
                              markets=markets, initial_cash=10_000.0)
        assert res.orders["status"].tolist() == ["filled", "rejected", "filled"]
        assert "notional 75.00 USDT < min notional 100.00" in res.orders["reason"].iloc[1]
        assert sides(res) == [("sell", 100.0, 1.5), ("buy", 50.0, 1.5)]
        assert res.final_positions == {}


class TestLeverageAndMargin:
    def test_leverage_above_the_brackets_maximum_is_refused(self):
        s = Do({}, start=lambda c: c.set_leverage(S, 21))  # the default bracket: 20x
        with pytest.raises(ConfigError, match=r"outside \[1, 20\]"):
            run(s, flat(100, 100))

    def test_margin_mode_cannot_change_while_a_position_is_open(self):
        s = Do({0: lambda c: c.sell(S, 1.0), 2: lambda c: c.set_margin_mode(S, "isolated")})
        with pytest.raises(ConfigError, match="cannot change while a position is open"):
            run(s, flat(100, 100, 100, 100))

    def test_an_order_beyond_the_margin_is_cut_to_what_the_margin_pays(self):
        # 2x: each unit costs 100 / 2 + 0.05 fee = 50.05; 10000 / 50.05 = 199.8 units
        s = Do({0: lambda c: c.sell(S, 500.0)}, start=lambda c: c.set_leverage(S, 2))
        res = run(s, flat(100, 100, 100))
        assert res.final_positions[S] == pytest.approx(-10_000.0 / 50.05, rel=1e-9)
        assert "insufficient margin" in res.orders["reason"].iloc[0]

    def test_liquidation_price_and_margin_ratio_are_visible_to_the_strategy(self):
        # isolated short 10 @100 at 10x: LP = (100 + 1000) / (0.05 + 10) (0.5 % mmr)
        s = Do({0: lambda c: c.sell(S, 10.0),
                2: lambda c: (c.liquidation_price(S), c.margin_ratio(S))},
               start=lambda c: (c.set_leverage(S, 10), c.set_margin_mode(S, "isolated")))
        run(s, flat(100, 100, 100, 100))
        lp, ratio = s.seen[2]
        assert lp == pytest.approx(1_100.0 / 10.05, rel=1e-12)
        # maintenance 1000 * 0.005 = 5 over margin balance 100: 0.05
        assert ratio == pytest.approx(0.05, rel=1e-12)


class TestProtectingAShort:
    def test_a_short_brackets_stop_loss_fills_on_a_rally(self):
        s = Do({0: lambda c: c.bracket(S, 1.0, stop_loss=105.0, take_profits=[(90.0, 1.0)],
                                       side=Side.SELL)})
        res = run(s, bars([(100, 100, 100, 100), (100, 101, 99, 100), (100, 106, 99, 104),
                           (104, 104, 104, 104)]))
        assert sides(res) == [("sell", 100.0, 1.0), ("buy", 105.0, 1.0)]
        assert res.final_positions == {}
        tp = res.orders[res.orders["tag"] == "bracket:tp1"].iloc[0]
        assert tp["status"] == "canceled"

    def test_a_short_brackets_take_profit_fills_on_a_drop(self):
        s = Do({0: lambda c: c.bracket(S, 1.0, stop_loss=105.0, take_profits=[(90.0, 1.0)],
                                       side=Side.SELL)})
        res = run(s, bars([(100, 100, 100, 100), (100, 101, 99, 100), (99, 100, 89, 91),
                           (91, 91, 91, 91)]))
        assert sides(res) == [("sell", 100.0, 1.0), ("buy", 90.0, 1.0)]
        assert res.fills["liquidity"].tolist() == ["taker", "maker"]

    def test_an_oco_buy_closes_a_short_at_the_limit_or_the_stop(self):
        s = Do({0: lambda c: c.sell(S, 1.0),
                1: lambda c: c.oco(S, 1.0, price=95.0, stop=104.0, side=Side.BUY)})
        res = run(s, bars([(100, 100, 100, 100), (100, 100, 100, 100), (100, 105, 99, 103),
                           (103, 103, 103, 103)]))
        assert sides(res) == [("sell", 100.0, 1.0), ("buy", 104.0, 1.0)]
        assert res.final_positions == {}

    def test_a_buy_trailing_stop_follows_the_low_of_a_short(self):
        # trail 2 above the lowest low since the stop was placed: low 95 -> stop 97;
        # the next bar's high 98 triggers it at 97.
        s = Do({0: lambda c: c.sell(S, 1.0),
                1: lambda c: c.trailing_stop(S, 1.0, trail_amount=2.0, side=Side.BUY)})
        res = run(s, bars([(100, 100, 100, 100), (100, 100, 100, 100), (99, 99, 95, 96),
                           (96, 98, 96, 97), (97, 97, 97, 97)]))
        assert sides(res) == [("sell", 100.0, 1.0), ("buy", 97.0, 1.0)]

    def test_a_short_bracket_on_spot_is_refused(self):
        spot = {"BTC/USDT": MarketSpec("BTC/USDT")}
        s = Do({0: lambda c: c.bracket("BTC/USDT", 1.0, stop_loss=105.0, side=Side.SELL)})
        with pytest.raises(StrategyError, match="spot cannot go short"):
            backtest_arrays(s, {"BTC/USDT": flat(100, 100)}, timeframe="1h", markets=spot)
