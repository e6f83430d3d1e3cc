"""Market metadata the simulated exchange needs to behave like the real one.

``MarketSpec`` carries what ccxt's ``load_markets()`` reports (tick size, lot step,
minimum amount and notional, maker/taker fees, and which currency a fee is charged
in: ``fee_side``). Adapters build it from the stored exchange snapshot; the engine
never sees a ccxt dict.

**Fee side** (ccxt's market ``feeSide``; ccxt's default is ``quote``): ``get`` charges
the currency received (a buy pays in the base coin, a sell in the quote currency:
Binance, OKX, Bybit spot), ``give`` the currency paid with, ``base`` and ``quote``
always that currency (Coinbase: quote). A buy of 0.01 BTC at a 0.1 % fee on a ``get``
market leaves 0.00999 BTC.

**Dust.** An amount whose lot-rounded value is under the market's minimum amount or
minimum notional cannot be sold on its own (``is_dust``); what an exit leaves below
that is reported as dust and the strategy sees a flat position (see
``accounting.portfolio``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import Enum

from tradeloom.engine.contracts import ContractSpec
from tradeloom.engine.errors import ConfigError


class FeeSide(str, Enum):
    """Which currency a market charges its trading fee in (ccxt's ``feeSide``).

    >>> FeeSide.GET.in_base(buy=True), FeeSide.GET.in_base(buy=False)
    (True, False)
    >>> FeeSide("give").in_base(buy=False), FeeSide.QUOTE.in_base(buy=True)
    (True, False)
    """

    GET = "get"  # the currency received: base on a buy, quote on a sell
    GIVE = "give"  # the currency given: quote on a buy, base on a sell
    BASE = "base"
    QUOTE = "quote"

    def in_base(self, buy: bool) -> bool:
        """True when a ``buy`` (else a sell) fill pays its fee in the base currency."""
        if self is FeeSide.QUOTE:
            return False
        if self is FeeSide.BASE:
            return True
        return buy if self is FeeSide.GET else not buy


def step_decimals(step: float) -> int:
    """Number of decimals needed to print ``step`` exactly (0.001 -> 3, 5.0 -> 0)."""
    text = f"{step:.12f}".rstrip("0")
    return len(text.split(".")[1]) if "." in text else 0


@dataclass(frozen=True, slots=True)
class MarketSpec:
    """Trading rules for one symbol.

    ``tick_size``/``lot_step`` of ``None`` mean "no rounding" (fractional to float
    precision). Fees are fractions (0.001 = 0.1 %), charged in the currency
    ``fee_side`` names (a ``FeeSide`` or its ccxt name; default ``quote``, ccxt's).

    >>> spec = MarketSpec("BTC/USDT", tick_size=0.01, lot_step=0.00001, min_notional=5.0)
    >>> spec.round_amount(0.123456789)
    0.12345
    >>> spec.round_price(101.2349)
    101.23
    >>> spec.base, spec.quote
    ('BTC', 'USDT')
    >>> MarketSpec("BTC/USDT", fee_side="get").fee_side
    <FeeSide.GET: 'get'>
    """

    symbol: str
    tick_size: float | None = None
    lot_step: float | None = None
    min_amount: float = 0.0
    min_notional: float = 0.0
    maker_fee: float = 0.001
    taker_fee: float = 0.001
    fee_side: FeeSide = FeeSide.QUOTE
    contract: ContractSpec | None = None

    def __post_init__(self) -> None:
        if self.contract is not None and not isinstance(self.contract, ContractSpec):
            object.__setattr__(self, "contract", ContractSpec.from_dict(dict(self.contract)))
        if not isinstance(self.fee_side, FeeSide):
            try:
                side = FeeSide(self.fee_side)
            except ValueError:
                raise ConfigError(
                    f"market {self.symbol}: fee_side {self.fee_side!r} is not one of "
                    "get, give, base, quote (ccxt's feeSide)"
                ) from None
            object.__setattr__(self, "fee_side", side)
        if "/" not in self.symbol:
            raise ConfigError(
                f"market symbol {self.symbol!r} must look like BASE/QUOTE, e.g. 'BTC/USDT'"
            )
        for name in ("tick_size", "lot_step"):
            value = getattr(self, name)
            if value is not None and not (math.isfinite(value) and value > 0):
                raise ConfigError(f"market {self.symbol}: {name} must be > 0, got {value}")
        for name in ("min_amount", "min_notional"):
            value = getattr(self, name)
            if not (math.isfinite(value) and value >= 0):
                raise ConfigError(f"market {self.symbol}: {name} must be >= 0, got {value}")
        for name in ("maker_fee", "taker_fee"):
            value = getattr(self, name)
            if not (math.isfinite(value) and -0.01 <= value < 0.1):
                raise ConfigError(
                    f"market {self.symbol}: {name} {value} is outside [-0.01, 0.1); "
                    "fees are fractions (0.001 = 0.1 %)"
                )
        if self.contract is not None and self.contract.settle not in ("", self.quote):
            raise ConfigError(
                f"market {self.symbol}: settle currency {self.contract.settle!r} differs from the "
                f"quote {self.quote!r}; only linear contracts settled in the quote are supported")

    @property
    def is_perp(self) -> bool:
        """True for a perpetual swap (a ``contract`` is given)."""
        return self.contract is not None

    @property
    def base(self) -> str:
        return self.symbol.split("/")[0]

    @property
    def quote(self) -> str:
        return self.symbol.split("/")[1].split(":")[0]

    def round_price(self, price: float) -> float:
        """Round a price to the nearest tick (as ccxt does before sending)."""
        if self.tick_size is None:
            return price
        ticks = round(price / self.tick_size)
        return round(ticks * self.tick_size, step_decimals(self.tick_size))

    def sellable(self, amount: float, price: float) -> float:
        """The part of a holding of ``amount`` an order can sell at ``price``: the amount
        truncated to the lot step, or 0.0 when that is under the minimum amount or the
        minimum notional (the holding is then dust).

        >>> spec = MarketSpec("BTC/USDT", lot_step=0.00001, min_amount=0.00001, min_notional=5.0)
        >>> spec.sellable(0.01232766, 30000.0), spec.sellable(0.00000766, 30000.0)
        (0.01232, 0.0)
        >>> spec.sellable(0.0001, 30000.0)  # 3 USDT: under the minimum notional
        0.0
        """
        rounded = self.round_amount(amount)
        if rounded <= 0.0 or rounded < self.min_amount or rounded * price < self.min_notional:
            return 0.0
        return rounded

    def is_dust(self, amount: float, price: float) -> bool:
        """True for a positive holding no order can sell (see ``sellable``)."""
        return amount > 0.0 and self.sellable(amount, price) == 0.0

    def round_amount(self, amount: float) -> float:
        """Truncate an amount toward zero to the lot step (as ccxt does before sending)."""
        if self.lot_step is None:
            return amount
        steps = math.floor(abs(amount) / self.lot_step + 1e-9)
        value = round(steps * self.lot_step, step_decimals(self.lot_step))
        return math.copysign(value, amount) if value else 0.0
