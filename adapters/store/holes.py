"""Which ranges of a dataset are missing: what an ingest must fetch (again).

``missing_ranges`` turns the stored times inside ``[start, end)`` into the half-open
ranges to fetch: before the first stored row, every hole between rows more than one
period apart (bars and open interest, which have a grid), and after the last row;
ranges acknowledged as known gaps (including ranges an exchange already confirmed
empty) are left out. Funding and trades have no grid, so only their ends are missing.

>>> missing_ranges(np.array([120, 180, 420]), 60, 0, 600, grid=True, known=[])
[(0, 120), (240, 420), (480, 600)]
>>> missing_ranges(np.array([120, 180, 420]), 60, 0, 600, grid=True, known=[(240, 420)])
[(0, 120), (480, 600)]
"""

from __future__ import annotations

import numpy as np

from tradeloom.adapters.store.checks import merge_ranges


def align_up(ts: int, step: int, offset: int = 0) -> int:
    """The first grid time ``offset + k * step`` at or after ``ts``.

    >>> align_up(61, 60), align_up(60, 60)
    (120, 60)
    """
    return ts + (-(ts - offset)) % step


def missing_ranges(ts: np.ndarray, step: int, start: int, end: int, *, grid: bool,
                   known: list[tuple[int, int]], offset: int = 0) -> list[tuple[int, int]]:
    """Half-open ranges inside ``[start, end)`` with no stored row (see the module doc)."""
    if end <= start:
        return []
    ts = np.unique(ts[(ts >= start) & (ts < end)])
    first = align_up(start, step, offset) if grid and step else start
    ranges: list[tuple[int, int]] = []
    if len(ts) == 0:
        ranges.append((first, end))
    else:
        if ts[0] > first:
            ranges.append((first, int(ts[0])))
        if grid and step:
            steps = np.diff(ts)
            for i in np.flatnonzero(steps > step):
                ranges.append((int(ts[i]) + step, int(ts[i + 1])))
        after = int(ts[-1]) + (step if grid and step else 1)
        if after < end:
            ranges.append((after, end))
    return subtract(ranges, known)


def subtract(ranges: list[tuple[int, int]], known: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """``ranges`` minus the union of ``known`` (all half-open).

    >>> subtract([(0, 10), (20, 30)], [(5, 25)])
    [(0, 5), (25, 30)]
    """
    out: list[tuple[int, int]] = []
    cover = merge_ranges(known)
    for lo, hi in ranges:
        cursor = lo
        for a, b in cover:
            if b <= cursor or a >= hi:
                continue
            if a > cursor:
                out.append((cursor, a))
            cursor = max(cursor, b)
            if cursor >= hi:
                break
        if cursor < hi:
            out.append((cursor, hi))
    return out


__all__ = ["align_up", "missing_ranges", "subtract"]
