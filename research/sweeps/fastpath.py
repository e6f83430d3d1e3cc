"""Kernel fast paths for sweeps: which strategies have one, and how to call it.

A strategy has a fast path when a numba kernel reproduces its event-engine
trades and equity exactly (the kernel parity tests prove it). Two ways to say so:

- a class attribute on the strategy, defined on the class itself (subclasses do
  **not** inherit it, since they may change the behaviour)::

      class MyCross(Strategy):
          fast_path = "sma_cross"

- the explicit registry ``KNOWN_STRATEGIES`` below, for strategies whose file we
  do not edit (the bundled ``SmaCross``). It matches the class by module and
  name, or by source file and name when it was loaded from a file path
  (``research/strategies/sma_cross.py:SmaCross``).

Any other strategy reaches the kernels through its **vectorized form**: a
``vectorized(self, bars)`` method returning arrays (``tradeloom.engine.vector.form``);
that path is called ``vectorized`` (``tradeloom.research.sweeps.vectorized``). A named
kernel is tried first, then the vectorized form.

A fast path may refuse a run it cannot reproduce (for example several symbols);
``choose_fast_path`` then falls back to the event engine under ``engine="auto"``
and raises a ``ConfigError`` saying why under ``engine="fast"``. ``explain_fast_path``
returns the choice with the reason, which sweeps and walk-forward print.
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tradeloom.engine.errors import ConfigError
from tradeloom.engine.strategy.base import Strategy
from tradeloom.research.sweeps.jobs import DataSpec, RunSettings

__all__ = ["FAST_PATHS", "KNOWN_STRATEGIES", "FastChoice", "FastPath", "choose_fast_path",
           "explain_fast_path", "fast_path_name", "get_fast_path"]

Runner = Callable[[DataSpec, list[dict[str, Any]], RunSettings], list[dict[str, float]]]


@dataclass(frozen=True)
class FastPath:
    """One kernel fast path: its params, when it applies, and the function running it."""

    name: str
    params: tuple[str, ...]
    run: Runner
    refuse: Callable[[DataSpec, RunSettings], str | None]
    """Returns why the fast path cannot reproduce this run, or None when it can."""
    available: Callable[[], str | None]
    """Returns why the kernel is not importable, or None when it is."""
    curves: Callable[[DataSpec, list[dict[str, Any]], RunSettings], list[Any]]
    """The equity curve of each combination (for the overfitting statistics)."""


def _sma_available() -> str | None:
    try:
        fast = importlib.import_module("tradeloom.engine.vector.api")
    except ImportError as exc:
        return f"tradeloom.engine.vector.api cannot be imported ({exc})"
    if not hasattr(fast, "sweep_sma_cross"):
        return "tradeloom.engine.vector.api has no sweep_sma_cross"
    return None


def _sma_refuse(data: DataSpec, settings: RunSettings) -> str | None:
    if len(data.symbols) != 1:
        return f"the sma_cross kernel runs one symbol, the sweep has {len(data.symbols)}"
    return None


def _sma_run(data: DataSpec, params: list[dict[str, Any]], settings: RunSettings) -> list[dict[str, float]]:
    """All combinations in one ``sweep_sma_cross`` call over the distinct fast and slow values.

    The kernel runs the cartesian product of the values it is given (pairs with
    ``fast < slow``); the rows of ``params`` are then picked from it, so a random
    sample also costs one call. Market rules come from the store's snapshot, as in
    ``run_backtest``.
    """
    from tradeloom.engine.vector.api import sweep_sma_cross

    bars, market = _sma_inputs(data, settings)
    fasts = sorted({int(p["fast"]) for p in params})
    slows = sorted({int(p["slow"]) for p in params})
    table = sweep_sma_cross(bars, fasts, slows, init_cash=settings.initial_cash, market=market,
                            timeframe=data.timeframe)
    rows = {(int(f), int(s)): i for i, (f, s) in enumerate(zip(table["fast"], table["slow"]))}
    records = table.to_dict("records")
    return [records[rows[(int(p["fast"]), int(p["slow"]))]] for p in params]


def _sma_inputs(data: DataSpec, settings: RunSettings) -> tuple[Any, Any]:
    """The window's bars and the symbol's market rules (the store's snapshot, as in
    ``run_backtest``, with ``settings.market_rules`` applied)."""
    from tradeloom.adapters.store.market_store import MarketStore
    from tradeloom.engine.market import MarketSpec
    from tradeloom.research.backtest import apply_market_rules

    store = MarketStore(data.catalog)
    symbol = data.symbols[0]
    bars = store.read_bars(data.exchange, data.timeframe, symbol, data.start, data.end)
    market = store.load_markets(data.exchange).get(symbol) or MarketSpec(symbol)
    return bars, apply_market_rules({symbol: market}, settings.market_rules)[symbol]


def _sma_curves(data: DataSpec, params: list[dict[str, Any]], settings: RunSettings) -> list[Any]:
    """Each combination's equity curve: one ``sweep_sma_cross`` call per pair, its curve kept."""
    from tradeloom.engine.vector.api import sweep_sma_cross

    bars, market = _sma_inputs(data, settings)
    out = []
    for p in params:
        _, eq = sweep_sma_cross(bars, [int(p["fast"])], [int(p["slow"])], init_cash=settings.initial_cash,
                                market=market, timeframe=data.timeframe, keep_equity=True)
        out.append(eq[0])
    return out


FAST_PATHS: dict[str, FastPath] = {
    "sma_cross": FastPath("sma_cross", ("fast", "slow"), _sma_run, _sma_refuse, _sma_available,
                          _sma_curves),
}

#: Strategies with a fast path that do not declare it themselves: "module:Class" -> fast path.
KNOWN_STRATEGIES: dict[str, str] = {
    "tradeloom.research.strategies.sma_cross:SmaCross": "sma_cross",
}


def get_fast_path(name: str) -> FastPath:
    """The registered fast path ``name`` (ConfigError listing the known ones otherwise)."""
    if name not in FAST_PATHS:
        raise ConfigError(f"unknown fast path {name!r}; known: {', '.join(sorted(FAST_PATHS))}")
    return FAST_PATHS[name]


def _module_file(module: str) -> Path | None:
    try:
        spec = importlib.util.find_spec(module)
    except (ImportError, ValueError):
        return None
    return Path(spec.origin).resolve() if spec is not None and spec.origin else None


def fast_path_name(cls: type[Strategy]) -> str | None:
    """The fast path declared by ``cls`` itself or registered for it, if any.

    >>> from tradeloom.research.strategies import SmaCross, RsiReversion
    >>> fast_path_name(SmaCross), fast_path_name(RsiReversion)
    ('sma_cross', None)
    """
    own = vars(cls).get("fast_path")
    if isinstance(own, str):
        get_fast_path(own)
        return own
    key = f"{cls.__module__}:{cls.__qualname__}"
    if key in KNOWN_STRATEGIES:
        return KNOWN_STRATEGIES[key]
    try:
        source = Path(inspect.getfile(cls)).resolve()
    except (TypeError, OSError):
        return None
    for known, name in KNOWN_STRATEGIES.items():
        module, _, qualname = known.partition(":")
        if qualname == cls.__qualname__ and _module_file(module) == source:
            return name
    return None


@dataclass(frozen=True)
class FastChoice:
    """Which path a sweep runs (``name``: a kernel, ``"vectorized"``, or None for the
    event engine) and why, in words a person can act on."""

    name: str | None
    reason: str

    @property
    def engine(self) -> str:
        """``"fast:<name>"`` or ``"event"`` (the ``engine`` of result tables)."""
        return f"fast:{self.name}" if self.name else "event"


def explain_fast_path(cls: type[Strategy], engine: str, data: DataSpec, settings: RunSettings,
                      grid_names: Sequence[str], probe: Mapping[str, Any] | None = None) -> FastChoice:
    """The path for this sweep and the reason (see the module docstring).

    ``probe`` are the params the vectorized form is tried with (default: the
    strategy's defaults); the sweep passes its first combination.
    """
    from tradeloom.research.sweeps.vectorized import VECTORIZED
    from tradeloom.research.sweeps.vectorized import probe as probe_form

    if engine not in ("auto", "fast", "event"):
        raise ConfigError(f"--engine {engine!r}: use auto, fast or event")
    if engine == "event":
        return FastChoice(None, "--engine event asked for the event engine")
    reasons: list[str] = []
    name = fast_path_name(cls)
    if name is not None:
        fp = FAST_PATHS[name]
        extra = [n for n in grid_names if n not in fp.params]
        why = fp.available() or fp.refuse(data, settings) or (
            f"the {name} kernel has no param(s) {extra}" if extra else None)
        if why is None:
            return FastChoice(name, f"{cls.__name__} runs on the {name} kernel (every combination "
                                    "in one call)")
        reasons.append(why)
    kind, why = probe_form(cls, data, probe or {}, settings.market_rules)
    if kind is not None:
        return FastChoice(VECTORIZED, f"{cls.__name__}.vectorized() gives {kind} arrays for "
                                      f"every combination (kernel calls, not backtests)")
    reasons.append(why if name is not None else f"{cls.__name__} has no kernel fast path: {why}")
    reason = "; ".join(reasons)
    if engine == "fast":
        raise ConfigError(f"--engine fast: {reason}; use --engine event (or auto)")
    return FastChoice(None, reason)


def choose_fast_path(cls: type[Strategy], engine: str, data: DataSpec, settings: RunSettings,
                     grid_names: Sequence[str], probe: Mapping[str, Any] | None = None) -> str | None:
    """The fast path to use for this sweep, or None for the event engine (see module docs)."""
    return explain_fast_path(cls, engine, data, settings, grid_names, probe).name
