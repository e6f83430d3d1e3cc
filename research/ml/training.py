"""``train(config)``: features + labels -> purged CV -> honest evaluation -> final model -> registry.

Steps, each reported to an optional ``progress(step, done, total)`` callback:

1. resolve the data range from the store and read the bars (fingerprinted);
2. compute the declared pipeline's features and the label, drop NaN rows;
3. purged walk-forward CV (``cv.PurgedWalkForward``) with an embargo of one label
   horizon whenever labels overlap (unless ``cv.embargo_bars`` says otherwise):
   per fold a model fitted on the training rows (weighted and calibrated as its
   spec says, ``models.py``) predicts the test rows; scores per fold and overall
   (of the calibrated confidence, and ``auc_rank``: the AUC of the raw scores,
   the model's ranking skill whatever the calibrator made of it), and a backtest
   of ``ConfidenceSized`` driven by each fold's out-of-sample predictions;
4. evaluation of the pooled out-of-fold rows (``evaluation.py``): the baselines
   (base rate, previous-return sign) fitted on the same folds, the model's edge
   over each with a block-bootstrap 95 % interval, ECE before and after
   calibration against the constant forecast's, and the reliability tables;
5. optionally CPCV (``cv.cpcv``): the distribution of out-of-sample paths;
6. the final model on all rows, registered as a candidate (champion when it is
   the model's first version and ``champion_if_first``) with its full lineage
   (``lineage.py``: code commit, library versions, the whole config, data range
   and fingerprint, feature and label fingerprints).

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

from tradeloom.engine.config import config_hash
from tradeloom.engine.errors import DataError
from tradeloom.engine.timeframes import timeframe_to_ms
from tradeloom.research.ml.confidence import ConfidenceModel
from tradeloom.research.ml.config import CVSettings, TrainConfig
from tradeloom.research.ml.cv import CVResult, FoldResult, PurgedWalkForward, cross_validate
from tradeloom.research.ml.data import (
    Dataset,
    backtest_predictions,
    build_pipeline,
    label_horizon,
    label_spec,
    load_dataset,
    prev_up,
    resolve_range,
    training_rows,
)
from tradeloom.research.ml.evaluation import evaluate_oof, rule_probability
from tradeloom.research.ml.lineage import code_version, model_lineage
from tradeloom.research.ml.models import FittedModel, ModelSpec, classification_target, fit_model
from tradeloom.research.ml.registry import ModelRegistry, ModelVersion
from tradeloom.research.ml.significance import fast_auc, time_blocks

__all__ = ["Progress", "TrainResult", "holdout_predictions", "model_spec", "resolve_embargo",
           "train"]

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

    @property
    def evaluation(self) -> dict[str, Any]:
        """Baselines, edges and calibration of the out-of-fold rows (``evaluation.py``)."""
        return dict(self.version.scores.get("evaluation", {}))


def model_spec(cfg: TrainConfig) -> ModelSpec:
    """The ``models.ModelSpec`` of a config."""
    m = cfg.model
    return ModelSpec(m.kind, m.params, m.seed, m.calibration, m.calibration_folds, m.weights,
                     m.bootstrap)


def resolve_embargo(cv: CVSettings, horizon: int) -> int:
    """The embargo in bars: as configured, else the label horizon when labels overlap
    (horizon > 1: a label shares bars with the next ``horizon - 1`` rows), else 0.

    >>> resolve_embargo(CVSettings(), 12), resolve_embargo(CVSettings(), 1)
    (12, 0)
    >>> resolve_embargo(CVSettings(embargo_bars=0), 12)  # an explicit 0 is kept
    0
    """
    if cv.embargo_bars is not None:
        return cv.embargo_bars
    return horizon if horizon > 1 else 0


def _noop(step: str, done: int, total: int) -> None:
    """Default progress callback: report nothing."""


def train(cfg: TrainConfig, store: Any, registry: ModelRegistry, *, created_at: int,
          progress: Progress | None = None, who: str = "train",
          window: tuple[int, int] | None = None, champion_if_first: bool | None = None,
          lock: bool = True) -> TrainResult:
    """Train, cross-validate, evaluate and register the model ``cfg`` declares (module doc).

    ``window`` overrides the data range ``(start, end)`` in UTC ms and
    ``champion_if_first`` the config's setting (``retrain`` uses both: it holds out
    the most recent bars and decides promotion itself). ``lock=False`` when the
    caller already holds ``registry.training_lock(cfg.name)``.
    """
    report = progress or _noop
    pipeline = build_pipeline(cfg.pipeline, cfg.data.timeframe)
    label = label_spec(cfg.label, cfg.data.timeframe)
    spec = model_spec(cfg)
    tf = timeframe_to_ms(cfg.data.timeframe)
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
        ycls = classification_target(lab)
        names = list(pipeline.names)
        horizon = label_horizon(label)
        embargo = resolve_embargo(cfg.cv, horizon)
        up = prev_up(ds.bars, horizon)[rows.index.to_numpy()]
        n = lab.size
        raw, const, rule = np.full(n, np.nan), np.full(n, np.nan), np.full(n, np.nan)
        rank = np.full(n, np.nan)
        methods: list[str] = []

        def fit(train_pos: np.ndarray) -> FittedModel:
            return fit_model(spec, X[train_pos], lab[train_pos], rows.t0[train_pos],
                             rows.t1[train_pos], feature_names=names,
                             groups=row_symbols[train_pos], timeframe_ms=tf)

        def fit_predict(train_pos: np.ndarray, _y: np.ndarray, test_pos: np.ndarray) -> Any:
            m = fit(train_pos)
            methods.append(str(m.fit_info["calibration"]))
            raw[test_pos] = m.raw_probability(X[test_pos])
            rank[test_pos] = m.score(X[test_pos])
            const[test_pos] = ycls[train_pos].mean()
            known = ~np.isnan(up[train_pos])
            rule[test_pos] = rule_probability(ycls[train_pos][known], up[train_pos][known],
                                              up[test_pos])
            return m.confidence(X[test_pos])

        markets = dict(store.load_markets(cfg.data.exchange))
        done = [0]

        def fold_bt(fr: FoldResult) -> dict[str, float]:
            out = backtest_predictions(
                ds.bars, row_symbols[fr.fold.test], fr.t0, fr.pred, timeframe=cfg.data.timeframe,
                strategy=cfg.strategy, markets=markets, lo=int(fr.t0.min()),
                hi=int(fr.t0.max()))
            done[0] += 1
            report("backtest", done[0], cfg.cv.n_splits)
            return {f"bt_{k}": v for k, v in out.items()}

        cv = PurgedWalkForward(cfg.cv.n_splits, cfg.cv.train_min, embargo, mode=cfg.cv.mode)
        report("cv", 0, cfg.cv.n_splits)
        result = cross_validate(cv, np.arange(n), ycls, rows.t0, rows.t1, fit_predict,
                                task="binary", fold_backtest=fold_bt if cfg.cv.backtest else None)
        report("cv", cfg.cv.n_splits, cfg.cv.n_splits)
        report("evaluate", 0, 1)
        tested = np.concatenate([fr.fold.test for fr in result.folds])
        evaluation = evaluate_oof(
            ycls[tested], result.oof(n)[tested], raw[tested],
            {"base_rate": const[tested], "prev_return_sign": rule[tested]},
            time_blocks(rows.t0[tested], max(horizon, 1) * tf), rank=rank[tested],
            n_boot=cfg.cv.bootstrap, seed=spec.seed)
        evaluation["calibration"]["fold_methods"] = methods
        report("evaluate", 1, 1)
        paths = None
        if cfg.cv.cpcv is not None:
            from tradeloom.research.ml.paths import cpcv_paths

            report("cpcv", 0, 1)
            def fit_both(tr: np.ndarray, te: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
                m = fit(tr)
                return m.confidence(X[te]), m.score(X[te])

            paths = cpcv_paths(cfg, ds, rows.t0, rows.t1, ycls, row_symbols, embargo, fit_both,
                               markets)
            report("cpcv", 1, 1)
        report("fit", 0, 1)
        model = fit(np.arange(n))
        report("fit", 1, 1)
        scores = _scores(result, n, evaluation, paths, model.fit_info, embargo, ycls, rank)
        lineage = model_lineage(cfg, ds.describe(), ds.fingerprint,
                                pipeline_fingerprint=pipeline.fingerprint(),
                                label_fingerprint=label.fingerprint())
        version = registry.register(
            name=cfg.name, files=model.artifact(), kind=spec.kind, config_hash=chash,
            data_fingerprint=ds.fingerprint, data=ds.describe(), pipeline=pipeline.spec(),
            label=label.spec(), model=spec.spec(), scores=scores, code_version=code_version(),
            created_at=created_at, who=who, champion_if_first=first, lineage=lineage)
    report("done", 1, 1)
    return TrainResult(version, False, result, model, ds)


def _scores(result: CVResult, n_rows: int, evaluation: dict[str, Any],
            paths: dict[str, Any] | None, fit_info: dict[str, Any], embargo: int,
            y: np.ndarray, rank: np.ndarray) -> dict[str, Any]:
    table = result.table().reset_index()
    folds = [{k: (v.item() if hasattr(v, "item") else v) for k, v in row.items()}
             for row in table[table["fold"] != "overall"].to_dict("records")]
    for f, fr in zip(folds, result.folds, strict=True):  # ranking skill of the raw scores
        f["auc_rank"] = fast_auc(y[fr.fold.test], rank[fr.fold.test])
    bt = [{k[3:]: v for k, v in f.items() if k.startswith("bt_")} for f in folds]
    bt_mean = {k: _mean_defined([b[k] for b in bt]) for k in bt[0]} if bt and bt[0] else {}
    tested = np.concatenate([fr.fold.test for fr in result.folds])
    out = {"cv": {**dict(result.overall), "auc_rank": fast_auc(y[tested], rank[tested])},
           "folds": folds, "backtest_mean": bt_mean,
           "rows": n_rows, "embargo_bars": embargo, "evaluation": evaluation,
           "fit": dict(fit_info)}
    if paths is not None:
        out["cpcv"] = paths
    return out


def _mean_defined(values: list[float]) -> float:
    """Mean of the defined values (NaN when none is: e.g. no fold traded)."""
    v = np.asarray(values, dtype=np.float64)
    v = v[~np.isnan(v)]
    return float(v.mean()) if v.size else float("nan")


def holdout_predictions(model: ConfidenceModel, ds: Dataset, lo: int) -> pd.DataFrame:
    """Batch confidence of ``model`` on ``ds`` rows with ``ts >= lo`` (features use the
    bars before ``lo`` as warm-up context). Columns: symbol, ts, confidence, score (the
    raw score, for the ranking AUC)."""
    if model.pipeline.needs_market and ds.market is None:
        raise DataError(f"{model.ref} reads market features; load the data with the market "
                        "symbol")
    conf = model.batch(ds.bars, market=ds.market)
    score = model.scores(ds.bars, market=ds.market)
    keep = (ds.bars["ts"] >= lo).to_numpy()
    return pd.DataFrame({"symbol": ds.bars["symbol"].to_numpy()[keep],
                         "ts": ds.bars["ts"].to_numpy()[keep],
                         "confidence": conf.to_numpy()[keep],
                         "score": score.to_numpy()[keep]})
