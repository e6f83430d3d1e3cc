"""Run retrain jobs on cron expressions in one long-running process that keeps going.

``run_schedule`` is a small loop over APScheduler's ``CronTrigger`` (it computes
the fire times; the loop sleeps until the next one and runs the job in the
foreground). The loop takes the one ``adapters.clock.Clock`` (``now_ms`` and the
blocking ``sleep_sync``), so tests drive it with a ``ManualClock`` that never really
sleeps, and ``max_runs`` bounds it. Cron expressions are read in UTC.

**Cron semantics are crontab's** (cronie, Vixie cron), so the schedule and the
printed crontab fire at the same times: day of week 0 and 7 are Sunday, and
when both day of month and day of week are restricted, either one matching
fires. (APScheduler's ``CronTrigger.from_crontab`` reads 0 as Monday and requires
both fields to match; expressions are translated before it sees them.)

**It keeps going.** Any exception a run raises (``Exception``: a bad config, a
missing file, a bug) is logged with its traceback (``logging`` and the run's
record in ``schedule.log``) as ``failed``, and the next fire time is kept.
Only ``KeyboardInterrupt`` / ``SystemExit`` stop the loop.

**No backlog.** A run can outlast the next fire time of its own job or of
another one. When it ends, the fire times that have passed meanwhile are
*coalesced*: of each job's passed fire times only the latest still runs (late,
right away), every earlier one is skipped and logged as one ``missed`` record
(how many, the first and the last). So a slow job never makes the schedule run
the same job several times in a row to catch up, and two jobs due at the same
minute both run, in config order.

**One trainer per model.** Every run goes through ``retrain``, which holds the
model's lock file (``<catalog>/models/<name>.train.lock``) while it trains; a run
that finds the lock taken (another scheduler, or a manual ``tradeloom retrain``)
is logged as ``skipped`` and the schedule goes on.

**Logs.** Each record is one JSON line in ``<catalog>/models/schedule.log``
(fired_at, job, status, challenger, champion, message, traceback) and a
``logging`` line (errors at ERROR level with the traceback).

**Cron instead** (``crontab_lines``, ``tradeloom schedule --print-crontab``): one
line per job running the venv's ``tradeloom`` by its absolute path (cron's PATH
does not hold the venv), with ``--catalog`` and the retrain config as absolute
paths, after a ``CRON_TZ=UTC`` line: cronie (Fedora, RHEL, Arch, openSUSE) reads
the expressions that follow in UTC. A cron that ignores ``CRON_TZ`` (see ``man
5 crontab`` on the host) reads them in the host's time zone; for that case the
output ends with a commented alternative, a single every-minute line running
``tradeloom schedule CONFIG --run-due``, which runs the jobs whose UTC cron
expression matches the current UTC minute and exits: the time zone is then
decided by tradeloom, not by cron, on any cron.

>>> from datetime import datetime, timezone
>>> next_fire("0 3 * * *", datetime(2024, 1, 1, 5, 0, tzinfo=timezone.utc)).isoformat()
'2024-01-02T03:00:00+00:00'
>>> due_now("0 3 * * *", datetime(2024, 1, 1, 3, 0, 40, tzinfo=timezone.utc))
True
"""

from __future__ import annotations

import json
import logging
import shlex
import shutil
import sys
import traceback
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from tradeloom.adapters.clock import Clock
from tradeloom.engine.errors import ConfigError, TradeloomError
from tradeloom.research.ml.config import RetrainConfig, ScheduleConfig, ScheduleJob

__all__ = ["RunRecord", "crontab_lines", "due_now", "next_fire", "retrain_runner",
           "run_due", "run_schedule", "tradeloom_executable"]

log = logging.getLogger("tradeloom.schedule")
LOG_FILE = "schedule.log"
STATUSES = ("promoted", "kept", "replayed", "skipped", "failed", "missed")


def _utc(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, UTC)


def _ms(at: datetime) -> int:
    return int(at.timestamp() * 1000)


_DAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")


def _cron_weekdays(field: str, cron: str) -> str:
    """A crontab day-of-week field as APScheduler's explicit day names (0 and 7 = Sunday).

    >>> _cron_weekdays("1-5", ""), _cron_weekdays("0", ""), _cron_weekdays("*/2", "")
    ('mon,tue,wed,thu,fri', 'sun', 'tue,thu,sat,sun')
    """
    if field == "*":
        return "*"
    days: set[int] = set()

    def num(tok: str) -> int:
        t = tok.lower()
        if t[:3] in _DAYS and len(t) == 3:
            return _DAYS.index(t)
        if not t.isdigit() or int(t) > 7:
            raise ConfigError(f"cron {cron!r}: day of week {tok!r} must be 0-7 or sun..sat")
        return int(t)

    for item in field.split(","):
        rng, _, step_s = item.partition("/")
        step = int(step_s) if step_s.isdigit() and int(step_s) > 0 else None
        if step_s and step is None:
            raise ConfigError(f"cron {cron!r}: bad step in day of week {item!r}")
        if rng == "*":
            lo, hi = 0, 6
        elif "-" in rng:
            a, b = rng.split("-", 1)
            lo, hi = num(a), num(b)
            if hi < lo:
                raise ConfigError(f"cron {cron!r}: day-of-week range {rng!r} runs backwards")
        else:
            lo = num(rng)
            hi = 7 if step else lo
        days.update(d % 7 for d in range(lo, hi + 1, step or 1))
    return ",".join(_DAYS[d] for d in (1, 2, 3, 4, 5, 6, 0) if d in days)


def _trigger(cron: str) -> Any:
    """APScheduler trigger firing exactly when crontab would (see the module doc)."""
    from apscheduler.triggers.combining import OrTrigger
    from apscheduler.triggers.cron import CronTrigger

    fields = cron.split()
    if len(fields) != 5:
        raise ConfigError(f"cron {cron!r} must have 5 fields: minute hour day month weekday")
    minute, hour, day, month, dow = fields
    try:
        names = _cron_weekdays(dow, cron)

        def make(d: str, w: str) -> Any:
            return CronTrigger(minute=minute, hour=hour, day=d, month=month, day_of_week=w,
                               timezone=UTC)

        if day != "*" and names != "*":  # crontab: either field matching fires
            return OrTrigger([make(day, "*"), make("*", names)])
        return make(day, names)
    except ValueError as exc:
        raise ConfigError(f"cron {cron!r}: {exc}; use 5 fields like '0 3 * * *'") from None


def next_fire(cron: str, after: datetime) -> datetime:
    """First fire time of ``cron`` strictly after ``after`` (UTC)."""
    nxt = _trigger(cron).get_next_fire_time(None, after + timedelta(microseconds=1))
    if nxt is None:
        raise ConfigError(f"cron {cron!r} never fires after {after.isoformat()}")
    return nxt.astimezone(UTC)


def due_now(cron: str, now: datetime) -> bool:
    """True when ``cron`` (UTC) fires within the minute ``now`` falls in."""
    minute = now.astimezone(UTC).replace(second=0, microsecond=0)
    return next_fire(cron, minute - timedelta(microseconds=1)) == minute


@dataclass(frozen=True)
class RunRecord:
    """One scheduled run (or a group of skipped fire times): when, which job, what came of it.

    ``status``: promoted | kept | replayed (a run's outcome), skipped (the model was
    being trained elsewhere), failed (an exception: ``message`` and ``traceback``),
    missed (fire times that passed while another run was busy).
    """

    fired_at: int
    job: str
    status: str
    challenger: str | None = None
    champion: str | None = None
    message: str = ""
    traceback: str = ""


Runner = Callable[[ScheduleJob, int], RunRecord]


def retrain_runner(catalog: Path, base_dir: Path,
                   progress: Callable[[str, int, int], None] | None = None) -> Runner:
    """A runner that loads the job's retrain config (relative to ``base_dir``) and retrains
    against the store and registry at ``catalog``, with ``created_at`` = the fire time.
    Errors the user can fix (``TradeloomError``) become ``failed`` records here; anything
    else propagates to ``run_schedule``, which logs its traceback."""
    from tradeloom.adapters.config.files import load_config
    from tradeloom.adapters.store.market_store import MarketStore
    from tradeloom.research.ml.registry import ModelRegistry, TrainingInProgress
    from tradeloom.research.ml.retrain import retrain

    def run(job: ScheduleJob, fired_at: int) -> RunRecord:
        try:
            cfg = load_config(RetrainConfig, base_dir / job.config)
            d = retrain(cfg, MarketStore(catalog), ModelRegistry(catalog), created_at=fired_at,
                        progress=progress)
        except TrainingInProgress as exc:
            return RunRecord(fired_at, job.config, "skipped", message=str(exc))
        except TradeloomError as exc:
            return RunRecord(fired_at, job.config, "failed", message=str(exc))
        status = "replayed" if d.replayed else ("promoted" if d.promoted else "kept")
        return RunRecord(fired_at, job.config, status, d.challenger, d.champion, d.reason)

    return run


def _write(log_dir: Path, rec: RunRecord) -> None:
    with open(log_dir / LOG_FILE, "a", encoding="utf-8") as fh:
        fh.write(json.dumps(asdict(rec), sort_keys=True) + "\n")


def _run_one(runner: Runner, job: ScheduleJob, fired: datetime) -> RunRecord:
    """The runner's record, or a ``failed`` one carrying the traceback of what it raised."""
    try:
        return runner(job, _ms(fired))
    except Exception as exc:  # noqa: BLE001 - the schedule must outlive any job's error
        tb = traceback.format_exc()
        log.error("schedule %s at %s raised %s: %s", job.config, fired.isoformat(),
                  type(exc).__name__, exc, exc_info=True)
        return RunRecord(_ms(fired), job.config, "failed",
                         message=f"{type(exc).__name__}: {exc}", traceback=tb)


def _report(rec: RunRecord, log_dir: Path, on_run: Callable[[RunRecord], None] | None) -> None:
    _write(log_dir, rec)
    level = logging.WARNING if rec.status in ("failed", "missed") else logging.INFO
    log.log(level, "schedule %s at %s: %s %s", rec.job, _utc(rec.fired_at).isoformat(),
            rec.status, rec.message)
    if on_run is not None:
        on_run(rec)


def _coalesce(cfg: ScheduleConfig, due: list[datetime], now: datetime, busy: str
              ) -> list[RunRecord]:
    """Skip every passed fire time but each job's latest (see the module doc); one
    ``missed`` record per job that lost some."""
    out = []
    for k, job in enumerate(cfg.jobs):
        skipped: list[datetime] = []
        while (nxt := next_fire(job.cron, due[k])) <= now:
            skipped.append(due[k])
            due[k] = nxt
        if skipped:
            out.append(RunRecord(
                _ms(skipped[0]), job.config, "missed",
                message=f"{len(skipped)} fire time(s) from {skipped[0].isoformat()} to "
                f"{skipped[-1].isoformat()} passed while {busy} ran (until {now.isoformat()}); "
                f"skipped, the latest ({due[k].isoformat()}) runs now"))
    return out


def run_schedule(cfg: ScheduleConfig, runner: Runner, *, clock: Clock, log_dir: Path,
                 max_runs: int | None = None,
                 on_run: Callable[[RunRecord], None] | None = None) -> list[RunRecord]:
    """Fire ``runner`` for each job at its cron times until ``max_runs`` runs (forever if None).

    Jobs due at the same time run in config order. Returns the records (runs and
    ``missed`` groups; only runs count towards ``max_runs``), also appended to
    ``log_dir/schedule.log``.
    """
    if max_runs is not None and max_runs < 1:
        raise ConfigError(f"max_runs must be >= 1 (or None: run forever), got {max_runs}")
    for job in cfg.jobs:
        _trigger(job.cron)
    log_dir.mkdir(parents=True, exist_ok=True)
    start = _utc(clock.now_ms())
    due = [next_fire(job.cron, start) for job in cfg.jobs]
    records: list[RunRecord] = []
    runs = 0
    while max_runs is None or runs < max_runs:
        i = min(range(len(due)), key=lambda k: (due[k], k))
        wait = (due[i] - _utc(clock.now_ms())).total_seconds()
        if wait > 0:
            clock.sleep_sync(wait)
        fired = due[i]
        rec = _run_one(runner, cfg.jobs[i], fired)
        runs += 1
        records.append(rec)
        _report(rec, log_dir, on_run)
        due[i] = next_fire(cfg.jobs[i].cron, fired)
        for missed in _coalesce(cfg, due, _utc(clock.now_ms()),
                                f"{cfg.jobs[i].config} (fired {fired.isoformat()})"):
            records.append(missed)
            _report(missed, log_dir, on_run)
    return records


def run_due(cfg: ScheduleConfig, runner: Runner, *, clock: Clock, log_dir: Path,
            on_run: Callable[[RunRecord], None] | None = None) -> list[RunRecord]:
    """Run, once, the jobs whose UTC cron expression matches the current UTC minute (in
    config order) and return their records: the every-minute cron line's work."""
    for job in cfg.jobs:
        _trigger(job.cron)
    log_dir.mkdir(parents=True, exist_ok=True)
    now = _utc(clock.now_ms())
    minute = now.replace(second=0, microsecond=0)
    out = []
    for job in cfg.jobs:
        if due_now(job.cron, now):
            rec = _run_one(runner, job, minute)
            out.append(rec)
            _report(rec, log_dir, on_run)
    return out


def tradeloom_executable() -> Path:
    """The absolute path of this environment's ``tradeloom`` script (the venv's ``bin``),
    or of the one on PATH; ConfigError when neither exists."""
    beside = Path(sys.executable).absolute().parent / "tradeloom"
    if beside.is_file():
        return beside
    found = shutil.which("tradeloom")
    if found:
        return Path(found).absolute()
    raise ConfigError("cannot find the tradeloom executable beside this Python "
                      f"({sys.executable}) or on PATH; install tradeloom into this environment")


def crontab_lines(cfg: ScheduleConfig, *, catalog: Path, base_dir: Path,
                  executable: Path | None = None, schedule_path: Path | None = None
                  ) -> list[str]:
    """Crontab lines running the same jobs (see the module doc): ``CRON_TZ=UTC``, one line
    per job with absolute paths, and the commented ``--run-due`` alternative."""
    exe = shlex.quote(str((executable or tradeloom_executable()).absolute()))
    cat = shlex.quote(str(catalog.resolve()))
    logf = shlex.quote(str((catalog / "models" / "retrain.log").resolve()))
    out = ["# tradeloom schedule: the cron expressions below are UTC.",
           "CRON_TZ=UTC"]
    for job in cfg.jobs:
        path = shlex.quote(str((base_dir / job.config).resolve()))
        out.append(f"{job.cron} {exe} --catalog {cat} retrain {path} --quiet >> {logf} 2>&1")
    if schedule_path is not None:
        sched = shlex.quote(str(schedule_path.resolve()))
        out += ["# If this host's cron ignores CRON_TZ (man 5 crontab), use this line instead of",
                "# the ones above: every minute, tradeloom runs the jobs due in that UTC minute.",
                f"# * * * * * {exe} --catalog {cat} schedule {sched} --run-due >> {logf} 2>&1"]
    return out
