"""Meta-labeling: the primary's side (batch == online), masked labels, masked confidence."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from tradeloom.engine.errors import ConfigError
from tradeloom.research.features.pipeline import Feature, FeaturePipeline
from tradeloom.research.ml.confidence import ConfidenceModel
from tradeloom.research.ml.labels import LabelSpec
from tradeloom.research.ml.metalabel import PrimarySpec
from tradeloom.research.ml.models import ModelSpec, fit_model

REPO = Path(__file__).resolve().parents[3]
H = 3_600_000


@pytest.fixture(scope="module")
def btc() -> pd.DataFrame:
    bars = pd.read_parquet(REPO / "datasets/sample/binance/BTC-USDT_1h.parquet").iloc[:2000]
    return bars.assign(symbol="BTC/USDT").reset_index(drop=True)


class TestSide:
    @pytest.mark.parametrize("spec", [PrimarySpec("sma_cross", {"fast": 12, "slow": 48}),
                                      PrimarySpec("momentum", {"lookback": 24})])
    def test_batch_and_online_agree_on_every_bar(self, btc, spec):
        batch = spec.side(btc)
        online = spec.online()
        stream = np.array([online.update(c) for c in btc["close"]])
        assert np.array_equal(batch, stream)
        assert 0.3 < batch.mean() < 0.7  # BTC went both ways in the sample
        assert (batch[:spec.warmup] == 0.0).all()

    def test_momentum_by_hand(self):
        bars = pd.DataFrame({"close": [10.0, 11.0, 12.0, 11.0, 12.5]})
        # long when close > close 2 bars ago: bar 2: 12 > 10; bar 3: 11 > 11 is false;
        # bar 4: 12.5 > 12; bars 0-1 have no close 2 bars back
        assert PrimarySpec("momentum", {"lookback": 2}).side(bars).tolist() == \
            [0.0, 0.0, 1.0, 0.0, 1.0]

    def test_bad_rules_say_what_exists(self):
        with pytest.raises(ConfigError, match="unknown; use one of"):
            PrimarySpec("rsi")
        with pytest.raises(ConfigError, match="fast .* must be below slow"):
            PrimarySpec("sma_cross", {"fast": 50, "slow": 20})
        with pytest.raises(ConfigError, match=r"no parameter\(s\) \['period'\]"):
            PrimarySpec("momentum", {"period": 3})


class TestLabels:
    def test_labels_exist_only_where_the_primary_is_long(self, btc):
        plain = LabelSpec("forward_class", {"horizon": 12, "binary": True}, "1h")
        meta = LabelSpec("forward_class", {"horizon": 12, "binary": True}, "1h",
                         primary={"rule": "momentum", "params": {"lookback": 24}})
        a, b = plain.compute(btc), meta.compute(btc)
        side = b["side"].to_numpy()
        assert np.array_equal(b["label"].to_numpy()[side == 1], a["label"].to_numpy()[side == 1],
                              equal_nan=True)
        assert np.isnan(b["label"].to_numpy()[side == 0]).all()

    def test_a_plain_spec_keeps_its_fingerprint(self):
        plain = LabelSpec("forward_class", {"horizon": 12}, "1h")
        assert "primary" not in plain.spec()
        meta = LabelSpec.from_spec({**plain.spec(), "primary": {"rule": "momentum"}})
        assert meta.spec()["primary"] == {"rule": "momentum", "params": {"lookback": 24}}
        assert meta.fingerprint() != plain.fingerprint()
        assert LabelSpec.from_spec(meta.spec()) == meta


def test_a_meta_models_confidence_is_zero_where_nothing_is_proposed(btc):
    pipe = FeaturePipeline([Feature("r1", "ret", {"horizon": 1}),
                            Feature("r6", "ret", {"horizon": 6})], timeframe="1h")
    label = LabelSpec("forward_class", {"horizon": 6, "binary": True}, "1h",
                      primary={"rule": "momentum", "params": {"lookback": 12}})
    from tradeloom.research.ml.labels import align_training

    rows = align_training(pipe.batch(btc), label.compute(btc), btc["ts"])
    model = fit_model(ModelSpec("logistic"), rows.X, rows.y, rows.t0, rows.t1)
    cm = ConfidenceModel("meta@1", model, pipe, label)
    batch = cm.batch(btc).to_numpy()
    side = label.primary.side(btc)
    assert (batch[side == 0] == 0.0).all()
    assert (batch[(side == 1) & (np.arange(len(btc)) > 12)] > 0.0).all()
    online = cm.online()
    stream = np.array([online.update(r) for r in btc.to_dict("records")])
    assert np.array_equal(batch, stream, equal_nan=True)
