"""Streaming computation of a feature pipeline, one closed bar at a time.

:class:`OnlineFeatures` is what ``FeaturePipeline.online()`` returns: each
feature's streaming step (ring buffers, streaming indicators) advanced once per
bar, bit-identical to ``FeaturePipeline.batch`` on the same bars (the contract
and the NaN policy are in ``features.py``). The event engine and live trading
keep one per symbol.

>>> from tradeloom.research.features.pipeline import Feature, FeaturePipeline
>>> online = FeaturePipeline((Feature("r1", "ret", {"horizon": 1}),)).online()
>>> [online.update({"ts": t * 3_600_000, "close": c}).tolist() for t, c in enumerate((2.0, 3.0))]
[[nan], [0.5]]
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from tradeloom.engine.errors import DataError
from tradeloom.engine.timeframes import timeframe_to_ms
from tradeloom.research.features.kinds_base import Step

if TYPE_CHECKING:
    from tradeloom.research.features.pipeline import FeaturePipeline

__all__ = ["OnlineFeatures"]

NAN = math.nan


class OnlineFeatures:
    """Streaming twin of ``FeaturePipeline.batch`` for one symbol.

    ``update(bar)`` takes one closed bar (a dict, pandas row, or an object with
    attributes such as ``engine.orders.Bar``) and returns the feature vector as a
    float64 array in ``names`` order (``as_dict`` labels it). Bars must arrive once,
    in time order. Market bars go to ``update_market(bar)`` as they close, in any
    interleaving with ``update``: a bar's market features use the latest market bar
    with close time <= the bar's close time, exactly like the batch as-of join.
    """

    def __init__(self, pipeline: FeaturePipeline) -> None:
        self.pipeline = pipeline
        self.names = pipeline.names
        self.warmup = pipeline.warmup
        self._tf_ms = timeframe_to_ms(pipeline.timeframe)
        self._mtf_ms = timeframe_to_ms(pipeline.market_timeframe or pipeline.timeframe)
        self._fields = pipeline.inputs("bars")
        self._mfields = pipeline.inputs("market")
        self._steps: list[tuple[int, Step]] = []
        self._msteps: list[tuple[int, int, Step]] = []
        for j, (f, (kind, params)) in enumerate(
                zip(pipeline.features, pipeline.resolved_kinds, strict=True)):
            if f.source == "bars":
                self._steps.append((j, kind.stream(params)))
            else:
                self._msteps.append((j, f.lookback or 0, kind.stream(params)))
        self._mpos = np.array([j for j, _, _ in self._msteps], dtype=np.int64)
        self._mnow = np.full(len(self._msteps), NAN)
        self._pending: deque[tuple[int, np.ndarray]] = deque()
        self.bars_seen = 0
        self.market_seen = 0
        self._last_ts: int | None = None
        self._last_mts: int | None = None

    def update(self, bar: Any) -> np.ndarray:
        """Features of this newly closed bar (all NaN during the first ``warmup`` bars)."""
        row = _read_bar(bar, self._fields, "bar")
        ts = row["ts"]
        if self._last_ts is not None and ts <= self._last_ts:
            raise DataError(
                f"online features: bar ts {ts} is not after the previous bar's ts "
                f"{self._last_ts}; feed each closed bar once, in time order"
            )
        self._last_ts = ts
        out = np.empty(len(self.names))
        for j, step in self._steps:
            out[j] = step(row)
        if self._msteps:
            close = ts + self._tf_ms
            pending = self._pending
            while pending and pending[0][0] <= close:
                self._mnow = pending.popleft()[1]
            out[self._mpos] = self._mnow
        self.bars_seen += 1
        if self.bars_seen <= self.warmup:
            out[:] = NAN
        return out

    def update_market(self, bar: Any) -> None:
        """Feed one closed market bar (e.g. BTC) for the ``source='market'`` features."""
        if not self._msteps:
            return
        row = _read_bar(bar, self._mfields, "market bar")
        ts = row["ts"]
        if self._last_mts is not None and ts <= self._last_mts:
            raise DataError(
                f"online features: market bar ts {ts} is not after the previous market bar's "
                f"ts {self._last_mts}; feed each closed market bar once, in time order"
            )
        self._last_mts = ts
        n = self.market_seen
        values = np.empty(len(self._msteps))
        for i, (_, lookback, step) in enumerate(self._msteps):
            v = step(row)  # always step, so the stream warms up
            values[i] = v if n >= lookback else NAN
        self.market_seen += 1
        self._pending.append((ts + self._mtf_ms, values))

    def prime(self, bars: pd.DataFrame, market: pd.DataFrame | None = None) -> np.ndarray:
        """Feed a history (oldest first), interleaving market bars by close time; return
        the last bar's features. Use it to start live trading from the batch's state."""
        mrows = market.to_dict("records") if market is not None else []
        mclose = [int(r["ts"]) + self._mtf_ms for r in mrows]
        k = 0
        out = np.full(len(self.names), NAN)
        for row in bars.to_dict("records"):
            close = int(row["ts"]) + self._tf_ms
            while k < len(mrows) and mclose[k] <= close:
                self.update_market(mrows[k])
                k += 1
            out = self.update(row)
        return out

    def as_dict(self, values: np.ndarray) -> dict[str, float]:
        """Label a feature vector from ``update`` with the feature names."""
        return dict(zip(self.names, (float(v) for v in values), strict=True))


def _read_bar(bar: Any, fields: tuple[str, ...], what: str) -> dict[str, Any]:
    """The ``fields`` of one bar as Python floats (``ts`` as int)."""
    get = bar.__getitem__ if isinstance(bar, Mapping | pd.Series) else bar.__getattribute__
    try:
        row = {k: float(get(k)) for k in fields if k != "ts"}
        row["ts"] = int(get("ts"))
    except (KeyError, AttributeError) as exc:
        raise DataError(
            f"online features: {what} has no field {exc.args[0]!r}; the pipeline reads {fields}"
        ) from None
    return row
