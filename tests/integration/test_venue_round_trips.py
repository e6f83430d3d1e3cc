"""Three buy-then-sell-all round trips against the venue-faithful emulators (Binance spot
and OKX spot rules: the fee of a buy is charged in the coin bought), with the real ccxt
clients on 127.0.0.1: live, paper and a backtest over the same bars all end with no
base left (or only reported dust), reconciliation never finds a mismatch, and the live
journal replays with zero divergence.

The strategy (``tests/support/live_strategies/round_trips.py``) buys a fixed amount and
sells ``ctx.position`` - what the account holds net of the fee - on the next bar.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest
from live_strategies.round_trips import RoundTrips
from venue_live import flat_bars, run, venue
from venues.testing import API_KEY

from tradeloom.adapters.config.risk_profiles import load_profile
from tradeloom.adapters.live.journal import read_journal
from tradeloom.adapters.live.journal_codec import bars_of
from tradeloom.adapters.live.replay import replay
from tradeloom.engine.market import MarketSpec
from tradeloom.engine.run.backtest import run_bars

pytest_plugins = ["venues.fixtures"]

D = Decimal
#: What a buy of 0.01 BTC delivers at each venue's taker rate, charged in BTC (Binance
#: 0.1 %: 0.00001 BTC; OKX 0.15 %, ccxt's rate for its markets: 0.000015 BTC).
NET = {"binance": 0.00999, "okx": 0.009985}
FEE = {"binance": 0.00001, "okx": 0.000015}


def _records(session, kind: str) -> list[dict]:
    return [r.payload for r in read_journal(session.journal_path) if r.kind == kind]


def _wallet(v, asset: str) -> Decimal:
    """The venue's own balance (free + locked) of ``asset``."""
    if v.name == "binance":
        wallet = v.emu.account(API_KEY).wallet
    else:
        wallet = v.emu.engine.accounts[API_KEY].wallet
    return wallet.free(asset) + wallet.locked(asset)


def _cash_after(fills: list[dict], start: Decimal) -> Decimal:
    """USDT after the journal's fills: buys pay the notional (their fee is in BTC),
    sells receive the notional less their USDT fee."""
    cash = start
    for f in fills:
        notional = D(repr(f["price"])) * D(repr(f["amount"]))
        if f["side"] == "buy":
            assert f["fee_currency"] == "BTC"
            cash -= notional
        else:
            assert f["fee_currency"] == "USDT"
            cash += notional - D(repr(f["fee_cost"]))
    return cash


@pytest.mark.parametrize("name", ["binance", "okx"])
def test_live_round_trips_end_flat_reconciled_and_replay_exactly(name: str,
                                                                tmp_path: Path) -> None:
    with venue(name) as v:
        session, summary = run(v, v.config(tmp_path), live=True, bars=8)
        btc, usdt = _wallet(v, "BTC"), _wallet(v, "USDT")
    submits = _records(session, "submit")
    # buy 0.01 BTC; its fee in BTC leaves 0.00999 (OKX 0.009985), which the exit sells; x 3
    assert [(s["side"], s["amount"]) for s in submits] == [("buy", 0.01), ("sell", NET[name])] * 3
    fills = _records(session, "fill")
    assert [(f["side"], f["amount"], f["fee_currency"], f["fee_cost"]) for f in fills
            if f["side"] == "buy"] == [("buy", 0.01, "BTC", FEE[name])] * 3
    assert btc == 0  # nothing left on the venue
    # USDT on the venue = 1000 - the buys' notionals + the sells' notionals less their
    # USDT fees (each fill as the journal recorded it)
    assert usdt == _cash_after(fills, D("1000"))
    reconciles = _records(session, "reconcile")
    assert reconciles and all(r["ok"] and not r["problems"] for r in reconciles)
    assert not summary.degraded and summary.alerts == [] and summary.dust == {}
    report = replay(session.journal_path, RoundTrips(amount=0.01, trips=3),
                    load_profile("moderate"))
    assert report.ok, report.format()
    assert len(report.journal_commands) == 6


@pytest.mark.parametrize("name", ["binance", "okx"])
def test_paper_and_backtest_charge_the_venue_fee_side_and_end_flat(name: str,
                                                                  tmp_path: Path) -> None:
    with venue(name) as v:
        session, _ = run(v, v.config(tmp_path), live=False, bars=8)
    records = read_journal(session.journal_path)
    paper = session.runner.engine
    assert paper.portfolio.holdings() == {}  # flat, not even dust
    assert [(f.side.value, f.amount, f.fee_currency) for f in paper.fills] == [
        ("buy", 0.01, "BTC"), ("sell", NET[name], "USDT")] * 3
    assert replay(session.journal_path, RoundTrips(amount=0.01, trips=3),
                  load_profile("moderate")).ok
    # the backtest over the very bars the session saw, with the session's market rules
    session_rec = next(r.payload for r in records if r.kind == "session")
    markets = {s: MarketSpec(**m) for s, m in session_rec["markets"].items()}
    assert markets["BTC/USDT"].fee_side.value == "get"
    bt = run_bars(RoundTrips(amount=0.01, trips=3),
                  bars_of(records, "warmup_bar") + bars_of(records, "bar"),
                  symbols=["BTC/USDT"], timeframe="1h", markets=markets, initial_cash=1000.0)
    assert bt.final_positions == {} and len(bt.trades) == 3
    assert bt.fills["amount"].tolist() == [0.01, NET[name]] * 3
    assert bt.fills["fee_currency"].tolist() == ["BTC", "USDT"] * 3


def test_an_amount_off_the_lot_grid_leaves_reported_dust_and_no_mismatch(tmp_path: Path) -> None:
    """0.01234 BTC bought delivers 0.01232766; the exit sells 0.01232 (the lot step is
    0.00001) and 0.00000766 BTC is dust: reported once, never sold, merged into the
    next buy. After three trips 0.00000298 BTC is left (0.00000766 + 0.01232766 =
    0.01233532, sell 0.01233; 0.00000532 + 0.01232766 = 0.01233298, sell 0.01233)."""
    with venue("binance") as v:
        config = v.config(tmp_path, params={"amount": 0.01234, "trips": 3})
        session, summary = run(v, config, live=True, bars=8)
        btc = _wallet(v, "BTC")
    assert btc == D("0.00000298")
    # what the strategy saw (dust included); the sender cut each to the lot step
    assert [round(s["amount"], 8) for s in _records(session, "submit") if s["side"] == "sell"] \
        == [0.01232766, 0.01233532, 0.01233298]
    assert [f["amount"] for f in _records(session, "fill") if f["side"] == "sell"] == [
        0.01232, 0.01233, 0.01233]
    dust = _records(session, "dust")
    assert [round(d["amount"], 8) for d in dust] == [0.00000766, 0.00000532, 0.00000298]
    assert summary.dust == {"BTC/USDT": pytest.approx(0.00000298, abs=1e-12)}
    assert all(r["ok"] for r in _records(session, "reconcile"))
    assert replay(session.journal_path, RoundTrips(amount=0.01234, trips=3),
                  load_profile("moderate")).ok


def test_fees_paid_with_bnb_leave_the_bought_amount_whole(tmp_path: Path) -> None:
    """The account pays fees with BNB (Binance's option, 25 % off): the coin bought is not
    charged, so 0.01 BTC bought is 0.01 held and sold; BNB pays 0.01 x price x 0.1 % x 0.75
    / 300 per fill. BNB/USDT is not traded: the session values BNB at the venue's book."""
    bnb = flat_bars("BNB/USDT", 300.0)
    with venue("binance", balances={"USDT": "1000", "BNB": "1"},
               symbols=("BTC/USDT", "BNB/USDT"), bars={"BNB/USDT": bnb}) as v:
        v.emu.set_fees(API_KEY, bnb_enabled=True)
        v.emu.set_bnb_price("300")
        config = v.config(tmp_path, fee_asset={"asset": "BNB", "discount": 0.25})
        session, summary = run(v, config, live=True, bars=8)
        btc, bnb_left = _wallet(v, "BTC"), _wallet(v, "BNB")
    assert not summary.degraded and summary.stop_reason == "max_bars 8"
    assert [(s["side"], s["amount"]) for s in _records(session, "submit")] == [
        ("buy", 0.01), ("sell", 0.01)] * 3
    fills = _records(session, "fill")
    assert {f["fee_currency"] for f in fills} == {"BNB"}
    # each fee: 0.01 x price x 0.001 x 0.75 / 300, rounded up to 8 decimals by the venue
    assert btc == 0 and bnb_left == D("1") - sum(D(repr(f["fee_cost"])) for f in fills)
    assert all(r["ok"] for r in _records(session, "reconcile"))
    info = next(r for r in _records(session, "session"))
    assert info["fee_holdings"]["BNB/USDT"][0] == 1.0  # held at start, valued at the book
    assert replay(session.journal_path, RoundTrips(amount=0.01, trips=3),
                  load_profile("moderate")).ok
