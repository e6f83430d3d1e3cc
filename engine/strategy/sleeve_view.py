"""``SleeveView``: the context one strategy of a ``SleevePortfolio`` sees.

The portfolio hands each sleeve's strategy a view instead of the engine's ``Context``,
so an unmodified strategy runs as one of several sharing an account:

- ``symbols`` are the sleeve's; orders on other symbols are a ``StrategyError``;
- every order it places carries the sleeve's id as ``strategy_id`` (orders, fills and
  trades say which strategy placed them; the ``RiskEngine`` checks the sleeve's budget
  and caps on it), tags are left as the strategy wrote them;
- ``position`` and ``avg_entry`` are the sleeve's own holdings, booked from its own
  fills; ``open_orders`` lists its own working orders; ``cancel`` and ``replace``
  touch only those;
- ``equity`` is the sleeve's budget, ``budget_pct`` of the account's equity (a constant
  mix: each sleeve's capital is a fixed share of the account, so a sleeve's gains
  raise every sleeve's budget); ``cash`` is what it may still spend: that budget less
  the value of its holdings and open buys, at most the account's free cash;
- ``target_percent(symbol, p)`` aims at ``p`` of the *sleeve* (1.0 = the whole budget),
  ``target_amount`` at the sleeve's own holding, with the engine's target rules
  (quote-sized buys including the fee, earlier unfilled target orders of the sleeve
  cancelled first, changes under the minimum notional not sent);
- timers are the sleeve's (``<id>|<name>`` in the engine, the plain name in
  ``on_timer``); ``log`` prefixes the sleeve id.

Reads it does not narrow (``now``, ``rng``, ``mark``, ``market``, ``history``, ``bars``,
``indicator``, ``confidence``) pass through to the engine's context.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from tradeloom.engine.errors import StrategyError
from tradeloom.engine.orders import Bar, Fill, Order, Side, TimeInForce
from tradeloom.engine.strategy.context import TARGET_TAG

if TYPE_CHECKING:
    from tradeloom.engine.market import MarketSpec
    from tradeloom.engine.strategy.context import Context

#: A sleeve holding within this fraction of the fill size of zero is flat.
FLAT_TOLERANCE = 1e-9


class SleeveView:
    """One sleeve's view of the run (see the module docstring)."""

    def __init__(self, ctx: Context, sleeve_id: str, symbols: Sequence[str],
                 budget_pct: float) -> None:
        self._ctx = ctx
        self.id = sleeve_id
        self.symbols: tuple[str, ...] = tuple(symbols)
        self._allowed = frozenset(self.symbols)
        self.budget_pct = float(budget_pct)
        self.rng = ctx.rng
        self.timeframe_ms = ctx.timeframe_ms
        self.timer_prefix = f"{sleeve_id}|"
        self._held: dict[str, float] = {}
        self._cost: dict[str, float] = {}  # quote paid for what is held (avg_entry * held)

    # -- the sleeve's own book ---------------------------------------------------

    def book(self, fill: Fill) -> None:
        """Book one of this sleeve's fills into its holdings (the portfolio calls it); a fee
        charged in the coin traded changes the holding as in the account
        (``Fill.base_change``)."""
        symbol, change = fill.symbol, fill.base_change()
        held = self._held.get(symbol, 0.0)
        if change > 0.0:
            self._held[symbol] = held + change
            self._cost[symbol] = self._cost.get(symbol, 0.0) + fill.amount * fill.price
            return
        amount = -change
        left = held - amount
        if abs(left) <= FLAT_TOLERANCE * amount or held <= 0.0:
            self._held.pop(symbol, None)
            self._cost.pop(symbol, None)
        else:
            self._cost[symbol] = self._cost.get(symbol, 0.0) * (left / held)
            self._held[symbol] = left

    # -- reads ---------------------------------------------------------------------

    @property
    def now(self) -> int:
        return self._ctx.now

    def mark(self, symbol: str) -> float:
        return self._ctx.mark(symbol)

    def market(self, symbol: str) -> MarketSpec | None:
        return self._ctx.market(symbol)

    def position(self, symbol: str) -> float:
        """Base units this sleeve holds (its own fills), 0.0 when flat."""
        return self._held.get(symbol, 0.0)

    def avg_entry(self, symbol: str) -> float:
        """Average entry price of this sleeve's holding (0.0 when flat)."""
        held = self._held.get(symbol, 0.0)
        return self._cost[symbol] / held if held > 0.0 else 0.0

    @property
    def equity(self) -> float:
        """The sleeve's budget: ``budget_pct`` of the account's equity."""
        return self.budget_pct * self._ctx.equity

    @property
    def cash(self) -> float:
        """What the sleeve may still spend: its budget less its holdings and open buys."""
        ctx = self._ctx
        used = sum(amount * ctx.mark(s) for s, amount in self._held.items())
        for order in self.open_orders():
            if order.side is Side.BUY and not order.reduce_only:
                if order.quote_amount is not None and order.filled == 0.0:
                    used += order.quote_amount
                else:
                    price = order.price if order.price is not None else ctx.mark(order.symbol)
                    used += (order.amount - order.filled) * price
        return max(0.0, min(ctx.cash, self.equity - used))

    def open_orders(self, symbol: str | None = None) -> list[Order]:
        """This sleeve's working orders (optionally of one symbol), oldest first."""
        sid = self.id
        return [o for o in self._ctx.open_orders(symbol) if o.strategy_id == sid]

    def history(self, symbol: str, n: int, field: str = "close",
                timeframe: str | None = None) -> np.ndarray:
        return self._ctx.history(symbol, n, field, timeframe)

    def bars(self, symbol: str, timeframe: str, n: int = 1) -> list[Bar]:
        return self._ctx.bars(symbol, timeframe, n)

    def indicator(self, name: str, symbol: str | None = None, source: str = "close",
                  timeframe: str | None = None, **params: Any) -> Any:
        """As ``Context.indicator``; without ``symbol``, the sleeve's symbol when it has one."""
        if symbol is None and len(self.symbols) == 1:
            symbol = self.symbols[0]
        return self._ctx.indicator(name, symbol, source, timeframe, **params)

    def confidence(self, ref: str, symbol: str) -> float:
        return self._ctx.confidence(ref, symbol)

    def model(self, ref: str) -> Any:
        return self._ctx.model(ref)

    # -- orders ----------------------------------------------------------------------

    def _check(self, symbol: str) -> None:
        if symbol not in self._allowed:
            raise StrategyError(
                f"sleeve {self.id!r} trades {list(self.symbols)} and cannot trade {symbol}; "
                "add the symbol to the sleeve's symbols"
            )

    def _own(self, order_id: int) -> bool:
        return any(o.id == order_id for o in self.open_orders())

    def buy(self, symbol: str, amount: float | None = None, *, quote: float | None = None,
            price: float | None = None, stop: float | None = None,
            tif: TimeInForce = TimeInForce.GTC, post_only: bool = False,
            reduce_only: bool = False, tag: str = "") -> Order:
        self._check(symbol)
        with self._ctx.acting_as(self.id):
            return self._ctx.buy(symbol, amount, quote=quote, price=price, stop=stop, tif=tif,
                                 post_only=post_only, reduce_only=reduce_only, tag=tag)

    def sell(self, symbol: str, amount: float, *, price: float | None = None,
             stop: float | None = None, tif: TimeInForce = TimeInForce.GTC,
             post_only: bool = False, reduce_only: bool = False, tag: str = "") -> Order:
        self._check(symbol)
        with self._ctx.acting_as(self.id):
            return self._ctx.sell(symbol, amount, price=price, stop=stop, tif=tif,
                                  post_only=post_only, reduce_only=reduce_only, tag=tag)

    def stop_loss(self, symbol: str, amount: float, stop: float, *, price: float | None = None,
                  tag: str = "stop_loss") -> Order:
        return self.sell(symbol, amount, stop=stop, price=price, reduce_only=True, tag=tag)

    def trailing_stop(self, symbol: str, amount: float, *, trail_amount: float | None = None,
                      trail_pct: float | None = None, tag: str = "trailing_stop") -> Order:
        self._check(symbol)
        with self._ctx.acting_as(self.id):
            return self._ctx.trailing_stop(symbol, amount, trail_amount=trail_amount,
                                           trail_pct=trail_pct, tag=tag)

    def bracket(self, symbol: str, amount: float | None = None, **kw: Any) -> Order:
        self._check(symbol)
        with self._ctx.acting_as(self.id):
            return self._ctx.bracket(symbol, amount, **kw)

    def oco(self, symbol: str, amount: float, **kw: Any) -> tuple[Order, Order]:
        self._check(symbol)
        with self._ctx.acting_as(self.id):
            return self._ctx.oco(symbol, amount, **kw)

    def cancel(self, order_id: int) -> bool:
        """Cancel one of this sleeve's working orders; ``False`` for any other id."""
        return self._own(order_id) and self._ctx.cancel(order_id)

    def replace(self, order_id: int, *, amount: float | None = None, price: float | None = None,
                stop: float | None = None) -> Order:
        if not self._own(order_id):
            raise StrategyError(f"sleeve {self.id!r}: order {order_id} is not one of its "
                                "working orders")
        with self._ctx.acting_as(self.id):
            return self._ctx.replace(order_id, amount=amount, price=price, stop=stop)

    # -- targets -----------------------------------------------------------------------

    def target_amount(self, symbol: str, amount: float) -> Order | None:
        """Trade toward the sleeve holding ``amount`` base units."""
        if not (math.isfinite(amount) and amount >= 0):
            raise StrategyError(f"{self.id}: target_amount({symbol!r}, {amount}): spot targets "
                                "must be >= 0")
        self._check(symbol)
        self._cancel_targets(symbol)
        delta = amount - self.position(symbol)
        mark = self._ctx.mark(symbol)
        if delta == 0 or abs(delta) * mark <= self._min_notional(symbol):
            return None
        if delta > 0:
            return self.buy(symbol, delta, tag=TARGET_TAG)
        return self.sell(symbol, -delta, tag=TARGET_TAG)

    def target_percent(self, symbol: str, pct: float) -> Order | None:
        """Trade toward ``pct`` of the sleeve's budget in ``symbol`` (0.0 to 1.0)."""
        if not (math.isfinite(pct) and 0.0 <= pct <= 1.0):
            raise StrategyError(
                f"{self.id}: target_percent({symbol!r}, {pct}): pct is a fraction of the "
                "sleeve's budget in [0, 1]: 1.0 = the whole budget, 0.0 = flat")
        self._check(symbol)
        mark = self._ctx.mark(symbol)
        if not (mark > 0 and math.isfinite(mark)):
            raise StrategyError(f"{self.id}: target on {symbol}: no price seen yet; call targets "
                                "from on_bar after the symbol's first bar")
        self._cancel_targets(symbol)
        pos = self.position(symbol)
        equity = self.equity
        min_notional = self._min_notional(symbol)
        delta_value = pct * equity - pos * mark
        floor = max(min_notional, 1e-9 * equity)
        if delta_value > 0:
            spend = min(delta_value, self.cash)
            return self.buy(symbol, quote=spend, tag=TARGET_TAG) if spend > floor else None
        sell = pos if pct == 0.0 else min(-delta_value / mark, pos)
        if sell <= 0 or sell * mark <= (min_notional if pct == 0.0 else floor):
            return None
        return self.sell(symbol, sell, tag=TARGET_TAG)

    def _cancel_targets(self, symbol: str) -> None:
        for order in self.open_orders(symbol):
            if order.tag == TARGET_TAG:
                self._ctx.cancel(order.id)

    def _min_notional(self, symbol: str) -> float:
        spec = self._ctx.market(symbol)
        return spec.min_notional if spec is not None else 0.0

    # -- time and logging ------------------------------------------------------------------

    def set_timer(self, at_ms: int | None = None, *, every_ms: int | None = None,
                  name: str = "timer") -> None:
        self._ctx.set_timer(at_ms, every_ms=every_ms, name=self.timer_prefix + name)

    def cancel_timer(self, name: str) -> bool:
        return self._ctx.cancel_timer(self.timer_prefix + name)

    def log(self, msg: str) -> None:
        self._ctx.log(f"{self.id}: {msg}")


__all__ = ["SleeveView"]
