"""A paper session's journal replays through the backtest engine with zero divergence;
a tampered journal diverges with a readable report."""

from __future__ import annotations

import asyncio
import json

import pytest
from live_helpers import API_KEY, SECRET
from runner_helpers import PARAMS, SIM_SETTINGS, make_config, run_paper, start_at

from tradeloom.adapters.config.risk_profiles import load_profile
from tradeloom.adapters.live.journal import read_journal
from tradeloom.adapters.live.replay import replay
from tradeloom.app.session import open_live
from tradeloom.cli.live import ccxt_broker_factory
from tradeloom.engine.risk.config import RiskConfig
from tradeloom.research.strategies.sma_cross import SmaCross


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
    rec["payload"]["high"] = max(rec["payload"]["high"], rec["payload"]["close"])  # a valid bar
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


def test_live_session_holding_base_replays_from_its_opening_positions(emulator, tmp_path):
    """The account holds BTC before the session: replay starts from the same cash and
    position (the SMA strategy's first sell is of what was held), and diverges without."""
    emulator.add_account(API_KEY, SECRET, {"USDT": 5_000.0, "BTC": 0.05})
    clock = start_at(emulator, 300)
    config = make_config(emulator, tmp_path, runner={"poll_delay_ms": 0})
    env = {"TRADELOOM_API_KEY": API_KEY, "TRADELOOM_API_SECRET": SECRET}

    async def main():
        session = await open_live(config, confirm_live=True, broker_factory=ccxt_broker_factory,
                                  clock=clock, environ=env, settle_orders=True,
                                  settings=SIM_SETTINGS)
        try:
            await session.runner.run(max_bars=60)
        finally:
            await session.close()
        return session

    session = asyncio.run(main())
    records = read_journal(session.journal_path)
    info = next(r.payload for r in records if r.kind == "session")
    assert info["positions"] == {"BTC/USDT": 0.05} and info["initial_cash"] == 5_000.0
    first = next(r.payload for r in records if r.kind == "submit")
    assert first["side"] == "sell" and first["amount"] == 0.05  # the holding, sold
    report = replay(session.journal_path, SmaCross(**PARAMS), load_profile("moderate"))
    assert report.ok, report.format()
    lines = session.journal_path.read_text().splitlines()
    stripped = tmp_path / "no_positions.jsonl"
    out = []
    for line in lines:
        rec = json.loads(line)
        if rec.get("kind") == "session":
            rec["payload"]["positions"] = {}
        out.append(json.dumps(rec))
    stripped.write_text("\n".join(out) + "\n")
    assert not replay(stripped, SmaCross(**PARAMS), load_profile("moderate")).ok
