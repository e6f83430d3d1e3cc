"""RSI mean reversion with a stop-loss.

Idea: after a sharp fall (RSI below ``oversold``) prices tend to bounce back.
Buy all-in when the RSI closes below ``oversold`` while flat; sell when it closes
above ``exit_level`` (the bounce happened) or when the price falls
``stop_pct`` below the entry fill (the bounce did not come).

Params: ``period`` (RSI period, default 14), ``oversold`` (default 30),
``exit_level`` (default 55), ``stop_pct`` (default 0.03 = 3 %).

Orders: entry and signal exit are market orders through ``ctx.target_percent``
(1.0 and 0.0). When the entry fills, ``on_fill`` places a reduce-only sell stop
(``ctx.stop_loss``) for the filled amount at ``fill price * (1 - stop_pct)``. A
signal exit cancels that stop first, so at most one exit ever fills.

Vectorized form (``vectorized``): ``Signals`` with entries where the batch RSI is
below ``oversold``, exits where it is above ``exit_level`` and ``sl_pct=stop_pct``,
which is exactly this logic (the kernel's stop is placed at the entry fill, for the
filled amount, and cancelled by a signal exit). One symbol.
"""

from __future__ import annotations

from tradeloom.engine.indicators.registry import rsi
from tradeloom.engine.orders import Side
from tradeloom.engine.strategy.base import Param, Strategy, StrategyError
from tradeloom.engine.strategy.context import TARGET_TAG
from tradeloom.engine.vector.form import Signals, VectorBars


class RsiReversion(Strategy):
    """Buy oversold, sell on the bounce or at the stop (see the module docstring)."""

    period = Param(int, 14, min=2, help="RSI period (bars)")
    oversold = Param(float, 30.0, min=0.0, max=100.0, help="enter when RSI closes below")
    exit_level = Param(float, 55.0, min=0.0, max=100.0, help="exit when RSI closes above")
    stop_pct = Param(float, 0.03, min=0.001, max=0.5, help="stop-loss distance below the entry fill")

    def validate(self) -> None:
        if self.oversold >= self.exit_level:
            raise StrategyError(f"oversold ({self.oversold}) must be < exit_level ({self.exit_level})")

    def on_start(self, ctx) -> None:
        self._symbol = ctx.symbols[0]
        self._rsi = ctx.indicator("rsi", self._symbol, period=self.period)
        self._stop = None  # the working stop-loss order, if any

    def on_bar(self, ctx, bar) -> None:
        rsi = self._rsi.value
        if ctx.position(self._symbol) == 0.0:
            if rsi < self.oversold and not ctx.open_orders(self._symbol):
                ctx.target_percent(self._symbol, 1.0)
        elif rsi > self.exit_level:
            if self._stop is not None and self._stop.is_open:
                ctx.cancel(self._stop.id)
            ctx.target_percent(self._symbol, 0.0)

    def on_fill(self, ctx, fill) -> None:
        if fill.tag == TARGET_TAG and fill.side is Side.BUY:  # the entry filled
            stop = fill.price * (1.0 - self.stop_pct)
            self._stop = ctx.stop_loss(fill.symbol, fill.amount, stop)

    def vectorized(self, bars: VectorBars) -> Signals:
        """RSI thresholds as entry/exit arrays with the stop-loss (see the module docstring)."""
        value = rsi(bars.field("close"), self.period)
        return Signals(entries=value < self.oversold, exits=value > self.exit_level,
                       sl_pct=self.stop_pct)
