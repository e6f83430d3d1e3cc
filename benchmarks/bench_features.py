"""Feature speed: the default library over 1,000,000 one-minute bars, batch and online.

1. Builds a synthetic random walk of ``--rows`` 1m bars (and a correlated market
   series for the cross-asset features).
2. Batch: ``default_pipeline("1m").batch(bars, market=market)``, after one small
   call that compiles the numba kernels (their compile time is printed apart).
3. Online: ``update_market`` + ``update`` per bar over the first ``--online-bars``
   bars, the cost a live strategy pays per closed bar.
Prints seconds, bars/s and per-bar microseconds for both (wall clock, and CPU time
so a busy shared machine does not hide the real cost).

Run:  .venv/bin/python benchmarks/bench_features.py [--rows 1000000] [--online-bars 20000]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import pandas as pd

from tradeloom.research.features.library import default_pipeline

MINUTE = 60_000
START = 1_704_067_200_000  # 2024-01-01T00:00:00Z


def synthetic(rows: int, seed: int, base: np.ndarray | None = None) -> pd.DataFrame:
    """OHLCV random walk; with ``base`` the returns are correlated with it."""
    rng = np.random.default_rng(seed)
    r = rng.normal(0.0, 8e-4, rows)
    if base is not None:
        r = 0.6 * base + 0.8 * r
    close = 30_000.0 * np.exp(np.cumsum(r))
    opn = np.r_[close[0], close[:-1]]
    wig = np.abs(rng.normal(0.0, 4e-4, (2, rows)))
    return pd.DataFrame({
        "ts": START + np.arange(rows, dtype=np.int64) * MINUTE, "open": opn,
        "high": np.maximum(opn, close) * (1 + wig[0]), "low": np.minimum(opn, close) * (1 - wig[1]),
        "close": close, "volume": rng.lognormal(3.0, 1.0, rows),
    }), r


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--online-bars", type=int, default=20_000)
    args = parser.parse_args()

    market, mret = synthetic(args.rows, 1)
    bars, _ = synthetic(args.rows, 2, base=mret)
    pipe = default_pipeline("1m")
    print(f"default pipeline: {len(pipe)} features, warm-up {pipe.warmup} bars, "
          f"{args.rows:,} 1m bars")

    t = time.perf_counter()
    pipe.batch(bars.iloc[:1000], market=market.iloc[:1000])
    print(f"numba compile/load (first call): {time.perf_counter() - t:.2f} s")

    t, c = time.perf_counter(), time.process_time()
    out = pipe.batch(bars, market=market)
    dt, cpu = time.perf_counter() - t, time.process_time() - c
    print(f"batch : {dt:8.2f} s  {args.rows / dt:12,.0f} bars/s  {dt / args.rows * 1e6:8.2f} us/bar"
          f"  (cpu {cpu:.2f} s; {out.shape[1]} columns, {out.to_numpy().nbytes / 2**20:,.0f} MiB)")

    n = min(args.online_bars, args.rows)
    online = pipe.online()
    brow = bars.iloc[:n].to_dict("records")
    mrow = market.iloc[:n].to_dict("records")
    t, c = time.perf_counter(), time.process_time()
    for b, m in zip(brow, mrow, strict=True):
        online.update_market(m)
        last = online.update(b)
    dt, cpu = time.perf_counter() - t, time.process_time() - c
    print(f"online: {dt:8.2f} s  {n / dt:12,.0f} bars/s  {dt / n * 1e6:8.2f} us/bar"
          f"  (cpu {cpu / n * 1e6:.1f} us/bar; update_market + update, {n:,} bars)")
    ref = out.iloc[n - 1].to_numpy()
    same = np.array_equal(last, ref, equal_nan=True)
    print(f"online == batch on bar {n - 1:,}: {same}")


if __name__ == "__main__":
    main()
