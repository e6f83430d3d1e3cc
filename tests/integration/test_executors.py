"""Execution back ends: the spawn process pool and a real 2-worker Dask LocalCluster.

The Dask tests share one module-scoped cluster (its start-up dominates) and
check that a sweep and a walk-forward give byte-identical Parquet files on Dask
and on the local pool.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

import pytest
from sweep_helpers import SMA, data_spec, make_store

from tradeloom.engine.errors import ConfigError, StrategyError
from tradeloom.research.sweeps.executors import (
    DaskExecutor,
    LocalExecutor,
    make_executor,
    parse_cluster,
)
from tradeloom.research.sweeps.sweep import run_sweep
from tradeloom.research.sweeps.walkforward import run_walkforward


def slow_square(x: int) -> int:
    """Later items finish first: result order must still follow the items."""
    time.sleep(0.05 * (4 - x))
    return x * x


def fail_on_two(x: int) -> int:
    if x == 2:
        raise StrategyError(f"item {x} refused")
    return x


def last_waits_for_progress(item: tuple[int, int, str]) -> bool:
    """Items other than the last return at once; the last waits (up to 30 s) for the file
    the progress callback writes when it sees the first finished job, and says whether
    it came. With progress reported only at the end, it never comes."""
    index, last, go = item
    if index != last:
        return True
    deadline = time.monotonic() + 30.0
    while time.monotonic() < deadline:
        if Path(go).exists():
            return True
        time.sleep(0.01)
    return False


def progress_before_the_end(executor: Any, tmp_path: Path, n: int = 4) -> tuple[list[bool], list[int]]:
    go = tmp_path / "go"
    counts: list[int] = []

    def on_done(_: int) -> None:
        counts.append(len(counts) + 1)
        go.touch()

    items = [(i, n - 1, str(go)) for i in range(n)]
    return executor.map(last_waits_for_progress, items, on_done=on_done), counts


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("exec_store")
    make_store(path)
    return path


@pytest.fixture(scope="module")
def pool() -> LocalExecutor:
    with LocalExecutor(processes=2) as ex:
        yield ex


@pytest.fixture(scope="module")
def dask_cluster() -> DaskExecutor:
    pytest.importorskip("distributed")
    with DaskExecutor("local:2") as ex:
        yield ex


class TestLocalExecutor:
    def test_results_follow_item_order_not_completion_order(self, pool: LocalExecutor) -> None:
        seen: list[int] = []
        assert pool.map(slow_square, [0, 1, 2, 3], on_done=seen.append) == [0, 1, 4, 9]
        assert sorted(seen) == [0, 1, 2, 3]

    def test_errors_keep_their_type(self, pool: LocalExecutor) -> None:
        with pytest.raises(StrategyError, match="item 2 refused"):
            pool.map(fail_on_two, [0, 1, 2, 3])
        assert pool.map(slow_square, [3]) == [9]  # the pool is still usable

    def test_one_process_runs_inline(self) -> None:
        with LocalExecutor(processes=1) as ex:
            assert ex.map(slow_square, [1, 2]) == [1, 4] and ex._pool is None

    @pytest.mark.parametrize("n", [0, -1, 1.5])
    def test_bad_process_count(self, n: object) -> None:
        with pytest.raises(ConfigError, match="whole number >= 1"):
            LocalExecutor(processes=n)  # type: ignore[arg-type]


class TestProgressAdvancesPerJob:
    """A progress callback sees each finished job while the last one still runs."""

    def test_local_pool(self, pool: LocalExecutor, tmp_path: Path) -> None:
        results, counts = progress_before_the_end(pool, tmp_path)
        assert results == [True, True, True, True]  # the last job saw progress before it ended
        assert counts == [1, 2, 3, 4]

    def test_dask_local_cluster(self, dask_cluster: DaskExecutor, tmp_path: Path) -> None:
        results, counts = progress_before_the_end(dask_cluster, tmp_path)
        assert results == [True, True, True, True]
        assert counts == [1, 2, 3, 4]

    def test_a_sweep_reports_every_job(self, pool: LocalExecutor, root: Path) -> None:
        seen: list[tuple[int, int]] = []
        run_sweep(SMA, data_spec(root), ["fast=5,10,15", "slow=30,60"], engine="event",
                  executor=pool, progress=lambda done, total: seen.append((done, total)))
        assert seen == [(k, 6) for k in range(7)]


class TestClusterAddress:
    @pytest.mark.parametrize("text, expected", [
        ("local", ("local", 2)), ("local:3", ("local", 3)),
        ("tcp://127.0.0.1:8786", ("remote", "tcp://127.0.0.1:8786")),
    ])
    def test_parse(self, text: str, expected: tuple[str, object]) -> None:
        assert parse_cluster(text) == expected

    @pytest.mark.parametrize("text", ["local:0", "local:x", "host:8786", "tcp://"])
    def test_bad_address_shows_the_forms(self, text: str) -> None:
        with pytest.raises(ConfigError, match="--cluster"):
            parse_cluster(text)

    def test_missing_dask_names_the_extra(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setitem(sys.modules, "distributed", None)  # import raises ImportError
        with pytest.raises(ConfigError, match=r"pip install 'tradeloom\[dask\]'"):
            make_executor("local:2")

    def test_unreachable_scheduler(self) -> None:
        pytest.importorskip("distributed")
        with pytest.raises(ConfigError, match="cannot reach the Dask scheduler"):
            DaskExecutor("tcp://127.0.0.1:9", timeout_s=1.0)


class TestDask:
    def test_order_and_errors(self, dask_cluster: DaskExecutor) -> None:
        seen: list[int] = []
        assert dask_cluster.map(slow_square, [0, 1, 2, 3], on_done=seen.append) == [0, 1, 4, 9]
        assert sorted(seen) == [0, 1, 2, 3]
        with pytest.raises(StrategyError, match="item 2 refused"):
            dask_cluster.map(fail_on_two, [0, 1, 2])

    def test_sweep_table_bytes_equal_the_local_pool(self, dask_cluster: DaskExecutor, pool: LocalExecutor,
                                                    root: Path, tmp_path: Path) -> None:
        data = data_spec(root)
        grid = ["fast=5,10,15", "slow=30,60"]
        local = run_sweep(SMA, data, grid, engine="event", executor=pool)
        remote = run_sweep(SMA, data, grid, engine="event", executor=dask_cluster)
        local.to_parquet(tmp_path / "local.parquet")
        remote.to_parquet(tmp_path / "dask.parquet")
        assert (tmp_path / "local.parquet").read_bytes() == (tmp_path / "dask.parquet").read_bytes()

    def test_fast_path_and_walkforward_equal_the_local_pool(self, dask_cluster: DaskExecutor,
                                                            pool: LocalExecutor, root: Path,
                                                            tmp_path: Path) -> None:
        data = data_spec(root)
        fast_local = run_sweep(SMA, data, ["fast=5:20:5", "slow=30,60"], executor=pool)
        fast_dask = run_sweep(SMA, data, ["fast=5:20:5", "slow=30,60"], executor=dask_cluster)
        assert fast_dask.engine == "fast:sma_cross"
        fast_local.to_parquet(tmp_path / "fl.parquet")
        fast_dask.to_parquet(tmp_path / "fd.parquet")
        assert (tmp_path / "fl.parquet").read_bytes() == (tmp_path / "fd.parquet").read_bytes()
        kw: dict[str, Any] = {"train": "15d", "test": "10d", "engine": "event"}
        wl = run_walkforward(SMA, data, ["fast=5,10", "slow=30"], executor=pool, **kw)
        wd = run_walkforward(SMA, data, ["fast=5,10", "slow=30"], executor=dask_cluster, **kw)
        for a, b in zip(wl.to_parquet(tmp_path / "wl"), wd.to_parquet(tmp_path / "wd")):
            assert a.read_bytes() == b.read_bytes(), a.name


class TestOptimizeOnDask:
    """``run_optimize`` on a real 2-worker LocalCluster: the workers share the study's journal
    file, and the trials table is the local pool's, trial for trial."""

    def test_same_trials_as_the_local_pool_and_workers_report_to_the_shared_journal(
            self, dask_cluster: DaskExecutor, pool: LocalExecutor, root: Path, tmp_path: Path) -> None:
        optuna = pytest.importorskip("optuna")
        from tradeloom.research.optimize.study import run_optimize
        from tradeloom.research.optimize.trial_job import open_storage

        kw: dict[str, Any] = {"trials": 8, "seed": 5, "batch": 4, "folds": 2, "prune_startup": 2}
        space = ["fast=5:30", "slow=40:120"]
        journal = tmp_path / "dask.journal"
        on_dask = run_optimize(SMA, data_spec(root), space, executor=dask_cluster, storage=str(journal), **kw)
        local = run_optimize(SMA, data_spec(root), space, executor=pool,
                             storage=str(tmp_path / "local.journal"), **kw)
        assert on_dask.trials.equals(local.trials)
        study = optuna.load_study(study_name="tradeloom", storage=open_storage(str(journal)))
        reported = {t.number: sorted(t.intermediate_values) for t in study.trials}
        done = on_dask.trials[on_dask.trials["state"] == "complete"]["number"].tolist()
        assert done and all(reported[n] == [0, 1] for n in done)  # one report per fold, by a worker
