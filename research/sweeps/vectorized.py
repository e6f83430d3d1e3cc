"""The ``vectorized`` fast path of sweeps and walk-forward: any strategy with a vectorized form.

A worker loads the strategy by reference, reads the window's bars from the store
(every symbol on one grid, ``VectorBars``), asks one instance per combination for
its form (``strategy.vectorized(bars)``) and runs them all through ``sweep_forms``
(perpetuals with their funding from the store, as ``run_backtest`` pays it):
a few kernel calls for the whole grid instead of one event-engine backtest per
combination. Market rules come from the store's snapshot, as in ``run_backtest``.

``probe`` is what the sweep asks before choosing this path: can this strategy,
with these params, vectorize these bars? It answers with the reason when it cannot
(no form, a stale inherited form, several symbols for a one-symbol form, bars with
gaps for a timer schedule...), which sweeps print before running the event engine.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from tradeloom.engine.errors import StrategyError
from tradeloom.engine.market import MarketSpec
from tradeloom.engine.strategy.base import Strategy
from tradeloom.engine.vector.brackets import kernel_refusal as bracket_refusal
from tradeloom.engine.vector.carry_api import CarryTerms
from tradeloom.engine.vector.carry_api import kernel_refusal as carry_refusal
from tradeloom.engine.vector.form import Brackets, NotVectorizable, VectorBars, vectorized_method
from tradeloom.engine.vector.perp_api import PerpTargets, kernel_refusal
from tradeloom.engine.vector.run_form import form_kind, form_of, run_form, sweep_forms
from tradeloom.research.sweeps.jobs import DataSpec, RunSettings

__all__ = ["VECTORIZED", "load_vector_bars", "probe", "run_vectorized_combos",
           "run_vectorized_combos_with_curves", "vectorized_curves"]

VECTORIZED = "vectorized"
"""The fast path's name in ``FastJob.fast_path`` and in result tables (``fast:vectorized``)."""


def load_vector_bars(data: DataSpec, market_rules: str = "exchange") -> tuple[VectorBars, dict[str, MarketSpec]]:
    """The window's bars as ``VectorBars`` and each symbol's market rules (snapshot or
    default, ``market_rules`` applied as in ``run_backtest``)."""
    from tradeloom.adapters.store.market_store import MarketStore
    from tradeloom.research.backtest import apply_market_rules

    store = MarketStore(data.catalog)
    frames = {s: store.read_bars(data.exchange, data.timeframe, s, data.start, data.end)
              for s in data.symbols}
    snapshot = store.load_markets(data.exchange)
    markets = {s: snapshot.get(s) or MarketSpec(s) for s in data.symbols}
    return VectorBars.from_frames(frames, data.timeframe), apply_market_rules(markets, market_rules)


def probe(cls: type[Strategy], data: DataSpec, params: Mapping[str, Any],
          market_rules: str = "exchange") -> tuple[str | None, str]:
    """``(form kind, "")`` when ``cls(**params)`` vectorizes ``data``'s bars (and, for a
    perpetual or carry form, the kernel runs its markets under ``market_rules``), else
    ``(None, why)``."""
    method, why = vectorized_method(cls)
    if method is None:
        return None, why
    try:
        bars, markets = load_vector_bars(data, market_rules)
        form = form_of(cls(**dict(params)), bars)
    except NotVectorizable as exc:
        return None, f"{cls.__name__}.vectorized() refused this run: {exc}"
    except StrategyError as exc:
        return None, f"{cls.__name__}.vectorized() failed: {exc}"
    if isinstance(form, PerpTargets):
        why = kernel_refusal(markets[bars.symbols[bars.index()]])
        if why:
            return None, f"the perpetual kernel refused this run: {why}"
    if isinstance(form, CarryTerms):
        why = carry_refusal(markets[form.spot], markets[form.perp])
        if why:
            return None, f"the carry kernel refused this run: {why}"
    if isinstance(form, Brackets):
        why = bracket_refusal(markets[bars.symbols[bars.index()]])
        if why:
            return None, f"the bracket kernel refused this run: {why}"
    return form_kind(form), ""


def run_vectorized_combos(strategy: str, data: DataSpec, params: Sequence[Mapping[str, Any]],
                          settings: RunSettings) -> list[dict[str, float]]:
    """Metrics of every combination through the strategy's vectorized form (see module docs).

    A combination whose form refuses these bars (``NotVectorizable``: e.g. ``SmaCross``
    with two SMAs exactly equal on some bar) runs through the event engine instead, so
    every row is the event engine's result either way.
    """
    return _vectorized(strategy, data, params, settings, curves=False)[0]


def run_vectorized_combos_with_curves(strategy: str, data: DataSpec, params: Sequence[Mapping[str, Any]],
                                      settings: RunSettings) -> tuple[list[dict[str, float]], list[Any]]:
    """``run_vectorized_combos`` and each combination's equity curve: the same forms run once
    more, one kernel run each, reading only the curve (``KernelResult.equity_values``)."""
    rows, curves = _vectorized(strategy, data, params, settings, curves=True)
    return rows, curves  # type: ignore[return-value]


def vectorized_curves(strategy: str, data: DataSpec, params: Sequence[Mapping[str, Any]],
                      settings: RunSettings) -> list[Any]:
    """Each combination's equity curve (see ``run_vectorized_combos_with_curves``)."""
    return run_vectorized_combos_with_curves(strategy, data, params, settings)[1]


def _vectorized(strategy: str, data: DataSpec, params: Sequence[Mapping[str, Any]],
                settings: RunSettings, *, curves: bool) -> tuple[list[Any], list[Any] | None]:
    import numpy as np

    from tradeloom.research.strategy_loader import load_strategy
    from tradeloom.research.sweeps.jobs import EventJob, run_event_job

    cls = load_strategy(strategy)
    bars, markets = load_vector_bars(data, settings.market_rules)
    funding = _funding(data, markets)
    forms, fast_rows = [], []
    rows: list[Any] = [None] * len(params)
    equity: list[Any] = [None] * len(params)
    for k, p in enumerate(params):
        try:
            forms.append(form_of(cls(**dict(p)), bars))
            fast_rows.append(k)
        except NotVectorizable:
            res = run_event_job(EventJob(strategy, data, tuple(dict(p).items()), settings, equity=curves))
            rows[k], equity[k] = res.metrics, res.equity
    if forms:
        table = sweep_forms(forms, bars, markets=markets, init_cash=settings.initial_cash,
                            funding=funding)
        for k, row in zip(fast_rows, table.to_dict("records")):
            rows[k] = row
        if curves:
            for k, form in zip(fast_rows, forms):
                res = run_form(form, bars, markets=markets, init_cash=settings.initial_cash,
                               funding=funding)
                values = getattr(res, "equity_values", None)
                equity[k] = (values() if values is not None
                             else res.equity["equity"].to_numpy(dtype=np.float64))
    return rows, (equity if curves else None)


def _funding(data: DataSpec, markets: Mapping[str, MarketSpec]) -> dict[str, Any]:
    """The perpetuals' funding from the store, as ``run_backtest`` reads it (none for spot)."""
    if not any(m.is_perp for m in markets.values()):
        return {}
    from tradeloom.adapters.store.market_store import MarketStore
    from tradeloom.research.perp_data import funding_for

    return funding_for(MarketStore(data.catalog), data.exchange, markets, data.start, data.end)[0]
