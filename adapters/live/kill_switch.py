"""The runner's kill switch: a flag file or an API call stops new entries and cancels
every open order, fast, and says so everywhere an operator looks.

A kill is requested by ``request`` (API, the status page) or by the flag file
(``safety.KillFlag``); ``check`` acts on it within one loop round: a ``kill`` record,
``RiskEngine.kill`` (entries blocked) and every open order cancelled through the engine
(``controls.kill_engine``, which ``replay`` applies to the same record), then, live, the
broker's ``cancel_all`` (every order on the exchange). A ``cancel_all`` that fails is
journaled; the kill stands. The latency from the request (or the flag file's mtime) to
the confirmed cancel goes to ``summary.kill_latency_s`` and a ``kill_done`` record; an
audit entry (who, why, what was cancelled: a failed write is journaled, never raised)
and a ``kill_switch`` alert follow.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from typing import Any

from tradeloom.adapters.live.alerting import AlertDispatch
from tradeloom.adapters.live.controls import kill_engine
from tradeloom.adapters.live.runner_parts import RunSummary, SessionJournal
from tradeloom.adapters.live.safety import KillFlag
from tradeloom.adapters.ops.alerts import AlertEvent, AlertRule
from tradeloom.adapters.ops.audit import AuditKind, AuditLog
from tradeloom.adapters.clock import Clock
from tradeloom.engine.errors import TradeloomError
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
                 run_id: str, notify: Callable[[], None]) -> None:
        self.engine = engine
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
        self._request: tuple[str, float, str] | None = None

    def request(self, reason: str = "api", actor: str = "api") -> None:
        """Ask for the kill (acted on by the next ``check``); ``actor`` is who asked."""
        if self._request is None:
            self._request = (reason, time.monotonic(), actor or "api")

    async def check(self) -> None:
        """Kill now if it was requested or the flag file is present (once)."""
        if self.killed:
            return
        request = self._request
        if request is None and self.flag is not None:
            path = self.flag.present()
            if path is not None:
                age = max(0.0, time.time() - path.stat().st_mtime)
                request = (KillFlag.reason(path), time.monotonic() - age,
                           f"kill flag {path.name}")
        if request is not None:
            self._kill(*request)

    def _kill(self, reason: str, since: float, actor: str = "api") -> None:
        engine = self.engine
        ts = engine.ctx.now
        self.killed = True
        self.journal.write("kill", {"ts": ts, "reason": reason}, None)
        cancelled = kill_engine(engine, self.risk, ts, reason)
        report: object = None
        if self.broker is not None:  # live: every order on the exchange too
            try:
                report = self.broker.cancel_all(ts, timeout_s=self.cancel_timeout_s)
            except TradeloomError as err:  # the kill stands: entries stay blocked
                self.journal.write("error", {"error": str(err), "where": "kill cancel_all"},
                                   None)
                log.error("kill switch: cancel_all failed (%s); orders the engine knew were "
                          "cancelled one by one - check the exchange", err)
        latency = time.monotonic() - since
        self.summary.kill_latency_s = latency
        self.journal.write("kill_done", {"ts": ts, "cancelled": cancelled,
                                         "latency_s": round(latency, 4),
                                         "exchange_report": repr(report) if report else None}, None)
        log.warning("kill switch: %s; %d orders cancelled in %.3f s", reason, cancelled, latency)
        details = {"reason": reason, "run_id": self.run_id,
                   "account": self.session.get("account"), "mode": self.session.get("mode"),
                   "exchange": self.exchange_id, "engine_ts": ts, "cancelled": cancelled,
                   "latency_s": round(latency, 4)}
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


__all__ = ["KillSwitch"]
