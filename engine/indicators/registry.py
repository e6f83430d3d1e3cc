"""Technical indicators: batch functions, streaming classes and a registry.

Every indicator exists twice and the two agree bit for bit on every bar:

- a batch function over whole arrays (``sma(close, period)``), backed by a numba
  kernel in ``indicators_nb.py`` / ``indicators_bars_nb.py``: for backtests and research;
- a streaming class (``SMA(period).update(x)``), O(1) per bar in pure Python:
  for the event engine and live trading.

``INDICATORS`` maps a name ("sma", "macd", ...) to an :class:`IndicatorSpec`
(batch function, streaming class, input fields, outputs, warm-up), so the engine
can precompute an indicator in a backtest and stream the same one live.
Conventions on warm-up, holes (NaN/inf inputs) and flat prices are in
``indicators_base.py``; briefly: NaN during warm-up, a non-finite input resets
the indicator, no division by zero ever.

>>> import numpy as np
>>> sma(np.array([1.0, 2.0, 3.0, 4.0]), 3)
array([nan, nan,  2.,  3.])
>>> s = make_stream("sma", period=3)
>>> [s.update(x) for x in (1.0, 2.0, 3.0, 4.0)]
[nan, nan, 2.0, 3.0]
>>> warmup("macd", fast=12, slow=26, signal=9)
33
"""

from __future__ import annotations

import difflib
import inspect
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from tradeloom.engine.errors import ConfigError, DataError
from tradeloom.engine.indicators import bars_nb as bnb
from tradeloom.engine.indicators import series_nb as nb
from tradeloom.engine.indicators.base import (
    ADXResult,
    BBandsResult,
    DonchianResult,
    KeltnerResult,
    MACDResult,
    StochResult,
    as_f64,
    check_offset,
    check_period,
    check_real,
    same_length,
)
from tradeloom.engine.indicators.stream import EMA, MACD, RSI, SMA, WMA, RollingMax, RollingMin
from tradeloom.engine.indicators.stream_bars import (
    ADX,
    ATR,
    OBV,
    VWAP,
    Donchian,
    Keltner,
    SessionVWAP,
    Stoch,
)
from tradeloom.engine.indicators.stream_stats import BBands, RealizedVol, ZScore

__all__ = [
    "ADX",
    "ATR",
    "EMA",
    "INDICATORS",
    "MACD",
    "OBV",
    "RSI",
    "SMA",
    "VWAP",
    "WMA",
    "ADXResult",
    "BBands",
    "BBandsResult",
    "Donchian",
    "DonchianResult",
    "IndicatorSpec",
    "Keltner",
    "KeltnerResult",
    "MACDResult",
    "RealizedVol",
    "RollingMax",
    "RollingMin",
    "SessionVWAP",
    "Stoch",
    "StochResult",
    "ZScore",
    "adx",
    "atr",
    "bbands",
    "compute",
    "donchian",
    "ema",
    "get_indicator",
    "keltner",
    "macd",
    "make_stream",
    "obv",
    "realized_vol",
    "rolling_max",
    "rolling_min",
    "rsi",
    "session_vwap",
    "sma",
    "stoch",
    "vwap",
    "warmup",
    "wma",
    "zscore",
]

ArrayLike = Any


def _hlc(name: str, high: ArrayLike, low: ArrayLike, close: ArrayLike):
    h = as_f64(name, "high", high)
    lw = as_f64(name, "low", low)
    c = as_f64(name, "close", close)
    same_length(name, high=h, low=lw, close=c)
    return h, lw, c


def _mask(bad: np.ndarray, *cols: np.ndarray) -> list[np.ndarray]:
    """Copies of ``cols`` with NaN wherever any input field of the bar is non-finite."""
    return [np.where(bad, np.nan, col) for col in cols]


def sma(close: ArrayLike, period: int) -> np.ndarray:
    """Simple moving average; see :class:`SMA`. Warm-up ``period - 1``."""
    return nb.sma_nb(as_f64("sma", "close", close), check_period("sma", "period", period))


def ema(close: ArrayLike, period: int) -> np.ndarray:
    """Exponential moving average seeded with an SMA; see :class:`EMA`."""
    return nb.ema_nb(as_f64("ema", "close", close), check_period("ema", "period", period))


def wma(close: ArrayLike, period: int) -> np.ndarray:
    """Linearly weighted moving average; see :class:`WMA`."""
    return nb.wma_nb(as_f64("wma", "close", close), check_period("wma", "period", period))


def rsi(close: ArrayLike, period: int = 14) -> np.ndarray:
    """Wilder's RSI (50 on flat prices); see :class:`RSI`. Warm-up ``period``."""
    return nb.rsi_nb(as_f64("rsi", "close", close), check_period("rsi", "period", period))


def atr(high: ArrayLike, low: ArrayLike, close: ArrayLike, period: int = 14) -> np.ndarray:
    """Wilder's average true range; see :class:`ATR`. Warm-up ``period``."""
    h, lw, c = _hlc("atr", high, low, close)
    return bnb.atr_nb(h, lw, c, check_period("atr", "period", period))


def bbands(close: ArrayLike, period: int = 20, nbdev: float = 2.0) -> BBandsResult:
    """Bollinger bands (population std, like TA-Lib); see :class:`BBands`."""
    x = as_f64("bbands", "close", close)
    period = check_period("bbands", "period", period, 2)
    nbdev = check_real("bbands", "nbdev", nbdev)
    mid, var = nb.mean_var_nb(x, period, 0)
    k = nbdev * np.sqrt(var)
    return BBandsResult(mid, mid + k, mid - k)


def zscore(close: ArrayLike, period: int) -> np.ndarray:
    """Rolling z-score with population std (0 on a flat window); see :class:`ZScore`."""
    x = as_f64("zscore", "close", close)
    return nb.zscore_nb(x, check_period("zscore", "period", period, 2))


def realized_vol(
    close: ArrayLike, period: int, periods_per_year: float | None = None
) -> np.ndarray:
    """Rolling sample std of log returns, optionally annualised; see :class:`RealizedVol`.

    ``periods_per_year`` is e.g. 365 * 24 for hourly crypto bars (markets never close).
    """
    x = as_f64("realized_vol", "close", close)
    period = check_period("realized_vol", "period", period, 2)
    af = 1.0
    if periods_per_year is not None:
        af = math.sqrt(
            check_real("realized_vol", "periods_per_year", periods_per_year, positive=True)
        )
    _, var = nb.mean_var_nb(nb.log_returns_nb(x), period, 1)
    return np.sqrt(var) * af


def rolling_max(close: ArrayLike, period: int) -> np.ndarray:
    """Highest value of the last ``period`` values (TA-Lib MAX); see :class:`RollingMax`."""
    x = as_f64("rolling_max", "close", close)
    return nb.rolling_extreme_nb(x, check_period("rolling_max", "period", period), True)


def rolling_min(close: ArrayLike, period: int) -> np.ndarray:
    """Lowest value of the last ``period`` values (TA-Lib MIN); see :class:`RollingMin`."""
    x = as_f64("rolling_min", "close", close)
    return nb.rolling_extreme_nb(x, check_period("rolling_min", "period", period), False)


def macd(close: ArrayLike, fast: int = 12, slow: int = 26, signal: int = 9) -> MACDResult:
    """MACD line, signal and histogram with TA-Lib's seeding; see :class:`MACD`."""
    m = MACD(fast, slow, signal)  # validates the parameters with the same messages
    line, sig, hist = nb.macd_nb(as_f64("macd", "close", close), m.fast, m.slow, m.signal)
    return MACDResult(line, sig, hist)


def stoch(
    high: ArrayLike, low: ArrayLike, close: ArrayLike,
    k_period: int = 14, k_smooth: int = 3, d_period: int = 3,
) -> StochResult:
    """Stochastic %K (SMA-smoothed) and %D; see :class:`Stoch`."""
    h, lw, c = _hlc("stoch", high, low, close)
    k_period = check_period("stoch", "k_period", k_period)
    k_smooth = check_period("stoch", "k_smooth", k_smooth)
    d_period = check_period("stoch", "d_period", d_period)
    k = nb.sma_nb(bnb.stoch_fastk_nb(h, lw, c, k_period), k_smooth)
    return StochResult(k, nb.sma_nb(k, d_period))


def adx(high: ArrayLike, low: ArrayLike, close: ArrayLike, period: int = 14) -> ADXResult:
    """Wilder's ADX with +DI and -DI; see :class:`ADX`. Warm-up ``2 * period - 1``."""
    h, lw, c = _hlc("adx", high, low, close)
    a, p, m = bnb.adx_nb(h, lw, c, check_period("adx", "period", period))
    return ADXResult(a, p, m)


def obv(close: ArrayLike, volume: ArrayLike) -> np.ndarray:
    """On-balance volume starting at the first bar's volume; see :class:`OBV`."""
    c = as_f64("obv", "close", close)
    v = as_f64("obv", "volume", volume)
    same_length("obv", close=c, volume=v)
    return bnb.obv_nb(c, v)


def vwap(
    high: ArrayLike, low: ArrayLike, close: ArrayLike, volume: ArrayLike, period: int
) -> np.ndarray:
    """Rolling VWAP of the typical price; see :class:`VWAP`."""
    h, lw, c = _hlc("vwap", high, low, close)
    v = as_f64("vwap", "volume", volume)
    same_length("vwap", close=c, volume=v)
    return bnb.vwap_nb(h, lw, c, v, check_period("vwap", "period", period))


def session_vwap(
    ts: ArrayLike, high: ArrayLike, low: ArrayLike, close: ArrayLike, volume: ArrayLike,
    session_ms: int = 86_400_000, offset_ms: int = 0,
) -> np.ndarray:
    """VWAP since the start of each UTC session (daily by default); see :class:`SessionVWAP`."""
    h, lw, c = _hlc("session_vwap", high, low, close)
    v = as_f64("session_vwap", "volume", volume)
    t = np.ascontiguousarray(ts)
    if t.ndim != 1 or t.dtype.kind not in "iu":
        raise DataError(
            f"session_vwap: ts must be a 1-D integer array of UTC milliseconds, got "
            f"dtype {t.dtype} shape {t.shape}; convert datetimes with .astype('int64') // 10**6"
        )
    same_length("session_vwap", ts=t, close=c, volume=v)
    session_ms = check_period("session_vwap", "session_ms", session_ms)
    offset_ms = check_offset("session_vwap", offset_ms)
    return bnb.session_vwap_nb(t.astype(np.int64), h, lw, c, v, session_ms, offset_ms)


def donchian(high: ArrayLike, low: ArrayLike, period: int = 20) -> DonchianResult:
    """Donchian channel, current bar included; see :class:`Donchian`."""
    h = as_f64("donchian", "high", high)
    lw = as_f64("donchian", "low", low)
    same_length("donchian", high=h, low=lw)
    period = check_period("donchian", "period", period)
    hm, lm = _mask(~(np.isfinite(h) & np.isfinite(lw)), h, lw)
    upper = nb.rolling_extreme_nb(hm, period, True)
    lower = nb.rolling_extreme_nb(lm, period, False)
    return DonchianResult(upper, lower, (upper + lower) / 2.0)


def keltner(
    high: ArrayLike, low: ArrayLike, close: ArrayLike,
    period: int = 20, atr_period: int = 10, multiplier: float = 2.0,
) -> KeltnerResult:
    """Keltner channel: EMA mid +/- multiplier * ATR; see :class:`Keltner`."""
    h, lw, c = _hlc("keltner", high, low, close)
    period = check_period("keltner", "period", period)
    atr_period = check_period("keltner", "atr_period", atr_period)
    multiplier = check_real("keltner", "multiplier", multiplier)
    (cm,) = _mask(~(np.isfinite(h) & np.isfinite(lw) & np.isfinite(c)), c)
    mid = nb.ema_nb(cm, period)
    k = multiplier * bnb.atr_nb(h, lw, c, atr_period)
    return KeltnerResult(mid, mid + k, mid - k)


@dataclass(frozen=True)
class IndicatorSpec:
    """What the engine needs to know about one indicator.

    ``batch(*columns, **params)`` takes the ``inputs`` columns in order;
    ``stream(**params).update(*values)`` takes one value per input field;
    ``outputs`` names the result (one name: a plain array/float; several: the
    NamedTuple fields). ``params`` lists the accepted keyword parameters.

    The two forms agree bit for bit on every bar, and a single-output stream's
    ``value`` is what its last ``update`` returned: the engine relies on both when it
    computes a backtest's indicators with ``batch`` up front
    (``engine.run.strategy_data.StrategyData.precompute``).
    """

    name: str
    batch: Callable[..., Any]
    stream: type
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]

    @property
    def params(self) -> tuple[str, ...]:
        """Keyword parameters accepted by both forms, in signature order."""
        sig = inspect.signature(self.stream.__init__)
        return tuple(p for p in sig.parameters if p != "self")

    def _check(self, params: Mapping[str, Any]) -> None:
        known = self.params
        for key in params:
            if key not in known:
                hint = difflib.get_close_matches(key, known, n=1)
                did = f"; did you mean {hint[0]!r}?" if hint else ""
                raise ConfigError(
                    f"indicator {self.name!r} has no parameter {key!r}{did} "
                    f"(parameters: {', '.join(known) or 'none'})"
                )

    def make_stream(self, **params: Any) -> Any:
        """A fresh streaming instance with these parameters."""
        self._check(params)
        try:
            return self.stream(**params)
        except TypeError as exc:
            raise ConfigError(f"indicator {self.name!r}: {exc}") from None

    def warmup(self, **params: Any) -> int:
        """Number of leading NaN outputs on a clean series, for these parameters."""
        return self.make_stream(**params).warmup

    def compute(self, data: Mapping[str, ArrayLike], **params: Any) -> Any:
        """Run the batch form on the ``inputs`` columns of ``data`` (dict, DataFrame...)."""
        self._check(params)
        missing = [f for f in self.inputs if f not in data]
        if missing:
            raise DataError(
                f"indicator {self.name!r} needs columns {self.inputs}; missing {missing}"
            )
        return self.batch(*(data[f] for f in self.inputs), **params)


def _spec(name, batch, stream, inputs, outputs=("value",)) -> tuple[str, IndicatorSpec]:
    return name, IndicatorSpec(name, batch, stream, tuple(inputs), tuple(outputs))


_HLC = ("high", "low", "close")
INDICATORS: dict[str, IndicatorSpec] = dict([
    _spec("sma", sma, SMA, ("close",)),
    _spec("ema", ema, EMA, ("close",)),
    _spec("wma", wma, WMA, ("close",)),
    _spec("rsi", rsi, RSI, ("close",)),
    _spec("atr", atr, ATR, _HLC),
    _spec("bbands", bbands, BBands, ("close",), BBandsResult._fields),
    _spec("macd", macd, MACD, ("close",), MACDResult._fields),
    _spec("stoch", stoch, Stoch, _HLC, StochResult._fields),
    _spec("adx", adx, ADX, _HLC, ADXResult._fields),
    _spec("obv", obv, OBV, ("close", "volume")),
    _spec("vwap", vwap, VWAP, (*_HLC, "volume")),
    _spec("session_vwap", session_vwap, SessionVWAP, ("ts", *_HLC, "volume")),
    _spec("donchian", donchian, Donchian, ("high", "low"), DonchianResult._fields),
    _spec("keltner", keltner, Keltner, _HLC, KeltnerResult._fields),
    _spec("zscore", zscore, ZScore, ("close",)),
    _spec("realized_vol", realized_vol, RealizedVol, ("close",)),
    _spec("rolling_max", rolling_max, RollingMax, ("close",)),
    _spec("rolling_min", rolling_min, RollingMin, ("close",)),
])


def get_indicator(name: str) -> IndicatorSpec:
    """The registry entry for ``name``; ConfigError with a suggestion if unknown.

    >>> get_indicator("bbands").outputs
    ('mid', 'upper', 'lower')
    """
    try:
        return INDICATORS[name]
    except KeyError:
        hint = difflib.get_close_matches(str(name), INDICATORS, n=1)
        did = f"did you mean {hint[0]!r}? " if hint else ""
        raise ConfigError(
            f"unknown indicator {name!r}; {did}known: {', '.join(sorted(INDICATORS))}"
        ) from None


def warmup(name: str, **params: Any) -> int:
    """Leading NaN outputs of indicator ``name`` with ``params`` (first value at this index).

    >>> warmup("sma", period=10), warmup("rsi"), warmup("adx", period=14)
    (9, 14, 27)
    """
    return get_indicator(name).warmup(**params)


def make_stream(name: str, **params: Any) -> Any:
    """A streaming instance of indicator ``name``."""
    return get_indicator(name).make_stream(**params)


def compute(name: str, data: Mapping[str, ArrayLike], **params: Any) -> Any:
    """Batch-compute indicator ``name`` on the named columns of ``data``."""
    return get_indicator(name).compute(data, **params)
