"""Time-indexed views of a result (``engine/results/pandas_views.py``): a UTC
``DatetimeIndex`` named ``time``, the integer ms columns kept, the stored frames untouched."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from tradeloom.engine.vector.api import run_signals

HOUR = 3_600_000


@pytest.fixture(scope="module")
def result():  # type: ignore[no-untyped-def]
    px = np.array([100.0, 101.0, 103.0, 102.0, 104.0, 105.0])
    bars = pd.DataFrame({"ts": 1_609_459_200_000 + np.arange(6) * HOUR, "open": px, "high": px + 1,
                         "low": px - 1, "close": px, "volume": 1.0})  # from 2021-01-01 00:00 UTC
    return run_signals(bars, [True, False, False, True, False, False],
                       [False, False, True, False, False, False])


class TestViews:
    def test_equity_indexed_by_bar_close_in_utc(self, result) -> None:  # type: ignore[no-untyped-def]
        eq = result.equity_df
        assert str(eq.index.dtype) == "datetime64[ms, UTC]" and eq.index.name == "time"
        assert eq.index[0] == pd.Timestamp("2021-01-01 01:00", tz="UTC")  # first bar's close
        assert eq["ts"].tolist() == result.equity["ts"].tolist()  # ms column kept
        # closes at 01:00 ... 06:00 fall in the 2-hour bins from 00:00, 02:00, 04:00, 06:00
        assert eq["equity"].resample("2h").last().size == 4

    def test_trades_by_entry_with_entry_and_exit_times(self, result) -> None:  # type: ignore[no-untyped-def]
        t = result.trades_df
        assert t.index.tolist() == [pd.Timestamp("2021-01-01 01:00", tz="UTC"),
                                    pd.Timestamp("2021-01-01 04:00", tz="UTC")]
        assert t["exit_time"].iloc[0] == pd.Timestamp("2021-01-01 03:00", tz="UTC")
        assert t.loc["2021-01-01 04:00"]["is_open"].item()

    def test_orders_and_fills(self, result) -> None:  # type: ignore[no-untyped-def]
        assert result.fills_df.index.tolist() == result.orders_df.index.tolist()
        assert set(result.to_pandas()) == {"equity", "trades", "orders", "fills"}

    def test_stored_frames_keep_their_range_index(self, result) -> None:  # type: ignore[no-untyped-def]
        view = result.equity_df
        view["equity"] = 0.0
        assert isinstance(result.equity.index, pd.RangeIndex)
        assert result.equity["equity"].iloc[0] == 10_000.0
