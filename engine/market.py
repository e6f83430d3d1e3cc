"""Market metadata the simulated exchange needs to behave like the real one.

``MarketSpec`` carries what ccxt's ``load_markets()`` reports (tick size, lot step,
minimum amount and notional, maker/taker fees). Adapters build it from the stored
exchange snapshot; the engine never sees a ccxt dict.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from tradeloom.engine.errors import ConfigError


def _decimals(step: float) -> int:
    """Number of decimals needed to print ``step`` exactly (0.001 -> 3, 5.0 -> 0)."""
    text = f"{step:.12f}".rstrip("0")
    return len(text.split(".")[1]) if "." in text else 0


@dataclass(frozen=True, slots=True)
class MarketSpec:
    """Trading rules for one symbol.

    ``tick_size``/``lot_step`` of ``None`` mean "no rounding" (fractional to float
    precision). Fees are fractions (0.001 = 0.1 %).

    >>> spec = MarketSpec("BTC/USDT", tick_size=0.01, lot_step=0.00001, min_notional=5.0)
    >>> spec.round_amount(0.123456789)
    0.12345
    >>> spec.round_price(101.2349)
    101.23
    >>> spec.base, spec.quote
    ('BTC', 'USDT')
    """

    symbol: str
    tick_size: float | None = None
    lot_step: float | None = None
    min_amount: float = 0.0
    min_notional: float = 0.0
    maker_fee: float = 0.001
    taker_fee: float = 0.001

    def __post_init__(self) -> None:
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
        return round(ticks * self.tick_size, _decimals(self.tick_size))

    def round_amount(self, amount: float) -> float:
        """Truncate an amount toward zero to the lot step (as ccxt does before sending)."""
        if self.lot_step is None:
            return amount
        steps = math.floor(abs(amount) / self.lot_step + 1e-9)
        value = round(steps * self.lot_step, _decimals(self.lot_step))
        return math.copysign(value, amount) if value else 0.0
