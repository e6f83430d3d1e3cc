"""``train(config)``: features + labels -> purged walk-forward CV -> final model -> registry.

Steps, each reported to an optional ``progress(step, done, total)`` callback:

1. resolve the data range from the store and read the bars (fingerprinted);
2. compute the declared pipeline's features and the label, drop NaN rows;
3. purged walk-forward CV (``cv.PurgedWalkForward``): per fold a model fitted on
   the training rows (calibration tail inside them) predicts the test rows;
   scores per fold and overall, and a backtest of ``ConfidenceSized`` driven by
   each fold's out-of-sample predictions (the ``fold_backtest`` hook);
4. the final model on all rows, registered as a candidate (champion when it is
   the model's first version and ``champion_if_first``).

**Idempotent**: a model is identified by its config hash and the data
fingerprint. If that version is already registered, ``train`` returns it
(``reused=True``) without training again; training is deterministic anyway, so
it would produce the same bytes. A per-model lock file keeps two processes from
training the same model at once. ``created_at`` is supplied by the caller (the
CLI reads the clock), so research code stays deterministic.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from tradeloom.engine.errors import DataError

from tradeloom._version import __version__
from tradeloom.engine.config import config_hash
from tradeloom.research.ml.config import TrainConfig

from tradeloom.research.ml.confidence import ConfidenceModel
from tradeloom.research.ml.cv import CVResult, FoldResult, PurgedWalkForward, cross_validate
from tradeloom.research.ml.data import (
    Dataset,
    backtest_predictions,
    build_pipeline,
    label_spec,
    load_dataset,
    resolve_range,
    training_rows,
)
from tradeloom.research.ml.models import FittedModel, ModelSpec, classification_target, fit_model
from tradeloom.research.ml.registry import ModelRegistry, ModelVersion

__all__ = ["Progress", "TrainResult", "model_spec", "train"]

Progress = Callable[[str, int, int], None]


@dataclass(frozen=True)
class TrainResult:
    """The registered version, and (when trained now) the CV result and fitted model."""

    version: ModelVersion
    reused: bool
    cv: CVResult | None = None
    model: FittedModel | None = None
    dataset: Dataset | None = None

    def table(self) -> pd.DataFrame:
        """Per-fold scores and backtest metrics (from the registry when reused)."""
        return pd.DataFrame(self.version.scores.get("folds", [])).set_index("fold")


def model_spec(cfg: TrainConfig) -> ModelSpec:
    """The ``models.ModelSpec`` of a config."""
    m = cfg.model
    return ModelSpec(m.kind, m.params, m.seed, m.calibration, m.calibration_fraction)


def _noop(step: str, done: int, total: int) -> None:
    """Default progress callback: report nothing."""


def _markets(store: Any, exchange: str) -> dict[str, Any]:
    return dict(store.load_markets(exchange))


def train(cfg: TrainConfig, store: Any, registry: ModelRegistry, *, created_at: int,
          progress: Progress | None = None, who: str = "train",
          window: tuple[int, int] | None = None, champion_if_first: bool | None = None,
          lock: bool = True) -> TrainResult:
    """Train, cross-validate and register the model ``cfg`` declares (see the module doc).

    ``window`` overrides the data range ``(start, end)`` in UTC ms and
    ``champion_if_first`` the config's setting (``retrain`` uses both: it holds out
    the most recent bars and decides promotion itself). ``lock=False`` when the
    caller already holds ``registry.training_lock(cfg.name)``.
    """
    report = progress or _noop
    pipeline = build_pipeline(cfg.pipeline, cfg.data.timeframe)
    label = label_spec(cfg.label, cfg.data.timeframe)
    spec = model_spec(cfg)
    report("data", 0, 1)
    start, end = window or resolve_range(store, cfg.data, needs_market=pipeline.needs_market)
    ds = load_dataset(store, cfg.data, needs_market=pipeline.needs_market, start=start, end=end)
    chash = config_hash(cfg)
    found = registry.find(cfg.name, chash, ds.fingerprint)
    if found is not None:
        report("done", 1, 1)
        return TrainResult(found, True, dataset=ds)
    first = cfg.champion_if_first if champion_if_first is None else champion_if_first
    with registry.training_lock(cfg.name) if lock else nullcontext():
        rows, row_symbols = training_rows(ds, pipeline, label)
        report("data", 1, 1)
        X = rows.X.to_numpy(dtype=np.float64)
        lab = np.asarray(rows.y, dtype=np.float64)
        names = list(pipeline.names)
        folds_total = cfg.cv.n_splits

        def fit_predict(train_pos: np.ndarray, _y: np.ndarray, test_pos: np.ndarray) -> Any:
            m = fit_model(spec, X[train_pos], lab[train_pos], rows.t0[train_pos],
                          rows.t1[train_pos], feature_names=names)
            return m.confidence(X[test_pos])

        markets = _markets(store, cfg.data.exchange)
        done = [0]

        def fold_bt(fr: FoldResult) -> dict[str, float]:
            out = backtest_predictions(
                ds.bars, row_symbols[fr.fold.test], fr.t0, fr.pred, timeframe=cfg.data.timeframe,
                strategy=cfg.strategy, markets=markets, lo=int(fr.t0.min()),
                hi=int(fr.t0.max()))
            done[0] += 1
            report("backtest", done[0], folds_total)
            return {f"bt_{k}": v for k, v in out.items()}

        cv = PurgedWalkForward(cfg.cv.n_splits, cfg.cv.train_min, cfg.cv.embargo_bars,
                               mode=cfg.cv.mode)
        report("cv", 0, folds_total)
        result = cross_validate(cv, np.arange(len(lab)), classification_target(lab), rows.t0,
                                rows.t1, fit_predict, task="binary",
                                fold_backtest=fold_bt if cfg.cv.backtest else None)
        report("cv", folds_total, folds_total)
        report("fit", 0, 1)
        model = fit_model(spec, X, lab, rows.t0, rows.t1, feature_names=names)
        report("fit", 1, 1)
        scores = _scores(result, len(lab))
        version = registry.register(
            name=cfg.name, files=model.artifact(), kind=spec.kind, config_hash=chash,
            data_fingerprint=ds.fingerprint, data=ds.describe(), pipeline=pipeline.spec(),
            label=label.spec(), model=spec.spec(), scores=scores, code_version=__version__,
            created_at=created_at, who=who, champion_if_first=first)
    report("done", 1, 1)
    return TrainResult(version, False, result, model, ds)


def _scores(result: CVResult, n_rows: int) -> dict[str, Any]:
    table = result.table().reset_index()
    folds = [{k: (v.item() if hasattr(v, "item") else v) for k, v in row.items()}
             for row in table[table["fold"] != "overall"].to_dict("records")]
    bt = [{k[3:]: v for k, v in f.items() if k.startswith("bt_")} for f in folds]
    bt_mean = {k: float(np.nanmean([b[k] for b in bt])) for k in bt[0]} if bt and bt[0] else {}
    return {"cv": dict(result.overall), "folds": folds, "backtest_mean": bt_mean,
            "rows": n_rows}


def holdout_predictions(model: ConfidenceModel, ds: Dataset, lo: int) -> pd.DataFrame:
    """Batch confidence of ``model`` on ``ds`` rows with ``ts >= lo`` (features use the
    bars before ``lo`` as warm-up context). Columns: symbol, ts, confidence."""
    if model.pipeline.needs_market and ds.market is None:
        raise DataError(f"{model.ref} reads market features; load the data with the market "
                        "symbol")
    conf = model.batch(ds.bars, market=ds.market)
    keep = (ds.bars["ts"] >= lo).to_numpy()
    return pd.DataFrame({"symbol": ds.bars["symbol"].to_numpy()[keep],
                         "ts": ds.bars["ts"].to_numpy()[keep],
                         "confidence": conf.to_numpy()[keep]})
