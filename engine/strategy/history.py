"""Bounded per-symbol bar history, cheap to append and cheap to read as numpy.

The loop appends each closed bar to a Python list (tens of nanoseconds). Reading
``history(n, field)`` first moves the bars appended since the last read into a
columnar numpy buffer in one vectorised step, then copies the last ``n`` values
out. Memory is bounded by ``2 * capacity`` rows whatever the run length, and per
bar cost does not depend on ``capacity``.

>>> h = BarHistory(capacity=3)
>>> for i in range(5):
...     h.append(Bar("BTC/USDT", i * 60_000, (i + 1) * 60_000, 1.0 + i, 2.0 + i, 0.5 + i, 1.5 + i, 10.0))
>>> h.get(2, "close").tolist()
[4.5, 5.5]
>>> h.get(9, "ts").tolist()  # never more than what is stored (capacity 3)
[120000, 180000, 240000]
"""

from __future__ import annotations

import numpy as np

from tradeloom.engine.errors import StrategyError
from tradeloom.engine.orders import Bar

#: Field name -> index in ``Bar`` (``symbol`` and ``close_ts`` are not columns).
FIELDS: dict[str, int] = {"ts": 1, "open": 3, "high": 4, "low": 5, "close": 6, "volume": 7}
_FLOAT_FIELDS = ("open", "high", "low", "close", "volume")


class BarHistory:
    """The last ``capacity`` closed bars of one symbol."""

    __slots__ = ("_cols", "_end", "_pending", "_size", "_ts", "capacity")

    def __init__(self, capacity: int) -> None:
        if capacity < 1:
            raise StrategyError(f"history capacity must be >= 1, got {capacity}")
        self.capacity = capacity
        self._pending: list[Bar] = []
        rows = 2 * capacity
        self._ts = np.zeros(rows, dtype=np.int64)
        self._cols = np.zeros((len(_FLOAT_FIELDS), rows), dtype=np.float64)
        self._end = 0  # one past the last stored row
        self._size = 0  # stored rows that are valid (<= capacity)

    def __len__(self) -> int:
        return min(self._size + len(self._pending), self.capacity)

    def append(self, bar: Bar) -> None:
        pending = self._pending
        pending.append(bar)
        if len(pending) > self.capacity:
            del pending[: len(pending) - self.capacity]

    def _sync(self) -> None:
        pending = self._pending
        if not pending:
            return
        k = len(pending)
        rows = self._ts.shape[0]
        if self._end + k > rows:
            # Slide the live window to the front; amortised O(1) per bar.
            keep = min(self._size, self.capacity - k) if k < self.capacity else 0
            if keep:
                self._ts[:keep] = self._ts[self._end - keep : self._end]
                self._cols[:, :keep] = self._cols[:, self._end - keep : self._end]
            self._end = keep
            self._size = keep
        cols = list(zip(*pending))
        end = self._end
        self._ts[end : end + k] = cols[1]
        self._cols[:, end : end + k] = np.array(cols[3:8], dtype=np.float64)
        self._end = end + k
        self._size = min(self._size + k, self.capacity)
        pending.clear()

    def get(self, n: int, field: str = "close") -> np.ndarray:
        """A fresh array of the last ``min(n, len(self))`` values of ``field``, oldest first."""
        index = FIELDS.get(field)
        if index is None:
            raise StrategyError(
                f"history field {field!r} is unknown; use one of {', '.join(FIELDS)}"
            )
        self._sync()
        n = min(n, self._size)
        start = self._end - n
        if field == "ts":
            return self._ts[start : self._end].copy()
        return self._cols[_FLOAT_FIELDS.index(field), start : self._end].copy()
