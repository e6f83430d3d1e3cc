"""Issue 9's proof, end to end against the Binance emulator (real parts, 127.0.0.1 only).

backtest (the regress case and its golden) -> ``promote --to backtest-approved`` ->
``promote --to paper`` (gates pass) -> a paper session publishing its status -> replay
parity -> ``promote --to live`` refused (the paper window: the unmet gate with its
figure) -> a second paper session (a restart in the same state dir) -> refused without
``--confirm-live``, allowed with it -> a third paper session watched by ``tradeloom serve``
(its own process) in headless Chromium, killed with the page's kill button ->
``tradeloom audit verify`` passes and the one audit log holds the promotions, the
restarts and the kill.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import aiohttp
import typer
from browser import _DevTools, _start
from deploy_helpers import deployment_file, regress_config, sample_store
from paced_clock import PacedClock, _until
from runner_helpers import SIM_SETTINGS, make_config, start_at
from typer.testing import CliRunner

from tradeloom.adapters.live.journal import read_journal
from tradeloom.adapters.ops.audit import AuditLog
from tradeloom.adapters.ops.status import read_statuses
from tradeloom.adapters.ops.status_publisher import StatusPublisher
from tradeloom.app.session import open_paper
from tradeloom.cli import context as clictx
from tradeloom.cli.deploy import audit_app, deploy_register, promote
from tradeloom.cli.live import replay

KILL_DEADLINE_S = 10.0
MIN_PAPER_DAYS = 3  # session A (~1 day) is short of it; A + B (~4 days) meet it

app = typer.Typer()
for _name, _fn in (("deploy-register", deploy_register), ("promote", promote),
                   ("replay", replay)):
    app.command(_name)(_fn)
app.add_typer(audit_app, name="audit")


def cli(*args: str):
    return CliRunner().invoke(app, [str(a) for a in args])


def paper_days(journal: Path) -> float:
    """Wall-clock days the session ran (the runner's clock: ``local_ts``)."""
    records = read_journal(journal)
    started = next(r.local_ts for r in records if r.kind == "session")
    return (records[-1].local_ts - started) / 86_400_000


def paper_session(emu, tmp: Path, audit: Path, run_id: str, start: int, bars: int) -> Path:
    """A paper session of the deployment's config with the status publisher; its journal."""
    cfg = make_config(emu, tmp, run_id=run_id, audit_log=audit)

    async def main():
        session = await open_paper(cfg, clock=start_at(emu, start), settings=SIM_SETTINGS)
        session.runner.attach_publisher(StatusPublisher(cfg.state_dir, session.run_id))
        try:
            await session.runner.run(max_bars=bars)
        finally:
            await session.close()
        return session.journal_path

    journal = asyncio.run(main())
    status = next(s for s in read_statuses(cfg.state_dir) if s.runner_id == run_id)
    assert status.state == "stopped" and status.counters.bars == bars
    return journal


def start_serve(state_dir: Path) -> tuple[subprocess.Popen[str], str]:
    """``tradeloom serve --host 127.0.0.1 --port 0`` in its own process; its base URL."""
    exe = Path(sys.executable).with_name("tradeloom")
    env = {**os.environ, "COLUMNS": "400", "NO_COLOR": "1"}
    proc = subprocess.Popen([str(exe), "serve", "--host", "127.0.0.1", "--port", "0",
                             "--state-dir", str(state_dir)], stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, env=env)
    deadline = time.monotonic() + 30
    assert proc.stdout is not None
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line and proc.poll() is not None:
            raise AssertionError(f"tradeloom serve exited with {proc.returncode}")
        found = re.search(r"on (http://127\.0\.0\.1:\d+)", line)
        if found:
            return proc, found.group(1)
    proc.kill()
    raise AssertionError("tradeloom serve did not announce its address within 30 s")


def stop_process(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    for stream in (proc.stdout, proc.stderr):
        if stream:
            stream.close()


CARD_JS = """(() => {
  const card = document.querySelector('section.runner[data-runner="pc"]');
  if (!card) return null;
  return JSON.stringify({
    state: card.querySelector('.badge.state').textContent.trim(),
    killButton: !!card.querySelector('button.kill:not([disabled])'),
  });
})()"""


def kill_from_status_page(emu, tmp: Path, audit: Path) -> dict:
    """Session C runs (paced) while ``tradeloom serve`` and Chromium show it; click kill."""
    cfg = make_config(emu, tmp, run_id="pc", audit_log=audit)
    emu.now_ms = int(emu.bars("BTC/USDT")["ts"].iloc[420]) + 1_000
    clock = PacedClock(emu.now_ms, real_s=0.08)
    clock.on_advance(emu.advance_to)
    profile = tmp / "chromium-profile"
    profile.mkdir()

    async def card(dt: _DevTools):
        raw = await dt.evaluate(CARD_JS)
        return None if raw is None else json.loads(raw)

    async def main():
        session = await open_paper(cfg, clock=clock, settings=SIM_SETTINGS)
        runner = session.runner
        runner.attach_publisher(StatusPublisher(cfg.state_dir, session.run_id, interval_s=0.3))
        run_task = asyncio.create_task(runner.run())
        server, url = await asyncio.to_thread(start_serve, cfg.state_dir)
        browser = None
        try:
            async def running():
                return any(s.runner_id == "pc" and s.state == "running" and s.counters.bars >= 3
                           for s in read_statuses(cfg.state_dir))

            await _until(running, 30, "session pc publishing a running status")
            browser, port = await asyncio.to_thread(_start, profile)
            async with aiohttp.ClientSession() as http:
                async with http.get(f"http://127.0.0.1:{port}/json/list") as resp:
                    page = next(t for t in await resp.json() if t.get("type") == "page")
                async with http.ws_connect(page["webSocketDebuggerUrl"], max_msg_size=0) as ws:
                    dt = _DevTools(ws)
                    for domain in ("Runtime", "Page"):
                        await dt.send(f"{domain}.enable")
                    await dt.send("Page.navigate", url=url + "/")

                    async def shown():
                        state = await card(dt)
                        return state if state and state["state"] == "running" \
                            and state["killButton"] else None

                    await _until(shown, 20, "the page to show session pc running")
                    await dt.evaluate("window.__confirms = []; window.confirm = m => "
                                      "{ window.__confirms.push(m); return true; }; true")
                    clicked = time.monotonic()
                    await dt.evaluate("document.querySelector('button.kill[data-runner=\"pc\"]')"
                                      ".click(); true")

                    async def killed():
                        return runner.killed and any(
                            s.runner_id == "pc" and s.state == "killed"
                            for s in read_statuses(cfg.state_dir))

                    await _until(killed, KILL_DEADLINE_S, "the runner killed", 0.05)
                    kill_s = time.monotonic() - clicked

                    async def page_killed():
                        state = await card(dt)
                        return state if state and state["state"] == "killed" else None

                    after = await _until(page_killed, 10, "the page to show the kill")
                    confirms = json.loads(await dt.evaluate("JSON.stringify(window.__confirms)"))
                    return {"kill_s": kill_s, "after": after, "confirms": confirms,
                            "flag": (cfg.state_dir / "KILL.emu").read_text()}
        finally:
            if browser is not None:
                stop_process(browser)
            stop_process(server)
            runner.stop()
            await asyncio.wait_for(run_task, 30)
            await session.close()

    return asyncio.run(main())


def test_backtest_to_live_then_kill_from_the_status_page(emulator, tmp_path, monkeypatch):
    catalog = tmp_path / "catalog"
    audit = catalog / "audit.jsonl"
    monkeypatch.setenv("USER", "ana")
    monkeypatch.setenv("TRADELOOM_AUDIT_LOG", str(audit))
    monkeypatch.delenv("TRADELOOM_ALERTS", raising=False)
    clictx.set_catalog(catalog)
    try:
        _proof(emulator, tmp_path, catalog, audit)
    finally:
        clictx.set_catalog(None)


def _proof(emulator, tmp_path: Path, catalog: Path, audit: Path) -> None:
    # backtest: the regress case over the bundled sample, its golden written
    store = sample_store(catalog)
    regress = regress_config(tmp_path / "regress", store)
    spec = deployment_file(tmp_path / "specs", "sma-btc", regress,
                           gates={"min_paper_days": MIN_PAPER_DAYS, "max_tracking_error": 0.01})
    res = cli("deploy-register", spec, "--reason", "first version")
    assert res.exit_code == 0, res.output
    for stage in ("backtest-approved", "paper"):
        res = cli("promote", "sma-btc", "--to", stage, "--reason", f"to {stage}")
        assert res.exit_code == 0, res.output
        assert f"-> {stage}" in res.output and "FAIL" not in res.output

    # paper session A, with the status publisher; replay parity
    journal_a = paper_session(emulator, tmp_path, audit, "pa", start=300, bars=24)
    res = cli("replay", journal_a)
    assert res.exit_code == 0 and "zero divergence" in res.output, res.output

    # the paper window is not met: refused, the unmet gate listed with its figure
    days_a = paper_days(journal_a)
    assert days_a < MIN_PAPER_DAYS
    res = cli("promote", "sma-btc", "--to", "live", "--confirm-live", "--journal", journal_a)
    assert res.exit_code == 1, res.output
    text = " ".join(res.output.split())
    assert "refused: 1 gate(s) unmet" in text, text
    assert (f"FAIL paper_days: paper days {days_a:.1f} < required {MIN_PAPER_DAYS} "
            "(gates.min_paper_days)") in text

    # paper session B (a restart in the same state dir) completes the window
    journal_b = paper_session(emulator, tmp_path, audit, "pb", start=330, bars=80)
    res = cli("replay", journal_b)
    assert res.exit_code == 0 and "zero divergence" in res.output, res.output
    assert days_a + paper_days(journal_b) >= MIN_PAPER_DAYS
    evidence = ("--journal", journal_a, "--journal", journal_b)
    res = cli("promote", "sma-btc", "--to", "live", *evidence)
    assert res.exit_code == 1 and "confirm_live" in res.output, res.output
    res = cli("promote", "sma-btc", "--to", "live", "--confirm-live", *evidence,
              "--reason", "paper window met")
    assert res.exit_code == 0, res.output
    assert "promoted sma-btc: paper -> live" in res.output and "FAIL" not in res.output

    # session C on the status page: the kill button stops it
    out = kill_from_status_page(emulator, tmp_path, audit)
    assert out["after"]["state"] == "killed" and not out["after"]["killButton"]
    assert len(out["confirms"]) == 1 and "pc" in out["confirms"][0]
    assert "status page: kill pc" in out["flag"] and out["kill_s"] < KILL_DEADLINE_S

    # the audit log verifies and holds the promotions, restarts and the kill
    res = cli("audit", "verify")
    assert res.exit_code == 0 and "chain intact" in res.output, res.output
    records = AuditLog(audit).records()
    assert [(r.kind, r.details.get("to")) for r in records if r.kind.startswith("promotion")] == [
        ("promotion", "backtest-approved"), ("promotion", "paper"),
        ("promotion_refused", "live"), ("promotion_refused", "live"), ("promotion", "live")]
    assert [(r.kind, r.subject) for r in records if r.kind in ("restart", "kill")] == [
        ("restart", "pb"), ("restart", "pc"), ("kill", "pc")]
    kill = records[-1]
    assert kill.kind == "kill" and kill.actor == "kill flag KILL.emu"
    assert kill.details["reason"].startswith("status page: kill pc")
    assert {r.actor for r in records if r.kind != "kill"} == {"ana"}
