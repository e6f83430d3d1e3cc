"""The runner's kill switch: a flag file or an API call stops new entries and cancels
this runner's open orders, fast, and says so everywhere an operator looks.

A kill is requested by ``request`` (API, the status page) or by the flag file
(``safety.KillFlag``); ``check`` acts on it within one loop round: a ``kill`` record,
``RiskEngine.kill`` (entries blocked) and every open order cancelled through the engine
(``controls.kill_engine``, which ``replay`` applies to the same record), then, live, the
broker's ``cancel_all``: the orders with this run's client ids on the exchange, or every
open order of the account when the request's scope is ``all`` (``tradeloom kill
--all``). A ``cancel_all`` that fails is journaled; the kill stands.

What is reported (``kill_done`` record, log line, audit entry, ``kill_switch`` alert):
the true count (:func:`taken_out`: the orders working before the kill that are
cancelled after it, plus any other the exchange reports it cancelled) - and the latency
from the request to the confirmed cancel, in ``summary.kill_latency_s`` too. The
latency counts from the request, or from the flag file's mtime, but never from before
this runner started: a runner restarted with the flag present measures from its start.
A failed audit write is journaled, never raised.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from tradeloom.adapters.clock import Clock
from tradeloom.adapters.live.alerting import AlertDispatch
from tradeloom.adapters.live.controls import kill_engine
from tradeloom.adapters.live.runner_parts import RunSummary, SessionJournal
from tradeloom.adapters.live.safety import KillFlag, KillScope
from tradeloom.adapters.ops.alerts import AlertEvent, AlertRule
from tradeloom.adapters.ops.audit import AuditKind, AuditLog
from tradeloom.engine.errors import TradeloomError
from tradeloom.engine.orders import Order, OrderStatus
from tradeloom.engine.ports import LiveBroker
from tradeloom.engine.risk.engine import RiskEngine
from tradeloom.engine.run.loop import Engine

log = logging.getLogger(__name__)


class KillSwitch:
    """The kill switch of one session (see the module docstring).

    ``broker`` is the live broker (``None`` for paper: the engine's cancels are all
    there is); ``notify`` is called after a kill (the runner ticks its status page).
    """

    def __init__(self, engine: Engine, risk: RiskEngine | None, broker: LiveBroker | None, *,
                 journal: SessionJournal, clock: Clock, summary: RunSummary,
                 flag: KillFlag | None, audit: AuditLog | None, alerts: AlertDispatch,
                 cancel_timeout_s: float, session: Mapping[str, Any], exchange_id: str,
                 run_id: str, notify: Callable[[], None], symbols: Sequence[str] = ()) -> None:
        self.engine = engine
        self.symbols = tuple(symbols)
        self.risk = risk
        self.broker = broker
        self.journal = journal
        self.clock = clock
        self.summary = summary
        self.flag = flag
        self.audit = audit
        self.alerts = alerts
        self.cancel_timeout_s = cancel_timeout_s
        self.session = session
        self.exchange_id = exchange_id
        self.run_id = run_id
        self.notify = notify
        self.killed = False
        self._request: tuple[str, float, str, KillScope] | None = None
        #: When the runner started (monotonic): no kill latency counts from before it.
        self.started = time.monotonic()

    def mark_started(self) -> None:
        """The runner starts now (``LiveRunner.start``)."""
        self.started = time.monotonic()

    def request(self, reason: str = "api", actor: str = "api", *,
                all_orders: bool = False) -> None:
        """Ask for the kill (acted on by the next ``check``); ``actor`` is who asked;
        ``all_orders``: every open order of the account, not only this runner's."""
        if self._request is None:
            scope = KillScope.ALL if all_orders else KillScope.RUNNER
            self._request = (reason, time.monotonic(), actor or "api", scope)

    async def check(self) -> None:
        """Kill now if it was requested or the flag file is present (once)."""
        if self.killed:
            return
        request = self._request
        if request is None and self.flag is not None:
            path = self.flag.present()
            if path is not None:
                age = max(0.0, time.time() - path.stat().st_mtime)
                flag = KillFlag.read(path)
                request = (flag.reason, max(time.monotonic() - age, self.started),
                           f"kill flag {path.name}", flag.scope)
        if request is not None:
            self._kill(*request)

    def _kill(self, reason: str, since: float, actor: str = "api",
              scope: KillScope = KillScope.RUNNER) -> None:
        engine = self.engine
        ts = engine.ctx.now
        self.killed = True
        self.journal.write("kill", {"ts": ts, "reason": reason, "scope": scope.value}, None)
        working = list(engine.broker.open_orders())
        cancelled = kill_engine(engine, self.risk, ts, reason)
        report: object = None
        if self.broker is not None:  # live: this run's orders on the exchange too
            try:
                report = self.broker.cancel_all(ts, timeout_s=self.cancel_timeout_s,
                                                all_orders=scope is KillScope.ALL,
                                                symbols=self.symbols)
            except TradeloomError as err:  # the kill stands: entries stay blocked
                self.journal.write("error", {"error": str(err), "where": "kill cancel_all"},
                                   None)
                log.error("kill switch: cancel_all failed (%s); orders the engine knew were "
                          "cancelled one by one - check the exchange", err)
        true_count = taken_out(working, report)
        latency = time.monotonic() - since
        self.summary.kill_latency_s = latency
        self.summary.kill_cancelled = true_count
        self.journal.write("kill_done", {"ts": ts, "cancelled": true_count,
                                         "engine_cancelled": cancelled, "scope": scope.value,
                                         "latency_s": round(latency, 4),
                                         "exchange_report": repr(report) if report else None}, None)
        which = "open orders of the account" if scope is KillScope.ALL else "orders of this runner"
        log.warning("kill switch: %s; %d %s cancelled in %.3f s", reason, true_count, which,
                    latency)
        cancelled = true_count
        details = {"reason": reason, "run_id": self.run_id,
                   "account": self.session.get("account"), "mode": self.session.get("mode"),
                   "exchange": self.exchange_id, "engine_ts": ts, "cancelled": cancelled,
                   "scope": scope.value, "latency_s": round(latency, 4)}
        self._audit(AuditKind.KILL, actor, details)
        self.alerts.send(AlertEvent(
            AlertRule.KILL_SWITCH, f"{self.run_id}/kill_switch",
            f"kill switch on {self.run_id} (account {details['account']}): {reason}; "
            f"{cancelled} open orders cancelled in {latency:.3f} s, new entries blocked",
            {"reason": reason, "actor": actor, "cancelled": cancelled,
             "latency_s": round(latency, 4)}, ts or None))
        self.notify()

    def _audit(self, kind: AuditKind, actor: str, details: dict[str, Any]) -> None:
        """Append to the audit log; a failure is journaled and logged, never raised."""
        if self.audit is None:
            return
        try:
            self.audit.append(kind, actor=actor, ts_ms=self.clock.now_ms(), subject=self.run_id,
                              details=details)
        except (OSError, ValueError) as err:
            self.journal.write("error", {"error": f"audit log: {err}", "where": "audit"}, None)
            log.error("audit log %s: %s entry not written (%s); fix the file (run `tradeloom "
                      "audit verify %s`) - trading is not affected", self.audit.path,
                      kind.value, err, self.audit.path)


def taken_out(working: list[Order], report: object) -> int:
    """Orders the kill really took out: those working before it that are cancelled (or,
    queued and never sent, rejected) now, plus what the exchange reports it cancelled
    besides (``all``: orders placed by hand). An order that filled before the cancel
    reached the exchange is not counted."""
    gone = {o.client_id or str(o.id) for o in working
            if o.status in (OrderStatus.CANCELED, OrderStatus.REJECTED, OrderStatus.EXPIRED)}
    for name in ("cancelled", "dropped"):
        gone.update(str(cid) for cid in getattr(report, name, ()) or ())
    return len(gone)


__all__ = ["KillSwitch", "taken_out"]
