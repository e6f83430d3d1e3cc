"""The runner's two schedules on the local clock: clock drift and reconciliation.

**Drift** (``DriftSchedule``): at start and every ``drift_check_s``, the exchange's
clock (``fetch_time``) against ours, a ``drift`` record, and the offset given to the
feed. Above ``max_drift_ms`` the whole exchange is paused in the risk engine (entries
refused, exits allowed) with a ``pause`` record and a ``clock_drift`` alert; back under
it, ``resume``. Replay applies the same records at the same points.

**Reconcile** (``ReconcileSchedule``, live): the report ``open_live`` made before the
portfolio was opened is journaled at start; then every ``reconcile_every_s`` a new
reconciliation runs off the event loop, a ``reconcile`` record each time (an
unreachable exchange is journaled and retried at the next due time). A mismatch is an
alert: logged, ``summary.alerts``/``summary.degraded`` for the status, an ``alert`` and
a ``degrade`` record, every traded symbol degraded in the risk engine (entries refused
until a person restarts the runner; replay applies the ``degrade`` record) and a
``reconciliation_mismatch`` alert. The fills it found reach the engine through the
broker like any other fill.

Both only schedule on the injectable clock; no market decision reads it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any

import ccxt

from tradeloom.adapters.ccxt.bar_feed import BarFeed
from tradeloom.adapters.ccxt.exchange import map_ccxt_error
from tradeloom.adapters.ccxt.positions import VenueLiquidation
from tradeloom.adapters.clock import Clock
from tradeloom.adapters.live.alerting import AlertDispatch
from tradeloom.adapters.live.controls import degrade_symbols, restore_symbols, set_paused
from tradeloom.adapters.live.reconcile import ReconcileReport
from tradeloom.adapters.live.recovery import RunnerReconciler
from tradeloom.adapters.live.runner_parts import RunnerSettings, RunSummary, SessionJournal
from tradeloom.adapters.ops.alerts import AlertEvent, AlertRule
from tradeloom.engine.errors import TradeloomError
from tradeloom.engine.risk.engine import RiskEngine
from tradeloom.engine.run.loop import Engine

log = logging.getLogger(__name__)


class DriftSchedule:
    """Clock drift against the exchange (see the module docstring)."""

    def __init__(self, engine: Engine, risk: RiskEngine | None, *, client: Any, feed: BarFeed,
                 journal: SessionJournal, clock: Clock, summary: RunSummary,
                 alerts: AlertDispatch, settings: RunnerSettings, exchange_id: str,
                 run_id: str) -> None:
        self.engine = engine
        self.risk = risk
        self.client = client
        self.feed = feed
        self.journal = journal
        self.clock = clock
        self.summary = summary
        self.alerts = alerts
        self.settings = settings
        self.exchange_id = exchange_id
        self.run_id = run_id
        self.next_local = 0

    def due(self) -> bool:
        return self.clock.now_ms() >= self.next_local

    async def check(self, initial: bool = False) -> int:
        """Measure the drift now; the exchange's time. ``initial``: before the engine
        starts (a pause is journaled with ``ts`` None and applied at start)."""
        local_before = self.clock.now_ms()
        try:
            server = int(await self.client.fetch_time())
        except ccxt.BaseError as exc:
            raise map_ccxt_error(exc, context=f"{self.exchange_id} fetch_time (drift check)") from exc
        local = (local_before + self.clock.now_ms()) // 2
        offset = server - local
        self.feed.exchange_offset_ms = offset
        self.next_local = self.clock.now_ms() + round(self.settings.drift_check_s * 1000)
        too_far = abs(offset) > self.settings.max_drift_ms
        payload = {"offset_ms": offset, "max_drift_ms": self.settings.max_drift_ms,
                   "paused": too_far}
        self.journal.write("drift", payload, server)
        if too_far != self.summary.paused:
            self.summary.paused = too_far
            if not initial:
                ts = self.engine.ctx.now
                set_paused(self.risk, self.exchange_id, too_far, ts)
                self.journal.write("pause" if too_far else "resume",
                                   {"ts": ts, "offset_ms": offset}, server)
            elif too_far:
                self.journal.write("pause", {"ts": None, "offset_ms": offset}, server)
            log.warning("clock drift %d ms vs %s: trading %s", offset, self.exchange_id,
                        "paused" if too_far else "resumed")
            if too_far:
                self.alerts.send(AlertEvent(
                    AlertRule.CLOCK_DRIFT, f"{self.run_id}/{self.exchange_id}",
                    f"clock drift {offset} ms against {self.exchange_id} exceeds "
                    f"{self.settings.max_drift_ms} ms: new entries paused until it is back "
                    "under the threshold (check NTP on this host)",
                    {"offset_ms": offset, "max_drift_ms": self.settings.max_drift_ms}, server))
        return server


class ReconcileSchedule:
    """Periodic reconciliation of a live session (see the module docstring).

    ``notify`` is called once the session is degraded (the runner ticks its status).
    """

    def __init__(self, engine: Engine, risk: RiskEngine | None, reconciler: RunnerReconciler, *,
                 opening_report: ReconcileReport | None, feed: BarFeed,
                 journal: SessionJournal, clock: Clock, summary: RunSummary,
                 alerts: AlertDispatch, settings: RunnerSettings, session: Mapping[str, Any],
                 exchange_id: str, run_id: str, notify: Callable[[], None]) -> None:
        self.engine = engine
        self.risk = risk
        self.reconciler = reconciler
        self._opening_report = opening_report
        self.feed = feed
        self.journal = journal
        self.clock = clock
        self.summary = summary
        self.alerts = alerts
        self.settings = settings
        self.session = session
        self.exchange_id = exchange_id
        self.run_id = run_id
        self.notify = notify
        self.next_local = 0
        self._mismatch = False  # the last reconciliation degraded the session

    def due(self) -> bool:
        return self.clock.now_ms() >= self.next_local

    async def opening(self) -> None:
        """At start: journal the report made when the session opened (or reconcile now)."""
        report, self._opening_report = self._opening_report, None
        await self.run(report)

    async def run(self, report: ReconcileReport | None = None) -> None:
        """Reconcile now (or journal ``report``); alert and degrade on a mismatch."""
        every_ms = round(self.settings.reconcile_every_s * 1000)
        if report is None:
            try:
                report = await self.reconciler(self.clock.now_ms() + self.feed.exchange_offset_ms)
            except TradeloomError as err:  # the exchange is unreachable: try again next time
                self.journal.write("error", {"error": str(err), "where": "reconcile"}, None)
                log.error("reconciliation failed (%s); retrying in %.0f s", err,
                          self.settings.reconcile_every_s)
                self.next_local = self.clock.now_ms() + every_ms
                return
        self.next_local = self.clock.now_ms() + every_ms
        self.summary.reconciliations += 1
        self.journal.write("reconcile", {
            "ok": report.ok, "updated": list(report.updated), "adopted": list(report.adopted),
            "never_sent": list(report.never_sent), "foreign": list(report.foreign),
            "cancelled_foreign": list(report.cancelled_foreign), "new_fills": report.new_fills,
            "problems": list(report.problems)}, None)
        for liquidation in report.liquidations:
            self._liquidated(liquidation)
        if report.ok and self._mismatch:
            self._restore()
        if not report.ok:
            problems = list(report.problems)
            self._mismatch = True
            self._degrade("reconcile_mismatch", "; ".join(problems) or "mismatch")
            self.alerts.send(AlertEvent(
                AlertRule.RECONCILIATION_MISMATCH, f"{self.run_id}/reconcile",
                f"reconciliation mismatch on {self.exchange_id} "
                f"(account {self.session.get('account', '?')}): "
                f"{'; '.join(problems)[:500] or 'mismatch'}; new entries refused until the "
                "difference is explained or a person accepts the exchange's state "
                "(tradeloom reconcile CONFIG --accept)",
                {"problems": problems[:20], "adopted": list(report.adopted),
                 "foreign": list(report.foreign), "never_sent": list(report.never_sent)},
                self.engine.ctx.now or None))

    def _liquidated(self, liq: VenueLiquidation) -> None:
        """The venue liquidated a perpetual position: a ``liquidation`` record (its
        ``engine_ts``: never before the engine clock), booked in the engine as its own
        liquidations are (``replay`` books the record the same way), logged and alerted."""
        engine = self.engine
        if engine.portfolio.perp_position(liq.symbol) == 0.0:
            self.journal.write("warning", {"where": "reconcile", "warning": (
                f"the venue reports a liquidation of {liq.symbol} but the session holds no "
                "position in it; nothing booked")}, liq.ts)
            return
        ts = max(int(liq.ts), int(engine.ctx.now))
        self.journal.write("liquidation", {**liq.payload(), "engine_ts": ts}, liq.ts)
        engine.book_liquidation(liq.symbol, ts, liq.price, liq.fee, liq.source)
        self.summary.liquidations += 1
        message = (f"{liq.symbol}: the venue liquidated the position {liq.qty:g} at "
                   f"{liq.price:g} (fee {liq.fee:g}, found by {liq.source})")
        self.summary.alerts.append(f"liquidation: {message}")
        log.error("LIQUIDATION %s", message)
        self.alerts.send(AlertEvent(AlertRule.LIQUIDATION,
                                    f"{self.run_id}/liquidation/{liq.symbol}",
                                    f"liquidation on {self.exchange_id}: {message}",
                                    liq.payload(), ts))

    def _restore(self) -> None:
        """Reconciliation agrees again (a person accepted the exchange's state, or the
        missing trades arrived): entries are allowed again, journaled as ``restore``."""
        self._mismatch = False
        if not self.summary.degraded:
            return
        self.summary.degraded = False
        ts = self.engine.ctx.now
        self.journal.write("restore", {"ts": ts, "symbols": list(self.engine.symbols),
                                       "reason": "reconcile_ok"}, None)
        log.warning("reconciliation agrees with the exchange again: new entries allowed")
        restore_symbols(self.risk, self.engine.symbols, ts)
        self.notify()

    def _degrade(self, kind: str, message: str) -> None:
        """Log, status, journal; entries refused on every traded symbol (once)."""
        text = f"{kind}: {message}"
        self.summary.alerts.append(text)
        self.journal.write("alert", {"kind": kind, "message": message}, None)
        log.error("ALERT %s - new entries refused until the difference is explained or a "
                  "person accepts the exchange's state (tradeloom reconcile CONFIG --accept)",
                  text)
        if self.summary.degraded:
            return
        self.summary.degraded = True
        ts = self.engine.ctx.now
        self.journal.write("degrade", {"ts": ts, "symbols": list(self.engine.symbols),
                                       "reason": kind}, None)
        degrade_symbols(self.risk, self.engine.symbols, ts)
        self.notify()


__all__ = ["DriftSchedule", "ReconcileSchedule"]
