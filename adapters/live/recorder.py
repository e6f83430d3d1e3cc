"""``CommandRecorder``: the broker as the engine sees it, with every command journaled.

Why: parity is judged on the *commands* a session sent (submit and cancel with
client ids), so they are recorded at the one place every command passes: between
the engine (after risk) and the broker. The paper ``SimulatedBroker`` and the live
``CcxtBroker`` are wrapped the same way; ``replay`` wraps its backtest broker in the
same class (writing to a list) so both sides are recorded identically.

Both classes implement their port (``engine.ports``) explicitly, method by method:
``CommandRecorder`` the ``Broker`` port (paper, replay), ``LiveCommandRecorder`` the
``LiveBroker`` port (live). Inbound results that pass here are emitted too: the fills
``on_bar`` returns (``fill``) and the order updates ``drain_updates`` returns
(``order``). The recorder offers no bar fast path: every bar must pass through it.
Client ids: the broker's (the ccxt broker assigns ``tl-{run_id}-{seq}``); orders it
leaves without one get ``{run_id}-{order.id}``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from tradeloom.adapters.live.journal_codec import command_payload, fill_payload, order_payload
from tradeloom.adapters.live.stage_timing import StageTimings
from tradeloom.engine.market import MarketSpec
from tradeloom.engine.orders import Bar, Fill, Order
from tradeloom.engine.ports import BarFastPath, Broker, FeeModel, LiveBroker

#: ``emit(kind, payload, engine_ts)`` receives each command.
Emit = Callable[[str, dict[str, Any], int], None]


class CommandRecorder:
    """Wraps a broker; ``submit``/``cancel``/brackets/OCO/``replace`` are emitted.

    ``submitted`` counts the sends (the runner settles the orders of a decision when
    it changed).
    """

    def __init__(self, broker: Broker, emit: Emit, *, run_id: str,
                 timings: StageTimings | None = None) -> None:
        self.inner = broker
        self._emit = emit
        self.run_id = run_id
        self._timings = timings
        self.submitted = 0

    # ------------------------------------------------------------------ inbound
    @property
    def fees(self) -> FeeModel:
        """The wrapped broker's fee model."""
        return self.inner.fees

    def on_bar(self, bar: Bar) -> Sequence[Fill]:
        """The broker's fills for a closed bar (paper: simulated), each emitted as ``fill``."""
        fills = self.inner.on_bar(bar)
        for fill in fills:
            self._emit("fill", {**fill_payload(fill), "source": "broker.on_bar"}, bar.close_ts)
        return fills

    def on_trade(self, symbol: str, ts: int, price: float, amount: float) -> Sequence[Fill]:
        """The broker's fills for a public trade (not journaled: the runner journals the
        trade itself, and paper fills are the replay's own)."""
        return self.inner.on_trade(symbol, ts, price, amount)

    def drain_updates(self) -> Sequence[Order]:
        """Order updates since the last drain, each emitted as ``order``."""
        updates = self.inner.drain_updates()
        for order in updates:
            self._emit("order", order_payload(order), order.updated_ts)
        return updates

    def open_orders(self, symbol: str | None = None) -> Sequence[Order]:
        return self.inner.open_orders(symbol)

    def expire_all(self, now_ms: int) -> None:
        self.inner.expire_all(now_ms)

    def bar_fast_path(self) -> BarFastPath | None:
        """None: every bar passes through the recorder (its fills are journaled)."""
        return None

    def result_events(self) -> list[dict[str, Any]]:
        return self.inner.result_events()

    def update_markets(self, specs: Mapping[str, MarketSpec]) -> None:
        """The wrapped broker's rules (not a command: the runner journals ``markets``)."""
        self.inner.update_markets(specs)

    # ------------------------------------------------------------------ commands
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

    def replace(self, order_id: int, now_ms: int, *, amount: float | None = None,
                price: float | None = None, stop_price: float | None = None) -> Order:
        client_id = self._known_client_id(order_id)
        new = self.inner.replace(order_id, now_ms, amount=amount, price=price,
                                 stop_price=stop_price)
        self._emit("cancel", {"ts": int(now_ms), "order_id": order_id, "client_id": client_id,
                              "accepted": True, "replaced_by": new.id}, now_ms)
        self._record([new], now_ms, group=f"replace:{order_id}")
        return new

    # ------------------------------------------------------------------ perpetuals
    def set_leverage(self, symbol: str, leverage: float) -> None:
        """The strategy's ``ctx.set_leverage``, passed to the wrapped broker (a live venue
        raises if it refuses; a simulated one has nothing to set). Not a command: the
        session journals the settings in force after ``on_start`` (``perp_settings``)."""
        self.inner.set_leverage(symbol, leverage)

    def set_margin_mode(self, symbol: str, mode: str) -> None:
        """The strategy's ``ctx.set_margin_mode``, as ``set_leverage``."""
        self.inner.set_margin_mode(symbol, mode)

    def _known_client_id(self, order_id: int) -> str:
        for order in self.inner.open_orders():
            if order.id == order_id:
                return order.client_id
        return ""


class LiveCommandRecorder(CommandRecorder):
    """``CommandRecorder`` around a ``LiveBroker``: the runner's calls pass through, and the
    kill switch's ``cancel_all`` is emitted before it runs."""

    inner: LiveBroker

    def __init__(self, broker: LiveBroker, emit: Emit, *, run_id: str,
                 timings: StageTimings | None = None) -> None:
        super().__init__(broker, emit, run_id=run_id, timings=timings)
        self.inner = broker

    def poll(self, now_ms: int, *, wait: bool = False, timeout_s: float = 30.0) -> list[Fill]:
        return self.inner.poll(now_ms, wait=wait, timeout_s=timeout_s)

    @property
    def busy(self) -> bool:
        return self.inner.busy

    def sync(self, timeout_s: float = 10.0) -> bool:
        return self.inner.sync(timeout_s)

    def collect(self, now_ms: int) -> list[Fill]:
        return self.inner.collect(now_ms)

    def cancel_all(self, now_ms: int, *, timeout_s: float = 10.0, all_orders: bool = False,
                   symbols: Sequence[str] = ()) -> object:
        """Kill switch: journaled as ``cancel_all``, then the broker's own."""
        self._emit("cancel_all", {"ts": int(now_ms), "all_orders": all_orders}, now_ms)
        return self.inner.cancel_all(now_ms, timeout_s=timeout_s, all_orders=all_orders,
                                     symbols=symbols)

    def close(self) -> None:
        self.inner.close()


__all__ = ["CommandRecorder", "Emit", "LiveCommandRecorder"]
