"""Live decision latency against the Binance emulator on loopback.

A live session (the real ccxt client, the ``CcxtBroker``, the ``LiveRunner``) runs a
strategy over a few hundred replayed 1h bars of the emulator, on a manual clock that
drives the emulator's clock (no real waiting for bars). Every bar is a decision for
the ``ladder`` strategy (limit orders rest, fill, get cancelled) and a few are for
``sma`` (market orders on crosses). The runner's ``StageTimings`` give p50/p95/p99 per
stage (see ``adapters/live/stage_timing.py``): ``to_strategy``, ``strategy``, ``risk``,
``send`` (queueing for the sender thread: the network is excluded by design) and
``decision`` (event receipt -> broker submit call), the issue's target: p99 < 5 ms.

Usage::

    .venv/bin/python benchmarks/bench_live.py [--bars 300] [--strategy ladder|sma]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "support"))

from crash_config import CRASH_SETTINGS, crash_config
from emulator import BinanceEmulator
from live_helpers import API_KEY, SECRET
from runner_helpers import PARAMS, SMA
from tradeloom.adapters.clock import ManualClock
from tradeloom.app.session import open_live

from tradeloom.cli.live import ccxt_broker_factory

TARGET_P99_MS = 5.0
ENV = {"TRADELOOM_API_KEY": API_KEY, "TRADELOOM_API_SECRET": SECRET}


async def _session(emu: BinanceEmulator, state: Path, bars: int, strategy: str) -> dict:
    clock = ManualClock(emu.now_ms)
    clock.on_advance(emu.advance_to)
    config = crash_config(emu.base_url, state)
    if strategy == "sma":
        config = config.model_copy(update={"strategy": SMA, "params": PARAMS})
    session = await open_live(config, confirm_live=True, broker_factory=ccxt_broker_factory,
                              clock=clock, environ=ENV, settings=CRASH_SETTINGS)
    try:
        summary = await session.runner.run(max_bars=bars)
    finally:
        await session.close()
    return {"bars": summary.bars, "orders": summary.orders, "fills": summary.fills,
            "stages": summary.stages}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bars", type=int, default=300)
    parser.add_argument("--strategy", choices=("ladder", "sma"), default="ladder")
    args = parser.parse_args()
    with BinanceEmulator(["BTC/USDT"]) as emu, tempfile.TemporaryDirectory() as tmp:
        emu.add_account(API_KEY, SECRET, {"USDT": 10_000.0})
        emu.now_ms = int(emu.bars("BTC/USDT")["ts"].iloc[100]) + 1_000
        out = asyncio.run(_session(emu, Path(tmp) / "state", args.bars, args.strategy))
    print(f"live session, {args.strategy}: {out['bars']} bars, {out['orders']} orders, "
          f"{out['fills']} fills (emulator on 127.0.0.1, real ccxt client)")
    print(f"{'stage':<12} {'count':>7} {'p50 ms':>9} {'p95 ms':>9} {'p99 ms':>9}")
    for stage, row in out["stages"].items():
        print(f"{stage:<12} {int(row['count']):>7} {row['p50_ms']:>9.3f} {row['p95_ms']:>9.3f} "
              f"{row['p99_ms']:>9.3f}")
    p99 = out["stages"].get("decision", {}).get("p99_ms")
    if p99 is None:
        print("no decisions were made; nothing to judge")
        return 1
    verdict = "met" if p99 < TARGET_P99_MS else "MISSED"
    print(f"decision p99 {p99:.3f} ms (receipt -> submit call, network excluded): target "
          f"< {TARGET_P99_MS} ms {verdict}")
    return 0 if p99 < TARGET_P99_MS else 1


if __name__ == "__main__":
    raise SystemExit(main())
