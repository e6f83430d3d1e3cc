"""FundingCarry paper-trades spot and the perpetual on ONE ccxt.binance client (the
emulator serving Binance spot /api/v3 and USDⓈ-M /fapi on one server): it buys spot and
sells the perpetual short in equal amounts once funding pays shorts, receives the next
funding on the short, and its journal replays with zero divergence.

Live is left out: Binance keeps the spot wallet and the USDⓈ-M wallet apart (one API
key, two accounts), while a session's portfolio holds one cash balance; a live carry
needs the two wallets reconciled separately (README, "Perpetual futures").
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pandas as pd
import pytest
from perp_venue import FUNDING_1, FUNDING_2, HOUR, PERP, PERP_SETTINGS, WARMUP, trend_bars
from venues.binance_usdm.combined import BinanceSpotPerpEmulator
from venues.common.bars import bars_from_frame

from tradeloom.adapters.ccxt.exchange import ExchangeSettings
from tradeloom.adapters.clock import ManualClock
from tradeloom.adapters.config.risk_profiles import load_profile
from tradeloom.adapters.live.journal import read_journal
from tradeloom.adapters.live.replay import replay
from tradeloom.app.live_config import LiveConfig
from tradeloom.app.session import open_paper
from tradeloom.research.strategies.funding_carry import FundingCarry

SPOT = "BTC/USDT"
#: Flat prices: the carry's two legs and its funding are checkable by hand.
CLOSES = (30000,) * 24
PARAMS = {"leverage": 2.0, "weight": 0.9, "enter_rate": 0.0001, "exit_rate": 0.0}


class CarryClock(ManualClock):
    """Moves both venues with the session's clock: the spot venue's clock (wall time plus
    an offset) and bars as ``venue_live.MarketClock`` does, the USDⓈ-M venue's as
    ``perp_venue.FuturesClock`` does."""

    def __init__(self, emu: BinanceSpotPerpEmulator, perp_rows, start_ms: int) -> None:
        super().__init__(start_ms)
        self.emu, self.rows, self.stepped = emu, perp_rows, 0
        self.on_advance(self._move)
        self._move(start_ms)

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(0.02)
        await super().sleep(seconds)

    def _move(self, now: int) -> None:
        spot = self.emu.spot
        spot.clock_offset_ms = now - int(time.time() * 1000)
        for market_id, bars in spot.bars.items():
            while spot.bar_index[market_id] + 1 < len(bars) and \
                    int(bars.ts[spot.bar_index[market_id] + 1]) <= now:
                spot.step_bar(bars.symbol)
        perp = self.emu.perp
        while self.stepped < len(self.rows) and self.rows[self.stepped][0] + HOUR <= now:
            perp.step_bar(PERP, self.rows[self.stepped])
            self.stepped += 1
        pending = [self.rows[self.stepped][0]] if self.stepped < len(self.rows) else []
        target = min([now, *pending])
        if target > perp.now_ms():
            perp.set_time(target)


@pytest.fixture(scope="module")
def carry(tmp_path_factory):
    tmp: Path = tmp_path_factory.mktemp("carry")
    rows = trend_bars(CLOSES)
    frame = pd.DataFrame({"ts": [r[0] for r in rows],
                          **{k: [float(r[i]) for r in rows]
                             for i, k in enumerate(("open", "high", "low", "close",
                                                    "volume"), start=1)}})
    with BinanceSpotPerpEmulator([SPOT], [PERP], spot_options={
            "bars": {SPOT: bars_from_frame(SPOT, frame)}, "start_bar": WARMUP}) as emu:
        emu.perp.set_funding_rates(PERP, [(FUNDING_1, "0.0001"), (FUNDING_2, "0.0002")])
        clock = CarryClock(emu, rows, rows[WARMUP][0] + 1_000)
        config = LiveConfig(
            strategy="tradeloom.research.strategies.funding_carry:FundingCarry",
            params=PARAMS, symbols=[SPOT, PERP], timeframe="1h",
            exchange=ExchangeSettings(id="binance", api_url=emu.api_url, ws_url=emu.ws_url,
                                      options=emu.ccxt_options(), enable_rate_limit=False,
                                      timeout_ms=5_000),
            risk_profile="perps", account="carry", state_dir=tmp / "state", run_id="carry1",
            paper={"initial_cash": 10_000.0},
            runner={"poll_delay_ms": 0, "user_stream": "off"})

        async def main():
            session = await open_paper(config, clock=clock, settings=PERP_SETTINGS)
            try:
                summary = await session.runner.run(max_bars=32)  # 16 hours, two symbols
            finally:
                await session.close()
            return session, summary

        session, summary = asyncio.run(main())
    return session, summary, read_journal(session.journal_path)


def test_carry_buys_spot_and_shorts_the_perpetual_in_equal_amounts(carry):
    _, summary, records = carry
    fills = [(f.payload["symbol"], f.payload["side"], f.payload["amount"], f.payload["price"])
             for f in records if f.kind == "fill"]
    # A = weight x equity / (spot price x (1 + 1 / leverage)) = 0.9 x 10000 / (30000 x 1.5)
    #   = 0.2, both legs, entered on the bar after the 00:00 funding (rate 0.01 %)
    assert sorted(fills) == [(SPOT, "buy", 0.2, 30000.0), (PERP, "sell", 0.2, 30000.0)]
    assert summary.fills == 2 and not summary.failed


def test_carry_receives_funding_on_the_short_and_replays_with_zero_divergence(carry):
    session, summary, records = carry
    booked = [r.payload for r in records if r.kind == "funding_booked"]
    # flat before 00:00 (nothing paid); 08:00: short 0.2 x mark 30000 x 0.0002 = 1.2 received
    assert [(b["ts"], b["qty"], b["amount"]) for b in booked] == [(FUNDING_2, -0.2, 1.2)]
    assert summary.funding == pytest.approx(1.2, rel=1e-12)
    report = replay(session.journal_path, FundingCarry(**PARAMS), load_profile("perps"))
    assert report.ok, report.format()
    assert len(report.journal_commands) == 2 and len(report.funding) == 1
