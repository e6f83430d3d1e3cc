"""CSV/Parquet import: unit detection, column mapping, and one message per bad input."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from tradeloom.adapters.store.importer import import_file
from tradeloom.adapters.store.market_store import MarketStore
from tradeloom.engine.errors import ConfigError, DataError

REPO = Path(__file__).resolve().parents[3]
T0 = 1_704_067_200_000  # 2024-01-01T00:00:00Z
HOUR = 3_600_000
HEADER = "ts,open,high,low,close,volume"


@pytest.fixture()
def store(tmp_path) -> MarketStore:
    return MarketStore(tmp_path / "catalog")


def csv(tmp_path: Path, body: str, name: str = "bars.csv", header: str = HEADER) -> Path:
    path = tmp_path / name
    path.write_text(header + "\n" + body.strip() + "\n", encoding="utf-8")
    return path


def rows(times, high="2") -> str:
    return "\n".join(f"{t},1,{high},0.5,1.5,10" for t in times)


@pytest.mark.parametrize("unit, scale", [("s", 1e-3), ("ms", 1), ("us", 1e3), ("ns", 1e6)])
def test_epoch_units_are_detected_by_magnitude(tmp_path, store, unit, scale):
    path = csv(tmp_path, rows(int((T0 + k * HOUR) * scale) for k in range(3)))
    report = import_file(store, path, "binance", "BTC/USDT", "1h")
    assert report.ts_unit == unit
    assert store.read_bars("binance", "1h", "BTC/USDT").ts.tolist() == [T0, T0 + HOUR, T0 + 2 * HOUR]


def test_iso_times_are_read_as_utc(tmp_path, store):
    body = "2024-01-01T00:00:00Z,1,2,0.5,1.5,10\n2024-01-01 01:00:00,1,2,0.5,1.5,10\n" \
           "2024-01-01T03:00:00+01:00,1,2,0.5,1.5,10"
    report = import_file(store, csv(tmp_path, body), "binance", "BTC/USDT", "1h")
    assert report.ts_unit == "iso"
    assert store.read_bars("binance", "1h", "BTC/USDT").ts.tolist() == [T0, T0 + HOUR, T0 + 2 * HOUR]


def test_columns_are_matched_by_alias_and_by_explicit_mapping(tmp_path, store):
    path = csv(tmp_path, rows([T0, T0 + HOUR]).replace(",10", ",10,99"),
               header="Date,Open,High,Low,Close,Volume BTC,Volume USD")
    report = import_file(store, path, "binance", "BTC/USDT", "1h",
                         columns={"volume": "Volume BTC"})
    assert report.rows_added == 2
    assert store.read_bars("binance", "1h", "BTC/USDT").volume.tolist() == [10.0, 10.0]


def test_a_missing_column_lists_available_columns_and_close_matches(tmp_path, store):
    path = csv(tmp_path, rows([T0]).replace(",10", ",10,99"),
               header="ts,open,high,low,close,Volume BTC,Volume USD")
    with pytest.raises(DataError, match=r"bars.csv: no column for 'volume'.*available columns: "
                       r"\['ts', .*'Volume USD'\]; did you mean .*Volume BTC.*--map volume="):
        import_file(store, path, "binance", "BTC/USDT", "1h")


def test_a_mapped_column_that_does_not_exist_is_named(tmp_path, store):
    with pytest.raises(DataError, match=r"column 'Date' \(mapped to 'ts'\) is not in the file"):
        import_file(store, csv(tmp_path, rows([T0])), "binance", "BTC/USDT", "1h",
                    columns={"ts": "Date"})


def test_a_ragged_csv_line_names_row_and_file_line(tmp_path, store):
    path = csv(tmp_path, rows([T0]) + f"\n{T0 + HOUR},1,2,0.5,1.5,10,7")
    with pytest.raises(DataError, match=r"bars.csv: malformed CSV: row 2 \(data row, file line 3\)"
                       r" has 7 fields, the header has 6"):
        import_file(store, path, "binance", "BTC/USDT", "1h")


def test_a_non_numeric_price_names_file_row_column_and_value(tmp_path, store):
    path = csv(tmp_path, rows([T0]) + f"\n{T0 + HOUR},1,abc,0.5,1.5,10")
    with pytest.raises(DataError, match=r"bars.csv row 2 \(data row, file line 3\), column 'high':"
                       r" high 'abc' is not a number; fix the row or import with --drop-invalid"):
        import_file(store, path, "binance", "BTC/USDT", "1h")


def test_a_nan_value_names_its_row_and_column(tmp_path, store):
    path = csv(tmp_path, rows([T0, T0 + HOUR]) + f"\n{T0 + 2 * HOUR},1,2,0.5,NaN,10")
    with pytest.raises(DataError, match=r"bars.csv row 3 .*column 'close': close is NaN"):
        import_file(store, path, "binance", "BTC/USDT", "1h")


def test_a_broken_ohlc_rule_names_row_and_column(tmp_path, store):
    path = csv(tmp_path, rows([T0]) + f"\n{T0 + HOUR},1,0.4,0.5,1.5,10")
    with pytest.raises(DataError, match=r"bars.csv row 2 .*column 'high': high 0.4 < low 0.5"):
        import_file(store, path, "binance", "BTC/USDT", "1h")


def test_out_of_order_times_name_the_late_row(tmp_path, store):
    path = csv(tmp_path, rows([T0, T0 + 2 * HOUR, T0 + HOUR]))
    with pytest.raises(DataError, match=r"bars.csv row 3 .*column 'ts': .* is earlier than a "
                       r"previous row's .*sort the file by time"):
        import_file(store, path, "binance", "BTC/USDT", "1h")


def test_a_repeated_time_with_different_values_names_both_rows(tmp_path, store):
    path = csv(tmp_path, rows([T0, T0 + HOUR]) + "\n" + rows([T0 + HOUR], high="3"))
    with pytest.raises(DataError, match=r"bars.csv row 3 .*column 'high': .*repeats row 2 with "
                       r"different \['high'\]"):
        import_file(store, path, "binance", "BTC/USDT", "1h")


def test_identical_repeated_rows_are_dropped_and_counted(tmp_path, store):
    report = import_file(store, csv(tmp_path, rows([T0, T0 + HOUR, T0 + HOUR])), "binance",
                         "BTC/USDT", "1h")
    assert (report.rows_added, report.duplicates_dropped, report.rejected) == (2, 1, ())


def test_times_off_the_timeframe_grid_are_named_with_the_files_step(tmp_path, store):
    path = csv(tmp_path, rows(T0 + k * 60_000 for k in range(5)))
    with pytest.raises(DataError, match=r"bars.csv row 2 .*column 'ts': .*not a 1h bar open time"
                       r".*rows step by 1m; check --timeframe"):
        import_file(store, path, "binance", "BTC/USDT", "1h")


def test_bars_further_apart_than_the_timeframe_are_refused(tmp_path, store):
    path = csv(tmp_path, rows(T0 + k * HOUR for k in range(5)))
    with pytest.raises(DataError, match=r"no two rows are one 1m apart .* = 1h\)"):
        import_file(store, path, "binance", "BTC/USDT", "1m")


def test_an_unknown_timeframe_or_bad_symbol_is_a_config_error(tmp_path, store):
    path = csv(tmp_path, rows([T0]))
    with pytest.raises(ConfigError, match="unknown timeframe '1M'"):
        import_file(store, path, "binance", "BTC/USDT", "1M")
    with pytest.raises(ConfigError, match="BASE/QUOTE"):
        import_file(store, path, "binance", "BTCUSDT", "1h")


def test_drop_invalid_imports_valid_rows_and_reports_each_rejected_one(tmp_path, store):
    body = "\n".join([
        rows([T0]), f"{T0 + HOUR},1,abc,0.5,1.5,10", f"{T0 + 2 * HOUR},1,2,0.5,,10",
        rows([T0 + 3 * HOUR]), f"{T0 + 4 * HOUR + 1},1,2,0.5,1.5,10"])
    report = import_file(store, csv(tmp_path, body), "binance", "BTC/USDT", "1h",
                         drop_invalid=True)
    assert report.rows_added == 2
    assert [(r.row, r.column, r.value) for r in report.rejected] == [
        (2, "high", "abc"), (3, "close", ""), (5, "ts", str(T0 + 4 * HOUR + 1))]
    assert report.to_dict()["rejected"][1]["reason"] == "close is empty"


def test_parquet_files_import_and_name_rows_1_based(tmp_path, store):
    sample = REPO / "datasets" / "sample" / "binance" / "BTC-USDT_1h.parquet"
    frame = pd.read_parquet(sample).iloc[:500]
    good = tmp_path / "good.parquet"
    frame.to_parquet(good, index=False)
    assert import_file(store, good, "binance", "BTC/USDT", "1h").rows_added == 500
    broken = frame.copy()
    broken.loc[9, "volume"] = -3.0
    bad = tmp_path / "bad.parquet"
    broken.to_parquet(bad, index=False)
    with pytest.raises(DataError, match=r"bad.parquet row 10 \(1-based data row\), column "
                       r"'volume': volume -3.0 < 0"):
        import_file(store, bad, "binance", "BTC/USDT", "1h")


# ----------------------------------------------------------------------------- streaming

def test_a_bad_row_in_a_late_batch_is_named_exactly_and_nothing_is_written(tmp_path, store):
    body = rows(T0 + k * HOUR for k in range(995)) + f"\n{T0 + 995 * HOUR},1,0.4,0.5,1.5,10"
    path = csv(tmp_path, body + "\n" + rows(T0 + k * HOUR for k in range(996, 1000)))
    with pytest.raises(DataError, match=r"bars.csv row 996 \(data row, file line 997\), column "
                       r"'high': high 0.4 < low 0.5; fix the row"):
        import_file(store, path, "binance", "BTC/USDT", "1h", batch_rows=100)
    assert store.list_datasets() == []


def test_the_error_counts_every_invalid_row_of_the_file(tmp_path, store):
    body = "\n".join(f"{T0 + k * HOUR},1,{'x' if k in (3, 250, 999) else 2},0.5,1.5,10"
                     for k in range(1000))
    with pytest.raises(DataError, match=r"row 4 .*'x' is not a number \(2 more invalid rows\)"):
        import_file(store, csv(tmp_path, body), "binance", "BTC/USDT", "1h", batch_rows=100)


def test_batches_give_the_same_store_as_one_read(tmp_path):
    sample = REPO / "datasets" / "sample" / "binance" / "ETH-USDT_1h.parquet"
    one, many = MarketStore(tmp_path / "one"), MarketStore(tmp_path / "many")
    import_file(one, sample, "binance", "ETH/USDT", "1h")
    report = import_file(many, sample, "binance", "ETH/USDT", "1h", batch_rows=777)
    assert (report.rows_read, report.rows_added) == (5482, 5482)
    assert one.list_datasets() == many.list_datasets()


def test_repeats_across_a_batch_boundary_are_dropped_or_named(tmp_path, store):
    same = csv(tmp_path, rows([T0, T0 + HOUR, T0 + HOUR, T0 + 2 * HOUR]), name="same.csv")
    report = import_file(store, same, "binance", "BTC/USDT", "1h", batch_rows=2)
    assert (report.rows_added, report.duplicates_dropped) == (3, 1)
    changed = csv(tmp_path, rows([T0, T0 + HOUR]) + "\n" + rows([T0 + HOUR], high="3"),
                  name="changed.csv")
    with pytest.raises(DataError, match=r"row 3 .*repeats row 2 with different \['high'\]"):
        import_file(store, changed, "binance", "ETH/USDT", "1h", batch_rows=2)


def test_funding_and_trades_files_import_into_their_kinds(tmp_path, store):
    funding = REPO / "datasets" / "sample" / "binance" / "BTC-USDT-USDT_funding.parquet"
    report = import_file(store, funding, "binance", "BTC/USDT:USDT", "", kind="funding")
    assert report.rows_added == 104
    assert store.read_funding("binance", "BTC/USDT:USDT").equals(pd.read_parquet(funding))
    path = csv(tmp_path, f"{T0},10.5,0.2,BUY,7\n{T0},10.6,0.1,,8\n{T0 + 5},10.4,1,sell,",
               header="time,price,qty,side,trade_id")
    assert import_file(store, path, "binance", "BTC/USDT", "", kind="trades").rows_added == 3
    got = store.read_trades("binance", "BTC/USDT")
    assert got.side.tolist()[0] == "buy" and pd.isna(got.side[1]) and pd.isna(got.id[2])
