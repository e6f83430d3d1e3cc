"""Calibration: ECE and reliability by hand, the method rule, the calibrators."""

from __future__ import annotations

import numpy as np
import pytest

from tradeloom.engine.errors import ConfigError, DataError
from tradeloom.research.ml.calibration import (
    ISOTONIC_MIN_EFFECTIVE,
    Calibrator,
    choose_method,
    ece,
    reliability,
)


class TestECE:
    def test_by_hand(self):
        #   p     y    bin (10 bins)
        #  0.15   0    1
        #  0.15   1    1      bin 1: mean p 0.15, 1 of 2 up (0.5)  -> |0.15 - 0.5| = 0.35
        #  0.72   1    7
        #  0.78   1    7
        #  0.75   0    7      bin 7: mean p 0.75, 2 of 3 up        -> |0.75 - 0.6667| = 0.0833
        y = [0, 1, 1, 1, 0]
        p = [0.15, 0.15, 0.72, 0.78, 0.75]
        # ECE = 2/5 * 0.35 + 3/5 * 0.08333 = 0.14 + 0.05 = 0.19
        assert ece(y, p) == pytest.approx(0.19)
        table = reliability(y, p)
        assert table["n"].tolist() == [2, 3] and table["lo"].tolist() == [0.1, 0.7]
        assert table["frac_pos"].tolist() == pytest.approx([0.5, 2 / 3])

    def test_the_constant_forecasts_ece_is_the_base_rate_gap(self):
        # a constant 0.55 on rows of which 40 % went up: |0.55 - 0.40| in one bin
        y = np.array([1] * 40 + [0] * 60)
        assert ece(y, np.full(100, 0.55)) == pytest.approx(0.15)

    def test_p_of_one_falls_in_the_last_bin_and_nan_rows_are_ignored(self):
        assert reliability([1, 0], [1.0, np.nan])["hi"].tolist() == [1.0]

    def test_non_probabilities_are_refused(self):
        with pytest.raises(DataError, match=r"probabilities in \[0, 1\]"):
            ece([0, 1], [0.2, 1.3])
        with pytest.raises(ConfigError, match="bins"):
            ece([0, 1], [0.2, 0.3], bins=0)


class TestMethodRule:
    def test_isotonic_only_with_enough_independent_labels(self):
        assert ISOTONIC_MIN_EFFECTIVE == 1000.0
        assert choose_method(999.9) == "sigmoid"
        assert choose_method(1000.0) == "isotonic"
        # 7,000 rows of 12-bar labels are worth ~7000/12 = 583 independent labels
        assert choose_method(7000 / 12) == "sigmoid"


class TestCalibrators:
    def test_sigmoid_recovers_a_known_mapping(self):
        rng = np.random.default_rng(0)
        s = rng.normal(size=20_000)
        y = (rng.random(20_000) < 1 / (1 + np.exp(-(2.0 * s - 0.5)))).astype(float)
        cal = Calibrator.fit("sigmoid", s, y)
        assert (cal.a, cal.b) == pytest.approx((2.0, -0.5), abs=0.06)

    def test_isotonic_is_monotone_and_bounded(self):
        s = np.array([0.0, 1.0, 2.0, 3.0, 4.0, 5.0])
        cal = Calibrator.fit("isotonic", s, np.array([0, 0, 1, 0, 1, 1]))
        out = cal.apply(np.array([-1.0, 0.0, 2.5, 9.0]))
        assert np.all(np.diff(out) >= 0) and out[0] == 0.001 and out[-1] == 0.999

    def test_auto_must_be_resolved_first(self):
        with pytest.raises(ConfigError, match="auto is resolved by choose_method"):
            Calibrator.fit("auto", [0.1, 0.2], [0, 1])
