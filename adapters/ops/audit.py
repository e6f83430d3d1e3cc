"""The append-only audit log: who did what to which deployment or runner, and when.

Why: at 3 a.m. an operator must be able to trust the record of promotions, config
changes, kills, restarts and manual actions, and a reviewer must be able to tell
when someone edited it afterwards. Every entry is chained to the one before it, so
editing, deleting, reordering or inserting a line breaks the chain at that line.

Format: one canonical JSON object per line (sorted keys, no spaces)::

    {"actor":"ana","details":{...},"hash":"...","kind":"promotion","prev_hash":"...",
     "seq":3,"subject":"sma-btc","ts":1717243200000}

``hash = sha256(prev_hash + canonical JSON of the entry without hash/prev_hash)``;
the first entry's ``prev_hash`` is 64 zeros; ``seq`` counts from 1. A line that
is not in canonical form (even re-spaced) counts as edited, so any byte change
is caught. Beside the log, ``<log>.head`` holds the last ``seq`` and ``hash``:
that is what catches a deleted (or appended) last line, which a chain alone
cannot. (Anyone who can rewrite both files can forge both; copy the head hash
somewhere else - a ticket, an alert - when an outside anchor matters.)

Durability: every append is written, flushed and fsynced before it returns;
concurrent writers (threads or processes) are serialised by an exclusive
``flock`` on ``<log>.lock``, and each reads the current head under that lock.

Secrets: an entry whose details have a key named like a credential (api key, secret,
password, token, ...: the one rule, ``adapters.secrets.is_credential_key``) is refused
with ``ValueError`` before anything is written.

>>> import tempfile, os
>>> path = os.path.join(tempfile.mkdtemp(), "audit.jsonl")
>>> log = AuditLog(path)
>>> log.append(AuditKind.PROMOTION, actor="ana", ts_ms=1, subject="sma-btc",
...            details={"from": "research", "to": "backtest-approved"}).seq
1
>>> verify(path).ok
True
>>> log.append(AuditKind.KILL, actor="ana", ts_ms=2, subject="runner-1",
...            details={"api_key": "x"})
Traceback (most recent call last):
...
ValueError: audit entry 'kill' for 'runner-1': detail 'api_key' looks like a credential; audit entries never hold secrets - drop the field
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any

from tradeloom.adapters.secrets import credential_keys

GENESIS = "0" * 64
_ENTRY_FIELDS = ("actor", "details", "kind", "seq", "subject", "ts")


class AuditKind(StrEnum):
    """What an entry records."""

    REGISTRATION = "registration"
    PROMOTION = "promotion"
    PROMOTION_REFUSED = "promotion_refused"
    DEMOTION = "demotion"
    RETIREMENT = "retirement"
    CONFIG_CHANGE = "config_change"
    KILL = "kill"
    RESTART = "restart"
    MANUAL_ACTION = "manual_action"
    #: ``tradeloom live --override-promotion``: a config no live deployment covers.
    PROMOTION_OVERRIDE = "promotion_override"


@dataclass(frozen=True, slots=True)
class AuditRecord:
    """One chained line of the log."""

    seq: int
    ts: int
    kind: str
    actor: str
    subject: str
    details: dict[str, Any]
    prev_hash: str
    hash: str

    def entry(self) -> dict[str, Any]:
        """The hashed part: everything but ``hash`` and ``prev_hash``."""
        return {"actor": self.actor, "details": self.details, "kind": self.kind,
                "seq": self.seq, "subject": self.subject, "ts": self.ts}

    def line(self) -> str:
        """The canonical line (no newline)."""
        return canonical({**self.entry(), "prev_hash": self.prev_hash, "hash": self.hash})


@dataclass(frozen=True, slots=True)
class AuditReport:
    """What ``verify`` found: ``ok``, or the first bad line (1-based) and why."""

    path: Path
    entries: int
    head_hash: str
    first_bad_line: int | None = None
    problem: str = ""

    @property
    def ok(self) -> bool:
        return self.first_bad_line is None

    def format(self) -> str:
        if self.ok:
            return (f"audit log {self.path}: {self.entries} entries, chain intact "
                    f"(head {self.head_hash[:16]})")
        return (f"audit log {self.path}: TAMPERED at line {self.first_bad_line}: {self.problem}")


def canonical(obj: Any) -> str:
    """Sorted-key, compact JSON: the one byte form that is hashed and written.

    >>> canonical({"b": 1, "a": [1.5, None]})
    '{"a":[1.5,null],"b":1}'
    """
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                      allow_nan=False)


def chain_hash(prev_hash: str, entry: Mapping[str, Any]) -> str:
    """``sha256(prev_hash + canonical(entry))`` as hex."""
    return hashlib.sha256((prev_hash + canonical(entry)).encode("utf-8")).hexdigest()


def check_no_secrets(kind: str, subject: str, details: Any, where: str = "") -> None:
    """Refuse credential-like keys anywhere in ``details`` (the message never echoes values)."""
    name = next(credential_keys(details, where), None)
    if name is not None:
        raise ValueError(
            f"audit entry {kind!r} for {subject!r}: detail {name!r} looks like a "
            "credential; audit entries never hold secrets - drop the field")


class AuditLog:
    """Appends chained entries to one JSONL file (see the module docstring)."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        self.head_path = self.path.with_name(self.path.name + ".head")
        self.lock_path = self.path.with_name(self.path.name + ".lock")

    def append(self, kind: AuditKind | str, *, actor: str, ts_ms: int, subject: str,
               details: Mapping[str, Any] | None = None) -> AuditRecord:
        """Chain, write, flush and fsync one entry; returns it. ``ts_ms`` comes from the caller."""
        kind_text = AuditKind(kind).value
        body = json.loads(canonical(dict(details or {})))  # plain JSON, NaN refused
        check_no_secrets(kind_text, subject, body)
        if not actor:
            raise ValueError(f"audit entry {kind_text!r}: actor must not be empty "
                             "(pass --by or set USER)")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._locked():
            seq, prev = self._head()
            entry = {"actor": str(actor), "details": body, "kind": kind_text, "seq": seq + 1,
                     "subject": str(subject), "ts": int(ts_ms)}
            record = AuditRecord(seq + 1, int(ts_ms), kind_text, str(actor), str(subject), body,
                                 prev, chain_hash(prev, entry))
            with open(self.path, "a", encoding="utf-8") as fh:
                fh.write(record.line() + "\n")
                fh.flush()
                os.fsync(fh.fileno())
            self._write_head(record.seq, record.hash)
        return record

    def records(self) -> list[AuditRecord]:
        """Every entry, parsed (no verification; use ``verify`` for that)."""
        if not self.path.is_file():
            return []
        lines = self.path.read_text(encoding="utf-8").splitlines()
        return [_parse(line) for line in lines if line]

    @contextmanager
    def _locked(self) -> Iterator[None]:
        with open(self.lock_path, "a", encoding="utf-8") as lock:
            fcntl.flock(lock.fileno(), fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock.fileno(), fcntl.LOCK_UN)

    def _head(self) -> tuple[int, str]:
        """The last entry's seq and hash, read from the log itself (not the head file)."""
        if not self.path.is_file() or self.path.stat().st_size == 0:
            return 0, GENESIS
        with open(self.path, "rb") as fh:
            fh.seek(0, os.SEEK_END)
            size = fh.tell()
            fh.seek(max(0, size - 1_048_576))
            tail = fh.read().decode("utf-8", errors="replace").splitlines()
        last = next((line for line in reversed(tail) if line.strip()), "")
        try:
            record = _parse(last)
        except ValueError as exc:
            raise ValueError(f"audit log {self.path}: cannot append, its last line is not an "
                             f"audit entry ({exc}); run `tradeloom audit verify {self.path}`"
                             ) from None
        return record.seq, record.hash

    def _write_head(self, seq: int, digest: str) -> None:
        tmp = self.head_path.with_name(self.head_path.name + ".tmp")
        with open(tmp, "w", encoding="utf-8") as fh:
            fh.write(canonical({"hash": digest, "seq": seq}) + "\n")
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, self.head_path)


def _parse(line: str) -> AuditRecord:
    """A line as a record; ``ValueError`` says what is wrong with it."""
    try:
        raw = json.loads(line)
    except json.JSONDecodeError as exc:
        raise ValueError(f"not JSON ({exc.msg})") from None
    if not isinstance(raw, dict):
        raise ValueError("not a JSON object")
    missing = [k for k in (*_ENTRY_FIELDS, "prev_hash", "hash") if k not in raw]
    if missing:
        raise ValueError(f"missing field(s) {missing}")
    extra = sorted(set(raw) - {*_ENTRY_FIELDS, "prev_hash", "hash"})
    if extra:
        raise ValueError(f"unexpected field(s) {extra}")
    try:
        return AuditRecord(int(raw["seq"]), int(raw["ts"]), str(raw["kind"]), str(raw["actor"]),
                           str(raw["subject"]), dict(raw["details"]), str(raw["prev_hash"]),
                           str(raw["hash"]))
    except (TypeError, ValueError) as exc:
        raise ValueError(f"malformed field ({exc})") from None


def verify(path: str | os.PathLike[str]) -> AuditReport:
    """Check every line's form, hash, link and sequence, then the head file.

    The first line that fails is named: an edited line at that line, a deleted or
    swapped one at the first line whose link no longer matches, a deleted last line
    at the line number the head file says should exist.
    """
    p = Path(path)
    if not p.is_file():
        raise FileNotFoundError(f"audit log {p} does not exist; pass the path of an audit "
                                "log (default <catalog>/audit.jsonl)")
    text = p.read_text(encoding="utf-8")
    lines = text.split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    prev, seq = GENESIS, 0
    for number, line in enumerate(lines, start=1):
        problem = _line_problem(line, prev, seq + 1)
        if problem:
            return AuditReport(p, seq, prev, number, problem)
        record = _parse(line)
        prev, seq = record.hash, record.seq
    if text and not text.endswith("\n"):
        return AuditReport(p, seq, prev, len(lines), "last line has no newline (torn write "
                           "or appended by hand)")
    return _check_head(p, seq, prev)


def _line_problem(line: str, prev: str, want_seq: int) -> str:
    try:
        record = _parse(line)
    except ValueError as exc:
        return f"not an audit entry: {exc}"
    if record.line() != line:
        return "not in canonical form (the line was edited)"
    if chain_hash(record.prev_hash, record.entry()) != record.hash:
        return "hash does not match the entry (the line was edited)"
    if record.prev_hash != prev:
        return ("prev_hash does not match the previous line's hash (a line before it was "
                "deleted, reordered or inserted)")
    if record.seq != want_seq:
        return f"seq {record.seq}, expected {want_seq} (lines deleted, reordered or inserted)"
    return ""


def _check_head(p: Path, seq: int, digest: str) -> AuditReport:
    head_path = p.with_name(p.name + ".head")
    if not head_path.is_file():
        if seq == 0:
            return AuditReport(p, 0, digest)
        return AuditReport(p, seq, digest, seq + 1, f"head file {head_path} is missing; "
                           "the log's end cannot be checked")
    try:
        head = json.loads(head_path.read_text(encoding="utf-8"))
        head_seq, head_hash = int(head["seq"]), str(head["hash"])
    except (ValueError, KeyError, TypeError) as exc:
        return AuditReport(p, seq, digest, seq + 1, f"head file {head_path} unreadable ({exc})")
    if head_seq > seq:
        return AuditReport(p, seq, digest, seq + 1,
                           f"the log ends at entry {seq} but its head file records entry "
                           f"{head_seq}: line(s) {seq + 1}..{head_seq} were deleted")
    if head_seq < seq:
        return AuditReport(p, seq, digest, head_seq + 1,
                           f"line {head_seq + 1} onwards were added after the last recorded "
                           f"append (head file records entry {head_seq})")
    if head_hash != digest:
        return AuditReport(p, seq, digest, seq, "the last line's hash differs from the head "
                           "file's (the end of the log was rewritten)")
    return AuditReport(p, seq, digest)


__all__ = ["GENESIS", "AuditKind", "AuditLog", "AuditRecord", "AuditReport", "canonical",
           "chain_hash", "check_no_secrets", "verify"]
