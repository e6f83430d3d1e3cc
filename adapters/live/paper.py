"""The paper engine: the one engine wiring with a simulated broker, commands recorded
and stages timed.

Why its own function: paper trading, ``replay`` and the parity tests must run the
*same* construction as a backtest (``engine.run.wiring.wire_engine`` with a
``SimulatedBroker`` using the markets' fees and no slippage, one id counter shared by
engine and broker). The only additions are the ``CommandRecorder`` around the broker
and the ``RiskProbe`` around the risk engine, both pure observers.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence

from tradeloom.adapters.live.recorder import CommandRecorder, Emit
from tradeloom.adapters.live.stage_timing import RiskProbe, StageTimings
from tradeloom.engine.costs.fees import FeeAsset
from tradeloom.engine.market import MarketSpec
from tradeloom.engine.ports import Broker, RiskGate
from tradeloom.engine.risk.engine import RiskEngine
from tradeloom.engine.run.loop import Engine
from tradeloom.engine.run.wiring import BrokerFactory, simulated_broker, wire_engine
from tradeloom.engine.strategy.base import Strategy


def sim_engine(strategy: Strategy, *, symbols: Sequence[str], timeframe: str,
               markets: Mapping[str, MarketSpec], initial_cash: float, risk: RiskEngine | None,
               emit: Emit, run_id: str, timings: StageTimings | None = None,
               seed: int = 0, first_order_id: int | None = None,
               broker: BrokerFactory | None = None,
               fee_asset: FeeAsset | None = None) -> Engine:
    """Portfolio + SimulatedBroker + recorder + Engine, as ``wire_engine`` wires a backtest
    (each market's fee side; ``fee_asset``: the account pays fees with that asset).

    ``first_order_id``: where the run's order ids start (replay of a restarted live
    session continues its ids); default 1. ``broker``: another broker factory (replay of
    a live session: the ``JournalBroker``); default the ``SimulatedBroker``.
    """

    def record(broker: Broker) -> Broker:
        return CommandRecorder(broker, emit, run_id=run_id, timings=timings)

    gate: RiskGate | None = (RiskProbe(risk, timings)
                             if risk is not None and timings is not None else risk)
    return wire_engine(strategy, symbols=symbols, timeframe=timeframe, markets=markets,
                       broker=broker if broker is not None
                       else simulated_broker(fee_asset=fee_asset),
                       wrap_broker=record, initial_cash=initial_cash,
                       risk=gate, seed=seed,
                       id_source=None if first_order_id is None
                       else itertools.count(first_order_id).__next__)


__all__ = ["sim_engine"]
