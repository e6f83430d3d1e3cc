"""The one step function. Backtests push recorded events through it; the live
runner pushes exchange events through the very same ``Engine.step``.

One bar event (delivered at its close ``bar.close_ts``):

1. if time advanced: timers due at the previous step fire, the previous step's
   equity is recorded, then timers due before this bar's close fire;
2. the clock becomes ``close_ts``;
3. ``broker.on_bar(bar)`` matches orders placed while handling earlier events
   (``created_ts <= bar.ts``), the fills are applied to the portfolio, then
   ``on_fill`` runs for each fill and ``on_order`` for each order update;
4. the symbol's mark is set; a risk engine's ``on_bar`` hook (a ``RiskHooks`` gate;
   a bare ``RiskGate`` has none) runs and its requested actions (cancel all,
   flatten) execute; streaming indicators and the history take the bar;
5. ``strategy.on_bar(ctx, bar)``; its orders get ``created_ts = close_ts``, the
   next bar's open time, so they can match from the next bar on, never this one.
   Order updates caused by a callback reach ``on_order`` right after it returns.

Other events: trade ticks match at the tick (``broker.on_trade``); ``FillEvent`` and
``OrderEvent`` (a live exchange's reports) are booked and dispatched the same way.
Order entry lives in ``order_entry``, indicators and history in ``strategy_data``.
The engine calls its broker, risk gate and model book only through the ports of
``engine.ports`` (``Broker``, ``RiskGate``/``RiskHooks``, ``ModelSource``).

Equity is recorded once per distinct close time, *after* every event of that time
(all symbols' bars, timers due then): the engine records step ``T`` when the
first event after ``T`` arrives, or at ``finish()``. No look-ahead is needed to
know that a time step is complete, which is also what the live runner can do.

End of run (``finish``): timers due at the last step fire, ``on_stop`` runs, open
orders expire (``on_order`` sees them), the last step is recorded. Open positions
stay open, marked to the last close; they are *not* force-sold, because selling at
the last bar's close would assume a fill nobody could have had (see
``notes/why-engines-disagree.md`` point 5). Timers later than the last event do
not fire.
"""

from __future__ import annotations

import heapq
import itertools
from array import array
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from tradeloom.engine.accounting.portfolio import Portfolio
from tradeloom.engine.errors import ConfigError, DataError, StrategyError
from tradeloom.engine.market import MarketSpec
from tradeloom.engine.orders import Bar, Fill, Order, OrderStatus
from tradeloom.engine.ports import Broker, ModelSource, RiskGate, RiskHooks
from tradeloom.engine.run.events import (
    FillEvent,
    FundingEvent,
    OrderEvent,
    QuoteTick,
    Timer,
    TradeTick,
)
from tradeloom.engine.run.order_entry import OrderEntry
from tradeloom.engine.run.perp_step import PerpSteps
from tradeloom.engine.run.strategy_data import IndicatorView, StrategyData
from tradeloom.engine.run.timeframe_data import TimeframeSeries
from tradeloom.engine.strategy.base import Strategy, overrides
from tradeloom.engine.strategy.context import Context
from tradeloom.engine.strategy.history import BarHistory

_OPEN = OrderStatus.OPEN
_PARTIAL = OrderStatus.PARTIALLY_FILLED

#: More rounds of order updates than this inside one event means a strategy
#: re-submits in reaction to its own updates forever.
MAX_UPDATE_ROUNDS = 1_000

#: The float columns of ``Engine.recorded_block()``'s block, in row order.
EQUITY_FLOAT_COLUMNS = ("equity", "cash", "exposure", "fees_cum")

#: Equity rows kept as Python values before they move into a numpy chunk. Small on
#: purpose: the values a flush converts are objects made step after step (the exposure
#: floats, the close times), scattered through memory once thousands of steps lie
#: between them; 4,096 rows of them (about 128 KiB with their list) are still in the
#: CPU's cache when they are converted, which made the flushes of a 1M-bar run 2.5x
#: cheaper than 65,536-row chunks (85 -> 33 ms; 2,048 to 8,192 rows measure alike).
REC_CHUNK = 4_096


class _Column:
    """An append-only int64 or float64 column of the equity curve.

    The step appends to ``buf``, a plain list: ``list.append`` costs a third of
    ``array.append`` (which parses its argument with a format string), and the step
    appends two values per time step. Every ``REC_CHUNK`` rows the engine calls
    ``flush`` and the values move into a numpy chunk, so a long run still keeps
    8 bytes per value and the garbage collector never walks a long list.
    ``len()`` counts every row.
    """

    __slots__ = ("_chunks", "_dtype", "_flushed", "buf")

    def __init__(self, dtype: type) -> None:
        self._dtype = dtype
        self._chunks: list[np.ndarray] = []
        self._flushed = 0
        self.buf: list[Any] = []  # cleared in place: bound ``buf.append`` stays valid

    def __len__(self) -> int:
        return self._flushed + len(self.buf)

    def flush(self) -> None:
        if self.buf:
            self._chunks.append(np.array(self.buf, dtype=self._dtype))
            self._flushed += len(self.buf)
            self.buf.clear()

    def to_numpy(self, out: np.ndarray | None = None) -> np.ndarray:
        """Every row so far, as a new array (or written into ``out``, ``len(self)`` long)."""
        parts = self._chunks + ([np.array(self.buf, dtype=self._dtype)] if self.buf else [])
        if out is None:
            return np.concatenate(parts) if parts else np.empty(0, dtype=self._dtype)
        if parts:
            np.concatenate(parts, out=out)
        return out


class Engine(StrategyData, OrderEntry, PerpSteps):
    """Drives one strategy against one broker and one portfolio, one event at a time.

    ``symbols`` is the run's universe (bars of other symbols are a ``DataError``).
    Bars sharing a close time must arrive ordered by symbol name (the feeds do it).

    >>> from tradeloom.engine.market import MarketSpec
    >>> from tradeloom.engine.sim.broker import SimulatedBroker
    >>> class BuyOnce(Strategy):
    ...     def on_bar(self, ctx, bar):
    ...         if not ctx.position(bar.symbol) and not ctx.open_orders():
    ...             ctx.buy(bar.symbol, 1.0)
    >>> pf = Portfolio(1000.0)
    >>> engine = Engine(BuyOnce(), SimulatedBroker({"BTC/USDT": MarketSpec("BTC/USDT")}, pf), pf,
    ...                 symbols=["BTC/USDT"], timeframe_ms=60_000)
    >>> engine.start(0)
    >>> for i, px in enumerate([100.0, 102.0]):
    ...     engine.step(Bar("BTC/USDT", i * 60_000, (i + 1) * 60_000, px, px, px, px, 1.0))
    >>> engine.finish()
    >>> [(f.price, f.amount) for f in engine.fills], engine.recorded()["equity"].tolist()
    ([(102.0, 1.0)], [1000.0, 999.898])
    """

    def __init__(
        self,
        strategy: Strategy,
        broker: Broker,
        portfolio: Portfolio,
        *,
        symbols: Sequence[str],
        timeframe_ms: int = 0,
        markets: Mapping[str, MarketSpec] | None = None,
        risk: RiskGate | None = None,
        seed: int = 0,
        id_source: Callable[[], int] | None = None,
        models: ModelSource | None = None,
    ) -> None:
        if not symbols:
            raise ConfigError("Engine needs the run's symbols, e.g. symbols=['BTC/USDT']")
        if len(set(symbols)) != len(symbols):
            raise ConfigError(f"symbols has duplicates: {list(symbols)}")
        self.strategy = strategy
        self._strategy_id = strategy.id
        self.broker = broker
        self.portfolio = portfolio
        # The portfolio's step view: its mark table, held positions and hidden holdings
        # (dust, fee-only assets: in equity, not in exposure; see StepView).
        self._marks, self._held, self._hidden = portfolio.step_view()
        self.symbols = tuple(symbols)
        self.timeframe_ms = int(timeframe_ms)
        self.markets = dict(markets or {})
        self.seed = int(seed)
        self._risk = risk
        self.risk = risk
        # Model book behind ctx.confidence (the ``ModelSource`` port); fed each bar once
        # a strategy asked for a model.
        self.models = models
        self._models_on_bar: Callable[[Bar], None] | None = None
        self._next_id = id_source if id_source is not None else itertools.count(1).__next__
        self.ctx = Context(self, np.random.default_rng(self.seed))
        # Results.
        self.orders: list[Order] = []
        self.fills: list[Fill] = []
        self.risk_decisions: list[dict[str, Any]] = []
        self.events: list[dict[str, Any]] = []
        #: Called with each ``dust`` event as it happens (the live runner journals it).
        self.event_sink: Callable[[dict[str, Any]], None] | None = None
        # Equity columns (close ts, cash, exposure, cumulative fees), one row per time step.
        # The equity curve: close ts and exposure appended once per time step; cash and
        # cumulative fees change only on fills, so only their changes are kept, as
        # (row the change belongs to, cash, fees_cum), and filled forward at the end.
        # ``_Column``s: list appends on the hot path, 8 bytes per value once flushed.
        self._rec_ts = _Column(np.int64)
        self._rec_exposure = _Column(np.float64)
        # Cash/fees changes as three columns (row, cash, fees_cum): no tuple per fill for
        # the garbage collector to track and scan.
        self._chg_row = array("q")
        self._chg_cash = array("d")
        self._chg_fees = array("d")
        # The listed position's amount at each of those changes (one symbol's run whose
        # exposure is derived from its bars, ``exposure_from_bars``; else unread).
        self._chg_held = array("d")
        #: ``(close_ts, close)`` of the one symbol's bars when the exposure is derived from
        #: them (``exposure_from_bars``) instead of recorded step by step; else None.
        self._bar_closes: tuple[np.ndarray, np.ndarray] | None = None
        self._held_at_start = 0.0
        # Value of hidden holdings (dust, fee-only assets) per row, for the rows that had
        # any: equity = cash + exposure + this.
        self._hid_row = array("q")
        self._hid_val = array("d")
        # Time and state.
        self._step_ts = -1
        self._bar_in_step = False
        self._timers: list[tuple[int, int, str, int]] = []
        self._timer_seq = 0
        self._live_orders = False
        self._working_ids: dict[int, None] = {}
        self._drain = broker.drain_updates
        # The broker's bar fast path (``engine.ports.BarFastPath``), if it offers one. A
        # broker offering it changes order state only inside its own calls: once drained,
        # a second drain with no callback run in between is certainly empty.
        self._fast_path = broker.bar_fast_path()
        self._drain_sync = self._fast_path is not None
        self._pending_updates = self._fast_path.updates if self._fast_path is not None else None
        self._dirty = False
        self._local_updates: list[Order] = []
        self._started = False
        self._finished = False
        # A stateful risk layer's hooks (``RiskHooks``); a bare ``RiskGate`` has none.
        hooks = risk if isinstance(risk, RiskHooks) else None
        self._risk_hooks = hooks
        self._risk_on_bar = hooks.on_bar if hooks is not None else None
        self._risk_on_fill = hooks.on_fill if hooks is not None else None
        self._risk_pending = hooks.pending_actions if hooks is not None else None
        # Per-symbol feeders. ``_feed[symbol]`` is ``[close-input indicator updates, extra,
        # precomputed]``, all the step reads per bar: ``extra`` is None while close-input
        # indicators are all there is to feed (the lean path), else ``_bar_extras``, which
        # feeds everything in order; ``precomputed`` holds ``(indicator, next value)`` pairs
        # of indicators whose series was computed up front (``StrategyData.precompute``). ``_feed_more[symbol]``: (other single-input updates with their field index,
        # multi-input updates with their indexes, [history], [higher-timeframe series]).
        self._feed: dict[str, list[Any]] = {s: [[], None, []] for s in self.symbols}
        self._feed_more: dict[
            str, tuple[list[Any], list[Any], list[BarHistory], list[TimeframeSeries]]
        ] = {s: ([], [], [], []) for s in self.symbols}
        self._indicators: dict[tuple[Any, ...], Any] = {}
        self._batch_twins: list[tuple[str, Any, Callable[..., Any], dict[str, Any]]] = []
        self._history: dict[str, BarHistory] = {}
        self._series: dict[tuple[str, int], TimeframeSeries] = {}
        # Perpetual symbols: their bars go through ``_perp_bar`` (engine.run.perp_step).
        self._perp_symbols = frozenset(s for s in self.symbols if portfolio.is_perp(s))
        self.funding_rates: dict[str, float] = {}
        self._margin_seen = 0.0
        self._primed = False
        self._history_cap = int(strategy.history or 0)
        if self._history_cap:
            self._make_history(self._history_cap)
        if strategy.timeframes:
            self._declare_timeframes(strategy.timeframes)
        self._refresh_feeds()
        self._on_fill = strategy.on_fill if overrides(strategy, "on_fill") else None
        self._on_order = strategy.on_order if overrides(strategy, "on_order") else None
        self._on_trade = strategy.on_trade if overrides(strategy, "on_trade") else None
        self._on_quote = strategy.on_quote if overrides(strategy, "on_quote") else None
        self._dispatch_on_submit = self._pending_updates is None or self._on_order is not None
        #: ``step(event)``: process exactly one event. The backtest runner and the
        #: live runner both call this, one event at a time.
        self.step: Callable[[Any], None] = self._build_step()

    # ------------------------------------------------------------------ lifecycle

    def start(self, now_ms: int) -> None:
        """Set the clock to ``now_ms`` (the first bar's open in backtests) and run ``on_start``."""
        if self._started:
            raise StrategyError("Engine.start() was called twice; build a new Engine per run")
        self._started = True
        if self._risk_hooks is not None:
            # The broker's fee model: sizing plans the fees the broker will charge.
            self._risk_hooks.bind(markets=self.markets, symbols=self.symbols, fees=self.broker.fees)
        self.ctx.now = int(now_ms)
        self._step_ts = int(now_ms)
        self.strategy.on_start(self.ctx)
        if self._dirty:
            self._dispatch_updates()

    def update_markets(self, specs: Mapping[str, MarketSpec]) -> None:
        """New market rules for some symbols (a live refresh, or its replay): order entry,
        risk sizing, dust detection and the broker use them for orders from now on;
        orders already working keep the rules they were accepted under, as on the exchange."""
        self.markets.update(specs)
        self.portfolio.update_markets(specs)
        self.broker.update_markets(specs)
        if self._risk_hooks is not None:
            self._risk_hooks.bind(markets=specs)

    def finish(self) -> None:
        """End of run: last timers, ``on_stop``, expire open orders, record the last step."""
        if self._finished:
            return
        self._finished = True
        ctx = self.ctx
        last = self._step_ts
        if self._timers:
            self._fire_timers(last, inclusive=True)
        ctx.now = last
        self.strategy.on_stop(ctx)
        self._dispatch_updates()
        self.broker.expire_all(last)
        self._dispatch_updates()
        if self._bar_in_step:
            self._record(last)
            self._bar_in_step = False

    # ------------------------------------------------------------------ the step

    def _build_step(self) -> Callable[[Any], None]:
        """The step function, as a closure over everything that is fixed for the run.

        Bars take the inline path below (one Python call per bar plus the broker,
        indicator and strategy calls); everything else goes to ``_step_other``.
        Mutable run state (clock, flags, timers) is read from the engine each time.
        """
        engine = self
        ctx = self.ctx
        pf = self.portfolio
        marks, held, hidden = self._marks, self._held, self._hidden
        ts_column = self._rec_ts
        hid_row = self._hid_row.append
        hid_val = self._hid_val.append
        position_value = pf.position_value
        broker_on_bar = self.broker.on_bar
        # The broker's declared fast path (``engine.ports.BarFastPath``): a bar of a symbol
        # with no working order only records its close, done here without a call.
        fast = self._fast_path
        working, broker_last = (fast.working, fast.last) if fast is not None else ({}, None)
        feeds = self._feed
        on_bar = self.strategy.on_bar
        ts_rows = self._rec_ts.buf
        rec_ts = ts_rows.append
        rec_exposure = self._rec_exposure.buf.append
        flush_rows = self._flush_rows
        advance = self._advance
        after_broker = self._after_broker
        apply_fills = self._apply_fills
        dispatch = self._dispatch_updates
        step_other = self._step_other
        bar_type = Bar
        # Rows the fast path below may still record before it flushes (a countdown is
        # cheaper per step than ``len(ts_rows)``; ``_record`` checks the length itself).
        rows_left = REC_CHUNK - len(ts_rows)
        timers = self._timers  # one list for the run (cancel_timer edits it in place)
        derived = self._bar_closes is not None  # exposure derived from the bars at the end

        def step(event: Any) -> None:
            """Process exactly one event (events arrive in (time, kind, symbol) order)."""
            nonlocal rows_left
            if type(event) is bar_type:
                ts = event[2]  # close_ts; tuple indexing is the cheapest NamedTuple read
                prev = engine._step_ts
                in_step = False  # whether _bar_in_step is known to be True already
                if ts != prev:
                    if ts < prev or timers or not engine._bar_in_step:
                        advance(ts)
                    else:  # _advance's fast path: no timers due, record the finished step
                        in_step = True  # and it stays so: the new step has a bar too
                        rec_ts(prev)
                        if derived:
                            pass  # exposure_from_bars: computed from the bars at the end
                        elif not held:
                            rec_exposure(0.0)
                        elif len(held) == 1:
                            p = held[0]
                            rec_exposure(p.amount * marks[p.symbol])
                        else:
                            rec_exposure(position_value())
                        if hidden:  # dust or a fee asset held: its value, for equity
                            hid_row(ts_column._flushed + len(ts_rows) - 1)
                            if len(hidden) == 1:
                                h = hidden[0]
                                hid_val(h.amount * marks[h.symbol])
                            else:
                                hid_val(pf.hidden_value())
                        rows_left -= 1
                        if rows_left <= 0:
                            flush_rows()
                            rows_left = REC_CHUNK
                        engine._step_ts = ts
                ctx.now = ts
                symbol = event[0]
                close = event[6]
                if broker_last is None or symbol in working:
                    fills = broker_on_bar(event)
                    if fills:  # _after_broker(fills), inlined
                        apply_fills(fills)
                        dispatch()
                    elif engine._live_orders:
                        dispatch()
                else:  # what broker.on_bar does for a symbol with no working order
                    broker_last[symbol] = close
                    if engine._live_orders:
                        after_broker(())
                marks[symbol] = close
                try:
                    close_ups, extra, pre = feeds[symbol]
                except KeyError:
                    raise DataError(
                        f"bar for {symbol} at {event[1]} but the run's symbols are "
                        f"{list(engine.symbols)}; add it to symbols or filter the feed"
                    ) from None
                if extra is None:  # the lean path: close-input indicators only
                    if close_ups:  # (a test is cheaper than looping over an empty list)
                        for update in close_ups:
                            update(close)
                    if pre:  # precomputed: the value of this bar, no call
                        for ind, value in pre:
                            ind.value = value()
                    if not in_step:
                        engine._bar_in_step = True
                else:  # risk on_bar, every indicator, history, model features (_bar_extras)
                    extra(event, close_ups)
                on_bar(ctx, event)
                if engine._dirty:
                    dispatch()
                return
            step_other(event)

        return step

    def _bar_extras(self, bar: Bar, close_ups: list[Any]) -> None:
        """A bar's data work beyond close-input indicators, in the step's order: the risk
        engine's ``on_bar`` and the actions it asks for, every indicator, the history,
        then online model features (which see the bar before ``on_bar``)."""
        risk_on_bar = self._risk_on_bar
        if risk_on_bar is not None:
            risk_on_bar(bar, self.ctx)
            self._run_risk_actions()
        close = bar[6]
        for update in close_ups:
            update(close)
        for ind, value in self._feed[bar[0]][2]:
            ind.value = value()
        self._feed_other_fields(bar)
        self._bar_in_step = True
        if self._models_on_bar is not None:
            self._models_on_bar(bar)

    def _refresh_feeds(self) -> None:
        """Point each symbol's feeder at ``_bar_extras`` when it has more to feed than
        close-input indicators (called whenever indicators, history, risk or models change)."""
        everywhere = self._risk_on_bar is not None or self._models_on_bar is not None
        for symbol, feed in self._feed.items():
            ups, ups_n, hist, series = self._feed_more[symbol]
            feed[1] = self._bar_extras if everywhere or ups or ups_n or hist or series else None
            if symbol in self._perp_symbols:
                feed[1] = self._perp_bar(feed[1])

    def prime(self, bar: Bar) -> None:
        """Apply one warm-up bar as data only, as the step does: the symbol's mark, the
        risk engine's ``on_bar`` (clock at the bar's close; the actions it asks for are
        dropped, there is nothing to act on before trading starts), every indicator and
        the history, and the models the strategy loaded in ``on_start`` (their online
        features). The broker and the strategy never see it and no equity row is
        recorded: no decision is taken on bars that closed before the run started.
        """
        feed = self._feed.get(bar.symbol)
        if feed is None:
            raise DataError(
                f"warm-up bar for {bar.symbol} but the run's symbols are {list(self.symbols)}"
            )
        self._primed = True  # indicators have state now: nothing can be precomputed
        self.portfolio.set_mark(bar.symbol, bar.close)
        risk_on_bar = self._risk_on_bar
        if risk_on_bar is not None:
            ctx = self.ctx
            saved = ctx.now
            ctx.now = bar.close_ts
            risk_on_bar(bar, ctx)
            ctx.now = saved
            if self._risk_pending is not None:
                self._risk_pending()
        close = bar.close
        for update in feed[0]:
            update(close)
        self._feed_other_fields(bar)
        if self._models_on_bar is not None:
            self._models_on_bar(bar)  # the models' online features warm up too

    def _feed_other_fields(self, bar: Bar) -> None:
        """Indicators on other fields than the close, then the history, then the higher
        timeframes (whose bars and indicators see the base bar's data first), for ``bar``'s
        symbol."""
        ups, ups_n, hist, series = self._feed_more[bar[0]]
        for update, index in ups:
            update(bar[index])
        for update, indexes in ups_n:
            update(*[bar[i] for i in indexes])
        if hist:
            hist[0].append(bar)
        for one in series:
            one.feed(bar)

    def _step_other(self, event: Any) -> None:
        kind = type(event)
        if kind is TradeTick or kind is QuoteTick:
            ts = event.ts
            if ts != self._step_ts:
                self._advance(ts)
            self.ctx.now = ts
            if kind is TradeTick:
                fills = self.broker.on_trade(event.symbol, ts, event.price, event.amount)
                if fills or self._live_orders:
                    self._after_broker(fills)
                self.portfolio.set_mark(event.symbol, event.price)
                if self._on_trade is not None:
                    self._on_trade(self.ctx, event)
            else:
                if self._on_quote is not None:
                    self._on_quote(self.ctx, event)
        elif kind is FillEvent or kind is OrderEvent:
            ts = event.ts
            if ts != self._step_ts:
                self._advance(ts)
            self.ctx.now = ts
            if kind is FillEvent:
                self._apply_fills([event.fill])
            elif self._on_order is not None:
                self._on_order(self.ctx, event.order)
        elif kind is FundingEvent:
            self._on_funding(event)
        elif kind is Timer:
            raise TypeError(
                "timers are owned by the engine: set them with ctx.set_timer and move the "
                "clock with Engine.advance_to(ts)"
            )
        else:
            raise TypeError(f"Engine.step got {kind.__name__}; expected Bar, TradeTick, QuoteTick, FillEvent, OrderEvent or FundingEvent")
        if self._dirty:
            self._dispatch_updates()

    def advance_to(self, ts: int) -> None:
        """Move the clock to ``ts`` without data (live heartbeat): fires due timers."""
        if ts != self._step_ts:
            self._advance(int(ts))
        self.ctx.now = self._step_ts

    def _advance(self, ts: int) -> None:
        prev = self._step_ts
        if ts < prev:
            raise DataError(
                f"event at {ts} arrived after an event at {prev}: feeds must be ordered by "
                "time (bars by close time); sort the input or check the store"
            )
        timers = self._timers
        if timers and timers[0][0] <= prev:
            self._fire_timers(prev, inclusive=True)
        if self._bar_in_step:
            self._record(prev)
            self._bar_in_step = False
        if timers and timers[0][0] < ts:
            self._fire_timers(ts, inclusive=False)
        self._step_ts = ts

    def _record(self, ts: int) -> None:
        pf = self.portfolio
        self._rec_ts.buf.append(ts)
        if self._bar_closes is None:
            self._rec_exposure.buf.append(pf.position_value() if self._held else 0.0)
        if self._hidden:
            self._record_hidden()
        if len(self._rec_ts.buf) >= REC_CHUNK:
            self._flush_rows()

    def _record_hidden(self) -> None:
        """The row just recorded holds dust or fee-only assets: keep their value."""
        self._hid_row.append(len(self._rec_ts) - 1)
        self._hid_val.append(self.portfolio.hidden_value())

    def _flush_rows(self) -> None:
        self._rec_ts.flush()
        self._rec_exposure.flush()

    def recorded(self) -> dict[str, np.ndarray]:
        """The equity curve so far: ts, equity, cash, exposure, fees_cum (one row per step).
        ``exposure`` is the value of positions; equity also counts dust and fee-only
        holdings (``Portfolio.equity``).

        The four float columns are rows of one ``(4, n)`` block (see
        :meth:`recorded_block`).
        """
        ts, block = self.recorded_block()
        return {"ts": ts, **dict(zip(EQUITY_FLOAT_COLUMNS, block))}

    def recorded_block(self) -> tuple[np.ndarray, np.ndarray]:
        """``(ts, block)``: the close times and one new C-contiguous float64 ``(4, n)``
        array whose rows are equity, cash, exposure and fees_cum.

        Every column is written straight into its row: no full-length temporaries
        (at 1M rows each one costs page faults), and the block can become the equity
        frame's single float block as it is.
        """
        ts = self._rec_ts.to_numpy()
        n = ts.shape[0]
        block = np.empty((len(EQUITY_FLOAT_COLUMNS), n), dtype=np.float64)
        equity, cash, exposure, fees = block
        rows, last_vals = self._last_changes(n)
        if self._bar_closes is None:
            self._rec_exposure.to_numpy(out=exposure)
        else:
            self._derived_exposure(ts, exposure, rows, last_vals(self._chg_held))
        self._fill_forward(cash, rows, last_vals(self._chg_cash), self.portfolio.initial_cash)
        self._fill_forward(fees, rows, last_vals(self._chg_fees), 0.0)
        np.add(cash, exposure, out=equity)  # the same float operation as Portfolio.equity()
        if self._hid_row:  # rows holding dust or fee-only assets: (cash + exposure) + them
            rows = np.frombuffer(self._hid_row, dtype=np.int64)
            equity[rows] += np.frombuffer(self._hid_val, dtype=np.float64)
        return ts, block

    def exposure_from_bars(self, columns: Mapping[str, Any], timeframe_ms: int) -> bool:
        """Derive the equity curve's exposure from the bars at the end of the run instead
        of recording it step by step; returns whether it applies.

        For a backtest whose bars are all known up front (``feeds.KnownBars``: ``columns``
        maps the symbol to its ``BarArrays``) and that steps every one of them
        (``engine.run.backtest.drive``), with one spot symbol and nothing stepped yet.
        Then each step holds exactly one bar (open times strictly increase), so row ``k``
        of the curve is bar ``k``; the only position that can be listed is the symbol's,
        its amount changes only when fills are booked (``_apply_fills`` logs it with the
        cash), and its mark at the end of step ``k`` is bar ``k``'s close (marks move with
        bars only: no trades, quotes or mark prices reach a backtest of bars). So the
        exposure the step would record, ``amount * mark`` (``0.0`` when flat, also where a
        bar has no close), is ``amount[k] * close[k]``: the same multiplication of the same
        floats, done once in numpy. ``_derived_exposure`` checks that the rows are the bars' close times.
        """
        if (self._rec_ts or self._bar_seen() or len(columns) != 1 or len(self.symbols) != 1
                or self._perp_symbols):
            return False
        ((symbol, arrays),) = columns.items()
        if symbol not in self._feed:
            return False
        self._bar_closes = (arrays.ts + timeframe_ms, arrays.close)
        held = self._held
        self._held_at_start = held[0].amount if held else 0.0
        self.step = self._build_step()
        return True

    def _derived_exposure(self, ts: np.ndarray, out: np.ndarray, rows: np.ndarray,
                          amounts: np.ndarray) -> None:
        """``exposure_from_bars``' exposure: each row's listed amount times its bar's close."""
        close_ts, close = self._bar_closes  # type: ignore[misc]
        n = ts.shape[0]
        if n > close_ts.shape[0] or not np.array_equal(ts, close_ts[:n]):
            raise RuntimeError(
                "exposure_from_bars: the recorded steps are not the bars' close times; "
                "every bar of the run must be stepped, in order (engine.run.backtest.drive)")
        self._fill_forward(out, rows, amounts, self._held_at_start)
        flat = out == 0.0  # nothing listed: 0.0 as recorded, even at a bar without a close
        np.multiply(out, close[:n], out=out)
        out[flat] = 0.0

    def _last_changes(self, n: int) -> tuple[np.ndarray, Callable[[array], np.ndarray]]:
        """The rows whose cash/fees changed (the last change of each row wins; changes
        after the last recorded row touch no row) and a function picking those changes'
        values out of a change column."""
        rows = np.frombuffer(self._chg_row, dtype=np.int64)
        last = np.ones(rows.shape[0], dtype=bool)  # the last change of each row wins
        last[:-1] = rows[1:] != rows[:-1]
        last &= rows < n  # changes after the last recorded row touch no row
        return rows[last], lambda values: np.frombuffer(values, dtype=np.float64)[last]

    @staticmethod
    def _fill_forward(out: np.ndarray, rows: np.ndarray, vals: np.ndarray, initial: float) -> None:
        """``out[i]`` = the last change made at or before row ``i`` (``initial`` before any).

        Few changes (the usual case): one slice fill per change, written in place.
        Many: one ``np.repeat`` of each row's last change over the rows it holds for.
        """
        n = out.shape[0]
        k = rows.shape[0]
        if k * 64 <= n:
            start = 0
            value = initial
            for row, val in zip(rows.tolist(), vals.tolist()):
                out[start:row] = value
                start, value = row, val
            out[start:n] = value
        else:
            bounds = np.concatenate([[0], rows, [n]])
            out[:] = np.repeat(np.concatenate([[initial], vals]), np.diff(bounds))

    # ------------------------------------------------------------------ broker results

    def _after_broker(self, fills: Sequence[Fill]) -> None:
        if fills:
            self._apply_fills(fills)
        self._dispatch_updates()

    def _apply_fills(self, fills: Sequence[Fill]) -> None:
        # All fills of the event are booked before any callback sees the portfolio.
        pf = self.portfolio
        apply = pf.apply_fill
        for fill in fills:
            apply(fill)
        first = len(self.fills)
        self.fills.extend(fills)
        if pf.dust_reports:
            self._report_dust(first)
        self._note_cash()
        risk_on_fill = self._risk_on_fill
        if risk_on_fill is not None:
            for fill in fills:
                risk_on_fill(fill, self.ctx)
            self._run_risk_actions()
        on_fill = self._on_fill
        if on_fill is not None:
            ctx = self.ctx
            for fill in fills:
                on_fill(ctx, fill)
        self._dirty = True

    def _note_cash(self) -> None:
        """Cash, fees (and the listed amount, ``exposure_from_bars``) changed, by fills or
        funding: the change belongs to the step being built (row ``len(ts)``)."""
        pf = self.portfolio
        self._chg_row.append(len(self._rec_ts))
        self._chg_cash.append(pf.cash)
        self._chg_fees.append(pf.fees_paid)
        held = self._held
        self._chg_held.append(held[0].amount if held else 0.0)

    def _report_dust(self, first: int) -> None:
        """One ``dust`` event per exit that left an unsellable remainder: the portfolio
        found the candidate, the order confirms it asked to sell the whole holding (a
        deliberate partial reduce is not an exit). In the results' events and, live, the
        journal (``event_sink``)."""
        pf = self.portfolio
        fills = self.fills
        reports = pf.dust_reports
        last = {fill.symbol: i for i, (fill, _) in enumerate(reports)}
        for i, (fill, amount) in enumerate(reports):
            if last[fill.symbol] != i or not self._asked_for_all(fill, amount):
                continue  # a later fill of the batch left the symbol's final remainder
            amount = pf.set_dust(fill.symbol)
            index = next(i for i in range(first, len(fills)) if fills[i] is fill)
            base = fill.symbol.partition("/")[0]
            event = {
                "ts": int(self.ctx.now), "kind": "dust", "symbol": fill.symbol,
                "amount": float(amount), "order_id": int(fill.order_id), "fill": index,
                "message": (
                    f"{fill.symbol}: {amount:.10g} {base} left after order {fill.order_id} is "
                    "under the market's minimum amount/notional and cannot be sold; it stays "
                    "in the balance and the strategy sees a flat position"),
            }
            self.events.append(event)
            if self.event_sink is not None:
                self.event_sink(event)
        pf.dust_reports.clear()

    def _asked_for_all(self, fill: Fill, left: float) -> bool:
        """True when the order of ``fill`` was an exit: reduce-only (bracket legs, risk
        flattening) or asking to sell (at least) the sellable part of what was held when
        it started (``left`` plus what its fills took). Orders are searched from the
        newest (dust candidates are rare)."""
        order = next((o for o in reversed(self.orders) if o.id == fill.order_id), None)
        spec = self.markets.get(fill.symbol)
        if order is None or spec is None or order.reduce_only:
            return True  # an order this engine did not place (adopted live) is an exit too
        taken = order.filled
        if fill.base_fee():  # the fee left the holding too (give/base fee sides)
            for f in reversed(self.fills):
                if f.ts < order.created_ts:
                    break  # earlier than the order: none of its fills
                if f.order_id == order.id:
                    taken += f.base_fee()
        held = left + taken
        return order.amount >= spec.round_amount(held) * (1.0 - 1e-9)

    def _dispatch_updates(self) -> None:
        """Hand order updates to ``on_order`` until none are left; track working orders.

        Whether any order is working (``_live_orders``) is the broker's own working map
        when it offers the bar fast path, else the set of working order ids kept from the
        updates themselves, so knowing whether the broker must be consulted on the next
        bar costs nothing per bar and nothing per past order.
        """
        pending = self._pending_updates
        if pending is not None and self._on_order is None and not self._local_updates:
            # The broker's updates drained in place (``BarFastPath.updates``), one round:
            # with no ``on_order`` nothing runs after the drain, so a second round of the
            # loop below would find nothing (the broker changes orders only when called).
            # Its working orders are its ``BarFastPath.working``: no ids to track here.
            if pending:
                pending.clear()
            self._dirty = False
            self._live_orders = bool(self._fast_path.working)  # type: ignore[union-attr]
            return
        working = self._working_ids
        drain = self._drain
        for _ in range(MAX_UPDATE_ROUNDS):
            self._dirty = False
            updates: Sequence[Order] = self._local_updates
            if updates:
                self._local_updates = []
            drained = drain()
            if drained:
                updates = [*updates, *drained] if updates else drained
            if not updates:
                self._live_orders = self._any_working(working)
                return
            for order in updates:
                status = order.status
                if status is _OPEN or status is _PARTIAL:
                    working[order.id] = None
                else:
                    working.pop(order.id, None)
            on_order = self._on_order
            if on_order is not None:
                ctx = self.ctx
                for order in updates:
                    on_order(ctx, order)
            elif self._drain_sync and not self._dirty and not self._local_updates:
                # Nothing ran since the drain: the next round would find no updates.
                self._live_orders = self._any_working(working)
                return
        raise StrategyError(
            f"{self.strategy.id}: more than {MAX_UPDATE_ROUNDS} rounds of order updates at "
            f"{self.ctx.now}; on_order/on_fill keeps placing orders in reaction to its own updates"
        )

    def _any_working(self, working: dict[int, None]) -> bool:
        """Whether any order is working: the broker's own map when it offers the bar fast
        path (the ids seen in updates then miss those drained by the one-round path of
        ``_dispatch_updates``), else the ids the updates left working."""
        fast = self._fast_path
        return bool(fast.working) if fast is not None else bool(working)

    # ------------------------------------------------------------------ timers

    def set_timer(self, at_ms: int | None, every_ms: int | None, name: str) -> None:
        now = self.ctx.now
        if every_ms is not None and (not isinstance(every_ms, int) or every_ms <= 0):
            raise StrategyError(f"set_timer({name!r}): every_ms must be a positive int of ms, got {every_ms!r}")
        if at_ms is None:
            if every_ms is None:
                raise StrategyError(f"set_timer({name!r}): give at_ms=, every_ms= or both")
            at_ms = now + every_ms
        if at_ms < now:
            raise StrategyError(f"set_timer({name!r}): at_ms {at_ms} is before now ({now})")
        self._timer_seq += 1
        heapq.heappush(self._timers, (int(at_ms), self._timer_seq, name, int(every_ms or 0)))

    def cancel_timer(self, name: str) -> bool:
        timers = self._timers
        kept = [t for t in timers if t[2] != name]
        found = len(kept) != len(timers)
        heapq.heapify(kept)
        timers[:] = kept  # in place: the step function holds this list
        return found

    def _fire_timers(self, limit: int, *, inclusive: bool) -> None:
        ctx = self.ctx
        timers = self._timers
        on_timer = self.strategy.on_timer
        while timers and (timers[0][0] <= limit if inclusive else timers[0][0] < limit):
            at, _, name, every = heapq.heappop(timers)
            if every:
                self._timer_seq += 1
                heapq.heappush(timers, (at + every, self._timer_seq, name, every))
            ctx.now = at
            on_timer(ctx, Timer(at, name, every))
            if self._dirty:
                self._dispatch_updates()

    def warmup_bars(self) -> int:
        """Bars per symbol to prime before the first decision: the strategy's data need
        (``StrategyData.warmup_bars``) and what the loaded models need
        (``ModelSource.warmup_bars``), whichever is more."""
        need = super().warmup_bars()
        if self._models_on_bar is not None and self.models is not None:
            need = max(need, int(self.models.warmup_bars()))
        return need

    def use_models(self, book: ModelSource) -> None:
        """Serve ``ctx.confidence`` from ``book`` (a ModelBook or a precomputed one)."""
        self.models = book
        self._models_on_bar = None
        self._refresh_feeds()

    def confidence(self, ref: str, symbol: str) -> float:
        """Calibrated confidence of model ``ref`` for ``symbol`` at its latest closed bar.

        The first call for a ref loads the model and starts feeding it every bar
        (before ``on_bar``), so call it in ``on_start`` to warm its features up
        from the first bar; NaN while they warm up.
        """
        self.require_model(ref)
        return self.models.confidence(ref, symbol)

    def require_model(self, ref: str) -> Any:
        """Load model ``ref`` (once) and start feeding it bars; returns the loaded model."""
        models = self.models
        if models is None:
            raise StrategyError(
                f"model {ref!r} needs a model registry: run through run_backtest / "
                "tradeloom backtest (which use the catalog's registry) or call "
                "ctx.use_models(ModelBook(ModelRegistry(catalog), symbols)) in on_start"
            )
        if self._models_on_bar is None:
            self._models_on_bar = models.on_bar
            self._refresh_feeds()
        return models.require(ref)

    def log(self, msg: str) -> None:
        self.events.append({"ts": int(self.ctx.now), "kind": "log", "message": str(msg)})



__all__ = ["MAX_UPDATE_ROUNDS", "Engine", "IndicatorView"]
