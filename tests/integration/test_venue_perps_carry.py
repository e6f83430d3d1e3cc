"""FundingCarry paper- and live-trades spot and the perpetual on ONE ccxt.binance client
(the emulator serving Binance spot /api/v3 and USDⓈ-M /fapi on one server): it buys spot
and sells the perpetual short in equal amounts once funding pays shorts, receives the
next funding on the short, and its journal replays with zero divergence.

Live, the account has two wallets, as on Binance (one API key, a spot wallet and a
USDⓈ-M futures wallet, ``adapters.ccxt.wallets``): the session's cash is their sum, the
spot leg moves the spot wallet and the short's fee and funding the futures wallet, and
reconciliation compares the spot wallet's USDT and BTC with the spot fills.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pandas as pd
import pytest
from perp_venue import ENV, FUNDING_1, FUNDING_2, HOUR, PERP, PERP_SETTINGS, WARMUP, trend_bars
from venues.binance_usdm.combined import BinanceSpotPerpEmulator
from venues.common.bars import bars_from_frame
from venues.testing import API_KEY, SECRET, D

from tradeloom.adapters.ccxt.broker import CcxtBroker
from tradeloom.adapters.ccxt.exchange import (
    Credentials,
    ExchangeSettings,
    make_client,
    market_specs_from_ccxt,
)
from tradeloom.adapters.clock import ManualClock
from tradeloom.adapters.config.risk_profiles import load_profile
from tradeloom.adapters.live.journal import read_journal
from tradeloom.adapters.live.reconcile import reconcile
from tradeloom.adapters.live.replay import replay
from tradeloom.adapters.live.state import LiveStateStore
from tradeloom.app.live_config import LiveConfig
from tradeloom.app.session import open_live, open_paper
from tradeloom.cli.live import ccxt_broker_factory
from tradeloom.research.strategies.funding_carry import FundingCarry

SPOT = "BTC/USDT"
#: Flat prices: the carry's two legs and its funding are checkable by hand.
CLOSES = (30000,) * 24
PARAMS = {"leverage": 2.0, "weight": 0.9, "enter_rate": 0.0001, "exit_rate": 0.0}


class CarryClock(ManualClock):
    """Moves both venues with the session's clock: the spot venue's clock (wall time plus
    an offset) and bars as ``venue_live.MarketClock`` does, the USDⓈ-M venue's as
    ``perp_venue.FuturesClock`` does. Both venues check signatures on the same request
    clock (the offset), and the clients it ``follow``s sign on it (ccxt's
    ``timeDifference``), as one venue's two APIs share one clock."""

    def __init__(self, emu: BinanceSpotPerpEmulator, perp_rows, start_ms: int) -> None:
        super().__init__(start_ms)
        self.emu, self.rows, self.stepped = emu, perp_rows, 0
        self.clients: list = []
        self.on_advance(self._move)
        self._move(start_ms)

    @property
    def time_difference(self) -> int:
        return -self.emu.spot.clock_offset_ms

    def follow(self, *clients) -> None:
        self.clients += clients
        for client in clients:
            client.options["timeDifference"] = self.time_difference

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(0.02)
        await super().sleep(seconds)

    def _move(self, now: int) -> None:
        spot = self.emu.spot
        spot.clock_offset_ms = self.emu.perp.clock_offset_ms = now - int(time.time() * 1000)
        for client in self.clients:
            client.options["timeDifference"] = self.time_difference
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


def _carry_session(tmp: Path, *, live: bool, spot_usdt: str = "0", futures_usdt: str = "0"):
    """Run FundingCarry for 16 hours (32 bars: two symbols) on the spot+perp emulator;
    returns the session, its summary, its journal and the venue's account afterwards."""
    rows = trend_bars(CLOSES)
    frame = pd.DataFrame({"ts": [r[0] for r in rows],
                          **{k: [float(r[i]) for r in rows]
                             for i, k in enumerate(("open", "high", "low", "close",
                                                    "volume"), start=1)}})
    with BinanceSpotPerpEmulator([SPOT], [PERP], spot_options={
            "bars": {SPOT: bars_from_frame(SPOT, frame)}, "start_bar": WARMUP}) as emu:
        if live:
            emu.add_account(API_KEY, SECRET, spot={"USDT": spot_usdt},
                            futures={"USDT": futures_usdt})
        emu.perp.set_funding_rates(PERP, [(FUNDING_1, "0.0001"), (FUNDING_2, "0.0002")])
        clock = CarryClock(emu, rows, rows[WARMUP][0] + 1_000)
        config = LiveConfig(
            strategy="tradeloom.research.strategies.funding_carry:FundingCarry",
            params=PARAMS, symbols=[SPOT, PERP], timeframe="1h",
            exchange=ExchangeSettings(id="binance", api_url=emu.api_url, ws_url=emu.ws_url,
                                      options={**emu.ccxt_options(),
                                               "timeDifference": clock.time_difference},
                                      enable_rate_limit=False, timeout_ms=5_000),
            risk_profile="perps", account="carry", state_dir=tmp / "state", run_id="carry1",
            paper={"initial_cash": 10_000.0},
            runner={"poll_delay_ms": 0, "user_stream": "off"})

        async def main():
            if live:
                session = await open_live(config, confirm_live=True,
                                          broker_factory=ccxt_broker_factory, clock=clock,
                                          environ=ENV, settings=PERP_SETTINGS)
                clock.follow(session.client, session.broker.client)
            else:
                session = await open_paper(config, clock=clock, settings=PERP_SETTINGS)
            try:
                summary = await session.runner.run(max_bars=32)  # 16 hours, two symbols
            finally:
                await session.close()
            return session, summary

        session, summary = asyncio.run(main())
        venue = None
        if live:
            spot = emu.spot.account(API_KEY)
            futures = emu.perp.account(API_KEY)
            venue = {"spot": {a: spot.wallet.total(a) for a in ("USDT", "BTC")},
                     "futures_wallet": futures.wallet,
                     "position": futures.positions["BTCUSDT"].amount}
    return session, summary, read_journal(session.journal_path), venue


@pytest.fixture(scope="module")
def carry(tmp_path_factory):
    session, summary, records, _ = _carry_session(tmp_path_factory.mktemp("carry"),
                                                  live=False)
    return session, summary, records


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


# -- live: two wallets under one API key ------------------------------------------------
#: The spot wallet pays the spot leg (0.2 x 30000 = 6000 USDT), the futures wallet the
#: short's margin (0.2 x 29999.9 / 2 = 2999.99 USDT) and its fee.
SPOT_USDT, FUTURES_USDT = "6500", "3500"


@pytest.fixture(scope="module")
def live_carry(tmp_path_factory):
    return _carry_session(tmp_path_factory.mktemp("carry_live"), live=True,
                          spot_usdt=SPOT_USDT, futures_usdt=FUTURES_USDT)


def _payloads(records, kind):
    return [r.payload for r in records if r.kind == kind]


def test_live_carry_starts_with_the_sum_of_the_spot_and_futures_wallets(live_carry):
    session, summary, records, _ = live_carry
    [opening] = _payloads(records, "balance")
    assert opening["wallets"] == {"spot": 6500.0, "futures": 3500.0}
    # one cash in the portfolio: 6500 + 3500 = 10000
    assert summary.start_equity == 10_000.0
    assert _payloads(records, "session")[0]["initial_cash"] == 10_000.0


def test_live_carry_buys_spot_and_shorts_the_perpetual_at_the_venues_prices(live_carry):
    _, summary, records, venue = live_carry
    fills = [(f["symbol"], f["side"], f["amount"], f["price"], f["fee_cost"],
              f["fee_currency"]) for f in _payloads(records, "fill")]
    # A = 0.9 x 10000 / (30000 x 1.5) = 0.2 both legs; spot at the ask 30000, fee 0.1 % of
    # the 0.2 BTC bought = 0.0002 BTC; the short at the bid 29999.9, fee 0.05 % x 0.2 x
    # 29999.9 = 2.99999 USDT
    assert sorted(fills) == [(SPOT, "buy", 0.2, 30000.0, 0.0002, "BTC"),
                             (PERP, "sell", 0.2, 29999.9, 2.99999, "USDT")]
    assert summary.fills == 2 and not summary.failed
    assert venue["position"] == D("-0.2")


def test_live_carry_moves_each_venue_wallet_by_its_own_legs(live_carry):
    _, _, _, venue = live_carry
    # spot wallet: 6500 - 0.2 x 30000 = 500 USDT, 0.2 - 0.0002 = 0.1998 BTC
    assert venue["spot"] == {"USDT": D("500"), "BTC": D("0.1998")}
    # futures wallet: 3500 - 2.99999 fee + 1.2 funding (0.2 x 30000 x 0.0002) = 3498.20001
    assert venue["futures_wallet"] == D("3498.20001")


def test_live_carry_cash_is_the_sum_of_the_venues_wallets(live_carry):
    session, _, _, venue = live_carry
    pf = session.runner.engine.portfolio
    # 10000 - 6000 (the spot notional; its fee was BTC) - 2.99999 + 1.2 = 3998.20001
    # = 500 + 3498.20001
    assert pf.cash == pytest.approx(float(venue["spot"]["USDT"] + venue["futures_wallet"]),
                                    abs=1e-9)
    assert (pf.position(SPOT), pf.perp_position(PERP)) == (pytest.approx(0.1998, abs=1e-12),
                                                           -0.2)


def test_live_carry_sees_the_rate_while_flat_and_is_paid_funding_only_on_the_short(
        live_carry):
    _, summary, records, _ = live_carry
    funding = [(f["ts"], f["rate"], f["amount"], f["venue_id"])
               for f in _payloads(records, "funding")]
    # 00:00: flat, the venue paid nothing; its published rate (0.01 %) reached the strategy,
    # which entered on the next bar. 08:00: short 0.2 x mark 30000 x 0.0002 = 1.2 received
    assert [f[:3] for f in funding] == [(FUNDING_1, 0.0001, 0.0), (FUNDING_2, 0.0002, 1.2)]
    assert funding[0][3] is None and funding[1][3] is not None
    assert [b["amount"] for b in _payloads(records, "funding_booked")] == [1.2]
    assert summary.funding == pytest.approx(1.2, rel=1e-12)


def test_live_carry_reconciles_both_wallets_clean_and_replays_with_zero_divergence(
        live_carry):
    session, summary, records, _ = live_carry
    reconciles = _payloads(records, "reconcile")
    assert reconciles and all(r["ok"] for r in reconciles) and not summary.degraded
    report = replay(session.journal_path, FundingCarry(**PARAMS), load_profile("perps"))
    assert report.ok, report.format()
    # both funding times replayed: the rate seen while flat, the payment on the short
    assert len(report.journal_commands) == 2
    assert [f["amount"] for f in report.funding] == [1.2]  # the payments booked


def test_a_spot_wallet_change_no_spot_fill_explains_is_a_reconcile_mismatch(tmp_path: Path):
    """With two wallets the spot wallet's USDT is compared (spot fills alone move it);
    on a futures-only client the settle currency is not (the venue's PnL moves it)."""
    with BinanceSpotPerpEmulator([SPOT], [PERP]) as emu:
        emu.add_account(API_KEY, SECRET, spot={"USDT": "6500"}, futures={"USDT": "3500"})
        client = make_client(ExchangeSettings(id="binance", api_url=emu.api_url,
                                              ws_url=emu.ws_url, options=emu.ccxt_options(),
                                              enable_rate_limit=False, timeout_ms=5_000),
                             credentials=Credentials(API_KEY, SECRET))
        client.load_markets()
        specs = market_specs_from_ccxt(client.markets, precision_mode=client.precisionMode,
                                       exchange_id=client.id)
        store = LiveStateStore(tmp_path / "state.sqlite", run_id="w1")
        broker = CcxtBroker(client, {SPOT: specs[SPOT], PERP: specs[PERP]}, store)
        try:
            baseline = reconcile(broker, store, 0)
            emu.spot.set_balance(API_KEY, "USDT", "6400")  # 100 USDT left the spot wallet
            after = reconcile(broker, store, 1)
        finally:
            broker.close()
    assert baseline.ok and baseline.balances["USDT"] == 6500.0  # the spot wallet, not 10000
    assert not after.ok and after.mismatches == {"USDT": (6500.0, 6400.0)}


def test_a_spot_buy_the_spot_wallet_cannot_pay_is_refused_and_the_short_unwound(
        tmp_path: Path):
    """5000 USDT in each wallet: the session's cash (10000) sizes both legs at 0.2, whose
    spot leg costs 6000 - more than the spot wallet holds. The buy is refused before it
    is sent (the venue's -2010 would stop trading), the short that filled is closed on
    the next bar, and the session runs on."""
    session, summary, records, venue = _carry_session(tmp_path, live=True,
                                                      spot_usdt="5000", futures_usdt="5000")
    orders = {o["client_id"]: o for o in _payloads(records, "order")}
    spot = [o for o in orders.values() if o["symbol"] == SPOT]
    assert [o["status"] for o in spot] == ["rejected"]
    assert spot[0]["reason"].startswith("buy of 0.2 BTC costs about 6000 USDT but the spot "
                                        "wallet holds 5000 USDT free")
    fills = [(f["side"], f["amount"], f["price"], f["fee"]) for f in _payloads(records, "fill")]
    # the short at the bid 29999.9 (fee 2.99999), bought back reduce-only on the next bar
    # at 30000 (fee 0.2 x 30000 x 0.0005 = 3)
    assert fills == [("sell", 0.2, 29999.9, 2.99999), ("buy", 0.2, 30000.0, 3.0)]
    # futures wallet: 5000 - 2.99999 - 3 + (29999.9 - 30000) x 0.2 = 4993.98001; the spot
    # wallet untouched; the session's cash is their sum
    assert (venue["position"], venue["spot"]["USDT"]) == (D("0"), D("5000"))
    assert venue["futures_wallet"] == D("4993.98001")
    assert session.runner.engine.portfolio.cash == pytest.approx(9993.98001, abs=1e-9)
    # no second entry in the run: the 08:00 funding finds the account flat
    assert len(_payloads(records, "submit")) == 3
    assert not summary.failed and all(r["ok"] for r in _payloads(records, "reconcile"))
    report = replay(session.journal_path, FundingCarry(**PARAMS), load_profile("perps"))
    assert report.ok, report.format()
