"""``tradeloom data gaps``: list, acknowledge and forget known gaps.

Real histories have exchange outages. A gap acknowledged here is recorded in the
catalog with who acknowledged it, when and why; ``tradeloom data check`` then lists
it as known and passes, while any *new* gap still fails the check. Ingest does not
ask the exchange for acknowledged ranges again.
"""

from __future__ import annotations

import getpass
import json
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from tradeloom.adapters.clock import SystemClock
from tradeloom.cli import context as clictx
from tradeloom.cli.data import data_app
from tradeloom.cli.errors import user_errors
from tradeloom.cli.ingest import kind_timeframe
from tradeloom.engine.errors import ConfigError
from tradeloom.engine.timeframes import timeframe_to_ms
from tradeloom.engine.timeutil import format_utc_ms, parse_utc_ms

gaps_app = typer.Typer(
    help="Known gaps: list them, acknowledge a gap (who/when/why) so 'data check' passes on "
    "it, or forget one.\n\nExample:  tradeloom data gaps list",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
data_app.add_typer(gaps_app, name="gaps")


@gaps_app.command("list")
def list_gaps(
    exchange: Annotated[str | None, typer.Option(help="only this exchange")] = None,
    symbol: Annotated[str | None, typer.Option(help="only this symbol")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print JSON")] = False,
) -> None:
    """List acknowledged gaps: dataset, range, origin (user, sample, exchange), who, why.

    Example:  tradeloom data gaps list --symbol BTC/USDT
    """
    with user_errors():
        gaps = clictx.open_store().known_gaps(exchange=exchange, symbol=symbol)
    if as_json:
        typer.echo(json.dumps([{
            "kind": g.kind, "exchange": g.exchange, "timeframe": g.timeframe,
            "symbol": g.symbol, "from_ts": g.from_ts, "to_ts": g.to_ts,
            "from": format_utc_ms(g.from_ts), "to": format_utc_ms(g.to_ts),
            "reason": g.reason, "acknowledged_by": g.acknowledged_by,
            "acknowledged_ts": g.acknowledged_ts, "origin": g.origin} for g in gaps], indent=2))
        return
    table = Table(title="known gaps ([from, to): missing)")
    for name in ("dataset", "from", "to", "origin", "by", "reason"):
        table.add_column(name)
    for g in gaps:
        table.add_row(f"{g.kind} {g.exchange} {g.symbol} {g.timeframe}".strip(),
                      format_utc_ms(g.from_ts), format_utc_ms(g.to_ts), g.origin,
                      g.acknowledged_by, g.reason)
    Console().print(table)


@gaps_app.command("ack")
def ack_gaps(
    exchange: Annotated[str, typer.Option(help="ccxt exchange id, e.g. binance")],
    symbol: Annotated[str, typer.Option(help="the dataset's symbol, e.g. BTC/USDT")],
    reason: Annotated[str, typer.Option(help="why the data is missing, e.g. 'exchange outage'")],
    timeframe: Annotated[str, typer.Option(help="bar length, e.g. 1h")] = "1h",
    kind: Annotated[str, typer.Option(help="data kind (default ohlcv)")] = "ohlcv",
    start: Annotated[str | None, typer.Option("--from", help="first missing time (UTC)")] = None,
    end: Annotated[str | None, typer.Option("--to", help="end of the gap, exclusive")] = None,
    current: Annotated[bool, typer.Option("--current",
                                          help="acknowledge every gap the check finds now")
                       ] = False,
    by: Annotated[str | None, typer.Option(help="who acknowledges (default: your login)")
                  ] = None,
) -> None:
    """Acknowledge a gap (--from/--to) or every current gap (--current) of a dataset.

    Example:  tradeloom data gaps ack --exchange binance --symbol BTC/USDT --timeframe 1h --current --reason 'exchange maintenance'
    """
    from tradeloom.adapters.store.catalog import KnownGap

    with user_errors():
        timeframe = kind_timeframe(kind, timeframe)
        if current == (start is not None or end is not None):
            raise ConfigError("give either --current or both --from and --to")
        store = clictx.open_store()
        when, who = SystemClock().now_ms(), by or getpass.getuser()
        if current:
            ranges = _current_gaps(store, kind, exchange, timeframe, symbol)
        else:
            if start is None or end is None:
                raise ConfigError("give both --from and --to (end exclusive), e.g. --from "
                                  "2020-12-21T15:00 --to 2020-12-21T18:00")
            ranges = [(parse_utc_ms(start, "--from"), parse_utc_ms(end, "--to"))]
        gaps = [KnownGap(kind, exchange, timeframe, symbol, lo, hi, reason, who, when, "user")
                for lo, hi in ranges]
        store.acknowledge_gaps(gaps)
    Console().print(f"acknowledged {len(gaps)} gaps of {exchange} {symbol} {timeframe} {kind} "
                    f"(by {who}: {reason})", highlight=False, soft_wrap=True)


def _current_gaps(store, kind: str, exchange: str, timeframe: str,
                  symbol: str) -> list[tuple[int, int]]:
    """Every unacknowledged hole inside the dataset's span as [first missing, next present)."""
    found = [d for d in store.list_datasets(kind=kind)
             if (d.exchange, d.timeframe, d.symbol) == (exchange, timeframe, symbol)]
    if not found:
        raise ConfigError(f"no {kind} dataset {exchange} {symbol} {timeframe} is stored; see "
                          "'tradeloom data list'")
    step = timeframe_to_ms(timeframe) if timeframe else 1
    holes, _ = store.missing(kind, exchange, timeframe, symbol, found[0].first_ts,
                             found[0].last_ts + step)
    return holes


@gaps_app.command("forget")
def forget_gaps(
    exchange: Annotated[str, typer.Option(help="ccxt exchange id")],
    symbol: Annotated[str, typer.Option(help="the dataset's symbol")],
    timeframe: Annotated[str, typer.Option(help="bar length")] = "1h",
    kind: Annotated[str, typer.Option(help="data kind (default ohlcv)")] = "ohlcv",
    start: Annotated[str | None, typer.Option("--from", help="from this time")] = None,
    end: Annotated[str | None, typer.Option("--to", help="up to this time")] = None,
) -> None:
    """Forget acknowledged gaps of a dataset (all, or those inside --from/--to).

    Example:  tradeloom data gaps forget --exchange binance --symbol BTC/USDT --timeframe 1h
    """
    with user_errors():
        timeframe = kind_timeframe(kind, timeframe)
        count = clictx.open_store().forget_gaps(
            kind, exchange, timeframe, symbol,
            parse_utc_ms(start, "--from") if start else None,
            parse_utc_ms(end, "--to") if end else None)
    Console().print(f"forgot {count} known gaps", highlight=False, soft_wrap=True)
