"""What a strategy author sees: params, messages, history, indicators, targets, loading."""

from __future__ import annotations

import textwrap

import numpy as np
import pytest
from engine_helpers import bars

from tradeloom.engine.errors import StrategyError
from tradeloom.engine.market import MarketSpec
from tradeloom.engine.run.backtest import backtest_arrays
from tradeloom.engine.strategy.base import Param, Strategy
from tradeloom.research.strategy_loader import load_strategy


class SmaCross(Strategy):
    fast = Param(int, 10, min=1, help="fast SMA period")
    slow = Param(int, 50, min=2)
    size = Param(float, 1.0, min=0.0, max=1.0)
    mode = Param(str, "long", choices=["long", "flat"])
    verbose = Param(bool, False)

    def validate(self):
        if self.fast >= self.slow:
            raise StrategyError(f"fast ({self.fast}) must be < slow ({self.slow})")


class TestParams:
    def test_defaults_and_cli_strings_are_coerced(self):
        s = SmaCross(fast="5", slow="20", size="0.5", verbose="yes")
        assert s.params_dict() == {"fast": 5, "slow": 20, "size": 0.5, "mode": "long", "verbose": True}
        assert (s.fast, type(s.fast)) == (5, int)
        assert SmaCross.fast.help == "fast SMA period"  # the declaration stays on the class

    @pytest.mark.parametrize(
        "params, message",
        [
            ({"fast": "ten"}, "param 'fast': 'ten' is not a whole number (e.g. 10)"),
            ({"fast": 0}, "param 'fast': 0 is below the minimum 1"),
            ({"size": 1.5}, "param 'size': 1.5 is above the maximum 1.0"),
            ({"mode": "short"}, "param 'mode': 'short' is not one of 'long', 'flat'"),
            ({"verbose": "maybe"}, "param 'verbose': 'maybe' is not a bool"),
            ({"fast": True}, "param 'fast': expected an int, got the bool True"),
            ({"fast": 2.5}, "param 'fast': expected an int, got 2.5"),
        ],
    )
    def test_bad_values_name_the_param_and_the_rule(self, params, message):
        with pytest.raises(StrategyError) as info:
            SmaCross(**params)
        assert message in str(info.value)

    def test_unknown_param_suggests_the_closest(self):
        with pytest.raises(StrategyError) as info:
            SmaCross(slwo=30)
        assert str(info.value) == (
            "SmaCross has no param 'slwo'; did you mean 'slow'? Params: fast, slow, size, mode, verbose"
        )

    def test_cross_param_validation(self):
        with pytest.raises(StrategyError, match=r"fast \(60\) must be < slow \(50\)"):
            SmaCross(fast=60)

    def test_validate_raising_value_error_becomes_strategy_error(self):
        class Picky(Strategy):
            n = Param(int, 1)

            def validate(self):
                if self.n == 2:
                    raise ValueError("n must not be 2")

        with pytest.raises(StrategyError, match="ValueError: n must not be 2"):
            Picky(n=2)

    def test_bad_default_fails_at_class_definition(self):
        with pytest.raises(StrategyError, match="below the minimum"):
            class Bad(Strategy):
                n = Param(int, 0, min=1)

    def test_reserved_names_are_refused(self):
        with pytest.raises(StrategyError, match="reserved"):
            class Bad(Strategy):
                history = Param(int, 5)

    def test_params_inherit_and_describe(self):
        class Child(SmaCross):
            extra = Param(float, 0.1)

        assert list(Child.params()) == ["fast", "slow", "size", "mode", "verbose", "extra"]
        assert "fast: int = 10 (>= 1) fast SMA period" in Child.describe()


# Closes 100, 110, 120, 130, 140; opens equal the previous close + 1.
FIVE = bars([(99, 101, 99, 100), (101, 111, 101, 110), (111, 121, 111, 120), (121, 131, 121, 130),
             (131, 141, 131, 140)])


class TestHistoryAndIndicators:
    def test_history_returns_the_last_n_closed_bars(self):
        class Hist(Strategy):
            history = 3

            def on_start(self, ctx):
                self.seen = []

            def on_bar(self, ctx, bar):
                self.seen.append(ctx.history(bar.symbol, 3).tolist())

        s = Hist()
        backtest_arrays(s, FIVE, symbol="BTC/USDT", timeframe="1m")
        assert s.seen == [[100.0], [100.0, 110.0], [100.0, 110.0, 120.0], [110.0, 120.0, 130.0],
                          [120.0, 130.0, 140.0]]

    def test_history_asked_once_in_on_start_sizes_the_buffer(self):
        class Asks(Strategy):
            def on_start(self, ctx):
                assert ctx.history("BTC/USDT", 2).size == 0
                self.highs = []

            def on_bar(self, ctx, bar):
                self.highs.append(ctx.history(bar.symbol, 2, field="high").tolist())

        s = Asks()
        backtest_arrays(s, FIVE, symbol="BTC/USDT", timeframe="1m")
        assert s.highs[-1] == [131.0, 141.0]

    def test_history_larger_than_declared_is_refused_with_the_fix(self):
        class Greedy(Strategy):
            history = 2

            def on_bar(self, ctx, bar):
                ctx.history(bar.symbol, 5)

        with pytest.raises(StrategyError, match="declare `history = 5` on Greedy"):
            backtest_arrays(Greedy(), FIVE, symbol="BTC/USDT", timeframe="1m")

    def test_indicator_is_updated_before_on_bar_and_is_shared(self):
        class Ind(Strategy):
            def on_start(self, ctx):
                self.sma = ctx.indicator("sma", period=2)
                assert ctx.indicator("sma", period=2) is self.sma
                self.hl = ctx.indicator("sma", source="high", period=2)
                self.seen = []

            def on_bar(self, ctx, bar):
                self.seen.append((self.sma.ready, self.sma.value, self.hl.value))

        s = Ind()
        backtest_arrays(s, FIVE, symbol="BTC/USDT", timeframe="1m")
        assert s.seen[0][0] is False and np.isnan(s.seen[0][1])
        assert s.seen[1:3] == [(True, 105.0, 106.0), (True, 115.0, 116.0)]

    def test_unknown_indicator_suggests_a_name(self):
        class Typo(Strategy):
            def on_start(self, ctx):
                ctx.indicator("smaa", period=2)

        with pytest.raises(StrategyError, match="did you mean 'sma'"):
            backtest_arrays(Typo(), FIVE, symbol="BTC/USDT", timeframe="1m")

    def test_bad_indicator_param_is_a_strategy_error(self):
        class BadParam(Strategy):
            def on_start(self, ctx):
                ctx.indicator("sma", periods=2)

        with pytest.raises(StrategyError, match="did you mean 'period'"):
            backtest_arrays(BadParam(), FIVE, symbol="BTC/USDT", timeframe="1m")


class TestTargets:
    def test_target_percent_buys_with_quote_and_sells_base(self):
        class Targets(Strategy):
            def on_start(self, ctx):
                self.orders = []

            def on_bar(self, ctx, bar):
                plan = {60_000: 0.5, 120_000: 0.8, 180_000: 0.25, 240_000: 0.0}
                if bar.close_ts in plan:
                    self.orders.append(ctx.target_percent(bar.symbol, plan[bar.close_ts]))

        s = Targets()
        res = backtest_arrays(s, FIVE, symbol="BTC/USDT", timeframe="1m", initial_cash=1000.0,
                              markets={"BTC/USDT": MarketSpec("BTC/USDT", taker_fee=0.0)})
        o = s.orders
        # close 100, equity 1000: spend 500 quote (fee included) -> fills at the next open 101
        assert (o[0].side.value, o[0].quote_amount, o[0].amount) == ("buy", 500.0, pytest.approx(500 / 101))
        # close 110: equity 500 + 4.9505 * 110 = 1044.55; target 835.64; hold 544.55 -> buy 291.09 quote
        eq1 = 500 + 500 / 101 * 110
        assert o[1].quote_amount == pytest.approx(0.8 * eq1 - 500 / 101 * 110)
        # close 120: decrease to 25 % -> sell base units (value delta / close)
        pos2 = 500 / 101 + (0.8 * eq1 - 500 / 101 * 110) / 111
        eq2 = (1000 - 0.8 * eq1 + 500 / 101 * 110 - 500) + pos2 * 120
        assert (o[2].side.value, o[2].quote_amount) == ("sell", None)
        assert o[2].amount == pytest.approx((pos2 * 120 - 0.25 * eq2) / 120)
        # 0 % sells the whole position exactly
        assert res.final_positions == {}
        assert o[3].amount == pytest.approx(pos2 - o[2].amount)

    def test_target_replaces_unfilled_target_orders(self):
        class Twice(Strategy):
            def on_bar(self, ctx, bar):
                if bar.close_ts == 60_000:
                    self.first = ctx.target_percent(bar.symbol, 0.5)
                    self.second = ctx.target_percent(bar.symbol, 0.2)

        s = Twice()
        res = backtest_arrays(s, FIVE, symbol="BTC/USDT", timeframe="1m", initial_cash=1000.0)
        assert s.first.status.value == "canceled"
        assert res.fills["order_id"].tolist() == [s.second.id]

    @pytest.mark.parametrize(("buy", "min_notional", "sold"), [
        (2.0, 0.0, 2.0),  # all that is held
        (0.0, 0.0, None),  # flat: no order
        (0.06, 5.0, None),  # bought for 6 USDT; at 40 it is worth 2.40, under 5: no order
    ])
    def test_target_percent_zero_sells_everything_held(self, buy, min_notional, sold):
        class Exit(Strategy):
            def on_bar(self, ctx, bar):
                if bar.close_ts == 60_000 and buy:
                    ctx.buy(bar.symbol, buy)  # fills at bar 1's open, 100
                elif bar.close_ts == 180_000:  # bar 2 closes at 40
                    self.exit = ctx.target_percent(bar.symbol, 0.0)

        s = Exit()
        spec = MarketSpec("BTC/USDT", taker_fee=0.001, maker_fee=0.001, min_notional=min_notional)
        down = bars([(100, 100, 100, 100), (100, 100, 100, 100), (40, 40, 40, 40),
                     (40, 40, 40, 40)])
        res = backtest_arrays(s, down, symbol="BTC/USDT", timeframe="1m", initial_cash=1000.0,
                              markets={"BTC/USDT": spec})
        if sold is None:
            assert s.exit is None
            assert len(res.fills) == (1 if buy else 0)
        else:
            assert (s.exit.side.value, s.exit.amount, s.exit.status.value) == ("sell", sold,
                                                                               "filled")
            assert res.fills["price"].tolist() == [100.0, 40.0]  # bar 3 opens at 40

    def test_target_amount_and_no_order_when_on_target(self):
        class Amount(Strategy):
            def on_start(self, ctx):
                self.results = []

            def on_bar(self, ctx, bar):
                self.results.append(ctx.target_amount(bar.symbol, 2.0))

        s = Amount()
        res = backtest_arrays(s, FIVE, symbol="BTC/USDT", timeframe="1m", initial_cash=1000.0)
        assert s.results[0].amount == 2.0 and s.results[1] is None  # filled at 101 before bar 2's on_bar
        assert res.final_positions == {"BTC/USDT": 2.0}

    def test_bad_targets_are_refused(self):
        class Lever(Strategy):
            def on_bar(self, ctx, bar):
                ctx.target_percent(bar.symbol, 1.5)

        with pytest.raises(StrategyError, match=r"pct is a fraction of equity in \[0, 1\]"):
            backtest_arrays(Lever(), FIVE, symbol="BTC/USDT", timeframe="1m")

    def test_orders_on_unknown_symbols_are_refused(self):
        class Elsewhere(Strategy):
            def on_bar(self, ctx, bar):
                ctx.buy("DOGE/USDT", 1.0)

        with pytest.raises(StrategyError, match="not in this run's symbols"):
            backtest_arrays(Elsewhere(), FIVE, symbol="BTC/USDT", timeframe="1m")


class TestLoader:
    def write(self, tmp_path, text, name="strat.py"):
        path = tmp_path / name
        path.write_text(textwrap.dedent(text))
        return path

    def test_loads_a_class_from_a_file(self, tmp_path):
        path = self.write(tmp_path, """
            from tradeloom.engine.strategy.base import Strategy, Param
            class Mine(Strategy):
                n = Param(int, 3)
        """)
        cls = load_strategy(f"{path}:Mine")
        assert cls.__name__ == "Mine" and cls(n="4").n == 4
        assert load_strategy(str(path)) is not None  # the only Strategy in the file

    def test_loads_from_a_module(self):
        assert load_strategy("tradeloom.engine.strategy.base:Strategy") is Strategy

    def test_missing_file(self, tmp_path):
        with pytest.raises(StrategyError, match=r"file '.*nope\.py' not found"):
            load_strategy(f"{tmp_path}/nope.py:X")

    def test_syntax_error_names_file_and_line(self, tmp_path):
        path = self.write(tmp_path, "x = 1\ndef broken(:\n")
        with pytest.raises(StrategyError, match=r"syntax error in .*strat\.py line 2"):
            load_strategy(f"{path}:X")

    def test_import_error_inside_the_file(self, tmp_path):
        path = self.write(tmp_path, "import not_a_real_package_xyz\n")
        with pytest.raises(StrategyError, match="not_a_real_package_xyz"):
            load_strategy(f"{path}:X")

    def test_missing_class_lists_what_exists(self, tmp_path):
        path = self.write(tmp_path, """
            from tradeloom.engine.strategy.base import Strategy
            class SmaCross(Strategy):
                pass
        """)
        with pytest.raises(StrategyError, match=r"no class 'SmaCros'.*did you mean 'SmaCross'"):
            load_strategy(f"{path}:SmaCros")

    def test_not_a_strategy(self, tmp_path):
        path = self.write(tmp_path, "class Plain:\n    pass\nvalue = 3\n")
        with pytest.raises(StrategyError, match="'Plain' is a class Plain, not a subclass"):
            load_strategy(f"{path}:Plain")
        with pytest.raises(StrategyError, match="'value' is a int, not a subclass"):
            load_strategy(f"{path}:value")

    def test_unknown_module(self):
        with pytest.raises(StrategyError, match="no module named 'no_such_mod_abc'"):
            load_strategy("no_such_mod_abc:X")
