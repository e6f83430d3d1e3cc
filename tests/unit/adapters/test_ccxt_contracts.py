"""A swap's contract terms from ccxt: Binance's leverageBracket answer, parsed by the real
ccxt client, becomes the engine's brackets with the venue's maintenance amounts."""

from __future__ import annotations

import math

import ccxt
import pytest

from tradeloom.adapters.ccxt.contracts import brackets_from_tiers, contract_from_ccxt
from tradeloom.adapters.ccxt.exchange import market_specs_from_ccxt
from tradeloom.engine.contracts import DEFAULT_BRACKETS
from tradeloom.engine.errors import ConfigError

# GET /fapi/v1/leverageBracket for BTCUSDT, first three brackets (Binance's field names).
BINANCE_BRACKETS = {"symbol": "BTCUSDT", "brackets": [
    {"bracket": 1, "initialLeverage": 125, "notionalCap": 50000, "notionalFloor": 0,
     "maintMarginRatio": 0.004, "cum": 0.0},
    {"bracket": 2, "initialLeverage": 100, "notionalCap": 600000, "notionalFloor": 50000,
     "maintMarginRatio": 0.005, "cum": 50.0},
    {"bracket": 3, "initialLeverage": 75, "notionalCap": 3000000, "notionalFloor": 600000,
     "maintMarginRatio": 0.0065, "cum": 950.0},
]}

SWAP = {"symbol": "BTC/USDT:USDT", "swap": True, "spot": False, "linear": True,
        "settle": "USDT", "contractSize": 1.0, "precision": {"price": 0.1, "amount": 0.001},
        "limits": {"amount": {"min": 0.001}, "cost": {"min": 100.0}},
        "maker": 0.0002, "taker": 0.0004, "info": {"liquidationFee": "0.012500"}}


def _tiers():
    client = ccxt.binanceusdm()
    market = {"id": "BTCUSDT", "symbol": "BTC/USDT:USDT", "quote": "USDT", "contract": True}
    return client.parse_market_leverage_tiers(BINANCE_BRACKETS, market)


def test_binance_brackets_keep_the_venues_maintenance_amounts_and_leave_the_last_cap_open():
    brackets = brackets_from_tiers(_tiers(), symbol="BTC/USDT:USDT")
    assert [(b.floor, b.cap, b.max_leverage, b.mmr, b.cum) for b in brackets] == [
        (0.0, 50_000.0, 125.0, 0.004, 0.0),
        (50_000.0, 600_000.0, 100.0, 0.005, 50.0),  # 50000 * (0.005 - 0.004) + 0 = 50
        (600_000.0, math.inf, 75.0, 0.0065, 950.0),  # 600000 * 0.0015 + 50 = 950
    ]


def test_a_venue_without_maintenance_amounts_gets_them_from_binances_rule():
    tiers = [{k: v for k, v in t.items() if k != "info"} for t in _tiers()]
    assert [b.cum for b in brackets_from_tiers(tiers)] == pytest.approx([0.0, 50.0, 950.0],
                                                                        rel=1e-12)


def test_a_tier_without_its_maintenance_rate_names_the_symbol_and_tier():
    tiers = [{"minNotional": 0, "maxNotional": 50_000, "maxLeverage": 125}]
    with pytest.raises(ConfigError, match="BTC/USDT:USDT: leverage tier 1 lacks"):
        brackets_from_tiers(tiers, symbol="BTC/USDT:USDT")


def test_a_swap_market_carries_its_contract_and_a_spot_market_none():
    specs = market_specs_from_ccxt({"BTC/USDT:USDT": SWAP, "BTC/USDT": {
        "symbol": "BTC/USDT", "spot": True, "precision": {}, "limits": {}}},
        exchange_id="binanceusdm", tiers={"BTC/USDT:USDT": _tiers()})
    perp = specs["BTC/USDT:USDT"]
    assert perp.contract is not None and specs["BTC/USDT"].contract is None
    assert perp.contract.max_leverage == 125.0
    assert perp.contract.maintenance_margin(264_000.0) == 264_000.0 * 0.005 - 50.0  # 1270
    assert (perp.contract.liquidation_fee, perp.contract.settle) == (0.0125, "USDT")
    assert perp.contract.source == "binanceusdm leverage tiers"
    assert (perp.tick_size, perp.lot_step, perp.min_notional) == (0.1, 0.001, 100.0)


def test_a_swap_without_tiers_gets_the_default_brackets_and_says_so():
    spec = contract_from_ccxt(SWAP, None, exchange_id="binanceusdm")
    assert spec is not None and spec.brackets == DEFAULT_BRACKETS
    assert spec.source.startswith("default brackets")
