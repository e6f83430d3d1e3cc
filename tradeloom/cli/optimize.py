"""``tradeloom optimize``: search a strategy's params with optuna (TPE), prune on walk-forward
folds, one or several objectives, seeded, on a local pool or a Dask cluster.

Registered by ``tradeloom.cli.main`` as ``app.command("optimize")(optimize)``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from tradeloom.cli.backtest import format_metric
from tradeloom.cli.errors import user_errors
from tradeloom.cli.research import (
    _CLUSTER_HELP,
    _NO_RULES_HELP,
    _data_spec,
    _executor,
    _fmt,
    _plain,
    _progress,
    _short_names,
    run_settings,
)
from tradeloom.engine.errors import ConfigError

__all__ = ["optimize"]

STRATEGY = "research/strategies/sma_cross.py:SmaCross"
EXAMPLE = (f"tradeloom optimize {STRATEGY} --symbols BTC/USDT --timeframe 1h --space fast=5:50 "
           "--space slow=60:240 --trials 40 --folds 3 --seed 1")
_SPACE_HELP = ("Param range NAME=LOW:HIGH (integers, or reals with a '.'), NAME=LOW:HIGH:STEP, "
               "NAME=LOW:HIGH:log, NAME=A,B,C (choices) or NAME=VALUE (fixed); repeat per param.")


def optimize(
    strategy: str = typer.Argument(..., help="'path/to/file.py:Class', 'package.module:Class' or a rule file (.toml/.json)."),
    space: Annotated[list[str] | None, typer.Option("--space", help=_SPACE_HELP)] = None,
    symbols: str | None = typer.Option(None, "--symbols", "-s", help="Comma-separated, e.g. BTC/USDT (default: the rule file's)."),
    timeframe: str | None = typer.Option(None, "--timeframe", "-t", help="Bar timeframe, e.g. 1h (default: the rule file's, else 1h)."),
    start: str | None = typer.Option(None, help="First bar open time (UTC), e.g. 2021-01-01."),
    end: str | None = typer.Option(None, help="End (exclusive, UTC), e.g. 2021-06-01."),
    trials: int = typer.Option(50, "--trials", "-n", help="Trials to run (each one a param set)."),
    objective: Annotated[list[str] | None, typer.Option("--objective", "-m", help="Metric to optimise; repeat for several (e.g. sharpe and max_drawdown: a Pareto front). Direction: lower is better for drawdown, volatility, fees; higher for the rest.")] = None,
    sampler: str = typer.Option("tpe", "--sampler", help="tpe (learns where good params are) or random."),
    seed: int = typer.Option(0, "--seed", help="Sampler seed: the same seed and --batch give the same trials table."),
    folds: int = typer.Option(1, "--folds", help="Walk-forward folds: consecutive windows run in time order; the objective is their mean, and hopeless trials are pruned after a fold."),
    no_prune: bool = typer.Option(False, "--no-prune", help="Run every fold of every trial."),
    batch: int = typer.Option(4, "--batch", help="Trials asked and run at a time (results are told in trial order)."),
    engine: str = typer.Option("auto", "--engine", help="auto (kernel fast path when the strategy has one), fast or event."),
    exchange: str = typer.Option("binance", "--exchange", help="Exchange id in the catalog."),
    cash: float = typer.Option(10_000.0, "--cash", help="Initial cash of every run."),
    no_market_rules: bool = typer.Option(False, "--no-market-rules", help=_NO_RULES_HELP),
    cluster: str | None = typer.Option(None, "--cluster", help=_CLUSTER_HELP),
    processes: int = typer.Option(2, "--processes", help="Local pool size when --cluster is not given."),
    storage: str | None = typer.Option(None, "--storage", help="Study storage the workers share: a journal file (default: out/study.journal, else temporary) or an RDB URL like sqlite:///study.db."),
    study: str = typer.Option("tradeloom", "--study", help="Study name in the storage (must be new)."),
    out: Annotated[Path | None, typer.Option("--out", "-o", help="Directory for trials.parquet (and pareto.parquet, study.journal).")] = None,
    report: Annotated[Path | None, typer.Option("--report", help="Write the HTML report here: trials, Pareto front, overfitting statistics.")] = None,
    top: int = typer.Option(10, "--top", help="Rows of the ranking to print."),
    as_json: bool = typer.Option(False, "--json", help="Print the best trial, the Pareto front and the study description as JSON."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar, no table."),
) -> None:
    """Search a strategy's params with optuna; print the best trials and the overfitting statistics.

    Every trial that ran is counted: the output gives the deflated Sharpe ratio of the
    best trial and the probability of backtest overfitting (CSCV). Results do not depend
    on the back end: the same --seed and --batch give the same trials table on the local
    pool and on Dask.

    Example (after `tradeloom data load-sample`):

      tradeloom optimize research/strategies/sma_cross.py:SmaCross --symbols BTC/USDT --timeframe 1h --space fast=5:50 --space slow=60:240 --trials 40 --folds 3 --seed 1

    Two objectives (a Pareto front), on a 2-worker Dask cluster:

      tradeloom optimize research/strategies/rsi_reversion.py:RsiReversion --symbols BTC/USDT --space period=5:30 --space oversold=15:40 --objective sharpe --objective max_drawdown --trials 30 --cluster local:2
    """
    from tradeloom.research.optimize.study import run_optimize

    with user_errors():
        if not space:
            raise ConfigError(f"give at least one --space, e.g.  {EXAMPLE}")
        data = _data_spec(symbols, timeframe, start, end, exchange, strategy)
        if storage is None and out is not None:
            out.mkdir(parents=True, exist_ok=True)
            storage = str(out / "study.journal")
        with _executor(cluster, processes) as ex, _progress(not quiet and not as_json, "optimize") as bar:
            result = run_optimize(strategy, data, space, trials=trials, objectives=objective or ["sharpe"],
                                  sampler=sampler, seed=seed, folds=folds, prune=not no_prune,
                                  batch=batch, engine=engine, executor=ex,
                                  settings=run_settings(cash, no_market_rules), storage=storage,
                                  study_name=study, progress=bar)
        if out is not None:
            result.to_parquet(out)
        if report is not None:
            from tradeloom.research.reports.optimize_report import render_optimize_report

            render_optimize_report(result, report)
    if as_json:
        _print_json(result, out, report)
    elif not quiet:
        _print_result(result, top, out, report)


def _row(result: Any, position: int) -> dict[str, Any]:
    return {k: _plain(v) for k, v in zip(result.trials.columns, result.trials.iloc[position])}


def _print_json(result: Any, out: Path | None, report: Path | None) -> None:
    complete = (result.trials["state"] == "complete").any()
    payload = {
        "best": _row(result, result.best_position) if complete else None,
        "best_params": result.best_params if complete else None,
        "pareto": [{k: _plain(v) for k, v in row.items()} for row in result.pareto.to_dict("records")]
        if result.multi_objective else None,
        "states": {k: int(v) for k, v in result.trials["state"].value_counts().sort_index().items()},
        "run": result.meta, "out": str(out) if out is not None else None,
        "report": str(report) if report is not None else None,
    }
    typer.echo(json.dumps(payload, sort_keys=True, allow_nan=False, default=_plain))


def _print_result(result: Any, top: int, out: Path | None, report: Path | None) -> None:
    console = Console()
    meta = result.meta
    names = list(meta["params"])
    values = [f"value_{o}" for o in result.objectives]
    shown = result.pareto if result.multi_objective else result.trials[result.trials["state"] == "complete"]
    if not result.multi_objective:
        shown = shown.sort_values(values[0], ascending=result.directions[0] == "minimize", kind="mergesort")
    title = (f"{meta['strategy']}  {', '.join(meta['symbols'])}  {meta['timeframe']}  "
             + ("Pareto front" if result.multi_objective else f"by {result.objectives[0]}"))
    table = Table(title=title)
    for col in ["trial", *_short_names(names), *result.objectives, "max_drawdown", "n_trades", "folds"]:
        table.add_column(col, justify="right")
    for row in shown.head(max(top, 1)).to_dict("records"):
        table.add_row(str(row["number"]), *(_fmt(row[n]) for n in names),
                      *(format_metric(o, row[v]) for o, v in zip(result.objectives, values)),
                      format_metric("max_drawdown", row["max_drawdown"]),
                      format_metric("n_trades", row["n_trades"]), str(row["folds"]))
    console.print(table)
    counts = result.trials["state"].value_counts()
    states = ", ".join(f"{counts.get(s, 0)} {s}" for s in ("complete", "pruned", "failed", "refused"))
    console.print(f"{len(result.trials)} trials ({states}), sampler {meta['sampler']} seed {meta['seed']}, "
                  f"{meta['folds']} fold(s){', pruning' if meta['pruning'] else ''}, engine "
                  f"{result.engine}", highlight=False)
    console.print(f"  why {result.engine}: {result.engine_reason}", highlight=False)
    if (result.trials["state"] == "complete").any():
        best = result.best
        console.print(f"best: {result.best_params}  " + ", ".join(
            f"{o} = {format_metric(o, float(best[v]))}" for o, v in zip(result.objectives, values)),
            highlight=False)
    console.print(f"overfitting: {result.overfit.text()}", highlight=False)
    if out is not None:
        console.print(f"trials written to {out}/", highlight=False)
    if report is not None:
        console.print(f"report written to {report}", highlight=False)
