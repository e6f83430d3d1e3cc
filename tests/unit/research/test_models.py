"""Models: reproducible to the byte, calibrated into [0, 1], artifacts that round-trip."""

from __future__ import annotations

import numpy as np
import pytest

from tradeloom.engine.errors import ConfigError, DataError
from tradeloom.research.ml.calibration import ece
from tradeloom.research.ml.models import (
    FittedModel,
    ModelSpec,
    classification_target,
    fit_model,
)


@pytest.fixture(scope="module")
def rows():
    """Synthetic rows with a real but noisy signal in feature 0; label windows of 5 bars."""
    rng = np.random.default_rng(42)
    n = 1500
    X = rng.normal(size=(n, 6))
    ret = 0.3 * X[:, 0] + rng.normal(size=n)
    t0 = np.arange(n, dtype=np.int64) * 3_600_000
    return X, ret, t0, t0 + 5 * 3_600_000


class TestDeterminism:
    @pytest.mark.parametrize("kind", ["lightgbm", "lightgbm_regressor", "logistic"])
    def test_same_seed_same_data_same_bytes(self, rows, kind):
        X, ret, t0, t1 = rows
        spec = ModelSpec(kind, {"n_estimators": 40} if kind != "logistic" else {}, seed=3)
        a = fit_model(spec, X, ret, t0, t1)
        b = fit_model(spec, X, ret, t0, t1)
        assert a.artifact() == b.artifact()
        assert np.array_equal(a.confidence(X), b.confidence(X))

    def test_seed_changes_a_bagged_lightgbm(self, rows):
        X, ret, t0, t1 = rows
        a = fit_model(ModelSpec("lightgbm", {"n_estimators": 40}, seed=1), X, ret, t0, t1)
        b = fit_model(ModelSpec("lightgbm", {"n_estimators": 40}, seed=2), X, ret, t0, t1)
        assert a.artifact()["booster.txt"] != b.artifact()["booster.txt"]

    def test_artifact_round_trip_predicts_identically(self, rows):
        X, ret, t0, t1 = rows
        spec = ModelSpec("lightgbm", {"n_estimators": 40}, calibration="sigmoid")
        m = fit_model(spec, X, ret, t0, t1)
        again = FittedModel.from_artifact(spec, m.artifact())
        assert np.array_equal(again.confidence(X), m.confidence(X))
        assert again.artifact() == m.artifact()


class TestCalibration:
    @pytest.mark.parametrize("kind, method", [
        (k, m) for k in ("lightgbm", "lightgbm_regressor", "logistic")
        for m in ("isotonic", "sigmoid", "none")
        if (k, m) != ("lightgbm_regressor", "none")  # refused: test_regressor_needs_calibration
    ])
    def test_confidence_is_a_probability(self, rows, kind, method):
        X, ret, t0, t1 = rows
        m = fit_model(ModelSpec(kind, {"n_estimators": 30} if kind != "logistic" else {},
                                calibration=method), X, ret, t0, t1)
        conf = m.confidence(X)
        assert np.isfinite(conf).all()
        assert conf.min() >= 0.0 and conf.max() <= 1.0
        # the signal is real: confidence is higher where feature 0 is high
        assert conf[X[:, 0] > 1].mean() > conf[X[:, 0] < -1].mean()

    def test_nan_rows_get_nan_confidence(self, rows):
        X, ret, t0, t1 = rows
        m = fit_model(ModelSpec("logistic"), X, ret, t0, t1)
        Xn = X[:3].copy()
        Xn[1, 2] = np.nan
        conf = m.confidence(Xn)
        assert np.isnan(conf[1]) and np.isfinite(conf[[0, 2]]).all()

    def test_the_calibrator_sees_every_row_out_of_fold(self, rows):
        X, ret, t0, t1 = rows
        m = fit_model(ModelSpec("logistic", calibration="sigmoid"), X, ret, t0, t1)
        # 3 purged folds score all 1,500 rows with models that did not see them
        assert (m.fit_info["folds"], m.fit_info["oof_rows"], m.fit_info["rows"]) == (3, 1500, 1500)

    def test_auto_chooses_by_effective_labels(self, rows):
        X, ret, t0, t1 = rows
        # 5-hour windows: each label uses 4 bars (t0+1h..t0+4h), so 4 labels share each bar
        # and 1,500 rows are worth (1500 - 6) / 4 + edges = 375 labels: below 1,000, sigmoid
        overlapping = fit_model(ModelSpec("logistic"), X, ret, t0, t1)
        assert overlapping.fit_info["calibration"] == "sigmoid"
        assert overlapping.fit_info["effective_n"] == pytest.approx(375.0, abs=1.0)
        # 2-hour windows: one bar each, no overlap, 1,500 independent labels: isotonic
        alone = fit_model(ModelSpec("logistic"), X, ret, t0, t0 + 2 * 3_600_000)
        assert (alone.fit_info["calibration"], alone.fit_info["effective_n"]) == ("isotonic", 1500.0)

    def test_uniqueness_weights_and_sequential_bootstrap_change_the_fit(self, rows):
        X, ret, t0, t1 = rows
        plain = fit_model(ModelSpec("lightgbm", {"n_estimators": 20}), X, ret, t0, t1)
        weighted = fit_model(ModelSpec("lightgbm", {"n_estimators": 20}, weights="uniqueness"),
                             X, ret, t0, t1)
        boot = fit_model(ModelSpec("lightgbm", {"n_estimators": 20}, bootstrap="sequential"),
                         X, ret, t0, t1)
        texts = {m.artifact()["booster.txt"] for m in (plain, weighted, boot)}
        assert len(texts) == 3
        assert (weighted.fit_info["weights"], boot.fit_info["bootstrap"]) == ("uniqueness",
                                                                             "sequential")

    def test_no_skill_stays_near_the_base_rate(self):
        """Noise features, overlapping labels: the calibrated model must not claim what it
        does not know (the issue-17 champion put P = 0.001 on rows that went up 59 %)."""
        rng = np.random.default_rng(5)
        n = 3000
        X = rng.normal(size=(n + 1000, 8))
        # a random walk's 12-bar forward return: overlapping, no relation to X
        walk = np.cumsum(rng.normal(size=n + 1012))
        ret = walk[12:n + 1012] - walk[:n + 1000]
        t0 = np.arange(n + 1000, dtype=np.int64) * 3_600_000
        t1 = t0 + 13 * 3_600_000
        m = fit_model(ModelSpec("lightgbm", {"n_estimators": 50}), X[:n], ret[:n], t0[:n], t1[:n])
        # 3,000 rows of 13-hour windows are worth ~250 independent labels; the out-of-fold
        # scores hold no information about them (likelihood-ratio p > 0.05), so the
        # calibrator is the training base rate: the model says what the constant forecast says
        assert m.fit_info["calibration"] == "constant" and m.fit_info["information_p"] > 0.05
        assert m.fit_info["effective_n"] == pytest.approx(250, abs=5)
        conf = m.confidence(X[n:])
        base_rate = (ret[:n] > 0).mean()
        assert np.unique(conf).tolist() == [base_rate]
        y_test = (ret[n:] > 0).astype(float)
        assert ece(y_test, conf) == ece(y_test, np.full(1000, base_rate))

    def test_scores_with_information_keep_their_calibrator(self, rows):
        X, ret, t0, t1 = rows
        m = fit_model(ModelSpec("lightgbm", {"n_estimators": 30}), X, ret, t0, t1)
        # signal 0.3 * x0 in unit noise, ~375 effective labels: p = 0.0016 < 0.05
        assert m.fit_info["calibration"] == "sigmoid" and m.fit_info["information_p"] < 0.01


class TestErrors:
    def test_regressor_needs_calibration(self):
        with pytest.raises(ConfigError, match="regressor"):
            ModelSpec("lightgbm_regressor", calibration="none")

    def test_reproducibility_settings_are_fixed(self):
        with pytest.raises(ConfigError, match="fixed for reproducibility"):
            ModelSpec("lightgbm", {"deterministic": False})

    def test_unknown_kind_lists_kinds(self):
        with pytest.raises(ConfigError, match="lightgbm"):
            ModelSpec("xgboost")

    def test_nan_training_rows_are_refused(self, rows):
        X, ret, t0, t1 = rows
        X = X.copy()
        X[5, 0] = np.nan
        with pytest.raises(DataError, match="align_training"):
            fit_model(ModelSpec("logistic"), X, ret, t0, t1)

    def test_one_class_is_refused(self, rows):
        X, _, t0, t1 = rows
        with pytest.raises(DataError, match="classes"):
            fit_model(ModelSpec("logistic"), X, np.ones(len(X)), t0, t1)

    def test_wrong_width_is_refused(self, rows):
        X, ret, t0, t1 = rows
        m = fit_model(ModelSpec("logistic"), X, ret, t0, t1)
        with pytest.raises(DataError, match="expects 6 features"):
            m.confidence(X[:, :4])


def test_classification_target_is_label_above_zero():
    assert classification_target([-1, 0, 1]).tolist() == [0.0, 0.0, 1.0]
