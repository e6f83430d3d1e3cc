"""Store at scale: 100M one-minute bars (40 symbols x 5 years), local disk and S3.

For each back end (a temporary directory; an S3 API server on 127.0.0.1, moto's server
mode, started here), every phase runs in a fresh subprocess so its peak RSS is its own:

1. write: a synthetic random walk per symbol through ``MarketStore.write_bars``, one
   call per symbol-year (as an ingest's page groups would, but larger);
2. check: ``MarketStore.check()`` over all 40 datasets (every file read and verified);
3. stream: ``iter_batches`` over every dataset, one symbol after another, summing a
   column (target: peak RSS < 300 MB);
4. read to numpy: one symbol's 5 years through ``read_arrow`` against plain
   ``pyarrow.parquet.read_table`` of the same files, interleaved, best of 6
   (target: within 1.1x);
5. backtest: the SMA(10,50) crossover over a 10-symbol slice (one year of 1m bars each,
   the k-way merged stream) through the event engine;
6. resample: DuckDB over ``MarketStore.arrow_dataset`` - daily OHLCV of all 100M bars.

Run:  nice .venv/bin/python benchmarks/bench_store.py [--symbols 40 --years 5] [--no-s3]
Check free disk first (``df -h``): 100M bars take about 3-4 GB of zstd Parquet per back
end (random-walk floats compress poorly).
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
MINUTE = 60_000
START = 1_577_836_800_000  # 2020-01-01T00:00:00Z
EXCHANGE, TIMEFRAME = "bench", "1m"


def symbols(n: int) -> list[str]:
    return [f"S{i:02d}/USDT" for i in range(n)]


def year_bounds(years: int) -> list[int]:
    import numpy as np

    return [int(np.datetime64(f"{2020 + k}-01-01", "ms").astype(np.int64))
            for k in range(years + 1)]


# ----------------------------------------------------------------------------- phases

def phase_write(location: str, n_symbols: int, years: int) -> dict:
    import numpy as np
    import pandas as pd

    from tradeloom.adapters.store.market_store import MarketStore

    store = MarketStore(location)
    bounds = year_bounds(years)
    rows = 0
    began = time.perf_counter()
    for k, symbol in enumerate(symbols(n_symbols)):
        rng = np.random.default_rng(k)
        last = 100.0 + k
        for lo, hi in itertools.pairwise(bounds):
            ts = np.arange(lo, hi, MINUTE, dtype=np.int64)
            close = np.round(last * np.exp(np.cumsum(rng.normal(0.0, 5e-4, len(ts)))), 2)
            open_ = np.concatenate(([last], close[:-1]))
            spread = np.round(np.abs(rng.normal(0.0, 0.02, (2, len(ts)))), 2)
            frame = pd.DataFrame({
                "ts": ts, "open": open_, "high": np.maximum(open_, close) + spread[0],
                "low": np.minimum(open_, close) - spread[1], "close": close,
                "volume": np.round(rng.gamma(2.0, 5.0, len(ts)), 3)})
            last = float(close[-1])
            rows += store.write_bars(EXCHANGE, TIMEFRAME, symbol, frame,
                                     source="bench").rows_added
    return {"rows": rows, "seconds": time.perf_counter() - began}


def phase_check(location: str) -> dict:
    from tradeloom.adapters.store.market_store import MarketStore

    began = time.perf_counter()
    reports = MarketStore(location).check(exchange=EXCHANGE)
    return {"datasets": len(reports), "ok": all(r.ok for r in reports),
            "rows": sum(r.rows for r in reports), "seconds": time.perf_counter() - began}


def phase_stream(location: str) -> dict:
    from tradeloom.adapters.store.market_store import MarketStore

    store = MarketStore(location)
    began, rows, checksum = time.perf_counter(), 0, 0.0
    for info in store.list_datasets():
        for batch in store.iter_batches(EXCHANGE, TIMEFRAME, info.symbol):
            rows += batch.num_rows
            checksum += float(batch.column("close").to_numpy().sum())
    return {"rows": rows, "checksum": round(checksum, 2), "seconds": time.perf_counter() - began}


def phase_numpy(location: str) -> dict:
    import pyarrow as pa
    import pyarrow.parquet as pq

    from tradeloom.adapters.store.market_store import MarketStore

    store = MarketStore(location)
    symbol = symbols(1)[0]
    parts = store._catalog.partitions(EXCHANGE, TIMEFRAME, [symbol])[symbol]
    storage = store.storage
    if storage.remote:
        files, fs = [storage.key(p.path) for p in parts], storage.fs
    else:
        files, fs = [str(storage.root / p.path) for p in parts], None
    columns = ("ts", "open", "high", "low", "close", "volume")

    def via_store():
        table = store.read_arrow(EXCHANGE, TIMEFRAME, symbol)
        return [table.column(c).to_numpy() for c in columns]

    def via_pyarrow():
        table = pa.concat_tables([pq.read_table(f, filesystem=fs) for f in files])
        return [table.column(c).to_numpy() for c in columns]

    times = {"store": [], "pyarrow": []}
    order = (("store", via_store), ("pyarrow", via_pyarrow))
    for k in range(6):
        for name, fn in order if k % 2 else order[::-1]:
            began = time.perf_counter()
            rows = len(fn()[0])
            times[name].append(time.perf_counter() - began)
    best = {k: min(v) for k, v in times.items()}
    return {"rows": rows, "store_s": best["store"], "pyarrow_s": best["pyarrow"],
            "ratio": best["store"] / best["pyarrow"]}


def phase_backtest(location: str, years: int, n_symbols: int) -> dict:
    from tradeloom.research.backtest import run_backtest

    slice_ = symbols(min(10, n_symbols))
    bounds = year_bounds(years)
    began = time.perf_counter()
    result = run_backtest("research/strategies/sma_cross.py:SmaCross", slice_, TIMEFRAME,
                          bounds[-2], bounds[-1], {"fast": 10, "slow": 50}, location,
                          exchange=EXCHANGE)
    seconds = time.perf_counter() - began
    bars = len(slice_) * (bounds[-1] - bounds[-2]) // MINUTE
    return {"symbols": len(slice_), "bars": bars, "seconds": seconds, "bars_per_s": bars / seconds,
            "trades": int(result.metrics.get("trades", 0)) if hasattr(result, "metrics") else None}


def phase_resample(location: str) -> dict:
    import duckdb

    from tradeloom.adapters.store.market_store import MarketStore

    dataset = MarketStore(location).arrow_dataset(EXCHANGE, TIMEFRAME)
    # a streaming reader with little read-ahead: DuckDB's memory_limit does not cover Arrow's
    ds = dataset.scanner(batch_size=131_072, batch_readahead=1,  # noqa: F841 - used by SQL
                         fragment_readahead=1).to_reader()
    con = duckdb.connect()
    con.execute("SET memory_limit = '200MB'")
    con.execute("SET threads = 2")
    began = time.perf_counter()
    days = con.sql("""
        SELECT symbol, ts // 86400000 * 86400000 AS day, arg_min(open, ts) AS open,
               max(high) AS high, min(low) AS low, arg_max(close, ts) AS close,
               sum(volume) AS volume, count(*) AS bars
        FROM ds GROUP BY ALL""").to_arrow_table()
    seconds = time.perf_counter() - began
    full = int((days.column("bars").to_numpy() == 1440).sum())
    return {"daily_bars": days.num_rows, "full_days": full, "seconds": seconds}


PHASES = {"write": phase_write, "check": phase_check, "stream": phase_stream,
          "numpy": phase_numpy, "backtest": phase_backtest, "resample": phase_resample}


def child(name: str, args: list[str]) -> None:
    typed = [int(a) if a.isdigit() else a for a in args]
    out = PHASES[name](*typed)
    out["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print("RESULT " + json.dumps(out))


def run_phase(name: str, env: dict, *args: object) -> dict:
    proc = subprocess.run([sys.executable, __file__, "--phase", name, *map(str, args)],
                          cwd=REPO, env=env, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise SystemExit(f"phase {name} failed:\n{proc.stdout}\n{proc.stderr}")
    line = next(x for x in proc.stdout.splitlines() if x.startswith("RESULT "))
    return json.loads(line[len("RESULT "):])


# ----------------------------------------------------------------------------- driver

def bench(label: str, location: str, env: dict, n_symbols: int, years: int) -> None:
    print(f"== {label}: {location}", flush=True)
    w = run_phase("write", env, location, n_symbols, years)
    print(f"write   {w['rows']:,} bars in {w['seconds']:.0f} s ({w['rows'] / w['seconds']:,.0f} "
          f"bars/s), peak RSS {w['peak_rss_mb']:.0f} MB", flush=True)
    c = run_phase("check", env, location)
    print(f"check   {c['datasets']} datasets, {c['rows']:,} bars, ok={c['ok']} in "
          f"{c['seconds']:.0f} s, peak RSS {c['peak_rss_mb']:.0f} MB", flush=True)
    s = run_phase("stream", env, location)
    print(f"stream  {s['rows']:,} bars in {s['seconds']:.0f} s ({s['rows'] / s['seconds']:,.0f} "
          f"bars/s), peak RSS {s['peak_rss_mb']:.0f} MB (target < 300 MB)", flush=True)
    n = run_phase("numpy", env, location)
    print(f"numpy   one symbol ({n['rows']:,} bars): store {n['store_s']:.3f} s, "
          f"pyarrow.parquet.read_table {n['pyarrow_s']:.3f} s, ratio {n['ratio']:.2f}x "
          f"(target <= 1.1x)", flush=True)
    b = run_phase("backtest", env, location, years, n_symbols)
    print(f"backtest SMA(10,50), {b['symbols']} symbols x 1 year of 1m bars ({b['bars']:,} bars): "
          f"{b['seconds']:.0f} s ({b['bars_per_s']:,.0f} bars/s), peak RSS "
          f"{b['peak_rss_mb']:.0f} MB", flush=True)
    r = run_phase("resample", env, location)
    print(f"resample DuckDB daily OHLCV over all bars: {r['daily_bars']:,} daily bars "
          f"({r['full_days']:,} full days) in {r['seconds']:.0f} s, peak RSS "
          f"{r['peak_rss_mb']:.0f} MB", flush=True)


def start_s3(tmp: Path) -> tuple[subprocess.Popen, dict]:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    moto = shutil.which("moto_server", path=str(Path(sys.executable).parent))
    if moto is None:
        raise SystemExit("the S3 run needs moto's server: pip install 'moto[server]'")
    server = subprocess.Popen([moto, "-H", "127.0.0.1", "-p", str(port)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                              env={**os.environ, "TMPDIR": str(tmp)})
    env = {**os.environ, "AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench-secret",
           "AWS_REGION": "us-east-1", "AWS_ENDPOINT_URL": f"http://127.0.0.1:{port}",
           "AWS_EC2_METADATA_DISABLED": "true", "TRADELOOM_CACHE_DIR": str(tmp / "cache")}
    import boto3

    deadline = time.monotonic() + 30
    while True:
        try:
            boto3.client("s3", endpoint_url=env["AWS_ENDPOINT_URL"], region_name="us-east-1",
                         aws_access_key_id="bench", aws_secret_access_key="bench-secret"
                         ).create_bucket(Bucket="tradeloom-bench")
            break
        except Exception:
            if time.monotonic() > deadline:
                server.kill()
                raise
            time.sleep(0.2)
    return server, env


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--symbols", type=int, default=40)
    parser.add_argument("--years", type=int, default=5)
    parser.add_argument("--no-s3", action="store_true", help="local disk only")
    parser.add_argument("--no-local", action="store_true", help="S3 only")
    parser.add_argument("--phase", help=argparse.SUPPRESS)
    args, rest = parser.parse_known_args()
    if args.phase:
        child(args.phase, rest)
        return
    rows = args.symbols * (year_bounds(args.years)[-1] - year_bounds(args.years)[0]) // MINUTE
    print(f"{args.symbols} symbols x {args.years} years of 1m bars = {rows:,} bars", flush=True)
    with tempfile.TemporaryDirectory(prefix="bench_store_", dir=os.environ.get("BENCH_DIR")) as d:
        root = Path(d)
        if not args.no_local:
            bench("local disk", str(root / "local"), dict(os.environ), args.symbols, args.years)
            size = sum(f.stat().st_size for f in (root / "local").rglob("*.parquet"))
            print(f"        {size / 2**30:.2f} GiB of Parquet on disk", flush=True)
            shutil.rmtree(root / "local")
        if not args.no_s3:
            (root / "s3").mkdir()
            server, env = start_s3(root / "s3")
            try:
                bench("S3 API server (moto) on 127.0.0.1", "s3://tradeloom-bench/store", env,
                      args.symbols, args.years)
            finally:
                server.kill()


if __name__ == "__main__":
    main()
