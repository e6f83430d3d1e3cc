"""What the engine does for perpetual swaps beyond spot: funding payments and liquidations.

``PerpSteps`` is a part of ``Engine`` (a mixin, like ``OrderEntry``). A run without a
perpetual never calls it: spot bars keep the step's lean path, and only the bars of
perpetual symbols go through ``_perp_bar`` (installed as the symbol's feeder by
``Engine._refresh_feeds``).

**Funding** (``FundingEvent``, ordered after every bar closing at its time): the
portfolio pays or receives ``qty * mark * rate`` on the position held at that instant
(``accounting.perps.PerpAccount.apply_funding``); the mark is the event's (the store's
mark price at the funding time) or, when the event has none, the symbol's latest
close; a live venue's booked amount, ``FundingEvent.amount``, replaces ``qty * mark *
rate``. Each payment is a ``funding`` event of the results (``BacktestResult.funding``
turns them into a frame) and a cash change of the equity curve's row.

**Liquidation** (``LiquidationRule``, judged in ``_perp_bar`` for the bar's symbol, after
the broker matched the bar's orders and before the strategy sees the bar): the position
left after the bar's fills is liquidated when the bar's adverse extreme (its low for a
long, its high for a short) reaches the position's liquidation price, Binance's
formula (``engine.accounting.margin``). The bars are last-trade bars and stand in for
the mark price here (the venue judges at the mark; on the bundled BTCUSDT sample the
hourly mark and last differ by well under 0.1 %). The position closes whole at the
liquidation price, also when the bar gapped through it (the venue's liquidation engine
takes the position over; its insurance fund, not the trader, takes the gap), with the
clearance fee ``liquidation_fee * notional`` capped at what is left of the margin.
Every working order of the symbol is cancelled first (the venue cancels them). The
close is an ``Order`` and a ``Fill`` tagged ``liquidation`` (so it ends its trade) and
a ``liquidation`` event naming the price, the quantity, the fee and the bar. A live
venue's own liquidation (``book_liquidation``, called by the live runner and ``replay``)
is booked the same way at the venue's price and fee.

**Margin in use**: whenever the perpetuals' initial margin (``PerpAccount.used_margin``)
differs from the last recorded figure at a perpetual's bar, a ``margin`` event records
it (``ts`` the bar's close, ``used``): the report's margin usage over time.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from enum import Enum
from typing import Any

from tradeloom.engine.accounting.portfolio import Portfolio
from tradeloom.engine.contracts import MarginMode
from tradeloom.engine.errors import ConfigError, StrategyError
from tradeloom.engine.market import MarketSpec
from tradeloom.engine.orders import Bar, Fill, Liquidity, Order, OrderStatus, OrderType, Side
from tradeloom.engine.ports import Broker
from tradeloom.engine.run.events import FundingEvent
from tradeloom.engine.strategy.context import TARGET_TAG, Context

#: The tag of a liquidation's order and fill (and the exit tag of its trade).
LIQUIDATION_TAG = "liquidation"


class LiquidationRule(str, Enum):
    """When a bar liquidates a perpetual position (the module docstring has the rule).

    - ``ADVERSE_EXTREME_AFTER_FILLS``: the position left after the bar's fills is
      liquidated when the bar's adverse extreme (low for a long, high for a short)
      reaches its liquidation price, closing at that price. A position the strategy's
      orders closed on the bar is not liquidated by the same bar (its orders had the
      open and their trigger prices first).
    """

    ADVERSE_EXTREME_AFTER_FILLS = "adverse_extreme_after_fills"


class PerpSteps:
    """Funding and liquidation of ``Engine`` (see the module docstring)."""

    portfolio: Portfolio
    broker: Broker
    ctx: Context
    fills: list[Fill]
    orders: list[Order]
    events: list[dict[str, Any]]
    #: The latest funding rate seen per symbol (``ctx.funding_rate``).
    funding_rates: dict[str, float]
    #: The initial margin in use last recorded as a ``margin`` event.
    _margin_seen: float
    _step_ts: int
    _bar_in_step: bool
    _next_id: Callable[[], int]
    _strategy_id: str
    _dirty: bool

    markets: dict[str, MarketSpec]

    # Engine's and OrderEntry's methods used here.
    _advance: Callable[[int], None]
    _apply_fills: Callable[[list[Fill]], None]
    _note_cash: Callable[[], None]
    cancel: Callable[[int], bool]
    submit: Callable[[Order], Order]
    new_order: Callable[..., Order]
    _target_order: Callable[..., Order]

    # -- the strategy's perpetual calls (Context) -------------------------------------

    def set_leverage(self, symbol: str, leverage: float) -> None:
        """Ask the broker (a live venue may refuse: it raises), then the portfolio."""
        self.broker.set_leverage(symbol, float(leverage))
        self.portfolio.set_leverage(symbol, leverage)

    def set_margin_mode(self, symbol: str, mode: str) -> None:
        """Ask the broker (a live venue may refuse: it raises), then the portfolio."""
        try:
            chosen = MarginMode(mode)
        except ValueError:
            raise ConfigError(f"margin mode {mode!r} for {symbol}: use 'isolated' or "
                              "'cross'") from None
        self.broker.set_margin_mode(symbol, chosen.value)
        self.portfolio.set_margin_mode(symbol, chosen)

    def close_position(self, symbol: str, tag: str) -> Order | None:
        qty = self.portfolio.perp(symbol).qty
        if qty == 0.0:
            return None
        side = Side.SELL if qty > 0.0 else Side.BUY
        return self.submit(self.new_order(symbol, side, OrderType.MARKET, abs(qty),
                                          reduce_only=True, tag=tag))

    def perp_target(self, symbol: str, amount: float | None, pct: float | None) -> Order | None:
        """Trade a perpetual toward ``amount`` (signed base units) or ``pct`` of equity
        (signed, sized at the fill); cancels the symbol's earlier target orders first.
        ``None`` when the position is already there (within the market's minimum
        notional)."""
        pf = self.portfolio
        mark = pf.mark(symbol)
        if not (mark > 0.0 and math.isfinite(mark)):
            raise StrategyError(
                f"target on {symbol} at {self.ctx.now}: no price seen yet for {symbol}; "
                "call targets from on_bar after the symbol's first bar")
        for order in list(self.broker.open_orders(symbol)):
            if order.tag == TARGET_TAG:
                self.cancel(order.id)
        qty = pf.perp_position(symbol)
        spec = self.markets.get(symbol)
        floor = spec.min_notional if spec is not None else 0.0
        if pct == 0.0 or (amount is not None and amount == 0.0):
            if qty == 0.0:
                return None
            side = Side.SELL if qty > 0.0 else Side.BUY
            return self.submit(self.new_order(symbol, side, OrderType.MARKET, abs(qty),
                                              reduce_only=True, tag=TARGET_TAG))
        equity = pf.equity()
        want = amount if amount is not None else pct * equity / mark  # type: ignore[operator]
        delta = want - qty
        if abs(delta) * mark <= max(floor, 1e-9 * equity):
            return None
        order = self._target_order(symbol, Side.BUY if delta > 0.0 else Side.SELL, abs(delta))
        if pct is not None:
            order.target_pct = pct
        return self.submit(order)

    def _perp_bar(self, inner: Callable[[Bar, list[Any]], None] | None
                  ) -> Callable[[Bar, list[Any]], None]:
        """The feeder of a perpetual symbol's bars: liquidation check, the hidden
        perpetual value at the new mark, then what the feeder did before (``inner``, or
        the lean path's close-input indicator updates)."""
        pf = self.portfolio
        liquidate = self._check_liquidation

        def feed(bar: Bar, close_ups: list[Any]) -> None:
            if pf.perp_position(bar[0]) != 0.0:
                liquidate(bar)
                pf.refresh_perp_value()
            used = pf.used_margin()
            if used != self._margin_seen:
                self._margin_seen = used
                self.events.append({"ts": int(bar[2]), "kind": "margin", "used": float(used)})
            if inner is not None:
                inner(bar, close_ups)
                return
            close = bar[6]
            for update in close_ups:
                update(close)
            self._bar_in_step = True

        return feed

    def _check_liquidation(self, bar: Bar) -> None:
        symbol = bar.symbol
        pf = self.portfolio
        qty = pf.perp_position(symbol)
        price = pf.liquidation_price(symbol)
        if qty > 0.0:
            reached = price > 0.0 and bar.low <= price
        else:
            reached = math.isfinite(price) and bar.high >= price
        if reached:
            self._liquidate(bar, qty, price)

    def _liquidate(self, bar: Bar, qty: float, price: float) -> None:
        symbol = bar.symbol
        fee = self.portfolio.liquidation_fee(symbol, price)
        self._close_liquidated(
            symbol, bar.close_ts, qty, price, fee,
            f"liquidated: the bar's {'low' if qty > 0 else 'high'} reached the liquidation "
            f"price {price:.10g}",
            {"bar_low": float(bar.low), "bar_high": float(bar.high),
             "message": (f"{symbol}: position {qty:.10g} liquidated at {price:.10g} (bar "
                         f"{bar.ts}: low {bar.low:.10g}, high {bar.high:.10g}); clearance fee "
                         f"{fee:.10g}")})

    def book_liquidation(self, symbol: str, ts: int, price: float, fee: float,
                         source: str) -> None:
        """A live venue liquidated ``symbol``'s whole position at ``price`` (its closing
        trades' average), charging ``fee``: booked as the engine books its own
        liquidations (working orders of the symbol cancelled, an order and a fill tagged
        ``liquidation``, a ``liquidation`` event), at ``ts`` (never before the engine
        clock). ``source`` says how the venue's liquidation was found. Nothing happens
        when the engine holds no position in ``symbol``."""
        ts = max(int(ts), int(self.ctx.now))
        if ts != self._step_ts:
            self._advance(ts)
        self.ctx.now = ts
        qty = self.portfolio.perp_position(symbol)
        if qty == 0.0:
            return
        self._close_liquidated(
            symbol, ts, qty, float(price), float(fee), f"liquidated by the venue ({source})",
            {"source": source,
             "message": (f"{symbol}: position {qty:.10g} liquidated by the venue at "
                         f"{price:.10g} ({source}); fee {fee:.10g}")})

    def _close_liquidated(self, symbol: str, ts: int, qty: float, price: float, fee: float,
                          reason: str, detail: dict[str, Any]) -> None:
        """Close ``qty`` at ``price``: cancel the symbol's orders, book the order, the
        fill and the ``liquidation`` event (``detail`` closes the event)."""
        for order in list(self.broker.open_orders(symbol)):
            self.cancel(order.id)
        side = Side.SELL if qty > 0.0 else Side.BUY
        amount = abs(qty)
        order = Order(
            id=self._next_id(), symbol=symbol, side=side, type=OrderType.MARKET, amount=amount,
            created_ts=ts, reduce_only=True, tag=LIQUIDATION_TAG, strategy_id=self._strategy_id,
            status=OrderStatus.FILLED, filled=amount, avg_price=price, fee=fee, updated_ts=ts,
            reason=reason, history=[(ts, OrderStatus.FILLED.value)],
        )
        self.orders.append(order)
        fill = Fill(order.id, symbol, side, ts, price, amount, fee, Liquidity.TAKER,
                    tag=LIQUIDATION_TAG, strategy_id=self._strategy_id)
        self.events.append({
            "ts": int(ts), "kind": "liquidation", "symbol": symbol, "qty": float(qty),
            "price": float(price), "fee": float(fee), "order_id": int(order.id),
            "fill": len(self.fills), **detail,
        })
        self._apply_fills([fill])

    def _on_funding(self, event: FundingEvent) -> None:
        """Book one funding payment (module docstring)."""
        ts = int(event.ts)
        if ts != self._step_ts:
            self._advance(ts)
        self.ctx.now = ts
        pf = self.portfolio
        symbol = event.symbol
        if not pf.is_perp(symbol):
            return  # funding of a symbol the run trades as spot (or not at all) costs nothing
        self.funding_rates[symbol] = float(event.rate)
        mark = event.mark if math.isfinite(event.mark) and event.mark > 0.0 else pf.mark(symbol)
        if pf.perp_position(symbol) == 0.0 or not (mark > 0.0):
            return
        booked = float(event.amount)
        payment = pf.apply_funding(symbol, ts, float(event.rate), float(mark),
                                   booked if math.isfinite(booked) else None)
        if payment is None:
            return
        self._note_cash()
        self.events.append({
            "ts": ts, "kind": "funding", "symbol": symbol, "qty": float(payment.qty),
            "mark": float(payment.mark), "rate": float(payment.rate),
            "amount": float(payment.amount),
        })


__all__ = ["LIQUIDATION_TAG", "LiquidationRule", "PerpSteps"]
