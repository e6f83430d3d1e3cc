r"""HTTP routes of the USDⓈ-M emulator, as ccxt 4.5.90 ``binanceusdm`` calls them.

Public: ``/fapi/v1/ping``, ``time`` (fetch_time), ``exchangeInfo`` (fetch_markets,
``options.fetchMarkets.types == ['linear']``), ``depth``, ``klines`` and
``markPriceKlines`` (fetch_ohlcv; ``params={'price': 'mark'}``), ``premiumIndex``
(fetch_funding_rate), ``fundingRate`` (fetch_funding_rate_history).
Signed (HMAC as spot, auth.py of binance_spot; "General Info" of the USDⓈ-M docs
states the same SIGNED rules): ``leverageBracket`` (load_leverage_brackets,
fetch_leverage_tiers), ``leverage`` POST (set_leverage), ``marginType`` POST
(set_margin_mode), ``order`` POST/GET/DELETE, ``openOrders``, ``allOrders``,
``userTrades`` (fetch_my_trades), ``income`` (fetch_funding_history with
``incomeType=FUNDING_FEE``), ``/fapi/v2/positionRisk`` and ``/fapi/v3/positionRisk``
(fetch_positions calls v3 unless ``useV2``), ``/fapi/v2/account``,
``/fapi/v3/account`` (fetch_balance calls v3), ``/fapi/v2/balance``,
``/fapi/v3/balance``, ``commissionRate`` (fetch_trading_fee), ``/fapi/v1/listenKey``
POST/PUT/DELETE (ws.py).

Rules per endpoint page (USDⓈ-M docs, mirrored in rosssaunders/coincise
``docs/binance/usdm/endpoints``): New Order ``newOrderRespType`` "ACK", "RESULT",
default "ACK"; ``newClientOrderId`` "A unique id among open orders" matching
``^[\.A-Z\:/a-z0-9_-]{1,36}$`` (-4015 otherwise); Query Order / All Orders "will not
be found: order status is CANCELED or EXPIRED AND order has NO filled trade AND
created time + 3 days < current time"; Account Trade List, Get Income History and
All Orders return the last 7 days when neither startTime nor endTime is sent.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl

from aiohttp import web

from venues.binance_spot import auth
from venues.binance_spot.errors import BinanceError
from venues.binance_usdm import errors, events, views
from venues.binance_usdm.account import FuturesAccount
from venues.binance_usdm.market import select
from venues.binance_usdm.orders import Order, Status
from venues.binance_usdm.params import (
    DAY_MS,
    Params,
    decimal,
    integer,
    page_limit,
    recent,
    required,
)
from venues.binance_usdm.public import PublicData
from venues.common.money import ZERO, plain

if TYPE_CHECKING:
    from venues.binance_usdm.emulator import BinanceUsdmEmulator

_CLIENT_ID = re.compile(r"^[\.A-Z\:/a-z0-9_-]{1,36}$")
Signed = Callable[[FuturesAccount, Params], Any]
ALGO_TYPES = ("STOP", "STOP_MARKET", "TAKE_PROFIT", "TAKE_PROFIT_MARKET",
              "TRAILING_STOP_MARKET")


class UsdmRest:
    """Route handlers; the engine does the work under its lock."""

    def __init__(self, emu: BinanceUsdmEmulator) -> None:
        self.emu = emu
        self.engine = emu.engine

    def register(self, app: web.Application) -> None:
        r = app.router
        pub, sig = self._public, self._signed
        r.add_get("/fapi/v1/ping", pub(lambda p: {}))
        r.add_get("/fapi/v1/time", pub(lambda p: {"serverTime": self.emu.now_ms()}))
        public = PublicData(self.emu)
        r.add_get("/fapi/v1/exchangeInfo", pub(public.exchange_info))
        r.add_get("/fapi/v1/depth", pub(public.depth))
        r.add_get("/fapi/v1/klines", pub(lambda p: public.klines(p, mark=False)))
        r.add_get("/fapi/v1/markPriceKlines", pub(lambda p: public.klines(p, mark=True)))
        r.add_get("/fapi/v1/premiumIndex", pub(public.premium_index))
        r.add_get("/fapi/v1/fundingRate", pub(public.funding_rate))
        r.add_get("/fapi/v1/ticker/24hr", pub(public.ticker_24h))
        r.add_get("/fapi/v1/ticker/price", pub(public.price_ticker))
        r.add_get("/fapi/v1/ticker/bookTicker", pub(public.book_ticker))
        r.add_get("/fapi/v1/leverageBracket", sig(self.leverage_bracket))
        r.add_post("/fapi/v1/leverage", sig(self.set_leverage))
        r.add_post("/fapi/v1/marginType", sig(self.set_margin_type))
        r.add_get("/fapi/v1/symbolConfig", sig(self.symbol_config))
        r.add_get("/fapi/v1/positionSide/dual", sig(lambda a, p: {"dualSidePosition": False}))
        r.add_post("/fapi/v1/order", sig(self.new_order))
        r.add_get("/fapi/v1/order", sig(self.get_order))
        r.add_delete("/fapi/v1/order", sig(self.cancel_order))
        r.add_get("/fapi/v1/openOrders", sig(self.open_orders))
        r.add_delete("/fapi/v1/allOpenOrders", sig(self.cancel_all))
        r.add_get("/fapi/v1/allOrders", sig(self.all_orders))
        r.add_get("/fapi/v1/userTrades", sig(self.user_trades))
        r.add_get("/fapi/v1/income", sig(self.income))
        r.add_get("/fapi/v1/commissionRate", sig(self.commission_rate))
        for version in ("v2", "v3"):
            r.add_get(f"/fapi/{version}/positionRisk",
                      sig(lambda a, p, v=version: self.position_risk(a, p, v)))
            r.add_get(f"/fapi/{version}/account",
                      sig(lambda a, p, v=version: self.account(a, p, v)))
            r.add_get(f"/fapi/{version}/balance", sig(self.balance))

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
                    params: Params = {**dict(parse_qsl(body, keep_blank_values=True)),
                                      **dict(request.query)}
                    params.pop("signature", None)
                    auth.check_timing(timestamp=params.get("timestamp"),
                                      recv_window=params.get("recvWindow"),
                                      server_ms=self.emu.request_clock_ms())
                    return web.json_response(fn(account, params))
            except BinanceError as err:
                return web.json_response(err.body(), status=err.status)
        return handler

    def _market(self, p: Params) -> str:
        market_id = required(p, "symbol")
        self.engine.symbol(market_id)
        return market_id

    # -- account settings --------------------------------------------------------------
    def leverage_bracket(self, account: FuturesAccount, p: Params) -> Any:
        if p.get("symbol"):
            return self.engine.symbol(self._market(p)).brackets.json()
        return [r.brackets.json() for r in self.engine.rules.values()]

    def set_leverage(self, account: FuturesAccount, p: Params) -> dict[str, Any]:
        market_id = self._market(p)
        leverage = integer(p, "leverage")
        table = self.engine.symbol(market_id).brackets
        if leverage is None:
            raise BinanceError.mandatory("leverage")
        if not 1 <= leverage <= table.max_leverage:
            raise errors.bad_leverage(leverage)
        position = account.positions.get(market_id)
        notional = abs(position.notional(self.engine.markets[market_id].mark)) if position \
            else ZERO
        if notional > table.max_notional(leverage):
            raise BinanceError(-2027, "Exceeded the maximum allowable position at current "
                                      "leverage.")
        settings = account.settings(market_id)
        if settings.margin_type == "ISOLATED" and position is not None and \
                position.amount and leverage < settings.leverage:
            raise BinanceError(-4161, "Leverage reduction is not supported in Isolated "
                                      "Margin Mode with open positions")
        if leverage != settings.leverage:
            settings.leverage = leverage
            self.engine.sink(account.api_key, events.config_update(
                market_id=market_id, leverage=leverage, time=self.emu.now_ms()))
        return {"leverage": leverage, "maxNotionalValue": plain(table.max_notional(leverage)),
                "symbol": market_id}

    def set_margin_type(self, account: FuturesAccount, p: Params) -> dict[str, Any]:
        market_id = self._market(p)
        wanted = required(p, "marginType").upper()
        if wanted == "CROSS":
            wanted = "CROSSED"
        if wanted not in ("ISOLATED", "CROSSED"):
            raise BinanceError.invalid_param("marginType")
        settings = account.settings(market_id)
        if settings.margin_type == wanted:
            raise errors.margin_type_unchanged()
        position = account.positions.get(market_id)
        if position is not None and position.amount:
            raise errors.position_blocks_margin_type()
        if self.engine.open_orders(account, market_id):
            raise errors.open_orders_block_margin_type()
        settings.margin_type = wanted
        return {"code": 200, "msg": "success"}

    def symbol_config(self, account: FuturesAccount, p: Params) -> list[dict[str, Any]]:
        """"Symbol Configuration": margin type and leverage per symbol (fetch_leverages,
        fetch_margin_modes)."""
        market_ids = [self._market(p)] if p.get("symbol") else list(self.engine.rules)
        rows = []
        for market_id in market_ids:
            settings = account.settings(market_id)
            table = self.engine.rules[market_id].brackets
            rows.append({"symbol": market_id, "marginType": settings.margin_type,
                         "isAutoAddMargin": "false", "leverage": settings.leverage,
                         "maxNotionalValue": plain(table.max_notional(settings.leverage))})
        return rows

    # -- trading -----------------------------------------------------------------------
    def new_order(self, account: FuturesAccount, p: Params) -> dict[str, Any]:
        market_id = self._market(p)
        side, type_ = required(p, "side"), required(p, "type")
        if side not in ("BUY", "SELL"):
            raise BinanceError(-1117, "Invalid side.")
        if type_ in ALGO_TYPES:
            # conditional orders moved to the Algo Order API (POST /fapi/v1/algoOrder,
            # which ccxt 4.5.90 uses for them and the emulator does not serve); the
            # order endpoint refuses them with -4120 (text quoted in ccxt's exceptions)
            raise BinanceError(-4120, "Order type not supported for this endpoint. Please "
                                      "use the Algo Order API endpoints instead.")
        if type_ not in ("LIMIT", "MARKET"):
            raise BinanceError(-1116, "Invalid orderType.")
        position_side = p.get("positionSide") or "BOTH"
        if position_side != "BOTH":
            raise BinanceError(-4061, "Order's position side does not match user's setting.")
        qty, price = decimal(p, "quantity"), decimal(p, "price")
        if qty is None:
            raise BinanceError.mandatory("quantity")
        tif = p.get("timeInForce") or "GTC"
        if type_ == "LIMIT":
            tif = required(p, "timeInForce")
            if tif not in ("GTC", "IOC", "FOK", "GTX"):
                raise BinanceError(-1115, "Invalid timeInForce.")
            if price is None:
                raise BinanceError.mandatory("price")
        elif price is not None:
            raise BinanceError(-1106, "Parameter 'price' sent when not required.")
        reduce_only = p.get("reduceOnly", "false").lower()
        if reduce_only not in ("true", "false"):
            raise BinanceError(-4062, "Invalid or improper reduceOnly value.")
        resp_type = p.get("newOrderRespType") or "ACK"
        if resp_type not in ("ACK", "RESULT"):
            raise BinanceError(-1136, "Invalid newOrderRespType.")
        client_id = p.get("newClientOrderId") or secrets.token_urlsafe(16)[:22]
        if not _CLIENT_ID.match(client_id):
            raise BinanceError(-4015, "Client order id is not valid.")
        order = self.engine.place(account, market_id=market_id, side=side, type_=type_,
                                  tif=tif, qty=qty, price=price,
                                  reduce_only=reduce_only == "true", client_id=client_id)
        return order.json("ack" if resp_type == "ACK" else "new")

    def _visible(self, order: Order) -> bool:
        """Query Order / All Orders: CANCELED or EXPIRED orders without fills vanish
        3 days after creation."""
        gone = order.status in (Status.CANCELED, Status.EXPIRED) and not order.filled
        return not (gone and order.time + 3 * DAY_MS < self.emu.now_ms())

    def get_order(self, account: FuturesAccount, p: Params) -> dict[str, Any]:
        order = self.engine.find(account, self._market(p), integer(p, "orderId"),
                                 p.get("origClientOrderId"), errors.no_such_order())
        if not self._visible(order):
            raise errors.no_such_order()
        return order.json("query")

    def cancel_order(self, account: FuturesAccount, p: Params) -> dict[str, Any]:
        order = self.engine.find(account, self._market(p), integer(p, "orderId"),
                                 p.get("origClientOrderId"), errors.unknown_order())
        self.engine.cancel(account, order)
        return order.json("cancel")

    def cancel_all(self, account: FuturesAccount, p: Params) -> dict[str, Any]:
        for order in self.engine.open_orders(account, self._market(p)):
            self.engine.cancel(account, order)
        return {"code": 200, "msg": "The operation of cancel all open order is done."}

    def open_orders(self, account: FuturesAccount, p: Params) -> list[dict[str, Any]]:
        market_id = self._market(p) if p.get("symbol") else None
        return [o.json("query") for o in self.engine.open_orders(account, market_id)]

    def all_orders(self, account: FuturesAccount, p: Params) -> list[dict[str, Any]]:
        market_id = self._market(p)
        rows = sorted((o for o in self.engine.orders.values()
                       if o.api_key == account.api_key and o.symbol == market_id
                       and self._visible(o)), key=lambda o: o.order_id)
        start_id = integer(p, "orderId")
        limit = page_limit(p, 500, 1000)
        if start_id is not None:
            return [o.json("query") for o in rows if o.order_id >= start_id][:limit]
        start, end = recent(p, self.emu.now_ms())
        chosen = select(rows, time_of=lambda o: o.time, start=start, end=end, limit=limit)
        return [o.json("query") for o in chosen]

    def user_trades(self, account: FuturesAccount, p: Params) -> list[dict[str, Any]]:
        market_id = self._market(p)
        rows = [t for t in self.engine.trades
                if t.api_key == account.api_key and t.symbol == market_id]
        order_id = integer(p, "orderId")
        if order_id is not None:
            rows = [t for t in rows if t.order_id == order_id]
        from_id = integer(p, "fromId")
        limit = page_limit(p, 500, 1000)
        if from_id is not None:
            if p.get("startTime") or p.get("endTime"):
                # "The parameter fromId cannot be sent with startTime or endTime."
                raise BinanceError(-1128, "Combination of optional parameters invalid.")
            return [t.json() for t in rows if t.trade_id >= from_id][:limit]
        if order_id is not None:
            return [t.json() for t in rows][-limit:]
        start, end = recent(p, self.emu.now_ms())
        chosen = select(rows, time_of=lambda t: t.time, start=start, end=end, limit=limit)
        return [t.json() for t in chosen]

    def income(self, account: FuturesAccount, p: Params) -> list[dict[str, Any]]:
        rows = list(account.incomes)
        if p.get("symbol"):
            market_id = self._market(p)
            rows = [r for r in rows if r.symbol == market_id]
        if p.get("incomeType"):
            rows = [r for r in rows if r.income_type.value == p["incomeType"]]
        start, end = recent(p, self.emu.now_ms())
        chosen = select(rows, time_of=lambda r: r.time, start=start, end=end,
                        limit=page_limit(p, 100, 1000))
        return [r.json() for r in chosen]

    def commission_rate(self, account: FuturesAccount, p: Params) -> dict[str, Any]:
        """"User Commission Rate": the account's maker/taker rates as fractions."""
        return {"symbol": self._market(p),
                "makerCommissionRate": plain(account.maker_rate),
                "takerCommissionRate": plain(account.taker_rate)}

    # -- positions and balances (views.py) ---------------------------------------------
    def position_risk(self, account: FuturesAccount, p: Params,
                      version: str) -> list[dict[str, Any]]:
        market_ids = [self._market(p)] if p.get("symbol") else list(self.engine.rules)
        if version == "v3":
            market_ids = [m for m in market_ids if views.shown(self.engine, account, m)]
        return [views.position_row(self.engine, account, m, version) for m in market_ids]

    def account(self, account: FuturesAccount, p: Params, version: str) -> dict[str, Any]:
        return views.account_info(self.engine, account, version)

    def balance(self, account: FuturesAccount, p: Params) -> list[dict[str, Any]]:
        return views.balance(self.engine, account)
