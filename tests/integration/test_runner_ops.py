"""The runner's operations wiring: the status file from ``tradeloom paper``, audit entries
for kills and restarts, and alerts through the ``AlertRouter`` to a webhook on 127.0.0.1.

Real parts only: the Binance emulator, the real ccxt client, the real session builders,
the audit log on disk and an aiohttp receiver for the webhook sink.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import socket
from pathlib import Path

import typer
from aiohttp import web
from live_helpers import API_KEY, SECRET
from runner_helpers import PARAMS, SIM_SETTINGS, SMA, make_config, start_at
from typer.testing import CliRunner

from tradeloom.adapters.live.journal import read_journal
from tradeloom.adapters.live.safety import write_kill_flag
from tradeloom.adapters.ops.audit import AuditLog, verify
from tradeloom.adapters.ops.status import read_statuses
from tradeloom.app import session as session_mod
from tradeloom.app.session import open_live, open_paper
from tradeloom.cli.live import ccxt_broker_factory, paper
from tradeloom.engine.strategy.base import Strategy

ENV = {"TRADELOOM_API_KEY": API_KEY, "TRADELOOM_API_SECRET": SECRET}


def _paper_toml(emu, tmp: Path, run_id: str) -> Path:
    path = tmp / "paper.toml"
    path.write_text(
        f'strategy = "{SMA}"\nsymbols = ["BTC/USDT"]\ntimeframe = "1h"\n'
        f'risk_profile = "moderate"\naccount = "emu"\nstate_dir = "{tmp / "state"}"\n'
        f'run_id = "{run_id}"\n'
        "[params]\n" + "".join(f"{k} = {v}\n" for k, v in PARAMS.items())
        + f'[exchange]\nid = "binance"\napi_url = "{emu.base_url}"\nws_url = "{emu.ws_url}"\n'
        "enable_rate_limit = false\ntimeout_ms = 5000\n")
    return path


def test_paper_command_publishes_the_status_file(emulator, tmp_path, monkeypatch):
    """``tradeloom paper`` (the command function) attaches the StatusPublisher.

    The emulator's clock is simulated, so the session is opened on the tests' manual
    clock (the real ``open_paper``, only its clock and settings injected) and stopped
    after 30 bars, as Ctrl-C would."""
    config = _paper_toml(emulator, tmp_path, "cli1")
    clock = start_at(emulator, 300)
    real_open = session_mod.open_paper
    opened = []

    async def open_on_manual_clock(cfg, **kw):
        assert not kw, kw  # the command passes only the config
        session = await real_open(cfg, clock=clock, settings=SIM_SETTINGS)
        opened.append(session)
        clock.on_advance(lambda now: session.runner.summary.bars >= 30 and session.runner.stop())
        return session

    monkeypatch.setattr(session_mod, "open_paper", open_on_manual_clock)
    app = typer.Typer()
    app.command("paper")(paper)
    app.command("noop")(lambda: None)
    res = CliRunner().invoke(app, ["paper", str(config)])
    assert res.exit_code == 0, res.output
    status_file = tmp_path / "state" / "status" / "cli1.json"
    assert status_file.is_file() and str(status_file) in res.output.replace("\n", "")
    (status,) = read_statuses(tmp_path / "state")
    assert status.runner_id == "cli1" and status.state == "stopped" and status.mode == "paper"
    assert status.counters.bars == opened[0].runner.summary.bars >= 30
    assert status.account == "emu" and status.symbols == ("BTC/USDT",)


def _run_paper(cfg, clock, bars: int):
    async def main():
        session = await open_paper(cfg, clock=clock, settings=SIM_SETTINGS)
        try:
            summary = await session.runner.run(max_bars=bars)
        finally:
            await session.close()
        return session, summary

    return asyncio.run(main())


def test_kill_and_restart_are_audited(emulator, tmp_path, monkeypatch):
    monkeypatch.setenv("USER", "ana")
    state = tmp_path / "state"
    first, _ = _run_paper(make_config(emulator, tmp_path, run_id="a1"), start_at(emulator, 300), 10)
    audit_path = state / "audit.jsonl"
    assert not audit_path.exists()  # a first start in a fresh state dir: nothing to audit
    assert [json.loads(x)["run_id"] for x in (state / "sessions.jsonl").read_text().splitlines()] \
        == ["a1"]

    write_kill_flag(state, "emu", "operator kill: fat finger")
    session, summary = _run_paper(make_config(emulator, tmp_path, run_id="a2"),
                                  start_at(emulator, 320), 5)
    assert session.runner.killed and summary.kill_latency_s is not None
    records = AuditLog(audit_path).records()
    assert [r.kind for r in records] == ["restart", "kill"]
    restart, kill = records
    assert (restart.actor, restart.subject) == ("ana", "a2")
    assert restart.details["previous"]["run_id"] == "a1"
    assert restart.details["previous"]["journal"] == str(first.journal_path)
    assert restart.details["mode"] == "paper" and len(restart.details["config_hash"]) == 64
    assert (kill.actor, kill.subject) == ("kill flag KILL.emu", "a2")
    assert kill.details["reason"] == "operator kill: fat finger"
    assert kill.details["account"] == "emu" and kill.details["mode"] == "paper"
    report = verify(audit_path)
    assert report.ok and report.entries == 2, report.format()

    # audit_log in the config moves the log; the API kill names its actor
    other = tmp_path / "ops" / "audit.jsonl"
    cfg = make_config(emulator, tmp_path, run_id="a3", audit_log=other)
    (state / "KILL.emu").unlink()

    async def api_kill():
        s = await open_paper(cfg, clock=start_at(emulator, 340), settings=SIM_SETTINGS)
        try:
            await s.runner.start()
            await s.runner.round()
            s.runner.kill("risk desk call", actor="bob")
            await s.runner.round()
        finally:
            s.runner.finish()
            await s.close()
        return s

    killed = asyncio.run(api_kill())
    assert killed.runner.killed
    assert [(r.kind, r.actor, r.subject) for r in AuditLog(other).records()] == [
        ("restart", "ana", "a3"), ("kill", "bob", "a3")]
    assert AuditLog(other).records()[1].details["reason"] == "risk desk call"
    assert verify(other).ok and len(AuditLog(audit_path).records()) == 2


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_reconcile_mismatch_is_delivered_to_a_webhook(emulator, tmp_path):
    """Money leaves the account behind the runner's back (as in test_live_session): the
    reconciliation mismatch reaches a webhook receiver on 127.0.0.1 through the router; a
    second, unreachable webhook fails without disturbing the session."""
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
    settings = dataclasses.replace(SIM_SETTINGS, reconcile_every_s=3 * 3600)
    received: list[dict] = []

    async def receive(request: web.Request) -> web.Response:
        received.append(await request.json())
        return web.json_response({"ok": True})

    async def main():
        app = web.Application()
        app.router.add_post("/alerts", receive)
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = runner.addresses[0][1]
        alerts = tmp_path / "alerts.toml"
        alerts.write_text(
            "dedupe_window_s = 300\n"
            f'[[sinks]]\ntype = "webhook"\nname = "ops"\nurl = "http://127.0.0.1:{port}/alerts"\n'
            f'[[sinks]]\ntype = "webhook"\nname = "dead"\n'
            f'url = "http://127.0.0.1:{_free_port()}/alerts"\nretries = 0\ntimeout_s = 2\n')
        config = make_config(emulator, tmp_path, runner={"poll_delay_ms": 0}, alerts=alerts)
        try:
            session = await open_live(config, confirm_live=True,
                                      broker_factory=ccxt_broker_factory, clock=clock,
                                      environ=ENV, settle_orders=True, settings=settings)
            try:
                summary = await session.runner.run(max_bars=60)
            finally:
                await session.close()
        finally:
            await runner.cleanup()
        return session, summary

    session, summary = asyncio.run(main())
    assert summary.degraded and summary.bars == 60  # the session went on
    mismatches = [a for a in received if a["rule"] == "reconciliation_mismatch"]
    assert mismatches, received
    alert = mismatches[0]
    assert alert["key"] == "t1/reconcile" and alert["severity"] == "critical"
    assert "USDT" in alert["message"] and "tradeloom reconcile CONFIG --accept" in alert["message"]
    assert any("USDT" in p for p in alert["figures"]["problems"])
    router = session.runner.alerts
    assert router.stats["ops"].sent == len(received) >= 1
    assert router.stats["dead"].failed >= 1 and router.failures[0].sink == "dead"
    records = read_journal(session.journal_path)
    assert any(r.kind == "alert" for r in records) and records[-1].kind == "end"


class FarLimit(Strategy):
    """A limit buy 50 % under the close on every bar: outside the moderate profile's
    10 % price band, so the risk engine refuses each one."""

    def on_bar(self, ctx, bar):
        ctx.buy(bar.symbol, 0.01, price=round(bar.close * 0.5, 2))


def test_risk_rejections_are_journaled_and_logged(emulator, tmp_path, caplog):
    caplog.set_level(logging.INFO, logger="tradeloom.adapters.live.runner")
    cfg = make_config(emulator, tmp_path, strategy=f"{__file__}:FarLimit", params={},
                      run_id="r1")
    session, _ = _run_paper(cfg, start_at(emulator, 300), 3)
    records = read_journal(session.journal_path)
    risk = [r.payload for r in records if r.kind == "risk"]
    assert len(risk) == 3 and {r["outcome"] for r in risk} == {"rejected"}
    assert all(r["setting"] == "risk.price_band_pct" and r["limit"] == 0.1 for r in risk)
    assert [r["ts"] for r in risk] == [r.exchange_ts for r in records if r.kind == "bar"]
    logged = [r for r in caplog.records if "risk REJECTED" in r.getMessage()]
    assert len(logged) == 3 and all(r.levelno == logging.WARNING for r in logged)
    assert "BTC/USDT order 1:" in logged[0].getMessage()
