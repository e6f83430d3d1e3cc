"""Out-of-fold evaluation: the baselines, the model's edge with a block-bootstrap CI, calibration."""

from __future__ import annotations

import numpy as np
import pytest

from tradeloom.engine.errors import DataError
from tradeloom.research.ml.evaluation import evaluate_oof, prev_return_up, rule_probability
from tradeloom.research.ml.significance import time_blocks

H = 3_600_000


def test_previous_return_sign_by_hand():
    # close 10, 11, 10.5, 12 over 2 bars: 10.5 > 10 up, 12 > 11 up
    assert prev_return_up(np.array([10.0, 11.0, 10.5, 12.0]), 2).tolist()[2:] == [1.0, 1.0]
    assert np.isnan(prev_return_up(np.array([10.0, np.nan, 12.0]), 1)[1:]).all()


def test_the_rule_as_a_probability():
    # training: after up moves 3 of 4 labels positive, after down moves 1 of 4
    y = np.array([1, 1, 1, 0, 1, 0, 0, 0])
    up = np.array([1, 1, 1, 1, 0, 0, 0, 0])
    p = rule_probability(y, up, np.array([1.0, 0.0, np.nan]))
    assert p.tolist() == [0.75, 0.25, 0.5]  # unknown sign: the base rate 4/8


def _rows(skill: float, n: int = 2000, seed: int = 0):
    rng = np.random.default_rng(seed)
    truth = rng.normal(size=n)
    y = (truth + rng.normal(0, 1.0, n) > 0).astype(float)
    conf = 1 / (1 + np.exp(-skill * truth))
    t0 = np.arange(n, dtype=np.int64) * H
    return y, conf, t0


def test_a_skilled_model_has_an_edge_whose_interval_excludes_zero():
    y, conf, t0 = _rows(skill=1.5)
    out = evaluate_oof(y, conf, conf, {"base_rate": np.full(y.size, 0.5),
                                       "prev_return_sign": np.full(y.size, 0.5)},
                       time_blocks(t0, 12 * H), n_boot=300)
    edge = out["baselines"]["base_rate"]["edge_auc"]
    assert out["baselines"]["base_rate"]["auc"] == 0.5  # a constant ranks nothing
    assert edge["value"] == pytest.approx(out["model"]["auc"] - 0.5)
    assert edge["ci_low"] > 0.15 and edge["p_value"] < 0.01
    assert out["blocks"] == 167  # 2000 hourly rows in 12-hour blocks: ceil(2000 / 12)
    assert out["calibration"]["ece_constant"] == pytest.approx(abs(0.5 - y.mean()))


def test_no_skill_has_an_interval_around_zero():
    y, _, t0 = _rows(skill=0.0)
    noise = 0.5 + 0.01 * np.random.default_rng(9).normal(size=y.size)
    out = evaluate_oof(y, noise, noise, {"base_rate": np.full(y.size, y.mean())},
                       time_blocks(t0, 12 * H), n_boot=300)
    edge = out["baselines"]["base_rate"]["edge_auc"]
    assert edge["ci_low"] < 0 < edge["ci_high"] and edge["p_value"] > 0.05


def test_rows_must_line_up():
    with pytest.raises(DataError, match="one value per row"):
        evaluate_oof([0, 1], [0.2, 0.3], [0.2, 0.3], {"base_rate": [0.5]}, [0, 0])
