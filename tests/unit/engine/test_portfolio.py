"""Portfolio accounting, fill by fill, as a table checkable by eye."""

from __future__ import annotations

import math

import pytest
from tradeloom.engine.errors import ConfigError, InsufficientFunds, InvalidFill
from tradeloom.engine.orders import Fill, Liquidity, Side
from tradeloom.engine.accounting.portfolio import NegativeBalance, Portfolio

BUY, SELL = Side.BUY, Side.SELL


def fill(side, price, amount, fee, symbol="BTC/USDT", oid=1):
    return Fill(oid, symbol, side, 0, price, amount, fee, Liquidity.TAKER)


def test_fill_table():
    p = Portfolio(1000.0, "USDT")
    # side  price  amount  fee    -> cash      position  avg_entry  realized
    rows = [
        (BUY, 100.0, 2.0, 0.2, 799.8, 2.0, 100.0, 0.0),  # pay 200 + 0.2
        (BUY, 110.0, 2.0, 0.22, 579.58, 4.0, 105.0, 0.0),  # avg (200 + 220) / 4
        (SELL, 120.0, 1.0, 0.12, 699.46, 3.0, 105.0, 15.0),  # (120 - 105) * 1
        (SELL, 90.0, 3.0, 0.27, 969.19, 0.0, 0.0, -30.0),  # (90 - 105) * 3; flat resets avg
    ]
    for side, price, amount, fee, cash, pos, avg, realized in rows:
        p.apply_fill(fill(side, price, amount, fee))
        assert (p.cash, p.position("BTC/USDT"), p.avg_entry("BTC/USDT"), p.realized_pnl) == (
            pytest.approx(cash), pytest.approx(pos), pytest.approx(avg), pytest.approx(realized)
        )
    assert p.fees_paid == pytest.approx(0.81)
    # realized - fees == equity change when flat
    assert p.realized_pnl - p.fees_paid == pytest.approx(p.equity() - 1000.0)
    assert p.positions() == {}


def test_equity_and_unrealized_use_the_marks():
    p = Portfolio(1000.0)
    p.apply_fill(fill(BUY, 100.0, 5.0, 0.5))
    p.apply_fill(fill(BUY, 10.0, 10.0, 0.1, symbol="ETH/USDT", oid=2))
    p.set_mark("BTC/USDT", 110.0)
    p.set_mark("ETH/USDT", 9.0)
    assert p.cash == pytest.approx(1000 - 500.5 - 100.1)
    assert p.position_value() == pytest.approx(550.0 + 90.0)
    assert p.equity() == pytest.approx(399.4 + 640.0)
    assert p.unrealized_pnl() == pytest.approx(50.0 - 10.0)
    assert p.realized_pnl + p.unrealized_pnl() - p.fees_paid == pytest.approx(p.equity() - 1000.0)
    assert p.positions() == {"BTC/USDT": 5.0, "ETH/USDT": 10.0}  # first-opened order


def test_free_answers_the_broker_in_quote_and_base_assets():
    p = Portfolio(1000.0, "USDT")
    p.apply_fill(fill(BUY, 100.0, 2.5, 0.0))
    assert p.free("USDT") == 750.0
    assert p.free("BTC") == 2.5
    assert p.free("ETH") == 0.0


def test_cash_moves_by_the_broker_cost_expression_exactly():
    p = Portfolio(1000.0)
    price, amount, fee = 0.1, 3.0, 0.0003
    p.apply_fill(fill(BUY, price, amount, fee))
    assert p.cash == 1000.0 - (price * amount + fee)


def test_a_buy_beyond_cash_raises_negative_balance():
    p = Portfolio(100.0)
    with pytest.raises(NegativeBalance, match="cash is 100.00000000"):
        p.apply_fill(fill(BUY, 100.0, 1.0, 0.1))
    assert p.cash == 100.0 and p.position("BTC/USDT") == 0.0  # nothing booked
    assert issubclass(NegativeBalance, InsufficientFunds)


def test_a_sell_beyond_the_position_raises_negative_balance():
    p = Portfolio(1000.0)
    p.apply_fill(fill(BUY, 100.0, 1.0, 0.0))
    with pytest.raises(NegativeBalance, match="spot cannot go short"):
        p.apply_fill(fill(SELL, 100.0, 1.5, 0.0))


def test_float_overshoot_of_a_full_sell_closes_the_position():
    p = Portfolio(1000.0)
    p.apply_fill(fill(BUY, 100.0, 0.3, 0.0))
    p.apply_fill(fill(SELL, 100.0, 0.1 + 0.2, 0.0))  # 0.30000000000000004 > 0.3
    assert p.position("BTC/USDT") == 0.0 and p.positions() == {}


def test_positive_dust_is_kept_so_portfolio_and_broker_agree():
    p = Portfolio(1000.0)
    p.apply_fill(fill(BUY, 100.0, 0.9, 0.0))
    p.apply_fill(fill(SELL, 100.0, 0.3, 0.0))
    p.apply_fill(fill(SELL, 100.0, 0.6, 0.0))
    assert p.position("BTC/USDT") == 0.9 - 0.3 - 0.6 == 1.1102230246251565e-16
    p.apply_fill(fill(SELL, 100.0, p.free("BTC"), 0.0))  # the broker's full exit sells free
    assert p.positions() == {}


def test_symbol_in_another_quote_currency_is_a_config_error():
    p = Portfolio(1000.0, "USDT")
    with pytest.raises(ConfigError, match="quote_currency"):
        p.apply_fill(fill(BUY, 1.0, 1.0, 0.0, symbol="BTC/EUR"))


def test_invalid_initial_cash_and_fills_are_refused():
    with pytest.raises(ConfigError, match="initial_cash"):
        Portfolio(-1.0)
    with pytest.raises(NegativeBalance, match="not a valid execution"):
        Portfolio(10.0).apply_fill(fill(BUY, 0.0, 1.0, 0.0))  # a Fill, but nothing was paid
    with pytest.raises(InvalidFill, match="price nan"):  # a NaN price never becomes a Fill
        Portfolio(10.0).apply_fill(fill(BUY, math.nan, 1.0, 0.0))


def test_mark_is_nan_before_the_first_price():
    assert math.isnan(Portfolio(1.0).mark("BTC/USDT"))
