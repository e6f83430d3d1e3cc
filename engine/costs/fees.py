"""Fee models: what one fill costs, in the quote currency (the ``FeeModel`` port,
declared in ``engine.ports``).

A fee model answers the questions the simulated broker asks on every fill and the
risk engine's sizing asks before it: the broker and the sizing of one run hold the
*same* instance (the sizing reads ``Broker.fees``), so they cannot disagree.

- ``fee(spec, price, amount, liquidity)``: the fee of this fill (quote currency);
- ``max_amount(spec, price, budget, liquidity)``: the largest amount whose cost
  *including* the fee fits in ``budget`` quote units (unrounded; the broker truncates it
  to the lot step). This is how all-in orders (``Order.quote_amount``) and
  insufficient-funds reductions stay payable without a fee surprise;
- ``rate(spec, liquidity, notional)``: the fee as a fraction of a fill's notional, what
  risk sizing plans an order's fee with.

A fee model prices the *standard* commission in the quote currency. Which balance
pays it is the market's ``fee_side`` (``MarketSpec``) or the account's ``FeeAsset``;
the simulated broker applies that rule (``engine.sim.execution``). With the fee in
the quote currency the cost of a buy is ``price * amount + fee`` and the proceeds of
a sell ``price * amount - fee``; with the fee in the coin received (``fee_side =
"get"``) a buy costs ``price * amount`` and delivers ``amount * (1 - rate)``.
Portfolios use the same expressions so that the broker's affordability check and the
portfolio's balance agree to the last bit.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from tradeloom.engine.errors import ConfigError
from tradeloom.engine.market import MarketSpec
from tradeloom.engine.orders import MAX_MAKER_REBATE, Liquidity
from tradeloom.engine.ports import FeeModel

# Bound once: reading ``Liquidity.MAKER`` goes through the enum's metaclass (~70 ns),
# a module global costs a tenth of that, and fees are computed several times per fill.
_MAKER = Liquidity.MAKER


class MakerTakerFees:
    """Proportional fees: ``price * amount * rate``, the rate chosen by liquidity.

    By default the rates come from the market (``MarketSpec.maker_fee``/``taker_fee``,
    what ccxt reports); ``maker``/``taker`` override them for every market, e.g. to model
    a VIP tier or a fee rebate (negative rate).

    >>> spec = MarketSpec("BTC/USDT", maker_fee=0.0002, taker_fee=0.001)
    >>> MakerTakerFees().fee(spec, 100.0, 2.0, Liquidity.TAKER)
    0.2
    >>> round(MakerTakerFees().fee(spec, 100.0, 2.0, Liquidity.MAKER), 10)
    0.04
    >>> MakerTakerFees(taker=0.0).fee(spec, 100.0, 2.0, Liquidity.TAKER)
    0.0
    >>> round(MakerTakerFees().max_amount(spec, 100.0, 1001.0, Liquidity.TAKER), 10)
    10.0
    >>> MakerTakerFees(taker=0.02).rate(spec, Liquidity.TAKER)
    0.02
    """

    __slots__ = ("maker", "taker")

    def __init__(self, maker: float | None = None, taker: float | None = None) -> None:
        for name, value in (("maker", maker), ("taker", taker)):
            if value is not None and not (math.isfinite(value) and -MAX_MAKER_REBATE <= value < 0.1):
                raise ConfigError(
                    f"MakerTakerFees({name}={value}): rates are fractions in [-0.01, 0.1) "
                    "(0.001 = 0.1 %); pass None to use the market's rate"
                )
        self.maker = maker
        self.taker = taker

    def rate(self, spec: MarketSpec, liquidity: Liquidity, notional: float | None = None) -> float:
        """The fee rate that applies to ``liquidity`` on ``spec``'s market (any notional)."""
        if liquidity is _MAKER:
            return spec.maker_fee if self.maker is None else self.maker
        return spec.taker_fee if self.taker is None else self.taker

    def fee(self, spec: MarketSpec, price: float, amount: float, liquidity: Liquidity) -> float:
        return price * amount * self.rate(spec, liquidity)

    def max_amount(
        self, spec: MarketSpec, price: float, budget: float, liquidity: Liquidity
    ) -> float:
        if budget <= 0.0 or price <= 0.0:
            return 0.0
        return budget / (price * (1.0 + self.rate(spec, liquidity)))

    def describe(self) -> dict[str, str | float | None]:
        """Kind and parameters as plain JSON, for run manifests and their config hash.

        >>> MakerTakerFees(taker=0.0005).describe()
        {'kind': 'maker_taker', 'maker': None, 'taker': 0.0005}
        """
        return {"kind": "maker_taker", "maker": self.maker, "taker": self.taker}

    def __repr__(self) -> str:
        return f"MakerTakerFees(maker={self.maker}, taker={self.taker})"


class FixedFees:
    """A flat fee per fill in the quote currency, whatever the size or liquidity.

    Useful for tests and for venues that charge per trade.

    >>> spec = MarketSpec("BTC/USDT")
    >>> FixedFees(1.5).fee(spec, 100.0, 2.0, Liquidity.MAKER)
    1.5
    >>> FixedFees(1.0).max_amount(spec, 100.0, 101.0, Liquidity.TAKER)
    1.0
    >>> FixedFees(1.5).rate(spec, Liquidity.TAKER, 300.0)
    0.005
    """

    __slots__ = ("per_fill",)

    def __init__(self, per_fill: float) -> None:
        if not (math.isfinite(per_fill) and per_fill >= 0.0):
            raise ConfigError(f"FixedFees(per_fill={per_fill}): must be a finite amount >= 0")
        self.per_fill = per_fill

    def fee(self, spec: MarketSpec, price: float, amount: float, liquidity: Liquidity) -> float:
        return self.per_fill

    def max_amount(
        self, spec: MarketSpec, price: float, budget: float, liquidity: Liquidity
    ) -> float:
        if price <= 0.0:
            return 0.0
        return max(0.0, (budget - self.per_fill) / price)

    def describe(self) -> dict[str, str | float]:
        """Kind and parameters as plain JSON, for run manifests and their config hash."""
        return {"kind": "fixed", "per_fill": self.per_fill}

    def rate(self, spec: MarketSpec, liquidity: Liquidity, notional: float | None = None) -> float:
        """``per_fill / notional``: the flat fee as a fraction of a fill of ``notional``
        (0 without a positive notional)."""
        if notional is None or not notional > 0.0:
            return 0.0
        return self.per_fill / notional

    def __repr__(self) -> str:
        return f"FixedFees(per_fill={self.per_fill})"


@dataclass(frozen=True, slots=True)
class FeeAsset:
    """Pay trading fees with a third asset: Binance's "use BNB to pay fees" option.

    A fill's standard commission (the fee model's quote value) is converted to
    ``asset`` at its price in the quote currency and reduced by ``discount``
    (Binance: 25 %); when the account holds too little of ``asset`` the market's own
    rule applies (Binance: "the full commission will be taken out of your received
    amount"). The asset is valued at its market's mark, so a run that pays fees with
    BNB must have ``BNB/<quote>`` among its markets or a fixed ``rate`` (the simulated
    broker refuses it otherwise: it could not value the fee).

    >>> FeeAsset("BNB").describe()
    {'asset': 'BNB', 'discount': 0.25}
    """

    asset: str
    discount: float = 0.25
    #: The asset's price in the quote currency when the run has no market for it (replay
    #: of a live session: the rate the venue's book gave at its start); None: its market.
    rate: float | None = None

    def __post_init__(self) -> None:
        if not self.asset or "/" in self.asset:
            raise ConfigError(f"FeeAsset(asset={self.asset!r}): give a currency code, e.g. 'BNB'")
        if not (math.isfinite(self.discount) and 0.0 <= self.discount < 1.0):
            raise ConfigError(f"FeeAsset(discount={self.discount}): a fraction in [0, 1) "
                              "(0.25 = the fee is 25 % cheaper when paid with the asset)")
        if self.rate is not None and not (math.isfinite(self.rate) and self.rate > 0.0):
            raise ConfigError(f"FeeAsset(rate={self.rate}): a price > 0 in the quote currency")

    def describe(self) -> dict[str, str | float]:
        """The setting as plain JSON, for run manifests and session records."""
        out: dict[str, str | float] = {"asset": self.asset, "discount": self.discount}
        if self.rate is not None:
            out["rate"] = self.rate
        return out


__all__ = ["FeeAsset", "FeeModel", "FixedFees", "MakerTakerFees"]
