"""``--restart-on-crash``: a supervisor process that brings a crashed runner back.

Why a separate process: a runner can die in ways no ``try`` survives (SIGKILL by the
OOM killer, a segfault in a native library, an exception nobody foresaw). The
supervisor runs the session as a child process and, when it ends abnormally, starts it
again after a backoff; the new session reconciles with the exchange before trading,
as every live start does (``adapters.live.recovery``), and the restart is audited
(``restart`` entry) like any other.

What ends the supervision, by the child's exit code (``tradeloom paper``/``live``):

=====  ==========================================  =========================
code   meaning                                     supervisor
=====  ==========================================  =========================
0      stopped cleanly (Ctrl-C, SIGTERM)           exits 0
2      refused to start (config, credentials,      exits 2: a restart cannot
       promotion, lock)                            fix it
3      failed while trading (broker error,         restarts after the backoff
       exception)
75     exchange unreachable at start               restarts after the backoff
other  killed by a signal (-9: SIGKILL), crashed   restarts after the backoff
=====  ==========================================  =========================

Backoff: ``initial_delay_s`` doubling to ``max_delay_s``; a child that ran at least
``reset_after_s`` resets it (a crash a day is not a crash loop). ``max_restarts``
(``None``: unlimited) bounds a crash loop. SIGINT/SIGTERM to the supervisor are
passed to the child, which stops cleanly; then the supervisor exits.

>>> RestartPolicy(initial_delay_s=1.0, max_delay_s=5.0).delays(5)
[1.0, 2.0, 4.0, 5.0, 5.0]
>>> describe_exit(-9), describe_exit(3)
('killed by signal 9 (SIGKILL)', 'exit code 3 (failed while trading)')
"""

from __future__ import annotations

import logging
import signal
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

log = logging.getLogger(__name__)

EXIT_OK, EXIT_REFUSED, EXIT_FAILED, EXIT_TEMPFAIL = 0, 2, 3, 75
_MEANING = {EXIT_OK: "stopped cleanly", EXIT_REFUSED: "refused to start",
            EXIT_FAILED: "failed while trading", EXIT_TEMPFAIL: "exchange unreachable",
            1: "error"}


@dataclass(frozen=True, slots=True)
class RestartPolicy:
    """When and how often the supervisor restarts (see the module docstring)."""

    initial_delay_s: float = 1.0
    max_delay_s: float = 60.0
    reset_after_s: float = 300.0
    max_restarts: int | None = None

    def delays(self, n: int) -> list[float]:
        """The first ``n`` backoff delays of a crash loop."""
        out, delay = [], self.initial_delay_s
        for _ in range(n):
            out.append(min(delay, self.max_delay_s))
            delay = min(delay * 2, self.max_delay_s)
        return out


def describe_exit(code: int) -> str:
    """A child's exit status for a person."""
    if code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = "unknown signal"
        return f"killed by signal {-code} ({name})"
    return f"exit code {code} ({_MEANING.get(code, 'crashed')})"


class Supervisor:
    """Runs ``argv`` as a child and restarts it per ``policy`` (module docstring)."""

    def __init__(self, argv: Sequence[str], policy: RestartPolicy = RestartPolicy(), *,
                 env: Mapping[str, str] | None = None, cwd: str | None = None,
                 report: Callable[[str], None] = print,
                 spawn: Callable[..., subprocess.Popen[bytes]] = subprocess.Popen,
                 sleep: Callable[[float], None] = time.sleep,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        self.argv = list(argv)
        self.policy = policy
        self.env = None if env is None else dict(env)
        self.cwd = cwd
        self.report = report
        self.spawn = spawn
        self.sleep = sleep
        self.monotonic = monotonic
        self.child: subprocess.Popen[bytes] | None = None
        self.restarts = 0
        self._stopping = False

    def stop(self, signum: int = signal.SIGTERM) -> None:
        """Stop supervising: pass ``signum`` to the child (it stops cleanly)."""
        self._stopping = True
        child = self.child
        if child is not None and child.poll() is None:
            child.send_signal(signum)

    def install_signal_handlers(self) -> None:
        """SIGINT/SIGTERM to this process stop the child cleanly, then the supervisor."""
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda signum, _frame: self.stop(signum))

    def run(self) -> int:
        """Supervise until a clean stop, a refusal, ``stop()`` or ``max_restarts``; the
        last child's exit code."""
        delay = self.policy.initial_delay_s
        while True:
            started = self.monotonic()
            self.child = self.spawn(self.argv, env=self.env, cwd=self.cwd)
            self.report(f"supervisor: runner started (pid {self.child.pid})")
            code = self.child.wait()
            ran = self.monotonic() - started
            if self._stopping or code in (EXIT_OK, EXIT_REFUSED):
                self.report(f"supervisor: runner ended, {describe_exit(code)}; not restarting")
                return code
            if ran >= self.policy.reset_after_s:
                delay = self.policy.initial_delay_s
            limit = self.policy.max_restarts
            if limit is not None and self.restarts >= limit:
                self.report(f"supervisor: runner ended, {describe_exit(code)}; gave up after "
                            f"{self.restarts} restarts (max_restarts)")
                return code
            self.restarts += 1
            self.report(f"supervisor: runner ended after {ran:.1f} s, {describe_exit(code)}; "
                        f"restart {self.restarts} in {delay:.1f} s")
            log.warning("runner ended (%s); restart %d in %.1f s", describe_exit(code),
                        self.restarts, delay)
            self.sleep(delay)
            if self._stopping:
                return code
            delay = min(delay * 2, self.policy.max_delay_s)


__all__ = ["EXIT_FAILED", "EXIT_OK", "EXIT_REFUSED", "EXIT_TEMPFAIL", "RestartPolicy",
           "Supervisor", "describe_exit"]
