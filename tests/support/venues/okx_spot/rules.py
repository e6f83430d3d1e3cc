"""OKX spot instruments (``GET /api/v5/public/instruments``) and the order size/price
checks they imply.

An instrument publishes ``tickSz`` (price increment), ``lotSz`` (size increment),
``minSz`` (minimum size) and ``maxLmtSz``/``maxMktSz``. Spot has no minimum-notional
rule (ccxt's OKX market leaves ``limits.cost.min`` empty). Checks and their answers:

- ``sz < minSz`` -> 51020 "Your order should meet or exceed the minimum order amount.";
- ``sz`` not a multiple of ``lotSz`` -> 51121 "Order quantity must be a multiple of the
  lot size." (docs table; also a captured answer);
- ``px`` not a multiple of ``tickSz`` -> 51000 "Parameter px error " (captured answer
  to an off-tick price, python-okx issue #97);
- ``sz`` above ``maxLmtSz``/``maxMktSz`` -> 51202/51203 (docs table).

Defaults are OKX's BTC-USDT values (tick 0.1, lot 0.00000001, min 0.00001).

>>> from venues.common.money import dec
>>> inst = Instrument("BTC/USDT")
>>> inst.check(sz=dec("0.01"), px=dec("30000.1"), market=False)
>>> inst.check(sz=dec("0.000001"), px=dec("30000"), market=False)
Traceback (most recent call last):
...
venues.okx_spot.errors.OkxError: 51020: Your order should meet or exceed the minimum order amount.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from decimal import Decimal
from typing import Any

from venues.common.money import dec, is_multiple, plain
from venues.okx_spot.errors import OkxError


@dataclass(frozen=True, slots=True)
class Instrument:
    """One OKX spot instrument."""

    symbol: str
    tick_sz: Decimal = Decimal("0.1")
    lot_sz: Decimal = Decimal("0.00000001")
    min_sz: Decimal = Decimal("0.00001")
    max_lmt_sz: Decimal = Decimal("9999999999")
    max_mkt_sz: Decimal = Decimal("1000000")
    state: str = "live"

    @property
    def base(self) -> str:
        return self.symbol.split("/")[0]

    @property
    def quote(self) -> str:
        return self.symbol.split("/")[1]

    @property
    def inst_id(self) -> str:
        return self.symbol.replace("/", "-")

    def with_(self, **changes: Any) -> Instrument:
        """A copy with some values changed (the venue changing tick/lot sizes)."""
        return replace(self, **{k: v if k in ("symbol", "state") else dec(v)
                                for k, v in changes.items()})

    def json(self) -> dict[str, Any]:
        """One ``data`` element of ``GET /api/v5/public/instruments?instType=SPOT``."""
        return {
            "instType": "SPOT", "instId": self.inst_id, "uly": "", "instFamily": "",
            "baseCcy": self.base, "quoteCcy": self.quote, "settleCcy": "", "ctVal": "",
            "ctMult": "", "ctValCcy": "", "optType": "", "stk": "", "listTime": "1548133413000",
            "expTime": "", "lever": "", "tickSz": plain(self.tick_sz),
            "lotSz": plain(self.lot_sz), "minSz": plain(self.min_sz), "ctType": "",
            "alias": "", "state": self.state, "maxLmtSz": plain(self.max_lmt_sz),
            "maxMktSz": plain(self.max_mkt_sz), "maxTwapSz": "", "maxIcebergSz": "",
            "maxTriggerSz": "", "maxStopSz": "", "ruleType": "normal",
        }

    def check(self, *, sz: Decimal, px: Decimal | None, market: bool) -> None:
        """Raise the first failing rule for an order of ``sz`` base at ``px``."""
        if sz < self.min_sz:
            raise OkxError.below_min_size()
        if not is_multiple(sz, self.lot_sz):
            raise OkxError.not_lot_multiple()
        if market and sz > self.max_mkt_sz:
            raise OkxError("51202", "Market order amount exceeds the maximum amount.")
        if not market and sz > self.max_lmt_sz:
            raise OkxError("51203", f"Order amount exceeds the limit {plain(self.max_lmt_sz)}.")
        if px is not None and (px <= 0 or not is_multiple(px, self.tick_sz)):
            raise OkxError.bad_param("px")


DEFAULT_INSTRUMENTS: dict[str, Instrument] = {
    "BTC/USDT": Instrument("BTC/USDT"),
    "ETH/USDT": Instrument("ETH/USDT", tick_sz=Decimal("0.01"), lot_sz=Decimal("0.000001"),
                           min_sz=Decimal("0.0001")),
}
