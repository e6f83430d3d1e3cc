"""Feature kinds built on bar arithmetic: returns, range volatility, candles, ranks, calendar.

Every kind pairs a batch form (a kernel in ``features_nb.py``, or an indicator
batch function) with a streaming step that repeats it operation by operation, so
the two agree bit for bit (``tests/property/test_features.py`` checks every bar). Indicator
families (RSI, ATR, Bollinger, ...) are in ``feature_kinds_ind.py``.

>>> import pandas as pd
>>> from tradeloom.research.features.kinds_base import BatchInput
>>> bars = pd.DataFrame({"close": [100.0, 110.0, 99.0]})
>>> kind = get_kind("ret")
>>> kind.batch(BatchInput(bars), {"horizon": 1}).round(4).tolist()
[nan, 0.1, -0.1]
>>> step = kind.stream({"horizon": 1})
>>> [round(step({"close": c}), 4) for c in (100.0, 110.0, 99.0)]
[nan, 0.1, -0.1]
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Mapping
from typing import Any

import numpy as np

from tradeloom.engine.errors import ConfigError
from tradeloom.engine.indicators import registry as ind
from tradeloom.engine.indicators.base import check_period
from tradeloom.research.features import kinds_nb as fnb
from tradeloom.research.features.kinds_base import (
    REQUIRED,
    BatchInput,
    FeatureKind,
    Step,
    get_kind,
    register_kind,
)

__all__ = ["CALENDAR_UNITS", "CANDLE_SHAPES", "get_kind"]

NAN = math.nan
PARKINSON_SCALE = 4.0 * math.log(2.0)
GK_K = 2.0 * math.log(2.0) - 1.0
TWO_PI = 2.0 * math.pi
DAY_MS = 86_400_000
# period and offset of each calendar cycle; the epoch (1970-01-01) was a Thursday,
# so +3 days puts Monday 00:00 UTC at phase 0
CALENDAR_UNITS = {"hour": (DAY_MS, 0), "weekday": (7 * DAY_MS, 3 * DAY_MS)}
CANDLE_SHAPES = {"body": 0, "upper_wick": 1, "lower_wick": 2, "clv": 3, "range": 4}


def _choice(kind: str, name: str, value: object, options: Mapping[str, Any]) -> str:
    if value not in options:
        raise ConfigError(
            f"feature kind {kind!r}: {name} must be one of {sorted(options)}, got {value!r}"
        )
    return str(value)


def _field(kind: str, value: object) -> str:
    if not isinstance(value, str) or not value:
        raise ConfigError(f"feature kind {kind!r}: field must be a column name, got {value!r}")
    return value


def _price_ok(v: float) -> bool:
    return v - v == 0.0 and v > 0.0


# ------------------------------------------------------------------ returns


class _RetStep:
    """Streaming twin of ``features_nb.ret_nb``."""

    __slots__ = ("_buf", "_good", "_h", "_log")

    def __init__(self, horizon: int, log: bool) -> None:
        self._h = horizon
        self._log = log
        self._buf: deque[float] = deque(maxlen=horizon + 1)
        self._good = 0

    def __call__(self, bar: Mapping[str, Any]) -> float:
        v = bar["close"]
        self._buf.append(v)
        self._good = self._good + 1 if _price_ok(v) else 0
        if self._good > self._h:
            r = v / self._buf[0]
            return math.log(r) if self._log else r - 1.0
        return NAN


def _ret_kind(name: str, log: bool, doc: str) -> FeatureKind:
    return FeatureKind(
        name, {"horizon": REQUIRED}, lambda p: ("close",),
        lambda p: check_period(name, "horizon", p["horizon"]),
        lambda b, p: fnb.ret_nb(b.col("close"), p["horizon"], log),
        lambda p: _RetStep(p["horizon"], log), doc,
    )


register_kind(_ret_kind("ret", False, "close[t] / close[t-horizon] - 1"))
register_kind(_ret_kind("logret", True, "ln(close[t] / close[t-horizon])"))


# ------------------------------------------------------- range-based volatility


class _RangeVolStep:
    """Streaming twin of parkinson/garman_klass: per-bar term -> SMA -> sqrt(mean / scale)."""

    __slots__ = ("_clip", "_gk", "_scale", "_sma")

    def __init__(self, period: int, gk: bool) -> None:
        self._sma = ind.SMA(period)
        self._gk = gk
        self._scale = 1.0 if gk else PARKINSON_SCALE
        self._clip = gk

    def __call__(self, bar: Mapping[str, Any]) -> float:
        h = bar["high"]
        lo = bar["low"]
        term = NAN
        if self._gk:
            o = bar["open"]
            c = bar["close"]
            if _price_ok(o) and _price_ok(h) and _price_ok(lo) and _price_ok(c) and h >= lo:
                a = math.log(h / lo)
                b = math.log(c / o)
                term = 0.5 * a * a - GK_K * b * b
        elif _price_ok(h) and _price_ok(lo) and h >= lo:
            a = math.log(h / lo)
            term = a * a
        m = self._sma.update(term) / self._scale
        if self._clip and m < 0.0:
            m = 0.0
        return math.sqrt(m) if m >= 0.0 else NAN


def _parkinson_batch(b: BatchInput, p: Mapping[str, Any]) -> np.ndarray:
    term = fnb.hl_log_sq_nb(b.col("high"), b.col("low"))
    return fnb.sqrt_scaled_nb(ind.sma(term, p["period"]), PARKINSON_SCALE, False)


def _gk_batch(b: BatchInput, p: Mapping[str, Any]) -> np.ndarray:
    term = fnb.gk_term_nb(b.col("open"), b.col("high"), b.col("low"), b.col("close"), GK_K)
    return fnb.sqrt_scaled_nb(ind.sma(term, p["period"]), 1.0, True)


register_kind(FeatureKind(
    "parkinson", {"period": REQUIRED}, lambda p: ("high", "low"),
    lambda p: check_period("parkinson", "period", p["period"]) - 1,
    _parkinson_batch, lambda p: _RangeVolStep(p["period"], False),
    "Parkinson volatility per bar: sqrt(mean(ln(h/l)^2) / (4 ln 2)) over period bars",
))
register_kind(FeatureKind(
    "garman_klass", {"period": REQUIRED}, lambda p: ("open", "high", "low", "close"),
    lambda p: check_period("garman_klass", "period", p["period"]) - 1,
    _gk_batch, lambda p: _RangeVolStep(p["period"], True),
    "Garman-Klass volatility per bar: sqrt(mean(0.5 ln(h/l)^2 - (2 ln 2 - 1) ln(c/o)^2))",
))


# ------------------------------------------------------------------- candles


def _candle_step(shape: int) -> Step:
    def step(bar: Mapping[str, Any]) -> float:
        o = bar["open"]
        h = bar["high"]
        lo = bar["low"]
        c = bar["close"]
        if not (_price_ok(o) and _price_ok(h) and _price_ok(lo) and _price_ok(c)):
            return NAN
        rng = h - lo
        if shape == 4:
            return rng / c
        if rng <= 0.0:
            return 0.0
        if shape == 0:
            return (c - o) / rng
        if shape == 1:
            return (h - max(o, c)) / rng
        if shape == 2:
            return (min(o, c) - lo) / rng
        return ((c - lo) - (h - c)) / rng

    return step


def _candle_warmup(p: Mapping[str, Any]) -> int:
    _choice("candle", "shape", p["shape"], CANDLE_SHAPES)
    return 0


register_kind(FeatureKind(
    "candle", {"shape": REQUIRED}, lambda p: ("open", "high", "low", "close"),
    _candle_warmup,
    lambda b, p: fnb.candle_nb(b.col("open"), b.col("high"), b.col("low"), b.col("close"),
                               CANDLE_SHAPES[p["shape"]]),
    lambda p: _candle_step(CANDLE_SHAPES[p["shape"]]),
    "candle shape: body (signed (c-o)/range), upper_wick, lower_wick, clv, range (range/close)",
))


# --------------------------------------------------------------------- ranks


class _RankStep:
    """Streaming twin of ``features_nb.rank_nb``."""

    __slots__ = ("_buf", "_field", "_good", "_p")

    def __init__(self, field: str, period: int) -> None:
        self._field = field
        self._p = period
        self._buf: deque[float] = deque(maxlen=period)
        self._good = 0

    def __call__(self, bar: Mapping[str, Any]) -> float:
        v = bar[self._field]
        self._buf.append(v)
        self._good = self._good + 1 if v - v == 0.0 else 0
        if self._good < self._p:
            return NAN
        count = 0
        for x in self._buf:
            if x <= v:
                count += 1
        return count / self._p


register_kind(FeatureKind(
    "rank", {"field": "close", "period": REQUIRED}, lambda p: (_field("rank", p["field"]),),
    lambda p: check_period("rank", "period", p["period"], 2) - 1,
    lambda b, p: fnb.rank_nb(b.col(p["field"]), p["period"]),
    lambda p: _RankStep(p["field"], p["period"]),
    "percentile of the current value among the last period values (current included), (0, 1]",
))


# ------------------------------------------------------------------ calendar


def _calendar_step(unit: str, fn: str) -> Step:
    period, offset = CALENDAR_UNITS[unit]
    use_cos = fn == "cos"

    def step(bar: Mapping[str, Any]) -> float:
        a = TWO_PI * (((bar["ts"] + offset) % period) / period)
        return math.cos(a) if use_cos else math.sin(a)

    return step


def _calendar_warmup(p: Mapping[str, Any]) -> int:
    _choice("calendar", "unit", p["unit"], CALENDAR_UNITS)
    _choice("calendar", "fn", p["fn"], {"sin": 0, "cos": 1})
    return 0


def _calendar_batch(b: BatchInput, p: Mapping[str, Any]) -> np.ndarray:
    period, offset = CALENDAR_UNITS[p["unit"]]
    return fnb.cycle_nb(b.col("ts"), period, offset, p["fn"] == "cos", TWO_PI)


register_kind(FeatureKind(
    "calendar", {"unit": REQUIRED, "fn": REQUIRED}, lambda p: ("ts",), _calendar_warmup,
    _calendar_batch, lambda p: _calendar_step(p["unit"], p["fn"]),
    "sin/cos of the UTC time of day (unit='hour') or the continuous time of week "
    "(unit='weekday': phase 0 at Monday 00:00 UTC, hours included) at the bar's open ts",
))


# --------------------------------------------------------------- raw columns


def _column_step(field: str) -> Step:
    def step(bar: Mapping[str, Any]) -> float:
        return bar[field]

    return step


register_kind(FeatureKind(
    "column", {"field": REQUIRED}, lambda p: (_field("column", p["field"]),),
    lambda p: 0, lambda b, p: b.col(p["field"]).copy(), lambda p: _column_step(p["field"]),
    "a column of the bar frame as is, e.g. a funding rate joined with feature_join.asof_join",
))
