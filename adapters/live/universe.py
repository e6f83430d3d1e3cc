"""What the live runner needs from a universe: the ``UniverseSource`` port, and how a
refresh's ``block``/``allow`` lists are applied to the risk engine (shared with replay).

The universe itself is computed in research (``research/universe/gate.py``'s
``UniverseGate`` implements the port); the runner only feeds it bars, asks when a
refresh is due, journals the record and applies it.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Protocol

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


__all__ = ["UniverseSource", "apply_universe"]
