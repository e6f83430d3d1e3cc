"""Deployments in the catalog: each one's spec, lifecycle stage and every change, with evidence.

Tables in ``<catalog>/catalog.duckdb`` (created on first write, next to the
market-data tables; opened through ``adapters.store.duck``, so a busy file is
waited for, and never held open between calls):

- ``deployments``: name, stage, spec JSON and hash, source file, who registered
  it and when, when it last changed;
- ``deployment_events``: one row per registration, spec update, promotion,
  refused promotion, demotion and retirement: who, when (UTC ms, passed in by the
  caller - this module never reads the clock), why, from/to stage, the evidence
  (JSON: regress manifest, metrics and determinism; paper journals, replay
  parity, tracking error) and the gate verdicts (JSON).

A stage change is written only if the deployment is still at the stage the caller
decided from (checked inside the write transaction), so two operators promoting
at once cannot both win.

>>> import tempfile
>>> from tradeloom.research.promotion.config import DeploymentSpec
>>> store = DeploymentStore(Path(tempfile.mkdtemp()))
>>> spec = DeploymentSpec(name="sma-btc", strategy="pkg.mod:S", symbols=["BTC/USDT"],
...                       regress_config="/r/regress.toml", regress_case="c")
>>> store.register(spec, source="sma-btc.toml", when_ms=1, by="ana").action.value
'register'
>>> store.get("sma-btc").stage.value
'research'
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from enum import StrEnum
from pathlib import Path
from typing import Any

import duckdb

from tradeloom.adapters.store import duck
from tradeloom.adapters.store.catalog import CATALOG_FILE
from tradeloom.engine.errors import ConfigError
from tradeloom.research.promotion.config import DeploymentSpec, spec_hash
from tradeloom.research.promotion.lifecycle import Stage

_SCHEMA = """
CREATE TABLE IF NOT EXISTS deployments (
    name VARCHAR, stage VARCHAR, spec_json VARCHAR, spec_hash VARCHAR, source VARCHAR,
    created_ts BIGINT, created_by VARCHAR, updated_ts BIGINT);
CREATE TABLE IF NOT EXISTS deployment_events (
    name VARCHAR, seq INTEGER, ts BIGINT, action VARCHAR, from_stage VARCHAR,
    to_stage VARCHAR, actor VARCHAR, reason VARCHAR, spec_hash VARCHAR,
    evidence_json VARCHAR, gates_json VARCHAR);
"""
_DEPLOYMENT_COLS = "name, stage, spec_json, spec_hash, source, created_ts, created_by, updated_ts"
_EVENT_COLS = ("name, seq, ts, action, from_stage, to_stage, actor, reason, spec_hash, "
               "evidence_json, gates_json")


class Action(StrEnum):
    """What a ``deployment_events`` row records."""

    REGISTER = "register"
    UPDATE = "update"
    PROMOTE = "promote"
    REFUSE = "refuse"
    DEMOTE = "demote"
    RETIRE = "retire"


@dataclass(frozen=True)
class Deployment:
    """A registered deployment and where it is in its lifecycle."""

    name: str
    stage: Stage
    spec: DeploymentSpec
    spec_hash: str
    source: str
    created_ts: int
    created_by: str
    updated_ts: int

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "stage": self.stage.value, "spec_hash": self.spec_hash,
                "source": self.source, "created_ts": self.created_ts,
                "created_by": self.created_by, "updated_ts": self.updated_ts,
                "spec": self.spec.model_dump(mode="json")}


@dataclass(frozen=True)
class DeploymentEvent:
    """One row of a deployment's history."""

    name: str
    seq: int
    ts: int
    action: Action
    from_stage: Stage | None
    to_stage: Stage | None
    actor: str
    reason: str
    spec_hash: str
    evidence: dict[str, Any] = field(default_factory=dict)
    gates: list[dict[str, Any]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "seq": self.seq, "ts": self.ts, "action": self.action.value,
                "from_stage": self.from_stage.value if self.from_stage else None,
                "to_stage": self.to_stage.value if self.to_stage else None,
                "actor": self.actor, "reason": self.reason, "spec_hash": self.spec_hash,
                "evidence": self.evidence, "gates": self.gates}


class DeploymentStore:
    """Reads and writes the deployment tables of the catalog at ``root``."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.path = self.root / CATALOG_FILE

    # ------------------------------------------------------------------ reads
    def list(self) -> list[Deployment]:
        """Every deployment, by name."""
        rows = self._rows(f"SELECT {_DEPLOYMENT_COLS} FROM deployments ORDER BY name")
        return [_deployment(r) for r in rows]

    def find(self, name: str) -> Deployment | None:
        rows = self._rows(f"SELECT {_DEPLOYMENT_COLS} FROM deployments WHERE name = ?", [name])
        return _deployment(rows[0]) if rows else None

    def get(self, name: str) -> Deployment:
        """The deployment ``name``; ``ConfigError`` (with a did-you-mean) when unknown."""
        found = self.find(name)
        if found is None:
            names = [d.name for d in self.list()]
            close = difflib.get_close_matches(name, names, n=1)
            hint = f"did you mean {close[0]!r}? " if close else ""
            known = ", ".join(names) if names else "none yet"
            raise ConfigError(f"no deployment named {name!r} in {self.path}; {hint}registered: "
                              f"{known} (register one with `tradeloom deploy-register FILE`)")
        return found

    def events(self, name: str | None = None) -> list[DeploymentEvent]:
        """History rows, oldest first (of one deployment, or all)."""
        where, params = ("WHERE name = ?", [name]) if name else ("", [])
        rows = self._rows(f"SELECT {_EVENT_COLS} FROM deployment_events {where} "
                          "ORDER BY ts, name, seq", params)
        return [_event(r) for r in rows]

    # ------------------------------------------------------------------ writes
    def register(self, spec: DeploymentSpec, *, source: str, when_ms: int, by: str,
                 reason: str = "") -> DeploymentEvent | None:
        """Add ``spec`` at ``research``, or update a changed spec; ``None`` if unchanged.

        A changed spec invalidates the evidence behind a promotion, so it is refused
        unless the deployment is at ``research`` (demote it first).
        """
        digest = spec_hash(spec)
        with self._writing() as con:
            row = con.execute("SELECT stage, spec_hash FROM deployments WHERE name = ?",
                              [spec.name]).fetchone()
            if row is None:
                con.execute("INSERT INTO deployments VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                            [spec.name, Stage.RESEARCH.value, _spec_json(spec), digest, source,
                             when_ms, by, when_ms])
                return _insert_event(con, spec.name, when_ms, Action.REGISTER, None,
                                     Stage.RESEARCH, by, reason, digest,
                                     {"previous_hash": None, "source": source}, [])
            stage, old = Stage(row[0]), str(row[1])
            if old == digest:
                return None
            if stage is not Stage.RESEARCH:
                raise ConfigError(
                    f"deployment {spec.name!r} is at {stage.value} and its spec changed "
                    f"(hash {old[:12]} -> {digest[:12]}); the evidence behind its promotions "
                    "no longer applies - demote it to research first, or register the new "
                    "spec under a new name" if stage is not Stage.RETIRED else
                    f"deployment {spec.name!r} is retired; register the new spec under a new name")
            con.execute("UPDATE deployments SET spec_json = ?, spec_hash = ?, source = ?, "
                        "updated_ts = ? WHERE name = ?",
                        [_spec_json(spec), digest, source, when_ms, spec.name])
            return _insert_event(con, spec.name, when_ms, Action.UPDATE, stage, stage, by,
                                 reason, digest, {"previous_hash": old, "source": source}, [])

    def transition(self, name: str, *, expect: Stage, to: Stage, action: Action, when_ms: int,
                   by: str, reason: str, evidence: Mapping[str, Any],
                   gates: Sequence[Mapping[str, Any]]) -> DeploymentEvent:
        """Move ``name`` from ``expect`` to ``to`` and record why (refusals: ``to == expect``)."""
        with self._writing() as con:
            row = con.execute("SELECT stage, spec_hash FROM deployments WHERE name = ?",
                              [name]).fetchone()
            if row is None:
                raise ConfigError(f"no deployment named {name!r}; register it first")
            if Stage(row[0]) is not expect:
                raise ConfigError(f"deployment {name!r} moved to {row[0]} while this command "
                                  f"ran (it was {expect.value}); check `tradeloom deployments "
                                  f"{name}` and run the command again")
            if to is not expect:
                con.execute("UPDATE deployments SET stage = ?, updated_ts = ? WHERE name = ?",
                            [to.value, when_ms, name])
            return _insert_event(con, name, when_ms, action, expect, to, by, reason,
                                 str(row[1]), dict(evidence), [dict(g) for g in gates])

    # ------------------------------------------------------------------ plumbing
    def _rows(self, sql: str, params: Sequence[object] = ()) -> list[tuple]:
        if not self.path.is_file():
            return []
        with duck.reading(self.path) as con:
            try:
                return con.execute(sql, list(params)).fetchall()
            except duckdb.CatalogException:
                return []  # a market catalog without deployment tables yet

    def _writing(self) -> AbstractContextManager[duckdb.DuckDBPyConnection]:
        return duck.transaction(self.path, schema=_SCHEMA)


def _spec_json(spec: DeploymentSpec) -> str:
    return json.dumps(spec.model_dump(mode="json"), sort_keys=True)


def _insert_event(con: duckdb.DuckDBPyConnection, name: str, ts: int, action: Action,
                  from_stage: Stage | None, to_stage: Stage | None, actor: str, reason: str,
                  digest: str, evidence: dict[str, Any],
                  gates: list[dict[str, Any]]) -> DeploymentEvent:
    seq = con.execute("SELECT coalesce(max(seq), 0) + 1 FROM deployment_events WHERE name = ?",
                      [name]).fetchone()[0]
    event = DeploymentEvent(name, int(seq), int(ts), action, from_stage, to_stage, actor,
                            reason, digest, evidence, gates)
    con.execute("INSERT INTO deployment_events VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                [name, event.seq, event.ts, action.value,
                 from_stage.value if from_stage else None, to_stage.value if to_stage else None,
                 actor, reason, digest, json.dumps(evidence, sort_keys=True, allow_nan=False),
                 json.dumps(gates, sort_keys=True)])
    return event


def _deployment(row: tuple) -> Deployment:
    spec = DeploymentSpec.model_validate(json.loads(row[2]))
    return Deployment(row[0], Stage(row[1]), spec, row[3], row[4], int(row[5]), row[6],
                      int(row[7]))


def _event(row: tuple) -> DeploymentEvent:
    return DeploymentEvent(row[0], int(row[1]), int(row[2]), Action(row[3]),
                           Stage(row[4]) if row[4] else None, Stage(row[5]) if row[5] else None,
                           row[6], row[7], row[8], json.loads(row[9]), json.loads(row[10]))


__all__ = ["Action", "Deployment", "DeploymentEvent", "DeploymentStore"]
