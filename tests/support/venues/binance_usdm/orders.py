"""USDⓈ-M orders and trades, and the JSON shapes the venue sends for them.

Shapes: USDⓈ-M "New Order (TRADE)" response (``clientOrderId``, ``cumQty``,
``cumQuote``, ``executedQty``, ``orderId``, ``avgPrice``, ``origQty``, ``price``,
``reduceOnly``, ``side``, ``positionSide``, ``status``, ``stopPrice``,
``closePosition``, ``symbol``, ``timeInForce``, ``type``, ``origType``,
``updateTime``, ``workingType``, ``priceProtect``, ``priceMatch``,
``selfTradePreventionMode``, ``goodTillDate``); "Query Order" adds ``time``;
"Account Trade List" rows (``buyer``, ``commission``, ``commissionAsset``, ``id``,
``maker``, ``orderId``, ``price``, ``qty``, ``quoteQty``, ``realizedPnl``, ``side``,
``positionSide``, ``symbol``, ``time``). Numbers are plain decimal strings (the docs'
examples: ``"price": "7819.01"``, ``"qty": "0.002"``, ``"cumQuote": "0"``).
Statuses: "Common Definition" order status NEW, PARTIALLY_FILLED, FILLED, CANCELED,
REJECTED, EXPIRED (and EXPIRED_IN_MATCH).

>>> from venues.common.money import dec
>>> o = Order(1, "c1", "BTCUSDT", "BUY", "LIMIT", "GTC", dec("0.01"), dec("30000"),
...           False, time=5)
>>> o.json()["status"], o.json()["avgPrice"], o.is_open
('NEW', '0', True)
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from venues.common.money import ZERO, Decimal, plain


class Status(enum.StrEnum):
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

    def json(self) -> dict[str, object]:
        """The order as "New Order"/"Query Order"/"Cancel Order" answer it."""
        return {
            "orderId": self.order_id, "symbol": self.symbol, "status": self.status.value,
            "clientOrderId": self.client_id, "price": plain(self.price),
            "avgPrice": plain(self.avg_price), "origQty": plain(self.qty),
            "executedQty": plain(self.filled), "cumQty": plain(self.filled),
            "cumQuote": plain(self.quote), "timeInForce": self.tif, "type": self.type,
            "reduceOnly": self.reduce_only, "closePosition": False, "side": self.side,
            "positionSide": "BOTH", "stopPrice": "0", "workingType": "CONTRACT_PRICE",
            "priceProtect": False, "origType": self.type, "priceMatch": "NONE",
            "selfTradePreventionMode": "EXPIRE_MAKER", "goodTillDate": 0,
            "time": self.time, "updateTime": self.update_time or self.time}


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
