"""The engine's ports: every call the loop, order entry and the live runner make on
the objects plugged into a run, declared once with its contract.

Why one module: a broker, a risk gate, a fee or slippage model and a model book are
chosen by the composition roots (backtest, paper, live, replay) and the engine never
asks which one it got. What it may call is exactly what is declared here; nothing is
probed with ``getattr``. Implementations:

==================  =====================================================================
port                implementations
==================  =====================================================================
``Broker``          ``engine.sim.broker.SimulatedBroker`` (backtest, paper, replay),
                    ``adapters.ccxt.broker.CcxtBroker`` (live), and the journaling
                    wrapper ``adapters.live.recorder.CommandRecorder``
``LiveBroker``      ``CcxtBroker`` and ``adapters.live.recorder.LiveCommandRecorder``
``RiskGate``        anything with ``check`` (``engine.risk.gate.PassThroughGate``)
``RiskHooks``       ``engine.risk.engine.RiskEngine`` and the timing wrapper
                    ``adapters.live.stage_timing.RiskProbe``
``FeeModel``        ``engine.costs.fees.MakerTakerFees``, ``FixedFees``
``SlippageModel``   ``engine.costs.slippage.NoSlippage``, ``FixedBpsSlippage``, ...
``ModelSource``     ``research.ml.confidence.ModelBook`` and its precomputed twins
==================  =====================================================================

Optional capabilities are explicit: a gate either is a full ``RiskHooks`` (the loop
calls every hook) or only a ``RiskGate`` (the loop calls ``check``); a broker either
is a ``LiveBroker`` (the runner polls it) or not (paper: fills come from the bars).
The simulated broker's bar fast path is a declared method, ``bar_fast_path``, that
every broker answers (``None``: no fast path).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, NamedTuple, Protocol, runtime_checkable

from tradeloom.engine.market import MarketSpec
from tradeloom.engine.orders import Bar, Fill, Liquidity, Order, Side

if TYPE_CHECKING:  # the risk package imports this module: no import cycle at run time
    from tradeloom.engine.risk.codes import RiskAction


class FeeModel(Protocol):
    """What a fill costs, in the quote currency. Implementations are pure and deterministic.

    One instance serves a whole run: the simulated broker charges fills with it and
    the risk engine's sizing plans fees with it (``Broker.fees``), so the two can
    never disagree about what an order costs.
    """

    def fee(self, spec: MarketSpec, price: float, amount: float, liquidity: Liquidity) -> float:
        """Fee of a fill of ``amount`` base units at ``price`` (quote currency; negative
        for a maker rebate)."""
        ...

    def max_amount(
        self, spec: MarketSpec, price: float, budget: float, liquidity: Liquidity
    ) -> float:
        """Largest amount with ``price * amount + fee <= budget`` (unrounded, >= 0): how
        all-in orders and insufficient-funds reductions stay payable."""
        ...

    def rate(self, spec: MarketSpec, liquidity: Liquidity, notional: float | None = None) -> float:
        """The fee of a fill of ``notional`` quote units as a fraction of it.

        Risk sizing plans an order's fee as ``rate * notional`` (entries as takers).
        Proportional models return their rate whatever the notional (``None``: any);
        a flat fee returns ``fee / notional`` (0 without a notional).
        """
        ...


class SlippageModel(Protocol):
    """Maps a reference price to the executed price. Pure and deterministic."""

    def price(
        self, side: Side, price: float, amount: float, volume: float, liquidity: Liquidity
    ) -> float:
        """Executed price for ``amount`` base units against ``volume`` base units traded
        in the bar (or the trade, on ticks) whose reference price is ``price``."""
        ...


class BarFastPath(NamedTuple):
    """The simulated broker's declared shortcut for bars with nothing to match.

    Contract: for a bar whose symbol is not a key of ``working``, ``on_bar(bar)`` does
    nothing but ``last[bar.symbol] = bar.close`` and returns no fill, so a caller may
    do exactly that instead of calling it. Both mappings are the broker's own, live
    (updated in place, never replaced) for the broker's lifetime. A broker offering
    it also changes order state only inside its own calls: a ``drain_updates`` right
    after another, with no broker call in between, returns nothing. ``updates`` is what
    ``drain_updates`` drains (order id -> order, in the order of each one's latest
    change): ``drain_updates()`` returns its values and clears it, so a caller may do
    exactly that in place.
    """

    working: Mapping[str, object]
    last: dict[str, float]
    updates: dict[int, Any]


class Broker(Protocol):
    """Everything the engine loop and order entry call on a broker.

    Orders reach it after the risk gate. Status changes it makes are reported through
    ``drain_updates``; fills are returned by ``on_bar``/``on_trade`` (simulated) or
    reported later (live, see ``LiveBroker``).
    """

    #: The fee model of the run: what the broker charges (simulated) or the model of
    #: what the venue charges (live). Risk sizing plans fees with this very object.
    fees: FeeModel

    def submit(self, order: Order, now_ms: int) -> None:
        """Accept (status OPEN) or reject (status REJECTED with ``reason``) the order."""
        ...

    def submit_bracket(
        self, entry: Order, stop_loss: Order, take_profits: Sequence[Order], now_ms: int
    ) -> None:
        """An entry with a stop-loss and take-profits that activate once it fills; if
        anything is rejected, everything is."""
        ...

    def submit_oco(self, a: Order, b: Order, now_ms: int) -> None:
        """Two orders cancelling each other (the first fill of one cancels the other)."""
        ...

    def cancel(self, order_id: int, now_ms: int) -> bool:
        """Cancel a working order; ``False`` when it is unknown or already terminal."""
        ...

    def replace(
        self,
        order_id: int,
        now_ms: int,
        *,
        amount: float | None = None,
        price: float | None = None,
        stop_price: float | None = None,
    ) -> Order:
        """Cancel-replace; the new order (REJECTED, the old one still working, when the
        new one is invalid). Brokers that cannot replace raise ``OrderError``."""
        ...

    def open_orders(self, symbol: str | None = None) -> Sequence[Order]:
        """Working orders (of ``symbol``, or all), oldest first."""
        ...

    def on_bar(self, bar: Bar) -> Sequence[Fill]:
        """A bar closed: simulated brokers match working orders placed before it and
        return the fills; live brokers fire local triggers and return no fill."""
        ...

    def on_trade(self, symbol: str, ts: int, price: float, amount: float) -> Sequence[Fill]:
        """A public trade: like ``on_bar`` at one price."""
        ...

    def drain_updates(self) -> Sequence[Order]:
        """Orders whose status (or amount) changed since the last drain, each once, in
        the order of their latest change."""
        ...

    def expire_all(self, now_ms: int) -> None:
        """End of run: working orders expire (simulated); a live broker leaves the
        exchange's orders alone (the kill switch is what cancels them)."""
        ...

    def bar_fast_path(self) -> BarFastPath | None:
        """The bar fast path (see ``BarFastPath``), or ``None``: every bar goes through
        ``on_bar``."""
        ...

    def result_events(self) -> list[dict[str, Any]]:
        """Events the broker adds to a run's results (``ts``, ``kind``, ``message``),
        e.g. where the intrabar rule decided a fill; oldest first."""
        ...

    def update_markets(self, specs: Mapping[str, MarketSpec]) -> None:
        """New market rules for these symbols (a live refresh, or its replay): orders
        submitted from now on are checked and rounded by them; orders already working
        keep the rules they were accepted under, as on the exchange."""
        ...

    def set_leverage(self, symbol: str, leverage: float) -> None:
        """Set a perpetual's leverage where orders execute: a live venue raises
        ``VenueSettingRefused`` when it refuses; the simulated exchange and a replay
        have nothing to set (the portfolio holds the setting and checks the brackets)."""
        ...

    def set_margin_mode(self, symbol: str, mode: str) -> None:
        """Set a perpetual's margin mode (``isolated``/``cross``), as ``set_leverage``."""
        ...


@runtime_checkable
class LiveBroker(Broker, Protocol):
    """A broker in front of a real exchange: what the live runner and session call.

    Fills are made by the exchange and reach the engine as ``FillEvent``s the runner
    steps; ``poll``/``collect`` hand them over. Everything here is called from the
    runner's thread except ``sync``, which is thread-safe.
    """

    def poll(self, now_ms: int, *, wait: bool = False, timeout_s: float = 30.0) -> list[Fill]:
        """Ask for a refresh; the fills reported since the last call, oldest first.
        Raises the broker's fatal error once no fill is left to deliver."""
        ...

    @property
    def busy(self) -> bool:
        """Orders working on the exchange, or requests still in flight."""
        ...

    def sync(self, timeout_s: float = 10.0) -> bool:
        """Refresh from the exchange and wait until idle (thread-safe; touches no
        ``Order``); ``False`` if still busy after ``timeout_s``."""
        ...

    def collect(self, now_ms: int) -> list[Fill]:
        """The fills reported so far, without a new request (after ``sync``)."""
        ...

    def cancel_all(self, now_ms: int, *, timeout_s: float = 10.0, all_orders: bool = False,
                   symbols: Sequence[str] = ()) -> object:
        """The kill switch (blocking): cancel this broker's orders, locally and on the
        exchange (``all_orders``: every open order of the account), on ``symbols`` and
        wherever it has orders working; a report for the journal."""
        ...

    def close(self) -> None:
        """Stop background work (the exchange client is closed by its owner)."""
        ...


class RiskDecisionLike(Protocol):
    """What the loop reads from a gate's answer."""

    @property
    def approved(self) -> bool: ...

    @property
    def amount(self) -> float: ...

    @property
    def reason(self) -> str: ...


class RiskView(Protocol):
    """The read-only account view a gate decides on (the strategy ``Context`` is one)."""

    @property
    def now(self) -> int: ...

    @property
    def cash(self) -> float: ...

    @property
    def equity(self) -> float: ...

    def position(self, symbol: str) -> float: ...

    def mark(self, symbol: str) -> float: ...

    def open_orders(self, symbol: str | None = None) -> Sequence[Order]: ...


class RiskGate(Protocol):
    """The hook every order passes before it reaches a broker."""

    def check(self, order: Order, view: RiskView) -> RiskDecisionLike:
        """Approve, resize (``amount`` smaller than asked, in the order's sizing unit:
        base, or quote for a quote-sized buy) or reject ``order``."""
        ...


@runtime_checkable
class RiskHooks(RiskGate, Protocol):
    """A stateful risk layer: the gate plus the hooks the loop calls around it.

    The engine calls every hook of a gate that has them (``isinstance(gate,
    RiskHooks)``), none of a bare ``RiskGate``.
    """

    def bind(
        self,
        *,
        markets: Mapping[str, MarketSpec] | None = None,
        fees: FeeModel | None = None,
        exchange: str | None = None,
        symbols: Sequence[str] = (),
    ) -> None:
        """Run start: the run's markets and symbols, and the broker's fee model (sizing
        plans fees with it)."""
        ...

    def on_bar(self, bar: Bar, view: RiskView) -> None:
        """A bar closed (its mark is set), before the strategy sees it."""
        ...

    def on_fill(self, fill: Fill, view: RiskView | None) -> None:
        """A fill was booked in the portfolio."""
        ...

    def pending_actions(self) -> list[RiskAction]:
        """Actions the loop must execute now (cancel all, flatten), each returned once."""
        ...

    def records(self) -> list[dict[str, Any]]:
        """Every non-trivial decision, as the run's ``risk_decisions`` rows."""
        ...

    @property
    def events(self) -> list[dict[str, Any]]:
        """Breaker trips and resets, kill, status changes: the run's risk events."""
        ...


class ModelSource(Protocol):
    """Where ``ctx.confidence`` reads model predictions (a ``ModelBook``)."""

    def require(self, ref: str) -> Any:
        """Load model ``ref`` once; the loaded model."""
        ...

    def on_bar(self, bar: Bar) -> None:
        """A bar closed (before the strategy sees it): online features take it."""
        ...

    def confidence(self, ref: str, symbol: str) -> float:
        """Calibrated confidence of ``ref`` for ``symbol`` at its latest closed bar."""
        ...

    def warmup_bars(self) -> int:
        """Bars per symbol its loaded models still need before their first value, which
        the live runner's warm-up primes them with (``Engine.prime``); 0 for a source that
        needs none or primed itself from stored history."""
        ...


__all__ = [
    "BarFastPath",
    "Broker",
    "FeeModel",
    "LiveBroker",
    "ModelSource",
    "RiskDecisionLike",
    "RiskGate",
    "RiskHooks",
    "RiskView",
    "SlippageModel",
]
