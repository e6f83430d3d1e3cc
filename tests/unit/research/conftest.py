"""Fixtures shared by the research tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tradeloom.research.sweeps.executors import LocalExecutor


@pytest.fixture(scope="module")
def inline() -> Iterator[LocalExecutor]:
    """A one-process executor (a module's sweeps share it); a test module may define its own."""
    with LocalExecutor(processes=1) as ex:
        yield ex
