"""``tradeloom kill``: find the runner's kill flag from its config, write it, wait for
the runner to confirm.

Why not just "write ``state/KILL``": a flag in a folder no runner reads stops nothing
while the operator believes it did. So the target comes from the runner's config
(:func:`kill_target`: its ``state_dir`` and ``account``), or from ``--state-dir``
(with ``--account``) only when that folder shows the runner used it - a
``sessions.jsonl`` line, a status file or a state store of that account. Nothing is
created on disk for an account name that is invalid or unknown there.

After writing the flag, :func:`wait_for_kill` watches the runners' status files (the
channel ``serve`` and ``status`` read too) until every runner of the account that is
running confirms, and reports what each really cancelled and how fast.

>>> import tempfile
>>> kill_target(None, state_dir=None, account=None)
Traceback (most recent call last):
...
tradeloom.engine.errors.ConfigError: tradeloom kill needs to know which runner: pass its config (tradeloom kill live.toml), or --state-dir DIR (with --account NAME) of a state dir a runner has used
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from tradeloom.adapters.live.safety import KillScope, check_account, write_kill_flag
from tradeloom.adapters.ops.status import RunnerStatus, read_statuses
from tradeloom.app.live_config import load_live_config
from tradeloom.app.session_records import sessions, state_store_path
from tradeloom.engine.errors import ConfigError

#: A status file older than this belongs to a runner that is not running.
_FRESH_S = 30.0


@dataclass(frozen=True, slots=True)
class KillTarget:
    """Where the flag goes: the runners' state dir, and one account (``None``: all)."""

    state_dir: Path
    account: str | None


@dataclass(frozen=True, slots=True)
class KillConfirmation:
    """What one running runner reported after the kill."""

    runner_id: str
    account: str
    cancelled: int | None
    latency_s: float | None


def _accounts_seen(state_dir: Path) -> set[str]:
    seen = {str(s.get("account")) for s in sessions(state_dir) if s.get("account")}
    seen |= {s.account for s in read_statuses(state_dir)}
    return seen


def kill_target(config: Path | None, *, state_dir: Path | None,
                account: str | None) -> KillTarget:
    """The flag's place (see the module docstring); ``ConfigError`` saying what to pass."""
    if config is not None:
        cfg = load_live_config(config)
        if account is not None and check_account(account) != cfg.account:
            raise ConfigError(f"--account {account} differs from the config's account "
                              f"{cfg.account!r}; drop --account to kill the config's runner")
        if state_dir is not None and Path(state_dir).resolve() != cfg.state_dir.resolve():
            raise ConfigError(f"--state-dir {state_dir} differs from the config's state_dir "
                              f"{cfg.state_dir}; drop --state-dir")
        return KillTarget(cfg.state_dir, cfg.account)
    if state_dir is None:
        raise ConfigError("tradeloom kill needs to know which runner: pass its config "
                          "(tradeloom kill live.toml), or --state-dir DIR (with --account "
                          "NAME) of a state dir a runner has used")
    if account is not None:
        check_account(account)  # before anything touches the disk
    if not state_dir.is_dir():
        raise ConfigError(f"state dir {state_dir} does not exist, so no runner reads a kill "
                          "flag there; pass the runner's config (tradeloom kill live.toml)")
    seen = _accounts_seen(state_dir)
    if account is not None and account not in seen and \
            not state_store_path(state_dir, account).exists():
        known = ", ".join(sorted(seen)) or "none"
        raise ConfigError(f"no runner of account {account!r} has used {state_dir} (accounts "
                          f"there: {known}); check --account, or pass the runner's config")
    if account is None and not seen:
        raise ConfigError(f"no runner has used {state_dir} (no sessions.jsonl, no status "
                          "files); pass the runner's config (tradeloom kill live.toml)")
    return KillTarget(state_dir, account)


def write_flag(target: KillTarget, reason: str, *, all_orders: bool) -> Path:
    """Write the flag of ``target`` (scope ``all`` with ``all_orders``)."""
    scope = KillScope.ALL if all_orders else KillScope.RUNNER
    return write_kill_flag(target.state_dir, target.account, reason, scope)


def running(target: KillTarget, now_ms: int) -> list[RunnerStatus]:
    """Runners of the target that publish a fresh status and have not stopped."""
    return [s for s in read_statuses(target.state_dir)
            if (target.account is None or s.account == target.account)
            and s.state != "stopped" and (now_ms - s.published_ms) / 1000 <= _FRESH_S]


def wait_for_kill(target: KillTarget, runners: list[RunnerStatus], *, timeout_s: float,
                  now_ms: Callable[[], int], sleep: Callable[[float], None] = time.sleep,
                  ) -> tuple[list[KillConfirmation], list[str]]:
    """Wait until each of ``runners`` reports the kill; (confirmations, still waiting)."""
    waiting = {s.runner_id for s in runners}
    done: list[KillConfirmation] = []
    deadline = time.monotonic() + timeout_s
    while waiting:
        for status in read_statuses(target.state_dir):
            if status.runner_id in waiting and status.kill_cancelled is not None:
                waiting.discard(status.runner_id)
                done.append(KillConfirmation(status.runner_id, status.account,
                                             status.kill_cancelled, status.kill_latency_s))
        if not waiting or time.monotonic() >= deadline:
            break
        sleep(0.2)
    return done, sorted(waiting)


__all__ = ["KillConfirmation", "KillTarget", "kill_target", "running", "wait_for_kill",
           "write_flag"]
