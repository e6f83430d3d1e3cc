"""Signed Binance spot trading on the emulator: accounts, orders, matching, trades.

:class:`TradingDesk` is the exchange's order book keeper (behind ``BinanceState.lock``);
:class:`~.binance_routes.TradingRoutes` verifies requests like Binance and maps them
onto the desk.

Authentication, as Binance does it:

- ``X-MBX-APIKEY`` must name a known key (missing: -2014, unknown: -2015 HTTP 401);
- ``signature`` is the hex HMAC-SHA256, keyed by the secret, of the exact urlencoded
  parameters before it (query string for GET/DELETE, form body for POST); else -1022;
- ``timestamp`` must satisfy ``server - recvWindow <= timestamp < server + 1000``
  (``recvWindow`` default 5000, at most 60000); else -1021. ``server`` here is the
  *wall clock* plus ``desk.time_skew_ms``: the simulated market clock (``now_ms``)
  can jump hours between requests, signed timestamps cannot. Set ``time_skew_ms``
  to make a client's timestamps stale.
  A client that resynchronises through ``GET /api/v3/time`` (ccxt's
  ``load_time_difference``) learns the *market* time there; the desk remembers how
  far each answer was from the signing clock (``served_offset``), and a timestamp
  taken on a clock learnt that way is checked as if on the signing clock. So a
  resync cures a -1021 exactly as it does on the real exchange, whose two clocks
  are one.

Matching (simple, deterministic, documented at the point of use in ``_match_bar``):

- the current price is the one ``/api/v3/klines`` shows for the open bar at
  ``now_ms`` (the bar's open when the clock sits on a bar boundary);
- MARKET orders fill at once, completely, at the current price (``quoteOrderQty``
  buys spend that much quote *including* the fee); the fee is always charged in the
  quote asset at ``fee_rate`` (0.1 %), reported per trade as commission/commissionAsset;
- a LIMIT order marketable at the current price fills at once at that price (taker);
  IOC/FOK ones that are not expire; the rest rest (funds locked);
- a resting order placed at ``t`` meets bars that open at or after ``t``, as each bar
  closes on the emulator clock: a buy fills when the bar's low reaches its price,
  at ``min(price, open)`` (a bar that opens through it fills at the open), a sell
  symmetrically; as maker. ``partial_fill_qty`` caps what one bar can fill;
- ``newClientOrderId`` must be unique among the account's *open* orders (-2010
  "Duplicate order sent."); as on Binance, a finished order's id may be reused,
  which is why a client must look an order up before re-sending it.
"""

from __future__ import annotations

import collections
import itertools
import time
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from .binance import BinanceState, _Market

DEFAULT_RECV_WINDOW = 5_000
MAX_RECV_WINDOW = 60_000
FEE_RATE = 0.001


class BinanceReject(Exception):
    """A Binance error answer: ``code``, ``msg`` and HTTP ``status``."""

    def __init__(self, code: int, msg: str, status: int = 400) -> None:
        super().__init__(f"{code}: {msg}")
        self.code, self.msg, self.status = code, msg, status


def _num(value: float) -> str:
    return np.format_float_positional(float(value), unique=True, trim="-")


@dataclass
class Account:
    """One API key's account: ``balances[asset] = [free, locked]``."""

    api_key: str
    secret: str
    balances: dict[str, list[float]] = field(default_factory=dict)

    def free(self, asset: str) -> float:
        return self.balances.get(asset, [0.0, 0.0])[0]

    def add(self, asset: str, free: float = 0.0, locked: float = 0.0) -> None:
        row = self.balances.setdefault(asset, [0.0, 0.0])
        row[0] += free
        row[1] += locked


@dataclass
class EmuOrder:
    order_id: int
    client_id: str
    market_id: str
    side: str  # BUY / SELL
    type: str  # MARKET / LIMIT
    tif: str
    price: float
    qty: float
    api_key: str
    time: int
    executed: float = 0.0
    cum_quote: float = 0.0
    status: str = "NEW"
    update_time: int = 0
    locked: float = 0.0  # funds still locked for the unfilled part
    locked_total: float = 0.0  # locked at placement, released pro rata by fills
    quote_order_qty: float = 0.0

    @property
    def is_open(self) -> bool:
        return self.status in ("NEW", "PARTIALLY_FILLED")

    def as_binance(self) -> dict[str, Any]:
        return {
            "symbol": self.market_id, "orderId": self.order_id, "orderListId": -1,
            "clientOrderId": self.client_id, "price": _num(self.price),
            "origQty": _num(self.qty), "executedQty": _num(self.executed),
            "cummulativeQuoteQty": _num(self.cum_quote), "status": self.status,
            "timeInForce": self.tif, "type": self.type, "side": self.side,
            "stopPrice": "0", "icebergQty": "0", "time": self.time,
            "updateTime": self.update_time or self.time, "isWorking": True,
            "workingTime": self.time, "origQuoteOrderQty": _num(self.quote_order_qty),
            "selfTradePreventionMode": "EXPIRE_MAKER",
        }


@dataclass(frozen=True)
class EmuTrade:
    trade_id: int
    order_id: int
    market_id: str
    price: float
    qty: float
    commission: float
    commission_asset: str
    time: int
    is_buyer: bool
    is_maker: bool
    api_key: str

    def as_binance(self) -> dict[str, Any]:
        return {
            "symbol": self.market_id, "id": self.trade_id, "orderId": self.order_id,
            "orderListId": -1, "price": _num(self.price), "qty": _num(self.qty),
            "quoteQty": _num(self.price * self.qty), "commission": _num(self.commission),
            "commissionAsset": self.commission_asset, "time": self.time,
            "isBuyer": self.is_buyer, "isMaker": self.is_maker, "isBestMatch": True,
        }


def _dec(text: str, name: str) -> Decimal:
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise BinanceReject(-1100, f"Illegal characters found in parameter '{name}'; "
                                   f"legal range is '^([0-9]{{1,20}})(\\.[0-9]{{1,20}})?$'.") from None
    if not value.is_finite() or value < 0:
        raise BinanceReject(-1100, f"Illegal characters found in parameter '{name}'.")
    return value


class TradingDesk:
    """Accounts, orders and trades of the emulated exchange (use under ``state.lock``)."""

    def __init__(self, state: BinanceState, tf_ms: int, *, fee_rate: float = FEE_RATE) -> None:
        self.state = state
        self.tf_ms = tf_ms
        self.fee_rate = fee_rate
        self.accounts: dict[str, Account] = {}
        self.orders: dict[int, EmuOrder] = {}
        self.trades: list[EmuTrade] = []
        self.time_skew_ms = 0
        #: How far each /api/v3/time answer was from the signing clock (newest last).
        self.time_offsets: collections.deque[int] = collections.deque(maxlen=32)
        self.partial_fill_qty: float | None = None
        self._duplicate_reports = 0
        self._order_ids = itertools.count(1_000_001)
        self._trade_ids = itertools.count(50_001)
        self._matched_until: dict[str, int] = {}  # market id -> first bar open not yet matched

    # -- test conveniences ---------------------------------------------------------
    def add_account(self, api_key: str, secret: str, balances: dict[str, float]) -> Account:
        with self.state.lock:
            account = Account(api_key, secret, {a: [float(v), 0.0] for a, v in balances.items()})
            self.accounts[api_key] = account
            return account

    def duplicate_trade_reports(self, times: int = 1) -> None:
        """The next ``times`` myTrades answers list every trade twice (a duplicate report)."""
        with self.state.lock:
            self._duplicate_reports += times

    def open_orders(self, api_key: str | None = None) -> list[EmuOrder]:
        with self.state.lock:
            self.catch_up()
            return [o for o in self.orders.values()
                    if o.is_open and (api_key is None or o.api_key == api_key)]

    def server_wall_ms(self) -> int:
        """The clock signed timestamps are checked against (wall clock + skew)."""
        return int(time.time() * 1000) + self.time_skew_ms

    def served_time(self) -> int:
        """The market time ``GET /api/v3/time`` answers; remembers its signing offset."""
        now = self.state.now_ms
        offset = now - self.server_wall_ms()
        if offset not in self.time_offsets:
            self.time_offsets.append(offset)
        return now

    def stamp_candidates(self, stamp: int) -> list[int]:
        """``stamp`` on the signing clock: as sent, and as taken on each clock served."""
        return [stamp, *(stamp - o for o in self.time_offsets)]

    # -- prices --------------------------------------------------------------------
    def market(self, market_id: str) -> _Market:
        market = self.state.markets.get(market_id)
        if market is None:
            raise BinanceReject(-1121, "Invalid symbol.")
        return market

    def price_now(self, market: _Market) -> float:
        """The open bar's price at ``now_ms`` (as klines shows it); last close after the data."""
        now = self.state.now_ms
        i = int(np.searchsorted(market.ts, now, side="right")) - 1
        if i < 0:
            raise BinanceReject(-1013, f"no market data before {now} for {market.market_id}")
        o, _, _, c, _ = (float(x) for x in market.values[i])
        t = int(market.ts[i])
        if t + self.tf_ms > now:
            return o + (c - o) * (now - t) / self.tf_ms
        return c

    # -- matching --------------------------------------------------------------------
    def catch_up(self) -> None:
        """Match resting orders against every bar closed since the last call."""
        now = self.state.now_ms
        for market in self.state.markets.values():
            start = self._matched_until.get(market.market_id)
            lo = 0 if start is None else int(np.searchsorted(market.ts, start, side="left"))
            closed_end = int(np.searchsorted(market.ts, now - self.tf_ms, side="right"))
            for i in range(lo, closed_end):
                self._match_bar(market, i)
            if closed_end > lo:
                self._matched_until[market.market_id] = int(market.ts[closed_end - 1]) + 1
            elif start is None:
                self._matched_until[market.market_id] = now - self.tf_ms + 1

    def _match_bar(self, market: _Market, i: int) -> None:
        # The matching rule (see the module docstring): resting orders placed at or
        # before the bar's open meet its range; fills at the limit, or at the open when
        # the bar opens through the limit; maker fee; at most partial_fill_qty per bar.
        bar_ts = int(market.ts[i])
        o, h, lo, _, _ = (float(x) for x in market.values[i])
        for order in sorted(self.orders.values(), key=lambda x: x.order_id):
            if (not order.is_open or order.market_id != market.market_id
                    or order.type != "LIMIT" or order.time > bar_ts):
                continue
            if order.side == "BUY" and lo <= order.price:
                price = min(order.price, o)
            elif order.side == "SELL" and h >= order.price:
                price = max(order.price, o)
            else:
                continue
            qty = order.qty - order.executed
            if self.partial_fill_qty is not None:
                qty = min(qty, self.partial_fill_qty)
            self._fill(order, market, price, qty, bar_ts + self.tf_ms - 1, maker=True)

    def _fill(self, order: EmuOrder, market: _Market, price: float, qty: float, ts: int,
              *, maker: bool) -> EmuTrade:
        account = self.accounts[order.api_key]
        base, quote = market.symbol.split("/")
        notional = price * qty
        fee = notional * self.fee_rate
        share = qty / order.qty
        if order.side == "BUY":
            released = min(order.locked, order.locked_total * share) if order.type == "LIMIT" \
                else 0.0
            account.add(quote, free=released - notional - fee, locked=-released)
            order.locked -= released
            account.add(base, free=qty)
        else:
            released = qty if order.type == "LIMIT" else 0.0
            account.add(base, free=-qty if order.type == "MARKET" else 0.0, locked=-released)
            order.locked -= released
            account.add(quote, free=notional - fee)
        order.executed += qty
        order.cum_quote += notional
        order.update_time = ts
        done = order.executed >= order.qty * (1 - 1e-12)
        order.status = "FILLED" if done else "PARTIALLY_FILLED"
        if done:
            self._release(order)
        trade = EmuTrade(next(self._trade_ids), order.order_id, order.market_id, price, qty,
                         fee, quote, ts, order.side == "BUY", maker, order.api_key)
        self.trades.append(trade)
        return trade

    def _release(self, order: EmuOrder) -> None:
        """Unlock what an order that stopped working still held."""
        if order.locked <= 0:
            return
        market = self.state.markets[order.market_id]
        base, quote = market.symbol.split("/")
        asset = quote if order.side == "BUY" else base
        self.accounts[order.api_key].add(asset, free=order.locked, locked=-order.locked)
        order.locked = 0.0

    # -- order entry -----------------------------------------------------------------
    def place(self, account: Account, p: dict[str, str]) -> tuple[EmuOrder, list[EmuTrade]]:
        """POST /api/v3/order; raises :class:`BinanceReject` like Binance would."""
        for name in ("symbol", "side", "type"):
            if not p.get(name):
                raise BinanceReject(-1102, f"Mandatory parameter '{name}' was not sent, was "
                                           "empty/null, or malformed.")
        self.catch_up()
        market = self.market(p["symbol"])
        side, otype = p["side"].upper(), p["type"].upper()
        if side not in ("BUY", "SELL"):
            raise BinanceReject(-1117, "Invalid side.")
        if otype not in ("MARKET", "LIMIT"):
            raise BinanceReject(-1116, "Invalid orderType.")
        client_id = p.get("newClientOrderId") or f"emu{next(self._order_ids)}"
        if any(o.is_open and o.api_key == account.api_key and o.client_id == client_id
               for o in self.orders.values()):
            raise BinanceReject(-2010, "Duplicate order sent.")
        rules = market.rules
        now = self.state.now_ms
        current = self.price_now(market)
        fee = self.fee_rate
        quote_qty = 0.0
        if otype == "MARKET" and p.get("quoteOrderQty"):
            quote_qty = float(_dec(p["quoteOrderQty"], "quoteOrderQty"))
            step = Decimal(rules.step_size)
            raw = Decimal(repr(quote_qty / (current * (1 + fee if side == "BUY" else 1))))
            qty_dec = (raw // step) * step
        else:
            if not p.get("quantity"):
                raise BinanceReject(-1102, "Mandatory parameter 'quantity' was not sent, was "
                                           "empty/null, or malformed.")
            qty_dec = _dec(p["quantity"], "quantity")
            if qty_dec % Decimal(rules.step_size) != 0:
                raise BinanceReject(-1013, "Filter failure: LOT_SIZE")
        if qty_dec < Decimal(rules.min_qty):
            raise BinanceReject(-1013, "Filter failure: LOT_SIZE")
        qty = float(qty_dec)
        tif = ""
        if otype == "LIMIT":
            if not p.get("price"):
                raise BinanceReject(-1102, "Mandatory parameter 'price' was not sent, was "
                                           "empty/null, or malformed.")
            tif = (p.get("timeInForce") or "").upper()
            if tif not in ("GTC", "IOC", "FOK"):
                raise BinanceReject(-1102, "Mandatory parameter 'timeInForce' was not sent, "
                                           "was empty/null, or malformed.")
            price_dec = _dec(p["price"], "price")
            if price_dec <= 0 or price_dec % Decimal(rules.tick_size) != 0:
                raise BinanceReject(-1013, "Filter failure: PRICE_FILTER")
            price = float(price_dec)
        else:
            price = current
        if price * qty < float(rules.min_notional):
            raise BinanceReject(-1013, "Filter failure: NOTIONAL")
        base, quote = market.symbol.split("/")
        marketable = otype == "MARKET" or (price >= current if side == "BUY" else price <= current)
        if side == "BUY":
            need = (current if marketable else price) * qty * (1 + fee)
            ok = account.free(quote) >= need * (1 - 1e-12)
        else:
            need = qty
            ok = account.free(base) >= qty * (1 - 1e-12)
        if not ok:
            raise BinanceReject(-2010, "Account has insufficient balance for requested action.")
        order = EmuOrder(next(self._order_ids), client_id, market.market_id, side, otype,
                         tif or "GTC", 0.0 if otype == "MARKET" else price, qty,
                         account.api_key, now, update_time=now, quote_order_qty=quote_qty)
        self.orders[order.order_id] = order
        if marketable:
            trade = self._fill(order, market, current, qty, now, maker=False)
            return order, [trade]
        if tif in ("IOC", "FOK"):
            order.status = "EXPIRED"
            return order, []
        order.locked = need
        order.locked_total = need
        account.add(quote if side == "BUY" else base, free=-need, locked=need)
        return order, []

    def find(self, account: Account, p: dict[str, str]) -> EmuOrder:
        """The order named by orderId or origClientOrderId (latest with that client id)."""
        self.catch_up()
        market = self.market(p.get("symbol", ""))
        mine = [o for o in self.orders.values()
                if o.api_key == account.api_key and o.market_id == market.market_id]
        if p.get("orderId"):
            found = [o for o in mine if str(o.order_id) == p["orderId"]]
        elif p.get("origClientOrderId"):
            found = [o for o in mine if o.client_id == p["origClientOrderId"]]
        else:
            raise BinanceReject(-1102, "Param 'origClientOrderId' or 'orderId' must be sent, "
                                       "but both were empty/null!")
        if not found:
            raise BinanceReject(-2013, "Order does not exist.")
        return max(found, key=lambda o: o.order_id)

    def cancel(self, order: EmuOrder) -> None:
        if not order.is_open:
            raise BinanceReject(-2011, "Unknown order sent.")
        order.status = "CANCELED"
        order.update_time = self.state.now_ms
        self._release(order)

    def my_trades(self, account: Account, p: dict[str, str]) -> list[dict[str, Any]]:
        self.catch_up()
        market = self.market(p.get("symbol", ""))
        rows = [t for t in self.trades
                if t.api_key == account.api_key and t.market_id == market.market_id]
        if p.get("orderId"):
            rows = [t for t in rows if str(t.order_id) == p["orderId"]]
        if p.get("fromId"):
            rows = [t for t in rows if t.trade_id >= int(p["fromId"])]
        if p.get("startTime"):
            rows = [t for t in rows if t.time >= int(p["startTime"])]
        if p.get("endTime"):
            rows = [t for t in rows if t.time <= int(p["endTime"])]
        limit = min(int(p.get("limit") or 500), 1000)
        rows = rows[:limit] if p.get("fromId") or p.get("startTime") else rows[-limit:]
        out = [t.as_binance() for t in rows]
        if self._duplicate_reports > 0:
            self._duplicate_reports -= 1
            out = [row for t in out for row in (t, dict(t))]
        return out
