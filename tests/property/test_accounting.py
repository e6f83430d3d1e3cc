"""Accounting identities after every step, over random order streams (hypothesis).

After each event: equity == cash + sum(holding * mark) over every held asset (dust
and the fee asset included); cash moved by exactly the fills (cost ``price * amount +
fee`` for buys, proceeds ``price * amount - fee`` for sells when the fee is charged in
the quote currency, the notional alone when it is charged in the base currency or in
BNB); each base holding moved by exactly the fills' ``base_change()`` (less the BNB
fees paid from it); no balance is negative; realized + unrealized - fees == equity -
initial. Every fee side is drawn (``get``, ``give``, ``base``, ``quote``), with and
without paying fees in BNB.
"""

from __future__ import annotations

import math

import pytest
from engine_helpers import MIN, random_walk
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tradeloom.engine.costs.fees import FeeAsset
from tradeloom.engine.market import FeeSide, MarketSpec
from tradeloom.engine.orders import Side
from tradeloom.engine.run.backtest import build_engine
from tradeloom.engine.run.feeds import merge_bars
from tradeloom.engine.run.wiring import simulated_broker, wire_engine
from tradeloom.engine.strategy.base import Strategy

SYMBOLS = ("BTC/USDT", "ETH/USDT")
BNB = "BNB/USDT"

action = st.tuples(
    st.sampled_from(["quote_buy", "buy", "sell", "limit_buy", "limit_sell", "stop_sell", "target", "cancel",
                     "bracket", "oco", "trailing", "replace", "none"]),
    st.floats(0.01, 1.0),  # size fraction
    st.floats(-0.03, 0.03),  # price offset from the close
    st.sampled_from(SYMBOLS),
)


class RandomTrader(Strategy):
    """Plays a fixed list of actions, one per bar (the stream hypothesis draws)."""

    def __init__(self, actions):
        super().__init__()
        self.actions = actions
        self.i = 0

    def on_bar(self, ctx, bar):
        if self.i >= len(self.actions):
            return
        kind, frac, off, symbol = self.actions[self.i]
        self.i += 1
        mark = ctx.mark(symbol)
        if not mark > 0:
            return
        pos = ctx.position(symbol)
        price = mark * (1 + off)
        if kind == "quote_buy" and ctx.cash > 1:
            ctx.buy(symbol, quote=ctx.cash * frac)
        elif kind == "buy" and ctx.cash > 1:
            ctx.buy(symbol, ctx.cash * frac / mark)
        elif kind == "sell" and pos > 0:
            ctx.sell(symbol, pos * frac)
        elif kind == "limit_buy" and ctx.cash > 1:
            ctx.buy(symbol, ctx.cash * frac / price / 2, price=price)
        elif kind == "limit_sell" and pos > 0:
            ctx.sell(symbol, pos * frac, price=price)
        elif kind == "stop_sell" and pos > 0:
            ctx.stop_loss(symbol, pos * frac, stop=mark * (1 - abs(off)))
        elif kind == "target":
            ctx.target_percent(symbol, frac if off > 0 else 0.0)
        elif kind == "cancel":
            orders = ctx.open_orders()
            if orders:
                ctx.cancel(orders[0].id)
        elif kind == "bracket" and ctx.cash > 10:
            ctx.bracket(symbol, quote=ctx.cash * frac, stop_loss=mark * (1 - abs(off) - 0.001),
                        take_profits=[(mark * (1 + abs(off) + 0.001), 1.0)])
        elif kind == "oco" and pos > 0:
            ctx.oco(symbol, pos * frac, price=mark * (1 + abs(off) + 0.001), stop=mark * (1 - abs(off) - 0.001))
        elif kind == "trailing" and pos > 0:
            ctx.trailing_stop(symbol, pos * frac, trail_pct=abs(off) + 0.001)
        elif kind == "replace":
            orders = [o for o in ctx.open_orders() if o.type.value == "limit" and o.parent_id is None]
            if orders:
                ctx.replace(orders[-1].id, price=orders[-1].price * (1 + off / 3))


def check_identities(engine, cash_before, fills_before, initial, held_before=None):
    pf = engine.portfolio
    expected = cash_before
    moved: dict[str, float] = {}
    for f in engine.fills[fills_before:]:
        in_quote = not f.fee_currency or f.fee_currency == pf.quote
        fee = f.fee if in_quote else 0.0
        if f.side is Side.BUY:
            expected = expected - (f.price * f.amount + fee)
        else:
            expected = expected + (f.price * f.amount - fee)
        moved[f.symbol] = moved.get(f.symbol, 0.0) + f.base_change()
        if not in_quote and f.fee_currency != f.symbol.partition("/")[0]:
            paid_from = f"{f.fee_currency}/{pf.quote}"
            moved[paid_from] = moved.get(paid_from, 0.0) - f.fee_cost
    assert pf.cash == expected  # exactly: the same float operations, in fill order
    assert pf.cash >= 0.0
    if held_before is not None:  # each holding moved by what its fills say
        for symbol, change in moved.items():
            assert pf.holding(symbol) == pytest.approx(
                max(held_before.get(symbol, 0.0) + change, 0.0), rel=1e-9, abs=1e-12)
    held = pf.holdings()  # every held asset: positions, dust, the fee asset
    assert all(a > 0 for a in held.values())
    assert set(pf.positions()) <= set(held)
    value = sum(a * pf.mark(s) for s, a in held.items())
    assert pf.equity() == pytest.approx(pf.cash + value, rel=1e-12, abs=1e-9)
    lhs = pf.realized_pnl + pf.unrealized_pnl() - pf.fees_paid
    assert lhs == pytest.approx(pf.equity() - initial, rel=1e-9, abs=1e-6)
    assert pf.fees_paid == pytest.approx(sum(f.fee for f in engine.fills), rel=1e-12, abs=1e-12)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    actions=st.lists(action, min_size=5, max_size=60),
    seed=st.integers(0, 10_000),
    lot=st.sampled_from([None, 0.001]),
    fee=st.sampled_from([0.0, 0.001, 0.0075]),
)
def test_identities_hold_after_every_step(actions, seed, lot, fee):
    initial = 10_000.0
    data = {s: random_walk(len(actions) + 5, seed + i, 100.0 * (i + 1)) for i, s in enumerate(SYMBOLS)}
    markets = {s: MarketSpec(s, lot_step=lot, min_notional=1.0, maker_fee=fee, taker_fee=fee) for s in SYMBOLS}
    engine = build_engine(RandomTrader(actions), symbols=SYMBOLS, timeframe="1m", markets=markets,
                          initial_cash=initial)
    engine.start(0)
    for bar in merge_bars(data, MIN):
        cash, n_fills = engine.portfolio.cash, len(engine.fills)
        engine.step(bar)
        check_identities(engine, cash, n_fills, initial)
    engine.finish()
    rec = engine.recorded()
    pf = engine.portfolio
    assert rec["equity"][-1] == pf.equity()  # the last recorded step is the final state
    assert rec["fees_cum"][-1] == pf.fees_paid
    assert bool((rec["cash"] >= 0).all()) and bool((rec["exposure"] >= 0).all())
    assert all(math.isfinite(x) for x in rec["equity"])


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    actions=st.lists(action, min_size=5, max_size=60),
    seed=st.integers(0, 10_000),
    lot=st.sampled_from([None, 0.001]),
    fee=st.sampled_from([0.0, 0.001, 0.0075]),
    side=st.sampled_from(list(FeeSide)),
    bnb=st.booleans(),
)
def test_identities_hold_on_every_fee_side(actions, seed, lot, fee, side, bnb):
    """The identities for fees charged in the coin received, given, the base, the quote,
    and in BNB (bought by the strategy like any coin, then spent on fees at a discount)."""
    initial = 10_000.0
    symbols = (*SYMBOLS, BNB)
    actions = [a if i % 4 else ("buy", 0.2, 0.0, BNB) for i, a in enumerate(actions)]
    data = {s: random_walk(len(actions) + 5, seed + i, 100.0 * (i + 1))
            for i, s in enumerate(symbols)}
    markets = {s: MarketSpec(s, lot_step=lot, min_notional=1.0, maker_fee=fee, taker_fee=fee,
                             fee_side=side) for s in symbols}
    engine = wire_engine(RandomTrader(actions), symbols=symbols, timeframe="1m", markets=markets,
                         broker=simulated_broker(fee_asset=FeeAsset("BNB") if bnb else None),
                         initial_cash=initial)
    engine.start(0)
    for bar in merge_bars(data, MIN):
        pf = engine.portfolio
        cash, n_fills, held = pf.cash, len(engine.fills), pf.holdings()
        engine.step(bar)
        check_identities(engine, cash, n_fills, initial, held)
    engine.finish()
    rec = engine.recorded()
    pf = engine.portfolio
    assert rec["equity"][-1] == pf.equity()
    assert rec["fees_cum"][-1] == pf.fees_paid
    assert bool((rec["cash"] >= 0).all()) and bool((rec["exposure"] >= 0).all())
    currencies = {f.fee_currency for f in engine.fills}
    assert currencies <= {"USDT", "BTC", "ETH", "BNB"}


def test_all_in_target_uses_quote_sizing_and_leaves_no_negative_cash():
    """target_percent(1.0) from flat spends exactly the cash, fee included, at the next open."""

    class AllIn(Strategy):
        def on_bar(self, ctx, bar):
            ctx.target_percent(bar.symbol, 1.0)

    data = {"BTC/USDT": random_walk(50, 3)}
    engine = build_engine(AllIn(), symbols=["BTC/USDT"], timeframe="1m", initial_cash=1000.0)
    engine.start(0)
    for bar in merge_bars(data, MIN):
        cash, n_fills = engine.portfolio.cash, len(engine.fills)
        engine.step(bar)
        check_identities(engine, cash, n_fills, 1000.0)
    first = engine.fills[0]
    assert first.price * first.amount + first.fee == pytest.approx(1000.0, rel=1e-12)
    assert engine.portfolio.cash == pytest.approx(0.0, abs=1e-9)
