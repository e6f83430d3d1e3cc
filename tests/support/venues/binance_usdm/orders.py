"""USDⓈ-M orders and trades, and the JSON shapes the venue sends for them.

Shapes (USDⓈ-M docs, trade/rest-api pages): "New Order" answers ``clientOrderId``,
``cumQty``, ``cumQuote``, ``executedQty``, ``orderId``, ``avgPrice``, ``origQty``,
``price``, ``reduceOnly``, ``side``, ``positionSide``, ``status``, ``stopPrice``,
``closePosition``, ``symbol``, ``timeInForce``, ``type``, ``origType``,
``updateTime``, ``workingType``, ``priceProtect``, ``priceMatch``,
``selfTradePreventionMode``, ``goodTillDate`` (no ``time``); "Query Order" and
"Current All Open Orders" add ``time`` and have no ``cumQty``; "Cancel Order" is the
New Order shape. ``newOrderRespType`` ACK (the venue's default) answers the order as
accepted - status NEW, nothing executed - even when it filled at once; RESULT answers
"the final FILLED result" of a MARKET order. Numbers are plain decimal strings
(``"price": "7819.01"``, ``"qty": "0.002"``, ``"cumQuote": "0"``). Order statuses:
"Common Definition" (NEW, PARTIALLY_FILLED, FILLED, CANCELED, REJECTED, EXPIRED,
EXPIRED_IN_MATCH). "Account Trade List" rows carry ``commission`` positive, as live
answers do (e.g. ``"commission":"0.00301236"`` in a captured KAITOUSDT row; the docs'
example shows ``"-0.07819010"``, NOTES.md).

>>> from venues.common.money import dec
>>> o = Order(1, "c1", "BTCUSDT", "BUY", "LIMIT", "GTC", dec("0.01"), dec("30000"),
...           False, time=5)
>>> o.json("query")["status"], "cumQty" in o.json("query"), "time" in o.json("new")
('NEW', False, False)
>>> o.add_fill(dec("30000"), dec("0.01"), 6); o.json("ack")["executedQty"]
'0'
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from venues.common.money import ZERO, Decimal, plain


class Status(enum.StrEnum):
    """Order status ("Common Definition")."""

    NEW = "NEW"
    PARTIALLY_FILLED = "PARTIALLY_FILLED"
    FILLED = "FILLED"
    CANCELED = "CANCELED"
    EXPIRED = "EXPIRED"


@dataclass(slots=True)
class Order:
    """One order of one account (``type`` LIMIT, MARKET or LIQUIDATION)."""

    order_id: int
    client_id: str
    symbol: str
    side: str
    type: str
    tif: str
    qty: Decimal
    price: Decimal
    reduce_only: bool
    time: int
    api_key: str = ""
    status: Status = Status.NEW
    #: user data stream "Expire Reason" (``er``): 0 none, 2 IOC rest, 5 liquidation,
    #: 9 MARKET rest not filled
    expire_reason: int = 0
    filled: Decimal = ZERO
    quote: Decimal = ZERO
    update_time: int = 0

    @property
    def is_open(self) -> bool:
        return self.status in (Status.NEW, Status.PARTIALLY_FILLED)

    @property
    def remaining(self) -> Decimal:
        return self.qty - self.filled

    @property
    def signed_remaining(self) -> Decimal:
        return self.remaining if self.side == "BUY" else -self.remaining

    @property
    def avg_price(self) -> Decimal:
        return self.quote / self.filled if self.filled else ZERO

    def add_fill(self, price: Decimal, qty: Decimal, time: int) -> None:
        self.filled += qty
        self.quote += price * qty
        self.update_time = time
        self.status = Status.FILLED if self.filled == self.qty else Status.PARTIALLY_FILLED

    def json(self, kind: str = "query") -> dict[str, object]:
        """The order as the venue answers it: ``kind`` "query" (Query Order, open
        orders, all orders), "new"/"cancel" (New/Cancel Order) or "ack" (New Order
        with newOrderRespType ACK)."""
        ack = kind == "ack"
        filled, quote = (ZERO, ZERO) if ack else (self.filled, self.quote)
        body: dict[str, object] = {
            "orderId": self.order_id, "symbol": self.symbol,
            "status": Status.NEW.value if ack else self.status.value,
            "clientOrderId": self.client_id, "price": plain(self.price),
            "avgPrice": plain(quote / filled if filled else ZERO),
            "origQty": plain(self.qty), "executedQty": plain(filled),
            "cumQuote": plain(quote), "timeInForce": self.tif, "type": self.type,
            "reduceOnly": self.reduce_only, "closePosition": False, "side": self.side,
            "positionSide": "BOTH", "stopPrice": "0", "workingType": "CONTRACT_PRICE",
            "priceProtect": False, "origType": self.type, "priceMatch": "NONE",
            "selfTradePreventionMode": "EXPIRE_MAKER", "goodTillDate": 0,
            "updateTime": self.time if ack else (self.update_time or self.time)}
        if kind == "query":
            body["time"] = self.time
        else:
            body["cumQty"] = plain(filled)
        return body


@dataclass(frozen=True, slots=True)
class Trade:
    """One fill of one of the account's orders."""

    trade_id: int
    order_id: int
    api_key: str
    symbol: str
    side: str
    price: Decimal
    qty: Decimal
    commission: Decimal
    realized_pnl: Decimal
    time: int
    maker: bool

    def json(self) -> dict[str, object]:
        """A row of ``GET /fapi/v1/userTrades``."""
        return {"buyer": self.side == "BUY", "commission": plain(self.commission),
                "commissionAsset": "USDT", "id": self.trade_id, "maker": self.maker,
                "orderId": self.order_id, "price": plain(self.price), "qty": plain(self.qty),
                "quoteQty": plain(self.price * self.qty),
                "realizedPnl": plain(self.realized_pnl), "side": self.side,
                "positionSide": "BOTH", "symbol": self.symbol, "time": self.time}
