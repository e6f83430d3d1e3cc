"""A forking pytest server, so that mutmut's per-mutant test run skips interpreter start-up.

``tools/mutation.py`` starts one server per mutated module (``serve SOCKET``); mutmut's
runner command is the client (``run SOCKET -- PYTEST ARGS``). The server imports the
third-party libraries once (pytest and its plugins, numpy, pandas, numba, hypothesis,
...) but never ``tradeloom`` nor the tests; for each run it forks a child that imports
them afresh from disk (where mutmut has just written the mutant) and runs
``pytest.main`` in the scratch copy. A run takes the test time plus a fraction of a
second instead of two or three seconds of imports.

The client exits 0 when the tests passed and 1 for *any* other outcome: mutmut counts
only exit status 1 as a failure, and a mutant that breaks the import (pytest's status
2, an error during collection) is killed too.
"""

from __future__ import annotations

import json
import os
import select
import signal
import socket
import sys

#: Preloaded in the server: slow to import and never mutated.
PRELOAD = (
    "pytest", "_pytest.assertion.rewrite", "_pytest.doctest", "hypothesis", "pytest_timeout",
    "_hypothesis_pytestplugin", "numpy", "pandas", "pyarrow", "numba", "pydantic", "duckdb",
    "typer", "rich", "platformdirs",
)
#: Longest a test run may take (seconds) before its child is killed.
HARD_LIMIT = 300


def serve(path: str) -> None:
    sys.dont_write_bytecode = True  # mutants share a size and second with the original
    for name in PRELOAD:
        try:
            __import__(name)
        except ImportError:
            continue
    if os.path.exists(path):
        os.unlink(path)
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    server.bind(path)
    server.listen(4)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    try:
        while True:
            conn, _ = server.accept()
            with conn:
                request = json.loads(conn.makefile("r").readline())
                code = _run_child(conn, request["cwd"], request["args"])
                try:
                    conn.sendall(f"{code}\n".encode())
                except OSError:  # the client was killed (mutmut's timeout): nobody waits
                    pass
    finally:
        server.close()
        if os.path.exists(path):
            os.unlink(path)


def _run_child(conn: socket.socket, cwd: str, args: list[str]) -> int:
    pid = os.fork()
    if pid == 0:  # child: a fresh import of tradeloom and the tests, then pytest
        code = 3
        try:
            signal.alarm(HARD_LIMIT)
            os.chdir(cwd)
            sys.path.insert(0, cwd)
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, 1)
            os.dup2(devnull, 2)
            import pytest

            code = int(pytest.main(args))
        finally:
            os._exit(code)
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return os.waitstatus_to_exitcode(status)
        readable, _, _ = select.select([conn], [], [], 0.02)
        if readable and not conn.recv(1):  # the client is gone (mutmut's timeout)
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            return -signal.SIGKILL


def run(path: str, args: list[str]) -> int:
    client = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    client.connect(path)
    client.sendall((json.dumps({"cwd": os.getcwd(), "args": args}) + "\n").encode())
    reply = client.makefile("r").readline().strip()
    return 0 if reply == "0" else 1


def main(argv: list[str]) -> int:
    if len(argv) >= 2 and argv[0] == "serve":
        serve(argv[1])
        return 0
    if len(argv) >= 3 and argv[0] == "run" and argv[2] == "--":
        return run(argv[1], argv[3:])
    print("usage: mutation_runner.py serve SOCKET | run SOCKET -- PYTEST-ARGS", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
