"""Feature kinds built on the indicator library (``engine/indicators/registry.py``).

Each kind calls an indicator's batch function in batch and its streaming class
online (the two agree bit for bit by the indicator library's contract), then
applies a scale-free transform so one model can serve symbols at any price
level: ATR / close, Bollinger %b and width, MACD histogram / close, channel
positions, distance to a moving average or a rolling extreme. The transforms run
in ``features_nb`` kernels in batch and in the plain-float helpers below online;
both perform the same IEEE operations, so the features stay bit-identical too.
Warm-ups come from ``indicators.warmup`` (the index at which *every* output of
the indicator is defined), which also validates the parameters.

>>> import pandas as pd
>>> from tradeloom.research.features.kinds_base import BatchInput, get_kind
>>> bars = pd.DataFrame({"close": [1.0, 2.0, 3.0, 2.0]})
>>> get_kind("ma_dev").batch(BatchInput(bars), {"ma": "sma", "period": 2}).tolist()
[nan, 0.33333333333333326, 0.19999999999999996, -0.19999999999999996]
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from tradeloom.engine.indicators import registry as ind
from tradeloom.research.features import kinds_nb as fnb
from tradeloom.research.features.kinds import _choice, _field
from tradeloom.research.features.kinds_base import (
    REQUIRED,
    BatchInput,
    FeatureKind,
    Step,
    register_kind,
)

__all__: list[str] = []

NAN = math.nan
HLC = ("high", "low", "close")
Params = Mapping[str, Any]


def ratio(a: float, b: float, minus_one: bool) -> float:
    """Online twin of ``features_nb.ratio_nb``: a / b (- 1), NaN where b == 0."""
    if b != 0.0:
        r = a / b
        return r - 1.0 if minus_one else r
    return NAN


def position(x: float, lower: float, upper: float) -> float:
    """Online twin of ``features_nb.position_nb``: where x sits between two bands."""
    w = upper - lower
    if w > 0.0 or w < 0.0:
        return (x - lower) / w
    if w == 0.0 and x - x == 0.0:
        return 0.5
    return NAN


def _kind(name: str, defaults: dict[str, Any], inputs: Callable[[Params], tuple[str, ...]],
          warmup: Callable[[Params], int], batch: Callable[[BatchInput, Params], np.ndarray],
          stream: Callable[[Params], Step], doc: str) -> None:
    register_kind(FeatureKind(name, defaults, inputs, warmup, batch, stream, doc))


def _memo(b: BatchInput, name: str, p: Params, fn: Callable[[], Any]) -> Any:
    return b.memo((name, tuple(sorted(p.items()))), fn)


# ------------------------------------------------------------- single outputs


def _rsi_stream(p: Params) -> Step:
    s = ind.RSI(p["period"])
    return lambda bar: s.update(bar["close"])


_kind("rsi", {"period": 14}, lambda p: ("close",), lambda p: ind.warmup("rsi", **p),
      lambda b, p: ind.rsi(b.col("close"), p["period"]), _rsi_stream,
      "Wilder's RSI, 0..100")


def _rv_stream(p: Params) -> Step:
    s = ind.RealizedVol(p["period"])
    return lambda bar: s.update(bar["close"])


_kind("realized_vol", {"period": REQUIRED}, lambda p: ("close",),
      lambda p: ind.warmup("realized_vol", period=p["period"]),
      lambda b, p: ind.realized_vol(b.col("close"), p["period"]), _rv_stream,
      "sample std of the last period log returns (per bar, not annualised)")


def _atr_stream(p: Params) -> Step:
    s = ind.ATR(p["period"])

    def step(bar: Mapping[str, Any]) -> float:
        c = bar["close"]
        return ratio(s.update(bar["high"], bar["low"], c), c, False)

    return step


def _atr_batch(b: BatchInput, p: Params) -> np.ndarray:
    a = _memo(b, "atr", p, lambda: ind.atr(b.col("high"), b.col("low"), b.col("close"), **p))
    return fnb.ratio_nb(a, b.col("close"), False)


_kind("atr_pct", {"period": 14}, lambda p: HLC, lambda p: ind.warmup("atr", **p),
      _atr_batch, _atr_stream, "ATR / close")


def _zscore_stream(p: Params) -> Step:
    s = ind.ZScore(p["period"])
    field = p["field"]
    return lambda bar: s.update(bar[field])


_kind("zscore", {"field": "close", "period": REQUIRED},
      lambda p: (_field("zscore", p["field"]),),
      lambda p: ind.warmup("zscore", period=p["period"]),
      lambda b, p: ind.zscore(b.col(p["field"]), p["period"]), _zscore_stream,
      "rolling z-score (population std) of a column: close, volume or a joined series")


def _obv_z_stream(p: Params) -> Step:
    o = ind.OBV()
    z = ind.ZScore(p["period"])
    return lambda bar: z.update(o.update(bar["close"], bar["volume"]))


_kind("obv_z", {"period": REQUIRED}, lambda p: ("close", "volume"),
      lambda p: ind.warmup("zscore", period=p["period"]),
      lambda b, p: ind.zscore(ind.obv(b.col("close"), b.col("volume")), p["period"]),
      _obv_z_stream, "rolling z-score of on-balance volume")


# ------------------------------------------------------------- distances


def _ma_stream(p: Params) -> Step:
    s = ind.SMA(p["period"]) if p["ma"] == "sma" else ind.EMA(p["period"])

    def step(bar: Mapping[str, Any]) -> float:
        c = bar["close"]
        return ratio(c, s.update(c), True)

    return step


def _ma_batch(b: BatchInput, p: Params) -> np.ndarray:
    fn = ind.sma if p["ma"] == "sma" else ind.ema
    return fnb.ratio_nb(b.col("close"), fn(b.col("close"), p["period"]), True)


def _ma_warmup(p: Params) -> int:
    _choice("ma_dev", "ma", p["ma"], {"sma": 0, "ema": 1})
    return ind.warmup(p["ma"], period=p["period"])


_kind("ma_dev", {"ma": "sma", "period": REQUIRED}, lambda p: ("close",), _ma_warmup,
      _ma_batch, _ma_stream, "close / moving average - 1 (ma: 'sma' or 'ema')")


def _vwap_stream(p: Params) -> Step:
    s = ind.VWAP(p["period"])

    def step(bar: Mapping[str, Any]) -> float:
        c = bar["close"]
        return ratio(c, s.update(bar["high"], bar["low"], c, bar["volume"]), True)

    return step


_kind("vwap_dev", {"period": REQUIRED}, lambda p: (*HLC, "volume"),
      lambda p: ind.warmup("vwap", **p),
      lambda b, p: fnb.ratio_nb(b.col("close"), ind.vwap(
          b.col("high"), b.col("low"), b.col("close"), b.col("volume"), p["period"]), True),
      _vwap_stream, "close / rolling VWAP of the typical price - 1")


def _svwap_stream(p: Params) -> Step:
    s = ind.SessionVWAP(**p)

    def step(bar: Mapping[str, Any]) -> float:
        c = bar["close"]
        return ratio(c, s.update(bar["ts"], bar["high"], bar["low"], c, bar["volume"]), True)

    return step


_kind("session_vwap_dev", {"session_ms": 86_400_000, "offset_ms": 0},
      lambda p: ("ts", *HLC, "volume"), lambda p: ind.warmup("session_vwap", **p),
      lambda b, p: fnb.ratio_nb(b.col("close"), ind.session_vwap(
          b.col("ts"), b.col("high"), b.col("low"), b.col("close"), b.col("volume"), **p), True),
      _svwap_stream, "close / VWAP since the UTC session start - 1 (NaN until a session starts)")


def _extreme_stream(p: Params) -> Step:
    high = p["side"] == "high"
    s = ind.RollingMax(p["period"]) if high else ind.RollingMin(p["period"])
    field = "high" if high else "low"

    def step(bar: Mapping[str, Any]) -> float:
        return ratio(bar["close"], s.update(bar[field]), True)

    return step


def _extreme_batch(b: BatchInput, p: Params) -> np.ndarray:
    if p["side"] == "high":
        ext = ind.rolling_max(b.col("high"), p["period"])
    else:
        ext = ind.rolling_min(b.col("low"), p["period"])
    return fnb.ratio_nb(b.col("close"), ext, True)


def _extreme_warmup(p: Params) -> int:
    _choice("dist_extreme", "side", p["side"], {"high": 0, "low": 1})
    return ind.warmup("rolling_max", period=p["period"])


_kind("dist_extreme", {"side": REQUIRED, "period": REQUIRED}, lambda p: HLC, _extreme_warmup,
      _extreme_batch, _extreme_stream,
      "close / highest high (side='high') or lowest low (side='low') of period bars - 1")


# ---------------------------------------------------------- multi-output families


def _bb_stream(p: Params) -> Step:
    s = ind.BBands(p["period"], p["nbdev"])
    width = p["output"] == "width"

    def step(bar: Mapping[str, Any]) -> float:
        c = bar["close"]
        mid, upper, lower = s.update(c)
        return ratio(upper - lower, mid, False) if width else position(c, lower, upper)

    return step


def _bb_batch(b: BatchInput, p: Params) -> np.ndarray:
    key = {"period": p["period"], "nbdev": p["nbdev"]}
    mid, upper, lower = _memo(b, "bbands", key, lambda: ind.bbands(b.col("close"), **key))
    if p["output"] == "width":
        return fnb.ratio_nb(fnb.diff_nb(upper, lower), mid, False)
    return fnb.position_nb(b.col("close"), lower, upper)


def _bb_warmup(p: Params) -> int:
    _choice("bbands", "output", p["output"], {"pctb": 0, "width": 1})
    return ind.warmup("bbands", period=p["period"], nbdev=p["nbdev"])


_kind("bbands", {"period": 20, "nbdev": 2.0, "output": REQUIRED}, lambda p: ("close",),
      _bb_warmup, _bb_batch, _bb_stream,
      "Bollinger %b (output='pctb', 0.5 on a flat window) or width (upper - lower) / mid")


def _macd_stream(p: Params) -> Step:
    s = ind.MACD(p["fast"], p["slow"], p["signal"])

    def step(bar: Mapping[str, Any]) -> float:
        c = bar["close"]
        return ratio(s.update(c).hist, c, False)

    return step


_kind("macd_hist", {"fast": 12, "slow": 26, "signal": 9}, lambda p: ("close",),
      lambda p: ind.warmup("macd", **p),
      lambda b, p: fnb.ratio_nb(ind.macd(b.col("close"), **p).hist, b.col("close"), False),
      _macd_stream, "MACD histogram / close")


def _stoch_stream(p: Params) -> Step:
    s = ind.Stoch(p["k_period"], p["k_smooth"], p["d_period"])
    k = p["output"] == "k"

    def step(bar: Mapping[str, Any]) -> float:
        r = s.update(bar["high"], bar["low"], bar["close"])
        return r.k if k else r.d

    return step


def _stoch_batch(b: BatchInput, p: Params) -> np.ndarray:
    key = {k: p[k] for k in ("k_period", "k_smooth", "d_period")}
    r = _memo(b, "stoch", key, lambda: ind.stoch(b.col("high"), b.col("low"), b.col("close"),
                                                 **key))
    return (r.k if p["output"] == "k" else r.d).copy()


def _stoch_warmup(p: Params) -> int:
    _choice("stoch", "output", p["output"], {"k": 0, "d": 1})
    return ind.warmup("stoch", **{k: p[k] for k in ("k_period", "k_smooth", "d_period")})


_kind("stoch", {"k_period": 14, "k_smooth": 3, "d_period": 3, "output": REQUIRED},
      lambda p: HLC, _stoch_warmup, _stoch_batch, _stoch_stream,
      "stochastic %K (output='k') or %D (output='d'), 0..100")


def _adx_stream(p: Params) -> Step:
    s = ind.ADX(p["period"])
    out = p["output"]

    def step(bar: Mapping[str, Any]) -> float:
        a, plus, minus = s.update(bar["high"], bar["low"], bar["close"])
        return a if out == "adx" else plus - minus

    return step


def _adx_batch(b: BatchInput, p: Params) -> np.ndarray:
    key = {"period": p["period"]}
    a, plus, minus = _memo(b, "adx", key, lambda: ind.adx(
        b.col("high"), b.col("low"), b.col("close"), **key))
    return a.copy() if p["output"] == "adx" else fnb.diff_nb(plus, minus)


def _adx_warmup(p: Params) -> int:
    _choice("adx", "output", p["output"], {"adx": 0, "di_diff": 1})
    return ind.warmup("adx", period=p["period"])


_kind("adx", {"period": 14, "output": REQUIRED}, lambda p: HLC, _adx_warmup, _adx_batch,
      _adx_stream, "ADX (output='adx') or +DI - -DI (output='di_diff'), 0..100 / -100..100")


def _donchian_stream(p: Params) -> Step:
    s = ind.Donchian(p["period"])

    def step(bar: Mapping[str, Any]) -> float:
        upper, lower, _ = s.update(bar["high"], bar["low"])
        return position(bar["close"], lower, upper)

    return step


def _donchian_batch(b: BatchInput, p: Params) -> np.ndarray:
    r = ind.donchian(b.col("high"), b.col("low"), p["period"])
    return fnb.position_nb(b.col("close"), r.lower, r.upper)


_kind("donchian_pos", {"period": REQUIRED}, lambda p: HLC, lambda p: ind.warmup("donchian", **p),
      _donchian_batch, _donchian_stream,
      "(close - lowest low) / (highest high - lowest low) over period bars; 0.5 if flat")


def _keltner_stream(p: Params) -> Step:
    s = ind.Keltner(p["period"], p["atr_period"], p["multiplier"])

    def step(bar: Mapping[str, Any]) -> float:
        c = bar["close"]
        _, upper, lower = s.update(bar["high"], bar["low"], c)
        return position(c, lower, upper)

    return step


def _keltner_batch(b: BatchInput, p: Params) -> np.ndarray:
    r = ind.keltner(b.col("high"), b.col("low"), b.col("close"), **p)
    return fnb.position_nb(b.col("close"), r.lower, r.upper)


_kind("keltner_pos", {"period": 20, "atr_period": 10, "multiplier": 2.0}, lambda p: HLC,
      lambda p: ind.warmup("keltner", **p), _keltner_batch, _keltner_stream,
      "position of close in the Keltner channel: 0 lower band, 1 upper band")
