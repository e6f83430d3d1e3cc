"""Data checks for OHLCV bars: gaps, duplicates, OHLC sanity, time order, grid alignment.

The checks are pure functions over numpy arrays so that the store's write
validation, the CSV/Parquet importer and ``tradeloom data check`` all apply the
same rules, and hypothesis can test them directly. ``CheckAccumulator`` runs them
over a dataset chunk by chunk (one partition at a time), so checking years of
minute bars never needs them all in memory.

Rules (a bar is *bad* when any fails):
    every value finite (no NaN, no inf); ``low > 0`` (a zero or negative trade, mark
    or index price is a feed fault, and a price of 0 would make every notional and
    return downstream meaningless); ``low <= min(open, close)``;
    ``max(open, close) <= high``; ``volume >= 0``.

A *gap* is two consecutive distinct bar times more than one bar apart; it is
reported as ``Gap(from_ts, to_ts, missing)`` where ``from_ts``/``to_ts`` are the
bars either side of the hole and ``missing`` the number of bars absent between them.

>>> import numpy as np
>>> ts = np.array([0, 60_000, 240_000, 240_000], dtype=np.int64)
>>> one = np.ones(4)
>>> report = check_arrays(ts, one, one, one, one, one, timeframe="1m")
>>> report.gaps, report.duplicates, report.ok
((Gap(from_ts=60000, to_ts=240000, missing=2),), (240000,), False)
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field

import numpy as np

from tradeloom.adapters.store.schema import (
    BAR_COLUMNS,
    describe_ts,
    grid_offset_ms,
)
from tradeloom.engine.errors import DataError
from tradeloom.engine.orders import Bar
from tradeloom.engine.timeframes import timeframe_to_ms
from tradeloom.engine.timeutil import format_utc_ms

#: How many examples of each problem a report keeps (counts are always complete).
MAX_EXAMPLES = 5


@dataclass(frozen=True, slots=True)
class Gap:
    """Bars missing between two stored bars ``from_ts`` and ``to_ts``."""

    from_ts: int
    to_ts: int
    missing: int


@dataclass(frozen=True, slots=True)
class BadBar:
    """A bar breaking an OHLC rule: 0-based ``row``, its ``ts``, the column and rule."""

    row: int
    ts: int
    column: str
    reason: str


@dataclass(frozen=True, slots=True)
class OutOfOrder:
    """Row ``row`` opens at ``ts``, earlier than the row before it (``previous_ts``)."""

    row: int
    ts: int
    previous_ts: int


@dataclass(frozen=True, slots=True)
class Misaligned:
    """Row ``row`` opens at ``ts``, which is not on the timeframe's bar grid."""

    row: int
    ts: int


def bad_bar_mask(
    open_: np.ndarray, high: np.ndarray, low: np.ndarray, close: np.ndarray, volume: np.ndarray
) -> np.ndarray:
    """True for every bar that breaks an OHLC rule (see the module docstring).

    >>> bad_bar_mask(*(np.array([v]) for v in (10.0, 9.0, 8.0, 9.5, 1.0))).tolist()
    [True]
    """
    finite = (
        np.isfinite(open_) & np.isfinite(high) & np.isfinite(low) & np.isfinite(close)
        & np.isfinite(volume)
    )
    with np.errstate(invalid="ignore"):
        sane = ((low > 0.0) & (low <= np.minimum(open_, close)) & (np.maximum(open_, close) <= high)
                & (volume >= 0))
    return ~(finite & sane)


def bar_problem(bar: Bar) -> str:
    """What breaks the rules stored bars obey in one bar (``""`` when nothing does): the
    OHLC rules of ``bad_bar_reason``, and a close after the open.

    Bars that enter from outside one at a time (live feeds, journals) get the same rules
    the store applies to every bar it writes.

    >>> bar_problem(Bar("BTC/USDT", 0, 60_000, 10.0, 11.0, 9.0, 10.5, 1.0))
    ''
    >>> bar_problem(Bar("BTC/USDT", 0, 60_000, 10.0, 9.0, 8.0, 9.5, 1.0))
    "column 'high': high 9.0 < open 10.0"
    >>> bar_problem(Bar("BTC/USDT", 60_000, 60_000, 10.0, 11.0, 9.0, 10.5, 1.0))
    'close_ts 60000 is not after ts 60000'
    """
    column, reason = bad_bar_reason(bar.open, bar.high, bar.low, bar.close, bar.volume)
    if column:
        return f"column {column!r}: {reason}"
    if not bar.close_ts > bar.ts:
        return f"close_ts {bar.close_ts} is not after ts {bar.ts}"
    return ""


def check_bar(bar: Bar, where: str) -> Bar:
    """``bar`` if it passes ``bar_problem``, else a ``DataError`` naming ``where``, the
    symbol, the bar's open time and the rule it breaks."""
    problem = bar_problem(bar)
    if problem:
        raise DataError(f"{where}: {bar.symbol} bar at ts {describe_ts(int(bar.ts))}: {problem}")
    return bar


def bad_bar_reason(
    open_: float, high: float, low: float, close: float, volume: float
) -> tuple[str, str]:
    """The column at fault and the broken rule of one bar, for messages.

    >>> bad_bar_reason(10.0, 9.0, 8.0, 9.5, 1.0)
    ('high', 'high 9.0 < open 10.0')
    >>> bad_bar_reason(10.0, 11.0, 8.0, 9.5, -1.0)
    ('volume', 'volume -1.0 < 0')
    >>> bad_bar_reason(0.5, 1.0, 0.0, 0.5, 1.0)
    ('low', 'low 0.0 is not a positive price')
    """
    values = {"open": open_, "high": high, "low": low, "close": close, "volume": volume}
    for name, value in values.items():
        if not math.isfinite(value):
            return name, f"{name} is {value}"
    if high < low:
        return "high", f"high {high} < low {low}"
    if low <= 0.0:
        return "low", f"low {low} is not a positive price"
    lowest = "open" if open_ <= close else "close"
    if low > values[lowest]:
        return "low", f"low {low} > {lowest} {values[lowest]}"
    highest = "open" if open_ >= close else "close"
    if high < values[highest]:
        return "high", f"high {high} < {highest} {values[highest]}"
    if volume < 0:
        return "volume", f"volume {volume} < 0"
    return "", "ok"


def misaligned_mask(ts: np.ndarray, timeframe_ms: int, offset_ms: int = 0) -> np.ndarray:
    """True where a bar open time is not ``offset_ms + k * timeframe_ms``.

    >>> misaligned_mask(np.array([0, 30_000, 60_000]), 60_000).tolist()
    [False, True, False]
    """
    return (ts - offset_ms) % timeframe_ms != 0


def out_of_order_rows(ts: np.ndarray) -> np.ndarray:
    """0-based rows whose ts is earlier than the row before (equal ts is a duplicate, not this).

    >>> out_of_order_rows(np.array([0, 2, 1, 3, 3])).tolist()
    [2]
    """
    return np.flatnonzero(ts[1:] < ts[:-1]) + 1


def duplicate_rows(ts: np.ndarray) -> np.ndarray:
    """0-based rows whose ts already appeared on an earlier row (in any order).

    >>> duplicate_rows(np.array([5, 1, 5, 1, 2])).tolist()
    [2, 3]
    """
    if len(ts) == 0:
        return np.empty(0, dtype=np.int64)
    order = np.argsort(ts, kind="stable")
    sorted_ts = ts[order]
    repeat = np.concatenate(([False], sorted_ts[1:] == sorted_ts[:-1]))
    return np.sort(order[repeat])


def find_gaps(ts: np.ndarray, timeframe_ms: int) -> list[Gap]:
    """Every hole of at least one bar between consecutive distinct times of ``ts``.

    ``ts`` may be unsorted and hold duplicates; gaps are found on its sorted
    distinct values.

    >>> find_gaps(np.array([0, 60_000, 300_000]), 60_000)
    [Gap(from_ts=60000, to_ts=300000, missing=3)]
    """
    unique = np.unique(ts)
    steps = np.diff(unique)
    where = np.flatnonzero(steps >= 2 * timeframe_ms)
    return [
        Gap(int(unique[i]), int(unique[i + 1]), int(steps[i] // timeframe_ms - 1)) for i in where
    ]


@dataclass(frozen=True, slots=True)
class CheckReport:
    """Everything wrong with one dataset; counts are complete, examples the first few."""

    exchange: str
    timeframe: str
    symbol: str
    rows: int
    first_ts: int | None
    last_ts: int | None
    gap_count: int
    missing_bars: int
    gaps: tuple[Gap, ...]
    longest_gap: Gap | None
    duplicate_count: int
    duplicates: tuple[int, ...]
    bad_bar_count: int
    bad_bars: tuple[BadBar, ...]
    out_of_order_count: int
    out_of_order: tuple[OutOfOrder, ...]
    misaligned_count: int
    misaligned: tuple[Misaligned, ...]
    integrity: tuple[str, ...] = field(default=())
    known_gap_count: int = 0
    known_missing: int = 0
    kind: str = "ohlcv"

    @property
    def ok(self) -> bool:
        """No problem of any kind (gaps included)."""
        return not self.problems()

    @property
    def ok_except_gaps(self) -> bool:
        """No problem other than gaps (exchanges do have outages)."""
        return not self.problems(include_gaps=False)

    def problems(self, include_gaps: bool = True) -> list[str]:
        """One readable line per kind of problem found."""
        lines = list(self.integrity)
        if include_gaps and self.gap_count:
            longest = self.longest_gap
            lines.append(
                f"{self.gap_count} gaps, {self.missing_bars} bars missing"
                + (f"; longest {longest.missing} bars after {describe_ts(longest.from_ts)}"
                   if longest else "")
            )
        if self.duplicate_count:
            lines.append(
                f"{self.duplicate_count} duplicate rows, first at ts "
                f"{describe_ts(self.duplicates[0])}"
            )
        if self.bad_bar_count:
            first = self.bad_bars[0]
            lines.append(f"{self.bad_bar_count} bad bars, first row {first.row}: {first.reason}")
        if self.out_of_order_count:
            first = self.out_of_order[0]
            lines.append(
                f"{self.out_of_order_count} rows out of time order, first row {first.row}"
            )
        if self.misaligned_count:
            first = self.misaligned[0]
            lines.append(
                f"{self.misaligned_count} bar times off the {self.timeframe} grid, first "
                f"{describe_ts(first.ts)}"
            )
        return lines

    def known_line(self) -> str | None:
        """``6 known gaps (11 bars) acknowledged`` when any gap was acknowledged."""
        if not self.known_gap_count:
            return None
        return (f"{self.known_gap_count} known gaps ({self.known_missing} bars) acknowledged; "
                "see 'tradeloom data gaps list'")

    def to_dict(self) -> dict:
        """JSON-ready dict (ints for times, plus ISO strings for the range)."""
        data = asdict(self)
        data["ok"] = self.ok
        data["problems"] = self.problems()
        data["first"] = format_utc_ms(self.first_ts) if self.first_ts is not None else None
        data["last"] = format_utc_ms(self.last_ts) if self.last_ts is not None else None
        return data


class CheckAccumulator:
    """Runs the checks over a dataset fed in time-ordered, time-disjoint chunks.

    Row numbers in the report are 0-based positions over all chunks fed.
    """

    def __init__(self, timeframe: str, known: list[tuple[int, int]] | None = None, *,
                 gap_ms: int | None = None, grid: bool = True, kind: str = "ohlcv") -> None:
        self.timeframe = timeframe
        self.kind = kind
        self._tf_ms = gap_ms if gap_ms is not None else timeframe_to_ms(timeframe)
        self._grid = grid and bool(timeframe)
        self._offset = grid_offset_ms(timeframe) if timeframe else 0
        self._known = merge_ranges(known or [])
        self._known_count = 0
        self._known_missing = 0
        self._rows = 0
        self._first: int | None = None
        self._last: int | None = None
        self._max: int | None = None
        self._gap_count = 0
        self._missing = 0
        self._gaps: list[Gap] = []
        self._longest: Gap | None = None
        self._dup_count = 0
        self._dups: list[int] = []
        self._bad_count = 0
        self._bad: list[BadBar] = []
        self._order_count = 0
        self._order: list[OutOfOrder] = []
        self._misaligned_count = 0
        self._misaligned: list[Misaligned] = []
        self._integrity: list[str] = []

    def add_integrity(self, message: str) -> None:
        """Record a store-level problem (missing file, fingerprint mismatch...)."""
        self._integrity.append(message)

    def feed(self, ts: np.ndarray, open_: np.ndarray, high: np.ndarray, low: np.ndarray,
             close: np.ndarray, volume: np.ndarray) -> None:
        """Check the next chunk of bars (its times must not precede earlier chunks')."""
        n = len(ts)
        if n == 0:
            return
        self._feed_bad_bars(ts, open_, high, low, close, volume, self._rows)
        self._feed_common(ts)

    def feed_rows(self, ts: np.ndarray, bad: np.ndarray,
                  reason: Callable[[int], tuple[str, str]], *, unique: bool = True) -> None:
        """Check the next chunk of rows of any kind: ``bad`` flags rows breaking the
        kind's value rules and ``reason(i)`` names the column and rule of row ``i``."""
        if len(ts) == 0:
            return
        idx = np.flatnonzero(bad)
        self._bad_count += len(idx)
        for i in idx[: MAX_EXAMPLES - len(self._bad)]:
            column, why = reason(int(i))
            self._bad.append(BadBar(self._rows + int(i), int(ts[i]), column, why))
        self._feed_common(ts, unique=unique)

    def _feed_common(self, ts: np.ndarray, unique: bool = True) -> None:
        n = len(ts)
        base = self._rows
        misaligned = (np.flatnonzero(misaligned_mask(ts, self._tf_ms, self._offset))
                      if self._grid else np.empty(0, dtype=np.int64))
        self._misaligned_count += len(misaligned)
        for i in misaligned[: MAX_EXAMPLES - len(self._misaligned)]:
            self._misaligned.append(Misaligned(base + int(i), int(ts[i])))
        order = out_of_order_rows(ts)
        if self._last is not None and ts[0] < self._last:
            order = np.concatenate(([0], order))
        self._order_count += len(order)
        for i in order[: MAX_EXAMPLES - len(self._order)]:
            previous = int(ts[i - 1]) if i > 0 else int(self._last)
            self._order.append(OutOfOrder(base + int(i), int(ts[i]), previous))
        if unique:
            dups = duplicate_rows(ts)
            dup_ts = np.unique(ts[dups]).tolist()
            if self._last is not None and int(ts[0]) == self._last:
                self._dup_count += 1
                dup_ts = [self._last] + dup_ts
            self._dup_count += len(dups)
            self._dups.extend(int(t) for t in dup_ts[: MAX_EXAMPLES - len(self._dups)])
        if self._tf_ms:
            self._feed_gaps(ts)
        self._rows += n
        self._first = int(ts[0]) if self._first is None else self._first
        self._last = int(ts[-1])
        chunk_max = int(ts.max())
        self._max = chunk_max if self._max is None else max(self._max, chunk_max)

    def _feed_bad_bars(self, ts, open_, high, low, close, volume, base: int) -> None:
        bad = np.flatnonzero(bad_bar_mask(open_, high, low, close, volume))
        self._bad_count += len(bad)
        for i in bad[: MAX_EXAMPLES - len(self._bad)]:
            column, reason = bad_bar_reason(
                float(open_[i]), float(high[i]), float(low[i]), float(close[i]), float(volume[i])
            )
            self._bad.append(BadBar(base + int(i), int(ts[i]), column, reason))

    def _feed_gaps(self, ts: np.ndarray) -> None:
        if self._max is not None:
            ts = np.concatenate(([self._max], ts[ts > self._max]))
        for gap in find_gaps(ts, self._tf_ms):
            if covered(self._known, gap.from_ts + self._tf_ms, gap.to_ts):
                self._known_count += 1
                self._known_missing += gap.missing
                continue
            self._gap_count += 1
            self._missing += gap.missing
            if len(self._gaps) < MAX_EXAMPLES:
                self._gaps.append(gap)
            if self._longest is None or gap.missing > self._longest.missing:
                self._longest = gap

    def report(self, exchange: str = "", symbol: str = "") -> CheckReport:
        """The findings so far as a frozen report."""
        return CheckReport(
            exchange=exchange, timeframe=self.timeframe, symbol=symbol, rows=self._rows,
            first_ts=self._first, last_ts=self._last,
            gap_count=self._gap_count, missing_bars=self._missing, gaps=tuple(self._gaps),
            longest_gap=self._longest, duplicate_count=self._dup_count,
            duplicates=tuple(self._dups), bad_bar_count=self._bad_count,
            bad_bars=tuple(self._bad), out_of_order_count=self._order_count,
            out_of_order=tuple(self._order), misaligned_count=self._misaligned_count,
            misaligned=tuple(self._misaligned), integrity=tuple(self._integrity),
            known_gap_count=self._known_count, known_missing=self._known_missing, kind=self.kind,
        )


def merge_ranges(ranges: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Sorted, non-overlapping union of half-open ``[from, to)`` ranges.

    >>> merge_ranges([(5, 9), (0, 3), (3, 4), (8, 12)])
    [(0, 4), (5, 12)]
    """
    merged: list[tuple[int, int]] = []
    for lo, hi in sorted(ranges):
        if merged and lo <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], hi))
        else:
            merged.append((lo, hi))
    return merged


def covered(ranges: list[tuple[int, int]], lo: int, hi: int) -> bool:
    """Whether ``[lo, hi)`` lies inside one of the merged ``ranges``.

    >>> covered([(0, 4), (5, 12)], 6, 12), covered([(0, 4), (5, 12)], 3, 6)
    (True, False)
    """
    for a, b in ranges:
        if a <= lo and hi <= b:
            return True
        if a > lo:
            return False
    return False


def check_arrays(ts: np.ndarray, open_: np.ndarray, high: np.ndarray, low: np.ndarray,
                 close: np.ndarray, volume: np.ndarray, *, timeframe: str,
                 exchange: str = "", symbol: str = "") -> CheckReport:
    """Run every check over one set of bar arrays (rows in the order given)."""
    acc = CheckAccumulator(timeframe)
    acc.feed(np.asarray(ts, dtype=np.int64), *(np.asarray(a, dtype=np.float64)
                                               for a in (open_, high, low, close, volume)))
    return acc.report(exchange, symbol)


def check_frame(frame: Mapping[str, np.ndarray], timeframe: str, *, exchange: str = "",
                symbol: str = "") -> CheckReport:
    """Run every check over a DataFrame (or mapping) with the bar columns."""
    return check_arrays(*(np.asarray(frame[c]) for c in BAR_COLUMNS), timeframe=timeframe,
                        exchange=exchange, symbol=symbol)
