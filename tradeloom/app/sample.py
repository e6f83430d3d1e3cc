"""Load the bundled sample (``datasets/sample/``) into a store.

The sample is real exchange history (see ``datasets/sample/PROVENANCE.md``). Files
are named ``<exchange>/<BASE>-<QUOTE>[-<SETTLE>]_<what>.parquet``, where ``what`` is a
bar timeframe (``1h``: traded-price bars), ``mark-<tf>``/``index-<tf>`` (mark/index
price bars), ``oi-<tf>`` (open interest), ``funding`` or ``trades``; a third symbol
part makes a perpetual (``BTC-USDT-USDT`` is ``BTC/USDT:USDT``). Trading rules for
the sample pairs sit in ``markets/<exchange>.json``; gaps the sample is known to
have (exchange downtime in the source) in ``known_gaps.json``, recorded as known
gaps so ``tradeloom data check`` passes on them. Loading is idempotent: rows already
in the store are skipped, so ``make demo`` can call it every time.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from tradeloom.adapters.store.catalog import KnownGap
from tradeloom.adapters.store.kinds import DataKind
from tradeloom.adapters.store.locations import SAMPLE_DIR
from tradeloom.engine.errors import DataError
from tradeloom.engine.market import MarketSpec
from tradeloom.engine.timeutil import parse_utc_ms

_PREFIXES = {"mark-": DataKind.MARK, "index-": DataKind.INDEX, "oi-": DataKind.OPEN_INTEREST}
_EVENTS = {"funding": DataKind.FUNDING, "trades": DataKind.TRADES}


@dataclass(frozen=True, slots=True)
class SampleFile:
    """One bundled file and the dataset it loads into."""

    exchange: str
    symbol: str
    timeframe: str
    path: Path
    kind: str = DataKind.OHLCV.value


def parse_sample_name(exchange: str, path: Path) -> SampleFile:
    """The dataset a sample file name stands for.

    >>> f = parse_sample_name("binance", Path("BTC-USDT-USDT_mark-8h.parquet"))
    >>> f.symbol, f.timeframe, f.kind
    ('BTC/USDT:USDT', '8h', 'mark')
    """
    pair, what = path.stem.rsplit("_", 1)
    parts = pair.split("-")
    if len(parts) not in (2, 3):
        raise DataError(f"sample file {path.name}: expected BASE-QUOTE[-SETTLE]_<what>.parquet")
    symbol = f"{parts[0]}/{parts[1]}" + (f":{parts[2]}" if len(parts) == 3 else "")
    if what in _EVENTS:
        return SampleFile(exchange, symbol, "", path, _EVENTS[what].value)
    for prefix, kind in _PREFIXES.items():
        if what.startswith(prefix):
            return SampleFile(exchange, symbol, what[len(prefix):], path, kind.value)
    return SampleFile(exchange, symbol, what, path)


def sample_files(sample_dir: Path = SAMPLE_DIR) -> list[SampleFile]:
    """Every bundled data file, sorted by exchange then file name."""
    found = [parse_sample_name(path.parent.name, path)
             for path in sorted(sample_dir.glob("*/*_*.parquet"))]
    if not found:
        raise DataError(f"no sample files under {sample_dir}; is this a complete clone?")
    return found


def sample_markets(exchange: str, sample_dir: Path = SAMPLE_DIR) -> dict[str, MarketSpec]:
    """Trading rules for the sample pairs of ``exchange`` (empty when none are bundled)."""
    path = sample_dir / "markets" / f"{exchange}.json"
    if not path.is_file():
        return {}
    try:
        payload = json.loads(path.read_text(encoding="utf-8"))
        return {s: MarketSpec(s, **rules) for s, rules in sorted(payload["markets"].items())}
    except (json.JSONDecodeError, KeyError, TypeError) as exc:
        raise DataError(f"{path}: malformed market rules ({exc}); restore it from git") from exc


def sample_known_gaps(sample_dir: Path = SAMPLE_DIR) -> list[KnownGap]:
    """The gaps the sample ships as known (``known_gaps.json``), one per dataset and range."""
    path = sample_dir / "known_gaps.json"
    if not path.is_file():
        return []
    try:
        payload = json.loads(path.read_text(encoding="utf-8"))
        by = payload["acknowledged_by"]
        return [KnownGap(g["kind"], g["exchange"], g["timeframe"], symbol,
                         parse_utc_ms(g["from"], "from"), parse_utc_ms(g["to"], "to"),
                         g["reason"], by, 0, "sample")
                for g in payload["gaps"] for symbol in g["symbols"]]
    except (json.JSONDecodeError, KeyError, TypeError) as exc:
        raise DataError(f"{path}: malformed known gaps ({exc}); restore it from git") from exc


def load_sample(store, sample_dir: Path = SAMPLE_DIR) -> list[tuple[SampleFile, int]]:
    """Write every sample file into ``store``; returns (file, rows added) pairs."""
    added = []
    exchanges = []
    for item in sample_files(sample_dir):
        frame = pd.read_parquet(item.path)
        report = store.write(item.kind, item.exchange, item.timeframe, item.symbol, frame,
                             source=f"sample:{item.path.name}")
        added.append((item, report.rows_added))
        if item.exchange not in exchanges:
            exchanges.append(item.exchange)
    for exchange in exchanges:
        markets = sample_markets(exchange, sample_dir)
        if markets:
            # The sample's snapshot is the one at fetched time 0: rewritten every time, so a
            # catalog loaded by an older version gains the markets (and rules) the sample
            # has now; a snapshot fetched from the exchange (a later time) stays the newest.
            store.save_markets(exchange, markets, fetched_ts=0, raw_json=None)
    known = {(g.kind, g.exchange, g.timeframe, g.symbol, g.from_ts, g.to_ts)
             for g in store.known_gaps()}
    new = [g for g in sample_known_gaps(sample_dir)
           if (g.kind, g.exchange, g.timeframe, g.symbol, g.from_ts, g.to_ts) not in known]
    store.acknowledge_gaps(new)
    return added
