"""Live starts as written and is operable, against the venue-faithful Binance emulator
(real ccxt client, real clock, 127.0.0.1 only):

- a config without ``run_id`` gets a valid derived one; a restart resumes the stored one;
  each session journals to its own file;
- a start that fails before trading (unknown symbol, refused key) leaves the state dir
  exactly as it was: no journal, no ``sessions.jsonl`` line, no audit entry;
- the kill cancels this runner's orders only (an order placed by hand stays), ``all``
  cancels every order of the account, and each reports the count it really cancelled;
- a runner restarted with the kill flag still present kills at once, its latency
  counted from that start, not from when the flag was written;
- PnL counts from the equity at start with the held coins marked;
- market rules reloaded mid-session (the venue changed the lot step) are journaled and
  used for the next order.
"""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import json
import os
import time
from pathlib import Path

import ccxt
import pytest
from venues.testing import API_KEY, SECRET

from tradeloom.adapters.live.journal import read_journal
from tradeloom.adapters.live.runner import RunnerSettings
from tradeloom.adapters.live.safety import write_kill_flag
from tradeloom.adapters.ops.status_publisher import StatusPublisher
from tradeloom.app.live_config import LiveConfig
from tradeloom.app.session import open_live, open_paper
from tradeloom.cli.live import ccxt_broker_factory
from tradeloom.engine.errors import ConfigError, ExchangeAuthenticationError
from tradeloom.engine.orders import Bar, Order, OrderType, Side
from tradeloom.engine.strategy.base import Strategy

pytest_plugins = ["venues.fixtures"]

ENV = {"TRADELOOM_API_KEY": API_KEY, "TRADELOOM_API_SECRET": SECRET}
HOUR = 3_600_000
PRICE = 30_000.0
FAST = RunnerSettings(kill_poll_s=0.2, broker_poll_s=0.2, cancel_timeout_s=5.0,
                      settle_orders=True)


class RestingLimit(Strategy):
    """One limit buy 5 % under the close on its first bar: it rests on the book."""

    def on_bar(self, ctx, bar):
        if not ctx.open_orders():
            ctx.buy(bar.symbol, 0.01, price=round(bar.close * 0.95, 2))


RESTING = f"{os.path.abspath(__file__)}:RestingLimit"


def config(emu, tmp: Path, **over) -> LiveConfig:
    data = {"strategy": RESTING, "symbols": ["BTC/USDT"], "timeframe": "1h",
            "exchange": {"id": "binance", "api_url": emu.api_url, "ws_url": emu.ws_url,
                         "enable_rate_limit": False, "timeout_ms": 5_000},
            "risk_profile": "moderate", "account": "venue", "state_dir": tmp / "state",
            "runner": {"poll_delay_ms": 0}}
    data.update(over)
    return LiveConfig(**data)


def one_bar(runner) -> None:
    """Step a closed bar at the venue's price (the strategy decides on it)."""
    ts = runner.engine.ctx.now
    runner.on_bar(Bar("BTC/USDT", ts, ts + HOUR, PRICE, PRICE + 10, PRICE - 10, PRICE, 5.0))


def snapshot(folder: Path) -> dict[str, str]:
    if not folder.exists():
        return {}
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def open_orders(emu) -> list[str]:
    with emu.engine.lock:
        return sorted(o.client_id for o in emu.engine.open_orders(emu.account(API_KEY), None))


@pytest.fixture
def venue(binance):
    binance.set_price("BTC/USDT", PRICE)
    return binance


async def _live(cfg, **kw):
    return await open_live(cfg, confirm_live=True, broker_factory=ccxt_broker_factory,
                           environ=kw.pop("environ", ENV), settings=kw.pop("settings", FAST),
                           **kw)


def test_without_run_id_a_valid_stable_id_and_a_journal_per_session(venue, tmp_path):
    cfg = config(venue, tmp_path)  # no run_id, as the README's config

    async def twice():
        ids, journals = [], []
        for _ in range(2):
            session = await _live(cfg)
            await session.runner.start()
            ids.append(session.run_id)
            journals.append(session.journal_path)
            await session.close()
        paper = await open_paper(cfg)
        await paper.close()
        return ids, journals, paper

    ids, journals, paper = asyncio.run(twice())
    assert ids[0] == ids[1] and ids[0].startswith("l") and len(ids[0]) == 10
    assert journals[0] != journals[1] and all(p.is_file() for p in journals)
    assert paper.run_id.startswith("p") and paper.run_id != ids[0]
    changed = config(venue, tmp_path, params={})  # same account, stored id wins
    changed = LiveConfig.model_validate({**changed.model_dump(),
                                         "strategy": f"{os.path.abspath(__file__)}:Other"})

    async def resumed():
        session = await _live(changed)
        await session.close()
        return session.run_id

    assert asyncio.run(resumed()) == ids[0]


class Other(RestingLimit):
    """Another strategy class on the same account."""


def test_a_start_that_fails_before_trading_leaves_the_state_dir_as_it_was(venue, tmp_path):
    bad_symbol = config(venue, tmp_path, symbols=["DOGE/USDT"])
    with pytest.raises(ConfigError, match="DOGE/USDT"):
        asyncio.run(_live(bad_symbol))
    assert not bad_symbol.state_dir.exists()
    refused_key = {**ENV, "TRADELOOM_API_SECRET": "not-the-secret"}
    with pytest.raises(ExchangeAuthenticationError):
        asyncio.run(_live(config(venue, tmp_path), environ=refused_key))
    assert not bad_symbol.state_dir.exists()

    cfg = config(venue, tmp_path)

    async def one_session():
        session = await _live(cfg)
        await session.runner.run(max_bars=0)
        await session.close()
        session.broker.store.close()  # its WAL checkpointed now, not whenever GC runs

    asyncio.run(one_session())
    before = snapshot(cfg.state_dir)
    assert "sessions.jsonl" in before and "audit.jsonl" not in before  # a first start
    with pytest.raises(ExchangeAuthenticationError):
        asyncio.run(_live(cfg, environ=refused_key))
    with pytest.raises(ConfigError, match="DOGE/USDT"):
        asyncio.run(_live(config(venue, tmp_path, symbols=["DOGE/USDT"])))
    assert snapshot(cfg.state_dir) == before  # no journal, no session line, no audit entry
    asyncio.run(one_session())  # the lock was released each time: a good start works
    audit = [json.loads(x) for x in (cfg.state_dir / "audit.jsonl").read_text().splitlines()]
    assert [a["kind"] for a in audit] == ["restart"]


def _place_by_hand(emu) -> None:
    client = ccxt.binance(emu.ccxt_config(API_KEY, SECRET, enableRateLimit=False))
    client.load_markets()
    client.create_order("BTC/USDT", "limit", "buy", 0.001, PRICE * 0.9,
                        {"newClientOrderId": "by-hand-1"})


@pytest.mark.parametrize("scope", ["runner", "all"])
def test_kill_cancels_the_runners_orders_unless_all_and_counts_them(venue, tmp_path, scope):
    _place_by_hand(venue)
    cfg = config(venue, tmp_path, run_id="k1")

    async def main():
        session = await _live(cfg)
        runner = session.runner
        try:
            await runner.start()
            one_bar(runner)
            assert open_orders(venue) == ["by-hand-1", "tl-k1-1"]
            write_kill_flag(cfg.state_dir, "venue", "test kill", scope)
            await runner.round()
        finally:
            await session.close()
        return runner, session.journal_path

    runner, journal = asyncio.run(main())
    done = next(r.payload for r in read_journal(journal) if r.kind == "kill_done")
    if scope == "runner":
        assert open_orders(venue) == ["by-hand-1"]  # not this runner's: it stays
        assert done["cancelled"] == runner.summary.kill_cancelled == 1
    else:
        assert open_orders(venue) == []
        assert done["cancelled"] == runner.summary.kill_cancelled == 2
    assert done["scope"] == scope and runner.risk.killed


def test_kill_latency_after_a_restart_with_the_flag_present_counts_from_the_start(
        venue, tmp_path):
    cfg = config(venue, tmp_path, run_id="k2")

    async def first():
        session = await _live(cfg)
        await session.runner.start()
        one_bar(session.runner)
        await session.close()  # the order rests on the exchange

    asyncio.run(first())
    assert open_orders(venue) == ["tl-k2-1"]
    flag = write_kill_flag(cfg.state_dir, "venue", "left over from last night")
    hour_ago = time.time() - 3_600
    os.utime(flag, (hour_ago, hour_ago))

    async def restart():
        started = time.monotonic()
        session = await _live(cfg)
        try:
            await session.runner.start()  # killed before its first decision
            measured = time.monotonic() - started
        finally:
            await session.close()
        return session.runner, measured

    runner, wall = asyncio.run(restart())
    latency = runner.summary.kill_latency_s
    print(f"kill latency after a restart with the flag present: {latency:.3f} s "
          f"(open + start took {wall:.3f} s)")
    assert open_orders(venue) == []  # the restored order, cancelled
    assert runner.summary.kill_cancelled == 1
    assert latency is not None and latency < 5.0  # not the flag's age (an hour)


def test_pnl_counts_from_the_marked_equity_at_start(venue, tmp_path):
    venue.set_balance(API_KEY, "BTC", "0.02")  # held before the session: not profit
    cfg = config(venue, tmp_path, run_id="p1", runner={"poll_delay_ms": 0,
                                                      "warmup_min_bars": 3})

    async def main():
        session = await _live(cfg)
        publisher = StatusPublisher(cfg.state_dir, session.run_id)
        session.runner.attach_publisher(publisher)
        try:
            await session.runner.start()
            publisher.tick(session.runner)  # what the runner does after each round
            return publisher.snapshot(session.runner, "running"), session.runner
        finally:
            await session.close()

    status, runner = asyncio.run(main())
    mark = runner.engine.portfolio.mark("BTC/USDT")
    assert status.initial_equity == pytest.approx(1_000.0 + 0.02 * mark)
    assert status.equity == pytest.approx(status.initial_equity) and status.pnl == \
        pytest.approx(0.0, abs=1e-9)


def test_market_rules_reloaded_mid_session_are_journaled_and_used(venue, tmp_path):
    cfg = config(venue, tmp_path, run_id="m1")

    async def main():
        session = await _live(cfg, settings=dataclasses.replace(FAST, markets_ttl_s=0.5))
        runner = session.runner
        try:
            await runner.start()
            assert runner.engine.markets["BTC/USDT"].lot_step == pytest.approx(1e-5)
            venue.set_rules("BTC/USDT", step_size="0.001")  # the venue changes LOT_SIZE
            await runner.round()
            assert runner.markets.refreshes == 0  # not due yet: the old rules hold
            assert runner.engine.markets["BTC/USDT"].lot_step == pytest.approx(1e-5)
            await asyncio.sleep(0.5)
            await runner.round()  # due: reloaded in the loop
            assert runner.markets.refreshes == 1
            changed = {s: runner.engine.markets[s] for s in ("BTC/USDT",)}
            # the sender rounds what it sends by the new rule too (it keeps its own copy)
            assert session.broker.sender.markets["BTC/USDT"].lot_step == pytest.approx(1e-3)
            order = Order(900, "BTC/USDT", Side.BUY, OrderType.LIMIT, 0.01234,
                          runner.engine.ctx.now, price=PRICE * 0.9)
            session.broker.submit(order, runner.engine.ctx.now)
            session.broker.flush(5)
        finally:
            await session.close()
        return runner, changed, order, session.journal_path

    runner, changed, order, journal = asyncio.run(main())
    assert changed["BTC/USDT"].lot_step == pytest.approx(1e-3)
    assert runner.engine.markets["BTC/USDT"].lot_step == pytest.approx(1e-3)
    assert order.amount == pytest.approx(0.012)  # the new step, not 0.01234
    record = next(r.payload for r in read_journal(journal) if r.kind == "markets")
    assert record["markets"]["BTC/USDT"]["lot_step"] == pytest.approx(1e-3)


def test_an_api_key_past_its_rotation_period_is_warned_about_at_start(venue, tmp_path,
                                                                       caplog):
    cfg = config(venue, tmp_path, run_id="a1",
                 credentials={"key_created": "2020-01-01", "rotate_after_days": 90})

    async def main():
        session = await _live(cfg)
        await session.close()
        return session.journal_path

    journal = asyncio.run(main())
    (warning,) = [r.payload for r in read_journal(journal) if r.kind == "warning"]
    assert warning["where"] == "credentials"
    assert "past its rotation period of 90 days" in warning["warning"]
    assert "past its rotation period" in caplog.text and API_KEY not in caplog.text
