"""USDⓈ-M perpetual contract rules: the exchangeInfo entry and the order checks it implies.

exchangeInfo shape: USDⓈ-M "Exchange Information" (``symbols[]`` with ``pair``,
``contractType`` PERPETUAL, ``deliveryDate`` 4133404800000, ``marginAsset``,
``pricePrecision``/``quantityPrecision``, ``orderTypes``, ``timeInForce`` and the
filters PRICE_FILTER, LOT_SIZE, MARKET_LOT_SIZE, MAX_NUM_ORDERS, MIN_NOTIONAL with
``notional``, PERCENT_PRICE). ccxt 4.5.90 ``binance.parse_market`` reads exactly
these (``contractType``/``marginAsset`` make the market ``BTC/USDT:USDT``,
``orderTypes`` gates ``create_order``, ``MIN_NOTIONAL.notional`` -> limits.cost.min).

Values are the live BTCUSDT/ETHUSDT answers (tick 0.10 / 0.01, step 0.001, min
notional 100 / 20, MARKET_LOT_SIZE max 120 / 2000; NOTES.md).

Checks ("Common Definition" filters; codes and texts from "Error Codes"), in order:
- more decimals than ``pricePrecision``/``quantityPrecision``: -1111 "Precision is
  over the maximum defined for this asset.";
- PRICE_FILTER: ``price >= minPrice`` (-4013), ``<= maxPrice`` (-4002),
  ``(price - minPrice) % tickSize == 0`` (-4014);
- LOT_SIZE (MARKET: MARKET_LOT_SIZE): ``quantity > 0`` (-4003), ``>= minQty`` (-4004),
  ``<= maxQty`` (-4005), ``(quantity - minQty) % stepSize == 0`` (-4023);
- PERCENT_PRICE "valid range for a price based on the mark price": BUY ``price <=
  markPrice * multiplierUp`` (-4016), SELL ``price >= markPrice * multiplierDown``
  (-4024);
- MIN_NOTIONAL: ``price * quantity`` ("Since MARKET orders have no price, the mark
  price is used") at least ``notional``, unless reduceOnly (-4164).

>>> from venues.common.money import dec
>>> rules = DEFAULT_RULES["BTC/USDT:USDT"]
>>> rules.check(side="BUY", type_="LIMIT", qty=dec("0.004"), price=dec("30000"),
...             mark=dec("30000"), reduce_only=False)
>>> rules.check(side="BUY", type_="LIMIT", qty=dec("0.003"), price=dec("30000"),
...             mark=dec("30000"), reduce_only=False)
Traceback (most recent call last):
...
venues.binance_spot.errors.BinanceError: -4164: Order's notional must be no smaller than \
100 (unless you choose reduce only).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from venues.binance_spot.errors import BinanceError
from venues.binance_usdm import errors
from venues.binance_usdm.brackets import BRACKETS, BracketTable, default_table
from venues.common.money import Decimal, decimals, is_multiple

ORDER_TYPES = ["LIMIT", "MARKET", "STOP", "STOP_MARKET", "TAKE_PROFIT",
               "TAKE_PROFIT_MARKET", "TRAILING_STOP_MARKET"]
TIME_IN_FORCE = ["GTC", "IOC", "FOK", "GTX", "GTD"]
PRECISION = "Precision is over the maximum defined for this asset."
#: PERCENT_PRICE multipliers published for BTCUSDT/ETHUSDT
PERCENT_UP, PERCENT_DOWN = Decimal("1.0500"), Decimal("0.9500")
#: exchangeInfo ``deliveryDate`` of perpetuals (ccxt parse_market checks this value too)
PERPETUAL_DELIVERY = 4133404800000


def _text(value: Decimal) -> str:
    return f"{value.normalize():f}" if value != value.to_integral_value() else f"{value:f}"


@dataclass(frozen=True, slots=True)
class ContractRules:
    """One perpetual's exchangeInfo entry."""

    symbol: str  # unified, e.g. "BTC/USDT:USDT"
    tick_size: Decimal
    min_price: Decimal
    max_price: Decimal
    step_size: Decimal
    min_qty: Decimal
    max_qty: Decimal
    market_max_qty: Decimal
    min_notional: Decimal
    brackets: BracketTable
    onboard_date: int = 1569398400000
    status: str = "TRADING"

    @property
    def base(self) -> str:
        return self.symbol.split("/")[0]

    @property
    def quote(self) -> str:
        return self.symbol.split("/")[1].split(":")[0]

    @property
    def margin_asset(self) -> str:
        return self.symbol.split(":")[1]

    @property
    def market_id(self) -> str:
        return self.base + self.quote

    def with_(self, **changes: Any) -> ContractRules:
        return replace(self, **changes)

    def symbol_info(self) -> dict[str, Any]:
        """The ``symbols[]`` element of ``GET /fapi/v1/exchangeInfo``."""
        return {
            "symbol": self.market_id, "pair": self.market_id, "contractType": "PERPETUAL",
            "deliveryDate": PERPETUAL_DELIVERY, "onboardDate": self.onboard_date,
            "status": self.status, "maintMarginPercent": "2.5000",
            "requiredMarginPercent": "5.0000", "baseAsset": self.base,
            "quoteAsset": self.quote, "marginAsset": self.margin_asset,
            "pricePrecision": decimals(self.tick_size),
            "quantityPrecision": decimals(self.step_size),
            "baseAssetPrecision": 8, "quotePrecision": 8, "underlyingType": "COIN",
            "underlyingSubType": ["PoW"], "settlePlan": 0, "triggerProtect": "0.0500",
            "liquidationFee": "0.012500", "marketTakeBound": "0.05",
            "maxMoveOrderLimit": 10000,
            "filters": [
                {"filterType": "PRICE_FILTER", "minPrice": _text(self.min_price),
                 "maxPrice": _text(self.max_price), "tickSize": _text(self.tick_size)},
                {"filterType": "LOT_SIZE", "minQty": _text(self.min_qty),
                 "maxQty": _text(self.max_qty), "stepSize": _text(self.step_size)},
                {"filterType": "MARKET_LOT_SIZE", "minQty": _text(self.min_qty),
                 "maxQty": _text(self.market_max_qty), "stepSize": _text(self.step_size)},
                {"filterType": "MAX_NUM_ORDERS", "limit": 200},
                {"filterType": "MAX_NUM_ALGO_ORDERS", "limit": 10},
                {"filterType": "MIN_NOTIONAL", "notional": _text(self.min_notional)},
                {"filterType": "PERCENT_PRICE", "multiplierUp": f"{PERCENT_UP:f}",
                 "multiplierDown": f"{PERCENT_DOWN:f}", "multiplierDecimal": "4"}],
            "orderTypes": ORDER_TYPES, "timeInForce": TIME_IN_FORCE,
            "permissionSets": ["GRID", "COPY"]}

    def check(self, *, side: str, type_: str, qty: Decimal, price: Decimal | None,
              mark: Decimal, reduce_only: bool) -> None:
        """Raise the venue's error for the first filter ``qty``/``price`` break."""
        if price is not None:
            if decimals(price.normalize()) > decimals(self.tick_size):
                raise BinanceError(-1111, PRECISION)
            if price < self.min_price:
                raise BinanceError(-4013, "Price less than min price.")
            if price > self.max_price:
                raise BinanceError(-4002, "Price greater than max price.")
            if not is_multiple(price - self.min_price, self.tick_size):
                raise BinanceError(-4014, "Price not increased by tick size.")
        if decimals(qty.normalize()) > decimals(self.step_size):
            raise BinanceError(-1111, PRECISION)
        if qty <= 0:
            raise BinanceError(-4003, "Quantity less than zero.")
        if qty < self.min_qty:
            raise BinanceError(-4004, "Quantity less than min quantity.")
        max_qty = self.market_max_qty if type_ == "MARKET" else self.max_qty
        if qty > max_qty:
            raise BinanceError(-4005, "Quantity greater than max quantity.")
        if not is_multiple(qty - self.min_qty, self.step_size):
            raise BinanceError(-4023, "Qty not increased by step size.")
        if price is not None and mark > 0:
            if side == "BUY" and price > mark * PERCENT_UP:
                raise BinanceError(-4016, "Price is higher than mark price multiplier cap.")
            if side == "SELL" and price < mark * PERCENT_DOWN:
                raise BinanceError(-4024, "Price is lower than mark price multiplier floor.")
        reference = price if price is not None else mark
        if not reduce_only and reference > 0 and qty * reference < self.min_notional:
            raise errors.min_notional(_text(self.min_notional))


def _rules(symbol: str, tick: str, min_price: str, max_price: str, max_qty: str,
           market_max: str, notional: str) -> ContractRules:
    market_id = symbol.split("/")[0] + symbol.split("/")[1].split(":")[0]
    return ContractRules(symbol, Decimal(tick), Decimal(min_price), Decimal(max_price),
                         Decimal("0.001"), Decimal("0.001"), Decimal(max_qty),
                         Decimal(market_max), Decimal(notional), BRACKETS[market_id])


DEFAULT_RULES: dict[str, ContractRules] = {
    "BTC/USDT:USDT": _rules("BTC/USDT:USDT", "0.10", "556.80", "4529764", "1000", "120",
                            "100"),
    "ETH/USDT:USDT": _rules("ETH/USDT:USDT", "0.01", "39.86", "306177", "10000", "2000",
                            "20"),
}


def rules_for(symbol: str) -> ContractRules:
    """Published rules for ``symbol``, or BTCUSDT's filters under its own name."""
    if symbol in DEFAULT_RULES:
        return DEFAULT_RULES[symbol]
    if ":" not in symbol:
        raise ValueError(f"{symbol!r} is not a USDⓈ-M perpetual symbol; write it as "
                         "'BASE/USDT:USDT'")
    base = DEFAULT_RULES["BTC/USDT:USDT"]
    market_id = symbol.split("/")[0] + symbol.split("/")[1].split(":")[0]
    return replace(base, symbol=symbol, brackets=default_table(market_id))
