"""Causal feature pipelines: declared once, computed in batch and online, identically.

A :class:`FeaturePipeline` is a tuple of :class:`Feature` declarations (name, kind,
parameters, lookback, source) plus the bar timeframe. It is plain data: ``spec()``
gives a JSON-serialisable dict, ``from_spec`` rebuilds it, ``fingerprint()`` hashes
it, so a model registry can store exactly the features a model was trained on.

Two computation paths, one answer:

- ``pipeline.batch(bars, market=None)``: whole history at once (numba kernels and
  the indicator batch functions), for research and training;
- ``pipeline.online()``: an :class:`OnlineFeatures` with ``update(bar)`` returning
  the new bar's feature vector from streaming state (ring buffers and streaming
  indicators, O(window) at most per feature), for the event engine and live.

Fed the same bars from the same first bar, the two agree **bit for bit** on every
feature of every bar (``tests/property/test_features.py``): each kind repeats its batch
arithmetic operation by operation online (see ``features_nb.py`` for why numpy's
vectorised log is never used). Recursive indicators (EMA, RSI, ATR, ADX, MACD,
Keltner) depend on where the series starts, so prime an online pipeline with the
same history the batch saw (``online().prime(history)``) before going live.

**Causality.** A feature at bar t uses only bars 0..t, all known at bar t's close.
Market (cross-asset) features are computed on the market frame and joined as of
time: the value for a bar uses the latest market bar whose close time
(``ts + market timeframe``) is <= the bar's close time (``ts + timeframe``). The
tests mutate every bar after T (and every market bar closing after T's close) and
assert every feature at or before T is byte-identical.

**Warm-up and NaN policy.** ``pipeline.warmup`` is the largest lookback; rows
before it are NaN in every column (batch) and ``update`` returns all NaN for the
first ``warmup`` bars (online). After warm-up a feature is NaN when its input is a
hole (a non-finite value, or a price <= 0) and until its window is clean again,
following ``engine/indicators/base.py``; market features are NaN until the market
series has ``lookback`` bars and while no market bar has closed yet. Training
drops rows with any NaN (``labels.align_training``).

>>> pipe = FeaturePipeline([Feature("r1", "ret", {"horizon": 1}),
...                         Feature("hl", "candle", {"shape": "range"})], timeframe="1h")
>>> pipe.warmup, pipe.names
(1, ('r1', 'hl'))
>>> import pandas as pd
>>> bars = pd.DataFrame({"ts": [0, 3_600_000, 7_200_000], "open": [10.0, 10.0, 11.0],
...                      "high": [11.0, 12.0, 11.0], "low": [9.0, 10.0, 10.0],
...                      "close": [10.0, 11.0, 10.0], "volume": [1.0, 1.0, 1.0]})
>>> pipe.batch(bars).round(4).to_dict("list")
{'r1': [nan, 0.1, -0.0909], 'hl': [nan, 0.1818, 0.1]}
>>> online = pipe.online()
>>> [online.update(row).round(4).tolist() for row in bars.to_dict("records")][-1]
[-0.0909, 0.1]
>>> FeaturePipeline.from_spec(pipe.spec()) == pipe
True
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from tradeloom.engine.config import config_hash
from tradeloom.engine.errors import ConfigError, DataError
from tradeloom.engine.timeframes import timeframe_to_ms

# imported for their side effect: each module registers its feature kinds
from tradeloom.research.features import fracdiff as feature_fracdiff  # noqa: F401
from tradeloom.research.features import kinds as feature_kinds  # noqa: F401
from tradeloom.research.features import kinds_ind as feature_kinds_ind  # noqa: F401
from tradeloom.research.features.kinds_base import BatchInput, FeatureKind, get_kind
from tradeloom.research.features.online import OnlineFeatures

__all__ = ["SPEC_FORMAT", "SPEC_VERSION", "Feature", "FeaturePipeline", "OnlineFeatures"]

SPEC_FORMAT = "tradeloom.features"
SPEC_VERSION = 1
SOURCES = ("bars", "market")
ParamValue = int | float | str | bool | None
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.]*$")
NAN = math.nan


@dataclass(frozen=True)
class Feature:
    """One named feature: ``kind`` with ``params``, needing ``lookback`` previous bars.

    ``params`` may be given as a mapping; it is stored as a sorted tuple of
    (name, value) pairs so the declaration is hashable (read it with
    ``param_dict``). ``lookback`` None means "what the kind needs"; a pipeline
    fills it in and rejects a declared lookback shorter than that. ``source`` is
    ``"bars"`` (the symbol's own bars) or ``"market"`` (a market/cross-asset
    frame, e.g. BTC bars, joined as of time).

    >>> Feature("rsi_14", "rsi", {"period": 14}).param_dict
    {'period': 14}
    """

    name: str
    kind: str
    params: Mapping[str, ParamValue] | tuple[tuple[str, ParamValue], ...] = ()
    lookback: int | None = None
    source: str = "bars"

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not _NAME.match(self.name):
            raise ConfigError(
                f"feature name {self.name!r} is not usable as a column name; use letters, "
                "digits, '_' and '.', starting with a letter or '_' (e.g. 'ret_24')"
            )
        if not isinstance(self.kind, str):
            raise ConfigError(f"feature {self.name!r}: kind must be a string, got {self.kind!r}")
        pairs = self.params.items() if isinstance(self.params, Mapping) else self.params
        try:
            norm = tuple(sorted((str(k), v) for k, v in pairs))
        except (TypeError, ValueError):
            raise ConfigError(
                f"feature {self.name!r}: params must be a mapping of name -> value, "
                f"got {self.params!r}"
            ) from None
        for key, value in norm:
            if not isinstance(value, int | float | str | bool | type(None)) or (
                isinstance(value, float) and not math.isfinite(value)
            ):
                raise ConfigError(
                    f"feature {self.name!r}: parameter {key}={value!r} must be a finite JSON "
                    "scalar (int, float, str, bool or None) so the spec can be stored"
                )
        object.__setattr__(self, "params", norm)
        if self.lookback is not None and (
            isinstance(self.lookback, bool) or not isinstance(self.lookback, int)
            or self.lookback < 0
        ):
            raise ConfigError(
                f"feature {self.name!r}: lookback must be an integer >= 0 or None (derive it "
                f"from the kind), got {self.lookback!r}"
            )
        if self.source not in SOURCES:
            raise ConfigError(
                f"feature {self.name!r}: source must be one of {SOURCES}, got {self.source!r}"
            )

    @property
    def param_dict(self) -> dict[str, ParamValue]:
        """The parameters as a dict."""
        return dict(self.params)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (the entries of ``FeaturePipeline.spec()["features"]``)."""
        return {"name": self.name, "kind": self.kind, "params": self.param_dict,
                "lookback": self.lookback, "source": self.source}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Feature:
        """Inverse of :meth:`to_dict`; ConfigError on unknown or missing keys."""
        _check_keys("feature", data, required={"name", "kind"},
                    optional={"params", "lookback", "source"})
        return cls(data["name"], data["kind"], data.get("params", {}),
                   data.get("lookback"), data.get("source", "bars"))


def _check_keys(what: str, data: Mapping[str, Any], *, required: set[str],
                optional: set[str]) -> None:
    if not isinstance(data, Mapping):
        raise ConfigError(f"{what} spec must be a mapping, got {type(data).__name__}")
    unknown = sorted(set(data) - required - optional)
    if unknown:
        raise ConfigError(
            f"{what} spec has unknown key(s) {unknown}; allowed: {sorted(required | optional)}"
        )
    missing = sorted(required - set(data))
    if missing:
        raise ConfigError(f"{what} spec is missing key(s) {missing}")


def _resolve(feat: Feature) -> tuple[Feature, FeatureKind, dict[str, Any]]:
    try:
        kind = get_kind(feat.kind)
        params = kind.resolve(feat.param_dict)
        for key, default in kind.defaults.items():  # 2 and 2.0 are the same spec
            value = params[key]
            if isinstance(default, float) and isinstance(value, int) and not isinstance(value, bool):
                params[key] = float(value)
        need = int(kind.warmup(params))
        kind.inputs(params)
    except ConfigError as exc:
        raise ConfigError(f"feature {feat.name!r}: {exc}") from None
    if feat.lookback is not None and feat.lookback < need:
        raise ConfigError(
            f"feature {feat.name!r} declares lookback {feat.lookback} but kind {feat.kind!r} "
            f"with {params} needs {need} previous bars; set lookback >= {need} (or None)"
        )
    lookback = need if feat.lookback is None else feat.lookback
    return Feature(feat.name, feat.kind, params, lookback, feat.source), kind, params


@dataclass(frozen=True)
class FeaturePipeline:
    """An ordered, validated set of features over bars of one ``timeframe``.

    ``market_timeframe`` is the timeframe of the market frame that ``source='market'``
    features read (defaults to ``timeframe``). Construction resolves every feature:
    kind known, parameters completed with defaults and checked, lookback filled.
    """

    features: tuple[Feature, ...]
    timeframe: str = "1h"
    market_timeframe: str | None = None
    _kinds: tuple[tuple[FeatureKind, dict[str, Any]], ...] = field(
        default=(), init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        feats = tuple(self.features)
        if not feats:
            raise ConfigError("a feature pipeline needs at least one feature")
        for f in feats:
            if not isinstance(f, Feature):
                raise ConfigError(f"pipeline entries must be Feature objects, got {f!r}")
        seen: set[str] = set()
        dupes = sorted({f.name for f in feats if f.name in seen or seen.add(f.name)})
        if dupes:
            raise ConfigError(f"duplicate feature name(s) {dupes}; every feature needs its own")
        timeframe_to_ms(self.timeframe)
        mtf = self.market_timeframe or self.timeframe
        timeframe_to_ms(mtf)
        resolved = [_resolve(f) for f in feats]
        object.__setattr__(self, "features", tuple(r[0] for r in resolved))
        object.__setattr__(self, "market_timeframe", mtf)
        object.__setattr__(self, "_kinds", tuple((r[1], r[2]) for r in resolved))

    # ------------------------------------------------------------ description

    def __len__(self) -> int:
        return len(self.features)

    @property
    def names(self) -> tuple[str, ...]:
        """Feature (column) names, in order."""
        return tuple(f.name for f in self.features)

    @property
    def warmup(self) -> int:
        """Largest lookback: rows before this index are all NaN."""
        return max(f.lookback or 0 for f in self.features)

    def inputs(self, source: str = "bars") -> tuple[str, ...]:
        """Columns the features of ``source`` read (``ts`` always included)."""
        cols = {"ts"}
        for f, (kind, params) in zip(self.features, self._kinds, strict=True):
            if f.source == source:
                cols.update(kind.inputs(params))
        return tuple(sorted(cols))

    @property
    def resolved_kinds(self) -> tuple[tuple[FeatureKind, dict[str, Any]], ...]:
        """Each feature's kind and full parameters, in order (for computing engines)."""
        return self._kinds

    @property
    def needs_market(self) -> bool:
        """True if some feature reads the market frame."""
        return any(f.source == "market" for f in self.features)

    def spec(self) -> dict[str, Any]:
        """JSON-serialisable declaration; ``from_spec(spec())`` rebuilds an equal pipeline."""
        return {"format": SPEC_FORMAT, "version": SPEC_VERSION, "timeframe": self.timeframe,
                "market_timeframe": self.market_timeframe,
                "features": [f.to_dict() for f in self.features]}

    @classmethod
    def from_spec(cls, spec: Mapping[str, Any]) -> FeaturePipeline:
        """Rebuild a pipeline from ``spec()`` output (e.g. loaded from a model registry)."""
        _check_keys("pipeline", spec, required={"features", "timeframe"},
                    optional={"format", "version", "market_timeframe"})
        if spec.get("format", SPEC_FORMAT) != SPEC_FORMAT:
            raise ConfigError(f"not a feature pipeline spec: format {spec.get('format')!r}")
        if spec.get("version", SPEC_VERSION) != SPEC_VERSION:
            raise ConfigError(
                f"feature spec version {spec.get('version')!r} is not supported by this tradeloom "
                f"(reads version {SPEC_VERSION}); upgrade tradeloom or re-declare the pipeline"
            )
        return cls(tuple(Feature.from_dict(f) for f in spec["features"]), spec["timeframe"],
                   spec.get("market_timeframe"))

    def fingerprint(self) -> str:
        """``config_hash`` of the spec: equal pipelines, equal fingerprints."""
        return config_hash(self.spec())

    def select(self, names: Iterable[str]) -> FeaturePipeline:
        """A pipeline with only ``names`` (in this pipeline's order), e.g. after selection."""
        wanted = set(names)
        unknown = sorted(wanted - set(self.names))
        if unknown:
            raise ConfigError(f"select: unknown feature(s) {unknown}; the pipeline has "
                              f"{len(self)} features, see .names")
        return FeaturePipeline(tuple(f for f in self.features if f.name in wanted),
                               self.timeframe, self.market_timeframe)

    # ----------------------------------------------------------------- batch

    def batch(self, bars: pd.DataFrame, market: pd.DataFrame | None = None) -> pd.DataFrame:
        """Features for every row of ``bars`` (same index, one float64 column per feature).

        ``bars`` has ``ts`` (int ms, bar open time, strictly increasing) and the
        columns the features read; with a ``symbol`` column each symbol is computed
        on its own rows. ``market`` (one symbol's bars, e.g. BTC) feeds the
        ``source='market'`` features.
        """
        if not isinstance(bars, pd.DataFrame):
            raise DataError(f"batch: bars must be a pandas DataFrame, got {type(bars).__name__}")
        mkt = self._market_input(market)
        if "symbol" in bars.columns and bars["symbol"].nunique() > 1:
            out = np.full((len(bars), len(self)), NAN, order="F")
            for rows in bars.groupby("symbol", sort=True).indices.values():
                out[rows] = self._batch_one(bars.iloc[rows], mkt)
        else:
            out = self._batch_one(bars, mkt)
        # out is Fortran-ordered, the layout of a pandas block: no 1 GB copy on 1M x 120
        return pd.DataFrame(out, index=bars.index, columns=list(self.names), copy=False)

    def _market_input(self, market: pd.DataFrame | None) -> tuple[BatchInput, np.ndarray] | None:
        if not self.needs_market:
            return None
        if market is None:
            names = [f.name for f in self.features if f.source == "market"]
            raise DataError(
                f"features {names[:3]}{'...' if len(names) > 3 else ''} read a market frame; "
                "pass batch(bars, market=btc_bars) or drop them with pipeline.select(...)"
            )
        if "symbol" in market.columns and market["symbol"].nunique() > 1:
            raise DataError("batch: market must hold one symbol's bars (e.g. BTC/USDT only)")
        _check_columns("market", market, self.inputs("market"))
        ts = _check_ts("market", market)
        return BatchInput(market), ts + timeframe_to_ms(self.market_timeframe)

    def _batch_one(self, frame: pd.DataFrame,
                   mkt: tuple[BatchInput, np.ndarray] | None) -> np.ndarray:
        _check_columns("bars", frame, self.inputs("bars"))
        ts = _check_ts("bars", frame)
        n = len(frame)
        out = np.empty((n, len(self)), order="F")
        bi = BatchInput(frame)
        where = None
        for j, (f, (kind, params)) in enumerate(zip(self.features, self._kinds, strict=True)):
            if f.source == "bars":
                out[:, j] = _checked(f, kind.batch(bi, params), n)
                continue
            mi, m_close = mkt  # type: ignore[misc]
            if where is None:
                bar_close = ts + timeframe_to_ms(self.timeframe)
                where = np.searchsorted(m_close, bar_close, side="right") - 1
            values = np.array(_checked(f, kind.batch(mi, params), len(mi)), dtype=np.float64)
            values[: f.lookback] = NAN
            out[:, j] = np.where(where >= 0, values[np.maximum(where, 0)], NAN)
        out[: self.warmup] = NAN
        return out

    # ---------------------------------------------------------------- online

    def online(self) -> OnlineFeatures:
        """A fresh streaming computation of this pipeline (one per symbol)."""
        return OnlineFeatures(self)


def _checked(f: Feature, values: np.ndarray, n: int) -> np.ndarray:
    if np.shape(values) != (n,):
        raise DataError(f"feature {f.name!r}: kind {f.kind!r} returned shape {np.shape(values)} "
                        f"for {n} bars; a kind's batch form must return one value per bar")
    return values


def _check_columns(what: str, frame: pd.DataFrame, needed: Iterable[str]) -> None:
    missing = [c for c in needed if c not in frame.columns]
    if missing:
        raise DataError(
            f"{what} frame is missing column(s) {missing} that the features read; it has "
            f"{list(frame.columns)}"
        )


def _check_ts(what: str, frame: pd.DataFrame) -> np.ndarray:
    ts = frame["ts"].to_numpy()
    if ts.dtype.kind not in "iu":
        raise DataError(
            f"{what}: ts must be integer UTC milliseconds (bar open time), got dtype {ts.dtype}; "
            "convert datetimes with .astype('int64') // 10**6"
        )
    ts = ts.astype(np.int64)
    bad = np.flatnonzero(np.diff(ts) <= 0)
    if bad.size:
        i = int(bad[0]) + 1
        raise DataError(
            f"{what}: ts must be strictly increasing; row {i} has ts {ts[i]} after {ts[i - 1]}; "
            "sort by ts and drop duplicates (one symbol per frame, or a 'symbol' column)"
        )
    return ts
