"""``tradeloom train | retrain | models | schedule``: model training and the registry.

Every command reads the catalog chosen by the global ``--catalog`` option; models
live under ``<catalog>/models``. Long work shows a progress bar on stderr; results
print as tables. Errors the user can fix print in red on stderr, exit code 2.
This layer is the only one that reads the wall clock (``created_at``, event times),
through ``adapters.clock.SystemClock``.
The lead registers them in ``cli.py`` (see ``register``).
"""

from __future__ import annotations

import getpass
import json
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from tradeloom.adapters.clock import SystemClock
from tradeloom.cli import context as clictx
from tradeloom.cli import ml_views as views
from tradeloom.cli.errors import user_errors as _user_errors

__all__ = ["models_app", "retrain_command", "schedule_command", "train_command"]

#: The examples every --help shows; shipped in examples/ml and run by the tests.
TRAIN_EXAMPLE = "tradeloom train examples/ml/btc_direction.toml --report runs/btc_dir.html"
RETRAIN_EXAMPLE = "tradeloom retrain examples/ml/btc_direction_retrain.toml"
SCHEDULE_EXAMPLE = "tradeloom schedule examples/ml/schedule.toml --print-crontab"
SHOW_EXAMPLE = "tradeloom models show btc_dir@champion"

models_app = typer.Typer(
    help="List, inspect, promote and retire registered models.\n\n"
         "Example:  tradeloom models list && tradeloom models promote btc_dir@2 --why 'better AUC'",
    no_args_is_help=True)


def _who(who: str | None) -> str:
    if who:
        return who
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "cli"


@contextmanager
def _progress(enabled: bool) -> Iterator[Callable[[str, int, int], None] | None]:
    if not enabled:
        yield None
        return
    bar = Progress(TextColumn("{task.description:<9}"), BarColumn(), MofNCompleteColumn(),
                   TimeElapsedColumn(), console=Console(stderr=True), transient=True)
    task = bar.add_task("data", total=None)
    with bar:
        def update(step: str, done: int, total: int) -> None:
            bar.update(task, description=step, completed=done, total=total)

        yield update


def _open() -> tuple[Any, Any]:
    from tradeloom.research.ml.registry import ModelRegistry

    return clictx.open_store(), ModelRegistry(clictx.catalog_path())


def _write_report(registry: Any, version: Any, path: Path) -> None:
    from tradeloom.research.ml.report import write_training_report

    events = [e for e in registry.events(version.name) if e.version == version.version]
    path.parent.mkdir(parents=True, exist_ok=True)
    written = write_training_report(path, version, events)
    Console(stderr=True).print(f"training report: {escape(str(written))}")


def train_command(
    config: Path = typer.Argument(..., help="Train config (TOML), e.g. "
                                  "examples/ml/btc_direction.toml; see research/ml/config.py."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar, no table."),
    report: Path | None = typer.Option(None, "--report", help="Write the HTML training report "
                                       "(folds, baselines, calibration, lineage) here."),
) -> None:
    """Train a model with purged CV, evaluate it against baselines, register it.

    Prints the CV folds, the model's edge over the base-rate and
    previous-return-sign baselines with a 95% block-bootstrap interval, and
    calibration (ECE calibrated, raw and of the constant forecast, reliability
    bins). The first version of a model name becomes champion. Training the
    same config on the same data again returns the registered version.

    Example:
      tradeloom train examples/ml/btc_direction.toml --report runs/btc_dir.html
    """
    from tradeloom.adapters.config.files import load_config
    from tradeloom.research.ml.config import TrainConfig
    from tradeloom.research.ml.training import train

    with _user_errors():
        cfg = load_config(TrainConfig, config)
        store, registry = _open()
        with _progress(not quiet) as progress:
            res = train(cfg, store, registry, created_at=SystemClock().now_ms(), progress=progress)
    v = res.version
    if report is not None:
        with _user_errors():
            _write_report(registry, v, report)
    if quiet:
        typer.echo(v.ref)
        return
    console = Console()
    note = " (already registered: same config and data)" if res.reused else ""
    console.print(f"[bold]{v.ref}[/] {v.status}{note}  data {v.data_fingerprint[:12]}  "
                  f"rows {v.scores.get('rows')}  code {escape(v.code_version)}")
    for table in views.version_tables(v.ref, dict(v.scores)):
        console.print(table)


def retrain_command(
    config: Path = typer.Argument(..., help="Retrain config (TOML): a [train] table + holdout."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar; one line out."),
) -> None:
    """Train a challenger, test it against the champion on a holdout, promote or keep.

    Promotion needs a gain above the configured margin (default 0.01) and a
    one-sided paired test on the same holdout rows below alpha (default 5%:
    DeLong for AUC, block bootstrap otherwise). The decision, the test with its
    p-value and both models' holdout figures are recorded in the registry.
    Running it again on the same data replays the recorded decision, unless
    the champion changed since.

    Example:  tradeloom retrain examples/ml/btc_direction_retrain.toml
    """
    from tradeloom.adapters.config.files import load_config
    from tradeloom.research.ml.config import RetrainConfig
    from tradeloom.research.ml.retrain import retrain

    with _user_errors():
        cfg = load_config(RetrainConfig, config)
        store, registry = _open()
        with _progress(not quiet) as progress:
            d = retrain(cfg, store, registry, created_at=SystemClock().now_ms(), progress=progress)
    verdict = "promoted" if d.promoted else "kept champion"
    if quiet:
        typer.echo(f"{verdict}: {d.reason}{' (replayed)' if d.replayed else ''}")
        return
    console = Console()
    console.print(views.decision_table(d))
    console.print(escape(d.reason))


@models_app.command("list")
def models_list(
    name: str | None = typer.Argument(None, help="Only this model name."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table."),
) -> None:
    """List registered model versions.

    Example:  tradeloom models list btc_dir
    """
    with _user_errors():
        _, registry = _open()
        versions = registry.list_versions(name)
    if as_json:
        typer.echo(json.dumps([{"ref": v.ref, "status": v.status, "kind": v.kind,
                                "created_at": v.created_at, "auc": v.scores.get("cv", {}).get("auc"),
                                "code_version": v.code_version} for v in versions]))
        return
    table = Table(title=f"models in {registry.dir}")
    for col in ("ref", "status", "kind", "created_at", "data", "cv auc", "cv brier"):
        table.add_column(col)
    for v in versions:
        cv = v.scores.get("cv", {})
        created = time.strftime("%Y-%m-%d %H:%M", time.gmtime(v.created_at / 1000))
        table.add_row(v.ref, v.status, v.kind, created, ",".join(v.data.get("symbols", [])),
                      views.fmt(cv.get("auc")), views.fmt(cv.get("brier")))
    Console().print(table)


@models_app.command("show")
def models_show(
    ref: str = typer.Argument(..., help="name, name@champion, name@latest or name@3"),
    report: Path | None = typer.Option(None, "--report", help="Also write its HTML training "
                                       "report here."),
) -> None:
    """Show one version's lineage, scores, baselines, calibration and events.

    Lineage: code version and git commit, library versions, the full validated
    config, data range and fingerprint, feature and label specs. Events include
    retrain decisions with their paired test and p-value.

    Example:  tradeloom models show btc_dir@champion
    """
    with _user_errors():
        _, registry = _open()
        v = registry.get(ref)
        events = [e for e in registry.events(v.name) if e.version == v.version]
        if report is not None:
            _write_report(registry, v, report)
    views.print_version(Console(), v, events)


@models_app.command("promote")
def models_promote(
    ref: str = typer.Argument(..., help="Version to promote, e.g. btc_dir@3."),
    why: str = typer.Option(..., "--why", help="Reason, recorded with the promotion."),
    who: str | None = typer.Option(None, "--who", help="Recorded operator (default: $USER)."),
) -> None:
    """Make a version the champion (the previous champion is retired).

    Example:  tradeloom models promote btc_dir@3 --why "beat @2 on the Q3 holdout"
    """
    with _user_errors():
        _, registry = _open()
        v = registry.promote(ref, who=_who(who), when=SystemClock().now_ms(), why=why)
    typer.echo(f"{v.ref} is now champion")


@models_app.command("retire")
def models_retire(
    ref: str = typer.Argument(..., help="Version to retire, e.g. btc_dir@1."),
    why: str = typer.Option(..., "--why", help="Reason, recorded with the change."),
    who: str | None = typer.Option(None, "--who", help="Recorded operator (default: $USER)."),
) -> None:
    """Retire a version (retiring the champion leaves the model without one).

    Example:  tradeloom models retire btc_dir@1 --why "superseded"
    """
    with _user_errors():
        _, registry = _open()
        v = registry.retire(ref, who=_who(who), when=SystemClock().now_ms(), why=why)
    typer.echo(f"{v.ref} is now retired")


def schedule_command(
    config: Path = typer.Argument(..., help="Schedule config (TOML): jobs, each a retrain "
                                  "config and a cron expression."),
    print_crontab: bool = typer.Option(False, "--print-crontab", help="Print the equivalent "
                                       "crontab (CRON_TZ=UTC, the venv's absolute tradeloom) "
                                       "and exit."),
    run_due: bool = typer.Option(False, "--run-due", help="Run the jobs due in the current UTC "
                                 "minute once and exit (for a cron without CRON_TZ)."),
    max_runs: int | None = typer.Option(None, "--max-runs", min=1, help="Stop after N runs "
                                        "(default: run until interrupted)."),
) -> None:
    """Run retrain jobs on cron expressions (UTC) in this process.

    Each run is logged to <catalog>/models/schedule.log. A run that raises is
    logged with its traceback and the schedule goes on; fire times that pass
    while a run is busy are skipped and logged (never a backlog); a run whose
    model is being trained elsewhere is skipped.

    Example:  tradeloom schedule examples/ml/schedule.toml --print-crontab
    """
    from tradeloom.adapters.config.files import load_config
    from tradeloom.research.ml.config import ScheduleConfig
    from tradeloom.research.ml.schedule import (
        crontab_lines,
        retrain_runner,
        run_schedule,
    )
    from tradeloom.research.ml.schedule import (
        run_due as run_due_now,
    )

    with _user_errors():
        cfg = load_config(ScheduleConfig, config)
        catalog = clictx.catalog_path()
        base = config.resolve().parent
        if print_crontab:
            for line in crontab_lines(cfg, catalog=catalog, base_dir=base, schedule_path=config):
                typer.echo(line)
            return
        console = Console()

        def show(rec: Any) -> None:
            console.print(escape(f"{rec.job}: {rec.status} {rec.message}"), highlight=False)

        if run_due:
            run_due_now(cfg, retrain_runner(catalog, base), clock=SystemClock(),
                        log_dir=catalog / "models", on_run=show)
            return
        try:
            run_schedule(cfg, retrain_runner(catalog, base), clock=SystemClock(),
                         log_dir=catalog / "models", max_runs=max_runs, on_run=show)
        except KeyboardInterrupt:
            console.print("schedule stopped")
