"""``tradeloom data``: list, check and import the data in the catalog (repair, delete and
known gaps live in ``cli.data_repair`` and ``cli.data_gaps``).

Every command uses the store chosen by the global ``--catalog`` option (or
``$TRADELOOM_CATALOG``) through ``tradeloom.cli.context.open_store``. Errors the user can
fix are printed in red on stderr with exit code 2; ``check`` exits 1 when it finds
problems so CI can gate on it.
"""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from tradeloom.cli import context as clictx
from tradeloom.cli.errors import user_errors as _user_errors
from tradeloom.engine.errors import ConfigError
from tradeloom.engine.timeutil import format_utc_ms

data_app = typer.Typer(
    help="Inspect, check, import, repair and delete market data in the catalog: bars, "
    "mark/index bars, funding, open interest, trades.\n\n"
    "Examples:\n\n"
    "  tradeloom data load-sample\n\n"
    "  tradeloom data list\n\n"
    "  tradeloom data check\n\n"
    "  tradeloom data gaps list\n\n"
    "Repair, delete and gap acknowledgement: see `tradeloom data repair --help`, "
    "`data delete --help`, `data gaps --help`.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    rich_markup_mode="rich",
)


def _when(ts: int | None) -> str:
    return format_utc_ms(ts) if ts is not None else "-"


_KIND_HELP = "Data kind: ohlcv (bars), mark, index, funding, open_interest or trades."


@data_app.command("list")
def list_command(
    kind: str = typer.Option(None, "--kind", help="Only this kind, e.g. funding."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table."),
) -> None:
    """List the stored datasets: kind, exchange, timeframe, symbol, range, rows, fingerprint.

    Example:  tradeloom data list --kind funding --json
    """
    with _user_errors():
        datasets = clictx.open_store().list_datasets(kind=kind)
    if as_json:
        rows = [
            {"kind": d.kind, "exchange": d.exchange, "timeframe": d.timeframe,
             "symbol": d.symbol, "first_ts": d.first_ts, "last_ts": d.last_ts,
             "first": _when(d.first_ts), "last": _when(d.last_ts), "rows": d.rows,
             "partitions": d.partitions, "fingerprint": d.fingerprint}
            for d in datasets
        ]
        typer.echo(json.dumps(rows, indent=2))
        return
    console = Console()
    location = clictx.catalog_location()
    if not datasets:
        console.print(f"no datasets in {location}; try: tradeloom data load-sample")
        return
    table = Table(title=f"datasets in {location}")
    for name in ("kind", "exchange", "timeframe", "symbol", "first", "last", "rows", "files",
                 "fingerprint"):
        keep_whole = name in ("kind", "symbol", "rows")
        table.add_column(name, justify="right" if name in ("rows", "files") else "left",
                         no_wrap=keep_whole,
                         min_width=max((len(getattr(d, name, "")) for d in datasets), default=0)
                         if name in ("kind", "symbol") else None)
    for d in datasets:
        table.add_row(d.kind, d.exchange, d.timeframe or "-", d.symbol, _when(d.first_ts),
                      _when(d.last_ts), f"{d.rows:,}", str(d.partitions), d.fingerprint[:12])
    console.print(table)


@data_app.command("check")
def check_command(
    exchange: str = typer.Option(None, "--exchange", help="Only this exchange, e.g. binance."),
    symbol: str = typer.Option(None, "--symbol", help="Only this symbol, e.g. BTC/USDT."),
    timeframe: str = typer.Option(None, "--timeframe", help="Only this timeframe, e.g. 1h."),
    kind: str = typer.Option(None, "--kind", help=_KIND_HELP),
    allow_gaps: bool = typer.Option(False, "--allow-gaps",
                                    help="Report gaps but do not fail on them (exchange outages)."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON reports instead of a table."),
) -> None:
    """Check stored data: gaps, duplicates, bad values, time order, grid, file integrity.

    An unreadable or altered file is reported (with the command that repairs it) and
    the check goes on. Gaps acknowledged with 'tradeloom data gaps ack' (or shipped
    with the sample, or confirmed empty by the exchange during ingest) are listed as
    known and do not fail. Exit code 1 when a problem is found, 0 when all is well
    (--allow-gaps: gaps alone do not fail).

    Example:  tradeloom data check --exchange binance --timeframe 1h --json
    """
    with _user_errors():
        reports = clictx.open_store().check(exchange=exchange, timeframe=timeframe,
                                            symbol=symbol, kind=kind)
    failed = [r for r in reports if not (r.ok_except_gaps if allow_gaps else r.ok)]
    if as_json:
        typer.echo(json.dumps([r.to_dict() for r in reports], indent=2))
    else:
        _print_checks(reports, allow_gaps)
    if failed:
        raise typer.Exit(1)


def _name(r) -> str:
    words = [r.exchange, r.symbol] + ([r.timeframe] if r.timeframe else [])
    return " ".join(words + ([] if r.kind == "ohlcv" else [r.kind]))


def _print_checks(reports, allow_gaps: bool) -> None:
    console = Console()
    if not reports:
        console.print("no datasets to check")
        return
    table = Table(title="data check")
    for name in ("dataset", "rows", "gaps", "missing", "known", "dups", "bad", "order", "grid",
                 "status"):
        table.add_column(name, justify="left" if name in ("dataset", "status") else "right")
    for r in reports:
        good = r.ok_except_gaps if allow_gaps else r.ok
        table.add_row(
            _name(r), f"{r.rows:,}", str(r.gap_count), str(r.missing_bars),
            str(r.known_gap_count), str(r.duplicate_count), str(r.bad_bar_count),
            str(r.out_of_order_count), str(r.misaligned_count),
            "[green]ok[/]" if good else "[red]problems[/]")
    console.print(table)
    for r in reports:
        for line in r.problems(include_gaps=True):
            console.print(f"{_name(r)}: {line}", highlight=False, markup=False, soft_wrap=True)


@data_app.command("import")
def import_command(
    file: Path = typer.Argument(..., help="CSV (.csv, .csv.gz) or Parquet file of bars."),
    exchange: str = typer.Option(..., "--exchange", help="ccxt exchange id, e.g. binance."),
    symbol: str = typer.Option(..., "--symbol", help="BASE/QUOTE, e.g. BTC/USDT."),
    timeframe: str = typer.Option(None, "--timeframe",
                                  help="Bar length, e.g. 1m, 1h, 1d (none for funding, trades)."),
    kind: str = typer.Option("ohlcv", "--kind", help=_KIND_HELP),
    ts_column: str = typer.Option(None, "--ts-column", help="Column holding bar open times."),
    ts_unit: str = typer.Option("auto", "--ts-unit",
                                help="auto, s, ms, us, ns or iso (auto: by magnitude or ISO)."),
    mapping: list[str] = typer.Option(
        [], "--map", help="FIELD=COLUMN for a differently named column, e.g. "
        "--map 'volume=Volume BTC' (repeatable)."),
    drop_invalid: bool = typer.Option(False, "--drop-invalid",
                                      help="Import valid rows and report the rejected ones."),
    as_json: bool = typer.Option(False, "--json", help="Print the import report as JSON."),
) -> None:
    """Import bars (or another kind) from a CSV or Parquet file, validating every row.

    The file is read, validated and written in bounded batches, so memory stays flat
    whatever its size; nothing is stored unless every row passes (or --drop-invalid).
    Rows are counted from 1 at the first data row (CSV file line = row + 1).

    Example:  tradeloom data import examples/btc_1h.csv --exchange binance --symbol BTC/USDT --timeframe 1h --map 'volume=Volume BTC' --drop-invalid
    """
    from tradeloom.adapters.store.importer import import_file

    with _user_errors():
        columns = _parse_mapping(mapping)
        if ts_column:
            columns["ts"] = ts_column
        report = import_file(clictx.open_store(), file, exchange, symbol, timeframe or "",
                             columns=columns, ts_unit=ts_unit, drop_invalid=drop_invalid,
                             kind=kind)
    if as_json:
        typer.echo(json.dumps(report.to_dict(), indent=2))
        return
    console = Console()
    console.print(
        f"{file.name}: read {report.rows_read} rows ({report.ts_unit} times), "
        f"{report.rows_added} new rows for {exchange} {symbol} {timeframe or ''} {kind}, "
        f"{report.write.rows_total} stored; {len(report.rejected)} rejected, "
        f"{report.duplicates_dropped} repeated rows skipped", highlight=False)
    if report.rejected:
        table = Table(title="rejected rows (row 1 = first data row)")
        for name in ("row", "column", "value", "reason"):
            table.add_column(name)
        for rejected in report.rejected[:20]:
            table.add_row(str(rejected.row), rejected.column, rejected.value, rejected.reason)
        console.print(table)
        if len(report.rejected) > 20:
            console.print(f"... and {len(report.rejected) - 20} more (use --json for all)")


def _parse_mapping(items: list[str]) -> dict[str, str]:
    columns = {}
    for item in items:
        field, sep, column = item.partition("=")
        if not sep or not field.strip() or not column:
            raise ConfigError(f"--map {item!r}: write FIELD=COLUMN, e.g. --map 'volume=Volume BTC'")
        columns[field.strip()] = column
    return columns


# The repair/delete and known-gap commands live in their own modules; importing them
# registers them on ``data_app``.
from tradeloom.cli import data_gaps, data_repair  # noqa: E402, F401
