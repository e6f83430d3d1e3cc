"""Momentum rotation: hold the ``top_k`` symbols with the best trailing return.

Idea: recent winners keep winning for a while. Every ``every`` bars rank the
symbols by their return over the last ``lookback`` bars (close over close) and
hold the best ``top_k`` in equal weights, nothing else.

Params: ``lookback`` (default 72 bars), ``every`` (default 24 bars), ``top_k``
(default 2). Meant for a handful of symbols (e.g. 5).

Orders: market orders through ``ctx.target_percent``. The schedule is a timer
every ``every * timeframe`` (so gaps in the data do not shift it), firing after
every bar of that time closed. At a rebalance the symbols that left the top are
sold (target 0); one bar later, once that cash is free, every top symbol is set
to ``1 / top_k`` of equity (buys are capped at free cash, trims are sells).
Ties in the ranking go to the symbol that sorts first.
"""

from __future__ import annotations

from tradeloom.engine.strategy.base import Param, Strategy


class MomentumRotation(Strategy):
    """Equal-weight top-k momentum rotation (see the module docstring)."""

    lookback = Param(int, 72, min=1, help="trailing return window (bars)")
    every = Param(int, 24, min=1, help="rebalance period (bars)")
    top_k = Param(int, 2, min=1, help="number of symbols held")

    def on_start(self, ctx) -> None:
        ctx.history(ctx.symbols[0], self.lookback + 1)  # keep lookback + 1 closes per symbol
        ctx.set_timer(every_ms=self.every * ctx.timeframe_ms, name="rebalance")
        self.top: list[str] = []

    def on_timer(self, ctx, timer) -> None:
        if timer.name == "buy":
            for symbol in self.top:
                ctx.target_percent(symbol, 1.0 / self.top_k)
            return
        scores = {}
        for symbol in ctx.symbols:
            closes = ctx.history(symbol, self.lookback + 1)
            if len(closes) == self.lookback + 1:
                scores[symbol] = closes[-1] / closes[0] - 1.0
        if len(scores) < self.top_k:
            return  # still warming up
        self.top = sorted(scores, key=lambda s: (-scores[s], s))[: self.top_k]
        for symbol in ctx.symbols:
            if symbol not in self.top and ctx.position(symbol) > 0.0:
                ctx.target_percent(symbol, 0.0)
        ctx.set_timer(ctx.now + ctx.timeframe_ms, name="buy")
