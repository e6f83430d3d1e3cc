"""Prometheus exposition of the runners' status files (``GET /metrics``).

Why a custom collector: the figures live in the runners' processes, which publish
``RunnerStatus`` files; the server holds no state of its own. At every scrape
:class:`StatusCollector` reads the files and turns them into metric families, so a
runner restart or a new runner needs no server change. Labels: ``runner`` (run id),
``account``, and ``symbol`` / ``code`` / ``breaker`` / ``type`` / ``stage`` where
the figure has one. Counters are the runner's own since its start (a restarted
runner starts again from zero, which Prometheus reads as a counter reset).

Families (all prefixed ``tradeloom_``): gauges ``runner_up`` (1 = healthy, see
``adapters.status.assess``), ``runner_state``, ``equity``, ``pnl``, ``exposure``,
``exposure_ratio``, ``position``, ``position_value``, ``open_orders``,
``last_event_age_seconds``, ``clock_drift_seconds``, ``exchange_consecutive_errors``,
``breaker_tripped``, ``status_file_errors``; counters ``bars``, ``fills``,
``risk_decisions``, ``breaker_trips``, ``errors``, ``reconciliation_mismatches``;
histogram ``stage_latency_seconds``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from pathlib import Path

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)

from tradeloom.adapters.clock import SystemClock
from tradeloom.adapters.ops.status import STATES, RunnerStatus, assess, read_statuses

RUNNER = ["runner", "account"]
_SYSTEM = SystemClock()


class StatusCollector:
    """A prometheus_client collector reading ``<state_dir>/status/*.json`` at each scrape."""

    def __init__(self, state_dir: Path, now_ms: Callable[[], int] = _SYSTEM.now_ms) -> None:
        self.state_dir = Path(state_dir)
        self._now = now_ms

    def collect(self) -> Iterator[Metric]:
        problems: list[str] = []
        statuses = read_statuses(self.state_dir, problems)
        yield from runner_families(statuses, self._now())
        bad = GaugeMetricFamily("tradeloom_status_file_errors",
                                "Status files that could not be read.")
        bad.add_metric([], len(problems))
        yield bad


def _gauge(name: str, doc: str, extra: tuple[str, ...] = ()) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, doc, labels=[*RUNNER, *extra])


def _counter(name: str, doc: str, extra: tuple[str, ...] = ()) -> CounterMetricFamily:
    return CounterMetricFamily(name, doc, labels=[*RUNNER, *extra])


def runner_families(statuses: list[RunnerStatus], now_ms: int) -> list[Metric]:
    """Every metric family for ``statuses`` at wall time ``now_ms`` (see the module docstring)."""
    g = {
        "up": _gauge("tradeloom_runner_up", "1 when the runner is healthy (GET /health rule)."),
        "state": _gauge("tradeloom_runner_state", "1 for the runner's current state.", ("state",)),
        "equity": _gauge("tradeloom_equity", "Account equity in the quote currency."),
        "pnl": _gauge("tradeloom_pnl", "Equity minus the session's initial equity."),
        "exposure": _gauge("tradeloom_exposure", "Value of open positions (quote)."),
        "ratio": _gauge("tradeloom_exposure_ratio", "Open position value / equity."),
        "pos": _gauge("tradeloom_position", "Position size (base units).", ("symbol",)),
        "pos_value": _gauge("tradeloom_position_value", "Position value (quote).", ("symbol",)),
        "orders": _gauge("tradeloom_open_orders", "Open orders.", ("symbol",)),
        "age": _gauge("tradeloom_last_event_age_seconds", "Wall time since the last bar/fill."),
        "drift": _gauge("tradeloom_clock_drift_seconds", "Exchange clock minus local clock."),
        "link": _gauge("tradeloom_exchange_consecutive_errors",
                       "Exchange errors since the last good request."),
        "tripped": _gauge("tradeloom_breaker_tripped", "1 while the breaker is tripped.",
                          ("breaker",)),
    }
    c = {
        "bars": _counter("tradeloom_bars", "Closed bars processed."),
        "fills": _counter("tradeloom_fills", "Fills booked.", ("symbol",)),
        "risk": _counter("tradeloom_risk_decisions", "Risk decisions by code ('ok': approved).",
                         ("code",)),
        "trips": _counter("tradeloom_breaker_trips", "Breaker trips (kill switch included).",
                          ("breaker",)),
        "errors": _counter("tradeloom_errors", "Errors by type.", ("type",)),
        "recon": _counter("tradeloom_reconciliation_mismatches",
                          "Reconciliations that found a mismatch."),
    }
    hist = HistogramMetricFamily("tradeloom_stage_latency_seconds",
                                 "Per-stage decision latency (StageTimings' sample window).",
                                 labels=[*RUNNER, "stage"])
    for s in statuses:
        who = [s.runner_id, s.account]
        health = assess(s, now_ms)
        g["up"].add_metric(who, 1.0 if health.healthy else 0.0)
        for state in STATES:
            g["state"].add_metric([*who, state], 1.0 if s.state == state else 0.0)
        g["equity"].add_metric(who, s.equity)
        g["pnl"].add_metric(who, s.pnl)
        g["exposure"].add_metric(who, s.exposure)
        g["ratio"].add_metric(who, s.exposure_pct)
        for p in s.positions:
            g["pos"].add_metric([*who, p.symbol], p.amount)
            g["pos_value"].add_metric([*who, p.symbol], p.value)
        for symbol in s.symbols:
            n = sum(1 for o in s.open_orders if o.symbol == symbol)
            g["orders"].add_metric([*who, symbol], n)
        age = health.last_event_age_s
        g["age"].add_metric(who, math.nan if age is None else age)
        drift = s.clock_drift_ms
        g["drift"].add_metric(who, math.nan if drift is None else drift / 1000)
        g["link"].add_metric(who, s.link.consecutive_errors)
        for b in s.breakers:
            g["tripped"].add_metric([*who, b.name], 1.0 if b.tripped else 0.0)
        k = s.counters
        c["bars"].add_metric(who, k.bars)
        for symbol in s.symbols:
            c["fills"].add_metric([*who, symbol], k.fills.get(symbol, 0))
        for code, n in k.risk_decisions.items():
            c["risk"].add_metric([*who, code], n)
        for b in s.breakers:
            c["trips"].add_metric([*who, b.name], k.breaker_trips.get(b.name, 0))
        for kind, n in k.errors.items():
            c["errors"].add_metric([*who, kind], n)
        c["recon"].add_metric(who, k.reconciliation_mismatches)
        for stage, h in s.latency.items():
            buckets = [("+Inf" if math.isinf(b) else repr(b), float(n))
                       for b, n in zip(h.bounds_s, h.cumulative)]
            hist.add_metric([*who, stage], buckets, h.sum_s)
    return [*g.values(), *c.values(), hist]


def exposition(state_dir: Path, now_ms: Callable[[], int] = _SYSTEM.now_ms) -> bytes:
    """The Prometheus text exposition of ``state_dir``'s runners (one fresh registry)."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(StatusCollector(state_dir, now_ms))  # type: ignore[arg-type]
    return generate_latest(registry)


__all__ = ["StatusCollector", "exposition", "runner_families"]
