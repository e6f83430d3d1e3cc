"""Account, balance and position answers of the USDⓈ-M emulator (read-only views).

Shapes (USDⓈ-M docs, account/trade rest-api pages): "Position Information V2" (every
symbol, with ``leverage``, ``maxNotionalValue``, ``marginType`` "isolated"/"cross",
``isAutoAddMargin``) and "V3" ("only symbol that has position or open orders will be
returned"; with ``marginAsset``, ``initialMargin``, ``maintMargin``,
``positionInitialMargin``, ``openOrderInitialMargin``, ``adl``); "Account Information
V3" (totals, ``assets[]``, ``positions[]`` of symbols with a position or open orders)
and "V2" (adds ``feeTier``, ``canTrade``, ``canDeposit``, ``canWithdraw``,
``multiAssetsMargin``, ``tradeGroupId``; ``positions[]`` of all symbols with
``leverage``, ``isolated``, ``entryPrice``, ``maxNotional``); "Futures Account Balance
V2/V3". ``liquidationPrice`` is margin.py's FAQ formula rendered with 8 decimals.
"""

from __future__ import annotations

from typing import Any

from venues.binance_usdm.account import FuturesAccount
from venues.binance_usdm.engine import Engine
from venues.common.money import ZERO, Decimal, plain

EIGHT = Decimal("0.00000001")


def shown(engine: Engine, account: FuturesAccount, market_id: str) -> bool:
    """A position or open orders: what V3 answers list."""
    position = account.positions.get(market_id)
    return bool(position and position.amount) or bool(engine.open_orders(account, market_id))


def position_row(engine: Engine, account: FuturesAccount, market_id: str,
                 version: str) -> dict[str, Any]:
    """One ``positionRisk`` row (``version`` "v2" or "v3")."""
    view = engine.view(account)
    position = account.position(market_id)
    settings = account.settings(market_id)
    table = engine.rules[market_id].brackets
    isolated = settings.margin_type == "ISOLATED"
    unrealized = view.unrealized(market_id)
    row: dict[str, Any] = {
        "symbol": market_id, "positionSide": "BOTH",
        "positionAmt": plain(position.amount), "entryPrice": plain(position.entry),
        "breakEvenPrice": plain(position.entry),
        "markPrice": plain(engine.markets[market_id].mark),
        "unRealizedProfit": plain(unrealized),
        "liquidationPrice": plain(view.liquidation_price(market_id).quantize(EIGHT)),
        "isolatedMargin": plain(settings.isolated_wallet + unrealized
                                if isolated and position.amount else ZERO),
        "notional": plain(view.notional(market_id)),
        "isolatedWallet": plain(settings.isolated_wallet if isolated else ZERO),
        "updateTime": position.update_time}
    if version == "v2":
        row.update({"leverage": str(settings.leverage),
                    "maxNotionalValue": plain(table.max_notional(settings.leverage)),
                    "marginType": "isolated" if isolated else "cross",
                    "isAutoAddMargin": "false"})
    else:
        row.update({"marginAsset": "USDT",
                    "initialMargin": plain(view.position_im(market_id)
                                           + view.order_im(market_id)),
                    "maintMargin": plain(view.maintenance(market_id)),
                    "positionInitialMargin": plain(view.position_im(market_id)),
                    "openOrderInitialMargin": plain(view.order_im(market_id)),
                    "adl": 0, "bidNotional": "0", "askNotional": "0"})
    return row


def asset_row(engine: Engine, account: FuturesAccount) -> dict[str, Any]:
    """The USDT element of ``assets[]`` (single-asset mode)."""
    view = engine.view(account)
    unrealized = view.total_unrealized()
    available = view.available()
    return {"asset": account.asset, "walletBalance": plain(account.wallet),
            "unrealizedProfit": plain(unrealized),
            "marginBalance": plain(account.wallet + unrealized),
            "maintMargin": plain(view.total_maintenance()),
            "initialMargin": plain(view.total_position_im() + view.total_order_im()),
            "positionInitialMargin": plain(view.total_position_im()),
            "openOrderInitialMargin": plain(view.total_order_im()),
            "crossWalletBalance": plain(account.cross_wallet),
            "crossUnPnl": plain(view.cross_unrealized()),
            "availableBalance": plain(available),
            "maxWithdrawAmount": plain(min(available, account.cross_wallet)),
            "marginAvailable": True, "updateTime": account.wallet_update_time}


def _account_position(engine: Engine, account: FuturesAccount, market_id: str,
                      version: str) -> dict[str, Any]:
    row = position_row(engine, account, market_id, "v3")
    out = {k: row[k] for k in ("symbol", "positionSide", "positionAmt", "initialMargin",
                               "maintMargin", "updateTime")}
    out["unrealizedProfit"] = row["unRealizedProfit"]
    if version == "v3":
        out.update({k: row[k] for k in ("notional", "isolatedMargin", "isolatedWallet")})
    else:
        settings = account.settings(market_id)
        table = engine.rules[market_id].brackets
        out.update({"positionInitialMargin": row["positionInitialMargin"],
                    "openOrderInitialMargin": row["openOrderInitialMargin"],
                    "leverage": str(settings.leverage),
                    "isolated": settings.margin_type == "ISOLATED",
                    "entryPrice": row["entryPrice"],
                    "maxNotional": plain(table.max_notional(settings.leverage)),
                    "bidNotional": "0", "askNotional": "0"})
    return out


def account_info(engine: Engine, account: FuturesAccount, version: str) -> dict[str, Any]:
    """``GET /fapi/v2/account`` or ``/fapi/v3/account``."""
    asset = asset_row(engine, account)
    market_ids = [m for m in engine.rules
                  if version == "v2" or shown(engine, account, m)]
    body: dict[str, Any] = {} if version == "v3" else {
        "feeTier": 0, "feeBurn": False, "canTrade": True, "canDeposit": True,
        "canWithdraw": True, "updateTime": 0, "multiAssetsMargin": False,
        "tradeGroupId": -1}
    body.update({
        "totalInitialMargin": asset["initialMargin"],
        "totalMaintMargin": asset["maintMargin"],
        "totalWalletBalance": asset["walletBalance"],
        "totalUnrealizedProfit": asset["unrealizedProfit"],
        "totalMarginBalance": asset["marginBalance"],
        "totalPositionInitialMargin": asset["positionInitialMargin"],
        "totalOpenOrderInitialMargin": asset["openOrderInitialMargin"],
        "totalCrossWalletBalance": asset["crossWalletBalance"],
        "totalCrossUnPnl": asset["crossUnPnl"],
        "availableBalance": asset["availableBalance"],
        "maxWithdrawAmount": asset["maxWithdrawAmount"],
        "assets": [asset],
        "positions": [_account_position(engine, account, m, version) for m in market_ids]})
    return body


def balance(engine: Engine, account: FuturesAccount) -> list[dict[str, Any]]:
    """``GET /fapi/v2/balance`` / ``/fapi/v3/balance``."""
    row = asset_row(engine, account)
    return [{"accountAlias": "SgsR", "asset": row["asset"], "balance": row["walletBalance"],
             "crossWalletBalance": row["crossWalletBalance"], "crossUnPnl": row["crossUnPnl"],
             "availableBalance": row["availableBalance"],
             "maxWithdrawAmount": row["maxWithdrawAmount"], "marginAvailable": True,
             "updateTime": row["updateTime"]}]
