"""The strategy builder in headless Chromium: build a rule set by clicking, see invalid choices
explained next to their fields, save it, backtest it on the catalog, read the report.

``tradeloom serve``'s app runs on 127.0.0.1 over a catalog holding the bundled sample;
chromium is driven over the DevTools protocol (``tests/support/browser.py``) with real
mouse clicks on buttons and checkboxes, typed text, and list choices. The rule set built
is the SMA(10, 50) crossover: the file it saves must be ``examples/rules/sma_cross.toml``'s
rules and its backtest must trade as ``SmaCross`` does. No console error, no request
leaving the server.
"""

from __future__ import annotations

import asyncio
import base64
import io
import json
import subprocess
import time
import tomllib
from pathlib import Path

import aiohttp
from browser import BrowserError, _DevTools, _start
from PIL import Image
from sweep_helpers import make_store

from tradeloom.research.backtest import run_backtest
from tradeloom.research.rules.files import EXAMPLES, read_rule_file
from tradeloom.serve.server import ServerSettings, start_server

START = "2021-01-01"


class Page:
    """Real input on the page: mouse clicks at an element's centre, typed text, list choices."""

    def __init__(self, dt: _DevTools) -> None:
        self.dt = dt

    async def js(self, expr: str):
        return await self.dt.evaluate(expr)

    async def until(self, expr: str, what: str, timeout: float = 30.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                value = await self.js(expr)
            except BrowserError:  # the document is being replaced (navigation): ask again
                value = None
            if value:
                return value
            await asyncio.sleep(0.1)
        raise AssertionError(f"timed out waiting for {what}: {expr}")

    async def click(self, selector: str) -> None:
        box = await self.js(f"""(() => {{ const el = document.querySelector({json.dumps(selector)});
            if (!el) return null; el.scrollIntoView({{block: 'center'}});
            const r = el.getBoundingClientRect(); return JSON.stringify([r.x + r.width / 2, r.y + r.height / 2]); }})()""")
        assert box, f"no element {selector}"
        x, y = json.loads(box)
        for kind in ("mousePressed", "mouseReleased"):
            await self.dt.send("Input.dispatchMouseEvent", type=kind, x=x, y=y, button="left",
                               clickCount=1)
        await asyncio.sleep(0.05)

    async def type(self, selector: str, text: str) -> None:
        await self.click(selector)
        await self.js(f"document.querySelector({json.dumps(selector)}).select(); true")
        if text:
            await self.dt.send("Input.insertText", text=text)
        else:
            await self.dt.send("Input.dispatchKeyEvent", type="keyDown", key="Backspace",
                               code="Backspace", windowsVirtualKeyCode=8)
            await self.dt.send("Input.dispatchKeyEvent", type="keyUp", key="Backspace",
                               code="Backspace", windowsVirtualKeyCode=8)
        await self.js(f"document.querySelector({json.dumps(selector)}).blur(); true")  # change
        await asyncio.sleep(0.05)

    async def choose(self, selector: str, value: str) -> None:
        ok = await self.js(f"""(() => {{ const el = document.querySelector({json.dumps(selector)});
            if (!el || ![...el.options].some(o => o.value === {json.dumps(value)})) return false;
            el.focus(); el.value = {json.dumps(value)};
            el.dispatchEvent(new Event('change', {{bubbles: true}})); return true; }})()""")
        assert ok, f"{selector} has no option {value!r}"
        await asyncio.sleep(0.05)

    async def settled(self) -> str:
        """Wait for the validation of the last edit; returns the verdict text."""
        await asyncio.sleep(0.4)
        return await self.js("document.querySelector('#verdict').textContent")

    async def screenshot(self, path: Path) -> Image.Image:
        height = int(await self.js("document.documentElement.scrollHeight"))
        await self.dt.send("Emulation.setDeviceMetricsOverride", width=1400, height=height,
                           deviceScaleFactor=1, mobile=False)
        await asyncio.sleep(0.5)
        shot = await self.dt.send("Page.captureScreenshot", format="png", timeout=60.0)
        await self.dt.send("Emulation.setDeviceMetricsOverride", width=1400, height=1000,
                           deviceScaleFactor=1, mobile=False)
        data = base64.b64decode(shot["data"])
        path.write_bytes(data)
        return Image.open(io.BytesIO(data))


async def build_sma_cross(p: Page) -> None:
    """The SMA(10, 50) crossover, by hand."""
    await p.type("#market input[data-bind=name]", "SmaCross")
    await p.click("#add-ind")
    await p.click("#add-ind")
    await p.type("input[data-bind='indicators.0.name']", "fast")
    await p.type("input[data-bind='indicators.0.params.period']", "10")
    await p.type("input[data-bind='indicators.1.name']", "slow")
    await p.type("input[data-bind='indicators.1.params.period']", "50")
    await p.choose("select[data-bind='entry.when.left.ref']", "fast")
    await p.choose("select[data-bind='entry.when.op']", "crosses_above")
    await p.choose("select[data-bind='entry.when.right.ref']", "slow")
    await p.click("input[data-bind='exit.use_when']")
    await p.choose("select[data-bind='exit.when.left.ref']", "fast")
    await p.choose("select[data-bind='exit.when.op']", "crosses_below")
    await p.choose("select[data-bind='exit.when.right.ref']", "slow")
    await p.type("input[data-bind='exit.time_stop']", "")


async def error_next_to(p: Page, path: str) -> str:
    return await p.until(f"""(() => {{ const e = document.querySelector('.err[data-for={json.dumps(path)}]');
        return e && e.offsetParent !== null ? e.textContent : null; }})()""", f"the error at {path}")


def test_build_save_and_backtest_a_rule_set_in_the_browser(tmp_path: Path) -> None:
    catalog = tmp_path / "catalog"
    store = make_store(catalog)
    rules_dir = tmp_path / "rules"
    profile = tmp_path / "chromium-profile"
    profile.mkdir()
    shots = tmp_path / "shots"
    shots.mkdir()

    async def main():
        server, url = await start_server(ServerSettings(tmp_path / "state", catalog=catalog,
                                                        rules_dir=rules_dir), "127.0.0.1", 0)
        proc = None
        try:
            proc, port = await asyncio.to_thread(_start, profile)
            async with aiohttp.ClientSession() as http:
                async with http.get(f"http://127.0.0.1:{port}/json/list") as resp:
                    targets = await resp.json()
                target = next(t for t in targets if t.get("type") == "page")
                async with http.ws_connect(target["webSocketDebuggerUrl"], max_msg_size=0) as ws:
                    dt = _DevTools(ws)
                    out = await drive(Page(dt), url)
                    return out, dt.problems(), dt.requests(), url
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
            await server.cleanup()

    async def drive(p: Page, url: str) -> dict:
        for domain in ("Runtime", "Log", "Page", "Network"):
            await p.dt.send(f"{domain}.enable")
        await p.dt.send("Emulation.setDeviceMetricsOverride", width=1400, height=1000,
                        deviceScaleFactor=1, mobile=False)
        await p.dt.send("Page.navigate", url=url + "/builder")
        await p.until("!!document.body && document.body.dataset.ready === '1'", "the builder to load its lists")
        out: dict = {"starter": await p.settled()}

        # load and edit an existing file: the breakout example fills the form
        await p.choose("#files", "examples/breakout.toml")
        await p.click("#load")
        await p.until("document.querySelector('#status').textContent.includes('loaded')", "load")
        out["loaded_verdict"] = await p.settled()
        out["loaded_toml"] = await p.js("document.querySelector('#toml').textContent")
        await p.click("#new")
        await p.settled()

        await build_sma_cross(p)
        out["built_verdict"] = await p.settled()

        # invalid choices are explained next to the field that causes them
        await p.choose("select[data-bind='entry.side']", "short")
        out["short_error"] = await error_next_to(p, "entry.side")
        await p.click("button[data-act='add-tp']")
        out["ladder_error"] = await error_next_to(p, "exit")
        out["invalid_verdict"] = await p.settled()
        out["save_disabled"] = await p.js("document.querySelector('#save').disabled")
        await p.screenshot(shots / "builder_errors.png")
        await p.click("button[data-act='del-tp']")
        await p.choose("select[data-bind='entry.side']", "long")
        out["fixed_verdict"] = await p.settled()
        out["errors_left"] = await p.js("document.querySelectorAll('.err').length")
        out["toml"] = await p.js("document.querySelector('#toml').textContent")

        await p.type("#filename", "my_cross")
        await p.click("#save")
        out["saved"] = await p.until(
            "(s => s.includes('saved') ? s : null)(document.querySelector('#status').textContent)", "save")

        await p.click("#run")
        out["ran"] = await p.until(
            "(s => s.includes('trades') ? s : null)(document.querySelector('#status').textContent)",
            "the backtest", 120)
        out["n_trades"] = await p.js("document.querySelector('[data-metric=n_trades]').textContent")
        out["charts"] = await p.until("""(() => { const f = document.querySelector('#report');
            const d = f && f.contentDocument; if (!d || d.readyState !== 'complete') return 0;
            const svgs = d.querySelectorAll('div.js-plotly-plot svg.main-svg');
            return svgs.length >= 3 ? svgs.length : 0; })()""", "the report's charts", 60)
        await asyncio.sleep(1.0)
        out["image"] = await p.screenshot(shots / "builder.png")
        return out

    out, problems, requests, url = asyncio.run(main())
    print(f"screenshots: {shots}")

    assert out["starter"] == "valid rule set"
    assert out["loaded_verdict"] == "valid rule set"
    assert tomllib.loads(out["loaded_toml"])["exit"]["take_profit"] == [
        {"at": 0.02, "fraction": 0.5}, {"at": 0.05, "fraction": 0.5}]
    assert out["built_verdict"] == "valid rule set"
    assert out["short_error"].startswith("short rules need derivatives")
    assert out["ladder_error"].startswith("take_profit needs stop_loss")
    assert out["invalid_verdict"] == "2 problem(s)" and out["save_disabled"] is True
    assert out["fixed_verdict"] == "valid rule set" and out["errors_left"] == 0

    # the file the form wrote is the SMA cross example's rule set
    saved = read_rule_file(rules_dir / "my_cross.toml")
    example = read_rule_file(EXAMPLES / "sma_cross.toml")
    assert saved.model_copy(update={"description": example.description}) == example
    assert tomllib.loads(out["toml"]) == tomllib.loads((rules_dir / "my_cross.toml").read_text())
    assert "saved" in out["saved"] and str(rules_dir / "my_cross.toml") in out["saved"]

    # its backtest trades as SmaCross does on the same range
    reference = run_backtest("research/strategies/sma_cross.py:SmaCross", "BTC/USDT", "1h", START,
                             None, {"fast": 10, "slow": 50}, store)
    assert int(out["n_trades"]) == int(reference.metrics["n_trades"]) > 10
    assert f"{len(reference.trades)} trades" in out["ran"] and out["charts"] >= 3

    assert problems == [], problems
    outside = [r for r in requests if not r.startswith((url, "data:", "blob:", "about:"))]
    assert outside == [], outside
    image = out["image"]
    assert image.size[0] == 1400 and image.size[1] > 1500
    colors = image.convert("RGB").getcolors(maxcolors=1_000_000)
    assert colors is not None and len(colors) > 200  # form, TOML, metrics, report charts
