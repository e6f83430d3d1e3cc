"""Train/test windows for walk-forward analysis, by bar counts or by durations.

``--train`` and ``--test`` are spans: a duration (``90d``, ``12h``, ``2w``, ``30m``)
or a bar count (``2000``, ``2000bars``). Both must be of one kind.

- **rolling** (default): train ``[s, s + train)``, test right after it
  ``[s + train, s + train + test)``; the next window starts ``test`` later, so the
  test windows tile the data without overlap.
- **anchored** (``--anchored``): the same test windows, but every train window
  starts at the first bar and grows.

Bar counts count the bars actually stored (the union of the symbols' bar times),
so a window of 500 bars holds 500 bars even across data gaps. Durations are cut
on the clock from the first bar; a window whose train or test part holds no bar
is left out. Only whole test windows are used: the data after the last one is
not tested. All boundaries are UTC ms, half-open ``[start, end)``.

>>> import numpy as np
>>> ts = np.arange(10, dtype=np.int64) * 3_600_000          # ten 1h bars
>>> [(w.train_bars, w.test_bars) for w in plan_windows(ts, "1h", parse_span("4"), parse_span("2"))]
[(4, 2), (4, 2), (4, 2)]
>>> [w.train_start for w in plan_windows(ts, "1h", parse_span("4h"), parse_span("3h"), anchored=True)]
[0, 0]
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from tradeloom.engine.errors import ConfigError, DataError
from tradeloom.engine.timeframes import timeframe_to_ms
from tradeloom.engine.timeutil import format_utc_ms

__all__ = ["Span", "Window", "parse_span", "plan_windows"]

_BARS = re.compile(r"^([1-9][0-9]*)\s*(bars?|b)?$")
SPAN_SYNTAX = "a duration such as 90d, 12h, 2w, 30m, or a bar count such as 2000 (or 2000bars)"


@dataclass(frozen=True)
class Span:
    """A window length: ``kind`` is ``"bars"`` or ``"ms"``."""

    kind: str
    value: int
    text: str


def parse_span(text: str | int, flag: str = "--train") -> Span:
    """Parse ``90d`` (duration) or ``2000`` / ``2000bars`` (bar count).

    >>> parse_span("90d").value, parse_span("2000").kind, parse_span("12bars").value
    (7776000000, 'bars', 12)
    """
    raw = str(text).strip().lower()
    match = _BARS.match(raw)
    if match:
        return Span("bars", int(match.group(1)), raw)
    try:
        return Span("ms", timeframe_to_ms(raw), raw)
    except ConfigError:
        raise ConfigError(f"{flag} {text!r}: use {SPAN_SYNTAX}") from None


@dataclass(frozen=True)
class Window:
    """One walk-forward step: train ``[train_start, train_end)``, test ``[test_start, test_end)``."""

    index: int
    train_start: int
    train_end: int
    test_start: int
    test_end: int
    train_bars: int
    test_bars: int

    def describe(self) -> str:
        return (f"window {self.index}: train {format_utc_ms(self.train_start)} .. "
                f"{format_utc_ms(self.train_end)}, test .. {format_utc_ms(self.test_end)}")


def plan_windows(ts: np.ndarray, timeframe: str, train: Span, test: Span, *,
                 anchored: bool = False) -> list[Window]:
    """Windows over the sorted, distinct bar open times ``ts`` (see the module docstring)."""
    if train.kind != test.kind:
        raise ConfigError(
            f"--train {train.text} and --test {test.text}: give both as durations (e.g. 90d and "
            "30d) or both as bar counts (e.g. 2000 and 500)"
        )
    ts = np.asarray(ts, dtype=np.int64)
    if ts.size == 0:
        raise DataError("walk-forward: no bars in the chosen range; widen --start/--end")
    tf = timeframe_to_ms(timeframe)
    if train.kind == "bars":
        bounds = _bar_bounds(ts, tf, train.value, test.value, anchored)
    else:
        bounds = _time_bounds(ts, tf, train.value, test.value, anchored)
    windows = []
    for a, b, c in bounds:
        n_train = int(np.searchsorted(ts, b) - np.searchsorted(ts, a))
        n_test = int(np.searchsorted(ts, c) - np.searchsorted(ts, b))
        if n_train and n_test:
            windows.append(Window(len(windows), a, b, b, c, n_train, n_test))
    if not windows:
        have = f"{ts.size} bars from {format_utc_ms(int(ts[0]))} to {format_utc_ms(int(ts[-1]) + tf)}"
        raise ConfigError(
            f"walk-forward: --train {train.text} + --test {test.text} does not fit in the data "
            f"({have}); shorten --train/--test or widen --start/--end"
        )
    return windows


def _bar_bounds(ts: np.ndarray, tf: int, train: int, test: int, anchored: bool
                ) -> list[tuple[int, int, int]]:
    n = ts.size

    def at(i: int) -> int:
        return int(ts[i]) if i < n else int(ts[-1]) + tf

    out = []
    first = 0
    while first + train + test <= n:
        out.append((at(0) if anchored else at(first), at(first + train), at(first + train + test)))
        first += test
    return out


def _time_bounds(ts: np.ndarray, tf: int, train: int, test: int, anchored: bool
                 ) -> list[tuple[int, int, int]]:
    t0, end = int(ts[0]), int(ts[-1]) + tf
    out = []
    s = t0
    while s + train + test <= end:
        out.append((t0 if anchored else s, s + train, s + train + test))
        s += test
    return out
