"""``tradeloom backtest``: run a strategy over stored bars and print its report.

Settings come from flags, or from a TOML file (``--config``) whose values the flags
override. They are validated by ``tradeloom.research.backtest_settings.BacktestSettings`` so a bad value
is reported with its field path and the allowed values.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.table import Table

from tradeloom.adapters.config.files import read_config_file, validate_config
from tradeloom.app.backtest import run_from_settings
from tradeloom.cli import context as clictx
from tradeloom.engine.errors import ConfigError, TradeloomError
from tradeloom.engine.results.derivatives import has_derivatives
from tradeloom.research.backtest_settings import BacktestSettings
from tradeloom.research.portfolio import PORTFOLIO_REF

console = Console()
err_console = Console(stderr=True)

EXAMPLE = (
    "tradeloom backtest research/strategies/sma_cross.py:SmaCross "
    "--symbols BTC/USDT --timeframe 1h --param fast=10 --param slow=50 --out runs/sma"
)


def parse_params(items: list[str] | None) -> dict[str, str]:
    """``["fast=10", "slow=50"]`` -> ``{"fast": "10", "slow": "50"}`` (typed later by the strategy).

    >>> parse_params(["fast=10", "name=a=b"])
    {'fast': '10', 'name': 'a=b'}
    """
    params: dict[str, str] = {}
    for item in items or []:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"--param {item!r}: use NAME=VALUE, e.g. --param fast=10")
        params[key.strip()] = value.strip()
    return params


def build_settings(
    strategy: str,
    config: Path | None,
    overrides: dict[str, Any],
    broker_overrides: dict[str, Any],
    params: dict[str, str],
) -> BacktestSettings:
    """Merge a config file (if any) with command-line values; flags win."""
    data: dict[str, Any] = read_config_file(config) if config else {}
    source = str(config) if config else "command line"
    if strategy:
        data["strategy"] = strategy
    data.update({k: v for k, v in overrides.items() if v is not None})
    broker = dict(data.get("broker", {}))
    broker.update({k: v for k, v in broker_overrides.items() if v is not None})
    data["broker"] = broker
    data["params"] = {**data.get("params", {}), **params}
    _rule_file_defaults(data)
    return validate_config(BacktestSettings, data, source)


def _rule_file_defaults(data: dict[str, Any]) -> None:
    """A rule file names its symbols, timeframe and risk profile: use them where the
    flags and the config file are silent."""
    from tradeloom.research.strategy_loader import strategy_defaults

    spec = data.get("strategy")
    if not isinstance(spec, str):
        return
    for key, value in strategy_defaults(spec).items():
        if data.get(key) is None and value is not None:
            data[key] = value


def write_report(result: Any, settings: BacktestSettings, path: Path) -> None:
    """The HTML report of ``result`` with candlesticks of the traded symbols."""
    from tradeloom.adapters.store.resample import read_bars_at
    from tradeloom.engine.timeutil import parse_utc_ms
    from tradeloom.research.reports.report import render_report

    store = clictx.open_store()
    bars = read_bars_at(
        store,
        settings.exchange,
        settings.timeframe,
        list(settings.symbols),
        parse_utc_ms(settings.start, "start") if settings.start else None,
        parse_utc_ms(settings.end, "end") if settings.end else None,
    )
    render_report(result, path, bars=bars)


_PERCENT_KEYS = ("return", "drawdown", "rate", "exposure", "cagr", "volatility")


def format_metric(key: str, value: float) -> str:
    """A metric as a person reads it: percentages, whole counts, durations in days.

    >>> format_metric("total_return", 0.2422), format_metric("n_trades", 69.0)
    ('24.22 %', '69')
    >>> format_metric("max_drawdown_duration_ms", 10_886_400_000.0)
    '126.0 days'
    """
    if value != value:  # NaN: the metric is undefined for this run (e.g. no trades)
        return "n/a"
    if key.endswith("_ms"):
        return f"{value / 86_400_000:,.1f} days"
    if key.startswith("n_") or key.endswith("_bars"):
        return f"{value:,.0f}"
    if any(t in key for t in _PERCENT_KEYS):
        return f"{value * 100:,.2f} %"
    return f"{value:,.4f}" if abs(value) < 1e6 else f"{value:,.0f}"


def print_strategies(result: Any) -> None:
    """The per-strategy table of a run with several strategies (a portfolio of sleeves)."""
    by = result.by_strategy()
    if len(by) < 2:
        return
    table = Table(title="per strategy")
    table.add_column("strategy", no_wrap=True, min_width=max(len(str(i)) for i in by.strategy_id))
    for col in ("pnl", "contribution", "trades", "open", "win rate", "fees", "exposure"):
        table.add_column(col, justify="right")
    for row in by.itertuples():
        table.add_row(row.strategy_id, f"{row.pnl:,.2f}", format_metric("return", row.contribution),
                      str(row.trades), str(row.open_trades), format_metric("win_rate", row.win_rate),
                      f"{row.fees:,.2f}", format_metric("exposure", row.exposure_time))
    console.print(table)


def print_report(result: Any, settings: BacktestSettings, out: Path | None) -> None:
    """Metrics table, risk summary and where the files went, for a person."""
    name = settings.strategy
    if name == PORTFOLIO_REF:
        name = f"portfolio of {len(json.loads(settings.params['spec']))} strategies"
    table = Table(title=f"{name}  {', '.join(settings.symbols)}  {settings.timeframe}")
    table.add_column("metric")
    table.add_column("value", justify="right")
    for key, value in result.metrics.items():
        table.add_row(key, format_metric(key, value))
    console.print(table)
    print_strategies(result)
    decisions = result.risk_decisions
    if len(decisions):
        column = "code" if "code" in decisions.columns else "reason"
        counts = decisions[column].value_counts().sort_index()
        console.print("risk decisions: " + ", ".join(f"{k} {v}" for k, v in counts.items()))
    else:
        console.print("risk decisions: none")
    if has_derivatives(result.events):
        summary = result.derivatives()
        sides = summary["sides"]
        console.print(
            f"long/short: {int(sides['long']['n'])} long trades (PnL {sides['long']['pnl']:,.2f}), "
            f"{int(sides['short']['n'])} short (PnL {sides['short']['pnl']:,.2f}); funding net "
            f"{summary['funding_net']:,.4f} {result.quote_currency}; liquidations "
            f"{int(sum(summary['liquidations'].values()))}", highlight=False)
    trips = [e for e in result.events if str(e.get("kind", "")).startswith("risk_")]
    if trips:
        console.print(f"risk events: {len(trips)}")
        for event in trips[:5]:
            console.print(f"  {event.get('message', event)}", highlight=False)
    if out is not None:
        console.print(f"results written to {out}")


def backtest(
    strategy: str = typer.Argument("", help="'path/to/file.py:Class', 'package.module:Class' or a rule file (.toml/.json)."),
    symbols: str | None = typer.Option(None, "--symbols", "-s", help="Comma-separated, e.g. BTC/USDT,ETH/USDT."),
    timeframe: str | None = typer.Option(None, "--timeframe", "-t", help="Bar timeframe, e.g. 1h (default 1h)."),
    start: str | None = typer.Option(None, help="First bar open time (UTC), e.g. 2021-01-01."),
    end: str | None = typer.Option(None, help="End (exclusive, UTC), e.g. 2021-06-01."),
    param: list[str] | None = typer.Option(None, "--param", "-p", help="Strategy parameter NAME=VALUE; repeat."),
    exchange: str | None = typer.Option(None, help="Exchange id in the catalog (default binance)."),
    cash: float | None = typer.Option(None, "--cash", help="Initial cash in the quote currency (default 10000)."),
    fee: float | None = typer.Option(None, "--fee", help="Fee rate override for maker and taker, e.g. 0.001."),
    slippage_bps: float | None = typer.Option(None, "--slippage-bps", help="Fixed adverse slippage in bps for taker fills."),
    intrabar_rule: str | None = typer.Option(None, "--intrabar-rule", help="adverse_first | favorable_first | open_distance."),
    no_market_rules: bool = typer.Option(False, "--no-market-rules", help="No tick/lot rounding and no exchange minimums (config: [broker] market_rules = \"none\"); fees stay the market's."),
    risk: str | None = typer.Option(None, "--risk", help="Risk profile name (conservative, moderate, perps) or a TOML path."),
    seed: int | None = typer.Option(None, help="Seed of the run's random generator (default 0)."),
    config: Path | None = typer.Option(None, "--config", "-c", help="TOML file with the same settings; flags override it."),
    out: Path | None = typer.Option(None, "--out", "-o", help="Directory for results (Parquet + JSON)."),
    report: Path | None = typer.Option(None, "--report", help="Write a self-contained HTML report here."),
    as_json: bool = typer.Option(False, "--json", help="Print metrics and manifest as JSON instead of tables."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="Print nothing but errors."),
) -> None:
    """Backtest a strategy on bars from the catalog and print its metrics.

    Orders placed while handling a bar fill from the next bar on (market orders at
    the next open). Results (orders, fills, trades, equity, metrics, manifest) are
    written with --out and load back equal.

    Example:  tradeloom backtest research/strategies/sma_cross.py:SmaCross --symbols BTC/USDT --timeframe 1h --param fast=10 --param slow=50 --out runs/sma

    A rule file brings its own symbols, timeframe and risk profile:

    Example:  tradeloom backtest examples/rules/breakout.toml --param exit.stop_loss=0.03 --report breakout.html
    """
    from tradeloom.cli.main import report_error

    try:
        overrides = {
            "symbols": [s.strip() for s in symbols.split(",") if s.strip()] if symbols else None,
            "timeframe": timeframe,
            "start": start,
            "end": end,
            "exchange": exchange,
            "initial_cash": cash,
            "risk_profile": risk,
            "seed": seed,
        }
        broker = {
            "fee_rate": fee,
            "slippage": "fixed_bps" if slippage_bps else None,
            "slippage_bps": slippage_bps,
            "intrabar_rule": intrabar_rule,
            "market_rules": "none" if no_market_rules else None,
        }
        if not strategy and config is None:
            raise ConfigError(f"name a strategy, e.g.  {EXAMPLE}")
        settings = build_settings(strategy, config, overrides, broker, parse_params(param))
        result = run_from_settings(settings, clictx.open_store(), show_progress=not (quiet or as_json))
        if out is not None:
            from tradeloom.adapters.store.results_io import save_result

            save_result(result, out)
        if report is not None:
            write_report(result, settings, report)
    except TradeloomError as exc:
        report_error(exc)
        raise typer.Exit(2) from None
    if not quiet:
        for event in result.events:
            if event.get("kind") == "resample":  # a 4h run on a store of 1h bars, say
                err_console.print(str(event["message"]), highlight=False)
    if as_json:
        payload = {"metrics": result.metrics, "manifest": result.manifest}
        by = result.by_strategy()
        if len(by) > 1:
            payload["strategies"] = by.to_dict(orient="records")
        typer.echo(json.dumps(payload, sort_keys=True, default=str, allow_nan=True))
    elif not quiet:
        print_report(result, settings, out)
        if report is not None:
            console.print(f"report written to {report}")
