"""Label concurrency, uniqueness weights and the sequential bootstrap (AFML ch. 4), by hand."""

from __future__ import annotations

import numpy as np
import pytest

from tradeloom.engine.errors import DataError
from tradeloom.research.ml.weights import (
    average_uniqueness,
    concurrency,
    effective_sample_size,
    label_spans,
    next_draw_probabilities,
    sequential_bootstrap,
    uniqueness_weights,
)

H = 3_600_000


class TestUniqueness:
    def test_three_overlapping_labels(self):
        # bars:      0  1  2  3  4
        # label A:   x  x  x            span [0, 2]
        # label B:      x  x  x         span [1, 3]
        # label C:         x  x  x      span [2, 4]
        # concurrency 1  2  3  2  1
        start, end = np.array([0, 1, 2]), np.array([2, 3, 4])
        assert concurrency(start, end).tolist() == [1, 2, 3, 2, 1]
        u = average_uniqueness(start, end)
        assert u[0] == pytest.approx((1 / 1 + 1 / 2 + 1 / 3) / 3)  # 11/18 = 0.6111
        assert u[1] == pytest.approx((1 / 2 + 1 / 3 + 1 / 2) / 3)  # 4/9 = 0.4444
        assert u[2] == pytest.approx(11 / 18)
        # weights: uniqueness / its mean (11/18 + 8/18 + 11/18) / 3 = 5/9:
        # (11/18) / (5/9) = 1.1 and (4/9) / (5/9) = 0.8
        assert uniqueness_weights(start, end).tolist() == pytest.approx([1.1, 0.8, 1.1])
        # effective sample size: 11/18 + 4/9 + 11/18 = 5/3 labels' worth
        assert effective_sample_size(start, end) == pytest.approx(5 / 3)

    def test_disjoint_labels_are_each_worth_one(self):
        start, end = np.array([0, 3, 6]), np.array([2, 5, 8])
        assert average_uniqueness(start, end).tolist() == [1.0, 1.0, 1.0]
        assert effective_sample_size(start, end) == 3.0

    def test_h_stacked_labels_share_their_bars(self):
        # 4 labels on the very same 4 bars: each is worth 1/4
        start, end = np.zeros(4, dtype=np.int64), np.full(4, 3)
        assert average_uniqueness(start, end).tolist() == [0.25] * 4

    def test_bad_spans_are_named(self):
        with pytest.raises(DataError, match=r"label 1: span \[3, 2\]"):
            average_uniqueness(np.array([0, 3]), np.array([1, 2]))


class TestSpansFromTimes:
    def test_a_12_bar_label_uses_the_12_bars_after_its_own(self):
        # bar t opens at t0; its label ends at the close of bar t+12: t1 = t0 + 13h
        t0 = np.arange(3, dtype=np.int64) * H
        start, end = label_spans(t0, t0 + 13 * H, H)
        assert start.tolist() == [0, 1, 2] and end.tolist() == [11, 12, 13]

    def test_symbols_never_overlap_each_other(self):
        t0 = np.array([0, 0, H, H], dtype=np.int64)
        start, end = label_spans(t0, t0 + 3 * H, H, groups=["BTC", "ETH", "BTC", "ETH"])
        # BTC on bars 0..2 of the grid, ETH shifted past them
        assert start.tolist() == [0, 3, 1, 4] and end.tolist() == [1, 4, 2, 5]
        assert concurrency(start, end).tolist() == [1, 2, 1, 1, 2, 1]

    def test_a_window_without_a_later_bar_is_refused(self):
        with pytest.raises(DataError, match="holds no bar after the labelled one"):
            label_spans(np.array([0]), np.array([H]), H)


class TestSequentialBootstrap:
    def test_the_books_draw_probabilities(self):
        # labels over bars 0-2, 2-3, 4-5; after drawing label 1 the next draw weighs
        # label 0: (1 + 1 + 1/2) / 3 = 5/6, label 1: (1/2 + 1/2) / 2 = 1/2, label 2: 1
        # -> 5/6 : 1/2 : 1 = 5/14, 3/14, 6/14
        p = next_draw_probabilities(np.array([0, 2, 4]), np.array([2, 3, 5]), [1])
        assert p.tolist() == pytest.approx([5 / 14, 3 / 14, 6 / 14])
        # nothing drawn yet: proportional to span-averaged 1/1 = 1 each
        assert next_draw_probabilities(np.array([0, 2, 4]), np.array([2, 3, 5]), []).tolist() \
            == pytest.approx([1 / 3] * 3)

    def test_seeded_and_deterministic(self):
        s, e = np.arange(50), np.arange(50) + 9
        a = sequential_bootstrap(s, e, seed=3)
        assert a.tolist() == sequential_bootstrap(s, e, seed=3).tolist()
        assert a.size == 50 and a.min() >= 0 and a.max() < 50
        assert a.tolist() != sequential_bootstrap(s, e, seed=4).tolist()

    def test_samples_are_more_unique_than_a_plain_bootstrap(self):
        """The point of the method (AFML ch. 4.5.4): over 200 draws of 30 overlapping
        labels, the sampled rows' average uniqueness is higher than a uniform bootstrap's."""
        rng = np.random.default_rng(0)
        s = np.sort(rng.integers(0, 60, 30))
        e = s + rng.integers(1, 10, 30)

        def mean_uniqueness(rows: np.ndarray) -> float:
            return float(average_uniqueness(s[rows], e[rows]).mean())

        seq = [mean_uniqueness(sequential_bootstrap(s, e, seed=k)) for k in range(200)]
        plain = [mean_uniqueness(rng.integers(0, 30, 30)) for _ in range(200)]
        assert np.mean(seq) > np.mean(plain) + 0.02
