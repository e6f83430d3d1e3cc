"""The status page in headless Chromium, with a real paper session running against the emulator.

One event loop runs the paper session (publishing its status), ``tradeloom serve``'s
app on 127.0.0.1 and a DevTools client driving Debian's chromium (``tests/support/browser.py``).
The page must show the running session with an equity sparkline; its kill button must
ask for confirmation, then write the account's kill flag, and the runner must be
killed (state ``killed``, open orders cancelled) within 10 s of the click.
"""

from __future__ import annotations

import asyncio
import io
import json
import os
import subprocess
import time
from pathlib import Path

import aiohttp
from browser import _DevTools, _start
from paced_clock import PacedClock, _until
from PIL import Image
from runner_helpers import SIM_SETTINGS, make_config

from tradeloom.adapters.ops.status import read_statuses
from tradeloom.adapters.ops.status_publisher import StatusPublisher
from tradeloom.app.session import open_paper
from tradeloom.engine.strategy.base import Strategy
from tradeloom.serve.server import ServerSettings, start_server

KILL_DEADLINE_S = 10.0


class HoldAndRest(Strategy):
    """Buys 0.2 BTC on its first bar (equity then follows the price) and keeps one limit
    buy resting 5 % under the market (inside the risk price band), so a kill has an open
    order to cancel."""

    def on_bar(self, ctx, bar):
        if ctx.position(bar.symbol) == 0 and not ctx.open_orders():
            ctx.buy(bar.symbol, 0.2)
        elif not ctx.open_orders():
            ctx.buy(bar.symbol, 0.01, price=round(bar.close * 0.95, 2))


PAGE_JS = """(() => {
  const card = document.querySelector('section.runner[data-runner="t1"]');
  if (!card) return null;
  const line = card.querySelector('svg.spark polyline');
  return JSON.stringify({
    state: card.querySelector('.badge.state').textContent.trim(),
    id: card.querySelector('.runner-id').textContent.trim(),
    points: line ? line.getAttribute('points').trim().split(/\\s+/).length : 0,
    text: card.innerText,
    killButton: !!card.querySelector('button.kill:not([disabled])'),
  });
})()"""


async def _page_state(dt: _DevTools) -> dict | None:
    raw = await dt.evaluate(PAGE_JS)
    return None if raw is None else json.loads(raw)


async def _screenshot(dt: _DevTools, path: Path) -> Image.Image:
    height = int(await dt.evaluate("document.documentElement.scrollHeight"))
    await dt.send("Emulation.setDeviceMetricsOverride", width=1400, height=max(height, 600),
                  deviceScaleFactor=1, mobile=False)
    shot = await dt.send("Page.captureScreenshot", format="png", timeout=60.0)
    import base64

    data = base64.b64decode(shot["data"])
    path.write_bytes(data)
    return Image.open(io.BytesIO(data))


def test_status_page_shows_the_paper_session_and_its_kill_button_stops_it(emulator, tmp_path):
    strategy = f"{os.path.abspath(__file__)}:HoldAndRest"
    cfg = make_config(emulator, tmp_path, strategy=strategy, params={})
    emulator.now_ms = int(emulator.bars("BTC/USDT")["ts"].iloc[300]) + 1_000
    clock = PacedClock(emulator.now_ms, real_s=0.08)
    clock.on_advance(emulator.advance_to)
    profile = tmp_path / "chromium-profile"
    profile.mkdir()
    shots = tmp_path / "shots"
    shots.mkdir()

    async def main():
        session = await open_paper(cfg, clock=clock, settings=SIM_SETTINGS)
        runner = session.runner
        runner.attach_publisher(StatusPublisher(cfg.state_dir, session.run_id, interval_s=0.3))
        run_task = asyncio.create_task(runner.run())
        server, url = await start_server(ServerSettings(cfg.state_dir, refresh_s=1.0),
                                         "127.0.0.1", 0)
        proc = None
        try:
            async def published():
                found = read_statuses(cfg.state_dir)
                return found and len(found[0].equity_history) >= 15 and found[0].open_orders

            await _until(published, 30, "the runner's status with equity and an open order")
            proc, port = await asyncio.to_thread(_start, profile)
            async with aiohttp.ClientSession() as http:
                async with http.get(f"http://127.0.0.1:{port}/json/list") as resp:
                    targets = await resp.json()
                page = next(t for t in targets if t.get("type") == "page")
                async with http.ws_connect(page["webSocketDebuggerUrl"], max_msg_size=0) as ws:
                    return await drive(dt := _DevTools(ws), url, runner, session), dt.problems(), \
                        dt.requests(), url
        finally:
            if proc is not None:
                proc.terminate()
                try:
                    proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
                if proc.stderr:
                    proc.stderr.close()
            runner.stop()
            await asyncio.wait_for(run_task, 30)
            await session.close()
            await server.cleanup()

    async def drive(dt, url, runner, session):
        for domain in ("Runtime", "Log", "Page", "Network"):
            await dt.send(f"{domain}.enable")
        await dt.send("Emulation.setDeviceMetricsOverride", width=1400, height=1000,
                      deviceScaleFactor=1, mobile=False)
        await dt.send("Page.navigate", url=url + "/")

        async def shown():
            state = await _page_state(dt)
            return state if state and state["state"] == "running" and state["points"] >= 10 \
                else None

        before = await _until(shown, 20, "the page to show the running session")
        await asyncio.sleep(1.5)  # one refresh from /api/status, so the picture is the live one
        before = await _until(shown, 10, "the refreshed page")
        image = await _screenshot(dt, shots / "status_running.png")

        await dt.evaluate("window.__confirms = []; window.confirm = m => "
                          "{ window.__confirms.push(m); return true; }; true")
        clicked = time.monotonic()
        await dt.evaluate("document.querySelector('button.kill[data-runner=\"t1\"]').click(); true")
        flag = cfg.state_dir / "KILL.emu"

        async def killed():
            statuses = read_statuses(cfg.state_dir)
            return (flag.exists() and runner.killed and statuses
                    and statuses[0].state == "killed" and not statuses[0].open_orders
                    and not runner.engine.broker.open_orders())

        await _until(killed, KILL_DEADLINE_S, "kill flag, killed state, no open orders", 0.05)
        kill_s = time.monotonic() - clicked
        confirms = await dt.evaluate("JSON.stringify(window.__confirms)")

        async def page_killed():
            state = await _page_state(dt)
            return state if state and state["state"] == "killed" else None

        after = await _until(page_killed, 10, "the page to show the kill")
        await _screenshot(dt, shots / "status_killed.png")
        return before, after, image, kill_s, json.loads(confirms), flag.read_text()

    (before, after, image, kill_s, confirms, flag_text), problems, requests, url = \
        asyncio.run(main())

    print(f"screenshots: {shots}; kill latency from the click {kill_s:.2f} s")
    assert before["id"] == "t1" and before["points"] >= 10 and before["killButton"]
    assert "paper" in before["text"] and "BTC/USDT" in before["text"]
    assert after["state"] == "killed" and not after["killButton"]
    assert len(confirms) == 1 and "t1" in confirms[0] and "emu" in confirms[0]
    assert "status page: kill t1" in flag_text
    assert kill_s < KILL_DEADLINE_S
    assert problems == [], problems
    assert requests and all(r.startswith(url) for r in requests), requests  # no external assets
    assert image.size[0] == 1400 and image.size[1] >= 600
    colors = image.convert("RGB").getcolors(maxcolors=1_000_000)
    assert colors is not None and len(colors) > 50  # text, badges, the sparkline: not blank
