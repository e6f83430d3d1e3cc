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
from itertools import islice
from typing import Any

from tradeloom.engine.costs.fees import FeeAsset
from tradeloom.engine.errors import ConfigError, DataError
from tradeloom.engine.market import MarketSpec
from tradeloom.engine.orders import Bar
from tradeloom.engine.ports import FeeModel, ModelSource, RiskGate, RiskHooks, SlippageModel
from tradeloom.engine.results.deferred import DeferredResult
from tradeloom.engine.results.result import BacktestResult, EquityCurve
from tradeloom.engine.run.feeds import BarArrays, KnownBars, merge_bars
from tradeloom.engine.run.funding_feed import FundingRates, with_funding
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
    funding: Mapping[str, FundingRates] | None = None,
) -> BacktestResult:
    """Run ``strategy`` over ``bars`` (ordered by close time, then symbol) and build the result.

    ``funding``: the perpetuals' funding histories, paid while the run holds positions
    (``engine.run.funding_feed``; ``engine.run.perp_step`` books them)."""
    engine = build_engine(
        strategy, symbols=symbols, timeframe=timeframe, markets=markets,
        initial_cash=initial_cash, quote_currency=quote_currency, fees=fees,
        slippage=slippage, intrabar_rule=intrabar_rule, volume_share=volume_share,
        risk=risk, seed=seed, fee_asset=fee_asset,
    )
    drive(engine, with_funding(bars, funding) if funding else bars)
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


#: Bars between two ``gc.freeze()`` calls of a run (see ``drive``).
FREEZE_EVERY = 8_192

_END = object()


def drive(engine: Engine, bars: Iterable[Bar]) -> None:
    """Start the engine at the first bar's open, step every bar, finish.

    Every ``FREEZE_EVERY`` bars the objects the run made so far (the orders, fills and
    order histories it keeps for the result) are moved out of the garbage collector's
    generations (``gc.freeze``), so the collector never rescans them: the cost of a bar
    stays the same whether the run holds ten thousand orders or a million (unfrozen at
    the end; see ``_gc_frozen``). Results do not depend on when the collector runs.

    When ``bars`` are ``feeds.KnownBars`` (``merge_bars``, ``bars_from_arrays``) and
    ``drive`` steps all of them, the strategy's close-input indicators get their series
    computed up front, after ``on_start`` asked for them (``StrategyData.precompute``,
    which says why that is exact), and a one-symbol run's exposure is derived from its
    bars at the end instead of recorded per step (``Engine.exposure_from_bars``).
    """
    it = iter(bars)
    first = next(it, None)
    if first is None:
        raise DataError("no bars to run on: check the symbols, timeframe and start/end range")
    with _gc_frozen() as freezing:
        engine.start(first.ts)
        if isinstance(bars, KnownBars):  # every bar known up front: indicator series too
            engine.precompute(bars.columns)
            engine.exposure_from_bars(bars.columns, bars.timeframe_ms)
        step = engine.step
        step(first)
        if not freezing:
            deque(map(step, it), maxlen=0)  # the C-level loop: one Python call per bar, no more
        else:
            while True:
                deque(map(step, islice(it, FREEZE_EVERY)), maxlen=0)
                nxt = next(it, _END)
                if nxt is _END:
                    break
                gc.freeze()
                step(nxt)
        engine.finish()


@contextmanager
def _gc_frozen() -> Iterator[bool]:
    """Keep what existed before the run, and what the run keeps, out of the collector's scans.

    Why: a run keeps every order and fill, and the garbage collector's full passes
    walk every tracked object: everything the process held before the run (modules,
    pandas, numba, the data: about 0.1 s per 1M-bar run for nothing) and, pass after
    pass, every order and fill retained so far (which made a bar of a run holding a
    million orders cost twice what it did at ten thousand). ``gc.freeze()`` moves the
    objects that exist at that moment to the permanent generation, which no pass
    walks: once here, before the run, and every ``FREEZE_EVERY`` bars by ``drive``;
    ``gc.unfreeze()`` puts them all back afterwards. Objects created between two
    freezes are collected exactly as before (young cycles die in the young passes, as
    usual), and results do not depend on when the collector runs, so this changes
    timing only. Yields whether freezing is on: it is skipped when the process has
    frozen objects of its own (e.g. a server that froze before forking: not ours to
    undo) or the collector is disabled.
    """
    if gc.get_freeze_count() or not gc.isenabled():
        yield False
        return
    gc.freeze()
    try:
        yield True
    finally:
        gc.unfreeze()


def collect(engine: Engine, *, timeframe: str, manifest: Mapping[str, Any] | None = None) -> BacktestResult:
    """Build the ``BacktestResult`` of a finished engine (with what exists before it frozen
    out of the collector's passes, as ``drive`` does: building the frames allocates
    enough to start full passes, which would walk every order, fill and module).

    The result is a ``DeferredResult``: its ``orders`` and ``fills`` frames and its
    metrics are built when first read (``engine.results.deferred``), equal to what an
    eager build gives; the engine is finished, so its orders no longer change."""
    with _gc_frozen():
        return _collect(engine, timeframe=timeframe, manifest=manifest)


def _collect(engine: Engine, *, timeframe: str, manifest: Mapping[str, Any] | None) -> BacktestResult:
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
    return DeferredResult.build(  # orders, fills and metrics built on first read
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
