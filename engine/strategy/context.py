"""The ``Context``: everything a strategy may read or do, and nothing more.

A strategy receives the context in every callback. Reads (clock, balances,
history, indicators) reflect the state after every event up to ``ctx.now``; writes
(orders, targets, timers) go through the engine, which stamps orders with
``created_ts = ctx.now``, passes them through the risk gate and hands them to
the broker. On bars an order placed while handling the bar closing at ``T`` can
fill from the bar opening at ``T`` (the next one) on, never on the bar that
produced the decision.

Sizing rules of the targets (documented because engines disagree on them):

- ``target_percent(symbol, pct)`` aims at ``pct * equity`` where equity and the
  mark are those of the decision bar's close. An increase is a market buy sized
  by ``quote_amount`` (quote currency *including* the fee), so an all-in buy stays
  payable whatever the next open is; the quote spent is capped at free cash. A
  decrease is a market sell of ``value_delta / mark`` base units, and a target
  of 0 sells the whole position.
- a target replaces the unfilled orders of earlier target calls on that symbol
  (they are cancelled first), so calling it on every bar never stacks orders.
- changes worth less than the market's minimum notional are not sent.

Positions are what the account holds net of fees charged in the coin (a Binance buy
pays its fee in the coin bought), and dust an exit left reads as 0 (see ``position``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from tradeloom.engine.errors import StrategyError
from tradeloom.engine.orders import Bar, Order, OrderType, Side, TimeInForce

if TYPE_CHECKING:
    from tradeloom.engine.market import MarketSpec
    from tradeloom.engine.ports import ModelSource
    from tradeloom.engine.run.loop import Engine

TARGET_TAG = "target"


class Context:
    """The strategy's handle on the run (see the module docstring for sizing rules)."""

    __slots__ = (
        "_broker",
        "_engine",
        "_perp_symbols",
        "_portfolio",
        "avg_entry",
        "mark",
        "now",
        "position",
        "rng",
        "symbols",
        "timeframe_ms",
    )

    def __init__(self, engine: Engine, rng: np.random.Generator) -> None:
        self._engine = engine
        pf = engine.portfolio
        self._portfolio = pf
        self._broker = engine.broker
        self._perp_symbols = pf.perp_symbols()  # a live view: ``in`` is pf.is_perp, no call
        #: The simulated (backtest) or exchange-driven (live) clock, UTC ms.
        self.now: int = 0
        #: The run's only source of randomness; seeded, the seed is in the manifest.
        self.rng = rng
        self.symbols: tuple[str, ...] = engine.symbols
        self.timeframe_ms: int = engine.timeframe_ms
        # Bound methods stored directly: one call, no wrapper, on the hot path.
        #: ``position(symbol) -> float``: base units held, net of fees charged in the coin
        #: (0.01 bought on Binance: 0.00999); 0.0 when flat, and 0.0 while all that is held
        #: is dust an exit left (no order could sell it: it stays in equity, reported once
        #: as a ``dust`` event), so "sell everything" never loops on it.
        self.position = pf.position
        #: ``avg_entry(symbol) -> float``: average entry price of the position (0.0 when flat).
        self.avg_entry = pf.avg_entry
        #: ``mark(symbol) -> float``: last close seen (NaN before the first bar).
        self.mark = pf.mark

    # -- account ---------------------------------------------------------------

    @property
    def cash(self) -> float:
        """Free quote currency."""
        return self._portfolio.cash

    @property
    def equity(self) -> float:
        """``cash + sum(position * mark)`` at the latest marks."""
        return self._portfolio.equity()

    def open_orders(self, symbol: str | None = None) -> Sequence[Order]:
        """Working orders (optionally of one symbol), oldest first."""
        return self._broker.open_orders(symbol)

    def market(self, symbol: str) -> MarketSpec | None:
        """The exchange's rules for ``symbol`` (tick size, lot step, minimum amount and
        notional, maker/taker fees), or ``None`` when the run has none for it."""
        return self._engine.markets.get(symbol)

    # -- data --------------------------------------------------------------------

    def history(
        self, symbol: str, n: int, field: str = "close", timeframe: str | None = None
    ) -> np.ndarray:
        """The last ``n`` closed bars' ``field`` for ``symbol`` (fewer during warm-up).

        Fields: ts (open time), open, high, low, close, volume. The buffer is sized
        by the class attribute ``history`` or by the first call (made in
        ``on_start``); asking later for more than was kept raises ``StrategyError``.
        ``timeframe`` (e.g. ``"4h"`` in a 1h run) reads bars of a higher timeframe,
        resampled from the run's bars (see :meth:`bars`).
        """
        return self._engine.history(symbol, n, field, timeframe)

    def bars(self, symbol: str, timeframe: str, n: int = 1) -> list[Bar]:
        """The last ``n`` closed bars of ``timeframe`` for ``symbol``, oldest first.

        ``timeframe`` is the run's own or a whole multiple of it (``"4h"``, ``"1d"`` in a
        1h run); higher ones are resampled from the run's bars as they stream
        (``engine.run.resample``: buckets from the epoch, weeks from Monday; partial
        bars at gaps). A bar is here from the step of its close on, never earlier:
        ``ctx.bars(s, "4h")[-1].close_ts <= ctx.now`` always, and ``== ctx.now`` on the
        step it closed. Ask in ``on_start`` (or declare ``timeframes`` on the class) to
        have bars from the first bucket on; the number kept is the largest ``n`` asked
        for there. Fewer than ``n`` while they accumulate.
        """
        return self._engine.bars(symbol, timeframe, n)

    def indicator(
        self,
        name: str,
        symbol: str | None = None,
        source: str = "close",
        timeframe: str | None = None,
        **params: Any,
    ) -> Any:
        """A streaming indicator the engine updates before every ``on_bar``.

        With one symbol in the run (or ``symbol`` given) this is the indicator
        object itself (``.value``, ``.ready``, ``.warmup``). With several symbols
        and ``symbol=None`` it is a per-symbol view whose ``.value``/``.ready`` are
        those of the symbol whose bar is being handled, and ``view[symbol]`` the
        indicator of one symbol. Asking twice with the same arguments returns the
        same object, so asking inside ``on_bar`` is a cheap lookup.

        ``timeframe`` computes it on bars of a higher timeframe (see :meth:`bars`): it
        updates when one of those bars closes, before that step's ``on_bar``, and its
        ``warmup`` counts bars of that timeframe.
        """
        return self._engine.indicator(name, symbol, source, params, timeframe)

    # -- orders --------------------------------------------------------------------

    def buy(
        self,
        symbol: str,
        amount: float | None = None,
        *,
        quote: float | None = None,
        price: float | None = None,
        stop: float | None = None,
        tif: TimeInForce = TimeInForce.GTC,
        post_only: bool = False,
        reduce_only: bool = False,
        tag: str = "",
    ) -> Order:
        """Buy ``amount`` base units, or spend ``quote`` (market orders only, fee included).

        ``price`` makes it a limit order, ``stop`` a stop (both: stop-limit).
        """
        return self._order(Side.BUY, symbol, amount, quote, price, stop, tif, post_only, reduce_only, tag)

    def sell(
        self,
        symbol: str,
        amount: float,
        *,
        price: float | None = None,
        stop: float | None = None,
        tif: TimeInForce = TimeInForce.GTC,
        post_only: bool = False,
        reduce_only: bool = False,
        tag: str = "",
    ) -> Order:
        """Sell ``amount`` base units (spot: at most the position)."""
        return self._order(Side.SELL, symbol, amount, None, price, stop, tif, post_only, reduce_only, tag)

    def _order(
        self,
        side: Side,
        symbol: str,
        amount: float | None,
        quote: float | None,
        price: float | None,
        stop: float | None,
        tif: TimeInForce,
        post_only: bool,
        reduce_only: bool,
        tag: str,
    ) -> Order:
        if (amount is None) == (quote is None):
            raise StrategyError(f"{side.value}({symbol!r}): give exactly one of amount= or quote=")
        if stop is not None:
            otype = OrderType.STOP_LIMIT if price is not None else OrderType.STOP
        else:
            otype = OrderType.LIMIT if price is not None else OrderType.MARKET
        if quote is not None and (side is not Side.BUY or otype is not OrderType.MARKET):
            raise StrategyError(
                f"{side.value}({symbol!r}, quote={quote}): quote sizing is for market buys; "
                "give a base amount for limit/stop orders and sells"
            )
        size = quote if quote is not None else amount
        if not (isinstance(size, (int, float)) and math.isfinite(size) and size > 0):
            raise StrategyError(f"{side.value}({symbol!r}): size must be a finite number > 0, got {size!r}")
        order = self._engine.new_order(
            symbol, side, otype, 0.0 if quote is not None else float(size),
            price=price, stop_price=stop, quote_amount=None if quote is None else float(quote),
            tif=tif, post_only=post_only, reduce_only=reduce_only, tag=tag,
        )
        return self._engine.submit(order)

    def stop_loss(
        self, symbol: str, amount: float, stop: float, *, price: float | None = None,
        tag: str = "stop_loss", side: Side = Side.SELL,
    ) -> Order:
        """A reduce-only stop (stop-limit when ``price`` is given): a sell protects a
        long; ``side=Side.BUY`` protects a perpetual short (the stop above the price)."""
        if Side(side) is Side.BUY:
            return self.buy(symbol, amount, stop=stop, price=price, reduce_only=True, tag=tag)
        return self.sell(symbol, amount, stop=stop, price=price, reduce_only=True, tag=tag)

    def trailing_stop(
        self,
        symbol: str,
        amount: float,
        *,
        trail_amount: float | None = None,
        trail_pct: float | None = None,
        tag: str = "trailing_stop",
        side: Side = Side.SELL,
    ) -> Order:
        """A reduce-only stop that follows the best price by ``trail_amount`` or
        ``trail_pct``: a sell trails below the high (a long's); ``side=Side.BUY`` trails
        above the low (a perpetual short's)."""
        if (trail_amount is None) == (trail_pct is None):
            raise StrategyError(f"trailing_stop({symbol!r}): give exactly one of trail_amount= or trail_pct=")
        order = self._engine.new_order(
            symbol, Side(side), OrderType.TRAILING_STOP, float(amount),
            trail_amount=trail_amount, trail_pct=trail_pct, reduce_only=True, tag=tag,
        )
        return self._engine.submit(order)

    def bracket(
        self,
        symbol: str,
        amount: float | None = None,
        *,
        quote: float | None = None,
        entry_price: float | None = None,
        stop_loss: float,
        take_profits: Sequence[tuple[float, float]] = (),
        tag: str = "bracket",
        side: Side = Side.BUY,
    ) -> Order:
        """A long entry (market, or limit at ``entry_price``) with a stop-loss and take-profits.

        ``side=Side.SELL`` makes it a short entry on a perpetual (stop-loss above,
        take-profits below; the legs buy).

        ``take_profits`` is ``[(price, fraction), ...]``; fractions of the entry amount,
        summing to at most 1 (to exactly 1 with ``quote=``, whose filled amount is known
        only at the fill). The exits activate when the entry fills and cancel each
        other (one-cancels-other) as the broker defines. Returns the entry order.
        """
        return self._engine.bracket(symbol, amount, quote, entry_price, stop_loss, take_profits, tag,
                                    Side(side))

    def oco(
        self,
        symbol: str,
        amount: float,
        *,
        price: float,
        stop: float,
        side: Side = Side.SELL,
        tag: str = "oco",
    ) -> tuple[Order, Order]:
        """A limit at ``price`` and a stop at ``stop``; when one fills the other is cancelled."""
        return self._engine.oco(symbol, side, float(amount), price, stop, tag)

    def cancel(self, order_id: int) -> bool:
        """Cancel a working order; ``False`` if unknown or already done."""
        return self._engine.cancel(order_id)

    def replace(
        self,
        order_id: int,
        *,
        amount: float | None = None,
        price: float | None = None,
        stop: float | None = None,
    ) -> Order:
        """Change a working order's amount, limit price or stop price."""
        return self._engine.replace(order_id, amount, price, stop)

    # -- targets ---------------------------------------------------------------------

    def target_amount(self, symbol: str, amount: float) -> Order | None:
        """Trade toward holding ``amount`` base units (a perpetual: signed, negative is
        short); ``None`` when no order is needed."""
        if self._portfolio.is_perp(symbol):
            if not math.isfinite(amount):
                raise StrategyError(f"target_amount({symbol!r}, {amount}): give a finite amount")
            return self._engine.perp_target(symbol, float(amount), None)
        if not (math.isfinite(amount) and amount >= 0):
            raise StrategyError(f"target_amount({symbol!r}, {amount}): spot targets must be >= 0")
        return self._engine.target(symbol, amount, None)

    def target_percent(self, symbol: str, pct: float) -> Order | None:
        """Trade toward ``pct`` of equity in ``symbol`` (0.0 to 1.0; see the module docs).

        A perpetual takes ``pct`` in ``[-L, +L]`` with ``L`` its leverage (``set_leverage``):
        the signed notional ``pct * equity``, negative for a short; the order is sized at
        its fill (``engine.sim.perp_funds``); 0.0 closes the position (reduce-only).
        """
        if symbol in self._perp_symbols:  # self._portfolio.is_perp(symbol)
            lev = self._portfolio.perp(symbol).leverage
            if not (math.isfinite(pct) and -lev <= pct <= lev):
                raise StrategyError(
                    f"target_percent({symbol!r}, {pct}): a perpetual's pct is a signed fraction "
                    f"of equity in [-{lev:g}, {lev:g}] at its leverage {lev:g}x; raise the "
                    "leverage with ctx.set_leverage for more")
            return self._engine.perp_target(symbol, None, float(pct))
        if not 0.0 <= pct <= 1.0:  # NaN fails it too: no isfinite call needed
            raise StrategyError(
                f"target_percent({symbol!r}, {pct}): pct is a fraction of equity in [0, 1] "
                "(spot, no leverage): 1.0 = all-in, 0.0 = flat"
            )
        return self._engine.target(symbol, None, pct)

    # -- perpetuals ------------------------------------------------------------------

    def set_leverage(self, symbol: str, leverage: float) -> None:
        """Leverage of ``symbol``'s perpetual (1 to its brackets' maximum; default 1);
        live, the venue is asked first and a refusal raises."""
        self._engine.set_leverage(symbol, leverage)

    def set_margin_mode(self, symbol: str, mode: str) -> None:
        """``"isolated"`` or ``"cross"`` margin for ``symbol``'s perpetual (default cross);
        refused while a position is open."""
        self._engine.set_margin_mode(symbol, mode)

    def close_position(self, symbol: str, *, tag: str = "close") -> Order | None:
        """A reduce-only market order closing ``symbol``'s perpetual position (``None``
        when flat)."""
        return self._engine.close_position(symbol, tag)

    def liquidation_price(self, symbol: str) -> float:
        """The mark price that liquidates ``symbol``'s position (0.0 long / inf short
        when none can, 0.0 when flat)."""
        return self._portfolio.liquidation_price(symbol)

    @property
    def perp_account(self) -> Any:
        """The account's perpetual view (``engine.accounting.perps.PerpAccount``: positions,
        margins, liquidation prices), read-only by convention: the risk engine's
        perpetual limits read it."""
        return self._portfolio

    def funding_rate(self, symbol: str) -> float:
        """The latest funding rate paid on ``symbol`` (per funding period; NaN before
        the first funding time of the run)."""
        return self._engine.funding_rates.get(symbol, math.nan)

    def margin_ratio(self, symbol: str | None = None) -> float:
        """Maintenance margin over margin balance (1.0 is liquidation): of an isolated
        position, or of the cross account."""
        return self._portfolio.margin_ratio(symbol)

    # -- time and logging ------------------------------------------------------------

    def set_timer(self, at_ms: int | None = None, *, every_ms: int | None = None, name: str = "timer") -> None:
        """Fire ``on_timer`` at ``at_ms`` and/or every ``every_ms`` (first at ``at_ms`` or now + every)."""
        self._engine.set_timer(at_ms, every_ms, name)

    def cancel_timer(self, name: str) -> bool:
        """Stop timers called ``name``; ``False`` if none was set."""
        return self._engine.cancel_timer(name)

    def confidence(self, ref: str, symbol: str) -> float:
        """Model ``ref``'s calibrated confidence in [0, 1] for ``symbol`` at this bar.

        ``ref`` is a registry reference (``name``, ``name@champion``, ``name@3``).
        Predictions are computed online from the model's own feature pipeline, one
        closed bar at a time; NaN while its features warm up. Ask once in
        ``on_start`` so the features warm up from the first bar.
        """
        return self._engine.confidence(ref, symbol)

    def model(self, ref: str) -> Any:
        """The loaded model behind ``ref`` (its ``.ref`` names the exact version used)."""
        return self._engine.require_model(ref)

    def use_models(self, book: ModelSource) -> None:
        """Take confidence from ``book`` instead of the run's registry (e.g. precomputed)."""
        self._engine.use_models(book)

    def log(self, msg: str) -> None:
        """Record a message with the current time in the run's events."""
        self._engine.log(msg)

    def acting_as(self, strategy_id: str) -> ActingAs:
        """``with ctx.acting_as("trend"):`` orders placed inside carry ``strategy_id="trend"``.

        For composite strategies (``SleevePortfolio``) that run several strategies in one
        account: the id decides whose budget the risk engine checks and which strategy
        orders, fills and trades are attributed to.
        """
        if not (isinstance(strategy_id, str) and strategy_id):
            raise StrategyError(f"acting_as({strategy_id!r}): give a non-empty strategy id")
        return ActingAs(self._engine, strategy_id)


class ActingAs:
    """The context manager of ``Context.acting_as`` (restores the previous id on exit)."""

    __slots__ = ("_engine", "_id", "_prev")

    def __init__(self, engine: Engine, strategy_id: str) -> None:
        self._engine = engine
        self._id = strategy_id
        self._prev = ""

    def __enter__(self) -> None:
        self._prev = self._engine.swap_strategy_id(self._id)

    def __exit__(self, *exc: object) -> None:
        self._engine.swap_strategy_id(self._prev)
