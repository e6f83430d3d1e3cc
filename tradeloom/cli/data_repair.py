"""``tradeloom data repair`` and ``tradeloom data delete``: fix or remove stored data.

``repair`` settles what a killed writer left, drops files that no longer read (or
were changed outside tradeloom) and re-fetches every missing range of the dataset
from the exchange (``adapters.store.repair``); ``--offline`` only cleans up and
lists the holes. ``delete`` removes a dataset, or a time range of it, files and
catalog together in one atomic write.
"""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console

from tradeloom.adapters.clock import SystemClock
from tradeloom.cli import context as clictx
from tradeloom.cli.data import data_app
from tradeloom.cli.errors import user_errors
from tradeloom.cli.ingest import _settings, kind_timeframe, new_run_id, parse_options
from tradeloom.engine.timeutil import format_utc_ms, parse_utc_ms

_KIND = "ohlcv (bars), mark, index, funding, open_interest or trades"


@data_app.command("repair")
def repair_command(
    exchange: Annotated[str, typer.Option(help="ccxt exchange id, e.g. binance")],
    symbol: Annotated[str, typer.Option(help="the dataset's symbol, e.g. BTC/USDT")],
    timeframe: Annotated[str, typer.Option(help="bar length, e.g. 1h")] = "1h",
    kind: Annotated[str, typer.Option(help=_KIND)] = "ohlcv",
    since: Annotated[str | None, typer.Option(help="repair from here (default: first row)")
                     ] = None,
    until: Annotated[str | None, typer.Option(help="repair up to here (default: last row)")
                     ] = None,
    market_type: Annotated[str, typer.Option(help="spot, swap or future")] = "spot",
    api_url: Annotated[str | None, typer.Option(help="REST base URL override")] = None,
    option: Annotated[list[str] | None, typer.Option("--option", "-o",
                                                     help="ccxt option key=value")] = None,
    offline: Annotated[bool, typer.Option("--offline", help="clean up only; fetch nothing")
                       ] = False,
) -> None:
    """Repair a dataset: drop damaged files, then re-fetch every hole from the exchange.

    Exit code 0 when nothing is missing afterwards (or only ranges the exchange has
    no data for), 1 when holes remain (offline, or the exchange failed).

    Example:  tradeloom data repair --exchange binance --symbol BTC/USDT --timeframe 1h
    """
    from tradeloom.adapters.store.repair import repair_dataset

    out = Console()
    with user_errors():
        timeframe = kind_timeframe(kind, timeframe)
        settings = None if offline else _settings(exchange, market_type, api_url,
                                                   parse_options(option))
        wall_ms = SystemClock().now_ms
        report = repair_dataset(
            clictx.open_store(), kind, exchange, timeframe, symbol, settings=settings,
            now_ms=wall_ms, run_id=new_run_id(wall_ms(), "repair"),
            since=parse_utc_ms(since, "--since") if since else None,
            until=parse_utc_ms(until, "--until") if until else None)
    for line in report.recovered:
        out.print(f"recovered: {line}", highlight=False, soft_wrap=True)
    for path in report.dropped:
        out.print(f"dropped damaged file {path}", highlight=False, soft_wrap=True)
    if report.ingest is not None:
        out.print(f"fetched {report.ingest.rows_added} rows in {report.ingest.pages} requests",
                  highlight=False, soft_wrap=True)
    for lo, hi in report.still_missing:
        out.print(f"still missing: {format_utc_ms(lo)} .. {format_utc_ms(hi)}", highlight=False, soft_wrap=True)
    if report.still_missing:
        raise typer.Exit(1)
    out.print(f"{exchange} {symbol} {timeframe} {kind}: complete from "
              f"{format_utc_ms(report.span[0])} to {format_utc_ms(report.span[1])}",
              highlight=False, soft_wrap=True)


@data_app.command("delete")
def delete_command(
    exchange: Annotated[str, typer.Option(help="ccxt exchange id, e.g. binance")],
    symbol: Annotated[str, typer.Option(help="the dataset's symbol, e.g. BTC/USDT")],
    timeframe: Annotated[str, typer.Option(help="bar length, e.g. 1h")] = "1h",
    kind: Annotated[str, typer.Option(help=_KIND)] = "ohlcv",
    start: Annotated[str | None, typer.Option(help="first time to delete (UTC)")] = None,
    end: Annotated[str | None, typer.Option(help="delete up to this time, exclusive")] = None,
) -> None:
    """Delete a dataset, or the rows in [--start, --end), files and catalog together.

    Example:  tradeloom data delete --exchange binance --symbol BTC/USDT --timeframe 1h --start 2021-01-01 --end 2021-02-01
    """
    with user_errors():
        timeframe = kind_timeframe(kind, timeframe)
        removed = clictx.open_store().delete(
            kind, exchange, timeframe, symbol,
            parse_utc_ms(start, "--start") if start else None,
            parse_utc_ms(end, "--end") if end else None)
    what = "all rows" if start is None and end is None else (
        f"rows in [{start or 'start'}, {end or 'end'})")
    Console().print(f"deleted {removed} {kind} rows ({what}) of {exchange} {symbol} "
                    f"{timeframe}".rstrip(), highlight=False, soft_wrap=True)
