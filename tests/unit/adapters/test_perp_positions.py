"""A futures account's positions and liquidations as ccxt reports them: signed sizes on the
lot grid, no dust on a swap, and a liquidation found by its autoclose order."""

from __future__ import annotations

from tradeloom.adapters.ccxt.positions import (
    liquidation_order_ids,
    positions_from_ccxt,
    same_size,
    venue_liquidation,
)

LOTS = {"BTC/USDT:USDT": 0.001}


def row(**over):
    base = {"symbol": "BTC/USDT:USDT", "contracts": 0.331, "contractSize": 1.0,
            "side": "short", "entryPrice": 30149.9, "leverage": 3, "marginMode": "isolated"}
    return {**base, **over}


def test_a_short_is_negative_and_float_noise_is_rounded_to_the_lot():
    pos = positions_from_ccxt([row(contracts=0.33100000000000002)], LOTS)["BTC/USDT:USDT"]
    assert (pos.qty, pos.entry, pos.leverage, pos.margin_mode) == (-0.331, 30149.9, 3.0,
                                                                   "isolated")


def test_contracts_are_multiplied_by_the_contract_size():
    # OKX-style: 0.01 BTC per contract, 33 contracts long = 0.33 BTC
    pos = positions_from_ccxt([row(contracts=33, contractSize=0.01, side="long")], LOTS)
    assert pos["BTC/USDT:USDT"].qty == 0.33


def test_flat_and_untraded_symbols_are_left_out():
    rows = [row(contracts=0.0), row(symbol="ETH/USDT:USDT")]
    assert positions_from_ccxt(rows, LOTS) == {}


def test_sizes_agree_within_half_a_lot_step_and_no_further():
    assert same_size(0.338, 0.3384999, 0.001)  # 0.0004999 < 0.0005
    assert not same_size(0.338, 0.3385, 0.001)
    assert not same_size(0.331, 0.0, 0.001)


def test_a_liquidation_is_priced_from_its_autoclose_orders_trades():
    orders = [{"id": "7", "clientOrderId": "tl-perp1-1"},
              {"id": "9", "clientOrderId": "autoclose-1700002800000"}]
    trades = [{"id": "t1", "order": "7", "timestamp": 100, "amount": 0.331, "price": 30149.9,
               "fee": {"cost": 4.99}},
              {"id": "t2", "order": "9", "timestamp": 200, "amount": 0.2, "price": 40200.0,
               "fee": {"cost": 0.0}},
              {"id": "t3", "order": "9", "timestamp": 200, "amount": 0.131, "price": 40199.0,
               "fee": {"cost": 0.0}}]
    liq = venue_liquidation("BTC/USDT:USDT", -0.331, trades, since=150, mark=40000.0,
                            now=300, order_ids=liquidation_order_ids(orders))
    # (0.2 x 40200 + 0.131 x 40199) / 0.331 = 40199.604...
    assert liq.price == (0.2 * 40200.0 + 0.131 * 40199.0) / 0.331
    assert (liq.ts, liq.qty, liq.fee, liq.source, liq.trade_ids) == (
        200, -0.331, 0.0, "autoclose", ("t2", "t3"))


def test_a_position_gone_without_a_venue_order_is_booked_at_the_mark():
    liq = venue_liquidation("BTC/USDT:USDT", 0.5, [], since=0, mark=25000.0, now=900)
    assert (liq.ts, liq.price, liq.fee, liq.source) == (900, 25000.0, 0.0, "vanished")
