"""The perpetual part of the account (``engine.accounting.perps``) on one worked book.

Default contract terms (one tier: 0.5 % maintenance, no maintenance amount, 20x at most,
1.25 % clearance fee). The book, 5,000 USDT and one spot holding:

=====  ======  =====  ========  =====  ======  ========================  =========  ======
perp   mode    lev    fill      fee    mark    unrealized                initial    maint.
=====  ======  =====  ========  =====  ======  ========================  =========  ======
BTC    cross   10x    +100@100  1.0    95      100 * (95 - 100) = -500   1,000      47.5
ETH    cross   10x    -50@40    0.5    42      -50 * (42 - 40) = -100    200        10.5
SOL    isol.   5x     +10@20    0.1    18      10 * (18 - 20) = -20      40         0.9
=====  ======  =====  ========  =====  ======  ========================  =========  ======

spot: 2 BNB bought @ 300 (600), marked 310. cash = 5000 - 600 - 1.0 - 0.5 - 0.1 = 4,398.4.
"""

from __future__ import annotations

import math

import pytest

from tradeloom.engine.accounting.perps import book_fill
from tradeloom.engine.accounting.portfolio import Portfolio
from tradeloom.engine.contracts import ContractSpec, LeverageBracket
from tradeloom.engine.errors import ConfigError
from tradeloom.engine.market import MarketSpec
from tradeloom.engine.orders import Fill, Liquidity, Side

BTC, ETH, SOL, BNB = "BTC/USDT:USDT", "ETH/USDT:USDT", "SOL/USDT:USDT", "BNB/USDT"
ADA = "ADA/USDT:USDT"
MARKETS = {s: MarketSpec(s, contract=ContractSpec()) for s in (BTC, ETH, SOL, ADA)}
MARKETS[BNB] = MarketSpec(BNB)
_ids = iter(range(1, 1_000_000))


def fill(pf, symbol, signed, price, fee=0.0):
    side = Side.BUY if signed > 0 else Side.SELL
    pf.apply_fill(Fill(next(_ids), symbol, side, 0, price, abs(signed), fee, Liquidity.TAKER))


def book():
    pf = Portfolio(5_000.0, "USDT", markets=MARKETS)
    pf.set_leverage(BTC, 10)
    pf.set_leverage(ETH, 10)
    pf.set_leverage(SOL, 5)
    pf.set_margin_mode(SOL, "isolated")
    fill(pf, BNB, 2.0, 300.0)
    fill(pf, BTC, 100.0, 100.0, 1.0)
    fill(pf, ETH, -50.0, 40.0, 0.5)
    fill(pf, SOL, 10.0, 20.0, 0.1)
    for symbol, mark in ((BNB, 310.0), (BTC, 95.0), (ETH, 42.0), (SOL, 18.0)):
        pf.set_mark(symbol, mark)
    return pf


CASH = 4_398.4
EQUITY = CASH + 620.0 - 620.0  # spot 2 * 310 = 620; unrealized -500 - 100 - 20 = -620
CROSS_WALLET = CASH - 40.0     # cash less the isolated margin


class TestTheBook:
    def test_balances(self):
        pf = book()
        assert pf.cash == pytest.approx(CASH, rel=1e-15)
        assert pf.equity() == pytest.approx(EQUITY, rel=1e-12)
        assert pf.perp_unrealized() == pytest.approx(-620.0, rel=1e-12)
        # spot 2 * (310 - 300) = 20 plus the perpetuals' -620
        assert pf.unrealized_pnl() == pytest.approx(-600.0, rel=1e-12)
        assert pf.used_margin() == pytest.approx(1_240.0, rel=1e-15)
        assert pf.fees_paid == pytest.approx(1.6, rel=1e-12)

    def test_entry_prices_of_perpetuals_and_spot(self):
        pf = book()
        assert (pf.avg_entry(BTC), pf.avg_entry(ETH), pf.avg_entry(SOL)) == (100.0, 40.0, 20.0)
        assert pf.avg_entry(BNB) == 300.0 and pf.avg_entry(ADA) == 0.0  # ADA: never traded

    def test_maintenance_margin_per_symbol_and_in_total(self):
        pf = book()
        assert pf.maintenance_margin(ETH) == pytest.approx(10.5, rel=1e-12)
        assert pf.maintenance_margin() == pytest.approx(47.5 + 10.5 + 0.9, rel=1e-12)

    def test_available_balance_counts_only_cross_losses(self):
        # cash - initial margins - cross losses: 4398.4 - 1240 - 500 - 100 (SOL's -20 is
        # its isolated margin's business)
        pf = book()
        assert pf.available() == pytest.approx(CASH - 1_240.0 - 600.0, rel=1e-12)
        assert pf.free("USDT") == pf.available()

    def test_maintenance_margin_of_one_unit(self):
        # long 1 @100 marked 100: 100 * 0.5 %
        pf = Portfolio(1_000.0, "USDT", markets=MARKETS)
        fill(pf, BTC, 1.0, 100.0)
        assert pf.maintenance_margin(BTC) == pf.maintenance_margin() == 0.5

    def test_a_small_cross_gain_does_not_add_to_the_available_balance(self):
        # long 1 @100 (1x cross) marked 100.5: a gain of 0.5; available = 1000 - 100
        pf = Portfolio(1_000.0, "USDT", markets=MARKETS)
        fill(pf, BTC, 1.0, 100.0)
        pf.set_mark(BTC, 100.5)
        assert pf.available() == 900.0

    def test_positions_in_the_order_they_were_opened(self):
        pf = book()
        assert pf.perp_positions() == {BTC: 100.0, ETH: -50.0, SOL: 10.0}
        assert list(pf.perp_positions()) == [BTC, ETH, SOL]
        assert (pf.perp_position(ETH), pf.signed_position(ETH), pf.signed_position(BNB)) == (
            -50.0, -50.0, 2.0)

    def test_cross_context_leaves_out_the_isolated_position(self):
        # BTC's view: wallet 4398.4 - 40; the other cross position is ETH (maint 10.5,
        # unrealized -100); SOL is isolated and counts only by its margin
        wallet, other_mm, other_upnl = book()._cross_context(BTC)
        assert wallet == pytest.approx(CROSS_WALLET, rel=1e-15)
        assert (other_mm, other_upnl) == (pytest.approx(10.5), pytest.approx(-100.0))

    def test_cross_liquidation_prices(self):
        pf = book()
        # BTC long: (4358.4 - 10.5 - 100 - 100 * 100) / (100 * 0.005 - 100) = -5752.1 / -99.5
        assert pf.liquidation_price(BTC) == pytest.approx(
            (CROSS_WALLET - 10.5 - 100.0 - 10_000.0) / -99.5, rel=1e-12)
        # ETH short: (4358.4 - 47.5 - 500 + 50 * 40) / (50 * 0.005 + 50)
        assert pf.liquidation_price(ETH) == pytest.approx(
            (CROSS_WALLET - 47.5 - 500.0 + 2_000.0) / 50.25, rel=1e-12)

    def test_isolated_liquidation_price_uses_its_own_margin(self):
        # (40 - 10 * 20) / (10 * 0.005 - 10) = -160 / -9.95
        assert book().liquidation_price(SOL) == pytest.approx(160.0 / 9.95, rel=1e-12)

    def test_margin_ratios(self):
        pf = book()
        # isolated SOL: 0.9 / (40 - 20)
        assert pf.margin_ratio(SOL) == pytest.approx(0.9 / 20.0, rel=1e-12)
        # the cross account: (47.5 + 10.5) / (4358.4 - 500 - 100), for a cross symbol too
        cross = (47.5 + 10.5) / (CROSS_WALLET - 600.0)
        assert pf.margin_ratio() == pytest.approx(cross, rel=1e-12)
        assert pf.margin_ratio(BTC) == pytest.approx(cross, rel=1e-12)

    def test_an_isolated_position_without_a_mark_is_judged_at_its_entry(self):
        pf = Portfolio(1_000.0, "USDT", markets=MARKETS)
        pf.set_leverage(SOL, 5)
        pf.set_margin_mode(SOL, "isolated")
        fill(pf, SOL, 10.0, 20.0)
        pf._marks.pop(SOL)  # a position restored before its first price
        # at the entry: 10 * 20 * 0.005 / 40
        assert pf.margin_ratio(SOL) == pytest.approx(1.0 / 40.0, rel=1e-12)

    def test_a_flat_symbol_has_no_liquidation_price(self):
        pf = Portfolio(1_000.0, "USDT", markets=MARKETS)
        assert pf.liquidation_price(BTC) == 0.0


class TestCrossWithThreePositions:
    def test_every_other_cross_position_counts(self):
        # the book plus a cross short of ADA: -1000 @0.5 (1x) marked 0.6 (upnl -100,
        # maintenance 1000 * 0.6 * 0.005 = 3). BTC's view: others ETH and ADA.
        pf = book()
        fill(pf, ADA, -1_000.0, 0.5)
        pf.set_mark(ADA, 0.6)
        wallet, other_mm, other_upnl = pf._cross_context(BTC)
        assert wallet == pytest.approx(CROSS_WALLET, rel=1e-15)
        assert other_mm == pytest.approx(10.5 + 3.0, rel=1e-12)
        assert other_upnl == pytest.approx(-100.0 - 100.0, rel=1e-12)


class TestLeverageOfAnIsolatedUnit:
    @pytest.mark.parametrize(("leverage", "refused"), [
        (9.5, True),    # extra 100 * (1/9.5 - 1/10) = 0.526 > the 0.5 available
        (9.6, False),   # extra 0.4167 <= 0.5
        (10.0, False),  # no extra
    ])
    def test_a_small_extra_margin_is_checked_too(self, leverage, refused):
        # 10.5 USDT, isolated long 1 @100 at 10x: margin 10, available 0.5
        pf = Portfolio(10.5, "USDT", markets=MARKETS)
        pf.set_leverage(BTC, 10)
        pf.set_margin_mode(BTC, "isolated")
        fill(pf, BTC, 1.0, 100.0)
        if refused:
            with pytest.raises(ConfigError, match="more isolated margin than is available"):
                pf.set_leverage(BTC, leverage)
        else:
            pf.set_leverage(BTC, leverage)
            assert pf.perp(BTC).leverage == leverage


def test_setting_the_same_leverage_again_needs_no_margin():
    # isolated BTC 1 @100 at 10x (margin 10) and a cross ETH long 10 @100 (1x, margin
    # 1,000) marked 50 (loss 500) on 1,010: available 1010 - 10 - 1000 - 500 = -500.
    # Setting BTC's 10x again (a strategy may do it on every bar) changes nothing.
    pf = Portfolio(1_010.0, "USDT", markets=MARKETS)
    pf.set_leverage(BTC, 10)
    pf.set_margin_mode(BTC, "isolated")
    fill(pf, BTC, 1.0, 100.0)
    fill(pf, ETH, 10.0, 100.0)
    pf.set_mark(ETH, 50.0)
    assert pf.available() == pytest.approx(-500.0)
    pf.set_leverage(BTC, 10)
    assert pf.perp(BTC).leverage == 10.0


class TestClearanceFee:
    def test_the_fee_is_capped_at_what_is_left_of_an_isolated_margin(self):
        pf = book()
        lp = pf.liquidation_price(SOL)
        # full 0.0125 * 10 * 16.08 = 2.01; left: 40 + 10 * (16.08 - 20) = 0.804
        assert pf.liquidation_fee(SOL, lp) == pytest.approx(40.0 + 10.0 * (lp - 20.0), rel=1e-9)
        # a gap below the bankruptcy price (16): nothing is left, the fee is 0, not negative
        assert pf.liquidation_fee(SOL, 15.0) == 0.0

    def test_a_cross_fee_is_the_full_rate_while_the_wallet_covers_it(self):
        # BTC at 60: full 0.0125 * 100 * 60 = 75; the wallet keeps 4358.4 - 4000 = 358.4
        assert book().liquidation_fee(BTC, 60.0) == pytest.approx(75.0, rel=1e-12)

    def test_a_cross_fee_is_capped_at_the_wallet(self):
        # BTC at 56.5: full 70.625; left 4358.4 + 100 * (56.5 - 100) = 8.4
        assert book().liquidation_fee(BTC, 56.5) == pytest.approx(8.4, rel=1e-9)


class TestFunding:
    @pytest.mark.parametrize(("symbol", "rate", "mark", "amount"), [
        (BTC, 0.0001, 96.0, -0.96),    # long pays 100 * 96 * 0.0001
        (ETH, 0.0001, 41.0, 0.205),    # short receives 50 * 41 * 0.0001
        (BTC, -0.0002, 95.0, 1.9),     # negative rate: the long is paid
        (ETH, -0.0002, 40.0, -0.4),    # ... and the short pays
    ])
    def test_the_position_pays_qty_times_mark_times_rate(self, symbol, rate, mark, amount):
        pf = book()
        payment = pf.apply_funding(symbol, 28_800_000, rate, mark)
        assert payment.amount == pytest.approx(amount, rel=1e-12)
        assert (payment.ts, payment.symbol, payment.qty, payment.mark, payment.rate) == (
            28_800_000, symbol, pf.perp_position(symbol), mark, rate)
        assert pf.cash == pytest.approx(CASH + amount, rel=1e-12)
        assert pf.perp(symbol).funding == pytest.approx(amount, rel=1e-12)
        assert pf.funding == [payment]

    def test_payments_add_up(self):
        pf = book()
        pf.apply_funding(BTC, 1, 0.0001, 100.0)   # -1.0
        pf.apply_funding(ETH, 1, 0.0001, 40.0)    # +0.2
        pf.apply_funding(BTC, 2, 0.0001, 100.0)   # -1.0
        assert pf.funding_net == pytest.approx(-1.8, rel=1e-12)
        assert pf.perp(BTC).funding == pytest.approx(-2.0, rel=1e-12)
        assert pf.cash == pytest.approx(CASH - 1.8, rel=1e-12)

    @pytest.mark.parametrize(("rate", "mark"), [(math.nan, 100.0), (math.inf, 100.0),
                                                (0.0001, 0.0), (0.0001, math.nan),
                                                (0.0001, math.inf)])
    def test_a_rate_or_mark_that_is_not_a_number_is_refused(self, rate, mark):
        pf = book()
        with pytest.raises(ConfigError, match="must be finite and the mark > 0"):
            pf.apply_funding(BTC, 1, rate, mark)
        assert pf.cash == pytest.approx(CASH) and pf.funding == []

    def test_a_sub_dollar_mark_is_a_mark(self):
        pf = Portfolio(1_000.0, "USDT", markets=MARKETS)
        fill(pf, SOL, 1_000.0, 0.5)
        assert pf.apply_funding(SOL, 1, 0.001, 0.5).amount == pytest.approx(-0.5, rel=1e-12)


class TestFills:
    def test_a_fill_books_realized_pnl_and_fee_on_the_position_and_the_account(self):
        pf = book()
        fill(pf, BTC, -40.0, 110.0, 0.44)   # sells 40 of the 100 @100: +400
        pos = pf.perp(BTC)
        assert (pos.qty, pos.avg_entry) == (60.0, 100.0)
        assert pos.realized_pnl == pytest.approx(400.0) and pos.fees == pytest.approx(1.44)
        assert pf.realized_pnl == pytest.approx(400.0)
        assert pf.cash == pytest.approx(CASH + 400.0 - 0.44, rel=1e-12)
        fill(pf, BTC, -10.0, 90.0, 0.09)    # 10 more @90: -100
        assert pos.realized_pnl == pytest.approx(300.0) and pos.fees == pytest.approx(1.53)
        assert pf.realized_pnl == pytest.approx(300.0)

    def test_a_first_fill_marks_the_symbol_and_a_later_one_does_not(self):
        pf = Portfolio(1_000.0, "USDT", markets=MARKETS)
        fill(pf, BTC, 1.0, 100.0)
        assert pf.mark(BTC) == 100.0
        pf.set_mark(BTC, 101.0)
        fill(pf, BTC, 1.0, 99.0)
        assert pf.mark(BTC) == 101.0   # the bar's mark, not the fill's price
        assert pf.equity() == pytest.approx(1_000.0 + 2 * (101.0 - 99.5), rel=1e-12)

    def test_closing_every_position_leaves_equity_equal_to_cash(self):
        pf = book()
        fill(pf, BTC, -100.0, 95.0)   # -500
        fill(pf, ETH, 50.0, 42.0)     # -100
        fill(pf, SOL, -10.0, 18.0)    # -20
        assert pf.perp_positions() == {} and pf.used_margin() == 0.0
        assert pf.cash == pytest.approx(CASH - 620.0, rel=1e-12)
        # only the spot BNB is left: equity = cash + 2 * 310
        assert pf.equity() == pytest.approx(CASH - 620.0 + 620.0, rel=1e-12)
        assert pf.positions() == {BNB: 2.0}
        assert pf.available() == pf.cash
        fill(pf, BTC, -1.0, 95.0)     # and a new position lists again
        assert pf.perp_positions() == {BTC: -1.0}
        assert pf.equity() == pytest.approx(CASH, rel=1e-12)

    @pytest.mark.parametrize(("excess", "flat"), [
        (5e-13, True),     # 3 sold as 3 * (1 + 5e-13): 1.5e-12 left, under 1e-12 of the fill
        (1.5e-12, False),  # 4.5e-12 left: more than 1e-12 of the fill, a real remainder
        (1e-11, False),
    ])
    def test_a_close_within_float_noise_is_a_full_close(self, excess, flat):
        qty, entry, realized = book_fill(3.0, 100.0, -3.0 * (1 + excess), 110.0)
        assert realized == 30.0
        if flat:
            assert (qty, entry) == (0.0, 0.0)
        else:
            assert qty < 0.0 and entry == 110.0

    def test_a_flip_by_less_than_one_unit_opens_at_the_fill_price(self):
        # long 2 @100, sell 2.5 @110: closes 2 (+20), opens 0.5 short at 110
        assert book_fill(2.0, 100.0, -2.5, 110.0) == (-0.5, 110.0, 20.0)

    def test_a_short_partially_covered_keeps_its_entry(self):
        assert book_fill(-3.0, 110.0, 1.0, 100.0) == (-2.0, 110.0, 10.0)


class TestSettings:
    @pytest.mark.parametrize("leverage", [0.5, 21, math.nan, math.inf, "3"])
    def test_leverage_outside_the_brackets_is_refused(self, leverage):
        pf = Portfolio(1_000.0, "USDT", markets=MARKETS)
        with pytest.raises(ConfigError, match=r"outside \[1, 20\]"):
            pf.set_leverage(BTC, leverage)
        assert pf.perp(BTC).leverage == 1.0

    @pytest.mark.parametrize("leverage", [1, 20])
    def test_the_bounds_are_allowed(self, leverage):
        pf = Portfolio(1_000.0, "USDT", markets=MARKETS)
        pf.set_leverage(BTC, leverage)
        assert pf.perp(BTC).leverage == float(leverage)

    def test_the_open_notional_must_fit_the_leverage(self):
        # tiers: 50x up to 10,000, 10x beyond; a 100 @ 100 = 10,000 position fits 50x
        # exactly (the cap), 100.5 @ 100 does not
        tiers = ContractSpec(brackets=(LeverageBracket(0.0, 10_000.0, 50.0, 0.01, 0.0),
                                       LeverageBracket(10_000.0, math.inf, 10.0, 0.02, 100.0)))
        pf = Portfolio(100_000.0, "USDT", markets={BTC: MarketSpec(BTC, contract=tiers)})
        fill(pf, BTC, 100.0, 100.0)
        pf.set_leverage(BTC, 50)
        fill(pf, BTC, 0.5, 100.0)
        with pytest.raises(ConfigError, match="notional 10050.00 exceeds 10000.00"):
            pf.set_leverage(BTC, 40)

    def test_a_flat_symbol_takes_any_leverage_of_its_tiers(self):
        # tiers: 50x up to 10,000; BTC marked at 20,000 but not held: 50x is allowed
        tiers = ContractSpec(brackets=(LeverageBracket(0.0, 10_000.0, 50.0, 0.01, 0.0),
                                       LeverageBracket(10_000.0, math.inf, 10.0, 0.02, 100.0)))
        pf = Portfolio(1_000.0, "USDT", markets={BTC: MarketSpec(BTC, contract=tiers)})
        pf.set_mark(BTC, 20_000.0)
        pf.set_leverage(BTC, 50)
        assert pf.perp(BTC).leverage == 50.0
        assert pf.avg_entry(BTC) == 0.0 and pf.perp(BTC).amount == 0.0

    def test_lowering_an_isolated_leverage_needs_the_extra_margin(self):
        # 1,000 USDT; isolated 10x long 80 @100: margin 800, available 200. 5x needs
        # 8000 * (1/5 - 1/10) = 800 more: refused; 8x needs 200 more: exactly available
        pf = Portfolio(1_000.0, "USDT", markets=MARKETS)
        pf.set_leverage(BTC, 10)
        pf.set_margin_mode(BTC, "isolated")
        fill(pf, BTC, 80.0, 100.0)
        with pytest.raises(ConfigError, match="needs 800.00 USDT more isolated margin"):
            pf.set_leverage(BTC, 5)
        pf.set_leverage(BTC, 8)
        assert pf.used_margin() == pytest.approx(1_000.0) and pf.available() == pytest.approx(0.0)
        pf.set_leverage(BTC, 20)   # raising frees margin: always allowed
        assert pf.used_margin() == pytest.approx(400.0)

    def test_lowering_a_cross_leverage_needs_the_extra_margin_too(self):
        # the same book in cross mode, marked at the entry: available 200 again. Binance
        # refuses a change the margin balance cannot carry in either mode (-2028)
        pf = Portfolio(1_000.0, "USDT", markets=MARKETS)
        pf.set_leverage(BTC, 10)
        fill(pf, BTC, 80.0, 100.0)
        pf.set_mark(BTC, 100.0)
        with pytest.raises(ConfigError, match="needs 800.00 USDT more cross margin"):
            pf.set_leverage(BTC, 5)
        assert pf.perp(BTC).leverage == 10.0
        pf.set_leverage(BTC, 8)
        assert pf.available() == pytest.approx(0.0)

    def test_margin_mode(self):
        pf = Portfolio(1_000.0, "USDT", markets=MARKETS)
        with pytest.raises(ConfigError, match="'hedged' is not one of isolated, cross"):
            pf.set_margin_mode(BTC, "hedged")
        fill(pf, BTC, 1.0, 100.0)
        pf.set_margin_mode(BTC, "cross")   # the mode it has: fine while open
        with pytest.raises(ConfigError, match="cannot change while a position is open"):
            pf.set_margin_mode(BTC, "isolated")
        fill(pf, BTC, -1.0, 100.0)
        pf.set_margin_mode(BTC, "isolated")
        assert pf.perp(BTC).mode.value == "isolated"

    def test_spot_symbols_are_not_perpetuals(self):
        pf = Portfolio(1_000.0, "USDT", markets=MARKETS)
        with pytest.raises(ConfigError, match="BNB/USDT is not a perpetual of this run"):
            pf.perp(BNB)
        assert pf.perp_position(BNB) == 0.0 and not pf.is_perp(BNB) and pf.has_perps
        assert not Portfolio(1_000.0, "USDT", markets={BNB: MARKETS[BNB]}).has_perps

    def test_a_perpetual_settling_in_another_currency_is_refused(self):
        perp = MarketSpec("BTC/USDC:USDC", contract=ContractSpec())
        with pytest.raises(ConfigError, match="settles in 'USDC'"):
            Portfolio(1_000.0, "USDT", markets={"BTC/USDC:USDC": perp})


class TestTrial:
    def test_a_trial_without_a_fill_is_the_account_as_it_is(self):
        pf = book()
        trial = pf.perp_trial([], BTC, 0.0, 95.0, 0.0)
        assert trial.before == trial.after == 100.0
        assert trial.available == pytest.approx(pf.available(), rel=1e-12)
        assert trial.equity == pytest.approx(pf.equity(), rel=1e-12)

    def test_pending_fills_then_the_trial_fill(self):
        pf = book()
        # pending: sell 100 BTC @95 (closes it: -500, fee 0.5); trial: sell 20 ETH @42
        # (adds to the short at 42, fee 0.2), ETH marked at the trial price 42
        trial = pf.perp_trial([(BTC, -100.0, 95.0, 0.5)], ETH, -20.0, 42.0, 0.2)
        assert (trial.before, trial.after) == (-50.0, -70.0)
        cash = CASH - 500.0 - 0.5 - 0.2
        # ETH -70, entry (50 * 40 + 20 * 42) / 70 = 40.571: unrealized -70 * (42 -
        # 40.571) = -100, margin 70 * 40.571 / 10 = 284; SOL: -20, margin 40 (isolated:
        # its loss is not taken from the balance); spot BNB 620
        assert trial.available == pytest.approx(cash - 284.0 - 40.0 - 100.0, rel=1e-12)
        assert trial.equity == pytest.approx(cash - 100.0 - 20.0 + 620.0, rel=1e-12)

    def test_two_pending_fills_of_one_symbol_add_up(self):
        # pending: sell 50 BTC @95 twice (closes the 100 long); trial: nothing more
        pf = book()
        trial = pf.perp_trial([(BTC, -50.0, 95.0, 0.0), (BTC, -50.0, 95.0, 0.0)], BTC, 0.0,
                              95.0, 0.0)
        assert (trial.before, trial.after) == (0.0, 0.0)
        assert trial.equity == pytest.approx(pf.equity(), rel=1e-12)

    def test_a_small_cross_gain_is_not_available_in_a_trial(self):
        # long 1 @100 (1x cross); a trial sell of 0 at 100.5: gain 0.5, available 900
        pf = Portfolio(1_000.0, "USDT", markets=MARKETS)
        fill(pf, BTC, 1.0, 100.0)
        assert pf.perp_trial([], BTC, 0.0, 100.5, 0.0).available == 900.0

    def test_a_trial_counts_fee_only_holdings(self):
        # long 1 BTC @100 marked 90, and 0.5 BNB held only to pay fees, marked 300:
        # equity = 1000 - 10 + 150
        pf = Portfolio(1_000.0, "USDT", markets=MARKETS)
        fill(pf, BTC, 1.0, 100.0)
        pf.hold_fee_asset("BNB", 0.5, 300.0)
        assert pf.positions() == {BTC: 1.0}  # the BNB is a balance, not a position
        assert pf.perp_trial([], BTC, 0.0, 90.0, 0.0).equity == pytest.approx(1_140.0)

    def test_a_trial_on_a_symbol_not_held(self):
        pf = Portfolio(1_000.0, "USDT", markets=MARKETS)
        pf.set_leverage(SOL, 4)
        trial = pf.perp_trial([], SOL, -10.0, 20.0, 0.1)
        # short 10 @20 at 4x: margin 50; fee 0.1
        assert (trial.before, trial.after) == (0.0, -10.0)
        assert trial.available == pytest.approx(1_000.0 - 0.1 - 50.0, rel=1e-12)
        assert trial.equity == pytest.approx(999.9, rel=1e-12)
