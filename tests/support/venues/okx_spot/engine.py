"""OKX spot matching: order acceptance, fills, balances in the currency received, pushes.

Rules, by source (OKX docs v5, sections named):

- "Place order" / "Place multiple orders": ``tdMode`` must be ``cash`` for spot in
  Spot mode (51000 otherwise); ``ordType`` market/limit/post_only/ioc/fok; limit
  types need ``px`` (51204); for spot MARKET orders ``tgtCcy`` says what ``sz``
  counts: "Default is quote_ccy for buy, base_ccy for sell" (orders channel,
  ``tgtCcy``); ``clOrdId`` must be unique (51016).
- size/price checks: rules.py. Funds: a buy needs the quote it will spend (limit:
  ``sz * px``, frozen while live), a sell needs ``sz`` base; else 51008 "Order failed.
  Insufficient {ccy} balance in account" (docs 51008_1000).
- fees: in the currency received, negative (orders.py); ``fee = -(received * rate)``
  with the account's maker/taker rate, unrounded as in the captured fill
  ``"fee": "-0.000007533"`` for a 0.007533 ETH buy.
- a market order that the book cannot fill completely is partly filled and the rest
  canceled by the system (``cancelSource`` 0); IOC leftovers are canceled (14), FOK
  orders that cannot fill completely are canceled unfilled (13), a post-only order
  that would take is canceled (31) (orders channel, ``cancelSource`` values).
- a resting order fills as maker, at its own price, when the book moves through it.
- cancelling a finished or unknown order is 51400; querying an unknown one 51603.
- every change pushes the order on the ``orders`` channel (one message per fill,
  with that fill's ``fillPx``/``fillSz``/``tradeId``/``fillFee``).
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from venues.common.book import Book
from venues.common.book import Fill as BookFill
from venues.common.money import ZERO, Decimal, dec
from venues.common.wallet import Wallet
from venues.okx_spot.errors import OkxError
from venues.okx_spot.orders import Fill, Order, State
from venues.okx_spot.rules import Instrument

Sink = Callable[[str, dict[str, Any]], None]
LIMIT_TYPES = ("limit", "post_only", "ioc", "fok")


@dataclass
class Account:
    """One OKX API key (Spot mode trading account)."""

    api_key: str
    secret: str
    passphrase: str
    wallet: Wallet = field(default_factory=Wallet)
    maker: Decimal = dec("0.0008")  # OKX regular-user spot rates (Lv1)
    taker: Decimal = dec("0.001")
    uid: str = "614488474791936"


class Engine:
    """The exchange's state behind one lock."""

    def __init__(self, clock: Callable[[], int], sink: Sink) -> None:
        self.lock = threading.RLock()
        self.clock, self.sink = clock, sink
        self.instruments: dict[str, Instrument] = {}
        self.books: dict[str, Book] = {}
        self.accounts: dict[str, Account] = {}
        self.orders: dict[str, Order] = {}
        self.fills: list[Fill] = []
        self._ord_ids = itertools.count(600_000_000_000_000_001)
        self._trade_ids = itertools.count(242_589_207)
        self._bill_ids = itertools.count(317_321_390_265_368_576)

    def instrument(self, inst_id: str | None) -> Instrument:
        inst = self.instruments.get(inst_id or "")
        if inst is None:
            raise OkxError.no_instrument()
        return inst

    def find(self, account: Account, inst_id: str, ord_id: str | None,
             cl_ord_id: str | None, *, missing: OkxError) -> Order:
        self.instrument(inst_id)
        for order in self.orders.values():
            if order.api_key == account.api_key and order.inst_id == inst_id and (
                    (ord_id and order.ord_id == ord_id) or
                    (not ord_id and cl_ord_id and order.cl_ord_id == cl_ord_id)):
                return order
        raise missing

    # -- placing -----------------------------------------------------------------------
    def place(self, account: Account, req: dict[str, Any]) -> Order:
        with self.lock:
            inst = self.instrument(req.get("instId"))
            side, ord_type = req.get("side"), req.get("ordType")
            if side not in ("buy", "sell"):
                raise OkxError.bad_param("side")
            if ord_type not in ("market",) + LIMIT_TYPES:
                raise OkxError.bad_param("ordType")
            if req.get("tdMode") != "cash":
                raise OkxError.bad_param("tdMode")
            sz = dec(req.get("sz") or "0")
            px = dec(req["px"]) if req.get("px") not in (None, "") else None
            if ord_type in LIMIT_TYPES and px is None:
                raise OkxError("51204", "The price for the limit order cannot be empty.")
            market = ord_type == "market"
            tgt = req.get("tgtCcy") or ("quote_ccy" if market and side == "buy" else "base_ccy")
            quote_sized = market and side == "buy" and tgt == "quote_ccy"
            if quote_sized:
                if sz <= 0:
                    raise OkxError.bad_param("sz")
            else:
                inst.check(sz=sz, px=None if market else px, market=market)
            cl_ord_id = req.get("clOrdId") or ""
            if cl_ord_id and any(o.cl_ord_id == cl_ord_id for o in self.orders.values()
                                 if o.api_key == account.api_key):
                raise OkxError.duplicate_client_id()
            book = self.books[inst.inst_id]
            would_take = ord_type == "post_only" and bool(book.plan(side, qty=sz, limit=px))
            plan = self._plan(book, inst, side, ord_type, sz, px, quote_sized)
            self._check_funds(account, inst, side, ord_type, sz, px, plan, quote_sized)
            now = self.clock()
            order = Order(str(next(self._ord_ids)), cl_ord_id, inst.inst_id, side, ord_type,
                          sz, px, now,
                          tgt_ccy=tgt if market else "", api_key=account.api_key,
                          tag=req.get("tag") or "")
            self.orders[order.ord_id] = order
            if not market:
                order.locked = sz * px if side == "buy" else sz
                account.wallet.lock(inst.quote if side == "buy" else inst.base, order.locked)
            self.sink(account.api_key, order.json(latest=False))
            book.consume(side, plan)
            for fill_px, fill_sz in plan:
                self._fill(account, inst, order, fill_px, fill_sz, maker=False)
            self._finish(account, inst, order, would_take)
            return order

    def _plan(self, book: Book, inst: Instrument, side: str, ord_type: str, sz: Decimal,
              px: Decimal | None, quote_sized: bool) -> list[BookFill]:
        if ord_type == "market":
            if quote_sized:
                return book.plan(side, quote=sz, step=inst.lot_sz)
            return book.plan(side, qty=sz)
        plan = book.plan(side, qty=sz, limit=px)
        if ord_type == "post_only" or (ord_type == "fok" and sum(q for _, q in plan) < sz):
            return []
        return plan

    def _check_funds(self, account: Account, inst: Instrument, side: str, ord_type: str,
                     sz: Decimal, px: Decimal | None, plan: list[BookFill],
                     quote_sized: bool) -> None:
        wallet = account.wallet
        if side == "buy":
            if ord_type != "market":
                need = sz * px
            elif quote_sized:
                need = sz
            else:
                need = sum((p * q for p, q in plan), ZERO)
            if wallet.free(inst.quote) < need:
                raise OkxError.insufficient(inst.quote)
        elif wallet.free(inst.base) < sz:
            raise OkxError.insufficient(inst.base)

    def _fill(self, account: Account, inst: Instrument, order: Order, px: Decimal,
              sz: Decimal, *, maker: bool) -> Fill:
        wallet, now = account.wallet, self.clock()
        rate = account.maker if maker else account.taker
        cost = px * sz
        if order.side == "buy":
            fee = -(sz * rate)
            if order.ord_type == "market":
                wallet.debit(inst.quote, cost)
            else:
                wallet.spend_locked(inst.quote, sz * order.px)
                wallet.credit(inst.quote, sz * order.px - cost)
                order.locked -= sz * order.px
            wallet.credit(inst.base, sz + fee)
        else:
            fee = -(cost * rate)
            if order.ord_type == "market":
                wallet.debit(inst.base, sz)
            else:
                wallet.spend_locked(inst.base, sz)
                order.locked -= sz
            wallet.credit(inst.quote, cost + fee)
        fill = Fill(str(next(self._trade_ids)), str(next(self._bill_ids)), order.ord_id,
                    order.cl_ord_id, order.inst_id, order.side, px, sz, fee, order.fee_ccy,
                    now, maker)
        order.fills.append(fill)
        self.fills.append(fill)
        order.acc_fill_sz += sz
        order.acc_quote += cost
        order.fee += fee
        order.u_time = now
        done = order.tgt_ccy != "quote_ccy" and order.acc_fill_sz == order.sz
        order.state = State.FILLED if done else State.PARTIALLY_FILLED
        self.sink(order.api_key, order.json(fill))
        return fill

    def _finish(self, account: Account, inst: Instrument, order: Order,
                would_take: bool) -> None:
        """Cancel what a market/IOC/FOK order could not fill, or a taking post-only."""
        if order.state == State.FILLED:
            return
        if order.tgt_ccy == "quote_ccy" and order.fills and \
                (self.books[inst.inst_id].asks if order.side == "buy" else True):
            # spent what the quote amount buys; pushed as "filled" without a fill, as
            # the orders channel notes for market orders ("fillSz" 0)
            order.state, order.u_time = State.FILLED, self.clock()
            self.sink(order.api_key, order.json(latest=False))
            return
        source = {"market": "0", "ioc": "14", "fok": "13"}.get(order.ord_type)
        if would_take:
            source = "31"
        if source is None:
            return  # limit / non-crossing post_only: rests on the book
        self._release(account, inst, order)
        order.state, order.cancel_source, order.u_time = State.CANCELED, source, self.clock()
        self.sink(order.api_key, order.json(latest=False))

    def _release(self, account: Account, inst: Instrument, order: Order) -> None:
        if order.locked:
            account.wallet.unlock(inst.quote if order.side == "buy" else inst.base,
                                  order.locked)
            order.locked = ZERO

    # -- cancelling / moving the market --------------------------------------------------
    def cancel(self, account: Account, order: Order) -> Order:
        with self.lock:
            if not order.is_open:
                raise OkxError.cancel_failed()
            inst = self.instrument(order.inst_id)
            self._release(account, inst, order)
            order.state, order.cancel_source, order.u_time = State.CANCELED, "1", self.clock()
            self.sink(order.api_key, order.json(latest=False))
            return order

    def set_book(self, inst_id: str, book: Book) -> None:
        """Replace other traders' liquidity, then fill resting orders it crosses."""
        with self.lock:
            inst = self.instrument(inst_id)
            self.books[inst_id] = book
            resting = [o for o in self.orders.values() if o.inst_id == inst_id and o.is_open]
            resting.sort(key=lambda o: (-o.px if o.side == "buy" else o.px, int(o.ord_id)))
            for order in resting:
                plan = book.plan(order.side, qty=order.remaining, limit=order.px)
                book.consume(order.side, plan)
                for _, sz in plan:
                    self._fill(self.accounts[order.api_key], inst, order, order.px, sz,
                               maker=True)
