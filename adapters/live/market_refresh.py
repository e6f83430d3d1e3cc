"""Market rules refreshed during a session: tick and lot sizes, minimums, fees.

Why: venues change a symbol's filters while bots run (Binance moves ``PRICE_FILTER``
tick sizes and ``LOT_SIZE`` steps, raises ``NOTIONAL`` minimums); a runner that keeps
the rules it loaded at start sends orders the venue now rejects (-1013 "Filter
failure"). Every ``markets_ttl_s`` (``runner.markets_ttl_s``, default one hour) the
runner reloads the exchange's markets through its ``markets`` source (the session's
client, and the live broker's own client so ccxt's rounding agrees). A symbol whose
``MarketSpec`` changed gets a ``markets`` record (the new specs, at the engine's time)
and the new rules are applied to the engine and the broker
(``Engine.update_markets``); ``replay`` applies the same record at the same point.
A reload that fails is journaled as a ``warning`` and retried at the next due time;
the old rules stay.
"""

from __future__ import annotations

import dataclasses
import logging

from tradeloom.adapters.clock import Clock
from tradeloom.adapters.live.journal_codec import market_payload
from tradeloom.adapters.live.runner_parts import MarketSource, SessionJournal
from tradeloom.engine.errors import TradeloomError
from tradeloom.engine.market import MarketSpec
from tradeloom.engine.run.loop import Engine

log = logging.getLogger(__name__)


class MarketRefresh:
    """Reloads the market rules every ``every_s`` of the runner's clock."""

    def __init__(self, source: MarketSource, engine: Engine, *, journal: SessionJournal,
                 clock: Clock, every_s: float) -> None:
        self.source = source
        self.engine = engine
        self.journal = journal
        self.clock = clock
        self.every_ms = round(every_s * 1000)
        self.next_local = clock.now_ms() + self.every_ms
        self.refreshes = 0

    def due(self) -> bool:
        return self.clock.now_ms() >= self.next_local

    async def run(self) -> dict[str, MarketSpec]:
        """Reload now; the symbols whose rules changed (already applied and journaled)."""
        self.next_local = self.clock.now_ms() + self.every_ms
        try:
            specs = await self.source()
        except TradeloomError as err:
            self.journal.write("warning", {"where": "markets refresh", "warning": str(err)},
                               None)
            log.warning("markets refresh failed (%s); keeping the current rules", err)
            return {}
        self.refreshes += 1
        engine = self.engine
        changed = {s: spec for s, spec in sorted(specs.items())
                   if s in engine.markets and engine.markets[s] != spec}
        if not changed:
            return {}
        ts = engine.ctx.now
        self.journal.write("markets", {"ts": ts, "markets": {
            s: market_payload(spec) for s, spec in changed.items()}}, None)
        for symbol, spec in changed.items():
            old = engine.markets[symbol]
            log.warning("market rules of %s changed: %s", symbol, describe_change(old, spec))
        engine.update_markets(changed)
        return changed


def describe_change(old: MarketSpec, new: MarketSpec) -> str:
    """The fields that differ, ``name old -> new``.

    >>> describe_change(MarketSpec("BTC/USDT", lot_step=1e-5),
    ...                 MarketSpec("BTC/USDT", lot_step=1e-3))
    'lot_step 1e-05 -> 0.001'
    """
    a, b = dataclasses.asdict(old), dataclasses.asdict(new)
    return ", ".join(f"{k} {a[k]!r} -> {b[k]!r}" for k in a if a[k] != b[k]) or "no change"


__all__ = ["MarketRefresh", "describe_change"]
