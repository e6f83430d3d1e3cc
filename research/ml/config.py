"""Configuration of model training, retraining and scheduling: strict, frozen, hashable.

Three file types, each a TOML table validated by one model (unknown keys are
errors, see ``tradeloom.engine.config``):

- :class:`TrainConfig` (``tradeloom train``): model name, data (exchange,
  timeframe, symbols, a fixed ``start``/``end`` range or a rolling
  ``window_bars`` ending at the last stored bar), feature pipeline, label,
  model kind/params/seed/calibration, purged CV settings;
- :class:`RetrainConfig` (``tradeloom retrain``): a ``[train]`` table like the
  above plus the holdout length, the promotion metric, margin and significance
  test;
- :class:`ScheduleConfig` (``tradeloom schedule``): ``[[jobs]]`` of a retrain
  config path and a cron expression.

The shipped examples are ``examples/ml/btc_direction.toml`` (train),
``examples/ml/btc_direction_retrain.toml`` (retrain) and
``examples/ml/schedule.toml``; every setting is described on its field below.

Defaults that matter: calibration ``auto`` (isotonic with >= 1,000 effective
labels, else sigmoid; ``calibration.py``), sample weights by label uniqueness,
an embargo of one label horizon whenever labels overlap (``cv.embargo_bars``
unset), and promotion only past a margin of 0.01 *and* a paired test at 5 %
(DeLong for AUC).

>>> cfg = TrainConfig.model_validate({"name": "btc_dir", "data": {"symbols": ["BTC/USDT"]}})
>>> cfg.model.kind, cfg.model.calibration, cfg.model.weights, cfg.label.kind
('lightgbm', 'auto', 'uniqueness', 'forward_class')
>>> cfg.data.market_symbol, cfg.pipeline.market, cfg.cv.embargo_bars
('BTC/USDT', True, None)
>>> r = RetrainConfig.model_validate({"train": cfg.model_dump()})
>>> r.metric, r.margin, r.paired_test, r.alpha
('auc', 0.01, 'delong', 0.05)
"""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from tradeloom.engine.config import StrictModel
from tradeloom.engine.timeframes import timeframe_to_ms
from tradeloom.engine.timeutil import parse_utc_ms

__all__ = [
    "METRICS",
    "MODEL_KINDS",
    "CPCVSettings",
    "CVSettings",
    "DataSettings",
    "LabelSettings",
    "ModelSettings",
    "PipelineSettings",
    "PrimarySettings",
    "RetrainConfig",
    "ScheduleConfig",
    "ScheduleJob",
    "StrategySettings",
    "TrainConfig",
]

MODEL_KINDS = ("lightgbm", "lightgbm_regressor", "logistic")
#: Promotion metrics and whether larger is better. Scores come from the holdout's
#: classification scores (confidence vs "label > 0") or the holdout backtest.
METRICS: dict[str, bool] = {
    "auc": True, "log_loss": False, "brier": False, "accuracy": True, "hit_rate": True,
    "sharpe": True, "total_return": True,
}
_NAME = re.compile(r"^[a-z0-9][a-z0-9_.-]{0,63}$")


class DataSettings(StrictModel):
    """Which bars: a fixed range (``start``/``end``) or the last ``window_bars`` stored."""

    exchange: str = "binance"
    timeframe: str = "1h"
    symbols: list[str] = Field(min_length=1)
    start: str | None = None
    end: str | None = Field(None, description="exclusive end (UTC)")
    window_bars: int | None = Field(
        None, ge=100, description="rolling: the last N bars stored (ending at the last bar)")
    market_symbol: str = Field(
        "BTC/USDT", description="symbol whose bars feed the market (cross-asset) features")

    @field_validator("timeframe")
    @classmethod
    def _tf(cls, value: str) -> str:
        timeframe_to_ms(value)
        return value

    @field_validator("symbols")
    @classmethod
    def _pairs(cls, value: list[str]) -> list[str]:
        for s in value:
            if "/" not in s:
                raise ValueError(f"symbol {s!r} must look like BASE/QUOTE, e.g. 'BTC/USDT'")
        if len(set(value)) != len(value):
            raise ValueError("symbols must not repeat")
        return sorted(value)

    @field_validator("start", "end")
    @classmethod
    def _time(cls, value: str | None) -> str | None:
        if value is not None:
            parse_utc_ms(value)
        return value

    @model_validator(mode="after")
    def _range(self) -> DataSettings:
        if self.window_bars is not None and self.start is not None:
            raise ValueError("give start (fixed range) or window_bars (rolling), not both")
        if self.start and self.end and parse_utc_ms(self.end) <= parse_utc_ms(self.start):
            raise ValueError(f"end {self.end} must be after start {self.start}")
        return self


class PipelineSettings(StrictModel):
    """The features: the default library (optionally a subset) or an explicit spec."""

    library: Literal["default", "spec"] = "default"
    market: bool = Field(True, description="include the cross-asset (market symbol) features")
    select: list[str] | None = Field(None, description="keep only these feature names")
    spec: dict[str, Any] | None = Field(None, description="FeaturePipeline.spec() output")

    @model_validator(mode="after")
    def _spec_given(self) -> PipelineSettings:
        if (self.library == "spec") != (self.spec is not None):
            raise ValueError("library = 'spec' needs a [pipeline.spec] table, and a spec "
                             "needs library = 'spec'")
        return self


class PrimarySettings(StrictModel):
    """Meta-labeling (``metalabel.py``): the primary rule proposing longs; the model is
    trained on, and answers for, the bars where it does."""

    rule: Literal["sma_cross", "momentum"]
    params: dict[str, int] = Field(default_factory=dict, description="sma_cross: fast, slow; "
                                   "momentum: lookback (bars)")


class LabelSettings(StrictModel):
    """A ``labels.LabelSpec``: kind and params (the timeframe is the data's), and an
    optional meta-labeling primary rule."""

    kind: Literal["forward_return", "forward_class", "triple_barrier"] = "forward_class"
    params: dict[str, Any] = Field(
        default_factory=lambda: {"horizon": 12, "threshold": 0.0, "binary": True})
    primary: PrimarySettings | None = None


class ModelSettings(StrictModel):
    """Model kind, its parameters, seed, calibration and sample weighting (``models.py``)."""

    kind: Literal["lightgbm", "lightgbm_regressor", "logistic"] = "lightgbm"
    params: dict[str, Any] = Field(default_factory=dict)
    seed: int = 0
    calibration: Literal["auto", "isotonic", "sigmoid", "none"] = Field(
        "auto", description="auto: isotonic with >= 1000 effective labels, else sigmoid")
    calibration_folds: int = Field(
        3, ge=2, le=10, description="inner purged folds whose pooled out-of-fold scores fit "
        "the calibrator")
    weights: Literal["uniqueness", "none"] = Field(
        "uniqueness", description="sample weights: average label uniqueness (AFML ch. 4)")
    bootstrap: Literal["none", "sequential"] = Field(
        "none", description="sequential: rows drawn by the sequential bootstrap (AFML 4.5)")


class CPCVSettings(StrictModel):
    """Combinatorial purged CV (``cpcv.py``): a distribution of backtest paths."""

    groups: int = Field(6, ge=3, le=12)
    test_groups: int = Field(2, ge=1, le=6)
    backtest: bool = Field(True, description="backtest the confidence strategy on every path")

    @model_validator(mode="after")
    def _fewer(self) -> CPCVSettings:
        if self.test_groups >= self.groups:
            raise ValueError(f"test_groups ({self.test_groups}) must be below groups "
                             f"({self.groups})")
        return self


class CVSettings(StrictModel):
    """Purged walk-forward CV (``research.cv.PurgedWalkForward``), the baselines' bootstrap
    and the optional CPCV."""

    n_splits: int = Field(3, ge=1, le=20)
    mode: Literal["anchored", "rolling", "kfold"] = "anchored"
    train_min: int | None = Field(None, ge=1)
    embargo_bars: int | None = Field(
        None, ge=0, description="unset: the label horizon (in bars) when labels overlap, else 0")
    backtest: bool = Field(True, description="backtest the confidence strategy on each fold")
    bootstrap: int = Field(1000, ge=100, le=100_000, description="block-bootstrap resamples "
                           "behind every confidence interval of the training report")
    cpcv: CPCVSettings | None = None


class StrategySettings(StrictModel):
    """Params of the confidence-sized strategy used by fold and holdout backtests."""

    threshold: float = Field(0.55, ge=0.0, lt=1.0)
    max_weight: float = Field(1.0, gt=0.0, le=1.0)


class TrainConfig(StrictModel):
    """Everything ``train`` needs; its hash identifies the model (with the data fingerprint)."""

    name: str
    data: DataSettings
    pipeline: PipelineSettings = Field(default_factory=PipelineSettings)
    label: LabelSettings = Field(default_factory=LabelSettings)
    model: ModelSettings = Field(default_factory=ModelSettings)
    cv: CVSettings = Field(default_factory=CVSettings)
    strategy: StrategySettings = Field(default_factory=StrategySettings)
    champion_if_first: bool = Field(
        True, description="the first version of a model name becomes champion")

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not _NAME.match(value):
            raise ValueError(f"model name {value!r}: use lowercase letters, digits, '_', '.', "
                             "'-' (max 64), starting with a letter or digit, e.g. 'btc_dir'")
        return value


class RetrainConfig(StrictModel):
    """``retrain``: train a challenger, compare with the champion on a recent holdout.

    Promotion needs both: a gain above ``margin`` (metric units) and a one-sided
    paired test (H0: the challenger is not better) with p-value below ``alpha`` on
    the same holdout rows. ``test = "delong"`` (AUC only) or ``"bootstrap"`` (any
    metric); both treat rows within one label horizon as dependent (blocks).
    """

    train: TrainConfig
    holdout_bars: int = Field(500, ge=50, description="last N bars (per symbol) held out")
    metric: Literal["auc", "log_loss", "brier", "accuracy", "hit_rate", "sharpe",
                    "total_return"] = "auc"
    margin: float = Field(0.01, ge=0.0, description="challenger must beat the champion by "
                          "more than this (in metric units)")
    test: Literal["auto", "delong", "bootstrap"] = Field(
        "auto", description="paired test on the holdout: delong (auc only), bootstrap (any "
        "metric), auto = delong for auc, else bootstrap")
    alpha: float = Field(0.05, gt=0.0, lt=0.5, description="significance level of the test")
    n_boot: int = Field(1000, ge=100, le=100_000, description="bootstrap resamples")
    who: str = "retrain"

    @model_validator(mode="after")
    def _test_fits_metric(self) -> RetrainConfig:
        if self.test == "delong" and self.metric != "auc":
            raise ValueError(f"test 'delong' compares AUCs; metric {self.metric!r} needs "
                             "test = \"bootstrap\" (or \"auto\")")
        return self

    @property
    def paired_test(self) -> str:
        """The test in use: ``test``, with ``auto`` resolved by the metric."""
        if self.test != "auto":
            return self.test
        return "delong" if self.metric == "auc" else "bootstrap"


class ScheduleJob(StrictModel):
    """One scheduled retrain: a retrain config file and a 5-field cron expression (UTC)."""

    config: str
    cron: str

    @field_validator("cron")
    @classmethod
    def _cron(cls, value: str) -> str:
        if len(value.split()) != 5:
            raise ValueError(f"cron {value!r} must have 5 fields: minute hour day month weekday, "
                             "e.g. '0 3 * * *' (03:00 UTC daily)")
        return value


class ScheduleConfig(StrictModel):
    """``schedule``: jobs to run; their retrain configs are read when each run starts."""

    jobs: list[ScheduleJob] = Field(min_length=1)
