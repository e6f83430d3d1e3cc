"""The tradeable universe: which symbols a strategy may trade, as of a time.

Operators do not trade every listed pair: they keep a *core* of the most liquid
markets, a *satellite* ring of the next ones, and exclude the rest, each exclusion
with its reason. :func:`compute_universe` does that from the market store alone:

1. per-symbol figures over the trailing ``window_days`` (DuckDB SQL over the
   Parquet files, see ``universe_sql``): quote volume ``sum(close * volume)``,
   median bar range ``(high - low) / close`` (a *spread proxy*: bars have no
   bid/ask), annualised realized volatility, and coverage (bars present / bars
   the window should hold);
2. eligibility rules; a symbol failing any is *excluded*, with one reason per
   failed rule (every unmet rule is listed, not just the first):

   - quote currency in ``quotes`` (when given): volumes in different quote
     currencies are not comparable;
   - listing age: the store's first bar (the catalog's ``first_ts``) at least
     ``min_age_days`` before ``as_of``; new listings are erratic;
   - coverage >= ``min_coverage`` (stale, halted or delisted markets fail it);
   - quote volume >= ``min_quote_volume``;
   - median bar range <= ``max_range``;
   - realized vol inside ``[min_vol, max_vol]``;
3. tiers: eligible symbols ranked by quote volume (ties: symbol name); the first
   ``core_size`` are *core*, the next ``satellite_size`` *satellite*, the others
   excluded with their rank as the reason.

No look-ahead: only bars that closed by ``as_of`` are read (``ts + tf <= as_of``),
and the catalog's ``first_ts`` is used only to ask "was there a bar before the
cutoff", which the bars before the cutoff alone decide. ``tests/unit/research/test_universe.py``
proves it by mutating every bar after ``as_of`` and comparing the JSON.

:func:`refresh_schedule` recomputes the universe every ``every`` (a timeframe
string: ``"4h"``, ``"1d"``) on the epoch-aligned grid, so a backtest starting on
another day sees the same refresh times; :meth:`UniverseHistory.tradeable` answers
"may ``symbol`` be traded at ``ts``" from the newest refresh at or before ``ts``.

>>> import tempfile, pandas as pd
>>> from tradeloom.adapters.store.market_store import MarketStore
>>> store = MarketStore(tempfile.mkdtemp())
>>> for sym, vol in (("AAA/USDT", 10.0), ("BBB/USDT", 20.0)):
...     bars = pd.DataFrame({"ts": [h * 3_600_000 for h in range(48)], "open": 1.0,
...                          "high": 1.01, "low": 0.99, "close": 1.0, "volume": vol})
...     _ = store.write_bars("binance", "1h", sym, bars, source="doctest")
>>> cfg = UniverseConfig(window_days=1, min_age_days=1, core_size=1, satellite_size=0)
>>> uni = compute_universe(store, cfg, as_of=48 * 3_600_000)
>>> uni.core, uni.excluded
(('BBB/USDT',), ('AAA/USDT',))
>>> uni.figures("AAA/USDT").reasons
('liquidity rank 2 of 2 eligible: beyond core_size=1 + satellite_size=0',)
"""

from __future__ import annotations

import bisect
import datetime as dt
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import duckdb
from pydantic import Field, model_validator

from tradeloom.adapters.store.schema import symbol_dirname
from tradeloom.engine.config import StrictModel, Timeframe, config_hash
from tradeloom.engine.errors import ConfigError
from tradeloom.engine.timeframes import timeframe_to_ms
from tradeloom.engine.timeutil import format_utc_ms, parse_utc_ms
from tradeloom.research.universe.sql import partition_files, private_connection, window_figures

DAY_MS = 86_400_000
TIERS = ("core", "satellite", "excluded")

__all__ = [
    "TIERS", "SymbolFigures", "Universe", "UniverseConfig", "UniverseHistory",
    "compute_universe", "refresh_schedule",
]


class UniverseConfig(StrictModel):
    """Universe rules (frozen, unknown keys refused; TOML keys have the same names)."""

    exchange: str = "binance"
    timeframe: Timeframe = "1h"
    symbols: list[str] = Field(default_factory=list,
                               description="candidates; empty: every stored symbol")
    quotes: list[str] = Field(default_factory=list,
                              description="allowed quote currencies; empty: any")
    window_days: float = Field(30.0, gt=0, description="trailing window of the figures")
    min_age_days: float = Field(30.0, ge=0, description="first stored bar this long before as-of")
    min_coverage: float = Field(0.9, ge=0, le=1, description="share of the window's bars present")
    min_quote_volume: float = Field(0.0, ge=0, description="sum(close*volume) over the window")
    max_range: float = Field(0.05, gt=0, description="max median (high-low)/close (spread proxy)")
    min_vol: float = Field(0.0, ge=0, description="min annualised realized vol")
    max_vol: float = Field(5.0, gt=0, description="max annualised realized vol")
    core_size: int = Field(3, ge=0, description="top eligible symbols by liquidity")
    satellite_size: int = Field(5, ge=0, description="the next eligible symbols")

    @model_validator(mode="after")
    def _band_ordered(self) -> UniverseConfig:
        if self.min_vol >= self.max_vol:
            raise ValueError(f"min_vol ({self.min_vol}) must be < max_vol ({self.max_vol})")
        return self

    def hash(self) -> str:
        """sha256 of the rules as canonical JSON (goes into every Universe)."""
        return config_hash(self)


@dataclass(frozen=True, slots=True)
class SymbolFigures:
    """One symbol's tier, the figures behind it and the reasons when excluded.

    Figures are NaN (``None`` in JSON) when the window held no bar of the symbol.
    ``rank`` is the liquidity rank among eligible symbols (``None``: not eligible).
    """

    symbol: str
    tier: str
    rank: int | None
    quote_volume: float
    range_median: float
    realized_vol: float
    bars: int
    coverage: float
    first_ts: int | None
    age_days: float
    reasons: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out["reasons"] = list(self.reasons)
        return {k: (None if isinstance(v, float) and not math.isfinite(v) else v)
                for k, v in out.items()}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SymbolFigures:
        values = dict(data)
        for key in ("quote_volume", "range_median", "realized_vol", "coverage", "age_days"):
            values[key] = math.nan if values[key] is None else float(values[key])
        values["reasons"] = tuple(values["reasons"])
        return cls(**values)


@dataclass(frozen=True, slots=True)
class Universe:
    """The universe as of one time: every candidate with its tier, figures and reasons.

    ``members`` is sorted core first (by rank), then satellite, then excluded (by
    symbol). ``to_json`` / ``from_json`` round-trip exactly.
    """

    as_of: int
    exchange: str
    timeframe: str
    config_hash: str
    members: tuple[SymbolFigures, ...]

    def tier(self, name: str) -> tuple[str, ...]:
        if name not in TIERS:
            raise ConfigError(f"unknown tier {name!r}; tiers are {', '.join(TIERS)}")
        return tuple(m.symbol for m in self.members if m.tier == name)

    @property
    def core(self) -> tuple[str, ...]:
        return self.tier("core")

    @property
    def satellite(self) -> tuple[str, ...]:
        return self.tier("satellite")

    @property
    def excluded(self) -> tuple[str, ...]:
        return self.tier("excluded")

    @property
    def tradeable(self) -> tuple[str, ...]:
        """Core then satellite symbols."""
        return self.core + self.satellite

    def figures(self, symbol: str) -> SymbolFigures:
        for member in self.members:
            if member.symbol == symbol:
                return member
        raise ConfigError(f"{symbol} is not a candidate of this universe; candidates: "
                          f"{', '.join(m.symbol for m in self.members)}")

    def to_dict(self) -> dict[str, Any]:
        return {"as_of": self.as_of, "as_of_utc": format_utc_ms(self.as_of),
                "exchange": self.exchange, "timeframe": self.timeframe,
                "config_hash": self.config_hash,
                "members": [m.to_dict() for m in self.members]}

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True, allow_nan=False)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Universe:
        return cls(int(data["as_of"]), data["exchange"], data["timeframe"], data["config_hash"],
                   tuple(SymbolFigures.from_dict(m) for m in data["members"]))

    @classmethod
    def from_json(cls, text: str) -> Universe:
        return cls.from_dict(json.loads(text))


def _candidates(store: Any, config: UniverseConfig) -> dict[str, int]:
    """Candidate symbol -> catalog first_ts, for the config's exchange and timeframe."""
    stored = {d.symbol: d.first_ts for d in store.list_datasets()
              if d.exchange == config.exchange and d.timeframe == config.timeframe}
    if not stored:
        raise ConfigError(
            f"no {config.exchange} {config.timeframe} bars in the store at {store.root}; "
            "ingest some (or `tradeloom data load-sample`) or change exchange/timeframe")
    if not config.symbols:
        return stored
    missing = [s for s in config.symbols if s not in stored]
    if missing:
        raise ConfigError(f"universe symbols {missing} have no {config.exchange} "
                          f"{config.timeframe} bars; stored: {sorted(stored)}")
    return {s: stored[s] for s in config.symbols}


def _rule_failures(symbol: str, fig: Any, first_ts: int, as_of: int, window_bars: int,
                   cfg: UniverseConfig) -> list[str]:
    reasons = []
    quote = symbol.split("/", 1)[1].split(":", 1)[0]
    if cfg.quotes and quote not in cfg.quotes:
        reasons.append(f"quote currency {quote} not in quotes={cfg.quotes}")
    if first_ts > as_of:
        reasons.append("no bar closed by as-of: not listed yet")
    elif (as_of - first_ts) / DAY_MS < cfg.min_age_days:
        reasons.append(f"listed {(as_of - first_ts) / DAY_MS:.1f} days before as-of; "
                       f"needs min_age_days={cfg.min_age_days:g}")
    if fig is None:
        if first_ts <= as_of:
            reasons.append(f"no bar in the {cfg.window_days:g}-day window (stale or delisted)")
        return reasons
    coverage = fig.bars / window_bars
    if coverage < cfg.min_coverage:
        reasons.append(f"coverage {coverage:.1%} of the window's {window_bars} bars; "
                       f"needs min_coverage={cfg.min_coverage:.0%}")
    if fig.quote_volume < cfg.min_quote_volume:
        reasons.append(f"quote volume {fig.quote_volume:.4g} < min_quote_volume="
                       f"{cfg.min_quote_volume:.4g}")
    if fig.range_median > cfg.max_range:
        reasons.append(f"median bar range {fig.range_median:.2%} > max_range={cfg.max_range:.2%} "
                       "(spread proxy)")
    if not cfg.min_vol <= fig.realized_vol <= cfg.max_vol:
        reasons.append(f"realized vol {fig.realized_vol:.0%} outside [min_vol, max_vol] = "
                       f"[{cfg.min_vol:.0%}, {cfg.max_vol:.0%}]")
    return reasons


def compute_universe(store: Any, config: UniverseConfig, as_of: int | str, *,
                     con: duckdb.DuckDBPyConnection | None = None) -> Universe:
    """The universe as of ``as_of`` (ms or ISO time) from bars closed by then.

    ``store`` is a ``MarketStore``; ``con`` an optional DuckDB connection to reuse
    (a private single-threaded one is opened otherwise).
    """
    as_of_ms = parse_utc_ms(as_of, "as_of")
    tf_ms = timeframe_to_ms(config.timeframe)
    window_ms = round(config.window_days * DAY_MS)
    window_bars = max(1, window_ms // tf_ms)
    candidates = _candidates(store, config)
    first_year = dt.datetime.fromtimestamp(max(0, as_of_ms - window_ms - tf_ms) / 1000,
                                           dt.UTC).year
    last_year = dt.datetime.fromtimestamp(max(0, as_of_ms) / 1000, dt.UTC).year
    files = partition_files(store.root, config.exchange, config.timeframe, list(candidates),
                            first_year, last_year)
    figs = window_figures(files, {symbol_dirname(s): s for s in candidates}, tf_ms=tf_ms,
                          as_of=as_of_ms, window_ms=window_ms, con=con)
    eligible, rows = [], {}
    for symbol in sorted(candidates):
        first_ts = candidates[symbol]
        fig = figs.get(symbol)
        reasons = _rule_failures(symbol, fig, first_ts, as_of_ms, window_bars, config)
        rows[symbol] = (fig, reasons)
        if not reasons:
            eligible.append(symbol)
    eligible.sort(key=lambda s: (-figs[s].quote_volume, s))
    members = []
    n_core, n_sat = config.core_size, config.satellite_size
    for rank, symbol in enumerate(eligible, start=1):
        tier = "core" if rank <= n_core else "satellite" if rank <= n_core + n_sat else "excluded"
        reasons = [] if tier != "excluded" else [
            (f"liquidity rank {rank} of {len(eligible)} eligible: beyond core_size={n_core} + "
             f"satellite_size={n_sat}")]
        members.append(_member(symbol, tier, rank, figs[symbol], candidates[symbol], as_of_ms,
                               window_bars, reasons))
    for symbol in sorted(set(candidates) - set(eligible)):
        fig, reasons = rows[symbol]
        members.append(_member(symbol, "excluded", None, fig, candidates[symbol], as_of_ms,
                               window_bars, reasons))
    order = {t: i for i, t in enumerate(TIERS)}
    members.sort(key=lambda m: (order[m.tier], m.rank is None, m.rank or 0, m.symbol))
    return Universe(as_of_ms, config.exchange, config.timeframe, config.hash(), tuple(members))


def _member(symbol: str, tier: str, rank: int | None, fig: Any, first_ts: int, as_of: int,
            window_bars: int, reasons: Sequence[str]) -> SymbolFigures:
    listed = first_ts <= as_of
    nan = math.nan
    return SymbolFigures(
        symbol=symbol, tier=tier, rank=rank,
        quote_volume=fig.quote_volume if fig else nan,
        range_median=fig.range_median if fig else nan,
        realized_vol=fig.realized_vol if fig else nan,
        bars=fig.bars if fig else 0,
        coverage=fig.bars / window_bars if fig else 0.0,
        first_ts=first_ts if listed else None,
        age_days=(as_of - first_ts) / DAY_MS if listed else nan,
        reasons=tuple(reasons))


@dataclass(frozen=True, slots=True)
class UniverseHistory:
    """Universes refreshed on a schedule, oldest first; answers "tradeable at ts?"."""

    every_ms: int
    snapshots: tuple[Universe, ...]

    def at(self, ts: int) -> Universe | None:
        """The newest universe computed at or before ``ts`` (None before the first)."""
        i = bisect.bisect_right([u.as_of for u in self.snapshots], int(ts))
        return self.snapshots[i - 1] if i else None

    def tradeable(self, symbol: str, ts: int) -> bool:
        """Whether ``symbol`` is core or satellite in the universe current at ``ts``."""
        current = self.at(ts)
        return current is not None and symbol in current.tradeable

    def to_json(self) -> str:
        return json.dumps({"every_ms": self.every_ms,
                           "snapshots": [u.to_dict() for u in self.snapshots]},
                          sort_keys=True, allow_nan=False)

    @classmethod
    def from_json(cls, text: str) -> UniverseHistory:
        data = json.loads(text)
        return cls(int(data["every_ms"]), tuple(Universe.from_dict(u) for u in data["snapshots"]))


def refresh_schedule(store: Any, config: UniverseConfig, start: int | str, end: int | str,
                     every: str = "1d") -> UniverseHistory:
    """Universes at every multiple of ``every`` (epoch-aligned) in ``[start, end)``.

    The grid does not depend on ``start`` beyond where it is cut, so two backtests
    over overlapping periods share their refresh times and universes. One DuckDB
    connection serves the whole schedule.
    """
    start_ms, end_ms = parse_utc_ms(start, "start"), parse_utc_ms(end, "end")
    if end_ms <= start_ms:
        raise ConfigError(f"refresh_schedule: end ({end}) must be after start ({start})")
    every_ms = timeframe_to_ms(every)
    first = -(-start_ms // every_ms) * every_ms
    with private_connection() as con:
        snaps = tuple(compute_universe(store, config, t, con=con)
                      for t in range(first, end_ms, every_ms))
    return UniverseHistory(every_ms, snaps)
