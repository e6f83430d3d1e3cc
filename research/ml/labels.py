"""Training labels from future bars, each with the time it becomes known (``t1``).

Every label of bar t describes what happens *after* bar t closes: the entry
price is ``close[t]`` (known at t's close) and only bars t+1..t+horizon are
looked at; bar t's own open/high/low never enter a label. Each label row also
carries ``t1``, the close time (``ts + timeframe``, UTC ms) of the last bar the
label needed, which purged cross-validation (``cv.py``) uses to keep training
labels out of test windows. Horizons count bars (rows), not wall-clock time.

Label frames have the index of ``bars`` and columns ``label`` (float64; NaN when
undefined), ``ret`` (the realised return behind it), ``t1`` (nullable Int64)
and, for the triple barrier, ``barrier`` (1 take-profit, -1 stop-loss, 0 time
limit). A label is NaN when the horizon runs past the data, when a price it needs
is a hole (non-finite or <= 0), and (triple barrier) while the volatility that
scales the barriers is warming up. A frame with a ``symbol`` column is labelled
per symbol. :class:`LabelSpec` is the storable declaration (spec/fingerprint).

>>> import pandas as pd
>>> bars = pd.DataFrame({"ts": [0, 3_600_000, 7_200_000], "close": [100.0, 102.0, 99.0]})
>>> forward_return(bars, 1, timeframe="1h")[["ret", "t1"]].round(4).to_dict("list")
{'ret': [0.02, -0.0294, nan], 't1': [7200000, 10800000, None]}
>>> forward_class(bars, 1, 0.01, timeframe="1h")["label"].tolist()
[1.0, -1.0, nan]
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from numba import njit

from tradeloom.engine.config import config_hash
from tradeloom.engine.errors import ConfigError, DataError
from tradeloom.engine.indicators import registry as ind
from tradeloom.engine.indicators.base import check_period, check_real
from tradeloom.engine.timeframes import timeframe_to_ms

__all__ = [
    "LABEL_KINDS", "LabelSpec", "TrainingSet", "align_training", "forward_class",
    "forward_return", "triple_barrier",
]


@njit(cache=True)
def _forward_nb(close, horizon, log):
    n = close.shape[0]
    ret = np.full(n, np.nan)
    end = np.full(n, -1, dtype=np.int64)
    for i in range(n - horizon):
        c0 = close[i]
        c1 = close[i + horizon]
        if c0 - c0 == 0.0 and c0 > 0.0 and c1 - c1 == 0.0 and c1 > 0.0:
            ret[i] = math.log(c1 / c0) if log else c1 / c0 - 1.0
            end[i] = i + horizon
    return ret, end


@njit(cache=True)
def _triple_barrier_nb(high, low, close, sigma, horizon, pt, sl, use_hl, tie_sl):
    """Scan bars i+1..i+horizon for the first barrier touch; see ``triple_barrier``."""
    n = close.shape[0]
    ret = np.full(n, np.nan)
    end = np.full(n, -1, dtype=np.int64)
    touch = np.zeros(n, dtype=np.int64)
    scale = math.sqrt(horizon)
    for i in range(n - horizon):
        c0 = close[i]
        s = sigma[i]
        if not (c0 - c0 == 0.0 and c0 > 0.0 and s - s == 0.0):
            continue
        up = c0 * math.exp(pt * s * scale) if pt > 0.0 else np.inf
        dn = c0 * math.exp(-sl * s * scale) if sl > 0.0 else 0.0
        clean = True
        for j in range(i + 1, i + horizon + 1):
            h = high[j] if use_hl else close[j]
            lo = low[j] if use_hl else close[j]
            c = close[j]
            if not (h - h == 0.0 and lo - lo == 0.0 and c - c == 0.0 and c > 0.0 and lo > 0.0):
                clean = False
                break
            hit_up = h >= up
            hit_dn = lo <= dn
            if hit_up and hit_dn:
                hit_up = not tie_sl
                hit_dn = tie_sl
            if hit_up:
                ret[i] = up / c0 - 1.0
                touch[i] = 1
                end[i] = j
                break
            if hit_dn:
                ret[i] = dn / c0 - 1.0
                touch[i] = -1
                end[i] = j
                break
        if clean and end[i] < 0:
            ret[i] = close[i + horizon] / c0 - 1.0
            end[i] = i + horizon
        elif not clean:
            ret[i] = np.nan
            end[i] = -1
            touch[i] = 0
    return ret, end, touch


def _frame_check(bars: pd.DataFrame, cols: tuple[str, ...]) -> np.ndarray:
    if not isinstance(bars, pd.DataFrame):
        raise DataError(f"labels: bars must be a pandas DataFrame, got {type(bars).__name__}")
    missing = [c for c in ("ts", *cols) if c not in bars.columns]
    if missing:
        raise DataError(f"labels: bars frame is missing column(s) {missing}; it has "
                        f"{list(bars.columns)}")
    ts = bars["ts"].to_numpy()
    if ts.dtype.kind not in "iu" or (len(ts) > 1 and (np.diff(ts) <= 0).any()):
        raise DataError("labels: ts must be integer UTC ms, strictly increasing per symbol; "
                        "sort by ts and drop duplicates")
    return ts.astype(np.int64)


def _per_symbol(bars: pd.DataFrame, fn: Callable[[pd.DataFrame], pd.DataFrame]) -> pd.DataFrame:
    if "symbol" in bars.columns and bars["symbol"].nunique() > 1:
        parts = [fn(bars.iloc[rows]) for rows in
                 bars.groupby("symbol", sort=True).indices.values()]
        return pd.concat(parts).loc[bars.index]
    return fn(bars)


def _frame(bars: pd.DataFrame, ts: np.ndarray, tf_ms: int, label: np.ndarray, ret: np.ndarray,
           end: np.ndarray, **extra: np.ndarray) -> pd.DataFrame:
    t1 = pd.array(np.where(end >= 0, ts[np.maximum(end, 0)] + tf_ms, 0), dtype="Int64")
    t1[end < 0] = pd.NA
    label = np.where(end >= 0, label, np.nan)
    return pd.DataFrame({"label": label, "ret": ret, "t1": t1, **extra}, index=bars.index)


def forward_return(bars: pd.DataFrame, horizon: int, *, timeframe: str = "1h",
                   log: bool = False) -> pd.DataFrame:
    """Regression target: close[t + horizon] / close[t] - 1 (or its log) as ``label``."""
    horizon = check_period("forward_return", "horizon", horizon)
    tf_ms = timeframe_to_ms(timeframe)

    def one(frame: pd.DataFrame) -> pd.DataFrame:
        ts = _frame_check(frame, ("close",))
        close = np.ascontiguousarray(frame["close"].to_numpy(dtype=np.float64))
        ret, end = _forward_nb(close, horizon, log)
        return _frame(frame, ts, tf_ms, ret, ret, end)

    return _per_symbol(bars, one)


def forward_class(bars: pd.DataFrame, horizon: int, threshold: float = 0.0, *,
                  binary: bool = False, timeframe: str = "1h", log: bool = False
                  ) -> pd.DataFrame:
    """Classification target from the forward return over ``horizon`` bars.

    Ternary (default): 1 if ret > threshold, -1 if ret < -threshold, else 0 (flat).
    ``binary=True``: 1 if ret > threshold else 0 ("worth going long").
    """
    threshold = check_real("forward_class", "threshold", threshold)
    if threshold < 0:
        raise ConfigError(f"forward_class: threshold must be >= 0, got {threshold}")
    fr = forward_return(bars, horizon, timeframe=timeframe, log=log)
    r = fr["ret"].to_numpy()
    with np.errstate(invalid="ignore"):
        if binary:
            lab = np.where(r > threshold, 1.0, 0.0)
        else:
            lab = np.where(r > threshold, 1.0, np.where(r < -threshold, -1.0, 0.0))
    fr["label"] = np.where(np.isnan(r), np.nan, lab)
    return fr


def triple_barrier(bars: pd.DataFrame, horizon: int, *, pt_mult: float | None = 2.0,
                   sl_mult: float | None = 2.0, vol_window: int = 24, timeframe: str = "1h",
                   use_high_low: bool = True, tie: str = "sl", vertical: str = "zero",
                   binary: bool = False) -> pd.DataFrame:
    """Triple-barrier labels with volatility-scaled barriers.

    sigma_t is the realized volatility of the last ``vol_window`` log returns up to
    bar t (known at t's close). From entry ``close[t]`` the take-profit sits at
    ``close[t] * exp(pt_mult * sigma_t * sqrt(horizon))``, the stop-loss at
    ``close[t] * exp(-sl_mult * sigma_t * sqrt(horizon))`` (None disables one);
    the time limit is ``horizon`` bars. Bars t+1.. are scanned with their high/low
    (``use_high_low``, else closes); the first touch decides: label 1 (take-profit),
    -1 (stop-loss), or at the time limit 0 (``vertical='zero'``) or the sign of the
    return (``vertical='sign'``). A bar touching both barriers counts as the stop
    (``tie='sl'``, pessimistic) or the target (``tie='tp'``). ``binary=True`` maps
    labels to 1 (positive) / 0 (otherwise). ``ret`` is the return at the touched
    barrier's price (or at the final close); ``t1`` the touching bar's close time.

    >>> bars = pd.DataFrame({"ts": [0, 60_000, 120_000, 180_000, 240_000],
    ...                      "high": [10.0, 10.1, 10.4, 12.0, 12.0],
    ...                      "low": [9.9, 9.9, 10.0, 10.25, 10.0],
    ...                      "close": [10.0, 10.1, 10.2, 11.5, 11.0]})
    >>> lab = triple_barrier(bars, 2, pt_mult=1.0, sl_mult=1.0, vol_window=2, timeframe="1m")
    >>> lab[["label", "barrier"]].to_dict("list")
    {'label': [nan, nan, 1.0, nan, nan], 'barrier': [0, 0, 1, 0, 0]}
    """
    horizon = check_period("triple_barrier", "horizon", horizon)
    pt = 0.0 if pt_mult is None else check_real("triple_barrier", "pt_mult", pt_mult,
                                                 positive=True)
    sl = 0.0 if sl_mult is None else check_real("triple_barrier", "sl_mult", sl_mult,
                                                 positive=True)
    vol_window = check_period("triple_barrier", "vol_window", vol_window, 2)
    if tie not in ("sl", "tp"):
        raise ConfigError(f"triple_barrier: tie must be 'sl' or 'tp', got {tie!r}")
    if vertical not in ("zero", "sign"):
        raise ConfigError(f"triple_barrier: vertical must be 'zero' or 'sign', got {vertical!r}")
    tf_ms = timeframe_to_ms(timeframe)

    def one(frame: pd.DataFrame) -> pd.DataFrame:
        ts = _frame_check(frame, ("high", "low", "close"))
        cols = [np.ascontiguousarray(frame[c].to_numpy(dtype=np.float64))
                for c in ("high", "low", "close")]
        sigma = ind.realized_vol(cols[2], vol_window)
        ret, end, touch = _triple_barrier_nb(*cols, sigma, horizon, pt, sl, use_high_low,
                                             tie == "sl")
        label = touch.astype(np.float64)
        if vertical == "sign":
            label = np.where(touch == 0, np.sign(np.nan_to_num(ret)), label)
        if binary:
            label = np.where(label > 0, 1.0, 0.0)
        return _frame(frame, ts, tf_ms, label, ret, end, barrier=touch)

    return _per_symbol(bars, one)


LABEL_KINDS: dict[str, Callable[..., pd.DataFrame]] = {
    "forward_return": forward_return,
    "forward_class": forward_class,
    "triple_barrier": triple_barrier,
}


@dataclass(frozen=True)
class LabelSpec:
    """A storable label declaration: ``kind`` (a key of ``LABEL_KINDS``) and its params,
    optionally meta-labeled by a ``primary`` rule (``metalabel.PrimarySpec`` as a spec
    dict): the label is then defined only where the primary proposes a long.

    >>> spec = LabelSpec("forward_class", {"horizon": 24, "threshold": 0.0, "binary": True})
    >>> LabelSpec.from_spec(spec.spec()) == spec, len(spec.fingerprint())
    (True, 64)
    >>> meta = LabelSpec("forward_class", {"horizon": 1, "binary": True}, "1h",
    ...                  primary={"rule": "momentum", "params": {"lookback": 1}})
    >>> bars = pd.DataFrame({"ts": [0, 3_600_000, 7_200_000, 10_800_000],
    ...                      "close": [10.0, 11.0, 10.5, 12.0]})
    >>> meta.compute(bars)[["side", "label"]].to_dict("list")  # labels only where side = 1
    {'side': [0.0, 1.0, 0.0, 1.0], 'label': [nan, 0.0, nan, nan]}
    """

    kind: str
    params: Any = ()
    timeframe: str = "1h"
    primary: Any = None

    def __post_init__(self) -> None:
        if self.kind not in LABEL_KINDS:
            import difflib

            hint = difflib.get_close_matches(str(self.kind), list(LABEL_KINDS), n=1)
            did = f"did you mean {hint[0]!r}? " if hint else ""
            raise ConfigError(f"unknown label kind {self.kind!r}; {did}known: "
                              f"{', '.join(LABEL_KINDS)}")
        pairs = self.params.items() if isinstance(self.params, Mapping) else self.params
        object.__setattr__(self, "params", tuple(sorted((str(k), v) for k, v in pairs)))
        if "timeframe" in dict(self.params):
            raise ConfigError("LabelSpec: give timeframe as its own field, not in params")
        timeframe_to_ms(self.timeframe)
        if self.primary is not None:
            from tradeloom.research.ml.metalabel import PrimarySpec

            prim = self.primary if isinstance(self.primary, PrimarySpec) else \
                PrimarySpec.from_spec(self.primary)
            object.__setattr__(self, "primary", prim)

    def compute(self, bars: pd.DataFrame) -> pd.DataFrame:
        """The label frame for ``bars`` (TypeError from a bad parameter becomes ConfigError);
        with a primary, a ``side`` column and the label NaN where the side is not long."""
        try:
            frame = LABEL_KINDS[self.kind](bars, timeframe=self.timeframe, **dict(self.params))
        except TypeError as exc:
            raise ConfigError(f"label kind {self.kind!r}: {exc}") from None
        if self.primary is not None:
            prim = self.primary
            side = _per_symbol(bars, lambda f: pd.DataFrame({"side": prim.side(f)},
                                                           index=f.index))["side"].to_numpy()
            frame["side"] = side
            frame["label"] = np.where(side == 1.0, frame["label"].to_numpy(), np.nan)
        return frame

    def spec(self) -> dict[str, Any]:
        """JSON-serialisable form (``primary`` only when meta-labeled, so older specs
        keep their fingerprints)."""
        out = {"kind": self.kind, "params": dict(self.params), "timeframe": self.timeframe}
        if self.primary is not None:
            out["primary"] = self.primary.spec()
        return out

    @classmethod
    def from_spec(cls, spec: Mapping[str, Any]) -> LabelSpec:
        """Inverse of :meth:`spec`."""
        unknown = sorted(set(spec) - {"kind", "params", "timeframe", "primary"})
        if unknown or "kind" not in spec:
            raise ConfigError(f"label spec needs 'kind' (+ 'params', 'timeframe', 'primary'); "
                              f"got keys {sorted(spec)}")
        return cls(spec["kind"], spec.get("params", {}), spec.get("timeframe", "1h"),
                   spec.get("primary"))

    def fingerprint(self) -> str:
        """``config_hash`` of the spec (sha256 of its canonical JSON)."""
        return config_hash(self.spec())


@dataclass(frozen=True)
class TrainingSet:
    """Rows usable for training: features ``X``, target ``y``, label windows [t0, t1].

    ``t0`` is the bar's ts (open time, int64 ms) and ``t1`` the label's end time;
    ``index`` the original row labels. Pass ``t0``/``t1`` to ``cv.PurgedWalkForward``.
    """

    X: pd.DataFrame
    y: np.ndarray
    t0: np.ndarray
    t1: np.ndarray

    @property
    def index(self) -> pd.Index:
        """Row labels of the bars these samples came from."""
        return self.X.index

    def __len__(self) -> int:
        return len(self.y)


def align_training(features: pd.DataFrame, labels: pd.DataFrame,
                   ts: pd.Series | np.ndarray) -> TrainingSet:
    """Join features and labels on the bar index and drop rows with any NaN.

    Rows during feature warm-up, after a hole, and near the data end (no label)
    are dropped: the NaN policy of training. ``ts`` is the bars' ts column.
    """
    if not features.index.equals(labels.index):
        raise DataError("align_training: features and labels must share the bars' index; "
                        "compute both from the same frame")
    ts = np.asarray(ts)
    if len(ts) != len(features):
        raise DataError(f"align_training: ts has {len(ts)} rows, features {len(features)}")
    ok = features.notna().all(axis=1).to_numpy() & labels["label"].notna().to_numpy()
    ok &= labels["t1"].notna().to_numpy()
    return TrainingSet(features[ok], labels["label"].to_numpy()[ok],
                       ts[ok].astype(np.int64), labels["t1"].to_numpy()[ok].astype(np.int64))
