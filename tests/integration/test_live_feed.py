"""Live bars from the emulator through the real ccxt client: closed bars only, aligned to
close, deduplicated, missed bars backfilled; the same through watch_ohlcv."""

from __future__ import annotations

import asyncio

from emulator import Fault
from runner_helpers import HOUR, exchange_settings, start_at

from tradeloom.adapters.ccxt.bar_feed import PollingBarFeed, WatchBarFeed
from tradeloom.adapters.ccxt.exchange import make_client
from tradeloom.adapters.clock import ManualClock
from tradeloom.adapters.live.warmup import load_warmup


def _expected(emu, start_ts, n):
    frame = emu.bars("BTC/USDT")
    rows = frame[frame["ts"] >= start_ts].head(n)
    return [(int(r.ts), float(r.close)) for r in rows.itertuples()]


def _poll_session(emu, index, rounds, *, fault=None, jump_bars=0):
    clock = start_at(emu, index)
    reports = []

    async def main():
        client = make_client(exchange_settings(emu), async_=True)
        feed = PollingBarFeed(client, ["BTC/USDT"], "1h", clock=clock, poll_delay_ms=1_500,
                              report=lambda k, p: reports.append((k, p)))
        first_open = clock.now_ms() - clock.now_ms() % HOUR
        feed.start_after({"BTC/USDT": first_open - HOUR})  # the open bar is next
        got = []
        try:
            for i in range(rounds):
                if fault is not None and i == 2:
                    emu.faults.inject(fault, path="/api/v3/klines")
                if jump_bars and i == 3:
                    await clock.sleep(jump_bars * 3600)  # the runner was away
                bars = await feed.next_bars(timeout_s=3 * 3600)
                got += [(b, clock.now_ms(), emu.now_ms) for b in bars]
        finally:
            await client.close()
        return got, feed

    got, feed = asyncio.run(main())
    return got, reports, feed


def test_polling_delivers_closed_bars_at_close_never_the_open_one(emulator):
    got, reports, _ = _poll_session(emulator, 300, 12)
    bars = [b for b, _, _ in got]
    first = bars[0].ts
    assert [(b.ts, b.close) for b in bars] == _expected(emulator, first, len(bars))
    for bar, local, exchange_now in got:
        assert bar.close_ts <= exchange_now  # closed when delivered
        assert local - bar.close_ts <= 1_500 + 1_000  # polled shortly after the close
    assert len(bars) == 11 and len({b.ts for b in bars}) == 11  # round 1: nothing closed yet
    assert not [r for r in reports if r[0] != "gap"]


def test_missed_bars_are_backfilled_in_order_after_an_outage(emulator):
    got, _, _ = _poll_session(emulator, 300, 8, jump_bars=5)
    bars = [b for b, _, _ in got]
    assert [b.ts for b in bars] == list(range(bars[0].ts, bars[0].ts + len(bars) * HOUR, HOUR))
    assert [(b.ts, b.close) for b in bars] == _expected(emulator, bars[0].ts, len(bars))
    assert max(len([1 for b2, loc2, _ in got if loc2 == loc]) for _, loc, _ in got) >= 5


def test_transient_exchange_error_is_retried_without_losing_a_bar(emulator):
    got, reports, _ = _poll_session(emulator, 300, 8, fault=Fault.http(503))
    bars = [b for b, _, _ in got]
    assert [b.ts for b in bars] == list(range(bars[0].ts, bars[0].ts + len(bars) * HOUR, HOUR))
    assert [k for k, _ in reports] == ["transient_error"]


def test_warmup_from_exchange_stops_before_the_open_bar(emulator):
    clock = start_at(emulator, 300)

    async def main():
        client = make_client(exchange_settings(emulator), async_=True)
        try:
            return await load_warmup(client, ["BTC/USDT"], "1h", HOUR, 20,
                                     exchange_now=clock.now_ms())
        finally:
            await client.close()

    bars = asyncio.run(main())
    open_ts = int(emulator.bars("BTC/USDT")["ts"].iloc[300])
    assert len(bars) == 20 and bars[-1].ts == open_ts - HOUR
    assert [(b.ts, b.close) for b in bars] == _expected(emulator, bars[0].ts, 20)


def test_watch_ohlcv_delivers_a_bar_once_the_next_one_starts(emulator):
    """ccxt.pro watch_ohlcv against the emulator's kline stream (real websocket)."""
    emulator.now_ms = int(emulator.bars("BTC/USDT")["ts"].iloc[300]) + 1_000
    clock = ManualClock(emulator.now_ms)

    async def main():
        client = make_client(exchange_settings(emulator), async_=True)
        feed = WatchBarFeed(client, ["BTC/USDT"], "1h", clock=clock, grace_ms=60_000)
        open_ts = clock.now_ms() - clock.now_ms() % HOUR
        feed.start_after({"BTC/USDT": open_ts - HOUR})
        got = []
        try:
            await feed.next_bars(timeout_s=1.0)  # subscribe; the open bar is not delivered
            for _ in range(4):
                target = emulator.now_ms + HOUR
                emulator.advance_to(target)
                clock.set(target)
                for _ in range(20):
                    bars = await feed.next_bars(timeout_s=0.5)
                    if bars:
                        got += bars
                        break
        finally:
            await feed.close()
            await client.close()
        return got, open_ts

    got, open_ts = asyncio.run(main())
    assert [b.ts for b in got] == [open_ts + i * HOUR for i in range(4)]
    assert [(b.ts, b.close) for b in got] == _expected(emulator, open_ts, 4)
