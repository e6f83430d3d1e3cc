"""Registry: versions, refs, status transitions with events, atomic artifact writes."""

from __future__ import annotations

import os

import duckdb
import numpy as np
import pytest

from tradeloom.engine.errors import ConfigError, DataError
from tradeloom.research.features.pipeline import Feature, FeaturePipeline
from tradeloom.research.ml.labels import LabelSpec
from tradeloom.research.ml.models import ModelSpec, fit_model
from tradeloom.research.ml.registry import ModelRegistry, TrainingInProgress, parse_ref

PIPE = FeaturePipeline([Feature("a", "ret", {"horizon": 1}), Feature("b", "ret", {"horizon": 2})])
SPEC = ModelSpec("logistic")


@pytest.fixture(scope="module")
def files():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(300, 2))
    y = X[:, 0] + rng.normal(size=300)
    t0 = np.arange(300, dtype=np.int64)
    return fit_model(SPEC, X, y, t0, t0 + 1, feature_names=["a", "b"]).artifact()


def register(reg, files, name="m", created_at=1000, first=True, fingerprint="fp"):
    return reg.register(
        name=name, files=files, kind=SPEC.kind, config_hash="cfg", data_fingerprint=fingerprint,
        data={"symbols": ["BTC/USDT"], "start": 0, "end": 10, "market_symbol": None},
        pipeline=PIPE.spec(), label=LabelSpec("forward_class", {"horizon": 1}).spec(),
        model=SPEC.spec(), scores={"cv": {"auc": 0.55, "hit_rate": float("nan")}},
        code_version="test", created_at=created_at, champion_if_first=first)


class TestVersionsAndRefs:
    def test_versions_count_up_and_refs_resolve(self, tmp_path, files):
        reg = ModelRegistry(tmp_path)
        v1 = register(reg, files)
        v2 = register(reg, files, created_at=2000, fingerprint="fp2")
        assert (v1.ref, v1.status, v2.ref, v2.status) == ("m@1", "champion", "m@2", "candidate")
        assert reg.get("m").version == 1
        assert reg.get("m@champion").version == 1
        assert reg.get("m@latest").version == 2
        assert reg.get("m@2").created_at == 2000
        assert reg.get("m@1").scores["cv"]["hit_rate"] is None  # NaN stored as null
        assert reg.find("m", "cfg", "fp2").version == 2 and reg.find("m", "cfg", "x") is None
        assert [v.ref for v in reg.list_versions()] == ["m@1", "m@2"]

    def test_loaded_model_predicts_like_the_registered_one(self, tmp_path, files):
        reg = ModelRegistry(tmp_path)
        register(reg, files)
        cm = reg.load("m@1")
        assert cm.ref == "m@1" and cm.pipeline == PIPE
        assert cm.model.artifact() == files

    @pytest.mark.parametrize("ref", ["", "m@", "m@@1", "@1", "m@best"])
    def test_malformed_refs(self, ref):
        with pytest.raises(ConfigError, match="malformed"):
            parse_ref(ref)

    def test_refs_to_nothing_say_what_exists(self, tmp_path, files):
        reg = ModelRegistry(tmp_path)
        with pytest.raises(DataError, match="known: none"):
            reg.get("m")
        register(reg, files, first=False)
        with pytest.raises(DataError, match="no champion.*promote"):
            reg.get("m")
        with pytest.raises(DataError, match=r"no version 7; versions: \[1\]"):
            reg.get("m@7")
        with pytest.raises(DataError, match=r"known: \['m'\]"):
            reg.get("other")


class TestTransitions:
    def test_promote_retires_the_previous_champion_and_records_events(self, tmp_path, files):
        reg = ModelRegistry(tmp_path)
        register(reg, files)
        register(reg, files, fingerprint="fp2")
        v2 = reg.promote("m@2", who="ana", when=5000, why="better holdout AUC")
        assert v2.status == "champion" and reg.get("m@1").status == "retired"
        ev = [(e.version, e.event, e.who, e.ts) for e in reg.events("m")]
        assert ev == [(1, "registered", "train", 1000), (2, "registered", "train", 1000),
                      (1, "retired", "ana", 5000), (2, "promoted", "ana", 5000)]
        assert reg.events("m")[-1].figures == {"previous_champion": 1}
        assert reg.events("m")[-1].why == "better holdout AUC"

    def test_rollback_and_refusals(self, tmp_path, files):
        reg = ModelRegistry(tmp_path)
        register(reg, files)
        register(reg, files, fingerprint="fp2")
        reg.promote("m@2", who="a", when=1, why="x")
        assert reg.promote("m@1", who="a", when=2, why="rollback").status == "champion"
        with pytest.raises(ConfigError, match="already the champion"):
            reg.promote("m@1", who="a", when=3, why="again")
        reg.retire("m@1", who="a", when=4, why="bad live fills")
        with pytest.raises(ConfigError, match="already retired"):
            reg.retire("m@1", who="a", when=5, why="again")
        with pytest.raises(DataError, match="no champion"):
            reg.get("m@champion")


class TestAtomicWrites:
    def test_failed_rename_leaves_no_version(self, tmp_path, files, monkeypatch):
        reg = ModelRegistry(tmp_path)

        def boom(src, dst):
            raise OSError("disk full")

        monkeypatch.setattr(os, "replace", boom)
        with pytest.raises(OSError, match="disk full"):
            register(reg, files)
        monkeypatch.undo()
        assert reg.list_versions() == []
        assert not any(p.name.startswith(".staging") for p in (tmp_path / "models" / "m").iterdir())
        assert register(reg, files).version == 1  # and the next write works

    def test_failed_insert_removes_the_artifact(self, tmp_path, files, monkeypatch):
        reg = ModelRegistry(tmp_path)
        register(reg, files)

        def boom(*a, **k):
            raise duckdb.Error("insert failed")

        monkeypatch.setattr(ModelRegistry, "_event", staticmethod(boom))
        with pytest.raises(duckdb.Error):
            register(reg, files, fingerprint="fp2")
        assert not reg.version_dir("m", 2).exists()
        assert [v.version for v in reg.list_versions("m")] == [1]

    def test_tampered_artifact_is_refused(self, tmp_path, files):
        reg = ModelRegistry(tmp_path)
        register(reg, files)
        (reg.version_dir("m", 1) / "model.json").write_bytes(b'{"format": "x"}')
        with pytest.raises(DataError, match="do not match the registered sha256"):
            reg.load("m@1")


def test_training_lock_is_exclusive(tmp_path):
    reg = ModelRegistry(tmp_path)
    with reg.training_lock("m"):
        with pytest.raises(TrainingInProgress, match="m.train.lock"), reg.training_lock("m"):
            pass
        with reg.training_lock("other"):
            pass
    with reg.training_lock("m"):
        pass


class TestLineage:
    LINEAGE = {"code": {"package": "0.1.0", "commit": "ab" * 20, "dirty": False},
               "libraries": {"lightgbm": "4.7.0", "numpy": "2.4.6"},
               "config": {"name": "m", "data": {"symbols": ["BTC/USDT"]}},
               "data": {"start": 0, "end": 10, "fingerprint": "fp"}}

    def test_lineage_is_stored_and_read_back(self, tmp_path, files):
        reg = ModelRegistry(tmp_path)
        reg.register(name="m", files=files, kind="logistic", config_hash="cfg",
                     data_fingerprint="fp", data={}, pipeline=PIPE.spec(), label={}, model={},
                     scores={}, code_version="0.1.0+gabababababab", created_at=1,
                     lineage=self.LINEAGE)
        v = reg.get("m@1")
        assert v.lineage == self.LINEAGE and v.code_version == "0.1.0+gabababababab"
        # the version.json beside the artifact carries it too (readable without DuckDB)
        import json

        on_disk = json.loads((reg.version_dir("m", 1) / "version.json").read_text())
        assert on_disk["lineage"]["code"]["commit"] == "ab" * 20

    def test_a_registry_from_before_lineage_reads_and_migrates(self, tmp_path, files):
        reg = ModelRegistry(tmp_path)
        register(reg, files)
        with duckdb.connect(str(reg.path)) as con:  # the schema as it was before this column
            con.execute("ALTER TABLE model_versions DROP COLUMN lineage_json")
        assert reg.get("m@1").lineage == {}
        register(reg, files, fingerprint="fp2")  # the next write adds the column back
        assert [v.lineage for v in reg.list_versions("m")] == [{}, {}]
        with duckdb.connect(str(reg.path)) as con:
            cols = [r[0] for r in con.execute("DESCRIBE model_versions").fetchall()]
        assert cols[-1] == "lineage_json"
