"""A test strategy that buys a fixed amount, then sells its whole position, ``trips`` times.

Each bar with no order working: holding a position, sell all of it (``ctx.position``:
what the account holds net of fees, dust excluded); flat, buy ``amount`` base units
until ``trips`` exits were sent. A fixed base amount makes the amounts of a live session
and of its replay identical whatever the fill prices (the fee in the coin bought is a
fixed fraction of the amount).
"""

from __future__ import annotations

from tradeloom.engine.strategy.base import Param, Strategy


class RoundTrips(Strategy):
    amount = Param(float, 0.01, help="base units per buy")
    trips = Param(int, 3, help="round trips, then nothing")

    def on_start(self, ctx) -> None:
        self.exits = 0

    def on_bar(self, ctx, bar) -> None:
        symbol = ctx.symbols[0]
        if bar.symbol != symbol or ctx.open_orders(symbol):
            return
        held = ctx.position(symbol)
        if held > 0:
            ctx.sell(symbol, held, tag="exit")
            self.exits += 1
        elif self.exits < self.trips:
            ctx.buy(symbol, self.amount, tag="entry")
