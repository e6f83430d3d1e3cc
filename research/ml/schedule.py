"""Run retrain jobs on cron expressions in one long-running process.

``run_schedule`` is a small loop over APScheduler's ``CronTrigger`` (it computes
the fire times; the loop sleeps until the next one and runs the job in the
foreground). The loop takes the one ``adapters.clock.Clock`` (``now_ms`` and the
blocking ``sleep_sync``), so tests drive it with a ``ManualClock`` that never really
sleeps, and ``max_runs`` bounds it. Cron expressions are read in UTC.

**One trainer per model.** Every run goes through ``retrain``, which holds the
model's lock file (``<catalog>/models/<name>.train.lock``) while it trains; a run
that finds the lock taken (another scheduler, or a manual ``tradeloom retrain``)
is logged as ``skipped`` and the schedule goes on.

**Logs.** Each run appends one JSON line to ``<catalog>/models/schedule.log``
(fired_at, job, status, challenger, champion, promoted, message) and logs it with
``logging``. A run that fails with a ``TradeloomError`` (bad config, missing
data) is logged as ``failed`` and does not stop the schedule; anything else is a
bug and stops it.

``crontab_lines`` prints the equivalent crontab for people who prefer cron or an
orchestrator.

>>> from datetime import datetime, timezone
>>> next_fire("0 3 * * *", datetime(2024, 1, 1, 5, 0, tzinfo=timezone.utc)).isoformat()
'2024-01-02T03:00:00+00:00'
"""

from __future__ import annotations

import json
import logging
import shlex
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from tradeloom.adapters.clock import Clock
from tradeloom.engine.errors import ConfigError, TradeloomError

from tradeloom.research.ml.config import RetrainConfig, ScheduleConfig, ScheduleJob

__all__ = ["RunRecord", "crontab_lines", "next_fire", "retrain_runner", "run_schedule"]

log = logging.getLogger("tradeloom.schedule")
LOG_FILE = "schedule.log"


def _utc(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, UTC)


def _trigger(cron: str) -> Any:
    from apscheduler.triggers.cron import CronTrigger

    try:
        return CronTrigger.from_crontab(cron, timezone=UTC)
    except ValueError as exc:
        raise ConfigError(f"cron {cron!r}: {exc}; use 5 fields like '0 3 * * *'") from None


def next_fire(cron: str, after: datetime) -> datetime:
    """First fire time of ``cron`` strictly after ``after`` (UTC)."""
    nxt = _trigger(cron).get_next_fire_time(None, after + timedelta(microseconds=1))
    if nxt is None:
        raise ConfigError(f"cron {cron!r} never fires after {after.isoformat()}")
    return nxt.astimezone(UTC)


@dataclass(frozen=True)
class RunRecord:
    """One scheduled run: when, which job, and what came of it."""

    fired_at: int
    job: str
    status: str  # promoted | kept | replayed | skipped | failed
    challenger: str | None = None
    champion: str | None = None
    message: str = ""


Runner = Callable[[ScheduleJob, int], RunRecord]


def retrain_runner(catalog: Path, base_dir: Path,
                   progress: Callable[[str, int, int], None] | None = None) -> Runner:
    """A runner that loads the job's retrain config (relative to ``base_dir``) and retrains
    against the store and registry at ``catalog``, with ``created_at`` = the fire time."""
    from tradeloom.adapters.store.market_store import MarketStore

    from tradeloom.adapters.config.files import load_config

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


def run_schedule(cfg: ScheduleConfig, runner: Runner, *, clock: Clock, log_dir: Path,
                 max_runs: int | None = None,
                 on_run: Callable[[RunRecord], None] | None = None) -> list[RunRecord]:
    """Fire ``runner`` for each job at its cron times until ``max_runs`` runs (forever if None).

    Jobs due at the same time run in config order. Returns the run records (also
    appended to ``log_dir/schedule.log``).
    """
    if max_runs is not None and max_runs < 1:
        raise ConfigError(f"max_runs must be >= 1 (or None: run forever), got {max_runs}")
    for job in cfg.jobs:
        _trigger(job.cron)
    log_dir.mkdir(parents=True, exist_ok=True)
    start = _utc(clock.now_ms())
    due = [next_fire(job.cron, start) for job in cfg.jobs]
    records: list[RunRecord] = []
    while max_runs is None or len(records) < max_runs:
        i = min(range(len(due)), key=lambda k: (due[k], k))
        wait = (due[i] - _utc(clock.now_ms())).total_seconds()
        if wait > 0:
            clock.sleep_sync(wait)
        fired = due[i]
        rec = runner(cfg.jobs[i], int(fired.timestamp() * 1000))
        records.append(rec)
        with open(log_dir / LOG_FILE, "a", encoding="utf-8") as fh:
            fh.write(json.dumps(asdict(rec), sort_keys=True) + "\n")
        log.info("schedule %s at %s: %s %s", rec.job, fired.isoformat(), rec.status, rec.message)
        if on_run is not None:
            on_run(rec)
        due[i] = next_fire(cfg.jobs[i].cron, fired)
    return records


def crontab_lines(cfg: ScheduleConfig, *, catalog: Path, base_dir: Path,
                  command: Sequence[str] = ("tradeloom",)) -> list[str]:
    """Crontab lines running the same jobs with ``tradeloom retrain`` (UTC via CRON_TZ)."""
    exe = " ".join(shlex.quote(c) for c in command)
    cat = shlex.quote(str(catalog.resolve()))
    out = ["CRON_TZ=UTC"]
    for job in cfg.jobs:
        path = shlex.quote(str((base_dir / job.config).resolve()))
        logf = shlex.quote(str((catalog / "models" / "retrain.log").resolve()))
        out.append(f"{job.cron} {exe} --catalog {cat} retrain {path} --quiet >> {logf} 2>&1")
    return out
