"""The schedule loop: cron fire times, a ManualClock, bounded runs, the lock, errors that do
not stop it, overruns that are skipped (never a backlog), and the crontab it prints."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from ml_helpers import sample_store, train_dict
from pydantic import ValidationError

from tradeloom.adapters.clock import ManualClock
from tradeloom.engine.errors import ConfigError
from tradeloom.research.ml.config import ScheduleConfig, ScheduleJob
from tradeloom.research.ml.registry import ModelRegistry
from tradeloom.research.ml.schedule import (
    RunRecord,
    crontab_lines,
    next_fire,
    retrain_runner,
    run_due,
    run_schedule,
)

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


def _hour(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%H:%M")


def test_an_exception_is_logged_with_its_traceback_and_the_next_run_happens(tmp_path, caplog):
    calls = []

    def runner(job, at):
        calls.append(at)
        if len(calls) == 1:
            raise RuntimeError("disk full")  # not a TradeloomError: a bug or the host
        return RunRecord(at, job.config, "kept")

    with caplog.at_level("ERROR", logger="tradeloom.schedule"):
        recs = run_schedule(_cfg(("a.toml", "0 * * * *")), runner, clock=FakeClock(),
                            log_dir=tmp_path, max_runs=3)
    assert [r.status for r in recs] == ["failed", "kept", "kept"]
    assert [_hour(r.fired_at) for r in recs] == ["01:00", "02:00", "03:00"]
    assert recs[0].message == "RuntimeError: disk full"
    assert "Traceback" in recs[0].traceback and "disk full" in recs[0].traceback
    assert "RuntimeError: disk full" in caplog.text and "Traceback" in caplog.text
    logged = json.loads((tmp_path / "schedule.log").read_text().splitlines()[0])
    assert logged["status"] == "failed" and "raise RuntimeError" in logged["traceback"]


def test_interrupts_still_stop_it(tmp_path):
    def runner(job, at):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_schedule(_cfg(("a.toml", "0 * * * *")), runner, clock=FakeClock(), log_dir=tmp_path)


def test_an_overrun_skips_what_passed_and_never_builds_a_backlog(tmp_path):
    """Hourly job; the 01:00 run takes 2 h 30 min (until 03:30): 02:00 is skipped (logged
    as missed), 03:00 runs at once, late, exactly once; then the schedule is back on time."""
    clock = FakeClock()
    ran: list[tuple[str, str]] = []

    def runner(job, at):
        ran.append((_hour(at), _hour(clock.now_ms())))
        if len(ran) == 1:
            clock.sleep_sync(2.5 * 3600)
        return RunRecord(at, job.config, "kept")

    recs = run_schedule(_cfg(("h.toml", "0 * * * *")), runner, clock=clock, log_dir=tmp_path,
                        max_runs=4)
    # (fire time, clock when it started)
    assert ran == [("01:00", "01:00"), ("03:00", "03:30"), ("04:00", "04:00"),
                   ("05:00", "05:00")]
    missed = [r for r in recs if r.status == "missed"]
    assert len(missed) == 1 and _hour(missed[0].fired_at) == "02:00"
    assert missed[0].message.startswith("1 fire time(s) from 2024-01-01T02:00:00+00:00")
    assert "passed while h.toml (fired 2024-01-01T01:00:00+00:00) ran" in missed[0].message
    assert len(recs) == 5  # 4 runs (max_runs counts runs) + 1 missed record


def test_a_slow_job_delays_but_does_not_cancel_one_due_at_the_same_time(tmp_path):
    clock = FakeClock()
    order = []

    def runner(job, at):
        order.append((job.config, _hour(clock.now_ms())))
        if job.config == "slow.toml":
            clock.sleep_sync(20 * 60)
        return RunRecord(at, job.config, "kept")

    recs = run_schedule(_cfg(("slow.toml", "0 3 * * *"), ("other.toml", "0 3 * * *")), runner,
                        clock=clock, log_dir=tmp_path, max_runs=2)
    assert order == [("slow.toml", "03:00"), ("other.toml", "03:20")]
    assert all(r.status == "kept" for r in recs)


def test_run_due_runs_what_matches_the_current_utc_minute(tmp_path):
    cfg = _cfg(("daily.toml", "0 3 * * *"), ("hourly.toml", "0 * * * *"),
               ("weekly.toml", "0 3 * * 0"))
    seen = []

    def runner(job, at):
        seen.append((job.config, _hour(at)))
        return RunRecord(at, job.config, "kept")

    # 2024-01-01 was a Monday: at 03:00:40 the daily and hourly jobs are due, not the weekly
    at = FakeClock(datetime(2024, 1, 1, 3, 0, 40, tzinfo=UTC))
    recs = run_due(cfg, runner, clock=at, log_dir=tmp_path)
    assert seen == [("daily.toml", "03:00"), ("hourly.toml", "03:00")] and len(recs) == 2
    assert run_due(cfg, runner, clock=FakeClock(datetime(2024, 1, 1, 3, 1, tzinfo=UTC)),
                   log_dir=tmp_path) == []


def test_crontab_lines(tmp_path):
    exe = tmp_path / "venv" / "bin" / "tradeloom"
    lines = crontab_lines(_cfg(("jobs/a.toml", "15 2 * * 1")), catalog=tmp_path / "cat",
                          base_dir=tmp_path, executable=exe,
                          schedule_path=tmp_path / "schedule.toml")
    assert lines[1] == "CRON_TZ=UTC"  # cronie reads what follows in UTC
    assert lines[2].startswith(f"15 2 * * 1 {exe} --catalog {tmp_path}/cat retrain ")
    assert f"retrain {tmp_path}/jobs/a.toml --quiet >> " in lines[2]
    # the alternative for crons without CRON_TZ: tradeloom decides the UTC minute itself
    assert lines[-1] == (f"# * * * * * {exe} --catalog {tmp_path}/cat schedule "
                         f"{tmp_path}/schedule.toml --run-due >> {tmp_path}/cat/models/"
                         "retrain.log 2>&1")


def test_the_default_executable_is_the_venvs_absolute_script(tmp_path):
    import sys
    from pathlib import Path as P

    lines = crontab_lines(_cfg(("a.toml", "0 3 * * *")), catalog=tmp_path, base_dir=tmp_path)
    exe = lines[2].split()[5]
    assert P(exe).is_absolute() and P(exe).name == "tradeloom"
    assert P(exe).parent == P(sys.executable).absolute().parent


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


class TestCrontabSemantics:
    """The in-process schedule fires when crontab would: 0 and 7 are Sunday, and a
    restricted day of month OR a restricted day of week fires (APScheduler's own
    from_crontab reads 0 as Monday and ANDs the two)."""

    @staticmethod
    def _fires(cron: str, n: int = 3) -> list[str]:
        at = datetime(2024, 1, 1, 4, tzinfo=UTC)  # Monday 2024-01-01 04:00
        out = []
        for _ in range(n):
            at = next_fire(cron, at)
            out.append(at.strftime("%a %d %b %H:%M"))
        return out

    def test_zero_and_seven_are_sunday(self):
        assert self._fires("0 3 * * 0") == self._fires("0 3 * * 7") == \
            ["Sun 07 Jan 03:00", "Sun 14 Jan 03:00", "Sun 21 Jan 03:00"]

    def test_weekday_ranges_lists_and_steps(self):
        assert self._fires("0 3 * * 1-5", 5) == ["Tue 02 Jan 03:00", "Wed 03 Jan 03:00",
                                                 "Thu 04 Jan 03:00", "Fri 05 Jan 03:00",
                                                 "Mon 08 Jan 03:00"]
        # */2 over 0..6 is Sun, Tue, Thu, Sat
        assert self._fires("0 3 * * */2", 4) == ["Tue 02 Jan 03:00", "Thu 04 Jan 03:00",
                                                 "Sat 06 Jan 03:00", "Sun 07 Jan 03:00"]

    def test_day_of_month_or_day_of_week(self):
        # "on the 1st and on Fridays": Fri 5, Fri 12, ... and Thu 1 Feb
        fires = self._fires("0 3 1 * 5", 6)
        assert fires == ["Fri 05 Jan 03:00", "Fri 12 Jan 03:00", "Fri 19 Jan 03:00",
                         "Fri 26 Jan 03:00", "Thu 01 Feb 03:00", "Fri 02 Feb 03:00"]

    def test_bad_weekdays_are_named(self):
        with pytest.raises(ConfigError, match="day of week '8' must be 0-7"):
            next_fire("0 3 * * 8", T0)
