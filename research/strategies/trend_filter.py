"""Multi-timeframe trend filter: trade the 1h SMA cross only with the daily trend and 4h momentum.

Idea: a fast/slow crossover on the trading timeframe whipsaws in down trends. Read
two higher timeframes, built from the run's own bars (``ctx.bars`` and
``ctx.indicator(..., timeframe=)``, see ``engine.run.resample``), and take a cross up
only when

- the last closed **daily** close is above its ``trend_period``-day SMA (the trend), and
- the last closed **4h** bar closed above its open (momentum now).

Exit on the cross down, or as soon as a daily close falls below its SMA. Each higher
timeframe bar reaches the strategy at the step of its close (the 1d bar of Monday
with the 1h bar closing at Tuesday 00:00), never earlier; until the daily SMA is
defined (``trend_period`` closed days) nothing is bought.

Params: ``fast`` (10), ``slow`` (50) SMA periods on the run's bars; ``trend_period``
(20) days; ``trend_timeframe`` ("1d") and ``confirm_timeframe`` ("4h"), which must be
whole multiples of the run's timeframe.

Orders: market orders through ``ctx.target_percent`` (``1 / len(symbols)`` of equity
in, 0 out), as ``SmaCross``.

Run it::

    tradeloom backtest research/strategies/trend_filter.py:TrendFilter \\
        --symbols BTC/USDT --timeframe 1h --param trend_period=10
"""

from __future__ import annotations

import math

from tradeloom.engine.strategy.base import Param, Strategy, StrategyError


class TrendFilter(Strategy):
    """SMA cross on the run's bars, filtered by a daily trend and 4h momentum (see above)."""

    fast = Param(int, 10, min=1, help="fast SMA period (bars of the run)")
    slow = Param(int, 50, min=2, help="slow SMA period (bars of the run)")
    trend_period = Param(int, 20, min=1, help="SMA period of the trend timeframe (its bars)")
    trend_timeframe = Param(str, "1d", help="timeframe of the trend filter")
    confirm_timeframe = Param(str, "4h", help="timeframe of the momentum confirmation")

    def validate(self) -> None:
        if self.fast >= self.slow:
            raise StrategyError(f"fast ({self.fast}) must be < slow ({self.slow})")

    def on_start(self, ctx) -> None:
        self._weight = 1.0 / len(ctx.symbols)
        self._smas = {
            s: (ctx.indicator("sma", s, period=self.fast), ctx.indicator("sma", s, period=self.slow))
            for s in ctx.symbols
        }
        self._trend = {
            s: ctx.indicator("sma", s, period=self.trend_period, timeframe=self.trend_timeframe)
            for s in ctx.symbols
        }
        for s in ctx.symbols:  # keep the last closed bar of both timeframes from the start
            ctx.bars(s, self.trend_timeframe)
            ctx.bars(s, self.confirm_timeframe)
        self._prev = dict.fromkeys(ctx.symbols, math.nan)

    def _trend_up(self, ctx, symbol: str) -> bool | None:
        """Daily close above its SMA (None while the SMA warms up)."""
        sma = self._trend[symbol]
        if not sma.ready:
            return None
        (day,) = ctx.bars(symbol, self.trend_timeframe)
        return day.close > sma.value

    def on_bar(self, ctx, bar) -> None:
        symbol = bar.symbol
        fast, slow = self._smas[symbol]
        d = fast.value - slow.value
        prev = self._prev[symbol]
        self._prev[symbol] = d
        trend = self._trend_up(ctx, symbol)
        held = ctx.position(symbol) > 0.0
        if held and (prev >= 0.0 > d or trend is False):
            ctx.target_percent(symbol, 0.0)
        elif not held and prev <= 0.0 < d and trend:
            confirm = ctx.bars(symbol, self.confirm_timeframe)
            if confirm and confirm[-1].close > confirm[-1].open:
                ctx.target_percent(symbol, self._weight)
