"""Which venue wallets a session reads (``adapters.ccxt.wallets``), and a spot buy the
spot wallet cannot pay: the rules a live session's balances and reconciliation follow."""

from __future__ import annotations

import pytest

from tradeloom.adapters.ccxt.wallets import Wallet, spot_wallet_shortfall, wallet_layout
from tradeloom.engine.contracts import ContractSpec
from tradeloom.engine.market import MarketSpec

SPOT = MarketSpec("BTC/USDT")
PERP = MarketSpec("BTC/USDT:USDT", contract=ContractSpec())


def test_binance_spot_and_perpetual_are_two_wallets_each_read_by_its_type():
    layout = wallet_layout("binance", {"BTC/USDT": SPOT, "BTC/USDT:USDT": PERP})
    assert layout.wallets == (Wallet.SPOT, Wallet.FUTURES) and layout.separate
    assert layout.params(Wallet.SPOT) == {"type": "spot"}
    assert layout.params(Wallet.FUTURES) == {"type": "future"}


def test_a_binance_spot_only_session_reads_the_clients_default_wallet():
    layout = wallet_layout("binance", {"BTC/USDT": SPOT})
    assert (layout.wallets, layout.separate, layout.params(Wallet.SPOT)) == \
        ((Wallet.SPOT,), False, {})


def test_perpetuals_alone_on_a_binance_client_read_the_futures_wallet_by_name():
    """market_type "spot" with linear markets loaded: a bare fetch_balance() would read
    the spot wallet, not the one the perpetual moves."""
    layout = wallet_layout("binance", {"BTC/USDT:USDT": PERP})
    assert (layout.wallets, layout.separate) == ((Wallet.FUTURES,), False)
    assert layout.params(Wallet.FUTURES) == {"type": "future"}


@pytest.mark.parametrize("exchange_id", ["binanceusdm", "okx"])
def test_a_venue_with_one_wallet_per_client_reads_its_default(exchange_id):
    layout = wallet_layout(exchange_id, {"BTC/USDT": SPOT, "BTC/USDT:USDT": PERP})
    assert (layout.wallets, layout.separate) == ((Wallet.FUTURES,), False)
    assert layout.params(Wallet.FUTURES) == {} and layout.params(Wallet.SPOT) == {}


@pytest.mark.parametrize(("amount", "price", "quote_amount", "free", "refused"), [
    (0.2, 30000.0, None, 5999.99, True),    # 0.2 x 30000 = 6000 > 5999.99
    (0.2, 30000.0, None, 6000.0, False),    # exactly the free balance: the venue judges
    (0.2, None, None, 0.0, False),          # no price known: the venue judges
    (0.0, 30000.0, 100.0, 99.0, True),      # a quote-amount buy of 100 USDT
    (0.0, 30000.0, 100.0, 100.0, False),
])
def test_a_spot_buy_is_refused_only_when_its_cost_exceeds_the_spot_wallets_free_quote(
        amount, price, quote_amount, free, refused):
    problem = spot_wallet_shortfall(amount, price, quote_amount, free, SPOT)
    assert (problem is not None) is refused
    if refused:
        assert "spot wallet holds" in problem and "transfer USDT to the spot wallet" in problem
