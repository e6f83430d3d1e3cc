"""Drive headless Chromium over the DevTools protocol to look at a report as a person would.

:func:`open_page` starts Debian's ``chromium`` with a fresh profile, loads a
local file, waits until every plotly chart has drawn, then returns a
:class:`PageShot`: a full-page PNG screenshot, the plot boxes (page pixels,
device scale 1), and every console error / uncaught exception / error log entry
the page produced. Only 127.0.0.1 is contacted (the DevTools port); chromium is
started with its background networking switched off.

When chromium is missing, :func:`chromium_path` raises with the apt line to run
(tests must fail, not skip: CI installs it).
"""

from __future__ import annotations

import asyncio
import base64
import itertools
import json
import shutil
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

CHROMIUM_NAMES = ("chromium", "chromium-browser")
INSTALL_HINT = "apt-get update && apt-get install -y chromium"
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--no-default-browser-check",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-quic",
    "--disable-extensions",
    "--disable-dev-shm-usage",
    "--hide-scrollbars",
    "--mute-audio",
)

# every plot div with a drawn, non-empty main svg; resolves to the boxes in page pixels
PLOTS_JS = """
(() => {
  const divs = Array.from(document.querySelectorAll('div.js-plotly-plot'));
  return JSON.stringify(divs.map(d => {
    const svg = d.querySelector('svg.main-svg');
    const r = (svg || d).getBoundingClientRect();
    return {id: d.id, svg: !!svg, x: r.left + window.scrollX, y: r.top + window.scrollY,
            w: r.width, h: r.height,
            traces: d.querySelectorAll('g.trace, g.hm, g.cartesianlayer .plot > g').length};
  }));
})()
"""


class BrowserError(RuntimeError):
    """Chromium is missing, did not start, or the page did not render in time."""


def chromium_path() -> str:
    """The chromium executable, or BrowserError naming the apt line to install it."""
    for name in CHROMIUM_NAMES:
        found = shutil.which(name)
        if found:
            return found
    raise BrowserError(
        f"chromium is not on PATH; install it with `{INSTALL_HINT}` "
        "(Debian package 'chromium'; CI's .ci/run installs it)"
    )


@dataclass
class PlotBox:
    """One plotly chart on the page: its div id, whether it has an svg, its box in px."""

    id: str
    svg: bool
    x: float
    y: float
    w: float
    h: float
    traces: int


@dataclass
class PageShot:
    """What the browser saw: screenshot PNG, chart boxes, console problems, requested URLs."""

    png: bytes
    plots: list[PlotBox]
    errors: list[str] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)
    title: str = ""
    height: int = 0


class _DevTools:
    """A minimal DevTools client: numbered commands, events collected by method name."""

    def __init__(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        self.ws = ws
        self.ids = itertools.count(1)
        self.pending: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self.events: list[dict[str, Any]] = []
        self.reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        async for msg in self.ws:
            if msg.type != aiohttp.WSMsgType.TEXT:
                continue
            data = json.loads(msg.data)
            if "id" in data and data["id"] in self.pending:
                self.pending.pop(data["id"]).set_result(data)
            elif "method" in data:
                self.events.append(data)

    async def send(self, method: str, timeout: float = 30.0, **params: Any) -> dict[str, Any]:
        cid = next(self.ids)
        fut: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self.pending[cid] = fut
        await self.ws.send_str(json.dumps({"id": cid, "method": method, "params": params}))
        reply = await asyncio.wait_for(fut, timeout)
        if "error" in reply:
            raise BrowserError(f"DevTools {method} failed: {reply['error']}")
        return dict(reply.get("result", {}))

    async def evaluate(self, expression: str) -> Any:
        res = await self.send("Runtime.evaluate", expression=expression, returnByValue=True)
        if "exceptionDetails" in res:
            raise BrowserError(f"page script failed: {res['exceptionDetails']}")
        return res["result"].get("value")

    def requests(self) -> list[str]:
        """Every URL the page asked for (the file itself, data: URLs, anything else)."""
        return [
            str(e["params"]["request"]["url"])
            for e in self.events
            if e["method"] == "Network.requestWillBeSent"
        ]

    def problems(self) -> list[str]:
        """Console errors, uncaught exceptions and error-level log entries, in order."""
        out = []
        for e in self.events:
            p = e.get("params", {})
            if e["method"] == "Runtime.consoleAPICalled" and p.get("type") in ("error", "assert"):
                args = " ".join(str(a.get("value", a.get("description", ""))) for a in p["args"])
                out.append(f"console.{p['type']}: {args}")
            elif e["method"] == "Runtime.exceptionThrown":
                d = p.get("exceptionDetails", {})
                out.append(f"exception: {d.get('exception', {}).get('description', d.get('text'))}")
            elif e["method"] == "Log.entryAdded" and p.get("entry", {}).get("level") == "error":
                entry = p["entry"]
                out.append(f"log {entry.get('source')}: {entry.get('text')} {entry.get('url', '')}")
        return out


def _start(profile: Path) -> tuple[subprocess.Popen[bytes], int]:
    cmd = [chromium_path(), *FLAGS, f"--user-data-dir={profile}",
           "--remote-debugging-port=0", "--window-size=1400,1000", "about:blank"]  # fmt: skip
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    port_file = profile / "DevToolsActivePort"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            err = proc.stderr.read().decode(errors="replace")[-2000:] if proc.stderr else ""
            raise BrowserError(f"chromium exited with {proc.returncode} at start: {err}")
        if port_file.exists():
            lines = port_file.read_text().split()
            if lines:
                return proc, int(lines[0])
        time.sleep(0.05)
    proc.kill()
    raise BrowserError("chromium did not open its DevTools port within 30 s")


async def _shoot(port: int, url: str, width: int, timeout: float) -> PageShot:
    async with aiohttp.ClientSession() as http:
        async with http.get(f"http://127.0.0.1:{port}/json/list") as resp:
            targets = await resp.json()
        page = next(t for t in targets if t.get("type") == "page")
        async with http.ws_connect(page["webSocketDebuggerUrl"], max_msg_size=0) as ws:
            dt = _DevTools(ws)
            for domain in ("Runtime", "Log", "Page", "Network"):
                await dt.send(f"{domain}.enable")
            await dt.send("Emulation.setDeviceMetricsOverride", width=width, height=1000,
                          deviceScaleFactor=1, mobile=False)  # fmt: skip
            await dt.send("Page.navigate", url=url)
            plots = await _wait_plots(dt, timeout)
            height = int(await dt.evaluate("document.documentElement.scrollHeight"))
            await dt.send("Emulation.setDeviceMetricsOverride", width=width, height=height,
                          deviceScaleFactor=1, mobile=False)  # fmt: skip
            await asyncio.sleep(0.5)  # let responsive charts settle at the new viewport
            plots = await _wait_plots(dt, timeout)
            shot = await dt.send("Page.captureScreenshot", format="png", timeout=60.0)
            title = str(await dt.evaluate("document.title"))
            dt.reader.cancel()
            return PageShot(
                base64.b64decode(shot["data"]), plots, dt.problems(), dt.requests(), title, height
            )


async def _wait_plots(dt: _DevTools, timeout: float) -> list[PlotBox]:
    """Poll until the document is loaded and every plot div has a sized main svg."""
    deadline = time.monotonic() + timeout
    boxes: list[PlotBox] = []
    while time.monotonic() < deadline:
        state = await dt.evaluate("document.readyState")
        if state == "complete":
            boxes = [PlotBox(**b) for b in json.loads(await dt.evaluate(PLOTS_JS))]
            if boxes and all(b.svg and b.w > 0 and b.h > 0 for b in boxes):
                return boxes
        await asyncio.sleep(0.2)
    raise BrowserError(f"charts did not render within {timeout} s: {boxes}")


def open_page(path: Path, profile: Path, *, width: int = 1400, timeout: float = 30.0) -> PageShot:
    """Open ``path`` in a fresh headless chromium and return what it rendered."""
    profile.mkdir(parents=True, exist_ok=True)
    proc, port = _start(profile)
    try:
        return asyncio.run(_shoot(port, path.resolve().as_uri(), width, timeout))
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        if proc.stderr:
            proc.stderr.close()
