"""Universe filters and tiers: a hand-checkable synthetic store, the real sample,
no look-ahead (mutate everything after as-of), deterministic refresh history."""

from __future__ import annotations

import json
import tempfile

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from universe_helpers import DAY, HOUR, flat_bars, walk_bars, write

from tradeloom.adapters.store.market_store import MarketStore
from tradeloom.app.sample import load_sample
from tradeloom.engine.errors import ConfigError
from tradeloom.research.universe.tiers import (
    Universe,
    UniverseConfig,
    UniverseHistory,
    compute_universe,
    refresh_schedule,
)

AS_OF = 5 * DAY


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """Five symbols, 1h bars; figures over the 2-day window ending at day 5:

    symbol   volume  bar range  first bar   expected
    AAA/USDT   10      2 %      day 0       satellite (rank 3)
    BBB/USDT   20      2 %      day 0       satellite (rank 2)
    CCC/USDT   30      2 %      day 0       core (rank 1)
    DDD/USDT   40     10 %      day 0       excluded: range > max_range 5 %
    EEE/USDT   50      2 %      day 4       excluded: 1 day old, half the window
    """
    store = MarketStore(tmp_path_factory.mktemp("tiny"))
    return write(store, {
        "AAA/USDT": flat_bars(0, 6 * 24, 10.0), "BBB/USDT": flat_bars(0, 6 * 24, 20.0),
        "CCC/USDT": flat_bars(0, 6 * 24, 30.0), "DDD/USDT": flat_bars(0, 6 * 24, 40.0, rng=0.10),
        "EEE/USDT": flat_bars(4 * 24, 2 * 24, 50.0)})


TINY = UniverseConfig(window_days=2, min_age_days=2, core_size=1, satellite_size=2)


def test_tiers_of_the_tiny_store_are_hand_checkable(tiny):
    uni = compute_universe(tiny, TINY, AS_OF)
    assert (uni.core, uni.satellite, uni.excluded) == (
        ("CCC/USDT",), ("BBB/USDT", "AAA/USDT"), ("DDD/USDT", "EEE/USDT"))
    ccc = uni.figures("CCC/USDT")
    assert (ccc.rank, ccc.bars, ccc.coverage, ccc.quote_volume) == (1, 48, 1.0, 30.0 * 48)
    assert ccc.realized_vol == 0.0 and ccc.range_median == pytest.approx(0.02)
    assert uni.figures("DDD/USDT").reasons == (
        "median bar range 10.00% > max_range=5.00% (spread proxy)",)


def test_listing_age_excludes_with_the_reason(tiny):
    eee = compute_universe(tiny, TINY, AS_OF).figures("EEE/USDT")
    assert eee.tier == "excluded" and eee.rank is None and eee.age_days == 1.0
    assert eee.reasons == ("listed 1.0 days before as-of; needs min_age_days=2",
                           "coverage 50.0% of the window's 48 bars; needs min_coverage=90%")
    early = compute_universe(tiny, TINY, 3 * DAY).figures("EEE/USDT")
    assert early.first_ts is None and early.reasons[0] == "no bar closed by as-of: not listed yet"


def test_only_bars_closed_by_as_of_count(tiny):
    # A window reaching before the first bar: every bar closed by as-of counts,
    # and the bar closing half an hour after as-of does not.
    wide = TINY.model_copy(update={"window_days": 10.0})
    assert compute_universe(tiny, wide, AS_OF).figures("CCC/USDT").bars == 120
    assert compute_universe(tiny, wide, AS_OF - HOUR // 2).figures("CCC/USDT").bars == 119


def test_stale_symbol_and_quote_filter(tmp_path):
    store = write(MarketStore(tmp_path), {"AAA/USDT": flat_bars(0, 24, 10.0),
                                          "BBB/BTC": flat_bars(0, 6 * 24, 10.0)})
    uni = compute_universe(store, TINY.model_copy(update={"quotes": ["USDT"]}), AS_OF)
    assert uni.figures("AAA/USDT").reasons == ("no bar in the 2-day window (stale or delisted)",)
    assert uni.figures("BBB/BTC").reasons == ("quote currency BTC not in quotes=['USDT']",)


def test_config_is_strict():
    with pytest.raises(ValueError, match="extra"):
        UniverseConfig(core_sise=3)
    with pytest.raises(ValueError, match="min_vol"):
        UniverseConfig(min_vol=2.0, max_vol=1.0)


def test_unknown_candidates_are_refused(tiny):
    with pytest.raises(ConfigError, match="ZZZ/USDT"):
        compute_universe(tiny, TINY.model_copy(update={"symbols": ["ZZZ/USDT"]}), AS_OF)


@pytest.fixture(scope="module")
def sample_store(tmp_path_factory):
    store = MarketStore(tmp_path_factory.mktemp("sample"))
    load_sample(store)
    return store


def test_real_sample_universe_and_json_round_trip(sample_store):
    uni = compute_universe(sample_store, UniverseConfig(), "2021-06-01")
    assert uni.core == ("BTC/USDT", "ETH/USDT", "XRP/USDT")
    assert (len(uni.satellite), len(uni.excluded)) == (5, 2)
    assert all(m.bars == 720 and m.coverage == 1.0 for m in uni.members)
    assert Universe.from_json(uni.to_json()) == uni
    assert json.loads(uni.to_json())["as_of_utc"] == "2021-06-01T00:00:00Z"
    btc = compute_universe(sample_store, UniverseConfig(exchange="coinbase"), "2018-06-01")
    assert btc.core == ("BTC/USD",)


def test_refresh_history_is_deterministic_and_epoch_aligned(sample_store):
    cfg = UniverseConfig(window_days=7, min_age_days=7)
    one = refresh_schedule(sample_store, cfg, "2021-01-01T05:00:00Z", "2021-02-01", every="7d")
    two = refresh_schedule(sample_store, cfg, "2021-01-01T05:00:00Z", "2021-02-01", every="7d")
    assert one.to_json() == two.to_json()
    assert UniverseHistory.from_json(one.to_json()) == one
    assert all(u.as_of % (7 * DAY) == 0 for u in one.snapshots) and len(one.snapshots) == 4
    later = refresh_schedule(sample_store, cfg, "2021-01-10", "2021-02-01", every="7d")
    assert later.snapshots == one.snapshots[1:]


def test_tradeable_uses_the_newest_refresh_at_or_before_ts(sample_store):
    hist = refresh_schedule(sample_store, UniverseConfig(window_days=7, min_age_days=7),
                            "2021-01-01", "2021-02-01", every="7d")
    first = hist.snapshots[0]
    assert not hist.tradeable("BTC/USDT", first.as_of - 1)
    assert hist.at(first.as_of) is first and hist.at(hist.snapshots[1].as_of - 1) is first
    assert hist.tradeable(first.core[0], first.as_of)
    assert not hist.tradeable(first.excluded[0], first.as_of)


CUT_HOURS = st.integers(2 * 24, 5 * 24)
FRAMES = {f"S{i}/USDT": walk_bars(i, 6 * 24) for i in range(2)}
LOOK_CFG = UniverseConfig(window_days=1, min_age_days=1, core_size=1, satellite_size=0)


@pytest.fixture(scope="module")
def walk_store(tmp_path_factory):
    return write(MarketStore(tmp_path_factory.mktemp("walk")), FRAMES)


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(cut=CUT_HOURS, scale=st.floats(0.1, 10.0), vol_scale=st.floats(0.0, 100.0),
       drop=st.booleans())
def test_no_look_ahead_mutating_bars_after_as_of_changes_nothing(walk_store, cut, scale,
                                                                   vol_scale, drop):
    """Everything after as-of is rescaled (or deleted); the universe's JSON is byte-identical."""
    as_of = cut * HOUR
    mutated = {}
    for symbol, frame in FRAMES.items():
        after = frame["ts"] + HOUR > as_of
        changed = frame.copy()
        for col in ("open", "high", "low", "close"):
            changed.loc[after, col] = frame.loc[after, col] * scale
        changed.loc[after, "volume"] = frame.loc[after, "volume"] * vol_scale
        mutated[symbol] = changed[~after] if drop else changed
    with tempfile.TemporaryDirectory() as root:
        other = write(MarketStore(root), mutated)
        assert (compute_universe(walk_store, LOOK_CFG, as_of).to_json()
                == compute_universe(other, LOOK_CFG, as_of).to_json())
