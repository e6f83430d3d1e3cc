"""Perpetual positions as the venue reports them (ccxt ``fetch_positions``), and the
venue's liquidations of them.

Why: on a futures account a position is not a balance. Binance USDⓈ-M keeps the USDT
wallet (``fetch_balance``: realized PnL, fees and funding move it) apart from the
positions (``GET /fapi/v2/positionRisk``: ``positionAmt``, ``entryPrice``, ``leverage``,
``marginType``), so a live session opens and reconciles its perpetuals from
``fetch_positions``, never from balances:

- **size**: ccxt's ``contracts`` x ``contractSize`` (base units; one per contract on
  Binance USDⓈ-M), negative for ``side == "short"`` (one-way mode: one net position
  per symbol);
- **entry**: ``entryPrice``; **leverage** and **margin mode** as the venue holds them.

**Dust and tolerance for swaps.** Binance positions are exact multiples of the lot step
(an order's quantity must be, and a position is a sum of them; no fee is ever taken
from it), so there is no dust on a swap: a size is rounded to the lot step (float
noise only) and two sizes agree when they differ by less than half a lot step
(``same_size``). Anything more is a real difference - a fill not yet seen, a manual
trade, or a liquidation.

**Liquidations by the venue.** Binance closes a liquidated position with an order of its
own whose client id starts with ``autoclose-`` (``adl_autoclose`` for auto-deleveraging);
its trades are in ``fetch_my_trades`` like any other (Binance's trades carry no client
id: ``liquidation_order_ids`` picks the order ids from ``fetch_orders``).
``venue_liquidation`` finds them after ``since`` and sums them into one ``VenueLiquidation`` (average price, fees). A
position that vanished without such trades is still a liquidation as far as the
session can tell (``source="vanished"``), priced at the venue's last mark. Binance
charges the insurance clearance apart from the trade (income ``INSURANCE_CLEAR``,
``clearance_fee``): it is part of the liquidation's fee, so the booked close moves the
cash exactly as the venue moved its wallet.

>>> rows = [{"symbol": "BTC/USDT:USDT", "contracts": 0.002, "contractSize": 1.0,
...          "side": "short", "entryPrice": 30000.0, "leverage": 3, "marginMode": "isolated"}]
>>> pos = positions_from_ccxt(rows, {"BTC/USDT:USDT": 0.001})["BTC/USDT:USDT"]
>>> pos.qty, pos.entry, pos.leverage, pos.margin_mode
(-0.002, 30000.0, 3.0, 'isolated')
>>> same_size(-0.002, -0.0020000000001, 0.001), same_size(0.0, -0.001, 0.001)
(True, False)
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

#: Client-id prefixes of the orders Binance sends to close a liquidated position
#: (``autoclose-``: liquidation; ``adl_autoclose``: auto-deleveraging).
LIQUIDATION_PREFIXES = ("autoclose-", "adl_autoclose")


@dataclass(frozen=True, slots=True)
class VenuePosition:
    """One symbol's net position on the venue (see the module docstring)."""

    symbol: str
    qty: float
    entry: float
    leverage: float | None
    margin_mode: str | None
    mark: float | None


@dataclass(frozen=True, slots=True)
class VenueLiquidation:
    """The venue closed ``qty`` (signed, the position's sign) of ``symbol`` at ``price``
    (average over its closing trades), charging ``fee``; ``source`` is ``autoclose``
    (its liquidation order's trades) or ``vanished`` (no trade found: priced at the
    last mark)."""

    symbol: str
    ts: int
    qty: float
    price: float
    fee: float
    source: str
    trade_ids: tuple[str, ...] = ()

    def payload(self) -> dict[str, Any]:
        """The journal's ``liquidation`` record (``replay`` books the same)."""
        return {"symbol": self.symbol, "ts": self.ts, "qty": self.qty, "price": self.price,
                "fee": self.fee, "source": self.source, "trade_ids": list(self.trade_ids)}

    @classmethod
    def from_payload(cls, p: Mapping[str, Any]) -> VenueLiquidation:
        return cls(str(p["symbol"]), int(p["ts"]), float(p["qty"]), float(p["price"]),
                   float(p["fee"]), str(p["source"]), tuple(p.get("trade_ids") or ()))


def _round(qty: float, lot: float | None) -> float:
    if not lot:
        return qty
    steps = round(qty / lot)
    decimals = max(0, -math.floor(math.log10(lot)) + 2)
    return round(steps * lot, decimals) + 0.0


def same_size(a: float, b: float, lot: float | None) -> bool:
    """Two position sizes agree: closer than half a lot step (1e-12 without a step)."""
    return abs(a - b) < (lot / 2 if lot else 1e-12)


def positions_from_ccxt(rows: Iterable[Mapping[str, Any]],
                        lots: Mapping[str, float | None]) -> dict[str, VenuePosition]:
    """The open positions of the symbols in ``lots`` (symbol -> lot step), signed sizes
    rounded to the lot step; flat symbols are left out."""
    out: dict[str, VenuePosition] = {}
    for row in rows:
        symbol = str(row.get("symbol"))
        if symbol not in lots:
            continue
        contracts = float(row.get("contracts") or 0.0)
        size = contracts * float(row.get("contractSize") or 1.0)
        if row.get("side") == "short":
            size = -abs(size)
        qty = _round(size, lots[symbol])
        if qty == 0.0:
            continue
        lev = row.get("leverage")
        mark = row.get("markPrice")
        out[symbol] = VenuePosition(symbol, qty, float(row.get("entryPrice") or 0.0),
                                    None if lev is None else float(lev),
                                    row.get("marginMode"),
                                    None if mark is None else float(mark))
    return out


def positions_params(exchange_id: str) -> dict[str, Any]:
    """``fetch_positions`` params: Binance's v2 positionRisk (ccxt ``useV2``), whose rows
    carry the leverage and the margin type (v3's do not).

    >>> positions_params("binanceusdm"), positions_params("okx")
    ({'useV2': True}, {})
    """
    return {"useV2": True} if exchange_id.startswith("binance") else {}


def _client_id(trade: Mapping[str, Any]) -> str:
    info = trade.get("info") or {}
    return str(trade.get("clientOrderId") or info.get("clientOrderId") or "")


def liquidation_order_ids(orders: Iterable[Mapping[str, Any]]) -> set[str]:
    """The ids of the venue's liquidation orders among ``orders`` (ccxt ``fetch_orders``:
    Binance's trades carry no client id, their orders do)."""
    return {str(o.get("id")) for o in orders if _client_id(o).startswith(LIQUIDATION_PREFIXES)}


def venue_liquidation(symbol: str, qty: float, trades: Iterable[Mapping[str, Any]],
                      *, since: int, mark: float, now: int,
                      order_ids: set[str] | frozenset[str] = frozenset()) -> VenueLiquidation:
    """The venue's liquidation of a position of ``qty`` (module docstring): its
    ``autoclose`` trades after ``since`` (by the trade's client id, or its order's id in
    ``order_ids``), else a vanished position at ``mark``."""
    closing = sorted((t for t in trades
                      if (_client_id(t).startswith(LIQUIDATION_PREFIXES)
                          or str(t.get("order")) in order_ids)
                      and int(t.get("timestamp") or 0) > since),
                     key=lambda t: (int(t.get("timestamp") or 0), str(t.get("id"))))
    if not closing:
        return VenueLiquidation(symbol, now, qty, mark, 0.0, "vanished")
    amount = sum(float(t["amount"]) for t in closing)
    price = sum(float(t["price"]) * float(t["amount"]) for t in closing) / amount
    fee = sum(float((t.get("fee") or {}).get("cost") or 0.0) for t in closing)
    return VenueLiquidation(symbol, int(closing[-1]["timestamp"]), qty, price, fee,
                            "autoclose", tuple(str(t.get("id")) for t in closing))


def clearance_fee(income_rows: Iterable[Mapping[str, Any]]) -> float:
    """The insurance clearance fee a venue charged on a liquidation, as a positive fee:
    Binance books it apart from the liquidation trade, as account income
    ``INSURANCE_CLEAR`` (``GET /fapi/v1/income``; negative: charged), what was left of the
    position's margin after the close at the bankruptcy price (the trade's price is
    rounded to the tick in the account's favour, the rest is cleared).

    >>> clearance_fee([{"incomeType": "INSURANCE_CLEAR", "income": "-0.02206667"},
    ...                {"incomeType": "FUNDING_FEE", "income": "0.5"}])
    0.02206667
    """
    return -sum(float(r["income"]) for r in income_rows
                if r.get("incomeType") == "INSURANCE_CLEAR" and r.get("income") is not None)


__all__ = ["LIQUIDATION_PREFIXES", "clearance_fee", "VenueLiquidation", "VenuePosition", "liquidation_order_ids",
           "positions_from_ccxt",
           "positions_params", "same_size", "venue_liquidation"]
