"""Higher timeframes for the strategy: ``ctx.bars``, ``ctx.history`` and ``ctx.indicator``
on bars resampled from the run's base bars.

``TimeframeData`` is a part of ``Engine`` (a mixin, like ``StrategyData``). For each
``(symbol, timeframe)`` a strategy asks for (``Strategy.timeframes`` or a first
``ctx.bars``/``ctx.history``/``ctx.indicator(..., timeframe=)``), a ``TimeframeSeries``
holds a ``BarResampler`` fed with every base bar of the symbol (after the base
indicators and history, before ``on_bar``), the last closed bars of that timeframe and
the streaming indicators that read them. The rules (bucket alignment, when a bar is
known, partial bars at gaps) are in ``resample``; in short a 4h bar reaches the
strategy at the step of its close, never earlier.

A series asked for after bars have started begins with the first bucket that starts
after the ask (``resample``'s first-bucket rule): ask in ``on_start`` or declare
``timeframes`` on the class to have them from the first bar.

Cost: nothing for a run without higher timeframes (the step's lean path is kept);
one ``add`` per base bar and series otherwise.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from tradeloom.engine.errors import ConfigError, StrategyError
from tradeloom.engine.orders import Bar
from tradeloom.engine.run.resample import BarResampler
from tradeloom.engine.strategy.history import FIELDS
from tradeloom.engine.timeframes import (
    bucket_origin,
    check_resample,
    timeframe_name,
    timeframe_to_ms,
)


class TimeframeSeries:
    """One symbol's closed bars of one higher timeframe and the indicators reading them."""

    __slots__ = ("bars", "close_ups", "multi_ups", "ratio", "resampler", "single_ups",
                 "timeframe", "views")

    def __init__(self, symbol: str, timeframe: str, ratio: int, capacity: int) -> None:
        self.timeframe = timeframe
        self.ratio = ratio
        self.bars: deque[Bar] = deque(maxlen=capacity)
        self.close_ups: list[Callable[[float], Any]] = []
        self.single_ups: list[tuple[Callable[[float], Any], int]] = []
        self.multi_ups: list[tuple[Callable[..., Any], tuple[int, ...]]] = []
        #: (IndicatorView, this symbol's indicator): the view shows the bar's symbol.
        self.views: list[tuple[Any, Any]] = []
        self.resampler = BarResampler(symbol, timeframe_to_ms(timeframe),
                                      bucket_origin(timeframe), self._closed)

    def _closed(self, bar: Bar) -> None:
        self.bars.append(bar)
        close = bar[6]
        for update in self.close_ups:
            update(close)
        for update, index in self.single_ups:
            update(bar[index])
        for update, indexes in self.multi_ups:
            update(*[bar[i] for i in indexes])

    def feed(self, bar: Bar) -> None:
        """One base bar of the symbol."""
        self.resampler.add(bar)
        for view, ind in self.views:
            view.value = ind.value
            view.ready = ind.ready

    @property
    def capacity(self) -> int:
        return self.bars.maxlen or 0

    def grow(self, capacity: int) -> None:
        self.bars = deque(self.bars, maxlen=capacity)


class TimeframeData:
    """Higher-timeframe bookkeeping of ``Engine`` (uses its symbols, feeds and clock)."""

    # Set by Engine.__init__ / StrategyData.
    symbols: tuple[str, ...]
    strategy: Any
    timeframe_ms: int
    _feed: dict[str, list[Any]]
    _feed_more: dict[str, tuple[list[Any], list[Any], list[Any], list[TimeframeSeries]]]
    _refresh_feeds: Callable[[], None]
    _series: dict[tuple[str, int], TimeframeSeries]
    _unknown_symbol: Callable[[str], str]

    def _declare_timeframes(self, declared: Mapping[str, int] | Sequence[str]) -> None:
        """Series for ``Strategy.timeframes`` (names, or names -> bars kept), every symbol."""
        items = declared.items() if isinstance(declared, Mapping) else ((t, 1) for t in declared)
        for timeframe, keep in items:
            if not (isinstance(keep, int) and keep >= 1):
                raise StrategyError(
                    f"{type(self.strategy).__name__}.timeframes[{timeframe!r}] = {keep!r}: give "
                    "the number of closed bars to keep (an int >= 1)"
                )
            for symbol in self.symbols:
                self._timeframe_series(symbol, timeframe, keep)

    def _timeframe_series(self, symbol: str, timeframe: str, keep: int = 1) -> TimeframeSeries:
        if symbol not in self._feed:
            raise StrategyError(self._unknown_symbol(symbol))
        tf_ms = self._higher_ms(timeframe)
        series = self._series.get((symbol, tf_ms))
        if series is None:
            ratio = tf_ms // self.timeframe_ms
            series = TimeframeSeries(symbol, timeframe_name(tf_ms), ratio, max(1, keep))
            self._series[(symbol, tf_ms)] = series
            self._feed_more[symbol][3].append(series)
            self._refresh_feeds()
        elif keep > series.capacity:
            if series.bars:
                raise StrategyError(
                    f"{symbol} {series.timeframe}: asked for {keep} bars but {series.capacity} are "
                    f"kept; declare `timeframes = {{{series.timeframe!r}: {keep}}}` on "
                    f"{type(self.strategy).__name__} or ask for {keep} bars in on_start"
                )
            series.grow(keep)
        return series

    def _higher_ms(self, timeframe: str) -> int:
        base = self.timeframe_ms
        if base <= 0:
            raise StrategyError(
                f"timeframe {timeframe!r}: this engine has no base timeframe (timeframe_ms=0); "
                "build it with the run's timeframe to resample higher timeframes"
            )
        try:
            check_resample(str(timeframe), timeframe_name(base))
        except ConfigError as exc:
            raise StrategyError(f"{exc}; this run's bars are {timeframe_name(base)}") from None
        return timeframe_to_ms(timeframe)

    # ------------------------------------------------------------------ what ctx reads

    def bars(self, symbol: str, timeframe: str, n: int) -> list[Bar]:
        """The last ``n`` closed ``timeframe`` bars of ``symbol``, oldest first."""
        if not isinstance(n, int) or n < 1:
            raise StrategyError(f"ctx.bars({symbol!r}, {timeframe!r}, {n!r}): n must be an int >= 1")
        series = self._timeframe_series(symbol, timeframe, n)
        kept = series.bars
        if n >= len(kept):
            return list(kept)
        return list(kept)[-n:]

    def timeframe_history(self, symbol: str, n: int, field: str, timeframe: str) -> np.ndarray:
        """``ctx.history`` of a higher timeframe: the last ``n`` closed bars' ``field``."""
        index = FIELDS.get(field)
        if index is None:
            raise StrategyError(f"history field {field!r} is unknown; use one of {', '.join(FIELDS)}")
        rows = self.bars(symbol, timeframe, n)
        dtype = np.int64 if field == "ts" else np.float64
        return np.fromiter((b[index] for b in rows), dtype=dtype, count=len(rows))

    def timeframe_indicator(self, symbol: str | None, timeframe: str, indexes: tuple[int, ...],
                            make: Callable[[], Any]) -> Any:
        """An indicator updated on every closed ``timeframe`` bar (an ``IndicatorView`` over
        every symbol when ``symbol`` is None in a multi-symbol run)."""
        from tradeloom.engine.run.strategy_data import IndicatorView

        if symbol is not None or len(self.symbols) == 1:
            handle = make()
            self._register_series(self._timeframe_series(symbol or self.symbols[0], timeframe),
                                  handle.update, indexes)
            return handle
        by_symbol = {s: make() for s in self.symbols}
        view = IndicatorView(by_symbol)
        for s, ind in by_symbol.items():
            series = self._timeframe_series(s, timeframe)
            self._register_series(series, ind.update, indexes)
            series.views.append((view, ind))
        return view

    @staticmethod
    def _register_series(series: TimeframeSeries, update: Callable[..., Any],
                         indexes: tuple[int, ...]) -> None:
        if indexes == (FIELDS["close"],):
            series.close_ups.append(update)
        elif len(indexes) == 1:
            series.single_ups.append((update, indexes[0]))
        else:
            series.multi_ups.append((update, indexes))

    def timeframe_warmup(self, handles: Mapping[tuple[Any, ...], Any]) -> int:
        """Base bars needed so every higher-timeframe indicator and kept window is full:
        ``ratio * (need + 1) - 1`` for a need of ``need`` closed bars (the extra bucket
        covers a first one the warm-up begins inside). ``handles`` are the engine's
        indicators; higher-timeframe ones are keyed with their timeframe's ms last."""
        need = 0
        for series in self._series.values():
            need = max(need, series.ratio * (series.capacity + 1) - 1)
        for key, handle in handles.items():
            if len(key) == 5:  # (name, symbol, source, params, timeframe ms)
                ratio = key[4] // self.timeframe_ms
                need = max(need, ratio * (int(handle.warmup) + 2) - 1)
        return need


__all__ = ["TimeframeData", "TimeframeSeries"]
