"""Reconciliation against the venue-faithful Binance emulator: fee rounding and dust are
not mismatches; a real mismatch blocks entries until a person accepts the exchange's
state (``tradeloom reconcile CONFIG --accept``, audited), and a restart reconciles afresh.
"""

from __future__ import annotations

import dataclasses
import json
from decimal import Decimal
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner
from venue_live import ENV, HOUR, VENUE_SETTINGS, run, venue, write_config
from venues.testing import API_KEY, SECRET

from tradeloom.adapters.ccxt.broker import CcxtBroker
from tradeloom.adapters.ccxt.exchange import Credentials, make_client, market_specs_from_ccxt
from tradeloom.adapters.live.journal import read_journal
from tradeloom.adapters.live.reconcile import reconcile
from tradeloom.adapters.live.state import LiveStateStore
from tradeloom.cli.reconcile import reconcile_command
from tradeloom.engine.orders import Order, OrderType, Side

BTC = "BTC/USDT"
app = typer.Typer()
app.command()(reconcile_command)


def test_a_difference_within_the_dust_tolerance_is_not_a_mismatch(tmp_path: Path) -> None:
    with venue("binance") as v:
        client = make_client(v.settings(), credentials=Credentials(API_KEY, SECRET))
        client.load_markets()
        specs = market_specs_from_ccxt(client.markets, exchange_id="binance")
        store = LiveStateStore(tmp_path / "s.sqlite", run_id="d1")
        broker = CcxtBroker(client, {BTC: specs[BTC]}, store)
        try:
            assert reconcile(broker, store, 0).ok  # the first one takes the baseline
            broker.submit(Order(1, BTC, Side.BUY, OrderType.MARKET, 0.01, created_ts=0), 0)
            broker.poll(0, wait=True)
            # the venue's BTC is 0.00999; it reports 0.000005 more (its rounding): the
            # tolerance is one lot step 0.00001 plus 1e-8 per fill since the baseline
            v.emu.set_balance(API_KEY, "BTC", "0.009995")
            report = reconcile(broker, store, 1)
            # within tolerance, the exchange's figure became the baseline; 0.000015 more
            # than it is no longer dust
            v.emu.set_balance(API_KEY, "BTC", "0.01001")
            mismatch = reconcile(broker, store, 2)
        finally:
            broker.close()
    assert report.ok and report.mismatches == {}
    assert report.dust["BTC"] == pytest.approx((0.00999, 0.009995))
    assert not mismatch.ok and mismatch.mismatches["BTC"] == pytest.approx((0.009995, 0.01001))
    assert "accept its state: tradeloom reconcile CONFIG --accept" in mismatch.problems[0]


def test_a_real_mismatch_blocks_until_accepted_and_a_restart_reconciles_afresh(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with venue("binance", balances={"USDT": "1000"}) as v:
        config = v.config(tmp_path, params={"amount": 0.01, "trips": 5})
        withdraw_at = v.clock.now_ms() + 2 * HOUR

        def withdraw(now: int) -> None:  # 100 USDT leave behind the runner's back
            if now >= withdraw_at and not getattr(withdraw, "done", False):
                acct = v.emu.account(API_KEY)
                acct.wallet.set("USDT", acct.wallet.free("USDT") - Decimal("100"), Decimal(0))
                withdraw.done = True

        v.clock.on_advance(withdraw)
        hourly = dataclasses.replace(VENUE_SETTINGS, reconcile_every_s=3600.0)
        session, summary = run(v, config, live=True, bars=8, settings=hourly)
        records = read_journal(session.journal_path)
        assert summary.degraded and "USDT" in summary.alerts[0]
        degrade = next(i for i, r in enumerate(records) if r.kind == "degrade")
        assert all(r.payload["side"] == "sell" for r in records[degrade:] if r.kind == "submit")

        # a person looks: without --accept it is still a mismatch (exit 1) ...
        for key, value in ENV.items():
            monkeypatch.setenv(key, value)
        path = write_config(v.current(config), tmp_path / "live.toml")
        runner = CliRunner()
        looked = runner.invoke(app, [str(path)])
        assert looked.exit_code == 1, looked.output
        assert "USDT: expected" in looked.output and "--accept" in looked.output
        # ... then accepts the exchange's balances
        accepted = runner.invoke(app, [str(path), "--accept", "--actor", "alice"])
        assert accepted.exit_code == 0, accepted.output
        assert "accepted: the exchange's balances are the new baseline" in accepted.output
        audit = [json.loads(line) for line in
                 (tmp_path / "state" / "audit.jsonl").read_text().splitlines()]
        entry = audit[-1]
        assert (entry["kind"], entry["actor"], entry["subject"]) == (
            "manual_action", "alice", "binance/binance-venue")
        assert entry["details"]["action"] == "reconcile --accept"
        usdt = entry["details"]["accepted"]["USDT"]
        assert usdt["exchange"] == pytest.approx(usdt["expected"] - 100.0)

        # a restart reconciles afresh: no mismatch, entries allowed, it trades again
        session2, summary2 = run(v, config, live=True, bars=4)
    records2 = read_journal(session2.journal_path)
    last = max(i for i, r in enumerate(records2) if r.kind == "session")
    records2 = records2[last:]  # the restarted session's own records
    assert all(r.payload["ok"] for r in records2 if r.kind == "reconcile")
    assert not summary2.degraded
    assert any(r.payload["side"] == "buy" for r in records2 if r.kind == "submit")

