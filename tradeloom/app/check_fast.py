"""The composition behind ``tradeloom check-fast``: a strategy spec and a catalog in, a
``ParityReport`` out (event engine vs the strategy's vectorized form on stored bars).

Market rules come from the store's snapshot, as in ``run_backtest``; ``fee`` overrides
them in both runs; perpetuals pay the store's funding in both runs. A rule file (``examples/rules/sma_cross.toml``) supplies its own
symbols and timeframe when they are not given.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from tradeloom.engine.errors import ConfigError
from tradeloom.engine.market import MarketSpec
from tradeloom.engine.timeutil import parse_utc_ms
from tradeloom.research.perp_data import funding_for
from tradeloom.research.strategy_loader import load_strategy, strategy_defaults
from tradeloom.research.sweeps.parity import ParityReport, check_fast

__all__ = ["check_fast_on_catalog"]


def check_fast_on_catalog(
    strategy: str,
    store: Any,
    *,
    symbols: Sequence[str] | None = None,
    timeframe: str | None = None,
    start: str | None = None,
    end: str | None = None,
    params: Mapping[str, Any] | None = None,
    exchange: str = "binance",
    initial_cash: float = 10_000.0,
    fee: float | None = None,
) -> ParityReport:
    """Check ``strategy`` (a spec: ``file.py:Class``, ``module:Class`` or a rule file)."""
    cls = load_strategy(strategy)
    defaults = strategy_defaults(strategy)
    names = list(symbols) if symbols else list(defaults.get("symbols") or [])
    if not names:
        raise ConfigError("give --symbols, e.g. --symbols BTC/USDT")
    tf = timeframe or defaults.get("timeframe") or "1h"
    lo = parse_utc_ms(start, "--start") if start else None
    hi = parse_utc_ms(end, "--end") if end else None
    frames = {s: store.read_bars(exchange, tf, s, lo, hi) for s in sorted(set(names))}
    empty = [s for s, f in frames.items() if len(f) < 2]
    if empty:
        raise ConfigError(f"{exchange} {tf} has fewer than 2 bars of {empty} in that range; "
                          "check the symbols, timeframe and --start/--end (tradeloom data list)")
    snapshot = store.load_markets(exchange)
    markets: dict[str, MarketSpec] = {s: snapshot.get(s) or MarketSpec(s) for s in frames}
    bars = frames if len(frames) > 1 else next(iter(frames.values()))
    funding, _ = funding_for(store, exchange, markets, lo, hi)  # perpetuals pay it in both runs
    return check_fast(cls, bars, params, timeframe=tf, markets=markets, init_cash=initial_cash,
                      fee=fee, funding=funding or None)
