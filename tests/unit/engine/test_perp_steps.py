"""The engine's perpetual calls (``engine.run.perp_step``): closing a position, signed
targets, and leverage and margin mode asked of the venue before the account.

Hourly bars; orders sent at a bar's close fill at the next bar's open. No fees, so the
amounts are the arithmetic of the comments.
"""

from __future__ import annotations

import numpy as np
import pytest

from tradeloom.engine.contracts import ContractSpec
from tradeloom.engine.errors import ConfigError, StrategyError
from tradeloom.engine.market import MarketSpec
from tradeloom.engine.run.backtest import backtest_arrays, collect, drive
from tradeloom.engine.run.feeds import BarArrays, merge_bars
from tradeloom.engine.run.wiring import simulated_broker, wire_engine
from tradeloom.engine.strategy.base import Strategy

S = "BTC/USDT:USDT"
H = 3_600_000


def markets(min_notional=0.0):
    return {S: MarketSpec(S, maker_fee=0.0, taker_fee=0.0, min_notional=min_notional,
                          contract=ContractSpec())}


def flat(*closes):
    a = np.array(closes, dtype=float)
    return BarArrays(np.arange(len(a), dtype=np.int64) * H, a, a, a, a, np.full(len(a), 1e6))


class Do(Strategy):
    """Calls ``plan[i](ctx)`` at bar ``i``'s close; ``seen`` keeps what each call returns."""

    def __init__(self, plan, start=None):
        super().__init__()
        self.plan, self.start, self.i, self.seen = plan, start, -1, {}

    def on_start(self, ctx):
        if self.start is not None:
            self.start(ctx)

    def on_bar(self, ctx, bar):
        self.i += 1
        if self.i in self.plan:
            self.seen[self.i] = self.plan[self.i](ctx)


def run(strategy, data, min_notional=0.0, cash=10_000.0):
    return backtest_arrays(strategy, {S: data}, timeframe="1h",
                           markets=markets(min_notional), initial_cash=cash)


def trades(res):
    return [(f.side, f.price, f.amount, bool(o)) for f, o in
            zip(res.fills.itertuples(), res.orders.set_index("id").loc[
                res.fills["order_id"], "reduce_only"])]


class TestClosePosition:
    def test_a_long_under_one_unit_is_sold_back_reduce_only(self):
        # long 0.5 @100, closed at 100: a reduce-only sell of 0.5
        s = Do({0: lambda c: c.buy(S, 0.5), 2: lambda c: c.close_position(S)})
        res = run(s, flat(100, 100, 100, 100))
        assert trades(res) == [("buy", 100.0, 0.5, False), ("sell", 100.0, 0.5, True)]
        assert res.final_positions == {}


class TestTargets:
    def test_a_target_needs_a_price_first(self):
        s = Do({}, start=lambda c: c.target_percent(S, 0.5))
        with pytest.raises(StrategyError, match="no price seen yet"):
            run(s, flat(100, 100))

    def test_a_sub_dollar_coin_can_be_targeted(self):
        # target 50 % of 10,000 at 0.5 (1x, no fee): 5,000 / 0.5 = 10,000 units
        s = Do({0: lambda c: c.target_percent(S, 0.5)})
        res = run(s, flat(0.5, 0.5, 0.5))
        assert res.final_positions[S] == pytest.approx(10_000.0, rel=1e-12)

    def test_a_new_target_replaces_the_unfilled_one_and_keeps_other_orders(self):
        # bar 0: target 1 long, a far stop (not a target), then target 3 long: the first
        # target is cancelled, the stop keeps working; bar 1 opens at 100: buy 3.
        def plan(c):
            c.target_amount(S, 1.0)
            c.buy(S, 5.0, stop=500.0, tag="far stop")
            return c.target_amount(S, 3.0)

        res = run(Do({0: plan}), flat(100, 100, 100))
        assert res.final_positions == {S: 3.0}
        status = dict(zip(res.orders["tag"] + ":" + res.orders["amount"].astype(str),
                          res.orders["status"]))
        # (the stop still works at the end of the run, which expires it)
        assert status == {"target:1.0": "canceled", "far stop:5.0": "expired",
                          "target:3.0": "filled"}

    @pytest.mark.parametrize(("target", "traded"), [
        (1.3, []),               # 0.3 * 100 = 30 <= the 50 minimum: nothing to do
        (1.5, []),               # 0.5 * 100 = 50: exactly the minimum is skipped too (as spot)
        (1.6, [("buy", 0.6)]),   # 60 > 50: traded
    ])
    def test_a_rebalance_within_the_minimum_notional_is_skipped(self, target, traded):
        # long 1 @100 first; then target ``target`` units (minimum notional 50 USDT)
        s = Do({0: lambda c: c.buy(S, 1.0), 2: lambda c: c.target_amount(S, target)})
        res = run(s, flat(100, 100, 100, 100, 100), min_notional=50.0)
        fills = [(f.side, round(f.amount, 12)) for f in res.fills.itertuples()]
        assert fills[1:] == [(side, pytest.approx(a, rel=1e-12)) for side, a in traded]
        if not traded:
            assert s.seen[2] is None  # no order at all, not a refused one
            assert res.orders.shape[0] == 1

    def test_a_target_off_by_more_than_float_noise_trades(self):
        # long 100 @100 (equity 10,000); a target 1.5e-7 units higher is 1.5e-5 USDT =
        # 1.5e-9 of equity: above the 1e-9 noise floor, so it is an order
        s = Do({0: lambda c: c.buy(S, 100.0),
                2: lambda c: c.target_amount(S, 100.0 + 1.5e-7)})
        run(s, flat(100, 100, 100, 100))
        assert s.seen[2] is not None and s.seen[2].amount == pytest.approx(1.5e-7, rel=1e-6)

    @pytest.mark.parametrize("call", [lambda c: c.target_amount(S, 0.0),
                                      lambda c: c.target_percent(S, 0.0)])
    def test_a_zero_target_closes_with_a_reduce_only_order(self, call):
        # long 0.5 @100 -> sell 0.5 reduce-only
        s = Do({0: lambda c: c.buy(S, 0.5), 2: call})
        res = run(s, flat(100, 100, 100, 100))
        assert trades(res) == [("buy", 100.0, 0.5, False), ("sell", 100.0, 0.5, True)]

    def test_a_target_of_one_unit_is_a_target_not_a_close(self):
        # short 2 @100, then target +1: buy 3
        s = Do({0: lambda c: c.sell(S, 2.0), 2: lambda c: c.target_amount(S, 1.0)})
        res = run(s, flat(100, 100, 100, 100))
        assert res.final_positions == {S: 1.0}
        assert trades(res)[-1] == ("buy", 100.0, 3.0, False)


class Venue:
    """A broker standing for a live venue: the simulated exchange, plus leverage and
    margin-mode calls that it records and refuses above 5x (as a venue refuses leverage
    its brackets do not allow). Everything else is the simulated broker's."""

    def __init__(self, inner):
        self._inner, self.calls = inner, []

    def __getattr__(self, name):
        return getattr(self._inner, name)

    def set_leverage(self, symbol, leverage):
        self.calls.append(("leverage", symbol, leverage))
        if leverage > 5:
            raise ConfigError(f"venue: leverage {leverage} not allowed for {symbol}")

    def set_margin_mode(self, symbol, mode):
        self.calls.append(("margin_mode", symbol, mode))


class TestVenueFirst:
    def _engine(self, start):
        venues = []

        def wrap(inner):
            venues.append(Venue(inner))
            return venues[0]

        engine = wire_engine(Do({}, start=start), symbols=[S], timeframe="1h",
                             markets=markets(), broker=simulated_broker(), wrap_broker=wrap)
        return engine, venues[0]

    def test_leverage_and_margin_mode_are_asked_of_the_venue(self):
        engine, venue = self._engine(lambda c: (c.set_leverage(S, 3),
                                                c.set_margin_mode(S, "isolated")))
        drive(engine, merge_bars({S: flat(100, 100)}, H))
        assert venue.calls == [("leverage", S, 3.0), ("margin_mode", S, "isolated")]
        assert engine.portfolio.perp(S).leverage == 3.0
        assert engine.portfolio.perp(S).mode.value == "isolated"
        collect(engine, timeframe="1h")

    def test_a_leverage_the_venue_refuses_is_not_booked(self):
        engine, venue = self._engine(lambda c: c.set_leverage(S, 8))
        with pytest.raises(ConfigError, match="venue: leverage 8.0"):
            drive(engine, merge_bars({S: flat(100, 100)}, H))
        assert engine.portfolio.perp(S).leverage == 1.0
