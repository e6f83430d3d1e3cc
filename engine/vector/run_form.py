"""Run a strategy's vectorized form: one backtest, or many combinations in few kernel calls.

``run_vectorized(strategy, bars, timeframe=...)`` asks the strategy instance for its
form (``strategy.vectorized(VectorBars)``) and runs it through the kernel of that
form (``api.run_signals``, ``api.run_target_weights``, ``brackets.run_brackets``,
``perp_api.run_perp_targets``, ``carry_api.run_carry``):
the same fills, trades and equity as the event engine gives the strategy, when the
form is right (``tradeloom check-fast`` proves it). ``sweep_forms`` runs a list of
forms (one per parameter combination) and returns one row of metrics each.

>>> import numpy as np, pandas as pd
>>> class Band(Strategy):  # buy above 104, sell below 96 (its on_bar would do the same)
...     def vectorized(self, bars):
...         close = bars.field("close")
...         return Signals(entries=close > 104.0, exits=close < 96.0)
>>> close = 100 + np.sin(np.arange(200) / 9.0) * 5
>>> bars = pd.DataFrame({"ts": np.arange(200) * 3_600_000, "open": close, "high": close + 1,
...                      "low": close - 1, "close": close, "volume": 1.0})
>>> res = run_vectorized(Band(), bars, timeframe="1h")
>>> len(res.trades), res.manifest["engine"]
(4, 'vectorized:signals')
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from tradeloom.engine.costs.fees import MakerTakerFees
from tradeloom.engine.errors import ConfigError, DataError
from tradeloom.engine.market import MarketSpec
from tradeloom.engine.results.result import METRIC_KEYS, BacktestResult
from tradeloom.engine.run.funding_feed import FundingRates
from tradeloom.engine.sim.matching import IntrabarRule
from tradeloom.engine.strategy.base import Strategy
from tradeloom.engine.vector import api, sweeps_nb
from tradeloom.engine.vector.brackets import run_brackets, sweep_brackets
from tradeloom.engine.vector.carry_api import CarryTerms, run_carry
from tradeloom.engine.vector.form import (
    Brackets,
    NotVectorizable,
    Signals,
    TargetWeights,
    VectorBars,
    VectorForm,
    vectorized_method,
)
from tradeloom.engine.vector.perp_api import PerpTargets, run_perp_targets

__all__ = ["FORM_KINDS", "as_vector_bars", "form_kind", "form_of", "run_form", "run_vectorized",
           "sweep_forms"]

#: Name of each form in messages and manifests ("vectorized:signals").
FORM_KINDS = {Signals: "signals", TargetWeights: "target_weights", Brackets: "brackets",
              PerpTargets: "perp_targets", CarryTerms: "carry"}


def form_kind(form: Any) -> str:
    """``"signals"``, ``"target_weights"``, ``"brackets"``, ``"perp_targets"`` or
    ``"carry"`` (``DataError`` for anything else)."""
    kind = FORM_KINDS.get(type(form))
    if kind is None:
        raise DataError(f"vectorized() returned a {type(form).__name__}; return Signals, "
                        "TargetWeights or Brackets (tradeloom.engine.vector.form), PerpTargets "
                        "(tradeloom.engine.vector.perp_api) or CarryTerms "
                        "(tradeloom.engine.vector.carry_api)")
    return kind


def as_vector_bars(bars: Any, timeframe: str, symbol: str | None = None) -> VectorBars:
    """``VectorBars`` from itself, one DataFrame (named ``symbol``) or ``{symbol: DataFrame}``."""
    if isinstance(bars, VectorBars):
        if bars.timeframe != timeframe:
            raise ConfigError(f"bars are {bars.timeframe} but timeframe={timeframe!r}")
        return bars
    if isinstance(bars, pd.DataFrame):
        return VectorBars.from_frames({symbol or api.DEFAULT_SYMBOL: bars}, timeframe)
    if isinstance(bars, Mapping):
        return VectorBars.from_frames(bars, timeframe)
    raise DataError("bars must be a DataFrame (one symbol), a {symbol: DataFrame} mapping or "
                    f"VectorBars; got {type(bars).__name__}")


def form_of(strategy: Strategy, bars: VectorBars) -> VectorForm:
    """The strategy's form for these bars; ``NotVectorizable`` says why when there is none."""
    method, why = vectorized_method(type(strategy))
    if method is None:
        raise NotVectorizable(why)
    form = strategy.vectorized(bars)  # type: ignore[attr-defined]
    form_kind(form)
    return form


def _markets(bars: VectorBars, markets: Mapping[str, MarketSpec] | None) -> dict[str, MarketSpec]:
    given = dict(markets or {})
    return {s: given.get(s) or MarketSpec(s) for s in bars.symbols}


def run_form(
    form: VectorForm,
    bars: VectorBars,
    *,
    markets: Mapping[str, MarketSpec] | None = None,
    init_cash: float = 10_000.0,
    fee: float | MakerTakerFees | None = None,
    slippage: Any = None,
    intrabar_rule: IntrabarRule | str = IntrabarRule.ADVERSE_FIRST,
    funding: Mapping[str, FundingRates] | None = None,
) -> BacktestResult:
    """Backtest one form on ``bars`` through its kernel (``funding``: the perpetuals'
    funding histories, for ``PerpTargets`` and ``CarryTerms``)."""
    mk = _markets(bars, markets)
    tf = bars.timeframe
    if isinstance(form, CarryTerms):
        return run_carry(bars, form, markets=mk, init_cash=init_cash, fee=fee, slippage=slippage,
                         funding=funding)
    if isinstance(form, PerpTargets):
        i = bars.index()
        symbol = bars.symbols[i]
        return run_perp_targets(bars.frame(), form, market=mk[symbol], timeframe=tf,
                                init_cash=init_cash, fee=fee, slippage=slippage,
                                funding=(funding or {}).get(symbol))
    if isinstance(form, Signals):
        i = bars.index()
        f = form.checked(bars.n_bars)
        return api.run_signals(bars.frame(), f.entries, f.exits, init_cash=init_cash, fee=fee,
                               market=mk[bars.symbols[i]], slippage=slippage, size=f.size,
                               sl_pct=f.sl_pct, tp_pct=f.tp_pct, trail_pct=f.trail_pct,
                               intrabar_rule=intrabar_rule, timeframe=tf)
    if isinstance(form, TargetWeights):
        w = form.checked(bars.n_bars, len(bars.symbols)).weights
        frames = {s: bars.frame(s) for s in bars.symbols}
        return api.run_target_weights(frames, pd.DataFrame(w, columns=list(bars.symbols)),
                                      init_cash=init_cash, fee=fee, markets=mk, slippage=slippage,
                                      timeframe=tf)
    if isinstance(form, Brackets):
        i = bars.index()
        f = form.checked(bars.n_bars)
        return run_brackets(bars.frame(), f.entries, f.exits, f.size, f.rules, init_cash=init_cash,
                            fee=fee, market=mk[bars.symbols[i]], slippage=slippage,
                            intrabar_rule=intrabar_rule, timeframe=tf, fixed_quote=f.fixed_quote)
    raise DataError(f"not a vectorized form: {type(form).__name__}")


def run_vectorized(
    strategy: Strategy,
    bars: Any,
    *,
    timeframe: str,
    markets: Mapping[str, MarketSpec] | None = None,
    init_cash: float = 10_000.0,
    fee: float | MakerTakerFees | None = None,
    slippage: Any = None,
    intrabar_rule: IntrabarRule | str = IntrabarRule.ADVERSE_FIRST,
    funding: Mapping[str, FundingRates] | None = None,
) -> BacktestResult:
    """Backtest ``strategy`` (an instance with a vectorized form) through the kernels.

    ``bars``: one DataFrame (the symbol is ``markets``' only key, else BTC/USDT), a
    ``{symbol: DataFrame}`` mapping or ``VectorBars``. ``timeframe`` is required (it
    sets annualisation and the equity timestamps; no silent default).
    """
    symbol = next(iter(markets)) if markets and len(markets) == 1 else None
    vb = as_vector_bars(bars, timeframe, symbol)
    form = form_of(strategy, vb)
    result = run_form(form, vb, markets=markets, init_cash=init_cash, fee=fee, slippage=slippage,
                      intrabar_rule=intrabar_rule, funding=funding)
    result.manifest.update({"strategy": type(strategy).__name__, "params": strategy.params_dict(),
                            "engine": f"vectorized:{form_kind(form)}"})
    return result


def sweep_forms(
    forms: Sequence[VectorForm],
    bars: VectorBars,
    *,
    markets: Mapping[str, MarketSpec] | None = None,
    init_cash: float = 10_000.0,
    fee: float | MakerTakerFees | None = None,
    slippage: Any = None,
    intrabar_rule: IntrabarRule | str = IntrabarRule.ADVERSE_FIRST,
    funding: Mapping[str, FundingRates] | None = None,
) -> pd.DataFrame:
    """One row of ``METRIC_KEYS`` per form, in order.

    ``Signals`` and ``Brackets`` forms of one symbol run all their combinations in
    parallel kernel calls; ``TargetWeights``, ``PerpTargets`` and ``CarryTerms`` run one
    kernel call each. Rows equal
    ``run_form`` of the same form (to float rounding in the averages, see
    ``api.metrics_from_acc``).
    """
    if not forms:
        raise ConfigError("sweep_forms: no forms to run")
    mk = _markets(bars, markets)
    rows: list[pd.DataFrame | None] = [None] * len(forms)
    groups: dict[type, list[int]] = {}
    for j, f in enumerate(forms):
        form_kind(f)
        groups.setdefault(type(f), []).append(j)
    kw = {"init_cash": init_cash, "fee": fee, "slippage": slippage, "intrabar_rule": intrabar_rule}
    for kind, idx in groups.items():
        if kind is TargetWeights or kind is PerpTargets or kind is CarryTerms:
            for j in idx:
                res = run_form(forms[j], bars, markets=mk, funding=funding, **kw)
                rows[j] = pd.DataFrame([{k: float(res.metrics[k]) for k in METRIC_KEYS}])
            continue
        i = bars.index()
        market = mk[bars.symbols[i]]
        frame = bars.frame()
        if kind is Brackets:
            table = sweep_brackets(frame, [forms[j] for j in idx], market=market,
                                   timeframe=bars.timeframe, **kw)
        else:
            table = _sweep_signals(frame, [forms[j] for j in idx], market, bars.timeframe, **kw)
        for r, j in enumerate(idx):
            rows[j] = table.iloc[[r]]
    return pd.concat(rows, ignore_index=True)[list(METRIC_KEYS)]


def _sweep_signals(bars: pd.DataFrame, forms: Sequence[Signals], market: MarketSpec,
                   timeframe: str, *, init_cash: float, fee: Any, slippage: Any,
                   intrabar_rule: Any) -> pd.DataFrame:
    arr, _, spec, cash0, _, _, rule = api.signal_setup(
        bars, "sweep_forms", market, fee, slippage, init_cash, 1.0, None, None, None, intrabar_rule)
    n = arr["ts"].shape[0]
    checked = [f.checked(n) for f in forms]
    m = len(checked)
    frac, sl, tp, tr = np.empty(m), np.empty(m), np.empty(m), np.empty(m)
    for j, f in enumerate(checked):
        frac[j] = api.size_fraction(f.size)
        sl[j], tp[j], tr[j] = api.stop_fractions(f.sl_pct, f.tp_pct, f.trail_pct)
    acc = sweeps_nb.sweep_signal_forms_nb(
        arr["open"], arr["high"], arr["low"], arr["close"], arr["volume"], arr["ts"],
        api.timeframe_to_ms(timeframe), np.ascontiguousarray(np.stack([f.entries for f in checked])),
        np.ascontiguousarray(np.stack([f.exits for f in checked])), cash0, frac, spec, sl, tp, tr, rule)
    return api.metrics_from_acc(acc, ts=arr["ts"], timeframe=timeframe, init_cash=cash0)
