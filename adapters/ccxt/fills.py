"""A venue's trade report (ccxt) as the fill the live state books: price, amount, and the
fee in the currency the venue charged it.

Why a module: the ccxt broker learns of fills two ways (``fetch_my_trades`` polling on
its sender thread, ``watch_my_trades`` pushes on the runner's event loop) and both must
book a trade exactly the same way, once (the trade id is the key).

The fee rule: the trade's own fee report always wins over the market's ``fee_side``.
ccxt gives ``fee`` (``{'cost', 'currency'}``) and/or ``fees`` (a list, when a venue
reports several); entries of one currency are summed. The fee is kept in its currency
(``fee_currency``/``fee_cost``) and valued in the quote currency for PnL (``fee``):

- the quote currency: as is;
- the base currency: ``cost * price`` (Binance/OKX buys pay in the coin bought);
- a third asset (BNB): ``cost * rate``, ``rate`` being the asset's price in the quote
  currency from ``rate_of(asset)`` (its mark when the run trades its market, else the
  venue's order book). Without a rate the fee cannot be valued and the trade is not
  booked (``UnvaluedFee``): polling retries it, and the live config refuses a fee asset
  it cannot value at start.

Fees in several currencies on one trade (no supported venue does it) are refused with
``ExchangeError``: a fill carries one fee currency.

OKX's pushed trades (``watch_my_trades``) carry the fee with the venue's sign, a charge
being negative, where its REST trades are negated by ccxt (see
``tests/support/venues/NOTES.md``): ``negate=True`` for those.

>>> from tradeloom.engine.market import MarketSpec
>>> spec = MarketSpec("BTC/USDT")
>>> trade_fee({"price": 20000.0, "fee": {"cost": 0.00001, "currency": "BTC"}}, spec)
FeeCharge(currency='BTC', cost=1e-05, value=0.2)
>>> trade_fee({"price": 30000.0, "fees": [{"cost": 0.15, "currency": "USDT"},
...                                       {"cost": 0.15, "currency": "USDT"}]}, spec)
FeeCharge(currency='USDT', cost=0.3, value=0.3)
>>> trade_fee({"price": 30000.0, "fee": {"cost": 0.00075, "currency": "BNB"}}, spec,
...           rate_of={"BNB": 300.0}.get)
FeeCharge(currency='BNB', cost=0.00075, value=0.225)
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

from tradeloom.adapters.live.state import FillRecord, OrderRecord
from tradeloom.engine.errors import ExchangeError
from tradeloom.engine.market import MarketSpec

#: ``rate_of(asset)``: the price of one ``asset`` in the quote currency, or None.
RateOf = Callable[[str], float | None]


class FeeCharge(NamedTuple):
    """A trade's fee: ``cost`` in ``currency``, ``value`` in the quote currency."""

    currency: str
    cost: float
    value: float


class UnvaluedFee(ExchangeError):
    """A fee in a third asset with no known price in the quote currency."""


def _no_rate(asset: str) -> float | None:
    return None


def trade_fee(trade: Mapping[str, Any], spec: MarketSpec, *, rate_of: RateOf = _no_rate,
              negate: bool = False) -> FeeCharge:
    """The fee of one ccxt trade (see the module docstring)."""
    entries = trade.get("fees") or ([trade["fee"]] if trade.get("fee") else [])
    by_currency: dict[str, float] = {}
    for entry in entries:
        if not entry or entry.get("cost") is None:
            continue
        currency = str(entry.get("currency") or spec.quote)
        cost = float(entry["cost"])
        by_currency[currency] = by_currency.get(currency, 0.0) + (-cost if negate else cost)
    charged = {c: v for c, v in by_currency.items() if v != 0.0}
    if not charged:
        return FeeCharge(spec.quote, 0.0, 0.0)
    if len(charged) > 1:
        raise ExchangeError(
            f"trade {trade.get('id')} ({spec.symbol}) reports fees in {sorted(charged)}; a "
            "fill books one fee currency - report this venue's fee format")
    ((currency, cost),) = charged.items()
    price = float(trade["price"])
    if currency == spec.quote:
        return FeeCharge(currency, cost, cost)
    if currency == spec.base:
        return FeeCharge(currency, cost, cost * price)
    rate = rate_of(currency)
    if rate is None or not rate > 0.0:
        raise UnvaluedFee(
            f"trade {trade.get('id')} ({spec.symbol}) paid its fee of {cost} {currency} and "
            f"no {currency}/{spec.quote} price is known to value it; add {currency}/"
            f"{spec.quote} to the symbols or keep a market for it on the venue")
    return FeeCharge(currency, cost, cost * rate)


def fill_record(trade: Mapping[str, Any], record: OrderRecord, spec: MarketSpec,
                charge: FeeCharge) -> FillRecord:
    """The state store's ``FillRecord`` of one ccxt trade of ``record``'s order."""
    return FillRecord(
        str(trade.get("id")), record.client_id, record.order_id, record.symbol,
        str(trade.get("side")), int(trade.get("timestamp") or 0), float(trade["price"]),
        float(trade["amount"]), charge.value, str(trade.get("takerOrMaker") or "taker"),
        str(trade.get("order")), fee_currency=charge.currency, fee_cost=charge.cost)


__all__ = ["FeeCharge", "RateOf", "UnvaluedFee", "fill_record", "trade_fee"]
