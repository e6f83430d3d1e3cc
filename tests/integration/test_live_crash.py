"""SIGKILL a live runner process mid-session with orders open; restart it from the same
state directory (SQLite state + journal) and prove that reconciliation restores exactly
the exchange's state: every order and every fill once, none lost, none duplicated; the
open orders tracked again; the portfolio equal to the exchange's balances. The one
journal file then spans the kill and the restart (two sessions, the second taking
over the working orders) and replays through the backtest engine with zero
divergence."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

from crash_config import CRASH_SETTINGS, crash_config
from live_helpers import API_KEY, SECRET
from live_strategies.ladder import Ladder

from tradeloom.adapters.clock import ManualClock
from tradeloom.adapters.config.risk_profiles import load_profile
from tradeloom.adapters.live.journal import read_journal
from tradeloom.adapters.live.replay import replay
from tradeloom.app.session import open_live
from tradeloom.cli.live import ccxt_broker_factory

ROOT = Path(__file__).resolve().parents[2]
SUPPORT = ROOT / "tests" / "support"  # live_child.py and what it imports
ENV = {"TRADELOOM_API_KEY": API_KEY, "TRADELOOM_API_SECRET": SECRET}
_STATUS = {"NEW": "open", "PARTIALLY_FILLED": "partially_filled", "FILLED": "filled",
           "CANCELED": "canceled", "EXPIRED": "expired"}


def exchange_view(emu):
    """The exchange's orders (client id -> status, filled), trade ids and balance totals."""
    with emu.state.lock:
        emu.trading.catch_up()
        orders = [o for o in emu.trading.orders.values() if o.api_key == API_KEY]
        trades = sorted(str(t.trade_id) for t in emu.trading.trades if t.api_key == API_KEY)
        account = emu.trading.accounts[API_KEY]
        totals = {a: free + locked for a, (free, locked) in account.balances.items()}
        ids = Counter(o.client_id for o in orders)
        state = {o.client_id: (_STATUS[o.status], round(o.executed, 8)) for o in orders}
        open_ids = sorted(o.client_id for o in orders if o.is_open)
    return ids, state, trades, totals, open_ids


def assert_state_equals_exchange(emu, store, engine) -> None:
    ids, state, trades, totals, open_ids = exchange_view(emu)
    assert max(ids.values()) == 1, "a client order id was sent twice"
    local = {r.client_id: (r.status, round(r.filled, 8)) for r in store.orders()
             if r.exchange_id is not None}
    assert local == state  # every exchange order known with its status and fill, no more
    never = [r for r in store.orders() if r.exchange_id is None]
    assert all(r.status in ("rejected", "canceled") for r in never)  # never sent: closed
    assert sorted(f.trade_id for f in store.fills()) == trades  # no lost, no double fill
    assert sorted(o.client_id for o in engine.broker.open_orders()) == open_ids
    pf = engine.portfolio
    assert abs(pf.cash - totals.get("USDT", 0.0)) < 1e-6
    assert abs(pf.position("BTC/USDT") - totals.get("BTC", 0.0)) < 1e-9


def test_sigkill_live_runner_then_restart_restores_the_exchange_state(emulator, tmp_path):
    emu = emulator
    emu.add_account(API_KEY, SECRET, {"USDT": 10_000.0})
    emu.now_ms = int(emu.bars("BTC/USDT")["ts"].iloc[300]) + 1_000
    state = tmp_path / "state"
    child = subprocess.Popen(
        [sys.executable, str(SUPPORT / "live_child.py"), str(emu.port), str(state),
         str(emu.now_ms), "500"], env={**os.environ, **ENV}, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True, cwd=ROOT)
    killed_at = 0
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            line = child.stdout.readline()
            assert line, f"the child ended early: {child.stderr.read()[-3000:]}"
            if line.startswith("BAR ") and int(line.split()[1]) >= 25:
                with emu.state.lock:
                    busy = emu.trading.open_orders(API_KEY) and emu.trading.trades
                if busy:
                    killed_at = int(line.split()[1])
                    os.kill(child.pid, signal.SIGKILL)  # mid-session, orders open
                    break
        child.wait(10)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait(10)
    assert killed_at, "no bar with open orders and fills before the deadline"
    assert child.returncode == -signal.SIGKILL
    before = exchange_view(emu)
    assert before[4], "orders were open when the process died"

    clock = ManualClock(emu.now_ms)
    clock.on_advance(emu.advance_to)

    async def restart():
        session = await open_live(crash_config(emu.base_url, state), confirm_live=True,
                                  broker_factory=ccxt_broker_factory, clock=clock,
                                  environ=ENV, settings=CRASH_SETTINGS)
        runner = session.runner
        try:
            await runner.start()
            store = session.broker.store
            # Right after the restart, before any new decision: the exchange's state.
            assert_state_equals_exchange(emu, store, runner.engine)
            await runner.run(max_bars=12)  # and it trades on from there
            session.broker.flush(10)
            runner.pump_broker(wait=True)
            assert_state_equals_exchange(emu, store, runner.engine)
        finally:
            await session.close()
        return session, runner

    session, runner = asyncio.run(restart())
    records = read_journal(session.journal_path)
    recon = [r.payload for r in records if r.kind == "reconcile"]
    assert recon and recon[0]["ok"], recon
    assert not runner.summary.alerts
    assert runner.summary.orders > 0

    sessions = [r.payload for r in records if r.kind == "session"]
    assert len(sessions) == 2  # the killed session and the restart, in one journal
    restored = sessions[1]["restored_orders"]
    assert sorted(o["client_id"] for o in restored) == before[4]  # what was open at the kill
    report = replay(session.journal_path, Ladder(), load_profile("moderate"))
    print(report.format())
    assert report.segments == 2
    assert report.ok, report.format()
    second = next(i for i, r in enumerate(records) if r.kind == "session" and r.payload is
                  sessions[1])
    cancelled_later = {r.payload["order_id"] for r in records[second:] if r.kind == "cancel"}
    assert cancelled_later & {o["order_id"] for o in restored}  # the restart managed them
