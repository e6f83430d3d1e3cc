"""Alerts: typed events in, de-duplicated and escalated alerts out to the sinks.

Why: an operator running several strategies needs one page for one problem, not
a hundred, and a louder page when the problem keeps coming back. The router is
the one place that decides that; sinks (``alert_sinks``) only deliver.

Rules (``AlertRule``) and their base severity: breaker trip (warning), kill
switch (critical), reconciliation mismatch (critical), stale data (warning),
clock drift (warning), repeated errors (warning), model promotion (info). An
``AlertsConfig`` may switch a rule off or change its base severity.

**De-duplication.** Events with the same rule and key (e.g. ``"sma-btc/daily_loss"``)
within ``dedupe_window_s`` of the last alert sent for them are folded: nothing is
sent, the count goes up, and the next alert sent for that rule + key carries the
count (``count=4``: this one and three folded since the last).

**Escalation.** Every ``escalation.repeats`` occurrences of one rule + key within
``escalation.window_s`` raise its severity one level (info -> warning ->
critical). A raise is sent at once, even inside the de-dup window, marked
``escalated``; sinks with ``min_severity = "critical"`` (a pager e-mail, say)
receive only such alerts and the critical rules.

**Failures.** Each sink gets ``1 + retries`` attempts, ``retry_delay_s`` apart.
A final failure is logged (error level, with the cause), counted in
``router.stats[sink]`` and kept in ``router.failures``; it never raises into the
caller, so a broken mail server cannot stop a runner.

**Time.** The router reads time only from the injected ``clock`` (the one
``adapters.clock.Clock``; it reads ``now_ms()``); ``sleep`` between retries is
injectable too. From asyncio code use ``await router.anotify(event)`` (the sends run
in a worker thread).

>>> from tradeloom.adapters.clock import ManualClock
>>> from tradeloom.adapters.ops.alerts_config import AlertsConfig
>>> clock = ManualClock(0)
>>> router = AlertRouter(AlertsConfig(dedupe_window_s=60), clock=clock)
>>> ev = AlertEvent(AlertRule.STALE_DATA, "BTC/USDT", "no bar for 3 h")
>>> router.notify(ev).status.value, router.notify(ev).status.value
('sent', 'suppressed')
>>> clock.set(61_000)
>>> d = router.notify(ev); d.status.value, d.alert.count
('sent', 2)
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from tradeloom.adapters.clock import Clock
from tradeloom.adapters.ops.alert_sinks import Sink, build_sink
from tradeloom.adapters.ops.alerts_config import AlertsConfig, SinkConfig

log = logging.getLogger("tradeloom.alerts")


class AlertRule(StrEnum):
    """What an alert is about."""

    BREAKER_TRIP = "breaker_trip"
    KILL_SWITCH = "kill_switch"
    RECONCILIATION_MISMATCH = "reconciliation_mismatch"
    STALE_DATA = "stale_data"
    CLOCK_DRIFT = "clock_drift"
    REPEATED_ERRORS = "repeated_errors"
    MODEL_PROMOTION = "model_promotion"
    #: The venue liquidated a perpetual position (found at reconciliation).
    LIQUIDATION = "liquidation"


class Severity(StrEnum):
    """How loud: ``info`` < ``warning`` < ``critical``."""

    INFO = "info"
    WARNING = "warning"
    CRITICAL = "critical"

    @property
    def rank(self) -> int:
        return _ORDER.index(self)

    def raised(self, levels: int) -> Severity:
        """This severity ``levels`` steps louder, capped at critical.

        >>> Severity.INFO.raised(1), Severity.WARNING.raised(5)
        (<Severity.WARNING: 'warning'>, <Severity.CRITICAL: 'critical'>)
        """
        return _ORDER[min(len(_ORDER) - 1, self.rank + max(0, levels))]


_ORDER = (Severity.INFO, Severity.WARNING, Severity.CRITICAL)
BASE_SEVERITY: dict[AlertRule, Severity] = {
    AlertRule.BREAKER_TRIP: Severity.WARNING,
    AlertRule.KILL_SWITCH: Severity.CRITICAL,
    AlertRule.RECONCILIATION_MISMATCH: Severity.CRITICAL,
    AlertRule.STALE_DATA: Severity.WARNING,
    AlertRule.CLOCK_DRIFT: Severity.WARNING,
    AlertRule.REPEATED_ERRORS: Severity.WARNING,
    AlertRule.MODEL_PROMOTION: Severity.INFO,
    AlertRule.LIQUIDATION: Severity.CRITICAL,
}


@dataclass(frozen=True, slots=True)
class AlertEvent:
    """Something happened: ``rule``, the thing it happened to (``key``), what, and figures."""

    rule: AlertRule
    key: str
    message: str
    figures: Mapping[str, Any] = field(default_factory=dict)
    ts_ms: int | None = None  # when it happened (exchange/engine time), if known

    def __post_init__(self) -> None:
        object.__setattr__(self, "rule", AlertRule(self.rule))
        if not self.key:
            raise ValueError(f"alert {self.rule.value}: key must name what it is about "
                             "(runner, symbol, deployment)")


@dataclass(frozen=True, slots=True)
class Alert:
    """What the sinks receive: the event, its (possibly escalated) severity and count."""

    event: AlertEvent
    severity: Severity
    count: int
    sent_ms: int
    escalated: bool = False

    def summary(self) -> str:
        extra = f" (x{self.count})" if self.count > 1 else ""
        tag = " ESCALATED" if self.escalated else ""
        return f"{self.event.rule.value} {self.event.key}: {self.event.message}{extra}{tag}"

    def to_dict(self) -> dict[str, Any]:
        e = self.event
        return {"rule": e.rule.value, "key": e.key, "message": e.message,
                "figures": dict(e.figures), "event_ts": e.ts_ms, "severity": self.severity.value,
                "count": self.count, "sent_ts": self.sent_ms, "escalated": self.escalated}


class DispatchStatus(StrEnum):
    SENT = "sent"
    SUPPRESSED = "suppressed"
    DISABLED = "disabled"


@dataclass(frozen=True, slots=True)
class Dispatch:
    """What ``notify`` did with one event."""

    status: DispatchStatus
    alert: Alert | None = None
    delivered: tuple[str, ...] = ()
    failed: tuple[str, ...] = ()


@dataclass
class SinkStats:
    """Per-sink counters: alerts delivered, alerts given up on, failed attempts."""

    sent: int = 0
    failed: int = 0
    failed_attempts: int = 0
    last_error: str = ""


@dataclass(frozen=True, slots=True)
class SinkFailure:
    """An alert a sink could not deliver after every attempt."""

    sink: str
    rule: str
    key: str
    attempts: int
    error: str


@dataclass
class _Track:
    last_sent_ms: int | None = None
    folded: int = 0
    occurrences: deque[int] = field(default_factory=deque)
    level: Severity | None = None


class AlertRouter:
    """Routes events to sinks with de-duplication and escalation (see the module docstring)."""

    def __init__(self, config: AlertsConfig, *, clock: Clock,
                 sleep: Callable[[float], None] = time.sleep,
                 sink_factory: Callable[[SinkConfig], Sink] = build_sink) -> None:
        self.config = config
        self.clock = clock
        self._sleep = sleep
        self._sinks: list[tuple[SinkConfig, Sink]] = [(c, sink_factory(c)) for c in config.sinks]
        self.stats: dict[str, SinkStats] = {c.name: SinkStats() for c in config.sinks}
        self.failures: list[SinkFailure] = []
        self._tracks: dict[tuple[AlertRule, str], _Track] = {}
        self._lock = threading.Lock()

    def notify(self, event: AlertEvent) -> Dispatch:
        """Fold, escalate and deliver one event; never raises for a sink's failure."""
        rule_cfg = self.config.rules.get(event.rule.value)
        if rule_cfg is not None and not rule_cfg.enabled:
            return Dispatch(DispatchStatus.DISABLED)
        base = Severity(rule_cfg.severity) if rule_cfg and rule_cfg.severity else BASE_SEVERITY[
            event.rule]
        with self._lock:
            alert = self._decide(event, base, self.clock.now_ms())
        if alert is None:
            return Dispatch(DispatchStatus.SUPPRESSED)
        delivered, failed = self._deliver(alert)
        return Dispatch(DispatchStatus.SENT, alert, tuple(delivered), tuple(failed))

    async def anotify(self, event: AlertEvent) -> Dispatch:
        """``notify`` from asyncio code, without blocking the event loop on network I/O."""
        return await asyncio.to_thread(self.notify, event)

    def _decide(self, event: AlertEvent, base: Severity, now: int) -> Alert | None:
        track = self._tracks.setdefault((event.rule, event.key), _Track())
        esc = self.config.escalation
        track.occurrences.append(now)
        while track.occurrences and track.occurrences[0] <= now - esc.window_s * 1000:
            track.occurrences.popleft()
        level = base.raised(len(track.occurrences) // esc.repeats)
        escalated = track.level is not None and level.rank > track.level.rank and level != base
        track.level = level
        window_ms = self.config.dedupe_window_s * 1000
        if (not escalated and track.last_sent_ms is not None
                and now - track.last_sent_ms < window_ms):
            track.folded += 1
            return None
        alert = Alert(event, level, track.folded + 1, now, escalated)
        track.folded = 0
        track.last_sent_ms = now
        return alert

    def _deliver(self, alert: Alert) -> tuple[list[str], list[str]]:
        delivered: list[str] = []
        failed: list[str] = []
        for cfg, sink in self._sinks:
            if alert.severity.rank < Severity(cfg.min_severity).rank:
                continue
            (delivered if self._send_with_retries(cfg, sink, alert) else failed).append(cfg.name)
        return delivered, failed

    def _send_with_retries(self, cfg: SinkConfig, sink: Sink, alert: Alert) -> bool:
        stats = self.stats[cfg.name]
        attempts = 1 + cfg.retries
        error = ""
        for attempt in range(1, attempts + 1):
            try:
                sink.send(alert)
            except Exception as exc:  # noqa: BLE001 - a sink, whatever it raises, must not stop trading
                error = f"{type(exc).__name__}: {exc}"
                with self._lock:
                    stats.failed_attempts += 1
                    stats.last_error = error
                log.warning("alert sink %s: attempt %d/%d failed: %s", cfg.name, attempt,
                            attempts, error)
                if attempt < attempts:
                    self._sleep(cfg.retry_delay_s)
                continue
            with self._lock:
                stats.sent += 1
            return True
        with self._lock:
            stats.failed += 1
            self.failures.append(SinkFailure(cfg.name, alert.event.rule.value, alert.event.key,
                                             attempts, error))
        log.error("alert sink %s gave up after %d attempts on %s: %s", cfg.name, attempts,
                  alert.summary(), error)
        return False


def alert_from_risk_event(event: Mapping[str, Any], *, source: str) -> AlertEvent | None:
    """A ``RiskEngine`` event (dict with ts/kind/breaker/figures/message) as an alert.

    ``risk_trip`` -> breaker trip, ``risk_kill`` -> kill switch; other kinds
    (resets, cooldowns, status changes) are not alerts (``None``).

    >>> alert_from_risk_event({"ts": 5, "kind": "risk_trip", "breaker": "daily_loss",
    ...     "figures": {"loss_pct": 0.031}, "message": "breaker daily_loss tripped"},
    ...     source="sma-btc").key
    'sma-btc/daily_loss'
    """
    kind = event.get("kind")
    rule = {"risk_trip": AlertRule.BREAKER_TRIP, "risk_kill": AlertRule.KILL_SWITCH}.get(
        str(kind))
    if rule is None:
        return None
    return AlertEvent(rule, f"{source}/{event.get('breaker', kind)}",
                      str(event.get("message", kind)), dict(event.get("figures") or {}),
                      None if event.get("ts") is None else int(event["ts"]))


def promotion_event(name: str, from_stage: str, to_stage: str, actor: str,
                    reason: str = "") -> AlertEvent:
    """The ``model_promotion`` alert for a lifecycle change of deployment ``name``."""
    why = f" ({reason})" if reason else ""
    return AlertEvent(AlertRule.MODEL_PROMOTION, name,
                      f"{from_stage} -> {to_stage} by {actor}{why}",
                      {"from": from_stage, "to": to_stage, "actor": actor})


def sink_stats(router: AlertRouter) -> dict[str, dict[str, Any]]:
    """The router's per-sink counters as plain dicts (for /metrics and status pages)."""
    return {name: {"sent": s.sent, "failed": s.failed, "failed_attempts": s.failed_attempts,
                   "last_error": s.last_error} for name, s in router.stats.items()}


__all__ = ["BASE_SEVERITY", "Alert", "AlertEvent", "AlertRouter", "AlertRule", "Dispatch",
           "DispatchStatus", "Severity", "SinkFailure", "SinkStats", "alert_from_risk_event",
           "promotion_event", "sink_stats"]
