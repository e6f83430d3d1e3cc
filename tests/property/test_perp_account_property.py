"""The perpetual account's identities over random fills, funding and marks (hypothesis),
on the account alone (no broker, no engine): two perpetuals (one cross, one isolated)
and a spot holding.

- a trial (``perp_trial``) of fills not booked yet gives the position, available balance
  and equity the account has once they are booked (the broker sizes fills with it);
- equity == cash + spot at its mark + sum of qty * (mark - entry);
- realized + unrealized - fees + funding == equity - initial cash;
- available == cash - initial margins + the cross positions' unrealized losses;
- the funding booked is the sum of the payments, each -qty * mark * rate.
"""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tradeloom.engine.accounting.portfolio import Portfolio
from tradeloom.engine.contracts import ContractSpec
from tradeloom.engine.market import MarketSpec
from tradeloom.engine.orders import Fill, Liquidity, Side

BTC, ETH, SPOT = "BTC/USDT:USDT", "ETH/USDT:USDT", "BNB/USDT"
MARKETS = {BTC: MarketSpec(BTC, contract=ContractSpec()),
           ETH: MarketSpec(ETH, contract=ContractSpec()), SPOT: MarketSpec(SPOT)}
INITIAL = 100_000.0

step = st.one_of(
    st.tuples(st.just("fill"), st.sampled_from([BTC, ETH]),
              st.floats(-5.0, 5.0).filter(lambda a: abs(a) > 1e-6),
              st.floats(50.0, 150.0), st.floats(0.0, 0.5)),
    st.tuples(st.just("mark"), st.sampled_from([BTC, ETH, SPOT]), st.floats(50.0, 150.0)),
    st.tuples(st.just("funding"), st.sampled_from([BTC, ETH]), st.floats(-0.003, 0.003),
              st.floats(50.0, 150.0)),
    st.tuples(st.just("pair"), st.sampled_from([BTC, ETH]), st.floats(-5.0, 5.0),
              st.floats(50.0, 150.0), st.sampled_from([BTC, ETH]), st.floats(-5.0, 5.0)),
)


def apply(pf, symbol, signed, price, fee, ids=iter(range(1, 10**9))):
    side = Side.BUY if signed > 0 else Side.SELL
    pf.apply_fill(Fill(next(ids), symbol, side, 0, price, abs(signed), fee, Liquidity.TAKER))


def identities(pf, payments):
    marks = pf.marks()
    upnl = sum(q * (marks[s] - pf.perp(s).avg_entry) for s, q in pf.perp_positions().items())
    spot = pf.holding(SPOT) * marks.get(SPOT, 0.0)
    scale = 1e-9 * (INITIAL + 10 * sum(abs(q) * marks[s] for s, q in
                                       pf.perp_positions().items()))
    assert pf.equity() == pytest.approx(pf.cash + spot + upnl, abs=scale)
    assert pf.realized_pnl + pf.unrealized_pnl() - pf.fees_paid + pf.funding_net == \
        pytest.approx(pf.equity() - INITIAL, abs=scale)
    cross_losses = sum(min(pf.perp(s).unrealized(marks[s]), 0.0)
                       for s in pf.perp_positions() if pf.perp(s).mode.value == "cross")
    assert pf.available() == pytest.approx(pf.cash - pf.used_margin() + cross_losses, abs=scale)
    assert pf.funding_net == pytest.approx(sum(p.amount for p in payments), abs=scale)
    for p in payments:
        assert p.amount == -(p.qty * p.mark * p.rate)


@given(st.lists(step, min_size=1, max_size=40), st.sampled_from([1.0, 5.0, 20.0]))
def test_trials_and_identities(steps, leverage):
    pf = Portfolio(INITIAL, "USDT", markets=MARKETS)
    pf.set_leverage(BTC, leverage)
    pf.set_leverage(ETH, 3.0)
    pf.set_margin_mode(ETH, "isolated")
    apply(pf, SPOT, 10.0, 100.0, 0.0)
    payments = []
    for kind, symbol, *rest in steps:
        if kind == "fill":
            signed, price, fee = rest
            trial = pf.perp_trial([], symbol, signed, price, fee)
            apply(pf, symbol, signed, price, fee)
            pf.set_mark(symbol, price)
            scale = 1e-9 * (INITIAL + 10 * 5 * 150 * 40)
            assert trial.after == pytest.approx(pf.perp_position(symbol), abs=1e-9)
            assert trial.available == pytest.approx(pf.available(), abs=scale)
            assert trial.equity == pytest.approx(pf.equity(), abs=scale)
        elif kind == "pair":
            signed, price, second, signed2 = rest
            if not (abs(signed) > 1e-6 and abs(signed2) > 1e-6):
                continue
            pf.set_mark(second, price)
            pf.set_mark(symbol, price)
            trial = pf.perp_trial([(symbol, signed, price, 0.1)], second, signed2, price, 0.2)
            apply(pf, symbol, signed, price, 0.1)
            assert trial.before == pytest.approx(pf.perp_position(second), abs=1e-9)
            apply(pf, second, signed2, price, 0.2)
            scale = 1e-9 * (INITIAL + 10 * 5 * 150 * 40)
            assert trial.after == pytest.approx(pf.perp_position(second), abs=1e-9)
            assert trial.available == pytest.approx(pf.available(), abs=scale)
            assert trial.equity == pytest.approx(pf.equity(), abs=scale)
        elif kind == "mark":
            pf.set_mark(symbol, rest[0])
        else:
            rate, mark = rest
            payment = pf.apply_funding(symbol, len(payments), rate, mark)
            assert (payment is None) == (pf.perp_position(symbol) == 0.0)
            if payment is not None:
                payments.append(payment)
        identities(pf, payments)
