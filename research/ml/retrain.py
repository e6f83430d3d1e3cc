"""``retrain(config)``: train a challenger, test it against the champion, promote or keep.

The data range (fixed, or the rolling window ending at the last stored bar) is
split into a training part and the most recent ``holdout_bars`` bars:

1. the challenger is trained (``training.train``, with purged CV) on the bars
   before the holdout; labels that would need holdout bars are undefined there
   and dropped, so no challenger label has seen the holdout;
2. challenger and champion both score the same holdout rows: confidence vs
   ``label > 0`` (AUC, log loss, Brier, accuracy, hit rate; ``auc_rank``, the
   AUC of the raw scores, is reported beside them) and a backtest of
   ``ConfidenceSized`` on the holdout bars driven by each model's predictions;
3. the challenger is promoted only if (or when there is no champion):

   - it beats the champion on ``metric`` by more than ``margin`` (default 0.01),
     **and**
   - a one-sided paired test on those same rows rejects "the challenger is not
     better" at ``alpha`` (default 5 %): DeLong's test for AUC (default), or a
     paired bootstrap for any metric (per-bar strategy returns for ``sharpe`` and
     ``total_return``). Rows within one label horizon are dependent (their labels
     share bars), so both tests work on blocks of that length
     (``significance.py``); an independent-rows test would promote noise: changing
     only the seed moves a holdout AUC by ~0.03 on hourly crypto.

   The decision, the test (statistic, p-value, interval of the difference) and
   both models' figures are recorded in the registry as a ``retrain_decision``
   event either way.

A champion trained on data that overlaps the holdout is flagged
(``champion_saw_holdout``): its holdout scores are then in-sample and flattering,
which makes promotion harder, never easier.

**Idempotent, against the current champion**: the challenger is found by config
hash + data fingerprint. If it already exists with a recorded decision *against
the model that is champion now*, that decision is returned (``replayed=True``)
and nothing is trained, registered or promoted again. If the champion changed
since (a manual ``models promote`` or ``retire``), the challenger is compared
with the current champion and a new decision recorded; if the challenger itself
is now the champion there is nothing to decide, and the answer says so.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
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
    label_horizon,
    label_spec,
    load_dataset,
    resolve_range,
)
from tradeloom.research.ml.models import classification_target
from tradeloom.research.ml.registry import ModelEvent, ModelRegistry
from tradeloom.research.ml.significance import (
    PairedTest,
    delong_test,
    fast_auc,
    paired_bootstrap,
    time_blocks,
)
from tradeloom.research.ml.training import Progress, holdout_predictions, train

__all__ = ["DECISION_EVENT", "RetrainDecision", "retrain"]

DECISION_EVENT = "retrain_decision"
BACKTEST_KEYS = ("sharpe", "total_return")


@dataclass(frozen=True)
class RetrainDecision:
    """What a retrain decided and why; ``test`` is the paired test (``PairedTest.to_dict``,
    empty without a champion), ``figures`` both models' holdout numbers."""

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
    test: Mapping[str, Any] = field(default_factory=dict)
    alpha: float = math.nan

    @property
    def p_value(self) -> float:
        """The paired test's one-sided p-value (NaN without a champion)."""
        v = self.test.get("p_value")
        return math.nan if v is None else float(v)

    def to_figures(self) -> dict[str, Any]:
        return {"challenger": self.challenger, "champion": self.champion, "metric": self.metric,
                "challenger_value": self.challenger_value, "champion_value": self.champion_value,
                "margin": self.margin, "promoted": self.promoted, "reason": self.reason,
                "test": dict(self.test), "alpha": self.alpha, "holdout": dict(self.figures)}

    @classmethod
    def from_figures(cls, name: str, f: Mapping[str, Any], replayed: bool) -> RetrainDecision:
        def num(v: Any) -> float:
            return math.nan if v is None else float(v)

        return cls(name, f["challenger"], f["champion"], f["metric"], num(f["challenger_value"]),
                   num(f["champion_value"]), float(f["margin"]), bool(f["promoted"]),
                   f["reason"], f["holdout"], replayed, dict(f.get("test") or {}),
                   num(f.get("alpha")))


def _recorded(registry: ModelRegistry, name: str, version: int) -> ModelEvent | None:
    for ev in reversed(registry.events(name)):
        if ev.event == DECISION_EVENT and ev.version == version:
            return ev
    return None


def retrain(cfg: RetrainConfig, store: Any, registry: ModelRegistry, *, created_at: int,
            progress: Progress | None = None) -> RetrainDecision:
    """Train a challenger and promote it only if it significantly beats the current
    champion (module docstring)."""
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
        champ = next((v for v in registry.list_versions(name) if v.status == "champion"), None)
        current = champ.ref if champ is not None else None
        if result.reused:
            ev = _recorded(registry, name, challenger.version)
            if current == challenger.ref:
                return RetrainDecision(
                    name, challenger.ref, current, cfg.metric, math.nan, math.nan, cfg.margin,
                    False, f"{challenger.ref} is the champion already (promoted since its "
                    "retrain decision); nothing to decide", replayed=True, alpha=cfg.alpha)
            if ev is not None and ev.figures.get("champion") == current:
                return RetrainDecision.from_figures(name, ev.figures, replayed=True)
        decision = _decide(cfg, store, registry, challenger.ref, current, start, lo, end)
        registry.record(name, challenger.version, DECISION_EVENT, who=cfg.who, when=created_at,
                        why=decision.reason, figures=decision.to_figures())
        if decision.promoted:
            registry.promote(challenger.ref, who=cfg.who, when=created_at, why=decision.reason)
    return decision


def _row_score(metric: str) -> Callable[[np.ndarray, np.ndarray], float]:
    if metric == "auc":
        return fast_auc
    return lambda y, p: float(classification_scores(y, p)[metric])


def _return_score(metric: str) -> Callable[[np.ndarray, np.ndarray], float]:
    """Per-step returns -> un-annualised Sharpe (mean / std) or compounded return; the
    bootstrap's ordering matches the annualised backtest metric's."""
    if metric == "sharpe":
        def sharpe(_y: np.ndarray, r: np.ndarray) -> float:
            sd = float(np.std(r, ddof=1))
            return float(np.mean(r)) / sd if sd > 0 else math.nan
        return sharpe
    return lambda _y, r: float(np.prod(1.0 + r) - 1.0)


def _paired(cfg: RetrainConfig, y: np.ndarray, conf: Mapping[str, np.ndarray],
            rets: Mapping[str, np.ndarray], blocks: np.ndarray, horizon: int) -> PairedTest:
    better = METRICS[cfg.metric]
    if cfg.metric in BACKTEST_KEYS:
        rc, rh = rets["challenger"], rets["champion"]
        if rc.size != rh.size or rc.size < 20:
            raise DataError(f"holdout backtests have {rc.size} and {rh.size} steps; the paired "
                            "test needs one common step count >= 20")
        step_blocks = np.arange(rc.size) // max(horizon, 1)
        return paired_bootstrap(np.zeros(rc.size), rc, rh, _return_score(cfg.metric),
                                higher_is_better=True, blocks=step_blocks, n_boot=cfg.n_boot,
                                alternative="greater")
    if cfg.paired_test == "delong":
        return delong_test(y, conf["challenger"], conf["champion"], alternative="greater",
                           blocks=blocks)
    return paired_bootstrap(y, conf["challenger"], conf["champion"], _row_score(cfg.metric),
                            higher_is_better=better, blocks=blocks, n_boot=cfg.n_boot,
                            alternative="greater")


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
    label = label_spec(tcfg.label, tcfg.data.timeframe)
    labels = label.compute(ds.bars)
    in_holdout = (ds.bars["ts"] >= lo).to_numpy()
    y = labels["label"].to_numpy()[in_holdout]
    ts = ds.bars["ts"].to_numpy()[in_holdout]
    preds = {k: holdout_predictions(m, ds, lo) for k, m in models.items()}
    usable = ~np.isnan(y)
    for p in preds.values():
        usable &= ~np.isnan(p["confidence"].to_numpy())
    if usable.sum() < 20:
        raise DataError(f"holdout has {int(usable.sum())} rows where every model predicts and "
                        "the label is known; raise holdout_bars")
    markets = dict(store.load_markets(tcfg.data.exchange))
    horizon = label_horizon(label)
    figures: dict[str, Any] = {"start": lo, "end": end, "rows": int(usable.sum()),
                               "horizon_bars": horizon}
    values: dict[str, float] = {}
    yt = classification_target(y[usable])
    conf: dict[str, np.ndarray] = {}
    rets: dict[str, np.ndarray] = {}
    for key, p in preds.items():
        conf[key] = p["confidence"].to_numpy()[usable]
        scores = classification_scores(yt, conf[key])
        scores["auc_rank"] = fast_auc(yt, p["score"].to_numpy()[usable])
        bt = backtest_predictions(ds.bars, p["symbol"], p["ts"], p["confidence"],
                                  timeframe=tcfg.data.timeframe, strategy=tcfg.strategy,
                                  markets=markets, lo=lo, hi=end - 1, returns=True)
        rets[key] = bt.pop("returns")
        figures[key] = {"ref": models[key].ref, "scores": scores, "backtest": bt}
        values[key] = float({**scores, **bt}[cfg.metric])
    c = values["challenger"]
    if champion_ref is None:
        return RetrainDecision(tcfg.name, challenger_ref, None, cfg.metric, c, math.nan,
                               cfg.margin, True, f"no champion yet: {challenger_ref} becomes "
                               f"champion ({cfg.metric} {c:.4f} on the holdout)", figures,
                               alpha=cfg.alpha)
    champ_end = models["champion"].version.data.get("end") if models["champion"].version else None
    figures["champion_saw_holdout"] = bool(champ_end is not None and champ_end > lo)
    h = values["champion"]
    gain = (c - h) if METRICS[cfg.metric] else (h - c)
    blocks = time_blocks(ts[usable], horizon * timeframe_to_ms(tcfg.data.timeframe))
    test = _paired(cfg, yt, conf, rets, blocks, horizon)
    p = test.p_value
    said = (f"{cfg.metric} {c:.4f} vs {h:.4f}, gain {gain:.4f} (margin {cfg.margin}); "
            f"{test.test} p = {p:.4g} (alpha {cfg.alpha})")
    if math.isnan(c):
        promoted, reason = False, (f"challenger {cfg.metric} is undefined on the holdout; "
                                   f"keeping {champion_ref}")
    elif gain > cfg.margin and p < cfg.alpha:
        promoted, reason = True, f"{challenger_ref} beats {champion_ref}: {said}"
    else:
        why = "gain within the margin" if not gain > cfg.margin else "not significant"
        promoted, reason = False, f"keeping {champion_ref}: {challenger_ref} {said}: {why}"
    return RetrainDecision(tcfg.name, challenger_ref, champion_ref, cfg.metric, c, h,
                           cfg.margin, promoted, reason, figures, test=test.to_dict(),
                           alpha=cfg.alpha)
