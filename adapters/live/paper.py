"""The paper engine: the backtest's wiring, with commands recorded and stages timed.

Why its own module: paper trading, ``replay`` and the parity tests must run the
*same* construction as ``engine.backtest.build_engine`` (a ``Portfolio``, a
``SimulatedBroker`` reading it with the backtest's default fee and slippage models,
one id counter shared by engine and broker). The only additions are the
``CommandRecorder`` around the broker and the ``RiskProbe`` around the risk engine,
both pure observers.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from typing import Any

from tradeloom.adapters.live.recorder import CommandRecorder, Emit
from tradeloom.adapters.live.stage_timing import RiskProbe, StageTimings
from tradeloom.engine.errors import ConfigError
from tradeloom.engine.run.loop import Engine
from tradeloom.engine.market import MarketSpec
from tradeloom.engine.accounting.portfolio import Portfolio
from tradeloom.engine.sim.broker import SimulatedBroker
from tradeloom.engine.strategy.base import Strategy
from tradeloom.engine.timeframes import timeframe_to_ms


def sim_engine(strategy: Strategy, *, symbols: Sequence[str], timeframe: str,
               markets: Mapping[str, MarketSpec], initial_cash: float, risk: Any,
               emit: Emit, run_id: str, timings: StageTimings | None = None,
               seed: int = 0) -> Engine:
    """Portfolio + SimulatedBroker (+ recorder) + Engine, as ``build_engine`` wires a backtest."""
    if not isinstance(strategy, Strategy):
        raise ConfigError(f"strategy must be a Strategy instance, got {type(strategy).__name__}")
    missing = [s for s in symbols if s not in markets]
    if missing:
        raise ConfigError(f"no market rules for {missing}; check the symbols against the exchange")
    quotes = sorted({markets[s].quote for s in symbols})
    if len(quotes) != 1:
        raise ConfigError(f"symbols {list(symbols)} are quoted in {quotes}; a session trades one "
                          "quote currency - split it into one session per quote")
    portfolio = Portfolio(initial_cash, quotes[0])
    ids = itertools.count(1).__next__
    broker = SimulatedBroker({s: markets[s] for s in symbols}, portfolio, id_source=ids)
    recorder = CommandRecorder(broker, emit, run_id=run_id, timings=timings)
    probe = RiskProbe(risk, timings) if (risk is not None and timings is not None) else risk
    return Engine(strategy, recorder, portfolio, symbols=list(symbols),
                  timeframe_ms=timeframe_to_ms(timeframe), markets=dict(markets), risk=probe,
                  seed=seed, id_source=ids)


__all__ = ["sim_engine"]
