"""Shared pieces of the indicator modules: result types, parameter checks, conventions.

The indicator code is split by noun:

- ``indicators_nb.py`` (one series) / ``indicators_bars_nb.py`` (OHLCV fields):
  numba batch kernels, the reference arithmetic;
- ``indicators_stream.py`` / ``indicators_stream_stats.py`` /
  ``indicators_stream_bars.py``: streaming classes, one update per bar, O(1)
  each, that repeat the kernels' arithmetic operation by operation;
- ``indicators.py``: the public API (batch functions, the registry, ``warmup``).

Conventions every indicator follows (tested in ``tests/property/test_indicators.py``):

**Bit-for-bit agreement.** Batch and streaming forms perform the same IEEE-754
operations in the same order, so they return identical float64 values on every
bar. numba's ``fastmath`` stays off (LLVM may then neither reassociate sums nor
contract ``a * b + c`` into a fused multiply-add), and the streaming classes use
plain Python float arithmetic (never fused).

**Window sums.** Two different summation orders round differently (the
floating-point tie of why-engines-disagree.md, point 9), so each indicator fixes
one order, identical in both forms. SMA (and the Bollinger/z-score mean, which
is bit-identical to it) keeps a running sum ``s = s + new - old`` and
resynchronises it every ``period`` bars by summing the window afresh, left to
right: no drift on long series, and the cheapest streaming update. A window of
equal values averages to exactly that value. WMA and VWAP keep Neumaier
compensated sums (:func:`neumaier_add`): add the new value, then subtract the
one leaving.

**Rolling variance** uses Welford's update with removal; every ``period`` bars the
window mean and sum of squared deviations are recomputed exactly (two passes over
the window, O(1) amortised) so error from long-gone extreme bars cannot linger.
A window whose values are all equal has variance exactly 0 (tracked with a run
counter), whatever rounding the updates left behind.

**Warm-up.** ``warmup`` is the number of leading NaN outputs on a clean series
(TA-Lib calls it the "lookback"): the first defined value is at index
``warmup``. For indicators with several outputs it is the index at which *all*
outputs are defined; an output that can be defined earlier (the MACD line before
its signal) is emitted as soon as it is.

**Holes.** A non-finite input (NaN, +inf or -inf in any input field) is a hole:
the outputs for that bar are NaN, the indicator resets to its initial state and
warms up again from the next bar, as if the series started there. Windowed
indicators therefore give NaN until their window holds only finite values again;
recursive ones (EMA, RSI, ATR, ADX, MACD) re-seed. Exceptions, documented on the
class: OBV restarts its running total at the next bar; session VWAP stays NaN
until the next session starts.

**Degenerate windows** never divide by zero: RSI with no gains and no losses is
50; stochastic %K with high == low is 50; z-score with zero deviation is 0; DI with
zero true range is 0 and DX with +DI + -DI == 0 is 0; VWAP with zero volume is NaN.
"""

from __future__ import annotations

import math
from numbers import Integral, Real
from typing import NamedTuple

import numpy as np

from tradeloom.engine.errors import ConfigError, DataError

NAN = math.nan


class BBandsResult(NamedTuple):
    """Bollinger bands: ``mid`` (SMA), ``upper`` and ``lower`` (mid +/- nbdev * std)."""

    mid: np.ndarray | float
    upper: np.ndarray | float
    lower: np.ndarray | float


class MACDResult(NamedTuple):
    """MACD line (fast EMA - slow EMA), its signal EMA, and the histogram (line - signal)."""

    macd: np.ndarray | float
    signal: np.ndarray | float
    hist: np.ndarray | float


class StochResult(NamedTuple):
    """Stochastic oscillator: ``k`` (smoothed %K) and ``d`` (SMA of ``k``), both 0..100."""

    k: np.ndarray | float
    d: np.ndarray | float


class ADXResult(NamedTuple):
    """Wilder's average directional index and the two directional indicators, 0..100."""

    adx: np.ndarray | float
    plus_di: np.ndarray | float
    minus_di: np.ndarray | float


class DonchianResult(NamedTuple):
    """Donchian channel: highest high, lowest low (current bar included) and their midpoint."""

    upper: np.ndarray | float
    lower: np.ndarray | float
    mid: np.ndarray | float


class KeltnerResult(NamedTuple):
    """Keltner channel: EMA mid and mid +/- multiplier * ATR."""

    mid: np.ndarray | float
    upper: np.ndarray | float
    lower: np.ndarray | float


def neumaier_add(s: float, c: float, x: float) -> tuple[float, float]:
    """Add ``x`` to the compensated sum ``(s, c)``; the sum's value is ``s + c``.

    The Python twin of ``indicators_nb._nadd`` (same operations, same order).

    >>> s, c = 0.0, 0.0
    >>> for x in (1e16, 1.0, -1e16):
    ...     s, c = neumaier_add(s, c, x)
    >>> s + c
    1.0
    """
    t = s + x
    if abs(s) >= abs(x):
        c += (s - t) + x
    else:
        c += (x - t) + s
    return t, c


def check_period(indicator: str, name: str, value: object, minimum: int = 1) -> int:
    """Return ``value`` as an int if it is an integer >= ``minimum``, else raise ConfigError.

    >>> check_period("sma", "period", 10)
    10
    """
    if isinstance(value, bool) or not isinstance(value, Integral) or value < minimum:
        raise ConfigError(
            f"{indicator}: {name} must be an integer >= {minimum}, got {value!r}; "
            f"pass e.g. {name}={max(minimum, 14)}"
        )
    return int(value)


def check_offset(indicator: str, value: object) -> int:
    """Return a session offset in ms (any integer, e.g. -3_600_000 for a 23:00 UTC start)."""
    if isinstance(value, bool) or not isinstance(value, Integral):
        raise ConfigError(
            f"{indicator}: offset_ms must be an integer number of milliseconds, got {value!r}; "
            "e.g. offset_ms=8 * 3_600_000 for sessions starting at 08:00 UTC"
        )
    return int(value)


def check_real(
    indicator: str, name: str, value: object, *, positive: bool = False
) -> float:
    """Return ``value`` as a float if it is a finite real (and > 0 if ``positive``).

    >>> check_real("bbands", "nbdev", 2)
    2.0
    """
    if isinstance(value, bool) or not isinstance(value, Real) or not math.isfinite(value):
        raise ConfigError(f"{indicator}: {name} must be a finite number, got {value!r}")
    if positive and value <= 0:
        raise ConfigError(f"{indicator}: {name} must be > 0, got {value!r}")
    return float(value)


def as_f64(indicator: str, field: str, values: object) -> np.ndarray:
    """Coerce one input column to a contiguous 1-D float64 array (a copy only if needed)."""
    arr = np.ascontiguousarray(values, dtype=np.float64)
    if arr.ndim != 1:
        raise DataError(
            f"{indicator}: input {field!r} must be 1-D, got shape {arr.shape}; "
            "pass one column per field"
        )
    return arr


def same_length(indicator: str, **columns: np.ndarray) -> int:
    """Return the common length of the input columns, or raise DataError naming them."""
    lengths = {name: arr.shape[0] for name, arr in columns.items()}
    if len(set(lengths.values())) > 1:
        raise DataError(
            f"{indicator}: input columns differ in length {lengths}; pass aligned columns "
            "from one bar table"
        )
    return next(iter(lengths.values()))
