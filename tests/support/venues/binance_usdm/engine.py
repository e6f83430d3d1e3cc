"""USDⓈ-M matching, margin checks, fills, funding settlement and liquidation.

Rules, by source (USDⓈ-M docs unless named):
- "New Order (TRADE)": LIMIT needs timeInForce, quantity, price; MARKET needs
  quantity; ``reduceOnly`` "true"/"false"; GTX is post-only: an order that would
  take is rejected -5022 (ccxt binanceusdm ``exceptions.exact``). A MARKET order walks
  the book; what the book cannot fill expires (status EXPIRED).
- filters: rules.py; MIN_NOTIONAL waived for reduceOnly (the -4164 text).
- reduceOnly: rejected -2022 "ReduceOnly Order is rejected." when there is no
  position or the order's side would increase it; a reduceOnly order larger than the
  position fills only the position size and the rest expires (assumption, NOTES.md).
- cost check (-2019 "Margin is insufficient."): initial margin + open loss of the
  part of the order that increases the position must fit the available balance
  (``_check_margin``; margin.py).
- fees: commission in USDT on each fill's notional, maker 0.02 %, taker 0.05 %
  (Binance "USDⓈ-M Futures Trading Fee Rate" regular user tier), rounded half-up to
  8 decimals (assumption); booked as income COMMISSION, realised PnL as REALIZED_PNL.
- funding (Binance FAQ "Introduction to Binance Futures Funding Rates"): at each
  funding time a position pays ``positionAmt * mark * rate`` (positive rate: longs
  pay shorts), income FUNDING_FEE, ACCOUNT_UPDATE reason FUNDING_FEE.
- liquidation (FAQ "Liquidation Protocols"): when margin balance <= maintenance
  margin at the mark price (isolated: isolated wallet + unrealised PnL vs. the
  position's maintenance; cross: cross wallet + cross unrealised PnL vs. all cross
  maintenance) the position is closed at its bankruptcy price (where the margin is
  zero), by an order of type LIQUIDATION with client id ``autoclose-<ms>``; what
  margin is left after the tick rounding goes to the insurance fund (income
  INSURANCE_CLEAR).
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable
from decimal import ROUND_CEILING, ROUND_FLOOR, ROUND_HALF_UP
from typing import Any

from venues.binance_spot.errors import BinanceError
from venues.binance_usdm import errors, events
from venues.binance_usdm.account import FuturesAccount, Income, IncomeType
from venues.binance_usdm.margin import MarginView
from venues.binance_usdm.market import MarketState, SettledFunding
from venues.binance_usdm.orders import Order, Status, Trade
from venues.binance_usdm.rules import ContractRules
from venues.common.book import Book
from venues.common.money import ZERO, Decimal

Sink = Callable[[str, dict[str, Any]], None]
EIGHT = Decimal("0.00000001")
#: the FAQ's assumed price of a MARKET buy: best ask + 0.05 %
MARKET_BUFFER = Decimal("0.0005")


def round8(value: Decimal) -> Decimal:
    return value.quantize(EIGHT, rounding=ROUND_HALF_UP)


class Engine:
    """The exchange's state behind one lock."""

    def __init__(self, clock: Callable[[], int], sink: Sink) -> None:
        self.lock = threading.RLock()
        self.clock = clock
        self.sink = sink
        self.rules: dict[str, ContractRules] = {}
        self.books: dict[str, Book] = {}
        self.markets: dict[str, MarketState] = {}
        self.accounts: dict[str, FuturesAccount] = {}
        self.orders: dict[int, Order] = {}
        self.trades: list[Trade] = []
        self._order_ids = itertools.count(4_000_000_001)
        self._trade_ids = itertools.count(300_000_001)
        self._tran_ids = itertools.count(9_000_000_001)

    # -- lookups -----------------------------------------------------------------------
    def symbol(self, market_id: str) -> ContractRules:
        rules = self.rules.get(market_id)
        if rules is None:
            raise BinanceError.bad_symbol()
        return rules

    def marks(self) -> dict[str, Decimal]:
        return {m: s.mark for m, s in self.markets.items()}

    def view(self, account: FuturesAccount) -> MarginView:
        return MarginView(account, self.marks(), {m: r.brackets for m, r in self.rules.items()},
                          self.open_orders(account, None))

    def open_orders(self, account: FuturesAccount, market_id: str | None) -> list[Order]:
        return [o for o in self.orders.values() if o.api_key == account.api_key and o.is_open
                and (market_id is None or o.symbol == market_id)]

    def find(self, account: FuturesAccount, market_id: str, order_id: int | None,
             client_id: str | None, missing: BinanceError) -> Order:
        self.symbol(market_id)
        if order_id is None and not client_id:
            raise BinanceError(-1102, "Either orderId or origClientOrderId must be sent.")
        for order in self.orders.values():
            if order.api_key != account.api_key or order.symbol != market_id:
                continue
            if (order_id is not None and order.order_id == order_id) or (
                    order_id is None and order.client_id == client_id):
                return order
        raise missing

    # -- orders ------------------------------------------------------------------------
    def place(self, account: FuturesAccount, *, market_id: str, side: str, type_: str,
              tif: str, qty: Decimal, price: Decimal | None, reduce_only: bool,
              client_id: str) -> Order:
        rules = self.symbol(market_id)
        market = self.markets[market_id]
        rules.check(side=side, type_=type_, qty=qty, price=price, mark=market.mark,
                    reduce_only=reduce_only)
        if any(o.client_id == client_id for o in self.open_orders(account, market_id)):
            raise BinanceError(-4116, "clientOrderId is duplicated")
        book = self.books[market_id]
        book_side = "buy" if side == "BUY" else "sell"
        position = account.position(market_id)
        sign = 1 if side == "BUY" else -1
        fill_qty = qty
        if reduce_only:
            if position.amount == 0 or position.side == sign:
                raise errors.reduce_only_rejected()
            fill_qty = min(qty, abs(position.amount))
        plan = book.plan(book_side, qty=fill_qty, limit=price if type_ == "LIMIT" else None)
        if type_ == "LIMIT" and tif == "GTX" and plan:
            raise errors.post_only_rejected()
        if type_ == "LIMIT" and tif == "FOK" and sum(q for _, q in plan) < qty:
            raise BinanceError(-5021, "Due to the order could not be filled immediately, "
                                      "the FOK order has been rejected.")
        if not reduce_only:
            self._check_margin(account, market_id, sign, qty, price)
        now = self.clock()
        order = Order(next(self._order_ids), client_id, market_id, side, type_, tif, qty,
                      price or ZERO, reduce_only, now, api_key=account.api_key,
                      update_time=now)
        self.orders[order.order_id] = order
        self.sink(account.api_key, events.order_update(order, execution="NEW", time=now))
        if plan:
            book.consume(book_side, plan)
            for fill_price, fill in plan:
                self._fill(account, order, fill_price, fill, maker=False)
        if order.remaining and (type_ == "MARKET" or tif in ("IOC", "FOK")):
            self._expire(account, order, 9 if type_ == "MARKET" else 2)
        self.check_liquidations(market_id)
        return order

    def _check_margin(self, account: FuturesAccount, market_id: str, sign: int,
                      qty: Decimal, price: Decimal | None) -> None:
        """Binance FAQ "How to Calculate Cost Required to Open a Position in Perpetual
        Futures Contracts": cost = initial margin + open loss, where initial margin =
        notional / leverage and open loss = qty * |min(0, direction * (mark - order
        price))|; a MARKET order is priced at the assumed price ask[0] * (1 + 0.05 %)
        (long) or max(bid[0], mark) (short). Only the part of the order that increases
        the position costs margin (assumption: the FAQ prices whole orders)."""
        view = self.view(account)
        amount = account.position(market_id).amount
        closing = min(qty, abs(amount)) if amount and (amount > 0) != (sign > 0) else ZERO
        increasing = qty - closing
        if not increasing:
            return
        market, book = self.markets[market_id], self.books[market_id]
        if price is None:
            if sign > 0:
                ask = book.asks[0].price if book.asks else market.last
                price = ask * (1 + MARKET_BUFFER)
            else:
                bid = book.bids[0].price if book.bids else market.last
                price = max(bid, market.mark)
        leverage = account.settings(market_id).leverage
        open_loss = increasing * abs(min(ZERO, sign * (market.mark - price)))
        cost = increasing * price / leverage + open_loss
        notional = abs(amount + sign * qty) * price
        if notional > self.rules[market_id].brackets.max_notional(leverage):
            raise BinanceError(-2027, "Exceeded the maximum allowable position at current "
                                      "leverage.")
        if cost > view.available():
            raise errors.margin_insufficient()

    def _expire(self, account: FuturesAccount, order: Order, reason: int) -> None:
        """EXPIRED with the stream's expire reason (``er``)."""
        order.status = Status.EXPIRED
        order.expire_reason = reason
        order.update_time = self.clock()
        self.sink(account.api_key, events.order_update(order, execution="EXPIRED",
                                                       time=order.update_time))

    def cancel(self, account: FuturesAccount, order: Order) -> None:
        if not order.is_open:
            raise errors.unknown_order()
        order.status = Status.CANCELED
        order.update_time = self.clock()
        self.sink(account.api_key, events.order_update(order, execution="CANCELED",
                                                       time=order.update_time))

    # -- fills -------------------------------------------------------------------------
    def _fill(self, account: FuturesAccount, order: Order, price: Decimal, qty: Decimal,
              *, maker: bool, fee_rate: Decimal | None = None) -> Trade:
        now = self.clock()
        market_id = order.symbol
        position = account.position(market_id)
        settings = account.settings(market_id)
        signed = qty if order.side == "BUY" else -qty
        old = position.amount
        closing = min(qty, abs(old)) if old and (old > 0) != (signed > 0) else ZERO
        if settings.margin_type == "ISOLATED":
            if closing:
                settings.isolated_wallet -= settings.isolated_wallet * closing / abs(old)
            opening = qty - closing
            settings.isolated_wallet += opening * price / settings.leverage
        realized = position.apply(signed, price)
        position.update_time = now
        rate = fee_rate if fee_rate is not None else (
            account.maker_rate if maker else account.taker_rate)
        commission = round8(price * qty * rate)
        account.wallet += round8(realized) - commission
        account.wallet_update_time = now
        order.add_fill(price, qty, now)
        trade = Trade(next(self._trade_ids), order.order_id, account.api_key, market_id,
                      order.side, price, qty, commission, round8(realized), now, maker)
        self.trades.append(trade)
        if realized:
            self._income(account, market_id, IncomeType.REALIZED_PNL, round8(realized), now,
                         trade_id=str(trade.trade_id))
        if commission:
            self._income(account, market_id, IncomeType.COMMISSION, -commission, now,
                         trade_id=str(trade.trade_id))
        execution = "CALCULATED" if order.type == "LIQUIDATION" else "TRADE"
        self.sink(account.api_key, events.order_update(order, execution=execution,
                                                       time=now, trade=trade))
        self._account_update(account, "ORDER", now, ZERO, [market_id])
        return trade

    def _income(self, account: FuturesAccount, market_id: str, kind: IncomeType,
                amount: Decimal, time: int, trade_id: str = "") -> None:
        account.incomes.append(Income(market_id, kind, amount, account.asset, time,
                                      next(self._tran_ids), trade_id))

    def _account_update(self, account: FuturesAccount, reason: str, time: int,
                        change: Decimal, market_ids: list[str]) -> None:
        view = self.view(account)
        rows = [(account.position(m), view.unrealized(m), account.settings(m).margin_type,
                 account.settings(m).isolated_wallet) for m in market_ids]
        self.sink(account.api_key, events.account_update(
            reason=reason, time=time, wallet=account.wallet,
            cross_wallet=account.cross_wallet, change=change, positions=rows))

    # -- the market moves ----------------------------------------------------------------
    def set_book(self, market_id: str, book: Book, last: Decimal) -> None:
        """Install other traders' book at last price ``last``; resting orders it
        reaches fill as maker at their own price."""
        self.books[market_id] = book
        self.markets[market_id].last = last
        for order in sorted(self.orders.values(), key=lambda o: o.order_id):
            if not order.is_open or order.symbol != market_id or order.type != "LIMIT":
                continue
            crossed = (order.side == "BUY" and last <= order.price) or (
                order.side == "SELL" and last >= order.price)
            if not crossed:
                continue
            account = self.accounts[order.api_key]
            qty = order.remaining
            if order.reduce_only:
                position = account.position(market_id)
                sign = 1 if order.side == "BUY" else -1
                if position.amount == 0 or position.side == sign:
                    self._expire(account, order, 4)
                    continue
                qty = min(qty, abs(position.amount))
            self._fill(account, order, order.price, qty, maker=True)
            if order.remaining and order.reduce_only:
                self._expire(account, order, 4)
        self.check_liquidations(market_id)

    def set_mark(self, market_id: str, mark: Decimal) -> None:
        self.markets[market_id].mark = mark
        self.check_liquidations(market_id)

    # -- funding -----------------------------------------------------------------------
    def settle_funding(self, market_id: str, funding_time: int) -> None:
        """Pay/receive funding on every open position of ``market_id`` at the mark, once
        per funding time (a funding time reached twice, by the clock and then by the bar
        opening at it, settles the first time only: Binance's funding FAQ, one exchange
        of funding per funding timestamp)."""
        market = self.markets[market_id]
        rate = market.rate_for(funding_time)
        if rate is None or any(done.time == funding_time for done in market.settled):
            return
        market.settled.append(SettledFunding(funding_time, rate, market.mark))
        for account in self.accounts.values():
            position = account.positions.get(market_id)
            if position is None or position.amount == 0:
                continue
            amount = round8(-position.amount * market.mark * rate)
            account.wallet += amount
            account.wallet_update_time = funding_time
            settings = account.settings(market_id)
            if settings.margin_type == "ISOLATED":
                settings.isolated_wallet += amount
            self._income(account, market_id, IncomeType.FUNDING_FEE, amount, funding_time)
            isolated = settings.margin_type == "ISOLATED"
            self._account_update(account, "FUNDING_FEE", funding_time, amount,
                                 [market_id] if isolated else [])
        self.check_liquidations(market_id)

    # -- liquidation -------------------------------------------------------------------
    def check_liquidations(self, market_id: str) -> None:
        """Liquidate every position whose margin no longer covers its maintenance."""
        for account in list(self.accounts.values()):
            view = self.view(account)
            position = account.positions.get(market_id)
            settings = account.settings(market_id)
            if position is not None and position.amount and \
                    settings.margin_type == "ISOLATED":
                balance = settings.isolated_wallet + view.unrealized(market_id)
                if balance <= view.maintenance(market_id):
                    self._liquidate(account, market_id, settings.isolated_wallet)
                continue
            cross = [m for m, p in account.positions.items()
                     if p.amount and account.settings(m).margin_type == "CROSSED"]
            if not cross:
                continue
            balance = account.cross_wallet + view.cross_unrealized()
            if balance <= view.cross_maintenance():
                for m in sorted(cross):
                    others = sum((view.unrealized(o) for o in cross if o != m
                                  and account.positions[o].amount), ZERO)
                    self._liquidate(account, m, account.cross_wallet + others)
                    view = self.view(account)

    def _liquidate(self, account: FuturesAccount, market_id: str, margin: Decimal) -> None:
        """Close the position at its bankruptcy price: where ``margin`` + its PnL is 0."""
        position = account.position(market_id)
        tick = self.rules[market_id].tick_size
        raw = position.entry - margin / position.amount
        # the tick rounding favours the account; the rest is INSURANCE_CLEAR below
        rounding = ROUND_CEILING if position.amount > 0 else ROUND_FLOOR
        price = max((raw / tick).to_integral_value(rounding=rounding) * tick, tick)
        now = self.clock()
        side = "SELL" if position.amount > 0 else "BUY"
        qty = abs(position.amount)
        for order in self.open_orders(account, market_id):
            self._expire(account, order, 5)
        order = Order(next(self._order_ids), f"autoclose-{now}", market_id, side,
                      "LIQUIDATION", "IOC", qty, price, False, now, api_key=account.api_key,
                      update_time=now)
        self.orders[order.order_id] = order
        # the same NEW -> TRADE lifecycle as other orders (assumption, NOTES.md)
        self.sink(account.api_key, events.order_update(order, execution="NEW", time=now))
        settings = account.settings(market_id)
        isolated = settings.margin_type == "ISOLATED"
        trade = self._fill(account, order, price, qty, maker=False, fee_rate=ZERO)
        left = margin + trade.realized_pnl
        if isolated:
            settings.isolated_wallet = ZERO
        if left > 0 and (isolated or not any(p.amount for p in account.positions.values())):
            account.wallet -= left
            self._income(account, market_id, IncomeType.INSURANCE_CLEAR, -left, now)
