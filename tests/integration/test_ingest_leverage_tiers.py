"""``tradeloom ingest`` stores a perpetual's contract with its market snapshot: the venue's
leverage brackets (fetch_leverage_tiers, a signed request) with ``--leverage-tiers``,
default brackets without, against the Binance USDⓈ-M emulator (real ccxt client)."""

from __future__ import annotations

import math

import pytest
from perp_venue import PERP, START, futures_venue, settings
from venues.testing import API_KEY, SECRET

from tradeloom.adapters.ccxt.exchange import Credentials
from tradeloom.adapters.store.ingest import ingest
from tradeloom.adapters.store.market_store import MarketStore
from tradeloom.cli.ingest import tier_credentials
from tradeloom.engine.errors import ConfigError


def _ingest(emu, store, credentials):
    return ingest(store, settings(emu), [PERP], "1h", START, START + 4 * 3_600_000,
                  now_ms=emu.now_ms, run_id="tiers", credentials=credentials)


def test_with_credentials_the_snapshot_carries_the_venues_brackets(tmp_path):
    store = MarketStore(tmp_path / "catalog")
    with futures_venue() as (emu, _clock):
        summary = _ingest(emu, store, Credentials(API_KEY, SECRET))
    contract = store.load_markets("binanceusdm")[PERP].contract
    assert summary.rows_added == 4 and contract is not None
    assert contract.source == "binanceusdm leverage tiers"
    # BTCUSDT's first two brackets (leverageBracket): 125x to 50k at 0.4 %, then 100x at
    # 0.5 % with cum 50000 x (0.005 - 0.004) = 50
    first, second = contract.brackets[:2]
    assert (first.floor, first.cap, first.max_leverage, first.mmr) == (0.0, 50_000.0, 125.0,
                                                                       0.004)
    assert (second.max_leverage, second.mmr, second.cum) == (100.0, 0.005, 50.0)
    assert math.isinf(contract.brackets[-1].cap) and len(contract.brackets) == 7


def test_without_credentials_the_snapshot_says_its_brackets_are_defaults(tmp_path):
    store = MarketStore(tmp_path / "catalog")
    with futures_venue() as (emu, _clock):
        _ingest(emu, store, None)
    contract = store.load_markets("binanceusdm")[PERP].contract
    assert contract is not None and contract.source.startswith("default brackets")
    assert (contract.settle, contract.contract_size) == ("USDT", 1.0)


def test_leverage_tiers_without_keys_in_the_environment_is_refused():
    with pytest.raises(ConfigError, match="export TRADELOOM_API_KEY and TRADELOOM_API_SECRET"):
        tier_credentials({"TRADELOOM_API_KEY": "k"})
