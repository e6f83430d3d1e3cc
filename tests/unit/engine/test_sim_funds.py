"""The simulated exchange's funds rules (``engine.sim.funds``), fill by fill, by hand.

A ``SimulatedBroker`` over a real ``Portfolio`` (the account it asks for free balances
and that books its fills). Markets BTC/USDT and BNB/USDT: lot 0.001, no minimums unless
a test sets them, 0.1 % maker and taker. Bars are one minute; an order placed at
``MIN`` meets bar 1 first.
"""

from __future__ import annotations

import pytest

from tradeloom.engine.accounting.portfolio import Portfolio
from tradeloom.engine.costs.fees import FeeAsset, FixedFees
from tradeloom.engine.market import MarketSpec
from tradeloom.engine.orders import Bar, Fill, Liquidity, Order, OrderStatus, OrderType, Side
from tradeloom.engine.sim.broker import SimulatedBroker

BTC, BNB = "BTC/USDT", "BNB/USDT"
MIN = 60_000
B, S = Side.BUY, Side.SELL
MKT = OrderType.MARKET


def spec(symbol: str = BTC, fee_side: str = "quote", **over) -> MarketSpec:
    rules = {"lot_step": 0.001, "maker_fee": 0.001, "taker_fee": 0.001, "fee_side": fee_side}
    rules.update(over)
    return MarketSpec(symbol, **rules)


class Exchange:
    """A broker and the portfolio it trades for; ``bar`` books the fills it returns."""

    def __init__(self, usdt: float, markets: dict[str, MarketSpec], **kw) -> None:
        self.pf = Portfolio(usdt, "USDT")
        self.broker = SimulatedBroker(markets, self.pf, **kw)

    def give(self, symbol: str, amount: float, price: float) -> None:
        """Start with ``amount`` of ``symbol``'s base bought at ``price`` (no fee)."""
        self.pf.cash += amount * price
        self.pf.apply_fill(Fill(0, symbol, B, 0, price, amount, 0.0, Liquidity.TAKER))

    def submit(self, oid: int, side: Side, amount: float, symbol: str = BTC, **kw) -> Order:
        o = Order(oid, symbol, side, MKT, amount, MIN, **kw)
        self.broker.submit(o, MIN)
        return o

    def bar(self, price: float, symbol: str = BTC, i: int = 1) -> list[Fill]:
        fills = self.broker.on_bar(Bar(symbol, i * MIN, (i + 1) * MIN, price, price, price,
                                       price, 1e9))
        for f in fills:
            self.pf.apply_fill(f)
        return fills


# -- which balance pays the fee ---------------------------------------------------------


@pytest.mark.parametrize(
    ("bnb_held", "currency", "cost", "usdt_left"),
    [
        # buy 1 BTC @ 1000: commission 1 USDT; in BNB at 500, 25 % off: 0.75 / 500 = 0.0015
        (0.0015, "BNB", 0.0015, 0.0),  # exactly enough BNB: paid in BNB
        (0.01, "BNB", 0.0015, 0.0),
        (0.0014, "USDT", 1.0, 1.0 - 1.0),  # not enough BNB: the market's side (quote)
    ],
)
def test_the_fee_asset_pays_when_enough_of_it_is_free(bnb_held, currency, cost, usdt_left):
    ex = Exchange(1001.0 if currency == "USDT" else 1000.0, {BTC: spec()},
                  fee_asset=FeeAsset("BNB", rate=500.0))
    if bnb_held:
        ex.pf.hold_fee_asset("BNB", bnb_held, 500.0)
    ex.submit(1, B, 1.0)
    (f,) = ex.bar(1000.0)
    assert (f.fee_currency, f.fee_cost) == (currency, pytest.approx(cost, rel=1e-12))
    assert f.fee == pytest.approx(0.75 if currency == "BNB" else 1.0, rel=1e-12)
    assert ex.pf.cash == pytest.approx(usdt_left, abs=1e-9)


def test_the_fee_asset_is_valued_at_its_last_close_when_the_run_trades_it():
    # BNB/USDT closes at 400 (bar 1); BTC fills on bar 2: 1 USDT * 0.75 / 400 = 0.001875
    ex = Exchange(2000.0, {BTC: spec(), BNB: spec(BNB)}, fee_asset=FeeAsset("BNB"))
    ex.give(BNB, 0.01, 400.0)
    ex.bar(400.0, BNB, i=1)
    o = Order(1, BTC, B, MKT, 1.0, 2 * MIN)
    ex.broker.submit(o, 2 * MIN)
    (f,) = ex.bar(1000.0, BTC, i=2)
    assert (f.fee_currency, f.fee_cost, f.fee) == ("BNB", pytest.approx(0.001875),
                                                   pytest.approx(0.75))


def test_a_base_fee_is_the_rate_at_the_fills_notional():
    # FixedFees(1.0) on a "get" market: buy 2 BTC @ 100, notional 200: rate 1 / 200 =
    # 0.5 %, charged on the coin received: 2 * 0.005 = 0.01 BTC, valued 0.01 * 100 = 1.0
    ex = Exchange(1000.0, {BTC: spec(fee_side="get")}, fees=FixedFees(1.0))
    ex.submit(1, B, 2.0)
    (f,) = ex.bar(100.0)
    assert (f.fee_currency, f.fee_cost, f.fee) == ("BTC", pytest.approx(0.01),
                                                   pytest.approx(1.0))
    assert ex.pf.position(BTC) == pytest.approx(1.99) and ex.pf.cash == 800.0


# -- quote-sized buys: what the budget buys depends on who pays the fee -----------------


@pytest.mark.parametrize(
    ("fee_side", "bnb", "price", "amount"),
    [
        ("quote", None, 100.0, 9.99),  # 1000 / (100 * 1.001) = 9.99000999 -> lot 0.001: 9.99
        ("get", None, 100.0, 10.0),  # the fee comes out of the BTC received: 1000 / 100
        ("quote", 1.0, 100.0, 10.0),  # the fee is paid in BNB: the whole 1000 buys BTC
        ("quote", 0.0, 100.0, 9.99),  # BNB is the fee asset but none is held: as "quote"
        ("quote", 100.0, 0.5, 2000.0),  # BNB pays, a price under one unit: 1000 / 0.5
    ],
)
def test_a_quote_sized_buy_spends_the_budget_on_the_coin(fee_side, bnb, price, amount):
    ex = Exchange(1000.0, {BTC: spec(fee_side=fee_side)},
                  fee_asset=FeeAsset("BNB", rate=500.0) if bnb is not None else None)
    if bnb:
        ex.pf.hold_fee_asset("BNB", bnb, 500.0)
    o = ex.submit(1, B, 0.0, quote_amount=1000.0)
    (f,) = ex.bar(price)
    assert f.amount == amount and o.status is OrderStatus.FILLED
    assert ex.pf.cash >= 0.0


def test_a_small_quote_sized_buy_with_the_fee_in_the_coin():
    # 0.5 USDT at 100: 0.005 BTC (under one quote unit is still a budget)
    ex = Exchange(10.0, {BTC: spec(fee_side="get", lot_step=0.0001)})
    ex.submit(1, B, 0.0, quote_amount=0.5)
    (f,) = ex.bar(100.0)
    assert f.amount == 0.005 and f.fee_cost == pytest.approx(0.000005)


# -- what the account can afford -------------------------------------------------------


@pytest.mark.parametrize(
    ("fee_side", "usdt", "filled", "status"),
    [
        # buy 10 BTC @ 100. "quote": cost 1000 + 1 fee; "get": 1000, the fee in BTC
        ("quote", 1001.0, 10.0, OrderStatus.FILLED),  # exactly enough: all of it
        ("get", 1000.0, 10.0, OrderStatus.FILLED),
        # half the cash: the payable part (lot 0.001), the rest cancelled
        ("quote", 500.0, 4.995, OrderStatus.CANCELED),  # 500 / 100.1 = 4.995004...
        ("get", 500.0, 5.0, OrderStatus.CANCELED),  # 500 / 100
    ],
)
def test_a_buy_is_cut_to_what_the_cash_pays(fee_side, usdt, filled, status):
    ex = Exchange(usdt, {BTC: spec(fee_side=fee_side)})
    o = ex.submit(1, B, 10.0)
    (f,) = ex.bar(100.0)
    assert (f.amount, o.status) == (filled, status)
    assert ex.pf.cash >= 0.0
    if status is OrderStatus.CANCELED:
        need = "1001.00" if fee_side == "quote" else "1000.00"
        assert o.reason == (f"canceled: insufficient funds for the rest: need {need} USDT, "
                            "free 500.00; filled what was payable")


@pytest.mark.parametrize(
    ("fee_side", "usdt", "price", "lot", "filled"),
    [
        # "get", cash 0.3 at 0.1: 0.3 / 0.1 = 2.9999999999999996 -> lot 0.001 -> 3.0, which
        # costs 0.30000000000000004 > 0.3: one lot less, 2.999 (costs 0.2999)
        ("get", 0.3, 0.1, 0.001, 2.999),
        # no lot: 0.7 / 0.3 = 2.3333333333333335 costs 0.7000000000000001 > 0.7: one ulp
        # less, 2.333333333333333 (costs 0.6999999999999998)
        ("get", 0.7, 0.3, None, 2.333333333333333),
        # "quote", cash 0.3003 at 0.1: 0.3003 / 0.1001 -> 3.0, cost 0.30030000000000007:
        # one lot less, 2.999 (cost 0.2999 + 0.0002999)
        ("quote", 0.3003, 0.1, 0.001, 2.999),
        # no lot: 0.7 / 0.1001 = 6.993006993006993 costs 0.7000000000000001: one ulp less
        ("quote", 0.7, 0.1, None, 6.9930069930069925),
        # the same under one unit: one ulp less is toward zero, never toward 1.0
        ("get", 2.5, 9.9, None, 0.2525252525252525),  # 2.5 / 9.9 costs 2.5000000000000004
        ("quote", 0.3, 1.1, None, 0.2724548179093633),  # 0.3 / 1.1011 costs 0.3 + 6e-17
    ],
)
def test_float_noise_in_the_cut_is_stepped_down_until_payable(fee_side, usdt, price, lot,
                                                               filled):
    ex = Exchange(usdt, {BTC: spec(fee_side=fee_side, lot_step=lot)})
    ex.submit(1, B, 10.0)
    (f,) = ex.bar(price)
    assert f.amount == filled
    assert price * f.amount + (f.fee if fee_side == "quote" else 0.0) <= usdt
    assert ex.pf.cash >= 0.0


def test_a_buy_nothing_of_which_is_payable_is_cancelled():
    # cash 0.05 at price 100 with lot 0.001: one lot costs 0.1 (plus fee): none payable
    ex = Exchange(0.05, {BTC: spec(fee_side="get")})
    o = ex.submit(1, B, 1.0)
    assert ex.bar(100.0) == []
    assert o.status is OrderStatus.CANCELED and o.reason == (
        "canceled: insufficient funds: need 100.00 USDT, free 0.05; reduce the amount or add "
        "funds")


@pytest.mark.parametrize(
    ("held", "filled", "status"),
    [
        # "give": a sell's fee leaves the base holding too, 0.1 %: selling 1 BTC needs 1.001
        (1.001, 1.0, OrderStatus.FILLED),  # exactly enough
        (0.5005, 0.5, OrderStatus.CANCELED),  # 0.5005 / 1.001 = 0.5 sold, the rest cancelled
    ],
)
def test_a_sell_paying_its_fee_in_the_coin_must_hold_the_fee_too(held, filled, status):
    ex = Exchange(0.0, {BTC: spec(fee_side="give")})
    ex.give(BTC, held, 100.0)
    o = ex.submit(1, S, 1.0)
    (f,) = ex.bar(100.0)
    assert (f.amount, f.fee_currency, o.status) == (filled, "BTC", status)
    assert f.fee_cost == pytest.approx(filled * 0.001) and ex.pf.holding(BTC) >= 0.0
    if status is OrderStatus.CANCELED:
        assert o.reason == ("canceled: insufficient funds for the rest: need 1.001 BTC with "
                            "the fee, free 0.5005; filled what was payable")


def test_a_full_exit_a_float_noise_above_the_holding_sells_exactly_the_holding():
    # bought 0.1 + 0.2 = 0.30000000000000004 sold against a holding of exactly 0.3
    ex = Exchange(0.0, {BTC: spec(lot_step=None)})
    ex.give(BTC, 0.3, 100.0)
    o = ex.submit(1, S, 0.1 + 0.2)
    (f,) = ex.bar(100.0)
    assert f.amount == 0.3 and o.status is OrderStatus.FILLED
    assert ex.pf.holding(BTC) == 0.0


def test_a_full_exit_a_float_noise_below_a_lot_sells_all_of_it():
    # holding 1.0000000000000002 (lot 0.001): the lot rounding gives 1.0 and loses only
    # 2.2e-16: the whole holding is sold, no float dust stays behind
    ex = Exchange(0.0, {BTC: spec()})
    ex.give(BTC, 1.0000000000000002, 100.0)
    ex.submit(1, S, 2.0)
    (f,) = ex.bar(100.0)
    assert f.amount == 1.0000000000000002 and ex.pf.holding(BTC) == 0.0


def test_a_sell_rounded_up_past_the_holding_by_more_than_noise_sells_one_lot_less():
    # holding 0.0999999999995: the lot rounding (with its 1e-9 step tolerance) says 0.1,
    # 5e-13 above what is held, more than noise at this size (1e-12 * 0.1): one lot less
    ex = Exchange(0.0, {BTC: spec()})
    ex.give(BTC, 0.0999999999995, 100.0)
    o = ex.submit(1, S, 1.0)
    (f,) = ex.bar(100.0)
    assert f.amount == 0.099 and o.status is OrderStatus.CANCELED


@pytest.mark.parametrize(
    ("usdt", "held", "amount", "filled", "reason"),
    [
        # FixedFees(10) in USDT: selling 0.01 BTC @ 100 brings 1, the fee is 10, no USDT:
        ("0", 0.01, 0.01, None, ("canceled: insufficient funds: the fee 10.00 USDT exceeds "
                                 "proceeds plus free USDT; deposit USDT or raise the amount")),
        # 5 USDT free plus proceeds of 0.1 @ 100 = 10 pay the fee of 10: it fills
        ("5", 0.1, 0.1, 0.1, ""),
        # proceeds of exactly the fee (0.1 @ 100 = 10), no USDT: it fills, leaving 0 USDT
        ("0", 0.1, 0.1, 0.1, ""),
        # nothing to sell at all: a funds cancel, not a fee one
        ("0", 0.0, 1.0, None, ("canceled: insufficient funds: need 1 BTC, free 0; reduce the "
                               "amount or add funds")),
    ],
)
def test_a_sell_must_pay_its_quote_fee_from_proceeds_and_free_quote(usdt, held, amount,
                                                                     filled, reason):
    ex = Exchange(float(usdt), {BTC: spec()}, fees=FixedFees(10.0))
    if held:
        ex.give(BTC, held, 100.0)
    o = ex.submit(1, S, amount)
    fills = ex.bar(100.0)
    assert [f.amount for f in fills] == ([filled] if filled else [])
    assert o.reason == reason


def test_a_sell_rounded_up_past_the_holding_by_float_noise_sells_the_holding():
    # 0.3 - 0.1 = 0.19999999999999998: the lot rounding (lot 0.001) says 0.2, 2.8e-17
    # above what is held, float noise: the whole holding is sold, nothing stays
    ex = Exchange(0.0, {BTC: spec()})
    ex.give(BTC, 0.3 - 0.1, 100.0)
    ex.submit(1, S, 1.0)
    (f,) = ex.bar(100.0)
    assert f.amount == 0.19999999999999998 and ex.pf.holding(BTC) == 0.0


# -- the balances of one bar: each fill sees the ones before it --------------------------


def test_a_buy_in_the_same_bar_spends_the_proceeds_of_a_sell():
    # 1 BTC, no USDT. Bar at 100: sell 1 (+100 - 0.1 fee = 99.9), buy 0.5 (-50.05: 49.85
    # left), buy 0.5 more (only 49.85 / 100.1 = 0.498 payable), sell 0.3 of the 0.998 held
    ex = Exchange(0.0, {BTC: spec()})
    ex.give(BTC, 1.0, 100.0)
    ex.submit(1, S, 1.0)
    ex.submit(2, B, 0.5)
    ex.submit(3, B, 0.5)
    ex.submit(4, S, 0.3)
    fills = ex.bar(100.0)
    assert [(f.order_id, f.amount) for f in fills] == [(1, 1.0), (2, 0.5), (3, 0.498), (4, 0.3)]
    assert ex.pf.cash == pytest.approx(99.9 - 50.05 - 49.8498 + 29.97)
    assert ex.pf.holding(BTC) == pytest.approx(0.698)


def test_a_sell_in_the_same_bar_sells_what_a_base_fee_buy_received():
    # "get": buy 0.5 @ 100 receives 0.5 - 0.0005 fee = 0.4995 BTC for 50 USDT; selling 1
    # in the same bar sells those 0.4995 (its fee, in USDT, from the proceeds); lot 0.0001
    ex = Exchange(50.0, {BTC: spec(fee_side="get", lot_step=0.0001)})
    ex.submit(1, B, 0.5)
    ex.submit(2, S, 1.0)
    fills = ex.bar(100.0)
    assert [(f.order_id, f.amount, f.fee_currency) for f in fills] == [
        (1, 0.5, "BTC"), (2, 0.4995, "USDT")]
    assert ex.pf.holding(BTC) == 0.0 and ex.pf.cash == pytest.approx(49.95 - 0.04995)


def test_two_base_fee_sells_in_one_bar_each_take_their_fee_from_the_holding():
    # "give": 1 BTC held. Sell 0.5 takes 0.5005 (0.4995 left); a second sell of 0.5 needs
    # 0.5005: cut to 0.4995 / 1.001 = 0.499 (lot 0.001)
    ex = Exchange(0.0, {BTC: spec(fee_side="give")})
    ex.give(BTC, 1.0, 100.0)
    ex.submit(1, S, 0.5)
    ex.submit(2, S, 0.5)
    fills = ex.bar(100.0)
    assert [(f.order_id, f.amount) for f in fills] == [(1, 0.5), (2, 0.499)]
    assert ex.pf.cash == 50.0 + 49.9  # the fees came out of the BTC
    assert ex.pf.holding(BTC) == pytest.approx(1.0 - 0.5005 - 0.499499)


def test_the_fee_asset_spent_by_one_fill_is_gone_for_the_next():
    # 0.0015 BNB pays exactly one fee of 1 USDT (0.75 / 500); the second buy falls back to
    # the quote currency
    ex = Exchange(2001.0, {BTC: spec()}, fee_asset=FeeAsset("BNB", rate=500.0))
    ex.pf.hold_fee_asset("BNB", 0.0015, 500.0)
    ex.submit(1, B, 1.0)
    ex.submit(2, B, 1.0)
    fills = ex.bar(1000.0)
    assert [(f.order_id, f.fee_currency) for f in fills] == [(1, "BNB"), (2, "USDT")]
    assert ex.pf.holding(BTC) == 2.0 and ex.pf.cash == pytest.approx(0.0, abs=1e-9)


@pytest.mark.parametrize(
    ("amount", "sold"),
    [
        # holding 4.0 (no lot): float noise is 1e-12 of the amount, 4e-12 here
        (4.0 - 2e-12, 4.0),  # 2e-12 short of the holding: noise, the holding is sold
        (4.0 - 6e-12, 4.0 - 6e-12),  # 6e-12 short: a deliberate amount, sold as asked
    ],
)
def test_a_sell_a_hair_under_the_holding(amount, sold):
    ex = Exchange(0.0, {BTC: spec(lot_step=None)})
    ex.give(BTC, 4.0, 100.0)
    ex.submit(1, S, amount)
    (f,) = ex.bar(100.0)
    assert f.amount == sold


def test_a_zero_fee_is_never_charged_to_the_fee_asset():
    ex = Exchange(1000.0, {BTC: spec(taker_fee=0.0)}, fee_asset=FeeAsset("BNB", rate=500.0))
    ex.pf.hold_fee_asset("BNB", 1.0, 500.0)
    ex.submit(1, B, 1.0)
    (f,) = ex.bar(1000.0)
    assert (f.fee_currency, f.fee) == ("USDT", 0.0) and ex.pf.holding(BNB) == 1.0


def test_a_fee_asset_priced_under_one_quote_unit_is_valued_at_its_close():
    # the fee asset's market closes at 0.5: 1 USDT * 0.75 / 0.5 = 1.5 of it
    ex = Exchange(2000.0, {BTC: spec(), BNB: spec(BNB)}, fee_asset=FeeAsset("BNB"))
    ex.give(BNB, 10.0, 0.5)
    ex.bar(0.5, BNB, i=1)
    ex.broker.submit(Order(1, BTC, B, MKT, 1.0, 2 * MIN), 2 * MIN)
    (f,) = ex.bar(1000.0, BTC, i=2)
    assert (f.fee_currency, f.fee_cost) == ("BNB", pytest.approx(1.5))


def test_a_fee_asset_whose_market_printed_zero_cannot_pay():
    # the fee asset's last close is 0 (a halted market): it cannot be valued, so the fee
    # is charged on the market's own side (USDT here), never divided by zero
    ex = Exchange(2000.0, {BTC: spec(), BNB: spec(BNB)}, fee_asset=FeeAsset("BNB"))
    ex.give(BNB, 10.0, 1.0)
    ex.bar(0.0, BNB, i=1)
    ex.broker.submit(Order(1, BTC, B, MKT, 1.0, 2 * MIN), 2 * MIN)
    (f,) = ex.bar(1000.0, BTC, i=2)
    assert (f.fee_currency, f.fee) == ("USDT", 1.0)


def test_a_base_fee_sell_plans_its_fee_at_the_fills_notional():
    # FixedFees(1.0) on a "give" market: a sell of 2 @ 100 (notional 200) pays 0.5 %, in
    # BTC: it needs 2 * 1.005 = 2.01 BTC; 2.01 are held, so all of it sells
    ex = Exchange(0.0, {BTC: spec(fee_side="give")}, fees=FixedFees(1.0))
    ex.give(BTC, 2.01, 100.0)
    o = ex.submit(1, S, 2.0)
    (f,) = ex.bar(100.0)
    assert (f.amount, o.status) == (2.0, OrderStatus.FILLED)
    assert f.fee_cost == pytest.approx(0.01) and ex.pf.holding(BTC) == pytest.approx(0.0)


def test_a_sell_beyond_the_holding_says_what_it_needed():
    ex = Exchange(0.0, {BTC: spec()})
    ex.give(BTC, 0.5, 100.0)
    o = ex.submit(1, S, 1.0)
    (f,) = ex.bar(100.0)
    assert f.amount == 0.5 and o.reason == (
        "canceled: insufficient funds for the rest: need 1 BTC, free 0.5; filled what was "
        "payable")


def test_a_quote_sized_buy_at_a_zero_price_buys_nothing():
    # a bar that opens at 0 (a halted market): the budget buys nothing, nothing is divided
    # by zero and no fill at price 0 reaches the account
    ex = Exchange(100.0, {BTC: spec(fee_side="get")})
    o = ex.submit(1, B, 0.0, quote_amount=50.0)
    assert ex.bar(0.0) == []
    assert o.status is OrderStatus.CANCELED and ex.pf.cash == 100.0


def test_two_base_fee_buys_in_one_bar_share_the_cash():
    # "get": 75 USDT. Buy 0.5 @ 100 pays 50 (the fee in BTC); the second buy of 0.5 finds
    # 25 USDT: 0.25 of it, the rest cancelled
    ex = Exchange(75.0, {BTC: spec(fee_side="get")})
    ex.submit(1, B, 0.5)
    second = ex.submit(2, B, 0.5)
    fills = ex.bar(100.0)
    assert [(f.order_id, f.amount) for f in fills] == [(1, 0.5), (2, 0.25)]
    assert second.status is OrderStatus.CANCELED and ex.pf.cash == 0.0


def test_a_sell_in_the_same_bar_sells_what_a_quote_fee_buy_bought():
    ex = Exchange(200.0, {BTC: spec()})
    ex.submit(1, B, 1.0)  # 100.1 USDT
    ex.submit(2, S, 0.5)
    fills = ex.bar(100.0)
    assert [(f.order_id, f.amount) for f in fills] == [(1, 1.0), (2, 0.5)]
    assert ex.pf.holding(BTC) == 0.5


def test_a_coin_bought_with_a_fee_asset_fee_can_be_sold_in_the_same_bar():
    # the buy's fee is paid in BNB: all 1 BTC received is free for the sell that follows
    ex = Exchange(1000.0, {BTC: spec()}, fee_asset=FeeAsset("BNB", rate=500.0))
    ex.pf.hold_fee_asset("BNB", 1.0, 500.0)
    ex.submit(1, B, 1.0)
    ex.submit(2, S, 1.0)
    fills = ex.bar(1000.0)
    assert [(f.order_id, f.amount, f.fee_currency) for f in fills] == [
        (1, 1.0, "BNB"), (2, 1.0, "BNB")]
    assert ex.pf.holding(BTC) == 0.0 and ex.pf.cash == 1000.0


def test_a_buy_in_the_same_bar_spends_the_proceeds_of_a_base_fee_sell():
    # "give": a sell pays its fee in BTC, a buy in USDT. 20.02 BTC, no USDT: sell 20 @ 100
    # (20.02 BTC with the fee) brings 2000 USDT; a buy of 10 (1000 + 1 fee) is paid from
    # them in the same bar
    ex = Exchange(0.0, {BTC: spec(fee_side="give")})
    ex.give(BTC, 20.02, 100.0)
    ex.submit(1, S, 20.0)
    ex.submit(2, B, 10.0)
    fills = ex.bar(100.0)
    assert [(f.order_id, f.amount, f.fee_currency) for f in fills] == [
        (1, 20.0, "BTC"), (2, 10.0, "USDT")]
    assert ex.pf.cash == pytest.approx(2000.0 - 1001.0)
