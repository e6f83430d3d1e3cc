"""A portfolio of strategies in one account (engine.strategy.sleeves): routing, attribution,
per-sleeve holdings and budgets, the RiskEngine's per-strategy budgets and caps as data,
and the per-strategy breakdown of the result."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from engine_helpers import bars, random_walk

from tradeloom.engine.errors import ConfigError, StrategyError
from tradeloom.engine.risk.config import RiskConfig
from tradeloom.engine.risk.engine import RiskEngine
from tradeloom.engine.run.backtest import backtest_arrays
from tradeloom.engine.strategy.base import Param, Strategy
from tradeloom.engine.strategy.sleeves import Sleeve, SleevePortfolio, portfolio_risk

BTC, ETH = "BTC/USDT", "ETH/USDT"
MIN = 60_000


def flat(n, price=100.0):
    return bars([(price, price, price, price)] * n)


class AllIn(Strategy):
    """target_percent(pct) on the first bar of each symbol; records what it saw."""

    pct = Param(float, 1.0)

    def on_start(self, ctx):
        self.bars, self.fills, self.timers = [], [], []
        ctx.set_timer(every_ms=2 * MIN, name="tick")

    def on_bar(self, ctx, bar):
        self.bars.append((ctx.now, bar.symbol))
        if ctx.position(bar.symbol) == 0 and not ctx.open_orders(bar.symbol) and ctx.now == MIN:
            ctx.target_percent(bar.symbol, self.pct)

    def on_fill(self, ctx, fill):
        self.fills.append((fill.symbol, fill.amount, fill.strategy_id))

    def on_timer(self, ctx, timer):
        self.timers.append((ctx.now, timer.name))


def run(book, data, **kw):
    return backtest_arrays(book, data, timeframe="1m", initial_cash=10_000.0, **kw)


def test_each_sleeve_sees_only_its_symbols_and_its_orders_carry_its_id():
    a, b = AllIn(), AllIn()
    book = SleevePortfolio([Sleeve("a", a, [BTC], 0.5), Sleeve("b", b, [ETH], 0.25)])
    res = run(book, {BTC: flat(3), ETH: flat(3, 50.0)}, risk=portfolio_risk(book, None))
    assert {s for _, s in a.bars} == {BTC} and {s for _, s in b.bars} == {ETH}
    assert res.orders[["symbol", "strategy_id"]].values.tolist() == [[BTC, "a"], [ETH, "b"]]
    assert res.fills["strategy_id"].tolist() == ["a", "b"]
    assert [f[2] for f in a.fills] == ["a"] and [f[2] for f in b.fills] == ["b"]


def test_a_sleeve_target_of_1_spends_its_budget_not_the_account():
    a = AllIn()
    book = SleevePortfolio([Sleeve("a", a, [BTC], 0.25)])
    res = run(book, {BTC: flat(3)}, risk=portfolio_risk(book, None))
    (order,) = res.orders.itertuples()
    assert order.quote_amount == 2_500.0  # 25 % of 10,000, fee included
    (fill,) = res.fills.itertuples()
    assert fill.price * fill.amount + fill.fee == pytest.approx(2_500.0, rel=1e-12)


def test_timers_are_the_sleeves_own():
    a, b = AllIn(), AllIn()
    book = SleevePortfolio([Sleeve("a", a, [BTC], 0.5), Sleeve("b", b, [BTC], 0.5)])
    run(book, {BTC: flat(5)})
    assert a.timers == b.timers == [(2 * MIN, "tick"), (4 * MIN, "tick")]


class Buyer(Strategy):
    """Buys ``amount`` base units at the first bar (market); sells it at bar ``sell_at``."""

    amount = Param(float, 1.0)
    sell_at = Param(int, 0)

    def on_bar(self, ctx, bar):
        if ctx.now == MIN:
            ctx.buy(bar.symbol, self.amount)
        if self.sell_at and ctx.now == self.sell_at * MIN:
            self.seen = ctx.position(bar.symbol)
            ctx.sell(bar.symbol, ctx.position(bar.symbol))


def test_two_sleeves_on_one_symbol_keep_their_own_holdings_and_round_trips():
    a, b = Buyer(amount=2.0), Buyer(amount=1.0, sell_at=3)
    book = SleevePortfolio([Sleeve("a", a, [BTC], 0.5), Sleeve("b", b, [BTC], 0.5)])
    res = run(book, {BTC: flat(5)})
    assert b.seen == 1.0  # its own holding, not the account's 3.0
    assert res.final_positions == {BTC: 2.0}  # a still holds its 2
    trades = res.trades_by_strategy()
    assert trades[["strategy_id", "amount", "is_open"]].values.tolist() == [
        ["a", 2.0, True], ["b", 1.0, False]]
    assert len(res.trades) == 1  # the account saw one round trip that never closed


def test_the_risk_engine_rejects_an_order_over_the_sleeves_budget_as_data():
    # sleeve b may hold 10 % of 10,000 = 1,000; a buy of 15 at 100 = 1,500 is over it
    book = SleevePortfolio([Sleeve("a", Buyer(amount=1.0), [BTC], 0.5),
                            Sleeve("b", Buyer(amount=15.0), [BTC], 0.1)])
    res = run(book, {BTC: flat(3)}, risk=portfolio_risk(book, None))
    assert res.fills["strategy_id"].tolist() == ["a"]
    (d,) = res.risk_decisions.itertuples()
    assert d.code == "strategy_budget" and d.setting == "risk.strategy_budgets.b"
    assert d.limit == 0.1 and d.observed == pytest.approx(0.15, rel=1e-3)
    assert res.orders.set_index("strategy_id").loc["b", "status"] == "rejected"


def test_per_sleeve_position_and_open_position_caps_reject_as_data():
    class TwoBuys(Strategy):
        def on_bar(self, ctx, bar):
            if ctx.now == MIN:
                ctx.buy(bar.symbol, 6.0)  # 600 of 10,000: 6 %

    book = SleevePortfolio([
        Sleeve("capped", TwoBuys(), [BTC], 0.5, max_position_pct=0.05),
        Sleeve("one", TwoBuys(), [ETH, "SOL/USDT"], 0.4, max_open_positions=1),
    ])
    res = run(book, {BTC: flat(3), ETH: flat(3), "SOL/USDT": flat(3)},
              risk=portfolio_risk(book, None))
    decisions = res.risk_decisions.set_index("symbol")
    assert decisions.loc[BTC, "code"] == "strategy_position"
    assert decisions.loc[BTC, "setting"] == "risk.strategy_limits.capped.max_position_pct"
    assert decisions.loc["SOL/USDT", "code"] == "strategy_open_positions"
    assert decisions.loc["SOL/USDT", "observed"] == 2.0 and decisions.loc["SOL/USDT", "limit"] == 1.0
    assert res.fills["symbol"].tolist() == [ETH]


def test_a_risk_flatten_sells_each_sleeves_holding_as_that_sleeve():
    cfg = RiskConfig(kill_at=3 * MIN, kill_flatten=True)
    book = SleevePortfolio([Sleeve("a", Buyer(amount=2.0), [BTC], 0.5),
                            Sleeve("b", Buyer(amount=1.0), [BTC], 0.5)])
    res = run(book, {BTC: flat(6)}, risk=portfolio_risk(book, RiskEngine(cfg)))
    sells = res.fills[res.fills["side"] == "sell"]
    assert sells[["strategy_id", "amount", "tag"]].values.tolist() == [
        ["a", 2.0, "risk:flatten"], ["b", 1.0, "risk:flatten"]]
    assert res.final_positions == {}


def test_budgets_and_caps_go_into_the_run_risk_config():
    book = SleevePortfolio([Sleeve("a", Buyer(), [BTC], 0.5, max_open_positions=2)])
    risk = portfolio_risk(book, RiskEngine(RiskConfig(max_exposure_pct=0.8)))
    assert risk.config.strategy_budgets == {"a": 0.5}
    assert risk.config.strategy_limits["a"].max_open_positions == 2
    assert risk.config.max_exposure_pct == 0.8
    with pytest.raises(ConfigError, match="already sets a = 0.3"):
        portfolio_risk(book, RiskEngine(RiskConfig(strategy_budgets={"a": 0.3})))
    assert portfolio_risk(Buyer(), None) is None  # one strategy: the run's risk as given


def test_bad_portfolios_are_refused_with_the_reason():
    with pytest.raises(ConfigError, match="ids \\['a'\\] are used twice"):
        SleevePortfolio([Sleeve("a", Buyer(), [BTC], 0.2), Sleeve("a", Buyer(), [ETH], 0.2)])
    with pytest.raises(ConfigError, match="budget_pct 0 must be"):
        Sleeve("a", Buyer(), [BTC], 0)
    book = SleevePortfolio([Sleeve("a", Buyer(), [BTC, ETH], 0.5)])
    with pytest.raises(ConfigError, match="the sleeves trade \\['ETH/USDT'\\]"):
        run(book, {BTC: flat(2)})


def test_a_sleeve_cannot_trade_another_symbol():
    class Stray(Strategy):
        def on_bar(self, ctx, bar):
            ctx.buy(ETH, 1.0)

    book = SleevePortfolio([Sleeve("a", Stray(), [BTC], 0.5), Sleeve("b", Buyer(), [ETH], 0.5)])
    with pytest.raises(StrategyError, match="sleeve 'a' trades \\['BTC/USDT'\\] and cannot trade ETH"):
        run(book, {BTC: flat(2), ETH: flat(2)})


@pytest.mark.parametrize("fee_side", ["quote", "get"])  # fees in quote, or in the coin bought
def test_the_breakdown_adds_up_to_the_account(fee_side):
    from tradeloom.engine.market import FeeSide, MarketSpec

    a, b = AllIn(pct=1.0), AllIn(pct=1.0)
    book = SleevePortfolio([Sleeve("a", a, [BTC], 0.6), Sleeve("b", b, [ETH], 0.4)])
    data = {BTC: random_walk(200, 1), ETH: random_walk(200, 2, 50.0)}
    markets = {s: MarketSpec(s, fee_side=FeeSide(fee_side)) for s in (BTC, ETH)}
    res = run(book, data, risk=portfolio_risk(book, None), markets=markets)
    table = res.by_strategy().set_index("strategy_id")
    assert list(table.index) == ["a", "b"]
    assert table["contribution"].sum() == pytest.approx(res.metrics["total_return"], rel=1e-12)
    assert table["fees"].sum() == pytest.approx(res.metrics["fees_paid"], rel=1e-12)
    assert (table["open_trades"] == 1).all()
    frame = {s: np.column_stack([d.ts, d.close]) for s, d in data.items()}
    import pandas as pd

    closes = pd.concat([pd.DataFrame({"ts": v[:, 0].astype(np.int64), "symbol": s, "close": v[:, 1]})
                        for s, v in frame.items()])
    curve = res.strategy_equity(closes)
    last = curve.iloc[-1]
    assert last["a"] + last["b"] == pytest.approx(res.equity["equity"].iloc[-1] - 10_000.0,
                                                  rel=1e-9)
    assert last["a:held"] + last["b:held"] == pytest.approx(res.equity["exposure"].iloc[-1],
                                                            rel=1e-12)


def test_one_strategy_breaks_down_to_itself():
    res = run(AllIn(), {BTC: random_walk(50, 3)})
    by = res.trades_by_strategy()
    assert by["strategy_id"].unique().tolist() == ["AllIn"]
    assert by.drop(columns="strategy_id").equals(res.trades)


def test_a_sleeve_sees_its_declared_higher_timeframe_as_it_would_alone():
    class FourMinutes(Strategy):
        timeframes = {"4m": 2}

        def on_start(self, ctx):
            self.seen = []

        def on_bar(self, ctx, bar):
            if ctx.now == 9 * MIN:
                self.seen = [b.close_ts // MIN for b in ctx.bars(bar.symbol, "4m", 2)]

    alone, inside = FourMinutes(), FourMinutes()
    run(alone, {BTC: flat(10)})
    run(SleevePortfolio([Sleeve("a", inside, [BTC], 0.5)]), {BTC: flat(10)})
    assert alone.seen == inside.seen == [4, 8]


def test_a_fee_in_the_coin_bought_leaves_the_sleeve_what_the_account_holds():
    from tradeloom.engine.market import FeeSide, MarketSpec

    a = Buyer(amount=2.0, sell_at=4)
    book = SleevePortfolio([Sleeve("a", a, [BTC], 0.5)])
    res = run(book, {BTC: flat(6)}, markets={BTC: MarketSpec(BTC, fee_side=FeeSide.GET)})
    # bought 2.0 at 100 with a 0.1 % taker fee taken in BTC: 1.998 held, all of it sold
    assert a.seen == 1.998
    assert res.final_positions == {}
    (trade,) = res.trades_by_strategy().itertuples()
    assert trade.strategy_id == "a" and not trade.is_open


def test_dust_an_exit_left_counts_in_its_strategy_contribution() -> None:
    """Binance fees in the coin bought: buy 0.01234 BTC at 30000 (fee 0.00001234 BTC)
    leaves 0.01232766; the exit sells the lot-step part 0.01232 at 31000 and 0.00000766
    BTC stays as dust. The round trip's PnL leaves the dust out; the dust is still in the
    account's equity, so the breakdown marks it (0.00000766 x 32000 = 0.24512 USDT) and
    the contributions add up to the return."""
    from tradeloom.engine.results.strategies import strategy_breakdown, trades_by_strategy

    fills = pd.DataFrame({
        "order_id": [1, 2], "symbol": ["BTC/USDT"] * 2, "side": ["buy", "sell"],
        "ts": [0, 3_600_000], "price": [30000.0, 31000.0], "amount": [0.01234, 0.01232],
        "fee": [0.3702, 0.38192], "tag": ["", ""], "strategy_id": ["a", "a"],
        "fee_currency": ["BTC", "USDT"], "fee_cost": [0.00001234, 0.38192]})
    orders = pd.DataFrame({"strategy_id": ["a", "a"]})
    trades = trades_by_strategy(fills, timeframe_ms=3_600_000, final_ts=7_200_000,
                                final_marks={"BTC/USDT": 32000.0}, dust={1: 0.00000766})
    row = strategy_breakdown(orders=orders, fills=fills, trades=trades,
                             equity_ts=np.array([0, 3_600_000, 7_200_000]), initial_cash=1000.0,
                             final_marks={"BTC/USDT": 32000.0}).iloc[0]
    assert row["unrealized_pnl"] == pytest.approx(0.00000766 * 32000.0, abs=1e-9)
    # account: cash 1000 - 370.2 + 381.92 - 0.38192 = 1011.33808; BTC 0.00000766 x 32000
    equity = 1000.0 - 0.01234 * 30000.0 + 0.01232 * 31000.0 - 0.38192 + 0.00000766 * 32000.0
    assert row["pnl"] == pytest.approx(equity - 1000.0, abs=1e-9)
