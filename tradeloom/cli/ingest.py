"""``tradeloom ingest``: download exchange history (every kind the store holds) into the
catalog.

The lead registers it with ``app.command("ingest")(ingest)``.
"""

from __future__ import annotations

import json
import os
import time
import uuid
from collections.abc import Mapping
from typing import TYPE_CHECKING, Annotated, Any

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from tradeloom.adapters.clock import SystemClock
from tradeloom.cli.context import open_store
from tradeloom.engine.errors import ConfigError, TradeloomError
from tradeloom.engine.timeframes import timeframe_to_ms
from tradeloom.engine.timeutil import format_utc_ms, parse_utc_ms

if TYPE_CHECKING:
    from tradeloom.adapters.ccxt.exchange import Credentials

EXAMPLE = ("tradeloom ingest --exchange binance --symbols BTC/USDT,ETH/USDT "
           "--timeframe 1h --since 2024-01-01")
EXAMPLE_FUNDING = ("tradeloom ingest --kind funding --market-type swap --exchange binance "
                   "--symbols BTC/USDT:USDT --since 2024-01-01")


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
_KIND_HELP = ("what to fetch: ohlcv (bars), mark, index (mark/index-price bars), funding, "
              "open_interest (periods of --timeframe) or trades; all but ohlcv and trades "
              "need --market-type swap")
_WRITE_EVERY_HELP = "write what arrived at least every this many seconds (and every 10 pages)"
_LEVERAGE_TIERS_HELP = ("perpetuals: store the venue's leverage brackets with the markets "
                        "(fetch_leverage_tiers, a signed request: needs TRADELOOM_API_KEY and "
                        "TRADELOOM_API_SECRET); without it, default brackets")


def new_run_id(wall_ms: int, what: str = "ingest") -> str:
    """``ingest-20240101T120000Z-1a2b3c4d``: a readable, unique run id."""
    started = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(wall_ms / 1000))
    return f"{what}-{started}-{uuid.uuid4().hex[:8]}"


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
    kind: Annotated[str, typer.Option("--kind", help=_KIND_HELP)] = "ohlcv",
    write_every_s: Annotated[float, typer.Option("--write-every", help=_WRITE_EVERY_HELP)] = 5.0,
    leverage_tiers: Annotated[bool, typer.Option("--leverage-tiers",
                                                 help=_LEVERAGE_TIERS_HELP)] = False,
) -> None:
    """Download exchange history with ccxt into the catalog (paged, durable, idempotent).

    Fetches every range missing in [--since, --until): before, inside (holes) and after
    what is stored, and files that no longer read. What arrives is written at least
    every few seconds, so a killed run loses only the pages in flight and the next run
    (which records the killed one as died) fetches exactly those. The still-open bar
    is never stored.

    Examples:

    tradeloom ingest --exchange binance --symbols BTC/USDT,ETH/USDT --timeframe 1h --since 2024-01-01

    tradeloom ingest --kind funding --market-type swap --exchange binance --symbols BTC/USDT:USDT --since 2024-01-01
    """
    err = Console(stderr=True)
    try:
        summary = _ingest(exchange, symbols, since, timeframe, until, market_type, api_url,
                          option, quiet, err, kind, write_every_s, leverage_tiers)
    except TradeloomError as exc:
        err.print(f"[red]error:[/red] {exc}", highlight=False, markup=True, soft_wrap=True)
        raise typer.Exit(2) from exc
    except KeyboardInterrupt as exc:
        err.print("[yellow]interrupted[/yellow]: pages already fetched are stored; re-run the "
                  "same command to resume", highlight=False)
        raise typer.Exit(130) from exc
    if not quiet:
        out = Console()
        for run in summary.died:
            out.print(f"earlier run {run.run_id} died (process killed or crashed) after "
                      f"writing {run.rows_added} rows; recorded as died", highlight=False)
        for s in summary.symbols:
            for path in s.repaired:
                out.print(f"{s.symbol}: dropped damaged file {path} and fetched it again",
                          highlight=False)
            newest = f"stored up to {format_utc_ms(s.last_ts)}" if s.last_ts is not None else (
                "nothing stored")
            noun = "bars" if summary.kind == "ohlcv" else f"{summary.kind} rows"
            out.print(f"{s.symbol}: +{s.rows_added} {noun}, {newest} ({s.pages} requests)",
                      highlight=False)
        out.print(f"run {summary.run_id}: {summary.rows_added} rows added", highlight=False)


def tier_credentials(environ: Mapping[str, str] | None = None) -> Credentials:
    """``--leverage-tiers``: the API key and secret from TRADELOOM_API_KEY /
    TRADELOOM_API_SECRET (Binance's leverage brackets are a signed request)."""
    from tradeloom.adapters.ccxt.exchange import Credentials  # ccxt loads when needed

    env = os.environ if environ is None else environ
    key, secret = env.get("TRADELOOM_API_KEY"), env.get("TRADELOOM_API_SECRET")
    if not key or not secret:
        raise ConfigError("--leverage-tiers reads the venue's brackets with a signed request: "
                          "export TRADELOOM_API_KEY and TRADELOOM_API_SECRET (a read-only key "
                          "is enough), or leave the option out for default brackets")
    return Credentials(key, secret)


def kind_timeframe(kind: str, timeframe: str) -> str:
    """The timeframe to pass for ``kind``: none for funding and trades (``--timeframe``'s
    default is for bars)."""
    from tradeloom.adapters.store.kinds import check_kind, spec

    return timeframe if spec(check_kind(kind)).has_timeframe else ""


def _ingest(exchange: str, symbols: str, since: str, timeframe: str, until: str | None,
            market_type: str, api_url: str | None, option: list[str] | None, quiet: bool,
            err: Console, kind: str = "ohlcv", write_every_s: float = 5.0,
            leverage_tiers: bool = False):
    from tradeloom.adapters.store.ingest import IngestProgress, ingest

    symbol_list = [s.strip() for s in symbols.split(",") if s.strip()]
    if not symbol_list:
        raise ConfigError(f"--symbols {symbols!r} names no symbol; example: {EXAMPLE}")
    timeframe = kind_timeframe(kind, timeframe)
    tf_ms = timeframe_to_ms(timeframe) if timeframe else 1
    since_ms = parse_utc_ms(since, "--since")
    until_ms = parse_utc_ms(until, "--until") if until is not None else None
    settings = _settings(exchange, market_type, api_url, parse_options(option))
    wall_ms = SystemClock().now_ms
    run_id = new_run_id(wall_ms())

    store = open_store()
    credentials = tier_credentials() if leverage_tiers else None
    common = {"kind": kind, "now_ms": wall_ms, "run_id": run_id, "write_every_s": write_every_s,
              "credentials": credentials}
    if quiet:
        return ingest(store, settings, symbol_list, timeframe, since_ms, until_ms, **common)
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

        return ingest(store, settings, symbol_list, timeframe, since_ms, until_ms,
                      progress=on_progress, **common)
