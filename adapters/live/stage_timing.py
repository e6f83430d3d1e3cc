"""Per-stage latency of live decisions, kept as p50/p95/p99.

Why: the live target is a p99 decision latency (event receipt to the broker's
submit call, network excluded) under 5 ms; an operator needs to see which stage
is slow. Stages, stamped with ``time.perf_counter_ns`` on the runner's thread:

============  ======================================================================
stage         from -> to
============  ======================================================================
``to_strategy``  event receipt -> the strategy gets the bar (broker matching,
                 marks, risk ``on_bar``; stamped by :class:`RiskProbe.on_bar`)
``strategy``     strategy start -> its first order reaches the risk check
``risk``         one ``RiskEngine.check`` call
``send``         one broker ``submit`` call (queueing for the ccxt broker, the
                 whole simulated submit for paper)
``decision``     event receipt -> broker ``submit`` call (the 5 ms target)
``step``         event receipt -> ``Engine.step`` returned
============  ======================================================================

:class:`RiskProbe` wraps the *same* ``RiskEngine`` object (every hook of the port is
delegated, nothing is copied): the run's risk decisions are the risk engine's own.

>>> t = StageTimings()
>>> for ms in (1, 2, 3, 4):
...     t.add("risk", ms * 1_000_000)
>>> t.summary()["risk"]["p50_ms"]
2.5
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Mapping, Sequence
from types import MappingProxyType
from typing import Any

import numpy as np

from tradeloom.engine.market import MarketSpec
from tradeloom.engine.orders import Bar, Fill, Order
from tradeloom.engine.ports import FeeModel, RiskView
from tradeloom.engine.risk.codes import RiskAction, RiskDecision
from tradeloom.engine.risk.engine import RiskEngine

STAGES = ("to_strategy", "strategy", "risk", "send", "decision", "step")


class StageTimings:
    """Bounded samples (ns) per stage; ``summary()`` gives count and p50/p95/p99 in ms."""

    def __init__(self, keep: int = 100_000) -> None:
        self._samples: dict[str, deque[int]] = {s: deque(maxlen=keep) for s in STAGES}
        self.receipt_ns = 0
        self.strategy_ns = 0
        self._first_check = True

    def add(self, stage: str, ns: int) -> None:
        self._samples[stage].append(int(ns))

    def samples(self) -> Mapping[str, deque[int]]:
        """The bounded window of samples per stage (ns, oldest first), read-only by
        contract: the status page builds its latency histograms from it."""
        return MappingProxyType(self._samples)

    # -- stamps, called by the runner, the probe and the recorder --------------------
    def receipt(self) -> None:
        self.receipt_ns = time.perf_counter_ns()
        self.strategy_ns = 0
        self._first_check = True

    def strategy_start(self) -> None:
        now = time.perf_counter_ns()
        self.strategy_ns = now
        if self.receipt_ns:
            self.add("to_strategy", now - self.receipt_ns)

    def check_start(self) -> int:
        now = time.perf_counter_ns()
        if self._first_check and self.strategy_ns:
            self.add("strategy", now - self.strategy_ns)
            self._first_check = False
        return now

    def submit_start(self) -> int:
        now = time.perf_counter_ns()
        if self.receipt_ns:
            self.add("decision", now - self.receipt_ns)
        return now

    def step_done(self) -> None:
        if self.receipt_ns:
            self.add("step", time.perf_counter_ns() - self.receipt_ns)

    def summary(self) -> dict[str, dict[str, float]]:
        out: dict[str, dict[str, float]] = {}
        for stage, samples in self._samples.items():
            if not samples:
                continue
            ms = np.asarray(samples, dtype=np.float64) / 1e6
            p50, p95, p99 = np.percentile(ms, [50, 95, 99])
            out[stage] = {"count": float(len(ms)), "p50_ms": round(float(p50), 4),
                          "p95_ms": round(float(p95), 4), "p99_ms": round(float(p99), 4)}
        return out


class RiskProbe:
    """The run's ``RiskEngine`` as the engine sees it (the ``RiskHooks`` port), with the
    ``check`` and ``on_bar`` calls timed.

    Every hook is delegated explicitly to the wrapped engine, so the decisions, records
    and events are the risk engine's own; the runner and the status page hold the
    ``RiskEngine`` itself (``inner``) for its operator controls (kill, status).
    """

    def __init__(self, risk: RiskEngine, timings: StageTimings) -> None:
        self.inner = risk
        self._timings = timings

    def check(self, order: Order, view: RiskView) -> RiskDecision:
        start = self._timings.check_start()
        decision = self.inner.check(order, view)
        self._timings.add("risk", time.perf_counter_ns() - start)
        return decision

    def bind(self, *, markets: Mapping[str, MarketSpec] | None = None,
             fees: FeeModel | None = None, exchange: str | None = None,
             symbols: Sequence[str] = ()) -> None:
        self.inner.bind(markets=markets, fees=fees, exchange=exchange, symbols=symbols)

    def on_bar(self, bar: Bar, view: RiskView) -> None:
        self.inner.on_bar(bar, view)
        self._timings.strategy_start()  # the loop calls the strategy right after this

    def on_fill(self, fill: Fill, view: RiskView | None) -> None:
        self.inner.on_fill(fill, view)

    def pending_actions(self) -> list[RiskAction]:
        return self.inner.pending_actions()

    def records(self) -> list[dict[str, Any]]:
        return self.inner.records()

    @property
    def events(self) -> list[dict[str, Any]]:
        return self.inner.events


__all__ = ["STAGES", "RiskProbe", "StageTimings"]
