"""Models that turn feature rows into a calibrated confidence in [0, 1].

Every model here answers one question: "how likely is the label positive?" (the
forward return above its threshold, the take-profit barrier first). Three kinds:

- ``lightgbm``: a LightGBM binary classifier on ``label > 0`` (the default);
- ``lightgbm_regressor``: LightGBM regression on the label value, its output
  calibrated into P(label > 0);
- ``logistic``: scikit-learn's logistic regression on standardised features, the
  baseline any tree model has to beat.

**Deterministic.** LightGBM runs with ``deterministic=True, force_row_wise=True,
num_threads=1`` and the spec's seed; logistic regression uses the lbfgs solver
(no randomness). Same seed, same rows => same model bytes.

**Calibration** (``isotonic``, ``sigmoid`` = Platt, or ``none``) is fitted on a
held-out, time-ordered tail of the training rows (``calibration_fraction``): the
base model is fitted on the rows before the tail whose labels end before the
tail starts (purged, like ``cv.py``), the calibrator on the base model's scores
over the tail. Fitting the calibrator on rows the base model trained on would
make it overconfident; a random split would leak the future.

**Artifacts are text.** A LightGBM booster is stored as its text model, the
logistic regression and the calibrator as JSON numbers (``repr`` round-trips
floats exactly), so a model read back predicts bit-for-bit what it predicted
when it was trained, and no pickle is ever loaded. The in-memory model is itself
rebuilt from those bytes after fitting, so there is one code path.

>>> import numpy as np
>>> rng = np.random.default_rng(0)
>>> X = rng.normal(size=(400, 3)); y = (X[:, 0] + 0.5 * rng.normal(size=400) > 0).astype(float)
>>> t0 = np.arange(400, dtype=np.int64); t1 = t0 + 2
>>> spec = ModelSpec("logistic", calibration="isotonic")
>>> m = fit_model(spec, X, y, t0, t1, feature_names=["a", "b", "c"])
>>> conf = m.confidence(X)
>>> bool(conf.min() >= 0.0 and conf.max() <= 1.0), m.importance().idxmax()
(True, 'a')
>>> FittedModel.from_artifact(spec, m.artifact()).confidence(X).tolist() == conf.tolist()
True
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from tradeloom.engine.errors import ConfigError, DataError

__all__ = [
    "CALIBRATIONS",
    "MODEL_KINDS",
    "Calibrator",
    "FittedModel",
    "ModelSpec",
    "classification_target",
    "fit_model",
]

MODEL_KINDS = ("lightgbm", "lightgbm_regressor", "logistic")
CALIBRATIONS = ("isotonic", "sigmoid", "none")
#: LightGBM settings that make training reproducible; a spec may not override them.
LGB_FIXED = {"deterministic": True, "force_row_wise": True, "num_threads": 1, "verbose": -1}
LGB_DEFAULTS: dict[str, Any] = {
    "learning_rate": 0.05, "num_leaves": 15, "min_data_in_leaf": 50, "feature_fraction": 0.8,
    "bagging_fraction": 0.8, "bagging_freq": 1, "lambda_l2": 1.0, "n_estimators": 200,
}
LOGISTIC_DEFAULTS: dict[str, Any] = {"C": 0.1, "max_iter": 1000}
ARTIFACT_FORMAT = "tradeloom.model"
#: Isotonic output is kept within [b, 1 - b]: a step fitted on a few hundred rows
#: must not claim certainty (one wrong "certain" call makes the log loss infinite).
ISOTONIC_BOUND = 1e-3


@dataclass(frozen=True)
class ModelSpec:
    """What to fit: ``kind``, extra ``params`` (LightGBM or LogisticRegression names), seed,
    calibration method and the share of training rows held out to fit it.

    >>> ModelSpec("lightgbm", {"num_leaves": 7}).spec()["params"]
    {'num_leaves': 7}
    >>> ModelSpec("lightgbm", {"num_threads": 4})
    Traceback (most recent call last):
    ...
    tradeloom.engine.errors.ConfigError: model params ['num_threads'] are fixed for reproducibility (deterministic=True, force_row_wise=True, num_threads=1, verbose=-1); remove them
    """

    kind: str = "lightgbm"
    params: Any = ()
    seed: int = 0
    calibration: str = "isotonic"
    calibration_fraction: float = 0.2

    def __post_init__(self) -> None:
        if self.kind not in MODEL_KINDS:
            raise ConfigError(f"model kind {self.kind!r} is unknown; use one of {MODEL_KINDS}")
        if self.calibration not in CALIBRATIONS:
            raise ConfigError(f"calibration {self.calibration!r} is unknown; use one of "
                              f"{CALIBRATIONS}")
        if self.kind == "lightgbm_regressor" and self.calibration == "none":
            raise ConfigError("a regressor's output is a return, not a probability: use "
                              "calibration 'isotonic' or 'sigmoid' with lightgbm_regressor")
        if not 0.0 < float(self.calibration_fraction) < 0.5:
            raise ConfigError(f"calibration_fraction must be in (0, 0.5), got "
                              f"{self.calibration_fraction!r}")
        pairs = self.params.items() if isinstance(self.params, Mapping) else self.params
        params = tuple(sorted((str(k), v) for k, v in pairs))
        fixed = sorted(k for k, _ in params if k in LGB_FIXED or k in ("seed", "random_state",
                                                                       "objective"))
        if fixed:
            shown = ", ".join(f"{k}={v}" for k, v in LGB_FIXED.items())
            raise ConfigError(f"model params {fixed} are fixed for reproducibility ({shown}); "
                              "remove them")
        object.__setattr__(self, "params", params)

    def spec(self) -> dict[str, Any]:
        """JSON-ready form (stored in the registry next to the artifact)."""
        return {"kind": self.kind, "params": dict(self.params), "seed": int(self.seed),
                "calibration": self.calibration,
                "calibration_fraction": float(self.calibration_fraction)}

    @classmethod
    def from_spec(cls, spec: Mapping[str, Any]) -> ModelSpec:
        """Inverse of :meth:`spec`."""
        return cls(spec["kind"], spec.get("params", {}), spec.get("seed", 0),
                   spec.get("calibration", "isotonic"), spec.get("calibration_fraction", 0.2))


def classification_target(label: Any) -> np.ndarray:
    """1.0 where the label is positive (long worth taking), else 0.0.

    >>> classification_target([-1.0, 0.0, 1.0, 0.02]).tolist()
    [0.0, 0.0, 1.0, 1.0]
    """
    return (np.asarray(label, dtype=np.float64) > 0).astype(np.float64)


# ------------------------------------------------------------------ calibration


@dataclass(frozen=True)
class Calibrator:
    """Maps a raw model score to a probability: ``isotonic`` (piecewise linear through
    ``x``/``y``), ``sigmoid`` (``1 / (1 + exp(-(a * s + b)))``) or ``none`` (a=1, b=0)."""

    method: str
    x: tuple[float, ...] = ()
    y: tuple[float, ...] = ()
    a: float = 1.0
    b: float = 0.0

    def apply(self, score: np.ndarray) -> np.ndarray:
        """Probabilities in [0, 1] for ``score`` (NaN stays NaN)."""
        s = np.asarray(score, dtype=np.float64)
        if self.method == "isotonic":
            out = np.interp(s, np.asarray(self.x), np.asarray(self.y))
            return np.where(np.isnan(s), np.nan, np.clip(out, 0.0, 1.0))
        with np.errstate(over="ignore"):
            return 1.0 / (1.0 + np.exp(-(self.a * s + self.b)))

    def to_dict(self) -> dict[str, Any]:
        return {"method": self.method, "x": list(self.x), "y": list(self.y), "a": self.a,
                "b": self.b}

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Calibrator:
        return cls(d["method"], tuple(d["x"]), tuple(d["y"]), float(d["a"]), float(d["b"]))

    @classmethod
    def fit(cls, method: str, score: np.ndarray, y: np.ndarray) -> Calibrator:
        """Fit on held-out ``score`` and binary targets ``y``."""
        if method == "none":
            return cls("none")
        if method == "isotonic":
            from sklearn.isotonic import IsotonicRegression

            iso = IsotonicRegression(y_min=ISOTONIC_BOUND, y_max=1.0 - ISOTONIC_BOUND,
                                     out_of_bounds="clip").fit(score, y)
            return cls("isotonic", tuple(map(float, iso.X_thresholds_)),
                       tuple(map(float, iso.y_thresholds_)))
        from sklearn.linear_model import LogisticRegression

        if np.unique(y).size < 2:
            return cls("sigmoid", a=0.0, b=_logit(float(np.mean(y))))
        lr = LogisticRegression(C=1e6, max_iter=1000).fit(score.reshape(-1, 1), y)
        return cls("sigmoid", a=float(lr.coef_[0, 0]), b=float(lr.intercept_[0]))


def _logit(p: float) -> float:
    p = min(max(p, 1e-6), 1 - 1e-6)
    return math.log(p / (1 - p))


# ----------------------------------------------------------------- base models


@dataclass(frozen=True)
class _Linear:
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


def _fit_linear(spec: ModelSpec, X: np.ndarray, y: np.ndarray) -> _Linear:
    from sklearn.linear_model import LogisticRegression

    mean = X.mean(axis=0)
    scale = X.std(axis=0)
    scale = np.where(scale > 0, scale, 1.0)
    params = {**LOGISTIC_DEFAULTS, **dict(spec.params)}
    try:
        lr = LogisticRegression(**params).fit((X - mean) / scale, y)
    except TypeError as exc:
        raise ConfigError(f"logistic model params {dict(spec.params)}: {exc}") from None
    return _Linear(tuple(map(float, mean)), tuple(map(float, scale)),
                   tuple(map(float, lr.coef_[0])), float(lr.intercept_[0]))


def _lgb_params(spec: ModelSpec) -> tuple[dict[str, Any], int]:
    params = {**LGB_DEFAULTS, **dict(spec.params)}
    rounds = int(params.pop("n_estimators"))
    objective = "regression" if spec.kind == "lightgbm_regressor" else "binary"
    return {**params, **LGB_FIXED, "objective": objective, "seed": int(spec.seed)}, rounds


def _fit_lgb(spec: ModelSpec, X: np.ndarray, y: np.ndarray, names: Sequence[str]) -> str:
    import lightgbm as lgb

    params, rounds = _lgb_params(spec)
    data = lgb.Dataset(X, y, feature_name=list(names), free_raw_data=True,
                       params={"verbose": -1})
    try:
        booster = lgb.train(params, data, num_boost_round=rounds)
    except lgb.basic.LightGBMError as exc:
        raise ConfigError(f"LightGBM refused params {dict(spec.params)}: {exc}") from None
    return booster.model_to_string()


# ---------------------------------------------------------------- fitted model


class FittedModel:
    """A fitted base model plus its calibrator; ``confidence(X)`` is P(label > 0).

    Built only by :func:`fit_model` or :meth:`from_artifact` (both go through the
    artifact bytes). ``X`` columns are ``feature_names`` in order; rows with any NaN
    get NaN confidence.
    """

    __slots__ = ("_booster", "_linear", "calibrator", "feature_names", "spec")

    def __init__(self, spec: ModelSpec, feature_names: Sequence[str], calibrator: Calibrator,
                 booster_text: str | None = None, linear: _Linear | None = None) -> None:
        self.spec = spec
        self.feature_names = tuple(feature_names)
        self.calibrator = calibrator
        self._linear = linear
        self._booster = None
        if booster_text is not None:
            import lightgbm as lgb

            self._booster = lgb.Booster(model_str=booster_text)

    def _matrix(self, X: Any) -> np.ndarray:
        if isinstance(X, pd.DataFrame):
            missing = [c for c in self.feature_names if c not in X.columns]
            if missing:
                raise DataError(f"model needs feature column(s) {missing[:5]} (of "
                                f"{len(missing)}); compute them with the model's pipeline")
            X = X[list(self.feature_names)]
        arr = np.asarray(X, dtype=np.float64)
        if arr.ndim == 1:
            arr = arr.reshape(1, -1)
        if arr.shape[1] != len(self.feature_names):
            raise DataError(f"model expects {len(self.feature_names)} features, got "
                            f"{arr.shape[1]} columns")
        return arr

    def score(self, X: Any) -> np.ndarray:
        """Raw score before calibration (log-odds, or the predicted return)."""
        arr = self._matrix(X)
        bad = np.isnan(arr).any(axis=1)
        out = np.full(arr.shape[0], np.nan)
        ok = ~bad
        if ok.any():
            if self._booster is not None:
                raw = self.spec.kind != "lightgbm_regressor"
                out[ok] = self._booster.predict(arr[ok], raw_score=raw, num_threads=1)
            else:
                out[ok] = self._linear.score(arr[ok])  # type: ignore[union-attr]
        return out

    def confidence(self, X: Any) -> np.ndarray:
        """P(label > 0) in [0, 1] for every row (NaN where a feature is NaN)."""
        return self.calibrator.apply(self.score(X))

    def importance(self) -> pd.Series:
        """Feature importance, descending: LightGBM total gain, or |coefficient| (standardised)."""
        if self._booster is not None:
            values = self._booster.feature_importance(importance_type="gain")
        else:
            values = np.abs(np.asarray(self._linear.coef))  # type: ignore[union-attr]
        s = pd.Series(np.asarray(values, dtype=np.float64), index=list(self.feature_names))
        return s.sort_values(ascending=False, kind="stable")

    def with_calibrator(self, calibrator: Calibrator) -> FittedModel:
        """The same base model with ``calibrator`` (``fit_model`` calibrates after fitting)."""
        booster = None if self._booster is None else self._booster.model_to_string()
        return FittedModel(self.spec, self.feature_names, calibrator, booster_text=booster,
                           linear=self._linear)

    def artifact(self) -> dict[str, bytes]:
        """The files that store this model: ``model.json`` (+ ``booster.txt`` for LightGBM)."""
        meta: dict[str, Any] = {"format": ARTIFACT_FORMAT, "version": 1,
                                "feature_names": list(self.feature_names),
                                "calibrator": self.calibrator.to_dict()}
        files: dict[str, bytes] = {}
        if self._booster is not None:
            files["booster.txt"] = self._booster.model_to_string().encode()
        else:
            lin = self._linear
            meta["linear"] = {"mean": list(lin.mean), "scale": list(lin.scale),  # type: ignore[union-attr]
                              "coef": list(lin.coef), "intercept": lin.intercept}  # type: ignore[union-attr]
        files["model.json"] = json.dumps(meta, sort_keys=True, indent=1).encode()
        return files

    @classmethod
    def from_artifact(cls, spec: ModelSpec, files: Mapping[str, bytes]) -> FittedModel:
        """Rebuild a model from :meth:`artifact` output."""
        try:
            meta = json.loads(files["model.json"])
        except (KeyError, json.JSONDecodeError) as exc:
            raise DataError(f"model artifact has no readable model.json ({exc}); the version's "
                            "files are damaged, retrain or restore them") from None
        if meta.get("format") != ARTIFACT_FORMAT:
            raise DataError(f"not a tradeloom model artifact: format {meta.get('format')!r}")
        cal = Calibrator.from_dict(meta["calibrator"])
        if spec.kind.startswith("lightgbm"):
            if "booster.txt" not in files:
                raise DataError("LightGBM model artifact is missing booster.txt")
            return cls(spec, meta["feature_names"], cal, booster_text=files["booster.txt"].decode())
        lin = meta["linear"]
        return cls(spec, meta["feature_names"], cal, linear=_Linear(
            tuple(lin["mean"]), tuple(lin["scale"]), tuple(lin["coef"]), float(lin["intercept"])))


def _calibration_split(t0: np.ndarray, t1: np.ndarray, fraction: float
                       ) -> tuple[np.ndarray, np.ndarray]:
    """(base rows, calibration rows): the tail from the t0 at the ``1 - fraction`` quantile,
    and the rows before it whose label ends before the tail starts (purged)."""
    order = np.sort(t0)
    cut = int(order[min(int(len(order) * (1 - fraction)), len(order) - 1)])
    calib = t0 >= cut
    base = (t0 < cut) & (t1 < cut)
    return np.flatnonzero(base), np.flatnonzero(calib)


def fit_model(spec: ModelSpec, X: Any, label: Any, t0: Any, t1: Any, *,
              feature_names: Sequence[str] | None = None) -> FittedModel:
    """Fit ``spec`` on rows ``X`` with labels ``label`` and label windows [t0, t1].

    Classifiers learn ``label > 0``; the regressor learns ``label``. With a
    calibration other than ``none`` the time-ordered tail is held out for the
    calibrator (see the module docstring). Rows must be NaN-free
    (``labels.align_training`` drops the others).
    """
    names = list(feature_names if feature_names is not None else
                 (X.columns if isinstance(X, pd.DataFrame) else range(np.shape(X)[1])))
    names = [str(n) for n in names]
    arr = np.asarray(X, dtype=np.float64)
    lab = np.asarray(label, dtype=np.float64)
    t0a, t1a = np.asarray(t0, dtype=np.int64), np.asarray(t1, dtype=np.int64)
    if not (arr.shape[0] == lab.size == t0a.size == t1a.size):
        raise DataError(f"fit_model: X has {arr.shape[0]} rows, label {lab.size}, t0 {t0a.size}, "
                        f"t1 {t1a.size}; they must match")
    if np.isnan(arr).any() or np.isnan(lab).any():
        raise DataError("fit_model: X or label holds NaN; build rows with labels.align_training")
    if spec.calibration == "none":
        base, calib = np.arange(lab.size), np.arange(0)
    else:
        base, calib = _calibration_split(t0a, t1a, spec.calibration_fraction)
    ycls = classification_target(lab)
    if base.size < 20 or np.unique(ycls[base]).size < 2:
        raise DataError(f"fit_model: {base.size} training rows with classes "
                        f"{np.unique(ycls[base]).tolist()} after holding out the calibration "
                        "tail; use more data, a lower threshold or calibration 'none'")
    target = lab[base] if spec.kind == "lightgbm_regressor" else ycls[base]
    if spec.kind == "logistic":
        linear = _fit_linear(spec, arr[base], target)
        model = FittedModel(spec, names, Calibrator("none"), linear=linear)
    else:
        model = FittedModel(spec, names, Calibrator("none"),
                            booster_text=_fit_lgb(spec, arr[base], target, names))
    cal = Calibrator.fit(spec.calibration, model.score(arr[calib]), ycls[calib]) \
        if calib.size else Calibrator("none")
    return FittedModel.from_artifact(spec, model.with_calibrator(cal).artifact())
