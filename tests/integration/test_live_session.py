"""The SMA strategy live against the emulator's trading endpoints (real ccxt client, the
CcxtBroker) produces the same orders as a backtest over the same bars, and its journal
replays with the fill model's decisions."""

from __future__ import annotations

import asyncio
from pathlib import Path

from live_helpers import API_KEY, SECRET
from runner_helpers import SIM_SETTINGS, backtest_same_bars, make_config, start_at

from tradeloom.adapters.live.journal import read_journal
from tradeloom.app.session import open_live
from tradeloom.cli.live import ccxt_broker_factory

ENV = {"TRADELOOM_API_KEY": API_KEY, "TRADELOOM_API_SECRET": SECRET}


def run_live(emu, tmp: Path, *, start: int, bars: int, **over):
    emu.add_account(API_KEY, SECRET, {"USDT": 10_000.0})
    clock = start_at(emu, start)
    config = make_config(emu, tmp, **over)

    async def main():
        session = await open_live(config, confirm_live=True, broker_factory=ccxt_broker_factory,
                                  clock=clock, environ=ENV, settle_orders=True,
                                  settings=SIM_SETTINGS)
        try:
            summary = await session.runner.run(max_bars=bars)
        finally:
            await session.close()
        return session, summary

    return asyncio.run(main())


def test_live_session_orders_equal_backtest(emulator, tmp_path):
    # Bars are polled on the close (no delay), so the market orders reach the exchange
    # at the next bar's open, where the backtest fills them: prices comparable too.
    session, summary = run_live(emulator, tmp_path, start=300, bars=120,
                                runner={"poll_delay_ms": 0})
    records = read_journal(session.journal_path)
    submits = [r.payload for r in records if r.kind == "submit"]
    assert len(submits) >= 2
    bt = backtest_same_bars(session.journal_path)
    assert [(s["ts"], s["symbol"], s["side"], s["type"]) for s in submits] == [
        (int(o.created_ts), o.symbol, o.side, o.type) for o in bt.orders.itertuples()]
    live_fills = [r.payload for r in records if r.kind == "fill"]
    assert [(f["side"], round(f["price"], 2)) for f in live_fills] == [
        (f.side, round(f.price, 2)) for f in bt.fills.itertuples()]
    assert summary.stages["decision"]["p99_ms"] < 50.0
    text = "\n".join(p.read_text(errors="replace") for p in tmp_path.rglob("*") if p.is_file()
                     and p.suffix in (".jsonl", ".lock", ""))
    assert API_KEY not in text and SECRET not in text


def test_reconcile_mismatch_raises_an_alert_and_refuses_entries(emulator, tmp_path):
    """Money leaves the account behind the runner's back: the periodic reconciliation
    finds the balance mismatch, alerts (log, status, journal) and refuses new entries."""
    import dataclasses

    from runner_helpers import SIM_SETTINGS

    emulator.add_account(API_KEY, SECRET, {"USDT": 10_000.0})
    clock = start_at(emulator, 300)
    withdraw_at = clock.now_ms() + 5 * 3_600_000
    done = []

    def withdraw(now: int) -> None:
        if now >= withdraw_at and not done:
            with emulator.state.lock:
                emulator.trading.accounts[API_KEY].add("USDT", free=-777.0)
            done.append(now)

    clock.on_advance(withdraw)
    config = make_config(emulator, tmp_path, runner={"poll_delay_ms": 0})
    settings = dataclasses.replace(SIM_SETTINGS, reconcile_every_s=3 * 3600)

    async def main():
        session = await open_live(config, confirm_live=True, broker_factory=ccxt_broker_factory,
                                  clock=clock, environ=ENV, settle_orders=True, settings=settings)
        try:
            summary = await session.runner.run(max_bars=120)
        finally:
            await session.close()
        return session, summary

    session, summary = asyncio.run(main())
    records = read_journal(session.journal_path)
    recon = [r.payload for r in records if r.kind == "reconcile"]
    assert recon[0]["ok"] and any(not p["ok"] for p in recon)
    assert summary.degraded and "USDT" in summary.alerts[0]
    degrade = next(i for i, r in enumerate(records) if r.kind == "degrade")
    assert any(r.kind == "alert" for r in records[:degrade + 1])
    later = [r.payload for r in records[degrade:] if r.kind == "submit"]
    assert all(p["side"] == "sell" for p in later)  # exits only
    ts = records[degrade].payload["ts"]
    bt = backtest_same_bars(session.journal_path)
    assert any(o.side == "buy" and o.created_ts > ts for o in bt.orders.itertuples())
