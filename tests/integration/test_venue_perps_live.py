"""LongShortMomentum live-trades a perpetual on the Binance USDⓈ-M emulator through the
real ccxt client and the CcxtBroker: leverage and margin mode set on the venue at start
(a refusal refuses the start), shorts beyond zero, positions reconciled from
fetch_positions, funding booked from the account's FUNDING_FEE income, a venue
liquidation booked as an event, and the journal replays with zero divergence."""

from __future__ import annotations

import asyncio
from pathlib import Path

import ccxt
import pytest
from perp_venue import (
    FUNDING_1,
    FUNDING_2,
    HOUR,
    PERP,
    START,
    futures_venue,
    perp_config,
    run,
    run_session,
)
from venues.testing import API_KEY, SECRET

from tradeloom.adapters.config.risk_profiles import load_profile
from tradeloom.adapters.live.journal import read_journal
from tradeloom.adapters.live.replay import replay
from tradeloom.engine.errors import VenueSettingRefused
from tradeloom.research.strategies.long_short import LongShortMomentum

PARAMS = {"fast": 2, "slow": 4, "leverage": 3.0, "exposure": 1.0, "margin_mode": "isolated"}


def _kind(records, kind):
    return [r.payload for r in records if r.kind == kind]


@pytest.fixture(scope="module")
def live(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("perp_live")
    with futures_venue() as (emu, clock):
        session, summary = run(clock, perp_config(emu, tmp), live=True, bars=16)
        account = emu.account(API_KEY)
        venue = {"settings": account.settings("BTCUSDT"),
                 "position": account.positions["BTCUSDT"].amount,
                 "wallet": account.wallet}
    return session, summary, read_journal(session.journal_path), venue


def test_live_sets_the_strategys_leverage_and_margin_mode_on_the_venue(live):
    _, _, records, venue = live
    assert (venue["settings"].leverage, venue["settings"].margin_type) == (3, "ISOLATED")
    assert _kind(records, "perp_settings")[0]["symbols"][PERP] == {
        "leverage": 3.0, "margin_mode": "isolated"}


def test_live_sells_short_beyond_zero_and_flips_long(live):
    _, summary, records, _ = live
    fills = [(f["side"], f["amount"], f["price"]) for f in _kind(records, "fill")]
    # 10000 x 1 / 30150 = 0.3316 -> 0.331 short at the venue's best bid (30149.9, one
    # tick under the last price); the flip: 0.331 back + (10000 - 5 fee + PnL) / 29850
    assert fills == [("sell", 0.331, 30149.9), ("buy", 0.669, 29850.0)]
    assert not summary.failed and summary.fills == 2


def test_live_positions_are_reconciled_from_fetch_positions(live):
    session, summary, records, venue = live
    reconciles = _kind(records, "reconcile")
    assert reconciles and all(r["ok"] for r in reconciles)
    assert summary.reconciliations == len(reconciles) and not summary.degraded
    # the venue's position (-0.331 + 0.669) is the engine's
    assert float(venue["position"]) == pytest.approx(0.338, abs=1e-12)
    assert session.runner.engine.portfolio.perp_position(PERP) == pytest.approx(0.338, abs=1e-12)


def test_live_books_each_funding_payment_of_the_venue_once_from_its_income(live):
    _, summary, records, _ = live
    funding = _kind(records, "funding")
    assert [(f["ts"], f["rate"], f["mark"]) for f in funding] == [
        (FUNDING_1, 0.0001, 29850.0), (FUNDING_2, 0.0003, 30450.0)]
    assert len({f["venue_id"] for f in funding}) == 2  # keyed by the venue's tranId
    # 00:00: short 0.331 x mark 29850 x 0.0001 = +0.988035 received (longs pay shorts)
    # 08:00: long 0.338 x mark 30450 x 0.0003 = -3.08763 paid
    assert [f["amount"] for f in funding] == [0.988035, -3.08763]
    assert [b["amount"] for b in _kind(records, "funding_booked")] == [0.988035, -3.08763]
    assert summary.funding == pytest.approx(0.988035 - 3.08763, rel=1e-12)


def test_the_live_journal_replays_with_zero_divergence(live):
    session, _, _, _ = live
    report = replay(session.journal_path, LongShortMomentum(**PARAMS), load_profile("perps"))
    assert report.ok, report.format()
    assert report.fills == "journal" and len(report.journal_commands) == 2
    assert [f["amount"] for f in report.funding] == [0.988035, -3.08763]


def test_a_leverage_ccxt_refuses_refuses_the_start_naming_symbol_and_setting(tmp_path: Path):
    with futures_venue() as (emu, clock):
        config = perp_config(emu, tmp_path, perps={"leverage": {PERP: 150}})
        with pytest.raises(VenueSettingRefused, match=r"BTC/USDT:USDT: the venue refused "
                                                       r"leverage 150: .*between 1 and 125"):
            run(clock, config, live=True, bars=1)
    assert not list((tmp_path / "state").rglob("*.jsonl"))  # nothing journaled


def test_the_venue_refusing_a_margin_mode_refuses_the_start(tmp_path: Path):
    """Binance -4048: the margin type cannot change while a position is open."""
    with futures_venue() as (emu, clock):
        manual = ccxt.binanceusdm(emu.ccxt_config(API_KEY, SECRET, enableRateLimit=False))
        manual.create_order(PERP, "market", "buy", 0.01)  # a cross position, opened by hand
        config = perp_config(emu, tmp_path, perps={"margin_mode": "isolated"})
        with pytest.raises(VenueSettingRefused, match=r"BTC/USDT:USDT: the venue refused "
                                                       r"margin mode isolated: .*-4048"):
            run(clock, config, live=True, bars=1)
        assert emu.account(API_KEY).settings("BTCUSDT").margin_type == "CROSSED"
    assert not list((tmp_path / "state").rglob("*.jsonl"))


def test_margin_mode_already_set_on_the_venue_is_not_a_refusal(tmp_path: Path):
    """Binance -4046 "No need to change margin type.": the session starts."""
    with futures_venue() as (emu, clock):
        config = perp_config(emu, tmp_path, perps={"margin_mode": "cross"},
                             params={**PARAMS, "margin_mode": "cross"})
        session, summary = run(clock, config, live=True, bars=1)
    assert not summary.failed and summary.bars == 1


def test_a_venue_liquidation_is_booked_as_a_liquidation_event(tmp_path: Path):
    with futures_venue() as (emu, clock):
        def squeeze(now: int) -> None:  # the mark jumps 50 % while the short is open
            if now >= START + 11 * HOUR and not fired:
                fired.append(now)
                emu.set_mark_price(PERP, "45000")

        fired: list[int] = []
        clock.on_advance(squeeze)
        session, summary = asyncio.run(run_session(clock, perp_config(emu, tmp_path),
                                                   live=True, bars=8))
        wallet = emu.account(API_KEY).wallet
    records = read_journal(session.journal_path)
    liq = _kind(records, "liquidation")
    assert len(liq) == 1 and liq[0]["source"] == "autoclose"
    # isolated short 0.331 at 30149.9 on 3x: margin 0.331 x 30149.9 / 3 = 3326.5390; the
    # venue closes it at the bankruptcy price 30149.9 + 3326.5390 / 0.331 = 40199.867
    # (floored to the 0.1 tick: 40199.8, in the account's favour); the whole margin is
    # lost: what the close leaves, 3326.53896667 - 0.331 x (40199.8 - 30149.9) =
    # 0.02206667, is the insurance clearance (income INSURANCE_CLEAR), the booked fee
    assert (liq[0]["qty"], liq[0]["price"], liq[0]["fee"]) == (-0.331, 40199.8, 0.02206667)
    assert liq[0]["engine_ts"] == START + 11 * HOUR  # found by the next reconciliation
    assert summary.liquidations == 1 and "liquidation" in summary.alerts[0]
    # the futures wallet reconciles before and after (the clearance in the fee), and the
    # engine's cash is the venue's wallet
    assert all(r["ok"] for r in _kind(records, "reconcile")) and len(summary.alerts) == 1
    assert session.runner.engine.portfolio.cash == pytest.approx(float(wallet), abs=1e-8)
    engine = session.runner.engine
    orders = [o for o in engine.orders if o.tag == "liquidation"]
    assert len(orders) == 1 and orders[0].side.value == "buy"
    assert [e["kind"] for e in engine.events if e["kind"] == "liquidation"] == ["liquidation"]
    closed = [(f.side.value, f.amount, f.price) for f in engine.fills if f.tag == "liquidation"]
    assert closed == [("buy", 0.331, 40199.8)]
    report = replay(session.journal_path, LongShortMomentum(**PARAMS), load_profile("perps"))
    assert report.ok, report.format()
    assert len(report.liquidations) == 1
