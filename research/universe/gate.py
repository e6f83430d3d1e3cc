"""Universe gating for the live runner: new entries only in the current universe.

Why: issue 9 - "the runner trades only the current universe". The runner builds a
:class:`UniverseGate` from ``LiveConfig.universe`` and calls :meth:`refresh` at the
session start and whenever the engine clock (the last stepped bar's close) reaches
the next multiple of ``refresh_every`` (epoch-aligned, the grid of
``research.universe.refresh_schedule``, so a backtest refreshes at the same times).

**Data source.** ``compute_universe`` runs over the runner's market store (the
config's ``store``, else the catalog: the store the warm-up reads). Before each
refresh the gate *tops the store up* with the live bars the session stepped since the
last refresh (``MarketStore.write_bars(..., source="live:<run_id>")``, a merge: bars
already stored are kept), when the universe's exchange and timeframe are the
session's; the symbols the session does not trade keep what ingest stored.

**Effect.** A traded symbol outside ``Universe.tradeable`` is marked degraded in the
``RiskEngine`` (``set_status(symbol, True)``): new entries are refused with
``RiskCode.DEGRADED`` (the risk engine records each decision), exits always pass.
A symbol back in the universe is marked healthy again - unless the runner degraded
every symbol after a reconciliation alert, which only a restart lifts. Each refresh
is journaled as a ``universe`` record (the exclusion reasons, the symbols blocked
and allowed); ``replay`` applies the same ``block``/``allow`` lists at the same point
(:func:`apply_universe`), so it reproduces the decisions without a store.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import pandas as pd

from tradeloom.adapters.live.universe import apply_universe
from tradeloom.engine.errors import ConfigError
from tradeloom.engine.orders import Bar
from tradeloom.engine.timeframes import timeframe_to_ms
from tradeloom.research.universe.tiers import UniverseConfig, compute_universe

log = logging.getLogger(__name__)

_COLUMNS = ["ts", "open", "high", "low", "close", "volume"]


class UniverseGate:
    """The universe of one session (see the module docstring); a ``UniverseSource``."""

    def __init__(self, config: UniverseConfig, refresh_every: str, store: Any,
                 symbols: Sequence[str], *, exchange: str, timeframe: str, run_id: str) -> None:
        if store is None:
            raise ConfigError("universe gating reads the market store: set store = 'PATH' in the "
                              "config (or configure the catalog) so the universe can be computed")
        self.config = config
        self.every_ms = timeframe_to_ms(refresh_every)
        self.store = store
        self.symbols = tuple(symbols)
        self.run_id = run_id
        self.top_up = config.exchange == exchange and config.timeframe == timeframe
        self.next_due: int | None = None
        self.blocked: set[str] = set()
        self._live: dict[str, list[Bar]] = {}
        self.refreshes = 0

    def add_bar(self, bar: Bar) -> None:
        """A live bar the session stepped (written to the store at the next refresh)."""
        if self.top_up:
            self._live.setdefault(bar.symbol, []).append(bar)

    def due(self, ts: int) -> bool:
        return self.next_due is not None and ts >= self.next_due

    def _write_live(self) -> int:
        written = 0
        for symbol, bars in self._live.items():
            if not bars:
                continue
            frame = pd.DataFrame([tuple(b)[1:2] + tuple(b)[3:] for b in bars], columns=_COLUMNS)
            self.store.write_bars(self.config.exchange, self.config.timeframe, symbol, frame,
                                  source=f"live:{self.run_id}")
            written += len(bars)
        self._live = {}
        return written

    def refresh(self, ts: int, *, keep_blocked: bool = False) -> dict[str, Any]:
        """Recompute at ``ts``; the ``universe`` record (``block``/``allow`` to apply).

        ``keep_blocked``: allow nothing again (the runner is degraded after an alert).
        """
        written = self._write_live() if self.top_up else 0
        universe = compute_universe(self.store, self.config, as_of=int(ts))
        tradeable = set(universe.tradeable)
        candidates = {m.symbol for m in universe.members}
        refused: dict[str, list[str]] = {}
        for symbol in self.symbols:
            if symbol in tradeable:
                continue
            reasons = (list(universe.figures(symbol).reasons) if symbol in candidates else
                       [(f"not a candidate: no {self.config.timeframe} bars of {symbol} on "
                        f"{self.config.exchange} in the store, or not in the universe's symbols")])
            refused[symbol] = reasons or ["excluded from the universe"]
        block = sorted(s for s in refused if s not in self.blocked)
        allow = [] if keep_blocked else sorted(s for s in self.blocked if s not in refused)
        self.blocked = (self.blocked | set(block)) - set(allow)
        self.next_due = int(ts) - int(ts) % self.every_ms + self.every_ms
        self.refreshes += 1
        for symbol in block:
            log.warning("universe: %s left the universe at %d (%s); new entries refused",
                        symbol, ts, "; ".join(refused[symbol]))
        return {"ts": int(ts), "tradeable": sorted(s for s in self.symbols if s in tradeable),
                "refused": refused, "block": block, "allow": allow,
                "tiers": {m.symbol: m.tier for m in universe.members},
                "config_hash": universe.config_hash, "live_bars_written": written,
                "next_refresh": self.next_due}

    def refusal_reason(self, symbol: str) -> str | None:
        """Why entries on ``symbol`` are refused now (None: it is in the universe)."""
        return "outside the current universe" if symbol in self.blocked else None


__all__ = ["UniverseGate", "apply_universe"]
