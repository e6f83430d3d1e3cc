"""The ccxt broker's sender thread: every exchange request of a live broker, in order.

One thread owns the sync ccxt client (so ccxt's rate limiter sees every request) and
the order of operations: persist the intent, send, retry idempotently, poll. It
reports back through ``outbox`` (a queue of :class:`StatusReport`/:class:`FillRecord`)
and never touches an engine ``Order``. See ``adapters.ccxt_broker`` for the rules.

Commands are ordered by (priority, arrival): ``cancel_all`` and ``call`` jump the
queue; submits, cancels and refreshes keep their arrival order, so a cancel never
overtakes the submit of the same order.
"""

from __future__ import annotations

import itertools
import logging
import queue
import random
import re
import threading
import time
from collections.abc import Callable, Mapping
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

import ccxt

from tradeloom.adapters.ccxt.exchange import backoff_delay, call_ccxt, retry_transient
from tradeloom.adapters.ccxt.fills import RateOf, fill_record, trade_fee
from tradeloom.adapters.ccxt.wallets import Wallet, spot_wallet_shortfall, wallet_layout
from tradeloom.adapters.live.state import FillRecord, LiveStateStore, OrderRecord
from tradeloom.adapters.store.ingest import RetryPolicy
from tradeloom.engine.errors import (
    ExchangeAuthenticationError,
    ExchangeError,
    InsufficientFunds,
    TradeloomError,
    TransientExchangeError,
)
from tradeloom.engine.market import MarketSpec

log = logging.getLogger(__name__)

#: Exchanges whose client order ids may hold only letters and digits.
_ALNUM_IDS = frozenset({"okx", "myokx", "okxus"})
_CID = re.compile(r"^tl-?([a-z0-9]+?)(?:-|X)(\d+)$")

_PRIO_URGENT, _PRIO_CALL, _PRIO_NORMAL = 0, 1, 2
#: Added to the exchange's ``recvWindow`` before a lost submit is looked up.
_FATE_MARGIN_S = 0.25


def client_order_id(run_id: str, seq: int, exchange_id: str = "binance") -> str:
    """The client order id of order ``seq`` of run ``run_id``.

    >>> client_order_id("a1", 7)
    'tl-a1-7'
    >>> client_order_id("a1", 7, "okx")
    'tla1X7'
    """
    if exchange_id in _ALNUM_IDS:
        return f"tl{run_id}X{seq}"
    return f"tl-{run_id}-{seq}"


def parse_client_order_id(client_id: str | None) -> tuple[str, int] | None:
    """(run id, seq) of one of our client order ids, else ``None``.

    >>> parse_client_order_id("tl-a1-7"), parse_client_order_id("tla1X7")
    (('a1', 7), ('a1', 7))
    >>> parse_client_order_id("web_123") is None
    True
    """
    match = _CID.match(client_id or "")
    return (match.group(1), int(match.group(2))) if match else None


@dataclass(frozen=True, slots=True)
class StatusReport:
    """The exchange's view of one of our orders after a request or a refresh.

    ``status``: ``open``, ``partially_filled``, ``filled``, ``canceled``, ``expired``
    or ``rejected``. ``fatal`` is set for errors that must stop trading.
    """

    client_id: str
    status: str
    exchange_id: str | None = None
    reason: str = ""
    fatal: ExchangeError | None = None


@dataclass(order=True)
class _Command:
    priority: int
    seq: int
    kind: str = field(compare=False)
    payload: Any = field(compare=False, default=None)
    future: Future | None = field(compare=False, default=None)


def _not_found(err: BaseException) -> bool:
    """The exchange said the order does not exist (ccxt ``OrderNotFound``)."""
    return isinstance(err.__cause__, ccxt.OrderNotFound)


def _trade_client_id(trade: Mapping[str, Any]) -> str | None:
    """Our client order id as a pushed trade carries it (Binance ``c``, OKX ``clOrdId``)."""
    info = trade.get("info") or {}
    cid = info.get("c") or info.get("clOrdId") or trade.get("clientOrderId")
    return str(cid) if cid else None


def order_status(order: Mapping[str, Any]) -> str:
    """The state-store status of a ccxt order (``open``/``partially_filled``/``filled``/...)."""
    status = order.get("status")
    filled = float(order.get("filled") or 0.0)
    if status == "open":
        return "partially_filled" if filled > 0 else "open"
    if status == "closed":
        return "filled"
    if status in ("canceled", "expired", "rejected"):
        return str(status)
    return "open"


def _cancelled_client_id(order: Mapping[str, Any]) -> str:
    """The client id of an order a cancel-all cancelled. Binance answers
    ``DELETE /api/v3/openOrders`` with each order's ``origClientOrderId`` and, as
    ``clientOrderId``, a new id of the cancel request itself (its API docs), which ccxt
    parses as the order's client id: the original is the one we sent."""
    info = order.get("info") or {}
    return str(info.get("origClientOrderId") or order.get("clientOrderId") or order.get("id"))


class Sender:
    """The worker thread (see the module docstring)."""

    def __init__(self, client: ccxt.Exchange, store: LiveStateStore,
                 markets: Mapping[str, MarketSpec], *, retry: RetryPolicy,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.client = client
        self.store = store
        self.markets = dict(markets)
        self.retry = retry
        self.sleep = sleep
        self.rng = random.Random(retry.seed)
        self.outbox: queue.SimpleQueue[StatusReport | FillRecord] = queue.SimpleQueue()
        self._queue: queue.PriorityQueue[_Command] = queue.PriorityQueue()
        self._seq = itertools.count()
        self._idle = threading.Event()
        self._idle.set()
        self._pending = 0
        self._pending_lock = threading.Lock()
        self._refresh_queued = False
        self._dirty_symbols: set[str] = set()  # trades to fetch although nothing is working
        self._thread: threading.Thread | None = None
        self._stop = False
        self._book_lock = threading.Lock()  # polling and pushes book trades one at a time
        #: ``marks_of(asset)``: the broker's last price of ``asset`` in the quote currency
        #: (fee valuation); the broker sets it.
        self.marks_of: RateOf = lambda asset: None

    # -- lifecycle and queueing (any thread) -----------------------------------------
    def update_markets(self, specs: Mapping[str, MarketSpec]) -> None:
        """New market rules: sends from now on round amounts and prices by them (one
        dict item set per symbol, atomic under the GIL for the worker thread)."""
        for symbol, spec in specs.items():
            self.markets[symbol] = spec

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="ccxt-sender", daemon=True)
            self._thread.start()

    def stop(self, timeout_s: float = 10.0) -> None:
        if self._thread is not None:
            self._stop = True
            self._put(_PRIO_URGENT, "stop")
            self._thread.join(timeout_s)
            self._thread = None

    def _put(self, priority: int, kind: str, payload: Any = None,
             future: Future | None = None) -> None:
        with self._pending_lock:
            self._pending += 1
            self._idle.clear()
        self._queue.put(_Command(priority, next(self._seq), kind, payload, future))

    def submit(self, record: OrderRecord) -> None:
        self._put(_PRIO_NORMAL, "submit", record)

    def cancel(self, client_id: str) -> None:
        self._put(_PRIO_NORMAL, "cancel", client_id)

    def save(self, record: OrderRecord) -> None:
        """Persist a locally held order (a stop or bracket leg) off the caller's thread."""
        self._put(_PRIO_NORMAL, "save", record)

    def refresh(self) -> None:
        if not self._refresh_queued:
            self._refresh_queued = True
            self._put(_PRIO_NORMAL, "refresh")

    def call(self, fn: Callable[[ccxt.Exchange], Any], *, urgent: bool = False) -> Future:
        future: Future = Future()
        self._put(_PRIO_URGENT if urgent else _PRIO_CALL, "call", fn, future)
        return future

    def cancel_all(self, symbols: list[str], run_id: str | None = None) -> Future:
        """Jump the queue: drop queued submits, cancel open orders on ``symbols`` - only
        those whose client id belongs to ``run_id`` unless it is ``None`` (everything)."""
        future: Future = Future()
        self._put(_PRIO_URGENT, "cancel_all", (symbols, run_id), future)
        return future

    @property
    def pending(self) -> int:
        """Commands queued or running (a hint: it changes while you read it)."""
        return self._pending

    def wait_idle(self, timeout_s: float) -> bool:
        return self._idle.wait(timeout_s)

    # -- the thread ------------------------------------------------------------------
    def _run(self) -> None:
        while True:
            cmd = self._queue.get()
            try:
                if cmd.kind == "stop":
                    return
                self._dispatch(cmd)
            except TradeloomError as err:  # reported, never kills the thread
                log.error("ccxt sender: %s failed: %s", cmd.kind, err)
                if cmd.future is not None and not cmd.future.done():
                    cmd.future.set_exception(err)
            except Exception as err:
                log.exception("ccxt sender: unexpected error in %s", cmd.kind)
                if cmd.future is not None and not cmd.future.done():
                    cmd.future.set_exception(err)
            finally:
                with self._pending_lock:
                    self._pending -= 1
                    if self._pending == 0:
                        self._idle.set()

    def _dispatch(self, cmd: _Command) -> None:
        if cmd.kind == "submit":
            self._submit(cmd.payload)
        elif cmd.kind == "cancel":
            self._cancel(cmd.payload)
        elif cmd.kind == "save":
            self.store.save_order(cmd.payload)
        elif cmd.kind == "refresh":
            self._refresh_queued = False
            self.refresh_now()
        elif cmd.kind == "call":
            cmd.future.set_result(cmd.payload(self.client))
        elif cmd.kind == "cancel_all":
            cmd.future.set_result(self._cancel_all(cmd.payload))

    def request(self, method: str, *args: Any, **kwargs: Any) -> Any:
        """One ccxt call, transient errors retried with backoff and jitter.

        Like ``lookup_order`` and ``fetch_trades``: for the sender thread only (its own
        commands, and functions run there through ``CcxtBroker.call``, e.g. reconcile).
        """
        context = f"{self.client.id} {method} {args[0] if args else ''}".rstrip()
        return retry_transient(
            lambda: call_ccxt(self.client, method, *args, context=context, **kwargs),
            attempts=self.retry.attempts, base_delay_s=self.retry.base_delay_s,
            max_delay_s=self.retry.max_delay_s, rng=self.rng, sleep=self.sleep,
            on_retry=lambda _attempt, _delay, err: self._resync_if_stale(err))

    def _resync_if_stale(self, err: TransientExchangeError) -> None:
        """A stale timestamp (ccxt ``InvalidNonce``, Binance -1021): measure the offset to
        the exchange's clock again (``load_time_difference``) before the retry signs anew."""
        if not isinstance(err.__cause__, ccxt.InvalidNonce):
            return
        try:
            offset = call_ccxt(self.client, "load_time_difference",
                               context=f"{self.client.id} time resync")
        except TradeloomError as resync_err:  # the retry fails again and says why
            log.error("time resync after a stale timestamp failed: %s", resync_err)
            return
        log.warning("stale request timestamp (%s); resynchronised with the exchange clock: "
                    "local clock %+d ms from it", err, offset)

    # -- submit ----------------------------------------------------------------------
    def lookup_order(self, record: OrderRecord) -> dict[str, Any] | None:
        """The exchange's order with our client id, or ``None`` if it has none."""
        params: dict[str, Any] = {"clientOrderId": record.client_id}
        if self.client.id == "bybit":
            params["acknowledged"] = True
        try:
            return self.request("fetch_order", None, record.symbol, params)
        except TradeloomError as err:
            if _not_found(err):
                return None
            raise

    def _submit(self, record: OrderRecord) -> None:
        self.store.save_order(record)  # the intent, before anything leaves the machine
        spec = self.markets.get(record.symbol)
        if record.side == "sell" and (spec is None or spec.contract is None):
            # spot: never ask for more than the account holds (a swap sells short beyond 0)
            record = self._clamp_to_free_base(record)
            if record is None:
                return
        elif spec is not None and spec.contract is None and \
                wallet_layout(self.client.id, self.markets).separate:
            if not self._spot_wallet_pays(record, spec):
                return
        attempts = self.retry.attempts
        sent_at = time.monotonic()
        for attempt in range(1, attempts + 1):
            try:
                if attempt > 1:  # a transient error: did the exchange take it anyway?
                    found = self.lookup_order(record)
                    if found is not None:
                        self._accepted(record, found)
                        return
                sent_at = time.monotonic()
                order = self._create(record)
                self._accepted(record, order)
                return
            except TransientExchangeError as err:
                if attempt == attempts:
                    self._unconfirmed(record, err)
                    return
                delay = max(self._delay(attempt, err), self._fate_wait(err, sent_at))
                log.warning("submit %s: %s; checking by client id and retrying in %.2f s",
                            record.client_id, err, delay)
                self._resync_if_stale(err)
                self.sleep(delay)
            except ExchangeError as err:
                if "Duplicate order" in str(err):  # it is there: the lookup will find it
                    found = self.lookup_order(record)
                    if found is not None:
                        self._accepted(record, found)
                        return
                self._rejected(record, err)
                return
            except TradeloomError as err:  # InvalidOrder / UnknownSymbol: this order only
                self._rejected(record, err)
                return

    def _fate_wait(self, err: TransientExchangeError, sent_at: float) -> float:
        """Seconds until a lost request can no longer be executed by the exchange.

        After a timeout, a dropped connection or a 5xx the request may still be on
        its way (Binance: "execution status UNKNOWN"). Looking it up by client id too
        early finds nothing; the re-send then fills, the late copy arrives after it
        and - the id being free again once an order is finished - is placed a second
        time. A signed request older than the exchange's ``recvWindow`` is refused
        (-1021), so the lookup waits that long after the send. Rate limits and stale
        timestamps are answers that the request was not executed: no wait.
        """
        cause = err.__cause__
        if isinstance(cause, (ccxt.DDoSProtection, ccxt.InvalidNonce)):
            return 0.0
        window_ms = getattr(self.client, "options", {}).get("recvWindow")
        if not window_ms:
            return 0.0
        return max(0.0, sent_at + float(window_ms) / 1000 + _FATE_MARGIN_S - time.monotonic())

    def _delay(self, attempt: int, err: TransientExchangeError) -> float:
        delay = backoff_delay(attempt, base_delay_s=self.retry.base_delay_s,
                              max_delay_s=self.retry.max_delay_s, rng=self.rng)
        advised = getattr(err, "retry_after_s", None)
        return max(delay, advised) if advised is not None else delay

    def _create(self, record: OrderRecord) -> dict[str, Any]:
        params: dict[str, Any] = {"clientOrderId": record.client_id}
        spec = self.markets.get(record.symbol)
        if record.reduce_only and spec is not None and spec.contract is not None:
            params["reduceOnly"] = True  # a swap exit never opens the other side
        context = f"{self.client.id} create_order {record.symbol} {record.client_id}"
        if record.type == "market" and record.quote_amount is not None:
            return call_ccxt(self.client, "create_market_buy_order_with_cost", record.symbol,
                             record.quote_amount, params, context=context)
        price = record.price if record.type == "limit" else None
        return call_ccxt(self.client, "create_order", record.symbol, record.type, record.side,
                         record.amount, price, params, context=context)

    def _spot_wallet_params(self) -> dict[str, Any]:
        """``fetch_balance`` params reading the spot wallet (``adapters.ccxt.wallets``:
        ``{}`` unless the session also trades from a separate futures wallet)."""
        return wallet_layout(self.client.id, self.markets).params(Wallet.SPOT)

    def _clamp_to_free_base(self, record: OrderRecord) -> OrderRecord | None:
        """A sell never asks for more than the free base balance (spot): a fee charged in
        the coin bought leaves less than was bought. The amount is cut to what is free,
        rounded down to the lot step; what no order could sell is dust, and a sell of
        nothing but dust is refused here (the venue would refuse it too)."""
        spec = self.markets[record.symbol]
        if record.amount <= 0:
            return record
        balance = self.request("fetch_balance", self._spot_wallet_params())
        free = float((balance.get(spec.base) or {}).get("free") or 0.0)
        amount = spec.round_amount(min(record.amount, free))
        if amount <= 0 or amount < spec.min_amount:
            self._report(record, "rejected", None,
                         f"sell of {record.amount} {spec.base}: only {free:.10g} {spec.base} is "
                         f"free, under the market's minimum {max(spec.min_amount, spec.lot_step or 0):.10g} "
                         "(dust); nothing to sell")
            return None
        if amount != record.amount:
            record = self.store.update_order(record.client_id, amount=amount)
        return record

    def _spot_wallet_pays(self, record: OrderRecord, spec: MarketSpec) -> bool:
        """With a separate futures wallet, a spot buy the spot wallet cannot pay is
        refused here, not sent (``wallets.spot_wallet_shortfall``)."""
        balance = self.request("fetch_balance", self._spot_wallet_params())
        free = float((balance.get(spec.quote) or {}).get("free") or 0.0)
        price = record.price if record.type == "limit" else self.marks_of(spec.base)
        problem = spot_wallet_shortfall(record.amount, price, record.quote_amount, free, spec)
        if problem is not None:
            self._report(record, "rejected", None, problem)
        return problem is None

    def _accepted(self, record: OrderRecord, order: Mapping[str, Any]) -> None:
        self._report(record, order_status(order), str(order.get("id")))
        self._dirty_symbols.add(record.symbol)
        self.refresh()  # collect the fills of marketable orders at once

    def _rejected(self, record: OrderRecord, err: TradeloomError) -> None:
        fatal = err if isinstance(err, (ExchangeAuthenticationError, InsufficientFunds)) else None
        self._report(record, "rejected", None, f"rejected by the exchange: {err}", fatal)

    def _unconfirmed(self, record: OrderRecord, err: TransientExchangeError) -> None:
        # Never marked rejected on a guess: the next refresh looks it up by client id.
        log.error("submit %s unconfirmed after %d attempts (%s); the next poll looks it up",
                  record.client_id, self.retry.attempts, err)
        self.store.update_order(record.client_id, reason=f"unconfirmed: {err}")

    def _report(self, record: OrderRecord, status: str, exchange_id: str | None,
                reason: str = "", fatal: ExchangeError | None = None) -> None:
        changes: dict[str, Any] = {"status": status}
        if exchange_id is not None:
            changes["exchange_id"] = exchange_id
        if reason:
            changes["reason"] = reason
        self.store.update_order(record.client_id, **changes)
        self.outbox.put(StatusReport(record.client_id, status, exchange_id, reason, fatal))

    # -- cancel ----------------------------------------------------------------------
    def _cancel(self, client_id: str) -> None:
        record = self.store.order(client_id)
        if record is None or not record.is_working:
            return
        if record.exchange_id is None:
            found = self.lookup_order(record)
            if found is None:
                self._report(record, "canceled", None, "cancelled before the exchange had it")
                return
            record = self.store.update_order(client_id, exchange_id=str(found["id"]))
        try:
            self.request("cancel_order", record.exchange_id, record.symbol)
        except TradeloomError as err:
            if not _not_found(err):  # not found: it finished meanwhile; refresh tells how
                raise
        self._dirty_symbols.add(record.symbol)
        self.refresh()  # the final status and any fills before the cancel

    def _cancel_all(self, payload: tuple[list[str], str | None]) -> dict[str, Any]:
        """Drop queued submits, cancel the open orders of ``symbols`` (ours only when a
        run id is given, by client id), then refresh."""
        symbols, run_id = payload
        dropped, kept = [], []
        while True:
            try:
                cmd = self._queue.get_nowait()
            except queue.Empty:
                break
            (dropped if cmd.kind == "submit" else kept).append(cmd)
        for cmd in kept:
            self._queue.put(cmd)
        for cmd in dropped:
            self.store.save_order(cmd.payload)
            self._report(cmd.payload, "rejected", None, "kill switch: never sent")
        with self._pending_lock:
            self._pending -= len(dropped)
        cancelled: list[str] = []
        errors: list[str] = []
        bulk = run_id is None and bool(self.client.has.get("cancelAllOrders"))
        for symbol in symbols:
            try:
                if bulk:
                    result = self.request("cancel_all_orders", symbol)
                    cancelled.extend(_cancelled_client_id(o) for o in result or [])
                else:  # ours only, or a venue without a cancel-all endpoint (OKX spot)
                    cancelled.extend(self._cancel_ours(symbol, run_id))
                self._dirty_symbols.add(symbol)
            except TradeloomError as err:
                if not _not_found(err):  # not found: nothing was open there
                    errors.append(f"{symbol}: {err}")
        self.refresh_now()
        return {"cancelled": cancelled, "dropped": [c.payload.client_id for c in dropped],
                "errors": errors}

    def _cancel_ours(self, symbol: str, run_id: str | None) -> list[str]:
        """Cancel, one by one, the open orders of ``symbol`` whose client id is one of
        ``run_id``'s (every open order when ``run_id`` is None)."""
        done: list[str] = []
        for order in self.request("fetch_open_orders", symbol):
            cid = str(order.get("clientOrderId") or order.get("id") or "")
            parsed = parse_client_order_id(cid)
            if run_id is not None and (parsed is None or parsed[0] != run_id):
                continue
            try:
                self.request("cancel_order", order["id"], symbol)
            except TradeloomError as err:
                if not _not_found(err):  # filled or cancelled meanwhile: nothing to do
                    raise
                continue
            done.append(cid)
        return done

    # -- refresh ---------------------------------------------------------------------
    def refresh_now(self) -> None:
        """Status and trades of every working order, per symbol (see ccxt_broker)."""
        working = self.store.orders(working_only=True)
        dirty, self._dirty_symbols = self._dirty_symbols, set()
        for symbol in sorted({r.symbol for r in working} | dirty):
            records = [r for r in working if r.symbol == symbol]
            self._refresh_symbol(symbol, records)

    def _refresh_symbol(self, symbol: str, records: list[OrderRecord]) -> None:
        for record in [r for r in records if r.exchange_id is None]:
            found = self.lookup_order(record)
            if found is None:
                self._report(record, "rejected", None,
                             "the exchange never received it (looked up by client id)")
            else:
                self.store.update_order(record.client_id, exchange_id=str(found["id"]))
        self.fetch_trades(symbol)
        open_orders = {str(o["id"]): o for o in self.request("fetch_open_orders", symbol)}
        for record in self.store.orders(working_only=True, symbol=symbol):
            if record.exchange_id is None:
                continue
            order = open_orders.get(record.exchange_id)
            if order is None:  # left the book: its final status, and trades it made since
                order = self.request("fetch_order", record.exchange_id, symbol)
                if order_status(order) == "filled" and record.filled < float(order.get("filled") or 0):
                    self.fetch_trades(symbol)
            status = order_status(order)
            if status != record.status:
                self._report(record, status, record.exchange_id)

    def fetch_trades(self, symbol: str) -> None:
        """Store the trades of ``symbol`` since the last one stored (sender thread only)."""
        last = self.store.last_trade(symbol)
        params: dict[str, Any] = {}
        since = None
        if last is not None:
            if self.client.id == "binance" and last[0].isdigit():
                params["fromId"] = int(last[0]) + 1
            else:
                since = last[1]
        trades = self.request("fetch_my_trades", symbol, since, None, params)
        for trade in sorted(trades, key=lambda t: (t.get("timestamp") or 0, str(t.get("id")))):
            trade_id = str(trade.get("id"))
            ts = int(trade.get("timestamp") or 0)
            self.book_trade(symbol, trade, rate_of=self._rate_of)
            prev = self.store.last_trade(symbol)
            if prev is None or ts >= prev[1]:
                self.store.set_last_trade(symbol, trade_id, ts)

    def book_trade(self, symbol: str, trade: Mapping[str, Any], *, rate_of: RateOf,
                   negate_fee: bool = False) -> bool:
        """Store one venue trade of one of our orders (once: by trade id) and report its
        fill, with the fee in the currency charged (``adapters.ccxt.fills``). Thread-safe:
        polling (this thread) and the user-data stream (the runner's loop) both call it.
        ``False`` when it is not ours, already booked, or (pushed) not yet valuable."""
        spec = self.markets.get(symbol)
        if spec is None:
            return False
        with self._book_lock:
            record = self.store.order_by_exchange_id(symbol, str(trade.get("order")))
            if record is None:
                cid = _trade_client_id(trade)
                record = self.store.order(cid) if cid else None
                if record is None or record.symbol != symbol:
                    return False
            trade_id = str(trade.get("id"))
            if self.store.has_fill(symbol, trade_id):
                return False
            charge = trade_fee(trade, spec, rate_of=rate_of, negate=negate_fee)
            fill = fill_record(trade, record, spec, charge)
            if not self.store.add_fill(fill):
                return False
            filled = record.filled + fill.amount
            avg = ((record.avg_price * record.filled + fill.price * fill.amount) / filled
                   if filled else 0.0)
            changes: dict[str, Any] = {"filled": filled, "avg_price": avg,
                                       "fee": record.fee + fill.fee}
            if record.exchange_id is None and trade.get("order") is not None:
                changes["exchange_id"] = str(trade["order"])
            self.store.update_order(record.client_id, **changes)
            self.outbox.put(fill)
            return True

    def _rate_of(self, asset: str) -> float | None:
        """A fee asset's price in the quote currency (sender thread): the broker's mark,
        else the venue's order book (mid of the best bid and ask)."""
        rate = self.marks_of(asset)
        if rate is not None:
            return rate
        quote = next(iter({m.quote for m in self.markets.values()}), None)
        symbol = f"{asset}/{quote}"
        if quote is None or symbol not in (getattr(self.client, "markets", None) or {}):
            return None
        book = self.request("fetch_order_book", symbol, 5)
        bids, asks = book.get("bids") or [], book.get("asks") or []
        if bids and asks:
            return (float(bids[0][0]) + float(asks[0][0])) / 2
        return float((bids or asks)[0][0]) if (bids or asks) else None
