"""A small in-memory ``RiskView`` for risk tests: cash, positions, marks, open orders, clock."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

from tradeloom.engine.accounting.portfolio import Portfolio
from tradeloom.engine.orders import Bar, Order, OrderStatus, OrderType, Side

HOUR = 3_600_000


@dataclass
class FakeView:
    """Equity is ``cash + sum(position * mark)``, like the portfolio's."""

    now: int = 0
    cash: float = 1000.0
    positions: dict[str, float] = field(default_factory=dict)
    marks: dict[str, float] = field(default_factory=lambda: {"BTC/USDT": 100.0, "ETH/USDT": 100.0})
    orders: list[Order] = field(default_factory=list)

    @property
    def equity(self) -> float:
        return self.cash + sum(a * self.marks[s] for s, a in self.positions.items())

    def position(self, symbol: str) -> float:
        return self.positions.get(symbol, 0.0)

    def mark(self, symbol: str) -> float:
        return self.marks.get(symbol, math.nan)

    def open_orders(self, symbol: str | None = None) -> Sequence[Order]:
        return [o for o in self.orders if symbol is None or o.symbol == symbol]


class PortfolioView:
    """A ``RiskView`` over a real ``Portfolio`` (no working orders: fills are immediate)."""

    def __init__(self, portfolio: Portfolio) -> None:
        self.portfolio = portfolio
        self.now = 0

    @property
    def cash(self) -> float:
        return self.portfolio.cash

    @property
    def equity(self) -> float:
        return self.portfolio.equity()

    def position(self, symbol: str) -> float:
        return self.portfolio.position(symbol)

    def mark(self, symbol: str) -> float:
        return self.portfolio.mark(symbol)

    def open_orders(self, symbol: str | None = None) -> Sequence[Order]:
        return []


_ids = iter(range(1, 10**9))


def order(
    side: str = "buy",
    amount: float = 1.0,
    symbol: str = "BTC/USDT",
    *,
    price: float | None = None,
    quote: float | None = None,
    reduce_only: bool = False,
    strategy_id: str = "",
    tag: str = "",
    open_: bool = False,
) -> Order:
    """A market (or limit, with ``price``) order; ``open_`` makes it a working order."""
    otype = OrderType.LIMIT if price is not None else OrderType.MARKET
    o = Order(
        next(_ids),
        symbol,
        Side(side),
        otype,
        0.0 if quote is not None else amount,
        created_ts=0,
        price=price,
        quote_amount=quote,
        reduce_only=reduce_only,
        strategy_id=strategy_id,
        tag=tag,
    )
    if open_:
        o.status = OrderStatus.OPEN
    return o


def bar(symbol: str, open_ts: int, close: float, interval: int = HOUR) -> Bar:
    return Bar(symbol, open_ts, open_ts + interval, close, close, close, close, 1.0)
