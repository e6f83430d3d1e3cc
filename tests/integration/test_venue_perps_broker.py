"""The ccxt broker on a perpetual swap (Binance USDⓈ-M emulator, real ccxt client): a sell
beyond zero opens a short (the spot rule "never sell more than the account holds" is for
spot only), a reduce-only exit goes out with ccxt's ``reduceOnly`` and the venue caps it
at the position, and the margin mode already set is not a refusal."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import typer
from perp_venue import (
    ENV,
    FUNDING_1,
    FUNDING_2,
    HOUR,
    PERP,
    WARMUP,
    FuturesClock,
    futures_venue,
    perp_config,
    settings,
    trend_bars,
)
from typer.testing import CliRunner
from venue_live import write_config
from venues.binance_usdm import BinanceUsdmEmulator
from venues.testing import API_KEY, SECRET, D

from tradeloom.adapters.ccxt.broker import CcxtBroker
from tradeloom.adapters.ccxt.exchange import Credentials, make_client, market_specs_from_ccxt
from tradeloom.adapters.live.reconcile import reconcile
from tradeloom.adapters.live.state import LiveStateStore
from tradeloom.adapters.store.ingest import RetryPolicy
from tradeloom.cli.reconcile import reconcile_command
from tradeloom.engine.errors import VenueSettingRefused
from tradeloom.engine.orders import Order, OrderStatus, OrderType, Side

FAST = RetryPolicy(attempts=2, base_delay_s=0.01, max_delay_s=0.02, seed=1)


def make_broker(emu, tmp: Path) -> CcxtBroker:
    client = make_client(settings(emu), credentials=Credentials(API_KEY, SECRET))
    client.load_markets()
    markets = market_specs_from_ccxt(client.markets, precision_mode=client.precisionMode,
                                     exchange_id=client.id)
    store = LiveStateStore(tmp / "state.sqlite", run_id="pb1")
    return CcxtBroker(client, {PERP: markets[PERP]}, store, retry=FAST)


def test_a_sell_beyond_zero_shorts_and_a_reduce_only_exit_stops_at_flat(tmp_path: Path):
    with futures_venue() as (emu, _clock):
        broker = make_broker(emu, tmp_path)
        try:
            short = Order(1, PERP, Side.SELL, OrderType.MARKET, 0.004, created_ts=0)  # 120 USDT
            broker.submit(short, 0)
            broker.poll(0, wait=True)
            # twice the position, reduce-only: the venue fills 0.004 and expires the rest
            exit_ = Order(2, PERP, Side.BUY, OrderType.MARKET, 0.008, created_ts=1,
                          reduce_only=True)
            broker.submit(exit_, 1)
            fills = broker.poll(1, wait=True)
            report = reconcile(broker, broker.store, 2)
        finally:
            broker.close()
        venue_orders = sorted(emu.engine.orders.values(), key=lambda o: o.order_id)
        position = emu.account(API_KEY).positions["BTCUSDT"].amount
    assert short.status is OrderStatus.FILLED and short.filled == 0.004
    assert [o.reduce_only for o in venue_orders] == [False, True]  # ccxt sent reduceOnly
    assert [(f.side, f.amount) for f in fills] == [(Side.BUY, 0.004)]
    assert position == 0 and report.ok and report.positions == {}


def test_margin_mode_twice_is_not_a_refusal_and_a_spot_symbol_has_none(tmp_path: Path):
    with futures_venue() as (emu, _clock):
        broker = make_broker(emu, tmp_path)
        try:
            broker.set_margin_mode(PERP, "isolated")
            broker.set_margin_mode(PERP, "isolated")  # -4046 No need to change margin type
            broker.set_leverage(PERP, 7)
            with pytest.raises(VenueSettingRefused, match="whole leverage"):
                broker.set_leverage(PERP, 2.5)
        finally:
            broker.close()
        chosen = emu.account(API_KEY).settings("BTCUSDT")
    assert (chosen.margin_type, chosen.leverage) == ("ISOLATED", 7)


def test_the_futures_wallet_is_reconciled_from_our_fills_and_the_venues_funding(
        tmp_path: Path):
    """Short 0.004, receive the 00:00 funding, cover half: the venue's wallet equals the
    snapshot moved by our fills' PnL and fees and its funding; a deposit nobody booked
    is a mismatch of the futures wallet."""
    with futures_venue() as (emu, clock):
        broker = make_broker(emu, tmp_path)
        try:
            baseline = reconcile(broker, broker.store, clock.now_ms())
            broker.submit(Order(1, PERP, Side.SELL, OrderType.MARKET, 0.004, created_ts=0), 0)
            broker.poll(0, wait=True)
            clock.set(FUNDING_1 + HOUR)  # the 00:00 funding (0.01 %) is paid to the short
            broker.submit(Order(2, PERP, Side.BUY, OrderType.MARKET, 0.002, created_ts=1), 1)
            broker.poll(1, wait=True)
            clean = reconcile(broker, broker.store, clock.now_ms())
            wallet = emu.account(API_KEY).wallet
            emu.account(API_KEY).deposit("USDT", D("1"), time=clock.now_ms())
            after = reconcile(broker, broker.store, clock.now_ms())
            funding = [r["amount"] for r in broker.client.fetch_funding_history(PERP)]
        finally:
            broker.close()
    assert baseline.ok and clean.ok and len(funding) == 1 and funding[0] > 0
    assert not after.ok
    assert after.mismatches == {"USDT futures wallet": (float(wallet), float(wallet) + 1.0)}


def test_a_funding_payment_settled_after_a_reconciliation_at_its_time_is_counted_next(
        tmp_path: Path):
    """A venue credits a funding time's payments when it settles them: the reconciliation
    at 00:00:00 reads a wallet without the 00:00 payment, which then appears stamped at
    or before the snapshot's time (the emulator stamps the funding time).
    The next reconciliation counts it (when the snapshot's time decided what its wallet
    held, the payment was a mismatch that refused new entries)."""
    with futures_venue() as (emu, clock):
        broker = make_broker(emu, tmp_path)
        try:
            reconcile(broker, broker.store, clock.now_ms())
            broker.submit(Order(1, PERP, Side.SELL, OrderType.MARKET, 0.004, created_ts=0), 0)
            broker.poll(0, wait=True)
            at_funding = reconcile(broker, broker.store, FUNDING_1)  # venue still before it
            unpaid = emu.account(API_KEY).wallet
            clock.set(FUNDING_1 + HOUR)  # the venue settles the 00:00 funding now
            paid = emu.account(API_KEY).wallet
            after = reconcile(broker, broker.store, clock.now_ms())
            funding = broker.client.fetch_funding_history(PERP)
        finally:
            broker.close()
    # short 0.004 x mark ~30000 x 0.01 % = ~0.012 USDT received, stamped at 00:00
    assert [r["timestamp"] for r in funding] == [FUNDING_1] and paid > unpaid
    assert at_funding.ok and after.ok, after.problems
    assert after.mismatches == {}


class _SettlesAfterWalletRead(BinanceUsdmEmulator):
    """Settles the next funding time of ``times`` right after answering a futures
    wallet read (``GET /fapi/v3/account``, ccxt ``fetch_balance``), while the
    reconciliation is between its wallet read and its funding history read."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.times: list[int] = []

    async def venue_middleware(self, request, handler):
        response = await super().venue_middleware(request, handler)
        if request.path == "/fapi/v3/account" and self.times:
            self.set_time(self.times.pop(0))
        return response


@contextmanager
def _short_on_settling_venue(tmp: Path, rates: dict[int, str]
                             ) -> Iterator[tuple[_SettlesAfterWalletRead, CcxtBroker]]:
    """A short of 0.004 on a venue that settles funding after wallet reads (``times``),
    reconciled once before it was opened."""
    emu = _SettlesAfterWalletRead([PERP])
    emu.start()
    try:
        emu.add_account(API_KEY, SECRET, {"USDT": "10000"})
        emu.set_funding_rates(PERP, sorted(rates.items()))
        rows = trend_bars()
        clock = FuturesClock(emu, {PERP: rows}, rows[WARMUP][0] + 1_000)
        broker = make_broker(emu, tmp)
        try:
            reconcile(broker, broker.store, clock.now_ms())
            broker.submit(Order(1, PERP, Side.SELL, OrderType.MARKET, 0.004, created_ts=0), 0)
            broker.poll(0, wait=True)
            yield emu, broker
        finally:
            broker.close()
    finally:
        emu.stop()


def test_a_payment_settled_between_the_wallet_and_history_reads_is_not_counted_twice(
        tmp_path: Path):
    """The wallet is read again when the funding history changed around it: the snapshot
    then holds the payment in both its wallet and its ``funding_seen``."""
    with _short_on_settling_venue(tmp_path, {FUNDING_1: "0.0001"}) as (emu, broker):
        emu.times = [FUNDING_1]
        during = reconcile(broker, broker.store, FUNDING_1 + 1)
        snapshot = broker.store.load_blob("reconciled_positions")
        later = reconcile(broker, broker.store, FUNDING_1 + 2)
        [payment] = broker.client.fetch_funding_history(PERP)
        wallet = emu.account(API_KEY).wallet
    assert during.ok and later.ok, (during.problems, later.problems)
    assert snapshot["funding_seen"] == [payment["id"]]
    assert snapshot["wallets"] == {"USDT": float(wallet)}


def test_funding_settling_through_every_read_leaves_the_wallet_to_the_next_reconciliation(
        tmp_path: Path):
    """Three funding times settle, one after each of the three wallet reads: the
    reconciliation is not ok (it could not compare the futures wallet, so an open
    mismatch cannot pass unseen) and keeps its snapshot; the next one, with nothing
    arriving, counts all three payments and is clean."""
    funding_3 = FUNDING_2 + 8 * HOUR
    rates = {FUNDING_1: "0.0001", FUNDING_2: "0.0003", funding_3: "0.0002"}
    with _short_on_settling_venue(tmp_path, rates) as (emu, broker):
        kept = broker.store.load_blob("reconciled_positions")
        emu.times = [FUNDING_1, FUNDING_2, funding_3]
        unsettled = reconcile(broker, broker.store, funding_3)
        unchanged = broker.store.load_blob("reconciled_positions")
        settled = reconcile(broker, broker.store, funding_3 + 1)
        paid = broker.client.fetch_funding_history(PERP)
    assert len(paid) == 3 and not unsettled.ok and unchanged == kept
    assert unsettled.mismatches == {} and unsettled.problems == (
        "the futures wallet was not compared: funding payments were still being settled "
        "through 3 reads of it; new entries wait for the next reconciliation, which "
        "compares it",)
    assert settled.ok and settled.problems == ()


def test_the_cli_exits_1_when_the_futures_wallet_could_not_be_compared(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """``tradeloom reconcile CONFIG`` names the check it could not make and exits 1, never
    "the exchange agrees"; run again once the payments are settled, it agrees."""
    app = typer.Typer()
    app.command()(reconcile_command)
    for key, value in ENV.items():
        monkeypatch.setenv(key, value)
    funding_3 = FUNDING_2 + 8 * HOUR
    rates = {FUNDING_1: "0.0001", FUNDING_2: "0.0003", funding_3: "0.0002"}
    with _short_on_settling_venue(tmp_path, rates) as (emu, _broker):
        # the CLI reads the state the broker keeps: <state_dir>/<account>.sqlite
        path = write_config(perp_config(emu, tmp_path, state_dir=tmp_path, account="state"),
                            tmp_path / "live.toml")
        emu.times = [FUNDING_1, FUNDING_2, funding_3]
        unsettled = CliRunner().invoke(app, [str(path)])
        settled = CliRunner().invoke(app, [str(path)])
    assert unsettled.exit_code == 1, unsettled.output
    assert "the futures wallet was not compared" in unsettled.output
    assert "not reconciled: a check could not be made" in unsettled.output
    assert "agrees" not in unsettled.output
    assert settled.exit_code == 0, settled.output
    assert "reconciled: the exchange agrees with the state" in settled.output
