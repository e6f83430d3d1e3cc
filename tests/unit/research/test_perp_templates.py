"""The perpetual templates backtest on the bundled Binance USDⓈ-M sample through the store
(``run_backtest``): bars, funding history and mark-price bars all come from the store.

Data: ``BTC/USDT:USDT`` 5m bars (2025-06-12 to 2025-07-13), its funding (8-hourly) and
mark-price 8h bars, the sample's market rules with Binance's brackets
(``datasets/sample/markets/binance.json``). The sample has no spot bars of that period,
so the carry test stores the perpetual's own 5m bars under ``BTC/USDT`` as the spot
leg: a zero basis, which makes the hedge exact and leaves the funding as the only PnL
besides fees, a figure checkable by hand.
"""

from __future__ import annotations

import numpy as np
import pytest

from tradeloom.adapters.store.market_store import MarketStore
from tradeloom.app.sample import load_sample
from tradeloom.engine.market import MarketSpec
from tradeloom.research.backtest import run_backtest
from tradeloom.research.strategies import FundingCarry, LongShortMomentum

PERP = "BTC/USDT:USDT"


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> MarketStore:
    store = MarketStore(tmp_path_factory.mktemp("perp_templates"))
    load_sample(store)
    return store


@pytest.fixture(scope="module")
def long_short(store):
    return run_backtest(LongShortMomentum, PERP, "5m", None, None, {"fast": 20, "slow": 100},
                        store=store)


def test_long_short_trades_both_sides(long_short):
    sides = set(long_short.trades["side"])
    assert sides == {"long", "short"} and long_short.metrics["n_trades"] > 20


def test_funding_is_paid_on_the_position_at_each_funding_time(long_short, store):
    funding = long_short.funding
    assert len(funding) > 50
    stored = store.read_funding("binance", PERP)
    rates = dict(zip(stored["ts"], stored["funding_rate"]))
    marks = store.read_bars("binance", "8h", PERP, price="mark")
    for row in funding.itertuples():
        assert row.rate == rates[row.ts]
        # the mark-8h bar containing the funding time, its open
        bar = marks[marks["ts"] <= row.ts].iloc[-1]
        assert row.ts - bar["ts"] < 8 * 3_600_000 and row.mark == bar["open"]
        assert row.amount == pytest.approx(-row.qty * row.mark * row.rate, rel=1e-12)


def test_equity_is_trades_plus_funding(long_short):
    trades = long_short.trades
    expected = 10_000.0 + trades["pnl"].sum() + long_short.funding["amount"].sum()
    assert long_short.metrics["final_equity"] == pytest.approx(expected, rel=1e-9)
    summary = long_short.derivatives()
    assert summary["funding_net"] == pytest.approx(long_short.funding["amount"].sum())
    assert summary["sides"]["long"]["n"] > 0 and summary["sides"]["short"]["n"] > 0


def test_margin_usage_follows_the_fills(long_short):
    from tradeloom.engine.results.derivatives import margin_usage

    usage = margin_usage(long_short.events, long_short.equity)
    # 1x: the margin is the position's entry notional, about the equity while in a trade
    assert 0.9 < float(np.nanmax(usage)) < 1.1 and float(usage[0]) == 0.0


def test_leverage_3x_isolated_runs_and_reports_its_leverage(store):
    res = run_backtest(LongShortMomentum, PERP, "5m", None, None,
                       {"fast": 20, "slow": 100, "leverage": 3.0, "margin_mode": "isolated"},
                       store=store)
    eq = res.equity
    gross = (eq["exposure"] / eq["equity"]).to_numpy()
    assert 2.5 < float(np.max(gross)) < 3.5


def test_funding_carry_collects_the_funding_when_the_legs_cancel(store, tmp_path):
    carry_store = MarketStore(tmp_path / "carry")
    load_sample(carry_store)
    bars = store.read_bars("binance", "5m", PERP)
    carry_store.write_bars("binance", "5m", "BTC/USDT", bars, source="test: the perpetual bars as the spot leg")
    snapshot = carry_store.load_markets("binance")
    markets = {PERP: snapshot[PERP],
               "BTC/USDT": MarketSpec("BTC/USDT", tick_size=0.01, lot_step=0.00001,
                                      min_notional=5.0, maker_fee=0.001, taker_fee=0.001)}
    res = run_backtest(FundingCarry, ["BTC/USDT", PERP], "5m", None, None,
                       {"enter_rate": 0.00005, "exit_rate": 0.0}, store=carry_store,
                       markets=markets)
    fills = res.fills
    spot = fills[fills["symbol"] == "BTC/USDT"]
    perp = fills[fills["symbol"] == PERP]
    assert len(spot) >= 2 and len(perp) >= 2
    # equal legs: every spot buy has a perpetual sell of the same amount
    assert spot[spot["side"] == "buy"]["amount"].tolist() == perp[perp["side"] == "sell"]["amount"].tolist()
    funding = res.funding
    assert (funding["qty"] < 0).all() and funding["amount"].sum() > 0
    # zero basis: spot PnL + perpetual PnL = 0, so equity moves by funding - fees only
    expected = 10_000.0 + funding["amount"].sum() - fills["fee"].sum()
    assert res.metrics["final_equity"] == pytest.approx(expected, rel=1e-9)


def test_the_report_has_a_derivatives_section(long_short, tmp_path):
    from tradeloom.research.reports.report import render_report

    text = render_report(long_short, tmp_path / "report.html").read_text()
    assert 'id="sec-derivatives"' in text
    for heading in ("Long / short", "Funding", "Liquidations", "margin usage"):
        assert heading in text
    assert "peak gross leverage 1.0" in text  # a losing 1x short: notional up, equity down


def test_a_perpetual_without_contract_terms_runs_on_default_terms_and_says_so(tmp_path):
    store = MarketStore(tmp_path / "bare")
    load_sample(store)
    # a newer snapshot as `tradeloom ingest --market-type swap` saves it: no brackets
    store.save_markets("binance", {PERP: MarketSpec(PERP, maker_fee=0.0002, taker_fee=0.0005)},
                       fetched_ts=5)
    res = run_backtest(LongShortMomentum, PERP, "5m", None, "2025-06-20",
                       {"fast": 20, "slow": 100}, store=store)
    notes = [e["message"] for e in res.events if e["kind"] == "config"]
    assert any("no contract terms" in n and "20x" in n for n in notes)
    assert "short" in set(res.trades["side"])
    assert res.manifest["config"]["markets"][PERP]["contract"]["brackets"][0]["max_leverage"] == 20.0
