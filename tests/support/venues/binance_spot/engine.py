"""Binance spot matching: order acceptance, fills against the book, balances, events.

The rules, by source (binance-spot-api-docs):

- checks run parameters, then filters (rules.py), then balance; a rejected order is
  answered with an error and leaves no trace (enums.md REJECTED: "not accepted by
  the engine and not processed").
- ``newClientOrderId`` must be unique among the account's open orders, else -2010
  "Duplicate order sent." (rest-api.md "New order": "Orders with the same
  newClientOrderID can be accepted only when the previous one is filled").
- balance: a LIMIT order locks its funds (BUY ``qty * price`` quote, SELL ``qty``
  base); a MARKET order needs what its fills will cost: "If you do not have
  sufficient balance for the order to be completely filled, the order will be
  rejected" (faqs/market_orders_faq.md) with -2010 "Account has insufficient balance
  for requested action." (errors.md, -2010 messages).
- MARKET orders walk the book; "If the exchange does not have enough liquidity to
  fill the order, your MARKET order will be partially filled ... and the remaining
  quantity will expire" with status EXPIRED (market_orders_faq.md). ``quoteOrderQty``
  spends/receives a quote amount without breaking LOT_SIZE (rest-api.md "New order").
- LIMIT GTC takes what crosses (taker fills at the book's prices) and rests the rest;
  IOC expires the rest, FOK expires unfilled unless it can fill completely; both
  EXPIRED (enums.md EXPIRED: "LIMIT FOK orders with no fill, LIMIT IOC or MARKET
  orders that partially fill"), with user-data-stream.md expiry reasons.
  LIMIT_MAKER that would cross is rejected -2010 "Order would immediately match and
  take." (errors.md).
- a resting order fills as maker, at its own price, when the book moves through it
  (other traders' orders reaching it); only as much as the crossing liquidity.
- commission per fill: account.py; the received asset is credited net of it.
- cancelling a finished or unknown order is -2011 "Unknown order sent."; querying an
  unknown order is -2013 "Order does not exist." (errors.md).
- each change pushes ``executionReport`` events (NEW, TRADE..., EXPIRED or CANCELED)
  and then one ``outboundAccountPosition`` with the changed assets, in that order
  (faqs/market_orders_faq.md "Sample User Data Stream Payload").
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable
from typing import Any

from venues.binance_spot.account import Account
from venues.binance_spot.errors import (
    DUPLICATE_ORDER,
    INSUFFICIENT_BALANCE,
    WOULD_TAKE,
    BinanceError,
)
from venues.binance_spot.orders import Order, Status, Trade
from venues.binance_spot.rules import SymbolRules
from venues.common.book import Book, Fill
from venues.common.money import EIGHT, ZERO, Decimal, fixed8, round_down

Sink = Callable[[str, dict[str, Any]], None]


class Engine:
    """The exchange's state behind one lock: symbols, books, accounts, orders."""

    def __init__(self, clock: Callable[[], int], sink: Sink) -> None:
        self.lock = threading.RLock()
        self.clock = clock
        self.sink = sink
        self.rules: dict[str, SymbolRules] = {}
        self.books: dict[str, Book] = {}
        self.last_price: dict[str, Decimal] = {}
        self.accounts: dict[str, Account] = {}
        self.orders: dict[int, Order] = {}
        self.trades: list[Trade] = []
        self.bnb_prices: dict[str, Decimal] = {}
        self._order_ids = itertools.count(1_000_001)
        self._trade_ids = itertools.count(5_000_001)
        self._execution_ids = itertools.count(1)

    # -- lookups -----------------------------------------------------------------------
    def symbol(self, market_id: str) -> SymbolRules:
        rules = self.rules.get(market_id)
        if rules is None:
            raise BinanceError.bad_symbol()
        return rules

    def find(self, account: Account, market_id: str, order_id: int | None,
             client_id: str | None, *, missing: BinanceError) -> Order:
        """rest-api.md "Query order": orderId first, then origClientOrderId must match."""
        self.symbol(market_id)
        mine = [o for o in self.orders.values()
                if o.api_key == account.api_key and o.symbol == market_id]
        if order_id is not None:
            found = next((o for o in mine if o.order_id == order_id), None)
            if found is None or (client_id is not None and found.client_id != client_id):
                raise missing
            return found
        if client_id is None:
            raise BinanceError(-1102, "Param 'origClientOrderId' or 'orderId' must be sent, "
                                      "but both were empty/null!")
        matches = [o for o in mine if o.client_id == client_id]
        if not matches:
            raise missing
        return max(matches, key=lambda o: o.order_id)

    def open_orders(self, account: Account, market_id: str | None) -> list[Order]:
        return sorted((o for o in self.orders.values() if o.api_key == account.api_key
                       and o.is_open and (market_id is None or o.symbol == market_id)),
                      key=lambda o: o.order_id)

    # -- placing -----------------------------------------------------------------------
    def place(self, account: Account, *, market_id: str, side: str, type_: str, tif: str,
              qty: Decimal | None, quote_qty: Decimal | None, price: Decimal | None,
              client_id: str) -> Order:
        with self.lock:
            rules = self.symbol(market_id)
            rules.check_precision(qty, price)
            if type_ == "MARKET" and qty is None:
                rules.check_quote_order(quote_qty)
            else:
                rules.check(side=side, type_=type_, qty=qty, price=price,
                            last=self.reference_price(market_id))
            if any(o.client_id == client_id for o in self.open_orders(account, None)):
                raise BinanceError.new_order_rejected(DUPLICATE_ORDER)
            book, taker_side = self.books[market_id], "buy" if side == "BUY" else "sell"
            plan = self._plan(rules, book, taker_side, type_, tif, qty, quote_qty, price)
            self._check_funds(account, rules, side, type_, qty, quote_qty, price, plan)
            now = self.clock()
            planned = sum((q for _, q in plan), ZERO)
            order = Order(order_id=next(self._order_ids), client_id=client_id,
                          symbol=market_id, side=side, type=type_, tif=tif,
                          qty=qty if qty is not None else planned, price=price, time=now,
                          quote_order_qty=quote_qty or ZERO, api_key=account.api_key)
            self.orders[order.order_id] = order
            if type_ != "MARKET":
                self._lock_funds(account, rules, order)
            touched = {rules.base, rules.quote}
            self._report(order, "NEW")
            book.consume(taker_side, plan)
            for fill_price, fill_qty in plan:
                trade = self._fill(account, rules, order, fill_price, fill_qty, maker=False)
                touched.add(trade.commission_asset)
                self._report(order, "TRADE", trade)
            self._finish_taker(account, rules, order, book, taker_side)
            self._position(account, touched)
            return order

    def _plan(self, rules: SymbolRules, book: Book, taker_side: str, type_: str, tif: str,
              qty: Decimal | None, quote_qty: Decimal | None, price: Decimal | None) -> list[Fill]:
        if type_ == "LIMIT_MAKER":
            if book.plan(taker_side, qty=qty, limit=price):
                raise BinanceError.new_order_rejected(WOULD_TAKE)
            return []
        if type_ == "MARKET":
            if qty is not None:
                return book.plan(taker_side, qty=qty)
            plan = book.plan(taker_side, quote=quote_qty, step=rules.step_size)
            if not plan:  # errors.md, -2010 messages
                raise BinanceError.new_order_rejected(
                    "Order book liquidity is less than symbol minimum quantity.")
            if sum((q for _, q in plan), ZERO) < rules.min_qty:
                raise BinanceError.new_order_rejected(
                    "Order book liquidity is less than LOT_SIZE filter minimum quantity.")
            return plan
        plan = book.plan(taker_side, qty=qty, limit=price)
        if tif == "FOK" and sum((q for _, q in plan), ZERO) < qty:
            return []
        return plan

    def _check_funds(self, account: Account, rules: SymbolRules, side: str, type_: str,
                     qty: Decimal | None, quote_qty: Decimal | None, price: Decimal | None,
                     plan: list[Fill]) -> None:
        wallet = account.wallet
        if side == "BUY":
            if type_ != "MARKET":
                need = qty * price
            elif qty is None:
                need = quote_qty
            else:
                need = sum((round_down(p * q, EIGHT) for p, q in plan), ZERO)
            ok = wallet.free(rules.quote) >= need
        else:
            need = qty if qty is not None else sum((q for _, q in plan), ZERO)
            ok = wallet.free(rules.base) >= need
        if not ok:
            raise BinanceError.new_order_rejected(INSUFFICIENT_BALANCE)

    def _lock_funds(self, account: Account, rules: SymbolRules, order: Order) -> None:
        if order.side == "BUY":
            account.wallet.lock(rules.quote, order.qty * order.price)
        else:
            account.wallet.lock(rules.base, order.qty)

    def _release(self, account: Account, rules: SymbolRules, order: Order) -> None:
        """Unlock what an order that stops working still holds."""
        if order.type == "MARKET" or order.remaining == 0:
            return
        if order.side == "BUY":
            account.wallet.unlock(rules.quote, order.remaining * order.price)
        else:
            account.wallet.unlock(rules.base, order.remaining)

    def _finish_taker(self, account: Account, rules: SymbolRules, order: Order,
                      book: Book, taker_side: str) -> None:
        """Expire what a MARKET/IOC/FOK order could not fill; GTC rests."""
        if order.type == "MARKET":
            liquidity_left = bool(book.asks if taker_side == "buy" else book.bids)
            if order.quote_order_qty:  # filled as far as the quote amount allows
                if liquidity_left:
                    return
            elif order.remaining == 0:
                return
            reason = "INSUFFICIENT_LIQUIDITY"
        elif order.status == Status.FILLED or order.tif == "GTC":
            return  # filled, or rests on the book (LIMIT_MAKER is GTC)
        elif order.tif == "IOC":
            reason = "UNFILLED_IOC_QUANTITY_EXPIRED"
        else:
            reason = "UNFILLED_FOK_ORDER_EXPIRED"
        self._release(account, rules, order)
        order.status, order.expiry_reason = Status.EXPIRED, reason
        order.update_time = self.clock()
        self._report(order, "EXPIRED")

    def _fill(self, account: Account, rules: SymbolRules, order: Order, price: Decimal,
              qty: Decimal, *, maker: bool) -> Trade:
        wallet, now = account.wallet, self.clock()
        quote_amount = round_down(qty * price, EIGHT)
        commission, asset = account.commission(
            side=order.side, qty=qty, price=price, maker=maker, base=rules.base,
            quote=rules.quote, bnb_price=self.bnb_prices.get(rules.quote))
        if order.side == "BUY":
            if order.type == "MARKET":
                wallet.debit(rules.quote, quote_amount)
            else:
                wallet.spend_locked(rules.quote, qty * order.price)
                wallet.credit(rules.quote, qty * order.price - quote_amount)
            wallet.credit(rules.base, qty - (commission if asset == rules.base else ZERO))
        else:
            if order.type == "MARKET":
                wallet.debit(rules.base, qty)
            else:
                wallet.spend_locked(rules.base, qty)
            wallet.credit(rules.quote, quote_amount -
                          (commission if asset == rules.quote else ZERO))
        if asset not in (rules.base, rules.quote):
            wallet.debit(asset, commission)
        trade = Trade(next(self._trade_ids), order.order_id, order.symbol, order.side, price,
                      qty, quote_amount, commission, asset, now, maker)
        order.trades.append(trade)
        self.trades.append(trade)
        order.executed += qty
        order.cum_quote += quote_amount
        order.update_time = now
        order.status = Status.FILLED if order.executed == order.qty else Status.PARTIALLY_FILLED
        self.last_price[order.symbol] = price
        return trade

    # -- cancelling ----------------------------------------------------------------------
    def cancel(self, account: Account, order: Order, cancel_client_id: str) -> Order:
        with self.lock:
            if not order.is_open:
                raise BinanceError.cancel_rejected()
            rules = self.symbol(order.symbol)
            self._release(account, rules, order)
            order.status, order.update_time = Status.CANCELED, self.clock()
            self._report(order, "CANCELED", cancel_client_id=cancel_client_id)
            self._position(account, {rules.base, rules.quote})
            return order

    # -- the market moves ----------------------------------------------------------------
    def set_book(self, market_id: str, book: Book) -> None:
        """Replace other traders' liquidity, then fill resting orders it crosses."""
        with self.lock:
            self.symbol(market_id)
            self.books[market_id] = book
            self._match_resting(market_id)

    def reference_price(self, market_id: str) -> Decimal | None:
        """Last trade price, else the book's mid: the MARKET notional price."""
        return self.last_price.get(market_id) or self.books[market_id].last_price_hint()

    def _match_resting(self, market_id: str) -> None:
        book, rules = self.books[market_id], self.rules[market_id]
        resting = [o for o in self.orders.values() if o.symbol == market_id and o.is_open]
        resting.sort(key=lambda o: (-o.price if o.side == "BUY" else o.price, o.order_id))
        for order in resting:
            side = "buy" if order.side == "BUY" else "sell"  # a bid meets asks at or below it
            plan = book.plan(side, qty=order.remaining, limit=order.price)
            if not plan:
                continue
            book.consume(side, plan)
            account = self.accounts[order.api_key]
            touched = {rules.base, rules.quote}
            for _, qty in plan:
                trade = self._fill(account, rules, order, order.price, qty, maker=True)
                touched.add(trade.commission_asset)
                self._report(order, "TRADE", trade)
            self._position(account, touched)

    # -- user data events ----------------------------------------------------------------
    def _report(self, order: Order, execution: str, trade: Trade | None = None,
                cancel_client_id: str | None = None) -> None:
        event = order.execution_report(execution=execution, event_time=self.clock(),
                                       execution_id=next(self._execution_ids), trade=trade,
                                       cancel_client_id=cancel_client_id)
        self.sink(order.api_key, event)

    def _position(self, account: Account, assets: set[str]) -> None:
        now = self.clock()
        wallet = account.wallet
        self.sink(account.api_key, {
            "e": "outboundAccountPosition", "E": now, "u": now,
            "B": [{"a": a, "f": fixed8(wallet.free(a)), "l": fixed8(wallet.locked(a))}
                  for a in sorted(assets)]})
