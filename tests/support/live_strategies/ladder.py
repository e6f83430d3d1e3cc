"""A test strategy that keeps limit orders resting on the exchange (crash tests).

Each bar: with nothing open, a limit buy ``dip`` below the close for ``size`` BTC;
holding a position, a limit sell ``rise`` above the close for all of it. Orders
left from earlier bars are cancelled after ``ttl`` bars. So at any moment a few
orders rest on the book and some fill: what a SIGKILL must not lose.
"""

from __future__ import annotations

from tradeloom.engine.strategy.base import Param, Strategy


class Ladder(Strategy):
    dip = Param(float, 0.004, help="limit buy this fraction below the close")
    rise = Param(float, 0.004, help="limit sell this fraction above the close")
    size = Param(float, 0.02, help="BTC per buy")
    ttl = Param(int, 3, help="cancel an order after this many bars")

    def on_bar(self, ctx, bar) -> None:
        symbol = bar.symbol
        tf = bar.close_ts - bar.ts
        for order in ctx.open_orders(symbol):
            if order.created_ts <= bar.close_ts - self.ttl * tf:
                ctx.cancel(order.id)
        sides = {o.side.value for o in ctx.open_orders(symbol)}
        held = ctx.position(symbol)
        if held > 0 and "sell" not in sides:
            ctx.sell(symbol, held, price=round(bar.close * (1 + self.rise), 2))
        if "buy" not in sides:
            ctx.buy(symbol, self.size, price=round(bar.close * (1 - self.dip), 2))
