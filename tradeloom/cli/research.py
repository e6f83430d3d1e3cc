"""``tradeloom sweep`` and ``tradeloom walkforward``: parameter search on stored bars.

Both read bars from the catalog chosen by the global ``--catalog`` option (workers
open the store themselves), run on a local process pool by default or on a Dask
cluster with ``--cluster``, show a progress bar on stderr, and print a table (or
JSON with ``--json``). Errors the user can fix are printed in red on stderr with
exit code 2. The lead registers them with ``app.command("sweep")(sweep)`` and
``app.command("walkforward")(walkforward)``.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from tradeloom.cli import context as clictx
from tradeloom.cli.backtest import format_metric
from tradeloom.cli.errors import user_errors as _user_errors
from tradeloom.engine.errors import ConfigError

if TYPE_CHECKING:
    from tradeloom.research.sweeps.executors import Executor
    from tradeloom.research.sweeps.jobs import DataSpec

__all__ = ["sweep", "walkforward"]

STRATEGY = "research/strategies/sma_cross.py:SmaCross"
SWEEP_EXAMPLE = (
    f"tradeloom sweep {STRATEGY} --symbols BTC/USDT --timeframe 1h "
    "--grid fast=5:50:5 --grid slow=60:240:20 --metric sharpe --out sweep.parquet"
)
WF_EXAMPLE = (
    f"tradeloom walkforward {STRATEGY} --symbols BTC/USDT --timeframe 1h "
    "--train 90d --test 30d --grid fast=10:40:10 --grid slow=60:180:40 --out wf"
)

_GRID_HELP = ("Param values NAME=START:STOP:STEP (STOP included when on the grid), NAME=A,B,C "
              "or NAME=VALUE; repeat per param.")
_NO_RULES_HELP = "No tick/lot rounding and no exchange minimums (an idealised run); fees stay the market's."
_CLUSTER_HELP = ("Run on Dask: local or local:N starts N local workers, tcp://HOST:8786 uses a "
                 "running scheduler (needs tradeloom's dask extra). Default: a local process pool.")


def run_settings(cash: float, no_market_rules: bool) -> Any:
    """The runs' account and market-rule settings from the command's flags."""
    from tradeloom.research.sweeps.jobs import RunSettings

    return RunSettings(initial_cash=cash, market_rules="none" if no_market_rules else "exchange")


def _data_spec(symbols: str | None, timeframe: str | None, start: str | None, end: str | None,
               exchange: str, strategy: str = "") -> DataSpec:
    """The dataset of a sweep; a rule file fills in the symbols and timeframe it names."""
    from tradeloom.engine.timeutil import parse_utc_ms
    from tradeloom.research.strategy_loader import strategy_defaults
    from tradeloom.research.sweeps.jobs import DataSpec

    defaults = strategy_defaults(strategy) if strategy else {}
    names = ([s.strip() for s in symbols.split(",") if s.strip()] if symbols
             else list(defaults.get("symbols") or []))
    timeframe = timeframe or defaults.get("timeframe") or "1h"
    if not names:
        raise ConfigError("give --symbols, e.g. --symbols BTC/USDT or BTC/USDT,ETH/USDT")
    lo = parse_utc_ms(start, "--start") if start else None
    hi = parse_utc_ms(end, "--end") if end else None
    if lo is not None and hi is not None and hi <= lo:
        raise ConfigError(f"--end {end} must be after --start {start}")
    return DataSpec(clictx.catalog_location(), exchange, timeframe, tuple(names), lo, hi)


@contextmanager
def _progress(enabled: bool, label: str) -> Iterator[Callable[[int, int], None] | None]:
    """A rich progress bar on stderr, as a ``progress(done, total)`` callback."""
    if not enabled:
        yield None
        return
    bar = Progress(TextColumn(label), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                   console=Console(stderr=True), transient=True)
    task = bar.add_task(label, total=None)
    with bar:
        def update(done: int, total: int) -> None:
            bar.update(task, completed=done, total=total)

        yield update


def _plain(value: Any) -> Any:
    value = value.item() if hasattr(value, "item") else value
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _fmt(value: Any) -> str:
    """A table cell: floats with 4 decimals, or 4 significant digits below 0.01 (a fee or
    threshold parameter of 0.00005 would print as 0.0000).

    >>> [_fmt(1234.5), _fmt(0.00005), _fmt(-0.0012), _fmt(0.0), _fmt(float("nan")), _fmt(3)]
    ['1,234.5000', '5e-05', '-0.0012', '0.0000', 'n/a', '3']
    """
    value = _plain(value)
    if value is None:
        return "n/a"
    if isinstance(value, float):
        return f"{value:.4g}" if 0.0 < abs(value) < 0.01 else f"{value:,.4f}"
    return str(value)


def _executor(cluster: str | None, processes: int) -> Executor:
    from tradeloom.research.sweeps.executors import make_executor

    return make_executor(cluster, processes)


def sweep(
    strategy: str = typer.Argument(..., help="'path/to/file.py:Class', 'package.module:Class' or a rule file (.toml/.json)."),
    symbols: str | None = typer.Option(None, "--symbols", "-s", help="Comma-separated, e.g. BTC/USDT (default: the rule file's)."),
    timeframe: str | None = typer.Option(None, "--timeframe", "-t", help="Bar timeframe, e.g. 1h (default: the rule file's, else 1h)."),
    start: str | None = typer.Option(None, help="First bar open time (UTC), e.g. 2021-01-01."),
    end: str | None = typer.Option(None, help="End (exclusive, UTC), e.g. 2021-06-01."),
    grid: Annotated[list[str] | None, typer.Option("--grid", "-g", help=_GRID_HELP)] = None,
    random: int | None = typer.Option(None, "--random", help="Sample N distinct combinations of the grid instead of all."),
    seed: int = typer.Option(0, "--seed", help="Seed of the --random draw (same seed, same draw)."),
    metric: str = typer.Option("sharpe", "--metric", "-m", help="Metric that picks the best row (NaN ranks last)."),
    engine: str = typer.Option("auto", "--engine", help="auto (kernel fast path when the strategy has one), fast or event."),
    exchange: str = typer.Option("binance", "--exchange", help="Exchange id in the catalog."),
    cash: float = typer.Option(10_000.0, "--cash", help="Initial cash in the quote currency."),
    no_market_rules: bool = typer.Option(False, "--no-market-rules", help=_NO_RULES_HELP),
    cluster: str | None = typer.Option(None, "--cluster", help=_CLUSTER_HELP),
    processes: int = typer.Option(2, "--processes", help="Local pool size when --cluster is not given."),
    out: Annotated[Path | None, typer.Option("--out", "-o", help="Write the result table here (Parquet, atomic).")] = None,
    report: Annotated[Path | None, typer.Option("--report", help="Write the HTML report here: heatmap of --metric over the first two grid params, the top rows, the overfitting statistics.")] = None,
    top: int = typer.Option(10, "--top", help="Rows of the ranking to print."),
    as_json: bool = typer.Option(False, "--json", help="Print the best row and the run description as JSON."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar, no table."),
) -> None:
    """Grid or random search over a strategy's params; every metric per combination.

    Strategies with a kernel fast path (the bundled SmaCross) or a vectorized form
    (templates, rule files) run the whole grid in a few numba calls; others run one
    event-engine backtest per combination on the process pool or Dask cluster. The
    output says which path ran and why. Combinations the strategy refuses
    (fast >= slow) are skipped and counted.

    Example (after `tradeloom data load-sample`):

      tradeloom sweep research/strategies/sma_cross.py:SmaCross --symbols BTC/USDT --timeframe 1h --grid fast=5:50:5 --grid slow=60:240:20 --metric sharpe --out sweep.parquet

      tradeloom sweep research/strategies/rsi_reversion.py:RsiReversion --symbols ETH/USDT --grid period=7:21:7 --random 5 --seed 1 --cluster local:2

    A rule file sweeps over any of its numbers, by dotted path:

      tradeloom sweep examples/rules/sma_cross.toml --grid indicators.fast.period=5:50:5 --grid indicators.slow.period=60:240:20

    Every sweep counts its trials and prints the deflated Sharpe ratio of the best row and
    the probability of backtest overfitting (CSCV); --report FILE writes them with the
    heatmap.
    """
    from tradeloom.research.sweeps.sweep import run_sweep

    with _user_errors():
        if not grid:
            raise ConfigError(f"give at least one --grid, e.g.  {SWEEP_EXAMPLE}")
        data = _data_spec(symbols, timeframe, start, end, exchange, strategy)
        with _executor(cluster, processes) as ex, _progress(not quiet and not as_json, "sweep") as bar:
            result = run_sweep(strategy, data, grid, random=random, seed=seed, metric=metric,
                               executor=ex, settings=run_settings(cash, no_market_rules),
                               engine=engine, progress=bar)
        if out is not None:
            result.to_parquet(out)
        if report is not None:
            _write_sweep_report(result, report)
    best = {k: _plain(v) for k, v in zip(result.table.columns, result.table.iloc[result.best_position])}
    best.update(result.best_params)
    if as_json:
        payload = {"best": best, "best_params": result.best_params, "run": result.meta,
                   "rows": len(result.table), "skipped": len(result.skipped),
                   "out": str(out) if out is not None else None,
                   "report": str(report) if report is not None else None}
        typer.echo(json.dumps(payload, sort_keys=True, allow_nan=False, default=_plain))
        return
    if quiet:
        return
    _print_sweep(result, top, out, report)


def _write_sweep_report(result: Any, path: Path) -> None:
    """The sweep's HTML report: --metric over the first two grid params (one row for one)."""
    from tradeloom.research.reports.report import render_sweep_report

    names = list(result.meta["params"])
    meta = result.meta
    title = (f"Sweep {meta['strategy']} {', '.join(meta['symbols'])} {meta['timeframe']}: "
             f"{result.metric} by {' × '.join(names[:2])}")
    render_sweep_report(result.table, names[0], names[1] if len(names) > 1 else None, result.metric,
                        path, title=title, overfit=result.overfit)


def _print_sweep(result: Any, top: int, out: Path | None, report: Path | None = None) -> None:
    console = Console()
    names = list(result.meta["params"])
    shown = [result.metric] + [k for k in ("total_return", "max_drawdown", "n_trades", "sharpe")
                               if k != result.metric]
    table = Table(title=f"{result.meta['strategy']}  {', '.join(result.meta['symbols'])}  "
                        f"{result.meta['timeframe']}  by {result.metric}")
    for col in ["#", *_short_names(names), *shown]:
        table.add_column(col, justify="right")
    rows = result.ranked().head(max(top, 1)).to_dict("records")  # keeps each column's type
    for rank, row in enumerate(rows, start=1):
        table.add_row(str(rank), *(_fmt(row[n]) for n in names),
                      *(format_metric(k, row[k]) for k in shown))
    console.print(table)
    seed = f", seed {result.meta['seed']}" if result.meta["search"] == "random" else ""
    console.print(f"{len(result.table)} combinations ({result.meta['search']}{seed}), engine "
                  f"{result.engine}; skipped {len(result.skipped)}", highlight=False)
    console.print(f"  why {result.engine}: {result.engine_reason}", highlight=False)
    if result.skipped:
        combo, reason = result.skipped[0]
        console.print(f"  first skipped {combo}: {reason}", highlight=False)
    console.print(f"best: {result.best_params}  {result.metric} = "
                  f"{format_metric(result.metric, float(result.best[result.metric]))}",
                  highlight=False)
    if result.overfit is not None:
        console.print(f"overfitting: {result.overfit.text()}", highlight=False)
    if out is not None:
        console.print(f"table written to {out}", highlight=False)
    if report is not None:
        console.print(f"report written to {report}", highlight=False)


_GENERIC = frozenset({"period", "right", "left", "at", "fraction", "for_bars", "percent"})


def _short_names(names: list[str]) -> list[str]:
    """Column titles for params: a rule file's dotted paths cut to their shortest tail
    that is unique and says what it is (``indicators.fast.period`` -> ``fast.period``).

    >>> _short_names(["indicators.fast.period", "indicators.slow.period", "exit.stop_loss"])
    ['fast.period', 'slow.period', 'stop_loss']
    >>> _short_names(["entry.when.right", "exit.when.right", "exit.take_profit.0.at"])
    ['entry.when.right', 'exit.when.right', 'take_profit.0.at']
    """
    out = []
    for name in names:
        parts = name.split(".")
        k = 1
        while k < len(parts):
            head = parts[-k]
            tail = ".".join(parts[-k:])
            unique = sum(1 for o in names if o == tail or o.endswith("." + tail)) == 1
            if unique and not head.isdigit() and not (k == 1 and head in _GENERIC):
                break
            k += 1
        out.append(".".join(parts[-k:]))
    return out


def walkforward(
    strategy: str = typer.Argument(..., help="'path/to/file.py:Class', 'package.module:Class' or a rule file (.toml/.json)."),
    symbols: str | None = typer.Option(None, "--symbols", "-s", help="Comma-separated, e.g. BTC/USDT (default: the rule file's)."),
    timeframe: str | None = typer.Option(None, "--timeframe", "-t", help="Bar timeframe, e.g. 1h (default: the rule file's, else 1h)."),
    start: str | None = typer.Option(None, help="First bar open time (UTC), e.g. 2021-01-01."),
    end: str | None = typer.Option(None, help="End (exclusive, UTC), e.g. 2021-06-01."),
    train: str = typer.Option(..., "--train", help="Train window: a duration (90d, 12h, 2w) or a bar count (2000)."),
    test: str = typer.Option(..., "--test", help="Test window, same kind as --train (30d or 500)."),
    anchored: bool = typer.Option(False, "--anchored", help="Train windows all start at the first bar and grow."),
    grid: Annotated[list[str] | None, typer.Option("--grid", "-g", help=_GRID_HELP)] = None,
    random: int | None = typer.Option(None, "--random", help="Sample N distinct combinations of the grid."),
    seed: int = typer.Option(0, "--seed", help="Seed of the --random draw."),
    metric: str = typer.Option("sharpe", "--metric", "-m", help="Metric that picks the params on each train window."),
    engine: str = typer.Option("auto", "--engine", help="Train-window engine: auto, fast or event (tests always use the event engine)."),
    exchange: str = typer.Option("binance", "--exchange", help="Exchange id in the catalog."),
    cash: float = typer.Option(10_000.0, "--cash", help="Initial cash of every test window."),
    no_market_rules: bool = typer.Option(False, "--no-market-rules", help=_NO_RULES_HELP),
    cluster: str | None = typer.Option(None, "--cluster", help=_CLUSTER_HELP),
    processes: int = typer.Option(2, "--processes", help="Local pool size when --cluster is not given."),
    out: Annotated[Path | None, typer.Option("--out", "-o", help="Directory for windows/equity/in_sample Parquet files.")] = None,
    as_json: bool = typer.Option(False, "--json", help="Print the summary and the windows as JSON."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar, no table."),
) -> None:
    """Walk-forward: pick the best params on each train window, trade them on the next test window.

    Reports in-sample vs out-of-sample per window (degradation = oos - is,
    efficiency = oos / is) and overall, and the out-of-sample equity stitched into
    one curve (compounded across windows).

    Example (after `tradeloom data load-sample`):

      tradeloom walkforward research/strategies/sma_cross.py:SmaCross --symbols BTC/USDT --timeframe 1h --train 90d --test 30d --grid fast=10:40:10 --grid slow=60:180:40 --out wf

      tradeloom walkforward research/strategies/sma_cross.py:SmaCross --symbols BTC/USDT --train 1000 --test 500 --anchored --grid fast=5,10,20 --grid slow=50,100
    """
    from tradeloom.research.sweeps.walkforward import run_walkforward

    with _user_errors():
        if not grid:
            raise ConfigError(f"give at least one --grid, e.g.  {WF_EXAMPLE}")
        data = _data_spec(symbols, timeframe, start, end, exchange, strategy)
        with _executor(cluster, processes) as ex, _progress(not quiet and not as_json, "walk-forward") as bar:
            result = run_walkforward(strategy, data, grid, train=train, test=test, anchored=anchored,
                                     metric=metric, random=random, seed=seed, executor=ex,
                                     settings=run_settings(cash, no_market_rules), engine=engine,
                                     progress=bar)
        if out is not None:
            result.to_parquet(out)
    if as_json:
        rows = [{k: _plain(v) for k, v in row.items()} for row in result.windows.to_dict("records")]
        typer.echo(json.dumps({"summary": result.summary, "windows": rows,
                               "out": str(out) if out is not None else None},
                              sort_keys=True, allow_nan=False, default=_plain))
        return
    if not quiet:
        _print_walkforward(result, out)


def _print_walkforward(result: Any, out: Path | None) -> None:
    from tradeloom.engine.timeutil import format_utc_ms

    console = Console()
    s, metric = result.summary, result.metric
    names = [c for c in result.windows.columns if c not in _WF_FIXED and not c.startswith(("is_", "oos_"))]
    table = Table(title=f"walk-forward {s['strategy']}  {', '.join(s['symbols'])}  {s['timeframe']}  "
                        f"{s['mode']} train {s['train']} / test {s['test']}  by {metric}")
    for col in ["#", "test from", "test to", *names, f"is {metric}", f"oos {metric}", "degradation",
                "oos return", "is dsr", "is pbo"]:
        table.add_column(col, justify="right")
    for row in result.windows.to_dict("records"):
        table.add_row(str(row["window"]), format_utc_ms(int(row["test_start"]))[:10],
                      format_utc_ms(int(row["test_end"]))[:10], *(_fmt(row[n]) for n in names),
                      _fmt(row[f"is_{metric}"]), _fmt(row[f"oos_{metric}"]), _fmt(row["degradation"]),
                      format_metric("total_return", row["oos_total_return"]),
                      _fmt(row["is_dsr"]), _fmt(row["is_pbo"]))
    console.print(table)
    console.print(
        f"{s['windows']} windows, engine {s['engine']}: mean is {metric} {_fmt(s[f'is_{metric}_mean'])}, "
        f"mean oos {_fmt(s[f'oos_{metric}_mean'])}, degradation {_fmt(s['degradation_mean'])}, "
        f"efficiency {_fmt(s['efficiency'])}", highlight=False)
    console.print(f"  why {s['engine']} on the train windows: {s.get('engine_reason', '')}; test "
                  "windows always run on the event engine", highlight=False)
    console.print(
        f"stitched out of sample: return {_fmt(s['oos_stitched_total_return'])}, sharpe "
        f"{_fmt(s['oos_stitched_sharpe'])}, max drawdown {_fmt(s['oos_stitched_max_drawdown'])}",
        highlight=False)
    console.print(
        f"overfitting: {s['trials']} in-sample trials; per train window deflated Sharpe "
        f"{_fmt(s['is_dsr_mean'])} and PBO {_fmt(s['is_pbo_mean'])} on average (columns is_dsr, "
        "is_pbo of the windows table)", highlight=False)
    if out is not None:
        console.print(f"windows, equity and in-sample tables written to {out}/", highlight=False)


_WF_FIXED = frozenset({"window", "train_start", "train_end", "test_start", "test_end", "train_bars",
                       "test_bars", "degradation", "efficiency"})
