"""Small builders shared by the engine-loop tests (bars from rows, recording strategies)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from tradeloom.engine.run.feeds import BarArrays
from tradeloom.engine.strategy.base import Strategy

MIN = 60_000


def bars(rows: Sequence[tuple[float, float, float, float]], *, start: int = 0, volume: float = 1e9) -> BarArrays:
    """BarArrays from (open, high, low, close) rows, one minute apart from ``start``."""
    arr = np.asarray(rows, dtype=np.float64).reshape(len(rows), 4)
    ts = start + np.arange(len(rows), dtype=np.int64) * MIN
    return BarArrays(ts, arr[:, 0], arr[:, 1], arr[:, 2], arr[:, 3], np.full(len(rows), volume))


def random_walk(n: int, seed: int, start_price: float = 100.0) -> BarArrays:
    """A plausible OHLC random walk (high >= open, close >= low) of ``n`` one-minute bars."""
    rng = np.random.default_rng(seed)
    close = start_price * np.exp(np.cumsum(rng.normal(0.0, 0.01, n)))
    open_ = np.r_[start_price, close[:-1]] * np.exp(rng.normal(0.0, 0.002, n))
    high = np.maximum(open_, close) * (1 + rng.uniform(0, 0.01, n))
    low = np.minimum(open_, close) * (1 - rng.uniform(0, 0.01, n))
    ts = np.arange(n, dtype=np.int64) * MIN
    return BarArrays(ts, open_, high, low, close, rng.uniform(1.0, 100.0, n))


class Do(Strategy):
    """Calls ``plan[i](ctx)`` at bar ``i``'s close; ``seen`` records what each call returns
    (``start(ctx)``, when given, runs in ``on_start``)."""

    def __init__(self, plan, start=None):
        super().__init__()
        self.plan, self.start, self.i, self.seen = plan, start, -1, {}

    def on_start(self, ctx):
        if self.start is not None:
            self.start(ctx)

    def on_bar(self, ctx, bar):
        self.i += 1
        if self.i in self.plan:
            self.seen[self.i] = self.plan[self.i](ctx)
