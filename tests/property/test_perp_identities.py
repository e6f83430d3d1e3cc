"""Accounting identities of an account holding spot and perpetuals, after every event
(hypothesis): random order streams (shorts through zero, signed targets under random
leverage, reduce-only, brackets and trailing stops on both sides), random funding, random
margin modes, liquidations when the walk goes far enough.

After each event:
- equity == cash + spot holdings at their marks + sum over perpetuals of qty * (mark - entry);
- realized + unrealized - fees + funding == equity - initial;
- the funding booked equals the sum of the run's funding events, each ``-qty * mark * rate``
  of the position held at its time;
- each perpetual's quantity is the signed sum of its fills;
- an open position's liquidation price is where its margin balance equals its
  maintenance margin (Binance's definition), isolated or cross.
"""

from __future__ import annotations

import math

import pytest
from engine_helpers import MIN, random_walk
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tradeloom.engine.contracts import ContractSpec, LeverageBracket
from tradeloom.engine.market import MarketSpec
from tradeloom.engine.orders import Side
from tradeloom.engine.run.backtest import build_engine
from tradeloom.engine.run.feeds import merge_bars
from tradeloom.engine.run.funding_feed import FundingRates, with_funding
from tradeloom.engine.strategy.base import Strategy

SPOT = "BTC/USDT"
PERPS = ("BTC/USDT:USDT", "ETH/USDT:USDT")
SYMBOLS = (SPOT, *PERPS)
CONTRACT = ContractSpec(brackets=(LeverageBracket(0.0, 20_000.0, 50.0, 0.01, 0.0),
                                  LeverageBracket(20_000.0, float("inf"), 10.0, 0.02, 200.0)))

action = st.tuples(
    st.sampled_from(["buy", "sell", "target", "reduce", "close", "bracket", "trailing",
                     "spot_buy", "spot_sell", "cancel", "none"]),
    st.floats(0.05, 1.0),
    st.floats(-0.03, 0.03),
    st.sampled_from(PERPS),
)


class RandomPerpTrader(Strategy):
    def __init__(self, actions, leverage, modes):
        super().__init__()
        self.actions, self.leverage, self.modes = actions, leverage, modes
        self.i = 0

    def on_start(self, ctx):
        for symbol, mode in zip(PERPS, self.modes):
            ctx.set_leverage(symbol, self.leverage)
            ctx.set_margin_mode(symbol, mode)

    def on_bar(self, ctx, bar):
        if self.i >= len(self.actions) or bar.symbol != PERPS[-1]:
            return
        kind, frac, off, symbol = self.actions[self.i]
        self.i += 1
        mark = ctx.mark(symbol)
        if not mark > 0:
            return
        pos = ctx.position(symbol)
        size = max(ctx.equity, 0.0) * frac * self.leverage / mark / 20
        if kind == "buy" and size > 0:
            ctx.buy(symbol, size)
        elif kind == "sell" and size > 0:
            ctx.sell(symbol, size)
        elif kind == "target":
            ctx.target_percent(symbol, (frac if off > 0 else -frac) * min(self.leverage, 2.0))
        elif kind == "reduce" and pos != 0:
            side = ctx.sell if pos > 0 else ctx.buy
            side(symbol, abs(pos) * frac * 1.5, reduce_only=True)
        elif kind == "close":
            ctx.close_position(symbol)
        elif kind == "bracket" and size > 0:
            side = Side.BUY if off >= 0 else Side.SELL
            d = abs(off) + 0.002
            stop, take = (mark * (1 - d), mark * (1 + d)) if side is Side.BUY else (
                mark * (1 + d), mark * (1 - d))
            ctx.bracket(symbol, size, stop_loss=stop, take_profits=[(take, 1.0)], side=side)
        elif kind == "trailing" and pos != 0:
            ctx.trailing_stop(symbol, abs(pos), trail_pct=abs(off) + 0.001,
                              side=Side.SELL if pos > 0 else Side.BUY)
        elif kind == "spot_buy" and ctx.cash > 10:
            ctx.buy(SPOT, min(ctx.cash, max(ctx.equity, 0.0)) * frac / 4 / ctx.mark(SPOT))
        elif kind == "spot_sell" and ctx.position(SPOT) > 0:
            ctx.sell(SPOT, ctx.position(SPOT) * frac)
        elif kind == "cancel":
            orders = ctx.open_orders()
            if orders:
                ctx.cancel(orders[0].id)


def check(engine, initial):
    pf = engine.portfolio
    marks = pf.marks()
    spot_value = sum(a * marks[s] for s, a in pf.holdings().items() if not pf.is_perp(s))
    upnl = sum(pf.perp(s).unrealized(marks[s]) for s in pf.perp_positions())
    assert pf.equity() == pytest.approx(pf.cash + spot_value + upnl, rel=1e-12, abs=1e-9)
    lhs = pf.realized_pnl + pf.unrealized_pnl() - pf.fees_paid + pf.funding_net
    assert lhs == pytest.approx(pf.equity() - initial, rel=1e-9, abs=1e-6)
    funding = [e for e in engine.events if e["kind"] == "funding"]
    assert pf.funding_net == pytest.approx(sum(e["amount"] for e in funding), rel=1e-12, abs=1e-12)
    for e in funding:
        assert e["amount"] == pytest.approx(-e["qty"] * e["mark"] * e["rate"], rel=1e-12)
    for symbol in PERPS:
        signed = sum(f.amount if f.side is Side.BUY else -f.amount
                     for f in engine.fills if f.symbol == symbol)
        assert pf.perp_position(symbol) == pytest.approx(signed, rel=1e-9, abs=1e-9)
    for symbol, qty in pf.perp_positions().items():
        lp = pf.liquidation_price(symbol)
        if not (0.0 < lp < math.inf):
            continue
        p = pf.perp(symbol)
        if p.mode.value == "isolated":
            balance = p.margin + qty * (lp - p.avg_entry)
            maint = p.contract.maintenance_margin(abs(qty) * lp)
        else:
            saved = marks[symbol]
            pf.set_mark(symbol, lp)
            wallet, other_mm, _ = pf._cross_context(symbol)
            balance = wallet + sum(pf.perp(s).unrealized(pf.mark(s)) for s, q in
                                   pf.perp_positions().items() if pf.perp(s).mode.value == "cross")
            maint = other_mm + p.contract.maintenance_margin(abs(qty) * lp)
            pf.set_mark(symbol, saved)
        assert balance == pytest.approx(maint, rel=1e-9, abs=1e-6 * abs(qty) * lp)


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    actions=st.lists(action, min_size=5, max_size=50),
    seed=st.integers(0, 10_000),
    leverage=st.sampled_from([1.0, 3.0, 10.0, 40.0]),
    modes=st.tuples(st.sampled_from(["cross", "isolated"]), st.sampled_from(["cross", "isolated"])),
    lot=st.sampled_from([None, 0.001]),
    rates=st.lists(st.floats(-0.003, 0.003), min_size=20, max_size=20),
)
def test_identities_hold_after_every_event(actions, seed, leverage, modes, lot, rates):
    initial = 10_000.0
    n = len(actions) + 5
    data = {s: random_walk(n, seed + i, 100.0 * (i + 1)) for i, s in enumerate(SYMBOLS)}
    markets = {s: MarketSpec(s, lot_step=lot, min_notional=1.0, maker_fee=0.0002,
                             taker_fee=0.0005, contract=CONTRACT if s in PERPS else None)
               for s in SYMBOLS}
    funding = {s: FundingRates.from_columns(ts=[(3 * k + 2) * MIN + j for k in range(10)],
                                            rate=rates[10 * j:10 * j + 10])
               for j, s in enumerate(PERPS)}
    engine = build_engine(RandomPerpTrader(actions, leverage, modes), symbols=SYMBOLS,
                          timeframe="1m", markets=markets, initial_cash=initial)
    events = list(with_funding(merge_bars(data, MIN), funding))
    engine.start(0)
    for event in events:
        engine.step(event)
        check(engine, initial)
    engine.finish()
    rec = engine.recorded()
    assert rec["equity"][-1] == pytest.approx(engine.portfolio.equity(), rel=1e-12)
    liquidations = [e for e in engine.events if e["kind"] == "liquidation"]
    for e in liquidations:
        fill = engine.fills[e["fill"]]
        assert fill.tag == "liquidation" and fill.price == e["price"]
