"""The example strategies do what their docstrings say, on the bundled real sample.

Each example runs through the event engine (``backtest_arrays``) on Binance 1h
bars from ``datasets/sample/binance`` with the default markets (no rounding, 0.1 %
fees). The expected decisions are recomputed independently from the raw columns
with the engine's batch indicators (which equal the streaming ones bar for bar),
so each assertion can be checked by hand against the parquet file: "the bar
after a cross up opens at X; the fill is at X".
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tradeloom.engine.indicators.registry import rolling_max, rsi, sma
from tradeloom.engine.run.backtest import backtest_arrays
from tradeloom.engine.run.feeds import BarArrays
from tradeloom.research.strategies import (
    BreakoutBracket,
    MomentumRotation,
    RsiReversion,
    SmaCross,
    TrendFilter,
)

SAMPLE = Path(__file__).resolve().parents[3] / "datasets" / "sample" / "binance"
HOUR_MS = 3_600_000
ROTATION_SYMBOLS = ("ADA/USDT", "BTC/USDT", "ETH/USDT", "SOL/USDT", "XRP/USDT")


def frame(symbol: str) -> pd.DataFrame:
    return pd.read_parquet(SAMPLE / f"{symbol.replace('/', '-')}_1h.parquet")


def run(strategy, symbols=("BTC/USDT",)):
    data = {s: BarArrays.from_frame(frame(s)) for s in symbols}
    return backtest_arrays(strategy, data, timeframe="1h", initial_cash=10_000.0)


@pytest.fixture(scope="module")
def btc() -> pd.DataFrame:
    return frame("BTC/USDT")


@pytest.fixture(scope="module")
def next_open(btc: pd.DataFrame) -> dict[int, float]:
    return dict(zip(btc["ts"].tolist(), btc["open"].tolist()))


# ---------------------------------------------------------------------------- SmaCross


class TestSmaCross:
    @pytest.fixture(scope="class")
    @classmethod
    def result(cls):
        return run(SmaCross(fast=10, slow=50))

    @pytest.fixture(scope="class")
    @classmethod
    def expected(cls, btc):
        """Fill bars (open times) of the buys and sells, from batch SMAs."""
        close, ts = btc["close"].to_numpy(), btc["ts"].to_numpy()
        d = sma(close, 10) - sma(close, 50)
        prev = np.concatenate([[np.nan], d[:-1]])
        with np.errstate(invalid="ignore"):
            up = np.flatnonzero((prev <= 0) & (d > 0))
            down = np.flatnonzero((prev >= 0) & (d < 0))
        down = down[down > up[0]]  # a cross down while flat sells nothing
        fill_bar = lambda idx: [int(ts[i + 1]) for i in idx if i + 1 < len(ts)]
        return fill_bar(up), fill_bar(down)

    def test_buys_at_the_open_after_each_cross_up(self, result, expected, next_open):
        buys = result.fills[result.fills["side"] == "buy"]
        assert buys["ts"].tolist() == expected[0]
        assert buys["price"].tolist() == [next_open[t] for t in expected[0]]

    def test_sells_everything_at_the_open_after_each_cross_down(self, result, expected):
        sells = result.fills[result.fills["side"] == "sell"]
        assert sells["ts"].tolist() == expected[1]
        closed = result.trades[~result.trades["is_open"]]
        assert len(closed) == len(expected[1]) > 50  # every sell ends a round trip

    def test_goes_all_in_on_each_buy(self, result):
        """Each buy spends all the cash: notional + 0.1 % fee = cash before the buy."""
        equity = result.equity.set_index("ts")
        for fill in result.fills[result.fills["side"] == "buy"].itertuples():
            before = equity["cash"].loc[: fill.ts]  # rows up to the decision bar's close
            cash_before = before.iloc[-1] if len(before) else 10_000.0
            spent = fill.price * fill.amount + fill.fee
            assert fill.fee == pytest.approx(0.001 * fill.price * fill.amount, rel=1e-12)
            assert spent == pytest.approx(cash_before, rel=1e-9)
            assert equity["cash"][fill.ts + HOUR_MS] == pytest.approx(0.0, abs=1e-9 * spent)

    def test_splits_equity_equally_across_symbols(self):
        """With two symbols each buy targets half of equity, so it spends at most half."""
        res = run(SmaCross(fast=10, slow=50), symbols=("BTC/USDT", "ETH/USDT"))
        equity = res.equity.set_index("ts")["equity"]
        buys = res.fills[res.fills["side"] == "buy"]
        assert set(buys["symbol"]) == {"BTC/USDT", "ETH/USDT"}
        for fill in buys.itertuples():
            rows = equity.loc[: fill.ts]
            before = rows.iloc[-1] if len(rows) else 10_000.0
            assert fill.price * fill.amount + fill.fee <= 0.5 * before * 1.05  # open vs close drift


# ---------------------------------------------------------------------------- RsiReversion


class TestRsiReversion:
    @pytest.fixture(scope="class")
    @classmethod
    def result(cls):
        return run(RsiReversion(period=14, oversold=30.0, exit_level=55.0, stop_pct=0.03))

    @pytest.fixture(scope="class")
    @classmethod
    def rsi_at(cls, btc):
        """RSI by bar close time (an order's ``created_ts`` is its decision bar's close)."""
        values = rsi(btc["close"].to_numpy(), 14)
        return dict(zip((btc["ts"] + HOUR_MS).tolist(), values.tolist()))

    @staticmethod
    def filled(result, side):
        orders = result.orders
        return orders[(orders["tag"] == "target") & (orders["side"] == side) & (orders["status"] == "filled")]

    def test_enters_only_after_a_close_below_oversold(self, result, rsi_at):
        entries = self.filled(result, "buy")
        assert len(entries) > 20
        assert all(rsi_at[t] < 30.0 for t in entries["created_ts"])

    def test_every_entry_is_protected_by_a_stop_3pct_below_its_fill(self, result):
        fills = result.fills
        entries = fills[(fills["tag"] == "target") & (fills["side"] == "buy")]
        stops = result.orders[result.orders["tag"] == "stop_loss"]
        assert len(stops) == len(entries)
        for (entry, stop) in zip(entries.itertuples(), stops.itertuples()):
            assert stop.stop_price == pytest.approx(entry.price * 0.97, rel=1e-12)
            assert stop.amount == entry.amount
            assert stop.created_ts == entry.ts + HOUR_MS  # placed when the entry bar closed
            assert stop.reduce_only

    def test_stop_fills_at_the_stop_or_at_a_gap_open_below_it(self, result, next_open):
        orders = result.orders.set_index("id")
        stop_fills = result.fills[result.fills["tag"] == "stop_loss"]
        assert len(stop_fills) > 10
        for fill in stop_fills.itertuples():
            level = orders.loc[fill.order_id, "stop_price"]
            assert fill.price == min(level, next_open[fill.ts])

    def test_signal_exits_follow_a_close_above_the_exit_level(self, result, rsi_at):
        exits = self.filled(result, "sell")
        assert len(exits) > 10
        assert all(rsi_at[t] > 55.0 for t in exits["created_ts"])

    def test_each_trade_exits_once_by_stop_or_by_signal(self, result):
        closed = result.trades[~result.trades["is_open"]]
        assert (closed["n_fills"] == 2).all()
        assert set(closed["exit_tag"]) == {"stop_loss", "target"}
        canceled = result.orders[(result.orders["tag"] == "stop_loss") & (result.orders["status"] == "canceled")]
        assert len(canceled) == (closed["exit_tag"] == "target").sum()


# ---------------------------------------------------------------------------- BreakoutBracket


class TestBreakoutBracket:

    @pytest.fixture(scope="class")
    @classmethod
    def result(cls):
        return run(BreakoutBracket(lookback=48, stop_pct=0.02, tp1_pct=0.02, tp2_pct=0.05, trail_pct=0.015))

    @pytest.fixture(scope="class")
    @classmethod
    def brackets(cls, result, btc):
        """One row per bracket: the decision close, the entry fill, and each leg's fill (or None)."""
        closes = dict(zip((btc["ts"] + HOUR_MS).tolist(), btc["close"].tolist()))
        orders, fills = result.orders, result.fills.set_index("order_id")
        rows = []
        for entry in orders[orders["tag"] == "breakout"].itertuples():
            legs = orders[orders["parent_id"] == entry.id].set_index("tag")
            rows.append(
                {
                    "close": closes[entry.created_ts],
                    "entry": fills.loc[entry.id],
                    **{
                        leg: fills.loc[legs.loc[f"breakout:{leg}", "id"]]
                        if legs.loc[f"breakout:{leg}", "status"] == "filled" else None
                        for leg in ("sl", "tp1", "tp2")
                    },
                }
            )
        return rows

    def test_enters_after_a_close_above_the_previous_48_bar_high(self, result, btc):
        prev_high = np.concatenate([[np.nan], rolling_max(btc["high"].to_numpy(), 48)[:-1]])
        breakout = dict(zip((btc["ts"] + HOUR_MS).tolist(), (btc["close"].to_numpy() > prev_high).tolist()))
        entries = result.orders[result.orders["tag"] == "breakout"]
        assert len(entries) > 20
        assert all(breakout[t] for t in entries["created_ts"])

    def test_take_profits_fill_at_two_levels_for_half_the_position_each(self, brackets, next_open):
        both = [b for b in brackets if b["tp1"] is not None and b["tp2"] is not None]
        assert both, "the sample has brackets that reached both take-profits"
        for b in brackets:
            for leg, pct in (("tp1", 0.02), ("tp2", 0.05)):
                fill = b[leg]
                if fill is not None:
                    limit = b["close"] * (1 + pct)
                    assert fill["price"] == max(limit, next_open[fill["ts"]])  # gap up: the open
                    assert fill["amount"] == pytest.approx(0.5 * b["entry"]["amount"], rel=1e-12)
        assert all(b["tp2"]["price"] > b["tp1"]["price"] for b in both)

    def test_stop_loss_closes_the_whole_position_2pct_below(self, brackets, next_open):
        stopped = [b for b in brackets if b["sl"] is not None]
        assert len(stopped) > 10
        for b in stopped:
            assert b["tp1"] is None and b["tp2"] is None  # a stop fill cancels the take-profits
            assert b["sl"]["price"] == min(b["close"] * 0.98, next_open[b["sl"]["ts"]])
            assert b["sl"]["amount"] == b["entry"]["amount"]

    def test_trailing_stop_replaces_the_stop_loss_after_the_first_take_profit(self, result, brackets):
        orders = result.orders
        trails = orders[orders["tag"] == "breakout:trail"]
        # A trail is needed after tp1 unless tp2 filled in the same bar (nothing left to protect).
        need = [b for b in brackets if b["tp1"] is not None and (b["tp2"] is None or b["tp2"]["ts"] > b["tp1"]["ts"])]
        assert len(trails) == len(need) > 10
        tp1_fill_close = {b["tp1"]["ts"] + HOUR_MS: b for b in brackets if b["tp1"] is not None}
        for trail in trails.itertuples():
            b = tp1_fill_close[trail.created_ts]  # placed at the close of the tp1 bar
            assert trail.trail_pct == 0.015
            assert trail.amount == pytest.approx(b["entry"]["amount"] - b["tp1"]["amount"], rel=1e-12)
        canceled_sl = orders[(orders["tag"] == "breakout:sl") & (orders["status"] == "canceled")]
        assert set(trails["created_ts"]) <= set(canceled_sl["updated_ts"])

    def test_trailing_stop_fills_1_5pct_below_the_best_high_since_it_was_placed(self, result, btc):
        bars = btc.set_index("ts")
        trail_fills = result.fills[result.fills["tag"] == "breakout:trail"]
        orders = result.orders.set_index("id")
        assert len(trail_fills) > 10
        for fill in trail_fills.itertuples():
            placed = int(orders.loc[fill.order_id, "created_ts"])
            best = max(bars["close"][placed - HOUR_MS], bars.loc[placed:fill.ts - 1, "high"].max())
            level = best * (1 - 0.015)
            assert fill.price == pytest.approx(min(level, bars["open"][fill.ts]), rel=1e-12)

    def test_every_bracket_ends_flat(self, result):
        closed = result.trades[~result.trades["is_open"]]
        entries = result.orders[(result.orders["tag"] == "breakout") & (result.orders["status"] == "filled")]
        assert len(closed) + len(result.trades[result.trades["is_open"]]) == len(entries)
        assert set(closed["exit_tag"]) <= {"breakout:sl", "breakout:tp2", "breakout:trail"}


# ---------------------------------------------------------------------------- MomentumRotation


class TestMomentumRotation:

    @pytest.fixture(scope="class")
    @classmethod
    def result(cls):
        return run(MomentumRotation(lookback=72, every=24, top_k=2), symbols=ROTATION_SYMBOLS)

    @pytest.fixture(scope="class")
    @classmethod
    def closes(cls):
        """Closes indexed by close time, one column per symbol (the sample's bars are aligned)."""
        frames = {s: frame(s).set_index("ts")["close"] for s in ROTATION_SYMBOLS}
        out = pd.DataFrame(frames)
        out.index = out.index + HOUR_MS
        return out

    @staticmethod
    def holdings(result) -> pd.DataFrame:
        """Position per symbol after all fills of each bar (rows: fill bar open times)."""
        signed = result.fills["amount"].where(result.fills["side"] == "buy", -result.fills["amount"])
        pos = signed.groupby([result.fills["ts"], result.fills["symbol"]]).sum().unstack(fill_value=0.0)
        return pos.cumsum()

    def test_never_holds_more_than_top_k_symbols(self, result):
        held = (self.holdings(result) > 1e-12).sum(axis=1)
        assert held.max() == 2

    def test_holds_the_top_k_trailing_returns_after_each_rebalance(self, result, closes):
        pos = self.holdings(result)
        start = int(closes.index[0]) - HOUR_MS
        checked = 0
        for at in range(start + 24 * HOUR_MS, int(closes.index[-1]) - 2 * HOUR_MS, 24 * HOUR_MS):
            window = closes.loc[:at].iloc[-73:]
            if len(window) < 73:
                continue
            ret = window.iloc[-1] / window.iloc[0] - 1.0
            top = sorted(ROTATION_SYMBOLS, key=lambda s: (-ret[s], s))[:2]
            after_buys = pos.loc[: at + HOUR_MS].iloc[-1]  # buys fill at the bar opening at + 1h
            assert sorted(after_buys[after_buys > 1e-12].index) == sorted(top), at
            checked += 1
        assert checked > 200

    def test_rebalanced_weights_are_equal(self, result, closes):
        """Right after each round of buys each holding is about half of equity."""
        buys = result.fills[result.fills["side"] == "buy"]
        pos = self.holdings(result)
        equity = result.equity.set_index("ts")["equity"]
        for ts in sorted(set(buys["ts"]))[::10]:
            values = pos.loc[ts] * closes.loc[ts + HOUR_MS]
            values = values[values > 0]
            assert (values / equity[ts + HOUR_MS]).between(0.40, 0.60).all(), ts


# ---------------------------------------------------------------------------- TrendFilter


class TestTrendFilter:
    """Expected decisions recomputed with pandas: daily and 4h bars by grouping the 1h
    rows on their day / 4h bucket, each known from its last hour's close on."""

    @pytest.fixture(scope="class")
    @classmethod
    def result(cls):
        return run(TrendFilter(fast=10, slow=50, trend_period=10))

    @pytest.fixture(scope="class")
    @classmethod
    def expected(cls, btc):
        close, ts = btc["close"].to_numpy(), btc["ts"].to_numpy()
        d = sma(close, 10) - sma(close, 50)
        prev = np.concatenate([[np.nan], d[:-1]])

        def higher(hours: int) -> pd.DataFrame:
            g = btc.groupby(btc["ts"] // (hours * HOUR_MS))
            out = pd.DataFrame({"open": g["open"].first(), "close": g["close"].last()})
            out["close_ts"] = (out.index + 1) * hours * HOUR_MS
            return out

        day, four = higher(24), higher(4)
        day["sma"] = sma(day["close"].to_numpy(), 10)
        buys, sells, held = [], [], False
        for i in range(len(ts) - 1):
            now = ts[i] + HOUR_MS
            last_day = day[day["close_ts"] <= now].iloc[-1:] if ts[0] < now else day.iloc[:0]
            trend = None
            if len(last_day) and not np.isnan(last_day["sma"].iloc[0]):
                trend = bool(last_day["close"].iloc[0] > last_day["sma"].iloc[0])
            if held and (prev[i] >= 0 > d[i] or trend is False):
                sells.append(int(ts[i + 1]))
                held = False
            elif not held and prev[i] <= 0 < d[i] and trend:
                bar4 = four[four["close_ts"] <= now].iloc[-1]
                if bar4["close"] > bar4["open"]:
                    buys.append(int(ts[i + 1]))
                    held = True
        return buys, sells

    def test_buys_only_on_crosses_up_with_the_daily_trend_and_an_up_4h_bar(self, result, expected):
        buys = result.fills[result.fills["side"] == "buy"]["ts"].tolist()
        assert buys == expected[0]
        assert 10 < len(buys) < 40  # far fewer than the unfiltered cross (69 round trips)

    def test_sells_on_the_cross_down_or_when_a_day_closes_below_its_sma(self, result, expected):
        assert result.fills[result.fills["side"] == "sell"]["ts"].tolist() == expected[1]
