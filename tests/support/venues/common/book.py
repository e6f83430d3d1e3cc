"""The emulated market's order book: other traders' resting liquidity, level by level.

A taking order walks the opposite side from the best price outwards and fills
level by level (several fills per order), which is what real order books do and
what the venues' FULL order responses show (Binance rest-api.md, "New order"
FULL response: five fills at 4000, 3999, 3998, 3997, 3995). Filled quantity is
removed from the book, so a second order sees what the first one left.

The book holds only *other* traders' orders; the account's own resting orders are
kept by each venue's engine (so an account never trades with itself) and merged
into depth answers by the venue.

>>> book = Book(asks=[("30000", "0.002"), ("30001", "0.003"), ("30005", "0.01")],
...             bids=[("29990", "1")])
>>> [(str(p), str(q)) for p, q in book.plan("buy", qty=dec("0.008"))]
[('30000', '0.002'), ('30001', '0.003'), ('30005', '0.003')]
>>> [(str(p), str(q)) for p, q in book.plan("buy", qty=dec("1"), limit=dec("30001"))]
[('30000', '0.002'), ('30001', '0.003')]
>>> book.consume("buy", book.plan("buy", qty=dec("0.008"))); book.asks[0]
Level(price=Decimal('30005'), qty=Decimal('0.007'))
>>> around = Book.around(dec("100"), tick=dec("0.5"), levels=2, qty=dec("3"))
>>> [(str(l.price), str(l.qty)) for l in around.asks], [str(l.price) for l in around.bids]
([('100.0', '3'), ('100.5', '3')], ['99.5', '99.0'])
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

from venues.common.money import ZERO, Decimal, Number, dec, floor_to_step

Side = Literal["buy", "sell"]
Fill = tuple[Decimal, Decimal]  # (price, qty)


@dataclass(frozen=True, slots=True)
class Level:
    """One price level: ``qty`` resting at ``price``."""

    price: Decimal
    qty: Decimal


def _levels(rows: Iterable[tuple[Number, Number] | Level], *, descending: bool) -> list[Level]:
    levels = []
    for row in rows:
        level = row if isinstance(row, Level) else Level(dec(row[0]), dec(row[1]))
        if level.price <= 0 or level.qty <= 0:
            raise ValueError(f"book level needs a positive price and quantity, got {level}")
        levels.append(level)
    levels.sort(key=lambda lv: lv.price, reverse=descending)
    prices = [lv.price for lv in levels]
    if len(set(prices)) != len(prices):
        raise ValueError(f"book side has duplicate prices: {prices}")
    return levels


class Book:
    """Bids (best = highest first) and asks (best = lowest first) of other traders."""

    def __init__(self, bids: Sequence[tuple[Number, Number] | Level] = (),
                 asks: Sequence[tuple[Number, Number] | Level] = ()) -> None:
        self.bids = _levels(bids, descending=True)
        self.asks = _levels(asks, descending=False)
        if self.bids and self.asks and self.bids[0].price >= self.asks[0].price:
            raise ValueError(f"crossed book: best bid {self.bids[0].price} >= "
                             f"best ask {self.asks[0].price}")

    @classmethod
    def around(cls, price: Decimal, *, tick: Decimal, levels: int = 5, qty: Decimal,
               spacing_ticks: int = 1) -> Book:
        """A book whose best ask is ``price`` and best bid one spacing below it,
        ``levels`` levels a side, ``qty`` each, ``spacing_ticks`` ticks apart."""
        gap = tick * spacing_ticks
        asks = [Level(price + i * gap, qty) for i in range(levels)]
        bids = [Level(price - (i + 1) * gap, qty) for i in range(levels)
                if price - (i + 1) * gap > 0]
        return cls(bids, asks)

    def last_price_hint(self) -> Decimal | None:
        """The mid of the best levels (or the one side present), for reference prices."""
        if self.bids and self.asks:
            return (self.bids[0].price + self.asks[0].price) / 2
        if self.asks:
            return self.asks[0].price
        if self.bids:
            return self.bids[0].price
        return None

    def _opposite(self, side: Side) -> list[Level]:
        return self.asks if side == "buy" else self.bids

    def plan(self, side: Side, *, qty: Decimal | None = None, limit: Decimal | None = None,
             quote: Decimal | None = None, step: Decimal = ZERO) -> list[Fill]:
        """Fills a ``side`` taker would get, best price first, without changing the book.

        Stops at ``qty`` base, or when ``quote`` (quote currency to spend/receive) is
        used up (each level's part floored to ``step``), or at the first level worse
        than ``limit``.
        """
        if (qty is None) == (quote is None):
            raise ValueError("plan needs exactly one of qty or quote")
        fills: list[Fill] = []
        left_qty, left_quote = qty, quote
        for level in self._opposite(side):
            if limit is not None and ((side == "buy" and level.price > limit) or
                                      (side == "sell" and level.price < limit)):
                break
            if left_qty is not None:
                take = min(level.qty, left_qty)
            else:
                take = min(level.qty, floor_to_step(left_quote / level.price, step))
            if take <= 0:
                break
            fills.append((level.price, take))
            if left_qty is not None:
                left_qty -= take
                if left_qty == 0:
                    break
            else:
                left_quote -= take * level.price
        return fills

    def consume(self, side: Side, fills: Iterable[Fill]) -> None:
        """Remove the liquidity ``fills`` (from :meth:`plan`) took from the book."""
        levels = self._opposite(side)
        for price, qty in fills:
            index = next((i for i, lv in enumerate(levels) if lv.price == price), None)
            if index is None or levels[index].qty < qty:
                raise ValueError(f"cannot take {qty} at {price}: not on the book")
            left = levels[index].qty - qty
            if left == 0:
                del levels[index]
            else:
                levels[index] = Level(price, left)
