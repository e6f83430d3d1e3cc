"""Long/short SMA momentum on perpetuals: long in up trends, short in down trends.

Idea: the SMA crossover of ``sma_cross``, but on a perpetual swap the down trend is
traded too: a fast SMA crossing above the slow one goes long, crossing below goes short
(through zero: one order closes the long and opens the short). Always in the market
after the first crossing.

Params: ``fast`` (default 10) and ``slow`` (default 50) SMA periods, ``fast < slow``;
``leverage`` (default 1.0): the symbol's leverage, set at the start, and the size of
each position as a multiple of equity split over the symbols (``target_percent(+-
leverage / len(symbols))``); ``exposure`` (default 0: the leverage) sizes the positions
instead when set, so a live account keeps margin free for fees and moves (``leverage 3,
exposure 1``: a position of one times equity on a third of it as margin; a venue
refuses an order whose margin and fee exceed the available balance, which a position
of ``leverage`` times equity always does); ``margin_mode`` (``cross`` or ``isolated``).

Orders: market orders through ``ctx.target_percent``, sized at the fill
(``engine.sim.perp_funds``); decisions at a bar's close fill at the next open. The
symbols must be perpetuals (``BTC/USDT:USDT``): on spot a short is refused.

Vectorized form (``vectorized``): the same crossings as ``PerpTargets`` (``+size`` at a
cross up, ``-size`` at a cross down, the size being ``exposure`` or else ``leverage``;
NaN elsewhere; one symbol), the input of the perpetual kernel (``engine.vector.perp_nb``) in sweeps and walk-forward; the batch
SMAs are bit for bit the streaming ones, so both forms see the same crossings.
"""

from __future__ import annotations

import math

import numpy as np

from tradeloom.engine.indicators.registry import sma
from tradeloom.engine.strategy.base import Param, Strategy, StrategyError
from tradeloom.engine.vector.form import NotVectorizable, VectorBars
from tradeloom.engine.vector.perp_api import PerpTargets


def crossings(close: np.ndarray, fast: int, slow: int) -> tuple[np.ndarray, np.ndarray]:
    """Cross-up and cross-down masks (``d = sma(fast) - sma(slow)``; up when ``d_prev <=
    0 < d``, down when ``d_prev >= 0 > d``).

    >>> up, down = crossings(np.array([3.0, 2.0, 1.0, 2.0, 3.0, 2.0, 1.0]), 1, 2)
    >>> up.tolist(), down.tolist()
    ([False, False, False, True, False, False, False], [False, False, False, False, False, True, False])
    """
    d = sma(close, fast) - sma(close, slow)
    prev = np.r_[np.nan, d[:-1]]
    with np.errstate(invalid="ignore"):
        return (prev <= 0.0) & (0.0 < d), (prev >= 0.0) & (0.0 > d)


class LongShortMomentum(Strategy):
    """Long on an SMA cross up, short on a cross down (see the module docstring)."""

    fast = Param(int, 10, min=1, help="fast SMA period (bars)")
    slow = Param(int, 50, min=2, help="slow SMA period (bars)")
    leverage = Param(float, 1.0, min=1.0, max=125.0, help="leverage and position size (x equity)")
    margin_mode = Param(str, "cross", choices=("cross", "isolated"), help="margin mode")
    exposure = Param(float, 0.0, min=0.0, max=125.0,
                     help="position size as a multiple of equity (0: the leverage)")

    def validate(self) -> None:
        if self.fast >= self.slow:
            raise StrategyError(f"fast ({self.fast}) must be < slow ({self.slow})")

    @property
    def _size(self) -> float:
        """The position size as a multiple of equity: ``exposure``, else ``leverage``."""
        return self.exposure if self.exposure > 0.0 else self.leverage

    def on_start(self, ctx) -> None:
        self._weight = self._size / len(ctx.symbols)
        for s in ctx.symbols:
            ctx.set_leverage(s, self.leverage)
            ctx.set_margin_mode(s, self.margin_mode)
        self._smas = {
            s: (ctx.indicator("sma", s, period=self.fast), ctx.indicator("sma", s, period=self.slow))
            for s in ctx.symbols
        }
        self._prev = dict.fromkeys(ctx.symbols, math.nan)

    def on_bar(self, ctx, bar) -> None:
        symbol = bar.symbol
        fast, slow = self._smas[symbol]
        d = fast.value - slow.value
        prev = self._prev[symbol]
        self._prev[symbol] = d
        if prev <= 0.0 < d:
            ctx.target_percent(symbol, self._weight)
        elif prev >= 0.0 > d:
            ctx.target_percent(symbol, -self._weight)

    def vectorized(self, bars: VectorBars) -> PerpTargets:
        """The crossings as signed targets (one symbol; see the module docstring)."""
        if len(bars.symbols) != 1:
            raise NotVectorizable(f"LongShortMomentum's vectorized form runs one symbol, got "
                                  f"{len(bars.symbols)}")
        up, down = crossings(bars.field("close"), self.fast, self.slow)
        targets = np.full(up.shape[0], np.nan)
        targets[up] = self._size
        targets[down] = -self._size
        return PerpTargets(targets, self.leverage, self.margin_mode)
