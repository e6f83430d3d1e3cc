"""The strategy builder's HTTP side: ``GET /builder`` and its JSON API under ``/api/builder``.

==================================  ===============================================
endpoint                            what
==================================  ===============================================
``GET /builder``                    the page (``tradeloom.serve.builder_page``)
``GET /api/builder/meta``           catalog datasets, indicators, operators, sizings
``GET /api/builder/files``          loadable rule files (examples, the rules folder)
``GET /api/builder/file``           ``?source=examples&name=breakout.toml`` -> document
``POST /api/builder/validate``      ``{"document"}`` -> ok, problems (field paths), TOML
``POST /api/builder/save``          ``{"document", "name"}`` -> ``<rules folder>/<name>.toml``
``POST /api/builder/backtest``      ``{"document", "start", "end"}`` -> metrics, report URL
``GET /api/builder/report/{id}``    the backtest's HTML report (plotly inlined)
==================================  ===============================================

The token rules are the server's (``tradeloom.serve.server``): off loopback every
endpoint needs it. POSTs must be JSON and, when the browser sends an ``Origin``,
same-origin. Backtests run one at a time in a worker thread, so the server keeps
answering; the work folder (rule files written for runs, reports) is a temporary
directory removed when the server stops. The logic lives in
``tradeloom.app.rule_builder``; this module only speaks HTTP.
"""

from __future__ import annotations

import asyncio
import shutil
import tempfile
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiohttp import web

from tradeloom.app import rule_builder as rb
from tradeloom.engine.errors import TradeloomError
from tradeloom.research.rules.schema import RuleFileError
from tradeloom.serve.builder_page import render_builder

__all__ = ["BuilderState", "add_builder_routes"]

MAX_REPORTS = 16
CSP_PAGE = ("default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; "
            "connect-src 'self'; img-src data:; frame-src 'self'; form-action 'self'; base-uri 'none'")
CSP_REPORT = ("default-src 'none'; script-src 'unsafe-inline' 'unsafe-eval'; "
              "style-src 'unsafe-inline'; img-src data: blob:; font-src data:; base-uri 'none'; "
              "frame-ancestors 'self'")


@dataclass
class BuilderState:
    """Where the builder reads and writes, and the reports it has made."""

    catalog: Path | None
    rules_dir: Path | None
    reports: OrderedDict[str, Path] = field(default_factory=OrderedDict)
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    _workdir: Path | None = None

    @property
    def workdir(self) -> Path:
        """A temporary folder for run files and reports, made on first use."""
        if self._workdir is None:
            self._workdir = Path(tempfile.mkdtemp(prefix="tradeloom-builder-"))
        return self._workdir

    def store(self) -> Any:
        from tradeloom.adapters.store.market_store import MarketStore

        if self.catalog is None:
            raise TradeloomError("this server has no catalog; start it with "
                                 "tradeloom --catalog DIR serve")
        return MarketStore(self.catalog)


_STATE = web.AppKey("builder", BuilderState)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _errors(handler: Handler) -> Handler:
    """A ``TradeloomError`` becomes a JSON 400 naming what to fix (problems when a rule file)."""

    async def wrapped(request: web.Request) -> web.StreamResponse:
        try:
            return await handler(request)
        except RuleFileError as exc:
            return web.json_response({"ok": False, "error": "invalid rule set", "problems": [
                {"path": p, "message": m} for p, m in exc.problems]}, status=400)
        except TradeloomError as exc:
            return web.json_response({"ok": False, "error": str(exc), "problems": []}, status=400)

    return wrapped


async def _json_body(request: web.Request) -> dict[str, Any]:
    origin = request.headers.get("Origin")
    if origin is not None and origin != f"{request.scheme}://{request.host}":
        raise web.HTTPForbidden(text="cross-origin request refused")
    if request.content_type != "application/json":
        raise web.HTTPUnsupportedMediaType(text="send JSON")
    try:
        body = await request.json()
    except ValueError:
        raise web.HTTPBadRequest(text="the body is not JSON") from None
    if not isinstance(body, dict):
        raise web.HTTPBadRequest(text="the body must be a JSON object")
    return body


async def _page(request: web.Request) -> web.Response:
    return web.Response(text=render_builder(), content_type="text/html",
                        headers={"Cache-Control": "no-store", "Content-Security-Policy": CSP_PAGE})


@_errors
async def _meta(request: web.Request) -> web.Response:
    state = request.app[_STATE]
    meta = await asyncio.to_thread(lambda: rb.builder_meta(state.store()))
    meta["rules_dir"] = str(state.rules_dir) if state.rules_dir is not None else None
    return web.json_response(meta)


@_errors
async def _files(request: web.Request) -> web.Response:
    return web.json_response({"files": rb.rule_files(request.app[_STATE].rules_dir)})


@_errors
async def _file(request: web.Request) -> web.Response:
    q = request.query
    return web.json_response(rb.read_document(q.get("source", ""), q.get("name", ""),
                                              request.app[_STATE].rules_dir))


@_errors
async def _validate(request: web.Request) -> web.Response:
    body = await _json_body(request)
    return web.json_response(rb.check_document(body.get("document")))


@_errors
async def _save(request: web.Request) -> web.Response:
    body = await _json_body(request)
    state = request.app[_STATE]
    if state.rules_dir is None:
        raise TradeloomError("this server has no rules folder; start it with --rules-dir DIR")
    out = rb.save_document(body.get("document"), str(body.get("name", "")), state.rules_dir)
    return web.json_response(out, status=200 if out["ok"] else 400)


@_errors
async def _backtest(request: web.Request) -> web.Response:
    body = await _json_body(request)
    state = request.app[_STATE]
    doc, start, end = body.get("document"), body.get("start") or None, body.get("end") or None
    exchange = str(body.get("exchange") or "binance")
    checked = rb.check_document(doc)
    if not checked["ok"]:
        return web.json_response({**checked, "error": "fix the rule set first"}, status=400)
    async with state.lock:
        run = await asyncio.to_thread(rb.backtest_document, doc, state.store(), state.workdir,
                                      start=start, end=end, exchange=exchange)
    state.reports[run.run_id] = run.report
    state.reports.move_to_end(run.run_id)
    while len(state.reports) > MAX_REPORTS:
        state.reports.popitem(last=False)
    return web.json_response({"ok": True, "run_id": run.run_id, "trades": run.trades,
                              "fills": run.fills, "metrics": rb.metrics_json(run.metrics),
                              "note": run.engine_note, "toml": checked["toml"],
                              "report_url": f"/api/builder/report/{run.run_id}"})


async def _report(request: web.Request) -> web.StreamResponse:
    path = request.app[_STATE].reports.get(request.match_info["run_id"])
    if path is None or not path.is_file():
        return web.json_response({"error": "no such report (run the backtest again)"}, status=404)
    return web.FileResponse(path, headers={"Content-Type": "text/html; charset=utf-8",
                                           "Cache-Control": "no-store",
                                           "Content-Security-Policy": CSP_REPORT})


async def _cleanup(app: web.Application) -> None:
    made = app[_STATE]._workdir
    if made is not None:
        shutil.rmtree(made, ignore_errors=True)


def add_builder_routes(app: web.Application, catalog: Path | None, rules_dir: Path | None) -> None:
    """Mount the builder on ``app`` (see the module docstring for the endpoints)."""
    app[_STATE] = BuilderState(catalog, rules_dir)
    app.on_cleanup.append(_cleanup)
    app.router.add_get("/builder", _page)
    app.router.add_get("/api/builder/meta", _meta)
    app.router.add_get("/api/builder/files", _files)
    app.router.add_get("/api/builder/file", _file)
    app.router.add_post("/api/builder/validate", _validate)
    app.router.add_post("/api/builder/save", _save)
    app.router.add_post("/api/builder/backtest", _backtest)
    app.router.add_get("/api/builder/report/{run_id}", _report)
