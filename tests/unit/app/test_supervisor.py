"""``--restart-on-crash``'s supervisor: which endings it restarts, its backoff, and a stop.

The children here are scripted stand-ins for ``subprocess.Popen`` (exit code and how long
they ran); ``tests/integration/test_live_examples.py`` runs the real thing: a SIGKILLed
live runner comes back and reconciles.
"""

from __future__ import annotations

import signal

from tradeloom.app.supervisor import RestartPolicy, Supervisor


class Scripted:
    """Children that end with the scripted (exit code, seconds run), one per spawn."""

    def __init__(self, script):
        self.script = list(script)
        self.now = 0.0
        self.spawned = []
        self.slept = []

    def spawn(self, argv, env=None, cwd=None):
        code, ran = self.script.pop(0)
        parent = self

        class Child:
            pid = 1000 + len(parent.spawned)
            signals = []

            def wait(self):
                parent.now += ran
                return code

            def poll(self):
                return None

            def send_signal(self, sig):
                self.signals.append(sig)

        child = Child()
        self.spawned.append((argv, child))
        return child

    def supervisor(self, policy=RestartPolicy()):
        return Supervisor(["tradeloom", "live"], policy, report=lambda m: None,
                          spawn=self.spawn, sleep=self.slept.append,
                          monotonic=lambda: self.now)


def test_crashes_and_kills_are_restarted_with_a_doubling_backoff_until_a_clean_stop():
    s = Scripted([(-signal.SIGKILL, 5), (3, 5), (1, 5), (-signal.SIGSEGV, 5), (0, 5)])
    assert s.supervisor(RestartPolicy(initial_delay_s=1, max_delay_s=4)).run() == 0
    assert len(s.spawned) == 5 and s.slept == [1, 2, 4, 4]


def test_a_refused_start_is_not_restarted():
    s = Scripted([(-signal.SIGKILL, 5), (2, 1)])
    assert s.supervisor().run() == 2 and len(s.spawned) == 2


def test_a_long_healthy_run_resets_the_backoff_and_max_restarts_ends_a_crash_loop():
    s = Scripted([(3, 1), (3, 1), (3, 600), (3, 1), (3, 1)])
    policy = RestartPolicy(initial_delay_s=1, max_delay_s=60, reset_after_s=300, max_restarts=4)
    assert s.supervisor(policy).run() == 3
    assert s.slept == [1, 2, 1, 2]  # reset after the 600 s run; gave up after 4 restarts


def test_a_stop_is_passed_to_the_child_and_ends_the_supervision():
    s = Scripted([(-signal.SIGTERM, 5)])
    sup = s.supervisor()

    def spawn_then_sigterm(argv, env=None, cwd=None):
        child = s.spawn(argv, env=env, cwd=cwd)
        sup.child = child
        sup.stop(signal.SIGTERM)  # the operator stops the supervisor while the child runs
        return child

    sup.spawn = spawn_then_sigterm
    assert sup.run() == -signal.SIGTERM
    (_, child), = s.spawned
    assert child.signals == [signal.SIGTERM] and s.slept == []  # passed on, not restarted
