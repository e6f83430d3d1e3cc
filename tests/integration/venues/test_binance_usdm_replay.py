"""Replaying bars through the Binance USDⓈ-M emulator (``step_bar``): the last price
walks open, nearer extreme, farther extreme, close and the mark walks its own bar
alongside, so resting orders fill inside a bar, a mark wick can liquidate a position
whose last-price bar never reached the liquidation price, and funding at the bar's
open settles at the mark of that instant."""

from __future__ import annotations

import ccxt
from venues.binance_usdm import BinanceUsdmEmulator
from venues.testing import D

pytest_plugins = ["venues.binance_usdm.fixtures"]

BTC = "BTC/USDT:USDT"
H = 3_600_000
T0 = 1_700_006_400_000  # 2023-11-15 00:00 UTC


def test_a_resting_limit_fills_when_the_bar_passes_through_it(
        usdm: BinanceUsdmEmulator, fut: ccxt.binanceusdm) -> None:
    usdm.set_time(T0 - 1)
    order = fut.create_order(BTC, "limit", "buy", 0.01, 29850)
    # rising bar: open 30000, low 29800 (first), high 30300, close 30200
    visited = usdm.step_bar(BTC, (T0, "30000", "30300", "29800", "30200", "5"))
    assert visited == [D("30000"), D("29800"), D("30300"), D("30200")]
    filled = fut.fetch_order(order["id"], BTC)
    assert (filled["status"], filled["average"], filled["timestamp"]) == \
        ("closed", 29850.0, T0 - 1)
    assert fut.fetch_my_trades(BTC)[0]["timestamp"] == T0    # filled inside the bar


def test_a_mark_wick_liquidates_though_the_last_price_never_got_there(
        usdm: BinanceUsdmEmulator, fut: ccxt.binanceusdm) -> None:
    usdm.set_time(T0 - 1)
    fut.set_margin_mode("isolated", BTC)
    fut.set_leverage(10, BTC)
    fut.create_order(BTC, "market", "buy", 0.01)      # isolated wallet 30
    # LP = (30 - 0.01 * 30000) / (0.01 * 0.004 - 0.01) = 27108.43...
    assert round(fut.fetch_positions([BTC])[0]["liquidationPrice"], 2) == 27108.43
    # last-price bar low 27500, mark bar low 27000: the mark crosses the LP
    usdm.step_bar(BTC, (T0, "30000", "30100", "27500", "29900", "9"),
                  mark=("30000", "30100", "27000", "29900"))
    assert fut.fetch_positions([BTC]) == []
    liquidation = fut.fetch_my_trades(BTC)[-1]
    # bankruptcy 30000 - 30 / 0.01 = 27000
    assert (liquidation["price"], liquidation["timestamp"]) == (27000.0, T0)


def test_funding_at_the_bar_open_settles_at_the_marks_open(
        usdm: BinanceUsdmEmulator, fut: ccxt.binanceusdm) -> None:
    usdm.set_time(T0 + 7 * H)
    fut.create_order(BTC, "market", "buy", 0.01)       # long 0.01
    usdm.set_funding_rates(BTC, [(T0 + 8 * H, "0.0001")])
    usdm.step_bar(BTC, (T0 + 8 * H, "31000", "31200", "30900", "31100", "2"),
                  mark=("31010", "31190", "30910", "31090"))
    # 0.01 * 31010 * 0.0001 = 0.03101 (the mark open, not the last open 31000)
    assert [h["amount"] for h in fut.fetch_funding_history(BTC)] == [-0.03101]
    rate = fut.fetch_funding_rate_history(BTC)[0]
    assert D(rate["info"]["markPrice"]) == D("31010")
