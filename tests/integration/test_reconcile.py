"""Reconciliation, and the crash test: SIGKILL a trading process, restart, lose nothing."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from emulator import BinanceEmulator, Fault
from live_helpers import API_KEY, SECRET, at_bar, binance_client, make_broker

from tradeloom.adapters.live.reconcile import ReconcilePolicy, reconcile
from tradeloom.engine.orders import Order, OrderType, Side

SYMBOL = "BTC/USDT"
ROOT = Path(__file__).resolve().parents[2]
SUPPORT = ROOT / "tests" / "support"  # the child imports live_helpers/emulator from here

CHILD = """
import sys, time
sys.path.insert(0, {support!r})
from live_helpers import make_broker
from emulator import BinanceEmulator
from tradeloom.adapters.live.reconcile import reconcile
from tradeloom.engine.orders import Order, OrderType, Side

class Remote:  # the parent's emulator, seen from this process: just its URLs
    base_url = "http://127.0.0.1:{port}"
    ws_url = "ws://127.0.0.1:{port}/stream"

broker, store = make_broker(Remote, {path!r}, run_id="crash", timeout_ms=60_000)
assert reconcile(broker, store, 0).ok  # the balance baseline
for i in range(1, 5):
    broker.submit(Order(i, "BTC/USDT", Side.BUY, OrderType.LIMIT, 0.01, created_ts=0,
                        price={low}), 0)
broker.submit(Order(5, "BTC/USDT", Side.BUY, OrderType.MARKET, 0.02, created_ts=0), 0)
fills = broker.poll(0, wait=True)
print("READY", len(fills), flush=True)
sys.stdin.readline()  # the parent arms a fault: the next answer never arrives
broker.submit(Order(6, "BTC/USDT", Side.BUY, OrderType.LIMIT, 0.01, created_ts=0,
                    price={low}), 0)
broker.submit(Order(7, "BTC/USDT", Side.SELL, OrderType.MARKET, 0.01, created_ts=0), 0)
time.sleep(60)
"""


@pytest.fixture
def emu() -> Iterator[BinanceEmulator]:
    with BinanceEmulator([SYMBOL]) as emulator:
        emulator.add_account(API_KEY, SECRET, {"USDT": 10_000.0})
        at_bar(emulator, SYMBOL, 100)
        yield emulator


def far_below(emu: BinanceEmulator) -> float:
    return round(float(emu.bars(SYMBOL)["open"].iloc[100]) * 0.5, 2)


def test_sigkill_mid_session_then_restart_restores_the_exchange_state(
        emu: BinanceEmulator, tmp_path: Path) -> None:
    state = tmp_path / "live.sqlite"
    script = CHILD.format(support=str(SUPPORT), port=emu.port, path=str(state), low=far_below(emu))
    child = subprocess.Popen([sys.executable, "-c", script], stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                             cwd=ROOT)
    try:
        line = child.stdout.readline()
        assert line.startswith("READY 1"), child.stderr.read() if child.poll() else line
        emu.faults.inject(Fault.hang_after(30), path="/api/v3/order")
        child.stdin.write("go\n")
        child.stdin.flush()
        deadline = time.monotonic() + 10
        while len(emu.trading.orders) < 6 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert len(emu.trading.orders) == 6  # order 6 accepted; its answer never came
        os.kill(child.pid, signal.SIGKILL)  # mid-session: 5 orders open, 7 queued unsent
        child.wait(10)
    finally:
        if child.poll() is None:
            child.kill()
            child.wait(10)
    emu.faults.clear()

    broker, store = make_broker(emu, state, run_id="crash")
    try:
        pending = [r.client_id for r in store.orders() if r.status == "pending"]
        assert pending == ["tl-crash-6"]  # the intent was stored before the send
        report = reconcile(broker, store, emu.now_ms)
        assert report.ok, report.problems
        assert report.updated == ("tl-crash-6",) and report.foreign == ()

        exchange_open = sorted(o.client_id for o in emu.trading.open_orders(API_KEY))
        local_open = sorted(r.client_id for r in store.orders(working_only=True))
        assert local_open == exchange_open == [f"tl-crash-{i}" for i in (1, 2, 3, 4, 6)]
        per_id = Counter(o.client_id for o in emu.trading.orders.values())
        assert max(per_id.values()) == 1  # no duplicate order
        assert "tl-crash-7" not in per_id  # queued, never sent: nothing to recover
        exchange_trades = sorted(str(t.trade_id) for t in emu.trading.trades)
        assert sorted(f.trade_id for f in store.fills()) == exchange_trades  # none lost
        assert store.order("tl-crash-5").status == "filled"

        order = Order(1, SYMBOL, Side.BUY, OrderType.MARKET, 0.01, created_ts=0)
        broker.submit(order, 0)  # the restarted run continues the sequence
        assert int(order.client_id.rsplit("-", 1)[1]) > 7
        broker.poll(0, wait=True)
        again = reconcile(broker, store, emu.now_ms)
        assert again.ok and again.updated == () and again.adopted == ()
    finally:
        broker.close()
        store.close()


def test_unknown_orders_adopted_or_foreign_and_balance_mismatch(
        emu: BinanceEmulator, tmp_path: Path) -> None:
    broker, store = make_broker(emu, tmp_path / "s.sqlite", run_id="r9")
    client = binance_client(emu)
    try:
        assert reconcile(broker, store, 0).ok
        low = far_below(emu)
        client.create_order(SYMBOL, "limit", "buy", 0.01, low, params={"clientOrderId": "tl-r9-500"})
        client.create_order(SYMBOL, "limit", "buy", 0.01, low, params={"clientOrderId": "manual-1"})
        report = reconcile(broker, store, 0)
        assert report.adopted == ("tl-r9-500",) and report.foreign == ("manual-1",)
        assert report.ok and store.order("tl-r9-500").origin == "adopted"
        assert store.next_seq() > 500  # an adopted id is never handed out again
        assert any(o.client_id == "manual-1" for o in emu.trading.open_orders())

        report = reconcile(broker, store, 0, ReconcilePolicy(foreign_orders="cancel"))
        assert report.cancelled_foreign == ("manual-1",)
        assert [o.client_id for o in emu.trading.open_orders()] == ["tl-r9-500"]

        client.create_order(SYMBOL, "market", "buy", 0.01)  # a trade the state cannot know
        report = reconcile(broker, store, 0)
        assert not report.ok and set(report.mismatches) == {"BTC", "USDT"}
        assert "BTC: expected 0" in report.problems[0]
    finally:
        broker.close()
        store.close()
