"""The emulators' own bookkeeping, checked against their trade records for random
order flows: an oracle that drifts from its own fills would make every test that
trusts it wrong. Drives the engines directly (no HTTP) for speed."""

from __future__ import annotations

from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st
from venues.binance_spot import BinanceSpotEmulator
from venues.binance_spot.errors import BinanceError
from venues.okx_spot import OkxSpotEmulator
from venues.okx_spot.errors import OkxError

START = {"USDT": Decimal("1000"), "BTC": Decimal("0.05")}

actions = st.lists(st.one_of(
    st.tuples(st.just("book"), st.integers(-50, 50), st.integers(1, 400)),
    st.tuples(st.sampled_from(["buy", "sell"]), st.sampled_from(["market", "limit"]),
              st.integers(-30, 30), st.integers(1, 2000)),
    st.tuples(st.just("cancel"), st.integers(0, 20))), min_size=1, max_size=25)


def _book(price: int, depth: int) -> dict[str, list[tuple[str, str]]]:
    qty = str(Decimal(depth) / 100000)
    return {"bids": [(str(29990 + price - i), qty) for i in range(3)],
            "asks": [(str(30000 + price + i), qty) for i in range(3)]}


@settings(max_examples=60, deadline=None)
@given(actions)
def test_binance_balances_equal_start_plus_fills_minus_commissions(flow: list) -> None:
    emu = BinanceSpotEmulator(["BTC/USDT"])  # not started: the engine alone
    account = emu.add_account("k", "s", {k: str(v) for k, v in START.items()})
    engine = emu.engine
    for step in flow:
        if step[0] == "book":
            emu.set_book("BTC/USDT", **_book(step[1], step[2]))
        elif step[0] == "cancel":
            open_orders = engine.open_orders(account, "BTCUSDT")
            if open_orders:
                engine.cancel(account, open_orders[step[1] % len(open_orders)], "x")
        else:
            side, type_, offset, units = step
            try:
                engine.place(account, market_id="BTCUSDT", side=side.upper(),
                             type_=type_.upper(), tif="GTC", qty=Decimal(units) / 100000,
                             quote_qty=None, price=Decimal(30000 + offset)
                             if type_ == "limit" else None, client_id=f"c{len(engine.orders)}")
            except BinanceError:
                pass
    wallet, expected = account.wallet, dict(START)
    for t in engine.trades:
        sign = 1 if t.side == "BUY" else -1
        expected["BTC"] += sign * t.qty
        expected["USDT"] -= sign * t.quote_qty
        expected[t.commission_asset] -= t.commission
    assert {a: wallet.total(a) for a in expected} == expected
    locked_usdt = sum((o.remaining * o.price for o in engine.orders.values()
                       if o.is_open and o.side == "BUY"), Decimal(0))
    locked_btc = sum((o.remaining for o in engine.orders.values()
                      if o.is_open and o.side == "SELL"), Decimal(0))
    assert (wallet.locked("USDT"), wallet.locked("BTC")) == (locked_usdt, locked_btc)
    for order in engine.orders.values():
        assert order.executed == sum((t.qty for t in order.trades), Decimal(0)) <= order.qty
        assert (order.status.value == "FILLED") == (order.executed == order.qty)


@settings(max_examples=60, deadline=None)
@given(actions)
def test_okx_balances_equal_start_plus_fills_plus_negative_fees(flow: list) -> None:
    emu = OkxSpotEmulator(["BTC/USDT"])
    account = emu.add_account("k", "s", "p", {k: str(v) for k, v in START.items()})
    engine = emu.engine
    for step in flow:
        if step[0] == "book":
            emu.set_book("BTC/USDT", **_book(step[1], step[2]))
        elif step[0] == "cancel":
            open_orders = [o for o in engine.orders.values() if o.is_open]
            if open_orders:
                engine.cancel(account, open_orders[step[1] % len(open_orders)])
        else:
            side, type_, offset, units = step
            request = {"instId": "BTC-USDT", "tdMode": "cash", "side": side,
                       "ordType": type_, "sz": str(Decimal(units) / 100000),
                       "tgtCcy": "base_ccy"}
            if type_ == "limit":
                request["px"] = str(30000 + offset)
            try:
                engine.place(account, request)
            except OkxError:
                pass
    wallet, expected = account.wallet, dict(START)
    for f in engine.fills:
        sign = 1 if f.side == "buy" else -1
        expected["BTC"] += sign * f.sz
        expected["USDT"] -= sign * f.sz * f.px
        expected[f.fee_ccy] += f.fee  # fees are negative
        assert f.fee < 0 and f.fee_ccy == ("BTC" if f.side == "buy" else "USDT")
    assert {a: wallet.total(a) for a in expected} == expected
    for order in engine.orders.values():
        assert order.acc_fill_sz == sum((f.sz for f in order.fills), Decimal(0)) <= order.sz
        assert order.fee == sum((f.fee for f in order.fills), Decimal(0))
