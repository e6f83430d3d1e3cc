"""OKX candlesticks from replayed bars (docs v5 "Get candlesticks" / "Get candlesticks
history": ``GET /api/v5/market/candles`` and ``/market/history-candles``).

Parameters: ``instId``, ``bar`` (``1m``, ``1H``...; ``1Hutc``-style for 6h and more),
``after`` ("Pagination of data to return records earlier than the requested ``ts``"),
``before`` ("return records newer than the requested ``ts``"), ``limit`` (default 100,
max 300 for candles, 100 for history). Each row is ``[ts, o, h, l, c, vol, volCcy,
volCcyQuote, confirm]`` as strings, newest first; ``confirm`` is "0" for the candle
still in progress, "1" for a completed one. The bar in progress (the emulator's
current index) is served with its open price as open/high/low/close and no volume.

>>> from venues.common.bars import sample_bars
>>> rows = candles(sample_bars("BTC/USDT"), index=3, tf_ms=3_600_000, after=None, before=None,
...                limit=2)
>>> [(r[0], r[8]) for r in rows]
[('1606791600000', '0'), ('1606788000000', '1')]
"""

from __future__ import annotations

import numpy as np

from venues.common.bars import Bars
from venues.common.money import ZERO, plain
from venues.okx_spot.errors import OkxError

BAR_MS = {"1m": 60_000, "5m": 300_000, "15m": 900_000, "1H": 3_600_000, "4H": 14_400_000,
          "1Dutc": 86_400_000}


def candles(bars: Bars, *, index: int, tf_ms: int, after: int | None, before: int | None,
            limit: int) -> list[list[str]]:
    """Rows visible while bar ``index`` is in progress, newest first."""
    if not 1 <= limit <= 300:
        raise OkxError("51000", "Parameter limit error")
    hi = min(index + 1, len(bars))  # bars [0, hi) exist; index is in progress
    if after is not None:
        hi = min(hi, int(np.searchsorted(bars.ts, after, "left")))
    lo = 0 if before is None else int(np.searchsorted(bars.ts, before, "right"))
    lo = max(lo, hi - limit) if before is None else lo
    chosen = list(range(lo, hi))[-limit:] if before is None else list(range(lo, hi))[:limit]
    return [_row(bars, i, open_bar=i == index) for i in reversed(chosen)]


def _row(bars: Bars, i: int, *, open_bar: bool) -> list[str]:
    o, h, low, c, v = bars.row(i)
    if open_bar:
        h = low = c = o
        v = ZERO
    return [str(int(bars.ts[i])), plain(o), plain(h), plain(low), plain(c), plain(v),
            plain(v), plain(v * c), "0" if open_bar else "1"]
