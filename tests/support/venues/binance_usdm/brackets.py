"""Notional and leverage brackets (``GET /fapi/v1/leverageBracket``) and what they imply.

Docs (USDⓈ-M "Notional and Leverage Brackets (USER_DATA)"): each bracket has
``bracket``, ``initialLeverage`` (the highest leverage allowed while the position's
notional is in the bracket), ``notionalCap``, ``notionalFloor``, ``maintMarginRatio``
and ``cum`` (the "maintenance amount", a quick-calculation number). Maintenance
margin of a position is ``notional * maintMarginRatio - cum`` (USDⓈ-M FAQ "How to
Calculate Liquidation Price of USDⓈ-M Futures Contracts", Maintenance Amount
section), where ``cum`` follows ``cum_n = cum_(n-1) + floor_n * (mmr_n - mmr_(n-1))``
(the same FAQ family's "Maintenance Amount formula", COIN-M page), so maintenance
margin is continuous at every bracket border.

Values: BTCUSDT brackets 1-7 as captured from the live endpoint in a public
repository (``initialLeverage`` 125/100/75/50/25/20/10, caps 50k/600k/3M/12M/70M/100M/
230M, mmr 0.4 %-5 %, cum 0/50/950/11450/131450/481450/2981450 - these satisfy the
recurrence). ETHUSDT: leverages, caps and ratios from the same capture; its ``cum``
column there did not satisfy the recurrence, so ``cum`` is recomputed with it
(NOTES.md, assumptions).

>>> table = BRACKETS["BTCUSDT"]
>>> table.at(Decimal("30000")).maint_ratio, table.at(Decimal("50000")).bracket
(Decimal('0.004'), 1)
>>> table.maintenance(Decimal("100000"))     # 100000 * 0.005 - 50
Decimal('450.000')
>>> table.max_leverage, table.max_notional(20)
(125, Decimal('100000000'))
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from venues.common.money import Decimal


@dataclass(frozen=True, slots=True)
class Bracket:
    """One notional bracket of a symbol."""

    bracket: int
    initial_leverage: int
    floor: Decimal
    cap: Decimal
    maint_ratio: Decimal
    cum: Decimal

    def json(self) -> dict[str, Any]:
        # Docs' response example sends numbers, not strings: "notionalCap": 10000,
        # "maintMarginRatio": 0.0065, "cum": 0.0.
        return {"bracket": self.bracket, "initialLeverage": self.initial_leverage,
                "notionalCap": int(self.cap), "notionalFloor": int(self.floor),
                "maintMarginRatio": float(self.maint_ratio), "cum": float(self.cum)}


@dataclass(frozen=True, slots=True)
class BracketTable:
    """A symbol's brackets, lowest notional first."""

    symbol: str
    brackets: tuple[Bracket, ...]

    def at(self, notional: Decimal) -> Bracket:
        """The bracket holding ``notional`` (caps inclusive; above the last: the last)."""
        size = abs(notional)
        for bracket in self.brackets:
            if size <= bracket.cap:
                return bracket
        return self.brackets[-1]

    def maintenance(self, notional: Decimal) -> Decimal:
        """Maintenance margin ``|notional| * mmr - cum`` of the holding bracket."""
        bracket = self.at(notional)
        return abs(notional) * bracket.maint_ratio - bracket.cum

    @property
    def max_leverage(self) -> int:
        return self.brackets[0].initial_leverage

    def max_notional(self, leverage: int) -> Decimal:
        """The largest position notional allowed at ``leverage`` (the cap of the last
        bracket whose ``initialLeverage`` is at least it): -2027 beyond it."""
        allowed = [b.cap for b in self.brackets if b.initial_leverage >= leverage]
        return allowed[-1] if allowed else Decimal(0)

    def json(self) -> dict[str, Any]:
        return {"symbol": self.symbol, "brackets": [b.json() for b in self.brackets]}


def _table(symbol: str, rows: list[tuple[int, str, str, str]]) -> BracketTable:
    """Brackets from (initialLeverage, floor, cap, mmr) rows; ``cum`` by the recurrence."""
    brackets: list[Bracket] = []
    cum = Decimal(0)
    previous_ratio = Decimal(0)
    for i, (leverage, floor, cap, ratio) in enumerate(rows, start=1):
        floor_d, ratio_d = Decimal(floor), Decimal(ratio)
        cum += floor_d * (ratio_d - previous_ratio)
        previous_ratio = ratio_d
        brackets.append(Bracket(i, leverage, floor_d, Decimal(cap), ratio_d, cum))
    return BracketTable(symbol, tuple(brackets))


BRACKETS: dict[str, BracketTable] = {
    "BTCUSDT": _table("BTCUSDT", [
        (125, "0", "50000", "0.004"), (100, "50000", "600000", "0.005"),
        (75, "600000", "3000000", "0.0065"), (50, "3000000", "12000000", "0.01"),
        (25, "12000000", "70000000", "0.02"), (20, "70000000", "100000000", "0.025"),
        (10, "100000000", "230000000", "0.05")]),
    "ETHUSDT": _table("ETHUSDT", [
        (100, "0", "50000", "0.005"), (75, "50000", "600000", "0.0065"),
        (50, "600000", "3000000", "0.01"), (25, "3000000", "12000000", "0.02"),
        (20, "12000000", "30000000", "0.025"), (10, "30000000", "100000000", "0.05"),
        (5, "100000000", "200000000", "0.1")]),
}


def default_table(symbol: str) -> BracketTable:
    """Brackets for a symbol without published values here: BTCUSDT's shape."""
    return BracketTable(symbol, BRACKETS["BTCUSDT"].brackets)
