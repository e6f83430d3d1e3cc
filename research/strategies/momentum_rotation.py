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

Vectorized form (``vectorized``): ``TargetWeights`` replaying that schedule: at each
rebalance step (bar ``m * every - 1``) weight 0 for the symbols outside the new top,
one bar later ``1 / top_k`` for the top (NaN elsewhere: no call). Timers fire by
time, so this holds only when every symbol has every bar (no gaps); otherwise the
form refuses and the event engine runs.
"""

from __future__ import annotations

import numpy as np

from tradeloom.engine.strategy.base import Param, Strategy
from tradeloom.engine.vector.form import NotVectorizable, TargetWeights, VectorBars


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

    def vectorized(self, bars: VectorBars) -> TargetWeights:
        """The rebalance schedule as target weights (see the module docstring)."""
        if not bars.gap_free:
            gap = int(np.argmax(np.diff(bars.ts) != bars.timeframe_ms)) + 1
            raise NotVectorizable(
                f"bar {gap} does not follow bar {gap - 1} by one timeframe (a gap): the "
                "rebalance timer then fires between bars, which target weights do not model")
        close = bars.close
        n, k = close.shape
        weights = np.full((n, k), np.nan)
        symbols = list(bars.symbols)
        top: list[int] = []
        buy_at = -1
        for i in range(n):
            if (i + 1) % self.every == 0 and i >= self.lookback and k >= self.top_k:
                scores = close[i] / close[i - self.lookback] - 1.0
                top = sorted(range(k), key=lambda j: (-scores[j], symbols[j]))[: self.top_k]
                weights[i, [j for j in range(k) if j not in top]] = 0.0
                rebalanced = True
            else:
                rebalanced = False
            if buy_at == i:
                weights[i, top] = 1.0 / self.top_k
            if rebalanced:
                buy_at = i + 1
        return TargetWeights(weights)
