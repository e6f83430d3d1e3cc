"""The live config's run id: the state store's rule, applied when the config is read,
with a message that says how to set it; a derived id when none is set."""

from __future__ import annotations

import pytest

from tradeloom.adapters.config.files import validate_config
from tradeloom.adapters.live.state import LiveStateStore, derive_run_id
from tradeloom.app.live_config import LiveConfig
from tradeloom.app.session_records import resolve_run_id
from tradeloom.engine.errors import ConfigError

BASE = {"strategy": "tradeloom.research.strategies.sma_cross:SmaCross",
        "symbols": ["BTC/USDT"], "exchange": {"id": "binance"}}


@pytest.mark.parametrize("run_id", ["live1", "a", "abcdefghij012345", "0"])
def test_an_id_the_config_accepts_the_state_store_accepts(tmp_path, run_id):
    cfg = validate_config(LiveConfig, {**BASE, "run_id": run_id}, "live.toml")
    store = LiveStateStore(tmp_path / "s.sqlite", run_id=cfg.run_id)
    assert store.run_id == run_id


@pytest.mark.parametrize("run_id", ["Live_Run-1", "l20261204T231351", "", "a" * 17, "a-b",
                                    "tl_1"])
def test_an_id_the_store_refuses_the_config_refuses_and_says_how_to_set_it(tmp_path, run_id):
    with pytest.raises(ConfigError) as store_error:
        LiveStateStore(tmp_path / "s.sqlite", run_id=run_id or "Z")
    assert "1-16 lowercase letters or digits" in str(store_error.value)
    with pytest.raises(ConfigError) as config_error:
        validate_config(LiveConfig, {**BASE, "run_id": run_id}, "live.toml")
    message = str(config_error.value)
    assert message.startswith("live.toml: invalid configuration\n  run_id: run_id")
    assert 'set e.g. run_id = "live1" in the config, or leave run_id out' in message


def test_without_run_id_the_id_is_derived_valid_and_stable(tmp_path):
    cfg = LiveConfig(**BASE, account="main", state_dir=tmp_path)
    live, paper = resolve_run_id(cfg, "live"), resolve_run_id(cfg, "paper")
    assert live == resolve_run_id(LiveConfig(**BASE, account="main", state_dir=tmp_path), "live")
    assert live != paper and live.startswith("l") and paper.startswith("p")
    assert resolve_run_id(LiveConfig(**BASE, account="other", state_dir=tmp_path), "live") != live
    LiveStateStore(tmp_path / "fresh.sqlite", run_id=live)  # the store's rule holds
    assert derive_run_id("live", "binance", "spot", "main", "SmaCross") == live


def test_a_restart_resumes_the_stored_run_id(tmp_path):
    cfg = LiveConfig(**BASE, account="main", state_dir=tmp_path)
    LiveStateStore(tmp_path / "main.sqlite", run_id="older1").close()
    assert resolve_run_id(cfg, "live") == "older1"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["main.sqlite"]  # read, untouched


def test_a_perpetual_on_the_spot_client_is_refused_with_the_futures_client_to_use():
    data = {"strategy": "s.py:S", "symbols": ["BTC/USDT", "BTC/USDT:USDT"],
            "exchange": {"id": "binance"}}
    with pytest.raises(ConfigError, match=r"\['BTC/USDT:USDT'\] are perpetual swaps but "
                                          r"exchange.market_type is 'spot'.*'binanceusdm'"):
        validate_config(LiveConfig, data, "live.toml")


def test_a_perpetual_on_binance_usdm_is_accepted_with_its_leverage_and_margin_mode():
    data = {"strategy": "s.py:S", "symbols": ["BTC/USDT:USDT"],
            "exchange": {"id": "binanceusdm"},
            "perps": {"margin_mode": "isolated", "leverage": {"BTC/USDT:USDT": 3}}}
    cfg = validate_config(LiveConfig, data, "live.toml")
    assert cfg.exchange.market_type == "swap"
    assert (cfg.perps.margin_mode, cfg.perps.leverage) == ("isolated", {"BTC/USDT:USDT": 3.0})


def test_leverage_for_a_symbol_the_config_does_not_trade_is_refused():
    data = {"strategy": "s.py:S", "symbols": ["BTC/USDT:USDT"],
            "exchange": {"id": "binanceusdm"}, "perps": {"leverage": {"ETH/USDT:USDT": 3}}}
    with pytest.raises(ConfigError, match=r"perps.leverage names \['ETH/USDT:USDT'\]"):
        validate_config(LiveConfig, data, "live.toml")
