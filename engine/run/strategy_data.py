"""What the engine keeps for the strategy to read: streaming indicators and bar history.

``StrategyData`` is a part of ``Engine`` (a mixin, split out to keep modules small):
the per-symbol feeders it fills are what the step function updates on every bar.
Indicators come from the registry in ``indicators``; one asked for without a
symbol in a multi-symbol run is an ``IndicatorView`` (see below).
"""

from __future__ import annotations

import difflib
import math
from array import array
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from tradeloom.engine.errors import ConfigError, StrategyError
from tradeloom.engine.run.timeframe_data import TimeframeData, TimeframeSeries
from tradeloom.engine.strategy.history import FIELDS, BarHistory


class IndicatorView:
    """Per-symbol indicators behind one handle (multi-symbol runs).

    ``value`` and ``ready`` are those of the symbol whose bar was handled last (in
    ``on_bar``: the bar's symbol); ``view[symbol]`` gives one symbol's indicator.
    """

    __slots__ = ("_by_symbol", "ready", "value")

    def __init__(self, by_symbol: Mapping[str, Any]) -> None:
        self._by_symbol = dict(by_symbol)
        self.value: Any = math.nan
        self.ready = False

    def __getitem__(self, symbol: str) -> Any:
        return self._by_symbol[symbol]

    @property
    def warmup(self) -> int:
        return next(iter(self._by_symbol.values())).warmup



#: A symbol's bars below which ``StrategyData.precompute`` keeps indicators streaming.
PRECOMPUTE_MIN_BARS = 100_000


class StrategyData(TimeframeData):
    """Indicator and history bookkeeping of ``Engine`` (uses its ``symbols`` and ``_feed``);
    higher timeframes are ``TimeframeData``'s."""

    # Set by Engine.__init__.
    symbols: tuple[str, ...]
    strategy: Any
    timeframe_ms: int
    _feed: dict[str, list[Any]]
    _feed_more: dict[str, tuple[list[Any], list[Any], list[BarHistory], list[TimeframeSeries]]]
    _refresh_feeds: Callable[[], None]
    _indicators: dict[tuple[Any, ...], Any]
    _history: dict[str, BarHistory]
    _history_cap: int
    _rec_ts: Any
    _bar_in_step: bool
    _primed: bool
    _perp_symbols: frozenset[str]
    #: (symbol, stream, batch function, params) of each single-output close indicator
    #: held directly, in the order asked for (``precompute``'s candidates).
    _batch_twins: list[tuple[str, Any, Callable[..., Any], dict[str, Any]]]

    # ------------------------------------------------------------------ data for the strategy

    def _make_history(self, capacity: int) -> None:
        for symbol in self.symbols:
            hist = self._history.get(symbol)
            if hist is None or hist.capacity < capacity:
                new = BarHistory(capacity)
                self._history[symbol] = new
                slot = self._feed_more[symbol][2]
                slot.clear()
                slot.append(new)
        self._refresh_feeds()

    def history(self, symbol: str, n: int, field: str, timeframe: str | None = None) -> np.ndarray:
        if not isinstance(n, int) or n < 1:
            raise StrategyError(f"ctx.history({symbol!r}, {n!r}): n must be an int >= 1")
        if symbol not in self._feed:
            raise StrategyError(self._unknown_symbol(symbol))
        if timeframe is not None and self._is_higher(timeframe):
            return self.timeframe_history(symbol, n, field, timeframe)
        if n > self._history_cap:
            if self._bar_seen():
                raise StrategyError(
                    f"ctx.history({symbol!r}, {n}) asks for more bars than are kept "
                    f"({self._history_cap}); declare `history = {n}` on "
                    f"{type(self.strategy).__name__} or call ctx.history(..., {n}) once in on_start"
                )
            self._history_cap = n
            self._make_history(n)
        return self._history[symbol].get(n, field)

    def warmup_bars(self) -> int:
        """Bars per symbol the strategy needs before its first decision: the bar history
        kept (``Strategy.history`` or the most ``ctx.history`` asked for), for each
        indicator asked for so far its ``warmup`` + 1 (bars until its value is defined),
        and for higher timeframes enough base bars to build their bars and indicators
        (``TimeframeData.timeframe_warmup``).

        Call it after ``start`` (``on_start`` is where indicators are asked for); the live
        runner loads this many warm-up bars and primes the engine with them.
        """
        need = self._history_cap
        for key, handle in self._indicators.items():
            if len(key) == 4:  # a base-timeframe indicator
                need = max(need, int(handle.warmup) + 1)
        return max(need, self.timeframe_warmup(self._indicators))

    def _bar_seen(self) -> bool:
        return bool(self._rec_ts) or self._bar_in_step

    def _is_higher(self, timeframe: str) -> bool:
        """Whether ``timeframe`` names another timeframe than the run's bars (checked)."""
        return self._higher_ms(timeframe) != self.timeframe_ms

    def indicator(self, name: str, symbol: str | None, source: str, params: Mapping[str, Any],
                  timeframe: str | None = None) -> Any:
        from tradeloom.engine.indicators.registry import INDICATORS

        key: tuple[Any, ...] = (name, symbol, source, tuple(sorted(params.items())))
        if timeframe is not None and self._is_higher(timeframe):
            key = (*key, self._higher_ms(timeframe))
        found = self._indicators.get(key)
        if found is not None:
            return found
        spec = INDICATORS.get(name)
        if spec is None:
            close = difflib.get_close_matches(name, list(INDICATORS), n=1)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            raise StrategyError(
                f"ctx.indicator({name!r}): unknown indicator{hint} Known: {', '.join(sorted(INDICATORS))}"
            )
        inputs = tuple(spec.inputs)
        if len(inputs) == 1:
            inputs = (source,)
        elif source != "close":
            raise StrategyError(
                f"ctx.indicator({name!r}, source={source!r}): {name} reads {', '.join(inputs)}; "
                "source= applies to single-input indicators only"
            )
        if source not in FIELDS or source == "ts":
            raise StrategyError(
                f"ctx.indicator({name!r}, source={source!r}): source must be one of "
                "open, high, low, close, volume"
            )
        indexes = tuple(FIELDS[f] for f in inputs)
        if symbol is not None and symbol not in self._feed:
            raise StrategyError(self._unknown_symbol(symbol))

        def make() -> Any:
            try:
                return spec.make_stream(**params)
            except ConfigError as exc:
                raise StrategyError(f"ctx.indicator({name!r}, **{params}): {exc}") from exc

        if len(key) == 5:
            handle = self.timeframe_indicator(symbol, str(timeframe), indexes, make)
        elif symbol is not None or len(self.symbols) == 1:
            handle = make()
            self._register(symbol or self.symbols[0], handle.update, indexes)
            if indexes == (FIELDS["close"],) and spec.outputs == ("value",):
                self._batch_twins.append((symbol or self.symbols[0], handle, spec.batch, dict(params)))
        else:
            by_symbol = {s: make() for s in self.symbols}
            handle = IndicatorView(by_symbol)
            for s, ind in by_symbol.items():
                self._register(s, _view_updater(handle, ind), indexes)
        self._indicators[key] = handle
        return handle

    def precompute(self, columns: Mapping[str, Any]) -> int:
        """Compute close-input indicators' whole series up front; returns how many.

        For a backtest whose bars are all known before it starts (``feeds.KnownBars``:
        ``columns`` maps a symbol to its ``BarArrays``, and the ``k``-th bar the step gets
        for a symbol is row ``k`` of them). Each single-output indicator on the close
        that the strategy holds directly (``ctx.indicator(name, symbol, ...)``, or any
        in a one-symbol run) and that has seen no value yet gets its series from its
        batch twin (``IndicatorSpec.batch``), and the step sets ``indicator.value`` to
        the value of row ``k`` on the symbol's ``k``-th bar instead of calling
        ``update`` (no Python call per bar).

        Why it is exact: every indicator's batch function repeats its stream's
        arithmetic operation by operation (bit for bit, holes and resets included,
        ``tests/property/test_indicators.py``), and a single-output stream's ``value``
        is what its last ``update`` returned; row ``k`` depends on rows ``<= k`` only
        (the batch kernels are one forward pass), so nothing is looked ahead. The
        stream's own running state is not advanced: it is the engine's to feed, and
        only its ``value`` (and ``ready``, which reads it) is read.

        Not applied to: symbols with fewer than ``PRECOMPUTE_MIN_BARS`` rows (the batch
        kernel's first call in a process costs more than it saves there), perpetuals
        (their bars take ``_perp_bar``), indicators asked for without a symbol in a
        multi-symbol run (an ``IndicatorView``), indicators asked for later in the run,
        and any run that has primed or stepped a bar (the streams hold state then).
        """
        if self._primed or self._bar_seen():
            return 0
        done = 0
        for symbol, handle, batch, params in self._batch_twins:
            arrays = columns.get(symbol)
            if arrays is None or symbol in self._perp_symbols or len(arrays.close) < PRECOMPUTE_MIN_BARS:
                continue
            feed = self._feed[symbol]
            update = handle.update
            if update not in feed[0]:
                continue
            series = np.asarray(batch(arrays.close, **params), dtype=np.float64)
            feed[0].remove(update)
            # ``array`` iteration gives the Python floats ``tolist()`` would, 8 bytes each;
            # filled from the series' own buffer (no intermediate ``bytes`` copy).
            values = array("d")
            values.frombytes(memoryview(np.ascontiguousarray(series)).cast("B"))
            feed[2].append((handle, iter(values).__next__))
            done += 1
        return done

    def _register(self, symbol: str, update: Callable[..., Any], indexes: tuple[int, ...]) -> None:
        ups, ups_n, _, _ = self._feed_more[symbol]
        if indexes == (FIELDS["close"],):
            self._feed[symbol][0].append(update)
        elif len(indexes) == 1:
            ups.append((update, indexes[0]))
        else:
            ups_n.append((update, indexes))
        self._refresh_feeds()

    def _unknown_symbol(self, symbol: str) -> str:
        return f"symbol {symbol!r} is not in this run's symbols {list(self.symbols)}"


def _view_updater(view: IndicatorView, ind: Any) -> Callable[..., None]:
    update = ind.update

    def run(*xs: float) -> None:
        view.value = update(*xs)
        view.ready = ind.ready

    return run
