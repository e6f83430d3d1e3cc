"""End to end on the sample: train -> register -> backtest with confidence -> retrain.

Real LightGBM, real DuckDB registry, real store and event engine. Checks that the
first model becomes champion, that a backtest driven by its online confidence
trades, that retrain records a decision with both models' holdout figures and
promotes or keeps by the margin, and that retraining again on the same data
replays the same decision without a duplicate version.
"""

from __future__ import annotations

import math

import pytest
from ml_helpers import SYMBOLS, retrain_config, sample_store, train_config

from tradeloom.research.backtest import run_backtest
from tradeloom.research.ml.registry import ModelRegistry
from tradeloom.research.ml.retrain import DECISION_EVENT, retrain
from tradeloom.research.ml.training import train


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    root = tmp_path_factory.mktemp("e2e")
    return root, sample_store(root)


def test_train_register_backtest_retrain(store):
    root, st = store
    reg = ModelRegistry(root)
    first = train(train_config(), st, reg, created_at=1_000)
    v1 = first.version
    assert (v1.ref, v1.status, first.reused) == ("btc_dir@1", "champion", False)
    assert set(v1.scores["cv"]) >= {"auc", "log_loss", "brier", "hit_rate", "accuracy"}
    assert len(v1.scores["folds"]) == 2 and "bt_sharpe" in v1.scores["folds"][0]
    assert v1.data["symbols"] == SYMBOLS and v1.data_fingerprint and v1.code_version

    # the same config on the same data: no new version
    again = train(train_config(), st, reg, created_at=2_000)
    assert again.reused and again.version == v1

    # backtest the confidence-sized strategy on later bars, confidence computed online
    res = run_backtest("research/strategies/ml_confidence.py:ConfidenceSized", SYMBOLS, "1h",
                       "2021-03-01", "2021-04-01",
                       {"model": "btc_dir@champion", "catalog": str(root), "threshold": 0.5},
                       store=st)
    assert res.metrics["n_trades"] + res.metrics["n_open_trades"] > 0
    assert any("resolved to btc_dir@1" in e["message"] for e in res.events)

    # retrain: challenger on [2021-01-01, holdout), both judged on the last 300 bars
    cfg = retrain_config()
    d = retrain(cfg, st, reg, created_at=3_000)
    assert (d.challenger, d.champion, d.metric, d.replayed) == ("btc_dir@2", "btc_dir@1", "auc",
                                                               False)
    assert d.figures["rows"] > 400
    for side in ("challenger", "champion"):
        assert set(d.figures[side]["backtest"]) >= {"total_return", "sharpe"}
    # promotion needs the gain past the (non-zero) margin and a significant paired test
    gain = d.challenger_value - d.champion_value
    assert (cfg.margin, cfg.alpha, d.test["test"]) == (0.01, 0.05, "delong_blocks")
    assert d.promoted == (gain > cfg.margin and d.p_value < cfg.alpha)
    assert 0.0 <= d.p_value <= 1.0 and d.test["blocks"] < d.figures["rows"]
    champion = reg.get("btc_dir").ref
    assert champion == ("btc_dir@2" if d.promoted else "btc_dir@1")
    decisions = [e for e in reg.events("btc_dir") if e.event == DECISION_EVENT]
    assert len(decisions) == 1 and decisions[0].ts == 3_000 and decisions[0].version == 2

    # idempotent: same data -> same decision, replayed, nothing new registered or promoted
    d2 = retrain(cfg, st, reg, created_at=4_000)
    assert d2.replayed and (d2.promoted, d2.reason, d2.challenger_value) == (
        d.promoted, d.reason, d.challenger_value)
    assert [v.version for v in reg.list_versions("btc_dir")] == [1, 2]
    assert reg.get("btc_dir").ref == champion
    assert len([e for e in reg.events("btc_dir") if e.event == DECISION_EVENT]) == 1


def test_retrain_keeps_the_champion_below_the_margin(store):
    root, st = store
    reg = ModelRegistry(root / "margin")
    train(train_config(), st, reg, created_at=1)
    d = retrain(retrain_config(margin=1.0), st, reg, created_at=2)  # AUC can't gain 1.0
    assert not d.promoted and "keeping btc_dir@1" in d.reason
    assert reg.get("btc_dir").ref == "btc_dir@1" and reg.get("btc_dir@2").status == "candidate"
    recorded = next(e for e in reg.events("btc_dir") if e.event == DECISION_EVENT)
    assert recorded.figures["promoted"] is False
    assert math.isclose(recorded.figures["champion_value"], d.champion_value)


def test_retrain_without_champion_promotes_the_challenger(store):
    root, st = store
    reg = ModelRegistry(root / "fresh")
    d = retrain(retrain_config(metric="sharpe"), st, reg, created_at=2)
    assert d.promoted and d.champion is None and "no champion yet" in d.reason
    assert reg.get("btc_dir").ref == "btc_dir@1"


class TestRetrainReadsTheCurrentChampion:
    """A replayed retrain answers for the champion *now*, not the one it was decided against."""

    def test_after_a_manual_promotion_of_the_challenger(self, store):
        root, st = store
        reg = ModelRegistry(root / "manual")
        train(train_config(), st, reg, created_at=1)
        cfg = retrain_config(margin=1.0)  # nothing can gain 1.0 AUC: kept
        first = retrain(cfg, st, reg, created_at=2)
        assert (first.champion, first.promoted) == ("btc_dir@1", False)
        reg.promote("btc_dir@2", who="ana", when=3, why="manual")
        again = retrain(cfg, st, reg, created_at=4)
        assert again.champion == "btc_dir@2" and not again.promoted and again.replayed
        assert "btc_dir@2 is the champion already" in again.reason
        assert len([e for e in reg.events("btc_dir") if e.event == DECISION_EVENT]) == 1

    def test_after_the_champion_was_retired(self, store):
        root, st = store
        reg = ModelRegistry(root / "retired")
        train(train_config(), st, reg, created_at=1)
        cfg = retrain_config(margin=1.0)
        assert not retrain(cfg, st, reg, created_at=2).promoted
        reg.retire("btc_dir@1", who="ana", when=3, why="bad fills")
        # the recorded decision was against btc_dir@1, which is no longer champion:
        # decided again, against the current state (no champion), and recorded
        again = retrain(cfg, st, reg, created_at=4)
        assert (again.champion, again.promoted, again.replayed) == (None, True, False)
        assert reg.get("btc_dir").ref == "btc_dir@2"
        decisions = [e for e in reg.events("btc_dir") if e.event == DECISION_EVENT]
        assert [d.figures["champion"] for d in decisions] == ["btc_dir@1", None]

    def test_the_same_champion_replays(self, store):
        root, st = store
        reg = ModelRegistry(root / "rollback")
        train(train_config(), st, reg, created_at=1)
        cfg = retrain_config(margin=1.0)
        first = retrain(cfg, st, reg, created_at=2)
        reg.promote("btc_dir@2", who="ana", when=3, why="try")
        reg.promote("btc_dir@1", who="ana", when=4, why="rollback")
        again = retrain(cfg, st, reg, created_at=5)
        assert again.replayed and (again.reason, again.p_value) == (first.reason, first.p_value)


def test_the_decision_records_its_paired_test(store):
    root, st = store
    reg = ModelRegistry(root / "paired")
    train(train_config(), st, reg, created_at=1)
    d = retrain(retrain_config(metric="brier"), st, reg, created_at=2)  # auto: block bootstrap
    ev = next(e for e in reg.events("btc_dir") if e.event == DECISION_EVENT)
    test = ev.figures["test"]
    assert test["test"] == "block_bootstrap" and test["alternative"] == "greater"
    assert 0.0 < test["p_value"] <= 1.0 and test["ci_low"] <= test["diff"] <= test["ci_high"]
    assert ev.figures["alpha"] == 0.05 and ev.figures["margin"] == 0.01
    assert f"block_bootstrap p = {test['p_value']:.4g}" in d.reason
    for side in ("challenger", "champion"):  # ranking skill beside the calibrated scores
        assert "auc_rank" in ev.figures["holdout"][side]["scores"]


def test_a_meta_labeled_model_trades_only_what_its_primary_proposes(store):
    """Primary: momentum over 24 bars. The model learns on the primary's long bars only;
    in a backtest its confidence is 0 wherever the primary proposes nothing, so the
    strategy buys only on bars where the primary is long."""
    import numpy as np

    from tradeloom.engine.timeutil import parse_utc_ms
    from tradeloom.research.ml.metalabel import PrimarySpec
    from tradeloom.research.ml.warmup import warmup_bars
    from tradeloom.research.strategies.ml_confidence import ConfidenceSized

    root, st = store
    reg = ModelRegistry(root)  # the catalog the backtest reads models from
    label = {"kind": "forward_class", "params": {"horizon": 12, "threshold": 0.0, "binary": True},
             "primary": {"rule": "momentum", "params": {"lookback": 24}}}
    res = train(train_config(name="meta", label=label), st, reg, created_at=1)
    v = res.version
    assert v.label["primary"] == {"rule": "momentum", "params": {"lookback": 24}}
    assert v.scores["rows"] < 0.8 * 2 * 24 * 59  # only the primary's long bars were trained on

    strat = ConfidenceSized(model="meta", threshold=0.0, record=True)
    out = run_backtest(strat, SYMBOLS, "1h", "2021-03-01", "2021-04-01", store=st)
    lo = parse_utc_ms("2021-03-01") - warmup_bars(reg.load("meta")) * 3_600_000
    bars = st.read_bars("binance", "1h", "BTC/USDT", lo, parse_utc_ms("2021-04-01"))
    side = dict(zip(bars["ts"], PrimarySpec("momentum", {"lookback": 24}).side(bars)))
    btc = [(ts, c) for _, sym, ts, c in strat.records if sym == "BTC/USDT"]
    assert all((c == 0.0) == (side[ts] == 0.0) for ts, c in btc)
    assert {side[ts] for ts, c in btc} == {0.0, 1.0}  # both happened in March 2021
    buys = out.orders[(out.orders["symbol"] == "BTC/USDT") & (out.orders["side"] == "buy")]
    decided_at = buys["created_ts"].to_numpy() - 3_600_000  # placed at the bar's close
    assert len(buys) > 0 and all(side[int(t)] == 1.0 for t in decided_at)
    assert np.isfinite([c for _, c in btc]).all()
