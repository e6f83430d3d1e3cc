"""Store speed and memory: 10,000,000 one-minute bars of one symbol.

1. Writes a synthetic random walk through ``MarketStore.write_bars`` (one call per
   calendar year, as an ingest would) into a temporary directory.
2. Reads it all back into numpy arrays (six columns) through the store and through
   plain ``pyarrow.parquet.read_table`` of the same files; best of 3 each; prints
   both and the ratio (target <= 1.5x).
3. Streams the whole set with ``iter_batches`` in a fresh subprocess and prints the
   peak RSS growth (target < 300 MB).

Run:  .venv/bin/python benchmarks/bench_store.py [--rows 10000000]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from tradeloom.adapters.store.market_store import MarketStore
import itertools

COLUMNS = ("ts", "open", "high", "low", "close", "volume")
MINUTE = 60_000
START = 1_136_073_600_000  # 2006-01-01T00:00:00Z
EXCHANGE, TIMEFRAME, SYMBOL = "binance", "1m", "BTC/USDT"

_STREAM = """
import json, sys, psutil
from tradeloom.adapters.store.market_store import MarketStore
store = MarketStore(sys.argv[1])
proc = psutil.Process()
base = proc.memory_info().rss
peak, rows, total = base, 0, 0.0
for batch in store.iter_batches("binance", "1m", "BTC/USDT"):
    rows += batch.num_rows
    total += float(batch.column("close").to_numpy().sum())
    peak = max(peak, proc.memory_info().rss)
print(json.dumps({"rows": rows, "growth_mb": (peak - base) / 2**20, "checksum": total}))
"""


def synthetic_year(start: int, end: int, rng: np.random.Generator, last: float) -> pd.DataFrame:
    ts = np.arange(start, end, MINUTE, dtype=np.int64)
    close = last * np.exp(np.cumsum(rng.normal(0.0, 1e-3, len(ts))))
    open_ = np.concatenate(([last], close[:-1]))
    wiggle = np.abs(rng.normal(0.0, 5e-4, (2, len(ts))))
    return pd.DataFrame({
        "ts": ts, "open": open_, "high": np.maximum(open_, close) * (1 + wiggle[0]),
        "low": np.minimum(open_, close) * (1 - wiggle[1]), "close": close,
        "volume": rng.gamma(2.0, 5.0, len(ts))})


def build(store: MarketStore, rows: int) -> float:
    rng = np.random.default_rng(7)
    end_ts = START + rows * MINUTE
    years = pd.date_range("2006-01-01", periods=40, freq="YS", tz="UTC")
    bounds = [int(y.value // 1_000_000) for y in years]
    began, last = time.perf_counter(), 100.0
    for lo, hi in itertools.pairwise(bounds):
        if lo >= end_ts:
            break
        frame = synthetic_year(lo, min(hi, end_ts), rng, last)
        last = float(frame["close"].iloc[-1])
        store.write_bars(EXCHANGE, TIMEFRAME, SYMBOL, frame, source="bench")
    return time.perf_counter() - began


def interleaved_best(store_read, *arrow_reads, repeat: int = 3) -> tuple[float, float]:
    """Best of ``repeat`` for the store and for the fastest plain-pyarrow read.

    Runs alternate so that load from other processes hits both sides alike.
    """
    store_times, arrow_times = [], []
    for _ in range(repeat):
        for fn, sink in [(store_read, store_times)] + [(f, arrow_times) for f in arrow_reads]:
            began = time.perf_counter()
            fn()
            sink.append(time.perf_counter() - began)
    return min(store_times), min(arrow_times)


def via_store(store: MarketStore) -> list[np.ndarray]:
    table = store.read_arrow(EXCHANGE, TIMEFRAME, SYMBOL)
    return [table.column(c).to_numpy() for c in COLUMNS]


def via_pyarrow(files: list[Path]) -> list[np.ndarray]:
    table = pa.concat_tables([pq.read_table(f) for f in files])
    return [table.column(c).to_numpy() for c in COLUMNS]


def via_pyarrow_dataset(files: list[Path]) -> list[np.ndarray]:
    table = pq.read_table([str(f) for f in files])
    return [table.column(c).to_numpy() for c in COLUMNS]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=10_000_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench_store_") as root:
        store = MarketStore(root)
        write_s = build(store, args.rows)
        (info,) = store.list_datasets()
        files = sorted((Path(root) / "ohlcv").rglob("*.parquet"))
        size_mb = sum(f.stat().st_size for f in files) / 2**20
        print(f"wrote {info.rows:,} bars in {len(files)} year files ({size_mb:.0f} MB zstd) "
              f"in {write_s:.1f} s")
        check = via_store(store)
        assert len(check[0]) == args.rows  # the benchmark's own sanity check
        del check
        store_s, arrow_s = interleaved_best(
            lambda: via_store(store), lambda: via_pyarrow(files),
            lambda: via_pyarrow_dataset(files))
        print(f"read to numpy, best of 3: store {store_s:.3f} s, pyarrow.parquet.read_table "
              f"{arrow_s:.3f} s, ratio {store_s / arrow_s:.2f}x (target <= 1.5x)")
        result = subprocess.run([sys.executable, "-c", _STREAM, root], check=True,
                                capture_output=True, text=True)
        stream = json.loads(result.stdout)
        print(f"iter_batches over {stream['rows']:,} bars: peak RSS growth "
              f"{stream['growth_mb']:.0f} MB (target < 300 MB)")


if __name__ == "__main__":
    main()
