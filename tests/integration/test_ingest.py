"""History ingest end to end: real ccxt -> Binance emulator on 127.0.0.1 -> real store.

Every test compares what the store holds with the emulator's source bars, so a
lost, duplicated or partial bar shows up as a frame difference.
"""

from __future__ import annotations

import json

import pandas as pd
import pytest
import typer
from emulator import BinanceEmulator, Fault
from typer.testing import CliRunner

from tradeloom.adapters.ccxt.exchange import ExchangeSettings
from tradeloom.adapters.store.catalog import IngestRun
from tradeloom.adapters.store.ingest import IngestProgress, RetryPolicy, ingest_ohlcv
from tradeloom.adapters.store.market_store import MarketStore
from tradeloom.cli.ingest import ingest, parse_options
from tradeloom.engine.errors import TransientExchangeError, UnknownSymbol
from tradeloom.engine.market import MarketSpec
from tradeloom.engine.timeutil import format_utc_ms

TF = 3_600_000
KLINES = "/api/v3/klines"
FAST_RETRY = RetryPolicy(attempts=3, base_delay_s=0.01, max_delay_s=0.05, seed=7)


@pytest.fixture
def store(tmp_path) -> MarketStore:
    return MarketStore(tmp_path / "catalog")


@pytest.fixture
def ts(emulator: BinanceEmulator) -> list[int]:
    """Open times of the source BTC/USDT bars (real data: it has gaps, so use these)."""
    return [int(t) for t in emulator.bars("BTC/USDT")["ts"]]


def settings_for(emu: BinanceEmulator, **kw) -> ExchangeSettings:
    return ExchangeSettings(id="binance", api_url=emu.base_url, rate_limit_ms=1,
                            timeout_ms=kw.pop("timeout_ms", 2_000), **kw)


def run(store: MarketStore, emu: BinanceEmulator, since: int, until: int | None = None, *,
        symbols=("BTC/USDT",), run_id: str = "r1", **kw):
    sleeps: list[float] = kw.pop("sleeps", [])
    return ingest_ohlcv(store, kw.pop("settings", settings_for(emu)), list(symbols), "1h",
                        since, until, now_ms=lambda: emu.now_ms, run_id=run_id,
                        retry=kw.pop("retry", FAST_RETRY), sleep=sleeps.append, **kw)


def stored(store: MarketStore, symbol: str = "BTC/USDT") -> pd.DataFrame:
    frame = store.read_bars("binance", "1h", [symbol])
    frame = frame[["ts", "open", "high", "low", "close", "volume"]]
    return frame.sort_values("ts").reset_index(drop=True)


def runs(store: MarketStore) -> dict[str, IngestRun]:
    return {r.run_id: r for r in store.ingest_runs()}


def klines_starts(emu: BinanceEmulator) -> list[int]:
    return [int(r.params["startTime"]) for r in emu.log.records(KLINES)]


class TestPaging:
    def test_2500_bars_in_three_pages_equal_to_the_source(self, store, emulator, ts):
        until = ts[2_500]
        summary = run(store, emulator, ts[0], until)
        assert summary.rows_added == 2_500
        assert klines_starts(emulator) == [ts[0], ts[999] + TF, ts[1_999] + TF]
        assert all(r.params["limit"] == "1000" for r in emulator.log.records(KLINES))
        pd.testing.assert_frame_equal(stored(store), emulator.closed_bars(
            "BTC/USDT", ts[0], until))
        assert runs(store)["r1"].status == "ok" and runs(store)["r1"].rows_added == 2_500

    def test_progress_reports_every_page_and_finishes(self, store, emulator, ts):
        seen: list[IngestProgress] = []
        run(store, emulator, ts[0], ts[2_500], progress=seen.append)
        assert [p.cursor_ts for p in seen if not p.done] == [ts[0], ts[999] + TF,
                                                            ts[1_999] + TF]
        assert seen[-1].done and seen[-1].fraction == 1.0 and seen[-1].rows_added == 2_500
        assert [p.bars_fetched for p in seen] == [0, 1_000, 2_000, 2_500, 2_500]

    def test_two_symbols(self, store, emulator, ts):
        until = ts[300]
        summary = run(store, emulator, ts[0], until, symbols=("BTC/USDT", "ETH/USDT"))
        assert [s.rows_added for s in summary.symbols] == [
            len(emulator.closed_bars(s, ts[0], until)) for s in ("BTC/USDT", "ETH/USDT")]
        pd.testing.assert_frame_equal(stored(store, "ETH/USDT"),
                                      emulator.closed_bars("ETH/USDT", ts[0], until))


class TestResume:
    def test_second_run_fetches_only_the_missing_bars(self, store, emulator, ts):
        t1, t2 = ts[1_200], ts[2_500]
        run(store, emulator, ts[0], t1, run_id="a")
        emulator.log.clear()
        summary = run(store, emulator, ts[0], t2, run_id="b")
        assert klines_starts(emulator) == [ts[1_199] + TF, ts[2_199] + TF]
        assert summary.rows_added == 1_300
        frame = stored(store)
        assert len(frame) == 2_500 and frame["ts"].is_unique
        pd.testing.assert_frame_equal(frame, emulator.closed_bars("BTC/USDT", ts[0], t2))

    def test_rerun_of_a_complete_range_asks_for_nothing(self, store, emulator, ts):
        until = ts[500]
        run(store, emulator, ts[0], until, run_id="a")
        emulator.log.clear()
        summary = run(store, emulator, ts[0], until, run_id="b")
        assert summary.rows_added == 0 and emulator.log.count(KLINES) == 0
        assert len(stored(store)) == 500
        assert runs(store)["b"].status == "ok"


class TestOpenBar:
    def test_the_open_bar_is_never_stored(self, store, emulator, ts):
        emulator.now_ms = ts[300] + TF // 2  # bar 300 is half done
        run(store, emulator, ts[0])
        frame = stored(store)
        assert len(frame) == 300 and int(frame["ts"].iloc[-1]) == ts[299]
        # the emulator did serve the partial bar; ingest dropped it
        assert emulator.log.count(KLINES) == 1

    def test_a_bar_closing_exactly_now_is_stored_and_resume_picks_up_later(
            self, store, emulator, ts):
        emulator.now_ms = ts[300]
        run(store, emulator, ts[0], run_id="a")
        assert len(stored(store)) == 300
        emulator.now_ms = ts[450] + 1
        summary = run(store, emulator, ts[0], run_id="b")
        assert summary.rows_added == 150
        pd.testing.assert_frame_equal(stored(store), emulator.closed_bars("BTC/USDT"))

    def test_a_fast_local_clock_cannot_let_the_open_bar_in(self, store, emulator, ts):
        emulator.now_ms = ts[10] + 5
        ingest_ohlcv(store, settings_for(emulator), ["BTC/USDT"], "1h", ts[0],
                     now_ms=lambda: emulator.now_ms + 365 * 24 * TF, run_id="r")
        assert len(stored(store)) == 10


class TestFaults:
    def test_429_5xx_timeout_and_dropped_connection_are_retried(self, store, emulator,
                                                               ts):
        until = ts[2_500]
        emulator.faults.inject(Fault.rate_limit(retry_after_s=3), path=KLINES, after=1)
        emulator.faults.inject(Fault.http(503), path=KLINES)
        emulator.faults.inject(Fault.http(500), path=KLINES)
        emulator.faults.inject(Fault.drop(), path=KLINES, after=1)
        emulator.faults.inject(Fault.hang(1.0), path=KLINES)
        sleeps: list[float] = []
        summary = run(store, emulator, ts[0], until, sleeps=sleeps,
                      settings=settings_for(emulator, timeout_ms=300),
                      retry=RetryPolicy(attempts=4, base_delay_s=0.01, max_delay_s=0.05))
        assert emulator.faults.pending() == 0
        faults = [r.fault for r in emulator.log.records(KLINES)]
        assert faults == [None, "status", "status", "status", None, "drop", "hang", None]
        assert sleeps[0] == 3.0  # Retry-After honoured
        assert len(sleeps) == 5 and all(s <= 0.05 for s in sleeps[1:])
        assert summary.rows_added == 2_500
        pd.testing.assert_frame_equal(stored(store), emulator.closed_bars(
            "BTC/USDT", ts[0], until))

    def test_persistent_outage_fails_keeps_whole_pages_and_a_rerun_completes(
            self, store, emulator, ts):
        until = ts[2_500]
        emulator.faults.inject(Fault.http(502), path=KLINES, after=1, times=50)
        with pytest.raises(TransientExchangeError, match="gave up after 3 attempts"):
            run(store, emulator, ts[0], until, run_id="a")
        assert len(stored(store)) == 1_000
        record = runs(store)["a"]
        assert record.status == "failed" and record.rows_added == 1_000
        assert "ExchangeNotAvailable" in record.message
        emulator.faults.clear()
        emulator.log.clear()
        run(store, emulator, ts[0], until, run_id="b")
        assert klines_starts(emulator) == [ts[999] + TF, ts[1_999] + TF]
        pd.testing.assert_frame_equal(stored(store), emulator.closed_bars(
            "BTC/USDT", ts[0], until))

    def test_pages_are_written_as_they_arrive_when_asked(self, store, emulator, ts):
        def check_store(p: IngestProgress) -> None:
            assert p.rows_added == p.bars_fetched  # written page by page
            if p.rows_added:
                assert len(stored(store)) == p.rows_added

        run(store, emulator, ts[0], ts[2_500], write_every_rows=1_000, progress=check_store)
        assert len(stored(store)) == 2_500

    def test_interrupt_midway_is_recorded_and_resumable(self, store, emulator, ts):
        until = ts[2_500]

        def stop_after_two_pages(p: IngestProgress) -> None:
            if p.pages == 2:
                raise KeyboardInterrupt

        with pytest.raises(KeyboardInterrupt):
            run(store, emulator, ts[0], until, run_id="a", progress=stop_after_two_pages)
        assert len(stored(store)) == 2_000
        record = runs(store)["a"]
        assert record.status == "interrupted" and record.rows_added == 2_000
        assert "re-run" in record.message
        emulator.log.clear()
        run(store, emulator, ts[0], until, run_id="b")
        assert klines_starts(emulator) == [ts[1_999] + TF]
        pd.testing.assert_frame_equal(stored(store), emulator.closed_bars(
            "BTC/USDT", ts[0], until))


class TestMarkets:
    def test_unknown_symbol_says_did_you_mean_and_fetches_nothing(self, store, emulator,
                                                                 ts):
        expected = r"'BTC/USDTT' \(did you mean 'BTC/USDT'\?\)"
        with pytest.raises(UnknownSymbol, match=expected):
            run(store, emulator, ts[0], symbols=("BTC/USDTT",), run_id="bad")
        assert emulator.log.count(KLINES) == 0
        assert runs(store)["bad"].status == "failed"

    def test_snapshot_saved_with_the_exchange_info_filters(self, store, emulator, ts):
        run(store, emulator, ts[0], ts[10])
        assert store.load_markets("binance") == {  # fees in the asset received (ccxt: get)
            "BTC/USDT": MarketSpec("BTC/USDT", tick_size=0.01, lot_step=0.00001,
                                   min_amount=0.00001, min_notional=5.0, fee_side="get"),
            "ETH/USDT": MarketSpec("ETH/USDT", tick_size=0.01, lot_step=0.0001,
                                   min_amount=0.0001, min_notional=5.0, fee_side="get"),
        }
        raw = json.loads(store.markets_raw_json("binance"))
        assert list(raw) == ["BTC/USDT"]
        assert {f["filterType"] for f in raw["BTC/USDT"]["info"]["filters"]} >= {
            "PRICE_FILTER", "LOT_SIZE", "NOTIONAL"}


def cli_app() -> typer.Typer:
    app = typer.Typer()

    @app.callback()
    def main() -> None:
        """tradeloom (test wrapper)."""

    app.command("ingest")(ingest)
    return app


class TestCli:
    def test_api_url_end_to_end(self, tmp_path, emulator, ts, monkeypatch):
        monkeypatch.setenv("TRADELOOM_CATALOG", str(tmp_path / "cat"))
        emulator.now_ms = ts[48] + 123
        result = CliRunner().invoke(cli_app(), [
            "ingest", "--exchange", "binance", "--symbols", "BTC/USDT,ETH/USDT",
            "--timeframe", "1h", "--since", str(ts[0]), "--api-url", emulator.base_url,
            "--option", "adjustForTimeDifference=false"])
        assert result.exit_code == 0, result.output
        assert f"BTC/USDT: +48 bars, stored up to {format_utc_ms(ts[47])}" in result.stdout
        assert f"ETH/USDT: +{len(emulator.closed_bars('ETH/USDT', ts[0]))} bars" in (
            result.stdout)
        store = MarketStore(tmp_path / "cat")
        pd.testing.assert_frame_equal(stored(store), emulator.closed_bars("BTC/USDT"))
        assert [r.status for r in store.ingest_runs()] == ["ok"]

    def test_errors_are_red_on_stderr_with_exit_2(self, tmp_path, emulator, monkeypatch):
        monkeypatch.setenv("TRADELOOM_CATALOG", str(tmp_path / "cat"))
        result = CliRunner().invoke(cli_app(), [
            "ingest", "--exchange", "binance", "--symbols", "ETH/USDTT", "--since",
            "2021-01-01", "--api-url", emulator.base_url, "--quiet"])
        assert result.exit_code == 2
        assert "did you mean 'ETH/USDT'" in result.stderr

    def test_unknown_exchange_is_a_config_error(self, tmp_path, monkeypatch):
        monkeypatch.setenv("TRADELOOM_CATALOG", str(tmp_path / "cat"))
        result = CliRunner().invoke(cli_app(), [
            "ingest", "--exchange", "binanse", "--symbols", "BTC/USDT", "--since",
            "2024-01-01"])
        assert result.exit_code == 2
        assert "did you mean 'binance'" in result.stderr

    def test_help_has_a_runnable_example(self):
        result = CliRunner().invoke(cli_app(), ["ingest", "--help"])
        assert result.exit_code == 0
        assert "tradeloom ingest --exchange binance --symbols BTC/USDT,ETH/USDT" in " ".join(
            result.stdout.split())

    def test_option_parsing(self):
        assert parse_options(["a=1", "b.c=true", "d=text", "e=[\"spot\"]"]) == {
            "a": 1, "b": {"c": True}, "d": "text", "e": ["spot"]}
