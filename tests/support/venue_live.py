"""Paper and live sessions against the venue-faithful emulators (``venues``), on a manual
clock, with the real ccxt clients (sync for the broker, ccxt.pro for bars and pushes).

Why a harness: the emulators serve the bundled sample bars (Dec 2020 - Jul 2021) while
their signed-request checks run on their own clock (wall time plus ``clock_offset_ms``),
as the venues' do. A session on a manual clock needs both to agree with it:
:class:`MarketClock` is a ``ManualClock`` that, on every jump, (1) sets the emulator's
clock to it (``clock_offset_ms``), (2) walks the emulator's market through every bar that
opened by then (``step_bar``: resting orders fill along the bar's path, the next bar
becomes the one in progress), and (3) sets ccxt's ``options['timeDifference']`` of every
client it follows, so ccxt signs with the emulator's clock (Binance and OKX sign REST
with ``nonce() = milliseconds() - timeDifference``). ccxt.pro's OKX websocket login signs
with ``seconds()``, which ignores ``timeDifference``: the clock gives followed OKX
clients a ``seconds`` that honours it (on a real venue the two clocks are one). Each
``sleep`` first lets in-flight requests finish (``settle_s`` of real time), so no request
is signed before a jump and checked after it.

>>> MarketClock.ROUND_TRIPS.endswith("round_trips.py:RoundTrips")
True
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from venues.binance_spot import BinanceSpotEmulator
from venues.common.bars import Bars, bars_from_frame, sample_bars
from venues.okx_spot import OkxSpotEmulator
from venues.testing import API_KEY, PASSPHRASE, SECRET

from tradeloom.adapters.ccxt.exchange import ExchangeSettings
from tradeloom.adapters.clock import ManualClock
from tradeloom.adapters.live.runner import RunnerSettings
from tradeloom.app.live_config import LiveConfig
from tradeloom.app.session import Session, open_live, open_paper
from tradeloom.cli.live import ccxt_broker_factory

Emulator = BinanceSpotEmulator | OkxSpotEmulator
HOUR = 3_600_000
ENV = {"TRADELOOM_API_KEY": API_KEY, "TRADELOOM_API_SECRET": SECRET,
       "TRADELOOM_API_PASSWORD": PASSPHRASE}

#: Sim-time runner settings: waits of hours are one jump of the manual clock; orders of a
#: decision are settled before the next bar (deterministic sessions).
VENUE_SETTINGS = RunnerSettings(kill_poll_s=4 * 3600, drift_check_s=6 * 3600,
                                max_drift_ms=120_000, broker_poll_s=4 * 3600,
                                reconcile_every_s=4 * 3600, settle_orders=True)


def wall_ms() -> int:
    return int(time.time() * 1000)


class MarketClock(ManualClock):
    """A manual clock that moves a venue emulator's clock and market with it (see the
    module docstring)."""

    ROUND_TRIPS = f"{Path(__file__).resolve().parent / 'live_strategies' / 'round_trips.py'}:RoundTrips"

    def __init__(self, emu: Emulator, start_ms: int) -> None:
        super().__init__(start_ms)
        self.emu = emu
        self.clients: list[Any] = []
        self.on_advance(self._move)
        self._move(start_ms)

    #: Real seconds ``sleep`` lets in-flight requests finish before jumping: a request
    #: signed before a jump of an hour and checked after it would be stale (-1021).
    settle_s = 0.02

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(self.settle_s)
        await super().sleep(seconds)

    @property
    def time_difference(self) -> int:
        """ccxt's ``timeDifference`` for a client to sign on the emulator's clock."""
        return -self.emu.clock_offset_ms

    def follow(self, *clients: Any) -> None:
        """Keep ``clients`` signing on this clock."""
        for client in clients:
            client.options["timeDifference"] = self.time_difference
            if client.id == "okx":  # ccxt.pro's OKX login signs with seconds()
                client.seconds = lambda c=client: (c.milliseconds() -
                                                   c.options["timeDifference"]) // 1000
            self.clients.append(client)

    def _move(self, now: int) -> None:
        self.emu.clock_offset_ms = now - wall_ms()
        for client in self.clients:
            client.options["timeDifference"] = self.time_difference
        for market_id, bars in self.emu.bars.items():
            while (self.emu.bar_index[market_id] + 1 < len(bars)
                   and int(bars.ts[self.emu.bar_index[market_id] + 1]) <= now):
                self.emu.step_bar(bars.symbol)


@dataclasses.dataclass
class Venue:
    """A running emulator, its clock and the config of a session against it."""

    name: str
    emu: Emulator
    clock: MarketClock
    symbol: str = "BTC/USDT"

    def bar_ts(self, index: int) -> int:
        return int(next(iter(self.emu.bars.values())).ts[index])

    def settings(self, **over: Any) -> ExchangeSettings:
        options: dict[str, Any] = {**self.emu.ccxt_options(),
                                   "timeDifference": self.clock.time_difference}
        if self.name == "okx":
            options.update({"fetchCurrencies": False, "fetchOHLCV": {"type": "Candles"}})
        return ExchangeSettings(id=self.name, api_url=self.emu.api_url, ws_url=self.emu.ws_url,
                                options=options, enable_rate_limit=False, timeout_ms=5_000,
                                **over)

    def current(self, config: LiveConfig) -> LiveConfig:
        """``config`` signing on the clock as it is now (its ``timeDifference``)."""
        options = {**config.exchange.options, "timeDifference": self.clock.time_difference}
        return config.model_copy(
            update={"exchange": config.exchange.model_copy(update={"options": options})})

    def config(self, tmp: Path, **over: Any) -> LiveConfig:
        data: dict[str, Any] = {
            "strategy": MarketClock.ROUND_TRIPS, "params": {"amount": 0.01, "trips": 3},
            "symbols": [self.symbol], "timeframe": "1h", "exchange": self.settings(),
            "risk_profile": "moderate", "account": f"{self.name}-venue",
            "state_dir": tmp / "state", "run_id": "rt1",
            "credentials": {"password_env": "TRADELOOM_API_PASSWORD"},
            "paper": {"initial_cash": 1_000.0}, "runner": {"poll_delay_ms": 0},
        }
        data.update(over)
        return LiveConfig(**data)


@contextmanager
def venue(name: str, *, start_bar: int = 300, balances: Mapping[str, str] | None = None,
          symbols: tuple[str, ...] = ("BTC/USDT",),
          bars: Mapping[str, Bars] | None = None) -> Iterator[Venue]:
    """A Binance or OKX spot emulator whose account holds ``balances`` (default 1000
    USDT), its clock 1 s after the open of sample bar ``start_bar``; ``bars`` for symbols
    the sample lacks (``flat_bars``)."""
    cls = BinanceSpotEmulator if name == "binance" else OkxSpotEmulator
    with cls(symbols, start_bar=start_bar, bars=bars) as emu:
        funds = dict(balances or {"USDT": "1000"})
        if name == "binance":
            emu.add_account(API_KEY, SECRET, funds)
        else:
            # the rates ccxt's OKX markets report (maker 0.1 %, taker 0.15 %): the session's
            # market rules, so paper and replay charge what the venue charges
            emu.add_account(API_KEY, SECRET, PASSPHRASE, funds, maker="0.001", taker="0.0015")
        start = int(next(iter(emu.bars.values())).ts[start_bar]) + 1_000
        yield Venue(name, emu, MarketClock(emu, start), symbols[0])


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k} = {_toml_value(v)}" for k, v in value.items()) + "}"
    raise TypeError(f"no TOML for {value!r}")


def write_config(config: LiveConfig, path: Path) -> Path:
    """``config`` as the TOML file a CLI command reads (inline tables, Nones left out)."""
    data = config.model_dump(mode="json", exclude_none=True)
    lines = [f"{k} = {_toml_value(v)}" for k, v in data.items()]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def flat_bars(symbol: str, price: float, like: str = "BTC/USDT") -> Bars:
    """Bars of ``symbol`` at one ``price``, on the sample times of ``like`` (a market the
    sample has no history of, such as BNB/USDT for fee payment)."""
    times = sample_bars(like).ts
    n = len(times)
    frame = pd.DataFrame({"ts": times, "open": np.full(n, price), "high": np.full(n, price),
                          "low": np.full(n, price), "close": np.full(n, price),
                          "volume": np.full(n, 100.0)})
    return bars_from_frame(symbol, frame)


async def run_session(v: Venue, config: LiveConfig, *, live: bool, bars: int,
                      settings: RunnerSettings = VENUE_SETTINGS) -> tuple[Session, Any]:
    """Open a paper or live session on ``v``, run ``bars`` bars, close it."""
    config = v.current(config)
    if live:
        session = await open_live(config, confirm_live=True, broker_factory=ccxt_broker_factory,
                                  clock=v.clock, environ=ENV, settings=settings)
        v.clock.follow(session.client, session.broker.client)
    else:
        session = await open_paper(config, clock=v.clock, settings=settings)
        v.clock.follow(session.client)
    try:
        summary = await session.runner.run(max_bars=bars)
    finally:
        await session.close()
        v.clock.clients.clear()
    return session, summary


def run(v: Venue, config: LiveConfig, *, live: bool, bars: int,
        settings: RunnerSettings = VENUE_SETTINGS) -> tuple[Session, Any]:
    return asyncio.run(run_session(v, config, live=live, bars=bars, settings=settings))


__all__ = ["ENV", "HOUR", "VENUE_SETTINGS", "MarketClock", "Venue", "flat_bars", "run",
           "run_session", "venue", "write_config"]
