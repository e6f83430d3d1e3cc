"""Market regime per symbol: trending, ranging or volatile, from closed bars only.

The rule (one bar at a time, ``prev`` = the regime after the previous bar):

1. **warmup** while ADX or the volatility percentile is undefined;
2. **volatile** when ``vol_pct > vol_enter`` (default 0.80), or when ``prev`` was
   volatile and ``vol_pct >= vol_exit`` (0.70);
3. else **trending** when ``ADX > adx_enter`` (25), or when ``prev`` was trending
   and ``ADX >= adx_exit`` (20);
4. else **ranging**.

Volatility is checked first on purpose (risk first): a market moving in a straight
line but with the wildest swings of the last month is traded as volatile (the
selector's default is to stand aside), not as a trend. The two thresholds per
figure are the hysteresis: entering needs the higher one, staying needs only
the lower one, so an ADX wobbling around 25 does not flip the regime every bar.

Figures:

- ``ADX(adx_period)``: Wilder's ADX, the engine's ``adx`` / ``ADX`` (bit-identical);
- ``vol``: the engine's realized vol of the last ``vol_period`` log returns;
- ``vol_pct``: the share of the last ``vol_window`` vol values (the current one
  included) that are ``<=`` the current one; defined once ``vol_window``
  consecutive vol values exist (a hole in the data restarts the count).

Two forms that agree exactly on every bar (``tests/unit/research/test_regime.py``):
:func:`classify` over whole arrays (backtests, research, the CLI) and
:class:`RegimeTracker` updated once per closed bar (live, the selector strategy).
Both are causal: the reading at bar ``i`` uses bars ``0..i`` only.

>>> import numpy as np
>>> cfg = RegimeConfig(adx_period=2, vol_period=2, vol_window=3)
>>> close = np.array([10.0, 11, 12, 13, 14, 15, 16, 17])
>>> [str(r) for r in classify(close + 0.5, close - 0.5, close, cfg).regime]
['warmup', 'warmup', 'warmup', 'warmup', 'trending', 'trending', 'trending', 'trending']
>>> next_regime(Regime.RANGING, adx=30.0, vol_pct=0.5, cfg=RegimeConfig())
<Regime.TRENDING: 'trending'>
>>> next_regime(Regime.TRENDING, adx=22.0, vol_pct=0.5, cfg=RegimeConfig())
<Regime.TRENDING: 'trending'>
"""

from __future__ import annotations

import bisect
import math
from collections import deque
from dataclasses import dataclass
from enum import Enum
from typing import Any

import numpy as np
from pydantic import Field, model_validator

from tradeloom.engine.config import StrictModel
from tradeloom.engine.errors import DataError
from tradeloom.engine.indicators.registry import ADX, RealizedVol, adx, realized_vol
from tradeloom.engine.timeframes import timeframe_to_ms
from tradeloom.engine.timeutil import format_utc_ms

__all__ = ["Regime", "RegimeConfig", "RegimeReading", "RegimeSeries", "RegimeStatus",
           "RegimeTracker", "classify", "next_regime", "regime_as_of"]


class Regime(str, Enum):
    WARMUP = "warmup"
    TRENDING = "trending"
    RANGING = "ranging"
    VOLATILE = "volatile"

    def __str__(self) -> str:
        return self.value


class RegimeConfig(StrictModel):
    """Thresholds and windows of the regime rule (see the module docstring)."""

    adx_period: int = Field(14, ge=2)
    adx_enter: float = Field(25.0, gt=0, le=100)
    adx_exit: float = Field(20.0, gt=0, le=100)
    vol_period: int = Field(24, ge=2, description="bars of log returns per vol value")
    vol_window: int = Field(720, ge=2, description="bars of vol values the percentile ranks in")
    vol_enter: float = Field(0.8, gt=0, le=1)
    vol_exit: float = Field(0.7, gt=0, le=1)

    @model_validator(mode="after")
    def _exits_below_enters(self) -> RegimeConfig:
        if self.adx_exit > self.adx_enter:
            raise ValueError(f"adx_exit ({self.adx_exit}) must be <= adx_enter ({self.adx_enter})")
        if self.vol_exit > self.vol_enter:
            raise ValueError(f"vol_exit ({self.vol_exit}) must be <= vol_enter ({self.vol_enter})")
        return self


def next_regime(prev: Regime, adx: float, vol_pct: float, cfg: RegimeConfig) -> Regime:
    """The rule itself: the regime after a bar, given the previous one and the figures."""
    if not (math.isfinite(adx) and math.isfinite(vol_pct)):
        return Regime.WARMUP
    if vol_pct > cfg.vol_enter or (prev is Regime.VOLATILE and vol_pct >= cfg.vol_exit):
        return Regime.VOLATILE
    if adx > cfg.adx_enter or (prev is Regime.TRENDING and adx >= cfg.adx_exit):
        return Regime.TRENDING
    return Regime.RANGING


@dataclass(frozen=True, slots=True)
class RegimeReading:
    """The regime after one bar and the figures that decided it."""

    regime: Regime
    adx: float
    vol: float
    vol_pct: float


@dataclass(frozen=True, slots=True)
class RegimeSeries:
    """Batch result: one entry per bar (``regime`` is an object array of ``Regime``)."""

    regime: np.ndarray
    adx: np.ndarray
    vol: np.ndarray
    vol_pct: np.ndarray

    def reading(self, i: int) -> RegimeReading:
        return RegimeReading(self.regime[i], float(self.adx[i]), float(self.vol[i]),
                             float(self.vol_pct[i]))


def _vol_percentile(vol: np.ndarray, window: int) -> np.ndarray:
    out = np.full(vol.shape[0], np.nan)
    if vol.shape[0] < window:
        return out
    wins = np.lib.stride_tricks.sliding_window_view(vol, window)
    cur = vol[window - 1:]
    full = np.isfinite(wins).all(axis=1)
    counts = (wins <= cur[:, None]).sum(axis=1)
    out[window - 1:] = np.where(full, counts / window, np.nan)
    return out


def classify(high: np.ndarray, low: np.ndarray, close: np.ndarray,
             cfg: RegimeConfig | None = None) -> RegimeSeries:
    """Regime after every bar of one symbol (arrays in time order)."""
    cfg = cfg or RegimeConfig()
    a = adx(high, low, close, cfg.adx_period).adx
    vol = realized_vol(close, cfg.vol_period)
    pct = _vol_percentile(vol, cfg.vol_window)
    regimes = np.empty(a.shape[0], dtype=object)
    prev = Regime.WARMUP
    for i in range(a.shape[0]):
        prev = next_regime(prev, float(a[i]), float(pct[i]), cfg)
        regimes[i] = prev
    return RegimeSeries(regimes, a, vol, pct)


class RegimeTracker:
    """The online form of :func:`classify`: feed closed bars, read the regime.

    O(log W) per bar for the percentile (a sorted window; insert and remove by
    bisection), O(1) for the indicators (the engine's streaming ADX and vol).

    >>> t = RegimeTracker(RegimeConfig(adx_period=2, vol_period=2, vol_window=3))
    >>> [str(t.update(c + 0.5, c - 0.5, c).regime) for c in (10.0, 11, 12, 13, 14)]
    ['warmup', 'warmup', 'warmup', 'warmup', 'trending']
    """

    __slots__ = ("_adx", "_fifo", "_sorted", "_vol", "cfg", "last")

    def __init__(self, cfg: RegimeConfig | None = None) -> None:
        self.cfg = cfg or RegimeConfig()
        self._adx = ADX(self.cfg.adx_period)
        self._vol = RealizedVol(self.cfg.vol_period)
        self._fifo: deque[float] = deque()
        self._sorted: list[float] = []
        self.last = RegimeReading(Regime.WARMUP, math.nan, math.nan, math.nan)

    @property
    def regime(self) -> Regime:
        return self.last.regime

    def update(self, high: float, low: float, close: float) -> RegimeReading:
        """Add one closed bar; return the reading after it."""
        a = self._adx.update(high, low, close).adx
        vol = self._vol.update(close)
        pct = math.nan
        if vol - vol != 0.0:  # NaN or inf: the window restarts, as in the batch form
            self._fifo.clear()
            self._sorted.clear()
        else:
            window = self.cfg.vol_window
            self._fifo.append(vol)
            bisect.insort(self._sorted, vol)
            if len(self._fifo) > window:
                old = self._fifo.popleft()
                del self._sorted[bisect.bisect_left(self._sorted, old)]
            if len(self._fifo) == window:
                pct = bisect.bisect_right(self._sorted, vol) / window
        regime = next_regime(self.last.regime, a, pct, self.cfg)
        self.last = RegimeReading(regime, a, vol, pct)
        return self.last


@dataclass(frozen=True, slots=True)
class RegimeStatus:
    """A symbol's regime as of a time: the last reading and since when it holds."""

    symbol: str
    as_of: int
    reading: RegimeReading
    since_ts: int | None  # close time of the bar that entered the regime
    bars_in_regime: int

    def to_dict(self) -> dict[str, object]:
        def plain(x: float) -> float | None:
            return x if math.isfinite(x) else None

        r = self.reading
        return {"symbol": self.symbol, "as_of": self.as_of, "regime": r.regime.value,
                "adx": plain(r.adx), "vol": plain(r.vol), "vol_pct": plain(r.vol_pct),
                "since_ts": self.since_ts, "bars_in_regime": self.bars_in_regime}


def regime_as_of(store: Any, exchange: str, timeframe: str, symbol: str, as_of: int,
                 cfg: RegimeConfig | None = None) -> RegimeStatus:
    """Classify ``symbol`` over every stored bar closed by ``as_of`` (ms)."""
    tf_ms = timeframe_to_ms(timeframe)
    bars = store.read_bars(exchange, timeframe, symbol, end=int(as_of) - tf_ms + 1)
    if bars.empty:
        raise DataError(f"no {exchange} {timeframe} {symbol} bar closed by {format_utc_ms(as_of)}; "
                        "pick a later --as-of or ingest the history")
    series = classify(bars["high"].to_numpy(), bars["low"].to_numpy(), bars["close"].to_numpy(),
                      cfg)
    regimes = series.regime
    last = regimes.shape[0] - 1
    start = last
    while start > 0 and regimes[start - 1] is regimes[last]:
        start -= 1
    since = int(bars["ts"].iloc[start]) + tf_ms if regimes[last] is not Regime.WARMUP else None
    return RegimeStatus(symbol, int(as_of), series.reading(last), since, last - start + 1)
