"""What the live runner needs from a universe: the ``UniverseSource`` port, how a
refresh's ``block``/``allow`` lists are applied to the risk engine (shared with
replay), and the runner's ``UniverseRefresh``.

The universe itself is computed in research (``research/universe/gate.py``'s
``UniverseGate`` implements the port). ``UniverseRefresh`` observes the session journal
(every ``bar`` record the session steps goes to the universe), refreshes it at start
and whenever the last stepped bar's close reaches the next refresh (the runner asks
before each event, so a refresh is journaled and applied before the event it
precedes), and journals a ``universe_refused`` record per entry the risk engine
refused for it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Protocol

from tradeloom.adapters.live.journal_codec import bar_from_payload
from tradeloom.adapters.live.runner_parts import RunSummary, SessionJournal
from tradeloom.engine.errors import ConfigError
from tradeloom.engine.orders import Bar
from tradeloom.engine.risk.engine import RiskEngine


class UniverseSource(Protocol):
    """A session's universe, refreshed on bar time."""

    def add_bar(self, bar: Bar) -> None:
        """A live bar the session stepped."""

    def due(self, ts: int) -> bool:
        """Whether a refresh is due at bar close ``ts``."""

    def refresh(self, ts: int, *, keep_blocked: bool = False) -> dict[str, Any]:
        """Recompute as of ``ts``; the journal record, with ``block``/``allow`` lists."""

    def refusal_reason(self, symbol: str) -> str | None:
        """Why entries on ``symbol`` are refused now (None: it is in the universe)."""


def apply_universe(risk: RiskEngine | None, block: Iterable[str], allow: Iterable[str],
                   ts: int) -> None:
    """Refuse entries on ``block``, allow them again on ``allow`` in the session's risk
    engine (shared with replay)."""
    if risk is None:
        raise ConfigError("universe gating needs a RiskEngine; set risk_profile in the config "
                          "(e.g. risk_profile = 'moderate')")
    for symbol in block:
        risk.set_status(symbol, True, ts=ts)
    for symbol in allow:
        risk.set_status(symbol, False, ts=ts)


class UniverseRefresh:
    """The universe of one runner: fed from the journal, refreshed on bar time."""

    def __init__(self, gate: UniverseSource, risk: RiskEngine | None, *,
                 journal: SessionJournal, summary: RunSummary) -> None:
        self.gate = gate
        self.risk = risk
        self.journal = journal
        self.summary = summary
        self._seen_decisions = 0
        journal.taps.append(self.observe)

    def observe(self, kind: str, payload: Mapping[str, Any], exchange_ts: int | None,
                local_ts: int) -> None:
        """Journal tap: every bar the session steps goes to the universe."""
        if kind == "bar":
            self.gate.add_bar(bar_from_payload(dict(payload)))

    def refresh_if_due(self, last_close: int) -> None:
        """Refresh when the last stepped bar's close reached the next refresh."""
        if self.gate.due(last_close):
            self.refresh(last_close)

    def refresh(self, ts: int) -> None:
        """Recompute the universe as of ``ts``, journal it, apply it to the risk engine (a
        session degraded by an alert keeps every symbol blocked)."""
        record = self.gate.refresh(ts, keep_blocked=self.summary.degraded)
        self.summary.universe_refreshes += 1
        self.journal.write("universe", record, ts)
        apply_universe(self.risk, record["block"], record["allow"], ts)

    def journal_refusals(self) -> None:
        """A ``universe_refused`` record per entry the risk engine refused for the universe."""
        risk = self.risk
        if risk is None:
            return
        new = risk.decisions[self._seen_decisions:]
        self._seen_decisions = len(risk.decisions)
        for d in new:
            reason = self.gate.refusal_reason(d.symbol)
            if reason is not None and d.code.value == "degraded" and d.outcome.value == "rejected":
                self.journal.write("universe_refused", {
                    "ts": d.ts, "symbol": d.symbol, "order_id": d.order_id,
                    "code": d.code.value, "reason": reason, "risk_message": d.message}, d.ts)


__all__ = ["UniverseRefresh", "UniverseSource", "apply_universe"]
