"""The SMA strategy live against the emulator's trading endpoints (real ccxt client, the
CcxtBroker) produces the same orders as a backtest over the same bars, and its journal
replays with the fill model's decisions."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from live_helpers import API_KEY, SECRET
from runner_helpers import SIM_SETTINGS, backtest_same_bars, make_config, start_at
from tradeloom.adapters.journal import read_journal
from tradeloom.adapters.session import open_live

from tradeloom.cli_live import ccxt_broker_factory

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


@pytest.mark.xfail(reason="CcxtBroker (exchange side, in progress) reports no Fill for a "
                   "quote-sized market buy (quoteOrderQty), so the engine never books the "
                   "position; remove this mark when those fills land", strict=False)
def test_live_session_orders_equal_backtest(emulator, tmp_path):
    session, summary = run_live(emulator, tmp_path, start=300, bars=120)
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
