"""``BrokerSettings``: how the simulated exchange fills orders (fees, slippage, volume
cap, intrabar rule), as a backtest or paper config gives them."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from tradeloom.engine.config import StrictModel
from tradeloom.engine.costs.fees import FeeAsset
from tradeloom.engine.orders import MAX_MAKER_REBATE


class BrokerSettings(StrictModel):
    """How the simulated exchange fills orders (see engine/sim/broker.py)."""

    fee_rate: float | None = Field(
        None, ge=0.0, lt=0.1, description="taker and maker fee override; None: use market metadata"
    )
    maker_fee: float | None = Field(None, ge=-MAX_MAKER_REBATE, lt=0.1)
    taker_fee: float | None = Field(None, ge=0.0, lt=0.1)
    slippage: Literal["none", "fixed_bps", "volume"] = "none"
    slippage_bps: float = Field(0.0, ge=0.0, le=1000.0)
    volume_share: float | None = Field(
        None, gt=0.0, le=1.0, description="cap each fill at this share of the bar's volume"
    )
    intrabar_rule: Literal["adverse_first", "favorable_first", "open_distance"] = "adverse_first"
    market_rules: Literal["exchange", "none"] = Field(
        "exchange",
        description="exchange: round to the venue's tick and lot and refuse orders under its "
        "minimums (from the catalog's market snapshot); none: no rounding, no minimums (an "
        "idealised run, e.g. to compare with another tool); fees stay the market's",
    )
    fee_asset: str | None = Field(
        None, pattern=r"^[A-Z0-9]{1,16}$",
        description=("the account pays fees with this asset (Binance: 'BNB') at "
                     "fee_asset_discount; its <asset>/<quote> market must be among the symbols"))
    fee_asset_discount: float = Field(0.25, ge=0.0, lt=1.0)

    def fee_asset_setting(self) -> FeeAsset | None:
        """``fee_asset`` as the simulated broker's ``FeeAsset`` (None when unset)."""
        if self.fee_asset is None:
            return None
        return FeeAsset(self.fee_asset, self.fee_asset_discount)


__all__ = ["BrokerSettings"]
