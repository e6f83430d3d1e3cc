"""How the engine turns strategy intents into broker orders: ids, risk gate, targets.

``OrderEntry`` is a part of ``Engine`` (a mixin, split out to keep modules small).
Every order gets the next id of the run's counter and ``created_ts = ctx.now``,
passes the risk gate when one is configured (a denial becomes a REJECTED order
with the gate's reason and a recorded decision), then goes to the broker.
Target sizing rules are documented in ``context``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

from tradeloom.engine.accounting.portfolio import Portfolio
from tradeloom.engine.errors import StrategyError
from tradeloom.engine.market import MarketSpec
from tradeloom.engine.orders import Order, OrderStatus, OrderType, Side, TimeInForce
from tradeloom.engine.ports import Broker, RiskGate
from tradeloom.engine.risk.codes import ActionKind, RiskAction
from tradeloom.engine.risk.gate import order_size
from tradeloom.engine.strategy.base import Strategy
from tradeloom.engine.strategy.context import TARGET_TAG, Context

_BUY, _SELL, _MARKET = Side.BUY, Side.SELL, OrderType.MARKET
_GTC = TimeInForce.GTC
#: ``Order``'s leading fields, in the order ``_target_order`` passes them positionally.
_TARGET_FIELDS = ("id", "symbol", "side", "type", "amount", "created_ts", "price",
                  "quote_amount", "stop_price", "trail_amount", "trail_pct", "tif", "post_only",
                  "reduce_only", "client_id", "tag", "strategy_id")
if tuple(Order.__dataclass_fields__)[:len(_TARGET_FIELDS)] != _TARGET_FIELDS:
    # A field added or moved in Order must be placed in _target_order's call too.
    raise TypeError(f"Order's leading fields differ from _target_order's {_TARGET_FIELDS}")
_INF = math.inf


class OrderEntry:
    """Order placement of ``Engine`` (uses its ``broker``, ``portfolio``, ``ctx`` and flags)."""

    # Set by Engine.__init__.
    strategy: Strategy
    broker: Broker
    portfolio: Portfolio
    ctx: Context
    markets: dict[str, MarketSpec]
    orders: list[Order]
    risk_decisions: list[dict[str, Any]]
    _risk: RiskGate | None
    _risk_pending: Callable[[], list[RiskAction]] | None
    _next_id: Callable[[], int]
    _strategy_id: str
    _feed: dict[str, Any]
    _local_updates: list[Order]
    _marks: dict[str, float]  # the portfolio's mark table (Portfolio.step_view)
    _dirty: bool
    _live_orders: bool
    #: False when the updates of a submit are pure bookkeeping: the broker's updates
    #: drain in place and no ``on_order`` sees them (``Engine._dispatch_updates``'s one
    #: round). The submit then leaves them to the next dispatch: ``_live_orders`` stays
    #: True, so the next bar of any symbol dispatches, with the same result.
    _dispatch_on_submit: bool

    def swap_strategy_id(self, strategy_id: str) -> str:
        """Attribute orders placed from now on to ``strategy_id``; returns the id it
        replaces (``Context.acting_as`` puts it back on exit)."""
        previous, self._strategy_id = self._strategy_id, strategy_id
        return previous

    def _run_risk_actions(self) -> None:
        """Execute what the risk engine asked for: cancel every order, or flatten a symbol."""
        pending = self._risk_pending
        if pending is None:
            return
        for action in pending():
            kind = action.kind.value
            symbol = action.symbol
            cancel_all = action.kind is ActionKind.CANCEL_ALL
            for order in list(self.broker.open_orders(None if cancel_all else symbol)):
                self.cancel(order.id)
            if action.kind is ActionKind.FLATTEN:
                for sym in [symbol] if symbol is not None else list(self.portfolio.positions()):
                    for holder, amount in self.strategy.holdings_by_strategy(self.ctx, sym):
                        if amount != 0:  # a perpetual short (< 0) is bought back
                            with self.ctx.acting_as(holder):
                                self.submit(
                                    self.new_order(
                                        sym, _SELL if amount > 0 else _BUY, OrderType.MARKET,
                                        abs(amount),
                                        reduce_only=True, tag="risk:flatten",
                                    )
                                )
            self.log(f"risk action {kind}{'' if symbol is None else ' ' + symbol}: {action.reason}")

    # ------------------------------------------------------------------ orders

    def new_order(self, symbol: str, side: Side, otype: OrderType, amount: float, **fields: Any) -> Order:
        if symbol not in self._feed:
            raise StrategyError(self._unknown_symbol(symbol))
        return Order(
            id=self._next_id(),
            symbol=symbol,
            side=side,
            type=otype,
            amount=amount,
            created_ts=self.ctx.now,
            strategy_id=self._strategy_id,
            **fields,
        )

    def _target_order(
        self, symbol: str, side: Side, amount: float, quote_amount: float | None = None
    ) -> Order:
        """``new_order(symbol, side, MARKET, amount, quote_amount=..., tag=TARGET_TAG)``
        without packing and unpacking a keyword dict (targets are the hot path)."""
        if symbol not in self._feed:
            raise StrategyError(self._unknown_symbol(symbol))
        # Positional (``_TARGET_FIELDS``): a third cheaper than matching keywords.
        return Order(
            self._next_id(), symbol, side, _MARKET, amount, self.ctx.now, None, quote_amount,
            None, None, None, _GTC, False, False, "", TARGET_TAG, self._strategy_id,
        )

    def _gate(self, order: Order) -> bool:
        """Run the risk gate; False (order REJECTED, update queued) when denied."""
        risk = self._risk
        if risk is None:
            return True
        decision = risk.check(order, self.ctx)
        requested = order_size(order)
        if decision.approved and decision.amount == requested:
            return True
        self.risk_decisions.append(
            {
                "ts": int(self.ctx.now),
                "order_id": order.id,
                "symbol": order.symbol,
                "approved": bool(decision.approved),
                "requested": float(requested),
                "amount": float(decision.amount),
                "reason": str(decision.reason),
            }
        )
        if decision.approved and decision.amount > 0:
            if order.quote_amount is not None:
                order.quote_amount = float(decision.amount)
            else:
                order.amount = float(decision.amount)
                # A perpetual target is sized again at the fill; resized by risk, the
                # approved amount is what trades (the fill must not undo the cut).
                order.target_pct = None
            return True
        order.transition(OrderStatus.REJECTED, self.ctx.now, f"risk: {decision.reason}")
        self._local_updates.append(order)
        self._dirty = True
        return False

    def submit(self, order: Order) -> Order:
        self.orders.append(order)
        if self._risk is None or self._gate(order):
            self.broker.submit(order, self.ctx.now)
            self._live_orders = True
            if self._dispatch_on_submit:
                self._dirty = True
        return order

    def bracket(
        self,
        symbol: str,
        amount: float | None,
        quote: float | None,
        entry_price: float | None,
        stop_loss: float | None,
        take_profits: Sequence[tuple[float, float]],
        tag: str,
        side: Side = _BUY,
    ) -> Order:
        if (amount is None) == (quote is None):
            raise StrategyError(f"bracket({symbol!r}): give exactly one of amount= or quote=")
        if quote is not None and entry_price is not None:
            raise StrategyError(f"bracket({symbol!r}): quote= sizing needs a market entry (no entry_price)")
        if stop_loss is None:
            raise StrategyError(
                f"bracket({symbol!r}): stop_loss= is required (a bracket is an entry protected by "
                "a stop-loss); for take-profits alone use buy() then sell(price=...)"
            )
        fractions = [float(f) for _, f in take_profits]
        if any(not (0 < f <= 1) for f in fractions) or sum(fractions) > 1 + 1e-9:
            raise StrategyError(
                f"bracket({symbol!r}): take_profits fractions {fractions} must each be in (0, 1] "
                "and sum to at most 1"
            )
        if quote is not None and fractions and abs(sum(fractions) - 1.0) > 1e-9:
            raise StrategyError(
                f"bracket({symbol!r}, quote={quote}): with quote sizing the filled amount is "
                f"unknown until the fill, so take_profits fractions must sum to 1 (got {sum(fractions)}); "
                "give amount= to exit only part of the position"
            )
        etype = OrderType.LIMIT if entry_price is not None else OrderType.MARKET
        if side is not _BUY and quote is not None:
            raise StrategyError(f"bracket({symbol!r}, side=sell): a short entry takes amount=, "
                                "not quote=")
        if side is not _BUY and not self.portfolio.is_perp(symbol):
            raise StrategyError(f"bracket({symbol!r}, side=sell): spot cannot go short; short "
                                "brackets are for perpetuals (BTC/USDT:USDT)")
        exit_side = side.opposite
        entry = self.new_order(
            symbol, side, etype, 0.0 if amount is None else float(amount),
            price=entry_price, quote_amount=quote, tag=tag,
        )
        # Base-sized entries: legs in base units. Quote-sized entries: the broker scales
        # the legs to the filled amount, take-profit amounts acting as weights.
        base = entry.amount if amount is not None else 1.0
        sl = self.new_order(
            symbol, exit_side, OrderType.STOP, base, stop_price=float(stop_loss),
            reduce_only=True, tag=f"{tag}:sl", parent_id=entry.id,
        )
        tps = [
            self.new_order(
                symbol, exit_side, OrderType.LIMIT, base * f, price=float(p),
                reduce_only=True, tag=f"{tag}:tp{i + 1}", parent_id=entry.id,
            )
            for i, (p, f) in enumerate(take_profits)
        ]
        self.orders.append(entry)
        if not self._gate(entry):
            return entry
        self.orders.extend([sl, *tps])
        self.broker.submit_bracket(entry, sl, tps, self.ctx.now)
        self._dirty = self._live_orders = True
        return entry

    def oco(self, symbol: str, side: Side, amount: float, price: float, stop: float, tag: str) -> tuple[Order, Order]:
        a = self.new_order(symbol, side, OrderType.LIMIT, amount, price=float(price), tag=f"{tag}:limit")
        b = self.new_order(symbol, side, OrderType.STOP, amount, stop_price=float(stop), tag=f"{tag}:stop")
        self.orders.extend([a, b])
        if self._gate(a) and self._gate(b):
            self.broker.submit_oco(a, b, self.ctx.now)
            self._dirty = self._live_orders = True
        return a, b

    def cancel(self, order_id: int) -> bool:
        done = bool(self.broker.cancel(order_id, self.ctx.now))
        self._dirty = True
        return done

    def replace(self, order_id: int, amount: float | None, price: float | None, stop: float | None) -> Order:
        order = self.broker.replace(order_id, self.ctx.now, amount=amount, price=price, stop_price=stop)
        self._dirty = self._live_orders = True
        return order

    def target(self, symbol: str, amount: float | None, pct: float | None) -> Order | None:
        pf = self.portfolio
        mark = self._marks.get(symbol, math.nan)  # pf.mark(symbol), without the call
        if not 0.0 < mark < _INF:  # a finite price > 0 (NaN fails too)
            raise StrategyError(
                f"target on {symbol} at {self.ctx.now}: no price seen yet for {symbol}; "
                "call targets from on_bar after the symbol's first bar"
            )
        if self._live_orders:
            for order in list(self.broker.open_orders(symbol)):
                if order.tag == TARGET_TAG:
                    self.cancel(order.id)
        spec = self.markets.get(symbol)
        min_notional = spec.min_notional if spec is not None else 0.0
        pos = pf.position(symbol)
        if pct == 0.0:
            # Flat: sell all that is held (a spot holding is never negative), unless it is
            # under the market's minimum; equity does not enter, so it is not computed.
            if pos <= 0 or pos * mark <= min_notional:
                return None
            return self.submit(self._target_order(symbol, _SELL, pos))
        if pct is not None:
            equity = pf.equity()
            delta_value = pct * equity - pos * mark
            floor = max(min_notional, 1e-9 * equity)
            if delta_value > 0:
                spend = min(delta_value, pf.cash)
                if spend <= floor:
                    return None
                return self.submit(self._target_order(symbol, _BUY, 0.0, spend))
            sell = min(-delta_value / mark, pos)
            if sell <= 0 or sell * mark <= floor:
                return None
            return self.submit(self._target_order(symbol, _SELL, sell))
        delta = float(amount or 0.0) - pos
        if delta == 0 or abs(delta) * mark <= min_notional:
            return None
        side = _BUY if delta > 0 else _SELL
        return self.submit(self._target_order(symbol, side, abs(delta)))
