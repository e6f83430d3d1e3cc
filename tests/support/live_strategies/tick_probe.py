"""A Ladder that records every trade tick it sees (``on_trade``), for the tick tests."""

from __future__ import annotations

from live_strategies.ladder import Ladder


class TickProbe(Ladder):
    def on_start(self, ctx) -> None:
        self.ticks: list[tuple[str, int, float]] = []

    def on_trade(self, ctx, tick) -> None:
        self.ticks.append((tick.symbol, tick.ts, tick.price))
