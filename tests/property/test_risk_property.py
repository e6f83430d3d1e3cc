"""Property: approved orders never breach a configured limit; rejected ones never touch the portfolio.

The harness fills every approved order at once at the mark the decision saw, with
the market's taker fee, into a real ``Portfolio`` (an exchange with no latency),
then checks every configured limit against the portfolio after the fill. Prices
move between orders, so positions drift; the limits bind on the *entries*: an
entry approved after a drift must still land inside every limit.
"""

from __future__ import annotations

import math
from typing import Any

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from risk_fakes import PortfolioView

from tradeloom.engine.accounting.portfolio import Portfolio
from tradeloom.engine.market import MarketSpec
from tradeloom.engine.orders import Fill, Liquidity, Order, OrderType, Side
from tradeloom.engine.risk.codes import Outcome
from tradeloom.engine.risk.config import RiskConfig
from tradeloom.engine.risk.engine import RiskEngine

SYMBOLS = ("BTC/USDT", "ETH/USDT", "SOL/USDT")
TOL = 1e-9


@st.composite
def configs(draw: Any) -> RiskConfig:
    exposure = draw(st.none() | st.floats(0.05, 1.0))
    position = draw(st.none() | st.floats(0.02, exposure if exposure is not None else 1.0))
    order_pct = draw(st.none() | st.floats(0.01, position if position is not None else 1.0))
    budgets = draw(st.none() | st.tuples(st.floats(0.05, 0.6), st.floats(0.05, 0.4)))
    return RiskConfig(
        max_notional=draw(st.none() | st.floats(50.0, 2000.0)),
        max_order_pct=order_pct,
        max_position_pct=position,
        max_exposure_pct=exposure,
        max_open_positions=draw(st.none() | st.integers(1, 3)),
        strategy_budgets={"a": budgets[0], "b": budgets[1]} if budgets else {},
        long_only=draw(st.booleans()),
        no_pyramiding=draw(st.booleans()),
        fee_aware_sizing=draw(st.booleans()),
        on_size_breach=draw(st.sampled_from(["reject", "resize"])),
    )


steps = st.lists(
    st.one_of(
        st.tuples(st.just("price"), st.sampled_from(SYMBOLS), st.floats(0.7, 1.4)),
        st.tuples(
            st.just("order"),
            st.sampled_from(SYMBOLS),
            st.sampled_from([Side.BUY, Side.BUY, Side.SELL]),
            st.floats(0.01, 0.8),  # size as a fraction of equity (buys) or of the position (sells)
            st.sampled_from(["a", "b", "c"]),
            st.booleans(),  # quote-sized buy
        ),
    ),
    min_size=1,
    max_size=40,
)


def _held_value(pf: Portfolio, symbols: list[str]) -> float:
    return sum(abs(pf.position(s)) * pf.mark(s) for s in symbols)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    cfg=configs(),
    fee=st.sampled_from([0.0, 0.001, 0.0075]),
    lot=st.sampled_from([None, 0.001]),
    script=steps,
)
# Found by this property: a fee-aware resize to the free cash cost one ulp more than
# the cash (3703.125 free, fee 0.75 %); the resized buy must be payable to the last bit.
@example(
    cfg=RiskConfig(fee_aware_sizing=True),
    fee=0.0075,
    lot=None,
    script=[("order", "BTC/USDT", Side.BUY, 0.625, "a", False), ("order", "BTC/USDT", Side.BUY, 0.5, "a", False)],
)
def test_approved_orders_stay_inside_every_limit(
    cfg: RiskConfig, fee: float, lot: float | None, script: list[Any]
) -> None:
    markets = {s: MarketSpec(s, lot_step=lot, taker_fee=fee, min_notional=1.0) for s in SYMBOLS}
    risk = RiskEngine(cfg, markets=markets)
    risk.bind(symbols=SYMBOLS)
    pf = Portfolio(10_000.0, "USDT")
    for s in SYMBOLS:
        pf.set_mark(s, 100.0)
    view = PortfolioView(pf)
    by_strategy: dict[str, dict[str, float]] = {}
    for i, step in enumerate(script):
        view.now = i * 60_000
        if step[0] == "price":
            _, sym, mult = step
            pf.set_mark(sym, pf.mark(sym) * mult)
            continue
        _, sym, side, frac, sid, quote_sized = step
        mark = pf.mark(sym)
        pos = pf.position(sym)
        if side is Side.BUY:
            size = frac * pf.equity()
            quote = size if quote_sized else None
            amount = 0.0 if quote_sized else size / mark
        else:
            quote, amount = (
                None,
                max(pos * frac * 2, 0.01),
            )  # up to twice the position: tests long_only cuts
        o = Order(
            i + 1,
            sym,
            side,
            OrderType.MARKET,
            amount,
            created_ts=view.now,
            quote_amount=quote,
            strategy_id=sid,
        )
        before = pf.snapshot()
        d = risk.check(o, view)
        assert pf.snapshot() == before  # deciding never touches the portfolio
        if d.outcome is Outcome.REJECTED:
            assert d.amount == 0.0 and d.message.startswith("rejected: ")
            continue
        assert 0.0 < d.amount <= d.requested * (1 + TOL)
        if quote is not None:
            fill_amount = markets[sym].round_amount(d.amount / (mark * (1 + fee)))
        else:
            fill_amount = d.amount
        if fill_amount <= 0.0:
            continue
        if side is Side.SELL and fill_amount > pos * (1 + 1e-9):
            assert not cfg.long_only, "long_only must cut sells to the position"
            continue  # spot: the broker refuses it
        entry = side is Side.BUY  # spot: every buy adds; sells that pass here reduce
        notional = fill_amount * mark
        if side is Side.BUY and notional * (1 + fee) > pf.cash:
            assert not cfg.fee_aware_sizing, "fee-aware sizing must make buys payable"
            continue  # the broker refuses it
        if entry and cfg.no_pyramiding:
            assert pos == 0.0
        pf.apply_fill(
            Fill(
                o.id,
                sym,
                side,
                view.now,
                mark,
                fill_amount,
                notional * fee,
                Liquidity.TAKER,
                strategy_id=sid,
            )
        )
        held = by_strategy.setdefault(sid, {})
        held[sym] = held.get(sym, 0.0) + fill_amount * side.sign
        risk.on_fill(
            Fill(
                o.id,
                sym,
                side,
                view.now,
                mark,
                fill_amount,
                notional * fee,
                Liquidity.TAKER,
                strategy_id=sid,
            ),
            view,
        )
        if not entry:
            continue
        equity = pf.equity()
        slack = 1 + 1e-9
        if cfg.max_notional is not None:
            assert notional <= cfg.max_notional * slack
        if cfg.max_order_pct is not None:
            assert notional <= cfg.max_order_pct * equity * slack
        if cfg.max_position_pct is not None:
            assert abs(pf.position(sym)) * mark <= cfg.max_position_pct * equity * slack
        if cfg.max_exposure_pct is not None:
            assert _held_value(pf, list(SYMBOLS)) <= cfg.max_exposure_pct * equity * slack
        if cfg.max_open_positions is not None:
            assert len(pf.positions()) <= cfg.max_open_positions
        if sid in cfg.strategy_budgets:
            used = sum(abs(a) * pf.mark(s) for s, a in by_strategy[sid].items() if abs(a) > 1e-12)
            assert used <= cfg.strategy_budgets[sid] * equity * slack
        assert math.isfinite(equity) and pf.cash >= -1e-9


@settings(max_examples=60, deadline=None)
@given(cfg=configs(), script=steps)
def test_decisions_are_deterministic(cfg: RiskConfig, script: list[Any]) -> None:
    """Two engines fed the same stream decide the same, byte for byte."""

    def run() -> list[dict[str, Any]]:
        risk = RiskEngine(cfg)
        pf = Portfolio(10_000.0, "USDT")
        for s in SYMBOLS:
            pf.set_mark(s, 100.0)
        view = PortfolioView(pf)
        for i, step in enumerate(script):
            view.now = i
            if step[0] == "order":
                _, sym, side, frac, sid, _ = step
                risk.check(
                    Order(i, sym, side, OrderType.MARKET, frac * 50, created_ts=i, strategy_id=sid),
                    view,
                )
        return risk.records()

    assert run() == run()


@settings(max_examples=80, deadline=None)
@given(
    limit_name=st.sampled_from(["max_order_pct", "max_position_pct", "max_exposure_pct", "budget"]),
    limit=st.floats(0.05, 0.9),
    fee=st.sampled_from([0.001, 0.0075]),
    held=st.floats(0.0, 0.04),  # existing BTC position as a fraction of equity
    ask=st.floats(1.05, 3.0),  # requested size as a multiple of the limit
    quote_sized=st.booleans(),
)
def test_resized_entry_lands_on_the_limit_fees_included(
    limit_name: str, limit: float, fee: float, held: float, ask: float, quote_sized: bool
) -> None:
    """A resize fits exactly: the fee the fill pays is counted, so the limit holds after it."""
    cfg = RiskConfig.model_validate(
        {"on_size_breach": "resize"}
        | ({"strategy_budgets": {"a": limit}} if limit_name == "budget" else {limit_name: limit})
    )
    risk = RiskEngine(cfg, markets={"BTC/USDT": MarketSpec("BTC/USDT", taker_fee=fee)})
    pf = Portfolio(10_000.0, "USDT")
    pf.set_mark("BTC/USDT", 100.0)
    view = PortfolioView(pf)
    if held:
        first = Fill(
            1,
            "BTC/USDT",
            Side.BUY,
            0,
            100.0,
            held * 100.0,
            held * 10_000.0 * fee,
            Liquidity.TAKER,
            strategy_id="a",
        )
        pf.apply_fill(first)
        risk.on_fill(first, view)
    size = ask * limit * pf.equity()
    o = Order(
        2,
        "BTC/USDT",
        Side.BUY,
        OrderType.MARKET,
        0.0 if quote_sized else size / 100.0,
        created_ts=0,
        quote_amount=size if quote_sized else None,
        strategy_id="a",
    )
    d = risk.check(o, view)
    assert d.outcome is Outcome.RESIZED, d.message
    amount = d.amount / (100.0 * (1 + fee)) if quote_sized else d.amount
    pf.apply_fill(
        Fill(
            2,
            "BTC/USDT",
            Side.BUY,
            0,
            100.0,
            amount,
            amount * 100.0 * fee,
            Liquidity.TAKER,
            strategy_id="a",
        )
    )
    measured = amount * 100.0 if limit_name == "max_order_pct" else pf.position_value()
    assert measured / pf.equity() <= limit * (1 + 1e-9)
    assert measured / pf.equity() >= limit * (1 - 1e-9)  # and not smaller than it needs to be
