"""Prove a strategy's vectorized form: run it and its event form on the same bars, compare.

``check_fast(SmaCross, bars, {"fast": 10})`` backtests the strategy twice, through the
event engine (the reference) and through the kernel of its vectorized form, and
returns a ``ParityReport``: the fills, round-trip trades and equity curves compared
row by row (prices, amounts, fees, PnL to ``rtol``; times, sides and tags exactly),
the first differences, and a side-by-side summary. ``assert_fast_matches_event`` is
the same as a pytest helper; ``tradeloom check-fast`` runs it on the catalog.

Order ids and the strategy id are not compared (the kernels number fills, not
orders), nor the orders frame: a kernel run lists one filled order per fill and
keeps no record of orders the event engine cancelled or rejected.

>>> import numpy as np, pandas as pd
>>> from tradeloom.research.strategies import RsiReversion
>>> rng = np.random.default_rng(3)
>>> close = 100 * np.exp(np.cumsum(rng.normal(0, 0.01, 600)))
>>> bars = pd.DataFrame({"ts": np.arange(600) * 3_600_000, "open": close, "high": close * 1.004,
...                      "low": close * 0.996, "close": close, "volume": 5.0})
>>> report = assert_fast_matches_event(RsiReversion, bars, {"period": 10}, timeframe="1h")
>>> report.ok, report.form, report.n_trades
(True, 'signals', 8)
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from tradeloom.engine.costs.fees import MakerTakerFees
from tradeloom.engine.market import MarketSpec
from tradeloom.engine.results.result import BacktestResult
from tradeloom.engine.run.backtest import DEFAULT_CASH, backtest_arrays
from tradeloom.engine.run.feeds import BarArrays
from tradeloom.engine.run.funding_feed import FundingRates
from tradeloom.engine.sim.matching import IntrabarRule
from tradeloom.engine.strategy.base import Strategy
from tradeloom.engine.vector.form import NotVectorizable, VectorBars
from tradeloom.engine.vector.run_form import as_vector_bars, form_kind, form_of, run_form

__all__ = ["RTOL", "ParityReport", "assert_fast_matches_event", "check_fast", "compare_results"]

RTOL = 1e-9
"""Relative tolerance on floats (the kernels repeat the engine's arithmetic; this only
absorbs a different summation order in a few metrics)."""
MAX_DIFFERENCES = 10
_SKIP = {"fills": ("order_id", "strategy_id"), "trades": (), "equity": ()}


def _same(a: Any, b: Any, rtol: float) -> bool:
    if isinstance(a, float) or isinstance(b, float):
        x, y = float(a), float(b)
        if math.isnan(x) or math.isnan(y):
            return math.isnan(x) and math.isnan(y)
        if math.isinf(x) or math.isinf(y):
            return x == y
        return abs(x - y) <= rtol * max(abs(x), abs(y), 1e-300)
    return bool(a == b)


def _frame_differences(name: str, fast: pd.DataFrame, event: pd.DataFrame, rtol: float,
                       out: list[str]) -> None:
    if len(fast) != len(event):
        out.append(f"{name}: {len(fast)} rows on the fast path, {len(event)} in the event engine")
    for col in event.columns:
        if col in _SKIP[name] or col not in fast.columns:
            continue
        for i, (u, v) in enumerate(zip(fast[col].tolist(), event[col].tolist())):
            if not _same(u, v, rtol):
                out.append(f"{name} row {i} {col}: fast {u!r} != event {v!r}")
                break  # the first difference per column says enough
        if len(out) >= MAX_DIFFERENCES:
            return


def compare_results(fast: BacktestResult, event: BacktestResult, rtol: float = RTOL) -> list[str]:
    """The differences between two runs' fills, trades, equity, metrics and dust events
    (empty: equal)."""
    out: list[str] = []
    for name in ("fills", "trades", "equity"):
        _frame_differences(name, getattr(fast, name), getattr(event, name), rtol, out)
    for key, value in event.metrics.items():
        if not _same(fast.metrics.get(key, math.nan), value, rtol):
            out.append(f"metric {key}: fast {fast.metrics.get(key)!r} != event {value!r}")
    if set(fast.final_positions) != set(event.final_positions):
        out.append(f"open positions at the end: fast {sorted(fast.final_positions)} != event "
                   f"{sorted(event.final_positions)}")
    fast_dust, event_dust = _dust(fast), _dust(event)
    if len(fast_dust) != len(event_dust):
        out.append(f"dust events: fast {len(fast_dust)} != event {len(event_dust)}")
    for k, (f, e) in enumerate(zip(fast_dust, event_dust)):
        if f[:2] != e[:2] or not _same(f[2], e[2], rtol):
            out.append(f"dust event {k}: fast {f} != event {e}")
            break
    return out[:MAX_DIFFERENCES]


def _dust(result: BacktestResult) -> list[tuple[int, str, float]]:
    """``(ts, symbol, amount)`` of each ``dust`` event (what an exit left unsellable)."""
    return [(int(e["ts"]), str(e["symbol"]), float(e["amount"])) for e in result.events
            if e.get("kind") == "dust"]


@dataclass(frozen=True)
class ParityReport:
    """What ``check_fast`` found: ``ok`` when both forms gave the same run."""

    strategy: str
    params: dict[str, Any]
    symbols: tuple[str, ...]
    timeframe: str
    n_bars: int
    event: BacktestResult
    fast: BacktestResult | None
    form: str | None
    reason: str = ""
    """Why there is no fast run (no vectorized form, or the form refused these bars)."""
    differences: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.fast is not None and not self.differences

    @property
    def n_trades(self) -> int:
        return len(self.event.trades)

    def rows(self) -> list[tuple[str, str, str]]:
        """``(what, event, fast)`` lines of the side-by-side summary."""
        e, f = self.event, self.fast

        def fmt(res: BacktestResult | None, key: str) -> str:
            if res is None:
                return "-"
            if key == "fills":
                return str(len(res.fills))
            if key == "trades":
                return str(len(res.trades))
            value = res.metrics[key]
            return f"{value:,.6f}" if key != "n_trades" else f"{value:.0f}"

        keys = ("fills", "trades", "final_equity", "total_return", "max_drawdown", "sharpe",
                "fees_paid")
        out = [(k, fmt(e, k), fmt(f, k)) for k in keys]
        if f is not None:
            diff = (f.equity["equity"] - e.equity["equity"]).abs().max() if len(f.equity) == len(
                e.equity) else math.nan
            out.append(("max |equity difference|", "", f"{diff:.3g}"))
        return out

    def text(self) -> str:
        head = (f"{self.strategy} {self.params} on {', '.join(self.symbols)} {self.timeframe}, "
                f"{self.n_bars} bars")
        if self.fast is None:
            return f"{head}: no fast run: {self.reason}"
        lines = [f"{head}: fast path ({self.form}) vs event engine: "
                 + ("SAME fills, trades and equity" if self.ok else "DIFFERENT")]
        lines += [f"  {what:<24} event {ev:>18}   fast {fa:>18}" for what, ev, fa in self.rows()]
        lines += [f"  difference: {d}" for d in self.differences]
        return "\n".join(lines)


def check_fast(
    strategy: type[Strategy],
    bars: Any,
    params: Mapping[str, Any] | None = None,
    *,
    timeframe: str,
    markets: Mapping[str, MarketSpec] | None = None,
    init_cash: float = DEFAULT_CASH,
    fee: float | None = None,
    slippage: Any = None,
    intrabar_rule: IntrabarRule | str = IntrabarRule.ADVERSE_FIRST,
    rtol: float = RTOL,
    funding: Mapping[str, FundingRates] | None = None,
) -> ParityReport:
    """Run ``strategy(**params)`` through the event engine and through its vectorized form.

    ``bars``: one DataFrame (the symbol is ``markets``' only key, else BTC/USDT), a
    ``{symbol: DataFrame}`` mapping or ``VectorBars``; ``markets`` the market rules
    (default: no rounding, 0.1 % fees); ``fee`` a rate overriding them in both runs;
    ``funding`` the perpetuals' funding histories, paid in both runs.
    """
    symbol = next(iter(markets)) if markets and len(markets) == 1 else None
    frames = _frames(bars, symbol)
    symbols = tuple(sorted(frames))
    mk = {s: (markets or {}).get(s) or MarketSpec(s) for s in symbols}
    instance = strategy(**dict(params or {}))
    fees = None if fee is None else MakerTakerFees(maker=fee, taker=fee)
    data = {s: BarArrays.from_frame(frames[s]) for s in symbols}
    event = backtest_arrays(instance, data, timeframe=timeframe, markets=mk, fees=fees,
                            slippage=slippage, intrabar_rule=IntrabarRule(intrabar_rule),
                            initial_cash=init_cash, funding=funding)
    n = len(next(iter(frames.values())))
    base = dict(strategy=strategy.__name__, params=instance.params_dict(), symbols=symbols,
                timeframe=timeframe, n_bars=n, event=event)
    try:
        vb = as_vector_bars(frames if len(frames) > 1 else frames[symbols[0]], timeframe, symbols[0])
        form = form_of(strategy(**dict(params or {})), vb)
    except NotVectorizable as exc:
        return ParityReport(**base, fast=None, form=None, reason=str(exc))
    try:  # a kernel may refuse the markets (the perpetual kernel: lot rounding, minimums)
        fast = run_form(form, vb, markets=mk, init_cash=init_cash, fee=fee, slippage=slippage,
                        intrabar_rule=intrabar_rule, funding=funding)
    except NotVectorizable as exc:
        return ParityReport(**base, fast=None, form=form_kind(form), reason=str(exc))
    return ParityReport(**base, fast=fast, form=form_kind(form),
                        differences=compare_results(fast, event, rtol))


def assert_fast_matches_event(strategy: type[Strategy], bars: Any,
                              params: Mapping[str, Any] | None = None, **kwargs: Any) -> ParityReport:
    """``check_fast`` for tests: raises ``AssertionError`` with the report unless both forms
    give the same fills, trades and equity (keyword arguments as ``check_fast``)."""
    report = check_fast(strategy, bars, params, **kwargs)
    if not report.ok:
        raise AssertionError(report.text())
    return report


def _frames(bars: Any, symbol: str | None) -> dict[str, pd.DataFrame]:
    if isinstance(bars, VectorBars):
        return {s: bars.frame(s) for s in bars.symbols}
    if isinstance(bars, pd.DataFrame):
        return {symbol or "BTC/USDT": bars}
    return dict(bars)
