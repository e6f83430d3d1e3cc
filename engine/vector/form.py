"""A strategy's *vectorized form*: the same decisions as its event form, as arrays.

A strategy that can state its decisions as arrays computed from the bars and its
params declares a method ``vectorized(self, bars: VectorBars)`` returning one of
the forms below. Sweeps, walk-forward and ``run_vectorized`` then run it through
the numba kernels (one call for many combinations) instead of the event engine;
``tradeloom check-fast`` and ``tradeloom.research.sweeps.parity`` prove that both
forms give the same trades and equity.

The forms, each the exact twin of an event-engine strategy that is the kernel's
reference:

- ``Signals``: long-only entries/exits at bar closes, sized as
  ``ctx.target_percent(symbol, size)``, optional stop-loss / take-profit /
  trailing stop as fractions of the entry fill (twin: ``api.SignalStrategy``,
  kernel ``kernels_nb.simulate_nb``). One symbol.
- ``TargetWeights``: a fraction of equity per symbol and bar, NaN = no call
  (twin: ``api.TargetWeightStrategy``, kernel ``kernels_nb.simulate_weights_nb``).
  Several symbols on one bar grid.
- ``Brackets``: entries/exits with a per-bar size, an entry protected by a
  bracket (stop-loss and take-profit ladder fixed from the decision bar's
  close), a trailing stop and a time stop (twin: ``brackets.BracketSignalStrategy``,
  kernel ``brackets_nb.simulate_brackets_nb``). One symbol. Rule files compile to it.

A form may refuse a run it cannot reproduce exactly (several symbols, bars on
different grids, a model input): it raises ``NotVectorizable`` with the reason,
which sweeps print before falling back to the event engine.

>>> import numpy as np
>>> bars = VectorBars.from_arrays(("BTC/USDT",), "1h", np.arange(3) * 3_600_000,
...     *(np.array([[1.0], [2.0], [3.0]]),) * 4, np.ones((3, 1)))
>>> bars.field("close").tolist(), bars.n_bars, bars.gap_free
([1.0, 2.0, 3.0], 3, True)
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from tradeloom.engine.errors import ConfigError, DataError, StrategyError
from tradeloom.engine.timeframes import timeframe_to_ms

__all__ = [
    "CALLBACKS",
    "BracketExits",
    "Brackets",
    "NotVectorizable",
    "Signals",
    "TargetWeights",
    "VectorBars",
    "VectorForm",
    "vectorized_method",
]

#: The event-form methods a subclass may override; overriding one without also
#: defining ``vectorized`` makes an inherited vectorized form stale.
CALLBACKS = ("validate", "on_start", "on_bar", "on_fill", "on_order", "on_timer", "on_trade",
             "on_quote", "on_stop")
#: Most take-profit levels a bracket may have (the kernel keeps them in fixed arrays).
MAX_TAKE_PROFITS = 8

_FIELDS = ("open", "high", "low", "close", "volume")


class NotVectorizable(StrategyError):
    """This run cannot be reproduced exactly by a kernel; the message says why."""


@dataclass(frozen=True, eq=False)
class VectorBars:
    """The bars of one run as arrays: ``ts`` is shared, prices are ``(n_bars, n_symbols)``.

    Columns follow ``symbols`` (sorted, the engine's order). ``field(name)`` gives
    one symbol's column as a 1-D array (the only symbol, or ``symbol=``). ``cache`` is
    a memo for arrays derived from these bars (indicators), shared by the forms of
    one sweep's combinations.
    """

    symbols: tuple[str, ...]
    timeframe: str
    ts: np.ndarray
    open: np.ndarray
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    volume: np.ndarray
    cache: dict[Any, Any] = field(default_factory=dict, repr=False)

    @classmethod
    def from_arrays(cls, symbols: Sequence[str], timeframe: str, ts: Any, open: Any, high: Any,
                    low: Any, close: Any, volume: Any) -> VectorBars:
        """Build from arrays (prices ``(n, k)``, or ``(n,)`` for one symbol), checked."""
        names = tuple(symbols)
        if list(names) != sorted(set(names)) or not names:
            raise DataError(f"VectorBars: symbols {list(names)} must be distinct and sorted")
        t = np.ascontiguousarray(np.asarray(ts, dtype=np.int64))
        cols = []
        for name, raw in zip(_FIELDS, (open, high, low, close, volume)):
            arr = np.asarray(raw, dtype=np.float64)
            if arr.ndim == 1:
                arr = arr[:, None]
            if arr.shape != (t.shape[0], len(names)):
                raise DataError(f"VectorBars: {name} has shape {arr.shape}; need "
                                f"({t.shape[0]}, {len(names)}) (bars, symbols)")
            cols.append(np.ascontiguousarray(arr))
        if t.shape[0] and np.any(np.diff(t) <= 0):
            raise DataError("VectorBars: ts must strictly increase")
        timeframe_to_ms(timeframe)  # a ConfigError names a bad timeframe here
        return cls(names, timeframe, t, *cols)

    @classmethod
    def from_frames(cls, frames: Mapping[str, Any], timeframe: str) -> VectorBars:
        """One DataFrame (ts, open, high, low, close, volume) per symbol, on one ts grid.

        Symbols whose bars have other timestamps raise ``NotVectorizable``: the
        kernels have no rule for a bar missing in one symbol only (the event engine does).
        """
        if not frames:
            raise DataError("VectorBars.from_frames: no symbols")
        symbols = sorted(frames)
        ts = np.asarray(frames[symbols[0]]["ts"], dtype=np.int64)
        for s in symbols[1:]:
            other = np.asarray(frames[s]["ts"], dtype=np.int64)
            if other.shape != ts.shape or not np.array_equal(other, ts):
                raise NotVectorizable(
                    f"{s} has bars at other times than {symbols[0]} ({other.shape[0]} vs "
                    f"{ts.shape[0]} bars, gaps differ); the kernels need every symbol on one bar grid")
        cols = {f: np.stack([np.asarray(frames[s][f], dtype=np.float64) for s in symbols], axis=1)
                for f in _FIELDS}
        return cls.from_arrays(symbols, timeframe, ts, **cols)

    @property
    def timeframe_ms(self) -> int:
        return timeframe_to_ms(self.timeframe)

    @property
    def n_bars(self) -> int:
        return int(self.ts.shape[0])

    @property
    def gap_free(self) -> bool:
        """Every bar follows the previous one by exactly one timeframe."""
        return bool(np.all(np.diff(self.ts) == self.timeframe_ms))

    def index(self, symbol: str | None = None) -> int:
        """Column of ``symbol`` (default: the only symbol)."""
        if symbol is None:
            if len(self.symbols) != 1:
                raise NotVectorizable(
                    f"this form trades one symbol; the run has {len(self.symbols)} "
                    f"({', '.join(self.symbols)})")
            return 0
        try:
            return self.symbols.index(symbol)
        except ValueError:
            raise DataError(f"symbol {symbol!r} is not in these bars {list(self.symbols)}") from None

    def field(self, name: str, symbol: str | None = None) -> np.ndarray:
        """One symbol's ``ts``/``open``/``high``/``low``/``close``/``volume`` as a 1-D array."""
        if name == "ts":
            return self.ts
        if name not in _FIELDS:
            raise DataError(f"bar field {name!r}: use one of ts, {', '.join(_FIELDS)}")
        return np.ascontiguousarray(getattr(self, name)[:, self.index(symbol)])

    def frame(self, symbol: str | None = None) -> Any:
        """One symbol's bars as a DataFrame (what ``api.run_signals`` takes)."""
        import pandas as pd

        return pd.DataFrame({"ts": self.ts, **{f: self.field(f, symbol) for f in _FIELDS}})


def _bool_column(x: Any, n: int, name: str) -> np.ndarray:
    arr = np.asarray(x)
    if arr.shape != (n,):
        raise DataError(f"{name} has shape {arr.shape}; need one value per bar ({n},)")
    return np.ascontiguousarray(arr.astype(np.bool_))


def _fraction(value: float | None, name: str, *, upper_open: bool = True) -> float | None:
    if value is None:
        return None
    ok = isinstance(value, (int, float)) and math.isfinite(value) and value > 0.0 and (
        value < 1.0 if upper_open else True)
    if not ok:
        raise ConfigError(f"{name}={value!r}: a fraction in (0, 1), e.g. 0.02 = 2 %")
    return float(value)


@dataclass(frozen=True, eq=False)
class Signals:
    """Entries/exits of one symbol for ``api.run_signals`` (see the module docstring)."""

    entries: np.ndarray
    exits: np.ndarray
    size: float = 1.0
    sl_pct: float | None = None
    tp_pct: float | None = None
    trail_pct: float | None = None

    def checked(self, n: int) -> Signals:
        return Signals(_bool_column(self.entries, n, "entries"), _bool_column(self.exits, n, "exits"),
                       self.size, self.sl_pct, self.tp_pct, self.trail_pct)


@dataclass(frozen=True, eq=False)
class TargetWeights:
    """``(n_bars, n_symbols)`` fractions of equity, NaN = no call (``api.run_target_weights``)."""

    weights: np.ndarray

    def checked(self, n: int, k: int) -> TargetWeights:
        w = np.ascontiguousarray(np.asarray(self.weights, dtype=np.float64))
        if w.shape != (n, k):
            raise DataError(f"weights has shape {w.shape}; need (n_bars={n}, n_symbols={k})")
        return TargetWeights(w)


@dataclass(frozen=True)
class BracketExits:
    """How a ``Brackets`` entry is protected and ended (fractions, 0.02 = 2 %).

    - ``stop_loss``: a sell stop at ``decision close * (1 - stop_loss)``, placed with
      the entry as a bracket (``ctx.bracket``); it covers what is left of the position.
    - ``take_profits``: ``((distance, fraction), ...)`` limit sells at ``decision close *
      (1 + distance)`` that scale out (fractions of the filled entry, summing to 1);
      they need a ``stop_loss`` (a bracket is an entry protected by a stop).
    - ``trailing``: a reduce-only trailing stop ``trailing`` below the best price since
      the close of the entry fill's bar, placed when the entry fills.
    - ``time_stop``: exit at the close of the ``time_stop``-th bar after the entry fill's bar.
    """

    stop_loss: float | None = None
    take_profits: tuple[tuple[float, float], ...] = ()
    trailing: float | None = None
    time_stop: int | None = None

    def __post_init__(self) -> None:
        _fraction(self.stop_loss, "stop_loss")
        _fraction(self.trailing, "trailing")
        tps = tuple((float(d), float(f)) for d, f in self.take_profits)
        object.__setattr__(self, "take_profits", tps)
        if tps and self.stop_loss is None:
            raise ConfigError("take_profits need a stop_loss: a bracket is an entry protected by "
                              "a stop-loss; add stop_loss (e.g. 0.02) or drop the take-profits")
        if len(tps) > MAX_TAKE_PROFITS:
            raise ConfigError(f"{len(tps)} take-profit levels; at most {MAX_TAKE_PROFITS}")
        for k, (dist, frac) in enumerate(tps):
            if not (math.isfinite(dist) and dist > 0.0):
                raise ConfigError(f"take_profits[{k}] distance {dist!r} must be > 0 (0.02 = 2 % "
                                  "above the decision close)")
            if not (0.0 < frac <= 1.0):
                raise ConfigError(f"take_profits[{k}] fraction {frac!r} must be in (0, 1]")
        if tps and abs(sum(f for _, f in tps) - 1.0) > 1e-9:
            raise ConfigError(
                f"take_profits fractions {[f for _, f in tps]} sum to {sum(f for _, f in tps):g}; "
                "they must sum to 1 (an all-in entry's filled amount is known only at the fill)")
        if self.time_stop is not None and not (isinstance(self.time_stop, int) and self.time_stop >= 1):
            raise ConfigError(f"time_stop={self.time_stop!r}: a whole number of bars >= 1")

    @property
    def bracket(self) -> bool:
        """Entries go out as ``ctx.bracket`` (a stop-loss is set), else as targets."""
        return self.stop_loss is not None


@dataclass(frozen=True, eq=False)
class Brackets:
    """Entries/exits with a per-bar size (fraction of equity, NaN = no entry) and ``rules``.

    ``fixed_quote``: spend this much quote currency per entry instead (the size is
    then ``min(1, fixed_quote / equity)`` at the decision; a NaN ``size`` still means
    no entry).
    """

    entries: np.ndarray
    exits: np.ndarray
    size: np.ndarray
    rules: BracketExits = field(default_factory=BracketExits)
    fixed_quote: float | None = None

    def checked(self, n: int) -> Brackets:
        size = np.asarray(self.size, dtype=np.float64)
        size = np.full(n, float(size)) if size.ndim == 0 else np.ascontiguousarray(size)
        if size.shape != (n,):
            raise DataError(f"size has shape {size.shape}; need one value per bar ({n},)")
        bad = ~np.isnan(size) & ~((size > 0.0) & (size <= 1.0))
        if bad.any():
            i = int(np.argmax(bad))
            raise DataError(f"size[{i}] = {size[i]}: a fraction of equity in (0, 1] or NaN (no entry)")
        if self.fixed_quote is not None and not (math.isfinite(self.fixed_quote) and self.fixed_quote > 0):
            raise ConfigError(f"fixed_quote={self.fixed_quote!r}: a positive amount of quote currency")
        return Brackets(_bool_column(self.entries, n, "entries"), _bool_column(self.exits, n, "exits"),
                        size, self.rules, self.fixed_quote)


VectorForm = Signals | TargetWeights | Brackets


def vectorized_method(cls: type) -> tuple[Any, str]:
    """``(cls.vectorized, "")`` when ``cls`` has a vectorized form that is still its own,
    else ``(None, why not)``.

    A form is stale when a subclass overrides an event callback (``on_bar``...) but
    inherits ``vectorized`` from a parent: the parent's arrays no longer describe it.

    >>> from tradeloom.engine.strategy.base import Strategy
    >>> class A(Strategy):
    ...     def on_bar(self, ctx, bar): ...
    ...     def vectorized(self, bars): ...
    >>> class B(A):
    ...     def on_bar(self, ctx, bar): ...
    >>> vectorized_method(A)[0] is A.vectorized
    True
    >>> print(vectorized_method(B)[1])
    B.on_bar overrides the event form but vectorized() is inherited from A; define vectorized() on B too (then prove it with tradeloom check-fast)
    """
    mro = cls.__mro__
    owner = next((k for k in mro if "vectorized" in vars(k)), None)
    if owner is None or not callable(vars(owner)["vectorized"]):
        return None, (f"{cls.__name__} declares no vectorized form (a vectorized(self, bars) "
                      "method returning Signals, TargetWeights or Brackets)")
    for name in CALLBACKS:
        definer = next((k for k in mro if name in vars(k)), None)
        if definer is not None and definer is not owner and issubclass(definer, owner):
            return None, (f"{cls.__name__}.{name} overrides the event form but vectorized() is "
                          f"inherited from {owner.__name__}; define vectorized() on "
                          f"{definer.__name__} too (then prove it with tradeloom check-fast)")
    return cls.vectorized, ""
