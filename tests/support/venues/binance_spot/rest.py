"""HTTP routes of the Binance spot emulator (rest-api.md, endpoint by endpoint).

Public: ``/api/v3/ping``, ``/time``, ``/exchangeInfo``, ``/depth``, ``/klines``.
Signed (USER_DATA/TRADE, see auth.py): ``/order`` POST/GET/DELETE, ``/openOrders``
GET/DELETE, ``/allOrders``, ``/myTrades``, ``/account``. Parameter rules per
rest-api.md "New order": LIMIT needs timeInForce, quantity, price; MARKET needs
quantity or quoteOrderQty; newOrderRespType defaults to FULL for MARKET and LIMIT;
newClientOrderId is generated when absent. Decimal parameters must match
``^([0-9]{1,20})(\\.[0-9]{1,20})?$`` (errors.md -1100).
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl

from aiohttp import web

from venues.binance_spot import auth
from venues.binance_spot.account import Account
from venues.binance_spot.errors import BinanceError
from venues.binance_spot.market import DEFAULT_DEPTH, DEFAULT_KLINES, depth, klines
from venues.common.money import Decimal, dec, fixed8

if TYPE_CHECKING:
    from venues.binance_spot.emulator import BinanceSpotEmulator

_DECIMAL = re.compile(r"^([0-9]{1,20})(\.[0-9]{1,20})?$")
Params = dict[str, str]
Signed = Callable[[Account, Params], Any]


def _decimal(p: Params, name: str) -> Decimal | None:
    text = p.get(name)
    if text in (None, ""):
        return None
    if not _DECIMAL.match(text):
        raise BinanceError.illegal_chars(name)
    return dec(text)


def _int(p: Params, name: str) -> int | None:
    text = p.get(name)
    if text in (None, ""):
        return None
    try:
        return int(text)
    except ValueError:
        raise BinanceError.illegal_chars(name) from None


def _required(p: Params, name: str) -> str:
    value = p.get(name)
    if not value:
        raise BinanceError.mandatory(name)
    return value


class BinanceRest:
    """Route handlers; the engine does the work under its lock."""

    def __init__(self, emu: BinanceSpotEmulator) -> None:
        self.emu = emu
        self.engine = emu.engine

    def register(self, app: web.Application) -> None:
        r = app.router
        r.add_get("/api/v3/ping", self._public(lambda p: {}))
        r.add_get("/api/v3/time", self._public(lambda p: {"serverTime": self.emu.now_ms()}))
        r.add_get("/api/v3/exchangeInfo", self._public(self.exchange_info))
        r.add_get("/api/v3/depth", self._public(self.depth))
        r.add_get("/api/v3/klines", self._public(self.klines))
        r.add_post("/api/v3/order", self._signed(self.new_order))
        r.add_get("/api/v3/order", self._signed(self.get_order))
        r.add_delete("/api/v3/order", self._signed(self.cancel_order))
        r.add_get("/api/v3/openOrders", self._signed(self.open_orders))
        r.add_delete("/api/v3/openOrders", self._signed(self.cancel_open_orders))
        r.add_get("/api/v3/allOrders", self._signed(self.all_orders))
        r.add_get("/api/v3/myTrades", self._signed(self.my_trades))
        r.add_get("/api/v3/account", self._signed(self.account))

    # -- plumbing ----------------------------------------------------------------------
    def _public(self, fn: Callable[[Params], Any]) -> Callable[[web.Request], Awaitable]:
        async def handler(request: web.Request) -> web.Response:
            try:
                with self.engine.lock:
                    return web.json_response(fn(dict(request.query)))
            except BinanceError as err:
                return web.json_response(err.body(), status=err.status)
        return handler

    def _signed(self, fn: Signed) -> Callable[[web.Request], Awaitable]:
        async def handler(request: web.Request) -> web.Response:
            body = await request.text() if request.body_exists else ""
            try:
                with self.engine.lock:
                    account = auth.check_key(request.headers.get("X-MBX-APIKEY"),
                                             self.engine.accounts)
                    payload, signature = auth.rest_payload(request.query_string, body)
                    auth.check_signature(account.secret, payload, signature)
                    # rest-api.md: "If a parameter sent in both the query string and
                    # request body, the query string parameter will be used."
                    params: Params = {**dict(parse_qsl(body, keep_blank_values=True)),
                                      **dict(request.query)}
                    params.pop("signature", None)
                    auth.check_timing(timestamp=params.get("timestamp"),
                                      recv_window=params.get("recvWindow"),
                                      server_ms=self.emu.now_ms())
                    return web.json_response(fn(account, params))
            except BinanceError as err:
                return web.json_response(err.body(), status=err.status)
        return handler

    # -- public ------------------------------------------------------------------------
    def exchange_info(self, p: Params) -> dict[str, Any]:
        rules = list(self.engine.rules.values())
        wanted = p.get("symbol")
        if wanted:
            rules = [r for r in rules if r.market_id == wanted]
            if not rules:
                raise BinanceError.bad_symbol()
        return {
            "timezone": "UTC", "serverTime": self.emu.now_ms(),
            "rateLimits": [
                {"rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE", "intervalNum": 1,
                 "limit": self.emu.limiter.limit},
                {"rateLimitType": "ORDERS", "interval": "SECOND", "intervalNum": 10,
                 "limit": 100},
                {"rateLimitType": "RAW_REQUESTS", "interval": "MINUTE", "intervalNum": 5,
                 "limit": 61000}],
            "exchangeFilters": [], "symbols": [r.symbol_info() for r in rules]}

    def depth(self, p: Params) -> dict[str, Any]:
        market_id = _required(p, "symbol")
        book = self.engine.books.get(market_id)
        if book is None:
            raise BinanceError.bad_symbol()
        own = [o for o in self.engine.orders.values() if o.symbol == market_id and o.is_open]
        limit = _int(p, "limit") or DEFAULT_DEPTH
        return {"lastUpdateId": self.emu.book_update_id, **depth(book, own, limit)}

    def klines(self, p: Params) -> list[list]:
        market_id = _required(p, "symbol")
        self.engine.symbol(market_id)
        if p.get("interval") != self.emu.timeframe:
            raise BinanceError(-1120, "Invalid interval.")
        return klines(self.emu.bars[market_id], index=self.emu.bar_index[market_id],
                      tf_ms=self.emu.tf_ms, start=_int(p, "startTime"),
                      end=_int(p, "endTime"), limit=_int(p, "limit") or DEFAULT_KLINES)

    # -- trading -----------------------------------------------------------------------
    def new_order(self, account: Account, p: Params) -> dict[str, Any]:
        market_id = _required(p, "symbol")
        side, type_ = _required(p, "side"), _required(p, "type")
        if side not in ("BUY", "SELL"):
            raise BinanceError(-1117, "Invalid side.")
        if type_ not in ("LIMIT", "MARKET", "LIMIT_MAKER"):
            raise BinanceError(-1116, "Invalid orderType.")
        qty, quote_qty = _decimal(p, "quantity"), _decimal(p, "quoteOrderQty")
        price, tif = _decimal(p, "price"), p.get("timeInForce")
        if type_ == "LIMIT":
            tif = _required(p, "timeInForce")
            if tif not in ("GTC", "IOC", "FOK"):
                raise BinanceError(-1115, "Invalid timeInForce.")
        if type_ in ("LIMIT", "LIMIT_MAKER"):
            if qty is None:
                raise BinanceError.mandatory("quantity")
            if price is None:
                raise BinanceError.mandatory("price")
        if type_ == "MARKET":
            if price is not None:
                raise BinanceError(-1106, "Parameter 'price' sent when not required.")
            if qty is None and quote_qty is None:
                raise BinanceError(-1102, "Param 'quantity' or 'quoteOrderQty' must be sent, "
                                          "but both were empty/null!")
        client_id = p.get("newClientOrderId") or secrets.token_urlsafe(16)[:22]
        order = self.engine.place(account, market_id=market_id, side=side, type_=type_,
                                  tif=tif or "GTC", qty=qty, quote_qty=quote_qty,
                                  price=price, client_id=client_id)
        resp_type = p.get("newOrderRespType") or "FULL"
        return order.new_order_json(resp_type, order.time)

    def get_order(self, account: Account, p: Params) -> dict[str, Any]:
        order = self.engine.find(account, _required(p, "symbol"), _int(p, "orderId"),
                                 p.get("origClientOrderId"),
                                 missing=BinanceError.no_such_order())
        return order.query_json()

    def cancel_order(self, account: Account, p: Params) -> dict[str, Any]:
        order = self.engine.find(account, _required(p, "symbol"), _int(p, "orderId"),
                                 p.get("origClientOrderId"),
                                 missing=BinanceError.cancel_rejected())
        cancel_id = p.get("newClientOrderId") or secrets.token_urlsafe(16)[:22]
        self.engine.cancel(account, order, cancel_id)
        return order.cancel_json(cancel_id, order.update_time)

    def open_orders(self, account: Account, p: Params) -> list[dict[str, Any]]:
        market_id = p.get("symbol")
        if market_id:
            self.engine.symbol(market_id)
        return [o.query_json() for o in self.engine.open_orders(account, market_id)]

    def cancel_open_orders(self, account: Account, p: Params) -> list[dict[str, Any]]:
        market_id = _required(p, "symbol")
        self.engine.symbol(market_id)
        mine = self.engine.open_orders(account, market_id)
        if not mine:
            raise BinanceError.cancel_rejected()
        out = []
        for order in mine:
            cancel_id = secrets.token_urlsafe(16)[:22]
            self.engine.cancel(account, order, cancel_id)
            out.append(order.cancel_json(cancel_id, order.update_time))
        return out

    def all_orders(self, account: Account, p: Params) -> list[dict[str, Any]]:
        market_id = _required(p, "symbol")
        self.engine.symbol(market_id)
        rows = sorted((o for o in self.engine.orders.values()
                       if o.api_key == account.api_key and o.symbol == market_id),
                      key=lambda o: o.order_id)
        rows = _window(rows, p, id_key="orderId", id_of=lambda o: o.order_id,
                       time_of=lambda o: o.time)
        return [o.query_json() for o in rows]

    def my_trades(self, account: Account, p: Params) -> list[dict[str, Any]]:
        market_id = _required(p, "symbol")
        self.engine.symbol(market_id)
        mine = {o.order_id for o in self.engine.orders.values() if o.api_key == account.api_key}
        rows = [t for t in self.engine.trades if t.order_id in mine and t.symbol == market_id]
        order_id = _int(p, "orderId")
        if order_id is not None:
            rows = [t for t in rows if t.order_id == order_id]
        rows = _window(rows, p, id_key="fromId", id_of=lambda t: t.trade_id,
                       time_of=lambda t: t.time)
        return [t.my_trade_json() for t in rows]

    def account(self, account: Account, p: Params) -> dict[str, Any]:
        wallet, fees = account.wallet, account.fees
        wallet.touch(a for r in self.engine.rules.values() for a in (r.base, r.quote))
        balances = [{"asset": a, "free": fixed8(wallet.free(a)), "locked": fixed8(wallet.locked(a))}
                    for a in wallet.assets()]
        if p.get("omitZeroBalances") == "true":
            balances = [b for b in balances if dec(b["free"]) or dec(b["locked"])]
        return {
            # rest-api.md "Account information": rates in basis points and as fractions
            "makerCommission": int(fees.maker * 10000),
            "takerCommission": int(fees.taker * 10000),
            "buyerCommission": int(fees.buyer * 10000),
            "sellerCommission": int(fees.seller * 10000),
            "commissionRates": {"maker": fixed8(fees.maker), "taker": fixed8(fees.taker),
                                "buyer": fixed8(fees.buyer), "seller": fixed8(fees.seller)},
            "canTrade": account.can_trade, "canWithdraw": True, "canDeposit": True,
            "brokered": False, "requireSelfTradePrevention": False, "preventSor": False,
            "updateTime": self.emu.now_ms(), "accountType": "SPOT", "balances": balances,
            "permissions": ["SPOT"], "uid": account.uid}


def _window(rows: list, p: Params, *, id_key: str, id_of: Callable, time_of: Callable) -> list:
    """rest-api.md list rules: ``id_key`` gives rows >= it, else startTime/endTime,
    else the most recent; ``limit`` default 500, max 1000; oldest first."""
    limit = _int(p, "limit") or 500
    if not 1 <= limit <= 1000:
        raise BinanceError.invalid_param("limit")
    start_id, start, end = _int(p, id_key), _int(p, "startTime"), _int(p, "endTime")
    if start_id is not None:
        return [r for r in rows if id_of(r) >= start_id][:limit]
    if start is not None:
        rows = [r for r in rows if time_of(r) >= start]
    if end is not None:
        rows = [r for r in rows if time_of(r) <= end]
    return rows[:limit] if start is not None else rows[-limit:]
