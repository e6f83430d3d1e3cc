"""``tradeloom universe`` and ``tradeloom regime``: which symbols to trade, and how.

Examples (after ``tradeloom data load-sample``)::

    tradeloom universe --as-of 2021-06-01
    tradeloom universe --as-of 2021-06-01 --config universe.toml --json
    tradeloom regime BTC/USDT ETH/USDT --as-of 2021-06-01

``--as-of`` defaults to the close of the newest stored bar of the exchange and
timeframe. A universe config file is TOML with the fields of
``research.universe.UniverseConfig`` (unknown keys are refused), e.g.::

    core_size = 2
    satellite_size = 3
    window_days = 14
    quotes = ["USDT"]

Errors print in red on stderr and exit with status 2.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from tradeloom.cli import context as clictx
from tradeloom.cli.errors import fail as _fail
from tradeloom.engine.errors import ConfigError, TradeloomError
from tradeloom.engine.timeframes import timeframe_to_ms
from tradeloom.engine.timeutil import format_utc_ms, parse_utc_ms

console = Console()

_TIER_STYLE = {"core": "bold green", "satellite": "cyan", "excluded": "dim"}
_REGIME_STYLE = {"trending": "green", "ranging": "cyan", "volatile": "red", "warmup": "dim"}


def _as_of(store: Any, exchange: str, timeframe: str, as_of: str | None) -> int:
    if as_of is not None:
        return parse_utc_ms(as_of, "--as-of")
    last = [d.last_ts for d in store.list_datasets()
            if d.exchange == exchange and d.timeframe == timeframe]
    if not last:
        raise ConfigError(f"no {exchange} {timeframe} bars in {store.root}; run "
                          "`tradeloom data load-sample` or ingest, or pick --exchange/--timeframe")
    return max(last) + timeframe_to_ms(timeframe)


def _num(x: float | None, fmt: str) -> str:
    return "-" if x is None or not math.isfinite(x) else format(x, fmt)


def universe(
    exchange: str | None = typer.Option(None, "--exchange", help="Exchange id (default: config's, binance)."),
    timeframe: str | None = typer.Option(None, "--timeframe", help="Bar timeframe (default: config's, 1h)."),
    as_of: str | None = typer.Option(None, "--as-of", help="ISO time or ms; default: newest bar close."),
    config: Path | None = typer.Option(None, "--config", help="Universe rules (TOML)."),
    json_out: bool = typer.Option(False, "--json", help="Print the universe as JSON."),
) -> None:
    """Tier the stored symbols into core / satellite / excluded, with figures and reasons.

    Example:  tradeloom universe --as-of 2021-06-01
    """
    from tradeloom.adapters.config.files import load_config, validate_config
    from tradeloom.research.universe.tiers import UniverseConfig, compute_universe

    try:
        cfg = load_config(UniverseConfig, config) if config is not None else UniverseConfig()
        overrides = {k: v for k, v in (("exchange", exchange), ("timeframe", timeframe)) if v}
        if overrides:
            cfg = validate_config(UniverseConfig, {**cfg.model_dump(), **overrides}, "flags")
        store = clictx.open_store()
        uni = compute_universe(store, cfg, _as_of(store, cfg.exchange, cfg.timeframe, as_of))
    except TradeloomError as exc:
        _fail(exc)
    if json_out:
        typer.echo(json.dumps(uni.to_dict(), indent=2, sort_keys=True))
        return
    table = Table(title=f"universe {escape(uni.exchange)} {escape(uni.timeframe)} as of "
                        f"{format_utc_ms(uni.as_of)} ({cfg.window_days:g}-day window)")
    for col in ("tier", "rank", "symbol", "quote volume", "median range", "realized vol",
                "coverage", "age (d)", "reasons"):
        table.add_column(col, justify="right" if col not in ("tier", "symbol", "reasons") else "left")
    for m in uni.members:
        table.add_row(f"[{_TIER_STYLE[m.tier]}]{m.tier}[/]", str(m.rank or "-"), escape(m.symbol),
                      _num(m.quote_volume, ",.0f"), _num(m.range_median, ".2%"),
                      _num(m.realized_vol, ".0%"), _num(m.coverage, ".0%"),
                      _num(m.age_days, ".0f"), escape("; ".join(m.reasons)))
    console.print(table)


def regime(
    symbols: list[str] = typer.Argument(..., help="Symbols, e.g. BTC/USDT ETH/USDT."),
    exchange: str = typer.Option("binance", "--exchange", help="Exchange id."),
    timeframe: str = typer.Option("1h", "--timeframe", help="Bar timeframe."),
    as_of: str | None = typer.Option(None, "--as-of", help="ISO time or ms; default: newest bar close."),
    json_out: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Classify each symbol's regime (trending / ranging / volatile) from closed bars.

    Rule (research/universe/regime.py): volatile when the realized-vol percentile > 0.8
    (stays until < 0.7); else trending when ADX(14) > 25 (stays until < 20); else ranging.

    Example:  tradeloom regime BTC/USDT ETH/USDT --as-of 2021-06-01
    """
    from tradeloom.research.universe.regime import regime_as_of

    try:
        timeframe_to_ms(timeframe)
        store = clictx.open_store()
        when = _as_of(store, exchange, timeframe, as_of)
        found = [regime_as_of(store, exchange, timeframe, s, when) for s in symbols]
    except TradeloomError as exc:
        _fail(exc)
    if json_out:
        typer.echo(json.dumps([f.to_dict() for f in found], indent=2, sort_keys=True))
        return
    table = Table(title=f"regime {escape(exchange)} {escape(timeframe)} as of {format_utc_ms(when)}")
    for col in ("symbol", "regime", "ADX", "vol pct", "since", "bars"):
        table.add_column(col)
    for f in found:
        r = f.reading
        table.add_row(escape(f.symbol), f"[{_REGIME_STYLE[r.regime.value]}]{r.regime.value}[/]",
                      _num(r.adx, ".1f"), _num(r.vol_pct, ".0%"),
                      format_utc_ms(f.since_ts) if f.since_ts is not None else "-",
                      str(f.bars_in_regime))
    console.print(table)
