"""Universe gating in a paper session: a symbol that leaves the universe at a refresh
gets no new entries from then on (with the reason journaled), its exits still go
through, and replay reproduces the session with zero divergence."""

from __future__ import annotations

import asyncio

from crash_config import LADDER
from emulator import BinanceEmulator
from emulator.binance import load_sample_bars
from live_strategies.ladder import Ladder
from runner_helpers import HOUR, SIM_SETTINGS, _paper, make_config, start_at

from tradeloom.adapters.config.risk_profiles import load_profile
from tradeloom.adapters.live.journal import read_journal
from tradeloom.adapters.live.replay import replay
from tradeloom.adapters.store.market_store import MarketStore

START, DROP, BARS = 300, 306, 60
RULES = {"symbols": ["BTC/USDT", "ETH/USDT"], "window_days": 0.25, "min_age_days": 0.0,
         "min_coverage": 0.5, "min_quote_volume": 1_000.0, "max_range": 1.0, "max_vol": 1e6,
         "core_size": 2, "satellite_size": 0}


def test_symbol_leaving_the_universe_gets_no_entries_exits_still_go(tmp_path):
    eth = load_sample_bars("ETH/USDT")
    eth.loc[DROP:, "volume"] = 1e-6  # ETH dries up from bar DROP on
    bars = {"BTC/USDT": load_sample_bars("BTC/USDT"), "ETH/USDT": eth}
    store = MarketStore(tmp_path / "store")
    for symbol, frame in bars.items():
        store.write_bars("binance", "1h", symbol, frame.iloc[:START], source="test")
    with BinanceEmulator(["BTC/USDT", "ETH/USDT"], bars=bars) as emu:
        clock = start_at(emu, START)
        config = make_config(emu, tmp_path, strategy=LADDER, params={"size": 0.02},
                             symbols=["BTC/USDT", "ETH/USDT"], store=tmp_path / "store",
                             universe={"rules": RULES, "refresh_every": "4h"})
        session, _summary = asyncio.run(_paper(config, clock, BARS, SIM_SETTINGS))

    records = read_journal(session.journal_path)
    refreshes = [r.payload for r in records if r.kind == "universe"]
    assert refreshes[0]["tradeable"] == ["BTC/USDT", "ETH/USDT"]  # at the start
    assert all(r["ts"] % (4 * HOUR) == 0 for r in refreshes[1:])
    blocked = [r for r in refreshes if "ETH/USDT" in r["block"]]
    assert len(blocked) == 1 and blocked[0]["ts"] > int(eth["ts"].iloc[DROP])
    assert any("quote volume" in reason for reason in blocked[0]["refused"]["ETH/USDT"])
    assert all(r["live_bars_written"] > 0 for r in refreshes[1:])  # topped up by live bars
    cut = blocked[0]["ts"]

    submits = [r.payload for r in records if r.kind == "submit"]
    eth_after = [s for s in submits if s["symbol"] == "ETH/USDT" and s["ts"] > cut]
    assert all(s["side"] == "sell" for s in eth_after)  # exits only
    assert [s for s in submits if s["symbol"] == "BTC/USDT" and s["ts"] > cut]  # BTC trades on
    refused = [r.payload for r in records if r.kind == "universe_refused"]
    assert refused and {r["symbol"] for r in refused} == {"ETH/USDT"}
    assert all(r["ts"] >= cut and r["code"] == "degraded" for r in refused)
    risk = session.runner.engine.risk.inner
    assert any(d.symbol == "ETH/USDT" and d.code.value == "degraded" for d in risk.decisions)
    # exits still went through: ETH held at the cut was sold afterwards
    eth_sells = [s for s in eth_after if s["side"] == "sell"]
    assert eth_sells, "the ladder held ETH at the cut; its exit must have been sent"

    report = replay(session.journal_path, Ladder(size=0.02), load_profile("moderate"))
    assert report.ok, report.format()
