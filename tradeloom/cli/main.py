"""The ``tradeloom`` command line.

Commands are grouped by workflow (data, research, trading); each sub-command lives
in its own module and reads the catalog location from ``tradeloom.cli.context``, so the
global ``--catalog`` option and ``TRADELOOM_CATALOG`` mean the same everywhere.
"""

from __future__ import annotations

import sys

import typer

from tradeloom._version import __version__
from tradeloom.cli import context as clictx
from tradeloom.cli.errors import report_error
from tradeloom.engine.errors import TradeloomError

app = typer.Typer(
    name="tradeloom",
    help=(
        "Deterministic crypto trading research: ingest exchange history, backtest, "
        "sweep, train, and trade the same strategy live.\n\n"
        "Quick start:  tradeloom data load-sample && tradeloom backtest "
        "research/strategies/sma_cross.py:SmaCross --symbols BTC/USDT --timeframe 1h"
    ),
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode="rich",
)


def _version_callback(value: bool) -> None:
    if value:
        typer.echo(f"tradeloom {__version__}")
        raise typer.Exit()


@app.callback()
def _global_options(
    catalog: str | None = typer.Option(
        None,
        "--catalog",
        help="Catalog directory (Parquet store + DuckDB catalog) or object store "
        "s3://bucket/prefix. Default: $TRADELOOM_CATALOG, else the project's datasets/catalog.",
        show_default=False,
    ),
    version: bool = typer.Option(
        False, "--version", callback=_version_callback, is_eager=True, help="Print the version and exit."
    ),
) -> None:
    clictx.set_catalog(catalog)


def _register() -> None:
    from tradeloom.cli.data import data_app
    from tradeloom.cli.ingest import ingest
    from tradeloom.cli.sample import load_sample_command

    data_app.command("load-sample", rich_help_panel="Data")(load_sample_command)
    app.add_typer(data_app, name="data", rich_help_panel="Data")
    app.command("ingest", rich_help_panel="Data")(ingest)
    from tradeloom.cli.backtest import backtest
    from tradeloom.cli.regress import regress
    from tradeloom.cli.research import sweep, walkforward

    app.command("backtest", rich_help_panel="Research")(backtest)
    app.command("sweep", rich_help_panel="Research")(sweep)
    app.command("walkforward", rich_help_panel="Research")(walkforward)
    from tradeloom.cli.optimize import optimize

    app.command("optimize", rich_help_panel="Research")(optimize)
    app.command("regress", rich_help_panel="Research")(regress)
    from tradeloom.cli.check_fast import check_fast

    app.command("check-fast", rich_help_panel="Research")(check_fast)

    from tradeloom.cli.universe import regime, universe

    app.command("universe", rich_help_panel="Research")(universe)
    app.command("regime", rich_help_panel="Research")(regime)

    from tradeloom.cli.ml import models_app, retrain_command, schedule_command, train_command

    app.command("train", rich_help_panel="Models")(train_command)
    app.command("retrain", rich_help_panel="Models")(retrain_command)
    app.add_typer(models_app, name="models", rich_help_panel="Models")
    app.command("schedule", rich_help_panel="Models")(schedule_command)

    from tradeloom.cli.live import kill, live, paper, replay

    app.command("paper", rich_help_panel="Trading")(paper)
    app.command("live", rich_help_panel="Trading")(live)
    app.command("replay", rich_help_panel="Trading")(replay)
    app.command("kill", rich_help_panel="Trading")(kill)

    from tradeloom.cli.doctor import doctor

    app.command("doctor", rich_help_panel="Trading")(doctor)
    from tradeloom.cli.reconcile import reconcile_command

    app.command("reconcile", rich_help_panel="Trading")(reconcile_command)

    from tradeloom.cli.ops import serve, status

    app.command("serve", rich_help_panel="Operations")(serve)
    app.command("status", rich_help_panel="Operations")(status)

    from tradeloom.cli.deploy import (
        audit_app,
        demote,
        deploy_register,
        deployments,
        promote,
        retire,
    )

    app.command("deploy-register", rich_help_panel="Operations")(deploy_register)
    app.command("deployments", rich_help_panel="Operations")(deployments)
    app.command("promote", rich_help_panel="Operations")(promote)
    app.command("demote", rich_help_panel="Operations")(demote)
    app.command("retire", rich_help_panel="Operations")(retire)
    app.add_typer(audit_app, name="audit", rich_help_panel="Operations")


def main(argv: list[str] | None = None) -> None:
    """Entry point of the ``tradeloom`` script."""
    try:
        app(args=argv, prog_name="tradeloom")
    except TradeloomError as exc:
        report_error(exc)
        sys.exit(2)


_register()
