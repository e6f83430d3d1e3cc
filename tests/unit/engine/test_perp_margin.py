"""Contract terms and margin arithmetic (``engine.contracts``, ``engine.accounting.margin``,
``engine.accounting.perps``), checked against Binance's published figures and by hand.

Binance's FAQ "How to Calculate Liquidation Price of USDⓈ-M Futures Contracts"
(binance.com/en/support/faq/b3c689c1f50a44cabb3a84e663b81d93) works two examples on
the BTCUSDT bracket table: a 264,000 USDT position has a 1 % maintenance margin rate, and
the level-3 maintenance amount is 250,000 * (1 % - 0.5 %) + 50 = 1,300 USDT (the
amount of a 500,000 USDT position). It states the one-way formula

    LP = (WB - TMM1 + UPNL1 + cumB - Side1BOTH * Position1BOTH * EP1BOTH)
         / (Position1BOTH * MMRB - Side1BOTH * Position1BOTH)

with, in isolated mode, WB the isolated wallet balance and TMM1 = UPNL1 = 0, and the
rule that the bracket is the one of the notional *at the liquidation price*. The tests
below use the bundled BTCUSDT table (``datasets/sample/markets/binance.json``).
"""

from __future__ import annotations

import math

import pytest

from tradeloom.app.sample import sample_markets
from tradeloom.engine.accounting.margin import (
    bankruptcy_price,
    initial_margin,
    liquidation_price,
    maintenance_margin,
    margin_ratio,
)
from tradeloom.engine.accounting.perps import book_fill
from tradeloom.engine.accounting.portfolio import Portfolio
from tradeloom.engine.contracts import ContractSpec, LeverageBracket
from tradeloom.engine.errors import ConfigError
from tradeloom.engine.market import MarketSpec
from tradeloom.engine.orders import Fill, Liquidity, Side

BTC = sample_markets("binance")["BTC/USDT:USDT"]
TABLE = BTC.contract


class TestBinancesWorkedExamples:
    def test_a_264000_usdt_position_has_a_1_percent_maintenance_rate(self):
        assert TABLE.bracket(264_000.0).mmr == 0.01

    def test_the_level_3_maintenance_amount_is_1300(self):
        # 250,000 * (1 % - 0.5 %) + 50 = 1,300; a 500,000 USDT position uses it
        level3 = TABLE.brackets[2]
        assert level3.cum == 250_000 * (0.01 - 0.005) + 50 == 1_300
        assert TABLE.bracket(500_000.0).cum == 1_300.0
        # maintenance margin = notional * MMR - amount = 500,000 * 1 % - 1,300
        assert TABLE.maintenance_margin(500_000.0) == 3_700.0

    def test_a_table_breaking_the_maintenance_amount_rule_is_refused(self):
        with pytest.raises(ConfigError, match="maintenance amount 60.0 breaks"):
            ContractSpec(brackets=(LeverageBracket(0.0, 50_000.0, 125.0, 0.004, 0.0),
                                   LeverageBracket(50_000.0, math.inf, 100.0, 0.005, 60.0)))

    def test_the_isolated_formula_by_hand(self):
        # Long 1 BTC @ 30,000 with 3,000 USDT isolated margin (10x): notional 30,000 is in
        # level 1 (0.4 %, 0); LP = (3000 + 0 - 1 * 1 * 30000) / (1 * 0.004 - 1 * 1)
        #                        = -27000 / -0.996 = 27108.43373...
        # notional at LP 27,108 is still in level 1: consistent.
        assert liquidation_price(TABLE, 1.0, 1.0, 30_000.0, 3_000.0) == pytest.approx(
            27_000.0 / 0.996, rel=1e-15)

    def test_the_bracket_is_the_one_at_the_liquidation_price(self):
        # Short 9 BTC @ 30,000 (notional 270,000: level 3 at entry) with 60,000 USDT:
        # level 3 (1 %, 1300): LP = (60000 + 1300 + 270000) / (0.09 + 9) = 36447.74...
        #   notional 9 * 36447.7 = 328,030: level 3, consistent -> kept.
        lp = liquidation_price(TABLE, -1.0, 9.0, 30_000.0, 60_000.0)
        assert lp == pytest.approx((60_000 + 1_300 + 270_000) / 9.09, rel=1e-15)
        # Long 8 BTC @ 30,000 (240,000: level 2 at entry) with 24,000 USDT (10x):
        # level 2 (0.5 %, 50): LP = (24000 + 50 - 240000) / (0.04 - 8) = 27129.39...
        #   notional 217,035: level 2, consistent.
        lp = liquidation_price(TABLE, 1.0, 8.0, 30_000.0, 24_000.0)
        assert lp == pytest.approx((24_000 + 50 - 240_000) / (0.04 - 8), rel=1e-15)
        # Long 8.5 BTC @ 30,000 (255,000: level 3 at entry) with 25,500 USDT:
        # level 3 gives (25500 + 1300 - 255000) / (0.085 - 8.5) = 27118.24, notional
        # 230,505: level 2, inconsistent; level 2 gives (25500 + 50 - 255000) / (0.0425 -
        # 8.5) = 27130.4..., notional 230,609: level 2, consistent -> the answer.
        lp = liquidation_price(TABLE, 1.0, 8.5, 30_000.0, 25_500.0)
        assert lp == pytest.approx((25_500 + 50 - 255_000) / (0.0425 - 8.5), rel=1e-15)

    def test_at_the_liquidation_price_margin_balance_equals_maintenance(self):
        lp = liquidation_price(TABLE, 1.0, 8.5, 30_000.0, 25_500.0)
        balance = 25_500.0 + 8.5 * (lp - 30_000.0)
        assert balance == pytest.approx(TABLE.maintenance_margin(8.5 * lp), rel=1e-12)

    def test_bankruptcy_is_below_liquidation_for_a_long(self):
        assert bankruptcy_price(1.0, 1.0, 30_000.0, 3_000.0) == 27_000.0
        assert liquidation_price(TABLE, 1.0, 1.0, 30_000.0, 3_000.0) > 27_000.0


class TestContractTerms:
    def test_inverse_contracts_are_refused_with_the_reason(self):
        with pytest.raises(ConfigError, match="inverse .* not supported"):
            ContractSpec(linear=False)

    def test_a_settle_currency_other_than_the_quote_is_refused(self):
        with pytest.raises(ConfigError, match="settle currency 'BTC'"):
            MarketSpec("BTC/USD:BTC", contract=ContractSpec(settle="BTC"))

    def test_max_notional_follows_the_leverage(self):
        assert TABLE.max_notional(125.0) == 50_000.0
        assert TABLE.max_notional(20.0) == 10_000_000.0

    def test_contract_terms_round_trip_through_json(self):
        assert ContractSpec.from_dict(TABLE.to_dict()) == TABLE


class TestBookFill:
    @pytest.mark.parametrize(("qty", "entry", "signed", "price", "expected"), [
        (0.0, 0.0, -2.0, 100.0, (-2.0, 100.0, 0.0)),       # open a short
        (-2.0, 100.0, -1.0, 130.0, (-3.0, 110.0, 0.0)),    # add: (2*100 + 1*130) / 3
        (-3.0, 110.0, 1.0, 100.0, (-2.0, 110.0, 10.0)),    # cover 1 at 100: +10
        (-2.0, 110.0, 5.0, 120.0, (3.0, 120.0, -20.0)),    # cover 2 (-20), long 3 @120
        (3.0, 120.0, -3.0, 125.0, (0.0, 0.0, 15.0)),       # close the long: +15
    ])
    def test_one_way_booking(self, qty, entry, signed, price, expected):
        assert book_fill(qty, entry, signed, price) == expected


class TestPortfolio:
    def _pf(self):
        perp = MarketSpec("BTC/USDT:USDT", taker_fee=0.0005, contract=ContractSpec())
        spot = MarketSpec("BTC/USDT")
        return Portfolio(1_000.0, "USDT", markets={"BTC/USDT:USDT": perp, "BTC/USDT": spot})

    def test_spot_and_perpetual_share_one_cash_balance(self):
        pf = self._pf()
        pf.apply_fill(Fill(1, "BTC/USDT", Side.BUY, 0, 100.0, 2.0, 0.2, Liquidity.TAKER))
        pf.apply_fill(Fill(2, "BTC/USDT:USDT", Side.SELL, 0, 100.0, 2.0, 0.1, Liquidity.TAKER))
        # spot: cash -200.2; perp: only the fee, -0.1 -> 799.7; delta neutral
        assert pf.cash == pytest.approx(799.7)
        assert pf.positions() == {"BTC/USDT": 2.0, "BTC/USDT:USDT": -2.0}
        pf.set_mark("BTC/USDT", 150.0)
        pf.set_mark("BTC/USDT:USDT", 150.0)
        # equity = 799.7 + 2 * 150 + (-2) * (150 - 100) = 999.7: the hedge holds
        assert pf.equity() == pytest.approx(999.7, rel=1e-12)

    def test_available_balance_counts_initial_margin_and_cross_losses(self):
        pf = self._pf()
        pf.set_leverage("BTC/USDT:USDT", 5)
        pf.apply_fill(Fill(1, "BTC/USDT:USDT", Side.BUY, 0, 100.0, 10.0, 0.0, Liquidity.TAKER))
        # margin 10 * 100 / 5 = 200 -> available 800; mark 95: loss 50 -> 750
        assert pf.available() == pytest.approx(800.0)
        pf.set_mark("BTC/USDT:USDT", 95.0)
        assert pf.available() == pytest.approx(750.0)
        assert pf.free("USDT") == pytest.approx(750.0)
        # a gain does not add to it
        pf.set_mark("BTC/USDT:USDT", 120.0)
        assert pf.available() == pytest.approx(800.0)

    def test_flat_symbols_pay_no_funding(self):
        pf = self._pf()
        assert pf.apply_funding("BTC/USDT:USDT", 1, 0.01, 100.0) is None
        assert pf.funding_net == 0.0


#: Two tiers with a finite last cap, as in ``engine.accounting.margin``'s docstring.
CAPPED = ContractSpec(brackets=(LeverageBracket(0.0, 50_000.0, 125.0, 0.004, 0.0),
                                LeverageBracket(50_000.0, 600_000.0, 100.0, 0.005, 50.0)))
#: A sub-dollar coin's tiers: 1 % up to 5,000 USDT, then 2 % (cum 5,000 * 1 % = 50).
CHEAP = ContractSpec(brackets=(LeverageBracket(0.0, 5_000.0, 50.0, 0.01, 0.0),
                               LeverageBracket(5_000.0, math.inf, 20.0, 0.02, 50.0)))


class TestMarginFunctions:
    def test_maintenance_margin_of_a_quantity_at_a_price(self):
        # -2 BTC marked at 132,000: notional 264,000 -> level 3 (1 %, 1,300): 2,640 - 1,300
        assert maintenance_margin(TABLE, -2.0, 132_000.0) == pytest.approx(1_340.0, rel=1e-15)

    def test_initial_margin_is_the_notional_over_the_leverage(self):
        assert initial_margin(-0.5, 30_000.0, 5.0) == 3_000.0   # 15,000 / 5

    @pytest.mark.parametrize(("side", "expected"), [(1.0, 0.0), (-1.0, math.inf)])
    def test_no_position_no_liquidation_price(self, side, expected):
        # flat: a long's "never" is 0, a short's is inf (the same answers as a covered one)
        assert liquidation_price(TABLE, side, 0.0, 30_000.0, 3_000.0) == expected

    def test_a_sub_dollar_long_uses_the_bracket_at_its_liquidation_price(self):
        # long 9,000 @ 0.6 (notional 5,400: tier 2 at entry), 10x isolated: WB 540
        # tier 1: (540 - 5400 + 0) / (9000 * 0.01 - 9000) = -4860 / -8910 = 0.545454...
        #   notional 9,000 * 0.5455 = 4,909: tier 1, consistent -> the answer
        # (tier 2 would give (-4860 + 50) / (180 - 9000) = 0.545351, inconsistent)
        assert liquidation_price(CHEAP, 1.0, 9_000.0, 0.6, 540.0) == pytest.approx(
            4_860.0 / 8_910.0, rel=1e-12)

    def test_a_sub_dollar_short_has_a_finite_liquidation_price(self):
        # short 9,000 @ 0.5 (4,500, tier 1), 10x isolated: WB 450
        # LP = (450 + 4500 + 0) / (90 + 9000) = 4950 / 9090 = 0.544554 (notional 4,901: tier 1)
        assert liquidation_price(CHEAP, -1.0, 9_000.0, 0.5, 450.0) == pytest.approx(
            4_950.0 / 9_090.0, rel=1e-12)

    def test_beyond_the_last_cap_the_entry_tier_applies(self):
        # short 10 @ 59,000 (590,000: tier 2), WB 59,000 (10x); base = 59000 + 590000
        # tier 1: 649000 / (0.04 + 10) = 64,641 -> notional 646,414, not in [0, 50k)
        # tier 2: 649050 / (0.05 + 10) = 64,582 -> notional 645,821, beyond the 600k cap
        # no tier is consistent: the entry notional's tier (2) gives 649050 / 10.05
        assert liquidation_price(CAPPED, -1.0, 10.0, 59_000.0, 59_000.0) == pytest.approx(
            649_050.0 / 10.05, rel=1e-12)

    @pytest.mark.parametrize(("side", "qty", "entry", "wallet", "expected"), [
        (1.0, 2.0, 100.0, 50.0, 75.0),     # long: 100 - 50 / 2
        (-1.0, 2.0, 100.0, 50.0, 125.0),   # short: 100 + 50 / 2
        (1.0, 2.0, 100.0, 300.0, 0.0),     # long covered beyond a fall to 0: floor 0
        (1.0, 2.0, 0.5, 0.9, 0.05),        # sub-dollar long: 0.5 - 0.9 / 2
        (1.0, 0.0, 100.0, 50.0, 0.0),      # flat
    ])
    def test_bankruptcy_price(self, side, qty, entry, wallet, expected):
        assert bankruptcy_price(side, qty, entry, wallet) == pytest.approx(expected, rel=1e-15)

    @pytest.mark.parametrize(("maint", "balance", "expected"), [
        (24.0, 600.0, 0.04),
        (0.5, 1.0, 0.5),          # a balance of 1 is still a balance
        (0.5, 0.8, 0.625),
        (5.0, 0.0, math.inf),     # the balance is gone: beyond liquidation
        (0.5, -1.0, math.inf),
        (0.0, -1.0, 0.0),         # no position to maintain: nothing to liquidate
        (0.0, 0.0, 0.0),
    ])
    def test_margin_ratio(self, maint, balance, expected):
        assert margin_ratio(maint, balance) == expected
