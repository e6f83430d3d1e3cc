"""The risk engine's perpetual limits (``engine.risk.perp_limits``): each refuses the
order that would break it, with the setting, the limit and the figure; exits pass.

One perpetual, flat bars at 100, 10,000 USDT, no fees; orders sent at a bar's close.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from tradeloom.engine.accounting.portfolio import Portfolio
from tradeloom.engine.contracts import ContractSpec
from tradeloom.engine.market import MarketSpec
from tradeloom.engine.orders import Fill, Liquidity, Order, OrderType, Side
from tradeloom.engine.risk.config import RiskConfig
from tradeloom.engine.risk.engine import RiskEngine
from tradeloom.engine.risk.perp_limits import perp_refusal
from tradeloom.engine.run.backtest import backtest_arrays
from tradeloom.engine.run.feeds import BarArrays
from tradeloom.engine.run.funding_feed import FundingRates
from tradeloom.engine.strategy.base import Strategy

S = "BTC/USDT:USDT"
H = 3_600_000
MARKETS = {S: MarketSpec(S, maker_fee=0.0, taker_fee=0.0, contract=ContractSpec())}


class Do(Strategy):
    def __init__(self, plan, leverage=10.0, mode="cross"):
        super().__init__()
        self.plan, self.leverage, self.mode, self.i = plan, leverage, mode, -1

    def on_start(self, ctx):
        ctx.set_leverage(S, self.leverage)
        ctx.set_margin_mode(S, self.mode)

    def on_bar(self, ctx, bar):
        self.i += 1
        if self.i in self.plan:
            self.plan[self.i](ctx)


def run(plan, funding=None, **risk):
    n = 6
    px = np.full(n, 100.0)
    data = BarArrays(np.arange(n, dtype=np.int64) * H, px, px, px, px, np.full(n, 1e6))
    return backtest_arrays(Do(plan, **{k: risk.pop(k) for k in ("leverage", "mode") if k in risk}),
                           {S: data}, timeframe="1h", markets=MARKETS, initial_cash=10_000.0,
                           risk=RiskEngine(RiskConfig(**risk)), funding=funding)


def decision(res):
    (row,) = res.risk_decisions.to_dict("records")
    return row


def test_max_leverage_counts_gross_exposure_over_equity():
    # short 400 @100 = 40,000 = 4x equity, limit 3x
    res = run({0: lambda c: c.sell(S, 400.0)}, max_leverage=3.0)
    d = decision(res)
    assert not d["approved"] and "gross exposure would be 4x equity, limit 3x" in d["reason"]
    assert "risk.max_leverage" in d["reason"]
    assert res.fills.empty


def test_max_margin_usage():
    # 10x: short 600 @100 -> margin 6,000 = 60 % of equity, limit 50 %
    res = run({0: lambda c: c.sell(S, 600.0)}, max_margin_usage_pct=0.5)
    assert "margin in use would be 60" in decision(res)["reason"]


def test_min_liquidation_distance():
    # 10x isolated long 100 @100: LP = (1000 - 10000) / (100 * 0.005 - 100) = 90.45,
    # 9.55 % below the mark; minimum 20 %
    res = run({0: lambda c: c.buy(S, 100.0)}, min_liquidation_distance_pct=0.2, mode="isolated")
    reason = decision(res)["reason"]
    assert "liquidation price 90.452" in reason and "risk.min_liquidation_distance_pct" in reason


def test_max_funding_cost_uses_the_latest_rate():
    # funding at 1h: 0.002 (longs pay). A long 50 @100 would pay 50 * 100 * 0.002 = 10 per
    # period = 0.1 % of equity; limit 0.05 %. A short would be paid: allowed.
    funding = {S: FundingRates.from_columns(ts=[H], rate=[0.002], mark=[100.0])}
    res = run({1: lambda c: c.buy(S, 50.0), 2: lambda c: c.sell(S, 50.0, tag="short")},
              funding=funding, max_funding_cost_pct=0.0005)
    d = decision(res)
    assert "funding at the latest rate would cost 0.1" in d["reason"]
    assert res.fills["tag"].tolist() == ["short"]


def test_short_exposure_and_exits_pass():
    # limit shorts to 0.5x equity: a 60-unit short (0.6x) is refused, 40 (0.4x) passes,
    # and buying it back (an exit) always passes.
    res = run({0: lambda c: c.sell(S, 60.0), 1: lambda c: c.sell(S, 40.0),
               3: lambda c: c.close_position(S)}, max_short_exposure=0.5)
    assert "short exposure would be 0.6x equity, limit 0.5x" in decision(res)["reason"]
    assert res.fills["side"].tolist() == ["sell", "buy"]


def test_perpetual_limits_off_leave_the_config_dump_unchanged():
    assert "max_leverage" not in RiskConfig().model_dump()
    assert RiskConfig(max_leverage=2.0).model_dump()["max_leverage"] == 2.0


@pytest.mark.parametrize("setting", ["max_margin_usage_pct", "min_liquidation_distance_pct",
                                     "max_funding_cost_pct"])
def test_fractions_above_one_are_refused(setting):
    with pytest.raises(ValueError):
        RiskConfig(**{setting: 1.5})


def test_a_target_resized_by_risk_trades_the_resized_amount():
    """target_percent(1.0) at 10x leverage asks for 100 @100 (10,000 notional); the order
    limit of 20 % of equity (2,000) resizes it to 20. A perpetual target is re-sized at the
    fill from its percentage; once risk has cut it, the cut amount is what fills."""
    res = run({0: lambda c: c.target_percent(S, 1.0)}, max_order_pct=0.2,
              on_size_breach="resize")
    d = decision(res)
    assert d["approved"] and (d["requested"], d["amount"]) == (100.0, 20.0)
    assert res.fills["amount"].tolist() == [20.0]
    assert res.final_positions == {S: 20.0}


def test_fee_aware_cash_sizing_leaves_perpetual_buys_to_the_margin_check():
    """Short 150 @100 at 10x (margin 1,500), then buy 300 to flip long 150: the buy costs
    1,500 of margin, not 30,000 of cash, so fee-aware cash sizing (a spot rule: a buy
    pays its notional) does not cut it; the margin check at the fill lets it through."""
    res = run({0: lambda c: c.sell(S, 150.0), 1: lambda c: c.buy(S, 300.0)},
              fee_aware_sizing=True)
    assert res.risk_decisions.empty
    assert res.fills["amount"].tolist() == [150.0, 300.0]
    assert res.final_positions == {S: 150.0}


def test_a_flip_is_sized_on_the_new_position_and_keeps_its_close():
    """Short 40 @100 at 10x (4,000 = 40 % of 10,000), then buy 140 to flip long 100
    (10,000 = 100 %) under max_position_pct 0.5 with resize: the 40 that close the short
    are an exit; the new long may be 0.5 * 10,000 = 5,000 = 50 units, so the buy is cut to
    40 + 50 = 90 (not judged as 40 held + 140 more, which would refuse it)."""
    res = run({0: lambda c: c.sell(S, 40.0), 1: lambda c: c.buy(S, 140.0)},
              max_position_pct=0.5, on_size_breach="resize")
    d = decision(res)
    assert d["approved"] and (d["requested"], d["amount"]) == (140.0, 90.0)
    assert res.fills["amount"].tolist() == [40.0, 90.0]
    assert res.final_positions == {S: 50.0}


def test_a_resting_entry_of_the_flipped_symbol_still_takes_room_however_small():
    """As above, with a resting sell limit of 0.005 @110 (an entry that adds to the short,
    0.55 USDT at its limit price) beside the short: after the 40 that close it, 0.55 of
    the symbol's exposure is left, so the new long may be (5,000 - 0.55) / 100 = 49.9945
    units and the buy is cut to 89.9945."""
    res = run({0: lambda c: (c.sell(S, 40.0), c.sell(S, 0.005, price=110.0)),
               1: lambda c: c.buy(S, 140.0)},
              max_position_pct=0.5, on_size_breach="resize")
    d = decision(res)
    assert d["approved"] and d["requested"] == 140.0
    assert d["amount"] == pytest.approx(40.0 + (5_000.0 - 0.55) / 100.0, rel=1e-12)


# -- the limits' arithmetic, one decision at a time (``perp_refusal`` on a real account) --

SPOT = "BTC/USDT"
ETH = "ETH/USDT:USDT"
CHEAP = "DOGE/USDT:USDT"
ACCOUNT_MARKETS = {
    S: MarketSpec(S, maker_fee=0.0, taker_fee=0.0, contract=ContractSpec()),
    ETH: MarketSpec(ETH, maker_fee=0.0, taker_fee=0.0, contract=ContractSpec()),
    CHEAP: MarketSpec(CHEAP, maker_fee=0.0, taker_fee=0.0, contract=ContractSpec()),
    SPOT: MarketSpec(SPOT, maker_fee=0.0, taker_fee=0.0),
}


class View:
    """What ``perp_refusal`` reads of the strategy context, over a real ``Portfolio``."""

    def __init__(self, pf, rates=None, equity=None, marks=None):
        self.perp_account, self.rates = pf, rates or {}
        self.equity = pf.equity() if equity is None else equity
        self.marks = marks or {}

    def mark(self, symbol):
        return self.marks.get(symbol, self.perp_account.mark(symbol))

    def funding_rate(self, symbol):
        return self.rates.get(symbol, math.nan)


def account(*fills, leverage=None, modes=None, cash=10_000.0):
    """A portfolio after ``fills`` ((symbol, signed amount, price), fee-free), each symbol
    marked at its last fill unless ``set_mark`` says otherwise."""
    pf = Portfolio(cash, "USDT", markets=ACCOUNT_MARKETS)
    for symbol, lev in (leverage or {}).items():
        pf.set_leverage(symbol, lev)
    for symbol, mode in (modes or {}).items():
        pf.set_margin_mode(symbol, mode)
    for i, (symbol, signed, price) in enumerate(fills):
        side = Side.BUY if signed > 0 else Side.SELL
        pf.apply_fill(Fill(i + 1, symbol, side, 0, price, abs(signed), 0.0, Liquidity.TAKER))
        pf.set_mark(symbol, price)
    return pf


def refusal(view, side, amount, symbol=S, **limits):
    order = Order(99, symbol, side, OrderType.MARKET, amount, created_ts=0)
    base = {"ts": 0, "order_id": 99, "symbol": symbol, "requested": amount}
    return perp_refusal(RiskConfig(**limits), order, view, 0.0, base)


def book():
    """spot 10 BTC @100; ETH perp long 30 @50 (5x); BTC perp short 20 @90 (10x), mark 100.
    equity = cash 9,000 + spot 1,000 + ETH 0 + BTC -20 * (100 - 90) = 9,800."""
    pf = account((SPOT, 10.0, 100.0), (ETH, 30.0, 50.0), (S, -20.0, 90.0),
                 leverage={ETH: 5, S: 10})
    pf.set_mark(S, 100.0)
    assert pf.equity() == 9_800.0
    return View(pf)


# After selling 10 more BTC perp at the mark 100: BTC -30, entry (20 * 90 + 10 * 100) / 30
# = 93.33.  gross = spot 1,000 + BTC 3,000 + ETH 1,500 = 5,500; long 1,500 (ETH), short
# 3,000 (BTC), net |1,500 - 3,000| = 1,500; margin = 30 * 93.33 / 10 + 30 * 50 / 5 = 580.
ADDING_TO_A_HELD_SHORT = [
    ("max_leverage", 0.5, 5_500 / 9_800),
    ("max_margin_usage_pct", 0.05, 580 / 9_800),
    ("max_long_exposure", 0.1, 1_500 / 9_800),
    ("max_short_exposure", 0.2, 3_000 / 9_800),
    ("max_net_exposure", 0.1, 1_500 / 9_800),
]


@pytest.mark.parametrize(("setting", "limit", "observed"), ADDING_TO_A_HELD_SHORT)
def test_every_position_counts_after_the_order(setting, limit, observed):
    d = refusal(book(), Side.SELL, 10.0, **{setting: limit})
    assert d is not None and d.setting == f"risk.{setting}"
    assert d.observed == pytest.approx(observed, rel=1e-12)


# Opening the BTC perp from flat beside the ETH long 30 @50 (5x) and 10 spot BTC;
# equity 10,000. A sell of 30: gross 1,000 + 3,000 + 1,500 = 5,500; long 1,500, short
# 3,000, net 1,500; margin 30 * 100 / 10 + 300 = 600. A buy of 30: long 4,500, short 0,
# net 4,500.
FROM_FLAT = [
    (Side.SELL, "max_leverage", 0.5, 0.55),
    (Side.SELL, "max_margin_usage_pct", 0.05, 0.06),
    (Side.SELL, "max_long_exposure", 0.1, 0.15),
    (Side.SELL, "max_short_exposure", 0.2, 0.3),
    (Side.SELL, "max_net_exposure", 0.1, 0.15),
    (Side.BUY, "max_long_exposure", 0.1, 0.45),
    (Side.BUY, "max_net_exposure", 0.1, 0.45),
]


@pytest.mark.parametrize(("side", "setting", "limit", "observed"), FROM_FLAT)
def test_a_new_position_counts_at_the_mark(side, setting, limit, observed):
    pf = account((SPOT, 10.0, 100.0), (ETH, 30.0, 50.0), leverage={ETH: 5, S: 10})
    pf.set_mark(S, 100.0)
    d = refusal(View(pf), side, 30.0, **{setting: limit})
    assert d is not None and d.observed == pytest.approx(observed, rel=1e-12)


@pytest.mark.parametrize(("held", "side", "setting", "observed"), [
    # ETH long 30 @50 and BTC long 10 @100 held; buy 10 BTC: longs 1,500 + 2,000
    (((ETH, 30.0, 50.0), (S, 10.0, 100.0)), Side.BUY, "max_long_exposure", 0.35),
    # ETH short 30 @50 held; sell 30 BTC from flat: shorts 1,500 + 3,000
    (((ETH, -30.0, 50.0),), Side.SELL, "max_short_exposure", 0.45),
    # a long worth 0.5 USDT (ETH 0.005 @100) is a long: 0.5 + 3,000 (buy 30 BTC)
    (((ETH, 0.005, 100.0),), Side.BUY, "max_long_exposure", 3_000.5 / 10_000),
])
def test_each_side_sums_every_position(held, side, setting, observed):
    pf = account(*held, leverage={ETH: 5, S: 10})
    pf.set_mark(S, 100.0)
    amount = 10.0 if pf.perp_position(S) else 30.0
    d = refusal(View(pf), side, amount, **{setting: 0.01})
    assert d.observed == pytest.approx(observed, rel=1e-12)


def test_one_unit_from_flat_counts():
    # buy 1 @100 on an empty 10,000 account: gross 100 = 0.01x
    pf = account()
    pf.set_mark(S, 100.0)
    d = refusal(View(pf), Side.BUY, 1.0, max_leverage=0.005)
    assert d.observed == pytest.approx(0.01, rel=1e-12)


@pytest.mark.parametrize(("setting", "limit", "amount", "refused"), [
    # buy 300 @100 on 10,000: gross 3x, margin (10x) 3,000 = 30 %, long 3x
    ("max_leverage", 3.0, 300.0, False),                 # exactly at the limit: allowed
    ("max_leverage", 3.0, 300.0 * (1 + 1.5e-9), True),   # over by more than the 1e-9 slack
    ("max_margin_usage_pct", 0.3, 300.0, False),
    ("max_margin_usage_pct", 0.3, 300.0 * (1 + 1.5e-9), True),
    ("max_long_exposure", 3.0, 300.0, False),
    ("max_long_exposure", 3.0, 300.0 * (1 + 1.5e-9), True),
])
def test_a_limit_is_inclusive_within_float_noise(setting, limit, amount, refused):
    pf = account(leverage={S: 10})
    pf.set_mark(S, 100.0)
    assert (refusal(View(pf), Side.BUY, amount, **{setting: limit}) is not None) is refused


class TestLiquidationDistance:
    def test_a_small_isolated_long(self):
        # 10x isolated long 0.5 @100: WB 5; LP = (5 - 50) / (0.5 * 0.005 - 0.5)
        # = 90.452261 -> 9.5477 % below the mark; minimum 10 %
        pf = account(leverage={S: 10}, modes={S: "isolated"})
        pf.set_mark(S, 100.0)
        d = refusal(View(pf), Side.BUY, 0.5, min_liquidation_distance_pct=0.1)
        lp = -45.0 / (0.0025 - 0.5)
        assert d.observed == pytest.approx((100.0 - lp) / 100.0, rel=1e-12)
        assert "from the mark, minimum 10.0%" in d.reason  # a fraction shown as a percentage

    def test_one_unit(self):
        # 10x isolated long 1 @100: LP = (10 - 100) / (0.005 - 1) = 90.452: 9.55 % away
        pf = account(leverage={S: 10}, modes={S: "isolated"})
        pf.set_mark(S, 100.0)
        d = refusal(View(pf), Side.BUY, 1.0, min_liquidation_distance_pct=0.1)
        assert d.observed == pytest.approx((100.0 - 90.0 / 0.995) / 100.0, rel=1e-12)

    def test_an_isolated_short(self):
        # 10x isolated short 100 @100: LP = (1000 + 10000) / (0.5 + 100) = 109.452736
        # -> 9.4527 % above the mark
        pf = account(leverage={S: 10}, modes={S: "isolated"})
        pf.set_mark(S, 100.0)
        d = refusal(View(pf), Side.SELL, 100.0, min_liquidation_distance_pct=0.1)
        assert d.observed == pytest.approx((11_000.0 / 100.5 - 100.0) / 100.0, rel=1e-12)

    def test_a_cross_short_uses_the_whole_wallet_and_the_other_positions(self):
        # cross: WB 10,000, ETH long 30 @50 marked 40 (upnl -300, maintenance 30 * 40 *
        # 0.005 = 6). short 800 BTC @100 (10x):
        # LP = (10000 - 6 - 300 + 800 * 100) / (800 * 0.005 + 800) = 89694 / 804
        pf = account((ETH, 30.0, 50.0), leverage={ETH: 5, S: 10})
        pf.set_mark(ETH, 40.0)
        pf.set_mark(S, 100.0)
        d = refusal(View(pf), Side.SELL, 800.0, min_liquidation_distance_pct=0.2)
        assert d.observed == pytest.approx((89_694.0 / 804.0 - 100.0) / 100.0, rel=1e-12)

    def test_a_sub_dollar_coin_is_checked_too(self):
        # 20x isolated long 1,000 @0.5: WB 25; LP = (25 - 500) / (5 - 1000) = 0.477387
        # -> 4.52 % below the mark; minimum 5 %
        pf = account(leverage={CHEAP: 20}, modes={CHEAP: "isolated"})
        pf.set_mark(CHEAP, 0.5)
        d = refusal(View(pf), Side.BUY, 1_000.0, symbol=CHEAP, min_liquidation_distance_pct=0.05)
        assert d.observed == pytest.approx((0.5 - 475.0 / 995.0) / 0.5, rel=1e-12)

    def test_exactly_the_minimum_distance_is_allowed(self):
        pf = account(leverage={S: 10}, modes={S: "isolated"})
        pf.set_mark(S, 100.0)
        distance = refusal(View(pf), Side.BUY, 0.5, min_liquidation_distance_pct=0.5).observed
        assert refusal(View(pf), Side.BUY, 0.5, min_liquidation_distance_pct=distance) is None
        # a minimum above the distance by more than the 1e-9 slack refuses
        above = distance / (1 - 1.5e-9)
        assert refusal(View(pf), Side.BUY, 0.5, min_liquidation_distance_pct=above) is not None


class TestFundingCost:
    def _view(self, rate):
        pf = account(leverage={S: 10})
        pf.set_mark(S, 100.0)
        return View(pf, rates={S: rate})

    def test_one_unit_pays_at_the_latest_rate(self):
        # long 1 @100 at +0.002: pays 0.2 per period = 0.002 % of 10,000
        d = refusal(self._view(0.002), Side.BUY, 1.0, max_funding_cost_pct=0.00001)
        assert d.observed == pytest.approx(0.00002, rel=1e-12)

    def test_before_the_first_funding_time_nothing_is_charged(self):
        # no rate yet (NaN): the position costs 0, under any limit
        assert refusal(self._view(math.nan), Side.BUY, 1.0, max_funding_cost_pct=1e-9) is None

    @pytest.mark.parametrize(("amount", "refused"), [
        (50.0, False),                 # 50 * 100 * 0.002 = 10 = exactly 0.1 % of 10,000
        (50.0 * (1 + 1.5e-9), True),   # over by more than the 1e-9 slack
    ])
    def test_the_limit_is_inclusive(self, amount, refused):
        d = refusal(self._view(0.002), Side.BUY, amount, max_funding_cost_pct=0.001)
        assert (d is not None) is refused


class TestNotJudged:
    def _pf(self):
        pf = account(leverage={S: 10})
        pf.set_mark(S, 100.0)
        return pf

    @pytest.mark.parametrize("mark", [0.0, math.inf, math.nan])
    def test_without_a_usable_mark(self, mark):
        # the order's value is unknown: not judged here, even with the account already
        # over a limit (ETH long 300 @50 = 1.5x equity, limit 1x)
        pf = account((ETH, 300.0, 50.0), leverage={ETH: 5, S: 10})
        view = View(pf, marks={S: mark})
        assert refusal(view, Side.BUY, 500.0, max_leverage=1.0,
                       min_liquidation_distance_pct=0.5) is None

    def test_without_equity(self):
        view = View(self._pf(), equity=0.0)
        assert refusal(view, Side.BUY, 500.0, max_leverage=1.0) is None

    def test_a_small_equity_is_still_judged(self):
        # equity 0.5: a 1-unit buy @100 is 200x
        view = View(self._pf(), equity=0.5)
        assert refusal(view, Side.BUY, 1.0, max_leverage=3.0).observed == pytest.approx(200.0)

    def test_a_spot_symbol_is_not_a_perpetual_limit(self):
        pf = self._pf()
        pf.set_mark(SPOT, 100.0)
        assert refusal(View(pf), Side.BUY, 500.0, symbol=SPOT, max_leverage=1.0) is None


def two_perps(eth_prices, plan, **risk):
    """BTC flat at 100 and ETH at ``eth_prices``, 10x, no fees; ``plan[(symbol, bar)](ctx)``
    runs at that symbol's bar close (BTC's bar comes first at each time)."""
    eth = "ETH/USDT:USDT"
    markets = {s: MarketSpec(s, maker_fee=0.0, taker_fee=0.0, contract=ContractSpec())
               for s in (S, eth)}

    def bars_of(prices):
        px = np.array(prices, dtype=float)
        return BarArrays(np.arange(px.size, dtype=np.int64) * H, px, px, px, px,
                         np.full(px.size, 1e6))

    class Two(Strategy):
        def on_start(self, ctx):
            for s in (S, eth):
                ctx.set_leverage(s, 10.0)

        def on_bar(self, ctx, bar):
            step = plan.get((bar.symbol, bar.ts // H))
            if step is not None:
                step(ctx)

    return backtest_arrays(Two(), {S: bars_of([100.0] * len(eth_prices)), eth: bars_of(eth_prices)},
                           timeframe="1h", markets=markets, initial_cash=10_000.0,
                           risk=RiskEngine(RiskConfig(**risk)))


@pytest.mark.parametrize("short", [10.0, 0.5])
def test_a_flip_with_no_room_for_the_new_position_keeps_only_its_close(short):
    """max_exposure_pct 0.65 with resize. At bar 0 (ETH's close, both priced at 100): buy
    50 ETH and sell ``short`` BTC (at most 6,000 = 60 %). ETH opens bar 1 at 200: the buy
    fills at 200, so ETH alone is 10,000 = 100 % of 10,000. At bar 2 buying 30 BTC closes
    the short (an exit) but the new long has no room (0.65 * 10,000 - 10,000 < 0): the buy
    is cut to the ``short`` that closes it."""
    eth = "ETH/USDT:USDT"
    res = two_perps([100, 200, 200, 200, 200],
                    {(eth, 0): lambda c: (c.buy(eth, 50.0), c.sell(S, short)),
                     (S, 2): lambda c: c.buy(S, 30.0)},
                    max_exposure_pct=0.65, on_size_breach="resize")
    d = decision(res)
    assert d["approved"] and (d["requested"], d["amount"]) == (30.0, short)
    assert res.final_positions == {eth: 50.0}


@pytest.mark.parametrize(("eth_close", "bought"), [(150.0, 10.0), (149.975, 10.005)])
def test_a_flip_at_the_edge_of_no_room_keeps_its_close(eth_close, bought):
    """max_exposure_pct 0.5 with resize. Bar 0: buy 40 ETH and sell 10 BTC (5,000 = 50 %,
    at the limit). ETH closes bar 2 at 150: ETH is 6,000 and the equity 10,000 + 40 * 50 =
    12,000, so after the short's close the room is 0.5 * 12,000 - 6,000 = 0 exactly: the
    flip buy of 30 at bar 3 is cut to the 10 that close the short (not refused). At
    149.975 the room is 0.5 * 11,999 - 5,999 = 0.5 USDT: 10 + 0.5 / 100 = 10.005."""
    eth = "ETH/USDT:USDT"
    res = two_perps([100, 100, eth_close, eth_close, eth_close],
                    {(eth, 0): lambda c: (c.buy(eth, 40.0), c.sell(S, 10.0)),
                     (S, 3): lambda c: c.buy(S, 30.0)},
                    max_exposure_pct=0.5, on_size_breach="resize")
    d = decision(res)
    assert d["approved"] and d["requested"] == 30.0
    assert d["amount"] == pytest.approx(bought, rel=1e-12)
    assert res.final_positions[eth] == 40.0


def test_a_flip_whose_new_position_fits_is_approved_as_asked():
    """Short 40 @100, then buy 60 under max_position_pct 0.5: the close (40) is an exit and
    the new long of 20 (2,000 = 20 %) fits, so nothing is resized."""
    res = run({0: lambda c: c.sell(S, 40.0), 1: lambda c: c.buy(S, 60.0)},
              max_position_pct=0.5, on_size_breach="resize")
    assert res.risk_decisions.empty
    assert res.final_positions == {S: 20.0}


def test_the_minimum_notional_of_a_flip_is_on_the_whole_order():
    """risk.min_notional 100: short 40 @100, then buy 40.5. The new long is 0.5 (50 USDT),
    but the venue's filter judges the order, 4,050 USDT: approved as asked."""
    res = run({0: lambda c: c.sell(S, 40.0), 1: lambda c: c.buy(S, 40.5)}, min_notional=100.0)
    assert res.risk_decisions.empty
    assert res.final_positions == {S: 0.5}
