"""Numba passes over bar arrays that the fast path's input checks need: one pass each, no
temporaries, so checking a million bars costs about a millisecond instead of the dozen a
chain of numpy expressions (``np.diff``, ``np.isfinite``, comparisons) allocates.

Nothing here raises: the callers (``api``, ``bar_length``) turn the indices into errors
that name the row and the fix.

>>> import numpy as np
>>> ts = np.array([0, 60_000, 120_000, 240_000, 300_000], dtype=np.int64)
>>> int(majority_step_nb(ts)[0]), int(majority_step_nb(ts)[1])
(60000, 3)
>>> px = np.array([1.0, 2.0, np.nan, 4.0, 5.0])
>>> first_bad_rows_nb(ts, px, px, px, px).tolist()
[-1, 2, 2, 2, 2]
"""

from __future__ import annotations

import numpy as np
from numba import njit

__all__ = ["first_bad_rows_nb", "majority_step_nb"]


@njit(cache=True)
def _increasing(ts):
    ok = True
    for i in range(1, ts.shape[0]):
        ok &= ts[i] > ts[i - 1]
    return ok


@njit(cache=True)
def _positive_finite(x):
    ok = True
    for i in range(x.shape[0]):
        v = x[i]
        ok &= (v > 0.0) & (v < np.inf)
    return ok


@njit(cache=True)
def first_bad_rows_nb(ts, open_, high, low, close):
    """First offending row of each check, -1 when none: ``[ts, open, high, low, close]``.

    ``ts`` row ``i`` offends when it is not after row ``i - 1``; a price when it is not a
    finite number > 0 (NaN fails the comparison, as ``np.isfinite(x) & (x > 0)`` does).
    Each check is one branch-free pass (vectorised by LLVM); the row is searched only
    when a check fails.
    """
    n = ts.shape[0]
    out = np.full(5, -1, dtype=np.int64)
    if not _increasing(ts):
        for i in range(1, n):
            if ts[i] <= ts[i - 1]:
                out[0] = i
                break
    cols = (open_, high, low, close)
    for k in range(4):
        x = cols[k]
        if _positive_finite(x):
            continue
        for i in range(n):
            v = x[i]
            if not (v > 0.0 and v < np.inf):
                out[k + 1] = i
                break
    return out


@njit(cache=True)
def majority_step_nb(ts):
    """``(step, count)``: the step between consecutive ``ts`` that a majority of steps
    take, if any, and how many steps take it (Boyer-Moore vote, then a count).

    When no step holds a strict majority the returned step is just the vote's last
    candidate; the caller compares ``count`` with the number of steps.
    """
    n = ts.shape[0]
    cand = np.int64(0)
    votes = 0
    for i in range(1, n):
        d = ts[i] - ts[i - 1]
        if votes == 0:
            cand = d
            votes = 1
        elif d == cand:
            votes += 1
        else:
            votes -= 1
    count = 0
    for i in range(1, n):
        if ts[i] - ts[i - 1] == cand:
            count += 1
    return cand, count
