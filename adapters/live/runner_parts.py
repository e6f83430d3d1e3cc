"""What a ``LiveRunner`` is made of: its thresholds, its parts, the session journal they
all write to, and the summary they fill in.

Why a parts object: the session (``app.session``) decides what a runner is wired to
(paper and live differ only in what they put here) and the runner hands each of its
responsibilities its share: the event loop (``runner``), the kill switch
(``kill_switch``), the drift and reconcile schedules (``schedules``), alerts and the
universe refresh (``alerting``, ``universe``), the last two observing the journal.

>>> RunnerSettings().kill_poll_s, RunnerSettings(max_drift_ms=500).max_drift_ms
(1.0, 500)
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from tradeloom.adapters.clock import Clock
from tradeloom.adapters.live.journal import Journal

if TYPE_CHECKING:
    from tradeloom.adapters.ccxt.bar_feed import BarFeed
    from tradeloom.adapters.ccxt.funding import FundingSource
    from tradeloom.adapters.ccxt.trade_feed import TickFeed
    from tradeloom.adapters.ccxt.user_stream import UserStream
    from tradeloom.adapters.live.reconcile import ReconcileReport
    from tradeloom.adapters.live.recovery import RunnerReconciler
    from tradeloom.adapters.live.safety import KillFlag
    from tradeloom.adapters.live.stage_timing import StageTimings
    from tradeloom.adapters.live.universe import UniverseSource
    from tradeloom.adapters.ops.alerts import AlertRouter
    from tradeloom.adapters.ops.audit import AuditLog
    from tradeloom.adapters.ops.status_publisher import StatusPublisher
    from tradeloom.adapters.store.market_store import MarketStore
    from tradeloom.engine.market import MarketSpec
    from tradeloom.engine.risk.engine import RiskEngine

#: ``() -> the symbols' current market rules`` (reloaded from the exchange).
MarketSource = Callable[[], Awaitable[dict[str, "MarketSpec"]]]

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
    #: Reload the exchange's markets (tick/lot sizes, minimums) this often (``markets``
    #: part); a changed rule is journaled and applied to the engine and the broker.
    markets_ttl_s: float = 3_600.0


class SessionJournal:
    """The journal of one session, stamping ``local_ts`` from the runner's clock.

    ``journal`` may be set after construction (``app.session`` opens the file last, once
    nothing can fail any more); writing before that is a programming error.
    """

    def __init__(self, journal: Journal | None, clock: Clock) -> None:
        self.journal = journal
        self.clock = clock
        #: The status publisher's hook (one; ``StatusPublisher.attach`` sets it).
        self.observer: JournalObserver | None = None
        #: Further hooks (the alert rules, the universe's bar collector), called after
        #: ``observer``, in the order they were added.
        self.taps: list[JournalObserver] = []

    def write(self, kind: str, payload: Mapping[str, Any], exchange_ts: int | None) -> None:
        local_ts = self.clock.now_ms()
        if self.journal is None:
            raise RuntimeError(f"session journal not opened yet: {kind!r} record not written")
        self.journal.append(kind, payload, exchange_ts=exchange_ts, local_ts=local_ts)
        if self.observer is not None:
            self.observer(kind, payload, exchange_ts, local_ts)
        for tap in self.taps:
            tap(kind, payload, exchange_ts, local_ts)

    def emit(self, kind: str, payload: dict[str, Any], engine_ts: int) -> None:
        """``CommandRecorder`` hook: commands are stamped with the engine time."""
        self.write(kind, payload, engine_ts)


@dataclass(frozen=True, kw_only=True)
class RunnerParts:
    """Everything one runner is wired to (``app.session`` builds it).

    Required: the bar ``feed``, the async exchange ``client`` (clock drift, warm-up),
    the session ``journal``, the ``clock`` (waits and ``local_ts`` only, never market
    decisions), the stage ``timings``, the ``exchange_id`` and the ``session`` record.
    ``risk`` is the engine's ``RiskEngine`` itself (the engine holds it behind a
    ``RiskProbe``), for kill, pause and degrade; ``live=True`` refuses to run without it
    or without a ``kill_flag``. The rest is optional: the market ``store`` (warm-up,
    universe), a ``reconciler`` and its ``opening_report`` (live), an ``audit`` log,
    an alert router (``alerts``), public-trade ``ticks``, the venue's pushed order
    updates (``user_stream``, live), a ``universe``, a status ``publisher`` and the
    perpetuals' ``funding`` source.
    """

    feed: BarFeed
    client: Any
    journal: SessionJournal
    clock: Clock
    timings: StageTimings
    exchange_id: str
    session: Mapping[str, Any]
    risk: RiskEngine | None = None
    live: bool = False
    kill_flag: KillFlag | None = None
    store: MarketStore | None = None
    reconciler: RunnerReconciler | None = None
    opening_report: ReconcileReport | None = None
    audit: AuditLog | None = None
    alerts: AlertRouter | None = None
    ticks: TickFeed | None = None
    #: Live: the venue's pushed order updates (``adapters.ccxt.user_stream``); polling
    #: stays the fallback.
    user_stream: UserStream | None = None
    universe: UniverseSource | None = None
    publisher: StatusPublisher | None = None
    markets: MarketSource | None = None
    #: Perpetuals: the venue's funding (``adapters.ccxt.funding``), stepped after the bars
    #: closing at or before each funding time.
    funding: FundingSource | None = None


@dataclass
class RunSummary:
    """What a session did (also written in the journal's ``end`` record)."""

    bars: int = 0
    warmup_bars: int = 0
    orders: int = 0
    fills: int = 0
    kill_latency_s: float | None = None
    #: Orders the kill really cancelled (exchange-confirmed, live; the engine's, paper).
    kill_cancelled: int | None = None
    paused: bool = False
    stages: dict[str, dict[str, float]] = field(default_factory=dict)
    stop_reason: str = ""
    #: Reconciliation found a mismatch: new entries are refused (see ``alerts``).
    degraded: bool = False
    alerts: list[str] = field(default_factory=list)
    reconciliations: int = 0
    ticks: int = 0
    universe_refreshes: int = 0
    #: Equity when the session started trading, every held position marked: what PnL
    #: counts from.
    start_equity: float | None = None
    #: The session ended on an error (a broker error, an exception), not by a stop.
    failed: bool = False
    #: Trades and order updates the venue pushed and the broker booked (user stream).
    pushed_trades: int = 0
    pushed_updates: int = 0
    #: Dust the exits left (``dust`` events): symbol -> amount.
    dust: dict[str, float] = field(default_factory=dict)
    #: Perpetuals: net funding booked (quote; < 0 paid) and the payments booked.
    funding: float = 0.0
    funding_payments: int = 0
    #: Perpetual positions the venue liquidated (``liquidation`` records).
    liquidations: int = 0


__all__ = ["JournalObserver", "MarketSource", "RunSummary", "RunnerParts", "RunnerSettings", "SessionJournal"]
