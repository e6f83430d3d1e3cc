"""Fast-path kernels vs vectorbt ``Portfolio.from_signals`` vs the floor, in one run.

    .venv/bin/python benchmarks/bench_kernels.py [--no-vbt] [--repeat 3]

Same bars (a seeded random walk of 1m bars), same signals (SMA crossover, decided at the
close, filled at the next open: vectorbt gets the signals shifted one bar and
``price=open``), same fee (0.1 % per side), all-in. Cases:

1. one SMA(10, 50) backtest on 1,000,000 bars: ``kernels_nb.simulate_nb`` on given
   signals (fills and per-bar equity recorded, as ``fast.run_signals`` needs them), the
   same with the SMAs computed inside the kernel, and ``fast.run_signals`` end to end
   (DataFrame in, input checks, bar-length inference, kernel, ``BacktestResult`` out;
   its frames and metrics are built on first read, ``engine/vector/lazy_result.py``),
   then what reading them costs: ``.metrics`` (trades and equity curve included), and
   every frame;
2. a 100-combination sweep (fast 5..50 step 5 x slow 60..240 step 20) on 100,000 and
   1,000,000 bars: ``kernels_nb.sweep_sma_nb`` (metrics only, ``prange``).

The floor is ``kernels_nb.floor_crossover_nb`` / ``floor_sweep_nb``: a minimal
hand-written ``@njit`` crossover loop (cumulative-sum SMAs, no rounding, no checks).
Timings are the best of ``--repeat`` runs after a warm-up call; the warm-up (numba
compile, or loading the ``cache=True`` cache) is reported separately. vectorbt's 1M-bar
sweep runs 10 combinations and is scaled by 10 (its memory grows with bars x combos).
Run on demand, never as a timed test.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tradeloom.engine.indicators.series_nb import sma_nb  # noqa: E402
from tradeloom.engine.market import MarketSpec  # noqa: E402
from tradeloom.engine.vector import api as fast  # noqa: E402
from tradeloom.engine.vector import kernels_nb as nb  # noqa: E402

FEE = 0.001
CASH = 10_000.0
FASTS = np.arange(5, 55, 5)
SLOWS = np.arange(60, 260, 20)


def make_bars(n: int, seed: int = 42) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    c = 30_000.0 * np.exp(np.cumsum(rng.normal(0, 0.0008, n)))
    o = np.r_[30_000.0, c[:-1]] * np.exp(rng.normal(0, 0.0001, n))
    h = np.maximum(o, c) * np.exp(np.abs(rng.normal(0, 0.0005, n)))
    lo = np.minimum(o, c) * np.exp(-np.abs(rng.normal(0, 0.0005, n)))
    ts = np.arange(n, dtype=np.int64) * 60_000 + 1_600_000_000_000
    return {"ts": ts, "open": o, "high": h, "low": lo, "close": c, "volume": rng.uniform(1, 50, n)}


def signals(close: np.ndarray, f: int, s: int) -> tuple[np.ndarray, np.ndarray]:
    d = sma_nb(close, f) - sma_nb(close, s)
    prev = np.r_[np.nan, d[:-1]]
    return (prev <= 0) & (d > 0), (prev >= 0) & (d < 0)


def timed(fn, repeat: int) -> tuple[float, float, object]:
    """(first call seconds, best of ``repeat`` seconds, result)."""
    t0 = time.perf_counter()
    out = fn()
    first = time.perf_counter() - t0
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t0)
    return first, best, out


def spec_row() -> np.ndarray:
    return fast.spec_row(MarketSpec("BTC/USDT"), FEE, None)


def row(name: str, secs: float, bars: int, combos: int, vbt: float | None, floor: float | None, first: float | None = None) -> None:
    rate = bars * combos / secs
    parts = [f"{name:<44}", f"{secs:9.4f} s", f"{rate / 1e6:9.1f} M bar/s"]
    parts.append(f"{combos / secs:9.0f} combo/s" if combos > 1 else " " * 16)
    parts.append(f"vbt x{vbt / secs:7.1f}" if vbt else " " * 12)
    parts.append(f"floor x{secs / floor:5.2f}" if floor else " " * 12)
    if first is not None:
        parts.append(f"first call {first:6.2f} s")
    print("  ".join(parts))


def vbt_portfolio(vbt, bars, entries, exits):
    import pandas as pd

    idx = pd.to_datetime(bars["ts"], unit="ms")  # tz-naive: vectorbt is 47x slower with tz
    close = pd.Series(bars["close"], index=idx)
    open_ = pd.Series(bars["open"], index=idx)
    e = pd.DataFrame(entries, index=idx) if entries.ndim == 2 else pd.Series(entries, index=idx)
    x = pd.DataFrame(exits, index=idx) if exits.ndim == 2 else pd.Series(exits, index=idx)
    e = e.shift(1, fill_value=False)
    x = x.shift(1, fill_value=False)
    return vbt.Portfolio.from_signals(close, e, x, price=open_, fees=FEE, init_cash=CASH, freq="1min")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--no-vbt", action="store_true", help="skip vectorbt (its import takes ~15 s)")
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    rep = args.repeat
    import numba

    print(f"cores: {os.cpu_count()}, numba threads: {numba.get_num_threads()}")
    vbt = None
    if not args.no_vbt:
        t0 = time.perf_counter()
        import vectorbt as vbt  # noqa: PLC0415

        print(f"vectorbt {vbt.__version__} import: {time.perf_counter() - t0:.1f} s")
    spec = spec_row()
    tf = 60_000

    # ---------------------------------------------------------------- 1. single 1M-bar backtest
    n = 1_000_000
    b = make_bars(n)
    ent, ext = signals(b["close"], 10, 50)
    print(f"\n== single SMA(10,50) backtest, {n:,} bars, {int(ent.sum())} entries ==")
    f_first, f_best, f_val = timed(lambda: nb.floor_crossover_nb(b["open"], b["close"], 10, 50, CASH, FEE), rep)

    def kernel_signals():
        eq, cash, expo, fees = np.empty(n), np.empty(n), np.empty(n), np.empty(n)
        acc = np.empty(nb.N_ACC)
        return nb.simulate_nb(b["open"], b["high"], b["low"], b["close"], b["volume"], b["ts"], tf, 0,
                              ent, ext, np.empty(0), np.empty(0), CASH, 1.0, spec, 0.0, 0.0, 0.0, 0, True, 0,
                              eq, cash, expo, fees, acc)

    def kernel_inline():
        eq = np.empty((1, 0))
        return nb.sweep_sma_nb(b["open"], b["high"], b["low"], b["close"], b["volume"], b["ts"], tf,
                               np.array([10]), np.array([50]), CASH, 1.0, spec, 0.0, 0.0, 0.0, 0, eq)

    import pandas as pd

    frame = pd.DataFrame(b)
    k_first, k_best, (recs, nf) = timed(kernel_signals, rep)
    i_first, i_best, acc1 = timed(kernel_inline, rep)
    a_first, a_best, res = timed(lambda: fast.run_signals(frame, ent, ext, fee=FEE, init_cash=CASH), rep)

    def with_metrics():
        out = fast.run_signals(frame, ent, ext, fee=FEE, init_cash=CASH)
        _ = out.metrics  # reading it builds the metrics (lazy)
        return out

    def with_everything():
        out = fast.run_signals(frame, ent, ext, fee=FEE, init_cash=CASH)
        for name in ("metrics", "fills", "orders", "trades", "equity", "final_positions"):
            getattr(out, name)
        return out

    _, m_best, _ = timed(with_metrics, rep)
    _, e_best, _ = timed(with_everything, rep)
    vbt_single = None
    if vbt is not None:
        v_first, vbt_single, pf = timed(lambda: vbt_portfolio(vbt, b, ent, ext), 1)
        print(f"vectorbt final value {float(pf.final_value()):.4f} (first call {v_first:.2f} s)")
    print(f"kernel final equity  {res.metrics['final_equity']:.4f}, fills {nf}; floor {f_val:.4f}")
    row("floor (minimal @njit crossover)", f_best, n, 1, vbt_single, None, f_first)
    row("kernel simulate_nb (signals, fills+equity)", k_best, n, 1, vbt_single, f_best, k_first)
    row("kernel SMA inside (metrics only)", i_best, n, 1, vbt_single, f_best, i_first)
    row("fast.run_signals end to end", a_best, n, 1, vbt_single, f_best)
    row("  + read .metrics", m_best, n, 1, vbt_single, f_best)
    row("  + read every frame and the metrics", e_best, n, 1, vbt_single, f_best)
    if vbt_single:
        row("vectorbt Portfolio.from_signals", vbt_single, n, 1, vbt_single, f_best)

    # ---------------------------------------------------------------- 2. 100-combination sweeps
    fa = np.repeat(FASTS, SLOWS.size).astype(np.int64)
    sa = np.tile(SLOWS, FASTS.size).astype(np.int64)
    for n in (100_000, 1_000_000):
        b = make_bars(n)
        print(f"\n== sweep {fa.size} combos (fast {FASTS[0]}..{FASTS[-1]} x slow {SLOWS[0]}..{SLOWS[-1]}), {n:,} bars ==")
        eq = np.empty((fa.size, 0))
        s_first, s_best, acc = timed(lambda: nb.sweep_sma_nb(b["open"], b["high"], b["low"], b["close"], b["volume"],
                                                            b["ts"], tf, fa, sa, CASH, 1.0, spec, 0.0, 0.0, 0.0, 0, eq), rep)
        fl_first, fl_best, _ = timed(lambda: nb.floor_sweep_nb(b["open"], b["close"], fa, sa, CASH, FEE), rep)
        t_first, t_best, table = timed(lambda: fast.sweep_sma_cross(pd.DataFrame(b), FASTS, SLOWS, fee=FEE), 1)
        vbt_sweep = None
        if vbt is not None:
            k = fa.size if n <= 100_000 else 10
            close = b["close"]
            es, xs = zip(*(signals(close, int(f), int(s)) for f, s in zip(fa[:k], sa[:k])))
            e2, x2 = np.stack(es, axis=1), np.stack(xs, axis=1)
            _, vb, pf = timed(lambda: vbt_portfolio(vbt, b, e2, x2), 1)
            vbt_sweep = vb * fa.size / k
            note = "" if k == fa.size else f" (10 combos x {fa.size // 10})"
            vals = np.asarray(pf.final_value())
            print(f"vectorbt best final value {vals.max():.2f}{note}; kernel best {table['final_equity'].max():.2f}")
        row("floor sweep (prange)", fl_best, n, fa.size, vbt_sweep, None, fl_first)
        row("kernel sweep_sma_nb (prange, all metrics)", s_best, n, fa.size, vbt_sweep, fl_best, s_first)
        row("fast.sweep_sma_cross end to end", t_best, n, fa.size, vbt_sweep, fl_best)
        if vbt_sweep:
            row("vectorbt from_signals (signals given)", vbt_sweep, n, fa.size, vbt_sweep, fl_best)


if __name__ == "__main__":
    main()
