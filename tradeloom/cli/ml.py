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
import math
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
from tradeloom.cli.errors import user_errors as _user_errors

__all__ = ["models_app", "retrain_command", "schedule_command", "train_command"]

TRAIN_EXAMPLE = "tradeloom train configs/btc_dir.toml"
RETRAIN_EXAMPLE = "tradeloom retrain configs/btc_dir_retrain.toml"
SCHEDULE_EXAMPLE = "tradeloom schedule configs/schedule.toml --print-crontab"

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


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return "n/a" if not math.isfinite(v) else f"{v:,.4f}"
    return "n/a" if v is None else str(v)


def _open() -> tuple[Any, Any]:
    from tradeloom.research.ml.registry import ModelRegistry

    return clictx.open_store(), ModelRegistry(clictx.catalog_path())


def _version_table(title: str, scores: dict[str, Any]) -> Table:
    table = Table(title=title)
    for col in ("fold", "n_test", "auc", "log_loss", "brier", "hit_rate", "bt_total_return",
                "bt_sharpe"):
        table.add_column(col, justify="right")
    for row in scores.get("folds", []):
        table.add_row(*(_fmt(row.get(c)) for c in ("fold", "n_test", "auc", "log_loss", "brier",
                                                   "hit_rate", "bt_total_return", "bt_sharpe")))
    cv = scores.get("cv", {})
    bt = scores.get("backtest_mean", {})
    table.add_row("overall", _fmt(cv.get("n")), _fmt(cv.get("auc")), _fmt(cv.get("log_loss")),
                  _fmt(cv.get("brier")), _fmt(cv.get("hit_rate")), _fmt(bt.get("total_return")),
                  _fmt(bt.get("sharpe")), style="bold")
    return table


def train_command(
    config: Path = typer.Argument(..., help="Train config (TOML), see research/ml/config.py."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar, no table."),
) -> None:
    """Train a model with purged walk-forward CV and register it.

    The first version of a model name becomes champion (champion_if_first).
    Training the same config on the same data again returns the registered version.

    Example:  tradeloom train configs/btc_dir.toml
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
    if quiet:
        typer.echo(v.ref)
        return
    console = Console()
    note = " (already registered: same config and data)" if res.reused else ""
    console.print(f"[bold]{v.ref}[/] {v.status}{note}  data {v.data_fingerprint[:12]}  "
                  f"rows {v.scores.get('rows')}")
    console.print(_version_table(f"{v.ref} purged walk-forward CV", dict(v.scores)))


def retrain_command(
    config: Path = typer.Argument(..., help="Retrain config (TOML): a [train] table + holdout."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar; one line out."),
) -> None:
    """Train a challenger, compare it with the champion on a recent holdout, promote or keep.

    The decision and both models' holdout figures are recorded in the registry.
    Running it again on the same data replays the recorded decision.

    Example:  tradeloom retrain configs/btc_dir_retrain.toml
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
    table = Table(title=f"retrain {d.name}: {verdict}{' (replayed)' if d.replayed else ''}")
    for col in ("model", "ref", "auc", "log_loss", "brier", "hit_rate", "bt_total_return",
                "bt_sharpe"):
        table.add_column(col, justify="right")
    for key in ("challenger", "champion"):
        f = d.figures.get(key)
        if f:
            s, b = f["scores"], f["backtest"]
            table.add_row(key, f["ref"], _fmt(s.get("auc")), _fmt(s.get("log_loss")),
                          _fmt(s.get("brier")), _fmt(s.get("hit_rate")),
                          _fmt(b.get("total_return")), _fmt(b.get("sharpe")))
    console = Console()
    console.print(table)
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
                                "created_at": v.created_at, "auc": v.scores.get("cv", {}).get("auc")}
                               for v in versions]))
        return
    table = Table(title=f"models in {registry.dir}")
    for col in ("ref", "status", "kind", "created_at", "data", "cv auc", "cv brier"):
        table.add_column(col)
    for v in versions:
        cv = v.scores.get("cv", {})
        created = time.strftime("%Y-%m-%d %H:%M", time.gmtime(v.created_at / 1000))
        table.add_row(v.ref, v.status, v.kind, created, ",".join(v.data.get("symbols", [])),
                      _fmt(cv.get("auc")), _fmt(cv.get("brier")))
    Console().print(table)


@models_app.command("show")
def models_show(ref: str = typer.Argument(..., help="name, name@champion, name@latest or name@3")) -> None:
    """Show one version: data, features, label, model, scores and its events.

    Example:  tradeloom models show btc_dir@champion
    """
    with _user_errors():
        _, registry = _open()
        v = registry.get(ref)
        events = [e for e in registry.events(v.name) if e.version == v.version]
    console = Console()
    console.print(f"[bold]{v.ref}[/] {v.status} {v.kind}  code {v.code_version}  "
                  f"artifact {v.artifact_sha256[:12]}  config {v.config_hash[:12]}")
    console.print(escape(f"data: {json.dumps(dict(v.data))}  fingerprint {v.data_fingerprint}"))
    console.print(escape(f"label: {json.dumps(dict(v.label))}"))
    console.print(escape(f"model: {json.dumps(dict(v.model))}"))
    console.print(f"features: {len(v.pipeline.get('features', []))}")
    console.print(_version_table(f"{v.ref} CV", dict(v.scores)))
    for e in events:
        when = time.strftime("%Y-%m-%d %H:%M", time.gmtime(e.ts / 1000))
        console.print(escape(f"{when} {e.event} by {e.who}: {e.why}"))


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
    config: Path = typer.Argument(..., help="Schedule config (TOML) with [[jobs]] config + cron."),
    print_crontab: bool = typer.Option(False, "--print-crontab", help="Print the equivalent "
                                       "crontab lines and exit."),
    max_runs: int | None = typer.Option(None, "--max-runs", min=1, help="Stop after N runs "
                                        "(default: run until interrupted)."),
) -> None:
    """Run retrain jobs on cron expressions (UTC) in this process, one trainer per model.

    Each run is logged to <catalog>/models/schedule.log; a run whose model is being
    trained elsewhere is skipped.

    Example:  tradeloom schedule configs/schedule.toml --print-crontab
    """
    from tradeloom.adapters.config.files import load_config
    from tradeloom.research.ml.config import ScheduleConfig
    from tradeloom.research.ml.schedule import crontab_lines, retrain_runner, run_schedule

    with _user_errors():
        cfg = load_config(ScheduleConfig, config)
        catalog = clictx.catalog_path()
        base = config.resolve().parent
        if print_crontab:
            for line in crontab_lines(cfg, catalog=catalog, base_dir=base):
                typer.echo(line)
            return
        console = Console()

        def show(rec: Any) -> None:
            console.print(escape(f"{rec.job}: {rec.status} {rec.message}"), highlight=False)

        try:
            run_schedule(cfg, retrain_runner(catalog, base), clock=SystemClock(),
                         log_dir=catalog / "models", max_runs=max_runs, on_run=show)
        except KeyboardInterrupt:
            console.print("schedule stopped")
