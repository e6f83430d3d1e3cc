"""Values entering from outside are checked where they enter.

- ``Fill`` (exchange reports, fill models) refuses an impossible price, amount or fee
  with an ``InvalidFill`` naming the field, the value and the fill; a maker rebate
  (a negative maker fee, at most 1 % of the notional) is a real fee, not an error.
- Bars from live feeds and journals get the rules the store applies to every bar it
  writes (finite OHLCV, low <= open/close <= high, volume >= 0) and a close after
  the open: a feed reports a bad bar and drops it, a journal refuses it.
- Public trades without a finite positive price are dropped by the trade stream.
"""

from __future__ import annotations

import math

import pytest

from tradeloom.adapters.ccxt.bar_feed import BarRelease
from tradeloom.adapters.ccxt.trade_feed import trade_problem
from tradeloom.adapters.live.journal_codec import bar_from_payload, bar_payload
from tradeloom.adapters.store.checks import bar_problem
from tradeloom.engine.errors import DataError, InvalidFill
from tradeloom.engine.orders import Bar, Fill, Liquidity, Side

MIN = 60_000
NAN, INF = math.nan, math.inf


def fill(price: float = 100.0, amount: float = 2.0, fee: float = 0.2,
         liquidity: Liquidity = Liquidity.TAKER) -> Fill:
    return Fill(12, "BTC/USDT", Side.BUY, 60_000, price, amount, fee, liquidity)


class TestFill:
    @pytest.mark.parametrize(("field", "kwargs", "shown"), [
        ("price", {"price": -1.0}, "price -1.0 is not a finite number >= 0"),
        ("price", {"price": NAN}, "price nan is not a finite number >= 0"),
        ("price", {"price": INF}, "price inf is not a finite number >= 0"),
        ("amount", {"amount": NAN}, "amount nan is not a finite number > 0"),
        ("amount", {"amount": 0.0}, "amount 0.0 is not a finite number > 0"),
        ("amount", {"amount": -2.0}, "amount -2.0 is not a finite number > 0"),
        ("fee", {"fee": NAN}, "fee nan is not a finite number"),
        ("fee", {"fee": -INF, "liquidity": Liquidity.MAKER}, "fee -inf is not a finite number"),
        ("fee", {"fee": -0.2}, "fee -0.2 is negative on a taker fill (only makers get rebates)"),
    ])
    def test_refuses_an_impossible_figure_naming_field_value_and_fill(self, field, kwargs, shown):
        with pytest.raises(InvalidFill) as info:
            fill(**kwargs)
        assert str(info.value) == (
            f"fill of order 12 (BTC/USDT buy at ts 60000): {shown}; the exchange's report "
            "(or the fill model) is wrong")
        assert field in shown

    def test_a_maker_rebate_up_to_one_percent_of_the_notional_is_a_fee(self):
        # 2 BTC at 100 = 200 USDT of notional: a rebate of 2 USDT is the -1 % limit
        assert fill(fee=-2.0, liquidity=Liquidity.MAKER).fee == -2.0
        assert fill(fee=-0.04, liquidity=Liquidity.MAKER).fee == -0.04

    def test_a_rebate_beyond_one_percent_is_refused(self):
        with pytest.raises(InvalidFill, match=r"fee -2.5 is a rebate of more than 1% of the "
                                              r"notional 200.0"):
            fill(fee=-2.5, liquidity=Liquidity.MAKER)

    def test_a_zero_price_and_a_zero_fee_are_possible(self):
        assert (fill(price=0.0, fee=0.0).price, fill(fee=0.0).fee) == (0.0, 0.0)


class TestBars:
    GOOD = Bar("BTC/USDT", 0, MIN, 10.0, 11.0, 9.0, 10.5, 3.0)

    @pytest.mark.parametrize(("bar", "problem"), [
        (GOOD._replace(high=9.5), "column 'high': high 9.5 < close 10.5"),
        (GOOD._replace(low=10.2), "column 'low': low 10.2 > open 10.0"),
        (GOOD._replace(close=NAN), "column 'close': close is nan"),
        (GOOD._replace(volume=-1.0), "column 'volume': volume -1.0 < 0"),
        (GOOD._replace(close_ts=0), "close_ts 0 is not after ts 0"),
    ])
    def test_the_store_rules_apply_to_one_bar(self, bar, problem):
        assert bar_problem(bar) == problem

    def test_a_journal_bar_breaking_them_is_refused_with_where_it_was(self):
        payload = bar_payload(self.GOOD._replace(high=9.5))
        with pytest.raises(DataError, match=r"^journal j.jsonl record 7: BTC/USDT bar at ts 0 "
                                            r"\(1970-01-01T00:00:00Z\): "
                                            r"column 'high': high 9.5 < close 10.5$"):
            bar_from_payload(payload, "journal j.jsonl record 7")
        assert bar_from_payload(bar_payload(self.GOOD)) == self.GOOD

    def test_a_feed_reports_a_bad_bar_and_drops_it(self):
        reports: list[tuple[str, dict]] = []
        release = BarRelease(["BTC/USDT"], MIN, 3, lambda kind, p: reports.append((kind, p)))
        release.start_after({"BTC/USDT": -MIN})
        bad = self.GOOD._replace(close=NAN)
        nxt = Bar("BTC/USDT", MIN, 2 * MIN, 10.5, 11.0, 10.0, 10.8, 2.0)
        assert release.add(bad) is False
        assert release.add(nxt) is True
        assert release.release(exchange_now=2 * MIN) == [nxt]
        assert reports == [("bad_bar", {"symbol": "BTC/USDT", "ts": 0,
                                         "problem": "column 'close': close is nan",
                                         "ohlcv": "10.0 11.0 9.0 nan 3.0"})]


def test_a_trade_needs_a_finite_positive_price_and_a_non_negative_amount():
    assert trade_problem(100.0, 0.0) == ""
    assert trade_problem(0.0, 1.0) == "price 0.0 is not a finite number > 0"
    assert trade_problem(100.0, NAN) == "amount nan is not a finite number >= 0"
