"""Engine-level backtest runner: bars in memory (or any bar iterator) in, ``BacktestResult`` out.

No I/O: the store-backed, user-facing ``tradeloom.research.backtest.run_backtest``
streams bars from the store and calls ``run_bars``. Benchmarks call
``backtest_arrays`` on numpy arrays directly.

The run: a ``Portfolio`` (spot, one quote currency), a ``SimulatedBroker`` reading
its balances, an ``Engine`` stepping every bar (wired by ``wiring.wire_engine``, as
paper, replay and live are), then ``finish()`` (open orders expire; open positions
stay open, marked to the last close).

>>> import numpy as np

>>> class BuyOnce(Strategy):
...     def on_bar(self, ctx, bar):
...         if ctx.position(bar.symbol) == 0 and not ctx.open_orders():
...             ctx.buy(bar.symbol, 1.0)
>>> px = np.array([100.0, 101.0, 102.0])
>>> data = BarArrays(np.array([0, 60_000, 120_000]), px, px, px, px, np.full(3, 10.0))
>>> res = backtest_arrays(BuyOnce(), {"BTC/USDT": data}, timeframe="1m", initial_cash=1000.0)
>>> res.fills[["ts", "price", "amount"]].values.tolist()
[[60000.0, 101.0, 1.0]]
>>> res.equity["equity"].tolist()  # 1000; 1000 - 101 - fee 0.101 + 1 * 101; + 1 * 102
[1000.0, 999.899, 1000.899]
"""

from __future__ import annotations

import gc
from collections import deque
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from tradeloom.engine.costs.fees import FeeAsset
from tradeloom.engine.errors import ConfigError, DataError
from tradeloom.engine.market import MarketSpec
from tradeloom.engine.orders import Bar
from tradeloom.engine.ports import FeeModel, ModelSource, RiskGate, RiskHooks, SlippageModel
from tradeloom.engine.results.result import BacktestResult, EquityCurve
from tradeloom.engine.run.feeds import BarArrays, merge_bars
from tradeloom.engine.run.loop import Engine
from tradeloom.engine.run.wiring import simulated_broker, wire_engine
from tradeloom.engine.sim.matching import IntrabarRule
from tradeloom.engine.strategy.base import Strategy
from tradeloom.engine.timeframes import timeframe_to_ms

DEFAULT_CASH = 10_000.0


def default_markets(symbols: Iterable[str]) -> dict[str, MarketSpec]:
    """Markets with no rounding, no minimums and the default 0.1 % fees (for arrays/tests)."""
    return {s: MarketSpec(s) for s in symbols}


def run_bars(
    strategy: Strategy,
    bars: Iterable[Bar],
    *,
    symbols: list[str] | tuple[str, ...],
    timeframe: str,
    markets: Mapping[str, MarketSpec] | None = None,
    initial_cash: float = DEFAULT_CASH,
    quote_currency: str | None = None,
    fees: FeeModel | None = None,
    slippage: SlippageModel | None = None,
    intrabar_rule: IntrabarRule = IntrabarRule.ADVERSE_FIRST,
    volume_share: float | None = None,
    risk: RiskGate | None = None,
    seed: int = 0,
    manifest: Mapping[str, Any] | None = None,
    fee_asset: FeeAsset | None = None,
) -> BacktestResult:
    """Run ``strategy`` over ``bars`` (ordered by close time, then symbol) and build the result."""
    engine = build_engine(
        strategy, symbols=symbols, timeframe=timeframe, markets=markets,
        initial_cash=initial_cash, quote_currency=quote_currency, fees=fees,
        slippage=slippage, intrabar_rule=intrabar_rule, volume_share=volume_share,
        risk=risk, seed=seed, fee_asset=fee_asset,
    )
    drive(engine, bars)
    return collect(engine, timeframe=timeframe, manifest=manifest)


def build_engine(
    strategy: Strategy,
    *,
    symbols: list[str] | tuple[str, ...],
    timeframe: str,
    markets: Mapping[str, MarketSpec] | None = None,
    initial_cash: float = DEFAULT_CASH,
    quote_currency: str | None = None,
    fees: FeeModel | None = None,
    slippage: SlippageModel | None = None,
    intrabar_rule: IntrabarRule = IntrabarRule.ADVERSE_FIRST,
    volume_share: float | None = None,
    risk: RiskGate | None = None,
    seed: int = 0,
    models: ModelSource | None = None,
    fee_asset: FeeAsset | None = None,
) -> Engine:
    """Portfolio + SimulatedBroker + Engine wired for a backtest (not started): the one
    wiring (``wiring.wire_engine``) with a simulated broker using these fill models."""
    symbols = list(symbols)
    return wire_engine(
        strategy, symbols=symbols, timeframe=timeframe,
        markets=dict(markets) if markets is not None else default_markets(symbols),
        broker=simulated_broker(
            fees=fees, slippage=slippage, intrabar_rule=intrabar_rule, volume_share=volume_share,
            fee_asset=fee_asset,
        ),
        initial_cash=initial_cash, quote_currency=quote_currency, risk=risk, seed=seed,
        models=models,
    )


def drive(engine: Engine, bars: Iterable[Bar]) -> None:
    """Start the engine at the first bar's open, step every bar, finish."""
    it = iter(bars)
    first = next(it, None)
    if first is None:
        raise DataError("no bars to run on: check the symbols, timeframe and start/end range")
    with _older_objects_frozen():
        engine.start(first.ts)
        step = engine.step
        step(first)
        deque(map(step, it), maxlen=0)  # the C-level loop: one Python call per bar, no more
        engine.finish()


@contextmanager
def _older_objects_frozen() -> Iterator[None]:
    """Keep the objects that existed before the run out of the run's full GC passes.

    Why: a run keeps every order and fill, so the garbage collector runs full
    collections during it, and each one would also walk everything the process
    held before the run (modules, pandas, numba, the data): about 0.1 s per 1M-bar
    run for nothing. ``gc.freeze()`` moves those objects to the permanent
    generation; ``gc.unfreeze()`` puts them back afterwards. Objects created during
    the run are collected exactly as before, and results do not depend on when the
    collector runs, so this changes timing only. Skipped when the process has frozen
    objects of its own (e.g. a server that froze before forking): not ours to undo.
    """
    if gc.get_freeze_count() or not gc.isenabled():
        yield
        return
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


def collect(engine: Engine, *, timeframe: str, manifest: Mapping[str, Any] | None = None) -> BacktestResult:
    """Build the ``BacktestResult`` of a finished engine."""
    ts, block = engine.recorded_block()
    pf = engine.portfolio
    broker = engine.broker
    events = list(engine.events)
    risk = engine.risk
    hooks = risk if isinstance(risk, RiskHooks) else None  # a bare RiskGate keeps no records
    risk_decisions = hooks.records() if hooks is not None else engine.risk_decisions
    if hooks is not None:
        events.extend(hooks.events)
    events.extend(broker.result_events())
    events.sort(key=lambda e: e["ts"])  # stable: same-time events keep their order
    base_manifest = {
        "strategy": type(engine.strategy).__name__,
        "params": engine.strategy.params_dict(),
        "symbols": list(engine.symbols),
        "timeframe": timeframe,
        "seed": engine.seed,
        "initial_cash": pf.initial_cash,
        "quote_currency": pf.quote,
    }
    base_manifest.update(manifest or {})
    marks = pf.marks()
    return BacktestResult.build(
        orders=engine.orders,
        fills=engine.fills,
        equity=EquityCurve.adopt_block(ts, block),  # fresh arrays: the equity frame adopts them
        timeframe=timeframe,
        initial_cash=pf.initial_cash,
        quote_currency=pf.quote,
        manifest=base_manifest,
        risk_decisions=risk_decisions,
        events=events,
        final_positions=pf.positions(),
        final_marks={s: marks[s] for s in engine.symbols if s in marks},
    )


def backtest_arrays(
    strategy: Strategy,
    data: Mapping[str, BarArrays] | BarArrays,
    *,
    timeframe: str,
    symbol: str | None = None,
    **kwargs: Any,
) -> BacktestResult:
    """Backtest over in-memory arrays: ``{symbol: BarArrays}``, or one ``BarArrays`` with ``symbol=``.

    Keyword arguments are those of ``run_bars`` (markets, initial_cash, fees, ...).
    """
    if isinstance(data, BarArrays):
        if symbol is None:
            raise ConfigError("backtest_arrays(one BarArrays) needs symbol=, e.g. symbol='BTC/USDT'")
        data = {symbol: data}
    for arrays in data.values():
        arrays.check()
    symbols = sorted(data)
    bars = merge_bars(data, timeframe_to_ms(timeframe))
    return run_bars(strategy, bars, symbols=symbols, timeframe=timeframe, **kwargs)
