"""Sweeps of rule files on the fast path vs the same sweeps through the event engine.

    .venv/bin/python benchmarks/bench_rule_sweep.py [--repeat 3] [--processes 2]

On the bundled Binance BTC/USDT 1h (5,482 bars, loaded into a temporary catalog):

1. ``examples/rules/sma_cross.toml``, 100 combinations
   (``indicators.fast.period=5:50:5`` x ``indicators.slow.period=60:240:20``);
2. ``examples/rules/breakout.toml``, 100 combinations (``indicators.channel.period``
   x ``exit.take_profit.1.at``): brackets with a two-level take-profit and a time stop;
3. ``research/strategies/rsi_reversion.py:RsiReversion``, 100 combinations, the template
   on its vectorized form.

Each sweep runs through ``run_sweep`` as ``tradeloom sweep`` does: ``engine="auto"`` (the
vectorized form: a few kernel calls) and ``engine="event"`` (one event-engine backtest
per combination on a local pool of ``--processes``). The fast time is the best of
``--repeat`` runs after a warm-up (numba's cache loaded); the event time is one run.
The largest relative difference between the two tables' metrics is printed too.
Run on demand, never as a timed test.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tradeloom.adapters.store.market_store import MarketStore  # noqa: E402
from tradeloom.app.sample import load_sample  # noqa: E402
from tradeloom.engine.results.result import METRIC_KEYS  # noqa: E402
from tradeloom.research.sweeps.executors import LocalExecutor  # noqa: E402
from tradeloom.research.sweeps.jobs import DataSpec  # noqa: E402
from tradeloom.research.sweeps.sweep import run_sweep  # noqa: E402

CASES = [
    ("sma_cross.toml", str(ROOT / "examples" / "rules" / "sma_cross.toml"),
     ["indicators.fast.period=5:50:5", "indicators.slow.period=60:240:20"]),
    ("breakout.toml", str(ROOT / "examples" / "rules" / "breakout.toml"),
     ["indicators.channel.period=12:120:12", "exit.take_profit.1.at=0.03:0.12:0.01"]),
    ("RsiReversion", "tradeloom.research.strategies.rsi_reversion:RsiReversion",
     ["period=6:24:2", "stop_pct=0.01:0.1:0.01"]),
]


def max_rel_diff(a, b) -> float:
    worst = 0.0
    for key in METRIC_KEYS:
        x, y = a[key].to_numpy(dtype=float), b[key].to_numpy(dtype=float)
        both = np.isfinite(x) & np.isfinite(y)
        if not np.array_equal(np.isnan(x), np.isnan(y)):
            return float("inf")
        d = np.abs(x[both] - y[both]) / np.maximum(np.maximum(np.abs(x[both]), np.abs(y[both])), 1e-300)
        worst = max(worst, float(d.max(initial=0.0)))
    return worst


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--processes", type=int, default=2)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        store = MarketStore(tmp)
        load_sample(store)
        data = DataSpec(tmp, "binance", "1h", ("BTC/USDT",))
        print(f"BTC/USDT 1h, {len(store.read_bars('binance', '1h', 'BTC/USDT'))} bars; event engine "
              f"on {args.processes} processes")
        with LocalExecutor(processes=args.processes) as pool:
            for name, ref, grid in CASES:
                run_sweep(ref, data, [g.split("=")[0] + "=" + g.split("=")[1].split(":")[0]
                                      for g in grid], executor=pool)  # warm-up
                best = float("inf")
                for _ in range(args.repeat):
                    t0 = time.perf_counter()
                    fast = run_sweep(ref, data, grid, executor=pool)
                    best = min(best, time.perf_counter() - t0)
                t0 = time.perf_counter()
                event = run_sweep(ref, data, grid, executor=pool, engine="event")
                slow = time.perf_counter() - t0
                n = len(fast.table)
                print(f"{name:<16} {n} combinations: fast path ({fast.engine}) {best:6.2f} s, "
                      f"event engine {slow:6.2f} s, x{slow / best:5.1f}; max relative metric "
                      f"difference {max_rel_diff(fast.table, event.table):.1e}")


if __name__ == "__main__":
    main()
