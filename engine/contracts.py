"""Contract terms of a perpetual swap: what a ``MarketSpec`` adds for a derivative.

tradeloom models **linear perpetual swaps** (USDT-margined, ccxt symbols like
``BTC/USDT:USDT``): profit and loss, margin and fees are in the settle currency, which
is the portfolio's quote currency. Amounts stay in base units everywhere in the engine
(as for spot); ``contract_size`` (ccxt's ``contractSize``: 1 base unit per contract on
Binance USDⓈ-M, 0.01 BTC on OKX) only converts at the ccxt edge.

**Inverse contracts** (COIN-M, ``BTC/USD:BTC``) are refused: their PnL and margin are in
the base coin, which a portfolio kept in one quote currency cannot book without a second
cash balance per coin. ``ContractSpec(linear=False)`` raises a ``ConfigError`` saying so.

**Leverage brackets** (ccxt ``fetch_leverage_tiers``, Binance ``GET
/fapi/v1/leverageBracket``): a position's notional falls in one bracket, which gives the
maximum leverage allowed for a position that large, the maintenance margin rate and the
maintenance amount (``cum``), so that ``maintenance margin = notional * mmr - cum`` is
continuous across brackets (Binance, "Maintenance Amount formula": ``cum_n = floor_n *
(mmr_n - mmr_{n-1}) + cum_{n-1}``; the brackets here are checked against it).

>>> spec = ContractSpec(brackets=(
...     LeverageBracket(0.0, 50_000.0, 125.0, 0.004, 0.0),
...     LeverageBracket(50_000.0, 600_000.0, 100.0, 0.005, 50.0)))
>>> spec.bracket(264_000.0).mmr, spec.maintenance_margin(264_000.0)
(0.005, 1270.0)
>>> spec.max_leverage, spec.max_notional(110.0)
(125.0, 50000.0)
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import Enum
from typing import Any

from tradeloom.engine.errors import ConfigError

#: Binance USDⓈ-M's usual funding interval: 00:00, 08:00 and 16:00 UTC.
EIGHT_HOURS_MS = 8 * 3_600_000


class MarginMode(str, Enum):
    """How a perpetual position is margined (Binance ``marginType``, ccxt ``marginMode``).

    ``isolated``: the position has its own margin (``notional / leverage`` at entry); a
    liquidation loses that margin and nothing more. ``cross``: every cross position
    shares the account's wallet balance; a liquidation can take all of it.
    """

    ISOLATED = "isolated"
    CROSS = "cross"


@dataclass(frozen=True, slots=True)
class LeverageBracket:
    """One notional tier: ``floor <= notional < cap`` (quote units).

    ``max_leverage`` is the highest leverage a position this large may use, ``mmr`` the
    maintenance margin rate and ``cum`` the maintenance amount (Binance's names:
    ``notionalFloor``, ``notionalCap``, ``initialLeverage``, ``maintMarginRatio``,
    ``cum``).
    """

    floor: float
    cap: float
    max_leverage: float
    mmr: float
    cum: float = 0.0

    def __post_init__(self) -> None:
        if not (math.isfinite(self.floor) and self.floor >= 0.0 and self.cap > self.floor):
            raise ConfigError(f"leverage bracket: floor {self.floor} must be >= 0 and below cap "
                              f"{self.cap}")
        if not (math.isfinite(self.max_leverage) and self.max_leverage >= 1.0):
            raise ConfigError(f"leverage bracket [{self.floor}, {self.cap}): max_leverage "
                              f"{self.max_leverage} must be >= 1")
        if not (math.isfinite(self.mmr) and 0.0 < self.mmr < 1.0):
            raise ConfigError(f"leverage bracket [{self.floor}, {self.cap}): maintenance margin "
                              f"rate {self.mmr} must be in (0, 1) (0.004 = 0.4 %)")
        if not (math.isfinite(self.cum) and self.cum >= 0.0):
            raise ConfigError(f"leverage bracket [{self.floor}, {self.cap}): maintenance amount "
                              f"{self.cum} must be >= 0")

    def maintenance_margin(self, notional: float) -> float:
        """``notional * mmr - cum`` (quote units)."""
        return notional * self.mmr - self.cum

    def to_dict(self) -> dict[str, float]:
        return {"floor": self.floor, "cap": None if math.isinf(self.cap) else self.cap,
                "max_leverage": self.max_leverage, "mmr": self.mmr, "cum": self.cum}


#: When a venue's brackets are unknown: one tier, 20x at most, 0.5 % maintenance margin.
#: Conservative next to Binance's BTCUSDT first tier (125x, 0.4 %); runs that use it say so.
DEFAULT_BRACKETS = (LeverageBracket(0.0, math.inf, 20.0, 0.005, 0.0),)

#: Binance USDⓈ-M ``liquidationFee`` of BTCUSDT and ETHUSDT (exchangeInfo): 1.25 %.
DEFAULT_LIQUIDATION_FEE = 0.0125


@dataclass(frozen=True, slots=True)
class ContractSpec:
    """Terms of a linear perpetual swap (see the module docstring).

    ``funding_interval_ms``: the time between funding payments (8 h on most Binance
    USDⓈ-M symbols); the stored funding history gives the actual times.
    ``liquidation_fee``: the clearance fee charged on a liquidated notional (Binance's
    ``liquidationFee``, a fraction).
    """

    brackets: tuple[LeverageBracket, ...] = DEFAULT_BRACKETS
    contract_size: float = 1.0
    linear: bool = True
    settle: str = ""
    funding_interval_ms: int = EIGHT_HOURS_MS
    liquidation_fee: float = DEFAULT_LIQUIDATION_FEE
    source: str = ""

    def __post_init__(self) -> None:
        if not self.linear:
            raise ConfigError(
                "inverse (coin-margined) contracts are not supported: their PnL and margin are "
                "in the base coin and a run's portfolio keeps one quote currency; trade the "
                "linear USDT-margined perpetual (e.g. BTC/USDT:USDT)")
        brackets = tuple(self.brackets)
        object.__setattr__(self, "brackets", brackets)
        if not brackets:
            raise ConfigError("a perpetual needs at least one leverage bracket")
        if brackets[0].floor != 0.0:
            raise ConfigError(f"the first leverage bracket must start at notional 0, got "
                              f"{brackets[0].floor}")
        for prev, cur in zip(brackets, brackets[1:]):
            if cur.floor != prev.cap:
                raise ConfigError(f"leverage brackets must be contiguous: one ends at {prev.cap}, "
                                  f"the next starts at {cur.floor}")
            expected = cur.floor * (cur.mmr - prev.mmr) + prev.cum
            if abs(expected - cur.cum) > 1e-6 * max(1.0, abs(expected)):
                raise ConfigError(
                    f"leverage bracket [{cur.floor}, {cur.cap}): maintenance amount {cur.cum} "
                    f"breaks the venue's rule floor * (mmr - previous mmr) + previous amount = "
                    f"{expected}; check the bracket table")
        if not (math.isfinite(self.contract_size) and self.contract_size > 0.0):
            raise ConfigError(f"contract_size {self.contract_size} must be > 0")
        if not (isinstance(self.funding_interval_ms, int) and self.funding_interval_ms > 0):
            raise ConfigError(f"funding_interval_ms {self.funding_interval_ms!r} must be a "
                              "positive int of ms (8 h = 28800000)")
        if not (math.isfinite(self.liquidation_fee) and 0.0 <= self.liquidation_fee < 0.5):
            raise ConfigError(f"liquidation_fee {self.liquidation_fee} must be in [0, 0.5) "
                              "(0.0125 = 1.25 %)")

    @property
    def max_leverage(self) -> float:
        """The highest leverage any position may use (the first bracket's)."""
        return max(b.max_leverage for b in self.brackets)

    def bracket(self, notional: float) -> LeverageBracket:
        """The bracket holding ``notional`` (``floor <= |notional| < cap``; the last
        bracket for anything beyond)."""
        notional = abs(notional)
        for b in self.brackets:
            if notional < b.cap:
                return b
        return self.brackets[-1]

    def maintenance_margin(self, notional: float) -> float:
        """Maintenance margin of a position of ``notional`` (quote units, >= 0)."""
        notional = abs(notional)
        return max(self.bracket(notional).maintenance_margin(notional), 0.0)

    def max_notional(self, leverage: float) -> float:
        """The largest notional a position may reach at ``leverage``: the cap of the last
        bracket whose maximum leverage is at least ``leverage`` (0 when none is)."""
        cap = 0.0
        for b in self.brackets:
            if b.max_leverage >= leverage:
                cap = b.cap
        return cap

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON (the catalog and journals store it; ``from_dict`` reads it back)."""
        return {
            "brackets": [b.to_dict() for b in self.brackets],
            "contract_size": self.contract_size,
            "linear": self.linear,
            "settle": self.settle,
            "funding_interval_ms": self.funding_interval_ms,
            "liquidation_fee": self.liquidation_fee,
            "source": self.source,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ContractSpec:
        """The inverse of ``to_dict`` (``cap`` may be ``null`` or missing for the last tier).

        >>> ContractSpec.from_dict({"brackets": [{"floor": 0, "cap": None, "max_leverage": 10,
        ...                                      "mmr": 0.01}]}).brackets[0].cap
        inf
        """
        raw = data.get("brackets") or []
        brackets = tuple(
            LeverageBracket(float(b.get("floor", 0.0)),
                            math.inf if b.get("cap") is None else float(b["cap"]),
                            float(b["max_leverage"]), float(b["mmr"]), float(b.get("cum", 0.0)))
            for b in raw)
        return cls(
            brackets=brackets or DEFAULT_BRACKETS,
            contract_size=float(data.get("contract_size", 1.0)),
            linear=bool(data.get("linear", True)),
            settle=str(data.get("settle", "")),
            funding_interval_ms=int(data.get("funding_interval_ms", EIGHT_HOURS_MS)),
            liquidation_fee=float(data.get("liquidation_fee", DEFAULT_LIQUIDATION_FEE)),
            source=str(data.get("source", "")),
        )


def is_perp_symbol(symbol: str) -> bool:
    """ccxt's unified swap symbol carries the settle currency after a colon.

    >>> is_perp_symbol("BTC/USDT:USDT"), is_perp_symbol("BTC/USDT")
    (True, False)
    """
    return ":" in symbol


__all__ = [
    "DEFAULT_BRACKETS",
    "DEFAULT_LIQUIDATION_FEE",
    "EIGHT_HOURS_MS",
    "ContractSpec",
    "LeverageBracket",
    "MarginMode",
    "is_perp_symbol",
]
