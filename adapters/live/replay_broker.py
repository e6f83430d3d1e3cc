"""``JournalBroker``: the broker of a live session as its engine saw it, rebuilt from the
session's journal, for ``replay`` of live sessions.

Why: a live session's decisions depend on what the exchange did - when an order was
acknowledged, filled or cancelled - not on what a fill model would have done. A
cancel on an exchange is a request: the order stays working until the exchange
confirms it, while the simulated broker cancels at once; a limit order fills when the
venue matched it. Replaying a live journal against the fill model therefore diverges
wherever the venue differed from the model, which says nothing about whether the
*decisions* were reproduced. ``replay(fills="journal")`` (the default for live
sessions) puts this broker behind the engine instead: the journal's inbound exchange
events become the inputs, and the replay checks that the strategy and the risk engine,
given the same bars, fills and order updates, sent the same commands.

How each journaled exchange event is replayed:

- ``fill`` records are stepped as ``FillEvent``s at their ``engine_ts``, as the runner
  stepped them (the order's filled amount and average price follow);
- ``order`` records (the status updates the engine drained) take effect when they did
  in the live broker (:func:`schedule`, which :meth:`begin` receives): an exchange
  report before the step of the inbound event (bar, trade, fill, kill, start) it is
  journaled in - the live broker applies reports only between events - and a
  synchronous local move (a rejection or a hold at ``submit``, the cancel of a locally
  held order) right after the command that made it;
- orders the strategy submits stay ``new`` until the journal reports them; a cancel is
  accepted for any working order and takes effect when the journal says so.

Nothing is matched on bars or ticks; a replay that sends a command the session never
sent, or misses one, is a divergence the parity report shows.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from tradeloom.engine.accounting.portfolio import Portfolio
from tradeloom.engine.costs.fees import MakerTakerFees
from tradeloom.engine.errors import OrderError
from tradeloom.engine.market import MarketSpec
from tradeloom.engine.orders import Bar, Fill, Order, OrderStatus
from tradeloom.engine.ports import BarFastPath, FeeModel

#: ``(commands of the step journaled before it, order payload)``.
Scheduled = tuple[int, Mapping[str, Any]]


class JournalBroker:
    """The ``Broker`` port over a live journal's exchange events (module docstring)."""

    def __init__(self, markets: Mapping[str, MarketSpec], portfolio: Portfolio,
                 ids: Callable[[], int]) -> None:
        self.markets = dict(markets)
        self.fees: FeeModel = MakerTakerFees()
        self._orders: dict[int, Order] = {}
        #: order id -> (base amount, quote notional) of its journaled fills booked so far.
        self._booked: dict[int, tuple[float, float]] = {}
        self._updates: dict[int, Order] = {}
        self._due: deque[Scheduled] = deque()
        self._commands = 0

    # ------------------------------------------------------------------ journal input
    def begin(self, scheduled: Iterable[Scheduled]) -> None:
        """A new inbound event: the order updates the live engine learned during its step."""
        self.finish_step()
        self._due = deque(scheduled)
        self._commands = 0
        self._apply_due()

    def finish_step(self) -> None:
        """The event is over: whatever the live engine learned during it now holds."""
        while self._due:
            self._apply(self._due.popleft()[1])

    def restore(self, order: Order) -> None:
        """A working order the restarted session took over (already open)."""
        self._orders[order.id] = order

    def book_fill(self, fill: Fill) -> bool:
        """A journaled fill: the order's filled amount and average price. ``False`` for
        an order the replay never made (it diverged already: the fill is not booked)."""
        order = self._orders.get(fill.order_id)
        if order is None:
            return False
        # The live broker moved ``filled`` by its fills only; an ``order`` record journaled
        # with the fill already carries the total, so the fills are summed apart and the
        # order keeps the larger of the two (never counting one fill twice).
        amount, notional = self._booked.get(order.id, (0.0, 0.0))
        amount, notional = amount + fill.amount, notional + fill.price * fill.amount
        self._booked[order.id] = (amount, notional)
        if amount >= order.filled:
            order.filled = amount
            order.avg_price = notional / amount if amount > 0 else order.avg_price
        order.fee += fill.fee
        return True

    def _apply_due(self) -> None:
        due = self._due
        while due and due[0][0] <= self._commands:
            self._apply(due.popleft()[1])

    def _apply(self, p: Mapping[str, Any]) -> None:
        order = self._orders.get(int(p["order_id"]))
        if order is None:
            return  # an order the replay never made: the command diff reports it
        status = OrderStatus(str(p["status"]))
        order.filled = float(p.get("filled") or order.filled)
        order.avg_price = float(p.get("avg_price") or order.avg_price)
        if status is order.status and status is not OrderStatus.PARTIALLY_FILLED:
            return
        order.status = status
        order.updated_ts = int(p.get("updated_ts") or order.updated_ts)
        if p.get("reason"):
            order.reason = str(p["reason"])
        order.history.append((order.updated_ts, status.value))
        self._updates[order.id] = order

    # ------------------------------------------------------------------ the Broker port
    def submit(self, order: Order, now_ms: int) -> None:
        self._apply_due()
        if order.id in self._orders:
            raise OrderError(f"order id {order.id} submitted twice")
        self._orders[order.id] = order
        self._commands += 1
        self._apply_due()

    def submit_bracket(self, entry: Order, stop_loss: Order, take_profits: Sequence[Order],
                       now_ms: int) -> None:
        for order in (entry, stop_loss, *take_profits):
            self.submit(order, now_ms)

    def submit_oco(self, a: Order, b: Order, now_ms: int) -> None:
        self.submit(a, now_ms)
        self.submit(b, now_ms)

    def cancel(self, order_id: int, now_ms: int) -> bool:
        self._apply_due()
        order = self._orders.get(order_id)
        self._commands += 1
        if order is None or order.status.is_terminal:
            return False
        self._apply_due()
        return True

    def replace(self, order_id: int, now_ms: int, *, amount: float | None = None,
                price: float | None = None, stop_price: float | None = None) -> Order:
        raise OrderError(f"replace(order {order_id}): not supported by the live broker; the "
                         "journal cannot hold one")

    def open_orders(self, symbol: str | None = None) -> list[Order]:
        self._apply_due()
        return [o for o in self._orders.values()
                if not o.status.is_terminal and (symbol is None or o.symbol == symbol)]

    def on_bar(self, bar: Bar) -> list[Fill]:
        return []  # the exchange's fills come as journaled FillEvents

    def on_trade(self, symbol: str, ts: int, price: float, amount: float) -> list[Fill]:
        return []

    def drain_updates(self) -> list[Order]:
        self._apply_due()
        updates = list(self._updates.values())
        self._updates.clear()
        return updates

    def expire_all(self, now_ms: int) -> None:
        """Nothing expires on the exchange at the end of a session."""

    def bar_fast_path(self) -> BarFastPath | None:
        return None

    def result_events(self) -> list[dict[str, Any]]:
        return []

    def update_markets(self, specs: Mapping[str, MarketSpec]) -> None:
        """The session's new rules (nothing is matched here; kept for the record)."""
        self.markets.update(specs)

    def set_leverage(self, symbol: str, leverage: float) -> None:
        """Nothing to set: the venue accepted the session's settings (journaled as
        ``perp_settings``); the replayed portfolio holds them."""

    def set_margin_mode(self, symbol: str, mode: str) -> None:
        """Nothing to set (``set_leverage``)."""


def schedule(records: Sequence[Any], anchors: frozenset[str]) -> dict[int, list[Scheduled]]:
    """For each anchor record (by ``seq``): the ``order`` records that follow it, each
    with the number of commands of the step after which it took effect.

    The live broker applies the exchange's reports only between events (``poll``,
    ``collect``), so an update took effect *before* the step (0) - although the engine
    drains and journals it after the strategy's callback - unless the step itself
    moved that order synchronously (a local rejection or hold right after its
    ``submit``, a locally held order cancelled by its ``cancel``): then right after
    that command.

    >>> from tradeloom.adapters.live.journal import JournalRecord as R
    >>> recs = [R(1, "bar", 0, 0, {}), R(2, "submit", 0, 0, {"order_id": 1}),
    ...         R(3, "order", 0, 0, {"order_id": 1}), R(4, "order", 0, 0, {"order_id": 7}),
    ...         R(5, "bar", 0, 0, {}), R(6, "order", 0, 0, {"order_id": 2})]
    >>> schedule(recs, frozenset({"bar"}))
    {1: [(0, {'order_id': 7}), (1, {'order_id': 1})], 5: [(0, {'order_id': 2})]}
    """
    out: dict[int, list[Scheduled]] = {}
    anchor: int | None = None
    commands = 0
    touched: dict[int, int] = {}
    for rec in records:
        if rec.kind in anchors:
            anchor, commands, touched = rec.seq, 0, {}
            out[anchor] = []
        elif rec.kind in ("submit", "cancel"):
            commands += 1
            touched.setdefault(int(rec.payload.get("order_id", -1)), commands)
        elif rec.kind == "order" and anchor is not None:
            k = touched.get(int(rec.payload.get("order_id", -1)), 0)
            out[anchor].append((k, rec.payload))
    return {a: sorted(items, key=lambda item: item[0]) for a, items in out.items()}


__all__ = ["JournalBroker", "Scheduled", "schedule"]
