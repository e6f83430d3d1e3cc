"""The config the crash test's child process and its restart share."""

from __future__ import annotations

from pathlib import Path

from tradeloom.adapters.ccxt.exchange import ExchangeSettings
from tradeloom.adapters.live.runner import RunnerSettings
from tradeloom.app.live_config import LiveConfig

LADDER = f"{Path(__file__).resolve().parent / 'live_strategies' / 'ladder.py'}:Ladder"


def crash_config(base_url: str, state_dir: Path) -> LiveConfig:
    ws = base_url.replace("http://", "ws://") + "/stream"
    return LiveConfig(
        strategy=LADDER, params={}, symbols=["BTC/USDT"], timeframe="1h",
        # the first emulator charges fees in quote (runner_helpers.exchange_settings)
        exchange=ExchangeSettings(id="binance", api_url=base_url, ws_url=ws, fee_side="quote",
                                  enable_rate_limit=False, timeout_ms=5_000),
        risk_profile="moderate", account="crash", state_dir=state_dir, run_id="crash",
        journal=state_dir / "journal.jsonl", runner={"poll_delay_ms": 0})


#: Sim-time settings (a wait of hours is one jump of the manual clock).
CRASH_SETTINGS = RunnerSettings(kill_poll_s=4 * 3600, drift_check_s=6 * 3600,
                                broker_poll_s=4 * 3600, reconcile_every_s=4 * 3600,
                                settle_orders=True)
