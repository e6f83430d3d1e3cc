"""Binance spot symbol rules: the exchangeInfo filters and the order checks they imply.

Each rule follows binance-spot-api-docs ``filters.md`` (section per filter):

- PRICE_FILTER: ``price >= minPrice``, ``price <= maxPrice``, ``price % tickSize == 0``;
  each part disabled when its value is 0.
- LOT_SIZE: ``quantity >= minQty``, ``<= maxQty``, ``quantity % stepSize == 0``.
- MARKET_LOT_SIZE: the same for MARKET orders. Real exchangeInfo sends ``stepSize``
  and ``minQty`` "0.00000000" for it (e.g. captured BTCUSDT/ADAUSDT filters); a zero
  part is treated as disabled, as PRICE_FILTER documents for its own zeros.
- MIN_NOTIONAL (legacy) / NOTIONAL: ``price * quantity`` against ``minNotional``
  (and NOTIONAL's ``maxNotional``); MARKET orders only when ``applyToMarket`` /
  ``applyMinToMarket`` / ``applyMaxToMarket``, priced at the average price. The
  emulator publishes ``avgPriceMins: 0``, for which filters.md says the last price
  is used, and uses its last trade (or book mid) price.

A failure is -1013 with "Filter failure: <NAME>" (errors.md "Filter failures").
Filters are evaluated in the order exchangeInfo lists them (the docs give no order).
Quantities/prices with more decimals than the asset precision fail first with -1111
(errors.md -1111 BAD_PRECISION).

>>> from venues.common.money import dec
>>> rules = SymbolRules("BTC/USDT")
>>> rules.check(side="BUY", type_="LIMIT", qty=dec("0.01"), price=dec("30000"), last=None)
>>> rules.check(side="BUY", type_="LIMIT", qty=dec("0.000015"), price=dec("30000"), last=None)
Traceback (most recent call last):
...
venues.binance_spot.errors.BinanceError: -1013: Filter failure: LOT_SIZE
>>> rules.check(side="BUY", type_="MARKET", qty=dec("0.0001"), price=None, last=dec("30000"))
Traceback (most recent call last):
...
venues.binance_spot.errors.BinanceError: -1013: Filter failure: NOTIONAL
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Literal

from venues.binance_spot.errors import BinanceError
from venues.common.money import ZERO, Decimal, dec, decimals, fixed8, is_multiple

NotionalFilter = Literal["NOTIONAL", "MIN_NOTIONAL"]


@dataclass(frozen=True, slots=True)
class SymbolRules:
    """One symbol's filters as Binance publishes them in exchangeInfo.

    Defaults are BTCUSDT's published values (PRICE_FILTER tick 0.01, LOT_SIZE step
    and min 0.00001, max 9000, NOTIONAL min 5 / max 9,000,000 applied to MARKET for
    the minimum only, 8-decimal asset and commission precision).
    """

    symbol: str
    tick_size: Decimal = Decimal("0.01")
    min_price: Decimal = Decimal("0.01")
    max_price: Decimal = Decimal("1000000")
    step_size: Decimal = Decimal("0.00001")
    min_qty: Decimal = Decimal("0.00001")
    max_qty: Decimal = Decimal("9000")
    #: MARKET_LOT_SIZE (``None``: the symbol has no such filter)
    market_max_qty: Decimal | None = Decimal("100")
    market_min_qty: Decimal = ZERO
    market_step_size: Decimal = ZERO
    notional_filter: NotionalFilter = "NOTIONAL"
    min_notional: Decimal = Decimal("5")
    max_notional: Decimal = Decimal("9000000")
    apply_min_to_market: bool = True
    apply_max_to_market: bool = False
    base_precision: int = 8
    quote_precision: int = 8
    status: str = "TRADING"

    @property
    def base(self) -> str:
        return self.symbol.split("/")[0]

    @property
    def quote(self) -> str:
        return self.symbol.split("/")[1]

    @property
    def market_id(self) -> str:
        return self.symbol.replace("/", "")

    def with_(self, **changes: Any) -> SymbolRules:
        """A copy with some filter values changed (strings accepted for decimals)."""
        def convert(key: str, value: Any) -> Any:
            keep = (key in ("symbol", "notional_filter", "status") or value is None
                    or isinstance(value, bool) or key.endswith("precision"))
            return value if keep else dec(value)

        return replace(self, **{key: convert(key, value) for key, value in changes.items()})

    # -- exchangeInfo ------------------------------------------------------------------
    def filters(self) -> list[dict[str, Any]]:
        """The ``filters`` array, in Binance's order (filters.md formats)."""
        out: list[dict[str, Any]] = [
            {"filterType": "PRICE_FILTER", "minPrice": fixed8(self.min_price),
             "maxPrice": fixed8(self.max_price), "tickSize": fixed8(self.tick_size)},
            {"filterType": "LOT_SIZE", "minQty": fixed8(self.min_qty),
             "maxQty": fixed8(self.max_qty), "stepSize": fixed8(self.step_size)},
        ]
        if self.notional_filter == "MIN_NOTIONAL":
            out.append({"filterType": "MIN_NOTIONAL", "minNotional": fixed8(self.min_notional),
                        "applyToMarket": self.apply_min_to_market, "avgPriceMins": 0})
        else:
            out.append({"filterType": "NOTIONAL", "minNotional": fixed8(self.min_notional),
                        "applyMinToMarket": self.apply_min_to_market,
                        "maxNotional": fixed8(self.max_notional),
                        "applyMaxToMarket": self.apply_max_to_market, "avgPriceMins": 0})
        if self.market_max_qty is not None:
            out.append({"filterType": "MARKET_LOT_SIZE", "minQty": fixed8(self.market_min_qty),
                        "maxQty": fixed8(self.market_max_qty),
                        "stepSize": fixed8(self.market_step_size)})
        out.append({"filterType": "MAX_NUM_ORDERS", "maxNumOrders": 200})
        return out

    def symbol_info(self) -> dict[str, Any]:
        """One ``symbols`` entry of exchangeInfo (rest-api.md "Exchange information")."""
        return {
            "symbol": self.market_id, "status": self.status,
            "baseAsset": self.base, "baseAssetPrecision": self.base_precision,
            "quoteAsset": self.quote, "quotePrecision": self.quote_precision,
            "quoteAssetPrecision": self.quote_precision,
            "baseCommissionPrecision": self.base_precision,
            "quoteCommissionPrecision": self.quote_precision,
            "orderTypes": ["LIMIT", "LIMIT_MAKER", "MARKET"],
            "icebergAllowed": False, "ocoAllowed": False, "otoAllowed": False,
            "opoAllowed": False, "quoteOrderQtyMarketAllowed": True,
            "allowTrailingStop": False, "cancelReplaceAllowed": False, "amendAllowed": False,
            "pegInstructionsAllowed": False, "isSpotTradingAllowed": True,
            "isMarginTradingAllowed": False, "filters": self.filters(),
            "permissions": [], "permissionSets": [["SPOT"]],
            "defaultSelfTradePreventionMode": "EXPIRE_MAKER",
            "allowedSelfTradePreventionModes": ["EXPIRE_TAKER", "EXPIRE_MAKER", "EXPIRE_BOTH"],
        }

    # -- order checks ------------------------------------------------------------------
    def check_precision(self, qty: Decimal | None, price: Decimal | None) -> None:
        if qty is not None and decimals(qty) > self.base_precision:
            raise BinanceError.bad_precision("quantity")
        if price is not None and decimals(price) > self.quote_precision:
            raise BinanceError.bad_precision("price")

    def check(self, *, side: str, type_: str, qty: Decimal, price: Decimal | None,
              last: Decimal | None) -> None:
        """Raise the first failing filter for an order (``price`` None for MARKET)."""
        market = type_ == "MARKET"
        if not market and price is not None:
            self._price_filter(price)
        self._lot_size(qty)
        notional_price = last if market else price
        if notional_price is not None:
            self._notional(qty * notional_price, market=market)
        if market:
            self._market_lot_size(qty)

    def check_quote_order(self, quote_qty: Decimal) -> None:
        """The notional filter of a MARKET order given in quote (``quoteOrderQty``)."""
        self._notional(quote_qty, market=True)

    def _price_filter(self, price: Decimal) -> None:
        if ((self.min_price and price < self.min_price) or
                (self.max_price and price > self.max_price) or
                not is_multiple(price, self.tick_size)):
            raise BinanceError.filter_failure("PRICE_FILTER")

    def _lot_size(self, qty: Decimal) -> None:
        if qty < self.min_qty or qty > self.max_qty or not is_multiple(qty, self.step_size):
            raise BinanceError.filter_failure("LOT_SIZE")

    def _market_lot_size(self, qty: Decimal) -> None:
        if self.market_max_qty is None:
            return
        if ((self.market_min_qty and qty < self.market_min_qty) or
                (self.market_max_qty and qty > self.market_max_qty) or
                not is_multiple(qty, self.market_step_size)):
            raise BinanceError.filter_failure("MARKET_LOT_SIZE")

    def _notional(self, notional: Decimal, *, market: bool) -> None:
        check_min = self.apply_min_to_market or not market
        if self.notional_filter == "MIN_NOTIONAL":
            if check_min and notional < self.min_notional:
                raise BinanceError.filter_failure("MIN_NOTIONAL")
            return
        check_max = self.apply_max_to_market or not market
        if (check_min and notional < self.min_notional) or \
                (check_max and notional > self.max_notional):
            raise BinanceError.filter_failure("NOTIONAL")


#: Rules of the symbols the emulator knows by default (BTCUSDT's, with each pair's
#: own published tick and step sizes; ETH/USDT uses the legacy MIN_NOTIONAL filter
#: so both notional filter shapes are exercised).
DEFAULT_RULES: dict[str, SymbolRules] = {
    "BTC/USDT": SymbolRules("BTC/USDT"),
    "ETH/USDT": SymbolRules("ETH/USDT", step_size=dec("0.0001"), min_qty=dec("0.0001"),
                            notional_filter="MIN_NOTIONAL", market_max_qty=dec("1000")),
    "BNB/USDT": SymbolRules("BNB/USDT", step_size=dec("0.001"), min_qty=dec("0.001"),
                            market_max_qty=dec("10000")),
}
