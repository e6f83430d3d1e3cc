"""A small OKX spot emulator on 127.0.0.1: the endpoints ccxt's ``okx`` calls for markets,
balance and orders, with OKX's request signing.

Endpoints (ccxt 4.5.90): ``GET /api/v5/public/instruments`` (load_markets, with
``options={'fetchMarkets': {'types': ['spot']}}`` and ``has['fetchCurrencies'] = False``),
``GET /api/v5/account/balance``, ``POST /api/v5/trade/batch-orders`` (ccxt's default for
create_order), ``GET /api/v5/trade/order`` (by ordId or clOrdId), ``POST
/api/v5/trade/cancel-order``, ``GET /api/v5/trade/orders-pending``, ``GET
/api/v5/trade/fills-history``.

Signing, as OKX checks it: ``OK-ACCESS-SIGN`` = base64 HMAC-SHA256 of ``timestamp +
method + path (with query) + body``, keyed by the secret; ``OK-ACCESS-KEY`` must be known
(50111), the passphrase must match (50105), the ISO timestamp within 30 s of the wall
clock (50102), the signature valid (50113).

Matching is deliberately minimal: market orders fill at once at ``price`` (fee 0.1 %
in the quote currency), limit orders rest until cancelled. ``clOrdId`` is unique among
the account's orders (51016).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import itertools
import json
import threading
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from .server import EmulatorServer


def _ok(data: list[dict[str, Any]]) -> web.Response:
    return web.json_response({"code": "0", "msg": "", "data": data})


def _err(code: str, msg: str, status: int = 200) -> web.Response:
    return web.json_response({"code": code, "msg": msg, "data": []}, status=status)


class OkxEmulator(EmulatorServer):
    """OKX spot for ``BTC-USDT``; ``price`` is the market price; one account."""

    def __init__(self, api_key: str, secret: str, passphrase: str, *,
                 balances: dict[str, float] | None = None, price: float = 30_000.0) -> None:
        super().__init__()
        self.creds = (api_key, secret, passphrase)
        self.balances = dict(balances or {"USDT": 10_000.0})
        self.price = price
        self.orders: dict[str, dict[str, Any]] = {}
        self.fills: list[dict[str, Any]] = []
        self._ids = itertools.count(600_000_001)
        self._lock = threading.Lock()

    def register_routes(self, app: web.Application) -> None:
        r = app.router
        r.add_get("/api/v5/public/instruments", self.instruments)
        r.add_get("/api/v5/account/balance", self._private(self.balance))
        r.add_post("/api/v5/trade/batch-orders", self._private(self.batch_orders))
        r.add_get("/api/v5/trade/order", self._private(self.get_order))
        r.add_post("/api/v5/trade/cancel-order", self._private(self.cancel_order))
        r.add_get("/api/v5/trade/orders-pending", self._private(self.pending))
        r.add_get("/api/v5/trade/fills-history", self._private(self.fills_history))

    async def instruments(self, request: web.Request) -> web.Response:
        if request.query.get("instType") != "SPOT":
            return _ok([])
        return _ok([{"instType": "SPOT", "instId": "BTC-USDT", "baseCcy": "BTC",
                     "quoteCcy": "USDT", "settleCcy": "", "ctVal": "", "ctMult": "",
                     "ctValCcy": "", "listTime": "1548133413000", "expTime": "",
                     "lever": "10", "tickSz": "0.1", "lotSz": "0.00000001",
                     "minSz": "0.00001", "ctType": "", "state": "live", "uly": "",
                     "instFamily": "", "maxLmtSz": "9999999999", "maxMktSz": "1000000"}])

    def _private(self, fn):
        async def handler(request: web.Request) -> web.Response:
            body = await request.text()
            key, secret, passphrase = self.creds
            headers = request.headers
            if headers.get("OK-ACCESS-KEY") != key:
                return _err("50111", "Invalid OK-ACCESS-KEY.", 401)
            if headers.get("OK-ACCESS-PASSPHRASE") != passphrase:
                return _err("50105", "Your APIKey's passphrase is incorrect.", 401)
            stamp = headers.get("OK-ACCESS-TIMESTAMP", "")
            try:
                sent = datetime.fromisoformat(stamp)
            except ValueError:
                return _err("50107", "Invalid OK-ACCESS-TIMESTAMP.", 401)
            if abs((datetime.now(UTC) - sent).total_seconds()) > 30:
                return _err("50102", "Timestamp request expired.", 401)
            path = request.path_qs
            digest = hmac.new(secret.encode(), f"{stamp}{request.method}{path}{body}".encode(),
                              hashlib.sha256).digest()
            if not hmac.compare_digest(base64.b64encode(digest).decode(),
                                       headers.get("OK-ACCESS-SIGN", "")):
                return _err("50113", "Invalid Sign.", 401)
            params = dict(request.query)
            payload = json.loads(body) if body else {}
            with self._lock:
                return fn(params, payload)
        return handler

    # -- endpoints (under the lock) ----------------------------------------------------
    def balance(self, params: dict[str, str], payload: Any) -> web.Response:
        locked = self._locked()
        details = [{"ccy": c, "cashBal": str(v), "availBal": str(v - locked.get(c, 0.0)),
                    "frozenBal": str(locked.get(c, 0.0)), "eq": str(v), "uTime": "0"}
                   for c, v in sorted(self.balances.items())]
        return _ok([{"details": details, "totalEq": "0", "uTime": "0"}])

    def _locked(self) -> dict[str, float]:
        locked: dict[str, float] = {}
        for o in self.orders.values():
            if o["state"] == "live":
                asset, amount = (("USDT", float(o["px"]) * float(o["sz"]))
                                 if o["side"] == "buy" else ("BTC", float(o["sz"])))
                locked[asset] = locked.get(asset, 0.0) + amount
        return locked

    def batch_orders(self, params: dict[str, str], payload: Any) -> web.Response:
        results = []
        for entry in payload:
            cid = entry.get("clOrdId", "")
            if not cid.isalnum() or len(cid) > 32:
                results.append({"clOrdId": cid, "ordId": "", "sCode": "51000",
                                "sMsg": "Parameter clOrdId error"})
                continue
            if any(o["clOrdId"] == cid for o in self.orders.values()):
                results.append({"clOrdId": cid, "ordId": "", "sCode": "51016",
                                "sMsg": "Duplicated clOrdId"})
                continue
            results.append(self._place(entry))
        failed = any(r["sCode"] != "0" for r in results)
        return web.json_response({"code": "1" if failed else "0",
                                  "msg": "Operation failed." if failed else "",
                                  "data": results})

    def _place(self, entry: dict[str, Any]) -> dict[str, Any]:
        side, otype, size = entry["side"], entry["ordType"], float(entry["sz"])
        price = self.price if otype == "market" else float(entry["px"])
        cost = price * size
        if (side == "buy" and self.balances.get("USDT", 0.0) - self._locked().get("USDT", 0.0)
                < cost * 1.001) or (side == "sell" and self.balances.get("BTC", 0.0) < size):
            return {"clOrdId": entry.get("clOrdId", ""), "ordId": "", "sCode": "51008",
                    "sMsg": "Order failed. Insufficient balance."}
        oid = str(next(self._ids))
        order = {"instType": "SPOT", "instId": entry["instId"], "ordId": oid,
                 "clOrdId": entry.get("clOrdId", ""), "px": "" if otype == "market" else
                 entry["px"], "sz": entry["sz"], "ordType": otype, "side": side,
                 "state": "live", "accFillSz": "0", "avgPx": "", "fee": "0",
                 "feeCcy": "USDT", "tdMode": "cash", "tgtCcy": "", "cTime": "1700000000000",
                 "uTime": "1700000000000", "tag": entry.get("tag", "")}
        self.orders[oid] = order
        if otype == "market":
            fee = cost * 0.001
            sign = 1 if side == "buy" else -1
            self.balances["BTC"] = self.balances.get("BTC", 0.0) + sign * size
            self.balances["USDT"] = self.balances.get("USDT", 0.0) - sign * cost - fee
            order.update(state="filled", accFillSz=entry["sz"], avgPx=str(price),
                         fee=str(-fee))
            self.fills.append({"instType": "SPOT", "instId": entry["instId"],
                               "tradeId": str(len(self.fills) + 1), "ordId": oid,
                               "clOrdId": order["clOrdId"], "billId": "1", "fillPx": str(price),
                               "fillSz": entry["sz"], "side": side, "posSide": "net",
                               "execType": "T", "feeCcy": "USDT", "fee": str(-fee),
                               "ts": "1700000000000"})
        return {"clOrdId": order["clOrdId"], "ordId": oid, "sCode": "0",
                "sMsg": "Order placed", "tag": order["tag"], "ts": "1700000000000"}

    def _find(self, q: dict[str, Any]) -> dict[str, Any] | None:
        for order in self.orders.values():
            if (q.get("ordId") and order["ordId"] == q["ordId"]) or (
                    q.get("clOrdId") and order["clOrdId"] == q["clOrdId"]):
                return order
        return None

    def get_order(self, params: dict[str, str], payload: Any) -> web.Response:
        order = self._find(params)
        if order is None:
            return _err("51603", "Order does not exist")
        return _ok([order])

    def cancel_order(self, params: dict[str, str], payload: Any) -> web.Response:
        order = self._find(payload)
        if order is None or order["state"] != "live":
            return web.json_response({"code": "1", "msg": "", "data": [{
                "clOrdId": payload.get("clOrdId", ""), "ordId": payload.get("ordId", ""),
                "sCode": "51400", "sMsg": "Order cancellation failed as the order has been "
                "filled, canceled or does not exist"}]})
        order["state"] = "canceled"
        return _ok([{"clOrdId": order["clOrdId"], "ordId": order["ordId"], "sCode": "0",
                     "sMsg": ""}])

    def pending(self, params: dict[str, str], payload: Any) -> web.Response:
        return _ok([o for o in self.orders.values() if o["state"] == "live"])

    def fills_history(self, params: dict[str, str], payload: Any) -> web.Response:
        return _ok(list(reversed(self.fills)))
