"""The ccxt broker: the ``LiveBroker`` port (``engine.ports``) for real exchanges (Binance
spot tested end to end).

API (what the runner calls; all from ONE thread, the runner's event-loop thread)::

    broker = CcxtBroker(client, markets, store, *, run_id="r1", retry=RetryPolicy(),
                        sleep=time.sleep)          # client: make_client(..., async_=False)
    broker.submit(order: Order, now_ms: int) -> None            # non-blocking
    broker.submit_bracket(entry, stop_loss, take_profits, now_ms) -> None
    broker.submit_oco(a: Order, b: Order, now_ms: int) -> None
    broker.cancel(order_id: int, now_ms: int) -> bool           # non-blocking
    broker.open_orders(symbol: str | None = None) -> list[Order]
    broker.on_bar(bar: Bar) -> list[Fill]                       # local triggers; always []
    broker.on_trade(symbol, ts, price, amount) -> list[Fill]    # local triggers; always []
    broker.poll(now_ms: int, *, wait: bool = False) -> list[Fill]
    broker.busy -> bool                     # orders on the exchange or requests in flight
    broker.sync(timeout_s: float) -> bool   # thread-safe: refresh and wait (runner: to_thread)
    broker.collect(now_ms: int) -> list[Fill]   # fills that arrived; no new request
    broker.restore(records, id_source) -> list[Order]   # after a restart
    broker.drain_updates() -> list[Order]                       # the engine pulls this
    broker.expire_all(now_ms) -> None       # end of session: nothing expires on the exchange
    broker.fees -> FeeModel                 # the venue's maker/taker rates (risk sizing)
    broker.cancel_all(now_ms, *, timeout_s=10.0, all_orders=False, symbols=()) -> CancelAllReport
    broker.flush(timeout_s: float = 10.0) -> None               # wait until the sender is idle
    broker.call(fn: Callable[[ccxt.Exchange], T], timeout_s=30.0) -> T  # run fn on the sender
    broker.set_leverage(symbol, leverage) / broker.set_margin_mode(symbol, mode)  # perpetuals:
                                            # blocking; VenueSettingRefused if refused
    broker.fatal -> ExchangeError | None                        # set once trading must stop
    broker.close() -> None
    reconcile(broker, store, now_ms, policy=ReconcilePolicy()) -> ReconcileReport
                                                               # in adapters/live/reconcile.py

Sync vs async (decision latency). ``Engine.step`` is synchronous and the runner is
asyncio, so nothing on the decision path may wait for the network. ``submit`` only
checks the order against the market's rules (precision, minimum amount, minimum
notional), gives it its client order id and queues it: a few microseconds. One
sender thread owns the (sync) ccxt client and does all network I/O in order:
it persists the intent to SQLite, sends, retries, and polls. Results come back
through a queue and are applied to the ``Order`` objects only on the caller's thread,
inside ``poll``/``drain_updates`` (no Order is ever mutated by two threads). ccxt's
rate limiter keeps working because exactly one thread uses the client.

Rules, each tested in ``tests/integration/test_ccxt_broker.py``:

- **Client ids.** ``tl-{run_id}-{seq}`` (``tl{run_id}X{seq}`` on exchanges that allow
  only letters and digits, e.g. OKX), at most 32 characters; ``seq`` comes from the
  state store, reserved in blocks, so a restart continues past every id ever handed
  out and never reuses one.
- **Idempotent submit.** The intent is stored before the first send. On a transient
  error (timeout, dropped connection, 5xx, 429) the sender asks the exchange for the
  order by client id before sending again: found -> adopted, not found -> re-sent
  with the same client id after a backoff with jitter (Retry-After honoured).
  A stale timestamp (Binance -1021, ccxt ``InvalidNonce``) is transient too: the
  sender measures the exchange's clock again (``load_time_difference``) before the
  retry signs the request anew.
- **Stopping errors.** Authentication and insufficient-funds errors reject the order
  with the exchange's message, set ``fatal`` and stop trading: every later ``submit``
  raises the error, and ``poll`` raises it once it has no fills left to deliver.
  Other refusals (invalid order, unknown symbol) reject that order only.
- **Tracking.** Orders are tracked to completion by polling: per symbol with working
  orders, one ``fetch_open_orders`` and one ``fetch_my_trades`` from the last seen
  trade id; orders that left the open list are fetched once for their final status.
  Where the venue pushes them (``adapters.ccxt.user_stream``: ccxt.pro
  ``watch_my_trades``/``watch_orders``), trades and order updates are booked as they
  arrive (``on_pushed_trade``/``on_pushed_order``) and polling remains the fallback.
  Fills come from the exchange's trade reports, de-duplicated by trade id (stored, so
  also across restarts), with their fee in the currency the venue charged it
  (``adapters.ccxt.fills``: the base coin of a Binance/OKX buy, the quote, or BNB)
  and its value in the quote currency.
- **Sells.** A sell never asks for more than the account's free base balance: the
  sender cuts it to what is free (rounded down to the lot step) before sending; a
  sell of nothing but dust is refused with that reason.
- **Local contingent orders.** Stops, brackets and OCO groups are emulated locally
  (``adapters.live_triggers``): stop orders wait in the broker and go out as market
  orders when ``on_bar``/``on_trade`` see the stop price trade; bracket legs wait for
  the entry's fill (take-profits then go to the exchange as limit orders, the
  stop-loss stays a local trigger); when one leg of a group fills, the others are
  cancelled. A stop is therefore only as fast as the price feed the runner delivers.
- **Kill switch.** ``cancel_all`` jumps the sender's queue, drops queued submits,
  cancels this run's open orders on the exchange (by client id, per symbol it trades
  or has orders on; ``all_orders=True``: every open order there, ``cancel_all_orders``)
  and every locally held trigger, and blocks until the exchange confirms or
  ``timeout_s``. Its report counts what was really cancelled.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import ccxt

from tradeloom.adapters.ccxt.exchange import map_ccxt_error
from tradeloom.adapters.ccxt.fills import UnvaluedFee
from tradeloom.adapters.ccxt.sender import Sender, StatusReport, client_order_id, order_status
from tradeloom.adapters.ccxt.triggers import STOP_TYPES, LocalTriggers
from tradeloom.adapters.live.state import FillRecord, LiveStateStore, OrderRecord
from tradeloom.adapters.secrets import redact_secrets_in_logs
from tradeloom.adapters.store.ingest import RetryPolicy
from tradeloom.engine.costs.fees import MakerTakerFees
from tradeloom.engine.errors import ExchangeError, OrderError, VenueSettingRefused
from tradeloom.engine.market import MarketSpec
from tradeloom.engine.orders import Bar, Fill, Liquidity, Order, OrderStatus, OrderType, Side
from tradeloom.engine.ports import BarFastPath, FeeModel

log = logging.getLogger(__name__)

T = TypeVar("T")

_SENT_TYPES = (OrderType.MARKET, OrderType.LIMIT)
#: Venues whose pushed trades carry the fee with the venue's own sign (a charge negative)
#: where ccxt's REST trades give a positive cost (``tests/support/venues/NOTES.md``).
PUSHED_FEE_SIGNED = frozenset({"okx", "myokx", "okxus"})
_STATUS = {s.value: s for s in OrderStatus}


@dataclass(frozen=True, slots=True)
class CancelAllReport:
    """What the kill switch did: exchange orders cancelled (client ids), queued submits
    dropped, local triggers cancelled, errors, time taken, orders still open after it."""

    cancelled: tuple[str, ...]
    dropped: tuple[str, ...]
    local: tuple[int, ...]
    errors: tuple[str, ...]
    elapsed_s: float
    still_open: int

    @property
    def ok(self) -> bool:
        return not self.errors and self.still_open == 0

    @property
    def count(self) -> int:
        """Orders the kill took out: cancelled on the exchange, dropped before sending,
        and local triggers."""
        return len(set(self.cancelled) | set(self.dropped)) + len(self.local)


class CcxtBroker:
    """The Broker port over a ccxt client (see the module docstring for every rule)."""

    def __init__(self, client: ccxt.Exchange, markets: Mapping[str, MarketSpec],
                 store: LiveStateStore, *, retry: RetryPolicy | None = None,
                 sleep: Callable[[float], None] = time.sleep,
                 fees: FeeModel | None = None,
                 fee_assets: frozenset[str] = frozenset()) -> None:
        redact_secrets_in_logs(*(getattr(client, k, None) for k in ("apiKey", "secret",
                                                                    "password")))
        self.client = client
        self.markets = dict(markets)
        #: The model of the venue's fees (its markets' maker/taker rates, as ccxt reports
        #: them): what the risk engine's sizing plans with. The exchange charges the fees.
        self.fees: FeeModel = fees if fees is not None else MakerTakerFees()
        self.store = store
        self.run_id = store.run_id
        #: Third assets the account may pay fees with (the config's ``fee_asset``): the
        #: portfolio holds them. A fee charged in any other asset stops trading.
        self.fee_assets = frozenset(fee_assets)
        self.fatal: ExchangeError | None = None
        self.sender = Sender(client, store, self.markets, retry=retry or RetryPolicy(),
                             sleep=sleep)
        self.sender.marks_of = self._mark_of
        #: Set (thread-safe) when the user-data stream booked a fill or an order update:
        #: the runner collects it without waiting for the next poll.
        self.pushed = threading.Event()
        self.triggers = LocalTriggers()
        self._orders: dict[int, Order] = {}
        self._by_cid: dict[str, Order] = {}
        self._updates: dict[int, Order] = {}
        self._fills: list[Fill] = []
        self._last_price: dict[str, float] = {}
        self._filled_pending: dict[int, Order] = {}  # exchange says filled, fills not yet in
        self.sender.start()

    # ------------------------------------------------------------------ the Broker port
    def submit(self, order: Order, now_ms: int) -> None:
        """Check, name and queue ``order`` (non-blocking); REJECTED with a reason if it fails."""
        self._raise_if_fatal()
        problem = self._check(order)
        self._track(order)
        if problem:
            self._move(order, OrderStatus.REJECTED, now_ms, problem)
            return
        if order.type in STOP_TYPES:
            self._hold(order, now_ms)
            self.triggers.hold_stop(order)
            return
        self.sender.submit(self._record(order, "pending"))

    def submit_bracket(self, entry: Order, stop_loss: Order, take_profits: Sequence[Order],
                       now_ms: int) -> None:
        """Send ``entry``; hold the legs until it fills (see ``adapters.live_triggers``)."""
        legs = [stop_loss, *take_profits]
        self.submit(entry, now_ms)
        if entry.status is OrderStatus.REJECTED:
            for leg in legs:
                self._track(leg)
                self._move(leg, OrderStatus.REJECTED, now_ms, "entry rejected")
            return
        for leg in legs:
            self._track(leg)
            self._hold(leg, now_ms)
        self.triggers.hold_bracket(entry, legs)

    def submit_oco(self, a: Order, b: Order, now_ms: int) -> None:
        """Two legs cancelling each other; the stop leg is held locally."""
        self.submit(a, now_ms)
        self.submit(b, now_ms)
        self.triggers.link_oco(a, b)

    def cancel(self, order_id: int, now_ms: int) -> bool:
        """Queue a cancel (non-blocking); ``False`` if unknown or finished."""
        order = self._orders.get(order_id)
        if order is None or order.status.is_terminal:
            return False
        if order.id in self.triggers.stops or self._held(order):
            self.triggers.forget(order)
            self._move(order, OrderStatus.CANCELED, now_ms, "cancelled (held locally)")
            self.sender.save(self._record(order, OrderStatus.CANCELED.value))
            return True
        self.sender.cancel(order.client_id)
        return True

    def replace(self, order_id: int, now_ms: int, *, amount: float | None = None,
                price: float | None = None, stop_price: float | None = None) -> Order:
        """Not supported: raises ``OrderError`` (the port allows it)."""
        raise OrderError(
            f"replace(order {order_id}): not supported by the live broker (an exchange's "
            "cancel-replace differs per venue); cancel the order and submit a new one"
        )

    def open_orders(self, symbol: str | None = None) -> list[Order]:
        """Working orders (sent, or held locally), oldest first."""
        return [o for o in self._orders.values()
                if not o.status.is_terminal and (symbol is None or o.symbol == symbol)]

    def on_bar(self, bar: Bar) -> list[Fill]:
        """Fire local stops the bar's range reached; fills arrive through ``poll``."""
        self._last_price[bar.symbol] = bar.close
        self._fire(bar.symbol, bar.low, bar.high, bar.close_ts)
        return []

    def on_trade(self, symbol: str, ts: int, price: float, amount: float) -> list[Fill]:
        self._last_price[symbol] = price
        self._fire(symbol, price, price, ts)
        return []

    def poll(self, now_ms: int, *, wait: bool = False, timeout_s: float = 30.0) -> list[Fill]:
        """Ask the sender for a refresh and return the fills that arrived (oldest first).

        Non-blocking unless ``wait``: then it waits for the refresh to finish. Raises
        ``fatal`` (authentication, insufficient funds) once no fills are left to deliver.
        """
        self.sender.refresh()
        if wait:
            self.flush(timeout_s)
        self._apply_reports(now_ms)
        fills, self._fills = self._fills, []
        if not fills:
            self._raise_if_fatal()
        return fills

    @property
    def busy(self) -> bool:
        """Orders working on the exchange, or requests the sender has not finished."""
        if self.sender.pending:
            return True
        return any(not o.status.is_terminal and o.id not in self.triggers.stops
                   and not self._held(o) for o in self._orders.values())

    def sync(self, timeout_s: float = 10.0) -> bool:
        """Refresh from the exchange and wait for the sender to be idle (thread-safe:
        touches no ``Order``; the runner awaits it in a worker thread, then ``collect``s).
        ``False`` if the sender was still busy after ``timeout_s``."""
        self.sender.refresh()
        return self.sender.wait_idle(timeout_s)

    def collect(self, now_ms: int) -> list[Fill]:
        """The fills (and order updates) the sender reported so far; sends nothing.
        Raises ``fatal`` once no fills are left to deliver, like ``poll``."""
        self._apply_reports(now_ms)
        fills, self._fills = self._fills, []
        if not fills:
            self._raise_if_fatal()
        return fills

    def drain_updates(self) -> list[Order]:
        """Orders whose status changed since the last drain (the engine pulls this).

        Exchange reports are applied by ``poll``/``collect`` (the runner, between events)
        and by ``cancel_all``, never here: the orders a strategy sees do not change in the
        middle of its callback, so a journal's order updates replay at the same points
        (``adapters.live.replay_broker``)."""
        updates = list(self._updates.values())
        self._updates.clear()
        return updates

    def expire_all(self, now_ms: int) -> None:
        """End of a session: nothing expires; the exchange's orders stay as they are (the
        kill switch, ``cancel_all``, is what cancels them)."""

    def bar_fast_path(self) -> BarFastPath | None:
        """None: every bar goes through ``on_bar`` (local stops watch every bar)."""
        return None

    def result_events(self) -> list[dict[str, Any]]:
        """None: the exchange decided every fill."""
        return []

    def update_markets(self, specs: Mapping[str, MarketSpec]) -> None:
        """New rules for later orders (``Broker.update_markets``): the broker's checks and
        the sender's rounding at the next send."""
        self.markets.update(specs)
        self.sender.update_markets(specs)

    def cancel_all(self, now_ms: int, *, timeout_s: float = 10.0, all_orders: bool = False,
                   symbols: Sequence[str] = ()) -> CancelAllReport:
        """The kill switch: cancel this broker's orders, here and on the exchange (blocking).

        On the exchange only the orders with this run's client ids go, on ``symbols``
        and every symbol this broker has orders working on; ``all_orders`` cancels every
        open order of the account on those symbols (orders placed by hand too).
        """
        started = time.monotonic()
        local = []
        for order in list(self._orders.values()):
            if not order.status.is_terminal and (order.id in self.triggers.stops
                                                 or self._held(order)):
                self.triggers.forget(order)
                self._move(order, OrderStatus.CANCELED, now_ms, "kill switch")
                self.sender.save(self._record(order, OrderStatus.CANCELED.value))
                local.append(order.id)
        self.triggers.waiting_legs.clear()
        where = set(symbols) | {r.symbol for r in self.store.orders(working_only=True)}
        where |= {o.symbol for o in self._orders.values() if not o.status.is_terminal}
        future = self.sender.cancel_all(sorted(where), None if all_orders else self.run_id)
        errors: list[str] = []
        result: dict[str, Any] = {"cancelled": [], "dropped": []}
        try:
            result = future.result(timeout_s)
            errors = list(result["errors"])
        except TimeoutError:
            errors.append(f"the exchange did not confirm within {timeout_s} s")
        except ExchangeError as err:
            errors.append(str(err))
        self._apply_reports(now_ms)
        still_open = len(self.store.orders(working_only=True))
        return CancelAllReport(tuple(result["cancelled"]), tuple(result["dropped"]),
                               tuple(local), tuple(errors), time.monotonic() - started,
                               still_open)

    def flush(self, timeout_s: float = 10.0) -> None:
        """Wait until every queued request was sent and answered."""
        if not self.sender.wait_idle(timeout_s):
            raise ExchangeError(f"the ccxt sender is still busy after {timeout_s} s; "
                                "the exchange is slow or unreachable")

    # ------------------------------------------------------------------ perpetuals
    def set_leverage(self, symbol: str, leverage: float) -> None:
        """Set ``symbol``'s leverage on the venue (ccxt ``set_leverage``; Binance ``POST
        /fapi/v1/leverage``, whole numbers only); ``VenueSettingRefused`` when the venue
        refuses (the engine then keeps its own setting unchanged)."""
        whole = int(leverage)
        if whole != leverage or whole < 1:
            raise VenueSettingRefused(
                f"{symbol}: leverage {leverage:g} refused before sending: {self.client.id} "
                "takes a whole leverage >= 1; set a whole number")
        self._venue_setting(symbol, "leverage", str(whole),
                            lambda c: c.set_leverage(whole, symbol))

    def set_margin_mode(self, symbol: str, mode: str) -> None:
        """Set ``symbol``'s margin mode (``isolated``/``cross``) on the venue (ccxt
        ``set_margin_mode``; Binance ``POST /fapi/v1/marginType``). Binance's ``-4046 No
        need to change margin type`` (already set) is not a refusal."""
        def change(client: ccxt.Exchange) -> Any:
            try:
                return client.set_margin_mode(mode, symbol)
            except ccxt.MarginModeAlreadySet:
                return None
            except ccxt.BaseError as exc:
                if "-4046" in str(exc) or "No need to change margin type" in str(exc):
                    return None
                raise

        self._venue_setting(symbol, "margin mode", mode, change)

    def _venue_setting(self, symbol: str, setting: str, value: str,
                       fn: Callable[[ccxt.Exchange], Any]) -> None:
        spec = self.markets.get(symbol)
        if spec is None or spec.contract is None:
            raise VenueSettingRefused(f"{symbol}: {setting} applies to perpetual swaps only; "
                                      f"{symbol} is not one on {self.client.id}")
        def attempt(client: ccxt.Exchange) -> ccxt.BaseError | None:
            try:  # the venue's refusal comes back as a value: the sender logs no traceback
                fn(client)
            except ccxt.BaseError as exc:
                return exc
            return None

        exc = self.call(attempt)
        if exc is not None:
            err = map_ccxt_error(exc, context=f"{self.client.id} set {setting} {symbol}")
            raise VenueSettingRefused(
                f"{symbol}: the venue refused {setting} {value}: {err}; change the setting "
                "(config [perps] or the strategy's set_leverage/set_margin_mode) to one the "
                "venue accepts for this symbol and account") from exc

    def call(self, fn: Callable[[ccxt.Exchange], T], timeout_s: float = 30.0) -> T:
        """Run ``fn(client)`` on the sender thread (the one thread using the client)."""
        return self.sender.call(fn).result(timeout_s)

    def close(self) -> None:
        self.sender.stop()

    def restore(self, records: Sequence[OrderRecord],
                id_source: Callable[[], int]) -> list[Order]:
        """Rebuild the working orders of an earlier process from the state store (after a
        ``reconcile``): exchange orders are tracked again, held stops re-armed as local
        triggers. A held bracket leg whose entry belonged to the earlier process (not a
        stop: a take-profit never sent) is cancelled, recorded with that reason."""
        restored: list[Order] = []
        for rec in records:
            if rec.client_id in self._by_cid or not (rec.is_working or rec.status == "held"):
                continue
            held_stop = rec.status == "held" and rec.stop_price is not None
            otype = OrderType(rec.type)
            if held_stop:
                otype = OrderType.STOP_LIMIT if otype is OrderType.LIMIT else OrderType.STOP
            oid = rec.order_id if rec.order_id > 0 else id_source()  # adopted: a new id
            order = Order(oid, rec.symbol, Side(rec.side), otype, rec.amount,
                          rec.created_ts, price=rec.price, quote_amount=rec.quote_amount,
                          stop_price=rec.stop_price, reduce_only=rec.reduce_only,
                          client_id=rec.client_id, tag=rec.tag, strategy_id=rec.strategy_id,
                          oco_group=rec.oco_group, filled=rec.filled, avg_price=rec.avg_price,
                          fee=rec.fee, updated_ts=rec.updated_ts)
            order.transition(OrderStatus.OPEN, rec.updated_ts, "restored after a restart")
            if rec.filled > 0:
                order.transition(OrderStatus.PARTIALLY_FILLED, rec.updated_ts)
            self._orders[order.id] = order
            self._by_cid[order.client_id] = order
            if held_stop:
                self.triggers.hold_stop(order)
            elif rec.status == "held":
                self._move(order, OrderStatus.CANCELED, rec.updated_ts,
                           "restart: leg of an entry from the previous process")
                self.sender.save(self._record(order, OrderStatus.CANCELED.value))
                continue
            restored.append(order)
        self._updates.clear()  # the engine learns restored orders from open_orders()
        return restored

    # ------------------------------------------------------------------ pushed updates
    def on_pushed_trade(self, trade: Mapping[str, Any]) -> bool:
        """A trade from the venue's user-data stream (``watch_my_trades``, the runner's
        event loop): booked exactly as a polled one (once, by trade id), its fill handed
        over at the next ``collect``. ``False`` when it is not one of ours or not yet
        bookable (its order's id unknown, its fee not valuable): polling books it."""
        symbol = str(trade.get("symbol") or "")
        try:
            booked = self.sender.book_trade(symbol, trade, rate_of=self._mark_of,
                                            negate_fee=self.client.id in PUSHED_FEE_SIGNED)
        except UnvaluedFee:
            return False  # REST polling values it from the venue's book
        if booked:
            self.pushed.set()
        return booked

    def on_pushed_order(self, order: Mapping[str, Any]) -> bool:
        """An order update from the user-data stream (``watch_orders``): its status, once
        it differs from the stored one, as the sender's poll would report it."""
        cid = str(order.get("clientOrderId") or "")
        record = self.store.order(cid) if cid else None
        if record is None or not record.is_working:
            return False
        status = order_status(order)
        if status == record.status:
            return False
        exchange_id = str(order["id"]) if order.get("id") is not None else record.exchange_id
        self.store.update_order(cid, status=status, exchange_id=exchange_id)
        self.sender.outbox.put(StatusReport(cid, status, exchange_id))
        self.pushed.set()
        return True

    def _mark_of(self, asset: str) -> float | None:
        """The last price of ``asset`` in the markets' quote currency, if the runner
        steps its market (the fee asset's valuation)."""
        for spec in self.markets.values():
            price = self._last_price.get(f"{asset}/{spec.quote}")
            if price is not None:
                return price
        return None

    # ------------------------------------------------------------------ internals
    def _raise_if_fatal(self) -> None:
        if self.fatal is not None:
            raise type(self.fatal)(f"trading stopped: {self.fatal}")

    def _check(self, order: Order) -> str:
        """Why the exchange would refuse ``order`` (amounts rounded as ccxt will), or ''."""
        spec = self.markets.get(order.symbol)
        if spec is None:
            return (f"rejected: unknown symbol {order.symbol!r}; the live broker trades "
                    f"{sorted(self.markets)}")
        if order.type not in (*_SENT_TYPES, *STOP_TYPES):
            return (f"rejected: {order.type.value} orders are not supported live; use a stop "
                    "the strategy moves itself")
        if order.type in (OrderType.LIMIT, OrderType.STOP_LIMIT):
            if order.price is None or not order.price > 0:
                return f"rejected: {order.type.value} order needs a price > 0"
            order.price = spec.round_price(order.price)
        if order.type in STOP_TYPES and not (order.stop_price and order.stop_price > 0):
            return f"rejected: {order.type.value} order needs a stop_price > 0"
        if order.quote_amount is not None:
            if order.type is not OrderType.MARKET or order.side is not Side.BUY:
                return "rejected: quote_amount sizing is for market buys only"
            if order.quote_amount < spec.min_notional:
                return (f"rejected: {order.quote_amount} {spec.quote} is under the minimum "
                        f"notional {spec.min_notional} of {order.symbol}")
            return ""
        amount = spec.round_amount(order.amount)
        if amount <= 0 or amount < spec.min_amount:
            return (f"rejected: amount {order.amount} rounds to {amount}, under the minimum "
                    f"{spec.min_amount} {spec.base} of {order.symbol} (lot step {spec.lot_step})")
        order.amount = amount
        price = order.price or order.stop_price or self._last_price.get(order.symbol)
        if price is not None and amount * price < spec.min_notional * (1 - 1e-9):
            return (f"rejected: notional {amount * price:.8g} {spec.quote} is under the minimum "
                    f"{spec.min_notional} of {order.symbol}; increase the amount")
        return ""

    def _track(self, order: Order) -> None:
        if not order.client_id:
            order.client_id = client_order_id(self.run_id, self.store.next_seq(), self.client.id)
        self._orders[order.id] = order
        self._by_cid[order.client_id] = order

    def _held(self, order: Order) -> bool:
        return any(order in legs for legs in self.triggers.waiting_legs.values())

    def _hold(self, order: Order, now_ms: int) -> None:
        self._move(order, OrderStatus.OPEN, now_ms)
        self.sender.save(self._record(order, "held"))

    def _record(self, order: Order, status: str) -> OrderRecord:
        return OrderRecord(
            client_id=order.client_id, order_id=order.id, symbol=order.symbol,
            side=order.side.value,
            type=OrderType.MARKET.value if order.type is OrderType.STOP else (
                OrderType.LIMIT.value if order.type is OrderType.STOP_LIMIT else order.type.value),
            amount=order.amount, created_ts=order.created_ts, status=status, price=order.price,
            quote_amount=order.quote_amount, stop_price=order.stop_price,
            reduce_only=order.reduce_only, tag=order.tag, strategy_id=order.strategy_id,
            parent_id=order.parent_id, oco_group=order.oco_group, updated_ts=order.updated_ts)

    def _move(self, order: Order, status: OrderStatus, ts: int | None, reason: str = "") -> None:
        if order.status is status and status is not OrderStatus.PARTIALLY_FILLED:
            return
        ts = order.updated_ts if ts is None else ts
        if order.status is OrderStatus.NEW and status not in (OrderStatus.OPEN,
                                                              OrderStatus.REJECTED):
            order.transition(OrderStatus.OPEN, ts)
        order.transition(status, ts, reason)
        self._updates[order.id] = order
        if status.is_terminal:
            self.triggers.forget(order)

    def _apply_reports(self, now_ms: int | None) -> None:
        outbox = self.sender.outbox
        while not outbox.empty():
            item = outbox.get()
            if isinstance(item, FillRecord):
                self._apply_fill(item)
            else:
                self._apply_status(item, now_ms)
        for order in list(self._filled_pending.values()):  # quote-sized: amount known by now
            if order.filled > 0 and not order.status.is_terminal:
                del self._filled_pending[order.id]
                self._move(order, OrderStatus.FILLED, order.updated_ts)
                self._after_terminal(order, order.updated_ts)

    def _apply_fill(self, rec: FillRecord) -> None:
        order = self._by_cid.get(rec.client_id)
        if order is None:  # an order of an earlier process: reconcile accounts for it
            return
        spec = self.markets[order.symbol]
        currency = rec.fee_currency
        if currency and currency not in (spec.base, spec.quote, *self.fee_assets):
            if self.fatal is None:
                self.fatal = ExchangeError(
                    f"{self.client.id} charged the fee of trade {rec.trade_id} ({order.symbol}) "
                    f"in {currency}: the account pays fees with {currency}, which the config "
                    f"does not say; set [fee_asset] asset = \"{currency}\" and restart (the "
                    "fill is stored; the restart books it from the balances)")
                log.error("trading stopped: %s", self.fatal)
            return
        total = order.filled + rec.amount
        order.avg_price = (order.avg_price * order.filled + rec.price * rec.amount) / total
        order.filled = total
        order.fee += rec.fee
        fill = Fill(order.id, order.symbol, order.side, rec.ts, rec.price, rec.amount, rec.fee,
                    Liquidity.MAKER if rec.liquidity == "maker" else Liquidity.TAKER,
                    order.client_id, order.tag, order.strategy_id,
                    currency or spec.quote, rec.fee_cost if currency else rec.fee)
        self._fills.append(fill)
        if order.status in (OrderStatus.CANCELED, OrderStatus.EXPIRED):
            # The venue finished the order before its trades came in (Binance expires the
            # rest of a reduce-only market order larger than the position, or of an IOC):
            # the fill is booked, the order stays finished.
            return
        done = order.amount > 0 and total >= order.amount * (1 - 1e-9)
        if done:
            self._filled_pending.pop(order.id, None)
        self._move(order, OrderStatus.FILLED if done else OrderStatus.PARTIALLY_FILLED, rec.ts)
        self._after_fill(order, rec)

    def _apply_status(self, rep: StatusReport, now_ms: int | None) -> None:
        order = self._by_cid.get(rep.client_id)
        if rep.fatal is not None and self.fatal is None:
            self.fatal = rep.fatal
            log.error("trading stopped: %s", rep.fatal)
        if order is None:
            return
        status = _STATUS.get(rep.status)
        if status is None or order.status.is_terminal:
            return
        if status is OrderStatus.PARTIALLY_FILLED:
            status = OrderStatus.OPEN if order.filled == 0 else status
        if status is OrderStatus.OPEN and order.status is not OrderStatus.NEW:
            return
        if status is OrderStatus.FILLED and (order.amount == 0 or order.filled < order.amount
                                             * (1 - 1e-9)):
            # The fills (from the trade reports) decide FILLED; they follow this report.
            self._filled_pending[order.id] = order
            if order.status is OrderStatus.NEW:
                self._move(order, OrderStatus.OPEN, now_ms)
            return
        self._move(order, status, now_ms, rep.reason)
        if status.is_terminal:
            self._after_terminal(order, now_ms)

    def _after_fill(self, order: Order, rec: FillRecord) -> None:
        if order.status.is_terminal:
            self._after_terminal(order, rec.ts)
        siblings = self.triggers.siblings(order)
        if not siblings:
            return
        if order.type in STOP_TYPES or self.triggers.is_oco(order):
            for other in siblings:
                self.cancel(other.id, rec.ts)
            return
        for other in siblings:  # a take-profit filled: the stop protects less
            if other.type in STOP_TYPES and other.id in self.triggers.stops:
                other.amount = self.markets[other.symbol].round_amount(other.amount - rec.amount)
                if other.amount <= 0:
                    self.cancel(other.id, rec.ts)

    def _after_terminal(self, order: Order, ts: int | None) -> None:
        ts = order.updated_ts if ts is None else ts
        for leg in self.triggers.drop_bracket(order):
            self._move(leg, OrderStatus.CANCELED, ts, "entry finished without a fill")
            self.sender.save(self._record(leg, OrderStatus.CANCELED.value))
        legs = self.triggers.legs_ready(order)
        if not legs:
            return
        spec = self.markets[order.symbol]
        scale = 1.0 if order.quote_amount is not None else order.filled / order.amount
        base = order.filled if order.quote_amount is not None else 1.0
        for leg in legs:
            leg.amount = spec.round_amount(leg.amount * base * scale)
            if leg.type in STOP_TYPES:
                self.triggers.hold_stop(leg)
                self.sender.save(self._record(leg, "held"))
            elif leg.amount > 0:
                self.sender.submit(self._record(leg, "pending"))
            else:
                self._move(leg, OrderStatus.CANCELED, ts, "entry filled too little for this leg")

    def _fire(self, symbol: str, low: float, high: float, ts: int) -> None:
        for stop in self.triggers.crossed(symbol, low, high):
            for other in self.triggers.siblings(stop):
                self.cancel(other.id, ts)  # queued before the stop's own order goes out
            stop.triggered = True
            if math.isclose(stop.amount, 0.0):
                self._move(stop, OrderStatus.CANCELED, ts, "nothing left to protect")
                continue
            self.sender.submit(self._record(stop, "pending"))
