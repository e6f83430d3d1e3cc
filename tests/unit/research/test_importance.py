"""MDA and SFI (AFML ch. 8) on data whose answer is known."""

from __future__ import annotations

import numpy as np
import pytest

from tradeloom.engine.errors import ConfigError
from tradeloom.research.ml.cv import PurgedWalkForward
from tradeloom.research.ml.importance import mda, sfi, spec_fitter
from tradeloom.research.ml.models import ModelSpec

H = 3_600_000


@pytest.fixture(scope="module")
def data():
    """feature 0 decides the label, feature 1 is a copy of it (a substitute), 2 and 3 noise."""
    rng = np.random.default_rng(3)
    n = 1200
    x0 = rng.normal(size=n)
    X = np.column_stack([x0, x0 + rng.normal(0, 0.05, n), rng.normal(size=n),
                         rng.normal(size=n)])
    y = (x0 + rng.normal(0, 0.5, n) > 0).astype(float)
    t0 = np.arange(n, dtype=np.int64) * H
    t1 = t0 + 3 * H
    splits = PurgedWalkForward(3, mode="kfold", embargo_bars=2).as_sklearn(t0, t1)
    fit = spec_fitter(ModelSpec("logistic", calibration="none"), X, y, t0, t1)
    return X, y, splits, fit


NAMES = ["signal", "copy", "noise_a", "noise_b"]


def test_sfi_finds_both_informative_features(data):
    X, y, splits, fit = data
    out = sfi(X, y, splits, fit, names=NAMES)
    # each informative feature alone ranks the labels well (AUC ~0.85); noise ~0.5
    assert set(out.index[:2]) == {"signal", "copy"}
    assert out.loc["signal", "score"] > 0.8 and out.loc["copy", "score"] > 0.8
    assert abs(out.loc["noise_a", "score"] - 0.5) < 0.06


def test_mda_sees_the_signal_and_not_the_noise(data):
    X, y, splits, fit = data
    out = mda(X, y, splits, fit, scoring="auc", names=NAMES, seed=1)
    assert out["folds"].iloc[0] == 3 and len(out.attrs["base"]) == 3
    # shuffling noise costs nothing, shuffling what the model leans on costs AUC
    assert abs(out.loc["noise_a", "importance"]) < 0.02
    assert out.loc[["signal", "copy"], "importance"].max() > 0.05
    # log loss scoring: importance is the log loss gained when shuffled
    ll = mda(X, y, splits, fit, scoring="log_loss", names=NAMES, seed=1)
    assert ll.index[0] in ("signal", "copy") and ll["importance"].iloc[0] > 0


def test_unknown_scoring_is_refused(data):
    X, y, splits, fit = data
    with pytest.raises(ConfigError, match="scoring must be one of"):
        mda(X, y, splits, fit, scoring="accuracy")
