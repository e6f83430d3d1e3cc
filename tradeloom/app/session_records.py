"""What a paper/live session start leaves on disk, and nothing before it is sure to run.

Why its own module: a start that fails before trading (an unknown symbol, refused
credentials, a refused promotion, a held lock) must leave the state directory as it
found it - no journal, no ``sessions.jsonl`` line, no ``restart`` audit entry for a
session that never ran. So ``app.session`` does everything that can fail first and
calls :func:`open_session_journal` last; :class:`StartResidue` removes what the
failed start itself created (a new state directory, a new state store).

- **Run id** (:func:`resolve_run_id`): the config's ``run_id``; else the id the
  account's state store already belongs to (a restart resumes it); else one derived
  from the mode, exchange, account and strategy class (``adapters.live.state``'s
  rule, so it is always valid and the same on every restart).
- **Journal per session** (:func:`session_journal_path`): the config's ``journal``
  (each session then appends a segment starting with its ``session`` record), else
  ``<state_dir>/journals/<run_id>-<UTC start, YYYYMMDDTHHMMSS>.jsonl``.
- **Sessions registry** (:func:`record_session_start`): one line per started session
  in ``<state_dir>/sessions.jsonl``; a start in a state dir that already had one
  appends a ``restart`` entry to the audit log, with the previous session and the
  config hash. A start whose audit entry cannot be written is refused (its registry
  line is taken back): an operator must be able to trust that log.

>>> import tempfile
>>> from tradeloom.app.live_config import LiveConfig
>>> cfg = LiveConfig(strategy="research/strategies/sma_cross.py:SmaCross",
...                  symbols=["BTC/USDT"], exchange={"id": "binance"}, account="main",
...                  state_dir=tempfile.mkdtemp())
>>> resolve_run_id(cfg, "live"), resolve_run_id(cfg, "paper")
('lb414548ff', 'pa2f2d3c9f')
>>> session_journal_path(cfg, "lb414548ff", 1717243200000).name
'lb414548ff-20240601T120000.jsonl'
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

from tradeloom.adapters.clock import Clock
from tradeloom.adapters.live.journal import Journal
from tradeloom.adapters.live.state import derive_run_id, stored_run_id
from tradeloom.adapters.ops.audit import AuditKind, AuditLog
from tradeloom.app.live_config import LiveConfig
from tradeloom.engine.config import config_hash
from tradeloom.engine.errors import ConfigError
from tradeloom.engine.timeutil import format_utc_ms

SESSIONS_FILE = "sessions.jsonl"
JOURNALS_DIR = "journals"


def operator_name() -> str:
    """Who runs this process (the audit log's actor for restarts)."""
    return os.environ.get("USER") or os.environ.get("LOGNAME") or f"uid {os.getuid()}"


def state_store_path(state_dir: Path, account: str) -> Path:
    """The live state store (SQLite) of ``account`` in ``state_dir``."""
    return state_dir / f"{account}.sqlite"


def strategy_class_name(spec: str) -> str:
    """``'pkg/file.py:SmaCross'`` -> ``'SmaCross'`` (what identifies the strategy, wherever
    its file lives)."""
    return spec.rsplit(":", 1)[-1].strip()


def resolve_run_id(config: LiveConfig, mode: str) -> str:
    """The session's run id (see the module docstring)."""
    if config.run_id:
        return config.run_id
    if mode == "live":
        stored = stored_run_id(state_store_path(config.state_dir, config.account))
        if stored is not None:
            return stored
    return derive_run_id(mode, config.exchange.id, config.exchange.market_type,
                         config.account, strategy_class_name(config.strategy))


def session_journal_path(config: LiveConfig, run_id: str, started_ms: int) -> Path:
    """Where this session journals (see the module docstring); never an existing file
    unless the config names one."""
    if config.journal is not None:
        return config.journal
    stamp = format_utc_ms(started_ms)[:19].replace("-", "").replace(":", "")
    folder = config.state_dir / JOURNALS_DIR
    path = folder / f"{run_id}-{stamp}.jsonl"
    n = 2
    while path.exists():
        path = folder / f"{run_id}-{stamp}-{n}.jsonl"
        n += 1
    return path


def previous_session(state_dir: Path, journal_path: Path) -> dict[str, Any] | None:
    """The last session recorded in ``state_dir`` (or any older journal there), if any."""
    registry = state_dir / SESSIONS_FILE
    if registry.is_file():
        lines = [ln for ln in registry.read_text(encoding="utf-8").splitlines() if ln.strip()]
        for line in reversed(lines):
            try:
                entry = json.loads(line)
            except json.JSONDecodeError:
                continue  # a torn last line (crash mid-write): the one before still counts
            if isinstance(entry, dict):
                return entry
    journals = state_dir / JOURNALS_DIR
    if journals.is_dir():
        older = sorted((p for p in journals.glob("*.jsonl") if p != journal_path),
                       key=lambda p: p.stat().st_mtime)
        if older:
            return {"journal": str(older[-1]), "run_id": older[-1].stem}
    if journal_path.is_file() and journal_path.stat().st_size > 0:
        return {"journal": str(journal_path)}  # the config's journal, written before
    return None


def sessions(state_dir: Path) -> list[dict[str, Any]]:
    """Every session line of ``state_dir`` (torn lines skipped), oldest first."""
    registry = state_dir / SESSIONS_FILE
    if not registry.is_file():
        return []
    out = []
    for line in registry.read_text(encoding="utf-8").splitlines():
        try:
            entry = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(entry, dict):
            out.append(entry)
    return out


def record_session_start(config: LiveConfig, mode: str, run_id: str, journal_path: Path,
                         clock: Clock, audit: AuditLog) -> dict[str, Any] | None:
    """Register this session in ``<state_dir>/sessions.jsonl``; audit a ``restart``.

    Returns the previous session (``None`` on a first start). Raises ``ConfigError``
    when the line or the audit entry cannot be written; then nothing stays written.
    """
    state_dir = config.state_dir
    previous = previous_session(state_dir, journal_path)
    now = clock.now_ms()
    chash = config_hash(config)
    entry = {"run_id": run_id, "mode": mode, "account": config.account,
             "exchange": config.exchange.id, "started_ms": now, "journal": str(journal_path),
             "config_hash": chash}
    registry = state_dir / SESSIONS_FILE
    size = registry.stat().st_size if registry.is_file() else None
    try:
        with open(registry, "a", encoding="utf-8") as fh:
            fh.write(json.dumps(entry, sort_keys=True) + "\n")
    except OSError as exc:
        raise ConfigError(f"cannot write {registry} ({exc}); the state_dir must be "
                          "writable") from exc
    if previous is None:
        return None
    details = {"mode": mode, "account": config.account, "exchange": config.exchange.id,
               "strategy": config.strategy, "config_hash": chash, "journal": str(journal_path),
               "previous": {k: previous.get(k) for k in
                            ("run_id", "mode", "account", "started_ms", "journal",
                             "config_hash") if previous.get(k) is not None}}
    try:
        audit.append(AuditKind.RESTART, actor=operator_name(), ts_ms=now, subject=run_id,
                     details=details)
    except (OSError, ValueError) as exc:
        _take_back(registry, size)
        raise ConfigError(f"cannot write the restart entry to the audit log {audit.path} "
                          f"({exc}); fix its permissions or set audit_log in the config "
                          f"(check it with `tradeloom audit verify {audit.path}`)") from exc
    return previous


def _take_back(registry: Path, size: int | None) -> None:
    """Undo this start's registry line: truncate to the old size (or remove a new file)."""
    if size is None:
        registry.unlink(missing_ok=True)
        return
    with open(registry, "r+", encoding="utf-8") as fh:
        fh.truncate(size)


def open_session_journal(config: LiveConfig, mode: str, run_id: str, clock: Clock,
                         audit: AuditLog, *, secrets: tuple[str, ...] = ()
                         ) -> tuple[Journal, Path]:
    """The last step of a start: the session's journal opened and the start recorded.

    A failure leaves neither: a journal file created here is removed again.
    """
    path = session_journal_path(config, run_id, clock.now_ms())
    existed = path.exists()
    journal = Journal(path, secrets=secrets)
    try:
        record_session_start(config, mode, run_id, path, clock, audit)
    except BaseException:
        journal.close()
        if not existed:
            path.unlink(missing_ok=True)
        raise
    return journal, path


class StartResidue:
    """Remembers what existed before a start, and removes what a failed start created:
    the state directory (if it was new) and the account's state store (if it was new)."""

    def __init__(self, config: LiveConfig) -> None:
        self.state_dir = config.state_dir
        self.store = state_store_path(config.state_dir, config.account)
        self._dir_existed = self.state_dir.exists()
        self._store_existed = self.store.exists()

    def clean(self) -> None:
        """Remove what this start created (called only when it failed)."""
        if not self._store_existed:
            for suffix in ("", "-wal", "-shm", "-journal"):
                Path(f"{self.store}{suffix}").unlink(missing_ok=True)
        if not self._dir_existed and self.state_dir.is_dir():
            leftovers = [p for p in self.state_dir.rglob("*") if p.is_file()]
            if not leftovers:
                shutil.rmtree(self.state_dir)


__all__ = ["JOURNALS_DIR", "SESSIONS_FILE", "StartResidue", "open_session_journal",
           "operator_name", "previous_session", "record_session_start", "resolve_run_id",
           "session_journal_path", "sessions", "state_store_path", "strategy_class_name"]
