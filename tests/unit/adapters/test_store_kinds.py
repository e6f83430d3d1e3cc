"""The store's data kinds, range delete, recovery, known gaps and corruption handling, on
the local and the S3 back end (real Parquet, real DuckDB, the S3 API server on 127.0.0.1)."""

from __future__ import annotations

from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from s3_helpers import s3_env, s3_server  # noqa: F401 - fixtures

from tradeloom.adapters.store.catalog import KnownGap
from tradeloom.adapters.store.market_store import MarketStore
from tradeloom.adapters.store.parquet_io import CorruptPartition
from tradeloom.engine.errors import ConfigError, DataError

REPO = Path(__file__).resolve().parents[3]
SAMPLE = REPO / "datasets" / "sample" / "binance"
HOUR = 3_600_000
H8 = 8 * HOUR
PERP = "BTC/USDT:USDT"


@pytest.fixture(params=["local", "s3"])
def store(request, tmp_path) -> MarketStore:
    if request.param == "local":
        return MarketStore(tmp_path / "catalog")
    return MarketStore(request.getfixturevalue("s3_env"))


def bars(ts, base=100.0) -> pd.DataFrame:
    ts = np.asarray(ts, dtype=np.int64)
    price = base + np.arange(len(ts), dtype=np.float64)
    return pd.DataFrame({"ts": ts, "open": price, "high": price + 2, "low": price - 1,
                         "close": price + 1, "volume": np.full(len(ts), 3.0)})


def trades(rows) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["ts", "price", "amount", "side", "id"]).astype(
        {"ts": "int64", "price": "float64", "amount": "float64"})


# ----------------------------------------------------------------------------- kinds

def test_real_funding_round_trips_with_its_millisecond_offsets(store):
    funding = pd.read_parquet(SAMPLE / "BTC-USDT-USDT_funding.parquet")
    assert store.write("funding", "binance", "", PERP, funding, source="t").rows_added == 104
    back = store.read_funding("binance", PERP)
    pd.testing.assert_frame_equal(back, funding)
    assert int(back.ts.iloc[0]) == 1749744000001  # 16:00:00.001, as Binance reported it


def test_mark_bars_are_read_through_the_bar_reader_with_a_price_type(store):
    mark = pd.read_parquet(SAMPLE / "BTC-USDT-USDT_mark-8h.parquet")
    store.write_bars("binance", "8h", PERP, mark, source="t", price="mark")
    got = store.read_bars("binance", "8h", PERP, price="mark", start=int(mark.ts.iloc[1]))
    pd.testing.assert_frame_equal(got, mark.iloc[1:].reset_index(drop=True))
    with pytest.raises(DataError, match="holds no bars yet"):
        store.read_bars("binance", "8h", PERP)  # mark-price bars only, no traded-price bars


def test_index_and_mark_bars_are_separate_datasets(store):
    store.write_bars("binance", "1h", PERP, bars([0, HOUR]), source="t", price="mark")
    store.write_bars("binance", "1h", PERP, bars([0, HOUR], base=7.0), source="t", price="index")
    assert store.read_bars("binance", "1h", PERP, price="mark").open.tolist() == [100.0, 101.0]
    assert store.read_bars("binance", "1h", PERP, price="index").open.tolist() == [7.0, 8.0]
    assert sorted(d.kind for d in store.list_datasets()) == ["index", "mark"]


def test_open_interest_is_on_the_period_grid_and_allows_an_unknown_value(store):
    oi = pd.DataFrame({"ts": [0, HOUR], "open_interest": [10.0, 12.0],
                       "open_interest_value": [np.nan, 1200.0]})
    store.write("open_interest", "binance", "1h", PERP, oi, source="t")
    back = store.read_open_interest("binance", PERP, "1h")
    assert back.open_interest.tolist() == [10.0, 12.0] and np.isnan(back.open_interest_value[0])
    with pytest.raises(DataError, match=r"frame row 0 .*not a 1h period start"):
        store.write("open_interest", "binance", "1h", PERP, oi.assign(ts=[1, HOUR]), source="t")


def test_trades_share_a_millisecond_dedupe_by_id_and_refuse_a_changed_trade(store):
    first = trades([(1000, 10.0, 1.0, "buy", "1"), (1000, 10.5, 2.0, "sell", "2"),
                    (2000, 11.0, 0.5, None, "3")])
    assert store.write("trades", "binance", "", "BTC/USDT", first, source="t").rows_added == 3
    again = trades([(1000, 10.5, 2.0, "sell", "2"), (3000, 12.0, 1.0, "buy", "4")])
    assert store.write("trades", "binance", "", "BTC/USDT", again, source="t").rows_added == 1
    back = store.read_trades("binance", "BTC/USDT")
    assert back.id.tolist() == ["1", "2", "3", "4"] and pd.isna(back.side[2])
    changed = trades([(1000, 99.0, 2.0, "sell", "2")])
    with pytest.raises(DataError, match=r"trade id '2' .* already stored"):
        store.write("trades", "binance", "", "BTC/USDT", changed, source="t")


def test_trades_in_day_files_aggregate_to_the_bars_they_came_from(store):
    day = 86_400_000
    rows = [(day - 30_000, 10.0, 1.0, "buy", "1"), (day - 10_000, 12.0, 2.0, "buy", "2"),
            (day + 5_000, 11.0, 3.0, "sell", "3"), (day + 50_000, 9.0, 4.0, "sell", "4")]
    store.write("trades", "binance", "", "BTC/USDT", trades(rows), source="t")
    paths = sorted(p.rsplit("/", 1)[1] for p in store.storage.list_files("trades"))
    assert paths == ["1970-01-01.parquet", "1970-01-02.parquet"]
    got = store.trades_to_bars("binance", "BTC/USDT", "1m", write=True)
    #                      ts           open  high  low   close volume
    assert got.values.tolist() == [[day - 60_000, 10.0, 12.0, 10.0, 12.0, 3.0],
                                   [day, 11.0, 11.0, 9.0, 9.0, 7.0]]
    assert store.read_bars("binance", "1m", "BTC/USDT").close.tolist() == [12.0, 9.0]


def test_a_kind_without_a_timeframe_refuses_one(store):
    with pytest.raises(ConfigError, match="funding data has no timeframe"):
        store.write("funding", "binance", "8h", PERP, pd.DataFrame(
            {"ts": [0], "funding_rate": [0.0001]}), source="t")
    with pytest.raises(ConfigError, match="not one of"):
        store.write("candles", "binance", "1h", PERP, bars([0]), source="t")


# ----------------------------------------------------------------------------- delete

def test_deleting_a_range_rewrites_cut_files_and_drops_whole_ones(store):
    new_year = 1704067200000
    store.write_bars("binance", "1h", "BTC/USDT",
                     bars([new_year - 2 * HOUR, new_year - HOUR, new_year, new_year + HOUR]),
                     source="t")
    removed = store.delete("ohlcv", "binance", "1h", "BTC/USDT", new_year - HOUR, new_year + HOUR)
    assert removed == 2
    assert store.read_bars("binance", "1h", "BTC/USDT").ts.tolist() == [
        new_year - 2 * HOUR, new_year + HOUR]
    (report,) = store.check()
    assert report.integrity == () and report.rows == 2


def test_deleting_a_whole_dataset_removes_its_files_and_catalog_rows(store):
    store.write_bars("binance", "1h", "BTC/USDT", bars([0, HOUR]), source="t")
    store.write_bars("binance", "1h", "ETH/USDT", bars([0]), source="t")
    assert store.delete("ohlcv", "binance", "1h", "BTC/USDT") == 2
    assert [d.symbol for d in store.list_datasets()] == ["ETH/USDT"]
    assert all("BTC-USDT" not in p for p in store.storage.list_files())


# ----------------------------------------------------------------------------- recovery

def test_what_a_killed_writer_left_is_cleaned_up_by_the_next_write(store):
    store.write_bars("binance", "1h", "BTC/USDT", bars([0, HOUR]), source="t")
    (final,) = store.storage.list_files("ohlcv")
    head = final.rsplit("/", 1)[0]
    original = store.storage.read_bytes(final)
    # killed mid-swap: the new file is in place, the catalog still describes the old one
    store.storage.backup(final, f"{head}/.1970.parquet.4242.bak")
    store.storage.write_parquet(
        pa.Table.from_pandas(bars([0, HOUR, 2 * HOUR], base=5.0), preserve_index=False),
        f"{head}/new.parquet.part")
    store.storage.replace(f"{head}/new.parquet.part", final)
    store.storage.write_bytes(f"{head}/.1970.parquet.4242.tmp", b"half a file")
    store.storage.write_bytes(f"{head}/1971.parquet", b"never committed")
    done = store.recover("ohlcv", "binance", "1h", "BTC/USDT")
    assert len(done) == 3 and any("restored" in line for line in done)
    assert store.storage.list_files("ohlcv") == [final]
    assert store.storage.read_bytes(final) == original
    assert store.check()[0].ok


# ----------------------------------------------------------------------------- corruption

def test_a_truncated_file_is_reported_by_check_which_goes_on(store):
    store.write_bars("binance", "1h", "BTC/USDT", bars([0, HOUR]), source="t")
    store.write_bars("binance", "1h", "ETH/USDT", bars([0, HOUR]), source="t")
    (path,) = store.storage.list_files("ohlcv/exchange=binance/timeframe=1h/symbol=BTC-USDT")
    store.storage.write_bytes(path, store.storage.read_bytes(path)[:100])
    btc, eth = store.check()
    assert not btc.ok and eth.ok
    assert "cannot read partition file" in btc.integrity[0]
    assert "tradeloom data repair --exchange binance --symbol BTC/USDT --timeframe 1h" in (
        btc.integrity[0])


def test_reading_a_truncated_file_names_it_and_the_repair_command(store):
    store.write_bars("binance", "1h", "BTC/USDT", bars(range(0, 10 * HOUR, HOUR)), source="t")
    (path,) = store.storage.list_files("ohlcv")
    store.storage.write_bytes(path, store.storage.read_bytes(path)[:-40])
    for read in (lambda: store.read_bars("binance", "1h", "BTC/USDT"),
                 lambda: list(store.iter_batches("binance", "1h", "BTC/USDT"))):
        with pytest.raises(CorruptPartition, match=r"1970\.parquet.*tradeloom data repair"):
            read()


def test_drop_damaged_turns_a_corrupt_file_into_a_hole(store):
    new_year = 1704067200000
    store.write_bars("binance", "1h", "BTC/USDT", bars([new_year - HOUR, new_year]), source="t")
    damaged = [p for p in store.storage.list_files("ohlcv") if p.endswith("2024.parquet")]
    store.storage.write_bytes(damaged[0], b"PAR1 garbage")
    assert store.drop_damaged("ohlcv", "binance", "1h", "BTC/USDT") == damaged
    holes, broken = store.missing("ohlcv", "binance", "1h", "BTC/USDT", new_year - HOUR,
                                  new_year + HOUR)
    assert (holes, broken) == ([(new_year, new_year + HOUR)], [])


# ----------------------------------------------------------------------------- known gaps

def test_acknowledged_gaps_pass_the_check_and_new_ones_still_fail(store):
    store.write_bars("binance", "1h", "BTC/USDT", bars([0, HOUR, 4 * HOUR, 5 * HOUR]),
                     source="t")
    (before,) = store.check()
    assert (before.gap_count, before.ok) == (1, False)
    store.acknowledge_gaps([KnownGap("ohlcv", "binance", "1h", "BTC/USDT", 2 * HOUR, 4 * HOUR,
                                     "exchange outage", "tester", 123, "user")])
    (after,) = store.check()
    assert (after.gap_count, after.known_gap_count, after.known_missing, after.ok) == (0, 1, 2,
                                                                                       True)
    store.write_bars("binance", "1h", "BTC/USDT", bars([8 * HOUR]), source="t")
    (later,) = store.check()
    assert (later.gap_count, later.missing_bars, later.known_gap_count) == (1, 2, 1)
    (gap,) = store.known_gaps()
    assert (gap.acknowledged_by, gap.acknowledged_ts, gap.reason) == ("tester", 123,
                                                                      "exchange outage")


def test_a_known_gap_is_not_asked_for_again(store):
    store.write_bars("binance", "1h", "BTC/USDT", bars([0, HOUR, 4 * HOUR]), source="t")
    assert store.missing("ohlcv", "binance", "1h", "BTC/USDT", 0, 6 * HOUR)[0] == [
        (2 * HOUR, 4 * HOUR), (5 * HOUR, 6 * HOUR)]
    store.acknowledge_gaps([KnownGap("ohlcv", "binance", "1h", "BTC/USDT", 2 * HOUR, 4 * HOUR,
                                     "outage", "tester", 0, "user")])
    assert store.missing("ohlcv", "binance", "1h", "BTC/USDT", 0, 6 * HOUR)[0] == [
        (5 * HOUR, 6 * HOUR)]


def test_funding_gaps_are_steps_longer_than_the_usual_interval(store):
    ts = [0, H8 + 1, 2 * H8, 3 * H8 + 3, 5 * H8, 6 * H8]  # the funding at 4 x 8h is missing
    store.write("funding", "binance", "", PERP, pd.DataFrame(
        {"ts": ts, "funding_rate": [0.0001] * 6}), source="t")
    (report,) = store.check()
    assert (report.gap_count, report.missing_bars, report.gaps[0].from_ts) == (1, 1, 3 * H8 + 3)


# ----------------------------------------------------------------------------- migration

def test_a_catalog_written_before_data_kinds_is_migrated_in_place(tmp_path):
    store = MarketStore(tmp_path / "old")
    store.write_bars("binance", "1h", "BTC/USDT", bars([0, HOUR]), source="t")
    db = str(tmp_path / "old" / "catalog.duckdb")
    con = duckdb.connect(db)
    con.execute("ALTER TABLE partitions RENAME COLUMN part TO year")
    for table in ("datasets", "partitions", "ingest_runs"):
        con.execute(f"ALTER TABLE {table} DROP COLUMN kind")
    con.execute("DROP TABLE known_gaps")
    con.close()
    reopened = MarketStore(tmp_path / "old")
    assert reopened.read_bars("binance", "1h", "BTC/USDT").ts.tolist() == [0, HOUR]
    assert [d.kind for d in reopened.list_datasets()] == ["ohlcv"]
    assert reopened.check()[0].ok
