"""Paper and live sessions on perpetual swaps against the Binance USDⓈ-M emulator
(``venues.binance_usdm``), on a manual clock, with the real ccxt clients.

Why a harness: the emulator's venue clock moves only when told (``step_bar``,
``set_time``), while its signed-request check runs on wall time (so ccxt needs no time
offset). :class:`FuturesClock` is a ``ManualClock`` that, on every jump, steps every
bar that has *closed* by then (``step_bar``: klines published, resting orders fill,
liquidations run, the venue clock at the bar's last millisecond) and moves the venue
clock up to the jump's time (``set_time``: a funding time crossed settles at the mark
of that instant, the last bar's close), but never past the open of a bar not yet
stepped (``step_bar`` starts there). A bar is on the venue exactly when the session
may know it, and venue and local time are one clock.

Each funding time settles once even when ``set_time`` reaches it and ``step_bar`` then
steps the bar opening at it (the emulator's rule, Binance's "Introduction to Binance
Futures Funding Rates").

The bars (:func:`trend_bars`) are an hourly path built to make ``LongShortMomentum``
(fast 2, slow 4) go short on the way down and flip long on the way up, with the
funding time 2023-11-15 00:00 UTC inside the short and 08:00 inside the long.

>>> bars = trend_bars()
>>> len(bars), bars[0][0], bars[12][0] == FUNDING_1
(24, 1699963200000, True)
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from venues.binance_usdm import BinanceUsdmEmulator
from venues.testing import API_KEY, SECRET

from tradeloom.adapters.ccxt.exchange import ExchangeSettings
from tradeloom.adapters.clock import ManualClock
from tradeloom.adapters.live.runner import RunnerSettings
from tradeloom.app.live_config import LiveConfig
from tradeloom.app.session import Session, open_live, open_paper
from tradeloom.cli.live import ccxt_broker_factory

HOUR = 3_600_000
PERP = "BTC/USDT:USDT"
#: Funding times inside the scenario: 2023-11-15 00:00 and 08:00 UTC.
FUNDING_1 = 1_700_006_400_000
FUNDING_2 = FUNDING_1 + 8 * HOUR
#: The first bar opens 12 h before the first funding time.
START = FUNDING_1 - 12 * HOUR
#: Warm-up bars closed before the session starts.
WARMUP = 6
ENV = {"TRADELOOM_API_KEY": API_KEY, "TRADELOOM_API_SECRET": SECRET}
LONG_SHORT = "tradeloom.research.strategies.long_short:LongShortMomentum"

#: Sim-time runner settings: waits of hours are one jump of the manual clock; the orders
#: of a decision are settled before the next bar; reconcile at every round.
PERP_SETTINGS = RunnerSettings(kill_poll_s=4 * 3600, drift_check_s=6 * 3600,
                               max_drift_ms=120_000, broker_poll_s=4 * 3600,
                               reconcile_every_s=3600, settle_orders=True)

#: Closes of the 24 hourly bars: up (warm-up), down through 00:00, up through 08:00.
CLOSES = (30000, 30050, 30100, 30150, 30200, 30250, 30300, 30350, 30300, 30150, 30000,
          29850, 29700, 29650, 29700, 29850, 30000, 30150, 30300, 30450, 30600, 30750,
          30900, 31000)

Row = tuple[int, str, str, str, str, str]


def trend_bars(closes: Sequence[float] = CLOSES, start: int = START) -> list[Row]:
    """Hourly bars: each opens at the previous close, high/low 20 beyond the body."""
    rows: list[Row] = []
    prev = float(closes[0])
    for i, close in enumerate(closes):
        o, c = prev, float(close)
        rows.append((start + i * HOUR, f"{o}", f"{max(o, c) + 20}", f"{min(o, c) - 20}",
                     f"{c}", "100"))
        prev = c
    return rows


class FuturesClock(ManualClock):
    """A manual clock that moves the USDⓈ-M emulator's venue clock and market with it
    (module docstring)."""

    settle_s = 0.02

    def __init__(self, emu: BinanceUsdmEmulator, bars: Mapping[str, list[Row]],
                 start_ms: int) -> None:
        super().__init__(start_ms)
        self.emu = emu
        self.bars = {s: list(rows) for s, rows in bars.items()}
        self.stepped = dict.fromkeys(self.bars, 0)
        self.on_advance(self._move)
        self._move(start_ms)

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(self.settle_s)  # in-flight requests finish before the jump
        await super().sleep(seconds)

    def _move(self, now: int) -> None:
        tf = self.emu.tf_ms
        for symbol, rows in self.bars.items():
            while self.stepped[symbol] < len(rows) and rows[self.stepped[symbol]][0] + tf <= now:
                self.emu.step_bar(symbol, rows[self.stepped[symbol]])
                self.stepped[symbol] += 1
        # never past the open of a bar not yet stepped (step_bar starts there)
        pending = [rows[self.stepped[s]][0] for s, rows in self.bars.items()
                   if self.stepped[s] < len(rows)]
        target = min([now, *pending])
        if target > self.emu.now_ms():
            self.emu.set_time(target)


@contextmanager
def futures_venue(rates: Mapping[int, str] | None = None, usdt: str = "10000",
                  bars: list[Row] | None = None
                  ) -> Iterator[tuple[BinanceUsdmEmulator, FuturesClock]]:
    """A running emulator (one account holding ``usdt``, the funding ``rates``) and its
    clock 1 s after the open of bar ``WARMUP`` (the warm-up bars closed)."""
    with BinanceUsdmEmulator([PERP]) as emu:
        emu.add_account(API_KEY, SECRET, {"USDT": usdt})
        emu.set_funding_rates(PERP, sorted((rates or {FUNDING_1: "0.0001",
                                                      FUNDING_2: "0.0003"}).items()))
        rows = bars if bars is not None else trend_bars()
        yield emu, FuturesClock(emu, {PERP: rows}, rows[WARMUP][0] + 1_000)


def settings(emu: BinanceUsdmEmulator, **over: Any) -> ExchangeSettings:
    return ExchangeSettings(id="binanceusdm", api_url=emu.api_url, ws_url=emu.ws_url,
                            options=emu.ccxt_options(), enable_rate_limit=False,
                            timeout_ms=5_000, **over)


def perp_config(emu: BinanceUsdmEmulator, tmp: Path, **over: Any) -> LiveConfig:
    data: dict[str, Any] = {
        "strategy": LONG_SHORT,
        "params": {"fast": 2, "slow": 4, "leverage": 3.0, "exposure": 1.0,
                   "margin_mode": "isolated"},
        "symbols": [PERP], "timeframe": "1h", "exchange": settings(emu),
        "risk_profile": "perps", "account": "usdm", "state_dir": tmp / "state",
        "run_id": "perp1", "paper": {"initial_cash": 10_000.0},
        "runner": {"poll_delay_ms": 0, "user_stream": "off"},
    }
    data.update(over)
    return LiveConfig(**data)


async def run_session(clock: FuturesClock, config: LiveConfig, *, live: bool, bars: int,
                      run_settings: RunnerSettings = PERP_SETTINGS) -> tuple[Session, Any]:
    """Open a paper or live session, run ``bars`` bars, close it."""
    if live:
        session = await open_live(config, confirm_live=True, broker_factory=ccxt_broker_factory,
                                  clock=clock, environ=ENV, settings=run_settings)
    else:
        session = await open_paper(config, clock=clock, settings=run_settings)
    try:
        summary = await session.runner.run(max_bars=bars)
    finally:
        await session.close()
    return session, summary


def run(clock: FuturesClock, config: LiveConfig, *, live: bool, bars: int,
        run_settings: RunnerSettings = PERP_SETTINGS) -> tuple[Session, Any]:
    return asyncio.run(run_session(clock, config, live=live, bars=bars,
                                   run_settings=run_settings))


__all__ = ["ENV", "FUNDING_1", "FUNDING_2", "HOUR", "PERP", "PERP_SETTINGS", "START", "WARMUP",
           "FuturesClock", "futures_venue", "perp_config", "run", "run_session", "trend_bars"]
