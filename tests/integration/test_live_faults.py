"""Every fault the emulator injects, in a live session of a strategy (the Ladder: limit
orders resting, cancelled and filled every few bars): the runner carries on, and at the
end the local orders, fills and positions equal the exchange's - no order sent twice,
none lost, every fill booked once (``assert_state_equals_exchange``)."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from crash_config import CRASH_SETTINGS, LADDER
from emulator import BinanceEmulator, Fault
from live_helpers import API_KEY, SECRET
from runner_helpers import HOUR, exchange_settings, start_at
from test_live_crash import assert_state_equals_exchange

from tradeloom.adapters.live.journal import read_journal
from tradeloom.app.live_config import LiveConfig
from tradeloom.app.session import open_live
from tradeloom.cli.live import ccxt_broker_factory

ENV = {"TRADELOOM_API_KEY": API_KEY, "TRADELOOM_API_SECRET": SECRET}
ORDER = "/api/v3/order"
BARS = 16
#: The fault is armed this many bars into the session (orders are working by then).
ARM_AFTER_BARS = 4


def fault_config(emu: BinanceEmulator, tmp: Path, *, feed: str = "poll") -> LiveConfig:
    # A short recvWindow: a lost submit is looked up (and maybe re-sent) only once a late
    # copy of it would be refused as stale, i.e. 1 s + margin after it was sent.
    settings = exchange_settings(emu).model_copy(
        update={"timeout_ms": 1_000, "options": {"recvWindow": 1_000}})
    return LiveConfig(strategy=LADDER, params={}, symbols=["BTC/USDT"], timeframe="1h",
                      exchange=settings, risk_profile="moderate", account="faults",
                      state_dir=tmp / "state", run_id="f1",
                      runner={"poll_delay_ms": 0, "feed": feed})


def arm_later(emu: BinanceEmulator, clock: Any, arm: Callable[[], None]) -> list[int]:
    """Call ``arm`` once the clock is ``ARM_AFTER_BARS`` bars on; returns when it did."""
    at = clock.now_ms() + ARM_AFTER_BARS * HOUR
    armed: list[int] = []

    def hook(now: int) -> None:
        if now >= at and not armed:
            armed.append(now)
            arm()

    clock.on_advance(hook)
    return armed


def final_check(emu: BinanceEmulator, session: Any) -> None:
    """Let the broker finish what it sent, book its fills, compare with the exchange."""
    session.broker.flush(10)
    session.runner.pump_broker(wait=True)
    assert_state_equals_exchange(emu, session.broker.store, session.runner.engine)


def run_live(emu: BinanceEmulator, tmp: Path, arm: Callable[[], None], *,
             settings: Any = CRASH_SETTINGS, feed: str = "poll") -> tuple[Any, list[int]]:
    """A live Ladder session of ``BARS`` bars with ``arm`` called mid-session."""
    emu.add_account(API_KEY, SECRET, {"USDT": 10_000.0})
    clock = start_at(emu, 300)
    armed = arm_later(emu, clock, arm)

    async def main() -> Any:
        session = await open_live(fault_config(emu, tmp, feed=feed), confirm_live=True,
                                  broker_factory=ccxt_broker_factory, clock=clock, environ=ENV,
                                  settings=settings)
        try:
            await session.runner.run(max_bars=BARS)
            final_check(emu, session)
        finally:
            await session.close()
        return session

    return asyncio.run(main()), armed


def faulted(emu: BinanceEmulator, kind: str, path: str = ORDER) -> list[Any]:
    return [r for r in emu.log.records(path) if r.fault == kind]


def traded_on(session: Any) -> None:
    """The session went on after the fault: fills on both sides, orders after it."""
    records = read_journal(session.journal_path)
    sides = {r.payload["side"] for r in records if r.kind == "fill"}
    assert sides == {"buy", "sell"}, sides
    assert session.runner.summary.bars == BARS
    assert not session.runner.summary.alerts
    assert not [r for r in records if r.kind == "error"]


@pytest.mark.parametrize("fault", [Fault.hang_after(1.5), Fault.drop_after()],
                         ids=["timeout_after_acceptance", "dropped_after_acceptance"])
def test_lost_answer_after_the_exchange_accepted_the_order(emulator, tmp_path, fault):
    session, armed = run_live(emulator, tmp_path,
                              lambda: emulator.faults.inject(fault, path=ORDER, method="POST"))
    assert armed
    hit = faulted(emulator, fault.kind)
    assert len(hit) == 1 and hit[0].method == "POST"
    cid = hit[0].params["newClientOrderId"]
    posts = [r for r in emulator.log.records(ORDER) if r.method == "POST"
             and r.params.get("newClientOrderId") == cid]
    assert len(posts) == 1  # looked up by client id, never sent again
    assert session.broker.store.order(cid).exchange_id is not None
    traded_on(session)


def test_request_timeout_before_the_exchange_acts(emulator, tmp_path):
    session, _ = run_live(emulator, tmp_path, lambda: emulator.faults.inject(
        Fault.hang(1.5), path=ORDER, method="POST"))
    hit = faulted(emulator, "hang")
    assert len(hit) == 1
    cid = hit[0].params["newClientOrderId"]
    # The hung request timed out on our side; the exchange then placed it (late), and
    # the retry found it by client id: one order on the exchange either way.
    assert session.broker.store.order(cid).exchange_id is not None
    traded_on(session)


def test_429_with_retry_after_then_5xx(emulator, tmp_path):
    def arm() -> None:
        emulator.faults.inject(Fault.rate_limit(retry_after_s=1), path=ORDER, method="POST")
        emulator.faults.inject(Fault.http(503), path="/api/v3/openOrders")
        emulator.faults.inject(Fault.http(502), path="/api/v3/myTrades")

    session, _ = run_live(emulator, tmp_path, arm)
    assert len(faulted(emulator, "status", ORDER)) == 1
    assert len(faulted(emulator, "status", "/api/v3/openOrders")) == 1
    assert len(faulted(emulator, "status", "/api/v3/myTrades")) == 1
    assert emulator.faults.pending() == 0
    traded_on(session)


def test_stale_timestamps_are_retried_after_a_time_resync(emulator, tmp_path):
    def arm() -> None:  # the exchange's clock steps a minute ahead of ours
        with emulator.state.lock:
            emulator.trading.time_skew_ms = 60_000

    session, _ = run_live(emulator, tmp_path, arm)
    stale = [r for r in emulator.log.records() if r.path.startswith("/api/v3/")
             and r.params.get("timestamp") and r.fault is None]
    assert stale, "signed requests were made"
    assert session.broker.client.options["timeDifference"] != 0  # resynchronised
    traded_on(session)


def test_duplicate_fill_reports_are_booked_once(emulator, tmp_path):
    session, _ = run_live(emulator, tmp_path,
                          lambda: emulator.trading.duplicate_trade_reports(times=50))
    with emulator.state.lock:
        assert emulator.trading._duplicate_reports < 50  # duplicates were served
    traded_on(session)


def test_websocket_disconnect_reconnects_and_backfills_the_missed_bars(emulator, tmp_path):
    """The kline stream drops twice; bars closed meanwhile come back over REST, in order,
    once each, and trading goes on."""
    emu = emulator
    emu.add_account(API_KEY, SECRET, {"USDT": 10_000.0})
    clock = start_at(emu, 300)
    settings = dataclasses.replace(CRASH_SETTINGS, kill_poll_s=0.05, broker_poll_s=0.05)

    async def next_bar(runner: Any, want: int) -> None:
        for _ in range(200):
            if runner.summary.bars >= want:
                return
            await runner.round()
        raise AssertionError(f"bar {want} never came: {runner.summary.bars} bars")

    async def main() -> Any:
        session = await open_live(fault_config(emu, tmp_path, feed="watch"), confirm_live=True,
                                  broker_factory=ccxt_broker_factory, clock=clock, environ=ENV,
                                  settings=settings)
        runner = session.runner
        try:
            await runner.start()
            await runner.round()  # subscribe
            for bar in range(1, BARS + 1):
                if bar in (5, 11):  # drop the stream, then 3 bars close while it is down
                    emu.streams.disconnect_all()
                    clock.set(clock.now_ms() + 2 * HOUR)
                clock.set(clock.now_ms() + HOUR)
                await next_bar(runner, bar + (2 if bar in (5, 11) else 0))
                if runner.summary.bars >= BARS:
                    break
            runner.finish()
            final_check(emu, session)
        finally:
            await session.close()
        return session

    session = asyncio.run(main())
    records = read_journal(session.journal_path)
    ts = [r.payload["ts"] for r in records if r.kind == "bar"]
    assert ts == list(range(ts[0], ts[0] + len(ts) * HOUR, HOUR))  # contiguous, once each
    assert len(ts) >= BARS
    assert any(r.kind == "feed_transient_error" for r in records)
    traded_on_after_reconnect = [r for r in records if r.kind == "submit"
                                 and r.payload["ts"] > ts[12]]
    assert traded_on_after_reconnect
