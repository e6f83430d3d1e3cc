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

A fast path may refuse a run it cannot reproduce (for example several symbols, or a
market that charges fees in the coin received: the kernels implement fees in the
quote currency only, ``MarketSpec.fee_side = "quote"``); ``choose_fast_path`` then
falls back to the event engine under ``engine="auto"`` (``fast_path_choice`` says
why, and the sweep records it as ``engine_note``) and raises a ``ConfigError`` saying
why under ``engine="fast"``.
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tradeloom.engine.errors import ConfigError
from tradeloom.engine.strategy.base import Strategy

from tradeloom.research.sweeps.jobs import DataSpec, RunSettings

__all__ = ["FAST_PATHS", "KNOWN_STRATEGIES", "FastPath", "choose_fast_path", "fast_path_choice",
           "fast_path_name", "get_fast_path"]

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
    return quote_fees_only(data)


def quote_fees_only(data: DataSpec) -> str | None:
    """Why the kernels cannot run ``data``'s markets (fees charged outside the quote
    currency), or None. Markets come from the store's snapshot, as the runs read them."""
    from tradeloom.adapters.store.market_store import MarketStore
    from tradeloom.engine.market import FeeSide

    markets = MarketStore(data.catalog).load_markets(data.exchange)
    for symbol in data.symbols:
        spec = markets.get(symbol)
        if spec is not None and spec.fee_side is not FeeSide.QUOTE:
            return (f"{data.exchange} {symbol} charges fees on its {spec.fee_side.value!r} side "
                    "(in the coin received) and the kernels implement fees in the quote "
                    "currency only")
    return None


def _sma_run(data: DataSpec, params: list[dict[str, Any]], settings: RunSettings) -> list[dict[str, float]]:
    """All combinations in one ``sweep_sma_cross`` call over the distinct fast and slow values.

    The kernel runs the cartesian product of the values it is given (pairs with
    ``fast < slow``); the rows of ``params`` are then picked from it, so a random
    sample also costs one call. Market rules come from the store's snapshot, as in
    ``run_backtest``.
    """
    from tradeloom.adapters.store.market_store import MarketStore
    from tradeloom.engine.vector.api import sweep_sma_cross
    from tradeloom.engine.market import MarketSpec

    store = MarketStore(data.catalog)
    symbol = data.symbols[0]
    bars = store.read_bars(data.exchange, data.timeframe, symbol, data.start, data.end)
    market = store.load_markets(data.exchange).get(symbol) or MarketSpec(symbol)
    fasts = sorted({int(p["fast"]) for p in params})
    slows = sorted({int(p["slow"]) for p in params})
    table = sweep_sma_cross(bars, fasts, slows, init_cash=settings.initial_cash, market=market,
                            timeframe=data.timeframe)
    rows = {(int(f), int(s)): i for i, (f, s) in enumerate(zip(table["fast"], table["slow"]))}
    records = table.to_dict("records")
    return [records[rows[(int(p["fast"]), int(p["slow"]))]] for p in params]


FAST_PATHS: dict[str, FastPath] = {
    "sma_cross": FastPath("sma_cross", ("fast", "slow"), _sma_run, _sma_refuse, _sma_available),
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


def choose_fast_path(cls: type[Strategy], engine: str, data: DataSpec, settings: RunSettings,
                     grid_names: Sequence[str]) -> str | None:
    """The fast path to use for this sweep, or None for the event engine (see module docs)."""
    return fast_path_choice(cls, engine, data, settings, grid_names)[0]


def fast_path_choice(cls: type[Strategy], engine: str, data: DataSpec, settings: RunSettings,
                     grid_names: Sequence[str]) -> tuple[str | None, str | None]:
    """``(fast path or None, why the event engine runs it)``: the reason is None when the
    fast path runs or ``engine="event"`` asked for the event engine."""
    if engine not in ("auto", "fast", "event"):
        raise ConfigError(f"--engine {engine!r}: use auto, fast or event")
    if engine == "event":
        return None, None
    name = fast_path_name(cls)
    reason: str | None
    if name is None:
        reason = f"{cls.__name__} has no kernel fast path"
    else:
        fp = FAST_PATHS[name]
        extra = [n for n in grid_names if n not in fp.params]
        reason = fp.available() or fp.refuse(data, settings) or (
            f"the {name} kernel has no param(s) {extra}" if extra else None)
    if reason is None:
        return name, None
    if engine == "fast":
        raise ConfigError(f"--engine fast: {reason}; use --engine event (or auto)")
    return None, reason
