"""Regenerate ``examples/journals/paper-sma.jsonl``: a real paper session of
``examples/paper.toml`` (300 live bars of the bundled Binance sample, through the real
ccxt client against the loopback emulator), the journal ``tradeloom replay --help``
names.

    .venv/bin/python tests/support/example_journal.py

The help-example test (``tests/unit/app/test_cli_examples.py``) replays it with zero
divergence.
"""

from __future__ import annotations

import asyncio
import shutil
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from emulator import BinanceEmulator  # noqa: E402
from runner_helpers import SIM_SETTINGS, exchange_settings, start_at  # noqa: E402

from tradeloom.app.live_config import LiveConfig, load_live_config  # noqa: E402
from tradeloom.app.session import open_paper  # noqa: E402

ROOT = HERE.parents[1]
TARGET = ROOT / "examples" / "journals" / "paper-sma.jsonl"


def main() -> None:
    base = load_live_config(ROOT / "examples" / "paper.toml")
    with BinanceEmulator(["BTC/USDT"]) as emu, tempfile.TemporaryDirectory() as tmp:
        cfg = LiveConfig.model_validate({**base.model_dump(), "state_dir": Path(tmp),
                                         "exchange": exchange_settings(emu).model_dump()})

        async def run() -> Path:
            session = await open_paper(cfg, clock=start_at(emu, 400), settings=SIM_SETTINGS)
            try:
                await session.runner.run(max_bars=300)
            finally:
                await session.close()
            return session.journal_path

        shutil.copyfile(asyncio.run(run()), TARGET)
    print(f"wrote {TARGET}")


if __name__ == "__main__":
    main()
