"""Execution back ends for sweeps and walk-forward: a local process pool or a Dask cluster.

Both implement one small protocol, ``Executor.map(fn, items, on_done=None)``:
apply a module-level function to every item and return the results **in the
order of the items**, whatever order the workers finished in. That, plus
deterministic work functions, is why a sweep's table is byte-identical on every
back end. ``on_done(index)`` is called as each item finishes, while the others
still run (progress bars advance per finished job, not at the end).

- ``LocalExecutor(processes=2)`` (the default): a ``ProcessPoolExecutor`` with the
  ``spawn`` start method (safe with threads, numba and DuckDB; the same on Linux,
  macOS and Windows). One process, or a single item, runs in the calling process:
  no pool start-up for work that cannot be split.
- ``DaskExecutor(address)``: ``"local"`` or ``"local:N"`` starts a
  ``dask.distributed.LocalCluster`` of N single-threaded worker processes on
  127.0.0.1 (N defaults to 2); ``"tcp://host:8786"`` connects to a running
  scheduler, whose workers must have tradeloom installed and see the catalog path.

What travels to a worker is what the items hold. Sweep items are small frozen
specs (catalog path, dataset keys, strategy reference, params): workers read
their bars from the Parquet store themselves; no frame is shipped through the
scheduler.

``make_executor(None | "local[:N]" | "tcp://...")`` picks one from the CLI's
``--cluster`` value. Dask is optional; without it a ``ConfigError`` says
``pip install 'tradeloom[dask]'``.

>>> with LocalExecutor(processes=1) as ex:
...     ex.map(abs, [-3, 2, -1])
[3, 2, 1]
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from typing import Any, Protocol, Self, TypeVar

from tradeloom.engine.errors import ConfigError

__all__ = [
    "DASK_INSTALL_HINT",
    "DaskExecutor",
    "Executor",
    "LocalExecutor",
    "make_executor",
    "parse_cluster",
]

T = TypeVar("T")
R = TypeVar("R")
OnDone = Callable[[int], None]
"""Called with the item index as each item finishes (for progress bars)."""

DASK_INSTALL_HINT = "pip install 'tradeloom[dask]'"
DEFAULT_LOCAL_WORKERS = 2


class Executor(Protocol):
    """Runs ``fn`` over items somewhere and returns the results in item order."""

    name: str

    def map(self, fn: Callable[[T], R], items: Sequence[T], on_done: OnDone | None = None) -> list[R]:
        """``[fn(x) for x in items]``, computed by the back end; re-raises the first error."""
        ...

    def close(self) -> None:
        """Release workers, pools and connections (idempotent)."""
        ...

    def __enter__(self) -> Self: ...

    def __exit__(self, *exc: object) -> None: ...


class LocalExecutor:
    """A spawn-based process pool on this machine (see the module docstring).

    The pool starts on the first ``map`` with more than one item and is reused
    until ``close()``, so a walk-forward pays the process start-up once.
    """

    def __init__(self, processes: int | None = None) -> None:
        n = DEFAULT_LOCAL_WORKERS if processes is None else processes
        if not isinstance(n, int) or n < 1:
            raise ConfigError(f"LocalExecutor(processes={processes!r}): use a whole number >= 1")
        self.processes = n
        self.name = f"local process pool ({n} process{'es' if n > 1 else ''})"
        self._pool: ProcessPoolExecutor | None = None

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None

    def map(self, fn: Callable[[T], R], items: Sequence[T], on_done: OnDone | None = None) -> list[R]:
        items = list(items)
        if self.processes == 1 or len(items) <= 1:
            out = []
            for i, item in enumerate(items):
                out.append(fn(item))
                if on_done is not None:
                    on_done(i)
            return out
        if self._pool is None:
            self._pool = ProcessPoolExecutor(
                max_workers=self.processes, mp_context=multiprocessing.get_context("spawn")
            )
        futures: list[Future[R]] = [self._pool.submit(fn, item) for item in items]
        index = {id(f): i for i, f in enumerate(futures)}
        pending = set(futures)
        try:
            while pending:
                # FIRST_COMPLETED, not FIRST_EXCEPTION: the latter returns only on an error
                # or when every job is done, so a progress bar would sit at 0/N until the end.
                done, pending = wait(pending, return_when=FIRST_COMPLETED)
                for f in sorted(done, key=lambda f: index[id(f)]):
                    exc = f.exception()
                    if exc is not None:
                        raise exc
                    if on_done is not None:
                        on_done(index[id(f)])
        finally:
            for f in pending:
                f.cancel()
        return [f.result() for f in futures]


def parse_cluster(address: str) -> tuple[str, int | str]:
    """``("local", n_workers)`` or ``("remote", address)`` from a ``--cluster`` value.

    >>> parse_cluster("local"), parse_cluster("local:4"), parse_cluster("tcp://10.0.0.5:8786")
    (('local', 2), ('local', 4), ('remote', 'tcp://10.0.0.5:8786'))
    """
    text = address.strip()
    if text == "local" or text.startswith("local:"):
        _, _, n = text.partition(":")
        if not n:
            return "local", DEFAULT_LOCAL_WORKERS
        if not n.isdigit() or int(n) < 1:
            raise ConfigError(
                f"--cluster {address!r}: the worker count must be a whole number >= 1, "
                "e.g. --cluster local:2"
            )
        return "local", int(n)
    if "://" in text and text.split("://", 1)[1]:
        return "remote", text
    raise ConfigError(
        f"--cluster {address!r}: use local, local:N (start N Dask workers here) or "
        "tcp://HOST:PORT (a running Dask scheduler, e.g. tcp://10.0.0.5:8786)"
    )


def _import_distributed() -> Any:
    try:
        import distributed
    except ImportError as exc:
        raise ConfigError(
            f"a Dask cluster needs dask.distributed, which is not installed; run "
            f"{DASK_INSTALL_HINT} (or drop --cluster to use the local process pool)"
        ) from exc
    return distributed


class DaskExecutor:
    """Runs items as Dask tasks on a ``LocalCluster`` it starts, or on a running scheduler.

    Tasks get explicit keys (``<prefix>-<index>``) and results are gathered in
    item order. Errors raised by a task re-raise here with their original type.
    """

    def __init__(self, address: str = "local", *, timeout_s: float = 30.0) -> None:
        kind, target = parse_cluster(address)
        distributed = _import_distributed()
        self._cluster: Any = None
        self._client: Any = None
        if kind == "local":
            self._cluster = distributed.LocalCluster(
                n_workers=int(target), threads_per_worker=1, processes=True,
                host="127.0.0.1", dashboard_address=None, silence_logs=40,
            )
            self.name = f"Dask LocalCluster ({target} workers)"
            connect_to: Any = self._cluster
        else:
            self.name = f"Dask scheduler {target}"
            connect_to = target
        try:
            self._client = distributed.Client(connect_to, timeout=timeout_s, set_as_default=False)
        except OSError as exc:
            self._close_cluster()
            raise ConfigError(
                f"--cluster {address}: cannot reach the Dask scheduler ({exc}); start one with "
                "`dask scheduler` and workers with `dask worker tcp://HOST:8786`, or use local:N"
            ) from exc
        self._distributed = distributed
        self._batch = 0

    @property
    def client(self) -> Any:
        """The ``distributed.Client`` (for dashboards and diagnostics)."""
        return self._client

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None
        self._close_cluster()

    def _close_cluster(self) -> None:
        if self._cluster is not None:
            self._cluster.close()
            self._cluster = None

    def map(self, fn: Callable[[T], R], items: Sequence[T], on_done: OnDone | None = None) -> list[R]:
        items = list(items)
        if not items:
            return []
        if self._client is None:
            raise ConfigError("this DaskExecutor is closed; create a new one")
        self._batch += 1
        prefix = f"tradeloom-{getattr(fn, '__name__', 'task')}-{os.getpid()}-{self._batch}"
        futures = [
            self._client.submit(fn, item, key=f"{prefix}-{i}", pure=False)
            for i, item in enumerate(items)
        ]
        index = {f.key: i for i, f in enumerate(futures)}
        try:
            for f in self._distributed.as_completed(futures, loop=self._client.loop):
                if f.status == "error":
                    f.result()  # re-raises the task's exception with its own type
                if on_done is not None:
                    on_done(index[f.key])
            return [f.result() for f in futures]
        finally:
            for f in futures:
                f.release()


def make_executor(cluster: str | None = None, processes: int | None = None) -> Executor:
    """The back end for a ``--cluster`` value: ``None`` -> ``LocalExecutor(processes)``.

    >>> make_executor().name
    'local process pool (2 processes)'
    """
    if cluster is None or not cluster.strip():
        return LocalExecutor(processes)
    return DaskExecutor(cluster)
