"""HTTP handlers of the emulator's signed Binance endpoints (rules: ``binance_trading``)."""

from __future__ import annotations

import hashlib
import hmac
from typing import Any
from urllib.parse import parse_qsl

from aiohttp import web

from .binance_trading import (
    DEFAULT_RECV_WINDOW,
    MAX_RECV_WINDOW,
    Account,
    BinanceReject,
    TradingDesk,
    _num,
)


class TradingRoutes:
    """HTTP handlers for the signed endpoints; ``desk`` does the work under the lock."""

    def __init__(self, desk: TradingDesk) -> None:
        self.desk = desk

    def register(self, app: web.Application) -> None:
        r = app.router
        r.add_post("/api/v3/order", self._wrap(self.new_order))
        r.add_get("/api/v3/order", self._wrap(self.get_order))
        r.add_delete("/api/v3/order", self._wrap(self.cancel_order))
        r.add_get("/api/v3/openOrders", self._wrap(self.open_orders))
        r.add_delete("/api/v3/openOrders", self._wrap(self.cancel_open_orders))
        r.add_get("/api/v3/allOrders", self._wrap(self.all_orders))
        r.add_get("/api/v3/myTrades", self._wrap(self.my_trades))
        r.add_get("/api/v3/account", self._wrap(self.account))

    def _wrap(self, fn):
        async def handler(request: web.Request) -> web.Response:
            raw = request.query_string
            if request.method == "POST":
                body = await request.text()
                raw = f"{raw}&{body}" if raw and body else (raw or body)
            try:
                with self.desk.state.lock:
                    account, params = self._authenticate(request, raw)
                    return web.json_response(fn(account, params))
            except BinanceReject as rej:
                return web.json_response({"code": rej.code, "msg": rej.msg}, status=rej.status)
        return handler

    def _authenticate(self, request: web.Request, raw: str) -> tuple[Account, dict[str, str]]:
        key = request.headers.get("X-MBX-APIKEY")
        if not key:
            raise BinanceReject(-2014, "API-key format invalid.", 401)
        account = self.desk.accounts.get(key)
        if account is None:
            raise BinanceReject(-2015, "Invalid API-key, IP, or permissions for action.", 401)
        cut = raw.rfind("signature=")
        if cut < 0:
            raise BinanceReject(-1102, "Mandatory parameter 'signature' was not sent, was "
                                       "empty/null, or malformed.")
        payload, signature = raw[:cut].rstrip("&"), raw[cut + len("signature="):]
        expected = hmac.new(account.secret.encode(), payload.encode(), hashlib.sha256).hexdigest()
        if not hmac.compare_digest(expected, signature):
            raise BinanceReject(-1022, "Signature for this request is not valid.")
        params = {k: v for k, v in request.query.items()}
        if request.method == "POST":
            params.update(dict(parse_qsl(raw, keep_blank_values=True)))
        params.pop("signature", None)
        try:
            stamp = int(params.get("timestamp", ""))
            window = int(params.get("recvWindow") or DEFAULT_RECV_WINDOW)
        except ValueError:
            raise BinanceReject(-1102, "Mandatory parameter 'timestamp' was not sent, was "
                                       "empty/null, or malformed.") from None
        if window > MAX_RECV_WINDOW:
            raise BinanceReject(-1131, "recvWindow must be less than 60000")
        server = self.desk.server_wall_ms()
        candidates = self.desk.stamp_candidates(stamp)
        if any(server - window <= s < server + 1000 for s in candidates):
            return account, params
        if stamp >= server + 1000:
            raise BinanceReject(-1021, "Timestamp for this request was 1000ms ahead of the "
                                       "server's time.")
        raise BinanceReject(-1021, "Timestamp for this request is outside of the "
                                   "recvWindow.")

    # -- endpoints (called under the lock) --------------------------------------------
    def new_order(self, account: Account, p: dict[str, str]) -> dict[str, Any]:
        order, trades = self.desk.place(account, p)
        out = order.as_binance()
        out["transactTime"] = order.time
        if p.get("newOrderRespType", "FULL").upper() == "FULL":
            out["fills"] = [{"price": _num(t.price), "qty": _num(t.qty),
                             "commission": _num(t.commission),
                             "commissionAsset": t.commission_asset, "tradeId": t.trade_id}
                            for t in trades]
        return out

    def get_order(self, account: Account, p: dict[str, str]) -> dict[str, Any]:
        return self.desk.find(account, p).as_binance()

    def cancel_order(self, account: Account, p: dict[str, str]) -> dict[str, Any]:
        order = self.desk.find(account, p)
        self.desk.cancel(order)
        out = order.as_binance()
        out["origClientOrderId"] = order.client_id
        return out

    def open_orders(self, account: Account, p: dict[str, str]) -> list[dict[str, Any]]:
        market_id = p.get("symbol")
        if market_id:
            self.desk.market(market_id)
        return [o.as_binance() for o in self.desk.open_orders(account.api_key)
                if not market_id or o.market_id == market_id]

    def cancel_open_orders(self, account: Account, p: dict[str, str]) -> list[dict[str, Any]]:
        market = self.desk.market(p.get("symbol", ""))
        mine = [o for o in self.desk.open_orders(account.api_key)
                if o.market_id == market.market_id]
        if not mine:  # what Binance answers when there is nothing to cancel
            raise BinanceReject(-2011, "Unknown order sent.")
        out = []
        for order in mine:
            self.desk.cancel(order)
            row = order.as_binance()
            row["origClientOrderId"] = order.client_id
            out.append(row)
        return out

    def all_orders(self, account: Account, p: dict[str, str]) -> list[dict[str, Any]]:
        self.desk.catch_up()
        market = self.desk.market(p.get("symbol", ""))
        rows = sorted((o for o in self.desk.orders.values()
                       if o.api_key == account.api_key and o.market_id == market.market_id),
                      key=lambda o: o.order_id)
        if p.get("orderId"):
            rows = [o for o in rows if o.order_id >= int(p["orderId"])]
        if p.get("startTime"):
            rows = [o for o in rows if o.time >= int(p["startTime"])]
        limit = min(int(p.get("limit") or 500), 1000)
        return [o.as_binance() for o in rows[:limit]]

    def my_trades(self, account: Account, p: dict[str, str]) -> list[dict[str, Any]]:
        return self.desk.my_trades(account, p)

    def account(self, account: Account, p: dict[str, str]) -> dict[str, Any]:
        self.desk.catch_up()
        return {
            "makerCommission": 10, "takerCommission": 10, "buyerCommission": 0,
            "sellerCommission": 0, "commissionRates": {"maker": "0.00100000",
                                                       "taker": "0.00100000",
                                                       "buyer": "0", "seller": "0"},
            "canTrade": True, "canWithdraw": True, "canDeposit": True, "brokered": False,
            "requireSelfTradePrevention": False, "preventSor": False,
            "updateTime": self.desk.state.now_ms, "accountType": "SPOT",
            "balances": [{"asset": a, "free": _num(max(f, 0.0)), "locked": _num(max(lk, 0.0))}
                         for a, (f, lk) in sorted(account.balances.items())],
            "permissions": ["SPOT"], "uid": 1,
        }
