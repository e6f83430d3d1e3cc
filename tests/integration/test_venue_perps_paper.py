"""LongShortMomentum paper-trades a perpetual on the Binance USDⓈ-M emulator: the venue's
bars and funding-rate history, the simulated broker with the engine's perpetual
accounting; it goes short, flips long, is paid and pays funding at 8 h boundaries as a
backtest would, and its journal replays with zero divergence (commands and funding)."""

from __future__ import annotations

from pathlib import Path

import pytest
from perp_venue import FUNDING_1, FUNDING_2, PERP, futures_venue, perp_config, run

from tradeloom.adapters.config.risk_profiles import load_profile
from tradeloom.adapters.live.journal import read_journal
from tradeloom.adapters.live.replay import replay
from tradeloom.research.strategies.long_short import LongShortMomentum

PARAMS = {"fast": 2, "slow": 4, "leverage": 3.0, "exposure": 1.0, "margin_mode": "isolated"}


@pytest.fixture(scope="module")
def paper(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("perp_paper")
    with futures_venue() as (emu, clock):
        session, summary = run(clock, perp_config(emu, tmp), live=False, bars=16)
    return session, summary, read_journal(session.journal_path)


def _kind(records, kind):
    return [r.payload for r in records if r.kind == kind]


def test_paper_goes_short_then_flips_long_at_the_leverage_and_margin_mode_it_set(paper):
    _, summary, records = paper
    assert _kind(records, "perp_settings")[0]["symbols"] == {
        PERP: {"leverage": 3.0, "margin_mode": "isolated"}}
    fills = [(f["side"], f["amount"], f["price"]) for f in _kind(records, "fill")]
    # equity 10000 x exposure 1 / 30150 = 0.3316 -> 0.331 (lot 0.001), sold short at the next
    # open; the flip buys the short back and goes long 10000-ish / 29850 = 0.337: 0.668
    assert fills == [("sell", 0.331, 30150.0), ("buy", 0.668, 29850.0)]
    assert summary.fills == 2 and not summary.failed


def test_paper_books_funding_from_the_venues_rate_history_at_the_mark(paper):
    _, summary, records = paper
    booked = _kind(records, "funding_booked")
    assert [(b["ts"], b["qty"], b["mark"], b["rate"]) for b in booked] == [
        (FUNDING_1, -0.331, 29850.0, 0.0001), (FUNDING_2, 0.337, 30450.0, 0.0003)]
    # 00:00, short 0.331 at mark 29850, rate +0.01 %: longs pay shorts, the short receives
    #   0.331 * 29850 * 0.0001 = 0.988035
    # 08:00, long 0.337 at mark 30450, rate +0.03 %: the long pays
    #   0.337 * 30450 * 0.0003 = 3.078495
    assert [b["amount"] for b in booked] == pytest.approx([0.988035, -3.078495], rel=1e-12)
    assert summary.funding == pytest.approx(0.988035 - 3.078495, rel=1e-12)
    # the venue's own rows: rate and mark as its fundingRate history gives them
    assert [(f["ts"], f["rate"], f["mark"], f["amount"]) for f in _kind(records, "funding")] == [
        (FUNDING_1, 0.0001, 29850.0, None), (FUNDING_2, 0.0003, 30450.0, None)]


def test_the_paper_journal_replays_with_zero_divergence_in_commands_and_funding(paper):
    session, _, _ = paper
    report = replay(session.journal_path, LongShortMomentum(**PARAMS), load_profile("perps"))
    assert report.ok, report.format()
    assert len(report.journal_commands) == 2
    assert [round(f["amount"], 6) for f in report.funding] == [0.988035, -3.078495]


def test_a_tampered_funding_record_is_a_divergence(paper, tmp_path: Path):
    session, _, _ = paper
    text = session.journal_path.read_text().replace('"rate":0.0003', '"rate":0.0004')
    tampered = tmp_path / "tampered.jsonl"
    tampered.write_text(text)
    report = replay(tampered, LongShortMomentum(**PARAMS), load_profile("perps"))
    assert not report.ok
    assert report.divergences[0].field == "amount"  # 0.337 * 30450 * 0.0004 = 4.10466
    assert report.divergences[0].replay == pytest.approx(-4.10466, rel=1e-12)
