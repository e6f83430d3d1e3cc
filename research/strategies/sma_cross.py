"""SMA crossover, long only: the "hello world" of trading strategies.

Idea: a fast moving average crossing above a slow one marks the start of an up
trend, crossing back below marks its end. Buy all-in on the first, go flat on the
second.

Params: ``fast`` (default 10) and ``slow`` (default 50) SMA periods over closes,
``fast < slow``.

Orders: market orders only, through ``ctx.target_percent``: ``1 / len(symbols)``
of equity on a cross up (all-in with one symbol; the buy spends quote *including*
the fee, so it is always payable at the next open), ``0`` on a cross down (sell the
whole position). Decisions are taken at a bar's close and fill at the next bar's
open.

Crossing, defined on ``d = fast - slow`` of two consecutive bars where both SMAs
are defined: up when ``d_prev <= 0 < d``, down when ``d_prev >= 0 > d``. The
first bar where the slow SMA is defined never signals (it has no previous ``d``).

Vectorized form (``vectorized``): the same crossings from the batch SMAs (bit for bit
the streaming ones) as ``Signals``, all-in; the fast path of sweeps and
``run_vectorized``. With one symbol the two forms agree trade for trade
(``tradeloom check-fast``), except when ``fast == slow`` exactly on some bar: then
the event form may buy again on a repeated up-cross while long, which the signal
kernel (entries act only when flat) does not model, so the form refuses such bars.
"""

from __future__ import annotations

import math

import numpy as np

from tradeloom.engine.indicators.registry import sma
from tradeloom.engine.strategy.base import Param, Strategy, StrategyError
from tradeloom.engine.vector.form import NotVectorizable, Signals, VectorBars


class SmaCross(Strategy):
    """Long-only SMA(fast, slow) crossover, all-in (see the module docstring)."""

    fast = Param(int, 10, min=1, help="fast SMA period (bars)")
    slow = Param(int, 50, min=2, help="slow SMA period (bars)")

    def validate(self) -> None:
        if self.fast >= self.slow:
            raise StrategyError(f"fast ({self.fast}) must be < slow ({self.slow})")

    def on_start(self, ctx) -> None:
        self._weight = 1.0 / len(ctx.symbols)
        self._smas = {
            s: (ctx.indicator("sma", s, period=self.fast), ctx.indicator("sma", s, period=self.slow))
            for s in ctx.symbols
        }
        self._prev = dict.fromkeys(ctx.symbols, math.nan)  # fast - slow at the previous bar

    def on_bar(self, ctx, bar) -> None:
        symbol = bar.symbol
        fast, slow = self._smas[symbol]
        d = fast.value - slow.value  # NaN until both SMAs are defined
        prev = self._prev[symbol]
        self._prev[symbol] = d
        if prev <= 0.0 < d:  # comparisons with NaN are False: no signal in warm-up
            ctx.target_percent(symbol, self._weight)
        elif prev >= 0.0 > d:
            ctx.target_percent(symbol, 0.0)

    def vectorized(self, bars: VectorBars) -> Signals:
        """The crossings as entry/exit arrays (one symbol; see the module docstring)."""
        close = bars.field("close")
        d = sma(close, self.fast) - sma(close, self.slow)
        tie = np.flatnonzero(d == 0.0)
        if tie.size:
            raise NotVectorizable(
                f"fast SMA == slow SMA exactly at bar {int(tie[0])}: SmaCross may re-buy on the "
                "next up-cross while long, which the signal kernel does not model")
        prev = np.r_[np.nan, d[:-1]]
        return Signals(entries=(prev <= 0.0) & (0.0 < d), exits=(prev >= 0.0) & (0.0 > d))
