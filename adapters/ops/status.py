"""``RunnerStatus``: what one runner publishes for ``tradeloom serve`` and ``tradeloom status``.

Why files, not shared memory: runners and the status server are separate
processes (one runner per account, restarted independently of the server). Each
runner *publishes* a JSON snapshot to ``<state_dir>/status/<runner_id>.json``
(written to a temporary file and ``os.replace``-d, so a reader never sees half a
file); the server and the ``status`` command only *read* them. The writer is
``adapters.status_publisher.StatusPublisher``; this module is the value, its JSON
form, the file I/O and the health rule both readers apply.

**Healthy** (:func:`assess`), all of:

1. ``state == "running"`` (``paused``: clock drift; ``killed``: the kill switch;
   ``stopped`` after an error - each needs a person). A session that **stopped
   cleanly** (Ctrl-C, ``max_bars``: ``stopped_cleanly``) is reported as stopped, with
   no problem and not active: it never makes the server unhealthy, and the checks
   below do not apply to it;
2. the file is fresh: published less than ``max(30 s, 5 x publish interval)`` ago
   (older means the runner process is gone or stuck);
3. the last event (bar or fill) was received less than ``3 x timeframe`` ago (a
   runner still waiting for its first bar counts from its start);
4. the clock drift against the exchange is within ``max_drift_ms``;
5. reconciliation is ``ok`` (or ``n/a``: paper sessions have nothing to reconcile).

Ages use the wall clock of the reader against the wall-clock stamps of the writer
(``published_ms``, ``last_event_local_ms``), never exchange or simulated time.

>>> s = RunnerStatus(runner_id="p1", account="main", mode="paper", state="running",
...                  strategy="s.py:S", symbols=("BTC/USDT",), exchange="binance",
...                  timeframe="1h", timeframe_ms=3_600_000, published_ms=1_000,
...                  started_ms=0, publish_interval_s=2.0)
>>> RunnerStatus.from_json(s.to_json()) == s
True
>>> assess(s, now_ms=2_000).healthy
True
>>> assess(s, now_ms=60_000).problems
('no status update for 59 s (limit 30 s): is the runner process alive?',)
>>> done = dataclasses.replace(s, state="stopped", stopped_cleanly=True, stop_reason="stopped")
>>> h = assess(done, now_ms=86_400_000)
>>> h.healthy, h.active, h.problems
(True, False, ())
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tradeloom.engine.errors import DataError

log = logging.getLogger(__name__)

STATES = ("running", "paused", "killed", "stopped")
MODES = ("paper", "live")
RECONCILE_STATES = ("ok", "mismatch", "n/a")
SCHEMA = 1
STATUS_DIR = "status"
#: A status file older than this (or 5 publish intervals, if longer) is stale.
STALE_FLOOR_S = 30.0


class StatusError(DataError):
    """A status value or file breaks a rule (names the field and the value)."""


@dataclass(frozen=True, slots=True)
class ExchangeLink:
    """Connectivity as the runner saw it: last good request, errors since then."""

    last_ok_ms: int | None = None
    consecutive_errors: int = 0
    last_error: str = ""


@dataclass(frozen=True, slots=True)
class Reconciliation:
    """Local state vs the exchange: ``ok``, ``mismatch`` or ``n/a`` (paper)."""

    status: str = "n/a"
    last_ms: int | None = None
    problems: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.status not in RECONCILE_STATES:
            raise StatusError(f"reconciliation.status {self.status!r}: use one of "
                              f"{', '.join(RECONCILE_STATES)}")


@dataclass(frozen=True, slots=True)
class BreakerState:
    """One circuit breaker of the risk engine (``kill_switch`` included)."""

    name: str
    tripped: bool
    since: int | None = None
    detail: str = ""


@dataclass(frozen=True, slots=True)
class PositionRow:
    symbol: str
    amount: float
    avg_entry: float
    mark: float | None
    value: float
    unrealized: float


@dataclass(frozen=True, slots=True)
class OrderRow:
    order_id: int
    client_id: str
    symbol: str
    side: str
    type: str
    status: str
    amount: float
    filled: float
    price: float | None
    created_ts: int
    reason: str = ""


@dataclass(frozen=True, slots=True)
class FillRow:
    order_id: int
    symbol: str
    side: str
    ts: int
    price: float
    amount: float
    fee: float


@dataclass(frozen=True, slots=True)
class AlertRow:
    """Something a person should look at; ``ms`` is wall time, ``ts`` engine time."""

    ms: int
    level: str
    kind: str
    message: str
    ts: int | None = None


@dataclass(frozen=True, slots=True)
class LatencyHistogram:
    """Cumulative counts per upper bound (seconds, ``inf`` last) of one stage.

    Covers ``StageTimings``' sample window (the last 100,000 samples per stage,
    the same window as its p50/p95/p99).
    """

    bounds_s: tuple[float, ...]
    cumulative: tuple[int, ...]
    sum_s: float
    count: int
    p50_ms: float = 0.0
    p95_ms: float = 0.0
    p99_ms: float = 0.0


@dataclass(frozen=True, slots=True)
class Counters:
    """Monotonic counts since the runner started (Prometheus counters)."""

    bars: int = 0
    fills: Mapping[str, int] = field(default_factory=dict)          # by symbol
    risk_decisions: Mapping[str, int] = field(default_factory=dict)  # by code ("ok" approved)
    breaker_trips: Mapping[str, int] = field(default_factory=dict)   # by breaker
    errors: Mapping[str, int] = field(default_factory=dict)          # by type
    reconciliation_mismatches: int = 0


@dataclass(frozen=True, slots=True)
class RunnerStatus:
    """One runner's published snapshot (see the module docstring)."""

    runner_id: str
    account: str
    mode: str
    state: str
    strategy: str
    symbols: tuple[str, ...]
    exchange: str
    timeframe: str
    timeframe_ms: int
    published_ms: int
    started_ms: int
    publish_interval_s: float
    pid: int = 0
    stop_reason: str = ""
    kill_reason: str = ""
    #: ``stopped`` after a stop (Ctrl-C, ``max_bars``), not after an error.
    stopped_cleanly: bool = False
    #: After a kill: the orders it really cancelled and how long it took (s).
    kill_cancelled: int | None = None
    kill_latency_s: float | None = None
    engine_ts: int | None = None
    last_event_ts: int | None = None
    last_event_local_ms: int | None = None
    link: ExchangeLink = ExchangeLink()
    clock_drift_ms: int | None = None
    max_drift_ms: int = 1_000
    breakers: tuple[BreakerState, ...] = ()
    reconciliation: Reconciliation = Reconciliation()
    quote: str = ""
    cash: float = 0.0
    equity: float = 0.0
    initial_equity: float = 0.0
    exposure: float = 0.0
    equity_history: tuple[tuple[int, float], ...] = ()
    positions: tuple[PositionRow, ...] = ()
    open_orders: tuple[OrderRow, ...] = ()
    recent_orders: tuple[OrderRow, ...] = ()
    recent_fills: tuple[FillRow, ...] = ()
    alerts: tuple[AlertRow, ...] = ()
    counters: Counters = Counters()
    latency: Mapping[str, LatencyHistogram] = field(default_factory=dict)
    schema: int = SCHEMA

    def __post_init__(self) -> None:
        if self.state not in STATES:
            raise StatusError(f"status.state {self.state!r}: use one of {', '.join(STATES)}")
        if self.mode not in MODES:
            raise StatusError(f"status.mode {self.mode!r}: use one of {', '.join(MODES)}")
        if not self.runner_id or "/" in self.runner_id or self.runner_id.startswith("."):
            raise StatusError(f"status.runner_id {self.runner_id!r}: a file name is needed, "
                              "e.g. the session's run_id 'p20250101T000000'")
        if self.timeframe_ms <= 0:
            raise StatusError(f"status.timeframe_ms {self.timeframe_ms}: must be > 0")

    @property
    def pnl(self) -> float:
        return self.equity - self.initial_equity

    @property
    def exposure_pct(self) -> float:
        return self.exposure / self.equity if self.equity > 0 else 0.0

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def to_json(self) -> str:
        """Compact JSON; a histogram's ``inf`` bound is written as ``null``."""
        return _encode(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RunnerStatus:
        """Rebuild from ``to_dict`` output (lists back to tuples, nested records typed)."""
        d = dict(data)
        if d.get("schema") != SCHEMA:
            raise StatusError(f"status schema {d.get('schema')!r}: this tradeloom reads "
                              f"schema {SCHEMA}; restart the runner with the same version")
        try:
            d["symbols"] = tuple(d["symbols"])
            d["link"] = ExchangeLink(**d["link"])
            d["breakers"] = tuple(BreakerState(**b) for b in d["breakers"])
            rec = dict(d["reconciliation"])
            rec["problems"] = tuple(rec["problems"])
            d["reconciliation"] = Reconciliation(**rec)
            d["equity_history"] = tuple((int(t), float(v)) for t, v in d["equity_history"])
            d["positions"] = tuple(PositionRow(**p) for p in d["positions"])
            for key in ("open_orders", "recent_orders"):
                d[key] = tuple(OrderRow(**o) for o in d[key])
            d["recent_fills"] = tuple(FillRow(**f) for f in d["recent_fills"])
            d["alerts"] = tuple(AlertRow(**a) for a in d["alerts"])
            d["counters"] = Counters(**d["counters"])
            d["latency"] = {k: _histogram(v) for k, v in d["latency"].items()}
            return cls(**d)
        except (KeyError, TypeError, ValueError) as exc:
            raise StatusError(f"status record does not match RunnerStatus: {exc}") from None

    @classmethod
    def from_json(cls, text: str) -> RunnerStatus:
        return cls.from_dict(json.loads(text))


def _histogram(v: Mapping[str, Any]) -> LatencyHistogram:
    h = dict(v)
    h["bounds_s"] = tuple(float(b) if b is not None else float("inf") for b in h["bounds_s"])
    h["cumulative"] = tuple(int(c) for c in h["cumulative"])
    return LatencyHistogram(**h)


def _json_default(value: Any) -> Any:
    raise TypeError(f"status field value {value!r} ({type(value).__name__}) is not JSON")


# ---------------------------------------------------------------------------- files

def status_dir(state_dir: Path) -> Path:
    return Path(state_dir) / STATUS_DIR


def status_path(state_dir: Path, runner_id: str) -> Path:
    return status_dir(state_dir) / f"{runner_id}.json"


def write_status(state_dir: Path, status: RunnerStatus) -> Path:
    """Write ``status`` atomically (temp file + ``os.replace``); return its path."""
    path = status_path(state_dir, status.runner_id)
    path.parent.mkdir(parents=True, exist_ok=True)
    data = status.to_json()
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(data, encoding="utf-8")
    os.replace(tmp, path)
    return path


def _encode(status: RunnerStatus) -> str:
    d = status.to_dict()
    for hist in d["latency"].values():  # JSON has no infinity: the last bound is null
        hist["bounds_s"] = [None if b == float("inf") else b for b in hist["bounds_s"]]
    return json.dumps(d, separators=(",", ":"), allow_nan=False, default=_json_default)


def read_statuses(state_dir: Path, problems: list[str] | None = None) -> list[RunnerStatus]:
    """Every runner's status under ``state_dir``, ordered by runner id.

    An unreadable file is skipped with a warning; its message is appended to
    ``problems`` when given (the server reports it as unhealthy).
    """
    folder = status_dir(state_dir)
    if not folder.is_dir():
        return []
    out: list[RunnerStatus] = []
    for path in sorted(folder.glob("*.json")):
        try:
            out.append(RunnerStatus.from_json(path.read_text(encoding="utf-8")))
        except (OSError, ValueError, StatusError) as exc:
            message = f"{path}: unreadable status ({exc}); delete it if the runner is gone"
            log.warning("%s", message)
            if problems is not None:
                problems.append(message)
    return out


# ---------------------------------------------------------------------------- health

@dataclass(frozen=True, slots=True)
class Health:
    """The verdict of :func:`assess` for one runner, with its figures."""

    healthy: bool
    problems: tuple[str, ...]
    last_event_age_s: float | None
    status_age_s: float
    exchange_ok_age_s: float | None
    #: False for a session that stopped cleanly: it is over, not failing.
    active: bool = True


def assess(status: RunnerStatus, now_ms: int) -> Health:
    """Apply the health rule of the module docstring at wall time ``now_ms``."""
    problems: list[str] = []
    since = status.last_event_local_ms
    event_age = None if since is None else max(0.0, (now_ms - since) / 1000)
    status_age = max(0.0, (now_ms - status.published_ms) / 1000)
    ok_ms = status.link.last_ok_ms
    ok_age = None if ok_ms is None else max(0.0, (now_ms - ok_ms) / 1000)
    if status.state == "stopped" and status.stopped_cleanly:
        return Health(True, (), event_age, status_age, ok_age, active=False)
    if status.state != "running":
        why = status.kill_reason or status.stop_reason
        problems.append(f"state {status.state}" + (f": {why}" if why else ""))
    stale_after = max(STALE_FLOOR_S, 5 * status.publish_interval_s)
    if status_age > stale_after:
        problems.append(f"no status update for {status_age:.0f} s (limit {stale_after:.0f} s): "
                        "is the runner process alive?")
    limit_s = 3 * status.timeframe_ms / 1000
    waited = event_age if event_age is not None else max(0.0, (now_ms - status.started_ms) / 1000)
    if waited >= limit_s:
        what = "no event yet" if since is None else "last event"
        problems.append(f"{what} {waited:.0f} s ago, limit {limit_s:.0f} s (3 x {status.timeframe})")
    drift = status.clock_drift_ms
    if drift is not None and abs(drift) > status.max_drift_ms:
        problems.append(f"clock drift {drift} ms, limit {status.max_drift_ms} ms")
    if status.reconciliation.status == "mismatch":
        detail = "; ".join(status.reconciliation.problems[:3])
        problems.append("reconciliation mismatch" + (f": {detail}" if detail else ""))
    return Health(not problems, tuple(problems), event_age, status_age, ok_age)


__all__ = ["MODES", "STATES", "AlertRow", "BreakerState", "Counters", "ExchangeLink", "FillRow",
           "Health", "LatencyHistogram", "OrderRow", "PositionRow", "Reconciliation",
           "RunnerStatus", "StatusError", "assess", "read_statuses", "status_dir", "status_path",
           "write_status"]
