"""``tradeloom.research.optimize``: optuna search on the bundled sample.

Specifications: the same seed and batch give the same trials table; the fast path and
the event engine score a trial alike; walk-forward folds prune trials below the
finished trials' median; several objectives give a Pareto front nobody dominates; the
overfitting statistics count every trial that ran; the search space syntax.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from sweep_helpers import RSI, SMA, data_spec, make_store

from tradeloom.engine.errors import ConfigError
from tradeloom.research.backtest import run_backtest
from tradeloom.research.optimize.result import pareto_mask
from tradeloom.research.optimize.space import Space
from tradeloom.research.optimize.study import fold_windows, run_optimize
from tradeloom.research.sweeps.executors import LocalExecutor

pytest.importorskip("optuna")


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("optimize_store")
    make_store(path)
    return path


@pytest.fixture(scope="module")
def inline() -> LocalExecutor:
    with LocalExecutor(processes=1) as ex:
        yield ex


SPACE = ["fast=5:30", "slow=40:120"]


def optimize(root: Path, ex: LocalExecutor, **kw):  # type: ignore[no-untyped-def]
    args = {"trials": 8, "seed": 3, "batch": 4, "executor": ex}
    args.update(kw)
    return run_optimize(SMA, data_spec(root), kw.pop("space", SPACE), **args)


class TestReproducible:
    def test_same_seed_same_trials_table(self, root: Path, inline: LocalExecutor) -> None:
        a = optimize(root, inline)
        b = optimize(root, inline)
        pd.testing.assert_frame_equal(a.trials, b.trials)
        assert a.meta == b.meta

    def test_another_seed_draws_other_params(self, root: Path, inline: LocalExecutor) -> None:
        a = optimize(root, inline)
        b = optimize(root, inline, seed=4)
        assert a.trials[["fast", "slow"]].values.tolist() != b.trials[["fast", "slow"]].values.tolist()

    def test_the_parquet_file_is_byte_identical(self, root: Path, inline: LocalExecutor,
                                                tmp_path: Path) -> None:
        (a,) = optimize(root, inline).to_parquet(tmp_path / "a")
        (b,) = optimize(root, inline).to_parquet(tmp_path / "b")
        assert a.read_bytes() == b.read_bytes()


class TestTrials:
    def test_a_trial_scores_as_a_backtest_of_its_params(self, root: Path, inline: LocalExecutor) -> None:
        res = optimize(root, inline, trials=4)
        assert res.engine == "fast:sma_cross"
        row = res.trials.iloc[2]
        data = data_spec(root)
        one = run_backtest(SMA, "BTC/USDT", "1h", data.start, data.end,
                           {"fast": int(row["fast"]), "slow": int(row["slow"])}, root)
        assert row["value_sharpe"] == pytest.approx(one.metrics["sharpe"], rel=1e-9)
        assert row["total_return"] == pytest.approx(one.metrics["total_return"], rel=1e-9)

    def test_event_engine_gives_the_same_values(self, root: Path, inline: LocalExecutor) -> None:
        fast = optimize(root, inline, trials=4, sampler="random")
        event = optimize(root, inline, trials=4, sampler="random", engine="event")
        assert event.engine == "event"
        assert fast.trials[["fast", "slow"]].values.tolist() == event.trials[["fast", "slow"]].values.tolist()
        np.testing.assert_allclose(fast.trials["value_sharpe"], event.trials["value_sharpe"], rtol=1e-9)

    def test_refused_params_are_recorded_not_run(self, root: Path, inline: LocalExecutor) -> None:
        res = run_optimize(SMA, data_spec(root), ["fast=30:60", "slow=20:50"], trials=6, seed=1,
                           sampler="random", executor=inline)
        refused = res.trials[res.trials["state"] == "refused"]
        assert len(refused) > 0 and (refused["fast"] >= refused["slow"]).all()
        assert refused["reason"].str.contains("fast").all() and (refused["folds"] == 0).all()


class TestPruningOnFolds:
    def test_folds_cut_the_range_in_time_order(self, root: Path) -> None:
        folds = fold_windows(data_spec(root), 3)
        assert folds[0].start == data_spec(root).start and folds[-1].end == data_spec(root).end
        assert [f.end for f in folds[:-1]] == [f.start for f in folds[1:]]

    def test_trials_below_the_median_are_pruned_after_a_fold(self, root: Path, inline: LocalExecutor) -> None:
        res = optimize(root, inline, trials=16, folds=3, prune_startup=2, sampler="random")
        t = res.trials
        pruned = t[t["state"] == "pruned"]
        assert len(pruned) > 0 and (pruned["folds"] < 3).all()
        assert (t.loc[t["state"] == "complete", "folds"] == 3).all()
        # The MedianPruner's rule, checked from the table: a trial pruned after fold 1 scored
        # below the median fold-1 value of the trials completed before its batch.
        first = pruned.iloc[0]
        before = t[(t["state"] == "complete") & (t["number"] < first["number"] // 4 * 4)]
        fold1 = [_fold1_sharpe(root, r) for r in before.itertuples()]
        assert _fold1_sharpe(root, first) < np.median(fold1)

    def test_no_prune_runs_every_fold(self, root: Path, inline: LocalExecutor) -> None:
        res = optimize(root, inline, trials=8, folds=3, prune=False)
        assert set(res.trials["folds"]) == {3} and res.meta["pruning"] is False


def _fold1_sharpe(root: Path, row) -> float:  # type: ignore[no-untyped-def]
    fold = fold_windows(data_spec(root), 3)[0]
    res = run_backtest(SMA, "BTC/USDT", "1h", fold.start, fold.end,
                       {"fast": int(row.fast if hasattr(row, "fast") else row["fast"]),
                        "slow": int(row.slow if hasattr(row, "slow") else row["slow"])}, root)
    return float(res.metrics["sharpe"])


class TestMultiObjective:
    def test_pareto_front_is_not_dominated(self, root: Path, inline: LocalExecutor) -> None:
        res = optimize(root, inline, trials=12, objectives=["sharpe", "max_drawdown"])
        assert res.directions == ("maximize", "minimize")
        front = res.pareto
        assert len(front) >= 1
        done = res.trials[res.trials["state"] == "complete"]
        for _, p in front.iterrows():
            better = ((done["value_sharpe"] >= p["value_sharpe"])
                      & (done["value_max_drawdown"] <= p["value_max_drawdown"])
                      & ((done["value_sharpe"] > p["value_sharpe"])
                         | (done["value_max_drawdown"] < p["value_max_drawdown"])))
            assert not better.any(), f"trial {p['number']} is dominated"
        assert pareto_mask(res.trials, res.objectives, res.directions).sum() == len(front)


class TestOverfitting:
    def test_every_trial_that_ran_is_counted(self, root: Path, inline: LocalExecutor) -> None:
        res = optimize(root, inline, trials=12, folds=3, prune_startup=2, sampler="random")
        ran = (res.trials["folds"] > 0).sum()
        assert res.overfit.n_trials == ran == res.meta["overfit"]["trials"]
        assert 0.0 <= res.overfit.dsr <= 1.0 and 0.0 <= res.overfit.pbo <= 1.0


class TestSpace:
    def test_a_vectorized_strategy_optimizes_on_the_fast_path(self, root: Path, inline: LocalExecutor) -> None:
        res = run_optimize(RSI, data_spec(root), ["period=5:20", "oversold=20.0:40.0"], trials=4,
                           seed=2, executor=inline)
        assert res.engine == "fast:vectorized" and set(res.trials["state"]) == {"complete"}
        assert res.trials["oversold"].dtype == np.float64

    @pytest.mark.parametrize("spec, message", [
        ("fast", "missing '='"),
        ("fast=50:5", "LOW must be below HIGH"),
        ("stop=0:0.1:log", "LOW > 0"),
        ("fast=5:50:0", "step must be > 0"),
        ("fast=a:b", "is not a number"),
    ])
    def test_bad_specs_say_the_syntax(self, spec: str, message: str) -> None:
        with pytest.raises(ConfigError, match=message):
            Space.parse([spec])

    def test_unknown_param_suggests_the_name(self, root: Path, inline: LocalExecutor) -> None:
        with pytest.raises(Exception, match="did you mean 'fast'"):
            run_optimize(SMA, data_spec(root), ["fsat=5:10"], trials=2, executor=inline)

    def test_a_study_is_not_resumed(self, root: Path, inline: LocalExecutor, tmp_path: Path) -> None:
        storage = str(tmp_path / "study.journal")
        optimize(root, inline, trials=2, storage=storage)
        with pytest.raises(ConfigError, match="already exists"):
            optimize(root, inline, trials=2, storage=storage)

    def test_rdb_storage(self, root: Path, inline: LocalExecutor, tmp_path: Path) -> None:
        res = optimize(root, inline, trials=4, folds=2, storage=f"sqlite:///{tmp_path / 'study.db'}")
        assert math.isfinite(res.best["value_sharpe"])
