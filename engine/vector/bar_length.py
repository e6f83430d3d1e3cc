"""The bar length of a fast-path run, read from the bars themselves.

A timeframe is not a cosmetic label: it annualises volatility, Sharpe and Sortino
(``bars_per_year``) and dates the equity curve (a bar closes at ``ts + timeframe``).
A silent default is how hourly bars once printed Sharpe 3.37 instead of 0.435 (the
annualisation of minute bars). So the fast path takes the timeframe from the data:

- the bar length is the step between consecutive ``ts`` that **more than half** of the
  steps take (the modal step when the data is regular with a few gaps; gaps are longer
  steps and change nothing);
- when no step holds a majority (irregular or resampled-with-holes data) the run is
  refused: the data does not say its bar length, so the caller must;
- a ``timeframe`` given explicitly must agree with that step, else the run is refused
  with both figures (a ``"1m"`` on hourly bars is exactly the bug above).

>>> import numpy as np
>>> hourly = np.arange(5, dtype=np.int64) * 3_600_000
>>> infer_timeframe(hourly)
'1h'
>>> resolve_timeframe(None, hourly, "run_signals")
'1h'
>>> resolve_timeframe("1m", hourly, "run_signals")
Traceback (most recent call last):
...
tradeloom.engine.errors.ConfigError: run_signals: timeframe='1m' but the bars are 1h apart (4 of 4 steps); pass timeframe='1h' or leave it out to use the bars' own
"""

from __future__ import annotations

import numpy as np

from tradeloom.engine.errors import ConfigError, DataError
from tradeloom.engine.timeframes import timeframe_to_ms
from tradeloom.engine.vector.bars_nb import majority_step_nb

__all__ = ["infer_timeframe", "resolve_timeframe", "timeframe_of_ms"]

_UNITS = (("w", 604_800_000), ("d", 86_400_000), ("h", 3_600_000), ("m", 60_000), ("s", 1_000))


def timeframe_of_ms(ms: int) -> str:
    """The timeframe name of a bar length in ms, in the largest whole unit.

    >>> timeframe_of_ms(900_000), timeframe_of_ms(14_400_000), timeframe_of_ms(86_400_000)
    ('15m', '4h', '1d')
    """
    ms = int(ms)
    for unit, size in _UNITS:
        if ms > 0 and ms % size == 0:
            return f"{ms // size}{unit}"
    raise DataError(
        f"a bar length of {ms} ms is not a whole number of seconds; ts must be bar open times "
        "in integer ms (e.g. 60000 apart for 1m bars)"
    )


def _majority(ts: np.ndarray, where: str) -> tuple[int, int, int]:
    ts = np.ascontiguousarray(ts, dtype=np.int64)
    steps = ts.shape[0] - 1
    if steps < 1:
        raise DataError(f"{where}: need at least 2 bars to know the bar length, got {ts.shape[0]}")
    step, count = majority_step_nb(ts)
    return int(step), int(count), steps


def _no_majority(where: str, ts: np.ndarray, steps: int) -> ConfigError:
    values, counts = np.unique(np.diff(np.asarray(ts, dtype=np.int64)), return_counts=True)
    top = np.argsort(-counts, kind="stable")[:3]
    seen = ", ".join(f"{int(values[i])} ms x{int(counts[i])}" for i in top)
    return ConfigError(
        f"{where}: the bars have no regular step (no step between bars holds a majority of the "
        f"{steps} steps; most common: {seen}); pass timeframe= explicitly, e.g. timeframe='1h'"
    )


def infer_timeframe(ts: np.ndarray, where: str = "bars") -> str:
    """The timeframe that a majority of the steps of ``ts`` take (see the module docstring)."""
    step, count, steps = _majority(ts, where)
    if 2 * count <= steps:
        raise _no_majority(where, ts, steps)
    return timeframe_of_ms(step)


def resolve_timeframe(timeframe: str | None, ts: np.ndarray, where: str) -> str:
    """``timeframe`` checked against the bars, or the bars' own when it is None.

    An explicit timeframe on bars without a majority step is taken as given (the caller
    knows the bar length the data cannot show).
    """
    if timeframe is None:
        return infer_timeframe(ts, where)
    tf_ms = timeframe_to_ms(timeframe)
    step, count, steps = _majority(ts, where)
    if 2 * count > steps and step != tf_ms:
        raise ConfigError(
            f"{where}: timeframe={timeframe!r} but the bars are {timeframe_of_ms(step)} apart "
            f"({count} of {steps} steps); pass timeframe={timeframe_of_ms(step)!r} or leave it "
            "out to use the bars' own"
        )
    return timeframe
