"""Submit-time checks of the simulated exchange: shape, rounding and market minimums.

``check_order`` rounds an order's prices to the tick and its amount down to the lot step
(in place, as ccxt does before sending) and returns ``""`` when the exchange would
accept it, else a rejection reason naming the rule, the figures and the fix. A rejected
order is data, not an exception: the run goes on.

>>> from tradeloom.engine.orders import Order, OrderType, Side
>>> spec = MarketSpec("BTC/USDT", tick_size=0.01, lot_step=0.001, min_notional=5.0)
>>> o = Order(1, "BTC/USDT", Side.BUY, OrderType.LIMIT, 0.0321, 0, price=100.004)
>>> check_order(o, spec, None)
'rejected: notional 3.20 USDT < min notional 5.00 for BTC/USDT; increase amount'
>>> o.amount, o.price
(0.032, 100.0)

On a perpetual a reduce-only order is exempt from the minimum notional (Binance USDⓈ-M
error -4164: "Order's notional must be no smaller than 5.0 (unless you choose reduce
only)"), so a position smaller than the minimum can always be closed; the minimum
amount (LOT_SIZE ``minQty``) still applies.
"""

from __future__ import annotations

import math

from tradeloom.engine.market import MarketSpec
from tradeloom.engine.orders import Order, OrderType, Side

# Enum members bound once: a module global is cheaper to read than ``OrderType.X``
# (a class attribute lookup through the enum's metaclass) on every order.
_MARKET = OrderType.MARKET
_LIMIT = OrderType.LIMIT
_STOP = OrderType.STOP
_TRAILING = OrderType.TRAILING_STOP
_BUY = Side.BUY
_SELL = Side.SELL
_NEEDS_PRICE = (OrderType.LIMIT, OrderType.STOP_LIMIT)
_NEEDS_STOP = (OrderType.STOP, OrderType.STOP_LIMIT)


def _positive(value: float | None) -> bool:
    return value is not None and math.isfinite(value) and value > 0.0


def _shape_error(order: Order) -> str:
    """Fields the order type needs, present and sane; ``""`` when fine."""
    otype = order.type
    if order.quote_amount is not None:
        if otype is not _MARKET or order.side is not _BUY:
            return (
                f"rejected: quote_amount is for market buys only, got a {order.side.value} "
                f"{otype.value} order; size it with amount instead"
            )
        if not _positive(order.quote_amount):
            return (
                f"rejected: quote_amount {order.quote_amount} must be > 0; set the quote to spend"
            )
        if order.amount != 0.0:
            return (
                f"rejected: set either amount ({order.amount}) or quote_amount "
                f"({order.quote_amount}), not both; use amount=0 with quote_amount"
            )
    elif not _positive(order.amount):
        return f"rejected: amount {order.amount} must be a finite number > 0; set amount"
    if otype is _MARKET and not order.post_only:
        return ""  # the common case: nothing below applies to a plain market order
    kind = otype.value
    if otype in _NEEDS_PRICE and not _positive(order.price):
        return f"rejected: {kind} order needs a limit price > 0, got {order.price}; set price"
    if otype in _NEEDS_STOP and not _positive(order.stop_price):
        return (
            f"rejected: {kind} order needs a stop_price > 0, got {order.stop_price}; set stop_price"
        )
    if otype is _TRAILING:
        amount_ok = _positive(order.trail_amount)
        pct_ok = _positive(order.trail_pct) and (order.trail_pct or 0.0) < 1.0
        given = (order.trail_amount is not None) + (order.trail_pct is not None)
        if given != 1 or not (amount_ok or pct_ok):
            return (
                "rejected: trailing stop needs exactly one of trail_amount > 0 (price units) "
                f"or trail_pct in (0, 1) (0.02 = 2 %); got trail_amount={order.trail_amount}, "
                f"trail_pct={order.trail_pct}"
            )
    if order.post_only and otype is not _LIMIT:
        return f"rejected: post_only applies to limit orders only, got {kind}; drop post_only"
    return ""


def _reference_price(order: Order, last: float | None) -> float | None:
    """Price used for the min-notional check: the order's own price, else the last close."""
    if order.type in _NEEDS_PRICE:
        return order.price
    if order.type is _STOP:
        return order.stop_price
    return last


def check_order(
    order: Order, spec: MarketSpec, last: float | None, *, minimums: bool = True
) -> str:
    """Round ``order`` to ``spec`` in place and return ``""`` or a rejection reason.

    ``minimums=False`` skips min amount/notional (bracket legs of an all-in entry, whose
    amounts are weights until the entry fills).

    ``last`` is the last known price of the symbol (``None`` before the first bar);
    market orders are checked against it for min notional and post-only limits against
    it for crossing. With no last price these two checks wait for the first fill.
    """
    error = _shape_error(order)
    if error:
        return error
    sym = spec.symbol
    if order.price is not None:
        order.price = spec.round_price(order.price)
    if order.stop_price is not None:
        order.stop_price = spec.round_price(order.stop_price)
    if order.quote_amount is not None:
        if order.quote_amount < spec.min_notional:
            return (
                f"rejected: quote_amount {order.quote_amount:.2f} {spec.quote} < min notional "
                f"{spec.min_notional:.2f} for {sym}; increase quote_amount"
            )
        return ""
    if not minimums:
        return ""
    amount = spec.round_amount(order.amount)
    if amount <= 0.0 or amount < spec.min_amount:
        return (
            f"rejected: amount {order.amount:.10g} {spec.base} (lot-rounded {amount:.10g}) < "
            f"min amount {max(spec.min_amount, spec.lot_step or 0.0):.10g} for {sym}; "
            "increase amount"
        )
    order.amount = amount
    ref = _reference_price(order, last)
    if ref is not None and ref * amount < spec.min_notional and not (
            order.reduce_only and spec.is_perp):
        return (
            f"rejected: notional {ref * amount:.2f} {spec.quote} < min notional "
            f"{spec.min_notional:.2f} for {sym}; increase amount"
        )
    if order.post_only and last is not None and order.price is not None:
        if order.side is _BUY and order.price >= last:
            return (
                f"rejected: post-only buy limit {order.price:.10g} >= last price {last:.10g} "
                f"for {sym} would take liquidity; lower the price or drop post_only"
            )
        if order.side is _SELL and order.price <= last:
            return (
                f"rejected: post-only sell limit {order.price:.10g} <= last price {last:.10g} "
                f"for {sym} would take liquidity; raise the price or drop post_only"
            )
    return ""


def minimums_error(spec: MarketSpec, price: float, amount: float) -> str:
    """``""`` when ``amount`` at ``price`` meets the market minimums, else why not.

    >>> minimums_error(MarketSpec("BTC/USDT", min_notional=5.0), 100.0, 0.01)
    'notional 1.00 USDT < min notional 5.00 for BTC/USDT'
    """
    if amount <= 0.0 or amount < spec.min_amount:
        return f"amount {amount:.10g} {spec.base} < min amount {spec.min_amount:.10g} for {spec.symbol}"
    if price * amount < spec.min_notional:
        return (
            f"notional {price * amount:.2f} {spec.quote} < min notional "
            f"{spec.min_notional:.2f} for {spec.symbol}"
        )
    return ""
