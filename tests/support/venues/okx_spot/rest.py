"""HTTP routes of the OKX spot emulator (OKX docs v5, endpoint by endpoint).

Public: ``/api/v5/public/instruments``, ``/public/time``, ``/market/books``,
``/market/candles`` and ``/market/history-candles`` (market.py).
Private (auth.py): ``/account/balance``, ``/trade/order`` POST/GET,
``/trade/batch-orders`` (ccxt's default for create_order), ``/trade/cancel-order``,
``/trade/orders-pending``, ``/trade/orders-history``, ``/trade/fills``,
``/trade/fills-history``.

Balances (docs "Get balance"): only currencies with a non-zero balance, ``availBal``
free, ``frozenBal`` locked, ``eq``/``cashBal`` their sum; ``availEq`` is "" because
it is "Applicable to Futures mode/Multi-currency margin/Portfolio margin" and the
emulated account is in Spot mode. Order operations answer per order (errors.py).
Lists are newest first, at most ``limit`` (default 100).

Rate limits: per endpoint per 2 seconds ("Rate Limit: 10 requests per 2 seconds" for
Get balance; the other endpoints default to 60, batch-orders counts orders, 300),
answered HTTP 429 ``{"code": "50011", "msg": "Too Many Requests"}`` (docs error
table: 50011, HTTP 429); windows move with :meth:`OkxLimiter.elapse`.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from aiohttp import web

from venues.common.money import plain
from venues.okx_spot import auth
from venues.okx_spot.engine import Account
from venues.okx_spot.errors import OkxError
from venues.okx_spot.market import BAR_MS, candles
from venues.okx_spot.orders import Order, State

if TYPE_CHECKING:
    from venues.okx_spot.emulator import OkxSpotEmulator

BALANCE = "/api/v5/account/balance"
BATCH = "/api/v5/trade/batch-orders"


class OkxLimiter:
    """Requests per endpoint per 2-second window."""

    def __init__(self, limits: dict[str, int] | None = None, default: int = 60,
                 clock: Callable[[], float] = time.time) -> None:
        self.limits = {BALANCE: 10, BATCH: 300, **(limits or {})}
        self.default, self._clock, self._offset = default, clock, 0.0
        self._counts: dict[tuple[str, int], int] = {}

    def elapse(self, seconds: float) -> None:
        self._offset += seconds

    def allow(self, path: str, cost: int = 1) -> bool:
        window = int((self._clock() + self._offset) // 2)
        key = (path, window)
        self._counts[key] = self._counts.get(key, 0) + cost
        return self._counts[key] <= self.limits.get(path, self.default)


def _ok(data: list[Any]) -> dict[str, Any]:
    return {"code": "0", "msg": "", "data": data}


class OkxRest:
    def __init__(self, emu: OkxSpotEmulator) -> None:
        self.emu, self.engine = emu, emu.engine

    def register(self, app: web.Application) -> None:
        r = app.router
        r.add_get("/api/v5/public/instruments", self._public(self.instruments))
        r.add_get("/api/v5/public/time",
                  self._public(lambda q: _ok([{"ts": str(self.emu.now_ms())}])))
        r.add_get("/api/v5/market/books", self._public(self.books))
        r.add_get("/api/v5/market/candles", self._public(self.candles))
        r.add_get("/api/v5/market/history-candles", self._public(self.candles))
        r.add_get(BALANCE, self._private(self.balance))
        r.add_post("/api/v5/trade/order", self._private(self.place_one))
        r.add_post(BATCH, self._private(self.place_batch))
        r.add_get("/api/v5/trade/order", self._private(self.get_order))
        r.add_post("/api/v5/trade/cancel-order", self._private(self.cancel))
        r.add_get("/api/v5/trade/orders-pending", self._private(self.pending))
        r.add_get("/api/v5/trade/orders-history", self._private(self.history))
        r.add_get("/api/v5/trade/fills", self._private(self.fills))
        r.add_get("/api/v5/trade/fills-history", self._private(self.fills))

    # -- plumbing ------------------------------------------------------------------------
    def _limited(self, path: str, cost: int) -> web.Response | None:
        if self.emu.limiter.allow(path, cost):
            return None
        err = OkxError.rate_limited()
        return web.json_response({"msg": err.msg, "code": err.code}, status=err.status)

    def _public(self, fn: Callable[[dict[str, str]], Any]) -> Callable:
        async def handler(request: web.Request) -> web.Response:
            limited = self._limited(request.path, 1)
            if limited is not None:
                return limited
            try:
                with self.engine.lock:
                    return web.json_response(fn(dict(request.query)))
            except OkxError as err:
                return web.json_response(err.envelope(), status=err.status)
        return handler

    def _private(self, fn: Callable[[Account, Any], Any]) -> Callable:
        async def handler(request: web.Request) -> web.Response:
            body = await request.text() if request.body_exists else ""
            try:
                payload: Any = json.loads(body) if body else dict(request.query)
            except ValueError:
                return web.json_response({"code": "50002", "msg": "JSON syntax error",
                                          "data": []}, status=400)
            cost = len(payload) if request.path == BATCH and isinstance(payload, list) else 1
            limited = self._limited(request.path, cost)
            if limited is not None:
                return limited
            path_qs = request.path + (f"?{request.query_string}" if request.query_string else "")
            try:
                with self.engine.lock:
                    account = auth.check_rest(request.headers, request.method, path_qs, body,
                                              self.engine.accounts, self.emu.now_ms())
                    return web.json_response(fn(account, payload))
            except OkxError as err:
                return web.json_response(err.envelope(), status=err.status)
        return handler

    # -- public ------------------------------------------------------------------------
    def candles(self, q: dict[str, str]) -> dict[str, Any]:
        """docs v5 "Get candlesticks" (market.py): the replayed bars of ``instId``."""
        inst_id = q.get("instId", "")
        self.engine.instrument(inst_id)
        tf_ms = BAR_MS.get(q.get("bar", "1m"))
        if tf_ms is None or tf_ms != self.emu.tf_ms:
            raise OkxError("51000", "Parameter bar error")
        after, before = q.get("after"), q.get("before")
        return _ok(candles(self.emu.bars[inst_id], index=self.emu.bar_index[inst_id],
                           tf_ms=tf_ms, after=int(after) if after else None,
                           before=int(before) if before else None,
                           limit=int(q.get("limit") or 100)))

    def instruments(self, q: dict[str, str]) -> dict[str, Any]:
        if q.get("instType") != "SPOT":
            return _ok([])
        insts = [i for i in self.engine.instruments.values()
                 if not q.get("instId") or i.inst_id == q["instId"]]
        return _ok([i.json() for i in insts])

    def books(self, q: dict[str, str]) -> dict[str, Any]:
        inst = self.engine.instrument(q.get("instId"))
        book, depth = self.engine.books[inst.inst_id], int(q.get("sz") or 1)
        own = [o for o in self.engine.orders.values() if o.inst_id == inst.inst_id and o.is_open]
        sides = {"bids": {lv.price: lv.qty for lv in book.bids},
                 "asks": {lv.price: lv.qty for lv in book.asks}}
        for order in own:
            side = sides["bids" if order.side == "buy" else "asks"]
            side[order.px] = side.get(order.px, 0) + order.remaining
        rows = {name: [[plain(p), plain(s), "0", "1"] for p, s in
                       sorted(levels.items(), reverse=name == "bids")][:depth]
                for name, levels in sides.items()}
        return _ok([{**rows, "ts": str(self.emu.now_ms())}])

    # -- private -----------------------------------------------------------------------
    def balance(self, account: Account, q: dict[str, str]) -> dict[str, Any]:
        wallet, now = account.wallet, str(self.emu.now_ms())
        wanted = set(q["ccy"].split(",")) if q.get("ccy") else None
        details = [{"ccy": c, "eq": plain(wallet.total(c)), "cashBal": plain(wallet.total(c)),
                    "availBal": plain(wallet.free(c)), "frozenBal": plain(wallet.locked(c)),
                    "ordFrozen": plain(wallet.locked(c)), "availEq": "", "isoEq": "",
                    "disEq": "", "eqUsd": "", "liab": "", "upl": "", "uTime": now}
                   for c in wallet.assets()
                   if wallet.total(c) != 0 and (wanted is None or c in wanted)]
        return _ok([{"adjEq": "", "availEq": "", "details": details, "imr": "", "isoEq": "",
                     "mgnRatio": "", "mmr": "", "notionalUsd": "", "ordFroz": "",
                     "totalEq": "", "uTime": now}])

    def _place_each(self, account: Account, requests: list[dict[str, Any]]) -> dict[str, Any]:
        rows, failed = [], 0
        for req in requests:
            ts = str(self.emu.now_ms())
            try:
                order = self.engine.place(account, req)
                rows.append({"clOrdId": order.cl_ord_id, "ordId": order.ord_id,
                             "tag": order.tag, "ts": ts, "sCode": "0", "sMsg": "Order placed"})
            except OkxError as err:
                failed += 1
                rows.append({"clOrdId": req.get("clOrdId", ""), "ordId": "",
                             "tag": req.get("tag", ""), "ts": ts, "sCode": err.code,
                             "sMsg": err.msg})
        code = "0" if not failed else "1" if failed == len(rows) else "2"
        msg = {"0": "", "1": "All operations failed", "2": "Bulk operation partially succeeded."}
        now = str(self.emu.now_ms() * 1000)
        return {"code": code, "data": rows, "inTime": now, "msg": msg[code], "outTime": now}

    def place_one(self, account: Account, req: dict[str, Any]) -> dict[str, Any]:
        return self._place_each(account, [req])

    def place_batch(self, account: Account, reqs: Any) -> dict[str, Any]:
        if not isinstance(reqs, list) or not reqs:
            raise OkxError("50000", "Body for POST request cannot be empty.", 400)
        return self._place_each(account, reqs)

    def get_order(self, account: Account, q: dict[str, str]) -> dict[str, Any]:
        order = self.engine.find(account, q.get("instId", ""), q.get("ordId"),
                                 q.get("clOrdId"), missing=OkxError.no_order())
        return _ok([order.json()])

    def cancel(self, account: Account, req: dict[str, Any]) -> dict[str, Any]:
        ts = str(self.emu.now_ms())
        try:
            order = self.engine.find(account, req.get("instId", ""), req.get("ordId"),
                                     req.get("clOrdId"), missing=OkxError.cancel_failed())
            self.engine.cancel(account, order)
        except OkxError as err:
            if err.code == "51001":
                raise
            return {"code": "1", "msg": "All operations failed", "data": [{
                "clOrdId": req.get("clOrdId", ""), "ordId": req.get("ordId", ""),
                "sCode": err.code, "sMsg": err.msg, "ts": ts}]}
        return _ok([{"clOrdId": order.cl_ord_id, "ordId": order.ord_id, "sCode": "0",
                     "sMsg": "", "ts": ts}])

    def _mine(self, account: Account, q: dict[str, str]) -> list[Order]:
        if q.get("instType", "SPOT") not in ("SPOT", "ANY"):
            return []
        rows = [o for o in self.engine.orders.values() if o.api_key == account.api_key
                and (not q.get("instId") or o.inst_id == q["instId"])]
        return sorted(rows, key=lambda o: int(o.ord_id), reverse=True)

    def pending(self, account: Account, q: dict[str, str]) -> dict[str, Any]:
        rows = [o for o in self._mine(account, q) if o.is_open]
        return _ok([o.json() for o in rows[:int(q.get("limit") or 100)]])

    def history(self, account: Account, q: dict[str, str]) -> dict[str, Any]:
        states = {q["state"]} if q.get("state") else {State.FILLED.value, State.CANCELED.value}
        rows = [o for o in self._mine(account, q) if o.state.value in states]
        return _ok([o.json() for o in rows[:int(q.get("limit") or 100)]])

    def fills(self, account: Account, q: dict[str, str]) -> dict[str, Any]:
        mine = {o.ord_id for o in self._mine(account, q)}
        rows = [f for f in reversed(self.engine.fills) if f.ord_id in mine
                and (not q.get("ordId") or f.ord_id == q["ordId"])]
        return _ok([f.json() for f in rows[:int(q.get("limit") or 100)]])
