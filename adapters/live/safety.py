"""Live-trading safety: the kill switch flag and the single-instance lock.

**Kill switch.** Three ways in, one effect: the runner cancels its open orders
(the broker's ``cancel_all``; within 10 s, measured in tests) and the risk engine's
kill switch blocks every new entry (exits stay allowed) until a person releases it.

- a file flag: ``<state_dir>/KILL`` stops every runner using that state directory,
  ``<state_dir>/KILL.<account>`` only the runner trading ``account``; the runner
  checks it every ``kill_poll_s`` (default 1 s) even while waiting for a bar;
- ``tradeloom kill CONFIG`` writes that file (:func:`write_kill_flag`);
- an API call: ``LiveRunner.kill(reason)``.

A flag's ``scope`` says which exchange orders go: ``runner`` (the default) cancels
only the orders whose client id carries this runner's prefix (``tl-{run_id}-``:
orders placed by hand or by another program on the same account stay), ``all``
(``tradeloom kill --all``) every open order of the account. The flag is left in
place after a kill so a restarted runner starts killed; delete it to trade again.

**Single instance.** :class:`AccountLock` takes an exclusive ``fcntl`` lock on a file
named after the *exchange account*, not the state folder: the exchange id and a hash
of the API key (:func:`live_lock_key`), so two runners given the same key refuse
each other even with different state directories or account names. The lock files
live in a per-user directory (:func:`lock_dir`: ``$TRADELOOM_LOCK_DIR``, else
``$XDG_RUNTIME_DIR/tradeloom/locks``, else ``~/.cache/tradeloom/locks``; mode 0700).
A second runner fails at once naming the holder's pid, account and state dir. The OS
drops the lock when the process dies (even on SIGKILL): no stale lock to clean up.
Paper sessions lock their account name and state dir (:func:`paper_lock_key`).

Secrets in logs are scrubbed by ``adapters.secrets.redact_secrets_in_logs``.

>>> live_lock_key("binance", "my-api-key")
'binance-532450a91ae6c150'
>>> lock_dir({"TRADELOOM_LOCK_DIR": "/tmp/locks"})
PosixPath('/tmp/locks')
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import IO, Self

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


class KillScope(StrEnum):
    """Which exchange orders a kill cancels (see the module docstring)."""

    RUNNER = "runner"
    ALL = "all"


@dataclass(frozen=True, slots=True)
class KillRequest:
    """What a kill flag file asks for: why, which orders, when it was written (ms)."""

    reason: str
    scope: KillScope = KillScope.RUNNER
    written_ms: int | None = None


def kill_flag_paths(state_dir: Path, account: str) -> tuple[Path, Path]:
    """The global flag and the account's flag."""
    return state_dir / "KILL", state_dir / f"KILL.{account}"


def write_kill_flag(state_dir: Path, account: str | None = None, reason: str = "operator",
                    scope: KillScope | str = KillScope.RUNNER) -> Path:
    """Create the kill flag (all runners of ``state_dir``, or one account); return its path.

    The account name is checked before anything is created on disk.
    """
    name = "KILL" if account is None else f"KILL.{check_account(account)}"
    scope = KillScope(scope)
    state_dir.mkdir(parents=True, exist_ok=True)
    path = state_dir / name
    body = json.dumps({"reason": reason, "scope": scope.value,
                       "written_ms": SystemClock().now_ms()})
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
    def read(path: Path) -> KillRequest:
        """The flag's request; an unreadable or hand-written flag is a runner-scoped kill."""
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return KillRequest(f"kill flag {path.name}")
        if not isinstance(data, dict):
            return KillRequest(f"kill flag {path.name}")
        try:
            scope = KillScope(str(data.get("scope", KillScope.RUNNER.value)))
        except ValueError:
            scope = KillScope.RUNNER
        written = data.get("written_ms")
        return KillRequest(str(data.get("reason", "kill flag")), scope,
                           int(written) if isinstance(written, int) else None)

    @staticmethod
    def reason(path: Path) -> str:
        return KillFlag.read(path).reason


def lock_dir(environ: Mapping[str, str] | None = None) -> Path:
    """Where single-instance lock files live (see the module docstring)."""
    env = os.environ if environ is None else environ
    if env.get("TRADELOOM_LOCK_DIR"):
        return Path(env["TRADELOOM_LOCK_DIR"])
    if env.get("XDG_RUNTIME_DIR"):
        return Path(env["XDG_RUNTIME_DIR"]) / "tradeloom" / "locks"
    return Path.home() / ".cache" / "tradeloom" / "locks"


def _digest(*parts: str) -> str:
    return hashlib.sha256("\x1f".join(parts).encode("utf-8")).hexdigest()[:16]


def live_lock_key(exchange_id: str, api_key: str) -> str:
    """The lock name of one exchange account: the exchange and a hash of its API key
    (the key itself never reaches the disk)."""
    return f"{exchange_id}-{_digest(exchange_id, api_key)}"


def paper_lock_key(exchange_id: str, account: str, state_dir: Path) -> str:
    """The lock name of a paper account: its name and state directory."""
    return f"paper-{exchange_id}-{_digest(account, str(Path(state_dir).resolve()))}"


class AccountLock:
    """Exclusive lock of one account for the life of this object (module docstring).

    ``key`` names the lock file (:func:`live_lock_key`, :func:`paper_lock_key`);
    ``account`` and ``state_dir`` are written into it so a refused runner can say who
    holds the account.
    """

    def __init__(self, key: str, account: str, *, state_dir: Path | None = None,
                 directory: Path | None = None) -> None:
        if not re.match(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$", key):
            raise ConfigError(f"lock key {key!r}: use letters, digits, '.', '_' or '-'")
        self.directory = directory if directory is not None else lock_dir()
        self.path = self.directory / f"{key}.lock"
        self.account = account
        self.state_dir = state_dir
        self._fh: IO[str] | None = None

    def acquire(self) -> AccountLock:
        try:
            self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
            fh = open(self.path, "a+", encoding="utf-8")  # noqa: SIM115 - held until release()
        except OSError as exc:
            raise ConfigError(f"cannot create the lock file {self.path} ({exc.strerror}); set "
                              "TRADELOOM_LOCK_DIR to a writable directory") from None
        try:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            fh.seek(0)
            holder = _holder(fh.read())
            fh.close()
            raise AccountLocked(
                f"account {self.account!r} is locked by another runner ({holder}; lock "
                f"{self.path}); stop that runner first - two runners must never trade one "
                "exchange account, whatever their state dirs") from None
        fh.seek(0)
        fh.truncate()
        fh.write(json.dumps({"pid": os.getpid(), "account": self.account,
                             "state_dir": None if self.state_dir is None
                             else str(Path(self.state_dir).resolve())}))
        fh.flush()
        self._fh = fh
        return self

    def release(self) -> None:
        fh, self._fh = self._fh, None
        if fh is not None:
            fcntl.flock(fh.fileno(), fcntl.LOCK_UN)
            fh.close()

    def __enter__(self) -> Self:
        self.acquire()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.release()


def _holder(text: str) -> str:
    try:
        data = json.loads(text)
    except ValueError:
        return f"pid {text.strip() or 'unknown'}"
    if not isinstance(data, dict):
        return "pid unknown"
    where = f", state dir {data['state_dir']}" if data.get("state_dir") else ""
    return f"pid {data.get('pid', 'unknown')}, account {data.get('account')!r}{where}"


__all__ = ["AccountLock", "AccountLocked", "KillFlag", "KillRequest", "KillScope",
           "check_account", "kill_flag_paths", "live_lock_key", "lock_dir", "paper_lock_key",
           "write_kill_flag"]
