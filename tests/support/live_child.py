"""A live runner session in its own process, for the SIGKILL test (test_live_crash.py).

``python live_child.py PORT STATE_DIR START_MS BARS``: the Ladder strategy live against
the emulator on 127.0.0.1:PORT (credentials from TRADELOOM_API_KEY/SECRET), on a manual
clock that drives the emulator's clock over HTTP (``POST /_emu/advance``). Prints
``BAR n`` after each live bar (flushed) so the parent knows where it is.
"""

from __future__ import annotations

import asyncio
import sys
import urllib.request
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from crash_config import CRASH_SETTINGS, crash_config

from tradeloom.adapters.clock import ManualClock
from tradeloom.app.session import open_live
from tradeloom.cli.live import ccxt_broker_factory


def main(port: int, state_dir: Path, start_ms: int, bars: int) -> None:
    base = f"http://127.0.0.1:{port}"
    clock = ManualClock(start_ms)

    def advance(now: int) -> None:
        req = urllib.request.Request(f"{base}/_emu/advance?ts={now}", method="POST", data=b"")
        with urllib.request.urlopen(req, timeout=10):
            pass

    clock.on_advance(advance)
    config = crash_config(base, state_dir)

    async def run() -> None:
        session = await open_live(config, confirm_live=True, broker_factory=ccxt_broker_factory,
                                  clock=clock, settings=CRASH_SETTINGS)
        runner = session.runner
        await runner.start()
        print("STARTED", flush=True)
        while runner.summary.bars < bars:
            before = runner.summary.bars
            await runner.round()
            if runner.summary.bars != before:
                print(f"BAR {runner.summary.bars}", flush=True)
        runner.finish()
        await session.close()

    asyncio.run(run())


if __name__ == "__main__":
    main(int(sys.argv[1]), Path(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]))
