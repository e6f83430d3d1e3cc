"""Trade ticks through the live runner (ccxt.pro watch_trades -> the emulator's
``<symbol>@trade`` stream on 127.0.0.1), and bars aggregated from trades."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from emulator.binance_trades import TRADES_PER_BAR
from runner_helpers import HOUR, exchange_settings, make_config, start_at

from tradeloom.adapters.ccxt.exchange import make_client
from tradeloom.adapters.ccxt.trade_feed import TradeBarFeed
from tradeloom.adapters.clock import ManualClock
from tradeloom.adapters.config.risk_profiles import load_profile
from tradeloom.adapters.live.journal import read_journal
from tradeloom.adapters.live.replay import replay
from tradeloom.adapters.live.runner import RunnerSettings
from tradeloom.app.session import open_paper
from tradeloom.engine.orders import OrderType

PROBE = f"{Path(__file__).resolve().parents[1] / 'support' / 'live_strategies' / 'tick_probe.py'}:TickProbe"
QUARTER = HOUR // TRADES_PER_BAR
#: Real-time waits are short (the manual clock moves the market); drift is checked once.
TICK_SETTINGS = RunnerSettings(kill_poll_s=0.05, drift_check_s=10 * 24 * 3600,
                               broker_poll_s=0.05)
BARS = 12


async def _until(cond, runner, rounds: int = 400) -> None:
    for _ in range(rounds):
        if cond():
            return
        await runner.round()
    raise AssertionError("the runner never caught up with the emulator")


def test_paper_session_with_ticks_on_trade_fills_and_replay(emulator, tmp_path):
    clock = start_at(emulator, 300)
    config = make_config(emulator, tmp_path, strategy=PROBE,
                         params={"dip": 0.002, "rise": 0.002, "size": 0.01},
                         runner={"feed": "watch", "trades": True})

    async def main():
        session = await open_paper(config, clock=clock, settings=TICK_SETTINGS)
        runner = session.runner
        try:
            await runner.start()
            await runner.round()  # subscribe (klines and trades)
            await asyncio.sleep(0.2)
            bar_open = clock.now_ms() - clock.now_ms() % HOUR
            for i in range(BARS):
                for q in range(1, TRADES_PER_BAR + 1):
                    clock.set(bar_open + q * QUARTER + 1_000)
                    want_ticks = i * TRADES_PER_BAR + q  # the trades since subscribing
                    await _until(lambda w=want_ticks: runner.summary.ticks >= w, runner)
                bar_open += HOUR
                await _until(lambda i=i: runner.summary.bars >= i + 1, runner)
            runner.finish()
        finally:
            await session.close()
        return session

    session = asyncio.run(main())
    runner, strategy = session.runner, session.runner.engine.strategy
    records = read_journal(session.journal_path)
    trades = [r.payload for r in records if r.kind == "trade"]
    assert runner.summary.ticks == len(trades) >= BARS * TRADES_PER_BAR
    assert not [r for r in records if r.kind == "feed_late_trade"]
    # on_trade saw every journaled tick, in journal order, never going back in time
    assert strategy.ticks == [(t["symbol"], t["ts"], t["price"]) for t in trades]
    assert [t[1] for t in strategy.ticks] == sorted(t[1] for t in strategy.ticks)
    # a tick comes before the bar closing after it: journal order is engine order
    order = [(r.payload["ts"] if r.kind == "trade" else r.payload["close_ts"], r.kind)
             for r in records if r.kind in ("trade", "bar")]
    assert [t for t, _ in order] == sorted(t for t, _ in order)
    # the emulator's trades of each bar: open, then low/high, then close
    bars = emulator.bars("BTC/USDT").set_index("ts")
    for t in trades:
        row = bars.loc[t["ts"] - t["ts"] % HOUR]
        assert t["price"] in (row.open, row.high, row.low, row.close)
    # resting limits filled at a tick (not at a bar), at their limit price
    engine = runner.engine
    orders = {o.id: o for o in engine.orders}
    tick_ts = {t["ts"] for t in trades}
    limit_fills = [f for f in engine.fills if orders[f.order_id].type is OrderType.LIMIT]
    assert limit_fills, "the ladder's limits should fill at some ticks"
    for f in limit_fills:
        assert f.ts in tick_ts and f.ts % HOUR != 0
        assert f.price == orders[f.order_id].price

    report = replay(session.journal_path, strategy.__class__(dip=0.002, rise=0.002, size=0.01),
                    load_profile("moderate"))
    assert report.ok, report.format()
    assert len(report.journal_commands) >= 4


def test_bars_aggregated_from_trades_equal_the_klines(emulator):
    emulator.now_ms = int(emulator.bars("BTC/USDT")["ts"].iloc[300]) + 1_000
    clock = ManualClock(emulator.now_ms)
    clock.on_advance(emulator.advance_to)
    reports = []

    async def main():
        client = make_client(exchange_settings(emulator), async_=True)
        client.has["watchOHLCV"] = False  # as an exchange with trades but no candles
        feed = TradeBarFeed(client, ["BTC/USDT"], "1h", clock=clock,
                            report=lambda k, p: reports.append((k, p)))
        open_ts = clock.now_ms() - clock.now_ms() % HOUR
        feed.start_after({"BTC/USDT": open_ts - HOUR})
        got = []
        try:
            await feed.next_bars(timeout_s=0.5)  # subscribe mid-bar: that bar is not delivered
            for _ in range(6):
                for q in range(1, TRADES_PER_BAR + 1):
                    clock.set(clock.now_ms() - clock.now_ms() % QUARTER + QUARTER + 1_000)
                    for _ in range(20):
                        bars = await feed.next_bars(timeout_s=0.1)
                        got += bars
                        if bars or q < TRADES_PER_BAR:
                            break
        finally:
            await feed.close()
            await client.close()
        return got, open_ts, feed

    got, open_ts, feed = asyncio.run(main())
    assert [b.ts for b in got] == [open_ts + i * HOUR for i in range(6)]
    frame = emulator.bars("BTC/USDT").set_index("ts")
    for b in got:
        row = frame.loc[b.ts]
        assert (b.open, b.high, b.low, b.close) == (row.open, row.high, row.low, row.close)
        assert b.volume == pytest.approx(row.volume, rel=1e-12)
        assert b.close_ts == b.ts + HOUR
    # the bar in progress at subscription came over REST, every later one from trades
    assert [p["ts"] for k, p in reports if k == "bar_from_rest"] == [open_ts]
    assert feed.from_trades == 5
