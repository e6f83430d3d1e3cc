"""Purged walk-forward CV: purging and embargo proven over random label windows; scoring."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sklearn.linear_model import LogisticRegression, Ridge

from tradeloom.engine.errors import ConfigError, DataError
from tradeloom.research.features.library import default_pipeline
from tradeloom.research.ml.cv import (
    PurgedWalkForward,
    classification_scores,
    cross_validate,
    regression_scores,
)
from tradeloom.research.ml.labels import align_training, forward_class, forward_return

REPO = Path(__file__).resolve().parents[3]
HOUR = 3_600_000


@st.composite
def samples(draw):
    """Sorted or shuffled t0 on an hourly grid (several symbols may share a t0), random t1."""
    n_times = draw(st.integers(8, 80))
    per_time = draw(st.integers(1, 3))
    t0 = np.repeat(np.arange(n_times, dtype=np.int64) * HOUR, per_time)
    lengths = draw(st.lists(st.integers(0, 12 * HOUR), min_size=t0.size, max_size=t0.size))
    t1 = t0 + np.array(lengths, dtype=np.int64)
    perm = np.random.default_rng(draw(st.integers(0, 1000))).permutation(t0.size)
    return t0[perm], t1[perm]


@st.composite
def splitters(draw):
    mode = draw(st.sampled_from(["anchored", "rolling", "kfold"]))
    emb = draw(st.sampled_from(["none", "bars", "ms"]))
    return PurgedWalkForward(
        n_splits=draw(st.integers(2, 4)), train_min=draw(st.sampled_from([None, 5, 12])),
        embargo_bars=draw(st.integers(1, 5)) if emb == "bars" else 0,
        embargo_ms=draw(st.integers(1, 6 * HOUR)) if emb == "ms" else None, mode=mode,
        train_size=draw(st.sampled_from([None, 6])))


class TestPurgedWalkForward:
    @settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(data=samples(), cv=splitters())
    def test_no_training_label_overlaps_a_test_window_or_its_embargo(self, data, cv):
        t0, t1 = data
        try:
            folds = list(cv.split(t0, t1))
        except DataError:
            return  # too few samples for this layout: refused with a message, never leaky
        uniq = np.unique(t0)
        tested = np.concatenate([f.test for f in folds])
        assert np.unique(tested).size == tested.size  # test blocks are disjoint
        for f in folds:
            tr, te = f.train, f.test
            assert f.test_start == t0[te].min() and f.test_end == t1[te].max()
            assert np.intersect1d(tr, te).size == 0
            # purge: no training label window [t0, t1] touches [test_start, test_end]
            assert not ((t0[tr] <= f.test_end) & (t1[tr] >= f.test_start)).any()
            # embargo: nothing starts within the embargo after the test window
            if cv.embargo_ms is not None:
                limit = f.test_end + cv.embargo_ms
            elif cv.embargo_bars:
                after = uniq[uniq > f.test_end]
                limit = after[min(cv.embargo_bars, after.size) - 1] if after.size else f.test_end
            else:
                limit = f.test_end
            assert not ((t0[tr] > f.test_end) & (t0[tr] <= limit)).any()
            # test blocks never split a timestamp; test is contiguous in time
            inside = (t0 >= f.test_start) & (t0 <= t0[te].max())
            assert set(np.flatnonzero(inside)) == set(te.tolist())
            if cv.mode != "kfold":
                assert (t0[tr] < f.test_start).all()  # walk-forward: only the past
                if cv.mode == "anchored":  # maximal: every clean past sample is used
                    clean = (t0 < f.test_start) & (t1 < f.test_start)
                    assert set(tr.tolist()) == set(np.flatnonzero(clean).tolist())
            assert f.purged + f.embargoed + tr.size <= t0.size - te.size
        if cv.mode == "kfold":
            assert np.sort(tested).tolist() == list(range(t0.size))
        assert [(f.train.tolist(), f.test.tolist()) for f in cv.split(t0, t1)] == \
            [(f.train.tolist(), f.test.tolist()) for f in folds]  # deterministic

    def test_purge_and_embargo_by_hand(self):
        t0 = np.arange(20) * HOUR
        t1 = t0 + 2 * HOUR  # each label needs the next two bars
        folds = list(PurgedWalkForward(2, mode="kfold", embargo_bars=3).split(t0, t1))
        f = folds[0]  # test 0..9: window [0h, 11h]; 10, 11 overlap (t0 <= 11h); 12..14 embargoed
        assert f.test.tolist() == list(range(10)) and f.train.tolist() == list(range(15, 20))
        assert (f.purged, f.embargoed) == (2, 3)
        g = folds[1]  # test 10..19 from 10h: labels of 8, 9 end at 10h, 11h -> purged
        assert g.train.tolist() == list(range(8)) and g.purged == 2
        roll = list(PurgedWalkForward(2, train_min=8, mode="rolling", train_size=4).split(t0, t1))
        assert roll[1].train.tolist() == [10, 11]  # window 10..13, 12 and 13 purged
        assert PurgedWalkForward(2, train_min=8).as_sklearn(t0, t1)[0][1].tolist() == \
            list(range(8, 14))

    @pytest.mark.parametrize("kwargs, message", [
        ({"n_splits": 0}, "n_splits must be"), ({"mode": "expanding"}, "mode must be one of"),
        ({"embargo_bars": 2, "embargo_ms": 5}, "not both"), ({"train_min": 0}, "train_min"),
    ])
    def test_bad_configs(self, kwargs, message):
        with pytest.raises(ConfigError, match=message):
            PurgedWalkForward(**kwargs)

    def test_too_little_data_and_bad_windows(self):
        t0 = np.arange(5) * HOUR
        with pytest.raises(DataError, match="too few"):
            list(PurgedWalkForward(5, train_min=4).split(t0, t0))
        with pytest.raises(DataError, match="before its start"):
            list(PurgedWalkForward(2).split(t0, t0 - 1))
        with pytest.raises(DataError, match="no training samples left"):
            list(PurgedWalkForward(2, train_min=2).split(t0, t0 + 10 * HOUR))


class TestScoring:
    def test_classification_scores_match_sklearn_definitions(self):
        y = np.array([0, 1, 1, 0, 1, 0])
        p = np.array([0.1, 0.9, 0.4, 0.6, 0.7, 0.2])
        s = classification_scores(y, p)
        assert s["auc"] == pytest.approx(8 / 9) and s["accuracy"] == pytest.approx(4 / 6)
        assert s["hit_rate"] == pytest.approx(2 / 3)  # long calls: 0.9 ok, 0.6 wrong, 0.7 ok
        assert s["brier"] == pytest.approx(np.mean((p - y) ** 2))
        assert s["log_loss"] == pytest.approx(-np.mean(y * np.log(p) + (1 - y) * np.log(1 - p)))
        assert np.isnan(classification_scores([1, 1], [0.6, 0.7])["auc"])
        multi = classification_scores([-1, 0, 1, 1], np.array(
            [[0.7, 0.2, 0.1], [0.2, 0.6, 0.2], [0.1, 0.1, 0.8], [0.5, 0.1, 0.4]]))
        assert multi["accuracy"] == 0.75 and multi["hit_rate"] == pytest.approx(2 / 3)

    def test_regression_scores(self):
        s = regression_scores([1.0, -1.0, 2.0, -2.0], [0.5, -0.5, 1.0, 1.0])
        assert s["hit_rate"] == 0.75 and s["rmse"] == pytest.approx(np.sqrt(10.5 / 4))


@pytest.fixture(scope="module")
def training() -> tuple:
    bars = pd.read_parquet(REPO / "datasets" / "sample" / "binance" / "ETH-USDT_1h.parquet")
    btc = pd.read_parquet(REPO / "datasets" / "sample" / "binance" / "BTC-USDT_1h.parquet")
    bars, btc = bars.iloc[:2500].reset_index(drop=True), btc.iloc[:2500].reset_index(drop=True)
    feats = default_pipeline().batch(bars, market=btc)
    cls = align_training(feats, forward_class(bars, 12, 0.0, binary=True), bars["ts"])
    reg = align_training(feats, forward_return(bars, 12), bars["ts"])
    return bars, cls, reg


def _logit(X, y, X_test):
    mu, sd = X.mean(), X.std().replace(0, 1)
    model = LogisticRegression(C=0.05, max_iter=300).fit((X - mu) / sd, y)
    return model.predict_proba((X_test - mu) / sd)[:, 1]


class TestCrossValidate:
    def test_binary_scores_per_fold_overall_and_the_backtest_hook(self, training):
        _, ts, _ = training
        cv = PurgedWalkForward(4, train_min=600, embargo_bars=12)
        seen = []

        def hook(fr):
            seen.append((fr.fold.test_start, fr.fold.test_end))
            long = fr.pred >= 0.5  # toy strategy: long when the model says up
            return {"bt_trades": float(long.sum()),
                    "bt_ret": float(np.where(long, 2 * fr.y_true - 1, 0).sum())}

        res = cross_validate(cv, ts.X, ts.y, ts.t0, ts.t1, _logit, fold_backtest=hook)
        table = res.table()
        assert list(table.index) == [0, 1, 2, 3, "overall"]
        for col in ("auc", "log_loss", "brier", "accuracy", "hit_rate", "bt_ret", "purged"):
            assert col in table.columns
        assert table.loc[0:3, "purged"].gt(0).all() and 0.3 < table.loc["overall", "auc"] < 0.7
        assert len(seen) == 4 and all(a < b for a, b in seen)
        again = res.fold_backtest(hook)
        assert again["bt_ret"].tolist() == table.loc[0:3, "bt_ret"].tolist()
        oof = res.oof(len(ts))
        assert np.isnan(oof[:600]).all() and not np.isnan(oof[-1])
        res2 = cross_validate(cv, ts.X, ts.y, ts.t0, ts.t1, _logit)
        assert res2.table().drop(columns=["bt_trades", "bt_ret"], errors="ignore").equals(
            table.drop(columns=["bt_trades", "bt_ret"]))  # deterministic

    def test_regression_and_lightgbm_plug_in(self, training):
        _, cls, reg = training
        cv = PurgedWalkForward(3, train_min=800, mode="rolling", train_size=800)

        def ridge(X, y, X_test):
            return Ridge(alpha=10.0).fit(X, y).predict(X_test)

        res = cross_validate(cv, reg.X, reg.y, reg.t0, reg.t1, ridge, task="regression")
        assert {"rmse", "ic", "rank_ic", "hit_rate"} <= set(res.overall)
        lgb = pytest.importorskip("lightgbm")

        def gbm(X, y, X_test):
            model = lgb.LGBMClassifier(n_estimators=30, num_leaves=8, random_state=7,
                                       deterministic=True, n_jobs=1, verbose=-1)
            return model.fit(X, y).predict_proba(X_test)[:, 1]

        a = cross_validate(cv, cls.X, cls.y, cls.t0, cls.t1, gbm)
        b = cross_validate(cv, cls.X, cls.y, cls.t0, cls.t1, gbm)
        assert a.table().equals(b.table())

    def test_errors(self, training):
        _, ts, _ = training
        cv = PurgedWalkForward(2)
        with pytest.raises(ConfigError, match="task must be one of"):
            cross_validate(cv, ts.X, ts.y, ts.t0, ts.t1, _logit, task="ranking")
        with pytest.raises(DataError, match="returned 1 predictions"):
            cross_validate(cv, ts.X, ts.y, ts.t0, ts.t1, lambda a, b, c: np.zeros(1))
