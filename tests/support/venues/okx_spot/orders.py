"""OKX spot orders and fills, and the JSON OKX sends for them.

Field names and meanings: OKX docs "Get order details" / "WS / Order channel"
(push data parameters, quoted where they matter):

- ``state``: ``live``, ``partially_filled``, ``filled``, ``canceled``;
- ``fee``: "accumulated fee charged by the platform, always negative" (spot,
  excluding maker sell orders, for which it is fee and rebate in the quote currency);
  ``feeCcy`` the currency charged: the currency received (a captured fill of an
  ETH-USDT buy reads ``"fee": "-0.000007533", "feeCcy": "ETH"``; the docs' push
  sample of a maker sell charges ``-0.02522168`` USDT);
- ``fillPx``/``fillSz``/``tradeId``/``fillTime``/``fillFee``/``fillFeeCcy``/
  ``execType`` (T taker, M maker) describe the latest fill;
- ``avgPx``: "If none is filled, it will return 0";
- ``cancelSource``: 1 user, 13 FOK not fully filled, 14 IOC partly filled,
  31 a post-only order that would take, 0 by the system.

Numbers are sent as plain decimal strings (``"0.007533"``), without rounding.

>>> from venues.common.money import dec
>>> o = Order("1", "c", "BTC-USDT", "buy", "limit", dec("0.01"), dec("30000"), 7)
>>> j = o.json(); (j["state"], j["accFillSz"], j["avgPx"], j["fee"], j["feeCcy"])
('live', '0', '0', '0', 'BTC')
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any

from venues.common.money import ZERO, Decimal, plain


class State(enum.StrEnum):
    LIVE = "live"
    PARTIALLY_FILLED = "partially_filled"
    FILLED = "filled"
    CANCELED = "canceled"


@dataclass(frozen=True, slots=True)
class Fill:
    """One fill of one of the account's orders; ``fee`` negative when charged."""

    trade_id: str
    bill_id: str
    ord_id: str
    cl_ord_id: str
    inst_id: str
    side: str
    px: Decimal
    sz: Decimal
    fee: Decimal
    fee_ccy: str
    ts: int
    maker: bool

    def json(self) -> dict[str, Any]:
        """A ``GET /api/v5/trade/fills-history`` element."""
        return {"instType": "SPOT", "instId": self.inst_id, "tradeId": self.trade_id,
                "ordId": self.ord_id, "clOrdId": self.cl_ord_id, "billId": self.bill_id,
                "subType": "1" if self.side == "buy" else "2", "tag": "",
                "fillPx": plain(self.px), "fillSz": plain(self.sz), "fillIdxPx": "",
                "fillPnl": "0", "side": self.side, "posSide": "net",
                "execType": "M" if self.maker else "T", "feeCcy": self.fee_ccy,
                "fee": plain(self.fee), "ts": str(self.ts), "fillTime": str(self.ts)}


@dataclass
class Order:
    """An accepted order."""

    ord_id: str
    cl_ord_id: str
    inst_id: str
    side: str  # buy / sell
    ord_type: str  # market / limit / post_only / ioc / fok
    sz: Decimal
    px: Decimal | None
    c_time: int
    tgt_ccy: str = ""
    state: State = State.LIVE
    acc_fill_sz: Decimal = ZERO
    acc_quote: Decimal = ZERO
    fee: Decimal = ZERO
    fee_ccy: str = ""
    u_time: int = 0
    cancel_source: str = ""
    fills: list[Fill] = field(default_factory=list)
    api_key: str = ""
    tag: str = ""
    locked: Decimal = ZERO  # funds still frozen for the unfilled part

    def __post_init__(self) -> None:
        self.u_time = self.u_time or self.c_time
        if not self.fee_ccy:
            base, quote = self.inst_id.split("-")
            self.fee_ccy = base if self.side == "buy" else quote

    @property
    def is_open(self) -> bool:
        return self.state in (State.LIVE, State.PARTIALLY_FILLED)

    @property
    def remaining(self) -> Decimal:
        return self.sz - self.acc_fill_sz if self.tgt_ccy != "quote_ccy" else ZERO

    def json(self, fill: Fill | None = None, *, latest: bool = True) -> dict[str, Any]:
        """REST order details (``latest``: fill fields of the latest fill) or an
        ``orders`` channel push (``fill``: this update's fill, or none)."""
        last = fill or (self.fills[-1] if self.fills and latest else None)
        avg = self.acc_quote / self.acc_fill_sz if self.acc_fill_sz else ZERO
        return {
            "instType": "SPOT", "instId": self.inst_id, "tgtCcy": self.tgt_ccy, "ccy": "",
            "ordId": self.ord_id, "clOrdId": self.cl_ord_id, "tag": self.tag,
            "px": plain(self.px) if self.px is not None else "", "pxUsd": "", "pxVol": "",
            "pxType": "", "sz": plain(self.sz), "pnl": "0", "ordType": self.ord_type,
            "side": self.side, "posSide": "", "tdMode": "cash",
            "accFillSz": plain(self.acc_fill_sz), "fillPx": plain(last.px) if last else "",
            "tradeId": last.trade_id if last else "", "fillSz": plain(last.sz) if last else "0",
            "fillTime": str(last.ts) if last else "",
            "fillFee": plain(last.fee) if last else "0",
            "fillFeeCcy": last.fee_ccy if last else "",
            "execType": ("M" if last.maker else "T") if last else "",
            "avgPx": plain(avg), "state": self.state.value, "lever": "",
            "attachAlgoClOrdId": "", "tpTriggerPx": "", "tpTriggerPxType": "",
            "tpOrdPx": "", "slTriggerPx": "", "slTriggerPxType": "", "slOrdPx": "",
            "attachAlgoOrds": [], "stpId": "", "stpMode": "cancel_maker",
            "feeCcy": self.fee_ccy, "fee": plain(self.fee), "rebateCcy": self.fee_ccy,
            "rebate": "0", "source": "", "category": "normal", "reduceOnly": "false",
            "isTpLimit": "false", "cancelSource": self.cancel_source, "cancelSourceReason": "",
            "quickMgnType": "", "algoClOrdId": "", "algoId": "", "amendResult": "",
            "reqId": "", "code": "0", "msg": "", "tradeQuoteCcy": self.inst_id.split("-")[1],
            "uTime": str(self.u_time), "cTime": str(self.c_time),
        }
