"""Bars, features and labels for model training, read from the market store.

One place turns a config's data settings into an exact, fingerprinted selection
of bars (fixed range, or the last ``window_bars`` bars stored), the feature
pipeline and label spec it declares, and the aligned training rows. It also
backtests the confidence-sized strategy on a slice of those bars from
precomputed predictions (CV test folds, retrain holdouts).

The range is resolved from the stored data, never from the clock: a rolling
window ends at the last bar stored for every symbol, so the same store gives the
same selection, the same fingerprint and the same model.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from tradeloom.engine.errors import DataError
from tradeloom.engine.timeframes import timeframe_to_ms
from tradeloom.engine.timeutil import parse_utc_ms
from tradeloom.research.features.library import default_pipeline
from tradeloom.research.features.pipeline import FeaturePipeline
from tradeloom.research.ml.config import (
    DataSettings,
    LabelSettings,
    PipelineSettings,
    StrategySettings,
    TrainConfig,
)
from tradeloom.research.ml.labels import LabelSpec, TrainingSet, align_training

__all__ = ["BACKTEST_METRICS", "Dataset", "backtest_predictions", "build_pipeline",
           "label_horizon", "label_spec", "load_dataset", "prev_up", "resolve_range",
           "training_data", "training_rows"]

BACKTEST_METRICS = ("total_return", "sharpe", "max_drawdown", "n_trades", "exposure_time",
                    "fees_paid")


@dataclass(frozen=True)
class Dataset:
    """Bars of ``symbols`` (ts, symbol, OHLCV; sorted by ts, symbol) with ``start <= ts < end``,
    the market symbol's bars (or None) and the fingerprint of everything read."""

    exchange: str
    timeframe: str
    symbols: tuple[str, ...]
    market_symbol: str | None
    start: int
    end: int
    bars: pd.DataFrame
    market: pd.DataFrame | None
    fingerprint: str

    def describe(self) -> dict[str, Any]:
        """The data selection as stored in the registry."""
        return {"exchange": self.exchange, "timeframe": self.timeframe,
                "symbols": list(self.symbols), "market_symbol": self.market_symbol,
                "start": self.start, "end": self.end, "rows": len(self.bars)}


def build_pipeline(settings: PipelineSettings, timeframe: str) -> FeaturePipeline:
    """The feature pipeline a config declares."""
    if settings.library == "spec":
        pipe = FeaturePipeline.from_spec(settings.spec or {})
    else:
        pipe = default_pipeline(timeframe, market=settings.market)
    return pipe.select(settings.select) if settings.select else pipe


def label_spec(settings: LabelSettings, timeframe: str) -> LabelSpec:
    """The label a config declares, at the data's timeframe (meta-labeled by its primary)."""
    primary = None if settings.primary is None else settings.primary.model_dump()
    return LabelSpec(settings.kind, settings.params, timeframe, primary)


def resolve_range(store: Any, data: DataSettings, *, needs_market: bool) -> tuple[int, int]:
    """``(start, end)`` in UTC ms (end exclusive) from the config and the stored bars."""
    tf = timeframe_to_ms(data.timeframe)
    names = _read_symbols(data, needs_market)
    lasts = {s: store.last_ts(data.exchange, data.timeframe, s) for s in names}
    missing = [s for s, v in lasts.items() if v is None]
    if missing:
        raise DataError(f"no {data.exchange} {data.timeframe} bars stored for {missing}; ingest "
                        "them (tradeloom ingest ...) or load the sample (tradeloom data "
                        "load-sample)")
    last_end = min(lasts.values()) + tf
    end = parse_utc_ms(data.end, "data.end") if data.end else last_end
    end = min(end, last_end)
    if data.window_bars is not None:
        return end - data.window_bars * tf, end
    start = parse_utc_ms(data.start, "data.start") if data.start else 0
    if end <= start:
        raise DataError(f"data range [{data.start}, {data.end}) holds no stored bars; the "
                        f"stored bars end at {last_end}")
    return start, end


def _read_symbols(data: DataSettings, needs_market: bool) -> list[str]:
    return sorted(set(data.symbols) | ({data.market_symbol} if needs_market else set()))


def load_dataset(store: Any, data: DataSettings, *, needs_market: bool, start: int,
                 end: int) -> Dataset:
    """Read the bars of ``data`` in [start, end) (+ the market symbol's when needed)."""
    symbols = list(data.symbols)
    bars = store.read_bars(data.exchange, data.timeframe, symbols, start, end)
    if bars.empty:
        raise DataError(f"no bars for {symbols} in [{start}, {end}); check the range")
    bars = bars.assign(symbol=bars["symbol"].astype(object)).reset_index(drop=True)
    market = None
    if needs_market:
        market = store.read_bars(data.exchange, data.timeframe, data.market_symbol, start, end)
    fingerprint = store.fingerprint(data.exchange, data.timeframe,
                                    _read_symbols(data, needs_market), start, end)
    return Dataset(data.exchange, data.timeframe, tuple(symbols),
                   data.market_symbol if needs_market else None, start, end, bars, market,
                   fingerprint)


def training_rows(ds: Dataset, pipeline: FeaturePipeline, label: LabelSpec
                  ) -> tuple[TrainingSet, np.ndarray]:
    """Aligned, NaN-free training rows and each row's symbol."""
    feats = pipeline.batch(ds.bars, market=ds.market)
    labels = label.compute(ds.bars)
    rows = align_training(feats, labels, ds.bars["ts"])
    if len(rows) == 0:
        raise DataError(f"no training rows: {len(ds.bars)} bars, feature warm-up "
                        f"{pipeline.warmup} bars; use a longer data range")
    return rows, ds.bars.loc[rows.index, "symbol"].to_numpy()


def training_data(cfg: TrainConfig, store: Any) -> tuple[TrainingSet, np.ndarray, Dataset]:
    """The rows ``train`` would fit for ``cfg`` (features, label, label windows), each row's
    symbol and the dataset they came from: for research on a config (importance, CPCV)."""
    pipeline = build_pipeline(cfg.pipeline, cfg.data.timeframe)
    start, end = resolve_range(store, cfg.data, needs_market=pipeline.needs_market)
    ds = load_dataset(store, cfg.data, needs_market=pipeline.needs_market, start=start, end=end)
    rows, symbols = training_rows(ds, pipeline, label_spec(cfg.label, cfg.data.timeframe))
    return rows, symbols, ds


def label_horizon(label: LabelSpec) -> int:
    """The label's horizon in bars (its ``horizon`` parameter; 1 when it has none)."""
    return int(dict(label.params).get("horizon", 1))


def prev_up(bars: pd.DataFrame, horizon: int) -> np.ndarray:
    """Per bar of ``bars`` (per symbol): 1.0 if the close rose over the last ``horizon``
    bars, 0.0 if not, NaN when unknown (the previous-return-sign baseline's input)."""
    from tradeloom.research.ml.evaluation import prev_return_up

    out = np.full(len(bars), np.nan)
    for rows in bars.groupby("symbol", sort=True).indices.values():
        out[rows] = prev_return_up(bars["close"].to_numpy()[rows], horizon)
    return out


def backtest_predictions(bars: pd.DataFrame, symbols: Sequence[str], ts: Sequence[int],
                         conf: Sequence[float], *, timeframe: str, strategy: StrategySettings,
                         markets: Mapping[str, Any] | None, lo: int, hi: int,
                         returns: bool = False) -> dict[str, Any]:
    """Backtest ``ConfidenceSized`` over the bars with ``lo <= ts <= hi``, driven by the
    precomputed confidences ``conf`` of (symbol, ts) rows (NaN elsewhere). With
    ``returns=True`` the result also holds ``"returns"``: the per-step equity returns
    (for paired tests of backtest metrics)."""
    from tradeloom.engine.market import MarketSpec
    from tradeloom.engine.run.backtest import backtest_arrays
    from tradeloom.engine.run.feeds import BarArrays
    from tradeloom.research.ml.confidence import PrecomputedBook
    from tradeloom.research.strategies.ml_confidence import ConfidenceSized

    window = bars[(bars["ts"] >= lo) & (bars["ts"] <= hi)]
    data = {s: BarArrays.from_frame(g) for s, g in window.groupby("symbol", sort=True)}
    if not data:
        raise DataError(f"no bars in [{lo}, {hi}] to backtest")
    book = PrecomputedBook.from_arrays(symbols, ts, conf)
    strat = ConfidenceSized.with_book(book, model="precomputed", threshold=strategy.threshold,
                                      max_weight=strategy.max_weight)
    mk = {s: (markets or {}).get(s) or MarketSpec(s) for s in data}
    res = backtest_arrays(strat, data, timeframe=timeframe, markets=mk)
    out: dict[str, Any] = {k: float(res.metrics[k]) for k in BACKTEST_METRICS}
    if returns:
        eq = res.equity["equity"].to_numpy(dtype=np.float64)
        out["returns"] = eq[1:] / eq[:-1] - 1.0
    return out
