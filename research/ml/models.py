"""Models that turn feature rows into a calibrated confidence in [0, 1].

Every model here answers one question: "how likely is the label positive?" (the
forward return above its threshold, the take-profit barrier first). Three kinds
(base learners in ``learners.py``):

- ``lightgbm``: a LightGBM binary classifier on ``label > 0`` (the default);
- ``lightgbm_regressor``: LightGBM regression on the label value, its output
  calibrated into P(label > 0);
- ``logistic``: scikit-learn's logistic regression on standardised features, the
  baseline any tree model has to beat.

**Sample weights** (``weights = "uniqueness"``): each row weighs its label's
average uniqueness (``weights.py``, López de Prado ch. 4), so a stretch of
heavily overlapping labels counts for what it is worth. **Sequential bootstrap**
(``bootstrap = "sequential"``, optional): the rows are drawn by the sequential
bootstrap (ch. 4.5, seeded by the spec's seed) and each row's weight is multiplied
by how many times it was drawn.

**Calibration** (``calibration.py``): ``auto`` (the default), ``isotonic``,
``sigmoid`` or ``none``. The calibrator is fitted on the pooled out-of-fold
scores of an inner purged k-fold over all the training rows
(``calibration_folds``, purged and embargoed by one label length like
``cv.py``), then the base model is refitted on every row. ``auto`` picks
isotonic with at least 1,000 effective labels and sigmoid below
(``calibration.choose_method``); and if those out-of-fold scores carry no
detectable information about the label (``calibration.fit_calibrator``), the
calibrator is the training base rate (``constant``). What was chosen, on how many
rows and effective labels, with the information test's p-value, is kept with
the model (``FittedModel.fit_info``).

**Artifacts are text.** A LightGBM booster is stored as its text model, the
logistic regression and the calibrator as JSON numbers (``repr`` round-trips
floats exactly), so a model read back predicts bit-for-bit what it predicted
when it was trained, and no pickle is ever loaded. The in-memory model is itself
rebuilt from those bytes after fitting, so there is one code path.

>>> import numpy as np
>>> rng = np.random.default_rng(0)
>>> X = rng.normal(size=(400, 3)); y = (X[:, 0] + 0.5 * rng.normal(size=400) > 0).astype(float)
>>> t0 = np.arange(400, dtype=np.int64); t1 = t0 + 2
>>> spec = ModelSpec("logistic", calibration="auto", weights="uniqueness")
>>> m = fit_model(spec, X, y, t0, t1, feature_names=["a", "b", "c"])
>>> conf = m.confidence(X)
>>> bool(conf.min() >= 0.0 and conf.max() <= 1.0), m.importance().idxmax()
(True, 'a')
>>> m.fit_info["calibration"], m.fit_info["effective_n"]  # 400 labels alone on their bar
('sigmoid', 400.0)
>>> FittedModel.from_artifact(spec, m.artifact()).confidence(X).tolist() == conf.tolist()
True
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from tradeloom.engine.errors import ConfigError, DataError
from tradeloom.research.ml.calibration import (
    CALIBRATIONS,
    Calibrator,
    choose_method,
    fit_calibrator,
)
from tradeloom.research.ml.learners import LGB_FIXED, Linear, fit_lgb, fit_linear

__all__ = [
    "BOOTSTRAPS",
    "CALIBRATIONS",
    "MODEL_KINDS",
    "WEIGHTINGS",
    "Calibrator",
    "FittedModel",
    "ModelSpec",
    "classification_target",
    "fit_model",
    "row_weights",
]

MODEL_KINDS = ("lightgbm", "lightgbm_regressor", "logistic")
WEIGHTINGS = ("none", "uniqueness")
BOOTSTRAPS = ("none", "sequential")
ARTIFACT_FORMAT = "tradeloom.model"


@dataclass(frozen=True)
class ModelSpec:
    """What to fit: ``kind``, extra ``params`` (LightGBM or LogisticRegression names), seed,
    calibration method and inner folds, sample weighting and bootstrap.

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
    calibration: str = "auto"
    calibration_folds: int = 3
    weights: str = "none"
    bootstrap: str = "none"

    def __post_init__(self) -> None:
        if self.kind not in MODEL_KINDS:
            raise ConfigError(f"model kind {self.kind!r} is unknown; use one of {MODEL_KINDS}")
        if self.calibration not in CALIBRATIONS:
            raise ConfigError(f"calibration {self.calibration!r} is unknown; use one of "
                              f"{CALIBRATIONS}")
        if self.kind == "lightgbm_regressor" and self.calibration == "none":
            raise ConfigError("a regressor's output is a return, not a probability: use "
                              "calibration 'auto', 'isotonic' or 'sigmoid' with lightgbm_regressor")
        folds = self.calibration_folds
        if isinstance(folds, bool) or not isinstance(folds, int) or not 2 <= folds <= 10:
            raise ConfigError(f"calibration_folds must be an integer in [2, 10], got {folds!r}")
        if self.weights not in WEIGHTINGS:
            raise ConfigError(f"weights {self.weights!r} is unknown; use one of {WEIGHTINGS}")
        if self.bootstrap not in BOOTSTRAPS:
            raise ConfigError(f"bootstrap {self.bootstrap!r} is unknown; use one of {BOOTSTRAPS}")
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
                "calibration": self.calibration, "calibration_folds": self.calibration_folds,
                "weights": self.weights, "bootstrap": self.bootstrap}

    @classmethod
    def from_spec(cls, spec: Mapping[str, Any]) -> ModelSpec:
        """Inverse of :meth:`spec` (versions registered before calibration_folds existed
        read back with the defaults; their calibrator is in the artifact either way)."""
        return cls(spec["kind"], spec.get("params", {}), spec.get("seed", 0),
                   spec.get("calibration", "auto"), spec.get("calibration_folds", 3),
                   spec.get("weights", "none"), spec.get("bootstrap", "none"))


def classification_target(label: Any) -> np.ndarray:
    """1.0 where the label is positive (long worth taking), else 0.0.

    >>> classification_target([-1.0, 0.0, 1.0, 0.02]).tolist()
    [0.0, 0.0, 1.0, 1.0]
    """
    return (np.asarray(label, dtype=np.float64) > 0).astype(np.float64)


def _sigmoid(s: np.ndarray) -> np.ndarray:
    with np.errstate(over="ignore"):
        return 1.0 / (1.0 + np.exp(-s))


# ---------------------------------------------------------------- fitted model


class FittedModel:
    """A fitted base model plus its calibrator; ``confidence(X)`` is P(label > 0).

    Built only by :func:`fit_model` or :meth:`from_artifact` (both go through the
    artifact bytes). ``X`` columns are ``feature_names`` in order; rows with any NaN
    get NaN confidence. ``fit_info`` says how it was fitted (calibration chosen,
    rows, effective labels, weighting).
    """

    __slots__ = ("_booster", "_linear", "calibrator", "feature_names", "fit_info", "spec")

    def __init__(self, spec: ModelSpec, feature_names: Sequence[str], calibrator: Calibrator,
                 booster_text: str | None = None, linear: Linear | None = None,
                 fit_info: Mapping[str, Any] | None = None) -> None:
        self.spec = spec
        self.feature_names = tuple(feature_names)
        self.calibrator = calibrator
        self.fit_info = dict(fit_info or {})
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

    def raw_probability(self, X: Any) -> np.ndarray:
        """The base model's own probability before calibration (the sigmoid of its
        log-odds); all NaN for the regressor, whose raw output is a return."""
        s = self.score(X)
        if self.spec.kind == "lightgbm_regressor":
            return np.full(s.shape, np.nan)
        return _sigmoid(s)

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

    def with_calibrator(self, calibrator: Calibrator,
                        fit_info: Mapping[str, Any] | None = None) -> FittedModel:
        """The same base model with ``calibrator`` (``fit_model`` calibrates after fitting)
        and ``fit_info`` (default: this model's)."""
        booster = None if self._booster is None else self._booster.model_to_string()
        return FittedModel(self.spec, self.feature_names, calibrator, booster_text=booster,
                           linear=self._linear,
                           fit_info=self.fit_info if fit_info is None else fit_info)

    def artifact(self) -> dict[str, bytes]:
        """The files that store this model: ``model.json`` (+ ``booster.txt`` for LightGBM)."""
        meta: dict[str, Any] = {"format": ARTIFACT_FORMAT, "version": 2,
                                "feature_names": list(self.feature_names),
                                "calibrator": self.calibrator.to_dict(), "fit": self.fit_info}
        files: dict[str, bytes] = {}
        if self._booster is not None:
            files["booster.txt"] = self._booster.model_to_string().encode()
        else:
            meta["linear"] = self._linear.to_dict()  # type: ignore[union-attr]
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
        info = meta.get("fit", {})
        if spec.kind.startswith("lightgbm"):
            if "booster.txt" not in files:
                raise DataError("LightGBM model artifact is missing booster.txt")
            return cls(spec, meta["feature_names"], cal, booster_text=files["booster.txt"].decode(),
                       fit_info=info)
        return cls(spec, meta["feature_names"], cal, linear=Linear.from_dict(meta["linear"]),
                   fit_info=info)


# --------------------------------------------------------------------- fitting


def _timeframe(t0: np.ndarray, timeframe_ms: int | None) -> int:
    if timeframe_ms is not None:
        return int(timeframe_ms)
    steps = np.diff(np.unique(t0))
    if steps.size == 0:
        raise DataError("fit_model: every row has the same t0; pass timeframe_ms")
    return int(steps.min())


def _spans(t0: np.ndarray, t1: np.ndarray, groups: Any, tf: int) -> tuple[np.ndarray, np.ndarray]:
    """Bars each label uses (``weights.label_spans``); a window too short to hold a bar
    after the labelled one counts as that one bar."""
    from tradeloom.research.ml.weights import label_spans

    return label_spans(t0, np.maximum(t1, t0 + 2 * tf), tf, groups)


def row_weights(spec: ModelSpec, t0: Any, t1: Any, *, groups: Any = None,
                timeframe_ms: int | None = None) -> tuple[np.ndarray | None, float]:
    """The sample weights ``spec`` asks for (None: unweighted) and the effective sample size.

    >>> import numpy as np
    >>> t0 = np.arange(3, dtype=np.int64); w, n_eff = row_weights(
    ...     ModelSpec(weights="uniqueness"), t0, t0 + 4)  # 3 labels over bars 1-3, 2-4, 3-5
    >>> w.round(4).tolist(), round(n_eff, 4)
    ([1.1, 0.8, 1.1], 1.6667)
    """
    from tradeloom.research.ml.weights import average_uniqueness, sequential_bootstrap

    a = np.asarray(t0, dtype=np.int64)
    b = np.asarray(t1, dtype=np.int64)
    start, end = _spans(a, b, groups, _timeframe(a, timeframe_ms))
    u = average_uniqueness(start, end)
    n_eff = float(u.sum())
    w: np.ndarray | None = None
    if spec.weights == "uniqueness":
        w = u / u.mean()
    if spec.bootstrap == "sequential":
        counts = np.bincount(sequential_bootstrap(start, end, a.size, seed=spec.seed),
                             minlength=a.size).astype(np.float64)
        w = counts if w is None else w * counts
    return w, n_eff


def _fit_base(spec: ModelSpec, X: np.ndarray, target: np.ndarray, w: np.ndarray | None,
              names: Sequence[str]) -> FittedModel:
    if spec.kind == "logistic":
        return FittedModel(spec, names, Calibrator("none"),
                           linear=fit_linear(spec.params, X, target, w))
    return FittedModel(spec, names, Calibrator("none"), booster_text=fit_lgb(
        spec.params, spec.seed, spec.kind == "lightgbm_regressor", X, target, w, names))


def _check_classes(ycls: np.ndarray, rows: np.ndarray, where: str) -> None:
    if rows.size < 20 or np.unique(ycls[rows]).size < 2:
        raise DataError(f"fit_model: {rows.size} training rows with classes "
                        f"{np.unique(ycls[rows]).tolist()} {where}; use more data, a lower "
                        "label threshold or calibration 'none'")


def fit_model(spec: ModelSpec, X: Any, label: Any, t0: Any, t1: Any, *,
              feature_names: Sequence[str] | None = None, groups: Any = None,
              timeframe_ms: int | None = None) -> FittedModel:
    """Fit ``spec`` on rows ``X`` with labels ``label`` and label windows [t0, t1].

    Classifiers learn ``label > 0``; the regressor learns ``label``. ``groups``
    (one id per row, e.g. the symbol) keeps labels of different instruments from
    counting as overlapping; ``timeframe_ms`` is inferred from ``t0`` when not
    given. Rows must be NaN-free (``labels.align_training`` drops the others).
    See the module docstring for weighting and calibration.
    """
    from tradeloom.research.ml.cv import PurgedWalkForward

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
    grp = None if groups is None else np.asarray(groups, dtype=object)
    if grp is not None and grp.size != lab.size:
        raise DataError(f"fit_model: groups has {grp.size} ids for {lab.size} rows")
    ycls = classification_target(lab)
    target = lab if spec.kind == "lightgbm_regressor" else ycls
    _check_classes(ycls, np.arange(lab.size), "in all")
    w, n_eff = row_weights(spec, t0a, t1a, groups=grp, timeframe_ms=timeframe_ms)
    method = spec.calibration if spec.calibration != "auto" else choose_method(n_eff)
    info: dict[str, Any] = {"calibration": method, "requested": spec.calibration,
                            "rows": int(lab.size), "effective_n": round(n_eff, 6),
                            "weights": spec.weights, "bootstrap": spec.bootstrap, "folds": 0}
    cal = Calibrator("none")
    if method != "none":
        oof = np.full(lab.size, np.nan)
        span = int((t1a - t0a).max())
        cv = PurgedWalkForward(spec.calibration_folds, mode="kfold",
                               embargo_ms=span if span > 0 else None)
        for fold in cv.split(t0a, t1a):
            _check_classes(ycls, fold.train, "in a calibration fold")
            tr = fold.train
            sub_w = None
            if w is not None:
                sub_w, _ = row_weights(spec, t0a[tr], t1a[tr], timeframe_ms=timeframe_ms,
                                       groups=None if grp is None else grp[tr])
            inner = _fit_base(spec, arr[tr], target[tr], sub_w, names)
            oof[fold.test] = inner.score(arr[fold.test])
        scored = ~np.isnan(oof)
        cal, info_p = fit_calibrator(method, oof[scored], ycls[scored],
                                     weights=None if w is None else w[scored],
                                     effective_n=n_eff * scored.sum() / lab.size)
        info.update(calibration=cal.method, folds=spec.calibration_folds,
                    oof_rows=int(scored.sum()), information_p=round(info_p, 12))
    base = _fit_base(spec, arr, target, w, names)
    return FittedModel.from_artifact(spec, base.with_calibrator(cal, info).artifact())
