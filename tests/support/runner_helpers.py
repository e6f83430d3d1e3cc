"""Helpers for the paper/live runner tests: configs pointing at the emulator, a
manual clock that moves the emulator's clock with it, and a backtest over the
same bars for parity checks. (``live_helpers`` is the broker tests' module.)"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from tradeloom.adapters.ccxt.exchange import ExchangeSettings
from tradeloom.adapters.clock import ManualClock
from tradeloom.adapters.config.risk_profiles import load_profile
from tradeloom.adapters.live.journal import read_journal
from tradeloom.adapters.live.journal_codec import bars_of
from tradeloom.adapters.live.runner import RunnerSettings
from tradeloom.app.live_config import LiveConfig
from tradeloom.app.session import Session, open_paper
from tradeloom.engine.market import MarketSpec
from tradeloom.engine.risk.engine import RiskEngine
from tradeloom.engine.run.backtest import run_bars
from tradeloom.research.strategies.sma_cross import SmaCross

REPO = Path(__file__).resolve().parents[2]
SMA = f"{REPO / 'research' / 'strategies' / 'sma_cross.py'}:SmaCross"
PARAMS = {"fast": 3, "slow": 8}
HOUR = 3_600_000

#: Sim-time settings: waits of an hour are one jump of the manual clock.
SIM_SETTINGS = RunnerSettings(kill_poll_s=4 * 3600, drift_check_s=6 * 3600, max_drift_ms=1_000,
                              broker_poll_s=4 * 3600)


def exchange_settings(emu: Any) -> ExchangeSettings:
    """Settings for the project's first emulator (``tests/support/emulator``). It charges
    every fee in the quote currency, unlike Binance (the asset received, ccxt's ``get``):
    ``fee_side="quote"`` declares its rule, so paper, replay and backtests of its sessions
    charge fees where it does. The venue-faithful emulators (``venues``) need no such
    override."""
    return ExchangeSettings(id="binance", api_url=emu.base_url, ws_url=emu.ws_url,
                            enable_rate_limit=False, timeout_ms=5_000, fee_side="quote")


def make_config(emu: Any, tmp: Path, **over: Any) -> LiveConfig:
    data: dict[str, Any] = {
        "strategy": SMA, "params": PARAMS, "symbols": ["BTC/USDT"], "timeframe": "1h",
        "exchange": exchange_settings(emu), "risk_profile": "moderate", "account": "emu",
        "state_dir": tmp / "state", "run_id": "t1", "paper": {"initial_cash": 10_000.0},
    }
    data.update(over)
    return LiveConfig(**data)


def start_at(emu: Any, index: int, skew_ms: int = 0) -> ManualClock:
    """Emulator 1 s after the open of bar ``index``; a local clock ``skew_ms`` behind it
    that moves the emulator (``advance_to``: resting orders match, klines publish)."""
    ts = int(emu.bars("BTC/USDT")["ts"].iloc[index])
    emu.now_ms = ts + 1_000
    clock = ManualClock(emu.now_ms - skew_ms)
    clock.on_advance(lambda now: emu.advance_to(now + skew_ms))
    return clock


async def _paper(config: LiveConfig, clock: ManualClock, bars: int,
                 settings: RunnerSettings) -> tuple[Session, Any]:
    session = await open_paper(config, clock=clock, settings=settings)
    try:
        summary = await session.runner.run(max_bars=bars)
    finally:
        await session.close()
    return session, summary


def run_paper(emu: Any, tmp: Path, *, start: int = 300, bars: int = 200,
              settings: RunnerSettings = SIM_SETTINGS, **over: Any) -> tuple[Session, Any]:
    """A paper session of ``bars`` live bars from bar ``start`` of the sample."""
    clock = start_at(emu, start)
    return asyncio.run(_paper(make_config(emu, tmp, **over), clock, bars, settings))


def backtest_same_bars(journal_path: Path, risk_profile: str | None = "moderate") -> Any:
    """``run_bars`` (the plain backtest) over the session's warm-up + live bars."""
    records = read_journal(journal_path)
    session = next(r.payload for r in records if r.kind == "session")
    markets = {s: MarketSpec(**m) for s, m in session["markets"].items()}
    bars = bars_of(records, "warmup_bar") + bars_of(records, "bar")
    risk = RiskEngine(load_profile(risk_profile)) if risk_profile else None
    return run_bars(SmaCross(**PARAMS), bars, symbols=session["symbols"], timeframe="1h",
                    markets=markets, initial_cash=session["initial_cash"], risk=risk)
