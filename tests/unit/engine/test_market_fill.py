"""The simulated broker's one-routine fill of a plain market order (``_match_market``)
gives exactly what the general matching path gives.

Each scenario runs twice on a fresh account: on a broker where the routine applies, and
on one whose slippage model is a ``NoSlippage`` subclass (it fills at the price as is,
but only the general path accepts it). The fills, the orders (status, amounts, average
price, fee, reason, history) and the balances must be equal to the last bit, for every
fee side (only "quote" takes the routine; the others pin that the switch leaves them on
the general path), with and without lot and notional minimums.
"""

from __future__ import annotations

import pytest

from tradeloom.engine.accounting.portfolio import Portfolio
from tradeloom.engine.costs.slippage import NoSlippage
from tradeloom.engine.market import FeeSide, MarketSpec
from tradeloom.engine.orders import (
    Bar,
    Fill,
    Liquidity,
    Order,
    OrderStatus,
    OrderType,
    Side,
    TimeInForce,
)
from tradeloom.engine.sim.broker import SimulatedBroker
from tradeloom.engine.sim.execution import ExchangeCore

BTC = "BTC/USDT"
MIN = 60_000
B, S = Side.BUY, Side.SELL


class AsIs(NoSlippage):
    """Fills at the price as is, like ``NoSlippage``, but is not it: the general path."""

    __slots__ = ()


# Each scenario: cash, BTC held at the start, then steps: ("buy"/"sell", amount, fields)
# submitted at the next bar's open time, ("bar", open price) to match the next bar,
# ("old bar", open price) to match a bar that opened a bar before the orders were placed,
# or ("trade", price, {"at": ms}) to match one trade ``ms`` after the orders were placed.
SCENARIOS = {
    # 1000 / (100 * 1.001) costs a float noise over the cash: one step less fills
    "all-in buy, then the whole holding sold": (
        1000.0, 0.0, [("buy", 0.0, {"quote_amount": 1000.0}), ("bar", 100.0),
                      ("sell", "all", {}), ("bar", 101.3)]),
    "a buy the cash pays a part of": (500.0, 0.0, [("buy", 10.0, {}), ("bar", 100.0)]),
    "a buy nothing of which is payable": (3.0, 0.0, [("buy", 10.0, {}), ("bar", 100.0)]),
    "an IOC buy the cash pays a part of": (
        500.0, 0.0, [("buy", 10.0, {"tif": TimeInForce.IOC}), ("bar", 100.0)]),
    "a FOK buy the cash pays a part of": (
        500.0, 0.0, [("buy", 10.0, {"tif": TimeInForce.FOK}), ("bar", 100.0)]),
    "a sell of more than is held": (0.0, 1.0, [("sell", 1.5, {}), ("bar", 100.0)]),
    "a sell that leaves dust": (0.0, 1.0005, [("sell", 1.0, {}), ("bar", 100.0)]),
    "a quote-sized buy under the minimum notional at the fill": (
        1000.0, 0.0, [("buy", 0.0, {"quote_amount": 5.0}), ("bar", 100.0)]),
    "a buy placed before any price, under the minimum at the fill": (
        1000.0, 0.0, [("buy", 0.04, {}), ("bar", 100.0)]),
    "a buy placed before any price, filled": (1000.0, 0.0, [("buy", 2.0, {}), ("bar", 100.0)]),
    # the first bar opened before the order was placed: only the next one fills it
    "a bar older than the order fills nothing": (
        1000.0, 0.0, [("buy", 1.0, {}), ("old bar", 100.0), ("bar", 101.0)]),
    # 5.5 / (10000 * 1.001) = 0.00055: under one lot of 0.001 (nothing to buy)
    "a quote-sized buy worth less than one lot at the fill": (
        1000.0, 0.0, [("buy", 0.0, {"quote_amount": 5.5}), ("bar", 10_000.0)]),
    # a trade one second after the order was placed fills it; one at the same time does not
    "a trade after the order fills it": (
        1000.0, 0.0, [("buy", 1.0, {}), ("trade", 100.0, {"at": 1_000})]),
    "a trade at the order's own time fills nothing": (
        1000.0, 0.0, [("buy", 1.0, {}), ("trade", 100.0, {"at": 0}), ("bar", 101.0)]),
    "two buys in a row, the second paid from what the first left": (
        1000.0, 0.0, [("buy", 4.0, {}), ("bar", 100.0), ("buy", 0.0, {"quote_amount": 590.0}),
                      ("bar", 99.0)]),
}


def run(scenario: str, spec: MarketSpec, slippage: NoSlippage | None):
    cash, held, steps = SCENARIOS[scenario]
    pf = Portfolio(cash, "USDT", markets={BTC: spec})
    if held:
        pf.cash += held * 100.0
        pf.apply_fill(Fill(0, BTC, B, 0, 100.0, held, 0.0, Liquidity.TAKER))
        pf.cash -= held * 100.0
    broker = SimulatedBroker({BTC: spec}, pf, slippage=slippage)
    fills: list[Fill] = []
    bar = 0
    for oid, step in enumerate(steps, start=1):
        kind, amount, fields = step if len(step) == 3 else (*step, {})
        if kind == "trade":
            got = broker.on_trade(BTC, (bar + 1) * MIN + fields["at"], amount, 1e9)
            for fill in got:
                pf.apply_fill(fill)
            fills += got
        elif kind in ("bar", "old bar"):
            bar += kind == "bar"
            o = amount
            got = broker.on_bar(Bar(BTC, bar * MIN, (bar + 1) * MIN, o, o + 1, o - 1, o, 1e9))
            for fill in got:
                pf.apply_fill(fill)
            fills += got
        else:
            size = pf.holding(BTC) if amount == "all" else amount
            broker.submit(Order(oid, BTC, B if kind == "buy" else S, OrderType.MARKET, size,
                                (bar + 1) * MIN, **fields), (bar + 1) * MIN)
    orders = [broker.get(oid) for oid, step in enumerate(steps, start=1)
              if step[0] in ("buy", "sell")]
    return fills, orders, (pf.cash, pf.holding(BTC), pf.position(BTC), pf.fees_paid)


@pytest.fixture
def routine_calls(monkeypatch):
    """How often the one-routine fill ran (the broker's own method, counted)."""
    calls = []
    original = ExchangeCore._match_market

    def counted(self, *args):
        calls.append(args[0].order.id)
        return original(self, *args)

    monkeypatch.setattr(ExchangeCore, "_match_market", counted)
    return calls


@pytest.mark.parametrize("fee_side", [side.value for side in FeeSide])
@pytest.mark.parametrize(("lot_step", "min_notional"), [(None, 0.0), (0.001, 5.0)])
@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_the_market_order_routine_fills_as_the_general_path(scenario, fee_side, lot_step,
                                                            min_notional, routine_calls):
    spec = MarketSpec(BTC, taker_fee=0.001, maker_fee=0.001, fee_side=fee_side,
                      lot_step=lot_step, min_notional=min_notional)
    general = run(scenario, spec, AsIs())
    assert routine_calls == []  # a slippage model that is not NoSlippage: the general path
    fast = run(scenario, spec, None)
    assert fast == general
    # the routine ran exactly where it applies: the fee in the quote currency
    assert bool(routine_calls) is (fee_side == "quote")


def test_an_all_in_buy_a_float_noise_over_the_cash_fills_by_the_routine(routine_calls):
    """1000 USDT at 100 with a 0.1 % fee: 1000 / 100.1 = 9.99000999000999 costs a float
    noise over 1000, so the amount one step under it fills; the order is FILLED with no
    reason (the shortfall's text is never needed) and the cash is spent to zero."""
    spec = MarketSpec(BTC, taker_fee=0.001, maker_fee=0.001)
    fills, (buy, sell), _ = run("all-in buy, then the whole holding sold", spec, None)
    assert routine_calls == [1, 3]  # the buy, then the sell (steps 2 and 4 are bars)
    assert fills[0].amount == pytest.approx(9.99000999000999, rel=1e-15)
    assert fills[0].amount < 1000 / 100.1
    assert (buy.status.value, buy.reason) == ("filled", "")
    assert (sell.status.value, fills[1].amount) == ("filled", fills[0].amount)


def test_trades_and_a_buy_of_less_than_a_lot_by_the_routine(routine_calls):
    spec = MarketSpec(BTC, taker_fee=0.001, maker_fee=0.001, lot_step=0.001, min_notional=5.0)
    fills, _, _ = run("a trade after the order fills it", spec, None)
    assert [(f.ts, f.price, f.amount) for f in fills] == [(MIN + 1_000, 100.0, 1.0)]
    fills, _, _ = run("a trade at the order's own time fills nothing", spec, None)
    assert [(f.ts, f.price) for f in fills] == [(MIN, 101.0)]  # the bar after it
    fills, (order,), _ = run("a quote-sized buy worth less than one lot at the fill", spec, None)
    assert fills == [] and order.status is OrderStatus.CANCELED
    assert order.reason == ("canceled: 5.5 of quote buys less than one lot at the fill price "
                            "10000; increase the order")
    assert routine_calls  # all of it by the routine
