"""Load the bundled sample (``datasets/sample/``) into a store.

The sample is real exchange history (see ``datasets/sample/PROVENANCE.md``). Files
are named ``<exchange>/<BASE>-<QUOTE>_<timeframe>.parquet``; trading rules for the
sample pairs sit in ``markets/<exchange>.json``. Loading is idempotent: bars already
in the store are skipped, so ``make demo`` can call it every time.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from tradeloom.adapters.store.locations import SAMPLE_DIR
from tradeloom.engine.errors import DataError
from tradeloom.engine.market import MarketSpec



@dataclass(frozen=True, slots=True)
class SampleFile:
    exchange: str
    symbol: str
    timeframe: str
    path: Path


def sample_files(sample_dir: Path = SAMPLE_DIR) -> list[SampleFile]:
    """Every bundled bar file, sorted by exchange then symbol."""
    found = []
    for path in sorted(sample_dir.glob("*/*_*.parquet")):
        pair, timeframe = path.stem.rsplit("_", 1)
        base, quote = pair.split("-", 1)
        found.append(SampleFile(path.parent.name, f"{base}/{quote}", timeframe, path))
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


def load_sample(store, sample_dir: Path = SAMPLE_DIR) -> list[tuple[SampleFile, int]]:
    """Write every sample file into ``store``; returns (file, rows added) pairs."""
    added = []
    exchanges = []
    for item in sample_files(sample_dir):
        frame = pd.read_parquet(item.path)
        report = store.write_bars(
            item.exchange, item.timeframe, item.symbol, frame, source=f"sample:{item.path.name}"
        )
        added.append((item, report.rows_added))
        if item.exchange not in exchanges:
            exchanges.append(item.exchange)
    for exchange in exchanges:
        markets = sample_markets(exchange, sample_dir)
        if markets and not store.load_markets(exchange):
            store.save_markets(exchange, markets, fetched_ts=0, raw_json=None)
    return added
