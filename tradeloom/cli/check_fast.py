"""``tradeloom check-fast``: does a strategy's vectorized form give its event form's trades?

Runs the strategy on stored bars through the event engine and through its vectorized
form (the kernels sweeps use), prints the two side by side and the first differences.
Exit code 0 when fills, trades and equity agree, 1 when they differ or the strategy
has no vectorized form for this run (the reason is printed), 2 on a usage error.
"""

from __future__ import annotations

import json

import typer
from rich.console import Console
from rich.table import Table

from tradeloom.cli import context as clictx
from tradeloom.cli.backtest import parse_params
from tradeloom.cli.errors import fail
from tradeloom.engine.errors import TradeloomError

__all__ = ["check_fast"]

EXIT_DIFFERENT = 1


def check_fast(
    strategy: str = typer.Argument(..., help="'file.py:Class', 'module:Class' or a rule file (.toml/.json)."),
    symbols: str | None = typer.Option(None, "--symbols", "-s", help="Comma-separated; default: the rule file's."),
    timeframe: str | None = typer.Option(None, "--timeframe", "-t", help="Bar timeframe; default: the rule file's, else 1h."),
    start: str | None = typer.Option(None, help="First bar open time (UTC), e.g. 2021-01-01."),
    end: str | None = typer.Option(None, help="End (exclusive, UTC)."),
    param: list[str] | None = typer.Option(None, "--param", "-p", help="Strategy parameter NAME=VALUE; repeat."),
    exchange: str = typer.Option("binance", help="Exchange id in the catalog."),
    cash: float = typer.Option(10_000.0, "--cash", help="Initial cash in the quote currency."),
    fee: float | None = typer.Option(None, "--fee", help="Fee rate for maker and taker in both runs (default: the market's)."),
    as_json: bool = typer.Option(False, "--json", help="Print the verdict and differences as JSON."),
) -> None:
    """Prove a strategy's vectorized form: same fills, trades and equity as its event form.

    Sweeps and walk-forward run a strategy on the kernels when it declares a
    vectorized form; run this once per strategy (and after every change to it) so the
    fast numbers are the event engine's numbers. Exit code 1 on any difference.

    Example:  tradeloom check-fast research/strategies/rsi_reversion.py:RsiReversion --symbols BTC/USDT --timeframe 1h --param period=10

    Example:  tradeloom check-fast examples/rules/breakout.toml
    """
    from tradeloom.app.check_fast import check_fast_on_catalog

    try:
        names = [s.strip() for s in symbols.split(",") if s.strip()] if symbols else None
        report = check_fast_on_catalog(strategy, clictx.open_store(), symbols=names,
                                       timeframe=timeframe, start=start, end=end,
                                       params=parse_params(param), exchange=exchange,
                                       initial_cash=cash, fee=fee)
    except TradeloomError as exc:
        fail(exc)
    if as_json:
        typer.echo(json.dumps({"ok": report.ok, "form": report.form, "reason": report.reason,
                               "differences": report.differences, "strategy": report.strategy,
                               "params": report.params, "symbols": list(report.symbols),
                               "timeframe": report.timeframe, "bars": report.n_bars,
                               "summary": [list(r) for r in report.rows()]}, default=str))
    else:
        _print(report)
    if not report.ok:
        raise typer.Exit(EXIT_DIFFERENT)


def _print(report) -> None:
    console = Console()
    title = f"{report.strategy}  {', '.join(report.symbols)}  {report.timeframe}  {report.n_bars} bars"
    params = ", ".join(f"{k}={v}" for k, v in report.params.items())
    if report.fast is None:
        console.print(title, highlight=False)
        console.print(f"params: {params or '(none)'}", highlight=False)
        console.print(f"no fast run: {report.reason}", style="bold red", highlight=False)
        return
    console.print(f"params: {params or '(none)'}", highlight=False)
    table = Table(title=title)
    table.add_column("")
    table.add_column("event engine", justify="right")
    table.add_column(f"fast path ({report.form})", justify="right")
    for what, event, fast in report.rows():
        table.add_row(what, event, fast)
    console.print(table)
    if report.ok:
        console.print("SAME fills, trades and equity: sweeps may use the fast path", style="bold green")
        return
    console.print("DIFFERENT: fix vectorized() (or remove it); first differences:", style="bold red")
    for line in report.differences:
        console.print(f"  {line}", highlight=False)
