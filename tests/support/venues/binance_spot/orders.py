"""Binance spot orders and trades, and the JSON shapes Binance sends for them.

Shapes follow binance-spot-api-docs: rest-api.md "New order" (ACK/RESULT/FULL
responses), "Query order", "Cancel order", "Account trade list"; the user data
stream's ``executionReport`` is user-data-stream.md "Order Update" (field letters
as documented there, with ``n: "0"`` and ``N: null`` on non-trade reports as in
faqs/market_orders_faq.md's sample). Status values are enums.md "Order status".

>>> from venues.common.money import dec
>>> o = Order(order_id=1, client_id="c1", symbol="BTCUSDT", side="BUY", type="LIMIT",
...           tif="GTC", qty=dec("0.01"), price=dec("30000"), time=5)
>>> o.status, o.is_open, o.query_json()["price"], o.query_json()["isWorking"]
(<Status.NEW: 'NEW'>, True, '30000.00000000', True)
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any

from venues.common.money import ZERO, Decimal, fixed8


class Status(enum.StrEnum):
    """enums.md "Order status" (REJECTED orders are answered with an error and never
    stored: "The order was not accepted by the engine and not processed")."""

    NEW = "NEW"
    PARTIALLY_FILLED = "PARTIALLY_FILLED"
    FILLED = "FILLED"
    CANCELED = "CANCELED"
    EXPIRED = "EXPIRED"
    REJECTED = "REJECTED"


@dataclass(frozen=True, slots=True)
class Trade:
    """One fill of one of the account's orders."""

    trade_id: int
    order_id: int
    symbol: str
    side: str
    price: Decimal
    qty: Decimal
    quote_qty: Decimal
    commission: Decimal
    commission_asset: str
    time: int
    is_maker: bool

    def fill_json(self) -> dict[str, Any]:
        """An element of the FULL response's ``fills``."""
        return {"price": fixed8(self.price), "qty": fixed8(self.qty),
                "commission": fixed8(self.commission),
                "commissionAsset": self.commission_asset, "tradeId": self.trade_id}

    def my_trade_json(self) -> dict[str, Any]:
        """An element of ``GET /api/v3/myTrades``."""
        return {"symbol": self.symbol, "id": self.trade_id, "orderId": self.order_id,
                "orderListId": -1, "price": fixed8(self.price), "qty": fixed8(self.qty),
                "quoteQty": fixed8(self.quote_qty), "commission": fixed8(self.commission),
                "commissionAsset": self.commission_asset, "time": self.time,
                "isBuyer": self.side == "BUY", "isMaker": self.is_maker, "isBestMatch": True}


@dataclass
class Order:
    """An accepted order and what has happened to it."""

    order_id: int
    client_id: str
    symbol: str
    side: str  # BUY / SELL
    type: str  # LIMIT / MARKET / LIMIT_MAKER
    tif: str  # GTC / IOC / FOK
    qty: Decimal
    price: Decimal | None
    time: int
    quote_order_qty: Decimal = ZERO
    status: Status = Status.NEW
    executed: Decimal = ZERO
    cum_quote: Decimal = ZERO
    update_time: int = 0
    expiry_reason: str | None = None
    trades: list[Trade] = field(default_factory=list)
    api_key: str = ""

    def __post_init__(self) -> None:
        self.update_time = self.update_time or self.time

    @property
    def is_open(self) -> bool:
        return self.status in (Status.NEW, Status.PARTIALLY_FILLED)

    @property
    def remaining(self) -> Decimal:
        return self.qty - self.executed

    def _common(self) -> dict[str, Any]:
        return {
            "symbol": self.symbol, "orderId": self.order_id, "orderListId": -1,
            "clientOrderId": self.client_id,
            "price": fixed8(self.price if self.price is not None else ZERO),
            "origQty": fixed8(self.qty), "executedQty": fixed8(self.executed),
            "origQuoteOrderQty": fixed8(self.quote_order_qty),
            "cummulativeQuoteQty": fixed8(self.cum_quote), "status": self.status.value,
            "timeInForce": self.tif, "type": self.type, "side": self.side,
        }

    def _expiry(self, out: dict[str, Any]) -> dict[str, Any]:
        if self.status == Status.EXPIRED and self.expiry_reason:
            out["expiryReason"] = self.expiry_reason  # rest-api.md conditional field
        return out

    def new_order_json(self, resp_type: str, transact_time: int) -> dict[str, Any]:
        """``POST /api/v3/order`` answer for ``newOrderRespType`` ACK, RESULT or FULL."""
        ack = {"symbol": self.symbol, "orderId": self.order_id, "orderListId": -1,
               "clientOrderId": self.client_id, "transactTime": transact_time}
        if resp_type == "ACK":
            return ack
        out = {**ack, **self._common(), "workingTime": self.time,
               "selfTradePreventionMode": "EXPIRE_MAKER"}
        if resp_type == "FULL":
            out["fills"] = [t.fill_json() for t in self.trades]
        return self._expiry(out)

    def query_json(self) -> dict[str, Any]:
        """``GET /api/v3/order`` / ``openOrders`` / ``allOrders`` element."""
        out = {**self._common(), "stopPrice": fixed8(ZERO), "icebergQty": fixed8(ZERO),
               "time": self.time, "updateTime": self.update_time, "isWorking": self.is_open,
               "workingTime": self.time, "selfTradePreventionMode": "EXPIRE_MAKER"}
        return self._expiry(out)

    def cancel_json(self, cancel_client_id: str, transact_time: int) -> dict[str, Any]:
        """``DELETE /api/v3/order`` answer: ``clientOrderId`` is the cancel's own id."""
        out = {**self._common(), "origClientOrderId": self.client_id,
               "clientOrderId": cancel_client_id, "transactTime": transact_time,
               "selfTradePreventionMode": "EXPIRE_MAKER"}
        return out

    def execution_report(self, *, execution: str, event_time: int, execution_id: int,
                         trade: Trade | None = None,
                         cancel_client_id: str | None = None) -> dict[str, Any]:
        """user-data-stream.md ``executionReport`` for this order's current state.

        A cancel's report carries the cancel request's id in ``c`` and the order's
        own id in ``C`` ("Original client order ID; This is the ID of the order
        being canceled"). ``w`` (on the book) is true for an open LIMIT order and for
        a MARKET order's NEW report only, as in faqs/market_orders_faq.md's sample.
        """
        on_book = self.is_open and (self.type != "MARKET" or execution == "NEW")
        return {
            "e": "executionReport", "E": event_time, "s": self.symbol,
            "c": cancel_client_id if cancel_client_id is not None else self.client_id,
            "S": self.side, "o": self.type, "f": self.tif, "q": fixed8(self.qty),
            "p": fixed8(self.price if self.price is not None else ZERO), "P": fixed8(ZERO),
            "F": fixed8(ZERO), "g": -1,
            "C": self.client_id if cancel_client_id is not None else "",
            "x": execution, "X": self.status.value,
            "r": "NONE", "i": self.order_id,
            "l": fixed8(trade.qty if trade else ZERO), "z": fixed8(self.executed),
            "L": fixed8(trade.price if trade else ZERO),
            "n": fixed8(trade.commission) if trade else "0",
            "N": trade.commission_asset if trade else None,
            "T": trade.time if trade else self.update_time,
            "t": trade.trade_id if trade else -1, "I": execution_id,
            "w": on_book,
            "m": trade.is_maker if trade else False, "M": trade is not None,
            "O": self.time, "Z": fixed8(self.cum_quote),
            "Y": fixed8(trade.quote_qty if trade else ZERO),
            "Q": fixed8(self.quote_order_qty), "W": self.time, "V": "EXPIRE_MAKER",
        }
