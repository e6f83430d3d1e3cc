"""``StatusPublisher``: a running ``LiveRunner`` writes its ``RunnerStatus`` file.

How it is fed (cheap enough for the live loop):

- **Journal records** (``observe``): the runner's ``SessionJournal`` hands every
  record it writes to its ``observer``. Bars and fills stamp the last event (wall
  clock) and count; bars, drift checks and reconciliations mark a good exchange
  request; errors, transient feed errors and stalls count by type; ``reconcile``
  records give the reconciliation status (a mismatch counts and stays until the
  runner restarts, as the runner's refusal of entries does); kills, pauses, alerts,
  warnings, errors and stalls become alerts; drift records give the clock drift.
- **The runner itself** (``tick``, called by the runner at the end of every round,
  after a kill and at ``finish``): an equity sample when the engine clock moved;
  new risk decisions and breaker events since the last tick (read incrementally);
  then, when due - every ``interval_s`` of wall time, or at once when the state
  (running/paused/killed/stopped) changed - a full snapshot written atomically.

A status file that cannot be written is logged (at most once a minute) and the
runner trades on: the file going stale is what ``/health`` reports.

Wire a session built by ``adapters.session``::

    publisher = StatusPublisher(config.state_dir, session.run_id)
    session.runner.attach_publisher(publisher)
"""

from __future__ import annotations

import logging
import math
import os
import time
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from tradeloom.adapters.clock import SystemClock
from tradeloom.adapters.ops.status import (
    AlertRow,
    BreakerState,
    Counters,
    ExchangeLink,
    FillRow,
    LatencyHistogram,
    OrderRow,
    PositionRow,
    Reconciliation,
    RunnerStatus,
    status_path,
    write_status,
)
from tradeloom.engine.risk.engine import RiskEngine

if TYPE_CHECKING:
    from tradeloom.adapters.live.runner import LiveRunner
    from tradeloom.adapters.live.stage_timing import StageTimings

log = logging.getLogger(__name__)
_SYSTEM = SystemClock()

#: Histogram upper bounds (seconds) for stage latencies; the 5 ms target is a bound.
LATENCY_BOUNDS_S = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
                    0.25, 1.0, math.inf)
BREAKER_SETTINGS = ("daily_loss", "max_drawdown", "consecutive_losses")
_ALERT_KINDS = {"kill": "critical", "alert": "error", "pause": "warning", "resume": "info",
                "error": "error", "warning": "warning", "feed_stall": "warning",
                "feed_transient_error": "warning"}


def _finite(value: float) -> float | None:
    return float(value) if math.isfinite(value) else None


class StatusPublisher:
    """Publishes one runner's status to ``<state_dir>/status/<runner_id>.json``."""

    def __init__(self, state_dir: Path, runner_id: str, *, interval_s: float = 2.0,
                 history: int = 500, recent: int = 50, max_alerts: int = 20,
                 wall_ms: Callable[[], int] = _SYSTEM.now_ms,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        if interval_s <= 0:
            raise ValueError(f"interval_s must be > 0, got {interval_s}")
        self.state_dir = Path(state_dir)
        self.runner_id = runner_id
        self.path = status_path(self.state_dir, runner_id)
        self.interval_s = float(interval_s)
        self.recent = int(recent)
        self._wall = wall_ms
        self._mono = monotonic
        self.started_ms = wall_ms()
        self._equity: deque[tuple[int, float]] = deque(maxlen=history)
        self._alerts: deque[AlertRow] = deque(maxlen=max_alerts)
        self._bars = 0
        self._fills: dict[str, int] = {}
        self._errors: dict[str, int] = {}
        self._decisions: dict[str, int] = {}
        self._trips: dict[str, int] = {}
        self._trip_info: dict[str, tuple[int | None, str]] = {}
        self._seen_decisions = 0
        self._seen_events = 0
        self._last_event_ts: int | None = None
        self._last_event_ms: int | None = None
        self._last_ok_ms: int | None = None
        self._consecutive_errors = 0
        self._last_error = ""
        self._drift_ms: int | None = None
        self._kill_reason = ""
        self._reconcile = Reconciliation()
        self._mismatches = 0
        self._last_state = ""
        self._next_due = 0.0
        self._last_equity = 0.0
        self._write_failed_at = -math.inf
        self.writes = 0

    # ------------------------------------------------------------------ inputs
    def attach(self, runner: LiveRunner) -> None:
        """Become ``runner``'s journal observer (``LiveRunner.attach_publisher`` calls this)."""
        runner.journal.observer = self.observe
        self._last_equity = _initial_equity(runner.session)

    def observe(self, kind: str, payload: Mapping[str, Any], exchange_ts: int | None,
                local_ts: int) -> None:
        """One journal record (see the module docstring); unknown kinds are ignored."""
        if kind == "bar" or kind == "fill":
            self._last_event_ts = exchange_ts
            self._last_event_ms = self._wall()
            if kind == "bar":
                self._bars += 1
                self._link_ok()
            else:
                symbol = str(payload.get("symbol", ""))
                self._fills[symbol] = self._fills.get(symbol, 0) + 1
        elif kind == "drift":
            self._drift_ms = int(payload.get("offset_ms", 0))
            self._link_ok()
        elif kind in ("error", "feed_transient_error", "feed_stall"):
            kind_name = "feed_transient" if kind == "feed_transient_error" else kind
            where = str(payload.get("where", kind_name)).replace(" ", "_")
            self._errors[where] = self._errors.get(where, 0) + 1
            if kind != "feed_stall":
                self._consecutive_errors += 1
                self._last_error = str(payload.get("error", ""))[:300]
        elif kind == "kill":
            self._kill_reason = str(payload.get("reason", ""))
        elif kind == "reconcile":
            self._link_ok()
            ok = bool(payload.get("ok"))
            problems = tuple(str(p)[:300] for p in payload.get("problems", ())[:10])
            if not ok:
                self._mismatches += 1
            if not ok or self._reconcile.status != "mismatch":
                self._reconcile = Reconciliation("ok" if ok else "mismatch", self._wall(),
                                                 problems)
        if kind in _ALERT_KINDS:
            self.alert(kind, _describe(kind, payload), _ALERT_KINDS[kind], ts=exchange_ts)

    def _link_ok(self) -> None:
        self._last_ok_ms = self._wall()
        self._consecutive_errors = 0

    def alert(self, kind: str, message: str, level: str = "warning",
              ts: int | None = None) -> None:
        """Add an alert to the published list (the last ``max_alerts`` are kept)."""
        self._alerts.append(AlertRow(self._wall(), level, kind, message, ts))

    # ------------------------------------------------------------------ output
    def tick(self, runner: LiveRunner, *, final: bool = False) -> bool:
        """Sample and, when due or the state changed, write the status; True if written."""
        engine = runner.engine
        now = int(engine.ctx.now)
        equity = _finite(engine.portfolio.equity())
        if equity is not None:
            self._last_equity = equity
            if now > 0 and (not self._equity or now > self._equity[-1][0]):
                self._equity.append((now, equity))
        self._read_risk(runner)
        state = _state_of(runner, final)
        if not final and state == self._last_state and self._mono() < self._next_due:
            return False
        return self.publish(runner, state)

    def publish(self, runner: LiveRunner, state: str | None = None) -> bool:
        """Write the status now; False (logged) if the file system refused."""
        state = state or _state_of(runner, False)
        status = self.snapshot(runner, state)
        self._last_state = state
        self._next_due = self._mono() + self.interval_s
        try:
            write_status(self.state_dir, status)
        except OSError as exc:
            if self._mono() - self._write_failed_at > 60:
                self._write_failed_at = self._mono()
                log.error("status file %s not written (%s); trading continues, /health will "
                          "report it stale", self.path, exc)
            return False
        self.writes += 1
        return True

    def _read_risk(self, runner: LiveRunner) -> None:
        risk = _risk_of(runner)
        if risk is None:
            return
        for d in risk.decisions[self._seen_decisions:]:
            self._decisions[d.code.value] = self._decisions.get(d.code.value, 0) + 1
        self._seen_decisions = len(risk.decisions)
        for e in risk.events[self._seen_events:]:
            if e["kind"] in ("risk_trip", "risk_kill"):
                name = str(e["breaker"])
                self._trips[name] = self._trips.get(name, 0) + 1
                self._trip_info[name] = (e.get("ts"), str(e.get("message", "")))
                if e["kind"] == "risk_trip":
                    self.alert("breaker", str(e.get("message", name)), "warning", ts=e.get("ts"))
        self._seen_events = len(risk.events)

    def snapshot(self, runner: LiveRunner, state: str) -> RunnerStatus:
        """The full ``RunnerStatus`` of ``runner`` now."""
        engine = runner.engine
        info = runner.session
        portfolio = engine.portfolio
        risk = _risk_of(runner)
        decisions = dict(self._decisions)
        if risk is not None:
            decisions["ok"] = max(0, risk.checked - len(risk.decisions))
        exposure = _finite(portfolio.position_value()) or 0.0
        return RunnerStatus(
            runner_id=self.runner_id, account=str(info.get("account", "")),
            mode=str(info.get("mode", "paper")), state=state,
            strategy=str(info.get("strategy", "")),
            symbols=tuple(str(s) for s in engine.symbols),
            exchange=runner.exchange_id, timeframe=str(info.get("timeframe", "")),
            timeframe_ms=int(runner.tf_ms), published_ms=self._wall(),
            started_ms=self.started_ms, publish_interval_s=self.interval_s, pid=os.getpid(),
            stop_reason=runner.summary.stop_reason, kill_reason=self._kill_reason,
            stopped_cleanly=state == "stopped" and not runner.summary.failed,
            kill_cancelled=runner.summary.kill_cancelled,
            kill_latency_s=runner.summary.kill_latency_s,
            engine_ts=int(engine.ctx.now) or None, last_event_ts=self._last_event_ts,
            last_event_local_ms=self._last_event_ms,
            link=ExchangeLink(self._last_ok_ms, self._consecutive_errors, self._last_error),
            clock_drift_ms=self._drift_ms, max_drift_ms=runner.settings.max_drift_ms,
            breakers=self._breakers(risk), reconciliation=self._reconcile,
            quote=portfolio.quote, cash=_finite(portfolio.cash) or 0.0,
            equity=self._last_equity, initial_equity=_initial_equity(info),
            exposure=exposure, equity_history=tuple(self._equity),
            positions=_positions(portfolio),
            open_orders=tuple(_order_row(o) for o in engine.broker.open_orders()),
            recent_orders=tuple(_order_row(o) for o in engine.orders[-self.recent:]),
            recent_fills=tuple(_fill_row(f) for f in engine.fills[-self.recent:]),
            alerts=tuple(self._alerts),
            counters=Counters(self._bars, dict(self._fills), decisions, dict(self._trips),
                              dict(self._errors), self._mismatches),
            latency=_latency(runner.timings),
        )

    def _breakers(self, risk: RiskEngine | None) -> tuple[BreakerState, ...]:
        if risk is None:
            return ()
        tripped = set(risk.tripped())
        cfg = risk.config
        configured = {"daily_loss": cfg.daily_loss, "max_drawdown": cfg.max_drawdown,
                      "consecutive_losses": cfg.consecutive_losses}
        names = [n for n in BREAKER_SETTINGS if configured[n]] + ["kill_switch"]
        out = []
        for name in names:
            since, detail = self._trip_info.get(name, (None, ""))
            on = name in tripped
            out.append(BreakerState(name, on, since if on else None, detail if on else ""))
        return tuple(out)


def _describe(kind: str, payload: Mapping[str, Any]) -> str:
    if kind == "kill":
        return f"kill switch: {payload.get('reason', '')}"
    if kind == "pause":
        return f"clock drift {payload.get('offset_ms')} ms: new entries paused"
    if kind == "resume":
        return f"clock drift back to {payload.get('offset_ms')} ms: trading resumed"
    if kind == "feed_stall":
        return f"no bar for {payload.get('symbol', '?')} since its expected close"
    if kind == "alert":
        return f"{payload.get('kind', 'alert')}: {str(payload.get('message', ''))[:300]}"
    if kind == "warning":
        return f"{payload.get('where', 'warning')}: {str(payload.get('warning', ''))[:300]}"
    where = payload.get("where")
    return f"{where + ': ' if where else ''}{str(payload.get('error', kind))[:300]}"


def _initial_equity(info: Mapping[str, Any]) -> float:
    """What the session's PnL counts from: its equity at start with every held position
    marked (``initial_equity``, set when the runner started), else its opening cash."""
    value = info.get("initial_equity")
    if value is None:
        value = info.get("initial_cash")
    return float(value or 0.0)


def _state_of(runner: LiveRunner, final: bool) -> str:
    if final:
        return "stopped"
    if runner.killed:
        return "killed"
    summary = runner.summary  # degraded: a reconciliation alert refuses entries
    return "paused" if summary.paused or summary.degraded else "running"


def _risk_of(runner: LiveRunner) -> RiskEngine | None:
    return runner.risk


def _positions(portfolio: Any) -> tuple[PositionRow, ...]:
    rows = []
    for symbol, amount in portfolio.positions().items():
        pos = portfolio.get(symbol)
        mark = _finite(portfolio.mark(symbol))
        avg = float(pos.avg_entry) if pos is not None else 0.0
        value = amount * mark if mark is not None else 0.0
        unrealized = amount * (mark - avg) if mark is not None else 0.0
        rows.append(PositionRow(symbol, float(amount), avg, mark, value, unrealized))
    return tuple(rows)


def _order_row(o: Any) -> OrderRow:
    return OrderRow(int(o.id), str(o.client_id), str(o.symbol), o.side.value, o.type.value,
                    o.status.value, float(o.amount), float(o.filled),
                    None if o.price is None else float(o.price), int(o.created_ts),
                    str(o.reason)[:200])


def _fill_row(f: Any) -> FillRow:
    return FillRow(int(f.order_id), str(f.symbol), f.side.value, int(f.ts), float(f.price),
                   float(f.amount), float(f.fee))


def _stage_samples(timings: StageTimings | None) -> Mapping[str, Iterable[int]]:
    """``StageTimings``' bounded sample window per stage (ns); read, never changed."""
    return timings.samples() if timings is not None else {}


def _latency(timings: StageTimings | None) -> dict[str, LatencyHistogram]:
    out: dict[str, LatencyHistogram] = {}
    for stage, samples in _stage_samples(timings).items():
        ns = np.fromiter(samples, dtype=np.float64)
        if ns.size == 0:
            continue
        sec = ns / 1e9
        idx = np.searchsorted(np.asarray(LATENCY_BOUNDS_S), sec, side="left")
        counts = np.bincount(idx, minlength=len(LATENCY_BOUNDS_S))
        p50, p95, p99 = np.percentile(sec * 1000, [50, 95, 99])
        out[stage] = LatencyHistogram(LATENCY_BOUNDS_S,
                                      tuple(int(c) for c in np.cumsum(counts)),
                                      float(sec.sum()), int(sec.size), round(float(p50), 4),
                                      round(float(p95), 4), round(float(p99), 4))
    return out


__all__ = ["LATENCY_BOUNDS_S", "StatusPublisher"]
