"""``run_backtest``: the user-facing backtest over bars from the market store.

It resolves the strategy (class, instance or ``"file.py:Class"``), streams Arrow
batches from the store (bounded memory over years of minute bars), takes the
exchange's market rules from the store's snapshot, and records a manifest that
identifies the run: a hash of the whole configuration, the data fingerprint of the
bars read, the code version and the seed. Two runs with equal manifests produce
equal results.

Example (with a store that holds binance 1h BTC/USDT)::

    from tradeloom.research.backtest import run_backtest
    res = run_backtest("research/strategies/sma_cross.py:SmaCross", "BTC/USDT", "1h",
                       "2024-01-01", "2025-01-01", {"fast": 10, "slow": 50}, "datasets/catalog")
    print(res.summary())
"""

from __future__ import annotations

import dataclasses
import hashlib
import inspect
import os
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from tradeloom._version import __version__
from tradeloom.engine.config import config_hash
from tradeloom.engine.contracts import ContractSpec, is_perp_symbol
from tradeloom.engine.costs.fees import FeeAsset, MakerTakerFees
from tradeloom.engine.costs.slippage import NoSlippage
from tradeloom.engine.errors import ConfigError, StrategyError
from tradeloom.engine.market import MarketSpec
from tradeloom.engine.ports import FeeModel, ModelSource, RiskGate, SlippageModel
from tradeloom.engine.risk.engine import RiskEngine
from tradeloom.engine.run.backtest import DEFAULT_CASH, build_engine, collect, drive
from tradeloom.engine.run.feeds import bars_from_batches
from tradeloom.engine.run.funding_feed import with_funding
from tradeloom.engine.sim.matching import IntrabarRule
from tradeloom.engine.strategy.base import Strategy
from tradeloom.engine.strategy.sleeves import portfolio_risk
from tradeloom.engine.timeframes import timeframe_to_ms
from tradeloom.engine.timeutil import parse_utc_ms
from tradeloom.research.ml.warmup import StoreHistory
from tradeloom.research.perp_data import funding_for
from tradeloom.research.research_result import ResearchResult
from tradeloom.research.strategy_loader import load_strategy

if TYPE_CHECKING:
    from tradeloom.adapters.store.market_store import MarketStore

BATCH_SIZE = 262_144


@runtime_checkable
class SelfDescribing(Protocol):
    """A component that states its kind and parameters as plain JSON (the fee and
    slippage models do), so a manifest records it without a ``repr`` string."""

    def describe(self) -> Mapping[str, Any]: ...


def resolve_strategy(strategy: Strategy | type[Strategy] | str, params: Mapping[str, Any] | None) -> Strategy:
    """A Strategy instance from a class, an instance (no params then) or a spec string."""
    if isinstance(strategy, Strategy):
        if params:
            raise StrategyError(
                f"run_backtest got a {type(strategy).__name__} instance and params {dict(params)}; "
                "pass the class (or a spec string) with params, or an instance without params"
            )
        return strategy
    cls = load_strategy(strategy) if isinstance(strategy, str) else strategy
    if not (isinstance(cls, type) and issubclass(cls, Strategy)):
        raise StrategyError(
            f"strategy must be a Strategy subclass, an instance or 'file.py:Class', got {strategy!r}"
        )
    return cls(**dict(params or {}))


def component_settings(component: Any) -> dict[str, Any]:
    """A fee or slippage model (or a risk gate) as plain JSON for the manifest's config.

    Tradeloom's models say their kind and parameters (``describe()``); a ``RiskEngine``
    gives its ``RiskConfig``. Another object is named by its class, with its ``repr`` as
    the only record of its parameters (give it a ``describe()`` to do better).

    >>> from tradeloom.engine.costs.slippage import FixedBpsSlippage
    >>> component_settings(FixedBpsSlippage(5.0))
    {'kind': 'fixed_bps', 'bps': 5.0}
    """
    if isinstance(component, RiskEngine):
        return component.config.model_dump(mode="json")
    if isinstance(component, SelfDescribing):
        return dict(component.describe())
    cls = type(component)
    return {"kind": f"{cls.__module__}.{cls.__qualname__}", "repr": repr(component)}


def _source_sha256(cls: type) -> str | None:
    try:
        source = inspect.getsource(inspect.getmodule(cls) or cls)
    except (OSError, TypeError):
        return None
    return hashlib.sha256(source.encode()).hexdigest()


def _market_dict(spec: MarketSpec) -> dict[str, Any]:
    """The market rules a manifest records (a perpetual's contract terms too; spot
    markets' entries, and so their config hashes, are as before perpetuals existed)."""
    out: dict[str, Any] = {
        "tick_size": spec.tick_size,
        "lot_step": spec.lot_step,
        "min_amount": spec.min_amount,
        "min_notional": spec.min_notional,
        "maker_fee": spec.maker_fee,
        "taker_fee": spec.taker_fee,
        "fee_side": spec.fee_side.value,
    }
    if spec.contract is not None:
        out["contract"] = spec.contract.to_dict()
    return out


MARKET_RULES = ("exchange", "none")


def apply_market_rules(markets: Mapping[str, MarketSpec], rules: str) -> dict[str, MarketSpec]:
    """``markets`` as given (``"exchange"``), or without their precision and minimums
    (``"none"``: no tick or lot rounding, no minimum amount or notional; the fees and a
    perpetual's contract terms are kept, the fees charged in the quote currency).

    >>> spec = MarketSpec("BTC/USDT", tick_size=0.01, lot_step=1e-5, min_notional=5.0, taker_fee=0.002)
    >>> apply_market_rules({"BTC/USDT": spec}, "none")["BTC/USDT"]
    MarketSpec(symbol='BTC/USDT', tick_size=None, lot_step=None, min_amount=0.0, min_notional=0.0, maker_fee=0.001, taker_fee=0.002, fee_side=<FeeSide.QUOTE: 'quote'>, contract=None)
    """
    if rules not in MARKET_RULES:
        raise ConfigError(f"market_rules={rules!r}: use 'exchange' (the venue's precision and "
                          "minimums) or 'none' (no rounding, no minimums)")
    if rules == "exchange":
        return dict(markets)
    return {s: MarketSpec(m.symbol, maker_fee=m.maker_fee, taker_fee=m.taker_fee,
                          contract=m.contract)
            for s, m in markets.items()}


def run_backtest(
    strategy: Strategy | type[Strategy] | str,
    symbols: str | Sequence[str],
    timeframe: str,
    start: str | int | None,
    end: str | int | None,
    params: Mapping[str, Any] | None = None,
    store: MarketStore | str | os.PathLike[str] | None = None,
    *,
    exchange: str = "binance",
    initial_cash: float = DEFAULT_CASH,
    markets: Mapping[str, MarketSpec] | None = None,
    fees: FeeModel | None = None,
    slippage: SlippageModel | None = None,
    intrabar_rule: IntrabarRule | str = IntrabarRule.ADVERSE_FIRST,
    volume_share: float | None = None,
    risk: RiskGate | None = None,
    seed: int = 0,
    fee_asset: FeeAsset | None = None,
    batch_size: int = BATCH_SIZE,
    progress: Callable[[int, int, int], None] | None = None,
    models: ModelSource | None = None,
    market_rules: str = "exchange",
) -> ResearchResult:
    """Backtest ``strategy`` on ``symbols`` from the store, bars with ``start <= ts < end``.

    When the store holds no ``timeframe`` bars of the symbols but a finer timeframe it
    is a whole multiple of (4h from 1h), the run resamples those with DuckDB
    (``adapters.store.resample``; the engine's resampling rules), records
    ``config.resampled_from`` in the manifest and says so in the run's events.

    ``store`` is a ``MarketStore`` or a catalog path. Market rules come from the
    store's snapshot for ``exchange`` unless ``markets`` is given; a symbol with
    no snapshot trades under a default ``MarketSpec`` (no rounding, 0.1 % fees),
    which the run's events say. ``progress(first_ts, done_ts, last_ts)`` is called
    after each batch of bars (for a progress bar over long runs). ``ctx.confidence``
    reads models from ``models`` (a ModelBook), by default from the store's model
    registry, loaded only if the strategy asks for a model and primed on the bars
    before ``start`` (``research.ml.warmup``), so it can decide from the first bar.
    ``market_rules="none"`` drops the venue's precision and minimums
    (``apply_market_rules``), which the run's events say.

    A ``SleevePortfolio`` (several strategies in one account) runs with its sleeves'
    budgets and caps added to ``risk`` (a default ``RiskEngine`` when ``risk`` is None).
    """
    if store is None:
        raise ConfigError("run_backtest needs store= (a MarketStore or the catalog path)")
    if isinstance(store, (str, os.PathLike)):
        from tradeloom.adapters.store.market_store import MarketStore

        store = MarketStore(store)
    instance = resolve_strategy(strategy, params)
    risk = portfolio_risk(instance, risk)  # a portfolio's sleeve budgets and caps
    symbol_list = [symbols] if isinstance(symbols, str) else list(symbols)
    if not symbol_list:
        raise ConfigError("run_backtest: symbols is empty; give e.g. 'BTC/USDT' or ['BTC/USDT', 'ETH/USDT']")
    symbol_list = sorted(dict.fromkeys(symbol_list))
    tf_ms = timeframe_to_ms(timeframe)
    start_ms = parse_utc_ms(start, "start") if start is not None else None
    end_ms = parse_utc_ms(end, "end") if end is not None else None
    if start_ms is not None and end_ms is not None and end_ms <= start_ms:
        raise ConfigError(f"end ({end}) must be after start ({start})")
    rule = IntrabarRule(intrabar_rule)

    notes: list[str] = []
    if markets is None:
        snapshot = store.load_markets(exchange)
        chosen: dict[str, MarketSpec] = {}
        for s in symbol_list:
            if s in snapshot:
                chosen[s] = snapshot[s]
            else:
                chosen[s] = MarketSpec(s)
                notes.append(
                    f"no {exchange} market snapshot for {s}: default MarketSpec (no rounding, "
                    "no minimums, 0.1 % fees); ingest the exchange's markets for real rules"
                )
    else:
        missing = [s for s in symbol_list if s not in markets]
        if missing:
            raise ConfigError(f"markets= has no MarketSpec for {missing}")
        chosen = {s: markets[s] for s in symbol_list}
    for s, spec in list(chosen.items()):
        if is_perp_symbol(s) and spec.contract is None:
            chosen[s] = dataclasses.replace(spec, contract=ContractSpec())
            notes.append(
                f"{s} is a perpetual but its market rules carry no contract terms: default terms "
                "(one bracket: 20x at most, 0.5 % maintenance margin, 1.25 % liquidation fee); "
                "store the venue's brackets for real margin and liquidation figures")
    chosen = apply_market_rules(chosen, market_rules)
    if market_rules == "none":
        notes.append("market rules off (market_rules='none'): no tick or lot rounding, no minimum "
                      "amount or notional; the markets' fees still apply")

    from tradeloom.adapters.store.resample import source_timeframe

    base_tf = source_timeframe(store, exchange, timeframe, symbol_list)
    read_tf = base_tf or timeframe
    fingerprint = store.fingerprint(exchange, read_tf, symbol_list, start_ms, end_ms)
    config = {
        "strategy": f"{type(instance).__module__}.{type(instance).__qualname__}",
        "strategy_source_sha256": _source_sha256(type(instance)),
        "params": instance.params_dict(),
        "exchange": exchange,
        "symbols": symbol_list,
        "timeframe": timeframe,
        "start": start_ms,
        "end": end_ms,
        "initial_cash": float(initial_cash),
        "markets": {s: _market_dict(m) for s, m in chosen.items()},
        "fees": component_settings(fees if fees is not None else MakerTakerFees()),
        "slippage": component_settings(slippage if slippage is not None else NoSlippage()),
        "intrabar_rule": rule.value,
        "volume_share": volume_share,
        "fee_asset": fee_asset.describe() if fee_asset is not None else None,
        "risk": component_settings(risk) if risk is not None else None,
        "seed": int(seed),
    }
    if base_tf is not None:
        config["resampled_from"] = base_tf
    manifest = {
        "config": config,
        "config_hash": config_hash(config),
        "data_fingerprint": fingerprint,
        "code_version": __version__,
        "seed": int(seed),
        "fill_rule": "market orders fill at the next bar's open; open positions are marked "
        "to the last close at the end, not sold",
    }

    engine = build_engine(
        instance, symbols=symbol_list, timeframe=timeframe, markets=chosen,
        initial_cash=initial_cash, fees=fees, slippage=slippage, intrabar_rule=rule,
        volume_share=volume_share, risk=risk, seed=seed, fee_asset=fee_asset,
        models=models if models is not None else CatalogModels(
            store.root, symbol_list,
            history=None if start_ms is None else StoreHistory(store, exchange, timeframe, start_ms)),
    )
    funding, funding_notes = funding_for(store, exchange, chosen, start_ms, end_ms)
    notes.extend(funding_notes)
    for note in notes:
        engine.events.append({"ts": start_ms or 0, "kind": "config", "message": note})
    if base_tf is not None:
        engine.events.append({"ts": start_ms or 0, "kind": "resample", "message": resample_note(
            exchange, timeframe, base_tf, symbol_list)})
    read_symbols: str | list[str] = symbol_list[0] if len(symbol_list) == 1 else symbol_list
    if base_tf is None:
        batches = store.iter_batches(exchange, timeframe, read_symbols, start_ms, end_ms,
                                     batch_size=batch_size)
    else:
        from tradeloom.adapters.store.resample import read_resampled

        table = read_resampled(store, exchange, timeframe, base_tf, read_symbols, start_ms, end_ms)
        batches = iter(table.to_batches(max_chunksize=batch_size))
    if progress is not None:
        batches = _reporting(batches, progress, store, exchange, read_tf, symbol_list, start_ms,
                             end_ms, tf_ms)
    bars = bars_from_batches(batches, tf_ms, symbol=symbol_list[0] if len(symbol_list) == 1 else None)
    drive(engine, with_funding(bars, funding) if funding else bars)
    result = collect(engine, timeframe=timeframe, manifest=manifest)
    return ResearchResult.of(result, catalog=store.root)


def resample_note(exchange: str, timeframe: str, base_tf: str, symbols: Sequence[str]) -> str:
    """What a resampled run says (its event, and ``tradeloom backtest`` on stderr).

    >>> print(resample_note("binance", "4h", "1h", ["BTC/USDT"]))
    no binance 4h bars stored for BTC/USDT: resampled from the stored 1h bars (DuckDB, the engine's resampling rules)
    """
    return (f"no {exchange} {timeframe} bars stored for {', '.join(symbols)}: resampled from "
            f"the stored {base_tf} bars (DuckDB, the engine's resampling rules)")


class CatalogModels:
    """The model book of a run's catalog, created when a strategy first asks for a model.

    Keeps backtests that use no model free of the ML imports; once a ref is
    required it is a ``ModelBook`` over ``<catalog>/models``, primed from ``history``.
    """

    def __init__(self, root: Any, symbols: Sequence[str], history: Any = None) -> None:
        self._root = root
        self._symbols = list(symbols)
        self._history = history
        self._book: Any = None

    def _loaded(self) -> Any:
        if self._book is None:
            from tradeloom.research.ml.confidence import ModelBook
            from tradeloom.research.ml.registry import ModelRegistry

            self._book = ModelBook(ModelRegistry(self._root), self._symbols,
                                   history=self._history)
        return self._book

    def require(self, ref: str) -> Any:
        return self._loaded().require(ref)

    def on_bar(self, bar: Any) -> None:
        self._loaded().on_bar(bar)

    def confidence(self, ref: str, symbol: str) -> float:
        return self._loaded().confidence(ref, symbol)

    def warmup_bars(self) -> int:
        return 0 if self._book is None else self._book.warmup_bars()


def _reporting(
    batches: Iterator[Any],
    progress: Callable[[int, int, int], None],
    store: Any,
    exchange: str,
    timeframe: str,
    symbols: list[str],
    start_ms: int | None,
    end_ms: int | None,
    tf_ms: int,
) -> Iterator[Any]:
    """Pass batches through, telling ``progress`` how far (in bar time) the run got."""
    stored = [d for d in store.list_datasets() if d.exchange == exchange and d.timeframe == timeframe and d.symbol in symbols]
    first = max(start_ms or 0, min((d.first_ts for d in stored), default=0))
    last_open = (end_ms - tf_ms) if end_ms is not None else 2**62  # the last bar opening before end
    last = min(last_open, max((d.last_ts for d in stored), default=first))
    for batch in batches:
        yield batch
        if batch.num_rows:
            progress(first, int(batch.column("ts")[batch.num_rows - 1].as_py()), last)
