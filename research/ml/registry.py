"""The model registry: every trained model version with what justified it.

Layout under the catalog root (``<catalog>/models/``)::

    registry.duckdb                 tables model_versions, model_events
    <name>/<version>/model.json     calibrator (+ linear weights), feature names
    <name>/<version>/booster.txt    LightGBM text model (LightGBM kinds)
    <name>/<version>/version.json   the ModelVersion row, readable without DuckDB
    <name>.train.lock               held while a (re)training job runs for <name>

**Why a separate DuckDB file** (not a table in the store's ``catalog.duckdb``):
the registry and its artifacts move together (copy ``models/`` and nothing else),
and a registry write never competes with an ingest for the catalog's single
writer lock, so a scheduled retrain can never stall an ingest or vice versa. Like
the catalog, every operation opens its own connection and closes it.

Each version stores the artifact (text, see ``models.py``), its sha256, the
feature pipeline spec, the label spec, the data selection and range with the
store's data fingerprint, the model spec, the config hash, CV scores with the
baselines and calibration (``evaluation.py``), the code version, its lineage
(``lineage.py``: git commit, library versions, the full validated config, data
range and fingerprint, feature and label fingerprints), ``created_at`` (UTC ms,
given by the caller: research code never reads the clock) and a status:
``candidate``, ``champion`` (at most one per name) or ``retired``. Status changes
and retrain decisions are events with who, when, why and figures (a decision's
figures hold its paired test and p-value).

A registry written before the lineage column existed gains it on its next write
(``ALTER TABLE ... ADD COLUMN IF NOT EXISTS``); its older versions read back with an
empty lineage.

**Refs**: ``name`` or ``name@champion`` (the champion), ``name@latest`` (the
newest version), ``name@3`` (version 3).

**Atomic**: artifact files are written into a staging directory, fsynced, renamed
into place with ``os.replace``, then the row is inserted; if the insert fails the
directory is removed. Writers take a lock file, so versions never collide.

>>> import tempfile
>>> reg = ModelRegistry(tempfile.mkdtemp())
>>> parse_ref("btc_dir@3"), parse_ref("btc_dir")
(('btc_dir', '3'), ('btc_dir', 'champion'))
>>> reg.list_versions()
[]
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import shutil
from collections.abc import Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import duckdb

from tradeloom.adapters.store import duck
from tradeloom.engine.errors import ConfigError, DataError, TradeloomError

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

__all__ = [
    "STATUSES",
    "ModelEvent",
    "ModelRegistry",
    "ModelVersion",
    "TrainingInProgress",
    "parse_ref",
]

STATUSES = ("candidate", "champion", "retired")
REGISTRY_FILE = "registry.duckdb"
_SCHEMA = """
CREATE TABLE IF NOT EXISTS model_versions (
    name VARCHAR, version INTEGER, status VARCHAR, created_at BIGINT, kind VARCHAR,
    artifact_sha256 VARCHAR, config_hash VARCHAR, data_fingerprint VARCHAR, data_json VARCHAR,
    pipeline_json VARCHAR, label_json VARCHAR, model_json VARCHAR, scores_json VARCHAR,
    code_version VARCHAR, lineage_json VARCHAR, PRIMARY KEY (name, version));
ALTER TABLE model_versions ADD COLUMN IF NOT EXISTS lineage_json VARCHAR;
CREATE TABLE IF NOT EXISTS model_events (
    seq INTEGER, name VARCHAR, version INTEGER, event VARCHAR, ts BIGINT, who VARCHAR,
    why VARCHAR, figures_json VARCHAR);
"""
_COLUMNS = ("name", "version", "status", "created_at", "kind", "artifact_sha256", "config_hash",
            "data_fingerprint", "data_json", "pipeline_json", "label_json", "model_json",
            "scores_json", "code_version", "lineage_json")


class TrainingInProgress(TradeloomError):
    """Another process holds the training lock of this model name; retry when it is done."""


def parse_ref(ref: str) -> tuple[str, str]:
    """``(name, selector)`` of a ref; selector is ``champion``, ``latest`` or a version number."""
    if not isinstance(ref, str) or not ref or ref.count("@") > 1:
        raise ConfigError(f"model ref {ref!r} is malformed; use 'name', 'name@champion', "
                          "'name@latest' or 'name@3'")
    name, at, sel = ref.partition("@")
    sel = sel or ("" if at else "champion")
    if not name or not (sel in ("champion", "latest") or sel.isdigit()):
        raise ConfigError(f"model ref {ref!r} is malformed; use 'name', 'name@champion', "
                          "'name@latest' or 'name@3'")
    return name, sel


@dataclass(frozen=True)
class ModelVersion:
    """One registered version (a row of ``model_versions``, JSON columns decoded)."""

    name: str
    version: int
    status: str
    created_at: int
    kind: str
    artifact_sha256: str
    config_hash: str
    data_fingerprint: str
    data: Mapping[str, Any]
    pipeline: Mapping[str, Any]
    label: Mapping[str, Any]
    model: Mapping[str, Any]
    scores: Mapping[str, Any]
    code_version: str
    lineage: Mapping[str, Any] = field(default_factory=dict)

    @property
    def ref(self) -> str:
        """``name@version``."""
        return f"{self.name}@{self.version}"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class ModelEvent:
    """A status change or a retrain decision, with who/when/why and its figures."""

    seq: int
    name: str
    version: int
    event: str
    ts: int
    who: str
    why: str
    figures: Mapping[str, Any] = field(default_factory=dict)


def _dumps(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=_json_default)


def _json_default(value: Any) -> Any:
    if hasattr(value, "item"):
        return value.item()
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def _nan_safe(value: Any) -> Any:
    """NaN/inf -> None, recursively (JSON has no NaN)."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):
        return _nan_safe(value.item())
    if isinstance(value, Mapping):
        return {str(k): _nan_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_nan_safe(v) for v in value]
    return value


def artifact_sha256(files: Mapping[str, bytes]) -> str:
    """sha256 over the artifact's file names and bytes (sorted by name)."""
    h = hashlib.sha256()
    for name in sorted(files):
        h.update(name.encode() + b"\0" + hashlib.sha256(files[name]).digest())
    return h.hexdigest()


class ModelRegistry:
    """Versions, artifacts and events of models under ``<root>/models`` (root: the catalog)."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)
        self.dir = self.root / "models"
        self.path = self.dir / REGISTRY_FILE

    def __repr__(self) -> str:
        return f"ModelRegistry({str(self.root)!r})"

    # -------------------------------------------------------------- plumbing

    def _con(self, write: bool) -> AbstractContextManager[duckdb.DuckDBPyConnection]:
        """A read-only connection, or a write transaction (``adapters.store.duck``: the
        same open-with-retry and transaction rule as the catalog)."""
        if write:
            return duck.transaction(self.path, schema=_SCHEMA)
        return duck.reading(self.path)

    def _rows(self, sql: str, params: list[Any]) -> list[tuple]:
        if not self.path.is_file():
            return []
        with self._con(write=False) as con:
            return con.execute(sql, params).fetchall()

    def _version_rows(self, where: str, params: list[Any]) -> list[dict[str, Any]]:
        """Version rows as dicts by column name (``*``: a registry older than a column reads)."""
        if not self.path.is_file():
            return []
        with self._con(write=False) as con:
            cur = con.execute(f"SELECT * FROM model_versions {where} ORDER BY name, version",
                              params)
            cols = [d[0] for d in cur.description]
            return [dict(zip(cols, r, strict=True)) for r in cur.fetchall()]

    @contextmanager
    def _lock(self, filename: str, *, wait: bool) -> Iterator[None]:
        self.dir.mkdir(parents=True, exist_ok=True)
        with open(self.dir / filename, "a+") as fh:
            if fcntl is not None:
                try:
                    fcntl.flock(fh, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
                except BlockingIOError:
                    raise TrainingInProgress(
                        f"{self.dir / filename} is held by another process (a train, retrain "
                        "or schedule run of this model); wait for it to finish") from None
            try:
                yield
            finally:
                if fcntl is not None:
                    fcntl.flock(fh, fcntl.LOCK_UN)

    def training_lock(self, name: str) -> Any:
        """Context manager held while (re)training ``name``; ``TrainingInProgress`` if taken."""
        return self._lock(f"{name}.train.lock", wait=False)

    @staticmethod
    def _version(d: Mapping[str, Any]) -> ModelVersion:
        lineage = d.get("lineage_json")
        return ModelVersion(
            d["name"], int(d["version"]), d["status"], int(d["created_at"]), d["kind"],
            d["artifact_sha256"], d["config_hash"], d["data_fingerprint"],
            json.loads(d["data_json"]), json.loads(d["pipeline_json"]),
            json.loads(d["label_json"]), json.loads(d["model_json"]),
            json.loads(d["scores_json"]), d["code_version"],
            json.loads(lineage) if lineage else {})

    def version_dir(self, name: str, version: int) -> Path:
        """Directory of one version's artifact files."""
        return self.dir / name / str(version)

    # ----------------------------------------------------------------- reads

    def list_versions(self, name: str | None = None) -> list[ModelVersion]:
        """Every version (of ``name``), ordered by name then version."""
        where, params = ("WHERE name = ?", [name]) if name else ("", [])
        return [self._version(r) for r in self._version_rows(where, params)]

    def get(self, ref: str) -> ModelVersion:
        """The version a ref points to; ``DataError`` naming what exists when it points nowhere."""
        name, sel = parse_ref(ref)
        versions = self.list_versions(name)
        if not versions:
            known = sorted({v.name for v in self.list_versions()})
            raise DataError(f"no model named {name!r} in {self.dir}; known: {known or 'none'} "
                            "(train one with `tradeloom train CONFIG`)")
        if sel == "latest":
            return versions[-1]
        if sel == "champion":
            champ = [v for v in versions if v.status == "champion"]
            if not champ:
                raise DataError(f"model {name!r} has no champion; promote one with `tradeloom "
                                f"models promote {name}@<version>` or use {name}@latest")
            return champ[0]
        found = [v for v in versions if v.version == int(sel)]
        if not found:
            raise DataError(f"model {name!r} has no version {sel}; versions: "
                            f"{[v.version for v in versions]}")
        return found[0]

    def read_artifact(self, version: ModelVersion) -> dict[str, bytes]:
        """The artifact files of ``version``, checked against the stored sha256."""
        folder = self.version_dir(version.name, version.version)
        if not folder.is_dir():
            raise DataError(f"{version.ref}: artifact directory {folder} is missing; restore "
                            "it from a backup or retrain")
        files = {p.name: p.read_bytes() for p in sorted(folder.iterdir())
                 if p.name != "version.json"}
        if artifact_sha256(files) != version.artifact_sha256:
            raise DataError(f"{version.ref}: artifact files in {folder} do not match the "
                            "registered sha256 (modified or damaged); restore them or retrain")
        return files

    def load(self, ref: str) -> Any:
        """The ``confidence.ConfidenceModel`` (model + pipeline + label) a ref points to."""
        from tradeloom.research.ml.confidence import ConfidenceModel

        return ConfidenceModel.from_registry(self, ref)

    def find(self, name: str, config_hash: str, data_fingerprint: str) -> ModelVersion | None:
        """The version trained from this exact config on this exact data, if any."""
        for v in self.list_versions(name):
            if v.config_hash == config_hash and v.data_fingerprint == data_fingerprint:
                return v
        return None

    def events(self, name: str | None = None) -> list[ModelEvent]:
        """Events (of ``name``) in the order they happened."""
        where, params = ("WHERE name = ?", [name]) if name else ("", [])
        rows = self._rows("SELECT seq, name, version, event, ts, who, why, figures_json FROM "
                          f"model_events {where} ORDER BY seq", params)
        return [ModelEvent(*r[:7], json.loads(r[7])) for r in rows]

    # ----------------------------------------------------------------- writes

    def register(self, *, name: str, files: Mapping[str, bytes], kind: str, config_hash: str,
                 data_fingerprint: str, data: Mapping[str, Any], pipeline: Mapping[str, Any],
                 label: Mapping[str, Any], model: Mapping[str, Any], scores: Mapping[str, Any],
                 code_version: str, created_at: int, who: str = "train",
                 champion_if_first: bool = False,
                 lineage: Mapping[str, Any] | None = None) -> ModelVersion:
        """Store a new version (status ``candidate``, or ``champion`` when it is the first
        of ``name`` and ``champion_if_first``) with its lineage; returns it."""
        if not files or "model.json" not in files:
            raise ConfigError("register: files must hold the model artifact (model.json ...)")
        with self._lock("registry.lock", wait=True):
            existing = self.list_versions(name)
            number = existing[-1].version + 1 if existing else 1
            status = "champion" if champion_if_first and not existing else "candidate"
            version = ModelVersion(
                name, number, status, int(created_at), kind, artifact_sha256(files),
                config_hash, data_fingerprint, _nan_safe(dict(data)), _nan_safe(dict(pipeline)),
                _nan_safe(dict(label)), _nan_safe(dict(model)), _nan_safe(dict(scores)),
                code_version, _nan_safe(dict(lineage or {})))
            final = self.version_dir(name, number)
            self._write_files(final, {**files, "version.json": _dumps(version.to_dict()).encode()})
            try:
                with self._con(write=True) as con:
                    row = [name, number, status, int(created_at), kind, version.artifact_sha256,
                           config_hash, data_fingerprint, _dumps(version.data),
                           _dumps(version.pipeline), _dumps(version.label), _dumps(version.model),
                           _dumps(version.scores), code_version, _dumps(version.lineage)]
                    con.execute(f"INSERT INTO model_versions ({', '.join(_COLUMNS)}) VALUES "
                                f"({', '.join('?' * len(_COLUMNS))})", row)
                    self._event(con, name, number, "registered", created_at, who,
                                f"status {status}", {"data_fingerprint": data_fingerprint})
            except BaseException:
                shutil.rmtree(final, ignore_errors=True)
                raise
        return version

    def _write_files(self, final: Path, files: Mapping[str, bytes]) -> None:
        if final.exists():
            raise DataError(f"{final} already exists but is not registered; remove the "
                            "leftover directory (a crashed write) and retry")
        final.parent.mkdir(parents=True, exist_ok=True)
        staging = final.parent / f".staging-{final.name}-{os.getpid()}"
        shutil.rmtree(staging, ignore_errors=True)
        staging.mkdir()
        try:
            for fname, data in sorted(files.items()):
                with open(staging / fname, "wb") as fh:
                    fh.write(data)
                    fh.flush()
                    os.fsync(fh.fileno())
            os.replace(staging, final)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise

    @staticmethod
    def _event(con: duckdb.DuckDBPyConnection, name: str, version: int, event: str, ts: int,
               who: str, why: str, figures: Mapping[str, Any]) -> None:
        seq = con.execute("SELECT coalesce(max(seq), 0) + 1 FROM model_events").fetchone()[0]
        con.execute("INSERT INTO model_events VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    [seq, name, version, event, int(ts), who, why, _dumps(_nan_safe(figures))])

    def promote(self, ref: str, *, who: str, when: int, why: str) -> ModelVersion:
        """Make a version the champion; the previous champion becomes ``retired``."""
        with self._lock("registry.lock", wait=True):
            target = self.get(ref)
            if target.status == "champion":
                raise ConfigError(f"{target.ref} is already the champion of {target.name!r}")
            with self._con(write=True) as con:
                old = con.execute("SELECT version FROM model_versions WHERE name = ? AND "
                                  "status = 'champion'", [target.name]).fetchall()
                for (v,) in old:
                    con.execute("UPDATE model_versions SET status = 'retired' WHERE name = ? "
                                "AND version = ?", [target.name, v])
                    self._event(con, target.name, v, "retired", when, who,
                                f"replaced by {target.ref}: {why}", {})
                con.execute("UPDATE model_versions SET status = 'champion' WHERE name = ? AND "
                            "version = ?", [target.name, target.version])
                self._event(con, target.name, target.version, "promoted", when, who, why,
                            {"previous_champion": old[0][0] if old else None})
        return self.get(target.ref)

    def retire(self, ref: str, *, who: str, when: int, why: str) -> ModelVersion:
        """Retire a version (a retired champion leaves the model with no champion)."""
        with self._lock("registry.lock", wait=True):
            target = self.get(ref)
            if target.status == "retired":
                raise ConfigError(f"{target.ref} is already retired")
            with self._con(write=True) as con:
                con.execute("UPDATE model_versions SET status = 'retired' WHERE name = ? AND "
                            "version = ?", [target.name, target.version])
                self._event(con, target.name, target.version, "retired", when, who, why,
                            {"was": target.status})
        return self.get(target.ref)

    def record(self, name: str, version: int, event: str, *, who: str, when: int, why: str,
               figures: Mapping[str, Any]) -> ModelEvent:
        """Append an event (e.g. a retrain decision with its figures); returns it."""
        with self._lock("registry.lock", wait=True), self._con(write=True) as con:
            self._event(con, name, version, event, when, who, why, figures)
        return self.events(name)[-1]
