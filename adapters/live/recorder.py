"""``CommandRecorder``: the broker as the engine sees it, with every command journaled.

Why: parity is judged on the *commands* a session sent (submit and cancel with
client ids), so they are recorded at the one place every command passes: between
the engine (after risk) and the broker. The paper ``SimulatedBroker`` and the live
``CcxtBroker`` are wrapped the same way; ``replay`` wraps its backtest broker in the
same class (writing to a list) so both sides are recorded identically.

Inbound results that pass here are emitted too: the fills ``on_bar`` returns
(``fill``) and the order updates ``drain_updates`` returns (``order``). Every other
attribute (``open_orders``, ``poll``, ``flush``...) is the wrapped broker's own. Client ids: the broker's (the ccxt broker assigns
``tl-{run_id}-{seq}``); orders it leaves without one get ``{run_id}-{order.id}``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

from tradeloom.adapters.live.journal_codec import command_payload, fill_payload, order_payload
from tradeloom.adapters.live.stage_timing import StageTimings
from tradeloom.engine.orders import Bar, Fill, Order

#: ``emit(kind, payload, engine_ts)`` receives each command.
Emit = Callable[[str, dict[str, Any], int], None]


class CommandRecorder:
    """Wraps a broker; ``submit``/``cancel``/brackets/OCO/``replace``/``cancel_all`` are emitted."""

    def __init__(self, broker: Any, emit: Emit, *, run_id: str,
                 timings: StageTimings | None = None) -> None:
        self.inner = broker
        self._emit = emit
        self.run_id = run_id
        self._timings = timings
        self.submitted = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def on_bar(self, bar: Bar) -> Sequence[Fill]:
        """The broker's fills for a closed bar (paper: simulated), each emitted as ``fill``."""
        fills = self.inner.on_bar(bar)
        for fill in fills:
            self._emit("fill", {**fill_payload(fill), "source": "broker.on_bar"}, bar.close_ts)
        return fills

    def drain_updates(self) -> list[Order]:
        """Order updates since the last drain, each emitted as ``order``."""
        updates = self.inner.drain_updates()
        for order in updates:
            self._emit("order", order_payload(order), order.updated_ts)
        return updates

    def _client_id(self, order: Order) -> str:
        if not order.client_id:
            order.client_id = f"{self.run_id}-{order.id}"
        return order.client_id

    def _record(self, orders: Sequence[Order], now_ms: int, group: str = "") -> None:
        for order in orders:
            payload = command_payload(order, now_ms, self._client_id(order))
            if group:
                payload["group"] = group
            self._emit("submit", payload, now_ms)

    def _send(self, call: Callable[[], None]) -> None:
        t = self._timings
        start = t.submit_start() if t is not None else 0
        call()
        if t is not None:
            t.add("send", time.perf_counter_ns() - start)
        self.submitted += 1

    def submit(self, order: Order, now_ms: int) -> None:
        snapshot = command_payload(order, now_ms, "")  # what was asked, before rounding
        self._send(lambda: self.inner.submit(order, now_ms))
        snapshot["client_id"] = self._client_id(order)
        self._emit("submit", snapshot, now_ms)

    def submit_bracket(self, entry: Order, stop_loss: Order, take_profits: Sequence[Order],
                       now_ms: int) -> None:
        orders = [entry, stop_loss, *take_profits]
        self._send(lambda: self.inner.submit_bracket(entry, stop_loss, take_profits, now_ms))
        self._record(orders, now_ms, group=f"bracket:{entry.id}")

    def submit_oco(self, a: Order, b: Order, now_ms: int) -> None:
        self._send(lambda: self.inner.submit_oco(a, b, now_ms))
        self._record([a, b], now_ms, group=f"oco:{a.id}")

    def cancel(self, order_id: int, now_ms: int) -> bool:
        client_id = self._known_client_id(order_id)
        done = bool(self.inner.cancel(order_id, now_ms))
        self._emit("cancel", {"ts": int(now_ms), "order_id": order_id, "client_id": client_id,
                              "accepted": done}, now_ms)
        return done

    def replace(self, order_id: int, now_ms: int, **changes: Any) -> Order:
        client_id = self._known_client_id(order_id)
        new = self.inner.replace(order_id, now_ms, **changes)
        self._emit("cancel", {"ts": int(now_ms), "order_id": order_id, "client_id": client_id,
                              "accepted": True, "replaced_by": new.id}, now_ms)
        self._record([new], now_ms, group=f"replace:{order_id}")
        return new

    def cancel_all(self, now_ms: int, **kwargs: Any) -> Any:
        """Kill switch: the broker's ``cancel_all`` if it has one, else each open order."""
        self._emit("cancel_all", {"ts": int(now_ms)}, now_ms)
        inner_cancel_all = getattr(self.inner, "cancel_all", None)
        if inner_cancel_all is not None:
            return inner_cancel_all(now_ms, **kwargs)
        return [self.cancel(o.id, now_ms) for o in list(self.inner.open_orders())]

    def _known_client_id(self, order_id: int) -> str:
        for order in self.inner.open_orders():
            if order.id == order_id:
                return order.client_id
        return ""


__all__ = ["CommandRecorder", "Emit"]
