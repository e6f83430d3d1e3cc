"""Margin arithmetic of one account at the current mark prices.

USDⓈ-M "Account Information V3" definitions: position initial margin
``|positionAmt * mark| / leverage``; open order initial margin ``price * remaining /
leverage`` for the part of resting orders that would increase the position;
maintenance margin per position ``|notional| * mmr - cum`` (brackets.py); cross
available balance = cross wallet + cross unrealised PnL - cross initial margin -
isolated positions' open-order margin (isolated margins are already out of the cross
wallet). Liquidation price: USDⓈ-M FAQ "How to Calculate Liquidation Price of USDⓈ-M
Futures Contracts", one-way mode::

    LP = (WB - TMM1 + UPNL1 + cumB - Side * Pos * EP) / (Pos * MMR - Side * Pos)

with WB the cross wallet balance (isolated: the position's isolated wallet, TMM1 and
UPNL1 zero), TMM1/UPNL1 the maintenance margin / unrealised PnL of all other cross
positions, MMR/cumB of the bracket that holds the notional *at the liquidation
price* (the FAQ's note: recompute with that bracket when they differ).

>>> from venues.binance_usdm.brackets import BRACKETS
>>> liquidation_price(wb=Decimal("1000"), others=Decimal("0"), side=1,
...                   amount=Decimal("1"), entry=Decimal("10000"), table=BRACKETS["BTCUSDT"])
Decimal('9036.144578313253012048192771')
"""

from __future__ import annotations

from collections.abc import Mapping

from venues.binance_usdm.account import FuturesAccount
from venues.binance_usdm.brackets import BracketTable
from venues.binance_usdm.orders import Order
from venues.common.money import ZERO, Decimal


def liquidation_price(*, wb: Decimal, others: Decimal, side: int, amount: Decimal,
                      entry: Decimal, table: BracketTable) -> Decimal:
    """The FAQ formula; ``others`` = UPNL1 - TMM1; 0 when it is not positive."""
    pos = abs(amount)
    for bracket in table.brackets:
        denominator = pos * bracket.maint_ratio - side * pos
        if denominator == 0:
            continue
        price = (wb + others + bracket.cum - side * pos * entry) / denominator
        if price <= 0:
            return ZERO
        if bracket.floor <= price * pos <= bracket.cap:
            return price
    return max(price, ZERO)


class MarginView:
    """An account's margin figures at ``marks`` (market id -> mark price)."""

    def __init__(self, account: FuturesAccount, marks: Mapping[str, Decimal],
                 tables: Mapping[str, BracketTable], open_orders: list[Order]) -> None:
        self.account, self.marks, self.tables = account, marks, tables
        self.open_orders = open_orders

    def unrealized(self, market_id: str) -> Decimal:
        pos = self.account.positions.get(market_id)
        return pos.unrealized(self.marks[market_id]) if pos and pos.amount else ZERO

    def notional(self, market_id: str) -> Decimal:
        pos = self.account.positions.get(market_id)
        return pos.notional(self.marks[market_id]) if pos and pos.amount else ZERO

    def position_im(self, market_id: str) -> Decimal:
        return abs(self.notional(market_id)) / self.account.settings(market_id).leverage

    def maintenance(self, market_id: str) -> Decimal:
        notional = self.notional(market_id)
        return self.tables[market_id].maintenance(notional) if notional else ZERO

    def order_im(self, market_id: str) -> Decimal:
        """Initial margin of resting orders that would increase the position."""
        pos = self.account.positions.get(market_id)
        amount = pos.amount if pos else ZERO
        total = ZERO
        for side, sign in (("BUY", 1), ("SELL", -1)):
            size = sum((o.remaining * o.price for o in self.open_orders
                        if o.symbol == market_id and o.side == side and not o.reduce_only),
                       ZERO)
            qty = sum((o.remaining for o in self.open_orders
                       if o.symbol == market_id and o.side == side and not o.reduce_only),
                      ZERO)
            if not qty:
                continue
            opposite = max(ZERO, -sign * amount)  # position this side would first close
            increasing = max(ZERO, qty - opposite)
            total += size * (increasing / qty)
        return total / self.account.settings(market_id).leverage

    def _cross(self) -> list[str]:
        return [m for m in self.marks
                if self.account.settings(m).margin_type == "CROSSED"]

    def cross_unrealized(self) -> Decimal:
        return sum((self.unrealized(m) for m in self._cross()), ZERO)

    def cross_maintenance(self) -> Decimal:
        return sum((self.maintenance(m) for m in self._cross()), ZERO)

    def total_unrealized(self) -> Decimal:
        return sum((self.unrealized(m) for m in self.marks), ZERO)

    def total_position_im(self) -> Decimal:
        return sum((self.position_im(m) for m in self.marks), ZERO)

    def total_order_im(self) -> Decimal:
        return sum((self.order_im(m) for m in self.marks), ZERO)

    def total_maintenance(self) -> Decimal:
        return sum((self.maintenance(m) for m in self.marks), ZERO)

    def available(self) -> Decimal:
        cross_im = sum((self.position_im(m) for m in self._cross()), ZERO)
        value = (self.account.cross_wallet + self.cross_unrealized() - cross_im
                 - self.total_order_im())
        return max(value, ZERO)

    def liquidation_price(self, market_id: str) -> Decimal:
        pos = self.account.positions.get(market_id)
        if not pos or not pos.amount:
            return ZERO
        settings = self.account.settings(market_id)
        if settings.margin_type == "ISOLATED":
            wb, others = settings.isolated_wallet, ZERO
        else:
            wb = self.account.cross_wallet
            others = sum((self.unrealized(m) - self.maintenance(m)
                          for m in self._cross() if m != market_id), ZERO)
        return liquidation_price(wb=wb, others=others, side=pos.side, amount=pos.amount,
                                 entry=pos.entry, table=self.tables[market_id])
