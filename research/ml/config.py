"""Configuration of model training, retraining and scheduling: strict, frozen, hashable.

Three file types, each a TOML table validated by one model (unknown keys are
errors, see ``tradeloom.engine.config``):

- :class:`TrainConfig` (``tradeloom train``): model name, data (exchange,
  timeframe, symbols, a fixed ``start``/``end`` range or a rolling
  ``window_bars`` ending at the last stored bar), feature pipeline, label,
  model kind/params/seed/calibration, purged CV settings;
- :class:`RetrainConfig` (``tradeloom retrain``): a ``[train]`` table like the
  above plus the holdout length, the promotion metric and margin;
- :class:`ScheduleConfig` (``tradeloom schedule``): ``[[jobs]]`` of a retrain
  config path and a cron expression.

Example ``btc_dir.toml``::

    name = "btc_dir"
    [data]
    symbols = ["BTC/USDT", "ETH/USDT"]
    timeframe = "1h"
    start = "2021-01-01"
    end = "2021-06-01"
    [label]
    kind = "forward_class"
    params = { horizon = 12, threshold = 0.0, binary = true }
    [model]
    kind = "lightgbm"
    params = { n_estimators = 100, num_leaves = 15 }

>>> cfg = TrainConfig.model_validate({"name": "btc_dir", "data": {"symbols": ["BTC/USDT"]}})
>>> cfg.model.kind, cfg.model.calibration, cfg.label.kind, cfg.pipeline.library
('lightgbm', 'isotonic', 'forward_class', 'default')
>>> cfg.data.market_symbol, cfg.pipeline.market
('BTC/USDT', True)
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
    "CVSettings",
    "DataSettings",
    "LabelSettings",
    "ModelSettings",
    "PipelineSettings",
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


class LabelSettings(StrictModel):
    """A ``labels.LabelSpec``: kind and params (the timeframe is the data's)."""

    kind: Literal["forward_return", "forward_class", "triple_barrier"] = "forward_class"
    params: dict[str, Any] = Field(
        default_factory=lambda: {"horizon": 12, "threshold": 0.0, "binary": True})


class ModelSettings(StrictModel):
    """Model kind, its parameters, seed and calibration (see ``research.models``)."""

    kind: Literal["lightgbm", "lightgbm_regressor", "logistic"] = "lightgbm"
    params: dict[str, Any] = Field(default_factory=dict)
    seed: int = 0
    calibration: Literal["isotonic", "sigmoid", "none"] = "isotonic"
    calibration_fraction: float = Field(
        0.2, gt=0.0, lt=0.5, description="time-ordered tail of the training rows held out "
        "to fit the calibrator")


class CVSettings(StrictModel):
    """Purged walk-forward CV (``research.cv.PurgedWalkForward``)."""

    n_splits: int = Field(3, ge=1, le=20)
    mode: Literal["anchored", "rolling", "kfold"] = "anchored"
    train_min: int | None = Field(None, ge=1)
    embargo_bars: int = Field(0, ge=0)
    backtest: bool = Field(True, description="backtest the confidence strategy on each fold")


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
    """``retrain``: train a challenger, compare with the champion on a recent holdout."""

    train: TrainConfig
    holdout_bars: int = Field(500, ge=50, description="last N bars (per symbol) held out")
    metric: Literal["auc", "log_loss", "brier", "accuracy", "hit_rate", "sharpe",
                    "total_return"] = "auc"
    margin: float = Field(0.0, ge=0.0, description="challenger must beat the champion by "
                          "more than this (in metric units)")
    who: str = "retrain"


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
