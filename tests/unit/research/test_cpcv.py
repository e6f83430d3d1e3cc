"""Combinatorial purged CV (AFML ch. 12): splits, paths, purging, embargo, assembly."""

from __future__ import annotations

import numpy as np
import pytest

from tradeloom.engine.errors import ConfigError
from tradeloom.research.ml.cpcv import CombinatorialPurgedCV, combinatorial_cross_validate

H = 3_600_000


class TestCounts:
    def test_six_groups_two_tested_give_15_splits_and_5_paths(self):
        cv = CombinatorialPurgedCV(6, 2)
        # C(6, 2) = 15 splits; each group is tested in C(5, 1) = 5 of them,
        # so the test sets assemble into 2/6 * 15 = 5 complete paths
        assert (cv.n_splits, cv.n_paths) == (15, 5)
        assert cv.combinations() == [(0, 1), (0, 2), (0, 3), (0, 4), (0, 5), (1, 2), (1, 3),
                                     (1, 4), (1, 5), (2, 3), (2, 4), (2, 5), (3, 4), (3, 5),
                                     (4, 5)]

    def test_the_path_table(self):
        # group 0 is tested by splits 0..4, group 1 by 0, 5, 6, 7, 8, group 2 by 1, 5, 9,
        # 10, 11, ...; path j takes the j-th of each group's list
        assert CombinatorialPurgedCV(6, 2).path_splits() == [
            [0, 0, 1, 2, 3, 4],
            [1, 5, 5, 6, 7, 8],
            [2, 6, 9, 9, 10, 11],
            [3, 7, 10, 12, 12, 13],
            [4, 8, 11, 13, 14, 14],
        ]

    def test_other_sizes(self):
        assert (CombinatorialPurgedCV(10, 2).n_splits, CombinatorialPurgedCV(10, 2).n_paths) \
            == (45, 9)
        assert CombinatorialPurgedCV(4, 1).n_paths == 1  # k = 1 is plain k-fold: one path

    def test_bad_sizes(self):
        with pytest.raises(ConfigError, match="n_test_groups < n_groups"):
            CombinatorialPurgedCV(4, 4)


class TestSplits:
    def setup_method(self):
        self.t0 = np.arange(60, dtype=np.int64) * H
        self.t1 = self.t0 + 4 * H  # each label ends 4 bars later

    def test_every_split_tests_two_groups_and_trains_on_no_overlap(self):
        cv = CombinatorialPurgedCV(6, 2)
        gid = cv.groups(self.t0)
        assert np.bincount(gid).tolist() == [10] * 6
        for sp in cv.split(self.t0, self.t1):
            assert sorted(set(gid[sp.test])) == list(sp.test_groups)
            for g in sp.test_groups:
                rows = gid == g
                lo, hi = self.t0[rows].min(), self.t1[rows].max()
                tr = sp.train
                assert not ((self.t0[tr] <= hi) & (self.t1[tr] >= lo)).any()

    def test_purge_and_embargo_by_hand(self):
        # split 0 tests groups 0 and 1 (rows 0-19, windows up to t1 = 23h): rows 20-23
        # start at or before 23h and are purged; with a 2-bar embargo rows 24-25 go too
        sp = next(CombinatorialPurgedCV(6, 2, embargo_bars=2).split(self.t0, self.t1))
        assert sp.test.tolist() == list(range(20))
        assert (sp.purged, sp.embargoed) == (4, 2)
        assert sp.train.min() == 26
        # a test group in the middle (split 5: groups 1, 2 = rows 10-29) purges on both sides:
        # rows 6-9 reach into row 10's start; rows 30-33 start before row 29's end
        mid = list(CombinatorialPurgedCV(6, 2).split(self.t0, self.t1))[5]
        assert mid.test_groups == (1, 2) and mid.purged == 8
        assert mid.train.tolist() == list(range(6)) + list(range(34, 60))


def test_paths_cover_every_row_once_with_out_of_sample_predictions():
    t0 = np.arange(60, dtype=np.int64) * H
    t1 = t0 + 2 * H
    y = (np.arange(60) % 2).astype(float)
    cv = CombinatorialPurgedCV(6, 2)
    seen: list[tuple[set[int], set[int]]] = []

    def fit_predict(train, test):
        seen.append((set(train.tolist()), set(test.tolist())))
        return np.full(test.size, float(len(seen) - 1))  # "prediction" = split index

    res = combinatorial_cross_validate(cv, np.zeros((60, 1)), y, t0, t1, fit_predict,
                                       lambda yy, p: {"covered": float(np.isfinite(p).sum())})
    assert res.paths.shape == (5, 60) and not np.isnan(res.paths).any()
    assert res.path_scores["covered"].tolist() == [60.0] * 5
    gid = cv.groups(t0)
    for j, per_group in enumerate(cv.path_splits()):
        for g, s in enumerate(per_group):
            assert set(res.paths[j, gid == g]) == {float(s)}
            assert not (set(np.flatnonzero(gid == g)) & seen[s][0])  # never trained on it
    assert res.summary().loc["covered", "mean"] == 60.0
