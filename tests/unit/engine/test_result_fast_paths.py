"""The result build's fast paths (``engine/results``) give exactly what their general rule
gives: the same values bit for bit, the same dtypes, the same errors.

- ``paired_trades.trade_columns`` against ``trades.trade_rows`` (the rule), on hand-made
  fills the numpy path takes and on varied engine runs (brackets, OCO, partial fills,
  rejections, cancels, fees in the base coin, two symbols, a perpetual) it declines;
- ``frames.make_frame``'s column rules (one repeated value, all missing) against the
  general conversion;
- ``frames.orders_frame``'s history JSON against ``json.dumps`` of every history.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from varied_runs import CASES, simple_engine, varied_engine

from tradeloom.engine.errors import DataError
from tradeloom.engine.orders import Fill, Liquidity, Side
from tradeloom.engine.results import frames
from tradeloom.engine.results.frames import (
    FILL_COLUMNS,
    ORDER_COLUMNS,
    _columns,
    _slot_columns,
    fill_columns,
    make_frame,
)
from tradeloom.engine.results.paired_trades import (
    paired_trade_columns,
    rows_to_columns,
    trade_columns,
)
from tradeloom.engine.results.result import _traded
from tradeloom.engine.results.trades import TRADE_COLUMNS, trade_rows

H = 3_600_000
BTC, ETH = "BTC/USDT", "ETH/USDT"
BUY, SELL = Side.BUY, Side.SELL


def fill(side, bar, price, amount, fee, *, symbol=BTC, tag="", fee_currency="USDT",
         fee_cost=None):
    return Fill(0, symbol, side, bar * H, price, amount, fee, Liquidity.TAKER, tag=tag,
                fee_currency=fee_currency, fee_cost=fee if fee_cost is None else fee_cost)


def assert_same_columns(got, want):
    """Same columns, same values bit for bit (floats compared as their 64 bits)."""
    assert list(got) == list(want) == list(TRADE_COLUMNS)
    for name in TRADE_COLUMNS:
        a, b = np.asarray(got[name]), np.asarray(want[name])
        assert a.shape == b.shape, name
        if b.dtype.kind == "f":
            assert a.dtype == np.float64, name
            assert np.array_equal(a.view(np.int64), b.view(np.int64)), name
        else:
            assert a.tolist() == b.tolist(), name


def both(fills, final_ts=None, marks=None, dust=None):
    """(numpy path or None, the rule's columns) for ``fills``."""
    cols = fill_columns(fills)
    fast = paired_trade_columns(cols, timeframe_ms=H, final_ts=final_ts,
                                final_marks=marks or {})
    rule = rows_to_columns(trade_rows(cols, timeframe_ms=H, final_ts=final_ts,
                                      final_marks=marks, dust=dust))
    return fast, rule


class TestPairedTradesTakeTheNumpyPath:
    def test_a_long_round_trip_by_hand(self):
        fast, rule = both([fill(BUY, 1, 100.0, 2.0, 0.2, tag="in"),
                           fill(SELL, 4, 110.0, 2.0, 0.22, tag="out")])
        assert fast is not None
        assert_same_columns(fast, rule)
        # gross 2 * (110 - 100) = 20, fees 0.42, pnl 19.58 over a cost of 200.2
        assert fast["gross_pnl"].tolist() == [20.0]
        assert fast["pnl"].tolist() == [20.0 - (0.2 + 0.22)]
        assert fast["return_pct"].tolist() == [(20.0 - 0.42) / 200.2]
        assert (fast["bars_held"].tolist(), fast["entry_tag"], fast["exit_tag"]) == ([3], ["in"],
                                                                                    ["out"])

    def test_shorts_longs_and_an_open_trade_at_the_end(self):
        fills = [fill(SELL, 0, 100.0, 1.0, 0.1), fill(BUY, 2, 90.0, 1.0, 0.09),
                 fill(BUY, 3, 95.0, 0.5, 0.05), fill(SELL, 5, 99.0, 0.5, 0.05),
                 fill(BUY, 6, 101.0, 3.0, 0.3, tag="last")]
        fast, rule = both(fills, final_ts=9 * H, marks={BTC: 104.0})
        assert fast is not None
        assert_same_columns(fast, rule)
        assert fast["side"] == ["short", "long", "long"]
        assert fast["is_open"].tolist() == [False, False, True]
        assert (fast["exit_price"][2], fast["exit_tag"][2], fast["n_fills"][2]) == (104.0, "open", 1)

    def test_two_symbols_interleaved_are_numbered_in_the_order_they_opened(self):
        fills = [fill(BUY, 0, 100.0, 1.0, 0.1), fill(BUY, 1, 10.0, 5.0, 0.05, symbol=ETH),
                 fill(SELL, 2, 102.0, 1.0, 0.1), fill(BUY, 3, 101.0, 2.0, 0.2),
                 fill(SELL, 4, 11.0, 5.0, 0.05, symbol=ETH), fill(SELL, 5, 99.0, 2.0, 0.2)]
        fast, rule = both(fills)
        assert fast is not None
        assert_same_columns(fast, rule)
        assert fast["symbol"] == [BTC, ETH, BTC]

    def test_a_fee_in_the_base_coin_moves_the_position_net_of_it(self):
        # buy 0.01 BTC paying 0.00001 BTC: 0.00999 held, and the exit sells exactly that
        fills = [fill(BUY, 0, 30_000.0, 0.01, 0.3, fee_currency="BTC", fee_cost=0.00001),
                 fill(SELL, 1, 31_000.0, 0.00999, 0.31)]
        fast, rule = both(fills)
        assert fast is not None
        assert_same_columns(fast, rule)
        assert fast["amount"].tolist() == [0.01 - 0.00001]

    def test_a_close_within_the_tolerance_ends_the_trade(self):
        fast, rule = both([fill(BUY, 0, 100.0, 1.0, 0.1), fill(SELL, 1, 100.0, 1.0 + 1e-12, 0.1)])
        assert fast is not None
        assert_same_columns(fast, rule)

    def test_runs_of_whole_round_trips(self):
        for symbols in [("BTC/USDT",), ("A/USDT", "B/USDT", "C/USDT")]:
            engine = simple_engine(symbols=symbols)
            ts, _ = engine.recorded_block()
            marks = {s: float(v) for s, v in engine.portfolio.marks().items()}
            fast, rule = both(engine.fills, final_ts=int(ts[-1]), marks=marks)
            assert fast is not None and len(rule["trade_id"]) > 50
            assert_same_columns(fast, rule)


class TestEverythingElseGoesToTheRule:
    @pytest.mark.parametrize("fills", [
        [fill(BUY, 0, 100.0, 1.0, 0.1), fill(BUY, 1, 101.0, 1.0, 0.1),
         fill(SELL, 2, 102.0, 2.0, 0.2)],  # scale-in
        [fill(BUY, 0, 100.0, 2.0, 0.1), fill(SELL, 1, 101.0, 1.0, 0.1),
         fill(SELL, 2, 102.0, 1.0, 0.2)],  # partial exit
        [fill(BUY, 0, 100.0, 1.0, 0.1), fill(SELL, 1, 101.0, 3.0, 0.3)],  # flip to a short
        [fill(BUY, 0, 100, 1.0, 0.1), fill(SELL, 1, 101.0, 1.0, 0.1)],  # an int price
    ], ids=["scale_in", "partial_exit", "flip", "int_price"])
    def test_shapes_it_does_not_take(self, fills):
        fast, rule = both(fills, marks={BTC: 100.0})
        assert fast is None
        got = trade_columns(fill_columns(fills), timeframe_ms=H, final_marks={BTC: 100.0})
        assert_same_columns(got, rule)

    def test_fills_out_of_order_raise_the_rules_error(self):
        fills = [fill(BUY, 3, 100.0, 1.0, 0.1), fill(SELL, 1, 101.0, 1.0, 0.1)]
        with pytest.raises(DataError, match="is before the previous fill's ts"):
            trade_columns(fill_columns(fills), timeframe_ms=H)

    def test_an_open_trade_without_a_mark_raises_the_rules_error(self):
        with pytest.raises(DataError, match="final_marks has no positive price"):
            trade_columns(fill_columns([fill(BUY, 0, 100.0, 1.0, 0.1)]), timeframe_ms=H,
                          final_marks={BTC: math.nan})

    @pytest.mark.parametrize("case", CASES)
    def test_varied_runs_give_the_rules_trades(self, case):
        engine = varied_engine(case)
        ts, _ = engine.recorded_block()
        marks = {s: float(v) for s, v in engine.portfolio.marks().items()}
        cols = fill_columns(engine.fills)
        rule = rows_to_columns(trade_rows(cols, timeframe_ms=H, final_ts=int(ts[-1]),
                                          final_marks=marks))
        got = trade_columns(cols, timeframe_ms=H, final_ts=int(ts[-1]), final_marks=marks)
        assert len(rule["trade_id"]) >= 1
        assert_same_columns(got, rule)


class TestColumnRules:
    """``make_frame``'s shortcuts for a repeated value and an all-missing column against
    the general conversion (``pd.array(list(values), dtype=kind)``, NaN for ``None``)."""

    @pytest.mark.parametrize("values", [
        ["USDT"] * 4, [None] * 3, [Side.BUY] * 3, [Side.BUY, "buy", Side.BUY],
        ["a", None, "b"], [Side.SELL, Side.BUY], [], ["x"], [1, 1], [math.nan, None],
        [Side.BUY, 1], ["x", np.array([1, 2]), "x"],
    ], ids=repr)
    def test_str_columns(self, values):
        got = make_frame({"c": values}, {"c": "str"})["c"].array
        want = pd.array([v.value if isinstance(v, Side) else v for v in values], dtype="str")
        assert len(got) == len(values)
        assert got.dtype == want.dtype and got.equals(want)

    @pytest.mark.parametrize("values", [[1.5, 2.0], [None, None], [None, 2.5, None], [],
                                        (3.0, None)])
    def test_float_columns(self, values):
        got = make_frame({"c": values}, {"c": "float64"})["c"].to_numpy()
        want = np.asarray([math.nan if v is None else v for v in values], dtype=np.float64)
        assert np.array_equal(got.view(np.int64), want.view(np.int64))

    @pytest.mark.parametrize("kind", ["Int64", "boolean"])
    @pytest.mark.parametrize("values", [[None] * 3, [None, 1, None], [1, 0]])
    def test_nullable_columns(self, kind, values):
        got = make_frame({"c": values}, {"c": kind})["c"].array
        want = pd.array(list(values), dtype=kind)
        assert got.dtype == want.dtype
        assert np.array_equal(got._data, want._data) and np.array_equal(got._mask, want._mask)


@pytest.mark.parametrize("case", ["two_symbols", "fee_in_base", "perp"])
def test_traded_amounts_are_the_sums_of_a_loop_in_fill_order(case):
    cols = fill_columns(varied_engine(case).fills)
    want: dict[str, float] = {}
    for symbol, amount in zip(cols["symbol"], cols["amount"]):
        want[symbol] = want.get(symbol, 0.0) + abs(float(amount))
    got = _traded(cols)
    assert got == want and all(type(v) is float for v in got.values())


class TestSlotColumns:
    """``frames._columns`` reads slotted objects through ``gc.get_referents``: the same
    objects ``getattr`` returns, else the per-attribute ``map``."""

    @pytest.mark.parametrize("case", CASES)
    def test_orders_and_fills_of_varied_runs(self, case):
        engine = varied_engine(case)
        for rows, names in ((engine.orders, ORDER_COLUMNS), (engine.fills, FILL_COLUMNS)):
            assert _slot_columns(rows, list(names)) is not None
            got = _columns(rows, list(names))
            for name in names:
                want = [getattr(row, name) for row in rows]
                assert len(got[name]) == len(want)
                assert all(a is b for a, b in zip(got[name], want)), name

    def test_an_unset_slot_or_another_type_falls_back_to_getattr(self):
        fills = [Fill(1, BTC, BUY, 0, 100.0, 1.0, 0.1, Liquidity.TAKER),
                 Fill(2, ETH, SELL, 60_000, 10.0, 2.0, 0.02, Liquidity.MAKER)]
        assert _columns(fills, ["order_id", "symbol"]) == {"order_id": [1, 2],
                                                           "symbol": [BTC, ETH]}
        order = varied_engine("spot", n=30).orders[0]
        del order.target_pct  # a slot left unset: one reference fewer
        assert _slot_columns([order], ["id"]) is None
        assert _columns([order], ["id"]) == {"id": [order.id]}

        class Row:
            def __init__(self, v):
                self.v = v
        assert _slot_columns([Row(1), Row(2)], ["v"]) is None
        assert _columns([Row(1), Row(2)], ["v"]) == {"v": [1, 2]}
        assert _slot_columns(fills + [Row(3)], ["symbol"]) is None


def test_slot_columns_read_long_lists_chunk_by_chunk(monkeypatch):
    fills = varied_engine("partial_fills").fills
    monkeypatch.setattr(frames, "_SLOT_CHUNK", 7)  # several chunks and a short last one
    got = _slot_columns(fills, ["order_id", "price"])
    assert got["order_id"] == [f.order_id for f in fills]
    assert all(a is f.price for a, f in zip(got["price"], fills))
