"""The engine's perpetual calls (``engine.run.perp_step``): closing a position, signed
targets, and leverage and margin mode asked of the venue before the account.

Hourly bars; orders sent at a bar's close fill at the next bar's open. No fees, so the
amounts are the arithmetic of the comments.
"""

from __future__ import annotations

import numpy as np
import pytest
from engine_helpers import Do

from tradeloom.engine.contracts import ContractSpec
from tradeloom.engine.errors import ConfigError, StrategyError
from tradeloom.engine.market import MarketSpec
from tradeloom.engine.run.backtest import backtest_arrays, collect, drive
from tradeloom.engine.run.feeds import BarArrays, merge_bars
from tradeloom.engine.run.funding_feed import FundingRates
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

    def test_a_close_of_zero_is_not_a_price_to_size_with(self):
        s = Do({1: lambda c: c.target_percent(S, 0.5)})
        with pytest.raises(StrategyError, match="no price seen yet"):
            run(s, flat(100, 0.0, 100))

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


def ohlc(rows):
    a = np.array(rows, dtype=float)
    return BarArrays(np.arange(len(a), dtype=np.int64) * H, a[:, 0], a[:, 1], a[:, 2], a[:, 3],
                     np.full(len(a), 1e6))


def isolated(leverage):
    return lambda c: (c.set_leverage(S, leverage), c.set_margin_mode(S, "isolated"))


def liquidations(res):
    return [e for e in res.events if e["kind"] == "liquidation"]


class TestLiquidationEdges:
    # default terms: 0.5 % maintenance, no maintenance amount
    LONG_LP = (100.0 - 1_000.0) / (10 * 0.005 - 10)    # long 10 @100, 10x: 90.452
    SHORT_LP = (100.0 + 1_000.0) / (10 * 0.005 + 10)   # short 10 @100, 10x: 109.453

    @pytest.mark.parametrize(("low", "liquidated"), [
        (LONG_LP, True),                               # the low touches it exactly
        (float(np.nextafter(LONG_LP, 200.0)), False),  # one float above: not reached
    ])
    def test_a_low_exactly_at_the_liquidation_price_liquidates_a_long(self, low, liquidated):
        s = Do({0: lambda c: c.buy(S, 10.0)}, start=isolated(10))
        res = run(s, ohlc([(100, 100, 100, 100), (100, 100, 100, 100), (95, 96, low, 95),
                           (95, 95, 95, 95)]))
        assert bool(liquidations(res)) is liquidated

    @pytest.mark.parametrize(("high", "liquidated"), [
        (SHORT_LP, True),
        (float(np.nextafter(SHORT_LP, 0.0)), False),
    ])
    def test_a_high_exactly_at_the_liquidation_price_liquidates_a_short(self, high, liquidated):
        s = Do({0: lambda c: c.sell(S, 10.0)}, start=isolated(10))
        res = run(s, ohlc([(100, 100, 100, 100), (100, 100, 100, 100), (105, high, 104, 105),
                           (105, 105, 105, 105)]))
        assert bool(liquidations(res)) is liquidated

    def test_a_covered_long_survives_a_zero_low(self):
        # 1x isolated long 10 @100: the margin (1,000) covers a fall to 0: LP 0, "none";
        # a bar whose low is 0 does not liquidate it
        s = Do({0: lambda c: c.buy(S, 10.0)}, start=isolated(1))
        res = run(s, ohlc([(100, 100, 100, 100), (100, 100, 100, 100), (50, 50, 0.0, 40),
                           (40, 40, 40, 40)]))
        assert liquidations(res) == [] and res.final_positions == {S: 10.0}

    def test_a_sub_dollar_long_is_liquidated(self):
        # long 1,000 @0.5 at 10x isolated: margin 50; LP = (50 - 500) / (5 - 1000) = 0.452261
        s = Do({0: lambda c: c.buy(S, 1_000.0)}, start=isolated(10))
        res = run(s, ohlc([(0.5, 0.5, 0.5, 0.5), (0.5, 0.5, 0.5, 0.5), (0.46, 0.46, 0.45, 0.45),
                           (0.45, 0.45, 0.45, 0.45)]))
        (liq,) = liquidations(res)
        assert liq["price"] == pytest.approx(450.0 / 995.0, rel=1e-12)

    @pytest.mark.parametrize(("side", "extreme", "closing"), [("buy", "low", "sell"),
                                                              ("sell", "high", "buy")])
    def test_a_position_under_one_unit_is_closed_by_a_reduce_only_order(self, side, extreme,
                                                                      closing):
        # 0.5 @100 at 20x isolated: margin 2.5; long LP = (2.5 - 50) / (0.0025 - 0.5) =
        # 95.477, short LP = (2.5 + 50) / (0.0025 + 0.5) = 104.478; the bar spans 90-110
        s = Do({0: lambda c: getattr(c, side)(S, 0.5)}, start=isolated(20))
        res = run(s, ohlc([(100, 100, 100, 100), (100, 100, 100, 100), (100, 110, 90, 100),
                           (100, 100, 100, 100)]))
        order = res.orders.iloc[-1]
        assert (order["tag"], order["side"], order["amount"]) == ("liquidation", closing, 0.5)
        assert bool(order["reduce_only"]) is True
        assert order["reason"].startswith(f"liquidated: the bar's {extreme} reached")
        assert res.final_positions == {}


class TestFundingEvents:
    def test_the_latest_rate_is_visible_to_the_strategy_even_when_flat(self):
        funding = FundingRates.from_columns(ts=[H + 1], rate=[0.0003])
        s = Do({0: lambda c: c.funding_rate(S), 2: lambda c: c.funding_rate(S)})
        backtest_arrays(s, {S: flat(100, 100, 100)}, timeframe="1h", markets=markets(),
                        initial_cash=1_000.0, funding={S: funding})
        assert np.isnan(s.seen[0]) and s.seen[2] == 0.0003

    def test_no_usable_mark_no_payment(self):
        # long 1 @100 from 1h; bar 1 closes at 0 (bad data) and the funding at 2h has no
        # mark: nothing to value the position at, so nothing is paid
        funding = FundingRates.from_columns(ts=[2 * H], rate=[0.001])
        data = ohlc([(100, 100, 100, 100), (100, 100, 0.0, 0.0), (100, 100, 100, 100)])
        res = backtest_arrays(Do({0: lambda c: c.buy(S, 1.0)}), {S: data},
                              timeframe="1h", markets=markets(), initial_cash=1_000.0,
                              funding={S: funding})
        assert [e for e in res.events if e["kind"] == "funding"] == []

    @pytest.mark.parametrize(("mark", "amount"), [
        (0.0, -1_000 * 0.5 * 0.001),    # no mark (0): the latest close, 0.5
        (0.51, -1_000 * 0.51 * 0.001),  # a sub-dollar mark is a mark
    ])
    def test_the_mark_of_a_funding_event(self, mark, amount):
        # long 1,000 @0.5 from 1h; funding at 2h at +0.1 %
        funding = FundingRates.from_columns(ts=[2 * H], rate=[0.001], mark=[mark])
        res = backtest_arrays(Do({0: lambda c: c.buy(S, 1_000.0)}), {S: flat(0.5, 0.5, 0.5)},
                              timeframe="1h", markets=markets(), initial_cash=1_000.0,
                              funding={S: funding})
        paid = [e["amount"] for e in res.events if e["kind"] == "funding"]
        assert paid == [pytest.approx(amount, rel=1e-12)]


def test_an_indicator_on_a_perpetual_reads_its_closes():
    class Reader(Strategy):
        def on_start(self, ctx):
            self.sma, self.seen = ctx.indicator("sma", period=2), []

        def on_bar(self, ctx, bar):
            self.seen.append(self.sma.value)

    s = Reader()
    run(s, flat(100, 102, 107))
    assert np.isnan(s.seen[0]) and s.seen[1:] == [101.0, 104.5]


class TestVenueLiquidation:
    """``Engine.book_liquidation``: a live venue closed the position (the runner found its
    ``autoclose-`` order); booked like the engine's own liquidations."""

    def _short(self):
        # short 2 @100 filled at bar 1's open (1h); the run's clock is at bar 1's close (2h)
        engine = wire_engine(Do({0: lambda c: c.sell(S, 2.0)}), symbols=[S], timeframe="1h",
                             markets=markets(), broker=simulated_broker())
        drive(engine, merge_bars({S: flat(100, 100)}, H))
        return engine

    def test_the_whole_position_closes_at_the_venues_price_and_fee(self):
        engine = self._short()
        engine.book_liquidation(S, 3 * H, 140.0, 0.35, "autoclose order")
        res = collect(engine, timeframe="1h")
        (event,) = [e for e in res.events if e["kind"] == "liquidation"]
        assert (event["ts"], event["qty"], event["price"], event["fee"]) == (3 * H, -2.0, 140.0,
                                                                             0.35)
        assert event["source"] == "autoclose order"
        last = res.fills.iloc[-1]
        assert (last["side"], last["price"], last["amount"], last["tag"]) == ("buy", 140.0, 2.0,
                                                                               "liquidation")
        # short 2 @100 bought back at 140: -80, fee 0.35
        assert engine.portfolio.cash == pytest.approx(10_000.0 - 80.0 - 0.35, rel=1e-12)
        assert res.final_positions == {}
        # the 2h row is that bar's equity: the liquidation is a later step (3h)
        assert res.equity.set_index("ts")["equity"][2 * H] == 10_000.0

    def test_a_timer_due_before_the_venues_liquidation_fires_before_it(self):
        class Timed(Do):
            def on_timer(self, ctx, timer):
                self.seen[timer.name] = ctx.position(S)

        strategy = Timed({0: lambda c: (c.sell(S, 2.0), c.set_timer(2 * H + H // 2, name="t"))})
        engine = wire_engine(strategy, symbols=[S], timeframe="1h", markets=markets(),
                             broker=simulated_broker())
        drive(engine, merge_bars({S: flat(100, 100)}, H))
        engine.book_liquidation(S, 3 * H, 140.0, 0.0, "autoclose order")
        collect(engine, timeframe="1h")
        assert strategy.seen["t"] == -2.0  # 2.5h comes before the 3h liquidation

    def test_a_long_of_exactly_one_unit_is_booked_too(self):
        engine = wire_engine(Do({0: lambda c: c.buy(S, 1.0)}), symbols=[S], timeframe="1h",
                             markets=markets(), broker=simulated_broker())
        drive(engine, merge_bars({S: flat(100, 100)}, H))
        engine.book_liquidation(S, 3 * H, 60.0, 0.0, "autoclose order")
        res = collect(engine, timeframe="1h")
        assert [(e["qty"], e["price"]) for e in res.events if e["kind"] == "liquidation"] == \
            [(1.0, 60.0)]
        assert res.final_positions == {}

    def test_a_venue_time_before_the_engine_clock_is_booked_at_the_clock(self):
        engine = self._short()
        engine.book_liquidation(S, H, 140.0, 0.0, "vanished at reconcile")
        res = collect(engine, timeframe="1h")
        (event,) = [e for e in res.events if e["kind"] == "liquidation"]
        assert event["ts"] == 2 * H  # never before what the engine has already stepped

    def test_nothing_is_booked_without_a_position(self):
        engine = wire_engine(Do({}), symbols=[S], timeframe="1h", markets=markets(),
                             broker=simulated_broker())
        drive(engine, merge_bars({S: flat(100, 100)}, H))
        engine.book_liquidation(S, 3 * H, 140.0, 0.0, "autoclose order")
        res = collect(engine, timeframe="1h")
        assert [e for e in res.events if e["kind"] == "liquidation"] == []
        assert res.fills.empty


class TestVenueFunding:
    """A live account's funding payment (``FundingEvent.amount``, from the venue's funding
    history) is booked as the venue booked it."""

    def _long(self):
        engine = wire_engine(Do({0: lambda c: c.buy(S, 1.0)}), symbols=[S], timeframe="1h",
                             markets=markets(), broker=simulated_broker())
        drive(engine, merge_bars({S: flat(100, 100)}, H))  # long 1 @100 from 1h
        return engine

    def test_a_venue_booked_amount_replaces_the_arithmetic(self):
        # rate 0.001 at mark 100 would be -0.1; the venue booked -0.0123: that is the flow
        from tradeloom.engine.run.events import FundingEvent

        engine = self._long()
        engine.step(FundingEvent(S, 2 * H, 0.001, 100.0, -0.0123))
        res = collect(engine, timeframe="1h")
        assert [e["amount"] for e in res.events if e["kind"] == "funding"] == [-0.0123]
        assert engine.portfolio.cash == pytest.approx(10_000.0 - 0.0123, rel=1e-12)

    def test_a_booked_amount_that_is_not_finite_is_refused(self):
        # the engine passes only finite amounts (NaN: compute it); the account checks too
        engine = self._long()
        with pytest.raises(ConfigError, match="booked amount inf must be finite"):
            engine.portfolio.apply_funding(S, 2 * H, 0.001, 100.0, float("inf"))
