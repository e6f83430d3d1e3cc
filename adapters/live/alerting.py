"""A session's alerts: delivered in the background, never in the way of trading.

``AlertDispatch`` hands each ``AlertEvent`` to the session's ``AlertRouter`` in a
background task (inline when no event loop runs, e.g. at ``finish``), so a slow or
broken sink never delays or stops the runner; ``flush`` waits for the ones still
being delivered. It raises two kinds of alerts itself, as an observer of the journal
(``observe``, a ``SessionJournal`` tap): stale data (a ``feed_stall`` record) and
``error_alert_after`` errors in a row (``error``/``feed_transient_error`` records, reset
by a ``bar``); and, polled once per round, the breaker trips the risk engine recorded
(``risk_events``). The kill switch, the drift and the reconcile schedules send their
own alerts (they hold the figures) through ``send``. Without a router everything here
is a no-op.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from typing import Any

from tradeloom.adapters.live.runner_parts import RunnerSettings
from tradeloom.adapters.ops.alerts import AlertEvent, AlertRouter, AlertRule, alert_from_risk_event
from tradeloom.engine.risk.engine import RiskEngine
from tradeloom.engine.timeutil import format_utc_ms

log = logging.getLogger(__name__)


class AlertDispatch:
    """The alerts of one session (see the module docstring)."""

    def __init__(self, router: AlertRouter | None, *, run_id: str, exchange_id: str,
                 timeframe: str, settings: RunnerSettings) -> None:
        self.router = router
        self.run_id = run_id
        self.exchange_id = exchange_id
        self.timeframe = timeframe
        self.settings = settings
        self._tasks: set[asyncio.Task[None]] = set()
        self._seen_risk_events = 0
        self._errors_in_row = 0

    def send(self, event: AlertEvent) -> None:
        """Hand ``event`` to the router in a background task (no-op without a router)."""
        if self.router is None:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # called outside the event loop (finish, tests): deliver inline
            self._deliver_now(event)
            return
        task = loop.create_task(self._deliver(event))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _deliver(self, event: AlertEvent) -> None:
        router = self.router
        if router is None:
            return
        try:
            await router.anotify(event)
        except Exception as exc:  # noqa: BLE001 - alerting must never stop the runner
            log.error("alert %s %s not delivered: %s: %s", event.rule.value, event.key,
                      type(exc).__name__, exc)

    def _deliver_now(self, event: AlertEvent) -> None:
        router = self.router
        if router is None:
            return
        try:
            router.notify(event)
        except Exception as exc:  # noqa: BLE001 - alerting must never stop the runner
            log.error("alert %s %s not delivered: %s: %s", event.rule.value, event.key,
                      type(exc).__name__, exc)

    async def flush(self, timeout_s: float | None = None) -> int:
        """Wait (at most ``timeout_s``, default ``alert_flush_s``) for alerts in delivery.

        Returns how many were still undelivered at the deadline (they keep going).
        """
        pending = set(self._tasks)
        if not pending:
            return 0
        timeout = self.settings.alert_flush_s if timeout_s is None else timeout_s
        _, still = await asyncio.wait(pending, timeout=timeout)
        if still:
            log.warning("%d alert(s) still being delivered after %.1f s", len(still), timeout)
        return len(still)

    def risk_events(self, risk: RiskEngine | None) -> None:
        """Breaker trips ``risk`` recorded since the last call, as alerts."""
        if self.router is None:
            return
        if risk is None or len(risk.events) <= self._seen_risk_events:
            return
        new = risk.events[self._seen_risk_events:]
        self._seen_risk_events = len(risk.events)
        for raw in new:
            event = alert_from_risk_event(raw, source=self.run_id)
            if event is not None and event.rule is AlertRule.BREAKER_TRIP:
                self.send(event)  # kills are alerted by the kill switch with their figures

    def observe(self, kind: str, payload: Mapping[str, Any], exchange_ts: int | None,
                local_ts: int) -> None:
        """Journal tap: stale data and repeated errors."""
        if kind == "bar":
            self._errors_in_row = 0
        elif kind == "feed_stall":
            symbol = str(payload.get("symbol", "?"))
            due = payload.get("expected_close")
            when = format_utc_ms(int(due)) if isinstance(due, int) else "its expected close"
            self.send(AlertEvent(
                AlertRule.STALE_DATA, f"{self.run_id}/{symbol}",
                f"no {self.timeframe} bar for {symbol} on {self.exchange_id} since {when}; "
                "the strategy is deciding on stale data - check the exchange's status and the "
                "feed's connectivity", dict(payload), exchange_ts))
        elif kind in ("error", "feed_transient_error"):
            self._errors_in_row += 1
            every = max(1, self.settings.error_alert_after)
            if self._errors_in_row % every == 0:
                where = str(payload.get("where", "feed" if kind != "error" else "runner"))
                error = str(payload.get("error", ""))[:300]
                self.send(AlertEvent(
                    AlertRule.REPEATED_ERRORS, f"{self.run_id}/errors",
                    f"{self._errors_in_row} errors in a row on {self.run_id} (last at "
                    f"{where}: {error})", {"count": self._errors_in_row, "where": where,
                                           "error": error}, exchange_ts))


__all__ = ["AlertDispatch"]
