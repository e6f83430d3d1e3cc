"""Donchian breakout entered with a bracket: a stop-loss, two take-profits, then a trail.

Idea: a close above the highest high of the previous ``lookback`` bars starts a
move. Enter on it, risk a fixed fraction, bank half of the position at a first
target, and let the other half run with a trailing stop until a second target.

Params: ``lookback`` (channel bars, default 48), ``stop_pct`` (default 0.02),
``tp1_pct`` / ``tp2_pct`` (take-profit distances, default 0.02 / 0.05),
``trail_pct`` (trailing distance after the first take-profit, default 0.015).
All distances are fractions of the decision bar's close.

Orders:

- ``ctx.bracket``: an all-in market entry (``quote=`` cash) with a stop-loss at
  ``close * (1 - stop_pct)`` and two limit take-profits at ``close * (1 + tp1_pct)``
  and ``close * (1 + tp2_pct)``, each for 50 % of the filled amount. The broker
  arms the legs when the entry fills and links them: the stop-loss covers what is
  left, a stop-loss fill cancels the take-profits.
- when the first take-profit fills, the bracket's stop-loss is cancelled and a
  ``ctx.trailing_stop`` (``trail_pct`` below the best price since) protects the
  remaining half; it and the second take-profit cancel each other in ``on_fill``.
"""

from __future__ import annotations

import math

from tradeloom.engine.strategy.base import Param, Strategy, StrategyError

TAG = "breakout"


class BreakoutBracket(Strategy):
    """Donchian breakout with a 2-level scale-out bracket (see the module docstring)."""

    lookback = Param(int, 48, min=2, help="Donchian channel length (bars)")
    stop_pct = Param(float, 0.02, min=0.001, max=0.5, help="stop-loss below the close")
    tp1_pct = Param(float, 0.02, min=0.001, help="first take-profit above the close (50 %)")
    tp2_pct = Param(float, 0.05, min=0.001, help="second take-profit above the close (50 %)")
    trail_pct = Param(float, 0.015, min=0.001, max=0.5, help="trailing stop after the first take-profit")

    def validate(self) -> None:
        if self.tp1_pct >= self.tp2_pct:
            raise StrategyError(f"tp1_pct ({self.tp1_pct}) must be < tp2_pct ({self.tp2_pct})")

    def on_start(self, ctx) -> None:
        self._symbol = ctx.symbols[0]
        self._channel = ctx.indicator("donchian", self._symbol, period=self.lookback)
        self._prev_upper = math.nan  # channel of the bars *before* the current one

    def on_bar(self, ctx, bar) -> None:
        upper = self._prev_upper
        self._prev_upper = self._channel.value.upper
        flat = ctx.position(self._symbol) == 0.0 and not ctx.open_orders(self._symbol)
        if flat and bar.close > upper:  # False while the channel warms up (NaN)
            c = bar.close
            ctx.bracket(
                self._symbol,
                quote=ctx.cash,
                stop_loss=c * (1.0 - self.stop_pct),
                take_profits=[(c * (1.0 + self.tp1_pct), 0.5), (c * (1.0 + self.tp2_pct), 0.5)],
                tag=TAG,
            )

    def on_fill(self, ctx, fill) -> None:
        working = {o.tag: o for o in ctx.open_orders(fill.symbol)}
        if fill.tag == f"{TAG}:tp1":
            left = ctx.position(fill.symbol)
            if f"{TAG}:sl" in working and f"{TAG}:tp2" in working and left > 0.0:
                ctx.cancel(working[f"{TAG}:sl"].id)
                ctx.trailing_stop(fill.symbol, left, trail_pct=self.trail_pct, tag=f"{TAG}:trail")
        elif fill.tag == f"{TAG}:tp2" and f"{TAG}:trail" in working:
            ctx.cancel(working[f"{TAG}:trail"].id)
        elif fill.tag == f"{TAG}:trail" and f"{TAG}:tp2" in working:
            ctx.cancel(working[f"{TAG}:tp2"].id)
