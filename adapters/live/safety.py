"""Live-trading safety: the kill switch flag and the per-account lock.

**Kill switch.** Three ways in, one effect: the runner cancels every open order
(the broker's ``cancel_all``; within 10 s, measured in tests) and the risk engine's
kill switch blocks every new entry (exits stay allowed) until a person releases it.

- a file flag: ``<state_dir>/KILL`` stops every runner using that state directory,
  ``<state_dir>/KILL.<account>`` only the runner trading ``account``; the runner
  checks it every ``kill_poll_s`` (default 1 s) even while waiting for a bar;
- ``tradeloom kill [--account NAME]`` writes that file (:func:`write_kill_flag`);
- an API call: ``LiveRunner.kill(reason)``.

The flag is left in place after a kill so a restarted runner starts killed; delete
it to trade again.

**Single instance.** :class:`AccountLock` takes an exclusive ``fcntl`` lock on
``<state_dir>/<account>.lock`` for the runner's whole life; a second runner for the
same account fails at once with the holder's pid. The OS drops the lock when the
process dies (even on SIGKILL), so there is no stale lock to clean up.

Secrets in logs are scrubbed by ``adapters.secrets.redact_secrets_in_logs``.
"""

from __future__ import annotations

import fcntl
import json
import os
import re
from pathlib import Path
from typing import IO

from tradeloom.adapters.clock import SystemClock
from tradeloom.engine.errors import ConfigError, TradeloomError

_ACCOUNT = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


class AccountLocked(TradeloomError):
    """Another runner holds this account's lock."""


def check_account(name: str) -> str:
    if not _ACCOUNT.match(name):
        raise ConfigError(f"account name {name!r}: use letters, digits, '.', '_' or '-' "
                          "(at most 64), e.g. 'binance-main'")
    return name


def kill_flag_paths(state_dir: Path, account: str) -> tuple[Path, Path]:
    """The global flag and the account's flag."""
    return state_dir / "KILL", state_dir / f"KILL.{account}"


def write_kill_flag(state_dir: Path, account: str | None = None, reason: str = "operator") -> Path:
    """Create the kill flag (all runners of ``state_dir``, or one account); return its path."""
    state_dir.mkdir(parents=True, exist_ok=True)
    path = state_dir / ("KILL" if account is None else f"KILL.{check_account(account)}")
    body = json.dumps({"reason": reason, "written_ms": SystemClock().now_ms()})
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(body + "\n", encoding="utf-8")
    os.replace(tmp, path)
    return path


class KillFlag:
    """Checks the kill flag files of one account (cheap: two ``stat`` calls)."""

    def __init__(self, state_dir: Path, account: str) -> None:
        self.paths = kill_flag_paths(state_dir, check_account(account))

    def present(self) -> Path | None:
        for path in self.paths:
            if path.exists():
                return path
        return None

    @staticmethod
    def reason(path: Path) -> str:
        try:
            return str(json.loads(path.read_text(encoding="utf-8")).get("reason", "kill flag"))
        except (OSError, ValueError, AttributeError):
            return f"kill flag {path.name}"


class AccountLock:
    """Exclusive lock of one account's lock file for the life of this object."""

    def __init__(self, state_dir: Path, account: str) -> None:
        self.path = state_dir / f"{check_account(account)}.lock"
        self.account = account
        self._fh: IO[str] | None = None

    def acquire(self) -> AccountLock:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fh = open(self.path, "a+", encoding="utf-8")  # noqa: SIM115 - held until release()
        try:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            fh.seek(0)
            holder = fh.read().strip() or "unknown"
            fh.close()
            raise AccountLocked(
                f"account {self.account!r} is locked by another runner (pid {holder}, lock "
                f"{self.path}); stop that runner first - two runners must never trade one "
                "account") from None
        fh.seek(0)
        fh.truncate()
        fh.write(str(os.getpid()))
        fh.flush()
        self._fh = fh
        return self

    def release(self) -> None:
        fh, self._fh = self._fh, None
        if fh is not None:
            fcntl.flock(fh.fileno(), fcntl.LOCK_UN)
            fh.close()

    def __enter__(self) -> AccountLock:
        return self.acquire()

    def __exit__(self, *exc_info: object) -> None:
        self.release()


__all__ = ["AccountLock", "AccountLocked", "KillFlag", "check_account", "kill_flag_paths",
           "write_kill_flag"]
