"""``LiveRunner``: exchange events into the one ``Engine.step``, one at a time.

Why one runner for paper and live: the strategy, the ``RiskEngine`` and the
portfolio logic are the objects and code a backtest uses; only the broker behind
the engine differs (``SimulatedBroker`` for paper, ``CcxtBroker`` for live), and it
is picked once when the session is built (``adapters.session``), never tested for
inside the loop. What the runner adds is I/O and safety around the step:

1. **Start** (``start``): clock drift against the exchange (``fetch_time``), the
   warm-up bars (store, then exchange; ``adapters.warmup``), ``engine.start`` at the
   last warm-up close, the engine primed with the warm-up, a ``session`` and a
   ``start`` journal record.
2. **Loop** (``run``): every round checks the kill flag, the drift schedule and (live)
   pulls the broker's fills, then waits at most ``kill_poll_s`` for closed bars.
   Each inbound event is journaled *before* it is stepped; each command the engine
   sends is journaled by the ``CommandRecorder`` as it passes.
   **Fills before the next bar** (live): when bars arrive and the broker has orders
   working or requests in flight, the runner first brings the broker up to date
   (``broker.sync`` in a worker thread, bounded by ``cancel_timeout_s``), then steps
   the reported fills, then the bars: a fill the exchange made before a bar closed is in the portfolio
   before the strategy sees that bar, exactly as the backtest's fill at the next
   bar's open is. Without this, a market order's fill waiting in the broker's outbox
   was booked only after the next bar, and the strategy decided on a stale position
   (the sell came bars late).
3. **Drift**: above ``max_drift_ms`` the exchange is marked degraded in the risk
   engine (entries refused, exits allowed) and a ``pause`` record is written; back
   under the threshold, ``resume``. Replay applies the same records at the same
   points.
4. **Kill** (flag file, ``kill()``): a ``kill`` record, ``RiskEngine.kill`` (entries
   blocked), every open order cancelled through the engine, then the broker's
   ``cancel_all`` (live: every order on the exchange); the latency from the flag
   (or call) to the confirmed cancel is recorded in ``kill_latency_s``.
5. **Reconcile** (live, optional ``reconciler``, ``adapters.live_recovery``): on start
   (the report ``open_live`` made before building the portfolio) and every
   ``reconcile_every_s`` (the injectable clock), a ``reconcile`` record. A mismatch
   above tolerance is an **alert**: logged, ``summary.alerts``/``summary.degraded``
   for the status, an ``alert`` and a ``degrade`` record, and every traded symbol is
   marked degraded in the risk engine (entries refused, exits allowed) until a person
   restarts the runner; replay applies the ``degrade`` record at the same point.
   The fills reconciliation found are stepped like any other fill.
6. **End** (``stop()``, ``max_bars``, a fatal broker error): ``engine.finish()`` and an
   ``end`` record with the stage latency percentiles.
7. **Status** (optional ``publisher``, ``adapters.status_publisher``): it observes every
   journal record and ``tick``s at the end of each round, after a kill and at the end,
   writing ``<state_dir>/status/<run_id>.json`` for ``tradeloom serve`` / ``status``.
   Without one (the default) the loop does nothing extra.
8. **Audit** (optional ``audit``, an ``adapters.audit.AuditLog``): every kill (flag file,
   status page, ``kill()``) appends a ``kill`` entry (who: the flag file or ``api``; the
   reason, orders cancelled, latency). A write that fails is journaled and logged; the
   kill stands. (``adapters.session`` records the ``restart`` entry when it opens a
   session in a state dir that already had one.)
10. **Ticks** (optional ``ticks``, an ``adapters.trade_feed.TickFeed``; ``runner.trades``):
   public trades are stepped as ``TradeTick`` events while the runner waits for bars
   and with them (``engine.run.events.merge_ticks``: before a bar closing at the same time),
   never past the close of the next bar not yet stepped; each is journaled as a
   ``trade`` record first. A tick older than the engine clock is reported
   (``feed_late_trade``) and dropped.
11. **Universe** (optional ``universe``, a ``UniverseSource``, e.g. ``research.universe.gate.UniverseGate``):
   computed at start and whenever the last stepped bar's close reaches the next
   refresh; symbols outside it have entries refused (exits allowed); a ``universe``
   record per refresh, a ``universe_refused`` record per entry refused for it.
9. **Alerts** (optional ``alerts``, an ``adapters.alerts.AlertRouter``): breaker trips
   (the risk engine's events), the kill, stale data (a feed stall), clock drift above
   the threshold, a reconciliation mismatch and ``error_alert_after`` errors in a row
   go to ``await router.anotify(...)`` in background tasks, so a slow or broken sink
   never delays or stops trading; ``run()`` (and ``flush_alerts()``) waits for the
   ones still being delivered, at most ``alert_flush_s``.

Time: the runner never reads ``time.time`` for market decisions; bars carry their
own times and the engine's clock is theirs. ``clock`` (injectable) only schedules
waits and stamps ``local_ts`` in the journal.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import ccxt
from tradeloom.adapters.ops.alerts import AlertEvent, AlertRouter, AlertRule, alert_from_risk_event
from tradeloom.adapters.ops.audit import AuditKind, AuditLog
from tradeloom.adapters.live.clock import Clock
from tradeloom.adapters.ccxt.exchange import map_ccxt_error
from tradeloom.adapters.live.journal import Journal
from tradeloom.adapters.live.journal_codec import bar_payload, fill_payload, tick_payload
from tradeloom.adapters.live.recorder import CommandRecorder, LiveCommandRecorder
from tradeloom.adapters.ccxt.bar_feed import BarFeed
from tradeloom.adapters.live.safety import KillFlag
from tradeloom.adapters.live.stage_timing import StageTimings
from tradeloom.adapters.live.universe import UniverseSource, apply_universe
from tradeloom.adapters.live.warmup import load_warmup, prime, warmup_need
from tradeloom.engine.errors import ConfigError, ExchangeError, TradeloomError
from tradeloom.engine.run.events import FillEvent, TradeTick, merge_ticks
from tradeloom.engine.run.loop import Engine
from tradeloom.engine.orders import Bar, Fill
from tradeloom.engine.ports import LiveBroker
from tradeloom.engine.risk.engine import RiskEngine
from tradeloom.engine.timeutil import format_utc_ms

if TYPE_CHECKING:
    from tradeloom.adapters.ops.status_publisher import StatusPublisher
    from tradeloom.adapters.ccxt.trade_feed import TickFeed

log = logging.getLogger(__name__)

#: ``observer(kind, payload, exchange_ts, local_ts)``: sees every journal record.
JournalObserver = Callable[[str, Mapping[str, Any], int | None, int], None]


@dataclass(frozen=True, slots=True)
class RunnerSettings:
    """Scheduling and safety thresholds of one runner (from ``LiveConfig.runner``)."""

    kill_poll_s: float = 1.0
    drift_check_s: float = 300.0
    max_drift_ms: int = 1_000
    broker_poll_s: float = 1.0
    cancel_timeout_s: float = 10.0
    warmup_min_bars: int = 0
    reconcile_every_s: float = 300.0
    #: Wait until the broker has sent the orders of a decision before waiting for the
    #: next bar (deterministic emulator sessions; off in production).
    settle_orders: bool = False
    #: A ``repeated_errors`` alert after this many errors with no good bar in between
    #: (and again at every multiple).
    error_alert_after: int = 3
    #: How long ``run()``'s end waits for alerts still being delivered.
    alert_flush_s: float = 30.0


class SessionJournal:
    """The journal of one session, stamping ``local_ts`` from the runner's clock."""

    def __init__(self, journal: Journal, clock: Clock) -> None:
        self.journal = journal
        self.clock = clock
        #: The status publisher's hook (one; ``StatusPublisher.attach`` sets it).
        self.observer: JournalObserver | None = None
        #: Further hooks (the runner's alert rules), called after ``observer``.
        self.taps: list[JournalObserver] = []

    def write(self, kind: str, payload: Mapping[str, Any], exchange_ts: int | None) -> None:
        local_ts = self.clock.now_ms()
        self.journal.append(kind, payload, exchange_ts=exchange_ts, local_ts=local_ts)
        if self.observer is not None:
            self.observer(kind, payload, exchange_ts, local_ts)
        for tap in self.taps:
            tap(kind, payload, exchange_ts, local_ts)

    def emit(self, kind: str, payload: dict[str, Any], engine_ts: int) -> None:
        """``CommandRecorder`` hook: commands are stamped with the engine time."""
        self.write(kind, payload, engine_ts)


def kill_engine(engine: Engine, risk: RiskEngine | None, ts: int, reason: str) -> int:
    """Block entries (``risk``, the engine's risk engine) and cancel every open order
    through the engine; orders cancelled.

    Shared with ``replay`` so a journaled kill has the same effect there.
    """
    if risk is not None:
        risk.kill(ts, reason)
        risk.pending_actions()  # the cancel-all it queues is done right here
    cancelled = 0
    for order in list(engine.broker.open_orders()):
        cancelled += bool(engine.cancel(order.id))
    return cancelled


def set_paused(risk: RiskEngine | None, exchange_id: str, paused: bool, ts: int) -> None:
    """Refuse (or allow again) new entries for the whole exchange in the risk engine."""
    if risk is None:
        raise ConfigError("pausing on clock drift needs a RiskEngine; configure a risk profile")
    risk.set_status(exchange_id, paused, ts=ts)


def degrade_symbols(risk: RiskEngine | None, symbols: Iterable[str], ts: int) -> None:
    """Refuse new entries on ``symbols`` (exits stay allowed); shared with ``replay``."""
    if risk is None:
        raise ConfigError("refusing entries after an alert needs a RiskEngine; configure a "
                          "risk profile")
    for symbol in symbols:
        risk.set_status(symbol, True, ts=ts)


@dataclass
class RunSummary:
    """What a session did (also written in the journal's ``end`` record)."""

    bars: int = 0
    warmup_bars: int = 0
    orders: int = 0
    fills: int = 0
    kill_latency_s: float | None = None
    paused: bool = False
    stages: dict[str, dict[str, float]] = field(default_factory=dict)
    stop_reason: str = ""
    #: Reconciliation found a mismatch: new entries are refused (see ``alerts``).
    degraded: bool = False
    alerts: list[str] = field(default_factory=list)
    reconciliations: int = 0
    ticks: int = 0
    universe_refreshes: int = 0


class LiveRunner:
    """Feeds a started-on-demand ``engine`` from ``feed`` (and the broker's fills).

    ``engine`` must be built with its broker wrapped in a ``CommandRecorder`` writing to
    ``journal`` (a ``LiveCommandRecorder`` for a live broker) and its risk engine in a
    ``RiskProbe`` (``app.session`` does both); ``risk`` is that same ``RiskEngine``, for
    the operator controls (kill, pause, degrade). ``live=True`` refuses to run without a
    ``RiskEngine`` or without a kill flag.
    """

    def __init__(self, engine: Engine, *, feed: BarFeed, client: Any, journal: SessionJournal,
                 clock: Clock, timings: StageTimings, exchange_id: str, session: Mapping[str, Any],
                 settings: RunnerSettings = RunnerSettings(), kill_flag: KillFlag | None = None,
                 store: Any = None, live: bool = False,
                 publisher: StatusPublisher | None = None, reconciler: Any = None,
                 opening_report: Any = None, audit: AuditLog | None = None,
                 alerts: AlertRouter | None = None, ticks: TickFeed | None = None,
                 universe: UniverseSource | None = None, risk: RiskEngine | None = None) -> None:
        if live and risk is None:
            raise ConfigError(
                "live trading refused: the engine has no RiskEngine; set risk_profile in the "
                "config (e.g. risk_profile = 'conservative')")
        if live and kill_flag is None:
            raise ConfigError("live trading refused: no kill flag; set state_dir in the config")
        recorder = engine.broker
        if not isinstance(recorder, CommandRecorder):
            raise ConfigError("the runner journals every command: build the engine with its "
                              "broker in a CommandRecorder (app.session's wiring does)")
        self.engine = engine
        self.recorder = recorder
        #: The live broker (polled for fills), or None for paper (fills come with bars).
        self.live_broker: LiveBroker | None = (
            recorder if isinstance(recorder, LiveCommandRecorder) else None)
        self.risk = risk
        self.feed = feed
        self.ticks = ticks
        self.universe = universe
        self._seen_decisions = 0
        self.client = client
        self.journal = journal
        self.clock = clock
        self.timings = timings
        self.exchange_id = exchange_id
        self.session = dict(session)
        self.settings = settings
        self.kill_flag = kill_flag
        self.store = store
        self.live = live
        self.summary = RunSummary()
        self.killed = False
        self._kill_request: tuple[str, float, str] | None = None
        self._stop = False
        self._next_drift_local = 0
        self._started = False
        self.tf_ms = engine.timeframe_ms
        self.reconciler = reconciler
        self._opening_report = opening_report
        self._next_reconcile_local = 0
        self._last_bar_close = 0  # the engine start, then each stepped bar's close
        self.publisher: StatusPublisher | None = None
        if publisher is not None:
            self.attach_publisher(publisher)
        self.audit = audit
        self.alerts = alerts
        self.run_id = str(self.session.get("run_id") or "runner")
        self._alert_tasks: set[asyncio.Task[None]] = set()
        self._seen_risk_events = 0
        self._errors_in_row = 0
        if alerts is not None:
            journal.taps.append(self._alert_on_record)

    # ------------------------------------------------------------------ control API
    def kill(self, reason: str = "api", actor: str = "api") -> None:
        """Request the kill switch (API call); acted on within one loop round.

        ``actor`` is who asked (recorded in the audit log).
        """
        if self._kill_request is None:
            self._kill_request = (reason, time.monotonic(), actor or "api")

    def stop(self) -> None:
        """Finish after the current round."""
        self._stop = True

    def attach_publisher(self, publisher: StatusPublisher) -> None:
        """Publish this runner's status (also for sessions built by ``adapters.session``)."""
        self.publisher = publisher
        publisher.attach(self)

    # ------------------------------------------------------------------ start
    async def start(self) -> None:
        """Drift check, warm-up, ``engine.start``, priming, ``session``/``start`` records."""
        if self._started:
            return
        self._started = True
        ex_now = await self._check_drift(initial=True)
        engine = self.engine
        last_close = ex_now - ex_now % self.tf_ms
        self.journal.write("session", self.session, last_close)
        if self.risk is not None:
            self.risk.bind(exchange=self.exchange_id)
        engine.start(last_close)
        self._last_bar_close = last_close
        need = warmup_need(engine, self.settings.warmup_min_bars)
        bars = await load_warmup(self.client, engine.symbols, self._timeframe(), self.tf_ms, need,
                                 exchange_now=ex_now, store=self.store,
                                 exchange_id=self.exchange_id)
        for bar in bars:
            self.journal.write("warmup_bar", bar_payload(bar), bar.close_ts)
        self.journal.write("start", {"ts": last_close, "warmup_need": need,
                                     "warmup_bars": len(bars)}, last_close)
        self.summary.warmup_bars = prime(engine, bars)
        last_open = {s: last_close - self.tf_ms for s in engine.symbols}
        self.feed.start_after(last_open)
        if self._paused_now:
            set_paused(self.risk, self.exchange_id, True, last_close)
        if self.universe is not None:
            self._refresh_universe(last_close)
        if self.reconciler is not None:
            report = self._opening_report
            self._opening_report = None
            await self._reconcile(report)

    def _timeframe(self) -> str:
        return str(self.session.get("timeframe"))

    # ------------------------------------------------------------------ loop
    async def run(self, *, max_bars: int | None = None) -> RunSummary:
        """Run until ``stop()``, ``max_bars`` live bars, or a fatal error; then finish."""
        await self.start()
        try:
            while not self._stop:
                await self.round()
                if max_bars is not None and self.summary.bars >= max_bars:
                    self.summary.stop_reason = f"max_bars {max_bars}"
                    break
            else:
                self.summary.stop_reason = self.summary.stop_reason or "stopped"
        finally:
            self.finish()
            await self.flush_alerts()
        return self.summary

    async def round(self) -> None:
        """One loop round: kill check, drift, broker fills, then bars (waiting at most kill_poll_s)."""
        await self._check_kill()
        if self.clock.now_ms() >= self._next_drift_local:
            await self._check_drift()
        if self.reconciler is not None and self.clock.now_ms() >= self._next_reconcile_local:
            await self._reconcile()
        self._pump_broker()
        timeout = self.settings.kill_poll_s
        if self.live_broker is not None:
            timeout = min(timeout, self.settings.broker_poll_s)
        bars = await self._next_bars(timeout)
        fills = await self._settle_broker() if bars else []
        events: list[Any] = [*fills, *bars]
        if self.ticks is not None:
            horizon = max([self._last_bar_close, *(b.close_ts for b in bars)]) + self.tf_ms
            events = [*fills, *merge_ticks(bars, self._take_ticks(horizon))]
        for event in events:
            await self._check_kill()
            kind = type(event)
            if kind is Bar:
                self.on_bar(event)
            elif kind is TradeTick:
                self.on_tick(event)
            else:
                self._step_fill(event)
        self._maybe_refresh_universe()
        self._alert_risk_events()
        if self.publisher is not None:
            self.publisher.tick(self)

    def on_bar(self, bar: Bar) -> None:
        """Journal one closed bar, step it, settle the orders it caused."""
        self._maybe_refresh_universe()
        timings = self.timings
        timings.receipt()
        self.journal.write("bar", bar_payload(bar), bar.close_ts)
        self._last_bar_close = bar.close_ts
        before = self.recorder.submitted
        self.engine.step(bar)
        timings.step_done()
        self.summary.bars += 1
        if self.universe is not None:
            self.universe.add_bar(bar)
            self._journal_refusals()
        if self.settings.settle_orders and self.recorder.submitted != before:
            self._pump_broker(wait=True)

    def on_tick(self, tick: TradeTick) -> None:
        """Journal one public trade, step it (``on_trade``; paper orders match at it)."""
        self._maybe_refresh_universe()
        self.timings.receipt()
        self.journal.write("trade", tick_payload(tick), tick.ts)
        before = self.recorder.submitted
        self.engine.step(tick)
        self.timings.step_done()
        self.summary.ticks += 1
        if self.universe is not None:
            self._journal_refusals()
        if self.settings.settle_orders and self.recorder.submitted != before:
            self._pump_broker(wait=True)

    # ------------------------------------------------------------------ ticks
    async def _next_bars(self, timeout: float) -> list[Bar]:
        """The feed's bars; with ticks, the ticks that arrive meanwhile are stepped at once."""
        if self.ticks is None:
            return await self.feed.next_bars(timeout)
        bars_task = asyncio.ensure_future(self.feed.next_bars(timeout))
        try:
            while not bars_task.done():
                waiter = asyncio.ensure_future(self.ticks.wait())
                await asyncio.wait({bars_task, waiter}, return_when=asyncio.FIRST_COMPLETED)
                if not waiter.done():
                    waiter.cancel()
                await asyncio.gather(waiter, return_exceptions=True)
                ready = self._take_ticks(self._last_bar_close + self.tf_ms)
                for tick in ready:
                    await self._check_kill()
                    self.on_tick(tick)
                if ready:
                    self._maybe_refresh_universe()
        finally:
            if not bars_task.done():
                bars_task.cancel()
                await asyncio.gather(bars_task, return_exceptions=True)
        return bars_task.result()

    def _take_ticks(self, before: int) -> list[TradeTick]:
        """Ticks before ``before``; the ones older than the engine clock reported, dropped."""
        assert self.ticks is not None
        ticks, late = self.ticks.take(before, self.engine.ctx.now)
        for tick in late:
            self.journal.write("feed_late_trade", {**tick_payload(tick),
                                                   "engine_now": self.engine.ctx.now}, tick.ts)
        return ticks

    # ------------------------------------------------------------------ universe
    def _maybe_refresh_universe(self) -> None:
        gate = self.universe
        if gate is not None and self._started and gate.due(self._last_bar_close):
            self._refresh_universe(self._last_bar_close)

    def _refresh_universe(self, ts: int) -> None:
        """Recompute the universe as of ``ts``, journal it, apply it to the risk engine."""
        gate = self.universe
        assert gate is not None
        record = gate.refresh(ts, keep_blocked=self.summary.degraded)
        self.summary.universe_refreshes += 1
        self.journal.write("universe", record, ts)
        apply_universe(self.risk, record["block"], record["allow"], ts)

    def _journal_refusals(self) -> None:
        """A ``universe_refused`` record per entry the risk engine refused for the universe."""
        risk = self.risk
        gate = self.universe
        if risk is None or gate is None:
            return
        new = risk.decisions[self._seen_decisions:]
        self._seen_decisions = len(risk.decisions)
        for d in new:
            reason = gate.refusal_reason(d.symbol)
            if reason is not None and d.code.value == "degraded" and d.outcome.value == "rejected":
                self.journal.write("universe_refused", {
                    "ts": d.ts, "symbol": d.symbol, "order_id": d.order_id,
                    "code": d.code.value, "reason": reason, "risk_message": d.message}, d.ts)

    def _pump_broker(self, wait: bool = False) -> None:
        """Live: fills the exchange reported since the last round, each stepped as an event.

        ``wait``: block until the broker has sent everything queued and refreshed.
        """
        broker = self.live_broker
        if broker is None:
            return
        try:
            now = self.clock.now_ms() + self.feed.exchange_offset_ms
            fills = broker.poll(now, wait=True) if wait else broker.poll(now)
        except ExchangeError as err:
            self._broker_failed(err)
            raise
        for fill in fills:
            self._step_fill(fill)

    async def _settle_broker(self) -> list[Fill]:
        """Live, before stepping bars: the fills the exchange made up to now.

        Waits (off the event loop) only when the broker has something working; a
        broker still busy after ``cancel_timeout_s`` is journaled and the bars go on.
        """
        broker = self.live_broker
        if broker is None:
            return []
        if broker.busy:
            timeout = self.settings.cancel_timeout_s
            if not await asyncio.to_thread(broker.sync, timeout):
                self.journal.write("warning", {
                    "where": "broker.sync", "timeout_s": timeout,
                    "warning": "the exchange did not answer before the next bar; its fills "
                               "will be booked when they arrive"}, None)
                log.warning("broker still busy after %.1f s; stepping the bars without "
                            "waiting for its reports", timeout)
        try:
            return broker.collect(self.clock.now_ms() + self.feed.exchange_offset_ms)
        except ExchangeError as err:
            self._broker_failed(err)
            raise

    def _broker_failed(self, err: ExchangeError) -> None:
        self.journal.write("error", {"error": str(err), "where": "broker.poll"}, None)
        self.summary.stop_reason = f"broker error: {err}"
        self._stop = True

    def _step_fill(self, fill: Fill) -> None:
        """One exchange fill as a ``FillEvent``, never before the engine's clock.

        Nor after the next bar's close: a fill the exchange made later (the runner
        catching up on backfilled bars) is booked just before it, so the bars still to
        come stay in time order and the strategy sees the fill before deciding on them.
        """
        engine = self.engine
        ts = max(int(fill.ts), engine.ctx.now)  # learnt now, never before the engine clock
        ts = max(min(ts, self._last_bar_close + self.tf_ms - 1), engine.ctx.now)
        known = fill if ts == fill.ts else dataclasses.replace(fill, ts=ts)
        self.timings.receipt()
        self.journal.write("fill", {**fill_payload(fill), "engine_ts": ts}, int(fill.ts))
        engine.step(FillEvent(known))
        self.timings.step_done()

    # ------------------------------------------------------------------ reconcile
    async def _reconcile(self, report: Any = None) -> None:
        """Reconcile now (or journal ``report``, made at session open); alert on mismatch."""
        every_ms = round(self.settings.reconcile_every_s * 1000)
        if report is None:
            try:
                report = await self.reconciler(self.clock.now_ms() + self.feed.exchange_offset_ms)
            except TradeloomError as err:  # the exchange is unreachable: try again next time
                self.journal.write("error", {"error": str(err), "where": "reconcile"}, None)
                log.error("reconciliation failed (%s); retrying in %.0f s", err,
                          self.settings.reconcile_every_s)
                self._next_reconcile_local = self.clock.now_ms() + every_ms
                return
        self._next_reconcile_local = self.clock.now_ms() + every_ms
        self.summary.reconciliations += 1
        self.journal.write("reconcile", {
            "ok": report.ok, "updated": list(report.updated), "adopted": list(report.adopted),
            "never_sent": list(report.never_sent), "foreign": list(report.foreign),
            "cancelled_foreign": list(report.cancelled_foreign), "new_fills": report.new_fills,
            "problems": list(report.problems)}, None)
        if not report.ok:
            problems = list(report.problems)
            self._alert("reconcile_mismatch", "; ".join(problems) or "mismatch")
            self._send_alert(AlertEvent(
                AlertRule.RECONCILIATION_MISMATCH, f"{self.run_id}/reconcile",
                f"reconciliation mismatch on {self.exchange_id} "
                f"(account {self.session.get('account', '?')}): "
                f"{'; '.join(problems)[:500] or 'mismatch'}; new entries refused until a "
                "person checks the account and restarts the runner",
                {"problems": problems[:20], "adopted": list(report.adopted),
                 "foreign": list(report.foreign), "never_sent": list(report.never_sent)},
                self.engine.ctx.now or None))

    def _alert(self, kind: str, message: str) -> None:
        """Raise an alert: log, status, journal; entries refused on every traded symbol."""
        text = f"{kind}: {message}"
        self.summary.alerts.append(text)
        self.journal.write("alert", {"kind": kind, "message": message}, None)
        log.error("ALERT %s - new entries refused until a person checks the account and "
                  "restarts the runner", text)
        if self.summary.degraded:
            return
        self.summary.degraded = True
        ts = self.engine.ctx.now
        self.journal.write("degrade", {"ts": ts, "symbols": list(self.engine.symbols),
                                       "reason": kind}, None)
        degrade_symbols(self.risk, self.engine.symbols, ts)
        if self.publisher is not None:
            self.publisher.tick(self)

    # ------------------------------------------------------------------ drift
    @property
    def _paused_now(self) -> bool:
        return self.summary.paused

    async def _check_drift(self, initial: bool = False) -> int:
        local_before = self.clock.now_ms()
        try:
            server = int(await self.client.fetch_time())
        except ccxt.BaseError as exc:
            raise map_ccxt_error(exc, context=f"{self.exchange_id} fetch_time (drift check)") from exc
        local = (local_before + self.clock.now_ms()) // 2
        offset = server - local
        self.feed.exchange_offset_ms = offset
        self._next_drift_local = self.clock.now_ms() + round(self.settings.drift_check_s * 1000)
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
                self._send_alert(AlertEvent(
                    AlertRule.CLOCK_DRIFT, f"{self.run_id}/{self.exchange_id}",
                    f"clock drift {offset} ms against {self.exchange_id} exceeds "
                    f"{self.settings.max_drift_ms} ms: new entries paused until it is back "
                    "under the threshold (check NTP on this host)",
                    {"offset_ms": offset, "max_drift_ms": self.settings.max_drift_ms}, server))
        return server

    # ------------------------------------------------------------------ kill
    async def _check_kill(self) -> None:
        if self.killed:
            return
        request = self._kill_request
        if request is None and self.kill_flag is not None:
            path = self.kill_flag.present()
            if path is not None:
                age = max(0.0, time.time() - path.stat().st_mtime)
                request = (KillFlag.reason(path), time.monotonic() - age,
                           f"kill flag {path.name}")
        if request is not None:
            self._do_kill(*request)

    def _do_kill(self, reason: str, since: float, actor: str = "api") -> None:
        engine = self.engine
        ts = engine.ctx.now
        self.killed = True
        self.journal.write("kill", {"ts": ts, "reason": reason}, None)
        cancelled = kill_engine(engine, self.risk, ts, reason)
        broker = self.live_broker
        report: object = None
        if broker is not None:  # live: every order on the exchange too
            try:
                report = broker.cancel_all(ts, timeout_s=self.settings.cancel_timeout_s)
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
        self._send_alert(AlertEvent(
            AlertRule.KILL_SWITCH, f"{self.run_id}/kill_switch",
            f"kill switch on {self.run_id} (account {details['account']}): {reason}; "
            f"{cancelled} open orders cancelled in {latency:.3f} s, new entries blocked",
            {"reason": reason, "actor": actor, "cancelled": cancelled,
             "latency_s": round(latency, 4)}, ts or None))
        if self.publisher is not None:
            self.publisher.tick(self)

    # ------------------------------------------------------------------ audit
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

    # ------------------------------------------------------------------ alerts
    def _send_alert(self, event: AlertEvent) -> None:
        """Hand ``event`` to the router in a background task (no-op without a router)."""
        if self.alerts is None:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # called outside the event loop (finish, tests): deliver inline
            self._deliver_now(event)
            return
        task = loop.create_task(self._deliver(event))
        self._alert_tasks.add(task)
        task.add_done_callback(self._alert_tasks.discard)

    async def _deliver(self, event: AlertEvent) -> None:
        router = self.alerts
        if router is None:
            return
        try:
            await router.anotify(event)
        except Exception as exc:  # noqa: BLE001 - alerting must never stop the runner
            log.error("alert %s %s not delivered: %s: %s", event.rule.value, event.key,
                      type(exc).__name__, exc)

    def _deliver_now(self, event: AlertEvent) -> None:
        router = self.alerts
        if router is None:
            return
        try:
            router.notify(event)
        except Exception as exc:  # noqa: BLE001 - alerting must never stop the runner
            log.error("alert %s %s not delivered: %s: %s", event.rule.value, event.key,
                      type(exc).__name__, exc)

    async def flush_alerts(self, timeout_s: float | None = None) -> int:
        """Wait (at most ``timeout_s``, default ``alert_flush_s``) for alerts in delivery.

        Returns how many were still undelivered at the deadline (they keep going).
        """
        pending = set(self._alert_tasks)
        if not pending:
            return 0
        timeout = self.settings.alert_flush_s if timeout_s is None else timeout_s
        _, still = await asyncio.wait(pending, timeout=timeout)
        if still:
            log.warning("%d alert(s) still being delivered after %.1f s", len(still), timeout)
        return len(still)

    def _alert_risk_events(self) -> None:
        """Breaker trips the risk engine recorded since the last round, as alerts."""
        if self.alerts is None:
            return
        risk = self.risk
        if risk is None or len(risk.events) <= self._seen_risk_events:
            return
        new = risk.events[self._seen_risk_events:]
        self._seen_risk_events = len(risk.events)
        for raw in new:
            event = alert_from_risk_event(raw, source=self.run_id)
            if event is not None and event.rule is AlertRule.BREAKER_TRIP:
                self._send_alert(event)  # kills are alerted by _do_kill with their figures

    def _alert_on_record(self, kind: str, payload: Mapping[str, Any], exchange_ts: int | None,
                         local_ts: int) -> None:
        """Journal tap: stale data and repeated errors."""
        if kind == "bar":
            self._errors_in_row = 0
        elif kind == "feed_stall":
            symbol = str(payload.get("symbol", "?"))
            due = payload.get("expected_close")
            when = format_utc_ms(int(due)) if isinstance(due, int) else "its expected close"
            self._send_alert(AlertEvent(
                AlertRule.STALE_DATA, f"{self.run_id}/{symbol}",
                f"no {self._timeframe()} bar for {symbol} on {self.exchange_id} since {when}; "
                "the strategy is deciding on stale data - check the exchange's status and the "
                "feed's connectivity", dict(payload), exchange_ts))
        elif kind in ("error", "feed_transient_error"):
            self._errors_in_row += 1
            every = max(1, self.settings.error_alert_after)
            if self._errors_in_row % every == 0:
                where = str(payload.get("where", "feed" if kind != "error" else "runner"))
                error = str(payload.get("error", ""))[:300]
                self._send_alert(AlertEvent(
                    AlertRule.REPEATED_ERRORS, f"{self.run_id}/errors",
                    f"{self._errors_in_row} errors in a row on {self.run_id} (last at "
                    f"{where}: {error})", {"count": self._errors_in_row, "where": where,
                                           "error": error}, exchange_ts))

    # ------------------------------------------------------------------ end
    def finish(self) -> None:
        if not self._started:
            return
        engine = self.engine
        engine.finish()
        self.summary.orders = sum(1 for o in engine.orders)
        self.summary.fills = len(engine.fills)
        self.summary.stages = self.timings.summary()
        self.journal.write("end", {"bars": self.summary.bars, "orders": self.summary.orders,
                                   "fills": self.summary.fills,
                                   "reason": self.summary.stop_reason,
                                   "kill_latency_s": self.summary.kill_latency_s,
                                   "stages": self.summary.stages}, engine.ctx.now)
        self._started = False
        if self.publisher is not None:
            self.publisher.tick(self, final=True)


def journal_dir_default(state_dir: Path, run_id: str) -> Path:
    """Where a session's journal goes unless the config names one."""
    return state_dir / "journals" / f"{run_id}.jsonl"


__all__ = [
    "LiveRunner",
    "RunSummary",
    "RunnerSettings",
    "SessionJournal",
    "degrade_symbols",
    "journal_dir_default",
    "kill_engine",
    "set_paused",
]
