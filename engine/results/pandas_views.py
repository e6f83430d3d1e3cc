"""A result's frames as a pandas user expects them: indexed by UTC time.

``BacktestResult`` keeps its frames as stored (integer ms columns, a RangeIndex: what
Parquet files and goldens compare). These views add, on the fly, a UTC
``DatetimeIndex`` named ``time`` and keep every column, the integer ms ones included:

- ``equity_df``: indexed by each bar's close (``ts``);
- ``trades_df``: by entry time, plus ``entry_time`` / ``exit_time`` columns;
- ``orders_df``: by creation time; ``fills_df``: by fill time;
- ``to_pandas()``: the four in a dict.

So ``res.equity_df["equity"].resample("1D").last()`` or
``res.trades_df.loc["2021-03"]`` work as in any pandas workflow. The views are new
frames each time; changing them does not change the result.

>>> import pandas as pd
>>> class R(PandasViews):
...     equity = pd.DataFrame({"ts": [3_600_000, 7_200_000], "equity": [100.0, 101.0]})
>>> R().equity_df
                           ts  equity
time
1970-01-01 01:00:00+00:00  3600000   100.0
1970-01-01 02:00:00+00:00  7200000   101.0
"""

from __future__ import annotations

from typing import Any

import pandas as pd

__all__ = ["PandasViews", "utc_index"]


def utc_index(ms: Any, name: str = "time") -> pd.DatetimeIndex:
    """Integer ms since the epoch as a UTC ``DatetimeIndex`` (millisecond resolution).

    >>> utc_index([0, 60_000]).dtype
    datetime64[ms, UTC]
    """
    values = pd.to_datetime(pd.Series(ms, dtype="int64"), unit="ms", utc=True)
    return pd.DatetimeIndex(values, name=name).as_unit("ms")


def _indexed(frame: pd.DataFrame, column: str) -> pd.DataFrame:
    out = frame.copy()
    out.index = utc_index(frame[column].to_numpy())
    return out


class PandasViews:
    """Mixin of ``BacktestResult``: time-indexed views of its frames (module docstring)."""

    equity: pd.DataFrame
    trades: pd.DataFrame
    orders: pd.DataFrame
    fills: pd.DataFrame

    @property
    def equity_df(self) -> pd.DataFrame:
        """The equity curve indexed by bar close time (UTC)."""
        return _indexed(self.equity, "ts")

    @property
    def trades_df(self) -> pd.DataFrame:
        """Round trips indexed by entry time, with ``entry_time`` and ``exit_time`` (UTC)."""
        out = _indexed(self.trades, "entry_ts")
        out["entry_time"] = out.index
        out["exit_time"] = utc_index(self.trades["exit_ts"].to_numpy()).to_numpy()
        return out

    @property
    def orders_df(self) -> pd.DataFrame:
        """Orders indexed by creation time (UTC)."""
        return _indexed(self.orders, "created_ts")

    @property
    def fills_df(self) -> pd.DataFrame:
        """Fills indexed by fill time (UTC)."""
        return _indexed(self.fills, "ts")

    def to_pandas(self) -> dict[str, pd.DataFrame]:
        """``{"equity", "trades", "orders", "fills"}``, each indexed by UTC time."""
        return {"equity": self.equity_df, "trades": self.trades_df, "orders": self.orders_df,
                "fills": self.fills_df}
