"""A paper session's journal replays through the backtest engine with zero divergence;
a tampered journal diverges with a readable report."""

from __future__ import annotations

import json

import pytest
from runner_helpers import PARAMS, run_paper
from tradeloom.adapters.replay import replay
from tradeloom.engine.risk_config import RiskConfig
from tradeloom.research.strategies.sma_cross import SmaCross

from tradeloom.risk_profiles import load_profile


@pytest.fixture(scope="module")
def paper_journal(tmp_path_factory):
    from emulator import BinanceEmulator

    tmp = tmp_path_factory.mktemp("replay")
    with BinanceEmulator(["BTC/USDT"]) as emu:
        session, _ = run_paper(emu, tmp, start=600, bars=150)
    return session.journal_path


def test_paper_journal_replays_with_zero_divergence(paper_journal):
    report = replay(paper_journal, SmaCross(**PARAMS), load_profile("moderate"))
    assert len(report.journal_commands) >= 2
    assert report.ok, report.format()
    assert "zero divergence" in report.format()


def test_tampered_journal_diverges_with_readable_report(paper_journal, tmp_path):
    lines = paper_journal.read_text().splitlines()
    bars = [i for i, line in enumerate(lines) if '"kind":"bar"' in line]
    rec = json.loads(lines[bars[40]])
    rec["payload"]["close"] *= 1.25  # a spike that flips the SMA cross
    lines[bars[40]] = json.dumps(rec)
    tampered = tmp_path / "tampered.jsonl"
    tampered.write_text("\n".join(lines) + "\n")
    report = replay(tampered, SmaCross(**PARAMS), load_profile("moderate"))
    assert not report.ok
    text = report.format()
    assert "divergence" in text and "command #" in text and "journal:" in text
    first = report.divergences[0]
    assert first.journal_command != first.replay_command


def test_different_risk_config_diverges(paper_journal):
    report = replay(paper_journal, SmaCross(**PARAMS), RiskConfig(max_order_pct=0.1,
                                                                  on_size_breach="resize"))
    assert not report.ok and report.divergences[0].field in ("quote_amount", "amount")
