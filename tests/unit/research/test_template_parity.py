"""Every shipped template's vectorized form gives its event form's trades and equity.

Proven with the user-facing helper ``assert_fast_matches_event`` on the bundled real
data (binance 1h, Dec 2020 - Jul 2021) with the sample's market rules (tick, lot,
minimum notional, 0.1 % fees), on Binance's own fee side (``get``: a buy's fee kept in the
coin bought) and with every fee in the quote currency. BreakoutBracket has no vectorized form: its trailing
stop replaces the bracket's stop-loss after the first take-profit, outside the
bracket, which no kernel models; the check says so instead of pretending.
"""

from __future__ import annotations

import dataclasses

import pytest

from tradeloom.adapters.store.market_store import MarketStore
from tradeloom.app.sample import load_sample
from tradeloom.engine.market import FeeSide, MarketSpec
from tradeloom.engine.timeutil import parse_utc_ms
from tradeloom.engine.vector.form import Signals
from tradeloom.research.strategies import BreakoutBracket, MomentumRotation, RsiReversion, SmaCross
from tradeloom.research.sweeps.parity import assert_fast_matches_event, check_fast

ROTATION = ("ADA/USDT", "BTC/USDT", "ETH/USDT", "LTC/USDT", "XRP/USDT")
SIDES = pytest.mark.parametrize("side", ["get", "quote"])


def on_side(spec: MarketSpec, side: str) -> MarketSpec:
    return dataclasses.replace(spec, fee_side=FeeSide(side))


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> MarketStore:
    store = MarketStore(tmp_path_factory.mktemp("template_parity"))
    load_sample(store)
    return store


def btc(store: MarketStore, side: str = "get"):
    return store.read_bars("binance", "1h", "BTC/USDT", None, None), {
        "BTC/USDT": on_side(store.load_markets("binance")["BTC/USDT"], side)}


def test_the_sample_charges_binance_buys_in_the_coin_bought(store: MarketStore) -> None:
    assert store.load_markets("binance")["BTC/USDT"].fee_side is FeeSide.GET


@SIDES
@pytest.mark.parametrize("params", [{}, {"fast": 5, "slow": 200}, {"fast": 24, "slow": 60}])
def test_sma_cross(store: MarketStore, side: str, params: dict) -> None:
    bars, markets = btc(store, side)
    report = assert_fast_matches_event(SmaCross, bars, params, timeframe="1h", markets=markets)
    assert report.form == "signals" and report.n_trades > 20


@SIDES
@pytest.mark.parametrize("params", [{}, {"period": 7, "oversold": 20.0, "stop_pct": 0.01},
                                    {"period": 21, "exit_level": 70.0, "stop_pct": 0.1}])
def test_rsi_reversion(store: MarketStore, side: str, params: dict) -> None:
    bars, markets = btc(store, side)
    report = assert_fast_matches_event(RsiReversion, bars, params, timeframe="1h", markets=markets)
    stops = (report.event.fills["tag"] == "stop_loss").sum()
    assert report.form == "signals" and report.n_trades > 10 and stops > 0


@SIDES
@pytest.mark.parametrize("params", [{}, {"every": 1, "lookback": 5}, {"every": 7, "top_k": 3}])
def test_momentum_rotation_on_a_gap_free_window(store: MarketStore, side: str, params: dict) -> None:
    lo, hi = parse_utc_ms("2020-12-26"), parse_utc_ms("2021-02-11")
    frames = {s: store.read_bars("binance", "1h", s, lo, hi) for s in ROTATION}
    snapshot = store.load_markets("binance")
    report = assert_fast_matches_event(MomentumRotation, frames, params, timeframe="1h",
                                       markets={s: on_side(snapshot[s], side) for s in ROTATION})
    assert report.form == "target_weights" and report.n_trades > 10


def test_breakout_bracket_has_no_vectorized_form_and_the_check_says_so(store: MarketStore) -> None:
    bars, markets = btc(store)
    report = check_fast(BreakoutBracket, bars, timeframe="1h", markets=markets)
    assert not report.ok and report.fast is None
    assert "BreakoutBracket declares no vectorized form" in report.reason
    with pytest.raises(AssertionError, match="no fast run"):
        assert_fast_matches_event(BreakoutBracket, bars, timeframe="1h", markets=markets)


class NoStop(RsiReversion):
    """A wrong vectorized form: it forgets the stop-loss the event form places."""

    def vectorized(self, bars):
        form = super().vectorized(bars)
        return Signals(form.entries, form.exits)


def test_a_wrong_vectorized_form_is_caught_with_the_first_difference(store: MarketStore) -> None:
    bars, markets = btc(store)
    report = check_fast(NoStop, bars, timeframe="1h", markets=markets)
    assert not report.ok and report.fast is not None
    assert report.differences[0].startswith("fills: ")
    assert "fills row" in report.text() and "DIFFERENT" in report.text()
