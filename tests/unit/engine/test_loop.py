"""The event loop: when orders fill, in which order events and callbacks run, what is recorded."""

from __future__ import annotations

import numpy as np
import pytest
from engine_helpers import MIN, bars

from tradeloom.engine.errors import DataError, StrategyError
from tradeloom.engine.market import MarketSpec
from tradeloom.engine.orders import Bar, OrderStatus
from tradeloom.engine.run.backtest import backtest_arrays, build_engine
from tradeloom.engine.strategy.base import Strategy

# bar  ts       close_ts  open   high   low    close
#  0   0        60_000    100    101    99     100
#  1   60_000   120_000   102    104    101    103
#  2   120_000  180_000   105    106    104    105
THREE = bars([(100, 101, 99, 100), (102, 104, 101, 103), (105, 106, 104, 105)])


class Recorder(Strategy):
    """Logs every callback as text; subclasses decide what to trade."""

    def on_start(self, ctx):
        self.log: list[str] = []

    def on_bar(self, ctx, bar):
        self.log.append(f"bar {bar.symbol} {bar.close_ts} now={ctx.now}")

    def on_fill(self, ctx, fill):
        self.log.append(f"fill {fill.order_id} {fill.price} {fill.amount} now={ctx.now}")

    def on_order(self, ctx, order):
        self.log.append(f"order {order.id} {order.status.value} now={ctx.now}")

    def on_timer(self, ctx, timer):
        self.log.append(f"timer {timer.name} now={ctx.now}")


class BuyFirstBar(Recorder):
    def on_bar(self, ctx, bar):
        super().on_bar(ctx, bar)
        if bar.close_ts == 60_000:
            self.order = ctx.buy(bar.symbol, 1.0)


def run(strategy, data=THREE, **kw):
    kw.setdefault("initial_cash", 1000.0)
    return backtest_arrays(strategy, {"BTC/USDT": data} if not isinstance(data, dict) else data, timeframe="1m", **kw)


class TestFillTiming:
    def test_market_order_placed_on_bar_t_fills_at_bar_t_plus_1_open(self):
        s = BuyFirstBar()
        res = run(s)
        assert s.order.created_ts == 60_000  # the decision bar's close == the next bar's open
        fills = res.fills[["order_id", "ts", "price", "amount", "fee"]].values.tolist()
        # bar 1 opens at 102; taker fee 0.1 % of 102 = 0.102
        assert fills == [[1, 60_000, 102.0, 1.0, pytest.approx(0.102)]]
        eq = res.equity
        assert eq["ts"].tolist() == [60_000, 120_000, 180_000]
        # step 0: nothing filled yet; step 1: cash 1000 - 102 - 0.102, 1 BTC at close 103
        assert eq["cash"].tolist() == pytest.approx([1000.0, 897.898, 897.898])
        assert eq["exposure"].tolist() == pytest.approx([0.0, 103.0, 105.0])
        assert eq["equity"].tolist() == pytest.approx([1000.0, 1000.898, 1002.898])

    def test_limit_inside_the_decision_bar_range_does_not_fill_on_that_bar(self):
        class LimitAt995(Recorder):
            def on_bar(self, ctx, bar):
                super().on_bar(ctx, bar)
                if bar.close_ts == 60_000:  # bar 0's low (99) reached 99.5, later bars never do
                    ctx.buy(bar.symbol, 1.0, price=99.5)

        s = LimitAt995()
        res = run(s)
        assert res.fills.empty
        assert res.orders["status"].tolist() == ["expired"]  # end of run
        assert s.log[-1] == "order 1 expired now=180000"

    def test_signal_on_the_last_bar_is_never_executed(self):
        class BuyLast(Recorder):
            def on_bar(self, ctx, bar):
                if bar.close_ts == 180_000:
                    ctx.buy(bar.symbol, 1.0)

        res = run(BuyLast())
        assert res.fills.empty and res.orders["status"].tolist() == ["expired"]

    def test_open_position_is_kept_and_marked_to_the_last_close(self):
        res = run(BuyFirstBar())
        assert res.final_positions == {"BTC/USDT": 1.0}
        assert res.final_marks == {"BTC/USDT": 105.0}
        assert res.equity["equity"].iloc[-1] == pytest.approx(897.898 + 105.0)

    def test_bracket_legs_arm_after_the_entry_fill(self):
        class Bracket(Recorder):
            def on_bar(self, ctx, bar):
                if bar.close_ts == 60_000:
                    ctx.bracket(bar.symbol, 1.0, stop_loss=95.0, take_profits=[(106.0, 1.0)])

        res = run(Bracket())
        # entry at bar 1's open (102); the take-profit at 106 is reached in bar 2 (high 106)
        assert res.fills[["price", "side"]].values.tolist() == [[102.0, "buy"], [106.0, "sell"]]
        assert dict(zip(res.orders["tag"], res.orders["status"])) == {
            "bracket": "filled", "bracket:sl": "canceled", "bracket:tp1": "filled"
        }


class TestCallbacks:
    def test_fill_then_order_update_then_bar(self):
        s = BuyFirstBar()
        run(s)
        assert s.log == [
            "bar BTC/USDT 60000 now=60000",
            "order 1 open now=60000",  # accepted right after on_bar returned
            "fill 1 102.0 1.0 now=120000",  # bar 1 closes: its fills first...
            "order 1 filled now=120000",
            "bar BTC/USDT 120000 now=120000",  # ...then the strategy sees bar 1
            "bar BTC/USDT 180000 now=180000",
        ]

    def test_portfolio_is_booked_before_on_fill_runs(self):
        class Check(BuyFirstBar):
            def on_fill(self, ctx, fill):
                self.seen = (ctx.position(fill.symbol), ctx.cash)

        s = Check()
        run(s)
        assert s.seen == (1.0, pytest.approx(897.898))

    @pytest.mark.parametrize("watching", [False, True])
    def test_orders_unseen_by_on_order_end_as_when_on_order_sees_them(self, watching):
        """With no ``on_order`` a submit's update is left to the next bar's dispatch: the
        orders (status, history, reason) and fills are those of a run whose ``on_order``
        sees each update as it happens."""

        class Trader(Strategy):
            # bar 0: all-in buy, plus a buy under the 5 USDT minimum (rejected); bar 1:
            # exit; bar 2: a target is placed and replaced on the same bar (cancelled)
            def on_bar(self, ctx, bar):
                if bar.close_ts == 60_000:
                    ctx.target_percent(bar.symbol, 1.0)
                    ctx.buy(bar.symbol, 0.01)
                elif bar.close_ts == 120_000:
                    ctx.target_percent(bar.symbol, 0.0)
                elif bar.close_ts == 180_000:
                    ctx.target_percent(bar.symbol, 0.5)
                    ctx.target_percent(bar.symbol, 0.25)

        class Watcher(Trader):
            def on_order(self, ctx, order):
                pass

        four = bars([(100, 101, 99, 100), (102, 104, 101, 103), (105, 106, 104, 105),
                     (104, 105, 103, 104)])
        spec = MarketSpec("BTC/USDT", taker_fee=0.001, maker_fee=0.001, min_notional=5.0)
        res = run((Watcher if watching else Trader)(), four, markets={"BTC/USDT": spec})
        orders = res.orders[["id", "status", "amount", "reason"]].values.tolist()
        assert orders == [
            # 1000 USDT / (102 * 1.001); filled a float noise under it (a shortfall that
            # leaves the order filled: no reason)
            [1, "filled", pytest.approx(1000 / 102.102, rel=1e-12), ""],
            [2, "rejected", 0.01, "rejected: notional 1.00 USDT < min notional 5.00 for "
             "BTC/USDT; increase amount"],
            [3, "filled", pytest.approx(1000 / 102.102, rel=1e-12), ""],  # the whole holding
            [4, "canceled", 0.0, "canceled by request"],  # replaced by the second target
            # a quarter of the equity at 105 (the sale's 1028.38 less its 0.1 % fee), at 104
            [5, "filled", pytest.approx(0.25 * (1000 / 102.102 * 105 * 0.999) / 104.104,
                                        rel=1e-12), ""],
        ]
        assert res.fills[["order_id", "ts", "price"]].values.tolist() == [
            [1, 60_000, 102.0], [3, 120_000, 105.0], [5, 180_000, 104.0]]


class TestTimers:
    def test_timers_fire_in_time_order_and_after_bars_of_the_same_time(self):
        class Timed(Recorder):
            def on_start(self, ctx):
                super().on_start(ctx)
                ctx.set_timer(120_000, name="at-close-of-bar-1")
                ctx.set_timer(90_000, name="between")
                ctx.set_timer(120_000, name="second-at-120000")  # same time: set order

        s = Timed()
        run(s)
        assert s.log == [
            "bar BTC/USDT 60000 now=60000",
            "timer between now=90000",
            "bar BTC/USDT 120000 now=120000",
            "timer at-close-of-bar-1 now=120000",
            "timer second-at-120000 now=120000",
            "bar BTC/USDT 180000 now=180000",
        ]

    def test_every_ms_repeats_until_the_data_ends(self):
        class Every(Recorder):
            def on_start(self, ctx):
                super().on_start(ctx)
                ctx.set_timer(every_ms=45_000, name="t")  # start (0) + 45 s, 90 s, 135 s, 180 s

        s = Every()
        run(s)
        assert [x for x in s.log if x.startswith("timer")] == [
            "timer t now=45000", "timer t now=90000", "timer t now=135000", "timer t now=180000"
        ]

    def test_timer_in_the_past_is_refused(self):
        class Past(Recorder):
            def on_bar(self, ctx, bar):
                ctx.set_timer(ctx.now - 1, name="late")

        with pytest.raises(StrategyError, match="before now"):
            run(Past())

    def test_order_from_a_timer_between_closes_waits_for_a_bar_that_opens_after_it(self):
        class TimerBuy(Recorder):
            def on_start(self, ctx):
                super().on_start(ctx)
                ctx.set_timer(90_000, name="buy")

            def on_timer(self, ctx, timer):
                ctx.buy("BTC/USDT", 1.0)

        res = run(TimerBuy())
        # placed at 90 s: bar 1 opened at 60 s (before it), bar 2 opens at 120 s at 105
        assert res.fills[["ts", "price"]].values.tolist() == [[120_000, 105.0]]


MULTI = {
    "ETH/USDT": bars([(10, 10, 10, 10)] * 3, start=MIN),  # closes 120, 180, 240 s
    "BTC/USDT": bars([(100, 100, 100, 100)] * 3),  # closes 60, 120, 180 s
    "ADA/USDT": bars([(1, 1, 1, 1)] * 2, start=MIN),  # closes 120, 180 s
}


class TestMultiSymbol:
    DATA = MULTI

    def test_a_target_on_another_symbols_bar_replaces_an_unfilled_one(self):
        """No ``on_order``: the first target's update waits for a dispatch, yet the bar of
        another symbol before BTC's next one knows an order is working, so the second
        target on BTC cancels the first (the broker's working orders decide)."""

        class Retarget(Strategy):
            def on_bar(self, ctx, bar):
                if bar.close_ts == 60_000:  # BTC's first bar
                    self.first = ctx.target_percent("BTC/USDT", 0.5)
                elif bar.close_ts == 120_000 and bar.symbol == "ADA/USDT":  # before BTC's
                    self.second = ctx.target_percent("BTC/USDT", 0.2)

        s = Retarget()
        res = run(s, self.DATA)
        assert (s.first.status.value, s.first.reason) == ("canceled", "canceled by request")
        assert res.fills["order_id"].tolist() == [s.second.id]

    def test_bars_merge_by_close_time_then_symbol_name(self):
        s = Recorder()
        run(s, self.DATA)
        assert [x.rsplit(" now", 1)[0] for x in s.log] == [
            "bar BTC/USDT 60000",
            "bar ADA/USDT 120000", "bar BTC/USDT 120000", "bar ETH/USDT 120000",
            "bar ADA/USDT 180000", "bar BTC/USDT 180000", "bar ETH/USDT 180000",
            "bar ETH/USDT 240000",
        ]

    def test_equity_is_recorded_once_per_time_step_after_all_its_bars(self):
        class BuyBoth(Strategy):
            def on_bar(self, ctx, bar):
                if bar.close_ts == 120_000:
                    ctx.buy(bar.symbol, 1.0)

        res = run(BuyBoth(), self.DATA, initial_cash=10_000.0)
        eq = res.equity
        assert eq["ts"].tolist() == [60_000, 120_000, 180_000, 240_000]
        # at 180 s all three buys filled (fees 0.1 %: 0.001 + 0.1 + 0.01); marks 1, 100, 10
        fees = 0.001 + 0.1 + 0.01
        assert eq["exposure"].tolist() == pytest.approx([0, 0, 111.0, 111.0])
        assert eq["equity"].tolist() == pytest.approx([10_000, 10_000, 10_000 - fees, 10_000 - fees])

    def test_indicator_view_follows_the_bar_being_handled(self):
        class Sma(Strategy):
            def on_start(self, ctx):
                self.sma = ctx.indicator("sma", period=1)
                self.seen = []

            def on_bar(self, ctx, bar):
                self.seen.append((bar.symbol, self.sma.value, self.sma[bar.symbol].value))

        s = Sma()
        run(s, self.DATA)
        assert all(v == bar_v for _, v, bar_v in s.seen)
        assert s.seen[:2] == [("BTC/USDT", 100.0, 100.0), ("ADA/USDT", 1.0, 1.0)]


class TestFeedErrors:
    def test_bars_going_back_in_time_are_refused(self):
        engine = build_engine(Strategy(), symbols=["BTC/USDT"], timeframe="1m")
        engine.start(0)
        engine.step(Bar("BTC/USDT", MIN, 2 * MIN, 1.0, 1.0, 1.0, 1.0, 1.0))
        with pytest.raises(DataError, match="ordered by time"):
            engine.step(Bar("BTC/USDT", 0, MIN, 1.0, 1.0, 1.0, 1.0, 1.0))

    def test_bar_of_a_symbol_outside_the_run_is_refused(self):
        engine = build_engine(Strategy(), symbols=["BTC/USDT"], timeframe="1m")
        engine.start(0)
        with pytest.raises(DataError, match="ETH/USDT"):
            engine.step(Bar("ETH/USDT", 0, MIN, 1.0, 1.0, 1.0, 1.0, 1.0))

    def test_unsorted_arrays_are_refused_with_the_row(self):
        bad = bars([(1, 1, 1, 1)] * 3)
        bad.ts[2] = 0
        with pytest.raises(DataError, match="row 2"):
            run(Strategy(), bad)


def test_per_bar_cost_does_not_grow_with_past_orders():
    """Orders that are done leave the broker's working set: 5,000 round trips, none left."""

    class Churn(Strategy):
        def on_bar(self, ctx, bar):
            ctx.target_percent(bar.symbol, 0.0 if ctx.position(bar.symbol) else 0.5)

    n = 10_000
    px = 100.0 + np.sin(np.arange(n))
    data = bars(np.c_[px, px + 1, px - 1, px].tolist())
    engine = build_engine(Churn(), symbols=["BTC/USDT"], timeframe="1m")
    from tradeloom.engine.run.backtest import drive
    from tradeloom.engine.run.feeds import bars_from_arrays

    drive(engine, bars_from_arrays("BTC/USDT", data, MIN))
    assert len(engine.fills) >= 9_000
    assert engine.broker.open_orders() == []


class TestLiveShapedEvents:
    """The live runner pushes exchange events through the same ``step``."""

    class ExchangeStub:
        """A broker that reports fills and order changes as events (as a live exchange
        does), never on bars nor through ``drain_updates``."""

        def __init__(self):
            from tradeloom.engine.costs.fees import MakerTakerFees

            self.submitted = []
            self.fees = MakerTakerFees()

        def submit(self, order, now_ms):
            order.transition(OrderStatus.OPEN, now_ms)
            self.submitted.append(order)

        def cancel(self, order_id, now_ms):
            return False

        def open_orders(self, symbol=None):
            return [o for o in self.submitted if o.is_open and symbol in (None, o.symbol)]

        def on_bar(self, bar):
            return []

        def on_trade(self, symbol, ts, price, amount):
            return []

        def drain_updates(self):
            return []  # changes arrive as OrderEvents

        def expire_all(self, now_ms):
            pass  # a live exchange's orders stay

        def bar_fast_path(self):
            return None

        def update_markets(self, specs):
            pass  # the exchange's rules are the exchange's

        def set_leverage(self, symbol, leverage):
            pass  # no perpetuals here

        def set_margin_mode(self, symbol, mode):
            pass

        def result_events(self):
            return []

    def test_fill_events_book_the_portfolio_and_reach_the_strategy(self):
        from tradeloom.engine.accounting.portfolio import Portfolio
        from tradeloom.engine.orders import Fill, Liquidity, Side
        from tradeloom.engine.run.events import FillEvent, OrderEvent
        from tradeloom.engine.run.loop import Engine

        strategy = BuyFirstBar()
        broker = self.ExchangeStub()
        engine = Engine(strategy, broker, Portfolio(1000.0), symbols=["BTC/USDT"], timeframe_ms=MIN)
        engine.start(0)
        engine.step(Bar("BTC/USDT", 0, MIN, 100.0, 101.0, 99.0, 100.0, 5.0))
        order = broker.submitted[0]
        engine.step(FillEvent(Fill(order.id, "BTC/USDT", Side.BUY, 61_000, 100.5, 1.0, 0.1, Liquidity.TAKER)))
        order.filled = 1.0
        order.transition(OrderStatus.FILLED, 61_000)
        engine.step(OrderEvent(order, 61_000))
        engine.step(Bar("BTC/USDT", MIN, 2 * MIN, 100.5, 102.0, 100.0, 101.0, 5.0))
        engine.finish()
        assert engine.portfolio.cash == pytest.approx(1000.0 - 100.6)
        assert strategy.log == [
            "bar BTC/USDT 60000 now=60000",
            "fill 1 100.5 1.0 now=61000",
            "order 1 filled now=61000",
            "bar BTC/USDT 120000 now=120000",
        ]
        rec = engine.recorded()
        assert rec["ts"].tolist() == [60_000, 120_000]
        assert rec["equity"].tolist() == pytest.approx([1000.0, 1000.4])


class TestRiskGate:
    class MaxOne:
        """Approves up to 1.0 base unit: larger buys are resized, sells over 5 rejected."""

        def check(self, order, view):
            from tradeloom.engine.risk.gate import GateDecision

            if order.side.value == "sell" and order.amount > 5:
                return GateDecision(False, 0.0, "sell over 5 (test.max_sell)")
            return GateDecision(True, min(order.amount, 1.0), "" if order.amount <= 1 else "resized to 1.0")

    def test_gate_resizes_and_rejects_before_the_broker(self):
        class Orders(Recorder):
            def on_bar(self, ctx, bar):
                if bar.close_ts == 60_000:
                    self.big = ctx.buy(bar.symbol, 3.0)
                    self.bad = ctx.sell(bar.symbol, 6.0)

        s = Orders()
        res = run(s, risk=self.MaxOne())
        assert s.big.amount == 1.0 and s.big.status.value == "filled"
        assert s.bad.status.value == "rejected" and s.bad.reason == "risk: sell over 5 (test.max_sell)"
        assert "order 2 rejected now=60000" in s.log  # the strategy hears about it
        decisions = res.risk_decisions[["order_id", "approved", "requested", "amount", "reason"]]
        assert decisions.values.tolist() == [
            [1, True, 3.0, 1.0, "resized to 1.0"],
            [2, False, 6.0, 0.0, "sell over 5 (test.max_sell)"],
        ]
        assert res.fills["amount"].tolist() == [1.0]


def test_full_exit_after_scale_in_leaves_exactly_zero_position():
    """0.1 + 0.2 bought (0.30000000000000004 held), target 0% sells it all: position is 0."""
    from tradeloom.engine.market import MarketSpec
    from tradeloom.engine.run.backtest import backtest_arrays
    from tradeloom.engine.run.feeds import BarArrays
    from tradeloom.engine.strategy.base import Strategy

    seen = []

    class ScaleInThenExit(Strategy):
        def on_start(self, ctx):
            self.n = 0

        def on_bar(self, ctx, bar):
            self.n += 1
            if self.n == 1:
                ctx.buy(bar.symbol, 0.1)
            elif self.n == 2:
                ctx.buy(bar.symbol, 0.2)
            elif self.n == 4:
                ctx.target_percent(bar.symbol, 0.0)
            elif self.n == 6:
                seen.append(ctx.position(bar.symbol))

    n = 8
    px = np.full(n, 10.0)
    ts = np.arange(n, dtype=np.int64) * 3_600_000
    data = BarArrays.from_columns(ts=ts, open=px, high=px, low=px, close=px, volume=np.full(n, 1e6))
    result = backtest_arrays(
        ScaleInThenExit(), {"SOL/USDT": data}, timeframe="1h",
        markets={"SOL/USDT": MarketSpec("SOL/USDT", tick_size=0.01, lot_step=0.1)},
    )
    assert seen == [0.0]
    assert result.final_positions == {}


class TestDataFeeding:
    """Indicators and history are fed whatever path a bar takes (lean or with extras)."""

    class Reader(Strategy):
        history = 3

        def on_start(self, ctx):
            self.calls = 0
            self.sma = ctx.indicator("sma", "BTC/USDT", period=2)  # close input: the lean list
            self.sma_high = ctx.indicator("sma", "BTC/USDT", period=2, source="high")  # one other field
            self.atr = ctx.indicator("atr", "BTC/USDT", period=2)  # high, low, close

        def on_bar(self, ctx, bar):
            self.calls += 1

    def test_prime_feeds_indicators_and_history_but_takes_no_decision(self):
        strategy = self.Reader()
        engine = build_engine(strategy, symbols=["BTC/USDT"], timeframe="1m", initial_cash=1000.0)
        engine.start(0)
        for i, (o, h, l, c) in enumerate([(100, 101, 99, 100), (102, 104, 101, 103), (105, 106, 104, 105)]):
            engine.prime(Bar("BTC/USDT", i * MIN, (i + 1) * MIN, o, h, l, c, 1.0))
        assert strategy.calls == 0
        assert strategy.sma.value == (103 + 105) / 2
        assert strategy.sma_high.value == (104 + 106) / 2
        assert strategy.atr.ready
        assert engine.ctx.history("BTC/USDT", 3).tolist() == [100.0, 103.0, 105.0]
        assert engine.portfolio.mark("BTC/USDT") == 105.0
        assert engine.recorded()["ts"].tolist() == []  # no equity row for warm-up bars
        assert engine.orders == []

    def test_prime_refuses_a_bar_of_a_symbol_outside_the_run(self):
        engine = build_engine(Strategy(), symbols=["BTC/USDT"], timeframe="1m")
        engine.start(0)
        with pytest.raises(DataError, match="warm-up bar for ETH/USDT"):
            engine.prime(Bar("ETH/USDT", 0, MIN, 1.0, 1.0, 1.0, 1.0, 1.0))

    def test_indicators_asked_for_mid_run_are_fed_from_the_next_bar(self):
        """Asking for a multi-input indicator in on_bar moves the symbol off the lean path."""

        class Late(Strategy):
            def on_bar(self, ctx, bar):
                if bar.close_ts == MIN:
                    self.atr = ctx.indicator("atr", "BTC/USDT", period=1)
                    self.high = ctx.indicator("sma", "BTC/USDT", period=1, source="high")
                self.seen = (self.atr.value, self.high.value) if hasattr(self, "atr") else None

        s = Late()
        run(s)
        # Last bar: high 106, low 104, previous close 103: true range max(2, 3, 1) = 3.
        assert s.seen == (3.0, 106.0)
