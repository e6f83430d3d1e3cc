"""Slippage models: how far a taker fill lands from the price that triggered it (the
``SlippageModel`` port, declared in ``engine.ports``).

Slippage is always *adverse* (buys pay more, sells receive less) and applies to taker
fills only: a maker fill executes at its own resting limit price by definition. The
broker caps a slipped price at the order's limit for limit-priced orders.

Slipped prices are not rounded to the tick: they model an average execution price
across several price levels, which need not sit on the grid.
"""

from __future__ import annotations

import math

from tradeloom.engine.errors import ConfigError
from tradeloom.engine.orders import Liquidity, Side
from tradeloom.engine.ports import SlippageModel

_MAKER = Liquidity.MAKER  # a module global reads faster than ``Liquidity.MAKER``


class NoSlippage:
    """Fills at the reference price.

    >>> NoSlippage().price(Side.BUY, 100.0, 1.0, 10.0, Liquidity.TAKER)
    100.0
    """

    __slots__ = ()

    def price(
        self, side: Side, price: float, amount: float, volume: float, liquidity: Liquidity
    ) -> float:
        return price

    def describe(self) -> dict[str, str]:
        """Kind and parameters as plain JSON, for run manifests and their config hash."""
        return {"kind": "none"}

    def __repr__(self) -> str:
        return "NoSlippage()"


class FixedBpsSlippage:
    """A constant adverse offset of ``bps`` basis points (1 bp = 0.01 %) for takers.

    >>> s = FixedBpsSlippage(10)
    >>> round(s.price(Side.BUY, 100.0, 1.0, 0.0, Liquidity.TAKER), 10)
    100.1
    >>> round(s.price(Side.SELL, 100.0, 1.0, 0.0, Liquidity.TAKER), 10)
    99.9
    >>> s.price(Side.BUY, 100.0, 1.0, 0.0, Liquidity.MAKER)
    100.0
    """

    __slots__ = ("bps",)

    def __init__(self, bps: float) -> None:
        if not (math.isfinite(bps) and 0.0 <= bps < 10_000.0):
            raise ConfigError(f"FixedBpsSlippage(bps={bps}): must be in [0, 10000) basis points")
        self.bps = bps

    def price(
        self, side: Side, price: float, amount: float, volume: float, liquidity: Liquidity
    ) -> float:
        if liquidity is _MAKER:
            return price
        return price * (1.0 + side.sign * self.bps * 1e-4)

    def describe(self) -> dict[str, str | float]:
        """Kind and parameters as plain JSON, for run manifests and their config hash.

        >>> FixedBpsSlippage(5).describe()
        {'kind': 'fixed_bps', 'bps': 5}
        """
        return {"kind": "fixed_bps", "bps": self.bps}

    def __repr__(self) -> str:
        return f"FixedBpsSlippage(bps={self.bps})"


class VolumeParticipationSlippage:
    """Market impact growing with the share of the bar's volume a fill takes.

    ``impact_bps = min(max_bps, k_bps * (amount / volume) ** exponent)`` (square-root
    impact by default). A bar with no volume counts as participation 1. Takers only.

    >>> s = VolumeParticipationSlippage(k_bps=100, exponent=0.5)
    >>> round(s.price(Side.BUY, 100.0, 1.0, 100.0, Liquidity.TAKER), 10)  # 1% of volume: 10 bps
    100.1
    >>> round(s.price(Side.SELL, 100.0, 25.0, 100.0, Liquidity.TAKER), 10)  # 25%: 50 bps
    99.5
    >>> s.price(Side.BUY, 100.0, 1.0, 100.0, Liquidity.MAKER)
    100.0
    """

    __slots__ = ("exponent", "k_bps", "max_bps")

    def __init__(self, k_bps: float = 10.0, exponent: float = 0.5, max_bps: float = 500.0) -> None:
        for name, value in (("k_bps", k_bps), ("exponent", exponent), ("max_bps", max_bps)):
            if not (math.isfinite(value) and value >= 0.0):
                raise ConfigError(
                    f"VolumeParticipationSlippage({name}={value}): must be a finite number >= 0"
                )
        if max_bps >= 10_000.0:
            raise ConfigError(
                f"VolumeParticipationSlippage(max_bps={max_bps}): must be < 10000 basis points"
            )
        self.k_bps = k_bps
        self.exponent = exponent
        self.max_bps = max_bps

    def impact_bps(self, amount: float, volume: float) -> float:
        """Impact in basis points of ``amount`` against ``volume``."""
        participation = amount / volume if volume > 0.0 else 1.0
        return min(self.max_bps, self.k_bps * participation**self.exponent)

    def price(
        self, side: Side, price: float, amount: float, volume: float, liquidity: Liquidity
    ) -> float:
        if liquidity is _MAKER:
            return price
        return price * (1.0 + side.sign * self.impact_bps(amount, volume) * 1e-4)

    def describe(self) -> dict[str, str | float]:
        """Kind and parameters as plain JSON, for run manifests and their config hash."""
        return {"kind": "volume", "k_bps": self.k_bps, "exponent": self.exponent,
                "max_bps": self.max_bps}

    def __repr__(self) -> str:
        return (
            f"VolumeParticipationSlippage(k_bps={self.k_bps}, exponent={self.exponent}, "
            f"max_bps={self.max_bps})"
        )


__all__ = ["FixedBpsSlippage", "NoSlippage", "SlippageModel", "VolumeParticipationSlippage"]
