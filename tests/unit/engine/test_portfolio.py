"""Portfolio accounting, fill by fill, as a table checkable by eye."""

from __future__ import annotations

import math

import pytest

from tradeloom.engine.accounting.portfolio import NegativeBalance, Portfolio, PortfolioSnapshot
from tradeloom.engine.errors import ConfigError, InsufficientFunds, InvalidFill
from tradeloom.engine.market import MarketSpec
from tradeloom.engine.orders import Fill, Liquidity, Side

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


# -- the overshoot tolerance (REL_TOLERANCE = 1e-9 of the fill's cost) -----------------


@pytest.mark.parametrize(
    ("cash", "accepted"),
    [
        # a buy of 10 @ 100, no fee: cost 1000. Tolerance 1e-9 * 1000 = 1e-6.
        (1000.0 - 5e-7, True),  # overshoot 5e-7 <= 1e-6: float noise, booked, cash 0
        (1000.0 - 9e-7, True),  # overshoot 9e-7, still inside
        (1000.0 - 1.5e-6, False),  # overshoot 1.5e-6 > 1e-6: the broker sized it wrong
        (1000.0 - 1e-3, False),
    ],
)
def test_a_buy_may_overshoot_cash_by_float_noise_only(cash, accepted):
    p = Portfolio(cash)
    if accepted:
        p.apply_fill(fill(BUY, 100.0, 10.0, 0.0))
        # exactly zero, never -5e-7: a spot balance cannot be negative
        assert p.cash == 0.0 and math.copysign(1.0, p.cash) == 1.0
        assert p.position("BTC/USDT") == 10.0
    else:
        with pytest.raises(NegativeBalance, match="the broker must size or refuse it"):
            p.apply_fill(fill(BUY, 100.0, 10.0, 0.0))
        assert p.cash == cash and p.position("BTC/USDT") == 0.0


def test_the_tolerance_counts_the_fee_in_the_cost():
    # 10 @ 100 plus a fee of 1000: cost 2000, tolerance 2e-6; cash short by 1.5e-6 passes
    # (it would not against the notional alone: 1.5e-6 > 1e-6).
    p = Portfolio(2000.0 - 1.5e-6)
    p.apply_fill(fill(BUY, 100.0, 10.0, 1000.0))
    assert p.cash == 0.0 and p.fees_paid == 1000.0


def test_a_base_fee_buy_may_overshoot_cash_by_float_noise_only():
    # fee in the coin bought: cash pays the notional 1000 only; tolerance 1e-6
    base_fee = Fill(1, "BTC/USDT", BUY, 0, 100.0, 10.0, 1.0, Liquidity.TAKER,
                    fee_currency="BTC", fee_cost=0.01)
    p = Portfolio(1000.0 - 5e-7)
    p.apply_fill(base_fee)
    assert p.cash == 0.0 and p.position("BTC/USDT") == 9.99
    with pytest.raises(NegativeBalance, match="size or refuse it"):
        Portfolio(1000.0 - 1.5e-6).apply_fill(base_fee)  # 1.5e-6 > 1e-6


@pytest.mark.parametrize(
    ("sold", "accepted"),
    [
        # holding 10 BTC; tolerance 1e-9 * sold, about 1e-8
        (10.0 + 5e-9, True),  # 5e-9 over, within 1e-8: a full exit, the position is 0
        (10.0 + 1.5e-8, False),  # 1.5e-8 over > 1e-8: a short sale, refused
    ],
)
def test_a_sell_may_overshoot_the_holding_by_float_noise_only(sold, accepted):
    p = Portfolio(1000.0)
    p.apply_fill(fill(BUY, 100.0, 10.0, 0.0))
    if accepted:
        p.apply_fill(fill(SELL, 100.0, sold, 0.0))
        assert p.position("BTC/USDT") == 0.0 and p.avg_entry("BTC/USDT") == 0.0
    else:
        with pytest.raises(NegativeBalance, match="spot cannot go short"):
            p.apply_fill(fill(SELL, 100.0, sold, 0.0))
        assert p.position("BTC/USDT") == 10.0


# -- marks ----------------------------------------------------------------------------


def test_the_first_fill_of_a_symbol_sets_its_mark():
    p = Portfolio(1000.0)
    p.apply_fill(fill(BUY, 100.0, 2.0, 0.0))  # no bar seen yet: the fill price marks it
    assert p.mark("BTC/USDT") == 100.0
    assert p.equity() == 1000.0  # 800 cash + 2 * 100


def test_a_fill_never_overwrites_the_mark_of_the_bar():
    p = Portfolio(1000.0)
    p.set_mark("BTC/USDT", 105.0)  # the bar's close
    p.apply_fill(fill(BUY, 100.0, 2.0, 0.0))
    p.apply_fill(fill(SELL, 110.0, 1.0, 0.0))
    assert p.mark("BTC/USDT") == 105.0
    assert p.equity() == 800.0 + 110.0 + 1.0 * 105.0


def test_zero_price_and_zero_amount_fills_are_refused():
    with pytest.raises(NegativeBalance, match="price 0.0"):
        Portfolio(10.0).apply_fill(fill(SELL, 0.0, 1.0, 0.0))
    with pytest.raises(InvalidFill, match="amount 0.0 is not a finite number > 0"):
        fill(BUY, 100.0, 0.0, 0.0)  # never reaches a portfolio


# -- snapshot, get, per-position realized PnL and fees -----------------------------------


def test_snapshot_reports_every_balance_at_one_instant():
    p = Portfolio(1000.0)
    p.apply_fill(fill(BUY, 100.0, 4.0, 0.4))  # cash 1000 - 400.4 = 599.6
    p.apply_fill(fill(SELL, 120.0, 1.0, 0.12))  # cash + 119.88 = 719.48; realized 20
    p.set_mark("BTC/USDT", 110.0)
    snap = p.snapshot()
    assert snap.cash == pytest.approx(719.48)
    assert snap.equity == pytest.approx(719.48 + 3.0 * 110.0)  # 1049.48
    assert snap.positions == (("BTC/USDT", 3.0),)
    assert snap.realized_pnl == 20.0  # (120 - 100) * 1, gross of fees
    assert snap.unrealized_pnl == 30.0  # 3 * (110 - 100)
    assert snap.fees_paid == pytest.approx(0.52)


def test_get_returns_the_position_record_with_its_own_pnl_and_fees():
    p = Portfolio(10_000.0)
    assert p.get("BTC/USDT") is None
    p.apply_fill(fill(BUY, 100.0, 4.0, 0.4))
    p.apply_fill(fill(BUY, 10.0, 10.0, 0.1, symbol="ETH/USDT", oid=2))
    p.apply_fill(fill(SELL, 120.0, 1.0, 0.12))  # BTC realizes (120 - 100) * 1 = 20
    p.apply_fill(fill(SELL, 110.0, 1.0, 0.11, oid=4))  # and (110 - 100) * 1 = 10 more
    p.apply_fill(fill(SELL, 8.0, 5.0, 0.04, symbol="ETH/USDT", oid=3))  # (8 - 10) * 5 = -10
    btc, eth = p.get("BTC/USDT"), p.get("ETH/USDT")
    assert (btc.amount, btc.avg_entry, btc.realized_pnl) == (2.0, 100.0, 30.0)
    assert (eth.amount, eth.avg_entry, eth.realized_pnl) == (5.0, 10.0, -10.0)
    assert btc.fees == pytest.approx(0.63) and eth.fees == pytest.approx(0.14)  # 0.4+.12+.11
    # per position they add up to the account's figures
    assert btc.realized_pnl + eth.realized_pnl == p.realized_pnl == 20.0
    assert btc.fees + eth.fees == pytest.approx(p.fees_paid)


def test_a_fee_paid_in_a_third_asset_is_booked_on_that_assets_position():
    p = Portfolio(10_000.0)
    p.apply_fill(fill(BUY, 500.0, 1.0, 0.0, symbol="BNB/USDT"))  # 1 BNB at 500
    # buy 1 BTC @ 1000, fee 0.75 USDT paid as 0.0015 BNB (valued at 500 each)
    p.apply_fill(Fill(2, "BTC/USDT", BUY, 0, 1000.0, 1.0, 0.75, Liquidity.TAKER,
                      fee_currency="BNB", fee_cost=0.0015))
    bnb, btc = p.get("BNB/USDT"), p.get("BTC/USDT")
    assert bnb.amount == 1.0 - 0.0015
    assert bnb.realized_pnl == 0.0  # value 0.75 - basis 500 * 0.0015 = 0
    assert btc.fees == 0.75 and bnb.fees == 0.0
    assert p.cash == 10_000.0 - 500.0 - 1000.0


def test_a_refused_fill_books_nothing():
    p = Portfolio(100.0)
    with pytest.raises(NegativeBalance):
        p.apply_fill(fill(BUY, 100.0, 2.0, 0.0))  # costs 200, cash 100
    pos = p.get("BTC/USDT")  # the record exists (the symbol was checked), empty
    assert (pos.amount, pos.avg_entry, pos.realized_pnl, pos.fees) == (0.0, 0.0, 0.0, 0.0)
    assert (pos.dust, pos.fee_only, pos.hidden, pos.listed) == (False, False, False, 0)
    assert p.avg_entry("BTC/USDT") == 0.0 and not p.is_dust("BTC/USDT")
    assert p.positions() == {} and p.holdings() == {} and p.equity() == 100.0


def test_an_account_may_start_empty():
    p = Portfolio(0.0)
    assert (p.cash, p.equity(), p.initial_cash) == (0.0, 0.0, 0.0)
    with pytest.raises(ConfigError, match="initial_cash must be a finite number >= 0"):
        Portfolio(math.inf)


def test_records_are_values():
    snap = Portfolio(10.0).snapshot()
    with pytest.raises(AttributeError):
        snap.cash = 11.0  # frozen: a snapshot is what the balances were
    assert snap == PortfolioSnapshot(10.0, 10.0, (), 0.0, 0.0, 0.0)


def test_queries_about_a_symbol_never_traded_answer_nothing():
    p = Portfolio(1000.0)
    assert (p.position("ETH/USDT"), p.holding("ETH/USDT"), p.avg_entry("ETH/USDT")) == (
        0.0, 0.0, 0.0)
    assert not p.is_dust("ETH/USDT") and p.get("ETH/USDT") is None and p.free("ETH") == 0.0
    assert p.set_dust("ETH/USDT") == 0.0 and p.mark_dust("ETH/USDT", 100.0) == 0.0


DUST_MARKETS = {
    "BTC/USDT": MarketSpec("BTC/USDT", lot_step=0.001, min_notional=5.0),
    "ETH/USDT": MarketSpec("ETH/USDT", lot_step=0.001, min_notional=5.0),
}


def test_dust_in_two_coins_counts_in_equity_and_not_as_positions():
    p = Portfolio(1000.0, markets=DUST_MARKETS)
    p.apply_fill(fill(BUY, 100.0, 1.0, 0.0))  # 1 BTC
    p.apply_fill(fill(BUY, 50.0, 1.0, 0.0, symbol="ETH/USDT", oid=2))  # 1 ETH; cash 850
    p.apply_fill(fill(SELL, 100.0, 0.98, 0.0, oid=3))  # 0.02 BTC left: 2 USDT < 5
    p.apply_fill(fill(SELL, 50.0, 0.96, 0.0, symbol="ETH/USDT", oid=4))  # 0.04 ETH: 2 USDT
    assert [round(a, 8) for _, a in p.dust_reports] == [0.02, 0.04]
    assert round(p.set_dust("BTC/USDT"), 8) == 0.02 and round(p.set_dust("ETH/USDT"), 8) == 0.04
    assert p.is_dust("BTC/USDT") and p.is_dust("ETH/USDT") and p.positions() == {}
    assert p.cash == pytest.approx(850.0 + 98.0 + 48.0)  # 996
    # equity = cash + 0.02 * 100 + 0.04 * 50 = 996 + 2 + 2
    assert p.hidden_value() == pytest.approx(4.0) and p.position_value() == 0.0
    assert p.equity() == pytest.approx(1000.0)


def test_dust_sold_to_the_last_unit_is_no_longer_dust():
    p = Portfolio(1000.0, markets=DUST_MARKETS)
    p.apply_fill(fill(BUY, 100.0, 1.0, 0.0))
    p.apply_fill(fill(SELL, 100.0, 0.98, 0.0, oid=2))
    p.set_dust("BTC/USDT")
    p.apply_fill(fill(SELL, 100.0, p.free("BTC"), 0.0, oid=3))  # e.g. a dust conversion
    assert not p.is_dust("BTC/USDT") and p.holdings() == {} and p.holding("BTC/USDT") == 0.0


def test_a_fee_asset_held_twice_averages_its_entry():
    p = Portfolio(1000.0)
    p.hold_fee_asset("BNB", 0.5, 300.0)  # 0.5 BNB worth 150
    p.hold_fee_asset("BNB", 1.5, 500.0)  # + 750: 2 BNB, avg (150 + 750) / 2 = 450
    assert p.holding("BNB/USDT") == 2.0 and p.avg_entry("BNB/USDT") == 450.0
    assert p.mark("BNB/USDT") == 500.0 and p.cash == 1000.0  # held, not bought
    assert p.equity() == 2000.0  # 1000 + 2 * 500


def test_holding_no_fee_asset_is_allowed_and_bad_figures_are_refused():
    p = Portfolio(1000.0)
    p.hold_fee_asset("BNB", 0.0, 0.5)  # nothing held (yet), a price under one quote unit
    assert p.holding("BNB/USDT") == 0.0 and p.avg_entry("BNB/USDT") == 0.0
    for amount, price in ((-1.0, 300.0), (1.0, 0.0), (math.inf, 300.0), (1.0, math.nan)):
        with pytest.raises(ConfigError, match="must be finite, the amount >= 0"):
            p.hold_fee_asset("BNB", amount, price)


def test_equity_adds_positions_and_dust():
    p = Portfolio(1000.0, markets=DUST_MARKETS)
    p.apply_fill(fill(BUY, 100.0, 1.0, 0.0))  # 1 BTC, a position
    p.apply_fill(fill(BUY, 50.0, 1.0, 0.0, symbol="ETH/USDT", oid=2))
    p.apply_fill(fill(SELL, 50.0, 0.96, 0.0, symbol="ETH/USDT", oid=3))  # 0.04 ETH dust
    p.set_dust("ETH/USDT")
    # cash 1000 - 100 - 50 + 48 = 898; + 1 BTC * 100 + 0.04 ETH * 50 = 1000
    assert p.equity() == pytest.approx(898.0 + 100.0 + 2.0)
    assert p.position_value() == 100.0 and p.hidden_value() == pytest.approx(2.0)


def test_a_refused_buy_names_its_cost_with_the_fee():
    p = Portfolio(100.0)
    with pytest.raises(NegativeBalance, match=r"fee 2.0\) costs 102.00000000 USDT but cash is "
                                              r"100.00000000"):
        p.apply_fill(fill(BUY, 100.0, 1.0, 2.0))


def test_a_position_record_refuses_a_misspelt_field():
    p = Portfolio(1000.0)
    p.apply_fill(fill(BUY, 100.0, 1.0, 0.0))
    with pytest.raises(AttributeError):
        p.get("BTC/USDT").amout = 2.0  # slotted: a typo cannot add a silent field


def test_a_buy_merges_dust_back_into_a_position():
    p = Portfolio(1000.0, markets=DUST_MARKETS)
    p.apply_fill(fill(BUY, 100.0, 1.0, 0.0))
    p.apply_fill(fill(SELL, 100.0, 0.98, 0.0, oid=2))  # 0.02 BTC left
    p.set_dust("BTC/USDT")
    p.apply_fill(fill(BUY, 100.0, 1.0, 0.1, oid=3))  # fee in USDT
    assert p.position("BTC/USDT") == pytest.approx(1.02) and not p.is_dust("BTC/USDT")
    assert p.positions() == {"BTC/USDT": pytest.approx(1.02)}
    assert p.get("BTC/USDT").hidden is False and p.get("BTC/USDT").dust is False


# -- fees charged in the coin or in a third asset ------------------------------------------


def base_fee_fill(side, price, amount, fee_btc, oid=1):
    """A BTC/USDT fill whose fee is ``fee_btc`` BTC, valued at the fill price."""
    return Fill(oid, "BTC/USDT", side, 0, price, amount, fee_btc * price, Liquidity.TAKER,
                fee_currency="BTC", fee_cost=fee_btc)


def test_base_fee_fills_keep_per_position_pnl_fees_and_the_first_mark():
    p = Portfolio(1000.0)
    p.apply_fill(base_fee_fill(BUY, 100.0, 2.0, 0.002))  # holds 1.998 for 200: avg
    assert p.mark("BTC/USDT") == 100.0  # the first fill marks the symbol
    p.set_mark("BTC/USDT", 105.0)
    # (200 - 0.2) / 1.998 = 100 exactly; sells take their fee from the holding too
    p.apply_fill(base_fee_fill(SELL, 110.0, 0.5, 0.0005, oid=2))  # realizes 10 * 0.5005
    p.apply_fill(base_fee_fill(SELL, 120.0, 0.5, 0.0005, oid=3))  # realizes 20 * 0.5005
    pos = p.get("BTC/USDT")
    assert pos.realized_pnl == pytest.approx(15.015) == p.realized_pnl
    assert pos.fees == pytest.approx(0.2 + 0.055 + 0.06) == pytest.approx(p.fees_paid)
    assert p.mark("BTC/USDT") == 105.0  # fills never overwrite the bar's mark
    p.apply_fill(base_fee_fill(SELL, 100.0, p.holding("BTC/USDT") / 1.001,
                               p.holding("BTC/USDT") / 1.001 * 0.001, oid=4))
    assert p.holding("BTC/USDT") == pytest.approx(0.0, abs=1e-15)
    assert p.avg_entry("BTC/USDT") == 0.0  # flat: no entry price left


def test_a_base_fee_eating_the_whole_buy_is_refused():
    with pytest.raises(NegativeBalance, match="all of what it bought"):
        Portfolio(1000.0).apply_fill(base_fee_fill(BUY, 100.0, 1.0, 1.0))


@pytest.mark.parametrize(
    ("over", "accepted"),
    # sold 4 + fee 0.004 against 4.004 - over held: the tolerance is 1e-9 x 4.004
    [(2e-9, True), (6e-9, False)],
)
def test_a_base_fee_sell_may_overshoot_the_holding_by_float_noise_only(over, accepted):
    p = Portfolio(1000.0)
    p.apply_fill(fill(BUY, 100.0, 4.004 - over, 0.0))
    sell = base_fee_fill(SELL, 100.0, 4.0, 0.004, oid=2)
    if accepted:
        p.apply_fill(sell)
        assert p.holding("BTC/USDT") == 0.0
    else:
        with pytest.raises(NegativeBalance, match="so the fee fits in the holding"):
            p.apply_fill(sell)


def test_a_base_fee_buy_merges_dust_back_into_a_position():
    p = Portfolio(1000.0, markets=DUST_MARKETS)
    p.apply_fill(fill(BUY, 100.0, 1.0, 0.0))
    p.apply_fill(fill(SELL, 100.0, 0.98, 0.0, oid=2))
    p.set_dust("BTC/USDT")
    p.apply_fill(base_fee_fill(BUY, 100.0, 1.0, 0.001, oid=3))
    pos = p.get("BTC/USDT")
    assert (pos.dust, pos.hidden) == (False, False)
    assert p.position("BTC/USDT") == pytest.approx(1.019)


def bnb_fee(oid, fee_bnb, value):
    """A buy of 1 BTC @ 1000 whose fee is ``fee_bnb`` BNB, valued ``value`` USDT."""
    return Fill(oid, "BTC/USDT", BUY, 0, 1000.0, 1.0, value, Liquidity.TAKER,
                fee_currency="BNB", fee_cost=fee_bnb)


def test_a_fee_asset_realizes_its_value_over_its_basis_each_time_it_pays():
    p = Portfolio(3000.0)
    p.apply_fill(fill(BUY, 300.0, 1.0, 0.0, symbol="BNB/USDT"))  # 1 BNB at 300
    p.apply_fill(bnb_fee(2, 0.0015, 0.75))  # 0.0015 BNB worth 0.75: 0.75 - 0.45 = 0.3
    p.apply_fill(bnb_fee(3, 0.0015, 0.75))  # again: 0.3
    bnb = p.get("BNB/USDT")
    assert bnb.realized_pnl == pytest.approx(0.6) == pytest.approx(p.realized_pnl)
    assert bnb.amount == pytest.approx(0.997) and bnb.avg_entry == 300.0


def test_spending_all_of_a_fee_asset_resets_its_entry():
    p = Portfolio(3000.0)
    p.apply_fill(fill(BUY, 300.0, 0.0015, 0.0, symbol="BNB/USDT"))
    p.apply_fill(bnb_fee(2, 0.0015, 0.75))
    assert p.holding("BNB/USDT") == 0.0 and p.avg_entry("BNB/USDT") == 0.0
    assert p.holdings() == {"BTC/USDT": 1.0}


@pytest.mark.parametrize(
    ("cost", "accepted"),
    [
        (0.0015 + 1e-13, True),  # 1e-13 over 0.0015 held: float noise (1e-9 x 0.0015)
        (0.0015 + 1e-11, False),  # 1e-11 over: more than the tolerance of 1.5e-12
    ],
)
def test_a_fee_asset_may_be_overdrawn_by_float_noise_only(cost, accepted):
    p = Portfolio(3000.0)
    p.apply_fill(fill(BUY, 300.0, 0.0015, 0.0, symbol="BNB/USDT"))
    if accepted:
        p.apply_fill(bnb_fee(2, cost, 0.75))
        assert p.holding("BNB/USDT") == 0.0
    else:
        with pytest.raises(NegativeBalance, match="pays a fee of"):
            p.apply_fill(bnb_fee(2, cost, 0.75))


@pytest.mark.parametrize(
    ("cost", "value", "mark"),
    [
        (0.0008, 0.32, 400.0),  # the venue valued 0.0008 BNB at 0.32 USDT: 400 a BNB
        (0.0, 0.0, 300.0),  # no fee: the mark stays
        (0.0008, 0.0, 300.0),  # no value reported: the mark stays
        (0.0, 0.5, 300.0),  # a value but no amount of BNB: no rate to take (never 0.5 / 0)
    ],
)
def test_a_fee_only_holding_is_marked_at_the_rate_the_venue_charged(cost, value, mark):
    p = Portfolio(1000.0)
    p.hold_fee_asset("BNB", 2.0, 300.0)
    p.apply_fill(Fill(1, "BTC/USDT", BUY, 0, 30000.0, 0.01, value, Liquidity.TAKER,
                      fee_currency="BNB", fee_cost=cost))
    assert p.mark("BNB/USDT") == pytest.approx(mark)


def test_a_market_without_rules_reports_no_dust():
    # markets are known for ETH only: a BTC sell leaving 0.001 is not checked for dust
    p = Portfolio(1000.0, markets={"ETH/USDT": DUST_MARKETS["ETH/USDT"]})
    p.apply_fill(fill(BUY, 100.0, 1.0, 0.0))
    p.apply_fill(fill(SELL, 100.0, 0.999, 0.0, oid=2))
    assert p.dust_reports == [] and p.position("BTC/USDT") == pytest.approx(0.001)


def test_set_dust_on_a_closed_position_does_nothing():
    p = Portfolio(1000.0, markets=DUST_MARKETS)
    p.apply_fill(fill(BUY, 100.0, 1.0, 0.0))
    p.apply_fill(fill(SELL, 100.0, 1.0, 0.0, oid=2))
    assert p.set_dust("BTC/USDT") == 0.0 and not p.get("BTC/USDT").dust


@pytest.mark.parametrize(
    ("held", "dust"),
    [(0.02, 0.02), (1.0, 0.0)],  # at 100: 2 USDT < the 5 USDT minimum is dust; 100 is not
)
def test_an_opening_holding_is_classified_at_a_price(held, dust):
    p = Portfolio(1000.0, markets=DUST_MARKETS)
    p.apply_fill(fill(BUY, 100.0, held, 0.0))
    assert p.mark_dust("BTC/USDT", 100.0) == pytest.approx(dust)
    assert p.position("BTC/USDT") == (0.0 if dust else held)
    assert Portfolio(10.0).mark_dust("BTC/USDT", 100.0) == 0.0  # no rules: never dust
    assert Portfolio(10.0, markets=DUST_MARKETS).mark_dust("ETH/USDT", 50.0) == 0.0  # none held
