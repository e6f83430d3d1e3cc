"""Walk-forward: window planning, stitching, and a real run on the bundled sample."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sweep_helpers import SMA, data_spec, make_store

from tradeloom.engine.errors import ConfigError, DataError
from tradeloom.research.backtest import run_backtest
from tradeloom.research.sweeps.executors import LocalExecutor
from tradeloom.research.sweeps.table import best_index, read_table_metadata
from tradeloom.research.sweeps.walkforward import run_walkforward, stitch
from tradeloom.research.sweeps.wf_windows import parse_span, plan_windows

H = 3_600_000


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("wf_store")
    make_store(path)
    return path


class TestSpans:
    @pytest.mark.parametrize("text, kind, value", [
        ("90d", "ms", 90 * 24 * H), ("12h", "ms", 12 * H), ("2w", "ms", 14 * 24 * H),
        ("2000", "bars", 2000), ("500bars", "bars", 500), ("7 b", "bars", 7), ("1bar", "bars", 1),
    ])
    def test_parse(self, text: str, kind: str, value: int) -> None:
        span = parse_span(text)
        assert (span.kind, span.value) == (kind, value)

    @pytest.mark.parametrize("text", ["", "0", "90 days", "-5", "3mo", "1.5d"])
    def test_bad_span_names_the_flag(self, text: str) -> None:
        with pytest.raises(ConfigError, match="--test .*duration such as 90d"):
            parse_span(text, "--test")


class TestWindows:
    ts = np.arange(10, dtype=np.int64) * H

    def test_rolling_by_bars_tiles_the_test_windows(self) -> None:
        ws = plan_windows(self.ts, "1h", parse_span("4"), parse_span("2"))
        assert [(w.train_start // H, w.train_end // H, w.test_end // H) for w in ws] == [
            (0, 4, 6), (2, 6, 8), (4, 8, 10)]
        assert all(w.test_start == w.train_end for w in ws)

    def test_anchored_train_windows_grow_from_the_first_bar(self) -> None:
        ws = plan_windows(self.ts, "1h", parse_span("4"), parse_span("3"), anchored=True)
        assert [(w.train_start, w.train_end // H, w.train_bars) for w in ws] == [(0, 4, 4), (0, 7, 7)]

    def test_bar_counts_skip_gaps_durations_do_not(self) -> None:
        gappy = np.array([0, 1, 2, 10, 11, 12, 13, 14], dtype=np.int64) * H
        by_bars = plan_windows(gappy, "1h", parse_span("3"), parse_span("2"))
        assert [(w.train_bars, w.test_bars) for w in by_bars] == [(3, 2), (3, 2)]
        by_time = plan_windows(gappy, "1h", parse_span("3h"), parse_span("2h"))
        # windows whose train or test part holds no bar are left out
        assert all(w.train_bars and w.test_bars for w in by_time)
        assert [w.test_start // H for w in by_time] == [11, 13]

    def test_kinds_must_match(self) -> None:
        with pytest.raises(ConfigError, match="both as durations .* or both as bar counts"):
            plan_windows(self.ts, "1h", parse_span("4h"), parse_span("2"))

    def test_too_long_says_what_the_data_holds(self) -> None:
        with pytest.raises(ConfigError, match="does not fit in the data \\(10 bars from"):
            plan_windows(self.ts, "1h", parse_span("8"), parse_span("3"))

    def test_no_bars(self) -> None:
        with pytest.raises(DataError, match="no bars"):
            plan_windows(self.ts[:0], "1h", parse_span("8"), parse_span("3"))


def test_stitch_compounds_window_returns() -> None:
    curve = stitch([(np.array([1, 2]), np.array([100.0, 110.0])),
                    (np.array([3]), np.array([50.0])),
                    (np.array([4, 5]), np.array([100.0, 200.0]))], 100.0)
    assert curve["equity"].tolist() == [100.0, 110.0, 55.0, 55.0, 110.0]
    assert curve["window"].tolist() == [0, 0, 1, 2, 2]


@pytest.fixture(scope="module")
def result(root: Path):  # type: ignore[no-untyped-def]
    """59 days of 1h bars: rolling 20d train / 10d test windows start on days 0, 10 and 20."""
    with LocalExecutor(processes=1) as ex:
        return run_walkforward(SMA, data_spec(root, end="2021-03-01"), ["fast=5,10", "slow=20,40"],
                               train="20d", test="10d", executor=ex)


class TestRunWalkForward:

    def test_windows_and_picks(self, result) -> None:  # type: ignore[no-untyped-def]
        w = result.windows
        assert len(w) == 3 and result.summary["windows"] == 3
        assert (w["test_start"] == w["train_end"]).all()
        assert (w["test_start"].iloc[1:].to_numpy() == w["test_end"].iloc[:-1].to_numpy()).all()
        for k, row in w.iterrows():
            is_table = result.in_sample[result.in_sample["window"] == k].reset_index(drop=True)
            pick = best_index(is_table, "sharpe")
            assert (row["fast"], row["slow"]) == (is_table["fast"][pick], is_table["slow"][pick])
            assert row["is_sharpe"] == is_table["sharpe"][pick]
            assert row["degradation"] == pytest.approx(row["oos_sharpe"] - row["is_sharpe"])
        assert result.summary["engine"] == "fast:sma_cross"

    def test_out_of_sample_equals_a_plain_backtest_of_the_test_window(self, result, root: Path) -> None:  # type: ignore[no-untyped-def]
        row = result.windows.iloc[1]
        one = run_backtest(SMA, "BTC/USDT", "1h", int(row["test_start"]), int(row["test_end"]),
                           {"fast": int(row["fast"]), "slow": int(row["slow"])}, root)
        assert row["oos_sharpe"] == one.metrics["sharpe"] or (
            math.isnan(row["oos_sharpe"]) and math.isnan(one.metrics["sharpe"]))
        seg = result.equity[result.equity["window"] == 1]["equity"].to_numpy()
        carried = result.equity[result.equity["window"] == 0]["equity"].iloc[-1]
        np.testing.assert_allclose(seg, one.equity["equity"].to_numpy() * carried / 10_000.0, rtol=1e-12)

    def test_stitched_curve_and_summary(self, result) -> None:  # type: ignore[no-untyped-def]
        eq = result.equity
        assert len(eq) == int(result.windows["test_bars"].sum())
        assert eq["ts"].is_monotonic_increasing
        total = eq["equity"].iloc[-1] / 10_000.0 - 1
        assert result.summary["oos_stitched_total_return"] == pytest.approx(total, rel=1e-12)
        s = result.summary
        assert s["degradation_mean"] == pytest.approx(s["oos_sharpe_mean"] - s["is_sharpe_mean"])

    def test_each_train_window_is_scored_for_overfitting(self, result) -> None:  # type: ignore[no-untyped-def]
        w, s = result.windows, result.summary
        assert w["is_trials"].tolist() == [4, 4, 4]  # 2 x 2 combinations per train window
        assert s["trials"] == 12
        assert ((w["is_dsr"] >= 0) & (w["is_dsr"] <= 1)).all()
        assert ((w["is_pbo"] >= 0) & (w["is_pbo"] <= 1)).all()
        assert s["is_pbo_mean"] == pytest.approx(w["is_pbo"].mean())

    def test_to_parquet(self, result, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
        paths = result.to_parquet(tmp_path / "wf")
        assert [p.name for p in paths] == ["windows.parquet", "equity.parquet", "in_sample.parquet"]
        pd.testing.assert_frame_equal(pd.read_parquet(paths[0]), result.windows)
        assert read_table_metadata(paths[1])["mode"] == "rolling"

    def test_anchored_by_bars_on_the_event_engine(self, root: Path) -> None:
        with LocalExecutor(processes=1) as ex:
            res = run_walkforward(SMA, data_spec(root, end="2021-02-01"), {"fast": [5], "slow": [20, 30]},
                                  train="300", test="200", anchored=True, engine="event", executor=ex)
        assert res.windows["train_start"].nunique() == 1
        assert res.windows["train_bars"].tolist() == [300, 500]
        assert res.summary["mode"] == "anchored" and res.summary["engine"] == "event"
