"""One-way (``positionSide`` BOTH) position arithmetic: netting, entry price, realised PnL.

Rules (USDⓈ-M docs "Position Information V2/V3" fields ``positionAmt`` signed,
``entryPrice``; Binance FAQ "What is Realized PnL" / one-way mode): a BUY adds to
``positionAmt`` and a SELL subtracts, so one position per symbol goes through zero.
- increase (same direction or from flat): entry price is the quantity-weighted
  average of the old entry and the fill price;
- reduce: entry price unchanged; realised PnL ``= closed qty * (fill - entry)`` for a
  long, ``(entry - fill)`` for a short;
- flip (a fill larger than the position): the old position closes at the fill price
  (realised as above) and the remainder opens at the fill price.
Unrealised PnL ``= positionAmt * (mark - entry)``; notional ``= positionAmt * mark``
(signed, as positionRisk's ``notional``).

>>> p = Position("BTCUSDT")
>>> p.apply(Decimal("0.01"), Decimal("30000")), p.apply(Decimal("0.01"), Decimal("31000"))
(Decimal('0'), Decimal('0'))
>>> p.amount, p.entry                       # (300 + 310) / 0.02
(Decimal('0.02'), Decimal('30500'))
>>> p.apply(Decimal("-0.03"), Decimal("30000"))   # close 0.02: 0.02 * -500 = -10, flip
Decimal('-10.00')
>>> p.amount, p.entry, p.unrealized(Decimal("29000"))
(Decimal('-0.01'), Decimal('30000'), Decimal('10.00'))
"""

from __future__ import annotations

from dataclasses import dataclass

from venues.common.money import ZERO, Decimal


@dataclass(slots=True)
class Position:
    """The account's net position in one symbol (one-way mode)."""

    symbol: str
    amount: Decimal = ZERO
    entry: Decimal = ZERO
    update_time: int = 0
    #: pre-fee realised PnL accumulated over the symbol's life (ACCOUNT_UPDATE ``cr``)
    accumulated: Decimal = ZERO

    @property
    def side(self) -> int:
        return (self.amount > 0) - (self.amount < 0)

    def apply(self, qty: Decimal, price: Decimal) -> Decimal:
        """Add a signed fill ``qty`` at ``price``; returns the realised PnL."""
        if self.amount == 0 or (self.amount > 0) == (qty > 0):
            total = self.amount + qty
            self.entry = (self.amount * self.entry + qty * price) / total
            self.amount = total
            return ZERO
        closed = min(abs(qty), abs(self.amount))
        realized = closed * (price - self.entry) * self.side
        remainder = qty + self.amount  # signed leftover after netting
        if remainder == 0:
            self.amount, self.entry = ZERO, ZERO
        elif (remainder > 0) == (self.amount > 0):
            self.amount = remainder
        else:
            self.amount, self.entry = remainder, price
        self.accumulated += realized
        return realized

    def unrealized(self, mark: Decimal) -> Decimal:
        return self.amount * (mark - self.entry)

    def notional(self, mark: Decimal) -> Decimal:
        return self.amount * mark
