"""The schedule loop: cron fire times from APScheduler, a fake clock, bounded runs, the lock."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from ml_helpers import sample_store, train_dict
from pydantic import ValidationError
from tradeloom.adapters.clock import ManualClock
from tradeloom.engine.errors import ConfigError
from tradeloom.research.ml.registry import ModelRegistry
from tradeloom.research.ml.schedule import (
    RunRecord,
    crontab_lines,
    next_fire,
    retrain_runner,
    run_schedule,
)

from tradeloom.research.ml.config import ScheduleConfig, ScheduleJob

T0 = datetime(2024, 1, 1, 0, 30, tzinfo=UTC)


class FakeClock(ManualClock):
    """Starts at T0; ``sleep_sync`` jumps forward and remembers how long it was asked to wait."""

    def __init__(self, start: datetime = T0) -> None:
        super().__init__(int(start.timestamp() * 1000))
        self.sleeps: list[float] = []

    def sleep_sync(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        super().sleep_sync(seconds)


def _cfg(*jobs: tuple[str, str]) -> ScheduleConfig:
    return ScheduleConfig(jobs=[ScheduleJob(config=c, cron=e) for c, e in jobs])


def test_jobs_fire_in_time_order_and_the_run_is_bounded(tmp_path):
    cfg = _cfg(("hourly.toml", "0 * * * *"), ("daily.toml", "0 3 * * *"))
    fired: list[tuple[str, int]] = []

    def runner(job, at):
        fired.append((job.config, at))
        return RunRecord(at, job.config, "kept", message="ok")

    clock = FakeClock()
    records = run_schedule(cfg, runner, clock=clock, log_dir=tmp_path, max_runs=5)
    hours = [(c, datetime.fromtimestamp(t / 1000, UTC).hour) for c, t in fired]
    # 01:00, 02:00, then 03:00 fires both: config order decides (hourly first)
    assert hours == [("hourly.toml", 1), ("hourly.toml", 2), ("hourly.toml", 3),
                     ("daily.toml", 3), ("hourly.toml", 4)]
    assert clock.sleeps[0] == 1800.0 and len(records) == 5
    lines = (tmp_path / "schedule.log").read_text().splitlines()
    assert [json.loads(x)["job"] for x in lines] == [c for c, _ in fired]


def test_bad_cron_and_bounds_are_refused(tmp_path):
    with pytest.raises(ValidationError, match="5 fields"):
        ScheduleJob(config="x.toml", cron="0 3 * *")
    with pytest.raises(ConfigError, match="cron '61 3 \\* \\* \\*'"):
        run_schedule(_cfg(("x.toml", "61 3 * * *")), lambda j, t: None, clock=FakeClock(),
                     log_dir=tmp_path, max_runs=1)
    with pytest.raises(ConfigError, match="max_runs"):
        run_schedule(_cfg(("x.toml", "0 3 * * *")), lambda j, t: None, clock=FakeClock(),
                     log_dir=tmp_path, max_runs=0)


def test_next_fire_is_strictly_after():
    at = datetime(2024, 1, 1, 3, 0, tzinfo=UTC)
    assert next_fire("0 3 * * *", at) == at + timedelta(days=1)


def test_crontab_lines(tmp_path):
    lines = crontab_lines(_cfg(("jobs/a.toml", "15 2 * * 1")), catalog=tmp_path / "cat",
                          base_dir=tmp_path)
    assert lines[0] == "CRON_TZ=UTC"
    assert lines[1].startswith("15 2 * * 1 tradeloom --catalog ")
    assert f"retrain {tmp_path}/jobs/a.toml --quiet >> " in lines[1]


@pytest.fixture(scope="module")
def catalog(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("sched")
    sample_store(root)
    return root


def _write_retrain(path: Path) -> None:
    t = train_dict()
    lines = ['holdout_bars = 300', "[train]", f'name = "{t["name"]}"', "[train.data]",
             'symbols = ["BTC/USDT", "ETH/USDT"]', 'start = "2021-01-01"', 'end = "2021-04-01"',
             "[train.model]", 'params = { n_estimators = 30, num_leaves = 7 }', "[train.cv]",
             "n_splits = 2"]
    path.write_text("\n".join(lines) + "\n")


def test_real_retrain_runs_skip_while_another_process_trains(catalog, tmp_path):
    _write_retrain(tmp_path / "retrain.toml")
    cfg = _cfg(("retrain.toml", "0 3 * * *"))
    runner = retrain_runner(catalog, tmp_path)
    reg = ModelRegistry(catalog)
    with reg.training_lock("btc_dir"):  # another scheduler holds the model
        busy = run_schedule(cfg, runner, clock=FakeClock(), log_dir=tmp_path, max_runs=1)
    assert busy[0].status == "skipped" and "held by another process" in busy[0].message
    assert reg.list_versions("btc_dir") == []
    done = run_schedule(cfg, runner, clock=FakeClock(), log_dir=tmp_path, max_runs=2)
    assert done[0].status == "promoted" and done[0].challenger == "btc_dir@1"
    assert done[1].status == "replayed"  # the next day, same data: same decision, no new model
    assert [v.version for v in reg.list_versions("btc_dir")] == [1]
    created = reg.get("btc_dir@1").created_at
    assert created == int(datetime(2024, 1, 1, 3, tzinfo=UTC).timestamp() * 1000)


def test_failed_runs_are_logged_and_the_schedule_goes_on(catalog, tmp_path):
    cfg = _cfg(("missing.toml", "0 3 * * *"))
    recs = run_schedule(cfg, retrain_runner(catalog, tmp_path), clock=FakeClock(),
                        log_dir=tmp_path, max_runs=2)
    assert [r.status for r in recs] == ["failed", "failed"]
    assert "does not exist" in recs[0].message
