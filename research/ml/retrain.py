"""``retrain(config)``: train a challenger, test it against the champion, promote or keep.

The data range (fixed, or the rolling window ending at the last stored bar) is
split into a training part and the most recent ``holdout_bars`` bars:

1. the challenger is trained (``training.train``, with purged CV) on the bars
   before the holdout; labels that would need holdout bars are undefined there
   and dropped, so no challenger label has seen the holdout;
2. challenger and champion both score the same holdout rows: confidence vs
   ``label > 0`` (AUC, log loss, Brier, accuracy, hit rate) and a backtest of
   ``ConfidenceSized`` on the holdout bars driven by each model's predictions;
3. the challenger is promoted only if it beats the champion on ``metric`` by
   more than ``margin`` (or there is no champion). The decision and its figures
   are recorded in the registry as a ``retrain_decision`` event either way.

A champion trained on data that overlaps the holdout is flagged
(``champion_saw_holdout``): its holdout scores are then in-sample and flattering,
which makes promotion harder, never easier.

**Idempotent**: the challenger is found by config hash + data fingerprint; if it
already exists and has a recorded decision, that decision is returned
(``replayed=True``) and nothing is trained, registered or promoted again.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from tradeloom.engine.errors import ConfigError, DataError
from tradeloom.engine.timeframes import timeframe_to_ms

from tradeloom.research.ml.config import METRICS, RetrainConfig

from tradeloom.research.ml.cv import classification_scores
from tradeloom.research.ml.data import (
    backtest_predictions,
    build_pipeline,
    label_spec,
    load_dataset,
    resolve_range,
)
from tradeloom.research.ml.models import classification_target
from tradeloom.research.ml.registry import ModelRegistry
from tradeloom.research.ml.training import Progress, holdout_predictions, train

__all__ = ["DECISION_EVENT", "RetrainDecision", "retrain"]

DECISION_EVENT = "retrain_decision"


@dataclass(frozen=True)
class RetrainDecision:
    """What a retrain decided and why; ``figures`` holds both models' holdout numbers."""

    name: str
    challenger: str
    champion: str | None
    metric: str
    challenger_value: float
    champion_value: float
    margin: float
    promoted: bool
    reason: str
    figures: Mapping[str, Any] = field(default_factory=dict)
    replayed: bool = False

    def to_figures(self) -> dict[str, Any]:
        return {"challenger": self.challenger, "champion": self.champion, "metric": self.metric,
                "challenger_value": self.challenger_value, "champion_value": self.champion_value,
                "margin": self.margin, "promoted": self.promoted, "reason": self.reason,
                "holdout": dict(self.figures)}

    @classmethod
    def from_figures(cls, name: str, f: Mapping[str, Any], replayed: bool) -> RetrainDecision:
        def num(v: Any) -> float:
            return math.nan if v is None else float(v)

        return cls(name, f["challenger"], f["champion"], f["metric"], num(f["challenger_value"]),
                   num(f["champion_value"]), float(f["margin"]), bool(f["promoted"]),
                   f["reason"], f["holdout"], replayed)


def retrain(cfg: RetrainConfig, store: Any, registry: ModelRegistry, *, created_at: int,
            progress: Progress | None = None) -> RetrainDecision:
    """Train a challenger and promote it only if it beats the champion (module docstring)."""
    tcfg = cfg.train
    name = tcfg.name
    pipeline = build_pipeline(tcfg.pipeline, tcfg.data.timeframe)
    tf = timeframe_to_ms(tcfg.data.timeframe)
    start, end = resolve_range(store, tcfg.data, needs_market=pipeline.needs_market)
    lo = end - cfg.holdout_bars * tf
    if lo - start < 4 * max(pipeline.warmup, 100) * tf:
        raise DataError(f"retrain {name}: {(end - start) // tf} bars leave too little before the "
                        f"{cfg.holdout_bars}-bar holdout to train on; lower holdout_bars or use "
                        "a longer data range")
    with registry.training_lock(name):
        result = train(tcfg, store, registry, created_at=created_at, progress=progress,
                       who=cfg.who, window=(start, lo), champion_if_first=False, lock=False)
        challenger = result.version
        if result.reused:
            for ev in reversed(registry.events(name)):
                if ev.event == DECISION_EVENT and ev.version == challenger.version:
                    return RetrainDecision.from_figures(name, ev.figures, replayed=True)
        champ_version = next((v for v in registry.list_versions(name)
                              if v.status == "champion"), None)
        decision = _decide(cfg, store, registry, challenger.ref,
                           champ_version.ref if champ_version else None, start, lo, end)
        registry.record(name, challenger.version, DECISION_EVENT, who=cfg.who, when=created_at,
                        why=decision.reason, figures=decision.to_figures())
        if decision.promoted:
            registry.promote(challenger.ref, who=cfg.who, when=created_at, why=decision.reason)
    return decision


def _decide(cfg: RetrainConfig, store: Any, registry: ModelRegistry, challenger_ref: str,
            champion_ref: str | None, start: int, lo: int, end: int) -> RetrainDecision:
    tcfg = cfg.train
    models = {"challenger": registry.load(challenger_ref)}
    if champion_ref is not None:
        models["champion"] = registry.load(champion_ref)
    needs_market = any(m.pipeline.needs_market for m in models.values())
    for m in models.values():
        if m.pipeline.needs_market and m.market_symbol != tcfg.data.market_symbol:
            raise ConfigError(f"{m.ref} reads market features from {m.market_symbol} but the "
                              f"config's market_symbol is {tcfg.data.market_symbol}; compare "
                              "models on the same market symbol")
    ds = load_dataset(store, tcfg.data, needs_market=needs_market, start=start, end=end)
    labels = label_spec(tcfg.label, tcfg.data.timeframe).compute(ds.bars)
    in_holdout = (ds.bars["ts"] >= lo).to_numpy()
    y = labels["label"].to_numpy()[in_holdout]
    preds = {k: holdout_predictions(m, ds, lo) for k, m in models.items()}
    usable = ~np.isnan(y)
    for p in preds.values():
        usable &= ~np.isnan(p["confidence"].to_numpy())
    if usable.sum() < 20:
        raise DataError(f"holdout has {int(usable.sum())} rows where every model predicts and "
                        "the label is known; raise holdout_bars")
    markets = dict(store.load_markets(tcfg.data.exchange))
    figures: dict[str, Any] = {"start": lo, "end": end, "rows": int(usable.sum())}
    values: dict[str, float] = {}
    for key, p in preds.items():
        yt = classification_target(y[usable])
        scores = classification_scores(yt, p["confidence"].to_numpy()[usable])
        bt = backtest_predictions(ds.bars, p["symbol"], p["ts"], p["confidence"],
                                  timeframe=tcfg.data.timeframe, strategy=tcfg.strategy,
                                  markets=markets, lo=lo, hi=end - 1)
        figures[key] = {"ref": models[key].ref, "scores": scores, "backtest": bt}
        values[key] = float({**scores, **bt}[cfg.metric])
    if champion_ref is not None:
        champ_end = models["champion"].version.data.get("end") if models["champion"].version \
            else None
        figures["champion_saw_holdout"] = bool(champ_end is not None and champ_end > lo)
    c = values["challenger"]
    h = values.get("champion", math.nan)
    better = METRICS[cfg.metric]
    gain = (c - h) if better else (h - c)
    if champion_ref is None:
        promoted = True
        reason = (f"no champion yet: {challenger_ref} becomes champion ({cfg.metric} {c:.4f} "
                  "on the holdout)")
    elif math.isnan(c):
        promoted = False
        reason = f"challenger {cfg.metric} is undefined on the holdout; keeping {champion_ref}"
    elif math.isnan(h) or gain > cfg.margin:
        promoted = True
        reason = (f"{challenger_ref} beats {champion_ref} on {cfg.metric}: {c:.4f} vs {h:.4f} "
                  f"(gain {gain:.4f} > margin {cfg.margin})")
    else:
        promoted = False
        reason = (f"keeping {champion_ref}: {challenger_ref} {cfg.metric} {c:.4f} vs {h:.4f} "
                  f"(gain {gain:.4f} <= margin {cfg.margin})")
    return RetrainDecision(tcfg.name, challenger_ref, champion_ref, cfg.metric, c, h,
                           cfg.margin, promoted, reason, figures)
