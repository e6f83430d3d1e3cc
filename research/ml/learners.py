"""The base learners behind ``models.FittedModel``: LightGBM and a standardised logistic regression.

Each is fitted on plain arrays with optional sample weights and reduced to text
(a LightGBM text model, or the logistic regression's numbers) so a model read
back from the registry predicts bit for bit what it predicted when trained.

**Deterministic.** LightGBM runs with ``deterministic=True, force_row_wise=True,
num_threads=1`` and the spec's seed; logistic regression uses the lbfgs solver
(no randomness). Same seed, same rows, same weights => same bytes.

>>> import numpy as np
>>> X = np.array([[0.0, 1.0], [1.0, 1.0], [2.0, 0.0], [3.0, 0.0]])
>>> lin = fit_linear({}, X, np.array([0.0, 0.0, 1.0, 1.0]), None)
>>> lin.score(X[:1]).tolist() == lin.score(X)[:1].tolist()  # a row scores alone as in a batch
True
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from tradeloom.engine.errors import ConfigError

__all__ = ["LGB_DEFAULTS", "LGB_FIXED", "LOGISTIC_DEFAULTS", "Linear", "fit_lgb", "fit_linear",
           "lgb_params"]

#: LightGBM settings that make training reproducible; a spec may not override them.
LGB_FIXED = {"deterministic": True, "force_row_wise": True, "num_threads": 1, "verbose": -1}
LGB_DEFAULTS: dict[str, Any] = {
    "learning_rate": 0.05, "num_leaves": 15, "min_data_in_leaf": 50, "feature_fraction": 0.8,
    "bagging_fraction": 0.8, "bagging_freq": 1, "lambda_l2": 1.0, "n_estimators": 200,
}
LOGISTIC_DEFAULTS: dict[str, Any] = {"C": 0.1, "max_iter": 1000}


@dataclass(frozen=True)
class Linear:
    """Standardise, then a linear score (the logistic regression's decision function)."""

    mean: tuple[float, ...]
    scale: tuple[float, ...]
    coef: tuple[float, ...]
    intercept: float

    def score(self, X: np.ndarray) -> np.ndarray:
        """Summed feature by feature, in order: a row scores the same alone or in a batch
        (a BLAS matrix product sums in an order that depends on the batch shape)."""
        z = (X - np.asarray(self.mean)) / np.asarray(self.scale)
        acc = np.full(X.shape[0], self.intercept)
        for j, c in enumerate(self.coef):
            acc += z[:, j] * c
        return acc

    def to_dict(self) -> dict[str, Any]:
        return {"mean": list(self.mean), "scale": list(self.scale), "coef": list(self.coef),
                "intercept": self.intercept}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Linear:
        return cls(tuple(d["mean"]), tuple(d["scale"]), tuple(d["coef"]), float(d["intercept"]))


def fit_linear(params: Mapping[str, Any], X: np.ndarray, y: np.ndarray,
               weights: np.ndarray | None) -> Linear:
    """Logistic regression on standardised ``X`` (weighted means and scales when weighted)."""
    from sklearn.linear_model import LogisticRegression

    mean = X.mean(axis=0) if weights is None else np.average(X, axis=0, weights=weights)
    scale = X.std(axis=0) if weights is None else \
        np.sqrt(np.average((X - mean) ** 2, axis=0, weights=weights))
    scale = np.where(scale > 0, scale, 1.0)
    full = {**LOGISTIC_DEFAULTS, **dict(params)}
    try:
        lr = LogisticRegression(**full).fit((X - mean) / scale, y, sample_weight=weights)
    except TypeError as exc:
        raise ConfigError(f"logistic model params {dict(params)}: {exc}") from None
    return Linear(tuple(map(float, mean)), tuple(map(float, scale)),
                  tuple(map(float, lr.coef_[0])), float(lr.intercept_[0]))


def lgb_params(params: Mapping[str, Any], seed: int, regression: bool) -> tuple[dict[str, Any], int]:
    """LightGBM parameters (defaults, then the spec's, then the fixed ones) and the rounds."""
    full = {**LGB_DEFAULTS, **dict(params)}
    rounds = int(full.pop("n_estimators"))
    objective = "regression" if regression else "binary"
    return {**full, **LGB_FIXED, "objective": objective, "seed": int(seed)}, rounds


def fit_lgb(params: Mapping[str, Any], seed: int, regression: bool, X: np.ndarray,
            y: np.ndarray, weights: np.ndarray | None, names: Sequence[str]) -> str:
    """A LightGBM booster fitted on ``X``/``y`` (weighted), as its text model."""
    import lightgbm as lgb

    full, rounds = lgb_params(params, seed, regression)
    data = lgb.Dataset(X, y, weight=weights, feature_name=list(names), free_raw_data=True,
                       params={"verbose": -1})
    try:
        booster = lgb.train(full, data, num_boost_round=rounds)
    except lgb.basic.LightGBMError as exc:
        raise ConfigError(f"LightGBM refused params {dict(params)}: {exc}") from None
    return booster.model_to_string()
