"""``tradeloom ingest``: download OHLCV history from an exchange into the catalog.

The lead registers it with ``app.command("ingest")(ingest)``.
"""

from __future__ import annotations

import json
import time
import uuid
from typing import Annotated, Any

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from tradeloom.adapters.clock import SystemClock
from tradeloom.cli.context import open_store
from tradeloom.engine.errors import ConfigError, TradeloomError
from tradeloom.engine.timeframes import timeframe_to_ms
from tradeloom.engine.timeutil import format_utc_ms, parse_utc_ms

EXAMPLE = ("tradeloom ingest --exchange binance --symbols BTC/USDT,ETH/USDT "
           "--timeframe 1h --since 2024-01-01")


def parse_options(items: list[str] | None) -> dict[str, Any]:
    """``["key=value", "a.b=1"]`` -> ``{"key": "value", "a": {"b": 1}}``.

    Values are read as JSON when they parse (``true``, ``5``, ``["spot"]``), else kept as
    text; dotted keys build nested ccxt options.

    >>> parse_options(["fetchCurrencies=false", "fetchMarkets.types=[\\"spot\\"]", "x=abc"])
    {'fetchCurrencies': False, 'fetchMarkets': {'types': ['spot']}, 'x': 'abc'}
    """
    options: dict[str, Any] = {}
    for item in items or []:
        key, sep, raw = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"--option {item!r} must look like key=value, "
                              "e.g. --option adjustForTimeDifference=true")
        try:
            value: Any = json.loads(raw)
        except json.JSONDecodeError:
            value = raw
        node = options
        *parents, leaf = key.strip().split(".")
        for part in parents:
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                raise ConfigError(f"--option {item!r}: {part!r} was already set to a value")
            node = child
        node[leaf] = value
    return options


def _settings(exchange: str, market_type: str, api_url: str | None,
              options: dict[str, Any]):
    from tradeloom.adapters.ccxt.exchange import ExchangeSettings

    try:
        return ExchangeSettings(id=exchange, market_type=market_type, api_url=api_url,
                                options=options)
    except ValidationError as exc:
        flags = {"id": "--exchange", "api_url": "--api-url", "market_type": "--market-type",
                 "options": "--option"}
        problems = "; ".join(
            f"{flags.get(str(err['loc'][0]), err['loc'][0]) if err['loc'] else 'settings'}: "
            f"{err['msg'].removeprefix('Value error, ')}"
            for err in exc.errors())
        raise ConfigError(f"ingest: {problems}") from exc


_EXCHANGE_HELP = "ccxt exchange id, e.g. binance"
_SYMBOLS_HELP = "comma-separated unified symbols, e.g. BTC/USDT,ETH/USDT"
_SINCE_HELP = "first bar to fetch (UTC): 2024-01-01, 2024-01-01T12:00 or epoch ms"
_TIMEFRAME_HELP = "bar length as ccxt names it: 1m, 5m, 15m, 1h, 4h, 1d"
_UNTIL_HELP = "stop before this time (UTC); default: up to the last closed bar"
_MARKET_TYPE_HELP = "spot, swap (perpetuals) or future"
_API_URL_HELP = "REST base URL override (emulator or proxy), e.g. http://127.0.0.1:8080"
_OPTION_HELP = "ccxt option as key=value (value read as JSON; a.b=1 nests); repeatable"


def ingest(
    exchange: Annotated[str, typer.Option(help=_EXCHANGE_HELP)],
    symbols: Annotated[str, typer.Option(help=_SYMBOLS_HELP)],
    since: Annotated[str, typer.Option(help=_SINCE_HELP)],
    timeframe: Annotated[str, typer.Option(help=_TIMEFRAME_HELP)] = "1h",
    until: Annotated[str | None, typer.Option(help=_UNTIL_HELP)] = None,
    market_type: Annotated[str, typer.Option(help=_MARKET_TYPE_HELP)] = "spot",
    api_url: Annotated[str | None, typer.Option(help=_API_URL_HELP)] = None,
    option: Annotated[list[str] | None,
                      typer.Option("--option", "-o", help=_OPTION_HELP)] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="no progress bar or summary")
                     ] = False,
) -> None:
    """Download OHLCV bars with ccxt into the catalog (paged, resumable, idempotent).

    Re-running the same command fetches only bars missing after the last stored one;
    the still-open bar is never stored.

    Example:

    tradeloom ingest --exchange binance --symbols BTC/USDT,ETH/USDT --timeframe 1h --since 2024-01-01
    """
    err = Console(stderr=True)
    try:
        summary = _ingest(exchange, symbols, since, timeframe, until, market_type, api_url,
                          option, quiet, err)
    except TradeloomError as exc:
        err.print(f"[red]error:[/red] {exc}", highlight=False, markup=True, soft_wrap=True)
        raise typer.Exit(2) from exc
    except KeyboardInterrupt as exc:
        err.print("[yellow]interrupted[/yellow]: pages already fetched are stored; re-run the "
                  "same command to resume", highlight=False)
        raise typer.Exit(130) from exc
    if not quiet:
        out = Console()
        for s in summary.symbols:
            newest = f"stored up to {format_utc_ms(s.last_ts)}" if s.last_ts is not None else (
                "nothing stored")
            out.print(f"{s.symbol}: +{s.rows_added} bars, {newest} ({s.pages} requests)",
                      highlight=False)
        out.print(f"run {summary.run_id}: {summary.rows_added} bars added", highlight=False)


def _ingest(exchange: str, symbols: str, since: str, timeframe: str, until: str | None,
            market_type: str, api_url: str | None, option: list[str] | None, quiet: bool,
            err: Console):
    from tradeloom.adapters.store.ingest import IngestProgress, ingest_ohlcv

    symbol_list = [s.strip() for s in symbols.split(",") if s.strip()]
    if not symbol_list:
        raise ConfigError(f"--symbols {symbols!r} names no symbol; example: {EXAMPLE}")
    tf_ms = timeframe_to_ms(timeframe)
    since_ms = parse_utc_ms(since, "--since")
    until_ms = parse_utc_ms(until, "--until") if until is not None else None
    settings = _settings(exchange, market_type, api_url, parse_options(option))
    wall_ms = SystemClock().now_ms
    started = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(wall_ms() / 1000))
    run_id = f"ingest-{started}-{uuid.uuid4().hex[:8]}"

    store = open_store()
    if quiet:
        return ingest_ohlcv(store, settings, symbol_list, timeframe, since_ms, until_ms,
                            now_ms=wall_ms, run_id=run_id)
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                  TextColumn("bars"), TimeElapsedColumn(), console=err,
                  transient=True) as bar:
        tasks: dict[str, Any] = {}

        def on_progress(p: IngestProgress) -> None:
            total = max(0, -(-(p.stop_ts - p.start_ts) // tf_ms))
            done = total if p.done else min(total, max(0, (p.cursor_ts - p.start_ts) // tf_ms))
            if p.symbol not in tasks:
                tasks[p.symbol] = bar.add_task(p.symbol, total=total)
            bar.update(tasks[p.symbol], total=total, completed=done)

        return ingest_ohlcv(store, settings, symbol_list, timeframe, since_ms, until_ms,
                            progress=on_progress, now_ms=wall_ms, run_id=run_id)
