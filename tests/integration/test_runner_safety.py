"""Live refuses to start unsafely; secrets never leak; the kill flag cancels open orders
within 10 s (measured against the emulator's exchange, real ccxt client)."""

from __future__ import annotations

import asyncio
import logging
import os
import time

import pytest
from live_helpers import API_KEY, SECRET
from runner_helpers import make_config

from tradeloom.adapters.clock import SystemClock
from tradeloom.adapters.live.runner import LiveRunner, RunnerParts, RunnerSettings
from tradeloom.adapters.live.safety import (
    AccountLock,
    AccountLocked,
    live_lock_key,
    write_kill_flag,
)
from tradeloom.app.live_config import LiveConfig, load_live_config
from tradeloom.app.session import open_live, open_paper, preflight_live
from tradeloom.cli.live import ccxt_broker_factory
from tradeloom.engine.accounting.portfolio import Portfolio
from tradeloom.engine.errors import ConfigError, TradeloomError
from tradeloom.engine.orders import Bar
from tradeloom.engine.run.loop import Engine
from tradeloom.engine.sim.broker import SimulatedBroker
from tradeloom.engine.strategy.base import Strategy

ENV = {"TRADELOOM_API_KEY": API_KEY, "TRADELOOM_API_SECRET": SECRET}


class RestingLimit(Strategy):
    """Places one below-market (inside the risk price band) limit buy on its first bar (it rests on the exchange)."""

    def on_bar(self, ctx, bar):
        if not ctx.open_orders():
            ctx.buy(bar.symbol, 0.01, price=round(bar.close * 0.95, 2))


def test_live_refuses_without_confirm_live(emulator, tmp_path):
    with pytest.raises(ConfigError, match="--confirm-live"):
        preflight_live(make_config(emulator, tmp_path), confirm_live=False, environ=ENV)


def test_live_refuses_without_risk_profile(emulator, tmp_path):
    with pytest.raises(ConfigError, match="risk_profile"):
        preflight_live(make_config(emulator, tmp_path, risk_profile=None), confirm_live=True,
                       environ=ENV)


def test_live_refuses_without_credentials(emulator, tmp_path):
    with pytest.raises(ConfigError, match="TRADELOOM_API_KEY"):
        preflight_live(make_config(emulator, tmp_path), confirm_live=True, environ={})
    secrets = tmp_path / "secrets.toml"
    secrets.write_text(f'api_key = "{API_KEY}"\nsecret = "{SECRET}"\n')
    os.chmod(secrets, 0o644)
    cfg = make_config(emulator, tmp_path, credentials={"secrets_file": secrets})
    with pytest.raises(ConfigError, match="chmod 600") as info:
        preflight_live(cfg, confirm_live=True, environ={})
    assert API_KEY not in str(info.value)
    os.chmod(secrets, 0o600)
    _, creds = preflight_live(cfg, confirm_live=True, environ={})
    assert creds.api_key == API_KEY and API_KEY not in repr(creds)


def test_config_rejects_credential_fields_without_echoing_them(emulator, tmp_path):
    path = tmp_path / "live.toml"
    path.write_text(f'strategy = "x.py:S"\nsymbols = ["BTC/USDT"]\n[exchange]\nid = "binance"\n'
                    f'[exchange.options]\nsecret = "{SECRET}"\n')
    with pytest.raises(ConfigError, match="exchange.options.secret") as info:
        load_live_config(path)
    assert SECRET not in str(info.value)
    with pytest.raises(ConfigError, match="looks like a credential"):
        LiveConfig(strategy="x.py:S", symbols=["BTC/USDT"], exchange={"id": "binance"},
                   apiKey=API_KEY)


def test_live_refuses_when_the_account_is_locked(emulator, tmp_path):
    cfg = make_config(emulator, tmp_path)
    with AccountLock(live_lock_key("binance", API_KEY), cfg.account), \
            pytest.raises(AccountLocked, match="locked by another runner"):
        asyncio.run(open_live(cfg, confirm_live=True, broker_factory=ccxt_broker_factory,
                              environ=ENV))


def test_the_lock_is_the_exchange_account_not_the_state_folder(emulator, tmp_path):
    """Two configs, two state dirs and two account names, one API key: the second live
    start refuses while the first session is open - and leaves its state dir untouched."""
    emulator.add_account(API_KEY, SECRET, {"USDT": 1_000.0})
    first = make_config(emulator, tmp_path / "a", account="desk-a", run_id="a1")
    second = make_config(emulator, tmp_path / "b", account="desk-b", run_id="b1")

    async def main():
        session = await open_live(first, confirm_live=True, broker_factory=ccxt_broker_factory,
                                  environ=ENV)
        try:
            with pytest.raises(AccountLocked, match="desk-a") as info:
                await open_live(second, confirm_live=True, broker_factory=ccxt_broker_factory,
                                environ=ENV)
        finally:
            await session.close()
        return info.value

    refusal = asyncio.run(main())
    assert str(first.state_dir.resolve()) in str(refusal)  # who holds it, and where
    assert not second.state_dir.exists()
    assert API_KEY not in str(refusal)


def test_live_runner_refuses_to_start_without_a_risk_engine():
    pf = Portfolio(1000.0)
    engine = Engine(RestingLimit(), SimulatedBroker({}, pf), pf, symbols=["BTC/USDT"], risk=None)
    with pytest.raises(ConfigError, match="no RiskEngine"):
        LiveRunner(engine, RunnerParts(feed=None, client=None, journal=None, clock=SystemClock(),
                                       timings=None, exchange_id="binance", session={},
                                       live=True))


def test_wrong_secret_error_never_contains_key_or_secret(emulator, tmp_path, caplog):
    emulator.add_account(API_KEY, SECRET)
    caplog.set_level(logging.DEBUG)
    bad = {"TRADELOOM_API_KEY": API_KEY, "TRADELOOM_API_SECRET": SECRET[::-1]}
    cfg = make_config(emulator, tmp_path)
    with pytest.raises(TradeloomError) as info:
        asyncio.run(open_live(cfg, confirm_live=True, broker_factory=ccxt_broker_factory,
                              environ=bad))
    for text in (str(info.value), repr(info.value), caplog.text):
        assert API_KEY not in text and SECRET not in text and SECRET[::-1] not in text


@pytest.mark.parametrize("how", ["flag", "api"])
def test_kill_cancels_open_orders_within_10s(emulator, tmp_path, caplog, how):
    """Real clock, real exchange round trips: kill flag written (or ``LiveRunner.kill()``
    called) -> order cancelled on the exchange, timed."""
    emulator.add_account(API_KEY, SECRET)
    caplog.set_level(logging.DEBUG)
    open_ts = int(emulator.bars("BTC/USDT")["ts"].iloc[300])
    emulator.now_ms = open_ts + 1_000
    strategy = f"{os.path.abspath(__file__)}:RestingLimit"
    cfg = make_config(emulator, tmp_path, strategy=strategy, params={},
                      risk_profile="moderate")
    settings = RunnerSettings(kill_poll_s=1.0, max_drift_ms=10**13, broker_poll_s=1.0,
                              settle_orders=True)

    async def main():
        session = await open_live(cfg, confirm_live=True, broker_factory=ccxt_broker_factory,
                                  environ=ENV, settings=settings)
        runner = session.runner
        try:
            await runner.start()
            row = emulator.bars("BTC/USDT").iloc[299]
            runner.on_bar(Bar("BTC/USDT", int(row.ts), int(row.ts) + 3_600_000, float(row.open),
                              float(row.high), float(row.low), float(row.close),
                              float(row.volume)))
            assert len(emulator.trading.open_orders(API_KEY)) == 1, (runner.engine.orders, runner.engine.risk.records())
            task = asyncio.create_task(runner.run())
            await asyncio.sleep(0.3)
            flagged = time.monotonic()
            if how == "flag":
                write_kill_flag(cfg.state_dir, cfg.account, "test kill")
            else:
                runner.kill("api test")
            while emulator.trading.open_orders(API_KEY) and time.monotonic() - flagged < 15:
                await asyncio.sleep(0.01)
            latency = time.monotonic() - flagged
            runner.stop()
            await task
        finally:
            await session.close()
        return latency, runner

    latency, runner = asyncio.run(main())
    print(f"kill ({how}) latency: {latency:.3f} s (runner measured {runner.summary.kill_latency_s:.3f} s)")
    assert not emulator.trading.open_orders(API_KEY)
    assert latency < 10.0
    assert runner.risk.killed  # new entries blocked
    outputs = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert outputs
    for path in outputs:
        data = path.read_bytes()
        assert API_KEY.encode() not in data and SECRET.encode() not in data, path
    assert API_KEY not in caplog.text and SECRET not in caplog.text


def test_paper_session_starts_killed_when_the_flag_is_present(emulator, tmp_path):
    from runner_helpers import SIM_SETTINGS, start_at

    cfg = make_config(emulator, tmp_path)
    write_kill_flag(cfg.state_dir, None, "maintenance")
    clock = start_at(emulator, 300)

    async def main():
        session = await open_paper(cfg, clock=clock, settings=SIM_SETTINGS)
        try:
            return await session.runner.run(max_bars=60), session
        finally:
            await session.close()

    summary, session = asyncio.run(main())
    assert session.runner.killed and summary.kill_latency_s is not None
    assert summary.orders == 0 or all(
        o.status.value == "rejected" for o in session.runner.engine.orders)


def test_clock_drift_above_threshold_pauses_entries(emulator, tmp_path):
    """Local clock 5 s behind the exchange (limit 1 s): paused from the start, entries refused."""
    import asyncio as _asyncio

    from runner_helpers import SIM_SETTINGS, start_at

    from tradeloom.adapters.live.journal import read_journal

    cfg = make_config(emulator, tmp_path)
    clock = start_at(emulator, 300, skew_ms=5_000)

    async def main():
        session = await open_paper(cfg, clock=clock, settings=SIM_SETTINGS)
        try:
            return await session.runner.run(max_bars=80), session
        finally:
            await session.close()

    summary, session = _asyncio.run(main())
    records = read_journal(session.journal_path)
    drift = [r.payload for r in records if r.kind == "drift"]
    assert drift and all(abs(d["offset_ms"] - 5_000) <= 1 and d["paused"] for d in drift)
    assert any(r.kind == "pause" for r in records) and summary.paused
    assert not [r for r in records if r.kind == "submit"]
    decisions = session.runner.engine.risk.records()
    assert decisions and all(not d["approved"] for d in decisions)
