"""Fees in the currency the venue charges: the portfolio's booking, the simulated
broker's fee sides and BNB option, exits that leave dust, and round trips over dust.

Every figure is worked out by hand next to its assertion. Markets: BTC/USDT, lot step
0.00001, minimum notional 5 USDT, 0.1 % maker and taker.
"""

from __future__ import annotations

import pytest
from engine_helpers import MIN, bars

from tradeloom.engine.accounting.portfolio import NegativeBalance, Portfolio
from tradeloom.engine.costs.fees import FeeAsset
from tradeloom.engine.errors import ConfigError
from tradeloom.engine.market import FeeSide, MarketSpec
from tradeloom.engine.orders import Fill, Liquidity, OrderStatus, Side
from tradeloom.engine.results.trades import build_trades
from tradeloom.engine.run.backtest import backtest_arrays
from tradeloom.engine.run.feeds import merge_bars
from tradeloom.engine.run.wiring import simulated_broker, wire_engine
from tradeloom.engine.strategy.base import Strategy

BTC, BNB = "BTC/USDT", "BNB/USDT"
T = Liquidity.TAKER


def spec(side: str = "get", symbol: str = BTC, **over) -> MarketSpec:
    rules = {"tick_size": 0.01, "lot_step": 0.00001, "min_amount": 0.00001,
             "min_notional": 5.0, "fee_side": side}
    rules.update(over)
    return MarketSpec(symbol, **rules)


class Script(Strategy):
    """Runs ``plan[i](ctx, bar)`` on bar ``i`` (the bars of ``symbol`` only)."""

    def __init__(self, plan, symbol=BTC):
        super().__init__()
        self.plan, self.symbol, self.i = plan, symbol, 0

    def on_bar(self, ctx, bar):
        if bar.symbol != self.symbol:
            return
        step = self.plan[self.i] if self.i < len(self.plan) else None
        self.i += 1
        if step is not None:
            step(ctx, bar)


def flat(price: float, n: int):
    return bars([(price, price, price, price)] * n)


# ------------------------------------------------------------------ the portfolio


class TestPortfolioBooking:
    def test_a_buy_paying_its_fee_in_the_coin_bought(self) -> None:
        pf = Portfolio(1000.0, "USDT")
        # buy 0.01 BTC at 30000, fee 0.1 % of the 0.01 received = 0.00001 BTC (0.3 USDT)
        pf.apply_fill(Fill(1, BTC, Side.BUY, 0, 30000.0, 0.01, 0.3, T, fee_currency="BTC",
                           fee_cost=0.00001))
        assert pf.cash == 700.0                   # 1000 - 0.01 x 30000: no fee from cash
        assert pf.position(BTC) == 0.00999        # 0.01 - 0.00001
        assert pf.fees_paid == 0.3
        assert pf.avg_entry(BTC) == pytest.approx(30000.0)  # (300 - 0.3) / 0.00999

    def test_a_sell_paying_its_fee_in_the_coin_given(self) -> None:
        pf = Portfolio(100.0, "USDT")
        pf.apply_fill(Fill(1, BTC, Side.BUY, 0, 100.0, 1.0, 0.0, T))  # 1 BTC for the 100
        # sell 0.5 at 120, fee 0.1 % charged in BTC on top: 0.0005 BTC (0.06 USDT)
        pf.apply_fill(Fill(2, BTC, Side.SELL, 1, 120.0, 0.5, 0.06, T, fee_currency="BTC",
                           fee_cost=0.0005))
        assert pf.position(BTC) == pytest.approx(0.4995)  # 1 - 0.5 - 0.0005
        assert pf.cash == 60.0                    # 0.5 x 120
        assert pf.realized_pnl == pytest.approx(10.01)  # (120 - 100) x 0.5005, gross
        pf.set_mark(BTC, 120.0)
        # identity: realized + unrealized - fees = equity - initial
        assert pf.realized_pnl + pf.unrealized_pnl() - pf.fees_paid == pytest.approx(
            pf.equity() - 100.0)

    def test_a_fee_in_bnb_is_debited_from_the_bnb_held(self) -> None:
        pf = Portfolio(1000.0, "USDT")
        pf.apply_fill(Fill(1, BNB, Side.BUY, 0, 300.0, 1.0, 0.3, T))  # 1 BNB for 300.3
        # buy 0.01 BTC at 30000: commission 0.3 USDT, in BNB at 300 less 25 %: 0.00075 BNB
        pf.apply_fill(Fill(2, BTC, Side.BUY, 1, 30000.0, 0.01, 0.225, T, fee_currency="BNB",
                           fee_cost=0.00075))
        assert pf.position(BTC) == 0.01 and pf.cash == pytest.approx(1000.0 - 300.3 - 300.0)
        assert pf.position(BNB) == pytest.approx(0.99925)
        assert pf.fees_paid == pytest.approx(0.3 + 0.225)

    def test_a_fee_in_an_asset_the_account_does_not_hold_is_refused(self) -> None:
        pf = Portfolio(1000.0, "USDT")
        with pytest.raises(NegativeBalance, match="pays a fee of 0.00075 BNB but 0.0 BNB"):
            pf.apply_fill(Fill(1, BTC, Side.BUY, 0, 30000.0, 0.01, 0.225, T,
                               fee_currency="BNB", fee_cost=0.00075))

    def test_a_fee_only_holding_is_in_equity_not_a_position(self) -> None:
        pf = Portfolio(1000.0, "USDT")
        pf.hold_fee_asset("BNB", 2.0, 300.0)  # live: BNB held to pay fees, not traded
        assert pf.equity() == 1600.0 and pf.position(BNB) == 0.0 and pf.positions() == {}
        pf.apply_fill(Fill(1, BTC, Side.BUY, 0, 30000.0, 0.01, 0.24, T, fee_currency="BNB",
                           fee_cost=0.0008))  # the venue valued 0.0008 BNB at 0.24 USDT
        assert pf.holding(BNB) == pytest.approx(1.9992) and pf.mark(BNB) == pytest.approx(300.0)


# ------------------------------------------------------------------ the simulated broker


class TestSimulatedFeeSides:
    def run(self, plan, markets, *, data=None, fee_asset=None, cash=1000.0):
        data = data or {BTC: flat(30000.0, len(plan) + 2)}
        engine = wire_engine(Script(plan), symbols=sorted(data), timeframe="1m",
                             markets=markets, broker=simulated_broker(fee_asset=fee_asset),
                             initial_cash=cash)
        engine.start(0)
        for bar in merge_bars(data, MIN):
            engine.step(bar)
        engine.finish()
        return engine

    def test_get_side_buy_and_sell(self) -> None:
        engine = self.run([lambda c, b: c.buy(BTC, 0.01), lambda c, b: c.sell(BTC, c.position(BTC))],
                          {BTC: spec("get")})
        buy, sell = engine.fills
        assert (buy.amount, buy.fee_currency, buy.fee_cost) == (0.01, "BTC", 0.00001)
        assert buy.fee == pytest.approx(0.3)  # valued at the fill price: 0.00001 x 30000
        # the exit sells the 0.00999 held; its fee in USDT: 0.00999 x 30000 x 0.1 % = 0.2997
        assert (sell.amount, sell.fee_currency) == (0.00999, "USDT")
        assert sell.fee == pytest.approx(0.2997)
        assert engine.portfolio.holdings() == {}
        assert engine.portfolio.cash == pytest.approx(1000.0 - 300.0 + 299.7 - 0.2997)

    def test_quote_side_is_unchanged(self) -> None:
        engine = self.run([lambda c, b: c.buy(BTC, 0.01)], {BTC: spec("quote")})
        [buy] = engine.fills
        assert (buy.fee_currency, buy.fee_cost, buy.fee) == ("USDT", 0.3, 0.3)
        assert engine.portfolio.position(BTC) == 0.01 and engine.portfolio.cash == 699.7

    def test_an_all_in_buy_spends_the_quote_when_the_fee_comes_out_of_the_coin(self) -> None:
        get = self.run([lambda c, b: c.buy(BTC, quote=600.0)], {BTC: spec("get")})
        quote = self.run([lambda c, b: c.buy(BTC, quote=600.0)], {BTC: spec("quote")})
        # get: 600 / 30000 = 0.02 BTC exactly; quote: 600 / (30000 x 1.001) = 0.019980...
        # truncated to the lot: 0.01998
        assert get.fills[0].amount == 0.02 and quote.fills[0].amount == 0.01998

    def test_give_side_sell_needs_the_fee_in_the_holding(self) -> None:
        # buy 0.01 (fee in USDT on the give side), sell it all: the fee of 0.00001 BTC must
        # also come from the holding, so only 0.01 / 1.001 = 0.00999000999 -> 0.00999 is sold
        engine = self.run([lambda c, b: c.buy(BTC, 0.01), lambda c, b: c.sell(BTC, 0.01)],
                          {BTC: spec("give")})
        buy, sell = engine.fills
        assert buy.fee_currency == "USDT"
        assert (sell.amount, sell.fee_currency) == (0.00999, "BTC")
        assert sell.fee_cost == pytest.approx(0.00000999, abs=1e-15)
        assert engine.portfolio.holding(BTC) == pytest.approx(0.00000001, abs=1e-15)

    def test_fees_paid_in_bnb_at_its_discount(self) -> None:
        data = {BTC: flat(30000.0, 5), BNB: flat(300.0, 5)}
        plan = [lambda c, b: c.buy(BNB, 1.0), lambda c, b: c.buy(BTC, 0.01)]
        engine = self.run(plan, {BTC: spec("get"), BNB: spec("get", BNB, lot_step=0.001)},
                          data=data, fee_asset=FeeAsset("BNB", 0.25))
        bnb_buy, btc_buy = engine.fills
        # the first BNB buy finds no BNB to pay with: its fee is in BNB as the coin bought
        assert (bnb_buy.fee_currency, bnb_buy.fee_cost) == ("BNB", 0.001)
        # then 0.3 USDT of commission x 0.75 / 300 = 0.00075 BNB, valued 0.225 USDT
        assert (btc_buy.amount, btc_buy.fee_currency) == (0.01, "BNB")
        assert btc_buy.fee_cost == pytest.approx(0.00075) and btc_buy.fee == pytest.approx(0.225)
        assert engine.portfolio.position(BTC) == 0.01
        assert engine.portfolio.position(BNB) == pytest.approx(1.0 - 0.001 - 0.00075)

    def test_selling_all_the_bnb_pays_that_sale_s_fee_from_the_usdt_received(self) -> None:
        # Binance: when BNB cannot pay, "the full commission will be taken out of your
        # received amount". Buy 1 BNB (no BNB yet: 0.001 BNB fee, 0.999 held), then sell
        # all 0.999: nothing would be left for a BNB fee, so the sale pays
        # 0.999 x 300 x 0.1 % = 0.2997 USDT and the account ends flat in BNB.
        data = {BTC: flat(30000.0, 5), BNB: flat(300.0, 5)}
        plan = [lambda c, b: c.buy(BNB, 1.0), lambda c, b: c.sell(BNB, c.position(BNB))]
        engine = self.run(plan, {BTC: spec("get"), BNB: spec("get", BNB, lot_step=0.001)},
                          data=data, fee_asset=FeeAsset("BNB", 0.25))
        _, sell = engine.fills
        assert (sell.amount, sell.fee_currency) == (0.999, "USDT")
        assert sell.fee == pytest.approx(0.2997)
        assert engine.portfolio.position(BNB) == 0.0
        assert engine.portfolio.cash == pytest.approx(1000.0 - 300.0 + 299.7 - 0.2997)

    def test_a_backtest_paying_fees_with_the_bnb_it_trades_reports_its_trades(self) -> None:
        # 1 BNB bought (fee 0.001 BNB: 0.999 held), then 0.01 BTC whose fee is paid with
        # 0.00075 BNB (0.3 USDT x 0.75 / 300): 0.99825 BNB held at the end. The open BNB
        # trade holds the same, its exit counts the 0.00075 BNB that left at 0.225 USDT.
        data = {BTC: flat(30000.0, 5), BNB: flat(300.0, 5)}
        plan = [lambda c, b: c.buy(BNB, 1.0), lambda c, b: c.buy(BTC, 0.01)]
        result = backtest_arrays(Script(plan), data, timeframe="1m", initial_cash=1000.0,
                                 markets={BTC: spec("get"), BNB: spec("get", BNB, lot_step=0.001)},
                                 fee_asset=FeeAsset("BNB", 0.25))
        trades = result.trades.set_index("symbol")
        bnb, btc = trades.loc[BNB], trades.loc[BTC]
        assert bool(bnb["is_open"]) and bool(btc["is_open"])
        assert bnb["amount"] == pytest.approx(0.999)
        assert result.final_positions[BNB] == pytest.approx(0.999 - 0.00075)
        # exit: 0.00075 BNB at 0.225 USDT plus the 0.99825 held at the final mark 300
        assert bnb["exit_price"] == pytest.approx((0.225 + 0.99825 * 300.0) / 0.999)
        assert btc["fees"] == pytest.approx(0.225)

    def test_a_fee_asset_without_its_market_is_refused(self) -> None:
        with pytest.raises(ConfigError, match="fees paid with BNB cannot be valued: the run has "
                                              "no BNB/USDT market; add BNB/USDT"):
            self.run([], {BTC: spec("get")}, fee_asset=FeeAsset("BNB"))


# ------------------------------------------------------------------ dust


class TestDust:
    def engine_with(self, plan, amount_side="get", n=8):
        return backtest_arrays(Script(plan), {BTC: flat(30000.0, n)}, timeframe="1m",
                               markets={BTC: spec(amount_side)}, initial_cash=1000.0)

    def test_selling_everything_three_times_reports_dust_once_and_retries_nothing(self) -> None:
        # buy 0.01234: 0.01232766 held; three "sell everything" calls in a row
        sell_all = lambda c, b: c.target_percent(BTC, 0.0)
        res = self.engine_with([lambda c, b: c.buy(BTC, 0.01234), sell_all, sell_all, sell_all])
        dust = [e for e in res.events if e["kind"] == "dust"]
        assert [(e["symbol"], round(e["amount"], 8)) for e in dust] == [(BTC, 0.00000766)]
        assert res.fills["amount"].tolist() == [0.01234, 0.01232]  # one exit, no retry
        assert len(res.orders) == 2  # the 2nd and 3rd targets see a flat position
        assert res.final_positions == {}  # dust is a balance, not a position
        assert len(res.trades) == 1 and not res.trades["is_open"].iloc[0]

    def test_a_blind_sell_of_what_was_bought_sells_what_is_held(self) -> None:
        sell = lambda c, b: c.sell(BTC, 0.01234)  # ignores the fee
        res = self.engine_with([lambda c, b: c.buy(BTC, 0.01234), sell, sell, sell])
        assert res.fills["amount"].tolist() == [0.01234, 0.01232]
        statuses = res.orders["status"].tolist()
        assert statuses[0] == "filled" and statuses[1] == "canceled"  # rest: not held
        assert all(s in ("canceled", "rejected") for s in statuses[2:])
        assert "insufficient funds" in res.orders["reason"].iloc[2]
        assert len([e for e in res.events if e["kind"] == "dust"]) == 1

    def test_the_next_buy_merges_the_dust_and_the_exit_sells_it(self) -> None:
        buy = lambda c, b: c.buy(BTC, 0.01234)
        sell_all = lambda c, b: c.sell(BTC, c.position(BTC))
        res = self.engine_with([buy, sell_all, buy, sell_all])
        # 0.00000766 + 0.01232766 = 0.01233532 held; sold 0.01233; 0.00000532 left
        assert res.fills["amount"].tolist() == [0.01234, 0.01232, 0.01234, 0.01233]
        dust = [round(e["amount"], 8) for e in res.events if e["kind"] == "dust"]
        assert dust == [0.00000766, 0.00000532]
        first, second = res.trades.itertuples()
        assert first.amount == pytest.approx(0.01232766) and not first.is_open
        assert second.amount == pytest.approx(0.01232766)  # its own entry, net of the fee
        assert res.equity["equity"].iloc[-1] == pytest.approx(
            res.equity["cash"].iloc[-1] + 0.00000532 * 30000.0)  # dust is in equity


def test_fees_that_spend_the_whole_coin_of_a_trade_end_it() -> None:
    # 0.002 BNB bought at 300 (fee in USDT); two BTC fills pay 0.001 BNB each, worth
    # 0.3 USDT: the BNB trade ends at the second, exit 0.002 BNB for 0.6 USDT, tag "fee"
    f = [Fill(1, BNB, Side.BUY, 0, 300.0, 0.002, 0.0006, T, fee_currency="USDT", fee_cost=0.0006),
         Fill(2, BTC, Side.BUY, MIN, 30000.0, 0.01, 0.3, T, fee_currency="BNB", fee_cost=0.001),
         Fill(3, BTC, Side.SELL, 2 * MIN, 30000.0, 0.01, 0.3, T, fee_currency="BNB",
              fee_cost=0.001)]
    bnb, btc = build_trades(f, timeframe_ms=MIN)
    assert (bnb.symbol, bnb.is_open, bnb.exit_tag, bnb.exit_ts) == (BNB, False, "fee", 2 * MIN)
    assert bnb.exit_price == pytest.approx(0.6 / 0.002)  # 300: the coin left at its value
    assert bnb.fees == pytest.approx(0.0006)  # its own entry fee; the 0.6 are BTC's fees
    assert (btc.symbol, btc.fees) == (BTC, pytest.approx(0.6))


def test_trades_close_on_dust_and_carry_it() -> None:
    fills = [Fill(1, BTC, Side.BUY, 0, 100.0, 2.0, 0.2, T, fee_currency="BTC", fee_cost=0.002),
             Fill(2, BTC, Side.SELL, 60_000, 110.0, 1.99, 0.2189, T, fee_currency="USDT",
                  fee_cost=0.2189),  # 0.008 BTC left: dust (fill #1)
             Fill(3, BTC, Side.BUY, 120_000, 100.0, 1.0, 0.1, T, fee_currency="BTC",
                  fee_cost=0.001),
             Fill(4, BTC, Side.SELL, 180_000, 100.0, 1.007, 0.1007, T, fee_currency="USDT",
                  fee_cost=0.1007)]
    first, second = build_trades(fills, timeframe_ms=60_000, dust={1: 0.008})
    # trade 1: 1.998 bought (2 - 0.002 fee), 1.99 sold; entry notional 199.8, exit 218.9
    assert (first.amount, first.is_open) == (pytest.approx(1.998), False)
    assert first.gross_pnl == pytest.approx(218.9 - 199.8)
    # trade 2 starts from the 0.008 carried and sells 0.999 + 0.008 = 1.007
    assert second.amount == pytest.approx(0.999) and not second.is_open
    assert second.exit_notional == pytest.approx(100.7)


def test_fee_side_names_are_checked() -> None:
    assert MarketSpec(BTC, fee_side="give").fee_side is FeeSide.GIVE
    with pytest.raises(ConfigError, match="fee_side 'receive' is not one of get, give, base, quote"):
        MarketSpec(BTC, fee_side="receive")


def test_a_dust_fill_keeps_the_order_filled_and_the_strategy_flat() -> None:
    res = backtest_arrays(Script([lambda c, b: c.buy(BTC, 0.01234),
                                  lambda c, b: c.sell(BTC, c.position(BTC))]),
                          {BTC: flat(30000.0, 4)}, timeframe="1m", markets={BTC: spec("get")})
    assert res.orders["status"].tolist() == [OrderStatus.FILLED.value] * 2
