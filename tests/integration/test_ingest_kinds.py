"""Ingest of every kind, holes refilled, damaged files re-fetched, repair: real ccxt against
the Binance emulators on 127.0.0.1, into a real store."""

from __future__ import annotations

import pandas as pd
import pytest
from emulator import BinanceFuturesEmulator
from emulator.binance_futures import INTERVALS, open_interest_at
from typer.testing import CliRunner

from tradeloom.adapters.ccxt.exchange import ExchangeSettings
from tradeloom.adapters.store.ingest import RetryPolicy, ingest
from tradeloom.adapters.store.market_store import MarketStore
from tradeloom.adapters.store.repair import repair_dataset
from tradeloom.cli.main import app
from tradeloom.engine.errors import ConfigError

PERP = "BTC/USDT:USDT"
TF5 = 300_000
HOUR = 3_600_000
KLINES = "/api/v3/klines"
FAST = RetryPolicy(attempts=2, base_delay_s=0.01, max_delay_s=0.02)


@pytest.fixture(scope="module")
def futures():
    with BinanceFuturesEmulator() as emu:
        yield emu


@pytest.fixture
def store(tmp_path) -> MarketStore:
    return MarketStore(tmp_path / "catalog")


def swap(emu) -> ExchangeSettings:
    return ExchangeSettings(id="binance", market_type="swap", api_url=emu.base_url,
                            rate_limit_ms=1, timeout_ms=5_000)


def spot(emu) -> ExchangeSettings:
    return ExchangeSettings(id="binance", api_url=emu.base_url, rate_limit_ms=1,
                            timeout_ms=5_000)


def run(store, emu, settings, kind, timeframe, since, until=None, run_id="r", **kw):
    return ingest(store, settings, [kw.pop("symbol", PERP)], timeframe, since, until, kind=kind,
                  now_ms=lambda: emu.now_ms, run_id=run_id, retry=FAST, sleep=lambda s: None,
                  **kw)


class TestKinds:
    def test_perpetual_bars_equal_the_source(self, store, futures):
        bars = futures.market(PERP).bars
        since, until = int(bars.ts.iloc[0]), int(bars.ts.iloc[2_500])
        summary = run(store, futures, swap(futures), "ohlcv", "5m", since, until)
        assert (summary.rows_added, summary.pages) == (2_500, 3)
        pd.testing.assert_frame_equal(store.read_bars("binance", "5m", PERP),
                                      futures.closed(bars, TF5, since, until))

    def test_mark_and_index_bars_come_from_their_own_endpoints(self, store, futures):
        mark = futures.market(PERP).mark
        since = int(mark.ts.iloc[0])
        run(store, futures, swap(futures), "mark", "8h", since)
        run(store, futures, swap(futures), "index", "8h", since, run_id="i")
        expected = futures.closed(mark, INTERVALS["8h"], since)
        pd.testing.assert_frame_equal(store.read_bars("binance", "8h", PERP, price="mark"),
                                      expected)
        pd.testing.assert_frame_equal(store.read_bars("binance", "8h", PERP, price="index"),
                                      expected)
        paths = {r.path for r in futures.log.records()}
        assert {"/fapi/v1/markPriceKlines", "/fapi/v1/indexPriceKlines"} <= paths

    def test_funding_history_pages_and_keeps_the_exchange_times(self, store, futures):
        funding = futures.market(PERP).funding
        since = int(funding.ts.iloc[0])
        summary = run(store, futures, swap(futures), "funding", "", since, page_limit=40)
        expected = funding[funding.ts <= futures.now_ms].reset_index(drop=True)
        assert summary.rows_added == len(expected) == 93
        pd.testing.assert_frame_equal(store.read_funding("binance", PERP), expected)

    def test_open_interest_history_in_windows_of_500_periods(self, store, futures):
        since = int(futures.market(PERP).bars.ts.iloc[0])
        since += (-since) % HOUR
        until = since + 600 * HOUR
        run(store, futures, swap(futures), "open_interest", "1h", since, until)
        got = store.read_open_interest("binance", PERP, "1h")
        assert len(got) == 600 and got.ts.diff().dropna().eq(HOUR).all()
        assert tuple(got.iloc[7, 1:]) == open_interest_at(since + 7 * HOUR)
        starts = [int(r.params["startTime"]) for r in futures.log.records(
            "/futures/data/openInterestHist") if int(r.params["startTime"]) >= since]
        assert starts[-2:] == [since, since + 500 * HOUR]

    def test_trades_page_hour_by_hour_and_aggregate_back_to_the_bars(self, store, futures):
        bars = futures.market(PERP).bars
        since = int(bars.ts.iloc[0])
        until = since + 2 * HOUR
        run(store, futures, swap(futures), "trades", "", since, until, page_limit=1000)
        trades = store.read_trades("binance", PERP)
        assert len(trades) == 24 * 4 and trades.id.is_unique
        rebuilt = store.trades_to_bars("binance", PERP, "5m")
        source = futures.closed(bars, TF5, since, until)
        pd.testing.assert_frame_equal(rebuilt[["ts", "open", "high", "low", "close"]],
                                      source[["ts", "open", "high", "low", "close"]])
        assert rebuilt.volume.to_numpy() == pytest.approx(source.volume.to_numpy())

    def test_derivative_kinds_refuse_a_spot_symbol(self, store, emulator):
        with pytest.raises(ConfigError, match="derivatives only.*market-type swap"):
            run(store, emulator, spot(emulator), "funding", "", 0, symbol="BTC/USDT")


class TestHoles:
    def test_a_hole_inside_the_range_is_fetched_and_nothing_else(self, store, emulator):
        ts = [int(t) for t in emulator.bars("BTC/USDT")["ts"]]
        run(store, emulator, spot(emulator), "ohlcv", "1h", ts[0], ts[1500], symbol="BTC/USDT")
        store.delete("ohlcv", "binance", "1h", "BTC/USDT", ts[1200], ts[1300])
        emulator.log.clear()
        summary = run(store, emulator, spot(emulator), "ohlcv", "1h", ts[0], ts[1500],
                      symbol="BTC/USDT", run_id="again")
        assert [int(r.params["startTime"]) for r in emulator.log.records(KLINES)] == [ts[1200]]
        assert summary.rows_added == 100
        pd.testing.assert_frame_equal(store.read_bars("binance", "1h", "BTC/USDT"),
                                      emulator.closed_bars("BTC/USDT", ts[0], ts[1500]))

    def test_gaps_the_exchange_has_are_recorded_and_not_asked_for_again(self, store, emulator):
        ts = [int(t) for t in emulator.bars("BTC/USDT")["ts"]]
        run(store, emulator, spot(emulator), "ohlcv", "1h", ts[0], ts[1500], symbol="BTC/USDT")
        known = store.known_gaps(symbol="BTC/USDT")
        # the real sample has 6 outages, 2 of them (2020-12-21, 2020-12-25) in the first 1500 bars
        assert [(g.origin, g.from_ts, g.to_ts) for g in known] == [
            ("exchange", 1608562800000, 1608573600000), ("exchange", 1608861600000, 1608865200000)]
        assert known[0].reason == "the exchange returned no rows for this range"
        assert store.check()[0].ok
        emulator.log.clear()
        run(store, emulator, spot(emulator), "ohlcv", "1h", ts[0], ts[1500], symbol="BTC/USDT",
            run_id="again")
        assert emulator.log.count(KLINES) == 0

    def test_a_corrupt_file_inside_the_range_is_dropped_and_fetched_again(self, store, emulator):
        ts = [int(t) for t in emulator.bars("BTC/USDT")["ts"]]
        run(store, emulator, spot(emulator), "ohlcv", "1h", ts[0], ts[-1], symbol="BTC/USDT")
        before = store.read_bars("binance", "1h", "BTC/USDT")
        (damaged,) = [p for p in store.storage.list_files("ohlcv") if p.endswith("2021.parquet")]
        store.storage.write_bytes(damaged, store.storage.read_bytes(damaged)[:5000])
        summary = run(store, emulator, spot(emulator), "ohlcv", "1h", ts[0], ts[-1],
                      symbol="BTC/USDT", run_id="heal")
        assert summary.symbols[0].repaired == (damaged,)
        pd.testing.assert_frame_equal(store.read_bars("binance", "1h", "BTC/USDT"), before)
        assert store.check()[0].ok


class TestRepair:
    def test_repair_refetches_a_truncated_file_and_a_deleted_range(self, store, emulator):
        ts = [int(t) for t in emulator.bars("ETH/USDT")["ts"]]
        run(store, emulator, spot(emulator), "ohlcv", "1h", ts[0], ts[-1], symbol="ETH/USDT")
        before = store.read_bars("binance", "1h", "ETH/USDT")
        store.delete("ohlcv", "binance", "1h", "ETH/USDT", ts[100], ts[150])
        (damaged,) = [p for p in store.storage.list_files("ohlcv") if p.endswith("2021.parquet")]
        store.storage.write_bytes(damaged, b"PAR1 not a parquet file")
        report = repair_dataset(store, "ohlcv", "binance", "1h", "ETH/USDT",
                                settings=spot(emulator), now_ms=lambda: emulator.now_ms,
                                run_id="repair", retry=FAST, sleep=lambda s: None)
        assert report.dropped == (damaged,) and report.still_missing == ()
        pd.testing.assert_frame_equal(store.read_bars("binance", "1h", "ETH/USDT"), before)

    def test_the_repair_command_through_the_cli(self, tmp_path, emulator):
        ts = [int(t) for t in emulator.bars("BTC/USDT")["ts"]]
        catalog = str(tmp_path / "cat")
        store = MarketStore(catalog)
        run(store, emulator, spot(emulator), "ohlcv", "1h", ts[0], ts[-1], symbol="BTC/USDT")
        (damaged,) = [p for p in store.storage.list_files("ohlcv") if p.endswith("2020.parquet")]
        store.storage.write_bytes(damaged, store.storage.read_bytes(damaged)[:3000])
        runner = CliRunner()
        check = runner.invoke(app, ["--catalog", catalog, "data", "check"])
        assert check.exit_code == 1 and "tradeloom data repair" in check.stdout
        result = runner.invoke(app, ["--catalog", catalog, "data", "repair", "--exchange",
                                     "binance", "--symbol", "BTC/USDT", "--timeframe", "1h",
                                     "--api-url", emulator.base_url])
        assert result.exit_code == 0, result.output
        assert f"dropped damaged file {damaged}" in result.stdout
        assert runner.invoke(app, ["--catalog", catalog, "data", "check"]).exit_code == 0
