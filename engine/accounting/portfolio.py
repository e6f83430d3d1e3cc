"""Spot portfolio: cash in one quote currency, base positions per symbol, PnL, fees.

Accounting, applied once per fill (fees are in the quote currency):

- buy:  ``cash -= price * amount + fee`` (the broker's cost expression, so its
  affordability check and this balance agree to the last bit); average entry becomes the volume-weighted
  mean of the old position and the fill;
- sell: ``cash += price * amount - fee``; ``realized += (price - avg_entry) * amount``;
  the average entry of what is left does not change.

So at every step ``equity = cash + sum(position * mark)`` and
``realized + unrealized - fees_paid == equity - initial_cash`` (up to float
rounding), where ``unrealized = sum(position * (mark - avg_entry))``. Realized PnL
is gross of fees; fees are counted once, in ``fees_paid``.

A fill that would leave a negative balance raises ``NegativeBalance``: the broker
is supposed to have refused it, so this is a bug to report, never to round away.

>>> p = Portfolio(1000.0, "USDT")
>>> from tradeloom.engine.orders import Liquidity
>>> p.apply_fill(Fill(1, "BTC/USDT", Side.BUY, 0, 100.0, 5.0, 0.5, Liquidity.TAKER))
>>> p.cash, p.position("BTC/USDT"), p.free("BTC")
(499.5, 5.0, 5.0)
>>> p.set_mark("BTC/USDT", 110.0)
>>> p.equity(), p.unrealized_pnl()
(1049.5, 50.0)
>>> p.apply_fill(Fill(2, "BTC/USDT", Side.SELL, 1, 120.0, 2.0, 0.24, Liquidity.TAKER))
>>> p.realized_pnl, round(p.fees_paid, 2)
(40.0, 0.74)
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import NamedTuple

from tradeloom.engine.errors import ConfigError, InsufficientFunds
from tradeloom.engine.orders import Fill, Side

#: A fill may overshoot a balance by this much, relative to its size (float rounding
#: of ``quote / (price * (1 + fee))``); the balance then becomes exactly zero. Positive
#: dust is never rounded away: the broker sells exactly the free balance on a full exit.
REL_TOLERANCE = 1e-9
_BUY = Side.BUY


class NegativeBalance(InsufficientFunds):
    """A fill would leave a negative cash or base balance (a broker bug: it must refuse)."""


@dataclass(slots=True)
class Position:
    """Base-unit holding of one symbol (spot: never negative)."""

    symbol: str
    amount: float = 0.0
    avg_entry: float = 0.0
    realized_pnl: float = 0.0
    fees: float = 0.0


@dataclass(frozen=True, slots=True)
class PortfolioSnapshot:
    """Balances at one instant (used by tests and reports)."""

    cash: float
    equity: float
    positions: tuple[tuple[str, float], ...]
    realized_pnl: float
    unrealized_pnl: float
    fees_paid: float


class StepView(NamedTuple):
    """The engine step's declared fast interface to a portfolio (``Portfolio.step_view``).

    ``marks`` is the portfolio's own mark table: the step writes each bar's close into
    it, exactly as ``set_mark`` would, without a method call per bar. ``held`` is the
    list of non-zero positions: the step reads only whether it is empty. Both objects
    live as long as the portfolio and are updated in place, never replaced.
    """

    marks: dict[str, float]
    held: list[Position]


class Portfolio:
    """Cash, positions, marks and PnL of one spot account in one quote currency.

    Implements the broker's ``AccountView`` (``free(asset)``): the quote currency
    answers with cash, a base asset with the position of ``BASE/QUOTE``.
    """

    __slots__ = (
        "_by_base",
        "_held",
        "_marks",
        "_positions",
        "cash",
        "fees_paid",
        "initial_cash",
        "quote",
        "realized_pnl",
    )

    def __init__(self, initial_cash: float, quote: str = "USDT") -> None:
        if not (math.isfinite(initial_cash) and initial_cash >= 0):
            raise ConfigError(f"initial_cash must be a finite number >= 0, got {initial_cash}")
        self.initial_cash = float(initial_cash)
        self.quote = quote
        self.cash = float(initial_cash)
        self.fees_paid = 0.0
        self.realized_pnl = 0.0
        self._positions: dict[str, Position] = {}
        self._by_base: dict[str, str] = {}
        self._marks: dict[str, float] = {}
        # Symbols with a non-zero position, in first-bought order (deterministic).
        self._held: list[Position] = []

    # -- AccountView -------------------------------------------------------------

    def free(self, asset: str) -> float:
        """Balance of ``asset``: cash for the quote currency, else the base position."""
        if asset == self.quote:
            return self.cash
        symbol = self._by_base.get(asset)
        return self._positions[symbol].amount if symbol is not None else 0.0

    # -- queries ---------------------------------------------------------------

    def position(self, symbol: str) -> float:
        pos = self._positions.get(symbol)
        return pos.amount if pos is not None else 0.0

    def avg_entry(self, symbol: str) -> float:
        pos = self._positions.get(symbol)
        return pos.avg_entry if pos is not None else 0.0

    def get(self, symbol: str) -> Position | None:
        return self._positions.get(symbol)

    def positions(self) -> dict[str, float]:
        """Non-zero positions by symbol, in the order they were first opened."""
        return {p.symbol: p.amount for p in self._held}

    def mark(self, symbol: str) -> float:
        """Last mark (close) seen for ``symbol``; NaN before the first bar."""
        return self._marks.get(symbol, math.nan)

    def marks(self) -> dict[str, float]:
        return dict(self._marks)

    def set_mark(self, symbol: str, price: float) -> None:
        self._marks[symbol] = price

    def step_view(self) -> StepView:
        """The mark table and the held positions, for the engine's per-bar step (see
        ``StepView``); everyone else uses ``set_mark``/``positions()``."""
        return StepView(self._marks, self._held)

    def position_value(self) -> float:
        """Sum of ``position * mark`` over held symbols (the gross exposure, spot)."""
        marks = self._marks
        value = 0.0
        for p in self._held:
            value += p.amount * marks[p.symbol]
        return value

    def equity(self) -> float:
        """``cash + sum(position * mark)``."""
        if not self._held:
            return self.cash
        return self.cash + self.position_value()

    def unrealized_pnl(self) -> float:
        marks = self._marks
        return sum(p.amount * (marks[p.symbol] - p.avg_entry) for p in self._held)

    def snapshot(self) -> PortfolioSnapshot:
        return PortfolioSnapshot(
            cash=self.cash,
            equity=self.equity(),
            positions=tuple((p.symbol, p.amount) for p in self._held),
            realized_pnl=self.realized_pnl,
            unrealized_pnl=self.unrealized_pnl(),
            fees_paid=self.fees_paid,
        )

    # -- updates ---------------------------------------------------------------

    def _position_for(self, symbol: str) -> Position:
        pos = self._positions.get(symbol)
        if pos is None:
            base, _, rest = symbol.partition("/")
            quote = rest.split(":")[0]
            if quote != self.quote:
                raise ConfigError(
                    f"symbol {symbol} is quoted in {quote!r} but the portfolio's quote "
                    f"currency is {self.quote!r}; set quote_currency to {quote!r} or trade "
                    f"a {base}/{self.quote} market"
                )
            pos = Position(symbol)
            self._positions[symbol] = pos
            self._by_base[base] = symbol
        return pos

    def apply_fill(self, fill: Fill) -> None:
        """Book one fill; raises ``NegativeBalance`` if a balance would go below zero."""
        price, amount, fee = fill.price, fill.amount, fill.fee
        if not (amount > 0 and price > 0 and math.isfinite(price) and math.isfinite(fee)):
            raise NegativeBalance(
                f"fill of order {fill.order_id} ({fill.symbol}): amount {amount}, price "
                f"{price}, fee {fee} are not a valid execution; the broker must not emit it"
            )
        symbol = fill.symbol
        pos = self._positions.get(symbol)
        if pos is None:
            pos = self._position_for(symbol)
        notional = price * amount
        was_flat = pos.amount == 0.0
        if fill.side is _BUY:
            cash = self.cash - (notional + fee)  # the broker's cost expression, bit for bit
            if cash < 0.0 and -cash > REL_TOLERANCE * (notional + abs(fee)):
                raise NegativeBalance(
                    f"buy fill of order {fill.order_id} ({fill.symbol} {amount} @ {price}, "
                    f"fee {fee}) costs {notional + fee:.8f} {self.quote} but cash is "
                    f"{self.cash:.8f}; the broker must size or refuse it"
                )
            new_amount = pos.amount + amount
            pos.avg_entry = (pos.avg_entry * pos.amount + notional) / new_amount
            pos.amount = new_amount
            self.cash = cash
        else:
            if amount > pos.amount and amount - pos.amount > REL_TOLERANCE * amount:
                raise NegativeBalance(
                    f"sell fill of order {fill.order_id} sells {amount} {fill.symbol} but "
                    f"the position is {pos.amount}; spot cannot go short, the broker must "
                    f"refuse it (use reduce_only or size from ctx.position())"
                )
            realized = (price - pos.avg_entry) * amount
            pos.realized_pnl += realized
            self.realized_pnl += realized
            # Below zero only within the tolerance checked above: float noise of a full sell.
            left = max(pos.amount - amount, 0.0)
            pos.amount = left
            if left == 0.0:
                pos.avg_entry = 0.0
            self.cash = self.cash + (notional - fee)
        pos.fees += fee
        self.fees_paid += fee
        marks = self._marks
        if symbol not in marks:
            marks[symbol] = price
        now_flat = pos.amount == 0.0
        if was_flat and not now_flat:
            self._held.append(pos)
        elif now_flat and not was_flat:
            self._held.remove(pos)
