"""Round-trip trades from fills: scenario tables checkable by hand, plus an accounting property."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tradeloom.engine.errors import DataError
from tradeloom.engine.orders import Fill, Liquidity, Side
from tradeloom.engine.results.trades import Trade, build_trades, open_positions

H = 3_600_000
BTC, ETH = "BTC/USDT", "ETH/USDT"
BUY, SELL = Side.BUY, Side.SELL


def fill(
    side: Side,
    ts_bars: int,
    price: float,
    amount: float,
    fee: float,
    tag: str = "",
    symbol: str = BTC,
) -> Fill:
    return Fill(0, symbol, side, ts_bars * H, price, amount, fee, Liquidity.TAKER, tag=tag)


def build(fills: list[Fill], **kw: object) -> list[Trade]:
    return build_trades(fills, timeframe_ms=H, **kw)  # type: ignore[arg-type]


class TestScenarios:
    def test_scale_in_then_one_exit(self) -> None:
        trades = build(
            [
                fill(BUY, 1, 100.0, 1.0, 0.10, "entry"),  # position 1
                fill(BUY, 2, 110.0, 1.0, 0.11, "add"),  # position 2, avg 105
                fill(SELL, 5, 120.0, 2.0, 0.24, "take_profit"),  # flat
            ]
        )
        assert len(trades) == 1
        t = trades[0]
        assert (t.side, t.is_open, t.n_fills, t.amount, t.max_position) == (
            "long",
            False,
            3,
            2.0,
            2.0,
        )
        assert t.entry_price == pytest.approx(105.0)
        assert t.exit_price == pytest.approx(120.0)
        assert t.gross_pnl == pytest.approx(30.0)  # 240 - 210
        assert t.fees == pytest.approx(0.45)
        assert t.pnl == pytest.approx(29.55)
        assert t.return_pct == pytest.approx(29.55 / 210.21)  # pnl / (entry notional + entry fees)
        assert (t.entry_ts, t.exit_ts, t.duration_ms, t.bars_held) == (H, 5 * H, 4 * H, 4)
        assert (t.entry_tag, t.exit_tag) == ("entry", "take_profit")

    def test_scale_out_charges_all_entry_fees_to_the_trade(self) -> None:
        t = build(
            [
                fill(BUY, 0, 100.0, 2.0, 0.20, "entry"),
                fill(SELL, 1, 110.0, 1.0, 0.11, "take_profit"),  # half out at +10
                fill(SELL, 2, 90.0, 1.0, 0.09, "stop_loss"),  # rest out at -10
            ]
        )[0]
        assert t.exit_price == pytest.approx(100.0)
        assert t.gross_pnl == pytest.approx(0.0)
        assert (t.entry_fees, t.exit_fees) == (pytest.approx(0.2), pytest.approx(0.2))
        assert t.pnl == pytest.approx(-0.4)
        assert t.exit_tag == "stop_loss"  # the fill that closed it

    def test_flip_splits_the_flipping_fill_and_its_fee_pro_rata(self) -> None:
        trades = build(
            [
                fill(BUY, 0, 100.0, 1.0, 1.0, "long"),
                fill(SELL, 1, 110.0, 3.0, 3.0, "flip"),  # 1 closes the long, 2 open a short
                fill(BUY, 2, 100.0, 2.0, 2.0, "cover"),
            ]
        )
        long, short = trades
        assert (long.side, long.gross_pnl, long.fees, long.pnl) == ("long", 10.0, 2.0, 8.0)
        assert (short.side, short.amount, short.entry_price, short.entry_fees) == (
            "short",
            2.0,
            110.0,
            2.0,
        )
        assert (short.gross_pnl, short.fees, short.pnl) == (20.0, 4.0, 16.0)
        assert (short.entry_ts, short.entry_tag, long.exit_tag) == (H, "flip", "flip")
        assert short.return_pct == pytest.approx(16.0 / 222.0)

    def test_open_trade_is_marked_to_the_final_price(self) -> None:
        trades = build(
            [fill(BUY, 0, 100.0, 2.0, 0.2), fill(SELL, 1, 110.0, 1.0, 0.11)],
            final_ts=4 * H,
            final_marks={BTC: 120.0},
        )
        t = trades[0]
        assert (t.is_open, t.exit_ts, t.exit_tag, t.open_amount) == (True, 4 * H, "open", 1.0)
        assert t.exit_price == pytest.approx(115.0)  # (110 + 120) / 2
        assert t.gross_pnl == pytest.approx(30.0)
        assert t.pnl == pytest.approx(30.0 - 0.31)  # no exit fee assumed for the remainder
        assert open_positions(trades) == {BTC: 1.0}

    def test_symbols_are_independent_and_trades_ordered_by_opening(self) -> None:
        trades = build(
            [
                fill(BUY, 0, 100.0, 1.0, 0.0, symbol=BTC),
                fill(SELL, 1, 10.0, 5.0, 0.0, symbol=ETH),
                fill(SELL, 2, 101.0, 1.0, 0.0, symbol=BTC),
                fill(BUY, 3, 9.0, 5.0, 0.0, symbol=ETH),
                fill(BUY, 4, 102.0, 1.0, 0.0, symbol=BTC),
            ],
            final_marks={BTC: 100.0},
        )
        assert [(t.trade_id, t.symbol, t.side, t.is_open) for t in trades] == [
            (1, BTC, "long", False),
            (2, ETH, "short", False),
            (3, BTC, "long", True),
        ]
        assert [t.gross_pnl for t in trades] == [1.0, 5.0, -2.0]

    def test_float_residue_counts_as_flat(self) -> None:
        trades = build(
            [
                fill(BUY, 0, 10.0, 0.1, 0.0),
                fill(BUY, 1, 10.0, 0.2, 0.0),
                fill(SELL, 2, 11.0, 0.3, 0.0),
            ]
        )
        assert len(trades) == 1 and not trades[0].is_open
        assert trades[0].gross_pnl == pytest.approx(0.3)

    def test_no_fills_no_trades(self) -> None:
        assert build([]) == []

    def test_fills_out_of_order_are_refused(self) -> None:
        with pytest.raises(DataError, match="before the previous fill"):
            build([fill(BUY, 2, 100.0, 1.0, 0.0), fill(SELL, 1, 100.0, 1.0, 0.0)])

    def test_open_position_without_a_mark_is_refused(self) -> None:
        with pytest.raises(DataError, match="final_marks has no positive price"):
            build([fill(BUY, 0, 100.0, 1.0, 0.0)])

    def test_non_positive_amount_is_refused(self) -> None:
        with pytest.raises(DataError, match="amount 0.0 is not a finite number > 0"):
            fill(BUY, 0, 100.0, 0.0, 0.0)  # such a Fill cannot exist (InvalidFill)
        with pytest.raises(DataError, match="must both be positive"):
            build([fill(BUY, 0, 0.0, 1.0, 0.0)])  # a zero price is a Fill, not a trade


# --------------------------------------------------------------------------- property

fill_step = st.tuples(
    st.sampled_from([BTC, ETH]),
    st.sampled_from([BUY, SELL]),
    st.integers(1, 50).map(lambda k: k / 10),  # amount, lot step 0.1
    st.integers(50, 150).map(float),  # price
    st.sampled_from([0.0, 0.001, 0.0025]),  # fee rate
)


@settings(max_examples=150, deadline=None)
@given(
    steps=st.lists(fill_step, max_size=30),
    marks=st.tuples(st.integers(50, 150), st.integers(50, 150)),
)
def test_trade_pnl_adds_up_to_the_account_change(
    steps: list[tuple[str, Side, float, float, float]], marks: tuple[int, int]
) -> None:
    """Starting flat: sum(trade pnl, open trades at the mark) == cash change + sum(position * mark).

    The right side is the change in account value computed directly from the
    fills, so this pins fees, flips, scale-ins and open trades at once.
    """
    final_marks = {BTC: float(marks[0]), ETH: float(marks[1])}
    fills = [
        fill(side, i, price, amount, price * amount * rate, symbol=sym)
        for i, (sym, side, amount, price, rate) in enumerate(steps)
    ]
    cash = 0.0
    pos = {BTC: 0.0, ETH: 0.0}
    for f in fills:
        cash -= f.side.sign * f.price * f.amount + f.fee
        pos[f.symbol] += f.side.sign * f.amount
    account_change = cash + sum(pos[s] * final_marks[s] for s in pos)
    trades = build(fills, final_ts=len(fills) * H, final_marks=final_marks)
    assert math.isclose(sum(t.pnl for t in trades), account_change, rel_tol=1e-9, abs_tol=1e-6)
    assert math.isclose(
        sum(t.fees for t in trades), sum(f.fee for f in fills), rel_tol=1e-9, abs_tol=1e-9
    )
    implied = open_positions(trades)
    for symbol, amount in pos.items():
        assert math.isclose(implied.get(symbol, 0.0), amount, abs_tol=1e-9)
    assert sum(t.n_fills for t in trades) >= len(fills)  # a flip fill counts in both trades
