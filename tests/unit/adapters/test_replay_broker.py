"""The journal broker books a live session's fills as the live broker did: an order's
filled amount moves by its fills, and an ``order`` record that already carries the
total (journaled with the fill) never counts the same fill twice."""

from __future__ import annotations

from tradeloom.adapters.live.replay_broker import JournalBroker
from tradeloom.engine.accounting.portfolio import Portfolio
from tradeloom.engine.market import MarketSpec
from tradeloom.engine.orders import Fill, Liquidity, Order, OrderType, Side

MARKET = {"BTC/USDT": MarketSpec("BTC/USDT", lot_step=0.00001, fee_side="get")}


def _broker_with_sell() -> tuple[JournalBroker, Order]:
    broker = JournalBroker(MARKET, Portfolio(1000.0, markets=MARKET), lambda: 1)
    order = Order(2, "BTC/USDT", Side.SELL, OrderType.MARKET, 0.01232766, 0)
    broker.submit(order, 0)
    return broker, order


def _fill(amount: float, price: float) -> Fill:
    return Fill(2, "BTC/USDT", Side.SELL, 5, price, amount, amount * price * 0.001,
                Liquidity.TAKER)


def test_an_order_record_with_the_total_before_its_fill_is_not_counted_twice() -> None:
    broker, order = _broker_with_sell()
    # the exchange's report (FILLED, 0.01232 done) is applied before the fill's step
    broker.begin([(0, {"order_id": 2, "status": "filled", "filled": 0.01232,
                       "avg_price": 19322.0, "updated_ts": 5})])
    assert broker.book_fill(_fill(0.01232, 19322.0))
    assert order.filled == 0.01232  # not 0.02464
    assert order.avg_price == 19322.0


def test_two_partial_fills_add_up_with_their_average_price() -> None:
    broker, order = _broker_with_sell()
    broker.book_fill(_fill(0.004, 100.0))
    broker.book_fill(_fill(0.006, 110.0))
    # (0.004 * 100 + 0.006 * 110) / 0.010 = (0.4 + 0.66) / 0.01 = 106
    assert round(order.filled, 12) == 0.01
    assert round(order.avg_price, 9) == 106.0


def test_a_fill_of_an_order_the_replay_never_made_is_not_booked() -> None:
    broker, _ = _broker_with_sell()
    stray = Fill(9, "BTC/USDT", Side.SELL, 5, 100.0, 0.001, 0.0001, Liquidity.TAKER)
    assert broker.book_fill(stray) is False
