"""MarketStore: real Parquet files and a real DuckDB catalog in a temporary directory."""

from __future__ import annotations

import os
import tempfile
import threading
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from s3_helpers import s3_env, s3_server  # noqa: F401 - fixtures

from tradeloom.adapters.store import catalog as catalog_module
from tradeloom.adapters.store.market_store import IngestRun, MarketStore
from tradeloom.adapters.store.storage import LocalStorage
from tradeloom.engine.errors import ConfigError, DataError, UnknownSymbol
from tradeloom.engine.market import MarketSpec

REPO = Path(__file__).resolve().parents[3]
COLS = ["ts", "open", "high", "low", "close", "volume"]
HOUR = 3_600_000


@pytest.fixture(scope="module")
def real_bars() -> pd.DataFrame:
    """Real Binance BTC/USDT 1h bars: the bundled project sample."""
    sample = REPO / "datasets" / "sample" / "binance" / "BTC-USDT_1h.parquet"
    frame = pd.read_parquet(sample)[COLS].reset_index(drop=True)
    return frame


@pytest.fixture(params=["local", "s3"])
def make_store(request, tmp_path):
    """``make_store(name)``: a fresh store on the back end under test (local disk, or the
    S3 API server on 127.0.0.1): the store suite runs against both."""
    if request.param == "local":
        return lambda name="catalog": MarketStore(tmp_path / name)
    location = request.getfixturevalue("s3_env")
    return lambda name="catalog": MarketStore(f"{location}/{name}")


@pytest.fixture()
def store(make_store) -> MarketStore:
    return make_store()


_NOT_DATA = {"catalog.duckdb", "catalog.token", ".write.lock", "catalog.sync.json"}


def snapshot(store: MarketStore) -> tuple[dict[str, bytes], dict[str, list]]:
    """Every data file's bytes (and any stray file in the root), plus all catalog rows."""
    files = {}
    for rel in store.storage.list_files():
        if rel.rpartition("/")[2] not in _NOT_DATA and not rel.endswith(".duckdb.wal"):
            files[rel] = store.storage.read_bytes(rel)
    rows = {}
    db = Path(store.storage.catalog_dir) / "catalog.duckdb"
    if db.exists():
        con = duckdb.connect(str(db), read_only=True)
        try:
            for (table,) in con.execute("SELECT table_name FROM information_schema.tables "
                                        "ORDER BY table_name").fetchall():
                rows[table] = sorted(con.execute(f"SELECT * FROM {table}").fetchall(), key=repr)
        finally:
            con.close()
    return files, rows


def bars(ts, base=100.0) -> pd.DataFrame:
    ts = np.asarray(ts, dtype=np.int64)
    price = base + np.arange(len(ts), dtype=np.float64)
    return pd.DataFrame({"ts": ts, "open": price, "high": price + 2, "low": price - 1,
                         "close": price + 1, "volume": np.full(len(ts), 3.0)})


# ----------------------------------------------------------------------------- round trip

price = st.floats(min_value=1e-8, max_value=1e9, allow_nan=False, allow_infinity=False)
spread = st.floats(min_value=0, max_value=1e6, allow_nan=False, allow_infinity=False)
dip = st.floats(min_value=0, max_value=0.99, allow_nan=False)  # low as a fraction below


@st.composite
def valid_frames(draw):
    timeframe, tf_ms = draw(st.sampled_from([("1m", 60_000), ("1h", HOUR), ("1d", 86_400_000)]))
    steps = draw(st.lists(st.integers(0, 2_000), min_size=1, max_size=40, unique=True))
    start = draw(st.integers(1_500_000_000_000 // tf_ms, 1_900_000_000_000 // tf_ms)) * tf_ms
    rows = []
    for k in sorted(steps):
        o, c, up, down, v = draw(st.tuples(price, price, spread, dip, spread))
        rows.append((start + k * tf_ms, o, max(o, c) + up, min(o, c) * (1.0 - down), c, v))
    frame = pd.DataFrame(rows, columns=COLS).astype({"ts": "int64"})
    shuffled = frame.sample(frac=1.0, random_state=draw(st.integers(0, 2**16)))
    return timeframe, frame, shuffled


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(valid_frames())
def test_write_then_read_returns_every_valid_frame_bit_for_bit(case):
    timeframe, frame, shuffled = case
    with tempfile.TemporaryDirectory() as root:
        store = MarketStore(root)
        report = store.write_bars("binance", timeframe, "BTC/USDT", shuffled, source="test")
        back = store.read_bars("binance", timeframe, "BTC/USDT")
    assert report.rows_added == len(frame)
    assert list(back.columns) == COLS
    for name in COLS:
        assert back[name].dtype == frame[name].dtype
        assert back[name].to_numpy().tobytes() == frame[name].to_numpy().tobytes()


# ----------------------------------------------------------------------------- writing

def test_rewriting_the_same_bars_adds_nothing_and_leaves_files_untouched(store, real_bars):
    store.write_bars("binance", "1h", "BTC/USDT", real_bars, source="test")
    before = snapshot(store)
    report = store.write_bars("binance", "1h", "BTC/USDT", real_bars, source="test")
    assert (report.rows_added, report.partitions) == (0, ())
    assert report.rows_total == len(real_bars)
    assert snapshot(store) == before


def test_overlapping_write_adds_only_the_new_bars(store, real_bars):
    half = len(real_bars) // 2
    store.write_bars("binance", "1h", "BTC/USDT", real_bars.iloc[:half], source="test")
    report = store.write_bars("binance", "1h", "BTC/USDT", real_bars.iloc[half - 10:], source="t")
    assert report.rows_added == len(real_bars) - half
    assert report.rows_total == len(real_bars)
    assert report.last_ts == int(real_bars.ts.iloc[-1])


def test_a_stored_time_with_different_values_raises_naming_symbol_and_ts(store):
    store.write_bars("binance", "1h", "BTC/USDT", bars([0, HOUR]), source="test")
    changed = bars([HOUR], base=500.0)
    with pytest.raises(DataError, match=r"BTC/USDT.*3600000 \(1970-01-01T01:00:00Z\)"):
        store.write_bars("binance", "1h", "BTC/USDT", changed, source="test")


def test_a_bad_bar_is_refused_naming_row_column_and_rule(store):
    frame = bars([0, HOUR, 2 * HOUR])
    frame.loc[1, "high"] = 50.0
    with pytest.raises(DataError, match=r"frame row 1 \(0-based\).*'high': high 50.0 < low"):
        store.write_bars("binance", "1h", "BTC/USDT", frame, source="test")
    assert store.list_datasets() == []


def test_a_bar_time_off_the_timeframe_grid_is_refused(store):
    with pytest.raises(DataError, match=r"frame row 1 .*not a 1h bar open time"):
        store.write_bars("binance", "1h", "BTC/USDT", bars([0, 1_800_000]), source="test")


def test_repeated_rows_with_different_values_in_one_frame_are_refused(store):
    frame = pd.concat([bars([0]), bars([0], base=7.0)], ignore_index=True)
    with pytest.raises(DataError, match=r"frame rows 0 and 1 .*both open at ts 0"):
        store.write_bars("binance", "1h", "BTC/USDT", frame, source="test")


def test_weekly_bars_open_on_mondays(store):
    monday = 1704067200000 - 86_400_000 * 0  # 2024-01-01 was a Monday
    report = store.write_bars("binance", "1w", "BTC/USDT", bars([monday, monday + 604_800_000]),
                              source="test")
    assert report.rows_added == 2


def test_wrong_columns_and_names_are_refused(store):
    with pytest.raises(DataError, match=r"missing \['volume'\]"):
        store.write_bars("binance", "1h", "BTC/USDT", bars([0]).drop(columns="volume"),
                         source="test")
    with pytest.raises(ConfigError, match="BASE/QUOTE"):
        store.write_bars("binance", "1h", "BTCUSDT", bars([0]), source="test")
    with pytest.raises(ConfigError, match="unknown timeframe"):
        store.write_bars("binance", "1M", "BTC/USDT", bars([0]), source="test")


# ----------------------------------------------------------------------------- atomicity

def two_year_store(store: MarketStore) -> pd.DataFrame:
    """Bars at the end of 2023 and start of 2024, then a frame extending both years."""
    new_year = 1704067200000
    store.write_bars("binance", "1h", "BTC/USDT", bars([new_year - 2 * HOUR, new_year]),
                     source="test")
    return bars([new_year - HOUR, new_year + HOUR], base=300.0)


def test_a_failure_while_swapping_files_restores_tree_and_catalog(store, monkeypatch):
    extension = two_year_store(store)
    before = snapshot(store)
    storage_type = type(store.storage)
    real_replace, calls = storage_type.replace, []

    def flaky_replace(self, src, dst):
        calls.append(dst)
        if len(calls) == 2:  # the first partition is already swapped in
            raise OSError("disk full")
        return real_replace(self, src, dst)

    monkeypatch.setattr(storage_type, "replace", flaky_replace)
    with pytest.raises(OSError, match="disk full"):
        store.write_bars("binance", "1h", "BTC/USDT", extension, source="test")
    monkeypatch.setattr(storage_type, "replace", real_replace)
    assert snapshot(store) == before


def test_os_replace_failing_midway_restores_the_local_tree(tmp_path, monkeypatch):
    store = MarketStore(tmp_path / "catalog")
    extension = two_year_store(store)
    before = snapshot(store)
    real_replace, calls = os.replace, []

    def flaky_replace(src, dst):
        calls.append(dst)
        if len(calls) == 2:  # the first partition is already swapped in
            raise OSError("disk full")
        return real_replace(src, dst)

    monkeypatch.setattr(os, "replace", flaky_replace)
    with pytest.raises(OSError, match="disk full"):
        store.write_bars("binance", "1h", "BTC/USDT", extension, source="test")
    monkeypatch.setattr(os, "replace", real_replace)
    assert snapshot(store) == before


def test_a_failure_in_the_catalog_update_restores_tree_and_catalog(store, monkeypatch):
    extension = two_year_store(store)
    before = snapshot(store)

    def broken(self, *args, **kwargs):
        raise duckdb.IOException("catalog write failed")

    monkeypatch.setattr(catalog_module.CatalogWriter, "put_dataset", broken)
    with pytest.raises(duckdb.IOException):
        store.write_bars("binance", "1h", "BTC/USDT", extension, source="test")
    assert snapshot(store) == before


def test_a_failed_first_write_leaves_no_catalog_and_no_files(store, monkeypatch):
    def broken(self, *args, **kwargs):
        raise duckdb.IOException("catalog write failed")

    monkeypatch.setattr(catalog_module.CatalogWriter, "put_dataset", broken)
    with pytest.raises(duckdb.IOException):
        store.write_bars("binance", "1h", "BTC/USDT", bars([0, HOUR]), source="test")
    assert store.storage.list_files("ohlcv") == []
    if isinstance(store.storage, LocalStorage):
        assert not (store.root / "ohlcv").exists()
    assert not (Path(store.storage.catalog_dir) / "catalog.duckdb").exists()


# ----------------------------------------------------------------------------- reading

def test_reads_cut_the_range_with_end_exclusive(store, real_bars):
    store.write_bars("binance", "1h", "BTC/USDT", real_bars, source="test")
    start, end = int(real_bars.ts.iloc[100]), int(real_bars.ts.iloc[200])
    got = store.read_bars("binance", "1h", "BTC/USDT", start=start, end=end)
    expected = real_bars[(real_bars.ts >= start) & (real_bars.ts < end)].reset_index(drop=True)
    pd.testing.assert_frame_equal(got, expected, check_dtype=True)


def test_many_symbols_are_merged_by_time_then_symbol_name(store):
    store.write_bars("binance", "1h", "ETH/USDT", bars([0, HOUR, 2 * HOUR], base=10), source="t")
    store.write_bars("binance", "1h", "BTC/USDT", bars([HOUR, 3 * HOUR], base=20), source="t")
    got = store.read_bars("binance", "1h", ["ETH/USDT", "BTC/USDT"])
    assert list(got.columns) == ["ts", "symbol", "open", "high", "low", "close", "volume"]
    assert list(zip(got.ts, got.symbol)) == [
        (0, "ETH/USDT"), (HOUR, "BTC/USDT"), (HOUR, "ETH/USDT"), (2 * HOUR, "ETH/USDT"),
        (3 * HOUR, "BTC/USDT")]


def test_unknown_names_list_what_is_stored(store):
    store.write_bars("binance", "1h", "BTC/USDT", bars([0]), source="test")
    with pytest.raises(UnknownSymbol, match=r"stored symbols: \['BTC/USDT'\]"):
        store.read_bars("binance", "1h", "ETH/USDT")
    with pytest.raises(UnknownSymbol, match=r"stored timeframes for binance: \['1h'\]"):
        store.read_bars("binance", "1m", "BTC/USDT")
    with pytest.raises(UnknownSymbol, match=r"stored exchanges: \['binance'\]"):
        store.read_bars("kraken", "1h", "BTC/USDT")


def test_an_empty_range_says_what_range_is_stored(store):
    store.write_bars("binance", "1h", "BTC/USDT", bars([0, HOUR]), source="test")
    with pytest.raises(DataError, match=r"stored bars run from 0 .* to 3600000"):
        store.read_bars("binance", "1h", "BTC/USDT", start=10 * HOUR)


def test_iter_batches_streams_in_bounded_batches_that_concatenate_to_the_read(store, real_bars):
    store.write_bars("binance", "1h", "BTC/USDT", real_bars, source="test")
    batches = list(store.iter_batches("binance", "1h", "BTC/USDT", batch_size=500))
    assert len(batches) >= len(real_bars) // 500
    assert max(b.num_rows for b in batches) <= 500
    assert pa.Table.from_batches(batches).equals(store.read_arrow("binance", "1h", "BTC/USDT"))


def test_iter_batches_of_many_symbols_matches_the_sorted_read(store, real_bars):
    store.write_bars("binance", "1h", "BTC/USDT", real_bars, source="test")
    store.write_bars("binance", "1h", "ETH/USDT", real_bars.iloc[::3], source="test")
    symbols = ["ETH/USDT", "BTC/USDT"]
    start, end = int(real_bars.ts.iloc[50]), int(real_bars.ts.iloc[4000])
    batches = list(store.iter_batches("binance", "1h", symbols, start, end, batch_size=333))
    assert max(b.num_rows for b in batches) <= 333
    streamed = pa.Table.from_batches(batches)
    assert streamed.equals(store.read_arrow("binance", "1h", symbols, start, end))


def test_last_ts_is_none_until_bars_are_stored(store):
    assert store.last_ts("binance", "1h", "BTC/USDT") is None
    store.write_bars("binance", "1h", "BTC/USDT", bars([0, HOUR]), source="test")
    assert store.last_ts("binance", "1h", "BTC/USDT") == HOUR


def test_concurrent_readers_and_a_writer_do_not_fail(store, real_bars):
    store.write_bars("binance", "1h", "BTC/USDT", real_bars.iloc[:1000], source="test")
    errors = []

    def read():
        try:
            for _ in range(5):
                assert len(store.read_bars("binance", "1h", "BTC/USDT")) >= 1000
        except Exception as exc:  # noqa: BLE001 - collected and re-raised by the test
            errors.append(exc)

    threads = [threading.Thread(target=read) for _ in range(3)]
    for thread in threads:
        thread.start()
    store.write_bars("binance", "1h", "BTC/USDT", real_bars, source="test")
    for thread in threads:
        thread.join()
    assert errors == []


# ----------------------------------------------------------------------------- fingerprints

def test_fingerprint_depends_only_on_the_bars_in_the_range(make_store, real_bars):
    a, b = make_store("a"), make_store("b")
    a.write_bars("binance", "1h", "BTC/USDT", real_bars, source="test")
    b.write_bars("binance", "1h", "BTC/USDT", real_bars.iloc[:3000], source="other")
    start, end = int(real_bars.ts.iloc[10]), int(real_bars.ts.iloc[2000])
    assert a.fingerprint("binance", "1h", "BTC/USDT", start, end) == \
        b.fingerprint("binance", "1h", "BTC/USDT", start, end)
    assert a.fingerprint("binance", "1h", "BTC/USDT") != b.fingerprint("binance", "1h", "BTC/USDT")


def test_list_datasets_reports_rows_range_and_a_stable_fingerprint(make_store, real_bars):
    infos = []
    for name in ("a", "b"):
        store = make_store(name)
        store.write_bars("binance", "1h", "BTC/USDT", real_bars.sample(frac=1, random_state=1),
                         source=name)
        infos.append(store.list_datasets())
    assert infos[0] == infos[1]
    (info,) = infos[0]
    assert (info.rows, info.first_ts, info.last_ts) == (
        len(real_bars), int(real_bars.ts.min()), int(real_bars.ts.max()))


# ----------------------------------------------------------------------------- check

def test_check_reports_gaps_in_stored_bars(store):
    store.write_bars("binance", "1h", "BTC/USDT", bars([0, HOUR, 5 * HOUR]), source="test")
    (report,) = store.check()
    assert (report.gap_count, report.missing_bars, report.ok_except_gaps) == (1, 3, True)


def test_check_notices_a_file_changed_outside_the_store(store):
    store.write_bars("binance", "1h", "BTC/USDT", bars([0, HOUR]), source="test")
    (rel,) = store.storage.list_files("ohlcv")
    store.storage.write_parquet(pa.Table.from_pandas(bars([0, HOUR], base=1.0),
                                                     preserve_index=False), rel)
    (report,) = store.check()
    assert not report.ok
    assert any("fingerprint" in line for line in report.integrity)


# ----------------------------------------------------------------------------- markets, runs

def test_markets_snapshot_round_trips_and_the_newest_wins(store):
    assert store.load_markets("binance") == {}
    old = {"BTC/USDT": MarketSpec("BTC/USDT", tick_size=0.1)}
    new = {"BTC/USDT": MarketSpec("BTC/USDT", tick_size=0.01, lot_step=1e-5, min_notional=5.0),
           "ETH/USDT": MarketSpec("ETH/USDT", maker_fee=0.0002)}
    store.save_markets("binance", old, fetched_ts=1)
    store.save_markets("binance", new, fetched_ts=2, raw_json='{"x": 1}')
    assert store.load_markets("binance") == new
    assert store.markets_raw_json("binance") == '{"x": 1}'


def test_the_fee_side_is_stored(store):
    store.save_markets("okx", {"BTC/USDT": MarketSpec("BTC/USDT", fee_side="get")},
                       fetched_ts=1)
    assert store.load_markets("okx")["BTC/USDT"].fee_side.value == "get"


def test_a_catalog_written_before_fee_sides_reads_as_quote(tmp_path):
    """The catalog file is edited in place to look old, so this runs on a local store."""
    store = MarketStore(tmp_path / "catalog")
    store.save_markets("okx", {"BTC/USDT": MarketSpec("BTC/USDT", fee_side="get")},
                       fetched_ts=1)
    # a catalog written before fee sides were stored: no fee_side column at all
    import duckdb

    path = tmp_path / "catalog" / "catalog.duckdb"
    with duckdb.connect(str(path)) as con:
        con.execute("ALTER TABLE market_snapshots DROP COLUMN fee_side")
    assert store.load_markets("okx")["BTC/USDT"].fee_side.value == "quote"  # ccxt's default
    store.save_markets("okx", {"BTC/USDT": MarketSpec("BTC/USDT", fee_side="get")},
                       fetched_ts=2)  # the next write adds the column back
    assert store.load_markets("okx")["BTC/USDT"].fee_side.value == "get"


def test_ingest_runs_are_listed_oldest_first_and_a_run_id_is_replaced(store):
    first = IngestRun("r1", "binance", "1h", ("BTC/USDT",), 0, 10, "interrupted", 5, "ctrl-c", 100,
                      200)
    second = IngestRun("r2", "binance", "1h", ("ETH/USDT",), None, None, "ok", 7, "", 50, 60)
    store.record_ingest_run(first)
    store.record_ingest_run(second)
    resumed = IngestRun("r1", "binance", "1h", ("BTC/USDT",), 0, 10, "ok", 9, "", 100, 300)
    store.record_ingest_run(resumed)
    assert store.ingest_runs() == [second, resumed]


def test_an_ingest_run_with_an_unknown_status_is_refused():
    with pytest.raises(ConfigError, match="status 'done'"):
        IngestRun("r", "binance", "1h", (), None, None, "done", 0, "", 0, 0)
